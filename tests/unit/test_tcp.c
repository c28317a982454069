/* test_tcp.c — the stream transport over real TCP sockets on loopback:
 * echo, big writes with backpressure, writev, shared slices, closing from
 * every callback, half-close, read pausing, addresses and listen errors. */
#include "net_support.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Connects a client of `client` to the listener on 127.0.0.1 and waits
 * until the server side has its protocol too. */
static peer_t *connect_tcp(eddy_reactor_t *r, eddy_listener_t *l,
                           side_t *client, side_t *server) {
  char ep[64];
  local_endpoint(ep, sizeof(ep), l, "");
  return connect_to(r, ep, client, server);
}

/* ---- Echo -----------------------------------------------------------------
 */

Test(tcp, echo_round_trip) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  server.echo = 1;
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  peer_t *c = connect_tcp(r, l, &client, &server);
  cr_assert_eq(eddy_transport_write_str(tr(c), "hello, "), 0);
  cr_assert_eq(eddy_transport_write_str(tr(c), "eddy"), 0);
  WAIT_FOR(r, c->in.len == 11);
  cr_assert_eq(memcmp(c->in.data, "hello, eddy", 11), 0);
  eddy_transport_lose_connection(tr(c));
  peer_t *s = &server.peers[0];
  WAIT_FOR(r, c->destroyed && s->destroyed);
  cr_assert_eq(c->reason, 0);
  cr_assert_eq(s->reason, 0);
  cr_assert_eq(s->eofs, 1);
  cr_assert_eq(s->base.factory, &server.f);
  cr_assert_eq(c->base.factory, &client.f);
  finish(r, l, &server, &client);
}

/* ---- Big writes and backpressure -------------------------------------------
 */

/* Loopback socket buffers hold several MiB (more with autotuning), so the
 * tests that need bytes to be QUEUED write until the transport reports a
 * queue, up to FILL_MAX, instead of guessing a size. */
#define BIG (8u << 20)
#define FILL_MAX (64u << 20)
#define AFTER_PAUSE (4u << 20)

typedef struct {
  size_t sent;
  size_t total;
  int in_write;
  int lose_when_done;
} producer_t;

static char pattern_at(size_t off) {
  return (char)(off % 251u);
}

static void write_pattern(eddy_transport_t *t, size_t from, size_t n) {
  static char chunk[256 * 1024];
  cr_assert_leq(n, sizeof(chunk));
  for (size_t i = 0; i < n; i++)
    chunk[i] = pattern_at(from + i);
  cr_assert_eq(eddy_transport_write(t, chunk, n), 0);
}

/* Writes the pattern from offset `from` until more than `queued` bytes wait
 * in the transport; returns the new offset. */
static size_t fill_until_queued(eddy_transport_t *t, size_t from,
                                size_t queued) {
  while (eddy_transport_write_buffer_size(t) <= queued) {
    cr_assert_lt(from, FILL_MAX, "the socket never filled up");
    write_pattern(t, from, 256 * 1024);
    from += 256 * 1024;
  }
  return from;
}

static void produce(peer_t *p) {
  producer_t *pr = p->side->user;
  eddy_transport_t *t = tr(p);
  while (pr->sent < pr->total && !eddy_transport_writing_paused(t)) {
    size_t n = pr->total - pr->sent;
    if (n > 64 * 1024)
      n = 64 * 1024;
    pr->in_write = 1;
    write_pattern(t, pr->sent, n);
    pr->in_write = 0;
    pr->sent += n;
  }
  if (pr->sent == pr->total && pr->lose_when_done)
    eddy_transport_lose_connection(t);
}

static void producer_paused(peer_t *p) {
  producer_t *pr = p->side->user;
  cr_assert_eq(pr->in_write, 0, "pause_writing delivered inside write");
  cr_assert(eddy_transport_writing_paused(tr(p)));
  cr_assert_gt(eddy_transport_write_buffer_size(tr(p)),
               EDDY_TRANSPORT_HIGH_WATER_DEFAULT);
  /* The kernel is full now; send a few MiB more through backpressure. */
  if (p->pauses == 1)
    pr->total = pr->sent + AFTER_PAUSE;
}

static void pause_reading_on_made(peer_t *p) {
  eddy_transport_pause_reading(tr(p));
}

