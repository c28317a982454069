/* response.c — answering a request: status, headers, one-shot and streamed
 * bodies, framing, and the protocol switch (eddy/http_server.h).
 *
 * The head is assembled as a list of pieces (status line, cached Server and
 * Date lines, the handler's headers, framing, Connection) and handed with
 * the body to the connection's output in one call: small answers are copied
 * once into the connection's buffer, which leaves in one write per loop
 * iteration; large ones go to the transport with the buffer in one writev. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "eddy/error.h"
#include "eddy/log.h"
#include "server_internal.h"

#define MAX_REASON 256u
#define MAX_ERROR_DETAIL 1024u

/* ---- Small helpers ---------------------------------------------------------
 */

size_t eddy__http_u64(char *buf, uint64_t v) {
  char tmp[20];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (size_t i = 0; i < n; i++)
    buf[i] = tmp[n - 1 - i];
  return n;
}

static int is_token(const char *s) {
  if (*s == '\0')
    return 0;
  for (; *s != '\0'; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch <= 0x20 || ch >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", ch) != NULL)
      return 0;
  }
  return 1;
}

/* Field values and reason phrases: no control byte but HTAB (so no CR or
 * LF that would split the head). */
static int is_text(const char *s) {
  for (; *s != '\0'; s++) {
    unsigned char ch = (unsigned char)*s;
    if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
      return 0;
  }
  return 1;
}

static int lower_eq(const char *a, const char *b) {
  return strcasecmp(a, b) == 0;
}

/* Whether a comma-separated header value lists token (case-insensitive). */
static int lists(const char *v, const char *token) {
  size_t tl = strlen(token);
  while (*v != '\0') {
    while (*v == ' ' || *v == '\t' || *v == ',')
      v++;
    const char *e = v;
    while (*e != '\0' && *e != ',')
      e++;
    const char *b = e;
    while (b > v && (b[-1] == ' ' || b[-1] == '\t'))
      b--;
    if ((size_t)(b - v) == tl && strncasecmp(v, token, tl) == 0)
      return 1;
    v = e;
  }
  return 0;
}

static int parse_length(const char *v, uint64_t *out) {
  uint64_t n = 0;
  if (*v < '0' || *v > '9')
    return UV_EINVAL;
  for (; *v >= '0' && *v <= '9'; v++) {
    if (n > (UINT64_MAX - 9) / 10)
      return UV_EINVAL;
    n = n * 10 + (uint64_t)(*v - '0');
  }
  if (*v != '\0')
    return UV_EINVAL;
  *out = n;
  return 0;
}

int eddy__http_status_line(eddy_buf_t *b, int status, const char *reason) {
  return eddy_buf_printf(b, "HTTP/1.1 %03d %s\r\n", status,
                         reason != NULL ? reason
                                        : eddy_http_status_text(status));
}

/* "HTTP/1.1 200 OK\r\n" into buf (MAX_REASON + 16 bytes). */
static size_t status_line(char *buf, int status, const char *reason) {
  if (reason == NULL)
    reason = eddy_http_status_text(status);
  size_t rl = strlen(reason);
  memcpy(buf, "HTTP/1.1 ", 9);
  buf[9] = (char)('0' + status / 100);
  buf[10] = (char)('0' + status / 10 % 10);
  buf[11] = (char)('0' + status % 10);
  buf[12] = ' ';
  memcpy(buf + 13, reason, rl);
  buf[13 + rl] = '\r';
  buf[14 + rl] = '\n';
  return 15 + rl;
}

static uv_buf_t piece(const char *p, size_t n) {
  uv_buf_t b;
  b.base = (char *)p;
  b.len = n;
  return b;
}

#define PIECE_STR(s) piece((s), sizeof(s) - 1)

/* ---- Status and headers
 * ------------------------------------------------------ */

int eddy_http_set_status(eddy_http_request_t *req, int status,
                         const char *reason) {
  if (req->rflags & EDDY__RESP_HEAD_SENT)
    return UV_EALREADY;
  if (status < 100 || status > 999 || (status < 200 && status != 101))
    return UV_EINVAL;
  if (reason != NULL && (strlen(reason) > MAX_REASON || !is_text(reason)))
    return UV_EINVAL;
  char *copy = NULL;
  if (reason != NULL) {
    copy = strdup(reason);
    if (copy == NULL)
      return UV_ENOMEM;
  }
  free(req->reason);
  req->reason = copy;
  req->status = status;
  return 0;
}

