/* test_http_form.c — urlencoded forms and query strings (eddy/http_form.h):
 * decoding, repeated keys, the strict rules, limits, encoding round trips.
 * Inputs are parsed from exact-size heap copies, and every prefix of every
 * input too, so AddressSanitizer catches a read past the end. */
#include "support.h"

#include <eddy/http_form.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses s[0..len) from an exact-size heap copy. */
static int parse_copy(const char *s, size_t len, const eddy_form_limits_t *lim,
                      eddy_form_t **out, eddy_form_error_t *err) {
  char *copy = malloc(len ? len : 1);
  cr_assert_not_null(copy);
  memcpy(copy, s, len);
  int rc = eddy_form_parse(len ? copy : NULL, len, lim, out, err);
  free(copy);
  return rc;
}

static eddy_form_t *parse_ok(const char *s) {
  eddy_form_t *f = NULL;
  eddy_form_error_t err;
  int rc = parse_copy(s, strlen(s), NULL, &f, &err);
  cr_assert_eq(rc, 0, "parse(\"%s\") = %d: %s", s, rc, err.text);
  cr_assert_not_null(f);
  return f;
}

/* Every prefix of s parses (or fails) without reading past its end, and the
 * whole input gives want. */
static void all_prefixes(const char *s, int want) {
  size_t len = strlen(s);
  for (size_t i = 0; i <= len; i++) {
    eddy_form_t *f = NULL;
    int rc = parse_copy(s, i, NULL, &f, NULL);
    cr_assert(rc == 0 || f == NULL);
    eddy_form_free(f);
    if (i == len)
      cr_assert_eq(rc, want, "\"%s\": %d, want %d", s, rc, want);
  }
}

static void expect_pair(const eddy_form_t *f, size_t i, const char *key,
                        const char *value, size_t value_len) {
  const char *k, *v;
  size_t vl;
  cr_assert_eq(eddy_form_at(f, i, &k, &v, &vl), 0);
  cr_assert_str_eq(k, key);
  cr_assert_eq(vl, value_len, "pair %zu: length %zu, want %zu", i, vl,
               value_len);
  cr_assert_eq(memcmp(v, value, value_len), 0);
  cr_assert_eq(v[vl], '\0', "values are followed by a NUL");
}

Test(http_form, simple_pairs_in_order) {
  eddy_form_t *f = parse_ok("a=1&b=two&c=");
  cr_assert_eq(eddy_form_count(f), 3);
  expect_pair(f, 0, "a", "1", 1);
  expect_pair(f, 1, "b", "two", 3);
  expect_pair(f, 2, "c", "", 0);
  cr_assert_eq(eddy_form_at(f, 3, NULL, NULL, NULL), UV_ENOENT);
  size_t len = 99;
  cr_assert_str_eq(eddy_form_get(f, "b", &len), "two");
  cr_assert_eq(len, 3);
  cr_assert_null(eddy_form_get(f, "B", NULL), "keys are case-sensitive");
  cr_assert_null(eddy_form_get(f, "missing", NULL));
  eddy_form_free(f);
}

Test(http_form, repeated_keys_keep_every_value) {
  eddy_form_t *f = parse_ok("tag=x&id=1&tag=y&tag=z");
  cr_assert_eq(eddy_form_count(f), 4);
  cr_assert_eq(eddy_form_count_of(f, "tag"), 3);
  cr_assert_eq(eddy_form_count_of(f, "id"), 1);
  cr_assert_eq(eddy_form_count_of(f, "nope"), 0);
  cr_assert_str_eq(eddy_form_get(f, "tag", NULL), "x");
  cr_assert_str_eq(eddy_form_get_nth(f, "tag", 0, NULL), "x");
  cr_assert_str_eq(eddy_form_get_nth(f, "tag", 1, NULL), "y");
  cr_assert_str_eq(eddy_form_get_nth(f, "tag", 2, NULL), "z");
  cr_assert_null(eddy_form_get_nth(f, "tag", 3, NULL));
  eddy_form_free(f);
}