static void check_pattern_at(const peer_t *p, size_t at, size_t from,
                             size_t len) {
  cr_assert_geq(p->in.len, at + len);
  for (size_t i = 0; i < len; i++)
    if (p->in.data[at + i] != pattern_at(from + i))
      cr_assert_fail("byte %zu out of order", at + i);
}

static void check_pattern(const peer_t *p, size_t len) {
  cr_assert_eq(p->in.len, len);
  check_pattern_at(p, 0, 0, len);
}

Test(tcp, large_write_with_backpressure) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  producer_t pr = {.total = FILL_MAX, .lose_when_done = 1};
  server.user = &pr;
  server.on_made = produce;
  server.on_resume = produce;
  server.on_pause = producer_paused;
  client.on_made = pause_reading_on_made;
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  peer_t *c = connect_tcp(r, l, &client, &server);
  peer_t *s = &server.peers[0];
  /* The client reads nothing until the kernel buffers filled up. */
  RUN_UNTIL(r, s->pauses != 0 || s->lost, WAIT_MS);
  cr_assert_eq(s->pauses, 1, "sent=%zu queued=%zu paused=%d lost=%d", pr.sent,
               eddy_transport_write_buffer_size(tr(s)),
               eddy_transport_writing_paused(tr(s)), s->lost);
  cr_assert_lt(pr.sent, pr.total);
  eddy_transport_resume_reading(tr(c));
  WAIT_FOR(r, c->destroyed && s->destroyed);
  cr_assert_geq(s->resumes, 1);
  cr_assert_eq(s->pauses - s->resumes, 0);
  cr_assert_eq(s->reason, 0);
  cr_assert_eq(c->reason, 0);
  cr_assert_eq(c->eofs, 1);
  cr_assert_geq(pr.total, AFTER_PAUSE);
  check_pattern(c, pr.total);
  finish(r, l, &server, &client);
}

/* Fills the socket, then one write far above the high-water mark. */
static void fill_then_lose(peer_t *p) {
  producer_t *pr = p->side->user;
  eddy_transport_t *t = tr(p);
  size_t off = fill_until_queued(t, 0, 0);
  size_t big = 4u << 20;
  char *buf = malloc(big);
  cr_assert_not_null(buf);
  for (size_t i = 0; i < big; i++)
    buf[i] = pattern_at(off + i);
  cr_assert_eq(eddy_transport_write(t, buf, big), 0);
  free(buf); /* the transport copied it */
  pr->sent = pr->total = off + big;
  cr_assert_gt(eddy_transport_write_buffer_size(t), big);
  cr_assert(eddy_transport_writing_paused(t));
  cr_assert_eq(p->pauses, 0, "pause_writing delivered inside write");
  eddy_transport_lose_connection(t);
  cr_assert_eq(eddy_transport_write_str(t, "late"), UV_EPIPE);
}

Test(tcp, lose_connection_flushes_everything_first) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  producer_t pr = {0};
  server.user = &pr;
  server.on_made = fill_then_lose;
  client.on_made = pause_reading_on_made;
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  peer_t *c = connect_tcp(r, l, &client, &server);
  peer_t *s = &server.peers[0];
  run_for(r, 20);
  cr_assert_eq(s->lost, 0, "closed before the queue was written");
  eddy_transport_resume_reading(tr(c));
  WAIT_FOR(r, c->destroyed && s->destroyed);
  cr_assert_eq(s->reason, 0);
  cr_assert_eq(c->reason, 0);
  check_pattern(c, pr.total);
  finish(r, l, &server, &client);
}

static void fill_then_abort(peer_t *p) {
  producer_t *pr = p->side->user;
  eddy_transport_t *t = tr(p);
  pr->sent = fill_until_queued(t, 0, 1u << 20);
  eddy_transport_abort_connection(t);
  cr_assert(eddy_transport_is_closing(t));
  cr_assert_eq(eddy_transport_write_str(t, "late"), UV_EPIPE);
  cr_assert_eq(p->lost, 0, "connection_lost delivered inside abort");
}

