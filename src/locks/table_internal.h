/* table_internal.h — the lock table: named locks, their holders and their
 * FIFO of waiters, with no I/O.
 *
 * The table knows nothing of connections or the wire: an owner (one per
 * connection) holds grants and waits, and the table tells its user through
 * three callbacks what happened to a wait (granted, failed) or a grant
 * (lost). Time comes from the reactor (its clock and eddy_timer_t for wait
 * timeouts and leases), so a fake clock drives it in tests.
 *
 * The callbacks run from inside table calls and timer callbacks; they must
 * not call back into the table (the server only formats and writes).
 *
 * Fencing tokens come from one counter for the whole table, so they grow
 * per name without keeping anything for names that are free. */
#ifndef EDDY_LOCKS_TABLE_INTERNAL_H
#define EDDY_LOCKS_TABLE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "eddy/locks.h"
#include "eddy/reactor.h"

/* Results of table calls (and reasons given to the callbacks). */
typedef enum {
  EDDY__LK_OK = 0,
  EDDY__LK_WAITING,  /* acquire queued; the wait's callback comes later */
  EDDY__LK_BUSY,     /* try: not available now */
  EDDY__LK_HELD,     /* already held or waited for by this owner */
  EDDY__LK_NOT_HELD, /* release/refresh of a lock the owner lacks */
  EDDY__LK_NO_LEASE, /* refresh without a lease to restart */
  EDDY__LK_LIMIT,    /* a limit of the options was reached */
  EDDY__LK_TIMEOUT,  /* wait time passed */
  EDDY__LK_RESET,    /* admin reset */
  EDDY__LK_SHUTDOWN, /* the service is closing */
  EDDY__LK_LEASE,    /* a grant's lease ran out (lost reason) */
  EDDY__LK_NOMEM
} eddy__lk_result_t;

#define EDDY__LK_FOREVER UINT64_MAX

typedef enum {
  EDDY__LK_FREE = 0,
  EDDY__LK_EXCL,
  EDDY__LK_SHARED
} eddy__lk_mode_t;

typedef struct eddy__lk_table_s eddy__lk_table_t;
typedef struct eddy__lk_lock_s eddy__lk_lock_t;
typedef struct eddy__lk_hold_s eddy__lk_hold_t;
typedef struct eddy__lk_wait_s eddy__lk_wait_t;
typedef struct eddy__lk_owner_s eddy__lk_owner_t;

struct eddy__lk_owner_s {
  void *data; /* for the user (the connection) */
  uint64_t id;
  char client[65]; /* NUL-terminated; empty when unnamed */
  /* private */
  eddy__lk_hold_t *holds; /* doubly linked through owner_prev/next */
  eddy__lk_wait_t *waits;
  size_t nholds;
  size_t nwaits;
};

struct eddy__lk_hold_s {
  eddy__lk_lock_t *lock;
  eddy__lk_owner_t *owner;
  eddy__lk_hold_t *lock_prev, *lock_next;
  eddy__lk_hold_t *owner_prev, *owner_next;
  eddy__lk_mode_t mode;
  uint64_t count;
  uint64_t token;
  uint64_t granted_at; /* reactor ms */
  uint64_t granted_us; /* eddy_metrics_now_us, when metrics are on */
  uint64_t lease_ms;   /* 0: none */
  uint64_t lease_due;
  eddy_timer_t lease;
};

struct eddy__lk_wait_s {
  void *data; /* for the user (the reply slot waiting for it) */
  eddy__lk_lock_t *lock;
  eddy__lk_owner_t *owner;
  eddy__lk_wait_t *lock_prev, *lock_next;
  eddy__lk_wait_t *owner_prev, *owner_next;
  eddy__lk_mode_t mode;
  uint64_t lease_ms;
  uint64_t since;    /* reactor ms when queued */
  uint64_t since_us; /* eddy_metrics_now_us, when metrics are on */
  uint64_t deadline; /* EDDY__LK_FOREVER: none */
  eddy_timer_t timer;
};

struct eddy__lk_lock_s {
  eddy__lk_table_t *table;
  eddy__lk_lock_t *hnext; /* hash chain */
  uint64_t hash;
  eddy__lk_mode_t mode;                    /* of its holders */
  eddy__lk_hold_t *holders, *holders_tail; /* in grant order */
  size_t nholders;
  eddy__lk_wait_t *head, *tail;
  size_t nwaiters;
  size_t name_len;
  char name[]; /* NUL-terminated too */
};

