/* sockjs-echo — SockJS echo services, the ones the SockJS protocol test
 * suite (sockjs-protocol) and the stock sockjs-client expect:
 *
 *   /echo                     every message comes back
 *   /close                    every session is closed at once (3000 "Go away!")
 *   /disabled_websocket_echo  /echo without the WebSocket transports
 *   /cookie_needed_echo       /echo with the JSESSIONID cookie
 *
 *   sockjs-echo [--listen ENDPOINT] [--response-limit BYTES]
 *               [--disconnect-delay MS] [--heartbeat MS]
 *               [--client-url URL] [--static DIR] [-v]
 *
 * --static DIR serves DIR's files under /static/ (tests put sockjs.min.js
 * there and pass --client-url /static/sockjs.min.js, so the iframe-based
 * transports work without the network). The response limit defaults to
 * 4096 bytes, as the protocol test suite wants; a real server keeps the
 * library's 128 KiB.
 *
 * What it shows: an eddy_sockjs_t per service routed under its prefix,
 * sessions as objects with on_open / on_message / on_close, a graceful
 * stop that closes every session.
 */
#include <eddy/eddy.h>
#include <eddy/http_router.h>
#include <eddy/http_server.h>
#include <eddy/http_static.h>
#include <eddy/sockjs.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ENDPOINT "tcp:8081"
#define GRACE_MS 3000
#define NSERVICES 4

typedef struct server_s server_t;

typedef struct {
  const char *prefix;
  int close_at_once;
  int websocket;
  int jsessionid;
  eddy_sockjs_t *sj;
  server_t *server;
} service_t;

struct server_s {
  eddy_reactor_t *reactor;
  eddy_http_server_t *http;
  eddy_router_t *router;
  eddy_static_t *files;
  service_t services[NSERVICES];
  int open_services;
  int stopping;
};

static void on_open(eddy_sockjs_session_t *s, void *arg) {
  service_t *svc = arg;
  eddy_log(EDDY_LOG_DEBUG, "sockjs.open", "service=%s transport=%s",
           svc->prefix, eddy_sockjs_transport(s));
  if (svc->close_at_once)
    eddy_sockjs_close_session(s, 3000, "Go away!");
}

static void on_message(eddy_sockjs_session_t *s, const char *data, size_t len,
                       void *arg) {
  (void)arg;
  /* eddy_sockjs_send copies; a client that never reads fills its queue and
   * its session is closed with 4008. */
  eddy_sockjs_send(s, data, len);
}

static void on_close(eddy_sockjs_session_t *s, unsigned code,
                     const char *reason, void *arg) {
  service_t *svc = arg;
  char quoted[300];
  eddy_log(EDDY_LOG_DEBUG, "sockjs.close",
           "service=%s transport=%s code=%u "
           "reason=%s",
           svc->prefix, eddy_sockjs_transport(s), code,
           eddy_log_quote(quoted, sizeof(quoted), reason));
}

static const eddy_sockjs_handlers_t handlers = {
    .on_open = on_open,
    .on_message = on_message,
    .on_close = on_close,
};

static void service_closed(void *arg) {
  service_t *svc = arg;
  svc->sj = NULL;
  svc->server->open_services--;
}

static void http_closed(void *arg) {
  server_t *s = arg;
  eddy_router_free(s->router);
  s->router = NULL;
  if (s->files != NULL)
    eddy_static_free(s->files);
  s->files = NULL;
}

static void stop_server(void *arg) {
  server_t *s = arg;
  if (s->stopping)
    return;
  s->stopping = 1;
  eddy_log(EDDY_LOG_INFO, "stopping", "%s", "");
  /* Sessions first (their close frames go out on open streams), then the
   * HTTP server, which waits for the responses still in progress. */
  for (int i = 0; i < NSERVICES; i++)
    if (s->services[i].sj != NULL)
      eddy_sockjs_close(s->services[i].sj, service_closed, &s->services[i]);
  eddy_http_server_close(s->http, GRACE_MS, http_closed, s);
  s->http = NULL;
}

static void usage(void) {
  fprintf(stderr,
          "usage: sockjs-echo [--listen ENDPOINT] [--response-limit BYTES]\n"
          "                   [--disconnect-delay MS] [--heartbeat MS]\n"
          "                   [--client-url URL] [--static DIR] [-v]\n");
}

