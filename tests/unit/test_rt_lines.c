/* test_rt_lines.c — the hub's backend line protocol: the parser (every
 * verb and error, every prefix in its own allocation), sessions over string
 * transports fed one byte at a time, AUTH, limits, the hub closing its
 * line connections, and a real TCP listener. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_support.h"
#include "realtime/lines_internal.h"

/* ---- The parser -----------------------------------------------------------*/

static int parse(const char *line, eddy__rt_line_t *l, const char **err) {
  size_t n = strlen(line);
  char *copy = malloc(n ? n : 1);
  cr_assert_not_null(copy);
  memcpy(copy, line, n);
  int rc = eddy__rt_line_parse(copy, n, l, err);
  if (rc == 1) {
    if (l->arg != NULL)
      cr_assert(l->arg >= copy && l->arg + l->arg_len <= copy + n);
    if (l->data != NULL)
      cr_assert(l->data >= copy && l->data + l->data_len <= copy + n);
  }
  /* Pointers into the copy are compared above, then dropped. */
  free(copy);
  return rc;
}

static void ok(const char *line, eddy__rt_line_verb_t verb, size_t arg_len,
               size_t data_len) {
  eddy__rt_line_t l;
  const char *err = NULL;
  cr_assert_eq(parse(line, &l, &err), 1, "'%s': %s", line, err ? err : "");
  cr_assert_eq(l.verb, verb, "'%s'", line);
  cr_assert_eq(l.arg_len, arg_len, "'%s' arg", line);
  cr_assert_eq(l.data_len, data_len, "'%s' data", line);
}

static void bad(const char *line, const char *want) {
  eddy__rt_line_t l;
  const char *err = NULL;
  cr_assert_eq(parse(line, &l, &err), EDDY_EPARSE, "'%s' should fail", line);
  cr_assert_not_null(err);
  cr_assert(strstr(err, want) != NULL, "'%s': '%s' lacks '%s'", line, err,
            want);
}

Test(rt_lines, parse_verbs) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  ok("PING", EDDY__RT_L_PING, 0, 0);
  ok("ping\r", EDDY__RT_L_PING, 0, 0);
  ok("  PING  ", EDDY__RT_L_PING, 0, 0);
  ok("AUTH s3cret", EDDY__RT_L_AUTH, 6, 0);
  ok("Auth s3cret\r", EDDY__RT_L_AUTH, 6, 0);
  ok("PUBLISH news {\"a\": 1}", EDDY__RT_L_PUBLISH, 4, 8);
  ok("PUBLISH chat:lobby \"hi there\"\r", EDDY__RT_L_PUBLISH, 10, 10);
  ok("publish c 5", EDDY__RT_L_PUBLISH, 1, 1);
  /* The data is the rest of the line, spaces inside and after kept. */
  ok("PUBLISH c   [1, 2]  ", EDDY__RT_L_PUBLISH, 1, 8);
  /* Not JSON is the hub's to say, not the parser's. */
  ok("PUBLISH c not json", EDDY__RT_L_PUBLISH, 1, 8);
  ok("BROADCAST a,b,chat:c {}", EDDY__RT_L_BROADCAST, 10, 2);
  eddy__rt_line_t l;
  const char *err;
  cr_assert_eq(parse("BROADCAST a,b,chat:c {}", &l, &err), 1);
  cr_assert_eq(l.nchannels, 3);
  cr_assert_eq(parse("", &l, &err), 0);
  cr_assert_eq(parse("\r", &l, &err), 0);
  cr_assert_eq(parse("   ", &l, &err), 0);
  test_close_reactor(r);
}

Test(rt_lines, parse_errors) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  bad("HELLO", "unknown command");
  bad("PUBLISHX c 1", "unknown command");
  bad("PING now", "PING takes no arguments");
  bad("AUTH", "usage: AUTH");
  bad("AUTH a b", "usage: AUTH");
  bad("PUBLISH", "usage: PUBLISH");
  bad("PUBLISH c", "usage: PUBLISH");
  bad("PUBLISH c   ", "usage: PUBLISH");
  bad("PUBLISH bad\"name 1", "bad channel name");
  bad("PUBLISH a,b 1", "bad channel name");
  bad("PUBLISH bad/ns:x 1", "bad channel name");
  bad("BROADCAST a", "usage: BROADCAST");
  bad("BROADCAST a,,b 1", "empty channel name");
  bad("BROADCAST ,a 1", "empty channel name");
  bad("BROADCAST a, 1", "empty channel name");
  bad("BROADCAST a,b,a 1", "channel named twice");
  bad("BROADCAST a,b\"c 1", "bad channel name");
  char name[300];
  memset(name, 'x', sizeof(name) - 1);
  name[sizeof(name) - 1] = '\0';
  char line[400];
  snprintf(line, sizeof(line), "PUBLISH %s 1", name);
  bad(line, "bad channel name");
  /* 1001 channels: one too many. */
  size_t cap = 1001 * 8 + 32;
  char *big = malloc(cap);
  size_t o = (size_t)snprintf(big, cap, "BROADCAST ");
  for (int i = 0; i < 1001; i++)
    o += (size_t)snprintf(big + o, cap - o, "%sc%d", i ? "," : "", i);
  snprintf(big + o, cap - o, " 1");
  bad(big, "too many channels");
  free(big);
  test_close_reactor(r);
}

