/* test_string_transport.c — the recording transport (eddy/testing.h). */
#include "support.h"

#include <string.h>

/* A protocol that records every event. */
typedef struct {
  eddy_protocol_t p;
  int made;
  eddy_transport_t *made_transport;
  eddy_buf_t got;
  size_t chunks;
  int eofs;
  int keep_open;
  int lost_calls;
  int lost_reason;
  int destroyed;
  int pauses;
  int resumes;
  int echo;          /* write back what arrives */
  int lose_on_data;  /* lose_connection from data_received */
  int write_in_made; /* write "hi" from connection_made */
  eddy_string_transport_t *free_in_destroy;
} rp_t;

static void rp_made(eddy_protocol_t *p) {
  rp_t *t = (rp_t *)p;
  t->made++;
  t->made_transport = p->transport;
  if (t->write_in_made)
    cr_assert_eq(eddy_transport_write_str(p->transport, "hi"), 0);
}

static void rp_data(eddy_protocol_t *p, const char *d, size_t n) {
  rp_t *t = (rp_t *)p;
  cr_assert_eq(t->lost_calls, 0, "data after connection_lost");
  cr_assert_eq(eddy_buf_append(&t->got, d, n), 0);
  t->chunks++;
  if (t->echo)
    cr_assert_eq(eddy_transport_write(p->transport, d, n), 0);
  if (t->lose_on_data)
    eddy_transport_lose_connection(p->transport);
}

static int rp_eof(eddy_protocol_t *p) {
  rp_t *t = (rp_t *)p;
  t->eofs++;
  return t->keep_open;
}

static void rp_lost(eddy_protocol_t *p, int reason) {
  rp_t *t = (rp_t *)p;
  t->lost_calls++;
  t->lost_reason = reason;
  cr_assert_eq(t->destroyed, 0);
}

static void rp_pause(eddy_protocol_t *p) {
  ((rp_t *)p)->pauses++;
}

static void rp_resume(eddy_protocol_t *p) {
  ((rp_t *)p)->resumes++;
}

static void rp_destroy(eddy_protocol_t *p) {
  rp_t *t = (rp_t *)p;
  cr_assert_eq(t->lost_calls, 1, "destroy before connection_lost");
  cr_assert_null(p->transport);
  t->destroyed++;
  if (t->free_in_destroy != NULL)
    eddy_string_transport_free(t->free_in_destroy);
}

static const eddy_protocol_ops_t rp_ops = {
    .connection_made = rp_made,
    .data_received = rp_data,
    .eof_received = rp_eof,
    .connection_lost = rp_lost,
    .pause_writing = rp_pause,
    .resume_writing = rp_resume,
    .destroy = rp_destroy,
};

static void rp_init(rp_t *t) {
  memset(t, 0, sizeof(*t));
  eddy_protocol_init(&t->p, &rp_ops);
  eddy_buf_init(&t->got, EDDY_BUF_UNLIMITED);
}

static eddy_string_transport_t *connected(eddy_reactor_t *r, rp_t *t) {
  rp_init(t);
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  cr_assert_not_null(st);
  eddy_string_transport_connect(st, &t->p);
  return st;
}

static void run_iterations(eddy_reactor_t *r, int n) {
  for (int i = 0; i < n; i++)
    eddy_reactor_run_once(r, 0);
}

/* Frees the transport (delivering a close that was still due) and what t
 * received; t may be connected again afterwards. */
static void release(eddy_string_transport_t *st, rp_t *t) {
  eddy_string_transport_free(st);
  eddy_buf_free(&t->got);
}

/* connection_lost(reason) comes on the next iteration, and only once. */
static void lost_next_iteration(eddy_reactor_t *r, rp_t *t, int reason) {
  run_iterations(r, 1);
  cr_assert_eq(t->lost_calls, 1);
  cr_assert_eq(t->lost_reason, reason, "reason %s",
               eddy_strerror(t->lost_reason));
}

