/* eddy/signal.h — signals delivered on the loop.
 *
 * The C signal handler (libuv's) only notes the signal; the callback runs on
 * the loop thread, where it may do anything.
 */
#ifndef EDDY_SIGNAL_H
#define EDDY_SIGNAL_H

#include "reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_signal_s eddy_signal_t;
typedef void (*eddy_signal_cb)(eddy_signal_t *s, int signum, void *arg);

/* Library-owned watcher. It does not keep the loop running by itself. */
int eddy_signal_watch(eddy_reactor_t *r, int signum, eddy_signal_cb cb,
                      void *arg, eddy_signal_t **out);
/* Stops watching; frees the watcher on a later iteration. */
void eddy_signal_close(eddy_signal_t *s);

/* Graceful stop: on the first SIGINT or SIGTERM calls on_stop(arg), or
 * eddy_reactor_stop(r) when on_stop is NULL; a second one exits the process
 * at once with status 130 (SIGINT) or 143 (SIGTERM). The watchers belong to
 * the reactor and are closed with it. Calling it again only replaces on_stop
 * and arg. */
int eddy_stop_on_signals(eddy_reactor_t *r, eddy_call_cb on_stop, void *arg);

#ifdef __cplusplus
}
#endif
#endif
