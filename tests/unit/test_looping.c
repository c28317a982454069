/* Looping calls: aligned to their start, missed runs skipped not bunched. */
#include "support.h"

static uint64_t times[32];
static uint64_t counts[32];
static int runs;

static void tick(eddy_looping_t *lc, uint64_t intervals) {
  times[runs] = eddy_reactor_now(lc->timer.reactor);
  counts[runs] = intervals;
  runs++;
  if (lc->data != NULL && runs == *(int *)lc->data)
    eddy_looping_stop(lc);
}

static void reset(void) {
  runs = 0;
}
TestSuite(looping, .init = reset);

Test(looping, runs_every_interval_from_start) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_reactor_advance(r, 3);
  eddy_looping_t lc;
  eddy_looping_init(r, &lc, tick);
  cr_assert_eq(eddy_looping_start(&lc, 10, 0), 0);
  cr_assert(eddy_looping_running(&lc));
  for (int i = 0; i < 5; i++)
    eddy_reactor_advance(r, 10);
  cr_assert_eq(runs, 5);
  for (int i = 0; i < 5; i++) {
    cr_assert_eq(times[i], 3 + 10 * (uint64_t)(i + 1));
    cr_assert_eq(counts[i], 1);
  }
  eddy_looping_stop(&lc);
  cr_assert_not(eddy_looping_running(&lc));
  test_close_reactor(r);
}

Test(looping, now_runs_at_once_then_on_schedule) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_looping_t lc;
  eddy_looping_init(r, &lc, tick);
  eddy_looping_start(&lc, 10, 1);
  cr_assert_eq(runs, 0, "ran inside start");
  eddy_reactor_advance(r, 0);
  cr_assert_eq(runs, 1);
  cr_assert_eq(times[0], 0);
  eddy_reactor_advance(r, 10);
  cr_assert_eq(runs, 2);
  cr_assert_eq(times[1], 10);
  eddy_looping_stop(&lc);
  test_close_reactor(r);
}

Test(looping, missed_runs_are_skipped_and_counted) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_looping_t lc;
  eddy_looping_init(r, &lc, tick);
  eddy_looping_start(&lc, 10, 0);
  eddy_reactor_advance(r, 10); /* run 1 at 10 */
  /* A busy loop: time jumps 35 ms with nothing run in between. Simulate by
   * stopping the timer from firing: advance fires at each deadline, so
   * instead move the clock with the timer disarmed, then re-arm it. */
  eddy_timer_stop(&lc.timer);
  eddy_reactor_advance(r, 35); /* now 45: runs at 20, 30, 40 missed */
  eddy_timer_start(&lc.timer, 0, lc.timer.cb);
  eddy_reactor_advance(r, 0);
  cr_assert_eq(runs, 2);
  cr_assert_eq(times[1], 45);
  cr_assert_eq(counts[1], 3, "intervals since last run: %llu",
               (unsigned long long)counts[1]);
  eddy_reactor_advance(r, 5); /* next run stays aligned: 50, not 55 */
  cr_assert_eq(runs, 3);
  cr_assert_eq(times[2], 50);
  cr_assert_eq(counts[2], 1);
  eddy_looping_stop(&lc);
  test_close_reactor(r);
}

Test(looping, callback_may_stop_it) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_looping_t lc;
  int stop_after = 3;
  eddy_looping_init(r, &lc, tick);
  lc.data = &stop_after;
  eddy_looping_start(&lc, 7, 0);
  eddy_reactor_advance(r, 100);
  cr_assert_eq(runs, 3);
  cr_assert_not(eddy_looping_running(&lc));
  test_close_reactor(r);
}

Test(looping, zero_interval_is_refused) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_looping_t lc;
  eddy_looping_init(r, &lc, tick);
  cr_assert_eq(eddy_looping_start(&lc, 0, 0), UV_EINVAL);
  test_close_reactor(r);
}

Test(looping, real_clock_runs) {
  eddy_reactor_t *r = test_reactor(0);
  eddy_looping_t lc;
  int stop_after = 3;
  eddy_looping_init(r, &lc, tick);
  lc.data = &stop_after;
  eddy_looping_start(&lc, 5, 1);
  eddy_reactor_run(r);
  cr_assert_eq(runs, 3);
  cr_assert(times[2] - times[0] >= 9, "aligned runs 5 ms apart");
  test_close_reactor(r);
}

/* ---- Regressions and edge cases ----------------------------------------- */

