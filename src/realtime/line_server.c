/* line_server.c — the backend line protocol: a persistent TCP or Unix
 * connection on which a synchronous worker publishes with one short line
 * and reads one short reply (docs/protocol/realtime.md).
 *
 * Replies are gathered while a read is processed and written once at its
 * end, so a worker that pipelines a thousand PUBLISH lines costs one write,
 * not a thousand. A worker that sends without reading its replies is
 * stopped reading (pause_writing) until it catches up. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/endpoint.h"
#include "eddy/error.h"
#include "eddy/line.h"
#include "eddy/log.h"
#include "eddy/transport.h"
#include "realtime/lines_internal.h"
#include "realtime/rt_internal.h"

/* Replies of one read: enough for the pipelined lines of any read; a
 * reply that does not fit is written at once instead. */
#define OUT_MAX ((size_t)256 * 1024)

typedef struct conn_s conn_t;

struct eddy__rt_lines_s {
  eddy__rt_hook_t hook; /* first: the hub's close hands it back */
  eddy_rt_t *hub;
  eddy_factory_t factory;
  char *token; /* NULL: no AUTH needed */
  eddy_listener_t *listener;
  conn_t *conns;
  size_t nconns; /* accepted (not refused) */
  int closing;
  int listener_open;
  int hooked;
  eddy__soon_t soon;
};

struct conn_s {
  eddy_line_receiver_t lr; /* first: the library's protocol pointer is ours */
  eddy__rt_lines_t *svc;
  conn_t *prev, *next;
  eddy_buf_t out;
  int corked; /* inside data_received: replies wait for its end */
  int authed;
  int quitting; /* no more requests are read */
  int refused;  /* over EDDY__RT_LINES_CONN_MAX */
};

/* ---- Parsing (pure) -------------------------------------------------------*/

static int is_space(char c) {
  return c == ' ' || c == '\t';
}

static int word_is(const char *w, size_t n, const char *verb) {
  size_t vn = strlen(verb);
  if (n != vn)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = w[i];
    if (c >= 'a' && c <= 'z')
      c = (char)(c - 'a' + 'A');
    if (c != verb[i])
      return 0;
  }
  return 1;
}

/* The next word of line[*pos..len): skips blanks first. */
static size_t next_word(const char *line, size_t len, size_t *pos,
                        const char **w) {
  size_t i = *pos;
  while (i < len && is_space(line[i]))
    i++;
  size_t start = i;
  while (i < len && !is_space(line[i]))
    i++;
  *w = line + start;
  *pos = i;
  return i - start;
}

int eddy__rt_line_next_channel(const eddy__rt_line_t *l, size_t *pos,
                               const char **name, size_t *len) {
  if (*pos >= l->arg_len)
    return 0;
  const char *p = l->arg + *pos;
  const char *comma = memchr(p, ',', l->arg_len - *pos);
  size_t n = comma != NULL ? (size_t)(comma - p) : l->arg_len - *pos;
  *name = p;
  *len = n;
  *pos += n + 1;
  return 1;
}

/* Checks a BROADCAST list; returns its channel count or 0 with *err. */
static size_t check_list(eddy__rt_line_t *l, const char **err) {
  size_t pos = 0, n = 0;
  const char *name;
  size_t nlen;
  if (l->arg[l->arg_len - 1] == ',') {
    *err = "empty channel name in the list";
    return 0;
  }
  while (eddy__rt_line_next_channel(l, &pos, &name, &nlen)) {
    if (nlen == 0) {
      *err = "empty channel name in the list";
      return 0;
    }
    if (!eddy__rt_channel_valid(name, nlen)) {
      *err = "bad channel name";
      return 0;
    }
    if (++n > EDDY__RT_BROADCAST_MAX) {
      *err = "too many channels (at most 1000)";
      return 0;
    }
    /* Publishing twice to one channel is never what was meant. */
    size_t p2 = 0;
    const char *other;
    size_t olen;
    while (p2 < (size_t)(name - l->arg) &&
           eddy__rt_line_next_channel(l, &p2, &other, &olen)) {
      if (olen == nlen && memcmp(other, name, nlen) == 0) {
        *err = "channel named twice";
        return 0;
      }
    }
  }
  return n;
}

