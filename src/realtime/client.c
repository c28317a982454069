/* client.c — one client's requests: connect (tokens and the connect
 * timeout), subscribe with history or recovery, unsubscribe, publish,
 * presence, history, ping; the per-client limits.
 *
 * Replies are written as text by concatenation; publications inside them
 * are the kept push texts, copied as they are. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "realtime/rt_internal.h"

/* Bytes of a client's info (compact JSON) shown in presence and events. */
#define INFO_MAX 4096

static void connect_timeout(eddy_timer_t *t) {
  eddy_rt_client_t *c = t->data;
  eddy_rt_t *hub = c->hub;
  hub->busy++;
  eddy__rt_client_close(c, EDDY_RT_CLOSE_CONNECT_TIMEOUT, "connect timeout");
  hub->busy--;
  eddy__rt_hub_settle(hub);
}

void eddy__rt_client_start(eddy_rt_client_t *c) {
  if (c->hub->secret == NULL)
    return;
  /* Only hubs with a secret pay for the timer, and only until connect. */
  c->connect_timer = malloc(sizeof(*c->connect_timer));
  if (c->connect_timer == NULL) {
    eddy__rt_client_close(c, EDDY_RT_CLOSE_CONNECT_TIMEOUT, "out of memory");
    return;
  }
  eddy_timer_init(c->hub->reactor, c->connect_timer);
  c->connect_timer->data = c;
  eddy_timer_start(c->connect_timer, c->hub->o.connect_timeout_ms,
                   connect_timeout);
}

/* A reply (history, presence) is at most EDDY__RT_REPLY_MAX: asking for
 * more is refused (413) instead of being built without bound. */
static void reply_init(const eddy_rt_client_t *c, eddy_buf_t *b) {
  (void)c;
  eddy_buf_init(b, EDDY__RT_REPLY_MAX);
}

static void send_buf(eddy_rt_client_t *c, eddy_buf_t *b, int rc,
                     const char *id) {
  if (rc == 0)
    eddy__rt_client_send(c, b->data, b->len);
  else if (rc == UV_ENOBUFS)
    eddy__rt_client_error(c, id, 413, "reply too large: ask for less");
  else
    eddy__rt_client_error(c, id, 503, "out of memory");
  eddy_buf_free(b);
}

/* ---- connect -------------------------------------------------------------*/

static void do_connect(eddy_rt_client_t *c, eddy__rt_msg_t *m) {
  eddy_rt_t *hub = c->hub;
  if (c->flags & EDDY__RT_C_CONNECTED) {
    eddy__rt_client_error(c, m->id, 409, "already connected");
    return;
  }
  if (c->flags & EDDY__RT_C_ASKED) {
    eddy__rt_client_error(c, m->id, 409, "connect must be the first message");
    return;
  }
  char *user = NULL;
  json_t *info = NULL;
  if (hub->secret != NULL) {
    if (m->token == NULL) {
      eddy__rt_client_error(c, m->id, 401, "token required");
      eddy__rt_client_close(c, EDDY_RT_CLOSE_UNAUTHORIZED, "token required");
      return;
    }
    int rc = eddy_rt_token_verify(hub->secret, m->token, m->token_len,
                                  (uint64_t)time(NULL), &user, &info);
    if (rc != 0) {
      const char *why =
          rc == UV_EACCES ? "invalid or expired token" : "malformed token";
      eddy__rt_client_error(c, m->id, 401, why);
      eddy__rt_client_close(c, EDDY_RT_CLOSE_UNAUTHORIZED, why);
      return;
    }
  }
  /* The token's info is the server's word; the client's own info is used
   * only when the token has none (or no tokens are in use). */
  if (info == NULL && m->info != NULL)
    info = json_incref(m->info);
  if (info != NULL) {
    char *text = json_dumps(info, JSON_COMPACT);
    size_t n = text != NULL ? strlen(text) : SIZE_MAX;
    free(text);
    if (n > INFO_MAX) {
      json_decref(info);
      free(user);
      eddy__rt_client_error(c, m->id, 413, "info too large");
      if (hub->secret != NULL)
        eddy__rt_client_close(c, EDDY_RT_CLOSE_UNAUTHORIZED, "info too large");
      return;
    }
    if (json_object_size(info) == 0) {
      json_decref(info);
      info = NULL;
    }
  }
  if (user != NULL && user[0] == '\0') {
    free(user);
    user = NULL;
  }
  c->user = user;
  c->info = info;
  c->flags |= EDDY__RT_C_CONNECTED;
  if (c->connect_timer != NULL) {
    eddy_timer_stop(c->connect_timer);
    free(c->connect_timer);
    c->connect_timer = NULL;
  }
  char id[EDDY__RT_CLIENT_ID_MAX];
  eddy__rt_client_id(c, id);
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  int rc = eddy_buf_printf(&b,
                           "{\"op\":\"connected\",\"id\":%s,\"client\":\"%s\","
                           "\"user\":",
                           m->id, id);
  if (rc == 0)
    rc = eddy__rt_json_str(&b, user != NULL ? user : "",
                           user != NULL ? strlen(user) : 0);
  if (rc == 0)
    rc = eddy_buf_printf(&b, ",\"ping_ms\":%llu}",
                         (unsigned long long)hub->o.ping_interval_ms);
  send_buf(c, &b, rc, m->id);
}

