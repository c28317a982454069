/* test_line.c — the line receiver (eddy/line.h): lines, delimiters, the
 * maximum, raw mode, closing, sending; every script fed whole, one byte at a
 * time, split at every position and in pseudo-random pieces. */
#include "support.h"

#include <stdlib.h>
#include <string.h>

/* A scripted protocol. Its lines are commands:
 *   RAW n      the next n bytes are a raw block (consumed whole, or in
 *              pieces of `raw_step` bytes when raw_step > 0)
 *   DELIM x    the delimiter becomes x
 *   MAX n      max_line becomes n
 *   QUIT       lose the connection (when there is a transport)
 * Everything that happens is logged as text, to compare runs. */
typedef struct {
  eddy_line_receiver_t lr; /* first: the receiver is the protocol */
  eddy_buf_t log;
  int with_too_long;
  size_t raw_step;
  size_t raw_want; /* bytes of the current block still expected */
  size_t max_seen; /* the longest line delivered */
  size_t too_long_count;
  size_t last_too_long;
  int nested; /* feed "N\r\n" again from inside line "NEST" */
  int lost;   /* connection_lost reason + 1000, 0 when not lost */
} rec_t;

/* Logs tag[bytes]. */
static void log_event(rec_t *t, char tag, const char *p, size_t n) {
  cr_assert_eq(eddy_buf_printf(&t->log, "%c[", tag), 0);
  cr_assert_eq(eddy_buf_append(&t->log, p, n), 0);
  cr_assert_eq(eddy_buf_append(&t->log, "]", 1), 0);
}

static void on_line(eddy_line_receiver_t *lr, const char *line, size_t len) {
  rec_t *t = (rec_t *)lr;
  log_event(t, 'L', line, len);
  if (len > t->max_seen)
    t->max_seen = len;
  /* A line never contains the delimiter. */
  if (len >= lr->delim_len)
    cr_assert_null(memmem(line, len, lr->delim, lr->delim_len));
  cr_assert_leq(len, lr->max_line);
  if (len > 4 && memcmp(line, "RAW ", 4) == 0) {
    t->raw_want = (size_t)strtoul(line + 4, NULL, 10);
    eddy_line_receiver_set_raw_mode(lr);
  } else if (len > 6 && memcmp(line, "DELIM ", 6) == 0) {
    cr_assert_eq(eddy_line_receiver_set_delimiter(lr, line + 6, len - 6), 0);
  } else if (len > 4 && memcmp(line, "MAX ", 4) == 0) {
    eddy_line_receiver_set_max_line(lr, (size_t)strtoul(line + 4, NULL, 10));
  } else if (len == 4 && memcmp(line, "QUIT", 4) == 0) {
    if (lr->protocol.transport != NULL)
      eddy_transport_lose_connection(lr->protocol.transport);
  } else if (len == 4 && memcmp(line, "NEST", 4) == 0 && t->nested) {
    cr_assert_eq(eddy_line_receiver_feed(lr, "N1\r\nN2\r\n", 8), 0);
  }
}

static size_t on_raw(eddy_line_receiver_t *lr, const char *data, size_t len) {
  rec_t *t = (rec_t *)lr;
  cr_assert_gt(len, 0);
  if (t->raw_step == 0) {
    if (len < t->raw_want)
      return 0; /* wait for the whole block */
    log_event(t, 'R', data, t->raw_want);
    size_t n = t->raw_want;
    t->raw_want = 0;
    eddy_line_receiver_set_line_mode(lr);
    return n;
  }
  /* Pieces of raw_step bytes (the last may be shorter), each taken only
   * once it is whole: the rest is offered again at once, or with more. */
  size_t n = t->raw_step < t->raw_want ? t->raw_step : t->raw_want;
  if (len < n)
    return 0;
  log_event(t, 'r', data, n);
  t->raw_want -= n;
  if (t->raw_want == 0)
    eddy_line_receiver_set_line_mode(lr);
  return n;
}

static void on_too_long(eddy_line_receiver_t *lr, size_t len) {
  rec_t *t = (rec_t *)lr;
  cr_assert_gt(len, lr->max_line);
  t->too_long_count++;
  t->last_too_long = len;
  cr_assert_eq(eddy_buf_append_str(&t->log, "T"), 0);
}

