/* cooperate.c — the per-reactor cooperator (Twisted's task.cooperate).
 *
 * One slice per loop iteration: steps of the tasks in round robin until the
 * budget is spent, then the slice re-schedules itself as a soon-call. A
 * soon-call queued from inside a soon-call runs on the following iteration,
 * so the loop polls for I/O and runs timers between two slices.
 *
 * The budget is measured in real time (uv_hrtime), not reactor time: it is
 * about how long the loop is kept busy, which a fake clock says nothing of.
 */
#include <stdlib.h>
#include <uv.h>

#include "core/reactor_internal.h"
#include "eddy/cooperate.h"
#include "eddy/error.h"

#define DEFAULT_BUDGET_US 10000u

typedef struct coop_s coop_t;

typedef struct task_s {
  struct task_s *next;
  struct task_s *prev;
  coop_t *co;
  eddy_step_fn step;
  void *arg;
  eddy_deferred_t *d;
  int cancelled; /* cancelled while its own step was running */
} task_t;

struct coop_s {
  eddy_reactor_t *r;
  task_t *head;
  task_t *tail;
  task_t *current; /* the task whose step is running, off the list */
  uint64_t budget_ns;
  eddy__soon_t soon;
};

static void task_append(coop_t *co, task_t *t) {
  t->next = NULL;
  t->prev = co->tail;
  if (co->tail != NULL)
    co->tail->next = t;
  else
    co->head = t;
  co->tail = t;
}

static void task_unlink(coop_t *co, task_t *t) {
  if (t->prev != NULL)
    t->prev->next = t->next;
  else
    co->head = t->next;
  if (t->next != NULL)
    t->next->prev = t->prev;
  else
    co->tail = t->prev;
  t->next = t->prev = NULL;
}

static void slice(void *arg) {
  coop_t *co = arg;
  uint64_t start = uv_hrtime();
  /* At least one step per slice, however small the budget. */
  do {
    task_t *t = co->head;
    if (t == NULL)
      break;
    /* Off the list while it runs: its step or a deferred callback may add
     * or cancel tasks, this one included. */
    task_unlink(co, t);
    co->current = t;
    int rc = t->step(t->arg);
    co->current = NULL;
    if (t->cancelled) {
      free(t); /* its deferred already failed with UV_ECANCELED */
      continue;
    }
    if (rc > 0) {
      task_append(co, t);
      continue;
    }
    eddy_deferred_t *d = t->d;
    free(t);
    /* Fired last: the callbacks may do anything, including freeing state
     * the step used. */
    if (rc == 0)
      eddy_deferred_callback(d, NULL, NULL);
    else
      eddy_deferred_errback(d, rc, NULL);
  } while (uv_hrtime() - start < co->budget_ns);

  if (co->head != NULL)
    eddy__reactor_soon(co->r, &co->soon, slice, co);
}

static void task_cancel(eddy_deferred_t *d, void *arg) {
  (void)d;
  task_t *t = arg;
  coop_t *co = t->co;
  if (co->current == t) {
    t->cancelled = 1; /* slice() frees it when the step returns */
    return;
  }
  task_unlink(co, t);
  free(t);
  if (co->head == NULL)
    eddy__reactor_soon_cancel(co->r, &co->soon);
}

static void coop_ext_close(eddy_reactor_t *r, void *state) {
  coop_t *co = state;
  eddy__reactor_soon_cancel(r, &co->soon);
  /* Tasks still queued when the reactor is freed will never finish. They
   * fail with EDDY_ESTOPPED (reported as unhandled unless someone listens),
   * which also guarantees their canceller never runs on freed memory. */
  while (co->head != NULL) {
    task_t *t = co->head;
    task_unlink(co, t);
    eddy_deferred_t *d = t->d;
    free(t);
    eddy_deferred_errback(d, EDDY_ESTOPPED,
                          "reactor freed before the task"
                          " finished");
  }
  free(co);
}

static coop_t *coop_get(eddy_reactor_t *r) {
  coop_t *co = eddy__reactor_ext(r, EDDY__EXT_COOPERATOR);
  if (co != NULL)
    return co;
  co = calloc(1, sizeof(*co));
  if (co == NULL)
    return NULL;
  co->r = r;
  co->budget_ns = (uint64_t)DEFAULT_BUDGET_US * 1000u;
  eddy__reactor_set_ext(r, EDDY__EXT_COOPERATOR, co, coop_ext_close);
  return co;
}

eddy_deferred_t *eddy_cooperate(eddy_reactor_t *r, eddy_step_fn step,
                                void *arg) {
  if (step == NULL)
    return eddy_deferred_fail(r, UV_EINVAL, "cooperate: no step function");
  coop_t *co = coop_get(r);
  if (co == NULL)
    return NULL;
  task_t *t = calloc(1, sizeof(*t));
  if (t == NULL)
    return NULL;
  t->d = eddy_deferred_new_cancellable(r, task_cancel, t);
  if (t->d == NULL) {
    free(t);
    return NULL;
  }
  t->co = co;
  t->step = step;
  t->arg = arg;
  task_append(co, t);
  eddy__reactor_soon(r, &co->soon, slice, co);
  return t->d;
}

void eddy_cooperate_set_budget(eddy_reactor_t *r, uint64_t budget_us) {
  coop_t *co = coop_get(r);
  if (co == NULL)
    return; /* out of memory: nothing to configure, nothing can run */
  if (budget_us < 1)
    budget_us = 1;
  if (budget_us > UINT64_MAX / 1000u)
    budget_us = UINT64_MAX / 1000u;
  co->budget_ns = budget_us * 1000u;
}
