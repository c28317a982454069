/* test_metrics.c — the metrics registry, histograms and both renderings. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include <eddy/metrics.h>

/* Bucket edges are internal: the tests read them through the registry's
 * own header. */
#include "metrics/metrics_internal.h"

#define ROOT8 1.0905077326652577 /* 2^(1/8) */

static eddy_metrics_t *registry(void) {
  eddy_metrics_t *m = NULL;
  cr_assert_eq(eddy_metrics_new(&m), 0);
  cr_assert_not_null(m);
  return m;
}

/* The rendering as a NUL-terminated string (freed by the caller). */
static char *prometheus(eddy_metrics_t *m) {
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  cr_assert_eq(eddy_metrics_prometheus(m, &b), 0);
  size_t len;
  char *s = eddy_buf_detach(&b, &len);
  return s != NULL ? s : strdup("");
}

static json_t *snapshot(eddy_metrics_t *m, uint64_t ms) {
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  cr_assert_eq(eddy_metrics_json(m, ms, &b), 0);
  json_error_t err;
  json_t *j = json_loadb(b.data, b.len, 0, &err);
  cr_assert_not_null(j, "JSON does not parse: %s in %.*s", err.text, (int)b.len,
                     b.data);
  eddy_buf_free(&b);
  return j;
}

/* ---- The registry -------------------------------------------------------- */

Test(metrics, find_or_create_gives_the_same_object) {
  eddy_metrics_t *m = registry();
  eddy_counter_t *a = eddy_metrics_counter(m, "x_total", NULL, "help");
  eddy_counter_t *b = eddy_metrics_counter(m, "x_total", "", "other help");
  eddy_counter_t *c = eddy_metrics_counter(m, "x_total", "k=\"v\"", NULL);
  eddy_counter_t *d = eddy_metrics_counter(m, "x_total", "k=\"v\"", NULL);
  cr_assert_not_null(a);
  cr_assert_eq(a, b, "NULL and \"\" are the same empty label set");
  cr_assert_not_null(c);
  cr_assert_neq(a, c);
  cr_assert_eq(c, d);
  eddy_counter_inc(a);
  eddy_counter_add(b, 41);
  cr_assert_eq(eddy_counter_value(a), 42);
  eddy_gauge_t *g = eddy_metrics_gauge(m, "g", NULL, NULL);
  cr_assert_eq(g, eddy_metrics_gauge(m, "g", NULL, NULL));
  eddy_gauge_set(g, 2.5);
  eddy_gauge_add(g, -1);
  cr_assert_float_eq(eddy_gauge_value(g), 1.5, 1e-12);
  eddy_histogram_t *h = eddy_metrics_histogram(m, "h_seconds", NULL, NULL, 1e6);
  cr_assert_eq(h, eddy_metrics_histogram(m, "h_seconds", NULL, NULL, 1e6));
  eddy_metrics_free(m);
}

Test(metrics, a_name_keeps_its_type_and_scale) {
  eddy_metrics_t *m = registry();
  cr_assert_not_null(eddy_metrics_counter(m, "n", NULL, NULL));
  cr_assert_null(eddy_metrics_gauge(m, "n", NULL, NULL));
  cr_assert_null(eddy_metrics_gauge(m, "n", "a=\"b\"", NULL),
                 "labels do not make another type possible");
  cr_assert_null(eddy_metrics_histogram(m, "n", NULL, NULL, 1));
  cr_assert_eq(eddy_metrics_gauge_fn(m, "n", NULL, NULL, NULL, NULL), 0);
  cr_assert_eq(eddy_metrics_counter(m, "n", NULL, NULL),
               eddy_metrics_counter(m, "n", NULL, NULL));
  cr_assert_not_null(eddy_metrics_histogram(m, "h", NULL, NULL, 1e6));
  cr_assert_null(eddy_metrics_histogram(m, "h", "a=\"b\"", NULL, 1e3),
                 "one name, one unit");
  cr_assert_null(eddy_metrics_histogram(m, "h2", NULL, NULL, 0));
  cr_assert_null(eddy_metrics_histogram(m, "h2", NULL, NULL, -1));
  cr_assert_null(eddy_metrics_histogram(m, "h2", NULL, NULL, INFINITY));
  cr_assert_null(eddy_metrics_histogram(m, "h2", NULL, NULL, NAN));
  eddy_metrics_free(m);
}

static double seven(void *arg) {
  (void)arg;
  return 7;
}

