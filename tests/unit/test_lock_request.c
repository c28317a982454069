/* test_lock_request.c — the lock protocol's request parser: every verb,
 * every error, and every prefix of valid lines (as bytes arrive one at a
 * time, a parser must never read past what it was given). */
#include <stdlib.h>
#include <string.h>

#include "locks/request_internal.h"
#include "support.h"

/* Parses a copy placed in its own allocation, so ASan catches any read past
 * the end. */
static int parse(const char *line, eddy__lk_request_t *q, const char **err) {
  size_t n = strlen(line);
  char *copy = malloc(n ? n : 1);
  cr_assert_not_null(copy);
  memcpy(copy, line, n);
  *err = NULL;
  int rc = eddy__lk_request_parse(copy, n, 250, q, err);
  /* Strings point into the line: compare before freeing. */
  if (rc == 1 && q->arg != NULL)
    cr_assert(q->arg >= copy && q->arg + q->arg_len <= copy + n);
  free(copy);
  return rc;
}

static void ok(const char *line, eddy__lk_verb_t verb) {
  eddy__lk_request_t q;
  const char *err;
  int rc = parse(line, &q, &err);
  cr_assert_eq(rc, 1, "'%s': %s", line, err ? err : "");
  cr_assert_eq(q.verb, verb, "'%s'", line);
}

static void bad(const char *line, const char *want) {
  eddy__lk_request_t q;
  const char *err;
  int rc = parse(line, &q, &err);
  cr_assert_eq(rc, EDDY_EPARSE, "'%s' should fail", line);
  cr_assert_not_null(err);
  cr_assert(strstr(err, want) != NULL, "'%s': '%s' lacks '%s'", line, err,
            want);
}

Test(lock_request, verbs) {
  /* No I/O, but the house rule holds: nothing is left open. */
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  ok("hello worker-1", EDDY__LK_V_HELLO);
  ok("acquire a", EDDY__LK_V_ACQUIRE);
  ok("release a", EDDY__LK_V_RELEASE);
  ok("refresh a", EDDY__LK_V_REFRESH);
  ok("refresh a lease=5", EDDY__LK_V_REFRESH);
  ok("inspect a", EDDY__LK_V_INSPECT);
  ok("list", EDDY__LK_V_LIST);
  ok("list jobs/", EDDY__LK_V_LIST);
  ok("stats", EDDY__LK_V_STATS);
  ok("reset", EDDY__LK_V_RESET);
  ok("reset s3cret", EDDY__LK_V_RESET);
  ok("ping", EDDY__LK_V_PING);
  ok("quit", EDDY__LK_V_QUIT);
  ok("PING\r", EDDY__LK_V_PING);
  ok("  AcQuIrE\t a  \r", EDDY__LK_V_ACQUIRE);
  eddy__lk_request_t q;
  const char *err;
  cr_assert_eq(parse("", &q, &err), 0);
  cr_assert_eq(parse("\r", &q, &err), 0);
  cr_assert_eq(parse(" \t ", &q, &err), 0);
  test_close_reactor(r);
}

Test(lock_request, acquire_options) {
  /* No I/O, but the house rule holds: nothing is left open. */
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy__lk_request_t q;
  const char *err;
  cr_assert_eq(parse("acquire jobs/daily", &q, &err), 1);
  cr_assert_eq(q.arg_len, 10);
  cr_assert_eq(q.shared, 0);
  cr_assert_eq(q.reentrant, 0);
  cr_assert_eq(q.wait_ms, UINT64_MAX);
  cr_assert_eq(q.lease_ms, 0);
  cr_assert_eq(
      parse("acquire x SHARED Reentrant wait=250 lease=30000\r", &q, &err), 1);
  cr_assert(q.shared && q.reentrant);
  cr_assert_eq(q.wait_ms, 250);
  cr_assert_eq(q.lease_ms, 30000);
  cr_assert_eq(parse("acquire x try exclusive", &q, &err), 1);
  cr_assert_eq(q.wait_ms, 0);
  cr_assert_eq(q.shared, 0);
  cr_assert_eq(parse("acquire x wait=0", &q, &err), 1);
  cr_assert_eq(q.wait_ms, 0);
  cr_assert_eq(parse("acquire x wait=4294967295", &q, &err), 1);
  cr_assert_eq(q.wait_ms, 4294967295u);
  cr_assert_eq(parse("acquire x lease=18446744073709551615", &q, &err), 1);
  cr_assert_eq(q.lease_ms, UINT64_MAX);
  cr_assert_eq(parse("acquire caf\xc3\xa9", &q, &err), 1, "UTF-8 names");
  test_close_reactor(r);
}

