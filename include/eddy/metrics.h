/* eddy/metrics.h — counters, gauges and log-bucketed histograms that every
 * service feeds, rendered as Prometheus text and as a JSON snapshot.
 *
 * A registry (eddy_metrics_t) is library-owned: eddy_metrics_new creates it,
 * eddy_metrics_free frees it and every metric in it. Metrics are created
 * (or found: the same name and labels give the same object) through the
 * registry and belong to it; the pointers stay valid until the registry is
 * freed. Services take an optional registry in their options (locks, cache,
 * HTTP server, realtime hub): NULL means they keep no metrics.
 *
 * Every update function accepts NULL and then does nothing, so a service
 * holds metric pointers unconditionally and pays one branch when metrics
 * are off.
 *
 * THREADS: a registry and its metrics belong to one thread (the reactor's);
 * nothing here locks.
 *
 * NAMES follow Prometheus: [a-zA-Z_:][a-zA-Z0-9_:]*, at most 128 bytes.
 * Labels are given preformatted as `key="value",key2="value2"` (NULL or ""
 * for none; at most 256 bytes; values escaped by the caller with
 * eddy_metrics_escape_label). A name has one type and one help text: the
 * first creation fixes them; asking for the same name with another type
 * fails (NULL).
 *
 * HISTOGRAMS record non-negative values in one unit chosen by the name
 * (`_seconds` metrics record microseconds internally and are rendered in
 * seconds: see eddy_metrics_histogram's `scale`). Buckets are logarithmic:
 * each power of two from 1 to 2^41 is cut into 8 sub-buckets at
 * 2^(e + k/8), plus a bucket for 0 and one for 2^41 and above; memory is
 * fixed per histogram (~2.6 KiB). Percentiles are read from the buckets:
 * the bucket's upper bound, capped at the largest value seen, so a
 * reported value is never below the exact one and at most 2^(1/8)
 * (9.05 %) above it.
 *
 * Well-known names, shared by the services and the dashboard:
 *   eddy_uptime_seconds                               gauge
 *   eddy_http_connections                             gauge
 *   eddy_http_requests_total{code="2xx"...}           counter
 *   eddy_http_request_duration_seconds                histogram
 *   eddy_locks_connections, eddy_locks_held, eddy_locks_waiting   gauges
 *   eddy_locks_grants_total, eddy_locks_timeouts_total            counters
 *   eddy_locks_wait_seconds, eddy_locks_hold_seconds              histograms
 *   eddy_cache_connections, eddy_cache_items, eddy_cache_bytes    gauges
 *   eddy_cache_get_hits_total, eddy_cache_get_misses_total,
 *   eddy_cache_sets_total, eddy_cache_evictions_total             counters
 *   eddy_realtime_clients{transport="websocket"|"sockjs"}         gauge
 *   eddy_realtime_channels                                        gauge
 *   eddy_realtime_published_total, eddy_realtime_delivered_total,
 *   eddy_realtime_dropped_clients_total                           counters
 *   eddy_realtime_publish_seconds (publish to last write queued)  histogram
 */
#ifndef EDDY_METRICS_H
#define EDDY_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buffer.h"
#include "reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_metrics_s eddy_metrics_t;
typedef struct eddy_counter_s eddy_counter_t;
typedef struct eddy_gauge_s eddy_gauge_t;
typedef struct eddy_histogram_s eddy_histogram_t;

#define EDDY_METRICS_NAME_MAX 128
#define EDDY_METRICS_LABELS_MAX 256
#define EDDY_METRICS_MAX 4096 /* metrics (name + labels) in one registry */
#define EDDY_METRICS_HELP_MAX 1024

/* Returns 0, UV_EINVAL (out NULL) or UV_ENOMEM. */
int eddy_metrics_new(eddy_metrics_t **out);
void eddy_metrics_free(eddy_metrics_t *m);

/* Find-or-create. NULL when m is NULL, the name or labels are invalid, the
 * name exists with another type, the registry is full, or out of memory.
 * help is copied (NULL: none; at most EDDY_METRICS_HELP_MAX bytes). */
eddy_counter_t *eddy_metrics_counter(eddy_metrics_t *m, const char *name,
                                     const char *labels, const char *help);
eddy_gauge_t *eddy_metrics_gauge(eddy_metrics_t *m, const char *name,
                                 const char *labels, const char *help);
/* scale: the divisor applied when rendering (1e6 for a `_seconds`
 * histogram fed with microseconds; 1 for plain units); positive and
 * finite, and fixed for a name by its first creation like the type (NULL
 * when asked with another). */
eddy_histogram_t *eddy_metrics_histogram(eddy_metrics_t *m, const char *name,
                                         const char *labels, const char *help,
                                         double scale);

