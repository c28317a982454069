/* fuzz_realtime_message.c — libFuzzer driver for the realtime protocol.
 *
 * Part one: the whole input, then every line of it, goes through the
 * message parser, which must accept it, refuse it as broken, or refuse it
 * with 400 — always with a message, and an id that is valid JSON.
 *
 * Part two: the lines drive a hub on a fake clock with three clients on a
 * transport of our own. "#N" (N a digit) moves the clock by N * 211 ms;
 * "@N" makes client N the current one; "!N" detaches client N and attaches
 * a new one in its place; "$" toggles whether the current client's
 * transport pretends to be stuck (a full send queue); "^TEXT" publishes
 * TEXT on chat:a as a backend. Every other line is a client message.
 * Client 1 detaches from inside close, the others later. Everything the
 * hub sends must be a JSON object with a string "op". At the end the hub
 * closes and the reactor must free cleanly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eddy/eddy.h"
#include "realtime/rt_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCLIENT 3

static void check_parse(const char *text, size_t len) {
  eddy__rt_msg_t m;
  char err[128];
  int rc = eddy__rt_parse(text, len, &m, err, sizeof(err));
  if (rc == EDDY__RT_OK) {
    if (m.root == NULL || m.op < EDDY__RT_OP_CONNECT || m.op > EDDY__RT_OP_PING)
      abort();
    if (m.channel != NULL && !eddy__rt_channel_valid(m.channel, m.channel_len))
      abort();
    eddy__rt_msg_clear(&m);
  } else if (rc == EDDY__RT_BROKEN || rc == 400) {
    if (m.root != NULL || err[0] == '\0')
      abort();
  } else {
    abort();
  }
  json_t *id = json_loads(m.id, JSON_DECODE_ANY, NULL);
  if (id == NULL)
    abort();
  json_decref(id);
}

typedef struct {
  eddy_rt_client_t *c;
  int stuck, closed, detached, detach_in_close;
} client_t;

static int send_cb(void *conn, const char *text, size_t len) {
  client_t *cl = conn;
  if (cl->detached)
    abort();
  json_t *v = json_loadb(text, len, 0, NULL);
  if (!json_is_object(v) || !json_is_string(json_object_get(v, "op")))
    abort();
  json_decref(v);
  return 0;
}

static void close_cb(void *conn, unsigned code, const char *reason) {
  client_t *cl = conn;
  if (cl->detached || cl->closed || code < 4000 || code > 4999 ||
      reason == NULL)
    abort();
  cl->closed = 1;
  if (cl->detach_in_close) {
    cl->detached = 1;
    eddy_rt_detach(cl->c);
  }
}

static size_t buffered_cb(void *conn) {
  return ((client_t *)conn)->stuck ? (size_t)1 << 30 : 0;
}

static const eddy_rt_conn_ops_t ops = {send_cb, close_cb, buffered_cb};

static void attach(eddy_rt_t *hub, client_t *cl, int i) {
  memset(cl, 0, sizeof(*cl));
  cl->detach_in_close = i == 1;
  if (eddy_rt_attach(hub, "fuzz", &ops, cl, NULL, &cl->c) != 0)
    cl->detached = 1; /* never attached */
}

static void detach(client_t *cl) {
  if (!cl->detached) {
    cl->detached = 1;
    eddy_rt_detach(cl->c);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  check_parse(text, size);

  eddy_reactor_t *r;
  if (eddy_reactor_new(&r, EDDY_REACTOR_FAKE_CLOCK) != 0)
    abort();
  eddy_rt_namespace_t ns[2];
  eddy_rt_namespace_init(&ns[0], "chat");
  ns[0].history_size = 4;
  ns[0].history_ttl_ms = 1000;
  ns[0].publish = 1;
  eddy_rt_namespace_init(&ns[1], "quiet");
  ns[1].presence = ns[1].join_leave = 0;
  ns[1].history_size = 0;
  eddy_rt_opts_t o;
  eddy_rt_opts_init(&o);
  o.namespaces = ns;
  o.namespace_count = 2;
  o.max_subscriptions = 4;
  o.max_channels = 8;
  o.max_message = 512;
  o.max_publication = 128;
  o.history_memory = 2048;
  /* A secret when the input starts with 'S': connect and its timeout. */
  if (size > 0 && text[0] == 'S')
    o.secret = "fuzz";
  eddy_rt_t *hub;
  if (eddy_rt_new(r, &o, &hub) != 0)
    abort();
  client_t cl[NCLIENT];
  for (int i = 0; i < NCLIENT; i++)
    attach(hub, &cl[i], i);
  int cur = 0;

  size_t start = 0;
  for (size_t i = 0; i <= size; i++) {
    if (i < size && text[i] != '\n')
      continue;
    const char *line = text + start;
    size_t len = i - start;
    start = i + 1;
    check_parse(line, len);
    if (len == 2 && line[0] == '#' && line[1] >= '0' && line[1] <= '9') {
      eddy_reactor_advance(r, (uint64_t)(line[1] - '0') * 211);
    } else if (len == 2 && line[0] == '@' && line[1] >= '0' &&
               line[1] < '0' + NCLIENT) {
      cur = line[1] - '0';
    } else if (len == 2 && line[0] == '!' && line[1] >= '0' &&
               line[1] < '0' + NCLIENT) {
      int k = line[1] - '0';
      detach(&cl[k]);
      attach(hub, &cl[k], k);
    } else if (len == 1 && line[0] == '$') {
      cl[cur].stuck = !cl[cur].stuck;
    } else if (len > 0 && line[0] == '^') {
      eddy_rt_published_t out;
      eddy_rt_publish(hub, "chat:a", line + 1, len - 1, &out);
    } else if (!cl[cur].detached) {
      eddy_rt_receive(cl[cur].c, line, len);
    }
    eddy_reactor_run_once(r, 0);
  }
  /* Queries must always give JSON the caller can walk. */
  json_t *v = NULL;
  if (eddy_rt_channels(hub, NULL, 0, &v) == 0)
    json_decref(v);
  if (eddy_rt_history(hub, "chat:a", 0, 0, &v) == 0)
    json_decref(v);
  if (eddy_rt_presence(hub, "chat:a", &v) == 0)
    json_decref(v);

  eddy_rt_close(hub, NULL, NULL);
  for (int i = 0; i < NCLIENT; i++)
    detach(&cl[i]);
  for (int i = 0; i < 10; i++)
    eddy_reactor_run_once(r, 0);
  if (eddy_reactor_free(r) != 0)
    abort();
  return 0;
}
