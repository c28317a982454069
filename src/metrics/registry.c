/* registry.c — the registry: find-or-create by name and labels, callback
 * gauges, and freeing (eddy/metrics.h).
 *
 * Lookups happen when a service starts (it keeps the pointers), so plain
 * sorted arrays with binary search are enough, and rendering walks them in
 * name order without sorting. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "metrics/metrics_internal.h"
#include "metrics/names_internal.h"

/* Longest help text kept. */
#define HELP_MAX 1024u

int eddy_metrics_new(eddy_metrics_t **out) {
  if (out == NULL)
    return UV_EINVAL;
  *out = calloc(1, sizeof(**out));
  return *out != NULL ? 0 : UV_ENOMEM;
}

static void family_free(eddy__family_t *f) {
  for (size_t i = 0; i < f->nseries; i++)
    free(f->series[i]);
  free(f->series);
  free(f->name);
  free(f->help);
  free(f);
}

void eddy_metrics_free(eddy_metrics_t *m) {
  if (m == NULL)
    return;
  for (size_t i = 0; i < m->nfamilies; i++)
    family_free(m->families[i]);
  free(m->families);
  free(m);
}

/* Index of name in m's families, or where it would go (*found 0). */
static size_t family_pos(const eddy_metrics_t *m, const char *name,
                         int *found) {
  size_t lo = 0, hi = m->nfamilies;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(m->families[mid]->name, name);
    if (c == 0) {
      *found = 1;
      return mid;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = 0;
  return lo;
}

static size_t series_pos(const eddy__family_t *f, const char *labels,
                         int *found) {
  size_t lo = 0, hi = f->nseries;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(f->series[mid]->labels, labels);
    if (c == 0) {
      *found = 1;
      return mid;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = 0;
  return lo;
}

/* Makes room for one more pointer in *arr. */
static int grow(void *arr, size_t n, size_t *cap) {
  void ***a = arr;
  if (n < *cap)
    return 0;
  size_t ncap = *cap == 0 ? 8 : *cap * 2;
  void **na = realloc(*a, ncap * sizeof(*na));
  if (na == NULL)
    return UV_ENOMEM;
  *a = na;
  *cap = ncap;
  return 0;
}

static eddy__family_t *family_new(const char *name, const char *help,
                                  eddy__metric_type_t type, double scale) {
  eddy__family_t *f = calloc(1, sizeof(*f));
  if (f == NULL)
    return NULL;
  f->name = strdup(name);
  f->help = help != NULL ? strdup(help) : NULL;
  if (f->name == NULL || (help != NULL && f->help == NULL)) {
    family_free(f);
    return NULL;
  }
  f->name_len = strlen(name);
  f->type = type;
  f->scale = scale;
  return f;
}

static size_t series_size(eddy__metric_type_t type) {
  switch (type) {
  case EDDY__METRIC_COUNTER:
    return sizeof(eddy_counter_t);
  case EDDY__METRIC_GAUGE:
    return sizeof(eddy_gauge_t);
  default:
    return sizeof(eddy_histogram_t);
  }
}

static void family_remove(eddy_metrics_t *m, size_t at) {
  family_free(m->families[at]);
  memmove(&m->families[at], &m->families[at + 1],
          (m->nfamilies - at - 1) * sizeof(*m->families));
  m->nfamilies--;
}

/* The series of name+labels, created when missing; NULL with *err
 * UV_EINVAL (bad name, labels or help, or the name has another type),
 * UV_ENOBUFS (full) or UV_ENOMEM. */
static eddy__series_t *get(eddy_metrics_t *m, const char *name,
                           const char *labels, const char *help,
                           eddy__metric_type_t type, double scale, int *err) {
  *err = UV_EINVAL;
  if (m == NULL || !eddy__metrics_valid_name(name) ||
      !eddy__metrics_valid_labels(labels, type == EDDY__METRIC_HISTOGRAM) ||
      (help != NULL && strnlen(help, HELP_MAX + 1) > HELP_MAX))
    return NULL;
  if (labels == NULL)
    labels = "";
  int found;
  size_t fi = family_pos(m, name, &found);
  eddy__family_t *f = NULL;
  if (found) {
    f = m->families[fi];
    /* A name means one thing: its type and unit are fixed by the first. */
    if (f->type != type ||
        (type == EDDY__METRIC_HISTOGRAM && f->scale != scale))
      return NULL;
    size_t si = series_pos(f, labels, &found);
    if (found) {
      *err = 0;
      return f->series[si];
    }
  }
  *err = UV_ENOBUFS;
  if (m->nseries >= EDDY_METRICS_MAX)
    return NULL;
  *err = UV_ENOMEM;
  int new_family = f == NULL;
  if (new_family) {
    if (grow(&m->families, m->nfamilies, &m->cap) != 0)
      return NULL;
    f = family_new(name, help, type, scale);
    if (f == NULL)
      return NULL;
    memmove(&m->families[fi + 1], &m->families[fi],
            (m->nfamilies - fi) * sizeof(*m->families));
    m->families[fi] = f;
    m->nfamilies++;
  }
  size_t ll = strlen(labels);
  size_t size = series_size(type);
  eddy__series_t *s = NULL;
  if (grow(&f->series, f->nseries, &f->cap) == 0)
    s = calloc(1, size + ll + 1);
  if (s == NULL) {
    if (new_family)
      family_remove(m, fi);
    return NULL;
  }
  s->family = f;
  s->labels = (char *)s + size;
  memcpy(s->labels, labels, ll + 1);
  s->labels_len = ll;
  int dummy;
  size_t si = series_pos(f, labels, &dummy);
  memmove(&f->series[si + 1], &f->series[si],
          (f->nseries - si) * sizeof(*f->series));
  f->series[si] = s;
  f->nseries++;
  m->nseries++;
  *err = 0;
  return s;
}

eddy_counter_t *eddy_metrics_counter(eddy_metrics_t *m, const char *name,
                                     const char *labels, const char *help) {
  int err;
  eddy__series_t *s = get(m, name, labels, help, EDDY__METRIC_COUNTER, 1, &err);
  if (s != NULL)
    s->handed = 1;
  return (eddy_counter_t *)s;
}

eddy_gauge_t *eddy_metrics_gauge(eddy_metrics_t *m, const char *name,
                                 const char *labels, const char *help) {
  int err;
  eddy__series_t *s = get(m, name, labels, help, EDDY__METRIC_GAUGE, 1, &err);
  if (s != NULL)
    s->handed = 1;
  return (eddy_gauge_t *)s;
}

eddy_histogram_t *eddy_metrics_histogram(eddy_metrics_t *m, const char *name,
                                         const char *labels, const char *help,
                                         double scale) {
  int err;
  if (!(scale > 0) || !isfinite(scale))
    return NULL;
  eddy__series_t *s =
      get(m, name, labels, help, EDDY__METRIC_HISTOGRAM, scale, &err);
  if (s != NULL)
    s->handed = 1;
  return (eddy_histogram_t *)s;
}

/* Removes series si of family fi, and the family once it is empty. */
static void series_remove(eddy_metrics_t *m, size_t fi, size_t si) {
  eddy__family_t *f = m->families[fi];
  free(f->series[si]);
  memmove(&f->series[si], &f->series[si + 1],
          (f->nseries - si - 1) * sizeof(*f->series));
  f->nseries--;
  m->nseries--;
  if (f->nseries == 0)
    family_remove(m, fi);
}

int eddy_metrics_gauge_fn(eddy_metrics_t *m, const char *name,
                          const char *labels, const char *help,
                          eddy_gauge_fn fn, void *arg) {
  if (m == NULL)
    return UV_EINVAL;
  if (fn == NULL) {
    /* Removing what is not there is not an error: close paths call it
     * unconditionally. */
    int found;
    size_t fi = family_pos(m, name != NULL ? name : "", &found);
    if (!found || m->families[fi]->type != EDDY__METRIC_GAUGE)
      return 0;
    eddy__family_t *f = m->families[fi];
    size_t si = series_pos(f, labels != NULL ? labels : "", &found);
    if (!found)
      return 0;
    eddy_gauge_t *g = (eddy_gauge_t *)f->series[si];
    g->fn = NULL;
    g->arg = NULL;
    if (!g->s.handed)
      series_remove(m, fi, si);
    return 0;
  }
  int err;
  eddy_gauge_t *g =
      (eddy_gauge_t *)get(m, name, labels, help, EDDY__METRIC_GAUGE, 1, &err);
  if (g == NULL)
    return err;
  g->fn = fn;
  g->arg = arg;
  return 0;
}

void eddy_metrics_forget(eddy_metrics_t *m, const void *owner) {
  if (m == NULL)
    return;
  size_t fi = m->nfamilies;
  while (fi-- > 0) {
    eddy__family_t *f = m->families[fi];
    if (f->type != EDDY__METRIC_GAUGE)
      continue;
    size_t si = f->nseries;
    while (si-- > 0) {
      eddy_gauge_t *g = (eddy_gauge_t *)f->series[si];
      if (g->fn == NULL || g->arg != owner)
        continue;
      g->fn = NULL;
      g->arg = NULL;
      if (!g->s.handed) {
        /* May free f when it was its last series: stop using it then. */
        int last = f->nseries == 1;
        series_remove(m, fi, si);
        if (last)
          break;
      }
    }
  }
}
