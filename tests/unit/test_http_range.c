/* test_http_range.c — the pure helpers of static file serving: Range
 * headers, entity tags, HTTP dates and MIME types. */
#include "support.h"

#include <eddy/http_static.h>
#include <stdlib.h>
#include <string.h>

/* Parses from an exact-size heap copy, so ASan catches any read past the
 * end (the value is not NUL-terminated there). */
static eddy_range_result_t parse(const char *v, uint64_t size, uint64_t *a,
                                 uint64_t *b) {
  size_t n = strlen(v);
  char *copy = malloc(n ? n : 1);
  cr_assert(copy != NULL);
  memcpy(copy, v, n);
  *a = *b = 12345;
  eddy_range_result_t rc = eddy_http_range_parse(copy, n, size, a, b);
  free(copy);
  return rc;
}

static void single(const char *v, uint64_t size, uint64_t ea, uint64_t eb) {
  uint64_t a, b;
  cr_assert_eq(parse(v, size, &a, &b), EDDY_RANGE_SINGLE, "%s", v);
  cr_assert_eq(a, ea, "%s: first %llu", v, (unsigned long long)a);
  cr_assert_eq(b, eb, "%s: last %llu", v, (unsigned long long)b);
}

static void outcome(const char *v, uint64_t size, eddy_range_result_t want) {
  uint64_t a, b;
  cr_assert_eq(parse(v, size, &a, &b), want, "%s against %llu", v,
               (unsigned long long)size);
}

Test(http_range, single_forms) {
  single("bytes=0-499", 10000, 0, 499);
  single("bytes=500-999", 10000, 500, 999);
  single("bytes=9500-", 10000, 9500, 9999);
  single("bytes=-500", 10000, 9500, 9999);
  single("bytes=0-0", 1, 0, 0);
  single("bytes=-1", 1, 0, 0);
  /* last-pos past the end is clamped; a suffix longer than the file is the
   * whole file */
  single("bytes=5-100", 10, 5, 9);
  single("bytes=-100", 10, 0, 9);
  /* unit case-insensitive, whitespace around the spec and empty list
   * elements allowed */
  single("BYTES=1-2", 10, 1, 2);
  single("Bytes= 1-2 ", 10, 1, 2);
  single("bytes=,1-2,", 10, 1, 2);
  single("bytes=\t3-\t", 10, 3, 9);
}

Test(http_range, unsatisfiable) {
  outcome("bytes=10-", 10, EDDY_RANGE_UNSATISFIABLE);
  outcome("bytes=10-20", 10, EDDY_RANGE_UNSATISFIABLE);
  outcome("bytes=-0", 10, EDDY_RANGE_UNSATISFIABLE);
  outcome("bytes=10-20, 30-40", 10, EDDY_RANGE_UNSATISFIABLE);
  outcome("bytes=99999999999999999999999-", 10, EDDY_RANGE_UNSATISFIABLE);
}

Test(http_range, ignored) {
  /* other units, syntax errors, an inverted range: the whole file */
  outcome("items=0-5", 10, EDDY_RANGE_IGNORE);
  outcome("bytes", 10, EDDY_RANGE_IGNORE);
  outcome("bytes=", 10, EDDY_RANGE_IGNORE);
  outcome("bytes= , ", 10, EDDY_RANGE_IGNORE);
  outcome("bytes=5-1", 10, EDDY_RANGE_IGNORE);
  outcome("bytes=a-b", 10, EDDY_RANGE_IGNORE);
  outcome("bytes=1-2x", 10, EDDY_RANGE_IGNORE);
  outcome("bytes=1", 10, EDDY_RANGE_IGNORE);
  outcome("bytes=-", 10, EDDY_RANGE_IGNORE);
  outcome("bytes=--1", 10, EDDY_RANGE_IGNORE);
  outcome("bytes=+1-2", 10, EDDY_RANGE_IGNORE);
  outcome("bytes =1-2", 10, EDDY_RANGE_IGNORE);
  outcome("bytes=1-2;x", 10, EDDY_RANGE_IGNORE);
  outcome("bytes=0-1 2-3", 10, EDDY_RANGE_IGNORE);
  /* several satisfiable ranges: answered with 200 (documented) */
  outcome("bytes=0-1,3-4", 10, EDDY_RANGE_IGNORE);
  outcome("bytes=0-1,50-60", 10, EDDY_RANGE_IGNORE);
  /* a zero-length file is sent whole */
  outcome("bytes=0-", 0, EDDY_RANGE_IGNORE);
  outcome("bytes=-5", 0, EDDY_RANGE_IGNORE);
}

