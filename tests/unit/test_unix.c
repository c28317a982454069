/* test_unix.c — the stream transport over Unix sockets: echo, addresses,
 * half-close, the socket file's mode, stale-file handling and cleanup. */
#include "net_support.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- A temporary directory per test ----------------------------------------
 */

typedef struct {
  char dir[64];
  char path[128];
  char ep[192];
} place_t;

static void place_init(place_t *pl, const char *name) {
  snprintf(pl->dir, sizeof(pl->dir), "/tmp/eddy-unix-XXXXXX");
  cr_assert_not_null(mkdtemp(pl->dir));
  snprintf(pl->path, sizeof(pl->path), "%s/%s", pl->dir, name);
  snprintf(pl->ep, sizeof(pl->ep), "unix:%s", pl->path);
}

static void place_free(place_t *pl) {
  unlink(pl->path);
  cr_assert_eq(rmdir(pl->dir), 0, "rmdir %s: %s", pl->dir, strerror(errno));
}

/* ---- Tests ------------------------------------------------------------------
 */

Test(unix, echo_and_addresses) {
  eddy_reactor_t *r = test_reactor(0);
  place_t pl;
  place_init(&pl, "echo.sock");
  side_t server, client;
  side_init(&server);
  side_init(&client);
  server.echo = 1;
  eddy_listener_t *l = listen_on(r, pl.ep, &server);
  peer_t *c = connect_to(r, pl.ep, &client, &server);
  peer_t *s = &server.peers[0];
  cr_assert_eq(eddy_transport_write_str(tr(c), "over a unix socket"), 0);
  WAIT_FOR(r, c->in.len == 18);
  cr_assert_eq(memcmp(c->in.data, "over a unix socket", 18), 0);

  char a[192];
  eddy_addr_t addr;
  cr_assert_eq(eddy_listener_address(l, &addr), 0);
  eddy_addr_format(&addr, a, sizeof(a));
  cr_assert_str_eq(a, pl.ep);
  cr_assert_eq(eddy_transport_get_host(tr(s), &addr), 0);
  eddy_addr_format(&addr, a, sizeof(a));
  cr_assert_str_eq(a, pl.ep);
  cr_assert_eq(eddy_transport_get_peer(tr(c), &addr), 0);
  eddy_addr_format(&addr, a, sizeof(a));
  cr_assert_str_eq(a, pl.ep);
  /* The client's end has no name. */
  cr_assert_eq(eddy_transport_get_peer(tr(s), &addr), 0);
  cr_assert_eq(addr.len, 0);
  cr_assert_eq(addr.ss.ss_family, AF_UNIX);

  cr_assert_eq(eddy_transport_set_nodelay(tr(c), 1), UV_ENOTSUP);
  cr_assert_eq(eddy_transport_set_keepalive(tr(c), 1, 10), UV_ENOTSUP);
  eddy_transport_lose_connection(tr(c));
  WAIT_FOR(r, c->destroyed && s->destroyed);
  cr_assert_eq(c->reason, 0);
  cr_assert_eq(s->reason, 0);
  finish(r, l, &server, &client);
  struct stat st;
  cr_assert_eq(lstat(pl.path, &st), -1, "socket file left behind");
  place_free(&pl);
}

static int reply_then_lose(peer_t *p) {
  cr_assert_eq(eddy_transport_write_str(tr(p), "pong"), 0);
  eddy_transport_lose_connection(tr(p));
  return 1;
}

Test(unix, half_close) {
  eddy_reactor_t *r = test_reactor(0);
  place_t pl;
  place_init(&pl, "half.sock");
  side_t server, client;
  side_init(&server);
  side_init(&client);
  server.on_eof = reply_then_lose;
  eddy_listener_t *l = listen_on(r, pl.ep, &server);
  peer_t *c = connect_to(r, pl.ep, &client, &server);
  peer_t *s = &server.peers[0];
  cr_assert_eq(eddy_transport_write_str(tr(c), "ping"), 0);
  cr_assert_eq(eddy_transport_shutdown_write(tr(c)), 0);
  WAIT_FOR(r, c->destroyed && s->destroyed);
  cr_assert_eq(s->in.len, 4);
  cr_assert_eq(c->in.len, 4);
  cr_assert_eq(memcmp(c->in.data, "pong", 4), 0);
  cr_assert_eq(s->reason, 0);
  cr_assert_eq(c->reason, 0);
  finish(r, l, &server, &client);
  place_free(&pl);
}

