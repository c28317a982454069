/* pool.c — the HTTP client's keep-alive connections, per host:port.
 *
 * A host entry holds its open connections (idle ones in a list, most
 * recently used first, since those are the likeliest still open on the
 * server), the connects in progress, and a FIFO of waiting requests. One
 * function, pump(), restores the invariants after any change: idle
 * connections go to waiters, and connects are started while more requests
 * wait than connects are under way and the per-host limit allows.
 * A host entry is freed as soon as it holds nothing.
 *
 * A connection is allocated when its connect starts; it is freed after its
 * protocol's destroy, or in the connect's errback when no protocol was ever
 * built. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/reactor_internal.h"
#include "eddy/endpoint.h"
#include "eddy/error.h"
#include "eddy/log.h"
#include "http/client_internal.h"

#define HOST_BUCKETS 256u

typedef enum {
  CONN_CONNECTING = 0,
  CONN_IDLE,
  CONN_BUSY,
  CONN_CLOSING /* asked to close, or closed by the peer: never reused */
} conn_state_t;

struct eddy__hconn_s {
  eddy_protocol_t proto; /* first */
  eddy_factory_t factory;
  eddy__hhost_t *host;
  eddy__hconn_t *prev, *next;         /* in the host's idle list */
  eddy__hconn_t *all_prev, *all_next; /* every connection of the host */
  eddy_deferred_t *connecting;
  void *owner; /* the request holding it */
  conn_state_t state;
  int built;     /* the protocol exists: destroy will free us */
  int lost;      /* connection_lost has run */
  int eof;       /* the server closed its side */
  int requests;  /* requests given this connection */
  int counted;   /* counted in host->open */
  int cancelled; /* its connect was cancelled by the pool's close */
  eddy_timer_t idle_timer;
};

struct eddy__hhost_s {
  eddy__hhost_t *next_in_bucket;
  eddy__hpool_t *pool;
  unsigned bucket;
  char host[EDDY_ENDPOINT_HOST_MAX];
  uint16_t port;
  eddy__hconn_t *idle; /* most recent first */
  eddy__hconn_t *all;  /* every connection struct not yet freed */
  size_t nidle;
  size_t open;       /* connected and not yet lost */
  size_t connecting; /* connects under way */
  size_t alive;      /* connection structs not yet freed */
  eddy__hwait_t *qhead, *qtail;
  size_t queued;
};

struct eddy__hpool_s {
  eddy_reactor_t *reactor;
  eddy_http_client_config_t cfg;
  eddy__hhost_t *buckets[HOST_BUCKETS];
  size_t nidle;
  size_t open;
  size_t queued;
  size_t alive; /* connection structs, all hosts */
  uint64_t opened;
  uint64_t reused;
  int closing;
  eddy_call_cb done;
  void *done_arg;
  eddy__soon_t soon;
};

static void pump(eddy__hhost_t *h);
static void unqueue(eddy__hwait_t *w);
static void host_maybe_free(eddy__hhost_t *h);
static void pool_maybe_done(eddy__hpool_t *p);

/* ---- Hosts --------------------------------------------------------------- */

static unsigned hash_key(const char *host, uint16_t port) {
  uint32_t x = 2166136261u;
  for (const char *s = host; *s != '\0'; s++) {
    char c = *s;
    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    x = (x ^ (unsigned char)c) * 16777619u;
  }
  x = (x ^ port) * 16777619u;
  return x % HOST_BUCKETS;
}

static eddy__hhost_t *find_host(eddy__hpool_t *p, const char *host,
                                uint16_t port, int create) {
  unsigned b = hash_key(host, port);
  for (eddy__hhost_t *h = p->buckets[b]; h != NULL; h = h->next_in_bucket)
    if (h->port == port && strcasecmp(h->host, host) == 0)
      return h;
  if (!create)
    return NULL;
  size_t n = strlen(host);
  if (n >= EDDY_ENDPOINT_HOST_MAX)
    return NULL;
  eddy__hhost_t *h = calloc(1, sizeof(*h));
  if (h == NULL)
    return NULL;
  memcpy(h->host, host, n + 1);
  h->port = port;
  h->pool = p;
  h->bucket = b;
  h->next_in_bucket = p->buckets[b];
  p->buckets[b] = h;
  return h;
}

