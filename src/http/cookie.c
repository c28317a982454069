/* cookie.c — the Cookie request header and the Set-Cookie response header. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "eddy/error.h"
#include "eddy/http_cookie.h"

/* Browsers keep at most this much of name plus value (RFC 6265bis); a
 * longer cookie would be dropped without a word, so it is refused here. */
#define COOKIE_NAME_VALUE_MAX 4096u
/* And at most this much of an attribute value. */
#define COOKIE_ATTR_MAX 1024u

/* ---- Reading ------------------------------------------------------------- */

static int is_ws(char c) {
  return c == ' ' || c == '\t';
}

/* Control bytes are the one thing refused outright: they have no business in
 * a header, and tolerating them would let a value smuggle a line break into
 * whatever the application echoes it to. */
static int has_ctl(const char *h, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)h[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return 1;
  }
  return 0;
}

/* Finds the next name=value pair at or after *pos; returns 0 at the end.
 * Pieces without '=' or with an empty name are skipped, as browsers do with
 * the Set-Cookie they would have come from. */
static int next_pair(const char *h, size_t len, size_t *pos,
                     eddy_cookie_pair_t *out) {
  while (*pos < len) {
    size_t start = *pos;
    const char *semi = memchr(h + start, ';', len - start);
    size_t end = semi != NULL ? (size_t)(semi - h) : len;
    *pos = end + 1;
    while (start < end && is_ws(h[start]))
      start++;
    while (end > start && is_ws(h[end - 1]))
      end--;
    const char *eq = memchr(h + start, '=', end - start);
    if (eq == NULL)
      continue;
    size_t name_end = (size_t)(eq - h);
    while (name_end > start && is_ws(h[name_end - 1]))
      name_end--;
    if (name_end == start)
      continue;
    size_t v = (size_t)(eq - h) + 1;
    while (v < end && is_ws(h[v]))
      v++;
    size_t v_end = end;
    if (v_end - v >= 2 && h[v] == '"' && h[v_end - 1] == '"') {
      v++;
      v_end--;
    }
    out->name = h + start;
    out->name_len = name_end - start;
    out->value = h + v;
    out->value_len = v_end - v;
    return 1;
  }
  return 0;
}

int eddy_cookie_parse(const char *h, size_t len, eddy_cookie_pair_t *pairs,
                      size_t cap) {
  if (has_ctl(h, len))
    return EDDY_EPARSE;
  size_t pos = 0, n = 0;
  eddy_cookie_pair_t p;
  while (next_pair(h, len, &pos, &p)) {
    if (n == cap)
      return UV_E2BIG;
    pairs[n++] = p;
  }
  /* Only a capacity beyond INT_MAX could make the count overflow. */
  return n > (size_t)INT_MAX ? UV_E2BIG : (int)n;
}

int eddy_cookie_find(const char *h, size_t len, const char *name,
                     const char **value, size_t *value_len) {
  if (has_ctl(h, len))
    return EDDY_EPARSE;
  size_t name_len = strlen(name);
  size_t pos = 0;
  eddy_cookie_pair_t p;
  while (next_pair(h, len, &pos, &p)) {
    if (p.name_len == name_len && memcmp(p.name, name, name_len) == 0) {
      *value = p.value;
      *value_len = p.value_len;
      return 0;
    }
  }
  return UV_ENOENT;
}

int eddy_http_cookie(const eddy_http_request_t *req, const char *name,
                     const char **value, size_t *value_len) {
  size_t n = eddy_http_header_count(req);
  for (size_t i = 0; i < n; i++) {
    const char *hn, *hv;
    if (eddy_http_header_at(req, i, &hn, &hv) != 0 ||
        strcasecmp(hn, "Cookie") != 0)
      continue;
    int rc = eddy_cookie_find(hv, strlen(hv), name, value, value_len);
    if (rc != UV_ENOENT)
      return rc;
  }
  return UV_ENOENT;
}

/* ---- Writing ------------------------------------------------------------- */

static int is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9'))
    return 1;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* cookie-octet: US-ASCII visible characters except DQUOTE, ',', ';', '\'. */
static int is_cookie_octet(unsigned char c) {
  return c >= 0x21 && c <= 0x7e && c != '"' && c != ',' && c != ';' &&
         c != '\\';
}

