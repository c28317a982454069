/* fuzz_http_cookie.c — libFuzzer driver for Cookie and Set-Cookie
 * (eddy/http_cookie.h).
 *
 * The input is a Cookie header, parsed from an exact-size copy, and also
 * read as a cookie to format. Checked, aborting on any mismatch:
 *  - parse: every pair lies inside the input; names are non-empty and hold
 *    no ';', '=', leading or trailing space; values hold no ';'; a header
 *    with a control byte fails, one without never does; a small capacity
 *    gives a prefix of the same pairs;
 *  - find: for every parsed name, eddy_cookie_find gives the first pair
 *    with that name;
 *  - format: when a cookie built from the input formats, what it produced
 *    starts with "name=value" and parses back to that one pair, holds no
 *    control byte, and the attributes follow "; "; when it does not, a
 *    reason is given. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/error.h"
#include "eddy/http_cookie.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP 64

static int has_ctl(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
      return 1;
  return 0;
}

static void check_parse(const uint8_t *data, size_t size) {
  char *h = malloc(size ? size : 1);
  if (h == NULL)
    abort();
  memcpy(h, data, size);
  eddy_cookie_pair_t pairs[CAP];
  int n = eddy_cookie_parse(h, size, pairs, CAP);
  if (has_ctl(data, size)) {
    if (n != EDDY_EPARSE)
      abort();
    const char *v;
    size_t vl;
    if (eddy_cookie_find(h, size, "a", &v, &vl) != EDDY_EPARSE)
      abort();
    free(h);
    return;
  }
  if (n < 0 && n != UV_E2BIG)
    abort();
  size_t count = n == UV_E2BIG ? CAP : (size_t)n;
  for (size_t i = 0; i < count; i++) {
    const eddy_cookie_pair_t *p = &pairs[i];
    if (p->name < h || p->name + p->name_len > h + size || p->name_len == 0)
      abort();
    if (p->value < h || p->value + p->value_len > h + size)
      abort();
    if (memchr(p->name, ';', p->name_len) || memchr(p->name, '=', p->name_len))
      abort();
    if (p->name[0] == ' ' || p->name[0] == '\t' ||
        p->name[p->name_len - 1] == ' ' || p->name[p->name_len - 1] == '\t')
      abort();
    if (memchr(p->value, ';', p->value_len))
      abort();
    /* find returns the first pair with this name (names with a NUL cannot
     * be looked up, and control bytes were ruled out above). */
    char name[256];
    if (p->name_len < sizeof(name)) {
      memcpy(name, p->name, p->name_len);
      name[p->name_len] = '\0';
      size_t first = 0;
      while (pairs[first].name_len != p->name_len ||
             memcmp(pairs[first].name, p->name, p->name_len) != 0)
        first++;
      const char *v;
      size_t vl;
      if (eddy_cookie_find(h, size, name, &v, &vl) != 0)
        abort();
      if (v != pairs[first].value || vl != pairs[first].value_len)
        abort();
    }
  }
  /* A smaller capacity sees the same first pairs. */
  eddy_cookie_pair_t few[2];
  int m = eddy_cookie_parse(h, size, few, 2);
  if (count <= 2 && n >= 0 ? m != n : m != UV_E2BIG)
    abort();
  for (int i = 0; i < 2 && (size_t)i < count; i++)
    if (few[i].name != pairs[i].name || few[i].value_len != pairs[i].value_len)
      abort();
  free(h);
}

/* The input as a cookie: name, value, path, domain separated by NUL bytes;
 * a final byte of flags. */
static void check_format(const uint8_t *data, size_t size) {
  if (size < 2)
    return;
  char *s = malloc(size + 1);
  if (s == NULL)
    abort();
  memcpy(s, data, size - 1);
  s[size - 1] = '\0';
  uint8_t fl = data[size - 1];
  const char *fields[4] = {NULL, NULL, NULL, NULL};
  size_t nf = 0;
  const char *p = s;
  while (nf < 4 && p <= s + size - 1) {
    fields[nf++] = p;
    p += strlen(p) + 1;
  }
  eddy_cookie_t c = {.name = fields[0],
                     .value = fields[1],
                     .path = (fl & 0x10) ? fields[2] : NULL,
                     .domain = (fl & 0x20) ? fields[3] : NULL,
                     .max_age = (int64_t)data[0] * 100000 - 100000,
                     .expires = (int64_t)data[size - 2] * 2000000000LL - 1,
                     .flags = fl & 0xf,
                     .samesite = (eddy_cookie_samesite_t)((fl >> 6) & 3)};
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  const char *why = NULL;
  int rc = eddy_cookie_format(&c, &b, &why);
  if (rc != 0) {
    if (rc != UV_EINVAL || why == NULL || b.len != 0)
      abort();
  } else {
    if (why != NULL || has_ctl((const uint8_t *)b.data, b.len))
      abort();
    size_t nl = strlen(c.name), vl = c.value ? strlen(c.value) : 0;
    if (b.len < nl + 1 + vl || memcmp(b.data, c.name, nl) != 0 ||
        b.data[nl] != '=' || (vl && memcmp(b.data + nl + 1, c.value, vl)))
      abort();
    if (b.len > nl + 1 + vl && memcmp(b.data + nl + 1 + vl, "; ", 2) != 0)
      abort();
    eddy_cookie_pair_t one[1];
    if (eddy_cookie_parse(b.data, nl + 1 + vl, one, 1) != 1 ||
        one[0].name_len != nl || one[0].value_len != vl)
      abort();
  }
  eddy_buf_free(&b);
  free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_parse(data, size);
  check_format(data, size);
  return 0;
}
