/* test_lock_table.c — the lock table alone: fairness, modes, reentrancy,
 * timeouts and leases on the fake clock, tokens, disconnects, reset and
 * limits. */
#include <stdio.h>
#include <string.h>

#include "locks/table_internal.h"
#include "support.h"

#define NOWN 8

static char evlog[8192];

/* Appends "<kind><owner>:<name>[:<why>] " to the event log. */
static void log_event(char kind, unsigned long long id, const char *name,
                      size_t n, const char *why) {
  size_t len = strlen(evlog);
  snprintf(evlog + len, sizeof(evlog) - len, "%c%llu:%.*s%s%s ", kind, id,
           (int)n, name, why[0] ? ":" : "", why);
}

static uint64_t last_token;

static void ev_granted(eddy__lk_wait_t *w, uint64_t token) {
  last_token = token;
  log_event('g', (unsigned long long)w->owner->id, w->lock->name,
            w->lock->name_len, "");
}

static const char *why_name(eddy__lk_result_t why) {
  switch (why) {
  case EDDY__LK_TIMEOUT:
    return "timeout";
  case EDDY__LK_RESET:
    return "reset";
  case EDDY__LK_SHUTDOWN:
    return "shutdown";
  case EDDY__LK_LEASE:
    return "lease";
  default:
    return "other";
  }
}

static void ev_failed(eddy__lk_wait_t *w, eddy__lk_result_t why) {
  log_event('f', (unsigned long long)w->owner->id, w->lock->name,
            w->lock->name_len, why_name(why));
}

static void ev_lost(eddy__lk_owner_t *o, const eddy__lk_lock_t *l,
                    uint64_t token, eddy__lk_result_t why) {
  (void)token;
  log_event('l', (unsigned long long)o->id, l->name, l->name_len,
            why_name(why));
}

static const eddy__lk_events_t ev = {ev_granted, ev_failed, ev_lost};

typedef struct {
  eddy_reactor_t *r;
  eddy__lk_table_t t;
  eddy__lk_owner_t o[NOWN];
} fx_t;

static void fx_init(fx_t *f, const eddy_locks_opts_t *opts) {
  eddy_locks_opts_t def;
  eddy_locks_opts_init(&def);
  evlog[0] = '\0';
  f->r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  cr_assert_eq(eddy__lk_table_init(&f->t, f->r, opts ? opts : &def, &ev, NULL),
               0);
  for (int i = 0; i < NOWN; i++)
    eddy__lk_owner_init(&f->o[i], (uint64_t)i, NULL);
}

static void fx_close(fx_t *f) {
  for (int i = 0; i < NOWN; i++)
    eddy__lk_owner_drop(&f->t, &f->o[i]);
  cr_assert_eq(f->t.nlocks, 0);
  cr_assert_eq(f->t.stats.holders, 0);
  cr_assert_eq(f->t.stats.waiters, 0);
  eddy__lk_table_cleanup(&f->t);
  test_close_reactor(f->r);
}

static eddy__lk_result_t acq(fx_t *f, int o, const char *name, int shared,
                             uint64_t wait_ms, uint64_t *token) {
  eddy__lk_acquire_t a = {shared ? EDDY__LK_SHARED : EDDY__LK_EXCL, 0, wait_ms,
                          0};
  uint64_t tok = 0;
  eddy__lk_wait_t *w = NULL;
  eddy__lk_result_t r =
      eddy__lk_acquire(&f->t, &f->o[o], name, strlen(name), &a, &tok, &w);
  if (token)
    *token = tok;
  if (r == EDDY__LK_WAITING)
    cr_assert_not_null(w);
  return r;
}

static eddy__lk_result_t acq_ex(fx_t *f, int o, const char *name,
                                const eddy__lk_acquire_t *a, uint64_t *token) {
  uint64_t tok = 0;
  eddy__lk_wait_t *w = NULL;
  eddy__lk_result_t r =
      eddy__lk_acquire(&f->t, &f->o[o], name, strlen(name), a, &tok, &w);
  if (token)
    *token = tok;
  return r;
}

