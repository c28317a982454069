/* connection.c — one HTTP/1.1 connection: input, parsing, the pipeline,
 * timeouts and closing (eddy/http_server.h).
 *
 * Everything happens in run(): parse what arrived (heads, then bodies),
 * queue complete requests, hand them to the handler one at a time, and,
 * when nothing more can move, write the responses gathered in `out` with
 * one transport write, then set the timer and the reading state. A read is
 * parsed where the transport put it; only a part left unconsumed (a split
 * head, requests beyond the pipeline limit) is copied into `in`.
 *
 * A handler that answers later calls back into response.c, which appends to
 * `out` and kicks a soon-call; the next iteration runs run() again, so
 * handlers are never called from inside eddy_http_finish, and responses
 * finished in one iteration still leave together.
 *
 * Closing: after an error answer, a "Connection: close" response or a
 * server stop, the connection stops parsing, sends what it owes, shuts its
 * write side and keeps reading (discarding) for a moment: closing with
 * unread input would make the kernel reset the connection, and the client
 * could lose the answer it was about to read. */
#include <stdlib.h>
#include <string.h>

#include "eddy/log.h"
#include "server_internal.h"

/* Output gathered before it is written at once. */
#define OUT_SOFT (64u * 1024u)
/* Slices up to this size are copied into `out` (one write with the rest). */
#define SLICE_INLINE 4096u
/* Body bytes that queued (parsed ahead) requests may hold together. */
#define PIPELINE_BODY_MAX ((size_t)1u << 20)
/* Unconsumed input beyond the head limit: one read's worth, and then some.
 * Reading pauses past max_head; more than this is a transport ignoring
 * pause_reading, and the connection is aborted. */
#define IN_SLACK (256u * 1024u)
/* Buffer memory a connection keeps between requests. */
#define BUF_KEEP (16u * 1024u)
/* How long a closing connection drains its input after its last answer. */
#define LINGER_MS 2000u

enum {
  ST_HEAD = 0,
  ST_BODY_LENGTH,
  ST_BODY_CHUNKED,
  ST_CONTINUE, /* head with Expect: 100-continue, waiting for its turn */
  ST_UPGRADE,  /* an upgrade request is queued: what follows may not be HTTP */
  ST_STOPPED   /* no more requests: input is discarded */
};

enum { T_NONE = 0, T_IDLE, T_HEADER, T_BODY, T_LINGER };

enum {
  PAUSE_PIPELINE = 1u << 0, /* max_pipeline requests are queued */
  PAUSE_WRITE = 1u << 1,    /* the client does not read its answers */
  PAUSE_INPUT = 1u << 2     /* unconsumed input beyond max_head */
};

static void run(eddy__http_conn_t *c);

static void conn_free(eddy__http_conn_t *c) {
  eddy_timer_stop(&c->timer);
  eddy__reactor_soon_cancel(c->server->reactor, &c->soon);
  eddy_buf_free(&c->in);
  eddy_buf_free(&c->out);
  eddy__http_request_free(c->spare);
  free(c);
}

static void unlink_conn(eddy__http_conn_t *c) {
  eddy_http_server_t *s = c->server;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  c->prev = c->next = NULL;
}

/* A request that never reached the handler. */
static void drop_request(eddy__http_conn_t *c, eddy_http_request_t *req) {
  if (c->spare == NULL && req->cap <= 64u * 1024u) {
    eddy__http_request_clear(req);
    c->spare = req;
  } else {
    eddy__http_request_free(req);
  }
}

static void drop_queue(eddy__http_conn_t *c) {
  while (c->qhead != NULL) {
    eddy_http_request_t *req = c->qhead;
    c->qhead = req->next;
    drop_request(c, req);
  }
  c->qtail = NULL;
  c->qlen = 0;
  c->qbody = 0;
  if (c->reading != NULL) {
    drop_request(c, c->reading);
    c->reading = NULL;
  }
}

size_t eddy__http_conn_pending(const eddy__http_conn_t *c) {
  return c->out.len;
}

