/* cache.c — the cache's routes: the key-value web front end.
 *
 * PUT takes the value either raw (any Content-Type but JSON: the body is
 * the value, ?ttl= and ?flags= in the query) or as JSON {"value": text |
 * "value_base64": b64, "flags": n, "ttl": s}. GET answers the value as a
 * JSON string when it is UTF-8, else base64 in "value_base64". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "api/api_internal.h"
#include "eddy/error.h"
#include "eddy/http_form.h"
#include "eddy/utf8.h"

/* memcached's exptime range we accept: up to 30 days relative, larger as
 * an absolute unix time (until 2106). */
#define TTL_MAX 4294967295u

static eddy_api_t *enter_cache(eddy_http_request_t *req, void *arg) {
  eddy_api_t *api = eddy__api_enter(req, arg);
  if (api != NULL && api->cache == NULL) {
    eddy__api_off(req, "cache");
    return NULL;
  }
  return api;
}

static void key_error(eddy_http_request_t *req) {
  eddy__api_error(req, 400,
                  "bad key: 1 to 250 bytes, no spaces or control characters");
}

void eddy__api_cache_get(eddy_http_request_t *req, void *arg) {
  eddy_api_t *api = enter_cache(req, arg);
  if (api == NULL)
    return;
  const char *key = eddy_http_param(req, "key");
  eddy_cache_item_t it;
  int rc = eddy_cache_get(api->cache, key, strlen(key), &it);
  if (rc == UV_EINVAL) {
    key_error(req);
    return;
  }
  if (rc == UV_ENOENT) {
    eddy__api_error(req, 404, "no such key");
    return;
  }
  if (rc != 0) {
    eddy__api_error(req, 500, "out of memory");
    return;
  }
  json_t *out =
      json_pack("{s:s,s:I,s:o}", "key", key, "flags", (json_int_t)it.flags,
                "ttl", it.ttl >= 0 ? json_integer(it.ttl) : json_null());
  json_t *v = NULL;
  const char *field = "value";
  if (eddy_utf8_valid(it.value, it.len) == 0) {
    v = json_stringn(it.value, it.len);
  } else {
    char *b64 = malloc(4 * ((it.len + 2) / 3) + 1);
    if (b64 != NULL) {
      EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)it.value,
                      (int)it.len);
      v = json_string(b64);
      free(b64);
    }
    field = "value_base64";
  }
  eddy_cache_item_free(&it);
  if (out == NULL || v == NULL || json_object_set_new(out, field, v) != 0) {
    json_decref(out);
    eddy__api_error(req, 500, "out of memory");
    return;
  }
  eddy__api_ok(req, out);
}

/* Decodes standard base64 (padding required, as EVP writes it). Returns
 * the length, or -1. */
static long b64_decode(const char *s, size_t n, unsigned char *out) {
  if (n % 4 != 0)
    return -1;
  if (n == 0)
    return 0;
  int len = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
  if (len < 0)
    return -1;
  /* EVP_DecodeBlock counts the padding as zero bytes. */
  if (s[n - 1] == '=')
    len--;
  if (s[n - 2] == '=')
    len--;
  return len;
}

typedef struct {
  const char *value;
  size_t len;
  unsigned char *owned; /* decoded base64 */
  uint64_t flags;
  uint64_t ttl;
} put_t;

/* From a JSON body. Returns 0, or answers 400 and returns -1. */
static int put_from_json(eddy_http_request_t *req, json_t *body, put_t *p) {
  json_t *v = json_object_get(body, "value");
  json_t *b = json_object_get(body, "value_base64");
  json_t *fl = json_object_get(body, "flags");
  json_t *ttl = json_object_get(body, "ttl");
  const char *why = NULL;
  if ((v == NULL) == (b == NULL))
    why = "give exactly one of \"value\" and \"value_base64\"";
  else if (v != NULL && !json_is_string(v))
    why = "\"value\" must be a string";
  else if (b != NULL && !json_is_string(b))
    why = "\"value_base64\" must be a string";
  else if (fl != NULL && (!json_is_integer(fl) || json_integer_value(fl) < 0 ||
                          json_integer_value(fl) > (json_int_t)UINT32_MAX))
    why = "\"flags\" must be a whole number from 0 to 4294967295";
  else if (ttl != NULL &&
           (!json_is_integer(ttl) || json_integer_value(ttl) < 0 ||
            json_integer_value(ttl) > (json_int_t)TTL_MAX))
    why = "\"ttl\" must be whole seconds from 0 (no expiry) to 4294967295";
  if (why == NULL && b != NULL) {
    size_t n = json_string_length(b);
    p->owned = malloc(n / 4 * 3 + 3);
    long len =
        p->owned != NULL ? b64_decode(json_string_value(b), n, p->owned) : -1;
    if (len < 0)
      why = "\"value_base64\" is not base64";
    else {
      p->value = (const char *)p->owned;
      p->len = (size_t)len;
    }
  } else if (why == NULL) {
    p->value = json_string_value(v);
    p->len = json_string_length(v);
  }
  if (why != NULL) {
    eddy__api_error(req, 400, why);
    return -1;
  }
  p->flags = fl != NULL ? (uint64_t)json_integer_value(fl) : 0;
  p->ttl = ttl != NULL ? (uint64_t)json_integer_value(ttl) : 0;
  return 0;
}

