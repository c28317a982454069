/* table.c — the lock table: grants, FIFO waiters, timeouts and leases. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "locks/table_internal.h"

#define BUCKETS_MIN 64

static uint64_t hash_name(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h;
}

static uint64_t wall_us(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
    return 0;
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int eddy__lk_table_init(eddy__lk_table_t *t, eddy_reactor_t *r,
                        const eddy_locks_opts_t *o, const eddy__lk_events_t *ev,
                        void *data) {
  memset(t, 0, sizeof(*t));
  t->buckets = calloc(BUCKETS_MIN, sizeof(*t->buckets));
  if (t->buckets == NULL)
    return UV_ENOMEM;
  t->nbuckets = BUCKETS_MIN;
  t->reactor = r;
  t->ev = ev;
  t->data = data;
  t->opts = *o;
  /* Starting from the wall clock keeps tokens growing across restarts of
   * the service, as long as it grants fewer than a million a second on
   * average. */
  t->next_token = wall_us() + 1;
  return 0;
}

void eddy__lk_table_cleanup(eddy__lk_table_t *t) {
  /* Owners are dropped first, so only empty chains can be left; free any
   * lock anyway rather than leak. */
  for (size_t i = 0; i < t->nbuckets; i++) {
    eddy__lk_lock_t *l = t->buckets[i];
    while (l != NULL) {
      eddy__lk_lock_t *next = l->hnext;
      free(l);
      l = next;
    }
  }
  free(t->buckets);
  t->buckets = NULL;
  t->nbuckets = 0;
  t->nlocks = 0;
}

void eddy__lk_owner_init(eddy__lk_owner_t *o, uint64_t id, void *data) {
  memset(o, 0, sizeof(*o));
  o->id = id;
  o->data = data;
}

/* ---- The name index --------------------------------------------------- */

eddy__lk_lock_t *eddy__lk_find(const eddy__lk_table_t *t, const char *name,
                               size_t len) {
  uint64_t h = hash_name(name, len);
  for (eddy__lk_lock_t *l = t->buckets[h & (t->nbuckets - 1)]; l != NULL;
       l = l->hnext)
    if (l->hash == h && l->name_len == len && memcmp(l->name, name, len) == 0)
      return l;
  return NULL;
}

static void grow(eddy__lk_table_t *t) {
  size_t n = t->nbuckets * 2;
  eddy__lk_lock_t **b = calloc(n, sizeof(*b));
  if (b == NULL)
    return; /* longer chains, still correct */
  for (size_t i = 0; i < t->nbuckets; i++) {
    eddy__lk_lock_t *l = t->buckets[i];
    while (l != NULL) {
      eddy__lk_lock_t *next = l->hnext;
      l->hnext = b[l->hash & (n - 1)];
      b[l->hash & (n - 1)] = l;
      l = next;
    }
  }
  free(t->buckets);
  t->buckets = b;
  t->nbuckets = n;
}

static eddy__lk_lock_t *lock_new(eddy__lk_table_t *t, const char *name,
                                 size_t len) {
  eddy__lk_lock_t *l = calloc(1, sizeof(*l) + len + 1);
  if (l == NULL)
    return NULL;
  l->table = t;
  l->hash = hash_name(name, len);
  l->name_len = len;
  memcpy(l->name, name, len);
  if (t->nlocks >= t->nbuckets)
    grow(t);
  size_t i = l->hash & (t->nbuckets - 1);
  l->hnext = t->buckets[i];
  t->buckets[i] = l;
  t->nlocks++;
  t->stats.locks = t->nlocks;
  return l;
}

/* A lock with no holder and no waiter is forgotten: tokens need no memory
 * of it (they come from one counter). */
