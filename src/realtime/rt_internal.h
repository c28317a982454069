/* rt_internal.h — what the files of the real-time hub share.
 *
 * hub.c       options, eddy_rt_new/close, the client table, sending and
 *             the send queue limit, the end-of-turn flush of corked
 *             WebSocket clients, stats, metrics
 * namespace.c namespace specs (pure)
 * channel.c   the channel hash table and its subscriber arrays
 * history.c   the bounded ring of publications per channel
 * presence.c  presence lists, join and leave events
 * publish.c   one publication: encoded once, kept, delivered
 * protocol.c  parsing one client message, encoding replies (pure)
 * client.c    a client's requests, limits, connect and its timeout
 * query.c     presence, history and channel list for backends (JSON)
 * ws.c        the WebSocket transport (eddy_rt_ws_handler)
 * (line_server.c and token.c, the backend line protocol and tokens, share
 * lines_internal.h; via_sockjs.c attaches SockJS sessions.)
 */
#ifndef EDDY_RT_INTERNAL_H
#define EDDY_RT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "core/reactor_internal.h"
#include "eddy/buffer.h"
#include "eddy/realtime.h"
#include "eddy/websocket.h"

typedef struct eddy__rt_channel_s eddy__rt_channel_t;

/* ---- Protocol (protocol.c, pure) ---------------------------------------*/
typedef enum {
  EDDY__RT_OP_CONNECT = 1,
  EDDY__RT_OP_SUBSCRIBE,
  EDDY__RT_OP_UNSUBSCRIBE,
  EDDY__RT_OP_PUBLISH,
  EDDY__RT_OP_PRESENCE,
  EDDY__RT_OP_HISTORY,
  EDDY__RT_OP_PING
} eddy__rt_op_t;

/* An id is echoed as its JSON text: an integer or a string of at most
 * EDDY__RT_ID_STRING_MAX bytes (so its escaped form always fits). */
#define EDDY__RT_ID_STRING_MAX 64
#define EDDY__RT_ID_MAX (EDDY__RT_ID_STRING_MAX * 6 + 3)
#define EDDY__RT_TOKEN_MAX 4096
/* Bounds on numbers a client may ask for. */
#define EDDY__RT_HISTORY_ASK_MAX 1000000u

/* Parse results. */
#define EDDY__RT_OK 0
#define EDDY__RT_BROKEN (-1) /* not a protocol message: close with 4000 */

typedef struct {
  eddy__rt_op_t op;
  json_t *root; /* owned (eddy__rt_msg_clear); the pointers below are in it */
  char id[EDDY__RT_ID_MAX + 1]; /* JSON text, "null" without an id */
  const char *channel;          /* NUL-terminated, validated */
  size_t channel_len;
  const char *token; /* connect: NULL when absent */
  size_t token_len;
  json_t *info; /* connect: an object or NULL */
  json_t *data; /* publish: any JSON value */
  int has_history;
  uint64_t history; /* subscribe: how many kept publications to send */
  int has_recover;
  char epoch[EDDY_RT_EPOCH_LEN + 1]; /* recover.epoch */
  uint64_t offset;                   /* recover.offset */
  uint64_t since;                    /* history */
  uint64_t limit;                    /* history; 0 = all */
} eddy__rt_msg_t;

/* Parses one client message. Returns EDDY__RT_OK; EDDY__RT_BROKEN when it
 * is not a JSON object with a string "op" (err says why; m->id is "null");
 * or 400 for a request the client got wrong (err says why and m->id holds
 * its id when it had a valid one, so the error can be answered). m->root
 * is NULL unless EDDY__RT_OK was returned. */
int eddy__rt_parse(const char *text, size_t len, eddy__rt_msg_t *m, char *err,
                   size_t errlen);
void eddy__rt_msg_clear(eddy__rt_msg_t *m);

/* 1 when name is a valid channel name (see docs/protocol/realtime.md):
 * 1..EDDY_RT_CHANNEL_MAX bytes of printable ASCII except '"', '\\' and
 * ',', and a valid namespace name before its first ':' if it has one. */
