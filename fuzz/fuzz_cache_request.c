/* fuzz_cache_request.c — libFuzzer driver for the memcached protocol.
 *
 * The first byte picks a mode:
 *  - even: the parser alone. The input is parsed as a stream of commands,
 *    as a server would: each answer is checked (bytes consumed within the
 *    input, pointers inside it, keys well formed, blocks ending in \r\n),
 *    and the same bytes arriving in two pieces, cut where the input says,
 *    must give the same commands.
 *  - odd: the whole service over a string transport on a fake clock, with a
 *    tiny memory limit so eviction, expiry, sharing and swallowing all run;
 *    the input is fed in pieces whose sizes it chooses, the clock moving
 *    between them. The cache must close cleanly afterwards. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache_internal.h"
#include "cache/request.h"
#include "eddy/cache.h"
#include "eddy/reactor.h"
#include "eddy/testing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const eddy__mc_limits_t lim = {
    .max_line = 256, .max_keys = 4096, .max_item = 512};

static int inside(const char *p, size_t n, const char *buf, size_t len) {
  return p >= buf && p + n <= buf + len;
}

typedef struct stream_s {
  size_t off;     /* where the next command starts */
  size_t swallow; /* block bytes still to skip */
  int closed;
  uint64_t digest; /* of every answer, to compare two parses */
} stream_t;

/* Parses what of buf[0..avail) the stream has not used yet, as a server
 * would when those bytes have arrived, checking each answer. */
static void parse_more(stream_t *s, const char *buf, size_t avail) {
  eddy__mc_req_t r;
  while (s->off < avail && !s->closed) {
    if (s->swallow > 0) {
      size_t k = avail - s->off < s->swallow ? avail - s->off : s->swallow;
      s->off += k;
      s->swallow -= k;
      continue;
    }
    const char *at = buf + s->off;
    size_t left = avail - s->off;
    int rc = eddy__mc_parse(at, left, &lim, &r);
    if (rc == EDDY__MC_NEED)
      return;
    if (r.consumed == 0 || r.consumed > left)
      abort();
    if (rc != EDDY__MC_OK && r.error == NULL)
      abort();
    if (rc == EDDY__MC_OK) {
      if (r.key != NULL && !inside(r.key, r.nkey, at, r.consumed))
        abort();
      if (r.data != NULL && !inside(r.data, r.bytes + 2, at, r.consumed))
        abort();
      if (r.data != NULL &&
          (r.data[r.bytes] != '\r' || r.data[r.bytes + 1] != '\n'))
        abort();
      if (r.nkey > 250)
        abort();
      size_t pos = 0, nk;
      const char *k;
      while (r.keys != NULL && eddy__mc_next_key(&r, &pos, &k, &nk))
        if (nk == 0 || nk > 250 || !inside(k, nk, at, r.consumed))
          abort();
    }
    s->digest =
        (s->digest ^ (uint64_t)(rc * 131 + (int)r.cmd)) * 1099511628211ULL;
    if (rc == EDDY__MC_CLOSE) {
      /* Everything buffered is dropped: how much that was depends on how
       * the bytes came, so it is left out of the comparison. */
      s->closed = 1;
      return;
    }
    s->digest = (s->digest ^ r.consumed) * 1099511628211ULL;
    s->off += r.consumed;
    s->swallow = r.swallow;
  }
}

static void fuzz_parser(const uint8_t *data, size_t size) {
  if (size < 2)
    return;
  size_t cut = ((size_t)data[0] << 8 | data[1]) % size;
  data += 2;
  size -= 2;
  /* An exact-size copy, so an over-read trips the sanitizer. */
  char *buf = malloc(size > 0 ? size : 1);
  if (buf == NULL)
    return;
  memcpy(buf, data, size);
  stream_t whole = {.digest = 1469598103934665603ULL};
  parse_more(&whole, buf, size);
  /* The same bytes arriving in two pieces give the same commands. */
  stream_t split = {.digest = 1469598103934665603ULL};
  parse_more(&split, buf, cut < size ? cut : size);
  parse_more(&split, buf, size);
  if (whole.digest != split.digest || whole.off != split.off ||
      whole.closed != split.closed)
    abort();
  free(buf);
}

static void fuzz_server(const uint8_t *data, size_t size) {
  eddy_reactor_t *r;
  if (eddy_reactor_new(&r, EDDY_REACTOR_FAKE_CLOCK) != 0)
    return;
  eddy_cache_opts_t o;
  eddy_cache_opts_init(&o);
  o.memory_limit = 8192;
  o.max_item_size = 512;
  o.max_line = 256;
  eddy_cache_t *c;
  if (eddy_cache_new(r, &o, &c) != 0)
    abort();
  /* A connection without a listener: the factory's own build. */
  eddy_protocol_t *p = c->factory.build_protocol(&c->factory, NULL);
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  if (p == NULL || st == NULL)
    abort();
  eddy_string_transport_connect(st, p);
  size_t off = 0;
  while (off < size) {
    /* A control byte: piece size (0 means one byte at a time) and a clock
     * step. */
    uint8_t ctl = data[off++];
    size_t piece = (size_t)(ctl & 0x3f) * 4;
    size_t n = size - off;
    if (piece != 0 && piece < n)
      n = piece;
    if (piece == 0 && n > 16)
      n = 16;
    if (ctl & 0x40)
      eddy_string_transport_feed_bytewise(st, data + off, n);
    else
      eddy_string_transport_feed(st, data + off, n);
    off += n;
    if (ctl & 0x80)
      eddy_reactor_advance(r, 1000);
    eddy_string_transport_clear(st);
  }
  eddy_string_transport_free(st);
  eddy_cache_close(c, NULL, NULL);
  eddy_reactor_run(r);
  if (eddy_reactor_free(r) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  if (data[0] & 1)
    fuzz_server(data + 1, size - 1);
  else
    fuzz_parser(data + 1, size - 1);
  return 0;
}
