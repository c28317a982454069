/* test_http_api.c — the HTTP JSON API through a real HTTP server over a
 * string transport (fake clock): every route, its errors and limits, the
 * bearer token, services that are off; and the cache and lock query
 * functions behind it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

/* ---- A hub client on a fake transport, to see publications arrive -------*/
typedef struct {
  char sent[16384];
  size_t len;
  eddy_rt_client_t *c;
} sub_t;

static int sub_send(void *conn, const char *text, size_t len) {
  sub_t *s = conn;
  cr_assert_lt(s->len + len + 1, sizeof(s->sent));
  memcpy(s->sent + s->len, text, len);
  s->len += len;
  s->sent[s->len++] = '\n';
  s->sent[s->len] = '\0';
  return 0;
}

static void sub_close(void *conn, unsigned code, const char *reason) {
  sub_t *s = conn;
  (void)code;
  (void)reason;
  eddy_rt_detach(s->c);
}

static size_t sub_buffered(void *conn) {
  (void)conn;
  return 0;
}

static const eddy_rt_conn_ops_t sub_ops = {
    .send = sub_send, .close = sub_close, .buffered = sub_buffered};

/* ---- The rig --------------------------------------------------------------*/
typedef struct {
  eddy_reactor_t *r;
  eddy_rt_t *hub;
  eddy_cache_t *cache;
  eddy_locks_t *locks;
  eddy_router_t *rt;
  eddy_api_t *api;
  eddy_http_server_t *srv;
  eddy_string_transport_t *st;
  eddy_string_transport_t *lk[2]; /* lock protocol connections */
  int nlk;
  sub_t sub;
  int bytewise;
  /* The last response. */
  int status;
  char head[4096];
  json_t *json;
} rig_t;

static void spin(eddy_reactor_t *r) {
  for (int i = 0; i < 20; i++)
    eddy_reactor_run_once(r, 0);
}

typedef struct {
  const char *token;
  const char *secret;
  int no_hub, no_cache, no_locks;
  size_t max_keys;
} setup_t;

static void rig_up(rig_t *g, const setup_t *s) {
  memset(g, 0, sizeof(*g));
  g->r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  if (!s->no_hub) {
    eddy_rt_opts_t o;
    eddy_rt_opts_init(&o);
    eddy_rt_namespace_t ns[2];
    eddy_rt_namespace_init(&ns[0], "");
    eddy_rt_namespace_init(&ns[1], "quiet");
    ns[1].presence = 0;
    ns[1].history_size = 0;
    o.namespaces = ns;
    o.namespace_count = 2;
    o.max_publication = 1024;
    cr_assert_eq(eddy_rt_new(g->r, &o, &g->hub), 0);
  }
  if (!s->no_cache) {
    eddy_cache_opts_t co;
    eddy_cache_opts_init(&co);
    co.max_item_size = 4096;
    cr_assert_eq(eddy_cache_new(g->r, &co, &g->cache), 0);
  }
  if (!s->no_locks)
    cr_assert_eq(eddy_locks_new(g->r, NULL, &g->locks), 0);
  cr_assert_eq(eddy_router_new(NULL, &g->rt), 0);
  eddy_api_opts_t ao;
  eddy_api_opts_init(&ao);
  ao.hub = g->hub;
  ao.cache = g->cache;
  ao.locks = g->locks;
  ao.token = s->token;
  ao.token_secret = s->secret;
  if (s->max_keys)
    ao.max_keys = s->max_keys;
  cr_assert_eq(eddy_api_new(g->rt, &ao, &g->api), 0);
  eddy_http_server_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.server_name = "";
  cfg.limits.max_body = 64 * 1024;
  cr_assert_eq(
      eddy_http_server_new(g->r, &cfg, eddy_router_handler, g->rt, &g->srv), 0);
  eddy_factory_t *f = eddy_http_server_factory(g->srv);
  eddy_protocol_t *p = f->build_protocol(f, NULL);
  cr_assert_not_null(p);
  g->st = eddy_string_transport_new(g->r);
  eddy_string_transport_connect(g->st, p);
}

