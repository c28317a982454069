/* buffer.c — a growable byte buffer with a hard maximum and O(1) consume. */
#include "eddy/buffer.h"

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

int eddy_buf_reserve(eddy_buf_t *b, size_t extra) {
  if (extra > b->max || b->len > b->max - extra)
    return UV_ENOBUFS;
  size_t need = b->len + extra;
  size_t head = b->mem != NULL ? (size_t)(b->data - b->mem) : 0;
  if (head + need <= b->cap)
    return 0;
  /* Consumed bytes at the front are reclaimed before growing; one spare byte
   * keeps room for the NUL that eddy_buf_detach promises. */
  if (need < b->cap) {
    memmove(b->mem, b->data, b->len);
    b->data = b->mem;
    return 0;
  }
  size_t cap = b->cap ? b->cap : 64;
  while (cap <= need)
    cap = cap > SIZE_MAX / 2 ? need + 1 : cap * 2;
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

int eddy_buf_append(eddy_buf_t *b, const void *p, size_t n) {
  if (n == 0)
    return 0;
  int rc = eddy_buf_reserve(b, n);
  if (rc != 0)
    return rc;
  memcpy(b->data + b->len, p, n);
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
  int rc = eddy_buf_reserve(b, (size_t)n + 1);
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
  if (b->len == 0) {
    if (len != NULL)
      *len = 0;
    return NULL;
  }
  if (b->data != b->mem)
    memmove(b->mem, b->data, b->len);
  if (b->len == b->cap) { /* no room for the NUL: grow by one */
    char *mem = realloc(b->mem, b->cap + 1);
    if (mem == NULL)
      return NULL;
    b->mem = mem;
  }
  char *out = b->mem;
  out[b->len] = '\0';
  if (len != NULL)
    *len = b->len;
  eddy_buf_init(b, b->max);
  return out;
}
