/* api_internal.h — what the files of the HTTP JSON API share.
 *
 * api.c       eddy_api_new/free, the routes, bearer auth, error helpers
 * realtime.c  publish, broadcast, presence, history, channels, token
 * cache.c     cache get, put, delete, list
 * locks.c     locks list and inspect
 */
#ifndef EDDY_API_INTERNAL_H
#define EDDY_API_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "eddy/http_api.h"
#include "eddy/http_json.h"
#include "eddy/http_server.h"

/* Largest limit a listing accepts from ?limit= (channels, locks). */
#define EDDY__API_LIST_MAX 10000
/* Longest lifetime POST /token grants: a year. */
#define EDDY__API_TOKEN_TTL_MAX ((uint64_t)366 * 24 * 3600)
#define EDDY__API_TOKEN_TTL_DEFAULT 3600

struct eddy_api_s {
  char *prefix;
  char *token;        /* NULL: open */
  char *token_secret; /* NULL: POST /token answers 404 */
  eddy_rt_t *hub;
  eddy_cache_t *cache;
  eddy_locks_t *locks;
  size_t max_keys;
  /* Set when eddy_api_new failed after adding routes: they answer 503. */
  int broken;
};

/* Every handler starts here: checks the API is usable and the bearer
 * token. Returns the API, or NULL after answering (401, 503). */
eddy_api_t *eddy__api_enter(eddy_http_request_t *req, void *arg);

/* {"error": message} with status; finishes the request. */
void eddy__api_error(eddy_http_request_t *req, int status, const char *message);
/* "<what> service is off" (503). */
void eddy__api_off(eddy_http_request_t *req, const char *what);
/* 200 with json (stolen). */
void eddy__api_ok(eddy_http_request_t *req, json_t *json);

/* The request's JSON body, which must be an object. NULL after answering
 * (400, 413, 415, 500). */
json_t *eddy__api_body_object(eddy_http_request_t *req);

/* The query string's parameters. Returns 0 with *out (may be NULL when the
 * query is empty), or answers (400, 414) and returns -1. */
struct eddy_form_s;
int eddy__api_query(eddy_http_request_t *req, struct eddy_form_s **out);
/* An unsigned decimal query parameter: 0 and *v (def when absent), or
 * answers 400 and returns -1. */
int eddy__api_query_u64(eddy_http_request_t *req, struct eddy_form_s *q,
                        const char *name, uint64_t def, uint64_t max,
                        uint64_t *v);

/* A listing's query: ?prefix=P&limit=N (N up to max; 0 or absent: def).
 * 0, or answers 400 and returns -1. prefix (NULL: none) points into q,
 * which the caller frees with eddy_form_free when done with it. */
typedef struct {
  struct eddy_form_s *q;
  const char *prefix;
  size_t prefix_len;
  uint64_t limit;
} eddy_api_list_t;
int eddy__api_list_query(eddy_http_request_t *req, uint64_t def, uint64_t max,
                         eddy_api_list_t *out);

/* Handlers (arg: the API). */
void eddy__api_publish(eddy_http_request_t *req, void *arg);
void eddy__api_broadcast(eddy_http_request_t *req, void *arg);
void eddy__api_presence(eddy_http_request_t *req, void *arg);
void eddy__api_history(eddy_http_request_t *req, void *arg);
void eddy__api_channels(eddy_http_request_t *req, void *arg);
void eddy__api_token(eddy_http_request_t *req, void *arg);
void eddy__api_cache_get(eddy_http_request_t *req, void *arg);
void eddy__api_cache_put(eddy_http_request_t *req, void *arg);
void eddy__api_cache_delete(eddy_http_request_t *req, void *arg);
void eddy__api_cache_list(eddy_http_request_t *req, void *arg);
void eddy__api_locks_list(eddy_http_request_t *req, void *arg);
void eddy__api_locks_inspect(eddy_http_request_t *req, void *arg);

#endif
