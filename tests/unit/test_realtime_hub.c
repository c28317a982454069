/* The hub through its transport-neutral entry points (eddy_rt_attach,
 * eddy_rt_receive, eddy_rt_detach): requests and replies byte for byte,
 * presence and join/leave, publish permissions, limits, recovery, tokens
 * and the connect timeout, the send queue limit, closing. */
#include "rt_peer.h"
#include "support.h"

#include <string.h>

typedef struct {
  eddy_reactor_t *r;
  eddy_rt_t *hub;
  eddy_rt_namespace_t ns[4];
  eddy_rt_opts_t o;
} fx_t;

static void fx_opts(fx_t *f) {
  char err[160];
  cr_assert_eq(eddy_rt_namespace_parse("chat history=3 ttl=0 publish=yes",
                                       &f->ns[0], err, sizeof(err)),
               0);
  cr_assert_eq(eddy_rt_namespace_parse("quiet presence=no join_leave=no",
                                       &f->ns[1], err, sizeof(err)),
               0);
  cr_assert_eq(eddy_rt_namespace_parse("eddy history=5 publish=yes", &f->ns[2],
                                       err, sizeof(err)),
               0);
  cr_assert_eq(eddy_rt_namespace_parse("live history=0 publish=yes", &f->ns[3],
                                       err, sizeof(err)),
               0);
  eddy_rt_opts_init(&f->o);
  f->o.namespaces = f->ns;
  f->o.namespace_count = 4;
}

static void fx_start(fx_t *f) {
  cr_assert_eq(eddy_rt_new(f->r, &f->o, &f->hub), 0);
}

static void fx_init(fx_t *f) {
  memset(f, 0, sizeof(*f));
  f->r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  fx_opts(f);
}

static int closed_flag;
static void on_closed(void *arg) {
  *(int *)arg = 1;
}

static void fx_done(fx_t *f) {
  closed_flag = 0;
  eddy_rt_close(f->hub, on_closed, &closed_flag);
  cr_assert_eq(closed_flag, 0, "close callback ran inside eddy_rt_close");
  for (int i = 0; i < 10 && !closed_flag; i++)
    eddy_reactor_run_once(f->r, 0);
  cr_assert_eq(closed_flag, 1);
  test_close_reactor(f->r);
}

/* The epoch a subscribed reply carries. */
static void epoch_of(const char *reply, char epoch[EDDY_RT_EPOCH_LEN + 1]) {
  const char *e = strstr(reply, "\"epoch\":\"");
  cr_assert_not_null(e, "%s", reply);
  memcpy(epoch, e + 9, EDDY_RT_EPOCH_LEN);
  epoch[EDDY_RT_EPOCH_LEN] = '\0';
}

