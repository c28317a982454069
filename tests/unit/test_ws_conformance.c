/* test_ws_conformance.c — our own suite over what Autobahn's case groups
 * cover: 1 framing, 2 pings/pongs, 3 reserved bits, 4 opcodes,
 * 5 fragmentation, 6 UTF-8, 7 close handling, 9 limits (up to 16 MiB),
 * 10 auto-fragmentation, 12/13 permessage-deflate. Every case runs against
 * the server role AND the client role: a hand-driven peer (ws_peer.h) feeds
 * raw frames — whole, one byte at a time, or in chunks — to an echoing
 * connection on a string transport and checks every frame it writes. */
#include "support.h"
#include "ws_peer.h"

#include <stdio.h>

#define BOTH(name)                                                             \
  static void name(eddy_ws_role_t role);                                       \
  Test(ws_conformance, name) {                                                 \
    name(EDDY_WS_SERVER);                                                      \
    name(EDDY_WS_CLIENT);                                                      \
  }                                                                            \
  static void name(eddy_ws_role_t role)

static uint8_t *pattern(size_t n, unsigned seed) {
  uint8_t *b = malloc(n ? n : 1);
  cr_assert(b != NULL);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    b[i] = (uint8_t)(x >> 16);
  }
  return b;
}

/* Valid UTF-8 of exactly n bytes: ASCII with 2-, 3- and 4-byte characters
 * mixed in. */
static char *utf8_text(size_t n) {
  static const char *units[] = {"hello ",
                                "\xce\xba\xe1\xbd\xb9\xcf\x83",
                                "-",
                                "\xf0\x9f\x98\x80",
                                "\xe2\x82\xac",
                                "x"};
  char *t = malloc(n + 1);
  cr_assert(t != NULL);
  size_t at = 0, u = 0;
  while (at < n) {
    const char *s = units[u++ % 6];
    size_t l = strlen(s);
    if (at + l > n)
      s = "y", l = 1;
    memcpy(t + at, s, l);
    at += l;
  }
  t[n] = '\0';
  cr_assert_eq(eddy_utf8_valid(t, n), 0);
  return t;
}

/* ---- 1: framing
 * -------------------------------------------------------------- */

BOTH(framing_lengths) {
  static const size_t lens[] = {0, 1, 125, 126, 127, 128, 65535, 65536, 100000};
  for (int mode = 0; mode < 3; mode++) {
    peer_t p;
    peer_open(&p, role, NULL, NULL);
    p.chunk = mode == 1 ? 7 : mode == 2 ? 4096 : 0;
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
      char *t = utf8_text(lens[i]);
      uint8_t *b = pattern(lens[i], (unsigned)i);
      peer_send(&p, EDDY_WS_OP_TEXT, 1, t, lens[i]);
      peer_expect_message(&p, EDDY_WS_OP_TEXT, t, lens[i]);
      peer_send(&p, EDDY_WS_OP_BINARY, 1, b, lens[i]);
      peer_expect_message(&p, EDDY_WS_OP_BINARY, b, lens[i]);
      free(t);
      free(b);
    }
    cr_assert_eq(p.nmsgs, 18);
    peer_close(&p);
  }
}

BOTH(framing_bytewise) {
  peer_t p;
  peer_open(&p, role, NULL, NULL);
  p.bytewise = 1;
  static const size_t lens[] = {0, 5, 125, 126, 300};
  for (size_t i = 0; i < 5; i++) {
    uint8_t *b = pattern(lens[i], 9);
    peer_send(&p, EDDY_WS_OP_BINARY, 1, b, lens[i]);
    peer_expect_message(&p, EDDY_WS_OP_BINARY, b, lens[i]);
    free(b);
  }
  peer_close(&p);
}

BOTH(framing_many_in_one_read) {
  peer_t p;
  peer_open(&p, role, NULL, NULL);
  /* Ten frames in one feed: all delivered in place, all echoed. */
  uint8_t all[4096];
  size_t at = 0;
  for (int i = 0; i < 10; i++) {
    char msg[32];
    int n = snprintf(msg, sizeof(msg), "message %d", i);
    size_t fl;
    uint8_t *f = peer_build(&p, 0x81, msg, (size_t)n, &fl);
    memcpy(all + at, f, fl);
    at += fl;
    free(f);
  }
  peer_feed(&p, all, at);
  for (int i = 0; i < 10; i++) {
    char msg[32];
    int n = snprintf(msg, sizeof(msg), "message %d", i);
    peer_expect_message(&p, EDDY_WS_OP_TEXT, msg, (size_t)n);
  }
  peer_close(&p);
}