static void lock_maybe_free(eddy__lk_table_t *t, eddy__lk_lock_t *l) {
  if (l->nholders != 0 || l->nwaiters != 0)
    return;
  eddy__lk_lock_t **pp = &t->buckets[l->hash & (t->nbuckets - 1)];
  while (*pp != l)
    pp = &(*pp)->hnext;
  *pp = l->hnext;
  t->nlocks--;
  t->stats.locks = t->nlocks;
  free(l);
}

void eddy__lk_each(const eddy__lk_table_t *t,
                   int (*fn)(eddy__lk_lock_t *l, void *arg), void *arg) {
  for (size_t i = 0; i < t->nbuckets; i++)
    for (eddy__lk_lock_t *l = t->buckets[i]; l != NULL; l = l->hnext)
      if (fn(l, arg) != 0)
        return;
}

/* ---- Holds and waits -------------------------------------------------- */

eddy__lk_hold_t *eddy__lk_hold_of(const eddy__lk_lock_t *l,
                                  const eddy__lk_owner_t *o) {
  /* Walk the shorter list: a shared lock may have many holders, an owner
   * many grants. */
  if (l->nholders <= o->nholds) {
    for (eddy__lk_hold_t *h = l->holders; h != NULL; h = h->lock_next)
      if (h->owner == o)
        return h;
  } else {
    for (eddy__lk_hold_t *h = o->holds; h != NULL; h = h->owner_next)
      if (h->lock == l)
        return h;
  }
  return NULL;
}

static eddy__lk_wait_t *wait_of(const eddy__lk_lock_t *l,
                                const eddy__lk_owner_t *o) {
  if (l->nwaiters <= o->nwaits) {
    for (eddy__lk_wait_t *w = l->head; w != NULL; w = w->lock_next)
      if (w->owner == o)
        return w;
  } else {
    for (eddy__lk_wait_t *w = o->waits; w != NULL; w = w->owner_next)
      if (w->lock == l)
        return w;
  }
  return NULL;
}

/* The clock is read only when a histogram wants it. */
static uint64_t metrics_now(const eddy__lk_table_t *t) {
  if (t->metrics.wait == NULL && t->metrics.hold == NULL)
    return 0;
  return eddy_metrics_now_us(t->reactor);
}

static void lease_fired(eddy_timer_t *timer);
static void wait_fired(eddy_timer_t *timer);
static void pump(eddy__lk_table_t *t, eddy__lk_lock_t *l);

static void lease_arm(eddy__lk_table_t *t, eddy__lk_hold_t *h) {
  if (h->lease_ms == 0) {
    eddy_timer_stop(&h->lease);
    return;
  }
  h->lease_due = eddy_reactor_now(t->reactor) + h->lease_ms;
  if (eddy_timer_start(&h->lease, h->lease_ms, lease_fired) != 0) {
    /* Without a timer the lease cannot be kept; the grant then lasts
     * until release or disconnect, which is the lease-less behaviour. */
    h->lease_ms = 0;
  }
}

static eddy__lk_hold_t *grant(eddy__lk_table_t *t, eddy__lk_lock_t *l,
                              eddy__lk_owner_t *o, eddy__lk_mode_t mode,
                              uint64_t lease_ms) {
  eddy__lk_hold_t *h = calloc(1, sizeof(*h));
  if (h == NULL)
    return NULL;
  h->lock = l;
  h->owner = o;
  h->mode = mode;
  h->count = 1;
  h->token = t->next_token++;
  h->granted_at = eddy_reactor_now(t->reactor);
  h->granted_us = metrics_now(t);
  h->lease_ms = lease_ms;
  eddy_timer_init(t->reactor, &h->lease);
  h->lease.data = h;
  lease_arm(t, h);
  /* Append, so inspect lists holders in grant order. */
  h->lock_prev = l->holders_tail;
  if (l->holders_tail != NULL)
    l->holders_tail->lock_next = h;
  else
    l->holders = h;
  l->holders_tail = h;
  l->nholders++;
  l->mode = mode;
  h->owner_next = o->holds;
  if (o->holds != NULL)
    o->holds->owner_prev = h;
  o->holds = h;
  o->nholds++;
  t->stats.holders++;
  t->stats.grants_total++;
  eddy_counter_inc(t->metrics.grants);
  return h;
}

