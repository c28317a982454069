/* eddy/testing.h — test doubles for code built on eddy.
 *
 * Test your protocol without sockets: a string transport that records what
 * the protocol writes, a reactor whose clock you move by hand
 * (eddy_reactor_new(&r, EDDY_REACTOR_FAKE_CLOCK) and eddy_reactor_advance,
 * in eddy/reactor.h), and two protocols connected in memory.
 */
#ifndef EDDY_TESTING_H
#define EDDY_TESTING_H

#include <stddef.h>

#include "protocol.h"
#include "reactor.h"
#include "transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- String transport ---------------------------------------------------
 * Library-owned; freed by eddy_string_transport_free (after the protocol's
 * connection was lost, or it loses it with reason UV_ECONNABORTED first).
 * Unlike a socket it delivers synchronously: feed() calls data_received
 * before it returns, which is what makes tests short. */
typedef struct eddy_string_transport_s eddy_string_transport_t;

eddy_string_transport_t *eddy_string_transport_new(eddy_reactor_t *r);
/* Attaches p and calls its connection_made. */
void eddy_string_transport_connect(eddy_string_transport_t *st,
                                   eddy_protocol_t *p);
/* Delivers bytes to the protocol, all at once or one byte per call. */
void eddy_string_transport_feed(eddy_string_transport_t *st, const void *data,
                                size_t len);
void eddy_string_transport_feed_bytewise(eddy_string_transport_t *st,
                                         const void *data, size_t len);
/* Delivers EOF (eof_received); closes when the protocol does not keep the
 * connection half-open. */
void eddy_string_transport_feed_eof(eddy_string_transport_t *st);
/* Everything written so far (NUL-terminated for convenience). */
const char *eddy_string_transport_value(const eddy_string_transport_t *st,
                                        size_t *len);
void eddy_string_transport_clear(eddy_string_transport_t *st);
/* What the protocol asked for. */
int eddy_string_transport_lose_called(const eddy_string_transport_t *st);
int eddy_string_transport_abort_called(const eddy_string_transport_t *st);
int eddy_string_transport_write_shut(const eddy_string_transport_t *st);
int eddy_string_transport_reading_paused(const eddy_string_transport_t *st);
/* Simulates the connection going away: connection_lost(reason) now. */
void eddy_string_transport_disconnect(eddy_string_transport_t *st, int reason);
/* Pretends bytes are stuck in the kernel, to drive the water marks. */
void eddy_string_transport_set_pending(eddy_string_transport_t *st,
                                       size_t pending);
eddy_transport_t *eddy_string_transport_base(eddy_string_transport_t *st);
void eddy_string_transport_free(eddy_string_transport_t *st);

/* ---- Two protocols connected in memory ---------------------------------
 * Library-owned. Bytes written by one side are delivered to the other on a
 * later loop iteration (as a socket would), or at once by
 * eddy_loopback_pump. Closing one side closes the other; the pair frees
 * itself once both sides' connection_lost has run. */
typedef struct eddy_loopback_s eddy_loopback_t;

int eddy_loopback_connect(eddy_reactor_t *r, eddy_protocol_t *server,
                          eddy_protocol_t *client, eddy_loopback_t **out);
/* Delivers everything pending, in both directions, until nothing moves.
 * Returns the number of bytes delivered. */
size_t eddy_loopback_pump(eddy_loopback_t *lp);

#ifdef __cplusplus
}
#endif
#endif