Test(rt_hub, subscribe_publish_exact) {
  fx_t f;
  fx_init(&f);
  fx_start(&f);
  rt_peer_t *a = rt_peer_new(f.hub), *b = rt_peer_new(f.hub);
  rt_peer_say(a, "{\"op\":\"connect\",\"id\":1,\"info\":{\"name\":\"ann\"}}");
  rt_peer_expect(a, "{\"op\":\"connected\",\"id\":1,\"client\":\"1\","
                    "\"user\":\"\",\"ping_ms\":25000}");
  rt_peer_say(a, "{\"op\":\"subscribe\",\"id\":2,\"channel\":\"chat:x\"}");
  const char *rep = rt_peer_next(a);
  char epoch[EDDY_RT_EPOCH_LEN + 1], want[512];
  epoch_of(rep, epoch);
  snprintf(want, sizeof(want),
           "{\"op\":\"subscribed\",\"id\":2,\"channel\":\"chat:x\","
           "\"epoch\":\"%s\",\"offset\":0,\"publications\":[]}",
           epoch);
  cr_assert_str_eq(rep, want);
  /* b is anonymous: no connect needed without a secret. */
  rt_peer_say(b, "{\"op\":\"subscribe\",\"id\":\"s\",\"channel\":\"chat:x\"}");
  rt_peer_next(b);
  rt_peer_expect(a, "{\"op\":\"join\",\"channel\":\"chat:x\",\"client\":\"2\","
                    "\"user\":\"\",\"info\":{}}");
  cr_assert_eq(rt_peer_unread(b), 0, "no join event to the joiner");
  rt_peer_say(b, "{\"op\":\"publish\",\"id\":3,\"channel\":\"chat:x\","
                 "\"data\": {\"text\" : \"hi\"} }");
  const char *push = "{\"op\":\"message\",\"channel\":\"chat:x\",\"offset\":1,"
                     "\"data\":{\"text\":\"hi\"},\"info\":{\"client\":\"2\","
                     "\"user\":\"\"}}";
  rt_peer_expect(b, push);
  snprintf(want, sizeof(want),
           "{\"op\":\"published\",\"id\":3,\"channel\":\"chat:x\","
           "\"offset\":1,\"epoch\":\"%s\"}",
           epoch);
  rt_peer_expect(b, want);
  rt_peer_expect(a, push);
  /* A backend publication carries no info and is delivered as given. */
  eddy_rt_published_t out;
  cr_assert_eq(eddy_rt_publish(f.hub, "chat:x", "[1, 2]", 6, &out), 0);
  cr_assert_eq(out.offset, 2);
  cr_assert_eq(out.subscribers, 2);
  cr_assert_str_eq(out.epoch, epoch);
  rt_peer_expect(a, "{\"op\":\"message\",\"channel\":\"chat:x\",\"offset\":2,"
                    "\"data\":[1, 2]}");
  rt_peer_say(a, "{\"op\":\"ping\",\"id\":\"p\"}");
  rt_peer_expect(a, "{\"op\":\"pong\",\"id\":\"p\"}");
  rt_peer_say(a, "{\"op\":\"unsubscribe\",\"id\":4,\"channel\":\"chat:x\"}");
  rt_peer_expect(a,
                 "{\"op\":\"unsubscribed\",\"id\":4,\"channel\":\"chat:x\"}");
  rt_peer_say(a, "{\"op\":\"unsubscribe\",\"id\":5,\"channel\":\"chat:x\"}");
  rt_peer_expect(a, "{\"op\":\"error\",\"id\":5,\"code\":404,\"message\":"
                    "\"not subscribed\"}");
  rt_peer_expect(b, "{\"op\":\"message\",\"channel\":\"chat:x\",\"offset\":2,"
                    "\"data\":[1, 2]}");
  rt_peer_expect(b, "{\"op\":\"leave\",\"channel\":\"chat:x\",\"client\":"
                    "\"1\",\"user\":\"\",\"info\":{\"name\":\"ann\"}}");
  rt_peer_say(a, "{\"op\":\"connect\",\"id\":6}");
  rt_peer_expect(a, "{\"op\":\"error\",\"id\":6,\"code\":409,\"message\":"
                    "\"already connected\"}");
  rt_peer_say(b, "{\"op\":\"connect\",\"id\":7}");
  rt_peer_expect(b, "{\"op\":\"error\",\"id\":7,\"code\":409,\"message\":"
                    "\"connect must be the first message\"}");
  cr_assert_eq(a->closed + b->closed, 0);
  eddy_rt_stats_t st;
  eddy_rt_stats(f.hub, &st);
  cr_assert_eq(st.clients, 2);
  cr_assert_eq(st.subscriptions, 1);
  cr_assert_eq(st.published_total, 2);
  cr_assert_eq(st.delivered_total, 4);
  rt_peer_free(a);
  rt_peer_free(b);
  fx_done(&f);
}

Test(rt_hub, history_and_recovery) {
  fx_t f;
  fx_init(&f);
  fx_start(&f);
  rt_peer_t *a = rt_peer_new(f.hub);
  rt_peer_say(a, "{\"op\":\"subscribe\",\"id\":1,\"channel\":\"chat:r\"}");
  char epoch[EDDY_RT_EPOCH_LEN + 1], want[1024];
  epoch_of(rt_peer_next(a), epoch);
  for (int i = 1; i <= 2; i++) {
    char d[8];
    snprintf(d, sizeof(d), "%d", i);
    cr_assert_eq(eddy_rt_publish(f.hub, "chat:r", d, 1, NULL), 0);
  }
  rt_peer_free(a); /* a saw offset 2, then went away */
  cr_assert_eq(eddy_rt_publish(f.hub, "chat:r", "3", 1, NULL), 0);
  cr_assert_eq(eddy_rt_publish(f.hub, "chat:r", "4", 1, NULL), 0);
  /* Kept (history=3): 2, 3, 4. Recovering from 2 gets 3 and 4. */
  rt_peer_t *b = rt_peer_new(f.hub);
  snprintf(want, sizeof(want),
           "{\"op\":\"subscribe\",\"id\":2,\"channel\":\"chat:r\","
           "\"recover\":{\"epoch\":\"%s\",\"offset\":2}}",
           epoch);
  rt_peer_say(b, want);
  snprintf(want, sizeof(want),
           "{\"op\":\"subscribed\",\"id\":2,\"channel\":\"chat:r\",\"epoch\":"
           "\"%s\",\"offset\":4,\"publications\":[{\"op\":\"message\","
           "\"channel\":\"chat:r\",\"offset\":3,\"data\":3},{\"op\":"
           "\"message\",\"channel\":\"chat:r\",\"offset\":4,\"data\":4}],"
           "\"recovered\":true}",
           epoch);
  rt_peer_expect(b, want);
  /* From 0, publication 1 is gone: nothing at all is replayed. */
  rt_peer_t *c = rt_peer_new(f.hub);
  snprintf(want, sizeof(want),
           "{\"op\":\"subscribe\",\"id\":3,\"channel\":\"chat:r\","
           "\"recover\":{\"epoch\":\"%s\",\"offset\":0}}",
           epoch);
  rt_peer_say(c, want);
  snprintf(want, sizeof(want),
           "{\"op\":\"subscribed\",\"id\":3,\"channel\":\"chat:r\",\"epoch\":"
           "\"%s\",\"offset\":4,\"publications\":[],\"recovered\":false,"
           "\"reason\":\"publications after this offset are no longer "
           "kept\"}",
           epoch);
  rt_peer_expect(c, want);
  /* Another epoch: not recovered either. */
  rt_peer_t *d = rt_peer_new(f.hub);
  rt_peer_say(d, "{\"op\":\"subscribe\",\"channel\":\"chat:r\",\"recover\":"
                 "{\"epoch\":\"ffffffffffffffff\",\"offset\":4}}");
  json_t *v = rt_peer_json(d);
  cr_assert(json_is_false(json_object_get(v, "recovered")));
  cr_assert_eq(json_array_size(json_object_get(v, "publications")), 0);
  json_decref(v);
  /* subscribe with history: the last N kept, oldest first. */
  rt_peer_t *e = rt_peer_new(f.hub);
  rt_peer_say(e, "{\"op\":\"subscribe\",\"channel\":\"chat:r\",\"history\":"
                 "2}");
  v = rt_peer_json(e);
  json_t *pubs = json_object_get(v, "publications");
  cr_assert_eq(json_array_size(pubs), 2);
  cr_assert_eq(
      json_integer_value(json_object_get(json_array_get(pubs, 0), "offset")),
      3);
  cr_assert_null(json_object_get(v, "recovered"));
  json_decref(v);
  rt_peer_say(e, "{\"op\":\"history\",\"id\":9,\"channel\":\"chat:r\","
                 "\"since\":3}");
  snprintf(want, sizeof(want),
           "{\"op\":\"history\",\"id\":9,\"channel\":\"chat:r\",\"epoch\":"
           "\"%s\",\"offset\":4,\"publications\":[{\"op\":\"message\","
           "\"channel\":\"chat:r\",\"offset\":4,\"data\":4}]}",
           epoch);
  rt_peer_expect(e, want);
  rt_peer_free(b);
  rt_peer_free(c);
  rt_peer_free(d);
  rt_peer_free(e);
  fx_done(&f);
}

