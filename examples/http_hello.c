/* http-hello — the smallest HTTP server on libeddy, and the one the
 * benchmarks run:
 *
 *   GET /plaintext  ->  "Hello, World!" (text/plain)
 *   GET /json       ->  {"message":"Hello, World!"} (application/json)
 *   anything else   ->  404
 *
 *   http-hello [--port ENDPOINT] [--idle-timeout MS] [--max-connections N]
 *              [--access-log] [-v]
 *
 * What it shows: a handler answering at once, the server's limits, and a
 * graceful stop on SIGINT/SIGTERM (requests in flight finish, then it exits
 * with every handle closed). */
#include <eddy/eddy.h>
#include <eddy/http_server.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ENDPOINT "tcp:8080:interface=127.0.0.1"
#define GRACE_MS 3000

static const char plaintext[] = "Hello, World!";
static const char json[] = "{\"message\":\"Hello, World!\"}";

static void hello(eddy_http_request_t *req, void *arg) {
  (void)arg;
  const char *method = eddy_http_method(req);
  int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
  const char *path = eddy_http_path(req);
  if (get && strcmp(path, "/plaintext") == 0)
    eddy_http_respond(req, 200, "text/plain", plaintext, sizeof(plaintext) - 1);
  else if (get && strcmp(path, "/json") == 0)
    eddy_http_respond(req, 200, "application/json", json, sizeof(json) - 1);
  else
    eddy_http_respond_error(req, 404, NULL);
}

typedef struct {
  eddy_http_server_t *server;
  int stopping;
} app_t;

static void stopped(void *arg) {
  (void)arg;
  eddy_log(EDDY_LOG_INFO, "stopped", NULL);
}

/* On the loop, after the first SIGINT/SIGTERM. */
static void stop(void *arg) {
  app_t *app = arg;
  if (app->stopping)
    return;
  app->stopping = 1;
  eddy_log(EDDY_LOG_INFO, "stopping", NULL);
  eddy_http_server_close(app->server, GRACE_MS, stopped, app);
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: http-hello [--port ENDPOINT] [--idle-timeout MS]\n"
          "                  [--max-connections N] [--access-log] [-v]\n"
          "Answers GET /plaintext and GET /json; 404 otherwise.\n\n"
          "  --port ENDPOINT      where to listen (default " DEFAULT_ENDPOINT
          ")\n"
          "                       tcp:0 picks a free port (see port= in the "
          "log)\n"
          "  --idle-timeout MS    close idle keep-alive connections after MS\n"
          "  --max-connections N  refuse connections beyond N\n"
          "  --access-log         log every request\n"
          "  -v, --verbose        debug logging\n"
          "  -h, --help           show this help\n");
}

/* A positive integer option value, or -1. */
static long long number(const char *s) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v <= 0)
    return -1;
  return v;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  const char *endpoint = DEFAULT_ENDPOINT;
  eddy_http_server_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has_value = i + 1 < argc;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
      eddy_log_set_level(EDDY_LOG_DEBUG);
    } else if (strcmp(a, "--access-log") == 0) {
      cfg.access_log = 1;
    } else if (strcmp(a, "--port") == 0 && has_value) {
      endpoint = argv[++i];
    } else if (strcmp(a, "--idle-timeout") == 0 && has_value) {
      long long v = number(argv[++i]);
      if (v < 0) {
        fprintf(stderr, "http-hello: --idle-timeout wants milliseconds > 0\n");
        return 2;
      }
      cfg.idle_timeout_ms = (uint64_t)v;
    } else if (strcmp(a, "--max-connections") == 0 && has_value) {
      long long v = number(argv[++i]);
      if (v < 0) {
        fprintf(stderr, "http-hello: --max-connections wants a number > 0\n");
        return 2;
      }
      cfg.max_connections = (size_t)v;
    } else {
      usage(stderr);
      return 2;
    }
  }

  eddy_reactor_t *r;
  int rc = eddy_reactor_new(&r, 0);
  if (rc != 0) {
    fprintf(stderr, "http-hello: %s\n", eddy_strerror(rc));
    return 1;
  }
  app_t app = {0};
  rc = eddy_http_server_new(r, &cfg, hello, &app, &app.server);
  eddy_listener_t *l = NULL;
  if (rc == 0)
    rc = eddy_http_server_listen(app.server, endpoint, &l);
  if (rc == 0)
    rc = eddy_stop_on_signals(r, stop, &app);
  if (rc != 0) {
    fprintf(stderr, "http-hello: cannot listen on %s: %s\n", endpoint,
            eddy_strerror(rc));
    if (app.server != NULL)
      eddy_http_server_close(app.server, 0, NULL, NULL);
    eddy_reactor_run(r);
    eddy_reactor_free(r);
    return 1;
  }
  char quoted[300];
  eddy_log(EDDY_LOG_INFO, "ready", "endpoint=%s port=%d",
           eddy_log_quote(quoted, sizeof(quoted), endpoint),
           eddy_listener_port(l));
  printf("try: curl http://127.0.0.1:%d/plaintext\n", eddy_listener_port(l));
  fflush(stdout);

  rc = eddy_reactor_run(r);
  int left = eddy_reactor_free(r);
  return rc == 0 && left == 0 ? 0 : 1;
}
