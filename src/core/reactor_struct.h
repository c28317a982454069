/* reactor_struct.h — the reactor's fields; only src/core/reactor.c,
 * timer.c and looping.c include this. Everyone else goes through
 * reactor_internal.h. */
#ifndef EDDY_REACTOR_STRUCT_H
#define EDDY_REACTOR_STRUCT_H

#include "core/reactor_internal.h"

typedef struct eddy__post_s eddy__post_t;
struct eddy__post_s {
  eddy__post_t *next;
  eddy_call_cb cb;
  void *arg;
};

struct eddy_reactor_s {
  uv_loop_t loop;
  unsigned flags;
  uv_thread_t loop_thread;
  uint64_t fake_now;

  /* Soon-calls: `pending` runs on the next iteration; `running` is the batch
   * being drained now (kept in the reactor so a cancel can unlink from it). */
  eddy__soon_t *pending_head, *pending_tail;
  eddy__soon_t *running_head;
  uv_idle_t idle;

  /* Timers: a binary min-heap ordered by (due, seq), driven by one uv timer. */
  eddy_timer_t **heap;
  size_t heap_len, heap_cap;
  uint64_t timer_seq;
  uv_timer_t uv_timer;
  int in_timer_run;
  /* Set when a zero-delay re-arm stalled a run inside libuv's timer phase:
   * the uv timer is re-armed from the idle phase instead (see on_uv_timer). */
  int rearm_from_idle;

  /* Calls posted from other threads. */
  uv_mutex_t post_mutex;
  uv_async_t async;
  eddy__post_t *post_head, *post_tail;
  int post_closed;

  size_t live[EDDY__LIVE_KINDS];
  struct {
    void *state;
    eddy__ext_close_cb close;
  } ext[EDDY__EXT_COUNT];
};

/* timer.c */
/* Fires the timers due at or before limit; returns non-zero when a timer
 * re-armed with zero delay during the run is due now and was left for the
 * next iteration. */
int eddy__timers_fire_due(eddy_reactor_t *r, uint64_t limit);
void eddy__timers_rearm(eddy_reactor_t *r);

#endif