Test(string_transport, connect_calls_connection_made) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rp_t t;
  rp_init(&t);
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  eddy_transport_t *base = eddy_string_transport_base(st);
  /* Nothing reaches a protocol before connect. */
  eddy_string_transport_feed(st, "x", 1);
  eddy_string_transport_connect(st, &t.p);
  cr_assert_eq(t.made, 1);
  cr_assert_eq(t.made_transport, base);
  cr_assert_eq(t.p.transport, base);
  cr_assert_eq(base->protocol, &t.p);
  cr_assert_eq(base->reactor, r);
  /* A second connect is ignored. */
  rp_t other;
  rp_init(&other);
  eddy_string_transport_connect(st, &other.p);
  cr_assert_eq(other.made, 0);
  cr_assert_eq(base->protocol, &t.p);
  eddy_string_transport_free(st);
  cr_assert_eq(t.lost_calls, 1);
  cr_assert_eq(t.lost_reason, UV_ECONNABORTED);
  cr_assert_eq(t.destroyed, 1);
  eddy_buf_free(&t.got);
  eddy_buf_free(&other.got);
  test_close_reactor(r);
}

Test(string_transport, records_every_kind_of_write) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rp_t t;
  rp_init(&t);
  t.write_in_made = 1;
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  size_t len = 99;
  cr_assert_str_eq(eddy_string_transport_value(st, &len), "");
  cr_assert_eq(len, 0);
  eddy_string_transport_connect(st, &t.p);
  eddy_transport_t *tr = t.p.transport;
  cr_assert_eq(eddy_transport_write(tr, " a", 2), 0);
  uv_buf_t bufs[3] = {{.base = (char *)"b", .len = 1},
                      {.base = (char *)"", .len = 0},
                      {.base = (char *)"cd", .len = 2}};
  cr_assert_eq(eddy_transport_writev(tr, bufs, 3), 0);
  eddy_slice_t *sl = eddy_slice_new("-slice", 6);
  cr_assert_eq(eddy_transport_write_slice(tr, sl), 0);
  eddy_slice_unref(sl); /* the transport kept no reference of its own */
  cr_assert_eq(eddy_transport_write(tr, "\0z", 2), 0);
  const char *v = eddy_string_transport_value(st, &len);
  cr_assert_eq(len, 15);
  cr_assert_eq(memcmp(v, "hi abcd-slice\0z", 16), 0); /* NUL-terminated */
  cr_assert_eq(eddy_string_transport_write_count(st), 5);
  /* Nothing is queued: writes do not count against the water marks. */
  cr_assert_eq(eddy_transport_write_buffer_size(tr), 0);
  eddy_string_transport_clear(st);
  cr_assert_str_eq(eddy_string_transport_value(st, &len), "");
  cr_assert_eq(len, 0);
  cr_assert_eq(eddy_string_transport_write_count(st), 0);
  cr_assert_eq(eddy_transport_write_str(tr, "again"), 0);
  cr_assert_str_eq(eddy_string_transport_value(st, NULL), "again");
  /* Too big to record: refused whole. */
  uv_buf_t huge[2] = {{.base = (char *)"x", .len = 1},
                      {.base = (char *)"y", .len = EDDY_TRANSPORT_QUEUE_MAX}};
  cr_assert_eq(eddy_transport_writev(tr, huge, 2), UV_ENOBUFS);
  cr_assert_str_eq(eddy_string_transport_value(st, NULL), "again");
  cr_assert_eq(eddy_string_transport_write_count(st), 1);
  eddy_transport_lose_connection(tr);
  run_iterations(r, 1);
  release(st, &t);
  test_close_reactor(r);
}

