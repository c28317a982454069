/* websocket.c — the WebSocket transports. PREFIX/SERVER/SESSION/websocket
 * carries SockJS frames ("o", "h", "a[...]", "c[...]") as text messages and
 * takes JSON arrays (or single JSON strings) from the client; its session
 * lives exactly as long as the connection (ids are not looked up: two
 * connections may share one). PREFIX/websocket is the raw variant: every
 * text message is one message, no framing, no heartbeat. */
#include <stdlib.h>
#include <string.h>

#include "eddy/error.h"
#include "eddy/log.h"
#include "sockjs/sockjs_internal.h"

/* Room over max_queue for the frame being written when the limit is hit. */
#define SEND_QUEUE_SLACK (64u * 1024u)

int eddy__sj_ws_frame(eddy__sj_recv_t *rv, const char *frame, size_t len) {
  if (rv->ws == NULL)
    return 1;
  eddy_ws_send_text(rv->ws, frame, len);
  if (!eddy_ws_writable(rv->ws))
    rv->waiting = 1;
  return 0;
}

void eddy__sj_ws_close(eddy_sockjs_session_t *s) {
  eddy_ws_t *ws = s->wsrecv.ws;
  unsigned code = s->close_code;
  const char *reason = s->close_reason != NULL ? s->close_reason : "";
  if (!s->raw)
    eddy_ws_send_text(ws, s->close_frame.data, s->close_frame.len);
  /* 1000, 1001 and 3000..4999 are all valid close codes on the wire. */
  if (eddy_ws_close(ws, code, reason) == UV_EINVAL)
    eddy_ws_close(ws, 1000, NULL);
}

static void ws_open(eddy_ws_t *ws, void *arg) {
  (void)ws;
  eddy_sockjs_session_t *s = arg;
  eddy__sj_register(s, &s->wsrecv);
}

static void ws_message(eddy_ws_t *ws, unsigned opcode, const char *data,
                       size_t len, void *arg) {
  eddy_sockjs_session_t *s = arg;
  if (s->raw) {
    if (opcode != EDDY_WS_OP_TEXT) {
      eddy_ws_close(ws, 1003, "text only");
      return;
    }
    if (len > s->sj->max_message) {
      eddy_ws_close(ws, 1009, "message too big");
      return;
    }
    eddy__sj_deliver(data, len, s);
    return;
  }
  if (len == 0)
    return; /* the protocol ignores empty frames */
  int rc = eddy_sockjs_decode_messages(data, len, s->sj->max_message,
                                       eddy__sj_deliver, s);
  if (rc == UV_E2BIG) {
    eddy_ws_close(ws, 1009, "message too big");
  } else if (rc != 0) {
    /* Broken JSON: the protocol drops the connection at once. */
    eddy_ws_abort(ws);
  }
}

static void ws_drain(eddy_ws_t *ws, void *arg) {
  (void)ws;
  eddy_sockjs_session_t *s = arg;
  s->wsrecv.waiting = 0;
  eddy__sj_flush(s);
}

static void ws_closed(eddy_ws_t *ws, const eddy_ws_close_info_t *info,
                      void *arg) {
  (void)ws;
  eddy_sockjs_session_t *s = arg;
  s->wsrecv.ws = NULL;
  s->ws_alive = 0;
  eddy__sj_detach(&s->wsrecv, 1);
  if (s->state == EDDY__SJ_OPEN || s->state == EDDY__SJ_CONNECTING) {
    /* The client closed (or the connection broke): a clean close
     * handshake from the client is a normal end. */
    int clean = info->code != 1006 && info->error == 0;
    s->state = EDDY__SJ_CLOSING;
    s->close_code = clean ? 1000 : 1002;
    free(s->close_reason);
    s->close_reason =
        strdup(clean ? "Normal closure" : "Connection interrupted");
    s->close_owed = s->opened;
  }
  s->state = EDDY__SJ_CLOSED;
  if (s->close_owed) {
    /* Deliver now: nothing else will make the session progress. */
    s->close_owed = 0;
    if (s->opened && !s->close_delivered) {
      s->close_delivered = 1;
      if (s->sj->stats.sessions > 0)
        s->sj->stats.sessions--;
      if (s->sj->h.on_close != NULL)
        s->sj->h.on_close(s, s->close_code,
                          s->close_reason != NULL ? s->close_reason : "",
                          s->sj->arg);
    }
  }
  eddy__sj_session_discard(s);
}

static const eddy_ws_handlers_t ws_handlers = {
    .on_open = ws_open,
    .on_message = ws_message,
    .on_drain = ws_drain,
    .on_close = ws_closed,
};

void eddy__sj_websocket(eddy_sockjs_t *sj, eddy_http_request_t *req, int raw) {
  eddy_sockjs_session_t *s =
      eddy__sj_session_new(sj, NULL, raw ? "websocket-raw" : "websocket", req);
  if (s == NULL) {
    eddy_http_respond_error(req, 503, "too many sessions");
    return;
  }
  s->raw = raw;
  s->wsrecv.kind = raw ? EDDY__SJ_RAW : EDDY__SJ_WEBSOCKET;
  eddy_ws_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  /* A message arrives JSON-encoded: up to 6 bytes per byte (\u0000). */
  cfg.max_message = raw ? sj->max_message : (uint64_t)sj->max_message * 6 + 16;
  cfg.max_send_queue = sj->max_queue + SEND_QUEUE_SLACK;
  /* SockJS has its own heartbeat ("h" frames) that keeps proxies awake;
   * the raw endpoint relies on the library's pings. */
  if (!raw)
    cfg.ping_interval_ms = EDDY_WS_NEVER;
  cfg.origins = (const char *const *)sj->origins;
  eddy_ws_t *ws = NULL;
  int rc = eddy_ws_accept(req, &cfg, &ws_handlers, s, &ws);
  if (rc != 0) {
    /* eddy_ws_accept answered the request itself. */
    eddy__sj_session_discard(s);
    return;
  }
  s->wsrecv.ws = ws;
  s->ws_alive = 1;
}
