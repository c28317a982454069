/* fanout — the benchmark from the Tornado talk: every request calls three
 * backend APIs concurrently and answers once all three have answered.
 *
 *   fanout [--port ENDPOINT] --backend URL --backend URL --backend URL
 *          [--timeout MS] [--max-per-host N] [-v]
 *   fanout [--port ENDPOINT] --backend-mode DELAY_MS [-v]
 *
 * Fan-out mode: GET (any path) -> 200 and a JSON object
 *   {"elapsed_us": 10412, "results": [
 *      {"backend": URL, "status": 200, "body": <its JSON, or its text>},
 *      {"backend": URL, "error": "connect to ...: connection refused"}, ...]}
 * with 502 instead of 200 when a backend failed or answered other than 2xx.
 * The three requests run at the same time over the HTTP client's keep-alive
 * pool, so the answer takes as long as the slowest backend, not the sum.
 *
 * Backend mode: the same binary plays a backend that answers every request
 * after DELAY_MS (without blocking: a timer per request), with
 * {"delay_ms": N, "path": "/..."}. Three of them make the benchmark's
 * backends.
 *
 * What it shows: eddy_deferred_list (Twisted's DeferredList) over client
 * deferreds; a handler that answers later (the server's NOT_DONE_YET); a
 * client that goes away cancelling its backend calls.
 */
#include <eddy/eddy.h>
#include <eddy/http_client.h>
#include <eddy/http_json.h>
#include <eddy/http_server.h>
#include <eddy/url.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ENDPOINT "tcp:8080:interface=127.0.0.1"
#define GRACE_MS 3000
#define BACKENDS 3
/* Enough connections per backend for the benchmark's concurrency (20)
 * without queueing. */
#define MAX_PER_HOST_DEFAULT 64

typedef struct {
  eddy_reactor_t *reactor;
  eddy_http_server_t *server;
  eddy_http_client_t *client; /* fan-out mode */
  const char *backends[BACKENDS];
  long long delay_ms; /* backend mode when >= 0 */
  int stopping;
} app_t;

/* ---- Fan-out mode ----------------------------------------------------------
 */

typedef struct {
  app_t *app;
  eddy_http_request_t *req; /* NULL once finished */
  eddy_deferred_t *list;    /* until it fires */
  uint64_t started_ns;
} fan_t;

static void fan_maybe_free(fan_t *f) {
  if (f->req == NULL && f->list == NULL)
    free(f);
}

/* A backend's body as JSON when it is JSON, else as a string. */
static json_t *body_json(const eddy_http_response_t *resp) {
  json_t *j = NULL;
  const char *type = eddy_http_response_header(resp, "Content-Type");
  if (type != NULL && eddy_json_is_json_type(type))
    eddy_json_parse(resp->body, resp->body_len, &j, NULL);
  if (j == NULL)
    j = json_stringn_nocheck(resp->body, resp->body_len);
  return j;
}

static void fan_answered(eddy_result_t *res, void *arg) {
  fan_t *f = arg;
  f->list = NULL;
  const eddy_results_t *all = res->value;
  if (f->req != NULL) {
    json_int_t us = (json_int_t)((uv_hrtime() - f->started_ns) / 1000u);
    json_t *items = json_array();
    int ok = 1;
    for (size_t i = 0; i < all->count; i++) {
      const eddy_result_t *it = &all->items[i];
      json_t *o = json_object();
      json_object_set_new(o, "backend", json_string(f->app->backends[i]));
      if (it->err < 0) {
        ok = 0;
        json_object_set_new(o, "error", json_string(eddy_result_message(it)));
      } else {
        const eddy_http_response_t *resp = it->value;
        if (resp->status < 200 || resp->status > 299)
          ok = 0;
        json_object_set_new(o, "status", json_integer(resp->status));
        json_object_set_new(o, "body", body_json(resp));
      }
      json_array_append_new(items, o);
    }
    json_t *out = json_object();
    json_object_set_new(out, "elapsed_us", json_integer(us));
    json_object_set_new(out, "results", items);
    eddy_http_respond_json_new(f->req, ok ? 200 : 502, out);
    f->req = NULL;
  }
  fan_maybe_free(f);
}

static void fan_failed(eddy_result_t *res, void *arg) {
  /* Only a cancelled list (the client went away) fails as a whole. */
  fan_t *f = arg;
  f->list = NULL;
  if (f->req != NULL) {
    eddy_http_respond_error(f->req, 500, eddy_result_message(res));
    f->req = NULL;
  }
  eddy_result_recover(res);
  fan_maybe_free(f);
}

