/* url.c — parsing http:// and ws:// URLs and resolving references.
 *
 * Character classes follow RFC 3986. The parser is deliberately narrower
 * than the RFC where breadth only helps attackers or confuses resolvers:
 * host names are what a resolver takes, and a URL that parses can be
 * written into a request line without further escaping. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "eddy/error.h"
#include "eddy/url.h"

static void set_error(eddy_url_error_t *err, size_t pos, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void set_error(eddy_url_error_t *err, size_t pos, const char *fmt, ...) {
  if (err == NULL)
    return;
  err->pos = pos;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof(err->message), fmt, ap);
  va_end(ap);
}

static int is_alpha(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}

static int is_hex(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_unreserved(unsigned char c) {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' ||
         c == '~';
}

static int is_sub_delim(unsigned char c) {
  return c != '\0' && strchr("!$&'()*+,;=", c) != NULL;
}

/* pchar without the %XX escape, which is checked apart. */
static int is_pchar(unsigned char c) {
  return is_unreserved(c) || is_sub_delim(c) || c == ':' || c == '@';
}

/* What a path, a query or a fragment may hold besides escapes. */
static int is_path_char(unsigned char c) {
  return is_pchar(c) || c == '/';
}

static int is_query_char(unsigned char c) {
  return is_pchar(c) || c == '/' || c == '?';
}

static int is_host_char(unsigned char c) {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_';
}

static char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int equals_nocase(const char *a, size_t n, const char *b) {
  if (strlen(b) != n)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (lower(a[i]) != b[i])
      return 0;
  return 1;
}

/* Checks s[from..to) against a class, with %XX escapes. Returns the offset
 * of the first bad byte, or `to` when all are fine. */
static size_t check_chars(const char *s, size_t from, size_t to,
                          int (*ok)(unsigned char)) {
  for (size_t i = from; i < to; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '%') {
      if (i + 2 >= to)
        return i;
      if (!is_hex((unsigned char)s[i + 1]) || !is_hex((unsigned char)s[i + 2]))
        return i;
      i += 2;
      continue;
    }
    if (!ok(c))
      return i;
  }
  return to;
}

static int bad_char(eddy_url_error_t *err, const char *s, size_t pos,
                    const char *where) {
  unsigned char c = (unsigned char)s[pos];
  if (c == '%')
    set_error(err, pos, "invalid percent-escape in %s (expected %%XX)", where);
  else if (c > 0x20 && c < 0x7f)
    set_error(err, pos, "invalid character '%c' in %s", c, where);
  else
    set_error(err, pos, "invalid byte 0x%02x in %s", c, where);
  return EDDY_EPARSE;
}

const char *eddy_url_scheme_name(eddy_url_scheme_t scheme) {
  switch (scheme) {
  case EDDY_URL_HTTP:
    return "http";
  case EDDY_URL_WS:
    return "ws";
  case EDDY_URL_HTTPS:
    return "https";
  case EDDY_URL_WSS:
    return "wss";
  }
  return "unknown";
}

static uint16_t default_port(eddy_url_scheme_t scheme) {
  return (scheme == EDDY_URL_HTTPS || scheme == EDDY_URL_WSS) ? 443 : 80;
}