int eddy__rt_channel_valid(const char *name, size_t len);
/* The namespace part of a valid channel name ("" when it has no ':'). */
size_t eddy__rt_channel_ns_len(const char *name, size_t len);
/* 1 when name is [A-Za-z0-9_.-]{1,EDDY_RT_NAMESPACE_MAX}. */
int eddy__rt_namespace_name_valid(const char *name, size_t len);

/* Encoders: append to b; 0 or UV_ENOMEM/UV_ENOBUFS. s is JSON-escaped
 * (valid UTF-8 expected; control bytes become \u00XX). */
int eddy__rt_json_str(eddy_buf_t *b, const char *s, size_t len);
int eddy__rt_encode_error(eddy_buf_t *b, const char *id, unsigned code,
                          const char *message);
int eddy__rt_encode_disconnect(eddy_buf_t *b, unsigned code,
                               const char *reason);
/* The push of a publication: {"op":"message","channel":c,"offset":n,
 * "data":<data>[,"info":{"client":id,"user":u}]}; client NULL: no info. */
int eddy__rt_encode_message(eddy_buf_t *b, const char *channel, size_t chlen,
                            uint64_t offset, const char *data, size_t dlen,
                            const char *client, const char *user);

/* ---- Namespaces ----------------------------------------------------------*/
/* The rules of channel name (already validated), or NULL when its
 * namespace is not configured. */
const eddy_rt_namespace_t *eddy__rt_namespace_of(const eddy_rt_t *hub,
                                                 const char *name, size_t len);

/* ---- History (history.c) -------------------------------------------------*/
typedef struct {
  uint64_t offset;
  uint64_t time_ms;       /* reactor clock when published */
  eddy_ws_message_t *msg; /* the push text, shared with deliveries */
} eddy__rt_pub_t;

typedef struct {
  eddy__rt_pub_t *ring; /* capacity grows up to the namespace's size */
  uint32_t cap, head, count;
  uint64_t last; /* offset of the latest publication (0: none yet) */
  size_t bytes;  /* accounted bytes of what is kept */
  char epoch[EDDY_RT_EPOCH_LEN + 1];
} eddy__rt_history_t;

/* Fills epoch with EDDY_RT_EPOCH_LEN random hex characters. */
void eddy__rt_epoch_new(char epoch[EDDY_RT_EPOCH_LEN + 1]);
void eddy__rt_history_init(eddy__rt_history_t *h);
/* Drops everything (unreferencing the messages) and frees the ring. */
void eddy__rt_history_free(eddy_rt_t *hub, eddy__rt_history_t *h);
/* Appends m (a new reference is taken) at offset h->last + 1 with size
 * bound size (> 0); drops the oldest when full. 0 or UV_ENOMEM. */
int eddy__rt_history_push(eddy_rt_t *hub, eddy__rt_history_t *h, size_t size,
                          uint64_t now, eddy_ws_message_t *m);
/* Drops publications older than ttl_ms (0: no age limit). */
void eddy__rt_history_expire(eddy_rt_t *hub, eddy__rt_history_t *h,
                             uint64_t ttl_ms, uint64_t now);
/* Drops the oldest publication; 0 when there was none. */
int eddy__rt_history_drop_oldest(eddy_rt_t *hub, eddy__rt_history_t *h);
/* The i-th kept publication, oldest first (i < count). */
const eddy__rt_pub_t *eddy__rt_history_at(const eddy__rt_history_t *h,
                                          uint32_t i);
/* Index of the first kept publication with offset > after (count when
 * none). */
uint32_t eddy__rt_history_after(const eddy__rt_history_t *h, uint64_t after);
/* Appends the kept publications [from, from + n) as a JSON array body
 * (comma-separated message objects, no brackets). */
int eddy__rt_history_append(const eddy__rt_history_t *h, uint32_t from,
                            uint32_t n, eddy_buf_t *b);