/* Handles the headers the server frames itself; returns 1 when the header
 * is not to be added to the list, 0 when it is, or an error. */
static int special_header(eddy_http_request_t *req, const char *name,
                          const char *value) {
  if (lower_eq(name, "content-length")) {
    uint64_t n;
    if (parse_length(value, &n) != 0)
      return UV_EINVAL;
    req->declared_length = n;
    req->rflags |= EDDY__RESP_HAS_LENGTH;
    return 1;
  }
  if (lower_eq(name, "transfer-encoding"))
    return UV_EINVAL;
  if (lower_eq(name, "connection")) {
    if (lists(value, "close"))
      req->rflags |= EDDY__RESP_CLOSE;
    return 1;
  }
  if (lower_eq(name, "date"))
    req->rflags |= EDDY__RESP_HAS_DATE;
  else if (lower_eq(name, "server"))
    req->rflags |= EDDY__RESP_HAS_SERVER;
  return 0;
}

int eddy_http_add_header(eddy_http_request_t *req, const char *name,
                         const char *value) {
  if (name == NULL || value == NULL || !is_token(name) || !is_text(value))
    return UV_EINVAL;
  if (req->rflags & EDDY__RESP_HEAD_SENT)
    return UV_EALREADY;
  size_t nl = strlen(name), vl = strlen(value);
  if (nl + vl + 4 > req->headers.max - req->headers.len)
    return UV_ENOBUFS;
  int rc = special_header(req, name, value);
  if (rc != 0)
    return rc < 0 ? rc : 0;
  rc = eddy_buf_reserve(&req->headers, nl + vl + 4);
  if (rc != 0)
    return rc;
  eddy_buf_append(&req->headers, name, nl);
  eddy_buf_append(&req->headers, ": ", 2);
  eddy_buf_append(&req->headers, value, vl);
  eddy_buf_append(&req->headers, "\r\n", 2);
  return 0;
}

/* Drops every "name: ..." line from the handler's headers. */
static void remove_header(eddy_http_request_t *req, const char *name) {
  size_t nl = strlen(name);
  char *p = req->headers.data, *end = p + req->headers.len, *w = p;
  while (p < end) {
    char *eol = memchr(p, '\n', (size_t)(end - p));
    size_t n = (size_t)(eol - p) + 1;
    int match = strncasecmp(p, name, nl) == 0 && p[nl] == ':';
    if (!match) {
      memmove(w, p, n);
      w += n;
    }
    p += n;
  }
  req->headers.len = (size_t)(w - req->headers.data);
}

int eddy_http_set_header(eddy_http_request_t *req, const char *name,
                         const char *value) {
  if (name == NULL || value == NULL || !is_token(name) || !is_text(value))
    return UV_EINVAL;
  if (req->rflags & EDDY__RESP_HEAD_SENT)
    return UV_EALREADY;
  if (req->headers.len > 0)
    remove_header(req, name);
  if (lower_eq(name, "content-length"))
    req->rflags &= ~(unsigned)EDDY__RESP_HAS_LENGTH;
  else if (lower_eq(name, "connection"))
    req->rflags &= ~(unsigned)EDDY__RESP_CLOSE;
  return eddy_http_add_header(req, name, value);
}

int eddy_http_head_sent(const eddy_http_request_t *req) {
  return (req->rflags & EDDY__RESP_HEAD_SENT) != 0;
}

/* ---- The head
 * ---------------------------------------------------------------- */

static int conn_usable(const eddy_http_request_t *req) {
  return req->conn != NULL && !req->conn->lost && !req->conn->switched;
}

/* Decides framing and persistence, then writes the head, followed by body
 * (one-shot answers: known_len says the whole body is body[0..len)). */