int eddy__rt_line_parse(const char *line, size_t len, eddy__rt_line_t *out,
                        const char **err) {
  memset(out, 0, sizeof(*out));
  *err = NULL;
  if (len > 0 && line[len - 1] == '\r')
    len--;
  size_t pos = 0;
  const char *verb;
  size_t vlen = next_word(line, len, &pos, &verb);
  if (vlen == 0)
    return 0;
  const char *arg;
  size_t alen = next_word(line, len, &pos, &arg);
  /* The data is the rest of the line, spaces and all. */
  while (pos < len && is_space(line[pos]))
    pos++;
  const char *rest = line + pos;
  size_t rest_len = len - pos;
  if (word_is(verb, vlen, "PING")) {
    if (alen != 0) {
      *err = "PING takes no arguments";
      return EDDY_EPARSE;
    }
    out->verb = EDDY__RT_L_PING;
    return 1;
  }
  if (word_is(verb, vlen, "AUTH")) {
    if (alen == 0 || rest_len != 0) {
      *err = "usage: AUTH <token>";
      return EDDY_EPARSE;
    }
    out->verb = EDDY__RT_L_AUTH;
    out->arg = arg;
    out->arg_len = alen;
    return 1;
  }
  int publish = word_is(verb, vlen, "PUBLISH");
  if (!publish && !word_is(verb, vlen, "BROADCAST")) {
    *err = "unknown command";
    return EDDY_EPARSE;
  }
  if (alen == 0 || rest_len == 0) {
    *err = publish ? "usage: PUBLISH <channel> <json>"
                   : "usage: BROADCAST <channel>,<channel>,... <json>";
    return EDDY_EPARSE;
  }
  out->arg = arg;
  out->arg_len = alen;
  out->data = rest;
  out->data_len = rest_len;
  if (publish) {
    if (!eddy__rt_channel_valid(arg, alen)) {
      *err = "bad channel name";
      return EDDY_EPARSE;
    }
    out->verb = EDDY__RT_L_PUBLISH;
    out->nchannels = 1;
    return 1;
  }
  out->verb = EDDY__RT_L_BROADCAST;
  out->nchannels = check_list(out, err);
  return out->nchannels == 0 ? EDDY_EPARSE : 1;
}

/* ---- Replies --------------------------------------------------------------*/

static void flush(conn_t *c) {
  if (c->out.len == 0)
    return;
  eddy_transport_t *t = c->lr.protocol.transport;
  if (t != NULL)
    (void)eddy_transport_write(t, c->out.data, c->out.len);
  eddy_buf_clear(&c->out);
}

static void reply(conn_t *c, const char *text, size_t len) {
  if (eddy_buf_append(&c->out, text, len) != 0) {
    /* Too much gathered: write what is there, then this one. */
    flush(c);
    eddy_transport_t *t = c->lr.protocol.transport;
    if (t != NULL)
      (void)eddy_transport_write(t, text, len);
  }
  if (!c->corked)
    flush(c);
}

static void replyf(conn_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void replyf(conn_t *c, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n >= sizeof(buf)) {
    /* Replies are short; a long one is cut but keeps its newline. */
    n = (int)sizeof(buf) - 1;
    buf[n - 1] = '\n';
  }
  reply(c, buf, (size_t)n);
}

/* Stops reading and closes once the replies are written. */
static void quit(conn_t *c) {
  c->quitting = 1;
  flush(c);
  if (c->lr.protocol.transport != NULL)
    eddy_transport_lose_connection(c->lr.protocol.transport);
}

static int publish_one(conn_t *c, const char *name, size_t len,
                       const eddy__rt_line_t *l, eddy_rt_published_t *res) {
  char channel[EDDY_RT_CHANNEL_MAX + 1];
  if (len > EDDY_RT_CHANNEL_MAX)
    return UV_EINVAL;
  memcpy(channel, name, len);
  channel[len] = '\0';
  return eddy_rt_publish(c->svc->hub, channel, l->data, l->data_len, res);
}

static void do_publish(conn_t *c, const eddy__rt_line_t *l) {
  eddy_rt_published_t res;
  const char *msg;
  int rc = publish_one(c, l->arg, l->arg_len, l, &res);
  if (rc != 0) {
    unsigned code = (unsigned)eddy__rt_error_status(rc, &msg);
    replyf(c, "ERR %u %s\n", code, msg);
    return;
  }
  replyf(c, "OK %llu %s\n", (unsigned long long)res.offset,
         res.epoch[0] != '\0' ? res.epoch : "-");
}

