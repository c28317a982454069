/* eddy/buffer.h — growable byte buffers and shared, reference-counted slices.
 *
 * eddy_buf_t is caller-owned: it lives in the caller's memory and owns the
 * bytes it points to until eddy_buf_free (or eddy_buf_detach). Every buffer
 * has a maximum size; growing past it fails with UV_ENOBUFS and leaves the
 * buffer as it was, so a peer cannot make a buffer grow without bound.
 *
 * eddy_slice_t is library-owned and immutable: one payload shared by many
 * holders (for example a broadcast written to many connections) without
 * copying. Each holder takes a reference; the bytes are freed when the last
 * reference is dropped. Reference counting is atomic, so a slice may be
 * passed between threads.
 */
#ifndef EDDY_BUFFER_H
#define EDDY_BUFFER_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EDDY_BUF_UNLIMITED ((size_t)-1)

typedef struct eddy_buf_s {
  char *data; /* first valid byte (read-only for callers) */
  size_t len; /* number of valid bytes */
  /* private */
  char *mem;
  size_t cap;
  size_t max;
} eddy_buf_t;

/* max: the most bytes the buffer may ever hold (EDDY_BUF_UNLIMITED allowed). */
void eddy_buf_init(eddy_buf_t *b, size_t max);
void eddy_buf_free(eddy_buf_t *b);
/* Makes room for `extra` more bytes. 0, UV_ENOBUFS (over max) or UV_ENOMEM.
 * Never allocates more than max + 1 bytes (the spare one is for a NUL). */
int eddy_buf_reserve(eddy_buf_t *b, size_t extra);
/* p may point into b's own data. */
int eddy_buf_append(eddy_buf_t *b, const void *p, size_t n);
int eddy_buf_append_str(eddy_buf_t *b, const char *s);
int eddy_buf_printf(eddy_buf_t *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
int eddy_buf_vprintf(eddy_buf_t *b, const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 0)))
#endif
    ;
/* Drops n bytes from the front (n > len drops everything). O(1). */
void eddy_buf_consume(eddy_buf_t *b, size_t n);
void eddy_buf_clear(eddy_buf_t *b);
/* Room available after the data, for reading into directly: reserve first,
 * write into eddy_buf_tail(), then eddy_buf_commit(n). */
char *eddy_buf_tail(eddy_buf_t *b);
size_t eddy_buf_tail_room(const eddy_buf_t *b);
void eddy_buf_commit(eddy_buf_t *b, size_t n);
/* Hands the bytes to the caller (free() them); the buffer is left empty.
 * Returns NULL (and *len = 0) when empty, or when out of memory, in which
 * case the buffer keeps its bytes. The bytes are followed by a NUL not
 * counted in *len. */
char *eddy_buf_detach(eddy_buf_t *b, size_t *len);

typedef struct eddy_slice_s eddy_slice_t;
typedef void (*eddy_slice_free_cb)(void *data, void *arg);

/* A slice holding a copy of data, followed by a NUL not counted in its
 * length. NULL only when out of memory. */
eddy_slice_t *eddy_slice_new(const void *data, size_t len);
/* A slice over caller memory; free_fn(data, arg) runs when the last
 * reference goes (free_fn may be NULL for static data). */
eddy_slice_t *eddy_slice_wrap(void *data, size_t len,
                              eddy_slice_free_cb free_fn, void *arg);
/* Takes over the bytes of b (b is left empty). NULL only when out of memory,
 * and then b keeps its bytes. */
eddy_slice_t *eddy_slice_from_buf(eddy_buf_t *b);
/* A view of [off, off+len) of parent that keeps parent alive. NULL when the
 * range is outside parent or out of memory. */
eddy_slice_t *eddy_slice_sub(eddy_slice_t *parent, size_t off, size_t len);
eddy_slice_t *eddy_slice_ref(eddy_slice_t *s);
void eddy_slice_unref(eddy_slice_t *s);
const char *eddy_slice_data(const eddy_slice_t *s);
size_t eddy_slice_len(const eddy_slice_t *s);

#ifdef __cplusplus
}
#endif
#endif
