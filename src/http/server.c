/* server.c — the HTTP server object: configuration, listeners, the
 * connection limit, statistics and the graceful stop (eddy/http_server.h).
 *
 * The server counts what is alive — HTTP connections, connections handed
 * to another protocol, listeners being closed, requests a handler has not
 * finished — and a closing server frees itself only once all of them are
 * gone, so nothing can call back into freed memory. */
#include <stdlib.h>
#include <string.h>

#include "eddy/endpoint.h"
#include "eddy/log.h"
#include "eddy/version.h"
#include "http_internal.h"
#include "server_internal.h"

#define MAX_LISTENERS 64u
#define MAX_SERVER_NAME 256u

/* A connection given to another protocol (WebSocket): counted until it
 * closes, and aborted if a stop's grace period ends first. */
struct eddy__http_tracker_s {
  eddy_http_server_t *server;
  eddy_transport_t *t;
  eddy__http_tracker_t *prev, *next;
};

static eddy_protocol_t *build_protocol(eddy_factory_t *f,
                                       const eddy_addr_t *peer) {
  eddy_http_server_t *s = f->data;
  if (s->closing)
    return NULL;
  if (s->nconns >= s->cfg.max_connections) {
    s->stats.connections_refused++;
    /* One line per refusal would let a flood fill the log. */
    if ((s->stats.connections_refused & (s->stats.connections_refused - 1)) ==
        0)
      eddy_log(EDDY_LOG_WARN, "http.connection_refused",
               "open=%zu refused=%llu", s->nconns,
               (unsigned long long)s->stats.connections_refused);
    return NULL;
  }
  return eddy__http_conn_new(s, peer);
}

/* ---- Metrics ------------------------------------------------------------- */

static double gauge_connections(void *arg) {
  return (double)((eddy_http_server_t *)arg)->nconns;
}

static void metrics_register(eddy_http_server_t *s, eddy_metrics_t *m) {
  static const char *classes[5] = {"code=\"1xx\"", "code=\"2xx\"",
                                   "code=\"3xx\"", "code=\"4xx\"",
                                   "code=\"5xx\""};
  eddy_metrics_gauge_fn(m, "eddy_http_connections", NULL,
                        "Open HTTP connections (upgraded ones included).",
                        gauge_connections, s);
  for (size_t i = 0; i < 5; i++)
    s->metrics.requests[i] = eddy_metrics_counter(
        m, "eddy_http_requests_total", classes[i],
        "HTTP responses by status class (the server's own errors too).");
  s->metrics.duration = eddy_metrics_histogram(
      m, "eddy_http_request_duration_seconds", NULL,
      "Time from a request's head parsed to its response finished.", 1e6);
}

void eddy__http_server_count(eddy_http_server_t *s, int status,
                             const eddy_http_request_t *req) {
  if (status >= 100 && status < 600)
    eddy_counter_inc(s->metrics.requests[status / 100 - 1]);
  if (req != NULL && s->metrics.duration != NULL)
    eddy_histogram_observe(s->metrics.duration,
                           eddy_metrics_now_us(s->reactor) - req->head_us);
}

