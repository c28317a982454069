/* web.c — eddyd's HTTP port and real-time hub (see web.h). Only wiring:
 * every protocol lives in libeddy. */
#include "web.h"

#include <eddy/buffer.h>
#include <eddy/error.h>
#include <eddy/http_api.h>
#include <eddy/http_json.h>
#include <eddy/http_router.h>
#include <eddy/http_server.h>
#include <eddy/http_static.h>
#include <eddy/log.h>
#include <eddy/metrics.h>
#include <eddy/protocol.h>
#include <eddy/realtime.h>
#include <eddy/sockjs.h>
#include <eddy/version.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "assets.h"

/* Requests still running when the server stops get this long; then their
 * connections are aborted. WebSocket clients are closed by the hub (4004)
 * well before. */
#define STOP_GRACE_MS 3000
#define METRICS_INTERVAL_MS 1000
#define WS_PATH "/connect/websocket"
#define SOCKJS_PREFIX "/sockjs"
#define API_PREFIX "/api"
#define PROMETHEUS_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* The largest body /metrics or /status builds (thousands of series). */
#define RENDER_MAX ((size_t)16 * 1024 * 1024)

struct eddyd_web_s {
  eddyd_services_t *svc;
  eddy_reactor_t *r;
  eddy_rt_t *hub;
  eddy_sockjs_t *sockjs;
  eddy_api_t *api;
  eddy_router_t *router;
  eddy_http_server_t *server;
  eddy_static_t *files; /* web-root; NULL: the embedded pages */
  eddy_looping_t feed;  /* eddy:metrics, every second */
  int feed_warned;
  const char *origins[EDDYD_MAX_ORIGINS + 1];
  /* Stopping. */
  int server_open, sockjs_open, hub_open;
  eddy_call_cb done;
  void *done_arg;
  eddy_timer_t done_timer; /* calls done on a later iteration */
};

/* ---- Where things listen ---------------------------------------------- */

void eddyd_listener_where(eddy_listener_t *l, char *buf, size_t size) {
  eddy_addr_t a;
  buf[0] = '\0';
  if (eddy_listener_address(l, &a) != 0)
    return;
  if (a.ss.ss_family == AF_UNIX)
    snprintf(buf, size, "unix:%s",
             ((const struct sockaddr_un *)&a.ss)->sun_path);
  else
    eddy_addr_format(&a, buf, size);
}

static void remember(eddyd_addresses_t *at, eddy_listener_t *l) {
  if (at->count < EDDYD_MAX_ENDPOINTS)
    eddyd_listener_where(l, at->list[at->count++], sizeof(at->list[0]));
}

/* ---- The embedded pages ----------------------------------------------- */

static const eddyd_asset_t *find_asset(const char *path) {
  for (size_t i = 0; i < eddyd_asset_count; i++)
    if (strcmp(eddyd_assets[i].path, path) == 0)
      return &eddyd_assets[i];
  return NULL;
}

/* GET and HEAD (the router sends HEAD here too; the server drops the
 * body). The pages change with eddyd's version, so browsers revalidate
 * every time (no-cache) and get a 304 while the entity tag holds. */
static void serve_asset(eddy_http_request_t *req, void *arg) {
  const eddyd_asset_t *a = arg;
  eddy_http_set_header(req, "ETag", a->etag);
  eddy_http_set_header(req, "Cache-Control", "no-cache");
  eddy_http_set_header(req, "X-Content-Type-Options", "nosniff");
  const char *inm = eddy_http_header(req, "If-None-Match");
  if (inm != NULL && eddy_http_etag_match(inm, strlen(inm), a->etag, 0)) {
    eddy_http_respond(req, 304, NULL, NULL, 0);
    return;
  }
  eddy_slice_t *body =
      eddy_slice_wrap((void *)(uintptr_t)a->data, a->len, NULL, NULL);
  if (body == NULL) {
    eddy_http_respond_error(req, 500, "out of memory");
    return;
  }
  eddy_http_respond_slice(req, 200, a->mime, body);
  eddy_slice_unref(body);
}

/* --web-root: the same names from a directory, through eddy_static (which
 * keeps the traversal rules). "/demo" is demo.html there too. */
