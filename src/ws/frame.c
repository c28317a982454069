/* frame.c — the WebSocket frame codec (eddy/ws_frame.h).
 *
 * The header is gathered into the decoder (at most 14 bytes) so a header
 * split anywhere costs nothing to resume; payload is never copied, only
 * unmasked in place and handed back as spans of the caller's buffer.
 * Header rules are checked as soon as the first two bytes are known, so a
 * bad frame fails before its extended length or mask key arrives. */
#include "eddy/ws_frame.h"

#include <string.h>
#include <uv.h>

#include "eddy/utf8.h"

enum { ST_HEADER = 0, ST_PAYLOAD, ST_DEAD };

unsigned eddy_ws_close_code(eddy_ws_error_t err) {
  switch (err) {
  case EDDY_WS_OK:
    return 1000;
  case EDDY_WS_ERR_TOO_BIG:
    return 1009;
  case EDDY_WS_ERR_UTF8:
    return 1007;
  default:
    return 1002;
  }
}

const char *eddy_ws_strerror(eddy_ws_error_t err) {
  switch (err) {
  case EDDY_WS_OK:
    return "ok";
  case EDDY_WS_ERR_RSV:
    return "reserved bit set without a negotiated extension";
  case EDDY_WS_ERR_OPCODE:
    return "unknown opcode";
  case EDDY_WS_ERR_CONTROL_FRAG:
    return "fragmented control frame";
  case EDDY_WS_ERR_CONTROL_LEN:
    return "control frame payload longer than 125 bytes";
  case EDDY_WS_ERR_LENGTH_MSB:
    return "64-bit payload length with the top bit set";
  case EDDY_WS_ERR_NONMINIMAL:
    return "payload length not minimally encoded";
  case EDDY_WS_ERR_MASK_REQUIRED:
    return "unmasked frame from a client";
  case EDDY_WS_ERR_MASK_FORBIDDEN:
    return "masked frame from a server";
  case EDDY_WS_ERR_UNEXPECTED_CONT:
    return "continuation frame without a message";
  case EDDY_WS_ERR_EXPECTED_CONT:
    return "new data frame inside a fragmented message";
  case EDDY_WS_ERR_TOO_BIG:
    return "message too big";
  case EDDY_WS_ERR_UTF8:
    return "invalid UTF-8";
  case EDDY_WS_ERR_CLOSE_PAYLOAD:
    return "invalid close frame payload";
  }
  return "unknown error";
}

void eddy_ws_decoder_init(eddy_ws_decoder_t *d, eddy_ws_role_t role,
                          int allow_rsv1, uint64_t max_message) {
  memset(d, 0, sizeof *d);
  d->role = (uint8_t)role;
  d->allow_rsv1 = allow_rsv1 ? 1 : 0;
  d->hneed = 2;
  d->max_message = max_message ? max_message : EDDY_WS_DEFAULT_MAX_MESSAGE;
}

static int is_control(unsigned op) {
  return op >= 0x8;
}

/* Checks what the first two bytes alone decide. */
static eddy_ws_error_t check_start(const eddy_ws_decoder_t *d, uint8_t b0,
                                   uint8_t b1) {
  unsigned op = b0 & 0x0F;
  int fin = b0 >> 7;
  int rsv1 = (b0 >> 6) & 1;
  int masked = b1 >> 7;
  unsigned len7 = b1 & 0x7F;

  if (b0 & 0x30)
    return EDDY_WS_ERR_RSV;
  if (op != EDDY_WS_OP_CONT && op != EDDY_WS_OP_TEXT &&
      op != EDDY_WS_OP_BINARY && op != EDDY_WS_OP_CLOSE &&
      op != EDDY_WS_OP_PING && op != EDDY_WS_OP_PONG)
    return EDDY_WS_ERR_OPCODE;
  /* permessage-deflate marks only the first frame of a data message. */
  if (rsv1 && (!d->allow_rsv1 || is_control(op) || op == EDDY_WS_OP_CONT))
    return EDDY_WS_ERR_RSV;
  if (is_control(op)) {
    if (!fin)
      return EDDY_WS_ERR_CONTROL_FRAG;
    if (len7 > EDDY_WS_MAX_CONTROL)
      return EDDY_WS_ERR_CONTROL_LEN;
  } else if (op == EDDY_WS_OP_CONT) {
    if (!d->in_message)
      return EDDY_WS_ERR_UNEXPECTED_CONT;
  } else if (d->in_message) {
    return EDDY_WS_ERR_EXPECTED_CONT;
  }
  if (d->role == EDDY_WS_SERVER && !masked)
    return EDDY_WS_ERR_MASK_REQUIRED;
  if (d->role == EDDY_WS_CLIENT && masked)
    return EDDY_WS_ERR_MASK_FORBIDDEN;
  return EDDY_WS_OK;
}

