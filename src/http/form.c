/* form.c — application/x-www-form-urlencoded: parse, look up, encode. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "eddy/error.h"
#include "eddy/http_form.h"

typedef struct {
  const char *key;
  const char *value;
  size_t key_len;
  size_t value_len;
} pair_t;

/* Decoded bytes live in chunks that never move, so pointers handed out stay
 * valid while pairs are added. */
typedef struct chunk_s {
  struct chunk_s *next;
  char data[];
} chunk_t;

struct eddy_form_s {
  eddy_form_limits_t limits;
  pair_t *pairs;
  size_t count;
  size_t cap;
  chunk_t *chunks;
};

static void limits_fill(eddy_form_limits_t *out, const eddy_form_limits_t *in) {
  eddy_form_limits_t z = {0, 0, 0};
  if (in == NULL)
    in = &z;
  out->max_pairs = in->max_pairs ? in->max_pairs : EDDY_FORM_MAX_PAIRS_DEFAULT;
  out->max_key = in->max_key ? in->max_key : EDDY_FORM_MAX_KEY_DEFAULT;
  out->max_value = in->max_value ? in->max_value : EDDY_FORM_MAX_VALUE_DEFAULT;
}

static int fail(eddy_form_error_t *err, int rc, int status, size_t offset,
                const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static int fail(eddy_form_error_t *err, int rc, int status, size_t offset,
                const char *fmt, ...) {
  if (err != NULL) {
    err->status = status;
    err->offset = offset;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof(err->text), fmt, ap);
    va_end(ap);
  }
  return rc;
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static int is_ctl(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

/* Decodes s[0..len) (which starts at input offset base) into dst, at most
 * max bytes. is_key forbids NUL. Returns the decoded length or an error. */
static long long decode(const char *s, size_t len, size_t base, char *dst,
                        size_t max, int is_key, eddy_form_error_t *err) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (is_ctl(c))
      return fail(err, EDDY_EPARSE, 400, base + i,
                  "control byte 0x%02X at byte %zu", c, base + i);
    if (c == '+') {
      c = ' ';
    } else if (c == '%') {
      int hi = i + 1 < len ? hexval((unsigned char)s[i + 1]) : -1;
      int lo = i + 2 < len ? hexval((unsigned char)s[i + 2]) : -1;
      if (hi < 0 || lo < 0)
        return fail(err, EDDY_EPARSE, 400, base + i,
                    "invalid percent escape at byte %zu", base + i);
      c = (unsigned char)(hi * 16 + lo);
      if (c == 0 && is_key)
        return fail(err, EDDY_EPARSE, 400, base + i,
                    "NUL byte in a key at byte %zu", base + i);
      i += 2;
    }
    if (n == max)
      return fail(err, UV_EMSGSIZE, 413, base,
                  "%s longer than %zu bytes at byte %zu",
                  is_key ? "key" : "value", max, base);
    dst[n++] = (char)c;
  }
  return (long long)n;
}

static chunk_t *chunk_new(eddy_form_t *f, size_t size) {
  chunk_t *c = malloc(sizeof(*c) + size);
  if (c == NULL)
    return NULL;
  c->next = f->chunks;
  f->chunks = c;
  return c;
}

int eddy_form_new(const eddy_form_limits_t *limits, eddy_form_t **out) {
  *out = NULL;
  eddy_form_t *f = calloc(1, sizeof(*f));
  if (f == NULL)
    return UV_ENOMEM;
  limits_fill(&f->limits, limits);
  *out = f;
  return 0;
}

void eddy_form_free(eddy_form_t *f) {
  if (f == NULL)
    return;
  chunk_t *c = f->chunks;
  while (c != NULL) {
    chunk_t *next = c->next;
    free(c);
    c = next;
  }
  free(f->pairs);
  free(f);
}

