/* query.c — the cache store without the wire: get, set, delete and a key
 * listing for the HTTP API. Each goes through the same store calls as the
 * protocol's commands, so expiry, LRU, the memory limit and the `stats`
 * counters behave the same whichever way a key was reached. */
#include <stdlib.h>
#include <string.h>

#include "cache_internal.h"
#include "eddy/error.h"

#define KEYS_DEFAULT 1000

static int key_ok(const char *key, size_t nkey) {
  if (key == NULL || nkey == 0 || nkey > EDDY__CACHE_KEY_MAX)
    return 0;
  for (size_t i = 0; i < nkey; i++)
    if ((unsigned char)key[i] <= ' ' || key[i] == 0x7f)
      return 0;
  return 1;
}

/* The reactor time for this call, with a due flush_all applied first. */
static uint64_t now_of(eddy_cache_t *c) {
  uint64_t now = eddy_reactor_now(c->reactor);
  eddy__store_tick(&c->store, now);
  return now;
}

int eddy_cache_get(eddy_cache_t *c, const char *key, size_t nkey,
                   eddy_cache_item_t *out) {
  memset(out, 0, sizeof(*out));
  if (c == NULL || !key_ok(key, nkey))
    return UV_EINVAL;
  uint64_t now = now_of(c);
  eddy__item_t *it = eddy__store_find(&c->store, key, nkey, now);
  c->stats.cmd_get++;
  if (it == NULL) {
    eddy__cache_count_miss(c);
    return UV_ENOENT;
  }
  char *v = malloc((size_t)it->nbytes + 1);
  if (v == NULL)
    return UV_ENOMEM;
  c->stats.get_hits++;
  eddy_counter_inc(c->metrics.hits); /* the API's reads are hits too */
  memcpy(v, eddy__item_value(it), it->nbytes);
  v[it->nbytes] = '\0';
  it->fetched = 1;
  eddy__store_bump(&c->store, it, now);
  out->value = v;
  out->len = it->nbytes;
  out->flags = it->flags;
  out->ttl = eddy__cache_ttl_left(it, now);
  out->cas = it->cas;
  return 0;
}

void eddy_cache_item_free(eddy_cache_item_t *it) {
  if (it == NULL)
    return;
  free(it->value);
  it->value = NULL;
  it->len = 0;
}

int eddy_cache_set(eddy_cache_t *c, const char *key, size_t nkey,
                   const void *value, size_t len, uint32_t flags,
                   int64_t exptime) {
  if (c == NULL || !key_ok(key, nkey) || (value == NULL && len > 0))
    return UV_EINVAL;
  if (len > c->opts.max_item_size)
    return UV_E2BIG;
  uint64_t now = now_of(c);
  c->stats.cmd_set++;
  eddy_counter_inc(c->metrics.sets);
  eddy__cache_store_rc_t rc =
      eddy__cache_store(c, EDDY__MC_MODE_SET, key, nkey, flags, exptime,
                        len > 0 ? value : "", len, 0, 0, now, NULL);
  return rc == EDDY__CACHE_STORED ? 0 : UV_ENOMEM;
}

int eddy_cache_delete(eddy_cache_t *c, const char *key, size_t nkey) {
  if (c == NULL || !key_ok(key, nkey))
    return UV_EINVAL;
  uint64_t now = now_of(c);
  eddy__item_t *it = eddy__store_find(&c->store, key, nkey, now);
  if (it == NULL) {
    c->stats.delete_misses++;
    return UV_ENOENT;
  }
  eddy__store_unlink(&c->store, it);
  c->stats.delete_hits++;
  return 0;
}

static int cmp_key(const void *a, const void *b) {
  const eddy__item_t *x = *(const eddy__item_t *const *)a;
  const eddy__item_t *y = *(const eddy__item_t *const *)b;
  size_t n = x->nkey < y->nkey ? x->nkey : y->nkey;
  int d = memcmp(eddy__item_key(x), eddy__item_key(y), n);
  return d != 0 ? d : (int)x->nkey - (int)y->nkey;
}

int eddy_cache_keys(eddy_cache_t *c, const char *prefix, size_t prefix_len,
                    size_t limit, char ***keys, size_t *count, int *truncated) {
  *keys = NULL;
  *count = 0;
  *truncated = 0;
  if (c == NULL || (prefix == NULL && prefix_len > 0))
    return UV_EINVAL;
  if (limit == 0)
    limit = KEYS_DEFAULT;
  uint64_t now = now_of(c);
  eddy__store_t *s = &c->store;
  size_t cap = limit < s->count ? limit : s->count;
  eddy__item_t **found = malloc((cap > 0 ? cap : 1) * sizeof(*found));
  if (found == NULL)
    return UV_ENOMEM;
  size_t n = 0, bytes = 0;
  /* Walks the buckets, not the LRU: a listing must not reorder it. Dead
   * items are skipped, not reclaimed, so the walk never changes the
   * table under it. */
  for (size_t b = 0; b <= s->mask && !*truncated; b++) {
    for (eddy__item_t *it = s->buckets[b]; it != NULL; it = it->hnext) {
      if (it->nkey < prefix_len ||
          (prefix_len > 0 &&
           memcmp(eddy__item_key(it), prefix, prefix_len) != 0) ||
          eddy__item_dead(s, it, now))
        continue;
      if (n == limit) {
        *truncated = 1;
        break;
      }
      found[n++] = it;
      bytes += (size_t)it->nkey + 1;
    }
  }
  qsort(found, n, sizeof(*found), cmp_key);
  char **arr = malloc(n * sizeof(char *) + bytes + 1);
  if (arr == NULL) {
    free(found);
    return UV_ENOMEM;
  }
  char *p = (char *)(arr + n);
  for (size_t i = 0; i < n; i++) {
    arr[i] = p;
    memcpy(p, eddy__item_key(found[i]), found[i]->nkey);
    p += found[i]->nkey;
    *p++ = '\0';
  }
  free(found);
  *keys = arr;
  *count = n;
  return 0;
}
