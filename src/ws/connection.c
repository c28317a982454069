/* connection.c — one WebSocket connection, either role: messages from
 * frames, control frames, the close handshake, keep-alive pings, and
 * sending with a bounded queue.
 *
 * Receiving avoids copies where it can: a server copies each read once into
 * a scratch buffer shared by the thread's connections (the payload must be
 * unmasked in place, and the transport's read buffer is not ours to
 * change); a frame that is whole in that read and is a whole uncompressed
 * message is handed to on_message right there. Only messages that span
 * reads, fragments, or compressed messages are gathered in the message
 * buffer. A client decodes straight from the transport's buffer: server
 * frames are not masked, so nothing is written to it.
 *
 * Sending never copies a server's payload: the frame header and the payload
 * go to the transport in one writev. A client builds each frame in a scratch
 * buffer because the payload has to be masked.
 *
 * An idle connection holds no buffer: what only some connections need
 * (permessage-deflate streams, a client's masking state, a control frame's
 * payload) is allocated when needed, and the read and gather buffers are
 * the thread's, lent for a read or a cork. */
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "eddy/log.h"
#include "eddy/transport.h"
#include "ws_internal.h"

/* Buffers that grew past this for one big message are freed afterwards, so
 * an idle connection keeps only small buffers. */
#define KEEP_BUFFER ((size_t)64u * 1024u)
/* What a peer may send before on_open runs, beyond one whole message. */
#define BACKLOG_EXTRA ((size_t)1024u * 1024u)
#define MAX_ORIGINS 64
/* Sends during a read are gathered up to this much (see flush_cork). */
#define CORK_FRAME_MAX ((size_t)16u * 1024u)
#define CORK_MAX ((size_t)64u * 1024u)

/* The frame decoder's limit on a message's bytes on the wire. With
 * permessage-deflate those are compressed: data that does not compress
 * grows a little (stored blocks: 5 bytes per 64 KiB, plus the sync
 * flush), so a message within max_message once inflated may be above it
 * on the wire. The inflater enforces max_message on the real size; the
 * wire limit only has to leave room for the growth. */
static uint64_t wire_limit(const eddy_ws_t *ws) {
  if (!ws->pmd)
    return ws->max_message;
  return ws->max_message + (ws->max_message >> 6) + 1024u;
}

static const eddy_protocol_ops_t ws_ops;

/* A server unmasks each read in place, so it copies it first: into one
 * buffer per thread shared by every server connection of that thread
 * (a read is decoded to the end before the next one starts), not into a
 * buffer of each connection's own that an idle connection would keep. A
 * read decoded while the scratch is in use (a handler that feeds another
 * connection synchronously, as test transports do), or longer than
 * SCRATCH_MAX, goes to a temporary buffer instead. Freed when the thread's
 * last connection goes. */
#define SCRATCH_MAX ((size_t)64u * 1024u)
/* The same thread-local block keeps one spare gather (cork) buffer: a
 * connection's gathered frames are written when its read or its cork ends,
 * and its buffer then goes back here instead of staying with the (mostly
 * idle) connection; the next connection to gather takes it, so an echo
 * server reuses one buffer and does not allocate per read. users counts
 * every connection of the thread (either role). */
static _Thread_local struct {
  uint8_t *mem;
  size_t cap;
  size_t users;
  int busy;
  int has_spare;
  eddy_buf_t spare;
} scratch;

static void scratch_release(void) {
  if (scratch.users == 0 && !scratch.busy) {
    free(scratch.mem);
    scratch.mem = NULL;
    scratch.cap = 0;
    if (scratch.has_spare)
      eddy_buf_free(&scratch.spare);
    scratch.has_spare = 0;
  }
}

/* Before gathering into an empty cork: take the thread's spare buffer. */
static void cork_take(eddy_ws_t *ws) {
  if (ws->cork.len == 0 && scratch.has_spare) {
    eddy_buf_free(&ws->cork);
    ws->cork = scratch.spare;
    scratch.has_spare = 0;
  }
}

/* After the cork was written: its buffer becomes the spare (or is freed
 * when there is one already, or when one big message made it large). */
static void cork_give_back(eddy_ws_t *ws) {
  if (!scratch.has_spare && ws->cork.len <= CORK_MAX + EDDY_WS_MAX_HEADER) {
    eddy_buf_clear(&ws->cork);
    scratch.spare = ws->cork;
    scratch.has_spare = 1;
    eddy_buf_init(&ws->cork, EDDY_BUF_UNLIMITED);
  } else {
    eddy_buf_free(&ws->cork);
  }
}

/* The scratch with room for len bytes, marked busy; NULL when it is busy,
 * too small for len or cannot be had. */
static uint8_t *scratch_take(size_t len) {
  if (scratch.busy || len > SCRATCH_MAX)
    return NULL;
  if (scratch.cap < len) {
    /* grown in steps so a run of reads of rising size reallocates rarely */
    size_t cap = len <= 4096 ? 4096 : len <= 16384 ? 16384 : SCRATCH_MAX;
    uint8_t *m = realloc(scratch.mem, cap);
    if (m == NULL)
      return NULL;
    scratch.mem = m;
    scratch.cap = cap;
  }
  scratch.busy = 1;
  return scratch.mem;
}

/* ---- Configuration
 * ----------------------------------------------------------- */

static int is_token(const char *s) {
  if (s == NULL || *s == '\0')
    return 0;
  for (; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
          (c >= 'A' && c <= 'Z') || strchr("!#$%&'*+-.^_`|~", c) != NULL))
      return 0;
  }
  return 1;
}

static int has_crlf(const char *s) {
  return strpbrk(s, "\r\n") != NULL;
}

