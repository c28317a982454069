/* looping.c — calls repeated on a schedule aligned to their start.
 *
 * Run k is due at start + k * interval. After a run we arm the timer for the
 * first k whose time is still ahead, so a late loop skips missed runs
 * instead of bunching them, and the schedule never drifts. */
#include <stdint.h>

#include "eddy/error.h"
#include "eddy/reactor.h"

static void looping_fire(eddy_timer_t *t);

static void arm_next(eddy_looping_t *lc) {
  eddy_reactor_t *r = lc->timer.reactor;
  uint64_t now = eddy_reactor_now(r);
  uint64_t next = lc->last_tick + 1;
  uint64_t elapsed = now > lc->start ? now - lc->start : 0;
  uint64_t due_tick = elapsed / lc->interval + 1; /* first tick after now */
  if (due_tick > next)
    next = due_tick;
  /* Saturate: with a huge interval start + next * interval would wrap into
   * the past and the call would fire at once, every iteration. */
  uint64_t due = next > (UINT64_MAX - lc->start) / lc->interval
                     ? UINT64_MAX
                     : lc->start + next * lc->interval;
  /* Cannot fail: the timer was just removed from the heap, leaving room. */
  eddy_timer_start(&lc->timer, due > now ? due - now : 0, looping_fire);
}

static void looping_fire(eddy_timer_t *t) {
  eddy_looping_t *lc = t->data;
  uint64_t now = eddy_reactor_now(t->reactor);
  uint64_t tick = (now - lc->start) / lc->interval;
  uint64_t intervals = tick > lc->last_tick ? tick - lc->last_tick : 1;
  if (lc->last_tick == UINT64_MAX) /* the run at start (now = 1) */
    intervals = 1;
  lc->last_tick = tick;
  arm_next(lc);
  /* Armed before the call so the callback may stop (or restart) it. */
  lc->cb(lc, intervals);
}

void eddy_looping_init(eddy_reactor_t *r, eddy_looping_t *lc,
                       eddy_looping_cb cb) {
  eddy_timer_init(r, &lc->timer);
  lc->timer.data = lc;
  lc->data = NULL;
  lc->cb = cb;
  lc->interval = 0;
  lc->start = 0;
  lc->last_tick = 0;
  lc->running = 0;
}

int eddy_looping_start(eddy_looping_t *lc, uint64_t interval_ms, int now) {
  if (interval_ms == 0 || lc->cb == NULL)
    return UV_EINVAL;
  lc->interval = interval_ms;
  lc->start = eddy_reactor_now(lc->timer.reactor);
  lc->last_tick = now ? UINT64_MAX : 0;
  int rc = eddy_timer_start(&lc->timer, now ? 0 : interval_ms, looping_fire);
  lc->running = rc == 0;
  return rc;
}

void eddy_looping_stop(eddy_looping_t *lc) {
  lc->running = 0;
  eddy_timer_stop(&lc->timer);
}

int eddy_looping_running(const eddy_looping_t *lc) {
  return lc->running;
}
