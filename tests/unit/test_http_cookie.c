/* test_http_cookie.c — Cookie parsing and Set-Cookie building
 * (eddy/http_cookie.h). Parsing runs from exact-size heap copies, over every
 * prefix, so AddressSanitizer catches a read past the end. */
#include "support.h"

#include <eddy/http_cookie.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAP 16

static int parse_copy(const char *s, size_t len, eddy_cookie_pair_t *pairs,
                      size_t cap, char **keep) {
  char *copy = malloc(len ? len : 1);
  cr_assert_not_null(copy);
  memcpy(copy, s, len);
  int rc = eddy_cookie_parse(copy, len, pairs, cap);
  *keep = copy; /* the pairs point into it */
  return rc;
}

static void expect(const eddy_cookie_pair_t *p, const char *name,
                   const char *value) {
  cr_assert_eq(p->name_len, strlen(name), "name %.*s", (int)p->name_len,
               p->name);
  cr_assert_eq(memcmp(p->name, name, p->name_len), 0);
  cr_assert_eq(p->value_len, strlen(value), "value of %s: '%.*s'", name,
               (int)p->value_len, p->value);
  cr_assert_eq(memcmp(p->value, value, p->value_len), 0);
}

/* Parses h; every prefix must parse without over-reading. */
static int parse(const char *h, eddy_cookie_pair_t *pairs, char **keep) {
  size_t len = strlen(h);
  for (size_t i = 0; i < len; i++) {
    char *k;
    eddy_cookie_pair_t tmp[CAP];
    int rc = parse_copy(h, i, tmp, CAP, &k);
    cr_assert(rc >= 0 || rc == EDDY_EPARSE || rc == UV_E2BIG);
    free(k);
  }
  return parse_copy(h, len, pairs, CAP, keep);
}

Test(http_cookie, browser_format) {
  eddy_cookie_pair_t p[CAP];
  char *k;
  cr_assert_eq(parse("sid=abc123; theme=dark; lang=en-GB", p, &k), 3);
  expect(&p[0], "sid", "abc123");
  expect(&p[1], "theme", "dark");
  expect(&p[2], "lang", "en-GB");
  free(k);
}

Test(http_cookie, tolerant_spacing_and_quotes) {
  eddy_cookie_pair_t p[CAP];
  char *k;
  cr_assert_eq(parse("  a = 1 ;b=2;\tc=\"quoted v\" ; d=\"\" ;e=\"", p, &k), 5);
  expect(&p[0], "a", "1");
  expect(&p[1], "b", "2");
  expect(&p[2], "c", "quoted v");
  expect(&p[3], "d", "");
  expect(&p[4], "e", "\""); /* a lone quote is kept */
  free(k);

  /* Pieces without '=' or a name are skipped; empty values are kept. */
  cr_assert_eq(parse(";;flag; =x; a=; b==c;", p, &k), 2);
  expect(&p[0], "a", "");
  expect(&p[1], "b", "=c");
  free(k);

  cr_assert_eq(parse("", p, &k), 0);
  free(k);
  cr_assert_eq(parse("   ", p, &k), 0);
  free(k);

  /* What servers set is what comes back: commas, spaces, UTF-8. */
  cr_assert_eq(parse("list=a,b c; caf\xc3\xa9=\xe2\x9c\x93", p, &k), 2);
  expect(&p[0], "list", "a,b c");
  expect(&p[1], "caf\xc3\xa9", "\xe2\x9c\x93");
  free(k);
}

Test(http_cookie, repeated_names_in_order) {
  eddy_cookie_pair_t p[CAP];
  char *k;
  cr_assert_eq(parse("id=specific; id=general", p, &k), 2);
  expect(&p[0], "id", "specific");
  expect(&p[1], "id", "general");
  const char *v;
  size_t vl;
  cr_assert_eq(
      eddy_cookie_find(k, strlen("id=specific; id=general"), "id", &v, &vl), 0);
  cr_assert_eq(vl, 8);
  cr_assert_eq(memcmp(v, "specific", 8), 0);
  free(k);
}

