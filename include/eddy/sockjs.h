/* eddy/sockjs.h — a SockJS server (protocol 0.3.3, as spoken by the npm
 * `sockjs-client` 1.x): sessions that carry text messages over WebSocket or,
 * when a browser cannot use one, over HTTP (xhr-streaming, xhr-polling,
 * eventsource, htmlfile, jsonp-polling), plus the raw WebSocket endpoint.
 *
 * An endpoint (eddy_sockjs_t, library-owned) serves every URL under its
 * prefix through one HTTP handler:
 *   PREFIX[/]                                 greeting
 *   PREFIX/info                               options (websocket, cookie
 *                                             needed, origins, entropy)
 *   PREFIX/iframe[...].html                   the iframe page
 *   PREFIX/SERVER/SESSION/TRANSPORT           sessions
 *   PREFIX/websocket                          raw WebSocket (no framing)
 * with the protocol's heartbeats, session timeouts (disconnect_delay),
 * streaming response limits, CORS rules (the request's Origin echoed with
 * credentials), cache headers, and the JSESSIONID cookie when asked.
 *
 * A session (eddy_sockjs_session_t) is library-owned: it exists from
 * on_open to on_close and must not be used once on_close returned. Messages
 * the application sends while no receiving request is attached wait in the
 * session's queue (bounded: max_queue bytes; over it the session is
 * closed with code 4008 "send queue full" and on_close follows); sends of
 * one loop turn leave in one frame. A session has at most one receiving
 * request at a time: another one gets c[2010,"Another connection still
 * open"]. After a close the endpoint keeps the session's id for
 * disconnect_delay_ms and answers every poll with the same close frame
 * (the application no longer sees it). WebSocket sessions are not looked
 * up by id: each connection is its own session.
 *
 * LIMITS: a message over max_message is answered 413 (xhr_send,
 * jsonp_send) or closes the WebSocket with 1009; past max_sessions a new
 * session gets c[1013,"Too many sessions"] (HTTP) or 503 (WebSocket); a
 * request whose Origin is not in origins gets 403.
 *
 * OWNERSHIP: strings in the config are copied by eddy_sockjs_new. Data
 * passed to on_message is valid during the call only. eddy_sockjs_send
 * copies.
 *
 * The pure framing helpers at the end are what the server is built on,
 * exposed for tests and fuzzing.
 */
#ifndef EDDY_SOCKJS_H
#define EDDY_SOCKJS_H

#include <stddef.h>
#include <stdint.h>

#include "buffer.h"
#include "endpoint.h"
#include "http_server.h"
#include "reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_sockjs_s eddy_sockjs_t;
typedef struct eddy_sockjs_session_s eddy_sockjs_session_t;

typedef struct {
  const char *prefix; /* "/sockjs"; no trailing slash */
  /* The sockjs-client URL the iframe page loads (iframe-based transports
   * need it; the page and the client must be the same version).
   * Default: "https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js"
   */
  const char *client_url;
  int websocket;         /* offer WebSocket transports; 1 */
  int jsessionid;        /* set JSESSIONID (for sticky load balancers); 0 */
  uint64_t heartbeat_ms; /* "h" frame after this much silence; 25000 */
  /* A session with no receiving request for this long is closed; 5000. */
  uint64_t disconnect_delay_ms;
  /* Bytes of frames one streaming response carries (its prelude not
   * counted) before it is finished so the browser can let go of its memory
   * (the client opens another); 128 KiB. */
  size_t response_limit;
  size_t max_message;  /* bytes of one incoming message; 64 KiB */
  size_t max_queue;    /* bytes queued to one session; 1 MiB */
  size_t max_sessions; /* 100000 */
  /* Allowed Origin values (copied; NULL: any, and CORS answers "*" when
   * the request has no Origin). */
  const char *const *origins;
} eddy_sockjs_config_t;

void eddy_sockjs_config_init(eddy_sockjs_config_t *c);

typedef struct eddy_sockjs_handlers_s {
  void (*on_open)(eddy_sockjs_session_t *s, void *arg);
  /* One message (a string sent by the client; any UTF-8 text). */
  void (*on_message)(eddy_sockjs_session_t *s, const char *data, size_t len,
                     void *arg);
  /* The session is over: code/reason as sent in the close frame (the
   * application's code from eddy_sockjs_close_session, 4008 when its queue
   * overflowed, 1001 when the endpoint closed), or 1002 "Connection
   * interrupted" when the client went away or timed out, 1000 when a
   * WebSocket client closed cleanly. Called on a later loop iteration than
   * the call that closed it. */
  void (*on_close)(eddy_sockjs_session_t *s, unsigned code, const char *reason,
                   void *arg);
} eddy_sockjs_handlers_t;