Test(string_transport, feeds_synchronously) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rp_t t;
  eddy_string_transport_t *st = connected(r, &t);
  t.echo = 1;
  eddy_string_transport_feed(st, "hello", 5);
  cr_assert_eq(t.chunks, 1);
  cr_assert_eq(t.got.len, 5);
  eddy_string_transport_feed_bytewise(st, "world", 5);
  cr_assert_eq(t.chunks, 6);
  cr_assert_eq(memcmp(t.got.data, "helloworld", 10), 0);
  cr_assert_str_eq(eddy_string_transport_value(st, NULL), "helloworld");
  cr_assert_eq(eddy_string_transport_write_count(st), 6);
  eddy_string_transport_feed(st, "", 0);
  cr_assert_eq(t.chunks, 6);
  /* Reading can be paused; the test still decides what to feed. */
  eddy_transport_pause_reading(t.p.transport);
  cr_assert(eddy_string_transport_reading_paused(st));
  eddy_transport_resume_reading(t.p.transport);
  cr_assert_not(eddy_string_transport_reading_paused(st));
  eddy_string_transport_free(st);
  cr_assert_eq(t.lost_reason, UV_ECONNABORTED);
  eddy_buf_free(&t.got);
  test_close_reactor(r);
}

Test(string_transport, bytewise_feed_stops_when_the_protocol_closes) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rp_t t;
  eddy_string_transport_t *st = connected(r, &t);
  t.lose_on_data = 1;
  eddy_string_transport_feed_bytewise(st, "abc", 3);
  cr_assert_eq(t.chunks, 1);
  eddy_string_transport_feed(st, "d", 1);
  cr_assert_eq(t.chunks, 1);
  run_iterations(r, 1);
  cr_assert_eq(t.lost_calls, 1);
  release(st, &t);
  test_close_reactor(r);
}

Test(string_transport, lose_closes_on_a_later_iteration) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rp_t t;
  eddy_string_transport_t *st = connected(r, &t);
  eddy_transport_t *tr = t.p.transport;
  cr_assert_not(eddy_transport_is_closing(tr));
  eddy_transport_lose_connection(tr);
  cr_assert(eddy_string_transport_lose_called(st));
  cr_assert_not(eddy_string_transport_abort_called(st));
  cr_assert(eddy_transport_is_closing(tr));
  cr_assert_eq(t.lost_calls, 0, "never from inside the closing call");
  cr_assert_eq(eddy_transport_write(tr, "x", 1), UV_EPIPE);
  eddy_string_transport_feed(st, "ignored", 7);
  cr_assert_eq(t.chunks, 0);
  eddy_transport_lose_connection(tr); /* twice is harmless */
  lost_next_iteration(r, &t, 0);
  cr_assert_eq(t.destroyed, 1);
  cr_assert_null(t.p.transport);
  run_iterations(r, 3);
  cr_assert_eq(t.lost_calls, 1);
  /* After connection_lost nothing is delivered. */
  eddy_string_transport_disconnect(st, UV_ECONNRESET);
  eddy_string_transport_feed(st, "x", 1);
  eddy_string_transport_feed_eof(st);
  cr_assert_eq(t.lost_calls, 1);
  cr_assert_eq(t.eofs, 0);
  eddy_string_transport_free(st);
  cr_assert_eq(t.lost_calls, 1);
  eddy_buf_free(&t.got);
  test_close_reactor(r);
}

Test(string_transport, abort_closes_with_econnaborted) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rp_t t;
  eddy_string_transport_t *st = connected(r, &t);
  eddy_transport_abort_connection(t.p.transport);
  cr_assert(eddy_string_transport_abort_called(st));
  cr_assert_eq(t.lost_calls, 0);
  lost_next_iteration(r, &t, UV_ECONNABORTED);
  release(st, &t);
  test_close_reactor(r);
}

