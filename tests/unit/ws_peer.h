/* ws_peer.h — a hand-driven WebSocket peer for the ws unit tests: it puts
 * an eddy_ws_t (either role) on a string transport, feeds it raw frames
 * (built byte by byte, so invalid ones too) and decodes what it writes.
 * Header-only (static functions) so each test file stays self-contained. */
#ifndef EDDY_TEST_WS_PEER_H
#define EDDY_TEST_WS_PEER_H

#include "support.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <eddy/websocket.h>

#define PEER_MAX_FRAMES 4096

typedef struct {
  unsigned opcode;
  int fin, rsv1;
  uint8_t *data;
  size_t len;
} pframe_t;

typedef struct {
  eddy_reactor_t *r;
  eddy_string_transport_t *st;
  eddy_ws_t *ws;
  eddy_ws_role_t role; /* of the connection under test */
  int pmd;
  eddy_ws_deflate_params_t params;
  /* events */
  int opened, closed, nmsgs, pings, pongs, drains;
  eddy_ws_close_info_t info;
  char reason[128];
  unsigned last_opcode;
  uint8_t *last;
  size_t last_len;
  int echo;     /* echo every message back */
  int bytewise; /* feed one byte per call */
  size_t chunk; /* else feed pieces of this size (0: all at once) */
  /* decoding what the connection wrote */
  eddy_ws_decoder_t dec;
  size_t seen;
  pframe_t frames[PEER_MAX_FRAMES];
  size_t nframes, next;
  uint8_t *cur;
  size_t curlen;
  eddy_ws_header_t curh;
  /* the peer's permessage-deflate streams */
  z_stream zout, zin;
  int zout_ready, zin_ready;
} peer_t;

static inline void peer_on_open(eddy_ws_t *ws, void *arg) {
  (void)ws;
  ((peer_t *)arg)->opened++;
}

static inline void peer_on_message(eddy_ws_t *ws, unsigned opcode,
                                   const char *data, size_t len, void *arg) {
  peer_t *p = arg;
  p->nmsgs++;
  p->last_opcode = opcode;
  free(p->last);
  p->last = malloc(len + 1);
  cr_assert(p->last != NULL);
  memcpy(p->last, data, len);
  p->last_len = len;
  if (p->echo)
    cr_assert_eq(eddy_ws_send(ws, opcode, data, len), 0);
}

static inline void peer_on_ping(eddy_ws_t *ws, const char *d, size_t n,
                                void *arg) {
  (void)ws, (void)d, (void)n;
  ((peer_t *)arg)->pings++;
}

static inline void peer_on_pong(eddy_ws_t *ws, const char *d, size_t n,
                                void *arg) {
  (void)ws, (void)d, (void)n;
  ((peer_t *)arg)->pongs++;
}

static inline void peer_on_drain(eddy_ws_t *ws, void *arg) {
  (void)ws;
  ((peer_t *)arg)->drains++;
}

static inline void peer_on_close(eddy_ws_t *ws,
                                 const eddy_ws_close_info_t *info, void *arg) {
  (void)ws;
  peer_t *p = arg;
  p->closed++;
  p->info = *info;
  size_t n = info->reason_len < sizeof(p->reason) - 1 ? info->reason_len
                                                      : sizeof(p->reason) - 1;
  memcpy(p->reason, info->reason, n);
  p->reason[n] = '\0';
  p->info.reason = p->reason;
}

static const eddy_ws_handlers_t peer_handlers = {
    .on_open = peer_on_open,
    .on_message = peer_on_message,
    .on_ping = peer_on_ping,
    .on_pong = peer_on_pong,
    .on_drain = peer_on_drain,
    .on_close = peer_on_close,
};

/* Runs soon-calls (on_open, deferred closes) without moving the clock. */
static inline void peer_spin(peer_t *p) {
  for (int i = 0; i < 4; i++)
    eddy_reactor_run_once(p->r, 0);
}

