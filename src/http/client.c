/* client.c — HTTP/1.1 requests and responses over the pool's connections.
 *
 * A request goes: start (next iteration) -> wait for a connection (pool.c)
 * -> write -> read the head -> read the body -> finish, then maybe again
 * from "wait" for a redirect or a retry. Everything that can end it early
 * (timeouts, cancel, the client closing, bad bytes, a body callback) goes
 * through fail(), which tears the request down and fires the deferred.
 *
 * User code runs inside our processing (on_head, on_body, the deferred's
 * callbacks) and may cancel, pause or close anything from there, so the
 * request is freed only once it is finished and no frame of ours is still
 * using it (`depth`).
 */
#include "eddy/http_client.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/reactor_internal.h"
#include "eddy/buffer.h"
#include "eddy/error.h"
#include "eddy/transport.h"
#include "eddy/url.h"
#include "eddy/version.h"
#include "http/client_internal.h"
#include "http/http_internal.h"

#define METHOD_MAX 32u
#define HEADER_NAME_MAX 256u
#define HEADER_VALUE_MAX 8192u
/* Interim 1xx responses accepted before the final one. */
#define MAX_INTERIM 8
/* Bytes held back while a streaming caller paused: one read's worth. */
#define HELD_MAX ((size_t)1u << 20)

typedef struct hreq_s hreq_t;

typedef struct {
  eddy_http_response_t pub; /* first */
  hreq_t *req;              /* while the request is in flight */
  size_t nheaders;
  const char **names;
  const char **values;
  char *body_mem;
  char *url_mem;
} resp_t;

typedef enum { PH_START = 0, PH_WAIT, PH_HEAD, PH_BODY, PH_DONE } phase_t;

struct eddy_http_client_s {
  eddy_reactor_t *reactor;
  eddy_http_client_config_t cfg; /* defaults filled in */
  char *user_agent;              /* NULL: none */
  eddy__hpool_t *pool;
  hreq_t *reqs; /* every request not yet freed */
  size_t nreqs;
  uint64_t requests_total;
  uint64_t retries;
  int closing;
  int pool_done;
  eddy_call_cb done;
  void *done_arg;
  eddy__soon_t soon;
};

struct hreq_s {
  eddy_http_client_t *client;
  hreq_t *prev, *next;
  eddy_deferred_t *d; /* NULL once fired */
  eddy__hwait_t wait;
  eddy__hconn_t *conn;
  /* What to send. */
  char method[METHOD_MAX + 1];
  size_t nheaders;
  char **hnames, **hvalues; /* one block with the strings */
  int has_user_agent;
  char *body;
  size_t body_len;
  unsigned max_redirects;
  uint64_t response_timeout, read_timeout, request_timeout;
  eddy_http_head_cb on_head;
  eddy_http_body_cb on_body;
  void *arg;
  /* Where. */
  char *url_text;
  eddy_url_t url;
  char host[EDDY_URL_HOST_MAX + 1];
  eddy_buf_t out;
  /* The response. */
  phase_t phase;
  eddy_http_parser_t parser;
  eddy_http_header_t *hdrs;
  size_t hdr_cap;
  eddy_http_msg_t msg;
  eddy_buf_t in; /* the head as it arrives */
  eddy_http_chunked_t chunked;
  uint64_t remaining; /* Content-Length bytes still to come */
  uint64_t body_total;
  int body_done;
  int got_bytes; /* anything arrived on the current connection */
  int interim;   /* 1xx responses seen */
  int reused;    /* the current connection served requests before */
  int retried;
  int redirecting; /* reading a redirect's body, to drop it */
  char *location;
  int redirect_status;
  unsigned redirects;
  resp_t *resp;
  eddy_buf_t rbody; /* the body received, when kept */
  /* Streaming backpressure. */
  int paused;
  int reading_paused; /* we paused the transport */
  eddy_buf_t held;
  int pending_lost;
  int lost_reason;
  /* Lifetime. */
  int finished;
  int depth;
  int init_err;
  char init_msg[200];
  const char *timer_what;
  uint64_t timer_ms;
  eddy__soon_t start_soon;
  eddy__soon_t resume_soon;
  eddy_timer_t timer; /* response head, then idle read */
  eddy_timer_t total; /* the whole request */
};

static void fail(hreq_t *q, int err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void feed(hreq_t *q, const char *data, size_t len);
static void attempt(hreq_t *q, int front);
static void client_maybe_done(eddy_http_client_t *c);

/* ---- Small helpers ---------------------------------------------------------
 */

static int equals_nocase(const char *a, const char *b) {
  for (; *a != '\0' && *b != '\0'; a++, b++) {
    char x = *a, y = *b;
    if (x >= 'A' && x <= 'Z')
      x = (char)(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z')
      y = (char)(y - 'A' + 'a');
    if (x != y)
      return 0;
  }
  return *a == *b;
}

static int span_equals_nocase(eddy_http_str_t s, const char *name) {
  size_t n = strlen(name);
  if (s.len != n)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char x = s.p[i];
    if (x >= 'A' && x <= 'Z')
      x = (char)(x - 'A' + 'a');
    if (x != name[i])
      return 0;
  }
  return 1;
}

static int is_idempotent(const char *m) {
  static const char *const ok[] = {"GET",    "HEAD",    "PUT",
                                   "DELETE", "OPTIONS", "TRACE"};
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
    if (strcmp(m, ok[i]) == 0)
      return 1;
  return 0;
}

static int is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 ||
         status == 308;
}

static uint64_t pick(uint64_t mine, uint64_t dflt) {
  return mine != 0 ? mine : dflt;
}