/* ---- Output ------------------------------------------------------------- */

static void write_failed(eddy__http_conn_t *c, int rc) {
  if (rc == UV_ENOBUFS) {
    eddy_log(EDDY_LOG_WARN, "http.output_overflow", NULL);
    c->closing = 1;
    eddy_transport_abort_connection(c->t);
  }
}

void eddy__http_conn_flush(eddy__http_conn_t *c) {
  if (c->out.len == 0)
    return;
  int rc = UV_EPIPE;
  if (!c->lost && !c->switched)
    rc = eddy_transport_write(c->t, c->out.data, c->out.len);
  eddy_buf_clear(&c->out);
  if (c->out.cap > BUF_KEEP)
    eddy_buf_free(&c->out); /* idle connections stay small */
  if (rc != 0)
    write_failed(c, rc);
}

int eddy__http_conn_write(eddy__http_conn_t *c, const uv_buf_t *bufs,
                          size_t n) {
  if (c->lost || c->switched || c->t->closing)
    return UV_EPIPE;
  size_t total = 0;
  for (size_t i = 0; i < n; i++)
    total += bufs[i].len;
  if (total <= OUT_SOFT - c->out.len && eddy_buf_reserve(&c->out, total) == 0) {
    for (size_t i = 0; i < n; i++)
      eddy_buf_append(&c->out, bufs[i].base, bufs[i].len);
    return 0;
  }
  /* Too big to gather: what is gathered and this leave in one writev,
   * straight from memory (the transport copies only what the kernel does
   * not take at once). */
  uv_buf_t all[16];
  size_t k = 0;
  int rc = 0;
  if (c->out.len > 0)
    all[k++] = (uv_buf_t){.base = c->out.data, .len = c->out.len};
  for (size_t i = 0; i < n; i++) {
    if (k == 16) {
      rc = eddy_transport_writev(c->t, all, k);
      if (rc != 0)
        break;
      k = 0;
    }
    all[k++] = bufs[i];
  }
  if (rc == 0 && k > 0)
    rc = eddy_transport_writev(c->t, all, k);
  eddy_buf_clear(&c->out);
  if (rc != 0)
    write_failed(c, rc);
  return rc;
}

int eddy__http_conn_write_slice(eddy__http_conn_t *c, eddy_slice_t *s) {
  size_t len = eddy_slice_len(s);
  if (len <= SLICE_INLINE) {
    uv_buf_t b = {.base = (char *)eddy_slice_data(s), .len = len};
    return eddy__http_conn_write(c, &b, 1);
  }
  if (c->lost || c->switched || c->t->closing)
    return UV_EPIPE;
  eddy__http_conn_flush(c); /* keeps the order of the pieces */
  int rc = eddy_transport_write_slice(c->t, s);
  if (rc != 0)
    write_failed(c, rc);
  return rc;
}

int eddy__http_conn_below_high_water(const eddy__http_conn_t *c) {
  return eddy_transport_write_buffer_size(c->t) + eddy__http_conn_pending(c) <
         c->t->high_water;
}

/* Pays an owed writable callback once the output went out and the
 * transport did not pause (it then tells resume_writing instead). */
static void pay_writable(eddy__http_conn_t *c) {
  eddy_http_request_t *req = c->current;
  if (!c->writable_owed || c->lost || c->switched || c->closing ||
      c->t->writing_paused || !eddy__http_conn_below_high_water(c))
    return;
  c->writable_owed = 0;
  if (req != NULL && req->writable_cb != NULL)
    req->writable_cb(req, req->writable_arg);
}

static void soon_cb(void *arg) {
  run(arg);
}

void eddy__http_conn_kick(eddy__http_conn_t *c) {
  if (c->running || c->lost || c->switched)
    return;
  eddy__reactor_soon(c->server->reactor, &c->soon, soon_cb, c);
}

/* ---- Closing ------------------------------------------------------------ */

static void start_timer(eddy__http_conn_t *c, int mode, uint64_t ms);

