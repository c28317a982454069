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
 * connection was lost, or it loses it first: with the reason of a close
 * already due, else UV_ECONNABORTED). Counted as an open transport by the
 * reactor until freed.
 * Unlike a socket it delivers synchronously: feed() calls data_received
 * before it returns, which is what makes tests short. Feeding does nothing
 * once the connection is closing, after EOF, or before connect
 * (pause_reading is only recorded: the test decides what to feed).
 * Writes are recorded at once (nothing is queued unless set_pending says
 * so); recording stops at EDDY_TRANSPORT_QUEUE_MAX bytes (UV_ENOBUFS).
 * Closing follows the transport rules: after lose_connection,
 * connection_lost(0) runs on a later loop iteration once the pending count
 * is 0; after abort_connection, connection_lost(UV_ECONNABORTED) on a later
 * iteration; after EOF and shutdown_write both, connection_lost(0).
 * get_host/get_peer answer 127.0.0.1:7700 and 127.0.0.1:49152; set_nodelay
 * and set_keepalive answer UV_ENOTSUP. */
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
/* Everything written so far (NUL-terminated for convenience; len may be
 * NULL). Valid until the next write, clear or free. */
const char *eddy_string_transport_value(const eddy_string_transport_t *st,
                                        size_t *len);
void eddy_string_transport_clear(eddy_string_transport_t *st);
/* How many writes were recorded since the last clear (a writev or
 * write_slice counts as one). */
size_t eddy_string_transport_write_count(const eddy_string_transport_t *st);
/* What the protocol asked for. */
int eddy_string_transport_lose_called(const eddy_string_transport_t *st);
int eddy_string_transport_abort_called(const eddy_string_transport_t *st);
int eddy_string_transport_write_shut(const eddy_string_transport_t *st);
int eddy_string_transport_reading_paused(const eddy_string_transport_t *st);
/* Simulates the connection going away: connection_lost(reason) now (a
 * close already due is replaced). Does nothing when already lost. */
void eddy_string_transport_disconnect(eddy_string_transport_t *st, int reason);
/* Pretends bytes are stuck in the kernel, to drive the water marks: this is
 * what write_buffer_size answers. A lose_connection waits for it to be 0. */
void eddy_string_transport_set_pending(eddy_string_transport_t *st,
                                       size_t pending);
eddy_transport_t *eddy_string_transport_base(eddy_string_transport_t *st);
void eddy_string_transport_free(eddy_string_transport_t *st);

/* ---- Two protocols connected in memory ---------------------------------
 * Library-owned. connection_made runs for the server, then the client, on
 * the next loop iteration (or in eddy_loopback_pump). Bytes written by one
 * side are delivered to the other on a later loop iteration (as a socket
 * would), or at once by eddy_loopback_pump, in pieces of at most 64 KiB; a
 * side that paused reading receives nothing until it resumes, so its peer's
 * write buffer fills and the water marks work. shutdown_write delivers EOF
 * once the written bytes are delivered.
 * Closing one side closes the other, on a later loop iteration:
 * lose_connection stops that side reading, delivers what it wrote, then both
 * get connection_lost(0); abort_connection drops what both wrote and gives
 * UV_ECONNABORTED to that side and UV_ECONNRESET to the other. The pair
 * frees itself once both sides' connection_lost has run (from then on the
 * eddy_loopback_t pointer is invalid); until then the reactor counts two open
 * transports. get_host/get_peer answer an unnamed Unix address;
 * set_nodelay and set_keepalive answer UV_ENOTSUP. */
typedef struct eddy_loopback_s eddy_loopback_t;

/* Returns 0, UV_EINVAL (a NULL argument or server == client) or UV_ENOMEM;
 * out may be NULL. */
int eddy_loopback_connect(eddy_reactor_t *r, eddy_protocol_t *server,
                          eddy_protocol_t *client, eddy_loopback_t **out);
/* Delivers everything pending (connection_made, bytes, EOF), in both
 * directions, until nothing moves (at most 100000 rounds, so two protocols
 * answering each other forever cannot hang it). Closing is left to the loop.
 * Returns the number of bytes delivered; 0 when called from inside a
 * callback the pair is delivering. */
size_t eddy_loopback_pump(eddy_loopback_t *lp);

#ifdef __cplusplus
}
#endif
#endif
