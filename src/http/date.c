/* date.c — the Date header (IMF-fixdate, RFC 9110 5.6.7), cached per second.
 *
 * Formatting a date costs far more than a request's other headers, and its
 * value changes once a second: each server keeps the line and rebuilds it
 * only when the reactor's clock passes the next second boundary. The wall
 * clock is read only then. With a fake clock the date is the wall time at
 * the first use plus the fake time, so tests control it. */
#include <string.h>
#include <time.h>

#include "server_internal.h"

static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void two(char *p, int v) {
  p[0] = (char)('0' + v / 10 % 10);
  p[1] = (char)('0' + v % 10);
}

int eddy_http_date_format(int64_t t, char *buf, size_t size) {
  if (buf == NULL || size < EDDY_HTTP_DATE_SIZE)
    return UV_EINVAL;
  /* Years 0000-9999 only: the format has four digits. */
  if (t < -62167219200LL || t > 253402300799LL)
    return UV_EINVAL;
  time_t tt = (time_t)t;
  struct tm tm;
  if (gmtime_r(&tt, &tm) == NULL)
    return UV_EINVAL;
  char *p = buf;
  memcpy(p, days[tm.tm_wday], 3);
  p[3] = ',';
  p[4] = ' ';
  two(p + 5, tm.tm_mday);
  p[7] = ' ';
  memcpy(p + 8, months[tm.tm_mon], 3);
  p[11] = ' ';
  int year = tm.tm_year + 1900;
  two(p + 12, year / 100);
  two(p + 14, year % 100);
  p[16] = ' ';
  two(p + 17, tm.tm_hour);
  p[19] = ':';
  two(p + 20, tm.tm_min);
  p[22] = ':';
  two(p + 23, tm.tm_sec);
  memcpy(p + 25, " GMT", 5); /* with the NUL */
  return EDDY__HTTP_DATE_LEN;
}

const char *eddy__http_date_line(eddy__http_date_t *d, eddy_reactor_t *r) {
  uint64_t now = eddy_reactor_now(r);
  if (d->valid_until != 0 && now < d->valid_until)
    return d->line;
  int64_t secs;
  uint64_t left_ms;
  if (eddy_reactor_is_fake(r)) {
    if (d->fake_base == 0)
      d->fake_base = (int64_t)time(NULL);
    secs = d->fake_base + (int64_t)(now / 1000);
    left_ms = 1000 - now % 1000;
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    secs = (int64_t)ts.tv_sec;
    left_ms = 1000 - (uint64_t)ts.tv_nsec / 1000000u;
  }
  memcpy(d->line, "Date: ", 6);
  eddy_http_date_format(secs, d->line + 6, sizeof(d->line) - 6);
  memcpy(d->line + 6 + EDDY__HTTP_DATE_LEN, "\r\n", 3);
  d->valid_until = now + (left_ms == 0 ? 1 : left_ms);
  return d->line;
}
