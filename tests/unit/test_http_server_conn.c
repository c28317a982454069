/* test_http_server_conn.c — the HTTP server's connection management: the
 * protocol switch (with a toy protocol), the pipeline limit, backpressure,
 * slices, the connection limit, the graceful stop, half-close, the access
 * log, and a few exchanges over real TCP. */
#include "support.h"

#include <arpa/inet.h>
#include <eddy/http_server.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void spin(eddy_reactor_t *r) {
  for (int i = 0; i < 20; i++)
    eddy_reactor_run_once(r, 0);
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

static void counted(void *arg) {
  (*(int *)arg)++;
}

static const char GET_HELLO[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";

/* A server (cfg may be NULL) with one connection on a string transport. */
static eddy_string_transport_t *serve_one(eddy_reactor_t *r,
                                          const eddy_http_server_config_t *cfg,
                                          eddy_http_handler_cb handler,
                                          void *arg, eddy_http_server_t **s) {
  cr_assert_eq(eddy_http_server_new(r, cfg, handler, arg, s), 0);
  eddy_factory_t *fa = eddy_http_server_factory(*s);
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  eddy_string_transport_connect(st, fa->build_protocol(fa, NULL));
  return st;
}

/* ---- A toy protocol to switch to ------------------------------------------
 */

typedef struct toy_s {
  eddy_protocol_t base;
  eddy_buf_t in;
  int made, lost, destroyed;
  int *destroyed_flag;
} toy_t;

static void toy_made(eddy_protocol_t *p) {
  toy_t *t = (toy_t *)p;
  t->made++;
  eddy_transport_write_str(p->transport, "[toy]");
}

static void toy_data(eddy_protocol_t *p, const char *d, size_t n) {
  toy_t *t = (toy_t *)p;
  cr_assert_eq(t->made, 1, "data before connection_made");
  eddy_buf_append(&t->in, d, n);
  /* Echo upper-cased, to show it owns the transport. */
  for (size_t i = 0; i < n; i++) {
    char ch = d[i] >= 'a' && d[i] <= 'z' ? (char)(d[i] - 32) : d[i];
    eddy_transport_write(p->transport, &ch, 1);
  }
}

static void toy_lost(eddy_protocol_t *p, int reason) {
  (void)reason;
  ((toy_t *)p)->lost++;
}

static void toy_destroy(eddy_protocol_t *p) {
  toy_t *t = (toy_t *)p;
  eddy_buf_free(&t->in);
  *t->destroyed_flag = 1;
  free(t);
}

static const eddy_protocol_ops_t toy_ops = {
    .connection_made = toy_made,
    .data_received = toy_data,
    .connection_lost = toy_lost,
    .destroy = toy_destroy,
};

typedef struct {
  eddy_http_request_t *held;
  int toy_destroyed;
  toy_t *toy;
  int switch_rc;
  int handled;
} up_t;

static void up_switch(eddy_http_request_t *req, up_t *u) {
  toy_t *t = calloc(1, sizeof(*t));
  eddy_protocol_init(&t->base, &toy_ops);
  eddy_buf_init(&t->in, 1 << 20);
  t->destroyed_flag = &u->toy_destroyed;
  u->toy = t;
  eddy_http_set_header(req, "Upgrade", "toy");
  u->switch_rc = eddy_http_switch_protocol(req, &t->base);
}

static void up_handler(eddy_http_request_t *req, void *arg) {
  up_t *u = arg;
  u->handled++;
  const char *path = eddy_http_path(req);
  if (strcmp(path, "/up") == 0 && eddy_http_wants_upgrade(req)) {
    /* Not an upgrade target: refuse before trying. */
    cr_assert_eq(eddy_http_switch_protocol(req, NULL), UV_EINVAL);
    up_switch(req, u);
  } else if (strcmp(path, "/uplater") == 0) {
    u->held = req;
  } else if (strcmp(path, "/noup") == 0) {
    cr_assert(eddy_http_wants_upgrade(req));
    eddy_http_respond(req, 200, NULL, "plain", 5);
  } else {
    /* Not asked for: refused. */
    toy_t dummy;
    eddy_protocol_init(&dummy.base, &toy_ops);
    cr_assert_not(eddy_http_wants_upgrade(req));
    cr_assert_eq(eddy_http_switch_protocol(req, &dummy.base), UV_EINVAL);
    eddy_http_respond(req, 200, NULL, "hello", 5);
  }
}

static const char UP[] = "GET /up HTTP/1.1\r\nHost: x\r\nUpgrade: toy\r\n"
                         "Connection: Upgrade\r\n\r\n";

static void switch_case(int bytewise, int later) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  up_t u = {0};
  eddy_http_server_t *s;
  eddy_string_transport_t *st = serve_one(r, NULL, up_handler, &u, &s);
  char in[512];
  /* A plain request first, then the upgrade, then bytes for the toy in the
   * same read. */
  snprintf(in, sizeof(in), "%s%sabc", GET_HELLO,
           later ? "GET /uplater HTTP/1.1\r\nHost: x\r\nUpgrade: toy\r\n"
                   "Connection: Upgrade\r\n\r\n"
                 : UP);
  if (bytewise)
    eddy_string_transport_feed_bytewise(st, in, strlen(in));
  else
    eddy_string_transport_feed(st, in, strlen(in));
  if (later) {
    cr_assert_not_null(u.held);
    cr_assert_null(u.toy);
    spin(r);
    up_switch(u.held, &u);
  }
  cr_assert_eq(u.switch_rc, 0);
  cr_assert_not_null(u.toy);
  cr_assert_eq(u.toy->made, 1);
  cr_assert_eq(u.toy->in.len, 3, "%zu", u.toy->in.len);
  cr_assert(memcmp(u.toy->in.data, "abc", 3) == 0);
  const char *o = out(st);
  const char *a = strstr(o, "hello"),
             *b = strstr(o, "HTTP/1.1 101 Switching Protocols\r\n"),
             *c = strstr(o, "\r\n\r\n[toy]ABC");
  cr_assert(a != NULL && b != NULL && c != NULL && a < b && b < c, "%s", o);
  cr_assert_not_null(strstr(o, "Upgrade: toy\r\n"));
  cr_assert_not_null(strstr(o, "Connection: upgrade\r\n"));
  cr_assert_null(strstr(o, "Content-Length: 0"));
  /* From now on every byte goes to the toy. */
  eddy_string_transport_feed(st, GET_HELLO, 5);
  cr_assert_eq(u.toy->in.len, 8);
  cr_assert_eq(u.handled, 2);
  eddy_http_server_stats_t stats;
  eddy_http_server_stats(s, &stats);
  cr_assert_eq(stats.connections, 1); /* still counted */
  eddy_string_transport_disconnect(st, 0);
  cr_assert_eq(u.toy_destroyed, 1);
  eddy_http_server_stats(s, &stats);
  cr_assert_eq(stats.connections, 0);
  eddy_string_transport_free(st);
  eddy_http_server_close(s, 0, NULL, NULL);
  test_close_reactor(r);
}

