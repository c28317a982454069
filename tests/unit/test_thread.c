/* test_thread.c — the pool bridge and calls from other threads
 * (eddy/thread.h). */
#include "support.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- Collecting a deferred's outcome ------------------------------------ */

typedef struct outcome_s {
  int fired;
  int err;
  int value; /* *(int *)value on success */
} outcome_t;

static void record(eddy_result_t *res, void *arg) {
  outcome_t *o = arg;
  o->fired = 1;
  o->err = res->err;
  if (res->err == 0 && res->value != NULL)
    o->value = *(int *)res->value;
  if (res->err != 0)
    eddy_result_recover(res);
}

/* ---- Work functions ----------------------------------------------------- */

static int work_square(void *arg, void **result) {
  int *v = malloc(sizeof(*v));
  if (v == NULL)
    return UV_ENOMEM;
  *v = *(int *)arg * *(int *)arg;
  *result = v;
  return 0;
}

static int work_fail(void *arg, void **result) {
  (void)arg;
  (void)result;
  return UV_EIO;
}

Test(thread, defer_to_thread_result) {
  eddy_reactor_t *r = test_reactor(0);
  int in = 12;
  outcome_t o = {0};
  eddy_deferred_t *d = eddy_defer_to_thread(r, work_square, &in, free);
  cr_assert_not_null(d);
  cr_assert_eq(eddy_deferred_add_both(d, record, &o), 0);
  cr_assert_eq(o.fired, 0, "fired inside the call that started it");
  cr_assert(test_run_until(r, &o.fired, 5000));
  cr_assert_eq(o.err, 0);
  cr_assert_eq(o.value, 144);
  test_close_reactor(r);
}

Test(thread, defer_to_thread_error) {
  eddy_reactor_t *r = test_reactor(0);
  outcome_t o = {0};
  eddy_deferred_t *d = eddy_defer_to_thread(r, work_fail, NULL, NULL);
  cr_assert_not_null(d);
  cr_assert_eq(eddy_deferred_add_both(d, record, &o), 0);
  cr_assert(test_run_until(r, &o.fired, 5000));
  cr_assert_eq(o.err, UV_EIO);
  /* No work at all is refused, through the deferred. */
  outcome_t o2 = {0};
  d = eddy_defer_to_thread(r, NULL, NULL, NULL);
  cr_assert_not_null(d);
  cr_assert_eq(eddy_deferred_add_both(d, record, &o2), 0);
  cr_assert_eq(o2.err, UV_EINVAL);
  test_close_reactor(r);
}

/* ---- Cancellation ------------------------------------------------------- */

#define POOL_SIZE 4

/* Work that holds a pool thread until released. */
typedef struct gate_s {
  atomic_int started;
  atomic_int open;
  atomic_int ran; /* work functions that ran at all */
  atomic_int freed;
} gate_t;

static int work_wait_gate(void *arg, void **result) {
  gate_t *g = arg;
  atomic_fetch_add(&g->started, 1);
  atomic_fetch_add(&g->ran, 1);
  while (!atomic_load(&g->open))
    uv_sleep(1);
  int *v = malloc(sizeof(*v));
  if (v == NULL)
    return UV_ENOMEM;
  *v = 7;
  *result = v;
  return 0;
}

static int work_count(void *arg, void **result) {
  gate_t *g = arg;
  atomic_fetch_add(&g->ran, 1);
  (void)result;
  return 0;
}

static void counting_free(void *v);
static gate_t *free_gate;
static void counting_free(void *v) {
  atomic_fetch_add(&free_gate->freed, 1);
  free(v);
}

static void wait_started(gate_t *g, int n) {
  uint64_t start = uv_hrtime();
  while (atomic_load(&g->started) < n) {
    cr_assert_lt(uv_hrtime() - start, 5000000000ull, "pool never started");
    uv_sleep(1);
  }
}

