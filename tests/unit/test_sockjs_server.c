/* test_sockjs_server.c — the SockJS endpoint behind an HTTP server, each
 * client on a string transport, time on the fake clock: every transport's
 * answers, heartbeats, disconnect_delay, response_limit, the one-receiver
 * rule, close replay, CORS, JSESSIONID, callback checks, the send queue
 * limit, lost clients, the WebSocket transports, and closing the
 * endpoint. */
#include "support.h"

#include <eddy/http_server.h>
#include <eddy/sockjs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEARTBEAT_MS 1000
#define DELAY_MS 3000

typedef struct {
  eddy_reactor_t *r;
  eddy_http_server_t *http;
  eddy_sockjs_t *sj;
  int opened, closed, messages;
  unsigned code;
  char reason[128];
  char last[256];
  size_t last_len;
  eddy_sockjs_session_t *session;
  int echo, close_on_open, endpoint_closed;
  int stop_on_close; /* on_close closes the whole endpoint */
  eddy_string_transport_t *st[16];
  int nst;
} h_t;

static void on_open(eddy_sockjs_session_t *s, void *arg) {
  h_t *h = arg;
  h->opened++;
  h->session = s;
  if (h->close_on_open)
    eddy_sockjs_close_session(s, 3000, "Go away!");
}

static void on_message(eddy_sockjs_session_t *s, const char *d, size_t n,
                       void *arg) {
  h_t *h = arg;
  h->messages++;
  h->last_len = n < sizeof(h->last) ? n : sizeof(h->last) - 1;
  memcpy(h->last, d, h->last_len);
  h->last[h->last_len] = '\0';
  if (h->echo)
    cr_assert_eq(eddy_sockjs_send(s, d, n), 0);
}

static void endpoint_closed(void *arg);

static void on_close(eddy_sockjs_session_t *s, unsigned code,
                     const char *reason, void *arg) {
  h_t *h = arg;
  h->closed++;
  h->code = code;
  snprintf(h->reason, sizeof(h->reason), "%s", reason);
  if (h->session == s)
    h->session = NULL;
  if (h->stop_on_close)
    eddy_sockjs_close(h->sj, endpoint_closed, h);
}

static const eddy_sockjs_handlers_t handlers = {on_open, on_message, on_close};

static void spin(eddy_reactor_t *r) {
  for (int i = 0; i < 20; i++)
    eddy_reactor_run_once(r, 0);
}

static void setup_cfg(h_t *h, eddy_sockjs_config_t *cfg) {
  memset(h, 0, sizeof(*h));
  h->r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  h->echo = 1;
  cr_assert_eq(eddy_sockjs_new(h->r, cfg, &handlers, h, &h->sj), 0);
  cr_assert_eq(
      eddy_http_server_new(h->r, NULL, eddy_sockjs_handler, h->sj, &h->http),
      0);
}

static void setup(h_t *h) {
  eddy_sockjs_config_t cfg;
  eddy_sockjs_config_init(&cfg);
  cfg.prefix = "/echo";
  cfg.heartbeat_ms = HEARTBEAT_MS;
  cfg.disconnect_delay_ms = DELAY_MS;
  cfg.response_limit = 4096;
  setup_cfg(h, &cfg);
}

static void endpoint_closed(void *arg) {
  ((h_t *)arg)->endpoint_closed = 1;
}

static void teardown(h_t *h) {
  eddy_sockjs_close(h->sj, endpoint_closed, h);
  spin(h->r);
  /* WebSocket sessions wait for their close handshake: the clients go. */
  eddy_http_server_close(h->http, 0, NULL, NULL);
  for (int i = 0; i < h->nst; i++)
    eddy_string_transport_disconnect(h->st[i], 0);
  spin(h->r);
  cr_assert(h->endpoint_closed);
  for (int i = 0; i < h->nst; i++)
    eddy_string_transport_free(h->st[i]);
  test_close_reactor(h->r);
}

static eddy_string_transport_t *client(h_t *h) {
  cr_assert_lt(h->nst, 16);
  eddy_factory_t *fa = eddy_http_server_factory(h->http);
  eddy_string_transport_t *st = eddy_string_transport_new(h->r);
  eddy_string_transport_connect(st, fa->build_protocol(fa, NULL));
  h->st[h->nst++] = st;
  return st;
}

/* Sends one request; extra is more header lines ("Name: v\r\n..."). */
static void send_req(h_t *h, eddy_string_transport_t *st, const char *method,
                     const char *path, const char *extra, const char *body,
                     int bytewise) {
  char buf[8192];
  size_t blen = body != NULL ? strlen(body) : 0;
  int n = snprintf(buf, sizeof(buf),
                   "%s %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %zu\r\n\r\n"
                   "%s",
                   method, path, extra != NULL ? extra : "", blen,
                   body != NULL ? body : "");
  cr_assert_lt((size_t)n, sizeof(buf));
  eddy_string_transport_clear(st);
  if (bytewise)
    eddy_string_transport_feed_bytewise(st, buf, (size_t)n);
  else
    eddy_string_transport_feed(st, buf, (size_t)n);
  spin(h->r);
}

