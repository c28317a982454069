/* test_cache_request.c — the memcached protocol parser, fed one byte at a
 * time: every proper prefix of a command must ask for more, and the whole
 * must give the same answer however it was split. Each prefix sits at the
 * very end of its own allocation, so an over-read trips the sanitizer. */
#include "support.h"

#include <stdlib.h>
#include <string.h>

#include "cache/request.h"

static const eddy__mc_limits_t lim = {
    .max_line = 2048, .max_keys = 8192, .max_item = 1024};

/* Parses s after checking that each of its proper prefixes needs more.
 * *keep holds the bytes req points into (free it). */
static int parse_bytewise(const char *s, size_t len, eddy__mc_req_t *r,
                          char **keep) {
  for (size_t i = 0; i < len; i++) {
    char *b = malloc(i > 0 ? i : 1);
    cr_assert_not_null(b);
    memcpy(b, s, i);
    int rc = eddy__mc_parse(b, i, &lim, r);
    free(b);
    cr_assert_eq(rc, EDDY__MC_NEED, "prefix %zu of \"%s\" gave %d", i, s, rc);
  }
  char *b = malloc(len > 0 ? len : 1);
  cr_assert_not_null(b);
  memcpy(b, s, len);
  *keep = b;
  return eddy__mc_parse(b, len, &lim, r);
}

/* A whole command that parses OK and uses every byte. */
static char *ok(const char *s, eddy__mc_req_t *r) {
  char *keep;
  int rc = parse_bytewise(s, strlen(s), r, &keep);
  cr_assert_eq(rc, EDDY__MC_OK, "\"%s\": %d (%s)", s, rc,
               r->error ? r->error : "");
  cr_assert_eq(r->consumed, strlen(s), "\"%s\" consumed %zu", s, r->consumed);
  return keep;
}

static void error_is(const char *s, const char *msg, size_t swallow) {
  eddy__mc_req_t r;
  char *keep;
  int rc = parse_bytewise(s, strlen(s), &r, &keep);
  cr_assert_eq(rc, EDDY__MC_ERROR, "\"%s\" gave %d", s, rc);
  cr_assert_str_eq(r.error, msg, "\"%s\"", s);
  cr_assert_eq(r.consumed, strlen(s), "\"%s\" consumed %zu", s, r.consumed);
  cr_assert_eq(r.swallow, swallow, "\"%s\" swallow %zu", s, r.swallow);
  free(keep);
}

static int span_is(const char *p, size_t n, const char *want) {
  return n == strlen(want) && memcmp(p, want, n) == 0;
}

Test(cache_request, storage_commands) {
  eddy__mc_req_t r;
  char *k = ok("set foo 5 100 3\r\nbar\r\n", &r);
  cr_assert_eq(r.cmd, EDDY__MC_SET);
  cr_assert(span_is(r.key, r.nkey, "foo"));
  cr_assert_eq(r.flags, 5);
  cr_assert_eq(r.exptime, 100);
  cr_assert_eq(r.bytes, 3);
  cr_assert(span_is(r.data, r.bytes, "bar"));
  cr_assert_eq(r.noreply, 0);
  free(k);
  k = ok("add k 4294967295 -1 0 noreply\r\n\r\n", &r);
  cr_assert_eq(r.cmd, EDDY__MC_ADD);
  cr_assert_eq(r.flags, 4294967295u);
  cr_assert_eq(r.exptime, -1);
  cr_assert_eq(r.bytes, 0);
  cr_assert_eq(r.noreply, 1);
  free(k);
  k = ok("cas k 0 0 2 18446744073709551615\r\n\r\n\r\n", &r);
  cr_assert_eq(r.cmd, EDDY__MC_CAS);
  cr_assert_eq(r.cas, UINT64_MAX);
  cr_assert(span_is(r.data, 2, "\r\n")); /* the block may hold anything */
  free(k);
  k = ok("replace k 0 0 1\nx\r\n", &r); /* a bare \n ends a line too */
  cr_assert_eq(r.cmd, EDDY__MC_REPLACE);
  free(k);
  k = ok("append k 0 0 1 extra\r\nx\r\n", &r); /* memcached ignores it */
  cr_assert_eq(r.cmd, EDDY__MC_APPEND);
  cr_assert_eq(r.noreply, 0);
  free(k);
  k = ok("prepend   k  0 0 1\r\nx\r\n", &r);
  cr_assert_eq(r.cmd, EDDY__MC_PREPEND);
  cr_assert(span_is(r.key, r.nkey, "k"));
  free(k);
}