Test(rt_lines, parse_every_prefix) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  const char *lines[] = {"PUBLISH chat:lobby {\"text\":\"hi\"}\r",
                         "BROADCAST a,b,c [1,2,3]\r", "AUTH tok\r", "PING\r"};
  for (size_t k = 0; k < sizeof(lines) / sizeof(lines[0]); k++) {
    size_t n = strlen(lines[k]);
    for (size_t i = 0; i <= n; i++) {
      char *copy = malloc(i ? i : 1);
      memcpy(copy, lines[k], i);
      eddy__rt_line_t l;
      const char *err = NULL;
      int rc = eddy__rt_line_parse(copy, i, &l, &err);
      cr_assert(rc == 0 || rc == 1 || rc == EDDY_EPARSE);
      cr_assert(rc != EDDY_EPARSE || err != NULL);
      free(copy);
    }
  }
  test_close_reactor(r);
}

/* ---- Sessions over string transports --------------------------------------*/

/* A hub client on a fake transport: what it was sent, how it was closed. */
typedef struct {
  char sent[8192];
  size_t len;
  unsigned closed;
  eddy_rt_client_t *c;
} sub_t;

static int sub_send(void *conn, const char *text, size_t len) {
  sub_t *s = conn;
  cr_assert_lt(s->len + len + 1, sizeof(s->sent));
  memcpy(s->sent + s->len, text, len);
  s->len += len;
  s->sent[s->len++] = '\n';
  s->sent[s->len] = '\0';
  return 0;
}

static void sub_close(void *conn, unsigned code, const char *reason) {
  sub_t *s = conn;
  (void)reason;
  s->closed = code;
  eddy_rt_detach(s->c);
}

static size_t sub_buffered(void *conn) {
  (void)conn;
  return 0;
}

static const eddy_rt_conn_ops_t sub_ops = {
    .send = sub_send, .close = sub_close, .buffered = sub_buffered};

#define MAXC 6

typedef struct {
  eddy_reactor_t *r;
  eddy_rt_t *hub;
  eddy__rt_lines_t *lines;
  eddy_string_transport_t *st[MAXC];
  int n;
  sub_t sub;
} fx_t;

static void spin(eddy_reactor_t *r) {
  for (int i = 0; i < 10; i++)
    eddy_reactor_run_once(r, 0);
}

static void fx_init(fx_t *f, const char *token, size_t max_publication) {
  memset(f, 0, sizeof(*f));
  f->r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_rt_opts_t o;
  eddy_rt_opts_init(&o);
  eddy_rt_namespace_t ns[2];
  eddy_rt_namespace_init(&ns[0], "");
  eddy_rt_namespace_init(&ns[1], "chat");
  ns[1].history_size = 0;
  o.namespaces = ns;
  o.namespace_count = 2;
  if (max_publication != 0)
    o.max_publication = max_publication;
  cr_assert_eq(eddy_rt_new(f->r, &o, &f->hub), 0);
  cr_assert_eq(eddy__rt_lines_new(f->hub, token, &f->lines), 0);
  /* A subscriber of "news", to see what the lines publish. */
  cr_assert_eq(
      eddy_rt_attach(f->hub, "test", &sub_ops, &f->sub, NULL, &f->sub.c), 0);
  const char *subscribe =
      "{\"op\":\"subscribe\",\"id\":1,\"channel\":\"news\"}";
  eddy_rt_receive(f->sub.c, subscribe, strlen(subscribe));
  spin(f->r);
  cr_assert(strstr(f->sub.sent, "\"subscribed\"") != NULL, "%s", f->sub.sent);
  f->sub.len = 0;
  f->sub.sent[0] = '\0';
}