int eddy__ws_config_check(const eddy_ws_config_t *c) {
  if (c->deflate_window_bits != 0 &&
      (c->deflate_window_bits < 9 || c->deflate_window_bits > 15))
    return UV_EINVAL;
  if (c->deflate_level < 0 || c->deflate_level > 9)
    return UV_EINVAL;
  if (c->max_send_queue > EDDY_TRANSPORT_QUEUE_MAX)
    return UV_EINVAL;
  if (c->subprotocols != NULL) {
    size_t i = 0;
    for (; c->subprotocols[i] != NULL; i++)
      if (i >= EDDY_WS_MAX_SUBPROTOCOLS || !is_token(c->subprotocols[i]))
        return UV_EINVAL;
  }
  if (c->origins != NULL) {
    for (size_t i = 0; c->origins[i] != NULL; i++)
      if (i >= MAX_ORIGINS)
        return UV_EINVAL;
  }
  if (c->origin != NULL && (*c->origin == '\0' || has_crlf(c->origin)))
    return UV_EINVAL;
  if (c->headers != NULL) {
    for (size_t i = 0; c->headers[i] != NULL; i++) {
      const char *h = c->headers[i], *colon = strchr(h, ':');
      if (i >= EDDY_WS_MAX_HEADERS || colon == NULL || colon == h ||
          has_crlf(h))
        return UV_EINVAL;
      for (const char *q = h; q < colon; q++)
        if (!is_token((char[]){*q, '\0'}))
          return UV_EINVAL;
    }
  }
  return 0;
}

static uint64_t or_default(uint64_t v, uint64_t def) {
  return v != 0 ? v : def;
}

static void ping_due(eddy_timer_t *t);
static void close_due(eddy_timer_t *t);
static void open_now(void *arg);

/* ws->z must exist when pmd is given. */
static void setup_deflate(eddy_ws_t *ws, const eddy_ws_deflate_params_t *pmd) {
  ws->pmd = pmd != NULL;
  if (pmd == NULL)
    return;
  ws->pmdp = *pmd;
  int server = ws->role == EDDY_WS_SERVER;
  eddy__ws_zout_init(&ws->z->zout,
                     server ? pmd->server_max_window_bits
                            : pmd->client_max_window_bits,
                     ws->deflate_level,
                     server ? pmd->server_no_context_takeover
                            : pmd->client_no_context_takeover);
  eddy__ws_zin_init(&ws->z->zin, server ? pmd->client_no_context_takeover
                                        : pmd->server_no_context_takeover);
}

int eddy__ws_create(eddy_reactor_t *r, eddy_ws_role_t role,
                    const eddy_ws_config_t *cfg, const eddy_ws_handlers_t *h,
                    void *arg, const eddy_ws_deflate_params_t *pmd,
                    eddy_ws_t **out) {
  *out = NULL;
  eddy_ws_config_t defaults;
  if (cfg == NULL) {
    memset(&defaults, 0, sizeof(defaults));
    cfg = &defaults;
  }
  if (r == NULL || h == NULL ||
      (role != EDDY_WS_SERVER && role != EDDY_WS_CLIENT) ||
      eddy__ws_config_check(cfg) != 0)
    return UV_EINVAL;
  if (pmd != NULL &&
      (pmd->server_max_window_bits < 9 || pmd->server_max_window_bits > 15 ||
       pmd->client_max_window_bits < 9 || pmd->client_max_window_bits > 15))
    return UV_EINVAL;
  eddy_ws_t *ws = calloc(1, sizeof(*ws));
  if (ws == NULL)
    return UV_ENOMEM;
  /* A client that offers permessage-deflate gets its streams now, so the
   * answer to its offer cannot fail for memory. */
  if (pmd != NULL || (role == EDDY_WS_CLIENT && cfg->permessage_deflate)) {
    ws->z = calloc(1, sizeof(*ws->z));
    if (ws->z == NULL) {
      free(ws);
      return UV_ENOMEM;
    }
    eddy_buf_init(&ws->z->zbuf, EDDY_BUF_UNLIMITED);
  }
  if (role == EDDY_WS_CLIENT) {
    ws->masking = calloc(1, sizeof(*ws->masking));
    if (ws->masking == NULL) {
      free(ws->z);
      free(ws);
      return UV_ENOMEM;
    }
    ws->masking->rnd_pos = sizeof(ws->masking->rnd);
    eddy_buf_init(&ws->masking->out, EDDY_BUF_UNLIMITED);
  }
  eddy_protocol_init(&ws->proto, &ws_ops);
  ws->proto.data = ws;
  ws->reactor = r;
  ws->role = role;
  ws->state = EDDY__WS_NEW;
  ws->h = *h;
  ws->arg = arg;
  ws->max_message = or_default(cfg->max_message, EDDY_WS_DEFAULT_MAX_MESSAGE);
  if (ws->max_message > (uint64_t)SIZE_MAX / 2)
    ws->max_message = (uint64_t)SIZE_MAX / 2;
  ws->max_send_queue = cfg->max_send_queue != 0
                           ? cfg->max_send_queue
                           : EDDY_WS_MAX_SEND_QUEUE_DEFAULT;
  ws->ping_interval =
      or_default(cfg->ping_interval_ms, EDDY_WS_PING_INTERVAL_DEFAULT);
  ws->pong_timeout = or_default(cfg->pong_timeout_ms, ws->ping_interval);
  ws->close_timeout =
      or_default(cfg->close_timeout_ms, EDDY_WS_CLOSE_TIMEOUT_DEFAULT);
  ws->fragment_size = cfg->fragment_size;
  ws->deflate_threshold = cfg->deflate_threshold != 0
                              ? cfg->deflate_threshold
                              : EDDY_WS_DEFLATE_THRESHOLD_DEFAULT;
  ws->deflate_level = cfg->deflate_level;
  setup_deflate(ws, pmd);
  eddy_ws_decoder_init(&ws->dec, role, ws->pmd, wire_limit(ws));
  eddy_buf_init(&ws->backlog, (size_t)wire_limit(ws) + BACKLOG_EXTRA);
  eddy_buf_init(&ws->msg, (size_t)ws->max_message);
  eddy_buf_init(&ws->cork, EDDY_BUF_UNLIMITED);
  scratch.users++;
  eddy_timer_init(r, &ws->ping_timer);
  ws->ping_timer.data = ws;
  eddy_timer_init(r, &ws->close_timer);
  ws->close_timer.data = ws;
  *out = ws;
  return 0;
}

