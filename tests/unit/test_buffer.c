/* Buffers and slices. */
#include <stdint.h>
#include <string.h>
#include <wchar.h>

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

/* ---- Regressions and edge cases ----------------------------------------- */

Test(buffer, reserving_the_whole_address_space_fails_instead_of_hanging) {
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  cr_assert_eq(eddy_buf_reserve(&b, SIZE_MAX), UV_ENOMEM);
  cr_assert_eq(eddy_buf_append_str(&b, "ab"), 0);
  cr_assert_eq(eddy_buf_reserve(&b, SIZE_MAX - 2), UV_ENOMEM);
  cr_assert_eq(eddy_buf_reserve(&b, SIZE_MAX - 1), UV_ENOBUFS);
  cr_assert_eq(b.len, 2);
  eddy_buf_free(&b);
}

Test(buffer, printf_may_fill_up_to_the_maximum) {
  eddy_buf_t b;
  eddy_buf_init(&b, 10);
  cr_assert_eq(eddy_buf_append(&b, "12345678", 8), 0);
  cr_assert_eq(eddy_buf_printf(&b, "%d", 90), 0, "the NUL is not content");
  cr_assert_eq(b.len, 10);
  cr_assert_eq(memcmp(b.data, "1234567890", 10), 0);
  cr_assert_eq(eddy_buf_printf(&b, "%s", ""), 0);
  cr_assert_eq(eddy_buf_printf(&b, "x"), UV_ENOBUFS);
  /* After a consume the front is reclaimed for the text and its NUL. */
  eddy_buf_consume(&b, 3);
  cr_assert_eq(eddy_buf_printf(&b, "%03d", 7), 0);
  cr_assert_eq(memcmp(b.data, "4567890007", 10), 0);
  eddy_buf_free(&b);
}

Test(buffer, printf_into_an_empty_exact_size_buffer) {
  eddy_buf_t b;
  eddy_buf_init(&b, 5);
  cr_assert_eq(eddy_buf_printf(&b, "%s", "hello"), 0);
  cr_assert_eq(b.len, 5);
  size_t len;
  char *s = eddy_buf_detach(&b, &len);
  cr_assert_str_eq(s, "hello");
  free(s);
  eddy_buf_free(&b);
}

Test(buffer, printf_reports_an_encoding_error) {
  eddy_buf_t b;
  eddy_buf_init(&b, 100);
  /* In the C locale a wide character outside ASCII cannot be converted. */
  static const wchar_t bad[] = {0x20ac, 0};
  cr_assert_eq(eddy_buf_printf(&b, "%ls", bad), UV_EINVAL);
  cr_assert_eq(b.len, 0);
  eddy_buf_free(&b);
}

Test(buffer, capacity_stays_within_the_maximum_plus_a_nul) {
  eddy_buf_t b;
  eddy_buf_init(&b, 1000);
  char chunk[300];
  memset(chunk, 'c', sizeof(chunk));
  for (int i = 0; i < 3; i++)
    cr_assert_eq(eddy_buf_append(&b, chunk, sizeof(chunk)), 0);
  cr_assert_eq(eddy_buf_append(&b, chunk, 100), 0);
  cr_assert_eq(b.len, 1000);
  cr_assert_leq(b.cap, 1001, "cap %zu for max 1000", b.cap);
  size_t len;
  char *s = eddy_buf_detach(&b, &len);
  cr_assert_eq(len, 1000);
  cr_assert_eq(s[1000], '\0');
  free(s);
  /* The same when printf makes it grow to exactly the maximum. */
  char half[500];
  memset(half, 'h', sizeof(half));
  cr_assert_eq(eddy_buf_append(&b, half, sizeof(half)), 0);
  cr_assert_eq(b.cap, 512);
  cr_assert_eq(eddy_buf_printf(&b, "%0500d", 0), 0);
  cr_assert_eq(b.len, 1000);
  cr_assert_leq(b.cap, 1001, "cap %zu for max 1000", b.cap);
  eddy_buf_free(&b);
}

Test(buffer, append_from_its_own_data_survives_growth) {
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  cr_assert_eq(eddy_buf_append_str(&b, "abcdefgh"), 0);
  /* Doubling repeatedly outgrows the block each time: the source moves. */
  for (int i = 0; i < 6; i++)
    cr_assert_eq(eddy_buf_append(&b, b.data, b.len), 0);
  cr_assert_eq(b.len, 8u << 6);
  for (size_t i = 0; i < b.len; i += 8)
    cr_assert_eq(memcmp(b.data + i, "abcdefgh", 8), 0);
  /* And from the middle of consumed data, when reserve moves it down. */
  eddy_buf_t c;
  eddy_buf_init(&c, EDDY_BUF_UNLIMITED);
  char fill[63];
  memset(fill, '.', sizeof(fill));
  cr_assert_eq(eddy_buf_append(&c, fill, sizeof(fill)), 0);
  cr_assert_eq(c.cap, 64);
  eddy_buf_consume(&c, 40);
  memcpy(c.data, "XYZ", 3);
  cr_assert_eq(eddy_buf_append(&c, c.data, 3), 0);
  cr_assert_eq(c.data, c.mem, "the front was reclaimed");
  cr_assert_eq(memcmp(c.data + c.len - 3, "XYZ", 3), 0);
  eddy_buf_free(&c);
  eddy_buf_free(&b);
}