/* ---- 2: pings and pongs
 * -------------------------------------------------------- */

BOTH(ping_pong) {
  peer_t p;
  peer_open(&p, role, NULL, NULL);
  peer_send(&p, EDDY_WS_OP_PING, 1, NULL, 0);
  peer_expect_pong(&p, NULL, 0);
  uint8_t *b = pattern(125, 3);
  peer_send(&p, EDDY_WS_OP_PING, 1, b, 125);
  peer_expect_pong(&p, b, 125);
  free(b);
  /* Unsolicited pongs are ignored. */
  peer_send(&p, EDDY_WS_OP_PONG, 1, "x", 1);
  peer_expect_nothing(&p);
  cr_assert_eq(p.pongs, 1);
  /* Ten pings fed one byte at a time: ten pongs. */
  p.bytewise = 1;
  for (int i = 0; i < 10; i++) {
    char m[8];
    int n = snprintf(m, sizeof(m), "p%d", i);
    peer_send(&p, EDDY_WS_OP_PING, 1, m, (size_t)n);
  }
  for (int i = 0; i < 10; i++) {
    char m[8];
    int n = snprintf(m, sizeof(m), "p%d", i);
    peer_expect_pong(&p, m, (size_t)n);
  }
  cr_assert_eq(p.pings, 12);
  peer_close(&p);
}

BOTH(ping_too_long) {
  peer_t p;
  peer_open(&p, role, NULL, NULL);
  uint8_t *b = pattern(126, 1);
  peer_send(&p, EDDY_WS_OP_PING, 1, b, 126);
  free(b);
  peer_expect_close(&p, 1002);
  peer_expect_nothing(&p);
  peer_expect_tcp_closed(&p);
  peer_close(&p);
  cr_assert_eq(p.info.sent_code, 1002);
  cr_assert_eq(p.info.error, UV_EPROTO);
}

BOTH(ping_fragmented) {
  peer_t p;
  peer_open(&p, role, NULL, NULL);
  peer_send(&p, EDDY_WS_OP_PING, 0, "a", 1);
  peer_expect_close(&p, 1002);
  peer_close(&p);
}

BOTH(pong_fragmented) {
  peer_t p;
  peer_open(&p, role, NULL, NULL);
  peer_send(&p, EDDY_WS_OP_PONG, 0, "a", 1);
  peer_expect_close(&p, 1002);
  peer_close(&p);
}

/* ---- 3: reserved bits
 * ---------------------------------------------------------- */

BOTH(reserved_bits) {
  static const unsigned rsv[] = {0x40, 0x20, 0x10, 0x60, 0x50, 0x30, 0x70};
  for (size_t i = 0; i < 7; i++) {
    peer_t p;
    peer_open(&p, role, NULL, NULL);
    /* A good message, then the bad frame, then a ping: the echo, the
     * close, and no pong. */
    peer_send(&p, EDDY_WS_OP_TEXT, 1, "ok", 2);
    unsigned op = i % 3 == 0   ? EDDY_WS_OP_TEXT
                  : i % 3 == 1 ? EDDY_WS_OP_BINARY
                               : EDDY_WS_OP_PING;
    peer_raw(&p, 0x80 | rsv[i] | op, "bad", 3);
    peer_send(&p, EDDY_WS_OP_PING, 1, NULL, 0);
    peer_expect_message(&p, EDDY_WS_OP_TEXT, "ok", 2);
    peer_expect_close(&p, 1002);
    peer_expect_nothing(&p);
    peer_close(&p);
  }
}

/* ---- 4: opcodes
 * ------------------------------------------------------------------ */

BOTH(reserved_opcodes) {
  static const unsigned ops[] = {3, 4, 5, 6, 7, 11, 12, 13, 14, 15};
  for (size_t i = 0; i < 10; i++) {
    for (int len = 0; len < 2; len++) {
      peer_t p;
      peer_open(&p, role, NULL, NULL);
      peer_send(&p, EDDY_WS_OP_TEXT, 1, "ok", 2);
      peer_raw(&p, 0x80 | ops[i], "reserved", len ? 8 : 0);
      peer_send(&p, EDDY_WS_OP_PING, 1, NULL, 0);
      peer_expect_message(&p, EDDY_WS_OP_TEXT, "ok", 2);
      peer_expect_close(&p, 1002);
      peer_expect_nothing(&p);
      peer_close(&p);
    }
  }
}