static void serve_file_as(eddy_http_request_t *req, void *arg,
                          const char *name) {
  eddyd_web_t *w = arg;
  if (eddy_http_set_param(req, "path", name) != 0) {
    eddy_http_respond_error(req, 500, "out of memory");
    return;
  }
  eddy_static_handler(req, w->files);
}

static void serve_demo_file(eddy_http_request_t *req, void *arg) {
  serve_file_as(req, arg, "demo.html");
}

static void serve_file(eddy_http_request_t *req, void *arg) {
  eddyd_web_t *w = arg;
  eddy_static_handler(req, w->files);
}

/* ---- /metrics and /status --------------------------------------------- */

static void serve_metrics(eddy_http_request_t *req, void *arg) {
  eddyd_web_t *w = arg;
  eddy_buf_t b;
  eddy_buf_init(&b, RENDER_MAX);
  int rc = eddy_metrics_prometheus(w->svc->metrics, &b);
  eddy_slice_t *body = rc == 0 ? eddy_slice_from_buf(&b) : NULL;
  eddy_buf_free(&b);
  if (body == NULL) {
    eddy_http_respond_error(req, 500, "cannot render the metrics");
    return;
  }
  eddy_http_set_header(req, "Cache-Control", "no-store");
  eddy_http_respond_slice(req, 200, PROMETHEUS_TYPE, body);
  eddy_slice_unref(body);
}

static json_t *address_list(const eddyd_addresses_t *at) {
  json_t *a = json_array();
  for (int i = 0; a != NULL && i < at->count; i++)
    json_array_append_new(a, json_string(at->list[i]));
  return a;
}

static json_t *service(const char *name, int up, json_t *endpoints,
                       json_t *stats) {
  return json_pack("{s:s, s:s, s:o, s:o}", "name", name, "state",
                   up ? "up" : "off", "endpoints",
                   endpoints != NULL ? endpoints : json_array(), "stats",
                   stats != NULL ? stats : json_object());
}

static json_t *http_service(const eddyd_web_t *w) {
  if (w->server == NULL)
    return service("http", 0, NULL, NULL);
  eddy_http_server_stats_t s;
  eddy_http_server_stats(w->server, &s);
  return service("http", 1, address_list(&w->svc->http),
                 json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "connections",
                           (json_int_t)s.connections, "connections_total",
                           (json_int_t)s.connections_total,
                           "connections_refused",
                           (json_int_t)s.connections_refused, "requests_total",
                           (json_int_t)s.requests_total, "client_errors",
                           (json_int_t)s.client_errors, "timeouts",
                           (json_int_t)s.timeouts));
}

static json_t *realtime_service(const eddyd_web_t *w) {
  if (w->hub == NULL)
    return service("realtime", 0, NULL, NULL);
  eddy_rt_stats_t s;
  eddy_rt_stats(w->hub, &s);
  json_t *paths = json_array();
  if (w->server != NULL) {
    json_array_append_new(paths, json_string(WS_PATH));
    if (w->sockjs != NULL)
      json_array_append_new(paths, json_string(SOCKJS_PREFIX));
  }
  json_t *stats =
      json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "clients",
                (json_int_t)s.clients, "channels", (json_int_t)s.channels,
                "subscriptions", (json_int_t)s.subscriptions, "published_total",
                (json_int_t)s.published_total, "delivered_total",
                (json_int_t)s.delivered_total, "dropped_slow_total",
                (json_int_t)s.dropped_slow_total, "history_bytes",
                (json_int_t)s.history_bytes);
  if (stats != NULL && w->sockjs != NULL) {
    eddy_sockjs_stats_t j;
    eddy_sockjs_stats(w->sockjs, &j);
    json_object_set_new(stats, "sockjs_sessions",
                        json_integer((json_int_t)j.sessions));
  }
  return service("realtime", 1, paths, stats);
}

