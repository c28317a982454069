/* test_lock_client.c — the lock client (eddy/lock_client.h) against a
 * scripted server on tcp:0: the test reads the request lines the client
 * sent and writes the replies by hand (often one byte per write), so every
 * reply shape of docs/protocol/locks.md is covered, including the ones a
 * real server rarely sends (events between replies, malformed replies). */
#include "net_support.h"

#include <eddy/lock_client.h>

#include <string.h>

/* ---- What a deferred delivered ------------------------------------------ */

typedef struct {
  int done;
  int err;
  char msg[256];
  eddy_lock_client_t *client; /* connect */
  eddy_lock_grant_t grant;    /* acquire */
  uint64_t count;             /* release, reset */
  eddy_lock_infos_t *infos;   /* list (taken) */
} got_t;

static void on_ok(eddy_result_t *res, void *arg) {
  got_t *g = arg;
  g->done++;
  g->err = 0;
  g->msg[0] = '\0';
  (void)res;
}

static void on_err(eddy_result_t *res, void *arg) {
  got_t *g = arg;
  g->done++;
  g->err = res->err;
  snprintf(g->msg, sizeof(g->msg), "%s", eddy_result_message(res));
  eddy_result_recover(res);
}

static void on_client(eddy_result_t *res, void *arg) {
  on_ok(res, arg);
  ((got_t *)arg)->client = res->value;
}

static void on_grant(eddy_result_t *res, void *arg) {
  on_ok(res, arg);
  ((got_t *)arg)->grant = *(eddy_lock_grant_t *)res->value;
}

static void on_count(eddy_result_t *res, void *arg) {
  on_ok(res, arg);
  ((got_t *)arg)->count = *(uint64_t *)res->value;
}

static void on_list(eddy_result_t *res, void *arg) {
  on_ok(res, arg);
  ((got_t *)arg)->infos = eddy_result_take(res);
}

static void expect(eddy_deferred_t *d, eddy_deferred_cb ok, got_t *g) {
  memset(g, 0, sizeof(*g));
  cr_assert_not_null(d);
  cr_assert_eq(eddy_deferred_add_callbacks(d, ok, on_err, g), 0);
}

/* ---- The scripted server --------------------------------------------------
 */

typedef struct {
  eddy_reactor_t *r;
  side_t server;
  eddy_listener_t *l;
  char ep[64];
  size_t read; /* bytes of the server's input already taken by next_line */
} script_t;

static void script_start(script_t *s) {
  memset(s, 0, sizeof(*s));
  s->r = test_reactor(0);
  side_init(&s->server);
  s->l = listen_on(s->r, "tcp:0", &s->server);
  local_endpoint(s->ep, sizeof(s->ep), s->l, "");
}

static peer_t *srv(script_t *s) {
  return &s->server.peers[0];
}

static int have_line(script_t *s) {
  peer_t *p = srv(s);
  return s->server.n > 0 && p->in.len > s->read &&
         memchr(p->in.data + s->read, '\n', p->in.len - s->read) != NULL;
}

/* The next request line the client sent (without "\n"), as a string that
 * lives until the next call. */
static const char *next_line(script_t *s) {
  static char line[1024];
  WAIT_FOR(s->r, have_line(s));
  peer_t *p = srv(s);
  const char *start = (const char *)p->in.data + s->read;
  const char *nl = memchr(start, '\n', p->in.len - s->read);
  size_t n = (size_t)(nl - start);
  cr_assert_lt(n, sizeof(line));
  memcpy(line, start, n);
  line[n] = '\0';
  s->read += n + 1;
  return line;
}

/* Replies one byte per write, so the client's receiver sees every split. */
static void reply(script_t *s, const char *text) {
  for (const char *c = text; *c != '\0'; c++)
    cr_assert_eq(eddy_transport_write(tr(srv(s)), c, 1), 0);
}

static void script_end(script_t *s) {
  finish(s->r, s->l, &s->server, &s->server);
}

