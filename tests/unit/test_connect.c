/* test_connect.c — eddy_connect: addresses and names, refusal, timeouts
 * (on the fake clock), cancellation at every stage, and errors that must be
 * delivered on a later iteration. Only loopback addresses are used. */
#include "support.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- A recording protocol --------------------------------------------------
 * A side (server or client) hands out protocols from a fixed array, so the
 * test can inspect them after connection_lost and destroy. */

#define MAX_PEERS 8

typedef struct side_s side_t;
typedef struct peer_s {
  eddy_protocol_t base;
  side_t *side;
  eddy_buf_t in;
  int made, lost, reason, eofs, pauses, resumes, destroyed;
} peer_t;

struct side_s {
  eddy_factory_t f;
  peer_t peers[MAX_PEERS];
  int n;
  int refuse;
  int echo;
  int keep_open; /* what eof_received answers without on_eof */
  void (*on_made)(peer_t *p);
  void (*on_data)(peer_t *p);
  int (*on_eof)(peer_t *p);
  void (*on_pause)(peer_t *p);
  void (*on_resume)(peer_t *p);
  void *user;
};

static void p_made(eddy_protocol_t *bp) {
  peer_t *p = (peer_t *)bp;
  cr_assert_not_null(bp->transport);
  p->made++;
  if (p->side->on_made != NULL)
    p->side->on_made(p);
}

static void p_data(eddy_protocol_t *bp, const char *data, size_t len) {
  peer_t *p = (peer_t *)bp;
  cr_assert_eq(p->lost, 0);
  cr_assert_eq(eddy_buf_append(&p->in, data, len), 0);
  if (p->side->echo)
    cr_assert_eq(eddy_transport_write(bp->transport, data, len), 0);
  if (p->side->on_data != NULL)
    p->side->on_data(p);
}

static int p_eof(eddy_protocol_t *bp) {
  peer_t *p = (peer_t *)bp;
  p->eofs++;
  return p->side->on_eof != NULL ? p->side->on_eof(p) : p->side->keep_open;
}

static void p_lost(eddy_protocol_t *bp, int reason) {
  peer_t *p = (peer_t *)bp;
  cr_assert_eq(p->lost, 0, "connection_lost called twice");
  cr_assert_not_null(bp->transport);
  p->lost = 1;
  p->reason = reason;
}

static void p_pause(eddy_protocol_t *bp) {
  peer_t *p = (peer_t *)bp;
  p->pauses++;
  if (p->side->on_pause != NULL)
    p->side->on_pause(p);
}

static void p_resume(eddy_protocol_t *bp) {
  peer_t *p = (peer_t *)bp;
  p->resumes++;
  if (p->side->on_resume != NULL)
    p->side->on_resume(p);
}

static void p_destroy(eddy_protocol_t *bp) {
  peer_t *p = (peer_t *)bp;
  cr_assert_eq(p->lost, 1, "destroy before connection_lost");
  p->destroyed++;
}

static const eddy_protocol_ops_t peer_ops = {
    .connection_made = p_made,
    .data_received = p_data,
    .eof_received = p_eof,
    .connection_lost = p_lost,
    .pause_writing = p_pause,
    .resume_writing = p_resume,
    .destroy = p_destroy,
};

static eddy_protocol_t *side_build(eddy_factory_t *f, const eddy_addr_t *a) {
  side_t *s = (side_t *)f;
  (void)a;
  if (s->refuse || s->n == MAX_PEERS)
    return NULL;
  peer_t *p = &s->peers[s->n++];
  memset(p, 0, sizeof(*p));
  eddy_protocol_init(&p->base, &peer_ops);
  p->side = s;
  eddy_buf_init(&p->in, 64u << 20);
  return &p->base;
}

static void side_init(side_t *s) {
  memset(s, 0, sizeof(*s));
  s->f.build_protocol = side_build;
}

static void side_free(side_t *s) {
  for (int i = 0; i < s->n; i++)
    eddy_buf_free(&s->peers[i].in);
}

static eddy_transport_t *tr(peer_t *p) {
  return p->base.transport;
}

/* ---- Running the loop -----------------------------------------------------
 */

/* Only reached when something is wrong (or the machine is badly loaded). */
#define WAIT_MS 15000

static void guard_cb(eddy_timer_t *t) {
  *(int *)t->data = 1;
}

