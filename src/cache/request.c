/* request.c — parsing the memcached text protocol, classic and meta.
 *
 * Follows memcached's own reading of a line: tokens are separated by
 * spaces, a line ends at "\n" with an optional "\r" before it, and the
 * checks come in memcached's order so the same bad line gets the same
 * answer. Storage commands are returned only once their whole block is
 * buffered, so executing one never waits. */
#include <stddef.h>
#include <string.h>

#include "request.h"
#include "store.h"

#define ERR_FORMAT "CLIENT_ERROR bad command line format"
#define ERR_CHUNK "CLIENT_ERROR bad data chunk"
#define ERR_TOO_LARGE "SERVER_ERROR object too large for cache"
#define ERR_EXPTIME "CLIENT_ERROR invalid exptime argument"
#define ERR_DELTA "CLIENT_ERROR invalid numeric delta argument"
#define ERR_FLAG "CLIENT_ERROR invalid flag"
#define ERR_DUP "CLIENT_ERROR duplicate flag"
#define ERR_TOKEN "CLIENT_ERROR bad token in command line format"
#define ERR_LINE "CLIENT_ERROR line too long"
#define ERR_MODE_MS "CLIENT_ERROR invalid mode for ms M token"
#define ERR_MODE_MA "CLIENT_ERROR invalid mode for ma M token"

#define TOKENS_MAX 8 /* classic commands have at most 7 */

typedef struct tok_s {
  const char *p;
  size_t len;
} tok_t;

static int tok_is(tok_t t, const char *s, size_t n) {
  return t.len == n && memcmp(t.p, s, n) == 0;
}
#define TOK_IS(t, lit) tok_is((t), lit, sizeof(lit) - 1)

/* Splits at most max tokens; *rest is where splitting stopped. */
static size_t split(const char *s, size_t len, tok_t *t, size_t max,
                    size_t *rest) {
  size_t n = 0, i = 0;
  while (i < len) {
    if (s[i] == ' ') {
      i++;
      continue;
    }
    if (n == max)
      break;
    t[n].p = s + i;
    while (i < len && s[i] != ' ')
      i++;
    t[n].len = (size_t)(s + i - t[n].p);
    n++;
  }
  *rest = i;
  return n;
}

static int parse_u64(const char *s, size_t len, uint64_t *out) {
  uint64_t v = 0;
  if (len == 0)
    return -1;
  /* Leading zeros do not count towards the 20 digits (strtoull's way). */
  while (len > 1 && s[0] == '0' && s[1] >= '0' && s[1] <= '9') {
    s++;
    len--;
  }
  if (len > 20)
    return -1;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    unsigned d = (unsigned)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10)
      return -1;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

static int parse_u32(tok_t t, uint32_t *out) {
  uint64_t v;
  if (parse_u64(t.p, t.len, &v) != 0 || v > UINT32_MAX)
    return -1;
  *out = (uint32_t)v;
  return 0;
}

/* A signed 32-bit number, the range memcached accepts for times and
 * lengths. */
static int parse_i32(const char *p, size_t len, int64_t *out) {
  int neg = len > 0 && p[0] == '-';
  uint64_t v;
  if (parse_u64(p + neg, len - (size_t)neg, &v) != 0 ||
      v > (neg ? 2147483648u : 2147483647u))
    return -1;
  *out = neg ? -(int64_t)v : (int64_t)v;
  return 0;
}

int eddy__mc_value_u64(const char *s, size_t len, uint64_t *out) {
  size_t i = 0;
  while (i < len && s[i] == ' ')
    i++;
  size_t start = i;
  while (i < len && s[i] >= '0' && s[i] <= '9')
    i++;
  if (i == start || (i < len && s[i] != ' '))
    return -1;
  return parse_u64(s + start, i - start, out);
}

static int key_ok(tok_t t) {
  if (t.len == 0 || t.len > EDDY__CACHE_KEY_MAX)
    return 0;
  for (size_t i = 0; i < t.len; i++)
    if ((unsigned char)t.p[i] <= ' ' || t.p[i] == 0x7f)
      return 0;
  return 1;
}

int eddy__mc_next_key(const eddy__mc_req_t *req, size_t *pos, const char **key,
                      size_t *nkey) {
  size_t i = *pos;
  while (i < req->keys_len && req->keys[i] == ' ')
    i++;
  if (i == req->keys_len) {
    *pos = i;
    return 0;
  }
  size_t start = i;
  while (i < req->keys_len && req->keys[i] != ' ')
    i++;
  *key = req->keys + start;
  *nkey = i - start;
  *pos = i;
  return 1;
}