Test(rt_hub, presence) {
  fx_t f;
  fx_init(&f);
  fx_start(&f);
  rt_peer_t *a = rt_peer_new(f.hub), *b = rt_peer_new(f.hub);
  rt_peer_say(a, "{\"op\":\"presence\",\"id\":1,\"channel\":\"chat:p\"}");
  rt_peer_expect(a, "{\"op\":\"presence\",\"id\":1,\"channel\":\"chat:p\","
                    "\"clients\":[]}");
  rt_peer_say(a, "{\"op\":\"subscribe\",\"channel\":\"chat:p\"}");
  rt_peer_say(b, "{\"op\":\"connect\",\"info\":{\"k\":[1]}}");
  rt_peer_say(b, "{\"op\":\"subscribe\",\"channel\":\"chat:p\"}");
  rt_peer_say(b, "{\"op\":\"presence\",\"id\":2,\"channel\":\"chat:p\"}");
  cr_assert_eq(b->n, 3);
  rt_peer_expect(b, b->msgs[0]); /* connected */
  rt_peer_next(b);               /* subscribed */
  rt_peer_expect(b, "{\"op\":\"presence\",\"id\":2,\"channel\":\"chat:p\","
                    "\"clients\":[{\"client\":\"1\",\"user\":\"\",\"info\":{}},"
                    "{\"client\":\"2\",\"user\":\"\",\"info\":{\"k\":[1]}}]}");
  json_t *v;
  cr_assert_eq(eddy_rt_presence(f.hub, "chat:p", &v), 0);
  cr_assert_eq(json_array_size(json_object_get(v, "clients")), 2);
  cr_assert_str_eq(json_string_value(json_object_get(v, "channel")), "chat:p");
  json_decref(v);
  /* A namespace without presence and without join/leave. */
  rt_peer_say(a, "{\"op\":\"subscribe\",\"channel\":\"quiet:q\"}");
  rt_peer_say(b, "{\"op\":\"subscribe\",\"channel\":\"quiet:q\"}");
  a->next = a->n;
  b->next = b->n;
  rt_peer_say(b, "{\"op\":\"presence\",\"id\":3,\"channel\":\"quiet:q\"}");
  rt_peer_expect(b, "{\"op\":\"error\",\"id\":3,\"code\":403,\"message\":"
                    "\"presence is off for this channel\"}");
  cr_assert_eq(eddy_rt_presence(f.hub, "quiet:q", &v), UV_EPERM);
  cr_assert_eq(eddy_rt_presence(f.hub, "nope:q", &v), UV_ENOENT);
  cr_assert_eq(eddy_rt_presence(f.hub, "bad name", &v), UV_EINVAL);
  rt_peer_free(b);
  /* a hears b leave chat:p, but nothing for quiet:q. */
  rt_peer_expect(a, "{\"op\":\"leave\",\"channel\":\"chat:p\",\"client\":"
                    "\"2\",\"user\":\"\",\"info\":{\"k\":[1]}}");
  cr_assert_eq(rt_peer_unread(a), 0);
  /* The channel list, sorted by name. */
  cr_assert_eq(eddy_rt_channels(f.hub, NULL, 0, &v), 0);
  cr_assert_eq(json_array_size(v), 2);
  cr_assert_str_eq(
      json_string_value(json_object_get(json_array_get(v, 0), "channel")),
      "chat:p");
  cr_assert_eq(
      json_integer_value(json_object_get(json_array_get(v, 1), "subscribers")),
      1);
  json_decref(v);
  cr_assert_eq(eddy_rt_channels(f.hub, "quiet", 0, &v), 0);
  cr_assert_eq(json_array_size(v), 1);
  json_decref(v);
  cr_assert_eq(eddy_rt_channels(f.hub, NULL, 1, &v), 0);
  cr_assert_eq(json_array_size(v), 1);
  json_decref(v);
  rt_peer_free(a);
  fx_done(&f);
}