Test(metrics, null_is_safe_everywhere) {
  cr_assert_eq(eddy_metrics_new(NULL), UV_EINVAL);
  eddy_metrics_free(NULL);
  cr_assert_null(eddy_metrics_counter(NULL, "a", NULL, NULL));
  cr_assert_null(eddy_metrics_gauge(NULL, "a", NULL, NULL));
  cr_assert_null(eddy_metrics_histogram(NULL, "a", NULL, NULL, 1));
  cr_assert_eq(eddy_metrics_gauge_fn(NULL, "a", NULL, NULL, seven, NULL),
               UV_EINVAL);
  eddy_metrics_forget(NULL, NULL);
  eddy_counter_add(NULL, 1);
  eddy_counter_inc(NULL);
  cr_assert_eq(eddy_counter_value(NULL), 0);
  eddy_gauge_set(NULL, 1);
  eddy_gauge_add(NULL, 1);
  cr_assert_eq(eddy_gauge_value(NULL), 0);
  eddy_histogram_observe(NULL, 5);
  cr_assert_eq(eddy_histogram_count(NULL), 0);
  cr_assert_eq(eddy_histogram_quantile(NULL, 0.5), 0);
  eddy_histogram_reset(NULL);
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  cr_assert_eq(eddy_metrics_prometheus(NULL, &b), UV_EINVAL);
  cr_assert_eq(eddy_metrics_json(NULL, 0, &b), UV_EINVAL);
  eddy_metrics_t *m = registry();
  cr_assert_eq(eddy_metrics_prometheus(m, NULL), UV_EINVAL);
  cr_assert_eq(eddy_metrics_prometheus(m, &b), 0);
  cr_assert_eq(b.len, 0, "an empty registry renders nothing");
  eddy_metrics_free(m);
  char buf[4] = "xyz";
  cr_assert_eq(eddy_metrics_escape_label(buf, 0, "a"), buf);
  cr_assert_str_eq(eddy_metrics_escape_label(buf, sizeof(buf), NULL), "");
}

Test(metrics, names_and_labels_are_validated) {
  eddy_metrics_t *m = registry();
  static const char *bad_names[] = {"", "1abc", "a-b", "a b", "é", "a{", "a\n"};
  for (size_t i = 0; i < sizeof(bad_names) / sizeof(*bad_names); i++)
    cr_assert_null(eddy_metrics_counter(m, bad_names[i], NULL, NULL), "%s",
                   bad_names[i]);
  cr_assert_null(eddy_metrics_counter(m, NULL, NULL, NULL));
  cr_assert_not_null(eddy_metrics_counter(m, ":a_b:C9", NULL, NULL));
  cr_assert_not_null(eddy_metrics_counter(m, "_x", NULL, NULL));
  char name[EDDY_METRICS_NAME_MAX + 2];
  memset(name, 'n', sizeof(name));
  name[EDDY_METRICS_NAME_MAX] = '\0';
  cr_assert_not_null(eddy_metrics_gauge(m, name, NULL, NULL));
  name[EDDY_METRICS_NAME_MAX] = 'n';
  name[EDDY_METRICS_NAME_MAX + 1] = '\0';
  cr_assert_null(eddy_metrics_gauge(m, name, NULL, NULL));

  static const char *bad_labels[] = {"a",
                                     "a=b",
                                     "a=\"b",
                                     "a=\"b\",",
                                     "=\"b\"",
                                     "1a=\"b\"",
                                     "a=\"b\"c=\"d\"",
                                     "a=\"b\"\"",
                                     "a=\"\n\"",
                                     "a=\"\\t\"",
                                     "a=\"\\\"",
                                     "a=\"b\",a=\"c\"",
                                     "__a=\"b\"",
                                     "a=\"\xff\"",
                                     "a =\"b\"",
                                     ",a=\"b\"",
                                     "a=\"b\",,c=\"d\""};
  for (size_t i = 0; i < sizeof(bad_labels) / sizeof(*bad_labels); i++)
    cr_assert_null(eddy_metrics_counter(m, "l", bad_labels[i], NULL), "[%s]",
                   bad_labels[i]);
  static const char *good_labels[] = {
      "a=\"\"",   "a=\"b\",c=\"d\"", "a=\"\\\\\\\"\\n\"",
      "le=\"x\"", "_a=\"é\"",        "a_1=\"b c\""};
  for (size_t i = 0; i < sizeof(good_labels) / sizeof(*good_labels); i++)
    cr_assert_not_null(eddy_metrics_counter(m, "l", good_labels[i], NULL),
                       "[%s]", good_labels[i]);
  cr_assert_null(eddy_metrics_histogram(m, "hl", "le=\"1\"", NULL, 1),
                 "le belongs to the buckets");
  char labels[EDDY_METRICS_LABELS_MAX + 2];
  memset(labels, 'v', sizeof(labels));
  memcpy(labels, "k=\"", 3);
  labels[EDDY_METRICS_LABELS_MAX - 1] = '"';
  labels[EDDY_METRICS_LABELS_MAX] = '\0';
  cr_assert_not_null(eddy_metrics_counter(m, "long", labels, NULL));
  labels[EDDY_METRICS_LABELS_MAX - 1] = 'v';
  labels[EDDY_METRICS_LABELS_MAX] = '"';
  labels[EDDY_METRICS_LABELS_MAX + 1] = '\0';
  cr_assert_null(eddy_metrics_counter(m, "long", labels, NULL));
  char *help = malloc(EDDY_METRICS_HELP_MAX + 2);
  memset(help, 'h', EDDY_METRICS_HELP_MAX + 1);
  help[EDDY_METRICS_HELP_MAX + 1] = '\0';
  cr_assert_null(eddy_metrics_counter(m, "helpful", NULL, help));
  help[EDDY_METRICS_HELP_MAX] = '\0';
  cr_assert_not_null(eddy_metrics_counter(m, "helpful", NULL, help));
  free(help);
  cr_assert_eq(eddy_metrics_gauge_fn(m, "bad name", NULL, NULL, seven, NULL),
               UV_EINVAL);
  cr_assert_eq(eddy_metrics_gauge_fn(m, "l", NULL, NULL, seven, NULL),
               UV_EINVAL, "l is a counter");
  eddy_metrics_free(m);
}