static eddy__lk_result_t rel(fx_t *f, int o, const char *name, uint64_t *left) {
  uint64_t l = 99;
  eddy__lk_result_t r =
      eddy__lk_release(&f->t, &f->o[o], name, strlen(name), &l);
  if (left)
    *left = l;
  return r;
}

#define FOREVER EDDY__LK_FOREVER

Test(lock_table, exclusive_try_wait_and_handover) {
  fx_t f;
  fx_init(&f, NULL);
  uint64_t t1 = 0, left = 0;
  cr_assert_eq(acq(&f, 1, "a", 0, FOREVER, &t1), EDDY__LK_OK);
  cr_assert_gt(t1, 0);
  cr_assert_eq(acq(&f, 2, "a", 0, 0, NULL), EDDY__LK_BUSY);
  cr_assert_eq(acq(&f, 2, "a", 1, 0, NULL), EDDY__LK_BUSY);
  cr_assert_eq(acq(&f, 2, "a", 0, FOREVER, NULL), EDDY__LK_WAITING);
  cr_assert_str_empty(evlog, "a wait is never answered from inside acquire");
  cr_assert_eq(f.t.stats.waiters, 1);
  cr_assert_eq(rel(&f, 1, "a", &left), EDDY__LK_OK);
  cr_assert_eq(left, 0);
  cr_assert_str_eq(evlog, "g2:a ");
  cr_assert_gt(last_token, t1);
  cr_assert_eq(rel(&f, 1, "a", NULL), EDDY__LK_NOT_HELD);
  cr_assert_eq(rel(&f, 2, "a", NULL), EDDY__LK_OK);
  cr_assert_null(eddy__lk_find(&f.t, "a", 1), "a free lock is forgotten");
  cr_assert_eq(f.t.stats.grants_total, 2);
  cr_assert_eq(f.t.stats.waits_total, 1);
  fx_close(&f);
}

Test(lock_table, fifo_order_among_exclusive_waiters) {
  fx_t f;
  fx_init(&f, NULL);
  cr_assert_eq(acq(&f, 1, "a", 0, FOREVER, NULL), EDDY__LK_OK);
  for (int i = 2; i <= 5; i++)
    cr_assert_eq(acq(&f, i, "a", 0, FOREVER, NULL), EDDY__LK_WAITING);
  for (int i = 1; i <= 4; i++)
    cr_assert_eq(rel(&f, i, "a", NULL), EDDY__LK_OK);
  cr_assert_str_eq(evlog, "g2:a g3:a g4:a g5:a ");
  fx_close(&f);
}

Test(lock_table, shared_waiters_at_head_proceed_together) {
  fx_t f;
  fx_init(&f, NULL);
  cr_assert_eq(acq(&f, 1, "a", 0, FOREVER, NULL), EDDY__LK_OK);
  cr_assert_eq(acq(&f, 2, "a", 1, FOREVER, NULL), EDDY__LK_WAITING);
  cr_assert_eq(acq(&f, 3, "a", 1, FOREVER, NULL), EDDY__LK_WAITING);
  cr_assert_eq(acq(&f, 4, "a", 0, FOREVER, NULL), EDDY__LK_WAITING);
  cr_assert_eq(acq(&f, 5, "a", 1, FOREVER, NULL), EDDY__LK_WAITING);
  cr_assert_eq(rel(&f, 1, "a", NULL), EDDY__LK_OK);
  cr_assert_str_eq(evlog, "g2:a g3:a ", "exactly the readers at the head");
  cr_assert_eq(rel(&f, 2, "a", NULL), EDDY__LK_OK);
  cr_assert_str_eq(evlog, "g2:a g3:a ");
  cr_assert_eq(rel(&f, 3, "a", NULL), EDDY__LK_OK);
  cr_assert_str_eq(evlog, "g2:a g3:a g4:a ");
  cr_assert_eq(rel(&f, 4, "a", NULL), EDDY__LK_OK);
  cr_assert_str_eq(evlog, "g2:a g3:a g4:a g5:a ");
  fx_close(&f);
}

