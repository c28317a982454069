/* test_utf8.c — the streaming UTF-8 validator (eddy/utf8.h): boundary code
 * points, overlongs, surrogates, values above U+10FFFF, truncation; every
 * case fed whole, one byte at a time and split at every pair of points;
 * a differential check against a naive code-point decoder. */
#include "support.h"

#include <stdlib.h>
#include <string.h>

#include <eddy/utf8.h>

static eddy_reactor_t *r;
static void setup(void) {
  r = test_reactor(0);
}
static void teardown(void) {
  test_close_reactor(r);
}
TestSuite(utf8, .init = setup, .fini = teardown);

/* A naive reference: decode whole code points, then check their range. */
static int ref_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t k;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      k = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      k = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      k = 3;
      cp = c & 0x07;
    } else {
      return 0;
    }
    if (n - i - 1 < k)
      return 0;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xC0) != 0x80)
        return 0;
      cp = (cp << 6) | (s[i + j] & 0x3F);
    }
    static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < min[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    i += k + 1;
  }
  return 1;
}

/* Copies s into an exact-size allocation so an over-read trips ASan. */
static uint8_t *exact(const uint8_t *s, size_t n) {
  uint8_t *p = malloc(n ? n : 1);
  cr_assert(p);
  if (n)
    memcpy(p, s, n);
  return p;
}

/* Feeds s in pieces [0,a) [a,b) [b,n) and returns finish's result. Also
 * checks the fail-fast contract: feed reports INVALID exactly from the first
 * piece that includes the first byte no valid string could continue with. */
static int feed3(const uint8_t *s, size_t n, size_t a, size_t b) {
  eddy_utf8_t v;
  eddy_utf8_init(&v);
  size_t cut[4] = {0, a, b, n};
  for (int i = 0; i < 3; i++) {
    uint8_t *p = exact(s + cut[i], cut[i + 1] - cut[i]);
    eddy_utf8_feed(&v, p, cut[i + 1] - cut[i]);
    free(p);
  }
  return eddy_utf8_finish(&v);
}

static void check_case(const char *s, size_t n, int valid) {
  const uint8_t *u = (const uint8_t *)s;
  int want = valid ? 0 : EDDY_UTF8_INVALID;
  cr_assert_eq(ref_valid(u, n), valid, "reference disagrees on case %zu", n);
  uint8_t *p = exact(u, n);
  cr_assert_eq(eddy_utf8_valid(p, n), want);
  free(p);
  for (size_t a = 0; a <= n; a++)
    for (size_t b = a; b <= n; b++)
      cr_assert_eq(feed3(u, n, a, b), want, "split %zu/%zu of %zu", a, b, n);

  /* One byte at a time: once INVALID it stays INVALID, and a valid prefix
   * reports OK exactly at character boundaries. */
  eddy_utf8_t v;
  eddy_utf8_init(&v);
  int seen_bad = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t *b1 = exact(u + i, 1);
    int rc = eddy_utf8_feed(&v, b1, 1);
    free(b1);
    if (seen_bad)
      cr_assert_eq(rc, EDDY_UTF8_INVALID);
    if (rc == EDDY_UTF8_INVALID)
      seen_bad = 1;
    else if (rc == EDDY_UTF8_OK)
      cr_assert(ref_valid(u, i + 1), "OK at %zu but prefix invalid", i);
  }
  cr_assert_eq(eddy_utf8_finish(&v), want);
}

#define VALID(lit) check_case(lit, sizeof(lit) - 1, 1)
#define INVALID(lit) check_case(lit, sizeof(lit) - 1, 0)

Test(utf8, valid_boundaries) {
  VALID("");
  VALID("Hello, world");
  VALID("a fairly long ASCII string to exercise the eight byte path!!");
  VALID("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"); /* kosme */
  VALID("Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1"
        "-UTF-8!!");
  VALID("\x00");
  VALID("\x7f");
  VALID("\xc2\x80");
  VALID("\xdf\xbf");
  VALID("\xe0\xa0\x80");
  VALID("\xed\x9f\xbf");     /* U+D7FF, last before surrogates */
  VALID("\xee\x80\x80");     /* U+E000, first after */
  VALID("\xef\xbf\xbd");     /* U+FFFD */
  VALID("\xef\xbf\xbf");     /* U+FFFF (noncharacter, still valid) */
  VALID("\xf0\x90\x80\x80"); /* U+10000 */
  VALID("\xf4\x8f\xbf\xbf"); /* U+10FFFF */
  VALID("abcdefgh\xf0\x9f\x98\x80ijklmnopq\xe2\x82\xac");
}

