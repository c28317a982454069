/* connect.c — connecting to TCP and Unix-socket endpoints.
 *
 * One connect attempt is a small state machine: resolve the host (unless it
 * is an IP literal or a Unix path), try each address in turn with a fresh
 * stream, and settle the deferred exactly once: with the protocol after
 * connection_made ran, or with the last error, UV_ETIMEDOUT or EDDY_EPARSE.
 * Work starts inside eddy_connect (libuv never calls back from inside the
 * starting call), but a failure known at once is delivered on the next
 * iteration, so the deferred never fires before eddy_connect returns.
 *
 * The state outlives the deferred when it must: it is freed once settled and
 * every libuv request that points into it (getaddrinfo, connect) and the
 * soon-call have come back. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "core/reactor_internal.h"
#include "eddy/endpoint.h"
#include "eddy/error.h"
#include "net/stream_internal.h"

#define container_of(ptr, type, member)                                        \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define CONNECT_TIMEOUT_DEFAULT_MS 30000u

typedef struct connect_s {
  eddy_reactor_t *reactor;
  eddy_deferred_t *d; /* NULL once settled or cancelled */
  eddy_factory_t *factory;
  eddy__stream_t *attempt; /* the stream connecting now */
  struct addrinfo *res;    /* resolved addresses */
  struct addrinfo *next;   /* the next one to try */
  struct sockaddr_storage literal;
  int literal_left; /* the IP literal has not been tried yet */
  int pending;      /* getaddrinfo, connect and soon-call outstanding */
  int busy;         /* inside build_protocol or connection_made */
  int starting;     /* inside eddy_connect: failures go through the soon */
  int soon_queued;
  int gai_pending;
  int err; /* the error to deliver, or the last connect error */
  eddy_endpoint_t ep;
  char msg[320]; /* failure detail, when more is known than the code */
  eddy_timer_t timer;
  eddy__soon_t soon;
  uv_getaddrinfo_t gai;
  uv_connect_t creq;
} connect_t;

static void maybe_free(connect_t *c) {
  if (c->d != NULL || c->pending > 0 || c->busy)
    return;
  if (c->res != NULL)
    uv_freeaddrinfo(c->res);
  eddy_reactor_t *r = c->reactor;
  free(c);
  eddy__reactor_live(r, EDDY__LIVE_CONNECT, -1);
}

/* Stops every piece of work; requests still in flight come back later
 * (cancelled) and only then let the state go. */
static void abandon(connect_t *c) {
  eddy_timer_stop(&c->timer);
  if (c->soon_queued) {
    eddy__reactor_soon_cancel(c->reactor, &c->soon);
    c->soon_queued = 0;
    c->pending--;
  }
  if (c->attempt != NULL) {
    eddy__stream_discard(c->attempt);
    c->attempt = NULL;
  }
  c->next = NULL;
  c->literal_left = 0;
  /* When the lookup already runs in a worker this fails; its callback then
   * arrives with the result, which is dropped. */
  if (c->gai_pending)
    uv_cancel((uv_req_t *)&c->gai);
}

static void describe(const connect_t *c, char *buf, size_t size) {
  if (c->ep.kind == EDDY_ENDPOINT_UNIX)
    snprintf(buf, size, "unix:%s", c->ep.path);
  else if (strchr(c->ep.host, ':') != NULL)
    snprintf(buf, size, "[%s]:%u", c->ep.host, (unsigned)c->ep.port);
  else
    snprintf(buf, size, "%s:%u", c->ep.host, (unsigned)c->ep.port);
}

/* Fires the deferred with err (or with p when err is 0). */
static void settle(connect_t *c, int err, eddy_protocol_t *p) {
  eddy_deferred_t *d = c->d;
  char msg[EDDY_ENDPOINT_HOST_MAX + EDDY_ENDPOINT_PATH_MAX + 128];
  if (err < 0) {
    char where[EDDY_ENDPOINT_HOST_MAX + EDDY_ENDPOINT_PATH_MAX + 16];
    describe(c, where, sizeof(where));
    if (c->msg[0] != '\0')
      snprintf(msg, sizeof(msg), "%s", c->msg);
    else
      snprintf(msg, sizeof(msg), "connect to %s: %s", where,
               eddy_strerror(err));
  }
  c->d = NULL;
  abandon(c);
  maybe_free(c); /* c is gone from here on */
  if (err < 0)
    eddy_deferred_errback(d, err, "%s", msg);
  else
    eddy_deferred_callback(d, p, NULL);
}