static void on_closed(void *arg) {
  (*(int *)arg)++;
}

static void rig_down(rig_t *g) {
  int closed = 0, want = 1;
  json_decref(g->json);
  g->json = NULL;
  eddy_http_server_close(g->srv, 0, on_closed, &closed);
  spin(g->r);
  eddy_string_transport_free(g->st);
  if (g->hub != NULL) {
    want++;
    eddy_rt_close(g->hub, on_closed, &closed);
  }
  if (g->cache != NULL) {
    want++;
    eddy_cache_close(g->cache, on_closed, &closed);
  }
  if (g->locks != NULL) {
    want++;
    eddy_locks_close(g->locks, on_closed, &closed);
  }
  for (int i = 0; i < 200 && closed < want; i++)
    eddy_reactor_run_once(g->r, 0);
  cr_assert_eq(closed, want);
  for (int i = 0; i < g->nlk; i++)
    eddy_string_transport_free(g->lk[i]);
  test_close_reactor(g->r);
  eddy_api_free(g->api); /* after the server that routed to it */
  eddy_router_free(g->rt);
}

/* Sends a request and parses the answer: g->status, g->head, g->json
 * (NULL when the body is not JSON). extra: more header lines ("" none). */
static void call(rig_t *g, const char *method, const char *target,
                 const char *extra, const char *ctype, const char *body,
                 size_t blen) {
  char head[2048];
  int n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: t\r\n%s",
                   method, target, extra);
  if (body != NULL)
    n += snprintf(head + n, sizeof(head) - (size_t)n,
                  "Content-Type: %s\r\nContent-Length: %zu\r\n", ctype, blen);
  n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
  eddy_string_transport_clear(g->st);
  if (g->bytewise) {
    eddy_string_transport_feed_bytewise(g->st, head, (size_t)n);
    if (body != NULL)
      eddy_string_transport_feed_bytewise(g->st, body, blen);
  } else {
    eddy_string_transport_feed(g->st, head, (size_t)n);
    if (body != NULL && blen > 0)
      eddy_string_transport_feed(g->st, body, blen);
  }
  spin(g->r);
  size_t len;
  const char *out = eddy_string_transport_value(g->st, &len);
  const char *end = strstr(out, "\r\n\r\n");
  cr_assert_not_null(end, "no response:\n%s", out);
  size_t hl = (size_t)(end - out);
  cr_assert_lt(hl, sizeof(g->head));
  memcpy(g->head, out, hl);
  g->head[hl] = '\0';
  cr_assert_eq(sscanf(out, "HTTP/1.1 %d ", &g->status), 1);
  json_decref(g->json);
  g->json = json_loadb(end + 4, len - hl - 4, 0, NULL);
}

static void get(rig_t *g, const char *target) {
  call(g, "GET", target, "", NULL, NULL, 0);
}

static void post(rig_t *g, const char *target, const char *json) {
  call(g, "POST", target, "", "application/json", json, strlen(json));
}

/* The last answer had this status and, for errors, {"error": ...} holding
 * want. */
static void expect(rig_t *g, int status, const char *want) {
  char *text = g->json ? json_dumps(g->json, JSON_COMPACT) : NULL;
  cr_assert_eq(g->status, status, "status %d, want %d:\n%s\n%s", g->status,
               status, g->head, text ? text : "(no JSON)");
  cr_assert_not_null(g->json, "%s", g->head);
  if (want != NULL) {
    const char *err = json_string_value(json_object_get(g->json, "error"));
    cr_assert(err != NULL && strstr(err, want) != NULL, "'%s' lacks '%s'", text,
              want);
  }
  free(text);
}

static json_int_t num(rig_t *g, const char *key) {
  json_t *v = json_object_get(g->json, key);
  cr_assert(json_is_integer(v), "%s is not a number", key);
  return json_integer_value(v);
}

static const char *str(rig_t *g, const char *key) {
  const char *s = json_string_value(json_object_get(g->json, key));
  cr_assert_not_null(s, "%s is not a string: %s", key, json_dumps(g->json, 0));
  return s;
}

