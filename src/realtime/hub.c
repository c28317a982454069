/* hub.c — the hub: options, creation and closing, the client table, the
 * end-of-turn flush of gathered deliveries, stats and metrics, and the
 * attach/receive/detach entry points of non-WebSocket transports.
 *
 * Re-entrancy: a transport may detach a client from inside a call the hub
 * makes (send, close). While the hub is "busy" (a delivery loop or a
 * client's teardown is running) such clients are only marked and queued;
 * every entry point ends with eddy__rt_hub_settle, which frees them once
 * nothing iterates any more. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/log.h"
#include "realtime/rt_internal.h"

#define DEFAULT_MAX_CLIENTS 100000u
#define DEFAULT_MAX_CHANNELS 100000u
#define DEFAULT_MAX_SUBSCRIPTIONS 256u
#define DEFAULT_MAX_MESSAGE (64u * 1024u)
#define DEFAULT_MAX_PUBLICATION (64u * 1024u)
#define DEFAULT_MAX_SEND_QUEUE (1024u * 1024u)
#define DEFAULT_HISTORY_MEMORY ((size_t)64u * 1024u * 1024u)
#define DEFAULT_PING_MS 25000u
#define DEFAULT_PONG_MS 10000u
#define DEFAULT_CONNECT_MS 10000u
#define MAX_ORIGINS 64

void eddy_rt_opts_init(eddy_rt_opts_t *o) {
  memset(o, 0, sizeof(*o));
  o->max_clients = DEFAULT_MAX_CLIENTS;
  o->max_channels = DEFAULT_MAX_CHANNELS;
  o->max_subscriptions = DEFAULT_MAX_SUBSCRIPTIONS;
  o->max_message = DEFAULT_MAX_MESSAGE;
  o->max_publication = DEFAULT_MAX_PUBLICATION;
  o->max_send_queue = DEFAULT_MAX_SEND_QUEUE;
  o->history_memory = DEFAULT_HISTORY_MEMORY;
  o->ping_interval_ms = DEFAULT_PING_MS;
  o->pong_timeout_ms = DEFAULT_PONG_MS;
  o->connect_timeout_ms = DEFAULT_CONNECT_MS;
}

static void hub_free(eddy_rt_t *hub) {
  eddy__rt_channel_free_all(hub);
  free(hub->clients);
  free(hub->namespaces);
  free(hub->secret);
  if (hub->origins != NULL)
    for (size_t i = 0; hub->origins[i] != NULL; i++)
      free(hub->origins[i]);
  free(hub->origins);
  free(hub);
}

static int copy_opts(eddy_rt_t *hub, const eddy_rt_opts_t *o) {
  hub->o = *o;
  if (o->max_clients == 0 || o->max_channels == 0 ||
      o->max_subscriptions == 0 || o->max_message == 0 ||
      o->max_publication == 0 || o->max_send_queue == 0 ||
      o->history_memory == 0 || o->connect_timeout_ms == 0 ||
      o->max_subscriptions > UINT32_MAX / 2 ||
      o->namespace_count > EDDY_RT_MAX_NAMESPACES ||
      (o->namespace_count > 0 && o->namespaces == NULL))
    return UV_EINVAL;
  eddy_rt_namespace_init(&hub->default_ns, "");
  if (o->namespace_count > 0) {
    hub->namespaces = calloc(o->namespace_count, sizeof(*hub->namespaces));
    if (hub->namespaces == NULL)
      return UV_ENOMEM;
  }
  for (size_t i = 0; i < o->namespace_count; i++) {
    const eddy_rt_namespace_t *ns = &o->namespaces[i];
    size_t nl = strnlen(ns->name, sizeof(ns->name));
    if (nl == sizeof(ns->name) ||
        (nl > 0 && !eddy__rt_namespace_name_valid(ns->name, nl)))
      return UV_EINVAL;
    for (size_t j = 0; j < i; j++)
      if (strcmp(o->namespaces[j].name, ns->name) == 0)
        return UV_EINVAL;
    if (nl == 0) {
      hub->default_ns = *ns; /* "" is looked up apart */
      continue;
    }
    hub->namespaces[hub->nnamespaces++] = *ns;
  }
  if (o->secret != NULL && o->secret[0] != '\0' &&
      (hub->secret = strdup(o->secret)) == NULL)
    return UV_ENOMEM;
  if (o->origins != NULL) {
    size_t n = 0;
    while (o->origins[n] != NULL)
      if (++n > MAX_ORIGINS)
        return UV_EINVAL;
    hub->origins = calloc(n + 1, sizeof(char *));
    if (hub->origins == NULL)
      return UV_ENOMEM;
    for (size_t i = 0; i < n; i++)
      if ((hub->origins[i] = strdup(o->origins[i])) == NULL)
        return UV_ENOMEM;
  }
  hub->o.namespaces = hub->namespaces;
  hub->o.namespace_count = hub->nnamespaces;
  hub->o.secret = hub->secret;
  hub->o.origins = (const char *const *)hub->origins;
  return 0;
}