Test(http_form, decoding) {
  eddy_form_t *f = parse_ok("q=hello+world&p=%2F%2f%41%c3%A9&k%20ey=a%3Db&"
                            "plus=%2B&amp=%26");
  cr_assert_str_eq(eddy_form_get(f, "q", NULL), "hello world");
  cr_assert_str_eq(eddy_form_get(f, "p", NULL), "//A\xc3\xa9");
  cr_assert_str_eq(eddy_form_get(f, "k ey", NULL), "a=b");
  cr_assert_str_eq(eddy_form_get(f, "plus", NULL), "+");
  cr_assert_str_eq(eddy_form_get(f, "amp", NULL), "&");
  eddy_form_free(f);
}

Test(http_form, empty_pieces_and_bare_keys) {
  eddy_form_t *f = parse_ok("&&a=1&&flag&=x&b=c=d&");
  cr_assert_eq(eddy_form_count(f), 4);
  expect_pair(f, 0, "a", "1", 1);
  expect_pair(f, 1, "flag", "", 0);
  expect_pair(f, 2, "", "x", 1);
  expect_pair(f, 3, "b", "c=d", 3); /* split at the first '=' only */
  eddy_form_free(f);

  f = parse_ok("");
  cr_assert_eq(eddy_form_count(f), 0);
  eddy_form_free(f);
  f = parse_ok("&&&");
  cr_assert_eq(eddy_form_count(f), 0);
  eddy_form_free(f);
  f = parse_ok("=");
  cr_assert_eq(eddy_form_count(f), 1);
  expect_pair(f, 0, "", "", 0);
  eddy_form_free(f);
}

Test(http_form, binary_values_keep_nul) {
  eddy_form_t *f = parse_ok("bin=a%00b%FF&t=%00");
  expect_pair(f, 0, "bin", "a\0b\xff", 4);
  expect_pair(f, 1, "t", "\0", 1);
  eddy_form_free(f);
}

