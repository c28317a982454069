/* test_http_server.c — the HTTP/1.1 server over the string transport:
 * requests fed whole and one byte at a time, keep-alive, pipelining,
 * HEAD, bodies, 100-continue, errors, timeouts (fake clock), streaming,
 * lifetimes, the protocol switch and the graceful stop. */
#include "support.h"

#include <eddy/http_server.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Fixture --------------------------------------------------------------
 */

typedef struct fix_s {
  eddy_reactor_t *r;
  eddy_http_server_t *s;
  eddy_http_request_t *held[8]; /* requests answered later */
  int nheld;
  int handled;
  int closed_calls;
  int close_reason;
  int stopped;
  char order[64]; /* paths seen, first letters */
} fix_t;

static void handler(eddy_http_request_t *req, void *arg);

static void fix_open_cfg(fix_t *f, const eddy_http_server_config_t *cfg) {
  memset(f, 0, sizeof(*f));
  f->r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  cr_assert_eq(eddy_http_server_new(f->r, cfg, handler, f, &f->s), 0);
}

static void fix_open(fix_t *f) {
  fix_open_cfg(f, NULL);
}

static void on_stopped(void *arg) {
  ((fix_t *)arg)->stopped++;
}

static eddy_string_transport_t *fix_connect(fix_t *f) {
  eddy_factory_t *fa = eddy_http_server_factory(f->s);
  eddy_protocol_t *p = fa->build_protocol(fa, NULL);
  cr_assert_not_null(p);
  eddy_string_transport_t *st = eddy_string_transport_new(f->r);
  cr_assert_not_null(st);
  eddy_string_transport_connect(st, p);
  return st;
}

static void spin(eddy_reactor_t *r) {
  for (int i = 0; i < 20; i++)
    eddy_reactor_run_once(r, 0);
}

/* Stops the server, frees the transports, proves everything closed. */
static void fix_close(fix_t *f, eddy_string_transport_t **sts, int n) {
  eddy_http_server_close(f->s, 0, on_stopped, f);
  spin(f->r);
  for (int i = 0; i < n; i++)
    eddy_string_transport_free(sts[i]);
  test_close_reactor(f->r);
  cr_assert_eq(f->stopped, 1);
}

static const char *out(eddy_string_transport_t *st) {
  return eddy_string_transport_value(st, NULL);
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
    n++;
  return n;
}

/* ---- The handler -----------------------------------------------------------
 */

static void later_closed(eddy_http_request_t *req, int reason, void *arg) {
  fix_t *f = arg;
  f->closed_calls++;
  f->close_reason = reason;
  (void)req;
}

static void handler(eddy_http_request_t *req, void *arg) {
  fix_t *f = arg;
  const char *path = eddy_http_path(req);
  size_t n = strlen(f->order);
  if (n + 1 < sizeof(f->order)) {
    f->order[n] = path[1] != '\0' ? path[1] : '/';
    f->order[n + 1] = '\0';
  }
  f->handled++;
  if (strcmp(path, "/hello") == 0) {
    eddy_http_respond(req, 200, "text/plain", "hello", 5);
  } else if (strcmp(path, "/echo") == 0) {
    size_t len;
    const char *body = eddy_http_body(req, &len);
    cr_assert_eq(body[len], '\0');
    eddy_http_respond(req, 200, NULL, body, len);
  } else if (strncmp(path, "/later", 6) == 0) {
    cr_assert_lt(f->nheld, 8);
    f->held[f->nheld++] = req;
    eddy_http_on_close(req, later_closed, f);
  } else if (strcmp(path, "/stream") == 0) {
    cr_assert_eq(eddy_http_write(req, "ab", 2), 0);
    cr_assert_eq(eddy_http_write(req, "", 0), 0);
    cr_assert_eq(eddy_http_write(req, "cde", 3), 0);
    cr_assert_eq(eddy_http_finish(req), 0);
  } else if (strcmp(path, "/info") == 0) {
    char buf[512];
    const char *h = eddy_http_header(req, "x-test");
    int len = snprintf(buf, sizeof(buf), "%s|%s|%s|%d|%s|%zu",
                       eddy_http_method(req), eddy_http_target(req),
                       eddy_http_query(req), eddy_http_version_minor(req),
                       h != NULL ? h : "-", eddy_http_header_count(req));
    eddy_http_respond(req, 200, "text/plain", buf, (size_t)len);
  } else {
    eddy_http_respond_error(req, 404, NULL);
  }
}

/* ---- Basics ----------------------------------------------------------------
 */

