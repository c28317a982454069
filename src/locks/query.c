/* query.c — the lock table as structs, for the HTTP API: what `inspect`
 * and `list` print, without the wire. Read-only. */
#include <stdlib.h>
#include <string.h>

#include "eddy/error.h"
#include "eddy/locks.h"
#include "locks/inspect_internal.h"
#include "locks/table_internal.h"

#define LIST_DEFAULT 1000

static const char *mode_name(eddy__lk_mode_t m) {
  return m == EDDY__LK_EXCL     ? "exclusive"
         : m == EDDY__LK_SHARED ? "shared"
                                : "free";
}

static void client_copy(char dst[65], const eddy__lk_owner_t *o) {
  size_t n = strnlen(o->client, 64);
  memcpy(dst, o->client, n);
  dst[n] = '\0';
}

static int64_t left_ms(uint64_t due, uint64_t now) {
  uint64_t d = due > now ? due - now : 0;
  return d > INT64_MAX ? INT64_MAX : (int64_t)d;
}

/* Fills info for lock lk (NULL: a free lock called name). */
static int fill(eddy_locks_entry_t *info, const eddy__lk_lock_t *lk,
                const char *name, size_t len, uint64_t now, int waiters) {
  memset(info, 0, sizeof(*info));
  if (lk != NULL) {
    name = lk->name;
    len = lk->name_len;
  }
  if ((info->name = malloc(len + 1)) == NULL)
    return UV_ENOMEM;
  memcpy(info->name, name, len);
  info->name[len] = '\0';
  info->mode = mode_name(lk != NULL ? lk->mode : EDDY__LK_FREE);
  if (lk == NULL)
    return 0;
  info->nholders = lk->nholders;
  info->nwaiters = lk->nwaiters;
  if (lk->nholders > 0) {
    info->holders = calloc(lk->nholders, sizeof(*info->holders));
    if (info->holders == NULL)
      return UV_ENOMEM;
    size_t i = 0;
    for (const eddy__lk_hold_t *h = lk->holders; h != NULL && i < lk->nholders;
         h = h->lock_next, i++) {
      eddy_locks_holder_t *o = &info->holders[i];
      o->conn = h->owner->id;
      client_copy(o->client, h->owner);
      o->shared = h->mode == EDDY__LK_SHARED;
      o->count = h->count;
      o->token = h->token;
      o->held_ms = now > h->granted_at ? now - h->granted_at : 0;
      o->lease_left_ms = h->lease_ms != 0 ? left_ms(h->lease_due, now) : -1;
    }
  }
  if (waiters && lk->nwaiters > 0) {
    info->waiters = calloc(lk->nwaiters, sizeof(*info->waiters));
    if (info->waiters == NULL)
      return UV_ENOMEM;
    size_t i = 0;
    for (const eddy__lk_wait_t *w = lk->head; w != NULL && i < lk->nwaiters;
         w = w->lock_next, i++) {
      eddy_locks_waiter_t *o = &info->waiters[i];
      o->conn = w->owner->id;
      client_copy(o->client, w->owner);
      o->shared = w->mode == EDDY__LK_SHARED;
      o->waited_ms = now > w->since ? now - w->since : 0;
      o->timeout_left_ms =
          w->deadline != EDDY__LK_FOREVER ? left_ms(w->deadline, now) : -1;
    }
  }
  return 0;
}

void eddy_locks_entries_free(eddy_locks_entry_t *info, size_t count) {
  if (info == NULL)
    return;
  for (size_t i = 0; i < count; i++) {
    free(info[i].name);
    free(info[i].holders);
    free(info[i].waiters);
  }
  free(info);
}

int eddy_locks_inspect(eddy_locks_t *l, const char *name, size_t len,
                       eddy_locks_entry_t **out) {
  *out = NULL;
  if (l == NULL || name == NULL)
    return UV_EINVAL;
  const eddy__lk_table_t *t = eddy__locks_table(l);
  if (len == 0 || len > t->opts.max_name)
    return UV_EINVAL;
  eddy_locks_entry_t *info = calloc(1, sizeof(*info));
  if (info == NULL)
    return UV_ENOMEM;
  int rc = fill(info, eddy__lk_find(t, name, len), name, len,
                eddy_reactor_now(t->reactor), 1);
  if (rc != 0) {
    eddy_locks_entries_free(info, 1);
    return rc;
  }
  *out = info;
  return 0;
}

int eddy_locks_list(eddy_locks_t *l, const char *prefix, size_t len,
                    size_t limit, eddy_locks_entry_t **out, size_t *count,
                    int *truncated) {
  *out = NULL;
  *count = 0;
  *truncated = 0;
  if (l == NULL || (prefix == NULL && len > 0))
    return UV_EINVAL;
  const eddy__lk_table_t *t = eddy__locks_table(l);
  if (limit == 0)
    limit = LIST_DEFAULT;
  /* Sorted over every match, so a truncated listing is the first names. */
  const eddy__lk_lock_t **found;
  size_t total;
  int rc = eddy__lk_sorted(t, prefix, len, &found, &total);
  if (rc != 0)
    return rc;
  size_t n = total < limit ? total : limit;
  eddy_locks_entry_t *arr = calloc(n > 0 ? n : 1, sizeof(*arr));
  if (arr == NULL) {
    free(found);
    return UV_ENOMEM;
  }
  uint64_t now = eddy_reactor_now(t->reactor);
  for (size_t i = 0; i < n; i++) {
    if (fill(&arr[i], found[i], NULL, 0, now, 0) != 0) {
      free(found);
      eddy_locks_entries_free(arr, i + 1);
      return UV_ENOMEM;
    }
  }
  free(found);
  *out = arr;
  *count = n;
  *truncated = total > n;
  return 0;
}
