/* proxy — a TCP (or Unix socket) proxy with backpressure and half-close.
 *
 *   proxy [-v] LISTEN_ENDPOINT TARGET_ENDPOINT
 *   proxy tcp:7702 tcp:127.0.0.1:7700      (in front of the echo example)
 *
 * Every accepted connection ("front") gets its own connection to the target
 * ("back"); bytes are copied both ways.
 *
 * What it shows:
 *  - two protocols joined into one object, with one factory per pair so the
 *    back protocol is wired to its front from the moment it is built;
 *  - not reading from the client until the target is connected;
 *  - backpressure both ways: when one side's write queue passes its high
 *    water mark (pause_writing), the proxy stops reading from the OTHER
 *    side until the queue drains (resume_writing). A fast sender and a slow
 *    receiver therefore cost at most about one write queue of memory;
 *  - half-close: an EOF from one side becomes a shutdown of writing on the
 *    other, and the connection stays open for the answer; once both
 *    directions have ended, both connections close;
 *  - cancelling a pending connect when the client leaves first.
 */
#include <eddy/eddy.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define MAX_PAIRS 5000 /* two descriptors each */
#define GRACE_MS 3000

typedef struct proxy_s proxy_t;
typedef struct pair_s pair_t;

typedef struct side_s {
  eddy_protocol_t protocol; /* first: a side_t * is an eddy_protocol_t * */
  pair_t *pair;
  struct side_s *other;
  const char *name; /* "front" or "back", for the log */
  int eof;          /* this side's peer will send no more */
  int lost;         /* connection_lost has begun */
  int write_paused; /* our write queue is full: the other side must wait */
  int reading_paused;
} side_t;

struct pair_s {
  proxy_t *proxy;
  side_t front; /* accepted from a client */
  side_t back;  /* connected to the target */
  eddy_factory_t back_factory;
  eddy_deferred_t *connecting; /* the back's connect, until it fires */
  int refs;                    /* the front, the back, the pending connect */
  pair_t *prev, *next;
};

struct proxy_s {
  eddy_reactor_t *reactor;
  eddy_factory_t front_factory;
  eddy_listener_t *listener;
  eddy_endpoint_t target;
  pair_t *pairs;
  size_t npairs;
  int stopping;
  eddy_timer_t grace;
};

static void pair_release(pair_t *pr) {
  if (--pr->refs > 0)
    return;
  proxy_t *px = pr->proxy;
  if (pr->prev != NULL)
    pr->prev->next = pr->next;
  else
    px->pairs = pr->next;
  if (pr->next != NULL)
    pr->next->prev = pr->prev;
  px->npairs--;
  free(pr);
  if (px->stopping && px->npairs == 0)
    eddy_timer_stop(&px->grace);
}

/* A side reads only when there is somewhere to put the bytes: the other side
 * is connected and its write queue is not over the high-water mark. */
static void update_reading(side_t *s) {
  eddy_transport_t *t = s->protocol.transport;
  if (t == NULL || eddy_transport_is_closing(t))
    return;
  int want = !s->eof && s->other->protocol.transport != NULL &&
             !s->other->write_paused;
  if (want && s->reading_paused) {
    s->reading_paused = 0;
    eddy_transport_resume_reading(t);
  } else if (!want && !s->reading_paused) {
    s->reading_paused = 1;
    eddy_transport_pause_reading(t);
  }
}

/* ---- Both sides share these callbacks ----------------------------------- */

static void side_data_received(eddy_protocol_t *p, const char *data,
                               size_t len) {
  side_t *s = (side_t *)p;
  if (s->other->lost)
    return; /* the other side is gone and this one is already closing */
  eddy_transport_t *to = s->other->protocol.transport;
  if (to == NULL) {
    /* Cannot happen while reading follows update_reading; if it did, the
     * bytes would have nowhere to go, so say so and give up the pair. */
    eddy_log(EDDY_LOG_ERROR, "proxy.no_peer", "side=%s bytes=%zu", s->name,
             len);
    eddy_transport_abort_connection(p->transport);
    return;
  }
  eddy_transport_write(to, data, len);
}

