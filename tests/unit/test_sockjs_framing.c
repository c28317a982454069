/* test_sockjs_framing.c — the pure SockJS framing: the escape table of
 * "a" frames, close frames, and the decoder of what clients send (errors
 * byte-exact, limits, surrogates, every truncation of valid input). */
#include "support.h"

#include <eddy/sockjs.h>
#include <stdlib.h>
#include <string.h>

static char *encode1(const char *msg, size_t len) {
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  const char *msgs[1] = {msg};
  size_t lens[1] = {len};
  cr_assert_eq(eddy_sockjs_encode_messages(&b, msgs, lens, 1), 0);
  size_t n;
  char *s = eddy_buf_detach(&b, &n);
  cr_assert_not_null(s);
  return s;
}

static void expect_encoding(const char *msg, size_t len, const char *want) {
  char *got = encode1(msg, len);
  cr_assert_str_eq(got, want, "encoding of %zu bytes", len);
  free(got);
}

Test(sockjs_framing, plain_and_json_escapes) {
  expect_encoding("a", 1, "a[\"a\"]");
  expect_encoding("", 0, "a[\"\"]");
  expect_encoding("q\"b\\s/", 6, "a[\"q\\\"b\\\\s/\"]");
  expect_encoding("\b\f\n\r\t", 5, "a[\"\\b\\f\\n\\r\\t\"]");
  expect_encoding("\x01\x1f", 2, "a[\"\\u0001\\u001f\"]");
  expect_encoding("\0x", 2, "a[\"\\u0000x\"]");
  /* Ordinary non-ASCII goes as UTF-8. */
  expect_encoding("\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80", 9,
                  "a[\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\"]");
}

/* Every code point of the table the client cannot take verbatim comes as
 * a lowercase \uXXXX escape, and its neighbours do not. */
Test(sockjs_framing, escape_table) {
  static const struct {
    unsigned lo, hi;
  } ranges[] = {{0x7F, 0x9F},
                {0x200C, 0x200F},
                {0x2028, 0x202F},
                {0x2060, 0x206F},
                {0xFFF0, 0xFFFF}};
  for (size_t k = 0; k < sizeof(ranges) / sizeof(ranges[0]); k++) {
    for (unsigned cp = ranges[k].lo - 1; cp <= ranges[k].hi + 1; cp++) {
      if (cp > 0xFFFF)
        break;
      char u[4];
      size_t n;
      if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
      } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
      } else {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
      }
      char want[32];
      int escaped = cp >= ranges[k].lo && cp <= ranges[k].hi;
      if (escaped)
        snprintf(want, sizeof(want), "a[\"\\u%04x\"]", cp);
      else
        snprintf(want, sizeof(want), "a[\"%.*s\"]", (int)n, u);
      expect_encoding(u, n, want);
    }
  }
}

Test(sockjs_framing, invalid_utf8_becomes_replacement) {
  expect_encoding("a\xff"
                  "b",
                  3, "a[\"a\\ufffdb\"]");
  expect_encoding("\xc0\xaf", 2, "a[\"\\ufffd\\ufffd\"]"); /* overlong */
  expect_encoding("\xed\xa0\x80", 3,
                  "a[\"\\ufffd\\ufffd\\ufffd\"]");         /* surrogate */
  expect_encoding("\xe4\xb8", 2, "a[\"\\ufffd\\ufffd\"]"); /* truncated */
}

Test(sockjs_framing, several_messages_and_close) {
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  const char *msgs[3] = {"x", "y,z", "\""};
  size_t lens[3] = {1, 3, 1};
  cr_assert_eq(eddy_sockjs_encode_messages(&b, msgs, lens, 3), 0);
  cr_assert_eq(b.len, strlen("a[\"x\",\"y,z\",\"\\\"\"]"));
  cr_assert_eq(memcmp(b.data, "a[\"x\",\"y,z\",\"\\\"\"]", b.len), 0);
  eddy_buf_clear(&b);
  cr_assert_eq(eddy_sockjs_encode_messages(&b, NULL, NULL, 0), 0);
  cr_assert_eq(b.len, 3);
  cr_assert_eq(memcmp(b.data, "a[]", 3), 0);
  eddy_buf_clear(&b);
  cr_assert_eq(eddy_sockjs_encode_close(&b, 3000, "Go away!"), 0);
  cr_assert_eq(memcmp(b.data, "c[3000,\"Go away!\"]", b.len), 0);
  eddy_buf_clear(&b);
  cr_assert_eq(eddy_sockjs_encode_close(&b, 1002, NULL), 0);
  cr_assert_eq(memcmp(b.data, "c[1002,\"\"]", b.len), 0);
  eddy_buf_free(&b);
  /* A buffer too small fails whole and keeps what it had. */
  eddy_buf_init(&b, 8);
  eddy_buf_append(&b, "ab", 2);
  cr_assert_eq(eddy_sockjs_encode_messages(&b, msgs, lens, 3), UV_ENOBUFS);
  cr_assert_eq(b.len, 2);
  cr_assert_eq(eddy_sockjs_encode_close(&b, 3000, "a long reason"), UV_ENOBUFS);
  cr_assert_eq(b.len, 2);
  eddy_buf_free(&b);
}

