/* gather.c — eddy_gather and eddy_deferred_list (Twisted's DeferredList).
 *
 * Both are one engine: a list state with one slot per input. Each input gets
 * a last callback pair that delivers its result to its slot; the state keeps
 * a reference on every input until it delivers (so cancelling can reach it)
 * and on the output deferred until it fires. Delivering may re-enter the
 * state (firing the output runs user code; cancelling an input delivers it
 * at once), so the state is freed only when no call of ours is on the stack.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/deferred_internal.h"
#include "eddy/error.h"

/* gather's own rule on top of DeferredList's: cancel the rest on failure. */
#define CANCEL_OTHERS (1u << 16)
#define PUBLIC_FLAGS                                                           \
  (EDDY_DL_FIRE_ON_ONE_CALLBACK | EDDY_DL_FIRE_ON_ONE_ERRBACK |                \
   EDDY_DL_CONSUME_ERRORS)

typedef struct list_s list_t;

typedef struct {
  list_t *list;
  eddy_deferred_t *d; /* until it delivers; referenced */
  size_t index;
  int delivered;
} slot_t;

struct list_s {
  eddy_deferred_t *out;    /* until it is fired; referenced */
  eddy_results_t *results; /* until the output fires with it */
  unsigned flags;
  unsigned busy;    /* our calls on the stack */
  size_t remaining; /* inputs not delivered yet */
  size_t n;
  slot_t slots[];
};

void eddy_results_free(void *p) {
  eddy_results_t *results = p;
  if (results == NULL)
    return;
  for (size_t i = 0; i < results->count; i++)
    eddy_result_clear(&results->items[i]);
  free(results);
}

static eddy_results_t *results_new(size_t n) {
  if (n > (SIZE_MAX - sizeof(eddy_results_t)) / sizeof(eddy_result_t))
    return NULL;
  eddy_results_t *results =
      calloc(1, sizeof(eddy_results_t) + n * sizeof(eddy_result_t));
  if (results == NULL)
    return NULL;
  results->count = n;
  results->index = SIZE_MAX;
  return results;
}

static void maybe_free(list_t *l) {
  if (l->busy == 0 && l->remaining == 0 && l->out == NULL)
    free(l);
}

/* Detaches the output from the state: from now on deliveries are only
 * disposed of. */
static eddy_deferred_t *detach_out(list_t *l, eddy_results_t **results) {
  eddy_deferred_t *out = l->out;
  l->out = NULL;
  if (results != NULL)
    *results = l->results;
  else
    eddy_results_free(l->results);
  l->results = NULL;
  return out;
}

static void cancel_pending(list_t *l) {
  for (size_t i = 0; i < l->n; i++) {
    slot_t *s = &l->slots[i];
    if (!s->delivered && s->d != NULL)
      eddy_deferred_cancel(s->d);
  }
}

static void fire_list(list_t *l) {
  eddy_results_t *results;
  eddy_deferred_t *out = detach_out(l, &results);
  eddy_deferred_callback(out, results, eddy_results_free);
  eddy_deferred_unref(out);
}

static void fail_list(list_t *l, size_t index, eddy_result_t *res) {
  eddy_result_t failure = {0, NULL, NULL, NULL, NULL};
  eddy_result_fail(&failure, res->err, "deferred %zu: %s", index,
                   eddy_result_message(res));
  failure.value = res->value;
  failure.free = res->free;
  res->value = NULL;
  res->free = NULL;
  if (l->flags & EDDY_DL_CONSUME_ERRORS)
    eddy_result_clear(res);
  eddy_deferred_t *out = detach_out(l, NULL);
  /* The others settle before the output's callbacks run, so those see
   * every input finished. */
  if (l->flags & CANCEL_OTHERS)
    cancel_pending(l);
  eddy_deferred_fire(out, &failure);
  eddy_deferred_unref(out);
}

/* A failure kept in the list. Without CONSUME_ERRORS the input keeps its
 * failure too (a copy of the message), so it is still reported unhandled. */
static void record_failure(list_t *l, eddy_result_t *item, eddy_result_t *res) {
  item->err = res->err;
  item->value = res->value;
  item->free = res->free;
  res->value = NULL;
  res->free = NULL;
  if (l->flags & EDDY_DL_CONSUME_ERRORS) {
    item->msg = res->msg;
    res->msg = NULL;
    res->err = 0;
  } else if (res->msg != NULL) {
    item->msg = strdup(res->msg); /* NULL: the error's text stands in */
  }
}

static void deliver(list_t *l, slot_t *s, eddy_result_t *res) {
  l->busy++;
  s->delivered = 1;
  l->remaining--;
  eddy_deferred_t *d = s->d;
  s->d = NULL;
  if (l->out == NULL) {
    /* The output has fired: a success's value goes with its input; a
     * failure is handled only when errors are consumed. */
    if (res->err != 0 && (l->flags & EDDY_DL_CONSUME_ERRORS))
      eddy_result_clear(res);
  } else if (res->err == 0) {
    eddy__result_move(&l->results->items[s->index], res);
    if (l->flags & EDDY_DL_FIRE_ON_ONE_CALLBACK) {
      l->results->index = s->index;
      fire_list(l);
    } else if (l->remaining == 0) {
      fire_list(l);
    }
  } else if (l->flags & EDDY_DL_FIRE_ON_ONE_ERRBACK) {
    fail_list(l, s->index, res);
  } else {
    record_failure(l, &l->results->items[s->index], res);
    if (l->remaining == 0)
      fire_list(l);
  }
  eddy_deferred_unref(d);
  l->busy--;
  maybe_free(l);
}

