/* server.c — the cache service: connections speaking memcached's protocol.
 *
 * Each read is parsed in place (bytes are copied only when a command is
 * split across reads), every command in it is executed, and the replies,
 * gathered in one buffer, leave in one write: a pipelining client costs one
 * system call per read, not per command. Large values are not copied at
 * all: the transport gets a slice over the item, which a reference keeps
 * alive even if the key is replaced meanwhile. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache_internal.h"
#include "eddy/endpoint.h"
#include "eddy/transport.h"
#include "eddy/version.h"

#define CACHE_OUT_MAX ((size_t)64u * 1024u * 1024u)

void eddy_cache_opts_init(eddy_cache_opts_t *o) {
  memset(o, 0, sizeof(*o));
  o->memory_limit = (size_t)64u * 1024u * 1024u;
  o->max_item_size = (size_t)1024u * 1024u;
  o->max_connections = 10000;
  o->max_line = 2048;
}

/* ---- Output -------------------------------------------------------------- */

void eddy__cache_out(eddy__cache_conn_t *c, const char *s, size_t n) {
  if (eddy_buf_append(&c->out, s, n) != 0 && !c->quitting) {
    /* Out of memory for a reply: the stream of answers would be wrong from
     * here on, so the connection cannot go on. */
    c->quitting = 2;
  }
}

void eddy__cache_flush(eddy__cache_conn_t *c) {
  if (c->out.len == 0)
    return;
  c->cache->bytes_written += c->out.len;
  eddy_transport_write(c->protocol.transport, c->out.data, c->out.len);
  eddy_buf_clear(&c->out);
}

static void item_slice_free(void *data, void *arg) {
  (void)data;
  eddy__item_unref(arg);
}

void eddy__cache_out_value(eddy__cache_conn_t *c, eddy__item_t *it) {
  size_t n = (size_t)it->nbytes + 2;
  if (n >= EDDY__CACHE_SHARE_MIN) {
    eddy_slice_t *s =
        eddy_slice_wrap(eddy__item_value(it), n, item_slice_free, it);
    if (s != NULL) {
      eddy__item_ref(it);
      eddy__cache_flush(c); /* keep the order of the pieces */
      c->cache->bytes_written += n;
      eddy_transport_write_slice(c->protocol.transport, s);
      eddy_slice_unref(s);
      return;
    }
  }
  eddy__cache_out(c, eddy__item_value(it), n);
}

/* ---- One connection ------------------------------------------------------ */

static void conn_run(eddy__cache_conn_t *c, const char *data, size_t len);

static void exec(eddy__cache_conn_t *c, const eddy__mc_req_t *r, uint64_t now) {
  switch (r->cmd) {
  case EDDY__MC_MG:
  case EDDY__MC_MS:
  case EDDY__MC_MD:
  case EDDY__MC_MA:
  case EDDY__MC_MN:
    eddy__cache_exec_meta(c, r, now);
    break;
  case EDDY__MC_QUIT:
    c->quitting = 1;
    break;
  default:
    eddy__cache_exec_classic(c, r, now);
    break;
  }
}

/* Parses and runs the commands in src[0..n); returns the bytes used. */
static size_t conn_parse(eddy__cache_conn_t *c, const char *src, size_t n) {
  eddy_cache_t *cache = c->cache;
  eddy__mc_req_t *r = &c->req;
  eddy_transport_t *t = c->protocol.transport;
  /* A block still arriving: nothing to parse until all of it is here. */
  if (c->need > n)
    return 0;
  c->need = 0;
  uint64_t now = eddy_reactor_now(cache->reactor);
  eddy__store_tick(&cache->store, now);
  size_t off = 0;
  while (off < n && !c->quitting && !c->paused) {
    if (c->swallow > 0) {
      size_t k = n - off < c->swallow ? n - off : c->swallow;
      off += k;
      c->swallow -= k;
      continue;
    }
    int rc = eddy__mc_parse(src + off, n - off, &cache->limits, r);
    if (rc == EDDY__MC_NEED) {
      c->need = r->need; /* counted from src + off, kept at in's start */
      break;
    }
    off += r->consumed;
    if (rc == EDDY__MC_OK) {
      exec(c, r, now);
    } else {
      if (r->drop_key) {
        eddy__item_t *old =
            eddy__store_find(&cache->store, r->key, r->nkey, now);
        if (old != NULL)
          eddy__store_unlink(&cache->store, old);
      }
      /* A quiet meta command still hears about errors; classic noreply
       * silences them, as in memcached. */
      if (!r->noreply) {
        eddy__cache_out(c, r->error, strlen(r->error));
        EDDY__CACHE_OUT_LIT(c, "\r\n");
      }
      c->swallow = r->swallow;
      if (rc == EDDY__MC_CLOSE)
        c->quitting = 1;
    }
    if (c->out.len >= EDDY__CACHE_FLUSH_AT)
      eddy__cache_flush(c);
    /* Answers go to the transport at each flush and with each shared
     * value: once they pass its high-water mark the client is not reading
     * them, so stop reading its questions until they drain
     * (resume_writing). This bounds what a pipelined batch of gets for
     * large values can queue. */
    if (eddy_transport_writing_paused(t)) {
      c->paused = 1;
      eddy_transport_pause_reading(t);
    }
  }
  return off;
}