/* ---- Decoding ------------------------------------------------------------*/

typedef struct {
  int n;
  char got[8][64];
  size_t lens[8];
  int stop_at; /* return nonzero at this message (1-based), 0: never */
} sink_t;

static int collect(const char *data, size_t len, void *arg) {
  sink_t *s = arg;
  cr_assert_lt(s->n, 8);
  cr_assert_lt(len, 64);
  cr_assert_eq(data[len], '\0', "decoded text is NUL-terminated");
  memcpy(s->got[s->n], data, len);
  s->lens[s->n] = len;
  s->n++;
  return s->stop_at == s->n ? -77 : 0;
}

/* Decodes input placed at the very end of its allocation, so an over-read
 * by even one byte is caught by the sanitizer. */
static int decode(const char *in, size_t max, sink_t *s) {
  size_t n = strlen(in);
  char *copy = malloc(n ? n : 1);
  memcpy(copy, in, n);
  memset(s, 0, sizeof(*s));
  int rc = eddy_sockjs_decode_messages(copy, n, max, collect, s);
  free(copy);
  return rc;
}

Test(sockjs_framing, decode_valid) {
  sink_t s;
  cr_assert_eq(decode("[\"a\",\"b\"]", 100, &s), 0);
  cr_assert_eq(s.n, 2);
  cr_assert_str_eq(s.got[0], "a");
  cr_assert_str_eq(s.got[1], "b");
  cr_assert_eq(decode(" [ ] ", 100, &s), 0);
  cr_assert_eq(s.n, 0);
  cr_assert_eq(decode("\"single\"\r\n", 100, &s), 0);
  cr_assert_eq(s.n, 1);
  cr_assert_str_eq(s.got[0], "single");
  cr_assert_eq(decode("[\"\"]", 100, &s), 0);
  cr_assert_eq(s.n, 1);
  cr_assert_eq(s.lens[0], 0);
  cr_assert_eq(decode("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]", 100, &s), 0);
  cr_assert_str_eq(s.got[0], "\"\\/\b\f\n\r\t");
  cr_assert_eq(decode("[\"\\u0000\"]", 100, &s), 0);
  cr_assert_eq(s.lens[0], 1);
  cr_assert_eq(s.got[0][0], '\0');
  cr_assert_eq(decode("[\"\\u00e9\\u4E2D\\ud83d\\ude00\"]", 100, &s), 0);
  cr_assert_str_eq(s.got[0], "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80");
  cr_assert_eq(decode("[\"\xc3\xa9\xf0\x9f\x98\x80\"]", 100, &s), 0);
  cr_assert_str_eq(s.got[0], "\xc3\xa9\xf0\x9f\x98\x80");
}

Test(sockjs_framing, lone_surrogates_become_replacement) {
  sink_t s;
  cr_assert_eq(decode("[\"\\ud800x\"]", 100, &s), 0);
  cr_assert_str_eq(s.got[0], "\xef\xbf\xbdx");
  cr_assert_eq(decode("[\"\\udc00\"]", 100, &s), 0);
  cr_assert_str_eq(s.got[0], "\xef\xbf\xbd");
  cr_assert_eq(decode("[\"\\ud800\\u0041\"]", 100, &s), 0);
  cr_assert_str_eq(s.got[0], "\xef\xbf\xbd"
                             "A");
}

Test(sockjs_framing, decode_errors) {
  static const char *bad[] = {
      "",
      " ",
      "[",
      "]",
      "[\"a\"",
      "[\"a\",]",
      "[,\"a\"]",
      "[\"a\" \"b\"]",
      "[1]",
      "[null]",
      "[[\"a\"]]",
      "{\"a\":1}",
      "\"a",
      "[\"a\"]x",
      "[\"a\"][]",
      "a",
      "[\"\\x\"]",
      "[\"\\u12\"]",
      "[\"\\u12g4\"]",
      "[\"a\nb\"]",
      "[\"\t\"]",
      "[\"\xff\"]",
      "[\"\xc0\xaf\"]",
      "[\"\xed\xa0\x80\"]",
      "[\"\xe4\xb8\"]",
      "[\"\\",
      "\"\\u",
      "[\"a\",",
      "null",
      "true",
      "[\"a\"]]",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    sink_t s;
    cr_assert_eq(decode(bad[i], 100, &s), EDDY_EPARSE, "input #%zu", i);
    cr_assert_eq(s.n, 0, "no callback for malformed input #%zu", i);
  }
}

