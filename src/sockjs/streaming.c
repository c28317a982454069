/* streaming.c — the streaming receivers: xhr-streaming, eventsource and
 * htmlfile. One response carries many frames, each in its transport's
 * wrapping, until response_limit bytes went out: then it ends so the
 * browser can free what it buffered, and the client opens the next one. */
#include <stdlib.h>
#include <string.h>

#include "eddy/error.h"
#include "sockjs/sockjs_internal.h"

static void on_writable(eddy_http_request_t *req, void *arg) {
  (void)req;
  eddy__sj_recv_t *rv = arg;
  rv->waiting = 0;
  if (rv->session != NULL)
    eddy__sj_flush(rv->session);
}

int eddy__sj_stream_frame(eddy__sj_recv_t *rv, const char *frame, size_t len) {
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  int rc;
  switch (rv->kind) {
  case EDDY__SJ_EVENTSOURCE:
    rc = eddy_buf_append(&b, "data: ", 6);
    if (rc == 0)
      rc = eddy_buf_append(&b, frame, len);
    if (rc == 0)
      rc = eddy_buf_append(&b, "\r\n\r\n", 4);
    break;
  case EDDY__SJ_HTMLFILE:
    rc = eddy_buf_append(&b, "<script>\np(", 11);
    if (rc == 0)
      rc = eddy__sockjs_quote_frame(&b, frame, len);
    if (rc == 0)
      rc = eddy_buf_append(&b, ");\n</script>\r\n", 14);
    break;
  default: /* xhr-streaming */
    rc = eddy_buf_append(&b, frame, len);
    if (rc == 0)
      rc = eddy_buf_append(&b, "\n", 1);
    break;
  }
  if (rc == 0)
    rc = eddy_http_write(rv->req, b.data, b.len);
  rv->sent += b.len;
  eddy_buf_free(&b);
  eddy_sockjs_session_t *s = rv->session;
  if (rc != 0 || s == NULL || rv->sent >= s->sj->response_limit ||
      frame[0] == 'c') {
    /* The limit was reached, the connection failed, or this was the
     * close frame: the response ends (its session, if any, waits for the
     * next receiver). */
    eddy__sj_detach(rv, 0);
    eddy__sj_http_recv_end(rv);
    return 1;
  }
  if (rv->waiting == 0 && !eddy_http_writable(rv->req))
    rv->waiting = 1;
  return 0;
}

/* Looks up or creates the session, then attaches rv to it. */
static void attach(eddy_sockjs_t *sj, eddy_http_request_t *req, const char *sid,
                   eddy__sj_recv_t *rv, const char *tname) {
  eddy_sockjs_session_t *s = eddy__sj_find(sj, sid);
  if (s == NULL)
    s = eddy__sj_session_new(sj, sid, tname, req);
  if (s == NULL) {
    /* The head is out already: end the stream with a close frame. */
    eddy_buf_t f;
    eddy_buf_init(&f, 128);
    eddy_sockjs_encode_close(&f, 1013, "Too many sessions");
    if (eddy__sj_stream_frame(rv, f.data, f.len) == 0)
      eddy__sj_http_recv_end(rv);
    eddy_buf_free(&f);
    return;
  }
  eddy_http_on_writable(req, on_writable, rv);
  eddy__sj_register(s, rv);
}

static void head(eddy_sockjs_t *sj, eddy_http_request_t *req,
                 const char *content_type) {
  eddy_http_set_header(req, "Content-Type", content_type);
  eddy__sj_no_cache(req);
  eddy__sj_cors(req);
  eddy__sj_cookie(sj, req);
}

void eddy__sj_xhr_streaming(eddy_sockjs_t *sj, eddy_http_request_t *req,
                            const char *sid) {
  head(sj, req, "application/javascript; charset=UTF-8");
  eddy__sj_recv_t *rv =
      eddy__sj_http_recv_new(req, EDDY__SJ_XHR_STREAMING, NULL);
  if (rv == NULL)
    return;
  /* Some browsers hand a streamed XHR's text to the page only after a
   * couple of KiB: the prelude makes the first frame visible at once. */
  char prelude[EDDY__SJ_XHR_PRELUDE + 1];
  memset(prelude, 'h', EDDY__SJ_XHR_PRELUDE);
  prelude[EDDY__SJ_XHR_PRELUDE] = '\n';
  eddy_http_write(req, prelude, sizeof(prelude));
  attach(sj, req, sid, rv, "xhr-streaming");
}

void eddy__sj_eventsource(eddy_sockjs_t *sj, eddy_http_request_t *req,
                          const char *sid) {
  head(sj, req, "text/event-stream");
  eddy__sj_recv_t *rv = eddy__sj_http_recv_new(req, EDDY__SJ_EVENTSOURCE, NULL);
  if (rv == NULL)
    return;
  /* An empty line first: old Opera dropped the first event otherwise. */
  eddy_http_write(req, "\r\n", 2);
  attach(sj, req, sid, rv, "eventsource");
}

void eddy__sj_htmlfile(eddy_sockjs_t *sj, eddy_http_request_t *req,
                       const char *sid) {
  char *cb = eddy__sj_callback(req);
  if (cb == NULL)
    return;
  head(sj, req, "text/html; charset=UTF-8");
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  int rc = eddy_buf_printf(
      &b,
      "<!doctype html>\n"
      "<html><head>\n"
      "  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n"
      "  <meta http-equiv=\"Content-Type\" content=\"text/html; "
      "charset=UTF-8\" />\n"
      "</head><body><h2>Don't panic!</h2>\n"
      "  <script>\n"
      "    document.domain = document.domain;\n"
      "    var c = parent.%s;\n"
      "    c.start();\n"
      "    function p(d) {c.message(d);};\n"
      "    window.onload = function() {c.stop();};\n"
      "  </script>",
      cb);
  /* Padding: browsers start running a streamed page only after its
   * first KiB. */
  while (rc == 0 && b.len < EDDY__SJ_HTMLFILE_PAD)
    rc = eddy_buf_append(&b, " ", 1);
  if (rc == 0)
    rc = eddy_buf_append(&b, "\r\n\r\n", 4);
  if (rc != 0) {
    eddy_buf_free(&b);
    free(cb);
    eddy_http_respond_error(req, 503, "out of memory");
    return;
  }
  eddy__sj_recv_t *rv = eddy__sj_http_recv_new(req, EDDY__SJ_HTMLFILE, cb);
  if (rv == NULL) {
    eddy_buf_free(&b);
    return;
  }
  eddy_http_write(req, b.data, b.len);
  eddy_buf_free(&b);
  attach(sj, req, sid, rv, "htmlfile");
}