static const char GET_HELLO[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";

Test(http_server, simple_get_whole_and_bytewise) {
  for (int bytewise = 0; bytewise < 2; bytewise++) {
    fix_t f;
    fix_open(&f);
    eddy_string_transport_t *st = fix_connect(&f);
    if (bytewise)
      eddy_string_transport_feed_bytewise(st, GET_HELLO, strlen(GET_HELLO));
    else
      eddy_string_transport_feed(st, GET_HELLO, strlen(GET_HELLO));
    const char *o = out(st);
    cr_assert(strncmp(o, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", o);
    cr_assert_not_null(strstr(o, "\r\nServer: eddy/"));
    cr_assert_not_null(strstr(o, "\r\nDate: "));
    cr_assert_not_null(strstr(o, " GMT\r\n"));
    cr_assert_not_null(strstr(o, "\r\nContent-Type: text/plain\r\n"));
    cr_assert_not_null(strstr(o, "\r\nContent-Length: 5\r\n"));
    cr_assert_null(strstr(o, "Connection:"));
    cr_assert(strcmp(o + strlen(o) - 9, "\r\n\r\nhello") == 0, "%s", o);
    cr_assert_eq(eddy_string_transport_write_count(st), 1);
    cr_assert_not(eddy_string_transport_lose_called(st));
    cr_assert_not(eddy_string_transport_write_shut(st));
    /* keep-alive: a second request on the same connection */
    eddy_string_transport_clear(st);
    eddy_string_transport_feed(st, GET_HELLO, strlen(GET_HELLO));
    cr_assert_eq(count(out(st), "HTTP/1.1 200 OK"), 1);
    cr_assert_eq(f.handled, 2);
    eddy_http_server_stats_t stats;
    eddy_http_server_stats(f.s, &stats);
    cr_assert_eq(stats.requests_total, 2);
    cr_assert_eq(stats.connections, 1);
    cr_assert_eq(stats.connections_total, 1);
    fix_close(&f, &st, 1);
  }
}

Test(http_server, accessors) {
  fix_t f;
  fix_open(&f);
  eddy_string_transport_t *st = fix_connect(&f);
  const char req[] = "GET /info?a=1&b=%20 HTTP/1.1\r\nHost: x\r\n"
                     "X-Test:  v  \r\n\r\n";
  eddy_string_transport_feed_bytewise(st, req, strlen(req));
  cr_assert_not_null(
      strstr(out(st), "\r\n\r\nGET|/info?a=1&b=%20|a=1&b=%20|1|v|2"), "%s",
      out(st));
  fix_close(&f, &st, 1);
}

static void path_handler(eddy_http_request_t *req, void *arg) {
  eddy_http_respond(req, 200, NULL, eddy_http_path(req),
                    strlen(eddy_http_path(req)));
  (void)arg;
}

static const char *path_of(const char *target, char *buf, size_t size) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_http_server_t *s;
  cr_assert_eq(eddy_http_server_new(r, NULL, path_handler, NULL, &s), 0);
  eddy_factory_t *fa = eddy_http_server_factory(s);
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  eddy_string_transport_connect(st, fa->build_protocol(fa, NULL));
  char req[512];
  snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\n\r\n",
           target[0] == '*' ? "OPTIONS" : "GET", target);
  eddy_string_transport_feed(st, req, strlen(req));
  const char *o = out(st);
  if (strncmp(o, "HTTP/1.1 200", 12) == 0)
    snprintf(buf, size, "%s", strstr(o, "\r\n\r\n") + 4);
  else
    snprintf(buf, size, "%.12s", o);
  eddy_http_server_close(s, 0, NULL, NULL);
  spin(r);
  eddy_string_transport_free(st);
  test_close_reactor(r);
  return buf;
}

Test(http_server, path_decoding) {
  char b[128];
  cr_assert_str_eq(path_of("/a%20b/c?x=%20", b, sizeof(b)), "/a b/c");
  cr_assert_str_eq(path_of("/%41%2f", b, sizeof(b)), "/A/");
  cr_assert_str_eq(path_of("http://h:1/p/q?z", b, sizeof(b)), "/p/q");
  cr_assert_str_eq(path_of("http://h", b, sizeof(b)), "/");
  cr_assert_str_eq(path_of("*", b, sizeof(b)), "*");
  cr_assert_str_eq(path_of("/a%00b", b, sizeof(b)), "HTTP/1.1 400");
  cr_assert_str_eq(path_of("/a%2", b, sizeof(b)), "HTTP/1.1 400");
  cr_assert_str_eq(path_of("/a%zz", b, sizeof(b)), "HTTP/1.1 400");
  cr_assert_str_eq(path_of("host:80", b, sizeof(b)), "HTTP/1.1 400");
}

Test(http_server, pipelined_in_one_write_and_in_order) {
  for (int bytewise = 0; bytewise < 2; bytewise++) {
    fix_t f;
    fix_open(&f);
    eddy_string_transport_t *st = fix_connect(&f);
    const char req[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                       "\r\nabc"
                       "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n";
    if (bytewise)
      eddy_string_transport_feed_bytewise(st, req, strlen(req));
    else
      eddy_string_transport_feed(st, req, strlen(req));
    const char *o = out(st);
    const char *a = strstr(o, "hello"), *b = strstr(o, "\r\n\r\nabc"),
               *c = strstr(o, "404 Not Found");
    cr_assert(a != NULL && b != NULL && c != NULL, "%s", o);
    cr_assert(a < b && b < c, "%s", o);
    cr_assert_str_eq(f.order, "hen");
    if (!bytewise)
      cr_assert_eq(eddy_string_transport_write_count(st), 1);
    fix_close(&f, &st, 1);
  }
}

Test(http_server, answered_later_keeps_order) {
  fix_t f;
  fix_open(&f);
  eddy_string_transport_t *st = fix_connect(&f);
  const char req[] = "GET /later HTTP/1.1\r\nHost: x\r\n\r\n"
                     "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
  eddy_string_transport_feed(st, req, strlen(req));
  cr_assert_eq(f.handled, 1); /* the second waits for the first */
  cr_assert_str_eq(out(st), "");
  spin(f.r);
  cr_assert_str_eq(out(st), "");
  cr_assert_eq(eddy_http_respond(f.held[0], 200, NULL, "first", 5), 0);
  cr_assert_str_eq(out(st), ""); /* flushed on the next iteration */
  spin(f.r);
  const char *o = out(st);
  const char *a = strstr(o, "first"), *b = strstr(o, "hello");
  cr_assert(a != NULL && b != NULL && a < b, "%s", o);
  cr_assert_eq(eddy_string_transport_write_count(st), 1);
  cr_assert_eq(f.handled, 2);
  cr_assert_eq(f.closed_calls, 0);
  fix_close(&f, &st, 1);
}

Test(http_server, head_has_no_body) {
  fix_t f;
  fix_open(&f);
  eddy_string_transport_t *st = fix_connect(&f);
  const char req[] = "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                     "HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n"
                     "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
  eddy_string_transport_feed(st, req, strlen(req));
  const char *o = out(st);
  cr_assert_eq(count(o, "HTTP/1.1 200 OK"), 3, "%s", o);
  cr_assert_eq(count(o, "hello"), 1, "%s", o);
  cr_assert_null(strstr(o, "abcde"));
  cr_assert_null(strstr(o, "\r\n5\r\n"));
  cr_assert_eq(count(o, "Content-Length: 5\r\n"), 2, "%s", o);
  fix_close(&f, &st, 1);
}

Test(http_server, http10_close_and_keep_alive) {
  fix_t f;
  fix_open(&f);
  eddy_string_transport_t *st[2];
  st[0] = fix_connect(&f);
  const char ka[] = "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
  eddy_string_transport_feed(st[0], ka, strlen(ka));
  cr_assert_not_null(strstr(out(st[0]), "\r\nConnection: keep-alive\r\n"));
  cr_assert_not(eddy_string_transport_write_shut(st[0]));
  /* A streamed answer to 1.0 is delimited by the close. */
  const char stream[] = "GET /stream HTTP/1.0\r\n\r\n";
  eddy_string_transport_clear(st[0]);
  eddy_string_transport_feed(st[0], stream, strlen(stream));
  const char *o = out(st[0]);
  cr_assert_not_null(strstr(o, "\r\nConnection: close\r\n\r\nabcde"), "%s", o);
  cr_assert_null(strstr(o, "chunked"));
  cr_assert(eddy_string_transport_write_shut(st[0]));
  st[1] = fix_connect(&f);
  const char plain[] = "GET /hello HTTP/1.0\r\n\r\n";
  eddy_string_transport_feed(st[1], plain, strlen(plain));
  cr_assert_not_null(strstr(out(st[1]), "\r\nConnection: close\r\n"));
  cr_assert(eddy_string_transport_write_shut(st[1]));
  /* The client's EOF then closes it. */
  eddy_string_transport_feed_eof(st[1]);
  spin(f.r);
  eddy_http_server_stats_t stats;
  eddy_http_server_stats(f.s, &stats);
  cr_assert_eq(stats.connections, 1);
  fix_close(&f, st, 2);
}

Test(http_server, streaming_chunked) {
  fix_t f;
  fix_open(&f);
  eddy_string_transport_t *st = fix_connect(&f);
  const char req[] = "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n";
  eddy_string_transport_feed(st, req, strlen(req));
  const char *o = out(st);
  cr_assert_not_null(strstr(o, "\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"),
                     "%s", o);
  cr_assert_not(eddy_string_transport_write_shut(st));
  fix_close(&f, &st, 1);
}

Test(http_server, request_bodies) {
  for (int bytewise = 0; bytewise < 2; bytewise++) {
    fix_t f;
    fix_open(&f);
    eddy_string_transport_t *st = fix_connect(&f);
    const char req[] = "POST /echo HTTP/1.1\r\nHost: x\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n"
                       "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n"
                       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4"
                       "\r\n\r\nwxyz";
    if (bytewise)
      eddy_string_transport_feed_bytewise(st, req, strlen(req));
    else
      eddy_string_transport_feed(st, req, strlen(req));
    const char *o = out(st);
    const char *a = strstr(o, "Content-Length: 5\r\n\r\nabcde");
    const char *b = strstr(o, "Content-Length: 4\r\n\r\nwxyz");
    cr_assert(a != NULL && b != NULL && a < b, "%s", o);
    fix_close(&f, &st, 1);
  }
}

Test(http_server, expect_continue) {
  fix_t f;
  fix_open(&f);
  eddy_string_transport_t *st = fix_connect(&f);
  const char head[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                      "Expect: 100-continue\r\n\r\n";
  eddy_string_transport_feed(st, head, strlen(head));
  cr_assert_str_eq(out(st), "HTTP/1.1 100 Continue\r\n\r\n");
  eddy_string_transport_feed(st, "hi", 2);
  cr_assert_not_null(strstr(out(st), "200 OK"));
  cr_assert_not_null(strstr(out(st), "\r\n\r\nhi"));
  /* Behind a request still being answered, the 100 waits its turn. */
  eddy_string_transport_clear(st);
  const char two[] = "GET /later HTTP/1.1\r\nHost: x\r\n\r\n"
                     "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                     "Expect: 100-continue\r\n\r\n";
  eddy_string_transport_feed(st, two, strlen(two));
  cr_assert_str_eq(out(st), "");
  eddy_http_respond(f.held[0], 204, NULL, NULL, 0);
  spin(f.r);
  const char *o = out(st);
  cr_assert_not_null(strstr(o, "HTTP/1.1 204 No Content\r\n"));
  cr_assert_null(strstr(o, "Content-Length"));
  cr_assert(strcmp(o + strlen(o) - 25, "HTTP/1.1 100 Continue\r\n\r\n") == 0,
            "%s", o);
  eddy_string_transport_feed(st, "ok", 2);
  cr_assert_not_null(strstr(out(st), "\r\n\r\nok"), "%s", out(st));
  /* Another expectation is refused. */
  eddy_string_transport_clear(st);
  const char odd[] = "GET /hello HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n";
  eddy_string_transport_feed(st, odd, strlen(odd));
  cr_assert_not_null(strstr(out(st), "HTTP/1.1 417 Expectation Failed"), "%s",
                     out(st));
  fix_close(&f, &st, 1);
}

/* ---- Errors
 * ------------------------------------------------------------------ */

static void expect_error(const eddy_http_server_config_t *cfg, const char *in,
                         size_t len, const char *status_line) {
  for (int bytewise = 0; bytewise < 2; bytewise++) {
    fix_t f;
    fix_open_cfg(&f, cfg);
    eddy_string_transport_t *st = fix_connect(&f);
    if (bytewise)
      eddy_string_transport_feed_bytewise(st, in, len);
    else
      eddy_string_transport_feed(st, in, len);
    const char *o = out(st);
    cr_assert(strncmp(o, status_line, strlen(status_line)) == 0,
              "want %s, got:\n%s", status_line, o);
    cr_assert_not_null(strstr(o, "\r\nConnection: close\r\n"));
    cr_assert_not_null(strstr(o, "text/plain"));
    cr_assert(eddy_string_transport_write_shut(st));
    cr_assert_eq(f.handled, 0, "bad input reached the handler");
    /* Input after the error is drained and ignored. */
    eddy_string_transport_feed(st, GET_HELLO, strlen(GET_HELLO));
    cr_assert_eq(f.handled, 0);
    eddy_http_server_stats_t stats;
    eddy_http_server_stats(f.s, &stats);
    cr_assert_eq(stats.client_errors, 1);
    fix_close(&f, &st, 1);
  }
}

#define EXPECT_ERROR(cfg, in, status)                                          \
  expect_error((cfg), (in), sizeof(in) - 1, (status))

Test(http_server, client_errors) {
  EXPECT_ERROR(NULL, "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request");
  EXPECT_ERROR(NULL, "GET / HTTP/1.1\nHost: x\r\n\r\n", "HTTP/1.1 400");
  EXPECT_ERROR(NULL, "GET / HTTP/2.0\r\nHost: x\r\n\r\n", "HTTP/1.1 505");
  EXPECT_ERROR(NULL,
               "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
               "HTTP/1.1 501");
  EXPECT_ERROR(NULL,
               "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
               "Transfer-Encoding: chunked\r\n\r\n",
               "HTTP/1.1 400");
  EXPECT_ERROR(NULL,
               "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
               "\r\nzz\r\n",
               "HTTP/1.1 400");
  eddy_http_server_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.limits.max_body = 10;
  EXPECT_ERROR(&cfg, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n",
               "HTTP/1.1 413");
  EXPECT_ERROR(&cfg,
               "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
               "\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n",
               "HTTP/1.1 413");
  EXPECT_ERROR(&cfg,
               "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n"
               "Expect: 100-continue\r\n\r\n",
               "HTTP/1.1 413");
  memset(&cfg, 0, sizeof(cfg));
  cfg.limits.max_line = 32;
  EXPECT_ERROR(&cfg,
               "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n",
               "HTTP/1.1 414");
  memset(&cfg, 0, sizeof(cfg));
  cfg.limits.max_headers = 2;
  EXPECT_ERROR(&cfg, "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\n\r\n",
               "HTTP/1.1 431");
}

Test(http_server, error_waits_for_earlier_answers) {
  fix_t f;
  fix_open(&f);
  eddy_string_transport_t *st = fix_connect(&f);
  const char req[] = "GET /later HTTP/1.1\r\nHost: x\r\n\r\n"
                     "BAD REQUEST\r\n\r\n";
  eddy_string_transport_feed(st, req, strlen(req));
  cr_assert_str_eq(out(st), "");
  eddy_http_respond(f.held[0], 200, NULL, "one", 3);
  spin(f.r);
  const char *o = out(st);
  const char *a = strstr(o, "\r\n\r\none"), *b = strstr(o, "400 Bad Request");
  cr_assert(a != NULL && b != NULL && a < b, "%s", o);
  cr_assert(eddy_string_transport_write_shut(st));
  fix_close(&f, &st, 1);
}

/* ---- Timeouts
 * ----------------------------------------------------------------- */

Test(http_server, idle_timeout) {
  eddy_http_server_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.idle_timeout_ms = 500;
  fix_t f;
  fix_open_cfg(&f, &cfg);
  eddy_string_transport_t *st = fix_connect(&f);
  eddy_reactor_advance(f.r, 400);
  eddy_string_transport_feed(st, GET_HELLO, strlen(GET_HELLO));
  eddy_reactor_advance(f.r, 400); /* idle again since the answer */
  cr_assert_not(eddy_string_transport_lose_called(st));
  eddy_reactor_advance(f.r, 100);
  cr_assert(eddy_string_transport_lose_called(st));
  eddy_http_server_stats_t stats;
  eddy_http_server_stats(f.s, &stats);
  cr_assert_eq(stats.timeouts, 1);
  fix_close(&f, &st, 1);
}

Test(http_server, header_and_body_timeouts) {
  eddy_http_server_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.header_timeout_ms = 1000;
  cfg.body_timeout_ms = 300;
  cfg.idle_timeout_ms = 100000;
  fix_t f;
  fix_open_cfg(&f, &cfg);
  eddy_string_transport_t *st[2];
  st[0] = fix_connect(&f);
  /* A head dribbling in: its clock started at its first byte. */
  eddy_string_transport_feed(st[0], "GET / HTTP/1.1\r\n", 16);
  eddy_reactor_advance(f.r, 600);
  eddy_string_transport_feed(st[0], "Host: x\r\n", 9);
  cr_assert_str_eq(out(st[0]), "");
  eddy_reactor_advance(f.r, 400);
  cr_assert(strncmp(out(st[0]), "HTTP/1.1 408 Request Timeout", 28) == 0, "%s",
            out(st[0]));
  cr_assert(eddy_string_transport_write_shut(st[0]));
  /* A body stalled for body_timeout_ms; progress restarts the clock. */
  st[1] = fix_connect(&f);
  const char head[] =
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n";
  eddy_string_transport_feed(st[1], head, strlen(head));
  eddy_reactor_advance(f.r, 200);
  eddy_string_transport_feed(st[1], "a", 1);
  eddy_reactor_advance(f.r, 200);
  cr_assert_str_eq(out(st[1]), "");
  eddy_reactor_advance(f.r, 100);
  cr_assert(strncmp(out(st[1]), "HTTP/1.1 408", 12) == 0, "%s", out(st[1]));
  eddy_http_server_stats_t stats;
  eddy_http_server_stats(f.s, &stats);
  cr_assert_eq(stats.timeouts, 2);
  /* Lingering ends: the connections are closed. */
  eddy_reactor_advance(f.r, 5000);
  cr_assert(eddy_string_transport_abort_called(st[0]));
  fix_close(&f, st, 2);
}

/* ---- Lifetimes
 * ------------------------------------------------------------------ */

static void answer_late(eddy_timer_t *t) {
  fix_t *f = t->data;
  eddy_http_request_t *req = f->held[0];
  /* Still valid: accessors work, writes fail, finish frees. */
  cr_assert_str_eq(eddy_http_path(req), "/later");
  eddy_addr_t a;
  cr_assert_eq(eddy_http_peer(req, &a), UV_ENOTCONN);
  cr_assert_eq(eddy_http_write(req, "x", 1), UV_EPIPE);
  cr_assert_not(eddy_http_writable(req));
  cr_assert_eq(eddy_http_respond(req, 200, NULL, "late", 4), UV_EPIPE);
  f->held[0] = NULL;
}

Test(http_server, answer_after_client_left) {
  fix_t f;
  fix_open(&f);
  eddy_string_transport_t *st = fix_connect(&f);
  const char req[] = "GET /later HTTP/1.1\r\nHost: x\r\n\r\n"
                     "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
  eddy_string_transport_feed(st, req, strlen(req));
  cr_assert_eq(f.nheld, 1);
  eddy_string_transport_disconnect(st, UV_ECONNRESET);
  cr_assert_eq(f.closed_calls, 1);
  cr_assert_eq(f.close_reason, UV_ECONNRESET);
  eddy_string_transport_free(st);
  eddy_timer_t t;
  eddy_timer_init(f.r, &t);
  t.data = &f;
  eddy_timer_start(&t, 50, answer_late);
  /* The server waits for the request before it is gone. */
  eddy_http_server_close(f.s, 0, on_stopped, &f);
  spin(f.r);
  cr_assert_eq(f.stopped, 0);
  eddy_reactor_advance(f.r, 50);
  spin(f.r);
  cr_assert_eq(f.stopped, 1);
  cr_assert_eq(f.handled, 1); /* the queued one never ran */
  test_close_reactor(f.r);
}

/* ---- Response API
 * ---------------------------------------------------------------- */

static int api_rc[16];

static void api_handler(eddy_http_request_t *req, void *arg) {
  (void)arg;
  int i = 0;
  api_rc[i++] = eddy_http_set_status(req, 99, NULL);
  api_rc[i++] = eddy_http_set_status(req, 100, NULL);
  api_rc[i++] = eddy_http_set_status(req, 1000, NULL);
  api_rc[i++] = eddy_http_set_status(req, 299, "Fine\r\n");
  api_rc[i++] = eddy_http_set_status(req, 299, "Fine Then");
  api_rc[i++] = eddy_http_add_header(req, "Bad Name", "v");
  api_rc[i++] = eddy_http_add_header(req, "X-A", "v\r\nInjected: 1");
  api_rc[i++] = eddy_http_add_header(req, "Set-Cookie", "a=1");
  api_rc[i++] = eddy_http_add_header(req, "Set-Cookie", "b=2");
  api_rc[i++] = eddy_http_add_header(req, "X-One", "1");
  api_rc[i++] = eddy_http_set_header(req, "x-one", "2");
  api_rc[i++] = eddy_http_add_header(req, "Transfer-Encoding", "chunked");
  api_rc[i++] = eddy_http_set_header(req, "Content-Length", "4");
  api_rc[i++] = eddy_http_write(req, "abcde", 5); /* over the length */
  api_rc[i++] = eddy_http_write(req, "abc", 3);
  api_rc[i++] = eddy_http_add_header(req, "X-Late", "1");
  eddy_http_finish(req); /* one byte short: the connection closes */
}

Test(http_server, response_api) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_http_server_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.server_name = "";
  eddy_http_server_t *s;
  cr_assert_eq(eddy_http_server_new(r, &cfg, api_handler, NULL, &s), 0);
  eddy_factory_t *fa = eddy_http_server_factory(s);
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  eddy_string_transport_connect(st, fa->build_protocol(fa, NULL));
  eddy_string_transport_feed(st, GET_HELLO, strlen(GET_HELLO));
  int want[16] = {UV_EINVAL, UV_EINVAL, UV_EINVAL, UV_EINVAL,  0, UV_EINVAL,
                  UV_EINVAL, 0,         0,         0,          0, UV_EINVAL,
                  0,         UV_EINVAL, 0,         UV_EALREADY};
  for (int i = 0; i < 16; i++)
    cr_assert_eq(api_rc[i], want[i], "call %d: %d", i, api_rc[i]);
  const char *o = out(st);
  cr_assert(strncmp(o, "HTTP/1.1 299 Fine Then\r\n", 24) == 0, "%s", o);
  cr_assert_null(strstr(o, "Server:"));
  cr_assert_not_null(strstr(o, "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n"));
  cr_assert_not_null(strstr(o, "x-one: 2\r\n"));
  cr_assert_null(strstr(o, "X-One: 1"));
  cr_assert_not_null(strstr(o, "Content-Length: 4\r\n"));
  cr_assert(strcmp(o + strlen(o) - 7, "\r\n\r\nabc") == 0, "%s", o);
  cr_assert(eddy_string_transport_write_shut(st));
  eddy_http_server_close(s, 0, NULL, NULL);
  spin(r);
  eddy_string_transport_free(st);
  test_close_reactor(r);
}

Test(http_server, date_format) {
  char buf[EDDY_HTTP_DATE_SIZE];
  cr_assert_eq(eddy_http_date_format(784111777, buf, sizeof(buf)), 29);
  cr_assert_str_eq(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
  cr_assert_eq(eddy_http_date_format(0, buf, sizeof(buf)), 29);
  cr_assert_str_eq(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
  cr_assert_eq(eddy_http_date_format(0, buf, 29), UV_EINVAL);
  cr_assert_str_eq(eddy_http_status_text(404), "Not Found");
  cr_assert_str_eq(eddy_http_status_text(799), "Unknown");
}

/* ---- More of the request and response API
 * ------------------------------------- */

static void free_bytes(void *data, void *arg) {
  (void)arg;
  free(data);
}

static void misc_handler(eddy_http_request_t *req, void *arg) {
  (void)arg;
  const char *path = eddy_http_path(req);
  if (strcmp(path, "/params") == 0) {
    cr_assert_eq(eddy_http_set_param(req, "id", "1"), 0);
    cr_assert_eq(eddy_http_set_param(req, "name", "x"), 0);
    cr_assert_eq(eddy_http_set_param(req, "id", "2"), 0);
    cr_assert_eq(eddy_http_set_param(req, NULL, "2"), UV_EINVAL);
    cr_assert_str_eq(eddy_http_param(req, "id"), "2");
    cr_assert_str_eq(eddy_http_param(req, "name"), "x");
    cr_assert_null(eddy_http_param(req, "none"));
    int d = 7;
    eddy_http_set_data(req, &d);
    cr_assert_eq(eddy_http_data(req), &d);
    const char *n, *v;
    cr_assert_eq(eddy_http_header_count(req), 2);
    cr_assert_eq(eddy_http_header_at(req, 1, &n, &v), 0);
    cr_assert_str_eq(n, "x-Two");
    cr_assert_str_eq(v, "2");
    cr_assert_eq(eddy_http_header_at(req, 2, &n, &v), UV_ENOENT);
    cr_assert_str_eq(eddy_http_header(req, "X-TWO"), "2");
    cr_assert_null(eddy_http_header(req, "x-tw"));
    cr_assert_not_null(eddy_http_reactor(req));
    cr_assert_not_null(eddy_http_request_server(req));
    eddy_addr_t a;
    cr_assert_eq(eddy_http_peer(req, &a), 0);
    cr_assert_eq(eddy_addr_port(&a), 49152);
    eddy_http_respond(req, 200, NULL, "p", 1);
  } else if (strcmp(path, "/bad-status") == 0) {
    cr_assert_eq(eddy_http_respond(req, 42, NULL, "x", 1), UV_EINVAL);
  } else if (strcmp(path, "/bad-type") == 0) {
    cr_assert_eq(eddy_http_respond(req, 200, "a\r\nb", "x", 1), UV_EINVAL);
  } else if (strcmp(path, "/detail") == 0) {
    cr_assert_eq(eddy_http_respond_error(req, 503, "try later"), 0);
  } else if (strcmp(path, "/big") == 0) {
    size_t n = 200000;
    char *p = malloc(n);
    memset(p, 'q', n);
    eddy_slice_t *s = eddy_slice_wrap(p, n, free_bytes, NULL);
    cr_assert_eq(eddy_http_respond_slice(req, 200, "application/x", s), 0);
    eddy_slice_unref(s);
  } else if (strcmp(path, "*") == 0) {
    eddy_http_set_header(req, "Allow", "GET, HEAD");
    eddy_http_respond(req, 204, NULL, "dropped", 7);
  } else if (strcmp(path, "/twice") == 0) {
    eddy_http_write(req, "a", 1);
    /* A one-shot answer after streaming began ends the stream. */
    cr_assert_eq(eddy_http_respond(req, 200, NULL, "b", 1), UV_EALREADY);
  } else {
    eddy_http_respond_error(req, 404, NULL);
  }
}

static eddy_string_transport_t *
misc_exchange(eddy_reactor_t *r, eddy_http_server_t **s, const char *in) {
  cr_assert_eq(eddy_http_server_new(r, NULL, misc_handler, NULL, s), 0);
  eddy_factory_t *fa = eddy_http_server_factory(*s);
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  eddy_string_transport_connect(st, fa->build_protocol(fa, NULL));
  eddy_string_transport_feed(st, in, strlen(in));
  return st;
}

static void misc_close(eddy_reactor_t *r, eddy_http_server_t *s,
                       eddy_string_transport_t *st) {
  eddy_http_server_close(s, 0, NULL, NULL);
  spin(r);
  eddy_string_transport_free(st);
  test_close_reactor(r);
}

Test(http_server, params_headers_peer) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_http_server_t *s;
  eddy_string_transport_t *st = misc_exchange(
      r, &s, "GET /params HTTP/1.1\r\nHost: x\r\nx-Two: 2\r\n\r\n");
  cr_assert(strcmp(out(st) + strlen(out(st)) - 5, "\r\n\r\np") == 0);
  misc_close(r, s, st);
}

Test(http_server, one_shot_fallbacks) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_http_server_t *s;
  eddy_string_transport_t *st =
      misc_exchange(r, &s,
                    "GET /bad-status HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /bad-type HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /detail HTTP/1.1\r\nHost: x\r\n\r\n"
                    "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /twice HTTP/1.1\r\nHost: x\r\n\r\n");
  const char *o = out(st);
  cr_assert_eq(count(o, "HTTP/1.1 500 Internal Server Error"), 2, "%s", o);
  cr_assert_not_null(strstr(o, "HTTP/1.1 503 Service Unavailable\r\n"));
  cr_assert_not_null(strstr(o, "\r\n\r\nService Unavailable\ntry later\n"));
  cr_assert_not_null(strstr(o, "HTTP/1.1 204 No Content\r\n"));
  cr_assert_not_null(strstr(o, "Allow: GET, HEAD\r\n"));
  cr_assert_null(strstr(o, "dropped"));
  cr_assert_not_null(strstr(o, "1\r\na\r\n0\r\n\r\n"), "%s", o);
  cr_assert_not(eddy_string_transport_write_shut(st));
  misc_close(r, s, st);
}

Test(http_server, big_slice) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_http_server_t *s;
  eddy_string_transport_t *st =
      misc_exchange(r, &s,
                    "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /none HTTP/1.1\r\nHost: x\r\n\r\n");
  size_t n;
  const char *o = eddy_string_transport_value(st, &n);
  cr_assert_not_null(strstr(o, "Content-Length: 200000\r\n"));
  const char *body = strstr(o, "\r\n\r\n") + 4;
  cr_assert_eq(body[0], 'q');
  cr_assert_eq(body[199999], 'q');
  cr_assert(strncmp(body + 200000, "HTTP/1.1 404", 12) == 0);
  misc_close(r, s, st);
}

/* Unconsumed input is bounded: a client that keeps sending while requests
 * wait is paused, and one that ignores that is cut off. */
Test(http_server, input_is_bounded) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_http_server_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.limits.max_head = 1024;
  cfg.max_pipeline = 1;
  fix_t f;
  memset(&f, 0, sizeof(f));
  f.r = r;
  cr_assert_eq(eddy_http_server_new(r, &cfg, handler, &f, &f.s), 0);
  eddy_string_transport_t *st = fix_connect(&f);
  const char first[] = "GET /later HTTP/1.1\r\nHost: x\r\n\r\n";
  eddy_string_transport_feed(st, first, strlen(first));
  char chunk[4096];
  for (size_t i = 0; i + 32 <= sizeof(chunk); i += 32)
    memcpy(chunk + i, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32);
  eddy_string_transport_feed(st, chunk, sizeof(chunk));
  cr_assert(eddy_string_transport_reading_paused(st));
  for (int i = 0; i < 100 && !eddy_string_transport_abort_called(st); i++)
    eddy_string_transport_feed(st, chunk, sizeof(chunk));
  cr_assert(eddy_string_transport_abort_called(st));
  spin(r);
  cr_assert_eq(f.closed_calls, 1);
  eddy_http_finish(f.held[0]);
  fix_close(&f, &st, 1);
}

