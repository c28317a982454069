/* http-proxy — fetches the URL given as a parameter and streams it back:
 *
 *   GET /?url=http://example.com/page  ->  the upstream's status,
 *                                          Content-Type and body
 *
 *   http-proxy [--port ENDPOINT] [--timeout MS] [--max-per-host N] [-v]
 *
 * What it shows: the HTTP client (eddy/http_client.h) and the server
 * (eddy/http_server.h) joined with backpressure: the upstream body is
 * written to our client piece by piece as it arrives; when our client reads
 * slower than the upstream sends, reading from the upstream pauses until
 * the server's write buffer drains, so memory stays bounded whatever the
 * sizes. A client that goes away cancels its upstream request.
 *
 * Upstream redirects are followed (up to 5). Errors: 400 for a missing or
 * bad url parameter (only http:// is
 * fetched), 502 with a one-line explanation when the upstream cannot be
 * reached, times out or answers garbage. Listening defaults to loopback:
 * an open proxy on a public interface would serve anyone.
 */
#include <eddy/eddy.h>
#include <eddy/http_client.h>
#include <eddy/http_form.h>
#include <eddy/http_server.h>
#include <eddy/url.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ENDPOINT "tcp:8080:interface=127.0.0.1"
#define GRACE_MS 3000
/* Upstream redirects are followed (the final answer is streamed). */
#define MAX_REDIRECTS 5

typedef struct {
  eddy_http_server_t *server;
  eddy_http_client_t *client;
  int stopping;
} app_t;

/* One proxied request. Freed once the server request is finished AND the
 * upstream deferred has fired, whichever comes last. */
typedef struct {
  eddy_http_request_t *req; /* NULL once finished */
  eddy_deferred_t *d;       /* the upstream request, until it fires */
  eddy_http_response_t *up; /* valid while d has not fired */
  int paused;
  int head_applied;
  int gone; /* our client went away */
} fetch_t;

static void fetch_maybe_free(fetch_t *f) {
  if (f->req == NULL && f->d == NULL) {
    free(f);
  }
}

static void finish_req(fetch_t *f) {
  if (f->req == NULL)
    return;
  eddy_http_on_writable(f->req, NULL, NULL);
  eddy_http_finish(f->req);
  f->req = NULL;
}

static void up_head(eddy_http_response_t *up, void *arg) {
  fetch_t *f = arg;
  f->up = up;
}

/* Our status and Content-Type become the upstream's. Applied with the
 * first byte of body (or at the end), not at the upstream's head, so a
 * failure before any byte can still be answered with a clean 502. */
static void apply_head(fetch_t *f, const eddy_http_response_t *up) {
  if (f->head_applied || f->req == NULL)
    return;
  f->head_applied = 1;
  eddy_http_set_status(f->req, up->status, up->reason[0] ? up->reason : NULL);
  const char *type = eddy_http_response_header(up, "Content-Type");
  if (type != NULL)
    eddy_http_set_header(f->req, "Content-Type", type);
  /* A known length passes through, so our client sees no chunking. */
  const char *len = eddy_http_response_header(up, "Content-Length");
  if (len != NULL)
    eddy_http_set_header(f->req, "Content-Length", len);
}

static void drained(eddy_http_request_t *req, void *arg) {
  (void)req;
  fetch_t *f = arg;
  if (f->paused && f->d != NULL) {
    f->paused = 0;
    eddy_http_response_resume(f->up);
  }
}

static int up_body(eddy_http_response_t *up, const char *data, size_t len,
                   void *arg) {
  fetch_t *f = arg;
  if (f->req == NULL)
    return UV_ECANCELED;
  apply_head(f, up);
  int rc = eddy_http_write(f->req, data, len);
  if (rc < 0)
    return rc; /* our client is gone: stop the upstream too */
  if (!eddy_http_writable(f->req) && !f->paused) {
    f->paused = 1;
    eddy_http_response_pause(up);
    eddy_http_on_writable(f->req, drained, f);
  }
  return 0;
}

/* The response (head only: the body was streamed) stays owned by res and
 * is freed with the deferred. */
