/* string_transport.c — a transport that records what its protocol writes.
 *
 * The test drives it by hand: bytes and EOF go in synchronously through the
 * feed calls, and what the protocol asked for (writes, closing, pausing)
 * is kept for the test to inspect. Only connection_lost after the protocol
 * closed is deferred to a later loop iteration, as the transport rules
 * promise every protocol.
 *
 * Every call into the protocol runs under a depth count, so the protocol (or
 * its destroy) may free the transport from inside a callback: the free then
 * happens when the outermost call returns. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/reactor_internal.h"
#include "eddy/error.h"
#include "eddy/testing.h"
#include "net/transport_internal.h"

#define HOST_PORT 7700
#define PEER_PORT 49152

struct eddy_string_transport_s {
  eddy_transport_t base; /* first: ops receive &base */
  eddy_buf_t written;
  size_t writes;
  size_t pending;
  int lose_called;
  int abort_called;
  int write_shut;
  int reading_paused;
  int eof;
  int lost;         /* connection_lost delivered */
  int close_due;    /* lost_soon is queued, or waits for pending == 0 */
  int close_reason; /* reason for that close */
  eddy__soon_t lost_soon;
  int depth;
  int free_requested;
};

static eddy_string_transport_t *from_base(eddy_transport_t *t) {
  return (eddy_string_transport_t *)t;
}

static void really_free(eddy_string_transport_t *st) {
  eddy_reactor_t *r = st->base.reactor;
  eddy__reactor_soon_cancel(r, &st->lost_soon);
  eddy_transport_cleanup(&st->base);
  eddy_buf_free(&st->written);
  free(st);
  eddy__reactor_live(r, EDDY__LIVE_TRANSPORT, -1);
}

static void enter(eddy_string_transport_t *st) {
  st->depth++;
}

/* After this, st may be gone. */
static void leave(eddy_string_transport_t *st) {
  if (--st->depth == 0 && st->free_requested)
    really_free(st);
}

static void deliver_lost(eddy_string_transport_t *st, int reason) {
  eddy_protocol_t *p = st->base.protocol;
  eddy__reactor_soon_cancel(st->base.reactor, &st->lost_soon);
  st->close_due = 0;
  st->base.closing = 1;
  if (p == NULL || st->lost)
    return;
  st->lost = 1;
  eddy_protocol_connection_lost(p, reason);
  st->base.protocol = NULL;
}

static void lost_cb(void *arg) {
  eddy_string_transport_t *st = arg;
  enter(st);
  deliver_lost(st, st->close_reason);
  leave(st);
}

static void schedule_close(eddy_string_transport_t *st, int reason) {
  st->base.closing = 1;
  st->close_due = 1;
  st->close_reason = reason;
  if (st->pending == 0 || reason != 0)
    eddy__reactor_soon(st->base.reactor, &st->lost_soon, lost_cb, st);
}

static int can_read(const eddy_string_transport_t *st) {
  return st->base.protocol != NULL && !st->lost && !st->base.closing &&
         !st->eof;
}

/* ---- Transport ops ------------------------------------------------------ */

static int record(eddy_string_transport_t *st, const uv_buf_t *bufs, size_t n) {
  if (st->lost || st->write_shut)
    return UV_EPIPE;
  size_t total;
  int rc = eddy__transport_fits(bufs, n, st->written.len, &total);
  if (rc != 0)
    return rc;
  /* One reservation for the bytes and the NUL that value() promises, so
   * the write is recorded whole or not at all. */
  rc = eddy_buf_reserve(&st->written, total + 1);
  if (rc != 0)
    return rc;
  for (size_t i = 0; i < n; i++)
    eddy_buf_append(&st->written, bufs[i].base, bufs[i].len);
  st->written.data[st->written.len] = '\0';
  st->writes++;
  return 0;
}

static int st_writev(eddy_transport_t *t, const uv_buf_t *bufs, size_t n) {
  return record(from_base(t), bufs, n);
}

static void st_lose(eddy_transport_t *t) {
  eddy_string_transport_t *st = from_base(t);
  st->lose_called = 1;
  if (st->lost || st->close_due)
    return;
  schedule_close(st, 0);
}

static void st_abort(eddy_transport_t *t) {
  eddy_string_transport_t *st = from_base(t);
  st->abort_called = 1;
  if (st->lost)
    return;
  st->pending = 0; /* the queue is dropped */
  schedule_close(st, UV_ECONNABORTED);
}

static int st_shutdown(eddy_transport_t *t) {
  eddy_string_transport_t *st = from_base(t);
  st->write_shut = 1;
  if (st->eof && !st->close_due && !st->lost)
    schedule_close(st, 0); /* both directions are done */
  return 0;
}

static void st_pause(eddy_transport_t *t) {
  from_base(t)->reading_paused = 1;
}

static void st_resume(eddy_transport_t *t) {
  from_base(t)->reading_paused = 0;
}

static size_t st_buffer_size(const eddy_transport_t *t) {
  return ((const eddy_string_transport_t *)t)->pending;
}