Test(lock_table, writer_waiting_blocks_new_readers) {
  fx_t f;
  fx_init(&f, NULL);
  cr_assert_eq(acq(&f, 1, "a", 1, FOREVER, NULL), EDDY__LK_OK);
  cr_assert_eq(acq(&f, 2, "a", 1, FOREVER, NULL), EDDY__LK_OK,
               "readers share a free queue");
  cr_assert_eq(acq(&f, 3, "a", 0, FOREVER, NULL), EDDY__LK_WAITING);
  cr_assert_eq(acq(&f, 4, "a", 1, 0, NULL), EDDY__LK_BUSY,
               "a reader may not pass a waiting writer");
  cr_assert_eq(acq(&f, 4, "a", 1, FOREVER, NULL), EDDY__LK_WAITING);
  cr_assert_eq(rel(&f, 1, "a", NULL), EDDY__LK_OK);
  cr_assert_str_empty(evlog);
  cr_assert_eq(rel(&f, 2, "a", NULL), EDDY__LK_OK);
  cr_assert_str_eq(evlog, "g3:a ");
  cr_assert_eq(rel(&f, 3, "a", NULL), EDDY__LK_OK);
  cr_assert_str_eq(evlog, "g3:a g4:a ");
  fx_close(&f);
}

Test(lock_table, shared_holders_in_grant_order) {
  fx_t f;
  fx_init(&f, NULL);
  for (int i = 1; i <= 5; i++)
    cr_assert_eq(acq(&f, i, "s", 1, FOREVER, NULL), EDDY__LK_OK);
  cr_assert_eq(rel(&f, 3, "s", NULL), EDDY__LK_OK);
  cr_assert_eq(rel(&f, 5, "s", NULL), EDDY__LK_OK);
  cr_assert_eq(acq(&f, 6, "s", 1, FOREVER, NULL), EDDY__LK_OK);
  cr_assert_eq(rel(&f, 1, "s", NULL), EDDY__LK_OK);
  eddy__lk_lock_t *l = eddy__lk_find(&f.t, "s", 1);
  static const uint64_t want[] = {2, 4, 6};
  size_t n = 0;
  const eddy__lk_hold_t *last = NULL;
  for (const eddy__lk_hold_t *h = l->holders; h != NULL; h = h->lock_next) {
    cr_assert_lt(n, 3);
    cr_assert_eq(h->owner->id, want[n++]);
    cr_assert_eq(h->lock_prev, last);
    last = h;
  }
  cr_assert_eq(n, l->nholders);
  cr_assert_eq(l->holders_tail, last);
  fx_close(&f);
}

Test(lock_table, reentrant_counts_and_refusals) {
  fx_t f;
  fx_init(&f, NULL);
  eddy__lk_acquire_t re = {EDDY__LK_EXCL, 1, FOREVER, 0};
  eddy__lk_acquire_t re_sh = {EDDY__LK_SHARED, 1, FOREVER, 0};
  uint64_t t1 = 0, t2 = 0, left = 0;
  cr_assert_eq(acq_ex(&f, 1, "a", &re, &t1), EDDY__LK_OK);
  cr_assert_eq(acq_ex(&f, 1, "a", &re, &t2), EDDY__LK_OK);
  cr_assert_eq(t1, t2, "a reentrant acquire counts on the same grant");
  cr_assert_eq(acq_ex(&f, 1, "a", &re_sh, &t2), EDDY__LK_OK,
               "an exclusive holder may take it shared too");
  cr_assert_eq(acq(&f, 1, "a", 0, FOREVER, NULL), EDDY__LK_HELD);
  cr_assert_eq(f.t.stats.holders, 1);
  eddy__lk_hold_t *h = eddy__lk_hold_of(eddy__lk_find(&f.t, "a", 1), &f.o[1]);
  cr_assert_eq(h->count, 3);
  cr_assert_eq(h->mode, EDDY__LK_EXCL);
  cr_assert_eq(acq(&f, 2, "a", 0, FOREVER, NULL), EDDY__LK_WAITING);
  cr_assert_eq(rel(&f, 1, "a", &left), EDDY__LK_OK);
  cr_assert_eq(left, 2);
  cr_assert_eq(rel(&f, 1, "a", &left), EDDY__LK_OK);
  cr_assert_eq(left, 1);
  cr_assert_str_empty(evlog);
  cr_assert_eq(rel(&f, 1, "a", &left), EDDY__LK_OK);
  cr_assert_eq(left, 0);
  cr_assert_str_eq(evlog, "g2:a ");
  /* Upgrading shared to exclusive is refused, reentrant or not. */
  cr_assert_eq(acq_ex(&f, 3, "b", &re_sh, NULL), EDDY__LK_OK);
  cr_assert_eq(acq_ex(&f, 3, "b", &re, NULL), EDDY__LK_HELD);
  /* A second pending acquire of one name is refused. */
  cr_assert_eq(acq(&f, 4, "a", 0, FOREVER, NULL), EDDY__LK_WAITING);
  cr_assert_eq(acq_ex(&f, 4, "a", &re, NULL), EDDY__LK_HELD);
  fx_close(&f);
}

