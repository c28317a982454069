/* stream_internal.h — the libuv stream transport, for listen.c and connect.c.
 *
 * A stream transport wraps one uv_tcp_t or uv_pipe_t. It is created with its
 * handle initialised but unconnected; the creator connects or accepts into
 * the handle, then either starts it with a protocol or discards it. Its
 * memory is freed from the uv close callback, after connection_lost. */
#ifndef EDDY_STREAM_INTERNAL_H
#define EDDY_STREAM_INTERNAL_H

#include <uv.h>

#include "eddy/transport.h"

typedef struct eddy__stream_s eddy__stream_t;

/* Room for either kind of stream socket handle, so one struct serves TCP
 * and Unix sockets (a listener's, or a connection's). */
typedef union eddy__socket_handle_u {
  uv_handle_t handle;
  uv_stream_t stream;
  uv_tcp_t tcp;
  uv_pipe_t pipe;
} eddy__socket_handle_t;

/* Allocates a stream transport on r's loop: TCP when tcp is non-zero, a Unix
 * socket otherwise. handle->data points back to the stream. Returns 0,
 * UV_ENOMEM or libuv's error from initialising the handle. */
int eddy__stream_new(eddy_reactor_t *r, int tcp, eddy__stream_t **out);
uv_stream_t *eddy__stream_handle(eddy__stream_t *s);
eddy_transport_t *eddy__stream_transport(eddy__stream_t *s);
/* The handle is connected: attaches p (p->transport), calls connection_made
 * and starts reading unless the protocol paused or closed meanwhile. */
void eddy__stream_start(eddy__stream_t *s, eddy_protocol_t *p);
/* Closes a stream that never got a protocol; frees it from the close
 * callback (pending requests on the handle complete with UV_ECANCELED). */
void eddy__stream_discard(eddy__stream_t *s);

#endif
