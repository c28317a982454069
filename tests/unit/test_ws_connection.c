/* test_ws_connection.c — the connection API (eddy/websocket.h): a server and
 * a client talking over an in-memory loopback pair (with and without
 * permessage-deflate), the send queue policy and on_drain, automatic pings
 * and the pong timeout on the fake clock, streamed sends, argument errors,
 * bytes that arrive before on_open, closing from inside a handler, client
 * masking, and shared broadcast messages. */
#include "support.h"
#include "ws_peer.h"

#include <stdio.h>

/* ---- A server and a client on a loopback pair
 * --------------------------------- */

typedef struct {
  int opened, closed, nmsgs;
  eddy_ws_close_info_t info;
  size_t bytes;
  unsigned last_opcode;
  char last[256];
  int echo;
  int close_after; /* close with 1000 after this many messages */
  eddy_ws_t *ws;
} side_t;

static void s_open(eddy_ws_t *ws, void *arg) {
  side_t *s = arg;
  s->opened++;
  s->ws = ws;
}

static void s_message(eddy_ws_t *ws, unsigned opcode, const char *data,
                      size_t len, void *arg) {
  side_t *s = arg;
  s->nmsgs++;
  s->bytes += len;
  s->last_opcode = opcode;
  size_t n = len < sizeof(s->last) - 1 ? len : sizeof(s->last) - 1;
  memcpy(s->last, data, n);
  s->last[n] = '\0';
  if (s->echo) {
    int rc = eddy_ws_send(ws, opcode, data, len);
    cr_assert(rc == 0 || rc == UV_EPIPE); /* EPIPE once we sent a close */
  }
  if (s->close_after && s->nmsgs == s->close_after)
    cr_assert_eq(eddy_ws_close(ws, 1000, "enough"), 0);
}

static void s_close(eddy_ws_t *ws, const eddy_ws_close_info_t *info,
                    void *arg) {
  (void)ws;
  side_t *s = arg;
  s->closed++;
  s->info = *info;
  s->info.reason = NULL;
}

static const eddy_ws_handlers_t side_handlers = {
    .on_open = s_open, .on_message = s_message, .on_close = s_close};

typedef struct {
  eddy_reactor_t *r;
  side_t srv, cli;
  eddy_ws_t *sws, *cws;
  eddy_loopback_t *lp;
} pair_t;

static void pair_open(pair_t *p, const eddy_ws_config_t *cfg,
                      const eddy_ws_deflate_params_t *pmd) {
  memset(p, 0, sizeof(*p));
  p->r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  p->srv.echo = 1;
  cr_assert_eq(eddy_ws_new(p->r, EDDY_WS_SERVER, cfg, &side_handlers, &p->srv,
                           pmd, &p->sws),
               0);
  cr_assert_eq(eddy_ws_new(p->r, EDDY_WS_CLIENT, cfg, &side_handlers, &p->cli,
                           pmd, &p->cws),
               0);
  cr_assert_eq(eddy_loopback_connect(p->r, eddy_ws_protocol(p->sws),
                                     eddy_ws_protocol(p->cws), &p->lp),
               0);
  eddy_loopback_pump(p->lp);
  for (int i = 0; i < 4 && (p->srv.opened == 0 || p->cli.opened == 0); i++)
    eddy_reactor_run_once(p->r, 0);
  cr_assert_eq(p->srv.opened, 1);
  cr_assert_eq(p->cli.opened, 1);
}

static void pair_run(pair_t *p) {
  for (int i = 0; i < 200 && (p->srv.closed == 0 || p->cli.closed == 0); i++) {
    if (p->lp != NULL && p->srv.closed == 0 && p->cli.closed == 0)
      eddy_loopback_pump(p->lp);
    eddy_reactor_run_once(p->r, 0);
  }
}

