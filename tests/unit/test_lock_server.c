/* test_lock_server.c — the lock protocol end to end: over string transports
 * (bytes fed one at a time, fake clock), an in-memory loopback pair, and
 * real TCP and Unix sockets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy/locks.h"
#include "net_support.h"

#define MAXC 8

typedef struct {
  eddy_reactor_t *r;
  eddy_locks_t *l;
  eddy_string_transport_t *st[MAXC];
  int n;
} fx_t;

static void fx_init(fx_t *f, const eddy_locks_opts_t *o) {
  memset(f, 0, sizeof(*f));
  f->r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  cr_assert_eq(eddy_locks_new(f->r, o, &f->l), 0);
}

/* A new connection to the service; returns its index. */
static int conn(fx_t *f) {
  cr_assert_lt(f->n, MAXC);
  eddy_factory_t *fac = eddy_locks_factory(f->l);
  eddy_protocol_t *p = fac->build_protocol(fac, NULL);
  cr_assert_not_null(p);
  f->st[f->n] = eddy_string_transport_new(f->r);
  eddy_string_transport_connect(f->st[f->n], p);
  return f->n++;
}

static void say(fx_t *f, int c, const char *s) {
  eddy_string_transport_feed_bytewise(f->st[c], s, strlen(s));
}

/* What c received since the last call. */
static char *got(fx_t *f, int c) {
  static char buf[65536];
  size_t len = 0;
  const char *v = eddy_string_transport_value(f->st[c], &len);
  cr_assert_lt(len, sizeof(buf));
  memcpy(buf, v, len);
  buf[len] = '\0';
  eddy_string_transport_clear(f->st[c]);
  return buf;
}

static uint64_t token_of(const char *reply) {
  unsigned long long t = 0;
  cr_assert_eq(sscanf(reply, "OK %llu\r\n", &t), 1, "not a grant: '%s'", reply);
  return t;
}

static void spin(fx_t *f) {
  for (int i = 0; i < 10; i++)
    eddy_reactor_run_once(f->r, 0);
}

static void fx_close(fx_t *f) {
  int closed = 0;
  eddy_locks_close(f->l, closed_cb, &closed);
  cr_assert_eq(closed, 0, "never from inside the call");
  for (int i = 0; i < 100 && !closed; i++)
    eddy_reactor_run_once(f->r, 0);
  cr_assert_eq(closed, 1);
  for (int i = 0; i < f->n; i++)
    eddy_string_transport_free(f->st[i]);
  test_close_reactor(f->r);
}

Test(lock_server, session_one_byte_at_a_time) {
  fx_t f;
  fx_init(&f, NULL);
  int a = conn(&f);
  say(&f, a, "hello worker-17\r\n");
  cr_assert_str_eq(got(&f, a), "OK 1\r\n");
  say(&f, a, "acquire jobs/daily try\r\n");
  uint64_t t1 = token_of(got(&f, a));
  say(&f, a, "acquire jobs/daily\r\n");
  cr_assert_str_eq(got(&f, a), "ERR held jobs/daily is already held or "
                               "waited for by this connection\r\n");
  say(&f, a, "acquire jobs/daily reentrant\n");
  cr_assert_eq(token_of(got(&f, a)), t1);
  say(&f, a, "release jobs/daily\r\n");
  cr_assert_str_eq(got(&f, a), "OK 1\r\n");
  eddy_reactor_advance(f.r, 12);
  say(&f, a, "inspect jobs/daily\r\n");
  char want[512];
  snprintf(want, sizeof(want),
           "LOCK jobs/daily exclusive holders=1 waiters=0\r\n"
           "HOLDER conn=1 client=worker-17 mode=exclusive count=1 token=%llu "
           "held_ms=12 lease_ms=-\r\nOK\r\n",
           (unsigned long long)t1);
  cr_assert_str_eq(got(&f, a), want);
  say(&f, a, "release jobs/daily\r\nrelease jobs/daily\r\n");
  cr_assert_str_eq(got(&f, a), "OK 0\r\nERR not_held jobs/daily is not held "
                               "by this connection\r\n");
  say(&f, a, "inspect jobs/daily\r\n\r\nping\r\n");
  cr_assert_str_eq(got(&f, a), "LOCK jobs/daily free holders=0 waiters=0\r\n"
                               "OK\r\nOK pong\r\n");
  say(&f, a, "quit\r\nping\r\n");
  cr_assert_str_eq(got(&f, a), "OK bye\r\n", "nothing after quit");
  cr_assert(eddy_string_transport_lose_called(f.st[a]));
  fx_close(&f);
}

