/* test_ws_frame.c — the WebSocket frame codec (eddy/ws_frame.h): every
 * RFC 6455 rule the decoder enforces and its close code, fragmentation,
 * the message size limit, encode/decode round trips for every length class
 * with and without masks, the masking helper, close payloads. Streams are
 * fed whole, one byte at a time and split at every point (pairs of points
 * for short ones), each piece in an exact-size allocation so ASan catches
 * any over-read. */
#include "support.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eddy/ws_frame.h>

static eddy_reactor_t *r;
static void setup(void) {
  r = test_reactor(0);
}
static void teardown(void) {
  test_close_reactor(r);
}
TestSuite(ws_frame, .init = setup, .fini = teardown);

/* What a decode run produced: a text log of headers and the error, and the
 * concatenated payload. */
typedef struct {
  char log[4096];
  size_t loglen;
  uint8_t *payload;
  size_t plen, pcap;
  int error; /* eddy_ws_error_t + 1, 0 when none */
  int dead;
} run_t;

static void run_init(run_t *t) {
  memset(t, 0, sizeof *t);
}
static void run_free(run_t *t) {
  free(t->payload);
}

__attribute__((format(printf, 2, 3))) static void logf_(run_t *t,
                                                        const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(t->log + t->loglen, sizeof t->log - t->loglen, fmt, ap);
  va_end(ap);
  cr_assert(n > 0 && (size_t)n < sizeof t->log - t->loglen, "log overflow");
  t->loglen += (size_t)n;
}

/* Feeds one piece (copied to an exact allocation) until it is used up. */
static void feed(eddy_ws_decoder_t *d, run_t *t, const uint8_t *s, size_t n) {
  uint8_t *p = malloc(n ? n : 1);
  cr_assert(p);
  if (n)
    memcpy(p, s, n);
  size_t off = 0;
  while (!t->dead) {
    size_t used;
    eddy_ws_result_t out;
    eddy_ws_event_t ev = eddy_ws_decode(d, p + off, n - off, &used, &out);
    cr_assert(used <= n - off);
    off += used;
    if (ev == EDDY_WS_NEED_MORE) {
      cr_assert_eq(off, n);
      break;
    }
    if (ev == EDDY_WS_ERROR) {
      t->error = (int)out.error + 1;
      t->dead = 1;
      logf_(t, "E%d;", (int)out.error);
      break;
    }
    if (ev == EDDY_WS_HEADER) {
      logf_(t, "H%u/%u/%u/%u/%llu;", out.header.fin, out.header.rsv1,
            out.header.opcode, out.header.message_opcode,
            (unsigned long long)out.header.length);
      if (out.frame_end)
        logf_(t, "end;");
      continue;
    }
    cr_assert_eq(ev, EDDY_WS_PAYLOAD);
    cr_assert(out.len > 0);
    cr_assert(out.data == p + off - used);
    if (t->plen + out.len > t->pcap) {
      t->pcap = (t->plen + out.len) * 2;
      t->payload = realloc(t->payload, t->pcap);
      cr_assert(t->payload);
    }
    memcpy(t->payload + t->plen, out.data, out.len);
    t->plen += out.len;
    if (out.frame_end)
      logf_(t, "end;");
  }
  free(p);
}

typedef struct {
  eddy_ws_role_t role;
  int rsv1;
  uint64_t max;
} cfg_t;

/* Decodes s split at the given cut points (sorted, within [0,n]). */
static void run_cuts(const cfg_t *c, const uint8_t *s, size_t n,
                     const size_t *cuts, size_t ncuts, run_t *t) {
  eddy_ws_decoder_t d;
  eddy_ws_decoder_init(&d, c->role, c->rsv1, c->max);
  run_init(t);
  size_t prev = 0;
  for (size_t i = 0; i <= ncuts; i++) {
    size_t end = i < ncuts ? cuts[i] : n;
    feed(&d, t, s + prev, end - prev);
    prev = end;
  }
  /* An empty feed changes nothing. */
  feed(&d, t, s + n, 0);
}

static void same(const run_t *a, const run_t *b, const char *what) {
  cr_assert_str_eq(a->log, b->log, "%s: log differs", what);
  cr_assert_eq(a->plen, b->plen, "%s: payload length differs", what);
  cr_assert(a->plen == 0 || memcmp(a->payload, b->payload, a->plen) == 0,
            "%s: payload differs", what);
  cr_assert_eq(a->error, b->error, "%s", what);
}

