/* range.c — the pure parts of static file serving: the Range header (RFC
 * 9110 section 14), entity tags and their comparison (section 8.8.3), and
 * parsing HTTP dates (section 5.6.7). No I/O, no allocation. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "eddy/error.h"
#include "eddy/http_static.h"

/* More ranges than this in one header is not a browser or a download
 * manager; it is treated as garbage and ignored. */
#define MAX_RANGES 100

static int is_ows(char c) {
  return c == ' ' || c == '\t';
}
static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

static char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Reads 1*DIGIT at *i, saturating at UINT64_MAX. 0 when there is none. */
static int read_pos(const char *s, size_t len, size_t *i, uint64_t *out) {
  size_t j = *i;
  uint64_t v = 0;
  while (j < len && is_digit(s[j])) {
    unsigned d = (unsigned)(s[j] - '0');
    v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    j++;
  }
  if (j == *i)
    return 0;
  *i = j;
  *out = v;
  return 1;
}

eddy_range_result_t eddy_http_range_parse(const char *value, size_t len,
                                          uint64_t size, uint64_t *first,
                                          uint64_t *last) {
  static const char unit[] = "bytes=";
  const size_t ulen = sizeof(unit) - 1;
  if (value == NULL || len < ulen)
    return EDDY_RANGE_IGNORE;
  for (size_t k = 0; k < ulen; k++)
    if (lower(value[k]) != unit[k])
      return EDDY_RANGE_IGNORE;

  size_t i = ulen;
  int specs = 0, satisfiable = 0;
  uint64_t a = 0, b = 0;
  /* range-set = 1#range-spec: empty list elements (",,") are allowed by
   * the list rule, but at least one spec is needed. */
  for (;;) {
    while (i < len && (is_ows(value[i]) || value[i] == ','))
      i++;
    if (i == len)
      break;
    if (++specs > MAX_RANGES)
      return EDDY_RANGE_IGNORE;
    uint64_t x, y;
    if (value[i] == '-') {
      /* suffix-range: the last y bytes */
      i++;
      if (!read_pos(value, len, &i, &y))
        return EDDY_RANGE_IGNORE;
      if (y > 0 && size > 0) {
        satisfiable++;
        a = y >= size ? 0 : size - y;
        b = size - 1;
      }
    } else {
      if (!read_pos(value, len, &i, &x) || i == len || value[i] != '-')
        return EDDY_RANGE_IGNORE;
      i++;
      int has_last = read_pos(value, len, &i, &y);
      if (has_last && y < x)
        return EDDY_RANGE_IGNORE; /* invalid: the whole header is ignored */
      if (x < size) {
        satisfiable++;
        a = x;
        b = (!has_last || y >= size) ? size - 1 : y;
      }
    }
    while (i < len && is_ows(value[i]))
      i++;
    if (i < len && value[i] != ',')
      return EDDY_RANGE_IGNORE;
  }
  /* A zero-length file has no byte to point at; it is sent whole (an
   * empty 200) rather than refused. */
  if (specs == 0 || size == 0)
    return EDDY_RANGE_IGNORE;
  if (satisfiable == 0)
    return EDDY_RANGE_UNSATISFIABLE;
  if (specs > 1)
    return EDDY_RANGE_IGNORE; /* several ranges: the whole file, with 200 */
  *first = a;
  *last = b;
  return EDDY_RANGE_SINGLE;
}

/* ---- Entity tags --------------------------------------------------------- */