static const eddy_line_ops_t rec_line_ops = {on_line, on_raw, on_too_long};
static const eddy_line_ops_t rec_line_ops_strict = {on_line, on_raw, NULL};

static void rec_connection_lost(eddy_protocol_t *p, int reason) {
  ((rec_t *)p)->lost = reason + 1000;
}

static const eddy_protocol_ops_t rec_ops = {
    .data_received = eddy_line_receiver_data_received,
    .connection_lost = rec_connection_lost,
};

static void rec_init(rec_t *t, size_t max_line, int with_too_long) {
  memset(t, 0, sizeof(*t));
  eddy_line_receiver_init(&t->lr, &rec_ops,
                          with_too_long ? &rec_line_ops : &rec_line_ops_strict,
                          max_line);
  eddy_buf_init(&t->log, EDDY_BUF_UNLIMITED);
  t->with_too_long = with_too_long;
}

static void rec_cleanup(rec_t *t) {
  eddy_line_receiver_cleanup(&t->lr);
  eddy_buf_free(&t->log);
}

static const char *rec_log(rec_t *t) {
  if (eddy_buf_reserve(&t->log, 1) != 0)
    return "";
  t->log.data[t->log.len] = '\0';
  return t->log.data != NULL ? t->log.data : "";
}

/* Between feeds, line mode keeps at most max_line + the delimiter. */
static void check_bound(const rec_t *t) {
  if (!t->lr.raw)
    cr_assert_leq(t->lr.buf.len, t->lr.max_line + t->lr.delim_len,
                  "buffer %zu over max_line %zu", t->lr.buf.len,
                  t->lr.max_line);
}

typedef struct {
  size_t max_line;
  size_t raw_step;
  const char *delim; /* NULL: the default */
} setup_t;

/* Feeds input in pieces given by sizes (0-terminated; the rest goes last)
 * and returns the log (caller frees). */
static char *run(const setup_t *su, const char *input, size_t len,
                 const size_t *sizes) {
  rec_t t;
  rec_init(&t, su->max_line, 1);
  t.raw_step = su->raw_step;
  if (su->delim != NULL)
    cr_assert_eq(
        eddy_line_receiver_set_delimiter(&t.lr, su->delim, strlen(su->delim)),
        0);
  size_t off = 0;
  for (size_t i = 0; sizes != NULL && sizes[i] != 0 && off < len; i++) {
    size_t n = sizes[i] < len - off ? sizes[i] : len - off;
    cr_assert_eq(eddy_line_receiver_feed(&t.lr, input + off, n), 0);
    check_bound(&t);
    off += n;
  }
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, input + off, len - off), 0);
  check_bound(&t);
  char *out = strdup(rec_log(&t));
  rec_cleanup(&t);
  return out;
}

static uint32_t rng_next(uint32_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}

/* The log must not depend on how the input is split: whole, one byte at a
 * time, at every single split point, and in random pieces. */
static void check_script(const setup_t *su, const char *input,
                         const char *want) {
  size_t len = strlen(input);
  char *whole = run(su, input, len, NULL);
  cr_assert_str_eq(whole, want, "input: %s", input);

  size_t *ones = malloc((len + 1) * sizeof(size_t));
  for (size_t i = 0; i < len; i++)
    ones[i] = 1;
  ones[len] = 0;
  char *bytewise = run(su, input, len, ones);
  cr_assert_str_eq(bytewise, want, "bytewise: %s", input);
  free(bytewise);

  for (size_t k = 1; k < len; k++) {
    size_t sizes[2] = {k, 0};
    char *split = run(su, input, len, sizes);
    cr_assert_str_eq(split, want, "split at %zu: %s", k, input);
    free(split);
  }
  uint32_t seed = 0x9e3779b9u;
  for (int round = 0; round < 50; round++) {
    size_t total = 0, i = 0;
    while (total < len) {
      ones[i] = 1 + rng_next(&seed) % 7;
      total += ones[i++];
    }
    ones[i] = 0;
    char *pieces = run(su, input, len, ones);
    cr_assert_str_eq(pieces, want, "random pieces, round %d: %s", round, input);
    free(pieces);
  }
  free(ones);
  free(whole);
}

/* ---- Lines --------------------------------------------------------------- */