static void subscribe(rig_t *g, const char *channel) {
  if (g->sub.c == NULL)
    cr_assert_eq(
        eddy_rt_attach(g->hub, "test", &sub_ops, &g->sub, NULL, &g->sub.c), 0);
  char msg[256];
  snprintf(msg, sizeof(msg), "{\"op\":\"subscribe\",\"channel\":\"%s\"}",
           channel);
  eddy_rt_receive(g->sub.c, msg, strlen(msg));
  spin(g->r);
}

/* ---- Realtime -------------------------------------------------------------*/

Test(http_api, publish) {
  rig_t g;
  setup_t s = {0};
  rig_up(&g, &s);
  subscribe(&g, "news");
  g.bytewise = 1;
  post(&g, "/api/publish", "{\"channel\":\"news\",\"data\":{\"n\":1}}");
  expect(&g, 200, NULL);
  cr_assert_str_eq(str(&g, "channel"), "news");
  cr_assert_eq(num(&g, "offset"), 1);
  cr_assert_eq(num(&g, "subscribers"), 1);
  cr_assert_eq(strlen(str(&g, "epoch")), EDDY_RT_EPOCH_LEN);
  cr_assert(strstr(g.head, "Content-Type: application/json") != NULL);
  spin(g.r);
  cr_assert(strstr(g.sub.sent, "\"data\":{\"n\":1}") != NULL, "%s", g.sub.sent);
  g.bytewise = 0;
  post(&g, "/api/publish", "{\"channel\":\"news\",\"data\":\"two\"}");
  expect(&g, 200, NULL);
  cr_assert_eq(num(&g, "offset"), 2);
  /* A namespace without history answers offset 0. */
  post(&g, "/api/publish", "{\"channel\":\"quiet:x\",\"data\":null}");
  expect(&g, 200, NULL);
  cr_assert_eq(num(&g, "offset"), 0);
  rig_down(&g);
}

Test(http_api, publish_errors) {
  rig_t g;
  setup_t s = {0};
  rig_up(&g, &s);
  post(&g, "/api/publish", "{\"data\":1}");
  expect(&g, 400, "\"channel\" must be a string");
  post(&g, "/api/publish", "{\"channel\":\"c\"}");
  expect(&g, 400, "\"data\" is required");
  post(&g, "/api/publish", "{\"channel\":\"bad\\\"name\",\"data\":1}");
  expect(&g, 400, "bad channel name");
  post(&g, "/api/publish", "{\"channel\":\"nons:x\",\"data\":1}");
  expect(&g, 404, "unknown namespace");
  post(&g, "/api/publish", "[1]");
  expect(&g, 400, "must be a JSON object");
  post(&g, "/api/publish", "{\"channel\":");
  expect(&g, 400, "invalid JSON");
  post(&g, "/api/publish", "{\"channel\":\"c\",\"channel\":\"d\",\"data\":1}");
  expect(&g, 400, NULL);
  call(&g, "POST", "/api/publish", "", "text/plain", "x", 1);
  expect(&g, 415, NULL);
  char big[2048];
  snprintf(big, sizeof(big), "{\"channel\":\"c\",\"data\":\"%01500d\"}", 1);
  post(&g, "/api/publish", big);
  expect(&g, 413, "publication too large");
  get(&g, "/api/publish");
  cr_assert_eq(g.status, 405);
  rig_down(&g);
}

