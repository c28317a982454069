/* test_backoff.c — the reconnection delay schedule (eddy/reconnect.h). */
#include "support.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>

static const double us[] = {0.0, 0.5, 0.999999};

/* The undamped delay initial * factor^n, saturated at 2^70 (beyond any max
 * used here), by repeated multiplication: independent of the pow() used by
 * the code under test. */
static double base_delay(const eddy_backoff_t *b, unsigned n) {
  double d = (double)b->initial_ms;
  for (unsigned i = 0; i < n && d < 0x1p70; i++)
    d *= b->factor;
  return d;
}

/* Every property the header promises, for one configuration. */
static void check_config(const eddy_backoff_t *b) {
  for (size_t k = 0; k < sizeof(us) / sizeof(us[0]); k++) {
    double u = us[k];
    uint64_t prev = 0;
    for (unsigned n = 0; n <= 200; n++) {
      uint64_t d = eddy_backoff_delay(b, n, u);
      cr_assert_leq(d, b->max_ms, "n=%u u=%g: %llu > max %llu", n, u,
                    (unsigned long long)d, (unsigned long long)b->max_ms);
      /* The jittered value, clamped: one ms of slack below for the rounding
       * down, a hair above for pow() versus repeated multiplication. */
      double mult = 1.0 + b->jitter * (2.0 * u - 1.0);
      double want = base_delay(b, n) * mult;
      double lo = fmin(want, (double)b->max_ms) - 1.0;
      double hi = fmin(want * (1.0 + 1e-12), (double)b->max_ms);
      cr_assert(d >= lo && (double)d <= hi, "n=%u u=%g: got %llu want %.3f", n,
                u, (unsigned long long)d, want);
      /* Same u: never shorter than the delay before. */
      cr_assert_geq(d, prev, "n=%u u=%g: %llu < previous %llu", n, u,
                    (unsigned long long)d, (unsigned long long)prev);
      prev = d;
    }
  }
}

Test(backoff, defaults) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_backoff_t b;
  eddy_backoff_init(&b);
  cr_assert_eq(b.initial_ms, 1000);
  cr_assert_eq(b.max_ms, 60000);
  cr_assert_float_eq(b.factor, 2.0, 1e-12);
  cr_assert_float_eq(b.jitter, 0.1, 1e-12);
  /* u = 0.5 is the middle of the jitter: exact powers of two. */
  cr_assert_eq(eddy_backoff_delay(&b, 0, 0.5), 1000);
  cr_assert_eq(eddy_backoff_delay(&b, 1, 0.5), 2000);
  cr_assert_eq(eddy_backoff_delay(&b, 5, 0.5), 32000);
  cr_assert_eq(eddy_backoff_delay(&b, 6, 0.5), 60000);
  /* Jitter spreads the first retry around the initial delay. */
  cr_assert_eq(eddy_backoff_delay(&b, 0, 0.0), 900);
  cr_assert_geq(eddy_backoff_delay(&b, 0, 0.999999), 1099);
  cr_assert_leq(eddy_backoff_delay(&b, 0, 0.999999), 1100);
  test_close_reactor(r);
}

Test(backoff, properties_over_configurations) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  const eddy_backoff_t configs[] = {
      {1000, 60000, 2.0, 0.1},   /* defaults */
      {1000, 60000, 2.0, 0.0},   /* no jitter */
      {1000, 60000, 2.0, 1.0},   /* full jitter */
      {250, 30000, 1.0, 0.5},    /* constant delay */
      {5000, 100, 2.0, 0.3},     /* max below initial */
      {1, UINT64_MAX, 2.0, 0.1}, /* max never reached before saturation */
      {7, 1000000, 1.5, 0.2},    /* non-integral growth */
      {0, 1000, 2.0, 0.5},       /* zero initial: always 0 */
  };
  for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++)
    check_config(&configs[i]);
  test_close_reactor(r);
}

static void mark(eddy_timer_t *t) {
  *(int *)t->data += 1;
}

Test(backoff, first_retry_waits_initial) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_backoff_t b = {300, 10000, 3.0, 0.0};
  for (size_t k = 0; k < sizeof(us) / sizeof(us[0]); k++)
    cr_assert_eq(eddy_backoff_delay(&b, 0, us[k]), 300);
  /* The delay drives a timer on the fake clock: due exactly 300 ms later. */
  int fired = 0;
  eddy_timer_t t;
  eddy_timer_init(r, &t);
  t.data = &fired;
  cr_assert_eq(eddy_timer_start(&t, eddy_backoff_delay(&b, 0, 0.5), mark), 0);
  eddy_reactor_advance(r, 299);
  cr_assert_eq(fired, 0);
  eddy_reactor_advance(r, 1);
  cr_assert_eq(fired, 1);
  eddy_timer_stop(&t);
  test_close_reactor(r);
}