static int fake_addr(eddy_addr_t *out, int port) {
  struct sockaddr_in sin;
  int rc = uv_ip4_addr("127.0.0.1", port, &sin);
  if (rc != 0)
    return rc;
  memset(out, 0, sizeof(*out));
  memcpy(&out->ss, &sin, sizeof(sin));
  out->len = sizeof(sin);
  return 0;
}

static int st_get_host(const eddy_transport_t *t, eddy_addr_t *out) {
  return fake_addr(out, HOST_PORT);
}

static int st_get_peer(const eddy_transport_t *t, eddy_addr_t *out) {
  return fake_addr(out, PEER_PORT);
}

static const eddy_transport_ops_t string_ops = {
    .writev = st_writev,
    .write_slice = eddy__transport_write_slice_copy,
    .lose_connection = st_lose,
    .abort_connection = st_abort,
    .shutdown_write = st_shutdown,
    .pause_reading = st_pause,
    .resume_reading = st_resume,
    .write_buffer_size = st_buffer_size,
    .get_host = st_get_host,
    .get_peer = st_get_peer,
    .set_nodelay = NULL,   /* UV_ENOTSUP */
    .set_keepalive = NULL, /* UV_ENOTSUP */
};

/* ---- Public API --------------------------------------------------------- */

eddy_string_transport_t *eddy_string_transport_new(eddy_reactor_t *r) {
  eddy_string_transport_t *st = calloc(1, sizeof(*st));
  if (st == NULL)
    return NULL;
  eddy_transport_init(&st->base, &string_ops, r);
  eddy_buf_init(&st->written, EDDY_TRANSPORT_QUEUE_MAX + 1);
  eddy__reactor_live(r, EDDY__LIVE_TRANSPORT, 1);
  return st;
}

void eddy_string_transport_connect(eddy_string_transport_t *st,
                                   eddy_protocol_t *p) {
  if (p == NULL || st->base.protocol != NULL || st->lost)
    return;
  st->base.protocol = p;
  enter(st);
  eddy_protocol_connection_made(p, &st->base);
  leave(st);
}

void eddy_string_transport_feed(eddy_string_transport_t *st, const void *data,
                                size_t len) {
  if (!can_read(st) || len == 0)
    return;
  enter(st);
  eddy_protocol_data_received(st->base.protocol, data, len);
  leave(st);
}

void eddy_string_transport_feed_bytewise(eddy_string_transport_t *st,
                                         const void *data, size_t len) {
  const char *bytes = data;
  enter(st);
  for (size_t i = 0; i < len && can_read(st); i++)
    eddy_protocol_data_received(st->base.protocol, bytes + i, 1);
  leave(st);
}

void eddy_string_transport_feed_eof(eddy_string_transport_t *st) {
  if (!can_read(st))
    return;
  st->eof = 1;
  enter(st);
  int keep_open = eddy_protocol_eof_received(st->base.protocol);
  if (!st->lost && !st->close_due && (!keep_open || st->write_shut))
    schedule_close(st, 0);
  leave(st);
}

const char *eddy_string_transport_value(const eddy_string_transport_t *st,
                                        size_t *len) {
  if (len != NULL)
    *len = st->written.len;
  return st->written.len > 0 ? st->written.data : "";
}

void eddy_string_transport_clear(eddy_string_transport_t *st) {
  eddy_buf_clear(&st->written);
  st->writes = 0;
}

size_t eddy_string_transport_write_count(const eddy_string_transport_t *st) {
  return st->writes;
}

int eddy_string_transport_lose_called(const eddy_string_transport_t *st) {
  return st->lose_called;
}

int eddy_string_transport_abort_called(const eddy_string_transport_t *st) {
  return st->abort_called;
}

int eddy_string_transport_write_shut(const eddy_string_transport_t *st) {
  return st->write_shut;
}

int eddy_string_transport_reading_paused(const eddy_string_transport_t *st) {
  return st->reading_paused;
}

void eddy_string_transport_disconnect(eddy_string_transport_t *st, int reason) {
  if (st->lost || st->base.protocol == NULL)
    return;
  enter(st);
  deliver_lost(st, reason);
  leave(st);
}

void eddy_string_transport_set_pending(eddy_string_transport_t *st,
                                       size_t pending) {
  st->pending = pending;
  eddy_transport_check_water(&st->base);
  if (pending == 0 && st->close_due)
    eddy__reactor_soon(st->base.reactor, &st->lost_soon, lost_cb, st);
}

eddy_transport_t *eddy_string_transport_base(eddy_string_transport_t *st) {
  return &st->base;
}

void eddy_string_transport_free(eddy_string_transport_t *st) {
  if (st == NULL)
    return;
  if (st->depth > 0) {
    st->free_requested = 1;
    return;
  }
  if (!st->lost && st->base.protocol != NULL) {
    enter(st);
    deliver_lost(st, st->close_due ? st->close_reason : UV_ECONNABORTED);
    st->depth--; /* freed below whatever the protocol asked */
  }
  really_free(st);
}
