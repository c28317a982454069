/* realtime-hub — the real-time hub on an HTTP server: browsers (or any
 * WebSocket client) connect to /connect/websocket and speak the JSON
 * protocol of docs/protocol/realtime.md.
 *
 *   realtime-hub [--listen ENDPOINT] [--namespace SPEC]... [options]
 *
 * Without --namespace only the default namespace (channels without ':')
 * exists, with eddy_rt_namespace_init's defaults. Example:
 *
 *   realtime-hub --listen tcp:8000 --namespace "chat history=50 publish=yes"
 *
 * then from a WebSocket client: {"op":"subscribe","channel":"chat:lobby"}
 * and {"op":"publish","channel":"chat:lobby","data":{"text":"hi"}}.
 *
 * What it shows: the hub is a library object (eddy_rt_new) and its
 * WebSocket endpoint is one HTTP handler (eddy_rt_ws_handler); stopping
 * closes every client with 4004 before the server goes.
 */
#include <eddy/eddy.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ENDPOINT "tcp:8000"
#define PATH "/connect/websocket"
#define GRACE_MS 3000
#define MAX_ORIGINS 16

typedef struct {
  eddy_reactor_t *reactor;
  eddy_http_server_t *http;
  eddy_rt_t *hub;
} app_t;

static void handle(eddy_http_request_t *req, void *arg) {
  app_t *app = arg;
  if (strcmp(eddy_http_path(req), PATH) == 0) {
    eddy_rt_ws_handler(req, app->hub);
    return;
  }
  eddy_http_respond_error(req, 404, "the hub is at " PATH);
}

static void hub_closed(void *arg) {
  app_t *app = arg;
  eddy_http_server_close(app->http, GRACE_MS, NULL, NULL);
}

static void stop(void *arg) {
  app_t *app = arg;
  /* The hub first: its clients get 4004 "server stopping" while the HTTP
   * server still carries their connections. */
  eddy_rt_close(app->hub, hub_closed, app);
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: realtime-hub [--listen ENDPOINT] [--namespace SPEC]... "
          "[options]\n"
          "A real-time hub: WebSocket clients connect to " PATH ".\n\n"
          "  --listen ENDPOINT       where to listen (default " DEFAULT_ENDPOINT
          ");\n"
          "                          tcp:0 picks a free port\n"
          "  --namespace SPEC        a namespace, e.g. \"chat history=50 "
          "ttl=10m\n"
          "                          presence=yes join_leave=yes "
          "publish=yes\" (repeatable)\n"
          "  --secret SECRET         require a connect with a token signed "
          "by SECRET\n"
          "  --origin ORIGIN         an Origin browsers may connect from "
          "(repeatable;\n"
          "                          default: any)\n"
          "  --max-send-queue BYTES  bytes queued to one client before it "
          "is closed (4008)\n"
          "  --max-subscriptions N   channels one client may subscribe to\n"
          "  --max-message BYTES     largest client message\n"
          "  --ping-interval MS      WebSocket pings (0: none)\n"
          "  --pong-timeout MS       how long a pong may take\n"
          "  -v, --verbose           debug logging\n"
          "  -h, --help              show this help\n"
          "Prints \"listening on PORT\" once it listens.\n");
}

static int number(const char *s, unsigned long long *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
    return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  const char *endpoint = DEFAULT_ENDPOINT;
  static eddy_rt_namespace_t namespaces[EDDY_RT_MAX_NAMESPACES];
  size_t nns = 0;
  static const char *origins[MAX_ORIGINS + 1];
  size_t norigins = 0;
  eddy_rt_opts_t o;
  eddy_rt_opts_init(&o);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has_value = i + 1 < argc;
    unsigned long long v = 0;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
      eddy_log_set_level(EDDY_LOG_DEBUG);
    } else if (strcmp(a, "--listen") == 0 && has_value) {
      endpoint = argv[++i];
    } else if (strcmp(a, "--namespace") == 0 && has_value) {
      char err[160];
      if (nns == EDDY_RT_MAX_NAMESPACES) {
        fprintf(stderr, "realtime-hub: at most %d namespaces\n",
                EDDY_RT_MAX_NAMESPACES);
        return 2;
      }
      if (eddy_rt_namespace_parse(argv[++i], &namespaces[nns], err,
                                  sizeof(err)) != 0) {
        fprintf(stderr, "realtime-hub: --namespace: %s\n", err);
        return 2;
      }
      nns++;
    } else if (strcmp(a, "--secret") == 0 && has_value) {
      o.secret = argv[++i];
    } else if (strcmp(a, "--origin") == 0 && has_value) {
      if (norigins == MAX_ORIGINS) {
        fprintf(stderr, "realtime-hub: at most %d origins\n", MAX_ORIGINS);
        return 2;
      }
      origins[norigins++] = argv[++i];
      o.origins = origins;
    } else if ((strcmp(a, "--max-send-queue") == 0 ||
                strcmp(a, "--max-subscriptions") == 0 ||
                strcmp(a, "--max-message") == 0 ||
                strcmp(a, "--ping-interval") == 0 ||
                strcmp(a, "--pong-timeout") == 0) &&
               has_value) {
      if (number(argv[++i], &v) != 0) {
        fprintf(stderr, "realtime-hub: %s needs a number\n", a);
        return 2;
      }
      if (strcmp(a, "--max-send-queue") == 0)
        o.max_send_queue = (size_t)v;
      else if (strcmp(a, "--max-subscriptions") == 0)
        o.max_subscriptions = (size_t)v;
      else if (strcmp(a, "--max-message") == 0)
        o.max_message = (size_t)v;
      else if (strcmp(a, "--ping-interval") == 0)
        o.ping_interval_ms = v;
      else
        o.pong_timeout_ms = v;
    } else {
      usage(stderr);
      return 2;
    }
  }
  o.namespaces = namespaces;
  o.namespace_count = nns;

  app_t app = {0};
  int rc = eddy_reactor_new(&app.reactor, 0);
  if (rc == 0)
    rc = eddy_rt_new(app.reactor, &o, &app.hub);
  if (rc != 0) {
    fprintf(stderr, "realtime-hub: %s\n", eddy_strerror(rc));
    return 1;
  }
  /* WebSocket connections keep counting against the HTTP server's
   * connection limit after the upgrade: room for the hub's clients. */
  eddy_http_server_config_t hc = {.max_connections = o.max_clients};
  rc = eddy_http_server_new(app.reactor, &hc, handle, &app, &app.http);
  eddy_listener_t *l = NULL;
  if (rc == 0)
    rc = eddy_http_server_listen(app.http, endpoint, &l);
  if (rc == 0)
    rc = eddy_stop_on_signals(app.reactor, stop, &app);
  if (rc != 0) {
    fprintf(stderr, "realtime-hub: %s: %s\n", endpoint, eddy_strerror(rc));
    return 1;
  }
  eddy_log(EDDY_LOG_INFO, "ready", "path=%s port=%d", PATH,
           eddy_listener_port(l));
  printf("listening on %d\n", eddy_listener_port(l));
  fflush(stdout);
  rc = eddy_reactor_run(app.reactor);
  eddy_reactor_free(app.reactor);
  return rc == 0 ? 0 : 1;
}
