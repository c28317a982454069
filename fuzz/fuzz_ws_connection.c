/* fuzz_ws_connection.c — libFuzzer driver for a server-role WebSocket
 * connection (src/ws/connection.c, deflate.c, message.c) on the string
 * transport.
 *
 * Input: byte 0 configures the connection — bit 0: permessage-deflate
 * negotiated (so RSV1 frames are inflated), bits 1-3: the client's window
 * bits (9 + n, capped at 15), bit 4: client_no_context_takeover, bit 5: a
 * small message limit (4 KiB, to reach 1009 and the zip-bomb limit), bit 6:
 * auto-fragment our sends, bit 7: feed in pieces. Byte 1 seeds the piece
 * sizes. The rest is what the client sends: frames, masked or not, valid
 * or not, compressed or not.
 *
 * The application echoes every message (compressing it again when
 * negotiated), answers every 7th with a shared broadcast message, and
 * closes after 50. Checked, aborting on any violation: text messages are
 * valid UTF-8, no message exceeds the limit, on_close comes exactly once,
 * and everything is freed (the reactor ends with nothing open). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/reactor.h"
#include "eddy/testing.h"
#include "eddy/utf8.h"
#include "eddy/websocket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond) {
  if (!cond)
    abort();
}

typedef struct {
  uint64_t max;
  int opened, closed, msgs;
} app_t;

static void on_open(eddy_ws_t *ws, void *arg) {
  (void)ws;
  ((app_t *)arg)->opened++;
}

static void on_message(eddy_ws_t *ws, unsigned opcode, const char *data,
                       size_t len, void *arg) {
  app_t *a = arg;
  check(a->opened == 1 && a->closed == 0);
  check(len <= a->max);
  check(opcode == EDDY_WS_OP_TEXT || opcode == EDDY_WS_OP_BINARY);
  if (opcode == EDDY_WS_OP_TEXT)
    check(eddy_utf8_valid(data, len) == 0);
  a->msgs++;
  if (a->msgs % 7 == 0) {
    eddy_ws_message_t *m;
    if (eddy_ws_message_new(opcode, data, len, &m) == 0) {
      eddy_ws_send_message(ws, m);
      eddy_ws_message_unref(m);
    }
  } else {
    eddy_ws_send(ws, opcode, data, len);
  }
  if (a->msgs == 50)
    eddy_ws_close(ws, 1000, "enough");
}

static void on_close(eddy_ws_t *ws, const eddy_ws_close_info_t *info,
                     void *arg) {
  (void)ws;
  (void)info;
  ((app_t *)arg)->closed++;
}

static const eddy_ws_handlers_t handlers = {
    .on_open = on_open, .on_message = on_message, .on_close = on_close};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  uint8_t cfgb = data[0], seed = data[1];
  data += 2;
  size -= 2;

  eddy_reactor_t *r;
  check(eddy_reactor_new(&r, EDDY_REACTOR_FAKE_CLOCK) == 0);
  app_t a;
  memset(&a, 0, sizeof(a));
  eddy_ws_config_t cfg = {0};
  cfg.max_message = (cfgb & 0x20) ? 4096 : 1 << 20;
  cfg.fragment_size = (cfgb & 0x40) ? 100 : 0;
  cfg.deflate_threshold = 1;
  a.max = cfg.max_message;
  unsigned bits = 9 + ((cfgb >> 1) & 7);
  eddy_ws_deflate_params_t prm = {15, bits > 15 ? 15 : bits, 1,
                                  (cfgb >> 4) & 1};
  eddy_ws_t *ws;
  check(eddy_ws_new(r, EDDY_WS_SERVER, &cfg, &handlers, &a,
                    (cfgb & 1) ? &prm : NULL, &ws) == 0);
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  check(st != NULL);
  eddy_string_transport_connect(st, eddy_ws_protocol(ws));
  eddy_reactor_run_once(r, 0);
  check(a.opened == 1);

  if (cfgb & 0x80) {
    size_t off = 0;
    uint32_t x = seed;
    while (off < size) {
      x = x * 1103515245u + 12345u;
      size_t piece = 1 + (x >> 16) % 64;
      if (piece > size - off)
        piece = size - off;
      eddy_string_transport_feed(st, data + off, piece);
      off += piece;
      eddy_string_transport_clear(st); /* keep the record small */
    }
  } else {
    eddy_string_transport_feed(st, data, size);
  }
  eddy_reactor_advance(r, 60000); /* pings, close timeouts */
  eddy_string_transport_free(st);
  for (int i = 0; i < 16; i++)
    eddy_reactor_run_once(r, 0);
  check(a.closed == 1);
  check(eddy_reactor_free(r) == 0);
  return 0;
}