Test(line, defaults) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rec_t t;
  rec_init(&t, 0, 1);
  cr_assert_eq(t.lr.max_line, EDDY_LINE_MAX_DEFAULT);
  cr_assert_eq(t.lr.delim_len, 2);
  cr_assert_eq(memcmp(t.lr.delim, "\r\n", 2), 0);
  cr_assert_eq(eddy_line_receiver_is_raw(&t.lr), 0);
  cr_assert_eq(t.lr.protocol.ops, &rec_ops);
  cr_assert_eq(t.lr.line_ops, &rec_line_ops);
  eddy_line_receiver_set_max_line(&t.lr, (size_t)-1);
  cr_assert_eq(t.lr.max_line, EDDY_LINE_BUFFER_MAX);
  eddy_line_receiver_set_max_line(&t.lr, 0);
  cr_assert_eq(t.lr.max_line, EDDY_LINE_MAX_DEFAULT);
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, NULL, 3), UV_EINVAL);
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, NULL, 0), 0);
  rec_cleanup(&t);
  test_close_reactor(r);
}

Test(line, simple_lines) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  setup_t su = {0, 0, NULL};
  check_script(&su, "a\r\nbc\r\n\r\nd\r\n", "L[a]L[bc]L[]L[d]");
  /* A lone \r or \n is part of the line. */
  check_script(&su, "x\ry\nz\r\n\n\r\r\n", "L[x\ry\nz]L[\n\r]");
  /* No delimiter yet: nothing. */
  check_script(&su, "partial", "");
  check_script(&su, "\r\n\r\n\r\n", "L[]L[]L[]");
  test_close_reactor(r);
}

Test(line, partial_line_kept_between_feeds) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rec_t t;
  rec_init(&t, 0, 1);
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "hel", 3), 0);
  cr_assert_str_eq(rec_log(&t), "");
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "lo\r", 3), 0);
  cr_assert_str_eq(rec_log(&t), "");
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "\nwor", 4), 0);
  cr_assert_str_eq(rec_log(&t), "L[hello]");
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "ld\r\n", 4), 0);
  cr_assert_str_eq(rec_log(&t), "L[hello]L[world]");
  cr_assert_eq(t.lr.buf.len, 0);
  rec_cleanup(&t);
  test_close_reactor(r);
}

Test(line, delimiters) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  setup_t nl = {0, 0, "\n"};
  check_script(&nl, "a\nb\r\n\nc", "L[a]L[b\r]L[]");
  setup_t end = {0, 0, "END"};
  check_script(&end, "oneENDtwoENENDEEND", "L[one]L[twoEN]L[E]");
  /* Overlapping prefixes: "aab" in "aaab". */
  setup_t aab = {0, 0, "aab"};
  check_script(&aab, "xaaabyaabaab", "L[xa]L[y]L[]");
  setup_t eight = {0, 0, "\r\n\r\n\r\n\r\n"};
  check_script(&eight, "h1\r\n\r\n\r\n\r\nh2\r\n\r\n\r\n\r\n\r\n",
               "L[h1]L[h2]");
  /* Changed from inside line_received, for the bytes that follow. */
  setup_t dflt = {0, 0, NULL};
  check_script(&dflt, "DELIM |\r\na|b|c\r\n|", "L[DELIM |]L[a]L[b]L[c\r\n]");
  test_close_reactor(r);
}

Test(line, set_delimiter_rejects_bad_lengths) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rec_t t;
  rec_init(&t, 0, 1);
  cr_assert_eq(eddy_line_receiver_set_delimiter(&t.lr, "", 0), UV_EINVAL);
  cr_assert_eq(eddy_line_receiver_set_delimiter(&t.lr, NULL, 1), UV_EINVAL);
  cr_assert_eq(eddy_line_receiver_set_delimiter(&t.lr, "123456789", 9),
               UV_EINVAL);
  /* Unchanged after a refusal. */
  cr_assert_eq(t.lr.delim_len, 2);
  cr_assert_eq(eddy_line_receiver_set_delimiter(&t.lr, "12345678", 8), 0);
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "x12345678", 9), 0);
  cr_assert_str_eq(rec_log(&t), "L[x]");
  /* A NUL byte is a byte like any other. */
  cr_assert_eq(eddy_line_receiver_set_delimiter(&t.lr, "\0", 1), 0);
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "ab\0c\0", 5), 0);
  cr_assert_str_eq(rec_log(&t), "L[x]L[ab]L[c]");
  rec_cleanup(&t);
  test_close_reactor(r);
}

