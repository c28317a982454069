/* eddy/websocket.h — WebSocket connections (RFC 6455) with permessage-deflate
 * (RFC 7692): the server upgrade, a client, and shared broadcast messages.
 *
 * A connection (eddy_ws_t) is library-owned. Both roles run the same
 * protocol: messages are assembled from fragments (up to cfg.max_message),
 * text is validated as UTF-8 as it arrives (a fragment that can no longer
 * become valid fails the connection at once with 1007), pings are answered
 * with pongs automatically, and the close handshake echoes the peer's code.
 * A peer that breaks the protocol gets a close frame with the code
 * eddy_ws_close_code() gives (1002, 1007, 1009) and the connection closes.
 *
 * LIFECYCLE: on_open -> (on_message | on_ping | on_pong | on_drain)* ->
 * on_close. on_open is always called from a later loop iteration than the
 * call that created the connection (eddy_ws_accept, eddy_ws_connect,
 * eddy_ws_new). on_close is called exactly once, when the TCP connection is
 * gone (also when on_open never ran because the transport died first — then
 * on_open is skipped); the eddy_ws_t is freed when on_close returns, and
 * must not be used afterwards. Every function below may be called from
 * inside any handler, including eddy_ws_close and eddy_ws_abort.
 *
 * CLOSING: eddy_ws_close() sends a close frame and waits for the peer's
 * (at most cfg.close_timeout_ms, then the TCP connection is aborted). When
 * the peer closes first its code is echoed (an empty close is answered with
 * an empty one). After the handshake the server closes the TCP connection;
 * a client waits for the server to do so (again at most close_timeout_ms).
 * Messages that arrive after we sent a close are still delivered; sends
 * after it fail with UV_EPIPE.
 *
 * SEND QUEUE POLICY: every send is queued on the transport at once (sends
 * never block and never call back). The bytes waiting to be written may not
 * exceed cfg.max_send_queue: a send that would pass it is refused with
 * UV_ENOBUFS and the connection is failed with close code 1008 ("send queue
 * full"): the close frame is queued, the TCP connection is aborted if the
 * peer does not complete the close within close_timeout_ms, and on_close
 * tells the application (info->error == UV_ENOBUFS). So a reader that does
 * not read costs at most max_send_queue bytes. Polite producers watch
 * eddy_ws_writable() and wait for on_drain instead of running into it.
 * Frames sent on a connection while it processes a read (from its
 * on_message, on_ping, ... handlers) are gathered and leave in one write
 * when that read is done: pipelined messages cost one system call per read,
 * not one per echo. Payloads above 16 KiB are never copied for this.
 *
 * OWNERSHIP: data passed to handlers is valid only during the call (it may
 * point into the connection's read buffer). Data passed to send functions is
 * copied (or, for eddy_ws_send_message, referenced) before they return.
 * Strings in the config are used only during the call that takes the config
 * (eddy_ws_accept, eddy_ws_connect, eddy_ws_new): they are copied.
 *
 * THREADS: a connection belongs to its reactor's thread. eddy_ws_message_t
 * may be referenced and unreferenced from any thread, but sent only from
 * reactor threads, one thread per message at a time.
 */
#ifndef EDDY_WEBSOCKET_H
#define EDDY_WEBSOCKET_H

#include <stddef.h>
#include <stdint.h>

#include "deferred.h"
#include "http_server.h"
#include "protocol.h"
#include "reactor.h"
#include "ws_frame.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_ws_s eddy_ws_t;
typedef struct eddy_ws_message_s eddy_ws_message_t;

/* ---- Configuration ------------------------------------------------------
 * Zero-initialise, set what you need; every 0 field means its default.
 * Timeouts set to EDDY_WS_NEVER are disabled. */
#define EDDY_WS_NEVER UINT64_MAX

#define EDDY_WS_MAX_SEND_QUEUE_DEFAULT ((size_t)17u * 1024u * 1024u)
#define EDDY_WS_PING_INTERVAL_DEFAULT 30000u     /* ms */
#define EDDY_WS_CLOSE_TIMEOUT_DEFAULT 5000u      /* ms */
#define EDDY_WS_HANDSHAKE_TIMEOUT_DEFAULT 10000u /* ms */
#define EDDY_WS_DEFLATE_THRESHOLD_DEFAULT 64u    /* bytes */
/* Limits on what the config may name. */
#define EDDY_WS_MAX_SUBPROTOCOLS 16
#define EDDY_WS_MAX_HEADERS 32

