/* eddy/http_client.h — an asynchronous HTTP/1.1 client with a keep-alive
 * connection pool.
 *
 * A request returns a deferred that fires with the response, its body read
 * into memory — or, with a body callback, fires once the body has been
 * streamed to that callback piece by piece. Host names are resolved
 * asynchronously (libuv's thread pool, through eddy_connect): nothing here
 * blocks the loop.
 *
 * CONNECTIONS are pooled per host:port. At most max_per_host are open to one
 * host at a time. Requests wait for a connection in a FIFO queue of at most
 * max_queue_per_host (counting those whose connect is under way; beyond it
 * they fail with UV_ENOBUFS); a connect is started for a waiting request
 * while the host is under its limit. A finished response leaves its
 * connection idle in the pool (at most max_idle in all) unless either side
 * asked to close it; an idle connection is closed after
 * pool_idle_timeout_ms, or at once when the server closes it or sends
 * anything unasked. When a
 * reused connection turns out to have been closed by the server before any
 * byte of the response arrived, an idempotent request (GET, HEAD, PUT,
 * DELETE, OPTIONS, TRACE) is retried once, first in the host's queue; the
 * host's other idle connections are closed (likely stale too), so it goes
 * out on a new connection or on one that has just delivered a response.
 * There is no pipelining: one request at a time per connection.
 *
 * REQUESTS are sent as HTTP/1.1 with Host, User-Agent, Content-Length when
 * there is a body (or the method is POST, PUT or PATCH), and the caller's
 * headers. The client owns the message's framing: Host, Content-Length,
 * Transfer-Encoding, Connection, Keep-Alive, Upgrade and TE may not be
 * given. A fragment in the URL is not sent.
 *
 * RESPONSES are parsed strictly (eddy/http_parser.h in response mode):
 * Content-Length, chunked and close-delimited bodies; HEAD, 204 and 304 have
 * none; interim 1xx responses are skipped (101 is an error: no upgrades
 * here; see eddy/websocket.h). Limits: the head (limits.max_line,
 * max_headers, max_head) and the body (limits.max_body, default 16 MiB,
 * also for streamed bodies).
 *
 * TIMEOUTS (0 in the config means the default; per-request fields override):
 *  - connect_timeout_ms: resolving plus connecting (default 10 s);
 *  - response_timeout_ms: from the request handed to the connection to the
 *    response's head complete (default 30 s);
 *  - read_timeout_ms: the longest pause while the body arrives (default
 *    30 s; the clock stops while a streaming caller paused);
 *  - request_timeout_ms: the whole request, from the call to the last body
 *    byte, including queueing and redirects (default: none).
 * A timeout fails the request with UV_ETIMEDOUT and a message naming it
 * ("response timeout after 5000 ms") and closes its connection.
 *
 * REDIRECTS are followed when the request asks (max_redirects > 0): 301,
 * 302 and 303 continue with GET and no body (HEAD stays HEAD; 301 and 302
 * keep any method but POST), 307 and 308 repeat the method and body. The
 * Location is resolved against the current URL (eddy/url.h); Authorization
 * and Cookie headers are dropped when the host or port changes. One
 * redirect more than allowed fails with UV_ELOOP ("too many redirects
 * (N)"). A redirect without a Location is returned as the response; a
 * Location that is not a valid http:// URL fails with its parse error.
 *
 * ERRORS: the deferred fails with a negative code and a clear message, for
 * example "connect to 127.0.0.1:80: connection refused", "response timeout
 * after 5000 ms", "malformed response: invalid status code",
 * "connection closed before the response ended" (UV_EOF), "bad URL: ...".
 * Malformed responses fail with EDDY_EPARSE.
 *
 * CANCELLING a request's deferred stops it: a queued request leaves the
 * queue, one in progress closes its connection. The deferred then fails
 * with UV_ECANCELED.
 *
 * OWNERSHIP: the client is library-owned (new, then close). A request's
 * options and everything they point to are copied before
 * eddy_http_client_request returns. The response is owned by the deferred's
 * result (freed with it) unless a callback takes it with eddy_result_take(),
 * after which eddy_http_response_free() is the taker's job. Every string in
 * a response is NUL-terminated and lives as long as the response.
 *
 * CALLBACKS are never called from inside the call that started the
 * operation: even a request refused at once (a bad URL) fails its deferred
 * on a later iteration.
 */