Test(line, delimiter_change_applies_to_buffered_bytes) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rec_t t;
  rec_init(&t, 0, 1);
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "a;b;c", 5), 0);
  cr_assert_str_eq(rec_log(&t), "");
  cr_assert_eq(eddy_line_receiver_set_delimiter(&t.lr, ";", 1), 0);
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, NULL, 0), 0);
  cr_assert_str_eq(rec_log(&t), "L[a]L[b]");
  rec_cleanup(&t);
  test_close_reactor(r);
}

/* ---- Too long ------------------------------------------------------------ */

Test(line, max_line_is_inclusive) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  setup_t su = {5, 0, NULL};
  check_script(&su, "12345\r\n123456\r\nok\r\n", "L[12345]TL[ok]");
  check_script(&su, "1234567890abcdef\r\nnext\r\n", "TL[next]");
  /* Skipping survives a delimiter split across pieces. */
  check_script(&su, "xxxxxxxxxx\rxx\r\r\n\r\n", "TL[]");
  /* An empty line right after a too-long one. */
  check_script(&su, "123456\r\n\r\n", "TL[]");
  setup_t eight = {3, 0, "ABCDEFGH"};
  check_script(&eight, "abcABCDEFGHabcdABCDEFGABCDEFGHz", "L[abc]T");
  check_script(&eight, "abcdABCDEFGHxyzABCDEFGH", "TL[xyz]");
  /* max_line 1 with a long delimiter. */
  setup_t tiny = {1, 0, "--->"};
  check_script(&tiny, "a--->ab--->--->b-->--->", "L[a]TL[]T");
  test_close_reactor(r);
}

Test(line, too_long_reports_length) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rec_t t;
  rec_init(&t, 4, 1);
  /* All at once: given up as soon as max_line + 1 bytes are line. */
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "abcdefghij\r\n", 12), 0);
  cr_assert_eq(t.too_long_count, 1);
  cr_assert_eq(t.last_too_long, 5);
  /* Once per line, however many pieces it comes in. */
  for (int i = 0; i < 100; i++)
    cr_assert_eq(eddy_line_receiver_feed(&t.lr, "zzzzzzzzzz", 10), 0);
  cr_assert_eq(t.too_long_count, 2);
  cr_assert_leq(t.lr.buf.len, 1); /* only a possible "\r" is kept */
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "\r\nok\r\n", 6), 0);
  cr_assert_str_eq(rec_log(&t), "TTL[ok]");
  /* The whole length when the delimiter is already buffered: lowering the
   * maximum under a buffered line. */
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "abc", 3), 0);
  eddy_line_receiver_set_max_line(&t.lr, 2);
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "\r\nab\r\n", 6), 0);
  cr_assert_eq(t.too_long_count, 3);
  cr_assert_eq(t.last_too_long, 3);
  cr_assert_str_eq(rec_log(&t), "TTL[ok]TL[ab]");
  rec_cleanup(&t);
  test_close_reactor(r);
}

Test(line, max_changed_from_a_line) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  setup_t su = {0, 0, NULL};
  check_script(&su, "MAX 3\r\nabc\r\nabcd\r\nxy\r\n", "L[MAX 3]L[abc]TL[xy]");
  test_close_reactor(r);
}

Test(line, too_long_without_callback_fails_the_feed) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rec_t t;
  rec_init(&t, 4, 0);
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "ab\r\nabcdefg\r\nlost\r\n", 19),
               EDDY_ELINETOOLONG);
  /* The lines before it were delivered; the rest of that input dropped. */
  cr_assert_str_eq(rec_log(&t), "L[ab]");
  cr_assert_eq(t.lr.buf.len, 0);
  /* The receiver starts afresh. */
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "new\r\n", 5), 0);
  cr_assert_str_eq(rec_log(&t), "L[ab]L[new]");
  /* Found only after buffering, one byte at a time. */
  const char *s = "abcdefgh";
  int rc = 0;
  for (size_t i = 0; i < 8 && rc == 0; i++)
    rc = eddy_line_receiver_feed(&t.lr, s + i, 1);
  cr_assert_eq(rc, EDDY_ELINETOOLONG);
  rec_cleanup(&t);
  test_close_reactor(r);
}

