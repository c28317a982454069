/* test_http_client.c — the HTTP client (eddy/http_client.h) against small
 * scripted servers on loopback TCP: each request the server reads gets the
 * next canned answer (raw bytes, possibly dripped one byte per iteration,
 * possibly followed by a close, or a hang-up instead of an answer). */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eddy/http_client.h>

#include "net_support.h"

/* ---- A scripted server ------------------------------------------------------
 */

typedef struct {
  const char *text; /* the answer's bytes; NULL: none */
  int close;        /* close the connection after answering */
  int hangup;       /* close it without answering */
  int drip;         /* write one byte per loop iteration */
} act_t;

#define MAX_ACTS 32

typedef struct {
  side_t side; /* first */
  eddy_reactor_t *r;
  eddy_listener_t *l;
  char base[64]; /* "http://127.0.0.1:PORT" */
  int port;
  act_t acts[MAX_ACTS];
  int nacts; /* requests past the last act get the last one */
  int requests;
  char *log[MAX_ACTS];
  size_t used[MAX_PEERS];
  int max_open;
  eddy_timer_t drip;
  peer_t *drip_peer;
  const char *drip_text;
  size_t drip_pos;
  int drip_close;
} srv_t;

static int open_peers(side_t *s) {
  int n = 0;
  for (int i = 0; i < s->n; i++)
    if (s->peers[i].made && !s->peers[i].lost)
      n++;
  return n;
}

static void srv_made(peer_t *p) {
  srv_t *s = (srv_t *)p->side;
  int n = open_peers(&s->side);
  if (n > s->max_open)
    s->max_open = n;
}

static void drip_tick(eddy_timer_t *t) {
  srv_t *s = t->data;
  peer_t *p = s->drip_peer;
  if (p->lost)
    return;
  eddy_transport_write(tr(p), s->drip_text + s->drip_pos, 1);
  if (s->drip_text[++s->drip_pos] != '\0') {
    eddy_timer_start(&s->drip, 0, drip_tick);
    return;
  }
  if (s->drip_close)
    eddy_transport_lose_connection(tr(p));
}

static void perform(srv_t *s, peer_t *p, const act_t *a) {
  if (a->hangup) {
    eddy_transport_lose_connection(tr(p));
    return;
  }
  if (a->text != NULL && a->drip) {
    s->drip_peer = p;
    s->drip_text = a->text;
    s->drip_pos = 0;
    s->drip_close = a->close;
    eddy_timer_start(&s->drip, 0, drip_tick);
    return;
  }
  if (a->text != NULL)
    eddy_transport_write_str(tr(p), a->text);
  if (a->close)
    eddy_transport_lose_connection(tr(p));
}

/* Splits what arrived into requests (head, then Content-Length bytes). */
static void srv_data(peer_t *p) {
  srv_t *s = (srv_t *)p->side;
  size_t idx = (size_t)(p - s->side.peers);
  for (;;) {
    const char *buf = p->in.data + s->used[idx];
    size_t len = p->in.len - s->used[idx];
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (end == NULL)
      return;
    size_t head = (size_t)(end - buf) + 4;
    size_t body = 0;
    char *h = strndup(buf, head);
    const char *cl = strcasestr(h, "\r\ncontent-length:");
    if (cl != NULL)
      body = strtoul(cl + 17, NULL, 10);
    free(h);
    if (len < head + body)
      return;
    int i = s->requests++;
    if (i < MAX_ACTS)
      s->log[i] = strndup(buf, head + body);
    s->used[idx] += head + body;
    cr_assert_gt(s->nacts, 0);
    perform(s, p, &s->acts[i < s->nacts ? i : s->nacts - 1]);
    if (p->lost || eddy_transport_is_closing(tr(p)))
      return;
  }
}

static void srv_start(srv_t *s, eddy_reactor_t *r) {
  memset(s, 0, sizeof(*s));
  side_init(&s->side);
  s->side.on_made = srv_made;
  s->side.on_data = srv_data;
  s->r = r;
  eddy_timer_init(r, &s->drip);
  s->drip.data = s;
  s->l = listen_on(r, "tcp:0:interface=127.0.0.1", &s->side);
  s->port = eddy_listener_port(s->l);
  snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
}

static void srv_add(srv_t *s, act_t a) {
  cr_assert_lt(s->nacts, MAX_ACTS);
  s->acts[s->nacts++] = a;
}

static void answer(srv_t *s, const char *text) {
  srv_add(s, (act_t){.text = text});
}

static void srv_free_log(srv_t *s) {
  for (int i = 0; i < MAX_ACTS; i++)
    free(s->log[i]);
}

/* ---- Running requests
 * --------------------------------------------------------- */

typedef struct {
  int done;
  int err;
  char msg[512];
  eddy_http_response_t *resp;
} got_t;

static void got_resp(eddy_result_t *res, void *arg) {
  got_t *g = arg;
  g->done++;
  g->resp = eddy_result_take(res);
}

static void got_fail(eddy_result_t *res, void *arg) {
  got_t *g = arg;
  g->done++;
  g->err = res->err;
  snprintf(g->msg, sizeof(g->msg), "%s", eddy_result_message(res));
  eddy_result_recover(res);
}

static void watch(eddy_deferred_t *d, got_t *g) {
  memset(g, 0, sizeof(*g));
  cr_assert_not_null(d);
  cr_assert_eq(eddy_deferred_fired(d), 0, "fired inside the request call");
  eddy_deferred_add_callbacks(d, got_resp, got_fail, g);
}

