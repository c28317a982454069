/* Channel history: the ring's size, age limit on the fake clock, offsets,
 * epochs, the recovery decision (all or nothing), the memory limit. */
#include "support.h"

#include <string.h>

#include "realtime/rt_internal.h"

static eddy_rt_t *hub_with(eddy_reactor_t *r, const char *spec,
                           size_t history_memory) {
  static eddy_rt_namespace_t ns[2];
  char err[160];
  cr_assert_eq(eddy_rt_namespace_parse(spec, &ns[0], err, sizeof(err)), 0, "%s",
               err);
  cr_assert_eq(eddy_rt_namespace_parse("other history=100 ttl=0", &ns[1], err,
                                       sizeof(err)),
               0);
  eddy_rt_opts_t o;
  eddy_rt_opts_init(&o);
  o.namespaces = ns;
  o.namespace_count = 2;
  if (history_memory > 0)
    o.history_memory = history_memory;
  eddy_rt_t *hub;
  cr_assert_eq(eddy_rt_new(r, &o, &hub), 0);
  return hub;
}

static void close_hub(eddy_reactor_t *r, eddy_rt_t *hub) {
  eddy_rt_close(hub, NULL, NULL);
  test_close_reactor(r);
}

static json_t *history(eddy_rt_t *hub, const char *ch, uint64_t since,
                       size_t limit) {
  json_t *v = NULL;
  cr_assert_eq(eddy_rt_history(hub, ch, since, limit, &v), 0);
  return v;
}

static uint64_t pub_offset(json_t *pubs, size_t i) {
  return (uint64_t)json_integer_value(
      json_object_get(json_array_get(pubs, i), "offset"));
}

Test(rt_history, ring_keeps_the_newest) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_rt_t *hub = hub_with(r, "n history=4 ttl=0", 0);
  for (int i = 1; i <= 10; i++) {
    char data[16];
    snprintf(data, sizeof(data), "%d", i);
    eddy_rt_published_t out;
    cr_assert_eq(eddy_rt_publish(hub, "n:a", data, strlen(data), &out), 0);
    cr_assert_eq(out.offset, (uint64_t)i);
    cr_assert_eq(out.subscribers, 0);
    cr_assert_eq(strlen(out.epoch), EDDY_RT_EPOCH_LEN);
    cr_assert_eq(strspn(out.epoch, "0123456789abcdef"), EDDY_RT_EPOCH_LEN);
  }
  json_t *h = history(hub, "n:a", 0, 0);
  cr_assert_eq(json_integer_value(json_object_get(h, "offset")), 10);
  json_t *pubs = json_object_get(h, "publications");
  cr_assert_eq(json_array_size(pubs), 4);
  for (size_t i = 0; i < 4; i++) {
    cr_assert_eq(pub_offset(pubs, i), 7 + i);
    cr_assert_eq(
        json_integer_value(json_object_get(json_array_get(pubs, i), "data")),
        (json_int_t)(7 + i));
  }
  json_decref(h);
  /* since and limit page forward, oldest first. */
  h = history(hub, "n:a", 7, 2);
  pubs = json_object_get(h, "publications");
  cr_assert_eq(json_array_size(pubs), 2);
  cr_assert_eq(pub_offset(pubs, 0), 8);
  cr_assert_eq(pub_offset(pubs, 1), 9);
  json_decref(h);
  h = history(hub, "n:a", 10, 0);
  cr_assert_eq(json_array_size(json_object_get(h, "publications")), 0);
  json_decref(h);
  /* A channel nobody used: no epoch, offset 0. */
  h = history(hub, "n:never", 0, 0);
  cr_assert_str_eq(json_string_value(json_object_get(h, "epoch")), "");
  cr_assert_eq(json_integer_value(json_object_get(h, "offset")), 0);
  json_decref(h);
  eddy_rt_stats_t st;
  eddy_rt_stats(hub, &st);
  cr_assert_eq(st.channels, 1);
  cr_assert_eq(st.published_total, 10);
  cr_assert_gt(st.history_bytes, 0);
  close_hub(r, hub);
}

Test(rt_history, no_history_means_offset_zero) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_rt_t *hub = hub_with(r, "n history=0", 0);
  eddy_rt_published_t out;
  cr_assert_eq(eddy_rt_publish(hub, "n:a", "{}", 2, &out), 0);
  cr_assert_eq(out.offset, 0);
  eddy_rt_stats_t st;
  eddy_rt_stats(hub, &st);
  cr_assert_eq(st.channels, 0); /* nothing keeps it alive */
  cr_assert_eq(st.history_bytes, 0);
  close_hub(r, hub);
}

Test(rt_history, ttl_on_the_fake_clock) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_rt_t *hub = hub_with(r, "n history=10 ttl=1s", 0);
  cr_assert_eq(eddy_rt_publish(hub, "n:a", "1", 1, NULL), 0);
  eddy_reactor_advance(r, 600);
  cr_assert_eq(eddy_rt_publish(hub, "n:a", "2", 1, NULL), 0);
  eddy_reactor_advance(r, 399);
  json_t *h = history(hub, "n:a", 0, 0);
  cr_assert_eq(json_array_size(json_object_get(h, "publications")), 2);
  json_decref(h);
  eddy_reactor_advance(r, 1); /* the first is 1000 ms old now */
  h = history(hub, "n:a", 0, 0);
  json_t *pubs = json_object_get(h, "publications");
  cr_assert_eq(json_array_size(pubs), 1);
  cr_assert_eq(pub_offset(pubs, 0), 2);
  json_decref(h);
  /* The periodic sweep frees a channel whose history all expired, even
   * when nobody asks about it. */
  eddy_rt_stats_t st;
  eddy_rt_stats(hub, &st);
  cr_assert_eq(st.channels, 1);
  eddy_reactor_advance(r, 2000);
  eddy_rt_stats(hub, &st);
  cr_assert_eq(st.channels, 0);
  cr_assert_eq(st.history_bytes, 0);
  close_hub(r, hub);
}