Test(http_server_conn, switch_protocol_at_once) {
  switch_case(0, 0);
  switch_case(1, 0);
}

Test(http_server_conn, switch_protocol_later) {
  switch_case(0, 1);
  switch_case(1, 1);
}

Test(http_server_conn, upgrade_answered_as_http) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  up_t u = {0};
  eddy_http_server_t *s;
  eddy_string_transport_t *st = serve_one(r, NULL, up_handler, &u, &s);
  const char in[] = "GET /noup HTTP/1.1\r\nHost: x\r\nUpgrade: toy\r\n"
                    "Connection: Upgrade\r\n\r\n"
                    "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
  eddy_string_transport_feed(st, in, strlen(in));
  cr_assert_eq(count(out(st), "200 OK"), 2, "%s", out(st));
  cr_assert_eq(u.handled, 2);
  eddy_http_server_close(s, 0, NULL, NULL);
  spin(r);
  eddy_string_transport_free(st);
  test_close_reactor(r);
}

/* A switch when the server is stopped: the grace period aborts it. */
Test(http_server_conn, stop_aborts_switched) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  up_t u = {0};
  eddy_http_server_t *s;
  eddy_string_transport_t *st = serve_one(r, NULL, up_handler, &u, &s);
  eddy_string_transport_feed(st, UP, strlen(UP));
  cr_assert_not_null(u.toy);
  int stopped = 0;
  eddy_http_server_close(s, 1000, counted, &stopped);
  spin(r);
  cr_assert_not(eddy_string_transport_abort_called(st));
  eddy_reactor_advance(r, 1000);
  cr_assert(eddy_string_transport_abort_called(st));
  spin(r);
  cr_assert_eq(u.toy_destroyed, 1);
  cr_assert_eq(stopped, 1);
  eddy_string_transport_free(st);
  test_close_reactor(r);
}