Test(tcp, abort_drops_the_queue) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  producer_t pr = {0};
  server.user = &pr;
  server.on_made = fill_then_abort;
  client.on_made = pause_reading_on_made;
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  peer_t *c = connect_tcp(r, l, &client, &server);
  peer_t *s = &server.peers[0];
  WAIT_FOR(r, s->destroyed);
  cr_assert_eq(s->reason, UV_ECONNABORTED);
  eddy_transport_resume_reading(tr(c));
  WAIT_FOR(r, c->destroyed);
  /* More than 1 MiB was still queued: it never left. */
  cr_assert_lt(c->in.len + (1u << 20), pr.sent);
  check_pattern_at(c, 0, 0, c->in.len);
  finish(r, l, &server, &client);
}

static void abort_on_data(peer_t *p);

static void write_big(peer_t *p) {
  producer_t *pr = p->side->user;
  char *buf = calloc(1, pr->total);
  cr_assert_not_null(buf);
  cr_assert_eq(eddy_transport_write(tr(p), buf, pr->total), 0);
  free(buf);
}

Test(tcp, peer_vanishing_mid_write_is_an_error_not_a_signal) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  producer_t pr = {.total = BIG};
  server.user = &pr;
  server.on_made = write_big;
  client.on_data = abort_on_data; /* with unread bytes: the peer gets RST */
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  peer_t *c = connect_tcp(r, l, &client, &server);
  struct sigaction sa;
  cr_assert_eq(sigaction(SIGPIPE, NULL, &sa), 0);
  cr_assert(sa.sa_handler == SIG_IGN, "SIGPIPE would kill the process");
  peer_t *s = &server.peers[0];
  WAIT_FOR(r, c->destroyed && s->destroyed);
  cr_assert_eq(c->reason, UV_ECONNABORTED);
  cr_assert(s->reason == UV_EPIPE || s->reason == UV_ECONNRESET, "reason %s",
            eddy_strerror(s->reason));
  finish(r, l, &server, &client);
}

/* ---- writev and shared slices -----------------------------------------------
 */

Test(tcp, writev_keeps_order) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  peer_t *c = connect_tcp(r, l, &client, &server);
  uv_buf_t bufs[4] = {uv_buf_init("abc", 3), uv_buf_init("", 0),
                      uv_buf_init("defg", 4), uv_buf_init("hij", 3)};
  cr_assert_eq(eddy_transport_writev(tr(c), bufs, 4), 0);
  cr_assert_eq(eddy_transport_writev(tr(c), bufs, 0), 0);
  cr_assert_eq(eddy_transport_writev(tr(c), bufs + 3, 1), 0);
  eddy_transport_lose_connection(tr(c));
  peer_t *s = &server.peers[0];
  WAIT_FOR(r, s->destroyed && c->destroyed);
  cr_assert_eq(s->in.len, 13);
  cr_assert_eq(memcmp(s->in.data, "abcdefghijhij", 13), 0);
  finish(r, l, &server, &client);
}

static void count_free(void *data, void *arg) {
  free(data);
  (*(int *)arg)++;
}

Test(tcp, write_slice_shared_by_connections) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  client.on_made = pause_reading_on_made;
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  enum { CONNS = 3 };
  peer_t *cs[CONNS];
  for (int i = 0; i < CONNS; i++)
    cs[i] = connect_tcp(r, l, &client, &server);
  size_t len = 1u << 20;
  char *mem = malloc(len);
  cr_assert_not_null(mem);
  for (size_t i = 0; i < len; i++)
    mem[i] = pattern_at(i);
  int freed = 0;
  eddy_slice_t *sl = eddy_slice_wrap(mem, len, count_free, &freed);
  cr_assert_not_null(sl);
  eddy_slice_t *tiny = eddy_slice_wrap("!", 1, NULL, NULL);
  size_t filler[CONNS];
  for (int i = 0; i < CONNS; i++) {
    eddy_transport_t *t = tr(&server.peers[i]);
    /* With bytes already queued the slice is queued whole, by reference. */
    filler[i] = fill_until_queued(t, 0, 0);
    size_t before = eddy_transport_write_buffer_size(t);
    cr_assert_eq(eddy_transport_write_slice(t, sl), 0);
    cr_assert_eq(eddy_transport_write_buffer_size(t), before + len);
    eddy_transport_lose_connection(t);
    cr_assert_eq(eddy_transport_write_slice(t, tiny), UV_EPIPE);
  }
  eddy_slice_unref(tiny);
  eddy_slice_unref(sl);
  /* Nobody reads yet: the transports still hold the payload. */
  cr_assert_eq(freed, 0);
  for (int i = 0; i < CONNS; i++)
    eddy_transport_resume_reading(tr(cs[i]));
  WAIT_FOR(r, cs[0]->destroyed && cs[1]->destroyed && cs[2]->destroyed);
  cr_assert_eq(freed, 1);
  for (int i = 0; i < CONNS; i++) {
    cr_assert_eq(cs[i]->in.len, filler[i] + len);
    check_pattern_at(cs[i], 0, 0, filler[i]);
    check_pattern_at(cs[i], filler[i], 0, len);
    cr_assert_eq(server.peers[i].reason, 0);
  }
  finish(r, l, &server, &client);
}

