/* test_url.c — the URL parser and reference resolution (eddy/url.h). */
#include "support.h"

#include <stdlib.h>
#include <string.h>

#include <eddy/url.h>

static int parse(const char *s, eddy_url_t *u, eddy_url_error_t *e) {
  /* An exact-size copy, so a read past the end is caught by ASan. */
  size_t n = strlen(s);
  char *copy = malloc(n ? n : 1);
  cr_assert_not_null(copy);
  memcpy(copy, s, n);
  eddy_url_t tmp;
  int rc = eddy_url_parse(copy, n, 0, &tmp, e);
  free(copy);
  /* The parts point into the copy: re-parse the original for the caller. */
  if (rc == 0)
    cr_assert_eq(eddy_url_parse(s, n, 0, u, e), 0);
  return rc;
}

static void assert_part(eddy_url_str_t part, const char *want) {
  if (want == NULL) {
    cr_assert_null(part.p, "expected an absent part, got \"%.*s\"",
                   (int)part.len, part.p);
    return;
  }
  cr_assert_not_null(part.p, "expected \"%s\", got an absent part", want);
  cr_assert_eq(part.len, strlen(want), "\"%.*s\" != \"%s\"", (int)part.len,
               part.p, want);
  cr_assert(memcmp(part.p, want, part.len) == 0);
}

Test(url, full) {
  eddy_url_t u;
  cr_assert_eq(parse("http://example.com:8080/a/b%20c?x=1&y=/z#frag", &u, NULL),
               0);
  cr_assert_eq(u.scheme, EDDY_URL_HTTP);
  assert_part(u.host, "example.com");
  cr_assert_eq(u.port, 8080);
  cr_assert(u.port_given);
  cr_assert_not(u.host_is_ipv6);
  assert_part(u.path, "/a/b%20c");
  assert_part(u.query, "x=1&y=/z");
  assert_part(u.fragment, "frag");
  assert_part(u.userinfo, NULL);
}

Test(url, defaults_and_case) {
  eddy_url_t u;
  cr_assert_eq(parse("HTTP://Example.COM", &u, NULL), 0);
  cr_assert_eq(u.scheme, EDDY_URL_HTTP);
  cr_assert_eq(u.port, 80);
  cr_assert_not(u.port_given);
  cr_assert_eq(u.path.len, 0);
  assert_part(u.query, NULL);
  assert_part(u.fragment, NULL);
  char buf[64];
  cr_assert_eq(eddy_url_target(&u, buf, sizeof(buf)), 1);
  cr_assert_str_eq(buf, "/");
  cr_assert_eq(eddy_url_authority(&u, buf, sizeof(buf)), 11);
  cr_assert_str_eq(buf, "Example.COM");

  cr_assert_eq(parse("ws://h:/?", &u, NULL), 0); /* empty port: default */
  cr_assert_eq(u.scheme, EDDY_URL_WS);
  cr_assert_eq(u.port, 80);
  cr_assert_not(u.port_given);
  assert_part(u.query, "");
  cr_assert_eq(eddy_url_target(&u, buf, sizeof(buf)), 2);
  cr_assert_str_eq(buf, "/?");
}

Test(url, ipv6) {
  eddy_url_t u;
  cr_assert_eq(parse("http://[::1]:7700/x", &u, NULL), 0);
  assert_part(u.host, "::1");
  cr_assert(u.host_is_ipv6);
  cr_assert_eq(u.port, 7700);
  char buf[64];
  eddy_url_authority(&u, buf, sizeof(buf));
  cr_assert_str_eq(buf, "[::1]:7700");
  cr_assert_eq(parse("http://[2001:db8::a]", &u, NULL), 0);
  assert_part(u.host, "2001:db8::a");

  eddy_url_error_t e;
  cr_assert_eq(parse("http://[::1/x", &u, &e), EDDY_EPARSE);
  cr_assert_eq(e.pos, 7);
  cr_assert_eq(parse("http://[fe80::1%25eth0]/", &u, &e), EDDY_EPARSE);
  cr_assert_eq(parse("http://[::1]x/", &u, &e), EDDY_EPARSE);
  cr_assert_eq(parse("http://[nothex]/", &u, &e), EDDY_EPARSE);
  cr_assert_eq(parse("http://[]/", &u, &e), EDDY_EPARSE);
  /* Found by fuzzing: inet_pton stops at a NUL, the URL must not. */
  cr_assert_eq(eddy_url_parse("http://[::1\0\0]/", 16, 0, &u, &e), EDDY_EPARSE);
}

