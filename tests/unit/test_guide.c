/* test_guide.c — the code of docs/guide.md, compiled and tested.
 *
 * The counter service is examples/guide_counter.c itself, included below
 * with its main renamed, so these tests reach its static functions. The
 * guide's other code (the first server, the client, the deadline helper,
 * the reconnecting application) lives in this file. The last test checks
 * that every C block of the guide appears verbatim in one of the two files,
 * so the guide cannot drift from the code that is tested.
 */
#include "net_support.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int guide_counter_main(int argc, char **argv);
#define main guide_counter_main
#include "../../examples/guide_counter.c"
#undef main

/* ==== 1. A first server: the quote of the day ============================ */

/* Shared by every connection: the factory and what it hands out. */
typedef struct qotd_service_s {
  eddy_factory_t factory; /* factory.data points back here */
  eddy_listener_t *listener;
  const char *quote;
  unsigned long served;
} qotd_service_t;

/* One per connection. */
typedef struct qotd_conn_s {
  eddy_protocol_t protocol; /* first: a protocol pointer is a conn pointer */
  qotd_service_t *service;
} qotd_conn_t;

static void qotd_connection_made(eddy_protocol_t *p) {
  qotd_conn_t *c = (qotd_conn_t *)p;
  c->service->served++;
  eddy_transport_write_str(p->transport, c->service->quote);
  eddy_transport_write_str(p->transport, "\r\n");
  /* Closes once the quote is written; connection_lost comes later. */
  eddy_transport_lose_connection(p->transport);
}

static void qotd_connection_lost(eddy_protocol_t *p, int reason) {
  if (reason != 0)
    eddy_log(EDDY_LOG_WARN, "qotd.lost", "error=%s", eddy_err_name(reason));
}

/* The last callback: the protocol is ours to free. */
static void qotd_destroy(eddy_protocol_t *p) {
  free(p);
}

static const eddy_protocol_ops_t qotd_ops = {
    .connection_made = qotd_connection_made,
    .connection_lost = qotd_connection_lost,
    .destroy = qotd_destroy,
};

static eddy_protocol_t *qotd_build(eddy_factory_t *f, const eddy_addr_t *peer) {
  qotd_conn_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL; /* refuses this connection */
  eddy_protocol_init(&c->protocol, &qotd_ops);
  c->service = f->data;
  return &c->protocol;
}

/* Runs on the loop at the first SIGINT or SIGTERM. */
static void qotd_stop(void *arg) {
  qotd_service_t *svc = arg;
  /* Stop accepting. Connections in progress end by themselves; then
   * nothing is left to wait for, and eddy_reactor_run returns. */
  eddy_listener_close(svc->listener, NULL, NULL);
  svc->listener = NULL;
}

static int qotd_serve(eddy_reactor_t *r, qotd_service_t *svc,
                      const char *endpoint) {
  svc->factory.build_protocol = qotd_build;
  svc->factory.data = svc;
  int rc = eddy_listen(r, endpoint, &svc->factory, &svc->listener);
  if (rc != 0)
    return rc; /* a bad endpoint or a port in use, known at once */
  printf("quotes on port %d\n", eddy_listener_port(svc->listener));
  rc = eddy_stop_on_signals(r, qotd_stop, svc);
  if (rc != 0)
    qotd_stop(svc); /* the run below only finishes the closing */
  int run_rc = eddy_reactor_run(r);
  return rc != 0 ? rc : run_rc;
}

/* ==== 4. A client ========================================================= */

#define CLIENT_PIPELINE_MAX 64

typedef struct counter_client_s {
  eddy_line_receiver_t lr; /* first, as in the server */
  eddy_reactor_t *reactor;
  /* Requests sent and not answered yet, oldest first. The server answers
   * in order, so each line answers pending[head]. */
  eddy_deferred_t *pending[CLIENT_PIPELINE_MAX];
  size_t head, count;
} counter_client_t;

static eddy_deferred_t *client_pop(counter_client_t *c) {
  eddy_deferred_t *d = c->pending[c->head];
  c->head = (c->head + 1) % CLIENT_PIPELINE_MAX;
  c->count--;
  return d;
}

/* Sends `incr NAME`. The deferred fires with the new value, a uint64_t *
 * owned by the result; or fails with UV_EPROTO (the server said ERROR), the
 * error that broke the connection, UV_ENOTCONN, UV_ENOBUFS (too many
 * requests waiting) or UV_EINVAL (a bad name). NULL when out of memory. */
static eddy_deferred_t *client_incr(counter_client_t *c, const char *name) {
  eddy_transport_t *t = c->lr.protocol.transport;
  if (!valid_name(name, strlen(name)))
    return eddy_deferred_fail(c->reactor, UV_EINVAL, "bad name");
  if (t == NULL || eddy_transport_is_closing(t))
    return eddy_deferred_fail(c->reactor, UV_ENOTCONN, NULL);
  if (c->count == CLIENT_PIPELINE_MAX)
    return eddy_deferred_fail(c->reactor, UV_ENOBUFS, "%d requests waiting",
                              CLIENT_PIPELINE_MAX);
  eddy_deferred_t *d = eddy_deferred_new(c->reactor);
  if (d == NULL)
    return NULL;
  char line[COUNTER_LINE_MAX];
  int n = snprintf(line, sizeof(line), "incr %s", name);
  int rc = eddy_line_receiver_send_line(&c->lr, line, (size_t)n);
  if (rc != 0) {
    eddy_deferred_errback(d, rc, NULL);
    return d;
  }
  /* The queue keeps d until its answer, past this loop iteration: that
   * takes a reference (a cancelled d would be freed otherwise). */
  c->pending[(c->head + c->count) % CLIENT_PIPELINE_MAX] = eddy_deferred_ref(d);
  c->count++;
  return d;
}