Test(metrics, the_registry_is_bounded) {
  eddy_metrics_t *m = registry();
  char labels[32];
  eddy_counter_t *first = NULL;
  for (int i = 0; i < EDDY_METRICS_MAX; i++) {
    snprintf(labels, sizeof(labels), "i=\"%d\"", i);
    eddy_counter_t *c = eddy_metrics_counter(m, "many", labels, NULL);
    cr_assert_not_null(c, "%d", i);
    if (i == 0)
      first = c;
  }
  cr_assert_null(eddy_metrics_counter(m, "many", "i=\"x\"", NULL));
  cr_assert_null(eddy_metrics_gauge(m, "other", NULL, NULL));
  cr_assert_eq(eddy_metrics_gauge_fn(m, "other", NULL, NULL, seven, NULL),
               UV_ENOBUFS);
  cr_assert_eq(eddy_metrics_counter(m, "many", "i=\"0\"", NULL), first,
               "existing metrics are still found when full");
  eddy_metrics_free(m);
}

Test(metrics, counters_saturate) {
  eddy_metrics_t *m = registry();
  eddy_counter_t *c = eddy_metrics_counter(m, "c", NULL, NULL);
  eddy_counter_add(c, UINT64_MAX - 1);
  eddy_counter_inc(c);
  eddy_counter_inc(c);
  cr_assert_eq(eddy_counter_value(c), UINT64_MAX);
  eddy_counter_add(c, 5);
  cr_assert_eq(eddy_counter_value(c), UINT64_MAX);
  eddy_metrics_free(m);
}

static int calls;
static double count_calls(void *arg) {
  calls++;
  return *(double *)arg;
}

Test(metrics, callback_gauges_and_forget) {
  eddy_metrics_t *m = registry();
  double a = 3, b = 4;
  cr_assert_eq(
      eddy_metrics_gauge_fn(m, "live", "s=\"a\"", "Live.", count_calls, &a), 0);
  cr_assert_eq(
      eddy_metrics_gauge_fn(m, "live", "s=\"b\"", NULL, count_calls, &b), 0);
  cr_assert_eq(calls, 0, "only rendering calls the callbacks");
  char *text = prometheus(m);
  cr_assert_eq(calls, 2);
  cr_assert_str_eq(text, "# HELP live Live.\n# TYPE live gauge\n"
                         "live{s=\"a\"} 3\nlive{s=\"b\"} 4\n");
  free(text);
  /* Replacing the callback. */
  cr_assert_eq(
      eddy_metrics_gauge_fn(m, "live", "s=\"a\"", NULL, count_calls, &b), 0);
  text = prometheus(m);
  cr_assert(strstr(text, "live{s=\"a\"} 4\n") != NULL, "%s", text);
  free(text);
  /* A plain gauge handed out stays after its callback is forgotten. */
  eddy_gauge_t *g = eddy_metrics_gauge(m, "kept", NULL, NULL);
  eddy_gauge_set(g, 9);
  cr_assert_eq(eddy_metrics_gauge_fn(m, "kept", NULL, NULL, count_calls, &a),
               0);
  text = prometheus(m);
  cr_assert(strstr(text, "kept 3\n") != NULL, "%s", text);
  free(text);
  eddy_metrics_forget(m, &b);
  eddy_metrics_forget(m, &a);
  text = prometheus(m);
  cr_assert_str_eq(text, "# TYPE kept gauge\nkept 9\n",
                   "forgotten callback gauges are gone: %s", text);
  free(text);
  cr_assert_eq(eddy_metrics_gauge(m, "kept", NULL, NULL), g);
  /* Removing by fn NULL; removing what is not there is fine. */
  cr_assert_eq(eddy_metrics_gauge_fn(m, "x", NULL, NULL, count_calls, &a), 0);
  cr_assert_eq(eddy_metrics_gauge_fn(m, "x", NULL, NULL, NULL, NULL), 0);
  cr_assert_eq(eddy_metrics_gauge_fn(m, "x", NULL, NULL, NULL, NULL), 0);
  cr_assert_eq(eddy_metrics_gauge_fn(m, "nothing", "a=\"b\"", NULL, NULL, NULL),
               0);
  text = prometheus(m);
  cr_assert_str_eq(text, "# TYPE kept gauge\nkept 9\n");
  free(text);
  /* Forget leaves other owners' callbacks. */
  cr_assert_eq(eddy_metrics_gauge_fn(m, "y", NULL, NULL, count_calls, &a), 0);
  cr_assert_eq(eddy_metrics_gauge_fn(m, "z", NULL, NULL, count_calls, &b), 0);
  eddy_metrics_forget(m, &a);
  text = prometheus(m);
  cr_assert_str_eq(text, "# TYPE kept gauge\nkept 9\n# TYPE z gauge\nz 4\n");
  free(text);
  eddy_metrics_free(m);
}

