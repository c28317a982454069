/* test_cache_store.c — the cache's item store and its rules: LRU order,
 * eviction under the memory limit, memcached's expiry on the fake clock,
 * cas, append/prepend, incr/decr. */
#include "support.h"

#include <string.h>

#include "cache/cache_internal.h"
#include "cache/store.h"

static eddy_cache_stats_t st;

static eddy__item_t *put(eddy__store_t *s, const char *key, const char *val,
                         uint64_t now) {
  eddy__item_t *it = eddy__store_alloc(s, key, strlen(key), strlen(val), now);
  cr_assert_not_null(it);
  memcpy(eddy__item_value(it), val, strlen(val));
  eddy__store_link(s, it, now);
  return it;
}

static eddy__item_t *find(eddy__store_t *s, const char *key, uint64_t now) {
  return eddy__store_find(s, key, strlen(key), now);
}

Test(cache_store, link_find_replace_unlink) {
  eddy__store_t s;
  memset(&st, 0, sizeof(st));
  cr_assert_eq(eddy__store_init(&s, 1 << 20, &st), 0);
  eddy__item_t *a = put(&s, "a", "one", 0);
  cr_assert_eq(find(&s, "a", 0), a);
  cr_assert_null(find(&s, "b", 0));
  cr_assert_eq(memcmp(eddy__item_value(a), "one\r\n", 5), 0);
  eddy__item_t *a2 = put(&s, "a", "two", 0);
  cr_assert_eq(find(&s, "a", 0), a2);
  cr_assert_gt(a2->cas, 0);
  cr_assert_eq(st.curr_items, 1);
  cr_assert_eq(st.total_items, 2);
  cr_assert_eq(st.bytes, eddy__item_size(1, 3));
  eddy__store_unlink(&s, a2);
  cr_assert_null(find(&s, "a", 0));
  cr_assert_eq(st.curr_items, 0);
  cr_assert_eq(st.bytes, 0);
  eddy__store_free(&s);
}

Test(cache_store, many_keys_grow_the_table) {
  eddy__store_t s;
  memset(&st, 0, sizeof(st));
  cr_assert_eq(eddy__store_init(&s, 64u << 20, &st), 0);
  char key[32];
  for (int i = 0; i < 20000; i++) {
    snprintf(key, sizeof(key), "key:%d", i);
    put(&s, key, key, 0);
  }
  cr_assert_gt(s.mask + 1, 1024);
  for (int i = 0; i < 20000; i++) {
    snprintf(key, sizeof(key), "key:%d", i);
    eddy__item_t *it = find(&s, key, 0);
    cr_assert_not_null(it, "%s", key);
    cr_assert_eq(memcmp(eddy__item_value(it), key, strlen(key)), 0);
  }
  cr_assert_eq(st.curr_items, 20000);
  eddy__store_free(&s);
}

Test(cache_store, lru_eviction_under_the_limit) {
  eddy__store_t s;
  memset(&st, 0, sizeof(st));
  /* Room for exactly three items of this size. */
  size_t one = eddy__item_size(1, 10);
  cr_assert_eq(eddy__store_init(&s, 3 * one, &st), 0);
  put(&s, "a", "0123456789", 0);
  put(&s, "b", "0123456789", 0);
  put(&s, "c", "0123456789", 0);
  eddy__store_bump(&s, find(&s, "a", 0), 0); /* a is now the freshest */
  put(&s, "d", "0123456789", 0);             /* evicts b, the oldest */
  cr_assert_null(find(&s, "b", 0));
  cr_assert_not_null(find(&s, "a", 0));
  cr_assert_not_null(find(&s, "c", 0));
  cr_assert_not_null(find(&s, "d", 0));
  cr_assert_eq(st.evictions, 1);
  cr_assert_leq(st.bytes, 3 * one);
  /* LRU order from the head: d a c. */
  cr_assert_eq(s.head->data[0], 'd');
  cr_assert_eq(s.head->next->data[0], 'a');
  cr_assert_eq(s.tail->data[0], 'c');
  /* An item bigger than the whole limit is refused, evicting nothing. */
  cr_assert_null(eddy__store_alloc(&s, "e", 1, 4 * one, 0));
  cr_assert_eq(st.curr_items, 3);
  /* A large one evicts as many as it needs (the two oldest), no more. */
  eddy__item_t *big = eddy__store_alloc(&s, "e", 1, one, 0);
  cr_assert_not_null(big);
  cr_assert_eq(st.evictions, 3);
  eddy__store_link(&s, big, 0);
  cr_assert_eq(st.curr_items, 2);
  cr_assert_not_null(find(&s, "d", 0));
  cr_assert_leq(st.bytes, 3 * one);
  eddy__store_free(&s);
}