/* The acceptance test for `scanned`: a 1 MiB line fed one byte at a time
 * must stay linear (quadratic rescanning would not finish in the suite's
 * time limit), and the buffer must stay bounded by max_line. */
Test(line, megabyte_line_bytewise_is_linear, .timeout = 60) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  const size_t mib = 1024 * 1024;
  char *big = malloc(mib);
  for (size_t i = 0; i < mib; i++)
    big[i] = (char)('a' + i % 26);
  static const char *const delims[] = {"\r\n", "\n", "<<END>>!"};
  for (size_t d = 0; d < 3; d++) {
    rec_t t;
    rec_init(&t, 2 * mib, 1);
    size_t dl = strlen(delims[d]);
    cr_assert_eq(eddy_line_receiver_set_delimiter(&t.lr, delims[d], dl), 0);
    for (size_t i = 0; i < mib; i++)
      cr_assert_eq(eddy_line_receiver_feed(&t.lr, big + i, 1), 0);
    for (size_t i = 0; i < dl; i++)
      cr_assert_eq(eddy_line_receiver_feed(&t.lr, delims[d] + i, 1), 0);
    cr_assert_eq(t.max_seen, mib);
    cr_assert_eq(t.lr.buf.len, 0);
    rec_cleanup(&t);
  }
  /* Over the maximum: the receiver never holds more than max + delimiter. */
  rec_t t;
  rec_init(&t, 1000, 1);
  for (size_t i = 0; i < mib; i++) {
    cr_assert_eq(eddy_line_receiver_feed(&t.lr, big + i, 1), 0);
    cr_assert_leq(t.lr.buf.len, 1002);
  }
  cr_assert_eq(t.too_long_count, 1);
  rec_cleanup(&t);
  free(big);
  test_close_reactor(r);
}

Test(line, bounded_in_any_pieces) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  uint32_t seed = 12345;
  char chunk[512];
  for (int round = 0; round < 200; round++) {
    rec_t t;
    size_t max = 1 + rng_next(&seed) % 64;
    rec_init(&t, max, 1);
    static const char *const delims[] = {"\r\n", "\n", "abc", "aaaa"};
    const char *delim = delims[rng_next(&seed) % 4];
    eddy_line_receiver_set_delimiter(&t.lr, delim, strlen(delim));
    for (int i = 0; i < 50; i++) {
      size_t n = rng_next(&seed) % sizeof(chunk);
      for (size_t k = 0; k < n; k++)
        chunk[k] = "abc\r\nx"[rng_next(&seed) % 6];
      cr_assert_eq(eddy_line_receiver_feed(&t.lr, chunk, n), 0);
      check_bound(&t);
    }
    cr_assert_leq(t.max_seen, max);
    rec_cleanup(&t);
  }
  test_close_reactor(r);
}

/* ---- Raw mode ----------------------------------------------------------- */

Test(line, raw_block_then_lines) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  setup_t su = {0, 0, NULL};
  check_script(&su, "RAW 5\r\nab\r\ncnext\r\n", "L[RAW 5]R[ab\r\nc]L[next]");
  /* The block may hold anything, including what looks like commands. */
  check_script(&su, "RAW 7\r\nRAW 1\r\n\r\nRAWx\r\n",
               "L[RAW 7]R[RAW 1\r\n]L[]L[RAWx]");
  /* Back to back. */
  check_script(&su, "RAW 1\r\nxRAW 2\r\nyzq\r\n",
               "L[RAW 1]R[x]L[RAW 2]R[yz]L[q]");
  /* Raw bytes do not count against max_line. */
  setup_t small = {8, 0, NULL};
  check_script(&small, "RAW 20\r\n01234567890123456789ok\r\n",
               "L[RAW 20]R[01234567890123456789]L[ok]");
  test_close_reactor(r);
}

Test(line, raw_consumed_in_pieces) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  /* A consumer taking 3 bytes per call: the rest is offered again at once,
   * so the log is the same whatever the pieces fed. */
  setup_t su = {0, 3, NULL};
  check_script(&su, "RAW 8\r\nabcdefghL\r\n", "L[RAW 8]r[abc]r[def]r[gh]L[L]");
  test_close_reactor(r);
}

