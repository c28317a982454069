/* test_rt_token.c — connection tokens: round trips, expiry, tampering,
 * strict encoding, and every prefix of a good token (each in its own
 * allocation, so ASan sees any read past the end). */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "support.h"

static int verify(const char *secret, const char *tok, size_t len, uint64_t now,
                  char **user, json_t **info) {
  char *copy = malloc(len ? len : 1);
  cr_assert_not_null(copy);
  memcpy(copy, tok, len);
  int rc = eddy_rt_token_verify(secret, copy, len, now, user, info);
  free(copy);
  return rc;
}

static char *make(const char *secret, const char *user, uint64_t exp,
                  const json_t *info) {
  char *tok = NULL;
  cr_assert_eq(eddy_rt_token_make(secret, user, exp, info, &tok), 0);
  cr_assert_not_null(tok);
  return tok;
}

/* Base64url, unpadded, of n bytes (the test's own encoder). */
static char *b64u(const unsigned char *in, size_t n) {
  char *out = malloc(n * 2 + 4);
  int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
  while (len > 0 && out[len - 1] == '=')
    len--;
  out[len] = '\0';
  for (char *p = out; *p; p++)
    *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
  return out;
}

/* A token signed with secret over any claims text, as another issuer
 * (a Python backend) would make it. */
static char *forge(const char *secret, const char *claims) {
  char *body = b64u((const unsigned char *)claims, strlen(claims));
  unsigned char mac[32];
  unsigned mlen = 0;
  HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)body,
       strlen(body), mac, &mlen);
  char *sig = b64u(mac, mlen);
  char *tok = malloc(strlen(body) + strlen(sig) + 2);
  sprintf(tok, "%s.%s", body, sig);
  free(body);
  free(sig);
  return tok;
}

Test(rt_token, round_trip) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  json_t *info = json_pack("{s:s,s:i}", "name", "Ada", "level", 3);
  char *tok = make("s3cret", "ada", 2000, info);
  /* URL-safe, no padding: it can go in a query string as it is. */
  cr_assert_eq(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"
                           "wxyz0123456789-_."),
               strlen(tok));
  char *user = NULL;
  json_t *got = NULL;
  cr_assert_eq(verify("s3cret", tok, strlen(tok), 1999, &user, &got), 0);
  cr_assert_str_eq(user, "ada");
  cr_assert(json_equal(got, info));
  free(user);
  json_decref(got);
  /* info is optional on the way out too. */
  cr_assert_eq(verify("s3cret", tok, strlen(tok), 1000, &user, NULL), 0);
  free(user);
  free(tok);
  json_decref(info);

  tok = make("s3cret", "", 0, NULL);
  cr_assert_eq(verify("s3cret", tok, strlen(tok), UINT64_MAX / 2, &user, &got),
               0);
  cr_assert_str_eq(user, "");
  cr_assert_null(got);
  free(user);
  free(tok);
  test_close_reactor(r);
}

Test(rt_token, expiry) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  char *tok = make("k", "bob", 1000, NULL);
  char *user = NULL;
  cr_assert_eq(verify("k", tok, strlen(tok), 999, &user, NULL), 0);
  free(user);
  cr_assert_eq(verify("k", tok, strlen(tok), 1000, &user, NULL), UV_EACCES);
  cr_assert_null(user);
  cr_assert_eq(verify("k", tok, strlen(tok), 5000, &user, NULL), UV_EACCES);
  free(tok);
  test_close_reactor(r);
}

Test(rt_token, wrong_secret_and_tampering) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  char *tok = make("right", "carol", 0, NULL);
  size_t n = strlen(tok);
  char *user = NULL;
  json_t *info = NULL;
  cr_assert_eq(verify("wrong", tok, n, 0, &user, &info), UV_EACCES);
  cr_assert_null(user);
  cr_assert_null(info);
  /* Changing any one character breaks the token: either it no longer
   * decodes, or the signature no longer matches. */
  for (size_t i = 0; i < n; i++) {
    if (tok[i] == '.')
      continue;
    char saved = tok[i];
    tok[i] = saved == 'A' ? 'B' : 'A';
    int rc = verify("right", tok, n, 0, &user, &info);
    cr_assert(rc == UV_EACCES || rc == EDDY_EPARSE, "byte %zu: %d", i, rc);
    cr_assert_null(user);
    tok[i] = saved;
  }
  /* Claims of another user under the old signature. */
  char *other = make("right", "mallory", 0, NULL);
  char *sig = strchr(tok, '.');
  char *osig = strchr(other, '.');
  memcpy(osig, sig, strlen(sig));
  cr_assert_eq(verify("right", other, strlen(other), 0, &user, NULL),
               UV_EACCES);
  free(other);
  free(tok);
  test_close_reactor(r);
}