static const char *out(eddy_string_transport_t *st) {
  return eddy_string_transport_value(st, NULL);
}

/* The body of a complete Content-Length response in st's output. */
static const char *body(eddy_string_transport_t *st) {
  const char *o = out(st);
  const char *b = strstr(o, "\r\n\r\n");
  cr_assert_not_null(b, "no complete head in: %s", o);
  return b + 4;
}

static int has(eddy_string_transport_t *st, const char *needle) {
  return strstr(out(st), needle) != NULL;
}

static const char *poll_once(h_t *h, eddy_string_transport_t *st,
                             const char *sid) {
  char path[256];
  snprintf(path, sizeof(path), "/echo/000/%s/xhr", sid);
  send_req(h, st, "POST", path, NULL, NULL, 0);
  return body(st);
}

static int xhr_send(h_t *h, eddy_string_transport_t *st, const char *sid,
                    const char *payload) {
  char path[256];
  snprintf(path, sizeof(path), "/echo/000/%s/xhr_send", sid);
  send_req(h, st, "POST", path, NULL, payload, 0);
  int status = 0;
  sscanf(out(st), "HTTP/1.1 %d", &status);
  return status;
}

/* ---- Static answers -------------------------------------------------------*/

Test(sockjs_server, greeting_info_iframe) {
  h_t h;
  setup(&h);
  eddy_string_transport_t *st = client(&h);
  send_req(&h, st, "GET", "/echo", NULL, NULL, 1);
  cr_assert(has(st, "HTTP/1.1 200 OK"));
  cr_assert_str_eq(body(st), "Welcome to SockJS!\n");
  send_req(&h, st, "GET", "/echo/", NULL, NULL, 0);
  cr_assert_str_eq(body(st), "Welcome to SockJS!\n");
  send_req(&h, st, "GET", "/echo/info", "Origin: http://a.example\r\n", NULL,
           0);
  cr_assert(has(st, "Access-Control-Allow-Origin: http://a.example\r\n"));
  cr_assert(has(st, "Access-Control-Allow-Credentials: true\r\n"));
  cr_assert(has(st, "Cache-Control: no-store, no-cache, no-transform, "
                    "must-revalidate, max-age=0\r\n"));
  cr_assert(has(st, "Content-Type: application/json; charset=UTF-8\r\n"));
  cr_assert(has(st, "{\"websocket\":true,\"cookie_needed\":false,"
                    "\"origins\":[\"*:*\"],\"entropy\":"));
  send_req(&h, st, "GET", "/echo/info", NULL, NULL, 0);
  cr_assert(has(st, "Access-Control-Allow-Origin: *\r\n"));
  cr_assert(!has(st, "Access-Control-Allow-Credentials"));
  send_req(&h, st, "OPTIONS", "/echo/info",
           "Origin: null\r\nAccess-Control-Request-Headers: x-a\r\n", NULL, 0);
  cr_assert(has(st, "HTTP/1.1 204"));
  cr_assert(has(st, "Access-Control-Allow-Origin: null\r\n"));
  cr_assert(has(st, "Access-Control-Allow-Methods: OPTIONS, GET\r\n"));
  cr_assert(has(st, "Access-Control-Max-Age: 31536000\r\n"));
  cr_assert(has(st, "Access-Control-Allow-Headers: x-a\r\n"));
  cr_assert(has(st, "Cache-Control: public, max-age=31536000\r\n"));
  cr_assert(has(st, "Expires: "));
  send_req(&h, st, "GET", "/echo/iframe-1.6.1.html", NULL, NULL, 0);
  cr_assert(has(st, "HTTP/1.1 200"));
  cr_assert(has(st, "<script src=\"https://cdn.jsdelivr.net/npm/"
                    "sockjs-client@1/dist/sockjs.min.js\"></script>"));
  const char *etag = strstr(out(st), "ETag: ");
  cr_assert_not_null(etag);
  char inm[80];
  snprintf(inm, sizeof(inm), "If-None-Match: %.*s\r\n",
           (int)strcspn(etag + 6, "\r"), etag + 6);
  send_req(&h, st, "GET", "/echo/iframe.html", inm, NULL, 0);
  cr_assert(has(st, "HTTP/1.1 304"));
  cr_assert(!has(st, "Content-Type"));
  static const char *missing[] = {
      "/echo/iframe.htm", "/echo/iframe-/.html", "/echo/IFRAME.HTML",
      "/echo/a",          "/echo/a/b",           "/echo//x/xhr",
      "/echo/a./b/xhr",   "/echo/a/b./xhr",      "/echo/a/b/nope",
      "/echoes",          "/echo/a/b/xhr/more"};
  for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
    send_req(&h, st, "POST", missing[i], NULL, NULL, 0);
    cr_assert(has(st, "HTTP/1.1 404"), "%s", missing[i]);
  }
  send_req(&h, st, "PUT", "/echo/info", NULL, NULL, 0);
  cr_assert(has(st, "HTTP/1.1 405"));
  cr_assert(has(st, "Allow: OPTIONS, GET\r\n"));
  teardown(&h);
}