static void conn_run(eddy__cache_conn_t *c, const char *data, size_t len) {
  eddy_transport_t *t = c->protocol.transport;
  if (c->quitting || eddy_transport_is_closing(t))
    return;
  if (c->in.len > 0 || c->paused) {
    if (len > 0 && eddy_buf_append(&c->in, data, len) != 0) {
      /* More than the largest command could need: not memcached talk. */
      eddy__cache_flush(c);
      eddy_transport_write_str(t, "CLIENT_ERROR line too long\r\n");
      eddy_transport_lose_connection(t);
      c->quitting = 1;
      return;
    }
    if (c->paused)
      return;
    size_t used = conn_parse(c, c->in.data, c->in.len);
    eddy_buf_consume(&c->in, used);
  } else {
    size_t used = conn_parse(c, data, len);
    if (used < len && !c->quitting &&
        eddy_buf_append(&c->in, data + used, len - used) != 0)
      c->quitting = 2;
  }
  eddy__cache_flush(c);
  if (c->quitting == 2)
    eddy_transport_abort_connection(t);
  else if (c->quitting)
    eddy_transport_lose_connection(t);
}

static void conn_made(eddy_protocol_t *p) {
  eddy__cache_conn_t *c = (eddy__cache_conn_t *)p;
  eddy_cache_t *cache = c->cache;
  c->next = cache->conns;
  if (cache->conns != NULL)
    cache->conns->prev = c;
  cache->conns = c;
  cache->stats.curr_connections++;
  cache->stats.total_connections++;
  if (cache->stats.curr_connections > cache->opts.max_connections) {
    c->quitting = 1;
    eddy_transport_write_str(p->transport,
                             "SERVER_ERROR too many open connections\r\n");
    eddy_transport_lose_connection(p->transport);
  }
}

static void conn_data(eddy_protocol_t *p, const char *data, size_t len) {
  eddy__cache_conn_t *c = (eddy__cache_conn_t *)p;
  c->cache->bytes_read += len;
  conn_run(c, data, len);
}

static void conn_pause_writing(eddy_protocol_t *p) {
  eddy__cache_conn_t *c = (eddy__cache_conn_t *)p;
  c->paused = 1;
  eddy_transport_pause_reading(p->transport);
}

static void conn_resume_writing(eddy_protocol_t *p) {
  eddy__cache_conn_t *c = (eddy__cache_conn_t *)p;
  c->paused = 0;
  eddy_transport_resume_reading(p->transport);
  conn_run(c, NULL, 0); /* what was read while paused */
}

static void cache_maybe_finish(eddy_cache_t *cache);

static void conn_lost(eddy_protocol_t *p, int reason) {
  (void)reason;
  eddy__cache_conn_t *c = (eddy__cache_conn_t *)p;
  eddy_cache_t *cache = c->cache;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    cache->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  cache->stats.curr_connections--;
  if (cache->closing)
    cache_maybe_finish(cache);
}

static void conn_destroy(eddy_protocol_t *p) {
  eddy__cache_conn_t *c = (eddy__cache_conn_t *)p;
  eddy_buf_free(&c->in);
  eddy_buf_free(&c->out);
  free(c);
}

static const eddy_protocol_ops_t conn_ops = {
    .connection_made = conn_made,
    .data_received = conn_data,
    .connection_lost = conn_lost,
    .pause_writing = conn_pause_writing,
    .resume_writing = conn_resume_writing,
    .destroy = conn_destroy,
};

static eddy_protocol_t *cache_build(eddy_factory_t *f,
                                    const eddy_addr_t *peer) {
  (void)peer;
  eddy_cache_t *cache = f->data;
  if (cache->closing)
    return NULL;
  eddy__cache_conn_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  eddy_protocol_init(&c->protocol, &conn_ops);
  c->cache = cache;
  /* A pending command is at most a line and its block (or a multiget). */
  eddy_buf_init(&c->in, cache->limits.max_keys + cache->limits.max_line +
                            cache->limits.max_item + 64);
  eddy_buf_init(&c->out, CACHE_OUT_MAX);
  return &c->protocol;
}

/* ---- The service -----------------------------------------------------------
 */

static double gauge_connections(void *arg) {
  return (double)((eddy_cache_t *)arg)->stats.curr_connections;
}

static double gauge_items(void *arg) {
  return (double)((eddy_cache_t *)arg)->stats.curr_items;
}

static double gauge_bytes(void *arg) {
  return (double)((eddy_cache_t *)arg)->stats.bytes;
}

/* Live figures are read when the registry is rendered; the totals are
 * counters of their own because `stats reset` zeroes the memcached ones,
 * and a Prometheus counter may never go back. */
