/* expiry.c — memcached's expiry rules over the reactor's clock.
 *
 * Deadlines are kept in reactor milliseconds (monotonic, fake in tests); the
 * wall clock is only read to turn absolute unix exptimes into that scale. */
#include "store.h"

int64_t eddy__cache_unix_now(const eddy__cache_clock_t *c, uint64_t now_ms) {
  return c->base_unix + (int64_t)((now_ms - c->base_ms) / 1000);
}

uint64_t eddy__cache_deadline(const eddy__cache_clock_t *c, int64_t exptime,
                              uint64_t now_ms) {
  if (exptime == 0)
    return 0;
  /* 1 stands for "already expired": eddy__item_dead treats it as past even
   * on a fake clock still at 0 (a real deadline is at least 1000). */
  if (exptime < 0)
    return 1;
  if (exptime <= EDDY__CACHE_REL_MAX)
    return now_ms + (uint64_t)exptime * 1000u;
  int64_t unix_now = eddy__cache_unix_now(c, now_ms);
  if (exptime <= unix_now)
    return 1;
  /* Whole seconds from now; the part of the current second already gone is
   * ignored, as memcached's one-second clock does. */
  return now_ms + (uint64_t)(exptime - unix_now) * 1000u;
}

int eddy__item_dead(const eddy__store_t *s, const eddy__item_t *it,
                    uint64_t now_ms) {
  if (it->exp_ms != 0 && (it->exp_ms == 1 || it->exp_ms <= now_ms))
    return 1;
  return s->flush_at_ms != 0 && now_ms >= s->flush_at_ms &&
         it->time_ms <= s->flush_at_ms;
}

int64_t eddy__cache_ttl_left(const eddy__item_t *it, uint64_t now_ms) {
  /* memcached answers -1 for an item touched into the past too. */
  if (it->exp_ms == 0 || it->exp_ms == 1 || it->exp_ms <= now_ms)
    return -1;
  /* Rounded up: an item with 500 ms left still has "1" second. */
  return (int64_t)((it->exp_ms - now_ms + 999) / 1000);
}