size_t eddy_http_etag(char *buf, size_t size, uint64_t ino, uint64_t fsize,
                      int64_t mtime_sec, uint32_t mtime_nsec) {
  if (buf == NULL || size < EDDY_HTTP_ETAG_MAX)
    return 0;
  /* Nanoseconds make a rewrite within the same second visible; the inode
   * makes a replacement by rename visible even with equal size and time. */
  int n = snprintf(buf, size, "\"%llx-%llx-%llx.%x\"", (unsigned long long)ino,
                   (unsigned long long)fsize, (unsigned long long)mtime_sec,
                   (unsigned)mtime_nsec);
  return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* etagc = "!" / %x23-7E / obs-text */
static int is_etagc(unsigned char c) {
  return c == 0x21 || (c >= 0x23 && c != 0x7f);
}

int eddy_http_etag_match(const char *list, size_t len, const char *etag,
                         int strong) {
  if (list == NULL || etag == NULL)
    return 0;
  /* Our own tag, split into weakness and opaque part. */
  int our_weak = strncmp(etag, "W/", 2) == 0;
  const char *our = our_weak ? etag + 2 : etag;
  size_t our_len = strlen(our);

  size_t i = 0;
  while (i < len && is_ows(list[i]))
    i++;
  if (i < len && list[i] == '*') {
    i++;
    while (i < len && is_ows(list[i]))
      i++;
    return i == len;
  }
  int matched = 0, seen = 0;
  for (;;) {
    while (i < len && (is_ows(list[i]) || list[i] == ','))
      i++;
    if (i == len)
      break;
    int weak = 0;
    if (len - i >= 2 && list[i] == 'W' && list[i + 1] == '/') {
      weak = 1;
      i += 2;
    }
    if (i == len || list[i] != '"')
      return 0;
    size_t start = i++;
    while (i < len && is_etagc((unsigned char)list[i]))
      i++;
    if (i == len || list[i] != '"')
      return 0;
    i++;
    seen++;
    size_t tlen = i - start;
    if (tlen == our_len && memcmp(list + start, our, tlen) == 0 &&
        (!strong || (!weak && !our_weak)))
      matched = 1;
    while (i < len && is_ows(list[i]))
      i++;
    if (i < len && list[i] != ',')
      return 0;
  }
  return seen > 0 && matched;
}

/* ---- HTTP dates ---------------------------------------------------------- */

/* (Formatting is eddy_http_date_format, eddy/http_server.h.) */
static const char wkdays[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                  "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12);
 * 400-year eras keep the arithmetic exact without a table or timegm(3),
 * which is neither standard nor free of the time zone machinery. */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/* A tiny cursor over the input, so each form reads as its grammar. */
typedef struct {
  const char *s;
  size_t len, i;
} cur_t;

static int lit(cur_t *c, const char *want) {
  size_t n = strlen(want);
  if (c->len - c->i < n || memcmp(c->s + c->i, want, n) != 0)
    return 0;
  c->i += n;
  return 1;
}

/* Exactly n digits. */
static int digits(cur_t *c, int n, int *out) {
  int v = 0, k = 0;
  while (k < n && c->i < c->len && is_digit(c->s[c->i])) {
    v = v * 10 + (c->s[c->i] - '0');
    c->i++;
    k++;
  }
  if (k != n)
    return 0;
  *out = v;
  return 1;
}

static int month(cur_t *c, int *out) {
  if (c->len - c->i < 3)
    return 0;
  for (int k = 0; k < 12; k++)
    if (memcmp(c->s + c->i, months[k], 3) == 0) {
      c->i += 3;
      *out = k + 1;
      return 1;
    }
  return 0;
}

/* day-name: "Mon".."Sun" (short), or "Monday".. (long, RFC 850). */
static int day_name(cur_t *c, int longform) {
  static const char *const names[7] = {"Sunday",    "Monday",   "Tuesday",
                                       "Wednesday", "Thursday", "Friday",
                                       "Saturday"};
  for (int k = 0; k < 7; k++) {
    if (longform ? lit(c, names[k]) : lit(c, wkdays[k]))
      return 1;
  }
  return 0;
}

static int time_of_day(cur_t *c, int *h, int *mi, int *s) {
  return digits(c, 2, h) && lit(c, ":") && digits(c, 2, mi) && lit(c, ":") &&
         digits(c, 2, s);
}

static int finish(int64_t y, int m, int d, int h, int mi, int s, int64_t *out) {
  static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d < 1 || d > mdays[m - 1] || (m == 2 && d == 29 && !leap))
    return EDDY_EPARSE;
  /* 60 is a leap second; it is read as the next second's start. */
  if (h > 23 || mi > 59 || s > 60)
    return EDDY_EPARSE;
  *out = days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + s;
  return 0;
}

int eddy_http_date_parse(const char *str, size_t len, int64_t *out) {
  if (str == NULL || out == NULL)
    return EDDY_EPARSE;
  int d, m, y, h, mi, s;
  /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
  cur_t c = {str, len, 0};
  if (day_name(&c, 0) && lit(&c, ", ") && digits(&c, 2, &d) && lit(&c, " ") &&
      month(&c, &m) && lit(&c, " ") && digits(&c, 4, &y) && lit(&c, " ") &&
      time_of_day(&c, &h, &mi, &s) && lit(&c, " GMT") && c.i == len)
    return finish(y, m, d, h, mi, s, out);
  /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; a two-digit year more than
   * 50 years ahead is in the past century (RFC 9110 section 5.6.7); lacking
   * a clock here, years 70..99 are 19xx and 00..69 are 20xx. */
  c = (cur_t){str, len, 0};
  if (day_name(&c, 1) && lit(&c, ", ") && digits(&c, 2, &d) && lit(&c, "-") &&
      month(&c, &m) && lit(&c, "-") && digits(&c, 2, &y) && lit(&c, " ") &&
      time_of_day(&c, &h, &mi, &s) && lit(&c, " GMT") && c.i == len)
    return finish(y >= 70 ? 1900 + y : 2000 + y, m, d, h, mi, s, out);
  /* asctime: "Sun Nov  6 08:49:37 1994" (a space pads a one-digit day) */
  c = (cur_t){str, len, 0};
  if (day_name(&c, 0) && lit(&c, " ") && month(&c, &m) && lit(&c, " ")) {
    if (c.i < len && c.s[c.i] == ' ') {
      c.i++;
      if (!digits(&c, 1, &d))
        return EDDY_EPARSE;
    } else if (!digits(&c, 2, &d)) {
      return EDDY_EPARSE;
    }
    if (lit(&c, " ") && time_of_day(&c, &h, &mi, &s) && lit(&c, " ") &&
        digits(&c, 4, &y) && c.i == len)
      return finish(y, m, d, h, mi, s, out);
  }
  return EDDY_EPARSE;
}
