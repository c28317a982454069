/* Reactor: soon-calls, timers, delayed calls, the fake clock, clean close. */
#include <pthread.h>
#include <string.h>

#include "core/reactor_struct.h"
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

static void init_trace(void) {
  memset(&trace, 0, sizeof(trace));
}

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

static void timer_record(eddy_timer_t *t) {
  record(t->data);
}

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
  eddy_log_set_level(EDDY_LOG_OFF); /* the stall is reported; tested below */
  eddy_reactor_advance(r, 1);
  eddy_log_set_level(EDDY_LOG_INFO);
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

static void posted(void *arg) {
  record(arg);
}

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

/* ---- Regressions and edge cases ----------------------------------------- */

static int real_spins;
static void rearm_zero_real(eddy_timer_t *t) {
  /* Bounded so the pre-fix behaviour (an endless timer phase) fails the
   * assertion instead of hanging the test. */
  if (++real_spins < 1000)
    eddy_timer_start(t, 0, rearm_zero_real);
}

Test(reactor, zero_delay_rearm_on_real_clock_fires_once_per_iteration) {
  eddy_reactor_t *r = test_reactor(0);
  real_spins = 0;
  eddy_timer_t t;
  eddy_timer_init(r, &t);
  cr_assert_eq(eddy_timer_start(&t, 0, rearm_zero_real), 0);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(real_spins, 1, "fired %d times in one iteration", real_spins);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(real_spins, 2, "fired %d times in two iterations", real_spins);
  /* With soon-calls queued too, both make progress each iteration. */
  for (int i = 0; i < 3; i++)
    eddy_call_soon(r, record, (void *)(intptr_t)i);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(real_spins, 3);
  cr_assert_eq(trace.n, 3);
  eddy_timer_stop(&t);
  test_close_reactor(r);
}

static void rearm_once_zero(eddy_timer_t *t) {
  record(t->data);
  if (t->data == (void *)(intptr_t)1) {
    t->data = (void *)(intptr_t)2;
    eddy_timer_start(t, 0, rearm_once_zero);
  }
}

Test(reactor, zero_delay_rearm_on_real_clock_still_fires_and_run_ends) {
  eddy_reactor_t *r = test_reactor(0);
  eddy_timer_t t;
  eddy_timer_init(r, &t);
  t.data = (void *)(intptr_t)1;
  eddy_timer_start(&t, 1, rearm_once_zero);
  eddy_reactor_run(r);
  cr_assert_eq(trace.n, 2);
  cr_assert_eq(trace.order[1], 2);
  cr_assert_not(eddy_timer_active(&t));
  cr_assert_eq(eddy_reactor_run_once(r, 0), 0, "nothing may keep the loop");
  test_close_reactor(r);
}

static void nested_advance(eddy_timer_t *t) {
  record(t->data);
  eddy_reactor_advance(t->reactor, 100);
}

Test(reactor, nested_advance_never_moves_time_back) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_timer_t t, later;
  eddy_timer_init(r, &t);
  eddy_timer_init(r, &later);
  later.data = (void *)(intptr_t)2;
  eddy_timer_start(&t, 5, nested_advance);
  eddy_timer_start(&later, 50, timer_record);
  cr_assert_eq(eddy_reactor_advance(r, 10), 1);
  cr_assert_eq(eddy_reactor_now(r), 105);
  cr_assert_eq(trace.n, 2);
  cr_assert_eq(trace.order[1], 2, "the inner advance fires the later timer");
  test_close_reactor(r);
}

static char logged2[8192];
static void capture2(eddy_log_level_t level, const char *line, void *arg) {
  (void)level;
  (void)arg;
  strncat(logged2, line, sizeof(logged2) - strlen(logged2) - 2);
  strcat(logged2, "\n");
}

static int forever_spins;
static void rearm_forever(eddy_timer_t *t) {
  forever_spins++;
  eddy_timer_start(t, 0, rearm_forever);
}