/* ---- xhr-polling ----------------------------------------------------------*/

Test(sockjs_server, xhr_polling_session) {
  h_t h;
  setup(&h);
  eddy_string_transport_t *st = client(&h);
  cr_assert_str_eq(poll_once(&h, st, "s1"), "o\n");
  cr_assert_eq(h.opened, 1);
  cr_assert_str_eq(eddy_sockjs_transport(h.session), "xhr-polling");
  eddy_addr_t peer;
  cr_assert_eq(eddy_sockjs_peer(h.session, &peer), 0);
  cr_assert(has(st, "Content-Type: application/javascript; charset=UTF-8"));
  cr_assert_eq(xhr_send(&h, st, "s1", "[\"a\",\"b\\u00e9\"]"), 204);
  cr_assert(has(st, "Content-Type: text/plain; charset=UTF-8"));
  cr_assert_eq(h.messages, 2);
  cr_assert_str_eq(h.last, "b\xc3\xa9");
  cr_assert_eq(eddy_sockjs_buffered(h.session), strlen("\"a\",\"b\xc3\xa9\""));
  cr_assert_str_eq(poll_once(&h, st, "s1"), "a[\"a\",\"b\xc3\xa9\"]\n");
  cr_assert_eq(eddy_sockjs_buffered(h.session), 0);
  /* Errors of xhr_send. */
  cr_assert_eq(xhr_send(&h, st, "nope", "[\"a\"]"), 404);
  cr_assert_eq(xhr_send(&h, st, "s1", ""), 500);
  cr_assert_str_eq(body(st), "Payload expected.");
  cr_assert_eq(xhr_send(&h, st, "s1", "[\"a"), 500);
  cr_assert_str_eq(body(st), "Broken JSON encoding.");
  cr_assert_eq(h.messages, 2);
  eddy_sockjs_stats_t stats;
  eddy_sockjs_stats(h.sj, &stats);
  cr_assert_eq(stats.sessions, 1);
  cr_assert_eq(stats.sessions_total, 1);
  cr_assert_eq(stats.messages_in_total, 2);
  cr_assert_eq(stats.messages_out_total, 2);
  teardown(&h);
  cr_assert_eq(h.closed, 1);
  cr_assert_eq(h.code, 1001);
}

Test(sockjs_server, long_poll_gets_messages_and_heartbeats) {
  h_t h;
  setup(&h);
  eddy_string_transport_t *a = client(&h), *b = client(&h);
  cr_assert_str_eq(poll_once(&h, a, "s"), "o\n");
  send_req(&h, a, "POST", "/echo/000/s/xhr", NULL, NULL, 0);
  cr_assert_str_eq(out(a), "", "a poll with nothing to say waits");
  /* The one-receiver rule. */
  cr_assert_str_eq(poll_once(&h, b, "s"),
                   "c[2010,\"Another connection still open\"]\n");
  cr_assert_eq(xhr_send(&h, b, "s", "[\"x\"]"), 204);
  cr_assert_str_eq(body(a), "a[\"x\"]\n");
  /* Silence for heartbeat_ms: "h". */
  send_req(&h, a, "POST", "/echo/000/s/xhr", NULL, NULL, 0);
  eddy_reactor_advance(h.r, HEARTBEAT_MS - 1);
  spin(h.r);
  cr_assert_str_eq(out(a), "");
  eddy_reactor_advance(h.r, 1);
  spin(h.r);
  cr_assert_str_eq(body(a), "h\n");
  cr_assert_eq(h.closed, 0);
  teardown(&h);
}

