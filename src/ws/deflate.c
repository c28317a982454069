/* deflate.c — permessage-deflate (RFC 7692) on zlib's raw deflate.
 *
 * A message is compressed with Z_SYNC_FLUSH, which ends the output on a
 * byte boundary with an empty stored block (00 00 ff ff); the RFC strips
 * those four bytes on the wire and the receiver puts them back before
 * inflating. Inflating writes into a buffer checked against the message
 * limit as it grows, so a small "zip bomb" cannot expand past it.
 *
 * Compressors that reset after every message (always ours as a server: we
 * answer server_no_context_takeover) carry no state between messages, so
 * they are borrowed from a small process-wide cache, one per window and
 * level, instead of each connection holding zlib's ~256 KiB of state. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "ws_internal.h"

#define ZCHUNK ((size_t)64u * 1024u)
#define MEM_LEVEL 8

static const uint8_t trailer[EDDY__WS_TRAILER_LEN] = {0x00, 0x00, 0xff, 0xff};

/* ---- The cache of reset-per-message compressors ------------------------ */

#define CACHE_WINDOWS 7 /* 9..15 */
#define CACHE_LEVELS 9  /* 1..9 */

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static z_stream *cache[CACHE_WINDOWS][CACHE_LEVELS];

static z_stream *stream_new(unsigned window_bits, int level) {
  z_stream *zs = calloc(1, sizeof(*zs));
  if (zs == NULL)
    return NULL;
  if (deflateInit2(zs, level, Z_DEFLATED, -(int)window_bits, MEM_LEVEL,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    free(zs);
    return NULL;
  }
  return zs;
}

static void stream_free(z_stream *zs) {
  if (zs != NULL) {
    deflateEnd(zs);
    free(zs);
  }
}

/* Takes the cached stream out (so another thread cannot use it meanwhile)
 * or makes a new one. */
static z_stream *borrow(unsigned window_bits, int level) {
  z_stream **slot = &cache[window_bits - 9][level - 1];
  pthread_mutex_lock(&cache_lock);
  z_stream *zs = *slot;
  *slot = NULL;
  pthread_mutex_unlock(&cache_lock);
  return zs != NULL ? zs : stream_new(window_bits, level);
}

static void give_back(z_stream *zs, unsigned window_bits, int level) {
  if (deflateReset(zs) != Z_OK) {
    stream_free(zs);
    return;
  }
  z_stream **slot = &cache[window_bits - 9][level - 1];
  pthread_mutex_lock(&cache_lock);
  if (*slot == NULL) {
    *slot = zs;
    zs = NULL;
  }
  pthread_mutex_unlock(&cache_lock);
  stream_free(zs); /* another thread returned one first */
}

/* ---- Compressing -----------------------------------------------------------
 */

static int compress_into(z_stream *zs, const void *in, size_t n,
                         eddy_buf_t *out) {
  eddy_buf_clear(out);
  zs->next_in = (Bytef *)(uintptr_t)in;
  /* zlib counts in uInt: feed huge inputs in slices. */
  size_t left = n;
  for (;;) {
    uInt slice = left > (size_t)UINT32_MAX / 2 ? UINT32_MAX / 2 : (uInt)left;
    zs->avail_in = slice;
    left -= slice;
    for (;;) {
      size_t want = deflateBound(zs, zs->avail_in) + 16;
      if (want > ZCHUNK * 16)
        want = ZCHUNK * 16;
      int rc = eddy_buf_reserve(out, want);
      if (rc != 0)
        return rc;
      zs->next_out = (Bytef *)eddy_buf_tail(out);
      zs->avail_out = (uInt)want;
      int zr = deflate(zs, left == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH);
      eddy_buf_commit(out, want - zs->avail_out);
      if (zr != Z_OK && zr != Z_BUF_ERROR)
        return zr == Z_MEM_ERROR ? UV_ENOMEM : UV_EIO;
      if (zs->avail_in == 0 && zs->avail_out > 0)
        break;
    }
    if (left == 0)
      break;
  }
  if (out->len >= EDDY__WS_TRAILER_LEN &&
      memcmp(out->data + out->len - EDDY__WS_TRAILER_LEN, trailer,
             EDDY__WS_TRAILER_LEN) == 0)
    out->len -= EDDY__WS_TRAILER_LEN;
  return 0;
}

static unsigned clamp_window(unsigned bits) {
  /* zlib's raw deflate cannot use 8 (it silently uses 9); negotiation never
   * gives us 8, this only guards the cache index. */
  return bits < 9 ? 9 : bits > 15 ? 15 : bits;
}

static int clamp_level(int level) {
  return level <= 0 ? 6 : level > 9 ? 9 : level;
}

void eddy__ws_zout_init(eddy__ws_zout_t *d, unsigned window_bits, int level,
                        int no_takeover) {
  memset(d, 0, sizeof(*d));
  d->window_bits = clamp_window(window_bits);
  d->level = clamp_level(level);
  d->no_takeover = no_takeover;
}

int eddy__ws_zout_message(eddy__ws_zout_t *d, const void *in, size_t n,
                          eddy_buf_t *out) {
  if (n == 0) {
    /* RFC 7692 7.2.3.6: an empty message is one 0x00 byte (with the
     * trailer: an empty stored block). zlib would emit nothing for it on a
     * stream it already flushed. */
    eddy_buf_clear(out);
    return eddy_buf_append(out, "", 1);
  }
  if (d->no_takeover) {
    z_stream *zs = borrow(d->window_bits, d->level);
    if (zs == NULL)
      return UV_ENOMEM;
    int rc = compress_into(zs, in, n, out);
    if (rc != 0)
      stream_free(zs); /* its state is unknown now */
    else
      give_back(zs, d->window_bits, d->level);
    return rc;
  }
  if (!d->ready) {
    if (deflateInit2(&d->z, d->level, Z_DEFLATED, -(int)d->window_bits,
                     MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK)
      return UV_ENOMEM;
    d->ready = 1;
  }
  int rc = compress_into(&d->z, in, n, out);
  if (rc != 0) {
    /* The peer's context would no longer match ours: the caller fails the
     * connection, and the stream is not used again. */
    deflateEnd(&d->z);
    d->ready = 0;
  }
  return rc;
}

void eddy__ws_zout_free(eddy__ws_zout_t *d) {
  if (d->ready)
    deflateEnd(&d->z);
  d->ready = 0;
}

int eddy__ws_deflate_once(unsigned window_bits, int level, const void *in,
                          size_t n, eddy_buf_t *out) {
  eddy__ws_zout_t d;
  eddy__ws_zout_init(&d, window_bits, level, 1);
  return eddy__ws_zout_message(&d, in, n, out);
}

/* ---- Inflating ----------------------------------------------------------- */

void eddy__ws_zin_init(eddy__ws_zin_t *z, int no_takeover) {
  memset(z, 0, sizeof(*z));
  z->no_takeover = no_takeover;
}

void eddy__ws_zin_free(eddy__ws_zin_t *z) {
  if (z->ready)
    inflateEnd(&z->z);
  z->ready = 0;
}

static int inflate_piece(eddy__ws_zin_t *z, const uint8_t *in, size_t n,
                         int trailer_piece, eddy_buf_t *out, uint64_t limit,
                         size_t *produced) {
  if (z->ended) /* only our trailer may follow a final block */
    return trailer_piece || n == 0 ? 0 : UV_EILSEQ;
  z->z.next_in = (Bytef *)(uintptr_t)in;
  size_t left = n;
  do {
    uInt slice = left > (size_t)UINT32_MAX / 2 ? UINT32_MAX / 2 : (uInt)left;
    z->z.avail_in = slice;
    left -= slice;
    for (;;) {
      uint8_t spare;
      uint64_t room = limit > out->len ? limit - out->len : 0;
      size_t want = room < ZCHUNK ? (size_t)room : ZCHUNK;
      if (want > 0) {
        int rc = eddy_buf_reserve(out, want);
        if (rc != 0)
          return rc == UV_ENOBUFS ? UV_EMSGSIZE : rc;
        z->z.next_out = (Bytef *)eddy_buf_tail(out);
        z->z.avail_out = (uInt)want;
      } else {
        /* At the limit: one more byte of output means too big. */
        z->z.next_out = &spare;
        z->z.avail_out = 1;
      }
      int zr = inflate(&z->z, Z_SYNC_FLUSH);
      size_t got = (want > 0 ? want : 1) - z->z.avail_out;
      if (want == 0 && got > 0)
        return UV_EMSGSIZE;
      eddy_buf_commit(out, got);
      *produced += got;
      if (zr == Z_STREAM_END) {
        /* A final block (BFINAL) ends the message's data: the trailer we
         * add is not inflated, and the next message starts a new stream
         * (such a sender cannot have kept its window anyway). */
        if (inflateReset(&z->z) != Z_OK)
          return UV_EILSEQ;
        z->ended = 1;
        return z->z.avail_in == 0 && left == 0 ? 0
               : trailer_piece                 ? 0
                                               : UV_EILSEQ;
      }
      if (zr == Z_MEM_ERROR)
        return UV_ENOMEM;
      if (zr != Z_OK && zr != Z_BUF_ERROR)
        return UV_EILSEQ;
      if (z->z.avail_in == 0 && z->z.avail_out > 0)
        break;
      if (zr == Z_BUF_ERROR && z->z.avail_out > 0)
        break; /* no progress possible: needs more input */
    }
  } while (left > 0);
  return 0;
}

int eddy__ws_zin_feed(eddy__ws_zin_t *z, const void *in, size_t n, int fin,
                      eddy_buf_t *out, uint64_t limit, size_t *produced) {
  *produced = 0;
  z->fed += n;
  if (fin && z->fed == 0)
    return 0; /* an empty payload: an empty message, the stream untouched */
  if (!z->ready) {
    /* Always the largest window: it decodes whatever window the peer used
     * (peers that "use 8 bits" through zlib really use 9). */
    if (inflateInit2(&z->z, -15) != Z_OK)
      return UV_ENOMEM;
    z->ready = 1;
  }
  int rc = n > 0 ? inflate_piece(z, in, n, 0, out, limit, produced) : 0;
  if (rc == 0 && fin)
    rc = inflate_piece(z, trailer, sizeof(trailer), 1, out, limit, produced);
  if (fin) {
    z->fed = 0;
    z->ended = 0;
  }
  if (rc == 0 && fin && z->no_takeover && inflateReset(&z->z) != Z_OK)
    rc = UV_EILSEQ;
  return rc;
}
