/* test_transport.c — the generic transport layer (src/net/transport.c) over
 * a scripted transport: dispatch, the UV_EPIPE and UV_ENOTSUP rules, and the
 * water-mark notifications (later iteration, net change only, never after
 * closing, never after cleanup). */
#include "support.h"

#include <stdlib.h>
#include <string.h>

/* ---- A scripted transport --------------------------------------------------
 */

typedef struct fake_s {
  eddy_transport_t base;
  size_t size; /* what write_buffer_size answers */
  eddy_buf_t out;
  int writev_calls, slice_calls, loses, aborts, shuts, rpauses, rresumes;
} fake_t;

static int fake_writev(eddy_transport_t *t, const uv_buf_t *bufs, size_t n) {
  fake_t *f = (fake_t *)t;
  f->writev_calls++;
  for (size_t i = 0; i < n; i++)
    cr_assert_eq(eddy_buf_append(&f->out, bufs[i].base, bufs[i].len), 0);
  return 0;
}

static int fake_write_slice(eddy_transport_t *t, eddy_slice_t *s) {
  fake_t *f = (fake_t *)t;
  f->slice_calls++;
  return eddy_buf_append(&f->out, eddy_slice_data(s), eddy_slice_len(s));
}

static void fake_lose(eddy_transport_t *t) {
  ((fake_t *)t)->loses++;
  t->closing = 1;
}

static void fake_abort(eddy_transport_t *t) {
  ((fake_t *)t)->aborts++;
  t->closing = 1;
}

static int fake_shutdown(eddy_transport_t *t) {
  ((fake_t *)t)->shuts++;
  return 0;
}

static void fake_pause_reading(eddy_transport_t *t) {
  ((fake_t *)t)->rpauses++;
}

static void fake_resume_reading(eddy_transport_t *t) {
  ((fake_t *)t)->rresumes++;
}

static size_t fake_size(const eddy_transport_t *t) {
  return ((const fake_t *)t)->size;
}

static int fake_host(const eddy_transport_t *t, eddy_addr_t *out) {
  (void)t;
  memset(out, 0, sizeof(*out));
  out->ss.ss_family = AF_INET;
  out->len = sizeof(struct sockaddr_in);
  return 0;
}

static int fake_nodelay(eddy_transport_t *t, int on) {
  (void)t;
  return on ? 0 : UV_EINVAL;
}

/* Only the mandatory ops and two of the optional ones. */
static const eddy_transport_ops_t fake_ops = {
    .writev = fake_writev,
    .write_slice = fake_write_slice,
    .lose_connection = fake_lose,
    .abort_connection = fake_abort,
    .shutdown_write = fake_shutdown,
    .pause_reading = fake_pause_reading,
    .resume_reading = fake_resume_reading,
    .write_buffer_size = fake_size,
    .get_host = fake_host,
    .set_nodelay = fake_nodelay,
};

static const eddy_transport_ops_t minimal_ops = {
    .writev = fake_writev,
    .write_slice = fake_write_slice,
    .lose_connection = fake_lose,
    .abort_connection = fake_abort,
    .pause_reading = fake_pause_reading,
    .resume_reading = fake_resume_reading,
    .write_buffer_size = fake_size,
};

/* ---- A protocol that records flow control -----------------------------------
 */

typedef struct {
  eddy_protocol_t base;
  int pauses, resumes;
  int in_check;  /* set around eddy_transport_check_water calls */
  size_t refill; /* resume_writing grows the buffer to this */
} flow_t;

static void flow_pause(eddy_protocol_t *p) {
  flow_t *fl = (flow_t *)p;
  cr_assert_eq(fl->in_check, 0, "pause_writing delivered synchronously");
  fl->pauses++;
}

static void flow_resume(eddy_protocol_t *p) {
  flow_t *fl = (flow_t *)p;
  cr_assert_eq(fl->in_check, 0, "resume_writing delivered synchronously");
  fl->resumes++;
  if (fl->refill != 0) {
    fake_t *f = (fake_t *)p->transport;
    f->size = fl->refill;
    fl->refill = 0;
    eddy_transport_check_water(p->transport);
  }
}

