/* eddy/http_server.h — an HTTP/1.1 server: connections, requests, responses.
 *
 * A server calls one handler per request (route with eddy/http_router.h).
 * The handler answers at once or later — from a timer, a deferred, another
 * connection — the way Twisted's NOT_DONE_YET works: nothing is sent until
 * it says so, and the request stays valid until it finishes it.
 *
 * CONNECTIONS: keep-alive (HTTP/1.1 by default, HTTP/1.0 with
 * "Connection: keep-alive"); pipelined requests are parsed ahead (up to
 * max_pipeline) and their handlers run strictly one after another, each
 * once the previous response has finished, so responses leave in request
 * order. Responses finished in one loop iteration leave in one write.
 *
 * BODIES: the handler runs once the whole request body is in (Content-Length
 * or chunked, at most limits.max_body — more is answered 413 before it is
 * read). "Expect: 100-continue" is answered with "100 Continue" when the
 * body is about to be read (once the requests ahead of it are answered), or
 * with 413 at once; any other expectation gets 417.
 *
 * TIMEOUTS (each 0 = its default; see the config): a head must arrive
 * within header_timeout_ms of its first byte (408, then close), a body may
 * not stall for body_timeout_ms (408), an idle keep-alive connection (a new
 * one too, until its first byte) is closed after idle_timeout_ms — aborted
 * if answers are still queued, unread by the client. A handler that takes
 * long is not timed: long polls and streams are legitimate.
 *
 * ERRORS the client made (parse errors, limits) get the status
 * eddy_http_error_status() gives, a short text body, "Connection: close",
 * and the connection closes once that is written (after the answers to the
 * requests before the bad one). Bad input never reaches the handler.
 *
 * CLOSING: when the server closes a connection (an error, "Connection:
 * close", a stop) it shuts its write side once everything is written and
 * drains input for up to 2 s (never beyond header_timeout_ms), so that the
 * kernel does not reset the connection under the client's last answer. A
 * client that half-closes still gets the answers to what it sent.
 *
 * OWNERSHIP: the server owns requests. Every string a request accessor
 * returns is NUL-terminated and owned by the request (valid until the
 * response finishes). A request stays valid until eddy_http_finish() (or a
 * one-shot eddy_http_respond*) — even when the client went away before:
 * then writes fail with UV_EPIPE, the on_close callback has been called,
 * and finish only frees. Every request handed to the handler must be
 * finished exactly once (or switched with eddy_http_switch_protocol).
 */
#ifndef EDDY_HTTP_SERVER_H
#define EDDY_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "buffer.h"
#include "endpoint.h"
#include "http_parser.h"
#include "metrics.h"
#include "protocol.h"
#include "reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_http_server_s eddy_http_server_t;
typedef struct eddy_http_request_s eddy_http_request_t;

/* Called once per request, with its body complete. */
typedef void (*eddy_http_handler_cb)(eddy_http_request_t *req, void *arg);

#define EDDY_HTTP_MAX_CONNECTIONS_DEFAULT 10000u
#define EDDY_HTTP_HEADER_TIMEOUT_DEFAULT 30000u /* ms */
#define EDDY_HTTP_BODY_TIMEOUT_DEFAULT 30000u   /* ms */
#define EDDY_HTTP_IDLE_TIMEOUT_DEFAULT 60000u   /* ms */
#define EDDY_HTTP_MAX_PIPELINE_DEFAULT 32u

typedef struct {
  eddy_http_limits_t limits;  /* 0 fields: eddy/http_parser.h defaults */
  size_t max_connections;     /* beyond it new connections are closed */
  uint64_t header_timeout_ms; /* first byte of a head to its end */
  uint64_t body_timeout_ms;   /* longest pause while a body arrives */
  uint64_t idle_timeout_ms;   /* keep-alive connection with nothing to do */
  /* Requests parsed ahead of the current one (and at most 1 MiB of their
   * bodies); beyond, reading pauses until the pipeline drains. */
  size_t max_pipeline;
  /* The Server header: NULL means "eddy/<version>", "" means none; at most
   * 256 bytes without control characters (else UV_EINVAL). */
  const char *server_name;
  /* Log one line per finished request at info level, event "http.access":
   * peer, method, target, status, bytes of body sent, duration in µs,
   * User-Agent; and one line per request the server refuses itself (parse
   * errors, limits, timeouts), event "http.refused": peer, status, the
   * reason sent. */
  int access_log;
  /* Optional registry the service feeds (eddy/metrics.h); it must outlive
   * the service. NULL: no metrics. */
  eddy_metrics_t *metrics;
} eddy_http_server_config_t;

