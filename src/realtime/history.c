/* history.c — the bounded history of a channel: a ring of publications
 * with consecutive offsets, trimmed by count (the namespace's
 * history_size), by age (history_ttl_ms, on the reactor's clock) and by the
 * hub-wide history_memory.
 *
 * Each kept publication is the very eddy_ws_message_t that was delivered
 * (its push text), so keeping it costs no copy and replaying it is plain
 * concatenation.
 *
 * At the memory limit the channels least recently published to lose their
 * oldest publications first (an LRU list of channels keeping history); a
 * channel's offsets never restart because of it, so a client that missed
 * trimmed publications is told it could not recover. */
#include <stdlib.h>
#include <string.h>

#include "realtime/rt_internal.h"

/* Accounted per publication besides its text: the ring slot and the
 * message's own header and bookkeeping. */
#define PUB_OVERHEAD 96
#define RING_MIN 4
#define SWEEP_MS 1000

void eddy__rt_epoch_new(char epoch[EDDY_RT_EPOCH_LEN + 1]) {
  static const char hex[] = "0123456789abcdef";
  uint8_t raw[EDDY_RT_EPOCH_LEN / 2];
  if (uv_random(NULL, NULL, raw, sizeof(raw), 0, NULL) != 0) {
    /* The epoch only has to differ from the previous incarnation's: the
     * clock and an address do when the kernel cannot give randomness. */
    uint64_t x = uv_hrtime() ^ (uint64_t)(uintptr_t)epoch;
    x = (x ^ (x >> 31)) * 0x9E3779B97F4A7C15ull;
    memcpy(raw, &x, sizeof(raw) < sizeof(x) ? sizeof(raw) : sizeof(x));
  }
  for (size_t i = 0; i < sizeof(raw); i++) {
    epoch[2 * i] = hex[raw[i] >> 4];
    epoch[2 * i + 1] = hex[raw[i] & 15];
  }
  epoch[EDDY_RT_EPOCH_LEN] = '\0';
}

void eddy__rt_history_init(eddy__rt_history_t *h) {
  memset(h, 0, sizeof(*h));
  eddy__rt_epoch_new(h->epoch);
}

static size_t pub_bytes(const eddy__rt_pub_t *p) {
  size_t len;
  eddy_ws_message_data(p->msg, &len);
  return len + PUB_OVERHEAD;
}

int eddy__rt_history_drop_oldest(eddy_rt_t *hub, eddy__rt_history_t *h) {
  if (h->count == 0)
    return 0;
  eddy__rt_pub_t *p = &h->ring[h->head];
  size_t n = pub_bytes(p);
  h->bytes -= n;
  hub->history_bytes -= n;
  eddy_ws_message_unref(p->msg);
  p->msg = NULL;
  h->head = (h->head + 1) % h->cap;
  h->count--;
  if (h->count == 0) {
    /* An empty channel gives its ring back; an idle one should cost only
     * its name. */
    free(h->ring);
    h->ring = NULL;
    h->cap = h->head = 0;
  }
  return 1;
}

void eddy__rt_history_free(eddy_rt_t *hub, eddy__rt_history_t *h) {
  while (eddy__rt_history_drop_oldest(hub, h))
    ;
  free(h->ring);
  h->ring = NULL;
  h->cap = h->head = 0;
}

static int grow(eddy__rt_history_t *h, size_t size) {
  size_t ncap = h->cap == 0 ? RING_MIN : (size_t)h->cap * 2;
  if (ncap > size)
    ncap = size;
  eddy__rt_pub_t *ring = malloc(ncap * sizeof(*ring));
  if (ring == NULL)
    return UV_ENOMEM;
  for (uint32_t i = 0; i < h->count; i++)
    ring[i] = h->ring[(h->head + i) % h->cap];
  free(h->ring);
  h->ring = ring;
  h->cap = (uint32_t)ncap;
  h->head = 0;
  return 0;
}