/* ---- Responses
 * ---------------------------------------------------------------- */

const char *eddy_http_response_header(const eddy_http_response_t *resp,
                                      const char *name) {
  const resp_t *r = (const resp_t *)resp;
  if (r == NULL || name == NULL)
    return NULL;
  for (size_t i = 0; i < r->nheaders; i++)
    if (equals_nocase(r->names[i], name))
      return r->values[i];
  return NULL;
}

size_t eddy_http_response_header_count(const eddy_http_response_t *resp) {
  return resp == NULL ? 0 : ((const resp_t *)resp)->nheaders;
}

int eddy_http_response_header_at(const eddy_http_response_t *resp, size_t i,
                                 const char **name, const char **value) {
  const resp_t *r = (const resp_t *)resp;
  if (r == NULL || i >= r->nheaders)
    return UV_ENOENT;
  if (name != NULL)
    *name = r->names[i];
  if (value != NULL)
    *value = r->values[i];
  return 0;
}

void eddy_http_response_free(void *resp) {
  resp_t *r = resp;
  if (r == NULL)
    return;
  if (r->req != NULL)
    r->req->resp = NULL;
  free(r->body_mem);
  free(r->url_mem);
  free(r);
}

/* One block: the struct, the two arrays, then the strings. */
static resp_t *resp_new(const eddy_http_msg_t *m, const char *url) {
  size_t n = m->num_headers;
  size_t strings = m->reason.len + 1;
  for (size_t i = 0; i < n; i++)
    strings += m->headers[i].name.len + m->headers[i].value.len + 2;
  size_t size = sizeof(resp_t) + 2 * n * sizeof(char *) + strings;
  resp_t *r = calloc(1, size);
  if (r == NULL)
    return NULL;
  r->url_mem = strdup(url);
  if (r->url_mem == NULL) {
    free(r);
    return NULL;
  }
  r->names = (const char **)(void *)(r + 1);
  r->values = r->names + n;
  char *s = (char *)(r->values + n);
  r->nheaders = n;
  memcpy(s, m->reason.p, m->reason.len);
  s[m->reason.len] = '\0';
  r->pub.reason = s;
  s += m->reason.len + 1;
  for (size_t i = 0; i < n; i++) {
    const eddy_http_header_t *h = &m->headers[i];
    memcpy(s, h->name.p, h->name.len);
    s[h->name.len] = '\0';
    r->names[i] = s;
    s += h->name.len + 1;
    memcpy(s, h->value.p, h->value.len);
    s[h->value.len] = '\0';
    r->values[i] = s;
    s += h->value.len + 1;
  }
  r->pub.status = m->status;
  r->pub.version_minor = m->version_minor;
  r->pub.body = "";
  r->pub.url = r->url_mem;
  r->pub.priv_ = r;
  return r;
}

/* ---- Tearing down
 * ---------------------------------------------------------------- */

static void unlink_req(hreq_t *q) {
  eddy_http_client_t *c = q->client;
  if (q->prev != NULL)
    q->prev->next = q->next;
  else
    c->reqs = q->next;
  if (q->next != NULL)
    q->next->prev = q->prev;
  c->nreqs--;
}

static void maybe_free(hreq_t *q) {
  if (!q->finished || q->depth > 0)
    return;
  eddy_http_client_t *c = q->client;
  unlink_req(q);
  eddy_buf_free(&q->out);
  eddy_buf_free(&q->in);
  eddy_buf_free(&q->rbody);
  eddy_buf_free(&q->held);
  if (q->resp != NULL)
    eddy_http_response_free(q->resp);
  free(q->hdrs);
  free(q->hnames);
  free(q->body);
  free(q->url_text);
  free(q->location);
  free(q);
  client_maybe_done(c);
}

/* Stops everything the request has running. The connection is aborted:
 * whatever it was in the middle of cannot be resumed by another request. */
static void teardown(hreq_t *q) {
  eddy_timer_stop(&q->timer);
  eddy_timer_stop(&q->total);
  eddy__reactor_soon_cancel(q->client->reactor, &q->start_soon);
  eddy__reactor_soon_cancel(q->client->reactor, &q->resume_soon);
  eddy__hpool_cancel(&q->wait);
  if (q->conn != NULL) {
    eddy__hconn_t *conn = q->conn;
    q->conn = NULL;
    eddy__hpool_discard(conn);
  }
  q->phase = PH_DONE;
}

static void fail(hreq_t *q, int err, const char *fmt, ...) {
  if (q->finished)
    return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  q->finished = 1;
  q->depth++;
  teardown(q);
  if (q->resp != NULL) {
    q->resp->req = NULL;
    eddy_http_response_free(q->resp);
    q->resp = NULL;
  }
  eddy_deferred_t *d = q->d;
  q->d = NULL;
  if (d != NULL)
    eddy_deferred_errback(d, err < 0 ? err : UV_EINVAL, "%s", msg);
  q->depth--;
  maybe_free(q);
}

static void succeed(hreq_t *q) {
  resp_t *r = q->resp;
  q->resp = NULL;
  q->finished = 1;
  q->depth++;
  teardown(q);
  r->req = NULL;
  if (!q->on_body) {
    size_t len = 0;
    char *mem = eddy_buf_detach(&q->rbody, &len);
    if (mem != NULL) {
      r->body_mem = mem;
      r->pub.body = mem;
      r->pub.body_len = len;
    }
  }
  r->pub.redirects = q->redirects;
  eddy_deferred_t *d = q->d;
  q->d = NULL;
  if (d != NULL)
    eddy_deferred_callback(d, r, eddy_http_response_free);
  else
    eddy_http_response_free(r);
  q->depth--;
  maybe_free(q);
}