Test(http_cookie, control_bytes_are_errors) {
  static const char *const bad[] = {"a=1\r\nb=2", "a=\x01", "a\x7f=1",
                                    "a=1; b=\n"};
  eddy_cookie_pair_t p[CAP];
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char *k;
    cr_assert_eq(parse_copy(bad[i], strlen(bad[i]), p, CAP, &k), EDDY_EPARSE,
                 "%zu", i);
    free(k);
    const char *v;
    size_t vl;
    cr_assert_eq(eddy_cookie_find(bad[i], strlen(bad[i]), "a", &v, &vl),
                 EDDY_EPARSE);
  }
  char *k;
  cr_assert_eq(parse_copy("a=1\0b=2", 7, p, CAP, &k), EDDY_EPARSE);
  free(k);
  /* A tab is whitespace, not an error. */
  cr_assert_eq(parse_copy("a=\t1\t", 5, p, CAP, &k), 1);
  expect(&p[0], "a", "1");
  free(k);
}

Test(http_cookie, capacity) {
  eddy_cookie_pair_t p[2];
  char *k;
  cr_assert_eq(parse_copy("a=1; b=2", 8, p, 2, &k), 2);
  free(k);
  cr_assert_eq(parse_copy("a=1; b=2; c=3", 13, p, 2, &k), UV_E2BIG);
  expect(&p[0], "a", "1");
  expect(&p[1], "b", "2");
  free(k);
  cr_assert_eq(parse_copy("a=1", 3, NULL, 0, &k), UV_E2BIG);
  free(k);
  cr_assert_eq(parse_copy(";;;", 3, NULL, 0, &k), 0);
  free(k);
}

Test(http_cookie, find) {
  const char *h = "a=1; sid=\"xyz\"; b=2";
  const char *v;
  size_t vl;
  cr_assert_eq(eddy_cookie_find(h, strlen(h), "sid", &v, &vl), 0);
  cr_assert_eq(vl, 3);
  cr_assert_eq(memcmp(v, "xyz", 3), 0);
  cr_assert_eq(eddy_cookie_find(h, strlen(h), "SID", &v, &vl), UV_ENOENT);
  cr_assert_eq(eddy_cookie_find(h, strlen(h), "si", &v, &vl), UV_ENOENT);
  cr_assert_eq(eddy_cookie_find(h, strlen(h), "", &v, &vl), UV_ENOENT);
  /* Many pairs: find has no capacity limit. */
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  for (int i = 0; i < 5000; i++)
    cr_assert_eq(eddy_buf_printf(&b, "c%d=%d; ", i, i), 0);
  cr_assert_eq(eddy_cookie_find(b.data, b.len, "c4999", &v, &vl), 0);
  cr_assert_eq(vl, 4);
  cr_assert_eq(memcmp(v, "4999", 4), 0);
  eddy_buf_free(&b);
}

static void fmt_ok(const eddy_cookie_t *c, const char *want) {
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  const char *why = "unset";
  int rc = eddy_cookie_format(c, &b, &why);
  cr_assert_eq(rc, 0, "format: %d (%s)", rc, why ? why : "");
  cr_assert_null(why);
  cr_assert_eq(b.len, strlen(want), "got '%.*s'", (int)b.len, b.data);
  cr_assert_eq(memcmp(b.data, want, b.len), 0, "got '%.*s'", (int)b.len,
               b.data);
  eddy_buf_free(&b);
}

static void fmt_bad(const eddy_cookie_t *c, const char *why_want) {
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  cr_assert_eq(eddy_buf_append_str(&b, "keep"), 0);
  const char *why = NULL;
  cr_assert_eq(eddy_cookie_format(c, &b, &why), UV_EINVAL);
  cr_assert_not_null(why);
  cr_assert_str_eq(why, why_want);
  cr_assert_eq(b.len, 4, "out is unchanged on error");
  cr_assert_eq(eddy_cookie_format(c, &b, NULL), UV_EINVAL);
  eddy_buf_free(&b);
}