Test(utf8, invalid_sequences) {
  INVALID("\x80");
  INVALID("\xbf");
  INVALID("abcdefghijk\x80");
  INVALID("\xc0\x80"); /* overlong NUL */
  INVALID("\xc1\xbf");
  INVALID("\xe0\x80\x80");
  INVALID("\xe0\x9f\xbf"); /* overlong U+07FF */
  INVALID("\xf0\x80\x80\x80");
  INVALID("\xf0\x8f\xbf\xbf");         /* overlong U+FFFF */
  INVALID("\xed\xa0\x80");             /* U+D800 */
  INVALID("\xed\xbf\xbf");             /* U+DFFF */
  INVALID("\xed\xa0\x80\xed\xb0\x80"); /* a surrogate pair */
  INVALID("\xf4\x90\x80\x80");         /* U+110000 */
  INVALID("\xf5\x80\x80\x80");
  INVALID("\xf7\xbf\xbf\xbf");
  INVALID("\xf8\x88\x80\x80\x80");
  INVALID("\xfe");
  INVALID("\xff");
  INVALID("\xc2\x41");
  INVALID("\xe1\x80\x41");
  INVALID("\xf1\x80\x80\x41");
  INVALID("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
          "edited");
}

Test(utf8, truncated_is_partial_not_invalid) {
  INVALID("\xc2");
  INVALID("\xe1\x80");
  INVALID("\xf0\x90\x80");
  INVALID("abc\xf4\x8f\xbf");

  eddy_utf8_t v;
  eddy_utf8_init(&v);
  cr_assert_eq(eddy_utf8_feed(&v, "ab\xf0\x90", 4), EDDY_UTF8_PARTIAL);
  cr_assert_eq(eddy_utf8_finish(&v), EDDY_UTF8_INVALID);
  cr_assert_eq(eddy_utf8_feed(&v, "\x80", 1), EDDY_UTF8_PARTIAL);
  cr_assert_eq(eddy_utf8_feed(&v, "\x80", 1), EDDY_UTF8_OK);
  cr_assert_eq(eddy_utf8_finish(&v), 0);
  cr_assert_eq(eddy_utf8_feed(&v, "", 0), EDDY_UTF8_OK);
}

Test(utf8, invalid_is_sticky) {
  eddy_utf8_t v;
  eddy_utf8_init(&v);
  cr_assert_eq(eddy_utf8_feed(&v, "\xff", 1), EDDY_UTF8_INVALID);
  cr_assert_eq(eddy_utf8_feed(&v, "ok", 2), EDDY_UTF8_INVALID);
  cr_assert_eq(eddy_utf8_finish(&v), EDDY_UTF8_INVALID);
}

/* Random short strings over bytes chosen near every boundary, compared with
 * the reference, whole and split. Bounded and seeded: deterministic. */
Test(utf8, differential_random) {
  static const uint8_t alpha[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f,
                                  0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0,
                                  0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1,
                                  0xf3, 0xf4, 0xf5, 0xff};
  uint32_t seed = 12345;
  uint8_t s[16];
  for (int iter = 0; iter < 40000; iter++) {
    seed = seed * 1103515245u + 12345u;
    size_t n = (seed >> 16) % 13;
    for (size_t i = 0; i < n; i++) {
      seed = seed * 1103515245u + 12345u;
      s[i] = alpha[(seed >> 16) % sizeof alpha];
    }
    int want = ref_valid(s, n) ? 0 : EDDY_UTF8_INVALID;
    cr_assert_eq(eddy_utf8_valid(s, n), want, "iter %d", iter);
    size_t a = n ? (seed >> 8) % (n + 1) : 0;
    cr_assert_eq(feed3(s, n, a, a), want);
    cr_assert_eq(feed3(s, n, n / 3, a > n / 3 ? a : n / 3), want);
  }
}