Test(rt_hub, publish_permissions) {
  fx_t f;
  fx_init(&f);
  fx_start(&f);
  rt_peer_t *a = rt_peer_new(f.hub);
  rt_peer_say(a, "{\"op\":\"publish\",\"id\":1,\"channel\":\"quiet:x\","
                 "\"data\":1}");
  rt_peer_expect(a, "{\"op\":\"error\",\"id\":1,\"code\":403,\"message\":"
                    "\"clients may not publish on this channel\"}");
  /* "eddy" is the server's, whatever its options say. */
  rt_peer_say(a, "{\"op\":\"publish\",\"id\":2,\"channel\":\"eddy:metrics\","
                 "\"data\":1}");
  rt_peer_expect(a, "{\"op\":\"error\",\"id\":2,\"code\":403,\"message\":"
                    "\"clients may not publish on this channel\"}");
  cr_assert_eq(eddy_rt_publish(f.hub, "eddy:metrics", "1", 1, NULL), 0);
  /* The default namespace: client publish off by default. */
  rt_peer_say(a, "{\"op\":\"publish\",\"id\":3,\"channel\":\"plain\","
                 "\"data\":1}");
  rt_peer_expect(a, "{\"op\":\"error\",\"id\":3,\"code\":403,\"message\":"
                    "\"clients may not publish on this channel\"}");
  rt_peer_say(a, "{\"op\":\"subscribe\",\"id\":4,\"channel\":\"nope:x\"}");
  rt_peer_expect(a, "{\"op\":\"error\",\"id\":4,\"code\":404,\"message\":"
                    "\"unknown namespace\"}");
  cr_assert_eq(eddy_rt_publish(f.hub, "nope:x", "1", 1, NULL), UV_ENOENT);
  cr_assert_eq(eddy_rt_publish(f.hub, "a b", "1", 1, NULL), UV_EINVAL);
  cr_assert_eq(eddy_rt_publish(f.hub, "chat:x", "{", 1, NULL), EDDY_EPARSE);
  cr_assert_eq(eddy_rt_publish(f.hub, "chat:x", "1 2", 3, NULL), EDDY_EPARSE);
  /* A namespace without history: offset 0 in the push and the reply. */
  rt_peer_say(a, "{\"op\":\"subscribe\",\"channel\":\"live:x\"}");
  rt_peer_next(a);
  rt_peer_say(a, "{\"op\":\"publish\",\"id\":5,\"channel\":\"live:x\","
                 "\"data\":\"\\u00e9\"}");
  rt_peer_expect(a, "{\"op\":\"message\",\"channel\":\"live:x\",\"offset\":0,"
                    "\"data\":\"\xc3\xa9\",\"info\":{\"client\":\"1\","
                    "\"user\":\"\"}}");
  json_t *v = rt_peer_json(a);
  cr_assert_eq(json_integer_value(json_object_get(v, "offset")), 0);
  json_decref(v);
  rt_peer_free(a);
  fx_done(&f);
}

Test(rt_hub, request_errors_keep_the_connection) {
  fx_t f;
  fx_init(&f);
  fx_start(&f);
  rt_peer_t *a = rt_peer_new(f.hub);
  rt_peer_say(a, "{\"op\":\"subscribe\",\"id\":1}");
  rt_peer_expect(a, "{\"op\":\"error\",\"id\":1,\"code\":400,\"message\":"
                    "\"missing channel\"}");
  rt_peer_say(a, "{\"op\":\"subscribe\",\"channel\":\"chat:a\"}");
  rt_peer_next(a);
  rt_peer_say(a, "{\"op\":\"subscribe\",\"id\":2,\"channel\":\"chat:a\"}");
  rt_peer_expect(a, "{\"op\":\"error\",\"id\":2,\"code\":409,\"message\":"
                    "\"already subscribed\"}");
  cr_assert_eq(a->closed, 0);
  /* Broken: an error with a null id, then close 4000. */
  rt_peer_say(a, "[1]");
  rt_peer_expect(a, "{\"op\":\"error\",\"id\":null,\"code\":400,\"message\":"
                    "\"a message must be a JSON object\"}");
  cr_assert_eq(a->closed, 1);
  cr_assert_eq(a->code, 4000);
  cr_assert_str_eq(a->reason, "a message must be a JSON object");
  /* Closing: further messages are ignored. */
  rt_peer_say(a, "{\"op\":\"ping\"}");
  cr_assert_eq(rt_peer_unread(a), 0);
  rt_peer_free(a);
  fx_done(&f);
}