#define WAIT_FOR(r, cond)                                                      \
  do {                                                                         \
    int expired_ = 0;                                                          \
    eddy_timer_t guard_;                                                       \
    eddy_timer_init((r), &guard_);                                             \
    guard_.data = &expired_;                                                   \
    eddy_timer_start(&guard_, WAIT_MS, guard_cb);                              \
    while (!(cond) && !expired_)                                               \
      eddy_reactor_run_once((r), 1);                                           \
    eddy_timer_stop(&guard_);                                                  \
    cr_assert((cond), "timed out waiting for: %s", #cond);                     \
  } while (0)

/* On a fake clock the guard timer of WAIT_FOR never fires: spin instead. */
#define SPIN_FOR(r, cond)                                                      \
  do {                                                                         \
    uint64_t end_ = uv_hrtime() + WAIT_MS * 1000000ull;                        \
    while (!(cond) && uv_hrtime() < end_)                                      \
      eddy_reactor_run_once((r), 0);                                           \
    cr_assert((cond), "timed out waiting for: %s", #cond);                     \
  } while (0)

typedef struct {
  int done;
  int err;
  int owned; /* the success value came with a free function */
  char msg[256];
  peer_t *peer;
} outcome_t;

static void got_ok(eddy_result_t *res, void *arg) {
  outcome_t *o = arg;
  o->done++;
  o->peer = res->value;
  o->owned = res->free != NULL;
  cr_assert_eq(o->peer->made, 1, "fired before connection_made");
}

static void got_err(eddy_result_t *res, void *arg) {
  outcome_t *o = arg;
  o->done++;
  o->err = res->err;
  snprintf(o->msg, sizeof(o->msg), "%s", eddy_result_message(res));
  eddy_result_recover(res);
}

/* Starts a connect and checks it did not fire inside eddy_connect. */
static eddy_deferred_t *start(eddy_reactor_t *r, const char *ep, side_t *client,
                              outcome_t *o) {
  memset(o, 0, sizeof(*o));
  eddy_deferred_t *d = eddy_connect(r, ep, &client->f);
  cr_assert_not_null(d);
  cr_assert_eq(eddy_deferred_add_callbacks(d, got_ok, got_err, o), 0);
  cr_assert_eq(o->done, 0, "fired before eddy_connect returned");
  return d;
}

static eddy_listener_t *listen_on(eddy_reactor_t *r, const char *ep,
                                  side_t *server) {
  eddy_listener_t *l = NULL;
  int rc = eddy_listen(r, ep, &server->f, &l);
  cr_assert_eq(rc, 0, "listen %s: %s", ep, eddy_strerror(rc));
  return l;
}

static void closed_cb(void *arg) {
  (*(int *)arg)++;
}

static void all_destroyed(eddy_reactor_t *r, side_t *s) {
  for (int i = 0; i < s->n; i++)
    SPIN_FOR(r, s->peers[i].destroyed);
}

static void finish(eddy_reactor_t *r, eddy_listener_t *l, side_t *a,
                   side_t *b) {
  if (l != NULL)
    eddy_listener_close(l, NULL, NULL);
  all_destroyed(r, a);
  all_destroyed(r, b);
  test_close_reactor(r);
  side_free(a);
  side_free(b);
}

/* ---- Success --------------------------------------------------------------
 */

Test(connect, to_an_address) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  char ep[64];
  snprintf(ep, sizeof(ep), "tcp:127.0.0.1:%d:timeout=0.5",
           eddy_listener_port(l));
  outcome_t o;
  start(r, ep, &client, &o);
  WAIT_FOR(r, o.done);
  cr_assert_eq(o.err, 0, "%s", o.msg);
  cr_assert_eq(o.done, 1);
  cr_assert_eq(o.owned, 0, "the protocol is not owned by the result");
  cr_assert_eq(o.peer, &client.peers[0]);
  cr_assert_eq(o.peer->base.factory, &client.f);
  eddy_transport_lose_connection(tr(o.peer));
  finish(r, l, &server, &client);
}

Test(connect, to_a_name) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  server.echo = 1;
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  char ep[64];
  /* localhost may resolve to ::1 first, where nobody listens: the next
   * address is tried. */
  snprintf(ep, sizeof(ep), "tcp:localhost:%d", eddy_listener_port(l));
  outcome_t o;
  start(r, ep, &client, &o);
  WAIT_FOR(r, o.done);
  cr_assert_eq(o.err, 0, "%s", o.msg);
  eddy_addr_t peer;
  cr_assert_eq(eddy_transport_get_peer(tr(o.peer), &peer), 0);
  cr_assert_eq(eddy_addr_port(&peer), eddy_listener_port(l));
  cr_assert_eq(eddy_transport_write_str(tr(o.peer), "hi"), 0);
  WAIT_FOR(r, o.peer->in.len == 2);
  eddy_transport_lose_connection(tr(o.peer));
  finish(r, l, &server, &client);
}