static int printable(const char *s) {
  for (; *s != '\0'; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
      return 0;
  return 1;
}

int eddy_http_server_new(eddy_reactor_t *r,
                         const eddy_http_server_config_t *cfg,
                         eddy_http_handler_cb handler, void *arg,
                         eddy_http_server_t **out) {
  if (out != NULL)
    *out = NULL;
  if (r == NULL || handler == NULL || out == NULL)
    return UV_EINVAL;
  eddy_http_server_config_t c;
  if (cfg != NULL)
    c = *cfg;
  else
    memset(&c, 0, sizeof(c));
  const char *name = c.server_name;
  if (name != NULL && (strlen(name) > MAX_SERVER_NAME || !printable(name)))
    return UV_EINVAL;
  eddy_http_server_t *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return UV_ENOMEM;
  if (c.max_connections == 0)
    c.max_connections = EDDY_HTTP_MAX_CONNECTIONS_DEFAULT;
  if (c.header_timeout_ms == 0)
    c.header_timeout_ms = EDDY_HTTP_HEADER_TIMEOUT_DEFAULT;
  if (c.body_timeout_ms == 0)
    c.body_timeout_ms = EDDY_HTTP_BODY_TIMEOUT_DEFAULT;
  if (c.idle_timeout_ms == 0)
    c.idle_timeout_ms = EDDY_HTTP_IDLE_TIMEOUT_DEFAULT;
  if (c.max_pipeline == 0)
    c.max_pipeline = EDDY_HTTP_MAX_PIPELINE_DEFAULT;
  c.server_name = NULL; /* copied into server_line */
  eddy__http_limits_fill(&s->limits, &c.limits);
  c.limits = s->limits;
  s->cfg = c;
  s->reactor = r;
  s->handler = handler;
  s->arg = arg;
  s->factory.build_protocol = build_protocol;
  s->factory.data = s;
  if (name == NULL)
    name = "eddy/" EDDY_VERSION_STRING;
  if (name[0] != '\0') {
    size_t n = strlen(name);
    s->server_line = malloc(n + 11);
    if (s->server_line == NULL) {
      free(s);
      return UV_ENOMEM;
    }
    memcpy(s->server_line, "Server: ", 8);
    memcpy(s->server_line + 8, name, n);
    memcpy(s->server_line + 8 + n, "\r\n", 3);
    s->server_line_len = n + 10;
  }
  s->scratch_cap = s->limits.max_headers;
  s->scratch = malloc(s->scratch_cap * sizeof(*s->scratch));
  if (s->scratch == NULL) {
    free(s->server_line);
    free(s);
    return UV_ENOMEM;
  }
  eddy_timer_init(r, &s->grace);
  s->grace.data = s;
  if (c.metrics != NULL)
    metrics_register(s, c.metrics);
  *out = s;
  return 0;
}

int eddy_http_server_listen(eddy_http_server_t *s, const char *endpoint,
                            eddy_listener_t **out) {
  if (out != NULL)
    *out = NULL;
  if (s == NULL || endpoint == NULL || s->closing)
    return UV_EINVAL;
  if (s->nlisteners >= MAX_LISTENERS)
    return UV_ENOBUFS;
  eddy_listener_t **grown =
      realloc(s->listeners, (s->nlisteners + 1) * sizeof(*grown));
  if (grown == NULL)
    return UV_ENOMEM;
  s->listeners = grown;
  eddy_listener_t *l;
  int rc = eddy_listen(s->reactor, endpoint, &s->factory, &l);
  if (rc != 0)
    return rc;
  s->listeners[s->nlisteners++] = l;
  if (out != NULL)
    *out = l;
  return 0;
}

eddy_factory_t *eddy_http_server_factory(eddy_http_server_t *s) {
  return &s->factory;
}

void eddy_http_server_stats(const eddy_http_server_t *s,
                            eddy_http_server_stats_t *out) {
  *out = s->stats;
  out->connections = s->nconns;
}

/* ---- Switched connections ------------------------------------------------ */

static void tracker_lost(eddy_protocol_t *p, int reason, void *arg) {
  (void)reason;
  eddy__http_tracker_t *tk = arg;
  eddy_http_server_t *s = tk->server;
  p->lost_hook = NULL;
  p->lost_hook_arg = NULL;
  if (tk->prev != NULL)
    tk->prev->next = tk->next;
  else
    s->upgraded = tk->next;
  if (tk->next != NULL)
    tk->next->prev = tk->prev;
  free(tk);
  s->nconns--;
  eddy__http_server_check_done(s);
}

void eddy__http_server_track_upgrade(eddy_http_server_t *s, eddy_protocol_t *p,
                                     eddy_transport_t *t) {
  eddy__http_tracker_t *tk = NULL;
  if (p->lost_hook == NULL)
    tk = malloc(sizeof(*tk));
  if (tk == NULL) {
    /* Cannot watch it: stop counting it now rather than forever. */
    s->nconns--;
    return;
  }
  tk->server = s;
  tk->t = t;
  tk->prev = NULL;
  tk->next = s->upgraded;
  if (s->upgraded != NULL)
    s->upgraded->prev = tk;
  s->upgraded = tk;
  p->lost_hook = tracker_lost;
  p->lost_hook_arg = tk;
}

/* ---- Stopping ------------------------------------------------------------ */

static void finish_close(void *arg) {
  eddy_http_server_t *s = arg;
  if (s->nconns != 0 || s->listeners_closing != 0 || s->live_requests != 0)
    return; /* something came back meanwhile; its end calls again */
  eddy_timer_stop(&s->grace);
  eddy_metrics_forget(s->cfg.metrics, s);
  if (s->done != NULL)
    s->done(s->done_arg);
  free(s->listeners);
  free(s->scratch);
  free(s->server_line);
  free(s);
}

void eddy__http_server_check_done(eddy_http_server_t *s) {
  if (s->closing && s->nconns == 0 && s->listeners_closing == 0 &&
      s->live_requests == 0)
    eddy__reactor_soon(s->reactor, &s->check_soon, finish_close, s);
}

static void listener_closed(void *arg) {
  eddy_http_server_t *s = arg;
  s->listeners_closing--;
  eddy__http_server_check_done(s);
}

static void abort_all(eddy_http_server_t *s) {
  for (eddy__http_conn_t *c = s->conns; c != NULL; c = c->next)
    if (!c->lost && c->t != NULL)
      eddy_transport_abort_connection(c->t);
  for (eddy__http_tracker_t *tk = s->upgraded; tk != NULL; tk = tk->next)
    if (tk->t != NULL)
      eddy_transport_abort_connection(tk->t);
}

static void grace_expired(eddy_timer_t *t) {
  eddy_http_server_t *s = t->data;
  eddy_log(EDDY_LOG_WARN, "http.stop_forced", "connections=%zu", s->nconns);
  abort_all(s);
}

void eddy_http_server_close(eddy_http_server_t *s, uint64_t grace_ms,
                            eddy_call_cb done, void *arg) {
  if (s == NULL || s->closing)
    return;
  s->closing = 1;
  s->done = done;
  s->done_arg = arg;
  for (size_t i = 0; i < s->nlisteners; i++) {
    s->listeners_closing++;
    eddy_listener_close(s->listeners[i], listener_closed, s);
  }
  s->nlisteners = 0;
  /* Closing never delivers connection_lost from inside this call, so the
   * list stays intact while it is walked. */
  for (eddy__http_conn_t *c = s->conns; c != NULL; c = c->next)
    eddy__http_conn_shutdown(c);
  if (grace_ms == 0)
    abort_all(s);
  else if (s->nconns > 0)
    eddy_timer_start(&s->grace, grace_ms, grace_expired);
  eddy__http_server_check_done(s);
}
