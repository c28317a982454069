/* thread.c — blocking work on libuv's pool, and calls into the loop from
 * other threads.
 *
 * The cross-thread queue itself lives in the reactor (eddy__reactor_post):
 * it is shared with everything else that wakes the loop, and it drains the
 * whole queue on every wake-up because uv_async_send coalesces.
 */
#include <stdlib.h>
#include <uv.h>

#include "core/reactor_internal.h"
#include "eddy/error.h"
#include "eddy/thread.h"

typedef struct work_s {
  uv_work_t req;
  eddy_reactor_t *r;
  /* NULL once the deferred was cancelled: it has fired (with UV_ECANCELED)
   * and may be freed at the end of the iteration, so it must not be touched
   * when the work completes. */
  eddy_deferred_t *d;
  eddy_work_fn fn;
  void *arg;
  eddy_free_cb result_free;
  void *result;
  int rc;
} work_t;

static void work_run(uv_work_t *req) {
  work_t *w = req->data;
  w->result = NULL;
  w->rc = w->fn(w->arg, &w->result);
}

static void work_done(uv_work_t *req, int status) {
  work_t *w = req->data;
  eddy_reactor_t *r = w->r;
  eddy_deferred_t *d = w->d;

  if (status == 0 && w->rc < 0 && w->result != NULL && w->result_free)
    w->result_free(w->result); /* a failing work's stray result */

  if (d == NULL) {
    /* Cancelled after it started: nobody wants the result. */
    if (status == 0 && w->rc >= 0 && w->result != NULL && w->result_free)
      w->result_free(w->result);
  } else if (status != 0) {
    /* uv_cancel succeeded but the canceller did not run (cannot happen
     * today); fail rather than lose the deferred. */
    eddy_deferred_errback(d, status, NULL);
  } else if (w->rc < 0) {
    eddy_deferred_errback(d, w->rc, NULL);
  } else {
    eddy_deferred_callback(d, w->result, w->result_free);
  }
  free(w);
  eddy__reactor_live(r, EDDY__LIVE_WORK, -1);
}

static void work_cancel(eddy_deferred_t *d, void *arg) {
  (void)d;
  work_t *w = arg;
  /* Succeeds only while the work still waits in the pool's queue; either
   * way work_done runs later and releases w. The deferred fails with
   * UV_ECANCELED as soon as this returns. */
  w->d = NULL;
  uv_cancel((uv_req_t *)&w->req);
}

eddy_deferred_t *eddy_defer_to_thread(eddy_reactor_t *r, eddy_work_fn work,
                                      void *arg, eddy_free_cb result_free) {
  if (work == NULL)
    return eddy_deferred_fail(r, UV_EINVAL, "defer_to_thread: no work");
  work_t *w = calloc(1, sizeof(*w));
  if (w == NULL)
    return NULL;
  eddy_deferred_t *d = eddy_deferred_new_cancellable(r, work_cancel, w);
  if (d == NULL) {
    free(w);
    return NULL;
  }
  w->req.data = w;
  w->r = r;
  w->d = d;
  w->fn = work;
  w->arg = arg;
  w->result_free = result_free;
  int rc = uv_queue_work(eddy_reactor_loop(r), &w->req, work_run, work_done);
  if (rc != 0) {
    /* Only possible with a NULL work callback, which we never pass; still,
     * report instead of leaking a deferred that would never fire. */
    w->d = NULL;
    free(w);
    eddy_deferred_errback(d, rc, NULL);
    return d;
  }
  eddy__reactor_live(r, EDDY__LIVE_WORK, +1);
  return d;
}

int eddy_call_from_thread(eddy_reactor_t *r, eddy_call_cb cb, void *arg) {
  if (r == NULL || cb == NULL)
    return UV_EINVAL;
  return eddy__reactor_post(r, cb, arg);
}

/* Lives on the waiting thread's stack; the loop thread must not touch it
 * once it has set `done` and released the mutex. */
typedef struct blocking_s {
  uv_mutex_t mu;
  uv_cond_t cv;
  eddy_work_fn fn;
  void *arg;
  void *result;
  int rc;
  int done;
} blocking_t;

static void blocking_run(void *arg) {
  blocking_t *b = arg;
  void *result = NULL;
  int rc = b->fn(b->arg, &result);
  uv_mutex_lock(&b->mu);
  b->result = result;
  b->rc = rc;
  b->done = 1;
  uv_cond_signal(&b->cv);
  uv_mutex_unlock(&b->mu);
}

int eddy_blocking_call_from_thread(eddy_reactor_t *r, eddy_work_fn fn,
                                   void *arg, void **result) {
  if (r == NULL || fn == NULL)
    return UV_EINVAL;
  if (eddy__reactor_is_loop_thread(r))
    return UV_EINVAL; /* the loop would wait for itself */
  blocking_t b = {.fn = fn, .arg = arg};
  int rc = uv_mutex_init(&b.mu);
  if (rc != 0)
    return rc;
  rc = uv_cond_init(&b.cv);
  if (rc != 0) {
    uv_mutex_destroy(&b.mu);
    return rc;
  }
  rc = eddy__reactor_post(r, blocking_run, &b);
  if (rc == 0) {
    uv_mutex_lock(&b.mu);
    while (!b.done)
      uv_cond_wait(&b.cv, &b.mu);
    uv_mutex_unlock(&b.mu);
    rc = b.rc;
    if (result != NULL)
      *result = b.result;
  }
  uv_cond_destroy(&b.cv);
  uv_mutex_destroy(&b.mu);
  return rc;
}

int eddy_in_loop_thread(const eddy_reactor_t *r) {
  return eddy__reactor_is_loop_thread(r);
}