static void got_free(got_t *g) {
  eddy_http_response_free(g->resp);
  g->resp = NULL;
}

static eddy_http_client_t *client(eddy_reactor_t *r,
                                  const eddy_http_client_config_t *cfg) {
  eddy_http_client_t *c;
  cr_assert_eq(eddy_http_client_new(r, cfg, &c), 0);
  return c;
}

static void get(eddy_http_client_t *c, srv_t *s, const char *path, got_t *g) {
  char url[256];
  snprintf(url, sizeof(url), "%s%s", s->base, path);
  watch(eddy_http_get(c, url), g);
}

static void assert_ok(got_t *g, int status, const char *body) {
  cr_assert_eq(g->done, 1);
  cr_assert_eq(g->err, 0, "failed: %s", g->msg);
  cr_assert_not_null(g->resp);
  cr_assert_eq(g->resp->status, status);
  cr_assert_eq(g->resp->body_len, strlen(body), "body \"%s\"", g->resp->body);
  cr_assert_str_eq(g->resp->body, body);
}

static void assert_fail(got_t *g, int err, const char *words) {
  cr_assert_eq(g->done, 1);
  cr_assert_null(g->resp);
  cr_assert_eq(g->err, err, "err %s (%s), want %s", eddy_err_name(g->err),
               g->msg, eddy_err_name(err));
  cr_assert(strstr(g->msg, words) != NULL, "message \"%s\" lacks \"%s\"",
            g->msg, words);
}

static void finish_all(eddy_reactor_t *r, eddy_http_client_t *c, srv_t *s) {
  int closed = 0;
  eddy_http_client_close(c, closed_cb, &closed);
  cr_assert_eq(closed, 0);
  WAIT_FOR(r, closed == 1);
  for (int i = 0; i < s->side.n; i++)
    if (!s->side.peers[i].lost)
      eddy_transport_lose_connection(tr(&s->side.peers[i]));
  eddy_timer_stop(&s->drip);
  srv_free_log(s);
  finish(r, s->l, &s->side, &s->side);
}

static eddy_http_client_stats_t stats(eddy_http_client_t *c) {
  eddy_http_client_stats_t st;
  eddy_http_client_stats(c, &st);
  return st;
}

/* ---- Bodies
 * ------------------------------------------------------------------------ */

Test(http_client, content_length) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  answer(&s, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Two: a\r\n"
             "x-two: b\r\nContent-Length: 5\r\n\r\nhello");
  eddy_http_client_t *c = client(r, NULL);
  got_t g;
  get(c, &s, "/p/a%20b?q=1#frag", &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 200, "hello");
  cr_assert_str_eq(g.resp->reason, "OK");
  cr_assert_eq(g.resp->version_minor, 1);
  cr_assert_eq(g.resp->redirects, 0);
  cr_assert_str_eq(eddy_http_response_header(g.resp, "content-TYPE"),
                   "text/plain");
  cr_assert_str_eq(eddy_http_response_header(g.resp, "X-Two"), "a");
  cr_assert_null(eddy_http_response_header(g.resp, "missing"));
  cr_assert_eq(eddy_http_response_header_count(g.resp), 4);
  const char *n, *v;
  cr_assert_eq(eddy_http_response_header_at(g.resp, 2, &n, &v), 0);
  cr_assert_str_eq(n, "x-two");
  cr_assert_str_eq(v, "b");
  cr_assert_eq(eddy_http_response_header_at(g.resp, 4, &n, &v), UV_ENOENT);
  char want_url[128];
  snprintf(want_url, sizeof(want_url), "%s/p/a%%20b?q=1#frag", s.base);
  cr_assert_str_eq(g.resp->url, want_url);
  /* What went on the wire: no fragment, Host with the port. */
  char want[256];
  snprintf(want, sizeof(want),
           "GET /p/a%%20b?q=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
           "User-Agent: eddy/%s\r\n\r\n",
           s.port, EDDY_VERSION_STRING);
  cr_assert_str_eq(s.log[0], want);
  got_free(&g);
  finish_all(r, c, &s);
}

Test(http_client, chunked_dripped_one_byte_at_a_time) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  srv_add(&s, (act_t){.text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
                              "\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\n"
                              "5\r\nworld\r\n0\r\nTrailer: x\r\n\r\n",
                      .drip = 1});
  answer(&s, "HTTP/1.1 204 No Content\r\n\r\n");
  eddy_http_client_t *c = client(r, NULL);
  got_t g;
  get(c, &s, "/", &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 200, "hello world");
  got_free(&g);
  /* The chunked body ended cleanly: the connection is reused. */
  get(c, &s, "/again", &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 204, "");
  cr_assert_str_eq(g.resp->reason, "No Content");
  cr_assert_eq(s.side.n, 1);
  got_free(&g);
  finish_all(r, c, &s);
}

Test(http_client, close_delimited) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  srv_add(&s, (act_t){.text = "HTTP/1.0 200 OK\r\nServer: old\r\n\r\n"
                              "until the end",
                      .close = 1,
                      .drip = 1});
  srv_add(&s, (act_t){.text = "HTTP/1.1 200 OK\r\n\r\nalso 1.1", .close = 1});
  eddy_http_client_t *c = client(r, NULL);
  got_t g;
  get(c, &s, "/", &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 200, "until the end");
  cr_assert_eq(g.resp->version_minor, 0);
  got_free(&g);
  get(c, &s, "/", &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 200, "also 1.1");
  got_free(&g);
  cr_assert_eq(s.side.n, 2); /* such bodies end their connection */
  finish_all(r, c, &s);
}