/* ---- Timers
 * ------------------------------------------------------------------------ */

static void phase_timeout(eddy_timer_t *t) {
  hreq_t *q = t->data;
  fail(q, UV_ETIMEDOUT, "%s timeout after %" PRIu64 " ms", q->timer_what,
       q->timer_ms);
}

static void total_timeout(eddy_timer_t *t) {
  hreq_t *q = t->data;
  fail(q, UV_ETIMEDOUT, "request timeout after %" PRIu64 " ms",
       q->request_timeout);
}

static void arm(hreq_t *q, const char *what, uint64_t ms) {
  q->timer_what = what;
  q->timer_ms = ms;
  eddy_timer_start(&q->timer, ms, phase_timeout);
}

/* ---- Sending
 * -------------------------------------------------------------------------- */

static int build_out(hreq_t *q) {
  eddy_buf_t *o = &q->out;
  eddy_buf_clear(o);
  char target[EDDY_URL_MAX_LENGTH + 2];
  char authority[EDDY_URL_HOST_MAX + 16];
  eddy_url_target(&q->url, target, sizeof(target));
  eddy_url_authority(&q->url, authority, sizeof(authority));
  int rc = eddy_buf_printf(o, "%s %s HTTP/1.1\r\nHost: %s\r\n", q->method,
                           target, authority);
  const char *ua = q->client->user_agent;
  if (rc == 0 && ua != NULL && !q->has_user_agent)
    rc = eddy_buf_printf(o, "User-Agent: %s\r\n", ua);
  if (rc == 0 &&
      (q->body_len > 0 || strcmp(q->method, "POST") == 0 ||
       strcmp(q->method, "PUT") == 0 || strcmp(q->method, "PATCH") == 0))
    rc = eddy_buf_printf(o, "Content-Length: %zu\r\n", q->body_len);
  for (size_t i = 0; rc == 0 && i < q->nheaders; i++)
    if (q->hnames[i] != NULL)
      rc = eddy_buf_printf(o, "%s: %s\r\n", q->hnames[i], q->hvalues[i]);
  if (rc == 0)
    rc = eddy_buf_append(o, "\r\n", 2);
  if (rc == 0 && o->len > EDDY_HTTP_CLIENT_MAX_REQUEST_HEAD)
    rc = UV_E2BIG;
  if (rc == 0 && q->body_len > 0)
    rc = eddy_buf_append(o, q->body, q->body_len);
  return rc;
}

/* Sets the current URL (takes text over). */
static int set_url(hreq_t *q, char *text, char *why, size_t why_size) {
  eddy_url_error_t e;
  eddy_url_t u;
  int rc = eddy_url_parse(text, strlen(text), 0, &u, &e);
  if (rc < 0) {
    snprintf(why, why_size, "bad URL: %s (at byte %zu)", e.message, e.pos);
    free(text);
    return rc;
  }
  free(q->url_text);
  q->url_text = text;
  q->url = u;
  memcpy(q->host, u.host.p, u.host.len);
  q->host[u.host.len] = '\0';
  return 0;
}

static void ready(eddy__hwait_t *w, eddy__hconn_t *conn, int err,
                  const char *msg) {
  hreq_t *q = w->owner;
  if (err < 0) {
    fail(q, err, "%s", msg);
    return;
  }
  eddy_http_client_t *c = q->client;
  q->conn = conn;
  q->reused = eddy__hconn_reused(conn);
  q->phase = PH_HEAD;
  q->got_bytes = 0;
  q->interim = 0;
  q->body_done = 0;
  q->body_total = 0;
  eddy_buf_clear(&q->in);
  eddy_buf_clear(&q->rbody);
  eddy_http_parser_init(&q->parser, EDDY_HTTP_RESPONSE, &c->cfg.limits);
  eddy_http_parser_set_head_request(&q->parser, strcmp(q->method, "HEAD") == 0);
  int rc = eddy_transport_write(eddy__hconn_transport(conn), q->out.data,
                                q->out.len);
  if (rc < 0) {
    fail(q, rc, "write to %s: %s", q->host, eddy_strerror(rc));
    return;
  }
  arm(q, "response", q->response_timeout);
}

static void attempt(hreq_t *q, int front) {
  eddy_http_client_t *c = q->client;
  q->phase = PH_WAIT;
  int rc = eddy__hpool_acquire(c->pool, q->host, q->url.port, &q->wait, front);
  if (rc == UV_ENOBUFS)
    fail(q, rc, "too many requests waiting for %s:%u (limit %zu)", q->host,
         (unsigned)q->url.port, c->cfg.max_queue_per_host);
  else if (rc == UV_ECANCELED)
    fail(q, rc, "client closed");
  else if (rc < 0)
    fail(q, rc, "%s", eddy_strerror(rc));
}

/* ---- Receiving
 * ---------------------------------------------------------------- */

static void release_conn(hreq_t *q, int reusable) {
  eddy__hconn_t *conn = q->conn;
  if (conn == NULL)
    return;
  q->conn = NULL;
  if (q->reading_paused) {
    q->reading_paused = 0;
    eddy_transport_resume_reading(eddy__hconn_transport(conn));
  }
  eddy__hpool_release(conn, reusable);
}