Test(line, raw_unconsumed_bytes_are_offered_again_with_more) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rec_t t;
  rec_init(&t, 0, 1);
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "RAW 6\r\nabc", 10), 0);
  cr_assert_eq(eddy_line_receiver_is_raw(&t.lr), 1);
  cr_assert_eq(t.lr.buf.len, 3);
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "de", 2), 0);
  cr_assert_eq(t.lr.buf.len, 5);
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "fgh\r\n", 5), 0);
  cr_assert_eq(eddy_line_receiver_is_raw(&t.lr), 0);
  cr_assert_str_eq(rec_log(&t), "L[RAW 6]R[abcdef]L[gh]");
  rec_cleanup(&t);
  test_close_reactor(r);
}

static size_t take_all(eddy_line_receiver_t *lr, const char *d, size_t n) {
  rec_t *t = (rec_t *)lr;
  log_event(t, 'A', d, n);
  return n;
}

static size_t take_too_much(eddy_line_receiver_t *lr, const char *d, size_t n) {
  return n + 100; /* clamped to what was offered */
}

Test(line, raw_mode_switched_outside_callbacks) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rec_t t;
  rec_init(&t, 0, 1);
  eddy_line_ops_t ops = {on_line, take_all, NULL};
  t.lr.line_ops = &ops;
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "abc", 3), 0);
  eddy_line_receiver_set_raw_mode(&t.lr);
  /* The buffered bytes wait for a feed; an empty one delivers them. */
  cr_assert_str_eq(rec_log(&t), "");
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, NULL, 0), 0);
  cr_assert_str_eq(rec_log(&t), "A[abc]");
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "x\r\ny", 4), 0);
  cr_assert_str_eq(rec_log(&t), "A[abc]A[x\r\ny]");
  eddy_line_receiver_set_line_mode(&t.lr);
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "l\r\n", 3), 0);
  cr_assert_str_eq(rec_log(&t), "A[abc]A[x\r\ny]L[l]");
  /* A consumer claiming more than it got, and no consumer at all. */
  ops.raw_data_received = take_too_much;
  eddy_line_receiver_set_raw_mode(&t.lr);
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "zzz", 3), 0);
  cr_assert_eq(t.lr.buf.len, 0);
  ops.raw_data_received = NULL;
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "dropped", 7), 0);
  cr_assert_eq(t.lr.buf.len, 0);
  rec_cleanup(&t);
  test_close_reactor(r);
}

Test(line, line_mode_after_raw_parses_the_rest) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  /* The raw block and many lines in one piece: after the block the rest,
   * already buffered, is parsed as lines in the same feed. */
  setup_t su = {5, 0, NULL};
  check_script(&su, "RAW 3\r\nxyzab\r\ncd\r\ntoolong\r\nef\r\n",
               "L[RAW 3]R[xyz]L[ab]L[cd]TL[ef]");
  test_close_reactor(r);
}

/* ---- Re-entrance --------------------------------------------------------- */

Test(line, feeding_from_a_callback_queues_behind) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  /* "NEST" feeds "N1\r\nN2\r\n" from inside line_received: those bytes come
   * after every byte fed before, including the unread rest of the outer
   * feed. Where the input is split decides what that rest is. */
  const char *input = "A\r\nNEST\r\nB\r\nC";
  size_t len = strlen(input);
  cr_assert_eq(len, 13);
  for (size_t k = 0; k <= len; k++) {
    const char *want;
    if (k < 9) /* NEST completed by the second feed: "B\r\nC" unread */
      want = "L[A]L[NEST]L[B]L[CN1]L[N2]L[]";
    else if (k == 9)
      want = "L[A]L[NEST]L[N1]L[N2]L[B]L[C]";
    else if (k == 10)
      want = "L[A]L[NEST]L[BN1]L[N2]L[]L[C]";
    else if (k == 11)
      want = "L[A]L[NEST]L[B\rN1]L[N2]L[\nC]";
    else if (k == 12)
      want = "L[A]L[NEST]L[B]L[N1]L[N2]L[C]";
    else
      want = "L[A]L[NEST]L[B]L[CN1]L[N2]L[]";
    rec_t t;
    rec_init(&t, 0, 1);
    t.nested = 1;
    cr_assert_eq(eddy_line_receiver_feed(&t.lr, input, k), 0);
    cr_assert_eq(eddy_line_receiver_feed(&t.lr, input + k, len - k), 0);
    cr_assert_eq(eddy_line_receiver_feed(&t.lr, "\r\n", 2), 0);
    cr_assert_str_eq(rec_log(&t), want, "split at %zu", k);
    rec_cleanup(&t);
  }
  test_close_reactor(r);
}