static void side_pause_writing(eddy_protocol_t *p) {
  side_t *s = (side_t *)p;
  s->write_paused = 1;
  update_reading(s->other);
}

static void side_resume_writing(eddy_protocol_t *p) {
  side_t *s = (side_t *)p;
  s->write_paused = 0;
  update_reading(s->other);
}

static int side_eof_received(eddy_protocol_t *p) {
  side_t *s = (side_t *)p;
  s->eof = 1;
  eddy_transport_t *to = s->other->protocol.transport;
  if (to == NULL)
    return 0; /* nobody left to tell: close */
  if (s->other->eof) {
    /* Both directions are finished: flush and close both. */
    eddy_transport_lose_connection(to);
    return 0;
  }
  /* Pass the EOF on after the bytes already queued, and keep this
   * connection open so the other side's answer can still reach it. */
  eddy_transport_shutdown_write(to);
  return 1;
}

static void side_connection_lost(eddy_protocol_t *p, int reason) {
  side_t *s = (side_t *)p;
  s->lost = 1;
  if (reason != 0)
    eddy_log(EDDY_LOG_DEBUG, "proxy.lost", "side=%s error=%s", s->name,
             eddy_err_name(reason));
  pair_t *pr = s->pair;
  /* A client that leaves while the target is still being dialled. */
  if (s == &pr->front && pr->connecting != NULL)
    eddy_deferred_cancel(pr->connecting);
  eddy_transport_t *to = s->other->protocol.transport;
  if (to != NULL && !s->other->lost) {
    /* A clean close lets the other side flush what it owes; a broken one
     * is passed on as broken. */
    if (reason == 0)
      eddy_transport_lose_connection(to);
    else
      eddy_transport_abort_connection(to);
  }
}

static void side_destroy(eddy_protocol_t *p) {
  pair_release(((side_t *)p)->pair);
}

/* ---- The front: accepted connections ------------------------------------ */

static void front_connection_made(eddy_protocol_t *p);

static const eddy_protocol_ops_t front_ops = {
    .connection_made = front_connection_made,
    .data_received = side_data_received,
    .eof_received = side_eof_received,
    .connection_lost = side_connection_lost,
    .pause_writing = side_pause_writing,
    .resume_writing = side_resume_writing,
    .destroy = side_destroy,
};

static const eddy_protocol_ops_t back_ops = {
    .data_received = side_data_received,
    .eof_received = side_eof_received,
    .connection_lost = side_connection_lost,
    .pause_writing = side_pause_writing,
    .resume_writing = side_resume_writing,
    .destroy = side_destroy,
};

/* The back protocol lives inside the pair: "building" it only counts it. */
static eddy_protocol_t *build_back(eddy_factory_t *f, const eddy_addr_t *peer) {
  pair_t *pr = f->data;
  if (pr->front.lost)
    return NULL; /* the client already left */
  pr->refs++;
  return &pr->back.protocol;
}

static void back_connected(eddy_result_t *res, void *arg) {
  pair_t *pr = arg;
  eddy_deferred_unref(pr->connecting);
  pr->connecting = NULL;
  if (pr->front.lost) {
    /* The client left while we were connecting. */
    eddy_transport_lose_connection(pr->back.protocol.transport);
  } else {
    eddy_transport_set_nodelay(pr->back.protocol.transport, 1);
    update_reading(&pr->front); /* the client may talk now */
  }
  pair_release(pr);
}

