/* client.c — the lock service's client (eddy/lock_client.h).
 *
 * One connection, one line receiver. The server answers strictly in request
 * order, so the requests in flight are a FIFO: every reply ends the oldest
 * one. Data lines (LOCK ...) belong to the reply being read; EVENT lines can
 * come between replies and belong to nobody.
 */
#include "eddy/lock_client.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/reactor_internal.h"
#include "eddy/endpoint.h"
#include "eddy/error.h"
#include "eddy/line.h"
#include "eddy/transport.h"

#define CLIENT_NAME_MAX 64
#define REPLY_LINE_MAX 4096
#define LIST_MAX 1000 /* the server lists at most this many */
#define PROTOCOL_WAIT_MAX UINT64_C(4294967295)

typedef enum {
  REQ_HELLO,
  REQ_ACQUIRE,
  REQ_RELEASE,
  REQ_REFRESH,
  REQ_LIST,
  REQ_RESET
} req_kind_t;

typedef struct request_s request_t;
struct request_s {
  request_t *next;
  req_kind_t kind;
  eddy_deferred_t *d;       /* referenced; NULL for the client's own releases */
  int abandoned;            /* an acquire cancelled while waiting */
  eddy_lock_grant_t *grant; /* acquire: filled in as asked */
  eddy_lock_infos_t *infos; /* list: grows with the LOCK lines */
  size_t cap;               /* items infos has room for */
  int oom;                  /* a LOCK line could not be kept */
  /* local failures, fired on the next iteration */
  eddy__soon_t soon;
  int err;
  char msg[160];
};

struct eddy_lock_client_s {
  eddy_line_receiver_t lr; /* first: the client is the protocol */
  eddy_factory_t factory;
  eddy_reactor_t *r;
  eddy_deferred_t *conn_d;    /* eddy_connect's, until it fires */
  eddy_deferred_t *connect_d; /* the user's, referenced until settled */
  request_t *head, *tail;
  size_t pending;
  char client_name[CLIENT_NAME_MAX + 1];
  uint64_t id;
  int built;      /* the connection exists (destroy will run) */
  int handed_out; /* the user has the client: it must call close */
  int lost;       /* connection lost or closing */
  int gone;       /* destroy ran: only the struct is left */
  int close_called;
  eddy_lock_lost_cb lost_cb;
  void *lost_arg;
  eddy_call_cb close_cb;
  void *close_arg;
  eddy__soon_t free_soon;
};

/* ---- Small helpers ----------------------------------------------------- */

void eddy_lock_opts_init(eddy_lock_opts_t *o) {
  memset(o, 0, sizeof(*o));
  o->timeout_ms = EDDY_LOCK_WAIT_FOREVER;
}

void eddy_lock_grant_free(void *grant) {
  free(grant);
}

void eddy_lock_infos_free(void *infos) {
  free(infos);
}

/* Names as the protocol takes them: 1..max bytes of 0x21-0x7e or 0x80-0xff. */
static int valid_name(const char *s, size_t max) {
  if (s == NULL)
    return 0;
  size_t n = strlen(s);
  if (n == 0 || n > max)
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch <= 0x20 || ch == 0x7f)
      return 0;
  }
  return 1;
}

static void request_free(request_t *q) {
  if (q->d != NULL)
    eddy_deferred_unref(q->d);
  free(q->grant);
  free(q->infos);
  free(q);
}

static void local_fail_cb(void *arg) {
  request_t *q = arg;
  eddy_deferred_errback(q->d, q->err, "%s", q->msg);
  request_free(q);
}

/* A deferred that fails on the next iteration: the failure of a request
 * that never left the client. */
