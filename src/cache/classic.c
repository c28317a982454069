/* classic.c — memcached's classic text commands against the store.
 *
 * Replies are appended to the connection's output buffer; the server writes
 * it once per read, so a pipelined batch leaves in one system call. The
 * storage and arithmetic helpers here are shared with the meta commands. */
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cache_internal.h"
#include "eddy/transport.h"
#include "eddy/version.h"

size_t eddy__cache_u64(char *p, uint64_t v) {
  char tmp[20];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (size_t i = 0; i < n; i++)
    p[i] = tmp[n - 1 - i];
  return n;
}

/* ---- Storage ------------------------------------------------------------- */

eddy__cache_store_rc_t eddy__cache_store(eddy_cache_t *cache, int mode,
                                         const char *key, size_t nkey,
                                         uint32_t flags, int64_t exptime,
                                         const char *data, size_t bytes,
                                         int check_cas, uint64_t cas,
                                         uint64_t now, uint64_t *new_cas) {
  eddy__store_t *s = &cache->store;
  eddy__item_t *old = eddy__store_find(s, key, nkey, now);
  if (check_cas) {
    if (old == NULL) {
      cache->stats.cas_misses++;
      return EDDY__CACHE_NOT_FOUND;
    }
    if (old->cas != cas) {
      cache->stats.cas_badval++;
      return EDDY__CACHE_EXISTS;
    }
    if (mode == EDDY__MC_MODE_SET)
      cache->stats.cas_hits++;
  }
  switch (mode) {
  case EDDY__MC_MODE_ADD:
    if (old != NULL) {
      /* memcached refreshes the item an add collided with. */
      eddy__store_bump(s, old, now);
      return EDDY__CACHE_NOT_STORED;
    }
    break;
  case EDDY__MC_MODE_REPLACE:
  case EDDY__MC_MODE_APPEND:
  case EDDY__MC_MODE_PREPEND:
    if (old == NULL)
      return EDDY__CACHE_NOT_STORED;
    break;
  default:
    break;
  }
  int concat = mode == EDDY__MC_MODE_APPEND || mode == EDDY__MC_MODE_PREPEND;
  size_t total = concat ? old->nbytes + bytes : bytes;
  if (concat && total > cache->opts.max_item_size)
    return EDDY__CACHE_NOT_STORED;
  /* Keep the old item alive across the allocation: eviction may unlink it. */
  if (old != NULL)
    eddy__item_ref(old);
  eddy__item_t *it = eddy__store_alloc(s, key, nkey, total, now);
  if (it == NULL) {
    if (old != NULL) {
      if (mode == EDDY__MC_MODE_SET)
        eddy__store_unlink(s, old); /* never leave a stale value behind */
      eddy__item_unref(old);
    }
    return EDDY__CACHE_NO_MEMORY;
  }
  char *v = eddy__item_value(it);
  if (concat) {
    /* append/prepend keep the old flags and expiry. */
    if (mode == EDDY__MC_MODE_APPEND) {
      memcpy(v, eddy__item_value(old), old->nbytes);
      memcpy(v + old->nbytes, data, bytes);
    } else {
      memcpy(v, data, bytes);
      memcpy(v + bytes, eddy__item_value(old), old->nbytes);
    }
    it->flags = old->flags;
    it->exp_ms = old->exp_ms;
  } else {
    memcpy(v, data, bytes);
    it->flags = flags;
    it->exp_ms = eddy__cache_deadline(&cache->clock, exptime, now);
  }
  if (old != NULL)
    eddy__item_unref(old);
  eddy__store_link(s, it, now);
  if (new_cas != NULL)
    *new_cas = it->cas;
  return EDDY__CACHE_STORED;
}

