/* test_cache_server.c — the cache service over the string transport
 * (pipelined batches, exact reply bytes, fed whole and one byte at a time)
 * and once over real TCP. */
#include "support.h"

#include <stdlib.h>
#include <string.h>

#include "cache/cache_internal.h"
#include "net_support.h"

typedef struct fix_s {
  eddy_reactor_t *r;
  eddy_cache_t *c;
  int closed;
} fix_t;

static void on_closed(void *arg) {
  *(int *)arg += 1;
}

static void fix_open(fix_t *f, const eddy_cache_opts_t *o) {
  f->r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  cr_assert_eq(eddy_cache_new(f->r, o, &f->c), 0);
  f->closed = 0;
}

static void fix_close(fix_t *f) {
  eddy_cache_close(f->c, on_closed, &f->closed);
  cr_assert_eq(f->closed, 0);
  test_close_reactor(f->r);
  cr_assert_eq(f->closed, 1);
}

static eddy_string_transport_t *fix_connect(fix_t *f) {
  eddy_protocol_t *p = f->c->factory.build_protocol(&f->c->factory, NULL);
  cr_assert_not_null(p);
  eddy_string_transport_t *st = eddy_string_transport_new(f->r);
  cr_assert_not_null(st);
  eddy_string_transport_connect(st, p);
  return st;
}

/* Sends `in` on a fresh connection, whole and then (on another fresh
 * cache) one byte at a time; both must answer exactly `want`. */
static void exchange(const eddy_cache_opts_t *o, const char *in,
                     const char *want) {
  for (int bytewise = 0; bytewise < 2; bytewise++) {
    fix_t f;
    fix_open(&f, o);
    eddy_string_transport_t *st = fix_connect(&f);
    if (bytewise)
      eddy_string_transport_feed_bytewise(st, in, strlen(in));
    else
      eddy_string_transport_feed(st, in, strlen(in));
    size_t n;
    const char *got = eddy_string_transport_value(st, &n);
    cr_assert_eq(n, strlen(want),
                 "%s:\n--- got (%zu) ---\n%s\n--- want (%zu) ---\n%s",
                 bytewise ? "bytewise" : "whole", n, got, strlen(want), want);
    cr_assert_eq(memcmp(got, want, n), 0,
                 "%s:\n--- got ---\n%s\n--- want ---\n%s",
                 bytewise ? "bytewise" : "whole", got, want);
    if (!bytewise)
      cr_assert_eq(eddy_string_transport_write_count(st), 1,
                   "a pipelined batch is one write");
    eddy_string_transport_free(st);
    fix_close(&f);
  }
}

Test(cache_server, classic_pipeline) {
  exchange(NULL,
           "set foo 5 0 3\r\nbar\r\n"
           "get foo\r\n"
           "gets foo nope\r\n"
           "add foo 0 0 1\r\nx\r\n"
           "append foo 0 0 2\r\nxy\r\n"
           "prepend foo 0 0 2\r\n<<\r\n"
           "get foo\r\n"
           "replace nope 0 0 1\r\nx\r\n"
           "cas foo 0 0 1 1\r\nx\r\n"
           "cas foo 0 0 1 3\r\nz\r\n"
           "cas nope 0 0 1 3\r\nz\r\n"
           "get foo\r\n"
           "delete foo\r\n"
           "delete foo\r\n"
           "incr n 1\r\n"
           "set n 0 0 2\r\n10\r\n"
           "decr n 1\r\n"
           "incr n 18446744073709551615\r\n"
           "get n\r\n"
           "incr foo2 1\r\n"
           "set s 0 0 1\r\nx\r\n"
           "incr s 1\r\n"
           "touch s 100\r\n"
           "touch nope 100\r\n"
           "version\r\n"
           "verbosity 1\r\n"
           "bogus\r\n"
           "flush_all\r\n"
           "get s n\r\n",
           "STORED\r\n"
           "VALUE foo 5 3\r\nbar\r\nEND\r\n"
           "VALUE foo 5 3 1\r\nbar\r\nEND\r\n"
           "NOT_STORED\r\n"
           "STORED\r\n"
           "STORED\r\n"
           "VALUE foo 5 7\r\n<<barxy\r\nEND\r\n"
           "NOT_STORED\r\n"
           "EXISTS\r\n"
           "STORED\r\n"
           "NOT_FOUND\r\n"
           "VALUE foo 0 1\r\nz\r\nEND\r\n"
           "DELETED\r\n"
           "NOT_FOUND\r\n"
           "NOT_FOUND\r\n"
           "STORED\r\n"
           "9\r\n"
           "8\r\n"
           "VALUE n 0 2\r\n8 \r\nEND\r\n"
           "NOT_FOUND\r\n"
           "STORED\r\n"
           "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
           "TOUCHED\r\n"
           "NOT_FOUND\r\n"
           "VERSION " EDDY__CACHE_MC_VERSION "\r\n"
           "OK\r\n"
           "ERROR\r\n"
           "OK\r\n"
           "END\r\n");
}