static void write_small_slices(peer_t *p) {
  /* Small slices are coalesced with copies; order must hold regardless. */
  eddy_slice_t *a = eddy_slice_new("one,", 4);
  eddy_slice_t *b = eddy_slice_new("two,", 4);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(eddy_transport_write_slice(tr(p), a), 0);
    cr_assert_eq(eddy_transport_write(tr(p), "x", 1), 0);
    cr_assert_eq(eddy_transport_write_slice(tr(p), b), 0);
  }
  eddy_slice_unref(a);
  eddy_slice_unref(b);
  eddy_transport_lose_connection(tr(p));
}

Test(tcp, small_slices_interleave_with_writes) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  server.on_made = write_small_slices;
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  peer_t *c = connect_tcp(r, l, &client, &server);
  WAIT_FOR(r, c->destroyed);
  const char *want = "one,xtwo,one,xtwo,one,xtwo,";
  cr_assert_eq(c->in.len, strlen(want));
  cr_assert_eq(memcmp(c->in.data, want, c->in.len), 0);
  finish(r, l, &server, &client);
}

/* ---- Closing from inside callbacks ------------------------------------------
 */

static void greet_and_lose(peer_t *p) {
  cr_assert_eq(eddy_transport_write_str(tr(p), "bye"), 0);
  eddy_transport_lose_connection(tr(p));
  eddy_transport_lose_connection(tr(p)); /* twice is harmless */
  cr_assert_eq(p->lost, 0);
}

static void abort_now(peer_t *p) {
  eddy_transport_abort_connection(tr(p));
  eddy_transport_abort_connection(tr(p));
  eddy_transport_lose_connection(tr(p));
  cr_assert_eq(p->lost, 0);
}

Test(tcp, lose_inside_connection_made) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  server.on_made = greet_and_lose;
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  peer_t *c = connect_tcp(r, l, &client, &server);
  WAIT_FOR(r, c->destroyed && server.peers[0].destroyed);
  cr_assert_eq(c->in.len, 3);
  cr_assert_eq(memcmp(c->in.data, "bye", 3), 0);
  cr_assert_eq(server.peers[0].reason, 0);
  cr_assert_eq(c->reason, 0);
  finish(r, l, &server, &client);
}

Test(tcp, abort_inside_connection_made) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  server.on_made = abort_now;
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  peer_t *c = connect_tcp(r, l, &client, &server);
  WAIT_FOR(r, c->destroyed && server.peers[0].destroyed);
  cr_assert_eq(server.peers[0].reason, UV_ECONNABORTED);
  cr_assert_eq(server.peers[0].in.len, 0);
  finish(r, l, &server, &client);
}

static void lose_on_data(peer_t *p) {
  cr_assert_eq(eddy_transport_write_str(tr(p), "got it"), 0);
  eddy_transport_lose_connection(tr(p));
}

static void abort_on_data(peer_t *p) {
  eddy_transport_abort_connection(tr(p));
}

Test(tcp, lose_inside_data_received) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  server.on_data = lose_on_data;
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  peer_t *c = connect_tcp(r, l, &client, &server);
  cr_assert_eq(eddy_transport_write_str(tr(c), "x"), 0);
  WAIT_FOR(r, c->destroyed && server.peers[0].destroyed);
  cr_assert_eq(c->in.len, 6);
  cr_assert_eq(server.peers[0].reason, 0);
  cr_assert_eq(c->reason, 0);
  finish(r, l, &server, &client);
}

