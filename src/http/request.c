/* request.c — the request object: built from a parsed head, and its
 * accessors (eddy/http_server.h).
 *
 * A request is one block: the struct, its header array, a copy of the head
 * (the only copy the server makes of it; strings are NUL-terminated in place
 * by overwriting the separator after each, which no other string uses), the
 * decoded path and the query. A connection keeps the block of its last
 * finished request and builds the next one in it when it fits, so a
 * keep-alive connection allocates nothing per request. */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server_internal.h"

/* Body memory kept across reused requests: enough for common small bodies,
 * small enough that idle connections hold little. */
#define BODY_KEEP (16u * 1024u)
/* Router parameters per request. */
#define MAX_PARAMS 64u
#define MAX_PARAM_BYTES 4096u

static size_t fields_offset(void) {
  size_t a = alignof(eddy__http_field_t);
  return (sizeof(eddy_http_request_t) + a - 1) / a * a;
}

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* Decodes [p, end) into out (NUL-terminated). 400 for a bad escape or a
 * NUL byte. */
static int decode_path(const char *p, const char *end, char *out) {
  while (p < end) {
    int ch = (unsigned char)*p++;
    if (ch == '%') {
      int hi = end - p >= 2 ? hexval((unsigned char)p[0]) : -1;
      int lo = hi >= 0 ? hexval((unsigned char)p[1]) : -1;
      if (lo < 0)
        return 400;
      ch = hi * 16 + lo;
      if (ch == 0)
        return 400;
      p += 2;
    }
    *out++ = (char)ch;
  }
  *out = '\0';
  return 0;
}

/* Where the path starts in an absolute-form target ("http://h/x" -> "/x"),
 * or NULL when the target is not absolute-form. */