Test(http_api, broadcast) {
  rig_t g;
  setup_t s = {0};
  rig_up(&g, &s);
  subscribe(&g, "b");
  post(&g, "/api/broadcast",
       "{\"channels\":[\"a\",\"b\",\"nons:x\",\"quiet:y\"],\"data\":[1]}");
  expect(&g, 200, NULL);
  json_t *res = json_object_get(g.json, "results");
  cr_assert_eq(json_array_size(res), 4);
  cr_assert_eq(json_integer_value(
                   json_object_get(json_array_get(res, 1), "subscribers")),
               1);
  json_t *bad = json_array_get(res, 2);
  cr_assert_str_eq(json_string_value(json_object_get(bad, "channel")),
                   "nons:x");
  cr_assert_str_eq(json_string_value(json_object_get(bad, "error")),
                   "unknown namespace");
  cr_assert_eq(json_integer_value(json_object_get(bad, "status")), 404);
  cr_assert_not_null(json_object_get(json_array_get(res, 3), "offset"));
  spin(g.r);
  cr_assert(strstr(g.sub.sent, "\"data\":[1]") != NULL);

  post(&g, "/api/broadcast", "{\"channels\":[],\"data\":1}");
  expect(&g, 400, "1 to 1000");
  post(&g, "/api/broadcast", "{\"channels\":\"a\",\"data\":1}");
  expect(&g, 400, "1 to 1000");
  post(&g, "/api/broadcast", "{\"channels\":[\"a\",\"a\"],\"data\":1}");
  expect(&g, 400, "named twice");
  post(&g, "/api/broadcast", "{\"channels\":[\"a\",7],\"data\":1}");
  expect(&g, 400, "strings only");
  post(&g, "/api/broadcast", "{\"channels\":[\"a\"]}");
  expect(&g, 400, "\"data\" is required");
  rig_down(&g);
}

Test(http_api, presence_history_channels) {
  rig_t g;
  setup_t s = {0};
  rig_up(&g, &s);
  subscribe(&g, "room");
  get(&g, "/api/presence/room");
  expect(&g, 200, NULL);
  cr_assert_eq(json_array_size(json_object_get(g.json, "clients")), 1);
  get(&g, "/api/presence/quiet:x");
  expect(&g, 403, "presence is off");
  get(&g, "/api/presence/nons:x");
  expect(&g, 404, "unknown namespace");

  for (int i = 0; i < 5; i++)
    post(&g, "/api/publish", "{\"channel\":\"room\",\"data\":1}");
  get(&g, "/api/history/room");
  expect(&g, 200, NULL);
  cr_assert_eq(json_array_size(json_object_get(g.json, "publications")), 5);
  cr_assert_eq(num(&g, "offset"), 5);
  get(&g, "/api/history/room?since=3&limit=1");
  expect(&g, 200, NULL);
  json_t *pubs = json_object_get(g.json, "publications");
  cr_assert_eq(json_array_size(pubs), 1);
  cr_assert_eq(
      json_integer_value(json_object_get(json_array_get(pubs, 0), "offset")),
      4);
  get(&g, "/api/history/room?limit=x");
  expect(&g, 400, "limit must be a whole number");
  get(&g, "/api/history/room?since=-1");
  expect(&g, 400, "since must be a whole number");
  get(&g, "/api/history/room?limit=99999999999");
  expect(&g, 400, "limit");

  post(&g, "/api/publish", "{\"channel\":\"other\",\"data\":1}");
  get(&g, "/api/channels");
  expect(&g, 200, NULL);
  json_t *ch = json_object_get(g.json, "channels");
  cr_assert_eq(json_array_size(ch), 2);
  cr_assert_str_eq(
      json_string_value(json_object_get(json_array_get(ch, 0), "channel")),
      "other");
  cr_assert(json_is_false(json_object_get(g.json, "truncated")));
  get(&g, "/api/channels?limit=1");
  expect(&g, 200, NULL);
  cr_assert_eq(json_array_size(json_object_get(g.json, "channels")), 1);
  cr_assert(json_is_true(json_object_get(g.json, "truncated")));
  get(&g, "/api/channels?prefix=ro");
  expect(&g, 200, NULL);
  ch = json_object_get(g.json, "channels");
  cr_assert_eq(json_array_size(ch), 1);
  cr_assert_str_eq(
      json_string_value(json_object_get(json_array_get(ch, 0), "channel")),
      "room");
  get(&g, "/api/channels?prefix=%zz");
  cr_assert_eq(g.status, 400);
  rig_down(&g);
}