Test(cache_request, retrieval_commands) {
  eddy__mc_req_t r;
  char *k = ok("get a bb ccc\r\n", &r);
  cr_assert_eq(r.cmd, EDDY__MC_GET);
  size_t pos = 0, n;
  const char *key;
  const char *want[] = {"a", "bb", "ccc"};
  for (int i = 0; i < 3; i++) {
    cr_assert(eddy__mc_next_key(&r, &pos, &key, &n));
    cr_assert(span_is(key, n, want[i]));
  }
  cr_assert_not(eddy__mc_next_key(&r, &pos, &key, &n));
  free(k);
  k = ok("gets x\r\n", &r);
  cr_assert_eq(r.cmd, EDDY__MC_GETS);
  free(k);
  k = ok("gat 60 x y\r\n", &r);
  cr_assert_eq(r.cmd, EDDY__MC_GAT);
  cr_assert_eq(r.exptime, 60);
  pos = 0;
  cr_assert(eddy__mc_next_key(&r, &pos, &key, &n));
  cr_assert(span_is(key, n, "x"));
  free(k);
  k = ok("gats -1 x\r\n", &r);
  cr_assert_eq(r.cmd, EDDY__MC_GATS);
  cr_assert_eq(r.exptime, -1);
  free(k);
  k = ok("gat 10\r\n", &r); /* no key: an empty answer, as memcached */
  pos = 0;
  cr_assert_not(eddy__mc_next_key(&r, &pos, &key, &n));
  free(k);
}