int eddy__ws_set_subprotocol(eddy_ws_t *ws, const char *name, size_t len) {
  char *copy = malloc(len + 1);
  if (copy == NULL)
    return UV_ENOMEM;
  memcpy(copy, name, len);
  copy[len] = '\0';
  free(ws->subprotocol);
  ws->subprotocol = copy;
  return 0;
}

static void ws_free(eddy_ws_t *ws) {
  eddy_timer_stop(&ws->ping_timer);
  eddy_timer_stop(&ws->close_timer);
  eddy__reactor_soon_cancel(ws->reactor, &ws->open_soon);
  if (ws->client != NULL)
    eddy__ws_client_free(ws);
  if (ws->z != NULL) {
    eddy__ws_zout_free(&ws->z->zout);
    eddy__ws_zin_free(&ws->z->zin);
    eddy_buf_free(&ws->z->zbuf);
    free(ws->z);
  }
  free(ws->ctl);
  eddy_buf_free(&ws->backlog);
  eddy_buf_free(&ws->msg);
  if (ws->masking != NULL) {
    eddy_buf_free(&ws->masking->out);
    free(ws->masking);
  }
  eddy_buf_free(&ws->cork);
  free(ws->subprotocol);
  free(ws);
  scratch.users--;
  scratch_release();
}

int eddy_ws_new(eddy_reactor_t *r, eddy_ws_role_t role,
                const eddy_ws_config_t *cfg, const eddy_ws_handlers_t *handlers,
                void *arg, const eddy_ws_deflate_params_t *deflate,
                eddy_ws_t **out) {
  if (out == NULL)
    return UV_EINVAL;
  return eddy__ws_create(r, role, cfg, handlers, arg, deflate, out);
}

eddy_protocol_t *eddy_ws_protocol(eddy_ws_t *ws) {
  return &ws->proto;
}

void eddy_ws_free_unconnected(eddy_ws_t *ws) {
  if (ws != NULL && ws->state == EDDY__WS_NEW)
    ws_free(ws);
}

/* ---- Sending
 * ----------------------------------------------------------------- */

static eddy_transport_t *transport(const eddy_ws_t *ws) {
  return ws->proto.transport;
}

static int get_mask(eddy_ws_t *ws, uint8_t key[4]) {
  /* RFC 6455 10.3: keys must be unpredictable, so they come from the
   * CSPRNG, 16 at a time. */
  eddy__ws_masking_t *m = ws->masking;
  if (m->rnd_pos + 4 > sizeof(m->rnd)) {
    if (RAND_bytes(m->rnd, (int)sizeof(m->rnd)) != 1)
      return UV_EIO;
    m->rnd_pos = 0;
  }
  memcpy(key, m->rnd + m->rnd_pos, 4);
  m->rnd_pos += 4;
  return 0;
}

static void arm_close_timer(eddy_ws_t *ws) {
  if (!eddy_timer_active(&ws->close_timer) &&
      ws->close_timeout != EDDY_WS_NEVER)
    eddy_timer_start(&ws->close_timer, ws->close_timeout, close_due);
}

static int write_frame(eddy_ws_t *ws, unsigned opcode, int fin, int rsv1,
                       const void *data, size_t len, int bypass_limit);
static void lose(eddy_ws_t *ws);
static int flush_cork(eddy_ws_t *ws);

/* Sends our close frame (once). The frame ignores the queue limit: it is
 * small and it is how a peer learns why it is being dropped. */
static void send_close(eddy_ws_t *ws, unsigned code, const char *reason) {
  if (ws->close_sent)
    return;
  uint8_t payload[EDDY_WS_MAX_CONTROL];
  int n = eddy_ws_close_build(payload, code, reason,
                              reason != NULL ? strlen(reason) : 0);
  if (n < 0)
    n = eddy_ws_close_build(payload, code, NULL, 0);
  ws->close_sent = 1;
  ws->sent_code = code;
  if (n >= 0)
    write_frame(ws, EDDY_WS_OP_CLOSE, 1, 0, payload, (size_t)n, 1);
  /* A corked connection would hold its close frame until uncorked: the
   * close goes out now, with everything gathered before it. */
  if (ws->corked && !ws->processing) {
    ws->corked = 0;
    flush_cork(ws);
  }
  if (ws->state == EDDY__WS_OPEN)
    ws->state = EDDY__WS_CLOSING;
  eddy_timer_stop(&ws->ping_timer);
  arm_close_timer(ws);
}

/* Fails the connection: our close frame with code, then the TCP close
 * (after the queue drains, or at the close timeout). */
static void fail(eddy_ws_t *ws, unsigned code, int err, const char *why) {
  if (ws->error == 0)
    ws->error = err;
  ws->stop_reading = 1;
  if (ws->lost || transport(ws) == NULL)
    return;
  send_close(ws, code, why);
  lose(ws);
  arm_close_timer(ws);
}

static int overflow(eddy_ws_t *ws) {
  fail(ws, 1008, UV_ENOBUFS, "send queue full");
  return UV_ENOBUFS;
}

static int queue_room(eddy_ws_t *ws, size_t total) {
  size_t q = eddy_transport_write_buffer_size(transport(ws));
  if (total > ws->max_send_queue || q > ws->max_send_queue - total)
    return overflow(ws);
  return 0;
}

/* Frames sent while a read is being processed are gathered here and leave
 * in one write when the read is done, so a client that pipelines N
 * messages costs one system call for N echoes, not N. Large payloads are
 * not copied: they flush what is gathered and go out by themselves. */