static inline void peer_open(peer_t *p, eddy_ws_role_t role,
                             const eddy_ws_config_t *cfg,
                             const eddy_ws_deflate_params_t *params) {
  memset(p, 0, sizeof(*p));
  p->r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  p->role = role;
  p->echo = 1;
  p->pmd = params != NULL;
  if (params != NULL)
    p->params = *params;
  cr_assert_eq(eddy_ws_new(p->r, role, cfg, &peer_handlers, p, params, &p->ws),
               0);
  p->st = eddy_string_transport_new(p->r);
  cr_assert(p->st != NULL);
  eddy_string_transport_connect(p->st, eddy_ws_protocol(p->ws));
  cr_assert_eq(p->opened, 0, "on_open must come on a later iteration");
  peer_spin(p);
  cr_assert_eq(p->opened, 1);
  eddy_ws_decoder_init(&p->dec,
                       role == EDDY_WS_SERVER ? EDDY_WS_CLIENT : EDDY_WS_SERVER,
                       p->pmd, (uint64_t)1 << 40);
}

static inline void peer_close(peer_t *p) {
  eddy_string_transport_free(p->st);
  peer_spin(p);
  cr_assert_eq(p->closed, 1, "on_close runs exactly once");
  for (size_t i = 0; i < p->nframes; i++)
    free(p->frames[i].data);
  free(p->cur);
  free(p->last);
  if (p->zout_ready)
    deflateEnd(&p->zout);
  if (p->zin_ready)
    inflateEnd(&p->zin);
  test_close_reactor(p->r);
}

/* Builds a raw frame: b0 is FIN|RSV|opcode as on the wire; masked as the
 * peer's role requires. Returns a malloc'd buffer. */
static inline uint8_t *peer_build(peer_t *p, unsigned b0, const void *payload,
                                  size_t len, size_t *out_len) {
  int mask = p->role == EDDY_WS_SERVER;
  uint8_t *f = malloc(len + EDDY_WS_MAX_HEADER);
  cr_assert(f != NULL);
  size_t h = 0;
  f[h++] = (uint8_t)b0;
  uint8_t mb = mask ? 0x80 : 0;
  if (len < 126) {
    f[h++] = mb | (uint8_t)len;
  } else if (len <= 0xffff) {
    f[h++] = mb | 126;
    f[h++] = (uint8_t)(len >> 8);
    f[h++] = (uint8_t)len;
  } else {
    f[h++] = mb | 127;
    for (int i = 7; i >= 0; i--)
      f[h++] = (uint8_t)((uint64_t)len >> (8 * i));
  }
  uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  if (mask) {
    memcpy(f + h, key, 4);
    h += 4;
    eddy_ws_mask(f + h, payload, len, key, 0);
  } else if (len > 0) {
    memcpy(f + h, payload, len);
  }
  *out_len = h + len;
  return f;
}

static inline void peer_feed(peer_t *p, const void *bytes, size_t n) {
  if (p->bytewise) {
    eddy_string_transport_feed_bytewise(p->st, bytes, n);
  } else if (p->chunk > 0) {
    const uint8_t *b = bytes;
    for (size_t off = 0; off < n; off += p->chunk)
      eddy_string_transport_feed(p->st, b + off,
                                 n - off < p->chunk ? n - off : p->chunk);
  } else {
    eddy_string_transport_feed(p->st, bytes, n);
  }
}

static inline void peer_raw(peer_t *p, unsigned b0, const void *payload,
                            size_t len) {
  size_t n;
  uint8_t *f = peer_build(p, b0, payload, len, &n);
  peer_feed(p, f, n);
  free(f);
}

/* A frame: fin, rsv1, opcode. */
static inline void peer_send(peer_t *p, unsigned opcode, int fin,
                             const void *payload, size_t len) {
  peer_raw(p, (fin ? 0x80u : 0) | opcode, payload, len);
}

/* Compresses a message as the peer (RFC 7692), trailer stripped. */
static inline uint8_t *peer_deflate(peer_t *p, const void *in, size_t n,
                                    size_t *out_len) {
  int server_peer = p->role == EDDY_WS_CLIENT;
  unsigned bits = server_peer ? p->params.server_max_window_bits
                              : p->params.client_max_window_bits;
  int reset = server_peer ? p->params.server_no_context_takeover
                          : p->params.client_no_context_takeover;
  if (!p->zout_ready) {
    cr_assert_eq(deflateInit2(&p->zout, 6, Z_DEFLATED, -(int)bits, 8,
                              Z_DEFAULT_STRATEGY),
                 Z_OK);
    p->zout_ready = 1;
  }
  if (n == 0) { /* RFC 7692 7.2.3.6 */
    *out_len = 1;
    return calloc(1, 1);
  }
  size_t cap = deflateBound(&p->zout, n) + 64;
  uint8_t *out = malloc(cap);
  cr_assert(out != NULL);
  p->zout.next_in = (Bytef *)(uintptr_t)in;
  p->zout.avail_in = (uInt)n;
  p->zout.next_out = out;
  p->zout.avail_out = (uInt)cap;
  cr_assert_eq(deflate(&p->zout, Z_SYNC_FLUSH), Z_OK);
  cr_assert_eq(p->zout.avail_in, 0);
  size_t got = cap - p->zout.avail_out;
  cr_assert(got >= 4 && memcmp(out + got - 4, "\0\0\xff\xff", 4) == 0);
  if (reset)
    deflateReset(&p->zout);
  *out_len = got - 4;
  return out;
}

