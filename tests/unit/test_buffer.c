/* Buffers and slices. */
#include <string.h>

#include "support.h"

Test(buffer, append_consume_and_reuse_front_space) {
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  cr_assert_eq(eddy_buf_append_str(&b, "hello "), 0);
  cr_assert_eq(eddy_buf_printf(&b, "%s %d", "world", 42), 0);
  cr_assert_eq(b.len, 14);
  cr_assert_eq(memcmp(b.data, "hello world 42", 14), 0);
  eddy_buf_consume(&b, 6);
  cr_assert_eq(b.len, 8);
  cr_assert_eq(memcmp(b.data, "world 42", 8), 0);
  char *mem = b.mem;
  size_t cap = b.cap;
  /* Filling up to the capacity reclaims the consumed front, not grows. */
  size_t room = cap - b.len - 1;
  char fill[256];
  memset(fill, 'x', sizeof(fill));
  cr_assert(room <= sizeof(fill));
  cr_assert_eq(eddy_buf_append(&b, fill, room), 0);
  cr_assert_eq(b.mem, mem);
  cr_assert_eq(b.data, b.mem);
  cr_assert_eq(memcmp(b.data, "world 42", 8), 0);
  eddy_buf_consume(&b, 1000);
  cr_assert_eq(b.len, 0);
  eddy_buf_free(&b);
}

Test(buffer, maximum_is_enforced_and_buffer_left_intact) {
  eddy_buf_t b;
  eddy_buf_init(&b, 10);
  cr_assert_eq(eddy_buf_append(&b, "0123456789", 10), 0);
  cr_assert_eq(eddy_buf_append(&b, "x", 1), UV_ENOBUFS);
  cr_assert_eq(eddy_buf_printf(&b, "%d", 1), UV_ENOBUFS);
  cr_assert_eq(b.len, 10);
  cr_assert_eq(memcmp(b.data, "0123456789", 10), 0);
  eddy_buf_consume(&b, 4);
  cr_assert_eq(eddy_buf_append(&b, "abcd", 4), 0);
  cr_assert_eq(memcmp(b.data, "456789abcd", 10), 0);
  cr_assert_eq(eddy_buf_reserve(&b, SIZE_MAX), UV_ENOBUFS);
  eddy_buf_free(&b);
}

Test(buffer, tail_commit_and_detach) {
  eddy_buf_t b;
  eddy_buf_init(&b, 1 << 20);
  cr_assert_eq(eddy_buf_reserve(&b, 100), 0);
  cr_assert(eddy_buf_tail_room(&b) >= 100);
  memcpy(eddy_buf_tail(&b), "abc", 3);
  eddy_buf_commit(&b, 3);
  cr_assert_eq(b.len, 3);
  size_t len = 0;
  char *s = eddy_buf_detach(&b, &len);
  cr_assert_eq(len, 3);
  cr_assert_str_eq(s, "abc");
  free(s);
  cr_assert_eq(b.len, 0);
  cr_assert_null(eddy_buf_detach(&b, &len));
  cr_assert_eq(len, 0);
  /* A full buffer still detaches with its NUL. */
  eddy_buf_t c;
  eddy_buf_init(&c, EDDY_BUF_UNLIMITED);
  char big[64];
  memset(big, 'y', sizeof(big));
  eddy_buf_append(&c, big, c.cap == 0 ? 64 : c.cap);
  while (c.len < c.cap)
    eddy_buf_append(&c, "y", 1);
  s = eddy_buf_detach(&c, &len);
  cr_assert_eq(s[len], '\0');
  free(s);
  eddy_buf_free(&b);
}

Test(buffer, grows_for_large_appends) {
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  static char chunk[4096];
  memset(chunk, 'z', sizeof(chunk));
  for (int i = 0; i < 512; i++)
    cr_assert_eq(eddy_buf_append(&b, chunk, sizeof(chunk)), 0);
  cr_assert_eq(b.len, 512u * 4096u);
  eddy_buf_clear(&b);
  cr_assert_eq(b.len, 0);
  eddy_buf_free(&b);
}

static int wrap_freed;
static void count_free(void *data, void *arg) {
  cr_assert_eq(arg, &wrap_freed);
  cr_assert_str_eq(data, "static payload");
  wrap_freed++;
}

Test(slice, copy_refcount_and_sub_slices) {
  eddy_slice_t *s = eddy_slice_new("broadcast", 9);
  cr_assert_not_null(s);
  cr_assert_eq(eddy_slice_len(s), 9);
  cr_assert_eq(memcmp(eddy_slice_data(s), "broadcast", 9), 0);
  eddy_slice_t *sub = eddy_slice_sub(s, 5, 4);
  cr_assert_not_null(sub);
  cr_assert_eq(memcmp(eddy_slice_data(sub), "cast", 4), 0);
  cr_assert_null(eddy_slice_sub(s, 5, 5));
  cr_assert_null(eddy_slice_sub(s, 10, 0));
  eddy_slice_unref(s); /* the sub-slice keeps the parent alive */
  cr_assert_eq(memcmp(eddy_slice_data(sub), "cast", 4), 0);
  eddy_slice_t *again = eddy_slice_ref(sub);
  eddy_slice_unref(again);
  eddy_slice_unref(sub);
}

Test(slice, wrap_calls_free_once_on_last_unref) {
  static char payload[] = "static payload";
  wrap_freed = 0;
  eddy_slice_t *s =
      eddy_slice_wrap(payload, strlen(payload), count_free, &wrap_freed);
  for (int i = 0; i < 10; i++)
    eddy_slice_ref(s);
  for (int i = 0; i < 10; i++)
    eddy_slice_unref(s);
  cr_assert_eq(wrap_freed, 0);
  eddy_slice_unref(s);
  cr_assert_eq(wrap_freed, 1);
}

Test(slice, from_buf_takes_the_bytes) {
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  eddy_buf_append_str(&b, "moved");
  eddy_slice_t *s = eddy_slice_from_buf(&b);
  cr_assert_eq(b.len, 0);
  cr_assert_eq(eddy_slice_len(s), 5);
  cr_assert_eq(memcmp(eddy_slice_data(s), "moved", 5), 0);
  eddy_slice_unref(s);
  eddy_slice_t *empty = eddy_slice_from_buf(&b);
  cr_assert_eq(eddy_slice_len(empty), 0);
  eddy_slice_unref(empty);
}

static void *share(void *arg) {
  eddy_slice_t *s = arg;
  for (int i = 0; i < 100000; i++)
    eddy_slice_unref(eddy_slice_ref(s));
  return NULL;
}

Test(slice, refcount_is_thread_safe) {
  eddy_slice_t *s = eddy_slice_new("x", 1);
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    pthread_create(&th[i], NULL, share, s);
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  eddy_slice_unref(s); /* ASan reports a leak or double free otherwise */
}