static int send_head(eddy_http_request_t *req, const char *ctype, int known_len,
                     const void *body, size_t len) {
  eddy__http_conn_t *c = req->conn;
  eddy_http_server_t *s = req->server;
  int st = req->status;
  unsigned f = req->rflags | EDDY__RESP_HEAD_SENT;
  int bodiless = st == 204 || st == 304 || st < 200;
  if (req->is_head || bodiless)
    f |= EDDY__RESP_NO_BODY;
  char cl[40];
  size_t cln = 0;
  uint64_t length = known_len ? len : req->declared_length;
  if (st == 101) {
    /* no framing: the connection is about to change hands */
  } else if (known_len || (f & EDDY__RESP_HAS_LENGTH)) {
    if (!bodiless) {
      memcpy(cl, "Content-Length: ", 16);
      cln = 16 + eddy__http_u64(cl + 16, length);
      cl[cln++] = '\r';
      cl[cln++] = '\n';
    }
    if (known_len)
      f &= ~(unsigned)EDDY__RESP_HAS_LENGTH;
  } else if (!(f & EDDY__RESP_NO_BODY)) {
    if (req->version_minor >= 1) {
      f |= EDDY__RESP_CHUNKED;
      memcpy(cl, "Transfer-Encoding: chunked\r\n", 28);
      cln = 28;
    } else {
      f |= EDDY__RESP_UNTIL_CLOSE | EDDY__RESP_CLOSE;
    }
  }
  int keep = req->keep_alive && !(f & EDDY__RESP_CLOSE) && c != NULL &&
             !c->close_after && !s->closing;
  if (!keep && st != 101)
    f |= EDDY__RESP_CLOSE;
  req->rflags = f;

  char sl[MAX_REASON + 16];
  uv_buf_t b[12];
  size_t n = 0;
  b[n++] = piece(sl, status_line(sl, st, req->reason));
  if (s->server_line != NULL && !(f & EDDY__RESP_HAS_SERVER))
    b[n++] = piece(s->server_line, s->server_line_len);
  if (!(f & EDDY__RESP_HAS_DATE))
    b[n++] = piece(eddy__http_date_line(&s->date, s->reactor),
                   EDDY__HTTP_DATE_LEN + 8);
  if (req->headers.len > 0)
    b[n++] = piece(req->headers.data, req->headers.len);
  if (ctype != NULL) {
    b[n++] = PIECE_STR("Content-Type: ");
    b[n++] = piece(ctype, strlen(ctype));
    b[n++] = PIECE_STR("\r\n");
  }
  if (cln > 0)
    b[n++] = piece(cl, cln);
  if (st == 101)
    b[n++] = PIECE_STR("Connection: upgrade\r\n\r\n");
  else if (!keep)
    b[n++] = PIECE_STR("Connection: close\r\n\r\n");
  else if (req->version_minor == 0)
    b[n++] = PIECE_STR("Connection: keep-alive\r\n\r\n");
  else
    b[n++] = PIECE_STR("\r\n");
  if (known_len && len > 0 && !(f & EDDY__RESP_NO_BODY))
    b[n++] = piece(body, len);
  if (c == NULL)
    return UV_EPIPE;
  return eddy__http_conn_write(c, b, n);
}

/* ---- Finishing
 * --------------------------------------------------------------- */

static void access_log(eddy_http_request_t *req) {
  char peer[80], qpeer[100], qm[64], qt[512], qua[256];
  eddy_addr_t a;
  if (eddy_http_peer(req, &a) != 0)
    a.len = 0;
  eddy_addr_format(&a, peer, sizeof(peer));
  const char *ua = eddy_http_header(req, "User-Agent");
  uint64_t us = (uv_hrtime() - req->start_ns) / 1000u;
  eddy_log(EDDY_LOG_INFO, "http.access",
           "peer=%s method=%s target=%s status=%d bytes=%llu us=%llu ua=%s",
           eddy_log_quote(qpeer, sizeof(qpeer), peer),
           eddy_log_quote(qm, sizeof(qm), req->method),
           eddy_log_quote(qt, sizeof(qt), req->target), req->status,
           (unsigned long long)req->body_sent, (unsigned long long)us,
           eddy_log_quote(qua, sizeof(qua), ua != NULL ? ua : "-"));
}

