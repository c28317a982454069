/* test_loopback.c — two protocols connected in memory (eddy/testing.h). */
#include "support.h"

#include <string.h>

typedef struct {
  eddy_protocol_t p;
  const char *name;
  char *order; /* shared event log: "<name>made", "<name>lost" ... */
  int made;
  eddy_buf_t got;
  size_t chunks;
  size_t max_chunk;
  int eofs;
  int keep_open;
  int lost_calls;
  int lost_reason;
  int destroyed;
  int pauses;
  int resumes;
  int echo;          /* write back what arrives */
  int abort_in_made; /* abort from connection_made */
  int pump_in_data;  /* call eddy_loopback_pump from data_received */
  eddy_loopback_t *lp;
  size_t pump_result;
} ep_t;

static void log_order(ep_t *t, const char *what) {
  if (t->order != NULL) {
    strcat(t->order, t->name);
    strcat(t->order, what);
    strcat(t->order, " ");
  }
}

static void ep_made(eddy_protocol_t *p) {
  ep_t *t = (ep_t *)p;
  t->made++;
  cr_assert_not_null(p->transport);
  log_order(t, "made");
  if (t->abort_in_made)
    eddy_transport_abort_connection(p->transport);
}

static void ep_data(eddy_protocol_t *p, const char *d, size_t n) {
  ep_t *t = (ep_t *)p;
  cr_assert_eq(t->made, 1, "data before connection_made");
  cr_assert_eq(t->lost_calls, 0, "data after connection_lost");
  cr_assert_gt(n, 0);
  cr_assert_eq(eddy_buf_append(&t->got, d, n), 0);
  t->chunks++;
  if (n > t->max_chunk)
    t->max_chunk = n;
  if (t->echo)
    cr_assert_eq(eddy_transport_write(p->transport, d, n), 0);
  if (t->pump_in_data)
    t->pump_result = eddy_loopback_pump(t->lp);
}

static int ep_eof(eddy_protocol_t *p) {
  ep_t *t = (ep_t *)p;
  t->eofs++;
  log_order(t, "eof");
  return t->keep_open;
}

static void ep_lost(eddy_protocol_t *p, int reason) {
  ep_t *t = (ep_t *)p;
  t->lost_calls++;
  t->lost_reason = reason;
  log_order(t, "lost");
  /* The peer is closing too: writes fail. */
  cr_assert_eq(eddy_transport_write(p->transport, "x", 1), UV_EPIPE);
}

static void ep_pause(eddy_protocol_t *p) {
  ((ep_t *)p)->pauses++;
}

static void ep_resume(eddy_protocol_t *p) {
  ((ep_t *)p)->resumes++;
}

static void ep_destroy(eddy_protocol_t *p) {
  ep_t *t = (ep_t *)p;
  cr_assert_eq(t->lost_calls, 1);
  t->destroyed++;
}

static const eddy_protocol_ops_t ep_ops = {
    .connection_made = ep_made,
    .data_received = ep_data,
    .eof_received = ep_eof,
    .connection_lost = ep_lost,
    .pause_writing = ep_pause,
    .resume_writing = ep_resume,
    .destroy = ep_destroy,
};

static void ep_init(ep_t *t, const char *name, char *order) {
  memset(t, 0, sizeof(*t));
  eddy_protocol_init(&t->p, &ep_ops);
  eddy_buf_init(&t->got, EDDY_BUF_UNLIMITED);
  t->name = name;
  t->order = order;
}

static void ep_free(ep_t *t) {
  eddy_buf_free(&t->got);
}

static int got_is(const ep_t *t, const char *s) {
  return t->got.len == strlen(s) && memcmp(t->got.data, s, t->got.len) == 0;
}