Test(lock_table, wait_timeout_on_fake_clock) {
  fx_t f;
  fx_init(&f, NULL);
  cr_assert_eq(acq(&f, 1, "a", 0, FOREVER, NULL), EDDY__LK_OK);
  cr_assert_eq(acq(&f, 2, "a", 0, 100, NULL), EDDY__LK_WAITING);
  cr_assert_eq(acq(&f, 3, "a", 0, 300, NULL), EDDY__LK_WAITING);
  eddy_reactor_advance(f.r, 99);
  cr_assert_str_empty(evlog);
  eddy_reactor_advance(f.r, 1);
  cr_assert_str_eq(evlog, "f2:a:timeout ");
  cr_assert_eq(f.t.stats.timeouts_total, 1);
  eddy_reactor_advance(f.r, 50);
  cr_assert_eq(rel(&f, 1, "a", NULL), EDDY__LK_OK);
  cr_assert_str_eq(evlog, "f2:a:timeout g3:a ");
  cr_assert_eq(f.t.stats.wait_time_us_total, 150000);
  eddy_reactor_advance(f.r, 1000);
  cr_assert_str_eq(evlog, "f2:a:timeout g3:a ", "a granted wait's timer stops");
  fx_close(&f);
}

Test(lock_table, head_timeout_unblocks_readers_behind_it) {
  fx_t f;
  fx_init(&f, NULL);
  cr_assert_eq(acq(&f, 1, "a", 1, FOREVER, NULL), EDDY__LK_OK);
  cr_assert_eq(acq(&f, 2, "a", 0, 50, NULL), EDDY__LK_WAITING);
  cr_assert_eq(acq(&f, 3, "a", 1, FOREVER, NULL), EDDY__LK_WAITING);
  eddy_reactor_advance(f.r, 50);
  cr_assert_str_eq(evlog, "f2:a:timeout g3:a ");
  fx_close(&f);
}

Test(lock_table, lease_expiry_and_refresh) {
  fx_t f;
  fx_init(&f, NULL);
  eddy__lk_acquire_t lease = {EDDY__LK_EXCL, 0, FOREVER, 100};
  cr_assert_eq(acq_ex(&f, 1, "a", &lease, NULL), EDDY__LK_OK);
  cr_assert_eq(acq(&f, 2, "a", 0, FOREVER, NULL), EDDY__LK_WAITING);
  eddy_reactor_advance(f.r, 60);
  cr_assert_eq(eddy__lk_refresh(&f.t, &f.o[1], "a", 1, 0), EDDY__LK_OK);
  eddy_reactor_advance(f.r, 60);
  cr_assert_str_empty(evlog, "refresh restarted the lease");
  eddy_reactor_advance(f.r, 40);
  cr_assert_str_eq(evlog, "l1:a:lease g2:a ");
  cr_assert_eq(f.t.stats.lease_expiries_total, 1);
  cr_assert_eq(rel(&f, 1, "a", NULL), EDDY__LK_NOT_HELD);
  cr_assert_eq(eddy__lk_refresh(&f.t, &f.o[1], "a", 1, 0), EDDY__LK_NOT_HELD);
  /* A hold without a lease: refresh needs a length, then it expires. */
  cr_assert_eq(eddy__lk_refresh(&f.t, &f.o[2], "a", 1, 0), EDDY__LK_NO_LEASE);
  cr_assert_eq(eddy__lk_refresh(&f.t, &f.o[2], "a", 1, 30), EDDY__LK_OK);
  eddy_reactor_advance(f.r, 30);
  cr_assert_str_eq(evlog, "l1:a:lease g2:a l2:a:lease ");
  cr_assert_null(eddy__lk_find(&f.t, "a", 1));
  fx_close(&f);
}

