/* fuzz_sockjs_frame.c — libFuzzer driver for the SockJS decoder (what
 * clients send on xhr_send, jsonp_send and the WebSocket transport) and the
 * "a" frame encoder.
 *
 * The first input byte picks the message limit; the rest is the body.
 * Checked, aborting on any mismatch:
 *  - all or nothing: a failed decode delivered no message;
 *  - every decoded message is valid UTF-8 within the limit;
 *  - round trip: the decoded messages encoded as an "a" frame and decoded
 *    again give the same messages, byte for byte;
 *  - the encoder's output is ASCII-safe where the protocol says so: no raw
 *    control character and no unescaped U+2028/U+2029. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/error.h"
#include "eddy/sockjs.h"
#include "eddy/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSGS 256

typedef struct {
  char *msgs[MAX_MSGS];
  size_t lens[MAX_MSGS];
  size_t n;
  size_t max;
  int overflow;
} got_t;

static void check(int cond) {
  if (!cond)
    abort();
}

static int keep(const char *d, size_t len, void *arg) {
  got_t *g = arg;
  check(len <= g->max);
  check(d[len] == '\0');
  check(eddy_utf8_valid(d, len) == EDDY_UTF8_OK);
  if (g->n == MAX_MSGS) {
    g->overflow = 1;
    return 1; /* stops the decoder: its return value comes back */
  }
  g->msgs[g->n] = malloc(len + 1);
  check(g->msgs[g->n] != NULL);
  memcpy(g->msgs[g->n], d, len + 1);
  g->lens[g->n] = len;
  g->n++;
  return 0;
}

static void release(got_t *g) {
  for (size_t i = 0; i < g->n; i++)
    free(g->msgs[i]);
  g->n = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  static const size_t limits[4] = {4, 64, 4096, 1 << 20};
  got_t g;
  memset(&g, 0, sizeof(g));
  g.max = limits[data[0] & 3];
  const char *body = (const char *)data + 1;
  size_t len = size - 1;
  int rc = eddy_sockjs_decode_messages(body, len, g.max, keep, &g);
  if (rc != 0) {
    check(rc == 1 ? g.overflow : g.n == 0);
    check(rc == 1 || rc == EDDY_EPARSE || rc == UV_E2BIG || rc == UV_ENOMEM);
    release(&g);
    return 0;
  }
  /* Round trip through the encoder. */
  eddy_buf_t frame;
  eddy_buf_init(&frame, EDDY_BUF_UNLIMITED);
  check(eddy_sockjs_encode_messages(&frame, (const char *const *)g.msgs, g.lens,
                                    g.n) == 0);
  check(frame.len >= 3 && frame.data[0] == 'a');
  for (size_t i = 0; i < frame.len; i++) {
    unsigned char c = (unsigned char)frame.data[i];
    check(c >= 0x20 && c != 0x7F);
    if (c == 0xE2 && i + 2 < frame.len)
      check(!((unsigned char)frame.data[i + 1] == 0x80 &&
              ((unsigned char)frame.data[i + 2] == 0xA8 ||
               (unsigned char)frame.data[i + 2] == 0xA9)));
  }
  got_t again;
  memset(&again, 0, sizeof(again));
  again.max = g.max;
  check(eddy_sockjs_decode_messages(frame.data + 1, frame.len - 1, g.max, keep,
                                    &again) == 0);
  check(again.n == g.n);
  for (size_t i = 0; i < g.n; i++)
    check(again.lens[i] == g.lens[i] &&
          memcmp(again.msgs[i], g.msgs[i], g.lens[i]) == 0);
  release(&again);
  release(&g);
  eddy_buf_free(&frame);
  return 0;
}