/* Runs iterations until both sides lost their connection (bounded). */
static void run_until_lost(eddy_reactor_t *r, ep_t *a, ep_t *b) {
  for (int i = 0; i < 100 && (!a->lost_calls || !b->lost_calls); i++)
    eddy_reactor_run_once(r, 0);
  cr_assert_eq(a->lost_calls, 1);
  cr_assert_eq(b->lost_calls, 1);
  cr_assert_eq(a->destroyed, 1);
  cr_assert_eq(b->destroyed, 1);
}

/* Frees both protocols' buffers and proves the reactor closes cleanly. */
static void finish(eddy_reactor_t *r, ep_t *s, ep_t *c) {
  ep_free(s);
  ep_free(c);
  test_close_reactor(r);
}

static eddy_loopback_t *pair(eddy_reactor_t *r, ep_t *s, ep_t *c, char *order) {
  ep_init(s, "s", order);
  ep_init(c, "c", order);
  eddy_loopback_t *lp = NULL;
  cr_assert_eq(eddy_loopback_connect(r, &s->p, &c->p, &lp), 0);
  cr_assert_not_null(lp);
  s->lp = c->lp = lp;
  return lp;
}

Test(loopback, connect_rejects_bad_arguments) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  ep_t a;
  ep_init(&a, "a", NULL);
  eddy_loopback_t *lp = NULL;
  cr_assert_eq(eddy_loopback_connect(r, &a.p, &a.p, &lp), UV_EINVAL);
  cr_assert_eq(eddy_loopback_connect(r, NULL, &a.p, &lp), UV_EINVAL);
  cr_assert_eq(eddy_loopback_connect(r, &a.p, NULL, &lp), UV_EINVAL);
  cr_assert_eq(eddy_loopback_connect(NULL, &a.p, &a.p, &lp), UV_EINVAL);
  cr_assert_null(lp);
  cr_assert_eq(eddy_loopback_pump(NULL), 0);
  ep_free(&a);
  test_close_reactor(r);
}

Test(loopback, connection_made_on_the_next_iteration) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  char order[256] = "";
  ep_t s, c;
  ep_init(&s, "s", order);
  ep_init(&c, "c", order);
  cr_assert_eq(eddy_loopback_connect(r, &s.p, &c.p, NULL), 0);
  cr_assert_eq(s.made + c.made, 0, "never from inside connect");
  eddy_reactor_run_once(r, 0);
  cr_assert_str_eq(order, "smade cmade ");
  cr_assert_neq(s.p.transport, c.p.transport);
  eddy_transport_lose_connection(s.p.transport);
  run_until_lost(r, &s, &c);
  cr_assert_str_eq(order, "smade cmade slost clost ");
  finish(r, &s, &c);
}

Test(loopback, writes_arrive_on_a_later_iteration) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  ep_t s, c;
  pair(r, &s, &c, NULL);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(eddy_transport_write_str(c.p.transport, "hello "), 0);
  cr_assert_eq(eddy_transport_write_str(c.p.transport, "world"), 0);
  cr_assert_eq(eddy_transport_write_buffer_size(c.p.transport), 11);
  cr_assert_eq(s.got.len, 0, "never from inside write");
  eddy_reactor_run_once(r, 0);
  cr_assert(got_is(&s, "hello world"));
  cr_assert_eq(eddy_transport_write_buffer_size(c.p.transport), 0);
  /* A slice and a writev, server to client. */
  eddy_slice_t *sl = eddy_slice_new("slice|", 6);
  cr_assert_eq(eddy_transport_write_slice(s.p.transport, sl), 0);
  eddy_slice_unref(sl);
  uv_buf_t bufs[2] = {{.base = (char *)"a", .len = 1},
                      {.base = (char *)"bc", .len = 2}};
  cr_assert_eq(eddy_transport_writev(s.p.transport, bufs, 2), 0);
  eddy_reactor_run_once(r, 0);
  cr_assert(got_is(&c, "slice|abc"));
  eddy_transport_lose_connection(c.p.transport);
  run_until_lost(r, &s, &c);
  cr_assert_eq(s.lost_reason, 0);
  cr_assert_eq(c.lost_reason, 0);
  finish(r, &s, &c);
}

