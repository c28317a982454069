/* channel.c — the channel table (a chained hash table that doubles as it
 * fills) and each channel's subscribers.
 *
 * A subscription is recorded twice: in the channel's member array (who to
 * deliver to) and in the client's subscription array (what to leave on
 * disconnect). Each side stores its index in the other, so removal is a
 * swap with the last element on both sides: O(1), no per-subscription
 * allocation. */
#include <stdlib.h>
#include <string.h>

#include "realtime/rt_internal.h"

#define BUCKETS_MIN 64

static uint32_t hash(const char *s, size_t len) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 16777619u;
  }
  return h;
}

eddy__rt_channel_t *eddy__rt_channel_find(eddy_rt_t *hub, const char *name,
                                          size_t len) {
  if (hub->nbuckets == 0)
    return NULL;
  uint32_t h = hash(name, len);
  for (eddy__rt_channel_t *ch = hub->buckets[h & (hub->nbuckets - 1)];
       ch != NULL; ch = ch->next_hash)
    if (ch->hash == h && ch->name_len == len &&
        memcmp(ch->name, name, len) == 0)
      return ch;
  return NULL;
}

static int rehash(eddy_rt_t *hub, size_t n) {
  eddy__rt_channel_t **b = calloc(n, sizeof(*b));
  if (b == NULL)
    return UV_ENOMEM;
  for (size_t i = 0; i < hub->nbuckets; i++) {
    eddy__rt_channel_t *next;
    for (eddy__rt_channel_t *ch = hub->buckets[i]; ch != NULL; ch = next) {
      next = ch->next_hash;
      ch->next_hash = b[ch->hash & (n - 1)];
      b[ch->hash & (n - 1)] = ch;
    }
  }
  free(hub->buckets);
  hub->buckets = b;
  hub->nbuckets = n;
  return 0;
}

eddy__rt_channel_t *eddy__rt_channel_get(eddy_rt_t *hub, const char *name,
                                         size_t len,
                                         const eddy_rt_namespace_t *ns,
                                         int *err) {
  eddy__rt_channel_t *ch = eddy__rt_channel_find(hub, name, len);
  if (ch != NULL)
    return ch;
  if (hub->nchannels >= hub->o.max_channels) {
    *err = UV_EBUSY;
    return NULL;
  }
  if (hub->nchannels >= hub->nbuckets &&
      rehash(hub, hub->nbuckets == 0 ? BUCKETS_MIN : hub->nbuckets * 2) != 0) {
    *err = UV_ENOMEM;
    return NULL;
  }
  ch = calloc(1, sizeof(*ch) + len + 1);
  if (ch == NULL) {
    *err = UV_ENOMEM;
    return NULL;
  }
  memcpy(ch->name, name, len);
  ch->name[len] = '\0';
  ch->name_len = len;
  ch->hash = hash(name, len);
  ch->ns = ns;
  eddy__rt_history_init(&ch->history);
  size_t i = ch->hash & (hub->nbuckets - 1);
  ch->next_hash = hub->buckets[i];
  hub->buckets[i] = ch;
  hub->nchannels++;
  eddy_gauge_set(hub->m_channels, (double)hub->nchannels);
  return ch;
}

static void channel_free(eddy_rt_t *hub, eddy__rt_channel_t *ch) {
  eddy__rt_channel_unlist(hub, ch);
  eddy__rt_history_free(hub, &ch->history);
  free(ch->members);
  free(ch);
}

void eddy__rt_channel_maybe_free(eddy_rt_t *hub, eddy__rt_channel_t *ch) {
  if (ch->nmembers > 0 || ch->history.count > 0)
    return;
  eddy__rt_channel_t **pp = &hub->buckets[ch->hash & (hub->nbuckets - 1)];
  while (*pp != ch)
    pp = &(*pp)->next_hash;
  *pp = ch->next_hash;
  hub->nchannels--;
  eddy_gauge_set(hub->m_channels, (double)hub->nchannels);
  channel_free(hub, ch);
}

void eddy__rt_channel_free_all(eddy_rt_t *hub) {
  for (size_t i = 0; i < hub->nbuckets; i++) {
    eddy__rt_channel_t *next;
    for (eddy__rt_channel_t *ch = hub->buckets[i]; ch != NULL; ch = next) {
      next = ch->next_hash;
      channel_free(hub, ch);
    }
  }
  free(hub->buckets);
  hub->buckets = NULL;
  hub->nbuckets = hub->nchannels = 0;
}