Test(rt_hub, limits) {
  fx_t f;
  fx_init(&f);
  f.o.max_subscriptions = 2;
  f.o.max_channels = 3;
  f.o.max_message = 100;
  f.o.max_publication = 10;
  f.o.max_clients = 2;
  fx_start(&f);
  rt_peer_t *a = rt_peer_new(f.hub), *b = rt_peer_new(f.hub);
  eddy_rt_client_t *c3;
  cr_assert_eq(eddy_rt_attach(f.hub, "test", &rt_peer_ops, NULL, NULL, &c3),
               UV_EBUSY);
  rt_peer_say(a, "{\"op\":\"subscribe\",\"channel\":\"chat:1\"}");
  rt_peer_say(a, "{\"op\":\"subscribe\",\"channel\":\"chat:2\"}");
  a->next = a->n;
  rt_peer_say(a, "{\"op\":\"subscribe\",\"id\":3,\"channel\":\"chat:3\"}");
  rt_peer_expect(a, "{\"op\":\"error\",\"id\":3,\"code\":429,\"message\":"
                    "\"too many subscriptions\"}");
  rt_peer_say(b, "{\"op\":\"subscribe\",\"channel\":\"chat:3\"}");
  b->next = b->n;
  rt_peer_say(b, "{\"op\":\"subscribe\",\"id\":4,\"channel\":\"chat:4\"}");
  rt_peer_expect(b, "{\"op\":\"error\",\"id\":4,\"code\":503,\"message\":"
                    "\"too many channels\"}");
  cr_assert_eq(eddy_rt_publish(f.hub, "chat:5", "1", 1, NULL), UV_EBUSY);
  char big[200];
  memset(big, ' ', sizeof(big));
  memcpy(big, "{\"op\":\"ping\"}", 13);
  eddy_rt_receive(b->c, big, 101);
  rt_peer_expect(b, "{\"op\":\"error\",\"id\":null,\"code\":413,\"message\":"
                    "\"message too large\"}");
  eddy_rt_receive(b->c, big, 100);
  rt_peer_expect(b, "{\"op\":\"pong\",\"id\":null}");
  rt_peer_say(b, "{\"op\":\"publish\",\"id\":5,\"channel\":\"chat:3\","
                 "\"data\":\"0123456789\"}");
  rt_peer_expect(b, "{\"op\":\"error\",\"id\":5,\"code\":413,\"message\":"
                    "\"publication too large\"}");
  /* Whitespace does not count: data is re-serialized compactly. */
  rt_peer_say(b, "{\"op\":\"publish\",\"id\":6,\"channel\":\"chat:3\","
                 "\"data\":[ 1 , 2 , 3 ]}");
  rt_peer_expect(b, "{\"op\":\"message\",\"channel\":\"chat:3\",\"offset\":1,"
                    "\"data\":[1,2,3],\"info\":{\"client\":\"2\",\"user\":"
                    "\"\"}}");
  cr_assert_eq(eddy_rt_publish(f.hub, "chat:3", "\"0123456789\"", 12, NULL),
               UV_E2BIG);
  cr_assert_eq(a->closed + b->closed, 0);
  rt_peer_free(a);
  rt_peer_free(b);
  fx_done(&f);
}

Test(rt_hub, bad_options) {
  eddy_reactor_t *r = test_reactor(0);
  eddy_rt_t *hub;
  eddy_rt_opts_t o;
  eddy_rt_opts_init(&o);
  o.max_send_queue = 0;
  cr_assert_eq(eddy_rt_new(r, &o, &hub), UV_EINVAL);
  eddy_rt_namespace_t ns[2];
  eddy_rt_namespace_init(&ns[0], "a");
  eddy_rt_namespace_init(&ns[1], "a");
  eddy_rt_opts_init(&o);
  o.namespaces = ns;
  o.namespace_count = 2;
  cr_assert_eq(eddy_rt_new(r, &o, &hub), UV_EINVAL);
  eddy_rt_namespace_init(&ns[1], "b:c");
  cr_assert_eq(eddy_rt_new(r, &o, &hub), UV_EINVAL);
  /* NULL options: defaults. */
  cr_assert_eq(eddy_rt_new(r, NULL, &hub), 0);
  eddy_rt_close(hub, NULL, NULL);
  test_close_reactor(r);
}

