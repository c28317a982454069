/* eddy/endpoint.h — where to listen and where to connect, from strings.
 *
 * Server (listen) endpoints:
 *   tcp:PORT[:interface=ADDR][:backlog=N]     IPv4 (interface 127.0.0.1
 *   tcp6:PORT[:interface=ADDR][:backlog=N]    IPv6 (interface ::1)
 *   unix:PATH[:mode=0660][:backlog=N]
 * Client (connect) endpoints:
 *   tcp:HOST:PORT[:timeout=SECONDS]           HOST is a name, v4 or v6
 *   tcp6:HOST:PORT[:timeout=SECONDS]          only IPv6 addresses
 *   unix:PATH[:timeout=SECONDS]
 * A backslash escapes the next character, so `\:` is a colon inside a value
 * (an IPv6 address: `tcp6:7700:interface=\:\:1`). Listening defaults to
 * loopback: eddy is safe by default. Port 0 asks the system for a free port;
 * eddy_listener_port tells which one it gave.
 *
 * Parsing is pure (no allocation, no I/O) and reports where it failed and
 * what it expected there.
 */
#ifndef EDDY_ENDPOINT_H
#define EDDY_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "deferred.h"
#include "protocol.h"
#include "reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EDDY_ENDPOINT_HOST_MAX 256
#define EDDY_ENDPOINT_PATH_MAX 108 /* sun_path on Linux */
#define EDDY_ENDPOINT_BACKLOG_DEFAULT 511

typedef enum {
  EDDY_ENDPOINT_TCP = 1,
  EDDY_ENDPOINT_TCP6 = 2,
  EDDY_ENDPOINT_UNIX = 3
} eddy_endpoint_kind_t;

typedef struct eddy_endpoint_s {
  eddy_endpoint_kind_t kind;
  int server;                          /* parsed as a listen endpoint */
  char host[EDDY_ENDPOINT_HOST_MAX];   /* interface (server) or host (client) */
  uint16_t port;
  int backlog;                         /* server */
  unsigned mode;                       /* unix server; 0 = leave as created */
  char path[EDDY_ENDPOINT_PATH_MAX];   /* unix */
  uint64_t timeout_ms;                 /* client; 0 = default (30 s) */
} eddy_endpoint_t;

typedef struct eddy_endpoint_error_s {
  size_t pos;           /* byte offset in the string where parsing failed */
  char message[160];    /* e.g. "expected a port number (0-65535)" */
} eddy_endpoint_error_t;

/* Return 0 or EDDY_EPARSE (with *err filled when err is not NULL). */
int eddy_endpoint_parse_server(const char *s, eddy_endpoint_t *ep,
                               eddy_endpoint_error_t *err);
int eddy_endpoint_parse_client(const char *s, eddy_endpoint_t *ep,
                               eddy_endpoint_error_t *err);
/* Writes the canonical string for ep (re-parses to the same endpoint).
 * Returns the length, like snprintf. */
int eddy_endpoint_format(const eddy_endpoint_t *ep, char *buf, size_t size);

/* ---- Listening ----------------------------------------------------------
 * A listener is library-owned. Binding happens inside eddy_listen, so errors
 * (EADDRINUSE, EACCES, parse errors) are returned at once and no callback is
 * involved. The factory must outlive the listener and every connection it
 * accepted. */
typedef struct eddy_listener_s eddy_listener_t;

int eddy_listen(eddy_reactor_t *r, const char *endpoint, eddy_factory_t *f,
                eddy_listener_t **out);
int eddy_listen_endpoint(eddy_reactor_t *r, const eddy_endpoint_t *ep,
                         eddy_factory_t *f, eddy_listener_t **out);
/* The port actually bound (useful after port 0), 0 for Unix sockets. */
int eddy_listener_port(const eddy_listener_t *l);
int eddy_listener_address(const eddy_listener_t *l, eddy_addr_t *out);
/* Stops accepting and frees the listener; connections already accepted go
 * on. cb (may be NULL) runs once the handle is closed; a Unix socket's path
 * is unlinked. */
void eddy_listener_close(eddy_listener_t *l, eddy_call_cb cb, void *arg);

/* ---- Connecting ---------------------------------------------------------
 * Resolves the host asynchronously, tries each address in turn, builds a
 * protocol with f and connects it. The deferred fires with the connected
 * eddy_protocol_t * (not owned by the result: the protocol lives until its
 * connection_lost/destroy), after connection_made has run; or fails with the
 * last connect error, UV_ETIMEDOUT, or EDDY_EPARSE. It never fires before
 * eddy_connect returns. Cancelling it abandons the attempt. */
eddy_deferred_t *eddy_connect(eddy_reactor_t *r, const char *endpoint,
                              eddy_factory_t *f);
eddy_deferred_t *eddy_connect_endpoint(eddy_reactor_t *r,
                                       const eddy_endpoint_t *ep,
                                       eddy_factory_t *f);

#ifdef __cplusplus
}
#endif
#endif
