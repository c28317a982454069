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

#ifdef __cplusplus
}
#endif
#endif