static void follow_redirect(hreq_t *q) {
  char buf[EDDY_URL_MAX_LENGTH + 1];
  char why[256];
  eddy_url_error_t e;
  int n = eddy_url_resolve(&q->url, q->location, strlen(q->location), buf,
                           sizeof(buf), &e);
  if (n < 0) {
    fail(q, n, "bad redirect Location: %s", e.message);
    return;
  }
  char *text = strdup(buf);
  if (text == NULL) {
    fail(q, UV_ENOMEM, "out of memory following a redirect");
    return;
  }
  char old_host[EDDY_URL_HOST_MAX + 1];
  uint16_t old_port = q->url.port;
  memcpy(old_host, q->host, sizeof(old_host));
  int rc = set_url(q, text, why, sizeof(why));
  if (rc < 0) {
    fail(q, rc, "bad redirect Location: %s", why);
    return;
  }
  int st = q->redirect_status;
  int to_get = (st == 303 && strcmp(q->method, "HEAD") != 0) ||
               ((st == 301 || st == 302) && strcmp(q->method, "POST") == 0);
  if (to_get) {
    snprintf(q->method, sizeof(q->method), "GET");
    free(q->body);
    q->body = NULL;
    q->body_len = 0;
  }
  if (old_port != q->url.port || !equals_nocase(old_host, q->host)) {
    /* Credentials were meant for the first origin only. */
    for (size_t i = 0; i < q->nheaders; i++)
      if (q->hnames[i] != NULL &&
          (equals_nocase(q->hnames[i], "authorization") ||
           equals_nocase(q->hnames[i], "cookie")))
        q->hnames[i] = NULL;
  }
  free(q->location);
  q->location = NULL;
  q->redirecting = 0;
  q->redirects++;
  q->retried = 0;
  rc = build_out(q);
  if (rc < 0) {
    fail(q, rc, "cannot build the redirected request: %s", eddy_strerror(rc));
    return;
  }
  attempt(q, 0);
}

/* The body is complete; leftover bytes followed it. */
static void complete(hreq_t *q, size_t leftover) {
  eddy_timer_stop(&q->timer);
  q->phase = PH_DONE;
  release_conn(q, q->msg.keep_alive && leftover == 0);
  if (q->redirecting)
    follow_redirect(q);
  else
    succeed(q);
}

static void emit(hreq_t *q, const char *data, size_t len) {
  if (len == 0 || q->redirecting)
    return;
  uint64_t max = q->client->cfg.limits.max_body;
  if (q->body_total + len > max) {
    fail(q, EDDY_EPARSE,
         "malformed response: body too large (limit %" PRIu64 " bytes)", max);
    return;
  }
  q->body_total += len;
  if (q->on_body == NULL) {
    int rc = eddy_buf_append(&q->rbody, data, len);
    if (rc < 0)
      fail(q, rc, "cannot keep the response body: %s", eddy_strerror(rc));
    return;
  }
  q->depth++;
  int rc = q->on_body(&q->resp->pub, data, len, q->arg);
  q->depth--;
  if (!q->finished && rc < 0)
    fail(q, rc, "body callback: %s", eddy_strerror(rc));
}

/* Feeds body bytes; returns how many it used. Stops early when the body
 * ends, when the request finished, or when the caller paused. */
static size_t body_feed(hreq_t *q, const char *p, size_t n) {
  size_t used = 0;
  switch (q->msg.body) {
  case EDDY_HTTP_BODY_NONE:
    q->body_done = 1;
    break;
  case EDDY_HTTP_BODY_LENGTH: {
    size_t take = q->remaining < n ? (size_t)q->remaining : n;
    used = take;
    q->remaining -= take;
    if (q->remaining == 0)
      q->body_done = 1;
    emit(q, p, take);
    break;
  }
  case EDDY_HTTP_BODY_CHUNKED:
    while (used < n && !q->finished && !q->paused &&
           !eddy_http_chunked_done(&q->chunked)) {
      const char *d;
      size_t dl;
      int r = eddy_http_chunked_feed(&q->chunked, p + used, n - used, &d, &dl);
      if (r < 0) {
        fail(q, EDDY_EPARSE, "malformed response: %s", eddy_http_strerror(r));
        return used;
      }
      used += (size_t)r;
      emit(q, d, dl);
    }
    if (eddy_http_chunked_done(&q->chunked))
      q->body_done = 1;
    break;
  case EDDY_HTTP_BODY_UNTIL_CLOSE:
    used = n;
    emit(q, p, n);
    break;
  }
  return used;
}

static void hold(hreq_t *q, const char *data, size_t len) {
  if (len == 0)
    return;
  int rc = eddy_buf_append(&q->held, data, len);
  if (rc < 0)
    fail(q, rc, "cannot hold the paused body: %s", eddy_strerror(rc));
}

/* The head is in q->in[0..n): decide what comes next. Returns 0 to go on
 * with the body, -1 when the request finished or moved on. */
static int head_done(hreq_t *q) {
  eddy_http_msg_t *m = &q->msg;
  eddy_timer_stop(&q->timer);
  const char *location = NULL;
  size_t location_len = 0;
  for (size_t i = 0; i < m->num_headers; i++)
    if (span_equals_nocase(m->headers[i].name, "location")) {
      location = m->headers[i].value.p;
      location_len = m->headers[i].value.len;
      break;
    }
  if (q->max_redirects > 0 && is_redirect(m->status) && location != NULL) {
    if (q->redirects >= q->max_redirects) {
      fail(q, UV_ELOOP, "too many redirects (%u)", q->max_redirects);
      return -1;
    }
    q->location = malloc(location_len + 1);
    if (q->location == NULL) {
      fail(q, UV_ENOMEM, "out of memory following a redirect");
      return -1;
    }
    memcpy(q->location, location, location_len);
    q->location[location_len] = '\0';
    q->redirecting = 1;
    q->redirect_status = m->status;
  } else {
    q->resp = resp_new(m, q->url_text);
    if (q->resp == NULL) {
      fail(q, UV_ENOMEM, "out of memory keeping the response");
      return -1;
    }
    q->resp->req = q;
    if (q->on_head != NULL) {
      q->depth++;
      q->on_head(&q->resp->pub, q->arg);
      q->depth--;
      if (q->finished)
        return -1;
    }
  }
  q->phase = PH_BODY;
  if (m->body == EDDY_HTTP_BODY_LENGTH)
    q->remaining = m->content_length;
  else if (m->body == EDDY_HTTP_BODY_CHUNKED)
    eddy_http_chunked_init(&q->chunked, &q->client->cfg.limits);
  if (!q->paused)
    arm(q, "read", q->read_timeout);
  return 0;
}

