/* names_internal.h — metric name and label set validation (names.c). */
#ifndef EDDY_METRICS_NAMES_INTERNAL_H
#define EDDY_METRICS_NAMES_INTERNAL_H

#include "eddy/metrics.h"

/* [a-zA-Z_:][a-zA-Z0-9_:]*, 1..EDDY_METRICS_NAME_MAX bytes. */
int eddy__metrics_valid_name(const char *name);
/* NULL, "" or `key="value"(,key="value")*`: keys [a-zA-Z_][a-zA-Z0-9_]*,
 * not starting "__", each once (and not `le` on a histogram); values
 * escaped (\\, \" and \n only, no raw newline); valid UTF-8; at most
 * EDDY_METRICS_LABELS_MAX bytes. */
int eddy__metrics_valid_labels(const char *labels, int histogram);

#endif