static void hold_unlink(eddy__lk_table_t *t, eddy__lk_hold_t *h) {
  eddy__lk_lock_t *l = h->lock;
  eddy__lk_owner_t *o = h->owner;
  eddy_timer_stop(&h->lease);
  if (t->metrics.hold != NULL)
    eddy_histogram_observe(t->metrics.hold, metrics_now(t) - h->granted_us);
  if (h->lock_prev != NULL)
    h->lock_prev->lock_next = h->lock_next;
  else
    l->holders = h->lock_next;
  if (h->lock_next != NULL)
    h->lock_next->lock_prev = h->lock_prev;
  else
    l->holders_tail = h->lock_prev;
  l->nholders--;
  if (l->nholders == 0)
    l->mode = EDDY__LK_FREE;
  if (h->owner_prev != NULL)
    h->owner_prev->owner_next = h->owner_next;
  else
    o->holds = h->owner_next;
  if (h->owner_next != NULL)
    h->owner_next->owner_prev = h->owner_prev;
  o->nholds--;
  t->stats.holders--;
}

static void wait_unlink(eddy__lk_table_t *t, eddy__lk_wait_t *w) {
  eddy__lk_lock_t *l = w->lock;
  eddy__lk_owner_t *o = w->owner;
  eddy_timer_stop(&w->timer);
  if (w->lock_prev != NULL)
    w->lock_prev->lock_next = w->lock_next;
  else
    l->head = w->lock_next;
  if (w->lock_next != NULL)
    w->lock_next->lock_prev = w->lock_prev;
  else
    l->tail = w->lock_prev;
  l->nwaiters--;
  if (w->owner_prev != NULL)
    w->owner_prev->owner_next = w->owner_next;
  else
    o->waits = w->owner_next;
  if (w->owner_next != NULL)
    w->owner_next->owner_prev = w->owner_prev;
  o->nwaits--;
  t->stats.waiters--;
}

/* Grants the waiters at the head of l's queue that can proceed now: one
 * exclusive waiter, or every shared waiter up to the first exclusive one.
 * An exclusive waiter at the head stops shared ones behind it, so writers
 * are not starved by a stream of readers. */
static void pump(eddy__lk_table_t *t, eddy__lk_lock_t *l) {
  while (l->head != NULL) {
    eddy__lk_wait_t *w = l->head;
    if (w->mode == EDDY__LK_EXCL ? l->nholders != 0 : l->mode == EDDY__LK_EXCL)
      break;
    wait_unlink(t, w);
    eddy__lk_hold_t *h = grant(t, l, w->owner, w->mode, w->lease_ms);
    if (h == NULL) {
      t->ev->failed(w, EDDY__LK_NOMEM);
    } else {
      t->stats.wait_time_us_total +=
          (eddy_reactor_now(t->reactor) - w->since) * 1000u;
      eddy_histogram_observe(t->metrics.wait, h->granted_us - w->since_us);
      t->ev->granted(w, h->token);
    }
    free(w);
  }
}