static int flush_cork(eddy_ws_t *ws) {
  if (ws->cork.len == 0)
    return 0;
  int rc = eddy_transport_write(transport(ws), ws->cork.data, ws->cork.len);
  /* Not kept: the transport copied what the kernel did not take, and an
   * idle connection (most of a hub's) should hold no buffer. */
  cork_give_back(ws);
  return rc;
}

static int write_frame(eddy_ws_t *ws, unsigned opcode, int fin, int rsv1,
                       const void *data, size_t len, int bypass_limit) {
  eddy_transport_t *t = transport(ws);
  uint8_t hdr[EDDY_WS_MAX_HEADER], key[4];
  int client = ws->role == EDDY_WS_CLIENT;
  if (client && get_mask(ws, key) != 0)
    return UV_EIO;
  int hl =
      eddy_ws_encode_header(hdr, opcode, fin, rsv1, len, client ? key : NULL);
  if (hl < 0)
    return hl;
  if (!bypass_limit) {
    int rc = queue_room(ws, ws->cork.len + (size_t)hl + len);
    if (rc != 0)
      return rc;
  }
  int rc;
  if ((ws->processing || ws->corked) && len <= CORK_FRAME_MAX) {
    if (ws->cork.len + (size_t)hl + len > CORK_MAX && (rc = flush_cork(ws)))
      return rc == UV_ENOBUFS && !bypass_limit ? overflow(ws) : rc;
    cork_take(ws);
    rc = eddy_buf_reserve(&ws->cork, (size_t)hl + len);
    if (rc != 0)
      return rc;
    eddy_buf_append(&ws->cork, hdr, (size_t)hl);
    if (client)
      eddy_ws_mask((uint8_t *)eddy_buf_tail(&ws->cork), data, len, key, 0);
    else if (len > 0)
      memcpy(eddy_buf_tail(&ws->cork), data, len);
    eddy_buf_commit(&ws->cork, len);
    return 0;
  }
  rc = flush_cork(ws);
  if (rc == 0 && !client) {
    uv_buf_t b[2] = {uv_buf_init((char *)hdr, (unsigned)hl),
                     uv_buf_init((char *)(uintptr_t)data, 0)};
    b[1].len = len; /* a uv_buf_t length is a size_t on Unix */
    rc = eddy_transport_writev(t, b, len > 0 ? 2 : 1);
  } else if (rc == 0) {
    eddy_buf_t *out = &ws->masking->out;
    eddy_buf_clear(out);
    rc = eddy_buf_reserve(out, (size_t)hl + len);
    if (rc != 0)
      return rc;
    eddy_buf_append(out, hdr, (size_t)hl);
    eddy_ws_mask((uint8_t *)eddy_buf_tail(out), data, len, key, 0);
    eddy_buf_commit(out, len);
    rc = eddy_transport_write(t, out->data, out->len);
    if (len > KEEP_BUFFER)
      eddy_buf_free(out);
    else
      eddy_buf_clear(out);
  }
  if (rc == UV_ENOBUFS && !bypass_limit)
    return overflow(ws); /* the transport's own hard cap */
  return rc;
}

/* Closes TCP after what is queued (gathered frames first). */
static void lose(eddy_ws_t *ws) {
  flush_cork(ws);
  eddy_transport_lose_connection(transport(ws));
}

/* Whether the application may send now. */
static int can_send(const eddy_ws_t *ws) {
  if (ws->lost || ws->state == EDDY__WS_GONE)
    return UV_EPIPE;
  if (ws->state == EDDY__WS_NEW || ws->state == EDDY__WS_HANDSHAKE)
    return UV_ENOTCONN;
  if (ws->close_sent || transport(ws) == NULL ||
      eddy_transport_is_closing(transport(ws)))
    return UV_EPIPE;
  return 0;
}

/* One message as one frame, or several of at most fragment_size bytes. The
 * queue is checked for the whole message first, so a message is never cut
 * off half-way by the limit. */
static int write_message(eddy_ws_t *ws, unsigned opcode, int rsv1,
                         const void *data, size_t len) {
  size_t fs = ws->fragment_size;
  if (fs == 0 || len <= fs)
    return write_frame(ws, opcode, 1, rsv1, data, len, 0);
  size_t frames = len / fs + (len % fs != 0);
  if (frames > (SIZE_MAX - len) / EDDY_WS_MAX_HEADER)
    return UV_EINVAL;
  int rc = queue_room(ws, len + frames * EDDY_WS_MAX_HEADER);
  if (rc != 0)
    return rc;
  const uint8_t *p = data;
  for (size_t off = 0; off < len; off += fs) {
    size_t n = len - off < fs ? len - off : fs;
    rc = write_frame(ws, off == 0 ? opcode : EDDY_WS_OP_CONT, off + n == len,
                     off == 0 ? rsv1 : 0, p + off, n, 1);
    if (rc != 0)
      return rc;
  }
  return 0;
}

int eddy_ws_send(eddy_ws_t *ws, unsigned opcode, const void *data, size_t len) {
  if (ws == NULL || (data == NULL && len > 0) ||
      (opcode != EDDY_WS_OP_TEXT && opcode != EDDY_WS_OP_BINARY))
    return UV_EINVAL;
  int rc = can_send(ws);
  if (rc != 0)
    return rc;
  if (ws->streaming)
    return UV_EBUSY;
  if (opcode == EDDY_WS_OP_TEXT && eddy_utf8_valid(data, len) != 0)
    return UV_EINVAL;
  if (!ws->pmd || len < ws->deflate_threshold)
    return write_message(ws, opcode, 0, data, len);
  eddy__ws_pmd_t *z = ws->z;
  rc = eddy__ws_zout_message(&z->zout, data, len, &z->zbuf);
  if (rc != 0) {
    if (!z->zout.no_takeover) /* the peer's context no longer matches */
      fail(ws, 1011, rc, "compression failed");
    return rc;
  }
  /* Without a shared context, an incompressible message may go out as it
   * is; with one, the peer must see every message we compressed. */
  if (z->zout.no_takeover && z->zbuf.len >= len)
    rc = write_message(ws, opcode, 0, data, len);
  else
    rc = write_message(ws, opcode, 1, z->zbuf.data, z->zbuf.len);
  if (z->zbuf.len > KEEP_BUFFER)
    eddy_buf_free(&z->zbuf);
  return rc;
}