Test(ws_connection, loopback_echo_and_close) {
  pair_t p;
  pair_open(&p, NULL, NULL);
  for (int i = 0; i < 100; i++) {
    char m[32];
    int n = snprintf(m, sizeof(m), "hello %d", i);
    cr_assert_eq(eddy_ws_send_text(p.cws, m, (size_t)n), 0);
  }
  cr_assert_eq(eddy_ws_send_binary(p.cws, "\0\1\2", 3), 0);
  eddy_loopback_pump(p.lp);
  cr_assert_eq(p.srv.nmsgs, 101);
  cr_assert_eq(p.cli.nmsgs, 101);
  cr_assert_eq(p.cli.last_opcode, EDDY_WS_OP_BINARY);
  cr_assert_eq(eddy_ws_role(p.sws), EDDY_WS_SERVER);
  cr_assert_eq(eddy_ws_role(p.cws), EDDY_WS_CLIENT);
  cr_assert_eq(eddy_ws_reactor(p.sws), p.r);
  cr_assert(eddy_ws_writable(p.cws));
  /* The client starts the close; the server answers and drops TCP. */
  cr_assert_eq(eddy_ws_close(p.cws, 1000, "bye"), 0);
  pair_run(&p);
  cr_assert_eq(p.srv.closed, 1);
  cr_assert_eq(p.cli.closed, 1);
  cr_assert(p.srv.info.clean && p.cli.info.clean);
  cr_assert_eq(p.srv.info.code, 1000);
  cr_assert_eq(p.cli.info.code, 1000);
  cr_assert_eq(p.cli.info.error, 0);
  cr_assert_eq(p.srv.info.error, 0);
  test_close_reactor(p.r);
}

Test(ws_connection, loopback_server_closes) {
  pair_t p;
  pair_open(&p, NULL, NULL);
  p.srv.close_after = 3;
  for (int i = 0; i < 5; i++)
    eddy_ws_send_text(p.cws, "x", 1);
  pair_run(&p);
  cr_assert_eq(p.srv.nmsgs, 5); /* still delivered after our close */
  cr_assert_eq(p.cli.nmsgs, 3); /* echoes after the close are refused */
  cr_assert(p.srv.info.clean && p.cli.info.clean);
  cr_assert_eq(p.cli.info.code, 1000);
  cr_assert_eq(p.srv.info.sent_code, 1000);
  test_close_reactor(p.r);
}

Test(ws_connection, loopback_deflate) {
  static const eddy_ws_deflate_params_t sets[] = {
      {15, 15, 1, 0}, {15, 15, 0, 0}, {10, 9, 1, 1}};
  for (size_t s = 0; s < 3; s++) {
    pair_t p;
    eddy_ws_config_t cfg = {0};
    cfg.fragment_size = 1000;
    pair_open(&p, &cfg, &sets[s]);
    cr_assert(eddy_ws_deflate(p.sws, NULL));
    eddy_ws_deflate_params_t got;
    cr_assert(eddy_ws_deflate(p.cws, &got));
    cr_assert_eq(got.server_max_window_bits, sets[s].server_max_window_bits);
    char big[20000];
    for (size_t i = 0; i < sizeof(big); i++)
      big[i] = "abcabcabd"[i % 9];
    for (int i = 0; i < 20; i++)
      cr_assert_eq(eddy_ws_send_text(p.cws, big, sizeof(big) - (size_t)i), 0);
    eddy_loopback_pump(p.lp);
    cr_assert_eq(p.cli.nmsgs, 20);
    cr_assert_eq(p.cli.bytes, 20 * sizeof(big) - 190);
    cr_assert_eq(eddy_ws_close(p.sws, 1001, NULL), 0);
    pair_run(&p);
    cr_assert_eq(p.cli.info.code, 1001);
    test_close_reactor(p.r);
  }
}

/* ---- Send queue policy and backpressure
 * -------------------------------------- */

Test(ws_connection, send_queue_overflow) {
  peer_t p;
  eddy_ws_config_t cfg = {0};
  cfg.max_send_queue = 10000;
  peer_open(&p, EDDY_WS_SERVER, &cfg, NULL);
  char buf[4000];
  memset(buf, 'q', sizeof(buf));
  /* The reader reads nothing: bytes pile up "in the kernel". */
  eddy_string_transport_set_pending(p.st, 9000);
  cr_assert_eq(eddy_ws_send_binary(p.ws, buf, 900), 0);
  cr_assert_eq(eddy_ws_send_binary(p.ws, buf, sizeof(buf)), UV_ENOBUFS);
  cr_assert_eq(eddy_ws_send_binary(p.ws, buf, 1), UV_EPIPE);
  pframe_t *f = peer_next(&p);
  cr_assert(f != NULL && f->len == 900);
  peer_expect_close(&p, 1008);
  /* The peer never completes the close: dropped at the close timeout. */
  peer_spin(&p);
  cr_assert_eq(p.closed, 0);
  eddy_reactor_advance(p.r, EDDY_WS_CLOSE_TIMEOUT_DEFAULT);
  cr_assert(eddy_string_transport_abort_called(p.st));
  peer_spin(&p);
  cr_assert_eq(p.closed, 1);
  cr_assert_eq(p.info.error, UV_ENOBUFS);
  cr_assert_eq(p.info.sent_code, 1008);
  peer_close(&p);
}

