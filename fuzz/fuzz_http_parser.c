/* fuzz_http_parser.c — libFuzzer driver for the HTTP/1.1 parser.
 *
 * The first byte chooses what the rest is: a request head, a response head
 * (to a HEAD request or not), or a chunked body; and small limits or the
 * defaults. The rest is parsed whole, one byte at a time and split at a
 * position taken from the second byte, each time from an exact-size heap
 * copy. The outcomes must be identical (abort otherwise), and every slice
 * the parser returns must lie inside the head it reported. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/http_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP 32

typedef struct {
  int rc;
  eddy_http_msg_t m;
  eddy_http_header_t h[CAP];
  size_t off[2 * CAP + 3]; /* slice offsets, to compare copies */
} head_out_t;

static void check_slice(const char *base, int head, eddy_http_str_t s,
                        size_t *off) {
  if (s.len == 0) {
    *off = 0;
    return;
  }
  if (s.p < base || s.p + s.len > base + head)
    abort();
  *off = (size_t)(s.p - base) + 1;
}

static void head_run(const eddy_http_limits_t *lim, int kind, int was_head,
                     const char *in, size_t len, const size_t *cuts,
                     size_t ncuts, head_out_t *o) {
  eddy_http_parser_t p;
  eddy_http_parser_init(&p, (eddy_http_kind_t)kind, lim);
  eddy_http_parser_set_head_request(&p, was_head);
  memset(o, 0, sizeof(*o));
  for (size_t k = 0; k < ncuts; k++) {
    size_t n = cuts[k];
    char *copy = malloc(n ? n : 1);
    if (!copy)
      abort();
    memcpy(copy, in, n);
    o->rc = eddy_http_parse(&p, copy, n, &o->m, o->h, CAP);
    if (o->rc > 0) {
      size_t j = 0;
      if ((size_t)o->rc > n || o->m.num_headers > CAP)
        abort();
      check_slice(copy, o->rc, o->m.method, &o->off[j++]);
      check_slice(copy, o->rc, o->m.target, &o->off[j++]);
      check_slice(copy, o->rc, o->m.reason, &o->off[j++]);
      for (size_t i = 0; i < o->m.num_headers; i++) {
        check_slice(copy, o->rc, o->h[i].name, &o->off[j++]);
        check_slice(copy, o->rc, o->h[i].value, &o->off[j++]);
      }
    }
    free(copy);
    if (o->rc != EDDY_HTTP_NEED_MORE)
      return;
    (void)len;
  }
}

static int head_same(const head_out_t *a, const head_out_t *b) {
  if (a->rc != b->rc)
    return 0;
  if (a->rc <= 0)
    return 1;
  return a->m.status == b->m.status &&
         a->m.version_minor == b->m.version_minor &&
         a->m.num_headers == b->m.num_headers && a->m.body == b->m.body &&
         a->m.content_length == b->m.content_length &&
         a->m.keep_alive == b->m.keep_alive &&
         a->m.expect_continue == b->m.expect_continue &&
         a->m.upgrade == b->m.upgrade &&
         memcmp(a->off, b->off, sizeof(a->off)) == 0;
}

static void fuzz_head(const eddy_http_limits_t *lim, int kind, int was_head,
                      const char *in, size_t len, size_t split) {
  static head_out_t whole, other;
  size_t *cuts = malloc((len + 1) * sizeof(*cuts));
  if (!cuts)
    abort();
  cuts[0] = len;
  head_run(lim, kind, was_head, in, len, cuts, 1, &whole);
  if (whole.rc == 0 ||
      (whole.rc < 0 && eddy_http_error_status(whole.rc) == 500))
    abort(); /* never 0, never an unknown code */
  for (size_t i = 0; i < len; i++)
    cuts[i] = i + 1;
  if (len > 0) {
    head_run(lim, kind, was_head, in, len, cuts, len, &other);
    if (!head_same(&whole, &other))
      abort();
  }
  size_t two[2] = {split % (len + 1), len};
  head_run(lim, kind, was_head, in, len, two, 2, &other);
  if (!head_same(&whole, &other))
    abort();
  free(cuts);
}

typedef struct {
  int rc;
  size_t consumed;
  uint64_t sum; /* a position-weighted checksum of the decoded bytes */
  uint64_t count;
} chunk_out_t;

static void chunk_run(const eddy_http_limits_t *lim, const char *in,
                      const size_t *cuts, size_t ncuts, chunk_out_t *o) {
  eddy_http_chunked_t c;
  size_t from = 0;
  memset(o, 0, sizeof(*o));
  eddy_http_chunked_init(&c, lim);
  for (size_t k = 0; k < ncuts && !eddy_http_chunked_done(&c); k++) {
    size_t n = cuts[k] - from, off = 0;
    char *piece = malloc(n ? n : 1);
    if (!piece)
      abort();
    memcpy(piece, in + from, n);
    while (off < n && !eddy_http_chunked_done(&c)) {
      const char *d;
      size_t dl;
      int rc = eddy_http_chunked_feed(&c, piece + off, n - off, &d, &dl);
      if (rc < 0) {
        o->rc = rc;
        free(piece);
        return;
      }
      if (rc == 0 || (size_t)rc > n - off)
        abort();
      if (dl && (d < piece + off || d + dl > piece + off + rc))
        abort();
      for (size_t i = 0; i < dl; i++)
        o->sum = o->sum * 31 + (unsigned char)d[i] + ++o->count;
      off += (size_t)rc;
      o->consumed += (size_t)rc;
    }
    from = cuts[k];
    free(piece);
  }
  if (eddy_http_chunked_total(&c) != o->count)
    abort();
  o->rc = eddy_http_chunked_done(&c) ? 0 : EDDY_HTTP_NEED_MORE;
}

static int chunk_same(const chunk_out_t *a, const chunk_out_t *b) {
  if (a->rc != b->rc)
    return 0;
  return a->rc < 0 || (a->consumed == b->consumed && a->sum == b->sum &&
                       a->count == b->count);
}

static void fuzz_chunked(const eddy_http_limits_t *lim, const char *in,
                         size_t len, size_t split) {
  chunk_out_t whole, other;
  size_t *cuts = malloc((len + 1) * sizeof(*cuts));
  if (!cuts)
    abort();
  cuts[0] = len;
  chunk_run(lim, in, cuts, 1, &whole);
  for (size_t i = 0; i < len; i++)
    cuts[i] = i + 1;
  if (len > 0) {
    chunk_run(lim, in, cuts, len, &other);
    if (!chunk_same(&whole, &other))
      abort();
  }
  size_t two[2] = {split % (len + 1), len};
  chunk_run(lim, in, two, 2, &other);
  if (!chunk_same(&whole, &other))
    abort();
  free(cuts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2 || size > 8192)
    return 0;
  unsigned mode = data[0];
  size_t split = data[1];
  const char *in = (const char *)data + 2;
  size_t len = size - 2;
  eddy_http_limits_t small = {.max_line = 64,
                              .max_headers = 8,
                              .max_head = 512,
                              .max_body = 4096,
                              .max_chunk_ext = 16};
  const eddy_http_limits_t *lim = (mode & 8) ? &small : NULL;
  switch (mode % 4) {
  case 0:
    fuzz_head(lim, EDDY_HTTP_REQUEST, 0, in, len, split);
    break;
  case 1:
    fuzz_head(lim, EDDY_HTTP_RESPONSE, (mode & 16) != 0, in, len, split);
    break;
  default:
    fuzz_chunked(lim, in, len, split);
    break;
  }
  return 0;
}