static const eddy_protocol_ops_t flow_ops = {
    .pause_writing = flow_pause,
    .resume_writing = flow_resume,
};

static void setup(eddy_reactor_t *r, fake_t *f, flow_t *fl,
                  const eddy_transport_ops_t *ops) {
  memset(f, 0, sizeof(*f));
  eddy_transport_init(&f->base, ops, r);
  eddy_buf_init(&f->out, 1u << 20);
  eddy_protocol_init(&fl->base, &flow_ops);
  fl->pauses = fl->resumes = fl->in_check = 0;
  fl->refill = 0;
  f->base.protocol = &fl->base;
  fl->base.transport = &f->base;
}

static void set_size(fake_t *f, flow_t *fl, size_t size) {
  f->size = size;
  fl->in_check = 1;
  eddy_transport_check_water(&f->base);
  fl->in_check = 0;
}

static void teardown(eddy_reactor_t *r, fake_t *f) {
  eddy_transport_cleanup(&f->base);
  eddy_buf_free(&f->out);
  test_close_reactor(r);
}

/* ---- Dispatch ---------------------------------------------------------------
 */

Test(transport, init_sets_defaults) {
  eddy_reactor_t *r = test_reactor(0);
  fake_t f;
  flow_t fl;
  setup(r, &f, &fl, &fake_ops);
  cr_assert_eq(f.base.ops, &fake_ops);
  cr_assert_eq(f.base.reactor, r);
  cr_assert_eq(f.base.high_water, EDDY_TRANSPORT_HIGH_WATER_DEFAULT);
  cr_assert_eq(f.base.low_water, EDDY_TRANSPORT_LOW_WATER_DEFAULT);
  cr_assert_eq(eddy_transport_writing_paused(&f.base), 0);
  cr_assert_eq(eddy_transport_is_closing(&f.base), 0);
  teardown(r, &f);
}

Test(transport, writes_reach_the_transport_in_order) {
  eddy_reactor_t *r = test_reactor(0);
  fake_t f;
  flow_t fl;
  setup(r, &f, &fl, &fake_ops);
  cr_assert_eq(eddy_transport_write(&f.base, "ab", 2), 0);
  cr_assert_eq(eddy_transport_write_str(&f.base, "cd"), 0);
  uv_buf_t bufs[2] = {uv_buf_init("ef", 2), uv_buf_init("g", 1)};
  cr_assert_eq(eddy_transport_writev(&f.base, bufs, 2), 0);
  eddy_slice_t *s = eddy_slice_new("hi", 2);
  cr_assert_eq(eddy_transport_write_slice(&f.base, s), 0);
  eddy_slice_unref(s);
  cr_assert_eq(f.out.len, 9);
  cr_assert_eq(memcmp(f.out.data, "abcdefghi", 9), 0);
  cr_assert_eq(f.writev_calls, 3);
  cr_assert_eq(f.slice_calls, 1);
  cr_assert_eq(eddy_transport_write(&f.base, "", 0), 0);
  cr_assert_eq(eddy_transport_write(&f.base, NULL, 0), 0);
  teardown(r, &f);
}

Test(transport, bad_arguments) {
  eddy_reactor_t *r = test_reactor(0);
  fake_t f;
  flow_t fl;
  setup(r, &f, &fl, &fake_ops);
  cr_assert_eq(eddy_transport_write(&f.base, NULL, 3), UV_EINVAL);
  cr_assert_eq(eddy_transport_writev(&f.base, NULL, 1), UV_EINVAL);
  cr_assert_eq(eddy_transport_write_str(&f.base, NULL), UV_EINVAL);
  cr_assert_eq(eddy_transport_write_slice(&f.base, NULL), UV_EINVAL);
  cr_assert_eq(eddy_transport_get_host(&f.base, NULL), UV_EINVAL);
  cr_assert_eq(eddy_transport_get_peer(&f.base, NULL), UV_EINVAL);
  cr_assert_eq(f.writev_calls + f.slice_calls, 0);
  teardown(r, &f);
}