/* ---- Histograms ---------------------------------------------------------- */

Test(histogram, bucket_edges_are_contiguous_and_tight) {
  cr_assert_eq(eddy__hist_bucket(0), 0);
  cr_assert_eq(eddy__hist_upper(0), 0);
  uint64_t next = 1; /* the first integer not yet in a bucket */
  for (size_t i = 1; i + 1 < EDDY__HIST_BUCKETS; i++) {
    uint64_t lo = eddy__hist_lower(i), hi = eddy__hist_upper(i);
    if (lo > hi)
      continue; /* a sliver of a small octave holding no integer */
    cr_assert_eq(lo, next, "bucket %zu starts at %llu, not %llu", i,
                 (unsigned long long)lo, (unsigned long long)next);
    cr_assert_eq(eddy__hist_bucket(lo), i);
    cr_assert_eq(eddy__hist_bucket(hi), i);
    cr_assert_lt(eddy__hist_bucket(lo - 1), i);
    /* No integer of the bucket is read back more than 2^(1/8) too high. */
    cr_assert((double)hi < (double)lo * ROOT8,
              "bucket %zu [%llu, %llu] too wide", i, (unsigned long long)lo,
              (unsigned long long)hi);
    next = hi + 1;
  }
  cr_assert_eq(next, (uint64_t)1 << 41);
  size_t last = EDDY__HIST_BUCKETS - 1;
  cr_assert_eq(eddy__hist_bucket((uint64_t)1 << 41), last);
  cr_assert_eq(eddy__hist_bucket(((uint64_t)1 << 41) - 1), last - 1);
  cr_assert_eq(eddy__hist_bucket(UINT64_MAX), last);
  /* Every power of two starts a bucket. */
  for (int e = 1; e <= 40; e++) {
    uint64_t p = (uint64_t)1 << e;
    cr_assert_eq(eddy__hist_lower(eddy__hist_bucket(p)), p, "2^%d", e);
    cr_assert_eq(eddy__hist_upper(eddy__hist_bucket(p - 1)), p - 1, "2^%d", e);
  }
  /* Sizes below 8 each get a bucket of their own. */
  for (uint64_t v = 1; v < 8; v++)
    cr_assert_eq(eddy__hist_lower(eddy__hist_bucket(v)), v);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
  uint64_t x = rng_state; /* xorshift64: deterministic across runs */
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return rng_state = x;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void check_quantiles(eddy_histogram_t *h, uint64_t *v, size_t n) {
  qsort(v, n, sizeof(*v), cmp_u64);
  static const double qs[] = {0,    0.001, 0.01, 0.1,   0.25,   0.5,
                              0.75, 0.9,   0.99, 0.999, 0.9999, 1};
  for (size_t k = 0; k < sizeof(qs) / sizeof(*qs); k++) {
    double want = ceil(qs[k] * (double)n);
    size_t rank = want < 1 ? 1 : (size_t)want;
    uint64_t exact = v[rank - 1];
    uint64_t got = eddy_histogram_quantile(h, qs[k]);
    cr_assert(got >= exact, "q=%g: %llu below exact %llu", qs[k],
              (unsigned long long)got, (unsigned long long)exact);
    cr_assert((double)got <= (double)exact * ROOT8,
              "q=%g: %llu more than 9.05%% above %llu", qs[k],
              (unsigned long long)got, (unsigned long long)exact);
  }
  cr_assert_eq(eddy_histogram_quantile(h, 1), v[n - 1], "q 1 is the max");
  cr_assert_eq(eddy_histogram_count(h), n);
}

Test(histogram, quantiles_match_exact_values_within_the_error) {
  eddy_metrics_t *m = registry();
  enum { N = 20000 };
  uint64_t *v = malloc(N * sizeof(*v));
  /* Uniform, log-uniform (latency-like) and a few repeated values. */
  for (int dist = 0; dist < 3; dist++) {
    char labels[16];
    snprintf(labels, sizeof(labels), "d=\"%d\"", dist);
    eddy_histogram_t *h = eddy_metrics_histogram(m, "q", labels, NULL, 1);
    for (size_t i = 0; i < N; i++) {
      uint64_t x = rng();
      if (dist == 0)
        v[i] = x % 1000000u;
      else if (dist == 1)
        v[i] = (x >> 24) >> (x % 40u);
      else
        v[i] = (uint64_t[]){0, 1, 7, 1000, 123456789}[x % 5u];
      eddy_histogram_observe(h, v[i]);
    }
    check_quantiles(h, v, N);
  }
  free(v);
  eddy_metrics_free(m);
}

Test(histogram, edge_cases_and_reset) {
  eddy_metrics_t *m = registry();
  eddy_histogram_t *h = eddy_metrics_histogram(m, "e", NULL, NULL, 1);
  cr_assert_eq(eddy_histogram_quantile(h, 0.5), 0, "empty");
  eddy_histogram_observe(h, 0);
  cr_assert_eq(eddy_histogram_quantile(h, 0.5), 0);
  eddy_histogram_observe(h, 1000);
  cr_assert_eq(eddy_histogram_quantile(h, 1), 1000, "capped at the max");
  cr_assert_eq(eddy_histogram_quantile(h, 2), 1000);
  cr_assert_eq(eddy_histogram_quantile(h, -1), 0);
  cr_assert_eq(eddy_histogram_quantile(h, NAN), 0);
  eddy_histogram_observe(h, UINT64_MAX);
  eddy_histogram_observe(h, UINT64_MAX);
  cr_assert_eq(eddy_histogram_quantile(h, 1), UINT64_MAX);
  cr_assert_eq(h->sum, UINT64_MAX, "the sum saturates");
  eddy_histogram_reset(h);
  cr_assert_eq(eddy_histogram_count(h), 0);
  cr_assert_eq(eddy_histogram_quantile(h, 0.99), 0);
  eddy_histogram_observe(h, 5);
  cr_assert_eq(eddy_histogram_quantile(h, 0.5), 5);
  cr_assert_eq(h->sum, 5);
  eddy_metrics_free(m);
}

/* ---- Prometheus text ----------------------------------------------------- */

/* Splits a sample line into name, labels (without braces) and value; the
 * label values are checked to be escaped per the format. */
static void split_sample(const char *line, char *name, char *labels,
                         char *value) {
  size_t n = strcspn(line, "{ ");
  memcpy(name, line, n);
  name[n] = '\0';
  const char *p = line + n;
  labels[0] = '\0';
  if (*p == '{') {
    const char *q = p + 1;
    int in = 0;
    for (; *q != '\0' && (in || *q != '}'); q++) {
      if (in && *q == '\\') {
        cr_assert(q[1] == '\\' || q[1] == '"' || q[1] == 'n', "%s", line);
        q++;
      } else if (*q == '"') {
        in = !in;
      }
    }
    cr_assert_eq(*q, '}', "%s", line);
    memcpy(labels, p + 1, (size_t)(q - p - 1));
    labels[q - p - 1] = '\0';
    p = q + 1;
  }
  cr_assert_eq(*p, ' ', "%s", line);
  strcpy(value, p + 1);
}

Test(prometheus, text_line_by_line) {
  eddy_metrics_t *m = registry();
  char esc[64];
  eddy_metrics_escape_label(esc, sizeof(esc), "a\\b\"c\nd");
  cr_assert_str_eq(esc, "a\\\\b\\\"c\\nd");
  char labels[96];
  snprintf(labels, sizeof(labels), "path=\"%s\"", esc);
  eddy_counter_add(eddy_metrics_counter(m, "req_total", labels,
                                        "Requests, by \\path\nand more."),
                   3);
  eddy_counter_inc(eddy_metrics_counter(m, "req_total", "path=\"/\"", NULL));
  eddy_gauge_set(eddy_metrics_gauge(m, "conns", NULL, "Open."), 12);
  eddy_gauge_set(eddy_metrics_gauge(m, "ratio", "k=\"nan\"", NULL), NAN);
  eddy_gauge_set(eddy_metrics_gauge(m, "ratio", "k=\"pinf\"", NULL), INFINITY);
  eddy_gauge_set(eddy_metrics_gauge(m, "ratio", "k=\"x\"", NULL), 0.1);
  eddy_histogram_t *h =
      eddy_metrics_histogram(m, "lat_seconds", "s=\"x\"", "Latency.", 1e6);
  eddy_histogram_observe(h, 0);
  eddy_histogram_observe(h, 1000);
  eddy_histogram_observe(h, 3000);
  char *text = prometheus(m);
  cr_assert(text[strlen(text) - 1] == '\n', "ends with a newline");

  /* The fixed, exact lines. */
  static const char *want[] = {
      "# HELP conns Open.",
      "# TYPE conns gauge",
      "conns 12",
      "# HELP lat_seconds Latency.",
      "# TYPE lat_seconds histogram",
      "lat_seconds_bucket{s=\"x\",le=\"9.5367431640625e-07\"} 1",
      "lat_seconds_bucket{s=\"x\",le=\"0.0009765625\"} 1",
      "lat_seconds_bucket{s=\"x\",le=\"0.001953125\"} 2",
      "lat_seconds_bucket{s=\"x\",le=\"0.00390625\"} 3",
      "lat_seconds_bucket{s=\"x\",le=\"4194304\"} 3",
      "lat_seconds_bucket{s=\"x\",le=\"+Inf\"} 3",
      "lat_seconds_sum{s=\"x\"} 0.004",
      "lat_seconds_count{s=\"x\"} 3",
      "# TYPE ratio gauge",
      "ratio{k=\"nan\"} NaN",
      "ratio{k=\"pinf\"} +Inf",
      "ratio{k=\"x\"} 0.1",
      "# HELP req_total Requests, by \\\\path\\nand more.",
      "# TYPE req_total counter",
      "req_total{path=\"/\"} 1",
      "req_total{path=\"a\\\\b\\\"c\\nd\"} 3",
  };
  size_t next = 0;
  int types = 0, helps = 0;
  double prev_le = -1;
  uint64_t prev_cum = 0;
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save)) {
    if (next < sizeof(want) / sizeof(*want) && strcmp(line, want[next]) == 0)
      next++;
    if (strncmp(line, "# TYPE ", 7) == 0) {
      types++;
      continue;
    }
    if (strncmp(line, "# HELP ", 7) == 0) {
      helps++;
      continue;
    }
    cr_assert_neq(line[0], '#', "%s", line);
    char name[160], lab[300], value[64];
    split_sample(line, name, lab, value);
    cr_assert(strspn(name, "abcdefghijklmnopqrstuvwxyz_") == strlen(name), "%s",
              line);
    if (strcmp(name, "lat_seconds_bucket") == 0) {
      const char *le = strstr(lab, "le=\"") + 4;
      double v = strcmp(le, "+Inf\"") == 0 ? INFINITY : strtod(le, NULL);
      uint64_t cum = strtoull(value, NULL, 10);
      cr_assert(v > prev_le, "le grows: %s", line);
      cr_assert(cum >= prev_cum, "cumulative: %s", line);
      /* Powers of two of a second, from below a microsecond. */
      if (isfinite(v)) {
        int e;
        cr_assert_eq(frexp(v, &e), 0.5, "%s", line);
        cr_assert(v < 2e-6 || prev_le > 0, "%s", line);
      }
      prev_le = v;
      prev_cum = cum;
    }
  }
  cr_assert_eq(next, sizeof(want) / sizeof(*want), "line \"%s\" missing",
               next < sizeof(want) / sizeof(*want) ? want[next] : "");
  cr_assert_eq(types, 4, "TYPE once per name");
  cr_assert_eq(helps, 3, "HELP once per name that has help");
  free(text);
  eddy_metrics_free(m);
}

