/* rt_peer.h — test clients of the realtime hub, for test_realtime_*.c.
 * Header-only (static inline) so each test file stays self-contained.
 *
 * rt_peer_t is a hub client on a transport of our own (eddy_rt_attach):
 * it records every text the hub sends, can pretend bytes are stuck
 * (buffered) and records the close the hub asks for.
 *
 * rt_wspeer_t is a hub client on a real eddy_ws_t over a string
 * transport: it feeds masked client frames and decodes the server's. */
#ifndef EDDY_TEST_RT_PEER_H
#define EDDY_TEST_RT_PEER_H

#include "support.h"

#include <stdlib.h>
#include <string.h>

#include <eddy/realtime.h>
#include <eddy/websocket.h>
#include <eddy/ws_frame.h>

#include "realtime/rt_internal.h"

#define RT_PEER_MAX 4096

typedef struct {
  eddy_rt_client_t *c;
  char *msgs[RT_PEER_MAX];
  size_t n, next;
  size_t buffered; /* what buffered() answers */
  int grow;        /* each send adds its length to buffered */
  int closed;      /* close() was called */
  unsigned code;
  char reason[128];
  int detach_in_close; /* detach from inside close() */
  int detached;
  int fail; /* what send answers (0: record) */
} rt_peer_t;

static inline int rt_peer_send(void *conn, const char *text, size_t len) {
  rt_peer_t *p = conn;
  cr_assert_lt(p->n, RT_PEER_MAX);
  cr_assert(!p->detached, "send after detach");
  if (p->fail != 0)
    return p->fail;
  p->msgs[p->n] = malloc(len + 1);
  memcpy(p->msgs[p->n], text, len);
  p->msgs[p->n][len] = '\0';
  p->n++;
  if (p->grow)
    p->buffered += len;
  return 0;
}

static inline void rt_peer_close(void *conn, unsigned code,
                                 const char *reason) {
  rt_peer_t *p = conn;
  cr_assert(!p->detached, "close after detach");
  p->closed++;
  p->code = code;
  snprintf(p->reason, sizeof(p->reason), "%s", reason);
  if (p->detach_in_close) {
    p->detached = 1;
    eddy_rt_detach(p->c);
  }
}

static inline size_t rt_peer_buffered(void *conn) {
  return ((rt_peer_t *)conn)->buffered;
}

static const eddy_rt_conn_ops_t rt_peer_ops = {
    .send = rt_peer_send,
    .close = rt_peer_close,
    .buffered = rt_peer_buffered,
};

static inline rt_peer_t *rt_peer_new(eddy_rt_t *hub) {
  rt_peer_t *p = calloc(1, sizeof(*p));
  cr_assert_eq(eddy_rt_attach(hub, "test", &rt_peer_ops, p, NULL, &p->c), 0);
  return p;
}

/* Sends a request (a C string). */
static inline void rt_peer_say(rt_peer_t *p, const char *text) {
  eddy_rt_receive(p->c, text, strlen(text));
}

/* The next unread message (asserts there is one). */
static inline const char *rt_peer_next(rt_peer_t *p) {
  cr_assert_lt(p->next, p->n, "no message left (got %zu)", p->n);
  return p->msgs[p->next++];
}

static inline size_t rt_peer_unread(const rt_peer_t *p) {
  return p->n - p->next;
}

/* Asserts the next message is exactly want. */
static inline void rt_peer_expect(rt_peer_t *p, const char *want) {
  const char *got = rt_peer_next(p);
  cr_assert_str_eq(got, want);
}

/* The next message parsed (caller decrefs). */
static inline json_t *rt_peer_json(rt_peer_t *p) {
  const char *got = rt_peer_next(p);
  json_t *v = json_loads(got, 0, NULL);
  cr_assert_not_null(v, "not JSON: %s", got);
  return v;
}

/* Detaches (unless already) and frees. */
static inline void rt_peer_free(rt_peer_t *p) {
  if (!p->detached)
    eddy_rt_detach(p->c);
  for (size_t i = 0; i < p->n; i++)
    free(p->msgs[i]);
  free(p);
}

/* ---- A WebSocket client of the hub on a string transport ---------------*/

typedef struct {
  eddy_string_transport_t *st;
  eddy_ws_t *ws;
  eddy_rt_client_t *c;
  size_t seen; /* bytes of the transport's value decoded so far */
} rt_wspeer_t;

static inline void rt_wspeer_open(eddy_rt_t *hub, eddy_reactor_t *r,
                                  rt_wspeer_t *w) {
  memset(w, 0, sizeof(*w));
  eddy_ws_config_t cfg;
  eddy__rt_ws_config(hub, &cfg);
  cr_assert_eq(eddy__rt_client_new(hub, "websocket", &w->c), 0);
  cr_assert_eq(eddy_ws_new(r, EDDY_WS_SERVER, &cfg, eddy__rt_ws_handlers(),
                           w->c, NULL, &w->ws),
               0);
  eddy__rt_ws_bind(w->c, w->ws);
  w->st = eddy_string_transport_new(r);
  eddy_string_transport_connect(w->st, eddy_ws_protocol(w->ws));
}

/* One masked client text frame. */
static inline void rt_wspeer_say(rt_wspeer_t *w, const char *text,
                                 int bytewise) {
  size_t len = strlen(text);
  uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
  uint8_t *frame = malloc(EDDY_WS_MAX_HEADER + len);
  int hl = eddy_ws_encode_header(frame, EDDY_WS_OP_TEXT, 1, 0, len, key);
  cr_assert_gt(hl, 0);
  eddy_ws_mask(frame + hl, (const uint8_t *)text, len, key, 0);
  if (bytewise)
    eddy_string_transport_feed_bytewise(w->st, frame, (size_t)hl + len);
  else
    eddy_string_transport_feed(w->st, frame, (size_t)hl + len);
  free(frame);
}

/* Decodes the next server frame written (NULL when none is complete);
 * *opcode gets its opcode. The text is malloc'd. */
static inline char *rt_wspeer_next(rt_wspeer_t *w, unsigned *opcode) {
  size_t total;
  const uint8_t *v =
      (const uint8_t *)eddy_string_transport_value(w->st, &total);
  if (total - w->seen < 2)
    return NULL;
  const uint8_t *p = v + w->seen;
  size_t avail = total - w->seen;
  size_t len = p[1] & 0x7f, hl = 2;
  if (len == 126) {
    if (avail < 4)
      return NULL;
    len = ((size_t)p[2] << 8) | p[3];
    hl = 4;
  } else if (len == 127) {
    if (avail < 10)
      return NULL;
    len = 0;
    for (int i = 0; i < 8; i++)
      len = (len << 8) | p[2 + i];
    hl = 10;
  }
  if (avail < hl + len)
    return NULL;
  char *out = malloc(len + 1);
  memcpy(out, p + hl, len);
  out[len] = '\0';
  if (opcode != NULL)
    *opcode = p[0] & 0x0f;
  w->seen += hl + len;
  return out;
}

/* Asserts the next frame is a text frame equal to want. */
static inline void rt_wspeer_expect(rt_wspeer_t *w, const char *want) {
  unsigned op = 0;
  char *got = rt_wspeer_next(w, &op);
  cr_assert_not_null(got, "no frame; wanted %s", want);
  cr_assert_eq(op, EDDY_WS_OP_TEXT);
  cr_assert_str_eq(got, want);
  free(got);
}

#endif