static void complete(eddy_http_request_t *req) {
  eddy__http_conn_t *c = req->conn;
  if (c != NULL)
    c->writable_owed = 0; /* owed to this request only, not the next */
  if (conn_usable(req) && !c->closing) {
    if (!(req->rflags & EDDY__RESP_HEAD_SENT) && req->status == 101) {
      /* 101 without eddy_http_switch_protocol would leave the client
       * speaking a protocol nobody answers. */
      req->status = 500;
      free(req->reason);
      req->reason = NULL;
    }
    if (!(req->rflags & EDDY__RESP_HEAD_SENT)) {
      if (req->rflags & EDDY__RESP_HAS_LENGTH)
        send_head(req, NULL, 0, NULL, 0);
      else
        send_head(req, NULL, 1, NULL, 0);
    } else if ((req->rflags & (EDDY__RESP_CHUNKED | EDDY__RESP_NO_BODY)) ==
               EDDY__RESP_CHUNKED) {
      uv_buf_t end = PIECE_STR("0\r\n\r\n");
      eddy__http_conn_write(c, &end, 1);
    }
    if ((req->rflags & EDDY__RESP_HAS_LENGTH) &&
        !(req->rflags & EDDY__RESP_NO_BODY) &&
        req->body_sent < req->declared_length)
      req->rflags |= EDDY__RESP_CLOSE; /* the client sees a short body */
  }
  if (req->server->cfg.access_log)
    access_log(req);
  if (req->server->cfg.metrics != NULL)
    eddy__http_server_count(req->server, req->status, req);
  eddy__http_conn_request_done(c, req);
}

void eddy_http_abort(eddy_http_request_t *req) {
  if (req == NULL)
    return;
  eddy__http_conn_t *c = req->conn;
  if (conn_usable(req) && !c->t->closing) {
    eddy_log(EDDY_LOG_INFO, "http.response_aborted", "status=%d", req->status);
    c->closing = 1;
    eddy_buf_clear(&c->out); /* not even the head of what was given up */
    eddy_transport_abort_connection(c->t);
  }
  complete(req);
}

int eddy_http_finish(eddy_http_request_t *req) {
  if (req == NULL)
    return UV_EINVAL;
  int gone = !conn_usable(req);
  complete(req);
  return gone ? UV_EPIPE : 0;
}

/* A one-shot answer that cannot be given as asked: answer 500 instead so the
 * client is not left waiting, and report the caller's mistake. */
static int respond_fallback(eddy_http_request_t *req, int err) {
  static const char msg[] = "Internal Server Error\n";
  eddy_log(EDDY_LOG_ERROR, "http.bad_response", "error=%s", eddy_err_name(err));
  if (!(req->rflags & EDDY__RESP_HEAD_SENT)) {
    free(req->reason);
    req->reason = NULL;
    req->status = 500;
    eddy_buf_clear(&req->headers);
    req->rflags &= ~(unsigned)(EDDY__RESP_HAS_LENGTH | EDDY__RESP_HAS_DATE |
                               EDDY__RESP_HAS_SERVER);
    if (conn_usable(req))
      send_head(req, "text/plain; charset=utf-8", 1, msg, sizeof(msg) - 1);
  }
  complete(req);
  return err;
}

int eddy_http_respond(eddy_http_request_t *req, int status,
                      const char *content_type, const void *body, size_t len) {
  if (req == NULL)
    return UV_EINVAL;
  if (req->rflags & EDDY__RESP_HEAD_SENT) {
    complete(req);
    return UV_EALREADY;
  }
  if (len > 0 && body == NULL)
    return respond_fallback(req, UV_EINVAL);
  if (content_type != NULL && !is_text(content_type))
    return respond_fallback(req, UV_EINVAL);
  if (status == 101) /* only eddy_http_switch_protocol sends it */
    return respond_fallback(req, UV_EINVAL);
  if (status != req->status) {
    int rc = eddy_http_set_status(req, status, NULL);
    if (rc != 0)
      return respond_fallback(req, rc);
  }
  int rc = UV_EPIPE;
  if (conn_usable(req) && !req->conn->closing)
    rc = send_head(req, content_type, 1, body, len);
  req->body_sent = len;
  complete(req);
  return rc;
}