Test(backoff, factor_one_is_constant) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_backoff_t b = {1234, 60000, 1.0, 0.0};
  for (unsigned n = 0; n <= 200; n++)
    cr_assert_eq(eddy_backoff_delay(&b, n, 0.7), 1234);
  cr_assert_eq(eddy_backoff_delay(&b, UINT_MAX, 0.7), 1234);
  test_close_reactor(r);
}

Test(backoff, jitter_zero_ignores_u) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_backoff_t b = {100, 1000000, 2.0, 0.0};
  for (unsigned n = 0; n <= 200; n++) {
    uint64_t d = eddy_backoff_delay(&b, n, 0.0);
    cr_assert_eq(eddy_backoff_delay(&b, n, 0.5), d);
    cr_assert_eq(eddy_backoff_delay(&b, n, 0.999999), d);
  }
  test_close_reactor(r);
}

Test(backoff, full_jitter_spans_zero_to_twice) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_backoff_t b = {1000, 60000, 2.0, 1.0};
  cr_assert_eq(eddy_backoff_delay(&b, 0, 0.0), 0);
  cr_assert_eq(eddy_backoff_delay(&b, 0, 0.5), 1000);
  cr_assert_geq(eddy_backoff_delay(&b, 0, 0.999999), 1999);
  /* Even saturated, u = 0 means no wait, and never NaN-derived garbage. */
  cr_assert_eq(eddy_backoff_delay(&b, 200, 0.0), 0);
  cr_assert_eq(eddy_backoff_delay(&b, UINT_MAX, 0.0), 0);
  cr_assert_eq(eddy_backoff_delay(&b, UINT_MAX, 1e-9), 60000);
  test_close_reactor(r);
}

Test(backoff, jitter_applied_before_clamp) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  /* Twisted adds jitter after the maximum; here max is a hard ceiling. */
  eddy_backoff_t b = {1000, 5000, 2.0, 0.5};
  for (unsigned n = 3; n <= 200; n++)
    cr_assert_eq(eddy_backoff_delay(&b, n, 0.999999), 5000);
  /* ... and a clamped delay can still be jittered downwards. */
  cr_assert_eq(eddy_backoff_delay(&b, 2, 0.0), 2000);
  test_close_reactor(r);
}

Test(backoff, max_below_initial) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_backoff_t b = {5000, 100, 2.0, 0.1};
  for (unsigned n = 0; n <= 200; n++)
    for (size_t k = 0; k < sizeof(us) / sizeof(us[0]); k++)
      cr_assert_eq(eddy_backoff_delay(&b, n, us[k]), 100);
  test_close_reactor(r);
}

Test(backoff, huge_attempts_saturate) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_backoff_t b = {1000, 60000, 2.0, 0.1};
  unsigned big[] = {1000, 65536, UINT_MAX / 2, UINT_MAX - 1, UINT_MAX};
  for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++)
    for (size_t k = 0; k < sizeof(us) / sizeof(us[0]); k++)
      cr_assert_eq(eddy_backoff_delay(&b, big[i], us[k]), 60000);
  /* A factor barely above 1 still grows, slowly, and saturates at max. */
  eddy_backoff_t slow = {1000, 60000, 1.0001, 0.0};
  cr_assert_eq(eddy_backoff_delay(&slow, 100, 0.5), 1010);
  cr_assert_eq(eddy_backoff_delay(&slow, UINT_MAX, 0.5), 60000);
  /* The largest max: the result must not wrap past it. */
  eddy_backoff_t wide = {1, UINT64_MAX, 2.0, 0.0};
  cr_assert_eq(eddy_backoff_delay(&wide, 10, 0.5), 1024);
  cr_assert_eq(eddy_backoff_delay(&wide, 200, 0.5), UINT64_MAX);
  cr_assert_eq(eddy_backoff_delay(&wide, UINT_MAX, 0.5), UINT64_MAX);
  test_close_reactor(r);
}

Test(backoff, out_of_range_inputs_are_clamped) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  /* factor < 1 would shrink delays: treated as 1. */
  eddy_backoff_t shrink = {1000, 60000, 0.5, 0.0};
  cr_assert_eq(eddy_backoff_delay(&shrink, 10, 0.5), 1000);
  eddy_backoff_t nan_factor = {1000, 60000, NAN, NAN};
  cr_assert_eq(eddy_backoff_delay(&nan_factor, 10, 0.5), 1000);
  /* jitter above 1 is 1; u outside [0, 1) is pulled inside. */
  eddy_backoff_t wild = {1000, 60000, 2.0, 7.0};
  cr_assert_eq(eddy_backoff_delay(&wild, 0, -3.0), 0);
  cr_assert_eq(eddy_backoff_delay(&wild, 0, NAN), 0);
  cr_assert_leq(eddy_backoff_delay(&wild, 0, 42.0), 2000);
  cr_assert_geq(eddy_backoff_delay(&wild, 0, 42.0), 1999);
  test_close_reactor(r);
}