Test(http_api, token) {
  rig_t g;
  setup_t s = {0};
  rig_up(&g, &s);
  post(&g, "/api/token", "{\"user\":\"ada\"}");
  expect(&g, 404, "no token secret");
  rig_down(&g);

  s.secret = "k3y";
  rig_up(&g, &s);
  post(&g, "/api/token", "{\"user\":\"ada\",\"ttl\":60,\"info\":{\"a\":1}}");
  expect(&g, 200, NULL);
  char *user = NULL;
  json_t *info = NULL;
  const char *tok = str(&g, "token");
  uint64_t exp = (uint64_t)num(&g, "expires");
  cr_assert_eq(
      eddy_rt_token_verify("k3y", tok, strlen(tok), exp - 1, &user, &info), 0);
  cr_assert_str_eq(user, "ada");
  cr_assert_eq(json_integer_value(json_object_get(info, "a")), 1);
  free(user);
  json_decref(info);
  cr_assert_eq(eddy_rt_token_verify("k3y", tok, strlen(tok), exp, &user, NULL),
               UV_EACCES);
  post(&g, "/api/token", "{\"user\":\"bob\",\"ttl\":0}");
  expect(&g, 200, NULL);
  cr_assert(json_is_null(json_object_get(g.json, "expires")));
  post(&g, "/api/token", "{\"user\":5}");
  expect(&g, 400, "\"user\" must be a string");
  post(&g, "/api/token", "{\"user\":\"a\",\"ttl\":-1}");
  expect(&g, 400, "\"ttl\"");
  post(&g, "/api/token", "{\"user\":\"a\",\"ttl\":1.5}");
  expect(&g, 400, "\"ttl\"");
  post(&g, "/api/token", "{\"user\":\"a\",\"info\":[]}");
  expect(&g, 400, "\"info\"");
  rig_down(&g);
}

Test(http_api, bearer_token) {
  rig_t g;
  setup_t s = {.token = "t0k"};
  rig_up(&g, &s);
  get(&g, "/api/channels");
  expect(&g, 401, "bearer token is required");
  cr_assert(strstr(g.head, "WWW-Authenticate: Bearer") != NULL, "%s", g.head);
  call(&g, "GET", "/api/channels", "Authorization: Bearer t0kk\r\n", NULL, NULL,
       0);
  expect(&g, 401, "bad bearer token");
  call(&g, "GET", "/api/channels", "Authorization: Basic t0k\r\n", NULL, NULL,
       0);
  expect(&g, 401, NULL);
  call(&g, "GET", "/api/channels", "Authorization: Bearer t0k x\r\n", NULL,
       NULL, 0);
  expect(&g, 401, NULL);
  call(&g, "GET", "/api/channels", "Authorization: bearer  t0k\r\n", NULL, NULL,
       0);
  expect(&g, 200, NULL);
  /* Every route is guarded, the cache and locks too. */
  get(&g, "/api/cache/k");
  expect(&g, 401, NULL);
  get(&g, "/api/locks");
  expect(&g, 401, NULL);
  rig_down(&g);
}

Test(http_api, services_off) {
  rig_t g;
  setup_t s = {.no_hub = 1, .no_cache = 1, .no_locks = 1};
  rig_up(&g, &s);
  post(&g, "/api/publish", "{\"channel\":\"c\",\"data\":1}");
  expect(&g, 503, "realtime service is off");
  get(&g, "/api/channels");
  expect(&g, 503, "realtime service is off");
  get(&g, "/api/cache/k");
  expect(&g, 503, "cache service is off");
  get(&g, "/api/cache");
  expect(&g, 503, "cache service is off");
  get(&g, "/api/locks/x");
  expect(&g, 503, "locks service is off");
  rig_down(&g);
}

/* ---- Cache ----------------------------------------------------------------*/

