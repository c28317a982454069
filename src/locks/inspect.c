/* inspect.c — renders the lock table for inspect, list and stats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/error.h"
#include "locks/inspect_internal.h"

static const char *mode_name(eddy__lk_mode_t m) {
  return m == EDDY__LK_EXCL     ? "exclusive"
         : m == EDDY__LK_SHARED ? "shared"
                                : "free";
}

static const char *client_of(const eddy__lk_owner_t *o) {
  return o->client[0] != '\0' ? o->client : "-";
}

static int lock_line(eddy_buf_t *b, const eddy__lk_lock_t *l) {
  int rc = eddy_buf_printf(b, "LOCK %.*s %s holders=%zu waiters=%zu\r\n",
                           (int)l->name_len, l->name, mode_name(l->mode),
                           l->nholders, l->nwaiters);
  return rc < 0 ? rc : 0;
}

/* "-" or the milliseconds from now until due (0 once past). */
static const char *left_ms(char *buf, size_t size, int set, uint64_t due,
                           uint64_t now) {
  if (!set)
    return "-";
  snprintf(buf, size, "%llu", (unsigned long long)(due > now ? due - now : 0));
  return buf;
}

int eddy__lk_format_inspect(eddy_buf_t *b, const eddy__lk_table_t *t,
                            uint64_t now, const char *name, size_t len) {
  const eddy__lk_lock_t *l = eddy__lk_find(t, name, len);
  int rc;
  if (l == NULL) {
    rc = eddy_buf_printf(b, "LOCK %.*s free holders=0 waiters=0\r\nOK\r\n",
                         (int)len, name);
    return rc < 0 ? rc : 0;
  }
  if ((rc = lock_line(b, l)) != 0)
    return rc;
  char tmp[24];
  for (const eddy__lk_hold_t *h = l->holders; h != NULL; h = h->lock_next) {
    rc = eddy_buf_printf(
        b,
        "HOLDER conn=%llu client=%s mode=%s count=%llu token=%llu "
        "held_ms=%llu lease_ms=%s\r\n",
        (unsigned long long)h->owner->id, client_of(h->owner),
        mode_name(h->mode), (unsigned long long)h->count,
        (unsigned long long)h->token, (unsigned long long)(now - h->granted_at),
        left_ms(tmp, sizeof(tmp), h->lease_ms != 0, h->lease_due, now));
    if (rc < 0)
      return rc;
  }
  for (const eddy__lk_wait_t *w = l->head; w != NULL; w = w->lock_next) {
    rc = eddy_buf_printf(
        b,
        "WAITER conn=%llu client=%s mode=%s waited_ms=%llu "
        "timeout_ms=%s\r\n",
        (unsigned long long)w->owner->id, client_of(w->owner),
        mode_name(w->mode), (unsigned long long)(now - w->since),
        left_ms(tmp, sizeof(tmp), w->deadline != EDDY__LK_FOREVER, w->deadline,
                now));
    if (rc < 0)
      return rc;
  }
  rc = eddy_buf_append_str(b, "OK\r\n");
  return rc < 0 ? rc : 0;
}

typedef struct {
  const char *prefix;
  size_t prefix_len;
  const eddy__lk_lock_t **found;
  size_t n, cap;
  int nomem;
} list_ctx_t;

static int list_one(eddy__lk_lock_t *l, void *arg) {
  list_ctx_t *x = arg;
  if (l->name_len < x->prefix_len ||
      (x->prefix_len > 0 && memcmp(l->name, x->prefix, x->prefix_len) != 0))
    return 0;
  if (x->n == x->cap) {
    size_t cap = x->cap ? x->cap * 2 : 64;
    const eddy__lk_lock_t **p = realloc(x->found, cap * sizeof(*p));
    if (p == NULL) {
      x->nomem = 1;
      return 1;
    }
    x->found = p;
    x->cap = cap;
  }
  x->found[x->n++] = l;
  return 0;
}

static int by_name(const void *a, const void *b) {
  const eddy__lk_lock_t *x = *(const eddy__lk_lock_t *const *)a;
  const eddy__lk_lock_t *y = *(const eddy__lk_lock_t *const *)b;
  size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
  int d = memcmp(x->name, y->name, n);
  if (d != 0)
    return d;
  return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

int eddy__lk_sorted(const eddy__lk_table_t *t, const char *prefix, size_t len,
                    const eddy__lk_lock_t ***found, size_t *n) {
  list_ctx_t x = {.prefix = prefix, .prefix_len = len};
  eddy__lk_each(t, list_one, &x);
  if (x.nomem) {
    free(x.found);
    *found = NULL;
    *n = 0;
    return UV_ENOMEM;
  }
  if (x.n > 1)
    qsort(x.found, x.n, sizeof(*x.found), by_name);
  *found = x.found;
  *n = x.n;
  return 0;
}

int eddy__lk_format_list(eddy_buf_t *b, const eddy__lk_table_t *t,
                         const char *prefix, size_t len, size_t max_shown) {
  const eddy__lk_lock_t **found;
  size_t total;
  int rc = eddy__lk_sorted(t, prefix, len, &found, &total);
  if (rc != 0)
    return rc;
  size_t shown = total < max_shown ? total : max_shown;
  for (size_t i = 0; i < shown && rc == 0; i++)
    rc = lock_line(b, found[i]);
  if (rc == 0) {
    rc = eddy_buf_printf(b, "OK %zu %zu\r\n", shown, total);
    rc = rc < 0 ? rc : 0;
  }
  free(found);
  return rc;
}

int eddy__lk_format_stats(eddy_buf_t *b, const eddy_locks_stats_t *s) {
  int rc = eddy_buf_printf(
      b,
      "STAT connections %llu\r\nSTAT locks %llu\r\nSTAT holders %llu\r\n"
      "STAT waiters %llu\r\nSTAT grants_total %llu\r\n"
      "STAT waits_total %llu\r\nSTAT timeouts_total %llu\r\n"
      "STAT releases_on_disconnect_total %llu\r\n"
      "STAT lease_expiries_total %llu\r\n"
      "STAT wait_time_us_total %llu\r\nOK\r\n",
      (unsigned long long)s->connections, (unsigned long long)s->locks,
      (unsigned long long)s->holders, (unsigned long long)s->waiters,
      (unsigned long long)s->grants_total, (unsigned long long)s->waits_total,
      (unsigned long long)s->timeouts_total,
      (unsigned long long)s->releases_on_disconnect_total,
      (unsigned long long)s->lease_expiries_total,
      (unsigned long long)s->wait_time_us_total);
  return rc < 0 ? rc : 0;
}