static void check_cb(uv_check_t *h);
static void idle_cb(uv_idle_t *h) {
  (void)h;
}

int eddy_rt_new(eddy_reactor_t *r, const eddy_rt_opts_t *o, eddy_rt_t **out) {
  if (r == NULL || out == NULL)
    return UV_EINVAL;
  eddy_rt_opts_t defaults;
  if (o == NULL) {
    eddy_rt_opts_init(&defaults);
    o = &defaults;
  }
  eddy_rt_t *hub = calloc(1, sizeof(*hub));
  if (hub == NULL)
    return UV_ENOMEM;
  hub->reactor = r;
  int rc = copy_opts(hub, o);
  if (rc != 0) {
    hub_free(hub);
    return rc;
  }
  eddy_timer_init(r, &hub->sweep);
  uv_loop_t *loop = eddy_reactor_loop(r);
  uv_check_init(loop, &hub->check);
  uv_idle_init(loop, &hub->idle);
  hub->check.data = hub->idle.data = hub;
  /* Both are active only while something is gathered, which is exactly
   * when the loop must go on to the end of the turn. */
  hub->handles_open = 2;
  eddy_metrics_t *m = o->metrics;
  hub->m_published = eddy_metrics_counter(m, "eddy_realtime_published_total",
                                          NULL, "Publications accepted.");
  hub->m_delivered =
      eddy_metrics_counter(m, "eddy_realtime_delivered_total", NULL,
                           "Publications queued to subscribers.");
  hub->m_dropped = eddy_metrics_counter(
      m, "eddy_realtime_dropped_clients_total", NULL,
      "Clients closed because their send queue was full (4008).");
  hub->m_channels =
      eddy_metrics_gauge(m, "eddy_realtime_channels", NULL, "Channels alive.");
  hub->m_publish_us = eddy_metrics_histogram(
      m, "eddy_realtime_publish_seconds", NULL,
      "From a publication to its last delivery queued.", 1e6);
  *out = hub;
  return 0;
}

/* ---- End-of-turn flush ---------------------------------------------------*/

void eddy__rt_hub_cork(eddy_rt_t *hub, eddy_rt_client_t *c) {
  eddy_ws_cork(c->ws);
  c->flags |= EDDY__RT_C_DIRTY;
  c->prev_dirty = NULL;
  c->next_dirty = hub->dirty;
  if (hub->dirty != NULL)
    hub->dirty->prev_dirty = c;
  hub->dirty = c;
  if (!hub->flushing_armed && !hub->closing_handles) {
    hub->flushing_armed = 1;
    uv_check_start(&hub->check, check_cb);
    uv_idle_start(&hub->idle, idle_cb);
  }
}

static void undirty(eddy_rt_t *hub, eddy_rt_client_t *c) {
  if (!(c->flags & EDDY__RT_C_DIRTY))
    return;
  if (c->prev_dirty != NULL)
    c->prev_dirty->next_dirty = c->next_dirty;
  else
    hub->dirty = c->next_dirty;
  if (c->next_dirty != NULL)
    c->next_dirty->prev_dirty = c->prev_dirty;
  c->next_dirty = c->prev_dirty = NULL;
  c->flags &= ~EDDY__RT_C_DIRTY;
}

static void flush(eddy_rt_t *hub) {
  hub->busy++;
  while (hub->dirty != NULL) {
    eddy_rt_client_t *c = hub->dirty;
    undirty(hub, c);
    /* An overflow here fails the connection (1008); its on_close detaches
     * it later. */
    eddy_ws_uncork(c->ws);
  }
  hub->busy--;
}

static void check_cb(uv_check_t *h) {
  eddy_rt_t *hub = h->data;
  flush(hub);
  hub->flushing_armed = 0;
  uv_check_stop(&hub->check);
  uv_idle_stop(&hub->idle);
  eddy__rt_hub_settle(hub);
}