/* Whole, byte at a time, every single split, and every pair of splits when
 * the stream is short: all must agree. Returns the whole run in *whole. */
static void run_all_splits(const cfg_t *c, const uint8_t *s, size_t n,
                           run_t *whole) {
  run_t t;
  run_cuts(c, s, n, NULL, 0, whole);

  if (n > 1) {
    size_t *cuts = malloc((n - 1) * sizeof *cuts);
    cr_assert(cuts);
    for (size_t i = 0; i < n - 1; i++)
      cuts[i] = i + 1;
    run_cuts(c, s, n, cuts, n - 1, &t);
    same(whole, &t, "byte at a time");
    run_free(&t);
    free(cuts);
  }
  size_t step = n > 4096 ? n / 512 : 1;
  for (size_t a = 0; a <= n; a += step) {
    run_cuts(c, s, n, &a, 1, &t);
    same(whole, &t, "one split");
    run_free(&t);
  }
  if (n <= 160) {
    for (size_t a = 0; a <= n; a++)
      for (size_t b = a; b <= n; b++) {
        size_t cuts2[2] = {a, b};
        run_cuts(c, s, n, cuts2, 2, &t);
        same(whole, &t, "two splits");
        run_free(&t);
      }
  }
}

static const cfg_t SERVER = {EDDY_WS_SERVER, 0, 0};
static const cfg_t CLIENT = {EDDY_WS_CLIENT, 0, 0};
static const cfg_t SERVER_DEFLATE = {EDDY_WS_SERVER, 1, 0};

/* Builds a frame: header by the encoder, payload masked when key != NULL. */
static size_t frame(uint8_t *out, unsigned op, int fin, int rsv1,
                    const void *payload, size_t len, const uint8_t *key) {
  int h = eddy_ws_encode_header(out, op, fin, rsv1, len, key);
  cr_assert(h >= 2, "encode failed: %d", h);
  if (len)
    memcpy(out + h, payload, len);
  if (key)
    eddy_ws_mask(out + h, out + h, len, key, 0);
  return (size_t)h + len;
}