eddy__lk_result_t eddy__lk_acquire(eddy__lk_table_t *t, eddy__lk_owner_t *o,
                                   const char *name, size_t len,
                                   const eddy__lk_acquire_t *a, uint64_t *token,
                                   eddy__lk_wait_t **wait) {
  if (a->lease_ms > t->opts.max_lease_ms)
    return EDDY__LK_LIMIT;
  eddy__lk_lock_t *l = eddy__lk_find(t, name, len);
  if (l != NULL) {
    eddy__lk_hold_t *h = eddy__lk_hold_of(l, o);
    if (h != NULL) {
      /* Re-acquiring never waits (it would wait for itself); upgrading a
       * shared grant could deadlock two readers, so it is refused. */
      if (!a->reentrant ||
          (h->mode == EDDY__LK_SHARED && a->mode == EDDY__LK_EXCL) ||
          h->count == UINT64_MAX)
        return EDDY__LK_HELD;
      h->count++;
      if (a->lease_ms != 0) {
        h->lease_ms = a->lease_ms;
        lease_arm(t, h);
      }
      t->stats.grants_total++;
      eddy_counter_inc(t->metrics.grants);
      eddy_histogram_observe(t->metrics.wait, 0);
      *token = h->token;
      return EDDY__LK_OK;
    }
    if (wait_of(l, o) != NULL)
      return EDDY__LK_HELD;
  }
  /* Waits count against the grant limit too, so a granted wait can never
   * take an owner over it. */
  if (o->nholds + o->nwaits >= t->opts.max_held_per_conn)
    return EDDY__LK_LIMIT;
  int now_ok =
      l == NULL ||
      (l->head == NULL && (l->nholders == 0 || (l->mode == EDDY__LK_SHARED &&
                                                a->mode == EDDY__LK_SHARED)));
  if (!now_ok && a->wait_ms == 0)
    return EDDY__LK_BUSY;
  if (!now_ok && o->nwaits >= t->opts.max_waits_per_conn)
    return EDDY__LK_LIMIT;
  if (l == NULL) {
    if (t->nlocks >= t->opts.max_locks)
      return EDDY__LK_LIMIT;
    l = lock_new(t, name, len);
    if (l == NULL)
      return EDDY__LK_NOMEM;
  }
  if (now_ok) {
    eddy__lk_hold_t *h = grant(t, l, o, a->mode, a->lease_ms);
    if (h == NULL) {
      lock_maybe_free(t, l);
      return EDDY__LK_NOMEM;
    }
    eddy_histogram_observe(t->metrics.wait, 0);
    *token = h->token;
    return EDDY__LK_OK;
  }
  eddy__lk_wait_t *w = calloc(1, sizeof(*w));
  if (w == NULL)
    return EDDY__LK_NOMEM; /* l has holders, nothing to free */
  w->lock = l;
  w->owner = o;
  w->mode = a->mode;
  w->lease_ms = a->lease_ms;
  w->since = eddy_reactor_now(t->reactor);
  w->since_us = metrics_now(t);
  w->deadline = EDDY__LK_FOREVER;
  eddy_timer_init(t->reactor, &w->timer);
  w->timer.data = w;
  if (a->wait_ms != EDDY__LK_FOREVER) {
    if (eddy_timer_start(&w->timer, a->wait_ms, wait_fired) != 0) {
      free(w);
      return EDDY__LK_NOMEM;
    }
    w->deadline = w->since + a->wait_ms;
  }
  w->lock_prev = l->tail;
  if (l->tail != NULL)
    l->tail->lock_next = w;
  else
    l->head = w;
  l->tail = w;
  l->nwaiters++;
  w->owner_next = o->waits;
  if (o->waits != NULL)
    o->waits->owner_prev = w;
  o->waits = w;
  o->nwaits++;
  t->stats.waiters++;
  t->stats.waits_total++;
  *wait = w;
  return EDDY__LK_WAITING;
}

eddy__lk_result_t eddy__lk_release(eddy__lk_table_t *t, eddy__lk_owner_t *o,
                                   const char *name, size_t len,
                                   uint64_t *left) {
  eddy__lk_lock_t *l = eddy__lk_find(t, name, len);
  eddy__lk_hold_t *h = l != NULL ? eddy__lk_hold_of(l, o) : NULL;
  if (h == NULL)
    return EDDY__LK_NOT_HELD;
  if (--h->count > 0) {
    *left = h->count;
    return EDDY__LK_OK;
  }
  hold_unlink(t, h);
  free(h);
  *left = 0;
  pump(t, l);
  lock_maybe_free(t, l);
  return EDDY__LK_OK;
}