int eddy_ws_send_text(eddy_ws_t *ws, const char *text, size_t len) {
  return eddy_ws_send(ws, EDDY_WS_OP_TEXT, text, len);
}

int eddy_ws_send_binary(eddy_ws_t *ws, const void *data, size_t len) {
  return eddy_ws_send(ws, EDDY_WS_OP_BINARY, data, len);
}

int eddy_ws_send_fragment(eddy_ws_t *ws, unsigned opcode, const void *data,
                          size_t len, int fin) {
  if (ws == NULL || (data == NULL && len > 0))
    return UV_EINVAL;
  int rc = can_send(ws);
  if (rc != 0)
    return rc;
  if (ws->streaming && opcode != EDDY_WS_OP_CONT)
    return UV_EBUSY;
  if (!ws->streaming && opcode != EDDY_WS_OP_TEXT &&
      opcode != EDDY_WS_OP_BINARY)
    return UV_EINVAL;
  unsigned type = ws->streaming ? ws->stream_opcode : opcode;
  eddy_utf8_t v = ws->streaming ? ws->send_utf8 : (eddy_utf8_t){0};
  if (type == EDDY_WS_OP_TEXT) {
    int u = eddy_utf8_feed(&v, data, len);
    if (u == EDDY_UTF8_INVALID || (fin && u != EDDY_UTF8_OK))
      return UV_EINVAL;
  }
  rc = write_frame(ws, ws->streaming ? EDDY_WS_OP_CONT : opcode, fin != 0, 0,
                   data, len, 0);
  if (rc != 0)
    return rc;
  ws->send_utf8 = v;
  ws->stream_opcode = type;
  ws->streaming = !fin;
  return 0;
}

static int send_control(eddy_ws_t *ws, unsigned opcode, const void *data,
                        size_t len) {
  if (ws == NULL || (data == NULL && len > 0) || len > EDDY_WS_MAX_CONTROL)
    return UV_EINVAL;
  int rc = can_send(ws);
  if (rc != 0)
    return rc;
  return write_frame(ws, opcode, 1, 0, data, len, 0);
}

int eddy_ws_ping(eddy_ws_t *ws, const void *data, size_t len) {
  return send_control(ws, EDDY_WS_OP_PING, data, len);
}

int eddy_ws_pong(eddy_ws_t *ws, const void *data, size_t len) {
  return send_control(ws, EDDY_WS_OP_PONG, data, len);
}

int eddy_ws_close(eddy_ws_t *ws, unsigned code, const char *reason) {
  if (ws == NULL || (code == 0 && reason != NULL))
    return UV_EINVAL;
  uint8_t payload[EDDY_WS_MAX_CONTROL];
  if (eddy_ws_close_build(payload, code, reason,
                          reason != NULL ? strlen(reason) : 0) < 0)
    return UV_EINVAL;
  if (ws->close_sent)
    return UV_EALREADY;
  int rc = can_send(ws);
  if (rc != 0)
    return rc;
  send_close(ws, code, reason);
  return 0;
}

void eddy_ws_abort(eddy_ws_t *ws) {
  if (ws == NULL || ws->lost || transport(ws) == NULL)
    return;
  if (ws->error == 0)
    ws->error = UV_ECONNABORTED;
  ws->stop_reading = 1;
  eddy_buf_clear(&ws->cork);
  eddy_transport_abort_connection(transport(ws));
}

void eddy_ws_cork(eddy_ws_t *ws) {
  if (ws != NULL)
    ws->corked = 1;
}

int eddy_ws_uncork(eddy_ws_t *ws) {
  if (ws == NULL || !ws->corked)
    return 0;
  ws->corked = 0;
  if (ws->processing || ws->lost || transport(ws) == NULL)
    return 0;
  int rc = flush_cork(ws);
  if (rc == UV_ENOBUFS && !ws->close_sent)
    return overflow(ws);
  return rc;
}

int eddy__ws_write_slice(eddy_ws_t *ws, eddy_slice_t *s) {
  int rc = can_send(ws);
  if (rc != 0)
    return rc;
  if (ws->streaming)
    return UV_EBUSY;
  size_t len = eddy_slice_len(s);
  rc = queue_room(ws, ws->cork.len + len);
  if (rc != 0)
    return rc;
  if ((ws->processing || ws->corked) && len <= CORK_FRAME_MAX) {
    /* A small shared frame is copied into the gathered output: for a
     * broadcast that reaches this connection several times per loop turn,
     * one write carries them all. */
    if (ws->cork.len + len > CORK_MAX && (rc = flush_cork(ws)) != 0)
      return rc == UV_ENOBUFS ? overflow(ws) : rc;
    cork_take(ws);
    rc = eddy_buf_append(&ws->cork, eddy_slice_data(s), len);
    return rc;
  }
  rc = flush_cork(ws);
  if (rc == 0)
    rc = eddy_transport_write_slice(transport(ws), s);
  return rc == UV_ENOBUFS ? overflow(ws) : rc;
}

unsigned eddy__ws_shared_window(const eddy_ws_t *ws) {
  if (ws->role != EDDY_WS_SERVER || !ws->pmd || !ws->z->zout.no_takeover)
    return 0;
  return ws->z->zout.window_bits;
}

int eddy__ws_deflate_level(const eddy_ws_t *ws) {
  return ws->z != NULL ? ws->z->zout.level : ws->deflate_level;
}

size_t eddy__ws_deflate_threshold(const eddy_ws_t *ws) {
  return ws->pmd ? ws->deflate_threshold : SIZE_MAX;
}

/* ---- Receiving
 * --------------------------------------------------------------- */