void eddy__rt_channel_each(eddy_rt_t *hub,
                           void (*fn)(eddy__rt_channel_t *ch, void *arg),
                           void *arg) {
  for (size_t i = 0; i < hub->nbuckets; i++)
    for (eddy__rt_channel_t *ch = hub->buckets[i]; ch != NULL;
         ch = ch->next_hash)
      fn(ch, arg);
}

void eddy__rt_channel_unlist(eddy_rt_t *hub, eddy__rt_channel_t *ch) {
  if (!ch->in_lru)
    return;
  if (ch->lru_prev != NULL)
    ch->lru_prev->lru_next = ch->lru_next;
  else
    hub->lru_head = ch->lru_next;
  if (ch->lru_next != NULL)
    ch->lru_next->lru_prev = ch->lru_prev;
  else
    hub->lru_tail = ch->lru_prev;
  ch->lru_prev = ch->lru_next = NULL;
  ch->in_lru = 0;
}

void eddy__rt_channel_touch(eddy_rt_t *hub, eddy__rt_channel_t *ch) {
  if (ch->in_lru && hub->lru_tail == ch)
    return;
  eddy__rt_channel_unlist(hub, ch);
  ch->lru_prev = hub->lru_tail;
  if (hub->lru_tail != NULL)
    hub->lru_tail->lru_next = ch;
  else
    hub->lru_head = ch;
  hub->lru_tail = ch;
  ch->in_lru = 1;
  eddy__rt_history_sweep_arm(hub);
}

uint32_t eddy__rt_client_slot(const eddy_rt_client_t *c,
                              const eddy__rt_channel_t *ch) {
  for (uint32_t i = 0; i < c->nsubs; i++)
    if (c->subs[i].channel == ch)
      return i;
  return UINT32_MAX;
}

int eddy__rt_subscribe(eddy_rt_client_t *c, eddy__rt_channel_t *ch) {
  if (eddy__rt_client_slot(c, ch) != UINT32_MAX)
    return UV_EEXIST;
  if (c->nsubs == c->capsubs) {
    /* Small steps: most clients hold a handful of subscriptions, and an
     * idle connection's memory is the budget that matters. */
    uint32_t ncap = c->capsubs == 0   ? 2
                    : c->capsubs < 16 ? c->capsubs * 2
                                      : c->capsubs + 16;
    eddy__rt_sub_t *s = realloc(c->subs, ncap * sizeof(*s));
    if (s == NULL)
      return UV_ENOMEM;
    c->subs = s;
    c->capsubs = ncap;
  }
  if (ch->nmembers == ch->capmembers) {
    uint32_t ncap = ch->capmembers == 0 ? 4 : ch->capmembers * 2;
    eddy__rt_member_t *m = realloc(ch->members, ncap * sizeof(*m));
    if (m == NULL)
      return UV_ENOMEM;
    ch->members = m;
    ch->capmembers = ncap;
  }
  uint32_t slot = c->nsubs++;
  uint32_t idx = ch->nmembers++;
  c->subs[slot].channel = ch;
  c->subs[slot].index = idx;
  ch->members[idx].client = c;
  ch->members[idx].slot = slot;
  c->hub->subscriptions++;
  return 0;
}

void eddy__rt_unsubscribe_slot(eddy_rt_client_t *c, uint32_t slot) {
  eddy__rt_channel_t *ch = c->subs[slot].channel;
  uint32_t idx = c->subs[slot].index;
  /* Channel side: the last member takes idx; its client learns the move. */
  uint32_t last = --ch->nmembers;
  if (idx != last) {
    ch->members[idx] = ch->members[last];
    eddy__rt_member_t *mv = &ch->members[idx];
    mv->client->subs[mv->slot].index = idx;
  }
  /* Client side: the last subscription takes slot; its channel learns. */
  uint32_t lasts = --c->nsubs;
  if (slot != lasts) {
    c->subs[slot] = c->subs[lasts];
    eddy__rt_sub_t *sv = &c->subs[slot];
    sv->channel->members[sv->index].slot = slot;
  }
  if (c->nsubs == 0) {
    free(c->subs);
    c->subs = NULL;
    c->capsubs = 0;
  }
  if (ch->nmembers == 0) {
    free(ch->members);
    ch->members = NULL;
    ch->capmembers = 0;
  }
  c->hub->subscriptions--;
}