/* ---- Clients ------------------------------------------------------------*/

void eddy__rt_client_id(const eddy_rt_client_t *c,
                        char buf[EDDY__RT_CLIENT_ID_MAX]) {
  snprintf(buf, EDDY__RT_CLIENT_ID_MAX, "%llu", (unsigned long long)c->id);
}

static eddy_gauge_t *clients_gauge(eddy_rt_t *hub, const char *transport) {
  if (hub->o.metrics == NULL)
    return NULL;
  char esc[64], labels[96];
  eddy_metrics_escape_label(esc, sizeof(esc), transport);
  snprintf(labels, sizeof(labels), "transport=\"%s\"", esc);
  return eddy_metrics_gauge(hub->o.metrics, "eddy_realtime_clients", labels,
                            "Realtime clients connected now.");
}

int eddy__rt_client_new(eddy_rt_t *hub, const char *transport,
                        eddy_rt_client_t **out) {
  if (hub->closing)
    return UV_ESHUTDOWN;
  if (hub->nclients >= hub->o.max_clients)
    return UV_EBUSY;
  if (hub->nclients == hub->capclients) {
    size_t ncap = hub->capclients == 0 ? 16 : hub->capclients * 2;
    eddy_rt_client_t **t = realloc(hub->clients, ncap * sizeof(*t));
    if (t == NULL)
      return UV_ENOMEM;
    hub->clients = t;
    hub->capclients = ncap;
  }
  eddy_rt_client_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return UV_ENOMEM;
  c->hub = hub;
  c->transport = transport != NULL ? transport : "unknown";
  c->id = ++hub->next_id;
  c->index = (uint32_t)hub->nclients;
  hub->clients[hub->nclients++] = c;
  c->gauge = clients_gauge(hub, c->transport);
  eddy_gauge_add(c->gauge, 1);
  *out = c;
  return 0;
}

void eddy__rt_client_free(eddy_rt_client_t *c) {
  eddy_rt_t *hub = c->hub;
  hub->busy++;
  undirty(hub, c);
  if (c->connect_timer != NULL) {
    eddy_timer_stop(c->connect_timer);
    free(c->connect_timer);
    c->connect_timer = NULL;
  }
  /* Leave every channel, newest subscription first (no array moves). */
  while (c->nsubs > 0) {
    eddy__rt_channel_t *ch = c->subs[c->nsubs - 1].channel;
    eddy__rt_unsubscribe_slot(c, c->nsubs - 1);
    eddy__rt_presence_event(hub, ch, c, 0);
    eddy__rt_channel_maybe_free(hub, ch);
  }
  uint32_t last = (uint32_t)--hub->nclients;
  if (c->index != last) {
    hub->clients[c->index] = hub->clients[last];
    hub->clients[c->index]->index = c->index;
  }
  eddy_gauge_add(c->gauge, -1);
  free(c->user);
  if (c->info != NULL)
    json_decref(c->info);
  free(c->subs);
  free(c);
  hub->busy--;
}

void eddy__rt_hub_dropped(eddy_rt_t *hub) {
  hub->dropped_slow_total++;
  eddy_counter_inc(hub->m_dropped);
}

/* Bytes waiting to be written to c. */
static size_t queued(const eddy_rt_client_t *c) {
  if (c->ws != NULL)
    return eddy_ws_buffered(c->ws);
  return c->ops->buffered != NULL ? c->ops->buffered(c->conn) : 0;
}

static int transmit(eddy_rt_client_t *c, eddy_ws_message_t *m, const char *text,
                    size_t len) {
  int rc;
  if (c->ws != NULL) {
    if (m != NULL) {
      if (!(c->flags & EDDY__RT_C_DIRTY))
        eddy__rt_hub_cork(c->hub, c);
      rc = eddy_ws_send_message(c->ws, m);
    } else {
      rc = eddy_ws_send_text(c->ws, text, len);
    }
  } else {
    rc = c->ops->send(c->conn, text, len);
  }
  if (rc == 0)
    return 0;
  if (rc == UV_ENOBUFS)
    eddy__rt_hub_dropped(c->hub);
  if (c->ws != NULL && (rc == UV_EPIPE || rc == UV_ENOBUFS)) {
    /* Already closing, or failed by the connection's own cap (1008). */
    c->flags |= EDDY__RT_C_CLOSING;
    if (c->connect_timer != NULL)
      eddy_timer_stop(c->connect_timer);
  } else if (rc == UV_ENOBUFS) {
    eddy__rt_client_close(c, EDDY_RT_CLOSE_SLOW, "send queue full");
  } else {
    eddy__rt_client_close(c, EDDY_RT_CLOSE_BAD_REQUEST, "send failed");
  }
  return rc;
}

