/* fuzz_lock_request.c — libFuzzer driver for the lock protocol.
 *
 * Part one: every line of the input goes through the request parser, which
 * must accept it, call it blank, or reject it with a message; what it
 * accepts must point inside the line and respect the limits.
 *
 * Part two: the same input drives a whole lock service over three string
 * transports on a fake clock. A line "#N" (N a digit) moves the clock by
 * N * 37 ms, "!N" drops connection N, "@N" makes connection N the one the
 * following lines go to; every other line, with its "\n", is fed to the
 * current connection in pieces of varying size. At the end the service
 * closes and the reactor must free cleanly (nothing left open). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/eddy.h"
#include "eddy/locks.h"
#include "eddy/testing.h"
#include "locks/request_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCONN 3
#define MAX_NAME 32

static void check_parse(const char *line, size_t len) {
  eddy__lk_request_t q;
  const char *err = NULL;
  int rc = eddy__lk_request_parse(line, len, MAX_NAME, &q, &err);
  if (rc == EDDY_EPARSE) {
    if (err == NULL || strlen(err) == 0)
      abort();
    return;
  }
  if (rc == 0)
    return;
  if (rc != 1 || q.verb == EDDY__LK_V_NONE)
    abort();
  if (q.arg != NULL) {
    if (q.arg < line || q.arg + q.arg_len > line + len || q.arg_len == 0)
      abort();
    for (size_t i = 0; i < q.arg_len; i++)
      if (q.arg[i] == ' ' || q.arg[i] == '\t')
        abort();
  }
  switch (q.verb) {
  case EDDY__LK_V_ACQUIRE:
  case EDDY__LK_V_RELEASE:
  case EDDY__LK_V_REFRESH:
  case EDDY__LK_V_INSPECT:
    if (q.arg == NULL || q.arg_len > MAX_NAME)
      abort();
    break;
  case EDDY__LK_V_HELLO:
    if (q.arg == NULL || q.arg_len > EDDY__LK_CLIENT_MAX)
      abort();
    break;
  default:
    break;
  }
  if (q.wait_ms != UINT64_MAX && q.wait_ms > EDDY__LK_WAIT_MAX)
    abort();
}

static void closed(void *arg) {
  *(int *)arg = 1;
}

static void run_service(const uint8_t *data, size_t size) {
  eddy_reactor_t *r = NULL;
  if (eddy_reactor_new(&r, EDDY_REACTOR_FAKE_CLOCK) != 0)
    abort();
  eddy_locks_opts_t o;
  eddy_locks_opts_init(&o);
  o.max_name = MAX_NAME;
  o.max_line = 128;
  o.max_held_per_conn = 8;
  o.max_waits_per_conn = 4;
  o.max_locks = 16;
  o.max_lease_ms = 10000;
  o.admin_token = "tok";
  eddy_locks_t *l = NULL;
  if (eddy_locks_new(r, &o, &l) != 0)
    abort();
  eddy_factory_t *f = eddy_locks_factory(l);
  eddy_string_transport_t *st[NCONN];
  for (int i = 0; i < NCONN; i++) {
    st[i] = eddy_string_transport_new(r);
    eddy_protocol_t *p = f->build_protocol(f, NULL);
    if (st[i] == NULL || p == NULL)
      abort();
    eddy_string_transport_connect(st[i], p);
  }
  int cur = 0;
  size_t i = 0, piece = 1;
  while (i < size) {
    const uint8_t *nl = memchr(data + i, '\n', size - i);
    size_t end = nl ? (size_t)(nl - data) + 1 : size;
    const char *line = (const char *)data + i;
    size_t len = end - i;
    if (len >= 2 && (line[0] == '#' || line[0] == '!' || line[0] == '@') &&
        line[1] >= '0' && line[1] <= '9') {
      int n = line[1] - '0';
      if (line[0] == '#')
        eddy_reactor_advance(r, (uint64_t)n * 37u);
      else if (line[0] == '!')
        eddy_string_transport_disconnect(st[n % NCONN], UV_ECONNRESET);
      else
        cur = n % NCONN;
    } else {
      /* Pieces of 1, 2, 3... bytes: the split must not matter. */
      for (size_t k = 0; k < len;) {
        size_t m = len - k < piece ? len - k : piece;
        eddy_string_transport_feed(st[cur], line + k, m);
        k += m;
        piece = piece % 7 + 1;
      }
    }
    eddy_reactor_run_once(r, 0);
    i = end;
  }
  eddy_locks_stats_t s;
  eddy_locks_stats(l, &s);
  if (s.holders > (uint64_t)NCONN * 8 || s.waiters > (uint64_t)NCONN * 4 ||
      s.locks > 16)
    abort();
  int done = 0;
  eddy_locks_close(l, closed, &done);
  for (int k = 0; k < 1000 && !done; k++)
    eddy_reactor_run_once(r, 0);
  if (!done)
    abort();
  for (int k = 0; k < NCONN; k++)
    eddy_string_transport_free(st[k]);
  if (eddy_reactor_free(r) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096)
    return 0;
  static int quiet;
  if (!quiet) {
    eddy_log_set_level(EDDY_LOG_OFF);
    quiet = 1;
  }
  size_t i = 0;
  while (i < size) {
    const uint8_t *nl = memchr(data + i, '\n', size - i);
    size_t end = nl ? (size_t)(nl - data) : size;
    /* A copy of exactly the line, so ASan sees any read past it. */
    char *copy = malloc(end - i + 1);
    if (copy == NULL)
      return 0;
    memcpy(copy, data + i, end - i);
    check_parse(copy, end - i);
    free(copy);
    i = end + 1;
  }
  run_service(data, size);
  return 0;
}
