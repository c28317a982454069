/* sockjs_internal.h — what the files of src/sockjs/ share: the endpoint,
 * sessions and receivers (the request or WebSocket currently carrying a
 * session's frames to the client). */
#ifndef EDDY_SOCKJS_INTERNAL_H
#define EDDY_SOCKJS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/reactor_internal.h"
#include "eddy/buffer.h"
#include "eddy/http_server.h"
#include "eddy/sockjs.h"
#include "eddy/websocket.h"

/* The transports, in the order of their names in endpoint.c. */
typedef enum {
  EDDY__SJ_XHR,
  EDDY__SJ_XHR_SEND,
  EDDY__SJ_XHR_STREAMING,
  EDDY__SJ_EVENTSOURCE,
  EDDY__SJ_HTMLFILE,
  EDDY__SJ_JSONP,
  EDDY__SJ_JSONP_SEND,
  EDDY__SJ_WEBSOCKET,
  EDDY__SJ_RAW /* PREFIX/websocket */
} eddy__sj_kind_t;

/* Callback names of jsonp and htmlfile: [A-Za-z0-9_.-]{1,MAX}. */
#define EDDY__SJ_CALLBACK_MAX 256
/* Longest session id taken from a URL. */
#define EDDY__SJ_SESSION_ID_MAX 256
/* Bytes of 'h' written before the first frame of xhr-streaming, and the
 * padding of htmlfile's head: browsers hold back the first bytes of a
 * streamed response otherwise. */
#define EDDY__SJ_XHR_PRELUDE 2048
#define EDDY__SJ_HTMLFILE_PAD 1024

enum {
  EDDY__SJ_CONNECTING,
  EDDY__SJ_OPEN,
  EDDY__SJ_CLOSING, /* the close frame was decided; replayed to pollers */
  EDDY__SJ_CLOSED
};

typedef struct eddy__sj_recv_s {
  eddy__sj_kind_t kind;
  eddy_sockjs_session_t *session; /* NULL when not attached */
  eddy_http_request_t *req;       /* HTTP receivers */
  eddy_ws_t *ws;                  /* WebSocket receivers */
  char *callback;                 /* jsonp, htmlfile */
  size_t sent;                    /* body bytes written (response_limit) */
  int waiting;                    /* for on_writable / on_drain */
} eddy__sj_recv_t;

struct eddy_sockjs_session_s {
  eddy_sockjs_t *sj;
  eddy_sockjs_session_t *prev, *next; /* every session of the endpoint */
  eddy_sockjs_session_t *hnext;       /* hash chain (HTTP sessions) */
  char *id;                           /* NULL for WebSocket sessions */
  int in_table;
  int state;
  int raw;             /* PREFIX/websocket: no framing at all */
  int opened;          /* on_open was called */
  int close_owed;      /* on_close to deliver on the next iteration */
  int close_delivered; /* on_close was called: the application let go */
  int ws_alive;        /* the WebSocket has not reported on_close yet */
  unsigned close_code;
  char *close_reason;
  eddy_buf_t close_frame; /* "c[...]" replayed while CLOSING */
  const char *transport;
  eddy_addr_t peer;
  int has_peer;
  void *data;
  /* Messages waiting for a receiver, already escaped and comma-separated:
   * flushing is "a[" + queue + "]". Bounded by max_queue. */
  eddy_buf_t queue;
  size_t nqueued;
  eddy__sj_recv_t *recv;
  eddy__sj_recv_t wsrecv; /* the WebSocket transports' only receiver */
  eddy_timer_t disconnect;
  eddy_timer_t heartbeat;
  eddy__soon_t soon; /* flush and owed on_close */
  int flush_wanted;
};

struct eddy_sockjs_s {
  eddy_reactor_t *reactor;
  char *prefix;
  size_t prefix_len;
  char *client_url;
  int websocket;
  int jsessionid;
  uint64_t heartbeat_ms;
  uint64_t disconnect_delay_ms;
  size_t response_limit;
  size_t max_message;
  size_t max_queue;
  size_t max_sessions;
  char **origins; /* NULL-terminated, or NULL: any */
  eddy_sockjs_handlers_t h;
  void *arg;

  eddy_sockjs_session_t *sessions; /* list of every session */
  size_t nsessions;                /* structures alive, zombies included */
  eddy_sockjs_session_t **buckets;
  size_t nbuckets; /* a power of two */
  size_t nhashed;
  uint64_t hash_key[2]; /* random: see session.c */

  char *iframe;
  size_t iframe_len;
  char etag[24];

  eddy_sockjs_stats_t stats;
  int closing;
  eddy_call_cb close_cb;
  void *close_arg;
  eddy__soon_t close_soon;
  eddy__soon_t kill_soon; /* eddy_sockjs_close's work, on the next turn */
  int killed;             /* kill_soon ran: the close may finish */
};

