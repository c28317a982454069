/* session.c — SockJS sessions: the table of HTTP sessions, the bounded
 * message queue, the one receiver a session may have at a time, the
 * heartbeat and disconnect-delay timers, and closing.
 *
 * A session outlives its receivers: HTTP transports reconnect for every
 * poll (and every response_limit bytes of a stream). With no receiver for
 * disconnect_delay_ms the client is taken to be gone. A closed session
 * stays in the table until that delay ends too, so that the poll that
 * follows gets the close frame again instead of opening a new session. */
#include <stdlib.h>
#include <string.h>

#include "eddy/error.h"
#include "eddy/log.h"
#include "sockjs/sockjs_internal.h"

#define INITIAL_BUCKETS 64u
/* Close frame a second receiver gets; the session keeps its first. */
#define ANOTHER_CODE 2010u
#define ANOTHER_REASON "Another connection still open"
/* The application's queue overflowed (the realtime hub uses it too). */
#define SLOW_CODE 4008u
#define INTERRUPTED_CODE 1002u
#define INTERRUPTED_REASON "Connection interrupted"
/* WebSocket close reasons are at most 123 bytes; SockJS reasons follow. */
#define MAX_REASON 123u

static void session_tick(void *arg);
static void maybe_free(eddy_sockjs_session_t *s);

/* ---- The table ----------------------------------------------------------*/

/* SipHash-2-4 keyed with the endpoint's random key: session ids come from
 * clients, and an unkeyed hash would let one fill a single chain. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                               \
  do {                                                                         \
    v0 += v1;                                                                  \
    v1 = ROTL(v1, 13);                                                         \
    v1 ^= v0;                                                                  \
    v0 = ROTL(v0, 32);                                                         \
    v2 += v3;                                                                  \
    v3 = ROTL(v3, 16);                                                         \
    v3 ^= v2;                                                                  \
    v0 += v3;                                                                  \
    v3 = ROTL(v3, 21);                                                         \
    v3 ^= v0;                                                                  \
    v2 += v1;                                                                  \
    v1 = ROTL(v1, 17);                                                         \
    v1 ^= v2;                                                                  \
    v2 = ROTL(v2, 32);                                                         \
  } while (0)

static uint64_t siphash(const uint64_t key[2], const unsigned char *p,
                        size_t n) {
  uint64_t v0 = key[0] ^ 0x736f6d6570736575ull;
  uint64_t v1 = key[1] ^ 0x646f72616e646f6dull;
  uint64_t v2 = key[0] ^ 0x6c7967656e657261ull;
  uint64_t v3 = key[1] ^ 0x7465646279746573ull;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t m = 0;
    for (int k = 7; k >= 0; k--)
      m = (m << 8) | p[i + (size_t)k];
    v3 ^= m;
    SIPROUND;
    SIPROUND;
    v0 ^= m;
  }
  uint64_t b = (uint64_t)n << 56;
  for (size_t k = 0; i + k < n; k++)
    b |= (uint64_t)p[i + k] << (8 * k);
  v3 ^= b;
  SIPROUND;
  SIPROUND;
  v0 ^= b;
  v2 ^= 0xff;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}

static size_t hash_id(const eddy_sockjs_t *sj, const char *id) {
  return (size_t)siphash(sj->hash_key, (const unsigned char *)id, strlen(id));
}

eddy_sockjs_session_t *eddy__sj_find(eddy_sockjs_t *sj, const char *id) {
  if (sj->buckets == NULL)
    return NULL;
  eddy_sockjs_session_t *s = sj->buckets[hash_id(sj, id) & (sj->nbuckets - 1)];
  while (s != NULL && strcmp(s->id, id) != 0)
    s = s->hnext;
  return s;
}

static int table_grow(eddy_sockjs_t *sj) {
  size_t n = sj->nbuckets ? sj->nbuckets * 2 : INITIAL_BUCKETS;
  eddy_sockjs_session_t **b = calloc(n, sizeof(*b));
  if (b == NULL)
    return UV_ENOMEM;
  for (size_t i = 0; i < sj->nbuckets; i++) {
    eddy_sockjs_session_t *s = sj->buckets[i];
    while (s != NULL) {
      eddy_sockjs_session_t *next = s->hnext;
      size_t k = hash_id(sj, s->id) & (n - 1);
      s->hnext = b[k];
      b[k] = s;
      s = next;
    }
  }
  free(sj->buckets);
  sj->buckets = b;
  sj->nbuckets = n;
  return 0;
}

static int table_add(eddy_sockjs_t *sj, eddy_sockjs_session_t *s) {
  if (sj->nhashed >= sj->nbuckets) {
    int rc = table_grow(sj);
    if (rc != 0 && sj->buckets == NULL)
      return rc; /* a full table only gets longer chains */
  }
  size_t k = hash_id(sj, s->id) & (sj->nbuckets - 1);
  s->hnext = sj->buckets[k];
  sj->buckets[k] = s;
  s->in_table = 1;
  sj->nhashed++;
  return 0;
}