static void up_done(eddy_result_t *res, void *arg) {
  fetch_t *f = arg;
  f->d = NULL;
  f->up = NULL;
  apply_head(f, res->value); /* an empty body wrote nothing */
  finish_req(f);
  fetch_maybe_free(f);
}

static void up_failed(eddy_result_t *res, void *arg) {
  fetch_t *f = arg;
  f->d = NULL;
  f->up = NULL;
  const char *msg = eddy_result_message(res);
  eddy_log(EDDY_LOG_INFO, "upstream.failed", "error=%s",
           eddy_err_name(res->err));
  if (f->req != NULL && !f->gone && !eddy_http_head_sent(f->req)) {
    char text[1200];
    snprintf(text, sizeof(text), "upstream failed: %s\n", msg);
    eddy_http_respond(f->req, 502, "text/plain; charset=utf-8", text,
                      strlen(text));
    f->req = NULL;
  } else if (f->req != NULL) {
    /* The head is out: give the response up, so our client sees it cut
     * (a reset, no last chunk) rather than a body that looks complete. */
    eddy_http_on_writable(f->req, NULL, NULL);
    eddy_http_abort(f->req);
    f->req = NULL;
  }
  eddy_result_recover(res);
  fetch_maybe_free(f);
}

static void client_gone(eddy_http_request_t *req, int reason, void *arg) {
  (void)req;
  (void)reason;
  fetch_t *f = arg;
  f->gone = 1;
  if (f->d != NULL)
    eddy_deferred_cancel(f->d); /* up_failed then finishes the request */
  else
    finish_req(f);
}

static void bad_request(eddy_http_request_t *req, const char *what,
                        const char *detail) {
  char text[512];
  snprintf(text, sizeof(text), "%s%s\n", what, detail);
  eddy_http_respond(req, 400, "text/plain; charset=utf-8", text, strlen(text));
}

static void handle(eddy_http_request_t *req, void *arg) {
  app_t *app = arg;
  const char *method = eddy_http_method(req);
  if (strcmp(method, "GET") != 0) {
    eddy_http_set_header(req, "Allow", "GET");
    eddy_http_respond_error(req, 405, NULL);
    return;
  }
  if (strcmp(eddy_http_path(req), "/") != 0) {
    eddy_http_respond_error(req, 404, "try /?url=http://...");
    return;
  }
  eddy_form_t *q;
  eddy_form_error_t ferr;
  if (eddy_http_query_form(req, NULL, &q, &ferr) != 0) {
    eddy_http_respond_error(req, ferr.status, ferr.text);
    return;
  }
  const char *url = eddy_form_get(q, "url", NULL);
  if (url == NULL || url[0] == '\0') {
    bad_request(req, "missing the url parameter: try /?url=http://...", "");
    eddy_form_free(q);
    return;
  }
  eddy_url_t u;
  eddy_url_error_t uerr;
  int rc = eddy_url_parse(url, strlen(url), 0, &u, &uerr);
  if (rc == 0 && u.scheme != EDDY_URL_HTTP) {
    snprintf(uerr.message, sizeof(uerr.message), "only http:// is fetched");
    rc = UV_EINVAL;
  }
  if (rc != 0) {
    bad_request(req, "bad url: ", uerr.message);
    eddy_form_free(q);
    return;
  }
  fetch_t *f = calloc(1, sizeof(*f));
  if (f == NULL) {
    eddy_form_free(q);
    eddy_http_respond_error(req, 500, "out of memory");
    return;
  }
  f->req = req;
  eddy_http_client_req_t o = {.url = url,
                              .max_redirects = MAX_REDIRECTS,
                              .on_head = up_head,
                              .on_body = up_body,
                              .arg = f};
  f->d = eddy_http_client_request(app->client, &o); /* o is copied */
  eddy_form_free(q);
  if (f->d == NULL) {
    free(f);
    eddy_http_respond_error(req, 500, "out of memory");
    return;
  }
  eddy_http_on_close(req, client_gone, f);
  eddy_deferred_add_callbacks(f->d, up_done, up_failed, f);
}

/* ---- Start and stop
 * ---------------------------------------------------------- */