static void soon_cb(void *arg) {
  connect_t *c = arg;
  c->soon_queued = 0;
  c->pending--;
  if (c->d != NULL)
    settle(c, c->err, NULL);
  else
    maybe_free(c);
}

/* Fails now, or on the next iteration while still inside eddy_connect. */
static void fail(connect_t *c, int err) {
  if (!c->starting) {
    settle(c, err, NULL);
    return;
  }
  c->err = err;
  if (!c->soon_queued) {
    c->soon_queued = 1;
    c->pending++;
    eddy__reactor_soon(c->reactor, &c->soon, soon_cb, c);
  }
}

static void connected(connect_t *c, eddy__stream_t *s) {
  eddy_transport_t *t = eddy__stream_transport(s);
  eddy_factory_t *f = c->factory;
  eddy_addr_t peer;
  int known = eddy_transport_get_peer(t, &peer) == 0;
  eddy_timer_stop(&c->timer); /* connected: the timeout is over */
  /* Either call may cancel the deferred (the canceller then only marks it);
   * the connection is aborted below, once the protocol is in place. */
  c->busy = 1;
  eddy_protocol_t *p = f->build_protocol(f, known ? &peer : NULL);
  if (p == NULL) {
    c->busy = 0;
    eddy__stream_discard(s);
    if (c->d == NULL) {
      maybe_free(c);
      return;
    }
    snprintf(c->msg, sizeof(c->msg), "the factory refused the connection");
    settle(c, UV_ECONNABORTED, NULL);
    return;
  }
  p->factory = f;
  eddy__stream_start(s, p);
  c->busy = 0;
  if (c->d == NULL) {
    eddy_transport_abort_connection(t);
    maybe_free(c);
    return;
  }
  settle(c, 0, p);
}

static void try_next(connect_t *c);

static void connect_cb(uv_connect_t *req, int status) {
  connect_t *c = container_of(req, connect_t, creq);
  eddy__stream_t *s = c->attempt;
  c->attempt = NULL;
  c->pending--;
  if (c->d == NULL) { /* abandoned: the stream is already closing */
    if (s != NULL)
      eddy__stream_discard(s);
    maybe_free(c);
    return;
  }
  if (status < 0) {
    c->err = status;
    eddy__stream_discard(s);
    try_next(c);
    return;
  }
  connected(c, s);
}

static int start_attempt(connect_t *c, const struct sockaddr *sa) {
  int is_unix = c->ep.kind == EDDY_ENDPOINT_UNIX;
  eddy__stream_t *s;
  int rc = eddy__stream_new(c->reactor, !is_unix, &s);
  if (rc < 0)
    return rc;
  uv_stream_t *h = eddy__stream_handle(s);
  if (is_unix)
    uv_pipe_connect(&c->creq, (uv_pipe_t *)h, c->ep.path, connect_cb);
  else
    rc = uv_tcp_connect(&c->creq, (uv_tcp_t *)h, sa, connect_cb);
  if (rc < 0) {
    eddy__stream_discard(s);
    return rc;
  }
  c->attempt = s;
  c->pending++;
  return 0;
}

/* Tries the remaining addresses until one attempt is under way. */
static void try_next(connect_t *c) {
  int rc;
  if (c->literal_left) {
    c->literal_left = 0;
    rc = start_attempt(c, (const struct sockaddr *)&c->literal);
    if (rc == 0)
      return;
    c->err = rc;
  }
  while (c->next != NULL) {
    struct addrinfo *ai = c->next;
    c->next = ai->ai_next;
    rc = start_attempt(c, ai->ai_addr);
    if (rc == 0)
      return;
    c->err = rc;
  }
  fail(c, c->err < 0 ? c->err : UV_EADDRNOTAVAIL);
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  connect_t *c = container_of(req, connect_t, gai);
  c->gai_pending = 0;
  c->pending--;
  if (c->d == NULL) {
    uv_freeaddrinfo(res);
    maybe_free(c);
    return;
  }
  if (status < 0) {
    settle(c, status, NULL);
    return;
  }
  c->res = res;
  c->next = res;
  try_next(c);
}

static void timer_cb(eddy_timer_t *t) {
  settle(t->data, UV_ETIMEDOUT, NULL);
}

static void canceller(eddy_deferred_t *d, void *arg) {
  (void)d;
  connect_t *c = arg;
  /* The deferred fails with UV_ECANCELED when this returns. */
  c->d = NULL;
  abandon(c);
  maybe_free(c);
}

