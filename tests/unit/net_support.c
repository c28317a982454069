#include "net_support.h"

#include <stdio.h>
#include <string.h>

/* ---- A recording protocol ------------------------------------------------ */

static void p_made(eddy_protocol_t *bp) {
  peer_t *p = (peer_t *)bp;
  cr_assert_not_null(bp->transport);
  p->made++;
  if (p->side->on_made != NULL)
    p->side->on_made(p);
}

static void p_data(eddy_protocol_t *bp, const char *data, size_t len) {
  peer_t *p = (peer_t *)bp;
  cr_assert_eq(p->lost, 0);
  cr_assert_eq(eddy_buf_append(&p->in, data, len), 0);
  if (p->side->echo)
    cr_assert_eq(eddy_transport_write(bp->transport, data, len), 0);
  if (p->side->on_data != NULL)
    p->side->on_data(p);
}

static int p_eof(eddy_protocol_t *bp) {
  peer_t *p = (peer_t *)bp;
  p->eofs++;
  return p->side->on_eof != NULL ? p->side->on_eof(p) : p->side->keep_open;
}

static void p_lost(eddy_protocol_t *bp, int reason) {
  peer_t *p = (peer_t *)bp;
  cr_assert_eq(p->lost, 0, "connection_lost called twice");
  cr_assert_not_null(bp->transport);
  p->lost = 1;
  p->reason = reason;
}

static void p_pause(eddy_protocol_t *bp) {
  peer_t *p = (peer_t *)bp;
  p->pauses++;
  if (p->side->on_pause != NULL)
    p->side->on_pause(p);
}

static void p_resume(eddy_protocol_t *bp) {
  peer_t *p = (peer_t *)bp;
  p->resumes++;
  if (p->side->on_resume != NULL)
    p->side->on_resume(p);
}

static void p_destroy(eddy_protocol_t *bp) {
  peer_t *p = (peer_t *)bp;
  cr_assert_eq(p->lost, 1, "destroy before connection_lost");
  p->destroyed++;
}

static const eddy_protocol_ops_t peer_ops = {
    .connection_made = p_made,
    .data_received = p_data,
    .eof_received = p_eof,
    .connection_lost = p_lost,
    .pause_writing = p_pause,
    .resume_writing = p_resume,
    .destroy = p_destroy,
};

static eddy_protocol_t *side_build(eddy_factory_t *f, const eddy_addr_t *a) {
  side_t *s = (side_t *)f;
  (void)a;
  if (s->refuse || s->n == MAX_PEERS)
    return NULL;
  peer_t *p = &s->peers[s->n++];
  memset(p, 0, sizeof(*p));
  eddy_protocol_init(&p->base, &peer_ops);
  p->side = s;
  eddy_buf_init(&p->in, 64u << 20);
  return &p->base;
}

void side_init(side_t *s) {
  memset(s, 0, sizeof(*s));
  s->f.build_protocol = side_build;
}

void side_free(side_t *s) {
  for (int i = 0; i < s->n; i++)
    eddy_buf_free(&s->peers[i].in);
}

eddy_transport_t *tr(peer_t *p) {
  return p->base.transport;
}

/* ---- Running the loop ---------------------------------------------------- */

void net_flag_timer(eddy_timer_t *t) {
  *(int *)t->data = 1;
}

void run_for(eddy_reactor_t *r, uint64_t ms) {
  int never = 0;
  RUN_UNTIL(r, never, ms);
}

/* ---- Listening, connecting, finishing ------------------------------------ */

void got_ok(eddy_result_t *res, void *arg) {
  outcome_t *o = arg;
  o->done++;
  o->peer = res->value;
  o->owned = res->free != NULL;
  cr_assert_eq(o->peer->made, 1, "fired before connection_made");
}

void got_err(eddy_result_t *res, void *arg) {
  outcome_t *o = arg;
  o->done++;
  o->err = res->err;
  snprintf(o->msg, sizeof(o->msg), "%s", eddy_result_message(res));
  eddy_result_recover(res);
}

eddy_listener_t *listen_on(eddy_reactor_t *r, const char *ep, side_t *server) {
  eddy_listener_t *l = NULL;
  int rc = eddy_listen(r, ep, &server->f, &l);
  cr_assert_eq(rc, 0, "listen %s: %s", ep, eddy_strerror(rc));
  if (strncmp(ep, "unix:", 5) == 0)
    cr_assert_eq(eddy_listener_port(l), 0, "a Unix socket has no port");
  else
    cr_assert_neq(eddy_listener_port(l), 0);
  return l;
}

peer_t *connect_to(eddy_reactor_t *r, const char *ep, side_t *client,
                   side_t *server) {
  outcome_t o = {0};
  int before = server->n;
  eddy_deferred_t *d = eddy_connect(r, ep, &client->f);
  cr_assert_not_null(d);
  eddy_deferred_add_callbacks(d, got_ok, got_err, &o);
  WAIT_FOR(r, o.done && (server->n > before || server->refuse));
  cr_assert_eq(o.err, 0, "connect %s: %s", ep, eddy_strerror(o.err));
  cr_assert_eq(o.done, 1);
  return o.peer;
}

void local_endpoint(char *buf, size_t size, eddy_listener_t *l,
                    const char *options) {
  int n =
      snprintf(buf, size, "tcp:127.0.0.1:%d%s", eddy_listener_port(l), options);
  cr_assert(n > 0 && (size_t)n < size, "endpoint buffer too small");
}

void closed_cb(void *arg) {
  (*(int *)arg)++;
}

static void all_destroyed(eddy_reactor_t *r, side_t *s) {
  for (int i = 0; i < s->n; i++)
    SPIN_FOR(r, s->peers[i].destroyed);
}

void finish(eddy_reactor_t *r, eddy_listener_t *l, side_t *a, side_t *b) {
  if (l != NULL) {
    int closed = 0;
    eddy_listener_close(l, closed_cb, &closed);
    SPIN_FOR(r, closed == 1);
  }
  all_destroyed(r, a);
  all_destroyed(r, b);
  test_close_reactor(r);
  side_free(a);
  if (b != a)
    side_free(b);
}