static void client_line_received(eddy_line_receiver_t *lr, const char *line,
                                 size_t len) {
  counter_client_t *c = (counter_client_t *)lr;
  if (c->count == 0) {
    /* An answer to nothing: we are out of step with the server. */
    eddy_transport_abort_connection(lr->protocol.transport);
    return;
  }
  /* Off the queue before firing: d's callbacks may send more requests. */
  eddy_deferred_t *d = client_pop(c);
  uint64_t value;
  if (parse_u64(line, len, &value) != 0) {
    eddy_deferred_errback(d, UV_EPROTO, "server said: %.*s", (int)len, line);
  } else {
    uint64_t *v = malloc(sizeof(*v));
    if (v == NULL) {
      eddy_deferred_errback(d, UV_ENOMEM, NULL);
    } else {
      *v = value;
      eddy_deferred_callback(d, v, free); /* the result owns v now */
    }
  }
  /* A request cancelled meanwhile ignored that fire; either way, done. */
  eddy_deferred_unref(d);
}

static void client_connection_lost(eddy_protocol_t *p, int reason) {
  counter_client_t *c = (counter_client_t *)p;
  /* No answer can come now: fail whatever still waits for one. */
  while (c->count > 0) {
    eddy_deferred_t *d = client_pop(c);
    eddy_deferred_errback(d, reason < 0 ? reason : UV_EOF,
                          "connection closed before the answer");
    eddy_deferred_unref(d);
  }
}

static void client_destroy(eddy_protocol_t *p) {
  counter_client_t *c = (counter_client_t *)p;
  eddy_line_receiver_cleanup(&c->lr);
  free(c);
}

static const eddy_protocol_ops_t client_ops = {
    .data_received = eddy_line_receiver_data_received,
    .connection_lost = client_connection_lost,
    .destroy = client_destroy,
};

static const eddy_line_ops_t client_line_ops = {
    .line_received = client_line_received,
    /* no line_too_long: an over-long answer closes the connection, and
     * connection_lost fails what was waiting */
};

/* factory.data is the reactor. */
static eddy_protocol_t *client_build(eddy_factory_t *f,
                                     const eddy_addr_t *peer) {
  counter_client_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  eddy_line_receiver_init(&c->lr, &client_ops, &client_line_ops,
                          COUNTER_LINE_MAX);
  c->reactor = f->data;
  return &c->lr.protocol;
}

/* A callback that keeps the value: without eddy_result_take, the chain
 * would free it when it ends. */
static void keep_value(eddy_result_t *res, void *arg) {
  uint64_t **slot = arg;
  *slot = eddy_result_take(res); /* ours now: free it ourselves */
}

/* ---- Deadlines ----------------------------------------------------------- */

typedef struct deadline_s {
  eddy_timer_t timer;
  eddy_deferred_t *d;
  int expired;
} deadline_t;

static void deadline_expired(eddy_timer_t *t) {
  deadline_t *dl = t->data;
  dl->expired = 1;
  /* d fails with UV_ECANCELED; deadline_done turns that into UV_ETIMEDOUT
   * (and frees dl, so dl is not touched after this call). */
  eddy_deferred_cancel(dl->d);
}

static void deadline_done(eddy_result_t *res, void *arg) {
  deadline_t *dl = arg;
  if (dl->expired && res->err == UV_ECANCELED)
    eddy_result_fail(res, UV_ETIMEDOUT, "no answer in time");
  eddy_timer_stop(&dl->timer);
  free(dl);
}

/* Fails d with UV_ETIMEDOUT unless it fires within ms (Twisted's
 * addTimeout). It adds a callback pair to d: call it before handing d on. */
static int add_deadline(eddy_deferred_t *d, uint64_t ms) {
  deadline_t *dl = malloc(sizeof(*dl));
  if (dl == NULL)
    return UV_ENOMEM;
  eddy_timer_init(eddy_deferred_reactor(d), &dl->timer);
  dl->timer.data = dl;
  dl->d = d;
  dl->expired = 0;
  /* Armed first: when d has fired already, deadline_done runs inside
   * add_both, and disarms it. */
  int rc = eddy_timer_start(&dl->timer, ms, deadline_expired);
  if (rc == 0)
    rc = eddy_deferred_add_both(d, deadline_done, dl);
  if (rc != 0) {
    eddy_timer_stop(&dl->timer);
    free(dl);
  }
  return rc;
}

/* ---- Connect, ask three times, hang up ---------------------------------- */

typedef struct tally_s {
  counter_client_t *client; /* set once connected */
  uint64_t counts[3];
  int err; /* 0, or why there are no counts */
  int done;
} tally_t;

static void tally_connected(eddy_result_t *res, void *arg) {
  tally_t *t = arg;
  t->client = (counter_client_t *)res->value; /* not owned by the result */
  eddy_deferred_t *asks[3] = {client_incr(t->client, "apples"),
                              client_incr(t->client, "apples"),
                              client_incr(t->client, "pears")};
  /* All three are on the wire now; the gather waits for every answer. */
  eddy_deferred_t *all = eddy_gather(t->client->reactor, asks, 3);
  if (all != NULL)
    add_deadline(all, 5000); /* when out of memory, no deadline */
  /* From here on this chain's result is the gather's: the three answers,
   * or the first failure. (A NULL `all` fails it with UV_ENOMEM.) */
  eddy_result_wait(res, all);
}