static void write_big_and_lose(peer_t *p) {
  size_t len = 4u << 20;
  char *buf = malloc(len);
  cr_assert_not_null(buf);
  for (size_t i = 0; i < len; i++)
    buf[i] = (char)(i % 253u);
  cr_assert_eq(eddy_transport_write(tr(p), buf, len), 0);
  free(buf);
  eddy_transport_lose_connection(tr(p));
}

Test(unix, big_write_then_lose) {
  eddy_reactor_t *r = test_reactor(0);
  place_t pl;
  place_init(&pl, "big.sock");
  side_t server, client;
  side_init(&server);
  side_init(&client);
  server.on_made = write_big_and_lose;
  eddy_listener_t *l = listen_on(r, pl.ep, &server);
  peer_t *c = connect_to(r, pl.ep, &client, &server);
  WAIT_FOR(r, c->destroyed && server.peers[0].destroyed);
  cr_assert_eq(c->in.len, 4u << 20);
  for (size_t i = 0; i < c->in.len; i++)
    if (c->in.data[i] != (char)(i % 253u))
      cr_assert_fail("byte %zu out of order", i);
  /* Closing began in the same call: no water-mark news any more. */
  cr_assert_eq(server.peers[0].pauses, 0);
  cr_assert_eq(server.peers[0].reason, 0);
  finish(r, l, &server, &client);
  place_free(&pl);
}

Test(unix, socket_mode) {
  eddy_reactor_t *r = test_reactor(0);
  place_t pl;
  place_init(&pl, "mode.sock");
  side_t server;
  side_init(&server);
  char ep[256];
  snprintf(ep, sizeof(ep), "%s:mode=0600", pl.ep);
  eddy_listener_t *l = listen_on(r, ep, &server);
  struct stat st;
  cr_assert_eq(lstat(pl.path, &st), 0);
  cr_assert(S_ISSOCK(st.st_mode));
  cr_assert_eq(st.st_mode & 07777, 0600);
  finish(r, l, &server, &server);

  r = test_reactor(0);
  snprintf(ep, sizeof(ep), "%s:mode=0666", pl.ep);
  l = listen_on(r, ep, &server);
  cr_assert_eq(lstat(pl.path, &st), 0);
  cr_assert_eq(st.st_mode & 07777, 0666);
  finish(r, l, &server, &server);
  place_free(&pl);
}

/* Leaves a socket file nobody listens on, as a crashed process would. */
static void make_stale_socket(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  cr_assert_geq(fd, 0);
  struct sockaddr_un sun;
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  strcpy(sun.sun_path, path);
  cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
  close(fd);
}

Test(unix, stale_socket_file_is_replaced) {
  eddy_reactor_t *r = test_reactor(0);
  place_t pl;
  place_init(&pl, "stale.sock");
  make_stale_socket(pl.path);
  side_t server, client;
  side_init(&server);
  side_init(&client);
  server.echo = 1;
  eddy_listener_t *l = listen_on(r, pl.ep, &server);
  peer_t *c = connect_to(r, pl.ep, &client, &server);
  cr_assert_eq(eddy_transport_write_str(tr(c), "fresh"), 0);
  WAIT_FOR(r, c->in.len == 5);
  eddy_transport_lose_connection(tr(c));
  WAIT_FOR(r, c->destroyed && server.peers[0].destroyed);
  finish(r, l, &server, &client);
  place_free(&pl);
}

