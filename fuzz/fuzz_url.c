/* fuzz_url.c — libFuzzer driver for the URL parser and resolver.
 *
 * The input is a URL, optionally followed by a newline and a reference.
 * Properties: a parsed URL's parts lie inside the input and respect the
 * documented character rules; a failure points inside the input and leaves
 * the struct alone; resolving never writes past the buffer, and its result
 * (when it is http:// or ws://) parses again, and resolving "" against
 * that gives it back unchanged. Any broken property aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/error.h"
#include "eddy/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_part(eddy_url_str_t part, const char *s, size_t len) {
  if (part.p == NULL) {
    if (part.len != 0)
      abort();
    return;
  }
  if (part.p < s || part.p + part.len > s + len)
    abort();
  for (size_t i = 0; i < part.len; i++) {
    unsigned char c = (unsigned char)part.p[i];
    if (c <= 0x20 || c >= 0x7f || strchr("\"<>\\^`{|}", c) != NULL)
      abort();
  }
}

static void check_url(const eddy_url_t *u, const char *s, size_t len) {
  if (u->scheme != EDDY_URL_HTTP && u->scheme != EDDY_URL_WS)
    abort();
  if (u->host.p == NULL || u->host.len == 0 || u->port == 0)
    abort();
  if (!u->host_is_ipv6 && u->host.len > EDDY_URL_HOST_MAX)
    abort();
  check_part(u->userinfo, s, len);
  check_part(u->host, s, len);
  check_part(u->path, s, len);
  check_part(u->query, s, len);
  check_part(u->fragment, s, len);
  if (u->path.len > 0 && u->path.p[0] != '/')
    abort();
  char small[8];
  int n = eddy_url_target(u, small, sizeof(small));
  if (n <= 0 || strlen(small) != ((size_t)n < sizeof(small) ? (size_t)n : 7))
    abort();
}

/* Resolving "" rewrites the authority canonically (default port left out),
 * so the second round must give the first round's text back. */
static void check_canonical(const char *out, size_t n) {
  eddy_url_t once, twice;
  eddy_url_error_t err;
  if (eddy_url_parse(out, n, EDDY_URL_ALLOW_USERINFO, &once, &err) != 0)
    return; /* another scheme, or a bad authority: the caller's to refuse */
  char *a = malloc(n + 16), *b = malloc(n + 16);
  if (a != NULL && b != NULL) {
    int na = eddy_url_resolve(&once, "", 0, a, n + 16, &err);
    if (na < 0 || eddy_url_parse(a, (size_t)na, EDDY_URL_ALLOW_USERINFO, &twice,
                                 &err) != 0)
      abort();
    int nb = eddy_url_resolve(&twice, "", 0, b, n + 16, &err);
    if (nb != na || memcmp(a, b, (size_t)na) != 0)
      abort();
  }
  free(a);
  free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 2 * EDDY_URL_MAX_LENGTH)
    return 0;
  const char *nl = memchr(data, '\n', size);
  size_t ulen = nl ? (size_t)(nl - (const char *)data) : size;
  /* Exact-size copies, so a read past either end is caught. */
  char *s = malloc(ulen ? ulen : 1);
  if (s == NULL)
    return 0;
  memcpy(s, data, ulen);
  eddy_url_t u, untouched;
  memset(&u, 0x5a, sizeof(u));
  untouched = u;
  eddy_url_error_t err;
  int rc = eddy_url_parse(s, ulen, EDDY_URL_ALLOW_USERINFO, &u, &err);
  if (rc == 0) {
    check_url(&u, s, ulen);
  } else if (rc == EDDY_EPARSE || rc == UV_EPROTONOSUPPORT) {
    if (memcmp(&u, &untouched, sizeof(u)) != 0 || err.pos > ulen ||
        strnlen(err.message, sizeof(err.message)) == sizeof(err.message))
      abort();
    free(s);
    return 0;
  } else {
    abort();
  }
  if (nl != NULL) {
    size_t rlen = size - ulen - 1;
    char *ref = malloc(rlen ? rlen : 1);
    if (ref == NULL) {
      free(s);
      return 0;
    }
    memcpy(ref, nl + 1, rlen);
    for (size_t bufsize = 1; bufsize <= 4096; bufsize *= 8) {
      char *out = malloc(bufsize);
      if (out == NULL)
        break;
      int n = eddy_url_resolve(&u, ref, rlen, out, bufsize, &err);
      if (n >= 0) {
        if ((size_t)n >= bufsize || strlen(out) != (size_t)n)
          abort();
        check_canonical(out, (size_t)n);
      } else if (n != EDDY_EPARSE && n != UV_ENOBUFS) {
        abort();
      }
      free(out);
    }
    free(ref);
  }
  free(s);
  return 0;
}
