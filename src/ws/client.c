/* client.c — eddy_ws_connect: TCP connect, the opening handshake, then the
 * connection protocol of connection.c.
 *
 * The eddy_ws_t is the transport's protocol from the start: until the 101
 * arrives its bytes go to the handshake code here, and the bytes after the
 * response head are the first frames. The deferred settles exactly once:
 * with the connection after on_open, or with the first failure (the TCP
 * connection is then aborted and no handler runs). */
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "eddy/endpoint.h"
#include "eddy/error.h"
#include "eddy/http_parser.h"
#include "eddy/transport.h"
#include "eddy/url.h"
#include "ws_internal.h"

#define MAX_RESPONSE_HEAD ((size_t)16u * 1024u)
#define MAX_RESPONSE_HEADERS 64

struct eddy__ws_client_s {
  eddy_ws_t *ws;
  eddy_factory_t factory;
  eddy_deferred_t *d;          /* ours; NULL once settled */
  eddy_deferred_t *connecting; /* eddy_connect's, until it settles */
  eddy_timer_t timer;
  eddy_buf_t req;
  eddy_buf_t resp;
  eddy_http_parser_t parser;
  char accept[EDDY_WS_ACCEPT_LEN + 1];
  char **protocols; /* offered, NULL-terminated copy */
  int offered_deflate;
  unsigned window_bits;
  int no_context_takeover;
  int built;     /* the ws is the transport's protocol */
  int timed_out; /* the handshake timer fired */
};

/* ---- Settling
 * ---------------------------------------------------------------- */

