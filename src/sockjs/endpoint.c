/* endpoint.c — a SockJS endpoint: its configuration, the URL dispatch under
 * its prefix, and the static answers (greeting, info, iframe page), with
 * the protocol's CORS, caching and JSESSIONID headers. */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eddy/error.h"
#include "eddy/http_cookie.h"
#include "eddy/http_form.h"
#include "eddy/log.h"
#include "sockjs/sockjs_internal.h"

#define DEFAULT_CLIENT_URL                                                     \
  "https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js"
#define ONE_YEAR_S 31536000
#define MAX_ORIGINS 64
#define MAX_URL 2048

static const char greeting[] = "Welcome to SockJS!\n";
static const char text_plain[] = "text/plain; charset=UTF-8";

void eddy_sockjs_config_init(eddy_sockjs_config_t *c) {
  memset(c, 0, sizeof(*c));
  c->prefix = "/sockjs";
  c->client_url = DEFAULT_CLIENT_URL;
  c->websocket = 1;
  c->jsessionid = 0;
  c->heartbeat_ms = 25000;
  c->disconnect_delay_ms = 5000;
  c->response_limit = 128 * 1024;
  c->max_message = 64 * 1024;
  c->max_queue = 1024 * 1024;
  c->max_sessions = 100000;
  c->origins = NULL;
}

/* ---- Shared response pieces -----------------------------------------------*/

void eddy__sj_cors(eddy_http_request_t *req) {
  const char *origin = eddy_http_header(req, "Origin");
  if (origin != NULL && origin[0] != '\0') {
    /* Echoing the origin (rather than "*") is what lets the browser send
     * cookies (JSESSIONID) along with credentials. */
    eddy_http_set_header(req, "Access-Control-Allow-Origin", origin);
    eddy_http_set_header(req, "Access-Control-Allow-Credentials", "true");
  } else {
    eddy_http_set_header(req, "Access-Control-Allow-Origin", "*");
  }
}

void eddy__sj_no_cache(eddy_http_request_t *req) {
  eddy_http_set_header(
      req, "Cache-Control",
      "no-store, no-cache, no-transform, must-revalidate, max-age=0");
}

static void cache_for_a_year(eddy_http_request_t *req) {
  char date[EDDY_HTTP_DATE_SIZE];
  eddy_http_set_header(req, "Cache-Control", "public, max-age=31536000");
  if (eddy_http_date_format((int64_t)time(NULL) + ONE_YEAR_S, date,
                            sizeof(date)) > 0)
    eddy_http_set_header(req, "Expires", date);
}

