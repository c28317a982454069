/* test_connect.c — eddy_connect: addresses and names, refusal, timeouts
 * (on the fake clock), cancellation at every stage, and errors that must be
 * delivered on a later iteration. Only loopback addresses are used. */
#include "net_support.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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

/* ---- Success --------------------------------------------------------------
 */

Test(connect, to_an_address) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  eddy_listener_t *l = listen_on(r, "tcp:0", &server);
  char ep[64];
  local_endpoint(ep, sizeof(ep), l, ":timeout=0.5");
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
  local_endpoint(ep, sizeof(ep), l, "");
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
  local_endpoint(ep, sizeof(ep), l, "");
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
  local_endpoint(ep, sizeof(ep), l, ":timeout=1");
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
  local_endpoint(ep, sizeof(ep), l, "");
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
  local_endpoint(ep, sizeof(ep), l, "");
  outcome_t o;
  client.user = start(r, ep, &client, &o);
  WAIT_FOR(r, o.done);
  cr_assert_eq(o.err, UV_ECANCELED);
  WAIT_FOR(r, client.n == 1 && client.peers[0].destroyed);
  cr_assert_eq(client.peers[0].reason, UV_ECONNABORTED);
  finish(r, l, &server, &client);
}
