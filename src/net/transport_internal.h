/* transport_internal.h — rules shared by the transports inside the library
 * (net/stream.c, testing/loopback.c, testing/string_transport.c), so each
 * one states the write limits the same way. */
#ifndef EDDY_TRANSPORT_INTERNAL_H
#define EDDY_TRANSPORT_INTERNAL_H

#include <uv.h>

#include "eddy/transport.h"

/* Adds up the lengths of bufs into *total. Returns UV_ENOBUFS (and leaves
 * *total alone) when they would make a queue already holding `queued` bytes
 * exceed EDDY_TRANSPORT_QUEUE_MAX; the sum never overflows. 0 otherwise. */
int eddy__transport_fits(const uv_buf_t *bufs, size_t n, size_t queued,
                         size_t *total);

/* A write_slice op for transports that copy every write: passes the slice's
 * bytes to t's writev, so no reference to the slice is kept. */
int eddy__transport_write_slice_copy(eddy_transport_t *t, eddy_slice_t *s);

#endif