static json_t *locks_service(const eddyd_web_t *w) {
  const eddyd_services_t *svc = w->svc;
  if (svc->locks == NULL)
    return service("locks", 0, NULL, NULL);
  eddy_locks_stats_t s;
  eddy_locks_stats(svc->locks, &s);
  return service(
      "locks", 1, address_list(&svc->locks_at),
      json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "connections",
                (json_int_t)s.connections, "locks", (json_int_t)s.locks,
                "holders", (json_int_t)s.holders, "waiters",
                (json_int_t)s.waiters, "grants_total",
                (json_int_t)s.grants_total, "waits_total",
                (json_int_t)s.waits_total, "timeouts_total",
                (json_int_t)s.timeouts_total, "releases_on_disconnect_total",
                (json_int_t)s.releases_on_disconnect_total));
}

static json_t *cache_service(const eddyd_web_t *w) {
  const eddyd_services_t *svc = w->svc;
  if (svc->cache == NULL)
    return service("cache", 0, NULL, NULL);
  eddy_cache_stats_t s;
  eddy_cache_stats(svc->cache, &s);
  return service(
      "cache", 1, address_list(&svc->cache_at),
      json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "connections",
                (json_int_t)s.curr_connections, "items",
                (json_int_t)s.curr_items, "bytes", (json_int_t)s.bytes,
                "limit_bytes", (json_int_t)s.limit_maxbytes, "get_hits",
                (json_int_t)s.get_hits, "get_misses", (json_int_t)s.get_misses,
                "cmd_get", (json_int_t)s.cmd_get, "cmd_set",
                (json_int_t)s.cmd_set, "evictions", (json_int_t)s.evictions));
}

static json_t *publish_service(const eddyd_web_t *w) {
  const eddyd_services_t *svc = w->svc;
  int up = w->hub != NULL && svc->publish.count > 0;
  return service(
      "publish", up, up ? address_list(&svc->publish) : NULL,
      json_pack("{s:b}", "auth", svc->cfg->publish_token[0] != '\0'));
}

static uint64_t uptime_ms(const eddyd_services_t *svc) {
  return eddy_reactor_now(svc->r) - svc->started_ms;
}

static void serve_status(eddy_http_request_t *req, void *arg) {
  eddyd_web_t *w = arg;
  const eddyd_services_t *svc = w->svc;
  json_t *services = json_array();
  json_array_append_new(services, realtime_service(w));
  json_array_append_new(services, http_service(w));
  json_array_append_new(services, locks_service(w));
  json_array_append_new(services, cache_service(w));
  json_array_append_new(services, publish_service(w));
  json_t *status = json_pack(
      "{s:s, s:I, s:I, s:I, s:o}", "version", eddy_version(), "pid",
      (json_int_t)getpid(), "started_unix", (json_int_t)svc->started_unix,
      "uptime_s", (json_int_t)(uptime_ms(svc) / 1000), "services", services);
  eddy_http_set_header(req, "Cache-Control", "no-store");
  eddy_http_respond_json_new(req, 200, status);
}

/* ---- The metrics feed ------------------------------------------------- */

static double uptime_seconds(void *arg) {
  return (double)uptime_ms(arg) / 1000.0;
}

static uint64_t unix_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Publishes a snapshot of the registry on eddy:metrics: the dashboard's
 * graphs, and with the namespace's history, their first two minutes. */
static void feed_tick(eddy_looping_t *lc, uint64_t intervals) {
  (void)intervals;
  eddyd_web_t *w = lc->data;
  eddy_buf_t b;
  eddy_buf_init(&b, RENDER_MAX);
  int rc = eddy_metrics_json(w->svc->metrics, unix_ms(), &b);
  if (rc == 0)
    rc = eddy_rt_publish(w->hub, EDDYD_METRICS_CHANNEL, b.data, b.len, NULL);
  eddy_buf_free(&b);
  /* Once: a feed that cannot be published fails the same way each second. */
  if (rc != 0 && !w->feed_warned) {
    w->feed_warned = 1;
    eddy_log(EDDY_LOG_WARN, "metrics.feed_failed", "channel=%s error=%s",
             EDDYD_METRICS_CHANNEL, eddy_err_name(rc));
  }
}

/* ---- Starting --------------------------------------------------------- */

static int fail_rc(char *err, size_t errlen, const char *what, int rc) {
  return eddyd_fail(err, errlen, "%s: %s", what, eddy_strerror(rc));
}