Test(rt_hub, slow_reader_gets_4008) {
  fx_t f;
  fx_init(&f);
  f.o.max_send_queue = 1000;
  eddy_metrics_t *m;
  cr_assert_eq(eddy_metrics_new(&m), 0);
  f.o.metrics = m;
  fx_start(&f);
  rt_peer_t *fast = rt_peer_new(f.hub), *slow = rt_peer_new(f.hub);
  slow->grow = 1; /* nothing it is sent is ever written */
  rt_peer_say(fast, "{\"op\":\"subscribe\",\"channel\":\"live:x\"}");
  rt_peer_say(slow, "{\"op\":\"subscribe\",\"channel\":\"live:x\"}");
  slow->buffered = 0;
  fast->next = fast->n;
  slow->next = slow->n;
  char data[128];
  memset(data, 'a', sizeof(data));
  data[0] = data[100] = '"';
  int i;
  for (i = 0; i < 20 && !slow->closed; i++)
    cr_assert_eq(eddy_rt_publish(f.hub, "live:x", data, 101, NULL), 0);
  cr_assert_eq(slow->closed, 1);
  cr_assert_eq(slow->code, 4008);
  cr_assert_str_eq(slow->reason, "send queue full");
  cr_assert_str_eq(slow->msgs[slow->n - 1],
                   "{\"op\":\"disconnect\",\"code\":4008,\"reason\":"
                   "\"send queue full\"}");
  /* Every message it got fitted in 1000 bytes, the disconnect aside. */
  cr_assert_leq(slow->buffered - strlen(slow->msgs[slow->n - 1]), 1000);
  size_t got = slow->n;
  cr_assert_eq(eddy_rt_publish(f.hub, "live:x", data, 101, NULL), 0);
  cr_assert_eq(slow->n, got, "nothing more to a closing client");
  cr_assert_eq(fast->closed, 0);
  cr_assert_eq(rt_peer_unread(fast), (size_t)i + 1);
  eddy_rt_stats_t st;
  eddy_rt_stats(f.hub, &st);
  cr_assert_eq(st.dropped_slow_total, 1);
  cr_assert_eq(eddy_counter_value(eddy_metrics_counter(
                   m, "eddy_realtime_dropped_clients_total", NULL, NULL)),
               1);
  cr_assert_eq(eddy_counter_value(eddy_metrics_counter(
                   m, "eddy_realtime_published_total", NULL, NULL)),
               (uint64_t)i + 1);
  cr_assert_eq(eddy_gauge_value(eddy_metrics_gauge(m, "eddy_realtime_clients",
                                                   "transport=\"test\"", NULL)),
               2);
  rt_peer_free(slow);
  rt_peer_free(fast);
  cr_assert_eq(eddy_gauge_value(eddy_metrics_gauge(m, "eddy_realtime_clients",
                                                   "transport=\"test\"", NULL)),
               0);
  fx_done(&f);
  eddy_metrics_free(m);
}

/* Transports that detach from inside close, while a delivery loop runs
 * over the very array they are in. */
Test(rt_hub, detach_during_delivery) {
  fx_t f;
  fx_init(&f);
  f.o.max_send_queue = 100;
  fx_start(&f);
  enum { N = 50 };
  rt_peer_t *p[N];
  for (int i = 0; i < N; i++) {
    p[i] = rt_peer_new(f.hub);
    rt_peer_say(p[i], "{\"op\":\"subscribe\",\"channel\":\"chat:d\"}");
  }
  for (int i = 0; i < N; i++) {
    p[i]->buffered = i % 2 == 0 ? 1000 : 0; /* every other one is slow */
    p[i]->detach_in_close = 1;
  }
  cr_assert_eq(eddy_rt_publish(f.hub, "chat:d", "1", 1, NULL), 0);
  eddy_rt_stats_t st;
  eddy_rt_stats(f.hub, &st);
  cr_assert_eq(st.clients, N / 2);
  cr_assert_eq(st.dropped_slow_total, N / 2);
  for (int i = 0; i < N; i++) {
    if (i % 2 == 0) {
      cr_assert_eq(p[i]->code, 4008);
    } else {
      cr_assert_eq(p[i]->closed, 0);
      /* The publication once; the slow ones' leave events after it. */
      int seen = 0, leaves = 0;
      for (size_t k = 0; k < p[i]->n; k++) {
        if (strcmp(p[i]->msgs[k], "{\"op\":\"message\",\"channel\":"
                                  "\"chat:d\",\"offset\":1,\"data\":1}") == 0)
          seen++;
        else if (strncmp(p[i]->msgs[k], "{\"op\":\"leave\"", 13) == 0)
          leaves++;
      }
      cr_assert_eq(seen, 1);
      /* and those of the odd ones freed before it */
      cr_assert_eq(leaves, N / 2 + (i - 1) / 2);
    }
    rt_peer_free(p[i]);
  }
  fx_done(&f);
}