Test(thread, cancel_before_start) {
  /* A fixed pool size, so that the blockers below fill it. Each test runs
   * in its own process, before the pool is first used. */
  setenv("UV_THREADPOOL_SIZE", "4", 1);
  eddy_reactor_t *r = test_reactor(0);
  gate_t g = {0};
  free_gate = &g;
  outcome_t blockers[POOL_SIZE] = {{0}};
  for (int i = 0; i < POOL_SIZE; i++) {
    eddy_deferred_t *d =
        eddy_defer_to_thread(r, work_wait_gate, &g, counting_free);
    cr_assert_not_null(d);
    eddy_deferred_add_both(d, record, &blockers[i]);
  }
  wait_started(&g, POOL_SIZE);

  /* Queued behind the blockers: cancelling removes it from the queue. */
  outcome_t o = {0};
  eddy_deferred_t *d = eddy_defer_to_thread(r, work_count, &g, NULL);
  cr_assert_not_null(d);
  eddy_deferred_add_both(d, record, &o);
  eddy_deferred_cancel(d);
  cr_assert_eq(o.fired, 1);
  cr_assert_eq(o.err, UV_ECANCELED);

  atomic_store(&g.open, 1);
  for (int i = 0; i < POOL_SIZE; i++) {
    cr_assert(test_run_until(r, &blockers[i].fired, 5000));
    cr_assert_eq(blockers[i].value, 7);
  }
  test_close_reactor(r);
  cr_assert_eq(atomic_load(&g.ran), POOL_SIZE, "cancelled work ran");
  cr_assert_eq(atomic_load(&g.freed), POOL_SIZE);
}

Test(thread, cancel_after_start_frees_result) {
  eddy_reactor_t *r = test_reactor(0);
  gate_t g = {0};
  free_gate = &g;
  outcome_t o = {0};
  eddy_deferred_t *d =
      eddy_defer_to_thread(r, work_wait_gate, &g, counting_free);
  cr_assert_not_null(d);
  eddy_deferred_add_both(d, record, &o);
  wait_started(&g, 1);
  eddy_deferred_cancel(d);
  cr_assert_eq(o.err, UV_ECANCELED);
  atomic_store(&g.open, 1);
  /* The work runs to its end; its result goes to result_free. */
  test_close_reactor(r);
  cr_assert_eq(atomic_load(&g.freed), 1);
}

/* ---- call_from_thread --------------------------------------------------- */

#define STRESS_THREADS 8
#define STRESS_CALLS 2000

typedef struct stress_s stress_t;

typedef struct stress_call_s {
  stress_t *s;
  int thread;
  int seq;
} stress_call_t;

struct stress_s {
  eddy_reactor_t *r;
  stress_call_t calls[STRESS_THREADS][STRESS_CALLS];
  int next[STRESS_THREADS]; /* loop thread only */
  int seen[STRESS_THREADS][STRESS_CALLS];
  int total;
  int out_of_order;
  int not_on_loop;
  int done;
  atomic_int post_errors;
};

static void stress_arrived(void *arg) {
  stress_call_t *c = arg;
  stress_t *s = c->s;
  if (!eddy_in_loop_thread(s->r))
    s->not_on_loop++;
  if (c->seq != s->next[c->thread])
    s->out_of_order++;
  s->next[c->thread] = c->seq + 1;
  s->seen[c->thread][c->seq]++;
  if (++s->total == STRESS_THREADS * STRESS_CALLS)
    s->done = 1;
}

typedef struct poster_s {
  stress_t *s;
  int thread;
} poster_t;

static void poster_main(void *arg) {
  poster_t *p = arg;
  for (int i = 0; i < STRESS_CALLS; i++) {
    stress_call_t *c = &p->s->calls[p->thread][i];
    if (eddy_call_from_thread(p->s->r, stress_arrived, c) != 0)
      atomic_fetch_add(&p->s->post_errors, 1);
  }
}

