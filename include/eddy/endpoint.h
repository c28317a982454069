/* eddy/endpoint.h — where to listen and where to connect, from strings.
 *
 * Server (listen) endpoints:
 *   tcp:PORT[:interface=ADDR][:backlog=N]     IPv4 (interface 127.0.0.1)
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
 * Values: PORT 0-65535 to listen (0: any free port), 1-65535 to connect;
 * backlog 1-65535 (default EDDY_ENDPOINT_BACKLOG_DEFAULT); mode is octal,
 * 1-0777 (0660 and 660 are the same); timeout is in seconds, above 0 and at
 * most 86400, with up to three decimals (0.5 is 500 ms). A server interface
 * must be an IP literal of the transport's family. A client HOST is an IP
 * literal (IPv6 only for tcp6) or a name made of letters, digits, '-', '_' and
 * '.'. Options come in any order, each at most once. HOST may hold 255 bytes,
 * PATH 107 (after unescaping).
 *
 * Parsing is pure (no allocation, no I/O) and strict: unknown or repeated
 * options, empty values, out-of-range numbers and anything left over are
 * errors. It reports where it failed and what it expected there.
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
  int server;                        /* parsed as a listen endpoint */
  char host[EDDY_ENDPOINT_HOST_MAX]; /* interface (server) or host (client) */
  uint16_t port;
  int backlog;                       /* server */
  unsigned mode;                     /* unix server; 0 = leave as created */
  char path[EDDY_ENDPOINT_PATH_MAX]; /* unix */
  uint64_t timeout_ms;               /* client; 0 = default (30 s) */
} eddy_endpoint_t;

typedef struct eddy_endpoint_error_s {
  size_t pos;        /* byte offset in the string where parsing failed */
  char message[160]; /* e.g. "expected a port number (0-65535)" */
} eddy_endpoint_error_t;

/* Return 0 or EDDY_EPARSE (with *err filled when err is not NULL; *ep is
 * left untouched on failure). err->pos is the byte offset of the field or
 * value that is wrong (of the end of the string when something is missing);
 * err->message says what was expected there and does not repeat the
 * position. */
int eddy_endpoint_parse_server(const char *s, eddy_endpoint_t *ep,
                               eddy_endpoint_error_t *err);
int eddy_endpoint_parse_client(const char *s, eddy_endpoint_t *ep,
                               eddy_endpoint_error_t *err);
/* Writes the canonical string for ep; parsing it again (as a server or a
 * client, per ep->server) gives the same struct. Escapes ':' and '\', always
 * names a server's interface, and leaves out default values. Returns the full
 * length (like snprintf: the output is truncated to size - 1 bytes and
 * NUL-terminated when size > 0), or UV_EINVAL when ep's kind is not one of the
 * three. */
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
 * is unlinked (if it is still the file the listener created). Call it once.
 *
 * Unix sockets: an existing file at PATH is removed first only when it is a
 * socket nobody listens on (left by a dead process); anything else gives
 * UV_EADDRINUSE. */
void eddy_listener_close(eddy_listener_t *l, eddy_call_cb cb, void *arg);

/* ---- Connecting ---------------------------------------------------------
 * Resolves the host asynchronously, tries each address in turn, builds a
 * protocol with f and connects it. The deferred fires with the connected
 * eddy_protocol_t * (not owned by the result: the protocol lives until its
 * connection_lost/destroy), after connection_made has run; or fails with the
 * last connect error, UV_ETIMEDOUT, EDDY_EPARSE, UV_EINVAL (a bad endpoint or
 * factory), or UV_ECONNABORTED when build_protocol refused. It never fires
 * before eddy_connect returns. Cancelling it abandons the attempt (a
 * connection already made by then, from inside build_protocol or
 * connection_made, is aborted). Returns NULL only when r is NULL or out of
 * memory. */
eddy_deferred_t *eddy_connect(eddy_reactor_t *r, const char *endpoint,
                              eddy_factory_t *f);
eddy_deferred_t *eddy_connect_endpoint(eddy_reactor_t *r,
                                       const eddy_endpoint_t *ep,
                                       eddy_factory_t *f);

#ifdef __cplusplus
}
#endif
#endif