static void tally_counted(eddy_result_t *res, void *arg) {
  tally_t *t = arg;
  const eddy_results_t *all = res->value; /* in request order */
  for (size_t i = 0; i < all->count; i++)
    t->counts[i] = *(const uint64_t *)all->items[i].value;
  /* The list and its values belong to the chain, which frees them. */
}

static void tally_failed(eddy_result_t *res, void *arg) {
  tally_t *t = arg;
  t->err = res->err;
  fprintf(stderr, "tally: %s\n", eddy_result_message(res));
  eddy_result_recover(res); /* handled: not logged as unhandled */
}

/* Runs last, success or failure. The chain ends before the client's
 * connection_lost returns, so t->client is still valid here. */
static void tally_hang_up(eddy_result_t *res, void *arg) {
  tally_t *t = arg;
  if (t->client != NULL)
    eddy_transport_lose_connection(t->client->lr.protocol.transport);
  t->done = 1;
}

static int tally_start(eddy_reactor_t *r, const char *endpoint,
                       eddy_factory_t *client_factory, tally_t *t) {
  eddy_deferred_t *d = eddy_connect(r, endpoint, client_factory);
  if (d == NULL)
    return UV_ENOMEM;
  /* The pairs run in the order added, each on the result of the last. */
  int rc = eddy_deferred_add_callback(d, tally_connected, t);
  if (rc == 0)
    rc = eddy_deferred_add_callbacks(d, tally_counted, tally_failed, t);
  if (rc == 0)
    rc = eddy_deferred_add_both(d, tally_hang_up, t);
  if (rc != 0)
    eddy_deferred_cancel(d);
  return rc;
}

/* ==== 6. Staying connected ================================================ */

typedef struct app_s {
  eddy_reconnecting_t *rc;
  counter_client_t *client; /* the current connection, or NULL */
  unsigned connections;
} app_t;

static void app_connected(eddy_reconnecting_t *rc, eddy_protocol_t *p,
                          void *arg) {
  app_t *app = arg;
  app->client = (counter_client_t *)p;
  app->connections++;
}

static void app_lost(eddy_reconnecting_t *rc, int reason,
                     uint64_t next_delay_ms, void *arg) {
  app_t *app = arg;
  app->client = NULL; /* its protocol is destroyed once this returns */
  eddy_log(EDDY_LOG_INFO, "counter.lost", "reason=%s retry_ms=%" PRIu64,
           eddy_err_name(reason), next_delay_ms);
}

static void app_failed(eddy_reconnecting_t *rc, int err, uint64_t next_delay_ms,
                       void *arg) {
  if (next_delay_ms == UINT64_MAX)
    eddy_log(EDDY_LOG_ERROR, "counter.give_up", "error=%s", eddy_err_name(err));
}

static int app_start(app_t *app, eddy_reactor_t *r, const char *endpoint,
                     eddy_factory_t *client_factory) {
  eddy_reconnect_opts_t o;
  eddy_reconnect_opts_init(&o);
  o.backoff.initial_ms = 100; /* then about 200, 400, ... up to max_ms */
  o.backoff.max_ms = 30000;
  o.connected = app_connected;
  o.connection_lost = app_lost;
  o.connect_failed = app_failed;
  o.arg = app;
  return eddy_reconnecting_start(r, endpoint, client_factory, &o, &app->rc);
}

static void app_stop(app_t *app) {
  eddy_reconnecting_stop(app->rc); /* no more attempts; rc frees itself */
  app->rc = NULL;
  /* Stopping leaves the current connection alone: close it ourselves. */
  if (app->client != NULL)
    eddy_transport_lose_connection(app->client->lr.protocol.transport);
  app->client = NULL;
}

/* ==== Test helpers (not in the guide) ===================================== */

/* Runs a fake-clock (or idle) reactor until nothing is pending. */
static void drain(eddy_reactor_t *r) {
  for (int i = 0; i < 1000 && eddy_reactor_run_once(r, 0); i++)
    continue;
}

/* Runs a real-clock reactor until *n >= want, at most ms. */
static int run_until_count(eddy_reactor_t *r, const unsigned *n, unsigned want,
                           uint64_t ms) {
  RUN_UNTIL(r, *n >= want, ms);
  return *n >= want;
}

static const char *value_of(eddy_string_transport_t *st) {
  return eddy_string_transport_value(st, NULL);
}

/* A string transport connected to a fresh counter connection. */
static eddy_string_transport_t *counter_on_string(counter_service_t *svc) {
  eddy_string_transport_t *st = eddy_string_transport_new(svc->reactor);
  cr_assert_not_null(st);
  eddy_protocol_t *p = svc->factory.build_protocol(&svc->factory, NULL);
  cr_assert_not_null(p);
  eddy_string_transport_connect(st, p);
  return st;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s", path);
  eddy_buf_t b;
  eddy_buf_init(&b, 4u << 20);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    cr_assert_eq(eddy_buf_append(&b, chunk, n), 0);
  fclose(f);
  cr_assert_eq(eddy_buf_append(&b, "", 1), 0);
  size_t len;
  return eddy_buf_detach(&b, &len);
}