Test(http_api, cache_put_get_delete) {
  rig_t g;
  setup_t s = {0};
  rig_up(&g, &s);
  g.bytewise = 1;
  call(&g, "PUT", "/api/cache/greeting?ttl=10&flags=7", "", "text/plain",
       "hello", 5);
  expect(&g, 200, NULL);
  cr_assert_eq(num(&g, "bytes"), 5);
  g.bytewise = 0;
  get(&g, "/api/cache/greeting");
  expect(&g, 200, NULL);
  cr_assert_str_eq(str(&g, "key"), "greeting");
  cr_assert_str_eq(str(&g, "value"), "hello");
  cr_assert_eq(num(&g, "flags"), 7);
  cr_assert_eq(num(&g, "ttl"), 10);
  /* Expiry runs on the reactor's clock. */
  eddy_reactor_advance(g.r, 10001);
  get(&g, "/api/cache/greeting");
  expect(&g, 404, "no such key");

  const char *j = "{\"value\":\"v\\u00e9\",\"flags\":3}";
  call(&g, "PUT", "/api/cache/j", "", "application/json", j, strlen(j));
  expect(&g, 200, NULL);
  get(&g, "/api/cache/j");
  expect(&g, 200, NULL);
  cr_assert_str_eq(str(&g, "value"), "v\xc3\xa9");
  cr_assert(json_is_null(json_object_get(g.json, "ttl")));
  cr_assert_eq(num(&g, "flags"), 3);

  /* Bytes that are not UTF-8 come back in base64, both ways. */
  call(&g, "PUT", "/api/cache/bin", "", "application/octet-stream",
       "\xff\x00\x01", 3);
  expect(&g, 200, NULL);
  get(&g, "/api/cache/bin");
  expect(&g, 200, NULL);
  cr_assert_str_eq(str(&g, "value_base64"), "/wAB");
  cr_assert_null(json_object_get(g.json, "value"));
  j = "{\"value_base64\":\"/wABAg==\"}";
  call(&g, "PUT", "/api/cache/bin2", "", "application/json", j, strlen(j));
  expect(&g, 200, NULL);
  cr_assert_eq(num(&g, "bytes"), 4);
  j = "{\"value_base64\":\"!!!\"}";
  call(&g, "PUT", "/api/cache/bin3", "", "application/json", j, strlen(j));
  expect(&g, 400, "not base64");
  j = "{\"value\":\"a\",\"value_base64\":\"YQ==\"}";
  call(&g, "PUT", "/api/cache/x", "", "application/json", j, strlen(j));
  expect(&g, 400, "exactly one");
  j = "{\"value\":\"a\",\"ttl\":-5}";
  call(&g, "PUT", "/api/cache/x", "", "application/json", j, strlen(j));
  expect(&g, 400, "\"ttl\"");

  call(&g, "DELETE", "/api/cache/j", "", NULL, NULL, 0);
  expect(&g, 200, NULL);
  cr_assert(json_is_true(json_object_get(g.json, "deleted")));
  call(&g, "DELETE", "/api/cache/j", "", NULL, NULL, 0);
  expect(&g, 404, "no such key");

  get(&g, "/api/cache/a%20b");
  expect(&g, 400, "bad key");
  char big[5000];
  memset(big, 'v', sizeof(big));
  call(&g, "PUT", "/api/cache/big", "", "text/plain", big, sizeof(big));
  expect(&g, 413, "item size limit");
  call(&g, "PUT", "/api/cache/k?ttl=abc", "", "text/plain", "v", 1);
  expect(&g, 400, "ttl must be a whole number");

  eddy_cache_stats_t st;
  eddy_cache_stats(g.cache, &st);
  cr_assert_gt(st.get_hits, 0);
  cr_assert_gt(st.cmd_set, 0);
  rig_down(&g);
}