typedef struct {
  /* Largest message accepted, after decompression (1009 beyond it).
   * Default EDDY_WS_DEFAULT_MAX_MESSAGE (16 MiB). */
  uint64_t max_message;
  /* Largest number of bytes waiting to be written (see SEND QUEUE POLICY).
   * Default EDDY_WS_MAX_SEND_QUEUE_DEFAULT: one 16 MiB message plus room. */
  size_t max_send_queue;
  /* A ping is sent when nothing was received for ping_interval_ms; if then
   * nothing (a pong or anything else) arrives within pong_timeout_ms the TCP
   * connection is aborted (on_close: code 1006, error UV_ETIMEDOUT).
   * Defaults: 30 s, and pong_timeout_ms = ping_interval_ms. EDDY_WS_NEVER
   * as ping_interval_ms disables automatic pings. */
  uint64_t ping_interval_ms;
  uint64_t pong_timeout_ms;
  /* How long to wait for the peer's close frame after ours, and (client)
   * for the server to close TCP after the handshake. Default 5 s. */
  uint64_t close_timeout_ms;
  /* Client: TCP connect plus the opening handshake. Default 10 s. */
  uint64_t handshake_timeout_ms;
  /* Messages longer than this are sent as several frames of at most this
   * many payload bytes (0: never split). Does not apply to
   * eddy_ws_send_message, whose frame is encoded once for everybody. */
  size_t fragment_size;

  /* Subprotocols (Sec-WebSocket-Protocol), NULL-terminated, at most
   * EDDY_WS_MAX_SUBPROTOCOLS, each a token. Server: the ones supported, in
   * order of preference: the first of these the client offered is chosen
   * (none offered or none in common: no subprotocol, the upgrade still
   * succeeds). Client: the ones offered; the server's choice must be one of
   * them. NULL: none. */
  const char *const *subprotocols;

  /* permessage-deflate. Server: accept a client's offer; client: offer it.
   * Off by default (it costs memory and CPU per connection). The server
   * always answers server_no_context_takeover, so one compressed frame can
   * be sent to every receiver (eddy_ws_send_message). */
  int permessage_deflate;
  /* Largest LZ77 window we use to compress (server_max_window_bits for a
   * server, client_max_window_bits for a client), 9..15; default 15. A
   * peer's smaller limit wins. A window of 8 bits cannot be produced by
   * zlib's raw deflate: an offer that requires our compressor to use 8
   * (server_max_window_bits=8) is declined. A client's own window of 8 is
   * fine: our inflater always accepts a 32 KiB window. */
  unsigned deflate_window_bits;
  /* zlib compression level 1..9; 0 means 6 (zlib's default). */
  int deflate_level;
  /* Messages shorter than this are sent uncompressed. Default 64 bytes. */
  size_t deflate_threshold;
  /* Client: ask the server not to keep its compression context
   * (server_no_context_takeover in the offer), which saves the client's
   * inflate window memory between messages. */
  int deflate_request_no_context_takeover;

  /* Server: the Origin values accepted (e.g. "https://example.com"),
   * NULL-terminated, at most 64; compared whole but without regard to case
   * (scheme and host are case-insensitive). A request without Origin (not
   * a browser) is accepted. NULL: any origin. A refused origin gets 403. */
  const char *const *origins;
  /* Client: the Origin header to send (NULL: none). */
  const char *origin;
  /* Client: extra request headers, NULL-terminated "Name: value" strings
   * (at most EDDY_WS_MAX_HEADERS; no CR or LF), e.g. Authorization. */
  const char *const *headers;
} eddy_ws_config_t;

/* ---- Events ------------------------------------------------------------ */

/* How a connection ended, for on_close. */
typedef struct {
  /* The peer's close frame: its code (1005 when it had none), or 1006 when
   * no close frame was received. */
  unsigned code;
  const char *reason; /* the peer's reason (not NUL-terminated), may be "" */
  size_t reason_len;
  /* The code of the close frame we sent (0: none). */
  unsigned sent_code;
  /* 1 when the close handshake completed (both close frames exchanged). */
  int clean;
  /* Why we closed, when it was not the application's or the peer's wish:
   * 0, or UV_EPROTO (a protocol error by the peer; sent_code says which
   * close code it got), UV_EMSGSIZE (a
   * message over max_message), UV_EILSEQ (invalid UTF-8), UV_ENOBUFS (send
   * queue full), UV_ETIMEDOUT (pong or close timeout), UV_ENOMEM, or the
   * transport's error (UV_ECONNRESET, ...). */
  int error;
} eddy_ws_close_info_t;

