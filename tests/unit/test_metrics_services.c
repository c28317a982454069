/* test_metrics_services.c — the lock service, the cache and the HTTP server
 * feed a registry: driven over string transports (requests fed one byte at
 * a time) with a fake clock, then read back through the registry, its
 * Prometheus text and its JSON snapshot. */
#include "support.h"

#include <eddy/cache.h>
#include <eddy/http_server.h>
#include <eddy/locks.h>
#include <eddy/metrics.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache_internal.h" /* the cache's factory */

static eddy_metrics_t *registry(void) {
  eddy_metrics_t *m = NULL;
  cr_assert_eq(eddy_metrics_new(&m), 0);
  return m;
}

static char *text_of(eddy_metrics_t *m) {
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  cr_assert_eq(eddy_metrics_prometheus(m, &b), 0);
  size_t len;
  char *s = eddy_buf_detach(&b, &len);
  return s != NULL ? s : strdup("");
}

/* The line `sample` ("name{labels} value") is in the rendering. */
static void assert_sample(eddy_metrics_t *m, const char *sample) {
  char *text = text_of(m);
  char want[256];
  snprintf(want, sizeof(want), "\n%s\n", sample);
  char *withnl = malloc(strlen(text) + 2);
  withnl[0] = '\n';
  strcpy(withnl + 1, text);
  cr_assert(strstr(withnl, want) != NULL, "'%s' not in:\n%s", sample, text);
  free(withnl);
  free(text);
}

static void assert_absent(eddy_metrics_t *m, const char *name) {
  char *text = text_of(m);
  cr_assert(strstr(text, name) == NULL, "'%s' still in:\n%s", name, text);
  free(text);
}

static eddy_histogram_t *hist(eddy_metrics_t *m, const char *name) {
  eddy_histogram_t *h = eddy_metrics_histogram(m, name, NULL, NULL, 1e6);
  cr_assert_not_null(h, "%s", name);
  return h;
}

static uint64_t counter(eddy_metrics_t *m, const char *name,
                        const char *labels) {
  return eddy_counter_value(eddy_metrics_counter(m, name, labels, NULL));
}

static eddy_string_transport_t *connect_to(eddy_reactor_t *r,
                                           eddy_factory_t *fac) {
  eddy_protocol_t *p = fac->build_protocol(fac, NULL);
  cr_assert_not_null(p);
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  cr_assert_not_null(st);
  eddy_string_transport_connect(st, p);
  return st;
}

static void say(eddy_string_transport_t *st, const char *s) {
  eddy_string_transport_feed_bytewise(st, s, strlen(s));
}

/* What st received since the last call (static storage). */
static const char *reply(eddy_string_transport_t *st) {
  static char buf[8192];
  size_t len = 0;
  const char *v = eddy_string_transport_value(st, &len);
  cr_assert_lt(len, sizeof(buf));
  memcpy(buf, v, len);
  buf[len] = '\0';
  eddy_string_transport_clear(st);
  return buf;
}

static void spin(eddy_reactor_t *r) {
  for (int i = 0; i < 20; i++)
    eddy_reactor_run_once(r, 0);
}

static void on_closed(void *arg) {
  ++*(int *)arg;
}

/* ---- Locks --------------------------------------------------------------- */