Test(rt_history, epochs_differ_between_incarnations) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_rt_t *hub = hub_with(r, "n history=10 ttl=1s", 0);
  eddy_rt_published_t a, b, c;
  cr_assert_eq(eddy_rt_publish(hub, "n:a", "1", 1, &a), 0);
  cr_assert_eq(eddy_rt_publish(hub, "n:b", "1", 1, &b), 0);
  cr_assert_str_neq(a.epoch, b.epoch);
  eddy_reactor_advance(r, 3000); /* both expire and are freed */
  cr_assert_eq(eddy_rt_publish(hub, "n:a", "1", 1, &c), 0);
  cr_assert_eq(c.offset, 1);
  cr_assert_str_neq(a.epoch, c.epoch);
  close_hub(r, hub);
}

static eddy_ws_message_t *msg(uint64_t i) {
  char text[32];
  int n = snprintf(text, sizeof(text), "{\"n\":%llu}", (unsigned long long)i);
  eddy_ws_message_t *m;
  cr_assert_eq(eddy_ws_message_new(EDDY_WS_OP_TEXT, text, (size_t)n, &m), 0);
  return m;
}

Test(rt_history, recovery_is_all_or_nothing) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_rt_t *hub = hub_with(r, "n", 0);
  eddy__rt_history_t h;
  eddy__rt_history_init(&h);
  uint32_t from = 99;
  const char *why = NULL;
  /* Empty and fresh: offset 0 is up to date. */
  cr_assert_eq(eddy__rt_history_recover(&h, 3, h.epoch, 0, &from, &why), 1);
  cr_assert_eq(from, 0);
  for (uint64_t i = 1; i <= 5; i++) {
    eddy_ws_message_t *m = msg(i);
    cr_assert_eq(eddy__rt_history_push(hub, &h, 3, 0, m), 0);
    eddy_ws_message_unref(m);
  }
  /* Kept: 3, 4, 5. */
  cr_assert_eq(eddy__rt_history_recover(&h, 3, h.epoch, 5, &from, &why), 1);
  cr_assert_eq(from, 3); /* nothing to send */
  cr_assert_eq(eddy__rt_history_recover(&h, 3, h.epoch, 2, &from, &why), 1);
  cr_assert_eq(from, 0); /* 3, 4, 5 */
  cr_assert_eq(eddy__rt_history_recover(&h, 3, h.epoch, 3, &from, &why), 1);
  cr_assert_eq(from, 1); /* 4, 5 */
  cr_assert_eq(eddy__rt_history_recover(&h, 3, h.epoch, 1, &from, &why), 0);
  cr_assert_str_eq(why, "publications after this offset are no longer kept");
  cr_assert_eq(eddy__rt_history_recover(&h, 3, h.epoch, 0, &from, &why), 0);
  cr_assert_eq(eddy__rt_history_recover(&h, 3, h.epoch, 6, &from, &why), 0);
  cr_assert_str_eq(why, "offset is ahead of the channel");
  cr_assert_eq(
      eddy__rt_history_recover(&h, 3, "0000000000000000", 5, &from, &why), 0);
  cr_assert_str_eq(why, "epoch changed: the channel's history was reset");
  cr_assert_eq(eddy__rt_history_recover(&h, 0, h.epoch, 5, &from, &why), 0);
  cr_assert_str_eq(why, "this channel keeps no history");
  /* After everything expired, even a recent offset cannot be recovered. */
  eddy__rt_history_expire(hub, &h, 10, 100);
  cr_assert_eq(h.count, 0);
  cr_assert_eq(h.last, 5);
  cr_assert_eq(eddy__rt_history_recover(&h, 3, h.epoch, 4, &from, &why), 0);
  cr_assert_eq(eddy__rt_history_recover(&h, 3, h.epoch, 5, &from, &why), 1);
  eddy__rt_history_free(hub, &h);
  cr_assert_eq(hub->history_bytes, 0);
  close_hub(r, hub);
}

Test(rt_history, memory_limit_trims_least_recent_channels_first) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  /* Each publication costs its push text (~60 bytes) plus 96. */
  eddy_rt_t *hub = hub_with(r, "n history=100 ttl=0", 1500);
  for (int i = 0; i < 6; i++)
    cr_assert_eq(eddy_rt_publish(hub, "n:old", "1", 1, NULL), 0);
  for (int i = 0; i < 6; i++)
    cr_assert_eq(eddy_rt_publish(hub, "n:new", "1", 1, NULL), 0);
  eddy_rt_stats_t st;
  eddy_rt_stats(hub, &st);
  cr_assert_leq(st.history_bytes, 1500);
  json_t *h = history(hub, "n:new", 0, 0);
  cr_assert_eq(json_array_size(json_object_get(h, "publications")), 6);
  json_decref(h);
  h = history(hub, "n:old", 0, 0);
  size_t kept = json_array_size(json_object_get(h, "publications"));
  cr_assert_lt(kept, 6);
  /* Offsets never restart: the channel still knows it reached 6. */
  cr_assert_eq(json_integer_value(json_object_get(h, "offset")), 6);
  json_decref(h);
  /* Publishing far more than fits keeps the total under the limit. */
  for (int i = 0; i < 200; i++)
    cr_assert_eq(eddy_rt_publish(hub, "other:x", "[1,2,3]", 7, NULL), 0);
  eddy_rt_stats(hub, &st);
  cr_assert_leq(st.history_bytes, 1500);
  close_hub(r, hub);
}