static int fail(eddy__mc_req_t *req, const char *msg) {
  req->error = msg;
  return EDDY__MC_ERROR;
}

static int take_key(eddy__mc_req_t *req, tok_t t) {
  if (!key_ok(t))
    return fail(req, ERR_FORMAT);
  req->key = t.p;
  req->nkey = t.len;
  return EDDY__MC_OK;
}

/* The head every keyed text command shares: <cmd> <key> then args - 2
 * arguments and an optional trailing noreply. */
static int keyed(eddy__mc_req_t *req, const tok_t *t, size_t n, size_t args) {
  if (n != args && n != args + 1)
    return fail(req, "ERROR");
  req->noreply = TOK_IS(t[n - 1], "noreply");
  return take_key(req, t[1]);
}

static int is_retrieval(const char *p, size_t len) {
  size_t i = 0;
  while (i < len && p[i] == ' ')
    i++;
  p += i;
  len -= i;
  return (len >= 4 &&
          (memcmp(p, "get ", 4) == 0 || memcmp(p, "gat ", 4) == 0)) ||
         (len >= 5 &&
          (memcmp(p, "gets ", 5) == 0 || memcmp(p, "gats ", 5) == 0));
}

/* Waits for (or checks) the block of a storage command whose line took
 * line_len bytes. */
static int need_block(const char *buf, size_t len, size_t line_len,
                      eddy__mc_req_t *req) {
  size_t total = line_len + req->bytes + 2;
  if (len < total) {
    req->need = total;
    return EDDY__MC_NEED;
  }
  req->consumed = total;
  req->data = buf + line_len;
  if (buf[line_len + req->bytes] != '\r' ||
      buf[line_len + req->bytes + 1] != '\n')
    return fail(req, ERR_CHUNK);
  return EDDY__MC_OK;
}

/* set/add/replace/append/prepend/cas key flags exptime bytes [cas] [noreply] */
static int parse_storage(const char *buf, size_t len, size_t line_len,
                         const tok_t *t, size_t n, const eddy__mc_limits_t *lim,
                         eddy__mc_req_t *req) {
  int rc = keyed(req, t, n, req->cmd == EDDY__MC_CAS ? 6 : 5);
  if (rc != EDDY__MC_OK)
    return rc;
  int64_t vlen;
  if (parse_u32(t[2], &req->flags) != 0 ||
      parse_i32(t[3].p, t[3].len, &req->exptime) != 0 ||
      parse_i32(t[4].p, t[4].len, &vlen) != 0 || vlen < 0)
    return fail(req, ERR_FORMAT);
  if (req->cmd == EDDY__MC_CAS && parse_u64(t[5].p, t[5].len, &req->cas) != 0)
    return fail(req, ERR_FORMAT);
  req->bytes = (size_t)vlen;
  if (req->bytes > lim->max_item) {
    req->swallow = req->bytes + 2;
    req->drop_key = req->cmd == EDDY__MC_SET;
    return fail(req, ERR_TOO_LARGE);
  }
  return need_block(buf, len, line_len, req);
}

static int parse_retrieval(const char *line, size_t llen, const tok_t *t,
                           size_t n, size_t rest, eddy__mc_req_t *req) {
  int touch = req->cmd == EDDY__MC_GAT || req->cmd == EDDY__MC_GATS;
  if (n < 2)
    return fail(req, "ERROR");
  if (touch && parse_i32(t[1].p, t[1].len, &req->exptime) != 0)
    return fail(req, ERR_EXPTIME);
  size_t first = touch ? 2 : 1;
  (void)rest;
  if (n <= first) {
    /* `gat 10` with no key: memcached answers an empty list. */
    req->keys = line + llen;
    req->keys_len = 0;
    return EDDY__MC_OK;
  }
  req->keys = t[first].p;
  req->keys_len = (size_t)(line + llen - t[first].p);
  size_t pos = 0;
  const char *k;
  size_t nk;
  while (eddy__mc_next_key(req, &pos, &k, &nk)) {
    tok_t kt = {k, nk};
    if (!key_ok(kt))
      return fail(req, ERR_FORMAT);
  }
  return EDDY__MC_OK;
}

/* ---- Meta ---------------------------------------------------------------- */

/* The answer to a flag token that is not a number differs by command in
 * memcached; we answer as it does. */