Test(metrics_services, locks_feed_counts_waits_and_holds) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_metrics_t *m = registry();
  eddy_locks_opts_t o;
  eddy_locks_opts_init(&o);
  o.metrics = m;
  eddy_locks_t *l = NULL;
  cr_assert_eq(eddy_locks_new(r, &o, &l), 0);
  eddy_factory_t *fac = eddy_locks_factory(l);
  eddy_string_transport_t *a = connect_to(r, fac), *b = connect_to(r, fac);
  eddy_histogram_t *wait = hist(m, "eddy_locks_wait_seconds");
  eddy_histogram_t *hold = hist(m, "eddy_locks_hold_seconds");

  say(a, "acquire x\r\n");
  cr_assert_eq(strncmp(reply(a), "OK ", 3), 0);
  say(b, "acquire x\r\n");
  cr_assert_str_eq(reply(b), "");
  assert_sample(m, "eddy_locks_connections 2");
  assert_sample(m, "eddy_locks_held 1");
  assert_sample(m, "eddy_locks_waiting 1");
  cr_assert_eq(eddy_histogram_count(wait), 1, "an immediate grant counts");
  cr_assert_eq(eddy_histogram_quantile(wait, 1), 0);

  eddy_reactor_advance(r, 30);
  say(a, "release x\r\n");
  cr_assert_str_eq(reply(a), "OK 0\r\n");
  cr_assert_eq(strncmp(reply(b), "OK ", 3), 0);
  cr_assert_eq(eddy_histogram_count(wait), 2);
  cr_assert_eq(eddy_histogram_quantile(wait, 1), 30000, "30 ms waited");
  cr_assert_eq(eddy_histogram_count(hold), 1);
  cr_assert_eq(eddy_histogram_quantile(hold, 1), 30000, "30 ms held");
  assert_sample(m, "eddy_locks_held 1");
  assert_sample(m, "eddy_locks_waiting 0");

  /* A reentrant grant counts as a grant that waited 0. */
  say(b, "acquire x reentrant\r\n");
  cr_assert_eq(strncmp(reply(b), "OK ", 3), 0);
  cr_assert_eq(eddy_histogram_count(wait), 3);
  cr_assert_eq(counter(m, "eddy_locks_grants_total", NULL), 3);

  /* A timeout. */
  say(a, "acquire x wait=5\r\n");
  eddy_reactor_advance(r, 5);
  cr_assert_eq(strncmp(reply(a), "ERR timeout", 11), 0);
  cr_assert_eq(counter(m, "eddy_locks_timeouts_total", NULL), 1);
  assert_sample(m, "eddy_locks_timeouts_total 1");

  /* A lease expiry ends a hold. */
  say(a, "acquire y lease=50\r\n");
  cr_assert_eq(strncmp(reply(a), "OK ", 3), 0);
  eddy_reactor_advance(r, 50);
  cr_assert_eq(strncmp(reply(a), "EVENT lost y", 12), 0);
  cr_assert_eq(eddy_histogram_count(hold), 2);

  /* A disconnect releases b's grant of x, held since 30 ms ago + 55. */
  eddy_reactor_advance(r, 10);
  eddy_string_transport_disconnect(b, 0);
  spin(r);
  cr_assert_eq(eddy_histogram_count(hold), 3);
  cr_assert_eq(eddy_histogram_quantile(hold, 1), 65000);
  assert_sample(m, "eddy_locks_connections 1");
  assert_sample(m, "eddy_locks_held 0");
  cr_assert_eq(counter(m, "eddy_locks_grants_total", NULL), 4);

  int closed = 0;
  eddy_locks_close(l, on_closed, &closed);
  spin(r);
  cr_assert_eq(closed, 1);
  /* Its callback gauges went with it; counters and histograms stay. */
  assert_absent(m, "eddy_locks_connections");
  assert_absent(m, "eddy_locks_held");
  assert_sample(m, "eddy_locks_wait_seconds_count 4");
  eddy_string_transport_free(a);
  eddy_string_transport_free(b);
  test_close_reactor(r);
  eddy_metrics_free(m);
}

/* ---- Cache --------------------------------------------------------------- */