static int check(const eddy_cookie_t *c, const char **why) {
#define REFUSE(text)                                                           \
  do {                                                                         \
    *why = (text);                                                             \
    return UV_EINVAL;                                                          \
  } while (0)
  if (c->name == NULL || c->name[0] == '\0')
    REFUSE("cookie name is empty");
  size_t name_len = 0;
  for (const char *p = c->name; *p; p++, name_len++)
    if (!is_tchar((unsigned char)*p))
      REFUSE("cookie name is not a token");
  size_t value_len = 0;
  if (c->value != NULL)
    for (const char *p = c->value; *p; p++, value_len++)
      if (!is_cookie_octet((unsigned char)*p))
        REFUSE("cookie value has a byte outside cookie-octet (no space, "
               "'\"', ',', ';', '\\' or control; encode it)");
  if (name_len + value_len > COOKIE_NAME_VALUE_MAX)
    REFUSE("cookie name and value exceed 4096 bytes");
  if (c->path != NULL) {
    if (c->path[0] == '\0')
      REFUSE("cookie Path is empty");
    size_t n = 0;
    for (const char *p = c->path; *p; p++, n++) {
      unsigned char ch = (unsigned char)*p;
      if (ch < 0x20 || ch == 0x7f || ch == ';')
        REFUSE("cookie Path has a control byte or ';'");
    }
    if (n > COOKIE_ATTR_MAX)
      REFUSE("cookie Path exceeds 1024 bytes");
  }
  if (c->domain != NULL) {
    if (c->domain[0] == '\0')
      REFUSE("cookie Domain is empty");
    size_t n = 0;
    for (const char *p = c->domain; *p; p++, n++) {
      unsigned char ch = (unsigned char)*p;
      if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
            (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
        REFUSE("cookie Domain may hold only letters, digits, '-' and '.'");
    }
    if (n > 253)
      REFUSE("cookie Domain is longer than a host name");
  }
  if ((c->flags & EDDY_COOKIE_MAX_AGE) &&
      (c->max_age < 0 || c->max_age > EDDY_COOKIE_MAX_AGE_LIMIT))
    REFUSE("cookie Max-Age is outside 0..400 days");
  /* 253402300799 is the last second of year 9999. */
  if ((c->flags & EDDY_COOKIE_EXPIRES) &&
      (c->expires < 0 || c->expires > 253402300799LL))
    REFUSE("cookie Expires is outside the years 1970..9999");
  if (c->samesite < EDDY_COOKIE_SAMESITE_DEFAULT ||
      c->samesite > EDDY_COOKIE_SAMESITE_NONE)
    REFUSE("cookie SameSite is not one of the eddy_cookie_samesite_t values");
  int secure = (c->flags & EDDY_COOKIE_SECURE) != 0;
  if (c->samesite == EDDY_COOKIE_SAMESITE_NONE && !secure)
    REFUSE("cookie SameSite=None needs Secure (browsers drop it otherwise)");
  /* Browsers compare the prefixes case-insensitively. */
  if (strncasecmp(c->name, "__Secure-", 9) == 0 && !secure)
    REFUSE("a __Secure- cookie needs Secure");
  if (strncasecmp(c->name, "__Host-", 7) == 0 &&
      (!secure || c->domain != NULL || c->path == NULL ||
       strcmp(c->path, "/") != 0))
    REFUSE("a __Host- cookie needs Secure, Path=/ and no Domain");
  return 0;
#undef REFUSE
}

static int format(const eddy_cookie_t *c, eddy_buf_t *b) {
  int rc = eddy_buf_printf(b, "%s=%s", c->name, c->value ? c->value : "");
  if (rc == 0 && c->path != NULL)
    rc = eddy_buf_printf(b, "; Path=%s", c->path);
  if (rc == 0 && c->domain != NULL)
    rc = eddy_buf_printf(b, "; Domain=%s", c->domain);
  if (rc == 0 && (c->flags & EDDY_COOKIE_MAX_AGE))
    rc = eddy_buf_printf(b, "; Max-Age=%" PRId64, c->max_age);
  if (rc == 0 && (c->flags & EDDY_COOKIE_EXPIRES)) {
    char date[EDDY_HTTP_DATE_SIZE];
    rc = eddy_http_date_format(c->expires, date, sizeof(date));
    if (rc >= 0)
      rc = eddy_buf_printf(b, "; Expires=%s", date);
  }
  if (rc == 0 && (c->flags & EDDY_COOKIE_SECURE))
    rc = eddy_buf_append_str(b, "; Secure");
  if (rc == 0 && (c->flags & EDDY_COOKIE_HTTP_ONLY))
    rc = eddy_buf_append_str(b, "; HttpOnly");
  static const char *const samesite[] = {NULL, "Strict", "Lax", "None"};
  if (rc == 0 && c->samesite != EDDY_COOKIE_SAMESITE_DEFAULT)
    rc = eddy_buf_printf(b, "; SameSite=%s", samesite[c->samesite]);
  return rc;
}

int eddy_cookie_format(const eddy_cookie_t *c, eddy_buf_t *out,
                       const char **why) {
  const char *unused;
  if (why == NULL)
    why = &unused;
  *why = NULL;
  int rc = check(c, why);
  if (rc != 0)
    return rc;
  /* Built apart so that out is unchanged on any error. */
  eddy_buf_t tmp;
  eddy_buf_init(&tmp, EDDY_BUF_UNLIMITED);
  rc = format(c, &tmp);
  if (rc == 0)
    rc = eddy_buf_append(out, tmp.data, tmp.len);
  eddy_buf_free(&tmp);
  return rc;
}

int eddy_http_set_cookie(eddy_http_request_t *req, const eddy_cookie_t *c,
                         const char **why) {
  const char *unused;
  if (why == NULL)
    why = &unused;
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  int rc = eddy_cookie_format(c, &b, why);
  if (rc == 0)
    rc = eddy_buf_append(&b, "", 1); /* the NUL add_header needs */
  if (rc == 0) {
    rc = eddy_http_add_header(req, "Set-Cookie", b.data);
    if (rc == UV_EINVAL)
      *why = "the server refused the Set-Cookie header";
  }
  eddy_buf_free(&b);
  return rc;
}