static void do_broadcast(conn_t *c, const eddy__rt_line_t *l) {
  size_t pos = 0, ok = 0;
  const char *name, *msg = NULL;
  size_t len;
  int first_err = 0;
  const char *bad = NULL;
  size_t bad_len = 0;
  /* Data that is not JSON or too large fails everywhere alike: checked
   * once, before any channel. */
  int drc = eddy__rt_data_check(c->svc->hub, l->data, l->data_len);
  if (drc != 0) {
    unsigned code = (unsigned)eddy__rt_error_status(drc, &msg);
    replyf(c, "ERR %u %s\n", code, msg);
    return;
  }
  while (eddy__rt_line_next_channel(l, &pos, &name, &len)) {
    eddy_rt_published_t res;
    int rc = eddy__rt_publish_checked(c->svc->hub, name, len, l->data,
                                      l->data_len, &res);
    if (rc == 0) {
      ok++;
    } else if (first_err == 0) {
      first_err = rc;
      bad = name;
      bad_len = len;
    }
  }
  if (first_err == 0) {
    replyf(c, "OK %zu\n", ok);
    return;
  }
  unsigned code = (unsigned)eddy__rt_error_status(first_err, &msg);
  replyf(c, "ERR %u %s on %.*s (published to %zu of %zu channels)\n", code, msg,
         (int)bad_len, bad, ok, l->nchannels);
}

static void on_line(eddy_line_receiver_t *lr, const char *line, size_t len) {
  conn_t *c = (conn_t *)lr;
  if (c->quitting)
    return;
  eddy__rt_line_t l;
  const char *err;
  int rc = eddy__rt_line_parse(line, len, &l, &err);
  if (rc == 0)
    return;
  if (rc < 0) {
    replyf(c, "ERR 400 %s\n", err);
    return;
  }
  if (l.verb == EDDY__RT_L_AUTH) {
    if (c->svc->token == NULL ||
        eddy__rt_secret_equal(c->svc->token, l.arg, l.arg_len)) {
      c->authed = 1;
      reply(c, "OK\n", 3);
      return;
    }
    /* A wrong guess ends the connection: guessing costs a reconnect. */
    eddy_log(EDDY_LOG_WARN, "rt_lines_auth_failed", "conns=%zu",
             c->svc->nconns);
    reply(c, "ERR 401 bad token\n", 18);
    quit(c);
    return;
  }
  if (l.verb == EDDY__RT_L_PING) {
    reply(c, "PONG\n", 5);
    return;
  }
  if (!c->authed) {
    replyf(c, "ERR 401 AUTH first\n");
    return;
  }
  if (l.verb == EDDY__RT_L_PUBLISH)
    do_publish(c, &l);
  else
    do_broadcast(c, &l);
}

static void on_too_long(eddy_line_receiver_t *lr, size_t len) {
  conn_t *c = (conn_t *)lr;
  (void)len;
  if (!c->quitting)
    replyf(c, "ERR 413 line longer than %zu bytes\n", EDDY__RT_LINE_MAX);
}

/* ---- Connections ----------------------------------------------------------*/

static void maybe_finish(eddy__rt_lines_t *s);

static void conn_made(eddy_protocol_t *p) {
  conn_t *c = (conn_t *)p;
  if (c->refused) {
    eddy_log(EDDY_LOG_WARN, "rt_lines_conn_refused", "max=%d",
             EDDY__RT_LINES_CONN_MAX);
    reply(c, "ERR 503 too many connections\n", 29);
    quit(c);
  }
}

static void conn_data_received(eddy_protocol_t *p, const char *data,
                               size_t len) {
  conn_t *c = (conn_t *)p;
  c->corked = 1;
  eddy_line_receiver_data_received(p, data, len);
  c->corked = 0;
  flush(c);
}

static void conn_lost(eddy_protocol_t *p, int reason) {
  conn_t *c = (conn_t *)p;
  eddy__rt_lines_t *s = c->svc;
  (void)reason;
  c->quitting = 1;
  if (!c->refused)
    s->nconns--;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  c->prev = c->next = NULL;
}

static void conn_destroy(eddy_protocol_t *p) {
  conn_t *c = (conn_t *)p;
  eddy__rt_lines_t *s = c->svc;
  eddy_line_receiver_cleanup(&c->lr);
  eddy_buf_free(&c->out);
  free(c);
  maybe_finish(s);
}

/* A worker that sends without reading its replies would make the write
 * queue grow without bound: read no more requests until it catches up. */
static void conn_pause_writing(eddy_protocol_t *p) {
  eddy_transport_pause_reading(p->transport);
}