/* Appends `"channel":c,"epoch":e,"offset":last,"publications":[...]` for
 * the publications after since, at most limit (0: all), oldest first
 * (client.c; shared by the history request and eddy_rt_history). A
 * channel that does not exist has epoch "" and offset 0. */
int eddy__rt_history_body(eddy_rt_t *hub, const char *name, size_t len,
                          uint64_t since, uint64_t limit, eddy_buf_t *b);

/* Recovery decision (pure): given what is kept and what the client saw,
 * 1 and *from (index of the first publication to send) when every later
 * publication is still kept; 0 and *reason otherwise. */
int eddy__rt_history_recover(const eddy__rt_history_t *h, size_t size,
                             const char *epoch, uint64_t offset, uint32_t *from,
                             const char **reason);

/* Applies the global history_memory limit after a push to ch: trims the
 * least recently published channels' oldest publications. */
void eddy__rt_history_enforce(eddy_rt_t *hub, eddy__rt_channel_t *ch);
/* Periodic age sweep (armed while any channel keeps history). */
void eddy__rt_history_sweep_arm(eddy_rt_t *hub);

/* ---- Channels (channel.c) ------------------------------------------------*/
typedef struct {
  eddy_rt_client_t *client;
  uint32_t slot; /* index of the subscription in the client's array */
} eddy__rt_member_t;

struct eddy__rt_channel_s {
  eddy__rt_channel_t *next_hash;
  eddy__rt_channel_t *lru_prev, *lru_next; /* channels keeping history */
  int in_lru;
  uint32_t hash;
  const eddy_rt_namespace_t *ns;
  eddy__rt_member_t *members;
  uint32_t nmembers, capmembers;
  eddy__rt_history_t history;
  size_t name_len;
  char name[]; /* NUL-terminated */
};

eddy__rt_channel_t *eddy__rt_channel_find(eddy_rt_t *hub, const char *name,
                                          size_t len);
/* Finds or creates; *err: UV_EBUSY (max_channels), UV_ENOMEM. */
eddy__rt_channel_t *eddy__rt_channel_get(eddy_rt_t *hub, const char *name,
                                         size_t len,
                                         const eddy_rt_namespace_t *ns,
                                         int *err);
/* Frees ch if nobody is subscribed and it keeps no history. */
void eddy__rt_channel_maybe_free(eddy_rt_t *hub, eddy__rt_channel_t *ch);
void eddy__rt_channel_free_all(eddy_rt_t *hub);
/* Calls fn for every channel (no channel may be freed meanwhile). */
void eddy__rt_channel_each(eddy_rt_t *hub,
                           void (*fn)(eddy__rt_channel_t *ch, void *arg),
                           void *arg);
/* Moves ch to the most recently published end of the history list. */
void eddy__rt_channel_touch(eddy_rt_t *hub, eddy__rt_channel_t *ch);
void eddy__rt_channel_unlist(eddy_rt_t *hub, eddy__rt_channel_t *ch);

/* Subscribes c (0, UV_EEXIST, UV_ENOMEM); unsubscribes by the client's
 * subscription slot. */
int eddy__rt_subscribe(eddy_rt_client_t *c, eddy__rt_channel_t *ch);
void eddy__rt_unsubscribe_slot(eddy_rt_client_t *c, uint32_t slot);
/* The client's slot for ch, or UINT32_MAX. */
uint32_t eddy__rt_client_slot(const eddy_rt_client_t *c,
                              const eddy__rt_channel_t *ch);

/* ---- Clients -------------------------------------------------------------*/
typedef struct {
  eddy__rt_channel_t *channel;
  uint32_t index; /* of the client in channel->members */
} eddy__rt_sub_t;

enum {
  EDDY__RT_C_CONNECTED = 1u << 0, /* a connect was accepted */
  EDDY__RT_C_ASKED = 1u << 1,     /* a request was handled */
  EDDY__RT_C_CLOSING = 1u << 2,   /* we asked the transport to close */
  EDDY__RT_C_GONE = 1u << 3,      /* detached while the hub was busy */
  EDDY__RT_C_DIRTY = 1u << 4      /* corked this turn */
};