/* The reader is too slow: tell it why if its queue has room for that, and
 * close it; it can recover its channels on reconnect. */
static void drop_slow(eddy_rt_client_t *c) {
  /* Read before the send below: a transport may detach inside it. */
  size_t q = queued(c);
  char text[96];
  eddy_buf_t b;
  eddy_buf_init(&b, sizeof(text));
  if (eddy__rt_encode_disconnect(&b, EDDY_RT_CLOSE_SLOW, "send queue full") ==
      0) {
    if (c->ws != NULL)
      eddy_ws_send_text(c->ws, b.data, b.len); /* the ws cap has room */
    else
      c->ops->send(c->conn, b.data, b.len);
  }
  eddy_buf_free(&b);
  eddy_log(EDDY_LOG_INFO, "realtime.slow_client",
           "client=%llu transport=%s queued=%zu", (unsigned long long)c->id,
           c->transport, q);
  eddy__rt_hub_dropped(c->hub);
  eddy__rt_client_close(c, EDDY_RT_CLOSE_SLOW, "send queue full");
}

int eddy__rt_client_send_message(eddy_rt_client_t *c, eddy_ws_message_t *m) {
  if (c->flags & (EDDY__RT_C_CLOSING | EDDY__RT_C_GONE))
    return UV_EPIPE;
  size_t len;
  const char *text = eddy_ws_message_data(m, &len);
  size_t q = queued(c);
  if (q + len > c->hub->o.max_send_queue) {
    drop_slow(c);
    return UV_ENOBUFS;
  }
  return transmit(c, m, text, len);
}

int eddy__rt_client_send(eddy_rt_client_t *c, const char *text, size_t len) {
  if (c->flags & (EDDY__RT_C_CLOSING | EDDY__RT_C_GONE))
    return UV_EPIPE;
  /* A reply answers the client's own request: it may be large (history),
   * so only a queue already over the limit refuses it. */
  if (queued(c) > c->hub->o.max_send_queue) {
    drop_slow(c);
    return UV_ENOBUFS;
  }
  return transmit(c, NULL, text, len);
}

void eddy__rt_client_close(eddy_rt_client_t *c, unsigned code,
                           const char *reason) {
  if (c->flags & (EDDY__RT_C_CLOSING | EDDY__RT_C_GONE))
    return;
  c->flags |= EDDY__RT_C_CLOSING;
  if (c->connect_timer != NULL)
    eddy_timer_stop(c->connect_timer);
  if (c->ws != NULL)
    eddy_ws_close(c->ws, code, reason);
  else
    c->ops->close(c->conn, code, reason);
}

void eddy__rt_client_error(eddy_rt_client_t *c, const char *id, unsigned code,
                           const char *message) {
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  if (eddy__rt_encode_error(&b, id, code, message) == 0)
    eddy__rt_client_send(c, b.data, b.len);
  eddy_buf_free(&b);
}

/* ---- Settling and closing
 * --------------------------------------------------*/

static void handle_closed(uv_handle_t *h) {
  eddy_rt_t *hub = h->data;
  if (--hub->handles_open > 0)
    return;
  eddy_call_cb cb = hub->close_cb;
  void *arg = hub->close_arg;
  hub_free(hub);
  if (cb != NULL)
    cb(arg); /* a close callback: a later iteration than eddy_rt_close */
}

void eddy__rt_hub_settle(eddy_rt_t *hub) {
  while (hub->busy == 0 && hub->gone != NULL) {
    eddy_rt_client_t *c = hub->gone;
    hub->gone = c->next_gone;
    eddy__rt_client_free(c);
  }
  if (hub->busy == 0 && hub->closing && !hub->closing_handles &&
      hub->nclients == 0 && hub->hooks == NULL) {
    hub->closing_handles = 1;
    eddy_timer_stop(&hub->sweep);
    uv_check_stop(&hub->check);
    uv_idle_stop(&hub->idle);
    uv_close((uv_handle_t *)&hub->check, handle_closed);
    uv_close((uv_handle_t *)&hub->idle, handle_closed);
  }
}