typedef struct eddy__lk_events_s {
  /* w was granted (token is its grant's); w is freed after this returns. */
  void (*granted)(eddy__lk_wait_t *w, uint64_t token);
  /* w ended without a grant: TIMEOUT, RESET or SHUTDOWN; freed after. */
  void (*failed)(eddy__lk_wait_t *w, eddy__lk_result_t why);
  /* A grant of o was taken away: LEASE or RESET. */
  void (*lost)(eddy__lk_owner_t *o, const eddy__lk_lock_t *lock, uint64_t token,
               eddy__lk_result_t why);
} eddy__lk_events_t;

typedef struct eddy__lk_acquire_s {
  eddy__lk_mode_t mode; /* EXCL or SHARED */
  int reentrant;
  uint64_t wait_ms;  /* 0: try; EDDY__LK_FOREVER: no timeout */
  uint64_t lease_ms; /* 0: none */
} eddy__lk_acquire_t;

struct eddy__lk_table_s {
  eddy_reactor_t *reactor;
  const eddy__lk_events_t *ev;
  void *data;
  eddy_locks_opts_t opts;
  eddy__lk_lock_t **buckets;
  size_t nbuckets; /* power of two */
  size_t nlocks;
  uint64_t next_token;
  eddy_locks_stats_t stats; /* connections is the server's to fill */
  /* Fed when the service has a registry (the server sets them); NULL
   * otherwise, which the metric functions take. */
  struct {
    eddy_counter_t *grants, *timeouts;
    eddy_histogram_t *wait, *hold; /* microseconds */
  } metrics;
};

int eddy__lk_table_init(eddy__lk_table_t *t, eddy_reactor_t *r,
                        const eddy_locks_opts_t *o, const eddy__lk_events_t *ev,
                        void *data);
/* Every owner must have been dropped first. */
void eddy__lk_table_cleanup(eddy__lk_table_t *t);

void eddy__lk_owner_init(eddy__lk_owner_t *o, uint64_t id, void *data);
/* Releases every grant of o and drops its waits, without callbacks for o
 * (its connection is gone); other owners' waits may be granted. */
void eddy__lk_owner_drop(eddy__lk_table_t *t, eddy__lk_owner_t *o);

/* OK with *token set; WAITING with *wait set (its callback comes later,
 * never from inside this call); BUSY, HELD, LIMIT or NOMEM. */
eddy__lk_result_t eddy__lk_acquire(eddy__lk_table_t *t, eddy__lk_owner_t *o,
                                   const char *name, size_t len,
                                   const eddy__lk_acquire_t *a, uint64_t *token,
                                   eddy__lk_wait_t **wait);
/* OK with *left the count left (0: released), or NOT_HELD. */
eddy__lk_result_t eddy__lk_release(eddy__lk_table_t *t, eddy__lk_owner_t *o,
                                   const char *name, size_t len,
                                   uint64_t *left);
/* lease_ms 0 restarts the lease with its length. OK, NOT_HELD, NO_LEASE or
 * LIMIT. */
eddy__lk_result_t eddy__lk_refresh(eddy__lk_table_t *t, eddy__lk_owner_t *o,
                                   const char *name, size_t len,
                                   uint64_t lease_ms);
/* Fails every wait with why (RESET or SHUTDOWN); returns how many. */
size_t eddy__lk_fail_waits(eddy__lk_table_t *t, eddy__lk_result_t why);
/* Fails every wait (RESET), then takes every grant away (lost RESET).
 * Returns the number of grants released. */
size_t eddy__lk_reset(eddy__lk_table_t *t);

/* NULL when no one holds or waits for name. */
eddy__lk_lock_t *eddy__lk_find(const eddy__lk_table_t *t, const char *name,
                               size_t len);
/* Calls fn for every lock (in no order); stops when fn returns non-zero. */
/* The service's table (server.c), for the read-only queries of query.c. */
const eddy__lk_table_t *eddy__locks_table(const eddy_locks_t *l);

void eddy__lk_each(const eddy__lk_table_t *t,
                   int (*fn)(eddy__lk_lock_t *l, void *arg), void *arg);
/* o's grant of l, or NULL. */
eddy__lk_hold_t *eddy__lk_hold_of(const eddy__lk_lock_t *l,
                                  const eddy__lk_owner_t *o);

#endif
