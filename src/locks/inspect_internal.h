/* inspect_internal.h — the lock table as protocol text: the replies of
 * `inspect`, `list` and `stats` (docs/protocol/locks.md).
 *
 * Each appends the whole reply, data lines and the final "OK ..." line,
 * to b, and returns 0, or a negative error (UV_ENOBUFS past b's maximum,
 * UV_ENOMEM) with b holding part of it. They only read the table. */
#ifndef EDDY_LOCKS_INSPECT_INTERNAL_H
#define EDDY_LOCKS_INSPECT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "eddy/buffer.h"
#include "eddy/locks.h"
#include "locks/table_internal.h"

/* now: the reactor's clock, for held, waited and remaining times. */
int eddy__lk_format_inspect(eddy_buf_t *b, const eddy__lk_table_t *t,
                            uint64_t now, const char *name, size_t len);
/* Locks whose name starts with prefix, sorted by name, at most max_shown. */
int eddy__lk_format_list(eddy_buf_t *b, const eddy__lk_table_t *t,
                         const char *prefix, size_t len, size_t max_shown);
int eddy__lk_format_stats(eddy_buf_t *b, const eddy_locks_stats_t *s);
/* The locks whose names start with prefix (len bytes; 0: all), sorted by
 * name: *found is a malloc'd array of *n pointers into the table (valid
 * until the table changes), freed by the caller. 0 or UV_ENOMEM. */
int eddy__lk_sorted(const eddy__lk_table_t *t, const char *prefix, size_t len,
                    const eddy__lk_lock_t ***found, size_t *n);

#endif
