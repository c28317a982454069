/* server_internal.h — what the HTTP server's files share (eddy/http_server.h).
 *
 * server.c owns the server and its connections list, connection.c the
 * per-connection protocol (input, parsing, the pipeline, timers), request.c
 * the request object built from a parsed head, response.c the answer, date.c
 * and status.c the Date header and reason phrases. */
#ifndef EDDY_HTTP_SERVER_INTERNAL_H
#define EDDY_HTTP_SERVER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/reactor_internal.h"
#include "eddy/buffer.h"
#include "eddy/http_parser.h"
#include "eddy/http_server.h"
#include "eddy/protocol.h"
#include "eddy/transport.h"

typedef struct eddy__http_conn_s eddy__http_conn_t;
typedef struct eddy__http_tracker_s eddy__http_tracker_t;

/* ---- Date (date.c) ------------------------------------------------------ */

#define EDDY__HTTP_DATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

typedef struct {
  char line[48];        /* "Date: <IMF-fixdate>\r\n" */
  uint64_t valid_until; /* reactor ms; 0: not computed yet */
  int64_t fake_base;    /* fake clocks: wall seconds at the first use */
} eddy__http_date_t;

/* The cached "Date: ...\r\n" line (EDDY__HTTP_DATE_LEN + 8 bytes). */
const char *eddy__http_date_line(eddy__http_date_t *d, eddy_reactor_t *r);

/* ---- The server (server.c) ---------------------------------------------- */

struct eddy_http_server_s {
  eddy_reactor_t *reactor;
  eddy_http_server_config_t cfg; /* defaults filled in */
  eddy_http_limits_t limits;     /* filled in */
  eddy_http_handler_cb handler;
  void *arg;
  eddy_factory_t factory;
  char *server_line; /* "Server: ...\r\n", or NULL for none */
  size_t server_line_len;
  /* Scratch for eddy_http_parse: heads are copied out before it is reused. */
  eddy_http_header_t *scratch;
  size_t scratch_cap;
  eddy__http_date_t date;
  eddy_listener_t **listeners;
  size_t nlisteners;
  size_t listeners_closing;
  eddy__http_conn_t *conns; /* HTTP connections */
  eddy__http_tracker_t *upgraded;
  size_t nconns;        /* HTTP and switched: what max_connections counts */
  size_t live_requests; /* handed to the handler, not finished */
  eddy_http_server_stats_t stats;
  /* Fed when cfg.metrics is set (eddy/metrics.h). */
  struct {
    eddy_counter_t *requests[5]; /* by status class, 1xx..5xx */
    eddy_histogram_t *duration;  /* microseconds */
  } metrics;
  int closing;
  eddy_timer_t grace;
  eddy_call_cb done;
  void *done_arg;
  eddy__soon_t check_soon;
};

/* Called when a connection, a request or a listener goes: once a closing
 * server has nothing left it calls done and frees itself (next iteration). */
void eddy__http_server_check_done(eddy_http_server_t *s);
/* Counts a response of status in its class, and the time since req's head
 * was parsed (req NULL: an answer the server made without a request).
 * Callers check cfg.metrics first, so metrics off costs one branch. */
void eddy__http_server_count(eddy_http_server_t *s, int status,
                             const eddy_http_request_t *req);
/* A switched connection leaves the HTTP list but is counted until it
 * closes (through the protocol's lost hook). */
void eddy__http_server_track_upgrade(eddy_http_server_t *s, eddy_protocol_t *p,
                                     eddy_transport_t *t);

/* ---- Requests (request.c) ----------------------------------------------- */

typedef struct {
  const char *name;
  const char *value;
} eddy__http_field_t;

typedef struct {
  char *name;
  char *value;
} eddy__http_param_t;

enum {
  EDDY__RESP_HEAD_SENT = 1u << 0,
  EDDY__RESP_CHUNKED = 1u << 1,     /* chunked coding on the wire */
  EDDY__RESP_UNTIL_CLOSE = 1u << 2, /* close-delimited (HTTP/1.0) */
  EDDY__RESP_NO_BODY = 1u << 3,     /* HEAD, 204, 304, 101 */
  EDDY__RESP_HAS_LENGTH = 1u << 4,  /* the handler declared Content-Length */
  EDDY__RESP_CLOSE = 1u << 5,       /* close the connection afterwards */
  EDDY__RESP_HAS_DATE = 1u << 6,    /* the handler set Date */
  EDDY__RESP_HAS_SERVER = 1u << 7,  /* the handler set Server */
};

struct eddy_http_request_s {
  eddy__http_conn_t *conn; /* NULL once the connection is gone */
  eddy_http_server_t *server;
  eddy_reactor_t *reactor;
  eddy_http_request_t *next; /* in the connection's queue */
  size_t cap;                /* bytes of mem[] */
  /* Parsed head; strings point into mem[]. */
  const char *method;
  const char *target;
  const char *path;
  const char *query;
  eddy__http_field_t *fields;
  size_t nfields;
  int version_minor;
  unsigned is_head : 1;
  unsigned keep_alive : 1;
  unsigned upgrade : 1;
  unsigned expect_continue : 1;
  unsigned dispatched : 1;
  eddy_buf_t body; /* max: limits.max_body */
  /* Handler state. */
  eddy__http_param_t *params;
  size_t nparams;
  void *data;
  eddy_http_close_cb close_cb;
  void *close_arg;
  int close_on_eof; /* eddy_http_close_on_eof */
  eddy_http_writable_cb writable_cb;
  void *writable_arg;
  uint64_t start_ns; /* uv_hrtime at dispatch, for the access log */
  uint64_t head_us;  /* eddy_metrics_now_us at the head, with metrics */
  /* Response. */
  int status;
  char *reason; /* NULL: the standard phrase */
  unsigned rflags;
  eddy_buf_t headers; /* "Name: value\r\n"..., at most 64 KiB */
  uint64_t declared_length;
  uint64_t body_sent; /* body bytes the handler wrote */
  /* The head copy, the decoded path and the query follow the struct. */
  char mem[];
};