Test(http_range, saturation_and_limits) {
  /* 2^64 and beyond saturate instead of wrapping to small numbers */
  single("bytes=0-18446744073709551616", 10, 0, 9);
  single("bytes=-18446744073709551616", 10, 0, 9);
  single("bytes=18446744073709551614-", UINT64_MAX, UINT64_MAX - 1,
         UINT64_MAX - 1);
  /* 100 ranges are read; the 101st makes the header garbage */
  char buf[2048] = "bytes=";
  for (int i = 0; i < 100; i++)
    strcat(buf, "20-30,");
  outcome(buf, 10, EDDY_RANGE_UNSATISFIABLE);
  strcat(buf, "20-30");
  outcome(buf, 10, EDDY_RANGE_IGNORE);
}

/* Every prefix of every case, from an exact-size copy: never a crash, never
 * a range outside the file. */
Test(http_range, every_prefix) {
  static const char *const cases[] = {"bytes=0-499",
                                      "bytes=-500",
                                      "bytes=9500-",
                                      "bytes=1-2, 4-5",
                                      "bytes=99999999999999999999-1",
                                      "BYTES=\t7-8\t,"};
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    size_t n = strlen(cases[k]);
    for (size_t cut = 0; cut <= n; cut++) {
      char *copy = malloc(cut ? cut : 1);
      memcpy(copy, cases[k], cut);
      for (uint64_t size = 0; size < 12; size++) {
        uint64_t a = 0, b = 0;
        if (eddy_http_range_parse(copy, cut, size, &a, &b) == EDDY_RANGE_SINGLE)
          cr_assert(a <= b && b < size, "%.*s", (int)cut, cases[k]);
      }
      free(copy);
    }
  }
  uint64_t a, b;
  cr_assert_eq(eddy_http_range_parse(NULL, 0, 10, &a, &b), EDDY_RANGE_IGNORE);
}

/* ---- Entity tags --------------------------------------------------------- */

Test(http_etag, format) {
  char buf[EDDY_HTTP_ETAG_MAX];
  size_t n = eddy_http_etag(buf, sizeof(buf), 0x1f, 1000, 1700000000, 5);
  cr_assert_str_eq(buf, "\"1f-3e8-6553f100.5\"");
  cr_assert_eq(n, strlen(buf));
  /* the largest values still fit */
  n = eddy_http_etag(buf, sizeof(buf), UINT64_MAX, UINT64_MAX, INT64_MAX,
                     UINT32_MAX);
  cr_assert(n > 0 && n < sizeof(buf));
  /* any field changing changes the tag */
  char other[EDDY_HTTP_ETAG_MAX];
  eddy_http_etag(buf, sizeof(buf), 1, 2, 3, 4);
  eddy_http_etag(other, sizeof(other), 1, 2, 3, 5);
  cr_assert_str_neq(buf, other);
  eddy_http_etag(other, sizeof(other), 2, 2, 3, 4);
  cr_assert_str_neq(buf, other);
  cr_assert_eq(eddy_http_etag(buf, EDDY_HTTP_ETAG_MAX - 1, 1, 2, 3, 4), 0);
}

static int match(const char *list, const char *tag, int strong) {
  size_t n = strlen(list);
  char *copy = malloc(n ? n : 1);
  memcpy(copy, list, n);
  int m = eddy_http_etag_match(copy, n, tag, strong);
  free(copy);
  return m;
}

