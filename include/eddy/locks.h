/* eddy/locks.h — the lock service: named locks over a line protocol.
 *
 * A library module that a C program can embed and that eddyd wires up.
 * Exclusive and shared locks, reentrant when asked, try and timeout, FIFO
 * fairness, a fencing token on every grant, optional leases, and every lock
 * a connection holds released the moment it closes. The wire protocol is
 * docs/protocol/locks.md.
 *
 * OWNERSHIP: eddy_locks_t is library-owned: created by eddy_locks_new,
 * freed by eddy_locks_close (asynchronously: cb runs once every listener
 * and connection is closed).
 */
#ifndef EDDY_LOCKS_H
#define EDDY_LOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "endpoint.h"
#include "metrics.h"
#include "protocol.h"
#include "reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_locks_s eddy_locks_t;

typedef struct eddy_locks_opts_s {
  size_t max_name;           /* bytes in a lock name; default 250 */
  size_t max_line;           /* bytes in a request line; default 1024 */
  size_t max_held_per_conn;  /* locks one connection holds or waits for;
                              * 10000 */
  size_t max_waits_per_conn; /* pending acquires per connection; 1000 */
  size_t max_locks;          /* distinct lock names alive; 1000000 */
  size_t max_connections;    /* 10000 */
  uint64_t max_lease_ms;     /* longest lease a client may ask; 1 day */
  /* If set, `reset` needs it (copied by eddy_locks_new; "" makes reset
   * impossible). NULL = allowed. */
  const char *admin_token;
  /* Optional registry the service feeds (eddy/metrics.h); it must outlive
   * the service. NULL: no metrics. */
  eddy_metrics_t *metrics;
} eddy_locks_opts_t;

void eddy_locks_opts_init(eddy_locks_opts_t *o);

/* o NULL means the defaults. Returns 0, UV_ENOMEM, or UV_EINVAL (r or out
 * NULL; max_name, max_held_per_conn, max_locks or max_connections 0;
 * max_line below 16 or above EDDY_LINE_BUFFER_MAX - 1). */
int eddy_locks_new(eddy_reactor_t *r, const eddy_locks_opts_t *o,
                   eddy_locks_t **out);
/* Serves the protocol on one more endpoint (TCP or Unix). May be called for
 * several endpoints. *out (may be NULL) is owned by the service. */
int eddy_locks_listen(eddy_locks_t *l, const char *endpoint,
                      eddy_listener_t **out);
/* Answers every waiting acquire `ERR shutdown`, stops listening, and closes
 * every connection once its replies are written; cb(arg) (may be NULL) then
 * runs on a later loop iteration, after which l is freed. Call it once. */
void eddy_locks_close(eddy_locks_t *l, eddy_call_cb cb, void *arg);

/* The factory behind eddy_locks_listen, owned by l: serves the protocol over
 * any transport (a caller's own listener, eddy_string_transport,
 * eddy_loopback). Its protocols count as connections of l. */
eddy_factory_t *eddy_locks_factory(eddy_locks_t *l);

/* Counters for status pages and the dashboard. Totals only grow. */
typedef struct eddy_locks_stats_s {
  uint64_t connections; /* open now */
  uint64_t locks;       /* names with a holder or waiter now */
  uint64_t holders;     /* grants held now (a reentrant count once) */
  uint64_t waiters;     /* acquires waiting now */
  uint64_t grants_total;
  uint64_t waits_total; /* acquires that had to wait */
  uint64_t timeouts_total;
  uint64_t releases_on_disconnect_total;
  uint64_t lease_expiries_total;
  uint64_t wait_time_us_total; /* summed over granted waits */
} eddy_locks_stats_t;

void eddy_locks_stats(const eddy_locks_t *l, eddy_locks_stats_t *out);

/* ---- Queries (the HTTP API, status pages) -------------------------------
 * What `inspect` and `list` show (docs/protocol/locks.md), as structs. Call
 * them on the service's reactor thread; they only read the table. Times
 * are on the service's reactor clock. */
typedef struct eddy_locks_holder_s {
  uint64_t conn;   /* the connection's number, as `inspect` shows it */
  char client[65]; /* its `hello` name; "" when it gave none */
  int shared;
  uint64_t count; /* reentrant depth */
  uint64_t token; /* fencing token of the grant */
  uint64_t held_ms;
  int64_t lease_left_ms; /* -1: no lease */
} eddy_locks_holder_t;

typedef struct eddy_locks_waiter_s {
  uint64_t conn;
  char client[65];
  int shared;
  uint64_t waited_ms;
  int64_t timeout_left_ms; /* -1: waits forever */
} eddy_locks_waiter_t;

typedef struct eddy_locks_entry_s {
  char *name;       /* NUL-terminated */
  const char *mode; /* "exclusive", "shared" or "free" (static) */
  size_t nholders;
  size_t nwaiters;
  eddy_locks_holder_t *holders; /* in grant order */
  eddy_locks_waiter_t *waiters; /* in queue order; NULL from eddy_locks_list */
} eddy_locks_entry_t;

/* One lock (a name no one holds or waits for is "free" with no holders).
 * *out is the caller's: eddy_locks_entries_free(*out, 1). Returns 0,
 * UV_EINVAL (an empty name or one over max_name bytes) or UV_ENOMEM. */
int eddy_locks_inspect(eddy_locks_t *l, const char *name, size_t len,
                       eddy_locks_entry_t **out);
/* Locks held or waited for whose names start with prefix (len 0: all),
 * sorted by name, at most limit (0: 1000), each with its holders and its
 * waiter count. *truncated is set when more matched. The caller frees
 * with eddy_locks_entries_free(*out, *count). Returns 0 or UV_ENOMEM. */
int eddy_locks_list(eddy_locks_t *l, const char *prefix, size_t len,
                    size_t limit, eddy_locks_entry_t **out, size_t *count,
                    int *truncated);
void eddy_locks_entries_free(eddy_locks_entry_t *info, size_t count);

#ifdef __cplusplus
}
#endif
#endif
