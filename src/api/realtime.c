/* realtime.c — the hub's routes: publish, broadcast, presence, history,
 * channels, and minting connection tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_internal.h"
#include "eddy/error.h"
#include "eddy/http_form.h"
#include "realtime/lines_internal.h"
#include "realtime/rt_internal.h"

/* The hub enters here: the API must be usable and the hub on. */
static eddy_api_t *enter_hub(eddy_http_request_t *req, void *arg) {
  eddy_api_t *api = eddy__api_enter(req, arg);
  if (api != NULL && api->hub == NULL) {
    eddy__api_off(req, "realtime");
    return NULL;
  }
  return api;
}

static void rt_error(eddy_http_request_t *req, int rc) {
  const char *msg;
  int status = eddy__rt_error_status(rc, &msg);
  eddy__api_error(req, status, msg);
}

/* The "data" member as JSON text (malloc'd), or NULL after answering. */
static char *data_text(eddy_http_request_t *req, json_t *body) {
  json_t *data = json_object_get(body, "data");
  if (data == NULL) {
    eddy__api_error(req, 400, "\"data\" is required (any JSON value)");
    return NULL;
  }
  char *text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
  if (text == NULL)
    eddy__api_error(req, 500, "out of memory");
  return text;
}

static json_t *published_json(const char *channel,
                              const eddy_rt_published_t *p) {
  return json_pack("{s:s,s:I,s:s,s:I}", "channel", channel, "offset",
                   (json_int_t)p->offset, "epoch", p->epoch, "subscribers",
                   (json_int_t)p->subscribers);
}

void eddy__api_publish(eddy_http_request_t *req, void *arg) {
  eddy_api_t *api = enter_hub(req, arg);
  if (api == NULL)
    return;
  json_t *body = eddy__api_body_object(req);
  if (body == NULL)
    return;
  const char *channel = json_string_value(json_object_get(body, "channel"));
  if (channel == NULL) {
    json_decref(body);
    eddy__api_error(req, 400, "\"channel\" must be a string");
    return;
  }
  char *text = data_text(req, body);
  if (text == NULL) {
    json_decref(body);
    return;
  }
  eddy_rt_published_t res;
  int rc = eddy_rt_publish(api->hub, channel, text, strlen(text), &res);
  free(text);
  if (rc != 0)
    rt_error(req, rc);
  else
    eddy__api_ok(req, published_json(channel, &res));
  json_decref(body);
}

/* Checks the "channels" array: strings, 1 to EDDY__RT_BROADCAST_MAX of
 * them, none twice. Returns 0 or answers 400 and returns -1. */
static int check_channels(eddy_http_request_t *req, json_t *chans) {
  size_t n = json_array_size(chans);
  if (!json_is_array(chans) || n == 0 || n > EDDY__RT_BROADCAST_MAX) {
    eddy__api_error(req, 400,
                    "\"channels\" must be an array of 1 to 1000 channel names");
    return -1;
  }
  json_t *seen = json_object();
  if (seen == NULL) {
    eddy__api_error(req, 500, "out of memory");
    return -1;
  }
  const char *why = NULL;
  for (size_t i = 0; i < n && why == NULL; i++) {
    json_t *c = json_array_get(chans, i);
    const char *s = json_string_value(c);
    if (s == NULL)
      why = "\"channels\" must hold strings only";
    else if (json_object_get(seen, s) != NULL)
      why = "a channel is named twice in \"channels\"";
    else if (json_object_set(seen, s, json_true()) != 0)
      why = "out of memory";
  }
  json_decref(seen);
  if (why != NULL) {
    eddy__api_error(req, 400, why);
    return -1;
  }
  return 0;
}

void eddy__api_broadcast(eddy_http_request_t *req, void *arg) {
  eddy_api_t *api = enter_hub(req, arg);
  if (api == NULL)
    return;
  json_t *body = eddy__api_body_object(req);
  if (body == NULL)
    return;
  json_t *chans = json_object_get(body, "channels");
  char *text = NULL;
  if (check_channels(req, chans) != 0 ||
      (text = data_text(req, body)) == NULL) {
    json_decref(body);
    return;
  }
  size_t len = strlen(text);
  /* Data that is too large fails for every channel alike: checked once,
   * one answer for the whole request. */
  int rc = eddy__rt_data_check(api->hub, text, len);
  json_t *results = rc == 0 ? json_array() : NULL;
  if (rc == 0 && results == NULL)
    rc = UV_ENOMEM;
  for (size_t i = 0; rc == 0 && i < json_array_size(chans); i++) {
    const char *ch = json_string_value(json_array_get(chans, i));
    eddy_rt_published_t res;
    int prc =
        eddy__rt_publish_checked(api->hub, ch, strlen(ch), text, len, &res);
    json_t *one;
    if (prc == 0) {
      one = published_json(ch, &res);
    } else {
      const char *msg;
      int status = eddy__rt_error_status(prc, &msg);
      one = json_pack("{s:s,s:s,s:i}", "channel", ch, "error", msg, "status",
                      status);
    }
    if (one == NULL || json_array_append_new(results, one) != 0)
      rc = UV_ENOMEM;
  }
  free(text);
  json_decref(body);
  if (rc != 0) {
    json_decref(results);
    rt_error(req, rc);
    return;
  }
  eddy__api_ok(req, json_pack("{s:o}", "results", results));
}