typedef struct {
  /* The connection is open: sends may start. */
  void (*on_open)(eddy_ws_t *ws, void *arg);
  /* A whole message: opcode EDDY_WS_OP_TEXT (valid UTF-8) or
   * EDDY_WS_OP_BINARY. data is valid during the call only; a text message
   * is NOT NUL-terminated. */
  void (*on_message)(eddy_ws_t *ws, unsigned opcode, const char *data,
                     size_t len, void *arg);
  /* Optional: a ping arrived (it has already been answered) / a pong. */
  void (*on_ping)(eddy_ws_t *ws, const char *data, size_t len, void *arg);
  void (*on_pong)(eddy_ws_t *ws, const char *data, size_t len, void *arg);
  /* Optional: the write queue went above the transport's high-water mark
   * earlier and has now drained below its low-water mark. */
  void (*on_drain)(eddy_ws_t *ws, void *arg);
  /* The connection is gone (see LIFECYCLE). info is valid during the call. */
  void (*on_close)(eddy_ws_t *ws, const eddy_ws_close_info_t *info, void *arg);
} eddy_ws_handlers_t;

/* ---- The server upgrade ------------------------------------------------
 * Call from an HTTP handler. Checks the request (GET, HTTP/1.1, Upgrade:
 * websocket, Connection: upgrade, a 16-byte base64 Sec-WebSocket-Key,
 * Sec-WebSocket-Version 13, the Origin when cfg->origins is set), chooses
 * the subprotocol and negotiates permessage-deflate, answers 101 and hands
 * the connection over (eddy_http_switch_protocol). cfg may be NULL;
 * handlers is required (on_close at least is recommended).
 * Returns 0 and sets *out (may be NULL) to the connection, whose on_open
 * follows on a later loop iteration. On a bad request it answers it itself
 * — 400 with a body saying what is wrong, 426 with "Sec-WebSocket-Version:
 * 13" for another version, 403 for a refused origin — finishes it, and
 * returns UV_EPROTO; UV_EINVAL for a bad cfg (answered 500), UV_ENOMEM.
 * No handler is called when it fails. */
int eddy_ws_accept(eddy_http_request_t *req, const eddy_ws_config_t *cfg,
                   const eddy_ws_handlers_t *handlers, void *arg,
                   eddy_ws_t **out);

/* ---- The client --------------------------------------------------------
 * Connects to url ("ws://host[:port][/path][?query]"; port 80 by default;
 * IPv6 literals in brackets), sends the opening handshake with a random key
 * and checks the 101 response (Sec-WebSocket-Accept, the subprotocol and
 * extension answers). The deferred fires with the connected eddy_ws_t *
 * (not owned by the result: the connection lives until its on_close
 * returns), right after on_open was called; or fails with EDDY_EPARSE (bad
 * url), UV_EPROTONOSUPPORT ("wss:", no TLS yet), UV_EINVAL (bad cfg), the
 * connect error, UV_ETIMEDOUT (cfg.handshake_timeout_ms), or UV_EPROTO (the
 * server did not answer a valid upgrade; the message says why, with the
 * status). When it fails no handler is called. Cancelling it abandons the
 * attempt. Never fires before eddy_ws_connect returns. NULL only when out of
 * memory. */
eddy_deferred_t *eddy_ws_connect(eddy_reactor_t *r, const char *url,
                                 const eddy_ws_config_t *cfg,
                                 const eddy_ws_handlers_t *handlers, void *arg);

/* ---- Attaching to a transport by hand ----------------------------------
 * For tests, fuzzing, and handshakes done elsewhere: builds a connection
 * whose opening handshake is assumed done, with the given negotiated
 * permessage-deflate parameters (NULL: not negotiated). Connect the
 * protocol eddy_ws_protocol() returns to any transport (for example
 * eddy/testing.h's string transport or loopback pair); on_open follows
 * connection_made on a later loop iteration. If the protocol is never
 * connected, free it with eddy_ws_free_unconnected. eddy_ws_new returns 0,
 * UV_EINVAL (bad role, cfg or window bits outside 9..15; handlers
 * required) or UV_ENOMEM. */