static void begin_close(eddy__http_conn_t *c) {
  if (c->closing || c->lost)
    return;
  c->closing = 1;
  c->state = ST_STOPPED;
  drop_queue(c);
  eddy__http_conn_flush(c);
  if (!c->t->closing && eddy_transport_shutdown_write(c->t) == 0) {
    uint64_t linger = c->server->cfg.header_timeout_ms;
    start_timer(c, T_LINGER, linger < LINGER_MS ? linger : LINGER_MS);
  } else {
    eddy_transport_lose_connection(c->t);
  }
}

/* The client made a mistake (or was too slow): answer `status` once the
 * requests before have been answered, then close. */
static void fail(eddy__http_conn_t *c, int status, const char *detail) {
  if (c->error_status == 0) {
    c->error_status = status;
    c->error_detail = detail;
  }
  c->state = ST_STOPPED;
  if (c->reading != NULL) {
    drop_request(c, c->reading);
    c->reading = NULL;
  }
}

/* ---- Timers ------------------------------------------------------------- */

static void on_timer(eddy_timer_t *t) {
  eddy__http_conn_t *c = t->data;
  eddy_http_server_t *s = c->server;
  uint64_t now = eddy_reactor_now(s->reactor);
  if (now < c->timer_due) { /* extended since it was armed */
    eddy_timer_start(&c->timer, c->timer_due - now, on_timer);
    return;
  }
  int mode = c->timer_mode;
  c->timer_mode = T_NONE;
  switch (mode) {
  case T_IDLE:
    s->stats.timeouts++;
    c->closing = 1;
    c->state = ST_STOPPED;
    /* Answers still queued after a whole idle period: the client does not
     * read them, and a clean close would wait for it for ever. */
    if (eddy_transport_write_buffer_size(c->t) > 0)
      eddy_transport_abort_connection(c->t);
    else
      eddy_transport_lose_connection(c->t);
    break;
  case T_HEADER:
  case T_BODY:
    s->stats.timeouts++;
    fail(c, 408,
         mode == T_HEADER ? "request head too slow" : "request body stalled");
    run(c);
    break;
  case T_LINGER:
    eddy_transport_abort_connection(c->t);
    break;
  default:
    break;
  }
}

static void start_timer(eddy__http_conn_t *c, int mode, uint64_t ms) {
  c->timer_mode = mode;
  c->timer_due = eddy_reactor_now(c->server->reactor) + ms;
  eddy_timer_start(&c->timer, ms, on_timer);
}

/* The timer this state calls for; a running one of the same kind is kept
 * (a head's clock starts at its first byte), except a body timer, which
 * restarts whenever body bytes arrived. */
static void update_timer(eddy__http_conn_t *c) {
  const eddy_http_server_config_t *cfg = &c->server->cfg;
  int mode = T_NONE;
  uint64_t ms = 0;
  if (c->closing)
    return; /* the linger timer, if any, stays */
  if (c->error_status != 0 || c->eof_seen) {
    mode = T_NONE;
  } else if (c->state == ST_HEAD) {
    size_t buffered = c->in.len;
    if (buffered > 0 && !(c->pause_mask & PAUSE_PIPELINE)) {
      mode = T_HEADER;
      ms = cfg->header_timeout_ms;
    } else if (buffered == 0 && c->current == NULL && c->qlen == 0) {
      mode = T_IDLE;
      ms = cfg->idle_timeout_ms;
    }
  } else if (c->state == ST_BODY_LENGTH || c->state == ST_BODY_CHUNKED) {
    mode = T_BODY;
    ms = cfg->body_timeout_ms;
  }
  if (mode == T_NONE) {
    c->timer_mode = T_NONE;
    eddy_timer_stop(&c->timer);
    return;
  }
  if (mode == c->timer_mode && eddy_timer_active(&c->timer)) {
    /* Restarting the same kind only moves its deadline later: note it and
     * let the armed timer re-arm itself when it fires (a keep-alive
     * connection then touches the timer heap rarely, not per request). */
    if (c->progress)
      c->timer_due = eddy_reactor_now(c->server->reactor) + ms;
    return;
  }
  start_timer(c, mode, ms);
}