static void deliver(eddy_ws_t *ws, const char *data, size_t len) {
  if (ws->h.on_message != NULL)
    ws->h.on_message(ws, ws->msg_opcode, data, len, ws->arg);
}

static void frame_error(eddy_ws_t *ws, eddy_ws_error_t e) {
  int err = e == EDDY_WS_ERR_TOO_BIG ? UV_EMSGSIZE
            : e == EDDY_WS_ERR_UTF8  ? UV_EILSEQ
                                     : UV_EPROTO;
  fail(ws, eddy_ws_close_code(e), err, eddy_ws_strerror(e));
}

static void bad_utf8(eddy_ws_t *ws) {
  fail(ws, 1007, UV_EILSEQ, "invalid UTF-8 in a text message");
}

static void inflate_failed(eddy_ws_t *ws, int rc) {
  if (rc == UV_EMSGSIZE)
    fail(ws, 1009, rc, "message too big");
  else if (rc == UV_EILSEQ)
    fail(ws, 1007, rc, "invalid compressed data");
  else
    fail(ws, 1011, rc, "out of memory");
}

static void handle_close(eddy_ws_t *ws) {
  unsigned code;
  const uint8_t *reason;
  size_t rl;
  eddy_ws_error_t e =
      eddy_ws_close_parse(ws->ctl, ws->ctl_len, &code, &reason, &rl);
  if (e != EDDY_WS_OK) {
    frame_error(ws, e);
    return;
  }
  ws->close_received = 1;
  ws->recv_code = code;
  /* ctl is kept from here on: on_close reads the reason from it */
  memmove(ws->ctl, reason, rl);
  ws->recv_reason_len = rl;
  /* Nothing may follow a close frame. */
  ws->stop_reading = 1;
  if (!ws->close_sent)
    send_close(ws, code == 1005 ? 0 : code, NULL);
  ws->state = EDDY__WS_CLOSING;
  eddy_timer_stop(&ws->ping_timer);
  /* The server closes TCP once the handshake is done (RFC 6455 7.1.1); a
   * client waits for it, at most close_timeout. */
  if (ws->role == EDDY_WS_SERVER && !ws->lost)
    lose(ws);
  arm_close_timer(ws);
}

static void handle_control(eddy_ws_t *ws, unsigned opcode) {
  if (opcode == EDDY_WS_OP_CLOSE) {
    handle_close(ws);
    return;
  }
  /* A ping or a pong: its buffer is freed once handled (detached first, as
   * a handler may feed this connection again through a synchronous
   * transport). */
  uint8_t *ctl = ws->ctl;
  size_t n = ws->ctl_len;
  ws->ctl = NULL;
  ws->ctl_len = 0;
  if (opcode == EDDY_WS_OP_PING) {
    if (!ws->close_sent)
      write_frame(ws, EDDY_WS_OP_PONG, 1, 0, ctl, n, 0);
    if (ws->h.on_ping != NULL && !ws->stop_reading)
      ws->h.on_ping(ws, (const char *)ctl, n, ws->arg);
  } else if (ws->h.on_pong != NULL) {
    ws->h.on_pong(ws, (const char *)ctl, n, ws->arg);
  }
  free(ctl);
}

static void frame_start(eddy_ws_t *ws, const eddy_ws_header_t *h,
                        size_t avail) {
  if (h->opcode >= EDDY_WS_OP_CLOSE) {
    ws->ctl_len = 0;
    if (ws->ctl == NULL && (ws->ctl = malloc(EDDY_WS_MAX_CONTROL)) == NULL)
      fail(ws, 1011, UV_ENOMEM, "out of memory");
    return;
  }
  if (h->opcode == EDDY_WS_OP_CONT) {
    ws->msg_inplace = 0;
    return;
  }
  ws->msg_opcode = h->message_opcode;
  ws->msg_compressed = h->rsv1;
  eddy_utf8_init(&ws->utf8);
  eddy_buf_clear(&ws->msg);
  ws->msg_inplace = h->fin && !h->rsv1 && avail >= h->length;
}

static void frame_data(eddy_ws_t *ws, const eddy_ws_header_t *h, uint8_t *data,
                       size_t len, const uint8_t **inplace) {
  if (h->opcode >= EDDY_WS_OP_CLOSE) {
    memcpy(ws->ctl + ws->ctl_len, data, len); /* the decoder caps it at 125 */
    ws->ctl_len += len;
    return;
  }
  if (ws->msg_inplace) {
    *inplace = data; /* the whole payload, in one span */
    return;
  }
  int text = ws->msg_opcode == EDDY_WS_OP_TEXT;
  if (ws->msg_compressed) {
    size_t start = ws->msg.len, got;
    int rc = eddy__ws_zin_feed(&ws->z->zin, data, len, 0, &ws->msg,
                               ws->max_message, &got);
    if (rc != 0) {
      inflate_failed(ws, rc);
      return;
    }
    if (text && got > 0 &&
        eddy_utf8_feed(&ws->utf8, ws->msg.data + start, got) ==
            EDDY_UTF8_INVALID)
      bad_utf8(ws);
    return;
  }
  /* Fail fast: a text fragment that can no longer become valid ends the
   * connection before the rest of the message arrives. */
  if (text && eddy_utf8_feed(&ws->utf8, data, len) == EDDY_UTF8_INVALID) {
    bad_utf8(ws);
    return;
  }
  int rc = eddy_buf_append(&ws->msg, data, len);
  if (rc != 0)
    inflate_failed(ws, rc == UV_ENOBUFS ? UV_EMSGSIZE : rc);
}

static void message_done(eddy_ws_t *ws) {
  if (ws->msg.len > KEEP_BUFFER)
    eddy_buf_free(&ws->msg);
  else
    eddy_buf_clear(&ws->msg);
}