/* ---- channel requests
 * ------------------------------------------------------*/

/* The channel's namespace, or an error reply (and NULL). */
static const eddy_rt_namespace_t *ns_or_error(eddy_rt_client_t *c,
                                              const eddy__rt_msg_t *m) {
  const eddy_rt_namespace_t *ns =
      eddy__rt_namespace_of(c->hub, m->channel, m->channel_len);
  if (ns == NULL)
    eddy__rt_client_error(c, m->id, 404, "unknown namespace");
  return ns;
}

static eddy__rt_channel_t *get_or_error(eddy_rt_client_t *c,
                                        const eddy__rt_msg_t *m,
                                        const eddy_rt_namespace_t *ns) {
  int err = 0;
  eddy__rt_channel_t *ch =
      eddy__rt_channel_get(c->hub, m->channel, m->channel_len, ns, &err);
  if (ch == NULL)
    eddy__rt_client_error(
        c, m->id, 503, err == UV_EBUSY ? "too many channels" : "out of memory");
  return ch;
}

static void expire(eddy_rt_t *hub, eddy__rt_channel_t *ch) {
  eddy__rt_history_expire(hub, &ch->history, ch->ns->history_ttl_ms,
                          eddy_reactor_now(hub->reactor));
  if (ch->history.count == 0)
    eddy__rt_channel_unlist(hub, ch);
}

static int subscribed_reply(eddy_buf_t *b, const eddy__rt_msg_t *m,
                            const eddy__rt_channel_t *ch, uint32_t from,
                            int recovered, const char *reason) {
  const eddy__rt_history_t *h = &ch->history;
  int rc =
      eddy_buf_printf(b,
                      "{\"op\":\"subscribed\",\"id\":%s,\"channel\":\"%s\","
                      "\"epoch\":\"%s\",\"offset\":%llu,\"publications\":[",
                      m->id, ch->name, h->epoch, (unsigned long long)h->last);
  if (rc == 0)
    rc = eddy__rt_history_append(h, from, h->count - from, b);
  if (rc == 0)
    rc = eddy_buf_append(b, "]", 1);
  if (rc == 0 && m->has_recover)
    rc = eddy_buf_printf(b, ",\"recovered\":%s", recovered ? "true" : "false");
  if (rc == 0 && reason != NULL) {
    rc = eddy_buf_append_str(b, ",\"reason\":");
    if (rc == 0)
      rc = eddy__rt_json_str(b, reason, strlen(reason));
  }
  if (rc == 0)
    rc = eddy_buf_append(b, "}", 1);
  return rc;
}

static void do_subscribe(eddy_rt_client_t *c, eddy__rt_msg_t *m) {
  eddy_rt_t *hub = c->hub;
  const eddy_rt_namespace_t *ns = ns_or_error(c, m);
  if (ns == NULL)
    return;
  eddy__rt_channel_t *ch =
      eddy__rt_channel_find(hub, m->channel, m->channel_len);
  if (ch != NULL && eddy__rt_client_slot(c, ch) != UINT32_MAX) {
    eddy__rt_client_error(c, m->id, 409, "already subscribed");
    return;
  }
  if (c->nsubs >= hub->o.max_subscriptions) {
    eddy__rt_client_error(c, m->id, 429, "too many subscriptions");
    return;
  }
  if (ch == NULL && (ch = get_or_error(c, m, ns)) == NULL)
    return;
  expire(hub, ch);
  if (eddy__rt_subscribe(c, ch) != 0) {
    eddy__rt_client_error(c, m->id, 503, "out of memory");
    eddy__rt_channel_maybe_free(hub, ch);
    return;
  }
  const eddy__rt_history_t *h = &ch->history;
  uint32_t from = h->count;
  int recovered = 0;
  const char *reason = NULL;
  if (m->has_history)
    from = m->history >= h->count ? 0 : h->count - (uint32_t)m->history;
  else if (m->has_recover)
    recovered = eddy__rt_history_recover(h, ns->history_size, m->epoch,
                                         m->offset, &from, &reason);
  if (m->has_recover && !recovered)
    from = h->count; /* never a partial replay */
  eddy_buf_t b;
  reply_init(c, &b);
  int rc = subscribed_reply(&b, m, ch, from, recovered, reason);
  if (rc == UV_ENOBUFS && m->has_recover) {
    /* More missed publications than one reply may carry: the client is
     * told plainly, as for any recovery that cannot be whole. */
    eddy_buf_clear(&b);
    rc = subscribed_reply(&b, m, ch, h->count, 0,
                          "too many missed publications to replay");
  } else if (rc == UV_ENOBUFS) {
    eddy__rt_unsubscribe_slot(c, eddy__rt_client_slot(c, ch));
    send_buf(c, &b, rc, m->id);
    eddy__rt_channel_maybe_free(hub, ch);
    return;
  }
  send_buf(c, &b, rc, m->id);
  eddy__rt_presence_event(hub, ch, c, 1);
}