struct eddy_rt_client_s {
  eddy_rt_t *hub;
  eddy_ws_t *ws; /* WebSocket transport, or NULL: ops + conn */
  const eddy_rt_conn_ops_t *ops;
  void *conn;
  const char *transport; /* static */
  eddy_gauge_t *gauge;   /* eddy_realtime_clients{transport=...} */
  eddy_rt_client_t *next_dirty, *prev_dirty;
  eddy_rt_client_t *next_gone;
  char *user; /* NULL: anonymous ("") */
  json_t *info;
  eddy__rt_sub_t *subs;
  uint32_t nsubs, capsubs;
  uint32_t index; /* in hub->clients */
  unsigned flags;
  uint64_t id;
  eddy_timer_t *connect_timer; /* only while waiting for a connect */
};

/* Client ids are written as decimal text. */
#define EDDY__RT_CLIENT_ID_MAX 24
void eddy__rt_client_id(const eddy_rt_client_t *c,
                        char buf[EDDY__RT_CLIENT_ID_MAX]);

/* Registers a client (hub.c): 0, UV_EBUSY, UV_ENOMEM. */
int eddy__rt_client_new(eddy_rt_t *hub, const char *transport,
                        eddy_rt_client_t **out);
/* Unsubscribes everyone (leave events), frees the client. */
void eddy__rt_client_free(eddy_rt_client_t *c);
/* Queues one text to the client (send queue limit applies). 0, or an error
 * after which the client is being closed. */
int eddy__rt_client_send(eddy_rt_client_t *c, const char *text, size_t len);
/* Queues a shared message. */
int eddy__rt_client_send_message(eddy_rt_client_t *c, eddy_ws_message_t *m);
/* Asks the transport to close (once). */
void eddy__rt_client_close(eddy_rt_client_t *c, unsigned code,
                           const char *reason);
/* Sends an error reply. */
void eddy__rt_client_error(eddy_rt_client_t *c, const char *id, unsigned code,
                           const char *message);
/* Handles one message (client.c). */
void eddy__rt_client_receive(eddy_rt_client_t *c, const char *text, size_t len);
/* Starts the connect timeout when the hub has a secret. */
void eddy__rt_client_start(eddy_rt_client_t *c);

/* ---- Presence (presence.c) ---------------------------------------------*/
/* Appends [{"client":id,"user":u,"info":{...}},...] for ch. */
int eddy__rt_presence_append(const eddy__rt_channel_t *ch, eddy_buf_t *b);
/* Pushes a join or leave of c to ch's other subscribers when its
 * namespace has join_leave on. */
void eddy__rt_presence_event(eddy_rt_t *hub, eddy__rt_channel_t *ch,
                             const eddy_rt_client_t *c, int join);

/* ---- Publishing (publish.c) ----------------------------------------------*/
/* Delivers a shared message to every subscriber of ch except `except`
 * (may be NULL). Returns the number it was queued to. */
size_t eddy__rt_deliver(eddy_rt_t *hub, eddy__rt_channel_t *ch,
                        eddy_ws_message_t *m, const eddy_rt_client_t *except);
/* Publishes data (validated JSON text of at most max_publication bytes) on
 * channel ch from client `from` (may be NULL): the common path of client
 * and backend publishes. ch is freed before it returns when nothing keeps
 * it (no subscriber, no history). 0, UV_ENOMEM. */
/* Logs a new client at debug level (event realtime.attached), with its
 * transport and peer address (NULL: unknown). */
void eddy__rt_log_attach(const eddy_rt_client_t *c, const eddy_addr_t *peer);

/* The largest reply (history, presence) the hub builds; larger requests
 * get 413. The WebSocket queue has room for one such reply above
 * max_send_queue (ws.c), so a reply never trips the connection's own cap. */
#define EDDY__RT_REPLY_MAX ((size_t)8u * 1024u * 1024u)

/* The HTTP-like status and message for an error of the hub's public
 * functions (publish, presence, history): what the HTTP API answers and
 * what the line protocol puts after ERR. */