Test(url, userinfo) {
  eddy_url_t u;
  eddy_url_error_t e;
  cr_assert_eq(parse("http://user:pw@h/", &u, &e), EDDY_EPARSE);
  cr_assert_eq(e.pos, 7);
  cr_assert(strstr(e.message, "credentials") != NULL, "%s", e.message);
  const char *s = "http://user:pw@h/";
  cr_assert_eq(eddy_url_parse(s, strlen(s), EDDY_URL_ALLOW_USERINFO, &u, &e),
               0);
  assert_part(u.userinfo, "user:pw");
  assert_part(u.host, "h");
  s = "http://a@b@h/";
  cr_assert_eq(eddy_url_parse(s, strlen(s), EDDY_URL_ALLOW_USERINFO, &u, &e),
               EDDY_EPARSE);
}

Test(url, tls_refused) {
  eddy_url_t u;
  memset(&u, 0x5a, sizeof(u));
  eddy_url_t untouched = u;
  eddy_url_error_t e;
  cr_assert_eq(parse("https://example.com/", &u, &e), UV_EPROTONOSUPPORT);
  cr_assert(strstr(e.message, "TLS") != NULL, "%s", e.message);
  cr_assert_eq(parse("WSS://example.com/", &u, &e), UV_EPROTONOSUPPORT);
  cr_assert(memcmp(&u, &untouched, sizeof(u)) == 0);
}