/* Parses the authority s[from..to) into u. */
static int parse_authority(const char *s, size_t from, size_t to,
                           unsigned flags, eddy_url_t *u,
                           eddy_url_error_t *err) {
  const char *at = memchr(s + from, '@', to - from);
  if (at != NULL) {
    size_t end = (size_t)(at - s);
    if (!(flags & EDDY_URL_ALLOW_USERINFO)) {
      set_error(err, from, "credentials (user@) in URLs are not accepted");
      return EDDY_EPARSE;
    }
    /* A second '@' is not a userinfo character: caught here. */
    size_t bad = check_chars(s, from, end, is_pchar);
    if (bad != end)
      return bad_char(err, s, bad, "userinfo");
    u->userinfo.p = s + from;
    u->userinfo.len = end - from;
    from = end + 1;
  }
  size_t host_end;
  if (from < to && s[from] == '[') {
    const char *close = memchr(s + from, ']', to - from);
    if (close == NULL) {
      set_error(err, from, "expected ']' closing the IPv6 address");
      return EDDY_EPARSE;
    }
    size_t n = (size_t)(close - s) - from - 1;
    char tmp[INET6_ADDRSTRLEN + 1];
    unsigned char bin[16];
    if (n == 0 || n >= sizeof(tmp)) {
      set_error(err, from + 1, "expected an IPv6 address");
      return EDDY_EPARSE;
    }
    memcpy(tmp, s + from + 1, n);
    tmp[n] = '\0';
    /* inet_pton would stop at a NUL byte: check every byte first. */
    int bad_byte = 0;
    for (size_t i = 0; i < n; i++)
      if (!is_hex((unsigned char)tmp[i]) && tmp[i] != ':' && tmp[i] != '.')
        bad_byte = 1;
    if (bad_byte || inet_pton(AF_INET6, tmp, bin) != 1) {
      set_error(err, from + 1, "expected an IPv6 address (no zone id)");
      return EDDY_EPARSE;
    }
    u->host.p = s + from + 1;
    u->host.len = n;
    u->host_is_ipv6 = 1;
    host_end = (size_t)(close - s) + 1;
    if (host_end < to && s[host_end] != ':') {
      set_error(err, host_end, "expected ':' or '/' after the IPv6 address");
      return EDDY_EPARSE;
    }
  } else {
    host_end = from;
    while (host_end < to && s[host_end] != ':')
      host_end++;
    if (host_end == from) {
      set_error(err, from, "expected a host");
      return EDDY_EPARSE;
    }
    for (size_t i = from; i < host_end; i++)
      if (!is_host_char((unsigned char)s[i]))
        return bad_char(err, s, i, "host");
    if (host_end - from > EDDY_URL_HOST_MAX) {
      set_error(err, from, "host longer than %u bytes", EDDY_URL_HOST_MAX);
      return EDDY_EPARSE;
    }
    u->host.p = s + from;
    u->host.len = host_end - from;
  }
  u->port = default_port(u->scheme);
  if (host_end < to) { /* s[host_end] == ':' */
    size_t p = host_end + 1;
    if (p < to) {
      unsigned long port = 0;
      for (size_t i = p; i < to; i++) {
        if (!is_digit((unsigned char)s[i]) || i - p >= 5) {
          set_error(err, p, "expected a port number (1-65535)");
          return EDDY_EPARSE;
        }
        port = port * 10 + (unsigned long)(s[i] - '0');
      }
      if (port == 0 || port > 65535) {
        set_error(err, p, "expected a port number (1-65535)");
        return EDDY_EPARSE;
      }
      u->port = (uint16_t)port;
      u->port_given = 1;
    }
  }
  return 0;
}

int eddy_url_parse(const char *s, size_t len, unsigned flags, eddy_url_t *url,
                   eddy_url_error_t *err) {
  if (s == NULL || url == NULL) {
    set_error(err, 0, "expected a URL");
    return UV_EINVAL;
  }
  if (len > EDDY_URL_MAX_LENGTH) {
    set_error(err, EDDY_URL_MAX_LENGTH, "URL longer than %u bytes",
              EDDY_URL_MAX_LENGTH);
    return EDDY_EPARSE;
  }
  eddy_url_t u;
  memset(&u, 0, sizeof(u));
  size_t i = 0;
  while (i < len && (is_alpha((unsigned char)s[i]) ||
                     (i > 0 && (is_digit((unsigned char)s[i]) || s[i] == '+' ||
                                s[i] == '-' || s[i] == '.'))))
    i++;
  if (i == 0 || i >= len || s[i] != ':') {
    set_error(err, i < len && s[i] == ':' ? 0 : i,
              "expected a scheme (http:// or ws://)");
    return EDDY_EPARSE;
  }
  if (equals_nocase(s, i, "http")) {
    u.scheme = EDDY_URL_HTTP;
  } else if (equals_nocase(s, i, "ws")) {
    u.scheme = EDDY_URL_WS;
  } else if (equals_nocase(s, i, "https") || equals_nocase(s, i, "wss")) {
    set_error(err, 0, "%.*s:// URLs need TLS, which eddy does not support yet",
              (int)i, s);
    return UV_EPROTONOSUPPORT;
  } else {
    set_error(err, 0, "unsupported scheme (expected http:// or ws://)");
    return EDDY_EPARSE;
  }
  i++;
  if (len - i < 2 || s[i] != '/' || s[i + 1] != '/') {
    set_error(err, i, "expected \"//\" after the scheme");
    return EDDY_EPARSE;
  }
  i += 2;
  size_t auth_end = i;
  while (auth_end < len && s[auth_end] != '/' && s[auth_end] != '?' &&
         s[auth_end] != '#')
    auth_end++;
  int rc = parse_authority(s, i, auth_end, flags, &u, err);
  if (rc < 0)
    return rc;
  i = auth_end;
  size_t end = i;
  while (end < len && s[end] != '?' && s[end] != '#')
    end++;
  size_t bad = check_chars(s, i, end, is_path_char);
  if (bad != end)
    return bad_char(err, s, bad, "path");
  u.path.p = s + i;
  u.path.len = end - i;
  i = end;
  if (i < len && s[i] == '?') {
    i++;
    end = i;
    while (end < len && s[end] != '#')
      end++;
    bad = check_chars(s, i, end, is_query_char);
    if (bad != end)
      return bad_char(err, s, bad, "query");
    u.query.p = s + i;
    u.query.len = end - i;
    i = end;
  }
  if (i < len && s[i] == '#') {
    i++;
    bad = check_chars(s, i, len, is_query_char);
    if (bad != len)
      return bad_char(err, s, bad, "fragment");
    u.fragment.p = s + i;
    u.fragment.len = len - i;
  }
  *url = u;
  return 0;
}