Test(transport, writes_after_closing_fail_with_epipe) {
  eddy_reactor_t *r = test_reactor(0);
  fake_t f;
  flow_t fl;
  setup(r, &f, &fl, &fake_ops);
  eddy_transport_lose_connection(&f.base);
  cr_assert_eq(f.loses, 1);
  cr_assert(eddy_transport_is_closing(&f.base));
  cr_assert_eq(eddy_transport_write_str(&f.base, "x"), UV_EPIPE);
  uv_buf_t b = uv_buf_init("y", 1);
  cr_assert_eq(eddy_transport_writev(&f.base, &b, 1), UV_EPIPE);
  eddy_slice_t *s = eddy_slice_new("z", 1);
  cr_assert_eq(eddy_transport_write_slice(&f.base, s), UV_EPIPE);
  eddy_slice_unref(s);
  cr_assert_eq(eddy_transport_shutdown_write(&f.base), UV_EPIPE);
  cr_assert_eq(f.writev_calls + f.slice_calls + f.shuts, 0);
  eddy_transport_abort_connection(&f.base);
  cr_assert_eq(f.aborts, 1);
  teardown(r, &f);
}

Test(transport, reading_and_shutdown_are_forwarded) {
  eddy_reactor_t *r = test_reactor(0);
  fake_t f;
  flow_t fl;
  setup(r, &f, &fl, &fake_ops);
  eddy_transport_pause_reading(&f.base);
  eddy_transport_resume_reading(&f.base);
  cr_assert_eq(eddy_transport_shutdown_write(&f.base), 0);
  cr_assert_eq(f.rpauses, 1);
  cr_assert_eq(f.rresumes, 1);
  cr_assert_eq(f.shuts, 1);
  eddy_addr_t a;
  cr_assert_eq(eddy_transport_get_host(&f.base, &a), 0);
  cr_assert_eq(a.ss.ss_family, AF_INET);
  cr_assert_eq(eddy_transport_set_nodelay(&f.base, 1), 0);
  cr_assert_eq(eddy_transport_set_nodelay(&f.base, 0), UV_EINVAL);
  teardown(r, &f);
}

Test(transport, missing_optional_ops_are_enotsup) {
  eddy_reactor_t *r = test_reactor(0);
  fake_t f;
  flow_t fl;
  setup(r, &f, &fl, &minimal_ops);
  eddy_addr_t a;
  cr_assert_eq(eddy_transport_get_host(&f.base, &a), UV_ENOTSUP);
  cr_assert_eq(eddy_transport_get_peer(&f.base, &a), UV_ENOTSUP);
  cr_assert_eq(eddy_transport_set_nodelay(&f.base, 1), UV_ENOTSUP);
  cr_assert_eq(eddy_transport_set_keepalive(&f.base, 1, 5), UV_ENOTSUP);
  cr_assert_eq(eddy_transport_shutdown_write(&f.base), UV_ENOTSUP);
  teardown(r, &f);
}

/* ---- Water marks ------------------------------------------------------------
 */

Test(transport, pause_and_resume_come_on_a_later_iteration) {
  eddy_reactor_t *r = test_reactor(0);
  fake_t f;
  flow_t fl;
  setup(r, &f, &fl, &fake_ops);
  set_size(&f, &fl, EDDY_TRANSPORT_HIGH_WATER_DEFAULT); /* at the mark: no */
  cr_assert_eq(eddy_transport_writing_paused(&f.base), 0);
  set_size(&f, &fl, EDDY_TRANSPORT_HIGH_WATER_DEFAULT + 1);
  cr_assert_eq(eddy_transport_writing_paused(&f.base), 1);
  cr_assert_eq(fl.pauses, 0);
  set_size(&f, &fl, 1u << 20); /* already paused: nothing more */
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(fl.pauses, 1);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(fl.pauses, 1);

  set_size(&f, &fl, EDDY_TRANSPORT_LOW_WATER_DEFAULT + 1); /* between */
  cr_assert_eq(eddy_transport_writing_paused(&f.base), 1);
  set_size(&f, &fl, EDDY_TRANSPORT_LOW_WATER_DEFAULT); /* at the mark: yes */
  cr_assert_eq(eddy_transport_writing_paused(&f.base), 0);
  cr_assert_eq(fl.resumes, 0);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(fl.resumes, 1);
  cr_assert_eq(fl.pauses, 1);
  teardown(r, &f);
}