static void feed(hreq_t *q, const char *data, size_t len) {
  while (!q->finished && q->phase != PH_DONE) {
    if (q->paused) {
      hold(q, data, len);
      return;
    }
    if (q->phase == PH_HEAD) {
      /* Take no more than the head may still need: what follows it in the
       * same read is body, and must not count against the head's limit. */
      size_t room = q->in.len < q->parser.limits.max_head
                        ? q->parser.limits.max_head - q->in.len
                        : 0;
      size_t take = len < room ? len : room;
      if (take > 0 && eddy_buf_append(&q->in, data, take) < 0) {
        fail(q, UV_ENOMEM, "out of memory reading the response head");
        return;
      }
      data += take;
      len -= take;
      if (q->in.len == 0)
        return;
      int n = eddy_http_parse(&q->parser, q->in.data, q->in.len, &q->msg,
                              q->hdrs, q->hdr_cap);
      if (n == EDDY_HTTP_NEED_MORE && len > 0)
        n = EDDY_HTTP_E_HEADERS_TOO_LARGE; /* full, and still no end */
      if (n == EDDY_HTTP_NEED_MORE)
        return;
      if (n < 0) {
        fail(q, EDDY_EPARSE, "malformed response: %s", eddy_http_strerror(n));
        return;
      }
      if (q->msg.status < 200) {
        if (q->msg.status == 101) {
          fail(q, EDDY_EPARSE,
               "malformed response: unexpected 101 Switching Protocols");
          return;
        }
        /* Interim (100 Continue, 103 Early Hints): the real one follows,
         * in what is left of `in` and then of data. Bounded, so a server
         * cannot keep us reading interim heads forever. */
        if (++q->interim > MAX_INTERIM) {
          fail(q, EDDY_EPARSE,
               "malformed response: more than %d interim (1xx) responses",
               MAX_INTERIM);
          return;
        }
        eddy_buf_consume(&q->in, (size_t)n);
        eddy_http_parser_reset(&q->parser);
        if (q->in.len > 0 && len > 0) {
          /* Keep the order: the rest of data goes behind what `in` holds. */
          if (eddy_buf_append(&q->held, q->in.data, q->in.len) < 0 ||
              eddy_buf_append(&q->held, data, len) < 0) {
            fail(q, UV_ENOMEM, "out of memory reading the response head");
            return;
          }
          eddy_buf_clear(&q->in);
          eddy_buf_t tmp = q->held;
          eddy_buf_init(&q->held, HELD_MAX);
          feed(q, tmp.data, tmp.len);
          eddy_buf_free(&tmp);
          return;
        }
        continue;
      }
      if (head_done(q) < 0)
        return;
      /* The bytes after the head are the body's: move them out of `in`
       * (the response does not point into it), followed by the rest of
       * data, and go on with them as body. */
      size_t rest = q->in.len - (size_t)n;
      if (rest > 0 || len > 0) {
        if (eddy_buf_append(&q->held, q->in.data + n, rest) < 0 ||
            eddy_buf_append(&q->held, data, len) < 0) {
          fail(q, UV_ENOMEM, "out of memory reading the body");
          return;
        }
        eddy_buf_clear(&q->in);
        eddy_buf_t tmp = q->held;
        eddy_buf_init(&q->held, HELD_MAX);
        feed(q, tmp.data, tmp.len); /* one level deep: phase is BODY */
        eddy_buf_free(&tmp);
        return;
      }
      eddy_buf_clear(&q->in);
      if (q->msg.body == EDDY_HTTP_BODY_NONE)
        complete(q, 0);
      return;
    }
    /* PH_BODY */
    size_t used = body_feed(q, data, len);
    if (q->finished)
      return;
    if (q->body_done) {
      complete(q, len - used);
      return;
    }
    data += used;
    len -= used;
    if (len == 0)
      return;
    /* Paused in the middle: the loop holds the rest. */
  }
}

static void process(hreq_t *q, const char *data, size_t len) {
  q->depth++;
  feed(q, data, len);
  q->depth--;
  maybe_free(q);
}

void eddy__hreq_data(void *owner, const char *data, size_t len) {
  hreq_t *q = owner;
  if (q->finished)
    return;
  q->got_bytes = 1;
  if (q->phase == PH_BODY && !q->paused)
    arm(q, "read", q->read_timeout);
  process(q, data, len);
}

static void handle_lost(hreq_t *q, int reason) {
  if (q->phase == PH_BODY && q->msg.body == EDDY_HTTP_BODY_UNTIL_CLOSE &&
      reason == 0) {
    q->body_done = 1;
    complete(q, 0);
    return;
  }
  if (q->phase == PH_BODY && q->msg.body == EDDY_HTTP_BODY_NONE) {
    complete(q, 0);
    return;
  }
  const char *what = q->got_bytes ? "connection closed before the response "
                                    "ended"
                                  : "connection closed before any response";
  if (reason < 0)
    fail(q, reason, "%s: %s", what, eddy_strerror(reason));
  else
    fail(q, UV_EOF, "%s", what);
}