static void frame_end(eddy_ws_t *ws, const eddy_ws_header_t *h,
                      const uint8_t *inplace) {
  if (h->opcode >= EDDY_WS_OP_CLOSE) {
    handle_control(ws, h->opcode);
    return;
  }
  if (!h->fin)
    return;
  int text = ws->msg_opcode == EDDY_WS_OP_TEXT;
  if (ws->msg_inplace) {
    size_t len = (size_t)h->length;
    const char *p = inplace != NULL ? (const char *)inplace : "";
    if (text && eddy_utf8_valid(p, len) != 0) {
      bad_utf8(ws);
      return;
    }
    deliver(ws, p, len);
    return;
  }
  if (ws->msg_compressed) {
    size_t start = ws->msg.len, got;
    int rc = eddy__ws_zin_feed(&ws->z->zin, NULL, 0, 1, &ws->msg,
                               ws->max_message, &got);
    if (rc != 0) {
      inflate_failed(ws, rc);
      return;
    }
    if (text && got > 0)
      eddy_utf8_feed(&ws->utf8, ws->msg.data + start, got);
  }
  if (text && eddy_utf8_finish(&ws->utf8) != 0) {
    bad_utf8(ws);
    return;
  }
  /* A receive from inside on_message (a test feeding bytes) goes to the
   * backlog, so the buffer stays put while it is delivered. */
  deliver(ws, ws->msg.data != NULL ? ws->msg.data : "", ws->msg.len);
  message_done(ws);
}

static void decode(eddy_ws_t *ws, uint8_t *p, size_t n) {
  const uint8_t *inplace = NULL;
  while (n > 0 && !ws->stop_reading) {
    size_t used = 0;
    eddy_ws_result_t res;
    eddy_ws_event_t ev = eddy_ws_decode(&ws->dec, p, n, &used, &res);
    p += used;
    n -= used;
    if (ev == EDDY_WS_NEED_MORE)
      break;
    if (ev == EDDY_WS_ERROR) {
      frame_error(ws, res.error);
      break;
    }
    if (ev == EDDY_WS_HEADER) {
      inplace = NULL;
      frame_start(ws, &res.header, n);
    } else {
      frame_data(ws, &res.header, res.data, res.len, &inplace);
    }
    if (res.frame_end && !ws->stop_reading)
      frame_end(ws, &res.header, inplace);
  }
}

/* Decodes one read. */
static void process(eddy_ws_t *ws, const char *data, size_t len) {
  uint8_t *p;
  int shared = 0;
  eddy_buf_t own; /* when the scratch is busy or too small */
  eddy_buf_init(&own, EDDY_BUF_UNLIMITED);
  if (ws->role == EDDY_WS_SERVER) {
    p = scratch_take(len);
    if (p != NULL) {
      shared = 1;
      memcpy(p, data, len);
    } else {
      if (eddy_buf_append(&own, data, len) != 0) {
        fail(ws, 1011, UV_ENOMEM, "out of memory");
        return;
      }
      p = (uint8_t *)own.data;
    }
  } else {
    /* Server frames are never masked (a masked one is an error at its
     * header), so the decoder does not write to this buffer. */
    p = (uint8_t *)(uintptr_t)data;
  }
  ws->processing = 1;
  decode(ws, p, len);
  ws->processing = 0;
  if (shared) {
    scratch.busy = 0;
    scratch_release(); /* the last server connection went meanwhile */
  } else {
    eddy_buf_free(&own);
  }
  if (ws->corked)
    return; /* eddy_ws_uncork writes what was gathered */
  if (!ws->lost && transport(ws) != NULL && flush_cork(ws) == UV_ENOBUFS &&
      !ws->close_sent)
    overflow(ws);
}

static void drain_backlog(eddy_ws_t *ws) {
  while (ws->backlog.len > 0 && !ws->stop_reading && !ws->processing &&
         !ws->lost && ws->state >= EDDY__WS_OPEN) {
    eddy_buf_t b = ws->backlog;
    eddy_buf_init(&ws->backlog, (size_t)wire_limit(ws) + BACKLOG_EXTRA);
    process(ws, b.data, b.len);
    eddy_buf_free(&b);
  }
  if (ws->stop_reading)
    eddy_buf_free(&ws->backlog);
}

void eddy__ws_receive(eddy_ws_t *ws, const char *data, size_t len) {
  if (ws->stop_reading || len == 0)
    return;
  if (ws->processing || ws->state < EDDY__WS_OPEN) {
    /* Before on_open, or re-entered from a handler: keep the bytes in
     * order for later. */
    if (eddy_buf_append(&ws->backlog, data, len) != 0)
      fail(ws, 1009, UV_EMSGSIZE, "too much data at once");
    return;
  }
  process(ws, data, len);
  drain_backlog(ws);
}

/* ---- Timers
 * -------------------------------------------------------------------- */

static void start_pings(eddy_ws_t *ws) {
  if (ws->ping_interval != EDDY_WS_NEVER && !ws->close_sent)
    eddy_timer_start(&ws->ping_timer, ws->ping_interval, ping_due);
}

static void ping_due(eddy_timer_t *t) {
  eddy_ws_t *ws = t->data;
  if (ws->state != EDDY__WS_OPEN || ws->lost)
    return;
  if (ws->ping_outstanding) {
    /* Nothing at all came back within pong_timeout: the peer or the path
     * is dead, and a close handshake could not complete either. */
    ws->error = UV_ETIMEDOUT;
    eddy_ws_abort(ws);
    return;
  }
  uint64_t idle = eddy_reactor_now(ws->reactor) - ws->last_rx;
  if (idle < ws->ping_interval) {
    eddy_timer_start(&ws->ping_timer, ws->ping_interval - idle, ping_due);
    return;
  }
  if (write_frame(ws, EDDY_WS_OP_PING, 1, 0, NULL, 0, 0) != 0)
    return;
  ws->ping_outstanding = 1;
  if (ws->pong_timeout != EDDY_WS_NEVER)
    eddy_timer_start(&ws->ping_timer, ws->pong_timeout, ping_due);
}