/* Runs a real-clock reactor while *flag is non-zero, at most ms. */
static int run_while(eddy_reactor_t *r, const int *flag, uint64_t ms) {
  RUN_UNTIL(r, !*flag, ms);
  return !*flag;
}

typedef struct failure_s {
  int err;
  char msg[128];
} failure_t;

static void record_failure(eddy_result_t *res, void *arg) {
  failure_t *f = arg;
  f->err = res->err;
  snprintf(f->msg, sizeof(f->msg), "%s", eddy_result_message(res));
  eddy_result_recover(res);
}

static void copy_counts(eddy_result_t *res, void *arg) {
  uint64_t *out = arg;
  const eddy_results_t *all = res->value;
  for (size_t i = 0; i < all->count; i++)
    out[i] = *(const uint64_t *)all->items[i].value;
}

/* Starts svc listening on a free loopback port; writes the endpoint a
 * client connects to, with `options` appended. */
static void counter_listen(counter_service_t *svc, char *endpoint, size_t size,
                           const char *options) {
  int rc = eddy_listen(svc->reactor, "tcp:0", &svc->factory, &svc->listener);
  cr_assert_eq(rc, 0, "listen: %s", eddy_strerror(rc));
  local_endpoint(endpoint, size, svc->listener, options);
}

/* ---- A protocol that keeps what it receives (for the first server) ----- */

typedef struct collect_s {
  eddy_protocol_t protocol;
  eddy_buf_t got;
  int lost;
  int reason;
} collect_t;

static void collect_data(eddy_protocol_t *p, const char *data, size_t len) {
  collect_t *c = (collect_t *)p;
  cr_assert_eq(eddy_buf_append(&c->got, data, len), 0);
}

/* The quote is in: ask the server to stop, as Ctrl-C would. */
static void collect_lost(eddy_protocol_t *p, int reason) {
  collect_t *c = (collect_t *)p;
  c->lost = 1;
  c->reason = reason;
  kill(getpid(), SIGTERM);
}

static const eddy_protocol_ops_t collect_ops = {
    .data_received = collect_data,
    .connection_lost = collect_lost,
};

static eddy_protocol_t *collect_build(eddy_factory_t *f,
                                      const eddy_addr_t *peer) {
  collect_t *c = f->data;
  eddy_protocol_init(&c->protocol, &collect_ops);
  return &c->protocol;
}

static void sigterm_on_failure(eddy_result_t *res, void *arg) {
  record_failure(res, arg);
  kill(getpid(), SIGTERM);
}

typedef struct visit_s {
  eddy_reactor_t *r;
  eddy_listener_t **listener; /* where the server keeps its listener */
  eddy_factory_t factory;     /* the visitor's */
  failure_t failure;
  uint64_t *visits; /* the counter service's answer */
} visit_t;

static eddy_deferred_t *connect_to_listener(visit_t *v) {
  char endpoint[64];
  local_endpoint(endpoint, sizeof(endpoint), *v->listener, "");
  eddy_deferred_t *d = eddy_connect(v->r, endpoint, &v->factory);
  cr_assert_not_null(d);
  return d;
}

/* ==== 1. The first server ================================================= */

#define QUOTE "Never do today what the loop can do on its next iteration."

Test(guide, qotd_writes_the_quote_and_closes) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  qotd_service_t svc = {.quote = QUOTE};
  svc.factory.build_protocol = qotd_build;
  svc.factory.data = &svc;
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  eddy_string_transport_connect(st, qotd_build(&svc.factory, NULL));
  cr_assert_str_eq(value_of(st), QUOTE "\r\n");
  cr_assert(eddy_string_transport_lose_called(st));
  cr_assert_eq(svc.served, 1);
  drain(r); /* connection_lost(0), then destroy frees the protocol */
  eddy_string_transport_free(st);
  test_close_reactor(r);
}

static void qotd_visit(void *arg) {
  cr_assert_eq(eddy_deferred_add_errback(connect_to_listener(arg),
                                         sigterm_on_failure, arg),
               0);
}

Test(guide, qotd_serves_until_sigterm) {
  eddy_reactor_t *r = test_reactor(0);
  qotd_service_t svc = {.quote = QUOTE};
  collect_t col;
  eddy_buf_init(&col.got, 1024);
  col.lost = 0;
  visit_t v = {.r = r, .listener = &svc.listener};
  v.factory.build_protocol = collect_build;
  v.factory.data = &col;
  /* Runs on the first iteration, once qotd_serve is listening. */
  cr_assert_eq(eddy_call_soon(r, qotd_visit, &v), 0);
  cr_assert_eq(qotd_serve(r, &svc, "tcp:0"), 0);
  /* eddy_reactor_run returned by itself: the listener is closed. */
  cr_assert_eq(v.failure.err, 0, "%s", v.failure.msg);
  cr_assert(col.lost);
  cr_assert_eq(col.reason, 0);
  cr_assert_eq(col.got.len, strlen(QUOTE "\r\n"));
  cr_assert_eq(memcmp(col.got.data, QUOTE "\r\n", col.got.len), 0);
  cr_assert_eq(svc.served, 1);
  cr_assert_null(svc.listener);
  eddy_buf_free(&col.got);
  test_close_reactor(r);
}

/* ==== 2 and 3. The counter service, tested without sockets ================ */