void eddy__hreq_lost(void *owner, int reason) {
  hreq_t *q = owner;
  eddy__hconn_t *conn = q->conn;
  q->conn = NULL;
  if (q->finished || conn == NULL)
    return;
  q->depth++;
  q->reading_paused = 0;
  if (q->phase == PH_HEAD && !q->got_bytes && q->reused && !q->retried &&
      is_idempotent(q->method)) {
    /* The server closed a pooled connection as we reused it. Its idle
     * siblings are likely stale too. */
    q->retried = 1;
    q->client->retries++;
    eddy_timer_stop(&q->timer);
    eddy__hpool_retire_idle(conn);
    attempt(q, 1);
  } else if (q->paused && q->held.len > 0) {
    eddy_timer_stop(&q->timer);
    q->pending_lost = 1;
    q->lost_reason = reason;
  } else {
    handle_lost(q, reason);
  }
  q->depth--;
  maybe_free(q);
}

/* ---- Streaming control
 * ---------------------------------------------------------- */

int eddy_http_response_pause(eddy_http_response_t *resp) {
  resp_t *r = (resp_t *)resp;
  hreq_t *q = r != NULL ? r->req : NULL;
  if (q == NULL || q->finished)
    return UV_EINVAL;
  if (q->paused)
    return 0;
  q->paused = 1;
  eddy__reactor_soon_cancel(q->client->reactor, &q->resume_soon);
  eddy_timer_stop(&q->timer);
  if (q->conn != NULL && !q->reading_paused) {
    q->reading_paused = 1;
    eddy_transport_pause_reading(eddy__hconn_transport(q->conn));
  }
  return 0;
}

static void resume_cb(void *arg) {
  hreq_t *q = arg;
  if (q->finished || q->paused)
    return;
  q->depth++;
  if (q->held.len > 0) {
    eddy_buf_t tmp = q->held;
    eddy_buf_init(&q->held, HELD_MAX);
    feed(q, tmp.data, tmp.len);
    eddy_buf_free(&tmp);
  }
  if (!q->finished && !q->paused) {
    if (q->pending_lost) {
      q->pending_lost = 0;
      handle_lost(q, q->lost_reason);
    } else if (q->conn != NULL) {
      if (q->reading_paused) {
        q->reading_paused = 0;
        eddy_transport_resume_reading(eddy__hconn_transport(q->conn));
      }
      if (q->phase == PH_BODY)
        arm(q, "read", q->read_timeout);
    }
  }
  q->depth--;
  maybe_free(q);
}

int eddy_http_response_resume(eddy_http_response_t *resp) {
  resp_t *r = (resp_t *)resp;
  hreq_t *q = r != NULL ? r->req : NULL;
  if (q == NULL || q->finished)
    return UV_EINVAL;
  if (!q->paused)
    return 0;
  q->paused = 0;
  /* Held bytes go out on the next iteration, never inside this call. */
  eddy__reactor_soon(q->client->reactor, &q->resume_soon, resume_cb, q);
  return 0;
}

/* ---- Starting
 * ------------------------------------------------------------------------ */

static void cancel_req(eddy_deferred_t *d, void *arg) {
  (void)d;
  fail(arg, UV_ECANCELED, "request cancelled");
}

static void start_cb(void *arg) {
  hreq_t *q = arg;
  eddy_http_client_t *c = q->client;
  q->depth++;
  if (q->init_err < 0)
    fail(q, q->init_err, "%s", q->init_msg);
  else if (c->closing)
    fail(q, UV_ECANCELED, "client closed");
  else {
    if (q->request_timeout > 0)
      eddy_timer_start(&q->total, q->request_timeout, total_timeout);
    attempt(q, 0);
  }
  q->depth--;
  maybe_free(q);
}