Test(rt_hub, tokens_and_connect_timeout) {
  fx_t f;
  fx_init(&f);
  f.o.secret = "s3cret";
  f.o.connect_timeout_ms = 500;
  fx_start(&f);
  /* Anything before connect: 401 and 4001. */
  rt_peer_t *a = rt_peer_new(f.hub);
  rt_peer_say(a, "{\"op\":\"ping\",\"id\":1}");
  rt_peer_expect(a, "{\"op\":\"error\",\"id\":1,\"code\":401,\"message\":"
                    "\"connect first\"}");
  cr_assert_eq(a->code, 4001);
  /* A wrong token. */
  rt_peer_t *b = rt_peer_new(f.hub);
  char *tok;
  cr_assert_eq(eddy_rt_token_make("other", "bob", 0, NULL, &tok), 0);
  char msg[1024];
  snprintf(msg, sizeof(msg), "{\"op\":\"connect\",\"id\":2,\"token\":\"%s\"}",
           tok);
  free(tok);
  rt_peer_say(b, msg);
  rt_peer_expect(b, "{\"op\":\"error\",\"id\":2,\"code\":401,\"message\":"
                    "\"invalid or expired token\"}");
  cr_assert_eq(b->code, 4001);
  /* A good one: the user and the token's info. */
  rt_peer_t *c = rt_peer_new(f.hub);
  json_t *info = json_pack("{s:s}", "role", "admin");
  cr_assert_eq(eddy_rt_token_make("s3cret", "carol", 0, info, &tok), 0);
  json_decref(info);
  snprintf(msg, sizeof(msg),
           "{\"op\":\"connect\",\"id\":3,\"token\":\"%s\",\"info\":{\"x\":1}}",
           tok);
  free(tok);
  rt_peer_say(c, msg);
  rt_peer_expect(c, "{\"op\":\"connected\",\"id\":3,\"client\":\"3\","
                    "\"user\":\"carol\",\"ping_ms\":25000}");
  rt_peer_say(c, "{\"op\":\"subscribe\",\"channel\":\"chat:t\"}");
  rt_peer_next(c);
  rt_peer_say(c, "{\"op\":\"presence\",\"id\":4,\"channel\":\"chat:t\"}");
  rt_peer_expect(c, "{\"op\":\"presence\",\"id\":4,\"channel\":\"chat:t\","
                    "\"clients\":[{\"client\":\"3\",\"user\":\"carol\","
                    "\"info\":{\"role\":\"admin\"}}]}");
  /* No connect in time: 4002. c is connected and stays. */
  rt_peer_t *d = rt_peer_new(f.hub);
  eddy_reactor_advance(f.r, 499);
  cr_assert_eq(d->closed, 0);
  eddy_reactor_advance(f.r, 1);
  cr_assert_eq(d->closed, 1);
  cr_assert_eq(d->code, 4002);
  cr_assert_str_eq(d->reason, "connect timeout");
  cr_assert_eq(c->closed, 0);
  /* A connect that does not parse says what is wrong, not "connect
   * first", and still closes with 4001. */
  rt_peer_t *e = rt_peer_new(f.hub);
  rt_peer_say(e, "{\"op\":\"connect\",\"id\":5,\"tokn\":\"x\"}");
  json_t *rep = rt_peer_json(e);
  cr_assert_eq(json_integer_value(json_object_get(rep, "code")), 400);
  cr_assert_not_null(
      strstr(json_string_value(json_object_get(rep, "message")), "tokn"),
      "the message names the field");
  json_decref(rep);
  cr_assert_eq(e->code, 4001);
  rt_peer_free(e);
  rt_peer_free(a);
  rt_peer_free(b);
  rt_peer_free(c);
  rt_peer_free(d);
  fx_done(&f);
}

Test(rt_hub, close_stops_every_client) {
  fx_t f;
  fx_init(&f);
  fx_start(&f);
  rt_peer_t *a = rt_peer_new(f.hub), *b = rt_peer_new(f.hub);
  b->detach_in_close = 1;
  rt_peer_say(a, "{\"op\":\"subscribe\",\"channel\":\"chat:z\"}");
  rt_peer_say(b, "{\"op\":\"subscribe\",\"channel\":\"chat:z\"}");
  closed_flag = 0;
  eddy_rt_close(f.hub, on_closed, &closed_flag);
  cr_assert_eq(a->code, 4004);
  cr_assert_str_eq(a->reason, "server stopping");
  cr_assert_eq(b->code, 4004);
  eddy_rt_client_t *late;
  cr_assert_eq(eddy_rt_attach(f.hub, "test", &rt_peer_ops, NULL, NULL, &late),
               UV_ESHUTDOWN);
  for (int i = 0; i < 5; i++)
    eddy_reactor_run_once(f.r, 0);
  cr_assert_eq(closed_flag, 0, "a is still attached");
  rt_peer_free(a); /* its transport is gone */
  for (int i = 0; i < 5 && !closed_flag; i++)
    eddy_reactor_run_once(f.r, 0);
  cr_assert_eq(closed_flag, 1);
  rt_peer_free(b);
  test_close_reactor(f.r);
}