/* cfg may be NULL (all defaults). The handler is required. Returns 0,
 * UV_EINVAL or UV_ENOMEM. */
int eddy_http_server_new(eddy_reactor_t *r,
                         const eddy_http_server_config_t *cfg,
                         eddy_http_handler_cb handler, void *arg,
                         eddy_http_server_t **out);
/* Starts listening on an endpoint string ("tcp:8080:interface=127.0.0.1",
 * "unix:/run/x.sock"). May be called several times. The server owns the
 * listener; *out (may be NULL) lets the caller ask for its port. */
int eddy_http_server_listen(eddy_http_server_t *s, const char *endpoint,
                            eddy_listener_t **out);
/* The factory building the server's connections, to listen by hand or to
 * attach to a test transport. Valid until the server is closed. */
eddy_factory_t *eddy_http_server_factory(eddy_http_server_t *s);
/* Graceful stop: closes the listeners and idle connections, lets requests
 * in progress finish (their connections then close; pipelined requests not
 * yet handed to the handler are dropped), and calls done (may be NULL) on a
 * later iteration once every connection is gone and every request handed
 * to the handler is finished; the server is freed after done returns.
 * Connections still busy after grace_ms are aborted (0: at once), switched
 * ones (WebSocket) included. Calling it again does nothing. */
void eddy_http_server_close(eddy_http_server_t *s, uint64_t grace_ms,
                            eddy_call_cb done, void *arg);

typedef struct {
  uint64_t connections;         /* open now */
  uint64_t connections_total;   /* accepted since start */
  uint64_t connections_refused; /* over max_connections */
  uint64_t requests_total;      /* handed to the handler */
  uint64_t client_errors;       /* answered 4xx/5xx by the server itself */
  uint64_t timeouts;            /* header, body and idle timeouts */
} eddy_http_server_stats_t;
void eddy_http_server_stats(const eddy_http_server_t *s,
                            eddy_http_server_stats_t *out);

/* ---- The request ------------------------------------------------------- */

const char *eddy_http_method(const eddy_http_request_t *req);
/* The request target as sent ("/a%20b?x=1"). */
const char *eddy_http_target(const eddy_http_request_t *req);
/* The path, percent-decoded ("/a b"). A target whose path decodes to a NUL
 * byte, has a bad %-escape, or is not origin-form ("/...", or "*" for
 * OPTIONS, or absolute-form, whose path is then used) is answered 400 before
 * the handler. The path is not normalized: "/a/../b" and "%2F" (a '/') come
 * through as sent, so code mapping paths to files must check segments. */
const char *eddy_http_path(const eddy_http_request_t *req);
/* The raw query after '?', not decoded; "" when none. Parse it with
 * eddy/http_form.h. */
const char *eddy_http_query(const eddy_http_request_t *req);
/* 0 for HTTP/1.0, 1 for HTTP/1.1. */
int eddy_http_version_minor(const eddy_http_request_t *req);
/* The first value of a header (name case-insensitive), or NULL. */
const char *eddy_http_header(const eddy_http_request_t *req, const char *name);
/* Every header in order: returns 0 and sets *name / *value for i below the
 * count, UV_ENOENT past the end. */
size_t eddy_http_header_count(const eddy_http_request_t *req);
int eddy_http_header_at(const eddy_http_request_t *req, size_t i,
                        const char **name, const char **value);
/* The body (chunked bodies decoded). Never NULL; *len may be 0. Followed by
 * a NUL byte that is not part of it. */