int eddy_http_respond_slice(eddy_http_request_t *req, int status,
                            const char *content_type, eddy_slice_t *body) {
  if (req == NULL)
    return UV_EINVAL;
  if (body == NULL)
    return respond_fallback(req, UV_EINVAL);
  size_t len = eddy_slice_len(body);
  /* Small bodies are cheaper copied with the head into one write. */
  if (len <= 4096)
    return eddy_http_respond(req, status, content_type, eddy_slice_data(body),
                             len);
  if (req->rflags & EDDY__RESP_HEAD_SENT) {
    complete(req);
    return UV_EALREADY;
  }
  if (content_type != NULL && !is_text(content_type))
    return respond_fallback(req, UV_EINVAL);
  if (status == 101) /* only eddy_http_switch_protocol sends it */
    return respond_fallback(req, UV_EINVAL);
  if (status != req->status) {
    int rc = eddy_http_set_status(req, status, NULL);
    if (rc != 0)
      return respond_fallback(req, rc);
  }
  req->declared_length = len;
  req->rflags |= EDDY__RESP_HAS_LENGTH;
  int rc = UV_EPIPE;
  if (conn_usable(req) && !req->conn->closing) {
    rc = send_head(req, content_type, 0, NULL, 0);
    if (rc == 0 && !(req->rflags & EDDY__RESP_NO_BODY))
      rc = eddy__http_conn_write_slice(req->conn, body);
  }
  req->body_sent = len;
  complete(req);
  return rc;
}

int eddy_http_respond_error(eddy_http_request_t *req, int status,
                            const char *detail) {
  if (req == NULL)
    return UV_EINVAL;
  char text[MAX_ERROR_DETAIL + 128];
  const char *reason = eddy_http_status_text(status);
  int n;
  if (detail != NULL)
    n = snprintf(text, sizeof(text), "%s\n%.*s\n", reason,
                 (int)MAX_ERROR_DETAIL, detail);
  else
    n = snprintf(text, sizeof(text), "%s\n", reason);
  if (n < 0)
    n = 0;
  return eddy_http_respond(req, status, "text/plain; charset=utf-8", text,
                           (size_t)n < sizeof(text) ? (size_t)n
                                                    : sizeof(text) - 1);
}

/* ---- Streaming
 * --------------------------------------------------------------- */

/* Checks and the head before body bytes; returns 1 when the bytes are to be
 * dropped (HEAD, 204, 304, empty), 0 to send them, or an error. */
static int before_body(eddy_http_request_t *req, size_t len) {
  if (!conn_usable(req) || req->conn->closing)
    return UV_EPIPE;
  if ((req->rflags & EDDY__RESP_HAS_LENGTH) &&
      len > req->declared_length - req->body_sent)
    return UV_EINVAL;
  if (req->status == 101)
    return UV_EINVAL;
  if (!(req->rflags & EDDY__RESP_HEAD_SENT)) {
    int rc = send_head(req, NULL, 0, NULL, 0);
    if (rc != 0)
      return rc;
  }
  req->body_sent += len;
  if (len == 0 || (req->rflags & EDDY__RESP_NO_BODY)) {
    eddy__http_conn_kick(req->conn);
    return 1;
  }
  return 0;
}

static size_t chunk_line(char *buf, size_t len) {
  static const char hex[] = "0123456789abcdef";
  char tmp[16];
  size_t n = 0;
  do {
    tmp[n++] = hex[len & 15u];
    len >>= 4;
  } while (len != 0);
  for (size_t i = 0; i < n; i++)
    buf[i] = tmp[n - 1 - i];
  buf[n++] = '\r';
  buf[n++] = '\n';
  return n;
}

int eddy_http_write(eddy_http_request_t *req, const void *data, size_t len) {
  if (req == NULL || (len > 0 && data == NULL))
    return UV_EINVAL;
  int rc = before_body(req, len);
  if (rc != 0)
    return rc < 0 ? rc : 0;
  uv_buf_t b[3];
  char line[24];
  size_t n = 0;
  int chunked = (req->rflags & EDDY__RESP_CHUNKED) != 0;
  if (chunked)
    b[n++] = piece(line, chunk_line(line, len));
  b[n++] = piece(data, len);
  if (chunked)
    b[n++] = PIECE_STR("\r\n");
  rc = eddy__http_conn_write(req->conn, b, n);
  eddy__http_conn_kick(req->conn);
  return rc;
}