/* cfg may be NULL (defaults); h is required (any handler may be NULL).
 * Returns 0, UV_EINVAL (bad config: prefix not starting with '/' or ending
 * with one, zero limits, a client_url with a quote, '<', '>', '&' or a
 * control character, more than 64 origins), UV_EIO (no randomness for the
 * session table's hash key) or UV_ENOMEM. */
int eddy_sockjs_new(eddy_reactor_t *r, const eddy_sockjs_config_t *cfg,
                    const eddy_sockjs_handlers_t *h, void *arg,
                    eddy_sockjs_t **out);
/* Closes every session (code 1001 "server stopping"; on_close for each),
 * then frees the endpoint; cb (may be NULL) on a later loop iteration.
 * New requests are refused at once; the sessions are closed on the next
 * loop iteration, so it may be called from any handler (a session's
 * on_close included). */
void eddy_sockjs_close(eddy_sockjs_t *sj, eddy_call_cb cb, void *arg);

/* The HTTP handler (arg: the eddy_sockjs_t) for PREFIX and everything
 * under it; route both "PREFIX" and "PREFIX/ *path" to it. */
void eddy_sockjs_handler(eddy_http_request_t *req, void *sj);

/* Queues a message (UTF-8 text; invalid bytes reach the client as
 * U+FFFD). 0, UV_EPIPE (closing or closed), UV_ENOBUFS (over max_queue:
 * the session is being closed with 4008), UV_EINVAL (data NULL with len,
 * or invalid UTF-8 on the raw WebSocket endpoint), UV_ENOMEM. */
int eddy_sockjs_send(eddy_sockjs_session_t *s, const char *data, size_t len);
/* Sends what is queued (when a receiver can take it), then the close frame
 * with code (1000, or 3000..4999; any other becomes 1000) and reason (cut
 * to 123 bytes), and ends the session; on_close follows on a later loop
 * iteration. Does nothing on a session already closing. */
void eddy_sockjs_close_session(eddy_sockjs_session_t *s, unsigned code,
                               const char *reason);
/* Bytes queued in the session and not yet written to a client. */
size_t eddy_sockjs_buffered(const eddy_sockjs_session_t *s);
/* "websocket", "xhr-streaming", ... : the transport of the request that
 * opened the session ("websocket-raw" for PREFIX/websocket). */
const char *eddy_sockjs_transport(const eddy_sockjs_session_t *s);
/* The address of the client that opened the session. */
int eddy_sockjs_peer(const eddy_sockjs_session_t *s, eddy_addr_t *out);
void eddy_sockjs_set_data(eddy_sockjs_session_t *s, void *data);
void *eddy_sockjs_data(const eddy_sockjs_session_t *s);

typedef struct {
  uint64_t sessions;       /* open now */
  uint64_t sessions_total; /* opened since the start */
  uint64_t messages_in_total;
  uint64_t messages_out_total;
} eddy_sockjs_stats_t;
void eddy_sockjs_stats(const eddy_sockjs_t *sj, eddy_sockjs_stats_t *out);

/* ---- Framing (pure) ------------------------------------------------------
 * Frames: "o" open, "h" heartbeat, "a[...]" messages (a JSON array of
 * strings), "c[code,\"reason\"]" close. */

/* Appends an "a" frame holding msgs[0..n) (each JSON-escaped as SockJS
 * requires: besides JSON's own escapes, the characters browsers mangle —
 * U+0000..U+001F, U+007F..U+009F, U+200C..U+200F, U+2028..U+202F,
 * U+2060..U+206F, U+FFF0..U+FFFF — are written as lowercase \uXXXX; a
 * byte that is not valid UTF-8 is written as \ufffd). Returns 0,
 * UV_ENOMEM, or UV_ENOBUFS past out's maximum (out is then unchanged). */
int eddy_sockjs_encode_messages(eddy_buf_t *out, const char *const *msgs,
                                const size_t *lens, size_t n);
/* Appends c[code,"reason"] (reason NULL: ""). Errors as above. */
int eddy_sockjs_encode_close(eddy_buf_t *out, unsigned code,
                             const char *reason);

/* Parses what a client sends: a JSON array of strings (xhr_send, the
 * WebSocket transport) or a single JSON string (also accepted on
 * WebSocket). Calls cb for each message, in order, with the decoded UTF-8
 * text (NUL-terminated, the NUL not counted; a lone surrogate escape
 * decodes to U+FFFD, so the text is always valid UTF-8). Returns 0, or
 * EDDY_EPARSE (not such JSON, or raw bytes that are not UTF-8; no callback
 * is made for a malformed input — it is checked whole first), UV_E2BIG (a
 * message decodes to more than max_message bytes; no callback either),
 * UV_ENOMEM, or the first nonzero value cb returned (which stops it). */
typedef int (*eddy_sockjs_message_cb)(const char *data, size_t len, void *arg);
int eddy_sockjs_decode_messages(const char *body, size_t len,
                                size_t max_message, eddy_sockjs_message_cb cb,
                                void *arg);

#ifdef __cplusplus
}
#endif

#endif