static int conn(fx_t *f) {
  cr_assert_lt(f->n, MAXC);
  eddy_factory_t *fac = eddy__rt_lines_factory(f->lines);
  eddy_protocol_t *p = fac->build_protocol(fac, NULL);
  cr_assert_not_null(p);
  f->st[f->n] = eddy_string_transport_new(f->r);
  eddy_string_transport_connect(f->st[f->n], p);
  return f->n++;
}

static void say(fx_t *f, int c, const char *s) {
  eddy_string_transport_feed_bytewise(f->st[c], s, strlen(s));
}

static char *got(fx_t *f, int c) {
  static char buf[65536];
  size_t len = 0;
  const char *v = eddy_string_transport_value(f->st[c], &len);
  cr_assert_lt(len, sizeof(buf));
  memcpy(buf, v, len);
  buf[len] = '\0';
  eddy_string_transport_clear(f->st[c]);
  return buf;
}

static void fx_close(fx_t *f) {
  int closed = 0;
  eddy_rt_close(f->hub, closed_cb, &closed);
  cr_assert_eq(closed, 0, "never from inside the call");
  for (int i = 0; i < 200 && !closed; i++)
    eddy_reactor_run_once(f->r, 0);
  cr_assert_eq(closed, 1);
  cr_assert_eq(f->sub.closed, EDDY_RT_CLOSE_SHUTDOWN);
  for (int i = 0; i < f->n; i++)
    eddy_string_transport_free(f->st[i]);
  test_close_reactor(f->r);
}

Test(rt_lines, session_one_byte_at_a_time) {
  fx_t f;
  fx_init(&f, NULL, 0);
  int a = conn(&f);
  say(&f, a, "PING\n");
  cr_assert_str_eq(got(&f, a), "PONG\n");
  say(&f, a, "PUBLISH news {\"n\":1}\r\n");
  char epoch[64];
  unsigned long long off = 0;
  char *reply = got(&f, a);
  cr_assert_eq(sscanf(reply, "OK %llu %63s\n", &off, epoch), 2, "%s", reply);
  cr_assert_eq(off, 1);
  cr_assert_eq(strlen(epoch), EDDY_RT_EPOCH_LEN);
  spin(f.r);
  cr_assert(strstr(f.sub.sent, "\"data\":{\"n\":1}") != NULL, "%s", f.sub.sent);
  cr_assert(strstr(f.sub.sent, "\"channel\":\"news\"") != NULL);
  /* A backend publication carries no client info. */
  cr_assert(strstr(f.sub.sent, "\"info\"") == NULL, "%s", f.sub.sent);

  say(&f, a, "PUBLISH news 2\n");
  reply = got(&f, a);
  char want[80];
  snprintf(want, sizeof(want), "OK 2 %s\n", epoch);
  cr_assert_str_eq(reply, want);
  /* A namespace without history: offset 0. */
  say(&f, a, "PUBLISH chat:x \"hi\"\n");
  reply = got(&f, a);
  cr_assert_eq(strncmp(reply, "OK 0 ", 5), 0, "%s", reply);

  say(&f, a, "BROADCAST news,other,chat:y [1]\n");
  cr_assert_str_eq(got(&f, a), "OK 3\n");
  spin(f.r);
  cr_assert(strstr(f.sub.sent, "\"data\":[1]") != NULL, "%s", f.sub.sent);
  /* Blank lines get no reply. */
  say(&f, a, "\n\r\n");
  cr_assert_str_eq(got(&f, a), "");
  fx_close(&f);
}

Test(rt_lines, errors_are_clear_and_keep_the_connection) {
  fx_t f;
  fx_init(&f, NULL, 64);
  int a = conn(&f);
  say(&f, a, "NOPE\n");
  cr_assert_str_eq(got(&f, a), "ERR 400 unknown command\n");
  say(&f, a, "PUBLISH news {oops\n");
  cr_assert_str_eq(got(&f, a), "ERR 400 data is not one JSON value\n");
  say(&f, a, "PUBLISH news 1 2\n");
  cr_assert_str_eq(got(&f, a), "ERR 400 data is not one JSON value\n");
  say(&f, a, "PUBLISH nons:x 1\n");
  cr_assert_str_eq(got(&f, a), "ERR 404 unknown namespace\n");
  char line[200];
  snprintf(line, sizeof(line), "PUBLISH news \"%0100d\"\n", 7);
  say(&f, a, line);
  cr_assert_str_eq(got(&f, a), "ERR 413 publication too large\n");
  say(&f, a, "PUBLISH bad\"c 1\n");
  cr_assert_str_eq(got(&f, a), "ERR 400 bad channel name\n");
  /* A broadcast says where it failed and how far it got. */
  say(&f, a, "BROADCAST news,nons:x,b 1\n");
  cr_assert_str_eq(got(&f, a), "ERR 404 unknown namespace on nons:x "
                               "(published to 2 of 3 channels)\n");
  /* Bad data is refused once, before any channel; even when a channel
   * would fail too, the data is what is wrong. */
  say(&f, a, "BROADCAST nons:x,b nope\n");
  cr_assert_str_eq(got(&f, a), "ERR 400 data is not one JSON value\n");
  cr_assert_eq(eddy_string_transport_lose_called(f.st[a]), 0);
  say(&f, a, "PING\n");
  cr_assert_str_eq(got(&f, a), "PONG\n");
  fx_close(&f);
}