Test(http_cookie, format) {
  eddy_cookie_t c = {0};
  c.name = "sid";
  c.value = "abc";
  fmt_ok(&c, "sid=abc");
  c.value = NULL;
  fmt_ok(&c, "sid=");
  c.value = "v";
  c.path = "/";
  c.domain = "example.com";
  c.flags = EDDY_COOKIE_MAX_AGE | EDDY_COOKIE_EXPIRES | EDDY_COOKIE_SECURE |
            EDDY_COOKIE_HTTP_ONLY;
  c.max_age = 3600;
  c.expires = 784111777; /* RFC 9110's example date */
  c.samesite = EDDY_COOKIE_SAMESITE_LAX;
  fmt_ok(&c, "sid=v; Path=/; Domain=example.com; Max-Age=3600; "
             "Expires=Sun, 06 Nov 1994 08:49:37 GMT; Secure; HttpOnly; "
             "SameSite=Lax");
  /* Deleting: Max-Age=0 and the epoch. */
  eddy_cookie_t del = {.name = "sid",
                       .value = "",
                       .flags = EDDY_COOKIE_MAX_AGE | EDDY_COOKIE_EXPIRES};
  fmt_ok(&del, "sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
  eddy_cookie_t s = {
      .name = "a", .value = "b", .samesite = EDDY_COOKIE_SAMESITE_STRICT};
  fmt_ok(&s, "a=b; SameSite=Strict");
  s.samesite = EDDY_COOKIE_SAMESITE_NONE;
  s.flags = EDDY_COOKIE_SECURE;
  fmt_ok(&s, "a=b; Secure; SameSite=None");
  eddy_cookie_t host = {.name = "__Host-id",
                        .value = "1",
                        .path = "/",
                        .flags = EDDY_COOKIE_SECURE};
  fmt_ok(&host, "__Host-id=1; Path=/; Secure");
  eddy_cookie_t sec = {
      .name = "__Secure-id", .value = "1", .flags = EDDY_COOKIE_SECURE};
  fmt_ok(&sec, "__Secure-id=1; Secure");
  eddy_cookie_t octets = {.name = "all",
                          .value = "!#$%&'()*+-./09:<=>?@AZ[]^_`az{|}~"};
  fmt_ok(&octets, "all=!#$%&'()*+-./09:<=>?@AZ[]^_`az{|}~");
}

Test(http_cookie, format_refusals) {
  eddy_cookie_t c = {.name = "a", .value = "b"};
  c.name = "";
  fmt_bad(&c, "cookie name is empty");
  c.name = NULL;
  fmt_bad(&c, "cookie name is empty");
  static const char *const bad_names[] = {"a b", "a=b", "a;b",  "a\"",
                                          "(a)", "a,b", "a\tb", "\xc3\xa9"};
  for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
    c.name = bad_names[i];
    fmt_bad(&c, "cookie name is not a token");
  }
  c.name = "a";
  static const char *const bad_values[] = {"a b",  "\"q\"", "a,b",  "a;b",
                                           "a\\b", "\x7f",  "\r\n", "\xc3\xa9"};
  for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
    c.value = bad_values[i];
    fmt_bad(&c, "cookie value has a byte outside cookie-octet (no space, "
                "'\"', ',', ';', '\\' or control; encode it)");
  }
  /* Name plus value: 4096 bytes fit, 4097 do not. */
  char *big = malloc(4097);
  cr_assert_not_null(big);
  memset(big, 'x', 4096);
  big[4095] = '\0';
  c.value = big;
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  cr_assert_eq(eddy_cookie_format(&c, &b, NULL), 0);
  cr_assert_eq(b.len, 4097);
  eddy_buf_free(&b);
  big[4095] = 'x';
  big[4096] = '\0';
  fmt_bad(&c, "cookie name and value exceed 4096 bytes");
  free(big);
  c.value = "b";

  c.path = "";
  fmt_bad(&c, "cookie Path is empty");
  c.path = "/a;b";
  fmt_bad(&c, "cookie Path has a control byte or ';'");
  c.path = "/a\nb";
  fmt_bad(&c, "cookie Path has a control byte or ';'");
  c.path = NULL;
  c.domain = "";
  fmt_bad(&c, "cookie Domain is empty");
  c.domain = "exa mple.com";
  fmt_bad(&c, "cookie Domain may hold only letters, digits, '-' and '.'");
  c.domain = "a;b";
  fmt_bad(&c, "cookie Domain may hold only letters, digits, '-' and '.'");
  c.domain = NULL;

  c.flags = EDDY_COOKIE_MAX_AGE;
  c.max_age = -1;
  fmt_bad(&c, "cookie Max-Age is outside 0..400 days");
  c.max_age = EDDY_COOKIE_MAX_AGE_LIMIT + 1;
  fmt_bad(&c, "cookie Max-Age is outside 0..400 days");
  c.max_age = EDDY_COOKIE_MAX_AGE_LIMIT;
  fmt_ok(&c, "a=b; Max-Age=34560000");
  /* Without its flag, max_age is ignored. */
  c.flags = 0;
  c.max_age = -5;
  fmt_ok(&c, "a=b");

  c.flags = EDDY_COOKIE_EXPIRES;
  c.expires = -1;
  fmt_bad(&c, "cookie Expires is outside the years 1970..9999");
  c.expires = 253402300800LL;
  fmt_bad(&c, "cookie Expires is outside the years 1970..9999");
  c.expires = 253402300799LL;
  fmt_ok(&c, "a=b; Expires=Fri, 31 Dec 9999 23:59:59 GMT");
  c.flags = 0;

  c.samesite = EDDY_COOKIE_SAMESITE_NONE;
  fmt_bad(&c, "cookie SameSite=None needs Secure (browsers drop it otherwise)");
  c.samesite = (eddy_cookie_samesite_t)7;
  fmt_bad(&c,
          "cookie SameSite is not one of the eddy_cookie_samesite_t values");
  c.samesite = EDDY_COOKIE_SAMESITE_DEFAULT;

  eddy_cookie_t sec = {.name = "__secure-x", .value = "1"};
  fmt_bad(&sec, "a __Secure- cookie needs Secure");
  eddy_cookie_t host = {.name = "__Host-x", .value = "1", .path = "/"};
  fmt_bad(&host, "a __Host- cookie needs Secure, Path=/ and no Domain");
  host.flags = EDDY_COOKIE_SECURE;
  host.path = "/app";
  fmt_bad(&host, "a __Host- cookie needs Secure, Path=/ and no Domain");
  host.path = NULL;
  fmt_bad(&host, "a __Host- cookie needs Secure, Path=/ and no Domain");
  host.path = "/";
  host.domain = "example.com";
  fmt_bad(&host, "a __Host- cookie needs Secure, Path=/ and no Domain");

  /* The buffer's own limit: out unchanged. */
  eddy_cookie_t ok = {.name = "name", .value = "value"};
  eddy_buf_init(&b, 8);
  cr_assert_eq(eddy_cookie_format(&ok, &b, NULL), UV_ENOBUFS);
  cr_assert_eq(b.len, 0);
  eddy_buf_free(&b);
}

