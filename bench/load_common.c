/* Support code shared by the load generators: see load_common.h. */
#include "load_common.h"

#include <errno.h>
#include <math.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define SUB 64
#define MAX_EXP 40
#define NBUCKETS (SUB + (MAX_EXP - 6) * SUB)

static uint64_t hist[NBUCKETS];
static uint64_t hist_n, hist_max;

static unsigned bucket_of(uint64_t v) {
  if (v < SUB)
    return (unsigned)v;
  unsigned e = 63u - (unsigned)__builtin_clzll(v);
  if (e >= MAX_EXP)
    return NBUCKETS - 1;
  return SUB + (e - 6) * SUB + (unsigned)((v >> (e - 6)) - SUB);
}

static uint64_t bucket_value(unsigned i) {
  if (i < SUB)
    return i;
  unsigned e = (i - SUB) / SUB + 6;
  uint64_t m = (i - SUB) % SUB + SUB;
  return (m << (e - 6)) + ((1ull << (e - 6)) >> 1); /* the bucket's middle */
}

void load_hist_add(uint64_t ns) {
  hist[bucket_of(ns)]++;
  hist_n++;
  if (ns > hist_max)
    hist_max = ns;
}

uint64_t load_hist_count(void) {
  return hist_n;
}

double load_hist_pct_us(double p) {
  if (hist_n == 0)
    return 0;
  uint64_t want = (uint64_t)ceil(p * (double)hist_n);
  if (want == 0)
    want = 1;
  uint64_t seen = 0;
  for (unsigned i = 0; i < NBUCKETS; i++) {
    seen += hist[i];
    if (seen >= want)
      return (double)bucket_value(i) / 1000.0;
  }
  return (double)hist_max / 1000.0;
}

double load_hist_max_us(void) {
  return (double)hist_max / 1000.0;
}

double load_cpu_secs(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

void load_close_all(uv_loop_t *loop) {
  uv_walk(loop, close_walk, NULL);
}

int load_pacer_open(uv_loop_t *loop, uv_poll_t *poll, uv_poll_cb cb) {
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0)
    return -1;
  int rc = uv_poll_init(loop, poll, fd);
  if (rc == 0) {
    rc = uv_poll_start(poll, UV_READABLE, cb);
    if (rc != 0)
      uv_close((uv_handle_t *)poll, NULL);
  }
  if (rc != 0) {
    close(fd);
    errno = -rc;
    return -1;
  }
  return fd;
}

void load_pacer_arm(int fd, uint64_t at_ns) {
  struct itimerspec its = {0};
  its.it_value.tv_sec = (time_t)(at_ns / 1000000000u);
  its.it_value.tv_nsec = (long)(at_ns % 1000000000u);
  /* uv_hrtime reads CLOCK_MONOTONIC, the clock of this timerfd */
  timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
}

int load_pacer_ack(int fd) {
  uint64_t ticks;
  if (read(fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
    return -1;
  return 0;
}

int load_common_opts_ok(int port, unsigned conns, unsigned max_conns,
                        double duration, double warmup, double rate) {
  return port > 0 && port <= 65535 && conns > 0 && conns <= max_conns &&
         duration > 0 && duration <= 3600 && warmup >= 0 && warmup <= 3600 &&
         rate >= 0 && rate <= 1e7;
}