/* ---- Parsing ------------------------------------------------------------ */

static void enqueue(eddy__http_conn_t *c, eddy_http_request_t *req) {
  if (req->body.len > 0 && eddy_buf_reserve(&req->body, 1) == 0)
    req->body.data[req->body.len] = '\0';
  req->next = NULL;
  if (c->qtail != NULL)
    c->qtail->next = req;
  else
    c->qhead = req;
  c->qtail = req;
  c->qlen++;
  c->qbody += req->body.len;
  c->state = req->upgrade ? ST_UPGRADE : ST_HEAD;
}

static int append_body(eddy__http_conn_t *c, const char *p, size_t n) {
  if (n == 0)
    return 0;
  if (eddy_buf_append(&c->reading->body, p, n) != 0) {
    fail(c, 503, "out of memory for the body");
    return -1;
  }
  return 0;
}

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* Consumes what it can of buf[0..len); returns the bytes consumed. */
static size_t parse(eddy__http_conn_t *c, const char *buf, size_t len) {
  eddy_http_server_t *s = c->server;
  size_t pos = 0;
  for (;;) {
    switch (c->state) {
    case ST_HEAD: {
      if (pos == len)
        return pos;
      if (c->qlen >= s->cfg.max_pipeline || c->qbody > PIPELINE_BODY_MAX) {
        c->pause_mask |= PAUSE_PIPELINE;
        return pos;
      }
      eddy_http_msg_t msg;
      int rc = eddy_http_parse(&c->parser, buf + pos, len - pos, &msg,
                               s->scratch, s->scratch_cap);
      if (rc == EDDY_HTTP_NEED_MORE)
        return pos;
      if (rc < 0) {
        fail(c, eddy_http_error_status(rc), eddy_http_strerror(rc));
        return len;
      }
      eddy_http_request_t *req = NULL;
      int st = eddy__http_request_new(s, c, buf + pos, (size_t)rc, &msg,
                                      &c->spare, &req);
      eddy_http_parser_reset(&c->parser);
      pos += (size_t)rc;
      c->progress = 1;
      if (st != 0) {
        if (req != NULL)
          drop_request(c, req);
        if (st == UV_ENOMEM)
          fail(c, 503, "out of memory");
        else
          fail(c, st,
               st == 417 ? "unsupported expectation"
                         : "invalid request target");
        return len;
      }
      if (msg.body == EDDY_HTTP_BODY_NONE) {
        enqueue(c, req);
        break;
      }
      c->reading = req;
      if (msg.body == EDDY_HTTP_BODY_LENGTH) {
        c->body_left = msg.content_length;
        c->body_state = ST_BODY_LENGTH;
        size_t first =
            msg.content_length < 65536 ? (size_t)msg.content_length : 65536;
        if (eddy_buf_reserve(&req->body, first + 1) != 0) {
          fail(c, 503, "out of memory for the body");
          return len;
        }
      } else {
        eddy_http_chunked_init(&c->chunked, &s->limits);
        c->body_state = ST_BODY_CHUNKED;
      }
      c->state = req->expect_continue ? ST_CONTINUE : c->body_state;
      break;
    }
    case ST_CONTINUE:
      /* 100 Continue belongs to this request: it may not come before the
       * answers to the requests ahead of it. */
      if (c->current != NULL || c->qlen > 0)
        return pos;
      {
        uv_buf_t b = {.base = (char *)continue_line,
                      .len = sizeof(continue_line) - 1};
        eddy__http_conn_write(c, &b, 1);
      }
      c->state = c->body_state;
      break;
    case ST_BODY_LENGTH: {
      size_t n = len - pos;
      if (n == 0)
        return pos;
      if (n > c->body_left)
        n = (size_t)c->body_left;
      if (append_body(c, buf + pos, n) != 0)
        return len;
      pos += n;
      c->body_left -= n;
      c->progress = 1;
      if (c->body_left == 0) {
        eddy_http_request_t *req = c->reading;
        c->reading = NULL;
        enqueue(c, req);
      }
      break;
    }
    case ST_BODY_CHUNKED: {
      if (pos == len)
        return pos;
      const char *d = NULL;
      size_t dl = 0;
      int rc =
          eddy_http_chunked_feed(&c->chunked, buf + pos, len - pos, &d, &dl);
      if (rc < 0) {
        fail(c, eddy_http_error_status(rc), eddy_http_strerror(rc));
        return len;
      }
      if (append_body(c, d, dl) != 0)
        return len;
      pos += (size_t)rc;
      c->progress = 1;
      if (eddy_http_chunked_done(&c->chunked)) {
        eddy_http_request_t *req = c->reading;
        c->reading = NULL;
        enqueue(c, req);
      }
      break;
    }
    case ST_UPGRADE:
      return pos;
    default: /* ST_STOPPED */
      return len;
    }
  }
}