/* Connects a named client and answers its hello. */
static eddy_lock_client_t *open_client(script_t *s, const char *name) {
  got_t g;
  expect(eddy_lock_client_connect(s->r, s->ep, name), on_client, &g);
  if (name != NULL) {
    char want[128];
    snprintf(want, sizeof(want), "hello %s", name);
    cr_assert_str_eq(next_line(s), want);
    cr_assert_eq(g.done, 0, "connect fired before hello was answered");
    reply(s, "OK 42\r\n");
  }
  WAIT_FOR(s->r, g.done == 1);
  cr_assert_eq(g.err, 0, "%s", g.msg);
  cr_assert_not_null(g.client);
  return g.client;
}

static void close_client(script_t *s, eddy_lock_client_t *c) {
  int closed = 0;
  eddy_lock_client_close(c, closed_cb, &closed);
  cr_assert_eq(closed, 0, "close callback ran inside close");
  WAIT_FOR(s->r, closed == 1);
}

/* ---- Tests ------------------------------------------------------------------
 */

Test(lock_client, hello_acquire_release) {
  script_t s;
  script_start(&s);
  eddy_lock_client_t *c = open_client(&s, "worker-1");
  cr_assert_eq(eddy_lock_client_id(c), 42);

  eddy_lock_opts_t o;
  eddy_lock_opts_init(&o);
  o.shared = 1;
  o.timeout_ms = 500;
  o.lease_ms = 1000;
  got_t g;
  expect(eddy_lock_acquire(c, "jobs/daily", &o), on_grant, &g);
  cr_assert_str_eq(next_line(&s), "acquire jobs/daily shared wait=500 "
                                  "lease=1000");
  reply(&s, "OK 18446744073709551615\r\n");
  WAIT_FOR(s.r, g.done == 1);
  cr_assert_eq(g.err, 0, "%s", g.msg);
  cr_assert_str_eq(g.grant.name, "jobs/daily");
  cr_assert_eq(g.grant.token, UINT64_MAX);
  cr_assert_eq(g.grant.shared, 1);

  expect(eddy_lock_release(c, "jobs/daily"), on_count, &g);
  cr_assert_str_eq(next_line(&s), "release jobs/daily");
  reply(&s, "OK 0\n"); /* a bare \n is a line end too */
  WAIT_FOR(s.r, g.done == 1);
  cr_assert_eq(g.err, 0, "%s", g.msg);
  cr_assert_eq(g.count, 0);

  close_client(&s, c);
  WAIT_FOR(s.r, srv(&s)->eofs == 1);
  script_end(&s);
}

Test(lock_client, option_spelling) {
  script_t s;
  script_start(&s);
  eddy_lock_client_t *c = open_client(&s, NULL); /* no hello */
  cr_assert_eq(eddy_lock_client_id(c), 0);
  got_t g[4];
  eddy_lock_opts_t o;
  eddy_lock_opts_init(&o);
  expect(eddy_lock_acquire(c, "a", NULL), on_grant, &g[0]);
  o.timeout_ms = 0;
  o.reentrant = 1;
  expect(eddy_lock_acquire(c, "b", &o), on_grant, &g[1]);
  o.timeout_ms = UINT64_C(5000000000); /* beyond the protocol: no limit */
  o.reentrant = 0;
  expect(eddy_lock_acquire(c, "c", &o), on_grant, &g[2]);
  expect(eddy_lock_refresh(c, "a", 250), on_ok, &g[3]);
  cr_assert_str_eq(next_line(&s), "acquire a exclusive");
  cr_assert_str_eq(next_line(&s), "acquire b exclusive reentrant try");
  cr_assert_str_eq(next_line(&s), "acquire c exclusive");
  cr_assert_str_eq(next_line(&s), "refresh a lease=250");
  reply(&s, "OK 1\r\nOK 2\r\nOK 3\r\nOK\r\n");
  WAIT_FOR(s.r, g[3].done == 1);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(g[i].err, 0);
    cr_assert_eq(g[i].grant.token, (uint64_t)i + 1);
  }
  cr_assert_eq(g[3].err, 0);
  close_client(&s, c);
  script_end(&s);
}

typedef struct {
  int calls;
  char name[64];
  uint64_t token;
  int reason;
  int conn_lost;
} lost_t;

static void on_lost(eddy_lock_client_t *c, const char *name, uint64_t token,
                    int reason, void *arg) {
  lost_t *l = arg;
  l->calls++;
  if (name == NULL) {
    l->conn_lost++;
    l->reason = reason;
    return;
  }
  snprintf(l->name, sizeof(l->name), "%s", name);
  l->token = token;
  l->reason = reason;
}