/* ---- Writing ------------------------------------------------------------- */

/* A bounded string builder that counts what it could not write. */
typedef struct {
  char *buf;
  size_t size;
  size_t len;
  int overflow; /* something was cut: the text is incomplete */
} out_t;

static void put(out_t *o, const char *p, size_t n) {
  if (o->len + n >= o->size)
    o->overflow = 1;
  if (o->len < o->size) {
    size_t room = o->size - o->len;
    memcpy(o->buf + o->len, p, n < room ? n : room);
  }
  o->len += n;
}

static void put_str(out_t *o, const char *s) {
  put(o, s, strlen(s));
}

static int finish(out_t *o) {
  if (o->size > 0)
    o->buf[o->len < o->size ? o->len : o->size - 1] = '\0';
  return o->len > (size_t)INT32_MAX ? INT32_MAX : (int)o->len;
}

static void put_authority(out_t *o, const eddy_url_t *u) {
  if (u->host_is_ipv6)
    put(o, "[", 1);
  put(o, u->host.p, u->host.len);
  if (u->host_is_ipv6)
    put(o, "]", 1);
  if (u->port != default_port(u->scheme)) {
    char port[8];
    snprintf(port, sizeof(port), ":%u", (unsigned)u->port);
    put_str(o, port);
  }
}

int eddy_url_target(const eddy_url_t *url, char *buf, size_t size) {
  out_t o = {buf, size, 0, 0};
  if (url->path.len == 0)
    put(&o, "/", 1);
  else
    put(&o, url->path.p, url->path.len);
  if (url->query.p != NULL) {
    put(&o, "?", 1);
    put(&o, url->query.p, url->query.len);
  }
  return finish(&o);
}

int eddy_url_authority(const eddy_url_t *url, char *buf, size_t size) {
  out_t o = {buf, size, 0, 0};
  put_authority(&o, url);
  return finish(&o);
}

/* ---- Resolving references (RFC 3986 section 5.2) ------------------------ */

typedef struct {
  eddy_url_str_t scheme, authority, path, query;
} ref_t;

static int is_uri_char(unsigned char c) {
  return is_pchar(c) || c == '/' || c == '?' || c == '#' || c == '[' ||
         c == ']';
}

static void split_ref(const char *s, size_t len, ref_t *r) {
  memset(r, 0, sizeof(*r));
  size_t i = 0;
  while (i < len && (is_alpha((unsigned char)s[i]) ||
                     (i > 0 && (is_digit((unsigned char)s[i]) || s[i] == '+' ||
                                s[i] == '-' || s[i] == '.'))))
    i++;
  if (i > 0 && i < len && s[i] == ':') {
    r->scheme.p = s;
    r->scheme.len = i;
    s += i + 1;
    len -= i + 1;
  }
  i = 0;
  if (len >= 2 && s[0] == '/' && s[1] == '/') {
    size_t e = 2;
    while (e < len && s[e] != '/' && s[e] != '?' && s[e] != '#')
      e++;
    r->authority.p = s + 2;
    r->authority.len = e - 2;
    i = e;
  }
  size_t e = i;
  while (e < len && s[e] != '?' && s[e] != '#')
    e++;
  r->path.p = s + i;
  r->path.len = e - i;
  if (e < len && s[e] == '?') {
    size_t q = e + 1;
    size_t qe = q;
    while (qe < len && s[qe] != '#')
      qe++;
    r->query.p = s + q;
    r->query.len = qe - q;
  }
}

/* Appends in[0..n) to o with dot segments removed (RFC 3986 5.2.4). The
 * output's segments are popped in place: o holds nothing else after
 * `start`. */