Test(http_api, cache_list) {
  rig_t g;
  setup_t s = {.max_keys = 3};
  rig_up(&g, &s);
  const char *keys[] = {"user:2", "user:1", "item:9", "user:3", "user:4"};
  for (size_t i = 0; i < 5; i++)
    cr_assert_eq(
        eddy_cache_set(g.cache, keys[i], strlen(keys[i]), "v", 1, 0, 0), 0);
  get(&g, "/api/cache?prefix=user:&limit=2");
  expect(&g, 200, NULL);
  cr_assert_eq(json_array_size(json_object_get(g.json, "keys")), 2);
  cr_assert(json_is_true(json_object_get(g.json, "truncated")));
  get(&g, "/api/cache?prefix=item");
  expect(&g, 200, NULL);
  json_t *k = json_object_get(g.json, "keys");
  cr_assert_eq(json_array_size(k), 1);
  cr_assert_str_eq(json_string_value(json_array_get(k, 0)), "item:9");
  cr_assert(json_is_false(json_object_get(g.json, "truncated")));
  /* Over max_keys is refused, not silently cut. */
  get(&g, "/api/cache?limit=4");
  expect(&g, 400, "limit");
  get(&g, "/api/cache");
  expect(&g, 200, NULL);
  cr_assert_eq(json_array_size(json_object_get(g.json, "keys")), 3);
  cr_assert(json_is_true(json_object_get(g.json, "truncated")));
  rig_down(&g);
}

Test(http_api, cache_query_functions) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_cache_t *c;
  cr_assert_eq(eddy_cache_new(r, NULL, &c), 0);
  eddy_cache_item_t it;
  cr_assert_eq(eddy_cache_get(c, "k", 1, &it), UV_ENOENT);
  cr_assert_eq(eddy_cache_get(c, "a b", 3, &it), UV_EINVAL);
  cr_assert_eq(eddy_cache_get(c, "", 0, &it), UV_EINVAL);
  cr_assert_eq(eddy_cache_set(c, "k", 1, "", 0, 1, 0), 0);
  cr_assert_eq(eddy_cache_get(c, "k", 1, &it), 0);
  cr_assert_eq(it.len, 0);
  cr_assert_str_eq(it.value, "");
  cr_assert_eq(it.ttl, -1);
  eddy_cache_item_free(&it);
  /* A negative exptime is already expired, as in memcached. */
  cr_assert_eq(eddy_cache_set(c, "k", 1, "v", 1, 0, -1), 0);
  cr_assert_eq(eddy_cache_get(c, "k", 1, &it), UV_ENOENT);
  cr_assert_eq(eddy_cache_set(c, "k", 1, "v", 1, 0, 5), 0);
  char **keys;
  size_t n;
  int trunc;
  cr_assert_eq(eddy_cache_keys(c, NULL, 0, 0, &keys, &n, &trunc), 0);
  cr_assert_eq(n, 1);
  cr_assert_str_eq(keys[0], "k");
  free(keys);
  eddy_reactor_advance(r, 5000);
  cr_assert_eq(eddy_cache_keys(c, NULL, 0, 0, &keys, &n, &trunc), 0);
  cr_assert_eq(n, 0);
  free(keys);
  cr_assert_eq(eddy_cache_delete(c, "k", 1), UV_ENOENT);
  int closed = 0;
  eddy_cache_close(c, on_closed, &closed);
  spin(r);
  cr_assert_eq(closed, 1);
  test_close_reactor(r);
}

/* ---- Locks ----------------------------------------------------------------*/

static int lock_conn(rig_t *g, const char *lines) {
  eddy_factory_t *f = eddy_locks_factory(g->locks);
  eddy_protocol_t *p = f->build_protocol(f, NULL);
  g->lk[g->nlk] = eddy_string_transport_new(g->r);
  eddy_string_transport_connect(g->lk[g->nlk], p);
  eddy_string_transport_feed(g->lk[g->nlk], lines, strlen(lines));
  return g->nlk++;
}

