/* token.c — connection tokens: base64url(claims) "." base64url(HMAC-SHA256).
 *
 * The signature is checked before the claims are parsed, so JSON from a
 * peer without the secret is never handed to the JSON parser. Base64url is
 * strict (no padding, no whitespace, canonical trailing bits) so that one
 * token has exactly one spelling. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "eddy/error.h"
#include "eddy/realtime.h"
#include "realtime/lines_internal.h"

/* Longest token accepted or made: a token rides in a connect message and in
 * query strings, so it stays well under any message limit. */
#define TOKEN_MAX 4096
#define MAC_LEN 32
#define MAC_B64_LEN 43 /* 32 bytes, unpadded */

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Writes the unpadded encoding of in[0..n) at out; returns its length. */
static size_t b64_encode(const unsigned char *in, size_t n, char *out) {
  size_t o = 0, i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = b64url[v >> 18 & 63];
    out[o++] = b64url[v >> 12 & 63];
    out[o++] = b64url[v >> 6 & 63];
    out[o++] = b64url[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    out[o++] = b64url[v >> 18 & 63];
    out[o++] = b64url[v >> 12 & 63];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    out[o++] = b64url[v >> 18 & 63];
    out[o++] = b64url[v >> 12 & 63];
    out[o++] = b64url[v >> 6 & 63];
  }
  return o;
}

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '-')
    return 62;
  if (c == '_')
    return 63;
  return -1;
}

/* Decodes n characters into out (room for n * 3 / 4 bytes). Returns the
 * byte count, or -1 for a character outside the alphabet, a length no
 * encoding has (n % 4 == 1), or unused low bits that are not zero. */
static long b64_decode(const char *in, size_t n, unsigned char *out) {
  if (n % 4 == 1)
    return -1;
  size_t o = 0;
  uint32_t acc = 0;
  unsigned bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64_value(in[i]);
    if (v < 0)
      return -1;
    acc = (acc << 6 | (uint32_t)v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
    return -1;
  return (long)o;
}

static int sign(const char *secret, const char *data, size_t len,
                unsigned char mac[MAC_LEN]) {
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), secret, (int)strlen(secret),
           (const unsigned char *)data, len, mac, &mac_len) == NULL ||
      mac_len != MAC_LEN)
    return UV_ENOMEM;
  return 0;
}

int eddy_rt_token_make(const char *secret, const char *user, uint64_t exp_unix,
                       const json_t *info, char **out) {
  if (out != NULL)
    *out = NULL;
  if (secret == NULL || secret[0] == '\0' || user == NULL || out == NULL ||
      (info != NULL && !json_is_object(info)) || exp_unix > INT64_MAX)
    return UV_EINVAL;
  size_t ulen = strlen(user);
  json_t *claims = json_object();
  if (claims == NULL)
    return UV_ENOMEM;
  json_t *sub = json_stringn(user, ulen);
  if (sub == NULL) { /* not UTF-8 */
    json_decref(claims);
    return UV_EINVAL;
  }
  int rc = json_object_set_new(claims, "sub", sub);
  if (rc == 0 && exp_unix != 0)
    rc = json_object_set_new(claims, "exp", json_integer((json_int_t)exp_unix));
  if (rc == 0 && info != NULL)
    rc = json_object_set(claims, "info", (json_t *)info);
  char *text = rc == 0 ? json_dumps(claims, JSON_COMPACT) : NULL;
  json_decref(claims);
  if (text == NULL)
    return UV_ENOMEM;
  size_t tlen = strlen(text);
  size_t enc_len = (tlen + 2) / 3 * 4;
  if (enc_len + 1 + MAC_B64_LEN > TOKEN_MAX) {
    free(text);
    return UV_EINVAL;
  }
  char *tok = malloc(enc_len + 1 + MAC_B64_LEN + 1);
  if (tok == NULL) {
    free(text);
    return UV_ENOMEM;
  }
  size_t n = b64_encode((const unsigned char *)text, tlen, tok);
  free(text);
  unsigned char mac[MAC_LEN];
  if ((rc = sign(secret, tok, n, mac)) != 0) {
    free(tok);
    return rc;
  }
  tok[n++] = '.';
  n += b64_encode(mac, MAC_LEN, tok + n);
  tok[n] = '\0';
  *out = tok;
  return 0;
}