static const uint8_t KEY[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Expects the stream to fail with err, the same way at every split. */
static void expect_error(const cfg_t *c, const uint8_t *s, size_t n,
                         eddy_ws_error_t err, unsigned code) {
  run_t t;
  run_all_splits(c, s, n, &t);
  cr_assert_eq(t.error, (int)err + 1, "got %d (%s) want %d", t.error - 1,
               eddy_ws_strerror((eddy_ws_error_t)(t.error ? t.error - 1 : 0)),
               (int)err);
  cr_assert_eq(eddy_ws_close_code(err), code);
  run_free(&t);
}

#define B(...) ((const uint8_t[]){__VA_ARGS__})
#define ERR(cfg, err, code, ...)                                               \
  expect_error(&(cfg), B(__VA_ARGS__), sizeof(B(__VA_ARGS__)), err, code)

Test(ws_frame, rule_errors_and_close_codes) {
  /* RSV bits without an extension; RSV2/3 even with deflate. */
  ERR(CLIENT, EDDY_WS_ERR_RSV, 1002, 0xC1, 0x00);
  ERR(CLIENT, EDDY_WS_ERR_RSV, 1002, 0xA1, 0x00);
  ERR(CLIENT, EDDY_WS_ERR_RSV, 1002, 0x91, 0x00);
  ERR(SERVER_DEFLATE, EDDY_WS_ERR_RSV, 1002, 0xA1, 0x80, 1, 2, 3, 4);
  ERR(SERVER_DEFLATE, EDDY_WS_ERR_RSV, 1002, 0xC9, 0x80, 1, 2, 3, 4);
  /* RSV1 on a continuation, with deflate. */
  ERR(SERVER_DEFLATE, EDDY_WS_ERR_RSV, 1002, 0x41, 0x80, 1, 2, 3, 4, 0xC0, 0x80,
      1, 2, 3, 4);
  /* Unknown opcodes. */
  for (uint8_t op = 3; op <= 0xF; op++) {
    if (op >= 8 && op <= 0xA)
      continue;
    const uint8_t s[2] = {(uint8_t)(0x80 | op), 0x00};
    expect_error(&CLIENT, s, 2, EDDY_WS_ERR_OPCODE, 1002);
  }
  /* Control frames: fragmented, too long (126 via 16-bit length too). */
  ERR(CLIENT, EDDY_WS_ERR_CONTROL_FRAG, 1002, 0x09, 0x00);
  ERR(CLIENT, EDDY_WS_ERR_CONTROL_FRAG, 1002, 0x08, 0x00);
  ERR(CLIENT, EDDY_WS_ERR_CONTROL_LEN, 1002, 0x89, 126, 0, 126);
  ERR(CLIENT, EDDY_WS_ERR_CONTROL_LEN, 1002, 0x8A, 127, 0, 0, 0, 0, 0, 0, 0,
      200);
  /* 64-bit length with the MSB set. */
  ERR(CLIENT, EDDY_WS_ERR_LENGTH_MSB, 1002, 0x82, 127, 0x80, 0, 0, 0, 0, 0, 0,
      0);
  /* Non-minimal lengths. */
  ERR(CLIENT, EDDY_WS_ERR_NONMINIMAL, 1002, 0x82, 126, 0, 125);
  ERR(CLIENT, EDDY_WS_ERR_NONMINIMAL, 1002, 0x82, 127, 0, 0, 0, 0, 0, 0, 0xff,
      0xff);
  ERR(CLIENT, EDDY_WS_ERR_NONMINIMAL, 1002, 0x82, 127, 0, 0, 0, 0, 0, 0, 0, 5);
  /* Masking by role. */
  ERR(SERVER, EDDY_WS_ERR_MASK_REQUIRED, 1002, 0x81, 0x00);
  ERR(CLIENT, EDDY_WS_ERR_MASK_FORBIDDEN, 1002, 0x81, 0x80, 1, 2, 3, 4);
  /* Continuation without a message; new data frame inside one. */
  ERR(CLIENT, EDDY_WS_ERR_UNEXPECTED_CONT, 1002, 0x80, 0x00);
  ERR(CLIENT, EDDY_WS_ERR_UNEXPECTED_CONT, 1002, 0x81, 0x01, 'a', 0x80, 0x00);
  ERR(CLIENT, EDDY_WS_ERR_EXPECTED_CONT, 1002, 0x01, 0x01, 'a', 0x81, 0x00);
  ERR(CLIENT, EDDY_WS_ERR_EXPECTED_CONT, 1002, 0x02, 0x00, 0x89, 0x00, 0x02,
      0x00);
  /* Close codes of the rest. */
  cr_assert_eq(eddy_ws_close_code(EDDY_WS_ERR_TOO_BIG), 1009);
  cr_assert_eq(eddy_ws_close_code(EDDY_WS_ERR_UTF8), 1007);
  cr_assert_eq(eddy_ws_close_code(EDDY_WS_ERR_CLOSE_PAYLOAD), 1002);
  cr_assert_eq(eddy_ws_close_code(EDDY_WS_OK), 1000);
  for (int e = EDDY_WS_OK; e <= EDDY_WS_ERR_CLOSE_PAYLOAD; e++)
    cr_assert_str_neq(eddy_ws_strerror((eddy_ws_error_t)e), "unknown error");
}

Test(ws_frame, errors_are_sticky_and_fail_early) {
  eddy_ws_decoder_t d;
  eddy_ws_decoder_init(&d, EDDY_WS_SERVER, 0, 0);
  /* An unmasked frame fails after two bytes, before its length arrives. */
  uint8_t s[2] = {0x82, 127};
  size_t used;
  eddy_ws_result_t out;
  cr_assert_eq(eddy_ws_decode(&d, s, 2, &used, &out), EDDY_WS_ERROR);
  cr_assert_eq(out.error, EDDY_WS_ERR_MASK_REQUIRED);
  uint8_t ok[6] = {0x81, 0x80, 1, 2, 3, 4};
  cr_assert_eq(eddy_ws_decode(&d, ok, 6, &used, &out), EDDY_WS_ERROR);
  cr_assert_eq(used, 0);
  cr_assert_eq(out.error, EDDY_WS_ERR_MASK_REQUIRED);
}

Test(ws_frame, deflate_rsv1_allowed_on_first_frame) {
  uint8_t s[64];
  size_t n = frame(s, EDDY_WS_OP_TEXT, 0, 1, "ab", 2, KEY);
  n += frame(s + n, EDDY_WS_OP_CONT, 1, 0, "cd", 2, KEY);
  run_t t;
  run_all_splits(&SERVER_DEFLATE, s, n, &t);
  cr_assert_eq(t.error, 0);
  cr_assert_str_eq(t.log, "H0/1/1/1/2;end;H1/0/0/1/2;end;");
  cr_assert_eq(t.plen, 4);
  cr_assert(memcmp(t.payload, "abcd", 4) == 0);
  run_free(&t);
}

Test(ws_frame, fragments_with_interleaved_control) {
  uint8_t s[256];
  size_t n = 0;
  n += frame(s + n, EDDY_WS_OP_BINARY, 0, 0, "one ", 4, NULL);
  n += frame(s + n, EDDY_WS_OP_PING, 1, 0, "p", 1, NULL);
  n += frame(s + n, EDDY_WS_OP_CONT, 0, 0, "", 0, NULL);
  n += frame(s + n, EDDY_WS_OP_PONG, 1, 0, "", 0, NULL);
  n += frame(s + n, EDDY_WS_OP_CONT, 1, 0, "two", 3, NULL);
  n += frame(s + n, EDDY_WS_OP_TEXT, 1, 0, "t", 1, NULL);
  n += frame(s + n, EDDY_WS_OP_CLOSE, 1, 0, "\x03\xe8", 2, NULL);
  run_t t;
  run_all_splits(&CLIENT, s, n, &t);
  cr_assert_eq(t.error, 0);
  /* fin/rsv1/opcode/message_opcode/length */
  cr_assert_str_eq(t.log, "H0/0/2/2/4;end;H1/0/9/9/1;end;H0/0/0/2/0;end;"
                          "H1/0/10/10/0;end;H1/0/0/2/3;end;H1/0/1/1/1;end;"
                          "H1/0/8/8/2;end;");
  cr_assert_eq(t.plen, 4 + 1 + 3 + 1 + 2);
  cr_assert(memcmp(t.payload, "one ptwot\x03\xe8", t.plen) == 0);
  run_free(&t);
}

Test(ws_frame, message_size_limit_sums_fragments) {
  cfg_t lim = {EDDY_WS_CLIENT, 0, 10};
  uint8_t s[64];
  size_t n = 0;
  /* Exactly 10 over three fragments, with a ping between: fine. */
  n += frame(s + n, EDDY_WS_OP_TEXT, 0, 0, "abcd", 4, NULL);
  n += frame(s + n, EDDY_WS_OP_PING, 1, 0, "0123456789ab", 12, NULL);
  n += frame(s + n, EDDY_WS_OP_CONT, 0, 0, "efg", 3, NULL);
  n += frame(s + n, EDDY_WS_OP_CONT, 1, 0, "hij", 3, NULL);
  /* A new message starts the count again. */
  n += frame(s + n, EDDY_WS_OP_BINARY, 1, 0, "0123456789", 10, NULL);
  run_t t;
  run_all_splits(&lim, s, n, &t);
  cr_assert_eq(t.error, 0);
  run_free(&t);

  /* One byte over, across fragments: 1009, reported at the header. */
  size_t m = 0;
  m += frame(s + m, EDDY_WS_OP_TEXT, 0, 0, "abcdef", 6, NULL);
  m += frame(s + m, EDDY_WS_OP_CONT, 1, 0, "ghijk", 5, NULL);
  expect_error(&lim, s, m, EDDY_WS_ERR_TOO_BIG, 1009);
  /* A single frame over the limit, before any payload. */
  m = frame(s, EDDY_WS_OP_BINARY, 1, 0, "0123456789A", 11, NULL);
  expect_error(&lim, s, 2, EDDY_WS_ERR_TOO_BIG, 1009);
  /* A huge declared length against the default limit. */
  ERR(CLIENT, EDDY_WS_ERR_TOO_BIG, 1009, 0x82, 127, 0x7f, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff);
}

/* Encode then decode one frame of every length class, masked or not. */
Test(ws_frame, round_trip_length_classes) {
  static const size_t lens[] = {0,     1,     125,   126,     127,
                                65535, 65536, 70001, 1u << 20};
  for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
    size_t len = lens[li];
    uint8_t *pl = malloc(len + 1);
    cr_assert(pl);
    for (size_t i = 0; i < len; i++)
      pl[i] = (uint8_t)(i * 131 + 7);
    for (int masked = 0; masked <= 1; masked++) {
      uint8_t *s = malloc(len + EDDY_WS_MAX_HEADER);
      cr_assert(s);
      size_t n =
          frame(s, EDDY_WS_OP_BINARY, 1, 0, pl, len, masked ? KEY : NULL);
      size_t want_h = 2 +
                      (len < 126      ? 0
                       : len <= 65535 ? 2
                                      : 8) +
                      (masked ? 4 : 0);
      cr_assert_eq(n, want_h + len);
      const cfg_t *c = masked ? &SERVER : &CLIENT;
      run_t t;
      if (len <= 70001) {
        run_all_splits(c, s, n, &t);
      } else {
        size_t cuts[3] = {1, want_h + 3, n - 5};
        run_cuts(c, s, n, cuts, 3, &t);
      }
      char want[64];
      snprintf(want, sizeof want, "H1/0/2/2/%zu;end;", len);
      cr_assert_str_eq(t.log, want);
      cr_assert_eq(t.plen, len);
      cr_assert(len == 0 || memcmp(t.payload, pl, len) == 0);
      run_free(&t);
      free(s);
    }
    free(pl);
  }
}

