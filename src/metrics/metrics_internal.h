/* metrics_internal.h — what the metrics files share (eddy/metrics.h).
 *
 * registry.c owns the registry: families (one per name: type, help, the
 * histogram scale) kept sorted by name, each with its series (one per label
 * set) kept sorted by labels, so rendering needs no sort and find-or-create
 * is a binary search. histogram.c owns the bucket layout; prometheus.c and
 * json.c only read. */
#ifndef EDDY_METRICS_INTERNAL_H
#define EDDY_METRICS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "eddy/buffer.h"
#include "eddy/metrics.h"

typedef enum {
  EDDY__METRIC_COUNTER = 0,
  EDDY__METRIC_GAUGE,
  EDDY__METRIC_HISTOGRAM
} eddy__metric_type_t;

typedef struct eddy__family_s eddy__family_t;

/* The head of every series; the typed structs below start with it. */
typedef struct eddy__series_s {
  eddy__family_t *family;
  char *labels; /* "" for none */
  size_t labels_len;
  /* A pointer to it was handed out, so it stays until the registry goes
   * (a callback gauge that was never handed out is removed with its
   * callback). */
  int handed;
} eddy__series_t;

struct eddy_counter_s {
  eddy__series_t s;
  uint64_t value;
};

struct eddy_gauge_s {
  eddy__series_t s;
  double value;
  eddy_gauge_fn fn; /* non-NULL: the value is fn(arg) when rendered */
  void *arg;
};

/* ---- Histogram buckets (histogram.c) ------------------------------------ */

/* Octaves [2^e, 2^(e+1)) for e in 0..EDDY__HIST_OCTAVES-1, each cut into
 * EDDY__HIST_SUB geometric sub-buckets; bucket 0 holds 0 and the last one
 * everything from 2^EDDY__HIST_OCTAVES up. */
#define EDDY__HIST_SUB 8
#define EDDY__HIST_OCTAVES 41
#define EDDY__HIST_BUCKETS (2 + EDDY__HIST_OCTAVES * EDDY__HIST_SUB)

struct eddy_histogram_s {
  eddy__series_t s;
  uint64_t count;
  uint64_t sum; /* saturates */
  uint64_t max;
  uint64_t buckets[EDDY__HIST_BUCKETS];
};

/* The bucket a value falls in. */
size_t eddy__hist_bucket(uint64_t v);
/* The smallest and the largest integer of bucket i (lo > hi: no integer
 * falls in it; the last bucket's hi is UINT64_MAX). */
uint64_t eddy__hist_lower(size_t i);
uint64_t eddy__hist_upper(size_t i);
/* Bucket i's upper bound as reported: capped at the largest value seen. */
uint64_t eddy__hist_reported_upper(const eddy_histogram_t *h, size_t i);

/* ---- The registry (registry.c) ------------------------------------------ */

struct eddy__family_s {
  char *name;
  size_t name_len;
  char *help; /* NULL: none */
  eddy__metric_type_t type;
  double scale; /* histograms: the rendering divisor */
  eddy__series_t **series;
  size_t nseries, cap;
};

struct eddy_metrics_s {
  eddy__family_t **families;
  size_t nfamilies, cap;
  size_t nseries; /* over every family: EDDY_METRICS_MAX at most */
};

/* The value a gauge renders with (its callback's when it has one). */
double eddy__gauge_read(const eddy_gauge_t *g);

/* ---- Number formatting (shared by prometheus.c and json.c) -------------- */

/* A finite double as text that reads back the same: 15 significant digits
 * when they suffice (so 0.1 stays "0.1"), else 17. buf holds 32 bytes;
 * returns the length. */
size_t eddy__metrics_fmt_double(char *buf, double v);

#endif