/* The claims of a token whose signature was good. Unknown claims are
 * allowed (other issuers may add "iat" and the like); known ones must
 * have their type. */
static int read_claims(const unsigned char *text, size_t len, uint64_t now_unix,
                       char **user, json_t **info) {
  json_t *claims =
      json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, NULL);
  if (claims == NULL)
    return EDDY_EPARSE;
  int rc = EDDY_EPARSE;
  json_t *sub = json_object_get(claims, "sub");
  json_t *exp = json_object_get(claims, "exp");
  json_t *inf = json_object_get(claims, "info");
  if (!json_is_object(claims) || !json_is_string(sub) ||
      (exp != NULL &&
       (!json_is_integer(exp) || json_integer_value(exp) <= 0)) ||
      (inf != NULL && !json_is_object(inf)))
    goto out;
  /* A user name with a NUL in it could not be told apart from a shorter
   * one by C code downstream. */
  size_t ulen = json_string_length(sub);
  if (memchr(json_string_value(sub), '\0', ulen) != NULL)
    goto out;
  if (exp != NULL && now_unix >= (uint64_t)json_integer_value(exp)) {
    rc = UV_EACCES;
    goto out;
  }
  char *u = malloc(ulen + 1);
  if (u == NULL) {
    rc = UV_ENOMEM;
    goto out;
  }
  memcpy(u, json_string_value(sub), ulen + 1);
  *user = u;
  if (info != NULL)
    *info = inf != NULL ? json_incref(inf) : NULL;
  rc = 0;
out:
  json_decref(claims);
  return rc;
}

int eddy_rt_token_verify(const char *secret, const char *token, size_t len,
                         uint64_t now_unix, char **user, json_t **info) {
  if (user != NULL)
    *user = NULL;
  if (info != NULL)
    *info = NULL;
  if (secret == NULL || secret[0] == '\0' || user == NULL ||
      (token == NULL && len > 0))
    return UV_EINVAL;
  if (len > TOKEN_MAX || len < 2 + MAC_B64_LEN)
    return EDDY_EPARSE;
  const char *dot = memchr(token, '.', len);
  if (dot == NULL)
    return EDDY_EPARSE;
  size_t body_len = (size_t)(dot - token);
  const char *sig = dot + 1;
  size_t sig_len = len - body_len - 1;
  if (body_len == 0 || sig_len != MAC_B64_LEN)
    return EDDY_EPARSE;
  unsigned char given[MAC_LEN + 2];
  if (b64_decode(sig, sig_len, given) != MAC_LEN)
    return EDDY_EPARSE;
  unsigned char *claims = malloc(body_len * 3 / 4 + 1);
  if (claims == NULL)
    return UV_ENOMEM;
  long clen = b64_decode(token, body_len, claims);
  if (clen <= 0) {
    free(claims);
    return EDDY_EPARSE;
  }
  unsigned char want[MAC_LEN];
  int rc = sign(secret, token, body_len, want);
  if (rc == 0 && CRYPTO_memcmp(want, given, MAC_LEN) != 0)
    rc = UV_EACCES;
  if (rc == 0)
    rc = read_claims(claims, (size_t)clen, now_unix, user, info);
  free(claims);
  return rc;
}

int eddy__rt_secret_equal(const char *want, const char *got, size_t got_len) {
  unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
  if (want == NULL || (got == NULL && got_len > 0))
    return 0;
  SHA256((const unsigned char *)want, strlen(want), a);
  SHA256((const unsigned char *)(got != NULL ? got : ""), got_len, b);
  return CRYPTO_memcmp(a, b, sizeof(a)) == 0;
}