Test(sockjs_server, disconnect_delay) {
  h_t h;
  setup(&h);
  eddy_string_transport_t *st = client(&h);
  cr_assert_str_eq(poll_once(&h, st, "s"), "o\n");
  /* Polls keep it alive... */
  for (int i = 0; i < 3; i++) {
    eddy_reactor_advance(h.r, DELAY_MS - 1);
    spin(h.r);
    cr_assert_eq(xhr_send(&h, st, "s", "[\"k\"]"), 204);
    cr_assert_str_eq(poll_once(&h, st, "s"), "a[\"k\"]\n");
  }
  cr_assert_eq(h.closed, 0);
  /* ...without one for disconnect_delay it is gone. */
  eddy_reactor_advance(h.r, DELAY_MS);
  spin(h.r);
  cr_assert_eq(h.closed, 1);
  cr_assert_eq(h.code, 1002);
  cr_assert_eq(xhr_send(&h, st, "s", "[\"a\"]"), 404);
  cr_assert_str_eq(poll_once(&h, st, "s"), "o\n", "a new session");
  cr_assert_eq(h.opened, 2);
  teardown(&h);
}

/* "Stop when the last client leaves": eddy_sockjs_close from inside a
 * session's on_close, on the timeout path and the application's close. */
static void stop_from_on_close(int by_timeout) {
  h_t h;
  setup(&h);
  h.stop_on_close = 1;
  eddy_string_transport_t *st = client(&h);
  cr_assert_str_eq(poll_once(&h, st, "s"), "o\n");
  if (by_timeout)
    eddy_reactor_advance(h.r, DELAY_MS);
  else
    eddy_sockjs_close_session(h.session, 3000, "bye");
  spin(h.r);
  cr_assert_eq(h.closed, 1);
  cr_assert_eq(h.code, by_timeout ? 1002u : 3000u);
  cr_assert(h.endpoint_closed, "the endpoint finished closing");
  eddy_http_server_close(h.http, 0, NULL, NULL);
  eddy_string_transport_disconnect(st, 0);
  spin(h.r);
  for (int i = 0; i < h.nst; i++)
    eddy_string_transport_free(h.st[i]);
  test_close_reactor(h.r);
}

Test(sockjs_server, close_endpoint_from_on_close_after_timeout) {
  stop_from_on_close(1);
}

Test(sockjs_server, close_endpoint_from_on_close_after_app_close) {
  stop_from_on_close(0);
}

Test(sockjs_server, close_is_replayed_until_the_delay) {
  h_t h;
  setup(&h);
  h.close_on_open = 1;
  eddy_string_transport_t *st = client(&h);
  cr_assert_str_eq(poll_once(&h, st, "s"), "o\n");
  cr_assert_eq(h.closed, 1, "on_close on the next iteration");
  cr_assert_eq(h.code, 3000);
  cr_assert_str_eq(h.reason, "Go away!");
  for (int i = 0; i < 2; i++)
    cr_assert_str_eq(poll_once(&h, st, "s"), "c[3000,\"Go away!\"]\n");
  cr_assert_eq(xhr_send(&h, st, "s", "[\"x\"]"), 204);
  cr_assert_eq(h.messages, 0, "a closed session takes no messages");
  eddy_reactor_advance(h.r, DELAY_MS);
  spin(h.r);
  h.close_on_open = 0;
  cr_assert_str_eq(poll_once(&h, st, "s"), "o\n");
  cr_assert_eq(h.closed, 1);
  teardown(&h);
}

Test(sockjs_server, long_reason_is_cut_and_escaped) {
  h_t h;
  setup(&h);
  h.echo = 0;
  eddy_string_transport_t *st = client(&h);
  cr_assert_str_eq(poll_once(&h, st, "s"), "o\n");
  /* A request fed one byte at a time reaches the session all the same. */
  send_req(&h, st, "POST", "/echo/000/s/xhr_send", NULL, "[\"one\"]", 1);
  cr_assert(has(st, " 204 "));
  cr_assert_str_eq(h.last, "one");
  char reason[201];
  memset(reason, '"', 200);
  reason[200] = '\0';
  eddy_sockjs_close_session(h.session, 3999, reason);
  spin(h.r);
  cr_assert_eq(h.code, 3999);
  cr_assert_eq(strlen(h.reason), 123, "cut to what a WebSocket close takes");
  const char *b = poll_once(&h, st, "s");
  cr_assert(strncmp(b, "c[3999,\"\\\"", 10) == 0, "%s", b);
  cr_assert_eq(strlen(b), strlen("c[3999,\"\"]\n") + 123 * 2);
  teardown(&h);
}

Test(sockjs_server, lost_receiver_ends_the_session) {
  h_t h;
  setup(&h);
  eddy_string_transport_t *a = client(&h);
  cr_assert_str_eq(poll_once(&h, a, "s"), "o\n");
  send_req(&h, a, "POST", "/echo/000/s/xhr", NULL, NULL, 0);
  eddy_string_transport_disconnect(a, UV_ECONNRESET);
  spin(h.r);
  cr_assert_eq(h.closed, 1);
  cr_assert_eq(h.code, 1002);
  cr_assert_str_eq(h.reason, "Connection interrupted");
  eddy_string_transport_t *b = client(&h);
  cr_assert_str_eq(poll_once(&h, b, "s"), "o\n");
  teardown(&h);
}