Test(reactor, endless_zero_delay_rearm_is_bounded_and_reported) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  logged2[0] = '\0';
  eddy_log_to_sink(capture2, NULL);
  forever_spins = 0;
  eddy_timer_t t;
  eddy_timer_init(r, &t);
  eddy_timer_start(&t, 0, rearm_forever);
  int fired = eddy_reactor_advance(r, 7);
  eddy_log_to_sink(NULL, NULL);
  cr_assert_eq(fired, 1000);
  cr_assert_eq(forever_spins, 1000);
  cr_assert_eq(eddy_reactor_now(r), 7);
  cr_assert(strstr(logged2, "event=reactor.advance_stalled") != NULL, "%s",
            logged2);
  eddy_timer_stop(&t);
  test_close_reactor(r);
}

Test(reactor, null_callbacks_are_refused) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  cr_assert_eq(eddy_call_soon(r, NULL, NULL), UV_EINVAL);
  eddy_timer_t t;
  eddy_timer_init(r, &t);
  cr_assert_eq(eddy_timer_start(&t, 1, NULL), UV_EINVAL);
  cr_assert_not(eddy_timer_active(&t));
  eddy_delayed_cancel(NULL); /* harmless */
  cr_assert_eq(eddy_reactor_free(NULL), 0);
  test_close_reactor(r);
}

Test(reactor, huge_delay_saturates) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_reactor_advance(r, 10);
  eddy_timer_t t;
  eddy_timer_init(r, &t);
  t.data = (void *)(intptr_t)1;
  eddy_timer_start(&t, UINT64_MAX, timer_record);
  cr_assert_eq(eddy_reactor_advance(r, UINT64_MAX - 100), 0);
  cr_assert_eq(eddy_reactor_advance(r, UINT64_MAX), 1);
  cr_assert_eq(eddy_reactor_now(r), UINT64_MAX);
  test_close_reactor(r);
}

Test(reactor, huge_delay_on_real_clock_waits) {
  eddy_reactor_t *r = test_reactor(0);
  eddy_timer_t t;
  eddy_timer_init(r, &t);
  eddy_timer_start(&t, UINT64_MAX, timer_record);
  cr_assert_neq(eddy_reactor_run_once(r, 0), 0, "an armed timer keeps it");
  cr_assert_eq(trace.n, 0);
  eddy_timer_stop(&t);
  cr_assert_eq(eddy_reactor_run_once(r, 0), 0);
  test_close_reactor(r);
}

/* Checks the heap directly: each parent ordered before its children and
 * every timer knowing its own slot. */
static int heap_ok(const eddy_reactor_t *r) {
  for (size_t i = 0; i < r->heap_len; i++) {
    const eddy_timer_t *t = r->heap[i];
    if (t->heap_index != i)
      return 0;
    if (i == 0)
      continue;
    const eddy_timer_t *p = r->heap[(i - 1) / 2];
    if (p->due > t->due || (p->due == t->due && p->seq > t->seq))
      return 0;
  }
  return 1;
}

Test(reactor, heap_invariant_holds_through_random_operations) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  enum { N = 300, OPS = 5000 };
  static eddy_timer_t t[N];
  for (int i = 0; i < N; i++)
    eddy_timer_init(r, &t[i]);
  uint32_t x = 12345;
  for (int op = 0; op < OPS; op++) {
    x = x * 1103515245u + 12345u;
    eddy_timer_t *pick = &t[(x >> 8) % N];
    pick->data = NULL;
    if ((x >> 4) % 3 == 0)
      eddy_timer_stop(pick);
    else
      eddy_timer_start(pick, (x >> 12) % 64, check_order);
    if (op % 97 == 0)
      cr_assert(heap_ok(r), "heap broken after op %d", op);
  }
  cr_assert(heap_ok(r));
  size_t armed = r->heap_len;
  for (int i = 0; i < N; i++)
    t[i].data = (void *)(uintptr_t)t[i].due;
  last_due = 0;
  order_ok = 1;
  order_fired = 0;
  cr_assert_eq(eddy_reactor_advance(r, 64), (int)armed);
  cr_assert(order_ok);
  cr_assert_eq(r->heap_len, 0);
  test_close_reactor(r);
}