Test(loopback, pump_delivers_at_once) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  ep_t s, c;
  eddy_loopback_t *lp = pair(r, &s, &c, NULL);
  cr_assert_eq(eddy_loopback_pump(lp), 0);
  cr_assert_eq(s.made, 1);
  cr_assert_eq(c.made, 1);
  s.echo = 1;
  cr_assert_eq(eddy_transport_write_str(c.p.transport, "ping"), 0);
  /* ping to the server, echoed back to the client: 8 bytes. */
  cr_assert_eq(eddy_loopback_pump(lp), 8);
  cr_assert(got_is(&s, "ping"));
  cr_assert(got_is(&c, "ping"));
  cr_assert_eq(eddy_loopback_pump(lp), 0);
  /* Inside a callback the pair is delivering, pump does nothing. */
  s.echo = 0;
  s.pump_in_data = 1;
  s.pump_result = 99;
  cr_assert_eq(eddy_transport_write_str(c.p.transport, "x"), 0);
  cr_assert_eq(eddy_loopback_pump(lp), 1);
  cr_assert_eq(s.pump_result, 0);
  eddy_transport_abort_connection(c.p.transport);
  run_until_lost(r, &s, &c);
  finish(r, &s, &c);
}

/* Two echoing protocols answer each other forever: one exchange per loop
 * iteration, and a bounded pump. */
Test(loopback, endless_echo_does_not_starve_the_loop) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  ep_t s, c;
  eddy_loopback_t *lp = pair(r, &s, &c, NULL);
  s.echo = c.echo = 1;
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(eddy_transport_write_str(c.p.transport, "ab"), 0);
  for (int i = 0; i < 10; i++)
    eddy_reactor_run_once(r, 0);
  cr_assert_eq(s.chunks + c.chunks, 10);
  size_t moved = eddy_loopback_pump(lp);
  cr_assert_eq(moved, 2u * 100000u, "pump stops after its round limit");
  eddy_transport_abort_connection(s.p.transport);
  run_until_lost(r, &s, &c);
  cr_assert_eq(s.lost_reason, UV_ECONNABORTED);
  cr_assert_eq(c.lost_reason, UV_ECONNRESET);
  finish(r, &s, &c);
}

Test(loopback, lose_delivers_what_was_written_first) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  char order[256] = "";
  ep_t s, c;
  pair(r, &s, &c, order);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(eddy_transport_write_str(c.p.transport, "last words"), 0);
  cr_assert_eq(eddy_transport_write_str(s.p.transport, "unread"), 0);
  eddy_transport_lose_connection(c.p.transport);
  cr_assert(eddy_transport_is_closing(c.p.transport));
  cr_assert_not(eddy_transport_is_closing(s.p.transport));
  cr_assert_eq(eddy_transport_write_str(c.p.transport, "more"), UV_EPIPE);
  cr_assert_eq(s.lost_calls + c.lost_calls, 0);
  run_until_lost(r, &s, &c);
  cr_assert(got_is(&s, "last words"));
  cr_assert_eq(c.got.len, 0, "a closing side reads no more");
  cr_assert_eq(s.lost_reason, 0);
  cr_assert_eq(c.lost_reason, 0);
  cr_assert_str_eq(order, "smade cmade clost slost ");
  finish(r, &s, &c);
}

