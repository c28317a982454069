/* reactor_internal.h — what other libeddy files may know of the reactor. */
#ifndef EDDY_REACTOR_INTERNAL_H
#define EDDY_REACTOR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "eddy/reactor.h"

/* An intrusive soon-call: objects embed one to schedule work on the next
 * iteration without allocating (and so without a failure path). */
typedef struct eddy__soon_s eddy__soon_t;
struct eddy__soon_s {
  eddy__soon_t *next;
  eddy_call_cb cb;
  void *arg;
  int queued;
  int heap_owned; /* allocated by eddy_call_soon: freed after running */
};

/* Schedules s (which must stay valid until it runs or is cancelled); does
 * nothing when s is already queued, even with another cb: the queued call
 * runs as first scheduled. Never fails. */
void eddy__reactor_soon(eddy_reactor_t *r, eddy__soon_t *s, eddy_call_cb cb,
                        void *arg);
/* Removes s from the queue if it is queued, including from the batch being
 * run right now (from inside another soon-call). */
void eddy__reactor_soon_cancel(eddy_reactor_t *r, eddy__soon_t *s);

/* Posts cb(arg) from any thread (see eddy_call_from_thread). */
int eddy__reactor_post(eddy_reactor_t *r, eddy_call_cb cb, void *arg);

/* Live-object accounting, so eddy_reactor_free can tell what was left open.
 * kind is a static string such as "deferred" or "transport". */
typedef enum {
  EDDY__LIVE_DEFERRED = 0,
  EDDY__LIVE_TRANSPORT,
  EDDY__LIVE_LISTENER,
  EDDY__LIVE_CONNECT,
  EDDY__LIVE_PROCESS,
  EDDY__LIVE_WORK,
  EDDY__LIVE_OTHER,
  EDDY__LIVE_KINDS
} eddy__live_kind_t;
void eddy__reactor_live(eddy_reactor_t *r, eddy__live_kind_t kind, int delta);

/* Reactor-owned extension state, created on demand by its module and closed
 * by eddy_reactor_free (each module registers its close function). */
typedef enum {
  EDDY__EXT_COOPERATOR = 0,
  EDDY__EXT_SIGNALS,
  EDDY__EXT_RANDOM,
  EDDY__EXT_COUNT
} eddy__ext_id_t;
typedef void (*eddy__ext_close_cb)(eddy_reactor_t *r, void *state);
void *eddy__reactor_ext(eddy_reactor_t *r, eddy__ext_id_t id);
void eddy__reactor_set_ext(eddy_reactor_t *r, eddy__ext_id_t id, void *state,
                           eddy__ext_close_cb close_cb);

/* The thread running the loop (set by eddy_reactor_new). */
int eddy__reactor_is_loop_thread(const eddy_reactor_t *r);

#endif