Test(ws_connection, pongs_count_against_the_queue) {
  peer_t p;
  eddy_ws_config_t cfg = {0};
  cfg.max_send_queue = 1000;
  peer_open(&p, EDDY_WS_SERVER, &cfg, NULL);
  eddy_string_transport_set_pending(p.st, 950);
  char ping[100];
  memset(ping, 'p', sizeof(ping));
  peer_send(&p, EDDY_WS_OP_PING, 1, ping, sizeof(ping));
  peer_expect_close(&p, 1008);
  peer_close(&p);
  cr_assert_eq(p.info.error, UV_ENOBUFS);
}

Test(ws_connection, drain) {
  peer_t p;
  peer_open(&p, EDDY_WS_SERVER, NULL, NULL);
  cr_assert(eddy_ws_writable(p.ws));
  eddy_string_transport_set_pending(p.st,
                                    EDDY_TRANSPORT_HIGH_WATER_DEFAULT + 1);
  cr_assert_eq(eddy_ws_buffered(p.ws), EDDY_TRANSPORT_HIGH_WATER_DEFAULT + 1);
  cr_assert(!eddy_ws_writable(p.ws));
  peer_spin(&p);
  cr_assert_eq(p.drains, 0);
  eddy_string_transport_set_pending(p.st, 0);
  peer_spin(&p);
  cr_assert_eq(p.drains, 1);
  cr_assert(eddy_ws_writable(p.ws));
  peer_close(&p);
}

/* ---- Automatic pings
 * -------------------------------------------------------------- */

Test(ws_connection, pings_and_pong_timeout) {
  peer_t p;
  eddy_ws_config_t cfg = {0};
  cfg.ping_interval_ms = 1000;
  cfg.pong_timeout_ms = 500;
  peer_open(&p, EDDY_WS_CLIENT, &cfg, NULL);
  eddy_reactor_advance(p.r, 999);
  peer_expect_nothing(&p);
  eddy_reactor_advance(p.r, 1);
  pframe_t *f = peer_next(&p);
  cr_assert(f != NULL && f->opcode == EDDY_WS_OP_PING);
  /* The pong keeps it alive. */
  eddy_reactor_advance(p.r, 400);
  peer_send(&p, EDDY_WS_OP_PONG, 1, NULL, 0);
  cr_assert_eq(p.pongs, 1);
  eddy_reactor_advance(p.r, 500);
  cr_assert(!eddy_string_transport_abort_called(p.st));
  peer_expect_nothing(&p);
  /* Traffic also counts: no ping while messages flow. */
  for (int i = 0; i < 5; i++) {
    eddy_reactor_advance(p.r, 400);
    peer_send(&p, EDDY_WS_OP_TEXT, 1, "hi", 2);
    peer_expect_message(&p, EDDY_WS_OP_TEXT, "hi", 2);
  }
  peer_expect_nothing(&p);
  /* Silence: a ping, then the timeout. */
  eddy_reactor_advance(p.r, 1000);
  f = peer_next(&p);
  cr_assert(f != NULL && f->opcode == EDDY_WS_OP_PING);
  eddy_reactor_advance(p.r, 500);
  cr_assert(eddy_string_transport_abort_called(p.st));
  peer_spin(&p);
  cr_assert_eq(p.info.error, UV_ETIMEDOUT);
  cr_assert_eq(p.info.code, 1006);
  peer_close(&p);
}

Test(ws_connection, pings_disabled) {
  peer_t p;
  eddy_ws_config_t cfg = {0};
  cfg.ping_interval_ms = EDDY_WS_NEVER;
  peer_open(&p, EDDY_WS_SERVER, &cfg, NULL);
  eddy_reactor_advance(p.r, 10 * EDDY_WS_PING_INTERVAL_DEFAULT);
  peer_expect_nothing(&p);
  peer_close(&p);
}

