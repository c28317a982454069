/* framing.c — SockJS frames: what the server writes ("o", "h", "a[...]",
 * "c[...]") and the JSON the client sends. Pure: no reactor, no I/O. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/error.h"
#include "eddy/sockjs.h"
#include "sockjs/sockjs_internal.h"

static const char hex[] = "0123456789abcdef";

/* Length of the UTF-8 sequence at p (1..4) with its code point, or 0 when
 * the bytes there are not valid UTF-8 (overlong forms, surrogates, values
 * past U+10FFFF and truncated sequences included). */
static size_t utf8_next(const unsigned char *p, size_t n, uint32_t *cp) {
  unsigned c = p[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  unsigned lo = 0x80, hi = 0xBF;
  uint32_t v;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    v = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    v = c & 0x0F;
    if (c == 0xE0)
      lo = 0xA0;
    else if (c == 0xED)
      hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    v = c & 0x07;
    if (c == 0xF0)
      lo = 0x90;
    else if (c == 0xF4)
      hi = 0x8F;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    unsigned b = p[i];
    if (b < lo || b > hi)
      return 0;
    lo = 0x80;
    hi = 0xBF;
    v = (v << 6) | (b & 0x3F);
  }
  *cp = v;
  return len;
}

/* Characters the client or a browser on the way would mangle if sent
 * verbatim (besides JSON's own: quote, backslash, controls). */
static int must_escape(uint32_t cp) {
  return cp < 0x20 || cp == '"' || cp == '\\' || (cp >= 0x7F && cp <= 0x9F) ||
         (cp >= 0x200C && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) ||
         (cp >= 0x2060 && cp <= 0x206F) || (cp >= 0xFFF0 && cp <= 0xFFFF);
}

static void put_u(char *o, uint32_t cp) {
  o[0] = '\\';
  o[1] = 'u';
  o[2] = hex[(cp >> 12) & 15];
  o[3] = hex[(cp >> 8) & 15];
  o[4] = hex[(cp >> 4) & 15];
  o[5] = hex[cp & 15];
}

/* Writes the escape for cp into o; returns its length. */
static size_t escape_cp(char *o, uint32_t cp) {
  switch (cp) {
  case '"':
    memcpy(o, "\\\"", 2);
    return 2;
  case '\\':
    memcpy(o, "\\\\", 2);
    return 2;
  case '\b':
    memcpy(o, "\\b", 2);
    return 2;
  case '\f':
    memcpy(o, "\\f", 2);
    return 2;
  case '\n':
    memcpy(o, "\\n", 2);
    return 2;
  case '\r':
    memcpy(o, "\\r", 2);
    return 2;
  case '\t':
    memcpy(o, "\\t", 2);
    return 2;
  default:
    put_u(o, cp);
    return 6;
  }
}

/* The exact length of s once escaped, quotes included, so a bounded
 * buffer (a session's queue) is asked for no more than it will hold. */
static size_t escaped_len(const unsigned char *p, size_t len) {
  size_t n = 2;
  size_t i = 0;
  while (i < len) {
    uint32_t cp;
    size_t k = utf8_next(p + i, len - i, &cp);
    if (k == 0) {
      n += 6;
      i++;
      continue;
    }
    if (must_escape(cp))
      n += (cp == '"' || cp == '\\' || cp == '\b' || cp == '\f' || cp == '\n' ||
            cp == '\r' || cp == '\t')
               ? 2
               : 6;
    else
      n += k;
    i += k;
  }
  return n;
}

int eddy__sockjs_escape(eddy_buf_t *out, const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  size_t need = escaped_len(p, len);
  int rc = eddy_buf_reserve(out, need);
  if (rc != 0)
    return rc;
  char *o = eddy_buf_tail(out);
  char *start = o;
  *o++ = '"';
  size_t i = 0;
  while (i < len) {
    /* Plain ASCII runs are the common case: copy them as they are. */
    size_t j = i;
    while (j < len && p[j] >= 0x20 && p[j] < 0x7F && p[j] != '"' &&
           p[j] != '\\')
      j++;
    memcpy(o, p + i, j - i);
    o += j - i;
    i = j;
    if (i == len)
      break;
    uint32_t cp;
    size_t n = utf8_next(p + i, len - i, &cp);
    if (n == 0) {
      /* Not UTF-8: the byte becomes U+FFFD, so the frame stays valid. */
      put_u(o, 0xFFFD);
      o += 6;
      i++;
      continue;
    }
    if (must_escape(cp)) {
      o += escape_cp(o, cp);
    } else {
      memcpy(o, p + i, n);
      o += n;
    }
    i += n;
  }
  *o++ = '"';
  eddy_buf_commit(out, (size_t)(o - start));
  return 0;
}

