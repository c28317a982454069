/* eddy/cooperate.h — long work in small steps that never starve the loop.
 *
 * Each reactor has one cooperator. Every loop iteration it runs the steps of
 * its tasks, round robin, until its time budget is spent (default 10 ms),
 * then lets the loop handle I/O and timers before going on.
 */
#ifndef EDDY_COOPERATE_H
#define EDDY_COOPERATE_H

#include <stdint.h>

#include "deferred.h"
#include "reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One step. Returns 1 for "more to do", 0 for "done" (the task's deferred
 * fires with no value), or a negative error (the deferred fails with it). */
typedef int (*eddy_step_fn)(void *arg);

/* Starts a task; its first step runs on a later loop iteration. Cancelling
 * the deferred stops the task before its next step. A task still running
 * when the reactor is freed fails with EDDY_ESTOPPED. Returns NULL only when
 * out of memory (a NULL step gives a deferred failed with UV_EINVAL). */
eddy_deferred_t *eddy_cooperate(eddy_reactor_t *r, eddy_step_fn step,
                                void *arg);
/* Microseconds of steps per loop iteration (at least 1). */
void eddy_cooperate_set_budget(eddy_reactor_t *r, uint64_t budget_us);

#ifdef __cplusplus
}
#endif
#endif