static void do_unsubscribe(eddy_rt_client_t *c, eddy__rt_msg_t *m) {
  eddy_rt_t *hub = c->hub;
  eddy__rt_channel_t *ch =
      eddy__rt_channel_find(hub, m->channel, m->channel_len);
  uint32_t slot = ch != NULL ? eddy__rt_client_slot(c, ch) : UINT32_MAX;
  if (slot == UINT32_MAX) {
    eddy__rt_client_error(c, m->id, 404, "not subscribed");
    return;
  }
  eddy__rt_unsubscribe_slot(c, slot);
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  int rc = eddy_buf_printf(
      &b, "{\"op\":\"unsubscribed\",\"id\":%s,\"channel\":\"%s\"}", m->id,
      ch->name);
  send_buf(c, &b, rc, m->id);
  eddy__rt_presence_event(hub, ch, c, 0);
  eddy__rt_channel_maybe_free(hub, ch);
}

static void do_publish(eddy_rt_client_t *c, eddy__rt_msg_t *m) {
  eddy_rt_t *hub = c->hub;
  const eddy_rt_namespace_t *ns = ns_or_error(c, m);
  if (ns == NULL)
    return;
  /* "eddy" is the server's own namespace, whatever its options say. */
  if (!ns->publish || strcmp(ns->name, "eddy") == 0) {
    eddy__rt_client_error(c, m->id, 403,
                          "clients may not publish on this channel");
    return;
  }
  /* Re-serialized compactly: what subscribers get is canonical, and a
   * client cannot smuggle whitespace padding past max_publication. */
  char *data = json_dumps(m->data, JSON_COMPACT | JSON_ENCODE_ANY);
  if (data == NULL) {
    eddy__rt_client_error(c, m->id, 503, "out of memory");
    return;
  }
  size_t dlen = strlen(data);
  if (dlen > hub->o.max_publication) {
    free(data);
    eddy__rt_client_error(c, m->id, 413, "publication too large");
    return;
  }
  eddy__rt_channel_t *ch = get_or_error(c, m, ns);
  if (ch == NULL) {
    free(data);
    return;
  }
  eddy_rt_published_t res;
  int rc = eddy__rt_publish(hub, ch, data, dlen, c, &res);
  free(data);
  if (rc != 0) {
    eddy__rt_client_error(c, m->id, 503, "out of memory");
    return;
  }
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  rc = eddy_buf_printf(&b,
                       "{\"op\":\"published\",\"id\":%s,\"channel\":\"%s\","
                       "\"offset\":%llu,\"epoch\":\"%s\"}",
                       m->id, m->channel, (unsigned long long)res.offset,
                       res.epoch);
  send_buf(c, &b, rc, m->id);
}

static void do_presence(eddy_rt_client_t *c, eddy__rt_msg_t *m) {
  const eddy_rt_namespace_t *ns = ns_or_error(c, m);
  if (ns == NULL)
    return;
  if (!ns->presence) {
    eddy__rt_client_error(c, m->id, 403, "presence is off for this channel");
    return;
  }
  eddy__rt_channel_t *ch =
      eddy__rt_channel_find(c->hub, m->channel, m->channel_len);
  eddy_buf_t b;
  reply_init(c, &b);
  int rc = eddy_buf_printf(
      &b,
      "{\"op\":\"presence\",\"id\":%s,\"channel\":\"%s\",\"clients\":", m->id,
      m->channel);
  if (rc == 0)
    rc = ch != NULL ? eddy__rt_presence_append(ch, &b)
                    : eddy_buf_append(&b, "[]", 2);
  if (rc == 0)
    rc = eddy_buf_append(&b, "}", 1);
  send_buf(c, &b, rc, m->id);
}