static int start_hub(eddyd_web_t *w, eddyd_listening_cb listening, char *err,
                     size_t errlen) {
  const eddyd_config_t *c = w->svc->cfg;
  eddy_rt_namespace_t table[EDDY_RT_MAX_NAMESPACES];
  eddy_rt_opts_t o;
  eddy_rt_opts_init(&o);
  o.namespaces = table;
  o.namespace_count = eddyd_config_namespaces(c, table);
  o.secret = c->realtime_secret[0] != '\0' ? c->realtime_secret : NULL;
  o.metrics = w->svc->metrics;
  o.max_clients = c->realtime_max_clients;
  o.max_send_queue = c->realtime_send_queue;
  o.history_memory = c->history_memory;
  o.origins = c->origins.count > 0 ? w->origins : NULL;
  int rc = eddy_rt_new(w->r, &o, &w->hub);
  if (rc != 0)
    return fail_rc(err, errlen, "realtime: cannot start", rc);
  w->hub_open = 1;
  for (int i = 0; i < c->publish.count; i++) {
    eddy_listener_t *l = NULL;
    rc = eddy_rt_listen_lines(
        w->hub, c->publish.list[i],
        c->publish_token[0] != '\0' ? c->publish_token : NULL, &l);
    if (rc != 0)
      return eddyd_fail(err, errlen, "publish: cannot listen on %s: %s",
                        c->publish.list[i], eddy_strerror(rc));
    remember(&w->svc->publish, l);
    listening("publish", c->publish.list[i], l);
  }
  rc = eddy_looping_start(&w->feed, METRICS_INTERVAL_MS, 1);
  if (rc != 0)
    return fail_rc(err, errlen, "realtime: cannot start the metrics feed", rc);
  return 0;
}

static int add_route(eddyd_web_t *w, const char *method, const char *pattern,
                     eddy_http_handler_cb h, void *arg, char *err,
                     size_t errlen) {
  int rc = eddy_router_add(w->router, method, pattern, h, arg);
  if (rc != 0)
    return eddyd_fail(err, errlen, "http: cannot route %s %s: %s", method,
                      pattern, eddy_strerror(rc));
  return 0;
}

static int add_pages(eddyd_web_t *w, char *err, size_t errlen) {
  const eddyd_config_t *c = w->svc->cfg;
  if (c->web_root[0] != '\0') {
    eddy_static_config_t sc;
    memset(&sc, 0, sizeof(sc));
    sc.no_listing = 1;
    int rc = eddy_static_new(w->r, c->web_root, &sc, &w->files);
    if (rc != 0)
      return eddyd_fail(err, errlen, "web-root %s: %s", c->web_root,
                        eddy_strerror(rc));
    /* "/" falls to the wildcard: the directory's index.html. */
    if (add_route(w, "GET", "/demo", serve_demo_file, w, err, errlen) != 0 ||
        add_route(w, "GET", "/*path", serve_file, w, err, errlen) != 0)
      return -1;
    return 0;
  }
  const eddyd_asset_t *index = find_asset("/index.html");
  const eddyd_asset_t *demo = find_asset("/demo.html");
  if ((index != NULL &&
       add_route(w, "GET", "/", serve_asset, (void *)(uintptr_t)index, err,
                 errlen) != 0) ||
      (demo != NULL && add_route(w, "GET", "/demo", serve_asset,
                                 (void *)(uintptr_t)demo, err, errlen) != 0))
    return -1;
  for (size_t i = 0; i < eddyd_asset_count; i++)
    if (add_route(w, "GET", eddyd_assets[i].path, serve_asset,
                  (void *)(uintptr_t)&eddyd_assets[i], err, errlen) != 0)
      return -1;
  return 0;
}