eddy__cache_delta_rc_t eddy__cache_delta(eddy_cache_t *cache, const char *key,
                                         size_t nkey, int incr, uint64_t delta,
                                         uint64_t now, uint64_t *value,
                                         eddy__item_t **item) {
  eddy__store_t *s = &cache->store;
  eddy__item_t *it = eddy__store_find(s, key, nkey, now);
  if (it == NULL) {
    if (incr)
      cache->stats.incr_misses++;
    else
      cache->stats.decr_misses++;
    return EDDY__CACHE_DELTA_NOT_FOUND;
  }
  uint64_t v;
  if (eddy__mc_value_u64(eddy__item_value(it), it->nbytes, &v) != 0)
    return EDDY__CACHE_DELTA_NON_NUMERIC;
  if (incr) {
    v += delta; /* wraps at 2^64, as memcached's does */
    cache->stats.incr_hits++;
  } else {
    v = v < delta ? 0 : v - delta;
    cache->stats.decr_hits++;
  }
  char num[20];
  size_t n = eddy__cache_u64(num, v);
  if (n <= it->nbytes && it->refs == 1) {
    /* memcached rewrites a number in place when it fits, padding with
     * spaces: the value keeps its length ("10" decremented is "9 "). */
    char *p = eddy__item_value(it);
    memcpy(p, num, n);
    memset(p + n, ' ', it->nbytes - n);
    it->cas = s->next_cas++;
    eddy__store_bump(s, it, now);
  } else {
    /* The allocation may evict `it`: hold it until its fields are copied. */
    eddy__item_ref(it);
    eddy__item_t *fresh = eddy__store_alloc(s, key, nkey, n, now);
    if (fresh == NULL) {
      eddy__item_unref(it);
      return EDDY__CACHE_DELTA_NO_MEMORY;
    }
    memcpy(eddy__item_value(fresh), num, n);
    fresh->flags = it->flags;
    fresh->exp_ms = it->exp_ms;
    fresh->fetched = 1;
    eddy__item_unref(it);
    eddy__store_link(s, fresh, now);
    it = fresh;
  }
  *value = v;
  if (item != NULL)
    *item = it;
  return EDDY__CACHE_DELTA_OK;
}

void eddy__cache_count_miss(eddy_cache_t *cache) {
  cache->stats.get_misses++;
  eddy_counter_inc(cache->metrics.misses);
  if (cache->store.last_dead == EDDY__STORE_EXPIRED)
    cache->stats.get_expired++;
  else if (cache->store.last_dead == EDDY__STORE_FLUSHED)
    cache->get_flushed++;
}

/* ---- Replies ------------------------------------------------------------- */

static void out_line(eddy__cache_conn_t *c, const char *s) {
  eddy__cache_out(c, s, strlen(s));
  EDDY__CACHE_OUT_LIT(c, "\r\n");
}

static void out_value(eddy__cache_conn_t *c, eddy__item_t *it, int with_cas) {
  /* "VALUE " key " " flags " " bytes [" " cas] "\r\n" */
  char head[6 + EDDY__CACHE_KEY_MAX + 3 * 21 + 2];
  char *p = head;
  memcpy(p, "VALUE ", 6);
  p += 6;
  memcpy(p, eddy__item_key(it), it->nkey);
  p += it->nkey;
  *p++ = ' ';
  p += eddy__cache_u64(p, it->flags);
  *p++ = ' ';
  p += eddy__cache_u64(p, it->nbytes);
  if (with_cas) {
    *p++ = ' ';
    p += eddy__cache_u64(p, it->cas);
  }
  *p++ = '\r';
  *p++ = '\n';
  eddy__cache_out(c, head, (size_t)(p - head));
  eddy__cache_out_value(c, it);
}

static void do_retrieval(eddy__cache_conn_t *c, const eddy__mc_req_t *r,
                         uint64_t now) {
  eddy_cache_t *cache = c->cache;
  int touch = r->cmd == EDDY__MC_GAT || r->cmd == EDDY__MC_GATS;
  int with_cas = r->cmd == EDDY__MC_GETS || r->cmd == EDDY__MC_GATS;
  uint64_t exp =
      touch ? eddy__cache_deadline(&cache->clock, r->exptime, now) : 0;
  size_t pos = 0;
  const char *key;
  size_t nkey;
  while (eddy__mc_next_key(r, &pos, &key, &nkey)) {
    eddy__item_t *it = eddy__store_find(&cache->store, key, nkey, now);
    if (touch) {
      cache->stats.cmd_touch++;
      if (it == NULL) {
        cache->touch_misses++;
        eddy__cache_count_miss(cache);
        continue;
      }
      cache->touch_hits++;
      cache->stats.get_hits++;
      eddy_counter_inc(cache->metrics.hits);
      it->exp_ms = exp;
    } else {
      cache->stats.cmd_get++;
      if (it == NULL) {
        eddy__cache_count_miss(cache);
        continue;
      }
      cache->stats.get_hits++;
      eddy_counter_inc(cache->metrics.hits);
    }
    eddy__store_bump(&cache->store, it, now);
    out_value(c, it, with_cas);
    if (exp == 1)
      eddy__store_unlink(&cache->store, it); /* gat with a past time */
  }
  EDDY__CACHE_OUT_LIT(c, "END\r\n");
}

