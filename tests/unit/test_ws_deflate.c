/* test_ws_deflate.c — permessage-deflate streams (src/ws/deflate.c): round
 * trips for every window and level, the stripped trailer and the empty
 * message, the inflate limit at its exact edge (zip bombs), corrupt input,
 * final blocks, context takeover on both sides, input fed in pieces, and
 * the shared compressor cache used from several threads at once. */
#include "support.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ws/ws_internal.h"

static eddy_reactor_t *r;
static void setup(void) {
  r = test_reactor(0);
}
static void teardown(void) {
  test_close_reactor(r);
}
TestSuite(ws_deflate, .init = setup, .fini = teardown);

static uint8_t *text(size_t n, unsigned seed) {
  uint8_t *b = malloc(n ? n : 1);
  cr_assert(b != NULL);
  static const char w[] = "the quick brown fox jumps over the lazy dog; ";
  uint32_t x = seed + 1;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    b[i] =
        (x >> 28) == 0 ? (uint8_t)(x >> 16) : (uint8_t)w[i % (sizeof(w) - 1)];
  }
  return b;
}

static void roundtrip(eddy__ws_zout_t *d, eddy__ws_zin_t *z, const uint8_t *m,
                      size_t n, size_t piece) {
  eddy_buf_t c, out;
  eddy_buf_init(&c, EDDY_BUF_UNLIMITED);
  eddy_buf_init(&out, EDDY_BUF_UNLIMITED);
  cr_assert_eq(eddy__ws_zout_message(d, m, n, &c), 0);
  cr_assert(c.len > 0);
  cr_assert(c.len < 4 || memcmp(c.data + c.len - 4, "\0\0\xff\xff", 4) != 0,
            "the trailer is stripped");
  size_t total = 0;
  for (size_t off = 0; off < c.len; off += piece) {
    size_t k = c.len - off < piece ? c.len - off : piece, got;
    cr_assert_eq(eddy__ws_zin_feed(z, c.data + off, k, 0, &out, n, &got), 0);
    total += got;
  }
  size_t got;
  cr_assert_eq(eddy__ws_zin_feed(z, NULL, 0, 1, &out, n, &got), 0);
  total += got;
  cr_assert_eq(total, n);
  cr_assert_eq(out.len, n);
  cr_assert(n == 0 || memcmp(out.data, m, n) == 0);
  eddy_buf_free(&c);
  eddy_buf_free(&out);
}

Test(ws_deflate, roundtrip_windows_levels) {
  static const size_t sizes[] = {0, 1, 2, 100, 4096, 70000, 300000};
  for (unsigned bits = 9; bits <= 15; bits++) {
    for (int level = 0; level <= 9; level += 3) {
      for (int takeover = 0; takeover < 2; takeover++) {
        eddy__ws_zout_t d;
        eddy__ws_zin_t z;
        eddy__ws_zout_init(&d, bits, level, !takeover);
        eddy__ws_zin_init(&z, !takeover);
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
          uint8_t *m = text(sizes[i], (unsigned)i);
          roundtrip(&d, &z, m, sizes[i], i % 2 ? 7 : 1 << 20);
          free(m);
        }
        eddy__ws_zout_free(&d);
        eddy__ws_zin_free(&z);
      }
    }
  }
}

Test(ws_deflate, empty_message_is_one_byte) {
  eddy__ws_zout_t d;
  eddy__ws_zout_init(&d, 15, 0, 0);
  eddy_buf_t c;
  eddy_buf_init(&c, EDDY_BUF_UNLIMITED);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(eddy__ws_zout_message(&d, "", 0, &c), 0);
    cr_assert_eq(c.len, 1);
    cr_assert_eq(c.data[0], 0);
  }
  eddy_buf_free(&c);
  eddy__ws_zout_free(&d);
  /* An empty payload (what some peers send) is an empty message, and the
   * stream is unharmed for the next one. */
  eddy__ws_zin_t z;
  eddy__ws_zin_init(&z, 0);
  eddy_buf_t out;
  eddy_buf_init(&out, EDDY_BUF_UNLIMITED);
  size_t got;
  cr_assert_eq(eddy__ws_zin_feed(&z, NULL, 0, 1, &out, 100, &got), 0);
  cr_assert_eq(got, 0);
  eddy__ws_zout_t d2;
  eddy__ws_zout_init(&d2, 15, 0, 0);
  roundtrip(&d2, &z, (const uint8_t *)"after", 5, 100);
  eddy__ws_zout_free(&d2);
  eddy__ws_zin_free(&z);
  eddy_buf_free(&out);
}