static int number(const char *s, uint64_t *out) {
  char *end;
  if (s == NULL || *s < '0' || *s > '9')
    return -1;
  unsigned long long v = strtoull(s, &end, 10);
  if (*end != '\0' || v == 0)
    return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  const char *endpoint = DEFAULT_ENDPOINT;
  const char *client_url = NULL;
  const char *static_dir = NULL;
  uint64_t response_limit = 4096, disconnect_delay = 5000, heartbeat = 25000;
  int verbose = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--listen") == 0 && v != NULL) {
      endpoint = v;
      i++;
    } else if (strcmp(a, "--response-limit") == 0) {
      if (number(v, &response_limit) != 0) {
        usage();
        return 2;
      }
      i++;
    } else if (strcmp(a, "--disconnect-delay") == 0) {
      if (number(v, &disconnect_delay) != 0) {
        usage();
        return 2;
      }
      i++;
    } else if (strcmp(a, "--heartbeat") == 0) {
      if (number(v, &heartbeat) != 0) {
        usage();
        return 2;
      }
      i++;
    } else if (strcmp(a, "--client-url") == 0 && v != NULL) {
      client_url = v;
      i++;
    } else if (strcmp(a, "--static") == 0 && v != NULL) {
      static_dir = v;
      i++;
    } else if (strcmp(a, "-v") == 0) {
      verbose = 1;
    } else {
      usage();
      return 2;
    }
  }
  if (verbose)
    eddy_log_set_level(EDDY_LOG_DEBUG);

  eddy_reactor_t *r;
  int rc = eddy_reactor_new(&r, 0);
  if (rc != 0) {
    fprintf(stderr, "sockjs-echo: %s\n", eddy_strerror(rc));
    return 1;
  }
  server_t s;
  memset(&s, 0, sizeof(s));
  s.reactor = r;
  const service_t specs[NSERVICES] = {
      {"/echo", 0, 1, 0, NULL, NULL},
      {"/close", 1, 1, 0, NULL, NULL},
      {"/disabled_websocket_echo", 0, 0, 0, NULL, NULL},
      {"/cookie_needed_echo", 0, 1, 1, NULL, NULL},
  };
  rc = eddy_router_new(NULL, &s.router);
  for (int i = 0; rc == 0 && i < NSERVICES; i++) {
    service_t *svc = &s.services[i];
    *svc = specs[i];
    svc->server = &s;
    eddy_sockjs_config_t cfg;
    eddy_sockjs_config_init(&cfg);
    cfg.prefix = svc->prefix;
    cfg.websocket = svc->websocket;
    cfg.jsessionid = svc->jsessionid;
    cfg.response_limit = (size_t)response_limit;
    cfg.disconnect_delay_ms = disconnect_delay;
    cfg.heartbeat_ms = heartbeat;
    if (client_url != NULL)
      cfg.client_url = client_url;
    rc = eddy_sockjs_new(r, &cfg, &handlers, svc, &svc->sj);
    if (rc != 0)
      break;
    s.open_services++;
    char pattern[128];
    snprintf(pattern, sizeof(pattern), "%s/*path", svc->prefix);
    rc = eddy_router_add(s.router, "*", svc->prefix, eddy_sockjs_handler,
                         svc->sj);
    if (rc == 0)
      rc =
          eddy_router_add(s.router, "*", pattern, eddy_sockjs_handler, svc->sj);
  }
  if (rc == 0 && static_dir != NULL) {
    rc = eddy_static_new(r, static_dir, NULL, &s.files);
    if (rc == 0)
      rc = eddy_router_add(s.router, "GET", "/static/*path",
                           eddy_static_handler, s.files);
  }
  eddy_listener_t *l = NULL;
  if (rc == 0)
    rc = eddy_http_server_new(r, NULL, eddy_router_handler, s.router, &s.http);
  if (rc == 0)
    rc = eddy_http_server_listen(s.http, endpoint, &l);
  if (rc == 0)
    rc = eddy_stop_on_signals(r, stop_server, &s);
  if (rc != 0) {
    fprintf(stderr, "sockjs-echo: cannot start on %s: %s\n", endpoint,
            eddy_strerror(rc));
    s.stopping = 0;
    if (s.http != NULL) {
      stop_server(&s);
    } else {
      for (int i = 0; i < NSERVICES; i++)
        if (s.services[i].sj != NULL)
          eddy_sockjs_close(s.services[i].sj, NULL, NULL);
      http_closed(&s);
    }
    eddy_reactor_run(r);
    eddy_reactor_free(r);
    return 1;
  }
  char quoted[300];
  eddy_log(EDDY_LOG_INFO, "ready", "endpoint=%s port=%d",
           eddy_log_quote(quoted, sizeof(quoted), endpoint),
           eddy_listener_port(l));
  printf("SockJS echo on port %d: /echo /close /disabled_websocket_echo "
         "/cookie_needed_echo\n",
         eddy_listener_port(l));
  fflush(stdout);
  rc = eddy_reactor_run(r);
  int left = eddy_reactor_free(r);
  eddy_log(EDDY_LOG_INFO, "stopped", "clean=%s", left == 0 ? "yes" : "no");
  return rc == 0 && left == 0 ? 0 : 1;
}
