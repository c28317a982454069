/* eddy/lock_client.h — a client of the lock service, returning deferreds.
 *
 * One client is one connection to a lock server (eddyd's lock service, or
 * any program embedding eddy/locks.h), speaking docs/protocol/locks.md.
 * Requests are pipelined: each call writes its request at once and returns
 * a deferred that fires when the matching reply arrives, so many requests
 * may be in flight on one connection.
 *
 * Every lock the client holds is released by the server, and its waits are
 * cancelled, when the connection closes — whether by eddy_lock_client_close,
 * a network failure, or the process dying. A holder therefore cannot leave a
 * lock behind.
 *
 *   d = eddy_lock_client_connect(r, "tcp:127.0.0.1:7701", "worker-1");
 *   -> fires with the eddy_lock_client_t *
 *   d = eddy_lock_acquire(c, "invoices", &opts);
 *   -> fires with an eddy_lock_grant_t * (name, fencing token)
 *   d = eddy_lock_release(c, "invoices");
 *   eddy_lock_client_close(c, NULL, NULL);
 *
 * FAILURES carry a negative code and a message (the server's text when the
 * server answered `ERR CODE TEXT`: "CODE TEXT"). Server codes map to:
 *   timeout  UV_ETIMEDOUT  not granted within opts.timeout_ms
 *   busy     UV_EBUSY      a try (timeout_ms 0) found the lock taken
 *   held     UV_EEXIST     already held or waited for by this client and
 *                          not reentrant, or a shared-to-exclusive upgrade
 *   not_held UV_ENOENT     release/refresh of a lock this client lacks
 *   bad_request, too_long  UV_EINVAL (the client also refuses bad names
 *                          and options itself, before sending)
 *   limit    UV_ENOBUFS    a server limit; also more than
 *                          EDDY_LOCK_CLIENT_PENDING_MAX requests in flight
 *   reset    UV_ECANCELED  an admin reset dropped this waiting acquire
 *   denied   UV_EACCES     reset without the right admin token
 *   shutdown UV_ESHUTDOWN  the service is closing
 *   (other)  UV_EPROTO     a reply the client could not understand
 * and locally: UV_ENOTCONN when the connection is closed or closing
 * (requests after close, and every request in flight when it was lost),
 * UV_ECANCELED after eddy_deferred_cancel.
 *
 * OWNERSHIP: the client is library-owned and lives until
 * eddy_lock_client_close, which must be called exactly once for every client
 * a connect delivered — also after the connection was lost. Grants
 * (eddy_lock_grant_t) and lists (eddy_lock_infos_t) are owned by the
 * deferred's result: take one with eddy_result_take and free it with
 * eddy_lock_grant_free / eddy_lock_infos_free (the results' free functions).
 *
 * Deferreds are never fired from inside the call that returned them.
 *
 * CANCELLING an acquire fails its deferred with UV_ECANCELED at once. The
 * protocol has no way to withdraw a waiting acquire, so the server keeps
 * waiting: if the lock is granted later the client releases it at once, and
 * until then the replies to requests sent after it are held back (the
 * server answers in order). Give acquires a timeout, or close the client,
 * when that matters. Cancelling other requests only abandons their reply.
 */
#ifndef EDDY_LOCK_CLIENT_H
#define EDDY_LOCK_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "deferred.h"
#include "reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_lock_client_s eddy_lock_client_t;

/* Bytes in a lock name: the protocol's limit (names are 1..250 bytes of
 * printable ASCII without spaces). */
#define EDDY_LOCK_NAME_MAX 250
/* Wait without a time limit. */
#define EDDY_LOCK_WAIT_FOREVER UINT64_MAX
/* Requests in flight on one client; more fail with UV_ENOBUFS (the server
 * closes a connection with more than 1024 unanswered requests). */
#define EDDY_LOCK_CLIENT_PENDING_MAX 1000

typedef struct eddy_lock_opts_s {
  /* How long to wait: EDDY_LOCK_WAIT_FOREVER (the default), or a number of
   * milliseconds; 0 is a try: granted at once or UV_EBUSY. Waits longer
   * than the protocol's 4294967295 ms are waits without a limit. */
  uint64_t timeout_ms;
  int shared;    /* a shared (read) lock instead of an exclusive one */
  int reentrant; /* a second acquire by this client counts up, not waits */
  /* Lease in ms: the server releases the lock when it is not refreshed
   * (eddy_lock_refresh) in time, even while connected. 0: no lease. */
  uint64_t lease_ms;
} eddy_lock_opts_t;