/* ---- Soon-call queue ----------------------------------------------------- */

static eddy__soon_t nodes[4];

Test(reactor, soon_cancel_of_pending_keeps_the_queue_whole) {
  eddy_reactor_t *r = test_reactor(0);
  memset(nodes, 0, sizeof(nodes));
  for (int i = 0; i < 4; i++)
    eddy__reactor_soon(r, &nodes[i], record, (void *)(intptr_t)i);
  eddy__reactor_soon_cancel(r, &nodes[1]); /* middle */
  eddy__reactor_soon_cancel(r, &nodes[3]); /* tail: the tail must move back */
  eddy__reactor_soon_cancel(r, &nodes[3]); /* not queued: harmless */
  eddy__reactor_soon(r, &nodes[3], record, (void *)(intptr_t)5);
  eddy__reactor_soon_cancel(r, &nodes[0]); /* head */
  eddy_reactor_run(r);
  cr_assert_eq(trace.n, 2);
  cr_assert_eq(trace.order[0], 2);
  cr_assert_eq(trace.order[1], 5);
  test_close_reactor(r);
}

static void cancel_all_but_me(void *arg) {
  record(arg);
  for (int i = 0; i < 4; i++)
    if (i != (int)(intptr_t)arg)
      eddy__reactor_soon_cancel(cancel_r, &nodes[i]);
  /* Re-queue one that was cancelled: it runs on the next iteration. */
  eddy__reactor_soon(cancel_r, &nodes[3], record, (void *)(intptr_t)9);
}

Test(reactor, soon_cancel_of_the_rest_of_the_running_batch) {
  eddy_reactor_t *r = cancel_r = test_reactor(0);
  memset(nodes, 0, sizeof(nodes));
  eddy__reactor_soon(r, &nodes[0], record, (void *)(intptr_t)0);
  eddy__reactor_soon(r, &nodes[1], cancel_all_but_me, (void *)(intptr_t)1);
  eddy__reactor_soon(r, &nodes[2], record, (void *)(intptr_t)2);
  eddy__reactor_soon(r, &nodes[3], record, (void *)(intptr_t)3);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(trace.n, 2);
  cr_assert_eq(trace.order[0], 0);
  cr_assert_eq(trace.order[1], 1);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(trace.n, 3);
  cr_assert_eq(trace.order[2], 9);
  test_close_reactor(r);
}

static void requeue_self(void *arg) {
  record(arg);
  if (trace.n < 3)
    eddy__reactor_soon(cancel_r, &nodes[0], requeue_self, arg);
}

Test(reactor, soon_node_requeued_from_its_own_call_runs_next_iteration) {
  eddy_reactor_t *r = cancel_r = test_reactor(0);
  memset(nodes, 0, sizeof(nodes));
  eddy__reactor_soon(r, &nodes[0], requeue_self, (void *)(intptr_t)7);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(trace.n, 1);
  eddy_reactor_run(r);
  cr_assert_eq(trace.n, 3);
  test_close_reactor(r);
}

Test(reactor, idle_handle_stops_when_the_queue_drains) {
  eddy_reactor_t *r = test_reactor(0);
  eddy_call_soon(r, record, (void *)(intptr_t)1);
  /* Drained: the loop is not alive, so run() cannot spin on the idle. */
  cr_assert_eq(eddy_reactor_run_once(r, 0), 0);
  cr_assert_eq(trace.n, 1);
  uint64_t start = uv_hrtime();
  cr_assert_eq(eddy_reactor_run(r), 0);
  cr_assert_lt(uv_hrtime() - start, 1000000000ull);
  /* Cancelling the only queued call leaves one empty pass, then stops. */
  memset(nodes, 0, sizeof(nodes));
  eddy__reactor_soon(r, &nodes[0], record, (void *)(intptr_t)2);
  eddy__reactor_soon_cancel(r, &nodes[0]);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(eddy_reactor_run_once(r, 0), 0);
  cr_assert_eq(trace.n, 1);
  test_close_reactor(r);
}

