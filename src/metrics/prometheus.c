/* prometheus.c — the Prometheus text exposition format, version 0.0.4
 * (eddy/metrics.h).
 *
 * Families come out in name order, each with one HELP and one TYPE line.
 * A histogram's `le` bounds are fixed powers of two of the rendered unit
 * covering everything the buckets can hold, so the set of series a scraper
 * sees never changes between scrapes. */
#include <math.h>
#include <string.h>
#include <uv.h>

#include "metrics/metrics_internal.h"

static const char *type_name(eddy__metric_type_t t) {
  return t == EDDY__METRIC_COUNTER ? "counter"
         : t == EDDY__METRIC_GAUGE ? "gauge"
                                   : "histogram";
}

static int put_value(eddy_buf_t *b, double v) {
  char num[32];
  if (isnan(v))
    return eddy_buf_append_str(b, "NaN");
  if (isinf(v))
    return eddy_buf_append_str(b, v > 0 ? "+Inf" : "-Inf");
  return eddy_buf_append(b, num, eddy__metrics_fmt_double(num, v));
}

/* "name<suffix>{labels<extra>} " — extra is a further label or "". */
static int put_series(eddy_buf_t *b, const eddy__family_t *f,
                      const char *suffix, const eddy__series_t *s,
                      const char *extra) {
  int rc = eddy_buf_append(b, f->name, f->name_len);
  if (rc == 0)
    rc = eddy_buf_append_str(b, suffix);
  int labels = s->labels_len > 0, more = extra[0] != '\0';
  if (rc == 0 && (labels || more))
    rc = eddy_buf_printf(b, "{%s%s%s}", s->labels, labels && more ? "," : "",
                         extra);
  if (rc == 0)
    rc = eddy_buf_append(b, " ", 1);
  return rc < 0 ? rc : 0;
}

static int put_help(eddy_buf_t *b, const eddy__family_t *f) {
  int rc = eddy_buf_printf(b, "# HELP %s ", f->name);
  for (const char *p = f->help; rc >= 0 && *p != '\0'; p++) {
    if (*p == '\\')
      rc = eddy_buf_append(b, "\\\\", 2);
    else if (*p == '\n')
      rc = eddy_buf_append(b, "\\n", 2);
    else
      rc = eddy_buf_append(b, p, 1);
  }
  if (rc >= 0)
    rc = eddy_buf_append(b, "\n", 1);
  return rc < 0 ? rc : 0;
}

static int put_histogram(eddy_buf_t *b, const eddy__family_t *f,
                         const eddy_histogram_t *h) {
  /* From the power of two at or below one recorded unit to the first one
   * at or above everything the buckets hold. */
  int lo = (int)floor(-log2(f->scale));
  int hi = (int)ceil(EDDY__HIST_OCTAVES - log2(f->scale));
  size_t i = 0;
  uint64_t cum = 0;
  int rc = 0;
  for (int j = lo; rc == 0 && j <= hi; j++) {
    double le = ldexp(1.0, j);
    double limit = le * f->scale; /* in recorded units */
    if (h->count > 0 && (double)h->max <= limit) {
      cum = h->count;
      i = EDDY__HIST_BUCKETS;
    }
    /* Whole buckets only: a bucket straddling le counts at the next. */
    while (i < EDDY__HIST_BUCKETS && (double)eddy__hist_upper(i) <= limit)
      cum += h->buckets[i++];
    char num[32], extra[48];
    eddy__metrics_fmt_double(num, le);
    snprintf(extra, sizeof(extra), "le=\"%s\"", num);
    rc = put_series(b, f, "_bucket", &h->s, extra);
    if (rc == 0)
      rc = eddy_buf_printf(b, "%llu\n", (unsigned long long)cum);
  }
  if (rc >= 0)
    rc = put_series(b, f, "_bucket", &h->s, "le=\"+Inf\"");
  if (rc >= 0)
    rc = eddy_buf_printf(b, "%llu\n", (unsigned long long)h->count);
  if (rc >= 0)
    rc = put_series(b, f, "_sum", &h->s, "");
  if (rc >= 0)
    rc = put_value(b, (double)h->sum / f->scale);
  if (rc >= 0)
    rc = eddy_buf_append(b, "\n", 1);
  if (rc >= 0)
    rc = put_series(b, f, "_count", &h->s, "");
  if (rc >= 0)
    rc = eddy_buf_printf(b, "%llu", (unsigned long long)h->count);
  return rc < 0 ? rc : 0;
}

static int put_family(eddy_buf_t *b, const eddy__family_t *f) {
  int rc = f->help != NULL ? put_help(b, f) : 0;
  if (rc == 0)
    rc = eddy_buf_printf(b, "# TYPE %s %s\n", f->name, type_name(f->type));
  for (size_t k = 0; rc >= 0 && k < f->nseries; k++) {
    const eddy__series_t *s = f->series[k];
    switch (f->type) {
    case EDDY__METRIC_COUNTER:
      rc = put_series(b, f, "", s, "");
      if (rc == 0)
        rc = eddy_buf_printf(
            b, "%llu", (unsigned long long)((const eddy_counter_t *)s)->value);
      break;
    case EDDY__METRIC_GAUGE:
      rc = put_series(b, f, "", s, "");
      if (rc == 0)
        rc = put_value(b, eddy__gauge_read((const eddy_gauge_t *)s));
      break;
    default:
      rc = put_histogram(b, f, (const eddy_histogram_t *)s);
      break;
    }
    if (rc >= 0)
      rc = eddy_buf_append(b, "\n", 1);
  }
  return rc < 0 ? rc : 0;
}

int eddy_metrics_prometheus(eddy_metrics_t *m, eddy_buf_t *out) {
  if (m == NULL || out == NULL)
    return UV_EINVAL;
  /* Rendered apart and appended at once, so a failure leaves out as it
   * was. */
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < m->nfamilies; i++)
    rc = put_family(&b, m->families[i]);
  if (rc == 0 && b.len > 0)
    rc = eddy_buf_append(out, b.data, b.len);
  eddy_buf_free(&b);
  return rc;
}