Test(http_client, interim_100_is_skipped_and_head_has_no_body) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  answer(&s,
         "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: x\r\n\r\n"
         "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
  /* A HEAD response announces a length but carries no body. */
  answer(&s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
  answer(&s, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nend");
  eddy_http_client_t *c = client(r, NULL);
  got_t g;
  char url[128];
  snprintf(url, sizeof(url), "%s/up", s.base);
  eddy_http_client_req_t o = {
      .method = "POST", .url = url, .body = "data", .body_len = 4};
  watch(eddy_http_client_request(c, &o), &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 201, "ok");
  cr_assert(strstr(s.log[0], "POST /up HTTP/1.1\r\n") == s.log[0]);
  cr_assert(strstr(s.log[0], "\r\nContent-Length: 4\r\n\r\ndata") != NULL);
  got_free(&g);
  o = (eddy_http_client_req_t){.method = "HEAD", .url = url};
  watch(eddy_http_client_request(c, &o), &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 200, "");
  cr_assert_str_eq(eddy_http_response_header(g.resp, "content-length"), "100");
  got_free(&g);
  get(c, &s, "/", &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 200, "end");
  got_free(&g);
  cr_assert_eq(s.side.n, 1);
  finish_all(r, c, &s);
}

/* ---- The pool
 * ---------------------------------------------------------------------- */

Test(http_client, keep_alive_reuses_one_connection) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  /* Dripped: the head and body arrive one byte per read. */
  srv_add(&s, (act_t){.text = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
                      .drip = 1});
  eddy_http_client_t *c = client(r, NULL);
  for (int i = 0; i < 3; i++) {
    got_t g;
    get(c, &s, "/", &g);
    WAIT_FOR(r, g.done);
    assert_ok(&g, 200, "x");
    got_free(&g);
  }
  cr_assert_eq(s.side.n, 1);
  eddy_http_client_stats_t st = stats(c);
  cr_assert_eq(st.requests_total, 3);
  cr_assert_eq(st.connections_opened, 1);
  cr_assert_eq(st.connections_reused, 2);
  cr_assert_eq(st.connections_idle, 1);
  cr_assert_eq(st.connections_open, 1);
  finish_all(r, c, &s);
}

Test(http_client, per_host_limit_queues_in_order) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  answer(&s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  eddy_http_client_config_t cfg = {.max_per_host = 2, .max_queue_per_host = 5};
  eddy_http_client_t *c = client(r, &cfg);
  got_t g[6];
  for (int i = 0; i < 6; i++) {
    char path[16];
    snprintf(path, sizeof(path), "/%d", i);
    get(c, &s, path, &g[i]);
  }
  /* Five wait (two of them for the connects made for the queue); the
   * sixth finds the queue full. */
  WAIT_FOR(r, g[5].done);
  assert_fail(&g[5], UV_ENOBUFS, "too many requests waiting");
  for (int i = 0; i < 5; i++) {
    WAIT_FOR(r, g[i].done);
    assert_ok(&g[i], 200, "ok");
    got_free(&g[i]);
  }
  cr_assert_eq(s.side.n, 2);
  cr_assert_eq(s.max_open, 2);
  cr_assert_eq(s.requests, 5);
  /* FIFO: /2 (the first to wait for a busy connection) before /4. */
  int pos2 = -1, pos4 = -1;
  for (int i = 0; i < s.requests; i++) {
    if (strncmp(s.log[i], "GET /2 ", 7) == 0)
      pos2 = i;
    if (strncmp(s.log[i], "GET /4 ", 7) == 0)
      pos4 = i;
  }
  cr_assert(pos2 >= 0 && pos4 > pos2);
  eddy_http_client_stats_t st = stats(c);
  cr_assert_eq(st.connections_opened, 2);
  cr_assert_eq(st.connections_reused, 3);
  cr_assert_eq(st.requests_queued, 0);
  finish_all(r, c, &s);
}

Test(http_client, stale_pooled_connection_is_retried_once) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  answer(&s, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none");
  srv_add(&s, (act_t){.hangup = 1}); /* reads the request, closes */
  answer(&s, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo");
  srv_add(&s, (act_t){.hangup = 1});
  eddy_http_client_t *c = client(r, NULL);
  got_t g;
  get(c, &s, "/", &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 200, "one");
  got_free(&g);
  get(c, &s, "/", &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 200, "two");
  got_free(&g);
  cr_assert_eq(s.side.n, 2);
  cr_assert_eq(stats(c).retries, 1);
  /* A POST is not retried: it may have had an effect. */
  char url[128];
  snprintf(url, sizeof(url), "%s/post", s.base);
  eddy_http_client_req_t o = {.method = "POST", .url = url};
  watch(eddy_http_client_request(c, &o), &g);
  WAIT_FOR(r, g.done);
  assert_fail(&g, UV_EOF, "connection closed before any response");
  cr_assert_eq(stats(c).retries, 1);
  finish_all(r, c, &s);
}

Test(http_client, idle_connection_closed_by_server_is_dropped) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  /* Claims keep-alive, then closes anyway. */
  srv_add(&s, (act_t){.text = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na",
                      .close = 1});
  answer(&s, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb");
  eddy_http_client_t *c = client(r, NULL);
  got_t g;
  get(c, &s, "/", &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 200, "a");
  got_free(&g);
  WAIT_FOR(r, stats(c).connections_open == 0);
  get(c, &s, "/", &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 200, "b");
  got_free(&g);
  cr_assert_eq(s.side.n, 2);
  cr_assert_eq(stats(c).retries, 0);
  finish_all(r, c, &s);
}

Test(http_client, pool_idle_timeout_closes_connections) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  answer(&s, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na");
  eddy_http_client_config_t cfg = {.pool_idle_timeout_ms = 30};
  eddy_http_client_t *c = client(r, &cfg);
  got_t g;
  get(c, &s, "/", &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 200, "a");
  got_free(&g);
  cr_assert_eq(stats(c).connections_idle, 1);
  WAIT_FOR(r, s.side.peers[0].lost);
  cr_assert_eq(stats(c).connections_idle, 0);
  finish_all(r, c, &s);
}

/* ---- Timeouts and failures
 * -------------------------------------------------------- */

Test(http_client, response_timeout) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  srv_add(&s, (act_t){0}); /* never answers */
  eddy_http_client_config_t cfg = {.response_timeout_ms = 50};
  eddy_http_client_t *c = client(r, &cfg);
  got_t g;
  get(c, &s, "/", &g);
  WAIT_FOR(r, g.done);
  assert_fail(&g, UV_ETIMEDOUT, "response timeout after 50 ms");
  WAIT_FOR(r, s.side.peers[0].lost); /* the connection was closed */
  finish_all(r, c, &s);
}

Test(http_client, read_timeout_and_request_timeout) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  /* The head and part of the body, then nothing. */
  answer(&s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  eddy_http_client_t *c = client(r, NULL);
  char url[128];
  snprintf(url, sizeof(url), "%s/", s.base);
  got_t g;
  eddy_http_client_req_t o = {.url = url, .read_timeout_ms = 40};
  watch(eddy_http_client_request(c, &o), &g);
  WAIT_FOR(r, g.done);
  assert_fail(&g, UV_ETIMEDOUT, "read timeout after 40 ms");
  o = (eddy_http_client_req_t){.url = url, .request_timeout_ms = 60};
  watch(eddy_http_client_request(c, &o), &g);
  WAIT_FOR(r, g.done);
  assert_fail(&g, UV_ETIMEDOUT, "request timeout after 60 ms");
  finish_all(r, c, &s);
}

Test(http_client, connect_refused) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  answer(&s, "unused");
  /* A port nobody listens on any more. */
  side_t other;
  side_init(&other);
  eddy_listener_t *l = listen_on(r, "tcp:0:interface=127.0.0.1", &other);
  int port = eddy_listener_port(l);
  int closed = 0;
  eddy_listener_close(l, closed_cb, &closed);
  WAIT_FOR(r, closed);
  side_free(&other);
  eddy_http_client_t *c = client(r, NULL);
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
  got_t g[3];
  for (int i = 0; i < 3; i++)
    watch(eddy_http_get(c, url), &g[i]);
  for (int i = 0; i < 3; i++) {
    WAIT_FOR(r, g[i].done);
    assert_fail(&g[i], UV_ECONNREFUSED, "connection refused");
    cr_assert(strstr(g[i].msg, "127.0.0.1") != NULL, "%s", g[i].msg);
  }
  finish_all(r, c, &s);
}