int eddy__rt_history_push(eddy_rt_t *hub, eddy__rt_history_t *h, size_t size,
                          uint64_t now, eddy_ws_message_t *m) {
  if (size > UINT32_MAX / 2)
    size = UINT32_MAX / 2;
  if (h->count >= size)
    eddy__rt_history_drop_oldest(hub, h);
  if (h->count == h->cap && grow(h, size) != 0)
    return UV_ENOMEM;
  eddy__rt_pub_t *p = &h->ring[(h->head + h->count) % h->cap];
  p->offset = h->last + 1;
  p->time_ms = now;
  p->msg = eddy_ws_message_ref(m);
  h->count++;
  h->last++;
  size_t n = pub_bytes(p);
  h->bytes += n;
  hub->history_bytes += n;
  return 0;
}

void eddy__rt_history_expire(eddy_rt_t *hub, eddy__rt_history_t *h,
                             uint64_t ttl_ms, uint64_t now) {
  if (ttl_ms == 0)
    return;
  while (h->count > 0 && now - h->ring[h->head].time_ms >= ttl_ms)
    eddy__rt_history_drop_oldest(hub, h);
}

const eddy__rt_pub_t *eddy__rt_history_at(const eddy__rt_history_t *h,
                                          uint32_t i) {
  return &h->ring[(h->head + i) % h->cap];
}

uint32_t eddy__rt_history_after(const eddy__rt_history_t *h, uint64_t after) {
  if (h->count == 0)
    return 0;
  /* Offsets are consecutive, so the index is arithmetic. */
  uint64_t first = h->ring[h->head].offset;
  if (after < first)
    return 0;
  uint64_t i = after - first + 1;
  return i >= h->count ? h->count : (uint32_t)i;
}

int eddy__rt_history_append(const eddy__rt_history_t *h, uint32_t from,
                            uint32_t n, eddy_buf_t *b) {
  for (uint32_t i = 0; i < n && from + i < h->count; i++) {
    size_t len;
    const char *text =
        eddy_ws_message_data(eddy__rt_history_at(h, from + i)->msg, &len);
    int rc;
    if (i > 0 && (rc = eddy_buf_append(b, ",", 1)) != 0)
      return rc;
    if ((rc = eddy_buf_append(b, text, len)) != 0)
      return rc;
  }
  return 0;
}

int eddy__rt_history_recover(const eddy__rt_history_t *h, size_t size,
                             const char *epoch, uint64_t offset, uint32_t *from,
                             const char **reason) {
  if (size == 0) {
    *reason = "this channel keeps no history";
    return 0;
  }
  if (strcmp(epoch, h->epoch) != 0) {
    *reason = "epoch changed: the channel's history was reset";
    return 0;
  }
  if (offset > h->last) {
    *reason = "offset is ahead of the channel";
    return 0;
  }
  if (offset == h->last) {
    *from = h->count;
    return 1;
  }
  if (h->count == 0 || h->ring[h->head].offset > offset + 1) {
    *reason = "publications after this offset are no longer kept";
    return 0;
  }
  *from = eddy__rt_history_after(h, offset);
  return 1;
}

void eddy__rt_history_enforce(eddy_rt_t *hub, eddy__rt_channel_t *ch) {
  while (hub->history_bytes > hub->o.history_memory && hub->lru_head != NULL) {
    eddy__rt_channel_t *victim = hub->lru_head;
    eddy__rt_history_drop_oldest(hub, &victim->history);
    if (victim->history.count == 0) {
      eddy__rt_channel_unlist(hub, victim);
      if (victim != ch) /* the caller still uses ch */
        eddy__rt_channel_maybe_free(hub, victim);
    }
  }
}

static void sweep_cb(eddy_timer_t *t) {
  eddy_rt_t *hub = t->data;
  uint64_t now = eddy_reactor_now(hub->reactor);
  eddy__rt_channel_t *next;
  for (eddy__rt_channel_t *ch = hub->lru_head; ch != NULL; ch = next) {
    next = ch->lru_next;
    eddy__rt_history_expire(hub, &ch->history, ch->ns->history_ttl_ms, now);
    if (ch->history.count == 0) {
      eddy__rt_channel_unlist(hub, ch);
      eddy__rt_channel_maybe_free(hub, ch);
    }
  }
  eddy__rt_history_sweep_arm(hub);
}

void eddy__rt_history_sweep_arm(eddy_rt_t *hub) {
  if (hub->closing || hub->lru_head == NULL || eddy_timer_active(&hub->sweep))
    return;
  hub->sweep.data = hub;
  eddy_timer_start(&hub->sweep, SWEEP_MS, sweep_cb);
}