Test(rt_hub, failed_send_closes) {
  fx_t f;
  fx_init(&f);
  fx_start(&f);
  rt_peer_t *a = rt_peer_new(f.hub), *b = rt_peer_new(f.hub);
  rt_peer_say(a, "{\"op\":\"subscribe\",\"channel\":\"live:f\"}");
  rt_peer_say(b, "{\"op\":\"subscribe\",\"channel\":\"live:f\"}");
  a->fail = UV_EPIPE;
  b->fail = UV_ENOBUFS;
  eddy_rt_published_t out;
  cr_assert_eq(eddy_rt_publish(f.hub, "live:f", "1", 1, &out), 0);
  cr_assert_eq(out.subscribers, 0);
  cr_assert_eq(a->code, 4000);
  cr_assert_str_eq(a->reason, "send failed");
  cr_assert_eq(b->code, 4008);
  cr_assert_str_eq(b->reason, "send queue full");
  eddy_rt_stats_t st;
  eddy_rt_stats(f.hub, &st);
  cr_assert_eq(st.dropped_slow_total, 1);
  rt_peer_free(a);
  rt_peer_free(b);
  fx_done(&f);
}

/* A reply is bounded (8 MiB): asking for more history than that is refused
 * and leaves the client unsubscribed; a recovery that large is answered
 * "recovered": false — never a partial replay, never a dropped client. */
Test(rt_hub, replies_are_bounded) {
  fx_t f;
  fx_init(&f);
  char err[128];
  cr_assert_eq(eddy_rt_namespace_parse("big history=200 ttl=0", &f.ns[3], err,
                                       sizeof(err)),
               0, "%s", err);
  fx_start(&f);
  enum { SIZE = 65000, COUNT = 135 }; /* 8.8 MB kept */
  char *data = malloc(SIZE);
  cr_assert_not_null(data);
  memset(data, 'x', SIZE);
  data[0] = data[SIZE - 1] = '"';
  eddy_rt_published_t first;
  for (int i = 0; i < COUNT; i++)
    cr_assert_eq(
        eddy_rt_publish(f.hub, "big:h", data, SIZE, i == 0 ? &first : NULL), 0);
  free(data);
  rt_peer_t *p = rt_peer_new(f.hub);
  rt_peer_say(p, "{\"op\":\"subscribe\",\"id\":1,\"channel\":\"big:h\","
                 "\"history\":200}");
  rt_peer_expect(p, "{\"op\":\"error\",\"id\":1,\"code\":413,\"message\":"
                    "\"reply too large: ask for less\"}");
  rt_peer_say(p, "{\"op\":\"unsubscribe\",\"id\":2,\"channel\":\"big:h\"}");
  rt_peer_expect(p, "{\"op\":\"error\",\"id\":2,\"code\":404,\"message\":"
                    "\"not subscribed\"}");
  char req[256];
  snprintf(req, sizeof(req),
           "{\"op\":\"subscribe\",\"id\":3,\"channel\":\"big:h\","
           "\"recover\":{\"epoch\":\"%s\",\"offset\":1}}",
           first.epoch);
  rt_peer_say(p, req);
  json_t *rep = rt_peer_json(p);
  cr_assert_str_eq(json_string_value(json_object_get(rep, "op")), "subscribed");
  cr_assert(json_is_false(json_object_get(rep, "recovered")));
  cr_assert_eq(json_array_size(json_object_get(rep, "publications")), 0);
  cr_assert_str_eq(json_string_value(json_object_get(rep, "reason")),
                   "too many missed publications to replay");
  json_decref(rep);
  /* A modest history still comes whole. */
  rt_peer_t *q = rt_peer_new(f.hub);
  rt_peer_say(q, "{\"op\":\"subscribe\",\"id\":4,\"channel\":\"big:h\","
                 "\"history\":10}");
  rep = rt_peer_json(q);
  cr_assert_eq(json_array_size(json_object_get(rep, "publications")), 10);
  json_decref(rep);
  cr_assert_eq(p->closed, 0);
  rt_peer_free(p);
  rt_peer_free(q);
  fx_done(&f);
}

/* connect must be the first message, even after a request that was
 * refused for its fields. */
Test(rt_hub, connect_after_a_refused_request) {
  fx_t f;
  fx_init(&f);
  fx_start(&f);
  rt_peer_t *a = rt_peer_new(f.hub);
  rt_peer_say(a, "{\"op\":\"subscribe\",\"id\":1,\"channel\":\"chat:x\","
                 "\"bogus\":1}");
  json_t *rep = rt_peer_json(a);
  cr_assert_eq(json_integer_value(json_object_get(rep, "code")), 400);
  json_decref(rep);
  rt_peer_say(a, "{\"op\":\"connect\",\"id\":2}");
  rt_peer_expect(a, "{\"op\":\"error\",\"id\":2,\"code\":409,\"message\":"
                    "\"connect must be the first message\"}");
  cr_assert_eq(a->closed, 0);
  rt_peer_free(a);
  fx_done(&f);
}