Test(http_client, malformed_responses) {
  static const struct {
    const char *text;
    const char *words;
  } cases[] = {
      {"HTTP/1.1 2000 OK\r\n\r\n", "malformed response: "},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
       "Content-Length"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
       "malformed chunked body"},
      {"HTTP/1.1 200 OK\nContent-Length: 0\n\n", "bare LF"},
      {"SSH-2.0-OpenSSH\r\n\r\n", "malformed response: "},
      {"HTTP/1.1 101 Switching Protocols\r\n\r\n", "unexpected 101"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n", "body too large"},
  };
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    answer(&s, cases[i].text);
  eddy_http_client_config_t cfg = {.limits = {.max_body = 100}};
  eddy_http_client_t *c = client(r, &cfg);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    got_t g;
    get(c, &s, "/", &g);
    WAIT_FOR(r, g.done);
    assert_fail(&g, EDDY_EPARSE, cases[i].words);
  }
  cr_assert_eq(s.side.n, (int)(sizeof(cases) / sizeof(cases[0])));
  finish_all(r, c, &s);
}

Test(http_client, bad_requests_fail_on_a_later_iteration) {
  eddy_reactor_t *r = test_reactor(0);
  eddy_http_client_t *c = client(r, NULL);
  static const eddy_http_client_header_t host[] = {{"Host", "x"}};
  static const eddy_http_client_header_t crlf[] = {{"X-A", "a\r\nX-B: b"}};
  static const eddy_http_client_header_t name[] = {{"Bad Name", "v"}};
  static const struct {
    eddy_http_client_req_t o;
    int err;
    const char *words;
  } cases[] = {
      {{.url = "ftp://h/"}, EDDY_EPARSE, "bad URL: unsupported scheme"},
      {{.url = "https://h/"}, UV_EPROTONOSUPPORT, "TLS"},
      {{.url = "ws://h/"}, UV_EINVAL, "not an HTTP URL"},
      {{.url = "http://h/ x"}, EDDY_EPARSE, "invalid byte 0x20 in path"},
      {{.url = NULL}, UV_EINVAL, "no URL"},
      {{.url = "http://h/", .method = "GE T"}, UV_EINVAL, "not a token"},
      {{.url = "http://h/", .headers = host, .num_headers = 1},
       UV_EINVAL,
       "set by the client"},
      {{.url = "http://h/", .headers = crlf, .num_headers = 1},
       UV_EINVAL,
       "control character"},
      {{.url = "http://h/", .headers = name, .num_headers = 1},
       UV_EINVAL,
       "not a token"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    got_t g;
    watch(eddy_http_client_request(c, &cases[i].o), &g);
    cr_assert_eq(g.done, 0);
    eddy_reactor_run_once(r, 0);
    assert_fail(&g, cases[i].err, cases[i].words);
  }
  int closed = 0;
  eddy_http_client_close(c, closed_cb, &closed);
  WAIT_FOR(r, closed == 1);
  test_close_reactor(r);
}

/* ---- Redirects
 * --------------------------------------------------------------------- */

Test(http_client, redirects_follow_method_rules) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  answer(&s, "HTTP/1.1 302 Found\r\nLocation: b/../c?x=1\r\n"
             "Content-Length: 4\r\n\r\nmove");
  answer(&s, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nhere");
  /* POST + 303: GET without the body. */
  answer(&s, "HTTP/1.1 303 See Other\r\nLocation: /got\r\n"
             "Content-Length: 0\r\n\r\n");
  answer(&s, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1");
  /* POST + 307: POST again with the body. */
  answer(&s, "HTTP/1.1 307 Temporary\r\nLocation: /again\r\n"
             "Content-Length: 0\r\n\r\n");
  answer(&s, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2");
  eddy_http_client_t *c = client(r, NULL);
  char url[128];
  snprintf(url, sizeof(url), "%s/dir/start", s.base);
  got_t g;
  eddy_http_client_req_t o = {.url = url, .max_redirects = 3};
  watch(eddy_http_client_request(c, &o), &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 200, "here");
  cr_assert_eq(g.resp->redirects, 1);
  char want[128];
  snprintf(want, sizeof(want), "%s/dir/c?x=1", s.base);
  cr_assert_str_eq(g.resp->url, want);
  cr_assert(strncmp(s.log[1], "GET /dir/c?x=1 HTTP/1.1\r\n", 25) == 0, "%s",
            s.log[1]);
  got_free(&g);

  o = (eddy_http_client_req_t){.method = "POST",
                               .url = url,
                               .body = "abc",
                               .body_len = 3,
                               .max_redirects = 1};
  watch(eddy_http_client_request(c, &o), &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 200, "1");
  cr_assert(strncmp(s.log[3], "GET /got HTTP/1.1\r\n", 19) == 0, "%s",
            s.log[3]);
  cr_assert_null(strstr(s.log[3], "abc"));
  got_free(&g);

  watch(eddy_http_client_request(c, &o), &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 200, "2");
  cr_assert(strncmp(s.log[5], "POST /again HTTP/1.1\r\n", 22) == 0, "%s",
            s.log[5]);
  cr_assert(strstr(s.log[5], "\r\n\r\nabc") != NULL);
  got_free(&g);
  cr_assert_eq(s.side.n, 1); /* redirect bodies were read, not left behind */
  finish_all(r, c, &s);
}

Test(http_client, redirect_limits_and_bad_locations) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  answer(&s,
         "HTTP/1.1 301 Moved\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n");
  eddy_http_client_t *c = client(r, NULL);
  char url[128];
  snprintf(url, sizeof(url), "%s/loop", s.base);
  got_t g;
  eddy_http_client_req_t o = {.url = url, .max_redirects = 2};
  watch(eddy_http_client_request(c, &o), &g);
  WAIT_FOR(r, g.done);
  assert_fail(&g, UV_ELOOP, "too many redirects (2)");
  cr_assert_eq(s.requests, 3);
  /* Not asked to follow: the redirect is the answer. */
  get(c, &s, "/loop", &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 301, "");
  cr_assert_str_eq(eddy_http_response_header(g.resp, "location"), "/loop");
  got_free(&g);
  s.acts[0].text = "HTTP/1.1 302 Found\r\nLocation: https://secure/\r\n"
                   "Content-Length: 0\r\n\r\n";
  watch(eddy_http_client_request(c, &o), &g);
  WAIT_FOR(r, g.done);
  assert_fail(&g, UV_EPROTONOSUPPORT, "bad redirect Location: bad URL: https");
  finish_all(r, c, &s);
}

/* ---- Streaming
 * ----------------------------------------------------------------------- */

typedef struct {
  eddy_reactor_t *r;
  int heads;
  int pieces;
  eddy_buf_t data;
  eddy_http_response_t *resp;
  eddy_timer_t later;
  int stop_with; /* on_body answers this once data passes 1000 bytes */
} stream_t;

static void on_head(eddy_http_response_t *resp, void *arg) {
  stream_t *st = arg;
  st->heads++;
  st->resp = resp;
  cr_assert_eq(resp->status, 200);
  cr_assert_str_eq(eddy_http_response_header(resp, "x-kind"), "stream");
}

static void resume_later(eddy_timer_t *t) {
  stream_t *st = t->data;
  cr_assert_eq(eddy_http_response_resume(st->resp), 0);
}

static int on_body(eddy_http_response_t *resp, const char *data, size_t len,
                   void *arg) {
  stream_t *st = arg;
  cr_assert_eq(resp, st->resp);
  st->pieces++;
  cr_assert_eq(eddy_buf_append(&st->data, data, len), 0);
  if (st->stop_with != 0 && st->data.len > 1000)
    return st->stop_with;
  /* Every other piece: pause, and resume a little later. */
  if (st->pieces % 2 == 1) {
    cr_assert_eq(eddy_http_response_pause(resp), 0);
    eddy_timer_start(&st->later, 1, resume_later);
  }
  return 0;
}

static char *big_chunked(size_t chunks, size_t chunk_len, char **expect) {
  eddy_buf_t b, e;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  eddy_buf_init(&e, EDDY_BUF_UNLIMITED);
  eddy_buf_append_str(&b, "HTTP/1.1 200 OK\r\nX-Kind: stream\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n");
  for (size_t i = 0; i < chunks; i++) {
    eddy_buf_printf(&b, "%zx\r\n", chunk_len);
    for (size_t k = 0; k < chunk_len; k++) {
      char ch = (char)('a' + (i + k) % 26);
      eddy_buf_append(&b, &ch, 1);
      eddy_buf_append(&e, &ch, 1);
    }
    eddy_buf_append_str(&b, "\r\n");
  }
  eddy_buf_append_str(&b, "0\r\n\r\n");
  size_t n;
  *expect = eddy_buf_detach(&e, &n);
  return eddy_buf_detach(&b, &n);
}

Test(http_client, streaming_with_pause_and_resume) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  char *expect;
  char *text = big_chunked(64, 4000, &expect);
  answer(&s, text);
  answer(&s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  eddy_http_client_t *c = client(r, NULL);
  stream_t st = {.r = r};
  eddy_buf_init(&st.data, EDDY_BUF_UNLIMITED);
  eddy_timer_init(r, &st.later);
  st.later.data = &st;
  char url[128];
  snprintf(url, sizeof(url), "%s/s", s.base);
  eddy_http_client_req_t o = {
      .url = url, .on_head = on_head, .on_body = on_body, .arg = &st};
  got_t g;
  watch(eddy_http_client_request(c, &o), &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 200, "");
  cr_assert_eq(st.heads, 1);
  cr_assert_gt(st.pieces, 1);
  cr_assert_eq(st.data.len, strlen(expect));
  cr_assert(memcmp(st.data.data, expect, st.data.len) == 0);
  cr_assert_eq(eddy_http_response_pause(g.resp), UV_EINVAL); /* over */
  got_free(&g);
  /* The connection went back to the pool readable. */
  get(c, &s, "/", &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 200, "ok");
  got_free(&g);
  cr_assert_eq(s.side.n, 1);
  eddy_timer_stop(&st.later);
  eddy_buf_free(&st.data);
  free(text);
  free(expect);
  finish_all(r, c, &s);
}

Test(http_client, body_callback_error_stops_the_request) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  char *expect;
  char *text = big_chunked(16, 4000, &expect);
  answer(&s, text);
  eddy_http_client_t *c = client(r, NULL);
  stream_t st = {.r = r, .stop_with = UV_ECANCELED};
  eddy_buf_init(&st.data, EDDY_BUF_UNLIMITED);
  eddy_timer_init(r, &st.later);
  st.later.data = &st;
  char url[128];
  snprintf(url, sizeof(url), "%s/s", s.base);
  eddy_http_client_req_t o = {
      .url = url, .on_head = on_head, .on_body = on_body, .arg = &st};
  got_t g;
  watch(eddy_http_client_request(c, &o), &g);
  WAIT_FOR(r, g.done);
  assert_fail(&g, UV_ECANCELED, "body callback: ");
  eddy_timer_stop(&st.later);
  eddy_buf_free(&st.data);
  free(text);
  free(expect);
  finish_all(r, c, &s);
}

/* ---- Cancelling and closing
 * ----------------------------------------------------------- */

Test(http_client, cancel_queued_and_in_flight) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  srv_add(&s, (act_t){0}); /* never answers */
  eddy_http_client_config_t cfg = {.max_per_host = 1};
  eddy_http_client_t *c = client(r, &cfg);
  char url[128];
  snprintf(url, sizeof(url), "%s/", s.base);
  eddy_deferred_t *d1 = eddy_http_get(c, url);
  eddy_deferred_t *d2 = eddy_http_get(c, url);
  got_t g1, g2;
  watch(d1, &g1);
  watch(d2, &g2);
  eddy_deferred_ref(d1);
  eddy_deferred_ref(d2);
  WAIT_FOR(r, s.requests == 1);
  cr_assert_eq(stats(c).requests_queued, 1);
  eddy_deferred_cancel(d2);
  assert_fail(&g2, UV_ECANCELED, "cancelled");
  cr_assert_eq(stats(c).requests_queued, 0);
  eddy_deferred_cancel(d1);
  assert_fail(&g1, UV_ECANCELED, "cancelled");
  WAIT_FOR(r, s.side.peers[0].lost); /* its connection was aborted */
  eddy_deferred_unref(d1);
  eddy_deferred_unref(d2);
  finish_all(r, c, &s);
}