Test(metrics_services, cache_feeds_hits_misses_sets_and_evictions) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_metrics_t *m = registry();
  eddy_cache_opts_t o;
  eddy_cache_opts_init(&o);
  o.metrics = m;
  o.memory_limit = 4096;
  eddy_cache_t *c = NULL;
  cr_assert_eq(eddy_cache_new(r, &o, &c), 0);
  eddy_string_transport_t *st = connect_to(r, &c->factory);
  say(st, "set a 0 0 3\r\nabc\r\nget a\r\nget nope\r\nmg a v\r\nmg b v\r\n"
          "gat 0 a\r\nms c 2\r\nxy\r\n");
  reply(st);
  cr_assert_eq(counter(m, "eddy_cache_get_hits_total", NULL), 3);
  cr_assert_eq(counter(m, "eddy_cache_get_misses_total", NULL), 2);
  cr_assert_eq(counter(m, "eddy_cache_sets_total", NULL), 2);
  cr_assert_eq(counter(m, "eddy_cache_evictions_total", NULL), 0);
  assert_sample(m, "eddy_cache_connections 1");
  assert_sample(m, "eddy_cache_items 2");
  eddy_cache_stats_t s;
  eddy_cache_stats(c, &s);
  char want[64];
  snprintf(want, sizeof(want), "eddy_cache_bytes %llu",
           (unsigned long long)s.bytes);
  assert_sample(m, want);

  /* Values of 1000 bytes under a 4 KiB limit: the oldest go. */
  char cmd[1100];
  for (int i = 0; i < 8; i++) {
    int n = snprintf(cmd, sizeof(cmd), "set big%d 0 0 1000\r\n", i);
    memset(cmd + n, 'v', 1000);
    memcpy(cmd + n + 1000, "\r\n", 3);
    eddy_string_transport_feed(st, cmd, strlen(cmd));
  }
  reply(st);
  eddy_cache_stats(c, &s);
  cr_assert_gt(s.evictions, 0);
  cr_assert_eq(counter(m, "eddy_cache_evictions_total", NULL), s.evictions);
  cr_assert_eq(counter(m, "eddy_cache_sets_total", NULL), 10);
  snprintf(want, sizeof(want), "eddy_cache_items %llu",
           (unsigned long long)s.curr_items);
  assert_sample(m, want);

  /* `stats reset` zeroes memcached's figures, not the counters. */
  say(st, "stats reset\r\n");
  cr_assert_str_eq(reply(st), "RESET\r\n");
  cr_assert_eq(counter(m, "eddy_cache_get_hits_total", NULL), 3);

  /* The C API (the HTTP API's path) counts like the protocol. */
  cr_assert_eq(eddy_cache_set(c, "api", 3, "v", 1, 0, 0), 0);
  eddy_cache_item_t it;
  cr_assert_eq(eddy_cache_get(c, "api", 3, &it), 0);
  eddy_cache_item_free(&it);
  cr_assert_eq(eddy_cache_get(c, "gone", 4, &it), UV_ENOENT);
  cr_assert_eq(counter(m, "eddy_cache_sets_total", NULL), 11);
  cr_assert_eq(counter(m, "eddy_cache_get_hits_total", NULL), 4);
  cr_assert_eq(counter(m, "eddy_cache_get_misses_total", NULL), 3);

  eddy_string_transport_disconnect(st, 0);
  spin(r);
  assert_sample(m, "eddy_cache_connections 0");
  int closed = 0;
  eddy_cache_close(c, on_closed, &closed);
  spin(r);
  cr_assert_eq(closed, 1);
  assert_absent(m, "eddy_cache_items");
  eddy_string_transport_free(st);
  test_close_reactor(r);
  eddy_metrics_free(m);
}

/* ---- HTTP ---------------------------------------------------------------- */

typedef struct {
  eddy_http_request_t *held;
} http_fix_t;

static void handler(eddy_http_request_t *req, void *arg) {
  http_fix_t *f = arg;
  const char *path = eddy_http_path(req);
  if (strcmp(path, "/ok") == 0)
    eddy_http_respond(req, 200, "text/plain", "ok", 2);
  else if (strcmp(path, "/moved") == 0)
    eddy_http_respond(req, 301, NULL, NULL, 0);
  else if (strcmp(path, "/later") == 0)
    f->held = req;
  else if (strcmp(path, "/fail") == 0)
    eddy_http_respond(req, 503, NULL, NULL, 0);
  else
    eddy_http_respond(req, 404, NULL, NULL, 0);
}

