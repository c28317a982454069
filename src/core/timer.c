/* timer.c — caller-owned timers on one min-heap per reactor, delayed calls,
 * and the fake clock's advance. */
#include "core/reactor_struct.h"

#include <inttypes.h>
#include <stdlib.h>

#include "eddy/error.h"
#include "eddy/log.h"

#define NOT_ARMED ((size_t)-1)
#define MAX_ADVANCE_RUNS 1000

static int before(const eddy_timer_t *a, const eddy_timer_t *b) {
  return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_set(eddy_reactor_t *r, size_t i, eddy_timer_t *t) {
  r->heap[i] = t;
  t->heap_index = i;
}

static void sift_up(eddy_reactor_t *r, size_t i) {
  eddy_timer_t *t = r->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!before(t, r->heap[parent]))
      break;
    heap_set(r, i, r->heap[parent]);
    i = parent;
  }
  heap_set(r, i, t);
}

static void sift_down(eddy_reactor_t *r, size_t i) {
  eddy_timer_t *t = r->heap[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= r->heap_len)
      break;
    if (child + 1 < r->heap_len && before(r->heap[child + 1], r->heap[child]))
      child++;
    if (!before(r->heap[child], t))
      break;
    heap_set(r, i, r->heap[child]);
    i = child;
  }
  heap_set(r, i, t);
}

static void heap_remove(eddy_reactor_t *r, eddy_timer_t *t) {
  size_t i = t->heap_index;
  t->heap_index = NOT_ARMED;
  r->heap_len--;
  if (i == r->heap_len)
    return;
  eddy_timer_t *moved = r->heap[r->heap_len];
  heap_set(r, i, moved);
  sift_down(r, i);
  if (moved->heap_index == i)
    sift_up(r, i);
}

void eddy_timer_init(eddy_reactor_t *r, eddy_timer_t *t) {
  t->data = NULL;
  t->reactor = r;
  t->cb = NULL;
  t->due = 0;
  t->seq = 0;
  t->heap_index = NOT_ARMED;
}

int eddy_timer_start(eddy_timer_t *t, uint64_t delay_ms, eddy_timer_cb cb) {
  eddy_reactor_t *r = t->reactor;
  if (cb == NULL)
    return UV_EINVAL;
  if (t->heap_index != NOT_ARMED)
    heap_remove(r, t);
  if (r->heap_len == r->heap_cap) {
    size_t cap = r->heap_cap ? r->heap_cap * 2 : 16;
    eddy_timer_t **heap = realloc(r->heap, cap * sizeof(*heap));
    if (heap == NULL)
      return UV_ENOMEM;
    r->heap = heap;
    r->heap_cap = cap;
  }
  uint64_t now = eddy_reactor_now(r);
  t->cb = cb;
  t->due = delay_ms > UINT64_MAX - now ? UINT64_MAX : now + delay_ms;
  t->seq = r->timer_seq++;
  r->heap_len++;
  heap_set(r, r->heap_len - 1, t);
  sift_up(r, r->heap_len - 1);
  if (!r->in_timer_run)
    eddy__timers_rearm(r);
  return 0;
}

void eddy_timer_stop(eddy_timer_t *t) {
  if (t->heap_index == NOT_ARMED)
    return;
  eddy_reactor_t *r = t->reactor;
  heap_remove(r, t);
  if (!r->in_timer_run)
    eddy__timers_rearm(r);
}

int eddy_timer_active(const eddy_timer_t *t) {
  return t->heap_index != NOT_ARMED;
}

/* Fires timers due at or before `limit`, in (due, seq) order. A timer armed
 * during this run with a zero delay would be due again at once; it waits for
 * the next run, so a self-rearming timer cannot spin the loop. Returns the
 * number fired; *stalled is set when such a timer stopped the run. */
static int fire_run(eddy_reactor_t *r, uint64_t limit, int *stalled) {
  uint64_t first_seq = r->timer_seq;
  int fired = 0;
  /* Restored, not cleared, at the end: a fake-clock callback may advance the
   * clock itself, which nests a run inside this one. */
  int outer = r->in_timer_run;
  r->in_timer_run = 1;
  while (r->heap_len > 0) {
    eddy_timer_t *t = r->heap[0];
    if (t->due > limit)
      break;
    if (t->seq >= first_seq && t->due <= eddy_reactor_now(r)) {
      *stalled = 1;
      break;
    }
    heap_remove(r, t);
    if ((r->flags & EDDY_REACTOR_FAKE_CLOCK) && t->due > r->fake_now)
      r->fake_now = t->due;
    fired++;
    t->cb(t);
  }
  r->in_timer_run = outer;
  return fired;
}

int eddy__timers_fire_due(eddy_reactor_t *r, uint64_t limit) {
  int stalled = 0;
  fire_run(r, limit, &stalled);
  return stalled;
}

int eddy_reactor_advance(eddy_reactor_t *r, uint64_t ms) {
  if (!(r->flags & EDDY_REACTOR_FAKE_CLOCK))
    return EDDY_EFAKECLOCK;
  uint64_t target =
      ms > UINT64_MAX - r->fake_now ? UINT64_MAX : r->fake_now + ms;
  int fired = 0;
  int stalled = 0;
  /* Zero-delay re-arms stall a run; start a new one for them, but bounded
   * so a timer that re-arms itself for ever cannot hang the test. */
  for (int runs = 0; runs < MAX_ADVANCE_RUNS; runs++) {
    stalled = 0;
    fired += fire_run(r, target, &stalled);
    if (!stalled)
      break;
  }
  if (stalled)
    eddy_log(EDDY_LOG_WARN, "reactor.advance_stalled",
             "runs=%d now=%" PRIu64 " target=%" PRIu64, MAX_ADVANCE_RUNS,
             r->fake_now, target);
  /* A callback may itself have advanced past target; time never goes back. */
  if (r->fake_now < target)
    r->fake_now = target;
  return fired;
}

/* ---- Delayed calls ------------------------------------------------------- */

struct eddy_delayed_s {
  eddy_timer_t timer;
  eddy_call_cb cb;
  void *arg;
};

static void delayed_fire(eddy_timer_t *t) {
  eddy_delayed_t *d = (eddy_delayed_t *)t;
  eddy_call_cb cb = d->cb;
  void *arg = d->arg;
  free(d);
  cb(arg);
}

eddy_delayed_t *eddy_call_later(eddy_reactor_t *r, uint64_t delay_ms,
                                eddy_call_cb cb, void *arg) {
  eddy_delayed_t *d = malloc(sizeof(*d));
  if (d == NULL)
    return NULL;
  eddy_timer_init(r, &d->timer);
  d->cb = cb;
  d->arg = arg;
  if (eddy_timer_start(&d->timer, delay_ms, delayed_fire) != 0) {
    free(d);
    return NULL;
  }
  return d;
}

void eddy_delayed_cancel(eddy_delayed_t *d) {
  if (d == NULL)
    return;
  eddy_timer_stop(&d->timer);
  free(d);
}