Test(cache_store, expired_items_are_reclaimed_not_evicted) {
  eddy__store_t s;
  memset(&st, 0, sizeof(st));
  size_t one = eddy__item_size(1, 1);
  cr_assert_eq(eddy__store_init(&s, 2 * one, &st), 0);
  eddy__item_t *a = put(&s, "a", "x", 0);
  a->exp_ms = 1000;
  put(&s, "b", "x", 0);
  put(&s, "c", "x", 5000); /* a, at the tail, expired at 1000 */
  cr_assert_eq(st.evictions, 0);
  cr_assert_eq(st.reclaimed, 1);
  cr_assert_eq(st.expired_unfetched, 1);
  eddy__store_free(&s);
}

Test(cache_store, shared_items_outlive_their_unlink) {
  eddy__store_t s;
  memset(&st, 0, sizeof(st));
  cr_assert_eq(eddy__store_init(&s, 1 << 20, &st), 0);
  eddy__item_t *a = put(&s, "a", "value", 0);
  eddy__item_ref(a); /* as a reply in flight does */
  put(&s, "a", "other", 0);
  cr_assert_eq(memcmp(eddy__item_value(a), "value", 5), 0);
  cr_assert_eq(st.curr_items, 1);
  eddy__item_unref(a);
  eddy__store_free(&s);
}

/* ---- Expiry -------------------------------------------------------------- */

Test(cache_store, expiry_rules) {
  eddy__cache_clock_t c = {.base_ms = 0, .base_unix = 1700000000};
  cr_assert_eq(eddy__cache_deadline(&c, 0, 500), 0);    /* never */
  cr_assert_eq(eddy__cache_deadline(&c, -1, 500), 1);   /* expired */
  cr_assert_eq(eddy__cache_deadline(&c, 1, 500), 1500); /* relative */
  cr_assert_eq(eddy__cache_deadline(&c, 2592000, 0), 2592000000ull);
  /* One second past 30 days is an absolute time, here long gone. */
  cr_assert_eq(eddy__cache_deadline(&c, 2592001, 0), 1);
  cr_assert_eq(eddy__cache_deadline(&c, 1700000000, 0), 1); /* now */
  cr_assert_eq(eddy__cache_deadline(&c, 1700000010, 0), 10000);
  /* The wall clock moves with the reactor's. */
  cr_assert_eq(eddy__cache_unix_now(&c, 4999), 1700000004);
  cr_assert_eq(eddy__cache_deadline(&c, 1700000010, 4000), 4000 + 6000);
}

Test(cache_store, items_expire_at_their_deadline) {
  eddy__store_t s;
  memset(&st, 0, sizeof(st));
  cr_assert_eq(eddy__store_init(&s, 1 << 20, &st), 0);
  eddy__item_t *a = put(&s, "a", "x", 0);
  a->exp_ms = 2000;
  cr_assert_not_null(find(&s, "a", 1999));
  cr_assert_null(find(&s, "a", 2000));
  cr_assert_eq(st.curr_items, 0); /* found dead, unlinked */
  eddy__item_t *b = put(&s, "b", "x", 0);
  b->exp_ms = 1; /* negative exptime: dead even at time 0 */
  cr_assert_null(find(&s, "b", 0));
  eddy__item_t *n = put(&s, "n", "x", 0);
  n->exp_ms = 0;
  cr_assert_not_null(find(&s, "n", UINT64_MAX - 1));
  cr_assert_eq(eddy__cache_ttl_left(n, 5), -1);
  n->exp_ms = 10500;
  cr_assert_eq(eddy__cache_ttl_left(n, 10000), 1); /* rounded up */
  cr_assert_eq(eddy__cache_ttl_left(n, 0), 11);
  eddy__store_free(&s);
}

