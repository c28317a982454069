/* api.c — the HTTP JSON API's routes, its bearer token and the helpers
 * every handler shares (docs/protocol/http-api.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "eddy/error.h"
#include "eddy/http_form.h"
#include "eddy/http_router.h"
#include "realtime/lines_internal.h"

typedef struct {
  const char *method;
  const char *path; /* after the prefix */
  eddy_http_handler_cb handler;
} route_t;

static const route_t routes[] = {
    {"POST", "/publish", eddy__api_publish},
    {"POST", "/broadcast", eddy__api_broadcast},
    {"GET", "/presence/:channel", eddy__api_presence},
    {"GET", "/history/:channel", eddy__api_history},
    {"GET", "/channels", eddy__api_channels},
    {"POST", "/token", eddy__api_token},
    {"GET", "/cache", eddy__api_cache_list},
    {"GET", "/cache/:key", eddy__api_cache_get},
    {"PUT", "/cache/:key", eddy__api_cache_put},
    {"DELETE", "/cache/:key", eddy__api_cache_delete},
    {"GET", "/locks", eddy__api_locks_list},
    {"GET", "/locks/:name", eddy__api_locks_inspect},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

void eddy_api_opts_init(eddy_api_opts_t *o) {
  memset(o, 0, sizeof(*o));
  o->prefix = "/api";
  o->max_keys = 1000;
}

/* "" (routes at the root) or "/a/b": a path without a trailing slash. */
static int prefix_ok(const char *p) {
  size_t n = strlen(p);
  if (n == 0)
    return 1;
  if (p[0] != '/' || p[n - 1] == '/' || n > 256)
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c <= ' ' || c == 0x7f || c == '?' || c == '#' || c == '%')
      return 0;
    if (c == '/' && i + 1 < n &&
        (p[i + 1] == '/' || p[i + 1] == ':' || p[i + 1] == '*'))
      return 0;
  }
  return 1;
}

static char *dup_or_null(const char *s) {
  if (s == NULL || s[0] == '\0')
    return NULL;
  return strdup(s);
}

/* Compares two patterns segment by segment, parameters alike whatever
 * their names: the router's notion of one route "shape". */
static int same_shape(const char *a, const char *b) {
  for (;;) {
    size_t la = strcspn(a, "/"), lb = strcspn(b, "/");
    int pa = la > 0 && a[0] == ':', pb = lb > 0 && b[0] == ':';
    if (pa != pb || (!pa && (la != lb || memcmp(a, b, la) != 0)))
      return 0;
    a += la;
    b += lb;
    if (*a == '\0' || *b == '\0')
      return *a == *b;
    a++;
    b++;
  }
}

/* A route already taken would make eddy_router_add fail halfway, leaving
 * our first routes behind: look for one before adding any. */
static int check_free(eddy_router_t *rt, const char *prefix) {
  char pattern[512], path[512];
  for (size_t i = 0; i < NROUTES; i++) {
    snprintf(pattern, sizeof(pattern), "%s%s", prefix, routes[i].path);
    /* A path the pattern matches: each parameter given the value "x". */
    size_t o = 0;
    for (const char *p = pattern; *p != '\0' && o + 2 < sizeof(path);) {
      if (*p == ':' && (p == pattern || p[-1] == '/')) {
        path[o++] = 'x';
        p += strcspn(p, "/");
      } else {
        path[o++] = *p++;
      }
    }
    path[o] = '\0';
    eddy_router_match_t m;
    int rc = eddy_router_match(rt, routes[i].method, path, o, &m);
    int taken = rc == 0 && m.status == 0 &&
                strcmp(m.method, routes[i].method) == 0 &&
                same_shape(m.pattern, pattern);
    eddy_router_match_cleanup(&m);
    if (rc != 0)
      return rc;
    if (taken)
      return UV_EEXIST;
  }
  return 0;
}

void eddy_api_free(eddy_api_t *api) {
  if (api == NULL)
    return;
  free(api->prefix);
  free(api->token);
  free(api->token_secret);
  free(api);
}

int eddy_api_new(eddy_router_t *router, const eddy_api_opts_t *o,
                 eddy_api_t **out) {
  eddy_api_opts_t def;
  if (out != NULL)
    *out = NULL;
  if (router == NULL || out == NULL)
    return UV_EINVAL;
  if (o == NULL) {
    eddy_api_opts_init(&def);
    o = &def;
  }
  const char *prefix = o->prefix != NULL ? o->prefix : "/api";
  if (!prefix_ok(prefix) || o->max_keys == 0)
    return UV_EINVAL;
  int rc = check_free(router, prefix);
  if (rc != 0)
    return rc;
  eddy_api_t *api = calloc(1, sizeof(*api));
  if (api == NULL)
    return UV_ENOMEM;
  api->prefix = strdup(prefix);
  api->token = dup_or_null(o->token);
  api->token_secret = dup_or_null(o->token_secret);
  if (api->prefix == NULL || (o->token && o->token[0] && !api->token) ||
      (o->token_secret && o->token_secret[0] && !api->token_secret)) {
    eddy_api_free(api);
    return UV_ENOMEM;
  }
  api->hub = o->hub;
  api->cache = o->cache;
  api->locks = o->locks;
  api->max_keys = o->max_keys;
  char pattern[512];
  for (size_t i = 0; i < NROUTES; i++) {
    snprintf(pattern, sizeof(pattern), "%s%s", prefix, routes[i].path);
    rc = eddy_router_add(router, routes[i].method, pattern, routes[i].handler,
                         api);
    if (rc != 0) {
      if (i == 0) {
        eddy_api_free(api);
        return rc;
      }
      /* The routes added so far cannot be taken back: they stay pointed at
       * api, which answers 503 until the caller frees it. */
      api->broken = 1;
      *out = api;
      return rc;
    }
  }
  *out = api;
  return 0;
}