Test(cache_server, noreply_and_errors) {
  exchange(NULL,
           "set a 0 0 1 noreply\r\n1\r\n"
           "add a 0 0 1 noreply\r\n1\r\n"
           "incr a 5 noreply\r\n"
           "touch a 0 noreply\r\n"
           "get a\r\n"
           "delete a noreply\r\n"
           "set b x 0 1 noreply\r\n"        /* silenced, and no block is read */
           "set b 0 0 1 noreply\r\nxyz\r\n" /* bad chunk, silenced */
           "flush_all noreply\r\n"
           "verbosity 0 noreply\r\n"
           "set k 0 0 -1\r\n"
           "delete a 5\r\n"
           "get a\r\n",
           "VALUE a 0 1\r\n6\r\nEND\r\n"
           "ERROR\r\n" /* the \n left after "xyz\r" is an empty line */
           "CLIENT_ERROR bad command line format\r\n"
           "CLIENT_ERROR bad command line format.  "
           "Usage: delete <key> [noreply]\r\n"
           "END\r\n");
}

Test(cache_server, gat_and_gats) {
  exchange(NULL,
           "set a 3 0 1\r\nx\r\n"
           "gat 100 a nope\r\n"
           "gats 0 a\r\n"
           "gat -1 a\r\n"
           "get a\r\n"
           "gat x a\r\n",
           "STORED\r\n"
           "VALUE a 3 1\r\nx\r\nEND\r\n"
           "VALUE a 3 1 1\r\nx\r\nEND\r\n"
           "VALUE a 3 1\r\nx\r\nEND\r\n"
           "END\r\n"
           "CLIENT_ERROR invalid exptime argument\r\n");
}

Test(cache_server, meta_pipeline) {
  exchange(NULL,
           "ms m 2 T0 F7 c\r\nhi\r\n"
           "mg m v f t s c k Oab\r\n"
           "mg m\r\n"
           "mg m q v\r\n"
           "mg zz v\r\n"
           "mg zz v q k Oxx\r\n"
           "mn\r\n"
           "ms m 2 ME\r\nzz\r\n"
           "ms m 2 MA k O1\r\nyo\r\n"
           "ms m 2 MP q\r\n<<\r\n"
           "ms m 1 C99\r\nx\r\n"
           "ms m 1 C3\r\nx\r\n"
           "ms m 1 MR q\r\ny\r\n"
           "ms nope 1 MR\r\ny\r\n"
           "mg m v\r\n"
           "md m C1\r\n"
           "md m q\r\n"
           "md m\r\n"
           "md m q k\r\n"
           "ma cnt\r\n"
           "ma cnt N0 J5 v\r\n"
           "ma cnt v t c\r\n"
           "ma cnt MD D100 v\r\n"
           "ma cnt q\r\n"
           "mg cnt v\r\n"
           "ms s 1\r\nx\r\n"
           "ma s\r\n"
           "mg m X\r\n"
           "mn\r\n",
           "HD c1\r\n"
           "VA 2 f7 t-1 s2 c1 km Oab\r\nhi\r\n"
           "HD\r\n"
           "VA 2\r\nhi\r\n"
           "EN\r\n"
           "MN\r\n"
           "NS\r\n"
           "HD km O1\r\n"
           "EX\r\n"
           "HD\r\n" /* cas 3 came from the prepend */
           "NS\r\n"
           "VA 1\r\ny\r\n"
           "EX\r\n"
           "NF\r\n"
           "NF km\r\n"
           "NF\r\n"
           "VA 1\r\n5\r\n"
           "VA 1 t-1 c7\r\n6\r\n"
           "VA 1\r\n0\r\n"
           "VA 1\r\n1\r\n"
           "HD\r\n"
           "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
           "CLIENT_ERROR invalid flag\r\n"
           "MN\r\n");
}

