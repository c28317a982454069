/* transport.c — the generic transport calls and write-buffer flow control.
 *
 * Every public eddy_transport_* call lands here first, so the rules common to
 * all transports (writes after closing fail with UV_EPIPE, optional ops
 * answer UV_ENOTSUP, water-mark notifications come on a later iteration) are
 * written once and each transport only implements the mechanics. */
#include "eddy/transport.h"

#include <string.h>

#include "core/reactor_internal.h"
#include "net/transport_internal.h"

/* The soon-call lives in public storage so that transport.h need not expose
 * an internal type; these checks keep the two in agreement. */
_Static_assert(sizeof(eddy__soon_t) <=
                   sizeof(((eddy_transport_t *)0)->water_soon_),
               "water_soon_ too small for eddy__soon_t");
_Static_assert(_Alignof(eddy__soon_t) <= _Alignof(void *),
               "water_soon_ misaligned for eddy__soon_t");

static eddy__soon_t *water_soon(eddy_transport_t *t) {
  return (eddy__soon_t *)(void *)t->water_soon_;
}

void eddy_transport_init(eddy_transport_t *t, const eddy_transport_ops_t *ops,
                         eddy_reactor_t *r) {
  memset(t, 0, sizeof(*t));
  t->ops = ops;
  t->reactor = r;
  t->high_water = EDDY_TRANSPORT_HIGH_WATER_DEFAULT;
  t->low_water = EDDY_TRANSPORT_LOW_WATER_DEFAULT;
}

static void water_deliver(void *arg) {
  eddy_transport_t *t = arg;
  /* The state may have flipped back and forth since it was scheduled; the
   * protocol hears only the net change, and nothing once closing began. */
  if (t->closing || t->protocol == NULL || t->water_told_ == t->writing_paused)
    return;
  t->water_told_ = t->writing_paused;
  if (t->writing_paused)
    eddy_protocol_pause_writing(t->protocol);
  else
    eddy_protocol_resume_writing(t->protocol);
}

void eddy_transport_check_water(eddy_transport_t *t) {
  if (t->closing)
    return;
  size_t size = t->ops->write_buffer_size(t);
  if (!t->writing_paused && size > t->high_water)
    t->writing_paused = 1;
  else if (t->writing_paused && size <= t->low_water)
    t->writing_paused = 0;
  else
    return;
  if (t->writing_paused != t->water_told_)
    eddy__reactor_soon(t->reactor, water_soon(t), water_deliver, t);
}

void eddy_transport_cleanup(eddy_transport_t *t) {
  eddy__reactor_soon_cancel(t->reactor, water_soon(t));
}

int eddy__transport_fits(const uv_buf_t *bufs, size_t n, size_t queued,
                         size_t *total) {
  if (queued > EDDY_TRANSPORT_QUEUE_MAX)
    return UV_ENOBUFS;
  size_t room = EDDY_TRANSPORT_QUEUE_MAX - queued;
  size_t sum = 0;
  for (size_t i = 0; i < n; i++) {
    if (bufs[i].len > room - sum)
      return UV_ENOBUFS;
    sum += bufs[i].len;
  }
  *total = sum;
  return 0;
}

int eddy__transport_write_slice_copy(eddy_transport_t *t, eddy_slice_t *s) {
  uv_buf_t b;
  b.base = (char *)eddy_slice_data(s);
  b.len = eddy_slice_len(s);
  return t->ops->writev(t, &b, 1);
}

int eddy_transport_writev(eddy_transport_t *t, const uv_buf_t *bufs, size_t n) {
  if (n > 0 && bufs == NULL)
    return UV_EINVAL;
  if (t->closing)
    return UV_EPIPE;
  return t->ops->writev(t, bufs, n);
}

int eddy_transport_write(eddy_transport_t *t, const void *data, size_t len) {
  if (len > 0 && data == NULL)
    return UV_EINVAL;
  uv_buf_t b;
  b.base = (char *)data;
  b.len = len;
  return eddy_transport_writev(t, &b, 1);
}

int eddy_transport_write_str(eddy_transport_t *t, const char *s) {
  if (s == NULL)
    return UV_EINVAL;
  return eddy_transport_write(t, s, strlen(s));
}

int eddy_transport_write_slice(eddy_transport_t *t, eddy_slice_t *s) {
  if (s == NULL)
    return UV_EINVAL;
  if (t->closing)
    return UV_EPIPE;
  return t->ops->write_slice(t, s);
}

void eddy_transport_lose_connection(eddy_transport_t *t) {
  t->ops->lose_connection(t);
}

void eddy_transport_abort_connection(eddy_transport_t *t) {
  t->ops->abort_connection(t);
}

int eddy_transport_shutdown_write(eddy_transport_t *t) {
  if (t->ops->shutdown_write == NULL)
    return UV_ENOTSUP;
  if (t->closing)
    return UV_EPIPE;
  return t->ops->shutdown_write(t);
}

void eddy_transport_pause_reading(eddy_transport_t *t) {
  t->ops->pause_reading(t);
}

void eddy_transport_resume_reading(eddy_transport_t *t) {
  t->ops->resume_reading(t);
}

size_t eddy_transport_write_buffer_size(const eddy_transport_t *t) {
  return t->ops->write_buffer_size(t);
}

int eddy_transport_set_write_buffer_limits(eddy_transport_t *t, size_t high,
                                           size_t low) {
  if (high == 0) {
    high = EDDY_TRANSPORT_HIGH_WATER_DEFAULT;
    low = EDDY_TRANSPORT_LOW_WATER_DEFAULT;
  } else if (low > high) {
    return UV_EINVAL;
  }
  t->high_water = high;
  t->low_water = low;
  eddy_transport_check_water(t);
  return 0;
}

int eddy_transport_writing_paused(const eddy_transport_t *t) {
  return t->writing_paused;
}

int eddy_transport_is_closing(const eddy_transport_t *t) {
  return t->closing;
}

int eddy_transport_get_host(const eddy_transport_t *t, eddy_addr_t *out) {
  if (out == NULL)
    return UV_EINVAL;
  if (t->ops->get_host == NULL)
    return UV_ENOTSUP;
  return t->ops->get_host(t, out);
}

int eddy_transport_get_peer(const eddy_transport_t *t, eddy_addr_t *out) {
  if (out == NULL)
    return UV_EINVAL;
  if (t->ops->get_peer == NULL)
    return UV_ENOTSUP;
  return t->ops->get_peer(t, out);
}

int eddy_transport_set_nodelay(eddy_transport_t *t, int on) {
  if (t->ops->set_nodelay == NULL)
    return UV_ENOTSUP;
  return t->ops->set_nodelay(t, on);
}

int eddy_transport_set_keepalive(eddy_transport_t *t, int on,
                                 unsigned delay_s) {
  if (t->ops->set_keepalive == NULL)
    return UV_ENOTSUP;
  return t->ops->set_keepalive(t, on, delay_s);
}