Test(loopback, abort_drops_both_queues) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  char order[256] = "";
  ep_t s, c;
  pair(r, &s, &c, order);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(eddy_transport_write_str(c.p.transport, "dropped"), 0);
  cr_assert_eq(eddy_transport_write_str(s.p.transport, "dropped too"), 0);
  eddy_transport_abort_connection(s.p.transport);
  cr_assert(eddy_transport_is_closing(s.p.transport));
  cr_assert(eddy_transport_is_closing(c.p.transport));
  cr_assert_eq(eddy_transport_write_buffer_size(s.p.transport), 0);
  eddy_transport_abort_connection(c.p.transport); /* too late: no change */
  eddy_transport_lose_connection(c.p.transport);
  run_until_lost(r, &s, &c);
  cr_assert_eq(s.got.len + c.got.len, 0);
  cr_assert_eq(s.lost_reason, UV_ECONNABORTED);
  cr_assert_eq(c.lost_reason, UV_ECONNRESET);
  cr_assert_str_eq(order, "smade cmade slost clost ");
  finish(r, &s, &c);
}

Test(loopback, abort_from_connection_made) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  ep_t s, c;
  pair(r, &s, &c, NULL);
  s.abort_in_made = 1;
  eddy_reactor_run_once(r, 0);
  /* The client was connected all the same, then reset. */
  cr_assert_eq(c.made, 1);
  run_until_lost(r, &s, &c);
  cr_assert_eq(s.lost_reason, UV_ECONNABORTED);
  cr_assert_eq(c.lost_reason, UV_ECONNRESET);
  finish(r, &s, &c);
}

Test(loopback, both_sides_lose) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  ep_t s, c;
  pair(r, &s, &c, NULL);
  eddy_reactor_run_once(r, 0);
  eddy_transport_lose_connection(s.p.transport);
  eddy_transport_lose_connection(c.p.transport);
  run_until_lost(r, &s, &c);
  cr_assert_eq(s.lost_reason, 0);
  cr_assert_eq(c.lost_reason, 0);
  finish(r, &s, &c);
}

Test(loopback, eof_after_the_data_then_close) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  char order[256] = "";
  ep_t s, c;
  pair(r, &s, &c, order);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(eddy_transport_write_str(c.p.transport, "request"), 0);
  cr_assert_eq(eddy_transport_shutdown_write(c.p.transport), 0);
  cr_assert_eq(eddy_transport_write_str(c.p.transport, "x"), UV_EPIPE);
  cr_assert_eq(s.eofs, 0);
  run_until_lost(r, &s, &c);
  cr_assert(got_is(&s, "request"));
  cr_assert_eq(s.eofs, 1);
  cr_assert_str_eq(order, "smade cmade seof slost clost ");
  finish(r, &s, &c);
}

Test(loopback, half_open_reply_then_both_shut) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  char order[256] = "";
  ep_t s, c;
  eddy_loopback_t *lp = pair(r, &s, &c, order);
  s.keep_open = c.keep_open = 1;
  eddy_loopback_pump(lp);
  cr_assert_eq(eddy_transport_write_str(c.p.transport, "question"), 0);
  cr_assert_eq(eddy_transport_shutdown_write(c.p.transport), 0);
  eddy_loopback_pump(lp);
  cr_assert_eq(s.eofs, 1);
  for (int i = 0; i < 3; i++)
    eddy_reactor_run_once(r, 0);
  cr_assert_eq(s.lost_calls, 0, "kept half-open");
  /* The server can still answer, and the client still reads. */
  cr_assert_eq(eddy_transport_write_str(s.p.transport, "answer"), 0);
  cr_assert_eq(eddy_transport_shutdown_write(s.p.transport), 0);
  run_until_lost(r, &s, &c);
  cr_assert(got_is(&c, "answer"));
  cr_assert_eq(c.eofs, 1);
  cr_assert_eq(s.lost_reason, 0);
  cr_assert_eq(c.lost_reason, 0);
  cr_assert_str_eq(order, "smade cmade seof ceof clost slost ");
  finish(r, &s, &c);
}