int eddy_form_parse(const char *s, size_t len, const eddy_form_limits_t *limits,
                    eddy_form_t **out, eddy_form_error_t *err) {
  *out = NULL;
  if (err != NULL) {
    err->status = 0;
    err->offset = 0;
    err->text[0] = '\0';
  }
  eddy_form_limits_t lim;
  limits_fill(&lim, limits);

  /* First pass: count the non-empty pieces, so that one array and one
   * chunk hold everything and a flood of pairs is refused before any
   * decoding work. */
  size_t pieces = 0;
  for (size_t i = 0; i < len;) {
    const char *amp = memchr(s + i, '&', len - i);
    size_t end = amp != NULL ? (size_t)(amp - s) : len;
    if (end > i) {
      if (pieces == lim.max_pairs)
        return fail(err, UV_E2BIG, 413, i, "more than %zu pairs",
                    lim.max_pairs);
      pieces++;
    }
    i = end + 1;
  }

  eddy_form_t *f;
  if (eddy_form_new(&lim, &f) != 0)
    return fail(err, UV_ENOMEM, 500, 0, "out of memory");
  if (pieces > 0) {
    f->pairs = malloc(pieces * sizeof(*f->pairs));
    /* Decoding never grows a string; each pair adds two NULs. */
    if (f->pairs == NULL || chunk_new(f, len + 2 * pieces) == NULL) {
      eddy_form_free(f);
      return fail(err, UV_ENOMEM, 500, 0, "out of memory");
    }
    f->cap = pieces;
  }

  char *dst = pieces > 0 ? f->chunks->data : NULL;
  for (size_t i = 0; i < len;) {
    const char *amp = memchr(s + i, '&', len - i);
    size_t end = amp != NULL ? (size_t)(amp - s) : len;
    if (end > i) {
      const char *eq = memchr(s + i, '=', end - i);
      size_t kend = eq != NULL ? (size_t)(eq - s) : end;
      size_t vstart = eq != NULL ? kend + 1 : end;
      pair_t *p = &f->pairs[f->count];
      long long kn = decode(s + i, kend - i, i, dst, lim.max_key, 1, err);
      if (kn < 0) {
        eddy_form_free(f);
        return (int)kn;
      }
      p->key = dst;
      p->key_len = (size_t)kn;
      dst[kn] = '\0';
      dst += kn + 1;
      long long vn =
          decode(s + vstart, end - vstart, vstart, dst, lim.max_value, 0, err);
      if (vn < 0) {
        eddy_form_free(f);
        return (int)vn;
      }
      p->value = dst;
      p->value_len = (size_t)vn;
      dst[vn] = '\0';
      dst += vn + 1;
      f->count++;
    }
    i = end + 1;
  }
  *out = f;
  return 0;
}

int eddy_form_add(eddy_form_t *f, const char *key, const void *value,
                  size_t value_len) {
  if (key == NULL || (value == NULL && value_len > 0))
    return UV_EINVAL;
  size_t key_len = strlen(key);
  if (f->count >= f->limits.max_pairs)
    return UV_E2BIG;
  if (key_len > f->limits.max_key || value_len > f->limits.max_value)
    return UV_EMSGSIZE;
  if (f->count == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 8;
    if (cap > f->limits.max_pairs)
      cap = f->limits.max_pairs;
    pair_t *p = realloc(f->pairs, cap * sizeof(*p));
    if (p == NULL)
      return UV_ENOMEM;
    f->pairs = p;
    f->cap = cap;
  }
  chunk_t *c = chunk_new(f, key_len + value_len + 2);
  if (c == NULL)
    return UV_ENOMEM;
  pair_t *p = &f->pairs[f->count++];
  memcpy(c->data, key, key_len + 1);
  if (value_len > 0)
    memcpy(c->data + key_len + 1, value, value_len);
  c->data[key_len + 1 + value_len] = '\0';
  p->key = c->data;
  p->key_len = key_len;
  p->value = c->data + key_len + 1;
  p->value_len = value_len;
  return 0;
}

int eddy_form_add_str(eddy_form_t *f, const char *key, const char *value) {
  if (value == NULL)
    return UV_EINVAL;
  return eddy_form_add(f, key, value, strlen(value));
}

size_t eddy_form_count(const eddy_form_t *f) {
  return f->count;
}

int eddy_form_at(const eddy_form_t *f, size_t i, const char **key,
                 const char **value, size_t *value_len) {
  if (i >= f->count)
    return UV_ENOENT;
  const pair_t *p = &f->pairs[i];
  if (key != NULL)
    *key = p->key;
  if (value != NULL)
    *value = p->value;
  if (value_len != NULL)
    *value_len = p->value_len;
  return 0;
}