Test(cache_store, delayed_flush) {
  eddy__store_t s;
  memset(&st, 0, sizeof(st));
  cr_assert_eq(eddy__store_init(&s, 1 << 20, &st), 0);
  put(&s, "old", "x", 100);
  s.flush_at_ms = 5000;
  put(&s, "mid", "x", 4000);
  cr_assert_not_null(find(&s, "old", 4999));
  cr_assert_null(find(&s, "old", 5000));
  put(&s, "new", "x", 6000); /* stored after the flush time: kept */
  eddy__store_tick(&s, 6000);
  cr_assert_null(find(&s, "mid", 6000));
  cr_assert_not_null(find(&s, "new", 6000));
  cr_assert_eq(s.flush_at_ms, 0);
  eddy__store_flush(&s, 6000);
  cr_assert_null(find(&s, "new", 6000));
  eddy__store_free(&s);
}

/* ---- Storage semantics over a whole cache -------------------------------- */

typedef struct fixture_s {
  eddy_reactor_t *r;
  eddy_cache_t *c;
  int closed;
} fixture_t;

static void on_closed(void *arg) {
  *(int *)arg += 1;
}

static void open_cache(fixture_t *f, size_t limit) {
  f->r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_cache_opts_t o;
  eddy_cache_opts_init(&o);
  if (limit != 0)
    o.memory_limit = limit;
  o.max_item_size = 1000;
  cr_assert_eq(eddy_cache_new(f->r, &o, &f->c), 0);
  f->closed = 0;
}

static void close_cache(fixture_t *f) {
  eddy_cache_close(f->c, on_closed, &f->closed);
  cr_assert_eq(f->closed, 0); /* never from inside the call */
  test_close_reactor(f->r);
  cr_assert_eq(f->closed, 1);
}

static eddy__cache_store_rc_t store(fixture_t *f, int mode, const char *key,
                                    const char *val, int check, uint64_t cas) {
  return eddy__cache_store(f->c, mode, key, strlen(key), 7, 0, val, strlen(val),
                           check, cas, eddy_reactor_now(f->r), NULL);
}

static const char *value_of(fixture_t *f, const char *key, size_t *n) {
  eddy__item_t *it =
      eddy__store_find(&f->c->store, key, strlen(key), eddy_reactor_now(f->r));
  if (it == NULL)
    return NULL;
  *n = it->nbytes;
  return eddy__item_value(it);
}

static void value_is(fixture_t *f, const char *key, const char *want) {
  size_t n;
  const char *v = value_of(f, key, &n);
  cr_assert_not_null(v, "%s missing", key);
  cr_assert_eq(n, strlen(want), "%s: %.*s", key, (int)n, v);
  cr_assert_eq(memcmp(v, want, n), 0, "%s: %.*s", key, (int)n, v);
}

Test(cache_store, add_replace_append_prepend) {
  fixture_t f;
  open_cache(&f, 0);
  cr_assert_eq(store(&f, EDDY__MC_MODE_REPLACE, "k", "v", 0, 0),
               EDDY__CACHE_NOT_STORED);
  cr_assert_eq(store(&f, EDDY__MC_MODE_APPEND, "k", "v", 0, 0),
               EDDY__CACHE_NOT_STORED);
  cr_assert_eq(store(&f, EDDY__MC_MODE_ADD, "k", "mid", 0, 0),
               EDDY__CACHE_STORED);
  cr_assert_eq(store(&f, EDDY__MC_MODE_ADD, "k", "again", 0, 0),
               EDDY__CACHE_NOT_STORED);
  cr_assert_eq(store(&f, EDDY__MC_MODE_APPEND, "k", ">>", 0, 0),
               EDDY__CACHE_STORED);
  cr_assert_eq(store(&f, EDDY__MC_MODE_PREPEND, "k", "<<", 0, 0),
               EDDY__CACHE_STORED);
  value_is(&f, "k", "<<mid>>");
  cr_assert_eq(store(&f, EDDY__MC_MODE_REPLACE, "k", "new", 0, 0),
               EDDY__CACHE_STORED);
  value_is(&f, "k", "new");
  /* append keeps the item's flags and expiry, whatever it is given. */
  eddy__item_t *it = eddy__store_find(&f.c->store, "k", 1, 0);
  it->flags = 99;
  it->exp_ms = 50000;
  cr_assert_eq(store(&f, EDDY__MC_MODE_APPEND, "k", "!", 0, 0),
               EDDY__CACHE_STORED);
  it = eddy__store_find(&f.c->store, "k", 1, 0);
  cr_assert_eq(it->flags, 99);
  cr_assert_eq(it->exp_ms, 50000);
  /* Growing past the item size limit is refused. */
  char big[1001];
  memset(big, 'b', 1000);
  big[1000] = 0;
  cr_assert_eq(store(&f, EDDY__MC_MODE_APPEND, "k", big, 0, 0),
               EDDY__CACHE_NOT_STORED);
  close_cache(&f);
}