Test(string_transport, lose_waits_for_pending_bytes) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rp_t t;
  eddy_string_transport_t *st = connected(r, &t);
  eddy_string_transport_set_pending(st, 10);
  eddy_transport_lose_connection(t.p.transport);
  run_iterations(r, 3);
  cr_assert_eq(t.lost_calls, 0, "queued bytes are written first");
  eddy_string_transport_set_pending(st, 4);
  run_iterations(r, 3);
  cr_assert_eq(t.lost_calls, 0);
  eddy_string_transport_set_pending(st, 0);
  cr_assert_eq(t.lost_calls, 0);
  lost_next_iteration(r, &t, 0);
  release(st, &t);

  /* An abort does not wait. */
  st = connected(r, &t);
  eddy_string_transport_set_pending(st, 10);
  eddy_transport_lose_connection(t.p.transport);
  eddy_transport_abort_connection(t.p.transport);
  cr_assert_eq(eddy_transport_write_buffer_size(t.p.transport), 0);
  lost_next_iteration(r, &t, UV_ECONNABORTED);
  release(st, &t);
  test_close_reactor(r);
}

Test(string_transport, water_marks_follow_pending) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rp_t t;
  eddy_string_transport_t *st = connected(r, &t);
  eddy_transport_t *tr = t.p.transport;
  cr_assert_eq(eddy_transport_set_write_buffer_limits(tr, 100, 10), 0);
  eddy_string_transport_set_pending(st, 100);
  cr_assert_not(eddy_transport_writing_paused(tr));
  eddy_string_transport_set_pending(st, 101);
  cr_assert(eddy_transport_writing_paused(tr));
  cr_assert_eq(eddy_transport_write_buffer_size(tr), 101);
  cr_assert_eq(t.pauses, 0, "delivered on a later iteration");
  run_iterations(r, 1);
  cr_assert_eq(t.pauses, 1);
  eddy_string_transport_set_pending(st, 11);
  cr_assert(eddy_transport_writing_paused(tr));
  eddy_string_transport_set_pending(st, 10);
  cr_assert_not(eddy_transport_writing_paused(tr));
  run_iterations(r, 1);
  cr_assert_eq(t.resumes, 1);
  /* Up and down within one iteration: the protocol hears nothing. */
  eddy_string_transport_set_pending(st, 1000);
  eddy_string_transport_set_pending(st, 0);
  run_iterations(r, 2);
  cr_assert_eq(t.pauses, 1);
  cr_assert_eq(t.resumes, 1);
  eddy_transport_lose_connection(tr);
  run_iterations(r, 1);
  release(st, &t);
  test_close_reactor(r);
}

Test(string_transport, eof_closes_unless_kept_half_open) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rp_t t;
  eddy_string_transport_t *st = connected(r, &t);
  eddy_string_transport_feed_eof(st);
  cr_assert_eq(t.eofs, 1);
  cr_assert_not(eddy_string_transport_lose_called(st), "the peer closed");
  eddy_string_transport_feed(st, "late", 4);
  cr_assert_eq(t.chunks, 0);
  lost_next_iteration(r, &t, 0);
  release(st, &t);

  /* Half-open: writing goes on until the protocol shuts its side. */
  st = connected(r, &t);
  t.keep_open = 1;
  eddy_string_transport_feed_eof(st);
  eddy_string_transport_feed_eof(st);
  cr_assert_eq(t.eofs, 1);
  run_iterations(r, 2);
  cr_assert_eq(t.lost_calls, 0);
  cr_assert_eq(eddy_transport_write_str(t.p.transport, "reply"), 0);
  cr_assert_eq(eddy_transport_shutdown_write(t.p.transport), 0);
  cr_assert(eddy_string_transport_write_shut(st));
  cr_assert_eq(t.lost_calls, 0);
  lost_next_iteration(r, &t, 0);
  cr_assert_str_eq(eddy_string_transport_value(st, NULL), "reply");
  release(st, &t);
  test_close_reactor(r);
}

Test(string_transport, shutdown_write_keeps_reading) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rp_t t;
  eddy_string_transport_t *st = connected(r, &t);
  cr_assert_eq(eddy_transport_shutdown_write(t.p.transport), 0);
  cr_assert(eddy_string_transport_write_shut(st));
  cr_assert_eq(eddy_transport_write(t.p.transport, "x", 1), UV_EPIPE);
  cr_assert_eq(eddy_string_transport_write_count(st), 0);
  eddy_string_transport_feed(st, "in", 2);
  cr_assert_eq(t.chunks, 1);
  run_iterations(r, 2);
  cr_assert_eq(t.lost_calls, 0);
  /* The peer's EOF ends it, even for a protocol that keeps half-open. */
  t.keep_open = 1;
  eddy_string_transport_feed_eof(st);
  lost_next_iteration(r, &t, 0);
  release(st, &t);
  test_close_reactor(r);
}

