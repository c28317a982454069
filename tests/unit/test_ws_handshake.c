/* test_ws_handshake.c — the opening handshake: the accept key, RFC 7692
 * negotiation (offers, answers, what is declined and what is malformed),
 * eddy_ws_accept on an HTTP server fed bad and good upgrade requests one
 * byte at a time on a string transport, and eddy_ws_connect against a real
 * server over TCP: echo, subprotocol, deflate, and every way the client
 * handshake fails (bad URL, wss, refused, not 101, wrong accept, timeout,
 * cancel). */
#include "net_support.h"

#include <stdio.h>
#include <string.h>

#include <eddy/http_server.h>
#include <eddy/websocket.h>

/* ---- The accept key
 * -------------------------------------------------------------- */

Test(ws_handshake, accept_key) {
  char out[EDDY_WS_ACCEPT_LEN + 1];
  /* RFC 6455 section 1.3. */
  cr_assert_eq(eddy_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
  cr_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  static const char *bad[] = {
      "",
      "dGhlIHNhbXBsZSBub25jZQ=",   /* 23 characters */
      "dGhlIHNhbXBsZSBub25jZQ===", /* 25 */
      "dGhlIHNhbXBsZSBub25jZQAA",  /* 18 bytes, no padding */
      "dGhlIHNhbXBsZSBub25jZR==",  /* trailing bits set */
      "dGhlIHNhbXBsZSBub25j*Q==",  /* not base64 */
      "dGhlIHNhbXBsZSBub25jZ=Q=",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    cr_assert_eq(eddy_ws_accept_key(bad[i], out), UV_EINVAL, "%s", bad[i]);
  cr_assert_eq(eddy_ws_accept_key(NULL, out), UV_EINVAL);
}

/* ---- RFC 7692 negotiation
 * ----------------------------------------------------------- */

static int neg(const char *offer, unsigned bits, eddy_ws_deflate_params_t *p,
               char *resp) {
  return eddy_ws_deflate_negotiate(offer, bits, p, resp, 128);
}

Test(ws_handshake, negotiate_server) {
  eddy_ws_deflate_params_t p;
  char resp[128];
  /* What browsers send. */
  cr_assert_eq(neg("permessage-deflate; client_max_window_bits", 0, &p, resp),
               1);
  cr_assert_str_eq(resp, "permessage-deflate; server_no_context_takeover");
  cr_assert_eq(p.server_max_window_bits, 15);
  cr_assert(p.server_no_context_takeover);
  cr_assert(!p.client_no_context_takeover);
  /* Everything, with a quoted value and odd spacing. */
  cr_assert_eq(neg("permessage-deflate ;client_no_context_takeover; "
                   "server_max_window_bits=\"10\" ;client_max_window_bits=12",
                   0, &p, resp),
               1);
  cr_assert_str_eq(resp,
                   "permessage-deflate; server_no_context_takeover; "
                   "client_no_context_takeover; server_max_window_bits=10");
  cr_assert_eq(p.server_max_window_bits, 10);
  cr_assert_eq(p.client_max_window_bits, 12);
  cr_assert(p.client_no_context_takeover);
  /* Our own limit is announced. */
  cr_assert_eq(neg("permessage-deflate", 11, &p, resp), 1);
  cr_assert_str_eq(resp, "permessage-deflate; server_no_context_takeover; "
                         "server_max_window_bits=11");
  cr_assert_eq(
      neg("permessage-deflate; server_max_window_bits=13", 11, &p, resp), 1);
  cr_assert_eq(p.server_max_window_bits, 11);
  /* Declined offers fall through to the next one. */
  cr_assert_eq(neg("x-webkit-deflate-frame, permessage-deflate; "
                   "server_max_window_bits=8, permessage-deflate; foo, "
                   "permessage-deflate; server_max_window_bits=16, "
                   "permessage-deflate; server_no_context_takeover; "
                   "server_no_context_takeover, permessage-deflate; "
                   "server_max_window_bits, permessage-deflate; "
                   "client_max_window_bits=7, permessage-deflate; "
                   "server_no_context_takeover=1, permessage-deflate; "
                   "server_max_window_bits=09, permessage-deflate; "
                   "server_max_window_bits=9",
                   0, &p, resp),
               1);
  cr_assert_eq(p.server_max_window_bits, 9);
  cr_assert_eq(neg("permessage-deflate; server_max_window_bits=8", 0, &p, resp),
               0);
  cr_assert_eq(neg("foo, bar; baz=1", 0, &p, resp), 0);
  cr_assert_eq(neg("", 0, &p, resp), 0);
  cr_assert_eq(neg(" , ,", 0, &p, resp), 0);
  /* Grammar errors: a bad request. */
  static const char *malformed[] = {
      "permessage-deflate;",        "permessage-deflate; =1",
      "permessage-deflate; a=",     "permessage-deflate; a=\"1",
      "permessage-deflate x",       "per message-deflate",
      "permessage-deflate; a=\"\\", "@",
  };
  for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
    cr_assert_eq(neg(malformed[i], 0, &p, resp), UV_EINVAL, "%s", malformed[i]);
  cr_assert_eq(eddy_ws_deflate_negotiate("permessage-deflate", 0, &p, resp, 20),
               UV_ENOBUFS);
  cr_assert_eq(neg("permessage-deflate", 8, &p, resp), UV_EINVAL);
}

Test(ws_handshake, negotiate_client) {
  char offer[128];
  cr_assert_eq(eddy_ws_deflate_offer(0, 0, offer, sizeof(offer)), 0);
  cr_assert_str_eq(offer, "permessage-deflate; client_max_window_bits");
  cr_assert_eq(eddy_ws_deflate_offer(10, 1, offer, sizeof(offer)), 0);
  cr_assert_str_eq(offer, "permessage-deflate; client_max_window_bits=10; "
                          "server_no_context_takeover");
  cr_assert_eq(eddy_ws_deflate_offer(16, 0, offer, sizeof(offer)), UV_EINVAL);
  cr_assert_eq(eddy_ws_deflate_offer(0, 0, offer, 10), UV_ENOBUFS);

  eddy_ws_deflate_params_t p;
  cr_assert_eq(eddy_ws_deflate_check_answer(
                   "permessage-deflate; server_no_context_takeover", 0, 0, &p),
               0);
  cr_assert(p.server_no_context_takeover && !p.client_no_context_takeover);
  cr_assert_eq(p.client_max_window_bits, 15);
  cr_assert_eq(eddy_ws_deflate_check_answer(
                   "permessage-deflate; client_max_window_bits=11; "
                   "client_no_context_takeover; server_max_window_bits=12",
                   0, 0, &p),
               0);
  cr_assert_eq(p.client_max_window_bits, 11);
  cr_assert_eq(p.server_max_window_bits, 12);
  cr_assert(p.client_no_context_takeover);
  static const char *bad[] = {
      "x-other",
      "permessage-deflate, permessage-deflate",
      "permessage-deflate; client_max_window_bits",   /* needs a value */
      "permessage-deflate; client_max_window_bits=8", /* zlib cannot */
      "permessage-deflate; mystery",
      "permessage-deflate; server_max_window_bits=99",
      "",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    cr_assert_eq(eddy_ws_deflate_check_answer(bad[i], 0, 0, &p), UV_EPROTO,
                 "%s", bad[i]);
  /* We asked for server_no_context_takeover: it must be granted. */
  cr_assert_eq(eddy_ws_deflate_check_answer("permessage-deflate", 0, 1, &p),
               UV_EPROTO);
}

/* ---- eddy_ws_accept on a string transport
 * ------------------------------------------ */

typedef struct {
  eddy_ws_config_t cfg;
  int accepted, refused, opened, closed, msgs;
  int rc, welcome;
  eddy_ws_t *ws;
  char last[64];
} app_t;

static void app_open(eddy_ws_t *ws, void *arg) {
  app_t *a = arg;
  a->opened++;
  cr_assert_eq(a->ws, ws);
}

static void app_message(eddy_ws_t *ws, unsigned opcode, const char *data,
                        size_t len, void *arg) {
  app_t *a = arg;
  a->msgs++;
  snprintf(a->last, sizeof(a->last), "%.*s", (int)len, data);
  eddy_ws_send(ws, opcode, data, len);
}

static void app_close(eddy_ws_t *ws, const eddy_ws_close_info_t *info,
                      void *arg) {
  (void)ws, (void)info;
  ((app_t *)arg)->closed++;
}

static const eddy_ws_handlers_t app_handlers = {
    .on_open = app_open, .on_message = app_message, .on_close = app_close};

static void handler(eddy_http_request_t *req, void *arg) {
  app_t *a = arg;
  eddy_ws_t *ws = NULL;
  a->rc = eddy_ws_accept(req, &a->cfg, &app_handlers, a, &ws);
  if (a->rc == 0) {
    a->accepted++;
    a->ws = ws;
    cr_assert_eq(a->opened, 0, "on_open never inside eddy_ws_accept");
    if (a->welcome) /* sending before on_open is allowed */
      cr_assert_eq(eddy_ws_send_text(ws, "welcome", 7), 0);
  } else {
    a->refused++;
  }
}

/* Feeds one request (byte by byte) to a fresh server connection and returns
 * what the server wrote (malloc'd). */
static char *exchange(app_t *a, const char *request, const void *after,
                      size_t after_len, eddy_reactor_t **rp,
                      eddy_http_server_t **sp, eddy_string_transport_t **stp) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_http_server_t *s;
  cr_assert_eq(eddy_http_server_new(r, NULL, handler, a, &s), 0);
  eddy_factory_t *f = eddy_http_server_factory(s);
  eddy_protocol_t *p = f->build_protocol(f, NULL);
  cr_assert(p != NULL);
  p->factory = f;
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  eddy_string_transport_connect(st, p);
  eddy_string_transport_feed_bytewise(st, request, strlen(request));
  if (after_len > 0)
    eddy_string_transport_feed(st, after, after_len);
  for (int i = 0; i < 8; i++)
    eddy_reactor_run_once(r, 0);
  size_t n;
  const char *v = eddy_string_transport_value(st, &n);
  char *copy = malloc(n + 1);
  memcpy(copy, v, n);
  copy[n] = '\0';
  *rp = r;
  *sp = s;
  *stp = st;
  return copy;
}

static void finish_exchange(eddy_reactor_t *r, eddy_http_server_t *s,
                            eddy_string_transport_t *st) {
  eddy_string_transport_free(st);
  int done = 0;
  eddy_http_server_close(s, 0, closed_cb, &done);
  for (int i = 0; i < 100 && !done; i++)
    eddy_reactor_run_once(r, 0);
  cr_assert(done);
  test_close_reactor(r);
}

#define GOOD_HEAD                                                              \
  "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"          \
  "Connection: keep-alive, Upgrade\r\n"                                        \
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

Test(ws_handshake, accept_refusals) {
  static const struct {
    const char *req;
    int status;
  } cases[] = {
      {"POST /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
       "Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
       "Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n",
       400},
      {GOOD_HEAD "\r\n", 426},
      {GOOD_HEAD "Sec-WebSocket-Version: 8\r\n\r\n", 426},
      {"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
       "Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
       400},
      {"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
       "Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\n"
       "Sec-WebSocket-Version: 13\r\n\r\n",
       400},
      {"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: "
       "Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
       "Sec-WebSocket-Version: 13\r\n\r\n",
       400},
      {GOOD_HEAD "Sec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n"
                 "\r\n",
       403},
      {GOOD_HEAD "Sec-WebSocket-Version: 13\r\n"
                 "Sec-WebSocket-Extensions: permessage-deflate; a=\"\r\n\r\n",
       400},
  };
  const char *origins[] = {"https://example.com", NULL};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    app_t a;
    memset(&a, 0, sizeof(a));
    a.cfg.origins = origins;
    a.cfg.permessage_deflate = 1;
    eddy_reactor_t *r;
    eddy_http_server_t *s;
    eddy_string_transport_t *st;
    char *out = exchange(&a, cases[i].req, NULL, 0, &r, &s, &st);
    char want[32];
    snprintf(want, sizeof(want), "HTTP/1.1 %d ", cases[i].status);
    cr_assert(strncmp(out, want, strlen(want)) == 0, "case %zu: %s", i, out);
    if (cases[i].status == 426)
      cr_assert(strstr(out, "Sec-WebSocket-Version: 13\r\n") != NULL);
    cr_assert_eq(a.accepted, 0);
    cr_assert_eq(a.refused, 1);
    cr_assert_eq(a.rc, UV_EPROTO);
    free(out);
    finish_exchange(r, s, st);
    cr_assert_eq(a.opened + a.closed, 0, "no handler after a refusal");
  }
}

Test(ws_handshake, accept_good) {
  app_t a;
  memset(&a, 0, sizeof(a));
  const char *protos[] = {"v2.chat", "chat", NULL};
  const char *origins[] = {"https://example.com", NULL};
  a.cfg.subprotocols = protos;
  a.cfg.origins = origins;
  a.cfg.permessage_deflate = 1;
  a.welcome = 1;
  /* A masked "hi" right behind the head, in the same read. */
  static const uint8_t frame[] = {0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2};
  eddy_reactor_t *r;
  eddy_http_server_t *s;
  eddy_string_transport_t *st;
  char *out =
      exchange(&a,
               GOOD_HEAD "Sec-WebSocket-Version: 13\r\n"
                         "Origin: https://example.com\r\n"
                         "Sec-WebSocket-Protocol: chat, v2.chat\r\n"
                         "Sec-WebSocket-Extensions: foo, "
                         "permessage-deflate; client_max_window_bits\r\n"
                         "\r\n",
               frame, sizeof(frame), &r, &s, &st);
  cr_assert_eq(a.accepted, 1, "%s", out);
  cr_assert(strncmp(out, "HTTP/1.1 101 ", 13) == 0, "%s", out);
  cr_assert(strstr(out, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
                        "\r\n") != NULL);
  cr_assert(strstr(out, "Sec-WebSocket-Protocol: v2.chat\r\n") != NULL);
  cr_assert(strstr(out, "Sec-WebSocket-Extensions: permessage-deflate; "
                        "server_no_context_takeover\r\n") != NULL);
  cr_assert(strcasestr(out, "Upgrade: websocket\r\n") != NULL);
  cr_assert_eq(a.opened, 1);
  cr_assert_eq(a.msgs, 1);
  cr_assert_str_eq(a.last, "hi");
  cr_assert_str_eq(eddy_ws_subprotocol(a.ws), "v2.chat");
  cr_assert(eddy_ws_deflate(a.ws, NULL));
  /* The echo follows the 101 head, unmasked and uncompressed (short). */
  const char *end = strstr(out, "\r\n\r\n");
  cr_assert(end != NULL);
  size_t n;
  const char *v = eddy_string_transport_value(st, &n);
  size_t head = (size_t)(end + 4 - out);
  cr_assert_eq(n, head + 9 + 4);
  cr_assert(memcmp(v + head, "\x81\x07welcome\x81\x02hi", 13) == 0);
  free(out);
  finish_exchange(r, s, st);
  cr_assert_eq(a.closed, 1);
}

/* ---- eddy_ws_connect over TCP
 * ------------------------------------------------------- */

typedef struct {
  int done, err;
  eddy_ws_t *ws;
  char msg[256];
} connect_outcome_t;

static void c_ok(eddy_result_t *res, void *arg) {
  connect_outcome_t *o = arg;
  o->done++;
  o->ws = res->value;
}

static void c_err(eddy_result_t *res, void *arg) {
  connect_outcome_t *o = arg;
  o->done++;
  o->err = res->err;
  snprintf(o->msg, sizeof(o->msg), "%s", res->msg ? res->msg : "");
  eddy_result_set(res, NULL, NULL);
}

typedef struct {
  int opened, closed, msgs;
  eddy_ws_close_info_t info;
  char last[64];
} client_t;

static void cl_open(eddy_ws_t *ws, void *arg) {
  (void)ws;
  ((client_t *)arg)->opened++;
}
static void cl_message(eddy_ws_t *ws, unsigned opcode, const char *data,
                       size_t len, void *arg) {
  (void)ws, (void)opcode;
  client_t *c = arg;
  c->msgs++;
  snprintf(c->last, sizeof(c->last), "%.*s", (int)len, data);
}
static void cl_close(eddy_ws_t *ws, const eddy_ws_close_info_t *info,
                     void *arg) {
  (void)ws;
  client_t *c = arg;
  c->closed++;
  c->info = *info;
}
static const eddy_ws_handlers_t cl_handlers = {
    .on_open = cl_open, .on_message = cl_message, .on_close = cl_close};

static void plain_handler(eddy_http_request_t *req, void *arg) {
  (void)arg;
  eddy_http_respond(req, 200, "text/plain", "no", 2);
}

typedef struct {
  eddy_reactor_t *r;
  eddy_http_server_t *s;
  char url[128];
} tcp_server_t;

static void tcp_server(tcp_server_t *t, eddy_http_handler_cb h, void *arg) {
  t->r = test_reactor(0);
  cr_assert_eq(eddy_http_server_new(t->r, NULL, h, arg, &t->s), 0);
  eddy_listener_t *l;
  cr_assert_eq(eddy_http_server_listen(t->s, "tcp:0:interface=127.0.0.1", &l),
               0);
  snprintf(t->url, sizeof(t->url), "ws://127.0.0.1:%d/echo?x=1",
           eddy_listener_port(l));
}

static void tcp_server_close(tcp_server_t *t) {
  int done = 0;
  eddy_http_server_close(t->s, 0, closed_cb, &done);
  WAIT_FOR(t->r, done);
  test_close_reactor(t->r);
}

Test(ws_handshake, connect_echo) {
  app_t a;
  memset(&a, 0, sizeof(a));
  const char *protos[] = {"chat", NULL};
  a.cfg.subprotocols = protos;
  a.cfg.permessage_deflate = 1;
  tcp_server_t t;
  tcp_server(&t, handler, &a);
  eddy_ws_config_t cfg = {0};
  const char *offered[] = {"other", "chat", NULL};
  const char *hdrs[] = {"Authorization: Bearer x", NULL};
  cfg.subprotocols = offered;
  cfg.permessage_deflate = 1;
  cfg.origin = "https://example.com";
  cfg.headers = hdrs;
  client_t c;
  memset(&c, 0, sizeof(c));
  connect_outcome_t o;
  memset(&o, 0, sizeof(o));
  eddy_deferred_t *d = eddy_ws_connect(t.r, t.url, &cfg, &cl_handlers, &c);
  cr_assert(d != NULL);
  eddy_deferred_add_callbacks(d, c_ok, c_err, &o);
  cr_assert_eq(o.done, 0);
  WAIT_FOR(t.r, o.done);
  cr_assert_eq(o.err, 0, "%s", o.msg);
  cr_assert_eq(c.opened, 1);
  cr_assert_str_eq(eddy_ws_subprotocol(o.ws), "chat");
  cr_assert(eddy_ws_deflate(o.ws, NULL));
  char big[5000];
  memset(big, 'z', sizeof(big));
  cr_assert_eq(eddy_ws_send_text(o.ws, "hello", 5), 0);
  cr_assert_eq(eddy_ws_send_text(o.ws, big, sizeof(big)), 0);
  WAIT_FOR(t.r, c.msgs == 2);
  cr_assert_eq(a.msgs, 2);
  cr_assert_eq(eddy_ws_close(o.ws, 1000, "done"), 0);
  WAIT_FOR(t.r, c.closed && a.closed);
  cr_assert(c.info.clean);
  cr_assert_eq(c.info.code, 1000);
  tcp_server_close(&t);
}

static void expect_connect_failure(eddy_reactor_t *r, const char *url,
                                   const eddy_ws_config_t *cfg, int err) {
  client_t c;
  memset(&c, 0, sizeof(c));
  connect_outcome_t o;
  memset(&o, 0, sizeof(o));
  eddy_deferred_t *d = eddy_ws_connect(r, url, cfg, &cl_handlers, &c);
  cr_assert(d != NULL);
  eddy_deferred_add_callbacks(d, c_ok, c_err, &o);
  cr_assert_eq(o.done, 0, "never fires inside eddy_ws_connect");
  WAIT_FOR(r, o.done);
  cr_assert_eq(o.err, err, "%s: got %s (%s)", url, eddy_strerror(o.err), o.msg);
  run_for(r, 20);
  cr_assert_eq(c.opened + c.closed + c.msgs, 0, "no handler on failure");
}

Test(ws_handshake, connect_failures) {
  eddy_reactor_t *r = test_reactor(0);
  expect_connect_failure(r, "http://127.0.0.1/", NULL, EDDY_EPARSE);
  expect_connect_failure(r, "ws://", NULL, EDDY_EPARSE);
  expect_connect_failure(r, "ws://host:0/", NULL, EDDY_EPARSE);
  expect_connect_failure(r, "ws://host:99999/", NULL, EDDY_EPARSE);
  expect_connect_failure(r, "ws://host/a b", NULL, EDDY_EPARSE);
  expect_connect_failure(r, "ws://host/a#frag", NULL, EDDY_EPARSE);
  expect_connect_failure(r, "ws://[::1/", NULL, EDDY_EPARSE);
  expect_connect_failure(r, "wss://127.0.0.1/", NULL, UV_EPROTONOSUPPORT);
  eddy_ws_config_t bad = {0};
  bad.deflate_level = 42;
  expect_connect_failure(r, "ws://127.0.0.1/", &bad, UV_EINVAL);
  test_close_reactor(r);

  /* Refused: a port that was free a moment ago. */
  side_t srv;
  side_init(&srv);
  r = test_reactor(0);
  eddy_listener_t *l = listen_on(r, "tcp:0:interface=127.0.0.1", &srv);
  char url[64];
  snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", eddy_listener_port(l));
  int closed = 0;
  eddy_listener_close(l, closed_cb, &closed);
  WAIT_FOR(r, closed);
  expect_connect_failure(r, url, NULL, UV_ECONNREFUSED);
  finish(r, NULL, &srv, &srv);
}

Test(ws_handshake, connect_not_101) {
  tcp_server_t t;
  tcp_server(&t, plain_handler, NULL);
  expect_connect_failure(t.r, t.url, NULL, UV_EPROTO);
  tcp_server_close(&t);
}

static void bogus_101(peer_t *p) {
  if (strstr(p->in.data, "\r\n\r\n") == NULL)
    return;
  const char *resp = p->side->user;
  eddy_transport_write_str(tr(p), resp);
}

Test(ws_handshake, connect_bad_101) {
  static const char *answers[] = {
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Accept: "
      "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n",
      "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n\r\n",
      "HTTP/1.1 101\r\nbad header\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
    side_t srv;
    side_init(&srv);
    srv.on_data = bogus_101;
    srv.user = (void *)answers[i];
    eddy_reactor_t *r = test_reactor(0);
    eddy_listener_t *l = listen_on(r, "tcp:0:interface=127.0.0.1", &srv);
    char url[64];
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", eddy_listener_port(l));
    expect_connect_failure(r, url, NULL, UV_EPROTO);
    finish(r, l, &srv, &srv);
  }
}

Test(ws_handshake, connect_timeout_and_cancel) {
  side_t srv; /* accepts and never answers */
  side_init(&srv);
  eddy_reactor_t *r = test_reactor(0);
  eddy_listener_t *l = listen_on(r, "tcp:0:interface=127.0.0.1", &srv);
  char url[64];
  snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", eddy_listener_port(l));
  eddy_ws_config_t cfg = {0};
  cfg.handshake_timeout_ms = 50;
  expect_connect_failure(r, url, &cfg, UV_ETIMEDOUT);

  client_t c;
  memset(&c, 0, sizeof(c));
  connect_outcome_t o;
  memset(&o, 0, sizeof(o));
  eddy_deferred_t *d = eddy_ws_connect(r, url, NULL, &cl_handlers, &c);
  eddy_deferred_add_callbacks(d, c_ok, c_err, &o);
  WAIT_FOR(r, srv.n == 2);
  eddy_deferred_cancel(d);
  cr_assert_eq(o.done, 1);
  cr_assert_eq(o.err, UV_ECANCELED);
  /* Cancelled before the TCP connect completes, too. */
  memset(&o, 0, sizeof(o));
  d = eddy_ws_connect(r, url, NULL, &cl_handlers, &c);
  eddy_deferred_add_callbacks(d, c_ok, c_err, &o);
  eddy_deferred_cancel(d);
  cr_assert_eq(o.err, UV_ECANCELED);
  run_for(r, 50);
  cr_assert_eq(c.opened + c.closed, 0);
  finish(r, l, &srv, &srv);
}
