/* signal.c — signals delivered on the loop.
 *
 * libuv's own handler only writes to a pipe; the callbacks here run on the
 * loop thread. Watchers are unreferenced: watching for a signal is not a
 * reason for the loop to keep running.
 */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "core/reactor_internal.h"
#include "eddy/error.h"
#include "eddy/signal.h"

struct eddy_signal_s {
  uv_signal_t handle;
  eddy_signal_cb cb;
  void *arg;
};

static void watch_fired(uv_signal_t *h, int signum) {
  eddy_signal_t *s = h->data;
  if (s->cb != NULL)
    s->cb(s, signum, s->arg);
}

static void watch_closed(uv_handle_t *h) {
  free(h->data);
}

int eddy_signal_watch(eddy_reactor_t *r, int signum, eddy_signal_cb cb,
                      void *arg, eddy_signal_t **out) {
  if (r == NULL || cb == NULL || out == NULL || signum <= 0)
    return UV_EINVAL;
  eddy_signal_t *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return UV_ENOMEM;
  int rc = uv_signal_init(eddy_reactor_loop(r), &s->handle);
  if (rc != 0) {
    free(s);
    return rc;
  }
  s->handle.data = s;
  s->cb = cb;
  s->arg = arg;
  rc = uv_signal_start(&s->handle, watch_fired, signum);
  if (rc != 0) {
    /* The handle exists now, so it can only go away asynchronously. */
    uv_close((uv_handle_t *)&s->handle, watch_closed);
    return rc;
  }
  uv_unref((uv_handle_t *)&s->handle);
  *out = s;
  return 0;
}

void eddy_signal_close(eddy_signal_t *s) {
  if (s == NULL || uv_is_closing((uv_handle_t *)&s->handle))
    return;
  s->cb = NULL;
  uv_close((uv_handle_t *)&s->handle, watch_closed);
}

/* ---- Graceful stop ------------------------------------------------------ */

typedef struct stopper_s {
  eddy_reactor_t *r;
  uv_signal_t sigint;
  uv_signal_t sigterm;
  int opened; /* handles initialised, each needing a close */
  eddy_call_cb on_stop;
  void *arg;
  int stopping;
} stopper_t;

static void stopper_fired(uv_signal_t *h, int signum) {
  stopper_t *st = h->data;
  if (st->stopping) {
    /* The operator insists: the graceful stop is stuck or too slow. */
    _exit(128 + signum);
  }
  st->stopping = 1;
  if (st->on_stop != NULL)
    st->on_stop(st->arg);
  else
    eddy_reactor_stop(st->r);
}

static void stopper_handle_closed(uv_handle_t *h) {
  stopper_t *st = h->data;
  if (--st->opened == 0)
    free(st);
}

static void stopper_close(stopper_t *st) {
  int n = st->opened;
  if (n == 0) {
    free(st);
    return;
  }
  /* Read `opened` first: the last close callback frees st. */
  if (n >= 1)
    uv_close((uv_handle_t *)&st->sigint, stopper_handle_closed);
  if (n >= 2)
    uv_close((uv_handle_t *)&st->sigterm, stopper_handle_closed);
}

static void stopper_ext_close(eddy_reactor_t *r, void *state) {
  (void)r;
  stopper_close(state);
}

static int stopper_open(stopper_t *st, uv_loop_t *loop, uv_signal_t *h,
                        int signum) {
  int rc = uv_signal_init(loop, h);
  if (rc != 0)
    return rc;
  h->data = st;
  st->opened++;
  rc = uv_signal_start(h, stopper_fired, signum);
  if (rc != 0)
    return rc;
  uv_unref((uv_handle_t *)h);
  return 0;
}

int eddy_stop_on_signals(eddy_reactor_t *r, eddy_call_cb on_stop, void *arg) {
  if (r == NULL)
    return UV_EINVAL;
  stopper_t *st = eddy__reactor_ext(r, EDDY__EXT_SIGNALS);
  if (st != NULL) {
    st->on_stop = on_stop;
    st->arg = arg;
    return 0;
  }
  st = calloc(1, sizeof(*st));
  if (st == NULL)
    return UV_ENOMEM;
  st->r = r;
  st->on_stop = on_stop;
  st->arg = arg;
  uv_loop_t *loop = eddy_reactor_loop(r);
  int rc = stopper_open(st, loop, &st->sigint, SIGINT);
  if (rc == 0)
    rc = stopper_open(st, loop, &st->sigterm, SIGTERM);
  if (rc != 0) {
    stopper_close(st);
    return rc;
  }
  eddy__reactor_set_ext(r, EDDY__EXT_SIGNALS, st, stopper_ext_close);
  return 0;
}