typedef struct {
  unsigned server_max_window_bits; /* 9..15: the server's compressor window */
  unsigned client_max_window_bits; /* 9..15: the client's compressor window */
  int server_no_context_takeover;  /* the server resets per message */
  int client_no_context_takeover;  /* the client resets per message */
} eddy_ws_deflate_params_t;

int eddy_ws_new(eddy_reactor_t *r, eddy_ws_role_t role,
                const eddy_ws_config_t *cfg, const eddy_ws_handlers_t *handlers,
                void *arg, const eddy_ws_deflate_params_t *deflate,
                eddy_ws_t **out);
eddy_protocol_t *eddy_ws_protocol(eddy_ws_t *ws);
void eddy_ws_free_unconnected(eddy_ws_t *ws);

/* ---- Sending -----------------------------------------------------------
 * All return 0 (queued), UV_EPIPE (closing or closed), UV_ENOBUFS (see SEND
 * QUEUE POLICY: the connection is being failed), UV_EINVAL (text that is
 * not valid UTF-8, a bad opcode, an over-long control payload), UV_EBUSY
 * (a fragmented message is being streamed: finish it first; control frames
 * are allowed in between), UV_ENOTCONN (no transport yet: a client whose
 * handshake is not done, or eddy_ws_new before connection_made; a server
 * connection may send as soon as eddy_ws_accept returned), UV_ENOMEM.
 * A client masks every frame with a fresh random key. */

/* A whole message; opcode EDDY_WS_OP_TEXT or EDDY_WS_OP_BINARY. Compressed
 * when permessage-deflate was negotiated and len >= deflate_threshold. */
int eddy_ws_send(eddy_ws_t *ws, unsigned opcode, const void *data, size_t len);
int eddy_ws_send_text(eddy_ws_t *ws, const char *text, size_t len);
int eddy_ws_send_binary(eddy_ws_t *ws, const void *data, size_t len);
/* Streams a message in pieces: the first call gives the opcode (TEXT or
 * BINARY) and starts the message, the following ones pass
 * EDDY_WS_OP_CONT; fin = 1 ends it. Each call sends one frame (never
 * compressed). Text is validated across pieces (a piece may end inside a
 * character; the last may not). */
int eddy_ws_send_fragment(eddy_ws_t *ws, unsigned opcode, const void *data,
                          size_t len, int fin);
/* Control frames, payload at most 125 bytes. */
int eddy_ws_ping(eddy_ws_t *ws, const void *data, size_t len);
int eddy_ws_pong(eddy_ws_t *ws, const void *data, size_t len);

/* Starts the close handshake. code 0 sends an empty close frame (reason
 * must then be NULL); otherwise a code eddy_ws_close_code_valid() accepts,
 * and a UTF-8 reason of at most 123 bytes (NULL: none). UV_EINVAL for a bad
 * code or reason, UV_EALREADY when a close was already sent. */
int eddy_ws_close(eddy_ws_t *ws, unsigned code, const char *reason);
/* Drops the connection without a close handshake (on_close: code 1006,
 * error UV_ECONNABORTED). */
void eddy_ws_abort(eddy_ws_t *ws);

/* ---- Inspecting ----------------------------------------------------------*/

/* Bytes queued on the transport, not yet written. */
size_t eddy_ws_buffered(const eddy_ws_t *ws);
/* 1 while the queue is below the transport's high-water mark (and the
 * connection is open), 0 otherwise: wait for on_drain. */
int eddy_ws_writable(const eddy_ws_t *ws);
/* The negotiated subprotocol, or NULL. Owned by ws. */
const char *eddy_ws_subprotocol(const eddy_ws_t *ws);
/* 1 when permessage-deflate was negotiated (and *out, may be NULL, gets
 * the parameters), else 0. */
int eddy_ws_deflate(const eddy_ws_t *ws, eddy_ws_deflate_params_t *out);
eddy_ws_role_t eddy_ws_role(const eddy_ws_t *ws);
eddy_reactor_t *eddy_ws_reactor(const eddy_ws_t *ws);
/* The peer's address (UV_ENOTCONN when unknown). */
int eddy_ws_peer(const eddy_ws_t *ws, eddy_addr_t *out);
/* A pointer for the application, NULL at first (the arg given at creation
 * is passed to every handler separately). */
void eddy_ws_set_data(eddy_ws_t *ws, void *data);
void *eddy_ws_data(const eddy_ws_t *ws);