/* ---- Through a real server ------------------------------------------------
 * The handler reads the "sid" cookie and sets two cookies. */

static void cookie_handler(eddy_http_request_t *req, void *arg) {
  (void)arg;
  const char *v;
  size_t vl;
  int rc = eddy_http_cookie(req, "sid", &v, &vl);
  char body[256];
  if (rc == 0)
    snprintf(body, sizeof(body), "sid=%.*s", (int)vl, v);
  else
    snprintf(body, sizeof(body), "rc=%s", eddy_err_name(rc));
  eddy_cookie_t c = {.name = "seen",
                     .value = "1",
                     .path = "/",
                     .flags = EDDY_COOKIE_HTTP_ONLY | EDDY_COOKIE_MAX_AGE,
                     .max_age = 60,
                     .samesite = EDDY_COOKIE_SAMESITE_STRICT};
  cr_assert_eq(eddy_http_set_cookie(req, &c, NULL), 0);
  eddy_cookie_t bad = {.name = "bad name", .value = "x"};
  const char *why = NULL;
  cr_assert_eq(eddy_http_set_cookie(req, &bad, &why), UV_EINVAL);
  cr_assert_str_eq(why, "cookie name is not a token");
  eddy_cookie_t two = {.name = "two", .value = "2"};
  cr_assert_eq(eddy_http_set_cookie(req, &two, NULL), 0);
  eddy_http_respond(req, 200, "text/plain", body, strlen(body));
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

Test(http_cookie, through_server) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_http_server_t *srv;
  cr_assert_eq(eddy_http_server_new(r, NULL, cookie_handler, NULL, &srv), 0);
  eddy_factory_t *fa = eddy_http_server_factory(srv);
  eddy_protocol_t *p = fa->build_protocol(fa, NULL);
  cr_assert_not_null(p);
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  eddy_string_transport_connect(st, p);

  const char *out =
      ask(r, st,
          "GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1; sid=\"xyz\"\r\n\r\n", 1);
  expect_in(out, "HTTP/1.1 200 ");
  expect_in(out, "\r\nSet-Cookie: seen=1; Path=/; Max-Age=60; HttpOnly; "
                 "SameSite=Strict\r\n");
  expect_in(out, "\r\nSet-Cookie: two=2\r\n");
  expect_in(out, "\r\n\r\nsid=xyz");

  /* Split across two Cookie headers, as HTTP/2 gateways do. */
  out = ask(r, st,
            "GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\nCookie: sid=2\r\n\r\n",
            0);
  expect_in(out, "\r\n\r\nsid=2");
  out = ask(r, st, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 0);
  expect_in(out, "\r\n\r\nrc=ENOENT");

  int stopped = 0;
  eddy_http_server_close(srv, 0, on_stopped, &stopped);
  spin(r);
  eddy_string_transport_free(st);
  test_close_reactor(r);
  cr_assert_eq(stopped, 1);
}
