/* deferred.c — callback chains that run in a loop, waits, cancellation.
 *
 * A deferred keeps its callback pairs in an array and a cursor into it. The
 * chains of all deferreds that run together share one explicit stack (linked
 * through `below`), as Twisted's _runCallbacks does with its chain list:
 *  - when a callback makes the chain wait on an unfinished deferred, the
 *    outer deferred is popped and the inner one records it as its waiter;
 *  - when a deferred's chain finishes and it has a waiter, its result moves
 *    to the waiter, which is pushed and continues in the same loop;
 *  - when a chain reaches a point added by eddy_deferred_chain, the other
 *    deferred is fired by pushing it, not by a nested call.
 * So the C stack depth never grows with the length of a chain or the depth
 * of a nest of waits. It only grows when a callback itself fires another
 * deferred, which is the callback's own nesting.
 *
 * Freeing is always left to a soon-call: code holding a pointer to a
 * deferred that just finished may keep using it until control returns to
 * the loop.
 */
#include "core/deferred_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/reactor_internal.h"
#include "eddy/error.h"
#include "eddy/log.h"

/* Most deferreds get one or two pairs: keep those without an allocation. */
#define INLINE_PAIRS 2
/* A finished chain longer than this gives its array back, so one long chain
 * does not pin memory for as long as the deferred is referenced. */
#define KEEP_PAIRS 64

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

typedef struct {
  eddy_deferred_cb on_ok;
  eddy_deferred_cb on_err;
  void *arg;
} pair_t;

struct eddy_deferred_s {
  eddy_result_t result;
  eddy_reactor_t *reactor;
  pair_t *pairs;
  size_t npairs; /* pairs added */
  size_t next;   /* first pair not run yet */
  size_t cap;
  eddy_canceller_cb canceller;
  void *canceller_arg;
  eddy_deferred_t *waiter; /* paused on this one, and owning it */
  eddy_deferred_t *below;  /* next entry down the run stack */
  eddy__soon_t release;
  size_t refs;
  unsigned fired : 1;
  unsigned running : 1;   /* on a run stack */
  unsigned cancelled : 1; /* cancelled before it fired */
  unsigned taken : 1;     /* waited on or gathered */
  pair_t inline_pairs[INLINE_PAIRS];
};

static void run(eddy_deferred_t *d);

/* Marks a pair added by eddy_deferred_chain: the run loop recognises it by
 * address and fires the other deferred without recursion, so this body only
 * documents what the pair means. */
static void chain_marker(eddy_result_t *res, void *arg) {
  eddy_deferred_fire(arg, res);
  eddy_deferred_unref(arg);
}

/* ---- Results ------------------------------------------------------------ */