Test(http_server, idle_with_unread_answers_aborts) {
  eddy_http_server_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.idle_timeout_ms = 500;
  fix_t f;
  fix_open_cfg(&f, &cfg);
  eddy_string_transport_t *st = fix_connect(&f);
  eddy_string_transport_feed(st, GET_HELLO, strlen(GET_HELLO));
  eddy_string_transport_set_pending(st, 100); /* the client reads nothing */
  eddy_reactor_advance(f.r, 500);
  cr_assert(eddy_string_transport_abort_called(st));
  fix_close(&f, &st, 1);
}

Test(http_server, config_and_close_request) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_http_server_t *s = NULL;
  eddy_http_server_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  cr_assert_eq(eddy_http_server_new(r, NULL, NULL, NULL, &s), UV_EINVAL);
  cfg.server_name = "bad\r\nname";
  cr_assert_eq(eddy_http_server_new(r, &cfg, handler, NULL, &s), UV_EINVAL);
  cr_assert_null(s);
  cfg.server_name = "test-server/2";
  fix_t f;
  memset(&f, 0, sizeof(f));
  f.r = r;
  cr_assert_eq(eddy_http_server_new(r, &cfg, handler, &f, &f.s), 0);
  cr_assert_eq(eddy_http_server_listen(f.s, "tcp:nope", NULL), EDDY_EPARSE);
  eddy_string_transport_t *st = fix_connect(&f);
  /* Requests after "Connection: close" are not answered. */
  const char in[] =
      "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
      "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
  eddy_string_transport_feed(st, in, strlen(in));
  const char *o = out(st);
  cr_assert_eq(count(o, "HTTP/1.1 200"), 1, "%s", o);
  cr_assert_not_null(strstr(o, "\r\nServer: test-server/2\r\n"));
  cr_assert_not_null(strstr(o, "\r\nConnection: close\r\n"));
  cr_assert_eq(f.handled, 1);
  cr_assert(eddy_string_transport_write_shut(st));
  fix_close(&f, &st, 1);
}