int eddy_http_write_slice(eddy_http_request_t *req, eddy_slice_t *s) {
  if (req == NULL || s == NULL)
    return UV_EINVAL;
  size_t len = eddy_slice_len(s);
  int rc = before_body(req, len);
  if (rc != 0)
    return rc < 0 ? rc : 0;
  int chunked = (req->rflags & EDDY__RESP_CHUNKED) != 0;
  if (chunked) {
    char line[24];
    uv_buf_t b = piece(line, chunk_line(line, len));
    rc = eddy__http_conn_write(req->conn, &b, 1);
  }
  if (rc == 0)
    rc = eddy__http_conn_write_slice(req->conn, s);
  if (rc == 0 && chunked) {
    uv_buf_t b = PIECE_STR("\r\n");
    rc = eddy__http_conn_write(req->conn, &b, 1);
  }
  eddy__http_conn_kick(req->conn);
  return rc;
}

/* ---- Backpressure
 * ------------------------------------------------------------ */

int eddy_http_writable(const eddy_http_request_t *req) {
  if (!conn_usable(req) || req->conn->closing)
    return 0;
  if (eddy__http_conn_below_high_water(req->conn))
    return 1;
  req->conn->writable_owed = 1;
  return 0;
}

void eddy_http_on_writable(eddy_http_request_t *req, eddy_http_writable_cb cb,
                           void *arg) {
  req->writable_cb = cb;
  req->writable_arg = arg;
}

/* ---- Errors the server answers itself
 * ---------------------------------------- */

void eddy__http_write_error(eddy__http_conn_t *c, int status,
                            const char *detail) {
  eddy_http_server_t *s = c->server;
  char sl[MAX_REASON + 16], body[256], cl[48];
  const char *reason = eddy_http_status_text(status);
  int bl = snprintf(body, sizeof(body), "%s%s%s\n", reason,
                    detail != NULL ? ": " : "", detail != NULL ? detail : "");
  size_t blen = bl < 0                      ? 0
                : (size_t)bl < sizeof(body) ? (size_t)bl
                                            : sizeof(body) - 1;
  memcpy(cl, "Content-Length: ", 16);
  size_t cln = 16 + eddy__http_u64(cl + 16, blen);
  uv_buf_t b[8];
  size_t n = 0;
  b[n++] = piece(sl, status_line(sl, status, NULL));
  if (s->server_line != NULL)
    b[n++] = piece(s->server_line, s->server_line_len);
  b[n++] = piece(eddy__http_date_line(&s->date, s->reactor),
                 EDDY__HTTP_DATE_LEN + 8);
  b[n++] = PIECE_STR("Content-Type: text/plain; charset=utf-8\r\n");
  b[n++] = piece(cl, cln);
  b[n++] = PIECE_STR("\r\nConnection: close\r\n\r\n");
  b[n++] = piece(body, blen);
  s->stats.client_errors++;
  if (s->cfg.metrics != NULL)
    eddy__http_server_count(s, status, NULL);
  if (s->cfg.access_log) {
    /* The request never reached a handler, so there is no method or
     * target to log: the status and the reason say what was wrong. */
    char peer[80], qpeer[100], qd[300];
    eddy_addr_format(&c->peer, peer, sizeof(peer));
    eddy_log(EDDY_LOG_INFO, "http.refused", "peer=%s status=%d detail=%s",
             eddy_log_quote(qpeer, sizeof(qpeer), peer), status,
             eddy_log_quote(qd, sizeof(qd), body));
  }
  eddy__http_conn_write(c, b, n);
}

/* ---- Protocol switch
 * ---------------------------------------------------------- */

int eddy_http_switch_protocol(eddy_http_request_t *req, eddy_protocol_t *p) {
  if (req == NULL || p == NULL)
    return UV_EINVAL;
  if (req->rflags & EDDY__RESP_HEAD_SENT)
    return UV_EALREADY;
  if (!conn_usable(req) || req->conn->closing)
    return UV_EPIPE;
  if (!req->upgrade || req->conn->current != req)
    return UV_EINVAL;
  free(req->reason);
  req->reason = NULL;
  req->status = 101;
  req->rflags &= ~(unsigned)EDDY__RESP_HAS_LENGTH;
  int rc = send_head(req, NULL, 0, NULL, 0);
  if (rc != 0)
    return rc;
  if (req->server->cfg.access_log)
    access_log(req);
  if (req->server->cfg.metrics != NULL)
    eddy__http_server_count(req->server, 101, req);
  eddy__http_conn_switch(req->conn, req, p);
  return 0;
}
