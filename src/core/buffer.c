/* buffer.c — a growable byte buffer with a hard maximum and O(1) consume. */
#include "eddy/buffer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

void eddy_buf_init(eddy_buf_t *b, size_t max) {
  b->data = NULL;
  b->len = 0;
  b->mem = NULL;
  b->cap = 0;
  b->max = max;
}

void eddy_buf_free(eddy_buf_t *b) {
  free(b->mem);
  eddy_buf_init(b, b->max);
}

/* Makes the capacity hold `extra` more bytes after the data, whatever the
 * maximum (callers check it). Consumed bytes at the front are reclaimed
 * before growing; a grown block keeps one spare byte for the NUL that
 * eddy_buf_detach and eddy_buf_vprintf write past the data. */
static int ensure(eddy_buf_t *b, size_t extra) {
  if (extra > SIZE_MAX - 1 - b->len)
    return UV_ENOMEM; /* the data and its NUL could not be addressed */
  size_t need = b->len + extra;
  size_t head = b->mem != NULL ? (size_t)(b->data - b->mem) : 0;
  if (head + need <= b->cap)
    return 0;
  if (need < b->cap) {
    memmove(b->mem, b->data, b->len);
    b->data = b->mem;
    return 0;
  }
  size_t cap = b->cap ? b->cap : 64;
  while (cap <= need)
    cap = cap > SIZE_MAX / 2 ? need + 1 : cap * 2;
  /* Doubling must not overshoot the maximum by more than the NUL's byte
   * (need is at most max, or max + 1 when it counts vprintf's NUL). */
  if (b->max < SIZE_MAX && cap > b->max + 1 && need <= b->max + 1)
    cap = b->max + 1;
  char *mem = malloc(cap);
  if (mem == NULL)
    return UV_ENOMEM;
  if (b->len > 0)
    memcpy(mem, b->data, b->len);
  free(b->mem);
  b->mem = mem;
  b->data = mem;
  b->cap = cap;
  return 0;
}

static int over_max(const eddy_buf_t *b, size_t extra) {
  return extra > b->max || b->len > b->max - extra;
}

int eddy_buf_reserve(eddy_buf_t *b, size_t extra) {
  if (over_max(b, extra))
    return UV_ENOBUFS;
  return ensure(b, extra);
}

int eddy_buf_append(eddy_buf_t *b, const void *p, size_t n) {
  if (n == 0)
    return 0;
  /* p may point into the buffer's own data, which reserve may move. */
  uintptr_t at = (uintptr_t)p, lo = (uintptr_t)b->data;
  int inside = b->data != NULL && at >= lo && at < lo + b->len;
  size_t off = inside ? (size_t)(at - lo) : 0;
  int rc = eddy_buf_reserve(b, n);
  if (rc != 0)
    return rc;
  memmove(b->data + b->len, inside ? b->data + off : p, n);
  b->len += n;
  return 0;
}

int eddy_buf_append_str(eddy_buf_t *b, const char *s) {
  return eddy_buf_append(b, s, strlen(s));
}

int eddy_buf_vprintf(eddy_buf_t *b, const char *fmt, va_list ap) {
  va_list copy;
  va_copy(copy, ap);
  int n = vsnprintf(NULL, 0, fmt, copy);
  va_end(copy);
  if (n < 0)
    return UV_EINVAL;
  /* Only the text counts against the maximum; vsnprintf's NUL goes into the
   * spare byte past it. */
  if (over_max(b, (size_t)n))
    return UV_ENOBUFS;
  int rc = ensure(b, (size_t)n + 1);
  if (rc != 0)
    return rc;
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
  return 0;
}

int eddy_buf_printf(eddy_buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = eddy_buf_vprintf(b, fmt, ap);
  va_end(ap);
  return rc;
}

void eddy_buf_consume(eddy_buf_t *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    b->data = b->mem;
    return;
  }
  b->data += n;
  b->len -= n;
}

void eddy_buf_clear(eddy_buf_t *b) {
  b->len = 0;
  b->data = b->mem;
}

char *eddy_buf_tail(eddy_buf_t *b) {
  return b->data != NULL ? b->data + b->len : NULL;
}

size_t eddy_buf_tail_room(const eddy_buf_t *b) {
  if (b->mem == NULL)
    return 0;
  size_t used = (size_t)(b->data - b->mem) + b->len;
  return b->cap - used;
}

void eddy_buf_commit(eddy_buf_t *b, size_t n) {
  size_t room = eddy_buf_tail_room(b);
  b->len += n < room ? n : room;
}

char *eddy_buf_detach(eddy_buf_t *b, size_t *len) {
  if (len != NULL)
    *len = 0;
  if (b->len == 0)
    return NULL;
  if (b->data != b->mem) {
    memmove(b->mem, b->data, b->len);
    b->data = b->mem;
  }
  if (b->len == b->cap) { /* no room for the NUL: grow by one */
    char *mem = realloc(b->mem, b->cap + 1);
    if (mem == NULL)
      return NULL; /* the buffer keeps its bytes */
    b->mem = b->data = mem;
    b->cap++;
  }
  char *out = b->mem;
  out[b->len] = '\0';
  if (len != NULL)
    *len = b->len;
  eddy_buf_init(b, b->max);
  return out;
}