/* ---- Pipeline limit, backpressure, slices
 * -------------------------------------- */

typedef struct {
  eddy_http_request_t *held[64];
  int n;
  int writable_calls;
  int lost; /* on_close calls */
} hold_t;

static void hold_handler(eddy_http_request_t *req, void *arg) {
  hold_t *h = arg;
  if (strcmp(eddy_http_path(req), "/hold") == 0)
    h->held[h->n++] = req;
  else
    eddy_http_respond(req, 200, NULL, "x", 1);
}

Test(http_server_conn, pipeline_limit_pauses_reading) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  hold_t h = {0};
  eddy_http_server_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.max_pipeline = 2;
  eddy_http_server_t *s;
  eddy_string_transport_t *st = serve_one(r, &cfg, hold_handler, &h, &s);
  char in[2048] = "";
  strcat(in, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
  for (int i = 0; i < 5; i++)
    strcat(in, GET_HELLO);
  eddy_string_transport_feed(st, in, strlen(in));
  cr_assert_eq(h.n, 1);
  cr_assert(eddy_string_transport_reading_paused(st));
  cr_assert_str_eq(out(st), "");
  eddy_http_respond(h.held[0], 200, NULL, "held", 4);
  spin(r);
  cr_assert_not(eddy_string_transport_reading_paused(st));
  cr_assert_eq(count(out(st), "200 OK"), 6, "%s", out(st));
  eddy_http_server_close(s, 0, NULL, NULL);
  spin(r);
  eddy_string_transport_free(st);
  test_close_reactor(r);
}

static void on_writable(eddy_http_request_t *req, void *arg) {
  hold_t *h = arg;
  h->writable_calls++;
  (void)req;
}

Test(http_server_conn, backpressure_and_slices) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  hold_t h = {0};
  eddy_http_server_t *s;
  eddy_string_transport_t *st = serve_one(r, NULL, hold_handler, &h, &s);
  const char in[] = "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n";
  eddy_string_transport_feed(st, in, strlen(in));
  eddy_http_request_t *req = h.held[0];
  cr_assert(eddy_http_writable(req));
  eddy_http_on_writable(req, on_writable, &h);
  cr_assert_eq(eddy_http_set_header(req, "Content-Length", "100010"), 0);
  char *big = malloc(100000);
  memset(big, 'z', 100000);
  eddy_slice_t *sl = eddy_slice_new(big, 100000);
  free(big);
  cr_assert_eq(eddy_http_write_slice(req, sl), 0);
  eddy_slice_unref(sl);
  cr_assert_not(eddy_http_head_sent(req) == 0);
  eddy_string_transport_set_pending(st, 1u << 20);
  cr_assert_not(eddy_http_writable(req));
  spin(r);
  /* A client that does not read: no more requests are read either. */
  cr_assert(eddy_string_transport_reading_paused(st));
  eddy_string_transport_set_pending(st, 0);
  spin(r);
  cr_assert_eq(h.writable_calls, 1);
  cr_assert(eddy_http_writable(req));
  cr_assert_not(eddy_string_transport_reading_paused(st));
  eddy_slice_t *tail = eddy_slice_new("0123456789", 10);
  cr_assert_eq(eddy_http_write_slice(req, tail), 0);
  cr_assert_eq(eddy_http_write(req, "!", 1), UV_EINVAL); /* over the length */
  eddy_slice_unref(tail);
  cr_assert_eq(eddy_http_finish(req), 0);
  spin(r);
  size_t n;
  const char *o = eddy_string_transport_value(st, &n);
  const char *body = strstr(o, "\r\n\r\n");
  cr_assert_not_null(body);
  cr_assert_eq(n - (size_t)(body + 4 - o), 100010);
  cr_assert(memcmp(o + n - 11, "z0123456789", 11) == 0);
  cr_assert_not(eddy_string_transport_write_shut(st));
  eddy_http_server_close(s, 0, NULL, NULL);
  spin(r);
  eddy_string_transport_free(st);
  test_close_reactor(r);
}

