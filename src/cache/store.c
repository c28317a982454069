/* store.c — the item store: hash table, LRU list, memory limit.
 *
 * Chained hashing with the full 64-bit hash kept in each item: a lookup
 * compares hashes before keys, and growing the table never rehashes a key.
 * The table doubles when it holds more than 1.5 items per bucket; the copy
 * is one pass over the chains (amortized O(1) per insert). */
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "store.h"

#define STORE_BUCKETS_MIN 1024u
#define STORE_BUCKETS_MAX ((size_t)1 << 30)

size_t eddy__item_size(size_t nkey, size_t nbytes) {
  return sizeof(eddy__item_t) + nkey + nbytes + 2;
}

uint64_t eddy__store_hash(const char *key, size_t nkey) {
  /* FNV-1a, then a final mix so the low bits (the bucket index) depend on
   * every byte. Keys are short (<= 250), so this is a few ns. */
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < nkey; i++) {
    h ^= (unsigned char)key[i];
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

int eddy__store_init(eddy__store_t *s, size_t limit, eddy_cache_stats_t *st) {
  memset(s, 0, sizeof(*s));
  s->buckets = calloc(STORE_BUCKETS_MIN, sizeof(*s->buckets));
  if (s->buckets == NULL)
    return UV_ENOMEM;
  s->mask = STORE_BUCKETS_MIN - 1;
  s->limit = limit;
  s->next_cas = 1;
  s->stats = st;
  return 0;
}

void eddy__item_ref(eddy__item_t *it) {
  it->refs++;
}

void eddy__item_unref(eddy__item_t *it) {
  if (--it->refs == 0)
    free(it);
}

static void lru_remove(eddy__store_t *s, eddy__item_t *it) {
  if (it->prev != NULL)
    it->prev->next = it->next;
  else
    s->head = it->next;
  if (it->next != NULL)
    it->next->prev = it->prev;
  else
    s->tail = it->prev;
  it->prev = it->next = NULL;
}

static void lru_push(eddy__store_t *s, eddy__item_t *it) {
  it->prev = NULL;
  it->next = s->head;
  if (s->head != NULL)
    s->head->prev = it;
  s->head = it;
  if (s->tail == NULL)
    s->tail = it;
}

void eddy__store_unlink(eddy__store_t *s, eddy__item_t *it) {
  if (!it->linked)
    return;
  eddy__item_t **link = &s->buckets[it->hash & s->mask];
  while (*link != it)
    link = &(*link)->hnext;
  *link = it->hnext;
  it->hnext = NULL;
  lru_remove(s, it);
  it->linked = 0;
  s->count--;
  s->bytes -= eddy__item_size(it->nkey, it->nbytes);
  s->stats->curr_items = s->count;
  s->stats->bytes = s->bytes;
  eddy__item_unref(it);
}

void eddy__store_free(eddy__store_t *s) {
  while (s->head != NULL)
    eddy__store_unlink(s, s->head);
  free(s->buckets);
  s->buckets = NULL;
}

/* Unlinks an item found dead, counting why it went. */
static void reap(eddy__store_t *s, eddy__item_t *it) {
  if (!it->fetched)
    s->stats->expired_unfetched++;
  s->stats->reclaimed++;
  eddy__store_unlink(s, it);
}

eddy__item_t *eddy__store_alloc(eddy__store_t *s, const char *key, size_t nkey,
                                size_t nbytes, uint64_t now_ms) {
  size_t size = eddy__item_size(nkey, nbytes);
  if (size > s->limit || nbytes > UINT32_MAX || nkey > EDDY__CACHE_KEY_MAX)
    return NULL;
  /* Make room first, so the limit holds once the item is linked. Dead items
   * at the tail are reclaimed, live ones evicted. */
  while (s->bytes + size > s->limit && s->tail != NULL) {
    eddy__item_t *victim = s->tail;
    if (eddy__item_dead(s, victim, now_ms)) {
      reap(s, victim);
    } else {
      s->stats->evictions++;
      eddy_counter_inc(s->evictions);
      eddy__store_unlink(s, victim);
    }
  }
  eddy__item_t *it = malloc(size);
  if (it == NULL)
    return NULL;
  memset(it, 0, sizeof(*it));
  it->refs = 1;
  it->nkey = (uint8_t)nkey;
  it->nbytes = (uint32_t)nbytes;
  it->hash = eddy__store_hash(key, nkey);
  memcpy(it->data, key, nkey);
  memcpy(it->data + nkey + nbytes, "\r\n", 2);
  it->time_ms = it->atime_ms = now_ms;
  return it;
}

eddy__item_t *eddy__store_find(eddy__store_t *s, const char *key, size_t nkey,
                               uint64_t now_ms) {
  uint64_t h = eddy__store_hash(key, nkey);
  s->last_dead = 0;
  for (eddy__item_t *it = s->buckets[h & s->mask]; it != NULL; it = it->hnext) {
    if (it->hash != h || it->nkey != nkey || memcmp(it->data, key, nkey) != 0)
      continue;
    if (eddy__item_dead(s, it, now_ms)) {
      s->last_dead =
          it->exp_ms != 0 && (it->exp_ms == 1 || it->exp_ms <= now_ms)
              ? EDDY__STORE_EXPIRED
              : EDDY__STORE_FLUSHED;
      reap(s, it);
      return NULL;
    }
    return it;
  }
  return NULL;
}

static void grow(eddy__store_t *s) {
  size_t n = (s->mask + 1) * 2;
  if (n > STORE_BUCKETS_MAX)
    return;
  eddy__item_t **b = calloc(n, sizeof(*b));
  if (b == NULL)
    return; /* longer chains, still correct */
  for (size_t i = 0; i <= s->mask; i++) {
    eddy__item_t *it = s->buckets[i];
    while (it != NULL) {
      eddy__item_t *next = it->hnext;
      size_t j = it->hash & (n - 1);
      it->hnext = b[j];
      b[j] = it;
      it = next;
    }
  }
  free(s->buckets);
  s->buckets = b;
  s->mask = n - 1;
}

void eddy__store_link(eddy__store_t *s, eddy__item_t *it, uint64_t now_ms) {
  eddy__item_t **link = &s->buckets[it->hash & s->mask];
  for (eddy__item_t *old = *link; old != NULL; old = old->hnext) {
    if (old->hash == it->hash && old->nkey == it->nkey &&
        memcmp(old->data, it->data, it->nkey) == 0) {
      eddy__store_unlink(s, old);
      break;
    }
  }
  it->cas = s->next_cas++;
  it->time_ms = now_ms;
  it->atime_ms = now_ms;
  it->linked = 1;
  it->hnext = *link;
  *link = it;
  lru_push(s, it);
  s->count++;
  s->bytes += eddy__item_size(it->nkey, it->nbytes);
  s->stats->curr_items = s->count;
  s->stats->bytes = s->bytes;
  s->stats->total_items++;
  /* The limit may have been passed when a replaced item was shared (its
   * size left the books only now) — evict until it holds. */
  while (s->bytes > s->limit && s->tail != NULL && s->tail != it) {
    s->stats->evictions++;
    eddy_counter_inc(s->evictions);
    eddy__store_unlink(s, s->tail);
  }
  if (s->count > (s->mask + 1) + (s->mask + 1) / 2)
    grow(s);
}

void eddy__store_bump(eddy__store_t *s, eddy__item_t *it, uint64_t now_ms) {
  it->atime_ms = now_ms;
  it->fetched = 1;
  if (s->head == it)
    return;
  lru_remove(s, it);
  lru_push(s, it);
}

void eddy__store_flush(eddy__store_t *s, uint64_t now_ms) {
  eddy__item_t *it = s->head;
  while (it != NULL) {
    eddy__item_t *next = it->next;
    if (it->time_ms <= now_ms)
      eddy__store_unlink(s, it);
    it = next;
  }
}

void eddy__store_tick(eddy__store_t *s, uint64_t now_ms) {
  if (s->flush_at_ms != 0 && now_ms >= s->flush_at_ms) {
    uint64_t at = s->flush_at_ms;
    s->flush_at_ms = 0;
    eddy__store_flush(s, at);
  }
}