void eddy__api_cache_put(eddy_http_request_t *req, void *arg) {
  eddy_api_t *api = enter_cache(req, arg);
  if (api == NULL)
    return;
  const char *key = eddy_http_param(req, "key");
  put_t p = {0};
  json_t *body = NULL;
  eddy_form_t *q = NULL;
  if (eddy_json_is_json_type(eddy_http_header(req, "Content-Type"))) {
    if ((body = eddy__api_body_object(req)) == NULL)
      return;
    if (put_from_json(req, body, &p) != 0)
      goto out;
  } else {
    if (eddy__api_query(req, &q) != 0)
      return;
    if (eddy__api_query_u64(req, q, "flags", 0, UINT32_MAX, &p.flags) != 0 ||
        eddy__api_query_u64(req, q, "ttl", 0, TTL_MAX, &p.ttl) != 0)
      goto out;
    p.value = eddy_http_body(req, &p.len);
  }
  int rc = eddy_cache_set(api->cache, key, strlen(key), p.value, p.len,
                          (uint32_t)p.flags, (int64_t)p.ttl);
  if (rc == UV_EINVAL)
    key_error(req);
  else if (rc == UV_E2BIG)
    eddy__api_error(req, 413, "value larger than the cache's item size limit");
  else if (rc != 0)
    eddy__api_error(req, 507, "the value does not fit in the cache's memory");
  else
    eddy__api_ok(req, json_pack("{s:s,s:I,s:I,s:I}", "key", key, "bytes",
                                (json_int_t)p.len, "flags", (json_int_t)p.flags,
                                "ttl", (json_int_t)p.ttl));
out:
  free(p.owned);
  json_decref(body);
  eddy_form_free(q);
}

void eddy__api_cache_delete(eddy_http_request_t *req, void *arg) {
  eddy_api_t *api = enter_cache(req, arg);
  if (api == NULL)
    return;
  const char *key = eddy_http_param(req, "key");
  int rc = eddy_cache_delete(api->cache, key, strlen(key));
  if (rc == UV_EINVAL)
    key_error(req);
  else if (rc == UV_ENOENT)
    eddy__api_error(req, 404, "no such key");
  else
    eddy__api_ok(req, json_pack("{s:s,s:b}", "key", key, "deleted", 1));
}

void eddy__api_cache_list(eddy_http_request_t *req, void *arg) {
  eddy_api_t *api = enter_cache(req, arg);
  if (api == NULL)
    return;
  eddy_api_list_t l;
  if (eddy__api_list_query(req, api->max_keys, api->max_keys, &l) != 0)
    return;
  char **keys;
  size_t n;
  int truncated;
  int rc = eddy_cache_keys(api->cache, l.prefix, l.prefix_len, (size_t)l.limit,
                           &keys, &n, &truncated);
  eddy_form_free(l.q);
  if (rc != 0) {
    eddy__api_error(req, 500, "out of memory");
    return;
  }
  json_t *arr = json_array();
  size_t unlisted = 0;
  for (size_t i = 0; arr != NULL && i < n; i++) {
    /* Keys are bytes; one that is not UTF-8 cannot be a JSON string: it is
     * counted instead. */
    json_t *k = json_string(keys[i]);
    if (k == NULL) {
      unlisted++;
      continue;
    }
    if (json_array_append_new(arr, k) != 0) {
      json_decref(arr);
      arr = NULL;
    }
  }
  free(keys);
  if (arr == NULL) {
    eddy__api_error(req, 500, "out of memory");
    return;
  }
  json_t *out = json_pack("{s:o,s:b}", "keys", arr, "truncated", truncated);
  if (out != NULL && unlisted > 0)
    json_object_set_new(out, "not_utf8", json_integer((json_int_t)unlisted));
  eddy__api_ok(req, out);
}