/* A streamer told "not writable" because the transport's queue plus the
 * output the server gathered reach high water must still hear when it
 * drains — also when the transport then takes everything at once and so
 * never pauses (no resume_writing will come). */
Test(http_server_conn, writable_owed_without_transport_pause) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  hold_t h = {0};
  eddy_http_server_t *s;
  eddy_string_transport_t *st = serve_one(r, NULL, hold_handler, &h, &s);
  const char in[] = "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n";
  eddy_string_transport_feed(st, in, strlen(in));
  eddy_http_request_t *req = h.held[0];
  eddy_http_on_writable(req, on_writable, &h);
  eddy_string_transport_set_pending(st, 40u * 1024u); /* below high water */
  char piece[1024];
  memset(piece, 'w', sizeof(piece));
  int writes = 0;
  while (eddy_http_writable(req) && writes < 1000) {
    cr_assert_eq(eddy_http_write(req, piece, sizeof(piece)), 0);
    writes++;
  }
  cr_assert_lt(writes, 1000, "never became unwritable");
  cr_assert_eq(h.writable_calls, 0);
  eddy_string_transport_set_pending(st, 0); /* the peer read it all */
  spin(r);
  cr_assert_eq(h.writable_calls, 1);
  cr_assert(eddy_http_writable(req));
  cr_assert_eq(eddy_http_finish(req), 0);
  spin(r);
  cr_assert_eq(count(out(st), "0\r\n\r\n"), 1);
  eddy_http_server_close(s, 0, NULL, NULL);
  spin(r);
  eddy_string_transport_free(st);
  test_close_reactor(r);
}

/* A response given up half-way resets the connection: no last chunk. */
Test(http_server_conn, abort_mid_stream) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  hold_t h = {0};
  eddy_http_server_t *s;
  eddy_string_transport_t *st = serve_one(r, NULL, hold_handler, &h, &s);
  const char in[] = "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n";
  eddy_string_transport_feed(st, in, strlen(in));
  eddy_http_request_t *req = h.held[0];
  cr_assert_eq(eddy_http_write(req, "part", 4), 0);
  spin(r);
  cr_assert_eq(count(out(st), "4\r\npart\r\n"), 1, "%s", out(st));
  eddy_http_abort(req);
  spin(r);
  cr_assert(eddy_string_transport_abort_called(st));
  cr_assert_eq(count(out(st), "0\r\n\r\n"), 0);
  eddy_http_server_close(s, 0, NULL, NULL);
  spin(r);
  eddy_string_transport_free(st);
  test_close_reactor(r);
}

/* ---- Connection limit, stop, half-close
 * ------------------------------------------ */