Test(loopback, paused_reader_fills_the_writers_buffer) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  ep_t s, c;
  pair(r, &s, &c, NULL);
  eddy_reactor_run_once(r, 0);
  eddy_transport_t *ct = c.p.transport;
  cr_assert_eq(eddy_transport_set_write_buffer_limits(ct, 10, 4), 0);
  eddy_transport_pause_reading(s.p.transport);
  cr_assert_eq(eddy_transport_write_str(ct, "0123456789"), 0);
  cr_assert_not(eddy_transport_writing_paused(ct));
  cr_assert_eq(eddy_transport_write_str(ct, "A"), 0);
  cr_assert(eddy_transport_writing_paused(ct));
  for (int i = 0; i < 3; i++)
    eddy_reactor_run_once(r, 0);
  cr_assert_eq(s.got.len, 0, "a paused side receives nothing");
  cr_assert_eq(c.pauses, 1);
  cr_assert_eq(eddy_transport_write_buffer_size(ct), 11);
  eddy_transport_resume_reading(s.p.transport);
  for (int i = 0; i < 3; i++)
    eddy_reactor_run_once(r, 0);
  cr_assert(got_is(&s, "0123456789A"));
  cr_assert_eq(c.resumes, 1);
  cr_assert_not(eddy_transport_writing_paused(ct));
  /* A lose waits for a paused peer to read what it was sent. */
  eddy_transport_pause_reading(s.p.transport);
  cr_assert_eq(eddy_transport_write_str(ct, "bye"), 0);
  eddy_transport_lose_connection(ct);
  for (int i = 0; i < 3; i++)
    eddy_reactor_run_once(r, 0);
  cr_assert_eq(c.lost_calls, 0);
  eddy_transport_resume_reading(s.p.transport);
  run_until_lost(r, &s, &c);
  cr_assert(got_is(&s, "0123456789Abye"));
  finish(r, &s, &c);
}

Test(loopback, large_transfer_in_bounded_pieces) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  ep_t s, c;
  eddy_loopback_t *lp = pair(r, &s, &c, NULL);
  eddy_loopback_pump(lp);
  const size_t total = 1024 * 1024 + 7;
  char *big = malloc(total);
  for (size_t i = 0; i < total; i++)
    big[i] = (char)(i * 31 + 7);
  cr_assert_eq(eddy_transport_write(c.p.transport, big, total), 0);
  cr_assert_eq(eddy_loopback_pump(lp), total);
  cr_assert_eq(s.got.len, total);
  cr_assert_eq(memcmp(s.got.data, big, total), 0);
  cr_assert_leq(s.max_chunk, 64 * 1024);
  cr_assert_geq(s.chunks, 17);
  free(big);
  eddy_transport_lose_connection(c.p.transport);
  run_until_lost(r, &s, &c);
  finish(r, &s, &c);
}

Test(loopback, addresses_and_options) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  ep_t s, c;
  eddy_loopback_t *lp = pair(r, &s, &c, NULL);
  eddy_loopback_pump(lp);
  eddy_addr_t a;
  char buf[64];
  cr_assert_eq(eddy_transport_get_host(s.p.transport, &a), 0);
  eddy_addr_format(&a, buf, sizeof(buf));
  cr_assert_str_eq(buf, "unix:");
  cr_assert_eq(eddy_transport_get_peer(c.p.transport, &a), 0);
  cr_assert_eq(a.ss.ss_family, AF_UNIX);
  cr_assert_eq(eddy_addr_port(&a), 0);
  cr_assert_eq(eddy_transport_set_nodelay(s.p.transport, 1), UV_ENOTSUP);
  cr_assert_eq(eddy_transport_set_keepalive(c.p.transport, 1, 5), UV_ENOTSUP);
  eddy_transport_abort_connection(c.p.transport);
  run_until_lost(r, &s, &c);
  finish(r, &s, &c);
}

Test(loopback, counts_two_open_transports_until_closed) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  ep_t s, c;
  pair(r, &s, &c, NULL);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(eddy_reactor_free(r), EDDY_EBUSYCLOSE);
  eddy_transport_lose_connection(s.p.transport);
  run_until_lost(r, &s, &c);
  finish(r, &s, &c);
}