/* The whole header is in hbuf: parse the length and apply the limits. */
static eddy_ws_error_t finish_header(eddy_ws_decoder_t *d) {
  const uint8_t *h = d->hbuf;
  eddy_ws_header_t *c = &d->cur;
  unsigned len7 = h[1] & 0x7F;
  size_t pos = 2;
  uint64_t len = len7;

  if (len7 == 126) {
    len = ((uint64_t)h[2] << 8) | h[3];
    pos = 4;
    if (len < 126)
      return EDDY_WS_ERR_NONMINIMAL;
  } else if (len7 == 127) {
    len = 0;
    for (int i = 0; i < 8; i++)
      len = (len << 8) | h[2 + i];
    pos = 10;
    if (len >> 63)
      return EDDY_WS_ERR_LENGTH_MSB;
    if (len <= 0xFFFF)
      return EDDY_WS_ERR_NONMINIMAL;
  }

  c->fin = h[0] >> 7;
  c->rsv1 = (h[0] >> 6) & 1;
  c->opcode = h[0] & 0x0F;
  c->masked = h[1] >> 7;
  if (c->masked)
    memcpy(c->mask, h + pos, 4);
  else
    memset(c->mask, 0, 4);
  c->length = len;

  if (is_control(c->opcode)) {
    c->message_opcode = c->opcode;
    return EDDY_WS_OK;
  }
  if (c->opcode == EDDY_WS_OP_CONT) {
    if (len > d->max_message - d->msg_size)
      return EDDY_WS_ERR_TOO_BIG;
    d->msg_size += len;
  } else {
    if (len > d->max_message)
      return EDDY_WS_ERR_TOO_BIG;
    d->msg_size = len;
    d->msg_opcode = c->opcode;
  }
  c->message_opcode = d->msg_opcode;
  d->in_message = !c->fin;
  return EDDY_WS_OK;
}

static eddy_ws_event_t fail(eddy_ws_decoder_t *d, eddy_ws_error_t err,
                            eddy_ws_result_t *out) {
  d->state = ST_DEAD;
  d->error = err;
  out->error = err;
  return EDDY_WS_ERROR;
}

eddy_ws_event_t eddy_ws_decode(eddy_ws_decoder_t *d, uint8_t *data, size_t len,
                               size_t *consumed, eddy_ws_result_t *out) {
  size_t i = 0;

  out->header = d->cur;
  out->data = NULL;
  out->len = 0;
  out->frame_end = 0;
  out->error = EDDY_WS_OK;
  *consumed = 0;

  if (d->state == ST_DEAD) {
    out->error = d->error;
    return EDDY_WS_ERROR;
  }

  if (d->state == ST_PAYLOAD) {
    if (len == 0)
      return EDDY_WS_NEED_MORE;
    size_t take = len;
    if ((uint64_t)take > d->remaining)
      take = (size_t)d->remaining;
    if (d->cur.masked)
      eddy_ws_mask(data, data, take, d->cur.mask, d->mask_off);
    d->remaining -= take;
    d->mask_off += take;
    out->data = data;
    out->len = take;
    out->frame_end = d->remaining == 0;
    if (d->remaining == 0)
      d->state = ST_HEADER;
    *consumed = take;
    return EDDY_WS_PAYLOAD;
  }

  while (i < len) {
    d->hbuf[d->hlen++] = data[i++];
    if (d->hlen == 2) {
      eddy_ws_error_t err = check_start(d, d->hbuf[0], d->hbuf[1]);
      if (err != EDDY_WS_OK) {
        *consumed = i;
        return fail(d, err, out);
      }
      unsigned len7 = d->hbuf[1] & 0x7F;
      d->hneed = (uint8_t)(2 +
                           (len7 == 126   ? 2
                            : len7 == 127 ? 8
                                          : 0) +
                           ((d->hbuf[1] & 0x80) ? 4 : 0));
    }
    if (d->hlen >= 2 && d->hlen == d->hneed) {
      eddy_ws_error_t err = finish_header(d);
      *consumed = i;
      if (err != EDDY_WS_OK)
        return fail(d, err, out);
      d->hlen = 0;
      d->hneed = 2;
      d->remaining = d->cur.length;
      d->mask_off = 0;
      d->state = d->remaining ? ST_PAYLOAD : ST_HEADER;
      out->header = d->cur;
      out->frame_end = d->remaining == 0;
      return EDDY_WS_HEADER;
    }
  }
  *consumed = i;
  return EDDY_WS_NEED_MORE;
}

int eddy_ws_encode_header(uint8_t *out, unsigned opcode, int fin, int rsv1,
                          uint64_t len, const uint8_t *mask) {
  size_t pos = 2;

  if (opcode > 0xA || (opcode > 0x2 && opcode < 0x8))
    return UV_EINVAL;
  if (is_control(opcode) && (!fin || len > EDDY_WS_MAX_CONTROL))
    return UV_EINVAL;
  if (rsv1 && (is_control(opcode) || opcode == EDDY_WS_OP_CONT))
    return UV_EINVAL;
  if (len >> 63)
    return UV_EINVAL;

  out[0] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode);
  if (len < 126) {
    out[1] = (uint8_t)len;
  } else if (len <= 0xFFFF) {
    out[1] = 126;
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    pos = 4;
  } else {
    out[1] = 127;
    for (int i = 0; i < 8; i++)
      out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    pos = 10;
  }
  if (mask) {
    out[1] |= 0x80;
    memcpy(out + pos, mask, 4);
    pos += 4;
  }
  return (int)pos;
}

void eddy_ws_mask(uint8_t *dst, const uint8_t *src, size_t n,
                  const uint8_t key[4], uint64_t offset) {
  uint8_t k8[8];
  size_t i = 0;
  for (int j = 0; j < 8; j++)
    k8[j] = key[(offset + (uint64_t)j) & 3];
  /* Eight bytes at a time: the key repeats every 4, so a rotated 8-byte
   * copy of it lines up with every aligned step of i. */
  uint64_t kw;
  memcpy(&kw, k8, 8);
  for (; n - i >= 8; i += 8) {
    uint64_t w;
    memcpy(&w, src + i, 8);
    w ^= kw;
    memcpy(dst + i, &w, 8);
  }
  for (; i < n; i++)
    dst[i] = src[i] ^ k8[i & 7];
}

int eddy_ws_close_code_valid(unsigned code) {
  if (code >= 1000 && code <= 1003)
    return 1;
  if (code >= 1007 && code <= 1014)
    return 1;
  return code >= 3000 && code <= 4999;
}

int eddy_ws_close_build(uint8_t *out, unsigned code, const char *reason,
                        size_t reason_len) {
  if (code == 0)
    return reason_len == 0 ? 0 : UV_EINVAL;
  if (!eddy_ws_close_code_valid(code))
    return UV_EINVAL;
  if (reason_len > EDDY_WS_MAX_CONTROL - 2)
    return UV_EINVAL;
  if (reason_len && eddy_utf8_valid(reason, reason_len) != 0)
    return UV_EINVAL;
  out[0] = (uint8_t)(code >> 8);
  out[1] = (uint8_t)code;
  if (reason_len)
    memcpy(out + 2, reason, reason_len);
  return (int)(2 + reason_len);
}

eddy_ws_error_t eddy_ws_close_parse(const uint8_t *p, size_t n, unsigned *code,
                                    const uint8_t **reason,
                                    size_t *reason_len) {
  *reason = p;
  *reason_len = 0;
  if (n == 0) {
    *code = 1005;
    return EDDY_WS_OK;
  }
  if (n == 1 || n > EDDY_WS_MAX_CONTROL)
    return EDDY_WS_ERR_CLOSE_PAYLOAD;
  *code = ((unsigned)p[0] << 8) | p[1];
  if (!eddy_ws_close_code_valid(*code))
    return EDDY_WS_ERR_CLOSE_PAYLOAD;
  if (eddy_utf8_valid(p + 2, n - 2) != 0)
    return EDDY_WS_ERR_UTF8;
  *reason = p + 2;
  *reason_len = n - 2;
  return EDDY_WS_OK;
}