static void table_remove(eddy_sockjs_session_t *s) {
  if (!s->in_table)
    return;
  eddy_sockjs_t *sj = s->sj;
  eddy_sockjs_session_t **pp =
      &sj->buckets[hash_id(sj, s->id) & (sj->nbuckets - 1)];
  while (*pp != s)
    pp = &(*pp)->hnext;
  *pp = s->hnext;
  s->hnext = NULL;
  s->in_table = 0;
  sj->nhashed--;
}

/* ---- Life ---------------------------------------------------------------*/

static void on_disconnect(eddy_timer_t *t);
static void on_heartbeat(eddy_timer_t *t);

eddy_sockjs_session_t *eddy__sj_session_new(eddy_sockjs_t *sj, const char *id,
                                            const char *transport,
                                            eddy_http_request_t *req) {
  if (sj->nsessions >= sj->max_sessions)
    return NULL;
  eddy_sockjs_session_t *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return NULL;
  if (id != NULL && (s->id = strdup(id)) == NULL) {
    free(s);
    return NULL;
  }
  s->sj = sj;
  s->state = EDDY__SJ_CONNECTING;
  s->transport = transport;
  eddy_buf_init(&s->queue, sj->max_queue);
  eddy_buf_init(&s->close_frame, 1024);
  eddy_timer_init(sj->reactor, &s->disconnect);
  eddy_timer_init(sj->reactor, &s->heartbeat);
  s->disconnect.data = s;
  s->heartbeat.data = s;
  s->has_peer = req != NULL && eddy_http_peer(req, &s->peer) == 0;
  if (id != NULL && table_add(sj, s) != 0) {
    free(s->id);
    free(s);
    return NULL;
  }
  s->next = sj->sessions;
  if (sj->sessions != NULL)
    sj->sessions->prev = s;
  sj->sessions = s;
  sj->nsessions++;
  /* A session nobody ever polls again must not live for ever. */
  if (id != NULL)
    eddy_timer_start(&s->disconnect, sj->disconnect_delay_ms, on_disconnect);
  return s;
}

static void session_free(eddy_sockjs_session_t *s) {
  eddy_sockjs_t *sj = s->sj;
  table_remove(s);
  eddy_timer_stop(&s->disconnect);
  eddy_timer_stop(&s->heartbeat);
  eddy__reactor_soon_cancel(sj->reactor, &s->soon);
  if (s->prev != NULL)
    s->prev->next = s->next;
  else
    sj->sessions = s->next;
  if (s->next != NULL)
    s->next->prev = s->prev;
  sj->nsessions--;
  eddy_buf_free(&s->queue);
  eddy_buf_free(&s->close_frame);
  free(s->close_reason);
  free(s->id);
  free(s);
  eddy__sj_maybe_finish_close(sj);
}

void eddy__sj_session_discard(eddy_sockjs_session_t *s) {
  session_free(s);
}

/* Frees s once nothing refers to it any more: the application was told
 * (or never knew it), no receiver, no WebSocket, out of the table. */
static void maybe_free(eddy_sockjs_session_t *s) {
  if ((s->opened && !s->close_delivered) || s->close_owed || s->recv != NULL ||
      s->ws_alive || s->in_table)
    return;
  session_free(s);
}

static void deliver_close(eddy_sockjs_session_t *s, unsigned code,
                          const char *reason) {
  s->close_owed = 0;
  if (!s->opened || s->close_delivered)
    return;
  s->close_delivered = 1;
  eddy_sockjs_t *sj = s->sj;
  if (sj->stats.sessions > 0)
    sj->stats.sessions--;
  if (sj->h.on_close != NULL)
    sj->h.on_close(s, code, reason, sj->arg);
}

static void schedule(eddy_sockjs_session_t *s) {
  eddy__reactor_soon(s->sj->reactor, &s->soon, session_tick, s);
}

static void session_tick(void *arg) {
  eddy_sockjs_session_t *s = arg;
  if (s->flush_wanted) {
    s->flush_wanted = 0;
    eddy__sj_flush(s);
  }
  if (s->close_owed)
    deliver_close(s, s->close_code,
                  s->close_reason != NULL ? s->close_reason : "");
  maybe_free(s);
}