/* ---- Shared messages (broadcast) ---------------------------------------
 * A message encoded once — the server frame header and the payload in one
 * shared buffer, and lazily (once per window size in use) a compressed
 * frame — and written to any number of server-role connections without
 * copying: each connection's transport takes a reference. A client-role
 * connection (whose frames must be masked per frame) sends a masked copy.
 * Refcounted: the creator holds one reference; unref when done (the bytes
 * live on while transports still hold them). */

/* opcode TEXT (data must be valid UTF-8) or BINARY. Returns 0, UV_EINVAL
 * or UV_ENOMEM; the data is copied. */
int eddy_ws_message_new(unsigned opcode, const void *data, size_t len,
                        eddy_ws_message_t **out);
eddy_ws_message_t *eddy_ws_message_ref(eddy_ws_message_t *m);
void eddy_ws_message_unref(eddy_ws_message_t *m);
unsigned eddy_ws_message_opcode(const eddy_ws_message_t *m);
const char *eddy_ws_message_data(const eddy_ws_message_t *m, size_t *len);
/* Sends m on ws (the codes of eddy_ws_send). Compressed when ws negotiated
 * permessage-deflate and the payload is at least its deflate_threshold.
 * The compressed frame is made once per window size, at the compression
 * level of the first connection that needs it, and shared from then on. */
int eddy_ws_send_message(eddy_ws_t *ws, eddy_ws_message_t *m);

/* ---- Gathering sends (cork) ----------------------------------------
 * Between eddy_ws_cork and eddy_ws_uncork, frames of up to 16 KiB (shared
 * messages included) are gathered in the connection instead of written one
 * by one; uncork writes them with one system call. A hub that delivers many
 * broadcasts to one connection within a loop turn corks it at the first
 * and uncorks it once at the end of the turn. The send queue limit counts
 * what is gathered. Closing or losing the connection writes what was
 * gathered first. eddy_ws_uncork returns 0, or the write's error
 * (UV_ENOBUFS fails the connection with 1008 as any send would). Both are
 * harmless on a connection that is not corked or is closing. */
void eddy_ws_cork(eddy_ws_t *ws);
int eddy_ws_uncork(eddy_ws_t *ws);

/* ---- Handshake building blocks (pure; used by the above, exposed for
 * tests and other front ends) ----------------------------------------- */

/* Sec-WebSocket-Accept is 28 base64 characters. */
#define EDDY_WS_ACCEPT_LEN 28
/* Checks that key is the base64 encoding of 16 bytes (24 characters ending
 * in "=="), then writes base64(SHA-1(key + GUID)) and a NUL into out.
 * Returns 0 or UV_EINVAL. */
int eddy_ws_accept_key(const char *key, char out[EDDY_WS_ACCEPT_LEN + 1]);

/* Server side of RFC 7692 negotiation over one Sec-WebSocket-Extensions
 * value (a comma-separated list of offers; call once per header field, in
 * order, until one is accepted). Picks the first acceptable
 * permessage-deflate offer: returns 1, fills *params and writes the
 * response extension (NUL-terminated) into resp; 0 when nothing acceptable
 * was offered. Other extensions are ignored, and so are permessage-deflate
 * offers the RFC says to decline (an unknown or repeated parameter, a bad
 * value, server_max_window_bits=8 which zlib cannot honour). UV_EINVAL when
 * the value does not follow the header's grammar (the request then gets
 * 400); UV_ENOBUFS when resp_size is too small (128 bytes always suffice).
 * window_bits is our compressor's limit (cfg.deflate_window_bits, 0: 15).
 * Our inflater always uses a 32 KiB window, so the client's window is never
 * limited and client_max_window_bits needs no answer. */
int eddy_ws_deflate_negotiate(const char *value, unsigned window_bits,
                              eddy_ws_deflate_params_t *params, char *resp,
                              size_t resp_size);
/* Client side: the offer to send (NUL-terminated into buf), and the check
 * of the server's answer (the Sec-WebSocket-Extensions value of the 101):
 * 0 and *params filled, or UV_EPROTO when the answer is not a valid answer
 * to our offer. */
int eddy_ws_deflate_offer(unsigned window_bits, int no_context_takeover,
                          char *buf, size_t size);
int eddy_ws_deflate_check_answer(const char *value, unsigned window_bits,
                                 int no_context_takeover,
                                 eddy_ws_deflate_params_t *params);

#ifdef __cplusplus
}
#endif

#endif /* EDDY_WEBSOCKET_H */
