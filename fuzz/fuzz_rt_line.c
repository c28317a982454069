/* fuzz_rt_line.c — libFuzzer driver for the hub's backend line protocol.
 *
 * Part one: every line of the input goes through the parser, which must
 * accept it, call it blank, or reject it with a message; what it accepts
 * must point inside the line, name valid channels, and list no channel
 * twice.
 *
 * Part two: the same input drives a hub's line service (token "tok") over
 * two string transports on a fake clock. A line "!N" drops connection N,
 * "@N" makes connection N the one the following lines go to; every other
 * line, with its "\n", is fed in pieces of varying size. Every reply must
 * be one whole line starting with OK, PONG or ERR. At the end the hub
 * closes and the reactor must free cleanly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/eddy.h"
#include "eddy/testing.h"
#include "realtime/lines_internal.h"
#include "realtime/rt_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCONN 2

static void check_parse(const char *line, size_t len) {
  eddy__rt_line_t l;
  const char *err = NULL;
  int rc = eddy__rt_line_parse(line, len, &l, &err);
  if (rc == EDDY_EPARSE) {
    if (err == NULL || err[0] == '\0')
      abort();
    return;
  }
  if (rc == 0)
    return;
  if (rc != 1)
    abort();
  if (l.arg != NULL && (l.arg < line || l.arg + l.arg_len > line + len))
    abort();
  if (l.data != NULL && (l.data < line || l.data + l.data_len > line + len))
    abort();
  switch (l.verb) {
  case EDDY__RT_L_PUBLISH:
    if (!eddy__rt_channel_valid(l.arg, l.arg_len) || l.data_len == 0)
      abort();
    break;
  case EDDY__RT_L_BROADCAST: {
    size_t pos = 0, n = 0, nlen;
    const char *name;
    while (eddy__rt_line_next_channel(&l, &pos, &name, &nlen)) {
      if (!eddy__rt_channel_valid(name, nlen))
        abort();
      n++;
    }
    if (n != l.nchannels || n == 0 || n > EDDY__RT_BROADCAST_MAX ||
        l.data_len == 0)
      abort();
    break;
  }
  case EDDY__RT_L_AUTH:
    if (l.arg_len == 0)
      abort();
    break;
  case EDDY__RT_L_PING:
    break;
  default:
    abort();
  }
}

/* Every reply is a whole line of a known kind. */
static void check_replies(eddy_string_transport_t *st) {
  size_t len;
  const char *out = eddy_string_transport_value(st, &len);
  size_t i = 0;
  while (i < len) {
    const char *nl = memchr(out + i, '\n', len - i);
    if (nl == NULL)
      abort();
    const char *l = out + i;
    if (strncmp(l, "OK", 2) != 0 && strncmp(l, "PONG\n", 5) != 0 &&
        strncmp(l, "ERR ", 4) != 0)
      abort();
    i = (size_t)(nl - out) + 1;
  }
  eddy_string_transport_clear(st);
}

static void closed(void *arg) {
  *(int *)arg = 1;
}

static void run_service(const uint8_t *data, size_t size) {
  eddy_reactor_t *r = NULL;
  if (eddy_reactor_new(&r, EDDY_REACTOR_FAKE_CLOCK) != 0)
    abort();
  eddy_rt_opts_t o;
  eddy_rt_opts_init(&o);
  eddy_rt_namespace_t ns[2];
  eddy_rt_namespace_init(&ns[0], "");
  ns[0].history_size = 4;
  eddy_rt_namespace_init(&ns[1], "n");
  ns[1].history_size = 0;
  o.namespaces = ns;
  o.namespace_count = 2;
  o.max_channels = 8;
  o.max_publication = 256;
  eddy_rt_t *hub = NULL;
  eddy__rt_lines_t *lines = NULL;
  if (eddy_rt_new(r, &o, &hub) != 0 ||
      eddy__rt_lines_new(hub, "tok", &lines) != 0)
    abort();
  eddy_factory_t *f = eddy__rt_lines_factory(lines);
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
    if (len >= 2 && (line[0] == '!' || line[0] == '@') && line[1] >= '0' &&
        line[1] <= '9') {
      int n = (line[1] - '0') % NCONN;
      if (line[0] == '!')
        eddy_string_transport_disconnect(st[n], UV_ECONNRESET);
      else
        cur = n;
    } else {
      for (size_t k = 0; k < len;) {
        size_t m = len - k < piece ? len - k : piece;
        eddy_string_transport_feed(st[cur], line + k, m);
        k += m;
        piece = piece % 7 + 1;
      }
    }
    /* A reply is only whole once its line was. */
    if (nl != NULL)
      check_replies(st[cur]);
    eddy_reactor_run_once(r, 0);
    i = end;
  }
  eddy_rt_stats_t s;
  eddy_rt_stats(hub, &s);
  if (s.channels > 8)
    abort();
  int done = 0;
  eddy_rt_close(hub, closed, &done);
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
  if (size > 8192)
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