/* The client is gone (no receiver for disconnect_delay, or its receiver
 * broke): the session ends at once. */
static void session_lost(eddy_sockjs_session_t *s) {
  int was_open = s->state == EDDY__SJ_OPEN || s->state == EDDY__SJ_CONNECTING;
  s->state = EDDY__SJ_CLOSED;
  table_remove(s);
  eddy_timer_stop(&s->disconnect);
  eddy_timer_stop(&s->heartbeat);
  if (was_open)
    deliver_close(s, INTERRUPTED_CODE, INTERRUPTED_REASON);
  else if (s->close_owed)
    deliver_close(s, s->close_code,
                  s->close_reason != NULL ? s->close_reason : "");
  maybe_free(s);
}

static void on_disconnect(eddy_timer_t *t) {
  eddy_sockjs_session_t *s = t->data;
  if (s->recv != NULL)
    return; /* a receiver came back in the meantime */
  session_lost(s);
}

/* ---- Receivers ----------------------------------------------------------*/

/* Writes one frame to rv in its transport's wrapping. 1: rv ended. */
static int recv_frame(eddy__sj_recv_t *rv, const char *frame, size_t len) {
  switch (rv->kind) {
  case EDDY__SJ_XHR:
  case EDDY__SJ_JSONP:
    return eddy__sj_poll_frame(rv, frame, len);
  case EDDY__SJ_XHR_STREAMING:
  case EDDY__SJ_EVENTSOURCE:
  case EDDY__SJ_HTMLFILE:
    return eddy__sj_stream_frame(rv, frame, len);
  case EDDY__SJ_WEBSOCKET:
  case EDDY__SJ_RAW:
    return eddy__sj_ws_frame(rv, frame, len);
  default:
    return 0;
  }
}

/* A frame on the session's receiver; the heartbeat counts silence from
 * the last frame. */
static void send_frame(eddy_sockjs_session_t *s, const char *frame,
                       size_t len) {
  eddy__sj_recv_t *rv = s->recv;
  if (rv == NULL)
    return;
  if (recv_frame(rv, frame, len) == 0 && s->recv == rv && !s->raw)
    eddy_timer_start(&s->heartbeat, s->sj->heartbeat_ms, on_heartbeat);
}

static void on_heartbeat(eddy_timer_t *t) {
  eddy_sockjs_session_t *s = t->data;
  if (s->recv != NULL && s->state == EDDY__SJ_OPEN)
    send_frame(s, "h", 1);
}

static void http_recv_lost(eddy_http_request_t *req, int reason, void *arg) {
  (void)req;
  (void)reason;
  eddy__sj_recv_t *rv = arg;
  eddy__sj_detach(rv, 1);
  eddy__sj_http_recv_end(rv);
}

eddy__sj_recv_t *eddy__sj_http_recv_new(eddy_http_request_t *req,
                                        eddy__sj_kind_t kind, char *callback) {
  eddy__sj_recv_t *rv = calloc(1, sizeof(*rv));
  if (rv == NULL) {
    free(callback);
    eddy_http_respond_error(req, 503, "out of memory");
    return NULL;
  }
  rv->kind = kind;
  rv->req = req;
  rv->callback = callback;
  eddy_http_on_close(req, http_recv_lost, rv);
  /* A browser that drops a poll or a stream closes its side: that ends
   * the receiver now (the session closes with 1002), not at the next
   * heartbeat. */
  eddy_http_close_on_eof(req);
  return rv;
}

void eddy__sj_http_recv_end(eddy__sj_recv_t *rv) {
  if (rv->req != NULL) {
    eddy_http_on_close(rv->req, NULL, NULL);
    eddy_http_on_writable(rv->req, NULL, NULL);
    eddy_http_finish(rv->req);
    rv->req = NULL;
  }
  free(rv->callback);
  free(rv);
}

void eddy__sj_detach(eddy__sj_recv_t *rv, int interrupted) {
  eddy_sockjs_session_t *s = rv->session;
  rv->session = NULL;
  if (s == NULL || s->recv != rv)
    return;
  s->recv = NULL;
  eddy_timer_stop(&s->heartbeat);
  if (interrupted && s->id != NULL) {
    /* The client dropped a receiving connection: messages may be lost,
     * so the session ends (the protocol's "Connection interrupted"). */
    session_lost(s);
    return;
  }
  if (s->id != NULL && s->state != EDDY__SJ_CLOSED)
    eddy_timer_start(&s->disconnect, s->sj->disconnect_delay_ms, on_disconnect);
}