Test(guide, counter_counts) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  counter_service_t svc;
  counter_service_init(&svc, r, NULL);
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  eddy_string_transport_connect(st, counter_build(&svc.factory, NULL));

  const char *in = "incr hits\r\nincr hits\r\nget hits\r\nget nope\r\n";
  eddy_string_transport_feed_bytewise(st, in, strlen(in));
  cr_assert_str_eq(value_of(st), "1\r\n2\r\nVALUE 1\r\n2\r\nNOT_FOUND\r\n");

  /* The same bytes in one piece: the same answers. */
  eddy_string_transport_clear(st);
  eddy_string_transport_feed(st, in, strlen(in));
  cr_assert_str_eq(value_of(st), "3\r\n4\r\nVALUE 1\r\n4\r\nNOT_FOUND\r\n");

  eddy_string_transport_free(st); /* loses the connection: destroy runs */
  counter_service_cleanup(&svc);
  test_close_reactor(r);
}

Test(guide, counter_set_takes_a_raw_block) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  counter_service_t svc;
  counter_service_init(&svc, r, NULL);
  eddy_string_transport_t *st = counter_on_string(&svc);

  /* The block holds a \r\n of its own: raw mode does not split it. */
  const char *in = "set motd 12\r\nhello\r\nworld\r\nget motd\r\nincr motd\r\n";
  eddy_string_transport_feed_bytewise(st, in, strlen(in));
  cr_assert_str_eq(value_of(st), "STORED\r\nVALUE 12\r\nhello\r\nworld\r\n"
                                 "ERROR not a number\r\n");

  /* An empty value, then a number set by hand that incr goes on from. */
  eddy_string_transport_clear(st);
  in = "set e 0\r\n\r\nget e\r\nset n 2\r\n41\r\nincr n\r\n";
  eddy_string_transport_feed(st, in, strlen(in));
  cr_assert_str_eq(value_of(st), "STORED\r\nVALUE 0\r\n\r\nSTORED\r\n42\r\n");

  /* A block that does not end in \r\n: the framing is lost, so is the
   * connection. */
  eddy_string_transport_clear(st);
  in = "set x 2\r\nabcd\r\nincr x\r\n";
  eddy_string_transport_feed_bytewise(st, in, strlen(in));
  cr_assert_str_eq(value_of(st), "ERROR bad data chunk\r\n");
  cr_assert(eddy_string_transport_lose_called(st));

  drain(r);
  cr_assert_null(svc.conns);
  eddy_string_transport_free(st);
  counter_service_cleanup(&svc);
  test_close_reactor(r);
}

Test(guide, counter_answers_bad_requests_and_goes_on) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  counter_service_t svc;
  counter_service_init(&svc, r, NULL);
  eddy_string_transport_t *st = counter_on_string(&svc);

  char line[COUNTER_LINE_MAX + 40];
  memset(line, 'x', sizeof(line));
  eddy_string_transport_feed_bytewise(st, line, sizeof(line));
  const char *in = "\r\nincr\r\nfrob a\r\nincr a b c d\r\nincr a\x01\r\n"
                   "set a 4097\r\nset a -1\r\nsave\r\n\r\nincr a\r\n";
  eddy_string_transport_feed_bytewise(st, in, strlen(in));
  cr_assert_str_eq(value_of(st), "ERROR line too long\r\n"
                                 "ERROR unknown command\r\n"
                                 "ERROR unknown command\r\n"
                                 "ERROR unknown command\r\n"
                                 "ERROR bad name\r\n"
                                 "ERROR bad size\r\n"
                                 "ERROR bad size\r\n"
                                 "ERROR saving is off\r\n"
                                 "ERROR unknown command\r\n"
                                 "1\r\n");
  cr_assert_not(eddy_string_transport_lose_called(st));

  eddy_string_transport_free(st);
  counter_service_cleanup(&svc);
  test_close_reactor(r);
}

Test(guide, counter_closes_idle_connections) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  counter_service_t svc;
  counter_service_init(&svc, r, NULL);
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  eddy_string_transport_connect(st, counter_build(&svc.factory, NULL));

  eddy_reactor_advance(r, svc.idle_ms - 1);
  eddy_string_transport_feed(st, "incr a\r\n", 8); /* the timer starts over */
  eddy_reactor_advance(r, svc.idle_ms - 1);
  cr_assert_not(eddy_string_transport_lose_called(st));
  eddy_reactor_advance(r, 1);
  cr_assert(eddy_string_transport_lose_called(st));
  cr_assert_str_eq(value_of(st), "1\r\nERROR idle timeout\r\n");

  drain(r); /* connection_lost(0) comes on a later iteration */
  cr_assert_null(svc.conns);
  eddy_string_transport_free(st);
  counter_service_cleanup(&svc);
  test_close_reactor(r);
}

Test(guide, counter_stops_reading_a_client_that_does_not_read) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  counter_service_t svc;
  counter_service_init(&svc, r, NULL);
  eddy_string_transport_t *st = counter_on_string(&svc);

  eddy_string_transport_set_pending(st, EDDY_TRANSPORT_HIGH_WATER_DEFAULT + 1);
  drain(r); /* pause_writing arrives on a later iteration */
  cr_assert(eddy_string_transport_reading_paused(st));
  eddy_string_transport_set_pending(st, 0);
  drain(r);
  cr_assert_not(eddy_string_transport_reading_paused(st));

  eddy_string_transport_free(st);
  counter_service_cleanup(&svc);
  test_close_reactor(r);
}

/* ---- The whole server, over TCP, stopped by SIGTERM ---------------------- */