static int cookie_char(unsigned char c) {
  /* RFC 6265 cookie-octet. */
  return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) ||
         (c >= 0x3C && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

void eddy__sj_cookie(eddy_sockjs_t *sj, eddy_http_request_t *req) {
  if (!sj->jsessionid)
    return;
  const char *v = NULL;
  size_t vlen = 0;
  char buf[300];
  int ok = eddy_http_cookie(req, "JSESSIONID", &v, &vlen) == 0 && vlen > 0 &&
           vlen <= 256;
  for (size_t i = 0; ok && i < vlen; i++)
    ok = cookie_char((unsigned char)v[i]);
  /* The load balancer's cookie comes back as it was; a new client gets a
   * placeholder the balancer will replace. */
  if (ok)
    snprintf(buf, sizeof(buf), "JSESSIONID=%.*s; path=/", (int)vlen, v);
  else
    snprintf(buf, sizeof(buf), "JSESSIONID=dummy; path=/");
  eddy_http_add_header(req, "Set-Cookie", buf);
}

void eddy__sj_error(eddy_http_request_t *req, int status, const char *text) {
  eddy_http_respond(req, status, text_plain, text, strlen(text));
}

static int callback_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

char *eddy__sj_callback(eddy_http_request_t *req) {
  eddy_form_t *form = NULL;
  const char *cb = NULL;
  size_t len = 0;
  if (eddy_http_query_form(req, NULL, &form, NULL) == 0)
    cb = eddy_form_get(form, "c", &len);
  if (cb == NULL || len == 0) {
    eddy_form_free(form);
    eddy__sj_error(req, 500, "\"callback\" parameter required");
    return NULL;
  }
  /* The name is written into JavaScript: only a plain dotted name may go
   * there, or the response would run whatever the URL says. */
  int ok = len <= EDDY__SJ_CALLBACK_MAX;
  for (size_t i = 0; ok && i < len; i++)
    ok = callback_char((unsigned char)cb[i]);
  char *copy = ok ? strndup(cb, len) : NULL;
  eddy_form_free(form);
  if (!ok) {
    eddy__sj_error(req, 500, "invalid \"callback\" parameter");
    return NULL;
  }
  if (copy == NULL)
    eddy_http_respond_error(req, 503, "out of memory");
  return copy;
}

/* 405: no body, no Content-Type, the methods that would work. */
static void not_allowed(eddy_http_request_t *req, const char *allow) {
  eddy_http_set_header(req, "Allow", allow);
  eddy_http_respond(req, 405, NULL, "", 0);
}

/* A CORS preflight: cacheable for a year. */
static void preflight(eddy_http_request_t *req, const char *methods) {
  cache_for_a_year(req);
  eddy_http_set_header(req, "Access-Control-Max-Age", "31536000");
  eddy_http_set_header(req, "Access-Control-Allow-Methods", methods);
  const char *rh = eddy_http_header(req, "Access-Control-Request-Headers");
  if (rh != NULL && rh[0] != '\0')
    eddy_http_set_header(req, "Access-Control-Allow-Headers", rh);
  eddy__sj_cors(req);
  eddy_http_respond(req, 204, NULL, "", 0);
}

/* ---- Static answers -------------------------------------------------------*/

static void info(eddy_sockjs_t *sj, eddy_http_request_t *req) {
  uint32_t entropy = 0;
  if (RAND_bytes((unsigned char *)&entropy, sizeof(entropy)) != 1)
    entropy = (uint32_t)rand();
  char body[160];
  int n =
      snprintf(body, sizeof(body),
               "{\"websocket\":%s,\"cookie_needed\":%s,\"origins\":[\"*:*\"],"
               "\"entropy\":%lu}",
               sj->websocket ? "true" : "false",
               sj->jsessionid ? "true" : "false", (unsigned long)entropy);
  eddy__sj_no_cache(req);
  eddy__sj_cors(req);
  eddy_http_respond(req, 200, "application/json; charset=UTF-8", body,
                    (size_t)n);
}

static int build_iframe(eddy_sockjs_t *sj) {
  eddy_buf_t b;
  eddy_buf_init(&b, 16384);
  int rc = eddy_buf_printf(
      &b,
      "<!DOCTYPE html>\n"
      "<html>\n"
      "<head>\n"
      "  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n"
      "  <meta http-equiv=\"Content-Type\" content=\"text/html; "
      "charset=UTF-8\" />\n"
      "  <script src=\"%s\"></script>\n"
      "  <script>\n"
      "    document.domain = document.domain;\n"
      "    SockJS.bootstrap_iframe();\n"
      "  </script>\n"
      "</head>\n"
      "<body>\n"
      "  <h2>Don't panic!</h2>\n"
      "  <p>This is a SockJS hidden iframe. It's used for cross domain "
      "magic.</p>\n"
      "</body>\n"
      "</html>",
      sj->client_url);
  if (rc != 0) {
    eddy_buf_free(&b);
    return rc;
  }
  /* The ETag is a hash of the page: it changes exactly when the page
   * does (a new client_url). */
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < b.len; i++) {
    h ^= (unsigned char)b.data[i];
    h *= 1099511628211ull;
  }
  snprintf(sj->etag, sizeof(sj->etag), "\"%016llx\"", (unsigned long long)h);
  sj->iframe = eddy_buf_detach(&b, &sj->iframe_len);
  return sj->iframe != NULL ? 0 : UV_ENOMEM;
}

static void iframe(eddy_sockjs_t *sj, eddy_http_request_t *req) {
  cache_for_a_year(req);
  eddy_http_set_header(req, "ETag", sj->etag);
  const char *inm = eddy_http_header(req, "If-None-Match");
  if (inm != NULL && (strstr(inm, sj->etag) != NULL || strcmp(inm, "*") == 0)) {
    eddy_http_respond(req, 304, NULL, "", 0);
    return;
  }
  eddy_http_respond(req, 200, "text/html; charset=UTF-8", sj->iframe,
                    sj->iframe_len);
}