Test(prometheus, unit_histograms_and_a_full_buffer) {
  eddy_metrics_t *m = registry();
  eddy_histogram_t *h = eddy_metrics_histogram(m, "sizes_bytes", NULL, NULL, 1);
  eddy_histogram_observe(h, 1);
  eddy_histogram_observe(h, 5);
  eddy_histogram_observe(h, 5);
  eddy_histogram_observe(h, 100);
  char *text = prometheus(m);
  cr_assert(strstr(text, "# TYPE sizes_bytes histogram\n"
                         "sizes_bytes_bucket{le=\"1\"} 1\n"
                         "sizes_bytes_bucket{le=\"2\"} 1\n"
                         "sizes_bytes_bucket{le=\"4\"} 1\n"
                         "sizes_bytes_bucket{le=\"8\"} 3\n") == text,
            "%s", text);
  cr_assert(strstr(text, "sizes_bytes_bucket{le=\"128\"} 4\n") != NULL);
  cr_assert(strstr(text, "sizes_bytes_bucket{le=\"2199023255552\"} 4\n"
                         "sizes_bytes_bucket{le=\"+Inf\"} 4\n"
                         "sizes_bytes_sum 111\n"
                         "sizes_bytes_count 4\n") != NULL,
            "%s", text);
  /* A buffer too small is left as it was. */
  eddy_buf_t small;
  eddy_buf_init(&small, 64);
  eddy_buf_append_str(&small, "keep");
  cr_assert_eq(eddy_metrics_prometheus(m, &small), UV_ENOBUFS);
  cr_assert_eq(eddy_metrics_json(m, 0, &small), UV_ENOBUFS);
  cr_assert_eq(small.len, 4);
  cr_assert_eq(memcmp(small.data, "keep", 4), 0);
  eddy_buf_free(&small);
  free(text);
  eddy_metrics_free(m);
}