/* ---- The pipeline ------------------------------------------------------- */

static void dispatch(eddy__http_conn_t *c) {
  eddy_http_server_t *s = c->server;
  while (c->current == NULL && c->qhead != NULL && !c->close_after &&
         !c->closing && !c->switched) {
    eddy_http_request_t *req = c->qhead;
    c->qhead = req->next;
    if (c->qhead == NULL)
      c->qtail = NULL;
    c->qlen--;
    c->qbody -= req->body.len;
    req->next = NULL;
    req->dispatched = 1;
    c->current = req;
    s->live_requests++;
    s->stats.requests_total++;
    if (s->cfg.access_log)
      req->start_ns = uv_hrtime();
    s->handler(req, s->arg);
  }
}

void eddy__http_conn_request_done(eddy__http_conn_t *c,
                                  eddy_http_request_t *req) {
  eddy_http_server_t *s = req->server;
  if (req->dispatched)
    s->live_requests--;
  if (c == NULL) { /* the connection went first */
    eddy__http_request_free(req);
    eddy__http_server_check_done(s);
    return;
  }
  if (c->current == req)
    c->current = NULL;
  if (req->rflags & EDDY__RESP_CLOSE)
    c->close_after = 1;
  if (req->upgrade && c->state == ST_UPGRADE)
    c->state = ST_HEAD; /* answered as plain HTTP: go on parsing */
  drop_request(c, req);
  c->rerun = 1;
  eddy__http_conn_kick(c);
}

/* Sets reading paused or not, per the reasons. */
static void update_reading(eddy__http_conn_t *c) {
  unsigned mask = c->pause_mask;
  if (c->in.len > c->server->limits.max_head)
    mask |= PAUSE_INPUT;
  if (c->closing)
    mask = 0; /* lingering: drain */
  if (mask != 0 && !c->read_paused) {
    c->read_paused = 1;
    eddy_transport_pause_reading(c->t);
  } else if (mask == 0 && c->read_paused) {
    c->read_paused = 0;
    eddy_transport_resume_reading(c->t);
  }
}

/* Once nothing more can move: errors, closing, the write, the timer. */
static void settle(eddy__http_conn_t *c) {
  if (!c->closing && c->current == NULL) {
    if (c->close_after) {
      begin_close(c);
    } else if (c->qlen == 0 && c->error_status != 0) {
      eddy__http_write_error(c, c->error_status, c->error_detail);
      begin_close(c);
    } else if (c->qlen == 0 && c->eof_seen) {
      begin_close(c);
    }
  }
  eddy__http_conn_flush(c);
  if (c->lost || c->switched)
    return;
  update_reading(c);
  update_timer(c);
  pay_writable(c);
}

/* Keeps the unconsumed rest of the current read. */
static void keep_ext(eddy__http_conn_t *c) {
  if (c->extlen == 0)
    return;
  int rc = c->closing || c->state == ST_STOPPED
               ? 0
               : eddy_buf_append(&c->in, c->ext, c->extlen);
  c->ext = NULL;
  c->extlen = 0;
  if (rc != 0) {
    eddy_log(EDDY_LOG_WARN, "http.input_overflow", "bytes=%zu", c->in.len);
    c->closing = 1;
    eddy_transport_abort_connection(c->t);
  }
}

