/* test_reconnect.c — the reconnecting client (eddy/reconnect.h), on a
 * fake-clock reactor: the clock drives the retry delays, while socket I/O
 * still needs loop iterations. */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- Protocols ------------------------------------------------------------
 */

typedef struct world_s world_t;

typedef struct proto_s {
  eddy_protocol_t base;
  world_t *w;
  int server;
} proto_t;

struct world_s {
  eddy_reactor_t *r;
  char dir[64];
  char path[128];
  char endpoint[160];
  eddy_factory_t client_f;
  eddy_factory_t server_f;
  eddy_listener_t *listener;
  int listener_closed;
  proto_t *server_proto; /* the latest accepted connection */
  int live_protocols;
  int server_made;

  eddy_reconnect_opts_t o; /* world_init's; a test may change them */

  /* What the reconnecting client reported. */
  eddy_reconnecting_t *rc;
  int connected;
  int failures;
  int lost;
  int last_err;
  uint64_t last_delay;
  int lost_reason;
  eddy_protocol_t *last_proto;
  double u; /* what random() returns */
  int stop_in_failed;
  int protocol_seen_in_cb;
};

static void proto_made(eddy_protocol_t *p) {
  proto_t *pp = (proto_t *)p;
  if (pp->server) {
    pp->w->server_proto = pp;
    pp->w->server_made++;
  }
}

static void proto_lost(eddy_protocol_t *p, int reason) {
  proto_t *pp = (proto_t *)p;
  (void)reason;
  if (pp->w->server_proto == pp)
    pp->w->server_proto = NULL;
}

static void proto_destroy(eddy_protocol_t *p) {
  proto_t *pp = (proto_t *)p;
  pp->w->live_protocols--;
  free(pp);
}

static const eddy_protocol_ops_t proto_ops = {
    .connection_made = proto_made,
    .connection_lost = proto_lost,
    .destroy = proto_destroy,
};

static eddy_protocol_t *build(eddy_factory_t *f, int server) {
  world_t *w = f->data;
  proto_t *pp = calloc(1, sizeof(*pp));
  cr_assert_not_null(pp);
  eddy_protocol_init(&pp->base, &proto_ops);
  pp->w = w;
  pp->server = server;
  w->live_protocols++;
  return &pp->base;
}

static eddy_protocol_t *build_client(eddy_factory_t *f,
                                     const eddy_addr_t *peer) {
  (void)peer;
  return build(f, 0);
}

static eddy_protocol_t *build_server(eddy_factory_t *f,
                                     const eddy_addr_t *peer) {
  (void)peer;
  return build(f, 1);
}

/* ---- Observers -------------------------------------------------------------
 */

static void on_connected(eddy_reconnecting_t *rc, eddy_protocol_t *p,
                         void *arg) {
  world_t *w = arg;
  w->connected++;
  w->last_proto = p;
  w->protocol_seen_in_cb = eddy_reconnecting_protocol(rc) == p;
}

static void on_failed(eddy_reconnecting_t *rc, int err, uint64_t delay,
                      void *arg) {
  world_t *w = arg;
  w->failures++;
  w->last_err = err;
  w->last_delay = delay;
  if (w->stop_in_failed) {
    eddy_reconnecting_stop(rc);
    w->rc = NULL;
  }
}

static void on_lost(eddy_reconnecting_t *rc, int reason, uint64_t delay,
                    void *arg) {
  world_t *w = arg;
  (void)rc;
  w->lost++;
  w->lost_reason = reason;
  w->last_delay = delay;
}

static double fixed_random(void *arg) {
  return ((world_t *)arg)->u;
}

/* ---- Helpers
 * ----------------------------------------------------------------- */

/* Backoff from 100 ms, doubling up to 1000 ms, with 10 % jitter (drawn
 * from w->u); every observer records into w. */