void eddy__api_presence(eddy_http_request_t *req, void *arg) {
  eddy_api_t *api = enter_hub(req, arg);
  if (api == NULL)
    return;
  json_t *out = NULL;
  int rc = eddy_rt_presence(api->hub, eddy_http_param(req, "channel"), &out);
  if (rc == UV_EPERM)
    eddy__api_error(req, 403, "presence is off in this namespace");
  else if (rc != 0)
    rt_error(req, rc);
  else
    eddy__api_ok(req, out);
}

void eddy__api_history(eddy_http_request_t *req, void *arg) {
  eddy_api_t *api = enter_hub(req, arg);
  if (api == NULL)
    return;
  eddy_form_t *q;
  uint64_t since, limit;
  if (eddy__api_query(req, &q) != 0)
    return;
  if (eddy__api_query_u64(req, q, "since", 0, UINT64_MAX - 1, &since) != 0 ||
      eddy__api_query_u64(req, q, "limit", 0, EDDY__API_LIST_MAX, &limit) !=
          0) {
    eddy_form_free(q);
    return;
  }
  eddy_form_free(q);
  json_t *out = NULL;
  int rc = eddy_rt_history(api->hub, eddy_http_param(req, "channel"), since,
                           (size_t)limit, &out);
  if (rc != 0)
    rt_error(req, rc);
  else
    eddy__api_ok(req, out);
}

void eddy__api_channels(eddy_http_request_t *req, void *arg) {
  eddy_api_t *api = enter_hub(req, arg);
  if (api == NULL)
    return;
  eddy_api_list_t l;
  if (eddy__api_list_query(req, 1000, EDDY__API_LIST_MAX, &l) != 0)
    return;
  /* One more than asked tells whether the listing was cut. */
  size_t want = (size_t)l.limit;
  json_t *list = NULL;
  int rc = eddy_rt_channels(api->hub, l.prefix, want + 1, &list);
  eddy_form_free(l.q);
  if (rc != 0) {
    rt_error(req, rc);
    return;
  }
  int truncated = json_array_size(list) > want;
  if (truncated)
    json_array_remove(list, want);
  eddy__api_ok(
      req, json_pack("{s:o,s:b}", "channels", list, "truncated", truncated));
}

void eddy__api_token(eddy_http_request_t *req, void *arg) {
  eddy_api_t *api = eddy__api_enter(req, arg);
  if (api == NULL)
    return;
  if (api->token_secret == NULL) {
    eddy__api_error(req, 404, "no token secret is configured");
    return;
  }
  json_t *body = eddy__api_body_object(req);
  if (body == NULL)
    return;
  json_t *user = json_object_get(body, "user");
  json_t *ttl = json_object_get(body, "ttl");
  json_t *info = json_object_get(body, "info");
  const char *why = NULL;
  if (!json_is_string(user))
    why = "\"user\" must be a string";
  else if (ttl != NULL &&
           (!json_is_integer(ttl) || json_integer_value(ttl) < 0 ||
            (uint64_t)json_integer_value(ttl) > EDDY__API_TOKEN_TTL_MAX))
    why = "\"ttl\" must be whole seconds from 0 (no expiry) to 31622400";
  else if (info != NULL && !json_is_object(info) && !json_is_null(info))
    why = "\"info\" must be an object";
  if (why != NULL) {
    json_decref(body);
    eddy__api_error(req, 400, why);
    return;
  }
  uint64_t secs = ttl != NULL ? (uint64_t)json_integer_value(ttl)
                              : EDDY__API_TOKEN_TTL_DEFAULT;
  uint64_t exp = secs == 0 ? 0 : (uint64_t)time(NULL) + secs;
  char *tok = NULL;
  int rc = eddy_rt_token_make(api->token_secret, json_string_value(user), exp,
                              json_is_object(info) ? info : NULL, &tok);
  json_decref(body);
  if (rc == UV_EINVAL) {
    eddy__api_error(req, 400, "user and info make a token too long");
    return;
  }
  if (rc != 0) {
    eddy__api_error(req, 500, "out of memory");
    return;
  }
  json_t *out =
      json_pack("{s:s,s:o}", "token", tok, "expires",
                exp != 0 ? json_integer((json_int_t)exp) : json_null());
  free(tok);
  eddy__api_ok(req, out);
}
