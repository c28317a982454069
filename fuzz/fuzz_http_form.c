/* fuzz_http_form.c — libFuzzer driver for urlencoded forms
 * (eddy/http_form.h).
 *
 * The first input byte picks small or default limits; the rest is the form,
 * parsed from an exact-size copy. Checked, aborting on any mismatch:
 *  - model: a slow, obviously right decoder run over the same bytes agrees
 *    on success or failure, on every pair, and on the error's offset;
 *  - limits: no more pairs, and no longer keys or values, than allowed;
 *  - round trip: encoding the parsed form and parsing that again gives the
 *    same pairs, and the encoding holds only unreserved bytes, '%', '+',
 *    '=' and '&';
 *  - lookups: the first value of each key is the one get returns. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/error.h"
#include "eddy/http_form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
  unsigned char *key, *value;
  size_t key_len, value_len;
} mpair_t;

static int hex(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Decodes one component; returns its length, or -1 with *bad_at set. */
static long mdecode(const unsigned char *s, size_t n, size_t base,
                    unsigned char *out, int is_key, size_t *bad_at) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < 0x20 || s[i] == 0x7f) {
      *bad_at = base + i;
      return -1;
    }
    if (s[i] == '%') {
      if (i + 2 >= n) {
        *bad_at = base + i;
        return -1;
      }
      int h = hex(s[i + 1]), l = hex(s[i + 2]);
      if (h < 0 || l < 0 || (is_key && h == 0 && l == 0)) {
        *bad_at = base + i;
        return -1;
      }
      out[o++] = (unsigned char)(h * 16 + l);
      i += 2;
    } else {
      out[o++] = s[i] == '+' ? ' ' : s[i];
    }
  }
  return (long)o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  eddy_form_limits_t lim = {0, 0, 0};
  if (data[0] & 1) {
    lim.max_pairs = 1 + data[0] % 8;
    lim.max_key = 1 + (data[0] >> 3) % 8;
    lim.max_value = 1 + (data[0] >> 5) % 8;
  }
  eddy_form_limits_t eff = {lim.max_pairs ? lim.max_pairs : 1000,
                            lim.max_key ? lim.max_key : 1024,
                            lim.max_value ? lim.max_value : 1024 * 1024};
  const unsigned char *s = data + 1;
  size_t len = size - 1;
  char *copy = malloc(len ? len : 1);
  if (copy == NULL)
    abort();
  memcpy(copy, s, len);
  eddy_form_t *f = NULL;
  eddy_form_error_t err;
  int rc = eddy_form_parse(copy, len, &lim, &f, &err);

  /* The model: count pieces first (too many is refused before decoding),
   * then decode piece by piece. */
  size_t pieces = 0, over_at = 0;
  int model_rc = 0;
  for (size_t i = 0; i <= len && model_rc == 0;) {
    size_t e = i;
    while (e < len && s[e] != '&')
      e++;
    if (e > i) {
      if (pieces == eff.max_pairs) {
        model_rc = UV_E2BIG;
        over_at = i;
      }
      pieces++;
    }
    i = e + 1;
  }
  mpair_t *mp = calloc(pieces + 1, sizeof(*mp));
  unsigned char *scratch = malloc(2 * len + 2);
  if (mp == NULL || scratch == NULL)
    abort();
  size_t np = 0, bad_at = 0;
  unsigned char *d = scratch;
  for (size_t i = 0; i <= len && model_rc == 0;) {
    size_t e = i;
    while (e < len && s[e] != '&')
      e++;
    if (e > i) {
      size_t eq = i;
      while (eq < e && s[eq] != '=')
        eq++;
      long k = mdecode(s + i, eq - i, i, d, 1, &bad_at);
      if (k < 0) {
        model_rc = EDDY_EPARSE;
        break;
      }
      if ((size_t)k > eff.max_key) {
        model_rc = UV_EMSGSIZE;
        break;
      }
      mp[np].key = d;
      mp[np].key_len = (size_t)k;
      d += k;
      size_t vs = eq < e ? eq + 1 : e;
      long v = mdecode(s + vs, e - vs, vs, d, 0, &bad_at);
      if (v < 0) {
        model_rc = EDDY_EPARSE;
        break;
      }
      if ((size_t)v > eff.max_value) {
        model_rc = UV_EMSGSIZE;
        break;
      }
      mp[np].value = d;
      mp[np].value_len = (size_t)v;
      d += v;
      np++;
    }
    i = e + 1;
  }

  /* An over-long component is reported as soon as the limit is passed,
   * which can be before a bad escape later in the same component, where the
   * model, decoding whole components, sees the escape first. */
  if (model_rc == EDDY_EPARSE && rc == UV_EMSGSIZE)
    model_rc = UV_EMSGSIZE;
  if (rc != model_rc)
    abort();
  if (rc == UV_E2BIG && (err.offset != over_at || err.status != 413))
    abort();
  if (rc == EDDY_EPARSE && (err.offset != bad_at || err.status != 400))
    abort();
  if (rc != 0 && f != NULL)
    abort();

  if (rc == 0) {
    if (eddy_form_count(f) != np || np > eff.max_pairs)
      abort();
    for (size_t i = 0; i < np; i++) {
      const char *k, *v;
      size_t vl;
      if (eddy_form_at(f, i, &k, &v, &vl) != 0)
        abort();
      if (strlen(k) != mp[i].key_len || memcmp(k, mp[i].key, mp[i].key_len))
        abort();
      if (vl != mp[i].value_len || memcmp(v, mp[i].value, vl) || v[vl] != 0)
        abort();
      /* get returns the value of the first pair with this key, and
       * get_nth the n-th, n counting the earlier pairs with the key. */
      size_t nth = 0;
      const char *first = NULL;
      for (size_t j = 0; j < i; j++) {
        const char *k2, *v2;
        eddy_form_at(f, j, &k2, &v2, NULL);
        if (strcmp(k2, k) == 0) {
          if (nth++ == 0)
            first = v2;
        }
      }
      if (eddy_form_get(f, k, NULL) != (first ? first : v))
        abort();
      size_t nl;
      if (eddy_form_get_nth(f, k, nth, &nl) != v || nl != vl)
        abort();
      if (eddy_form_count_of(f, k) <= nth)
        abort();
    }
    if (eddy_form_get_nth(f, "", np + 1, NULL) != NULL)
      abort();

    eddy_buf_t b;
    eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
    if (eddy_form_encode(f, &b) != 0)
      abort();
    for (size_t i = 0; i < b.len; i++) {
      unsigned char c = (unsigned char)b.data[i];
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || strchr("*-._%+=&", c) != NULL))
        abort();
    }
    eddy_form_t *g = NULL;
    if (eddy_form_parse(b.data, b.len, &lim, &g, NULL) != 0)
      abort();
    /* An empty key with an empty value encodes as "=", which parses back;
     * every pair survives. */
    if (eddy_form_count(g) != np)
      abort();
    for (size_t i = 0; i < np; i++) {
      const char *k1, *k2, *v1, *v2;
      size_t l1, l2;
      eddy_form_at(f, i, &k1, &v1, &l1);
      eddy_form_at(g, i, &k2, &v2, &l2);
      if (strcmp(k1, k2) != 0 || l1 != l2 || memcmp(v1, v2, l1) != 0)
        abort();
    }
    eddy_form_free(g);
    eddy_buf_free(&b);
  }
  eddy_form_free(f);
  free(mp);
  free(scratch);
  free(copy);
  return 0;
}
