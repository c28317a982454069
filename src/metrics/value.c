/* value.c — counter and gauge updates (eddy/metrics.h).
 *
 * Every function takes NULL and does nothing: a service keeps its metric
 * pointers unconditionally and pays one branch when metrics are off. */
#include <stddef.h>

#include "metrics/metrics_internal.h"

void eddy_counter_add(eddy_counter_t *c, uint64_t n) {
  if (c == NULL)
    return;
  /* Saturate rather than wrap: a counter that went back to 0 would read
   * as a restart to a scraper. */
  c->value = c->value + n < c->value ? UINT64_MAX : c->value + n;
}

void eddy_counter_inc(eddy_counter_t *c) {
  if (c != NULL && c->value != UINT64_MAX)
    c->value++;
}

uint64_t eddy_counter_value(const eddy_counter_t *c) {
  return c != NULL ? c->value : 0;
}

void eddy_gauge_set(eddy_gauge_t *g, double v) {
  if (g != NULL)
    g->value = v;
}

void eddy_gauge_add(eddy_gauge_t *g, double delta) {
  if (g != NULL)
    g->value += delta;
}

double eddy_gauge_value(const eddy_gauge_t *g) {
  return g != NULL ? g->value : 0;
}

double eddy__gauge_read(const eddy_gauge_t *g) {
  return g->fn != NULL ? g->fn(g->arg) : g->value;
}