Test(http_form, strict_errors_with_positions) {
  static const struct {
    const char *in;
    size_t offset;
    const char *text;
  } bad[] = {
      {"a=%", 2, "invalid percent escape at byte 2"},
      {"a=%4", 2, "invalid percent escape at byte 2"},
      {"a=%4g", 2, "invalid percent escape at byte 2"},
      {"a=1&b=%zz", 6, "invalid percent escape at byte 6"},
      {"%=1", 0, "invalid percent escape at byte 0"},
      {"a%00=1", 1, "NUL byte in a key at byte 1"},
      {"a=b\nc", 3, "control byte 0x0A at byte 3"},
      {"a=b\rc", 3, "control byte 0x0D at byte 3"},
      {"x\x7f=1", 1, "control byte 0x7F at byte 1"},
      {"a=\tb", 2, "control byte 0x09 at byte 2"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    eddy_form_t *f = (eddy_form_t *)1;
    eddy_form_error_t err;
    int rc = parse_copy(bad[i].in, strlen(bad[i].in), NULL, &f, &err);
    cr_assert_eq(rc, EDDY_EPARSE, "%zu: %d", i, rc);
    cr_assert_null(f);
    cr_assert_eq(err.status, 400);
    cr_assert_eq(err.offset, bad[i].offset, "%zu: offset %zu", i, err.offset);
    cr_assert_str_eq(err.text, bad[i].text);
    all_prefixes(bad[i].in, EDDY_EPARSE);
  }
  /* A raw NUL byte is a control byte too. */
  eddy_form_t *f = NULL;
  cr_assert_eq(parse_copy("a=\0b", 4, NULL, &f, NULL), EDDY_EPARSE);
  /* err may be NULL. */
  cr_assert_eq(parse_copy("%", 1, NULL, &f, NULL), EDDY_EPARSE);
  /* Raw bytes above 0x7F are taken as they are. */
  f = parse_ok("caf\xc3\xa9=\xff");
  cr_assert_str_eq(eddy_form_get(f, "caf\xc3\xa9", NULL), "\xff");
  eddy_form_free(f);
}

Test(http_form, every_prefix) {
  all_prefixes("a=1&bb=%41%42+c&flag&=e&x=%C3%A9&&", 0);
  all_prefixes("tag=x&tag=y&tag=z", 0);
}

Test(http_form, limits) {
  eddy_form_limits_t lim = {3, 4, 5};
  eddy_form_t *f = NULL;
  eddy_form_error_t err;
  /* Exactly at every limit is fine. */
  cr_assert_eq(parse_copy("abcd=12345&&b&c", 15, &lim, &f, &err), 0);
  cr_assert_eq(eddy_form_count(f), 3);
  eddy_form_free(f);
  /* Escapes count decoded: "%41" is one byte. */
  cr_assert_eq(parse_copy("k=%41%41%41%41%41", 17, &lim, &f, &err), 0);
  eddy_form_free(f);

  cr_assert_eq(parse_copy("a&b&c&d", 7, &lim, &f, &err), UV_E2BIG);
  cr_assert_null(f);
  cr_assert_eq(err.status, 413);
  cr_assert_eq(err.offset, 6);
  cr_assert_str_eq(err.text, "more than 3 pairs");

  cr_assert_eq(parse_copy("abcde=1", 7, &lim, &f, &err), UV_EMSGSIZE);
  cr_assert_eq(err.status, 413);
  cr_assert_str_eq(err.text, "key longer than 4 bytes at byte 0");
  cr_assert_eq(parse_copy("a=1&b=123456", 12, &lim, &f, &err), UV_EMSGSIZE);
  cr_assert_str_eq(err.text, "value longer than 5 bytes at byte 6");
  cr_assert_eq(err.offset, 6);
}

Test(http_form, hostile_inputs) {
  /* A flood of pairs is refused before any decoding. */
  size_t n = 200000;
  char *s = malloc(n * 2);
  cr_assert_not_null(s);
  for (size_t i = 0; i < n; i++) {
    s[2 * i] = 'a';
    s[2 * i + 1] = '&';
  }
  eddy_form_t *f = NULL;
  eddy_form_error_t err;
  cr_assert_eq(parse_copy(s, n * 2, NULL, &f, &err), UV_E2BIG);
  cr_assert_str_eq(err.text, "more than 1000 pairs");
  /* 1000 is fine, repeated keys and all. */
  cr_assert_eq(parse_copy(s, 2000, NULL, &f, &err), 0);
  cr_assert_eq(eddy_form_count_of(f, "a"), 1000);
  eddy_form_free(f);

  /* A long value up to the default limit, and one byte over it. */
  size_t big = EDDY_FORM_MAX_VALUE_DEFAULT;
  char *v = malloc(big + 3);
  cr_assert_not_null(v);
  memcpy(v, "v=", 2);
  memset(v + 2, 'x', big + 1);
  cr_assert_eq(parse_copy(v, big + 2, NULL, &f, &err), 0);
  size_t len;
  cr_assert_not_null(eddy_form_get(f, "v", &len));
  cr_assert_eq(len, big);
  eddy_form_free(f);
  cr_assert_eq(parse_copy(v, big + 3, NULL, &f, &err), UV_EMSGSIZE);

  /* Only '%' signs, only '=' signs, only '+'. */
  memset(v, '%', 5000);
  cr_assert_eq(parse_copy(v, 5000, NULL, &f, &err), EDDY_EPARSE);
  cr_assert_eq(err.offset, 0);
  memset(v, '=', 5000);
  cr_assert_eq(parse_copy(v, 5000, NULL, &f, &err), 0);
  expect_pair(f, 0, "", v + 1, 4999);
  eddy_form_free(f);
  memset(v, '+', 1000);
  cr_assert_eq(parse_copy(v, 1000, NULL, &f, &err), 0);
  const char *k;
  cr_assert_eq(eddy_form_at(f, 0, &k, NULL, NULL), 0);
  cr_assert_eq(strlen(k), 1000);
  cr_assert_eq(strspn(k, " "), 1000);
  eddy_form_free(f);
  free(v);
  free(s);
}

Test(http_form, build_and_encode) {
  eddy_form_t *f = NULL;
  cr_assert_eq(eddy_form_new(NULL, &f), 0);
  cr_assert_eq(eddy_form_add_str(f, "q", "hello world"), 0);
  cr_assert_eq(eddy_form_add_str(f, "sym", "a&b=c/d?e+f%"), 0);
  cr_assert_eq(eddy_form_add(f, "bin", "\0\xff", 2), 0);
  cr_assert_eq(eddy_form_add_str(f, "keep", "AZaz09*-._"), 0);
  cr_assert_eq(eddy_form_add(f, "empty", NULL, 0), 0);
  cr_assert_eq(eddy_form_add_str(f, "caf\xc3\xa9", "~"), 0);
  cr_assert_eq(eddy_form_add(f, NULL, "x", 1), UV_EINVAL);
  cr_assert_eq(eddy_form_add(f, "x", NULL, 1), UV_EINVAL);
  cr_assert_eq(eddy_form_add_str(f, "x", NULL), UV_EINVAL);

  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  cr_assert_eq(eddy_form_encode(f, &b), 0);
  const char *want = "q=hello+world&sym=a%26b%3Dc%2Fd%3Fe%2Bf%25&bin=%00%FF&"
                     "keep=AZaz09*-._&empty=&caf%C3%A9=%7E";
  cr_assert_eq(b.len, strlen(want));
  cr_assert_eq(memcmp(b.data, want, b.len), 0, "%.*s", (int)b.len, b.data);

  /* Round trip: parsing the encoding gives the same pairs. */
  eddy_form_t *g = NULL;
  cr_assert_eq(parse_copy(b.data, b.len, NULL, &g, NULL), 0);
  cr_assert_eq(eddy_form_count(g), eddy_form_count(f));
  for (size_t i = 0; i < eddy_form_count(f); i++) {
    const char *k1, *k2, *v1, *v2;
    size_t l1, l2;
    eddy_form_at(f, i, &k1, &v1, &l1);
    eddy_form_at(g, i, &k2, &v2, &l2);
    cr_assert_str_eq(k1, k2);
    cr_assert_eq(l1, l2);
    cr_assert_eq(memcmp(v1, v2, l1), 0);
  }
  eddy_form_free(g);
  eddy_form_free(f);

  /* Pointers handed out stay valid as pairs are added. */
  cr_assert_eq(eddy_form_new(NULL, &f), 0);
  cr_assert_eq(eddy_form_add_str(f, "first", "1"), 0);
  const char *first = eddy_form_get(f, "first", NULL);
  for (int i = 0; i < 100; i++)
    cr_assert_eq(eddy_form_add_str(f, "k", "v"), 0);
  cr_assert_eq(eddy_form_get(f, "first", NULL), first);
  cr_assert_str_eq(first, "1");
  eddy_form_free(f);
  eddy_form_free(NULL);
  eddy_buf_free(&b);
}

Test(http_form, add_limits_and_buffer_limits) {
  eddy_form_limits_t lim = {2, 3, 3};
  eddy_form_t *f = NULL;
  cr_assert_eq(eddy_form_new(&lim, &f), 0);
  cr_assert_eq(eddy_form_add_str(f, "abcd", "1"), UV_EMSGSIZE);
  cr_assert_eq(eddy_form_add_str(f, "a", "1234"), UV_EMSGSIZE);
  cr_assert_eq(eddy_form_count(f), 0);
  cr_assert_eq(eddy_form_add_str(f, "abc", "123"), 0);
  cr_assert_eq(eddy_form_add_str(f, "b", " "), 0);
  cr_assert_eq(eddy_form_add_str(f, "c", "3"), UV_E2BIG);
  cr_assert_eq(eddy_form_count(f), 2);

  /* "abc=123&b=+" is 11 bytes: a buffer of 10 refuses it. */
  eddy_buf_t b;
  eddy_buf_init(&b, 11);
  cr_assert_eq(eddy_form_encode(f, &b), 0);
  cr_assert_eq(b.len, 11);
  eddy_buf_free(&b);
  eddy_buf_init(&b, 10);
  cr_assert_eq(eddy_form_encode(f, &b), UV_ENOBUFS);
  eddy_buf_free(&b);
  /* escape: all or nothing. */
  eddy_buf_init(&b, 5);
  cr_assert_eq(eddy_form_escape(&b, "/", 1), 0);
  cr_assert_eq(eddy_form_escape(&b, "//", 2), UV_ENOBUFS);
  cr_assert_eq(b.len, 3);
  eddy_buf_free(&b);
  eddy_form_free(f);
}

/* ---- Through a real server ------------------------------------------------
 * GET /q answers the query's pairs; POST /f the body's; errors answer the
 * status and text the error carries. */

static void answer_form(eddy_http_request_t *req, int rc, eddy_form_t *f,
                        const eddy_form_error_t *err) {
  if (rc != 0) {
    cr_assert_null(f);
    eddy_http_respond_error(req, err->status, err->text);
    return;
  }
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  for (size_t i = 0; i < eddy_form_count(f); i++) {
    const char *k, *v;
    size_t vl;
    eddy_form_at(f, i, &k, &v, &vl);
    eddy_buf_printf(&b, "[%s=%.*s]", k, (int)vl, v);
  }
  eddy_http_respond(req, 200, "text/plain", b.data, b.len);
  eddy_buf_free(&b);
  eddy_form_free(f);
}

static void form_handler(eddy_http_request_t *req, void *arg) {
  (void)arg;
  eddy_form_t *f = NULL;
  eddy_form_error_t err;
  eddy_form_limits_t lim = {4, 0, 0};
  int rc;
  if (strcmp(eddy_http_path(req), "/q") == 0)
    rc = eddy_http_query_form(req, &lim, &f, &err);
  else
    rc = eddy_http_body_form(req, &lim, &f, &err);
  answer_form(req, rc, f, &err);
}

static void spin(eddy_reactor_t *r) {
  for (int i = 0; i < 20; i++)
    eddy_reactor_run_once(r, 0);
}

static void on_stopped(void *arg) {
  (*(int *)arg)++;
}

static const char *ask(eddy_reactor_t *r, eddy_string_transport_t *st,
                       const char *req, int bytewise) {
  eddy_string_transport_clear(st);
  if (bytewise)
    eddy_string_transport_feed_bytewise(st, req, strlen(req));
  else
    eddy_string_transport_feed(st, req, strlen(req));
  spin(r);
  return eddy_string_transport_value(st, NULL);
}

static void expect_in(const char *got, const char *want) {
  cr_assert_not_null(strstr(got, want), "want '%s' in:\n%s", want, got);
}

Test(http_form, through_server) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_http_server_t *srv;
  cr_assert_eq(eddy_http_server_new(r, NULL, form_handler, NULL, &srv), 0);
  eddy_factory_t *fa = eddy_http_server_factory(srv);
  eddy_protocol_t *p = fa->build_protocol(fa, NULL);
  cr_assert_not_null(p);
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  eddy_string_transport_connect(st, p);

  const char *out;
  out = ask(r, st, "GET /q?a=1&b=x+y&a=%C3%A9 HTTP/1.1\r\nHost: h\r\n\r\n", 1);
  expect_in(out, "HTTP/1.1 200 ");
  expect_in(out, "\r\n\r\n[a=1][b=x y][a=\xc3\xa9]");
  out = ask(r, st, "GET /q HTTP/1.1\r\nHost: h\r\n\r\n", 0);
  expect_in(out, "HTTP/1.1 200 ");
  out = ask(r, st, "GET /q?a=%zz HTTP/1.1\r\nHost: h\r\n\r\n", 0);
  expect_in(out, "HTTP/1.1 400 ");
  expect_in(out, "invalid percent escape at byte 2");
  out = ask(r, st, "GET /q?a&b&c&d&e HTTP/1.1\r\nHost: h\r\n\r\n", 0);
  expect_in(out, "HTTP/1.1 414 ");
  expect_in(out, "more than 4 pairs");

  out = ask(r, st,
            "POST /f HTTP/1.1\r\nHost: h\r\n"
            "Content-Type: Application/X-WWW-Form-Urlencoded; charset=UTF-8\r\n"
            "Content-Length: 17\r\n\r\nname=Ada&tag=%2B1",
            1);
  expect_in(out, "HTTP/1.1 200 ");
  expect_in(out, "[name=Ada][tag=+1]");
  out = ask(r, st,
            "POST /f HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n"
            "Content-Length: 3\r\n\r\na=1",
            0);
  expect_in(out, "HTTP/1.1 415 ");
  expect_in(out, "Content-Type must be application/x-www-form-urlencoded");
  out = ask(r, st,
            "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\na=1", 0);
  expect_in(out, "HTTP/1.1 415 ");
  out = ask(r, st,
            "POST /f HTTP/1.1\r\nHost: h\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Content-Length: 9\r\n\r\na&b&c&d&e",
            0);
  expect_in(out, "HTTP/1.1 413 ");

  int stopped = 0;
  eddy_http_server_close(srv, 0, on_stopped, &stopped);
  spin(r);
  eddy_string_transport_free(st);
  test_close_reactor(r);
  cr_assert_eq(stopped, 1);
}
