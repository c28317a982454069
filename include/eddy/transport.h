/* eddy/transport.h — the byte pipe under a protocol.
 *
 * One interface over TCP, Unix sockets, and the in-memory test doubles (and
 * later TLS): a function table, so a protocol never knows which it has.
 *
 * WRITES never block and never call back: data is queued and written as the
 * socket allows. When nothing is queued a write goes to the kernel at once,
 * from the caller's memory; only what the kernel did not take is copied and
 * queued, and further writes join that queue (small ones coalesced into its
 * tail) so they leave together. eddy_transport_writev sends several pieces
 * in one system call. eddy_transport_write_slice shares a reference-counted
 * payload instead of copying it. Writes after the connection
 * started closing (or after shutdown_write) fail with UV_EPIPE and are
 * dropped. A write that would make the queue exceed EDDY_TRANSPORT_QUEUE_MAX
 * fails with UV_ENOBUFS and is dropped whole; the connection stays open.
 * TCP connections start with TCP_NODELAY on: a protocol's writes are its
 * messages, and Nagle's delay would only add latency to them.
 *
 * SIGPIPE: a peer that vanishes must not kill the process. The first socket
 * transport sets SIGPIPE to ignored if it still has its default action (a
 * handler the program installed is kept); the failed write then closes the
 * connection with UV_EPIPE.
 *
 * BACKPRESSURE: when the bytes queued exceed the high-water mark the
 * protocol's pause_writing is called (on a later iteration); when they drop
 * to the low-water mark, resume_writing. Defaults: 64 KiB / 16 KiB.
 *
 * CLOSING: lose_connection stops reading, writes what is queued, then
 * closes (reason 0). abort_connection drops the queue and closes at once
 * (reason UV_ECONNABORTED). Either may be called from any protocol callback;
 * the transport's memory is freed only after connection_lost has returned.
 */
#ifndef EDDY_TRANSPORT_H
#define EDDY_TRANSPORT_H

#include <stddef.h>
#include <uv.h>

#include "buffer.h"
#include "protocol.h"
#include "reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_transport_ops_s {
  /* Queue copies of bufs; the transport must not call back from here. */
  int (*writev)(eddy_transport_t *t, const uv_buf_t *bufs, size_t n);
  /* Queue s, taking one new reference to it. */
  int (*write_slice)(eddy_transport_t *t, eddy_slice_t *s);
  void (*lose_connection)(eddy_transport_t *t);
  void (*abort_connection)(eddy_transport_t *t);
  int (*shutdown_write)(eddy_transport_t *t);
  void (*pause_reading)(eddy_transport_t *t);
  void (*resume_reading)(eddy_transport_t *t);
  size_t (*write_buffer_size)(const eddy_transport_t *t);
  int (*get_host)(const eddy_transport_t *t, eddy_addr_t *out);
  int (*get_peer)(const eddy_transport_t *t, eddy_addr_t *out);
  int (*set_nodelay)(eddy_transport_t *t, int on);
  int (*set_keepalive)(eddy_transport_t *t, int on, unsigned delay_s);
} eddy_transport_ops_t;

struct eddy_transport_s {
  const eddy_transport_ops_t *ops;
  eddy_reactor_t *reactor;
  eddy_protocol_t *protocol;
  /* Flow control; see eddy_transport_set_write_buffer_limits. */
  size_t high_water;
  size_t low_water;
  int writing_paused; /* pause_writing delivered or due, resume not yet */
  int closing;        /* lose or abort was called, or the peer went away */
  /* private: the state the protocol last heard (paused or not), and the
   * storage of the pending notification (an internal soon-call). */
  int water_told_;
  void *water_soon_[4];
};

#define EDDY_TRANSPORT_HIGH_WATER_DEFAULT (64u * 1024u)
#define EDDY_TRANSPORT_LOW_WATER_DEFAULT (16u * 1024u)
/* Hard cap on the bytes one transport may hold queued. */
#define EDDY_TRANSPORT_QUEUE_MAX ((size_t)256u * 1024u * 1024u)

int eddy_transport_write(eddy_transport_t *t, const void *data, size_t len);
/* Twisted's writeSequence: several pieces, written in order, as one. */
int eddy_transport_writev(eddy_transport_t *t, const uv_buf_t *bufs, size_t n);
int eddy_transport_write_str(eddy_transport_t *t, const char *s);
int eddy_transport_write_slice(eddy_transport_t *t, eddy_slice_t *s);
void eddy_transport_lose_connection(eddy_transport_t *t);
void eddy_transport_abort_connection(eddy_transport_t *t);
/* Half-close: sends EOF after the queued data; reading goes on. */
int eddy_transport_shutdown_write(eddy_transport_t *t);
void eddy_transport_pause_reading(eddy_transport_t *t);
void eddy_transport_resume_reading(eddy_transport_t *t);
size_t eddy_transport_write_buffer_size(const eddy_transport_t *t);
/* high >= low; high == 0 restores the defaults. UV_EINVAL otherwise. */
int eddy_transport_set_write_buffer_limits(eddy_transport_t *t, size_t high,
                                           size_t low);
int eddy_transport_writing_paused(const eddy_transport_t *t);
int eddy_transport_is_closing(const eddy_transport_t *t);
int eddy_transport_get_host(const eddy_transport_t *t, eddy_addr_t *out);
int eddy_transport_get_peer(const eddy_transport_t *t, eddy_addr_t *out);
/* TCP only; other transports answer UV_ENOTSUP. */
int eddy_transport_set_nodelay(eddy_transport_t *t, int on);
int eddy_transport_set_keepalive(eddy_transport_t *t, int on, unsigned delay_s);

/* ---- For transport implementers ----------------------------------------
 * ops entries get_host, get_peer, set_nodelay, set_keepalive and
 * shutdown_write may be NULL (the call answers UV_ENOTSUP). */
void eddy_transport_init(eddy_transport_t *t, const eddy_transport_ops_t *ops,
                         eddy_reactor_t *r);
/* Call after the write buffer size changed: when a water mark was crossed,
 * sets writing_paused and schedules pause_writing or resume_writing for the
 * next iteration (never calls the protocol itself). Nothing is scheduled or
 * delivered once `closing` is set. */
void eddy_transport_check_water(eddy_transport_t *t);
/* Call once, after connection_lost returned and before freeing t: cancels a
 * notification still pending, so it can never touch freed memory. */
void eddy_transport_cleanup(eddy_transport_t *t);

#ifdef __cplusplus
}
#endif
#endif