static int validate(const eddy_endpoint_t *ep) {
  switch (ep->kind) {
  case EDDY_ENDPOINT_UNIX: {
    size_t len = strnlen(ep->path, sizeof(ep->path));
    if (len == 0)
      return UV_EINVAL;
    if (len >= sizeof(((struct sockaddr_un *)0)->sun_path))
      return UV_ENAMETOOLONG; /* libuv would truncate it */
    return 0;
  }
  case EDDY_ENDPOINT_TCP:
  case EDDY_ENDPOINT_TCP6:
    if (ep->host[0] == '\0' ||
        strnlen(ep->host, sizeof(ep->host)) == sizeof(ep->host) ||
        ep->port == 0)
      return UV_EINVAL;
    return 0;
  }
  return UV_EINVAL;
}

/* Starts the work; anything that fails here is delivered by the soon. */
static void start(connect_t *c) {
  const eddy_endpoint_t *ep = &c->ep;
  uint64_t timeout =
      ep->timeout_ms ? ep->timeout_ms : CONNECT_TIMEOUT_DEFAULT_MS;
  int rc = eddy_timer_start(&c->timer, timeout, timer_cb);
  if (rc < 0) {
    fail(c, rc);
    return;
  }
  if (ep->kind == EDDY_ENDPOINT_UNIX) {
    c->literal_left = 1; /* the path stands in for the address */
    try_next(c);
    return;
  }
  struct sockaddr_in *sin = (struct sockaddr_in *)&c->literal;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&c->literal;
  if ((ep->kind == EDDY_ENDPOINT_TCP &&
       uv_ip4_addr(ep->host, ep->port, sin) == 0) ||
      uv_ip6_addr(ep->host, ep->port, sin6) == 0) {
    c->literal_left = 1; /* no lookup needed */
    try_next(c);
    return;
  }
  struct addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = ep->kind == EDDY_ENDPOINT_TCP6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_NUMERICSERV;
  char port[8];
  snprintf(port, sizeof(port), "%u", (unsigned)ep->port);
  rc = uv_getaddrinfo(eddy_reactor_loop(c->reactor), &c->gai, gai_cb, ep->host,
                      port, &hints);
  if (rc < 0) {
    fail(c, rc);
    return;
  }
  c->gai_pending = 1;
  c->pending++;
}

static connect_t *connect_new(eddy_reactor_t *r, eddy_factory_t *f) {
  connect_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  c->d = eddy_deferred_new_cancellable(r, canceller, c);
  if (c->d == NULL) {
    free(c);
    return NULL;
  }
  c->reactor = r;
  c->factory = f;
  c->starting = 1;
  eddy_timer_init(r, &c->timer);
  c->timer.data = c;
  eddy__reactor_live(r, EDDY__LIVE_CONNECT, 1);
  return c;
}

eddy_deferred_t *eddy_connect_endpoint(eddy_reactor_t *r,
                                       const eddy_endpoint_t *ep,
                                       eddy_factory_t *f) {
  if (r == NULL)
    return NULL;
  connect_t *c = connect_new(r, f);
  if (c == NULL)
    return NULL;
  eddy_deferred_t *d = c->d;
  int rc = UV_EINVAL;
  if (ep != NULL && f != NULL && f->build_protocol != NULL) {
    c->ep = *ep;
    rc = validate(ep);
  }
  if (rc < 0)
    fail(c, rc);
  else
    start(c);
  c->starting = 0;
  return d;
}

eddy_deferred_t *eddy_connect(eddy_reactor_t *r, const char *endpoint,
                              eddy_factory_t *f) {
  if (r == NULL)
    return NULL;
  eddy_endpoint_t ep;
  eddy_endpoint_error_t err;
  int rc = endpoint != NULL ? eddy_endpoint_parse_client(endpoint, &ep, &err)
                            : UV_EINVAL;
  if (rc == 0)
    return eddy_connect_endpoint(r, &ep, f);
  connect_t *c = connect_new(r, f);
  if (c == NULL)
    return NULL;
  eddy_deferred_t *d = c->d;
  if (endpoint != NULL)
    snprintf(c->msg, sizeof(c->msg), "bad endpoint \"%.60s\" at %zu: %s",
             endpoint, err.pos, err.message);
  fail(c, rc);
  c->starting = 0;
  return d;
}