/* ---- 5: fragmentation
 * -------------------------------------------------------- */

BOTH(fragments) {
  for (int bw = 0; bw < 2; bw++) {
    peer_t p;
    peer_open(&p, role, NULL, NULL);
    p.bytewise = bw;
    peer_send(&p, EDDY_WS_OP_TEXT, 0, "frag", 4);
    peer_send(&p, EDDY_WS_OP_CONT, 1, "ment", 4);
    peer_expect_message(&p, EDDY_WS_OP_TEXT, "fragment", 8);
    /* Pings between fragments are answered at once. */
    peer_send(&p, EDDY_WS_OP_BINARY, 0, "ab", 2);
    peer_send(&p, EDDY_WS_OP_PING, 1, "P", 1);
    peer_expect_pong(&p, "P", 1);
    peer_send(&p, EDDY_WS_OP_CONT, 0, "", 0);
    peer_send(&p, EDDY_WS_OP_PONG, 1, "Q", 1);
    peer_send(&p, EDDY_WS_OP_CONT, 1, "cd", 2);
    peer_expect_message(&p, EDDY_WS_OP_BINARY, "abcd", 4);
    /* A message in 1-byte fragments. */
    char *t = utf8_text(200);
    peer_send(&p, EDDY_WS_OP_TEXT, 0, t, 1);
    for (int i = 1; i < 200; i++)
      peer_send(&p, EDDY_WS_OP_CONT, i == 199, t + i, 1);
    peer_expect_message(&p, EDDY_WS_OP_TEXT, t, 200);
    free(t);
    /* Empty fragments only. */
    peer_send(&p, EDDY_WS_OP_TEXT, 0, "", 0);
    peer_send(&p, EDDY_WS_OP_CONT, 0, "", 0);
    peer_send(&p, EDDY_WS_OP_CONT, 1, "", 0);
    peer_expect_message(&p, EDDY_WS_OP_TEXT, "", 0);
    peer_close(&p);
  }
}

BOTH(fragment_errors) {
  for (int c = 0; c < 4; c++) {
    peer_t p;
    peer_open(&p, role, NULL, NULL);
    switch (c) {
    case 0: /* continuation with nothing to continue */
      peer_send(&p, EDDY_WS_OP_CONT, 1, "x", 1);
      break;
    case 1:
      peer_send(&p, EDDY_WS_OP_CONT, 0, "x", 1);
      peer_send(&p, EDDY_WS_OP_CONT, 1, "y", 1);
      break;
    case 2: /* a new message while one is open */
      peer_send(&p, EDDY_WS_OP_TEXT, 0, "x", 1);
      peer_send(&p, EDDY_WS_OP_TEXT, 1, "y", 1);
      break;
    default: /* a fragmented control frame inside a message */
      peer_send(&p, EDDY_WS_OP_TEXT, 0, "x", 1);
      peer_send(&p, EDDY_WS_OP_PING, 0, "y", 1);
      break;
    }
    peer_expect_close(&p, 1002);
    peer_expect_nothing(&p);
    cr_assert_eq(p.nmsgs, 0);
    peer_close(&p);
  }
}

/* ---- 6: UTF-8
 * --------------------------------------------------------------------- */

static const char *valid_utf8[] = {
    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", /* κόσμε */
    "\xf0\x90\x80\x80",                             /* U+10000 */
    "\xf4\x8f\xbf\xbf",                             /* U+10FFFF */
    "\xef\xbf\xbf",                                 /* U+FFFF */
    "\xed\x9f\xbf",                                 /* U+D7FF */
    "\xee\x80\x80",                                 /* U+E000 */
    "\xc2\x80\x7f\xdf\xbf",
    "",
};