/* ---- Shared by the handlers -----------------------------------------------*/

void eddy__api_error(eddy_http_request_t *req, int status,
                     const char *message) {
  eddy_http_respond_json_error(req, status, message);
}

void eddy__api_off(eddy_http_request_t *req, const char *what) {
  char msg[64];
  snprintf(msg, sizeof(msg), "%s service is off", what);
  eddy__api_error(req, 503, msg);
}

void eddy__api_ok(eddy_http_request_t *req, json_t *json) {
  if (json == NULL) {
    eddy__api_error(req, 500, "out of memory");
    return;
  }
  eddy_http_respond_json_new(req, 200, json);
}

/* The token of "Authorization: Bearer TOKEN" (scheme case-insensitive),
 * or NULL. */
static const char *bearer(const eddy_http_request_t *req) {
  const char *h = eddy_http_header(req, "Authorization");
  if (h == NULL || strncasecmp(h, "Bearer", 6) != 0 ||
      (h[6] != ' ' && h[6] != '\t'))
    return NULL;
  h += 6;
  while (*h == ' ' || *h == '\t')
    h++;
  return h;
}

eddy_api_t *eddy__api_enter(eddy_http_request_t *req, void *arg) {
  eddy_api_t *api = arg;
  if (api->broken) {
    eddy__api_error(req, 503, "API not configured");
    return NULL;
  }
  if (api->token != NULL) {
    const char *got = bearer(req);
    size_t n = got != NULL ? strcspn(got, " \t") : 0;
    if (got == NULL || got[n] != '\0' ||
        !eddy__rt_secret_equal(api->token, got, n)) {
      eddy_http_set_header(req, "WWW-Authenticate", "Bearer realm=\"eddy\"");
      eddy__api_error(req, 401,
                      got == NULL ? "a bearer token is required"
                                  : "bad bearer token");
      return NULL;
    }
  }
  return api;
}

json_t *eddy__api_body_object(eddy_http_request_t *req) {
  json_t *body = NULL;
  eddy_json_error_t err;
  int rc = eddy_http_body_json(req, &body, &err);
  if (rc != 0) {
    eddy__api_error(req, err.status, err.text);
    return NULL;
  }
  if (!json_is_object(body)) {
    json_decref(body);
    eddy__api_error(req, 400, "the body must be a JSON object");
    return NULL;
  }
  return body;
}

int eddy__api_query(eddy_http_request_t *req, eddy_form_t **out) {
  *out = NULL;
  const char *q = eddy_http_query(req);
  if (q == NULL || q[0] == '\0')
    return 0;
  eddy_form_error_t err;
  eddy_form_limits_t lim = {.max_pairs = 16, .max_key = 32, .max_value = 1024};
  if (eddy_http_query_form(req, &lim, out, &err) != 0) {
    eddy__api_error(req, err.status, err.text);
    return -1;
  }
  return 0;
}

int eddy__api_query_u64(eddy_http_request_t *req, eddy_form_t *q,
                        const char *name, uint64_t def, uint64_t max,
                        uint64_t *v) {
  size_t len;
  const char *s = q != NULL ? eddy_form_get(q, name, &len) : NULL;
  *v = def;
  if (s == NULL)
    return 0;
  uint64_t n = 0;
  int ok = len > 0 && len <= 20;
  for (size_t i = 0; ok && i < len; i++) {
    if (s[i] < '0' || s[i] > '9' || n > (UINT64_MAX - 9) / 10)
      ok = 0;
    else
      n = n * 10 + (uint64_t)(s[i] - '0');
  }
  if (!ok || n > max) {
    char msg[128];
    snprintf(msg, sizeof(msg),
             "query parameter %s must be a whole number from 0 to %llu", name,
             (unsigned long long)max);
    eddy__api_error(req, 400, msg);
    return -1;
  }
  *v = n;
  return 0;
}

int eddy__api_list_query(eddy_http_request_t *req, uint64_t def, uint64_t max,
                         eddy_api_list_t *out) {
  memset(out, 0, sizeof(*out));
  if (eddy__api_query(req, &out->q) != 0)
    return -1;
  if (eddy__api_query_u64(req, out->q, "limit", def, max, &out->limit) != 0) {
    eddy_form_free(out->q);
    out->q = NULL;
    return -1;
  }
  if (out->limit == 0)
    out->limit = def;
  if (out->q != NULL)
    out->prefix = eddy_form_get(out->q, "prefix", &out->prefix_len);
  if (out->prefix == NULL)
    out->prefix_len = 0;
  return 0;
}
