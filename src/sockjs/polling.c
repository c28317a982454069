/* polling.c — the polling receivers (xhr-polling, jsonp-polling: one frame
 * per response) and the two ways clients of HTTP transports send
 * (xhr_send: a JSON array as the body; jsonp_send: the same as a form
 * field "d=" or as a plain body). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/error.h"
#include "eddy/http_form.h"
#include "sockjs/sockjs_internal.h"

int eddy__sj_poll_frame(eddy__sj_recv_t *rv, const char *frame, size_t len) {
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  int rc;
  if (rv->kind == EDDY__SJ_JSONP) {
    /* The leading comment keeps a response from being read as anything
     * but JavaScript (content-sniffing attacks on JSONP). */
    rc = eddy_buf_printf(&b, "/**/%s(", rv->callback);
    if (rc == 0)
      rc = eddy__sockjs_quote_frame(&b, frame, len);
    if (rc == 0)
      rc = eddy_buf_append(&b, ");\r\n", 4);
  } else {
    rc = eddy_buf_append(&b, frame, len);
    if (rc == 0)
      rc = eddy_buf_append(&b, "\n", 1);
  }
  eddy_http_request_t *req = rv->req;
  rv->req = NULL;
  eddy__sj_detach(rv, 0);
  eddy_http_on_close(req, NULL, NULL);
  if (rc == 0)
    eddy_http_respond(req, 200, NULL, b.data, b.len);
  else
    eddy_http_respond_error(req, 503, "out of memory");
  eddy_buf_free(&b);
  eddy__sj_http_recv_end(rv);
  return 1;
}

static void poll_head(eddy_sockjs_t *sj, eddy_http_request_t *req) {
  eddy_http_set_header(req, "Content-Type",
                       "application/javascript; charset=UTF-8");
  eddy__sj_no_cache(req);
  eddy__sj_cors(req);
  eddy__sj_cookie(sj, req);
}

static void poll(eddy_sockjs_t *sj, eddy_http_request_t *req, const char *sid,
                 eddy__sj_kind_t kind, char *callback, const char *tname) {
  poll_head(sj, req);
  eddy__sj_recv_t *rv = eddy__sj_http_recv_new(req, kind, callback);
  if (rv == NULL)
    return;
  eddy_sockjs_session_t *s = eddy__sj_find(sj, sid);
  if (s == NULL)
    s = eddy__sj_session_new(sj, sid, tname, req);
  if (s == NULL) {
    eddy_buf_t f;
    eddy_buf_init(&f, 128);
    eddy_sockjs_encode_close(&f, 1013, "Too many sessions");
    eddy__sj_poll_frame(rv, f.data, f.len);
    eddy_buf_free(&f);
    return;
  }
  eddy__sj_register(s, rv);
}

void eddy__sj_xhr(eddy_sockjs_t *sj, eddy_http_request_t *req,
                  const char *sid) {
  poll(sj, req, sid, EDDY__SJ_XHR, NULL, "xhr-polling");
}

void eddy__sj_jsonp(eddy_sockjs_t *sj, eddy_http_request_t *req,
                    const char *sid) {
  char *cb = eddy__sj_callback(req);
  if (cb != NULL)
    poll(sj, req, sid, EDDY__SJ_JSONP, cb, "jsonp-polling");
}

/* Decodes body and hands each message to the session. Answers errors
 * itself and returns nonzero then. */
static int receive(eddy_sockjs_t *sj, eddy_http_request_t *req,
                   eddy_sockjs_session_t *s, const char *body, size_t len) {
  if (len == 0) {
    eddy__sj_error(req, 500, "Payload expected.");
    return -1;
  }
  int rc = eddy_sockjs_decode_messages(body, len, sj->max_message,
                                       eddy__sj_deliver, s);
  if (rc == EDDY_EPARSE) {
    eddy__sj_error(req, 500, "Broken JSON encoding.");
    return -1;
  }
  if (rc == UV_E2BIG) {
    eddy__sj_error(req, 413, "Message too large.");
    return -1;
  }
  if (rc != 0) {
    eddy_http_respond_error(req, 503, eddy_strerror(rc));
    return -1;
  }
  return 0;
}

static eddy_sockjs_session_t *
send_session(eddy_sockjs_t *sj, eddy_http_request_t *req, const char *sid) {
  eddy_http_set_header(req, "Content-Type", "text/plain; charset=UTF-8");
  eddy__sj_no_cache(req);
  eddy__sj_cors(req);
  eddy__sj_cookie(sj, req);
  eddy_sockjs_session_t *s = eddy__sj_find(sj, sid);
  if (s == NULL)
    eddy_http_respond_error(req, 404, NULL);
  return s;
}

void eddy__sj_xhr_send(eddy_sockjs_t *sj, eddy_http_request_t *req,
                       const char *sid) {
  eddy_sockjs_session_t *s = send_session(sj, req, sid);
  if (s == NULL)
    return;
  size_t len;
  const char *body = eddy_http_body(req, &len);
  if (receive(sj, req, s, body, len) == 0)
    eddy_http_respond(req, 204, NULL, "", 0);
}

void eddy__sj_jsonp_send(eddy_sockjs_t *sj, eddy_http_request_t *req,
                         const char *sid) {
  eddy_sockjs_session_t *s = send_session(sj, req, sid);
  if (s == NULL)
    return;
  size_t len;
  const char *body = eddy_http_body(req, &len);
  eddy_form_t *form = NULL;
  eddy_form_error_t err;
  int rc = eddy_http_body_form(req, NULL, &form, &err);
  if (rc == 0) {
    /* A browser form posts the frame as d=...; anything else sends it as
     * the body itself. */
    body = eddy_form_get(form, "d", &len);
    if (body == NULL)
      len = 0;
  } else if (rc != UV_ENOTSUP) {
    eddy_http_respond_error(req, err.status, err.text);
    return;
  }
  rc = receive(sj, req, s, body, len);
  eddy_form_free(form);
  if (rc == 0)
    eddy_http_respond(req, 200, NULL, "ok", 2);
}
