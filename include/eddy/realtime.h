/* eddy/realtime.h — the real-time hub: channels, presence, bounded history
 * with offsets and recovery, publishing from clients and from backends.
 *
 * The wire protocol (JSON messages over WebSocket or a SockJS session) is
 * specified in docs/protocol/realtime.md. This header is the C side:
 *
 *   hub          eddy_rt_t, library-owned (eddy_rt_new / eddy_rt_close).
 *   namespaces   the part of a channel name before the first ':' ("chat"
 *                in "chat:lobby"; "" for names without ':') picks the
 *                rules: history size and age, presence, join/leave events,
 *                whether clients may publish. The namespace "eddy" is the
 *                server's own (eddy:metrics, ...): clients may subscribe,
 *                only the server publishes.
 *   clients      one per connection, on any transport. WebSocket clients
 *                come through eddy_rt_accept_ws (an HTTP handler); any
 *                other transport (SockJS) attaches with eddy_rt_attach and
 *                a small table of functions.
 *   history      each channel has an epoch (a random string naming this
 *                incarnation of its history) and offsets 1, 2, 3, ... per
 *                publication. A client that saw (epoch, offset) gets every
 *                later publication on resubscribe if they are all still in
 *                history, or `"recovered": false` — never a partial replay.
 *
 * BROADCAST: a publication is encoded once (one eddy_ws_message_t shared
 * by every WebSocket subscriber); deliveries to one client within a loop
 * turn are gathered into one write (eddy_ws_cork). Each client's queued
 * bytes are bounded (opts.max_send_queue): a client over it is closed with
 * code 4008 "send queue full" and can recover on reconnect.
 *
 * THREADS: a hub belongs to its reactor's thread.
 */
#ifndef EDDY_REALTIME_H
#define EDDY_REALTIME_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "endpoint.h"
#include "http_server.h"
#include "metrics.h"
#include "reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_rt_s eddy_rt_t;
typedef struct eddy_rt_client_s eddy_rt_client_t;

#define EDDY_RT_CHANNEL_MAX 255  /* bytes in a channel name */
#define EDDY_RT_NAMESPACE_MAX 63 /* bytes in a namespace name */
#define EDDY_RT_EPOCH_LEN 16     /* hex characters of an epoch */
#define EDDY_RT_MAX_NAMESPACES 64

/* Close codes sent to clients (WebSocket close frames, SockJS "c" frames). */
#define EDDY_RT_CLOSE_BAD_REQUEST 4000     /* malformed or unknown message */
#define EDDY_RT_CLOSE_UNAUTHORIZED 4001    /* bad or expired token */
#define EDDY_RT_CLOSE_CONNECT_TIMEOUT 4002 /* no connect when one is needed */
#define EDDY_RT_CLOSE_LIMIT 4003           /* SockJS session not taken */
#define EDDY_RT_CLOSE_SHUTDOWN 4004        /* the server is stopping */
#define EDDY_RT_CLOSE_SLOW 4008            /* send queue full */

/* ---- Namespaces --------------------------------------------------------*/
typedef struct {
  char name[EDDY_RT_NAMESPACE_MAX + 1]; /* "" = channels without ':' */
  size_t history_size;     /* publications kept; 0 = none (no recovery) */
  uint64_t history_ttl_ms; /* oldest kept; 0 = no age limit */
  int presence;            /* presence queries answered */
  int join_leave;          /* join/leave events pushed to subscribers */
  int publish;             /* clients may publish (backends always can) */
} eddy_rt_namespace_t;

/* Defaults for a namespace called name: history 100 for 5 minutes,
 * presence and join/leave on, client publish off. */
void eddy_rt_namespace_init(eddy_rt_namespace_t *ns, const char *name);

/* Parses a namespace spec, the value of eddyd's `namespace` setting:
 *   NAME [history=N] [ttl=DURATION] [presence=yes|no] [join_leave=yes|no]
 *        [publish=yes|no]
 * NAME is [A-Za-z0-9_.-]+ or "default" (meaning ""); DURATION is digits
 * with an optional ms, s, m or h suffix (seconds without one). Options not
 * given keep eddy_rt_namespace_init's defaults. Pure. Returns 0, or -1
 * with a message in err naming what is wrong. */
int eddy_rt_namespace_parse(const char *spec, eddy_rt_namespace_t *out,
                            char *err, size_t errlen);
/* Writes ns back as a spec eddy_rt_namespace_parse accepts. */
int eddy_rt_namespace_format(const eddy_rt_namespace_t *ns, char *buf,
                             size_t size);