Test(rt_lines, pipelined_replies_in_order_in_one_write) {
  fx_t f;
  fx_init(&f, NULL, 0);
  int a = conn(&f);
  const char *batch = "PING\nPUBLISH news 1\nBAD\nPUBLISH news 2\nPING\n";
  eddy_string_transport_feed(f.st[a], batch, strlen(batch));
  cr_assert_eq(eddy_string_transport_write_count(f.st[a]), 1);
  char *reply = got(&f, a);
  char e1[32], e2[32];
  cr_assert_eq(sscanf(reply,
                      "PONG\nOK 1 %31s\nERR 400 unknown command\nOK 2 %31s\n"
                      "PONG\n",
                      e1, e2),
               2, "%s", reply);
  cr_assert_str_eq(e1, e2);
  fx_close(&f);
}

Test(rt_lines, auth) {
  fx_t f;
  fx_init(&f, "s3cret", 0);
  int a = conn(&f);
  say(&f, a, "PUBLISH news 1\n");
  cr_assert_str_eq(got(&f, a), "ERR 401 AUTH first\n");
  say(&f, a, "BROADCAST news 1\n");
  cr_assert_str_eq(got(&f, a), "ERR 401 AUTH first\n");
  /* Health checks need no token. */
  say(&f, a, "PING\n");
  cr_assert_str_eq(got(&f, a), "PONG\n");
  say(&f, a, "AUTH s3cret\r\nPUBLISH news 1\n");
  char *reply = got(&f, a);
  cr_assert_eq(strncmp(reply, "OK\nOK 1 ", 8), 0, "%s", reply);

  /* A wrong token ends the connection; what follows is not read. */
  int b = conn(&f);
  say(&f, b, "AUTH s3cre\nPUBLISH news 2\n");
  cr_assert_str_eq(got(&f, b), "ERR 401 bad token\n");
  cr_assert(eddy_string_transport_lose_called(f.st[b]));
  int c = conn(&f);
  say(&f, c, "AUTH s3cretX\n");
  cr_assert_str_eq(got(&f, c), "ERR 401 bad token\n");
  spin(f.r);
  fx_close(&f);
}

Test(rt_lines, auth_without_a_token_is_accepted) {
  fx_t f;
  fx_init(&f, "", 0);
  int a = conn(&f);
  say(&f, a, "PUBLISH news 1\nAUTH anything\n");
  char *reply = got(&f, a);
  cr_assert_eq(strncmp(reply, "OK 1 ", 5), 0, "%s", reply);
  cr_assert(strstr(reply, "\nOK\n") != NULL, "%s", reply);
  fx_close(&f);
}

Test(rt_lines, long_lines_are_refused_and_skipped) {
  fx_t f;
  fx_init(&f, NULL, 0);
  int a = conn(&f);
  size_t n = EDDY__RT_LINE_MAX + 100;
  char *line = malloc(n + 1);
  memset(line, 'x', n);
  memcpy(line, "PUBLISH news \"", 14);
  line[n - 1] = '\n';
  line[n] = '\0';
  eddy_string_transport_feed(f.st[a], line, n);
  free(line);
  char *reply = got(&f, a);
  cr_assert_eq(strncmp(reply, "ERR 413 line longer than", 24), 0, "%s", reply);
  say(&f, a, "PING\n");
  cr_assert_str_eq(got(&f, a), "PONG\n");
  fx_close(&f);
}

