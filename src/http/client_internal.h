/* client_internal.h — the HTTP client's connection pool (pool.c), as the
 * request code (client.c) sees it.
 *
 * The pool owns connections: it connects them, keeps the idle ones per
 * host:port, and hands one to each waiting request in FIFO order. A request
 * that holds a connection receives its events through the eddy__hreq_*
 * functions (client.c) and gives it back with release (reusable or not) or
 * discard (abort). */
#ifndef EDDY_HTTP_CLIENT_INTERNAL_H
#define EDDY_HTTP_CLIENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "eddy/http_client.h"
#include "eddy/reactor.h"
#include "eddy/transport.h"

typedef struct eddy__hpool_s eddy__hpool_t;
typedef struct eddy__hhost_s eddy__hhost_t;
typedef struct eddy__hconn_s eddy__hconn_t;
typedef struct eddy__hwait_s eddy__hwait_t;

/* A request waiting for a connection; embedded in the request. ready is
 * called once: with a connection (err 0), or with err < 0 and a message
 * (the connect that was made for the queue failed). It may be called from
 * inside eddy__hpool_acquire. */
struct eddy__hwait_s {
  eddy__hwait_t *prev, *next;
  eddy__hhost_t *host; /* while queued */
  void (*ready)(eddy__hwait_t *w, eddy__hconn_t *conn, int err,
                const char *msg);
  void *owner; /* the request: receives the connection's events */
};

/* cfg must have every default filled in. */
int eddy__hpool_new(eddy_reactor_t *r, const eddy_http_client_config_t *cfg,
                    eddy__hpool_t **out);
/* Queues w for a connection to host:port (host NUL-terminated, an IPv6
 * literal without brackets). front puts it first (a retry). Returns 0, or
 * UV_ENOBUFS when the host's queue is full, UV_ENOMEM, UV_ECANCELED when
 * the pool is closing (w->ready is then not called). */
int eddy__hpool_acquire(eddy__hpool_t *p, const char *host, uint16_t port,
                        eddy__hwait_t *w, int front);
/* Takes w out of its queue (harmless when it is not queued). */
void eddy__hpool_cancel(eddy__hwait_t *w);
/* The request is done with conn. reusable: the response was read to its
 * end and both sides allow keep-alive; the connection then goes to the next
 * waiter or idles. Otherwise it is closed cleanly. */
void eddy__hpool_release(eddy__hconn_t *conn, int reusable);
/* The request gives up conn in the middle of an exchange: aborted. */
void eddy__hpool_discard(eddy__hconn_t *conn);
/* Closes every idle connection to conn's host (after a stale one). */
void eddy__hpool_retire_idle(eddy__hconn_t *conn);
eddy_transport_t *eddy__hconn_transport(eddy__hconn_t *conn);
/* Whether conn carried a request before the current one. */
int eddy__hconn_reused(const eddy__hconn_t *conn);
/* Stops accepting, closes idle connections and cancels connects; busy ones
 * must be released or discarded by their requests. done(arg) is called on
 * a later iteration once every connection is gone, after the pool is
 * freed. */
void eddy__hpool_close(eddy__hpool_t *p, eddy_call_cb done, void *arg);
void eddy__hpool_stats(const eddy__hpool_t *p, eddy_http_client_stats_t *out);

/* Events of a held connection, delivered to w->owner (client.c). After
 * lost the connection is gone. */
void eddy__hreq_data(void *owner, const char *data, size_t len);
void eddy__hreq_lost(void *owner, int reason);

#endif