static void noop_uv_timer(uv_timer_t *h) {
  (void)h;
}

Test(reactor, run_returns_when_only_unreferenced_handles_remain) {
  eddy_reactor_t *r = test_reactor(0);
  uv_timer_t h;
  uv_timer_init(eddy_reactor_loop(r), &h);
  uv_timer_start(&h, noop_uv_timer, 10000, 10000);
  uv_unref((uv_handle_t *)&h);
  eddy_call_soon(r, record, (void *)(intptr_t)1);
  uint64_t start = uv_hrtime();
  cr_assert_eq(eddy_reactor_run(r), 0);
  cr_assert_lt(uv_hrtime() - start, 2000000000ull, "run waited on unref'd");
  cr_assert_eq(trace.n, 1);
  uv_close((uv_handle_t *)&h, NULL);
  test_close_reactor(r);
}

/* ---- Posts from threads and eddy_reactor_free -----------------------------
 */

static void *post_from_thread(void *arg) {
  eddy_reactor_t *r = arg;
  for (int i = 1; i <= 3; i++)
    if (eddy__reactor_post(r, posted, (void *)(intptr_t)i) != 0)
      return (void *)1;
  return NULL;
}

Test(reactor, posts_made_before_free_are_delivered_not_dropped) {
  eddy_reactor_t *r = test_reactor(0);
  pthread_t th;
  void *res = NULL;
  pthread_create(&th, NULL, post_from_thread, r);
  pthread_join(th, &res);
  cr_assert_null(res);
  cr_assert_eq(trace.n, 0);
  cr_assert_eq(eddy_reactor_free(r), 0);
  cr_assert_eq(trace.n, 3, "posts accepted before free must run");
  for (int i = 0; i < 3; i++)
    cr_assert_eq(trace.order[i], i + 1);
}

static int repost_rc;
static eddy_reactor_t *repost_r;
static void post_while_freeing(void *arg) {
  record(arg);
  repost_rc = eddy__reactor_post(repost_r, posted, (void *)(intptr_t)8);
}

Test(reactor, free_refuses_posts_while_closing_and_reopens_on_refusal) {
  eddy_reactor_t *r = repost_r = test_reactor(0);
  eddy_log_set_level(EDDY_LOG_OFF);
  eddy__reactor_live(r, EDDY__LIVE_OTHER, +1);
  cr_assert_eq(eddy__reactor_post(r, post_while_freeing, (void *)(intptr_t)1),
               0);
  cr_assert_eq(eddy_reactor_free(r), EDDY_EBUSYCLOSE);
  eddy_log_set_level(EDDY_LOG_INFO);
  cr_assert_eq(trace.n, 1);
  cr_assert_eq(repost_rc, EDDY_ESTOPPED);
  /* Refused: the reactor works as before, posts included. */
  eddy__reactor_live(r, EDDY__LIVE_OTHER, -1);
  cr_assert_eq(eddy__reactor_post(r, posted, (void *)(intptr_t)2), 0);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(trace.n, 2);
  cr_assert_eq(trace.order[1], 2);
  test_close_reactor(r);
}

static void post_again_from_loop(void *arg) {
  record(arg);
  if ((int)(intptr_t)arg < 3)
    eddy__reactor_post(repost_r, post_again_from_loop,
                       (void *)(intptr_t)((int)(intptr_t)arg + 1));
}

Test(reactor, posts_made_while_draining_wait_for_the_next_wake_up) {
  eddy_reactor_t *r = repost_r = test_reactor(0);
  eddy__reactor_post(r, post_again_from_loop, (void *)(intptr_t)1);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(trace.n, 1, "a re-post ran in the same drain: %d", trace.n);
  /* Nothing else keeps this loop alive: run() still delivers what was
   * posted before it started. */
  eddy_reactor_run(r);
  cr_assert_eq(trace.n, 3);
  test_close_reactor(r);
}