/* A gauge whose value is computed when the registry is read (a service's
 * live count). fn is called during eddy_metrics_prometheus/json only, and
 * must not change the registry. The same name+labels replaces the previous
 * callback; fn NULL removes it (and the gauge, unless eddy_metrics_gauge
 * handed out a pointer to it: that one then keeps its set value).
 * Returns 0, UV_EINVAL (m NULL, a bad name or labels, the name has another
 * type), UV_ENOBUFS (the registry is full) or UV_ENOMEM. Removing a
 * callback that is not there returns 0. */
typedef double (*eddy_gauge_fn)(void *arg);
int eddy_metrics_gauge_fn(eddy_metrics_t *m, const char *name,
                          const char *labels, const char *help,
                          eddy_gauge_fn fn, void *arg);
/* Removes every callback gauge whose arg is `owner`: a service that closes
 * calls it so no callback outlives it. Plain metrics stay (a service's
 * pointers into the registry die with the registry, not with the service);
 * the registry must outlive the services that feed it. */
void eddy_metrics_forget(eddy_metrics_t *m, const void *owner);

/* Counters saturate at UINT64_MAX rather than wrap. */
void eddy_counter_add(eddy_counter_t *c, uint64_t n);
void eddy_counter_inc(eddy_counter_t *c);
uint64_t eddy_counter_value(const eddy_counter_t *c);

/* eddy_gauge_value is the value set, never a callback's (those are only
 * called while rendering). */
void eddy_gauge_set(eddy_gauge_t *g, double v);
void eddy_gauge_add(eddy_gauge_t *g, double delta);
double eddy_gauge_value(const eddy_gauge_t *g);

void eddy_histogram_observe(eddy_histogram_t *h, uint64_t value);
uint64_t eddy_histogram_count(const eddy_histogram_t *h);
/* The value under which a fraction q (0..1) of observations fall, in the
 * recorded unit; 0 when empty. The rank asked for is ceil(q * count) (at
 * least 1): q 0.5 of 1..100 is the 50th value, read from its bucket. */
uint64_t eddy_histogram_quantile(const eddy_histogram_t *h, double q);
void eddy_histogram_reset(eddy_histogram_t *h);

/* Prometheus text exposition format 0.0.4, appended to out. Families come
 * in name order, each with `# HELP` (when it has help) and `# TYPE` once.
 * Histograms are rendered with cumulative `le` buckets at powers of two
 * (of the rendered unit) — the same fixed set at every scrape, from the
 * one at or below one recorded unit to the one at or above 2^41 units —
 * then `+Inf`, `_sum` and `_count`. A bucket counts under the first `le`
 * that covers all of it (everything counts once le reaches the largest
 * value seen). Returns 0, UV_EINVAL (m or out NULL), or UV_ENOMEM /
 * UV_ENOBUFS (out's maximum); on error out is left as it was. */
int eddy_metrics_prometheus(eddy_metrics_t *m, eddy_buf_t *out);

/* A JSON snapshot, appended to out — the dashboard's feed:
 *   {"time": <unix ms>,
 *    "counters":   {"<name>{<labels>}": <uint>, ...},
 *    "gauges":     {"<name>{<labels>}": <number>, ...},
 *    "histograms": {"<name>{<labels>}": {"count": n, "sum": s,
 *                   "scale": 1e6, "p50": v, "p90": v, "p99": v,
 *                   "max": v, "buckets": [[upper, count, index], ...]}}}
 * Keys without labels are the bare name. Histogram values (sum,
 * percentiles, bucket bounds) are in the rendered unit (divided by
 * scale); only non-empty buckets are listed, each with its own count
 * (not cumulative); a bucket's upper bound is capped at max, so the last
 * listed one is max. index is the bucket's fixed position (0 for the
 * value 0, then 2^((index-1)/8) <= value < 2^(index/8)): unlike the capped
 * bound it names the same bucket in every snapshot. Keys come in name
 * order. A gauge that is NaN or infinite is null. Returns as
 * eddy_metrics_prometheus. */
int eddy_metrics_json(eddy_metrics_t *m, uint64_t unix_ms, eddy_buf_t *out);

/* Escapes a label value (backslash, double quote, newline) into buf;
 * returns buf, truncated to size (NUL included; never inside an escape or
 * a UTF-8 character). value NULL is "". */
char *eddy_metrics_escape_label(char *buf, size_t size, const char *value);

/* Microseconds for durations fed to `_seconds` histograms: the reactor's
 * clock on a fake clock (so tests control it), else the monotonic clock
 * the loop's own time is read from, at microsecond resolution. */
uint64_t eddy_metrics_now_us(const eddy_reactor_t *r);

#ifdef __cplusplus
}
#endif

#endif