Test(line, lowering_max_under_a_buffered_line) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rec_t t;
  rec_init(&t, 0, 1);
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "abcdef", 6), 0);
  eddy_line_receiver_set_max_line(&t.lr, 2);
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, NULL, 0), 0);
  cr_assert_eq(t.too_long_count, 1);
  cr_assert_eq(t.last_too_long, 5); /* the last byte might begin "\r\n" */
  cr_assert_leq(t.lr.buf.len, 1);
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "g\r\nok\r\n", 7), 0);
  cr_assert_str_eq(rec_log(&t), "TL[ok]");
  rec_cleanup(&t);
  test_close_reactor(r);
}

Test(line, delimiter_changed_while_skipping) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rec_t t;
  rec_init(&t, 3, 1);
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "abcdefg\r", 8), 0);
  cr_assert_str_eq(rec_log(&t), "T");
  cr_assert_eq(t.lr.buf.len, 1); /* "\r": maybe the start of "\r\n" */
  /* The kept byte is searched for the new delimiter too. */
  cr_assert_eq(eddy_line_receiver_set_delimiter(&t.lr, "\r", 1), 0);
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "ok\r", 3), 0);
  cr_assert_str_eq(rec_log(&t), "TL[ok]");
  rec_cleanup(&t);
  test_close_reactor(r);
}

static size_t raw_feeding_again(eddy_line_receiver_t *lr, const char *d,
                                size_t n) {
  rec_t *t = (rec_t *)lr;
  if (!t->nested) {
    t->nested = 1;
    /* Queued behind the rest of this feed, which moves into the buffer. */
    cr_assert_eq(eddy_line_receiver_feed(lr, "+more", 5), 0);
  }
  log_event(t, 'A', d, 1);
  return 1;
}

Test(line, raw_consumer_feeding_again) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rec_t t;
  rec_init(&t, 0, 1);
  eddy_line_ops_t ops = {on_line, raw_feeding_again, NULL};
  t.lr.line_ops = &ops;
  eddy_line_receiver_set_raw_mode(&t.lr);
  cr_assert_eq(eddy_line_receiver_feed(&t.lr, "abc", 3), 0);
  cr_assert_str_eq(rec_log(&t), "A[a]A[b]A[c]A[+]A[m]A[o]A[r]A[e]");
  cr_assert_eq(t.lr.buf.len, 0);
  rec_cleanup(&t);
  test_close_reactor(r);
}

/* ---- With a transport ---------------------------------------------------- */

Test(line, delivery_stops_once_closing) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  for (int bytewise = 0; bytewise < 2; bytewise++) {
    rec_t t;
    rec_init(&t, 0, 1);
    eddy_string_transport_t *st = eddy_string_transport_new(r);
    eddy_string_transport_connect(st, &t.lr.protocol);
    const char *s = "a\r\nQUIT\r\nb\r\nc\r\n";
    if (bytewise)
      eddy_string_transport_feed_bytewise(st, s, strlen(s));
    else
      eddy_string_transport_feed(st, s, strlen(s));
    cr_assert_str_eq(rec_log(&t), "L[a]L[QUIT]");
    cr_assert(eddy_string_transport_lose_called(st));
    /* Fed directly, too: nothing is delivered while closing. */
    cr_assert_eq(eddy_line_receiver_feed(&t.lr, "d\r\n", 3), 0);
    cr_assert_str_eq(rec_log(&t), "L[a]L[QUIT]");
    cr_assert_eq(t.lost, 0);
    eddy_reactor_run_once(r, 0);
    cr_assert_eq(t.lost, 1000, "connection_lost(0) on the next iteration");
    eddy_string_transport_free(st);
    rec_cleanup(&t);
  }
  test_close_reactor(r);
}