static void *post_storm(void *arg) {
  eddy_reactor_t *r = arg;
  for (int i = 0; i < 2000; i++)
    if (eddy__reactor_post(r, record, (void *)(intptr_t)0) != 0)
      break; /* EDDY_ESTOPPED once the reactor is being freed */
  return NULL;
}

static int storm_done;
static void storm_count(void *arg) {
  (void)arg;
  storm_done++;
}

Test(reactor, posting_threads_racing_free_never_touch_freed_memory) {
  /* Bounded stress: a thread posts while the loop runs, then the reactor is
   * freed with the thread joined; ASan catches any use after free. */
  for (int round = 0; round < 20; round++) {
    eddy_reactor_t *r = test_reactor(0);
    pthread_t th;
    storm_done = 0;
    pthread_create(&th, NULL, post_storm, r);
    for (int i = 0; i < 50; i++)
      eddy_reactor_run_once(r, 0);
    pthread_join(th, NULL);
    eddy__reactor_post(r, storm_count, NULL);
    cr_assert_eq(eddy_reactor_free(r), 0);
    cr_assert_eq(storm_done, 1);
  }
}

static int req_done;
static void slow_work(uv_work_t *req) {
  (void)req;
  uv_sleep(30);
}
static void slow_work_done(uv_work_t *req, int status) {
  (void)req;
  (void)status;
  req_done = 1;
}

Test(reactor, free_refuses_while_a_libuv_request_is_in_flight) {
  eddy_reactor_t *r = test_reactor(0);
  logged2[0] = '\0';
  req_done = 0;
  eddy_log_to_sink(capture2, NULL);
  uv_work_t req;
  cr_assert_eq(
      uv_queue_work(eddy_reactor_loop(r), &req, slow_work, slow_work_done), 0);
  cr_assert_eq(eddy_reactor_free(r), EDDY_EBUSYCLOSE);
  eddy_log_to_sink(NULL, NULL);
  cr_assert(strstr(logged2, "event=reactor.open_requests") != NULL, "%s",
            logged2);
  eddy_reactor_run(r);
  cr_assert_eq(req_done, 1);
  test_close_reactor(r);
}

static uv_timer_t chain_b;
static int chain_closed;
static void chain_close_b(uv_handle_t *h) {
  (void)h;
  chain_closed++;
}
static void chain_close_a(uv_handle_t *h) {
  (void)h;
  chain_closed++;
  uv_close((uv_handle_t *)&chain_b, chain_close_b);
}

Test(reactor, free_waits_for_close_callbacks_that_close_more) {
  eddy_reactor_t *r = test_reactor(0);
  uv_timer_t a;
  uv_timer_init(eddy_reactor_loop(r), &a);
  uv_timer_init(eddy_reactor_loop(r), &chain_b);
  chain_closed = 0;
  uv_close((uv_handle_t *)&a, chain_close_a);
  cr_assert_eq(eddy_reactor_free(r), 0);
  cr_assert_eq(chain_closed, 2);
}

enum { CLOSE_CHAIN = 24 };
static uv_timer_t close_chain[CLOSE_CHAIN];
static int close_chain_done;
static void close_next(uv_handle_t *h) {
  close_chain_done++;
  uv_timer_t *t = (uv_timer_t *)h;
  if (t + 1 < close_chain + CLOSE_CHAIN) {
    /* Each close callback opens and closes the next handle: at any moment
     * one handle exists, and it is closing. */
    uv_timer_init(h->loop, t + 1);
    uv_close((uv_handle_t *)(t + 1), close_next);
  }
}