Test(rt_token, not_tokens) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  char *tok = make("k", "dave", 0, NULL);
  size_t n = strlen(tok);
  char *user = NULL;
  /* Every proper prefix is refused, without reading past it. */
  for (size_t i = 0; i < n; i++) {
    int rc = verify("k", tok, i, 0, &user, NULL);
    cr_assert(rc == EDDY_EPARSE || rc == UV_EACCES, "prefix %zu: %d", i, rc);
    cr_assert_null(user);
  }
  const char *bad[] = {
      "",
      "abc",
      "no-dot-at-all-but-long-enough-to-pass-the-length-check-xxxxxxxxxx",
      ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      "e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", /* padding */
      "e30=.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      "e3 0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      "e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB", /* stray low bits */
      "e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+", /* not url-safe */
      "e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    cr_assert_eq(verify("k", bad[i], strlen(bad[i]), 0, &user, NULL),
                 EDDY_EPARSE, "'%s'", bad[i]);
  /* Over the length limit. */
  size_t big = 9000;
  char *huge = malloc(big);
  memset(huge, 'A', big);
  huge[100] = '.';
  cr_assert_eq(verify("k", huge, big, 0, &user, NULL), EDDY_EPARSE);
  free(huge);
  free(tok);
  test_close_reactor(r);
}

Test(rt_token, claims_checked_after_signature) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  char *user = NULL;
  json_t *info = NULL;
  /* Other issuers may add claims of their own. */
  char *tok = forge("k", "{\"sub\":\"eve\",\"iat\":5,\"exp\":100}");
  cr_assert_eq(verify("k", tok, strlen(tok), 50, &user, &info), 0);
  cr_assert_str_eq(user, "eve");
  free(user);
  free(tok);
  /* Well signed but wrong shapes: not tokens. */
  const char *shapes[] = {
      "[1]",
      "{}",
      "{\"sub\":5}",
      "{\"sub\":\"x\",\"exp\":\"soon\"}",
      "{\"sub\":\"x\",\"exp\":0}",
      "{\"sub\":\"x\",\"exp\":-4}",
      "{\"sub\":\"x\",\"info\":[1]}",
      "{\"sub\":\"x\",\"sub\":\"y\"}",
      "{\"sub\":\"x\"",
      "not json",
  };
  for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
    tok = forge("k", shapes[i]);
    cr_assert_eq(verify("k", tok, strlen(tok), 1, &user, &info), EDDY_EPARSE,
                 "%s", shapes[i]);
    cr_assert_null(user);
    cr_assert_null(info);
    free(tok);
  }
  /* The same junk unsigned is refused on its signature. */
  tok = forge("other", "not json");
  cr_assert_eq(verify("k", tok, strlen(tok), 1, &user, &info), UV_EACCES);
  free(tok);
  test_close_reactor(r);
}

Test(rt_token, bad_arguments) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  char *tok = (char *)"x";
  cr_assert_eq(eddy_rt_token_make(NULL, "u", 0, NULL, &tok), UV_EINVAL);
  cr_assert_null(tok);
  cr_assert_eq(eddy_rt_token_make("", "u", 0, NULL, &tok), UV_EINVAL);
  cr_assert_eq(eddy_rt_token_make("k", NULL, 0, NULL, &tok), UV_EINVAL);
  json_t *arr = json_array();
  cr_assert_eq(eddy_rt_token_make("k", "u", 0, arr, &tok), UV_EINVAL);
  json_decref(arr);
  cr_assert_eq(eddy_rt_token_make("k", "bad\xff utf8", 0, NULL, &tok),
               UV_EINVAL);
  char *longuser = malloc(10000);
  memset(longuser, 'u', 9999);
  longuser[9999] = '\0';
  cr_assert_eq(eddy_rt_token_make("k", longuser, 0, NULL, &tok), UV_EINVAL);
  free(longuser);
  char *user = NULL;
  cr_assert_eq(eddy_rt_token_verify("", "a.b", 3, 0, &user, NULL), UV_EINVAL);
  cr_assert_eq(eddy_rt_token_verify(NULL, "a.b", 3, 0, &user, NULL), UV_EINVAL);
  test_close_reactor(r);
}
