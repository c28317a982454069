/* eddy/thread.h — the bridge between the loop and other threads.
 *
 * defer_to_thread runs blocking work on libuv's thread pool and fires a
 * deferred on the loop with its result. call_from_thread is the only eddy
 * call that is safe from any thread: it queues a call for the loop thread
 * and wakes the loop; every wake-up drains the whole queue (libuv coalesces
 * wake-ups, so one wake-up may stand for many calls).
 */
#ifndef EDDY_THREAD_H
#define EDDY_THREAD_H

#include "deferred.h"
#include "reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Runs on a pool thread. Returns 0 and sets *result (owned by the deferred,
 * freed with result_free), or returns a negative error. Must not call eddy
 * functions other than eddy_call_from_thread and
 * eddy_blocking_call_from_thread. */
typedef int (*eddy_work_fn)(void *arg, void **result);

/* Cancelling the deferred before the work started removes it from the
 * queue; once started, the work runs to the end and its result is freed.
 * Either way the deferred fails with UV_ECANCELED at once. Returns NULL only
 * when out of memory (a NULL work gives a deferred failed with UV_EINVAL). */
eddy_deferred_t *eddy_defer_to_thread(eddy_reactor_t *r, eddy_work_fn work,
                                      void *arg, eddy_free_cb result_free);

/* Any thread: runs cb(arg) on the loop thread, in FIFO order per calling
 * thread. Returns 0, UV_ENOMEM, or EDDY_ESTOPPED once the reactor is being
 * freed. The reactor must be running (or run later) for cb to run. */
int eddy_call_from_thread(eddy_reactor_t *r, eddy_call_cb cb, void *arg);

/* A thread other than the loop's: runs fn(arg, &result) on the loop thread
 * and waits for it. Returns fn's return value (result in *result, now the
 * caller's), UV_EINVAL when called on the loop thread (it would deadlock),
 * or an error of eddy_call_from_thread. It waits as long as the loop takes
 * to get there: the reactor must keep running. */
int eddy_blocking_call_from_thread(eddy_reactor_t *r, eddy_work_fn fn,
                                   void *arg, void **result);

/* Non-zero on the reactor's loop thread. */
int eddy_in_loop_thread(const eddy_reactor_t *r);

#ifdef __cplusplus
}
#endif
#endif
