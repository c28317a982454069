/* eddy/http_router.h — a router of resources: method and path dispatch.
 *
 * Routes are a method plus a path pattern, each with its handler:
 *   eddy_router_add(rt, "GET", "/users/:id", get_user, app);
 *   eddy_router_add(rt, "GET", "/static/" "*path", static_handler, st);
 * then give the server eddy_router_handler with the router as its arg.
 *
 * PATTERNS start with '/' and are split on '/' into segments:
 *   "word"    a literal segment, compared bytewise with the decoded segment
 *             (it may not start with ':' or '*');
 *   ":name"   a parameter: any non-empty segment (name: letters, digits,
 *             '_'; unique within the pattern);
 *   "*name"   a wildcard, only as the last segment: the rest of the path
 *             from there, possibly empty and holding '/' ("*" alone matches
 *             without keeping the value).
 * "/" is one empty segment, and a trailing slash is an empty last segment,
 * so "/users" and "/users/" are different routes, and a wildcard after
 * "/static/" matches "/static/" and "/static/a/b" but not "/static".
 *
 * PATHS are the raw path of the request target (before '?'), split on '/'
 * BEFORE percent-decoding each segment, so "%2F" stays inside its segment
 * ("/files/a%2Fb" gives :name = "a/b"). A bad escape or a segment decoding
 * to NUL is answered 400.
 *
 * PRECEDENCE, segment by segment: a literal beats a parameter, which beats
 * a wildcard, with backtracking: the first route in that order whose
 * pattern matches AND that takes the method wins ("/users/new" and
 * "/users/:id/edit" both work for "/users/new/edit"; with GET "/items/all"
 * and DELETE "/items/:id", DELETE "/items/all" reaches the second).
 * Matching visits each node of the route tree at most once, so its cost is
 * bounded by the number of routes, whatever the path.
 *
 * METHODS are case-sensitive tokens; "*" routes any method (a mount point:
 * give a wildcard pattern). Among the routes of one pattern, a request is
 * taken by the route of its method; a HEAD request, when there is no HEAD
 * route, by the GET route (the server drops the body); failing those, by a
 * "*" route. When the path matches no route: 404. When it matches but no
 * route takes the method: 405 with an Allow header listing the methods of
 * every route matching the path (by precedence, then in the order added;
 * HEAD after GET when not routed itself; OPTIONS last). OPTIONS, unless
 * routed, is answered 204 with that Allow header; "OPTIONS *" lists every
 * method the router knows.
 *
 * PARAMETERS reach the handler through eddy_http_param(req, "id")
 * (eddy/http_server.h), set before it runs, decoded, NUL-terminated.
 *
 * OWNERSHIP: the router is library-owned (eddy_router_new,
 * eddy_router_free); patterns and methods are copied. It must outlive every
 * server using it and must not change while a request is being routed (add
 * routes before serving). Handler args are borrowed. Not thread-safe.
 */
#ifndef EDDY_HTTP_ROUTER_H
#define EDDY_HTTP_ROUTER_H

#include <stddef.h>

#include "http_server.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_router_s eddy_router_t;

/* The hard ceiling on segments in a pattern (and so on parameters). */
#define EDDY_ROUTER_MAX_SEGMENTS 32u
#define EDDY_ROUTER_MAX_ROUTES_DEFAULT 1024u
/* A method name in a route. */
#define EDDY_ROUTER_MAX_METHOD 32u

/* 0 in a field means its default. */
typedef struct {
  size_t max_routes;   /* routes (method, pattern) in the router */
  size_t max_segments; /* segments in a pattern; clamped to the ceiling */
} eddy_router_limits_t;

/* limits may be NULL. 0 or UV_ENOMEM. */
int eddy_router_new(const eddy_router_limits_t *limits, eddy_router_t **out);
/* NULL is allowed. */
void eddy_router_free(eddy_router_t *rt);

/* Adds a route. Returns 0 or:
 *   UV_EINVAL   a method that is not a token (or longer than
 *               EDDY_ROUTER_MAX_METHOD) and not "*", a malformed pattern
 *               (see above), more than max_segments segments, or a NULL
 *               handler;
 *   UV_EEXIST   the same method on the same pattern shape (parameter names
 *               aside: "/a/:x" and "/a/:y" are the same shape);
 *   UV_E2BIG    max_routes reached;
 *   UV_ENOMEM.
 * On error the router is unchanged. */
int eddy_router_add(eddy_router_t *rt, const char *method, const char *pattern,
                    eddy_http_handler_cb handler, void *arg);

/* Called instead of the built-in 404 answer (NULL restores it). */
void eddy_router_set_not_found(eddy_router_t *rt, eddy_http_handler_cb handler,
                               void *arg);

/* ---- Matching without a server ------------------------------------------ */

typedef struct {
  const char *name;  /* the pattern's name (router-owned) */
  const char *value; /* decoded, NUL-terminated (owned by the match) */
  size_t value_len;
} eddy_router_param_t;

/* The result of a match. Call eddy_router_match_cleanup once done. */
typedef struct {
  /* 0: handler found; 204: an automatic OPTIONS answer (allow is set);
   * 400: bad escape in the path; 404; 405 (allow is set). */
  int status;
  eddy_http_handler_cb handler; /* when status is 0 */
  void *arg;
  const char *method;  /* the route's method ("GET" for a HEAD via GET) */
  const char *pattern; /* the route's pattern (router-owned), e.g. for logs */
  size_t nparams;
  eddy_router_param_t params[EDDY_ROUTER_MAX_SEGMENTS];
  /* The Allow header value for 204 and 405 ("GET, HEAD, OPTIONS"), owned
   * by the match; NULL otherwise. */
  const char *allow;
  /* private */
  char *mem;
} eddy_router_match_t;

/* Matches a method and a raw path ("/users/42", or "*" for OPTIONS) — no
 * query string; a '?' is an ordinary byte here. Fills *m (always: cleanup
 * is then safe) and returns 0, or UV_ENOMEM (m->status is then 500).
 * Names and the pattern point into the router: valid until it is freed. */
int eddy_router_match(const eddy_router_t *rt, const char *method,
                      const char *path, size_t path_len,
                      eddy_router_match_t *m);
/* Frees what the match owns. Safe to call twice. */
void eddy_router_match_cleanup(eddy_router_match_t *m);

/* ---- Serving ------------------------------------------------------------ */

/* An eddy_http_handler_cb: arg is the eddy_router_t. Routes the request by
 * eddy_http_method and the path of eddy_http_target (origin-form, the path
 * of an absolute-form target, or "*"), sets the parameters and calls the
 * route's handler, or answers 400, 404, 405 or the automatic OPTIONS. */
void eddy_router_handler(eddy_http_request_t *req, void *arg);

#ifdef __cplusplus
}
#endif

#endif