static int start_http(eddyd_web_t *w, eddyd_listening_cb listening, char *err,
                      size_t errlen) {
  const eddyd_config_t *c = w->svc->cfg;
  int rc = eddy_router_new(NULL, &w->router);
  if (rc != 0)
    return fail_rc(err, errlen, "http: cannot start", rc);
  if (add_pages(w, err, errlen) != 0)
    return -1;
  if (add_route(w, "GET", WS_PATH, eddy_rt_ws_handler, w->hub, err, errlen) !=
          0 ||
      add_route(w, "GET", "/metrics", serve_metrics, w, err, errlen) != 0 ||
      add_route(w, "GET", "/status", serve_status, w, err, errlen) != 0)
    return -1;

  if (c->sockjs) {
    eddy_sockjs_config_t sc;
    eddy_sockjs_config_init(&sc);
    sc.prefix = SOCKJS_PREFIX;
    sc.max_queue = c->realtime_send_queue;
    sc.max_sessions = c->realtime_max_clients;
    sc.origins = c->origins.count > 0 ? w->origins : NULL;
    if (c->sockjs_client_url[0] != '\0')
      sc.client_url = c->sockjs_client_url;
    rc = eddy_sockjs_new(w->r, &sc, eddy_rt_sockjs_handlers(), w->hub,
                         &w->sockjs);
    if (rc != 0)
      return fail_rc(err, errlen, "sockjs: cannot start", rc);
    w->sockjs_open = 1;
    if (add_route(w, "*", SOCKJS_PREFIX, eddy_sockjs_handler, w->sockjs, err,
                  errlen) != 0 ||
        add_route(w, "*", SOCKJS_PREFIX "/*path", eddy_sockjs_handler,
                  w->sockjs, err, errlen) != 0)
      return -1;
  }

  eddy_api_opts_t ao;
  eddy_api_opts_init(&ao);
  ao.prefix = API_PREFIX;
  ao.token = c->api_token[0] != '\0' ? c->api_token : NULL;
  ao.hub = w->hub;
  ao.cache = w->svc->cache;
  ao.locks = w->svc->locks;
  ao.token_secret = c->realtime_secret[0] != '\0' ? c->realtime_secret : NULL;
  rc = eddy_api_new(w->router, &ao, &w->api);
  if (rc != 0)
    return fail_rc(err, errlen, "api: cannot start", rc);

  eddy_http_server_config_t hc;
  memset(&hc, 0, sizeof(hc));
  hc.access_log = c->access_log;
  hc.metrics = w->svc->metrics;
  /* Upgraded WebSocket connections still count against the server's
   * limit: leave room for every realtime client plus pages and API. */
  hc.max_connections =
      c->realtime_max_clients + EDDY_HTTP_MAX_CONNECTIONS_DEFAULT;
  rc = eddy_http_server_new(w->r, &hc, eddy_router_handler, w->router,
                            &w->server);
  if (rc != 0)
    return fail_rc(err, errlen, "http: cannot start", rc);
  w->server_open = 1;
  for (int i = 0; i < c->http.count; i++) {
    eddy_listener_t *l = NULL;
    rc = eddy_http_server_listen(w->server, c->http.list[i], &l);
    if (rc != 0)
      return eddyd_fail(err, errlen, "http: cannot listen on %s: %s",
                        c->http.list[i], eddy_strerror(rc));
    remember(&w->svc->http, l);
    listening("http", c->http.list[i], l);
  }
  return 0;
}

int eddyd_web_start(eddyd_services_t *svc, eddyd_listening_cb listening,
                    eddyd_web_t **out, char *err, size_t errlen) {
  const eddyd_config_t *c = svc->cfg;
  *out = NULL;
  if (c->http.count == 0 && c->publish.count == 0)
    return 0;
  eddyd_web_t *w = calloc(1, sizeof(*w));
  if (w == NULL)
    return eddyd_fail(err, errlen, "out of memory");
  w->svc = svc;
  w->r = svc->r;
  /* Both are stopped by eddyd_web_close, whatever the start reached. */
  eddy_timer_init(w->r, &w->done_timer);
  w->done_timer.data = w;
  eddy_looping_init(w->r, &w->feed, feed_tick);
  w->feed.data = w;
  for (int i = 0; i < c->origins.count; i++)
    w->origins[i] = c->origins.list[i];
  *out = w;
  int rc = eddy_metrics_gauge_fn(svc->metrics, "eddy_uptime_seconds", NULL,
                                 "Seconds since eddyd started.", uptime_seconds,
                                 svc);
  if (rc != 0)
    return fail_rc(err, errlen, "metrics: cannot start", rc);
  if (start_hub(w, listening, err, errlen) != 0)
    return -1;
  if (c->http.count > 0 && start_http(w, listening, err, errlen) != 0)
    return -1;
  return 0;
}