static void host_maybe_free(eddy__hhost_t *h) {
  if (h->alive > 0 || h->queued > 0)
    return;
  eddy__hpool_t *p = h->pool;
  eddy__hhost_t **pp = &p->buckets[h->bucket];
  while (*pp != h)
    pp = &(*pp)->next_in_bucket;
  *pp = h->next_in_bucket;
  free(h);
}

/* ---- Idle list ------------------------------------------------------------
 */

static void idle_remove(eddy__hconn_t *c) {
  eddy__hhost_t *h = c->host;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    h->idle = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  c->prev = c->next = NULL;
  h->nidle--;
  h->pool->nidle--;
  eddy_timer_stop(&c->idle_timer);
}

static void idle_expired(eddy_timer_t *t) {
  eddy__hconn_t *c = t->data;
  idle_remove(c);
  c->state = CONN_CLOSING;
  eddy_transport_lose_connection(c->proto.transport);
}

static void close_conn(eddy__hconn_t *c, int abort) {
  if (c->state == CONN_IDLE)
    idle_remove(c);
  c->state = CONN_CLOSING;
  c->owner = NULL;
  if (c->lost || c->proto.transport == NULL)
    return;
  if (abort)
    eddy_transport_abort_connection(c->proto.transport);
  else
    eddy_transport_lose_connection(c->proto.transport);
}

/* Gives c to the first waiter, or parks it. */
static void offer(eddy__hconn_t *c) {
  eddy__hhost_t *h = c->host;
  eddy__hpool_t *p = h->pool;
  if (p->closing || c->eof || c->lost) {
    close_conn(c, 0);
    return;
  }
  eddy__hwait_t *w = h->qhead;
  if (w != NULL) {
    unqueue(w);
    c->state = CONN_BUSY;
    c->owner = w->owner;
    if (c->requests++ > 0)
      p->reused++;
    w->ready(w, c, 0, NULL);
    return;
  }
  if (p->nidle >= p->cfg.max_idle) {
    close_conn(c, 0);
    return;
  }
  c->state = CONN_IDLE;
  c->owner = NULL;
  c->prev = NULL;
  c->next = h->idle;
  if (h->idle != NULL)
    h->idle->prev = c;
  h->idle = c;
  h->nidle++;
  p->nidle++;
  eddy_timer_start(&c->idle_timer, p->cfg.pool_idle_timeout_ms, idle_expired);
}

/* ---- The connection's protocol ---------------------------------------- */

static void conn_data(eddy_protocol_t *proto, const char *data, size_t len) {
  eddy__hconn_t *c = (eddy__hconn_t *)proto;
  if (c->state == CONN_BUSY && c->owner != NULL) {
    eddy__hreq_data(c->owner, data, len);
    return;
  }
  if (c->state == CONN_IDLE) {
    /* Nobody asked: a 408 before closing, or garbage. Either way the
     * connection can no longer carry a request cleanly. */
    eddy_log(EDDY_LOG_DEBUG, "http.client.unsolicited", "host=%s bytes=%zu",
             c->host->host, len);
    close_conn(c, 1);
  }
}

static int conn_eof(eddy_protocol_t *proto) {
  eddy__hconn_t *c = (eddy__hconn_t *)proto;
  c->eof = 1;
  if (c->state == CONN_IDLE) {
    idle_remove(c);
    c->state = CONN_CLOSING;
  }
  return 0; /* close once our side is written */
}

static void conn_lost(eddy_protocol_t *proto, int reason) {
  eddy__hconn_t *c = (eddy__hconn_t *)proto;
  eddy__hhost_t *h = c->host;
  c->lost = 1;
  if (c->state == CONN_IDLE)
    idle_remove(c);
  if (c->counted) {
    c->counted = 0;
    h->open--;
    h->pool->open--;
  }
  void *owner = c->state == CONN_BUSY ? c->owner : NULL;
  c->state = CONN_CLOSING;
  c->owner = NULL;
  if (owner != NULL)
    eddy__hreq_lost(owner, reason);
  /* A slot is free: a waiter may get a connect now. */
  pump(h);
}

static void all_remove(eddy__hconn_t *c) {
  eddy__hhost_t *h = c->host;
  if (c->all_prev != NULL)
    c->all_prev->all_next = c->all_next;
  else
    h->all = c->all_next;
  if (c->all_next != NULL)
    c->all_next->all_prev = c->all_prev;
  h->alive--;
  h->pool->alive--;
}

static void conn_free(eddy__hconn_t *c) {
  eddy__hhost_t *h = c->host;
  eddy__hpool_t *p = h->pool;
  eddy_timer_stop(&c->idle_timer);
  all_remove(c);
  free(c);
  host_maybe_free(h);
  pool_maybe_done(p);
}