static void run(eddy__http_conn_t *c) {
  if (c->running || c->lost || c->switched)
    return;
  c->running = 1;
  c->progress = 0;
  do {
    c->rerun = 0;
    c->pause_mask &= ~(unsigned)PAUSE_PIPELINE;
    if (c->extlen > 0 && c->in.len == 0) {
      size_t used = parse(c, c->ext, c->extlen);
      c->ext += used;
      c->extlen -= used;
    } else {
      keep_ext(c);
      /* Also without input: a 100-continue may now be due. */
      size_t used = parse(c, c->in.data, c->in.len);
      eddy_buf_consume(&c->in, used);
    }
    dispatch(c);
  } while (c->rerun && !c->switched && !c->lost);
  if (!c->switched && !c->lost)
    keep_ext(c);
  if (c->in.len == 0 && c->in.cap > BUF_KEEP)
    eddy_buf_free(&c->in);
  c->running = 0;
  if (c->free_pending) {
    conn_free(c);
    return;
  }
  if (!c->lost)
    settle(c);
}

/* ---- Protocol callbacks ------------------------------------------------- */

static void http_connection_made(eddy_protocol_t *p) {
  eddy__http_conn_t *c = (eddy__http_conn_t *)p;
  c->t = p->transport;
  if (c->peer.len == 0 && eddy_transport_get_peer(c->t, &c->peer) != 0)
    c->peer.len = 0;
  update_timer(c);
}

static void http_data_received(eddy_protocol_t *p, const char *data,
                               size_t len) {
  eddy__http_conn_t *c = (eddy__http_conn_t *)p;
  if (c->closing || c->state == ST_STOPPED)
    return; /* draining, or nothing more will be parsed */
  if (c->running) {
    /* Fed from inside a handler (a test transport can): keep the order. */
    keep_ext(c);
    if (eddy_buf_append(&c->in, data, len) != 0) {
      c->closing = 1;
      eddy_transport_abort_connection(c->t);
    }
    c->rerun = 1;
    return;
  }
  c->ext = data;
  c->extlen = len;
  run(c);
}

static int http_eof_received(eddy_protocol_t *p) {
  eddy__http_conn_t *c = (eddy__http_conn_t *)p;
  if (c->closing)
    return 0;
  if (c->current == NULL && c->qlen == 0 && c->error_status == 0 &&
      c->out.len == 0)
    return 0;
  if (c->current != NULL && c->current->close_on_eof) {
    /* A held response whose client gave up: nobody will read it. */
    c->closing = 1;
    eddy_transport_abort_connection(c->t);
    return 1;
  }
  /* Answer what was asked (a half-closing client still reads), then close.
   * A partial request left behind is dropped. */
  c->eof_seen = 1;
  if (c->state != ST_STOPPED && c->state != ST_UPGRADE) {
    if (c->reading != NULL) {
      drop_request(c, c->reading);
      c->reading = NULL;
    }
    c->state = ST_STOPPED;
  }
  eddy__http_conn_kick(c);
  return 1;
}

static void http_connection_lost(eddy_protocol_t *p, int reason) {
  eddy__http_conn_t *c = (eddy__http_conn_t *)p;
  c->lost = 1;
  c->closing = 1;
  eddy_timer_stop(&c->timer);
  eddy__reactor_soon_cancel(c->server->reactor, &c->soon);
  drop_queue(c);
  eddy_http_request_t *req = c->current;
  if (req != NULL) {
    c->current = NULL;
    req->conn = NULL;
    if (req->close_cb != NULL)
      req->close_cb(req, reason, req->close_arg);
  }
}

static void http_pause_writing(eddy_protocol_t *p) {
  eddy__http_conn_t *c = (eddy__http_conn_t *)p;
  c->pause_mask |= PAUSE_WRITE;
  update_reading(c);
}