static eddy_deferred_t *fail_soon(eddy_reactor_t *r, int err, const char *fmt,
                                  ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static eddy_deferred_t *fail_soon(eddy_reactor_t *r, int err, const char *fmt,
                                  ...) {
  request_t *q = calloc(1, sizeof(*q));
  if (q == NULL)
    return NULL;
  q->d = eddy_deferred_new(r);
  if (q->d == NULL) {
    free(q);
    return NULL;
  }
  eddy_deferred_ref(q->d);
  q->err = err;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(q->msg, sizeof(q->msg), fmt, ap);
  va_end(ap);
  eddy__reactor_soon(r, &q->soon, local_fail_cb, q);
  return q->d;
}

static int parse_u64(const char *s, size_t len, uint64_t *out) {
  if (len == 0 || len > 20)
    return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    uint64_t d = (uint64_t)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10)
      return -1;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

/* Splits line into at most max words (separated by spaces or tabs); words
 * beyond max are ignored. */
static size_t split(const char *line, size_t len, const char **w, size_t *wl,
                    size_t max) {
  size_t n = 0, i = 0;
  while (n < max) {
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
      i++;
    if (i == len)
      break;
    size_t start = i;
    while (i < len && line[i] != ' ' && line[i] != '\t')
      i++;
    w[n] = line + start;
    wl[n] = i - start;
    n++;
  }
  return n;
}

static int word_is(const char *w, size_t wl, const char *s) {
  return strlen(s) == wl && memcmp(w, s, wl) == 0;
}

static const struct {
  const char *code;
  int err;
} err_codes[] = {
    {"timeout", UV_ETIMEDOUT},  {"busy", UV_EBUSY},
    {"held", UV_EEXIST},        {"not_held", UV_ENOENT},
    {"bad_request", UV_EINVAL}, {"too_long", UV_EINVAL},
    {"limit", UV_ENOBUFS},      {"reset", UV_ECANCELED},
    {"denied", UV_EACCES},      {"shutdown", UV_ESHUTDOWN},
};

static int map_code(const char *w, size_t wl) {
  for (size_t i = 0; i < sizeof(err_codes) / sizeof(err_codes[0]); i++)
    if (word_is(w, wl, err_codes[i].code))
      return err_codes[i].err;
  return UV_EPROTO;
}

/* ---- Sending ------------------------------------------------------------ */

static request_t *request_new(eddy_lock_client_t *c, req_kind_t kind,
                              int with_deferred, eddy_canceller_cb canceller) {
  request_t *q = calloc(1, sizeof(*q));
  if (q == NULL)
    return NULL;
  q->kind = kind;
  if (with_deferred) {
    q->d = canceller != NULL ? eddy_deferred_new_cancellable(c->r, canceller, q)
                             : eddy_deferred_new(c->r);
    if (q->d == NULL) {
      free(q);
      return NULL;
    }
    /* Kept alive until its reply: a cancelled deferred is still fired (and
     * the fire ignored) when the reply comes. */
    eddy_deferred_ref(q->d);
  }
  return q;
}

/* Replies come back in request order, so q waits at the tail. */
static void enqueue(eddy_lock_client_t *c, request_t *q) {
  if (c->tail != NULL)
    c->tail->next = q;
  else
    c->head = q;
  c->tail = q;
  c->pending++;
}

/* Writes the request line and queues q for its reply. On failure q is
 * freed (its deferred, never handed out, fired with the error first). */
static int send_request(eddy_lock_client_t *c, request_t *q, const char *line,
                        size_t len) {
  int rc = eddy_line_receiver_send_line(&c->lr, line, len);
  if (rc != 0) {
    if (q->d != NULL)
      eddy_deferred_errback(q->d, rc, "sending the request: %s",
                            eddy_strerror(rc));
    request_free(q);
    return rc;
  }
  enqueue(c, q);
  return 0;
}

/* What every user request checks before it is made. */
static eddy_deferred_t *refuse(eddy_lock_client_t *c) {
  if (c == NULL)
    return NULL;
  if (c->close_called || c->lost || c->gone)
    return fail_soon(c->r, UV_ENOTCONN, "the lock client is not connected");
  if (c->pending >= EDDY_LOCK_CLIENT_PENDING_MAX)
    return fail_soon(c->r, UV_ENOBUFS,
                     "too many requests in flight (at most %d)",
                     EDDY_LOCK_CLIENT_PENDING_MAX);
  return NULL;
}

/* Sends a request with its own deferred, which is returned; a failure to
 * send is delivered through it on the next iteration. */
static eddy_deferred_t *submit(eddy_lock_client_t *c, request_t *q,
                               const char *line, size_t len) {
  eddy_deferred_t *d = q->d;
  /* The deferred must not fire inside our caller's call: an immediate
   * write failure becomes a failure on the next iteration. */
  int rc = eddy_line_receiver_send_line(&c->lr, line, len);
  if (rc != 0) {
    q->err = rc;
    snprintf(q->msg, sizeof(q->msg), "sending the request: %s",
             eddy_strerror(rc));
    eddy__reactor_soon(c->r, &q->soon, local_fail_cb, q);
    return d;
  }
  enqueue(c, q);
  return d;
}

/* ---- Replies ------------------------------------------------------------ */

static void release_abandoned(eddy_lock_client_t *c, const char *name) {
  if (c->lost)
    return;
  request_t *q = request_new(c, REQ_RELEASE, 0, NULL);
  if (q == NULL) {
    /* Without memory for the release the only safe way to give the lock
     * back is to drop the connection. */
    eddy_transport_abort_connection(c->lr.protocol.transport);
    return;
  }
  char line[EDDY_LOCK_NAME_MAX + 16];
  int n = snprintf(line, sizeof(line), "release %s", name);
  if (send_request(c, q, line, (size_t)n) != 0)
    eddy_transport_abort_connection(c->lr.protocol.transport);
}

static void settle_connect(eddy_lock_client_t *c, int err, const char *msg) {
  eddy_deferred_t *d = c->connect_d;
  if (d == NULL)
    return;
  c->connect_d = NULL;
  if (err == 0) {
    c->handed_out = 1;
    eddy_deferred_callback(d, c, NULL);
  } else {
    eddy_deferred_errback(d, err, "%s", msg);
  }
  eddy_deferred_unref(d);
}

/* The reply that ends the oldest request: words after OK, or the error. */
static void finish_request(eddy_lock_client_t *c, request_t *q, int err,
                           const char *msg, const char **w, size_t *wl,
                           size_t nw) {
  eddy_deferred_t *d = q->d;
  uint64_t v = 0;
  if (err == 0) {
    switch (q->kind) {
    case REQ_HELLO:
      if (nw < 1 || parse_u64(w[0], wl[0], &c->id) != 0)
        err = UV_EPROTO;
      else
        settle_connect(c, 0, NULL);
      break;
    case REQ_ACQUIRE:
      if (nw < 1 || parse_u64(w[0], wl[0], &q->grant->token) != 0) {
        err = UV_EPROTO;
      } else if (q->abandoned) {
        release_abandoned(c, q->grant->name);
      } else {
        eddy_deferred_callback(d, q->grant, eddy_lock_grant_free);
        q->grant = NULL;
      }
      break;
    case REQ_RELEASE:
    case REQ_RESET:
      if (nw < 1 || parse_u64(w[0], wl[0], &v) != 0) {
        err = UV_EPROTO;
      } else if (d != NULL) {
        uint64_t *p = malloc(sizeof(*p));
        if (p == NULL) {
          err = UV_ENOMEM;
        } else {
          *p = v;
          eddy_deferred_callback(d, p, free);
        }
      }
      break;
    case REQ_REFRESH:
      eddy_deferred_callback(d, NULL, NULL);
      break;
    case REQ_LIST:
      if (nw < 2 || parse_u64(w[1], wl[1], &v) != 0) {
        err = UV_EPROTO;
      } else {
        if (q->infos == NULL && !q->oom)
          q->infos = calloc(1, sizeof(*q->infos));
        if (q->infos == NULL || q->oom) {
          err = UV_ENOMEM;
        } else {
          q->infos->total = v;
          eddy_deferred_callback(d, q->infos, eddy_lock_infos_free);
          q->infos = NULL;
        }
      }
      break;
    }
    if (err == UV_EPROTO)
      msg = "the server's reply could not be understood";
    else if (err == UV_ENOMEM)
      msg = "out of memory";
  }
  if (err != 0) {
    if (q->kind == REQ_HELLO) {
      settle_connect(c, err, msg);
      /* Never handed out: nobody else will close it. */
      eddy_transport_lose_connection(c->lr.protocol.transport);
    } else if (d != NULL)
      eddy_deferred_errback(d, err, "%s", msg);
  }
  request_free(q);
  if (err == UV_EPROTO && c->lr.protocol.transport != NULL)
    /* Out of step with the server: no later reply can be trusted. */
    eddy_transport_abort_connection(c->lr.protocol.transport);
}

static void list_line(request_t *q, const char **w, size_t *wl, size_t nw) {
  /* LOCK NAME STATE holders=H waiters=W */
  if (nw < 5 || wl[1] > EDDY_LOCK_NAME_MAX || q->oom ||
      (q->infos != NULL && q->infos->count >= LIST_MAX))
    return;
  if (q->infos == NULL || q->infos->count == q->cap) {
    size_t cap = q->cap == 0 ? 16 : q->cap * 2;
    if (cap > LIST_MAX)
      cap = LIST_MAX;
    eddy_lock_infos_t *grown =
        realloc(q->infos, sizeof(*grown) + cap * sizeof(grown->items[0]));
    if (grown == NULL) {
      q->oom = 1; /* the reply then fails with UV_ENOMEM */
      return;
    }
    if (q->infos == NULL)
      memset(grown, 0, sizeof(*grown));
    q->infos = grown;
    q->cap = cap;
  }
  eddy_lock_info_t *it = &q->infos->items[q->infos->count];
  memset(it, 0, sizeof(*it));
  memcpy(it->name, w[1], wl[1]);
  it->state = word_is(w[2], wl[2], "exclusive") ? EDDY_LOCK_EXCLUSIVE
              : word_is(w[2], wl[2], "shared")  ? EDDY_LOCK_SHARED
                                                : EDDY_LOCK_FREE;
  for (size_t i = 3; i < nw; i++) {
    if (wl[i] > 8 && memcmp(w[i], "holders=", 8) == 0)
      parse_u64(w[i] + 8, wl[i] - 8, &it->holders);
    else if (wl[i] > 8 && memcmp(w[i], "waiters=", 8) == 0)
      parse_u64(w[i] + 8, wl[i] - 8, &it->waiters);
  }
  q->infos->count++;
}

static void event_line(eddy_lock_client_t *c, const char **w, size_t *wl,
                       size_t nw) {
  /* EVENT lost NAME TOKEN REASON */
  uint64_t token;
  if (nw < 5 || !word_is(w[1], wl[1], "lost") || wl[2] > EDDY_LOCK_NAME_MAX ||
      parse_u64(w[3], wl[3], &token) != 0 || c->lost_cb == NULL)
    return;
  char name[EDDY_LOCK_NAME_MAX + 1];
  memcpy(name, w[2], wl[2]);
  name[wl[2]] = '\0';
  int reason = word_is(w[4], wl[4], "lease_expired") ? UV_ETIMEDOUT
               : word_is(w[4], wl[4], "reset")       ? UV_ECANCELED
                                                     : UV_EPROTO;
  c->lost_cb(c, name, token, reason, c->lost_arg);
}

static void line_received(eddy_line_receiver_t *lr, const char *line,
                          size_t len) {
  eddy_lock_client_t *c = (eddy_lock_client_t *)lr;
  if (len > 0 && line[len - 1] == '\r')
    len--;
  const char *w[8];
  size_t wl[8];
  size_t nw = split(line, len, w, wl, 8);
  if (nw == 0)
    return;
  if (word_is(w[0], wl[0], "EVENT")) {
    event_line(c, w, wl, nw);
    return;
  }
  request_t *q = c->head;
  if (q == NULL) {
    /* A reply to nothing: the client and server disagree. */
    eddy_transport_abort_connection(lr->protocol.transport);
    return;
  }
  if (word_is(w[0], wl[0], "OK") || word_is(w[0], wl[0], "ERR")) {
    c->head = q->next;
    if (c->head == NULL)
      c->tail = NULL;
    c->pending--;
    if (word_is(w[0], wl[0], "OK")) {
      finish_request(c, q, 0, NULL, w + 1, wl + 1, nw - 1);
    } else {
      /* ERR CODE TEXT: the message is "CODE TEXT". */
      int err = nw < 2 ? UV_EPROTO : map_code(w[1], wl[1]);
      char msg[REPLY_LINE_MAX];
      if (nw < 2)
        snprintf(msg, sizeof(msg), "malformed error reply");
      else
        snprintf(msg, sizeof(msg), "%.*s", (int)(len - (size_t)(w[1] - line)),
                 w[1]);
      finish_request(c, q, err, msg, NULL, NULL, 0);
    }
    return;
  }
  if (q->kind == REQ_LIST && word_is(w[0], wl[0], "LOCK"))
    list_line(q, w, wl, nw);
  /* Other data lines (a newer server's) are skipped. */
}

/* ---- The connection ------------------------------------------------------ */

static void connection_lost(eddy_protocol_t *p, int reason) {
  eddy_lock_client_t *c = (eddy_lock_client_t *)p;
  c->lost = 1;
  char msg[128];
  snprintf(msg, sizeof(msg), "connection to the lock service lost: %s",
           reason == 0 ? "closed" : eddy_strerror(reason));
  while (c->head != NULL) {
    request_t *q = c->head;
    c->head = q->next;
    c->pending--;
    if (q->kind == REQ_HELLO)
      settle_connect(c, reason < 0 ? reason : UV_ENOTCONN, msg);
    else if (q->d != NULL)
      eddy_deferred_errback(q->d, UV_ENOTCONN, "%s", msg);
    request_free(q);
  }
  c->tail = NULL;
  if (c->handed_out && !c->close_called && c->lost_cb != NULL)
    c->lost_cb(c, NULL, 0, reason, c->lost_arg);
}

static void client_free(eddy_lock_client_t *c) {
  eddy_call_cb cb = c->close_cb;
  void *arg = c->close_arg;
  eddy_line_receiver_cleanup(&c->lr);
  free(c);
  if (cb != NULL)
    cb(arg);
}

static void free_soon_cb(void *arg) {
  client_free(arg);
}

static void destroy(eddy_protocol_t *p) {
  eddy_lock_client_t *c = (eddy_lock_client_t *)p;
  c->gone = 1;
  /* The user may still hold the client; it is freed by close then. */
  if (!c->handed_out || c->close_called)
    client_free(c);
}

static const eddy_protocol_ops_t client_ops = {
    .data_received = eddy_line_receiver_data_received,
    .connection_lost = connection_lost,
    .destroy = destroy,
};

static void reply_too_long(eddy_line_receiver_t *lr, size_t len) {
  /* No reply of ours is this long: the stream cannot be trusted. */
  eddy_transport_abort_connection(lr->protocol.transport);
}

static const eddy_line_ops_t client_line_ops = {
    .line_received = line_received,
    .line_too_long = reply_too_long,
};

static eddy_protocol_t *build(eddy_factory_t *f, const eddy_addr_t *peer) {
  eddy_lock_client_t *c = f->data;
  c->built = 1;
  return &c->lr.protocol;
}

static void on_connected(eddy_result_t *res, void *arg) {
  eddy_lock_client_t *c = arg;
  c->conn_d = NULL;
  if (c->client_name[0] == '\0') {
    settle_connect(c, 0, NULL);
    return;
  }
  request_t *q = request_new(c, REQ_HELLO, 0, NULL);
  char line[CLIENT_NAME_MAX + 8];
  int n = snprintf(line, sizeof(line), "hello %s", c->client_name);
  if (q == NULL || send_request(c, q, line, (size_t)n) != 0) {
    /* Not handed out: destroy frees the client after the abort. */
    settle_connect(c, q == NULL ? UV_ENOMEM : UV_ENOTCONN, "cannot send hello");
    eddy_transport_abort_connection(c->lr.protocol.transport);
  }
}

static void on_connect_failed(eddy_result_t *res, void *arg) {
  eddy_lock_client_t *c = arg;
  c->conn_d = NULL;
  settle_connect(c, res->err, eddy_result_message(res));
  eddy_result_recover(res);
  /* No connection was made, so no destroy will free the client. */
  if (!c->built)
    client_free(c);
}

static void cancel_connect(eddy_deferred_t *d, void *arg) {
  eddy_lock_client_t *c = arg;
  if (c->conn_d != NULL) {
    /* Still connecting: the connect fails with UV_ECANCELED, which frees
     * the client through on_connect_failed. */
    eddy_deferred_cancel(c->conn_d);
  } else if (c->built && !c->lost && c->lr.protocol.transport != NULL) {
    /* Connected, waiting for hello's reply. */
    eddy_transport_abort_connection(c->lr.protocol.transport);
  }
}

eddy_deferred_t *eddy_lock_client_connect(eddy_reactor_t *r,
                                          const char *endpoint,
                                          const char *client_name) {
  if (r == NULL)
    return NULL;
  if (endpoint == NULL)
    return fail_soon(r, UV_EINVAL, "no endpoint");
  if (client_name != NULL && !valid_name(client_name, CLIENT_NAME_MAX))
    return fail_soon(r, UV_EINVAL,
                     "a client name is 1 to %d printable bytes without "
                     "spaces",
                     CLIENT_NAME_MAX);
  eddy_lock_client_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  c->r = r;
  if (client_name != NULL)
    snprintf(c->client_name, sizeof(c->client_name), "%s", client_name);
  eddy_line_receiver_init(&c->lr, &client_ops, &client_line_ops,
                          REPLY_LINE_MAX);
  eddy_line_receiver_set_delimiter(&c->lr, "\n", 1);
  c->factory.build_protocol = build;
  c->factory.data = c;
  c->connect_d = eddy_deferred_new_cancellable(r, cancel_connect, c);
  if (c->connect_d == NULL) {
    eddy_line_receiver_cleanup(&c->lr);
    free(c);
    return NULL;
  }
  eddy_deferred_ref(c->connect_d);
  eddy_deferred_t *user = c->connect_d;
  /* eddy_connect never fires before it returns, and reports bad endpoints
   * through the deferred. */
  c->conn_d = eddy_connect(r, endpoint, &c->factory);
  if (c->conn_d == NULL ||
      eddy_deferred_add_callbacks(c->conn_d, on_connected, on_connect_failed,
                                  c) != 0) {
    /* Out of memory; an unfired deferred must still fire, later. */
    if (c->conn_d != NULL)
      eddy_deferred_cancel(c->conn_d);
    c->conn_d = NULL;
    c->connect_d = NULL;
    eddy_deferred_unref(user);
    eddy_deferred_errback(user, UV_ENOMEM, "out of memory");
    eddy_line_receiver_cleanup(&c->lr);
    free(c);
    return user;
  }
  return user;
}

/* ---- Requests ------------------------------------------------------------ */

static void cancel_acquire(eddy_deferred_t *d, void *arg) {
  request_t *q = arg;
  /* The reply will still come: an OK is then released (release_abandoned).
   * The deferred fails with UV_ECANCELED now. */
  q->abandoned = 1;
}

eddy_deferred_t *eddy_lock_acquire(eddy_lock_client_t *c, const char *name,
                                   const eddy_lock_opts_t *opts) {
  eddy_lock_opts_t defaults;
  if (opts == NULL) {
    eddy_lock_opts_init(&defaults);
    opts = &defaults;
  }
  eddy_deferred_t *no = refuse(c);
  if (no != NULL || c == NULL)
    return no;
  if (!valid_name(name, EDDY_LOCK_NAME_MAX))
    return fail_soon(c->r, UV_EINVAL,
                     "a lock name is 1 to %d printable bytes without spaces",
                     EDDY_LOCK_NAME_MAX);
  request_t *q = request_new(c, REQ_ACQUIRE, 1, cancel_acquire);
  if (q == NULL)
    return NULL;
  q->grant = calloc(1, sizeof(*q->grant));
  if (q->grant == NULL) {
    q->err = UV_ENOMEM;
    snprintf(q->msg, sizeof(q->msg), "out of memory");
    eddy_deferred_t *d = q->d;
    eddy__reactor_soon(c->r, &q->soon, local_fail_cb, q);
    return d;
  }
  snprintf(q->grant->name, sizeof(q->grant->name), "%s", name);
  q->grant->shared = opts->shared != 0;
  char line[EDDY_LOCK_NAME_MAX + 128];
  int n = snprintf(line, sizeof(line), "acquire %s %s%s", name,
                   opts->shared ? "shared" : "exclusive",
                   opts->reentrant ? " reentrant" : "");
  if (opts->timeout_ms == 0)
    n += snprintf(line + n, sizeof(line) - (size_t)n, " try");
  else if (opts->timeout_ms <= PROTOCOL_WAIT_MAX)
    n += snprintf(line + n, sizeof(line) - (size_t)n, " wait=%" PRIu64,
                  opts->timeout_ms);
  if (opts->lease_ms > 0)
    n += snprintf(line + n, sizeof(line) - (size_t)n, " lease=%" PRIu64,
                  opts->lease_ms);
  return submit(c, q, line, (size_t)n);
}

static eddy_deferred_t *simple_request(eddy_lock_client_t *c, req_kind_t kind,
                                       const char *line, size_t len) {
  request_t *q = request_new(c, kind, 1, NULL);
  if (q == NULL)
    return NULL;
  return submit(c, q, line, len);
}

eddy_deferred_t *eddy_lock_release(eddy_lock_client_t *c, const char *name) {
  eddy_deferred_t *no = refuse(c);
  if (no != NULL || c == NULL)
    return no;
  if (!valid_name(name, EDDY_LOCK_NAME_MAX))
    return fail_soon(c->r, UV_EINVAL, "bad lock name");
  char line[EDDY_LOCK_NAME_MAX + 16];
  int n = snprintf(line, sizeof(line), "release %s", name);
  return simple_request(c, REQ_RELEASE, line, (size_t)n);
}

eddy_deferred_t *eddy_lock_refresh(eddy_lock_client_t *c, const char *name,
                                   uint64_t lease_ms) {
  eddy_deferred_t *no = refuse(c);
  if (no != NULL || c == NULL)
    return no;
  if (!valid_name(name, EDDY_LOCK_NAME_MAX))
    return fail_soon(c->r, UV_EINVAL, "bad lock name");
  char line[EDDY_LOCK_NAME_MAX + 48];
  int n;
  if (lease_ms > 0)
    n = snprintf(line, sizeof(line), "refresh %s lease=%" PRIu64, name,
                 lease_ms);
  else
    n = snprintf(line, sizeof(line), "refresh %s", name);
  return simple_request(c, REQ_REFRESH, line, (size_t)n);
}

eddy_deferred_t *eddy_lock_list(eddy_lock_client_t *c, const char *prefix) {
  eddy_deferred_t *no = refuse(c);
  if (no != NULL || c == NULL)
    return no;
  if (prefix != NULL && prefix[0] != '\0' &&
      !valid_name(prefix, EDDY_LOCK_NAME_MAX))
    return fail_soon(c->r, UV_EINVAL, "bad lock name prefix");
  char line[EDDY_LOCK_NAME_MAX + 16];
  int n = prefix != NULL && prefix[0] != '\0'
              ? snprintf(line, sizeof(line), "list %s", prefix)
              : snprintf(line, sizeof(line), "list");
  return simple_request(c, REQ_LIST, line, (size_t)n);
}

eddy_deferred_t *eddy_lock_reset(eddy_lock_client_t *c, const char *token) {
  eddy_deferred_t *no = refuse(c);
  if (no != NULL || c == NULL)
    return no;
  if (token != NULL && !valid_name(token, 256))
    return fail_soon(c->r, UV_EINVAL, "bad admin token");
  char line[300];
  int n = token != NULL ? snprintf(line, sizeof(line), "reset %s", token)
                        : snprintf(line, sizeof(line), "reset");
  return simple_request(c, REQ_RESET, line, (size_t)n);
}

void eddy_lock_client_close(eddy_lock_client_t *c, eddy_call_cb cb, void *arg) {
  if (c == NULL || c->close_called)
    return;
  c->close_called = 1;
  c->close_cb = cb;
  c->close_arg = arg;
  if (c->gone) {
    /* The connection is already gone: free on the next iteration, so cb
     * is not called from inside this call. */
    eddy__reactor_soon(c->r, &c->free_soon, free_soon_cb, c);
    return;
  }
  c->lost = 1;
  /* destroy frees the client once connection_lost has failed what is left. */
  eddy_transport_lose_connection(c->lr.protocol.transport);
}

int eddy_lock_client_lost(const eddy_lock_client_t *c) {
  return c == NULL || c->lost || c->gone;
}

uint64_t eddy_lock_client_id(const eddy_lock_client_t *c) {
  return c != NULL ? c->id : 0;
}

void eddy_lock_client_on_lost(eddy_lock_client_t *c, eddy_lock_lost_cb cb,
                              void *arg) {
  if (c == NULL)
    return;
  c->lost_cb = cb;
  c->lost_arg = arg;
}