static void world_opts(world_t *w, eddy_reconnect_opts_t *o) {
  eddy_reconnect_opts_init(o);
  o->backoff.initial_ms = 100;
  o->backoff.max_ms = 1000;
  o->backoff.factor = 2.0;
  o->backoff.jitter = 0.1;
  o->connected = on_connected;
  o->connect_failed = on_failed;
  o->connection_lost = on_lost;
  o->arg = w;
  o->random = fixed_random;
}

static void world_init(world_t *w, eddy_reactor_t *r) {
  memset(w, 0, sizeof(*w));
  w->r = r;
  snprintf(w->dir, sizeof(w->dir), "/tmp/eddy-rc-XXXXXX");
  cr_assert_not_null(mkdtemp(w->dir));
  snprintf(w->path, sizeof(w->path), "%s/s.sock", w->dir);
  snprintf(w->endpoint, sizeof(w->endpoint), "unix:%s", w->path);
  w->client_f.build_protocol = build_client;
  w->client_f.data = w;
  w->server_f.build_protocol = build_server;
  w->server_f.data = w;
  w->u = 0.5;
  world_opts(w, &w->o);
}

/* Runs loop iterations (no waiting on the fake clock) until *flag reaches
 * want, for at most ~3 s of real time. */
static int pump_until(world_t *w, const int *flag, int want) {
  uint64_t start = uv_hrtime();
  while (*flag < want) {
    eddy_reactor_run_once(w->r, 0);
    if (*flag >= want)
      break;
    if (uv_hrtime() - start > 3000000000ull)
      return 0;
    uv_sleep(1);
  }
  return 1;
}

/* A few iterations in which nothing should happen. */
static void pump_idle(world_t *w) {
  for (int i = 0; i < 20; i++) {
    eddy_reactor_run_once(w->r, 0);
    uv_sleep(1);
  }
}

static void listener_closed(void *arg) {
  ((world_t *)arg)->listener_closed = 1;
}

/* Starts the reconnecting client with w->o; its first attempt comes on a
 * later iteration. */
static void world_start(world_t *w) {
  int rc =
      eddy_reconnecting_start(w->r, w->endpoint, &w->client_f, &w->o, &w->rc);
  cr_assert_eq(rc, 0, "%s", eddy_strerror(rc));
}

static void world_listen(world_t *w) {
  int rc = eddy_listen(w->r, w->endpoint, &w->server_f, &w->listener);
  cr_assert_eq(rc, 0, "listen %s: %s", w->endpoint, eddy_strerror(rc));
}

/* Closes what is left and proves the reactor is clean. */
static void world_close(world_t *w) {
  if (w->rc != NULL)
    eddy_reconnecting_stop(w->rc);
  if (w->listener != NULL) {
    eddy_listener_close(w->listener, listener_closed, w);
    cr_assert(pump_until(w, &w->listener_closed, 1));
  }
  int zero = 0;
  for (int i = 0; i < 3000 && w->live_protocols > zero; i++) {
    eddy_reactor_run_once(w->r, 0);
    uv_sleep(1);
  }
  cr_assert_eq(w->live_protocols, 0);
  unlink(w->path);
  rmdir(w->dir);
  test_close_reactor(w->r);
}

/* Moves the clock to one ms before `delay` ends and checks that no attempt
 * was made, then to its end and waits for the attempt's outcome counter. */
static void expect_retry_after(world_t *w, uint64_t delay, const int *counter) {
  int before = *counter;
  int failures = w->failures;
  if (delay > 0) {
    eddy_reactor_advance(w->r, delay - 1);
    pump_idle(w);
    cr_assert_eq(w->failures, failures, "retried before %llu ms",
                 (unsigned long long)delay);
    cr_assert_eq(*counter, before);
  }
  eddy_reactor_advance(w->r, 1);
  cr_assert(pump_until(w, counter, before + 1), "no retry after %llu ms",
            (unsigned long long)delay);
}

/* ---- Tests
 * ------------------------------------------------------------------- */