/* "/iframe.html" or "/iframe-ANYTHING.html" with no further '/'. */
static int is_iframe(const char *rest) {
  static const char head[] = "/iframe";
  size_t n = strlen(rest);
  if (n < 12 || memcmp(rest, head, 7) != 0 ||
      memcmp(rest + n - 5, ".html", 5) != 0)
    return 0;
  if (n == 12)
    return 1;
  /* "-" then anything but '/' before ".html". */
  return rest[7] == '-' && memchr(rest + 7, '/', n - 12) == NULL;
}

/* ---- Dispatch -------------------------------------------------------------*/

static int origin_allowed(eddy_sockjs_t *sj, eddy_http_request_t *req) {
  if (sj->origins == NULL)
    return 1;
  const char *origin = eddy_http_header(req, "Origin");
  if (origin == NULL)
    return 1; /* not a browser */
  for (char **o = sj->origins; *o != NULL; o++)
    if (strcasecmp(*o, origin) == 0)
      return 1;
  /* The server's own origin: the iframe transports run in a page served
   * from here, so their requests carry it. */
  const char *host = eddy_http_header(req, "Host");
  const char *sep = strstr(origin, "://");
  return host != NULL && sep != NULL &&
         (size_t)(sep - origin) <= sizeof("https") - 1 &&
         strcasecmp(sep + 3, host) == 0;
}

/* Splits "/SERVER/SESSION/TRANSPORT": neither id empty nor holding a
 * dot. Returns the transport name or NULL; sid gets the session id. */
static const char *session_path(const char *rest, char *sid, size_t sid_size) {
  const char *a = rest + 1; /* after the first '/' */
  const char *b = strchr(a, '/');
  if (b == NULL || b == a)
    return NULL;
  const char *c = strchr(b + 1, '/');
  if (c == NULL || c == b + 1)
    return NULL;
  if (memchr(a, '.', (size_t)(b - a)) != NULL ||
      memchr(b + 1, '.', (size_t)(c - b - 1)) != NULL)
    return NULL;
  size_t n = (size_t)(c - b - 1);
  if (n >= sid_size)
    return NULL;
  memcpy(sid, b + 1, n);
  sid[n] = '\0';
  if (strchr(c + 1, '/') != NULL)
    return NULL;
  return c + 1;
}

static const struct {
  const char *name;
  eddy__sj_kind_t kind;
  const char *method;
} transports[] = {
    {"xhr", EDDY__SJ_XHR, "POST"},
    {"xhr_send", EDDY__SJ_XHR_SEND, "POST"},
    {"xhr_streaming", EDDY__SJ_XHR_STREAMING, "POST"},
    {"eventsource", EDDY__SJ_EVENTSOURCE, "GET"},
    {"htmlfile", EDDY__SJ_HTMLFILE, "GET"},
    {"jsonp", EDDY__SJ_JSONP, "GET"},
    {"jsonp_send", EDDY__SJ_JSONP_SEND, "POST"},
    {"websocket", EDDY__SJ_WEBSOCKET, "GET"},
};

