/* histogram.c — log-bucketed histograms (eddy/metrics.h).
 *
 * Each power of two [2^e, 2^(e+1)) is cut at 2^(e + k/8), k = 1..7, so a
 * bucket's bounds are within a factor 2^(1/8) of each other and any value
 * is read back at most 9.05 % too high. Finding the bucket costs one count
 * of leading zeros and three comparisons; memory is fixed. The cut points
 * are the doubles below scaled by 2^e (exact), so the layout is the same
 * on every machine and needs no libm call. */
#include <math.h>
#include <string.h>

#include "metrics/metrics_internal.h"

/* 2^(k/8) for k = 0..8. */
static const double cut[EDDY__HIST_SUB + 1] = {
    1.0,
    1.0905077326652577,
    1.189207115002721,
    1.2968395546510096,
    1.4142135623730951,
    1.5422108254079407,
    1.681792830507429,
    1.8340080864093424,
    2.0,
};

#define LAST (EDDY__HIST_BUCKETS - 1)

size_t eddy__hist_bucket(uint64_t v) {
  if (v == 0)
    return 0;
  int e = 63 - __builtin_clzll(v);
  if (e >= EDDY__HIST_OCTAVES)
    return LAST;
  /* Exact: v < 2^41 fits a double's mantissa, and scaling by 2^-e only
   * moves the exponent. */
  double x = ldexp((double)v, -e);
  size_t k = x >= cut[4] ? 4 : 0;
  if (x >= cut[k + 2])
    k += 2;
  if (x >= cut[k + 1])
    k += 1;
  return 1 + (size_t)e * EDDY__HIST_SUB + k;
}

uint64_t eddy__hist_lower(size_t i) {
  if (i == 0)
    return 0;
  if (i >= LAST)
    return (uint64_t)1 << EDDY__HIST_OCTAVES;
  int e = (int)((i - 1) / EDDY__HIST_SUB);
  size_t k = (i - 1) % EDDY__HIST_SUB;
  return (uint64_t)ceil(ldexp(cut[k], e));
}

uint64_t eddy__hist_upper(size_t i) {
  if (i == 0)
    return 0;
  if (i >= LAST)
    return UINT64_MAX;
  int e = (int)((i - 1) / EDDY__HIST_SUB);
  size_t k = (i - 1) % EDDY__HIST_SUB;
  return (uint64_t)ceil(ldexp(cut[k + 1], e)) - 1;
}

uint64_t eddy__hist_reported_upper(const eddy_histogram_t *h, size_t i) {
  uint64_t u = eddy__hist_upper(i);
  return u < h->max ? u : h->max;
}

void eddy_histogram_observe(eddy_histogram_t *h, uint64_t value) {
  if (h == NULL)
    return;
  h->buckets[eddy__hist_bucket(value)]++;
  h->count++;
  h->sum = h->sum + value < h->sum ? UINT64_MAX : h->sum + value;
  if (value > h->max)
    h->max = value;
}

uint64_t eddy_histogram_count(const eddy_histogram_t *h) {
  return h != NULL ? h->count : 0;
}

uint64_t eddy_histogram_quantile(const eddy_histogram_t *h, double q) {
  if (h == NULL || h->count == 0)
    return 0;
  if (!(q > 0))
    q = 0; /* NaN too */
  if (q > 1)
    q = 1;
  /* The rank of the value asked for, 1-based: the smallest r with
   * r >= q * count. */
  double want = ceil(q * (double)h->count);
  uint64_t rank = want >= (double)h->count ? h->count
                  : want < 1               ? 1
                                           : (uint64_t)want;
  uint64_t seen = 0;
  for (size_t i = 0; i < EDDY__HIST_BUCKETS; i++) {
    seen += h->buckets[i];
    if (seen >= rank)
      return eddy__hist_reported_upper(h, i);
  }
  return h->max;
}

void eddy_histogram_reset(eddy_histogram_t *h) {
  if (h == NULL)
    return;
  h->count = 0;
  h->sum = 0;
  h->max = 0;
  memset(h->buckets, 0, sizeof(h->buckets));
}