int eddy__rt_error_status(int rc, const char **message);

/* Whether data may be published: at most max_publication bytes of one
 * JSON value. 0, UV_E2BIG or EDDY_EPARSE. */
int eddy__rt_data_check(const eddy_rt_t *hub, const char *data, size_t len);
/* eddy_rt_publish for data eddy__rt_data_check already passed (a
 * broadcast checks once for all its channels); the channel is checked. */
int eddy__rt_publish_checked(eddy_rt_t *hub, const char *channel, size_t chlen,
                             const char *data, size_t len,
                             eddy_rt_published_t *out);
int eddy__rt_publish(eddy_rt_t *hub, eddy__rt_channel_t *ch, const char *data,
                     size_t dlen, const eddy_rt_client_t *from,
                     eddy_rt_published_t *out);

/* ---- WebSocket (ws.c) ------------------------------------------------------
 * What eddy_rt_ws_handler does after the upgrade, apart, so tests can run a
 * hub client over eddy_ws_new on a test transport: the connection's config
 * for this hub, its handlers (arg: the client from eddy__rt_client_new),
 * and binding the connection to the client. */
void eddy__rt_ws_config(const eddy_rt_t *hub, eddy_ws_config_t *cfg);
const eddy_ws_handlers_t *eddy__rt_ws_handlers(void);
void eddy__rt_ws_bind(eddy_rt_client_t *c, eddy_ws_t *ws);

/* ---- The hub (hub.c) -----------------------------------------------------*/
/* Things the hub closes when it closes (the line listeners of
 * eddy_rt_listen_lines). close is called once by eddy_rt_close; the owner
 * calls eddy__rt_hook_remove when it is gone (the hub is freed after). */
typedef struct eddy__rt_hook_s eddy__rt_hook_t;
struct eddy__rt_hook_s {
  eddy__rt_hook_t *prev, *next;
  void (*close)(eddy__rt_hook_t *hook);
};
void eddy__rt_hook_add(eddy_rt_t *hub, eddy__rt_hook_t *hook);
void eddy__rt_hook_remove(eddy_rt_t *hub, eddy__rt_hook_t *hook);

struct eddy_rt_s {
  eddy_reactor_t *reactor;
  eddy_rt_opts_t o; /* the strings and arrays point to copies below */
  eddy_rt_namespace_t *namespaces;
  size_t nnamespaces;
  eddy_rt_namespace_t default_ns; /* "" when not configured */
  char *secret;
  char **origins;

  eddy_rt_client_t **clients;
  size_t nclients, capclients;
  uint64_t next_id;

  eddy__rt_channel_t **buckets;
  size_t nbuckets, nchannels;
  eddy__rt_channel_t *lru_head, *lru_tail;
  size_t history_bytes;
  eddy_timer_t sweep;

  /* End-of-turn flush: the corked clients of this turn. The check handle
   * runs after I/O; the idle handle only keeps the loop from blocking in
   * poll while something is corked. */
  eddy_rt_client_t *dirty;
  uv_check_t check;
  uv_idle_t idle;
  int flushing_armed;
  int closing_handles;

  /* Clients detached while a delivery loop was running: freed after it. */
  int busy;
  eddy_rt_client_t *gone;

  eddy__rt_hook_t *hooks;
  int closing;
  int handles_open;
  eddy_call_cb close_cb;
  void *close_arg;

  uint64_t subscriptions;
  uint64_t published_total, delivered_total, dropped_slow_total;

  eddy_counter_t *m_published, *m_delivered, *m_dropped;
  eddy_gauge_t *m_channels;
  eddy_histogram_t *m_publish_us;
};

/* Marks c for the end-of-turn uncork (corks it first). */
void eddy__rt_hub_cork(eddy_rt_t *hub, eddy_rt_client_t *c);
/* Frees clients detached while the hub was busy, and finishes a close. */
void eddy__rt_hub_settle(eddy_rt_t *hub);
/* Counts a client closed for being slow. */
void eddy__rt_hub_dropped(eddy_rt_t *hub);

#endif