Test(line, too_long_without_callback_loses_the_connection) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rec_t t;
  rec_init(&t, 3, 0);
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  eddy_string_transport_connect(st, &t.lr.protocol);
  eddy_string_transport_feed_bytewise(st, "ok\r\nabcdef\r\nmore\r\n", 18);
  cr_assert_str_eq(rec_log(&t), "L[ok]");
  cr_assert(eddy_string_transport_lose_called(st));
  cr_assert_not(eddy_string_transport_abort_called(st));
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(t.lost, 1000);
  eddy_string_transport_free(st);
  rec_cleanup(&t);
  test_close_reactor(r);
}

Test(line, send_line_is_one_write) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  rec_t t;
  rec_init(&t, 0, 1);
  cr_assert_eq(eddy_line_receiver_send_line(&t.lr, "x", 1), UV_ENOTCONN);
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  eddy_string_transport_connect(st, &t.lr.protocol);
  cr_assert_eq(eddy_line_receiver_send_line(&t.lr, "hello", 5), 0);
  size_t len;
  const char *v = eddy_string_transport_value(st, &len);
  cr_assert_eq(len, 7);
  cr_assert_str_eq(v, "hello\r\n");
  cr_assert_eq(eddy_string_transport_write_count(st), 1);
  cr_assert_eq(eddy_line_receiver_send_line(&t.lr, "", 0), 0);
  cr_assert_eq(eddy_line_receiver_send_line(&t.lr, NULL, 0), 0);
  cr_assert_eq(eddy_line_receiver_send_line(&t.lr, NULL, 1), UV_EINVAL);
  cr_assert_eq(eddy_line_receiver_set_delimiter(&t.lr, "\n", 1), 0);
  cr_assert_eq(eddy_line_receiver_send_line(&t.lr, "bye", 3), 0);
  cr_assert_str_eq(eddy_string_transport_value(st, NULL),
                   "hello\r\n\r\n\r\nbye\n");
  cr_assert_eq(eddy_string_transport_write_count(st), 4);
  eddy_transport_lose_connection(t.lr.protocol.transport);
  cr_assert_eq(eddy_line_receiver_send_line(&t.lr, "late", 4), UV_EPIPE);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(t.lost, 1000);
  eddy_string_transport_free(st);
  rec_cleanup(&t);
  test_close_reactor(r);
}

/* Two line receivers talking over the in-memory pair. */
typedef struct {
  eddy_line_receiver_t lr;
  int lines;
  int lost;
} echo_t;

static void echo_line(eddy_line_receiver_t *lr, const char *line, size_t len) {
  echo_t *e = (echo_t *)lr;
  e->lines++;
  if (len == 3 && memcmp(line, "bye", 3) == 0) {
    eddy_transport_lose_connection(lr->protocol.transport);
    return;
  }
  if (len > 0 && line[0] == 'Q')
    eddy_line_receiver_send_line(lr, line + 1, len - 1);
}

static void echo_lost(eddy_protocol_t *p, int reason) {
  ((echo_t *)p)->lost = reason + 1000;
  eddy_line_receiver_cleanup((eddy_line_receiver_t *)p);
}

static const eddy_line_ops_t echo_line_ops = {echo_line, NULL, NULL};
static const eddy_protocol_ops_t echo_ops = {
    .data_received = eddy_line_receiver_data_received,
    .connection_lost = echo_lost,
};

Test(line, over_a_loopback_pair) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  echo_t server, client;
  eddy_line_receiver_init(&server.lr, &echo_ops, &echo_line_ops, 0);
  eddy_line_receiver_init(&client.lr, &echo_ops, &echo_line_ops, 0);
  server.lines = client.lines = server.lost = client.lost = 0;
  eddy_loopback_t *lp;
  cr_assert_eq(
      eddy_loopback_connect(r, &server.lr.protocol, &client.lr.protocol, &lp),
      0);
  eddy_loopback_pump(lp);
  cr_assert_eq(eddy_line_receiver_send_line(&client.lr, "QQQbye", 6), 0);
  eddy_loopback_pump(lp);
  /* client QQQbye -> server echoes QQbye -> client echoes Qbye -> server
   * echoes bye -> client loses. */
  cr_assert_eq(server.lines, 2);
  cr_assert_eq(client.lines, 2);
  for (int i = 0; i < 10 && (!server.lost || !client.lost); i++)
    eddy_reactor_run_once(r, 0);
  cr_assert_eq(server.lost, 1000);
  cr_assert_eq(client.lost, 1000);
  test_close_reactor(r);
}