static inline void peer_send_compressed(peer_t *p, unsigned opcode,
                                        const void *msg, size_t len,
                                        size_t fragment) {
  size_t zn;
  uint8_t *z = peer_deflate(p, msg, len, &zn);
  if (fragment == 0 || zn <= fragment) {
    peer_raw(p, 0x80u | 0x40u | opcode, z, zn);
  } else {
    for (size_t off = 0; off < zn; off += fragment) {
      size_t n = zn - off < fragment ? zn - off : fragment;
      unsigned b0 = (off + n == zn ? 0x80u : 0) |
                    (off == 0 ? 0x40u | opcode : EDDY_WS_OP_CONT);
      peer_raw(p, b0, z + off, n);
    }
  }
  free(z);
}

/* Decodes everything the connection wrote since the last call. */
static inline void peer_collect(peer_t *p) {
  size_t n;
  const char *v = eddy_string_transport_value(p->st, &n);
  if (n <= p->seen)
    return;
  size_t len = n - p->seen;
  uint8_t *buf = malloc(len);
  cr_assert(buf != NULL);
  memcpy(buf, v + p->seen, len);
  p->seen = n;
  size_t off = 0;
  while (off < len) {
    size_t used;
    eddy_ws_result_t res;
    eddy_ws_event_t ev =
        eddy_ws_decode(&p->dec, buf + off, len - off, &used, &res);
    off += used;
    cr_assert_neq(ev, EDDY_WS_ERROR, "the connection wrote a bad frame: %s",
                  eddy_ws_strerror(res.error));
    if (ev == EDDY_WS_NEED_MORE)
      break;
    if (ev == EDDY_WS_HEADER) {
      p->curh = res.header;
      free(p->cur);
      p->cur = malloc(res.header.length + 1);
      cr_assert(p->cur != NULL);
      p->curlen = 0;
    } else {
      memcpy(p->cur + p->curlen, res.data, res.len);
      p->curlen += res.len;
    }
    if (res.frame_end) {
      cr_assert(p->nframes < PEER_MAX_FRAMES);
      pframe_t *f = &p->frames[p->nframes++];
      f->opcode = p->curh.opcode;
      f->fin = p->curh.fin;
      f->rsv1 = p->curh.rsv1;
      f->data = p->cur;
      f->len = p->curlen;
      p->cur = NULL;
    }
  }
  free(buf);
}

static inline pframe_t *peer_next(peer_t *p) {
  peer_collect(p);
  return p->next < p->nframes ? &p->frames[p->next++] : NULL;
}

static inline void peer_expect_nothing(peer_t *p) {
  pframe_t *f = peer_next(p);
  cr_assert(f == NULL, "unexpected frame, opcode %u", f ? f->opcode : 0);
}

/* The next frame is a close with this code (0: an empty close). */
static inline void peer_expect_close(peer_t *p, unsigned code) {
  pframe_t *f = peer_next(p);
  cr_assert(f != NULL, "expected a close frame");
  cr_assert_eq(f->opcode, EDDY_WS_OP_CLOSE, "expected close, got %u",
               f->opcode);
  if (code == 0) {
    cr_assert_eq(f->len, 0);
  } else {
    cr_assert(f->len >= 2);
    unsigned got = (unsigned)f->data[0] << 8 | f->data[1];
    cr_assert_eq(got, code, "close code %u, expected %u", got, code);
  }
}

static inline void peer_expect_pong(peer_t *p, const void *data, size_t len) {
  pframe_t *f = peer_next(p);
  cr_assert(f != NULL, "expected a pong");
  cr_assert_eq(f->opcode, EDDY_WS_OP_PONG);
  cr_assert_eq(f->len, len);
  cr_assert(len == 0 || memcmp(f->data, data, len) == 0);
}