Test(http_etag, comparison) {
  const char *t = "\"abc\"";
  cr_assert(match("\"abc\"", t, 1));
  cr_assert(match("\"abc\"", t, 0));
  cr_assert(match("\"x\", \"abc\"", t, 1));
  cr_assert(match("\"x\",\"abc\" ,\"y\"", t, 1));
  cr_assert(match("*", t, 1));
  cr_assert(match(" * ", t, 0));
  /* weak tags match only weakly */
  cr_assert(match("W/\"abc\"", t, 0));
  cr_assert_not(match("W/\"abc\"", t, 1));
  cr_assert(match("\"abc\"", "W/\"abc\"", 0));
  cr_assert_not(match("\"abc\"", "W/\"abc\"", 1));
  /* no match, or malformed: nothing matches */
  cr_assert_not(match("\"abd\"", t, 0));
  cr_assert_not(match("\"ab\"", t, 0));
  cr_assert_not(match("abc", t, 0));
  cr_assert_not(match("\"abc", t, 0));
  cr_assert_not(match("\"abc\" junk", t, 0));
  cr_assert_not(match("\"abc\" \"abc\"", t, 0));
  cr_assert_not(match("*, \"abc\"", t, 0));
  cr_assert_not(match("", t, 0));
  cr_assert_not(match(",", t, 0));
  cr_assert_not(match("w/\"abc\"", t, 0));
  cr_assert_not(eddy_http_etag_match(NULL, 0, t, 0));
}

Test(http_etag, every_prefix) {
  const char *list = "W/\"a\", \"abc\" , *";
  size_t n = strlen(list);
  for (size_t cut = 0; cut <= n; cut++) {
    char *copy = malloc(cut ? cut : 1);
    memcpy(copy, list, cut);
    int m = eddy_http_etag_match(copy, cut, "\"abc\"", 0);
    /* exactly the prefixes that end right after the second tag (with or
     * without the spaces and comma that follow) match */
    cr_assert_eq(m, cut >= 12 && cut <= 15, "cut %zu", cut);
    free(copy);
  }
}

/* ---- HTTP dates ---------------------------------------------------------- */

static int64_t date(const char *s) {
  size_t n = strlen(s);
  char *copy = malloc(n ? n : 1);
  memcpy(copy, s, n);
  int64_t t = -1;
  int rc = eddy_http_date_parse(copy, n, &t);
  free(copy);
  return rc == 0 ? t : INT64_MIN;
}