static void conn_resume_writing(eddy_protocol_t *p) {
  eddy_transport_resume_reading(p->transport);
}

static const eddy_protocol_ops_t conn_ops = {
    .connection_made = conn_made,
    .data_received = conn_data_received,
    .connection_lost = conn_lost,
    .pause_writing = conn_pause_writing,
    .resume_writing = conn_resume_writing,
    .destroy = conn_destroy,
};

static const eddy_line_ops_t conn_line_ops = {
    .line_received = on_line,
    .line_too_long = on_too_long,
};

static eddy_protocol_t *build(eddy_factory_t *f, const eddy_addr_t *peer) {
  eddy__rt_lines_t *s = f->data;
  (void)peer;
  if (s->closing)
    return NULL;
  conn_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  /* "\n" ends a line; the "\r" of "\r\n" is dropped by the parser, hence
   * the one extra byte. */
  eddy_line_receiver_init(&c->lr, &conn_ops, &conn_line_ops,
                          EDDY__RT_LINE_MAX + 1);
  (void)eddy_line_receiver_set_delimiter(&c->lr, "\n", 1);
  eddy_buf_init(&c->out, OUT_MAX);
  c->svc = s;
  c->authed = s->token == NULL;
  if (s->nconns >= EDDY__RT_LINES_CONN_MAX)
    c->refused = 1;
  else
    s->nconns++;
  c->next = s->conns;
  if (s->conns != NULL)
    s->conns->prev = c;
  s->conns = c;
  return &c->lr.protocol;
}

/* ---- The service ----------------------------------------------------------*/

static void finish(void *arg) {
  eddy__rt_lines_t *s = arg;
  eddy_rt_t *hub = s->hub;
  free(s->token);
  /* Last: the hub may free itself from inside this call. */
  if (s->hooked) {
    s->hooked = 0;
    eddy__rt_hook_remove(hub, &s->hook);
  }
  free(s);
}

static void maybe_finish(eddy__rt_lines_t *s) {
  if (s->closing && s->conns == NULL && !s->listener_open)
    eddy__reactor_soon(s->hub->reactor, &s->soon, finish, s);
}

static void listener_closed(void *arg) {
  eddy__rt_lines_t *s = arg;
  s->listener_open = 0;
  maybe_finish(s);
}

/* The hub is closing: stop listening, answer what was read, close. */
static void hook_close(eddy__rt_hook_t *hook) {
  eddy__rt_lines_t *s = (eddy__rt_lines_t *)hook;
  s->closing = 1;
  if (s->listener != NULL) {
    eddy_listener_close(s->listener, listener_closed, s);
    s->listener = NULL;
  }
  for (conn_t *c = s->conns; c != NULL; c = c->next)
    if (!c->quitting)
      quit(c);
  maybe_finish(s);
}

int eddy__rt_lines_new(eddy_rt_t *hub, const char *token,
                       eddy__rt_lines_t **out) {
  if (hub == NULL || out == NULL || hub->closing)
    return UV_EINVAL;
  eddy__rt_lines_t *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return UV_ENOMEM;
  if (token != NULL && token[0] != '\0' && (s->token = strdup(token)) == NULL) {
    free(s);
    return UV_ENOMEM;
  }
  s->hub = hub;
  s->factory.build_protocol = build;
  s->factory.data = s;
  s->hook.close = hook_close;
  eddy__rt_hook_add(hub, &s->hook);
  s->hooked = 1;
  *out = s;
  return 0;
}

eddy_factory_t *eddy__rt_lines_factory(eddy__rt_lines_t *s) {
  return &s->factory;
}

int eddy_rt_listen_lines(eddy_rt_t *hub, const char *endpoint,
                         const char *token, eddy_listener_t **out) {
  if (hub == NULL || endpoint == NULL)
    return UV_EINVAL;
  eddy__rt_lines_t *s;
  int rc = eddy__rt_lines_new(hub, token, &s);
  if (rc != 0)
    return rc;
  rc = eddy_listen(hub->reactor, endpoint, &s->factory, &s->listener);
  if (rc != 0) {
    /* Nothing was accepted: undo at once. */
    eddy__rt_hook_remove(hub, &s->hook);
    free(s->token);
    free(s);
    return rc;
  }
  s->listener_open = 1;
  eddy_log(EDDY_LOG_INFO, "rt_lines_listening", "endpoint=%s auth=%s", endpoint,
           s->token != NULL ? "token" : "none");
  if (out != NULL)
    *out = s->listener;
  return 0;
}
