/* ws.c — WebSocket as a transport of the hub: the HTTP handler that
 * upgrades a request and makes the connection a hub client.
 *
 * The connection's own send queue cap sits above the hub's max_send_queue
 * (by WS_QUEUE_EXTRA) so that the hub, not the library, decides when a
 * reader is too slow: it then still has room to say why ("disconnect",
 * 4008) before closing. */
#include <string.h>

#include "realtime/rt_internal.h"

/* Room above max_send_queue: one largest reply plus the close. */
#define WS_QUEUE_EXTRA (2 * EDDY__RT_REPLY_MAX)

static void on_open(eddy_ws_t *ws, void *arg) {
  (void)ws;
  (void)arg;
}

static void on_message(eddy_ws_t *ws, unsigned opcode, const char *data,
                       size_t len, void *arg) {
  (void)ws;
  eddy_rt_client_t *c = arg;
  if (c->flags & (EDDY__RT_C_CLOSING | EDDY__RT_C_GONE))
    return;
  eddy_rt_t *hub = c->hub;
  hub->busy++;
  if (opcode != EDDY_WS_OP_TEXT) {
    eddy__rt_client_error(c, NULL, 400, "messages are JSON text");
    eddy__rt_client_close(c, EDDY_RT_CLOSE_BAD_REQUEST,
                          "messages are JSON text");
  } else {
    eddy__rt_client_receive(c, data, len);
  }
  hub->busy--;
  eddy__rt_hub_settle(hub);
}

static void on_close(eddy_ws_t *ws, const eddy_ws_close_info_t *info,
                     void *arg) {
  (void)ws;
  (void)info;
  eddy_rt_detach(arg);
}

static const eddy_ws_handlers_t handlers = {
    .on_open = on_open,
    .on_message = on_message,
    .on_close = on_close,
};

const eddy_ws_handlers_t *eddy__rt_ws_handlers(void) {
  return &handlers;
}

void eddy__rt_ws_config(const eddy_rt_t *hub, eddy_ws_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->max_message = hub->o.max_message;
  cfg->max_send_queue = hub->o.max_send_queue + WS_QUEUE_EXTRA;
  cfg->ping_interval_ms =
      hub->o.ping_interval_ms == 0 ? EDDY_WS_NEVER : hub->o.ping_interval_ms;
  cfg->pong_timeout_ms = hub->o.pong_timeout_ms;
  cfg->origins = hub->o.origins;
}

void eddy__rt_ws_bind(eddy_rt_client_t *c, eddy_ws_t *ws) {
  c->ws = ws;
  eddy__rt_client_start(c);
}

void eddy_rt_ws_handler(eddy_http_request_t *req, void *arg) {
  eddy_rt_t *hub = arg;
  if (hub->closing) {
    eddy_http_respond_error(req, 503, "server stopping");
    return;
  }
  if (hub->nclients >= hub->o.max_clients) {
    eddy_http_respond_error(req, 503, "too many clients");
    return;
  }
  eddy_rt_client_t *c;
  int rc = eddy__rt_client_new(hub, "websocket", &c);
  if (rc != 0) {
    eddy_http_respond_error(req, 503,
                            rc == UV_ENOMEM      ? "out of memory"
                            : rc == UV_ESHUTDOWN ? "server stopping"
                                                 : "too many clients");
    return;
  }
  eddy_ws_config_t cfg;
  eddy__rt_ws_config(hub, &cfg);
  eddy_ws_t *ws;
  /* Read before the upgrade: the request is gone once it succeeded. */
  eddy_addr_t peer;
  int has_peer = eddy_http_peer(req, &peer) == 0;
  rc = eddy_ws_accept(req, &cfg, &handlers, c, &ws);
  if (rc != 0) {
    /* Answered by eddy_ws_accept (400, 403, 426, 500); no handler runs. */
    hub->busy++;
    eddy__rt_client_free(c);
    hub->busy--;
    eddy__rt_hub_settle(hub);
    return;
  }
  eddy__rt_log_attach(c, has_peer ? &peer : NULL);
  eddy__rt_ws_bind(c, ws);
}