Test(cache_request, other_commands) {
  eddy__mc_req_t r;
  struct {
    const char *in;
    eddy__mc_cmd_t cmd;
    int noreply;
  } cases[] = {
      {"delete k\r\n", EDDY__MC_DELETE, 0},
      {"delete k 0\r\n", EDDY__MC_DELETE, 0},
      {"delete k noreply\r\n", EDDY__MC_DELETE, 1},
      {"delete k 0 noreply\r\n", EDDY__MC_DELETE, 1},
      {"incr k 5\r\n", EDDY__MC_INCR, 0},
      {"decr k 18446744073709551615 noreply\r\n", EDDY__MC_DECR, 1},
      {"touch k 10\r\n", EDDY__MC_TOUCH, 0},
      {"touch k -1 noreply\r\n", EDDY__MC_TOUCH, 1},
      {"flush_all\r\n", EDDY__MC_FLUSH_ALL, 0},
      {"flush_all 10\r\n", EDDY__MC_FLUSH_ALL, 0},
      {"flush_all noreply\r\n", EDDY__MC_FLUSH_ALL, 1},
      {"flush_all 0 noreply\r\n", EDDY__MC_FLUSH_ALL, 1},
      {"flush_all 0 0\r\n", EDDY__MC_FLUSH_ALL, 0},
      {"version\r\n", EDDY__MC_VERSION, 0},
      {"version x\r\n", EDDY__MC_VERSION, 0},
      {"verbosity 1\r\n", EDDY__MC_VERBOSITY, 0},
      {"verbosity 1 noreply\r\n", EDDY__MC_VERBOSITY, 1},
      {"stats\r\n", EDDY__MC_STATS, 0},
      {"stats settings\r\n", EDDY__MC_STATS, 0},
      {"quit\r\n", EDDY__MC_QUIT, 0},
      {"mn\r\n", EDDY__MC_MN, 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *k = ok(cases[i].in, &r);
    cr_assert_eq(r.cmd, cases[i].cmd, "%s", cases[i].in);
    cr_assert_eq(r.noreply, cases[i].noreply, "%s", cases[i].in);
    free(k);
  }
  char *k = ok("incr k 42\r\n", &r);
  cr_assert_eq(r.delta, 42);
  free(k);
  k = ok("flush_all 30\r\n", &r);
  cr_assert_eq(r.exptime, 30);
  free(k);
  k = ok("stats settings\r\n", &r);
  cr_assert(span_is(r.arg, r.arg_len, "settings"));
  free(k);
}

Test(cache_request, classic_errors) {
  const char *fmt = "CLIENT_ERROR bad command line format";
  char long_key[300];
  memset(long_key, 'k', sizeof(long_key));
  char line[400];
  snprintf(line, sizeof(line), "get %.251s\r\n", long_key);
  error_is(line, fmt, 0);
  snprintf(line, sizeof(line), "set %.251s 0 0 1\r\n", long_key);
  error_is(line, fmt, 0);
  error_is("get a\x01 b\r\n", fmt, 0); /* control characters */
  error_is("\r\n", "ERROR", 0);
  error_is("bogus\r\n", "ERROR", 0);
  error_is("GET k\r\n", "ERROR", 0);
  error_is("get\r\n", "ERROR", 0);
  error_is("set k 0 0\r\n", "ERROR", 0);
  error_is("set k 0 0 1 noreply extra\r\n", "ERROR", 0);
  error_is("set k x 0 1\r\n", fmt, 0);
  error_is("set k -1 0 1\r\n", fmt, 0);
  error_is("set k 4294967296 0 1\r\n", fmt, 0);
  error_is("set k 0 x 1\r\n", fmt, 0);
  error_is("set k 0 0 -1\r\n", fmt, 0);
  error_is("set k 0 0 1x\r\n", fmt, 0);
  error_is("cas k 0 0 1\r\n", "ERROR", 0);
  error_is("cas k 0 0 1 x\r\n", fmt, 0);
  /* Too large: answered at once, the block swallowed as it comes. */
  error_is("set k 0 0 1025\r\n", "SERVER_ERROR object too large for cache",
           1027);
  error_is("set k 0 0 3\r\nabcde", "CLIENT_ERROR bad data chunk", 0);
  error_is("set k 0 0 3\r\nabc\n\r", "CLIENT_ERROR bad data chunk", 0);
  error_is("incr k x\r\n", "CLIENT_ERROR invalid numeric delta argument", 0);
  error_is("incr k -1\r\n", "CLIENT_ERROR invalid numeric delta argument", 0);
  error_is("incr k 18446744073709551616\r\n",
           "CLIENT_ERROR invalid numeric delta argument", 0);
  error_is("incr k\r\n", "ERROR", 0);
  error_is("touch k x\r\n", "CLIENT_ERROR invalid exptime argument", 0);
  error_is("gat x k\r\n", "CLIENT_ERROR invalid exptime argument", 0);
  error_is("gat\r\n", "ERROR", 0);
  error_is("delete k 1\r\n",
           "CLIENT_ERROR bad command line format.  "
           "Usage: delete <key> [noreply]",
           0);
  error_is("delete\r\n", "ERROR", 0);
  error_is("delete a b c d\r\n", "ERROR", 0);
  error_is("flush_all x\r\n", "CLIENT_ERROR invalid exptime argument", 0);
  error_is("verbosity\r\n", "ERROR", 0);
  error_is("verbosity x\r\n", fmt, 0);
}

Test(cache_request, refused_set_drops_old_value) {
  eddy__mc_req_t r;
  char *keep;
  const char *s = "set k 0 0 5000 noreply\r\n";
  int rc = parse_bytewise(s, strlen(s), &r, &keep);
  cr_assert_eq(rc, EDDY__MC_ERROR);
  cr_assert(r.drop_key);
  cr_assert(r.noreply);
  cr_assert(span_is(r.key, r.nkey, "k"));
  free(keep);
  s = "add k 0 0 5000\r\n";
  rc = parse_bytewise(s, strlen(s), &r, &keep);
  cr_assert_eq(rc, EDDY__MC_ERROR);
  cr_assert_not(r.drop_key);
  free(keep);
}

Test(cache_request, line_too_long) {
  eddy__mc_req_t r;
  size_t n = 3000;
  char *s = malloc(n);
  memset(s, 'x', n);
  memcpy(s, "set ", 4);
  /* Refused as soon as it is longer than the limit, before its end. */
  int rc = EDDY__MC_NEED;
  size_t at = 0;
  for (size_t i = 1; i <= n && rc == EDDY__MC_NEED; i++) {
    char *b = malloc(i);
    memcpy(b, s, i);
    rc = eddy__mc_parse(b, i, &lim, &r);
    free(b);
    at = i;
  }
  cr_assert_eq(rc, EDDY__MC_CLOSE);
  cr_assert_str_eq(r.error, "CLIENT_ERROR line too long");
  cr_assert_leq(at, lim.max_line + 2);
  cr_assert_gt(at, lim.max_line);
  /* A multiget may be longer. */
  memcpy(s, "get ", 4);
  for (size_t i = 4; i < n - 2; i += 10)
    s[i] = ' ';
  s[n - 2] = '\r';
  s[n - 1] = '\n';
  char *keep;
  rc = parse_bytewise(s, n, &r, &keep);
  cr_assert_eq(rc, EDDY__MC_OK);
  free(keep);
  free(s);
  /* ...but not without bound. */
  n = lim.max_keys + 100;
  s = malloc(n);
  memset(s, 'k', n);
  memcpy(s, "get ", 4);
  rc = eddy__mc_parse(s, n, &lim, &r);
  cr_assert_eq(rc, EDDY__MC_CLOSE);
  free(s);
}

Test(cache_request, pipelined_commands_one_at_a_time) {
  const char *s = "set a 0 0 1\r\n1\r\nget a\r\nmn\r\n";
  eddy__mc_req_t r;
  size_t off = 0, len = strlen(s);
  eddy__mc_cmd_t want[] = {EDDY__MC_SET, EDDY__MC_GET, EDDY__MC_MN};
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(eddy__mc_parse(s + off, len - off, &lim, &r), EDDY__MC_OK);
    cr_assert_eq(r.cmd, want[i]);
    off += r.consumed;
  }
  cr_assert_eq(off, len);
  /* A partial block reports how much it needs. */
  cr_assert_eq(eddy__mc_parse("set a 0 0 10\r\nabc", 17, &lim, &r),
               EDDY__MC_NEED);
  cr_assert_eq(r.need, 14 + 12);
}