/* Replies are matched to requests in order, whatever they say, and events
 * between them go to the lost callback. */
Test(lock_client, pipelined_replies_errors_and_events) {
  script_t s;
  script_start(&s);
  eddy_lock_client_t *c = open_client(&s, "w");
  lost_t lost = {0};
  eddy_lock_client_on_lost(c, on_lost, &lost);
  eddy_lock_opts_t o;
  eddy_lock_opts_init(&o);
  o.timeout_ms = 0;
  got_t g[6];
  expect(eddy_lock_acquire(c, "x", &o), on_grant, &g[0]);
  expect(eddy_lock_acquire(c, "y", NULL), on_grant, &g[1]);
  expect(eddy_lock_release(c, "z"), on_count, &g[2]);
  expect(eddy_lock_list(c, NULL), on_list, &g[3]);
  expect(eddy_lock_reset(c, "secret"), on_count, &g[4]);
  expect(eddy_lock_list(c, "jobs/"), on_list, &g[5]);
  for (int i = 0; i < 6; i++)
    next_line(&s);
  reply(&s, "ERR busy x is held\r\n"
            "EVENT lost q 5 lease_expired\r\n"
            "OK 9\r\n"
            "ERR not_held z is not held by this connection\r\n"
            "LOCK a exclusive holders=1 waiters=2\r\n"
            "LOCK b shared holders=3 waiters=0\r\n"
            "OK 2 7\r\n"
            "EVENT lost y 9 reset\r\n"
            "ERR denied wrong admin token\r\n"
            "OK 0 0\r\n");
  WAIT_FOR(s.r, g[5].done == 1);
  cr_assert_eq(g[0].err, UV_EBUSY);
  cr_assert_str_eq(g[0].msg, "busy x is held");
  cr_assert_eq(g[1].err, 0);
  cr_assert_eq(g[1].grant.token, 9);
  cr_assert_eq(g[2].err, UV_ENOENT);
  cr_assert_eq(g[3].err, 0);
  cr_assert_eq(g[3].infos->count, 2);
  cr_assert_eq(g[3].infos->total, 7);
  cr_assert_str_eq(g[3].infos->items[0].name, "a");
  cr_assert_eq(g[3].infos->items[0].state, EDDY_LOCK_EXCLUSIVE);
  cr_assert_eq(g[3].infos->items[0].holders, 1);
  cr_assert_eq(g[3].infos->items[0].waiters, 2);
  cr_assert_eq(g[3].infos->items[1].state, EDDY_LOCK_SHARED);
  cr_assert_eq(g[3].infos->items[1].holders, 3);
  cr_assert_eq(g[4].err, UV_EACCES);
  cr_assert_eq(g[5].err, 0);
  cr_assert_eq(g[5].infos->count, 0);
  cr_assert_eq(lost.calls, 2);
  cr_assert_str_eq(lost.name, "y");
  cr_assert_eq(lost.token, 9);
  cr_assert_eq(lost.reason, UV_ECANCELED);
  eddy_lock_infos_free(g[3].infos);
  eddy_lock_infos_free(g[5].infos);
  close_client(&s, c);
  cr_assert_eq(lost.conn_lost, 0, "close is not a loss to report");
  script_end(&s);
}

Test(lock_client, every_error_code) {
  static const struct {
    const char *reply;
    int err;
  } cases[] = {
      {"ERR timeout a not granted within 100 ms\r\n", UV_ETIMEDOUT},
      {"ERR held a is already held\r\n", UV_EEXIST},
      {"ERR bad_request wait= needs a number\r\n", UV_EINVAL},
      {"ERR too_long line too long\r\n", UV_EINVAL},
      {"ERR limit too many locks\r\n", UV_ENOBUFS},
      {"ERR reset all locks were reset\r\n", UV_ECANCELED},
      {"ERR shutdown the service is closing\r\n", UV_ESHUTDOWN},
      {"ERR whatever a code from the future\r\n", UV_EPROTO},
  };
  script_t s;
  script_start(&s);
  eddy_lock_client_t *c = open_client(&s, "w");
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    got_t g;
    expect(eddy_lock_acquire(c, "a", NULL), on_grant, &g);
    next_line(&s);
    reply(&s, cases[i].reply);
    WAIT_FOR(s.r, g.done == 1);
    cr_assert_eq(g.err, cases[i].err, "%s: got %s", cases[i].reply,
                 eddy_err_name(g.err));
  }
  close_client(&s, c);
  script_end(&s);
}

