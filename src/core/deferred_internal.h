/* deferred_internal.h — what gather.c may know of a deferred. */
#ifndef EDDY_DEFERRED_INTERNAL_H
#define EDDY_DEFERRED_INTERNAL_H

#include <stddef.h>

#include "eddy/deferred.h"

/* Longest failure message kept (longer ones are truncated), so nested
 * gathers prefixing indexes cannot grow a message without bound. */
#define EDDY__RESULT_MSG_MAX 1024

/* Makes room for `extra` more callback pairs on d, so that a caller that
 * must attach to many deferreds at once can fail before touching any. */
int eddy__deferred_reserve(eddy_deferred_t *d, size_t extra);

/* A deferred is "taken" once a chain waits on it or a gather owns it; it
 * can be taken only once. */
int eddy__deferred_taken(const eddy_deferred_t *d);
void eddy__deferred_set_taken(eddy_deferred_t *d, int taken);

/* Moves src into *dst (which must be empty) and leaves src empty. */
void eddy__result_move(eddy_result_t *dst, eddy_result_t *src);

#endif