void eddy_lock_opts_init(eddy_lock_opts_t *o);

typedef struct eddy_lock_grant_s {
  char name[EDDY_LOCK_NAME_MAX + 1];
  /* Fencing token: only ever grows for a name. Present it to the resource
   * the lock protects so it can refuse a stale holder. */
  uint64_t token;
  int shared; /* as asked: a reentrant shared acquire by an exclusive
                holder leaves the lock exclusive */
} eddy_lock_grant_t;

void eddy_lock_grant_free(void *grant);

/* Connects and, when client_name is not NULL, names the client to the
 * server (shown by inspection; 1..64 bytes, no spaces). The deferred fires
 * with the eddy_lock_client_t * (not owned by the result) or fails with
 * the connect error. Cancelling it abandons the attempt. NULL only when out
 * of memory. */
eddy_deferred_t *eddy_lock_client_connect(eddy_reactor_t *r,
                                          const char *endpoint,
                                          const char *client_name);

/* Acquires `name` (opts NULL: exclusive, wait forever, not reentrant, no
 * lease). Fires with an eddy_lock_grant_t *. */
eddy_deferred_t *eddy_lock_acquire(eddy_lock_client_t *c, const char *name,
                                   const eddy_lock_opts_t *opts);
/* Releases one hold of `name` (a reentrant lock is freed when its count
 * reaches 0). Fires with a uint64_t * (owned by the result): the count
 * this client still holds, 0 when the lock is released. */
eddy_deferred_t *eddy_lock_release(eddy_lock_client_t *c, const char *name);
/* Renews the lease of a held lock for lease_ms more (0: for the length it
 * had). Fires with no value. */
eddy_deferred_t *eddy_lock_refresh(eddy_lock_client_t *c, const char *name,
                                   uint64_t lease_ms);

/* Inspection: every lock the server knows, with holders and waiters. */
typedef enum {
  EDDY_LOCK_FREE = 0,
  EDDY_LOCK_EXCLUSIVE = 1,
  EDDY_LOCK_SHARED = 2
} eddy_lock_state_t;

typedef struct eddy_lock_info_s {
  char name[EDDY_LOCK_NAME_MAX + 1];
  eddy_lock_state_t state;
  uint64_t holders; /* grants holding it */
  uint64_t waiters; /* acquires waiting */
} eddy_lock_info_t;

typedef struct eddy_lock_infos_s {
  size_t count;   /* items listed (the server lists at most 1000) */
  uint64_t total; /* locks that matched */
  eddy_lock_info_t items[];
} eddy_lock_infos_t;

void eddy_lock_infos_free(void *infos);
/* Locks with a holder or waiter whose name starts with prefix (NULL or ""
 * for all), sorted by name. Fires with an eddy_lock_infos_t *. */
eddy_deferred_t *eddy_lock_list(eddy_lock_client_t *c, const char *prefix);
/* Admin: releases every lock of every client and fails every waiter (with
 * UV_ECANCELED). token may be NULL when the server needs none. Fires with a
 * uint64_t * (owned by the result): the number of grants released. */
eddy_deferred_t *eddy_lock_reset(eddy_lock_client_t *c, const char *token);

/* Closes the connection once what is written has been sent (the server then
 * releases everything this client held). Requests still in flight fail with
 * UV_ENOTCONN. cb (may be NULL) runs once the client is freed, on a later
 * iteration. Call it exactly once per client, also after a loss. */
void eddy_lock_client_close(eddy_lock_client_t *c, eddy_call_cb cb, void *arg);

/* Non-zero once the connection is lost or closing (every lock it held is
 * gone). */
int eddy_lock_client_lost(const eddy_lock_client_t *c);
/* The connection's number on the server (the `hello` reply), 0 when the
 * client did not name itself. */
uint64_t eddy_lock_client_id(const eddy_lock_client_t *c);

/* Tells the holder it no longer holds something:
 *  - name NULL: the connection was lost (reason 0 for a clean close by the
 *    server, else the error); every grant is gone. Not called after
 *    eddy_lock_client_close.
 *  - name set: that grant (with that token) was taken away while connected:
 *    reason UV_ETIMEDOUT when its lease expired, UV_ECANCELED after an admin
 *    reset.
 * name is valid only during the call. */
typedef void (*eddy_lock_lost_cb)(eddy_lock_client_t *c, const char *name,
                                  uint64_t token, int reason, void *arg);
void eddy_lock_client_on_lost(eddy_lock_client_t *c, eddy_lock_lost_cb cb,
                              void *arg);

#ifdef __cplusplus
}
#endif
#endif