static void back_failed(eddy_result_t *res, void *arg) {
  pair_t *pr = arg;
  eddy_deferred_unref(pr->connecting);
  pr->connecting = NULL;
  if (res->err != UV_ECANCELED) {
    char msg[200];
    eddy_log(EDDY_LOG_WARN, "proxy.connect_failed", "error=%s message=%s",
             eddy_err_name(res->err),
             eddy_log_quote(msg, sizeof(msg), eddy_result_message(res)));
  }
  eddy_result_recover(res);
  if (!pr->front.lost && pr->front.protocol.transport != NULL)
    eddy_transport_lose_connection(pr->front.protocol.transport);
  pair_release(pr);
}

static void front_connection_made(eddy_protocol_t *p) {
  pair_t *pr = ((side_t *)p)->pair;
  proxy_t *px = pr->proxy;
  eddy_transport_set_nodelay(p->transport, 1);
  update_reading(&pr->front); /* pauses: the back is not there yet */
  eddy_deferred_t *d =
      eddy_connect_endpoint(px->reactor, &px->target, &pr->back_factory);
  if (d == NULL) {
    eddy_transport_abort_connection(p->transport);
    return;
  }
  /* Our own reference keeps d valid for a cancel from connection_lost. */
  pr->connecting = eddy_deferred_ref(d);
  pr->refs++;
  eddy_deferred_add_callbacks(d, back_connected, back_failed, pr);
}

static eddy_protocol_t *build_front(eddy_factory_t *f,
                                    const eddy_addr_t *peer) {
  proxy_t *px = f->data;
  if (px->stopping || px->npairs >= MAX_PAIRS)
    return NULL;
  pair_t *pr = calloc(1, sizeof(*pr));
  if (pr == NULL)
    return NULL;
  pr->proxy = px;
  pr->refs = 1; /* the front */
  eddy_protocol_init(&pr->front.protocol, &front_ops);
  eddy_protocol_init(&pr->back.protocol, &back_ops);
  pr->front.pair = pr->back.pair = pr;
  pr->front.other = &pr->back;
  pr->back.other = &pr->front;
  pr->front.name = "front";
  pr->back.name = "back";
  pr->back_factory.build_protocol = build_back;
  pr->back_factory.data = pr;
  pr->next = px->pairs;
  if (px->pairs != NULL)
    px->pairs->prev = pr;
  px->pairs = pr;
  px->npairs++;
  return &pr->front.protocol;
}

/* ---- Stopping (see echo.c) ---------------------------------------------- */

static void close_all(proxy_t *px, int abort) {
  for (pair_t *pr = px->pairs; pr != NULL; pr = pr->next) {
    side_t *sides[2] = {&pr->front, &pr->back};
    for (int i = 0; i < 2; i++) {
      eddy_transport_t *t = sides[i]->protocol.transport;
      if (t == NULL)
        continue;
      if (abort)
        eddy_transport_abort_connection(t);
      else
        eddy_transport_lose_connection(t);
    }
  }
}

static void grace_expired(eddy_timer_t *t) {
  close_all(t->data, 1);
}

static void stop_proxy(void *arg) {
  proxy_t *px = arg;
  if (px->stopping)
    return;
  px->stopping = 1;
  eddy_log(EDDY_LOG_INFO, "stopping", "pairs=%zu", px->npairs);
  eddy_listener_close(px->listener, NULL, NULL);
  px->listener = NULL;
  close_all(px, 0); /* a pending connect is cancelled when its front goes */
  if (px->npairs > 0)
    eddy_timer_start(&px->grace, GRACE_MS, grace_expired);
}

/* ---- Start-up ----------------------------------------------------------- */

static void usage(FILE *out) {
  fprintf(out,
          "usage: proxy [-v] LISTEN_ENDPOINT TARGET_ENDPOINT\n"
          "Forwards every connection made to LISTEN_ENDPOINT to "
          "TARGET_ENDPOINT.\n\n"
          "  LISTEN_ENDPOINT  tcp:PORT[:interface=ADDR], tcp6:PORT, unix:PATH\n"
          "                   (tcp:0 picks a free port: see port= in the log)\n"
          "  TARGET_ENDPOINT  tcp:HOST:PORT, tcp6:HOST:PORT, unix:PATH\n"
          "  -v, --verbose    debug logging\n"
          "  -h, --help       show this help\n");
}