/* Answers a receiver that cannot be attached with one close frame. */
static void refuse(eddy__sj_recv_t *rv, const char *frame, size_t len) {
  if (recv_frame(rv, frame, len) == 0) {
    if (rv->req != NULL)
      eddy__sj_http_recv_end(rv);
    else if (rv->ws != NULL)
      eddy_ws_close(rv->ws, 1000, NULL);
  }
}

void eddy__sj_register(eddy_sockjs_session_t *s, eddy__sj_recv_t *rv) {
  eddy_sockjs_t *sj = s->sj;
  if (s->recv != NULL) {
    eddy_buf_t f;
    eddy_buf_init(&f, 256);
    if (eddy_sockjs_encode_close(&f, ANOTHER_CODE, ANOTHER_REASON) == 0)
      refuse(rv, f.data, f.len);
    else if (rv->req != NULL)
      eddy__sj_http_recv_end(rv);
    eddy_buf_free(&f);
    return;
  }
  if (s->state >= EDDY__SJ_CLOSING) {
    refuse(rv, s->close_frame.data, s->close_frame.len);
    return;
  }
  eddy_timer_stop(&s->disconnect);
  s->recv = rv;
  rv->session = s;
  if (s->state == EDDY__SJ_CONNECTING) {
    s->state = EDDY__SJ_OPEN;
    if (!s->raw)
      send_frame(s, "o", 1);
    s->opened = 1;
    sj->stats.sessions++;
    sj->stats.sessions_total++;
    if (sj->h.on_open != NULL)
      sj->h.on_open(s, sj->arg);
  } else if (!s->raw && s->recv == rv) {
    eddy_timer_start(&s->heartbeat, sj->heartbeat_ms, on_heartbeat);
  }
  eddy__sj_flush(s);
}

void eddy__sj_flush(eddy_sockjs_session_t *s) {
  eddy__sj_recv_t *rv = s->recv;
  if (rv == NULL || s->queue.len == 0 || s->state != EDDY__SJ_OPEN)
    return;
  if (rv->req != NULL && !eddy_http_writable(rv->req)) {
    rv->waiting = 1; /* on_writable calls back (streaming.c) */
    return;
  }
  if (rv->ws != NULL && !eddy_ws_writable(rv->ws)) {
    rv->waiting = 1; /* on_drain calls back (websocket.c) */
    return;
  }
  /* The queue becomes the frame: "a[" + queue + "]", built in place. */
  eddy_buf_t frame;
  eddy_buf_init(&frame, EDDY_BUF_UNLIMITED);
  int rc = eddy_buf_reserve(&frame, s->queue.len + 3);
  if (rc != 0) {
    eddy_buf_free(&frame);
    return;
  }
  eddy_buf_append(&frame, "a[", 2);
  eddy_buf_append(&frame, s->queue.data, s->queue.len);
  eddy_buf_append(&frame, "]", 1);
  eddy_buf_clear(&s->queue);
  s->nqueued = 0;
  send_frame(s, frame.data, frame.len);
  eddy_buf_free(&frame);
}

int eddy__sj_deliver(const char *data, size_t len, void *session) {
  eddy_sockjs_session_t *s = session;
  if (s->state != EDDY__SJ_OPEN)
    return 0; /* closed by an earlier message: the rest is dropped */
  s->sj->stats.messages_in_total++;
  if (s->sj->h.on_message != NULL)
    s->sj->h.on_message(s, data, len, s->sj->arg);
  return 0;
}

/* ---- The application's side ---------------------------------------------*/

int eddy_sockjs_send(eddy_sockjs_session_t *s, const char *data, size_t len) {
  if (s == NULL || s->state != EDDY__SJ_OPEN)
    return UV_EPIPE;
  if (data == NULL && len > 0)
    return UV_EINVAL;
  eddy_sockjs_t *sj = s->sj;
  size_t wsq = s->wsrecv.ws != NULL ? eddy_ws_buffered(s->wsrecv.ws) : 0;
  if (s->raw) {
    /* No framing: each message is one WebSocket text message. */
    if (wsq + len > sj->max_queue) {
      eddy_sockjs_close_session(s, SLOW_CODE, "send queue full");
      return UV_ENOBUFS;
    }
    int rc = eddy_ws_send_text(s->wsrecv.ws, data != NULL ? data : "", len);
    if (rc == 0)
      sj->stats.messages_out_total++;
    return rc;
  }
  size_t mark = s->queue.len;
  int rc = 0;
  if (mark > 0)
    rc = eddy_buf_append(&s->queue, ",", 1);
  if (rc == 0)
    rc = eddy__sockjs_escape(&s->queue, data != NULL ? data : "", len);
  if (rc == 0 && wsq + s->queue.len > sj->max_queue)
    rc = UV_ENOBUFS;
  if (rc != 0) {
    s->queue.len = mark;
    if (rc == UV_ENOBUFS)
      eddy_sockjs_close_session(s, SLOW_CODE, "send queue full");
    return rc;
  }
  s->nqueued++;
  sj->stats.messages_out_total++;
  /* Sends of one loop turn leave in one frame. */
  if (s->recv != NULL && !s->flush_wanted) {
    s->flush_wanted = 1;
    schedule(s);
  }
  return 0;
}

