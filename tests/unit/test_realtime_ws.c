/* The hub's WebSocket transport on string transports: requests fed one
 * byte at a time, deliveries gathered into one write per client per loop
 * turn, the slow reader closed with 4008, binary messages refused, close
 * frames 4004 when the hub stops. */
#include "rt_peer.h"
#include "support.h"

#include <string.h>

static eddy_rt_t *new_hub(eddy_reactor_t *r, size_t max_send_queue) {
  static eddy_rt_namespace_t ns;
  char err[160];
  cr_assert_eq(eddy_rt_namespace_parse("chat history=100 ttl=0 publish=yes",
                                       &ns, err, sizeof(err)),
               0);
  eddy_rt_opts_t o;
  eddy_rt_opts_init(&o);
  o.namespaces = &ns;
  o.namespace_count = 1;
  if (max_send_queue > 0)
    o.max_send_queue = max_send_queue;
  eddy_rt_t *hub;
  cr_assert_eq(eddy_rt_new(r, &o, &hub), 0);
  return hub;
}

/* Lets on_open run (a later iteration than eddy_ws_new). */
static void settle(eddy_reactor_t *r) {
  for (int i = 0; i < 3; i++)
    eddy_reactor_run_once(r, 0);
}

static void drop(rt_wspeer_t *w) {
  eddy_string_transport_disconnect(w->st, UV_ECONNRESET);
  eddy_string_transport_free(w->st);
}

static void finish(eddy_reactor_t *r, eddy_rt_t *hub) {
  eddy_rt_close(hub, NULL, NULL);
  test_close_reactor(r);
}

/* The close frame's code (asserts the next frame is a close). */
static unsigned expect_close(rt_wspeer_t *w, const char *reason) {
  unsigned op = 0;
  char *payload = rt_wspeer_next(w, &op);
  cr_assert_not_null(payload, "no close frame");
  cr_assert_eq(op, EDDY_WS_OP_CLOSE);
  unsigned code = ((unsigned)(uint8_t)payload[0] << 8) | (uint8_t)payload[1];
  cr_assert_str_eq(payload + 2, reason);
  free(payload);
  return code;
}

Test(rt_ws, requests_fed_byte_by_byte) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_rt_t *hub = new_hub(r, 0);
  rt_wspeer_t w;
  rt_wspeer_open(hub, r, &w);
  settle(r);
  rt_wspeer_say(&w, "{\"op\":\"ping\",\"id\":1}", 1);
  settle(r);
  rt_wspeer_expect(&w, "{\"op\":\"pong\",\"id\":1}");
  rt_wspeer_say(&w, "{\"op\":\"subscribe\",\"id\":2,\"channel\":\"chat:b\"}",
                1);
  rt_wspeer_say(&w,
                "{\"op\":\"publish\",\"id\":3,\"channel\":\"chat:b\","
                "\"data\":\"x\"}",
                1);
  settle(r);
  char *sub = rt_wspeer_next(&w, NULL);
  cr_assert_not_null(sub);
  cr_assert_eq(strncmp(sub, "{\"op\":\"subscribed\",\"id\":2,", 26), 0, "%s",
               sub);
  free(sub);
  rt_wspeer_expect(&w, "{\"op\":\"message\",\"channel\":\"chat:b\","
                       "\"offset\":1,\"data\":\"x\",\"info\":{\"client\":"
                       "\"1\",\"user\":\"\"}}");
  char *pub = rt_wspeer_next(&w, NULL);
  cr_assert_not_null(pub);
  cr_assert_eq(strncmp(pub, "{\"op\":\"published\",\"id\":3,", 25), 0);
  free(pub);
  /* Binary frames are not the protocol: 4000. */
  uint8_t frame[16] = {0x82, 0x81, 1, 2, 3, 4, 'x' ^ 1};
  eddy_string_transport_feed(w.st, frame, 7);
  settle(r);
  rt_wspeer_expect(&w, "{\"op\":\"error\",\"id\":null,\"code\":400,"
                       "\"message\":\"messages are JSON text\"}");
  cr_assert_eq(expect_close(&w, "messages are JSON text"), 4000);
  drop(&w);
  finish(r, hub);
}