static void conn_destroy(eddy_protocol_t *proto) {
  conn_free((eddy__hconn_t *)proto);
}

static const eddy_protocol_ops_t conn_ops = {
    .data_received = conn_data,
    .eof_received = conn_eof,
    .connection_lost = conn_lost,
    .destroy = conn_destroy,
};

static eddy_protocol_t *build_conn(eddy_factory_t *f, const eddy_addr_t *peer) {
  (void)peer;
  eddy__hconn_t *c = f->data;
  c->built = 1;
  return &c->proto;
}

/* ---- Connecting ------------------------------------------------------------
 */

static void connect_ok(eddy_result_t *res, void *arg) {
  eddy__hconn_t *c = arg;
  eddy__hhost_t *h = c->host;
  eddy__hpool_t *p = h->pool;
  eddy_result_take(res); /* the protocol is c itself, not owned by res */
  c->connecting = NULL;
  h->connecting--;
  h->open++;
  p->open++;
  p->opened++;
  c->counted = 1;
  /* The endpoint's connect already set TCP_NODELAY: requests are whole
   * messages and must not wait for an ACK. */
  offer(c);
  pump(h);
}

static void connect_err(eddy_result_t *res, void *arg) {
  eddy__hconn_t *c = arg;
  eddy__hhost_t *h = c->host;
  eddy__hpool_t *p = h->pool;
  c->connecting = NULL;
  h->connecting--;
  char msg[512];
  snprintf(msg, sizeof(msg), "%s", eddy_result_message(res));
  int err = res->err;
  eddy_result_recover(res);
  /* The attempt was for the queue, not for one request: its failure goes
   * to the request that has waited longest. */
  eddy__hwait_t *w = p->closing ? NULL : h->qhead;
  if (w != NULL) {
    unqueue(w);
    w->ready(w, NULL, err, msg);
  }
  if (c->built) {
    /* Aborted after the protocol was built: destroy frees it. */
    c->state = CONN_CLOSING;
  } else {
    all_remove(c);
    free(c);
  }
  pump(h);
  host_maybe_free(h);
  pool_maybe_done(p);
}

static int start_connect(eddy__hhost_t *h) {
  eddy__hpool_t *p = h->pool;
  eddy__hconn_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return UV_ENOMEM;
  eddy_protocol_init(&c->proto, &conn_ops);
  c->host = h;
  c->state = CONN_CONNECTING;
  c->factory.build_protocol = build_conn;
  c->factory.data = c;
  eddy_timer_init(p->reactor, &c->idle_timer);
  c->idle_timer.data = c;
  eddy_endpoint_t ep;
  memset(&ep, 0, sizeof(ep));
  ep.kind = EDDY_ENDPOINT_TCP;
  snprintf(ep.host, sizeof(ep.host), "%s", h->host);
  ep.port = h->port;
  ep.timeout_ms = p->cfg.connect_timeout_ms;
  eddy_deferred_t *d = eddy_connect_endpoint(p->reactor, &ep, &c->factory);
  if (d == NULL) {
    free(c);
    return UV_ENOMEM;
  }
  c->connecting = d;
  h->connecting++;
  h->alive++;
  p->alive++;
  c->all_next = h->all;
  if (h->all != NULL)
    h->all->all_prev = c;
  h->all = c;
  /* Added last: the deferred never fires inside eddy_connect_endpoint. */
  eddy_deferred_add_callbacks(d, connect_ok, connect_err, c);
  return 0;
}

static void pump(eddy__hhost_t *h) {
  eddy__hpool_t *p = h->pool;
  while (!p->closing && h->qhead != NULL && h->idle != NULL) {
    eddy__hconn_t *c = h->idle;
    idle_remove(c);
    offer(c);
  }
  while (!p->closing && h->queued > h->connecting &&
         h->open + h->connecting < p->cfg.max_per_host) {
    int rc = start_connect(h);
    if (rc < 0) {
      eddy__hwait_t *w = h->qhead;
      unqueue(w);
      w->ready(w, NULL, rc, "out of memory starting a connection");
    }
  }
}

/* ---- The pool's interface ---------------------------------------------------
 */

int eddy__hpool_new(eddy_reactor_t *r, const eddy_http_client_config_t *cfg,
                    eddy__hpool_t **out) {
  eddy__hpool_t *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return UV_ENOMEM;
  p->reactor = r;
  p->cfg = *cfg;
  *out = p;
  return 0;
}