/* ---- JSON ---------------------------------------------------------------- */

Test(json, snapshot_parses_back) {
  eddy_metrics_t *m = registry();
  eddy_counter_add(
      eddy_metrics_counter(m, "eddy_http_requests_total", "code=\"2xx\"", NULL),
      5);
  eddy_counter_inc(eddy_metrics_counter(m, "plain_total", NULL, NULL));
  eddy_counter_inc(
      eddy_metrics_counter(m, "odd_total", "v=\"q\\\"b\\\\s\\nt\tx\"", NULL));
  eddy_gauge_set(eddy_metrics_gauge(m, "g", NULL, NULL), 2.5);
  eddy_gauge_set(eddy_metrics_gauge(m, "g_nan", NULL, NULL), NAN);
  double v = 11;
  cr_assert_eq(eddy_metrics_gauge_fn(m, "g_fn", NULL, NULL, count_calls, &v),
               0);
  eddy_histogram_t *h = eddy_metrics_histogram(m, "d_seconds", NULL, NULL, 1e6);
  eddy_metrics_histogram(m, "empty_seconds", NULL, NULL, 1e6);
  for (uint64_t i = 1; i <= 1000; i++)
    eddy_histogram_observe(h, i * 100); /* 100 µs .. 100 ms */
  json_t *j = snapshot(m, 1700000000123ull);
  cr_assert_eq(json_integer_value(json_object_get(j, "time")), 1700000000123ll);
  json_t *c = json_object_get(j, "counters");
  cr_assert_eq(json_object_size(c), 3);
  cr_assert_eq(json_integer_value(json_object_get(
                   c, "eddy_http_requests_total{code=\"2xx\"}")),
               5);
  cr_assert_eq(json_integer_value(json_object_get(c, "plain_total")), 1);
  cr_assert_eq(json_integer_value(
                   json_object_get(c, "odd_total{v=\"q\\\"b\\\\s\\nt\tx\"}")),
               1, "the key is name{labels}, labels as given");
  json_t *g = json_object_get(j, "gauges");
  cr_assert_float_eq(json_number_value(json_object_get(g, "g")), 2.5, 1e-12);
  cr_assert(json_is_null(json_object_get(g, "g_nan")));
  cr_assert_float_eq(json_number_value(json_object_get(g, "g_fn")), 11, 1e-12);
  json_t *hs = json_object_get(j, "histograms");
  json_t *d = json_object_get(hs, "d_seconds");
  cr_assert_not_null(d);
  cr_assert_eq(json_integer_value(json_object_get(d, "count")), 1000);
  cr_assert_float_eq(json_number_value(json_object_get(d, "sum")), 50.05, 1e-9);
  cr_assert_float_eq(json_number_value(json_object_get(d, "scale")), 1e6, 0);
  cr_assert_float_eq(json_number_value(json_object_get(d, "max")), 0.1, 1e-12);
  static const struct {
    const char *k;
    double q;
  } ps[] = {{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}};
  for (size_t k = 0; k < 3; k++) {
    double got = json_number_value(json_object_get(d, ps[k].k));
    double exact = ps[k].q * 0.1;
    cr_assert_float_eq(got, (double)eddy_histogram_quantile(h, ps[k].q) / 1e6,
                       1e-12);
    cr_assert(got >= exact - 1e-12 && got <= exact * ROOT8, "%s %g", ps[k].k,
              got);
  }
  json_t *buckets = json_object_get(d, "buckets");
  uint64_t total = 0;
  double prev = -1;
  json_int_t prev_index = -1;
  for (size_t i = 0; i < json_array_size(buckets); i++) {
    json_t *b = json_array_get(buckets, i);
    cr_assert_eq(json_array_size(b), 3, "[upper, count, index]");
    double upper = json_number_value(json_array_get(b, 0));
    json_int_t n = json_integer_value(json_array_get(b, 1));
    cr_assert(json_is_integer(json_array_get(b, 2)));
    json_int_t index = json_integer_value(json_array_get(b, 2));
    cr_assert(upper > prev);
    cr_assert_gt(n, 0, "only non-empty buckets");
    cr_assert(index > prev_index && index < EDDY__HIST_BUCKETS);
    cr_assert_eq(h->buckets[index], (uint64_t)n, "the index names the bucket");
    cr_assert_float_eq(
        upper, (double)eddy__hist_reported_upper(h, (size_t)index) / 1e6,
        1e-12);
    prev = upper;
    prev_index = index;
    total += (uint64_t)n;
  }
  cr_assert_eq(total, 1000, "counts are per bucket, not cumulative");
  cr_assert_float_eq(prev, 0.1, 1e-12, "the last bound is the max");
  json_t *e = json_object_get(hs, "empty_seconds");
  cr_assert_eq(json_integer_value(json_object_get(e, "count")), 0);
  cr_assert_eq(json_array_size(json_object_get(e, "buckets")), 0);
  cr_assert_float_eq(json_number_value(json_object_get(e, "p99")), 0, 0);
  json_decref(j);
  eddy_metrics_free(m);
}

