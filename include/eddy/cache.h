/* eddy/cache.h — the cache service: memcached's text protocol over an
 * in-memory store with per-key expiry and LRU eviction under a memory limit.
 *
 * Existing memcached clients and tools work unchanged: the classic commands,
 * the meta commands, memcached's expiry rules, limits and error replies.
 *
 * OWNERSHIP: eddy_cache_t is library-owned: created by eddy_cache_new,
 * freed by eddy_cache_close (cb runs once everything is closed).
 */
#ifndef EDDY_CACHE_H
#define EDDY_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "endpoint.h"
#include "metrics.h"
#include "reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_cache_s eddy_cache_t;

typedef struct eddy_cache_opts_s {
  size_t memory_limit;    /* bytes of items (keys, values, overhead); 64 MiB */
  size_t max_item_size;   /* largest value; 1 MiB (memcached's -I) */
  size_t max_connections; /* 10000 */
  size_t max_line;        /* longest command line; 2048 */
  /* Optional registry the service feeds (eddy/metrics.h); it must outlive
   * the service. NULL: no metrics. */
  eddy_metrics_t *metrics;
} eddy_cache_opts_t;

void eddy_cache_opts_init(eddy_cache_opts_t *o);

/* o may be NULL (the defaults). Returns 0, UV_EINVAL (a zero limit, a
 * max_line under 64 or over 1 MiB, max_item_size over 4 GiB) or
 * UV_ENOMEM. The clock of expiry is r's (a fake clock in tests), with the
 * wall clock read once here to place absolute exptimes. */
int eddy_cache_new(eddy_reactor_t *r, const eddy_cache_opts_t *o,
                   eddy_cache_t **out);
/* Serves the protocol on endpoint (eddy/endpoint.h); may be called for
 * several endpoints. *out (out may be NULL) is for eddy_listener_port and
 * eddy_listener_address only: the listener belongs to the cache, which
 * closes it in eddy_cache_close. Errors are eddy_listen's. */
int eddy_cache_listen(eddy_cache_t *c, const char *endpoint,
                      eddy_listener_t **out);
/* Stops listening, closes every connection (answers already produced are
 * written first), frees the items, then calls cb(arg) (cb may be NULL) on
 * a later loop iteration, never from inside this call. c is invalid from
 * then on. Call it once. */
void eddy_cache_close(eddy_cache_t *c, eddy_call_cb cb, void *arg);

/* The figures `stats` reports, for status pages and the dashboard
 * (docs/protocol/cache.md). curr_items, bytes and curr_connections are
 * gauges; the rest count since start or the last `stats reset`. */
typedef struct eddy_cache_stats_s {
  uint64_t curr_items;
  uint64_t total_items;
  uint64_t bytes;
  uint64_t limit_maxbytes;
  uint64_t curr_connections;
  uint64_t total_connections;
  uint64_t get_hits;
  uint64_t get_misses;
  uint64_t get_expired;
  uint64_t cmd_get;
  uint64_t cmd_set;
  uint64_t cmd_touch;
  uint64_t delete_hits;
  uint64_t delete_misses;
  uint64_t incr_hits;
  uint64_t incr_misses;
  uint64_t decr_hits;
  uint64_t decr_misses;
  uint64_t cas_hits;
  uint64_t cas_misses;
  uint64_t cas_badval;
  uint64_t evictions;
  uint64_t expired_unfetched;
  uint64_t reclaimed;
} eddy_cache_stats_t;

void eddy_cache_stats(const eddy_cache_t *c, eddy_cache_stats_t *out);

/* ---- Direct access (the HTTP API, embedding programs) -------------------
 * The store as the protocol's get, set, delete and a key listing see it:
 * same expiry rules, LRU, memory limit and statistics. Keys are 1 to 250
 * bytes with no byte <= 0x20 and no 0x7f (memcached's rule); a bad key
 * gives UV_EINVAL. Call them on the cache's reactor thread. */
typedef struct eddy_cache_item_s {
  char *value; /* malloc'd copy, NUL-terminated for convenience; the caller
                * frees it with eddy_cache_item_free */
  size_t len;
  uint32_t flags;
  int64_t ttl; /* seconds left (rounded up); -1: never expires */
  uint64_t cas;
} eddy_cache_item_t;
/* 0 and *out filled (a hit: the item becomes most recently used), or
 * UV_ENOENT, UV_EINVAL, UV_ENOMEM. */
int eddy_cache_get(eddy_cache_t *c, const char *key, size_t nkey,
                   eddy_cache_item_t *out);
void eddy_cache_item_free(eddy_cache_item_t *it);
/* Stores value (copied) like memcached's `set`: exptime 0 never expires,
 * up to 30 days is relative seconds, larger an absolute unix time, negative
 * already expired. Returns 0, UV_EINVAL, UV_E2BIG (over max_item_size) or
 * UV_ENOMEM (it cannot fit under the memory limit; an old value of the key
 * is then removed, as memcached does). */
int eddy_cache_set(eddy_cache_t *c, const char *key, size_t nkey,
                   const void *value, size_t len, uint32_t flags,
                   int64_t exptime);
/* 0 (deleted), UV_ENOENT or UV_EINVAL. */
int eddy_cache_delete(eddy_cache_t *c, const char *key, size_t nkey);
/* Live keys starting with prefix (prefix_len 0: all), at most limit of
 * them (limit 0 means 1000), sorted. When more match, which ones are
 * listed is unspecified and *truncated is set. *keys is one malloc'd block
 * (the array and its NUL-terminated strings): free(*keys). Returns 0 or
 * UV_ENOMEM. */
int eddy_cache_keys(eddy_cache_t *c, const char *prefix, size_t prefix_len,
                    size_t limit, char ***keys, size_t *count, int *truncated);

#ifdef __cplusplus
}
#endif
#endif