static void fan_gone(eddy_http_request_t *req, int reason, void *arg) {
  (void)reason;
  fan_t *f = arg;
  eddy_http_finish(req);
  f->req = NULL;
  if (f->list == NULL) {
    free(f);
    return;
  }
  /* Cancels the three calls; the list then fires, and its callback frees
   * f (f must not be touched after this). */
  eddy_deferred_cancel(f->list);
}

static void fan_handle(eddy_http_request_t *req, void *arg) {
  app_t *app = arg;
  if (strcmp(eddy_http_method(req), "GET") != 0) {
    eddy_http_set_header(req, "Allow", "GET");
    eddy_http_respond_error(req, 405, NULL);
    return;
  }
  fan_t *f = calloc(1, sizeof(*f));
  if (f == NULL) {
    eddy_http_respond_error(req, 500, "out of memory");
    return;
  }
  f->app = app;
  f->req = req;
  f->started_ns = uv_hrtime();
  eddy_deferred_t *ds[BACKENDS];
  for (int i = 0; i < BACKENDS; i++)
    ds[i] = eddy_http_get(app->client, app->backends[i]); /* NULL: a failure */
  /* Every input's result, failures included (and handled), once all three
   * have fired. */
  f->list =
      eddy_deferred_list(app->reactor, ds, BACKENDS, EDDY_DL_CONSUME_ERRORS);
  if (f->list == NULL) {
    for (int i = 0; i < BACKENDS; i++)
      if (ds[i] != NULL)
        eddy_deferred_cancel(ds[i]);
    free(f);
    eddy_http_respond_error(req, 500, "out of memory");
    return;
  }
  eddy_http_on_close(req, fan_gone, f);
  eddy_deferred_add_callbacks(f->list, fan_answered, fan_failed, f);
}

/* ---- Backend mode ----------------------------------------------------------
 */

typedef struct {
  eddy_timer_t timer;
  eddy_http_request_t *req;
  long long delay_ms;
} slow_t;

static void slow_answer(eddy_timer_t *t) {
  slow_t *s = t->data;
  json_t *out = json_object();
  json_object_set_new(out, "delay_ms", json_integer(s->delay_ms));
  json_object_set_new(out, "path", json_string(eddy_http_path(s->req)));
  eddy_http_respond_json_new(s->req, 200, out);
  free(s);
}

static void slow_gone(eddy_http_request_t *req, int reason, void *arg) {
  (void)reason;
  slow_t *s = arg;
  eddy_timer_stop(&s->timer);
  eddy_http_finish(req);
  free(s);
}

static void backend_handle(eddy_http_request_t *req, void *arg) {
  app_t *app = arg;
  slow_t *s = calloc(1, sizeof(*s));
  if (s == NULL) {
    eddy_http_respond_error(req, 500, "out of memory");
    return;
  }
  s->req = req;
  s->delay_ms = app->delay_ms;
  eddy_timer_init(app->reactor, &s->timer);
  s->timer.data = s;
  eddy_http_on_close(req, slow_gone, s);
  eddy_timer_start(&s->timer, (uint64_t)app->delay_ms, slow_answer);
}

/* ---- Start and stop
 * ---------------------------------------------------------- */

static void all_closed(void *arg) {
  (void)arg;
  eddy_log(EDDY_LOG_INFO, "stopped", NULL);
}

static void server_closed(void *arg) {
  app_t *app = arg;
  if (app->client != NULL)
    eddy_http_client_close(app->client, all_closed, app);
  else
    all_closed(app);
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
          "usage: fanout [--port ENDPOINT] --backend URL --backend URL "
          "--backend URL\n"
          "              [--timeout MS] [--max-per-host N] [-v]\n"
          "       fanout [--port ENDPOINT] --backend-mode DELAY_MS [-v]\n"
          "Calls three backends concurrently for each request and answers "
          "with\nall their results; or plays a backend answering after "
          "DELAY_MS.\n\n"
          "  --port ENDPOINT      where to listen (default " DEFAULT_ENDPOINT
          ")\n"
          "                       tcp:0 picks a free port (see port= in the "
          "log)\n"
          "  --backend URL        an http:// backend (exactly three)\n"
          "  --timeout MS         backend response timeout (default 30000)\n"
          "  --max-per-host N     connections to one backend (default 64)\n"
          "  --backend-mode MS    be a backend answering after MS (0 allowed)\n"
          "  -v, --verbose        debug logging\n"
          "  -h, --help           show this help\n");
}