Test(http_server_conn, max_connections) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  hold_t h = {0};
  eddy_http_server_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.max_connections = 2;
  eddy_http_server_t *s;
  cr_assert_eq(eddy_http_server_new(r, &cfg, hold_handler, &h, &s), 0);
  eddy_factory_t *fa = eddy_http_server_factory(s);
  eddy_protocol_t *p1 = fa->build_protocol(fa, NULL);
  eddy_protocol_t *p2 = fa->build_protocol(fa, NULL);
  cr_assert_not_null(p1);
  cr_assert_not_null(p2);
  cr_assert_null(fa->build_protocol(fa, NULL));
  eddy_http_server_stats_t stats;
  eddy_http_server_stats(s, &stats);
  cr_assert_eq(stats.connections, 2);
  cr_assert_eq(stats.connections_refused, 1);
  eddy_string_transport_t *st[2] = {eddy_string_transport_new(r),
                                    eddy_string_transport_new(r)};
  eddy_string_transport_connect(st[0], p1);
  eddy_string_transport_connect(st[1], p2);
  eddy_string_transport_disconnect(st[0], 0);
  cr_assert_not_null(p2);
  eddy_protocol_t *p3 = fa->build_protocol(fa, NULL);
  cr_assert_not_null(p3);
  eddy_string_transport_t *st3 = eddy_string_transport_new(r);
  eddy_string_transport_connect(st3, p3);
  int stopped = 0;
  eddy_http_server_close(s, 0, counted, &stopped);
  spin(r);
  cr_assert_eq(stopped, 1);
  eddy_string_transport_free(st[0]);
  eddy_string_transport_free(st[1]);
  eddy_string_transport_free(st3);
  test_close_reactor(r);
}

Test(http_server_conn, graceful_stop) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  hold_t h = {0};
  eddy_http_server_t *s;
  cr_assert_eq(eddy_http_server_new(r, NULL, hold_handler, &h, &s), 0);
  eddy_factory_t *fa = eddy_http_server_factory(s);
  eddy_string_transport_t *idle = eddy_string_transport_new(r);
  eddy_string_transport_connect(idle, fa->build_protocol(fa, NULL));
  eddy_string_transport_t *busy = eddy_string_transport_new(r);
  eddy_string_transport_connect(busy, fa->build_protocol(fa, NULL));
  const char in[] = "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
  eddy_string_transport_feed(busy, in, strlen(in));
  int stopped = 0;
  eddy_http_server_close(s, 5000, counted, &stopped);
  eddy_http_server_close(s, 5000, counted, &stopped); /* no effect */
  cr_assert_null(fa->build_protocol(fa, NULL));
  spin(r);
  cr_assert(eddy_string_transport_write_shut(idle));
  eddy_string_transport_feed_eof(idle);
  cr_assert_not(eddy_string_transport_write_shut(busy));
  eddy_http_respond(h.held[0], 200, NULL, "last", 4);
  spin(r);
  const char *o = out(busy);
  cr_assert_eq(count(o, "HTTP/1.1 "), 1, "%s", o); /* the queued one dropped */
  cr_assert_not_null(strstr(o, "Connection: close\r\n"));
  cr_assert(eddy_string_transport_write_shut(busy));
  eddy_string_transport_feed_eof(busy);
  spin(r);
  cr_assert_eq(stopped, 1);
  eddy_string_transport_free(idle);
  eddy_string_transport_free(busy);
  test_close_reactor(r);
}

Test(http_server_conn, half_close_still_answered) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  hold_t h = {0};
  eddy_http_server_t *s;
  eddy_string_transport_t *st = serve_one(r, NULL, hold_handler, &h, &s);
  const char in[] = "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /par";
  eddy_string_transport_feed(st, in, strlen(in));
  eddy_string_transport_feed_eof(st);
  spin(r);
  cr_assert_not(eddy_string_transport_lose_called(st));
  eddy_http_respond(h.held[0], 200, NULL, "one", 3);
  spin(r);
  cr_assert_eq(count(out(st), "200 OK"), 2, "%s", out(st));
  cr_assert(eddy_string_transport_write_shut(st));
  spin(r); /* EOF both ways: closed */
  int stopped = 0;
  eddy_http_server_close(s, 0, counted, &stopped);
  spin(r);
  cr_assert_eq(stopped, 1);
  eddy_string_transport_free(st);
  test_close_reactor(r);
}

