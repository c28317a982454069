/* via_sockjs.c — SockJS sessions as hub clients: each session attaches to
 * the hub when it opens, hands it every message, and detaches when it
 * closes. The hub talks back through eddy_rt_conn_ops_t, which maps onto
 * the session functions one for one. */
#include <stddef.h>

#include "eddy/error.h"
#include "eddy/log.h"
#include "eddy/realtime.h"
#include "eddy/sockjs.h"

static int conn_send(void *conn, const char *text, size_t len) {
  return eddy_sockjs_send(conn, text, len);
}

static void conn_close(void *conn, unsigned code, const char *reason) {
  /* on_close follows on a later iteration and detaches the client. */
  eddy_sockjs_close_session(conn, code, reason);
}

static size_t conn_buffered(void *conn) {
  return eddy_sockjs_buffered(conn);
}

static const eddy_rt_conn_ops_t ops = {
    .send = conn_send,
    .close = conn_close,
    .buffered = conn_buffered,
};

static void on_open(eddy_sockjs_session_t *s, void *hub) {
  eddy_addr_t peer;
  int has_peer = eddy_sockjs_peer(s, &peer) == 0;
  eddy_rt_client_t *c = NULL;
  int rc = eddy_rt_attach(hub, "sockjs", &ops, s, has_peer ? &peer : NULL, &c);
  if (rc != 0) {
    /* The session is already open (SockJS has no refusal before "o"):
     * the close frame says why. */
    if (rc == UV_ESHUTDOWN)
      eddy_sockjs_close_session(s, EDDY_RT_CLOSE_SHUTDOWN, "server stopping");
    else
      eddy_sockjs_close_session(s, EDDY_RT_CLOSE_LIMIT,
                                rc == UV_EBUSY ? "too many clients"
                                               : "out of memory");
    return;
  }
  eddy_sockjs_set_data(s, c);
}

static void on_message(eddy_sockjs_session_t *s, const char *data, size_t len,
                       void *hub) {
  (void)hub;
  eddy_rt_client_t *c = eddy_sockjs_data(s);
  if (c != NULL)
    eddy_rt_receive(c, data, len);
}

static void on_close(eddy_sockjs_session_t *s, unsigned code,
                     const char *reason, void *hub) {
  (void)code;
  (void)reason;
  (void)hub;
  eddy_rt_client_t *c = eddy_sockjs_data(s);
  if (c != NULL) {
    eddy_sockjs_set_data(s, NULL);
    eddy_rt_detach(c);
  }
}

static const eddy_sockjs_handlers_t handlers = {
    .on_open = on_open,
    .on_message = on_message,
    .on_close = on_close,
};

const struct eddy_sockjs_handlers_s *eddy_rt_sockjs_handlers(void) {
  return &handlers;
}
