/* fuzz_rt_token.c — libFuzzer driver for connection tokens.
 *
 * The input is checked as a token under two secrets, at two times. The
 * verifier must answer 0, UV_EACCES or EDDY_EPARSE, hand back a user only
 * on 0, and never read past the input (it is copied to an allocation of
 * its exact size). Then a token made from the input (as the user name,
 * when it is UTF-8) must verify under its secret, fail under another, and
 * fail at its expiry time. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/eddy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const char *secret, const char *tok, size_t len,
                  uint64_t now) {
  char *user = NULL;
  json_t *info = NULL;
  int rc = eddy_rt_token_verify(secret, tok, len, now, &user, &info);
  if (rc == 0) {
    if (user == NULL || (info != NULL && !json_is_object(info)))
      abort();
  } else {
    if (rc != UV_EACCES && rc != EDDY_EPARSE && rc != UV_ENOMEM)
      abort();
    if (user != NULL || info != NULL)
      abort();
  }
  free(user);
  json_decref(info);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 10000)
    return 0;
  char *copy = malloc(size ? size : 1);
  if (copy == NULL)
    return 0;
  memcpy(copy, data, size);
  check("k", copy, size, 0);
  check("k", copy, size, 2000000000);
  check("another secret", copy, size, 1);

  /* Round trip with the input as the user. */
  char *name = malloc(size + 1);
  if (name == NULL) {
    free(copy);
    return 0;
  }
  memcpy(name, data, size);
  name[size] = '\0';
  char *tok = NULL;
  int rc = eddy_rt_token_make("k", name, 1000, NULL, &tok);
  if (rc == 0) {
    char *user = NULL;
    if (eddy_rt_token_verify("k", tok, strlen(tok), 999, &user, NULL) != 0 ||
        strcmp(user, name) != 0)
      abort();
    free(user);
    if (eddy_rt_token_verify("K", tok, strlen(tok), 999, &user, NULL) !=
            UV_EACCES ||
        eddy_rt_token_verify("k", tok, strlen(tok), 1000, &user, NULL) !=
            UV_EACCES)
      abort();
    free(tok);
  } else if (rc != UV_EINVAL) {
    abort();
  }
  free(name);
  free(copy);
  return 0;
}
