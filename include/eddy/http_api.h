/* eddy/http_api.h — the HTTP JSON API to eddy's services: publish to the
 * realtime hub and read its presence, history and channels; get, set,
 * delete and list cache keys; list and inspect locks. The routes and JSON
 * shapes are specified in docs/protocol/http-api.md.
 *
 * An API (eddy_api_t, library-owned) adds its routes to a router the
 * caller owns, with itself as the routes' arg: free the API only after the
 * HTTP server that routes to it is closed. The services are referenced, not
 * owned; any may be NULL, and its routes then answer 503 {"error": "... service
 * is off"}.
 *
 * AUTH: when opts.token is set (non-empty), every route needs
 * `Authorization: Bearer TOKEN` (else 401 with WWW-Authenticate: Bearer);
 * comparison is constant-time.
 */
#ifndef EDDY_HTTP_API_H
#define EDDY_HTTP_API_H

#include "cache.h"
#include "http_router.h"
#include "locks.h"
#include "realtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_api_s eddy_api_t;

typedef struct {
  const char *prefix; /* "/api" */
  const char *token;  /* bearer token (copied); NULL or "": open */
  eddy_rt_t *hub;
  eddy_cache_t *cache;
  eddy_locks_t *locks;
  /* Secret to mint connection tokens at POST PREFIX/token (copied);
   * NULL: that route answers 404. */
  const char *token_secret;
  size_t max_keys; /* most keys one cache listing returns; 1000 */
} eddy_api_opts_t;

void eddy_api_opts_init(eddy_api_opts_t *o);
/* Adds the routes to router (o may be NULL: the defaults). prefix is ""
 * (routes at the root) or a path without a trailing slash. Returns 0,
 * UV_EINVAL (a bad prefix, max_keys 0), UV_ENOMEM, or the router's error.
 * A route already taken is looked for before any is added: UV_EEXIST then
 * leaves the router unchanged and *out NULL. Should the router fail later
 * (UV_E2BIG, UV_ENOMEM), the routes already added cannot be taken back:
 * *out is then set all the same, those routes answer 503, and it must be
 * freed like a working API (after the server). */
int eddy_api_new(eddy_router_t *router, const eddy_api_opts_t *o,
                 eddy_api_t **out);
void eddy_api_free(eddy_api_t *api);

#ifdef __cplusplus
}
#endif

#endif
