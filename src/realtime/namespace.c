/* namespace.c — channel namespaces: defaults, the spec eddyd's
 * configuration uses, and finding a channel's rules. Pure but for
 * eddy__rt_namespace_of, which reads the hub's table. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "realtime/rt_internal.h"

#define DEFAULT_HISTORY 100
#define DEFAULT_TTL_MS (5u * 60u * 1000u)
/* Bounds that keep a spec's numbers meaningful (and arithmetic safe). */
#define HISTORY_SIZE_MAX 1000000u
#define TTL_MS_MAX (366ull * 24 * 3600 * 1000) /* a year */

void eddy_rt_namespace_init(eddy_rt_namespace_t *ns, const char *name) {
  memset(ns, 0, sizeof(*ns));
  if (name != NULL) {
    size_t n = strlen(name);
    if (n > EDDY_RT_NAMESPACE_MAX)
      n = EDDY_RT_NAMESPACE_MAX;
    memcpy(ns->name, name, n);
  }
  ns->history_size = DEFAULT_HISTORY;
  ns->history_ttl_ms = DEFAULT_TTL_MS;
  ns->presence = 1;
  ns->join_leave = 1;
  ns->publish = 0;
}

int eddy__rt_namespace_name_valid(const char *name, size_t len) {
  if (len == 0 || len > EDDY_RT_NAMESPACE_MAX)
    return 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)name[i];
    if (!isalnum(ch) && ch != '_' && ch != '.' && ch != '-')
      return 0;
  }
  return 1;
}

/* err = pre + (at most 63 bytes of a) + post. */
static void set_err(char *err, size_t errlen, const char *pre, const char *a,
                    size_t alen, const char *post) {
  if (err == NULL || errlen == 0)
    return;
  /* alen bounds what is quoted of the spec, so long input stays readable. */
  char piece[64];
  if (alen >= sizeof(piece))
    alen = sizeof(piece) - 1;
  memcpy(piece, a, alen);
  piece[alen] = '\0';
  snprintf(err, errlen, "%s%s%s", pre, piece, post);
}

static int parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out) {
  if (len == 0 || len > 20)
    return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    unsigned d = (unsigned)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10)
      return -1;
    v = v * 10 + d;
  }
  if (v > max)
    return -1;
  *out = v;
  return 0;
}

static int parse_duration(const char *s, size_t len, uint64_t *out_ms) {
  uint64_t mult = 1000; /* seconds without a suffix */
  if (len >= 2 && memcmp(s + len - 2, "ms", 2) == 0) {
    mult = 1;
    len -= 2;
  } else if (len >= 1 &&
             (s[len - 1] == 's' || s[len - 1] == 'm' || s[len - 1] == 'h')) {
    mult = s[len - 1] == 's' ? 1000 : s[len - 1] == 'm' ? 60000 : 3600000;
    len -= 1;
  }
  uint64_t v;
  if (parse_u64(s, len, TTL_MS_MAX, &v) != 0 || v > TTL_MS_MAX / mult)
    return -1;
  *out_ms = v * mult;
  return 0;
}

static int parse_bool(const char *s, size_t len, int *out) {
  if ((len == 3 && memcmp(s, "yes", 3) == 0) ||
      (len == 4 && memcmp(s, "true", 4) == 0) ||
      (len == 2 && memcmp(s, "on", 2) == 0)) {
    *out = 1;
    return 0;
  }
  if ((len == 2 && memcmp(s, "no", 2) == 0) ||
      (len == 5 && memcmp(s, "false", 5) == 0) ||
      (len == 3 && memcmp(s, "off", 3) == 0)) {
    *out = 0;
    return 0;
  }
  return -1;
}

static int is_space(char c) {
  return c == ' ' || c == '\t';
}

