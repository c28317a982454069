/* eddy_ws_cork / eddy_ws_uncork: many sends, one write. The hub relies on
 * this to deliver several broadcasts to a subscriber per loop turn with one
 * system call. */
#include "ws_peer.h"

static eddy_ws_message_t *shared(const char *text) {
  eddy_ws_message_t *m;
  cr_assert_eq(eddy_ws_message_new(EDDY_WS_OP_TEXT, text, strlen(text), &m), 0);
  return m;
}

Test(ws_cork, gathers_plain_and_shared_frames_into_one_write) {
  peer_t p;
  peer_open(&p, EDDY_WS_SERVER, NULL, NULL);
  eddy_string_transport_clear(p.st);
  eddy_ws_message_t *m = shared("broadcast");
  eddy_ws_cork(p.ws);
  cr_assert_eq(eddy_ws_send_text(p.ws, "one", 3), 0);
  for (int i = 0; i < 10; i++)
    cr_assert_eq(eddy_ws_send_message(p.ws, m), 0);
  cr_assert_eq(eddy_string_transport_write_count(p.st), 0,
               "nothing is written while corked");
  cr_assert_gt(eddy_ws_buffered(p.ws), 0, "gathered bytes are queued bytes");
  cr_assert_eq(eddy_ws_uncork(p.ws), 0);
  cr_assert_eq(eddy_string_transport_write_count(p.st), 1);
  eddy_ws_message_unref(m);
  peer_expect_message(&p, EDDY_WS_OP_TEXT, "one", 3);
  for (int i = 0; i < 10; i++)
    peer_expect_message(&p, EDDY_WS_OP_TEXT, "broadcast", 9);
  /* Uncorked again: each send is its own write. */
  cr_assert_eq(eddy_ws_uncork(p.ws), 0, "harmless when not corked");
  cr_assert_eq(eddy_ws_send_text(p.ws, "a", 1), 0);
  cr_assert_eq(eddy_ws_send_text(p.ws, "b", 1), 0);
  cr_assert_eq(eddy_string_transport_write_count(p.st), 3);
  peer_close(&p);
}

Test(ws_cork, large_frames_flush_what_is_gathered_first) {
  peer_t p;
  peer_open(&p, EDDY_WS_SERVER, NULL, NULL);
  eddy_string_transport_clear(p.st);
  size_t big = 64 * 1024;
  char *data = malloc(big);
  cr_assert(data != NULL);
  memset(data, 'z', big);
  eddy_ws_cork(p.ws);
  cr_assert_eq(eddy_ws_send_text(p.ws, "small", 5), 0);
  cr_assert_eq(eddy_ws_send_text(p.ws, data, big), 0);
  cr_assert_eq(eddy_ws_send_text(p.ws, "after", 5), 0);
  cr_assert_eq(eddy_ws_uncork(p.ws), 0);
  peer_expect_message(&p, EDDY_WS_OP_TEXT, "small", 5);
  peer_expect_message(&p, EDDY_WS_OP_TEXT, data, big);
  peer_expect_message(&p, EDDY_WS_OP_TEXT, "after", 5);
  free(data);
  peer_close(&p);
}

Test(ws_cork, gathered_bytes_count_against_the_send_queue) {
  peer_t p;
  eddy_ws_config_t cfg = {0};
  cfg.max_send_queue = 1000;
  peer_open(&p, EDDY_WS_SERVER, &cfg, NULL);
  char buf[300];
  memset(buf, 'q', sizeof(buf));
  eddy_ws_cork(p.ws);
  cr_assert_eq(eddy_ws_send_binary(p.ws, buf, sizeof(buf)), 0);
  cr_assert_eq(eddy_ws_send_binary(p.ws, buf, sizeof(buf)), 0);
  cr_assert_eq(eddy_ws_send_binary(p.ws, buf, sizeof(buf)), 0);
  cr_assert_eq(eddy_ws_send_binary(p.ws, buf, sizeof(buf)), UV_ENOBUFS);
  cr_assert_eq(eddy_ws_uncork(p.ws), 0);
  for (int i = 0; i < 3; i++) {
    pframe_t *f = peer_next(&p);
    cr_assert(f != NULL && f->len == sizeof(buf));
  }
  peer_expect_close(&p, 1008);
  eddy_reactor_advance(p.r, EDDY_WS_CLOSE_TIMEOUT_DEFAULT);
  peer_spin(&p);
  cr_assert_eq(p.closed, 1);
  cr_assert_eq(p.info.error, UV_ENOBUFS);
  peer_close(&p);
}

Test(ws_cork, closing_writes_what_was_gathered) {
  peer_t p;
  peer_open(&p, EDDY_WS_SERVER, NULL, NULL);
  eddy_ws_cork(p.ws);
  cr_assert_eq(eddy_ws_send_text(p.ws, "last words", 10), 0);
  cr_assert_eq(eddy_ws_close(p.ws, 1000, "bye"), 0);
  peer_expect_message(&p, EDDY_WS_OP_TEXT, "last words", 10);
  peer_expect_close(&p, 1000);
  peer_close(&p);
}