Test(cache_request, meta_get) {
  eddy__mc_req_t r;
  char *k = ok("mg foo v f t s c k Oabc q T30 u h l\r\n", &r);
  cr_assert_eq(r.cmd, EDDY__MC_MG);
  cr_assert(span_is(r.key, r.nkey, "foo"));
  cr_assert_eq(r.nmflags, 12);
  const char order[] = "vftsckOqTuhl";
  for (size_t i = 0; i < r.nmflags; i++)
    cr_assert_eq(r.mflags[i].flag, order[i]);
  cr_assert(eddy__mc_has(&r, 'v'));
  cr_assert_not(eddy__mc_has(&r, 'N'));
  cr_assert(r.quiet);
  cr_assert(r.has_ttl);
  cr_assert_eq(r.ttl, 30);
  cr_assert(span_is(r.opaque, r.opaque_len, "abc"));
  free(k);
  k = ok("mg foo\r\n", &r);
  cr_assert_eq(r.nmflags, 0);
  free(k);
  k = ok("mg foo N30 R10 v\r\n", &r);
  cr_assert(r.has_vivify);
  cr_assert_eq(r.vivify_ttl, 30);
  cr_assert(r.has_recache);
  cr_assert_eq(r.recache_ttl, 10);
  free(k);
}

Test(cache_request, meta_set_delete_arith) {
  eddy__mc_req_t r;
  char *k = ok("ms foo 3 T60 F9 C7 MA c k O1 q I\r\nabc\r\n", &r);
  cr_assert_eq(r.cmd, EDDY__MC_MS);
  cr_assert_eq(r.bytes, 3);
  cr_assert(span_is(r.data, 3, "abc"));
  cr_assert_eq(r.ttl, 60);
  cr_assert_eq(r.flags, 9);
  cr_assert_eq(r.compare_cas, 7);
  cr_assert_eq(r.mode, EDDY__MC_MODE_APPEND);
  free(k);
  const char *modes = "EAPRS";
  for (const char *m = modes; *m; m++) {
    char line[40];
    snprintf(line, sizeof(line), "ms k 1 M%c\r\nx\r\n", *m);
    k = ok(line, &r);
    cr_assert_eq(r.mode, *m);
    free(k);
  }
  k = ok("ms k 1\r\nx\r\n", &r);
  cr_assert_eq(r.mode, EDDY__MC_MODE_SET);
  free(k);
  k = ok("md foo q C5 k O9\r\n", &r);
  cr_assert_eq(r.cmd, EDDY__MC_MD);
  cr_assert_eq(r.compare_cas, 5);
  cr_assert(r.quiet);
  free(k);
  k = ok("ma foo\r\n", &r);
  cr_assert_eq(r.mode, EDDY__MC_MODE_INCR);
  cr_assert_eq(r.delta, 1);
  free(k);
  k = ok("ma foo N30 J10 D5 MD v t c T0\r\n", &r);
  cr_assert(r.has_vivify);
  cr_assert_eq(r.vivify_ttl, 30);
  cr_assert_eq(r.initial, 10);
  cr_assert_eq(r.delta, 5);
  cr_assert_eq(r.mode, EDDY__MC_MODE_DECR);
  free(k);
  k = ok("ma foo M-\r\n", &r);
  cr_assert_eq(r.mode, EDDY__MC_MODE_DECR);
  free(k);
  k = ok("ma foo M+\r\n", &r);
  cr_assert_eq(r.mode, EDDY__MC_MODE_INCR);
  free(k);
}