Test(string_transport, disconnect_is_immediate) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rp_t t;
  eddy_string_transport_t *st = connected(r, &t);
  eddy_string_transport_disconnect(st, UV_ECONNRESET);
  cr_assert_eq(t.lost_calls, 1);
  cr_assert_eq(t.lost_reason, UV_ECONNRESET);
  cr_assert_eq(t.destroyed, 1);
  eddy_string_transport_disconnect(st, UV_ETIMEDOUT);
  cr_assert_eq(t.lost_calls, 1);
  release(st, &t);

  /* It replaces a close that was due. */
  st = connected(r, &t);
  eddy_transport_lose_connection(t.p.transport);
  eddy_string_transport_disconnect(st, UV_ETIMEDOUT);
  cr_assert_eq(t.lost_reason, UV_ETIMEDOUT);
  run_iterations(r, 2);
  cr_assert_eq(t.lost_calls, 1);
  release(st, &t);
  test_close_reactor(r);
}

Test(string_transport, free_delivers_the_close_that_was_due) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rp_t t;
  eddy_string_transport_t *st = connected(r, &t);
  eddy_transport_lose_connection(t.p.transport);
  eddy_string_transport_free(st);
  cr_assert_eq(t.lost_calls, 1);
  cr_assert_eq(t.lost_reason, 0);
  eddy_buf_free(&t.got);
  /* Never connected: nothing to tell. */
  eddy_string_transport_free(eddy_string_transport_new(r));
  eddy_string_transport_free(NULL);
  test_close_reactor(r);
}

Test(string_transport, freed_from_the_protocols_destroy) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rp_t t;
  eddy_string_transport_t *st = connected(r, &t);
  t.free_in_destroy = st;
  eddy_transport_abort_connection(t.p.transport);
  run_iterations(r, 1);
  cr_assert_eq(t.destroyed, 1);
  eddy_buf_free(&t.got);

  /* And through disconnect, and through free itself. */
  st = connected(r, &t);
  t.free_in_destroy = st;
  eddy_string_transport_disconnect(st, UV_EOF);
  cr_assert_eq(t.destroyed, 1);
  eddy_buf_free(&t.got);
  st = connected(r, &t);
  t.free_in_destroy = st;
  eddy_string_transport_free(st);
  cr_assert_eq(t.destroyed, 1);
  eddy_buf_free(&t.got);
  test_close_reactor(r);
}

Test(string_transport, addresses_and_options) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rp_t t;
  eddy_string_transport_t *st = connected(r, &t);
  eddy_addr_t a;
  char buf[64];
  cr_assert_eq(eddy_transport_get_host(t.p.transport, &a), 0);
  eddy_addr_format(&a, buf, sizeof(buf));
  cr_assert_str_eq(buf, "127.0.0.1:7700");
  cr_assert_eq(eddy_transport_get_peer(t.p.transport, &a), 0);
  eddy_addr_format(&a, buf, sizeof(buf));
  cr_assert_str_eq(buf, "127.0.0.1:49152");
  cr_assert_eq(eddy_transport_set_nodelay(t.p.transport, 1), UV_ENOTSUP);
  cr_assert_eq(eddy_transport_set_keepalive(t.p.transport, 1, 60), UV_ENOTSUP);
  release(st, &t);
  test_close_reactor(r);
}

Test(string_transport, counts_as_open_until_freed) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  cr_assert_eq(eddy_reactor_free(r), EDDY_EBUSYCLOSE);
  eddy_string_transport_free(st);
  test_close_reactor(r);
}