int eddy__sockjs_quote_frame(eddy_buf_t *out, const char *frame, size_t len) {
  if (len > (SIZE_MAX - 2) / 6)
    return UV_ENOBUFS;
  int rc = eddy_buf_reserve(out, len * 6 + 2);
  if (rc != 0)
    return rc;
  char *o = eddy_buf_tail(out);
  char *start = o;
  *o++ = '"';
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)frame[i];
    /* '<' and '>' too: the string lands inside a <script> element, where a
     * message holding "</script>" must not end it. */
    if (c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>')
      o += escape_cp(o, c);
    else
      *o++ = (char)c;
  }
  *o++ = '"';
  eddy_buf_commit(out, (size_t)(o - start));
  return 0;
}

int eddy_sockjs_encode_messages(eddy_buf_t *out, const char *const *msgs,
                                const size_t *lens, size_t n) {
  size_t mark = out->len;
  int rc = eddy_buf_append(out, "a[", 2);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (i > 0)
      rc = eddy_buf_append(out, ",", 1);
    if (rc == 0)
      rc = eddy__sockjs_escape(out, msgs[i], lens[i]);
  }
  if (rc == 0)
    rc = eddy_buf_append(out, "]", 1);
  if (rc != 0 && out->len > mark)
    out->len = mark;
  return rc;
}

int eddy_sockjs_encode_close(eddy_buf_t *out, unsigned code,
                             const char *reason) {
  size_t mark = out->len;
  int rc = eddy_buf_printf(out, "c[%u,", code);
  if (rc == 0)
    rc = eddy__sockjs_escape(out, reason != NULL ? reason : "",
                             reason != NULL ? strlen(reason) : 0);
  if (rc == 0)
    rc = eddy_buf_append(out, "]", 1);
  if (rc != 0 && out->len > mark)
    out->len = mark;
  return rc;
}

/* ---- Decoding ------------------------------------------------------------
 * Two passes over the same grammar: the first only checks (and measures),
 * so that a malformed input calls back nothing; the second decodes. */

typedef struct {
  const unsigned char *p;
  size_t n;
  size_t i;
} cursor_t;

static void skip_ws(cursor_t *c) {
  while (c->i < c->n && (c->p[c->i] == ' ' || c->p[c->i] == '\t' ||
                         c->p[c->i] == '\n' || c->p[c->i] == '\r'))
    c->i++;
}

static int hex4(const unsigned char *p, uint32_t *v) {
  uint32_t r = 0;
  for (int k = 0; k < 4; k++) {
    unsigned ch = p[k];
    r <<= 4;
    if (ch >= '0' && ch <= '9')
      r |= ch - '0';
    else if (ch >= 'a' && ch <= 'f')
      r |= ch - 'a' + 10;
    else if (ch >= 'A' && ch <= 'F')
      r |= ch - 'A' + 10;
    else
      return -1;
  }
  *v = r;
  return 0;
}