/* Every proper prefix of valid input is malformed, and none of them calls
 * back (the whole input is checked before the first message). */
Test(sockjs_framing, every_truncation) {
  const char *good = "[\"ab\\u00e9\",\"\\ud83d\\ude00\", \"\xe4\xb8\xad\"]";
  size_t n = strlen(good);
  for (size_t k = 0; k < n; k++) {
    char *p = malloc(k ? k : 1);
    memcpy(p, good, k);
    sink_t s;
    memset(&s, 0, sizeof(s));
    int rc = eddy_sockjs_decode_messages(p, k, 100, collect, &s);
    free(p);
    cr_assert_eq(rc, EDDY_EPARSE, "prefix of %zu bytes", k);
    cr_assert_eq(s.n, 0);
  }
  sink_t s;
  cr_assert_eq(decode(good, 100, &s), 0);
  cr_assert_eq(s.n, 3);
}

Test(sockjs_framing, limits) {
  sink_t s;
  /* The limit is on decoded bytes: "\u00e9" is 2 of them. */
  cr_assert_eq(decode("[\"abcd\"]", 4, &s), 0);
  cr_assert_eq(decode("[\"abcde\"]", 4, &s), UV_E2BIG);
  cr_assert_eq(s.n, 0, "nothing delivered from an input over the limit");
  cr_assert_eq(decode("[\"a\",\"abcde\"]", 4, &s), UV_E2BIG);
  cr_assert_eq(s.n, 0);
  cr_assert_eq(decode("[\"\\u00e9\\u00e9\"]", 4, &s), 0);
  cr_assert_eq(decode("[\"\\u00e9\\u00e9a\"]", 4, &s), UV_E2BIG);
  /* Broken JSON is reported as broken even when it is also too long. */
  cr_assert_eq(decode("[\"abcdefgh\\q\"]", 4, &s), EDDY_EPARSE);
  cr_assert_eq(decode("[\"abcdefgh\"", 4, &s), EDDY_EPARSE);
  cr_assert_eq(decode("[\"abcdefgh\"]x", 4, &s), EDDY_EPARSE);
}

Test(sockjs_framing, callback_stops) {
  sink_t s;
  memset(&s, 0, sizeof(s));
  s.stop_at = 2;
  const char *in = "[\"a\",\"b\",\"c\"]";
  cr_assert_eq(eddy_sockjs_decode_messages(in, strlen(in), 10, collect, &s),
               -77);
  cr_assert_eq(s.n, 2);
  cr_assert_eq(eddy_sockjs_decode_messages(in, strlen(in), 10, NULL, NULL), 0);
}

typedef struct {
  char data[1024];
  size_t len;
  int n;
} copy_t;

static int copy_out(const char *data, size_t len, void *arg) {
  copy_t *c = arg;
  cr_assert_leq(len, sizeof(c->data));
  memcpy(c->data, data, len);
  c->len = len;
  c->n++;
  return 0;
}

/* What the encoder writes, the decoder reads back as it was (valid UTF-8
 * in, the same bytes out), whatever the characters. */
Test(sockjs_framing, round_trip) {
  char msg[512];
  size_t n = 0;
  for (unsigned cp = 0; cp < 0x80; cp++)
    msg[n++] = (char)cp;
  const char *more = "\xc2\x80\xc2\x9f\xe2\x80\xa8\xe2\x81\xaf\xef\xbf\xbf"
                     "\xef\xbf\xb0\xf4\x8f\xbf\xbf";
  memcpy(msg + n, more, strlen(more));
  n += strlen(more);
  char *frame = encode1(msg, n);
  copy_t c;
  memset(&c, 0, sizeof(c));
  /* Skip the 'a': the rest is a JSON array of strings. */
  cr_assert_eq(eddy_sockjs_decode_messages(frame + 1, strlen(frame) - 1, 4096,
                                           copy_out, &c),
               0);
  cr_assert_eq(c.n, 1);
  cr_assert_eq(c.len, n);
  cr_assert_eq(memcmp(c.data, msg, n), 0);
  free(frame);
}