Test(http_api, locks) {
  rig_t g;
  setup_t s = {0};
  rig_up(&g, &s);
  get(&g, "/api/locks");
  expect(&g, 200, NULL);
  cr_assert_eq(json_array_size(json_object_get(g.json, "locks")), 0);
  lock_conn(&g, "hello worker-1\r\nacquire jobs/a lease=30000\r\n");
  eddy_reactor_advance(g.r, 250);
  lock_conn(&g, "acquire jobs/a wait=10000\r\nacquire other shared\r\n");
  spin(g.r);
  get(&g, "/api/locks");
  expect(&g, 200, NULL);
  json_t *locks = json_object_get(g.json, "locks");
  cr_assert_eq(json_array_size(locks), 2);
  json_t *a = json_array_get(locks, 0);
  cr_assert_str_eq(json_string_value(json_object_get(a, "name")), "jobs/a");
  cr_assert_str_eq(json_string_value(json_object_get(a, "mode")), "exclusive");
  cr_assert_eq(json_integer_value(json_object_get(a, "waiters")), 1);
  json_t *h = json_array_get(json_object_get(a, "holders"), 0);
  cr_assert_str_eq(json_string_value(json_object_get(h, "client")), "worker-1");
  cr_assert_eq(json_integer_value(json_object_get(h, "held_ms")), 250);
  cr_assert_eq(json_integer_value(json_object_get(h, "lease_ms")), 29750);
  cr_assert_gt(json_integer_value(json_object_get(h, "token")), 0);
  json_t *o = json_array_get(locks, 1);
  cr_assert_str_eq(json_string_value(json_object_get(o, "mode")), "shared");
  cr_assert(json_is_null(json_object_get(
      json_array_get(json_object_get(o, "holders"), 0), "client")));

  get(&g, "/api/locks?prefix=jobs/");
  expect(&g, 200, NULL);
  cr_assert_eq(json_array_size(json_object_get(g.json, "locks")), 1);
  get(&g, "/api/locks?limit=1");
  expect(&g, 200, NULL);
  cr_assert(json_is_true(json_object_get(g.json, "truncated")));

  /* A name with a slash reaches inspect escaped. */
  get(&g, "/api/locks/jobs%2Fa");
  expect(&g, 200, NULL);
  json_t *q = json_object_get(g.json, "queue");
  cr_assert_eq(json_array_size(q), 1);
  json_t *w = json_array_get(q, 0);
  cr_assert_str_eq(json_string_value(json_object_get(w, "mode")), "exclusive");
  cr_assert_eq(json_integer_value(json_object_get(w, "timeout_ms")), 10000);
  get(&g, "/api/locks/free-one");
  expect(&g, 200, NULL);
  cr_assert_str_eq(str(&g, "mode"), "free");
  cr_assert_eq(json_array_size(json_object_get(g.json, "holders")), 0);
  rig_down(&g);
}

/* ---- Construction ---------------------------------------------------------*/

static void nop(eddy_http_request_t *req, void *arg) {
  (void)arg;
  eddy_http_respond(req, 204, NULL, NULL, 0);
}

Test(http_api, new_errors) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_router_t *rt;
  cr_assert_eq(eddy_router_new(NULL, &rt), 0);
  eddy_api_opts_t o;
  eddy_api_opts_init(&o);
  eddy_api_t *api = (eddy_api_t *)1;
  o.prefix = "api";
  cr_assert_eq(eddy_api_new(rt, &o, &api), UV_EINVAL);
  cr_assert_null(api);
  o.prefix = "/api/";
  cr_assert_eq(eddy_api_new(rt, &o, &api), UV_EINVAL);
  o.prefix = "/api";
  o.max_keys = 0;
  cr_assert_eq(eddy_api_new(rt, &o, &api), UV_EINVAL);
  o.max_keys = 10;
  /* A route already taken is found before any is added. */
  cr_assert_eq(eddy_router_add(rt, "GET", "/api/cache/:id", nop, NULL), 0);
  cr_assert_eq(eddy_api_new(rt, &o, &api), UV_EEXIST);
  cr_assert_null(api);
  eddy_router_match_t m;
  cr_assert_eq(eddy_router_match(rt, "POST", "/api/publish", 12, &m), 0);
  cr_assert_eq(m.status, 404, "nothing was left behind");
  eddy_router_match_cleanup(&m);
  /* Another prefix works beside it; a wildcard route is no conflict. */
  cr_assert_eq(eddy_router_add(rt, "GET", "/v2/*rest", nop, NULL), 0);
  o.prefix = "/v2";
  cr_assert_eq(eddy_api_new(rt, &o, &api), 0);
  eddy_api_free(api);
  eddy_router_free(rt);
  test_close_reactor(r);
}