eddy__lk_result_t eddy__lk_refresh(eddy__lk_table_t *t, eddy__lk_owner_t *o,
                                   const char *name, size_t len,
                                   uint64_t lease_ms) {
  eddy__lk_lock_t *l = eddy__lk_find(t, name, len);
  eddy__lk_hold_t *h = l != NULL ? eddy__lk_hold_of(l, o) : NULL;
  if (h == NULL)
    return EDDY__LK_NOT_HELD;
  if (lease_ms > t->opts.max_lease_ms)
    return EDDY__LK_LIMIT;
  if (lease_ms == 0 && h->lease_ms == 0)
    return EDDY__LK_NO_LEASE;
  if (lease_ms != 0)
    h->lease_ms = lease_ms;
  lease_arm(t, h);
  return EDDY__LK_OK;
}

static void wait_fired(eddy_timer_t *timer) {
  eddy__lk_wait_t *w = timer->data;
  eddy__lk_lock_t *l = w->lock;
  eddy__lk_table_t *t = l->table;
  wait_unlink(t, w);
  t->stats.timeouts_total++;
  eddy_counter_inc(t->metrics.timeouts);
  t->ev->failed(w, EDDY__LK_TIMEOUT);
  free(w);
  /* The head may have been what blocked the waiters behind it. */
  pump(t, l);
  lock_maybe_free(t, l);
}

static void lease_fired(eddy_timer_t *timer) {
  eddy__lk_hold_t *h = timer->data;
  eddy__lk_lock_t *l = h->lock;
  eddy__lk_table_t *t = l->table;
  hold_unlink(t, h);
  t->stats.lease_expiries_total++;
  t->ev->lost(h->owner, l, h->token, EDDY__LK_LEASE);
  free(h);
  pump(t, l);
  lock_maybe_free(t, l);
}

void eddy__lk_owner_drop(eddy__lk_table_t *t, eddy__lk_owner_t *o) {
  /* Waits first, so releasing o's grants cannot grant o's own waits. */
  while (o->waits != NULL) {
    eddy__lk_wait_t *w = o->waits;
    eddy__lk_lock_t *l = w->lock;
    wait_unlink(t, w);
    free(w);
    pump(t, l);
    lock_maybe_free(t, l);
  }
  while (o->holds != NULL) {
    eddy__lk_hold_t *h = o->holds;
    eddy__lk_lock_t *l = h->lock;
    hold_unlink(t, h);
    free(h);
    t->stats.releases_on_disconnect_total++;
    pump(t, l);
    lock_maybe_free(t, l);
  }
}

size_t eddy__lk_fail_waits(eddy__lk_table_t *t, eddy__lk_result_t why) {
  size_t n = 0;
  for (size_t i = 0; i < t->nbuckets; i++) {
    eddy__lk_lock_t *l = t->buckets[i];
    while (l != NULL) {
      eddy__lk_lock_t *next = l->hnext;
      while (l->head != NULL) {
        eddy__lk_wait_t *w = l->head;
        wait_unlink(t, w);
        t->ev->failed(w, why);
        free(w);
        n++;
      }
      lock_maybe_free(t, l);
      l = next;
    }
  }
  return n;
}

size_t eddy__lk_reset(eddy__lk_table_t *t) {
  eddy__lk_fail_waits(t, EDDY__LK_RESET);
  size_t n = 0;
  for (size_t i = 0; i < t->nbuckets; i++) {
    eddy__lk_lock_t *l = t->buckets[i];
    while (l != NULL) {
      eddy__lk_lock_t *next = l->hnext;
      while (l->holders != NULL) {
        eddy__lk_hold_t *h = l->holders;
        hold_unlink(t, h);
        t->ev->lost(h->owner, l, h->token, EDDY__LK_RESET);
        free(h);
        n++;
      }
      lock_maybe_free(t, l);
      l = next;
    }
  }
  return n;
}