Test(http_client, close_fails_what_is_pending) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  srv_add(&s, (act_t){0});
  eddy_http_client_t *c = client(r, NULL);
  got_t g, late;
  get(c, &s, "/", &g);
  WAIT_FOR(r, s.requests == 1);
  int closed = 0;
  eddy_http_client_close(c, closed_cb, &closed);
  get(c, &s, "/late", &late);
  cr_assert_eq(g.done, 0);
  WAIT_FOR(r, closed == 1);
  assert_fail(&g, UV_ECANCELED, "client closed");
  assert_fail(&late, UV_ECANCELED, "client closed");
  WAIT_FOR(r, s.side.peers[0].lost);
  srv_free_log(&s);
  finish(r, s.l, &s.side, &s.side);
}

/* ---- Headers, connection reuse rules, a fake clock
 * ----------------------------------- */

Test(http_client, headers_sent_and_dropped_across_origins) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t a, b;
  srv_start(&a, r);
  srv_start(&b, r);
  char moved[256];
  /* Same origin first (credentials kept), then another port (dropped). */
  answer(&a,
         "HTTP/1.1 307 Same\r\nLocation: /here\r\nContent-Length: 0\r\n\r\n");
  snprintf(moved, sizeof(moved),
           "HTTP/1.1 302 Away\r\nLocation: %s/there\r\nContent-Length: 0"
           "\r\n\r\n",
           b.base);
  answer(&a, moved);
  answer(&b, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  eddy_http_client_config_t cfg = {.user_agent = ""};
  eddy_http_client_t *c = client(r, &cfg);
  static const eddy_http_client_header_t hs[] = {
      {"Authorization", "Bearer secret"},
      {"Cookie", "a=1"},
      {"X-Custom", "kept\tvalue"},
      {"User-Agent", "mine/1"}};
  char url[128];
  snprintf(url, sizeof(url), "%s/start", a.base);
  eddy_http_client_req_t o = {
      .url = url, .headers = hs, .num_headers = 4, .max_redirects = 5};
  got_t g;
  watch(eddy_http_client_request(c, &o), &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 200, "ok");
  cr_assert_eq(g.resp->redirects, 2);
  for (int i = 0; i < 2; i++) {
    cr_assert(strstr(a.log[i], "\r\nAuthorization: Bearer secret\r\n") != NULL);
    cr_assert(strstr(a.log[i], "\r\nCookie: a=1\r\n") != NULL);
    cr_assert(strstr(a.log[i], "\r\nX-Custom: kept\tvalue\r\n") != NULL);
    cr_assert(strstr(a.log[i], "\r\nUser-Agent: mine/1\r\n") != NULL);
  }
  cr_assert(strncmp(a.log[1], "GET /here HTTP/1.1\r\n", 20) == 0);
  cr_assert_null(strstr(b.log[0], "Authorization"), "%s", b.log[0]);
  cr_assert_null(strstr(b.log[0], "Cookie"), "%s", b.log[0]);
  cr_assert(strstr(b.log[0], "\r\nX-Custom: kept\tvalue\r\n") != NULL);
  char host[64];
  snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", b.port);
  cr_assert(strstr(b.log[0], host) != NULL);
  got_free(&g);
  int closed = 0;
  eddy_http_client_close(c, closed_cb, &closed);
  WAIT_FOR(r, closed == 1);
  for (int i = 0; i < a.side.n; i++)
    if (!a.side.peers[i].lost)
      eddy_transport_lose_connection(tr(&a.side.peers[i]));
  for (int i = 0; i < b.side.n; i++)
    if (!b.side.peers[i].lost)
      eddy_transport_lose_connection(tr(&b.side.peers[i]));
  closed = 0;
  eddy_listener_close(a.l, closed_cb, &closed);
  WAIT_FOR(r, closed == 1);
  srv_free_log(&a);
  srv_free_log(&b);
  finish(r, b.l, &a.side, &b.side);
}