static void settle_fail(eddy__ws_client_t *c, int err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void settle_fail(eddy__ws_client_t *c, int err, const char *fmt, ...) {
  if (c->d == NULL)
    return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  eddy_deferred_t *d = c->d;
  c->d = NULL;
  eddy_timer_stop(&c->timer);
  eddy_deferred_errback(d, err, "%s", msg);
}

/* Fails the attempt and drops what exists of it. c may be freed on
 * return. */
static void give_up(eddy__ws_client_t *c, int err, const char *msg) {
  settle_fail(c, err, "%s", msg);
  if (c->built) {
    eddy_transport_t *t = c->ws->proto.transport;
    if (t != NULL && !c->ws->lost)
      eddy_transport_abort_connection(t); /* lost + destroy free the rest */
  } else if (c->connecting != NULL) {
    eddy_deferred_cancel(c->connecting); /* its errback frees the rest */
  }
}

void eddy__ws_client_free(eddy_ws_t *ws) {
  eddy__ws_client_t *c = ws->client;
  if (c == NULL)
    return;
  ws->client = NULL;
  eddy_timer_stop(&c->timer);
  eddy_buf_free(&c->req);
  eddy_buf_free(&c->resp);
  if (c->protocols != NULL) {
    for (size_t i = 0; c->protocols[i] != NULL; i++)
      free(c->protocols[i]);
    free(c->protocols);
  }
  free(c);
}

static void timeout_due(eddy_timer_t *t) {
  eddy__ws_client_t *c = t->data;
  c->timed_out = 1;
  give_up(c, UV_ETIMEDOUT, "WebSocket handshake timed out");
}

static void cancelled(eddy_deferred_t *d, void *arg) {
  (void)d;
  eddy__ws_client_t *c = arg;
  c->d = NULL; /* the deferred fails with UV_ECANCELED by itself */
  eddy_timer_stop(&c->timer);
  give_up(c, UV_ECANCELED, "cancelled");
}

/* ---- Connecting
 * ----------------------------------------------------------------- */

static eddy_protocol_t *build(eddy_factory_t *f, const eddy_addr_t *peer) {
  (void)peer;
  eddy__ws_client_t *c = f->data;
  if (c->built || c->d == NULL)
    return NULL;
  c->built = 1;
  return &c->ws->proto;
}

static void connect_ok(eddy_result_t *res, void *arg) {
  (void)res;
  eddy__ws_client_t *c = arg;
  c->connecting = NULL;
}

static void connect_failed(eddy_result_t *res, void *arg) {
  eddy__ws_client_t *c = arg;
  c->connecting = NULL;
  if (c->timed_out)
    settle_fail(c, UV_ETIMEDOUT, "%s", "WebSocket connect timed out");
  else
    settle_fail(c, res->err, "%s",
                res->msg != NULL ? res->msg : eddy_strerror(res->err));
  eddy_result_set(res, NULL, NULL); /* handled here */
  if (!c->built)
    eddy_ws_free_unconnected(c->ws); /* frees c too */
}

void eddy__ws_client_made(eddy_ws_t *ws) {
  eddy__ws_client_t *c = ws->client;
  int rc = eddy_transport_write(ws->proto.transport, c->req.data, c->req.len);
  eddy_buf_free(&c->req);
  if (rc != 0)
    give_up(c, rc, "could not send the WebSocket handshake");
}

void eddy__ws_client_lost(eddy_ws_t *ws, int reason) {
  eddy__ws_client_t *c = ws->client;
  if (c != NULL)
    settle_fail(c, reason != 0 ? reason : UV_ECONNRESET,
                "connection closed during the WebSocket handshake (%s)",
                reason != 0 ? eddy_strerror(reason) : "by the server");
}

/* ---- The response
 * ----------------------------------------------------------------- */

static size_t header_value(const eddy_http_msg_t *m, const char *name,
                           char *buf, size_t size) {
  size_t count = 0, nl = strlen(name);
  buf[0] = '\0';
  for (size_t i = 0; i < m->num_headers; i++) {
    const eddy_http_header_t *h = &m->headers[i];
    if (h->name.len != nl || strncasecmp(h->name.p, name, nl) != 0)
      continue;
    if (count++ == 0) {
      size_t n = h->value.len < size - 1 ? h->value.len : size - 1;
      memcpy(buf, h->value.p, n);
      buf[n] = '\0';
    }
  }
  return count;
}

/* Checks the head; 0 or UV_EPROTO with why filled. */
static int check_response(eddy__ws_client_t *c, const eddy_http_msg_t *m,
                          eddy_ws_deflate_params_t *pmd, int *has_pmd,
                          char *proto, size_t proto_size, char *why,
                          size_t why_size) {
  char v[512];
  if (m->status != 101) {
    snprintf(why, why_size, "the server answered %d %.*s instead of 101",
             m->status, (int)(m->reason.len < 100 ? m->reason.len : 100),
             m->reason.p);
    return UV_EPROTO;
  }
  if (header_value(m, "Upgrade", v, sizeof(v)) != 1 ||
      !eddy__ws_has_token(v, "websocket")) {
    snprintf(why, why_size, "101 without \"Upgrade: websocket\"");
    return UV_EPROTO;
  }
  if (header_value(m, "Connection", v, sizeof(v)) < 1 ||
      !eddy__ws_has_token(v, "upgrade")) {
    snprintf(why, why_size, "101 without \"Connection: Upgrade\"");
    return UV_EPROTO;
  }
  if (header_value(m, "Sec-WebSocket-Accept", v, sizeof(v)) != 1 ||
      strcmp(v, c->accept) != 0) {
    snprintf(why, why_size, "wrong or missing Sec-WebSocket-Accept");
    return UV_EPROTO;
  }
  size_t n = header_value(m, "Sec-WebSocket-Protocol", proto, proto_size);
  if (n > 1) {
    snprintf(why, why_size, "several Sec-WebSocket-Protocol answers");
    return UV_EPROTO;
  }
  if (n == 1) {
    int ok = 0;
    for (size_t i = 0; c->protocols != NULL && c->protocols[i] != NULL; i++)
      ok |= strcmp(c->protocols[i], proto) == 0;
    if (!ok) {
      snprintf(why, why_size, "the server chose a subprotocol not offered");
      return UV_EPROTO;
    }
  }
  *has_pmd = 0;
  n = header_value(m, "Sec-WebSocket-Extensions", v, sizeof(v));
  if (n > 0) {
    if (n > 1 || !c->offered_deflate ||
        eddy_ws_deflate_check_answer(v, c->window_bits, c->no_context_takeover,
                                     pmd) != 0) {
      snprintf(why, why_size, "the server answered an extension not offered");
      return UV_EPROTO;
    }
    *has_pmd = 1;
  }
  return 0;
}

int eddy__ws_client_data(eddy_ws_t *ws, const char *data, size_t len) {
  eddy__ws_client_t *c = ws->client;
  if (c == NULL || c->d == NULL)
    return -1; /* failing: ignore the rest */
  /* Frames may follow the head in the same read: take no more than the
   * head may hold, the rest is handed back. */
  size_t before = c->resp.len;
  size_t take =
      MAX_RESPONSE_HEAD - before < len ? MAX_RESPONSE_HEAD - before : len;
  if (eddy_buf_append(&c->resp, data, take) != 0) {
    give_up(c, UV_ENOMEM, "out of memory");
    return -1;
  }
  eddy_http_header_t headers[MAX_RESPONSE_HEADERS];
  eddy_http_msg_t m;
  int rc = eddy_http_parse(&c->parser, c->resp.data, c->resp.len, &m, headers,
                           MAX_RESPONSE_HEADERS);
  if (rc == EDDY_HTTP_NEED_MORE) {
    if (c->resp.len < MAX_RESPONSE_HEAD)
      return (int)take;
    rc = EDDY_HTTP_E_HEADERS_TOO_LARGE;
  }
  if (rc < 0) {
    char msg[160];
    snprintf(msg, sizeof(msg), "invalid WebSocket handshake response: %s",
             eddy_http_strerror(rc));
    give_up(c, UV_EPROTO, msg);
    return -1;
  }
  eddy_ws_deflate_params_t pmd;
  int has_pmd = 0;
  char proto[256], why[256];
  if (check_response(c, &m, &pmd, &has_pmd, proto, sizeof(proto), why,
                     sizeof(why)) != 0) {
    char msg[320];
    snprintf(msg, sizeof(msg), "WebSocket handshake failed: %s", why);
    give_up(c, UV_EPROTO, msg);
    return -1;
  }
  if (proto[0] != '\0' &&
      eddy__ws_set_subprotocol(ws, proto, strlen(proto)) != 0) {
    give_up(c, UV_ENOMEM, "out of memory");
    return -1;
  }
  size_t used = (size_t)rc - before; /* the rest of data is frames */
  eddy_deferred_t *d = c->d;
  c->d = NULL;
  eddy__ws_client_free(ws);
  eddy__ws_client_opened(ws, has_pmd ? &pmd : NULL);
  eddy_deferred_callback(d, ws, NULL);
  return (int)used;
}

/* ---- The request
 * ----------------------------------------------------------------- */

typedef struct {
  char host[EDDY_ENDPOINT_HOST_MAX];
  int v6;
  unsigned port;
  const char *target; /* "" means "/" */
} url_t;

/* The URL through eddy/url.h (one URL grammar for HTTP and WebSocket),
 * then what a WebSocket URL adds: ws only, no fragment (RFC 6455 3). */
static int parse_url(const char *url, url_t *u, char *why, size_t whylen) {
  eddy_url_t pu;
  eddy_url_error_t err;
  int rc = eddy_url_parse(url, strlen(url), 0, &pu, &err);
  if (rc != 0) {
    snprintf(why, whylen, "%s (at byte %zu)", err.message, err.pos);
    return rc;
  }
  if (pu.scheme != EDDY_URL_WS) {
    snprintf(why, whylen, "the URL must start with ws://");
    return EDDY_EPARSE;
  }
  if (pu.fragment.p != NULL) {
    snprintf(why, whylen, "a WebSocket URL has no fragment");
    return EDDY_EPARSE;
  }
  if (pu.port == 0) {
    snprintf(why, whylen, "bad port");
    return EDDY_EPARSE;
  }
  if (pu.host.len == 0 || pu.host.len >= sizeof(u->host)) {
    snprintf(why, whylen, "missing or too long host");
    return EDDY_EPARSE;
  }
  memcpy(u->host, pu.host.p, pu.host.len);
  u->host[pu.host.len] = '\0';
  u->v6 = pu.host_is_ipv6;
  u->port = pu.port;
  /* Path and query as written: from the path, or from the '?' when the
   * path is empty. */
  if (pu.path.len > 0)
    u->target = pu.path.p;
  else if (pu.query.p != NULL)
    u->target = pu.query.p - 1;
  else
    u->target = "";
  return 0;
}

static int build_request(eddy__ws_client_t *c, const url_t *u,
                         const eddy_ws_config_t *cfg) {
  uint8_t raw[16];
  char key[25];
  if (RAND_bytes(raw, sizeof(raw)) != 1)
    return UV_EIO;
  eddy__ws_base64(raw, sizeof(raw), key);
  int rc = eddy_ws_accept_key(key, c->accept);
  eddy_buf_t *b = &c->req;
  const char *t = u->target;
  if (rc == 0)
    rc = eddy_buf_printf(b, "GET %s%s HTTP/1.1\r\nHost: %s%s%s",
                         *t == '/' ? "" : "/", t, u->v6 ? "[" : "", u->host,
                         u->v6 ? "]" : "");
  if (rc == 0 && u->port != 80)
    rc = eddy_buf_printf(b, ":%u", u->port);
  if (rc == 0)
    rc = eddy_buf_printf(b,
                         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: %s\r\n"
                         "Sec-WebSocket-Version: 13\r\n",
                         key);
  if (rc == 0 && cfg->origin != NULL)
    rc = eddy_buf_printf(b, "Origin: %s\r\n", cfg->origin);
  if (rc == 0 && cfg->subprotocols != NULL && cfg->subprotocols[0] != NULL) {
    rc = eddy_buf_append_str(b, "Sec-WebSocket-Protocol: ");
    for (size_t i = 0; rc == 0 && cfg->subprotocols[i] != NULL; i++)
      rc = eddy_buf_printf(b, "%s%s", i > 0 ? ", " : "", cfg->subprotocols[i]);
    if (rc == 0)
      rc = eddy_buf_append_str(b, "\r\n");
  }
  if (rc == 0 && c->offered_deflate) {
    char offer[128];
    rc = eddy_ws_deflate_offer(c->window_bits, c->no_context_takeover, offer,
                               sizeof(offer));
    if (rc == 0)
      rc = eddy_buf_printf(b, "Sec-WebSocket-Extensions: %s\r\n", offer);
  }
  for (size_t i = 0; rc == 0 && cfg->headers != NULL && cfg->headers[i] != NULL;
       i++)
    rc = eddy_buf_printf(b, "%s\r\n", cfg->headers[i]);
  if (rc == 0)
    rc = eddy_buf_append_str(b, "\r\n");
  return rc;
}

static int copy_protocols(eddy__ws_client_t *c, const char *const *list) {
  if (list == NULL)
    return 0;
  size_t n = 0;
  while (list[n] != NULL)
    n++;
  c->protocols = calloc(n + 1, sizeof(char *));
  if (c->protocols == NULL)
    return UV_ENOMEM;
  for (size_t i = 0; i < n; i++)
    if ((c->protocols[i] = strdup(list[i])) == NULL)
      return UV_ENOMEM;
  return 0;
}

typedef struct {
  eddy_deferred_t *d;
  int err;
  char msg[160];
} early_t;

static void early_fail(void *arg) {
  early_t *e = arg;
  eddy_deferred_errback(e->d, e->err, "%s", e->msg);
  free(e);
}

/* Copies msg, cut to fit: snprintf's "%s" would do, but gcc -O3 flags the
 * (intended) truncation under -Werror=format-truncation. */
static void copy_msg(char *dst, size_t size, const char *msg) {
  size_t n = strlen(msg);
  if (n >= size)
    n = size - 1;
  memcpy(dst, msg, n);
  dst[n] = '\0';
}

/* A failure known inside eddy_ws_connect, delivered on the next
 * iteration. */
static eddy_deferred_t *fail_later(eddy_reactor_t *r, int err,
                                   const char *msg) {
  eddy_deferred_t *d = eddy_deferred_new(r);
  early_t *e = malloc(sizeof(*e));
  if (d == NULL || e == NULL ||
      (e->d = d, e->err = err, copy_msg(e->msg, sizeof(e->msg), msg),
       eddy_call_soon(r, early_fail, e)) != 0) {
    free(e);
    if (d != NULL)
      eddy_deferred_errback(d, err, "%s", msg); /* best effort */
    return d;
  }
  return d;
}

eddy_deferred_t *eddy_ws_connect(eddy_reactor_t *r, const char *url,
                                 const eddy_ws_config_t *cfg,
                                 const eddy_ws_handlers_t *handlers,
                                 void *arg) {
  if (r == NULL)
    return NULL;
  eddy_ws_config_t defaults;
  if (cfg == NULL) {
    memset(&defaults, 0, sizeof(defaults));
    cfg = &defaults;
  }
  if (url == NULL || handlers == NULL || eddy__ws_config_check(cfg) != 0)
    return fail_later(r, UV_EINVAL, "bad WebSocket client arguments");
  url_t u;
  char why[160];
  int rc = parse_url(url, &u, why, sizeof(why));
  if (rc != 0) {
    char msg[200];
    snprintf(msg, sizeof(msg), "bad WebSocket URL: %s", why);
    return fail_later(r, rc, msg);
  }
  eddy_ws_t *ws;
  rc = eddy__ws_create(r, EDDY_WS_CLIENT, cfg, handlers, arg, NULL, &ws);
  if (rc != 0)
    return fail_later(r, rc, "cannot create the WebSocket connection");
  eddy__ws_client_t *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    eddy_ws_free_unconnected(ws);
    return fail_later(r, UV_ENOMEM, "out of memory");
  }
  ws->client = c;
  c->ws = ws;
  c->factory.build_protocol = build;
  c->factory.data = c;
  c->offered_deflate = cfg->permessage_deflate;
  c->window_bits =
      cfg->deflate_window_bits != 0 ? cfg->deflate_window_bits : 15;
  c->no_context_takeover = cfg->deflate_request_no_context_takeover;
  eddy_buf_init(&c->req, MAX_RESPONSE_HEAD * 4);
  eddy_buf_init(&c->resp, MAX_RESPONSE_HEAD);
  eddy_http_limits_t limits = {0};
  limits.max_head = MAX_RESPONSE_HEAD;
  eddy_http_parser_init(&c->parser, EDDY_HTTP_RESPONSE, &limits);
  eddy_timer_init(r, &c->timer);
  c->timer.data = c;
  rc = copy_protocols(c, cfg->subprotocols);
  if (rc == 0)
    rc = build_request(c, &u, cfg);
  char ep[EDDY_ENDPOINT_HOST_MAX * 2 + 32];
  size_t at = (size_t)snprintf(ep, sizeof(ep), "tcp:");
  for (const char *h = u.host; *h != '\0'; h++) {
    if (*h == ':')
      ep[at++] = '\\';
    ep[at++] = *h;
  }
  snprintf(ep + at, sizeof(ep) - at, ":%u", u.port);
  if (rc != 0) {
    eddy_ws_free_unconnected(ws);
    return fail_later(r, rc, "cannot build the WebSocket handshake");
  }
  c->d = eddy_deferred_new_cancellable(r, cancelled, c);
  if (c->d == NULL) {
    eddy_ws_free_unconnected(ws);
    return NULL;
  }
  eddy_deferred_t *d = c->d;
  uint64_t timeout = cfg->handshake_timeout_ms != 0
                         ? cfg->handshake_timeout_ms
                         : EDDY_WS_HANDSHAKE_TIMEOUT_DEFAULT;
  if (timeout != EDDY_WS_NEVER)
    eddy_timer_start(&c->timer, timeout, timeout_due);
  c->connecting = eddy_connect(r, ep, &c->factory);
  if (c->connecting == NULL) {
    settle_fail(c, UV_ENOMEM, "%s", "out of memory");
    eddy_ws_free_unconnected(ws);
    return d;
  }
  eddy_deferred_add_callbacks(c->connecting, connect_ok, connect_failed, c);
  return d;
}