static void on_input(eddy_result_t *res, void *arg) {
  slot_t *s = arg;
  deliver(s->list, s, res);
}

/* A slot whose input could not be attached (or was NULL: an API out of
 * memory) fails with UV_ENOMEM. */
static void deliver_enomem(list_t *l, slot_t *s) {
  eddy_result_t res = {UV_ENOMEM, NULL, NULL, NULL, NULL};
  deliver(l, s, &res);
  eddy_result_clear(&res); /* no deferred to report it on */
}

static void list_cancel(eddy_deferred_t *d, void *arg) {
  (void)d;
  list_t *l = arg;
  l->busy++;
  cancel_pending(l);
  /* The inputs did not settle the output: eddy_deferred_cancel fails it
   * with UV_ECANCELED when this returns. */
  if (l->out != NULL)
    eddy_deferred_unref(detach_out(l, NULL));
  l->busy--;
  maybe_free(l);
}

static eddy_deferred_t *make_list(eddy_reactor_t *r, eddy_deferred_t **ds,
                                  size_t n, unsigned flags) {
  if (n > 0 && ds == NULL)
    return eddy_deferred_fail(r, UV_EINVAL, "no input deferreds given");
  for (size_t i = 0; i < n; i++) {
    if (ds[i] != NULL && eddy__deferred_taken(ds[i]))
      return eddy_deferred_fail(r, UV_EINVAL, "deferred %zu already taken over",
                                i);
  }
  /* The same deferred twice: marking them is how it shows. */
  for (size_t i = 0; i < n; i++) {
    if (ds[i] == NULL)
      continue;
    if (eddy__deferred_taken(ds[i])) {
      for (size_t j = 0; j < i; j++)
        if (ds[j] != NULL)
          eddy__deferred_set_taken(ds[j], 0);
      return eddy_deferred_fail(r, UV_EINVAL, "deferred %zu given twice", i);
    }
    eddy__deferred_set_taken(ds[i], 1);
  }

  eddy_results_t *results = results_new(n);
  list_t *l = NULL;
  eddy_deferred_t *out = NULL;
  if (results == NULL)
    goto oom;
  if (n == 0) {
    /* Nothing to wait for; n == 0 took nothing over. */
    return eddy_deferred_succeed(r, results, eddy_results_free);
  }
  if (n > (SIZE_MAX - sizeof(list_t)) / sizeof(slot_t))
    goto oom;
  l = calloc(1, sizeof(list_t) + n * sizeof(slot_t));
  if (l == NULL)
    goto oom;
  out = eddy_deferred_new_cancellable(r, list_cancel, l);
  if (out == NULL)
    goto oom;
  /* Room for our pair on every input first, so that failing leaves the
   * inputs as they were. */
  for (size_t i = 0; i < n; i++)
    if (ds[i] != NULL && eddy__deferred_reserve(ds[i], 1) != 0)
      goto oom;

  l->out = eddy_deferred_ref(out);
  l->results = results;
  l->flags = flags;
  l->n = n;
  l->remaining = n;
  l->busy = 1;
  for (size_t i = 0; i < n; i++) {
    l->slots[i].list = l;
    l->slots[i].index = i;
    l->slots[i].d = eddy_deferred_ref(ds[i]);
  }
  for (size_t i = 0; i < n; i++) {
    slot_t *s = &l->slots[i];
    if (s->delivered)
      continue;
    /* Inputs that already fired deliver at once, inside this call. */
    if (s->d == NULL || eddy_deferred_add_both(s->d, on_input, s) != 0)
      deliver_enomem(l, s);
  }
  l->busy--;
  maybe_free(l);
  return out;

oom:
  for (size_t i = 0; i < n; i++)
    if (ds[i] != NULL)
      eddy__deferred_set_taken(ds[i], 0);
  if (out != NULL) {
    /* Never seen by anyone: fired quietly so it can be released. */
    eddy_deferred_callback(out, NULL, NULL);
  }
  free(l);
  eddy_results_free(results);
  return NULL;
}

eddy_deferred_t *eddy_gather(eddy_reactor_t *r, eddy_deferred_t **ds,
                             size_t n) {
  return make_list(r, ds, n,
                   EDDY_DL_FIRE_ON_ONE_ERRBACK | EDDY_DL_CONSUME_ERRORS |
                       CANCEL_OTHERS);
}

eddy_deferred_t *eddy_deferred_list(eddy_reactor_t *r, eddy_deferred_t **ds,
                                    size_t n, unsigned flags) {
  if (flags & ~(unsigned)PUBLIC_FLAGS)
    return eddy_deferred_fail(r, UV_EINVAL, "unknown deferred list flags %#x",
                              flags);
  return make_list(r, ds, n, flags);
}