Test(reactor, free_refuses_while_a_long_close_chain_is_still_closing) {
  eddy_reactor_t *r = test_reactor(0);
  uv_timer_init(eddy_reactor_loop(r), &close_chain[0]);
  close_chain_done = 0;
  uv_close((uv_handle_t *)&close_chain[0], close_next);
  logged2[0] = '\0';
  eddy_log_to_sink(capture2, NULL);
  int rc = eddy_reactor_free(r);
  eddy_log_to_sink(NULL, NULL);
  cr_assert_eq(rc, EDDY_EBUSYCLOSE);
  cr_assert(strstr(logged2, "event=reactor.closing_handles count=1") != NULL,
            "%s", logged2);
  cr_assert_lt(close_chain_done, CLOSE_CHAIN);
  test_close_reactor(r);
  cr_assert_eq(close_chain_done, CLOSE_CHAIN);
}

static int late_ext_closed;
static void close_late_ext(eddy_reactor_t *r, void *state) {
  (void)r;
  (void)state;
  late_ext_closed++;
}
static void make_ext(void *arg) {
  eddy__reactor_set_ext(arg, EDDY__EXT_COOPERATOR, &late_ext_closed,
                        close_late_ext);
}

Test(reactor, extension_created_while_freeing_is_closed_too) {
  eddy_reactor_t *r = test_reactor(0);
  late_ext_closed = 0;
  eddy_call_soon(r, make_ext, r);
  cr_assert_eq(eddy_reactor_free(r), 0);
  cr_assert_eq(late_ext_closed, 1);
}

Test(reactor, refused_free_keeps_soon_calls_and_timers_working) {
  eddy_reactor_t *r = test_reactor(0);
  eddy_log_set_level(EDDY_LOG_OFF);
  memset(nodes, 0, sizeof(nodes));
  eddy_timer_t t;
  eddy_timer_init(r, &t);
  t.data = (void *)(intptr_t)4;
  eddy_timer_start(&t, 5, timer_record);
  eddy__reactor_live(r, EDDY__LIVE_OTHER, +1);
  cr_assert_eq(eddy_reactor_free(r), EDDY_EBUSYCLOSE);
  eddy_log_set_level(EDDY_LOG_INFO);
  eddy__reactor_live(r, EDDY__LIVE_OTHER, -1);
  eddy_reactor_run(r);
  cr_assert_eq(trace.n, 1);
  cr_assert_eq(trace.order[0], 4);
  test_close_reactor(r);
}

Test(reactor, free_reports_queued_soon_calls_it_could_not_drain) {
  eddy_reactor_t *r = chain_r = test_reactor(0);
  logged2[0] = '\0';
  eddy_log_to_sink(capture2, NULL);
  /* A chain longer than free's bounded pass stays queued. */
  eddy_call_soon(r, chain_again, (void *)(intptr_t)60);
  cr_assert_eq(eddy_reactor_free(r), EDDY_EBUSYCLOSE);
  eddy_log_to_sink(NULL, NULL);
  cr_assert(strstr(logged2, "event=reactor.open_soon_calls count=1") != NULL,
            "%s", logged2);
  test_close_reactor(r);
}

Test(reactor, live_underflow_is_logged_and_clamped) {
  eddy_reactor_t *r = test_reactor(0);
  logged2[0] = '\0';
  eddy_log_to_sink(capture2, NULL);
  eddy__reactor_live(r, EDDY__LIVE_TRANSPORT, -1);
  eddy_log_to_sink(NULL, NULL);
  cr_assert(strstr(logged2, "reactor.live_underflow kind=transport") != NULL,
            "%s", logged2);
  test_close_reactor(r);
}

static void *run_elsewhere(void *arg) {
  eddy_reactor_t *r = arg;
  eddy_reactor_run_once(r, 0);
  return (void *)(intptr_t)eddy__reactor_is_loop_thread(r);
}

Test(reactor, the_loop_thread_follows_run) {
  eddy_reactor_t *r = test_reactor(0);
  pthread_t th;
  void *res = NULL;
  pthread_create(&th, NULL, run_elsewhere, r);
  pthread_join(th, &res);
  cr_assert_eq((intptr_t)res, 1);
  cr_assert_not(eddy__reactor_is_loop_thread(r));
  eddy_reactor_run_once(r, 0);
  cr_assert(eddy__reactor_is_loop_thread(r));
  test_close_reactor(r);
}