static void session_request(eddy_sockjs_t *sj, eddy_http_request_t *req,
                            const char *method, const char *tname,
                            const char *sid) {
  size_t i;
  for (i = 0; i < sizeof(transports) / sizeof(transports[0]); i++)
    if (strcmp(transports[i].name, tname) == 0)
      break;
  if (i == sizeof(transports) / sizeof(transports[0])) {
    eddy_http_respond_error(req, 404, NULL);
    return;
  }
  eddy__sj_kind_t kind = transports[i].kind;
  if (kind == EDDY__SJ_WEBSOCKET) {
    if (!sj->websocket) {
      eddy_http_respond_error(req, 404, NULL);
      return;
    }
    if (strcmp(method, "GET") != 0) {
      not_allowed(req, "GET");
      return;
    }
    eddy__sj_websocket(sj, req, 0);
    return;
  }
  int xhr_like = kind == EDDY__SJ_XHR || kind == EDDY__SJ_XHR_SEND ||
                 kind == EDDY__SJ_XHR_STREAMING;
  if (xhr_like && strcmp(method, "OPTIONS") == 0) {
    preflight(req, "OPTIONS, POST");
    return;
  }
  if (strcmp(method, transports[i].method) != 0) {
    not_allowed(req, xhr_like ? "OPTIONS, POST" : transports[i].method);
    return;
  }
  if (!origin_allowed(sj, req)) {
    eddy_http_respond_error(req, 403, "origin not allowed");
    return;
  }
  switch (kind) {
  case EDDY__SJ_XHR:
    eddy__sj_xhr(sj, req, sid);
    break;
  case EDDY__SJ_XHR_SEND:
    eddy__sj_xhr_send(sj, req, sid);
    break;
  case EDDY__SJ_XHR_STREAMING:
    eddy__sj_xhr_streaming(sj, req, sid);
    break;
  case EDDY__SJ_EVENTSOURCE:
    eddy__sj_eventsource(sj, req, sid);
    break;
  case EDDY__SJ_HTMLFILE:
    eddy__sj_htmlfile(sj, req, sid);
    break;
  case EDDY__SJ_JSONP:
    eddy__sj_jsonp(sj, req, sid);
    break;
  case EDDY__SJ_JSONP_SEND:
    eddy__sj_jsonp_send(sj, req, sid);
    break;
  default:
    eddy_http_respond_error(req, 404, NULL);
    break;
  }
}

void eddy_sockjs_handler(eddy_http_request_t *req, void *arg) {
  eddy_sockjs_t *sj = arg;
  const char *path = eddy_http_path(req);
  const char *method = eddy_http_method(req);
  if (sj->closing) {
    eddy_http_respond_error(req, 503, "shutting down");
    return;
  }
  if (strncmp(path, sj->prefix, sj->prefix_len) != 0 ||
      (path[sj->prefix_len] != '\0' && path[sj->prefix_len] != '/')) {
    eddy_http_respond_error(req, 404, NULL);
    return;
  }
  const char *rest = path + sj->prefix_len;
  int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
  if (rest[0] == '\0' || strcmp(rest, "/") == 0) {
    if (!get) {
      not_allowed(req, "GET, HEAD");
      return;
    }
    eddy_http_respond(req, 200, text_plain, greeting, sizeof(greeting) - 1);
    return;
  }
  if (strcmp(rest, "/info") == 0) {
    if (strcmp(method, "OPTIONS") == 0)
      preflight(req, "OPTIONS, GET");
    else if (get)
      info(sj, req);
    else
      not_allowed(req, "OPTIONS, GET");
    return;
  }
  if (is_iframe(rest)) {
    if (get)
      iframe(sj, req);
    else
      not_allowed(req, "GET, HEAD");
    return;
  }
  if (strcmp(rest, "/websocket") == 0) {
    if (!sj->websocket) {
      eddy_http_respond_error(req, 404, NULL);
      return;
    }
    if (strcmp(method, "GET") != 0) {
      not_allowed(req, "GET");
      return;
    }
    eddy__sj_websocket(sj, req, 1);
    return;
  }
  char sid[EDDY__SJ_SESSION_ID_MAX + 1];
  const char *tname = session_path(rest, sid, sizeof(sid));
  if (tname == NULL) {
    eddy_http_respond_error(req, 404, NULL);
    return;
  }
  session_request(sj, req, method, tname, sid);
}

/* ---- Life of the endpoint -------------------------------------------------*/

static void free_endpoint(eddy_sockjs_t *sj) {
  if (sj->origins != NULL) {
    for (char **o = sj->origins; *o != NULL; o++)
      free(*o);
    free(sj->origins);
  }
  free(sj->buckets);
  free(sj->iframe);
  free(sj->client_url);
  free(sj->prefix);
  free(sj);
}