Test(tcp, abort_inside_data_received) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  server.on_data = abort_on_data;
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  peer_t *c = connect_tcp(r, l, &client, &server);
  cr_assert_eq(eddy_transport_write_str(tr(c), "x"), 0);
  WAIT_FOR(r, c->destroyed && server.peers[0].destroyed);
  cr_assert_eq(server.peers[0].reason, UV_ECONNABORTED);
  cr_assert_eq(server.peers[0].in.len, 1);
  finish(r, l, &server, &client);
}

Test(tcp, reset_by_peer_is_reported) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  server.on_made = pause_reading_on_made;
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  peer_t *c = connect_tcp(r, l, &client, &server);
  peer_t *s = &server.peers[0];
  cr_assert_eq(eddy_transport_write_str(tr(c), "never read"), 0);
  run_for(r, 20);
  /* Closing with unread bytes makes the kernel answer with RST. */
  eddy_transport_abort_connection(tr(s));
  WAIT_FOR(r, c->destroyed && s->destroyed);
  cr_assert_eq(s->reason, UV_ECONNABORTED);
  cr_assert_eq(c->reason, UV_ECONNRESET, "reason %s", eddy_strerror(c->reason));
  cr_assert_eq(c->eofs, 0);
  finish(r, l, &server, &client);
}

/* ---- Half-close -----------------------------------------------------------
 */

static int reply_then_lose(peer_t *p) {
  cr_assert_eq(eddy_transport_write_str(tr(p), "pong"), 0);
  eddy_transport_lose_connection(tr(p));
  return 1;
}

Test(tcp, client_half_closes) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  server.on_eof = reply_then_lose;
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  peer_t *c = connect_tcp(r, l, &client, &server);
  cr_assert_eq(eddy_transport_write_str(tr(c), "ping"), 0);
  cr_assert_eq(eddy_transport_shutdown_write(tr(c)), 0);
  cr_assert_eq(eddy_transport_shutdown_write(tr(c)), 0);
  cr_assert_eq(eddy_transport_write_str(tr(c), "more"), UV_EPIPE);
  peer_t *s = &server.peers[0];
  WAIT_FOR(r, c->destroyed && s->destroyed);
  cr_assert_eq(s->in.len, 4);
  cr_assert_eq(memcmp(s->in.data, "ping", 4), 0);
  cr_assert_eq(c->in.len, 4);
  cr_assert_eq(memcmp(c->in.data, "pong", 4), 0);
  cr_assert_eq(s->reason, 0);
  cr_assert_eq(c->reason, 0);
  cr_assert_eq(c->eofs, 1);
  finish(r, l, &server, &client);
}

static void greet_and_shut(peer_t *p) {
  cr_assert_eq(eddy_transport_write_str(tr(p), "question?"), 0);
  cr_assert_eq(eddy_transport_shutdown_write(tr(p)), 0);
}

static int answer_and_shut(peer_t *p) {
  /* The server will send no more; answer anyway, then shut our side. */
  cr_assert_eq(eddy_transport_write_str(tr(p), "answer"), 0);
  cr_assert_eq(eddy_transport_shutdown_write(tr(p)), 0);
  return 1;
}

Test(tcp, server_half_closes_and_both_finish) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  server.on_made = greet_and_shut;
  client.on_eof = answer_and_shut;
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  peer_t *c = connect_tcp(r, l, &client, &server);
  peer_t *s = &server.peers[0];
  WAIT_FOR(r, c->destroyed && s->destroyed);
  cr_assert_eq(c->in.len, 9);
  cr_assert_eq(s->in.len, 6);
  cr_assert_eq(memcmp(s->in.data, "answer", 6), 0);
  cr_assert_eq(s->eofs, 1);
  cr_assert_eq(c->eofs, 1);
  cr_assert_eq(s->reason, 0);
  cr_assert_eq(c->reason, 0);
  finish(r, l, &server, &client);
}

Test(tcp, eof_closes_when_not_kept_open) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  server.echo = 1; /* eof_received answers 0: close once the echo is out */
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  peer_t *c = connect_tcp(r, l, &client, &server);
  cr_assert_eq(eddy_transport_write_str(tr(c), "echo me"), 0);
  cr_assert_eq(eddy_transport_shutdown_write(tr(c)), 0);
  WAIT_FOR(r, c->destroyed && server.peers[0].destroyed);
  cr_assert_eq(c->in.len, 7);
  cr_assert_eq(c->reason, 0);
  cr_assert_eq(server.peers[0].reason, 0);
  finish(r, l, &server, &client);
}

