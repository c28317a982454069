/* test_cooperate.c — the cooperator (eddy/cooperate.h). */
#include "support.h"

#include <string.h>

typedef struct outcome_s {
  int fired;
  int err;
} outcome_t;

static void record(eddy_result_t *res, void *arg) {
  outcome_t *o = arg;
  o->fired = 1;
  o->err = res->err;
  if (res->err != 0)
    eddy_result_recover(res);
}

/* Spins until the real clock moved by at least `us` microseconds, so that a
 * step reliably outlasts a tiny budget. */
static void spin_us(uint64_t us) {
  uint64_t start = uv_hrtime();
  while (uv_hrtime() - start < us * 1000u)
    ;
}

/* A task that logs its letter on each step and stops after `steps`. */
typedef struct task_s {
  char letter;
  int steps;
  int done_steps;
  int fail_at; /* step number that returns an error, 0 = never */
  uint64_t spin;
  char *log;
  size_t *log_len;
  eddy_deferred_t *cancel_me; /* cancelled from inside the given step */
  int cancel_at;
} task_t;

static int step(void *arg) {
  task_t *t = arg;
  t->done_steps++;
  if (t->log != NULL)
    t->log[(*t->log_len)++] = t->letter;
  if (t->spin != 0)
    spin_us(t->spin);
  if (t->cancel_me != NULL && t->done_steps == t->cancel_at)
    eddy_deferred_cancel(t->cancel_me);
  if (t->fail_at != 0 && t->done_steps == t->fail_at)
    return UV_EIO;
  return t->done_steps < t->steps ? 1 : 0;
}

static void run_until_both(eddy_reactor_t *r, outcome_t *a, outcome_t *b) {
  for (int i = 0; i < 100000 && !(a->fired && b->fired); i++)
    eddy_reactor_run_once(r, 0);
  cr_assert(a->fired && b->fired);
}

Test(cooperate, two_tasks_interleave) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  char log[64] = {0};
  size_t len = 0;
  task_t a = {.letter = 'A', .steps = 5, .log = log, .log_len = &len};
  task_t b = {.letter = 'B', .steps = 3, .log = log, .log_len = &len};
  outcome_t oa = {0}, ob = {0};
  eddy_deferred_t *da = eddy_cooperate(r, step, &a);
  eddy_deferred_t *db = eddy_cooperate(r, step, &b);
  cr_assert_not_null(da);
  cr_assert_not_null(db);
  eddy_deferred_add_both(da, record, &oa);
  eddy_deferred_add_both(db, record, &ob);
  cr_assert_eq(a.done_steps, 0, "stepped inside eddy_cooperate");
  run_until_both(r, &oa, &ob);
  cr_assert_str_eq(log, "ABABABAA");
  cr_assert_eq(oa.err, 0);
  cr_assert_eq(ob.err, 0);
  test_close_reactor(r);
}

Test(cooperate, tiny_budget_one_step_per_iteration) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_cooperate_set_budget(r, 0); /* raised to the minimum, 1 us */
  task_t a = {.letter = 'A', .steps = 4, .spin = 5};
  task_t b = {.letter = 'B', .steps = 4, .spin = 5};
  outcome_t oa = {0}, ob = {0};
  eddy_deferred_add_both(eddy_cooperate(r, step, &a), record, &oa);
  eddy_deferred_add_both(eddy_cooperate(r, step, &b), record, &ob);
  for (int i = 1; i <= 8; i++) {
    eddy_reactor_run_once(r, 0);
    cr_assert_eq(a.done_steps + b.done_steps, i, "iteration %d", i);
  }
  cr_assert_eq(a.done_steps, 4);
  cr_assert_eq(b.done_steps, 4);
  run_until_both(r, &oa, &ob);
  test_close_reactor(r);
}

/* The loop is not starved: a soon-call and a timer scheduled while a long
 * task runs get their turn long before it ends. */
typedef struct watch_s {
  task_t *task;
  int soon_at;  /* task steps done when the soon-call ran; -1 = not yet */
  int timer_at; /* same for the timer */
  eddy_timer_t timer;
} watch_t;

static void watch_soon(void *arg) {
  watch_t *w = arg;
  w->soon_at = w->task->done_steps;
}

static void watch_timer(eddy_timer_t *t) {
  watch_t *w = t->data;
  w->timer_at = w->task->done_steps;
}

Test(cooperate, loop_not_starved) {
  eddy_reactor_t *r = test_reactor(0);
  eddy_cooperate_set_budget(r, 2000);
  task_t a = {.letter = 'A', .steps = 400, .spin = 100}; /* ~40 ms */
  watch_t w = {.task = &a, .soon_at = -1, .timer_at = -1};
  outcome_t oa = {0};
  eddy_deferred_add_both(eddy_cooperate(r, step, &a), record, &oa);
  /* Let the task start, then schedule the others in its middle. */
  eddy_reactor_run_once(r, 0);
  cr_assert_gt(a.done_steps, 0);
  cr_assert_lt(a.done_steps, 400);
  cr_assert_eq(eddy_call_soon(r, watch_soon, &w), 0);
  eddy_timer_init(r, &w.timer);
  w.timer.data = &w;
  cr_assert_eq(eddy_timer_start(&w.timer, 0, watch_timer), 0);
  cr_assert(test_run_until(r, &oa.fired, 10000));
  cr_assert_eq(oa.err, 0);
  cr_assert_eq(a.done_steps, 400);
  cr_assert_geq(w.soon_at, 0);
  cr_assert_lt(w.soon_at, 100, "soon-call waited for %d steps", w.soon_at);
  cr_assert_geq(w.timer_at, 0);
  cr_assert_lt(w.timer_at, 100, "timer waited for %d steps", w.timer_at);
  test_close_reactor(r);
}

