/* message.c — a message encoded once and sent to many connections.
 *
 * The server frame (header and payload) is built in one slice at creation;
 * each connection's transport takes a reference to it, so a broadcast to
 * thousands of connections costs one encoding and no copies. Compressed
 * frames are made on first use, once per window size (receivers may have
 * limited our window), which is only possible because servers compress
 * every message with a fresh context (server_no_context_takeover). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "ws_internal.h"

#define WINDOWS 7 /* 9..15 */

struct eddy_ws_message_s {
  atomic_size_t refs;
  unsigned opcode;
  size_t header_len;
  eddy_slice_t *plain; /* header + payload */
  /* Per window size: the compressed frame, or NULL when not made yet or
   * not worth it (then the plain frame is sent). */
  eddy_slice_t *compressed[WINDOWS];
  uint8_t tried[WINDOWS];
};

int eddy_ws_message_new(unsigned opcode, const void *data, size_t len,
                        eddy_ws_message_t **out) {
  if (out == NULL)
    return UV_EINVAL;
  *out = NULL;
  if ((opcode != EDDY_WS_OP_TEXT && opcode != EDDY_WS_OP_BINARY) ||
      (data == NULL && len > 0) || len > SIZE_MAX - EDDY_WS_MAX_HEADER)
    return UV_EINVAL;
  if (opcode == EDDY_WS_OP_TEXT && eddy_utf8_valid(data, len) != 0)
    return UV_EINVAL;
  uint8_t hdr[EDDY_WS_MAX_HEADER];
  int hl = eddy_ws_encode_header(hdr, opcode, 1, 0, len, NULL);
  if (hl < 0)
    return hl;
  eddy_ws_message_t *m = calloc(1, sizeof(*m));
  if (m == NULL)
    return UV_ENOMEM;
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  if (eddy_buf_reserve(&b, (size_t)hl + len) != 0 ||
      eddy_buf_append(&b, hdr, (size_t)hl) != 0 ||
      eddy_buf_append(&b, data, len) != 0 ||
      (m->plain = eddy_slice_from_buf(&b)) == NULL) {
    eddy_buf_free(&b);
    free(m);
    return UV_ENOMEM;
  }
  atomic_init(&m->refs, 1);
  m->opcode = opcode;
  m->header_len = (size_t)hl;
  *out = m;
  return 0;
}

eddy_ws_message_t *eddy_ws_message_ref(eddy_ws_message_t *m) {
  if (m != NULL)
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
  return m;
}

void eddy_ws_message_unref(eddy_ws_message_t *m) {
  if (m == NULL ||
      atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
    return;
  eddy_slice_unref(m->plain);
  for (int i = 0; i < WINDOWS; i++)
    eddy_slice_unref(m->compressed[i]);
  free(m);
}

unsigned eddy_ws_message_opcode(const eddy_ws_message_t *m) {
  return m->opcode;
}

const char *eddy_ws_message_data(const eddy_ws_message_t *m, size_t *len) {
  if (len != NULL)
    *len = eddy_slice_len(m->plain) - m->header_len;
  return eddy_slice_data(m->plain) + m->header_len;
}

/* The compressed frame for a window, made on first use; NULL when it would
 * not be smaller than the plain one (or out of memory: plain still works). */
static eddy_slice_t *compressed(eddy_ws_message_t *m, unsigned window_bits,
                                int level) {
  int i = (int)window_bits - 9;
  if (m->tried[i])
    return m->compressed[i];
  m->tried[i] = 1;
  size_t len;
  const char *payload = eddy_ws_message_data(m, &len);
  eddy_buf_t z;
  eddy_buf_init(&z, EDDY_BUF_UNLIMITED);
  if (eddy__ws_deflate_once(window_bits, level, payload, len, &z) != 0 ||
      z.len >= len) {
    eddy_buf_free(&z);
    return NULL;
  }
  uint8_t hdr[EDDY_WS_MAX_HEADER];
  int hl = eddy_ws_encode_header(hdr, m->opcode, 1, 1, z.len, NULL);
  eddy_buf_t f;
  eddy_buf_init(&f, EDDY_BUF_UNLIMITED);
  if (hl > 0 && eddy_buf_reserve(&f, (size_t)hl + z.len) == 0) {
    eddy_buf_append(&f, hdr, (size_t)hl);
    eddy_buf_append(&f, z.data, z.len);
    m->compressed[i] = eddy_slice_from_buf(&f);
  }
  eddy_buf_free(&f);
  eddy_buf_free(&z);
  return m->compressed[i];
}

int eddy_ws_send_message(eddy_ws_t *ws, eddy_ws_message_t *m) {
  if (ws == NULL || m == NULL)
    return UV_EINVAL;
  size_t len;
  const char *payload = eddy_ws_message_data(m, &len);
  if (ws->role != EDDY_WS_SERVER)
    return eddy_ws_send(ws, m->opcode, payload, len); /* masked per frame */
  eddy_slice_t *frame = m->plain;
  if (len >= eddy__ws_deflate_threshold(ws)) {
    unsigned w = eddy__ws_shared_window(ws);
    if (w == 0) /* this connection keeps a context: it compresses itself */
      return eddy_ws_send(ws, m->opcode, payload, len);
    eddy_slice_t *z = compressed(m, w, eddy__ws_deflate_level(ws));
    if (z != NULL)
      frame = z;
  }
  return eddy__ws_write_slice(ws, frame);
}
