/* slice.c — immutable, reference-counted byte payloads shared without
 * copying. A copied slice is one allocation: header and bytes together. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/buffer.h"

struct eddy_slice_s {
  atomic_size_t refs;
  const char *data;
  size_t len;
  eddy_slice_free_cb free_fn;
  void *free_arg;
  eddy_slice_t *parent; /* for sub-slices */
  char inline_bytes[];
};

static eddy_slice_t *alloc_slice(size_t inline_len) {
  if (inline_len > SIZE_MAX - sizeof(eddy_slice_t))
    return NULL;
  eddy_slice_t *s = malloc(sizeof(*s) + inline_len);
  if (s == NULL)
    return NULL;
  atomic_init(&s->refs, 1);
  s->data = NULL;
  s->len = 0;
  s->free_fn = NULL;
  s->free_arg = NULL;
  s->parent = NULL;
  return s;
}

eddy_slice_t *eddy_slice_new(const void *data, size_t len) {
  if (len == SIZE_MAX)
    return NULL;
  eddy_slice_t *s = alloc_slice(len + 1);
  if (s == NULL)
    return NULL;
  if (len > 0)
    memcpy(s->inline_bytes, data, len);
  s->inline_bytes[len] = '\0';
  s->data = s->inline_bytes;
  s->len = len;
  return s;
}

eddy_slice_t *eddy_slice_wrap(void *data, size_t len,
                              eddy_slice_free_cb free_fn, void *arg) {
  eddy_slice_t *s = alloc_slice(0);
  if (s == NULL)
    return NULL;
  s->data = data;
  s->len = len;
  s->free_fn = free_fn;
  s->free_arg = arg;
  return s;
}

static void free_detached(void *data, void *arg) {
  (void)arg;
  free(data);
}

eddy_slice_t *eddy_slice_from_buf(eddy_buf_t *b) {
  if (b->len == 0)
    return eddy_slice_new("", 0);
  /* The header first: once detached, the bytes must not be lost. */
  eddy_slice_t *s = alloc_slice(0);
  if (s == NULL)
    return NULL;
  size_t len = 0;
  char *bytes = eddy_buf_detach(b, &len);
  if (bytes == NULL) { /* out of memory; b keeps its bytes */
    free(s);
    return NULL;
  }
  s->data = bytes;
  s->len = len;
  s->free_fn = free_detached;
  return s;
}

eddy_slice_t *eddy_slice_sub(eddy_slice_t *parent, size_t off, size_t len) {
  if (off > parent->len || len > parent->len - off)
    return NULL;
  eddy_slice_t *s = alloc_slice(0);
  if (s == NULL)
    return NULL;
  /* off == 0 keeps a NULL payload (an empty wrap) free of pointer
   * arithmetic on NULL. */
  s->data = off != 0 ? parent->data + off : parent->data;
  s->len = len;
  s->parent = eddy_slice_ref(parent);
  return s;
}

eddy_slice_t *eddy_slice_ref(eddy_slice_t *s) {
  atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
  return s;
}

void eddy_slice_unref(eddy_slice_t *s) {
  while (s != NULL) {
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
      return;
    eddy_slice_t *parent = s->parent;
    if (s->free_fn != NULL)
      s->free_fn((void *)s->data, s->free_arg);
    free(s);
    s = parent; /* drop the sub-slice's hold without recursion */
  }
}

const char *eddy_slice_data(const eddy_slice_t *s) {
  return s->data;
}

size_t eddy_slice_len(const eddy_slice_t *s) {
  return s->len;
}