Test(reconnect, delays_connect_and_reconnect) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  world_t w;
  world_init(&w, r);
  world_start(&w);
  cr_assert_eq(w.failures, 0, "attempted inside start");

  /* Nothing listens: the first attempt (next iteration) fails. */
  cr_assert(pump_until(&w, &w.failures, 1));
  cr_assert(w.last_err == UV_ENOENT || w.last_err == UV_ECONNREFUSED, "%s",
            eddy_strerror(w.last_err));
  cr_assert_eq(w.last_delay, 100, "the first retry waits the initial delay");
  cr_assert_eq(eddy_reconnecting_retries(w.rc), 1);
  cr_assert_null(eddy_reconnecting_protocol(w.rc));

  /* Doubling up to the maximum, each delay measured on the clock. */
  const uint64_t want[] = {100, 200, 400, 800, 1000, 1000};
  for (size_t i = 0; i + 1 < sizeof(want) / sizeof(want[0]); i++) {
    expect_retry_after(&w, want[i], &w.failures);
    cr_assert_eq(w.last_delay, want[i + 1], "retry %zu", i + 1);
    cr_assert_eq(eddy_reconnecting_retries(w.rc), (unsigned)(i + 2));
  }

  /* A server appears: the next retry connects and resets the count. */
  world_listen(&w);
  expect_retry_after(&w, 1000, &w.connected);
  cr_assert_eq(eddy_reconnecting_retries(w.rc), 0);
  cr_assert_not_null(eddy_reconnecting_protocol(w.rc));
  cr_assert_eq(eddy_reconnecting_protocol(w.rc), w.last_proto);
  cr_assert(w.protocol_seen_in_cb);
  cr_assert(pump_until(&w, &w.server_made, 1));

  /* The server drops the connection: back after the initial delay. */
  eddy_transport_lose_connection(w.server_proto->base.transport);
  cr_assert(pump_until(&w, &w.lost, 1));
  cr_assert_eq(w.lost_reason, 0);
  cr_assert_eq(w.last_delay, 100);
  cr_assert_null(eddy_reconnecting_protocol(w.rc));
  cr_assert_eq(eddy_reconnecting_retries(w.rc), 0);
  expect_retry_after(&w, 100, &w.connected);
  cr_assert_eq(w.connected, 2);
  cr_assert(pump_until(&w, &w.server_made, 2));

  /* Stopping leaves the current connection alone. */
  eddy_protocol_t *p = eddy_reconnecting_protocol(w.rc);
  cr_assert_not_null(p);
  eddy_reconnecting_stop(w.rc);
  w.rc = NULL;
  pump_idle(&w);
  cr_assert_not_null(p->transport);
  eddy_transport_lose_connection(p->transport);
  pump_idle(&w);
  cr_assert_eq(w.lost, 1, "observer called after stop");
  world_close(&w);
}

Test(reconnect, jittered_delays) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  world_t w;
  world_init(&w, r);
  w.o.backoff.jitter = 0.5;
  w.u = 0.0; /* the low edge: half of each delay */
  world_start(&w);
  cr_assert(pump_until(&w, &w.failures, 1));
  cr_assert_eq(w.last_delay, 50);
  expect_retry_after(&w, 50, &w.failures);
  cr_assert_eq(w.last_delay, 100);
  w.u = 0.999999; /* the high edge: just under one and a half */
  expect_retry_after(&w, 100, &w.failures);
  cr_assert_eq(w.last_delay, 599); /* 400 * 1.4999990 */
  expect_retry_after(&w, 599, &w.failures);
  cr_assert_eq(w.last_delay, 1000, "jitter may not exceed the maximum");
  world_close(&w);
}

Test(reconnect, default_random_stays_in_bounds) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  world_t w;
  world_init(&w, r);
  w.o.random = NULL; /* the reactor's PRNG */
  w.o.backoff.jitter = 1.0;
  world_start(&w);
  cr_assert(pump_until(&w, &w.failures, 1));
  for (int i = 0; i < 5; i++) {
    uint64_t d = w.last_delay;
    uint64_t hi = 100u << i;
    cr_assert_leq(d, hi * 2 > 1000 ? 1000 : hi * 2, "delay %llu",
                  (unsigned long long)d);
    expect_retry_after(&w, d, &w.failures);
  }
  world_close(&w);
}