static void do_storage(eddy__cache_conn_t *c, const eddy__mc_req_t *r,
                       uint64_t now) {
  static const int modes[] = {
      [EDDY__MC_SET] = EDDY__MC_MODE_SET,
      [EDDY__MC_ADD] = EDDY__MC_MODE_ADD,
      [EDDY__MC_REPLACE] = EDDY__MC_MODE_REPLACE,
      [EDDY__MC_APPEND] = EDDY__MC_MODE_APPEND,
      [EDDY__MC_PREPEND] = EDDY__MC_MODE_PREPEND,
      [EDDY__MC_CAS] = EDDY__MC_MODE_SET,
  };
  eddy_cache_t *cache = c->cache;
  cache->stats.cmd_set++;
  eddy_counter_inc(cache->metrics.sets);
  eddy__cache_store_rc_t rc = eddy__cache_store(
      cache, modes[r->cmd], r->key, r->nkey, r->flags, r->exptime, r->data,
      r->bytes, r->cmd == EDDY__MC_CAS, r->cas, now, NULL);
  if (r->noreply)
    return;
  switch (rc) {
  case EDDY__CACHE_STORED:
    EDDY__CACHE_OUT_LIT(c, "STORED\r\n");
    break;
  case EDDY__CACHE_NOT_STORED:
    EDDY__CACHE_OUT_LIT(c, "NOT_STORED\r\n");
    break;
  case EDDY__CACHE_EXISTS:
    EDDY__CACHE_OUT_LIT(c, "EXISTS\r\n");
    break;
  case EDDY__CACHE_NOT_FOUND:
    EDDY__CACHE_OUT_LIT(c, "NOT_FOUND\r\n");
    break;
  case EDDY__CACHE_NO_MEMORY:
    EDDY__CACHE_OUT_LIT(c, "SERVER_ERROR out of memory storing object\r\n");
    break;
  }
}

