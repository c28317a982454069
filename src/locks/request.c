/* request.c — parses one line of the lock protocol. */
#include <string.h>

#include "eddy/error.h"
#include "locks/request_internal.h"

#define WORDS_MAX 8

typedef struct {
  const char *p;
  size_t n;
} word_t;

static int is_blank(char c) {
  return c == ' ' || c == '\t';
}

/* Splits on runs of blanks. Returns the number of words, or WORDS_MAX + 1
 * when there are more than WORDS_MAX (no verb takes that many). */
static size_t split(const char *s, size_t len, word_t *w) {
  size_t n = 0, i = 0;
  while (i < len) {
    while (i < len && is_blank(s[i]))
      i++;
    if (i == len)
      break;
    size_t start = i;
    while (i < len && !is_blank(s[i]))
      i++;
    if (n == WORDS_MAX)
      return WORDS_MAX + 1;
    w[n].p = s + start;
    w[n].n = i - start;
    n++;
  }
  return n;
}

static char lower(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int word_is(word_t w, const char *lit) {
  size_t n = strlen(lit);
  if (w.n != n)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (lower(w.p[i]) != lit[i])
      return 0;
  return 1;
}

/* "key=" prefix, case-insensitive; the value follows. */
static int key_is(word_t w, const char *key, word_t *value) {
  size_t n = strlen(key);
  if (w.n < n)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (lower(w.p[i]) != key[i])
      return 0;
  value->p = w.p + n;
  value->n = w.n - n;
  return 1;
}

/* Bytes allowed in names: printable ASCII without space, and any byte with
 * the high bit set (UTF-8). Blanks never reach here (they split words). */
static int valid_name(word_t w, size_t max) {
  if (w.n == 0 || w.n > max)
    return 0;
  for (size_t i = 0; i < w.n; i++) {
    unsigned char c = (unsigned char)w.p[i];
    if (c <= 0x20 || c == 0x7f)
      return 0;
  }
  return 1;
}

static int parse_u64(word_t w, uint64_t max, uint64_t *out) {
  if (w.n == 0 || w.n > 20)
    return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < w.n; i++) {
    if (w.p[i] < '0' || w.p[i] > '9')
      return 0;
    uint64_t d = (uint64_t)(w.p[i] - '0');
    if (v > (UINT64_MAX - d) / 10)
      return 0;
    v = v * 10 + d;
  }
  if (v > max)
    return 0;
  *out = v;
  return 1;
}

static int fail(const char **err, const char *msg) {
  *err = msg;
  return EDDY_EPARSE;
}

static int parse_acquire(const word_t *w, size_t n, eddy__lk_request_t *r,
                         const char **err) {
  int mode = 0, reentrant = 0, try_ = 0, wait = 0, lease = 0;
  for (size_t i = 2; i < n; i++) {
    word_t v;
    if (word_is(w[i], "shared") || word_is(w[i], "exclusive")) {
      if (mode++)
        return fail(err, "shared/exclusive given twice");
      r->shared = word_is(w[i], "shared");
    } else if (word_is(w[i], "reentrant")) {
      if (reentrant++)
        return fail(err, "reentrant given twice");
      r->reentrant = 1;
    } else if (word_is(w[i], "try")) {
      if (try_++ || wait)
        return fail(err, "give one of try and wait=");
      r->wait_ms = 0;
    } else if (key_is(w[i], "wait=", &v)) {
      if (wait++ || try_)
        return fail(err, "give one of try and wait=");
      if (!parse_u64(v, EDDY__LK_WAIT_MAX, &r->wait_ms))
        return fail(err, "wait= needs a number of milliseconds (at most "
                         "4294967295)");
    } else if (key_is(w[i], "lease=", &v)) {
      if (lease++)
        return fail(err, "lease= given twice");
      if (!parse_u64(v, UINT64_MAX, &r->lease_ms) || r->lease_ms == 0)
        return fail(err, "lease= needs a number of milliseconds above 0");
    } else {
      return fail(err, "unknown acquire option (shared, exclusive, "
                       "reentrant, try, wait=MS, lease=MS)");
    }
  }
  return 1;
}

int eddy__lk_request_parse(const char *line, size_t len, size_t max_name,
                           eddy__lk_request_t *r, const char **err) {
  word_t w[WORDS_MAX];
  memset(r, 0, sizeof(*r));
  r->wait_ms = UINT64_MAX;
  if (len > 0 && line[len - 1] == '\r')
    len--;
  size_t n = split(line, len, w);
  if (n == 0)
    return 0;
  if (n > WORDS_MAX)
    return fail(err, "too many words");
  static const struct {
    const char *name;
    eddy__lk_verb_t verb;
    size_t min, max; /* words, the verb included */
    int named;       /* the argument is a lock name */
  } verbs[] = {
      {"acquire", EDDY__LK_V_ACQUIRE, 2, 7, 1},
      {"release", EDDY__LK_V_RELEASE, 2, 2, 1},
      {"refresh", EDDY__LK_V_REFRESH, 2, 3, 1},
      {"hello", EDDY__LK_V_HELLO, 2, 2, 0},
      {"inspect", EDDY__LK_V_INSPECT, 2, 2, 1},
      {"list", EDDY__LK_V_LIST, 1, 2, 0},
      {"stats", EDDY__LK_V_STATS, 1, 1, 0},
      {"reset", EDDY__LK_V_RESET, 1, 2, 0},
      {"ping", EDDY__LK_V_PING, 1, 1, 0},
      {"quit", EDDY__LK_V_QUIT, 1, 1, 0},
  };
  size_t v = 0;
  while (v < sizeof(verbs) / sizeof(verbs[0]) && !word_is(w[0], verbs[v].name))
    v++;
  if (v == sizeof(verbs) / sizeof(verbs[0]))
    return fail(err, "unknown command (hello, acquire, release, refresh, "
                     "inspect, list, stats, reset, ping, quit)");
  if (n < verbs[v].min)
    return fail(err, verbs[v].named ? "missing lock name" : "missing argument");
  if (n > verbs[v].max)
    return fail(err, "too many arguments");
  r->verb = verbs[v].verb;
  if (n >= 2) {
    r->arg = w[1].p;
    r->arg_len = w[1].n;
  }
  switch (r->verb) {
  case EDDY__LK_V_HELLO:
    if (!valid_name(w[1], EDDY__LK_CLIENT_MAX))
      return fail(err, "client name must be 1-64 printable bytes");
    return 1;
  case EDDY__LK_V_LIST:
    if (n == 2 && !valid_name(w[1], max_name))
      return fail(err, "bad prefix (printable bytes, at most max_name)");
    return 1;
  case EDDY__LK_V_RESET:
    return 1; /* any token; compared by the server */
  default:
    break;
  }
  if (verbs[v].named && !valid_name(w[1], max_name))
    return fail(err, w[1].n > max_name
                         ? "lock name too long"
                         : "bad lock name (printable bytes, no spaces)");
  if (r->verb == EDDY__LK_V_ACQUIRE)
    return parse_acquire(w, n, r, err);
  if (r->verb == EDDY__LK_V_REFRESH && n == 3) {
    word_t val;
    if (!key_is(w[2], "lease=", &val))
      return fail(err, "refresh takes only lease=MS");
    if (!parse_u64(val, UINT64_MAX, &r->lease_ms) || r->lease_ms == 0)
      return fail(err, "lease= needs a number of milliseconds above 0");
  }
  return 1;
}