#ifndef EDDY_HTTP_CLIENT_H
#define EDDY_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "deferred.h"
#include "http_parser.h"
#include "reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_http_client_s eddy_http_client_t;

#define EDDY_HTTP_CLIENT_MAX_PER_HOST_DEFAULT 8u
#define EDDY_HTTP_CLIENT_MAX_QUEUE_DEFAULT 1024u
/* Idle connections, all hosts together. */
#define EDDY_HTTP_CLIENT_MAX_IDLE_DEFAULT 256u
/* Requests in flight (queued or running), all hosts together. */
#define EDDY_HTTP_CLIENT_MAX_REQUESTS_DEFAULT 100000u
#define EDDY_HTTP_CLIENT_CONNECT_TIMEOUT_DEFAULT 10000u /* ms */
#define EDDY_HTTP_CLIENT_RESPONSE_TIMEOUT_DEFAULT 30000u
#define EDDY_HTTP_CLIENT_READ_TIMEOUT_DEFAULT 30000u
#define EDDY_HTTP_CLIENT_POOL_IDLE_TIMEOUT_DEFAULT 30000u
/* The most headers a request may carry, and their bytes. */
#define EDDY_HTTP_CLIENT_MAX_REQUEST_HEADERS 100u
#define EDDY_HTTP_CLIENT_MAX_REQUEST_HEAD 65536u
/* The largest request body (it is copied and queued whole). */
#define EDDY_HTTP_CLIENT_MAX_REQUEST_BODY ((size_t)64u * 1024u * 1024u)

typedef struct {
  eddy_http_limits_t limits; /* for responses; 0 fields: parser defaults */
  size_t max_per_host;       /* open connections to one host:port */
  size_t max_queue_per_host; /* requests waiting for one host:port */
  size_t max_idle;           /* idle pooled connections, all hosts */
  size_t max_requests;       /* requests in flight, all hosts */
  uint64_t connect_timeout_ms;
  uint64_t response_timeout_ms;
  uint64_t read_timeout_ms;
  uint64_t request_timeout_ms; /* 0: none */
  uint64_t pool_idle_timeout_ms;
  /* The User-Agent header: NULL means "eddy/<version>", "" means none. */
  const char *user_agent;
} eddy_http_client_config_t;

/* cfg may be NULL (all defaults); it is copied. Returns 0, UV_EINVAL (r or
 * out NULL, connect_timeout_ms over a day, a User-Agent with control
 * characters) or UV_ENOMEM. */
int eddy_http_client_new(eddy_reactor_t *r,
                         const eddy_http_client_config_t *cfg,
                         eddy_http_client_t **out);
/* On the next iteration, fails every request not finished yet with
 * UV_ECANCELED ("client closed") and closes every connection; once all are
 * gone it frees the client and then calls done (may be NULL). Requests
 * made between this call and done fail with UV_ECANCELED; after done the
 * client no longer exists. Call it once (a second call is ignored). */
void eddy_http_client_close(eddy_http_client_t *c, eddy_call_cb done,
                            void *arg);

/* ---- The response ------------------------------------------------------ */

typedef struct eddy_http_response_s eddy_http_response_t;

/* The public fields are read-only. */
struct eddy_http_response_s {
  int status;         /* 100..999 */
  int version_minor;  /* HTTP/1.<version_minor> */
  const char *reason; /* may be "" */
  const char *body;   /* never NULL; followed by a NUL not in body_len;
                         "" when the body was streamed */
  size_t body_len;
  const char *url;    /* the URL finally answered (after redirects) */
  unsigned redirects; /* how many were followed */
  /* private */
  void *priv_;
};

/* The first value of a header (name case-insensitive), or NULL. */
const char *eddy_http_response_header(const eddy_http_response_t *resp,
                                      const char *name);