static const char *invalid_utf8[] = {
    /* κόσμε + a surrogate + "edited" (Autobahn 6.3) */
    ("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
     "edited"),
    "\x80", /* lone continuation */
    "\xbf",
    "\xc0\xaf", /* overlong '/' */
    "\xe0\x80\xaf",
    "\xf0\x80\x80\xaf",
    "\xc1\xbf",
    "\xe0\x9f\xbf", /* overlong U+07FF */
    "\xf0\x8f\xbf\xbf",
    "\xed\xa0\x80", /* U+D800 */
    "\xed\xbf\xbf", /* U+DFFF */
    "\xed\xa0\x80\xed\xb0\x80",
    "\xf4\x90\x80\x80", /* above U+10FFFF */
    "\xf5\x80\x80\x80",
    "\xfe",
    "\xff",
    "\xfe\xfe\xff\xff",
    "\xc0", /* truncated */
    "\xe0\xa0",
    "\xf0\x90\x80",
    "a\xc2",
    "\xc2\x41", /* continuation missing */
};

BOTH(utf8_valid_split_everywhere) {
  for (size_t i = 0; i < sizeof(valid_utf8) / sizeof(valid_utf8[0]); i++) {
    const char *s = valid_utf8[i];
    size_t n = strlen(s);
    peer_t p;
    peer_open(&p, role, NULL, NULL);
    peer_send(&p, EDDY_WS_OP_TEXT, 1, s, n);
    peer_expect_message(&p, EDDY_WS_OP_TEXT, s, n);
    /* Two fragments split at every byte, incl. inside characters. */
    for (size_t cut = 0; cut <= n; cut++) {
      peer_send(&p, EDDY_WS_OP_TEXT, 0, s, cut);
      peer_send(&p, EDDY_WS_OP_CONT, 1, s + cut, n - cut);
      peer_expect_message(&p, EDDY_WS_OP_TEXT, s, n);
    }
    /* One fragment per byte. */
    if (n > 0) {
      peer_send(&p, EDDY_WS_OP_TEXT, n == 1, s, 1);
      for (size_t k = 1; k < n; k++)
        peer_send(&p, EDDY_WS_OP_CONT, k == n - 1, s + k, 1);
      peer_expect_message(&p, EDDY_WS_OP_TEXT, s, n);
    }
    peer_close(&p);
  }
}

BOTH(utf8_invalid) {
  for (size_t i = 0; i < sizeof(invalid_utf8) / sizeof(invalid_utf8[0]); i++) {
    const char *s = invalid_utf8[i];
    size_t n = strlen(s);
    for (int mode = 0; mode < 3; mode++) {
      peer_t p;
      peer_open(&p, role, NULL, NULL);
      p.bytewise = mode == 1;
      if (mode == 2) { /* one byte per fragment */
        for (size_t k = 0; k < n && !p.closed; k++)
          peer_send(&p, k == 0 ? EDDY_WS_OP_TEXT : EDDY_WS_OP_CONT, k == n - 1,
                    s + k, 1);
      } else {
        peer_send(&p, EDDY_WS_OP_TEXT, 1, s, n);
      }
      peer_expect_close(&p, 1007);
      peer_expect_nothing(&p);
      cr_assert_eq(p.nmsgs, 0);
      peer_close(&p);
      cr_assert_eq(p.info.error, UV_EILSEQ);
    }
  }
}

BOTH(utf8_fail_fast) {
  peer_t p;
  peer_open(&p, role, NULL, NULL);
  /* The first fragment is already hopeless: the close comes before the
   * message is finished. */
  peer_send(&p, EDDY_WS_OP_TEXT, 0, "abc\xed\xa0\x80", 6);
  peer_expect_close(&p, 1007);
  peer_close(&p);

  /* Inside one frame, as soon as the bad byte has arrived. */
  peer_open(&p, role, NULL, NULL);
  char payload[64];
  memset(payload, 'a', sizeof(payload));
  payload[10] = (char)0xff;
  size_t fl;
  uint8_t *f = peer_build(&p, 0x81, payload, sizeof(payload), &fl);
  size_t hdr = fl - sizeof(payload);
  peer_feed(&p, f, hdr + 20);
  peer_expect_close(&p, 1007);
  free(f);
  peer_close(&p);
}

/* ---- 7: close handling
 * ---------------------------------------------------------- */

static void send_close(peer_t *p, unsigned code, const char *reason) {
  uint8_t b[EDDY_WS_MAX_CONTROL];
  size_t n = 0;
  if (code != 0) {
    b[0] = (uint8_t)(code >> 8);
    b[1] = (uint8_t)code;
    n = 2;
    size_t rl = reason != NULL ? strlen(reason) : 0;
    if (rl > 0)
      memcpy(b + 2, reason, rl);
    n += rl;
  }
  peer_send(p, EDDY_WS_OP_CLOSE, 1, b, n);
}