PRINTF_LIKE(1, 0)
static char *format_msg(const char *fmt, va_list ap) {
  if (fmt == NULL)
    return NULL;
  char buf[EDDY__RESULT_MSG_MAX + 1];
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  if (n < 0)
    return NULL;
  size_t len = (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
  char *msg = malloc(len + 1);
  if (msg == NULL)
    return NULL; /* eddy_result_message falls back to the error's text */
  memcpy(msg, buf, len);
  msg[len] = '\0';
  return msg;
}

/* Frees value and message; leaves an empty success. A pending wait is not
 * touched: the run loop owns that decision. */
static void result_dispose(eddy_result_t *res) {
  if (res->free != NULL && res->value != NULL)
    res->free(res->value);
  free(res->msg);
  res->err = 0;
  res->value = NULL;
  res->free = NULL;
  res->msg = NULL;
}

void eddy__result_move(eddy_result_t *dst, eddy_result_t *src) {
  dst->err = src->err;
  dst->value = src->value;
  dst->free = src->free;
  dst->msg = src->msg;
  src->err = 0;
  src->value = NULL;
  src->free = NULL;
  src->msg = NULL;
}

void eddy_result_set(eddy_result_t *res, void *value, eddy_free_cb free_fn) {
  /* Setting the value it already holds must not free it. */
  if (res->value == value)
    res->free = NULL;
  result_dispose(res);
  res->value = value;
  res->free = free_fn;
}

void eddy_result_failv(eddy_result_t *res, int err, const char *fmt,
                       va_list ap) {
  char *msg;
  if (err >= 0) {
    err = UV_EINVAL;
    msg = malloc(64);
    if (msg != NULL)
      snprintf(msg, 64, "failure with a non-negative error code");
  } else {
    /* Formatted first: the arguments may point into the old message. */
    msg = format_msg(fmt, ap);
  }
  result_dispose(res);
  res->err = err;
  res->msg = msg;
}

void eddy_result_fail(eddy_result_t *res, int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  eddy_result_failv(res, err, fmt, ap);
  va_end(ap);
}

void eddy_result_recover(eddy_result_t *res) {
  if (res->err != 0)
    result_dispose(res);
}

void *eddy_result_take(eddy_result_t *res) {
  void *value = res->value;
  res->value = NULL;
  res->free = NULL;
  return value;
}

void eddy_result_wait(eddy_result_t *res, eddy_deferred_t *d) {
  result_dispose(res);
  if (d == NULL) {
    /* The usual reason for a NULL deferred is an API out of memory. */
    eddy_result_fail(res, UV_ENOMEM, "wait on a deferred that was not made");
    return;
  }
  res->wait_on = d;
}

void eddy_result_clear(eddy_result_t *res) {
  result_dispose(res);
}

const char *eddy_result_message(const eddy_result_t *res) {
  return res->msg != NULL ? res->msg : eddy_strerror(res->err);
}

/* ---- Lifetime ----------------------------------------------------------- */

static int releasable(const eddy_deferred_t *d) {
  return d->fired && !d->running && d->result.wait_on == NULL && d->refs == 0 &&
         d->waiter == NULL && d->next == d->npairs;
}

static void destroy(eddy_deferred_t *d) {
  if (d->result.err != 0) {
    char quoted[2 * EDDY__RESULT_MSG_MAX + 4];
    eddy_log(EDDY_LOG_ERROR, "deferred.unhandled", "err=%s message=%s",
             eddy_err_name(d->result.err),
             eddy_log_quote(quoted, sizeof(quoted),
                            eddy_result_message(&d->result)));
  }
  result_dispose(&d->result);
  if (d->pairs != d->inline_pairs)
    free(d->pairs);
  eddy__reactor_live(d->reactor, EDDY__LIVE_DEFERRED, -1);
  free(d);
}

static void release_cb(void *arg) {
  eddy_deferred_t *d = arg;
  /* Checked again: a reference, a wait or new callbacks may have come since
   * the release was queued; whatever ends them queues it again. */
  if (releasable(d))
    destroy(d);
}

static void maybe_release(eddy_deferred_t *d) {
  if (releasable(d))
    eddy__reactor_soon(d->reactor, &d->release, release_cb, d);
}

eddy_deferred_t *eddy_deferred_ref(eddy_deferred_t *d) {
  if (d != NULL)
    d->refs++;
  return d;
}

void eddy_deferred_unref(eddy_deferred_t *d) {
  if (d == NULL)
    return;
  if (d->refs == 0) {
    eddy_log(EDDY_LOG_ERROR, "deferred.unref_underflow", NULL);
    return;
  }
  if (--d->refs == 0)
    maybe_release(d);
}

/* ---- Creating ----------------------------------------------------------- */

eddy_deferred_t *eddy_deferred_new_cancellable(eddy_reactor_t *r,
                                               eddy_canceller_cb canceller,
                                               void *arg) {
  eddy_deferred_t *d = calloc(1, sizeof(*d));
  if (d == NULL)
    return NULL;
  d->reactor = r;
  d->pairs = d->inline_pairs;
  d->cap = INLINE_PAIRS;
  d->canceller = canceller;
  d->canceller_arg = arg;
  eddy__reactor_live(r, EDDY__LIVE_DEFERRED, +1);
  return d;
}

eddy_deferred_t *eddy_deferred_new(eddy_reactor_t *r) {
  return eddy_deferred_new_cancellable(r, NULL, NULL);
}

/* ---- Firing ------------------------------------------------------------- */

static int refuse_fire(eddy_deferred_t *d, int attempted_err) {
  if (d->cancelled)
    return 0; /* the producer did not know it was cancelled */
  eddy_log(EDDY_LOG_ERROR, "deferred.already_fired", "err=%s attempted=%s",
           eddy_err_name(EDDY_EALREADYCALLED), eddy_err_name(attempted_err));
  return EDDY_EALREADYCALLED;
}

int eddy_deferred_fire(eddy_deferred_t *d, eddy_result_t *res) {
  eddy_result_t taken = *res;
  res->err = 0;
  res->value = NULL;
  res->free = NULL;
  res->msg = NULL;
  res->wait_on = NULL;
  /* A wait inside a refused result is not ours to take: left alone. */
  if (d == NULL || taken.err > 0) {
    result_dispose(&taken);
    return UV_EINVAL;
  }
  if (d->fired) {
    int err = taken.err;
    result_dispose(&taken);
    return refuse_fire(d, err);
  }
  if (taken.err == 0 && taken.msg != NULL) {
    free(taken.msg); /* a success has no message */
    taken.msg = NULL;
  }
  d->result = taken;
  d->fired = 1;
  run(d);
  return 0;
}

int eddy_deferred_callback(eddy_deferred_t *d, void *value,
                           eddy_free_cb free_fn) {
  eddy_result_t res = {0, value, free_fn, NULL, NULL};
  return eddy_deferred_fire(d, &res);
}

PRINTF_LIKE(3, 0)
static int errbackv(eddy_deferred_t *d, int err, const char *fmt, va_list ap) {
  if (d == NULL || err >= 0)
    return UV_EINVAL;
  if (d->fired)
    return refuse_fire(d, err); /* no need to format what is dropped */
  eddy_result_t res = {err, NULL, NULL, format_msg(fmt, ap), NULL};
  return eddy_deferred_fire(d, &res);
}

int eddy_deferred_errback(eddy_deferred_t *d, int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = errbackv(d, err, fmt, ap);
  va_end(ap);
  return rc;
}

eddy_deferred_t *eddy_deferred_succeed(eddy_reactor_t *r, void *value,
                                       eddy_free_cb free_fn) {
  eddy_deferred_t *d = eddy_deferred_new(r);
  if (d == NULL) {
    if (free_fn != NULL && value != NULL)
      free_fn(value);
    return NULL;
  }
  eddy_deferred_callback(d, value, free_fn);
  return d;
}

eddy_deferred_t *eddy_deferred_fail(eddy_reactor_t *r, int err, const char *fmt,
                                    ...) {
  eddy_deferred_t *d = eddy_deferred_new(r);
  if (d == NULL)
    return NULL;
  if (err >= 0) {
    eddy_deferred_errback(d, UV_EINVAL, "failure with error code %d", err);
    return d;
  }
  va_list ap;
  va_start(ap, fmt);
  errbackv(d, err, fmt, ap);
  va_end(ap);
  return d;
}

/* ---- Adding callbacks --------------------------------------------------- */

static int reserve(eddy_deferred_t *d, size_t extra) {
  if (d->cap - d->npairs >= extra)
    return 0;
  /* Pairs already run are dropped first: a chain that keeps appending from
   * its own callbacks then reuses the same array. */
  if (d->next > 0) {
    memmove(d->pairs, d->pairs + d->next,
            (d->npairs - d->next) * sizeof(pair_t));
    d->npairs -= d->next;
    d->next = 0;
    if (d->cap - d->npairs >= extra)
      return 0;
  }
  const size_t max = SIZE_MAX / sizeof(pair_t);
  if (extra > max - d->npairs)
    return UV_ENOMEM;
  size_t need = d->npairs + extra;
  size_t cap = d->cap <= max / 2 ? d->cap * 2 : max;
  if (cap < need)
    cap = need;
  pair_t *pairs = malloc(cap * sizeof(pair_t));
  if (pairs == NULL)
    return UV_ENOMEM;
  memcpy(pairs, d->pairs, d->npairs * sizeof(pair_t));
  if (d->pairs != d->inline_pairs)
    free(d->pairs);
  d->pairs = pairs;
  d->cap = cap;
  return 0;
}

int eddy__deferred_reserve(eddy_deferred_t *d, size_t extra) {
  return reserve(d, extra);
}

static int ready_to_run(const eddy_deferred_t *d) {
  return d->fired && !d->running && d->result.wait_on == NULL;
}

int eddy_deferred_add_callbacks(eddy_deferred_t *d, eddy_deferred_cb on_ok,
                                eddy_deferred_cb on_err, void *arg) {
  if (d == NULL)
    return UV_EINVAL;
  int rc = reserve(d, 1);
  if (rc != 0)
    return rc;
  d->pairs[d->npairs++] = (pair_t){on_ok, on_err, arg};
  /* From inside a running chain this only appends: the loop running it
   * reaches the new pair without recursion. */
  if (ready_to_run(d))
    run(d);
  return 0;
}

int eddy_deferred_add_callback(eddy_deferred_t *d, eddy_deferred_cb cb,
                               void *arg) {
  return eddy_deferred_add_callbacks(d, cb, NULL, arg);
}

int eddy_deferred_add_errback(eddy_deferred_t *d, eddy_deferred_cb cb,
                              void *arg) {
  return eddy_deferred_add_callbacks(d, NULL, cb, arg);
}

int eddy_deferred_add_both(eddy_deferred_t *d, eddy_deferred_cb cb, void *arg) {
  return eddy_deferred_add_callbacks(d, cb, cb, arg);
}

int eddy_deferred_chain(eddy_deferred_t *d, eddy_deferred_t *other) {
  if (d == NULL || other == NULL || d == other)
    return UV_EINVAL;
  int rc = reserve(d, 1);
  if (rc != 0)
    return rc;
  /* Held until the chain reaches it, so `other` cannot be freed first. */
  eddy_deferred_ref(other);
  d->pairs[d->npairs++] = (pair_t){chain_marker, chain_marker, other};
  if (ready_to_run(d))
    run(d);
  return 0;
}

/* ---- The run loop ------------------------------------------------------- */

/* Handles a wait set by the callback that just ran. Returns 1 when cur can
 * go on (the result is there, or the wait was refused), 0 when it pauses. */
static int resolve_wait(eddy_deferred_t *cur) {
  eddy_deferred_t *inner = cur->result.wait_on;
  /* The wait replaces whatever else the callback left in the result. */
  result_dispose(&cur->result);
  if (inner == cur || inner->taken) {
    cur->result.wait_on = NULL;
    eddy_result_fail(&cur->result, UV_EINVAL, "%s",
                     inner == cur ? "a deferred cannot wait on itself"
                                  : "deferred already taken over by another "
                                    "chain");
    return 1;
  }
  inner->taken = 1;
  if (ready_to_run(inner) && inner->next == inner->npairs) {
    /* Already finished: take its result now, no pause. */
    cur->result.wait_on = NULL;
    eddy__result_move(&cur->result, &inner->result);
    maybe_release(inner);
    return 1;
  }
  inner->waiter = cur;
  return 0;
}

/* The chain reached a point added by eddy_deferred_chain: moves the result
 * into `other`. Returns other, to be pushed, or NULL when it had fired. */
static eddy_deferred_t *fire_chained(eddy_deferred_t *cur,
                                     eddy_deferred_t *other) {
  eddy_result_t res = {0, NULL, NULL, NULL, NULL};
  eddy__result_move(&res, &cur->result);
  if (other->fired) {
    int err = res.err;
    result_dispose(&res);
    refuse_fire(other, err);
    eddy_deferred_unref(other);
    return NULL;
  }
  eddy__result_move(&other->result, &res);
  other->fired = 1;
  other->running = 1; /* before the unref, so it is not released */
  eddy_deferred_unref(other);
  return other;
}

static void finish(eddy_deferred_t *d) {
  if (d->pairs != d->inline_pairs && d->cap > KEEP_PAIRS) {
    free(d->pairs);
    d->pairs = d->inline_pairs;
    d->cap = INLINE_PAIRS;
  }
  d->npairs = 0;
  d->next = 0;
}

/* Callers check ready_to_run() first, except a fire, whose result may carry
 * a wait not yet taken up. */
static void run(eddy_deferred_t *d) {
  if (!d->fired || d->running)
    return;
  d->running = 1;
  d->below = NULL;
  eddy_deferred_t *top = d;
  while (top != NULL) {
    eddy_deferred_t *cur = top;
    eddy_deferred_t *pushed = NULL;
    while (pushed == NULL) {
      if (cur->result.wait_on != NULL) {
        if (!resolve_wait(cur))
          break;
        continue;
      }
      if (cur->next == cur->npairs)
        break;
      /* Copied out: the callback may append pairs and move the array. */
      pair_t p = cur->pairs[cur->next++];
      if (p.on_ok == chain_marker) {
        pushed = fire_chained(cur, p.arg);
        continue;
      }
      eddy_deferred_cb cb = cur->result.err != 0 ? p.on_err : p.on_ok;
      if (cb != NULL)
        cb(&cur->result, p.arg);
    }
    if (pushed != NULL) {
      /* cur stays running underneath and resumes after pushed's chain. */
      pushed->below = cur;
      top = pushed;
      continue;
    }
    top = cur->below;
    cur->below = NULL;
    cur->running = 0;
    if (cur->result.wait_on != NULL)
      continue; /* paused: its inner deferred pushes it again */
    finish(cur);
    eddy_deferred_t *w = cur->waiter;
    if (w != NULL) {
      cur->waiter = NULL;
      w->result.wait_on = NULL;
      eddy__result_move(&w->result, &cur->result);
      w->running = 1;
      w->below = top;
      top = w;
    }
    maybe_release(cur);
  }
}

/* ---- Cancelling and inspecting ------------------------------------------ */

static void cancel_unfired(eddy_deferred_t *d) {
  if (d->cancelled)
    return; /* already being cancelled: a canceller that cancels again */
  d->cancelled = 1;
  if (d->canceller != NULL)
    d->canceller(d, d->canceller_arg);
  if (!d->fired)
    eddy_deferred_errback(d, UV_ECANCELED, NULL);
}

void eddy_deferred_cancel(eddy_deferred_t *d) {
  /* Down a nest of waits by iteration: a deep nest must not recurse. */
  while (d != NULL) {
    if (!d->fired) {
      cancel_unfired(d);
      return;
    }
    if (d->running || d->result.wait_on == NULL)
      return;
    d = d->result.wait_on;
  }
}

int eddy_deferred_fired(const eddy_deferred_t *d) {
  return d->fired;
}

int eddy_deferred_done(const eddy_deferred_t *d) {
  return ready_to_run(d);
}

const eddy_result_t *eddy_deferred_result(const eddy_deferred_t *d) {
  return &d->result;
}

eddy_reactor_t *eddy_deferred_reactor(const eddy_deferred_t *d) {
  return d->reactor;
}

int eddy__deferred_taken(const eddy_deferred_t *d) {
  return d->taken;
}

void eddy__deferred_set_taken(eddy_deferred_t *d, int taken) {
  d->taken = taken != 0;
}
