/* server.c — the lock protocol over eddy_line_receiver_t.
 *
 * Each connection is one owner of the lock table. Requests run as soon as
 * they are read; replies leave strictly in request order, so a reply that
 * waits for a grant holds back the ones after it in a per-connection queue
 * (docs/protocol/locks.md). Replies are written at once when nothing is
 * ahead of them, which is the common case and allocates nothing. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/reactor_internal.h"
#include "eddy/buffer.h"
#include "eddy/error.h"
#include "eddy/line.h"
#include "eddy/locks.h"
#include "eddy/log.h"
#include "eddy/transport.h"
#include "locks/inspect_internal.h"
#include "locks/request_internal.h"
#include "locks/table_internal.h"

/* Unanswered requests one connection may have; bounds the reply queue. */
#define PENDING_MAX 1024
#define LIST_MAX 1000
/* The longest multi-line reply (inspect of a lock with many waiters). */
#define REPLY_MAX ((size_t)64u * 1024u * 1024u)
/* Gathered replies in one batch, and the buffer size kept between them. */
#define OUT_MAX ((size_t)1024u * 1024u)
#define OUT_KEEP ((size_t)16u * 1024u)
#define ERR_MEMORY "ERR limit out of memory\r\n"

typedef struct conn_s conn_t;

/* A reply not yet sent because one before it waits for a grant. */
typedef struct reply_s {
  struct reply_s *next;
  char *text; /* with its "\r\n"; NULL while waiting */
  size_t len;
  int waiting;
  int quit; /* close the connection once this is sent */
} reply_t;

struct conn_s {
  eddy_line_receiver_t lr; /* first: the protocol pointer is ours */
  eddy_locks_t *svc;
  conn_t *prev, *next;
  eddy__lk_owner_t owner;
  reply_t *head, *tail;
  size_t pending;
  reply_t *spare; /* kept for the next wait, so queuing one cannot fail */
  eddy_buf_t out; /* replies gathered while corked */
  int corked;     /* inside data_received */
  int quitting;   /* quit read (or closing): ignore further lines */
  int rejected;   /* over max_connections */
};

struct eddy_locks_s {
  eddy_reactor_t *reactor;
  eddy_locks_opts_t opts;
  char *admin_token;
  eddy__lk_table_t table;
  eddy_factory_t factory;
  eddy_listener_t **listeners;
  size_t nlisteners;
  size_t listeners_open;
  conn_t *conns;
  size_t nconns; /* accepted ones */
  uint64_t next_id;
  int closing;
  int finishing;
  eddy_call_cb close_cb;
  void *close_arg;
  eddy__soon_t soon;
};

void eddy_locks_opts_init(eddy_locks_opts_t *o) {
  memset(o, 0, sizeof(*o));
  o->max_name = 250;
  o->max_line = 1024;
  o->max_held_per_conn = 10000;
  o->max_waits_per_conn = 1000;
  o->max_locks = 1000000;
  o->max_connections = 10000;
  o->max_lease_ms = 24u * 3600u * 1000u;
  o->admin_token = NULL;
}

/* ---- Replies ------------------------------------------------------------ */

static void out_flush(conn_t *c) {
  if (c->out.len == 0)
    return;
  eddy_transport_t *t = c->lr.protocol.transport;
  if (t != NULL)
    (void)eddy_transport_write(t, c->out.data, c->out.len);
  /* Keep a small buffer for the next batch, not a big one. */
  if (c->out.len > OUT_KEEP)
    eddy_buf_free(&c->out);
  else
    eddy_buf_clear(&c->out);
}

/* While a batch of requests is being read, replies gather in c->out and
 * leave in one write when the batch is done: a pipelining client costs one
 * system call per read, not one per reply. */
static void write_raw(conn_t *c, const char *text, size_t len) {
  if (c->corked && eddy_buf_append(&c->out, text, len) == 0)
    return;
  out_flush(c);
  eddy_transport_t *t = c->lr.protocol.transport;
  if (t != NULL)
    (void)eddy_transport_write(t, text, len);
}

/* Every close goes through here, so gathered replies leave first. */
static void lose(conn_t *c) {
  out_flush(c);
  if (c->lr.protocol.transport != NULL)
    eddy_transport_lose_connection(c->lr.protocol.transport);
}

