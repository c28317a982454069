/* fuzz_endpoint.c — libFuzzer driver for the endpoint string parser.
 *
 * Each input is tried as a server and as a client endpoint. A success must
 * describe a valid endpoint, and its canonical string must re-parse to the
 * identical struct and format to itself again; a failure must point inside
 * the string with an "expected ..." message. Any broken property aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/endpoint.h"
#include "eddy/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int parse(int server, const char *s, eddy_endpoint_t *ep,
                 eddy_endpoint_error_t *err) {
  return server ? eddy_endpoint_parse_server(s, ep, err)
                : eddy_endpoint_parse_client(s, ep, err);
}

static void check_valid(const eddy_endpoint_t *ep, int server) {
  if (ep->server != server)
    abort();
  if (memchr(ep->host, '\0', sizeof(ep->host)) == NULL ||
      memchr(ep->path, '\0', sizeof(ep->path)) == NULL)
    abort();
  switch (ep->kind) {
  case EDDY_ENDPOINT_TCP:
  case EDDY_ENDPOINT_TCP6:
    if (ep->host[0] == '\0' || ep->path[0] != '\0' || ep->mode != 0)
      abort();
    break;
  case EDDY_ENDPOINT_UNIX:
    if (ep->path[0] == '\0' || ep->host[0] != '\0' || ep->port != 0)
      abort();
    break;
  default:
    abort();
  }
  if (server) {
    if (ep->backlog < 1 || ep->backlog > 65535 || ep->mode > 0777 ||
        ep->timeout_ms != 0)
      abort();
  } else {
    if (ep->backlog != 0 || ep->mode != 0 || ep->timeout_ms > 86400000u)
      abort();
    if (ep->kind != EDDY_ENDPOINT_UNIX && ep->port == 0)
      abort(); /* nothing can connect to port 0 */
  }
}

static void check_round_trip(const eddy_endpoint_t *ep, int server) {
  char buf[1024], again[1024];
  int n = eddy_endpoint_format(ep, buf, sizeof(buf));
  if (n <= 0 || (size_t)n >= sizeof(buf) || strlen(buf) != (size_t)n)
    abort();
  /* Truncated output is a prefix of the full one, like snprintf. */
  char small[17];
  if (eddy_endpoint_format(ep, small, sizeof(small)) != n ||
      strncmp(small, buf, sizeof(small) - 1) != 0)
    abort();
  if (eddy_endpoint_format(ep, NULL, 0) != n)
    abort();

  eddy_endpoint_t back;
  eddy_endpoint_error_t err;
  if (parse(server, buf, &back, &err) != 0)
    abort(); /* the canonical string does not parse */
  if (memcmp(ep, &back, sizeof(back)) != 0)
    abort(); /* ... or parses to something else */
  if (eddy_endpoint_format(&back, again, sizeof(again)) != n ||
      strcmp(buf, again) != 0)
    abort(); /* the canonical string is not a fixed point */
}

static void check_error(const eddy_endpoint_error_t *err, size_t len) {
  if (err->pos > len)
    abort();
  size_t m = strnlen(err->message, sizeof(err->message));
  if (m == sizeof(err->message) || strncmp(err->message, "expected ", 9) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096)
    return 0;
  /* An exact-size copy, so a read past the terminator is caught. */
  char *s = malloc(size + 1);
  if (s == NULL)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  size_t len = strlen(s);
  for (int server = 0; server < 2; server++) {
    eddy_endpoint_t ep, untouched;
    eddy_endpoint_error_t err;
    memset(&ep, 0x5a, sizeof(ep));
    untouched = ep;
    memset(&err, 0, sizeof(err));
    int rc = parse(server, s, &ep, &err);
    if (rc == 0) {
      check_valid(&ep, server);
      check_round_trip(&ep, server);
    } else if (rc == EDDY_EPARSE) {
      check_error(&err, len);
      if (memcmp(&ep, &untouched, sizeof(ep)) != 0)
        abort(); /* a failed parse must leave *ep alone */
    } else {
      abort();
    }
  }
  free(s);
  return 0;
}