Test(unix, live_socket_is_not_taken_over) {
  eddy_reactor_t *r = test_reactor(0);
  place_t pl;
  place_init(&pl, "live.sock");
  side_t server, other, client;
  side_init(&server);
  side_init(&other);
  side_init(&client);
  server.echo = 1;
  eddy_listener_t *l = listen_on(r, pl.ep, &server);
  eddy_listener_t *l2 = NULL;
  cr_assert_eq(eddy_listen(r, pl.ep, &other.f, &l2), UV_EADDRINUSE);
  cr_assert_null(l2);
  /* The first listener still owns the path (the probe connection it saw is
   * gone by now). */
  peer_t *c = connect_to(r, pl.ep, &client, &server);
  cr_assert_eq(eddy_transport_write_str(tr(c), "mine"), 0);
  WAIT_FOR(r, c->in.len == 4);
  eddy_transport_lose_connection(tr(c));
  WAIT_FOR(r, c->destroyed);
  for (int i = 0; i < server.n; i++)
    WAIT_FOR(r, server.peers[i].destroyed);
  cr_assert_eq(other.n, 0);
  finish(r, l, &server, &client);
  place_free(&pl);
}

Test(unix, other_files_are_left_alone) {
  eddy_reactor_t *r = test_reactor(0);
  place_t pl;
  place_init(&pl, "precious.txt");
  FILE *f = fopen(pl.path, "w");
  cr_assert_not_null(f);
  fputs("keep me", f);
  fclose(f);
  side_t server;
  side_init(&server);
  eddy_listener_t *l = NULL;
  cr_assert_eq(eddy_listen(r, pl.ep, &server.f, &l), UV_EADDRINUSE);
  cr_assert_null(l);
  struct stat st;
  cr_assert_eq(lstat(pl.path, &st), 0);
  cr_assert(S_ISREG(st.st_mode));
  cr_assert_eq(st.st_size, 7);
  test_close_reactor(r);
  place_free(&pl);
}

Test(unix, replaced_file_is_not_unlinked_on_close) {
  eddy_reactor_t *r = test_reactor(0);
  place_t pl;
  place_init(&pl, "moved.sock");
  side_t server;
  side_init(&server);
  eddy_listener_t *l = listen_on(r, pl.ep, &server);
  /* Someone else takes the path over while we listen. */
  cr_assert_eq(unlink(pl.path), 0);
  FILE *f = fopen(pl.path, "w");
  cr_assert_not_null(f);
  fclose(f);
  finish(r, l, &server, &server);
  struct stat st;
  cr_assert_eq(lstat(pl.path, &st), 0, "someone else's file was removed");
  place_free(&pl);
}

Test(unix, bad_paths) {
  eddy_reactor_t *r = test_reactor(0);
  side_t server;
  side_init(&server);
  eddy_listener_t *l = NULL;
  eddy_endpoint_t ep = {.kind = EDDY_ENDPOINT_UNIX, .server = 1};
  memset(ep.path, 'a', sizeof(ep.path)); /* no room left for the NUL */
  cr_assert_eq(eddy_listen_endpoint(r, &ep, &server.f, &l), UV_ENAMETOOLONG);
  ep.path[0] = '\0';
  cr_assert_eq(eddy_listen_endpoint(r, &ep, &server.f, &l), UV_EINVAL);
  strcpy(ep.path, "/nonexistent-dir-for-eddy/s.sock");
  /* libuv reports a missing directory as EACCES, as Windows would. */
  int rc = eddy_listen_endpoint(r, &ep, &server.f, &l);
  cr_assert(rc == UV_EACCES || rc == UV_ENOENT, "%s", eddy_strerror(rc));
  cr_assert_null(l);
  test_close_reactor(r);
}

Test(unix, factory_refusing) {
  eddy_reactor_t *r = test_reactor(0);
  place_t pl;
  place_init(&pl, "refuse.sock");
  side_t server, client;
  side_init(&server);
  side_init(&client);
  server.refuse = 1;
  eddy_listener_t *l = listen_on(r, pl.ep, &server);
  peer_t *c = connect_to(r, pl.ep, &client, &server);
  WAIT_FOR(r, c->destroyed);
  cr_assert_eq(server.n, 0);
  cr_assert(c->reason == 0 || c->reason == UV_ECONNRESET);
  finish(r, l, &server, &client);
  place_free(&pl);
}
