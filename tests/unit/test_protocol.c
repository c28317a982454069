/* Protocols: event delivery for transport implementers, tolerant of missing
 * callbacks, and the order of the last three calls. */
#include <string.h>

#include "support.h"

typedef struct {
  eddy_protocol_t base;
  char events[128];
  int eof_result;
} rec_t;

static void add(eddy_protocol_t *p, const char *what) {
  rec_t *r = (rec_t *)p;
  strncat(r->events, what, sizeof(r->events) - strlen(r->events) - 1);
}

static void made(eddy_protocol_t *p) {
  add(p, p->transport != NULL ? "made " : "made-without-transport ");
}
static void data(eddy_protocol_t *p, const char *d, size_t n) {
  add(p, "data:");
  char tmp[32];
  snprintf(tmp, sizeof(tmp), "%.*s ", (int)n, d);
  add(p, tmp);
}
static int eof(eddy_protocol_t *p) {
  add(p, "eof ");
  return ((rec_t *)p)->eof_result;
}
static void lost(eddy_protocol_t *p, int reason) {
  /* The transport is still valid while connection_lost runs. */
  add(p, p->transport != NULL ? "lost" : "lost-without-transport");
  add(p, reason == UV_ECONNRESET ? ":reset " : ":? ");
}
static void paused(eddy_protocol_t *p) {
  add(p, "pause ");
}
static void resumed(eddy_protocol_t *p) {
  add(p, "resume ");
}
static void destroyed(eddy_protocol_t *p) {
  add(p, p->transport == NULL ? "destroy" : "destroy-with-transport");
}

static const eddy_protocol_ops_t full_ops = {
    .connection_made = made,
    .data_received = data,
    .eof_received = eof,
    .connection_lost = lost,
    .pause_writing = paused,
    .resume_writing = resumed,
    .destroy = destroyed,
};

static void hook(eddy_protocol_t *p, int reason, void *arg) {
  add(p, reason == UV_ECONNRESET ? "hook " : "hook? ");
  *(int *)arg += 1;
}

Test(protocol, events_reach_every_callback_in_order) {
  rec_t r;
  memset(&r, 0xff, sizeof(r)); /* init must clear everything */
  eddy_protocol_init(&r.base, &full_ops);
  cr_assert_null(r.base.transport);
  cr_assert_null(r.base.factory);
  cr_assert_null(r.base.lost_hook);
  r.events[0] = '\0';
  r.eof_result = 1;
  int hooked = 0;
  r.base.lost_hook = hook;
  r.base.lost_hook_arg = &hooked;
  eddy_transport_t *fake = (eddy_transport_t *)&r; /* only compared */
  eddy_protocol_connection_made(&r.base, fake);
  cr_assert_eq(r.base.transport, fake);
  eddy_protocol_data_received(&r.base, "abc", 3);
  eddy_protocol_pause_writing(&r.base);
  eddy_protocol_resume_writing(&r.base);
  cr_assert_eq(eddy_protocol_eof_received(&r.base), 1);
  eddy_protocol_connection_lost(&r.base, UV_ECONNRESET);
  cr_assert_str_eq(r.events, "made data:abc pause resume eof lost:reset "
                             "hook destroy");
  cr_assert_eq(hooked, 1);
  cr_assert_null(r.base.transport);
}

Test(protocol, missing_callbacks_are_skipped) {
  static const eddy_protocol_ops_t none = {0};
  eddy_protocol_t p;
  eddy_protocol_init(&p, &none);
  eddy_transport_t *fake = (eddy_transport_t *)&p;
  eddy_protocol_connection_made(&p, fake);
  eddy_protocol_data_received(&p, "x", 1);
  cr_assert_eq(eddy_protocol_eof_received(&p), 0, "default: close on EOF");
  eddy_protocol_pause_writing(&p);
  eddy_protocol_resume_writing(&p);
  eddy_protocol_connection_lost(&p, 0);
  cr_assert_null(p.transport);
  /* No ops table at all. */
  eddy_protocol_init(&p, NULL);
  eddy_protocol_connection_made(&p, fake);
  eddy_protocol_data_received(&p, "x", 1);
  cr_assert_eq(eddy_protocol_eof_received(&p), 0);
  eddy_protocol_pause_writing(&p);
  eddy_protocol_resume_writing(&p);
  eddy_protocol_connection_lost(&p, UV_ECONNABORTED);
  cr_assert_null(p.transport);
}

Test(protocol, data_fed_one_byte_at_a_time_arrives_in_order) {
  rec_t r;
  eddy_protocol_init(&r.base, &full_ops);
  r.events[0] = '\0';
  r.eof_result = 0;
  const char *msg = "hey";
  for (size_t i = 0; i < strlen(msg); i++)
    eddy_protocol_data_received(&r.base, msg + i, 1);
  cr_assert_eq(eddy_protocol_eof_received(&r.base), 0);
  cr_assert_str_eq(r.events, "data:h data:e data:y eof ");
}