Test(cache_store, cas_semantics) {
  fixture_t f;
  open_cache(&f, 0);
  cr_assert_eq(store(&f, EDDY__MC_MODE_SET, "k", "v", 1, 1),
               EDDY__CACHE_NOT_FOUND);
  cr_assert_eq(f.c->stats.cas_misses, 1);
  store(&f, EDDY__MC_MODE_SET, "k", "v1", 0, 0);
  uint64_t cas = eddy__store_find(&f.c->store, "k", 1, 0)->cas;
  cr_assert_eq(store(&f, EDDY__MC_MODE_SET, "k", "bad", 1, cas + 1),
               EDDY__CACHE_EXISTS);
  cr_assert_eq(store(&f, EDDY__MC_MODE_SET, "k", "zero", 1, 0),
               EDDY__CACHE_EXISTS);
  cr_assert_eq(f.c->stats.cas_badval, 2);
  cr_assert_eq(store(&f, EDDY__MC_MODE_SET, "k", "v2", 1, cas),
               EDDY__CACHE_STORED);
  cr_assert_eq(f.c->stats.cas_hits, 1);
  value_is(&f, "k", "v2");
  uint64_t cas2 = eddy__store_find(&f.c->store, "k", 1, 0)->cas;
  cr_assert_gt(cas2, cas);
  /* The old cas no longer matches. */
  cr_assert_eq(store(&f, EDDY__MC_MODE_SET, "k", "v3", 1, cas),
               EDDY__CACHE_EXISTS);
  close_cache(&f);
}

static eddy__cache_delta_rc_t delta(fixture_t *f, const char *key, int incr,
                                    uint64_t d, uint64_t *v) {
  return eddy__cache_delta(f->c, key, strlen(key), incr, d, 0, v, NULL);
}

Test(cache_store, incr_decr) {
  fixture_t f;
  open_cache(&f, 0);
  uint64_t v;
  cr_assert_eq(delta(&f, "n", 1, 1, &v), EDDY__CACHE_DELTA_NOT_FOUND);
  store(&f, EDDY__MC_MODE_SET, "n", "10", 0, 0);
  uint64_t cas = eddy__store_find(&f.c->store, "n", 1, 0)->cas;
  cr_assert_eq(delta(&f, "n", 0, 1, &v), EDDY__CACHE_DELTA_OK);
  cr_assert_eq(v, 9);
  value_is(&f, "n", "9 "); /* rewritten in place, padded like memcached */
  cr_assert_gt(eddy__store_find(&f.c->store, "n", 1, 0)->cas, cas);
  cr_assert_eq(delta(&f, "n", 1, 991, &v), EDDY__CACHE_DELTA_OK);
  cr_assert_eq(v, 1000);
  value_is(&f, "n", "1000"); /* grew: a new item */
  cr_assert_eq(eddy__store_find(&f.c->store, "n", 1, 0)->flags, 7);
  cr_assert_eq(delta(&f, "n", 0, 5000, &v), EDDY__CACHE_DELTA_OK);
  cr_assert_eq(v, 0); /* decr floors at 0 */
  value_is(&f, "n", "0   ");
  store(&f, EDDY__MC_MODE_SET, "n", "18446744073709551615", 0, 0);
  cr_assert_eq(delta(&f, "n", 1, 2, &v), EDDY__CACHE_DELTA_OK);
  cr_assert_eq(v, 1); /* incr wraps */
  value_is(&f, "n", "1                   ");
  cr_assert_eq(delta(&f, "n", 1, UINT64_MAX, &v), EDDY__CACHE_DELTA_OK);
  cr_assert_eq(v, 0);
  store(&f, EDDY__MC_MODE_SET, "s", "abc", 0, 0);
  cr_assert_eq(delta(&f, "s", 1, 1, &v), EDDY__CACHE_DELTA_NON_NUMERIC);
  store(&f, EDDY__MC_MODE_SET, "e", "", 0, 0);
  cr_assert_eq(delta(&f, "e", 1, 1, &v), EDDY__CACHE_DELTA_NON_NUMERIC);
  store(&f, EDDY__MC_MODE_SET, "big", "18446744073709551616", 0, 0);
  cr_assert_eq(delta(&f, "big", 1, 1, &v), EDDY__CACHE_DELTA_NON_NUMERIC);
  cr_assert_eq(f.c->stats.incr_hits, 3);
  cr_assert_eq(f.c->stats.decr_hits, 2);
  cr_assert_eq(f.c->stats.incr_misses, 1);
  close_cache(&f);
}