static void do_delta(eddy__cache_conn_t *c, const eddy__mc_req_t *r,
                     uint64_t now) {
  uint64_t v;
  eddy__cache_delta_rc_t rc =
      eddy__cache_delta(c->cache, r->key, r->nkey, r->cmd == EDDY__MC_INCR,
                        r->delta, now, &v, NULL);
  if (r->noreply)
    return;
  switch (rc) {
  case EDDY__CACHE_DELTA_OK: {
    char num[22];
    size_t n = eddy__cache_u64(num, v);
    num[n++] = '\r';
    num[n++] = '\n';
    eddy__cache_out(c, num, n);
    break;
  }
  case EDDY__CACHE_DELTA_NOT_FOUND:
    EDDY__CACHE_OUT_LIT(c, "NOT_FOUND\r\n");
    break;
  case EDDY__CACHE_DELTA_NON_NUMERIC:
    EDDY__CACHE_OUT_LIT(
        c, "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    break;
  case EDDY__CACHE_DELTA_NO_MEMORY:
    EDDY__CACHE_OUT_LIT(c, "SERVER_ERROR out of memory\r\n");
    break;
  }
}

static void stat_u64(eddy__cache_conn_t *c, const char *name, uint64_t v) {
  char line[96];
  size_t n = strlen(name);
  memcpy(line, "STAT ", 5);
  memcpy(line + 5, name, n);
  n += 5;
  line[n++] = ' ';
  n += eddy__cache_u64(line + n, v);
  line[n++] = '\r';
  line[n++] = '\n';
  eddy__cache_out(c, line, n);
}

static void stat_str(eddy__cache_conn_t *c, const char *name, const char *v) {
  EDDY__CACHE_OUT_LIT(c, "STAT ");
  eddy__cache_out(c, name, strlen(name));
  EDDY__CACHE_OUT_LIT(c, " ");
  out_line(c, v);
}

static void stat_time(eddy__cache_conn_t *c, const char *name,
                      const struct timeval *tv) {
  char v[48];
  size_t n = eddy__cache_u64(v, (uint64_t)tv->tv_sec);
  v[n++] = '.';
  char us[8];
  size_t m = eddy__cache_u64(us, (uint64_t)tv->tv_usec);
  for (size_t i = m; i < 6; i++)
    v[n++] = '0';
  memcpy(v + n, us, m);
  v[n + m] = '\0';
  stat_str(c, name, v);
}

static void do_stats(eddy__cache_conn_t *c, const eddy__mc_req_t *r,
                     uint64_t now) {
  eddy_cache_t *cache = c->cache;
  const eddy_cache_stats_t *st = &cache->stats;
  if (r->arg != NULL) {
    if (r->arg_len == 8 && memcmp(r->arg, "settings", 8) == 0) {
      stat_u64(c, "maxbytes", cache->opts.memory_limit);
      stat_u64(c, "maxconns", cache->opts.max_connections);
      stat_str(c, "evictions", "on");
      stat_u64(c, "item_size_max", cache->opts.max_item_size);
      stat_u64(c, "num_threads", 1);
      stat_str(c, "cas_enabled", "yes");
      stat_u64(c, "max_line", cache->opts.max_line);
      EDDY__CACHE_OUT_LIT(c, "END\r\n");
    } else if (r->arg_len == 5 && memcmp(r->arg, "reset", 5) == 0) {
      /* Counters only: the gauges (items, bytes, connections) stay true. */
      eddy_cache_stats_t keep = *st;
      memset(&cache->stats, 0, sizeof(cache->stats));
      cache->stats.curr_items = keep.curr_items;
      cache->stats.bytes = keep.bytes;
      cache->stats.limit_maxbytes = keep.limit_maxbytes;
      cache->stats.curr_connections = keep.curr_connections;
      cache->cmd_flush = cache->touch_hits = cache->touch_misses = 0;
      cache->get_flushed = 0;
      cache->bytes_read = cache->bytes_written = 0;
      EDDY__CACHE_OUT_LIT(c, "RESET\r\n");
    } else if ((r->arg_len == 5 && memcmp(r->arg, "items", 5) == 0) ||
               (r->arg_len == 5 && memcmp(r->arg, "slabs", 5) == 0) ||
               (r->arg_len == 5 && memcmp(r->arg, "sizes", 5) == 0) ||
               (r->arg_len == 5 && memcmp(r->arg, "conns", 5) == 0)) {
      /* No slab classes here: an honest empty list keeps tools working. */
      EDDY__CACHE_OUT_LIT(c, "END\r\n");
    } else {
      EDDY__CACHE_OUT_LIT(c, "ERROR\r\n");
    }
    return;
  }
  struct rusage ru;
  memset(&ru, 0, sizeof(ru));
  getrusage(RUSAGE_SELF, &ru);
  stat_u64(c, "pid", (uint64_t)getpid());
  stat_u64(c, "uptime", (now - cache->started_ms) / 1000);
  stat_u64(c, "time", (uint64_t)eddy__cache_unix_now(&cache->clock, now));
  stat_str(c, "version", EDDY__CACHE_MC_VERSION);
  stat_str(c, "eddy_version", eddy_version());
  stat_u64(c, "pointer_size", sizeof(void *) * 8);
  stat_time(c, "rusage_user", &ru.ru_utime);
  stat_time(c, "rusage_system", &ru.ru_stime);
  stat_u64(c, "max_connections", cache->opts.max_connections);
  stat_u64(c, "curr_connections", st->curr_connections);
  stat_u64(c, "total_connections", st->total_connections);
  stat_u64(c, "cmd_get", st->cmd_get);
  stat_u64(c, "cmd_set", st->cmd_set);
  stat_u64(c, "cmd_flush", cache->cmd_flush);
  stat_u64(c, "cmd_touch", st->cmd_touch);
  stat_u64(c, "get_hits", st->get_hits);
  stat_u64(c, "get_misses", st->get_misses);
  stat_u64(c, "get_expired", st->get_expired);
  stat_u64(c, "get_flushed", cache->get_flushed);
  stat_u64(c, "delete_misses", st->delete_misses);
  stat_u64(c, "delete_hits", st->delete_hits);
  stat_u64(c, "incr_misses", st->incr_misses);
  stat_u64(c, "incr_hits", st->incr_hits);
  stat_u64(c, "decr_misses", st->decr_misses);
  stat_u64(c, "decr_hits", st->decr_hits);
  stat_u64(c, "cas_misses", st->cas_misses);
  stat_u64(c, "cas_hits", st->cas_hits);
  stat_u64(c, "cas_badval", st->cas_badval);
  stat_u64(c, "touch_hits", cache->touch_hits);
  stat_u64(c, "touch_misses", cache->touch_misses);
  stat_u64(c, "bytes_read", cache->bytes_read);
  stat_u64(c, "bytes_written", cache->bytes_written);
  stat_u64(c, "limit_maxbytes", st->limit_maxbytes);
  stat_u64(c, "threads", 1);
  stat_u64(c, "bytes", st->bytes);
  stat_u64(c, "curr_items", st->curr_items);
  stat_u64(c, "total_items", st->total_items);
  stat_u64(c, "expired_unfetched", st->expired_unfetched);
  stat_u64(c, "evictions", st->evictions);
  stat_u64(c, "reclaimed", st->reclaimed);
  EDDY__CACHE_OUT_LIT(c, "END\r\n");
}

void eddy__cache_exec_classic(eddy__cache_conn_t *c, const eddy__mc_req_t *r,
                              uint64_t now) {
  eddy_cache_t *cache = c->cache;
  switch (r->cmd) {
  case EDDY__MC_GET:
  case EDDY__MC_GETS:
  case EDDY__MC_GAT:
  case EDDY__MC_GATS:
    do_retrieval(c, r, now);
    break;
  case EDDY__MC_SET:
  case EDDY__MC_ADD:
  case EDDY__MC_REPLACE:
  case EDDY__MC_APPEND:
  case EDDY__MC_PREPEND:
  case EDDY__MC_CAS:
    do_storage(c, r, now);
    break;
  case EDDY__MC_DELETE: {
    eddy__item_t *it = eddy__store_find(&cache->store, r->key, r->nkey, now);
    if (it != NULL) {
      eddy__store_unlink(&cache->store, it);
      cache->stats.delete_hits++;
    } else {
      cache->stats.delete_misses++;
    }
    if (!r->noreply) {
      if (it != NULL)
        EDDY__CACHE_OUT_LIT(c, "DELETED\r\n");
      else
        EDDY__CACHE_OUT_LIT(c, "NOT_FOUND\r\n");
    }
    break;
  }
  case EDDY__MC_INCR:
  case EDDY__MC_DECR:
    do_delta(c, r, now);
    break;
  case EDDY__MC_TOUCH: {
    cache->stats.cmd_touch++;
    eddy__item_t *it = eddy__store_find(&cache->store, r->key, r->nkey, now);
    if (it != NULL) {
      cache->touch_hits++;
      it->exp_ms = eddy__cache_deadline(&cache->clock, r->exptime, now);
      eddy__store_bump(&cache->store, it, now);
    } else {
      cache->touch_misses++;
    }
    if (!r->noreply) {
      if (it != NULL)
        EDDY__CACHE_OUT_LIT(c, "TOUCHED\r\n");
      else
        EDDY__CACHE_OUT_LIT(c, "NOT_FOUND\r\n");
    }
    break;
  }
  case EDDY__MC_FLUSH_ALL:
    cache->cmd_flush++;
    if (r->exptime > 0) {
      cache->store.flush_at_ms =
          eddy__cache_deadline(&cache->clock, r->exptime, now);
    } else {
      cache->store.flush_at_ms = 0;
      eddy__store_flush(&cache->store, now);
    }
    if (!r->noreply)
      EDDY__CACHE_OUT_LIT(c, "OK\r\n");
    break;
  case EDDY__MC_VERSION:
    EDDY__CACHE_OUT_LIT(c, "VERSION " EDDY__CACHE_MC_VERSION "\r\n");
    break;
  case EDDY__MC_VERBOSITY:
    if (!r->noreply)
      EDDY__CACHE_OUT_LIT(c, "OK\r\n");
    break;
  case EDDY__MC_STATS:
    do_stats(c, r, now);
    break;
  default:
    break;
  }
}