static void put_without_dots(out_t *o, size_t start, const char *in, size_t n) {
  while (n > 0) {
    if (n >= 3 && memcmp(in, "../", 3) == 0) {
      in += 3, n -= 3;
    } else if (n >= 2 && memcmp(in, "./", 2) == 0) {
      in += 2, n -= 2;
    } else if (n >= 3 && memcmp(in, "/./", 3) == 0) {
      in += 2, n -= 2;
    } else if (n == 2 && memcmp(in, "/.", 2) == 0) {
      in = "/", n = 1;
    } else if ((n >= 4 && memcmp(in, "/../", 4) == 0) ||
               (n == 3 && memcmp(in, "/..", 3) == 0)) {
      if (n == 3)
        in = "/", n = 1;
      else
        in += 3, n -= 3;
      /* Drop the last segment written, with the '/' before it. */
      size_t cut = o->len;
      size_t written = cut < o->size ? cut : o->size;
      while (cut > start) {
        cut--;
        if (cut < written && o->buf[cut] == '/')
          break;
      }
      o->len = cut;
    } else if ((n == 1 && in[0] == '.') ||
               (n == 2 && memcmp(in, "..", 2) == 0)) {
      n = 0;
    } else {
      size_t seg = in[0] == '/' ? 1 : 0;
      while (seg < n && in[seg] != '/')
        seg++;
      put(o, in, seg);
      in += seg, n -= seg;
    }
  }
}

/* The base path up to and including its last '/' (RFC 3986 5.2.3). */
static size_t base_dir_len(const eddy_url_t *b) {
  size_t n = b->path.len;
  while (n > 0 && b->path.p[n - 1] != '/')
    n--;
  return n;
}

int eddy_url_resolve(const eddy_url_t *base, const char *ref, size_t ref_len,
                     char *buf, size_t size, eddy_url_error_t *err) {
  if (base == NULL || (ref == NULL && ref_len > 0)) {
    set_error(err, 0, "expected a base URL and a reference");
    return UV_EINVAL;
  }
  if (ref_len > EDDY_URL_MAX_LENGTH) {
    set_error(err, EDDY_URL_MAX_LENGTH, "reference longer than %u bytes",
              EDDY_URL_MAX_LENGTH);
    return UV_ENOBUFS;
  }
  size_t bad = check_chars(ref, 0, ref_len, is_uri_char);
  if (bad != ref_len)
    return bad_char(err, ref, bad, "reference");
  ref_t r;
  split_ref(ref, ref_len, &r);

  out_t o = {buf, size, 0, 0};
  size_t path_start;
  if (r.scheme.p != NULL) {
    for (size_t i = 0; i < r.scheme.len; i++) {
      char c = lower(r.scheme.p[i]);
      put(&o, &c, 1);
    }
    put(&o, ":", 1);
    if (r.authority.p != NULL) {
      put(&o, "//", 2);
      put(&o, r.authority.p, r.authority.len);
    }
    path_start = o.len;
    put_without_dots(&o, path_start, r.path.p, r.path.len);
  } else {
    put_str(&o, eddy_url_scheme_name(base->scheme));
    put(&o, "://", 3);
    if (r.authority.p != NULL) {
      put(&o, r.authority.p, r.authority.len);
      path_start = o.len;
      put_without_dots(&o, path_start, r.path.p, r.path.len);
    } else {
      if (base->userinfo.p != NULL) {
        put(&o, base->userinfo.p, base->userinfo.len);
        put(&o, "@", 1);
      }
      put_authority(&o, base);
      path_start = o.len;
      if (r.path.len == 0) {
        put(&o, base->path.p, base->path.len);
        if (r.query.p == NULL && base->query.p != NULL) {
          put(&o, "?", 1);
          put(&o, base->query.p, base->query.len);
        }
      } else if (r.path.p[0] == '/') {
        put_without_dots(&o, path_start, r.path.p, r.path.len);
      } else {
        /* Merge: the base's directory, then the reference, dots removed
         * over the whole (a "../" may climb into the base's part). The
         * merged path is at most both lengths plus one '/'. */
        char merged[2 * EDDY_URL_MAX_LENGTH + 2];
        size_t m = 0;
        if (base->path.len == 0) {
          merged[m++] = '/';
        } else {
          size_t d = base_dir_len(base);
          memcpy(merged, base->path.p, d);
          m = d;
        }
        memcpy(merged + m, r.path.p, r.path.len);
        m += r.path.len;
        put_without_dots(&o, path_start, merged, m);
      }
    }
  }
  if (r.query.p != NULL) {
    put(&o, "?", 1);
    put(&o, r.query.p, r.query.len);
  }
  if (o.overflow || o.len >= size || o.len > EDDY_URL_MAX_LENGTH) {
    set_error(err, 0, "resolved URL too long");
    if (size > 0)
      buf[0] = '\0';
    return UV_ENOBUFS;
  }
  return finish(&o);
}