/* Builds a request from a parsed head in buf (the head's bytes are copied
 * once; strings are NUL-terminated in the copy). *reuse is a request freed
 * earlier on this connection whose memory may be recycled (taken when used).
 * Returns 0, an HTTP status (400) for a target the server refuses, or
 * UV_ENOMEM. */
int eddy__http_request_new(eddy_http_server_t *s, eddy__http_conn_t *c,
                           const char *buf, size_t head_len,
                           const eddy_http_msg_t *msg,
                           eddy_http_request_t **reuse,
                           eddy_http_request_t **out);
/* Releases what the request holds beyond its block; the block may then be
 * kept for reuse (eddy__http_request_new) or freed. */
void eddy__http_request_clear(eddy_http_request_t *req);
void eddy__http_request_free(eddy_http_request_t *req);
/* The value of a request header by name, length given. */
const char *eddy__http_request_field(const eddy_http_request_t *req,
                                     const char *name, size_t len);

/* ---- Responses (response.c) --------------------------------------------- */

/* A 4xx/5xx the server makes itself (no request object): status, text body
 * (the reason phrase and detail), Connection: close. Appended to the
 * connection's output. */
void eddy__http_write_error(eddy__http_conn_t *c, int status,
                            const char *detail);
/* Appends "HTTP/1.1 <status> <reason>\r\n". */
int eddy__http_status_line(eddy_buf_t *b, int status, const char *reason);
/* Decimal digits of v into buf (at least 20 bytes); returns the length. */
size_t eddy__http_u64(char *buf, uint64_t v);

/* ---- Connections (connection.c) ----------------------------------------- */

struct eddy__http_conn_s {
  eddy_protocol_t proto; /* first: the protocol pointer is the connection */
  eddy_http_server_t *server;
  eddy__http_conn_t *prev, *next; /* the server's list */
  eddy_transport_t *t;
  eddy_addr_t peer;
  eddy_http_parser_t parser;
  eddy_buf_t in; /* input not yet consumed, when it outlived a read */
  /* The read being processed, not yet consumed and not copied (only set
   * inside data_received). */
  const char *ext;
  size_t extlen;
  int state;
  int body_state; /* the body state a 100-continue wait leads to */
  eddy_http_request_t *reading; /* head parsed, body arriving */
  uint64_t body_left;
  eddy_http_chunked_t chunked;
  eddy_http_request_t *current;       /* with the handler */
  eddy_http_request_t *qhead, *qtail; /* complete, waiting their turn */
  size_t qlen;
  size_t qbody;               /* body bytes held by queued requests */
  eddy_http_request_t *spare; /* a finished request's block, for reuse */
  eddy_buf_t out; /* responses of this iteration, written together */
  eddy__soon_t soon;
  eddy_timer_t timer;
  int timer_mode;
  uint64_t timer_due;  /* the deadline wanted; the timer may fire earlier */
  unsigned pause_mask; /* why reading is paused */
  int read_paused;
  int running;      /* inside run(): do not re-enter */
  int rerun;        /* the pipeline moved while running */
  int progress;     /* a head or body byte was consumed in this run */
  int lost;         /* connection_lost arrived */
  int switched;     /* handed to another protocol */
  int free_pending; /* switched while running: free when run() ends */
  int close_after;  /* close once the current response is out; the
                       requests queued behind it are dropped */
  int eof_seen;     /* answer what is queued, then close */
  int error_status; /* a server error answer is due (then close) */
  const char *error_detail;
  int closing; /* the HTTP layer is closing it (lingering or gone) */
  /* eddy_http_writable() said no: the writable callback is owed once the
   * output drains, whether the transport paused (resume_writing) or took
   * everything the moment it was flushed (no event at all). */
  int writable_owed;
};

/* The factory's build_protocol. */
eddy_protocol_t *eddy__http_conn_new(eddy_http_server_t *s,
                                     const eddy_addr_t *peer);
/* Appends bytes to the connection's output (flushed once per iteration, or
 * at once past a size). Returns 0, UV_EPIPE or UV_ENOBUFS (then aborted). */
int eddy__http_conn_write(eddy__http_conn_t *c, const uv_buf_t *bufs, size_t n);
int eddy__http_conn_write_slice(eddy__http_conn_t *c, eddy_slice_t *s);
/* Makes sure the output is flushed (and the pipeline moved on) soon. */
void eddy__http_conn_kick(eddy__http_conn_t *c);
/* The current request finished: frees it, moves the pipeline on. */
void eddy__http_conn_request_done(eddy__http_conn_t *c,
                                  eddy_http_request_t *req);
/* Writes its buffered output to the transport now. */
void eddy__http_conn_flush(eddy__http_conn_t *c);
/* eddy_http_switch_protocol's work once the 101 head is in the output. */
void eddy__http_conn_switch(eddy__http_conn_t *c, eddy_http_request_t *req,
                            eddy_protocol_t *p);
/* The server stops: close when idle, else after the current response. */
void eddy__http_conn_shutdown(eddy__http_conn_t *c);
/* Buffered output not yet given to the transport. */
size_t eddy__http_conn_pending(const eddy__http_conn_t *c);
/* The transport's queue plus the gathered output is below high water. */
int eddy__http_conn_below_high_water(const eddy__http_conn_t *c);

#endif