Test(reconnect, stop_during_pending_retry) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  world_t w;
  world_init(&w, r);
  world_start(&w);
  cr_assert(pump_until(&w, &w.failures, 1));
  eddy_reconnecting_stop(w.rc);
  w.rc = NULL;
  world_listen(&w);
  eddy_reactor_advance(r, 10000);
  pump_idle(&w);
  cr_assert_eq(w.failures, 1);
  cr_assert_eq(w.connected, 0);
  world_close(&w);
}

Test(reconnect, stop_before_first_attempt_and_inside_observer) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  world_t w;
  world_init(&w, r);
  eddy_reconnecting_t *rc = NULL;
  cr_assert_eq(eddy_reconnecting_start(r, w.endpoint, &w.client_f, &w.o, &rc),
               0);
  eddy_reconnecting_stop(rc);
  pump_idle(&w);
  cr_assert_eq(w.failures, 0);

  w.stop_in_failed = 1;
  world_start(&w);
  cr_assert(pump_until(&w, &w.failures, 1));
  cr_assert_null(w.rc);
  eddy_reactor_advance(r, 10000);
  pump_idle(&w);
  cr_assert_eq(w.failures, 1);
  world_close(&w);
}

static void stop_soon(void *arg) {
  world_t *w = arg;
  eddy_reconnecting_stop(w->rc);
  w->rc = NULL;
}

Test(reconnect, stop_while_attempt_in_flight) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  world_t w;
  world_init(&w, r);
  world_listen(&w);
  world_start(&w);
  /* Queued right behind the first attempt: runs once the attempt started,
   * before the loop polls for its completion. */
  cr_assert_eq(eddy_call_soon(r, stop_soon, &w), 0);
  eddy_reactor_run_once(r, 0);
  cr_assert_null(w.rc);
  pump_idle(&w);
  cr_assert_eq(w.failures, 0);
  cr_assert_eq(w.connected, 0);
  world_close(&w);
}

Test(reconnect, max_retries_gives_up) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  world_t w;
  world_init(&w, r);
  w.o.max_retries = 3;
  world_start(&w);
  cr_assert(pump_until(&w, &w.failures, 1));
  cr_assert_eq(w.last_delay, 100);
  expect_retry_after(&w, 100, &w.failures);
  cr_assert_eq(w.last_delay, 200);
  expect_retry_after(&w, 200, &w.failures);
  cr_assert_eq(w.failures, 3);
  cr_assert_eq(w.last_delay, UINT64_MAX, "did not give up");
  cr_assert_eq(eddy_reconnecting_retries(w.rc), 3);
  world_listen(&w);
  eddy_reactor_advance(r, 100000);
  pump_idle(&w);
  cr_assert_eq(w.failures, 3);
  cr_assert_eq(w.connected, 0);
  world_close(&w); /* stop is still needed after giving up */
}

Test(reconnect, bad_arguments) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  world_t w;
  world_init(&w, r);
  eddy_reconnecting_t *rc = NULL;
  cr_assert_eq(eddy_reconnecting_start(r, "bogus:1", &w.client_f, &w.o, &rc),
               EDDY_EPARSE);
  cr_assert_eq(eddy_reconnecting_start(r, "tcp:7700", &w.client_f, &w.o, &rc),
               EDDY_EPARSE, "a listen endpoint is not a client endpoint");
  cr_assert_eq(eddy_reconnecting_start(r, w.endpoint, NULL, &w.o, &rc),
               UV_EINVAL);
  w.o.backoff.factor = 0.5;
  cr_assert_eq(eddy_reconnecting_start(r, w.endpoint, &w.client_f, &w.o, &rc),
               UV_EINVAL);
  w.o.backoff.factor = 2.0;
  w.o.backoff.jitter = 1.5;
  cr_assert_eq(eddy_reconnecting_start(r, w.endpoint, &w.client_f, &w.o, &rc),
               UV_EINVAL);
  cr_assert_null(rc);
  world_close(&w);
}
