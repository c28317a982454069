/* Reactor: soon-calls, timers, delayed calls, the fake clock, clean close. */
#include <string.h>

#include "core/reactor_internal.h"
#include "support.h"

typedef struct {
  int order[64];
  int n;
} trace_t;

static trace_t trace;

static void record(void *arg) {
  if (trace.n < 64)
    trace.order[trace.n++] = (int)(intptr_t)arg;
}

static void init_trace(void) { memset(&trace, 0, sizeof(trace)); }

TestSuite(reactor, .init = init_trace);

Test(reactor, new_and_free_empty) {
  eddy_reactor_t *r = test_reactor(0);
  cr_assert_not_null(eddy_reactor_loop(r));
  cr_assert_eq(eddy_reactor_is_fake(r), 0);
  test_close_reactor(r);
}

Test(reactor, soon_calls_run_in_order_on_a_later_iteration) {
  eddy_reactor_t *r = test_reactor(0);
  for (int i = 1; i <= 5; i++)
    cr_assert_eq(eddy_call_soon(r, record, (void *)(intptr_t)i), 0);
  cr_assert_eq(trace.n, 0, "a soon-call ran inside eddy_call_soon");
  eddy_reactor_run(r);
  cr_assert_eq(trace.n, 5);
  for (int i = 0; i < 5; i++)
    cr_assert_eq(trace.order[i], i + 1);
  test_close_reactor(r);
}

static eddy_reactor_t *chain_r;
static void chain_again(void *arg) {
  int left = (int)(intptr_t)arg;
  record(arg);
  if (left > 1)
    eddy_call_soon(chain_r, chain_again, (void *)(intptr_t)(left - 1));
}

Test(reactor, soon_calls_scheduled_by_soon_calls_wait_an_iteration) {
  eddy_reactor_t *r = chain_r = test_reactor(0);
  eddy_call_soon(r, chain_again, (void *)(intptr_t)3);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(trace.n, 1, "the follow-up call must wait for next iteration");
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(trace.n, 2);
  eddy_reactor_run(r);
  cr_assert_eq(trace.n, 3);
  test_close_reactor(r);
}

static eddy__soon_t node_a, node_b;
static eddy_reactor_t *cancel_r;
static void cancel_b(void *arg) {
  record(arg);
  eddy__reactor_soon_cancel(cancel_r, &node_b);
}

Test(reactor, intrusive_soon_cancel_from_same_batch) {
  eddy_reactor_t *r = cancel_r = test_reactor(0);
  memset(&node_a, 0, sizeof(node_a));
  memset(&node_b, 0, sizeof(node_b));
  eddy__reactor_soon(r, &node_a, cancel_b, (void *)(intptr_t)1);
  eddy__reactor_soon(r, &node_b, record, (void *)(intptr_t)2);
  eddy__reactor_soon(r, &node_b, record, (void *)(intptr_t)3); /* no-op */
  eddy_reactor_run(r);
  cr_assert_eq(trace.n, 1, "a cancelled soon-call ran");
  cr_assert_eq(trace.order[0], 1);
  test_close_reactor(r);
}

static void timer_record(eddy_timer_t *t) { record(t->data); }

Test(reactor, fake_clock_fires_timers_in_deadline_then_start_order) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  cr_assert(eddy_reactor_is_fake(r));
  eddy_timer_t t[4];
  uint64_t delays[4] = {30, 10, 30, 20};
  for (int i = 0; i < 4; i++) {
    eddy_timer_init(r, &t[i]);
    t[i].data = (void *)(intptr_t)(i + 1);
    cr_assert_eq(eddy_timer_start(&t[i], delays[i], timer_record), 0);
  }
  cr_assert_eq(eddy_reactor_advance(r, 9), 0);
  cr_assert_eq(eddy_reactor_now(r), 9);
  cr_assert_eq(eddy_reactor_advance(r, 100), 4);
  int want[4] = {2, 4, 1, 3};
  for (int i = 0; i < 4; i++)
    cr_assert_eq(trace.order[i], want[i]);
  cr_assert_eq(eddy_reactor_now(r), 109);
  test_close_reactor(r);
}