/* Many sessions: the table grows, every one stays reachable, the limit
 * holds, and all of them time out. */
Test(sockjs_server, many_sessions) {
  h_t h;
  eddy_sockjs_config_t cfg;
  eddy_sockjs_config_init(&cfg);
  cfg.prefix = "/echo";
  cfg.max_sessions = 300;
  cfg.disconnect_delay_ms = DELAY_MS;
  setup_cfg(&h, &cfg);
  eddy_string_transport_t *st = client(&h);
  char sid[32];
  for (int i = 0; i < 300; i++) {
    snprintf(sid, sizeof(sid), "s%d", i);
    cr_assert_str_eq(poll_once(&h, st, sid), "o\n");
  }
  cr_assert_str_eq(poll_once(&h, st, "one-too-many"),
                   "c[1013,\"Too many sessions\"]\n");
  for (int i = 299; i >= 0; i -= 7) {
    snprintf(sid, sizeof(sid), "s%d", i);
    cr_assert_eq(xhr_send(&h, st, sid, "[\"x\"]"), 204, "%s", sid);
  }
  eddy_sockjs_stats_t stats;
  eddy_sockjs_stats(h.sj, &stats);
  cr_assert_eq(stats.sessions, 300);
  eddy_reactor_advance(h.r, DELAY_MS);
  spin(h.r);
  cr_assert_eq(h.closed, 300);
  eddy_sockjs_stats(h.sj, &stats);
  cr_assert_eq(stats.sessions, 0);
  cr_assert_eq(xhr_send(&h, st, "s5", "[\"x\"]"), 404);
  teardown(&h);
}

Test(sockjs_server, send_queue_limit) {
  h_t h;
  eddy_sockjs_config_t cfg;
  eddy_sockjs_config_init(&cfg);
  cfg.prefix = "/echo";
  cfg.max_queue = 64;
  setup_cfg(&h, &cfg);
  h.echo = 0;
  eddy_string_transport_t *st = client(&h);
  cr_assert_str_eq(poll_once(&h, st, "s"), "o\n");
  char msg[40];
  memset(msg, 'x', sizeof(msg));
  cr_assert_eq(eddy_sockjs_send(h.session, msg, sizeof(msg)), 0);
  cr_assert_eq(eddy_sockjs_send(h.session, msg, sizeof(msg)), UV_ENOBUFS);
  cr_assert_eq(eddy_sockjs_send(h.session, "a", 1), UV_EPIPE);
  spin(h.r);
  cr_assert_eq(h.closed, 1);
  cr_assert_eq(h.code, 4008);
  cr_assert_str_eq(poll_once(&h, st, "s"), "c[4008,\"send queue full\"]\n");
  teardown(&h);
}

/* ---- Streaming ------------------------------------------------------------*/

Test(sockjs_server, xhr_streaming_and_response_limit) {
  h_t h;
  setup(&h);
  eddy_string_transport_t *st = client(&h), *tx = client(&h);
  send_req(&h, st, "POST", "/echo/0/s/xhr_streaming", "Origin: x\r\n", NULL, 0);
  cr_assert(has(st, "Transfer-Encoding: chunked"), "%s", out(st));
  cr_assert(has(st, "Access-Control-Allow-Origin: x\r\n"));
  cr_assert(has(st, "\r\n801\r\nhhhh"));
  cr_assert(has(st, "hhhh\n\r\n2\r\no\n\r\n"));
  eddy_string_transport_clear(st);
  cr_assert_eq(xhr_send(&h, tx, "s", "[\"x\"]"), 204);
  cr_assert_str_eq(out(st), "7\r\na[\"x\"]\n\r\n");
  /* A heartbeat on the stream. */
  eddy_string_transport_clear(st);
  eddy_reactor_advance(h.r, HEARTBEAT_MS);
  spin(h.r);
  cr_assert_str_eq(out(st), "2\r\nh\n\r\n");
  /* Frames count, the prelude does not: 2 + 7 + 2 bytes so far, so the
   * third frame of 2000 bytes crosses the 4096 limit and ends it. */
  char payload[2100];
  memset(payload, 'y', sizeof(payload));
  payload[0] = '[';
  payload[1] = '"';
  payload[2002] = '"';
  payload[2003] = ']';
  payload[2004] = '\0';
  eddy_string_transport_clear(st);
  cr_assert_eq(xhr_send(&h, tx, "s", payload), 204);
  cr_assert_eq(xhr_send(&h, tx, "s", payload), 204);
  cr_assert(!has(st, "\n\r\n0\r\n\r\n"), "under the limit: still open");
  cr_assert_eq(xhr_send(&h, tx, "s", payload), 204);
  cr_assert(has(st, "\n\r\n0\r\n\r\n"), "the stream ended");
  cr_assert_eq(h.closed, 0, "the session lives on");
  send_req(&h, st, "POST", "/echo/0/s/xhr_streaming", NULL, NULL, 0);
  cr_assert(!has(st, "\r\n2\r\no\n"), "no second open frame");
  teardown(&h);
}