Test(http_date, three_forms) {
  /* RFC 9110's example instant in its three forms */
  cr_assert_eq(date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  cr_assert_eq(date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  cr_assert_eq(date("Sun Nov  6 08:49:37 1994"), 784111777);
  cr_assert_eq(date("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  cr_assert_eq(date("Tue, 29 Feb 2000 12:00:00 GMT"), 951825600);
  cr_assert_eq(date("Thu Feb 29 12:00:00 2024"), 1709208000);
  cr_assert_eq(date("Wednesday, 01-Jan-30 00:00:00 GMT"), 1893456000);
  cr_assert_eq(date("Fri, 31 Dec 9999 23:59:59 GMT"), 253402300799LL);
}

Test(http_date, rejects) {
  static const char *const bad[] = {
      "",
      "Sun, 06 Nov 1994 08:49:37",
      "Sun, 06 Nov 1994 08:49:37 UTC",
      "Sun, 6 Nov 1994 08:49:37 GMT",
      "Sun, 06 nov 1994 08:49:37 GMT",
      "Sun,  06 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 08:49:37 GMT ",
      "Sun, 06 Nov 94 08:49:37 GMT",
      "Sun, 31 Nov 1994 08:49:37 GMT",
      "Sun, 29 Feb 1900 08:49:37 GMT",
      "Sun, 06 Nov 1994 24:00:00 GMT",
      "Sun, 06 Nov 1994 08:60:00 GMT",
      "Sun, 00 Nov 1994 08:49:37 GMT",
      "Sunday, 06-Nov-1994 08:49:37 GMT",
      "Sun Nov 6 08:49:37 1994",
      "Sun Nov  6 08:49:37 94",
      "Xyz, 06 Nov 1994 08:49:37 GMT",
      "1994-11-06T08:49:37Z",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    cr_assert_eq(date(bad[i]), INT64_MIN, "%s", bad[i]);
  int64_t t;
  cr_assert_eq(eddy_http_date_parse(NULL, 0, &t), EDDY_EPARSE);
}

/* Dates written by eddy_http_date_format (the server's) parse back. */
Test(http_date, format_round_trip) {
  char buf[EDDY_HTTP_DATE_SIZE];
  for (int64_t t = -86400LL * 800; t < 86400LL * 20000; t += 86400 + 3607) {
    cr_assert_eq(eddy_http_date_format(t, buf, sizeof(buf)), 29);
    cr_assert_eq(date(buf), t, "%s", buf);
  }
  cr_assert_eq(eddy_http_date_format(253402300799LL, buf, sizeof(buf)), 29);
  cr_assert_eq(date(buf), 253402300799LL);
  cr_assert_eq(eddy_http_date_format(-62167219200LL, buf, sizeof(buf)), 29);
  cr_assert_eq(date(buf), -62167219200LL);
}

/* ---- MIME types ---------------------------------------------------------- */

Test(http_mime, table) {
  static const char *const cases[][2] = {
      {"index.html", "text/html; charset=utf-8"},
      {"A.HTM", "text/html; charset=utf-8"},
      {"style.css", "text/css; charset=utf-8"},
      {"app.js", "text/javascript; charset=utf-8"},
      {"mod.mjs", "text/javascript; charset=utf-8"},
      {"data.json", "application/json; charset=utf-8"},
      {"notes.txt", "text/plain; charset=utf-8"},
      {"logo.svg", "image/svg+xml; charset=utf-8"},
      {"p.png", "image/png"},
      {"p.JPG", "image/jpeg"},
      {"p.jpeg", "image/jpeg"},
      {"p.gif", "image/gif"},
      {"p.webp", "image/webp"},
      {"p.avif", "image/avif"},
      {"favicon.ico", "image/vnd.microsoft.icon"},
      {"f.woff2", "font/woff2"},
      {"f.woff", "font/woff"},
      {"f.ttf", "font/ttf"},
      {"m.wasm", "application/wasm"},
      {"d.pdf", "application/pdf"},
      {"v.mp4", "video/mp4"},
      {"v.webm", "video/webm"},
      {"a.mp3", "audio/mpeg"},
      {"a.zip", "application/zip"},
      {"a.tar.gz", "application/gzip"},
      {"x.7z", "application/x-7z-compressed"},
      {"x.zst", "application/zstd"},
      {"site.webmanifest", "application/manifest+json; charset=utf-8"},
      {"feed.xml", "application/xml; charset=utf-8"},
      {"dir/sub/page.html", "text/html; charset=utf-8"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    cr_assert_str_eq(eddy_mime_type(cases[i][0]), cases[i][1], "%s",
                     cases[i][0]);
}

Test(http_mime, unknown) {
  static const char *const names[] = {
      "README",   ".bashrc",
      "file.",    "file.unknownext",
      "a.html/b", "x.abcdefghijklmnopqrstuvwxyz",
      "",         "dir.d/",
      "a.h tml"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    cr_assert_str_eq(eddy_mime_type(names[i]), "application/octet-stream", "%s",
                     names[i]);
  cr_assert_str_eq(eddy_mime_type(NULL), "application/octet-stream");
}

/* Every extension of the table is found (the lookup is a binary search: an
 * entry out of order would be lost). The table is read from the source. */
Test(http_mime, every_table_entry) {
  FILE *f = fopen(EDDY_TEST_SRCDIR "/../../src/http/mime.c", "r");
  cr_assert_not_null(f);
  char line[512];
  int n = 0;
  while (fgets(line, sizeof(line), f) != NULL) {
    char ext[32];
    if (sscanf(line, " {\"%31[a-z0-9]\",", ext) != 1)
      continue;
    char name[64];
    snprintf(name, sizeof(name), "file.%s", ext);
    const char *type = eddy_mime_type(name);
    if (strcmp(ext, "bin") != 0)
      cr_assert_str_neq(type, "application/octet-stream", "%s", ext);
    /* and case does not matter */
    for (char *p = name; *p; p++)
      if (*p >= 'a' && *p <= 'z')
        *p = (char)(*p - 'a' + 'A');
    cr_assert_eq(eddy_mime_type(name), type, "%s", name);
    n++;
  }
  fclose(f);
  cr_assert_gt(n, 60);
}
