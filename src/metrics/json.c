/* json.c — the JSON snapshot the dashboard reads (eddy/metrics.h).
 *
 * Written directly rather than through a JSON library: the shape is fixed,
 * names are plain ASCII and label sets valid UTF-8 (checked at creation),
 * so only quoting is needed, and a snapshot a second stays cheap. */
#include <math.h>
#include <stdio.h>
#include <uv.h>

#include "metrics/metrics_internal.h"

static int put_number(eddy_buf_t *b, double v) {
  char num[32];
  /* JSON has no NaN or infinity. */
  if (!isfinite(v))
    return eddy_buf_append_str(b, "null");
  return eddy_buf_append(b, num, eddy__metrics_fmt_double(num, v));
}

/* Appends s as the inside of a JSON string. */
static int put_escaped(eddy_buf_t *b, const char *s, size_t n) {
  int rc = 0;
  size_t run = 0; /* bytes copied as they are, pending */
  for (size_t i = 0; rc == 0 && i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch != '"' && ch != '\\' && ch >= 0x20) {
      run++;
      continue;
    }
    rc = eddy_buf_append(b, s + i - run, run);
    run = 0;
    if (rc != 0)
      break;
    if (ch == '"' || ch == '\\') {
      char esc[2] = {'\\', (char)ch};
      rc = eddy_buf_append(b, esc, 2);
    } else {
      rc = eddy_buf_printf(b, "\\u%04x", ch);
    }
  }
  if (rc == 0)
    rc = eddy_buf_append(b, s + n - run, run);
  return rc;
}

/* "name{labels}": */
static int put_key(eddy_buf_t *b, const eddy__family_t *f,
                   const eddy__series_t *s, int first) {
  int rc = eddy_buf_append_str(b, first ? "\"" : ",\"");
  if (rc == 0)
    rc = eddy_buf_append(b, f->name, f->name_len);
  if (rc == 0 && s->labels_len > 0) {
    rc = eddy_buf_append(b, "{", 1);
    if (rc == 0)
      rc = put_escaped(b, s->labels, s->labels_len);
    if (rc == 0)
      rc = eddy_buf_append(b, "}", 1);
  }
  if (rc == 0)
    rc = eddy_buf_append(b, "\":", 2);
  return rc;
}

static int put_histogram(eddy_buf_t *b, const eddy__family_t *f,
                         const eddy_histogram_t *h) {
  double sc = f->scale;
  int rc = eddy_buf_printf(
      b, "{\"count\":%llu,\"sum\":", (unsigned long long)h->count);
  if (rc == 0)
    rc = put_number(b, (double)h->sum / sc);
  if (rc == 0)
    rc = eddy_buf_append_str(b, ",\"scale\":");
  if (rc == 0)
    rc = put_number(b, sc);
  static const struct {
    const char *key;
    double q;
  } qs[] = {{",\"p50\":", 0.5}, {",\"p90\":", 0.9}, {",\"p99\":", 0.99}};
  for (size_t k = 0; rc == 0 && k < sizeof(qs) / sizeof(qs[0]); k++) {
    rc = eddy_buf_append_str(b, qs[k].key);
    if (rc == 0)
      rc = put_number(b, (double)eddy_histogram_quantile(h, qs[k].q) / sc);
  }
  if (rc == 0)
    rc = eddy_buf_append_str(b, ",\"max\":");
  if (rc == 0)
    rc = put_number(b, (double)h->max / sc);
  if (rc == 0)
    rc = eddy_buf_append_str(b, ",\"buckets\":[");
  int first = 1;
  for (size_t i = 0; rc == 0 && i < EDDY__HIST_BUCKETS; i++) {
    if (h->buckets[i] == 0)
      continue;
    rc = eddy_buf_append_str(b, first ? "[" : ",[");
    first = 0;
    if (rc == 0)
      rc = put_number(b, (double)eddy__hist_reported_upper(h, i) / sc);
    if (rc == 0)
      rc = eddy_buf_printf(b, ",%llu,%zu]", (unsigned long long)h->buckets[i],
                           i);
  }
  if (rc == 0)
    rc = eddy_buf_append_str(b, "]}");
  return rc;
}

/* One of the three sections: every series of the families of type t. */
static int put_section(eddy_buf_t *b, const eddy_metrics_t *m,
                       eddy__metric_type_t t, const char *title) {
  int rc = eddy_buf_printf(b, ",\"%s\":{", title);
  int first = 1;
  for (size_t i = 0; rc == 0 && i < m->nfamilies; i++) {
    const eddy__family_t *f = m->families[i];
    if (f->type != t)
      continue;
    for (size_t k = 0; rc == 0 && k < f->nseries; k++) {
      const eddy__series_t *s = f->series[k];
      rc = put_key(b, f, s, first);
      first = 0;
      if (rc != 0)
        break;
      if (t == EDDY__METRIC_COUNTER)
        rc = eddy_buf_printf(
            b, "%llu", (unsigned long long)((const eddy_counter_t *)s)->value);
      else if (t == EDDY__METRIC_GAUGE)
        rc = put_number(b, eddy__gauge_read((const eddy_gauge_t *)s));
      else
        rc = put_histogram(b, f, (const eddy_histogram_t *)s);
    }
  }
  if (rc == 0)
    rc = eddy_buf_append(b, "}", 1);
  return rc;
}

int eddy_metrics_json(eddy_metrics_t *m, uint64_t unix_ms, eddy_buf_t *out) {
  if (m == NULL || out == NULL)
    return UV_EINVAL;
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  int rc = eddy_buf_printf(&b, "{\"time\":%llu", (unsigned long long)unix_ms);
  if (rc == 0)
    rc = put_section(&b, m, EDDY__METRIC_COUNTER, "counters");
  if (rc == 0)
    rc = put_section(&b, m, EDDY__METRIC_GAUGE, "gauges");
  if (rc == 0)
    rc = put_section(&b, m, EDDY__METRIC_HISTOGRAM, "histograms");
  if (rc == 0)
    rc = eddy_buf_append(&b, "}", 1);
  /* Appended at once, so a failure leaves out as it was. */
  if (rc == 0)
    rc = eddy_buf_append(out, b.data, b.len);
  eddy_buf_free(&b);
  return rc;
}