/* A stream whose client does not read: messages wait in the session's
 * queue (counted by eddy_sockjs_buffered) until the socket drains. */
Test(sockjs_server, streaming_backpressure) {
  h_t h;
  setup(&h);
  h.echo = 0;
  eddy_string_transport_t *st = client(&h);
  send_req(&h, st, "GET", "/echo/0/b/eventsource", NULL, NULL, 0);
  cr_assert(has(st, "data: o\r\n\r\n"));
  eddy_string_transport_set_pending(st, 1u << 20);
  eddy_string_transport_clear(st);
  cr_assert_eq(eddy_sockjs_send(h.session, "m1", 2), 0);
  spin(h.r);
  cr_assert_eq(eddy_sockjs_send(h.session, "m2", 2), 0);
  spin(h.r);
  cr_assert_str_eq(out(st), "", "nothing written while the client is full");
  cr_assert_eq(eddy_sockjs_buffered(h.session), strlen("\"m1\",\"m2\""));
  eddy_string_transport_set_pending(st, 0);
  spin(h.r);
  cr_assert(has(st, "data: a[\"m1\",\"m2\"]\r\n\r\n"), "%s", out(st));
  cr_assert_eq(eddy_sockjs_buffered(h.session), 0);
  teardown(&h);
}

Test(sockjs_server, eventsource_and_htmlfile) {
  h_t h;
  setup(&h);
  eddy_string_transport_t *es = client(&h), *hf = client(&h), *tx = client(&h);
  send_req(&h, es, "GET", "/echo/0/e/eventsource", NULL, NULL, 0);
  cr_assert(has(es, "Content-Type: text/event-stream\r\n"));
  cr_assert(has(es, "\r\n2\r\n\r\n\r\n"));
  cr_assert(has(es, "data: o\r\n\r\n"));
  eddy_string_transport_clear(es);
  cr_assert_eq(xhr_send(&h, tx, "e", "[\"\\n<\"]"), 204);
  cr_assert(has(es, "data: a[\"\\n<\"]\r\n\r\n"));

  send_req(&h, hf, "GET", "/echo/0/f/htmlfile?c=cb.x-1_2", NULL, NULL, 0);
  cr_assert(has(hf, "Content-Type: text/html; charset=UTF-8\r\n"));
  cr_assert(has(hf, "var c = parent.cb.x-1_2;"));
  cr_assert(has(hf, "<script>\np(\"o\");\n</script>\r\n"));
  eddy_string_transport_clear(hf);
  cr_assert_eq(xhr_send(&h, tx, "f", "[\"</script>\"]"), 204);
  cr_assert(has(hf, "<script>\np(\"a[\\\"\\u003c/script\\u003e\\\"]\");\n"
                    "</script>\r\n"));
  static const char *bad[] = {
      "/echo/0/f/htmlfile", "/echo/0/f/htmlfile?c=", "/echo/0/f/htmlfile?c=a(b",
      "/echo/0/f/jsonp?c=%20", "/echo/0/f/jsonp"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    send_req(&h, tx, "GET", bad[i], NULL, NULL, 0);
    cr_assert(has(tx, "HTTP/1.1 500"), "%s", bad[i]);
    cr_assert(has(tx, "\"callback\" parameter"), "%s", bad[i]);
  }
  teardown(&h);
  cr_assert_eq(h.closed, 2);
}

/* ---- jsonp and cookies ----------------------------------------------------*/