Test(thread, call_from_thread_stress) {
  eddy_reactor_t *r = test_reactor(0);
  stress_t *s = calloc(1, sizeof(*s));
  cr_assert_not_null(s);
  s->r = r;
  for (int t = 0; t < STRESS_THREADS; t++)
    for (int i = 0; i < STRESS_CALLS; i++)
      s->calls[t][i] = (stress_call_t){s, t, i};
  uv_thread_t threads[STRESS_THREADS];
  poster_t posters[STRESS_THREADS];
  uint64_t start = uv_hrtime();
  for (int t = 0; t < STRESS_THREADS; t++) {
    posters[t] = (poster_t){s, t};
    cr_assert_eq(uv_thread_create(&threads[t], poster_main, &posters[t]), 0);
  }
  int ok = test_run_until(r, &s->done, 10000);
  for (int t = 0; t < STRESS_THREADS; t++)
    uv_thread_join(&threads[t]);
  uint64_t ms = (uv_hrtime() - start) / 1000000u;
  cr_assert(ok, "only %d of %d calls arrived", s->total,
            STRESS_THREADS * STRESS_CALLS);
  cr_assert_lt(ms, 10000);
  cr_assert_eq(atomic_load(&s->post_errors), 0);
  cr_assert_eq(s->out_of_order, 0, "per-thread FIFO order broken");
  cr_assert_eq(s->not_on_loop, 0);
  for (int t = 0; t < STRESS_THREADS; t++)
    for (int i = 0; i < STRESS_CALLS; i++)
      cr_assert_eq(s->seen[t][i], 1, "call %d/%d arrived %d times", t, i,
                   s->seen[t][i]);
  free(s);
  test_close_reactor(r);
}

Test(thread, call_from_thread_bad_arguments) {
  eddy_reactor_t *r = test_reactor(0);
  cr_assert_eq(eddy_call_from_thread(r, NULL, NULL), UV_EINVAL);
  cr_assert_eq(eddy_call_from_thread(NULL, stress_arrived, NULL), UV_EINVAL);
  test_close_reactor(r);
}

/* ---- blocking_call_from_thread ------------------------------------------ */

typedef struct blocking_ctx_s {
  eddy_reactor_t *r;
  int loop_calls;   /* touched only on the loop thread */
  int ran_on_loop;  /* the loop-side function saw the loop thread */
  int pool_in_loop; /* eddy_in_loop_thread seen from the pool */
} blocking_ctx_t;

/* Runs on the loop thread, called from the pool. */
static int on_loop_add(void *arg, void **result) {
  blocking_ctx_t *c = arg;
  c->ran_on_loop = eddy_in_loop_thread(c->r);
  c->loop_calls++;
  int *v = malloc(sizeof(*v));
  if (v == NULL)
    return UV_ENOMEM;
  *v = 40 + c->loop_calls;
  *result = v;
  return 0;
}

static int on_loop_fail(void *arg, void **result) {
  (void)arg;
  (void)result;
  return UV_EPERM;
}

/* Pool work: asks the loop twice, returns the second answer. */
static int pool_asks_loop(void *arg, void **result) {
  blocking_ctx_t *c = arg;
  c->pool_in_loop = eddy_in_loop_thread(c->r);
  void *v = NULL;
  int rc = eddy_blocking_call_from_thread(c->r, on_loop_add, c, &v);
  if (rc != 0)
    return rc;
  free(v);
  rc = eddy_blocking_call_from_thread(c->r, on_loop_fail, c, &v);
  if (rc != UV_EPERM)
    return UV_EPROTO;
  rc = eddy_blocking_call_from_thread(c->r, on_loop_add, c, &v);
  if (rc != 0)
    return rc;
  *result = v;
  return 0;
}

Test(thread, blocking_call_from_pool_work) {
  eddy_reactor_t *r = test_reactor(0);
  blocking_ctx_t c = {.r = r};
  outcome_t o = {0};
  eddy_deferred_t *d = eddy_defer_to_thread(r, pool_asks_loop, &c, free);
  cr_assert_not_null(d);
  eddy_deferred_add_both(d, record, &o);
  cr_assert(test_run_until(r, &o.fired, 5000));
  cr_assert_eq(o.err, 0, "%s", eddy_strerror(o.err));
  cr_assert_eq(o.value, 42);
  cr_assert_eq(c.loop_calls, 2);
  cr_assert_eq(c.ran_on_loop, 1);
  cr_assert_eq(c.pool_in_loop, 0);
  test_close_reactor(r);
}

Test(thread, blocking_call_refused_on_loop_thread) {
  eddy_reactor_t *r = test_reactor(0);
  blocking_ctx_t c = {.r = r};
  void *v = NULL;
  cr_assert(eddy_in_loop_thread(r));
  cr_assert_eq(eddy_blocking_call_from_thread(r, on_loop_add, &c, &v),
               UV_EINVAL);
  cr_assert_eq(c.loop_calls, 0);
  cr_assert_null(v);
  test_close_reactor(r);
}