void eddyd_web_log_stats(eddyd_web_t *w, eddy_log_level_t level) {
  if (w == NULL)
    return;
  if (w->hub != NULL) {
    eddy_rt_stats_t s;
    eddy_rt_stats(w->hub, &s);
    eddy_log(level, "stats.realtime",
             "clients=%" PRIu64 " channels=%" PRIu64 " subscriptions=%" PRIu64
             " published_total=%" PRIu64 " delivered_total=%" PRIu64
             " dropped_slow_total=%" PRIu64 " history_bytes=%" PRIu64,
             s.clients, s.channels, s.subscriptions, s.published_total,
             s.delivered_total, s.dropped_slow_total, s.history_bytes);
  }
  if (w->server != NULL && w->server_open) {
    eddy_http_server_stats_t s;
    eddy_http_server_stats(w->server, &s);
    eddy_log(level, "stats.http",
             "connections=%" PRIu64 " connections_total=%" PRIu64
             " requests_total=%" PRIu64 " client_errors=%" PRIu64
             " timeouts=%" PRIu64,
             s.connections, s.connections_total, s.requests_total,
             s.client_errors, s.timeouts);
  }
}

/* ---- Stopping ---------------------------------------------------------
 * The HTTP server goes first: from its close on, no request reaches a
 * handler, so nothing new can touch SockJS, the API or the hub. SockJS
 * closes next; once its sessions are gone (each detached from the hub)
 * the hub closes, which says goodbye (4004) to the WebSocket clients —
 * connections the server waits for. The API, the router and the static
 * files are freed once the server is gone (they must outlive it). */

static void finish(eddyd_web_t *w);

static void call_done(eddy_timer_t *t) {
  eddyd_web_t *w = t->data;
  eddy_call_cb cb = w->done;
  void *arg = w->done_arg;
  free(w);
  if (cb != NULL)
    cb(arg);
}

static void finish(eddyd_web_t *w) {
  if (w->server_open || w->sockjs_open || w->hub_open)
    return;
  /* A timer, not a soon-call, so the callback always comes on a later
   * iteration even when nothing above was open. */
  eddy_timer_start(&w->done_timer, 0, call_done);
}

static void hub_closed(void *arg) {
  eddyd_web_t *w = arg;
  w->hub_open = 0;
  w->hub = NULL;
  finish(w);
}

static void sockjs_closed(void *arg) {
  eddyd_web_t *w = arg;
  w->sockjs_open = 0;
  w->sockjs = NULL;
  finish(w);
}

static void server_closed(void *arg) {
  eddyd_web_t *w = arg;
  w->server_open = 0;
  w->server = NULL;
  eddy_api_free(w->api);
  w->api = NULL;
  eddy_router_free(w->router);
  w->router = NULL;
  eddy_static_free(w->files);
  w->files = NULL;
  finish(w);
}

void eddyd_web_close(eddyd_web_t *w, eddy_call_cb cb, void *arg) {
  w->done = cb;
  w->done_arg = arg;
  eddy_looping_stop(&w->feed);
  eddy_metrics_forget(w->svc->metrics, w->svc);
  if (w->server != NULL) {
    eddy_http_server_close(w->server, STOP_GRACE_MS, server_closed, w);
  } else {
    /* Started no further than the router (or not even that). */
    if (w->api != NULL)
      eddy_api_free(w->api);
    eddy_router_free(w->router);
    eddy_static_free(w->files);
    w->api = NULL;
    w->router = NULL;
    w->files = NULL;
  }
  /* The hub first: every client, SockJS sessions included, gets 4004
   * "server stopping"; the SockJS endpoint then only frees what is left.
   * The hub waits for its SockJS clients to detach. */
  if (w->hub != NULL)
    eddy_rt_close(w->hub, hub_closed, w);
  if (w->sockjs != NULL)
    eddy_sockjs_close(w->sockjs, sockjs_closed, w);
  finish(w);
}