Test(cache_server, stats_are_true) {
  fix_t f;
  fix_open(&f, NULL);
  eddy_string_transport_t *st = fix_connect(&f);
  const char *in = "set a 0 0 1\r\n1\r\nget a b\r\ndelete a\r\nstats\r\n";
  eddy_string_transport_feed(st, in, strlen(in));
  const char *out = eddy_string_transport_value(st, NULL);
  cr_assert(strstr(out, "STAT curr_connections 1\r\n"));
  cr_assert(strstr(out, "STAT total_connections 1\r\n"));
  cr_assert(strstr(out, "STAT cmd_get 2\r\n"));
  cr_assert(strstr(out, "STAT cmd_set 1\r\n"));
  cr_assert(strstr(out, "STAT get_hits 1\r\n"));
  cr_assert(strstr(out, "STAT get_misses 1\r\n"));
  cr_assert(strstr(out, "STAT delete_hits 1\r\n"));
  cr_assert(strstr(out, "STAT curr_items 0\r\n"));
  cr_assert(strstr(out, "STAT total_items 1\r\n"));
  cr_assert(strstr(out, "STAT limit_maxbytes 67108864\r\n"));
  cr_assert(strstr(out, "STAT uptime 0\r\n"));
  cr_assert(strstr(out, "\r\nEND\r\n"));
  eddy_string_transport_clear(st);
  eddy_reactor_advance(f.r, 3000);
  const char *in2 = "stats settings\r\nstats reset\r\nstats\r\nstats x\r\n";
  eddy_string_transport_feed(st, in2, strlen(in2));
  out = eddy_string_transport_value(st, NULL);
  cr_assert(strstr(out, "STAT item_size_max 1048576\r\n"));
  cr_assert(strstr(out, "RESET\r\n"));
  cr_assert(strstr(out, "STAT uptime 3\r\n"));
  cr_assert(strstr(out, "STAT cmd_get 0\r\n"));
  cr_assert(strstr(out, "STAT curr_connections 1\r\n"));
  cr_assert(strstr(out, "END\r\nERROR\r\n"));
  eddy_cache_stats_t s;
  eddy_cache_stats(f.c, &s);
  cr_assert_eq(s.curr_connections, 1);
  cr_assert_eq(s.limit_maxbytes, 64u << 20);
  eddy_string_transport_free(st);
  eddy_cache_stats(f.c, &s);
  cr_assert_eq(s.curr_connections, 0);
  fix_close(&f);
}

Test(cache_server, expiry_on_the_fake_clock) {
  fix_t f;
  fix_open(&f, NULL);
  eddy_string_transport_t *st = fix_connect(&f);
  const char *in = "set a 0 2 1\r\nx\r\nset b 0 0 1\r\ny\r\n"
                   "flush_all 5\r\n";
  eddy_string_transport_feed(st, in, strlen(in));
  eddy_string_transport_clear(st);
  eddy_reactor_advance(f.r, 1999);
  eddy_string_transport_feed(st, "get a\r\n", 7);
  cr_assert_str_eq(eddy_string_transport_value(st, NULL),
                   "VALUE a 0 1\r\nx\r\nEND\r\n");
  eddy_string_transport_clear(st);
  eddy_reactor_advance(f.r, 1);
  eddy_string_transport_feed(st, "get a b\r\n", 9);
  cr_assert_str_eq(eddy_string_transport_value(st, NULL),
                   "VALUE b 0 1\r\ny\r\nEND\r\n");
  eddy_cache_stats_t s;
  eddy_cache_stats(f.c, &s);
  cr_assert_eq(s.get_expired, 1);
  cr_assert_eq(s.get_misses, 1);
  eddy_string_transport_clear(st);
  eddy_reactor_advance(f.r, 3000); /* the delayed flush is due */
  eddy_string_transport_feed(st, "get b\r\nset c 0 0 1\r\nz\r\nget c\r\n", 31);
  cr_assert_str_eq(eddy_string_transport_value(st, NULL),
                   "END\r\nSTORED\r\nVALUE c 0 1\r\nz\r\nEND\r\n");
  eddy_string_transport_free(st);
  fix_close(&f);
}