Test(cache_request, meta_errors) {
  error_is("mg\r\n", "ERROR", 0);
  error_is("md\r\n", "ERROR", 0);
  error_is("mg k X\r\n", "CLIENT_ERROR invalid flag", 0);
  error_is("mg k 1\r\n", "CLIENT_ERROR invalid flag", 0);
  error_is("mg k v v\r\n", "CLIENT_ERROR duplicate flag", 0);
  error_is("mg k Tx\r\n", "CLIENT_ERROR bad token in command line format", 0);
  error_is("mg k T\r\n", "CLIENT_ERROR bad token in command line format", 0);
  error_is("mg k Rx\r\n", "CLIENT_ERROR bad token in command line format", 0);
  error_is("mg k E5\r\n", "CLIENT_ERROR invalid flag", 0);
  error_is("md k I\r\n", "CLIENT_ERROR invalid flag", 0);
  error_is("mg k O123456789012345678901234567890123\r\n",
           "CLIENT_ERROR opaque token too long", 0);
  error_is("md k Cx\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
  error_is("ma k Dx\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
  error_is("ma k MX\r\n", "CLIENT_ERROR invalid mode for ma M token", 0);
  error_is("ms k\r\n", "CLIENT_ERROR bad command line format", 0);
  error_is("ms k x\r\n", "CLIENT_ERROR bad command line format", 0);
  /* Once the length is known, the block is skipped with the error. */
  error_is("ms k 2 MX\r\n", "CLIENT_ERROR invalid mode for ms M token", 4);
  error_is("ms k 2 Z\r\n", "CLIENT_ERROR invalid flag", 4);
  error_is("ms k 2 Fx\r\n", "CLIENT_ERROR bad command line format", 4);
  error_is("ms k 2 Cx\r\n", "CLIENT_ERROR bad token in command line format", 4);
  error_is("ms k 2000\r\n", "SERVER_ERROR object too large for cache", 2002);
  error_is("ms k 2\r\nabcd", "CLIENT_ERROR bad data chunk", 0);
}

Test(cache_request, numeric_values) {
  uint64_t v;
  cr_assert_eq(eddy__mc_value_u64("42", 2, &v), 0);
  cr_assert_eq(v, 42);
  cr_assert_eq(eddy__mc_value_u64("9 ", 2, &v), 0); /* padded by decr */
  cr_assert_eq(v, 9);
  cr_assert_eq(eddy__mc_value_u64("  7", 3, &v), 0);
  cr_assert_eq(v, 7);
  cr_assert_eq(eddy__mc_value_u64("18446744073709551615", 20, &v), 0);
  cr_assert_eq(v, UINT64_MAX);
  cr_assert_neq(eddy__mc_value_u64("18446744073709551616", 20, &v), 0);
  cr_assert_eq(eddy__mc_value_u64("0000000000000000000000012", 25, &v), 0);
  cr_assert_eq(v, 12);
  cr_assert_eq(eddy__mc_value_u64("0", 1, &v), 0);
  cr_assert_eq(v, 0);
  cr_assert_neq(eddy__mc_value_u64("", 0, &v), 0);
  cr_assert_neq(eddy__mc_value_u64("-1", 2, &v), 0);
  cr_assert_neq(eddy__mc_value_u64("12a", 3, &v), 0);
  cr_assert_neq(eddy__mc_value_u64("   ", 3, &v), 0);
}
