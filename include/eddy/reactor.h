/* eddy/reactor.h — the event loop, its clock, and delayed and looping calls.
 *
 * A reactor owns one libuv loop. Every eddy API takes the reactor explicitly;
 * there is no hidden global loop, so a test can hand any API a reactor whose
 * clock it moves by hand (EDDY_REACTOR_FAKE_CLOCK).
 *
 * Time is in milliseconds on a monotonic clock. With a real clock it is
 * libuv's cached loop time; with a fake clock it starts at 0 and moves only
 * when eddy_reactor_advance() is called.
 *
 * Rules (see docs/design.md):
 *  - Callbacks run on the loop thread, never from inside the call that
 *    scheduled them.
 *  - Nothing here is thread-safe except where a function says so; use
 *    eddy_call_from_thread (eddy/thread.h) from other threads.
 */
#ifndef EDDY_REACTOR_H
#define EDDY_REACTOR_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_reactor_s eddy_reactor_t;

/* The generic "call this later with this argument" callback. */
typedef void (*eddy_call_cb)(void *arg);

/* Flags for eddy_reactor_new. */
enum {
  /* Time moves only through eddy_reactor_advance(); timers never fire on
   * their own. For tests. */
  EDDY_REACTOR_FAKE_CLOCK = 1u << 0
};

/* Creates a reactor (library-owned; free with eddy_reactor_free). */
int eddy_reactor_new(eddy_reactor_t **out, unsigned flags);

/* Frees the reactor. Returns 0 when everything was closed; otherwise returns
 * EDDY_EBUSYCLOSE, logs what is still open (handles, timers, soon-calls, live
 * deferreds, libuv requests in flight) and frees nothing, so a test can
 * assert a clean shutdown with `cr_assert_eq(eddy_reactor_free(r), 0)`.
 * It first runs calls already posted from other threads (eddy_call_from_thread
 * then fails with EDDY_ESTOPPED until free returns), closes the reactor's own
 * extensions (cooperator, signal watchers), and runs the loop without
 * blocking so pending close callbacks complete. Not from a callback running
 * on r's loop. */
int eddy_reactor_free(eddy_reactor_t *r);

/* Runs the loop until eddy_reactor_stop() or until nothing is left that
 * could produce an event. The wake-up used by eddy_call_from_thread does not
 * by itself keep the loop running. Returns 0 or a negative error. */
int eddy_reactor_run(eddy_reactor_t *r);

/* Runs one loop iteration. With block = 0 it never waits for I/O. Returns
 * non-zero when more work remains. Useful in tests. */
int eddy_reactor_run_once(eddy_reactor_t *r, int block);

/* Makes eddy_reactor_run return after the current iteration. Safe to call
 * from any callback. */
void eddy_reactor_stop(eddy_reactor_t *r);

/* Current time in ms (see above). */
uint64_t eddy_reactor_now(const eddy_reactor_t *r);

/* Fake clock only: moves time forward by ms and fires every timer that became
 * due, in deadline order, each at its own deadline (so a timer re-armed from a
 * callback can fire again within the same advance). Returns the number of
 * timers fired, or EDDY_EFAKECLOCK on a real clock. */
int eddy_reactor_advance(eddy_reactor_t *r, uint64_t ms);

/* Non-zero when the reactor uses a fake clock. */
int eddy_reactor_is_fake(const eddy_reactor_t *r);

/* The libuv loop, for code that uses libuv directly. Handles opened on it
 * must be closed before eddy_reactor_free. */
uv_loop_t *eddy_reactor_loop(eddy_reactor_t *r);

/* Runs cb(arg) on the next loop iteration, in FIFO order. Calls scheduled
 * from inside a soon-call run on the following iteration, so a chain of
 * soon-calls cannot starve I/O. Returns 0, UV_EINVAL (cb NULL) or
 * UV_ENOMEM. */
int eddy_call_soon(eddy_reactor_t *r, eddy_call_cb cb, void *arg);

/* ---- Timers (caller-owned) ---------------------------------------------
 * An eddy_timer_t lives in the caller's memory, allocates nothing, and needs
 * no close: stopping it (or letting it fire) removes it from the reactor.
 * Timers with equal deadlines fire in the order they were started. A timer
 * (re)started with zero delay from a timer callback fires on the next loop
 * iteration, not in the current one, so a timer re-arming itself with zero
 * delay cannot starve I/O (with a fake clock it fires again within the same
 * eddy_reactor_advance, for at most 1000 rounds). */
typedef struct eddy_timer_s eddy_timer_t;
typedef void (*eddy_timer_cb)(eddy_timer_t *t);

struct eddy_timer_s {
  void *data; /* for the caller */
  /* private */
  eddy_reactor_t *reactor;
  eddy_timer_cb cb;
  uint64_t due;
  uint64_t seq;
  size_t heap_index; /* SIZE_MAX when not armed */
};

void eddy_timer_init(eddy_reactor_t *r, eddy_timer_t *t);
/* (Re)arms t to call cb after delay_ms (the deadline saturates at
 * UINT64_MAX). Returns 0, UV_EINVAL (cb NULL) or UV_ENOMEM. */
int eddy_timer_start(eddy_timer_t *t, uint64_t delay_ms, eddy_timer_cb cb);
/* Disarms t; harmless when it is not armed. */
void eddy_timer_stop(eddy_timer_t *t);
int eddy_timer_active(const eddy_timer_t *t);

/* ---- Delayed calls (library-owned) -------------------------------------
 * Fire-and-forget: the handle is valid until cb has been called or the call
 * was cancelled, and must not be used after either. Code that needs to cancel
 * at an unknown time should embed an eddy_timer_t instead. */
typedef struct eddy_delayed_s eddy_delayed_t;

/* Returns NULL only when out of memory. */
eddy_delayed_t *eddy_call_later(eddy_reactor_t *r, uint64_t delay_ms,
                                eddy_call_cb cb, void *arg);
void eddy_delayed_cancel(eddy_delayed_t *d);

/* ---- Looping calls (caller-owned) --------------------------------------
 * Calls cb every interval, aligned to the start time: runs are due at
 * start + k * interval. When the loop was too busy and one or more runs were
 * missed, they are skipped, not bunched: cb runs once, with `intervals` set to
 * the number of intervals elapsed since its previous run (1 when on time). */
typedef struct eddy_looping_s eddy_looping_t;
typedef void (*eddy_looping_cb)(eddy_looping_t *lc, uint64_t intervals);

struct eddy_looping_s {
  void *data; /* for the caller */
  /* private */
  eddy_timer_t timer;
  eddy_looping_cb cb;
  uint64_t interval;
  uint64_t start;
  uint64_t last_tick; /* index k of the last run */
  int running;
};

void eddy_looping_init(eddy_reactor_t *r, eddy_looping_t *lc,
                       eddy_looping_cb cb);
/* Starts calling cb every interval_ms (> 0, else UV_EINVAL; also UV_EINVAL
 * without a callback, UV_ENOMEM). With now != 0 the first run is due at
 * once — on the next loop iteration, or with a fake clock on the next
 * eddy_reactor_advance (even by 0) — else after one interval. The callback
 * may stop or restart the looping call. Restarting a running call starts a
 * new schedule from now. */
int eddy_looping_start(eddy_looping_t *lc, uint64_t interval_ms, int now);
void eddy_looping_stop(eddy_looping_t *lc);
int eddy_looping_running(const eddy_looping_t *lc);

#ifdef __cplusplus
}
#endif
#endif