/* Bad input is refused by the client itself, on a later iteration, and
 * nothing is sent. */
Test(lock_client, refuses_bad_names_before_sending) {
  script_t s;
  script_start(&s);
  eddy_lock_client_t *c = open_client(&s, "w");
  char long_name[EDDY_LOCK_NAME_MAX + 2];
  memset(long_name, 'n', sizeof(long_name) - 1);
  long_name[sizeof(long_name) - 1] = '\0';
  const char *bad[] = {"", "has space", "tab\there", "new\nline", long_name};
  got_t g[6];
  for (int i = 0; i < 5; i++) {
    expect(eddy_lock_acquire(c, bad[i], NULL), on_grant, &g[i]);
    cr_assert_eq(g[i].done, 0, "fired inside the call");
  }
  expect(eddy_lock_release(c, "a b"), on_count, &g[5]);
  cr_assert_eq(g[5].done, 0);
  WAIT_FOR(s.r, g[5].done == 1);
  for (int i = 0; i < 6; i++)
    cr_assert_eq(g[i].err, UV_EINVAL);
  /* The longest legal name goes through. */
  long_name[EDDY_LOCK_NAME_MAX] = '\0';
  got_t ok;
  expect(eddy_lock_acquire(c, long_name, NULL), on_grant, &ok);
  const char *line = next_line(&s);
  cr_assert_eq(strncmp(line, "acquire ", 8), 0);
  cr_assert_eq(strlen(line), 8 + EDDY_LOCK_NAME_MAX + strlen(" exclusive"));
  reply(&s, "OK 1\r\n");
  WAIT_FOR(s.r, ok.done == 1);
  cr_assert_eq(ok.err, 0);
  close_client(&s, c);
  cr_assert_eq(srv(&s)->in.len, s.read, "bad requests were sent");
  script_end(&s);
}

Test(lock_client, bad_client_name_and_endpoint) {
  eddy_reactor_t *r = test_reactor(0);
  got_t a, b;
  expect(eddy_lock_client_connect(r, "tcp:127.0.0.1:1", "two words"), on_client,
         &a);
  expect(eddy_lock_client_connect(r, "nonsense:1", "w"), on_client, &b);
  cr_assert_eq(a.done + b.done, 0);
  WAIT_FOR(r, a.done == 1 && b.done == 1);
  cr_assert_eq(a.err, UV_EINVAL);
  cr_assert_eq(b.err, EDDY_EPARSE);
  test_close_reactor(r);
}

Test(lock_client, connection_refused) {
  /* A port that was just free: listen, note it, close. */
  script_t s;
  script_start(&s);
  char ep[64];
  snprintf(ep, sizeof(ep), "%s", s.ep);
  int closed = 0;
  eddy_listener_close(s.l, closed_cb, &closed);
  WAIT_FOR(s.r, closed == 1);
  got_t g;
  expect(eddy_lock_client_connect(s.r, ep, "w"), on_client, &g);
  WAIT_FOR(s.r, g.done == 1);
  cr_assert_eq(g.err, UV_ECONNREFUSED, "%s", g.msg);
  finish(s.r, NULL, &s.server, &s.server);
}

/* The server goes away: everything in flight fails, the holder is told, and
 * the client still needs (and accepts) its close. */