Test(metrics_services, http_feeds_connections_codes_and_durations) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_metrics_t *m = registry();
  eddy_http_server_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.metrics = m;
  http_fix_t f = {0};
  eddy_http_server_t *s = NULL;
  cr_assert_eq(eddy_http_server_new(r, &cfg, handler, &f, &s), 0);
  eddy_factory_t *fac = eddy_http_server_factory(s);
  eddy_string_transport_t *a = connect_to(r, fac);
  eddy_histogram_t *d = hist(m, "eddy_http_request_duration_seconds");

  say(a, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /moved HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /fail HTTP/1.1\r\nHost: x\r\n\r\n");
  spin(r);
  cr_assert_not_null(strstr(reply(a), "HTTP/1.1 503"));
  cr_assert_eq(counter(m, "eddy_http_requests_total", "code=\"2xx\""), 1);
  cr_assert_eq(counter(m, "eddy_http_requests_total", "code=\"3xx\""), 1);
  cr_assert_eq(counter(m, "eddy_http_requests_total", "code=\"4xx\""), 1);
  cr_assert_eq(counter(m, "eddy_http_requests_total", "code=\"5xx\""), 1);
  cr_assert_eq(eddy_histogram_count(d), 4);
  cr_assert_eq(eddy_histogram_quantile(d, 1), 0, "no time passed");
  assert_sample(m, "eddy_http_connections 1");

  /* The clock runs from the head to the finished response. */
  say(a, "GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
  spin(r);
  cr_assert_not_null(f.held);
  eddy_reactor_advance(r, 40);
  eddy_http_respond(f.held, 200, NULL, "late", 4);
  spin(r);
  cr_assert_eq(eddy_histogram_count(d), 5);
  cr_assert_eq(eddy_histogram_quantile(d, 1), 40000);
  cr_assert_eq(counter(m, "eddy_http_requests_total", "code=\"2xx\""), 2);

  /* The server's own error answers count by their class too. */
  eddy_string_transport_t *b = connect_to(r, fac);
  assert_sample(m, "eddy_http_connections 2");
  say(b, "NOT HTTP AT ALL\r\n\r\n");
  spin(r);
  cr_assert_not_null(strstr(reply(b), "HTTP/1.1 400"));
  cr_assert_eq(counter(m, "eddy_http_requests_total", "code=\"4xx\""), 2);
  cr_assert_eq(eddy_histogram_count(d), 5, "no request, no duration");

  /* The snapshot the dashboard reads carries all of it. */
  eddy_buf_t jb;
  eddy_buf_init(&jb, EDDY_BUF_UNLIMITED);
  cr_assert_eq(eddy_metrics_json(m, 1, &jb), 0);
  json_t *j = json_loadb(jb.data, jb.len, 0, NULL);
  cr_assert_not_null(j);
  json_t *h = json_object_get(json_object_get(j, "histograms"),
                              "eddy_http_request_duration_seconds");
  cr_assert_eq(json_integer_value(json_object_get(h, "count")), 5);
  cr_assert_float_eq(json_number_value(json_object_get(h, "max")), 0.04, 1e-9);
  cr_assert_eq(json_integer_value(
                   json_object_get(json_object_get(j, "counters"),
                                   "eddy_http_requests_total{code=\"4xx\"}")),
               2);
  json_decref(j);
  eddy_buf_free(&jb);

  int stopped = 0;
  eddy_http_server_close(s, 0, on_closed, &stopped);
  spin(r);
  cr_assert_eq(stopped, 1);
  assert_absent(m, "eddy_http_connections");
  eddy_string_transport_free(a);
  eddy_string_transport_free(b);
  test_close_reactor(r);
  eddy_metrics_free(m);
}

Test(metrics_services, services_without_a_registry_keep_none) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_locks_t *l = NULL;
  cr_assert_eq(eddy_locks_new(r, NULL, &l), 0);
  eddy_string_transport_t *a = connect_to(r, eddy_locks_factory(l));
  say(a, "acquire x lease=5\r\nrelease x\r\n");
  cr_assert_eq(strncmp(reply(a), "OK ", 3), 0);
  int closed = 0;
  eddy_locks_close(l, on_closed, &closed);
  spin(r);
  cr_assert_eq(closed, 1);
  eddy_string_transport_free(a);
  test_close_reactor(r);
}