/* ---- The hub -----------------------------------------------------------*/
typedef struct {
  /* Copied. A channel whose namespace is not listed is refused (error
   * 404 "unknown namespace"), except that "" (the default namespace)
   * gets eddy_rt_namespace_init's defaults when not listed. */
  const eddy_rt_namespace_t *namespaces;
  size_t namespace_count;
  /* HMAC-SHA256 secret for connection tokens (copied). NULL or "": no
   * tokens needed; a token a client sends anyway is checked if a secret
   * is set, ignored otherwise. When set, the first message must be a
   * connect with a valid token (else close 4001, or 4002 after
   * connect_timeout_ms). */
  const char *secret;
  eddy_metrics_t *metrics;  /* optional; must outlive the hub */
  size_t max_clients;       /* 100000 */
  size_t max_channels;      /* channels alive (subscribed or with history);
                             * 100000 */
  size_t max_subscriptions; /* per client; 256 */
  size_t max_message;       /* bytes of one client message; 64 KiB */
  size_t max_publication;   /* bytes of a publication's data; 64 KiB */
  size_t max_send_queue;    /* bytes queued to one client; 1 MiB */
  /* Bytes of history over all channels; 64 MiB. At the limit the channels
   * least recently published to lose their oldest publications first
   * (offsets go on; recovery past them answers "recovered": false). */
  size_t history_memory;
  uint64_t ping_interval_ms;   /* WebSocket pings; 25000 (0: none) */
  uint64_t pong_timeout_ms;    /* 10000 */
  uint64_t connect_timeout_ms; /* 10000 */
  /* Allowed Origin values for WebSocket upgrades (copied; NULL: any). */
  const char *const *origins;
} eddy_rt_opts_t;

void eddy_rt_opts_init(eddy_rt_opts_t *o);

/* o may be NULL (defaults). Returns 0, UV_EINVAL (a zero limit, a bad or
 * duplicate namespace) or UV_ENOMEM. */
int eddy_rt_new(eddy_reactor_t *r, const eddy_rt_opts_t *o, eddy_rt_t **out);

/* Closes every client (code 4004 "server stopping"), every listener of
 * eddy_rt_listen_lines, then frees the hub; cb (may be NULL) is called on a
 * later loop iteration when all is gone. */
void eddy_rt_close(eddy_rt_t *hub, eddy_call_cb cb, void *arg);

/* ---- Clients on WebSocket ---------------------------------------------
 * An HTTP handler (arg: the hub) for the hub's WebSocket endpoint (eddyd:
 * GET /connect/websocket). Upgrades the request with eddy_ws_accept (which
 * answers a bad upgrade itself) and attaches the client. */
void eddy_rt_ws_handler(eddy_http_request_t *req, void *hub);

/* ---- Clients on any other transport -----------------------------------
 * The transport gives the hub these functions; conn is its own handle. */
typedef struct {
  /* Queue one protocol message (a JSON text). 0, or an error: the hub
   * then treats the client as gone and calls close. */
  int (*send)(void *conn, const char *text, size_t len);
  /* Close the connection with an application code (4000..4999) and a
   * reason; the transport calls eddy_rt_detach when it is gone. */
  void (*close)(void *conn, unsigned code, const char *reason);
  /* Bytes queued and not yet written (for the send queue limit). */
  size_t (*buffered)(void *conn);
} eddy_rt_conn_ops_t;

/* transport names the transport in logs, metrics and presence ("sockjs").
 * peer (may be NULL) is the client's address, for the debug log. Returns 0,
 * UV_EBUSY (max_clients), UV_ESHUTDOWN (the hub is closing) or UV_ENOMEM; ops
 * is referenced, not copied (keep it static). The hub may call ops->close from
 * inside any call it makes, and the transport may call eddy_rt_detach from
 * inside ops->send or ops->close. */
int eddy_rt_attach(eddy_rt_t *hub, const char *transport,
                   const eddy_rt_conn_ops_t *ops, void *conn,
                   const eddy_addr_t *peer, eddy_rt_client_t **out);
/* One protocol message from the client. */
void eddy_rt_receive(eddy_rt_client_t *c, const char *text, size_t len);
/* The transport is gone: the client is unsubscribed (leave events) and
 * freed. No ops function is called from here on. */
void eddy_rt_detach(eddy_rt_client_t *c);

/* SockJS sessions as hub clients: pass these handlers, with the hub as
 * arg, to eddy_sockjs_new (eddy/sockjs.h). Static; never NULL. */
struct eddy_sockjs_handlers_s;
const struct eddy_sockjs_handlers_s *eddy_rt_sockjs_handlers(void);