static void do_history(eddy_rt_client_t *c, eddy__rt_msg_t *m) {
  if (ns_or_error(c, m) == NULL)
    return;
  eddy_buf_t b;
  reply_init(c, &b);
  int rc = eddy_buf_printf(&b, "{\"op\":\"history\",\"id\":%s,", m->id);
  if (rc == 0)
    rc = eddy__rt_history_body(c->hub, m->channel, m->channel_len, m->since,
                               m->limit, &b);
  if (rc == 0)
    rc = eddy_buf_append(&b, "}", 1);
  send_buf(c, &b, rc, m->id);
}

int eddy__rt_history_body(eddy_rt_t *hub, const char *name, size_t len,
                          uint64_t since, uint64_t limit, eddy_buf_t *b) {
  eddy__rt_channel_t *ch = eddy__rt_channel_find(hub, name, len);
  if (ch != NULL) {
    expire(hub, ch);
    if (ch->history.count == 0 && ch->nmembers == 0) {
      eddy__rt_channel_maybe_free(hub, ch);
      ch = NULL;
    }
  }
  const eddy__rt_history_t *h = ch != NULL ? &ch->history : NULL;
  int rc = eddy_buf_append_str(b, "\"channel\":\"");
  if (rc == 0)
    rc = eddy_buf_append(b, name, len);
  if (rc == 0)
    rc = eddy_buf_printf(b,
                         "\",\"epoch\":\"%s\",\"offset\":%llu,"
                         "\"publications\":[",
                         h != NULL ? h->epoch : "",
                         (unsigned long long)(h != NULL ? h->last : 0));
  if (rc == 0 && h != NULL) {
    uint32_t from = eddy__rt_history_after(h, since);
    uint64_t n = h->count - from;
    if (limit > 0 && n > limit)
      n = limit;
    rc = eddy__rt_history_append(h, from, (uint32_t)n, b);
  }
  if (rc == 0)
    rc = eddy_buf_append(b, "]", 1);
  return rc;
}

/* ---- dispatch
 * ----------------------------------------------------------------*/

void eddy__rt_client_receive(eddy_rt_client_t *c, const char *text,
                             size_t len) {
  eddy_rt_t *hub = c->hub;
  eddy__rt_msg_t m;
  char err[128];
  int rc = eddy__rt_parse(text, len, &m, err, sizeof(err));
  if (rc == EDDY__RT_BROKEN) {
    eddy__rt_client_error(c, NULL, 400, err);
    eddy__rt_client_close(c, EDDY_RT_CLOSE_BAD_REQUEST, err);
    return;
  }
  /* m.op is known whenever the message names a known op, even when its
   * fields are wrong: a malformed connect is answered as one. */
  int connecting = m.op == EDDY__RT_OP_CONNECT;
  int need_connect = hub->secret != NULL && !(c->flags & EDDY__RT_C_CONNECTED);
  if (need_connect && !connecting) {
    eddy__rt_msg_clear(&m);
    eddy__rt_client_error(c, m.id, 401, "connect first");
    eddy__rt_client_close(c, EDDY_RT_CLOSE_UNAUTHORIZED, "connect first");
    return;
  }
  if (!connecting) /* even one refused below: connect must come first */
    c->flags |= EDDY__RT_C_ASKED;
  if (rc != EDDY__RT_OK) {
    eddy__rt_client_error(c, m.id, (unsigned)rc, err);
    if (need_connect)
      eddy__rt_client_close(c, EDDY_RT_CLOSE_UNAUTHORIZED, err);
    return;
  }
  switch (m.op) {
  case EDDY__RT_OP_CONNECT:
    do_connect(c, &m);
    break;
  case EDDY__RT_OP_SUBSCRIBE:
    do_subscribe(c, &m);
    break;
  case EDDY__RT_OP_UNSUBSCRIBE:
    do_unsubscribe(c, &m);
    break;
  case EDDY__RT_OP_PUBLISH:
    do_publish(c, &m);
    break;
  case EDDY__RT_OP_PRESENCE:
    do_presence(c, &m);
    break;
  case EDDY__RT_OP_HISTORY:
    do_history(c, &m);
    break;
  case EDDY__RT_OP_PING: {
    char pong[EDDY__RT_ID_MAX + 32];
    int n = snprintf(pong, sizeof(pong), "{\"op\":\"pong\",\"id\":%s}", m.id);
    eddy__rt_client_send(c, pong, (size_t)n);
    break;
  }
  }
  eddy__rt_msg_clear(&m);
}