static void held_lost(eddy_http_request_t *req, int reason, void *arg) {
  (void)reason;
  int *lost = arg;
  (*lost)++;
  eddy_http_finish(req);
}

static void long_poll_handler(eddy_http_request_t *req, void *arg) {
  hold_t *h = arg;
  h->held[h->n++] = req;
  eddy_http_on_close(req, held_lost, &h->lost);
  eddy_http_close_on_eof(req);
}

Test(http_server_conn, close_on_eof_ends_a_held_response) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  hold_t h = {0};
  eddy_http_server_t *s;
  eddy_string_transport_t *st = serve_one(r, NULL, long_poll_handler, &h, &s);
  const char in[] = "POST /poll HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
  eddy_string_transport_feed(st, in, strlen(in));
  cr_assert_eq(h.n, 1);
  eddy_string_transport_feed_eof(st);
  spin(r);
  cr_assert(eddy_string_transport_abort_called(st),
            "a client that gave up is not owed the answer");
  cr_assert_eq(h.lost, 1, "on_close tells the handler at once");
  int stopped = 0;
  eddy_http_server_close(s, 0, counted, &stopped);
  spin(r);
  cr_assert_eq(stopped, 1);
  eddy_string_transport_free(st);
  test_close_reactor(r);
}

/* ---- Access log
 * --------------------------------------------------------------------- */

static char logged[1024];

static void sink(eddy_log_level_t level, const char *line, void *arg) {
  (void)level;
  (void)arg;
  if (strstr(line, "event=http.access") != NULL)
    snprintf(logged, sizeof(logged), "%s", line);
}

Test(http_server_conn, access_log) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  hold_t h = {0};
  eddy_http_server_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.access_log = 1;
  eddy_http_server_t *s;
  eddy_string_transport_t *st = serve_one(r, &cfg, hold_handler, &h, &s);
  eddy_log_to_sink(sink, NULL);
  const char in[] = "GET /hello?q=\"x HTTP/1.1\r\nHost: x\r\n"
                    "User-Agent: test agent/1.0\r\n\r\n";
  eddy_string_transport_feed(st, in, strlen(in));
  eddy_log_to_sink(NULL, NULL);
  cr_assert_not_null(strstr(logged, "peer=127.0.0.1:49152 method=GET "
                                    "target=\"/hello?q=\\\"x\" status=200 "
                                    "bytes=1 us="),
                     "%s", logged);
  cr_assert_not_null(strstr(logged, "ua=\"test agent/1.0\""), "%s", logged);
  eddy_http_server_close(s, 0, NULL, NULL);
  spin(r);
  eddy_string_transport_free(st);
  test_close_reactor(r);
}

/* ---- Real TCP
 * ------------------------------------------------------------------------- */

static void tcp_handler(eddy_http_request_t *req, void *arg) {
  (void)arg;
  size_t len;
  const char *body = eddy_http_body(req, &len);
  if (len > 0)
    eddy_http_respond(req, 200, "text/plain", body, len);
  else
    eddy_http_respond(req, 200, "text/plain", "tcp", 3);
}