Test(ws_frame, encoder_header_bytes_and_rejections) {
  uint8_t h[EDDY_WS_MAX_HEADER];
  cr_assert_eq(eddy_ws_encode_header(h, EDDY_WS_OP_TEXT, 1, 0, 5, NULL), 2);
  cr_assert(h[0] == 0x81 && h[1] == 5);
  cr_assert_eq(eddy_ws_encode_header(h, EDDY_WS_OP_BINARY, 0, 1, 300, KEY), 8);
  cr_assert(h[0] == 0x42 && h[1] == (0x80 | 126) && h[2] == 1 && h[3] == 44);
  cr_assert(memcmp(h + 4, KEY, 4) == 0);
  cr_assert_eq(eddy_ws_encode_header(h, EDDY_WS_OP_BINARY, 1, 0,
                                     UINT64_C(0x7fffffffffffffff), KEY),
               14);
  cr_assert(h[1] == 0xff && h[2] == 0x7f && h[9] == 0xff);

  cr_assert_eq(eddy_ws_encode_header(h, 3, 1, 0, 0, NULL), UV_EINVAL);
  cr_assert_eq(eddy_ws_encode_header(h, 0xB, 1, 0, 0, NULL), UV_EINVAL);
  cr_assert_eq(eddy_ws_encode_header(h, 16, 1, 0, 0, NULL), UV_EINVAL);
  cr_assert_eq(eddy_ws_encode_header(h, EDDY_WS_OP_PING, 0, 0, 0, NULL),
               UV_EINVAL);
  cr_assert_eq(eddy_ws_encode_header(h, EDDY_WS_OP_PING, 1, 0, 126, NULL),
               UV_EINVAL);
  cr_assert_eq(eddy_ws_encode_header(h, EDDY_WS_OP_CLOSE, 1, 1, 2, NULL),
               UV_EINVAL);
  cr_assert_eq(eddy_ws_encode_header(h, EDDY_WS_OP_CONT, 1, 1, 2, NULL),
               UV_EINVAL);
  cr_assert_eq(eddy_ws_encode_header(h, EDDY_WS_OP_BINARY, 1, 0,
                                     UINT64_C(1) << 63, NULL),
               UV_EINVAL);
  cr_assert_eq(eddy_ws_encode_header(h, EDDY_WS_OP_PONG, 1, 0, 125, NULL), 2);
}