Test(cache_server, too_large_is_swallowed) {
  eddy_cache_opts_t o;
  eddy_cache_opts_init(&o);
  o.max_item_size = 10;
  exchange(&o,
           "set a 0 0 2\r\nok\r\n"
           "set a 0 0 11\r\n0123456789A\r\n"
           "get a\r\n"
           "ms b 20 T0\r\n01234567890123456789\r\n"
           "mn\r\n",
           "STORED\r\n"
           "SERVER_ERROR object too large for cache\r\n"
           "END\r\n" /* memcached drops the old value of a refused set */
           "SERVER_ERROR object too large for cache\r\n"
           "MN\r\n");
}

Test(cache_server, memory_limit_evicts) {
  eddy_cache_opts_t o;
  eddy_cache_opts_init(&o);
  o.memory_limit = 3 * eddy__item_size(1, 100);
  fix_t f;
  fix_open(&f, &o);
  eddy_string_transport_t *st = fix_connect(&f);
  char block[100];
  memset(block, 'v', sizeof(block));
  const char *keys = "abcd";
  for (int i = 0; i < 4; i++) {
    char line[32];
    snprintf(line, sizeof(line), "set %c 0 0 100\r\n", keys[i]);
    eddy_string_transport_feed(st, line, strlen(line));
    eddy_string_transport_feed(st, block, sizeof(block));
    eddy_string_transport_feed(st, "\r\n", 2);
    if (i == 2) /* a is read: b becomes the least recently used */
      eddy_string_transport_feed(st, "get a\r\n", 7);
  }
  eddy_string_transport_clear(st);
  eddy_string_transport_feed(st, "mg a\r\nmg b\r\nmg c\r\nmg d\r\n", 24);
  cr_assert_str_eq(eddy_string_transport_value(st, NULL),
                   "HD\r\nEN\r\nHD\r\nHD\r\n");
  eddy_cache_stats_t s;
  eddy_cache_stats(f.c, &s);
  cr_assert_eq(s.evictions, 1);
  cr_assert_eq(s.curr_items, 3);
  eddy_string_transport_free(st);
  fix_close(&f);
}

Test(cache_server, large_values_are_shared_not_copied) {
  fix_t f;
  fix_open(&f, NULL);
  eddy_string_transport_t *st = fix_connect(&f);
  size_t n = 100000;
  char *v = malloc(n);
  for (size_t i = 0; i < n; i++)
    v[i] = (char)('a' + i % 26);
  eddy_string_transport_feed(st, "set big 0 0 100000\r\n", 20);
  eddy_string_transport_feed(st, v, n);
  eddy_string_transport_feed(st, "\r\n", 2);
  eddy_string_transport_clear(st);
  /* Replace it in the same batch: the reply still holds the old bytes. */
  const char *in = "get big\r\nset big 0 0 1\r\nx\r\nget big\r\n";
  eddy_string_transport_feed(st, in, strlen(in));
  size_t len;
  const char *out = eddy_string_transport_value(st, &len);
  const char *head = "VALUE big 0 100000\r\n";
  cr_assert_eq(len, strlen(head) + n + 2 + 5 + 8 + 23);
  cr_assert_eq(memcmp(out, head, strlen(head)), 0);
  cr_assert_eq(memcmp(out + strlen(head), v, n), 0);
  cr_assert_str_eq(out + strlen(head) + n,
                   "\r\nEND\r\nSTORED\r\nVALUE big 0 1\r\nx\r\nEND\r\n");
  free(v);
  eddy_string_transport_free(st);
  fix_close(&f);
}