static void http_resume_writing(eddy_protocol_t *p) {
  eddy__http_conn_t *c = (eddy__http_conn_t *)p;
  c->pause_mask &= ~(unsigned)PAUSE_WRITE;
  update_reading(c);
  eddy_http_request_t *req = c->current;
  c->writable_owed = 0;
  if (req != NULL && req->writable_cb != NULL)
    req->writable_cb(req, req->writable_arg);
  eddy__http_conn_kick(c);
}

static void http_destroy(eddy_protocol_t *p) {
  eddy__http_conn_t *c = (eddy__http_conn_t *)p;
  eddy_http_server_t *s = c->server;
  unlink_conn(c);
  s->nconns--;
  s->stats.connections = s->nconns;
  /* Only a test double can take a connection away from inside a handler;
   * then run() is still on the stack and frees it when it returns. */
  if (c->running)
    c->free_pending = 1;
  else
    conn_free(c);
  eddy__http_server_check_done(s);
}

static const eddy_protocol_ops_t http_ops = {
    .connection_made = http_connection_made,
    .data_received = http_data_received,
    .eof_received = http_eof_received,
    .connection_lost = http_connection_lost,
    .pause_writing = http_pause_writing,
    .resume_writing = http_resume_writing,
    .destroy = http_destroy,
};

eddy_protocol_t *eddy__http_conn_new(eddy_http_server_t *s,
                                     const eddy_addr_t *peer) {
  eddy__http_conn_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  eddy_protocol_init(&c->proto, &http_ops);
  c->proto.factory = &s->factory;
  c->server = s;
  if (peer != NULL)
    c->peer = *peer;
  eddy_http_parser_init(&c->parser, EDDY_HTTP_REQUEST, &s->limits);
  eddy_buf_init(&c->in, s->limits.max_head + IN_SLACK);
  eddy_buf_init(&c->out, OUT_SOFT);
  eddy_timer_init(s->reactor, &c->timer);
  c->timer.data = c;
  c->next = s->conns;
  if (s->conns != NULL)
    s->conns->prev = c;
  s->conns = c;
  s->nconns++;
  s->stats.connections = s->nconns;
  s->stats.connections_total++;
  return &c->proto;
}

/* ---- Shutdown and switch ------------------------------------------------- */

void eddy__http_conn_shutdown(eddy__http_conn_t *c) {
  if (c->closing || c->lost || c->switched)
    return;
  c->close_after = 1;
  if (c->current == NULL && !c->running)
    begin_close(c);
  else
    eddy__http_conn_kick(c);
}

void eddy__http_conn_switch(eddy__http_conn_t *c, eddy_http_request_t *req,
                            eddy_protocol_t *p) {
  eddy_http_server_t *s = c->server;
  eddy_transport_t *t = c->t;
  eddy__http_conn_flush(c); /* the 101 leaves before the new protocol */
  c->switched = 1;
  eddy_timer_stop(&c->timer);
  eddy__reactor_soon_cancel(s->reactor, &c->soon);
  c->current = NULL;
  s->live_requests--;
  eddy__http_request_free(req);
  drop_queue(c);
  unlink_conn(c);
  eddy__http_server_track_upgrade(s, p, t);
  /* The bytes that followed the request belong to the new protocol. */
  if (c->extlen > 0) {
    if (eddy_buf_append(&c->in, c->ext, c->extlen) != 0) {
      c->extlen = 0;
      eddy_transport_abort_connection(t);
    }
    c->ext = NULL;
    c->extlen = 0;
  }
  if (c->read_paused) {
    c->read_paused = 0;
    eddy_transport_resume_reading(t);
  }
  c->proto.transport = NULL;
  t->protocol = p;
  eddy_protocol_connection_made(p, t);
  if (c->in.len > 0 && t->protocol == p && !t->closing)
    eddy_protocol_data_received(p, c->in.data, c->in.len);
  if (c->running)
    c->free_pending = 1;
  else
    conn_free(c);
}