static void visit_ask(eddy_result_t *res, void *arg) {
  eddy_result_wait(res, client_incr((counter_client_t *)res->value, "visits"));
}

static void visit_answered(eddy_result_t *res, void *arg) {
  visit_t *v = arg;
  v->visits = eddy_result_take(res);
  kill(getpid(), SIGTERM); /* the server holds our connection: stop it */
}

static void counter_visit(void *arg) {
  visit_t *v = arg;
  eddy_deferred_t *d = connect_to_listener(v);
  cr_assert_eq(eddy_deferred_add_callback(d, visit_ask, v), 0);
  cr_assert_eq(
      eddy_deferred_add_callbacks(d, visit_answered, sigterm_on_failure, v), 0);
}

Test(guide, counter_serve_stops_gracefully_on_sigterm) {
  eddy_reactor_t *r = test_reactor(0);
  counter_service_t svc;
  counter_service_init(&svc, r, NULL);
  visit_t v = {.r = r, .listener = &svc.listener};
  v.factory.build_protocol = client_build;
  v.factory.data = r;
  cr_assert_eq(eddy_call_soon(r, counter_visit, &v), 0);
  cr_assert_eq(counter_serve(&svc, "tcp:0"), 0);
  /* run returned by itself: the listener and every connection closed. */
  cr_assert_eq(v.failure.err, 0, "%s", v.failure.msg);
  cr_assert_not_null(v.visits);
  cr_assert_eq(*v.visits, 1);
  free(v.visits);
  cr_assert_null(svc.listener);
  cr_assert_null(svc.conns);
  counter_service_cleanup(&svc);
  test_close_reactor(r);
}

Test(guide, counter_serve_reports_a_bad_endpoint) {
  eddy_reactor_t *r = test_reactor(0);
  counter_service_t svc;
  counter_service_init(&svc, r, NULL);
  cr_assert_eq(counter_serve(&svc, "tcp:99999"), EDDY_EPARSE);
  cr_assert_null(svc.listener);
  counter_service_cleanup(&svc);
  test_close_reactor(r);
}

/* ==== 4. The client ======================================================= */

Test(guide, client_tallies_over_tcp) {
  eddy_reactor_t *r = test_reactor(0);
  counter_service_t svc;
  counter_service_init(&svc, r, NULL);
  char endpoint[64];
  counter_listen(&svc, endpoint, sizeof(endpoint), ":timeout=5");

  eddy_factory_t client_factory = {.build_protocol = client_build, .data = r};
  tally_t t = {0};
  cr_assert_eq(tally_start(r, endpoint, &client_factory, &t), 0);
  cr_assert(test_run_until(r, &t.done, 5000));
  cr_assert_eq(t.err, 0);
  cr_assert_eq(t.counts[0], 1);
  cr_assert_eq(t.counts[1], 2);
  cr_assert_eq(t.counts[2], 1);

  counter_stop(&svc); /* closes the listener and the server's side */
  cr_assert_eq(eddy_reactor_run(r), 0);
  counter_service_cleanup(&svc);
  test_close_reactor(r);
}

Test(guide, client_reports_a_refused_connection) {
  eddy_reactor_t *r = test_reactor(0);
  eddy_factory_t nobody = {.build_protocol = qotd_build};
  eddy_listener_t *l;
  cr_assert_eq(eddy_listen(r, "tcp:0", &nobody, &l), 0);
  char endpoint[64];
  local_endpoint(endpoint, sizeof(endpoint), l, "");
  int closed = 0;
  eddy_listener_close(l, closed_cb, &closed);
  cr_assert(test_run_until(r, &closed, 5000));

  eddy_factory_t client_factory = {.build_protocol = client_build, .data = r};
  tally_t t = {0};
  cr_assert_eq(tally_start(r, endpoint, &client_factory, &t), 0);
  cr_assert(test_run_until(r, &t.done, 5000));
  cr_assert_eq(t.err, UV_ECONNREFUSED);
  cr_assert_null(t.client);
  test_close_reactor(r);
}

Test(guide, client_request_times_out) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_factory_t client_factory = {.build_protocol = client_build, .data = r};
  counter_client_t *c = (counter_client_t *)client_build(&client_factory, NULL);
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  eddy_string_transport_connect(st, &c->lr.protocol);

  eddy_deferred_t *d = client_incr(c, "slow");
  cr_assert_eq(add_deadline(d, 500), 0);
  failure_t failed = {0};
  eddy_deferred_add_errback(d, record_failure, &failed);
  cr_assert_str_eq(value_of(st), "incr slow\r\n");
  eddy_reactor_advance(r, 499);
  cr_assert_eq(failed.err, 0);
  eddy_reactor_advance(r, 1);
  cr_assert_eq(failed.err, UV_ETIMEDOUT);
  cr_assert_str_eq(failed.msg, "no answer in time");

  /* The late answer finds its request cancelled, and is dropped. */
  eddy_string_transport_feed(st, "1\r\n", 3);
  cr_assert_eq(c->count, 0);

  /* A deadline on a deferred that has fired already costs nothing. */
  uint64_t *value = NULL;
  d = client_incr(c, "quick");
  eddy_string_transport_feed(st, "7\r\n", 3);
  cr_assert_eq(add_deadline(d, 500), 0);
  eddy_deferred_add_callback(d, keep_value, &value);
  cr_assert_not_null(value);
  cr_assert_eq(*value, 7);
  free(value);

  eddy_string_transport_free(st);
  test_close_reactor(r);
}

