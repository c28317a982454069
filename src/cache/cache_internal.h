/* cache_internal.h — what the cache's files share: the service, one
 * connection, and the command executors (classic.c, meta.c). */
#ifndef EDDY_CACHE_INTERNAL_H
#define EDDY_CACHE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "eddy/buffer.h"
#include "eddy/cache.h"
#include "eddy/line.h"
#include "eddy/protocol.h"
#include "request.h"
#include "store.h"

/* The version memcached clients see: they pick features (meta commands)
 * from it, so it names the memcached protocol level we implement. */
#define EDDY__CACHE_MC_VERSION "1.6.21"
/* The longest get/gets/gat/gats line (a multiget). */
#define EDDY__CACHE_KEYS_LINE_MAX ((size_t)1 << 20)
/* Values at least this long are shared with the transport, not copied. */
#define EDDY__CACHE_SHARE_MIN 16384u
/* Replies are written once this many bytes are waiting. */
#define EDDY__CACHE_FLUSH_AT (256u * 1024u)

typedef struct eddy__cache_conn_s eddy__cache_conn_t;
typedef struct eddy__cache_listener_s eddy__cache_listener_t;

struct eddy__cache_listener_s {
  eddy__cache_listener_t *next;
  eddy_listener_t *listener;
  eddy_cache_t *cache;
};

struct eddy_cache_s {
  eddy_factory_t factory; /* factory.data points back here */
  eddy_reactor_t *reactor;
  eddy_cache_opts_t opts;
  eddy__mc_limits_t limits;
  eddy__store_t store;
  eddy__cache_clock_t clock;
  eddy_cache_stats_t stats;
  uint64_t started_ms;
  uint64_t cmd_flush;
  uint64_t touch_hits;
  uint64_t touch_misses;
  uint64_t get_flushed;
  uint64_t bytes_read;
  uint64_t bytes_written;
  /* Fed when opts.metrics is set; NULL otherwise (eddy/metrics.h). */
  struct {
    eddy_counter_t *hits, *misses, *sets;
  } metrics;
  eddy__cache_listener_t *listeners;
  eddy__cache_conn_t *conns;
  size_t open_listeners; /* closing ones included */
  int closing;
  eddy_call_cb close_cb;
  void *close_arg;
};

struct eddy__cache_conn_s {
  eddy_protocol_t protocol; /* first: the library's pointer is ours */
  eddy_cache_t *cache;
  eddy__cache_conn_t *prev, *next;
  eddy_buf_t in;  /* bytes of an unfinished command */
  eddy_buf_t out; /* replies not yet handed to the transport */
  size_t swallow; /* bytes of a refused block still to drop */
  size_t need;    /* bytes the pending command needs, when known */
  int paused;     /* stopped reading until the replies drain */
  int quitting;
  int refused;        /* over max_connections */
  eddy__mc_req_t req; /* scratch, to keep it off the stack */
};

/* Counts a retrieval that found nothing: a miss, and why (expired or
 * flushed) when the lookup just met a dead item. */
void eddy__cache_count_miss(eddy_cache_t *cache);

/* Executors: append the reply to c->out. */
void eddy__cache_exec_classic(eddy__cache_conn_t *c, const eddy__mc_req_t *r,
                              uint64_t now);
void eddy__cache_exec_meta(eddy__cache_conn_t *c, const eddy__mc_req_t *r,
                           uint64_t now);
/* Appends a value's bytes and its "\r\n": copied when small, shared with
 * the transport when large. */
void eddy__cache_out_value(eddy__cache_conn_t *c, eddy__item_t *it);
void eddy__cache_out(eddy__cache_conn_t *c, const char *s, size_t n);
#define EDDY__CACHE_OUT_LIT(c, lit) eddy__cache_out((c), lit, sizeof(lit) - 1)
/* Writes what c->out holds to the transport. */
void eddy__cache_flush(eddy__cache_conn_t *c);
/* Formats v in decimal at p; returns the length (at most 20). */
size_t eddy__cache_u64(char *p, uint64_t v);

/* Shared storage helpers (classic.c), used by meta too. */
typedef enum {
  EDDY__CACHE_STORED,
  EDDY__CACHE_NOT_STORED,
  EDDY__CACHE_EXISTS,
  EDDY__CACHE_NOT_FOUND,
  EDDY__CACHE_NO_MEMORY
} eddy__cache_store_rc_t;
/* mode: EDDY__MC_MODE_*; with check_cas the item must exist with that cas
 * (memcached's cas command; 0 never matches). *new_cas (may be NULL) gets
 * the stored item's cas. */
eddy__cache_store_rc_t eddy__cache_store(eddy_cache_t *cache, int mode,
                                         const char *key, size_t nkey,
                                         uint32_t flags, int64_t exptime,
                                         const char *data, size_t bytes,
                                         int check_cas, uint64_t cas,
                                         uint64_t now, uint64_t *new_cas);
typedef enum {
  EDDY__CACHE_DELTA_OK,
  EDDY__CACHE_DELTA_NOT_FOUND,
  EDDY__CACHE_DELTA_NON_NUMERIC,
  EDDY__CACHE_DELTA_NO_MEMORY
} eddy__cache_delta_rc_t;
eddy__cache_delta_rc_t eddy__cache_delta(eddy_cache_t *cache, const char *key,
                                         size_t nkey, int incr, uint64_t delta,
                                         uint64_t now, uint64_t *value,
                                         eddy__item_t **item);

#endif