int eddy_sockjs_new(eddy_reactor_t *r, const eddy_sockjs_config_t *cfg,
                    const eddy_sockjs_handlers_t *h, void *arg,
                    eddy_sockjs_t **out) {
  eddy_sockjs_config_t defaults;
  if (cfg == NULL) {
    eddy_sockjs_config_init(&defaults);
    cfg = &defaults;
  }
  if (r == NULL || h == NULL || out == NULL || cfg->prefix == NULL)
    return UV_EINVAL;
  size_t plen = strlen(cfg->prefix);
  if (plen == 0 || cfg->prefix[0] != '/' || cfg->prefix[plen - 1] == '/' ||
      cfg->heartbeat_ms == 0 || cfg->disconnect_delay_ms == 0 ||
      cfg->response_limit == 0 || cfg->max_message == 0 ||
      cfg->max_queue == 0 || cfg->max_sessions == 0)
    return UV_EINVAL;
  const char *url =
      cfg->client_url != NULL ? cfg->client_url : DEFAULT_CLIENT_URL;
  /* The URL goes into an HTML attribute: no quote, no markup, no control. */
  if (strlen(url) > MAX_URL || strpbrk(url, "\"<>&") != NULL)
    return UV_EINVAL;
  for (const char *p = url; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7F)
      return UV_EINVAL;
  size_t norigins = 0;
  if (cfg->origins != NULL)
    while (cfg->origins[norigins] != NULL)
      if (++norigins > MAX_ORIGINS)
        return UV_EINVAL;

  eddy_sockjs_t *sj = calloc(1, sizeof(*sj));
  if (sj == NULL)
    return UV_ENOMEM;
  sj->reactor = r;
  sj->prefix = strdup(cfg->prefix);
  sj->prefix_len = plen;
  sj->client_url = strdup(url);
  sj->websocket = cfg->websocket != 0;
  sj->jsessionid = cfg->jsessionid != 0;
  sj->heartbeat_ms = cfg->heartbeat_ms;
  sj->disconnect_delay_ms = cfg->disconnect_delay_ms;
  sj->response_limit = cfg->response_limit;
  sj->max_message = cfg->max_message;
  sj->max_queue = cfg->max_queue;
  sj->max_sessions = cfg->max_sessions;
  sj->h = *h;
  sj->arg = arg;
  if (RAND_bytes((unsigned char *)sj->hash_key, sizeof(sj->hash_key)) != 1) {
    free_endpoint(sj);
    return UV_EIO;
  }
  int bad = sj->prefix == NULL || sj->client_url == NULL;
  if (!bad && cfg->origins != NULL) {
    sj->origins = calloc(norigins + 1, sizeof(char *));
    bad = sj->origins == NULL;
    for (size_t i = 0; !bad && i < norigins; i++)
      bad = (sj->origins[i] = strdup(cfg->origins[i])) == NULL;
  }
  if (bad || build_iframe(sj) != 0) {
    free_endpoint(sj);
    return UV_ENOMEM;
  }
  *out = sj;
  return 0;
}

static void close_done(void *arg) {
  eddy_sockjs_t *sj = arg;
  eddy_call_cb cb = sj->close_cb;
  void *cb_arg = sj->close_arg;
  free_endpoint(sj);
  if (cb != NULL)
    cb(cb_arg);
}

void eddy__sj_maybe_finish_close(eddy_sockjs_t *sj) {
  if (sj->closing && sj->killed && sj->nsessions == 0)
    eddy__reactor_soon(sj->reactor, &sj->close_soon, close_done, sj);
}

static void kill_now(void *arg) {
  eddy_sockjs_t *sj = arg;
  sj->killed = 1;
  eddy__sj_kill_all(sj);
  eddy__sj_maybe_finish_close(sj);
}

void eddy_sockjs_close(eddy_sockjs_t *sj, eddy_call_cb cb, void *arg) {
  if (sj == NULL || sj->closing)
    return;
  /* New requests are refused from now on; the sessions are closed on the
   * next turn, so a session's own on_close may call this safely. */
  sj->closing = 1;
  sj->close_cb = cb;
  sj->close_arg = arg;
  eddy__reactor_soon(sj->reactor, &sj->kill_soon, kill_now, sj);
}

void eddy_sockjs_stats(const eddy_sockjs_t *sj, eddy_sockjs_stats_t *out) {
  *out = sj->stats;
}