const char *eddy_http_body(const eddy_http_request_t *req, size_t *len);
/* The client's address (0 or UV_ENOTCONN when unknown). */
int eddy_http_peer(const eddy_http_request_t *req, eddy_addr_t *out);
eddy_reactor_t *eddy_http_reactor(const eddy_http_request_t *req);
eddy_http_server_t *eddy_http_request_server(const eddy_http_request_t *req);
/* Named parameters attached by a router (eddy/http_router.h): a copy of
 * name and value is kept; a repeated name replaces. */
int eddy_http_set_param(eddy_http_request_t *req, const char *name,
                        const char *value);
const char *eddy_http_param(const eddy_http_request_t *req, const char *name);
/* A pointer for the handler. */
void eddy_http_set_data(eddy_http_request_t *req, void *data);
void *eddy_http_data(const eddy_http_request_t *req);

/* Called once if the connection is lost before the response finished (the
 * handler should then stop producing and call eddy_http_finish). Not called
 * after a normal finish. */
typedef void (*eddy_http_close_cb)(eddy_http_request_t *req, int reason,
                                   void *arg);
void eddy_http_on_close(eddy_http_request_t *req, eddy_http_close_cb cb,
                        void *arg);
/* For long-lived responses (long polls, event streams): the client's EOF
 * ends this request's connection — it is aborted and on_close is called —
 * instead of counting as a half-close that still waits for the answer.
 * Browsers and proxies close both directions when they give up, and a
 * held response would otherwise only notice at its next write. */
void eddy_http_close_on_eof(eddy_http_request_t *req);

/* ---- The response ------------------------------------------------------
 * Set the status and headers, then either answer in one call
 * (eddy_http_respond*) or stream: eddy_http_write* any number of times, then
 * eddy_http_finish. The head is sent with the first write (or at finish).
 * Streaming without a Content-Length header uses chunked coding for
 * HTTP/1.1 clients and close-delimited bodies for HTTP/1.0. The server sets
 * Date (cached, refreshed once a second), Server, Content-Length or
 * Transfer-Encoding, and Connection itself. Responses to HEAD and 204/304
 * send the head only: the body a handler writes is counted and dropped. */

/* Default 200; reason NULL means the standard phrase. UV_EINVAL for a
 * status outside 100..999 (1xx other than 101 are refused: the server sends
 * 100 Continue itself) or a reason with a control character or longer than
 * 256 bytes, UV_EALREADY once the head was sent. 101 is only sent by
 * eddy_http_switch_protocol: finished any other way it becomes a 500. */
int eddy_http_set_status(eddy_http_request_t *req, int status,
                         const char *reason);
/* Adds a header (repeatable, e.g. Set-Cookie). UV_EINVAL for a name that is
 * not a token or a value with a control character other than HTAB (CR, LF);
 * UV_EALREADY after the head was sent; UV_ENOBUFS past 64 KiB of headers.
 * Framing headers are the server's: Transfer-Encoding is refused
 * (UV_EINVAL); Content-Length (digits only) declares the length of a
 * streamed body; Connection is not sent as given — a value listing "close"
 * makes the connection close after this response. */
int eddy_http_add_header(eddy_http_request_t *req, const char *name,
                         const char *value);
/* Replaces every header of that name (case-insensitive) by one. */
int eddy_http_set_header(eddy_http_request_t *req, const char *name,
                         const char *value);

/* One-shot answers: status, Content-Type (NULL: none), body; then finished.
 * _slice takes a new reference to body and sends it without copying.
 * They ALWAYS finish the request (it is freed when they return), whatever
 * they return: 0; UV_EPIPE when the connection is gone; UV_EALREADY when a
 * head was already sent (the streamed response is finished instead);
 * UV_EINVAL for a bad status or Content-Type (a 500 is sent instead, so the
 * client is not left waiting). A length the handler declared with a
 * Content-Length header is replaced by the body's. */
int eddy_http_respond(eddy_http_request_t *req, int status,
                      const char *content_type, const void *body, size_t len);