const char *eddy_form_get_nth(const eddy_form_t *f, const char *key, size_t n,
                              size_t *value_len) {
  size_t key_len = strlen(key);
  for (size_t i = 0; i < f->count; i++) {
    const pair_t *p = &f->pairs[i];
    if (p->key_len != key_len || memcmp(p->key, key, key_len) != 0)
      continue;
    if (n-- > 0)
      continue;
    if (value_len != NULL)
      *value_len = p->value_len;
    return p->value;
  }
  return NULL;
}

const char *eddy_form_get(const eddy_form_t *f, const char *key,
                          size_t *value_len) {
  return eddy_form_get_nth(f, key, 0, value_len);
}

size_t eddy_form_count_of(const eddy_form_t *f, const char *key) {
  size_t key_len = strlen(key);
  size_t n = 0;
  for (size_t i = 0; i < f->count; i++)
    if (f->pairs[i].key_len == key_len &&
        memcmp(f->pairs[i].key, key, key_len) == 0)
      n++;
  return n;
}

static int unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '*' || c == '-' || c == '.' || c == '_';
}

int eddy_form_escape(eddy_buf_t *out, const void *s, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  const unsigned char *p = s;
  /* Measure first: reserving the exact size leaves out untouched when the
   * buffer's max refuses, and never refuses what would have fitted. */
  size_t need = 0;
  for (size_t i = 0; i < len; i++) {
    size_t w = unreserved(p[i]) || p[i] == ' ' ? 1 : 3;
    if (need > ((size_t)-1) - w)
      return UV_ENOBUFS;
    need += w;
  }
  if (need == 0)
    return 0;
  int rc = eddy_buf_reserve(out, need);
  if (rc != 0)
    return rc;
  char *d = eddy_buf_tail(out);
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = p[i];
    if (unreserved(c)) {
      d[n++] = (char)c;
    } else if (c == ' ') {
      d[n++] = '+';
    } else {
      d[n++] = '%';
      d[n++] = hex[c >> 4];
      d[n++] = hex[c & 15];
    }
  }
  eddy_buf_commit(out, n);
  return 0;
}

int eddy_form_encode(const eddy_form_t *f, eddy_buf_t *out) {
  for (size_t i = 0; i < f->count; i++) {
    const pair_t *p = &f->pairs[i];
    int rc = 0;
    if (i > 0)
      rc = eddy_buf_append(out, "&", 1);
    if (rc == 0)
      rc = eddy_form_escape(out, p->key, p->key_len);
    if (rc == 0)
      rc = eddy_buf_append(out, "=", 1);
    if (rc == 0)
      rc = eddy_form_escape(out, p->value, p->value_len);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* ---- Requests ------------------------------------------------------------ */

int eddy_http_query_form(const eddy_http_request_t *req,
                         const eddy_form_limits_t *limits, eddy_form_t **out,
                         eddy_form_error_t *err) {
  const char *q = eddy_http_query(req);
  int rc = eddy_form_parse(q, strlen(q), limits, out, err);
  if ((rc == UV_E2BIG || rc == UV_EMSGSIZE) && err != NULL)
    err->status = 414;
  return rc;
}

/* Whether a Content-Type value is exactly the media type `want` (compared
 * case-insensitively), optionally followed by parameters. */
static int media_type_is(const char *ct, const char *want) {
  if (ct == NULL)
    return 0;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  size_t n = strlen(want);
  if (strncasecmp(ct, want, n) != 0)
    return 0;
  ct += n;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  return *ct == '\0' || *ct == ';';
}

int eddy_http_body_form(const eddy_http_request_t *req,
                        const eddy_form_limits_t *limits, eddy_form_t **out,
                        eddy_form_error_t *err) {
  *out = NULL;
  const char *ct = eddy_http_header(req, "Content-Type");
  if (!media_type_is(ct, "application/x-www-form-urlencoded"))
    return fail(err, UV_ENOTSUP, 415, 0,
                "Content-Type must be application/x-www-form-urlencoded");
  size_t len;
  const char *body = eddy_http_body(req, &len);
  return eddy_form_parse(body, len, limits, out, err);
}
