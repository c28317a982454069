/* eddy/reconnect.h — exponential backoff and a client that reconnects.
 *
 * The delay before retry n (n = 0 for the first retry) is
 *     d = initial * factor^n, then jittered: d * (1 + jitter * (2u - 1)),
 *     u uniform in [0, 1), then clamped to [0, max].
 * Jitter is applied before the clamp, so no delay ever exceeds max or goes
 * negative, and the first retry waits the initial delay (jittered) — the two
 * things Twisted's ReconnectingClientFactory gets wrong. A connection that
 * was made resets n to 0.
 */
#ifndef EDDY_RECONNECT_H
#define EDDY_RECONNECT_H

#include <stdint.h>

#include "deferred.h"
#include "protocol.h"
#include "reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_backoff_s {
  uint64_t initial_ms; /* default 1000 */
  uint64_t max_ms;     /* default 60000 */
  double factor;       /* default 2.0; >= 1 */
  double jitter;       /* default 0.1; in [0, 1] */
} eddy_backoff_t;

/* Fills in the defaults. */
void eddy_backoff_init(eddy_backoff_t *b);
/* Pure: the delay before retry `attempt` for a given u in [0, 1). */
uint64_t eddy_backoff_delay(const eddy_backoff_t *b, unsigned attempt,
                            double u);

typedef struct eddy_reconnecting_s eddy_reconnecting_t;

typedef struct eddy_reconnect_opts_s {
  eddy_backoff_t backoff;
  /* 0 = retry for ever; otherwise give up after this many consecutive
   * failed attempts (connect_failed then gets next_delay_ms UINT64_MAX). */
  unsigned max_retries;
  /* Optional observers. `next_delay_ms` is UINT64_MAX when giving up. */
  void (*connected)(eddy_reconnecting_t *rc, eddy_protocol_t *p, void *arg);
  void (*connect_failed)(eddy_reconnecting_t *rc, int err,
                         uint64_t next_delay_ms, void *arg);
  void (*connection_lost)(eddy_reconnecting_t *rc, int reason,
                          uint64_t next_delay_ms, void *arg);
  void *arg;
  /* Source of u for the jitter, called with `arg`; NULL uses a per-reactor
   * PRNG seeded from the clock. */
  double (*random)(void *arg);
} eddy_reconnect_opts_t;

void eddy_reconnect_opts_init(eddy_reconnect_opts_t *o);

/* Library-owned. Connects to endpoint (a client endpoint string) with f,
 * and again after every failure or lost connection, until stopped or
 * max_retries consecutive failures. The first attempt is made on the next
 * loop iteration. Returns 0, EDDY_EPARSE for a bad endpoint, or UV_EINVAL
 * for bad arguments (factor < 1, jitter outside [0, 1]). f must outlive rc
 * and every connection it made. While connected, rc observes the protocol
 * through its lost_hook fields. */
int eddy_reconnecting_start(eddy_reactor_t *r, const char *endpoint,
                            eddy_factory_t *f, const eddy_reconnect_opts_t *o,
                            eddy_reconnecting_t **out);
/* Stops trying: cancels a pending retry or attempt. A current connection is
 * left alone (lose it yourself if wanted). Frees rc once nothing refers to it
 * any more; do not use rc afterwards. Also needed after giving up: rc stays
 * valid until stopped. May be called from the observers. */
void eddy_reconnecting_stop(eddy_reconnecting_t *rc);
/* The protocol currently connected, or NULL. */
eddy_protocol_t *eddy_reconnecting_protocol(const eddy_reconnecting_t *rc);
/* Consecutive failed attempts since the last good connection. */
unsigned eddy_reconnecting_retries(const eddy_reconnecting_t *rc);

#ifdef __cplusplus
}
#endif
#endif