/* A number in [lo, hi], or -1. */
static long long number(const char *s, long long lo, long long hi) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
    return -1;
  return v;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  const char *endpoint = DEFAULT_ENDPOINT;
  app_t app;
  memset(&app, 0, sizeof(app));
  app.delay_ms = -1;
  int nbackends = 0;
  eddy_http_client_config_t ccfg;
  memset(&ccfg, 0, sizeof(ccfg));
  ccfg.max_per_host = MAX_PER_HOST_DEFAULT;
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
    } else if (strcmp(a, "--backend") == 0 && has_value) {
      const char *url = argv[++i];
      eddy_url_t u;
      eddy_url_error_t err;
      int rc = eddy_url_parse(url, strlen(url), 0, &u, &err);
      if (rc == 0 && u.scheme != EDDY_URL_HTTP) {
        rc = UV_EINVAL;
        snprintf(err.message, sizeof(err.message), "only http:// backends");
      }
      if (rc != 0) {
        fprintf(stderr, "fanout: bad backend URL %s: %s\n", url, err.message);
        return 2;
      }
      if (nbackends == BACKENDS) {
        fprintf(stderr, "fanout: exactly %d backends, please\n", BACKENDS);
        return 2;
      }
      app.backends[nbackends++] = url;
    } else if (strcmp(a, "--timeout") == 0 && has_value) {
      long long v = number(argv[++i], 1, 86400000);
      if (v < 0) {
        fprintf(stderr, "fanout: --timeout wants milliseconds > 0\n");
        return 2;
      }
      ccfg.response_timeout_ms = (uint64_t)v;
    } else if (strcmp(a, "--max-per-host") == 0 && has_value) {
      long long v = number(argv[++i], 1, 10000);
      if (v < 0) {
        fprintf(stderr, "fanout: --max-per-host wants 1..10000\n");
        return 2;
      }
      ccfg.max_per_host = (size_t)v;
    } else if (strcmp(a, "--backend-mode") == 0 && has_value) {
      app.delay_ms = number(argv[++i], 0, 3600000);
      if (app.delay_ms < 0) {
        fprintf(stderr, "fanout: --backend-mode wants 0..3600000 ms\n");
        return 2;
      }
    } else {
      usage(stderr);
      return 2;
    }
  }
  int backend_mode = app.delay_ms >= 0;
  if (backend_mode ? nbackends != 0 : nbackends != BACKENDS) {
    fprintf(stderr, backend_mode
                        ? "fanout: --backend-mode takes no --backend\n"
                        : "fanout: give --backend exactly three times\n");
    usage(stderr);
    return 2;
  }

  eddy_reactor_t *r;
  int rc = eddy_reactor_new(&r, 0);
  if (rc != 0) {
    fprintf(stderr, "fanout: %s\n", eddy_strerror(rc));
    return 1;
  }
  app.reactor = r;
  if (!backend_mode) {
    rc = eddy_http_client_new(r, &ccfg, &app.client);
    if (rc != 0) {
      fprintf(stderr, "fanout: %s\n", eddy_strerror(rc));
      eddy_reactor_free(r);
      return 1;
    }
  }
  rc = eddy_http_server_new(r, NULL, backend_mode ? backend_handle : fan_handle,
                            &app, &app.server);
  eddy_listener_t *l = NULL;
  if (rc == 0)
    rc = eddy_http_server_listen(app.server, endpoint, &l);
  if (rc == 0)
    rc = eddy_stop_on_signals(r, stop, &app);
  if (rc != 0) {
    fprintf(stderr, "fanout: cannot listen on %s: %s\n", endpoint,
            eddy_strerror(rc));
    if (app.server != NULL)
      eddy_http_server_close(app.server, 0, NULL, NULL);
    if (app.client != NULL)
      eddy_http_client_close(app.client, NULL, NULL);
    eddy_reactor_run(r);
    eddy_reactor_free(r);
    return 1;
  }
  char quoted[300];
  eddy_log(EDDY_LOG_INFO, "ready", "endpoint=%s port=%d mode=%s",
           eddy_log_quote(quoted, sizeof(quoted), endpoint),
           eddy_listener_port(l), backend_mode ? "backend" : "fanout");
  printf("try: curl http://127.0.0.1:%d/\n", eddy_listener_port(l));
  fflush(stdout);

  rc = eddy_reactor_run(r);
  int left = eddy_reactor_free(r);
  return rc == 0 && left == 0 ? 0 : 1;
}
