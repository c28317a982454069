/* store.h — the cache's item store: a chained hash table, one LRU list and
 * memory accounting. Pure C over a caller-supplied clock (milliseconds), so
 * the unit tests drive it with plain numbers.
 *
 * OWNERSHIP: items are reference counted. The table holds one reference to
 * each linked item; a reply that shares an item's bytes with the transport
 * (eddy_slice_t) holds another, so replacing or evicting an item while it is
 * still being written is safe: its memory leaves the accounting at once and
 * is freed when the last reference goes.
 */
#ifndef EDDY_CACHE_STORE_H
#define EDDY_CACHE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "eddy/cache.h"

#define EDDY__CACHE_KEY_MAX 250

typedef struct eddy__item_s eddy__item_t;
struct eddy__item_s {
  eddy__item_t *hnext; /* hash chain */
  eddy__item_t *prev;  /* LRU: towards the most recently used */
  eddy__item_t *next;  /* LRU: towards the least recently used */
  uint64_t hash;
  uint64_t cas;
  uint64_t exp_ms;   /* reactor time at which it expires; 0: never */
  uint64_t time_ms;  /* when it was stored (flush_all with delay) */
  uint64_t atime_ms; /* last access (meta `l`) */
  uint32_t flags;
  uint32_t nbytes; /* value length, without the \r\n that follows it */
  uint32_t refs;
  uint8_t nkey;
  uint8_t linked;
  uint8_t fetched;
  uint8_t won; /* meta: a win token (W) was handed out for it */
  /* key (nkey bytes), then the value (nbytes) and "\r\n", so a reply can
   * take value and terminator in one piece. */
  char data[];
};

static inline const char *eddy__item_key(const eddy__item_t *it) {
  return it->data;
}
static inline char *eddy__item_value(eddy__item_t *it) {
  return it->data + it->nkey;
}

typedef struct eddy__store_s {
  eddy__item_t **buckets;
  size_t mask; /* buckets - 1 (a power of two) */
  size_t count;
  eddy__item_t *head; /* most recently used */
  eddy__item_t *tail; /* least recently used: evicted first */
  size_t bytes;       /* accounted size of linked items */
  size_t limit;
  uint64_t next_cas;
  /* flush_all with a delay: items stored at or before flush_at_ms are
   * invalid once now reaches it (0: none pending). */
  uint64_t flush_at_ms;
  eddy_cache_stats_t *stats; /* counters the store keeps true */
  eddy_counter_t *evictions; /* metrics; NULL: none */
  /* Why the last eddy__store_find found nothing alive: 0 absent, or
   * EDDY__STORE_EXPIRED / EDDY__STORE_FLUSHED (for get_expired). */
  int last_dead;
} eddy__store_t;

enum { EDDY__STORE_EXPIRED = 1, EDDY__STORE_FLUSHED = 2 };

/* The memory an item of this size is accounted for. */
size_t eddy__item_size(size_t nkey, size_t nbytes);

int eddy__store_init(eddy__store_t *s, size_t limit, eddy_cache_stats_t *st);
/* Drops the table's references (items still shared live on). */
void eddy__store_free(eddy__store_t *s);
uint64_t eddy__store_hash(const char *key, size_t nkey);

/* A new item, not linked, holding one reference, with "\r\n" after the
 * value already written. Evicts from the LRU tail to make room. NULL when
 * it can never fit under the limit or out of memory. */
eddy__item_t *eddy__store_alloc(eddy__store_t *s, const char *key, size_t nkey,
                                size_t nbytes, uint64_t now_ms);
void eddy__item_ref(eddy__item_t *it);
void eddy__item_unref(eddy__item_t *it);

/* The live item for key, or NULL. Expired or flushed items met on the way
 * are unlinked. Does not touch the LRU (see eddy__store_bump). */
eddy__item_t *eddy__store_find(eddy__store_t *s, const char *key, size_t nkey,
                               uint64_t now_ms);
/* Links it (taking over the caller's reference), replacing the item with
 * the same key if any, and gives it a new cas. */
void eddy__store_link(eddy__store_t *s, eddy__item_t *it, uint64_t now_ms);
void eddy__store_unlink(eddy__store_t *s, eddy__item_t *it);
/* Marks it most recently used. */
void eddy__store_bump(eddy__store_t *s, eddy__item_t *it, uint64_t now_ms);
/* Unlinks every item stored at or before now (flush_all). */
void eddy__store_flush(eddy__store_t *s, uint64_t now_ms);
/* Applies a flush_all delay that fell due. */
void eddy__store_tick(eddy__store_t *s, uint64_t now_ms);

/* ---- expiry.c ----------------------------------------------------------
 * The clock: reactor milliseconds plus the wall-clock second that matched
 * reactor time `base_ms`, for absolute exptimes. */
typedef struct eddy__cache_clock_s {
  uint64_t base_ms;
  int64_t base_unix;
} eddy__cache_clock_t;

#define EDDY__CACHE_REL_MAX 2592000 /* 30 days: larger is absolute */

/* memcached's rule for an exptime: 0 never (returns 0); negative, or an
 * absolute time already past: expired (returns 1, a deadline in the past);
 * up to 30 days: relative; larger: absolute unix time. */
uint64_t eddy__cache_deadline(const eddy__cache_clock_t *c, int64_t exptime,
                              uint64_t now_ms);
/* Seconds left for meta's `t` flag: -1 when it never expires (or has). */
int64_t eddy__cache_ttl_left(const eddy__item_t *it, uint64_t now_ms);
int64_t eddy__cache_unix_now(const eddy__cache_clock_t *c, uint64_t now_ms);
/* 1 when it is expired or flushed at now. */
int eddy__item_dead(const eddy__store_t *s, const eddy__item_t *it,
                    uint64_t now_ms);

#endif