static void metrics_register(eddy_cache_t *c, eddy_metrics_t *m) {
  eddy_metrics_gauge_fn(m, "eddy_cache_connections", NULL,
                        "Open cache connections.", gauge_connections, c);
  eddy_metrics_gauge_fn(m, "eddy_cache_items", NULL, "Items stored now.",
                        gauge_items, c);
  eddy_metrics_gauge_fn(m, "eddy_cache_bytes", NULL,
                        "Bytes the stored items are accounted for.",
                        gauge_bytes, c);
  c->metrics.hits = eddy_metrics_counter(m, "eddy_cache_get_hits_total", NULL,
                                         "Retrievals that found the key.");
  c->metrics.misses = eddy_metrics_counter(m, "eddy_cache_get_misses_total",
                                           NULL, "Retrievals that did not.");
  c->metrics.sets =
      eddy_metrics_counter(m, "eddy_cache_sets_total", NULL,
                           "Storage commands (set, add, replace, append, "
                           "prepend, cas, ms).");
  c->store.evictions =
      eddy_metrics_counter(m, "eddy_cache_evictions_total", NULL,
                           "Live items evicted to make room.");
}

int eddy_cache_new(eddy_reactor_t *r, const eddy_cache_opts_t *o,
                   eddy_cache_t **out) {
  eddy_cache_opts_t def;
  if (o == NULL) {
    eddy_cache_opts_init(&def);
    o = &def;
  }
  if (r == NULL || out == NULL || o->memory_limit == 0 ||
      o->max_item_size == 0 || o->max_item_size > UINT32_MAX ||
      o->max_connections == 0 || o->max_line < 64 ||
      o->max_line > EDDY__CACHE_KEYS_LINE_MAX)
    return UV_EINVAL;
  eddy_cache_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return UV_ENOMEM;
  c->factory.build_protocol = cache_build;
  c->factory.data = c;
  c->reactor = r;
  c->opts = *o;
  c->limits.max_line = o->max_line;
  c->limits.max_keys = EDDY__CACHE_KEYS_LINE_MAX;
  c->limits.max_item = o->max_item_size;
  int rc = eddy__store_init(&c->store, o->memory_limit, &c->stats);
  if (rc != 0) {
    free(c);
    return rc;
  }
  c->started_ms = eddy_reactor_now(r);
  c->clock.base_ms = c->started_ms;
  c->clock.base_unix = (int64_t)time(NULL);
  c->stats.limit_maxbytes = o->memory_limit;
  if (o->metrics != NULL)
    metrics_register(c, o->metrics);
  *out = c;
  return 0;
}

int eddy_cache_listen(eddy_cache_t *c, const char *endpoint,
                      eddy_listener_t **out) {
  if (c == NULL || endpoint == NULL || c->closing)
    return UV_EINVAL;
  eddy__cache_listener_t *l = calloc(1, sizeof(*l));
  if (l == NULL)
    return UV_ENOMEM;
  int rc = eddy_listen(c->reactor, endpoint, &c->factory, &l->listener);
  if (rc != 0) {
    free(l);
    return rc;
  }
  l->cache = c;
  l->next = c->listeners;
  c->listeners = l;
  c->open_listeners++;
  if (out != NULL)
    *out = l->listener;
  return 0;
}

static void cache_finish(void *arg) {
  eddy_cache_t *cache = arg;
  eddy_metrics_forget(cache->opts.metrics, cache);
  eddy__store_free(&cache->store);
  eddy_call_cb cb = cache->close_cb;
  void *cb_arg = cache->close_arg;
  free(cache);
  if (cb != NULL)
    cb(cb_arg);
}

static void cache_maybe_finish(eddy_cache_t *cache) {
  if (cache->closing != 1 || cache->open_listeners > 0 || cache->conns != NULL)
    return;
  cache->closing = 2; /* finishing: once only */
  if (eddy_call_soon(cache->reactor, cache_finish, cache) != 0)
    cache_finish(cache); /* out of memory: finish now rather than leak */
}

static void listener_closed(void *arg) {
  eddy__cache_listener_t *l = arg;
  eddy_cache_t *cache = l->cache;
  free(l);
  cache->open_listeners--;
  cache_maybe_finish(cache);
}

void eddy_cache_close(eddy_cache_t *c, eddy_call_cb cb, void *arg) {
  if (c == NULL || c->closing)
    return;
  c->closing = 1;
  c->close_cb = cb;
  c->close_arg = arg;
  eddy__cache_listener_t *l = c->listeners;
  c->listeners = NULL;
  while (l != NULL) {
    eddy__cache_listener_t *next = l->next;
    eddy_listener_close(l->listener, listener_closed, l);
    l = next;
  }
  /* connection_lost comes on a later iteration: the list holds still. */
  for (eddy__cache_conn_t *conn = c->conns; conn != NULL; conn = conn->next)
    eddy_transport_lose_connection(conn->protocol.transport);
  cache_maybe_finish(c);
}

void eddy_cache_stats(const eddy_cache_t *c, eddy_cache_stats_t *out) {
  *out = c->stats;
}