Test(cache_store, expiry_through_the_cache_clock) {
  fixture_t f;
  open_cache(&f, 0);
  uint64_t now = eddy_reactor_now(f.r);
  int64_t unix_now = f.c->clock.base_unix;
  cr_assert_eq(eddy__cache_store(f.c, EDDY__MC_MODE_SET, "rel", 3, 0, 2, "x", 1,
                                 0, 0, now, NULL),
               EDDY__CACHE_STORED);
  cr_assert_eq(eddy__cache_store(f.c, EDDY__MC_MODE_SET, "abs", 3, 0,
                                 unix_now + 3, "x", 1, 0, 0, now, NULL),
               EDDY__CACHE_STORED);
  cr_assert_eq(eddy__cache_store(f.c, EDDY__MC_MODE_SET, "neg", 3, 0, -1, "x",
                                 1, 0, 0, now, NULL),
               EDDY__CACHE_STORED);
  size_t n;
  cr_assert_null(value_of(&f, "neg", &n));
  eddy_reactor_advance(f.r, 1999);
  cr_assert_not_null(value_of(&f, "rel", &n));
  eddy_reactor_advance(f.r, 1);
  cr_assert_null(value_of(&f, "rel", &n));
  cr_assert_not_null(value_of(&f, "abs", &n));
  eddy_reactor_advance(f.r, 1000);
  cr_assert_null(value_of(&f, "abs", &n));
  close_cache(&f);
}

/* Random sets, deletes, lookups and bumps against a plain array model,
 * with no memory pressure: the table must agree with the model, and the
 * LRU list must hold every item exactly once. Bounded: 20000 steps. */
Test(cache_store, agrees_with_a_model) {
  enum { KEYS = 300, STEPS = 20000 };
  static int model[KEYS]; /* the value's number, or -1 */
  eddy__store_t s;
  memset(&st, 0, sizeof(st));
  cr_assert_eq(eddy__store_init(&s, 64u << 20, &st), 0);
  for (int i = 0; i < KEYS; i++)
    model[i] = -1;
  uint32_t rnd = 12345;
  for (int step = 0; step < STEPS; step++) {
    rnd = rnd * 1103515245u + 12345u;
    int k = (int)((rnd >> 8) % KEYS);
    int op = (int)((rnd >> 20) % 4);
    char key[16], val[16];
    snprintf(key, sizeof(key), "k%d", k);
    eddy__item_t *it = find(&s, key, 0);
    cr_assert_eq(it != NULL, model[k] >= 0, "step %d key %s", step, key);
    if (it != NULL) {
      snprintf(val, sizeof(val), "%d", model[k]);
      cr_assert_eq(it->nbytes, strlen(val));
      cr_assert_eq(memcmp(eddy__item_value(it), val, it->nbytes), 0);
    }
    if (op == 0 || op == 1) {
      model[k] = step;
      snprintf(val, sizeof(val), "%d", step);
      put(&s, key, val, 0);
    } else if (op == 2 && it != NULL) {
      eddy__store_unlink(&s, it);
      model[k] = -1;
    } else if (it != NULL) {
      eddy__store_bump(&s, it, 0);
      cr_assert_eq(s.head, it);
    }
  }
  size_t live = 0, walked = 0;
  for (int i = 0; i < KEYS; i++)
    live += model[i] >= 0;
  for (eddy__item_t *it = s.head; it != NULL; it = it->next) {
    walked++;
    cr_assert(it->next == NULL || it->next->prev == it);
  }
  cr_assert_eq(walked, live);
  cr_assert_eq(st.curr_items, live);
  eddy__store_free(&s);
}