Test(rt_lines, hub_close_ends_line_connections) {
  fx_t f;
  fx_init(&f, NULL, 0);
  int a = conn(&f);
  int b = conn(&f);
  say(&f, a, "PING\n");
  cr_assert_str_eq(got(&f, a), "PONG\n");
  int closed = 0;
  eddy_rt_close(f.hub, closed_cb, &closed);
  cr_assert(eddy_string_transport_lose_called(f.st[a]));
  cr_assert(eddy_string_transport_lose_called(f.st[b]));
  for (int i = 0; i < 200 && !closed; i++)
    eddy_reactor_run_once(f.r, 0);
  cr_assert_eq(closed, 1);
  for (int i = 0; i < f.n; i++)
    eddy_string_transport_free(f.st[i]);
  test_close_reactor(f.r);
}

Test(rt_lines, connection_gone_before_hub_close) {
  fx_t f;
  fx_init(&f, NULL, 0);
  int a = conn(&f);
  say(&f, a, "PUBLISH news 1\n");
  eddy_string_transport_disconnect(f.st[a], UV_ECONNRESET);
  spin(f.r);
  fx_close(&f);
}

Test(rt_lines, many_replies_in_one_read_keep_their_order) {
  fx_t f;
  fx_init(&f, NULL, 0);
  int a = conn(&f);
  /* More replies than one read gathers (256 KiB): the overflow is written
   * in order, not dropped. */
  const size_t n = 70000;
  char *batch = malloc(n * 5);
  for (size_t i = 0; i < n; i++)
    memcpy(batch + i * 5, i == n / 2 ? "PUBL\n" : "PING\n", 5);
  eddy_string_transport_feed(f.st[a], batch, n * 5);
  free(batch);
  size_t len;
  const char *out = eddy_string_transport_value(f.st[a], &len);
  const char *err = "ERR 400 unknown command\n";
  cr_assert_eq(len, (n - 1) * 5 + strlen(err));
  cr_assert_eq(memcmp(out + (n / 2) * 5, err, strlen(err)), 0);
  cr_assert_eq(memcmp(out + len - 5, "PONG\n", 5), 0);
  eddy_string_transport_clear(f.st[a]);
  fx_close(&f);
}

Test(rt_lines, a_reader_that_falls_behind_is_not_read) {
  fx_t f;
  fx_init(&f, NULL, 0);
  int a = conn(&f);
  /* Replies pile up in the kernel: stop reading requests until they
   * drain. */
  eddy_string_transport_set_pending(f.st[a], 1u << 20);
  say(&f, a, "PING\n");
  spin(f.r);
  cr_assert(eddy_string_transport_reading_paused(f.st[a]));
  eddy_string_transport_set_pending(f.st[a], 0);
  say(&f, a, "PING\n");
  spin(f.r);
  cr_assert_not(eddy_string_transport_reading_paused(f.st[a]));
  cr_assert_str_eq(got(&f, a), "PONG\nPONG\n");
  fx_close(&f);
}

/* ---- A real listener ------------------------------------------------------*/

Test(rt_lines, real_tcp) {
  eddy_reactor_t *r = test_reactor(0);
  eddy_rt_t *hub = NULL;
  cr_assert_eq(eddy_rt_new(r, NULL, &hub), 0);
  eddy_listener_t *ln = NULL;
  cr_assert_eq(eddy_rt_listen_lines(hub, "tcp:0", "tok", &ln), 0);
  cr_assert_gt(eddy_listener_port(ln), 0);
  /* A bad endpoint leaves nothing behind. */
  cr_assert_eq(eddy_rt_listen_lines(hub, "tcp:nope", NULL, NULL), EDDY_EPARSE);
  char ep[160];
  local_endpoint(ep, sizeof(ep), ln, "");
  side_t cli;
  side_init(&cli);
  outcome_t o = {0};
  eddy_deferred_add_callbacks(eddy_connect(r, ep, &cli.f), got_ok, got_err, &o);
  WAIT_FOR(r, o.done);
  cr_assert_eq(o.err, 0);
  peer_t *p = o.peer;
  eddy_transport_write_str(tr(p), "AUTH tok\nPUBLISH x {\"a\":[1]}\nPING\n");
  WAIT_FOR(r, p->in.len > 0 && memmem(p->in.data, p->in.len, "PONG\n", 5));
  cr_assert_eq(strncmp(p->in.data, "OK\nOK 1 ", 8), 0, "%.*s", (int)p->in.len,
               p->in.data);
  eddy_rt_stats_t st;
  eddy_rt_stats(hub, &st);
  cr_assert_eq(st.published_total, 1);
  /* Closing the hub closes the listener and the connection. */
  int closed = 0;
  eddy_rt_close(hub, closed_cb, &closed);
  WAIT_FOR(r, closed && p->destroyed);
  test_close_reactor(r);
  side_free(&cli);
}