/* ---- Reading control, addresses, options ------------------------------------
 */

Test(tcp, pause_and_resume_reading) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  server.on_made = pause_reading_on_made;
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  peer_t *c = connect_tcp(r, l, &client, &server);
  peer_t *s = &server.peers[0];
  cr_assert_eq(eddy_transport_write_str(tr(c), "abc"), 0);
  run_for(r, 30);
  cr_assert_eq(s->in.len, 0);
  eddy_transport_resume_reading(tr(s));
  WAIT_FOR(r, s->in.len == 3);
  eddy_transport_pause_reading(tr(s));
  cr_assert_eq(eddy_transport_write_str(tr(c), "def"), 0);
  run_for(r, 30);
  cr_assert_eq(s->in.len, 3);
  eddy_transport_resume_reading(tr(s));
  eddy_transport_resume_reading(tr(s)); /* twice is harmless */
  WAIT_FOR(r, s->in.len == 6);
  eddy_transport_abort_connection(tr(c));
  WAIT_FOR(r, c->destroyed && s->destroyed);
  finish(r, l, &server, &client);
}

Test(tcp, host_and_peer_addresses) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  peer_t *c = connect_tcp(r, l, &client, &server);
  peer_t *s = &server.peers[0];
  eddy_addr_t sh, sp, ch, cp, la;
  cr_assert_eq(eddy_transport_get_host(tr(s), &sh), 0);
  cr_assert_eq(eddy_transport_get_peer(tr(s), &sp), 0);
  cr_assert_eq(eddy_transport_get_host(tr(c), &ch), 0);
  cr_assert_eq(eddy_transport_get_peer(tr(c), &cp), 0);
  cr_assert_eq(eddy_listener_address(l, &la), 0);
  char a[64], b[64];
  eddy_addr_format(&sh, a, sizeof(a));
  eddy_addr_format(&cp, b, sizeof(b));
  cr_assert_str_eq(a, b);
  eddy_addr_format(&la, b, sizeof(b));
  cr_assert_str_eq(a, b);
  char want[64];
  snprintf(want, sizeof(want), "127.0.0.1:%d", eddy_listener_port(l));
  cr_assert_str_eq(a, want);
  eddy_addr_format(&sp, a, sizeof(a));
  eddy_addr_format(&ch, b, sizeof(b));
  cr_assert_str_eq(a, b);
  cr_assert_eq(eddy_addr_port(&sp), eddy_addr_port(&ch));
  cr_assert_eq(eddy_transport_get_peer(tr(c), NULL), UV_EINVAL);

  cr_assert_eq(eddy_transport_set_nodelay(tr(c), 0), 0);
  cr_assert_eq(eddy_transport_set_nodelay(tr(c), 1), 0);
  cr_assert_eq(eddy_transport_set_keepalive(tr(c), 1, 30), 0);
  cr_assert_eq(eddy_transport_set_keepalive(tr(c), 1, 0), UV_EINVAL);
  cr_assert_eq(eddy_transport_set_keepalive(tr(c), 0, 0), 0);
  eddy_transport_lose_connection(tr(c));
  WAIT_FOR(r, c->destroyed && s->destroyed);
  finish(r, l, &server, &client);
}

Test(tcp, write_buffer_limits) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  peer_t *c = connect_tcp(r, l, &client, &server);
  eddy_transport_t *t = tr(c);
  cr_assert_eq(eddy_transport_set_write_buffer_limits(t, 10, 20), UV_EINVAL);
  cr_assert_eq(eddy_transport_set_write_buffer_limits(t, 100, 10), 0);
  cr_assert_eq(t->high_water, 100);
  cr_assert_eq(eddy_transport_set_write_buffer_limits(t, 0, 0), 0);
  cr_assert_eq(t->high_water, EDDY_TRANSPORT_HIGH_WATER_DEFAULT);
  cr_assert_eq(t->low_water, EDDY_TRANSPORT_LOW_WATER_DEFAULT);
  cr_assert_eq(eddy_transport_write_buffer_size(t), 0);
  cr_assert_eq(eddy_transport_writing_paused(t), 0);
  eddy_transport_lose_connection(t);
  WAIT_FOR(r, c->destroyed && server.peers[0].destroyed);
  finish(r, l, &server, &client);
}

