/* net_support.h — shared helpers for the unit tests over real sockets
 * (test_connect.c, test_tcp.c, test_unix.c): a recording protocol, ways to
 * run the loop until something happened, and listen/connect/teardown steps.
 *
 * A side (server or client) is a factory that hands out its protocols
 * (peers) from a fixed array, so a test can still inspect them after
 * connection_lost and destroy. Every peer checks the protocol rules as it
 * goes: data never after connection_lost, connection_lost once, destroy
 * only after it. */
#ifndef EDDY_TEST_NET_SUPPORT_H
#define EDDY_TEST_NET_SUPPORT_H

#include "support.h"

#include <stdint.h>

/* ---- A recording protocol ------------------------------------------------ */

#define MAX_PEERS 8

typedef struct side_s side_t;
typedef struct peer_s {
  eddy_protocol_t base;
  side_t *side;
  eddy_buf_t in; /* every byte received, in order */
  int made, lost, reason, eofs, pauses, resumes, destroyed;
} peer_t;

struct side_s {
  eddy_factory_t f;
  peer_t peers[MAX_PEERS];
  int n;         /* peers handed out */
  int refuse;    /* the factory returns NULL */
  int echo;      /* write back what arrives */
  int keep_open; /* what eof_received answers without on_eof */
  /* Optional hooks, called after the peer recorded the event. */
  void (*on_made)(peer_t *p);
  void (*on_data)(peer_t *p);
  int (*on_eof)(peer_t *p);
  void (*on_pause)(peer_t *p);
  void (*on_resume)(peer_t *p);
  void *user;
};

/* Zeroes s and makes it a factory. */
void side_init(side_t *s);
/* Frees what the peers received; call once the reactor is closed. */
void side_free(side_t *s);
/* The transport p was connected with. */
eddy_transport_t *tr(peer_t *p);

/* ---- Running the loop ---------------------------------------------------- */

/* Only reached when something is wrong (or the machine is badly loaded). */
#define WAIT_MS 15000

/* A timer callback that sets the int its data points to. */
void net_flag_timer(eddy_timer_t *t);

/* Runs a real-clock reactor until cond holds, at most `ms`. */
#define RUN_UNTIL(r, cond, ms)                                                 \
  do {                                                                         \
    int expired_ = 0;                                                          \
    eddy_timer_t guard_;                                                       \
    eddy_timer_init((r), &guard_);                                             \
    guard_.data = &expired_;                                                   \
    eddy_timer_start(&guard_, (ms), net_flag_timer);                           \
    while (!(cond) && !expired_)                                               \
      eddy_reactor_run_once((r), 1);                                           \
    eddy_timer_stop(&guard_);                                                  \
  } while (0)

/* Runs a real-clock reactor until cond holds; fails the test on timeout. */
#define WAIT_FOR(r, cond)                                                      \
  do {                                                                         \
    RUN_UNTIL((r), (cond), WAIT_MS);                                           \
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

/* Lets a real-clock loop run for ms (for checks that something does NOT
 * happen). */
void run_for(eddy_reactor_t *r, uint64_t ms);

/* ---- Listening, connecting, finishing ------------------------------------ */

/* What a connect's deferred delivered. */
typedef struct {
  int done; /* how many times it fired */
  int err;
  int owned; /* the success value came with a free function */
  char msg[256];
  peer_t *peer;
} outcome_t;

/* Callbacks for eddy_deferred_add_callbacks(d, got_ok, got_err, outcome). */
void got_ok(eddy_result_t *res, void *arg);
void got_err(eddy_result_t *res, void *arg);

/* Listens on ep for `server`; fails the test unless that worked and the
 * listener has a port exactly when ep is not a Unix socket. */
eddy_listener_t *listen_on(eddy_reactor_t *r, const char *ep, side_t *server);

/* Connects a client of `client` to ep and waits until the server side has
 * its protocol too (or refused it); returns the client's peer. */
peer_t *connect_to(eddy_reactor_t *r, const char *ep, side_t *client,
                   side_t *server);

/* Writes "tcp:127.0.0.1:PORT" for l's port, then `options` (may be ""). */
void local_endpoint(char *buf, size_t size, eddy_listener_t *l,
                    const char *options);

/* An eddy_call_cb that counts into the int at arg. */
void closed_cb(void *arg);

/* Closes l (may be NULL) and waits for its close callback, waits until
 * every peer of a and b is destroyed, proves the reactor closes cleanly,
 * then frees both sides (a and b may be the same side). Works on either
 * clock. */
void finish(eddy_reactor_t *r, eddy_listener_t *l, side_t *a, side_t *b);

#endif