BOTH(close_valid_codes) {
  static const unsigned codes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                   1010, 1011, 3000, 3999, 4000, 4999};
  for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
    peer_t p;
    peer_open(&p, role, NULL, NULL);
    send_close(&p, codes[i], "bye");
    peer_expect_close(&p, codes[i]); /* the code is echoed */
    peer_expect_nothing(&p);
    peer_expect_tcp_closed(&p);
    peer_close(&p);
    cr_assert_eq(p.info.code, codes[i]);
    cr_assert_str_eq(p.reason, "bye");
    cr_assert(p.info.clean);
    cr_assert_eq(p.info.error, 0);
  }
}

BOTH(close_invalid_codes) {
  static const unsigned codes[] = {0,    999,  1004, 1005, 1006, 1015,
                                   1016, 1100, 2000, 2999, 5000, 65535};
  for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
    peer_t p;
    peer_open(&p, role, NULL, NULL);
    uint8_t b[2] = {(uint8_t)(codes[i] >> 8), (uint8_t)codes[i]};
    peer_send(&p, EDDY_WS_OP_CLOSE, 1, b, 2);
    peer_expect_close(&p, 1002);
    peer_close(&p);
  }
}

BOTH(close_payloads) {
  peer_t p;
  /* Empty close: answered with an empty close. */
  peer_open(&p, role, NULL, NULL);
  send_close(&p, 0, NULL);
  peer_expect_close(&p, 0);
  peer_close(&p);
  cr_assert_eq(p.info.code, 1005);
  /* One byte: a protocol error. */
  peer_open(&p, role, NULL, NULL);
  peer_send(&p, EDDY_WS_OP_CLOSE, 1, "\x03", 1);
  peer_expect_close(&p, 1002);
  peer_close(&p);
  /* Longest reason. */
  peer_open(&p, role, NULL, NULL);
  char reason[124];
  memset(reason, 'r', 123);
  reason[123] = '\0';
  send_close(&p, 1000, reason);
  peer_expect_close(&p, 1000);
  peer_close(&p);
  cr_assert_eq(p.info.reason_len, 123);
  /* A reason that is not UTF-8. */
  peer_open(&p, role, NULL, NULL);
  send_close(&p, 1000, "\xce\xba\xed\xa0\x80");
  peer_expect_close(&p, 1007);
  peer_close(&p);
}

BOTH(close_then_nothing) {
  peer_t p;
  peer_open(&p, role, NULL, NULL);
  p.bytewise = 1;
  /* Whatever follows a close is ignored: no echo, no pong, no 2nd close. */
  send_close(&p, 1000, NULL);
  peer_send(&p, EDDY_WS_OP_TEXT, 1, "late", 4);
  peer_send(&p, EDDY_WS_OP_PING, 1, NULL, 0);
  send_close(&p, 1000, NULL);
  peer_expect_close(&p, 1000);
  peer_expect_nothing(&p);
  cr_assert_eq(p.nmsgs, 0);
  peer_close(&p);
}

BOTH(close_inside_fragmented) {
  peer_t p;
  peer_open(&p, role, NULL, NULL);
  peer_send(&p, EDDY_WS_OP_TEXT, 0, "part", 4);
  send_close(&p, 1000, NULL);
  peer_send(&p, EDDY_WS_OP_CONT, 1, "rest", 4);
  peer_expect_close(&p, 1000);
  peer_expect_nothing(&p);
  cr_assert_eq(p.nmsgs, 0);
  peer_close(&p);
}

BOTH(close_initiated_locally) {
  peer_t p;
  peer_open(&p, role, NULL, NULL);
  cr_assert_eq(eddy_ws_close(p.ws, 4001, "done"), 0);
  cr_assert_eq(eddy_ws_close(p.ws, 1000, NULL), UV_EALREADY);
  cr_assert_eq(eddy_ws_send_text(p.ws, "x", 1), UV_EPIPE);
  peer_expect_close(&p, 4001);
  /* Messages before the peer's close are still delivered. */
  p.echo = 0;
  peer_send(&p, EDDY_WS_OP_TEXT, 1, "still", 5);
  cr_assert_eq(p.nmsgs, 1);
  send_close(&p, 4001, NULL);
  peer_expect_nothing(&p);
  peer_expect_tcp_closed(&p);
  peer_close(&p);
  cr_assert(p.info.clean);
  cr_assert_eq(p.info.sent_code, 4001);
}