static int bad_token(eddy__mc_req_t *req, char f) {
  if (req->cmd == EDDY__MC_MA || req->cmd == EDDY__MC_MD)
    return fail(req, "CLIENT_ERROR invalid or duplicate flag");
  if (req->cmd == EDDY__MC_MS && f == 'F')
    return fail(req, ERR_FORMAT);
  return fail(req, ERR_TOKEN);
}

/* Reads the flags of a meta command; `allowed` lists the letters the command
 * takes. */
static int parse_mflags(const char *line, size_t llen, size_t off,
                        const char *allowed, eddy__mc_req_t *req) {
  size_t i = off;
  req->mode = req->cmd == EDDY__MC_MA ? EDDY__MC_MODE_INCR : EDDY__MC_MODE_SET;
  req->delta = 1;
  while (i < llen) {
    if (line[i] == ' ') {
      i++;
      continue;
    }
    const char *p = line + i;
    while (i < llen && line[i] != ' ')
      i++;
    size_t tl = (size_t)(line + i - p);
    char f = p[0];
    if (!((f >= 'a' && f <= 'z') || (f >= 'A' && f <= 'Z')) ||
        strchr(allowed, f) == NULL)
      return fail(req, ERR_FLAG);
    if (eddy__mc_has(req, f))
      return fail(req, ERR_DUP);
    if (req->nmflags == EDDY__MC_META_FLAGS_MAX)
      return fail(req, ERR_FORMAT);
    req->mseen |= (uint64_t)1 << (unsigned)(f - 'A');
    eddy__mc_mflag_t *m = &req->mflags[req->nmflags++];
    m->flag = f;
    m->tok = p + 1;
    m->len = tl - 1;
    uint64_t u;
    switch (f) {
    case 'q':
      req->quiet = 1;
      break;
    case 'T':
      req->has_ttl = 1;
      if (parse_i32(m->tok, m->len, &req->ttl) != 0)
        return bad_token(req, f);
      break;
    case 'N':
      req->has_vivify = 1;
      if (parse_i32(m->tok, m->len, &req->vivify_ttl) != 0)
        return bad_token(req, f);
      break;
    case 'R':
      req->has_recache = 1;
      if (parse_i32(m->tok, m->len, &req->recache_ttl) != 0)
        return bad_token(req, f);
      break;
    case 'F':
      if (parse_u64(m->tok, m->len, &u) != 0 || u > UINT32_MAX)
        return bad_token(req, f);
      req->flags = (uint32_t)u;
      break;
    case 'C':
      if (parse_u64(m->tok, m->len, &req->compare_cas) != 0)
        return bad_token(req, f);
      break;
    case 'D':
      if (parse_u64(m->tok, m->len, &req->delta) != 0)
        return bad_token(req, f);
      break;
    case 'J':
      if (parse_u64(m->tok, m->len, &req->initial) != 0)
        return bad_token(req, f);
      break;
    case 'O':
      if (m->len > EDDY__MC_OPAQUE_MAX)
        return fail(req, "CLIENT_ERROR opaque token too long");
      req->opaque = m->tok;
      req->opaque_len = m->len;
      break;
    case 'M':
      if (m->len != 1)
        return fail(req, req->cmd == EDDY__MC_MA ? ERR_MODE_MA : ERR_MODE_MS);
      if (req->cmd == EDDY__MC_MA) {
        switch (m->tok[0]) {
        case 'I':
        case 'i':
        case '+':
          req->mode = EDDY__MC_MODE_INCR;
          break;
        case 'D':
        case 'd':
        case '-':
          req->mode = EDDY__MC_MODE_DECR;
          break;
        default:
          return fail(req, ERR_MODE_MA);
        }
      } else {
        switch (m->tok[0]) {
        case 'E':
        case 'e':
          req->mode = EDDY__MC_MODE_ADD;
          break;
        case 'A':
        case 'a':
          req->mode = EDDY__MC_MODE_APPEND;
          break;
        case 'P':
        case 'p':
          req->mode = EDDY__MC_MODE_PREPEND;
          break;
        case 'R':
        case 'r':
          req->mode = EDDY__MC_MODE_REPLACE;
          break;
        case 'S':
        case 's':
          req->mode = EDDY__MC_MODE_SET;
          break;
        default:
          return fail(req, ERR_MODE_MS);
        }
      }
      break;
    default:
      break; /* a flag without a token to check (c f h k l s t u v ...) */
    }
  }
  return EDDY__MC_OK;
}