Test(transport, only_the_net_change_is_delivered) {
  eddy_reactor_t *r = test_reactor(0);
  fake_t f;
  flow_t fl;
  setup(r, &f, &fl, &fake_ops);
  set_size(&f, &fl, 1u << 20);
  set_size(&f, &fl, 0);
  cr_assert_eq(eddy_transport_writing_paused(&f.base), 0);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(fl.pauses, 0);
  cr_assert_eq(fl.resumes, 0);
  teardown(r, &f);
}

Test(transport, resume_writing_may_refill_the_buffer) {
  eddy_reactor_t *r = test_reactor(0);
  fake_t f;
  flow_t fl;
  setup(r, &f, &fl, &fake_ops);
  set_size(&f, &fl, 1u << 20);
  eddy_reactor_run_once(r, 0);
  fl.refill = 1u << 20; /* resume_writing writes a lot again */
  set_size(&f, &fl, 0);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(fl.resumes, 1);
  cr_assert_eq(eddy_transport_writing_paused(&f.base), 1);
  cr_assert_eq(fl.pauses, 1);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(fl.pauses, 2);
  teardown(r, &f);
}

Test(transport, nothing_is_delivered_once_closing) {
  eddy_reactor_t *r = test_reactor(0);
  fake_t f;
  flow_t fl;
  setup(r, &f, &fl, &fake_ops);
  set_size(&f, &fl, 1u << 20);
  eddy_transport_lose_connection(&f.base);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(fl.pauses, 0);
  set_size(&f, &fl, 0); /* no longer tracked */
  cr_assert_eq(eddy_transport_writing_paused(&f.base), 1);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(fl.resumes, 0);
  teardown(r, &f);
}

Test(transport, cleanup_cancels_a_pending_notification) {
  eddy_reactor_t *r = test_reactor(0);
  fake_t *f = malloc(sizeof(*f));
  flow_t fl;
  cr_assert_not_null(f);
  setup(r, f, &fl, &fake_ops);
  set_size(f, &fl, 1u << 20);
  /* Freed with the notification due: running the loop must not touch it
   * (the sanitizer would catch a use after free). */
  eddy_transport_cleanup(&f->base);
  eddy_buf_free(&f->out);
  free(f);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(fl.pauses, 0);
  test_close_reactor(r);
}

Test(transport, changing_the_limits) {
  eddy_reactor_t *r = test_reactor(0);
  fake_t f;
  flow_t fl;
  setup(r, &f, &fl, &fake_ops);
  f.size = 1000;
  cr_assert_eq(eddy_transport_set_write_buffer_limits(&f.base, 10, 20),
               UV_EINVAL);
  cr_assert_eq(f.base.high_water, EDDY_TRANSPORT_HIGH_WATER_DEFAULT);
  /* Lowering the mark under what is queued pauses, on the next iteration. */
  cr_assert_eq(eddy_transport_set_write_buffer_limits(&f.base, 500, 100), 0);
  cr_assert_eq(f.base.high_water, 500);
  cr_assert_eq(f.base.low_water, 100);
  cr_assert_eq(eddy_transport_writing_paused(&f.base), 1);
  cr_assert_eq(fl.pauses, 0);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(fl.pauses, 1);
  /* high == 0 restores the defaults, which 1000 bytes are below. */
  cr_assert_eq(eddy_transport_set_write_buffer_limits(&f.base, 0, 77), 0);
  cr_assert_eq(f.base.high_water, EDDY_TRANSPORT_HIGH_WATER_DEFAULT);
  cr_assert_eq(f.base.low_water, EDDY_TRANSPORT_LOW_WATER_DEFAULT);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(fl.resumes, 1);
  cr_assert_eq(eddy_transport_set_write_buffer_limits(&f.base, 50, 50), 0);
  cr_assert_eq(eddy_transport_write_buffer_size(&f.base), 1000);
  teardown(r, &f);
}