Test(sockjs_server, jsonp_and_jsessionid) {
  h_t h;
  eddy_sockjs_config_t cfg;
  eddy_sockjs_config_init(&cfg);
  cfg.prefix = "/echo";
  cfg.jsessionid = 1;
  setup_cfg(&h, &cfg);
  eddy_string_transport_t *st = client(&h);
  send_req(&h, st, "GET", "/echo/0/j/jsonp?c=cb", NULL, NULL, 0);
  cr_assert_str_eq(body(st), "/**/cb(\"o\");\r\n");
  cr_assert(has(st, "Set-Cookie: JSESSIONID=dummy; path=/\r\n"));
  send_req(&h, st, "POST", "/echo/0/j/jsonp_send",
           "Content-Type: application/x-www-form-urlencoded\r\n"
           "Cookie: JSESSIONID=abc\r\n",
           "d=%5B%22x%22%5D", 0);
  cr_assert_str_eq(body(st), "ok");
  cr_assert(has(st, "Set-Cookie: JSESSIONID=abc; path=/\r\n"));
  send_req(&h, st, "POST", "/echo/0/j/jsonp_send",
           "Content-Type: text/plain\r\n", "[\"y\"]", 0);
  cr_assert_str_eq(body(st), "ok");
  send_req(&h, st, "POST", "/echo/0/j/jsonp_send",
           "Content-Type: application/x-www-form-urlencoded\r\n", "p=p", 0);
  cr_assert_str_eq(body(st), "Payload expected.");
  send_req(&h, st, "GET", "/echo/0/j/jsonp?c=cb", NULL, NULL, 0);
  cr_assert_str_eq(body(st), "/**/cb(\"a[\\\"x\\\",\\\"y\\\"]\");\r\n");
  send_req(&h, st, "GET", "/echo/info", NULL, NULL, 0);
  cr_assert(has(st, "\"cookie_needed\":true"));
  cr_assert(!has(st, "Set-Cookie"));
  teardown(&h);
}

/* ---- WebSocket ------------------------------------------------------------*/

static const char UPGRADE[] = "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n";

/* A masked client text frame (key 0, so the payload reads as is). */
static void ws_send(h_t *h, eddy_string_transport_t *st, const char *text) {
  size_t n = strlen(text);
  cr_assert_lt(n, 126);
  char f[140] = {(char)0x81, (char)(0x80 | n), 0, 0, 0, 0};
  memcpy(f + 6, text, n);
  eddy_string_transport_clear(st);
  eddy_string_transport_feed(st, f, n + 6);
  spin(h->r);
}

/* The payload of the next text frame at *pos of st's output. */
static int ws_next(eddy_string_transport_t *st, size_t *pos, char *text,
                   size_t size) {
  size_t len;
  const unsigned char *o =
      (const unsigned char *)eddy_string_transport_value(st, &len);
  if (*pos + 2 > len)
    return -1;
  unsigned op = o[*pos] & 0x0F;
  size_t n = o[*pos + 1] & 0x7F, at = *pos + 2;
  if (n == 126) {
    n = ((size_t)o[at] << 8) | o[at + 1];
    at += 2;
  }
  cr_assert_leq(at + n, len);
  cr_assert_lt(n, size);
  memcpy(text, o + at, n);
  text[n] = '\0';
  *pos = at + n;
  return (int)op;
}

Test(sockjs_server, websocket_transport) {
  h_t h;
  setup(&h);
  eddy_string_transport_t *st = client(&h);
  send_req(&h, st, "GET", "/echo/0/w/websocket", UPGRADE, NULL, 0);
  const char *o = out(st);
  const char *frames = strstr(o, "\r\n\r\n");
  cr_assert_not_null(frames);
  size_t pos = (size_t)(frames + 4 - o);
  char text[256];
  cr_assert_eq(ws_next(st, &pos, text, sizeof(text)), 1);
  cr_assert_str_eq(text, "o");
  cr_assert_str_eq(eddy_sockjs_transport(h.session), "websocket");
  ws_send(&h, st, "");
  ws_send(&h, st, "[]");
  cr_assert_eq(h.messages, 0);
  ws_send(&h, st, "[\"a\",\"b\"]");
  pos = 0;
  cr_assert_eq(ws_next(st, &pos, text, sizeof(text)), 1);
  cr_assert_str_eq(text, "a[\"a\",\"b\"]", "sends of one turn: one frame");
  ws_send(&h, st, "\"c\"");
  pos = 0;
  ws_next(st, &pos, text, sizeof(text));
  cr_assert_str_eq(text, "a[\"c\"]");
  eddy_string_transport_clear(st);
  eddy_reactor_advance(h.r, HEARTBEAT_MS);
  spin(h.r);
  pos = 0;
  ws_next(st, &pos, text, sizeof(text));
  cr_assert_str_eq(text, "h");
  /* The application closes: a close frame, then the close handshake. */
  eddy_string_transport_clear(st);
  eddy_sockjs_close_session(h.session, 3001, "bye");
  spin(h.r);
  pos = 0;
  cr_assert_eq(ws_next(st, &pos, text, sizeof(text)), 1);
  cr_assert_str_eq(text, "c[3001,\"bye\"]");
  cr_assert_eq(ws_next(st, &pos, text, sizeof(text)), 8);
  cr_assert_eq(h.closed, 1);
  cr_assert_eq(h.code, 3001);
  teardown(&h);
}