Test(connect, by_hand_endpoint_and_many_at_once) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  eddy_endpoint_t ep = {.kind = EDDY_ENDPOINT_TCP};
  strcpy(ep.host, "127.0.0.1");
  ep.port = (uint16_t)eddy_listener_port(l);
  enum { N = 6 };
  outcome_t o[N];
  for (int i = 0; i < N; i++) {
    memset(&o[i], 0, sizeof(o[i]));
    eddy_deferred_t *d = eddy_connect_endpoint(r, &ep, &client.f);
    cr_assert_not_null(d);
    eddy_deferred_add_callbacks(d, got_ok, got_err, &o[i]);
    cr_assert_eq(o[i].done, 0);
  }
  for (int i = 0; i < N; i++) {
    WAIT_FOR(r, o[i].done);
    cr_assert_eq(o[i].err, 0, "%s", o[i].msg);
  }
  WAIT_FOR(r, server.n == N);
  for (int i = 0; i < N; i++)
    eddy_transport_abort_connection(tr(o[i].peer));
  finish(r, l, &server, &client);
}

Test(connect, unix_socket) {
  eddy_reactor_t *r = test_reactor(0);
  char dir[] = "/tmp/eddy-connect-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char ep[128];
  snprintf(ep, sizeof(ep), "unix:%s/s.sock", dir);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  eddy_listener_t *l = listen_on(r, ep, &server);
  outcome_t o;
  start(r, ep, &client, &o);
  WAIT_FOR(r, o.done);
  cr_assert_eq(o.err, 0, "%s", o.msg);
  eddy_transport_lose_connection(tr(o.peer));
  int closed = 0;
  eddy_listener_close(l, closed_cb, &closed);
  WAIT_FOR(r, closed);
  /* Now nothing is there. */
  start(r, ep, &client, &o);
  WAIT_FOR(r, o.done);
  cr_assert_eq(o.err, UV_ENOENT, "%s", o.msg);
  finish(r, NULL, &server, &client);
  cr_assert_eq(rmdir(dir), 0);
}

/* ---- Failures -------------------------------------------------------------
 */

Test(connect, refused) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  int port = eddy_listener_port(l);
  int closed = 0;
  eddy_listener_close(l, closed_cb, &closed);
  WAIT_FOR(r, closed);
  char ep[64];
  snprintf(ep, sizeof(ep), "tcp:127.0.0.1:%d", port);
  outcome_t o;
  start(r, ep, &client, &o);
  WAIT_FOR(r, o.done);
  cr_assert_eq(o.err, UV_ECONNREFUSED, "%s", o.msg);
  cr_assert_eq(client.n, 0);
  cr_assert_not_null(strstr(o.msg, ep + 4), "message: %s", o.msg);
  finish(r, NULL, &server, &client);
}

Test(connect, stale_unix_socket_refuses) {
  eddy_reactor_t *r = test_reactor(0);
  char dir[] = "/tmp/eddy-connect-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char path[96], ep[128];
  snprintf(path, sizeof(path), "%s/dead.sock", dir);
  snprintf(ep, sizeof(ep), "unix:%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  strcpy(sun.sun_path, path);
  cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
  close(fd);
  side_t client;
  side_init(&client);
  outcome_t o;
  start(r, ep, &client, &o);
  WAIT_FOR(r, o.done);
  cr_assert_eq(o.err, UV_ECONNREFUSED, "%s", o.msg);
  test_close_reactor(r);
  unlink(path);
  cr_assert_eq(rmdir(dir), 0);
}

Test(connect, parse_error_on_the_next_iteration) {
  eddy_reactor_t *r = test_reactor(0);
  side_t client;
  side_init(&client);
  outcome_t o;
  start(r, "tcp:nohost", &client, &o);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(o.done, 1);
  cr_assert_eq(o.err, EDDY_EPARSE);
  cr_assert_not_null(strstr(o.msg, "tcp:nohost"), "message: %s", o.msg);
  start(r, "bogus:1:2", &client, &o);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(o.err, EDDY_EPARSE);
  test_close_reactor(r);
}

Test(connect, bad_arguments_fail_later) {
  eddy_reactor_t *r = test_reactor(0);
  side_t client;
  side_init(&client);
  outcome_t o = {0};
  cr_assert_null(eddy_connect(NULL, "tcp:127.0.0.1:1", &client.f));
  eddy_deferred_t *d = eddy_connect(r, "tcp:127.0.0.1:1", NULL);
  eddy_deferred_add_callbacks(d, got_ok, got_err, &o);
  cr_assert_eq(o.done, 0);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(o.err, UV_EINVAL);

  eddy_endpoint_t ep = {.kind = EDDY_ENDPOINT_TCP, .port = 80};
  memset(&o, 0, sizeof(o));
  d = eddy_connect_endpoint(r, &ep, &client.f); /* no host */
  eddy_deferred_add_callbacks(d, got_ok, got_err, &o);
  cr_assert_eq(o.done, 0);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(o.err, UV_EINVAL);

  ep.kind = EDDY_ENDPOINT_UNIX;
  memset(ep.path, 'p', sizeof(ep.path));
  memset(&o, 0, sizeof(o));
  d = eddy_connect_endpoint(r, &ep, &client.f);
  eddy_deferred_add_callbacks(d, got_ok, got_err, &o);
  cr_assert_eq(o.done, 0);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(o.err, UV_ENAMETOOLONG);
  test_close_reactor(r);
}

Test(connect, factory_refusing) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  client.refuse = 1;
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  char ep[64];
  snprintf(ep, sizeof(ep), "tcp:127.0.0.1:%d", eddy_listener_port(l));
  outcome_t o;
  start(r, ep, &client, &o);
  WAIT_FOR(r, o.done);
  cr_assert_eq(o.err, UV_ECONNABORTED, "%s", o.msg);
  cr_assert_not_null(strstr(o.msg, "refused"), "message: %s", o.msg);
  finish(r, l, &server, &client);
}