static int tcp_client(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  cr_assert_geq(fd, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  return fd;
}

/* Runs the loop until `want` bytes came back (or EOF / 10 s). */
static size_t tcp_read(eddy_reactor_t *r, int fd, char *buf, size_t size,
                       size_t want, int *eof) {
  size_t got = 0;
  uint64_t end = uv_hrtime() + 10000000000ull;
  *eof = 0;
  while (got < want && uv_hrtime() < end) {
    eddy_reactor_run_once(r, 0);
    ssize_t n = recv(fd, buf + got, size - got - 1, MSG_DONTWAIT);
    if (n == 0) {
      *eof = 1;
      break;
    }
    if (n > 0)
      got += (size_t)n;
    else
      usleep(1000);
  }
  buf[got] = '\0';
  return got;
}

Test(http_server_conn, real_tcp) {
  eddy_reactor_t *r = test_reactor(0);
  eddy_http_server_t *s;
  cr_assert_eq(eddy_http_server_new(r, NULL, tcp_handler, NULL, &s), 0);
  eddy_listener_t *l;
  cr_assert_eq(eddy_http_server_listen(s, "tcp:0:interface=127.0.0.1", &l), 0);
  int port = eddy_listener_port(l);
  cr_assert_gt(port, 0);
  int fd = tcp_client(port);
  /* Sixteen pipelined requests in one packet, then a big body. */
  char req[4096] = "";
  for (int i = 0; i < 16; i++)
    strcat(req, "GET /p HTTP/1.1\r\nHost: x\r\n\r\n");
  cr_assert_eq(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
  static char buf[1 << 20];
  int eof;
  size_t one = strlen("HTTP/1.1 200 OK\r\nServer: eddy/" EDDY_VERSION_STRING
                      "\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                      "Content-Type: text/plain\r\nContent-Length: 3\r\n\r\n"
                      "tcp");
  tcp_read(r, fd, buf, sizeof(buf), 16 * one, &eof);
  cr_assert_eq(count(buf, "\r\n\r\ntcp"), 16, "%s", buf);
  size_t blen = 300000;
  char *body = malloc(blen);
  memset(body, 'b', blen);
  char head[256];
  snprintf(head, sizeof(head),
           "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", blen);
  cr_assert_eq(send(fd, head, strlen(head), 0), (ssize_t)strlen(head));
  size_t sent = 0, got = 0;
  uint64_t end = uv_hrtime() + 10000000000ull;
  while (sent < blen && uv_hrtime() < end) {
    ssize_t n = send(fd, body + sent, blen - sent, MSG_DONTWAIT);
    if (n > 0)
      sent += (size_t)n;
    eddy_reactor_run_once(r, 0);
    ssize_t m = recv(fd, buf + got, sizeof(buf) - got - 1, MSG_DONTWAIT);
    if (m > 0)
      got += (size_t)m;
  }
  free(body);
  cr_assert_eq(sent, blen);
  got += tcp_read(r, fd, buf + got, sizeof(buf) - got, blen + 100 - got, &eof);
  buf[got] = '\0';
  cr_assert_not_null(strstr(buf, "Content-Length: 300000\r\n"));
  cr_assert_geq(got, blen);
  /* A bad request: 400, then EOF. */
  const char bad[] = "GET / HTTP/1.1\r\n\r\n";
  send(fd, bad, strlen(bad), 0);
  got = tcp_read(r, fd, buf, sizeof(buf), sizeof(buf) - 1, &eof);
  cr_assert(eof, "%s", buf);
  cr_assert(strncmp(buf, "HTTP/1.1 400", 12) == 0, "%s", buf);
  close(fd);
  int stopped = 0;
  eddy_http_server_close(s, 1000, counted, &stopped);
  uint64_t end2 = uv_hrtime() + 5000000000ull;
  while (!stopped && uv_hrtime() < end2)
    eddy_reactor_run_once(r, 1);
  cr_assert_eq(stopped, 1);
  test_close_reactor(r);
}

/* A test double may drop the connection from inside the handler. */
static eddy_string_transport_t *dropping;

static void drop_handler(eddy_http_request_t *req, void *arg) {
  (void)arg;
  eddy_string_transport_disconnect(dropping, UV_ECONNRESET);
  cr_assert_eq(eddy_http_respond(req, 200, NULL, "x", 1), UV_EPIPE);
}

Test(http_server_conn, lost_inside_handler) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_http_server_t *s;
  cr_assert_eq(eddy_http_server_new(r, NULL, drop_handler, NULL, &s), 0);
  eddy_factory_t *fa = eddy_http_server_factory(s);
  dropping = eddy_string_transport_new(r);
  eddy_string_transport_connect(dropping, fa->build_protocol(fa, NULL));
  char in[256];
  snprintf(in, sizeof(in), "%s%s", GET_HELLO, GET_HELLO);
  eddy_string_transport_feed(dropping, in, strlen(in));
  int stopped = 0;
  eddy_http_server_close(s, 0, counted, &stopped);
  spin(r);
  cr_assert_eq(stopped, 1);
  eddy_string_transport_free(dropping);
  test_close_reactor(r);
}

/* Many connections at once, each pipelining, over TCP; then a Unix socket. */
Test(http_server_conn, many_connections_and_unix) {
  eddy_reactor_t *r = test_reactor(0);
  eddy_http_server_t *s;
  cr_assert_eq(eddy_http_server_new(r, NULL, tcp_handler, NULL, &s), 0);
  eddy_listener_t *l;
  cr_assert_eq(eddy_http_server_listen(s, "tcp:0:interface=127.0.0.1", &l), 0);
  char path[64];
  snprintf(path, sizeof(path), "/tmp/eddy-http-%d.sock", (int)getpid());
  char ep[96];
  snprintf(ep, sizeof(ep), "unix:%s", path);
  cr_assert_eq(eddy_http_server_listen(s, ep, NULL), 0);
  enum { CONNS = 24, REQS = 10 };
  int fds[CONNS];
  size_t got[CONNS];
  static char bufs[CONNS][8192];
  char req[1024] = "";
  for (int i = 0; i < REQS; i++)
    strcat(req, "GET /m HTTP/1.1\r\nHost: x\r\n\r\n");
  for (int i = 0; i < CONNS; i++) {
    fds[i] = tcp_client(eddy_listener_port(l));
    got[i] = 0;
    cr_assert_eq(send(fds[i], req, strlen(req), 0), (ssize_t)strlen(req));
  }
  uint64_t end = uv_hrtime() + 10000000000ull;
  int done = 0;
  while (done < CONNS && uv_hrtime() < end) {
    eddy_reactor_run_once(r, 0);
    done = 0;
    for (int i = 0; i < CONNS; i++) {
      ssize_t n = recv(fds[i], bufs[i] + got[i], sizeof(bufs[i]) - got[i] - 1,
                       MSG_DONTWAIT);
      if (n > 0)
        got[i] += (size_t)n;
      bufs[i][got[i]] = '\0';
      if (count(bufs[i], "\r\n\r\ntcp") == REQS)
        done++;
    }
  }
  cr_assert_eq(done, CONNS);
  eddy_http_server_stats_t stats;
  eddy_http_server_stats(s, &stats);
  cr_assert_eq(stats.requests_total, CONNS * REQS);
  for (int i = 0; i < CONNS; i++)
    close(fds[i]);
  /* The Unix socket. */
  int u = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un ua;
  memset(&ua, 0, sizeof(ua));
  ua.sun_family = AF_UNIX;
  snprintf(ua.sun_path, sizeof(ua.sun_path), "%s", path);
  cr_assert_eq(connect(u, (struct sockaddr *)&ua, sizeof(ua)), 0);
  const char one[] = "GET /u HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  cr_assert_eq(send(u, one, strlen(one), 0), (ssize_t)strlen(one));
  static char ubuf[4096];
  int eof;
  tcp_read(r, u, ubuf, sizeof(ubuf), sizeof(ubuf) - 1, &eof);
  cr_assert(eof);
  cr_assert_not_null(strstr(ubuf, "\r\nConnection: close\r\n\r\ntcp"), "%s",
                     ubuf);
  close(u);
  int stopped = 0;
  eddy_http_server_close(s, 1000, counted, &stopped);
  uint64_t end2 = uv_hrtime() + 5000000000ull;
  while (!stopped && uv_hrtime() < end2)
    eddy_reactor_run_once(r, 1);
  cr_assert_eq(stopped, 1);
  test_close_reactor(r);
  cr_assert_neq(access(path, F_OK), 0, "the socket file was left behind");
}