static inline uint8_t *peer_inflate(peer_t *p, const uint8_t *in, size_t n,
                                    size_t *out_len) {
  int server_peer = p->role == EDDY_WS_CLIENT;
  int reset = server_peer ? p->params.client_no_context_takeover
                          : p->params.server_no_context_takeover;
  if (!p->zin_ready) {
    cr_assert_eq(inflateInit2(&p->zin, -15), Z_OK);
    p->zin_ready = 1;
  }
  uint8_t *tmp = malloc(n + 4);
  cr_assert(tmp != NULL);
  memcpy(tmp, in, n);
  memcpy(tmp + n, "\0\0\xff\xff", 4);
  size_t cap = 1024, got = 0;
  uint8_t *out = malloc(cap);
  p->zin.next_in = tmp;
  p->zin.avail_in = (uInt)(n + 4);
  for (;;) {
    if (cap - got < 1024) {
      cap *= 2;
      out = realloc(out, cap);
      cr_assert(out != NULL);
    }
    p->zin.next_out = out + got;
    p->zin.avail_out = (uInt)(cap - got);
    int zr = inflate(&p->zin, Z_SYNC_FLUSH);
    got = cap - p->zin.avail_out;
    cr_assert(zr == Z_OK || zr == Z_BUF_ERROR, "inflate: %d", zr);
    if (p->zin.avail_in == 0 && p->zin.avail_out > 0)
      break;
  }
  if (reset)
    inflateReset(&p->zin);
  free(tmp);
  *out_len = got;
  return out;
}

/* Gathers the next data message (control frames before it are skipped
 * only when skip_control). Returns a malloc'd copy, inflated when sent
 * compressed; *compressed tells which. */
static inline uint8_t *peer_message(peer_t *p, unsigned *opcode, size_t *len,
                                    int *compressed) {
  pframe_t *f = peer_next(p);
  cr_assert(f != NULL, "expected a message");
  cr_assert(f->opcode == EDDY_WS_OP_TEXT || f->opcode == EDDY_WS_OP_BINARY,
            "expected a data frame, got opcode %u", f->opcode);
  *opcode = f->opcode;
  int z = f->rsv1;
  size_t total = 0, cap = f->len + 1;
  uint8_t *buf = malloc(cap);
  cr_assert(buf != NULL);
  for (;;) {
    if (total + f->len + 1 > cap) {
      cap = (total + f->len + 1) * 2;
      buf = realloc(buf, cap);
      cr_assert(buf != NULL);
    }
    memcpy(buf + total, f->data, f->len);
    total += f->len;
    if (f->fin)
      break;
    f = peer_next(p);
    cr_assert(f != NULL, "message cut short");
    cr_assert_eq(f->opcode, EDDY_WS_OP_CONT);
    cr_assert_eq(f->rsv1, 0);
  }
  if (compressed != NULL)
    *compressed = z;
  if (z) {
    cr_assert(p->pmd, "compressed without permessage-deflate");
    size_t n;
    uint8_t *plain = peer_inflate(p, buf, total, &n);
    free(buf);
    buf = plain;
    total = n;
  }
  *len = total;
  return buf;
}

static inline void peer_expect_message(peer_t *p, unsigned opcode,
                                       const void *data, size_t len) {
  unsigned op;
  size_t n;
  uint8_t *m = peer_message(p, &op, &n, NULL);
  cr_assert_eq(op, opcode);
  cr_assert_eq(n, len, "message length %zu, expected %zu", n, len);
  cr_assert(len == 0 || memcmp(m, data, len) == 0, "message differs");
  free(m);
}

/* The TCP side after a close: a server closes at once, a client waits
 * for the server and gives up after the close timeout. */
static inline void peer_expect_tcp_closed(peer_t *p) {
  int done = eddy_string_transport_lose_called(p->st) ||
             eddy_string_transport_abort_called(p->st);
  if (!done) {
    cr_assert_eq(p->role, EDDY_WS_CLIENT, "a server closes TCP at once");
    eddy_reactor_advance(p->r, EDDY_WS_CLOSE_TIMEOUT_DEFAULT);
  }
  cr_assert(eddy_string_transport_lose_called(p->st) ||
            eddy_string_transport_abort_called(p->st));
}

#endif