static int bad_endpoint(const char *text, const eddy_endpoint_error_t *e) {
  fprintf(stderr, "proxy: bad endpoint: %s\n  %s\n  %*s^\n", e->message, text,
          (int)e->pos, "");
  return 2;
}

int main(int argc, char **argv) {
  /* libuv writes with write(2): a peer that resets the connection while we
   * write would kill the process with SIGPIPE. Ignored, it is an EPIPE error
   * on that one connection. */
  signal(SIGPIPE, SIG_IGN);
  const char *args[2];
  int nargs = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(argv[i], "-v") == 0 ||
               strcmp(argv[i], "--verbose") == 0) {
      eddy_log_set_level(EDDY_LOG_DEBUG);
    } else if (argv[i][0] == '-' || nargs == 2) {
      usage(stderr);
      return 2;
    } else {
      args[nargs++] = argv[i];
    }
  }
  if (nargs != 2) {
    usage(stderr);
    return 2;
  }

  proxy_t px = {0};
  eddy_endpoint_t listen_ep;
  eddy_endpoint_error_t perr;
  if (eddy_endpoint_parse_server(args[0], &listen_ep, &perr) != 0)
    return bad_endpoint(args[0], &perr);
  if (eddy_endpoint_parse_client(args[1], &px.target, &perr) != 0)
    return bad_endpoint(args[1], &perr);

  int rc = eddy_reactor_new(&px.reactor, 0);
  if (rc != 0) {
    fprintf(stderr, "proxy: %s\n", eddy_strerror(rc));
    return 1;
  }
  eddy_reactor_t *r = px.reactor;
  px.front_factory.build_protocol = build_front;
  px.front_factory.data = &px;
  eddy_timer_init(r, &px.grace);
  px.grace.data = &px;

  rc = eddy_listen_endpoint(r, &listen_ep, &px.front_factory, &px.listener);
  if (rc == 0)
    rc = eddy_stop_on_signals(r, stop_proxy, &px);
  if (rc != 0) {
    fprintf(stderr, "proxy: cannot listen on %s: %s\n", args[0],
            eddy_strerror(rc));
    if (px.listener != NULL)
      eddy_listener_close(px.listener, NULL, NULL);
    eddy_reactor_run(r);
    eddy_reactor_free(r);
    return 1;
  }

  eddy_addr_t a;
  char where[160], qwhere[200], qlisten[300], qtarget[300];
  if (eddy_listener_address(px.listener, &a) != 0)
    a.len = 0;
  eddy_addr_format(&a, where, sizeof(where));
  eddy_log(EDDY_LOG_INFO, "ready", "endpoint=%s address=%s port=%d target=%s",
           eddy_log_quote(qlisten, sizeof(qlisten), args[0]),
           eddy_log_quote(qwhere, sizeof(qwhere), where),
           eddy_listener_port(px.listener),
           eddy_log_quote(qtarget, sizeof(qtarget), args[1]));
  if (a.len != 0 && a.ss.ss_family == AF_UNIX)
    printf("talk to it: nc -U %s\n", ((struct sockaddr_un *)&a.ss)->sun_path);
  else
    printf("talk to it: nc %s %d\n",
           a.len != 0 && a.ss.ss_family == AF_INET6 ? "::1" : "127.0.0.1",
           eddy_listener_port(px.listener));
  fflush(stdout);

  rc = eddy_reactor_run(r);
  int left = eddy_reactor_free(r);
  eddy_log(EDDY_LOG_INFO, "stopped", "clean=%s", left == 0 ? "yes" : "no");
  return rc == 0 && left == 0 ? 0 : 1;
}