Test(lock_client, connection_lost_fails_requests) {
  script_t s;
  script_start(&s);
  eddy_lock_client_t *c = open_client(&s, "w");
  lost_t lost = {0};
  eddy_lock_client_on_lost(c, on_lost, &lost);
  got_t g[2];
  expect(eddy_lock_acquire(c, "a", NULL), on_grant, &g[0]);
  expect(eddy_lock_release(c, "b"), on_count, &g[1]);
  next_line(&s);
  next_line(&s);
  eddy_transport_lose_connection(tr(srv(&s)));
  WAIT_FOR(s.r, g[1].done == 1 && lost.conn_lost == 1);
  cr_assert_eq(g[0].err, UV_ENOTCONN);
  cr_assert_eq(g[1].err, UV_ENOTCONN);
  cr_assert_eq(lost.reason, 0);
  cr_assert(eddy_lock_client_lost(c));
  got_t late;
  expect(eddy_lock_acquire(c, "a", NULL), on_grant, &late);
  cr_assert_eq(late.done, 0);
  WAIT_FOR(s.r, late.done == 1);
  cr_assert_eq(late.err, UV_ENOTCONN);
  close_client(&s, c);
  script_end(&s);
}

/* Requests still in flight when the user closes fail with UV_ENOTCONN. */
Test(lock_client, close_fails_requests_in_flight) {
  script_t s;
  script_start(&s);
  eddy_lock_client_t *c = open_client(&s, "w");
  got_t g;
  expect(eddy_lock_acquire(c, "a", NULL), on_grant, &g);
  next_line(&s);
  int closed = 0;
  eddy_lock_client_close(c, closed_cb, &closed);
  WAIT_FOR(s.r, closed == 1);
  cr_assert_eq(g.done, 1);
  cr_assert_eq(g.err, UV_ENOTCONN);
  script_end(&s);
}

/* A cancelled acquire fails at once; when the grant comes anyway the
 * client gives it back by itself. */
Test(lock_client, cancelled_acquire_is_released_when_granted) {
  script_t s;
  script_start(&s);
  eddy_lock_client_t *c = open_client(&s, "w");
  got_t g, after;
  eddy_deferred_t *d = eddy_lock_acquire(c, "a", NULL);
  expect(d, on_grant, &g);
  cr_assert_str_eq(next_line(&s), "acquire a exclusive");
  eddy_deferred_cancel(d);
  cr_assert_eq(g.done, 1);
  cr_assert_eq(g.err, UV_ECANCELED);
  expect(eddy_lock_acquire(c, "b", NULL), on_grant, &after);
  cr_assert_str_eq(next_line(&s), "acquire b exclusive");
  reply(&s, "OK 11\r\nOK 12\r\n");
  cr_assert_str_eq(next_line(&s), "release a");
  WAIT_FOR(s.r, after.done == 1);
  cr_assert_eq(after.grant.token, 12);
  reply(&s, "OK 0\r\n"); /* the client's own release: nobody to tell */
  run_for(s.r, 20);
  cr_assert_eq(g.done, 1);
  close_client(&s, c);
  script_end(&s);
}

/* A reply the client cannot read puts it out of step with the server: the
 * request fails with UV_EPROTO and the connection is dropped. */
Test(lock_client, malformed_reply_drops_connection) {
  script_t s;
  script_start(&s);
  eddy_lock_client_t *c = open_client(&s, "w");
  lost_t lost = {0};
  eddy_lock_client_on_lost(c, on_lost, &lost);
  got_t g[2];
  expect(eddy_lock_acquire(c, "a", NULL), on_grant, &g[0]);
  expect(eddy_lock_acquire(c, "b", NULL), on_grant, &g[1]);
  next_line(&s);
  next_line(&s);
  reply(&s, "OK not-a-number\r\n");
  WAIT_FOR(s.r, g[1].done == 1 && lost.conn_lost == 1);
  cr_assert_eq(g[0].err, UV_EPROTO);
  cr_assert_eq(g[1].err, UV_ENOTCONN);
  cr_assert_eq(lost.reason, UV_ECONNABORTED);
  close_client(&s, c);
  script_end(&s);
}

/* Cancelling the connect while hello is unanswered closes the connection
 * and frees the client (it was never handed out). */
Test(lock_client, cancel_connect_during_hello) {
  script_t s;
  script_start(&s);
  got_t g;
  eddy_deferred_t *d = eddy_lock_client_connect(s.r, s.ep, "w");
  expect(d, on_client, &g);
  cr_assert_str_eq(next_line(&s), "hello w");
  eddy_deferred_cancel(d);
  cr_assert_eq(g.done, 1);
  cr_assert_eq(g.err, UV_ECANCELED);
  WAIT_FOR(s.r, srv(&s)->lost == 1);
  script_end(&s);
}