static void client_closed(void *arg) {
  (void)arg;
  eddy_log(EDDY_LOG_INFO, "stopped", NULL);
}

/* The server let its requests finish: now the pooled connections go. */
static void server_closed(void *arg) {
  app_t *app = arg;
  eddy_http_client_close(app->client, client_closed, app);
}

static void stop(void *arg) {
  app_t *app = arg;
  if (app->stopping)
    return;
  app->stopping = 1;
  eddy_log(EDDY_LOG_INFO, "stopping", NULL);
  eddy_http_server_close(app->server, GRACE_MS, server_closed, app);
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: http-proxy [--port ENDPOINT] [--timeout MS] "
          "[--max-per-host N] [-v]\n"
          "Fetches GET /?url=http://... and streams the answer back.\n\n"
          "  --port ENDPOINT     where to listen (default " DEFAULT_ENDPOINT
          ")\n"
          "                      tcp:0 picks a free port (see port= in the "
          "log)\n"
          "  --timeout MS        upstream response timeout (default 30000)\n"
          "  --max-per-host N    connections to one upstream (default 8)\n"
          "  -v, --verbose       debug logging\n"
          "  -h, --help          show this help\n");
}

static long long number(const char *s) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v <= 0 || v > 86400000)
    return -1;
  return v;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  const char *endpoint = DEFAULT_ENDPOINT;
  eddy_http_client_config_t ccfg;
  memset(&ccfg, 0, sizeof(ccfg));
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has_value = i + 1 < argc;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
      eddy_log_set_level(EDDY_LOG_DEBUG);
    } else if (strcmp(a, "--port") == 0 && has_value) {
      endpoint = argv[++i];
    } else if (strcmp(a, "--timeout") == 0 && has_value) {
      long long v = number(argv[++i]);
      if (v < 0) {
        fprintf(stderr, "http-proxy: --timeout wants milliseconds > 0\n");
        return 2;
      }
      ccfg.response_timeout_ms = (uint64_t)v;
      ccfg.read_timeout_ms = (uint64_t)v;
    } else if (strcmp(a, "--max-per-host") == 0 && has_value) {
      long long v = number(argv[++i]);
      if (v < 0 || v > 10000) {
        fprintf(stderr, "http-proxy: --max-per-host wants 1..10000\n");
        return 2;
      }
      ccfg.max_per_host = (size_t)v;
    } else {
      usage(stderr);
      return 2;
    }
  }

  eddy_reactor_t *r;
  int rc = eddy_reactor_new(&r, 0);
  if (rc != 0) {
    fprintf(stderr, "http-proxy: %s\n", eddy_strerror(rc));
    return 1;
  }
  app_t app = {0};
  rc = eddy_http_client_new(r, &ccfg, &app.client);
  if (rc != 0) {
    fprintf(stderr, "http-proxy: %s\n", eddy_strerror(rc));
    eddy_reactor_free(r);
    return 1;
  }
  rc = eddy_http_server_new(r, NULL, handle, &app, &app.server);
  eddy_listener_t *l = NULL;
  if (rc == 0)
    rc = eddy_http_server_listen(app.server, endpoint, &l);
  if (rc == 0)
    rc = eddy_stop_on_signals(r, stop, &app);
  if (rc != 0) {
    fprintf(stderr, "http-proxy: cannot listen on %s: %s\n", endpoint,
            eddy_strerror(rc));
    if (app.server != NULL)
      eddy_http_server_close(app.server, 0, NULL, NULL);
    eddy_http_client_close(app.client, NULL, NULL);
    eddy_reactor_run(r);
    eddy_reactor_free(r);
    return 1;
  }
  char quoted[300];
  eddy_log(EDDY_LOG_INFO, "ready", "endpoint=%s port=%d",
           eddy_log_quote(quoted, sizeof(quoted), endpoint),
           eddy_listener_port(l));
  printf("try: curl 'http://127.0.0.1:%d/?url=http://example.com/'\n",
         eddy_listener_port(l));
  fflush(stdout);

  rc = eddy_reactor_run(r);
  int left = eddy_reactor_free(r);
  return rc == 0 && left == 0 ? 0 : 1;
}