int eddy__hpool_acquire(eddy__hpool_t *p, const char *host, uint16_t port,
                        eddy__hwait_t *w, int front) {
  if (p->closing)
    return UV_ECANCELED;
  eddy__hhost_t *h = find_host(p, host, port, 1);
  if (h == NULL)
    return UV_ENOMEM;
  if (h->queued >= p->cfg.max_queue_per_host) {
    host_maybe_free(h);
    return UV_ENOBUFS;
  }
  w->host = h;
  if (front) {
    w->prev = NULL;
    w->next = h->qhead;
    if (h->qhead != NULL)
      h->qhead->prev = w;
    else
      h->qtail = w;
    h->qhead = w;
  } else {
    w->next = NULL;
    w->prev = h->qtail;
    if (h->qtail != NULL)
      h->qtail->next = w;
    else
      h->qhead = w;
    h->qtail = w;
  }
  h->queued++;
  p->queued++;
  /* pump may fail w at once (out of memory) and leave h empty. */
  h->alive++;
  pump(h);
  h->alive--;
  host_maybe_free(h);
  return 0;
}

static void unqueue(eddy__hwait_t *w) {
  eddy__hhost_t *h = w->host;
  if (h == NULL)
    return;
  if (w->prev != NULL)
    w->prev->next = w->next;
  else
    h->qhead = w->next;
  if (w->next != NULL)
    w->next->prev = w->prev;
  else
    h->qtail = w->prev;
  w->prev = w->next = NULL;
  w->host = NULL;
  h->queued--;
  h->pool->queued--;
}

void eddy__hpool_cancel(eddy__hwait_t *w) {
  eddy__hhost_t *h = w->host;
  if (h == NULL)
    return;
  unqueue(w);
  host_maybe_free(h);
}

void eddy__hpool_release(eddy__hconn_t *c, int reusable) {
  c->owner = NULL;
  if (!reusable || c->lost || c->eof) {
    close_conn(c, 0);
    return;
  }
  offer(c);
}

void eddy__hpool_discard(eddy__hconn_t *c) {
  close_conn(c, 1);
}

void eddy__hpool_retire_idle(eddy__hconn_t *conn) {
  eddy__hhost_t *h = conn->host;
  while (h->idle != NULL)
    close_conn(h->idle, 0);
}

eddy_transport_t *eddy__hconn_transport(eddy__hconn_t *c) {
  return c->proto.transport;
}

int eddy__hconn_reused(const eddy__hconn_t *c) {
  return c->requests > 1;
}

static void done_soon(void *arg) {
  eddy__hpool_t *p = arg;
  eddy_call_cb done = p->done;
  void *done_arg = p->done_arg;
  free(p);
  if (done != NULL)
    done(done_arg);
}

static void pool_maybe_done(eddy__hpool_t *p) {
  if (!p->closing || p->alive > 0 || p->soon.queued)
    return;
  eddy__reactor_soon(p->reactor, &p->soon, done_soon, p);
}

void eddy__hpool_close(eddy__hpool_t *p, eddy_call_cb done, void *arg) {
  p->closing = 1;
  p->done = done;
  p->done_arg = arg;
  for (unsigned b = 0; b < HOST_BUCKETS; b++) {
    eddy__hhost_t *h = p->buckets[b];
    while (h != NULL) {
      eddy__hhost_t *next = h->next_in_bucket;
      /* Hold the entry while its connections are closed under it. */
      h->alive++;
      while (h->idle != NULL)
        close_conn(h->idle, 0);
      /* Cancelling a connect runs its errback now, which frees it, so
       * the list is walked from its start again each time. */
      for (;;) {
        eddy__hconn_t *c = h->all;
        while (c != NULL && (c->connecting == NULL || c->cancelled))
          c = c->all_next;
        if (c == NULL)
          break;
        c->cancelled = 1;
        eddy_deferred_cancel(c->connecting);
      }
      h->alive--;
      host_maybe_free(h);
      h = next;
    }
  }
  pool_maybe_done(p);
}

void eddy__hpool_stats(const eddy__hpool_t *p, eddy_http_client_stats_t *out) {
  out->connections_opened = p->opened;
  out->connections_reused = p->reused;
  out->connections_open = p->open;
  out->connections_idle = p->nidle;
  out->requests_queued = p->queued;
}