/* A hello refused by the server fails the connect. */
Test(lock_client, hello_refused) {
  script_t s;
  script_start(&s);
  got_t g;
  expect(eddy_lock_client_connect(s.r, s.ep, "w"), on_client, &g);
  next_line(&s);
  reply(&s, "ERR bad_request no\r\n");
  WAIT_FOR(s.r, g.done == 1);
  cr_assert_eq(g.err, UV_EINVAL);
  WAIT_FOR(s.r, srv(&s)->lost == 1);
  script_end(&s);
}

/* The client's own limit on requests in flight. */
Test(lock_client, pending_limit) {
  script_t s;
  script_start(&s);
  eddy_lock_client_t *c = open_client(&s, "w");
  static got_t g[EDDY_LOCK_CLIENT_PENDING_MAX + 1];
  for (int i = 0; i <= EDDY_LOCK_CLIENT_PENDING_MAX; i++)
    expect(eddy_lock_release(c, "a"), on_count, &g[i]);
  WAIT_FOR(s.r, g[EDDY_LOCK_CLIENT_PENDING_MAX].done == 1);
  cr_assert_eq(g[EDDY_LOCK_CLIENT_PENDING_MAX].err, UV_ENOBUFS);
  cr_assert_eq(g[0].done, 0);
  close_client(&s, c);
  for (int i = 0; i < EDDY_LOCK_CLIENT_PENDING_MAX; i++)
    cr_assert_eq(g[i].err, UV_ENOTCONN);
  script_end(&s);
}

/* ---- Against the real service (eddy/locks.h) in the same reactor ----------
 */

#include <eddy/locks.h>

typedef struct {
  eddy_reactor_t *r;
  eddy_locks_t *locks;
  char ep[64];
} real_t;

static void real_start(real_t *t) {
  t->r = test_reactor(0);
  eddy_locks_opts_t o;
  eddy_locks_opts_init(&o);
  cr_assert_eq(eddy_locks_new(t->r, &o, &t->locks), 0);
  eddy_listener_t *l;
  cr_assert_eq(eddy_locks_listen(t->locks, "tcp:0", &l), 0);
  local_endpoint(t->ep, sizeof(t->ep), l, "");
}

static eddy_lock_client_t *real_client(real_t *t, const char *name) {
  got_t g;
  expect(eddy_lock_client_connect(t->r, t->ep, name), on_client, &g);
  WAIT_FOR(t->r, g.done == 1);
  cr_assert_eq(g.err, 0, "%s", g.msg);
  return g.client;
}

static void real_end(real_t *t) {
  int closed = 0;
  eddy_locks_close(t->locks, closed_cb, &closed);
  WAIT_FOR(t->r, closed == 1);
  test_close_reactor(t->r);
}

static void real_close(real_t *t, eddy_lock_client_t *c) {
  int closed = 0;
  eddy_lock_client_close(c, closed_cb, &closed);
  WAIT_FOR(t->r, closed == 1);
}

Test(lock_client_real, contention_and_release_on_close) {
  real_t t;
  real_start(&t);
  eddy_lock_client_t *a = real_client(&t, "a");
  eddy_lock_client_t *b = real_client(&t, NULL);
  cr_assert_gt(eddy_lock_client_id(a), 0);
  got_t ga, gb, gb2;
  expect(eddy_lock_acquire(a, "res", NULL), on_grant, &ga);
  WAIT_FOR(t.r, ga.done == 1);
  cr_assert_eq(ga.err, 0, "%s", ga.msg);
  eddy_lock_opts_t o;
  eddy_lock_opts_init(&o);
  o.timeout_ms = 0;
  expect(eddy_lock_acquire(b, "res", &o), on_grant, &gb);
  WAIT_FOR(t.r, gb.done == 1);
  cr_assert_eq(gb.err, UV_EBUSY, "%s", gb.msg);
  /* b waits; a's connection closes; b is granted with a larger token. */
  expect(eddy_lock_acquire(b, "res", NULL), on_grant, &gb2);
  run_for(t.r, 30);
  cr_assert_eq(gb2.done, 0);
  real_close(&t, a);
  WAIT_FOR(t.r, gb2.done == 1);
  cr_assert_eq(gb2.err, 0, "%s", gb2.msg);
  cr_assert_gt(gb2.grant.token, ga.grant.token);

  got_t list;
  expect(eddy_lock_list(b, NULL), on_list, &list);
  WAIT_FOR(t.r, list.done == 1);
  cr_assert_eq(list.err, 0, "%s", list.msg);
  cr_assert_eq(list.infos->count, 1);
  cr_assert_str_eq(list.infos->items[0].name, "res");
  cr_assert_eq(list.infos->items[0].state, EDDY_LOCK_EXCLUSIVE);
  eddy_lock_infos_free(list.infos);

  got_t rel;
  expect(eddy_lock_release(b, "res"), on_count, &rel);
  WAIT_FOR(t.r, rel.done == 1);
  cr_assert_eq(rel.err, 0);
  cr_assert_eq(rel.count, 0);
  real_close(&t, b);
  real_end(&t);
}