static uint64_t seen_at[8];
static int seen;
static void note_time(eddy_timer_t *t) {
  seen_at[seen++] = eddy_reactor_now(t->reactor);
  if (seen < 3)
    eddy_timer_start(t, 15, note_time);
}

Test(reactor, fake_clock_fires_each_timer_at_its_own_deadline) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  seen = 0;
  eddy_timer_t t;
  eddy_timer_init(r, &t);
  eddy_timer_start(&t, 5, note_time);
  cr_assert_eq(eddy_reactor_advance(r, 100), 3);
  cr_assert_eq(seen_at[0], 5);
  cr_assert_eq(seen_at[1], 20);
  cr_assert_eq(seen_at[2], 35);
  test_close_reactor(r);
}

static int spins;
static void rearm_zero(eddy_timer_t *t) {
  spins++;
  eddy_timer_start(t, 0, rearm_zero);
}

Test(reactor, zero_delay_rearm_cannot_hang_advance) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  spins = 0;
  eddy_timer_t t;
  eddy_timer_init(r, &t);
  eddy_timer_start(&t, 1, rearm_zero);
  eddy_reactor_advance(r, 1);
  cr_assert(spins >= 1 && spins <= 1000, "spins=%d", spins);
  eddy_timer_stop(&t);
  cr_assert_not(eddy_timer_active(&t));
  test_close_reactor(r);
}

Test(reactor, stop_and_restart_timer) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_timer_t t;
  eddy_timer_init(r, &t);
  t.data = (void *)(intptr_t)7;
  eddy_timer_start(&t, 10, timer_record);
  cr_assert(eddy_timer_active(&t));
  eddy_timer_stop(&t);
  eddy_timer_stop(&t); /* harmless twice */
  cr_assert_eq(eddy_reactor_advance(r, 20), 0);
  eddy_timer_start(&t, 10, timer_record);
  eddy_timer_start(&t, 50, timer_record); /* restart moves the deadline */
  cr_assert_eq(eddy_reactor_advance(r, 49), 0);
  cr_assert_eq(eddy_reactor_advance(r, 1), 1);
  cr_assert_eq(trace.order[0], 7);
  test_close_reactor(r);
}

static uint64_t last_due;
static int order_ok, order_fired;
static void check_order(eddy_timer_t *t) {
  uint64_t due = (uint64_t)(uintptr_t)t->data;
  if (due < last_due || eddy_reactor_now(t->reactor) != due)
    order_ok = 0;
  last_due = due;
  order_fired++;
}

Test(reactor, heap_keeps_order_through_many_removals) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  enum { N = 500 };
  static eddy_timer_t t[N];
  last_due = 0;
  order_ok = 1;
  order_fired = 0;
  for (int i = 0; i < N; i++) {
    uint64_t delay = (uint64_t)((i * 7919) % N) + 1;
    eddy_timer_init(r, &t[i]);
    t[i].data = (void *)(uintptr_t)delay;
    eddy_timer_start(&t[i], delay, check_order);
  }
  for (int i = 0; i < N; i += 3)
    eddy_timer_stop(&t[i]);
  cr_assert_eq(eddy_reactor_advance(r, N), N - (N + 2) / 3);
  cr_assert(order_ok, "timers fired out of deadline order");
  cr_assert_eq(order_fired, N - (N + 2) / 3);
  test_close_reactor(r);
}

Test(reactor, advance_refuses_a_real_clock) {
  eddy_reactor_t *r = test_reactor(0);
  cr_assert_eq(eddy_reactor_advance(r, 1), EDDY_EFAKECLOCK);
  test_close_reactor(r);
}

static void stop_reactor(eddy_timer_t *t) {
  record(t->data);
  eddy_reactor_stop(t->reactor);
}