void eddy__rt_hook_add(eddy_rt_t *hub, eddy__rt_hook_t *hook) {
  hook->prev = NULL;
  hook->next = hub->hooks;
  if (hub->hooks != NULL)
    hub->hooks->prev = hook;
  hub->hooks = hook;
}

void eddy__rt_hook_remove(eddy_rt_t *hub, eddy__rt_hook_t *hook) {
  if (hook->prev != NULL)
    hook->prev->next = hook->next;
  else if (hub->hooks == hook)
    hub->hooks = hook->next;
  if (hook->next != NULL)
    hook->next->prev = hook->prev;
  hook->prev = hook->next = NULL;
  eddy__rt_hub_settle(hub);
}

void eddy_rt_close(eddy_rt_t *hub, eddy_call_cb cb, void *arg) {
  if (hub == NULL || hub->closing)
    return;
  hub->closing = 1;
  hub->close_cb = cb;
  hub->close_arg = arg;
  eddy_timer_stop(&hub->sweep);
  hub->busy++;
  /* Copy-free walk: a detach while busy only marks, so the table does not
   * move under us. */
  for (size_t i = 0; i < hub->nclients; i++)
    eddy__rt_client_close(hub->clients[i], EDDY_RT_CLOSE_SHUTDOWN,
                          "server stopping");
  eddy__rt_hook_t *next;
  for (eddy__rt_hook_t *h = hub->hooks; h != NULL; h = next) {
    next = h->next;
    h->close(h);
  }
  hub->busy--;
  /* What was gathered this turn still leaves before the close frames. */
  flush(hub);
  eddy__rt_hub_settle(hub);
}

/* ---- Other transports
 * ------------------------------------------------------*/

void eddy__rt_log_attach(const eddy_rt_client_t *c, const eddy_addr_t *peer) {
  if (eddy_log_get_level() > EDDY_LOG_DEBUG)
    return;
  char addr[128] = "-";
  if (peer != NULL)
    eddy_addr_format(peer, addr, sizeof(addr));
  eddy_log(EDDY_LOG_DEBUG, "realtime.attached",
           "client=%llu transport=%s peer=%s", (unsigned long long)c->id,
           c->transport, addr);
}

int eddy_rt_attach(eddy_rt_t *hub, const char *transport,
                   const eddy_rt_conn_ops_t *ops, void *conn,
                   const eddy_addr_t *peer, eddy_rt_client_t **out) {
  if (hub == NULL || ops == NULL || ops->send == NULL || ops->close == NULL ||
      out == NULL)
    return UV_EINVAL;
  eddy_rt_client_t *c;
  int rc = eddy__rt_client_new(hub, transport, &c);
  if (rc != 0)
    return rc;
  c->ops = ops;
  c->conn = conn;
  eddy__rt_log_attach(c, peer);
  eddy__rt_client_start(c);
  *out = c;
  return 0;
}

void eddy_rt_receive(eddy_rt_client_t *c, const char *text, size_t len) {
  if (c == NULL || (c->flags & (EDDY__RT_C_CLOSING | EDDY__RT_C_GONE)))
    return;
  eddy_rt_t *hub = c->hub;
  hub->busy++;
  if (len > hub->o.max_message)
    eddy__rt_client_error(c, NULL, 413, "message too large");
  else
    eddy__rt_client_receive(c, text, len);
  hub->busy--;
  eddy__rt_hub_settle(hub);
}

void eddy_rt_detach(eddy_rt_client_t *c) {
  if (c == NULL || (c->flags & EDDY__RT_C_GONE))
    return;
  eddy_rt_t *hub = c->hub;
  /* From here on no transport function may be called. */
  c->flags |= EDDY__RT_C_GONE;
  undirty(hub, c);
  c->ws = NULL;
  if (c->connect_timer != NULL)
    eddy_timer_stop(c->connect_timer);
  if (hub->busy > 0) {
    c->next_gone = hub->gone;
    hub->gone = c;
    return;
  }
  eddy__rt_client_free(c);
  eddy__rt_hub_settle(hub);
}

void eddy_rt_stats(const eddy_rt_t *hub, eddy_rt_stats_t *out) {
  memset(out, 0, sizeof(*out));
  if (hub == NULL)
    return;
  out->clients = hub->nclients;
  out->channels = hub->nchannels;
  out->subscriptions = hub->subscriptions;
  out->published_total = hub->published_total;
  out->delivered_total = hub->delivered_total;
  out->dropped_slow_total = hub->dropped_slow_total;
  out->history_bytes = hub->history_bytes;
}