Test(cache_server, quit_and_line_too_long_close) {
  fix_t f;
  fix_open(&f, NULL);
  eddy_string_transport_t *st = fix_connect(&f);
  eddy_string_transport_feed(st, "mn\r\nquit\r\nmn\r\n", 14);
  cr_assert_str_eq(eddy_string_transport_value(st, NULL), "MN\r\n");
  cr_assert(eddy_string_transport_lose_called(st));
  eddy_string_transport_free(st);

  st = fix_connect(&f);
  char line[3000];
  memset(line, 'x', sizeof(line));
  memcpy(line, "set ", 4);
  eddy_string_transport_feed_bytewise(st, line, sizeof(line));
  cr_assert_str_eq(eddy_string_transport_value(st, NULL),
                   "CLIENT_ERROR line too long\r\n");
  cr_assert(eddy_string_transport_lose_called(st));
  eddy_string_transport_free(st);

  /* A long multiget is fine. */
  st = fix_connect(&f);
  eddy_string_transport_feed(st, "set k 0 0 1\r\nv\r\n", 16);
  eddy_string_transport_clear(st);
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  eddy_buf_append_str(&b, "get");
  for (int i = 0; i < 1000; i++)
    eddy_buf_append_str(&b, " k");
  eddy_buf_append_str(&b, "\r\n");
  eddy_string_transport_feed(st, b.data, b.len);
  size_t len;
  eddy_string_transport_value(st, &len);
  cr_assert_eq(len, 1000 * strlen("VALUE k 0 1\r\nv\r\n") + 5);
  cr_assert_not(eddy_string_transport_lose_called(st));
  eddy_buf_free(&b);
  eddy_string_transport_free(st);
  fix_close(&f);
}

Test(cache_server, connection_limit) {
  eddy_cache_opts_t o;
  eddy_cache_opts_init(&o);
  o.max_connections = 1;
  fix_t f;
  fix_open(&f, &o);
  eddy_string_transport_t *a = fix_connect(&f);
  eddy_string_transport_t *b = fix_connect(&f);
  cr_assert_str_eq(eddy_string_transport_value(b, NULL),
                   "SERVER_ERROR too many open connections\r\n");
  cr_assert(eddy_string_transport_lose_called(b));
  eddy_string_transport_feed(a, "mn\r\n", 4);
  cr_assert_str_eq(eddy_string_transport_value(a, NULL), "MN\r\n");
  eddy_string_transport_free(b);
  eddy_string_transport_free(a);
  fix_close(&f);
}

Test(cache_server, slow_reader_pauses_reading) {
  fix_t f;
  fix_open(&f, NULL);
  eddy_string_transport_t *st = fix_connect(&f);
  eddy_transport_t *t = eddy_string_transport_base(st);
  eddy_string_transport_feed(st, "set k 0 0 1\r\nv\r\n", 16);
  /* The client reads nothing: the bytes "stuck in the kernel" pass the
   * high-water mark. */
  eddy_string_transport_set_pending(st, 1u << 20);
  eddy_transport_check_water(t);
  eddy_reactor_run_once(f.r, 0);
  cr_assert(eddy_string_transport_reading_paused(st));
  eddy_string_transport_clear(st);
  /* What still arrives waits. */
  eddy_string_transport_feed(st, "get k\r\n", 7);
  cr_assert_str_eq(eddy_string_transport_value(st, NULL), "");
  eddy_string_transport_set_pending(st, 0);
  eddy_transport_check_water(t);
  eddy_reactor_run_once(f.r, 0);
  cr_assert_not(eddy_string_transport_reading_paused(st));
  cr_assert_str_eq(eddy_string_transport_value(st, NULL),
                   "VALUE k 0 1\r\nv\r\nEND\r\n");
  eddy_string_transport_free(st);
  fix_close(&f);
}

Test(cache_server, close_with_open_connections) {
  fix_t f;
  fix_open(&f, NULL);
  eddy_string_transport_t *st = fix_connect(&f);
  eddy_cache_close(f.c, on_closed, &f.closed);
  cr_assert(eddy_string_transport_lose_called(st));
  eddy_reactor_run_once(f.r, 0);
  eddy_reactor_run_once(f.r, 0);
  eddy_string_transport_free(st);
  test_close_reactor(f.r);
  cr_assert_eq(f.closed, 1);
}

/* ---- Real TCP ------------------------------------------------------------ */