Test(rt_ws, one_write_per_client_per_turn) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_rt_t *hub = new_hub(r, 0);
  enum { CLIENTS = 3, PUBS = 10 };
  rt_wspeer_t w[CLIENTS];
  for (int i = 0; i < CLIENTS; i++) {
    rt_wspeer_open(hub, r, &w[i]);
    settle(r);
    rt_wspeer_say(&w[i], "{\"op\":\"subscribe\",\"channel\":\"chat:c\"}", 0);
  }
  settle(r);
  for (int i = 0; i < CLIENTS; i++) {
    eddy_string_transport_clear(w[i].st);
    w[i].seen = 0;
  }
  for (int p = 0; p < PUBS; p++)
    cr_assert_eq(eddy_rt_publish(hub, "chat:c", "{\"n\":1}", 7, NULL), 0);
  /* Gathered, not written yet: the end of the loop turn writes. */
  for (int i = 0; i < CLIENTS; i++)
    cr_assert_eq(eddy_string_transport_write_count(w[i].st), 0);
  eddy_reactor_run_once(r, 0);
  for (int i = 0; i < CLIENTS; i++) {
    cr_assert_eq(eddy_string_transport_write_count(w[i].st), 1,
                 "client %d: %zu writes", i,
                 eddy_string_transport_write_count(w[i].st));
    for (int p = 0; p < PUBS; p++) {
      char want[128];
      snprintf(want, sizeof(want),
               "{\"op\":\"message\",\"channel\":\"chat:c\",\"offset\":%d,"
               "\"data\":{\"n\":1}}",
               p + 1);
      rt_wspeer_expect(&w[i], want);
    }
    cr_assert_null(rt_wspeer_next(&w[i], NULL));
  }
  /* The next turn starts a new gathering. */
  cr_assert_eq(eddy_rt_publish(hub, "chat:c", "2", 1, NULL), 0);
  eddy_reactor_run_once(r, 0);
  for (int i = 0; i < CLIENTS; i++)
    cr_assert_eq(eddy_string_transport_write_count(w[i].st), 2);
  for (int i = 0; i < CLIENTS; i++)
    drop(&w[i]);
  finish(r, hub);
}

Test(rt_ws, slow_reader_closed_with_4008) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_rt_t *hub = new_hub(r, 4096);
  rt_wspeer_t fast, slow;
  rt_wspeer_open(hub, r, &fast);
  rt_wspeer_open(hub, r, &slow);
  settle(r);
  rt_wspeer_say(&fast, "{\"op\":\"subscribe\",\"channel\":\"chat:s\"}", 0);
  rt_wspeer_say(&slow, "{\"op\":\"subscribe\",\"channel\":\"chat:s\"}", 0);
  settle(r);
  free(rt_wspeer_next(&fast, NULL)); /* subscribed */
  free(rt_wspeer_next(&fast, NULL)); /* slow's join */
  free(rt_wspeer_next(&slow, NULL));
  /* The kernel takes nothing more from the slow one. */
  eddy_string_transport_set_pending(slow.st, 4000);
  cr_assert_eq(eddy_rt_publish(hub, "chat:s", "\"0123456789\"", 12, NULL), 0);
  cr_assert_eq(eddy_rt_publish(hub, "chat:s", "\"0123456789\"", 12, NULL), 0);
  eddy_reactor_run_once(r, 0);
  free(rt_wspeer_next(&slow, NULL)); /* the first fitted */
  rt_wspeer_expect(&slow, "{\"op\":\"disconnect\",\"code\":4008,\"reason\":"
                          "\"send queue full\"}");
  cr_assert_eq(expect_close(&slow, "send queue full"), 4008);
  eddy_rt_stats_t st;
  eddy_rt_stats(hub, &st);
  cr_assert_eq(st.dropped_slow_total, 1);
  /* The fast one got both. */
  free(rt_wspeer_next(&fast, NULL));
  free(rt_wspeer_next(&fast, NULL));
  cr_assert_null(rt_wspeer_next(&fast, NULL));
  eddy_string_transport_set_pending(slow.st, 0);
  drop(&slow);
  settle(r);
  eddy_rt_stats(hub, &st);
  cr_assert_eq(st.clients, 1);
  drop(&fast);
  finish(r, hub);
}

Test(rt_ws, hub_close_sends_4004) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_rt_t *hub = new_hub(r, 0);
  rt_wspeer_t w;
  rt_wspeer_open(hub, r, &w);
  settle(r);
  rt_wspeer_say(&w, "{\"op\":\"subscribe\",\"channel\":\"chat:z\"}", 0);
  settle(r);
  free(rt_wspeer_next(&w, NULL));
  /* A publication gathered in this turn still leaves before the close. */
  cr_assert_eq(eddy_rt_publish(hub, "chat:z", "1", 1, NULL), 0);
  eddy_rt_close(hub, NULL, NULL);
  rt_wspeer_expect(&w, "{\"op\":\"message\",\"channel\":\"chat:z\","
                       "\"offset\":1,\"data\":1}");
  cr_assert_eq(expect_close(&w, "server stopping"), 4004);
  drop(&w);
  test_close_reactor(r);
}