/* ---- Listening ------------------------------------------------------------
 */

Test(tcp, factory_refusing_closes_the_connection) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  server.refuse = 1;
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  peer_t *c = connect_tcp(r, l, &client, &server);
  WAIT_FOR(r, c->destroyed);
  cr_assert_eq(server.n, 0);
  cr_assert(c->reason == 0 || c->reason == UV_ECONNRESET, "reason %s",
            eddy_strerror(c->reason));
  finish(r, l, &server, &client);
}

Test(tcp, listening_twice_on_a_port_fails) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server;
  side_init(&server);
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  char ep[64];
  snprintf(ep, sizeof(ep), "tcp:%d", eddy_listener_port(l));
  eddy_listener_t *l2 = (eddy_listener_t *)&server; /* must be reset */
  cr_assert_eq(eddy_listen(r, ep, &server.f, &l2), UV_EADDRINUSE);
  cr_assert_null(l2);
  cr_assert_eq(eddy_listen(r, "tcp:nonsense", &server.f, &l2), EDDY_EPARSE);
  cr_assert_eq(eddy_listen(r, "tcp:0:interface=not-an-ip", &server.f, &l2),
               EDDY_EPARSE);
  eddy_endpoint_t ep_bad = {.kind = EDDY_ENDPOINT_TCP, .server = 1};
  strcpy(ep_bad.host, "not-an-ip");
  cr_assert_eq(eddy_listen_endpoint(r, &ep_bad, &server.f, &l2), UV_EINVAL);
  ep_bad.kind = 42;
  cr_assert_eq(eddy_listen_endpoint(r, &ep_bad, &server.f, &l2), UV_EINVAL);
  cr_assert_eq(eddy_listen(r, NULL, &server.f, &l2), UV_EINVAL);
  cr_assert_eq(eddy_listen(r, "tcp:0", NULL, &l2), UV_EINVAL);
  finish(r, l, &server, &server);
}

Test(tcp, listener_close_callback_and_connections_survive) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  server.echo = 1;
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  peer_t *c = connect_tcp(r, l, &client, &server);
  int closed = 0;
  eddy_listener_close(l, closed_cb, &closed);
  cr_assert_eq(closed, 0);
  WAIT_FOR(r, closed == 1);
  /* The accepted connection goes on without its listener. */
  cr_assert_eq(eddy_transport_write_str(tr(c), "still here"), 0);
  WAIT_FOR(r, c->in.len == 10);
  eddy_transport_lose_connection(tr(c));
  WAIT_FOR(r, c->destroyed && server.peers[0].destroyed);
  finish(r, NULL, &server, &client);
}

Test(tcp, ipv6_loopback) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  server.echo = 1;
  eddy_listener_t *l = NULL;
  int rc = eddy_listen(r, "tcp6:0", &server.f, &l);
  if (rc == UV_EADDRNOTAVAIL || rc == UV_EAFNOSUPPORT) {
    test_close_reactor(r);
    cr_skip_test("no IPv6 loopback on this host");
  }
  cr_assert_eq(rc, 0, "listen tcp6: %s", eddy_strerror(rc));
  eddy_addr_t la;
  eddy_listener_address(l, &la);
  cr_assert_eq(la.ss.ss_family, AF_INET6);
  char ep[64];
  snprintf(ep, sizeof(ep), "tcp6:\\:\\:1:%d", eddy_listener_port(l));
  peer_t *c = connect_to(r, ep, &client, &server);
  cr_assert_eq(eddy_transport_write_str(tr(c), "six"), 0);
  WAIT_FOR(r, c->in.len == 3);
  eddy_addr_t peer;
  cr_assert_eq(eddy_transport_get_peer(tr(c), &peer), 0);
  char a[64];
  eddy_addr_format(&peer, a, sizeof(a));
  char want[64];
  snprintf(want, sizeof(want), "[::1]:%d", eddy_listener_port(l));
  cr_assert_str_eq(a, want);
  eddy_transport_lose_connection(tr(c));
  WAIT_FOR(r, c->destroyed && server.peers[0].destroyed);
  finish(r, l, &server, &client);
}