Test(sockjs_server, websocket_broken_json_and_client_close) {
  h_t h;
  setup(&h);
  eddy_string_transport_t *a = client(&h), *b = client(&h);
  send_req(&h, a, "GET", "/echo/0/w/websocket", UPGRADE, NULL, 0);
  send_req(&h, b, "GET", "/echo/0/w/websocket", UPGRADE, NULL, 0);
  cr_assert_eq(h.opened, 2, "the same id twice: two sessions");
  ws_send(&h, a, "[\"a");
  cr_assert(eddy_string_transport_abort_called(a));
  spin(&*h.r);
  cr_assert_eq(h.closed, 1);
  cr_assert_eq(h.code, 1002);
  /* A clean close from the client. */
  char f[8] = {(char)0x88, (char)0x82, 0, 0, 0, 0, 0x03, (char)0xE8};
  eddy_string_transport_feed(b, f, sizeof(f));
  spin(h.r);
  eddy_string_transport_disconnect(b, 0);
  spin(h.r);
  cr_assert_eq(h.closed, 2);
  cr_assert_eq(h.code, 1000);
  send_req(&h, b, "POST", "/echo/0/w/websocket", NULL, NULL, 0);
  teardown(&h);
}

Test(sockjs_server, raw_websocket) {
  h_t h;
  setup(&h);
  eddy_string_transport_t *st = client(&h);
  send_req(&h, st, "GET", "/echo/websocket", UPGRADE, NULL, 0);
  cr_assert(has(st, "101 Switching Protocols"));
  cr_assert_str_eq(eddy_sockjs_transport(h.session), "websocket-raw");
  ws_send(&h, st, "plain \"text\"");
  size_t pos = 0;
  char text[64];
  cr_assert_eq(ws_next(st, &pos, text, sizeof(text)), 1);
  cr_assert_str_eq(text, "plain \"text\"");
  cr_assert_str_eq(h.last, "plain \"text\"");
  teardown(&h);
  cr_assert_eq(h.closed, 1);
}

Test(sockjs_server, disabled_websocket_and_origins) {
  h_t h;
  const char *origins[] = {"http://ok.example", NULL};
  eddy_sockjs_config_t cfg;
  eddy_sockjs_config_init(&cfg);
  cfg.prefix = "/echo";
  cfg.websocket = 0;
  cfg.origins = origins;
  setup_cfg(&h, &cfg);
  eddy_string_transport_t *st = client(&h);
  send_req(&h, st, "GET", "/echo/0/w/websocket", UPGRADE, NULL, 0);
  cr_assert(has(st, "HTTP/1.1 404"));
  send_req(&h, st, "GET", "/echo/websocket", UPGRADE, NULL, 0);
  cr_assert(has(st, "HTTP/1.1 404"));
  send_req(&h, st, "GET", "/echo/info", NULL, NULL, 0);
  cr_assert(has(st, "\"websocket\":false"));
  send_req(&h, st, "POST", "/echo/0/s/xhr", "Origin: http://evil.example\r\n",
           NULL, 0);
  cr_assert(has(st, "HTTP/1.1 403"));
  send_req(&h, st, "POST", "/echo/0/s/xhr", "Origin: http://OK.example\r\n",
           NULL, 0);
  cr_assert_str_eq(body(st), "o\n");
  /* The server's own origin (Host: x), where the iframe page runs. */
  send_req(&h, st, "POST", "/echo/0/t/xhr", "Origin: http://x\r\n", NULL, 0);
  cr_assert_str_eq(body(st), "o\n");
  send_req(&h, st, "POST", "/echo/0/u/xhr", "Origin: http://x.evil\r\n", NULL,
           0);
  cr_assert(has(st, "HTTP/1.1 403"));
  teardown(&h);
}

Test(sockjs_server, bad_configs) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_sockjs_t *sj;
  eddy_sockjs_config_t cfg;
  const char *prefixes[] = {"", "x", "/x/", "/"};
  for (size_t i = 0; i < 4; i++) {
    eddy_sockjs_config_init(&cfg);
    cfg.prefix = prefixes[i];
    cr_assert_eq(eddy_sockjs_new(r, &cfg, &handlers, NULL, &sj), UV_EINVAL);
  }
  eddy_sockjs_config_init(&cfg);
  cfg.max_queue = 0;
  cr_assert_eq(eddy_sockjs_new(r, &cfg, &handlers, NULL, &sj), UV_EINVAL);
  eddy_sockjs_config_init(&cfg);
  cfg.client_url = "x\"><script>";
  cr_assert_eq(eddy_sockjs_new(r, &cfg, &handlers, NULL, &sj), UV_EINVAL);
  cr_assert_eq(eddy_sockjs_new(r, NULL, &handlers, NULL, &sj), 0);
  eddy_sockjs_close(sj, NULL, NULL);
  test_close_reactor(r);
}
