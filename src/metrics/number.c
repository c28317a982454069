/* number.c — numbers as text for the renderers. */
#include <stdio.h>
#include <stdlib.h>

#include "metrics/metrics_internal.h"

size_t eddy__metrics_fmt_double(char *buf, double v) {
  /* 15 digits read back exactly for most values and keep 0.1 as "0.1";
   * 17 always do. */
  int n = snprintf(buf, 32, "%.15g", v);
  if (strtod(buf, NULL) != v)
    n = snprintf(buf, 32, "%.17g", v);
  return n > 0 ? (size_t)n : 0;
}