/* The top bucket's bound is capped at max and moves with it; its index
 * does not, so snapshots can be compared bucket by bucket. */
Test(json, bucket_index_is_stable_when_max_moves) {
  eddy_metrics_t *m = registry();
  eddy_histogram_t *h = eddy_metrics_histogram(m, "t_seconds", NULL, NULL, 1e6);
  eddy_histogram_observe(h, 1000);
  json_t *j1 = snapshot(m, 1);
  eddy_histogram_observe(h, 1020); /* same bucket: [2^(79/8), 2^(80/8)) */
  json_t *j2 = snapshot(m, 2);
  json_t *b1 = json_object_get(
      json_object_get(json_object_get(j1, "histograms"), "t_seconds"),
      "buckets");
  json_t *b2 = json_object_get(
      json_object_get(json_object_get(j2, "histograms"), "t_seconds"),
      "buckets");
  cr_assert_eq(json_array_size(b1), 1);
  cr_assert_eq(json_array_size(b2), 1);
  json_t *x = json_array_get(b1, 0), *y = json_array_get(b2, 0);
  cr_assert_float_eq(json_number_value(json_array_get(x, 0)), 0.001, 1e-12);
  cr_assert_float_eq(json_number_value(json_array_get(y, 0)), 0.00102, 1e-12);
  cr_assert_eq(json_integer_value(json_array_get(x, 1)), 1);
  cr_assert_eq(json_integer_value(json_array_get(y, 1)), 2);
  cr_assert_eq(json_integer_value(json_array_get(x, 2)),
               (json_int_t)eddy__hist_bucket(1000));
  cr_assert_eq(json_integer_value(json_array_get(y, 2)),
               json_integer_value(json_array_get(x, 2)));
  json_decref(j1);
  json_decref(j2);
  eddy_metrics_free(m);
}