/* ---- Timeouts, on the fake clock --------------------------------------------
 */

Test(connect, timeout_while_resolving) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  side_t client;
  side_init(&client);
  outcome_t o;
  /* The lookup runs in libuv's thread pool and can only report back from a
   * loop iteration, so it is certainly still pending here. */
  start(r, "tcp:localhost:9:timeout=2", &client, &o);
  eddy_reactor_advance(r, 1999);
  cr_assert_eq(o.done, 0);
  eddy_reactor_advance(r, 1);
  cr_assert_eq(o.done, 1);
  cr_assert_eq(o.err, UV_ETIMEDOUT, "%s", o.msg);
  cr_assert_eq(client.n, 0);
  test_close_reactor(r);
}

Test(connect, timeout_while_connecting) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  char ep[64];
  snprintf(ep, sizeof(ep), "tcp:127.0.0.1:%d", eddy_listener_port(l));
  outcome_t o;
  /* The connect callback needs a loop iteration: still pending here. */
  start(r, ep, &client, &o);
  eddy_reactor_advance(r, 29999); /* the default is 30 s */
  cr_assert_eq(o.done, 0);
  eddy_reactor_advance(r, 1);
  cr_assert_eq(o.err, UV_ETIMEDOUT, "%s", o.msg);
  /* The abandoned attempt never reaches the client's factory. */
  for (int i = 0; i < 20; i++)
    eddy_reactor_run_once(r, 0);
  cr_assert_eq(client.n, 0);
  finish(r, l, &server, &client);
}

Test(connect, timer_stops_after_success) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  char ep[64];
  snprintf(ep, sizeof(ep), "tcp:127.0.0.1:%d:timeout=1", eddy_listener_port(l));
  outcome_t o;
  start(r, ep, &client, &o);
  SPIN_FOR(r, o.done);
  cr_assert_eq(o.err, 0, "%s", o.msg);
  cr_assert_eq(eddy_reactor_advance(r, 5000), 0, "a timer was left armed");
  cr_assert_eq(o.done, 1);
  eddy_transport_lose_connection(tr(o.peer));
  finish(r, l, &server, &client);
}

/* ---- Cancellation ---------------------------------------------------------
 */

Test(connect, cancel_while_connecting) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  char ep[64];
  snprintf(ep, sizeof(ep), "tcp:127.0.0.1:%d", eddy_listener_port(l));
  outcome_t o;
  eddy_deferred_t *d = start(r, ep, &client, &o);
  eddy_deferred_cancel(d);
  cr_assert_eq(o.done, 1);
  cr_assert_eq(o.err, UV_ECANCELED);
  for (int i = 0; i < 20; i++)
    eddy_reactor_run_once(r, 0);
  cr_assert_eq(client.n, 0);
  cr_assert_eq(o.done, 1);
  finish(r, l, &server, &client);
}

Test(connect, cancel_while_resolving) {
  eddy_reactor_t *r = test_reactor(0);
  side_t client;
  side_init(&client);
  outcome_t o;
  eddy_deferred_t *d = start(r, "tcp:localhost:9", &client, &o);
  eddy_deferred_cancel(d);
  cr_assert_eq(o.err, UV_ECANCELED);
  test_close_reactor(r);
  cr_assert_eq(client.n, 0);
  cr_assert_eq(o.done, 1);
}

static void cancel_in_made(peer_t *p) {
  eddy_deferred_cancel(p->side->user);
}

Test(connect, cancel_inside_connection_made_aborts) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  client.on_made = cancel_in_made;
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  char ep[64];
  snprintf(ep, sizeof(ep), "tcp:127.0.0.1:%d", eddy_listener_port(l));
  outcome_t o;
  client.user = start(r, ep, &client, &o);
  WAIT_FOR(r, o.done);
  cr_assert_eq(o.err, UV_ECANCELED);
  WAIT_FOR(r, client.n == 1 && client.peers[0].destroyed);
  cr_assert_eq(client.peers[0].reason, UV_ECONNABORTED);
  finish(r, l, &server, &client);
}
