/* loopback.c — two protocols connected in memory.
 *
 * Each side queues what its protocol writes; one soon-call per loop
 * iteration (or eddy_loopback_pump) moves the queues across, delivers EOF,
 * and finally closes both sides. Moving bytes and closing happen only there,
 * never inside a transport call, so no protocol is ever called back from
 * inside its own call.
 *
 * A pass over the pair delivers what was queued when it started plus what
 * the receivers write back only on the next pass: two protocols answering
 * each other advance one exchange per loop iteration instead of starving the
 * loop. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/reactor_internal.h"
#include "eddy/error.h"
#include "eddy/testing.h"
#include "net/transport_internal.h"

#define CHUNK_MAX (64u * 1024u)
#define PUMP_ROUNDS_MAX 100000

typedef struct side_s {
  eddy_transport_t base; /* first: ops receive &base */
  eddy_loopback_t *pair;
  eddy_protocol_t *proto; /* kept for connection_made */
  eddy_buf_t outq;        /* written here, not yet delivered to the peer */
  int reading_paused;
  int write_shut;
  int eof_sent; /* the peer was told EOF */
  int lost;
} side_t;

enum { OPEN = 0, FLUSHING, CLOSE_NOW };

struct eddy_loopback_s {
  eddy_reactor_t *reactor;
  side_t side[2]; /* 0 = server, 1 = client */
  eddy__soon_t soon;
  int made;
  int state;  /* OPEN, FLUSHING (a lose waits for its queue), CLOSE_NOW */
  int closer; /* the side that closed first: it hears first */
  int reason[2];
  int busy; /* inside a pass or the final close */
};

static side_t *side_of(eddy_transport_t *t) {
  return (side_t *)t;
}

static side_t *peer_of(side_t *s) {
  eddy_loopback_t *lp = s->pair;
  return s == &lp->side[0] ? &lp->side[1] : &lp->side[0];
}

static void schedule(eddy_loopback_t *lp);

/* ---- Closing ------------------------------------------------------------ */

static void start_lose(side_t *s) {
  eddy_loopback_t *lp = s->pair;
  s->base.closing = 1;
  if (lp->state != OPEN)
    return;
  lp->state = FLUSHING;
  lp->closer = s == &lp->side[0] ? 0 : 1;
  lp->reason[0] = lp->reason[1] = 0;
  schedule(lp);
}

static void start_abort(side_t *s) {
  eddy_loopback_t *lp = s->pair;
  side_t *peer = peer_of(s);
  if (lp->state == CLOSE_NOW)
    return;
  lp->state = CLOSE_NOW;
  lp->closer = s == &lp->side[0] ? 0 : 1;
  lp->reason[lp->closer] = UV_ECONNABORTED;
  lp->reason[1 - lp->closer] = UV_ECONNRESET;
  s->base.closing = peer->base.closing = 1;
  eddy_buf_clear(&s->outq);
  eddy_buf_clear(&peer->outq);
  schedule(lp);
}

static void free_pair(eddy_loopback_t *lp) {
  eddy__reactor_soon_cancel(lp->reactor, &lp->soon);
  for (int i = 0; i < 2; i++) {
    eddy_transport_cleanup(&lp->side[i].base);
    eddy_buf_free(&lp->side[i].outq);
  }
  free(lp);
}

/* Both sides hear connection_lost, the closer first; then the pair goes. */
static void finish(eddy_loopback_t *lp) {
  lp->side[0].base.closing = lp->side[1].base.closing = 1;
  int order[2] = {lp->closer, 1 - lp->closer};
  for (int k = 0; k < 2; k++) {
    side_t *s = &lp->side[order[k]];
    s->lost = 1;
    eddy_protocol_connection_lost(s->base.protocol, lp->reason[order[k]]);
    s->base.protocol = NULL;
    eddy__reactor_live(lp->reactor, EDDY__LIVE_TRANSPORT, -1);
  }
  free_pair(lp);
}

/* ---- Moving bytes ------------------------------------------------------- */

static int can_receive(const eddy_loopback_t *lp, const side_t *to) {
  return lp->state != CLOSE_NOW && !to->lost && !to->base.closing &&
         !to->reading_paused;
}

/* Delivers what `from` had queued when the pass began (`budget` bytes). */
static size_t deliver(eddy_loopback_t *lp, side_t *from, size_t budget) {
  side_t *to = peer_of(from);
  size_t moved = 0;
  while (moved < budget && from->outq.len > 0 && can_receive(lp, to)) {
    size_t n = budget - moved;
    if (n > from->outq.len)
      n = from->outq.len;
    if (n > CHUNK_MAX)
      n = CHUNK_MAX;
    eddy_protocol_data_received(to->base.protocol, from->outq.data, n);
    eddy_buf_consume(&from->outq, n);
    moved += n;
  }
  if (moved > 0)
    eddy_transport_check_water(&from->base);
  return moved;
}

static int deliver_eof(eddy_loopback_t *lp, side_t *from) {
  side_t *to = peer_of(from);
  if (!from->write_shut || from->eof_sent || from->outq.len > 0 ||
      !can_receive(lp, to))
    return 0;
  from->eof_sent = 1;
  if (!eddy_protocol_eof_received(to->base.protocol) ||
      (to->write_shut && to->eof_sent))
    start_lose(to);
  return 1;
}

/* One round: connection_made, bytes, EOF. Returns bytes moved; *events
 * counts the other things that happened. */