void eddy_sockjs_close_session(eddy_sockjs_session_t *s, unsigned code,
                               const char *reason) {
  if (s == NULL ||
      (s->state != EDDY__SJ_OPEN && s->state != EDDY__SJ_CONNECTING))
    return;
  if (code != 1000 && code != 1001 && (code < 3000 || code > 4999))
    code = 1000;
  if (reason == NULL)
    reason = "";
  size_t rlen = strlen(reason);
  if (rlen > MAX_REASON) {
    rlen = MAX_REASON;
    while (rlen > 0 && ((unsigned char)reason[rlen] & 0xC0) == 0x80)
      rlen--; /* cut at a character boundary */
  }
  free(s->close_reason);
  s->close_reason = malloc(rlen + 1);
  if (s->close_reason != NULL) {
    memcpy(s->close_reason, reason, rlen);
    s->close_reason[rlen] = '\0';
  }
  s->close_code = code;
  eddy_buf_clear(&s->close_frame);
  eddy_sockjs_encode_close(&s->close_frame, code,
                           s->close_reason != NULL ? s->close_reason : "");
  /* What was sent before the close still goes first, when it can. */
  if (s->flush_wanted) {
    s->flush_wanted = 0;
    eddy__sj_flush(s);
  }
  s->state = EDDY__SJ_CLOSING;
  s->close_owed = 1;
  schedule(s);
  if (s->wsrecv.ws != NULL) {
    eddy__sj_ws_close(s);
    return;
  }
  eddy__sj_recv_t *rv = s->recv;
  if (rv != NULL) {
    if (recv_frame(rv, s->close_frame.data, s->close_frame.len) == 0 &&
        s->recv == rv) {
      eddy__sj_detach(rv, 0);
      eddy__sj_http_recv_end(rv);
    }
  } else if (!eddy_timer_active(&s->disconnect) && s->id != NULL) {
    eddy_timer_start(&s->disconnect, s->sj->disconnect_delay_ms, on_disconnect);
  }
}

size_t eddy_sockjs_buffered(const eddy_sockjs_session_t *s) {
  size_t n = s->queue.len;
  if (s->wsrecv.ws != NULL)
    n += eddy_ws_buffered(s->wsrecv.ws);
  return n;
}

const char *eddy_sockjs_transport(const eddy_sockjs_session_t *s) {
  return s->transport;
}

int eddy_sockjs_peer(const eddy_sockjs_session_t *s, eddy_addr_t *out) {
  if (!s->has_peer)
    return UV_ENOTCONN;
  *out = s->peer;
  return 0;
}

void eddy_sockjs_set_data(eddy_sockjs_session_t *s, void *data) {
  s->data = data;
}

void *eddy_sockjs_data(const eddy_sockjs_session_t *s) {
  return s->data;
}

/* ---- Closing the endpoint -------------------------------------------------*/

void eddy__sj_kill_all(eddy_sockjs_t *sj) {
  eddy_sockjs_session_t *s = sj->sessions;
  while (s != NULL) {
    eddy_sockjs_session_t *next = s->next;
    if (s->state == EDDY__SJ_OPEN || s->state == EDDY__SJ_CONNECTING)
      eddy_sockjs_close_session(s, 1001, "server stopping");
    /* Zombies and sessions without a WebSocket go now (on_close still
     * comes on the next iteration, from the soon-call). */
    table_remove(s);
    eddy_timer_stop(&s->disconnect);
    eddy_timer_stop(&s->heartbeat);
    if (s->state != EDDY__SJ_CLOSED && s->wsrecv.ws == NULL)
      s->state = EDDY__SJ_CLOSED;
    if (s->recv != NULL && s->recv->req != NULL) {
      eddy__sj_recv_t *rv = s->recv;
      eddy__sj_detach(rv, 0);
      eddy__sj_http_recv_end(rv);
    }
    s = next;
  }
  /* Frees what can go now; the rest goes from soon-calls and WebSocket
   * close callbacks. */
  s = sj->sessions;
  while (s != NULL) {
    eddy_sockjs_session_t *next = s->next;
    if (!s->close_owed)
      maybe_free(s);
    s = next;
  }
}