Test(ws_frame, mask_in_pieces_matches_whole) {
  uint8_t src[100], whole[100], pieces[100];
  for (int i = 0; i < 100; i++)
    src[i] = (uint8_t)(i * 7);
  eddy_ws_mask(whole, src, 100, KEY, 0);
  for (int i = 0; i < 100; i++)
    cr_assert_eq(whole[i], (uint8_t)(src[i] ^ KEY[i & 3]));
  for (size_t a = 0; a <= 100; a++)
    for (size_t b = a; b <= 100; b += 7) {
      memcpy(pieces, src, 100);
      eddy_ws_mask(pieces, pieces, a, KEY, 0);
      eddy_ws_mask(pieces + a, pieces + a, b - a, KEY, a);
      eddy_ws_mask(pieces + b, pieces + b, 100 - b, KEY, b);
      cr_assert(memcmp(pieces, whole, 100) == 0, "%zu/%zu", a, b);
    }
  /* Masking twice restores the input. */
  eddy_ws_mask(whole, whole, 100, KEY, 0);
  cr_assert(memcmp(whole, src, 100) == 0);
}

Test(ws_frame, close_codes_build_and_parse) {
  static const unsigned good[] = {1000, 1001, 1002, 1003, 1007, 1008,
                                  1009, 1010, 1011, 1012, 1013, 1014,
                                  3000, 3999, 4000, 4999};
  static const unsigned bad[] = {0,    1,    999,  1004, 1005, 1006, 1015,
                                 1016, 1100, 2000, 2999, 5000, 65535};
  uint8_t p[EDDY_WS_MAX_CONTROL];
  unsigned code;
  const uint8_t *reason;
  size_t rlen;
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    cr_assert(eddy_ws_close_code_valid(good[i]));
    int n = eddy_ws_close_build(p, good[i], "bye", 3);
    cr_assert_eq(n, 5);
    cr_assert_eq(eddy_ws_close_parse(p, 5, &code, &reason, &rlen), EDDY_WS_OK);
    cr_assert_eq(code, good[i]);
    cr_assert(rlen == 3 && memcmp(reason, "bye", 3) == 0);
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cr_assert(!eddy_ws_close_code_valid(bad[i]));
    if (bad[i])
      cr_assert_eq(eddy_ws_close_build(p, bad[i], "", 0), UV_EINVAL);
    uint8_t w[2] = {(uint8_t)(bad[i] >> 8), (uint8_t)bad[i]};
    cr_assert_eq(eddy_ws_close_parse(w, 2, &code, &reason, &rlen),
                 EDDY_WS_ERR_CLOSE_PAYLOAD, "code %u", bad[i]);
  }
  /* No code at all. */
  cr_assert_eq(eddy_ws_close_build(p, 0, "", 0), 0);
  cr_assert_eq(eddy_ws_close_build(p, 0, "x", 1), UV_EINVAL);
  cr_assert_eq(eddy_ws_close_parse(p, 0, &code, &reason, &rlen), EDDY_WS_OK);
  cr_assert_eq(code, 1005);
  cr_assert_eq(rlen, 0);
  /* One byte is never a valid close payload. */
  cr_assert_eq(eddy_ws_close_parse(B(0x03), 1, &code, &reason, &rlen),
               EDDY_WS_ERR_CLOSE_PAYLOAD);
  /* Reasons: UTF-8, at most 123 bytes. */
  cr_assert_eq(eddy_ws_close_build(p, 1000, "\xce\xba", 2), 4);
  cr_assert_eq(eddy_ws_close_build(p, 1000, "\xed\xa0\x80", 3), UV_EINVAL);
  cr_assert_eq(eddy_ws_close_parse(B(0x03, 0xe8, 0xed, 0xa0, 0x80), 5, &code,
                                   &reason, &rlen),
               EDDY_WS_ERR_UTF8);
  cr_assert_eq(
      eddy_ws_close_parse(B(0x03, 0xe8, 0xc2), 3, &code, &reason, &rlen),
      EDDY_WS_ERR_UTF8);
  char longr[124];
  memset(longr, 'r', sizeof longr);
  cr_assert_eq(eddy_ws_close_build(p, 1000, longr, 123), 125);
  cr_assert_eq(eddy_ws_close_parse(p, 125, &code, &reason, &rlen), EDDY_WS_OK);
  cr_assert_eq(rlen, 123);
  cr_assert_eq(eddy_ws_close_build(p, 1000, longr, 124), UV_EINVAL);
}

/* A stream of many small frames in every length encoding and both mask
 * states, checked at every pair of split points. */
Test(ws_frame, mixed_stream_every_split) {
  uint8_t s[200];
  size_t n = 0;
  n += frame(s + n, EDDY_WS_OP_TEXT, 1, 0, "", 0, KEY);
  n += frame(s + n, EDDY_WS_OP_PING, 1, 0, "hello", 5, KEY);
  n += frame(s + n, EDDY_WS_OP_BINARY, 0, 0, "abcdefghij", 10, KEY);
  n += frame(s + n, EDDY_WS_OP_CONT, 1, 0, "k", 1, KEY);
  run_t t;
  run_all_splits(&SERVER, s, n, &t);
  cr_assert_eq(t.error, 0);
  cr_assert_eq(t.plen, 16);
  cr_assert(memcmp(t.payload, "helloabcdefghijk", 16) == 0);
  run_free(&t);
}
