/* eddy/protocol.h — protocols and factories (Twisted's vocabulary).
 *
 * A protocol is the per-connection object that reacts to events; a factory
 * builds one protocol per connection and carries state the connections
 * share. User protocols embed eddy_protocol_t (usually as the first member)
 * and point `ops` at a static table.
 *
 * LIFECYCLE, for every transport (TCP, Unix, the test doubles):
 *   build_protocol -> connection_made -> data_received* -> [eof_received]
 *   -> connection_lost(reason) -> destroy
 * connection_lost is called exactly once, and always from a later loop
 * iteration than the call that closed the connection. After it returns the
 * transport is gone; `destroy` (if set) is the protocol's last callback and
 * is where the protocol frees itself. A protocol may close its connection,
 * or write, from inside any of its callbacks.
 *
 * connection_lost reasons: 0 for a clean close (either side, all queued data
 * written), UV_ECONNABORTED after eddy_transport_abort_connection, otherwise
 * the error that broke the connection (UV_ECONNRESET, UV_ETIMEDOUT, ...).
 */
#ifndef EDDY_PROTOCOL_H
#define EDDY_PROTOCOL_H

#include <stddef.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_protocol_s eddy_protocol_t;
typedef struct eddy_factory_s eddy_factory_t;
typedef struct eddy_transport_s eddy_transport_t;

/* A socket address: IPv4, IPv6 or a Unix path. */
typedef struct eddy_addr_s {
  struct sockaddr_storage ss;
  socklen_t len; /* 0 when unknown (for example an unnamed Unix socket) */
} eddy_addr_t;

/* "127.0.0.1:7700", "[::1]:7700", "unix:/run/eddy.sock", "unix:" (unnamed),
 * "unix:@name" (Linux abstract) or "unknown" (len 0). Returns the length the
 * text needs (what is written is truncated to size - 1), like snprintf. */
int eddy_addr_format(const eddy_addr_t *a, char *buf, size_t size);
/* The port of an IP address, 0 otherwise. */
int eddy_addr_port(const eddy_addr_t *a);

typedef struct eddy_protocol_ops_s {
  void (*connection_made)(eddy_protocol_t *p);
  void (*data_received)(eddy_protocol_t *p, const char *data, size_t len);
  /* The peer will send no more. Return non-zero to keep the connection open
   * for writing (half-close); return 0 (or leave NULL) to close it cleanly
   * once queued data is written. */
  int (*eof_received)(eddy_protocol_t *p);
  void (*connection_lost)(eddy_protocol_t *p, int reason);
  /* Backpressure: the transport's write buffer went above its high-water
   * mark / back below its low-water mark. Delivered on a later iteration than
   * the write that crossed the mark. */
  void (*pause_writing)(eddy_protocol_t *p);
  void (*resume_writing)(eddy_protocol_t *p);
  /* Last call; free the protocol here (never in connection_lost: the
   * protocol is still used after connection_lost returns). */
  void (*destroy)(eddy_protocol_t *p);
} eddy_protocol_ops_t;

typedef void (*eddy_lost_hook_cb)(eddy_protocol_t *p, int reason, void *arg);

struct eddy_protocol_s {
  const eddy_protocol_ops_t *ops;
  /* Set before connection_made; valid until connection_lost returns. */
  eddy_transport_t *transport;
  /* The factory that built the protocol (NULL when connected by hand). */
  eddy_factory_t *factory;
  void *data; /* for the user */
  /* private: observers such as the reconnecting client (eddy/reconnect.h) */
  eddy_lost_hook_cb lost_hook;
  void *lost_hook_arg;
};

/* Zeroes p and sets ops. */
void eddy_protocol_init(eddy_protocol_t *p, const eddy_protocol_ops_t *ops);

struct eddy_factory_s {
  /* Builds the protocol for a new connection; NULL refuses it (the
   * connection is closed at once). `peer` may be NULL when unknown. */
  eddy_protocol_t *(*build_protocol)(eddy_factory_t *f,
                                     const eddy_addr_t *peer);
  void *data; /* shared state */
};

/* ---- For transport implementers ----------------------------------------
 * These deliver events to a protocol, tolerating NULL ops. connection_lost
 * also runs the lost hook and then destroy; the protocol must not be touched
 * afterwards. */
void eddy_protocol_connection_made(eddy_protocol_t *p, eddy_transport_t *t);
void eddy_protocol_data_received(eddy_protocol_t *p, const char *data,
                                 size_t len);
int eddy_protocol_eof_received(eddy_protocol_t *p);
void eddy_protocol_connection_lost(eddy_protocol_t *p, int reason);
void eddy_protocol_pause_writing(eddy_protocol_t *p);
void eddy_protocol_resume_writing(eddy_protocol_t *p);

#ifdef __cplusplus
}
#endif
#endif