Test(lock_table, tokens_only_grow_per_name) {
  fx_t f;
  fx_init(&f, NULL);
  uint64_t prev = 0, t = 0;
  for (int i = 0; i < 50; i++) {
    const char *name = (i % 3 == 0) ? "x" : "y";
    cr_assert_eq(acq(&f, i % NOWN, name, i % 2, FOREVER, &t), EDDY__LK_OK);
    cr_assert_gt(t, prev);
    prev = t;
    cr_assert_eq(rel(&f, i % NOWN, name, NULL), EDDY__LK_OK);
  }
  /* Shared holders each get their own token. */
  uint64_t a = 0, b = 0;
  cr_assert_eq(acq(&f, 1, "x", 1, FOREVER, &a), EDDY__LK_OK);
  cr_assert_eq(acq(&f, 2, "x", 1, FOREVER, &b), EDDY__LK_OK);
  cr_assert_gt(b, a);
  cr_assert_gt(a, prev);
  fx_close(&f);
}

Test(lock_table, drop_owner_releases_and_cancels) {
  fx_t f;
  fx_init(&f, NULL);
  cr_assert_eq(acq(&f, 1, "a", 0, FOREVER, NULL), EDDY__LK_OK);
  cr_assert_eq(acq(&f, 1, "b", 1, FOREVER, NULL), EDDY__LK_OK);
  cr_assert_eq(acq(&f, 2, "c", 0, FOREVER, NULL), EDDY__LK_OK);
  cr_assert_eq(acq(&f, 1, "c", 0, 500, NULL), EDDY__LK_WAITING);
  cr_assert_eq(acq(&f, 3, "a", 0, FOREVER, NULL), EDDY__LK_WAITING);
  cr_assert_eq(acq(&f, 3, "c", 0, FOREVER, NULL), EDDY__LK_WAITING);
  eddy__lk_owner_drop(&f.t, &f.o[1]);
  cr_assert_str_eq(evlog, "g3:a ", "no event for the dropped owner");
  cr_assert_eq(f.t.stats.releases_on_disconnect_total, 2);
  cr_assert_null(eddy__lk_find(&f.t, "b", 1));
  cr_assert_eq(rel(&f, 2, "c", NULL), EDDY__LK_OK);
  cr_assert_str_eq(evlog, "g3:a g3:c ", "o1's wait on c was dropped");
  eddy_reactor_advance(f.r, 1000);
  cr_assert_str_eq(evlog, "g3:a g3:c ", "and its timer stopped");
  fx_close(&f);
}

Test(lock_table, reset_answers_every_waiter) {
  fx_t f;
  fx_init(&f, NULL);
  cr_assert_eq(acq(&f, 1, "a", 0, FOREVER, NULL), EDDY__LK_OK);
  cr_assert_eq(acq(&f, 2, "b", 1, FOREVER, NULL), EDDY__LK_OK);
  cr_assert_eq(acq(&f, 3, "b", 1, FOREVER, NULL), EDDY__LK_OK);
  cr_assert_eq(acq(&f, 4, "a", 0, FOREVER, NULL), EDDY__LK_WAITING);
  cr_assert_eq(acq(&f, 5, "a", 1, 1000, NULL), EDDY__LK_WAITING);
  cr_assert_eq(acq(&f, 6, "b", 0, FOREVER, NULL), EDDY__LK_WAITING);
  cr_assert_eq(eddy__lk_reset(&f.t), 3);
  cr_assert(strstr(evlog, "f4:a:reset ") && strstr(evlog, "f5:a:reset ") &&
                strstr(evlog, "f6:b:reset ") && strstr(evlog, "l1:a:reset ") &&
                strstr(evlog, "l2:b:reset ") && strstr(evlog, "l3:b:reset "),
            "%s", evlog);
  cr_assert(strstr(evlog, "g") == NULL, "no waiter was granted: %s", evlog);
  cr_assert_eq(f.t.nlocks, 0);
  cr_assert_eq(f.t.stats.holders, 0);
  uint64_t t = 0;
  cr_assert_eq(acq(&f, 4, "a", 0, FOREVER, &t), EDDY__LK_OK);
  eddy_reactor_advance(f.r, 2000);
  fx_close(&f);
}