/* ---- framing.c ---- */
/* Appends s as a quoted JSON string with SockJS's escapes (invalid UTF-8
 * bytes become \ufffd). */
int eddy__sockjs_escape(eddy_buf_t *out, const char *s, size_t len);
/* Appends a frame as a JSON string safe inside a <script> element (for
 * the jsonp and htmlfile wrappers). */
int eddy__sockjs_quote_frame(eddy_buf_t *out, const char *frame, size_t len);

/* ---- endpoint.c ---- */
/* Access-Control-Allow-Origin (+ -Credentials) for req. */
void eddy__sj_cors(eddy_http_request_t *req);
/* Cache-Control that forbids caching (responses carrying session data). */
void eddy__sj_no_cache(eddy_http_request_t *req);
/* The JSESSIONID cookie, when the endpoint is configured for it. */
void eddy__sj_cookie(eddy_sockjs_t *sj, eddy_http_request_t *req);
/* Answers a 500 with a short text body (the protocol's error style). */
void eddy__sj_error(eddy_http_request_t *req, int status, const char *text);
/* Checks and copies the "c" query parameter of jsonp and htmlfile; answers
 * 500 itself and returns NULL when it is missing or malformed. */
char *eddy__sj_callback(eddy_http_request_t *req);

/* ---- session.c ---- */
/* Finds the HTTP session id, or NULL. */
eddy_sockjs_session_t *eddy__sj_find(eddy_sockjs_t *sj, const char *id);
/* A new session (id NULL: a WebSocket one, kept out of the table). NULL
 * when max_sessions is reached or out of memory. */
eddy_sockjs_session_t *eddy__sj_session_new(eddy_sockjs_t *sj, const char *id,
                                            const char *transport,
                                            eddy_http_request_t *req);
/* Frees a session that never opened (its transport failed to start). */
void eddy__sj_session_discard(eddy_sockjs_session_t *s);
/* Attaches rv as the session's receiver (or answers it with the close
 * frame that applies), sending "o" and calling on_open the first time. */
void eddy__sj_register(eddy_sockjs_session_t *s, eddy__sj_recv_t *rv);
/* The receiver rv has ended: normally (start the disconnect delay) or
 * because the client went away (close the session now). */
void eddy__sj_detach(eddy__sj_recv_t *rv, int interrupted);
/* Hands one message from the client to on_message (when open). */
int eddy__sj_deliver(const char *data, size_t len, void *session);
/* Writes what is queued to the receiver, if it can take it. */
void eddy__sj_flush(eddy_sockjs_session_t *s);
/* Every session ends (endpoint closing). */
void eddy__sj_kill_all(eddy_sockjs_t *sj);
/* Frees the endpoint once it is closing and no session is left. */
void eddy__sj_maybe_finish_close(eddy_sockjs_t *sj);
/* Ends an HTTP receiver that is not (or no longer) attached: finishes its
 * response and frees it. */
void eddy__sj_http_recv_end(eddy__sj_recv_t *rv);
/* Starts an HTTP receiver for req (its head already set up). */
eddy__sj_recv_t *eddy__sj_http_recv_new(eddy_http_request_t *req,
                                        eddy__sj_kind_t kind, char *callback);

/* ---- streaming.c / polling.c / websocket.c ----
 * Each writes one frame to its receiver and returns 1 when that ended the
 * receiver (detached and, for HTTP, finished), else 0. */
int eddy__sj_stream_frame(eddy__sj_recv_t *rv, const char *frame, size_t len);
int eddy__sj_poll_frame(eddy__sj_recv_t *rv, const char *frame, size_t len);
int eddy__sj_ws_frame(eddy__sj_recv_t *rv, const char *frame, size_t len);

void eddy__sj_xhr_streaming(eddy_sockjs_t *sj, eddy_http_request_t *req,
                            const char *sid);
void eddy__sj_eventsource(eddy_sockjs_t *sj, eddy_http_request_t *req,
                          const char *sid);
void eddy__sj_htmlfile(eddy_sockjs_t *sj, eddy_http_request_t *req,
                       const char *sid);
void eddy__sj_xhr(eddy_sockjs_t *sj, eddy_http_request_t *req, const char *sid);
void eddy__sj_jsonp(eddy_sockjs_t *sj, eddy_http_request_t *req,
                    const char *sid);
void eddy__sj_xhr_send(eddy_sockjs_t *sj, eddy_http_request_t *req,
                       const char *sid);
void eddy__sj_jsonp_send(eddy_sockjs_t *sj, eddy_http_request_t *req,
                         const char *sid);
/* raw: PREFIX/websocket. */
void eddy__sj_websocket(eddy_sockjs_t *sj, eddy_http_request_t *req, int raw);
/* Sends the close frame (SockJS) or close handshake on a WebSocket
 * session's connection. */
void eddy__sj_ws_close(eddy_sockjs_session_t *s);

#endif