Test(http_client, connection_close_and_truncated_bodies) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  answer(&s, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1"
             "\r\n\r\n1");
  srv_add(&s, (act_t){.text = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
                              "short",
                      .close = 1});
  srv_add(&s, (act_t){.text = "HTTP/1.1 200 OK\r\nContent-Le", .close = 1});
  answer(&s, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n4");
  eddy_http_client_t *c = client(r, NULL);
  got_t g;
  get(c, &s, "/", &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 200, "1");
  got_free(&g);
  get(c, &s, "/", &g);
  WAIT_FOR(r, g.done);
  assert_fail(&g, UV_EOF, "connection closed before the response ended");
  get(c, &s, "/", &g);
  WAIT_FOR(r, g.done);
  assert_fail(&g, UV_EOF, "connection closed before the response ended");
  get(c, &s, "/", &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 200, "4");
  got_free(&g);
  cr_assert_eq(s.side.n, 4); /* "Connection: close" was obeyed */
  cr_assert_eq(stats(c).retries, 0);
  finish_all(r, c, &s);
}

Test(http_client, idle_limit_closes_the_surplus) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  answer(&s, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx");
  eddy_http_client_config_t cfg = {.max_idle = 1};
  eddy_http_client_t *c = client(r, &cfg);
  got_t g[3];
  for (int i = 0; i < 3; i++)
    get(c, &s, "/", &g[i]);
  for (int i = 0; i < 3; i++) {
    WAIT_FOR(r, g[i].done);
    assert_ok(&g[i], 200, "x");
    got_free(&g[i]);
  }
  cr_assert_eq(s.side.n, 3);
  WAIT_FOR(r, stats(c).connections_open == 1);
  cr_assert_eq(stats(c).connections_idle, 1);
  finish_all(r, c, &s);
}