Test(lock_table, shutdown_fails_waits_only) {
  fx_t f;
  fx_init(&f, NULL);
  cr_assert_eq(acq(&f, 1, "a", 0, FOREVER, NULL), EDDY__LK_OK);
  cr_assert_eq(acq(&f, 2, "a", 0, FOREVER, NULL), EDDY__LK_WAITING);
  cr_assert_eq(eddy__lk_fail_waits(&f.t, EDDY__LK_SHUTDOWN), 1);
  cr_assert_str_eq(evlog, "f2:a:shutdown ");
  cr_assert_not_null(eddy__lk_find(&f.t, "a", 1));
  fx_close(&f);
}

Test(lock_table, limits) {
  eddy_locks_opts_t o;
  eddy_locks_opts_init(&o);
  o.max_held_per_conn = 3;
  o.max_waits_per_conn = 1;
  o.max_locks = 4;
  o.max_lease_ms = 1000;
  fx_t f;
  fx_init(&f, &o);
  cr_assert_eq(acq(&f, 1, "a", 0, FOREVER, NULL), EDDY__LK_OK);
  cr_assert_eq(acq(&f, 1, "b", 0, FOREVER, NULL), EDDY__LK_OK);
  cr_assert_eq(acq(&f, 2, "a", 0, FOREVER, NULL), EDDY__LK_WAITING);
  cr_assert_eq(acq(&f, 2, "b", 0, FOREVER, NULL), EDDY__LK_LIMIT,
               "one wait per connection");
  cr_assert_eq(acq(&f, 2, "c", 0, FOREVER, NULL), EDDY__LK_OK,
               "a grant is not a wait");
  cr_assert_eq(acq(&f, 2, "d", 0, FOREVER, NULL), EDDY__LK_OK);
  cr_assert_eq(acq(&f, 3, "e", 0, FOREVER, NULL), EDDY__LK_LIMIT,
               "four names alive");
  cr_assert_eq(acq(&f, 2, "b", 0, 0, NULL), EDDY__LK_LIMIT,
               "holds plus waits are bounded");
  cr_assert_eq(acq(&f, 1, "c2", 0, FOREVER, NULL), EDDY__LK_LIMIT);
  eddy__lk_acquire_t long_lease = {EDDY__LK_EXCL, 0, FOREVER, 1001};
  cr_assert_eq(acq_ex(&f, 3, "a", &long_lease, NULL), EDDY__LK_LIMIT);
  cr_assert_eq(eddy__lk_refresh(&f.t, &f.o[1], "a", 1, 1001), EDDY__LK_LIMIT);
  cr_assert_eq(rel(&f, 1, "b", NULL), EDDY__LK_OK);
  cr_assert_eq(acq(&f, 3, "e", 0, FOREVER, NULL), EDDY__LK_OK,
               "a freed name makes room");
  fx_close(&f);
}

Test(lock_table, many_names_grow_the_index) {
  fx_t f;
  fx_init(&f, NULL);
  char name[32];
  for (int i = 0; i < 2000; i++) {
    snprintf(name, sizeof(name), "n%d", i);
    cr_assert_eq(acq(&f, i % NOWN, name, 0, FOREVER, NULL), EDDY__LK_OK);
  }
  cr_assert_eq(f.t.nlocks, 2000);
  for (int i = 0; i < 2000; i += 7) {
    snprintf(name, sizeof(name), "n%d", i);
    cr_assert_not_null(eddy__lk_find(&f.t, name, strlen(name)));
    cr_assert_eq(acq(&f, (i + 1) % NOWN, name, 0, 0, NULL), EDDY__LK_BUSY);
  }
  fx_close(&f);
}