static void close_due(eddy_timer_t *t) {
  eddy_ws_t *ws = t->data;
  if (ws->lost || transport(ws) == NULL)
    return;
  /* A completed handshake whose TCP close is late is still clean. */
  if (ws->error == 0 && !(ws->close_sent && ws->close_received))
    ws->error = UV_ETIMEDOUT;
  ws->stop_reading = 1;
  eddy_transport_abort_connection(transport(ws));
}

/* ---- Protocol callbacks
 * ------------------------------------------------------ */

static void open_now(void *arg) {
  eddy_ws_t *ws = arg;
  if (ws->state != EDDY__WS_OPENING || ws->lost)
    return;
  ws->state = ws->close_sent ? EDDY__WS_CLOSING : EDDY__WS_OPEN;
  ws->last_rx = eddy_reactor_now(ws->reactor);
  start_pings(ws);
  if (ws->h.on_open != NULL)
    ws->h.on_open(ws, ws->arg);
  drain_backlog(ws);
}

void eddy__ws_client_opened(eddy_ws_t *ws,
                            const eddy_ws_deflate_params_t *pmd) {
  if (pmd != NULL && ws->z == NULL) {
    /* an answer to an offer we did not make: client.c refuses it first */
    ws->error = UV_EPROTO;
    eddy_transport_abort_connection(transport(ws));
    return;
  }
  setup_deflate(ws, pmd);
  eddy_ws_decoder_init(&ws->dec, ws->role, ws->pmd, wire_limit(ws));
  ws->state = EDDY__WS_OPENING;
  open_now(ws);
}

static void made(eddy_protocol_t *p) {
  eddy_ws_t *ws = p->data;
  ws->last_rx = eddy_reactor_now(ws->reactor);
  if (ws->client != NULL) {
    ws->state = EDDY__WS_HANDSHAKE;
    eddy__ws_client_made(ws);
    return;
  }
  ws->state = EDDY__WS_OPENING;
  /* Never call on_open from inside the call that made the connection
   * (eddy_ws_accept switches protocols synchronously). */
  eddy__reactor_soon(ws->reactor, &ws->open_soon, open_now, ws);
}

static void received(eddy_protocol_t *p, const char *data, size_t len) {
  eddy_ws_t *ws = p->data;
  ws->last_rx = eddy_reactor_now(ws->reactor);
  ws->ping_outstanding = 0;
  if (ws->state == EDDY__WS_HANDSHAKE) {
    int used = eddy__ws_client_data(ws, data, len);
    if (used < 0 || (size_t)used >= len)
      return;
    data += used;
    len -= (size_t)used;
  }
  eddy__ws_receive(ws, data, len);
}

static void lost(eddy_protocol_t *p, int reason) {
  eddy_ws_t *ws = p->data;
  int was = ws->state;
  ws->lost = 1;
  ws->state = EDDY__WS_GONE;
  eddy_timer_stop(&ws->ping_timer);
  eddy_timer_stop(&ws->close_timer);
  eddy__reactor_soon_cancel(ws->reactor, &ws->open_soon);
  if (was == EDDY__WS_HANDSHAKE || ws->client != NULL) {
    eddy__ws_client_lost(ws, reason);
    return;
  }
  eddy_ws_close_info_t info;
  memset(&info, 0, sizeof(info));
  info.code = ws->close_received ? ws->recv_code : 1006;
  info.reason =
      ws->close_received && ws->ctl != NULL ? (const char *)ws->ctl : "";
  info.reason_len = ws->close_received ? ws->recv_reason_len : 0;
  info.sent_code = ws->sent_code;
  info.clean = ws->close_sent && ws->close_received;
  info.error = ws->error != 0 ? ws->error : info.clean ? 0 : reason;
  if (ws->h.on_close != NULL)
    ws->h.on_close(ws, &info, ws->arg);
}

static void resumed(eddy_protocol_t *p) {
  eddy_ws_t *ws = p->data;
  if (ws->h.on_drain != NULL && !ws->lost && ws->state == EDDY__WS_OPEN &&
      !ws->close_sent)
    ws->h.on_drain(ws, ws->arg);
}

static void destroy(eddy_protocol_t *p) {
  ws_free(p->data);
}

static const eddy_protocol_ops_t ws_ops = {
    .connection_made = made,
    .data_received = received,
    .eof_received = NULL,
    .connection_lost = lost,
    .pause_writing = NULL,
    .resume_writing = resumed,
    .destroy = destroy,
};

/* ---- Inspecting
 * -------------------------------------------------------------- */

size_t eddy_ws_buffered(const eddy_ws_t *ws) {
  return ws != NULL && transport(ws) != NULL && !ws->lost
             ? eddy_transport_write_buffer_size(transport(ws)) + ws->cork.len
             : 0;
}

int eddy_ws_writable(const eddy_ws_t *ws) {
  if (ws == NULL || can_send(ws) != 0)
    return 0;
  return eddy_ws_buffered(ws) < transport(ws)->high_water;
}

const char *eddy_ws_subprotocol(const eddy_ws_t *ws) {
  return ws->subprotocol;
}

int eddy_ws_deflate(const eddy_ws_t *ws, eddy_ws_deflate_params_t *out) {
  if (!ws->pmd)
    return 0;
  if (out != NULL)
    *out = ws->pmdp;
  return 1;
}

eddy_ws_role_t eddy_ws_role(const eddy_ws_t *ws) {
  return ws->role;
}

eddy_reactor_t *eddy_ws_reactor(const eddy_ws_t *ws) {
  return ws->reactor;
}

int eddy_ws_peer(const eddy_ws_t *ws, eddy_addr_t *out) {
  if (ws == NULL || out == NULL || transport(ws) == NULL || ws->lost)
    return UV_ENOTCONN;
  return eddy_transport_get_peer(transport(ws), out);
}

void eddy_ws_set_data(eddy_ws_t *ws, void *data) {
  ws->data = data;
}

void *eddy_ws_data(const eddy_ws_t *ws) {
  return ws->data;
}