size_t eddy_http_response_header_count(const eddy_http_response_t *resp);
/* Sets *name and *value of header i (in order); UV_ENOENT past the end. */
int eddy_http_response_header_at(const eddy_http_response_t *resp, size_t i,
                                 const char **name, const char **value);
/* Frees a response taken out of a deferred's result (NULL is fine). */
void eddy_http_response_free(void *resp);

/* ---- Streaming the body ------------------------------------------------
 * With on_body set, the body is not kept: after on_head (optional) has seen
 * the final response's head, each piece of the body is given to on_body as
 * it arrives (data valid during the call only), and the deferred fires with
 * the response (body "") once the body is complete. on_body returns 0 to go
 * on or a negative error to stop: the request then fails with that error
 * ("body callback: ..."). Redirect responses are not streamed.
 *
 * The response given to on_head and on_body is the one the deferred will
 * fire with: it belongs to the request until then, to the deferred's result
 * after a success, and is freed at once after a failure — do not keep the
 * pointer past the deferred's callbacks.
 *
 * BACKPRESSURE: eddy_http_response_pause() (from on_head, on_body, or any
 * time before the deferred fires) stops on_body calls and reading from the
 * connection until eddy_http_response_resume(), which delivers what was
 * held back on a later iteration; the read timeout does not run while
 * paused. Both answer 0, or UV_EINVAL after a success (the response is
 * then in the deferred's result). */
typedef void (*eddy_http_head_cb)(eddy_http_response_t *resp, void *arg);
typedef int (*eddy_http_body_cb)(eddy_http_response_t *resp, const char *data,
                                 size_t len, void *arg);
int eddy_http_response_pause(eddy_http_response_t *resp);
int eddy_http_response_resume(eddy_http_response_t *resp);

/* ---- Requests ---------------------------------------------------------- */

typedef struct {
  const char *name;
  const char *value;
} eddy_http_client_header_t;

typedef struct {
  const char *method; /* a token; NULL means "GET" */
  const char *url;    /* absolute http:// URL (eddy/url.h) */
  const eddy_http_client_header_t *headers; /* may be NULL when none */
  size_t num_headers;
  const void *body; /* copied; may be NULL when body_len is 0 */
  size_t body_len;
  unsigned max_redirects; /* 0: redirects are returned as responses */
  /* 0: the client's config; otherwise this request's own timeouts. */
  uint64_t response_timeout_ms;
  uint64_t read_timeout_ms;
  uint64_t request_timeout_ms;
  /* Streaming (see above); on_body NULL means a buffered body. */
  eddy_http_head_cb on_head;
  eddy_http_body_cb on_body;
  void *arg;
} eddy_http_client_req_t;

/* Starts a request. Returns its deferred (fires with an
 * eddy_http_response_t *, see OWNERSHIP; cancellable), or NULL only when out
 * of memory (or c or opts is NULL). Invalid options (bad URL, method,
 * header; a forbidden header; a body over EDDY_HTTP_CLIENT_MAX_REQUEST_BODY;
 * a ws:// URL, which is eddy_ws_connect's) fail the deferred on the next
 * iteration with UV_EINVAL, EDDY_EPARSE, UV_EPROTONOSUPPORT (https) or
 * UV_E2BIG (a request head over 64 KiB) and a message saying which; so do
 * requests beyond
 * max_requests (UV_ENOBUFS) and requests made after eddy_http_client_close
 * (UV_ECANCELED). */
eddy_deferred_t *eddy_http_client_request(eddy_http_client_t *c,
                                          const eddy_http_client_req_t *opts);
/* A GET with the defaults: eddy_http_client_request with only url set. */
eddy_deferred_t *eddy_http_get(eddy_http_client_t *c, const char *url);

typedef struct {
  uint64_t requests_total;     /* started */
  uint64_t connections_opened; /* successful connects */
  uint64_t connections_reused; /* requests sent on a pooled connection */
  uint64_t retries;            /* stale pooled connections retried */
  size_t connections_open;     /* open now (busy or idle) */
  size_t connections_idle;     /* idle in the pool now */
  size_t requests_queued;      /* waiting for a connection now */
} eddy_http_client_stats_t;
void eddy_http_client_stats(const eddy_http_client_t *c,
                            eddy_http_client_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