/* ---- Streaming and argument errors
 * ----------------------------------------------- */

Test(ws_connection, streamed_send) {
  peer_t p;
  peer_open(&p, EDDY_WS_SERVER, NULL, NULL);
  cr_assert_eq(eddy_ws_send_fragment(p.ws, EDDY_WS_OP_CONT, "x", 1, 0),
               UV_EINVAL);
  /* "é" split across two pieces. */
  cr_assert_eq(eddy_ws_send_fragment(p.ws, EDDY_WS_OP_TEXT, "caf\xc3", 4, 0),
               0);
  cr_assert_eq(eddy_ws_send_text(p.ws, "no", 2), UV_EBUSY);
  cr_assert_eq(eddy_ws_send_fragment(p.ws, EDDY_WS_OP_TEXT, "x", 1, 0),
               UV_EBUSY);
  cr_assert_eq(eddy_ws_ping(p.ws, "mid", 3), 0);
  /* Invalid continuation bytes are refused and change nothing. */
  cr_assert_eq(eddy_ws_send_fragment(p.ws, EDDY_WS_OP_CONT, "\x41", 1, 1),
               UV_EINVAL);
  cr_assert_eq(eddy_ws_send_fragment(p.ws, EDDY_WS_OP_CONT, "\xa9!", 2, 1), 0);
  pframe_t *f = peer_next(&p);
  cr_assert(f && f->opcode == EDDY_WS_OP_TEXT && !f->fin && f->len == 4);
  f = peer_next(&p);
  cr_assert(f && f->opcode == EDDY_WS_OP_PING);
  f = peer_next(&p);
  cr_assert(f && f->opcode == EDDY_WS_OP_CONT && f->fin && f->len == 2);
  /* A text stream may not end inside a character. */
  cr_assert_eq(eddy_ws_send_fragment(p.ws, EDDY_WS_OP_TEXT, "\xc3", 1, 1),
               UV_EINVAL);
  cr_assert_eq(eddy_ws_send_text(p.ws, "after", 5), 0);
  peer_expect_message(&p, EDDY_WS_OP_TEXT, "after", 5);
  peer_close(&p);
}

Test(ws_connection, argument_errors) {
  peer_t p;
  peer_open(&p, EDDY_WS_SERVER, NULL, NULL);
  char big[126] = {0};
  cr_assert_eq(eddy_ws_send(p.ws, EDDY_WS_OP_PING, "x", 1), UV_EINVAL);
  cr_assert_eq(eddy_ws_send(p.ws, 3, "x", 1), UV_EINVAL);
  cr_assert_eq(eddy_ws_send_text(p.ws, "\xff", 1), UV_EINVAL);
  cr_assert_eq(eddy_ws_send_binary(p.ws, NULL, 1), UV_EINVAL);
  cr_assert_eq(eddy_ws_ping(p.ws, big, sizeof(big)), UV_EINVAL);
  cr_assert_eq(eddy_ws_pong(p.ws, big, 125), 0);
  cr_assert_eq(eddy_ws_close(p.ws, 1005, NULL), UV_EINVAL);
  cr_assert_eq(eddy_ws_close(p.ws, 999, NULL), UV_EINVAL);
  cr_assert_eq(eddy_ws_close(p.ws, 0, "why"), UV_EINVAL);
  cr_assert_eq(eddy_ws_close(p.ws, 1000, "\xff"), UV_EINVAL);
  cr_assert(eddy_ws_subprotocol(p.ws) == NULL);
  cr_assert(!eddy_ws_deflate(p.ws, NULL));
  eddy_addr_t a;
  cr_assert_eq(eddy_ws_peer(p.ws, &a), 0);
  eddy_ws_set_data(p.ws, &a);
  cr_assert(eddy_ws_data(p.ws) == &a);
  pframe_t *f = peer_next(&p);
  cr_assert(f && f->opcode == EDDY_WS_OP_PONG && f->len == 125);
  cr_assert_eq(eddy_ws_close(p.ws, 0, NULL), 0);
  peer_expect_close(&p, 0);
  cr_assert_eq(eddy_ws_ping(p.ws, NULL, 0), UV_EPIPE);
  peer_close(&p);

  /* Bad configurations and parameters. */
  eddy_reactor_t *r = test_reactor(0);
  eddy_ws_t *ws;
  eddy_ws_config_t cfg = {0};
  cfg.deflate_window_bits = 8;
  cr_assert_eq(
      eddy_ws_new(r, EDDY_WS_SERVER, &cfg, &peer_handlers, NULL, NULL, &ws),
      UV_EINVAL);
  const char *protos[] = {"bad proto", NULL};
  memset(&cfg, 0, sizeof(cfg));
  cfg.subprotocols = protos;
  cr_assert_eq(
      eddy_ws_new(r, EDDY_WS_SERVER, &cfg, &peer_handlers, NULL, NULL, &ws),
      UV_EINVAL);
  const char *hdrs[] = {"X-Ok: 1\r\nInjected: yes", NULL};
  memset(&cfg, 0, sizeof(cfg));
  cfg.headers = hdrs;
  cr_assert_eq(
      eddy_ws_new(r, EDDY_WS_CLIENT, &cfg, &peer_handlers, NULL, NULL, &ws),
      UV_EINVAL);
  eddy_ws_deflate_params_t prm = {8, 15, 1, 0};
  cr_assert_eq(
      eddy_ws_new(r, EDDY_WS_SERVER, NULL, &peer_handlers, NULL, &prm, &ws),
      UV_EINVAL);
  cr_assert_eq(eddy_ws_new(r, EDDY_WS_SERVER, NULL, NULL, NULL, NULL, &ws),
               UV_EINVAL);
  /* Never connected: freed by hand; sends say "not connected". */
  cr_assert_eq(
      eddy_ws_new(r, EDDY_WS_SERVER, NULL, &peer_handlers, NULL, NULL, &ws), 0);
  cr_assert_eq(eddy_ws_send_text(ws, "x", 1), UV_ENOTCONN);
  eddy_ws_free_unconnected(ws);
  test_close_reactor(r);
}

/* ---- Ordering and re-entrancy
 * ---------------------------------------------------- */

Test(ws_connection, bytes_before_open) {
  peer_t p;
  memset(&p, 0, sizeof(p));
  p.r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  p.role = EDDY_WS_SERVER;
  p.echo = 1;
  cr_assert_eq(
      eddy_ws_new(p.r, EDDY_WS_SERVER, NULL, &peer_handlers, &p, NULL, &p.ws),
      0);
  p.st = eddy_string_transport_new(p.r);
  eddy_string_transport_connect(p.st, eddy_ws_protocol(p.ws));
  eddy_ws_decoder_init(&p.dec, EDDY_WS_CLIENT, 0, 1 << 20);
  peer_send(&p, EDDY_WS_OP_TEXT, 1, "one", 3);
  peer_send(&p, EDDY_WS_OP_TEXT, 1, "two", 3);
  cr_assert_eq(p.nmsgs, 0, "nothing before on_open");
  peer_spin(&p);
  cr_assert_eq(p.opened, 1);
  cr_assert_eq(p.nmsgs, 2);
  peer_expect_message(&p, EDDY_WS_OP_TEXT, "one", 3);
  peer_expect_message(&p, EDDY_WS_OP_TEXT, "two", 3);
  peer_close(&p);
}

static void abort_on_message(eddy_ws_t *ws, unsigned opcode, const char *data,
                             size_t len, void *arg) {
  peer_on_message(ws, opcode, data, len, arg);
  eddy_ws_abort(ws);
}

Test(ws_connection, abort_inside_handler) {
  peer_t p;
  eddy_ws_handlers_t h = peer_handlers;
  h.on_message = abort_on_message;
  memset(&p, 0, sizeof(p));
  p.r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  p.role = EDDY_WS_SERVER;
  cr_assert_eq(eddy_ws_new(p.r, EDDY_WS_SERVER, NULL, &h, &p, NULL, &p.ws), 0);
  p.st = eddy_string_transport_new(p.r);
  eddy_string_transport_connect(p.st, eddy_ws_protocol(p.ws));
  peer_spin(&p);
  eddy_ws_decoder_init(&p.dec, EDDY_WS_CLIENT, 0, 1 << 20);
  uint8_t two[64];
  size_t a, b;
  uint8_t *f1 = peer_build(&p, 0x81, "first", 5, &a);
  uint8_t *f2 = peer_build(&p, 0x81, "second", 6, &b);
  memcpy(two, f1, a);
  memcpy(two + a, f2, b);
  peer_feed(&p, two, a + b);
  free(f1);
  free(f2);
  cr_assert_eq(p.nmsgs, 1, "nothing is delivered after an abort");
  peer_spin(&p);
  cr_assert_eq(p.closed, 1);
  cr_assert_eq(p.info.error, UV_ECONNABORTED);
  cr_assert_eq(p.info.code, 1006);
  peer_close(&p);
}

Test(ws_connection, client_masks_with_fresh_keys) {
  peer_t p;
  peer_open(&p, EDDY_WS_CLIENT, NULL, NULL);
  cr_assert_eq(eddy_ws_send_text(p.ws, "same", 4), 0);
  cr_assert_eq(eddy_ws_send_text(p.ws, "same", 4), 0);
  size_t n;
  const uint8_t *v = (const uint8_t *)eddy_string_transport_value(p.st, &n);
  cr_assert_eq(n, 2 * (2 + 4 + 4));
  cr_assert(v[1] & 0x80);
  cr_assert(memcmp(v + 2, v + 12, 4) != 0, "two frames, two keys");
  peer_expect_message(&p, EDDY_WS_OP_TEXT, "same", 4);
  peer_expect_message(&p, EDDY_WS_OP_TEXT, "same", 4);
  peer_close(&p);
}

/* ---- Shared messages
 * ------------------------------------------------------------ */

Test(ws_connection, broadcast_message) {
  eddy_ws_message_t *m;
  cr_assert_eq(eddy_ws_message_new(EDDY_WS_OP_TEXT, "\xff", 1, &m), UV_EINVAL);
  cr_assert_eq(eddy_ws_message_new(EDDY_WS_OP_PING, "x", 1, &m), UV_EINVAL);
  char text[3000];
  for (size_t i = 0; i < sizeof(text); i++)
    text[i] = "broadcast "[i % 10];
  cr_assert_eq(eddy_ws_message_new(EDDY_WS_OP_TEXT, text, sizeof(text), &m), 0);
  size_t len;
  cr_assert(memcmp(eddy_ws_message_data(m, &len), text, sizeof(text)) == 0);
  cr_assert_eq(len, sizeof(text));
  cr_assert_eq(eddy_ws_message_opcode(m), EDDY_WS_OP_TEXT);

  eddy_ws_deflate_params_t shared = {15, 15, 1, 0}, small = {10, 15, 1, 0},
                           takeover = {15, 15, 0, 0};
  const eddy_ws_deflate_params_t *kinds[] = {NULL,    NULL,   &shared,
                                             &shared, &small, &takeover};
  peer_t peers[7];
  for (int i = 0; i < 6; i++) {
    peer_open(&peers[i], EDDY_WS_SERVER, NULL, kinds[i]);
    cr_assert_eq(eddy_ws_send_message(peers[i].ws, m), 0);
    cr_assert_eq(eddy_ws_send_message(peers[i].ws, m), 0);
  }
  peer_open(&peers[6], EDDY_WS_CLIENT, NULL, NULL);
  cr_assert_eq(eddy_ws_send_message(peers[6].ws, m), 0);
  eddy_ws_message_unref(m); /* the transports' references keep the bytes */
  size_t n0, n2;
  const char *v0 = eddy_string_transport_value(peers[0].st, &n0);
  const char *v1 = eddy_string_transport_value(peers[1].st, &n2);
  cr_assert_eq(n0, n2);
  cr_assert(memcmp(v0, v1, n0) == 0, "the same frame for everybody");
  v0 = eddy_string_transport_value(peers[2].st, &n0);
  v1 = eddy_string_transport_value(peers[3].st, &n2);
  cr_assert(n0 == n2 && memcmp(v0, v1, n0) == 0);
  cr_assert(n0 < 200, "compressed once, for both");
  for (int i = 0; i < 7; i++) {
    for (int k = 0; k < (i == 6 ? 1 : 2); k++) {
      unsigned op;
      int z;
      uint8_t *got = peer_message(&peers[i], &op, &len, &z);
      cr_assert_eq(op, EDDY_WS_OP_TEXT);
      cr_assert_eq(len, sizeof(text));
      cr_assert(memcmp(got, text, len) == 0);
      cr_assert_eq(z, kinds[i < 6 ? i : 0] != NULL);
      free(got);
    }
    peer_close(&peers[i]);
  }
}