Test(looping, a_run_half_the_clock_away_just_waits) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_reactor_advance(r, 5);
  eddy_looping_t lc;
  eddy_looping_init(r, &lc, tick);
  cr_assert_eq(eddy_looping_start(&lc, UINT64_MAX / 2, 1), 0);
  eddy_reactor_advance(r, 0);
  cr_assert_eq(runs, 1);
  /* Run 1 is due at 5 + UINT64_MAX / 2. */
  eddy_reactor_advance(r, 1000);
  cr_assert_eq(runs, 1, "fired %d times", runs);
  cr_assert(eddy_timer_active(&lc.timer));
  eddy_looping_stop(&lc);
  test_close_reactor(r);
}

Test(looping, interval_of_the_end_of_time_never_wraps) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_reactor_advance(r, 3);
  eddy_looping_t lc;
  eddy_looping_init(r, &lc, tick);
  cr_assert_eq(eddy_looping_start(&lc, UINT64_MAX, 1), 0);
  eddy_reactor_advance(r, 0);
  /* Run 1 would be due at 3 + UINT64_MAX: it saturates. Before the fix the
   * deadline wrapped into the past and the call fired on every advance. */
  eddy_reactor_advance(r, 1u << 30);
  cr_assert_eq(runs, 1);
  eddy_looping_stop(&lc);
  test_close_reactor(r);
}

static void restart_from_cb(eddy_looping_t *lc, uint64_t intervals) {
  tick(lc, intervals);
  if (runs == 2)
    eddy_looping_start(lc, 100, 0); /* a new schedule from now */
}

Test(looping, callback_may_restart_it_with_a_new_schedule) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_looping_t lc;
  eddy_looping_init(r, &lc, restart_from_cb);
  eddy_looping_start(&lc, 10, 0);
  eddy_reactor_advance(r, 250);
  /* 10, 20, then every 100 from 20: 120, 220. */
  cr_assert_eq(runs, 4);
  cr_assert_eq(times[2], 120);
  cr_assert_eq(times[3], 220);
  cr_assert(eddy_looping_running(&lc));
  eddy_looping_stop(&lc);
  test_close_reactor(r);
}

Test(looping, stop_then_start_realigns_to_the_new_start) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_looping_t lc;
  eddy_looping_init(r, &lc, tick);
  eddy_looping_start(&lc, 10, 0);
  eddy_reactor_advance(r, 15);
  eddy_looping_stop(&lc);
  eddy_looping_stop(&lc);     /* harmless twice */
  eddy_reactor_advance(r, 2); /* now 17 */
  cr_assert_eq(eddy_looping_start(&lc, 10, 0), 0);
  eddy_reactor_advance(r, 20);
  cr_assert_eq(runs, 3);
  cr_assert_eq(times[0], 10);
  cr_assert_eq(times[1], 27);
  cr_assert_eq(times[2], 37);
  eddy_looping_stop(&lc);
  test_close_reactor(r);
}

Test(looping, without_a_callback_it_is_refused) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_looping_t lc;
  eddy_looping_init(r, &lc, NULL);
  cr_assert_eq(eddy_looping_start(&lc, 10, 0), UV_EINVAL);
  cr_assert_not(eddy_looping_running(&lc));
  test_close_reactor(r);
}

Test(looping, a_late_first_run_counts_one_interval_and_stays_aligned) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_looping_t lc;
  eddy_looping_init(r, &lc, tick);
  eddy_looping_start(&lc, 10, 1);
  /* The run "at once" happens late, at 25 (a busy loop, simulated). */
  eddy_timer_stop(&lc.timer);
  eddy_reactor_advance(r, 25);
  eddy_timer_start(&lc.timer, 0, lc.timer.cb);
  eddy_reactor_advance(r, 0);
  cr_assert_eq(runs, 1);
  cr_assert_eq(counts[0], 1);
  eddy_reactor_advance(r, 5); /* next on the grid: 30 */
  cr_assert_eq(runs, 2);
  cr_assert_eq(times[1], 30);
  cr_assert_eq(counts[1], 1);
  eddy_looping_stop(&lc);
  test_close_reactor(r);
}

static void stop_in_first_tick(eddy_looping_t *lc, uint64_t intervals) {
  tick(lc, intervals);
  eddy_looping_stop(lc);
}

Test(looping, now_from_inside_a_real_timer_runs_on_a_later_iteration) {
  eddy_reactor_t *r = test_reactor(0);
  eddy_looping_t lc;
  eddy_looping_init(r, &lc, stop_in_first_tick);
  eddy_looping_start(&lc, 1000, 1);
  eddy_reactor_run(r);
  cr_assert_eq(runs, 1);
  cr_assert_not(eddy_looping_running(&lc));
  test_close_reactor(r);
}
