/* locks.c — the lock service's routes: list and inspect (read-only; taking
 * a lock needs a connection whose death releases it, which HTTP is not). */
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "eddy/error.h"
#include "eddy/http_form.h"

static eddy_api_t *enter_locks(eddy_http_request_t *req, void *arg) {
  eddy_api_t *api = eddy__api_enter(req, arg);
  if (api != NULL && api->locks == NULL) {
    eddy__api_off(req, "locks");
    return NULL;
  }
  return api;
}

static json_t *client_json(const char *client) {
  return client[0] != '\0' ? json_string(client) : json_null();
}

static json_t *ms_or_null(int64_t ms) {
  return ms >= 0 ? json_integer(ms) : json_null();
}

static json_t *holders_json(const eddy_locks_entry_t *e) {
  json_t *arr = json_array();
  for (size_t i = 0; arr != NULL && i < e->nholders; i++) {
    const eddy_locks_holder_t *h = &e->holders[i];
    json_t *o = json_pack(
        "{s:I,s:o,s:s,s:I,s:I,s:I,s:o}", "conn", (json_int_t)h->conn, "client",
        client_json(h->client), "mode", h->shared ? "shared" : "exclusive",
        "count", (json_int_t)h->count, "token", (json_int_t)h->token, "held_ms",
        (json_int_t)h->held_ms, "lease_ms", ms_or_null(h->lease_left_ms));
    if (o == NULL || json_array_append_new(arr, o) != 0) {
      json_decref(arr);
      return NULL;
    }
  }
  return arr;
}

static json_t *entry_json(const eddy_locks_entry_t *e, int queue) {
  json_t *holders = holders_json(e);
  if (holders == NULL)
    return NULL;
  json_t *o = json_pack("{s:s,s:s,s:o,s:I}", "name", e->name, "mode", e->mode,
                        "holders", holders, "waiters", (json_int_t)e->nwaiters);
  if (o == NULL || !queue)
    return o;
  json_t *arr = json_array();
  for (size_t i = 0; arr != NULL && i < e->nwaiters; i++) {
    const eddy_locks_waiter_t *w = &e->waiters[i];
    json_t *x = json_pack("{s:I,s:o,s:s,s:I,s:o}", "conn", (json_int_t)w->conn,
                          "client", client_json(w->client), "mode",
                          w->shared ? "shared" : "exclusive", "waited_ms",
                          (json_int_t)w->waited_ms, "timeout_ms",
                          ms_or_null(w->timeout_left_ms));
    if (x == NULL || json_array_append_new(arr, x) != 0) {
      json_decref(arr);
      arr = NULL;
    }
  }
  if (arr == NULL || json_object_set_new(o, "queue", arr) != 0) {
    json_decref(o);
    return NULL;
  }
  return o;
}

static void query_error(eddy_http_request_t *req, int rc) {
  eddy__api_error(req, 500, eddy_strerror(rc));
}

void eddy__api_locks_list(eddy_http_request_t *req, void *arg) {
  eddy_api_t *api = enter_locks(req, arg);
  if (api == NULL)
    return;
  eddy_api_list_t l;
  if (eddy__api_list_query(req, 1000, EDDY__API_LIST_MAX, &l) != 0)
    return;
  eddy_locks_entry_t *e;
  size_t n;
  int truncated;
  int rc = eddy_locks_list(api->locks, l.prefix, l.prefix_len, (size_t)l.limit,
                           &e, &n, &truncated);
  eddy_form_free(l.q);
  if (rc != 0) {
    query_error(req, rc);
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; arr != NULL && i < n; i++) {
    json_t *o = entry_json(&e[i], 0);
    if (o == NULL || json_array_append_new(arr, o) != 0) {
      json_decref(arr);
      arr = NULL;
    }
  }
  eddy_locks_entries_free(e, n);
  if (arr == NULL) {
    eddy__api_error(req, 500, "out of memory");
    return;
  }
  eddy__api_ok(req,
               json_pack("{s:o,s:b}", "locks", arr, "truncated", truncated));
}

void eddy__api_locks_inspect(eddy_http_request_t *req, void *arg) {
  eddy_api_t *api = enter_locks(req, arg);
  if (api == NULL)
    return;
  const char *name = eddy_http_param(req, "name");
  eddy_locks_entry_t *e;
  int rc = eddy_locks_inspect(api->locks, name, strlen(name), &e);
  if (rc == UV_EINVAL) {
    eddy__api_error(req, 400, "bad lock name");
    return;
  }
  if (rc != 0) {
    query_error(req, rc);
    return;
  }
  json_t *o = entry_json(e, 1);
  eddy_locks_entries_free(e, 1);
  eddy__api_ok(req, o);
}