/* Timeouts on the fake clock: nothing fires until the test moves time. */
Test(http_client, fake_clock_response_timeout) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  srv_t s;
  srv_start(&s, r);
  srv_add(&s, (act_t){0});
  eddy_http_client_config_t cfg = {.response_timeout_ms = 5000};
  eddy_http_client_t *c = client(r, &cfg);
  got_t g;
  get(c, &s, "/", &g);
  SPIN_FOR(r, s.requests == 1);
  eddy_reactor_advance(r, 4999);
  cr_assert_eq(g.done, 0);
  eddy_reactor_advance(r, 1);
  assert_fail(&g, UV_ETIMEDOUT, "response timeout after 5000 ms");
  int closed = 0;
  eddy_http_client_close(c, closed_cb, &closed);
  SPIN_FOR(r, closed == 1);
  SPIN_FOR(r, s.side.peers[0].lost);
  srv_free_log(&s);
  finish(r, s.l, &s.side, &s.side);
}

/* Names are resolved off the loop (eddy_connect); IPv6 literals connect
 * without resolving. */
Test(http_client, host_names_and_ipv6_literals) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  answer(&s, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nname");
  eddy_http_client_t *c = client(r, NULL);
  char url[128];
  snprintf(url, sizeof(url), "http://localhost:%d/", s.port);
  got_t g;
  watch(eddy_http_get(c, url), &g);
  WAIT_FOR(r, g.done);
  assert_ok(&g, 200, "name");
  cr_assert(strstr(s.log[0], "\r\nHost: localhost:") != NULL);
  got_free(&g);

  side_t six;
  side_init(&six);
  eddy_listener_t *l6 = NULL;
  if (eddy_listen(r, "tcp6:0:interface=\\:\\:1", &six.f, &l6) == 0) {
    snprintf(url, sizeof(url), "http://[::1]:%d/v6", eddy_listener_port(l6));
    watch(eddy_http_get(c, url), &g);
    /* (in.data is NULL until the first byte: memmem must not see that) */
    WAIT_FOR(r, six.n == 1 && six.peers[0].in.len > 0 &&
                    memmem(six.peers[0].in.data, six.peers[0].in.len,
                           "\r\n\r\n", 4) != NULL);
    char want[64];
    snprintf(want, sizeof(want), "\r\nHost: [::1]:%d\r\n",
             eddy_listener_port(l6));
    cr_assert(memmem(six.peers[0].in.data, six.peers[0].in.len, want,
                     strlen(want)) != NULL);
    eddy_transport_write_str(tr(&six.peers[0]),
                             "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6");
    WAIT_FOR(r, g.done);
    assert_ok(&g, 200, "v6");
    got_free(&g);
    int closed = 0;
    eddy_http_client_close(c, closed_cb, &closed);
    WAIT_FOR(r, closed == 1);
    closed = 0;
    eddy_listener_close(l6, closed_cb, &closed);
    WAIT_FOR(r, closed == 1);
  } else {
    int closed = 0;
    eddy_http_client_close(c, closed_cb, &closed);
    WAIT_FOR(r, closed == 1);
  }
  for (int i = 0; i < s.side.n; i++)
    if (!s.side.peers[i].lost)
      eddy_transport_lose_connection(tr(&s.side.peers[i]));
  srv_free_log(&s);
  finish(r, s.l, &s.side, &six);
}