Test(reactor, real_timer_fires_and_stop_returns_from_run) {
  eddy_reactor_t *r = test_reactor(0);
  eddy_timer_t t1, t2;
  eddy_timer_init(r, &t1);
  eddy_timer_init(r, &t2);
  t1.data = (void *)(intptr_t)1;
  t2.data = (void *)(intptr_t)2;
  uint64_t start = uv_hrtime();
  eddy_timer_start(&t1, 20, stop_reactor);
  eddy_timer_start(&t2, 5000, timer_record);
  eddy_reactor_run(r);
  uint64_t took_ms = (uv_hrtime() - start) / 1000000u;
  cr_assert_eq(trace.n, 1);
  cr_assert_eq(trace.order[0], 1);
  cr_assert(took_ms >= 19 && took_ms < 4000, "took %llu ms",
            (unsigned long long)took_ms);
  eddy_timer_stop(&t2);
  test_close_reactor(r);
}

Test(reactor, call_later_and_cancel) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_delayed_t *a = eddy_call_later(r, 10, record, (void *)(intptr_t)1);
  eddy_delayed_t *b = eddy_call_later(r, 5, record, (void *)(intptr_t)2);
  cr_assert_not_null(a);
  cr_assert_not_null(b);
  eddy_delayed_cancel(b);
  cr_assert_eq(eddy_reactor_advance(r, 10), 1);
  cr_assert_eq(trace.n, 1);
  cr_assert_eq(trace.order[0], 1);
  test_close_reactor(r);
}

static char logged[4096];
static void capture(eddy_log_level_t level, const char *line, void *arg) {
  (void)level;
  (void)arg;
  strncat(logged, line, sizeof(logged) - strlen(logged) - 2);
  strcat(logged, "\n");
}

Test(reactor, free_refuses_and_names_what_is_left_open) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  logged[0] = '\0';
  eddy_log_to_sink(capture, NULL);
  eddy_timer_t t;
  eddy_timer_init(r, &t);
  eddy_timer_start(&t, 10, timer_record);
  uv_timer_t raw;
  uv_timer_init(eddy_reactor_loop(r), &raw);
  cr_assert_eq(eddy_reactor_free(r), EDDY_EBUSYCLOSE);
  eddy_log_to_sink(NULL, NULL);
  cr_assert(strstr(logged, "reactor.open_timers") != NULL, "%s", logged);
  cr_assert(strstr(logged, "reactor.open_handle type=timer") != NULL, "%s",
            logged);
  eddy_timer_stop(&t);
  uv_close((uv_handle_t *)&raw, NULL);
  test_close_reactor(r);
}

Test(reactor, live_accounting_blocks_free) {
  eddy_reactor_t *r = test_reactor(0);
  eddy_log_set_level(EDDY_LOG_OFF);
  eddy__reactor_live(r, EDDY__LIVE_OTHER, +1);
  cr_assert_eq(eddy_reactor_free(r), EDDY_EBUSYCLOSE);
  eddy__reactor_live(r, EDDY__LIVE_OTHER, -1);
  eddy_log_set_level(EDDY_LOG_INFO);
  test_close_reactor(r);
}

static int ext_closed;
static void close_ext(eddy_reactor_t *r, void *state) {
  (void)r;
  ext_closed = *(int *)state;
}

Test(reactor, extensions_are_closed_with_the_reactor) {
  eddy_reactor_t *r = test_reactor(0);
  static int state = 42;
  ext_closed = 0;
  eddy__reactor_set_ext(r, EDDY__EXT_RANDOM, &state, close_ext);
  cr_assert_eq(eddy__reactor_ext(r, EDDY__EXT_RANDOM), &state);
  test_close_reactor(r);
  cr_assert_eq(ext_closed, 42);
}

static void posted(void *arg) { record(arg); }

Test(reactor, post_from_loop_thread_runs_on_the_loop) {
  eddy_reactor_t *r = test_reactor(0);
  cr_assert(eddy__reactor_is_loop_thread(r));
  eddy_timer_t keep; /* keeps run() alive long enough for the wake-up */
  eddy_timer_init(r, &keep);
  eddy_timer_start(&keep, 50, timer_record);
  cr_assert_eq(eddy__reactor_post(r, posted, (void *)(intptr_t)9), 0);
  cr_assert_eq(trace.n, 0);
  eddy_reactor_run(r);
  cr_assert_eq(trace.order[0], 9);
  test_close_reactor(r);
}