Test(guide, client_fails_what_waits_when_the_connection_goes) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_factory_t client_factory = {.build_protocol = client_build, .data = r};
  counter_client_t *c = (counter_client_t *)client_build(&client_factory, NULL);
  eddy_string_transport_t *st = eddy_string_transport_new(r);

  failure_t early = {0};
  eddy_deferred_add_errback(client_incr(c, "a"), record_failure, &early);
  cr_assert_eq(early.err, UV_ENOTCONN);
  eddy_string_transport_connect(st, &c->lr.protocol);
  eddy_deferred_add_errback(client_incr(c, "two words"), record_failure,
                            &early);
  cr_assert_eq(early.err, UV_EINVAL);

  /* Cancelling a gather cancels its requests; their answers, when they
   * come, are dropped. */
  eddy_deferred_t *asks[2] = {client_incr(c, "a"), client_incr(c, "b")};
  eddy_deferred_t *all = eddy_gather(r, asks, 2);
  failure_t cancelled = {0};
  eddy_deferred_add_errback(all, record_failure, &cancelled);
  eddy_deferred_cancel(all);
  cr_assert_eq(cancelled.err, UV_ECANCELED);
  cr_assert_eq(c->count, 2);
  eddy_string_transport_feed(st, "1\r\n", 3);
  cr_assert_eq(c->count, 1);

  /* The pipeline has a limit. */
  failure_t waiting[CLIENT_PIPELINE_MAX];
  memset(waiting, 0, sizeof(waiting));
  for (size_t i = 1; i < CLIENT_PIPELINE_MAX; i++)
    eddy_deferred_add_errback(client_incr(c, "x"), record_failure, &waiting[i]);
  failure_t full = {0};
  eddy_deferred_add_errback(client_incr(c, "x"), record_failure, &full);
  cr_assert_eq(full.err, UV_ENOBUFS);

  /* The connection breaks: every request still waiting fails with why. */
  eddy_string_transport_disconnect(st, UV_ECONNRESET);
  for (size_t i = 1; i < CLIENT_PIPELINE_MAX; i++)
    cr_assert_eq(waiting[i].err, UV_ECONNRESET);
  eddy_string_transport_free(st);
  test_close_reactor(r);
}

Test(guide, client_answers_a_stray_line_by_hanging_up) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_factory_t client_factory = {.build_protocol = client_build, .data = r};
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  eddy_string_transport_connect(st, client_build(&client_factory, NULL));
  eddy_string_transport_feed_bytewise(st, "5\r\n", 3);
  cr_assert(eddy_string_transport_abort_called(st));
  drain(r);
  eddy_string_transport_free(st);
  test_close_reactor(r);
}

/* ==== 5. Client and server in memory ====================================== */

Test(guide, client_and_server_in_memory) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  counter_service_t svc;
  counter_service_init(&svc, r, NULL);
  eddy_factory_t client_factory = {.build_protocol = client_build, .data = r};
  eddy_protocol_t *server = counter_build(&svc.factory, NULL);
  eddy_protocol_t *client = client_build(&client_factory, NULL);
  eddy_loopback_t *lp;
  cr_assert_eq(eddy_loopback_connect(r, server, client, &lp), 0);
  eddy_loopback_pump(lp); /* connection_made, on both sides */

  counter_client_t *c = (counter_client_t *)client;
  uint64_t *first = NULL;
  eddy_deferred_add_callback(client_incr(c, "apples"), keep_value, &first);
  eddy_deferred_t *asks[2] = {client_incr(c, "apples"),
                              client_incr(c, "pears")};
  uint64_t counts[2] = {0, 0};
  eddy_deferred_add_callback(eddy_gather(r, asks, 2), copy_counts, counts);
  eddy_loopback_pump(lp); /* the requests go over, the answers come back */
  cr_assert_eq(*first, 1);
  cr_assert_eq(counts[0], 2);
  cr_assert_eq(counts[1], 1);
  free(first);

  /* The server's ERROR line becomes a failure that carries it. */
  failure_t failed = {0};
  eddy_deferred_add_errback(client_incr(c, "pears"), record_failure, &failed);
  eddy_deferred_add_errback(client_incr(c, "pears"), record_failure, &failed);
  entry_t *e = store_find(&svc, "pears", 5);
  cr_assert_eq(store_set(e, "many", 4), 0);
  eddy_loopback_pump(lp);
  cr_assert_eq(failed.err, UV_EPROTO);
  cr_assert_str_eq(failed.msg, "server said: ERROR not a number");

  eddy_transport_lose_connection(client->transport);
  drain(r); /* both sides hear connection_lost; the pair frees itself */
  cr_assert_null(svc.conns);
  counter_service_cleanup(&svc);
  test_close_reactor(r);
}

/* ==== 6. Staying connected ================================================ */

Test(guide, app_reconnects_after_losing_its_connection) {
  eddy_reactor_t *r = test_reactor(0);
  counter_service_t svc;
  counter_service_init(&svc, r, NULL);
  char endpoint[64];
  counter_listen(&svc, endpoint, sizeof(endpoint), "");
  eddy_factory_t client_factory = {.build_protocol = client_build, .data = r};

  app_t app = {0};
  cr_assert_eq(app_start(&app, r, endpoint, &client_factory), 0);
  cr_assert(run_until_count(r, &app.connections, 1, 5000));
  cr_assert_not_null(app.client);

  /* The connection goes; the app is back after the initial delay. */
  uint64_t lost_at = eddy_reactor_now(r);
  eddy_transport_abort_connection(app.client->lr.protocol.transport);
  cr_assert(run_until_count(r, &app.connections, 2, 5000));
  cr_assert_geq(eddy_reactor_now(r) - lost_at, 85); /* 100 ms, +-10 % */
  cr_assert_eq(eddy_reconnecting_retries(app.rc), 0);

  app_stop(&app);
  counter_stop(&svc);
  cr_assert_eq(eddy_reactor_run(r), 0);
  counter_service_cleanup(&svc);
  test_close_reactor(r);
}