static void refuse(hreq_t *q, int err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void refuse(hreq_t *q, int err, const char *fmt, ...) {
  if (q->init_err < 0)
    return;
  q->init_err = err;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(q->init_msg, sizeof(q->init_msg), fmt, ap);
  va_end(ap);
}

static const char *const forbidden_headers[] = {
    "host", "content-length", "transfer-encoding", "connection", "upgrade",
    "te",   "keep-alive"};

static void copy_headers(hreq_t *q, const eddy_http_client_req_t *o) {
  if (o->num_headers == 0)
    return;
  if (o->headers == NULL) {
    refuse(q, UV_EINVAL, "headers missing (num_headers > 0)");
    return;
  }
  if (o->num_headers > EDDY_HTTP_CLIENT_MAX_REQUEST_HEADERS) {
    refuse(q, UV_EINVAL, "more than %u request headers",
           EDDY_HTTP_CLIENT_MAX_REQUEST_HEADERS);
    return;
  }
  size_t strings = 0;
  for (size_t i = 0; i < o->num_headers; i++) {
    const char *name = o->headers[i].name, *value = o->headers[i].value;
    if (name == NULL || value == NULL) {
      refuse(q, UV_EINVAL, "request header %zu has no name or value", i);
      return;
    }
    size_t nl = strlen(name), vl = strlen(value);
    if (nl == 0 || nl > HEADER_NAME_MAX) {
      refuse(q, UV_EINVAL, "request header %zu: bad name length", i);
      return;
    }
    for (size_t k = 0; k < nl; k++)
      if (!eddy__http_is_tchar((unsigned char)name[k])) {
        refuse(q, UV_EINVAL, "request header name \"%.64s\" is not a token",
               name);
        return;
      }
    if (vl > HEADER_VALUE_MAX) {
      refuse(q, UV_EINVAL, "request header %s: value too long", name);
      return;
    }
    for (size_t k = 0; k < vl; k++)
      if (!eddy__http_is_vchar_ws((unsigned char)value[k])) {
        refuse(q, UV_EINVAL, "request header %s: control character in value",
               name);
        return;
      }
    for (size_t k = 0; k < sizeof(forbidden_headers) / sizeof(char *); k++)
      if (equals_nocase(name, forbidden_headers[k])) {
        refuse(q, UV_EINVAL, "request header %s is set by the client itself",
               name);
        return;
      }
    if (equals_nocase(name, "user-agent"))
      q->has_user_agent = 1;
    strings += nl + vl + 2;
  }
  size_t n = o->num_headers;
  char **block = malloc(2 * n * sizeof(char *) + strings);
  if (block == NULL) {
    refuse(q, UV_ENOMEM, "out of memory copying the request headers");
    return;
  }
  q->hnames = block;
  q->hvalues = block + n;
  char *s = (char *)(block + 2 * n);
  for (size_t i = 0; i < n; i++) {
    size_t nl = strlen(o->headers[i].name) + 1;
    size_t vl = strlen(o->headers[i].value) + 1;
    memcpy(s, o->headers[i].name, nl);
    q->hnames[i] = s;
    s += nl;
    memcpy(s, o->headers[i].value, vl);
    q->hvalues[i] = s;
    s += vl;
  }
  q->nheaders = n;
}

static void prepare(hreq_t *q, const eddy_http_client_req_t *o) {
  eddy_http_client_t *c = q->client;
  const char *method = o->method != NULL ? o->method : "GET";
  size_t ml = strlen(method);
  if (ml == 0 || ml > METHOD_MAX) {
    refuse(q, UV_EINVAL, "bad method length");
    return;
  }
  for (size_t i = 0; i < ml; i++)
    if (!eddy__http_is_tchar((unsigned char)method[i])) {
      refuse(q, UV_EINVAL, "method \"%.32s\" is not a token", method);
      return;
    }
  if (strcmp(method, "CONNECT") == 0) {
    refuse(q, UV_EINVAL, "CONNECT is not supported");
    return;
  }
  memcpy(q->method, method, ml + 1);
  if (o->url == NULL) {
    refuse(q, UV_EINVAL, "bad URL: no URL given");
    return;
  }
  char *text = strdup(o->url);
  if (text == NULL) {
    refuse(q, UV_ENOMEM, "out of memory");
    return;
  }
  char why[200];
  int rc = set_url(q, text, why, sizeof(why));
  if (rc < 0) {
    refuse(q, rc, "%s", why);
    return;
  }
  if (q->url.scheme != EDDY_URL_HTTP) {
    refuse(q, UV_EINVAL, "bad URL: %s:// is not an HTTP URL",
           eddy_url_scheme_name(q->url.scheme));
    return;
  }
  copy_headers(q, o);
  if (q->init_err < 0)
    return;
  if (o->body_len > EDDY_HTTP_CLIENT_MAX_REQUEST_BODY) {
    refuse(q, UV_EINVAL, "request body larger than %zu bytes",
           EDDY_HTTP_CLIENT_MAX_REQUEST_BODY);
    return;
  }
  if (o->body_len > 0) {
    if (o->body == NULL) {
      refuse(q, UV_EINVAL, "body missing (body_len > 0)");
      return;
    }
    q->body = malloc(o->body_len);
    if (q->body == NULL) {
      refuse(q, UV_ENOMEM, "out of memory copying the body");
      return;
    }
    memcpy(q->body, o->body, o->body_len);
    q->body_len = o->body_len;
  }
  q->hdr_cap = c->cfg.limits.max_headers;
  q->hdrs = calloc(q->hdr_cap, sizeof(*q->hdrs));
  if (q->hdrs == NULL) {
    refuse(q, UV_ENOMEM, "out of memory");
    return;
  }
  rc = build_out(q);
  if (rc == UV_E2BIG)
    refuse(q, rc, "request head larger than %u bytes",
           EDDY_HTTP_CLIENT_MAX_REQUEST_HEAD);
  else if (rc < 0)
    refuse(q, rc, "cannot build the request: %s", eddy_strerror(rc));
}

eddy_deferred_t *eddy_http_client_request(eddy_http_client_t *c,
                                          const eddy_http_client_req_t *o) {
  if (c == NULL || o == NULL)
    return NULL;
  hreq_t *q = calloc(1, sizeof(*q));
  if (q == NULL)
    return NULL;
  q->d = eddy_deferred_new_cancellable(c->reactor, cancel_req, q);
  if (q->d == NULL) {
    free(q);
    return NULL;
  }
  eddy_deferred_t *d = q->d;
  q->client = c;
  q->wait.ready = ready;
  q->wait.owner = q;
  eddy_buf_init(&q->out, EDDY_HTTP_CLIENT_MAX_REQUEST_HEAD +
                             EDDY_HTTP_CLIENT_MAX_REQUEST_BODY);
  eddy_buf_init(&q->in, c->cfg.limits.max_head);
  eddy_buf_init(&q->rbody, c->cfg.limits.max_body);
  eddy_buf_init(&q->held, HELD_MAX);
  eddy_timer_init(c->reactor, &q->timer);
  q->timer.data = q;
  eddy_timer_init(c->reactor, &q->total);
  q->total.data = q;
  q->max_redirects = o->max_redirects;
  q->response_timeout =
      pick(o->response_timeout_ms, c->cfg.response_timeout_ms);
  q->read_timeout = pick(o->read_timeout_ms, c->cfg.read_timeout_ms);
  q->request_timeout = pick(o->request_timeout_ms, c->cfg.request_timeout_ms);
  q->on_head = o->on_head;
  q->on_body = o->on_body;
  q->arg = o->arg;
  q->next = c->reqs;
  if (c->reqs != NULL)
    c->reqs->prev = q;
  c->reqs = q;
  c->nreqs++;
  c->requests_total++;
  if (c->closing)
    refuse(q, UV_ECANCELED, "client closed");
  else if (c->nreqs > c->cfg.max_requests)
    refuse(q, UV_ENOBUFS, "too many requests in flight (limit %zu)",
           c->cfg.max_requests);
  else
    prepare(q, o);
  eddy__reactor_soon(c->reactor, &q->start_soon, start_cb, q);
  return d;
}

eddy_deferred_t *eddy_http_get(eddy_http_client_t *c, const char *url) {
  eddy_http_client_req_t o;
  memset(&o, 0, sizeof(o));
  o.url = url;
  return eddy_http_client_request(c, &o);
}

/* ---- The client
 * ------------------------------------------------------------------------ */

int eddy_http_client_new(eddy_reactor_t *r,
                         const eddy_http_client_config_t *cfg,
                         eddy_http_client_t **out) {
  if (r == NULL || out == NULL)
    return UV_EINVAL;
  eddy_http_client_config_t zero;
  memset(&zero, 0, sizeof(zero));
  if (cfg == NULL)
    cfg = &zero;
  if (cfg->connect_timeout_ms > UINT64_C(86400000))
    return UV_EINVAL; /* what an endpoint accepts */
  eddy_http_client_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return UV_ENOMEM;
  c->reactor = r;
  c->cfg = *cfg;
  eddy__http_limits_fill(&c->cfg.limits, &cfg->limits);
  c->cfg.max_per_host =
      pick(cfg->max_per_host, EDDY_HTTP_CLIENT_MAX_PER_HOST_DEFAULT);
  c->cfg.max_queue_per_host =
      pick(cfg->max_queue_per_host, EDDY_HTTP_CLIENT_MAX_QUEUE_DEFAULT);
  c->cfg.max_idle = pick(cfg->max_idle, EDDY_HTTP_CLIENT_MAX_IDLE_DEFAULT);
  c->cfg.max_requests =
      pick(cfg->max_requests, EDDY_HTTP_CLIENT_MAX_REQUESTS_DEFAULT);
  c->cfg.connect_timeout_ms =
      pick(cfg->connect_timeout_ms, EDDY_HTTP_CLIENT_CONNECT_TIMEOUT_DEFAULT);
  c->cfg.response_timeout_ms =
      pick(cfg->response_timeout_ms, EDDY_HTTP_CLIENT_RESPONSE_TIMEOUT_DEFAULT);
  c->cfg.read_timeout_ms =
      pick(cfg->read_timeout_ms, EDDY_HTTP_CLIENT_READ_TIMEOUT_DEFAULT);
  c->cfg.pool_idle_timeout_ms = pick(
      cfg->pool_idle_timeout_ms, EDDY_HTTP_CLIENT_POOL_IDLE_TIMEOUT_DEFAULT);
  const char *ua = cfg->user_agent;
  c->cfg.user_agent = NULL;
  if (ua == NULL)
    ua = "eddy/" EDDY_VERSION_STRING;
  if (ua[0] != '\0') {
    for (const char *s = ua; *s != '\0'; s++)
      if (!eddy__http_is_vchar_ws((unsigned char)*s)) {
        free(c);
        return UV_EINVAL;
      }
    c->user_agent = strdup(ua);
    if (c->user_agent == NULL) {
      free(c);
      return UV_ENOMEM;
    }
  }
  int rc = eddy__hpool_new(r, &c->cfg, &c->pool);
  if (rc < 0) {
    free(c->user_agent);
    free(c);
    return rc;
  }
  *out = c;
  return 0;
}

static void client_maybe_done(eddy_http_client_t *c) {
  if (!c->pool_done || c->nreqs > 0)
    return;
  eddy_call_cb done = c->done;
  void *arg = c->done_arg;
  free(c->user_agent);
  free(c);
  if (done != NULL)
    done(arg);
}

static void pool_closed(void *arg) {
  eddy_http_client_t *c = arg;
  c->pool = NULL;
  c->pool_done = 1;
  client_maybe_done(c);
}

static void close_cb(void *arg) {
  eddy_http_client_t *c = arg;
  /* Failing a request runs user callbacks, which may finish others: look
   * for the next unfinished one from the start each time. */
  for (;;) {
    hreq_t *q = c->reqs;
    while (q != NULL && q->finished)
      q = q->next;
    if (q == NULL)
      break;
    fail(q, UV_ECANCELED, "client closed");
  }
  eddy__hpool_close(c->pool, pool_closed, c);
}

void eddy_http_client_close(eddy_http_client_t *c, eddy_call_cb done,
                            void *arg) {
  if (c == NULL || c->closing)
    return;
  c->closing = 1;
  c->done = done;
  c->done_arg = arg;
  eddy__reactor_soon(c->reactor, &c->soon, close_cb, c);
}

void eddy_http_client_stats(const eddy_http_client_t *c,
                            eddy_http_client_stats_t *out) {
  memset(out, 0, sizeof(*out));
  if (c->pool != NULL)
    eddy__hpool_stats(c->pool, out);
  out->requests_total = c->requests_total;
  out->retries = c->retries;
}