BOTH(close_timeout) {
  peer_t p;
  peer_open(&p, role, NULL, NULL);
  cr_assert_eq(eddy_ws_close(p.ws, 1000, NULL), 0);
  peer_expect_close(&p, 1000);
  /* The peer never answers. */
  eddy_reactor_advance(p.r, EDDY_WS_CLOSE_TIMEOUT_DEFAULT - 1);
  cr_assert(!eddy_string_transport_abort_called(p.st));
  eddy_reactor_advance(p.r, 1);
  cr_assert(eddy_string_transport_abort_called(p.st));
  peer_spin(&p);
  cr_assert_eq(p.closed, 1);
  cr_assert_eq(p.info.error, UV_ETIMEDOUT);
  cr_assert_eq(p.info.code, 1006);
  cr_assert(!p.info.clean);
  peer_close(&p);
}

/* ---- 9: limits
 * ---------------------------------------------------------------------- */

static void big_echo(eddy_ws_role_t role, size_t n, size_t frag, int text) {
  peer_t p;
  peer_open(&p, role, NULL, NULL);
  p.chunk = 256 * 1024;
  uint8_t *m = text ? (uint8_t *)utf8_text(n) : pattern(n, (unsigned)n);
  unsigned op = text ? EDDY_WS_OP_TEXT : EDDY_WS_OP_BINARY;
  if (frag == 0) {
    peer_send(&p, op, 1, m, n);
  } else {
    for (size_t off = 0; off < n; off += frag) {
      size_t k = n - off < frag ? n - off : frag;
      peer_send(&p, off == 0 ? op : EDDY_WS_OP_CONT, off + k == n, m + off, k);
    }
  }
  peer_expect_message(&p, op, m, n);
  free(m);
  peer_close(&p);
}

BOTH(limits_sizes) {
  big_echo(role, (size_t)1 << 20, 0, 1);
  big_echo(role, (size_t)1 << 20, 0, 0);
  big_echo(role, (size_t)4 << 20, 64 * 1024, 0);
  big_echo(role, (size_t)16 << 20, 0, 0);
  big_echo(role, (size_t)16 << 20, (size_t)4 << 20, 1);
}

BOTH(limits_too_big) {
  eddy_ws_config_t cfg = {0};
  cfg.max_message = 1000;
  peer_t p;
  peer_open(&p, role, &cfg, NULL);
  uint8_t *b = pattern(1000, 1);
  peer_send(&p, EDDY_WS_OP_BINARY, 1, b, 1000);
  peer_expect_message(&p, EDDY_WS_OP_BINARY, b, 1000);
  peer_send(&p, EDDY_WS_OP_BINARY, 0, b, 600);
  peer_send(&p, EDDY_WS_OP_CONT, 1, b, 401);
  peer_expect_close(&p, 1009);
  free(b);
  peer_close(&p);
  cr_assert_eq(p.info.error, UV_EMSGSIZE);
}

/* ---- 10: auto-fragmentation
 * ----------------------------------------------------- */

BOTH(auto_fragmentation) {
  static const size_t sizes[] = {1300, 1024, 100, 65536};
  for (size_t i = 0; i < 4; i++) {
    eddy_ws_config_t cfg = {0};
    cfg.fragment_size = sizes[i];
    peer_t p;
    peer_open(&p, role, &cfg, NULL);
    char *t = utf8_text(65536);
    peer_send(&p, EDDY_WS_OP_TEXT, 1, t, 65536);
    size_t before = p.nframes;
    peer_expect_message(&p, EDDY_WS_OP_TEXT, t, 65536);
    size_t frames = p.nframes - before;
    cr_assert_eq(frames, (65536 + sizes[i] - 1) / sizes[i]);
    for (size_t k = before; k < p.nframes; k++)
      cr_assert(p.frames[k].len <= sizes[i]);
    free(t);
    peer_close(&p);
  }
}

/* ---- 12 / 13: permessage-deflate
 * ---------------------------------------------- */