int eddy_http_respond_slice(eddy_http_request_t *req, int status,
                            const char *content_type, eddy_slice_t *body);
/* A standard error page: status, "text/plain; charset=utf-8", the reason
 * phrase (and detail, when not NULL) as body. Finishes. */
int eddy_http_respond_error(eddy_http_request_t *req, int status,
                            const char *detail);

/* Streaming. Returns 0, UV_EPIPE (connection gone) or UV_ENOBUFS (the
 * transport's hard cap; the connection is aborted). Writes never block:
 * watch eddy_http_writable() / eddy_http_on_writable() to respect
 * backpressure. A body longer than a declared Content-Length is an error
 * (UV_EINVAL, nothing written). */
int eddy_http_write(eddy_http_request_t *req, const void *data, size_t len);
int eddy_http_write_slice(eddy_http_request_t *req, eddy_slice_t *s);
/* Ends the response. With a declared Content-Length not fully written the
 * connection is closed after it (the client sees a short body). Frees the
 * request. Returns 0, or UV_EPIPE when the connection was gone (the request
 * is freed all the same). */
int eddy_http_finish(eddy_http_request_t *req);

/* Gives up on a response that cannot be completed (its source failed
 * half-way): the connection is aborted at once, so the client sees an
 * incomplete response — a chunked stream without its last chunk, a short
 * body — instead of one that looks whole. Frees the request, like finish;
 * nothing more is read from that connection. The abort drops whatever the
 * connection had not yet written, earlier pipelined answers finished in
 * the same loop iteration included (their clients see the reset too). */
void eddy_http_abort(eddy_http_request_t *req);

/* Backpressure: whether the connection's output (the transport's queue
 * plus what the server gathered this iteration) is below its high water
 * mark; and a callback for each time it drains below the low mark while
 * this request is the one being answered (NULL removes it). After
 * eddy_http_writable() said no, the callback is always owed: it comes once
 * the output drains, whether the socket had to wait or took it at once. */
int eddy_http_writable(const eddy_http_request_t *req);
typedef void (*eddy_http_writable_cb)(eddy_http_request_t *req, void *arg);
void eddy_http_on_writable(eddy_http_request_t *req, eddy_http_writable_cb cb,
                           void *arg);
/* Whether the head was already sent. */
int eddy_http_head_sent(const eddy_http_request_t *req);

/* ---- Protocol switch (WebSocket) ---------------------------------------
 * Sends "101 Switching Protocols" with the headers set so far, then gives
 * the connection to p: p->connection_made(transport), then data_received
 * with any bytes that followed this request, and from then on every event.
 * The server writes "Connection: upgrade"; the handler sets Upgrade and
 * the protocol's own headers before. Bytes that arrive after an upgrade
 * request are not parsed as HTTP until its handler answered it normally.
 * The request is freed; the server no longer counts the connection as HTTP
 * (it still counts in max_connections until it closes: to see that, the
 * server sets p's lost_hook, which p must leave alone). On success p owns
 * the connection. UV_EINVAL when the request did not ask for an upgrade
 * (eddy_http_wants_upgrade) or is not the current one; UV_EALREADY once a
 * head was sent; UV_EPIPE when the connection is gone. On error the request
 * is still the caller's to answer. */
int eddy_http_wants_upgrade(const eddy_http_request_t *req);
int eddy_http_switch_protocol(eddy_http_request_t *req, eddy_protocol_t *p);

/* The standard reason phrase for a status ("Not Found"); "Unknown" else. */
const char *eddy_http_status_text(int status);

/* Writes t (seconds since the epoch, UTC) as an IMF-fixdate ("Sun, 06 Nov
 * 1994 08:49:37 GMT", the format of Date and Last-Modified) into buf, with a
 * NUL. Returns its length (29), or UV_EINVAL when size is below
 * EDDY_HTTP_DATE_SIZE or the year is outside 0..9999. */
#define EDDY_HTTP_DATE_SIZE 30
int eddy_http_date_format(int64_t t, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif
