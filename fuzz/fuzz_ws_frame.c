/* fuzz_ws_frame.c — libFuzzer driver for the WebSocket frame codec and the
 * UTF-8 validator.
 *
 * The first input byte picks the decoder's role, whether RSV1
 * (permessage-deflate) is allowed and a small or default message limit; the
 * rest is the byte stream. Checked, aborting on any mismatch:
 *  - split consistency: the stream decoded whole and in pseudo-random pieces
 *    (sizes drawn from the input) gives the same headers, payload and error;
 *  - round trip: since only minimal length encodings are accepted, the
 *    encoding is canonical, so re-encoding every decoded header and
 *    re-masking its payload must rebuild the consumed input byte for byte;
 *  - UTF-8: the streaming validator fed a text message fragment by
 *    fragment agrees with the one-shot check of the whole message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/utf8.h"
#include "eddy/ws_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
  eddy_ws_header_t h[1024];
  size_t nh;
  uint8_t *payload; /* concatenated unmasked payload, capacity = input */
  size_t plen;
  size_t consumed; /* bytes consumed before the error (or all) */
  int error;       /* eddy_ws_error_t + 1, or 0 */
} trace_t;

static void check(int cond) {
  if (!cond)
    abort();
}

/* Decodes s in pieces whose sizes come from sizes[] (cycled); nsizes == 0
 * means all at once. Pieces are copied so in-place unmasking leaves s. */
static void decode(const uint8_t *s, size_t n, uint8_t cfg,
                   const uint8_t *sizes, size_t nsizes, trace_t *t) {
  eddy_ws_decoder_t d;
  eddy_ws_decoder_init(&d, (cfg & 1) ? EDDY_WS_CLIENT : EDDY_WS_SERVER,
                       (cfg >> 1) & 1, (cfg & 4) ? 300 : 0);
  memset(t->h, 0, sizeof t->h);
  t->nh = 0;
  t->plen = 0;
  t->consumed = 0;
  t->error = 0;
  size_t pos = 0, k = 0;
  while (pos <= n && !t->error) {
    size_t piece = n - pos;
    if (nsizes) {
      piece = 1 + (size_t)(sizes[k++ % nsizes] % 9);
      if (piece > n - pos)
        piece = n - pos;
    }
    uint8_t *p = malloc(piece ? piece : 1);
    check(p != NULL);
    memcpy(p, s + pos, piece);
    size_t off = 0;
    for (;;) {
      size_t used;
      eddy_ws_result_t out;
      eddy_ws_event_t ev =
          eddy_ws_decode(&d, p + off, piece - off, &used, &out);
      check(used <= piece - off);
      off += used;
      if (ev == EDDY_WS_NEED_MORE) {
        check(off == piece);
        break;
      }
      if (ev == EDDY_WS_ERROR) {
        t->error = (int)out.error + 1;
        check(eddy_ws_close_code(out.error) >= 1002);
        break;
      }
      if (ev == EDDY_WS_HEADER) {
        if (t->nh < sizeof t->h / sizeof t->h[0])
          t->h[t->nh] = out.header;
        t->nh++;
        t->consumed = pos + off;
      } else {
        check(out.len > 0 && out.data == p + off - used);
        memcpy(t->payload + t->plen, out.data, out.len);
        t->plen += out.len;
        t->consumed = pos + off;
      }
    }
    free(p);
    pos += piece;
    if (piece == 0 && pos == n)
      break;
  }
}

static void same(const trace_t *a, const trace_t *b) {
  check(a->nh == b->nh);
  check(a->error == b->error);
  check(a->plen == b->plen);
  check(a->consumed == b->consumed);
  size_t nh = a->nh < 1024 ? a->nh : 1024;
  check(memcmp(a->h, b->h, nh * sizeof a->h[0]) == 0);
  check(a->plen == 0 || memcmp(a->payload, b->payload, a->plen) == 0);
}

/* Rebuilds the consumed stream from the trace and compares it with s. Also
 * runs the UTF-8 check over text messages. */
static void round_trip(const uint8_t *s, const trace_t *t) {
  if (t->nh > 1024)
    return;
  uint8_t *re = malloc(t->consumed + EDDY_WS_MAX_HEADER);
  check(re != NULL);
  size_t rpos = 0, ppos = 0;
  eddy_utf8_t v;
  /* The text message gathered apart: control frames may interleave. */
  uint8_t *msg = malloc(t->plen + 1);
  size_t mlen = 0;
  check(msg != NULL);
  int in_text = 0;
  for (size_t i = 0; i < t->nh; i++) {
    const eddy_ws_header_t *h = &t->h[i];
    int hl = eddy_ws_encode_header(re + rpos, h->opcode, h->fin, h->rsv1,
                                   h->length, h->masked ? h->mask : NULL);
    check(hl >= 2);
    rpos += (size_t)hl;
    size_t avail = t->plen - ppos;
    size_t len = h->length < avail ? (size_t)h->length : avail;
    if (rpos + len > t->consumed)
      len = t->consumed - rpos;
    memcpy(re + rpos, t->payload + ppos, len);
    if (h->masked)
      eddy_ws_mask(re + rpos, re + rpos, len, h->mask, 0);

    /* Text messages: the fragments' streaming result matches the whole. */
    if (h->opcode == EDDY_WS_OP_TEXT) {
      eddy_utf8_init(&v);
      in_text = 1;
      mlen = 0;
    }
    if (in_text && h->message_opcode == EDDY_WS_OP_TEXT && h->opcode < 0x8) {
      int rc = eddy_utf8_feed(&v, t->payload + ppos, len);
      memcpy(msg + mlen, t->payload + ppos, len);
      mlen += len;
      if (h->fin && len == h->length) {
        int whole = eddy_utf8_valid(msg, mlen);
        check((rc == EDDY_UTF8_OK) == (whole == 0));
        check(eddy_utf8_finish(&v) == whole);
        in_text = 0;
      }
    }
    if (h->opcode == EDDY_WS_OP_CLOSE && len == h->length) {
      unsigned code;
      const uint8_t *reason;
      size_t rlen;
      uint8_t rebuilt[EDDY_WS_MAX_CONTROL];
      if (eddy_ws_close_parse(t->payload + ppos, len, &code, &reason, &rlen) ==
              EDDY_WS_OK &&
          len >= 2) {
        int bl = eddy_ws_close_build(rebuilt, code, (const char *)reason, rlen);
        check(bl == (int)len);
        check(memcmp(rebuilt, t->payload + ppos, len) == 0);
      }
    }
    rpos += len;
    ppos += len;
  }
  free(msg);
  check(rpos == t->consumed);
  check(memcmp(re, s, rpos) == 0);
  free(re);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  uint8_t cfg = data[0];
  const uint8_t *s = data + 1;
  size_t n = size - 1;
  trace_t *a = malloc(sizeof *a), *b = malloc(sizeof *b);
  check(a && b);
  a->payload = malloc(n + 1);
  b->payload = malloc(n + 1);
  check(a->payload && b->payload);

  decode(s, n, cfg, NULL, 0, a);
  /* Piece sizes from the tail of the input: its own bytes vary the split. */
  size_t ns = n < 32 ? n : 32;
  if (ns) {
    decode(s, n, cfg, s + n - ns, ns, b);
    same(a, b);
  }
  static const uint8_t ones[1] = {1};
  decode(s, n, cfg, ones, 1, b);
  same(a, b);
  round_trip(s, a);

  free(a->payload);
  free(b->payload);
  free(a);
  free(b);
  return 0;
}