static void flush(conn_t *c) {
  while (c->head != NULL && !c->head->waiting) {
    reply_t *r = c->head;
    c->head = r->next;
    if (c->head == NULL)
      c->tail = NULL;
    c->pending--;
    write_raw(c, r->text, r->len);
    int quit = r->quit;
    free(r->text);
    free(r);
    if (quit)
      lose(c);
  }
}

static void enqueue(conn_t *c, reply_t *r) {
  r->next = NULL;
  if (c->tail != NULL)
    c->tail->next = r;
  else
    c->head = r;
  c->tail = r;
  c->pending++;
}

/* Sends text now when nothing waits ahead of it, else queues a copy. */
static void reply_text(conn_t *c, const char *text, size_t len, int quit) {
  if (c->head == NULL) {
    write_raw(c, text, len);
    if (quit)
      lose(c);
    return;
  }
  reply_t *r = calloc(1, sizeof(*r));
  char *copy = malloc(len);
  if (r == NULL || copy == NULL) {
    /* Cannot keep the order any more: say so and close. */
    free(r);
    free(copy);
    write_raw(c, ERR_MEMORY, strlen(ERR_MEMORY));
    c->quitting = 1;
    lose(c);
    return;
  }
  memcpy(copy, text, len);
  r->text = copy;
  r->len = len;
  r->quit = quit;
  enqueue(c, r);
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 0)))
#endif
static char *
vformat(char *stack, size_t size, size_t *len, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(stack, size, fmt, ap);
  char *s = stack;
  if (n >= 0 && (size_t)n >= size) {
    s = malloc((size_t)n + 1);
    if (s != NULL)
      vsnprintf(s, (size_t)n + 1, fmt, ap2);
  }
  va_end(ap2);
  if (n < 0 || s == NULL)
    return NULL;
  *len = (size_t)n;
  return s;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
replyf(conn_t *c, const char *fmt, ...) {
  char stack[512];
  size_t len = 0;
  va_list ap;
  va_start(ap, fmt);
  char *s = vformat(stack, sizeof(stack), &len, fmt, ap);
  va_end(ap);
  if (s == NULL) {
    reply_text(c, ERR_MEMORY, strlen(ERR_MEMORY), 0);
    return;
  }
  reply_text(c, s, len, 0);
  if (s != stack)
    free(s);
}

/* Fills a waiting reply in place and sends what is now in order. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
answer_wait(eddy__lk_wait_t *w, const char *fmt, ...) {
  conn_t *c = w->owner->data;
  reply_t *r = w->data;
  char stack[512];
  size_t len = 0;
  va_list ap;
  va_start(ap, fmt);
  char *s = vformat(stack, sizeof(stack), &len, fmt, ap);
  va_end(ap);
  if (s == stack)
    s = len > 0 ? strndup(stack, len) : NULL;
  if (s == NULL) {
    s = strdup(ERR_MEMORY);
    len = s != NULL ? strlen(s) : 0;
  }
  r->text = s;
  r->len = len;
  r->waiting = 0;
  flush(c);
}

/* ---- Table events -------------------------------------------------------- */

static void on_granted(eddy__lk_wait_t *w, uint64_t token) {
  answer_wait(w, "OK %llu\r\n", (unsigned long long)token);
}

static void on_failed(eddy__lk_wait_t *w, eddy__lk_result_t why) {
  const eddy__lk_lock_t *l = w->lock;
  int n = (int)l->name_len;
  switch (why) {
  case EDDY__LK_TIMEOUT:
    answer_wait(w, "ERR timeout %.*s not granted within %llu ms\r\n", n,
                l->name, (unsigned long long)(w->deadline - w->since));
    break;
  case EDDY__LK_RESET:
    answer_wait(w, "ERR reset %.*s: every lock was reset by an admin\r\n", n,
                l->name);
    break;
  case EDDY__LK_SHUTDOWN:
    answer_wait(w, "ERR shutdown the lock service is closing\r\n");
    break;
  default:
    answer_wait(w, "%s", ERR_MEMORY);
    break;
  }
}

static void on_lost(eddy__lk_owner_t *o, const eddy__lk_lock_t *l,
                    uint64_t token, eddy__lk_result_t why) {
  conn_t *c = o->data;
  char stack[512];
  size_t len = 0;
  /* Events go out at once, between replies: they answer no request. */
  int n = snprintf(stack, sizeof(stack), "EVENT lost %.*s %llu %s\r\n",
                   (int)l->name_len, l->name, (unsigned long long)token,
                   why == EDDY__LK_LEASE ? "lease_expired" : "reset");
  if (n < 0)
    return;
  len = (size_t)n;
  if (len < sizeof(stack)) {
    write_raw(c, stack, len);
    return;
  }
  char *s = malloc(len + 1);
  if (s == NULL)
    return;
  snprintf(s, len + 1, "EVENT lost %.*s %llu %s\r\n", (int)l->name_len, l->name,
           (unsigned long long)token,
           why == EDDY__LK_LEASE ? "lease_expired" : "reset");
  write_raw(c, s, len);
  free(s);
}

static const eddy__lk_events_t events = {
    .granted = on_granted,
    .failed = on_failed,
    .lost = on_lost,
};

/* ---- Requests ------------------------------------------------------------ */

static void reply_result(conn_t *c, eddy__lk_result_t res, const char *name,
                         size_t len) {
  int n = (int)len;
  switch (res) {
  case EDDY__LK_BUSY:
    replyf(c, "ERR busy %.*s is held\r\n", n, name);
    break;
  case EDDY__LK_HELD:
    replyf(c,
           "ERR held %.*s is already held or waited for by this "
           "connection\r\n",
           n, name);
    break;
  case EDDY__LK_NOT_HELD:
    replyf(c, "ERR not_held %.*s is not held by this connection\r\n", n, name);
    break;
  case EDDY__LK_NO_LEASE:
    replyf(c, "ERR bad_request %.*s has no lease; give lease=MS\r\n", n, name);
    break;
  case EDDY__LK_LIMIT:
    replyf(c, "ERR limit too many locks held or waited for by this "
              "connection, or lock names alive\r\n");
    break;
  default:
    reply_text(c, ERR_MEMORY, strlen(ERR_MEMORY), 0);
    break;
  }
}

static void do_acquire(conn_t *c, const eddy__lk_request_t *q) {
  eddy_locks_t *svc = c->svc;
  if (q->lease_ms > svc->opts.max_lease_ms) {
    replyf(c, "ERR limit lease= is above the longest allowed, %llu ms\r\n",
           (unsigned long long)svc->opts.max_lease_ms);
    return;
  }
  if (c->spare == NULL && (c->spare = calloc(1, sizeof(reply_t))) == NULL) {
    reply_text(c, ERR_MEMORY, strlen(ERR_MEMORY), 0);
    return;
  }
  eddy__lk_acquire_t a = {
      .mode = q->shared ? EDDY__LK_SHARED : EDDY__LK_EXCL,
      .reentrant = q->reentrant,
      .wait_ms = q->wait_ms,
      .lease_ms = q->lease_ms,
  };
  uint64_t token = 0;
  eddy__lk_wait_t *w = NULL;
  eddy__lk_result_t res = eddy__lk_acquire(&svc->table, &c->owner, q->arg,
                                           q->arg_len, &a, &token, &w);
  if (res == EDDY__LK_OK) {
    replyf(c, "OK %llu\r\n", (unsigned long long)token);
  } else if (res == EDDY__LK_WAITING) {
    reply_t *r = c->spare;
    c->spare = NULL;
    memset(r, 0, sizeof(*r));
    r->waiting = 1;
    w->data = r;
    enqueue(c, r);
  } else {
    reply_result(c, res, q->arg, q->arg_len);
  }
}

static void send_buf(conn_t *c, eddy_buf_t *b, int ok) {
  if (ok && b->len > 0)
    reply_text(c, b->data, b->len, 0);
  else
    reply_text(c, ERR_MEMORY, strlen(ERR_MEMORY), 0);
  eddy_buf_free(b);
}

static void do_inspect(conn_t *c, const eddy__lk_request_t *q) {
  eddy_buf_t b;
  eddy_buf_init(&b, REPLY_MAX);
  int rc = eddy__lk_format_inspect(&b, &c->svc->table,
                                   eddy_reactor_now(c->svc->reactor), q->arg,
                                   q->arg_len);
  send_buf(c, &b, rc == 0);
}

static void do_list(conn_t *c, const eddy__lk_request_t *q) {
  eddy_buf_t b;
  eddy_buf_init(&b, REPLY_MAX);
  int rc = eddy__lk_format_list(&b, &c->svc->table, q->arg ? q->arg : "",
                                q->arg_len, LIST_MAX);
  send_buf(c, &b, rc == 0);
}

static void do_stats(conn_t *c) {
  eddy_locks_stats_t st;
  eddy_locks_stats(c->svc, &st);
  eddy_buf_t b;
  eddy_buf_init(&b, REPLY_MAX);
  send_buf(c, &b, eddy__lk_format_stats(&b, &st) == 0);
}

/* Compares without stopping at the first difference, so the time taken
 * does not tell how much of a guess was right. */
static int token_ok(const char *want, const char *got, size_t got_len) {
  size_t want_len = strlen(want);
  unsigned diff = want_len != got_len;
  for (size_t i = 0; i < got_len; i++)
    diff |= (unsigned char)got[i] ^ (unsigned char)want[i % (want_len + 1)];
  return diff == 0;
}

static void do_reset(conn_t *c, const eddy__lk_request_t *q) {
  eddy_locks_t *svc = c->svc;
  if (svc->admin_token != NULL &&
      (q->arg == NULL || !token_ok(svc->admin_token, q->arg, q->arg_len))) {
    eddy_log(EDDY_LOG_WARN, "locks_reset_denied", "conn=%llu",
             (unsigned long long)c->owner.id);
    replyf(c, "ERR denied reset needs the admin token\r\n");
    return;
  }
  size_t waits = svc->table.stats.waiters;
  size_t n = eddy__lk_reset(&svc->table);
  eddy_log(EDDY_LOG_WARN, "locks_reset", "conn=%llu grants=%zu waits=%zu",
           (unsigned long long)c->owner.id, n, waits);
  replyf(c, "OK %zu\r\n", n);
}

static void close_for_limit(conn_t *c) {
  static const char msg[] = "ERR limit too many unanswered requests\r\n";
  write_raw(c, msg, sizeof(msg) - 1);
  c->quitting = 1;
  eddy_log(EDDY_LOG_WARN, "locks_conn_limit", "conn=%llu pending=%zu",
           (unsigned long long)c->owner.id, c->pending);
  lose(c);
}

static void on_line(eddy_line_receiver_t *lr, const char *line, size_t len) {
  conn_t *c = (conn_t *)lr;
  if (c->quitting)
    return;
  size_t body = len > 0 && line[len - 1] == '\r' ? len - 1 : len;
  if (body > c->svc->opts.max_line) {
    if (c->pending >= PENDING_MAX)
      close_for_limit(c);
    else
      replyf(c, "ERR too_long request line longer than %zu bytes\r\n",
             c->svc->opts.max_line);
    return;
  }
  eddy__lk_request_t q;
  const char *err = NULL;
  int rc = eddy__lk_request_parse(line, len, c->svc->opts.max_name, &q, &err);
  if (rc == 0)
    return;
  if (c->pending >= PENDING_MAX) {
    close_for_limit(c);
    return;
  }
  if (rc < 0) {
    replyf(c, "ERR bad_request %s\r\n", err);
    return;
  }
  eddy_locks_t *svc = c->svc;
  uint64_t left = 0;
  eddy__lk_result_t res;
  switch (q.verb) {
  case EDDY__LK_V_HELLO:
    memcpy(c->owner.client, q.arg, q.arg_len);
    c->owner.client[q.arg_len] = '\0';
    if (eddy_log_get_level() <= EDDY_LOG_DEBUG) {
      char quoted[2 * EDDY__LK_CLIENT_MAX + 8];
      eddy_log(EDDY_LOG_DEBUG, "locks_hello", "conn=%llu client=%s",
               (unsigned long long)c->owner.id,
               eddy_log_quote(quoted, sizeof(quoted), c->owner.client));
    }
    replyf(c, "OK %llu\r\n", (unsigned long long)c->owner.id);
    break;
  case EDDY__LK_V_ACQUIRE:
    do_acquire(c, &q);
    break;
  case EDDY__LK_V_RELEASE:
    res = eddy__lk_release(&svc->table, &c->owner, q.arg, q.arg_len, &left);
    if (res == EDDY__LK_OK)
      replyf(c, "OK %llu\r\n", (unsigned long long)left);
    else
      reply_result(c, res, q.arg, q.arg_len);
    break;
  case EDDY__LK_V_REFRESH:
    if (q.lease_ms > svc->opts.max_lease_ms) {
      replyf(c, "ERR limit lease= is above the longest allowed, %llu ms\r\n",
             (unsigned long long)svc->opts.max_lease_ms);
      break;
    }
    res =
        eddy__lk_refresh(&svc->table, &c->owner, q.arg, q.arg_len, q.lease_ms);
    if (res == EDDY__LK_OK)
      replyf(c, "OK\r\n");
    else
      reply_result(c, res, q.arg, q.arg_len);
    break;
  case EDDY__LK_V_INSPECT:
    do_inspect(c, &q);
    break;
  case EDDY__LK_V_LIST:
    do_list(c, &q);
    break;
  case EDDY__LK_V_STATS:
    do_stats(c);
    break;
  case EDDY__LK_V_RESET:
    do_reset(c, &q);
    break;
  case EDDY__LK_V_PING:
    replyf(c, "OK pong\r\n");
    break;
  case EDDY__LK_V_QUIT:
    c->quitting = 1;
    reply_text(c, "OK bye\r\n", 8, 1);
    break;
  default:
    replyf(c, "ERR bad_request unknown command\r\n");
    break;
  }
}

static void on_too_long(eddy_line_receiver_t *lr, size_t len) {
  conn_t *c = (conn_t *)lr;
  (void)len;
  if (c->quitting)
    return;
  if (c->pending >= PENDING_MAX)
    close_for_limit(c);
  else
    replyf(c, "ERR too_long request line longer than %zu bytes\r\n",
           c->svc->opts.max_line);
}

/* ---- Connections --------------------------------------------------------- */

static void maybe_finish(eddy_locks_t *svc);

static void conn_made(eddy_protocol_t *p) {
  conn_t *c = (conn_t *)p;
  char peer[128] = "unknown";
  eddy_addr_t a;
  if (eddy_transport_get_peer(p->transport, &a) == 0)
    eddy_addr_format(&a, peer, sizeof(peer));
  if (c->rejected) {
    static const char msg[] = "ERR limit too many connections\r\n";
    eddy_log(EDDY_LOG_WARN, "locks_conn_refused", "peer=%s max=%zu", peer,
             c->svc->opts.max_connections);
    c->quitting = 1;
    write_raw(c, msg, sizeof(msg) - 1);
    lose(c);
    return;
  }
  eddy_log(EDDY_LOG_DEBUG, "locks_conn_open", "conn=%llu peer=%s",
           (unsigned long long)c->owner.id, peer);
}

static void conn_lost(eddy_protocol_t *p, int reason) {
  conn_t *c = (conn_t *)p;
  eddy_locks_t *svc = c->svc;
  if (!c->rejected) {
    eddy_log(EDDY_LOG_DEBUG, "locks_conn_close",
             "conn=%llu held=%zu waits=%zu reason=%s",
             (unsigned long long)c->owner.id, c->owner.nholds, c->owner.nwaits,
             reason == 0 ? "clean" : eddy_err_name(reason));
    svc->nconns--;
  }
  /* The waits' replies die with the queue; the table frees the waits. */
  eddy__lk_owner_drop(&svc->table, &c->owner);
  while (c->head != NULL) {
    reply_t *r = c->head;
    c->head = r->next;
    free(r->text);
    free(r);
  }
  c->tail = NULL;
  c->pending = 0;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    svc->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  c->quitting = 1;
}

static void conn_destroy(eddy_protocol_t *p) {
  conn_t *c = (conn_t *)p;
  eddy_locks_t *svc = c->svc;
  eddy_line_receiver_cleanup(&c->lr);
  eddy_buf_free(&c->out);
  free(c->spare);
  free(c);
  maybe_finish(svc);
}

/* A client that sends requests without reading the replies would make
 * the write queue grow without bound: stop reading its requests until it
 * catches up. */
static void conn_pause_writing(eddy_protocol_t *p) {
  eddy_transport_pause_reading(p->transport);
}

static void conn_resume_writing(eddy_protocol_t *p) {
  eddy_transport_resume_reading(p->transport);
}

static void conn_data_received(eddy_protocol_t *p, const char *data,
                               size_t len) {
  conn_t *c = (conn_t *)p;
  c->corked = 1;
  eddy_line_receiver_data_received(p, data, len);
  c->corked = 0;
  out_flush(c);
}

static const eddy_protocol_ops_t conn_ops = {
    .connection_made = conn_made,
    .data_received = conn_data_received,
    .connection_lost = conn_lost,
    .pause_writing = conn_pause_writing,
    .resume_writing = conn_resume_writing,
    .destroy = conn_destroy,
};

static const eddy_line_ops_t conn_line_ops = {
    .line_received = on_line,
    .line_too_long = on_too_long,
};

static eddy_protocol_t *build(eddy_factory_t *f, const eddy_addr_t *peer) {
  eddy_locks_t *svc = f->data;
  (void)peer;
  if (svc->closing)
    return NULL;
  conn_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  /* "\n" ends a line so hand-typed requests work; the "\r" of "\r\n" is
   * dropped by the parser, hence the one extra byte. */
  eddy_line_receiver_init(&c->lr, &conn_ops, &conn_line_ops,
                          svc->opts.max_line + 1);
  (void)eddy_line_receiver_set_delimiter(&c->lr, "\n", 1);
  c->svc = svc;
  eddy_buf_init(&c->out, OUT_MAX);
  eddy__lk_owner_init(&c->owner, ++svc->next_id, c);
  if (svc->nconns >= svc->opts.max_connections)
    c->rejected = 1;
  else
    svc->nconns++;
  c->next = svc->conns;
  if (svc->conns != NULL)
    svc->conns->prev = c;
  svc->conns = c;
  return &c->lr.protocol;
}

/* ---- The service --------------------------------------------------------- */

static double gauge_connections(void *arg) {
  return (double)((eddy_locks_t *)arg)->nconns;
}

static double gauge_held(void *arg) {
  return (double)((eddy_locks_t *)arg)->table.stats.holders;
}

static double gauge_waiting(void *arg) {
  return (double)((eddy_locks_t *)arg)->table.stats.waiters;
}

/* The live counts are read when the registry is rendered, so keeping them
 * costs nothing per request; totals and times are fed by the table. */
static void metrics_register(eddy_locks_t *svc, eddy_metrics_t *m) {
  eddy_metrics_gauge_fn(m, "eddy_locks_connections", NULL,
                        "Open lock service connections.", gauge_connections,
                        svc);
  eddy_metrics_gauge_fn(m, "eddy_locks_held", NULL,
                        "Lock grants held now (a reentrant grant once).",
                        gauge_held, svc);
  eddy_metrics_gauge_fn(m, "eddy_locks_waiting", NULL,
                        "Lock acquires waiting now.", gauge_waiting, svc);
  svc->table.metrics.grants = eddy_metrics_counter(
      m, "eddy_locks_grants_total", NULL, "Lock grants, reentrant ones too.");
  svc->table.metrics.timeouts =
      eddy_metrics_counter(m, "eddy_locks_timeouts_total", NULL,
                           "Lock acquires that timed out waiting.");
  svc->table.metrics.wait = eddy_metrics_histogram(
      m, "eddy_locks_wait_seconds", NULL,
      "Time from acquire to grant (0 when granted at once).", 1e6);
  svc->table.metrics.hold = eddy_metrics_histogram(
      m, "eddy_locks_hold_seconds", NULL,
      "Time from grant to release, disconnect, lease expiry or reset.", 1e6);
}

int eddy_locks_new(eddy_reactor_t *r, const eddy_locks_opts_t *o,
                   eddy_locks_t **out) {
  eddy_locks_opts_t def;
  if (r == NULL || out == NULL)
    return UV_EINVAL;
  if (o == NULL) {
    eddy_locks_opts_init(&def);
    o = &def;
  }
  if (o->max_name == 0 || o->max_line < 16 ||
      o->max_line > EDDY_LINE_BUFFER_MAX - 1 || o->max_held_per_conn == 0 ||
      o->max_locks == 0 || o->max_connections == 0)
    return UV_EINVAL;
  eddy_locks_t *svc = calloc(1, sizeof(*svc));
  if (svc == NULL)
    return UV_ENOMEM;
  svc->reactor = r;
  svc->opts = *o;
  if (o->admin_token != NULL) {
    svc->admin_token = strdup(o->admin_token);
    if (svc->admin_token == NULL) {
      free(svc);
      return UV_ENOMEM;
    }
  }
  svc->opts.admin_token = svc->admin_token;
  int rc = eddy__lk_table_init(&svc->table, r, &svc->opts, &events, svc);
  if (rc != 0) {
    free(svc->admin_token);
    free(svc);
    return rc;
  }
  svc->factory.build_protocol = build;
  svc->factory.data = svc;
  if (o->metrics != NULL)
    metrics_register(svc, o->metrics);
  *out = svc;
  return 0;
}

int eddy_locks_listen(eddy_locks_t *l, const char *endpoint,
                      eddy_listener_t **out) {
  if (l == NULL || endpoint == NULL || l->closing)
    return UV_EINVAL;
  eddy_listener_t **arr =
      realloc(l->listeners, (l->nlisteners + 1) * sizeof(*arr));
  if (arr == NULL)
    return UV_ENOMEM;
  l->listeners = arr;
  eddy_listener_t *ln = NULL;
  int rc = eddy_listen(l->reactor, endpoint, &l->factory, &ln);
  if (rc != 0)
    return rc;
  l->listeners[l->nlisteners++] = ln;
  l->listeners_open++;
  eddy_log(EDDY_LOG_INFO, "locks_listening", "endpoint=%s", endpoint);
  if (out != NULL)
    *out = ln;
  return 0;
}

static void finish(void *arg) {
  eddy_locks_t *svc = arg;
  eddy_call_cb cb = svc->close_cb;
  void *cb_arg = svc->close_arg;
  eddy_metrics_forget(svc->opts.metrics, svc);
  eddy__lk_table_cleanup(&svc->table);
  free(svc->listeners);
  free(svc->admin_token);
  free(svc);
  if (cb != NULL)
    cb(cb_arg);
}

static void maybe_finish(eddy_locks_t *svc) {
  if (!svc->closing || svc->finishing || svc->listeners_open != 0 ||
      svc->conns != NULL)
    return;
  svc->finishing = 1;
  /* Always a later tick: the caller of eddy_locks_close never sees cb run
   * from inside it. */
  eddy__reactor_soon(svc->reactor, &svc->soon, finish, svc);
}

static void listener_closed(void *arg) {
  eddy_locks_t *svc = arg;
  svc->listeners_open--;
  maybe_finish(svc);
}

void eddy_locks_close(eddy_locks_t *l, eddy_call_cb cb, void *arg) {
  if (l == NULL || l->closing)
    return;
  l->closing = 1;
  l->close_cb = cb;
  l->close_arg = arg;
  for (size_t i = 0; i < l->nlisteners; i++)
    eddy_listener_close(l->listeners[i], listener_closed, l);
  /* No one is left hanging: waits are answered before the connections
   * close, after the replies already due. */
  eddy__lk_fail_waits(&l->table, EDDY__LK_SHUTDOWN);
  for (conn_t *c = l->conns; c != NULL; c = c->next) {
    c->quitting = 1;
    lose(c);
  }
  maybe_finish(l);
}

void eddy_locks_stats(const eddy_locks_t *l, eddy_locks_stats_t *out) {
  *out = l->table.stats;
  out->connections = l->nconns;
}

eddy_factory_t *eddy_locks_factory(eddy_locks_t *l) {
  return &l->factory;
}

const eddy__lk_table_t *eddy__locks_table(const eddy_locks_t *l) {
  return l != NULL ? &l->table : NULL;
}