Test(ws_deflate, inflate_limit) {
  size_t n = 100000;
  uint8_t *zeros = calloc(1, n);
  eddy_buf_t c, out;
  eddy_buf_init(&c, EDDY_BUF_UNLIMITED);
  eddy_buf_init(&out, EDDY_BUF_UNLIMITED);
  cr_assert_eq(eddy__ws_deflate_once(15, 9, zeros, n, &c), 0);
  cr_assert(c.len < 1000);
  for (int edge = 0; edge < 2; edge++) {
    eddy__ws_zin_t z;
    eddy__ws_zin_init(&z, 1);
    eddy_buf_clear(&out);
    size_t got;
    int rc =
        eddy__ws_zin_feed(&z, c.data, c.len, 1, &out, n - (size_t)edge, &got);
    cr_assert_eq(rc, edge ? UV_EMSGSIZE : 0);
    cr_assert(out.len <= n - (size_t)edge, "never past the limit");
    eddy__ws_zin_free(&z);
  }
  /* A bomb: 64 MiB of zeros against a 1 MiB limit stops at the limit. */
  size_t big = (size_t)64 << 20;
  uint8_t *huge = calloc(1, big);
  cr_assert_eq(eddy__ws_deflate_once(15, 1, huge, big, &c), 0);
  free(huge);
  eddy__ws_zin_t z;
  eddy__ws_zin_init(&z, 0);
  eddy_buf_clear(&out);
  size_t got;
  cr_assert_eq(eddy__ws_zin_feed(&z, c.data, c.len, 1, &out, 1 << 20, &got),
               UV_EMSGSIZE);
  cr_assert(out.len <= 1 << 20);
  eddy__ws_zin_free(&z);
  free(zeros);
  eddy_buf_free(&c);
  eddy_buf_free(&out);
}

Test(ws_deflate, corrupt_input) {
  static const char *bad[] = {"\xff\xff\xff", "\x07", "\x06"};
  for (size_t i = 0; i < 3; i++) {
    eddy__ws_zin_t z;
    eddy__ws_zin_init(&z, 0);
    eddy_buf_t out;
    eddy_buf_init(&out, EDDY_BUF_UNLIMITED);
    size_t got;
    int rc = eddy__ws_zin_feed(&z, bad[i], strlen(bad[i]), 0, &out, 1000, &got);
    if (rc == 0)
      rc = eddy__ws_zin_feed(&z, NULL, 0, 1, &out, 1000, &got);
    cr_assert_eq(rc, UV_EILSEQ, "case %zu", i);
    eddy__ws_zin_free(&z);
    eddy_buf_free(&out);
  }
}

/* A peer may end a message with a final block (Z_FINISH) instead of a
 * flush; the next message starts a new stream. */
Test(ws_deflate, final_blocks) {
  eddy__ws_zin_t z;
  eddy__ws_zin_init(&z, 0);
  eddy_buf_t out;
  eddy_buf_init(&out, EDDY_BUF_UNLIMITED);
  for (int i = 0; i < 3; i++) {
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    cr_assert_eq(deflateInit2(&zs, 6, Z_DEFLATED, -9, 8, Z_DEFAULT_STRATEGY),
                 Z_OK);
    uint8_t buf[256];
    zs.next_in = (Bytef *)"final block message";
    zs.avail_in = 19;
    zs.next_out = buf;
    zs.avail_out = sizeof(buf);
    cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t n = sizeof(buf) - zs.avail_out;
    deflateEnd(&zs);
    eddy_buf_clear(&out);
    size_t got;
    cr_assert_eq(eddy__ws_zin_feed(&z, buf, n, 1, &out, 1000, &got), 0);
    cr_assert_eq(out.len, 19);
    cr_assert(memcmp(out.data, "final block message", 19) == 0);
    if (i == 2) { /* nothing but the trailer may follow the final block */
      uint8_t junk[300];
      memcpy(junk, buf, n);
      memcpy(junk + n, "xyz", 3);
      cr_assert_eq(eddy__ws_zin_feed(&z, junk, n + 3, 1, &out, 1000, &got),
                   UV_EILSEQ);
    }
  }
  eddy__ws_zin_free(&z);
  eddy_buf_free(&out);
}