/* ---- Publishing from a backend ----------------------------------------
 * data is one JSON value as text (checked: EDDY_EPARSE when it is not),
 * delivered to subscribers exactly as given (not re-serialized).
 * Returns 0 and fills *out (may be NULL), or UV_EINVAL (bad channel name),
 * UV_ENOENT (unknown namespace), UV_E2BIG (over max_publication),
 * EDDY_EPARSE, UV_EBUSY (max_channels), UV_ENOMEM. */
typedef struct {
  uint64_t offset; /* 0 when the namespace keeps no history */
  char epoch[EDDY_RT_EPOCH_LEN + 1];
  size_t subscribers; /* clients it was queued to */
} eddy_rt_published_t;

int eddy_rt_publish(eddy_rt_t *hub, const char *channel, const char *data,
                    size_t len, eddy_rt_published_t *out);

/* ---- Queries (the JSON shapes are those of docs/protocol/realtime.md's
 * HTTP API; the caller owns *out and json_decref's it) ----------------- */
/* {"channel": c, "clients": [{"client": id, "user": u, "info": {...}}]}
 * UV_EPERM when the namespace has presence off; UV_EINVAL, UV_ENOENT. */
int eddy_rt_presence(eddy_rt_t *hub, const char *channel, json_t **out);
/* {"channel": c, "epoch": e, "offset": last, "publications": [...]}:
 * publications after `since` (0: all kept), at most limit (0: all). */
int eddy_rt_history(eddy_rt_t *hub, const char *channel, uint64_t since,
                    size_t limit, json_t **out);
/* [{"channel": c, "subscribers": n, "offset": last, "history": kept}],
 * sorted by name, at most limit (0: all), names starting with prefix
 * (NULL: all). */
int eddy_rt_channels(eddy_rt_t *hub, const char *prefix, size_t limit,
                     json_t **out);

typedef struct {
  uint64_t clients;  /* connected now */
  uint64_t channels; /* alive now */
  uint64_t subscriptions;
  uint64_t published_total;
  uint64_t delivered_total;
  uint64_t dropped_slow_total; /* closed as too slow: 4008, or 1008 from
                                * the WebSocket connection's own cap */
  uint64_t history_bytes;
} eddy_rt_stats_t;
void eddy_rt_stats(const eddy_rt_t *hub, eddy_rt_stats_t *out);

/* ---- Connection tokens --------------------------------------------------
 * token = base64url(claims JSON) "." base64url(HMAC-SHA256(secret, first
 * part)), claims {"sub": user, "exp": unix seconds (optional), "info":
 * {...} (optional)}. base64url is unpadded and strict; a token is at most
 * 4096 bytes. Other claims are ignored (docs/protocol/realtime.md,
 * "Tokens"). */
/* Writes a token for user into *out (malloc'd, caller frees). exp_unix 0:
 * never expires; info may be NULL. Returns 0, UV_EINVAL (no secret, user
 * not UTF-8, info not an object, a token over 4096 bytes), UV_ENOMEM. */
int eddy_rt_token_make(const char *secret, const char *user, uint64_t exp_unix,
                       const json_t *info, char **out);
/* Checks a token at time now_unix (expired from its "exp" second on).
 * Returns 0 and sets *user (malloc'd) and *info (a new reference or NULL;
 * info may be NULL); UV_EACCES (bad signature, expired), EDDY_EPARSE (not
 * a token, or well signed claims of the wrong shape), UV_EINVAL (no
 * secret) or UV_ENOMEM. The signature is compared in constant time and
 * checked before the claims are parsed. */
int eddy_rt_token_verify(const char *secret, const char *token, size_t len,
                         uint64_t now_unix, char **user, json_t **info);

/* ---- The backend line protocol (docs/protocol/realtime.md) -------------
 * Serves PUBLISH/BROADCAST/PING/AUTH lines on endpoint; may be called for
 * several endpoints. token: required by AUTH before PUBLISH and BROADCAST
 * when non-NULL and non-empty (copied; compared in constant time). The
 * listener and its connections belong to the hub, which closes them in
 * eddy_rt_close; *out (may be NULL) is for eddy_listener_port and
 * eddy_listener_address only. Returns 0, UV_EINVAL (a NULL argument, the
 * hub closing), UV_ENOMEM, or eddy_listen's error. */
int eddy_rt_listen_lines(eddy_rt_t *hub, const char *endpoint,
                         const char *token, eddy_listener_t **out);

#ifdef __cplusplus
}
#endif

#endif
