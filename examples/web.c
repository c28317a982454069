/* web — serve a directory over HTTP, like `twistd web --path DIR`.
 *
 *   web --path DIR [--port ENDPOINT] [--access-log] [--no-listing]
 *       [--dotfiles] [--max-age SECONDS] [-v]
 *
 * ENDPOINT defaults to tcp:8080:interface=127.0.0.1 (loopback only; say
 * tcp:8080:interface=0.0.0.0 to serve every interface). What it shows:
 *  - eddy_static as the whole application: index files, listings, MIME
 *    types, ETag/Last-Modified with 304s, byte ranges, large files sent in
 *    chunks with backpressure, and no way out of DIR;
 *  - the HTTP server's access log (one line per request);
 *  - a graceful stop on SIGINT/SIGTERM: stop accepting, let transfers in
 *    progress finish (for at most GRACE_MS), then leave with every handle
 *    closed. A second signal exits at once.
 */
#include <eddy/eddy.h>
#include <eddy/http_server.h>
#include <eddy/http_static.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ENDPOINT "tcp:8080:interface=127.0.0.1"
/* Long enough for a big download on a fast link to end. */
#define GRACE_MS 10000

typedef struct {
  eddy_reactor_t *reactor;
  eddy_http_server_t *server;
  eddy_static_t *files;
  int stopping;
} app_t;

/* The server has let its last connection go: nothing can reach the files
 * any more. */
static void server_closed(void *arg) {
  app_t *a = arg;
  eddy_static_free(a->files);
  a->files = NULL;
  a->server = NULL;
}

/* Runs on the loop (not in the signal handler) on the first signal. */
static void stop(void *arg) {
  app_t *a = arg;
  if (a->stopping)
    return;
  a->stopping = 1;
  eddy_log(EDDY_LOG_INFO, "stopping", NULL);
  eddy_http_server_close(a->server, GRACE_MS, server_closed, a);
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: web --path DIR [--port ENDPOINT] [options]\n"
          "Serves the files under DIR over HTTP/1.1.\n\n"
          "  --path DIR         the directory to serve (required)\n"
          "  --port ENDPOINT    where to listen (default " DEFAULT_ENDPOINT
          ")\n"
          "                     tcp:PORT[:interface=ADDR], unix:PATH; tcp:0 "
          "picks\n"
          "                     a free port (see port= in the log)\n"
          "  --access-log       log one line per request\n"
          "  --no-listing       403 for directories without index.html\n"
          "  --dotfiles         serve names starting with '.'\n"
          "  --max-age SECONDS  send Cache-Control: max-age=SECONDS\n"
          "  -v, --verbose      debug logging\n"
          "  -h, --help         show this help\n");
}

/* Logs where we listen in a form scripts can parse (port=N is the real port,
 * also after tcp:0), and tells a human where to point a browser. */
static void announce(const char *endpoint, const char *dir,
                     eddy_listener_t *l) {
  char q1[300], q2[600];
  int port = eddy_listener_port(l);
  eddy_log(EDDY_LOG_INFO, "ready", "endpoint=%s path=%s port=%d",
           eddy_log_quote(q1, sizeof(q1), endpoint),
           eddy_log_quote(q2, sizeof(q2), dir), port);
  if (port > 0)
    printf("serving %s at http://127.0.0.1:%d/\n", dir, port);
  else
    printf("serving %s on %s\n", dir, endpoint);
  fflush(stdout);
}

int main(int argc, char **argv) {
  /* A client that resets the connection while we write must not kill us
   * with SIGPIPE: it is an EPIPE on that one connection. */
  signal(SIGPIPE, SIG_IGN);
  const char *dir = NULL, *endpoint = DEFAULT_ENDPOINT;
  eddy_static_config_t scfg = {0};
  eddy_http_server_config_t hcfg = {0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has_value = i + 1 < argc;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--path") == 0 && has_value) {
      dir = argv[++i];
    } else if (strcmp(a, "--port") == 0 && has_value) {
      endpoint = argv[++i];
    } else if (strcmp(a, "--max-age") == 0 && has_value) {
      char *end;
      unsigned long v = strtoul(argv[++i], &end, 10);
      if (*end != '\0' || argv[i][0] == '\0' || argv[i][0] == '-' ||
          v > UINT32_MAX) {
        fprintf(stderr, "web: --max-age wants seconds, not %s\n", argv[i]);
        return 2;
      }
      scfg.max_age = (uint32_t)v;
    } else if (strcmp(a, "--access-log") == 0) {
      hcfg.access_log = 1;
    } else if (strcmp(a, "--no-listing") == 0) {
      scfg.no_listing = 1;
    } else if (strcmp(a, "--dotfiles") == 0) {
      scfg.dotfiles = 1;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
      eddy_log_set_level(EDDY_LOG_DEBUG);
    } else {
      fprintf(stderr, "web: unknown or incomplete option %s\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (dir == NULL) {
    fprintf(stderr, "web: --path DIR is required\n");
    usage(stderr);
    return 2;
  }

  eddy_reactor_t *r;
  int rc = eddy_reactor_new(&r, 0);
  if (rc != 0) {
    fprintf(stderr, "web: %s\n", eddy_strerror(rc));
    return 1;
  }
  app_t app = {.reactor = r};
  rc = eddy_static_new(r, dir, &scfg, &app.files);
  if (rc != 0) {
    fprintf(stderr, "web: cannot serve %s: %s\n", dir, eddy_strerror(rc));
    eddy_reactor_free(r);
    return 1;
  }
  rc = eddy_http_server_new(r, &hcfg, eddy_static_handler, app.files,
                            &app.server);
  if (rc != 0) {
    fprintf(stderr, "web: %s\n", eddy_strerror(rc));
    eddy_static_free(app.files);
    eddy_reactor_free(r);
    return 1;
  }
  eddy_listener_t *l = NULL;
  /* Binding happens here, so "address in use" or a bad endpoint string is
   * reported at once. */
  rc = eddy_http_server_listen(app.server, endpoint, &l);
  if (rc == 0)
    rc = eddy_stop_on_signals(r, stop, &app);
  if (rc != 0) {
    fprintf(stderr, "web: cannot listen on %s: %s\n", endpoint,
            eddy_strerror(rc));
    eddy_http_server_close(app.server, 0, server_closed, &app);
    eddy_reactor_run(r); /* lets the close finish */
    eddy_reactor_free(r);
    return 1;
  }
  announce(endpoint, dir, l);

  rc = eddy_reactor_run(r);
  /* eddy_reactor_free checks that everything was closed. */
  int left = eddy_reactor_free(r);
  eddy_log(EDDY_LOG_INFO, "stopped", "clean=%s", left == 0 ? "yes" : "no");
  return rc == 0 && left == 0 ? 0 : 1;
}