Test(lock_server, bad_input_gets_clear_errors) {
  eddy_locks_opts_t o;
  eddy_locks_opts_init(&o);
  o.max_line = 40;
  o.max_lease_ms = 1000;
  fx_t f;
  fx_init(&f, &o);
  int a = conn(&f);
  say(&f, a, "frob\r\n");
  cr_assert(strncmp(got(&f, a), "ERR bad_request unknown command", 31) == 0);
  say(&f, a, "acquire\r\n");
  cr_assert_str_eq(got(&f, a), "ERR bad_request missing lock name\r\n");
  say(&f, a, "acquire x wait=soon\r\n");
  cr_assert(strncmp(got(&f, a), "ERR bad_request wait= needs", 27) == 0);
  say(&f, a, "acquire x lease=1001\r\n");
  cr_assert_str_eq(
      got(&f, a), "ERR limit lease= is above the longest allowed, 1000 ms\r\n");
  say(&f, a,
      "acquire xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
      "ping\r\n");
  cr_assert_str_eq(got(&f, a), "ERR too_long request line longer than 40 "
                               "bytes\r\nOK pong\r\n");
  /* 40 bytes plus "\r" still fits; 41 without "\r" does not. */
  say(&f, a, "acquire aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
  token_of(got(&f, a));
  say(&f, a, "acquire aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");
  cr_assert(strncmp(got(&f, a), "ERR too_long", 12) == 0);
  say(&f, a, "refresh aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
  cr_assert(strncmp(got(&f, a), "ERR bad_request aaaa", 20) == 0);
  say(&f, a, "refresh zz lease=5\r\n");
  cr_assert(strncmp(got(&f, a), "ERR not_held zz", 15) == 0);
  cr_assert(!eddy_string_transport_lose_called(f.st[a]),
            "errors never close the connection");
  fx_close(&f);
}

Test(lock_server, waiting_acquire_holds_later_replies) {
  fx_t f;
  fx_init(&f, NULL);
  int a = conn(&f), b = conn(&f);
  say(&f, a, "acquire x\r\n");
  uint64_t ta = token_of(got(&f, a));
  say(&f, b, "acquire x\r\nping\r\nacquire y\r\nrelease nope\r\n");
  cr_assert_str_empty(got(&f, b), "replies stay in request order");
  say(&f, a, "inspect x\r\n");
  cr_assert(strstr(got(&f, a), "WAITER conn=2 client=- mode=exclusive "
                               "waited_ms=0 timeout_ms=-\r\n") != NULL);
  say(&f, a, "release x\r\n");
  cr_assert_str_eq(got(&f, a), "OK 0\r\n");
  char *out = got(&f, b);
  unsigned long long tb = 0, ty = 0;
  char tail[128] = "";
  cr_assert_eq(
      sscanf(out, "OK %llu\r\nOK pong\r\nOK %llu\r\n%127[^\r]", &tb, &ty, tail),
      3, "'%s'", out);
  cr_assert_gt(tb, ta);
  cr_assert_lt(ty, tb,
               "y was granted when read, before x: requests run "
               "at once, only their replies wait");
  cr_assert_str_eq(tail, "ERR not_held nope is not held by this connection");
  fx_close(&f);
}

Test(lock_server, timeout_then_queued_replies) {
  fx_t f;
  fx_init(&f, NULL);
  int a = conn(&f), b = conn(&f);
  say(&f, a, "acquire x shared\r\n");
  token_of(got(&f, a));
  say(&f, b, "acquire x try\r\nacquire x wait=100\r\nping\r\n");
  cr_assert_str_eq(got(&f, b), "ERR busy x is held\r\n");
  eddy_reactor_advance(f.r, 99);
  cr_assert_str_empty(got(&f, b));
  eddy_reactor_advance(f.r, 1);
  cr_assert_str_eq(got(&f, b), "ERR timeout x not granted within 100 ms\r\n"
                               "OK pong\r\n");
  fx_close(&f);
}

Test(lock_server, disconnect_releases_and_cancels) {
  fx_t f;
  fx_init(&f, NULL);
  int a = conn(&f), b = conn(&f), c = conn(&f);
  say(&f, a, "acquire x\r\nacquire y shared\r\n");
  got(&f, a);
  say(&f, c, "acquire w\r\n");
  got(&f, c);
  say(&f, a, "acquire w wait=1000\r\n");
  say(&f, b, "acquire x\r\n");
  say(&f, c, "acquire y\r\n");
  cr_assert_str_empty(got(&f, b));
  cr_assert_str_empty(got(&f, c));
  eddy_string_transport_disconnect(f.st[a], UV_ECONNRESET);
  token_of(got(&f, b));
  token_of(got(&f, c));
  eddy_locks_stats_t s;
  eddy_locks_stats(f.l, &s);
  cr_assert_eq(s.releases_on_disconnect_total, 2);
  cr_assert_eq(s.waiters, 0, "a's wait on w was dropped");
  say(&f, c, "inspect w\r\n");
  cr_assert(strstr(got(&f, c), "waiters=0") != NULL);
  eddy_reactor_advance(f.r, 2000);
  cr_assert_str_empty(got(&f, c));
  spin(&f);
  eddy_locks_stats(f.l, &s);
  cr_assert_eq(s.connections, 2);
  fx_close(&f);
}

Test(lock_server, released_waiter_of_dead_holder_gets_lock) {
  fx_t f;
  fx_init(&f, NULL);
  int a = conn(&f), b = conn(&f);
  say(&f, a, "acquire x\r\n");
  got(&f, a);
  say(&f, b, "acquire x wait=5000\r\n");
  eddy_string_transport_disconnect(f.st[a], 0);
  token_of(got(&f, b));
  eddy_reactor_advance(f.r, 6000);
  cr_assert_str_empty(got(&f, b), "the wait timer stopped with the grant");
  fx_close(&f);
}

Test(lock_server, lease_expiry_event_and_refresh) {
  fx_t f;
  fx_init(&f, NULL);
  int a = conn(&f), b = conn(&f);
  say(&f, a, "acquire x lease=100\r\n");
  uint64_t t = token_of(got(&f, a));
  say(&f, b, "acquire x\r\n");
  eddy_reactor_advance(f.r, 80);
  say(&f, a, "refresh x\r\n");
  cr_assert_str_eq(got(&f, a), "OK\r\n");
  eddy_reactor_advance(f.r, 80);
  say(&f, a, "inspect x\r\n");
  cr_assert(strstr(got(&f, a), "lease_ms=20\r\n") != NULL);
  eddy_reactor_advance(f.r, 20);
  char want[128];
  snprintf(want, sizeof(want), "EVENT lost x %llu lease_expired\r\n",
           (unsigned long long)t);
  cr_assert_str_eq(got(&f, a), want);
  cr_assert_gt(token_of(got(&f, b)), t);
  say(&f, a, "release x\r\n");
  cr_assert(strncmp(got(&f, a), "ERR not_held", 12) == 0);
  fx_close(&f);
}

Test(lock_server, reset_with_admin_token) {
  eddy_locks_opts_t o;
  eddy_locks_opts_init(&o);
  o.admin_token = "s3cret";
  fx_t f;
  fx_init(&f, &o);
  int a = conn(&f), b = conn(&f), c = conn(&f);
  say(&f, a, "acquire x\r\n");
  uint64_t t = token_of(got(&f, a));
  say(&f, b, "acquire x\r\nping\r\n");
  say(&f, c, "reset\r\nreset s3cre\r\nreset s3cret!\r\n");
  cr_assert_str_eq(got(&f, c), "ERR denied reset needs the admin token\r\n"
                               "ERR denied reset needs the admin token\r\n"
                               "ERR denied reset needs the admin token\r\n");
  say(&f, c, "reset s3cret\r\n");
  cr_assert_str_eq(got(&f, c), "OK 1\r\n");
  cr_assert_str_eq(got(&f, b), "ERR reset x: every lock was reset by an "
                               "admin\r\nOK pong\r\n");
  char want[128];
  snprintf(want, sizeof(want), "EVENT lost x %llu reset\r\n",
           (unsigned long long)t);
  cr_assert_str_eq(got(&f, a), want);
  say(&f, b, "acquire x\r\n");
  cr_assert_gt(token_of(got(&f, b)), t);
  fx_close(&f);
}

Test(lock_server, list_and_stats) {
  fx_t f;
  fx_init(&f, NULL);
  int a = conn(&f), b = conn(&f);
  say(&f, a, "acquire jobs/b\r\nacquire jobs/a shared\r\nacquire other\r\n");
  got(&f, a);
  say(&f, b, "acquire jobs/b wait=10\r\n");
  say(&f, a, "list jobs/\r\n");
  cr_assert_str_eq(got(&f, a),
                   "LOCK jobs/a shared holders=1 waiters=0\r\n"
                   "LOCK jobs/b exclusive holders=1 waiters=1\r\nOK 2 2\r\n");
  say(&f, a, "list\r\n");
  cr_assert(strstr(got(&f, a), "OK 3 3\r\n") != NULL);
  say(&f, a, "stats\r\n");
  char *s = got(&f, a);
  cr_assert(
      strstr(s, "STAT connections 2\r\n") && strstr(s, "STAT locks 3\r\n") &&
          strstr(s, "STAT holders 3\r\n") && strstr(s, "STAT waiters 1\r\n") &&
          strstr(s, "STAT waits_total 1\r\n"),
      "%s", s);
  cr_assert(strcmp(s + strlen(s) - 4, "OK\r\n") == 0);
  fx_close(&f);
}

Test(lock_server, limits_over_the_wire) {
  eddy_locks_opts_t o;
  eddy_locks_opts_init(&o);
  o.max_held_per_conn = 2;
  o.max_waits_per_conn = 1;
  fx_t f;
  fx_init(&f, &o);
  int a = conn(&f), b = conn(&f);
  say(&f, a, "acquire x\r\nacquire y\r\n");
  got(&f, a);
  say(&f, a, "acquire z\r\n");
  cr_assert_str_eq(got(&f, a),
                   "ERR limit too many locks held or waited for by this "
                   "connection, or lock names alive\r\n");
  say(&f, b, "acquire x wait=10\r\nacquire y wait=10\r\n");
  eddy_reactor_advance(f.r, 10);
  cr_assert_str_eq(got(&f, b),
                   "ERR timeout x not granted within 10 ms\r\n"
                   "ERR limit too many locks held or waited for by this "
                   "connection, or lock names alive\r\n");
  say(&f, b, "hello one\r\nhello two\r\nacquire q\r\ninspect q\r\n");
  char *out = got(&f, b);
  cr_assert(strstr(out, "client=two ") != NULL, "%s", out);
  fx_close(&f);
}

Test(lock_server, list_is_bounded_and_sorted) {
  fx_t f;
  fx_init(&f, NULL);
  int a = conn(&f);
  char line[64];
  for (int i = 1005; i > 0; i--) {
    snprintf(line, sizeof(line), "acquire k%04d\r\n", i);
    eddy_string_transport_feed(f.st[a], line, strlen(line));
  }
  got(&f, a);
  say(&f, a, "list k\r\n");
  char *out = got(&f, a);
  cr_assert(strncmp(out, "LOCK k0001 exclusive", 20) == 0);
  cr_assert(strstr(out, "LOCK k1000 ") != NULL);
  cr_assert(strstr(out, "LOCK k1001 ") == NULL);
  cr_assert(strstr(out, "\r\nOK 1000 1005\r\n") != NULL);
  say(&f, a, "list k1003\r\nlist nothing\r\n");
  cr_assert_str_eq(got(&f, a),
                   "LOCK k1003 exclusive holders=1 waiters=0\r\nOK 1 1\r\n"
                   "OK 0 0\r\n");
  fx_close(&f);
}

/* Several clients take turns on one lock: grants follow the queue, readers
 * at the head go together, and the fencing tokens only grow. */
Test(lock_server, contention_in_fifo_order) {
  fx_t f;
  fx_init(&f, NULL);
  int c[6];
  for (int i = 0; i < 6; i++)
    c[i] = conn(&f);
  uint64_t last = 0, t = 0;
  for (int round = 0; round < 20; round++) {
    int shared = round % 2;
    say(&f, c[0], "acquire hot\r\n");
    t = token_of(got(&f, c[0]));
    cr_assert_gt(t, last);
    last = t;
    for (int i = 1; i < 6; i++)
      say(&f, c[i], shared ? "acquire hot shared\r\n" : "acquire hot\r\n");
    if (shared) {
      say(&f, c[0], "release hot\r\n");
      cr_assert_str_eq(got(&f, c[0]), "OK 0\r\n");
      for (int i = 1; i < 6; i++) {
        t = token_of(got(&f, c[i]));
        cr_assert_gt(t, last, "readers are granted in queue order");
        last = t;
      }
      for (int i = 1; i < 6; i++) {
        say(&f, c[i], "release hot\r\n");
        cr_assert_str_eq(got(&f, c[i]), "OK 0\r\n");
      }
    } else {
      for (int i = 0; i < 5; i++) {
        for (int k = i + 1; k < 6; k++)
          cr_assert_str_empty(got(&f, c[k]), "round %d: %d waits", round, k);
        say(&f, c[i], "release hot\r\n");
        cr_assert_str_eq(got(&f, c[i]), "OK 0\r\n");
        t = token_of(got(&f, c[i + 1]));
        cr_assert_gt(t, last);
        last = t;
      }
      say(&f, c[5], "release hot\r\n");
      cr_assert_str_eq(got(&f, c[5]), "OK 0\r\n");
    }
  }
  eddy_locks_stats_t st;
  eddy_locks_stats(f.l, &st);
  cr_assert_eq(st.locks, 0);
  cr_assert_eq(st.waits_total, 100);
  fx_close(&f);
}

Test(lock_server, too_many_unanswered_requests) {
  fx_t f;
  fx_init(&f, NULL);
  int a = conn(&f), b = conn(&f);
  say(&f, a, "acquire x\r\n");
  got(&f, a);
  say(&f, b, "acquire x\r\n");
  for (int i = 0; i < 1023; i++)
    eddy_string_transport_feed(f.st[b], "ping\r\n", 6);
  cr_assert_str_empty(got(&f, b));
  cr_assert(!eddy_string_transport_lose_called(f.st[b]));
  eddy_string_transport_feed(f.st[b], "ping\r\n", 6);
  cr_assert_str_eq(got(&f, b), "ERR limit too many unanswered requests\r\n");
  cr_assert(eddy_string_transport_lose_called(f.st[b]));
  fx_close(&f);
}

Test(lock_server, connection_limit) {
  eddy_locks_opts_t o;
  eddy_locks_opts_init(&o);
  o.max_connections = 1;
  fx_t f;
  fx_init(&f, &o);
  int a = conn(&f), b = conn(&f);
  cr_assert_str_eq(got(&f, b), "ERR limit too many connections\r\n");
  cr_assert(eddy_string_transport_lose_called(f.st[b]));
  say(&f, a, "ping\r\n");
  cr_assert_str_eq(got(&f, a), "OK pong\r\n");
  fx_close(&f);
}

Test(lock_server, quit_waits_its_turn) {
  fx_t f;
  fx_init(&f, NULL);
  int a = conn(&f), b = conn(&f);
  say(&f, a, "acquire x\r\n");
  got(&f, a);
  say(&f, b, "acquire x wait=50\r\nquit\r\nping\r\n");
  cr_assert(!eddy_string_transport_lose_called(f.st[b]));
  eddy_reactor_advance(f.r, 50);
  cr_assert_str_eq(got(&f, b), "ERR timeout x not granted within 50 ms\r\n"
                               "OK bye\r\n");
  cr_assert(eddy_string_transport_lose_called(f.st[b]));
  fx_close(&f);
}

Test(lock_server, close_answers_waiters) {
  fx_t f;
  fx_init(&f, NULL);
  int a = conn(&f), b = conn(&f);
  say(&f, a, "acquire x\r\n");
  got(&f, a);
  say(&f, b, "acquire x\r\nping\r\n");
  int closed = 0;
  eddy_locks_close(f.l, closed_cb, &closed);
  cr_assert_str_eq(got(&f, b), "ERR shutdown the lock service is closing\r\n"
                               "OK pong\r\n");
  for (int i = 0; i < 100 && !closed; i++)
    eddy_reactor_run_once(f.r, 0);
  cr_assert_eq(closed, 1);
  for (int i = 0; i < f.n; i++)
    eddy_string_transport_free(f.st[i]);
  test_close_reactor(f.r);
}

Test(lock_server, pipelined_replies_leave_in_one_write) {
  fx_t f;
  fx_init(&f, NULL);
  int a = conn(&f), b = conn(&f);
  const char batch[] = "ping\r\nacquire x\r\nrelease x\r\nping\r\nquit\r\n";
  eddy_string_transport_feed(f.st[a], batch, sizeof(batch) - 1);
  cr_assert_eq(eddy_string_transport_write_count(f.st[a]), 1);
  char *out = got(&f, a);
  cr_assert(strncmp(out, "OK pong\r\nOK ", 12) == 0, "%s", out);
  cr_assert(strstr(out, "\r\nOK 0\r\nOK pong\r\nOK bye\r\n") != NULL, "%s",
            out);
  cr_assert(eddy_string_transport_lose_called(f.st[a]));
  /* A grant made for another connection is written to it at once. */
  say(&f, b, "acquire y\r\n");
  got(&f, b);
  int c = conn(&f);
  say(&f, c, "acquire y\r\n");
  const char rel[] = "release y\r\nping\r\n";
  eddy_string_transport_feed(f.st[b], rel, sizeof(rel) - 1);
  cr_assert_str_eq(got(&f, b), "OK 0\r\nOK pong\r\n");
  token_of(got(&f, c));
  fx_close(&f);
}

Test(lock_server, slow_reader_is_paused) {
  fx_t f;
  fx_init(&f, NULL);
  int a = conn(&f);
  eddy_string_transport_set_pending(f.st[a], 1u << 20);
  say(&f, a, "ping\r\n");
  spin(&f);
  cr_assert(eddy_string_transport_reading_paused(f.st[a]),
            "requests wait while replies pile up");
  eddy_string_transport_set_pending(f.st[a], 0);
  say(&f, a, "ping\r\n");
  spin(&f);
  cr_assert(!eddy_string_transport_reading_paused(f.st[a]));
  cr_assert_str_eq(got(&f, a), "OK pong\r\nOK pong\r\n");
  fx_close(&f);
}

/* ---- Over an in-memory pair and real sockets ----------------------------- */

Test(lock_server, loopback_pipelined) {
  eddy_reactor_t *r = test_reactor(0);
  eddy_locks_t *l = NULL;
  cr_assert_eq(eddy_locks_new(r, NULL, &l), 0);
  side_t cli;
  side_init(&cli);
  eddy_factory_t *fac = eddy_locks_factory(l);
  eddy_protocol_t *srv = fac->build_protocol(fac, NULL);
  eddy_protocol_t *cp = cli.f.build_protocol(&cli.f, NULL);
  eddy_loopback_t *lp = NULL;
  cr_assert_eq(eddy_loopback_connect(r, srv, cp, &lp), 0);
  eddy_loopback_pump(lp);
  peer_t *p = &cli.peers[0];
  const char req[] = "hello lp\r\nacquire a\r\nacquire b shared\r\n"
                     "release a\r\nrelease b\r\nquit\r\n";
  eddy_transport_write(tr(p), req, sizeof(req) - 1);
  eddy_loopback_pump(lp);
  eddy_buf_append(&p->in, "", 1);
  unsigned long long id, t1, t2;
  cr_assert_eq(sscanf(p->in.data,
                      "OK %llu\r\nOK %llu\r\nOK %llu\r\nOK 0\r\n"
                      "OK 0\r\nOK bye\r\n",
                      &id, &t1, &t2),
               3, "%s", p->in.data);
  cr_assert_gt(t2, t1);
  SPIN_FOR(r, p->destroyed);
  int closed = 0;
  eddy_locks_close(l, closed_cb, &closed);
  SPIN_FOR(r, closed);
  test_close_reactor(r);
  side_free(&cli);
}

static void over_socket(const char *endpoint) {
  eddy_reactor_t *r = test_reactor(0);
  eddy_locks_t *l = NULL;
  cr_assert_eq(eddy_locks_new(r, NULL, &l), 0);
  eddy_listener_t *ln = NULL;
  cr_assert_eq(eddy_locks_listen(l, endpoint, &ln), 0);
  char ep[160];
  if (strncmp(endpoint, "tcp", 3) == 0)
    local_endpoint(ep, sizeof(ep), ln, "");
  else
    snprintf(ep, sizeof(ep), "%s", endpoint);
  side_t cli;
  side_init(&cli);
  outcome_t o1 = {0}, o2 = {0};
  eddy_deferred_add_callbacks(eddy_connect(r, ep, &cli.f), got_ok, got_err,
                              &o1);
  eddy_deferred_add_callbacks(eddy_connect(r, ep, &cli.f), got_ok, got_err,
                              &o2);
  WAIT_FOR(r, o1.done && o2.done);
  cr_assert_eq(o1.err, 0);
  cr_assert_eq(o2.err, 0);
  peer_t *a = o1.peer, *b = o2.peer;
  eddy_transport_write_str(tr(a), "acquire k\r\n");
  WAIT_FOR(r, a->in.len > 0);
  eddy_transport_write_str(tr(b), "acquire k wait=10000\r\nping\r\n");
  eddy_locks_stats_t s;
  WAIT_FOR(r, (eddy_locks_stats(l, &s), s.waiters == 1));
  /* The holder dies: the waiter gets the lock at once. */
  eddy_transport_abort_connection(tr(a));
  WAIT_FOR(r, b->in.len > 0 &&
                  memmem(b->in.data, b->in.len, "OK pong\r\n", 9) != NULL);
  cr_assert_eq(strncmp(b->in.data, "OK ", 3), 0);
  eddy_locks_stats(l, &s);
  cr_assert_eq(s.releases_on_disconnect_total, 1);
  int closed = 0;
  eddy_locks_close(l, closed_cb, &closed);
  WAIT_FOR(r, closed && b->destroyed && a->destroyed);
  test_close_reactor(r);
  side_free(&cli);
}

Test(lock_server, real_tcp) {
  over_socket("tcp:0");
}

Test(lock_server, real_unix_socket) {
  char path[96];
  snprintf(path, sizeof(path), "unix:/tmp/eddy-locks-test-%d.sock",
           (int)getpid());
  over_socket(path);
}