Test(url, errors_point_at_the_problem) {
  static const struct {
    const char *s;
    size_t pos;
    const char *words;
  } cases[] = {
      {"", 0, "scheme"},
      {"example.com/x", 11, "scheme"},
      {"ftp://h/", 0, "unsupported scheme"},
      {"http:/h", 5, "//"},
      {"http://", 7, "host"},
      {"http:///x", 7, "host"},
      {"http://h:0/", 9, "port"},
      {"http://h:65536/", 9, "port"},
      {"http://h:123456/", 9, "port"},
      {"http://h:8x/", 9, "port"},
      {"http://h o/", 8, "host"},
      {"http://h%41/", 8, "host"},
      {"http://h/a b", 10, "path"},
      {"http://h/a%2", 10, "percent"},
      {"http://h/a%zz", 10, "percent"},
      {"http://h/a\"b", 10, "path"},
      {"http://h/?q=<x>", 12, "query"},
      {"http://h/#a#b", 11, "fragment"},
      {"http://h/\x80", 9, "0x80"},
      {"http://h/\t", 9, "0x09"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    eddy_url_t u;
    eddy_url_error_t e;
    memset(&e, 0, sizeof(e));
    int rc = parse(cases[i].s, &u, &e);
    cr_assert_eq(rc, EDDY_EPARSE, "%s: rc %d", cases[i].s, rc);
    cr_assert_eq(e.pos, cases[i].pos, "%s: pos %zu, want %zu (%s)", cases[i].s,
                 e.pos, cases[i].pos, e.message);
    cr_assert(strstr(e.message, cases[i].words) != NULL, "%s: \"%s\"",
              cases[i].s, e.message);
  }
}

Test(url, limits) {
  size_t n = EDDY_URL_MAX_LENGTH + 1;
  char *s = malloc(n + 1);
  cr_assert_not_null(s);
  memcpy(s, "http://h/", 9);
  memset(s + 9, 'a', n - 9);
  s[n] = '\0';
  eddy_url_t u;
  eddy_url_error_t e;
  cr_assert_eq(eddy_url_parse(s, n, 0, &u, &e), EDDY_EPARSE);
  cr_assert_eq(eddy_url_parse(s, n - 1, 0, &u, &e), 0);
  /* A host of 256 bytes is one too many. */
  memcpy(s, "http://", 7);
  memset(s + 7, 'h', 256);
  s[7 + 256] = '\0';
  cr_assert_eq(eddy_url_parse(s, strlen(s), 0, &u, &e), EDDY_EPARSE);
  cr_assert(strstr(e.message, "host longer") != NULL, "%s", e.message);
  s[7 + 255] = '\0';
  cr_assert_eq(eddy_url_parse(s, strlen(s), 0, &u, &e), 0);
  free(s);
  /* A NUL inside the length is a bad byte, not an end. */
  cr_assert_eq(eddy_url_parse("http://h/\0x", 11, 0, &u, &e), EDDY_EPARSE);
}

/* Every prefix of a valid URL either parses or fails cleanly; parsing
 * byte-exact prefixes also proves no read goes past len. */
Test(url, every_prefix) {
  const char *s = "http://user@[::1]:81/p/q%41?a=b#f";
  size_t n = strlen(s);
  for (size_t i = 0; i <= n; i++) {
    char *copy = malloc(i ? i : 1);
    memcpy(copy, s, i);
    eddy_url_t u;
    eddy_url_error_t e;
    int rc = eddy_url_parse(copy, i, EDDY_URL_ALLOW_USERINFO, &u, &e);
    cr_assert(rc == 0 || rc == EDDY_EPARSE, "prefix %zu: %d", i, rc);
    if (rc != 0)
      cr_assert(e.pos <= i);
    free(copy);
  }
}

static void resolve(const char *base, const char *ref, const char *want) {
  eddy_url_t b;
  cr_assert_eq(parse(base, &b, NULL), 0, "base %s", base);
  char out[512];
  eddy_url_error_t e;
  int n = eddy_url_resolve(&b, ref, strlen(ref), out, sizeof(out), &e);
  cr_assert_geq(n, 0, "%s + %s: %d (%s)", base, ref, n, e.message);
  cr_assert_str_eq(out, want, "%s + %s", base, ref);
  cr_assert_eq((size_t)n, strlen(want));
}

/* RFC 3986 section 5.4's examples (those that stay http). */
Test(url, resolve_rfc_examples) {
  const char *base = "http://a/b/c/d;p?q";
  resolve(base, "g", "http://a/b/c/g");
  resolve(base, "./g", "http://a/b/c/g");
  resolve(base, "g/", "http://a/b/c/g/");
  resolve(base, "/g", "http://a/g");
  resolve(base, "//g", "http://g");
  resolve(base, "?y", "http://a/b/c/d;p?y");
  resolve(base, "g?y", "http://a/b/c/g?y");
  resolve(base, "#s", "http://a/b/c/d;p?q");
  resolve(base, "g#s", "http://a/b/c/g");
  resolve(base, ";x", "http://a/b/c/;x");
  resolve(base, "", "http://a/b/c/d;p?q");
  resolve(base, ".", "http://a/b/c/");
  resolve(base, "./", "http://a/b/c/");
  resolve(base, "..", "http://a/b/");
  resolve(base, "../", "http://a/b/");
  resolve(base, "../g", "http://a/b/g");
  resolve(base, "../..", "http://a/");
  resolve(base, "../../g", "http://a/g");
  resolve(base, "../../../g", "http://a/g");
  resolve(base, "../../../../g", "http://a/g");
  resolve(base, "/./g", "http://a/g");
  resolve(base, "/../g", "http://a/g");
  resolve(base, "g.", "http://a/b/c/g.");
  resolve(base, "..g", "http://a/b/c/..g");
  resolve(base, "./../g", "http://a/b/g");
  resolve(base, "g/./h", "http://a/b/c/g/h");
  resolve(base, "g/../h", "http://a/b/c/h");
  resolve(base, "g;x=1/../y", "http://a/b/c/y");
}

Test(url, resolve_other_cases) {
  resolve("http://h:8080/a", "/b", "http://h:8080/b");
  resolve("http://h:80/a", "b", "http://h/b");
  resolve("http://[::1]:81/a/b", "c", "http://[::1]:81/a/c");
  resolve("http://h", "x", "http://h/x");
  resolve("http://h/a", "HTTP://Other/Z/../y?k", "http://Other/y?k");
  resolve("http://h/a", "https://secure/", "https://secure/");
  resolve("http://h/a?q", "", "http://h/a?q");
  eddy_url_t b;
  cr_assert_eq(parse("http://h/a", &b, NULL), 0);
  char out[32];
  eddy_url_error_t e;
  cr_assert_eq(eddy_url_resolve(&b, "/a b", 4, out, sizeof(out), &e),
               EDDY_EPARSE);
  cr_assert_eq(e.pos, 2);
  cr_assert_eq(eddy_url_resolve(&b, "/%x", 3, out, sizeof(out), &e),
               EDDY_EPARSE);
  /* Too long for the buffer: refused, never truncated. */
  const char *long_ref = "/0123456789012345678901234567890123456789";
  cr_assert_eq(
      eddy_url_resolve(&b, long_ref, strlen(long_ref), out, sizeof(out), &e),
      UV_ENOBUFS);
  cr_assert_str_eq(out, "");
  /* A "/.." after a long segment still resolves inside the buffer. */
  cr_assert_eq(eddy_url_resolve(&b, "/xx/..", 6, out, sizeof(out), &e), 9);
  cr_assert_str_eq(out, "http://h/");
}