Test(lock_client_real, lease_expiry_and_reset_are_reported) {
  real_t t;
  real_start(&t);
  eddy_lock_client_t *a = real_client(&t, "a");
  eddy_lock_client_t *b = real_client(&t, "b");
  lost_t lost = {0};
  eddy_lock_client_on_lost(a, on_lost, &lost);
  eddy_lock_opts_t o;
  eddy_lock_opts_init(&o);
  o.lease_ms = 30;
  got_t g;
  expect(eddy_lock_acquire(a, "leased", &o), on_grant, &g);
  WAIT_FOR(t.r, g.done == 1);
  cr_assert_eq(g.err, 0, "%s", g.msg);
  WAIT_FOR(t.r, lost.calls == 1);
  cr_assert_str_eq(lost.name, "leased");
  cr_assert_eq(lost.token, g.grant.token);
  cr_assert_eq(lost.reason, UV_ETIMEDOUT);

  /* a holds, b waits; a reset fails b's wait and tells a. */
  got_t h, w, rs;
  expect(eddy_lock_acquire(a, "x", NULL), on_grant, &h);
  WAIT_FOR(t.r, h.done == 1);
  expect(eddy_lock_acquire(b, "x", NULL), on_grant, &w);
  run_for(t.r, 20);
  expect(eddy_lock_reset(b, NULL), on_count, &rs);
  /* b's reset reply waits behind its own pending acquire (replies come in
   * order), which the reset itself answers. */
  WAIT_FOR(t.r, w.done == 1 && rs.done == 1 && lost.calls == 2);
  cr_assert_eq(w.err, UV_ECANCELED, "%s", w.msg);
  cr_assert_eq(rs.err, 0, "%s", rs.msg);
  cr_assert_geq(rs.count, 1);
  cr_assert_str_eq(lost.name, "x");
  cr_assert_eq(lost.reason, UV_ECANCELED);
  real_close(&t, a);
  real_close(&t, b);
  real_end(&t);
}

/* A long list grows as its LOCK lines arrive, up to the protocol's 1000. */
Test(lock_client, long_list) {
  script_t s;
  script_start(&s);
  eddy_lock_client_t *c = open_client(&s, "w");
  got_t g;
  expect(eddy_lock_list(c, "k"), on_list, &g);
  cr_assert_str_eq(next_line(&s), "list k");
  char line[64];
  for (int i = 0; i < 1005; i++) {
    snprintf(line, sizeof(line), "LOCK k%04d free holders=0 waiters=%d\r\n", i,
             i);
    cr_assert_eq(eddy_transport_write_str(tr(srv(&s)), line), 0);
  }
  reply(&s, "OK 1000 2000\r\n");
  WAIT_FOR(s.r, g.done == 1);
  cr_assert_eq(g.err, 0, "%s", g.msg);
  cr_assert_eq(g.infos->count, 1000);
  cr_assert_eq(g.infos->total, 2000);
  cr_assert_str_eq(g.infos->items[999].name, "k0999");
  cr_assert_eq(g.infos->items[999].waiters, 999);
  cr_assert_eq(g.infos->items[0].state, EDDY_LOCK_FREE);
  eddy_lock_infos_free(g.infos);
  close_client(&s, c);
  script_end(&s);
}