Test(cache_server, over_tcp) {
  eddy_reactor_t *r = test_reactor(0);
  eddy_cache_t *c;
  cr_assert_eq(eddy_cache_new(r, NULL, &c), 0);
  eddy_listener_t *l;
  cr_assert_eq(eddy_cache_listen(c, "tcp:0", &l), 0);
  char ep[64];
  local_endpoint(ep, sizeof(ep), l, "");
  side_t client;
  side_init(&client);
  outcome_t out = {0};
  eddy_deferred_t *d = eddy_connect(r, ep, &client.f);
  cr_assert_not_null(d);
  eddy_deferred_add_callbacks(d, got_ok, got_err, &out);
  WAIT_FOR(r, out.done == 1);
  cr_assert_eq(out.err, 0);
  peer_t *p = out.peer;
  const char *in = "set k 1 0 5\r\nhello\r\nget k\r\nmg k v\r\nmn\r\n";
  eddy_transport_write_str(tr(p), in);
  const char *want = "STORED\r\nVALUE k 1 5\r\nhello\r\nEND\r\n"
                     "VA 5\r\nhello\r\nMN\r\n";
  WAIT_FOR(r, p->in.len >= strlen(want));
  cr_assert_eq(p->in.len, strlen(want));
  cr_assert_eq(memcmp(p->in.data, want, p->in.len), 0);
  eddy_transport_write_str(tr(p), "quit\r\n");
  WAIT_FOR(r, p->lost);
  int closed = 0;
  eddy_cache_close(c, on_closed, &closed);
  WAIT_FOR(r, closed == 1);
  finish(r, NULL, &client, &client);
}

Test(cache_server, pipelined_large_gets_stop_at_the_high_water_mark) {
  fix_t f;
  fix_open(&f, NULL);
  eddy_string_transport_t *st = fix_connect(&f);
  eddy_transport_t *t = eddy_string_transport_base(st);
  size_t n = 50000;
  char *v = malloc(n);
  memset(v, 'q', n);
  eddy_string_transport_feed(st, "set big 0 0 50000\r\n", 19);
  eddy_string_transport_feed(st, v, n);
  eddy_string_transport_feed(st, "\r\n", 2);
  eddy_string_transport_clear(st);
  /* From now on every write looks stuck in the kernel. */
  eddy_string_transport_set_pending(st, 1u << 20);
  const char *in = "get big\r\nget big\r\nget big\r\n";
  eddy_string_transport_feed(st, in, strlen(in));
  size_t len;
  eddy_string_transport_value(st, &len);
  size_t one = strlen("VALUE big 0 50000\r\n") + n + 2 + 5;
  cr_assert_eq(len, one, "only the first answer is written (%zu)", len);
  eddy_reactor_run_once(f.r, 0);
  cr_assert(eddy_string_transport_reading_paused(st));
  eddy_string_transport_set_pending(st, 0);
  eddy_transport_check_water(t);
  eddy_reactor_run_once(f.r, 0);
  eddy_string_transport_value(st, &len);
  cr_assert_eq(len, 3 * one);
  free(v);
  eddy_string_transport_free(st);
  fix_close(&f);
}

Test(cache_server, meta_win_tokens) {
  /* Answers checked against memcached 1.6.18. */
  exchange(NULL,
           "mg v1 v N30 t c\r\n"
           "mg v1 v N30 t\r\n"
           "mg v1 v\r\n"
           "ms v1 2\r\nhi\r\n"
           "mg v1 v N30\r\n"
           "mg v2 N30 s\r\n"
           "mg v2 s\r\n"
           "set r 0 100 1\r\nx\r\n"
           "mg r v R200 t\r\n"
           "mg r v R200 t\r\n"
           "mg r v R50 t\r\n"
           "set r2 0 100 1\r\nx\r\n"
           "mg r2 v R50 t\r\n"
           "mg r3 v R50 t\r\n"
           "mg nx N-1 v\r\n"
           "mg nx v\r\n",
           "VA 0 t30 c1 W\r\n\r\n"
           "VA 0 t30 Z\r\n\r\n"
           "VA 0 Z\r\n\r\n"
           "HD\r\n"
           "VA 2\r\nhi\r\n"
           "HD s0 W\r\n"
           "HD s0 Z\r\n"
           "STORED\r\n"
           "VA 1 t100 W\r\nx\r\n"
           "VA 1 t100 Z\r\nx\r\n"
           "VA 1 t100 Z\r\nx\r\n"
           "STORED\r\n"
           "VA 1 t100\r\nx\r\n"
           "EN\r\n"
           "VA 0 W\r\n\r\n"
           "EN\r\n");
}