static const char *absolute_path(const char *t, const char *end) {
  const char *p = t;
  if (p == end || !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
    return NULL;
  while (p < end &&
         ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.'))
    p++;
  if (end - p < 3 || memcmp(p, "://", 3) != 0)
    return NULL;
  p += 3;
  while (p < end && *p != '/' && *p != '?')
    p++;
  return p;
}

/* Fills req->path and req->query from the target (in the copy). */
static int split_target(eddy_http_request_t *req, size_t tlen, char *pathbuf,
                        char *querybuf) {
  const char *t = req->target, *end = t + tlen, *p;
  if (tlen == 1 && t[0] == '*') {
    if (strcmp(req->method, "OPTIONS") != 0)
      return 400;
    pathbuf[0] = '*';
    pathbuf[1] = '\0';
    querybuf[0] = '\0';
    req->path = pathbuf;
    req->query = querybuf;
    return 0;
  }
  if (t[0] == '/')
    p = t;
  else if ((p = absolute_path(t, end)) == NULL)
    return 400; /* authority-form (CONNECT) or garbage */
  const char *q = memchr(p, '?', (size_t)(end - p));
  const char *pend = q != NULL ? q : end;
  if (q != NULL) {
    memcpy(querybuf, q + 1, (size_t)(end - q - 1));
    querybuf[end - q - 1] = '\0';
  } else {
    querybuf[0] = '\0';
  }
  req->query = querybuf;
  req->path = pathbuf;
  if (p == pend) { /* "http://host" or "http://host?x" */
    pathbuf[0] = '/';
    pathbuf[1] = '\0';
    return 0;
  }
  return decode_path(p, pend, pathbuf);
}

static void reset(eddy_http_request_t *req, size_t cap) {
  eddy_buf_t body = req->body, headers = req->headers;
  memset(req, 0, sizeof(*req));
  req->cap = cap;
  req->body = body;
  req->headers = headers;
  eddy_buf_clear(&req->body);
  eddy_buf_clear(&req->headers);
}

int eddy__http_request_new(eddy_http_server_t *s, eddy__http_conn_t *c,
                           const char *buf, size_t head_len,
                           const eddy_http_msg_t *msg,
                           eddy_http_request_t **reuse,
                           eddy_http_request_t **out) {
  size_t tlen = msg->target.len;
  size_t foff = fields_offset();
  size_t need = msg->num_headers * sizeof(eddy__http_field_t) + head_len + 1 +
                2 * (tlen + 2);
  eddy_http_request_t *req;
  if (*reuse != NULL && (*reuse)->cap >= need) {
    req = *reuse;
    *reuse = NULL;
    reset(req, req->cap);
  } else {
    /* Round up so the block is likely to fit the next request too. */
    size_t cap = need < 1024 ? 1024 : need;
    req = malloc(foff + cap);
    if (req == NULL)
      return UV_ENOMEM;
    memset(req, 0, sizeof(*req));
    req->cap = cap;
    eddy_buf_init(&req->body, 0);
    eddy_buf_init(&req->headers, 64u * 1024u);
  }
  uint64_t max_body = s->limits.max_body;
  req->body.max =
      max_body >= SIZE_MAX - 1 ? SIZE_MAX - 1 : (size_t)max_body + 1;
  req->server = s;
  req->conn = c;
  req->reactor = s->reactor;
  req->status = 200;
  if (s->metrics.duration != NULL)
    req->head_us = eddy_metrics_now_us(s->reactor);

  char *base = (char *)req + foff;
  eddy__http_field_t *fields = (eddy__http_field_t *)(void *)base;
  char *head = base + msg->num_headers * sizeof(eddy__http_field_t);
  char *pathbuf = head + head_len + 1;
  char *querybuf = pathbuf + tlen + 2;
  memcpy(head, buf, head_len);
  head[head_len] = '\0';
#define AT(str) (head + ((str).p - buf))
  char *m = AT(msg->method), *t = AT(msg->target);
  m[msg->method.len] = '\0';
  t[tlen] = '\0';
  req->method = m;
  req->target = t;
  int expect_other = 0;
  for (size_t i = 0; i < msg->num_headers; i++) {
    const eddy_http_header_t *h = &msg->headers[i];
    char *n = AT(h->name), *v = AT(h->value);
    n[h->name.len] = '\0';
    v[h->value.len] = '\0';
    fields[i].name = n;
    fields[i].value = v;
    if (h->name.len == 6 && strcasecmp(n, "expect") == 0 &&
        strcasecmp(v, "100-continue") != 0)
      expect_other = 1;
  }
#undef AT
  req->fields = fields;
  req->nfields = msg->num_headers;
  req->version_minor = msg->version_minor;
  req->keep_alive = msg->keep_alive;
  req->upgrade = msg->upgrade;
  req->expect_continue = msg->expect_continue;
  req->is_head = msg->method.len == 4 && memcmp(m, "HEAD", 4) == 0;
  *out = req;
  int rc = split_target(req, tlen, pathbuf, querybuf);
  if (rc == 0 && expect_other)
    rc = 417;
  return rc;
}

void eddy__http_request_clear(eddy_http_request_t *req) {
  for (size_t i = 0; i < req->nparams; i++) {
    free(req->params[i].name);
    free(req->params[i].value);
  }
  free(req->params);
  req->params = NULL;
  req->nparams = 0;
  free(req->reason);
  req->reason = NULL;
  if (req->body.cap > BODY_KEEP)
    eddy_buf_free(&req->body);
  if (req->headers.cap > BODY_KEEP)
    eddy_buf_free(&req->headers);
}

void eddy__http_request_free(eddy_http_request_t *req) {
  if (req == NULL)
    return;
  eddy__http_request_clear(req);
  eddy_buf_free(&req->body);
  eddy_buf_free(&req->headers);
  free(req);
}

const char *eddy__http_request_field(const eddy_http_request_t *req,
                                     const char *name, size_t len) {
  for (size_t i = 0; i < req->nfields; i++) {
    const char *n = req->fields[i].name;
    if (strncasecmp(n, name, len) == 0 && n[len] == '\0')
      return req->fields[i].value;
  }
  return NULL;
}

/* ---- Accessors ------------------------------------------------------------
 */

const char *eddy_http_method(const eddy_http_request_t *req) {
  return req->method;
}

const char *eddy_http_target(const eddy_http_request_t *req) {
  return req->target;
}

const char *eddy_http_path(const eddy_http_request_t *req) {
  return req->path;
}

const char *eddy_http_query(const eddy_http_request_t *req) {
  return req->query;
}

int eddy_http_version_minor(const eddy_http_request_t *req) {
  return req->version_minor;
}

const char *eddy_http_header(const eddy_http_request_t *req, const char *name) {
  if (name == NULL)
    return NULL;
  return eddy__http_request_field(req, name, strlen(name));
}

size_t eddy_http_header_count(const eddy_http_request_t *req) {
  return req->nfields;
}

int eddy_http_header_at(const eddy_http_request_t *req, size_t i,
                        const char **name, const char **value) {
  if (i >= req->nfields)
    return UV_ENOENT;
  if (name != NULL)
    *name = req->fields[i].name;
  if (value != NULL)
    *value = req->fields[i].value;
  return 0;
}

const char *eddy_http_body(const eddy_http_request_t *req, size_t *len) {
  if (len != NULL)
    *len = req->body.len;
  return req->body.len > 0 ? req->body.data : "";
}

int eddy_http_peer(const eddy_http_request_t *req, eddy_addr_t *out) {
  if (req->conn == NULL || req->conn->peer.len == 0) {
    memset(out, 0, sizeof(*out));
    return UV_ENOTCONN;
  }
  *out = req->conn->peer;
  return 0;
}

eddy_reactor_t *eddy_http_reactor(const eddy_http_request_t *req) {
  return req->reactor;
}

eddy_http_server_t *eddy_http_request_server(const eddy_http_request_t *req) {
  return req->server;
}

int eddy_http_set_param(eddy_http_request_t *req, const char *name,
                        const char *value) {
  if (name == NULL || value == NULL)
    return UV_EINVAL;
  size_t nl = strlen(name), vl = strlen(value);
  if (nl + vl > MAX_PARAM_BYTES)
    return UV_ENOBUFS;
  char *v = malloc(vl + 1);
  if (v == NULL)
    return UV_ENOMEM;
  memcpy(v, value, vl + 1);
  for (size_t i = 0; i < req->nparams; i++) {
    if (strcmp(req->params[i].name, name) == 0) {
      free(req->params[i].value);
      req->params[i].value = v;
      return 0;
    }
  }
  if (req->nparams >= MAX_PARAMS) {
    free(v);
    return UV_ENOBUFS;
  }
  char *n = malloc(nl + 1);
  eddy__http_param_t *grown =
      realloc(req->params, (req->nparams + 1) * sizeof(*grown));
  if (n == NULL || grown == NULL) {
    free(n);
    free(v);
    if (grown != NULL)
      req->params = grown;
    return UV_ENOMEM;
  }
  memcpy(n, name, nl + 1);
  req->params = grown;
  req->params[req->nparams].name = n;
  req->params[req->nparams].value = v;
  req->nparams++;
  return 0;
}

const char *eddy_http_param(const eddy_http_request_t *req, const char *name) {
  if (name == NULL)
    return NULL;
  for (size_t i = 0; i < req->nparams; i++)
    if (strcmp(req->params[i].name, name) == 0)
      return req->params[i].value;
  return NULL;
}

void eddy_http_set_data(eddy_http_request_t *req, void *data) {
  req->data = data;
}

void *eddy_http_data(const eddy_http_request_t *req) {
  return req->data;
}

void eddy_http_on_close(eddy_http_request_t *req, eddy_http_close_cb cb,
                        void *arg) {
  req->close_cb = cb;
  req->close_arg = arg;
}

void eddy_http_close_on_eof(eddy_http_request_t *req) {
  req->close_on_eof = 1;
}

int eddy_http_wants_upgrade(const eddy_http_request_t *req) {
  return req->upgrade;
}