Test(json, empty_registry) {
  eddy_metrics_t *m = registry();
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  cr_assert_eq(eddy_metrics_json(m, 7, &b), 0);
  cr_assert_eq(b.len, strlen("{\"time\":7,\"counters\":{},\"gauges\":{},"
                             "\"histograms\":{}}"));
  cr_assert_eq(memcmp(b.data,
                      "{\"time\":7,\"counters\":{},\"gauges\":{},"
                      "\"histograms\":{}}",
                      b.len),
               0);
  eddy_buf_free(&b);
  eddy_metrics_free(m);
}

/* ---- Escaping and the clock ---------------------------------------------- */

Test(metrics, escape_truncates_without_splitting) {
  char buf[6];
  cr_assert_str_eq(eddy_metrics_escape_label(buf, sizeof(buf), "abcdefgh"),
                   "abcde");
  cr_assert_str_eq(eddy_metrics_escape_label(buf, sizeof(buf), "abcd\""),
                   "abcd", "an escape is never cut in two");
  cr_assert_str_eq(eddy_metrics_escape_label(buf, sizeof(buf), "abc\"d"),
                   "abc\\\"");
  cr_assert_str_eq(eddy_metrics_escape_label(buf, sizeof(buf), "ab\xc3\xa9z"),
                   "ab\xc3\xa9z");
  cr_assert_str_eq(eddy_metrics_escape_label(buf, sizeof(buf), "abcd\xc3\xa9"),
                   "abcd", "nor a character");
  cr_assert_str_eq(
      eddy_metrics_escape_label(buf, sizeof(buf), "a\xe2\x82\xac\xe2\x82\xac"),
      "a\xe2\x82\xac");
  char one[1];
  cr_assert_str_eq(eddy_metrics_escape_label(one, 1, "x"), "");
  /* An escaped value makes a valid label set. */
  char big[300], labels[320];
  eddy_metrics_escape_label(big, sizeof(big), "\"\\\n\"\\\n é");
  snprintf(labels, sizeof(labels), "v=\"%s\"", big);
  eddy_metrics_t *m = registry();
  cr_assert_not_null(eddy_metrics_counter(m, "c", labels, NULL));
  eddy_metrics_free(m);
}

Test(metrics, clock_follows_a_fake_reactor) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  uint64_t t0 = eddy_metrics_now_us(r);
  cr_assert_eq(t0, eddy_reactor_now(r) * 1000u);
  eddy_reactor_advance(r, 25);
  cr_assert_eq(eddy_metrics_now_us(r) - t0, 25000u);
  test_close_reactor(r);
  eddy_reactor_t *real = test_reactor(0);
  uint64_t a = eddy_metrics_now_us(real), b = eddy_metrics_now_us(real);
  cr_assert_geq(b, a);
  cr_assert_geq(a / 1000u, eddy_reactor_now(real),
                "the clock the loop's cached time is read from");
  test_close_reactor(real);
}