Test(buffer, tail_and_commit_on_edges) {
  eddy_buf_t b;
  eddy_buf_init(&b, 100);
  cr_assert_null(eddy_buf_tail(&b));
  cr_assert_eq(eddy_buf_tail_room(&b), 0);
  eddy_buf_commit(&b, 10); /* nothing reserved: nothing committed */
  cr_assert_eq(b.len, 0);
  cr_assert_eq(eddy_buf_reserve(&b, 4), 0);
  size_t room = eddy_buf_tail_room(&b);
  memset(eddy_buf_tail(&b), 'q', room);
  eddy_buf_commit(&b, room + 50); /* clamped to the room */
  cr_assert_eq(b.len, room);
  cr_assert_eq(eddy_buf_append(&b, "", 0), 0);
  eddy_buf_consume(&b, 0);
  cr_assert_eq(b.len, room);
  eddy_buf_clear(&b);
  cr_assert_eq(b.len, 0);
  cr_assert_eq(b.data, b.mem);
  eddy_buf_free(&b);
  eddy_buf_free(&b); /* harmless twice */
}

Test(buffer, detach_after_consume_and_when_full) {
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  char fill[64];
  memset(fill, 'f', sizeof(fill));
  cr_assert_eq(eddy_buf_append(&b, fill, 63), 0);
  cr_assert_eq(b.cap, 64);
  cr_assert_eq(eddy_buf_append(&b, "g", 1), 0); /* exactly full */
  cr_assert_eq(b.len, b.cap);
  eddy_buf_consume(&b, 60);
  size_t len = 99;
  char *s = eddy_buf_detach(&b, &len);
  cr_assert_eq(len, 4);
  cr_assert_str_eq(s, "fffg");
  free(s);
  cr_assert_null(b.mem);
  /* Full with nothing consumed: detach grows by one for the NUL. */
  cr_assert_eq(eddy_buf_append(&b, fill, 63), 0);
  cr_assert_eq(eddy_buf_append(&b, "h", 1), 0);
  cr_assert_eq(b.len, b.cap);
  s = eddy_buf_detach(&b, NULL);
  cr_assert_eq(s[63], 'h');
  cr_assert_eq(s[64], '\0');
  free(s);
  len = 7;
  cr_assert_null(eddy_buf_detach(&b, &len));
  cr_assert_eq(len, 0);
  cr_assert_null(eddy_buf_detach(&b, NULL));
  eddy_buf_free(&b);
}

Test(slice, new_is_nul_terminated_and_refuses_impossible_sizes) {
  eddy_slice_t *s = eddy_slice_new("abc", 3);
  cr_assert_eq(eddy_slice_data(s)[3], '\0');
  eddy_slice_unref(s);
  cr_assert_null(eddy_slice_new("x", SIZE_MAX));
  cr_assert_null(eddy_slice_new("x", SIZE_MAX - 8));
  s = eddy_slice_new(NULL, 0);
  cr_assert_eq(eddy_slice_len(s), 0);
  cr_assert_str_eq(eddy_slice_data(s), "");
  eddy_slice_unref(s);
  eddy_slice_unref(NULL); /* harmless */
}

Test(slice, empty_wrap_and_its_sub_slice) {
  eddy_slice_t *w = eddy_slice_wrap(NULL, 0, NULL, NULL);
  cr_assert_not_null(w);
  eddy_slice_t *sub = eddy_slice_sub(w, 0, 0);
  cr_assert_not_null(sub);
  cr_assert_null(eddy_slice_data(sub));
  cr_assert_eq(eddy_slice_len(sub), 0);
  cr_assert_null(eddy_slice_sub(w, 1, 0));
  eddy_slice_unref(w);
  eddy_slice_unref(sub);
}

static int chain_freed;
static void count_chain_free(void *data, void *arg) {
  (void)data;
  (void)arg;
  chain_freed++;
}

Test(slice, deep_sub_slice_chains_keep_the_root_and_free_it_once) {
  static char payload[] = "0123456789abcdef";
  chain_freed = 0;
  eddy_slice_t *root = eddy_slice_wrap(payload, 16, count_chain_free, NULL);
  eddy_slice_t *cur = eddy_slice_ref(root);
  for (int i = 0; i < 1000; i++) {
    eddy_slice_t *next = eddy_slice_sub(cur, 0, eddy_slice_len(cur));
    cr_assert_not_null(next);
    eddy_slice_unref(cur);
    cur = next;
  }
  eddy_slice_t *tail = eddy_slice_sub(cur, 10, 6);
  cr_assert_eq(memcmp(eddy_slice_data(tail), "abcdef", 6), 0);
  eddy_slice_unref(root);
  eddy_slice_unref(cur);
  cr_assert_eq(chain_freed, 0, "the tail still holds the chain");
  eddy_slice_unref(tail); /* frees 1002 slices without recursion */
  cr_assert_eq(chain_freed, 1);
}

Test(slice, from_buf_after_consume_keeps_only_the_live_bytes) {
  eddy_buf_t b;
  eddy_buf_init(&b, 100);
  eddy_buf_append_str(&b, "dropkeep");
  eddy_buf_consume(&b, 4);
  eddy_slice_t *s = eddy_slice_from_buf(&b);
  cr_assert_eq(eddy_slice_len(s), 4);
  cr_assert_str_eq(eddy_slice_data(s), "keep");
  cr_assert_eq(b.len, 0);
  cr_assert_null(b.mem);
  cr_assert_eq(eddy_buf_append_str(&b, "again"), 0, "max is kept");
  eddy_slice_unref(s);
  eddy_buf_free(&b);
}