static const eddy_ws_deflate_params_t pmd_sets[] = {
    {15, 15, 0, 0}, {15, 15, 1, 0}, {15, 15, 0, 1}, {15, 15, 1, 1},
    {9, 9, 1, 1},   {9, 15, 0, 0},  {12, 10, 1, 0}, {15, 9, 0, 1},
};

static uint8_t *compressible(size_t n, unsigned seed) {
  uint8_t *b = malloc(n ? n : 1);
  cr_assert(b != NULL);
  static const char words[] =
      "{\"channel\":\"prices\",\"value\":1234,\"ok\":true}";
  for (size_t i = 0; i < n; i++)
    b[i] = (uint8_t)words[(i + seed) % (sizeof(words) - 1)];
  return b;
}

BOTH(deflate_echo) {
  static const size_t sizes[] = {0, 1, 16, 64, 256, 1024, 4096, 32768, 131072};
  for (size_t s = 0; s < sizeof(pmd_sets) / sizeof(pmd_sets[0]); s++) {
    eddy_ws_config_t cfg = {0};
    cfg.deflate_threshold = 1;
    peer_t p;
    peer_open(&p, role, &cfg, &pmd_sets[s]);
    for (int round = 0; round < 2; round++) {
      for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint8_t *m = compressible(sizes[i], (unsigned)(i + s));
        unsigned op = i % 2 ? EDDY_WS_OP_BINARY : EDDY_WS_OP_TEXT;
        peer_send_compressed(&p, op, m, sizes[i], round ? 100 : 0);
        unsigned gop;
        size_t n;
        int z;
        uint8_t *got = peer_message(&p, &gop, &n, &z);
        cr_assert_eq(gop, op);
        cr_assert_eq(n, sizes[i]);
        cr_assert(n == 0 || memcmp(got, m, n) == 0);
        if (sizes[i] >= 64)
          cr_assert(z, "a compressible message goes out compressed");
        free(got);
        free(m);
        /* Uncompressed messages mix with compressed ones. */
        uint8_t *r = pattern(300, (unsigned)i);
        peer_send(&p, EDDY_WS_OP_BINARY, 1, r, 300);
        peer_expect_message(&p, EDDY_WS_OP_BINARY, r, 300);
        free(r);
      }
    }
    peer_close(&p);
  }
}

BOTH(deflate_errors) {
  eddy_ws_deflate_params_t prm = {15, 15, 1, 1};
  for (int c = 0; c < 5; c++) {
    eddy_ws_config_t cfg = {0};
    cfg.max_message = 1 << 20;
    peer_t p;
    peer_open(&p, role, &cfg, &prm);
    unsigned want = 1002;
    if (c == 0) { /* RSV1 on a continuation */
      peer_raw(&p, 0x40 | EDDY_WS_OP_TEXT, "", 0);
      peer_raw(&p, 0x80 | 0x40 | EDDY_WS_OP_CONT, "\x00", 1);
    } else if (c == 1) { /* RSV1 on a control frame */
      peer_raw(&p, 0x80 | 0x40 | EDDY_WS_OP_PING, "", 0);
    } else if (c == 2) { /* not deflate data */
      peer_raw(&p, 0x80 | 0x40 | EDDY_WS_OP_BINARY, "\xff\xff\xff\xff", 4);
      want = 1007;
    } else if (c == 3) { /* a zip bomb: 8 MiB of zeros against a 1 MiB limit */
      size_t n = (size_t)8 << 20;
      uint8_t *zeros = calloc(1, n);
      peer_send_compressed(&p, EDDY_WS_OP_BINARY, zeros, n, 0);
      free(zeros);
      want = 1009;
    } else { /* compressed text that inflates to invalid UTF-8 */
      peer_send_compressed(&p, EDDY_WS_OP_TEXT, "ok\xc0\xaf", 4, 0);
      want = 1007;
    }
    peer_expect_close(&p, want);
    cr_assert_eq(p.nmsgs, 0);
    peer_close(&p);
  }
}

BOTH(deflate_big) {
  eddy_ws_deflate_params_t prm = {15, 15, 0, 0};
  peer_t p;
  peer_open(&p, role, NULL, &prm);
  size_t n = (size_t)4 << 20;
  uint8_t *m = compressible(n, 5);
  peer_send_compressed(&p, EDDY_WS_OP_BINARY, m, n, 65536);
  peer_expect_message(&p, EDDY_WS_OP_BINARY, m, n);
  free(m);
  peer_close(&p);
}