static size_t utf8_put(unsigned char *o, uint32_t cp) {
  if (cp < 0x80) {
    o[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (unsigned char)(0xC0 | (cp >> 6));
    o[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xE0 | (cp >> 12));
    o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (unsigned char)(0xF0 | (cp >> 18));
  o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (unsigned char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Reads one JSON string at c (which points at its opening quote). With out
 * NULL it only checks and sets *dlen to the decoded length; otherwise it
 * decodes into out (room for *dlen bytes known from the first pass).
 * Stops counting at max + 1 so a huge string costs no more than needed.
 * A lone surrogate escape decodes to U+FFFD: the application always gets
 * valid UTF-8. */
static int read_string(cursor_t *c, unsigned char *out, size_t max,
                       size_t *dlen) {
  if (c->i >= c->n || c->p[c->i] != '"')
    return EDDY_EPARSE;
  c->i++;
  size_t d = 0;
  for (;;) {
    if (c->i >= c->n)
      return EDDY_EPARSE;
    unsigned ch = c->p[c->i];
    if (ch == '"') {
      c->i++;
      break;
    }
    if (ch < 0x20)
      return EDDY_EPARSE;
    if (ch != '\\') {
      uint32_t cp;
      size_t k = utf8_next(c->p + c->i, c->n - c->i, &cp);
      if (k == 0)
        return EDDY_EPARSE;
      if (out != NULL)
        memcpy(out + d, c->p + c->i, k);
      d += k;
      c->i += k;
    } else {
      if (c->i + 1 >= c->n)
        return EDDY_EPARSE;
      unsigned e = c->p[c->i + 1];
      uint32_t cp;
      c->i += 2;
      switch (e) {
      case '"':
      case '\\':
      case '/':
        cp = e;
        break;
      case 'b':
        cp = '\b';
        break;
      case 'f':
        cp = '\f';
        break;
      case 'n':
        cp = '\n';
        break;
      case 'r':
        cp = '\r';
        break;
      case 't':
        cp = '\t';
        break;
      case 'u':
        if (c->n - c->i < 4 || hex4(c->p + c->i, &cp) != 0)
          return EDDY_EPARSE;
        c->i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t lo;
          if (c->n - c->i >= 6 && c->p[c->i] == '\\' && c->p[c->i + 1] == 'u' &&
              hex4(c->p + c->i + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            c->i += 6;
          } else {
            cp = 0xFFFD;
          }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          cp = 0xFFFD;
        }
        break;
      default:
        return EDDY_EPARSE;
      }
      if (out != NULL)
        d += utf8_put(out + d, cp);
      else
        d += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    }
    if (out == NULL && d > max) {
      /* Too long: still check the rest is well-formed JSON, so a broken
       * input is reported as broken whatever its size. */
      *dlen = d;
      while (c->i < c->n && c->p[c->i] != '"') {
        if (c->p[c->i] < 0x20)
          return EDDY_EPARSE;
        if (c->p[c->i] == '\\') {
          if (c->i + 1 >= c->n)
            return EDDY_EPARSE;
          unsigned e2 = c->p[c->i + 1];
          if (e2 == 'u') {
            uint32_t v;
            if (c->n - c->i < 6 || hex4(c->p + c->i + 2, &v) != 0)
              return EDDY_EPARSE;
            c->i += 6;
          } else if (strchr("\"\\/bfnrt", (int)e2) != NULL && e2 != 0) {
            c->i += 2;
          } else {
            return EDDY_EPARSE;
          }
        } else {
          uint32_t cp2;
          size_t k = utf8_next(c->p + c->i, c->n - c->i, &cp2);
          if (k == 0)
            return EDDY_EPARSE;
          c->i += k;
        }
      }
      if (c->i >= c->n)
        return EDDY_EPARSE;
      c->i++;
      return UV_E2BIG;
    }
  }
  *dlen = d;
  return 0;
}

/* One pass over the whole input. Returns 0, EDDY_EPARSE or UV_E2BIG (after
 * checking the input is otherwise well-formed: broken JSON wins).
 * *longest is the largest decoded message. With cb set, decodes into buf
 * and calls back. */
static int walk(const char *body, size_t len, size_t max_message,
                unsigned char *buf, eddy_sockjs_message_cb cb, void *arg,
                size_t *longest) {
  cursor_t c = {(const unsigned char *)body, len, 0};
  int too_big = 0;
  size_t dlen = 0;
  *longest = 0;
  skip_ws(&c);
  if (c.i >= c.n)
    return EDDY_EPARSE;
  if (c.p[c.i] == '"') {
    int rc = read_string(&c, buf, max_message, &dlen);
    if (rc == UV_E2BIG)
      too_big = 1;
    else if (rc != 0)
      return rc;
    *longest = dlen;
    if (cb != NULL) {
      buf[dlen] = 0;
      rc = cb((const char *)buf, dlen, arg);
      if (rc != 0)
        return rc;
    }
  } else if (c.p[c.i] == '[') {
    c.i++;
    skip_ws(&c);
    if (c.i < c.n && c.p[c.i] == ']') {
      c.i++;
    } else {
      for (;;) {
        skip_ws(&c);
        int rc = read_string(&c, buf, max_message, &dlen);
        if (rc == UV_E2BIG)
          too_big = 1;
        else if (rc != 0)
          return rc;
        if (dlen > *longest)
          *longest = dlen;
        if (cb != NULL) {
          buf[dlen] = 0;
          rc = cb((const char *)buf, dlen, arg);
          if (rc != 0)
            return rc;
        }
        skip_ws(&c);
        if (c.i >= c.n)
          return EDDY_EPARSE;
        if (c.p[c.i] == ',') {
          c.i++;
          continue;
        }
        if (c.p[c.i] == ']') {
          c.i++;
          break;
        }
        return EDDY_EPARSE;
      }
    }
  } else {
    return EDDY_EPARSE;
  }
  skip_ws(&c);
  if (c.i != c.n)
    return EDDY_EPARSE;
  return too_big ? UV_E2BIG : 0;
}

int eddy_sockjs_decode_messages(const char *body, size_t len,
                                size_t max_message, eddy_sockjs_message_cb cb,
                                void *arg) {
  if (body == NULL && len > 0)
    return EDDY_EPARSE;
  size_t longest;
  int rc = walk(body, len, max_message, NULL, NULL, NULL, &longest);
  if (rc != 0 || cb == NULL)
    return rc;
  /* One scratch buffer, as large as the longest message, reused for each;
   * the extra byte keeps it non-empty and NUL-terminates for callers that
   * like C strings. */
  unsigned char *buf = malloc(longest + 1);
  if (buf == NULL)
    return UV_ENOMEM;
  rc = walk(body, len, max_message, buf, cb, arg, &longest);
  free(buf);
  return rc;
}