static size_t pass(eddy_loopback_t *lp, int *events) {
  size_t moved = 0;
  if (!lp->made) {
    lp->made = 1;
    (*events)++;
    eddy_protocol_connection_made(lp->side[0].proto, &lp->side[0].base);
    eddy_protocol_connection_made(lp->side[1].proto, &lp->side[1].base);
  }
  size_t budget[2] = {lp->side[0].outq.len, lp->side[1].outq.len};
  for (int i = 0; i < 2; i++)
    moved += deliver(lp, &lp->side[i], budget[i]);
  for (int i = 0; i < 2; i++)
    *events += deliver_eof(lp, &lp->side[i]);
  return moved;
}

static int ready_to_finish(const eddy_loopback_t *lp) {
  if (lp->state == CLOSE_NOW)
    return 1;
  if (lp->state != FLUSHING)
    return 0;
  /* A lose delivers its own queue first (waiting while the peer pauses);
   * the other way is no longer read. When the peer closed too, nobody reads
   * the rest: it is dropped, as the kernel would once both ends closed. */
  return lp->side[lp->closer].outq.len == 0 ||
         lp->side[1 - lp->closer].base.closing;
}

static void soon_cb(void *arg) {
  eddy_loopback_t *lp = arg;
  int events = 0;
  /* A close asked for during this pass finishes on the next one (start_*
   * scheduled it): connection_lost never shares an iteration with the call
   * that closed. */
  int was_closing = lp->state != OPEN;
  lp->busy = 1;
  pass(lp, &events);
  if (was_closing && ready_to_finish(lp)) {
    finish(lp);
    return;
  }
  lp->busy = 0;
}

static void schedule(eddy_loopback_t *lp) {
  eddy__reactor_soon(lp->reactor, &lp->soon, soon_cb, lp);
}

/* ---- Transport ops ------------------------------------------------------ */

static int queue(side_t *s, const uv_buf_t *bufs, size_t n) {
  if (s->write_shut || s->lost)
    return UV_EPIPE;
  size_t total;
  int rc = eddy__transport_fits(bufs, n, s->outq.len, &total);
  if (rc != 0)
    return rc;
  rc = eddy_buf_reserve(&s->outq, total);
  if (rc != 0)
    return rc;
  for (size_t i = 0; i < n; i++)
    eddy_buf_append(&s->outq, bufs[i].base, bufs[i].len);
  if (total > 0) {
    eddy_transport_check_water(&s->base);
    schedule(s->pair);
  }
  return 0;
}

static int lb_writev(eddy_transport_t *t, const uv_buf_t *bufs, size_t n) {
  return queue(side_of(t), bufs, n);
}

static void lb_lose(eddy_transport_t *t) {
  side_t *s = side_of(t);
  if (!s->lost)
    start_lose(s);
}

static void lb_abort(eddy_transport_t *t) {
  side_t *s = side_of(t);
  if (!s->lost)
    start_abort(s);
}

static int lb_shutdown(eddy_transport_t *t) {
  side_t *s = side_of(t);
  if (s->lost)
    return UV_ENOTCONN;
  s->write_shut = 1;
  schedule(s->pair);
  return 0;
}

static void lb_pause(eddy_transport_t *t) {
  side_of(t)->reading_paused = 1;
}

static void lb_resume(eddy_transport_t *t) {
  side_t *s = side_of(t);
  s->reading_paused = 0;
  if (!s->lost)
    schedule(s->pair);
}

static size_t lb_buffer_size(const eddy_transport_t *t) {
  return ((const side_t *)t)->outq.len;
}

/* Like the two ends of a socketpair: unnamed Unix sockets. */
static int lb_addr(const eddy_transport_t *t, eddy_addr_t *out) {
  memset(out, 0, sizeof(*out));
  out->ss.ss_family = AF_UNIX;
  out->len = sizeof(sa_family_t);
  return 0;
}

static const eddy_transport_ops_t loopback_ops = {
    .writev = lb_writev,
    .write_slice = eddy__transport_write_slice_copy,
    .lose_connection = lb_lose,
    .abort_connection = lb_abort,
    .shutdown_write = lb_shutdown,
    .pause_reading = lb_pause,
    .resume_reading = lb_resume,
    .write_buffer_size = lb_buffer_size,
    .get_host = lb_addr,
    .get_peer = lb_addr,
    .set_nodelay = NULL,   /* UV_ENOTSUP */
    .set_keepalive = NULL, /* UV_ENOTSUP */
};

/* ---- Public API --------------------------------------------------------- */

int eddy_loopback_connect(eddy_reactor_t *r, eddy_protocol_t *server,
                          eddy_protocol_t *client, eddy_loopback_t **out) {
  if (r == NULL || server == NULL || client == NULL || server == client)
    return UV_EINVAL;
  eddy_loopback_t *lp = calloc(1, sizeof(*lp));
  if (lp == NULL)
    return UV_ENOMEM;
  lp->reactor = r;
  eddy_protocol_t *protos[2] = {server, client};
  for (int i = 0; i < 2; i++) {
    side_t *s = &lp->side[i];
    eddy_transport_init(&s->base, &loopback_ops, r);
    s->base.protocol = protos[i];
    s->pair = lp;
    s->proto = protos[i];
    eddy_buf_init(&s->outq, EDDY_TRANSPORT_QUEUE_MAX);
  }
  eddy__reactor_live(r, EDDY__LIVE_TRANSPORT, 2);
  schedule(lp);
  if (out != NULL)
    *out = lp;
  return 0;
}

size_t eddy_loopback_pump(eddy_loopback_t *lp) {
  if (lp == NULL || lp->busy)
    return 0;
  size_t total = 0;
  lp->busy = 1;
  for (int round = 0; round < PUMP_ROUNDS_MAX; round++) {
    int events = 0;
    size_t moved = pass(lp, &events);
    total += moved;
    if (moved == 0 && events == 0)
      break;
  }
  lp->busy = 0;
  return total;
}