int eddy_rt_namespace_parse(const char *spec, eddy_rt_namespace_t *out,
                            char *err, size_t errlen) {
  if (err != NULL && errlen > 0)
    err[0] = '\0';
  if (spec == NULL || out == NULL) {
    set_err(err, errlen, "no namespace spec", "", 0, "");
    return -1;
  }
  const char *p = spec;
  while (is_space(*p))
    p++;
  const char *name = p;
  while (*p != '\0' && !is_space(*p))
    p++;
  size_t nlen = (size_t)(p - name);
  if (nlen == 0) {
    set_err(err, errlen, "missing namespace name", "", 0, "");
    return -1;
  }
  eddy_rt_namespace_t ns;
  if (nlen == 7 && memcmp(name, "default", 7) == 0) {
    eddy_rt_namespace_init(&ns, "");
  } else if (eddy__rt_namespace_name_valid(name, nlen)) {
    char buf[EDDY_RT_NAMESPACE_MAX + 1];
    memcpy(buf, name, nlen);
    buf[nlen] = '\0';
    eddy_rt_namespace_init(&ns, buf);
  } else {
    set_err(err, errlen, "bad namespace name '", name, nlen,
            "' (letters, digits, '_', '.', '-'; at most 63)");
    return -1;
  }
  unsigned seen = 0;
  for (;;) {
    while (is_space(*p))
      p++;
    if (*p == '\0')
      break;
    const char *opt = p;
    while (*p != '\0' && !is_space(*p))
      p++;
    size_t olen = (size_t)(p - opt);
    const char *eq = memchr(opt, '=', olen);
    if (eq == NULL) {
      set_err(err, errlen, "option '", opt, olen,
              "' needs a value (name=value)");
      return -1;
    }
    size_t klen = (size_t)(eq - opt);
    const char *val = eq + 1;
    size_t vlen = olen - klen - 1;
    static const char *const keys[] = {"history", "ttl", "presence",
                                       "join_leave", "publish"};
    unsigned k = 0;
    while (k < 5 &&
           !(strlen(keys[k]) == klen && memcmp(keys[k], opt, klen) == 0))
      k++;
    if (k == 5) {
      set_err(err, errlen, "unknown option '", opt, klen,
              "' (history, ttl, presence, join_leave, publish)");
      return -1;
    }
    if (seen & (1u << k)) {
      set_err(err, errlen, "option '", opt, klen, "' given twice");
      return -1;
    }
    seen |= 1u << k;
    uint64_t v;
    int b;
    switch (k) {
    case 0:
      if (parse_u64(val, vlen, HISTORY_SIZE_MAX, &v) != 0) {
        set_err(err, errlen, "bad history '", val, vlen,
                "' (a count, 0..1000000)");
        return -1;
      }
      ns.history_size = (size_t)v;
      break;
    case 1:
      if (parse_duration(val, vlen, &v) != 0) {
        set_err(err, errlen, "bad ttl '", val, vlen,
                "' (digits with ms, s, m or h; at most a year)");
        return -1;
      }
      ns.history_ttl_ms = v;
      break;
    default:
      if (parse_bool(val, vlen, &b) != 0) {
        set_err(err, errlen, "bad yes/no value '", val, vlen, "'");
        return -1;
      }
      if (k == 2)
        ns.presence = b;
      else if (k == 3)
        ns.join_leave = b;
      else
        ns.publish = b;
      break;
    }
  }
  *out = ns;
  return 0;
}

static const char *yn(int b) {
  return b ? "yes" : "no";
}

int eddy_rt_namespace_format(const eddy_rt_namespace_t *ns, char *buf,
                             size_t size) {
  if (ns == NULL || buf == NULL || size == 0)
    return UV_EINVAL;
  char ttl[32];
  uint64_t t = ns->history_ttl_ms;
  if (t % 3600000 == 0 && t != 0)
    snprintf(ttl, sizeof(ttl), "%" PRIu64 "h", t / 3600000);
  else if (t % 60000 == 0 && t != 0)
    snprintf(ttl, sizeof(ttl), "%" PRIu64 "m", t / 60000);
  else if (t % 1000 == 0)
    snprintf(ttl, sizeof(ttl), "%" PRIu64 "s", t / 1000);
  else
    snprintf(ttl, sizeof(ttl), "%" PRIu64 "ms", t);
  int n = snprintf(buf, size,
                   "%s history=%zu ttl=%s presence=%s join_leave=%s "
                   "publish=%s",
                   ns->name[0] != '\0' ? ns->name : "default", ns->history_size,
                   ttl, yn(ns->presence), yn(ns->join_leave), yn(ns->publish));
  if (n < 0)
    return UV_EINVAL;
  if ((size_t)n >= size)
    return UV_ENOBUFS;
  return 0;
}

const eddy_rt_namespace_t *eddy__rt_namespace_of(const eddy_rt_t *hub,
                                                 const char *name, size_t len) {
  size_t nl = eddy__rt_channel_ns_len(name, len);
  if (nl == 0)
    return &hub->default_ns;
  for (size_t i = 0; i < hub->nnamespaces; i++) {
    const eddy_rt_namespace_t *ns = &hub->namespaces[i];
    if (strlen(ns->name) == nl && memcmp(ns->name, name, nl) == 0)
      return ns;
  }
  return NULL;
}