/* ==== 7. Blocking work on a pool thread =================================== */

Test(guide, save_writes_a_snapshot_on_a_pool_thread) {
  eddy_reactor_t *r = test_reactor(0);
  char dir[] = "/tmp/eddy-guide-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char path[64];
  snprintf(path, sizeof(path), "%s/counts", dir);
  counter_service_t svc;
  counter_service_init(&svc, r, path);
  eddy_string_transport_t *st = counter_on_string(&svc);

  const char *in = "incr hits\r\nset motd 7\r\nhi\r\nyou\r\nsave\r\nsave\r\n";
  eddy_string_transport_feed_bytewise(st, in, strlen(in));
  /* The second save finds the first one still running. */
  cr_assert_str_eq(value_of(st), "1\r\nSTORED\r\nERROR already saving\r\n");
  cr_assert(run_while(r, &svc.saving, 5000));
  cr_assert_str_eq(value_of(st),
                   "1\r\nSTORED\r\nERROR already saving\r\nSAVED 2\r\n");

  char *saved = slurp(path);
  cr_assert_str_eq(saved, "set hits 1\r\n1\r\nset motd 7\r\nhi\r\nyou\r\n");

  /* Fed to a fresh service, the snapshot restores the store. */
  counter_service_t fresh;
  counter_service_init(&fresh, r, NULL);
  eddy_string_transport_t *st2 = counter_on_string(&fresh);
  eddy_string_transport_feed_bytewise(st2, saved, strlen(saved));
  eddy_string_transport_clear(st2);
  eddy_string_transport_feed(st2, "get motd\r\nincr hits\r\n", 21);
  cr_assert_str_eq(value_of(st2), "VALUE 7\r\nhi\r\nyou\r\n2\r\n");
  free(saved);

  eddy_string_transport_free(st2);
  eddy_string_transport_free(st);
  cr_assert_eq(unlink(path), 0);
  cr_assert_eq(rmdir(dir), 0);
  counter_service_cleanup(&fresh);
  counter_service_cleanup(&svc);
  test_close_reactor(r);
}

Test(guide, save_outlives_its_connection) {
  eddy_reactor_t *r = test_reactor(0);
  char dir[] = "/tmp/eddy-guide-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char path[64];
  snprintf(path, sizeof(path), "%s/counts", dir);
  counter_service_t svc;
  counter_service_init(&svc, r, path);
  eddy_string_transport_t *st = counter_on_string(&svc);
  eddy_string_transport_feed(st, "incr a\r\nsave\r\n", 14);
  eddy_string_transport_free(st); /* gone before the save is done */
  cr_assert(svc.saving);
  cr_assert(run_while(r, &svc.saving, 5000));
  char *saved = slurp(path);
  cr_assert_str_eq(saved, "set a 1\r\n1\r\n");
  free(saved);

  /* A save that fails says why. */
  counter_service_t bad;
  counter_service_init(&bad, r, "/nonexistent-eddy-dir/counts");
  st = counter_on_string(&bad);
  eddy_string_transport_feed(st, "save\r\n", 6);
  cr_assert(run_while(r, &bad.saving, 5000));
  cr_assert_str_eq(value_of(st),
                   "ERROR save failed: no such file or directory\r\n");
  eddy_string_transport_free(st);

  cr_assert_eq(unlink(path), 0);
  cr_assert_eq(rmdir(dir), 0);
  counter_service_cleanup(&bad);
  counter_service_cleanup(&svc);
  test_close_reactor(r);
}

/* ==== The guide quotes this code ========================================== */

/* Every ```c block of docs/guide.md must appear, verbatim, in this file or
 * in examples/guide_counter.c. */
Test(guide, every_snippet_is_tested_code) {
  eddy_reactor_t *r = test_reactor(0); /* as every test here ends with it */
  char *guide = slurp(EDDY_TEST_SRCDIR "/../../docs/guide.md");
  char *tests = slurp(EDDY_TEST_SRCDIR "/test_guide.c");
  char *example = slurp(EDDY_TEST_SRCDIR "/../../examples/guide_counter.c");
  size_t blocks = 0;
  const char *p = guide;
  while ((p = strstr(p, "```c\n")) != NULL) {
    const char *start = p + 5;
    const char *end = strstr(start, "\n```");
    cr_assert_not_null(end, "unterminated block after byte %zu",
                       (size_t)(start - guide));
    char *block = strndup(start, (size_t)(end - start) + 1);
    cr_assert_not_null(block);
    blocks++;
    cr_expect(strstr(tests, block) != NULL || strstr(example, block) != NULL,
              "docs/guide.md, C block %zu is not in the tested code:\n%s",
              blocks, block);
    free(block);
    p = end + 4;
  }
  cr_assert_geq(blocks, 20, "only %zu C blocks found", blocks);
  free(example);
  free(tests);
  free(guide);
  test_close_reactor(r);
}