static int parse_meta(const char *buf, size_t len, const char *line,
                      size_t llen, size_t line_len,
                      const eddy__mc_limits_t *lim, eddy__mc_req_t *req) {
  tok_t t[3];
  size_t rest;
  if (req->cmd == EDDY__MC_MN) {
    return EDDY__MC_OK; /* memcached ignores anything after mn */
  }
  size_t n = split(line, llen, t, 2, &rest);
  if (n < 2)
    return fail(req, "ERROR");
  if (!key_ok(t[1]))
    return fail(req, ERR_FORMAT);
  req->key = t[1].p;
  req->nkey = t[1].len;
  size_t off = (size_t)(t[1].p + t[1].len - line);
  switch (req->cmd) {
  case EDDY__MC_MG:
    return parse_mflags(line, llen, off, "cfhklNOqRstuvT", req);
  case EDDY__MC_MD:
    return parse_mflags(line, llen, off, "CkOq", req);
  case EDDY__MC_MA:
    return parse_mflags(line, llen, off, "cDJkMNOqtTv", req);
  default:
    break;
  }
  /* ms key datalen flags... */
  size_t n2 = split(line + off, llen - off, t, 1, &rest);
  int64_t vlen;
  if (n2 < 1)
    return fail(req, ERR_FORMAT);
  if (parse_i32(t[0].p, t[0].len, &vlen) != 0 || vlen < 0)
    return fail(req, ERR_FORMAT);
  req->bytes = (size_t)vlen;
  size_t foff = (size_t)(t[0].p + t[0].len - line);
  int rc = parse_mflags(line, llen, foff, "cCFIkMOqT", req);
  if (rc == EDDY__MC_OK && req->bytes > lim->max_item)
    rc = fail(req, ERR_TOO_LARGE);
  if (rc != EDDY__MC_OK) {
    /* The length was readable: skip the block, as memcached does, so the
     * next command is read where it starts. */
    req->swallow = req->bytes + 2;
    return rc;
  }
  return need_block(buf, len, line_len, req);
}

/* ---- The entry point ---------------------------------------------------- */

typedef struct cmd_name_s {
  const char *name;
  size_t len;
  eddy__mc_cmd_t cmd;
} cmd_name_t;

#define CMD(s, c)                                                              \
  { s, sizeof(s) - 1, c }
static const cmd_name_t cmds[] = {
    CMD("get", EDDY__MC_GET),
    CMD("gets", EDDY__MC_GETS),
    CMD("gat", EDDY__MC_GAT),
    CMD("gats", EDDY__MC_GATS),
    CMD("set", EDDY__MC_SET),
    CMD("add", EDDY__MC_ADD),
    CMD("replace", EDDY__MC_REPLACE),
    CMD("append", EDDY__MC_APPEND),
    CMD("prepend", EDDY__MC_PREPEND),
    CMD("cas", EDDY__MC_CAS),
    CMD("delete", EDDY__MC_DELETE),
    CMD("incr", EDDY__MC_INCR),
    CMD("decr", EDDY__MC_DECR),
    CMD("touch", EDDY__MC_TOUCH),
    CMD("flush_all", EDDY__MC_FLUSH_ALL),
    CMD("version", EDDY__MC_VERSION),
    CMD("verbosity", EDDY__MC_VERBOSITY),
    CMD("stats", EDDY__MC_STATS),
    CMD("quit", EDDY__MC_QUIT),
    CMD("mg", EDDY__MC_MG),
    CMD("ms", EDDY__MC_MS),
    CMD("md", EDDY__MC_MD),
    CMD("ma", EDDY__MC_MA),
    CMD("mn", EDDY__MC_MN),
};

static eddy__mc_cmd_t lookup(tok_t t) {
  for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
    if (tok_is(t, cmds[i].name, cmds[i].len))
      return cmds[i].cmd;
  return EDDY__MC_NONE;
}

