/* fuzz_ws_handshake.c — libFuzzer driver for the server side of the opening
 * handshake (src/ws/handshake.c) and the RFC 7692 parsers.
 *
 * Byte 0 picks the server's settings (permessage-deflate, a window limit,
 * subprotocols, an origin list). The rest goes twice through the code:
 *  - as a NUL-terminated Sec-WebSocket-Extensions value, to
 *    eddy_ws_deflate_negotiate and eddy_ws_deflate_check_answer: a response
 *    written must parse back as a valid answer;
 *  - as the bytes of an HTTP connection to a server whose handler calls
 *    eddy_ws_accept: whatever is sent, a 101 carries Sec-WebSocket-Accept,
 *    and everything is freed (the reactor ends with nothing open). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/http_server.h"
#include "eddy/reactor.h"
#include "eddy/testing.h"
#include "eddy/websocket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond) {
  if (!cond)
    abort();
}

static const char *protos[] = {"chat", "v2.chat", NULL};
static const char *origins[] = {"https://example.com", NULL};

static void on_message(eddy_ws_t *ws, unsigned opcode, const char *d, size_t n,
                       void *arg) {
  (void)arg;
  eddy_ws_send(ws, opcode, d, n);
}

static const eddy_ws_handlers_t handlers = {.on_message = on_message};

static void handler(eddy_http_request_t *req, void *arg) {
  const eddy_ws_config_t *cfg = arg;
  eddy_ws_accept(req, cfg, &handlers, NULL, NULL);
}

static void negotiation(const uint8_t *data, size_t size, unsigned bits) {
  char *v = malloc(size + 1);
  check(v != NULL);
  memcpy(v, data, size);
  v[size] = '\0';
  eddy_ws_deflate_params_t p, q;
  char resp[128];
  if (eddy_ws_deflate_negotiate(v, bits, &p, resp, sizeof(resp)) == 1) {
    check(p.server_max_window_bits >= 9 && p.server_max_window_bits <= 15);
    check(eddy_ws_deflate_check_answer(resp, 15, 0, &q) == 0);
    check(q.server_max_window_bits == p.server_max_window_bits);
  }
  eddy_ws_deflate_check_answer(v, bits, (int)(bits & 1), &q);
  free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  uint8_t c = data[0];
  data++;
  size--;
  eddy_ws_config_t cfg = {0};
  cfg.permessage_deflate = c & 1;
  cfg.deflate_window_bits = (c & 2) ? 10 : 0;
  cfg.subprotocols = (c & 4) ? protos : NULL;
  cfg.origins = (c & 8) ? origins : NULL;
  negotiation(data, size, cfg.deflate_window_bits);

  eddy_reactor_t *r;
  check(eddy_reactor_new(&r, EDDY_REACTOR_FAKE_CLOCK) == 0);
  eddy_http_server_t *s;
  check(eddy_http_server_new(r, NULL, handler, &cfg, &s) == 0);
  eddy_factory_t *f = eddy_http_server_factory(s);
  eddy_protocol_t *p = f->build_protocol(f, NULL);
  check(p != NULL);
  p->factory = f;
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  eddy_string_transport_connect(st, p);
  eddy_string_transport_feed(st, data, size);
  for (int i = 0; i < 8; i++)
    eddy_reactor_run_once(r, 0);
  size_t n;
  const char *out = eddy_string_transport_value(st, &n);
  if (n >= 12 && memcmp(out, "HTTP/1.1 101", 12) == 0)
    check(strstr(out, "\r\nSec-WebSocket-Accept: ") != NULL);
  eddy_string_transport_free(st);
  eddy_http_server_close(s, 0, NULL, NULL);
  for (int i = 0; i < 16; i++)
    eddy_reactor_run_once(r, 0);
  check(eddy_reactor_free(r) == 0);
  return 0;
}