/* The head limit counts the head only, however much body shares its read;
 * interim responses are bounded. */
Test(http_client, head_limit_is_not_hit_by_the_body) {
  eddy_reactor_t *r = test_reactor(0);
  srv_t s;
  srv_start(&s, r);
  eddy_buf_t big;
  eddy_buf_init(&big, EDDY_BUF_UNLIMITED);
  eddy_buf_append_str(&big, "HTTP/1.1 100 Continue\r\n\r\n"
                            "HTTP/1.1 200 OK\r\nContent-Length: 40000\r\n\r\n");
  for (int i = 0; i < 40000; i++)
    eddy_buf_append(&big, "b", 1);
  size_t n;
  char *text = eddy_buf_detach(&big, &n);
  answer(&s, text);
  eddy_buf_t many;
  eddy_buf_init(&many, EDDY_BUF_UNLIMITED);
  for (int i = 0; i < 9; i++)
    eddy_buf_append_str(&many, "HTTP/1.1 100 Continue\r\n\r\n");
  eddy_buf_append_str(&many, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  char *text2 = eddy_buf_detach(&many, &n);
  answer(&s, text2);
  answer(&s, "HTTP/1.1 200 OK\r\nX-Big: "
             "0123456789012345678901234567890123456789012345678901234567890123"
             "\r\nContent-Length: 0\r\n\r\n");
  eddy_http_client_config_t cfg = {.limits = {.max_head = 64}};
  eddy_http_client_t *c = client(r, &cfg);
  got_t g;
  get(c, &s, "/", &g);
  WAIT_FOR(r, g.done);
  cr_assert_eq(g.err, 0, "%s", g.msg);
  cr_assert_eq(g.resp->body_len, 40000);
  got_free(&g);
  get(c, &s, "/", &g);
  WAIT_FOR(r, g.done);
  assert_fail(&g, EDDY_EPARSE, "more than 8 interim (1xx) responses");
  get(c, &s, "/", &g);
  WAIT_FOR(r, g.done);
  assert_fail(&g, EDDY_EPARSE, "header section too large");
  free(text);
  free(text2);
  finish_all(r, c, &s);
}