int eddy__mc_parse(const char *buf, size_t len, const eddy__mc_limits_t *lim,
                   eddy__mc_req_t *req) {
  memset(req, 0, offsetof(eddy__mc_req_t, mflags));
  req->nmflags = 0;
  req->mseen = 0;
  req->quiet = req->mode = req->has_ttl = req->has_vivify = 0;
  req->ttl = req->vivify_ttl = req->recache_ttl = 0;
  req->has_recache = 0;
  req->initial = req->compare_cas = 0;
  req->opaque = NULL;
  req->opaque_len = 0;
  size_t scan = len;
  size_t cap = lim->max_keys > lim->max_line ? lim->max_keys : lim->max_line;
  if (scan > cap + 2)
    scan = cap + 2;
  const char *nl = memchr(buf, '\n', scan);
  size_t llen = nl != NULL ? (size_t)(nl - buf) : scan;
  /* A line over the limit is refused whether or not its end has come, so
   * how the bytes were split never changes the answer. */
  if (llen > lim->max_line + 1 &&
      (llen > lim->max_keys + 1 || !is_retrieval(buf, llen))) {
    req->consumed = len;
    req->error = ERR_LINE;
    return EDDY__MC_CLOSE;
  }
  if (nl == NULL)
    return EDDY__MC_NEED;
  size_t line_len = llen + 1;
  if (llen > 0 && buf[llen - 1] == '\r')
    llen--;
  req->consumed = line_len;
  const char *line = buf;

  tok_t t[TOKENS_MAX];
  size_t rest;
  size_t n = split(line, llen, t, TOKENS_MAX, &rest);
  if (n == 0)
    return fail(req, "ERROR");
  req->cmd = lookup(t[0]);
  switch (req->cmd) {
  case EDDY__MC_NONE:
    return fail(req, "ERROR");
  case EDDY__MC_GET:
  case EDDY__MC_GETS:
  case EDDY__MC_GAT:
  case EDDY__MC_GATS:
    return parse_retrieval(line, llen, t, n, rest, req);
  case EDDY__MC_SET:
  case EDDY__MC_ADD:
  case EDDY__MC_REPLACE:
  case EDDY__MC_APPEND:
  case EDDY__MC_PREPEND:
  case EDDY__MC_CAS:
    if (n == TOKENS_MAX)
      return fail(req, "ERROR");
    return parse_storage(buf, len, line_len, t, n, lim, req);
  case EDDY__MC_DELETE: {
    if (n < 2 || n > 4)
      return fail(req, "ERROR");
    req->noreply = TOK_IS(t[n - 1], "noreply");
    if (n > 2) {
      int zero = TOK_IS(t[2], "0");
      if (!((n == 3 && (zero || req->noreply)) ||
            (n == 4 && zero && req->noreply)))
        return fail(req, "CLIENT_ERROR bad command line format.  "
                         "Usage: delete <key> [noreply]");
    }
    return take_key(req, t[1]);
  }
  case EDDY__MC_INCR:
  case EDDY__MC_DECR: {
    int rc = keyed(req, t, n, 3);
    if (rc != EDDY__MC_OK)
      return rc;
    if (parse_u64(t[2].p, t[2].len, &req->delta) != 0)
      return fail(req, ERR_DELTA);
    return EDDY__MC_OK;
  }
  case EDDY__MC_TOUCH: {
    int rc = keyed(req, t, n, 3);
    if (rc != EDDY__MC_OK)
      return rc;
    if (parse_i32(t[2].p, t[2].len, &req->exptime) != 0)
      return fail(req, ERR_EXPTIME);
    return EDDY__MC_OK;
  }
  case EDDY__MC_FLUSH_ALL:
    if (n > 3)
      return fail(req, "ERROR");
    req->noreply = TOK_IS(t[n - 1], "noreply");
    /* As memcached: the delay is the first argument unless that is
     * noreply; anything after it is ignored. */
    if (n >= 2 && !TOK_IS(t[1], "noreply") &&
        parse_i32(t[1].p, t[1].len, &req->exptime) != 0)
      return fail(req, ERR_EXPTIME);
    return EDDY__MC_OK;
  case EDDY__MC_VERSION:
  case EDDY__MC_QUIT:
    return EDDY__MC_OK; /* memcached ignores any argument */
  case EDDY__MC_VERBOSITY: {
    if (n != 2 && n != 3)
      return fail(req, "ERROR");
    req->noreply = TOK_IS(t[n - 1], "noreply");
    uint32_t level;
    if (parse_u32(t[1], &level) != 0)
      return fail(req, ERR_FORMAT);
    return EDDY__MC_OK;
  }
  case EDDY__MC_STATS:
    if (n >= 2) { /* memcached ignores what follows the first argument */
      req->arg = t[1].p;
      req->arg_len = t[1].len;
    }
    return EDDY__MC_OK;
  case EDDY__MC_MG:
  case EDDY__MC_MS:
  case EDDY__MC_MD:
  case EDDY__MC_MA:
  case EDDY__MC_MN:
    return parse_meta(buf, len, line, llen, line_len, lim, req);
  }
  return fail(req, "ERROR");
}