Test(cooperate, error_fails_the_deferred) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  task_t a = {.letter = 'A', .steps = 10, .fail_at = 3};
  task_t b = {.letter = 'B', .steps = 6};
  outcome_t oa = {0}, ob = {0};
  eddy_deferred_add_both(eddy_cooperate(r, step, &a), record, &oa);
  eddy_deferred_add_both(eddy_cooperate(r, step, &b), record, &ob);
  run_until_both(r, &oa, &ob);
  cr_assert_eq(oa.err, UV_EIO);
  cr_assert_eq(a.done_steps, 3);
  cr_assert_eq(ob.err, 0, "the other task goes on");
  cr_assert_eq(b.done_steps, 6);
  /* No step function: refused through the deferred. */
  outcome_t oc = {0};
  eddy_deferred_add_both(eddy_cooperate(r, NULL, NULL), record, &oc);
  cr_assert_eq(oc.err, UV_EINVAL);
  test_close_reactor(r);
}

Test(cooperate, cancel_stops_before_next_step) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_cooperate_set_budget(r, 1);
  task_t a = {.letter = 'A', .steps = 1000, .spin = 5};
  outcome_t oa = {0};
  eddy_deferred_t *da = eddy_cooperate(r, step, &a);
  eddy_deferred_add_both(da, record, &oa);
  eddy_reactor_run_once(r, 0);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(a.done_steps, 2);
  eddy_deferred_cancel(da);
  cr_assert_eq(oa.fired, 1);
  cr_assert_eq(oa.err, UV_ECANCELED);
  for (int i = 0; i < 10; i++)
    eddy_reactor_run_once(r, 0);
  cr_assert_eq(a.done_steps, 2);
  test_close_reactor(r);
}

Test(cooperate, cancel_from_steps) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  /* B cancels A from inside B's step; C cancels itself from its own. */
  task_t a = {.letter = 'A', .steps = 1000};
  task_t b = {.letter = 'B', .steps = 5, .cancel_at = 2};
  task_t c = {.letter = 'C', .steps = 1000, .cancel_at = 3};
  outcome_t oa = {0}, ob = {0}, oc = {0};
  eddy_deferred_t *da = eddy_cooperate(r, step, &a);
  eddy_deferred_t *db = eddy_cooperate(r, step, &b);
  eddy_deferred_t *dc = eddy_cooperate(r, step, &c);
  b.cancel_me = da;
  c.cancel_me = dc;
  eddy_deferred_add_both(da, record, &oa);
  eddy_deferred_add_both(db, record, &ob);
  eddy_deferred_add_both(dc, record, &oc);
  run_until_both(r, &ob, &oc);
  cr_assert_eq(oa.err, UV_ECANCELED);
  cr_assert_eq(a.done_steps, 2, "A stepped after its cancel");
  cr_assert_eq(oc.err, UV_ECANCELED);
  cr_assert_eq(c.done_steps, 3);
  cr_assert_eq(ob.err, 0);
  cr_assert_eq(b.done_steps, 5);
  test_close_reactor(r);
}

/* A task started from a finishing task's callback joins the rotation. */
typedef struct chain_s {
  eddy_reactor_t *r;
  task_t next;
  outcome_t o;
} chain_t;

static void start_next(eddy_result_t *res, void *arg) {
  (void)res;
  chain_t *c = arg;
  eddy_deferred_add_both(eddy_cooperate(c->r, step, &c->next), record, &c->o);
}

Test(cooperate, task_started_from_callback) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  task_t a = {.letter = 'A', .steps = 2};
  chain_t c = {.r = r, .next = {.letter = 'N', .steps = 3}};
  eddy_deferred_t *da = eddy_cooperate(r, step, &a);
  eddy_deferred_add_callback(da, start_next, &c);
  for (int i = 0; i < 1000 && !c.o.fired; i++)
    eddy_reactor_run_once(r, 0);
  cr_assert_eq(c.o.fired, 1);
  cr_assert_eq(c.next.done_steps, 3);
  test_close_reactor(r);
}

static int step_forever(void *arg) {
  (*(int *)arg)++;
  return 1;
}

Test(cooperate, unfinished_task_stopped_with_reactor) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_cooperate_set_budget(r, 1);
  int steps = 0;
  outcome_t o = {0};
  eddy_deferred_add_both(eddy_cooperate(r, step_forever, &steps), record, &o);
  for (int i = 0; i < 10; i++)
    eddy_reactor_run_once(r, 0);
  cr_assert_geq(steps, 10);
  /* Freeing the reactor closes the cooperator, which fails the task. */
  test_close_reactor(r);
  cr_assert_eq(o.fired, 1);
  cr_assert_eq(o.err, EDDY_ESTOPPED);
}