Test(lock_request, errors) {
  /* No I/O, but the house rule holds: nothing is left open. */
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  bad("frobnicate", "unknown command");
  bad("acquire", "missing lock name");
  bad("release", "missing lock name");
  bad("hello", "missing argument");
  bad("release a b", "too many arguments");
  bad("ping now", "too many arguments");
  bad("acquire a b c d e f g h i", "too many words");
  bad("acquire a bogus", "unknown acquire option");
  bad("acquire a shared exclusive", "given twice");
  bad("acquire a reentrant reentrant", "given twice");
  bad("acquire a try wait=5", "one of try and wait=");
  bad("acquire a wait=5 try", "one of try and wait=");
  bad("acquire a wait=", "wait= needs");
  bad("acquire a wait=-1", "wait= needs");
  bad("acquire a wait=1x", "wait= needs");
  bad("acquire a wait=4294967296", "wait= needs");
  bad("acquire a lease=0", "lease= needs");
  bad("acquire a lease=18446744073709551616", "lease= needs");
  bad("acquire a lease=5 lease=6", "given twice");
  bad("refresh a wait=5", "only lease=");
  bad("refresh a lease=0", "lease= needs");
  bad("acquire a\x01", "bad lock name");
  bad("acquire a\x7f", "bad lock name");
  bad("hello abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdX",
      "client name");
  bad("list \x02", "bad prefix");
  char line[300] = "acquire ";
  memset(line + 8, 'n', 251);
  line[259] = '\0';
  bad(line, "lock name too long");
  line[258] = '\0';
  ok(line, EDDY__LK_V_ACQUIRE);
  test_close_reactor(r);
}

/* Every prefix of every line either parses or fails cleanly, and the whole
 * line, once its last byte is there, gives the expected request. */
Test(lock_request, every_prefix_byte_by_byte) {
  /* No I/O, but the house rule holds: nothing is left open. */
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  static const char *lines[] = {
      "hello w1\r",
      "acquire jobs/x shared reentrant wait=100 lease=2000\r",
      "ACQUIRE y TRY",
      "release jobs/x\r",
      "refresh jobs/x lease=10\r",
      "inspect jobs/x",
      "list jobs/",
      "reset tok",
      "acquire a wait=12345678901234567890123",
      "quit\r",
  };
  for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
    size_t n = strlen(lines[i]);
    for (size_t k = 0; k <= n; k++) {
      char *copy = malloc(k ? k : 1);
      cr_assert_not_null(copy);
      memcpy(copy, lines[i], k);
      eddy__lk_request_t q;
      const char *err = NULL;
      int rc = eddy__lk_request_parse(copy, k, 250, &q, &err);
      cr_assert(rc == 0 || rc == 1 || (rc == EDDY_EPARSE && err != NULL));
      free(copy);
    }
  }
  test_close_reactor(r);
}

/* A stream of requests through a line receiver, one byte per feed, as a
 * socket may deliver them: each line parses as if it came whole. */
typedef struct {
  eddy_line_receiver_t lr;
  eddy__lk_verb_t verbs[16];
  int n, errors;
} stream_t;

static void stream_line(eddy_line_receiver_t *lr, const char *line,
                        size_t len) {
  stream_t *st = (stream_t *)lr;
  eddy__lk_request_t q;
  const char *err = NULL;
  int rc = eddy__lk_request_parse(line, len, 250, &q, &err);
  if (rc == 1 && st->n < 16)
    st->verbs[st->n++] = q.verb;
  else if (rc < 0)
    st->errors++;
}

Test(lock_request, stream_one_byte_at_a_time) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  static const eddy_line_ops_t ops = {.line_received = stream_line};
  stream_t st;
  memset(&st, 0, sizeof(st));
  eddy_line_receiver_init(&st.lr, NULL, &ops, 1025);
  cr_assert_eq(eddy_line_receiver_set_delimiter(&st.lr, "\n", 1), 0);
  const char in[] = "hello a\r\nacquire x shared wait=5\r\n\r\nbogus\n"
                    "release x\nquit\r\n";
  for (size_t i = 0; i < sizeof(in) - 1; i++)
    cr_assert_eq(eddy_line_receiver_feed(&st.lr, in + i, 1), 0);
  cr_assert_eq(st.n, 4);
  cr_assert_eq(st.errors, 1);
  cr_assert_eq(st.verbs[0], EDDY__LK_V_HELLO);
  cr_assert_eq(st.verbs[1], EDDY__LK_V_ACQUIRE);
  cr_assert_eq(st.verbs[2], EDDY__LK_V_RELEASE);
  cr_assert_eq(st.verbs[3], EDDY__LK_V_QUIT);
  eddy_line_receiver_cleanup(&st.lr);
  test_close_reactor(r);
}