Test(ws_deflate, context_takeover) {
  /* With takeover the second copy of a message is a back-reference to the
   * first: far shorter, and only a receiver that kept its window can read
   * it. */
  uint8_t *m = text(2000, 7);
  eddy__ws_zout_t d;
  eddy__ws_zout_init(&d, 15, 6, 0);
  eddy_buf_t c1, c2, out;
  eddy_buf_init(&c1, EDDY_BUF_UNLIMITED);
  eddy_buf_init(&c2, EDDY_BUF_UNLIMITED);
  eddy_buf_init(&out, EDDY_BUF_UNLIMITED);
  cr_assert_eq(eddy__ws_zout_message(&d, m, 2000, &c1), 0);
  cr_assert_eq(eddy__ws_zout_message(&d, m, 2000, &c2), 0);
  cr_assert(c2.len < c1.len / 4);
  eddy__ws_zin_t keep, reset;
  eddy__ws_zin_init(&keep, 0);
  eddy__ws_zin_init(&reset, 1);
  size_t got;
  cr_assert_eq(eddy__ws_zin_feed(&keep, c1.data, c1.len, 1, &out, 5000, &got),
               0);
  eddy_buf_clear(&out);
  cr_assert_eq(eddy__ws_zin_feed(&keep, c2.data, c2.len, 1, &out, 5000, &got),
               0);
  cr_assert(out.len == 2000 && memcmp(out.data, m, 2000) == 0);
  eddy_buf_clear(&out);
  cr_assert_eq(eddy__ws_zin_feed(&reset, c1.data, c1.len, 1, &out, 5000, &got),
               0);
  eddy_buf_clear(&out);
  cr_assert_eq(eddy__ws_zin_feed(&reset, c2.data, c2.len, 1, &out, 5000, &got),
               UV_EILSEQ);
  eddy__ws_zin_free(&keep);
  eddy__ws_zin_free(&reset);
  eddy__ws_zout_free(&d);
  /* Without takeover every message stands alone. */
  eddy__ws_zout_init(&d, 15, 6, 1);
  cr_assert_eq(eddy__ws_zout_message(&d, m, 2000, &c1), 0);
  cr_assert_eq(eddy__ws_zout_message(&d, m, 2000, &c2), 0);
  cr_assert(c1.len == c2.len && memcmp(c1.data, c2.data, c1.len) == 0);
  eddy__ws_zout_free(&d);
  eddy_buf_free(&c1);
  eddy_buf_free(&c2);
  eddy_buf_free(&out);
  free(m);
}

/* The 8-bit window zlib cannot make: peers that ask for it through zlib
 * really use 9 bits, which our 15-bit inflater reads. */
Test(ws_deflate, nine_bit_peer) {
  uint8_t *m = text(50000, 3);
  eddy_buf_t c;
  eddy_buf_init(&c, EDDY_BUF_UNLIMITED);
  cr_assert_eq(eddy__ws_deflate_once(9, 6, m, 50000, &c), 0);
  eddy__ws_zin_t z;
  eddy__ws_zin_init(&z, 1);
  eddy_buf_t out;
  eddy_buf_init(&out, EDDY_BUF_UNLIMITED);
  size_t got;
  cr_assert_eq(eddy__ws_zin_feed(&z, c.data, c.len, 1, &out, 50000, &got), 0);
  cr_assert(memcmp(out.data, m, 50000) == 0);
  eddy__ws_zin_free(&z);
  eddy_buf_free(&out);
  eddy_buf_free(&c);
  free(m);
}

static void *compress_loop(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg;
  for (int i = 0; i < 200; i++) {
    size_t n = 100 + (size_t)((seed * 131 + (unsigned)i * 17) % 5000);
    uint8_t *m = text(n, seed + (unsigned)i);
    eddy__ws_zout_t d;
    eddy__ws_zout_init(&d, 9 + (unsigned)(i % 7), 1 + i % 9, 1);
    eddy__ws_zin_t z;
    eddy__ws_zin_init(&z, 1);
    roundtrip(&d, &z, m, n, 1 << 20);
    eddy__ws_zout_free(&d);
    eddy__ws_zin_free(&z);
    free(m);
  }
  return NULL;
}

Test(ws_deflate, shared_cache_threads) {
  pthread_t t[4];
  for (uintptr_t i = 0; i < 4; i++)
    cr_assert_eq(pthread_create(&t[i], NULL, compress_loop, (void *)i), 0);
  for (int i = 0; i < 4; i++)
    pthread_join(t[i], NULL);
}
