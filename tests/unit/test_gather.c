/* test_gather.c — eddy_gather and eddy_deferred_list. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

/* ---- Helpers ------------------------------------------------------------ */

static int n_freed;

static void count_free(void *p) {
  n_freed++;
  free(p);
}

static int *new_int(int v) {
  int *p = malloc(sizeof(*p));
  cr_assert_not_null(p);
  *p = v;
  return p;
}

static int unhandled;
static char last_unhandled[4096];

static void copy_line(char *dst, size_t size, const char *line) {
  size_t len = strlen(line);
  if (len >= size)
    len = size - 1;
  memcpy(dst, line, len);
  dst[len] = '\0';
}

static void log_sink(eddy_log_level_t level, const char *line, void *arg) {
  (void)level;
  (void)arg;
  if (strstr(line, "event=deferred.unhandled") != NULL) {
    unhandled++;
    copy_line(last_unhandled, sizeof(last_unhandled), line);
  }
}

static eddy_reactor_t *setup(void) {
  n_freed = 0;
  unhandled = 0;
  eddy_log_to_sink(log_sink, NULL);
  return test_reactor(EDDY_REACTOR_FAKE_CLOCK);
}

typedef struct {
  int calls;
  int fire_err;
} canceller_t;

static void canceller(eddy_deferred_t *d, void *arg) {
  canceller_t *c = arg;
  (void)d;
  c->calls++;
}

/* What the output fired with, copied out. The results list is taken out of
 * the chain so a test can read it at leisure; it frees it with
 * eddy_results_free. */
typedef struct {
  int calls;
  int err;
  char msg[256];
  eddy_results_t *list;
  void *value;
} out_t;

static void on_out(eddy_result_t *res, void *arg) {
  out_t *o = arg;
  o->calls++;
  o->err = res->err;
  snprintf(o->msg, sizeof(o->msg), "%s", eddy_result_message(res));
  if (res->err == 0) {
    o->list = eddy_result_take(res);
  } else {
    o->value = eddy_result_take(res);
    eddy_result_recover(res);
  }
}

static int item_int(const eddy_results_t *l, size_t i) {
  cr_assert_lt(i, l->count);
  cr_assert_eq(l->items[i].err, 0);
  cr_assert_not_null(l->items[i].value);
  return *(int *)l->items[i].value;
}

static void make_inputs(eddy_reactor_t *r, eddy_deferred_t **ds, size_t n,
                        canceller_t *cs) {
  for (size_t i = 0; i < n; i++) {
    ds[i] = cs != NULL ? eddy_deferred_new_cancellable(r, canceller, &cs[i])
                       : eddy_deferred_new(r);
    cr_assert_not_null(ds[i]);
  }
}

/* ---- gather ------------------------------------------------------------- */

Test(gather, results_in_input_order) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *ds[3];
  make_inputs(r, ds, 3, NULL);
  eddy_deferred_t *g = eddy_gather(r, ds, 3);
  cr_assert_not_null(g);
  out_t o = {0};
  eddy_deferred_add_both(g, on_out, &o);
  eddy_deferred_callback(ds[2], new_int(20), count_free);
  eddy_deferred_callback(ds[0], new_int(0), count_free);
  cr_assert_eq(o.calls, 0);
  eddy_deferred_callback(ds[1], new_int(10), count_free);
  cr_assert_eq(o.calls, 1);
  cr_assert_eq(o.err, 0);
  cr_assert_not_null(o.list);
  cr_assert_eq(o.list->count, 3);
  cr_assert_eq(o.list->index, SIZE_MAX);
  for (size_t i = 0; i < 3; i++)
    cr_assert_eq(item_int(o.list, i), (int)i * 10);
  cr_assert_eq(n_freed, 0, "the values moved into the list");
  eddy_results_free(o.list);
  cr_assert_eq(n_freed, 3);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 3);
  cr_assert_eq(unhandled, 0);
}

Test(gather, inputs_already_fired_fire_it_at_once) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *ds[2] = {eddy_deferred_succeed(r, new_int(1), count_free),
                            eddy_deferred_succeed(r, new_int(2), count_free)};
  eddy_deferred_t *g = eddy_gather(r, ds, 2);
  cr_assert(eddy_deferred_done(g));
  out_t o = {0};
  eddy_deferred_add_callback(g, on_out, &o);
  cr_assert_eq(item_int(o.list, 0), 1);
  cr_assert_eq(item_int(o.list, 1), 2);
  eddy_results_free(o.list);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 2);
}

Test(gather, first_failure_wins_and_cancels_the_others) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *ds[4];
  canceller_t cs[4] = {0};
  make_inputs(r, ds, 4, cs);
  eddy_deferred_t *g = eddy_gather(r, ds, 4);
  out_t o = {0};
  eddy_deferred_add_both(g, on_out, &o);
  eddy_deferred_callback(ds[0], new_int(0), count_free);
  eddy_result_t fail = {UV_ECONNREFUSED, new_int(99), count_free,
                        strdup("nope"), NULL};
  eddy_deferred_fire(ds[2], &fail);
  cr_assert_eq(o.calls, 1);
  cr_assert_eq(o.err, UV_ECONNREFUSED);
  cr_assert_str_eq(o.msg, "deferred 2: nope");
  cr_assert_not_null(o.value, "the failure's detail value moved along");
  cr_assert_eq(*(int *)o.value, 99);
  count_free(o.value);
  cr_assert_eq(cs[0].calls, 0, "already fired: not cancelled");
  cr_assert_eq(cs[1].calls, 1);
  cr_assert_eq(cs[2].calls, 0);
  cr_assert_eq(cs[3].calls, 1);
  cr_assert_eq(eddy_deferred_result(ds[1])->err, 0, "failure consumed");
  /* A producer that fires a cancelled input later is ignored. */
  cr_assert_eq(eddy_deferred_callback(ds[3], new_int(3), count_free), 0);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 3, "0 with the list, 99 by us, 3 when refused");
  cr_assert_eq(unhandled, 0, "the inputs' failures are consumed");
}

Test(gather, cancel_cancels_every_input) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *ds[3];
  canceller_t cs[3] = {0};
  make_inputs(r, ds, 3, cs);
  eddy_deferred_t *g = eddy_gather(r, ds, 3);
  out_t o = {0};
  eddy_deferred_add_both(g, on_out, &o);
  eddy_deferred_cancel(g);
  cr_assert_eq(o.calls, 1);
  cr_assert_eq(o.err, UV_ECANCELED);
  for (int i = 0; i < 3; i++)
    cr_assert_eq(cs[i].calls, 1, "input %d", i);
  eddy_deferred_cancel(g); /* fired now: nothing more */
  for (int i = 0; i < 3; i++)
    cr_assert_eq(cs[i].calls, 1);
  test_close_reactor(r);
  cr_assert_eq(unhandled, 0);
}

static void wait_on(eddy_result_t *res, void *arg) {
  eddy_result_wait(res, arg);
}

Test(gather, cancel_reaches_an_input_waiting_on_another) {
  eddy_reactor_t *r = setup();
  canceller_t c = {0};
  eddy_deferred_t *leaf = eddy_deferred_new_cancellable(r, canceller, &c);
  eddy_deferred_t *ds[1] = {eddy_deferred_new(r)};
  eddy_deferred_add_callback(ds[0], wait_on, leaf);
  eddy_deferred_callback(ds[0], NULL, NULL);
  eddy_deferred_t *g = eddy_gather(r, ds, 1);
  out_t o = {0};
  eddy_deferred_add_both(g, on_out, &o);
  eddy_deferred_cancel(g);
  cr_assert_eq(c.calls, 1);
  cr_assert_eq(o.err, UV_ECANCELED);
  test_close_reactor(r);
  cr_assert_eq(unhandled, 0);
}

Test(gather, no_inputs_fires_at_once_with_empty_list) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *g = eddy_gather(r, NULL, 0);
  cr_assert_not_null(g);
  cr_assert(eddy_deferred_done(g));
  out_t o = {0};
  eddy_deferred_add_callback(g, on_out, &o);
  cr_assert_eq(o.calls, 1);
  cr_assert_not_null(o.list);
  cr_assert_eq(o.list->count, 0);
  eddy_results_free(o.list);
  eddy_results_free(NULL);
  test_close_reactor(r);
}

Test(gather, bad_input_fails_and_leaves_inputs_alone) {
  eddy_reactor_t *r = setup();
  out_t o1 = {0}, o2 = {0}, o3 = {0};
  eddy_deferred_add_both(eddy_gather(r, NULL, 2), on_out, &o1);
  cr_assert_eq(o1.err, UV_EINVAL);

  eddy_deferred_t *a = eddy_deferred_new(r);
  eddy_deferred_t *twice[3] = {a, eddy_deferred_new(r), a};
  eddy_deferred_add_both(eddy_gather(r, twice, 3), on_out, &o2);
  cr_assert_eq(o2.err, UV_EINVAL);

  /* An input already waited on by a chain belongs to that chain. */
  eddy_deferred_t *outer = eddy_deferred_new(r);
  eddy_deferred_add_callback(outer, wait_on, twice[1]);
  eddy_deferred_callback(outer, NULL, NULL);
  eddy_deferred_t *taken[1] = {twice[1]};
  eddy_deferred_add_both(eddy_gather(r, taken, 1), on_out, &o3);
  cr_assert_eq(o3.err, UV_EINVAL);

  /* Untouched: a can still be gathered, and used. */
  eddy_deferred_t *again[1] = {a};
  out_t o4 = {0};
  eddy_deferred_add_both(eddy_gather(r, again, 1), on_out, &o4);
  eddy_deferred_callback(a, new_int(1), count_free);
  cr_assert_eq(item_int(o4.list, 0), 1);
  eddy_results_free(o4.list);
  eddy_deferred_callback(twice[1], NULL, NULL);
  cr_assert(eddy_deferred_done(outer));
  test_close_reactor(r);
  cr_assert_eq(unhandled, 0);
  cr_assert_eq(n_freed, 1);
}

Test(gather, null_input_counts_as_out_of_memory) {
  eddy_reactor_t *r = setup();
  canceller_t cs[1] = {0};
  eddy_deferred_t *ds[2];
  make_inputs(r, ds, 1, cs);
  ds[1] = NULL;
  eddy_deferred_t *g = eddy_gather(r, ds, 2);
  out_t o = {0};
  eddy_deferred_add_both(g, on_out, &o);
  cr_assert_eq(o.err, UV_ENOMEM);
  cr_assert(strncmp(o.msg, "deferred 1: ", 12) == 0, "%s", o.msg);
  cr_assert_eq(cs[0].calls, 1);
  test_close_reactor(r);
  cr_assert_eq(unhandled, 0);
}

Test(gather, many_inputs) {
  enum { N = 2000 };
  eddy_reactor_t *r = setup();
  eddy_deferred_t **ds = calloc(N, sizeof(*ds));
  cr_assert_not_null(ds);
  make_inputs(r, ds, N, NULL);
  eddy_deferred_t *g = eddy_gather(r, ds, N);
  out_t o = {0};
  eddy_deferred_add_both(g, on_out, &o);
  for (size_t i = N; i-- > 0;)
    eddy_deferred_callback(ds[i], new_int((int)i), count_free);
  cr_assert_eq(o.list->count, N);
  for (size_t i = 0; i < N; i++)
    cr_assert_eq(item_int(o.list, i), (int)i);
  eddy_results_free(o.list);
  free(ds);
  test_close_reactor(r);
  cr_assert_eq(n_freed, N);
}

/* ---- eddy_deferred_list ------------------------------------------------- */

static eddy_deferred_t *mixed_list(eddy_reactor_t *r, unsigned flags,
                                   out_t *o) {
  eddy_deferred_t *ds[3];
  make_inputs(r, ds, 3, NULL);
  eddy_deferred_t *l = eddy_deferred_list(r, ds, 3, flags);
  cr_assert_not_null(l);
  eddy_deferred_add_both(l, on_out, o);
  eddy_deferred_callback(ds[0], new_int(0), count_free);
  eddy_result_t fail = {UV_EPIPE, new_int(5), count_free, strdup("broken"),
                        NULL};
  eddy_deferred_fire(ds[1], &fail);
  cr_assert_eq(o->calls, 0);
  eddy_deferred_callback(ds[2], new_int(2), count_free);
  return l;
}

static void check_mixed(const out_t *o) {
  cr_assert_eq(o->calls, 1);
  cr_assert_eq(o->err, 0);
  cr_assert_eq(o->list->count, 3);
  cr_assert_eq(o->list->index, SIZE_MAX);
  cr_assert_eq(item_int(o->list, 0), 0);
  cr_assert_eq(o->list->items[1].err, UV_EPIPE);
  cr_assert_str_eq(eddy_result_message(&o->list->items[1]), "broken");
  cr_assert_eq(*(int *)o->list->items[1].value, 5);
  cr_assert_eq(item_int(o->list, 2), 2);
}

Test(deferred_list, waits_for_all_and_keeps_failures_unhandled) {
  eddy_reactor_t *r = setup();
  out_t o = {0};
  mixed_list(r, 0, &o);
  check_mixed(&o);
  eddy_results_free(o.list);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 3);
  cr_assert_eq(unhandled, 1, "the failing input still reports its failure");
  cr_assert(strstr(last_unhandled, "broken") != NULL, "%s", last_unhandled);
}

Test(deferred_list, consume_errors_handles_the_inputs_failures) {
  eddy_reactor_t *r = setup();
  out_t o = {0};
  mixed_list(r, EDDY_DL_CONSUME_ERRORS, &o);
  check_mixed(&o);
  eddy_results_free(o.list);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 3);
  cr_assert_eq(unhandled, 0);
}

Test(deferred_list, fire_on_one_callback) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *ds[3];
  canceller_t cs[3] = {0};
  make_inputs(r, ds, 3, cs);
  eddy_deferred_t *l = eddy_deferred_list(
      r, ds, 3, EDDY_DL_FIRE_ON_ONE_CALLBACK | EDDY_DL_CONSUME_ERRORS);
  out_t o = {0};
  eddy_deferred_add_both(l, on_out, &o);
  eddy_deferred_errback(ds[0], UV_EIO, "first failed");
  cr_assert_eq(o.calls, 0, "a failure does not fire it");
  eddy_deferred_callback(ds[1], new_int(1), count_free);
  cr_assert_eq(o.calls, 1);
  cr_assert_eq(o.err, 0);
  cr_assert_eq(o.list->index, 1);
  cr_assert_eq(o.list->items[0].err, UV_EIO);
  cr_assert_eq(item_int(o.list, 1), 1);
  cr_assert_eq(o.list->items[2].err, 0, "not fired yet: empty success");
  cr_assert_null(o.list->items[2].value);
  for (int i = 0; i < 3; i++)
    cr_assert_eq(cs[i].calls, 0, "nothing is cancelled");
  eddy_results_free(o.list);
  cr_assert_eq(n_freed, 1);
  /* Late: the value goes with its input; the failure is consumed. */
  eddy_deferred_callback(ds[2], new_int(2), count_free);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 2);
  cr_assert_eq(unhandled, 0);
}

Test(deferred_list, fire_on_one_callback_without_success_waits_for_all) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *ds[2];
  make_inputs(r, ds, 2, NULL);
  eddy_deferred_t *l = eddy_deferred_list(
      r, ds, 2, EDDY_DL_FIRE_ON_ONE_CALLBACK | EDDY_DL_CONSUME_ERRORS);
  out_t o = {0};
  eddy_deferred_add_both(l, on_out, &o);
  eddy_deferred_errback(ds[0], UV_EIO, NULL);
  eddy_deferred_errback(ds[1], UV_EIO, NULL);
  cr_assert_eq(o.calls, 1);
  cr_assert_eq(o.list->index, SIZE_MAX);
  cr_assert_eq(o.list->items[0].err, UV_EIO);
  cr_assert_eq(o.list->items[1].err, UV_EIO);
  eddy_results_free(o.list);
  test_close_reactor(r);
  cr_assert_eq(unhandled, 0);
}

Test(deferred_list, late_failure_reported_on_input_without_consume) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *ds[2];
  make_inputs(r, ds, 2, NULL);
  eddy_deferred_t *l =
      eddy_deferred_list(r, ds, 2, EDDY_DL_FIRE_ON_ONE_CALLBACK);
  out_t o = {0};
  eddy_deferred_add_both(l, on_out, &o);
  eddy_deferred_callback(ds[0], NULL, NULL);
  cr_assert_eq(o.calls, 1);
  eddy_deferred_errback(ds[1], UV_EIO, "late failure");
  eddy_results_free(o.list);
  test_close_reactor(r);
  cr_assert_eq(unhandled, 1);
  cr_assert(strstr(last_unhandled, "late failure") != NULL);
}

Test(deferred_list, fire_on_one_errback) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *ds[3];
  canceller_t cs[3] = {0};
  make_inputs(r, ds, 3, cs);
  eddy_deferred_t *l =
      eddy_deferred_list(r, ds, 3, EDDY_DL_FIRE_ON_ONE_ERRBACK);
  out_t o = {0};
  eddy_deferred_add_both(l, on_out, &o);
  eddy_deferred_callback(ds[0], new_int(0), count_free);
  cr_assert_eq(n_freed, 0);
  eddy_deferred_errback(ds[1], UV_ETIMEDOUT, "slow");
  cr_assert_eq(o.calls, 1);
  cr_assert_eq(o.err, UV_ETIMEDOUT);
  cr_assert_str_eq(o.msg, "deferred 1: slow");
  cr_assert_eq(n_freed, 1, "the partial list was freed");
  for (int i = 0; i < 3; i++)
    cr_assert_eq(cs[i].calls, 0, "a list cancels nothing on failure");
  eddy_deferred_callback(ds[2], new_int(2), count_free);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 2);
  cr_assert_eq(unhandled, 1, "without CONSUME_ERRORS the input reports it");
  cr_assert(strstr(last_unhandled, "message=slow") != NULL, "%s",
            last_unhandled);
}

Test(deferred_list, fire_on_one_errback_consuming) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *ds[2];
  make_inputs(r, ds, 2, NULL);
  eddy_deferred_t *l = eddy_deferred_list(
      r, ds, 2, EDDY_DL_FIRE_ON_ONE_ERRBACK | EDDY_DL_CONSUME_ERRORS);
  out_t o = {0};
  eddy_deferred_add_both(l, on_out, &o);
  eddy_deferred_errback(ds[1], UV_ETIMEDOUT, "slow");
  eddy_deferred_errback(ds[0], UV_EIO, "late and consumed");
  cr_assert_str_eq(o.msg, "deferred 1: slow");
  test_close_reactor(r);
  cr_assert_eq(unhandled, 0);
}

Test(deferred_list, fire_on_one_errback_all_succeed) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *ds[2];
  make_inputs(r, ds, 2, NULL);
  eddy_deferred_t *l =
      eddy_deferred_list(r, ds, 2, EDDY_DL_FIRE_ON_ONE_ERRBACK);
  out_t o = {0};
  eddy_deferred_add_both(l, on_out, &o);
  eddy_deferred_callback(ds[1], new_int(1), count_free);
  eddy_deferred_callback(ds[0], new_int(0), count_free);
  cr_assert_eq(o.err, 0);
  cr_assert_eq(o.list->index, SIZE_MAX);
  cr_assert_eq(item_int(o.list, 0), 0);
  cr_assert_eq(item_int(o.list, 1), 1);
  eddy_results_free(o.list);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 2);
}

Test(deferred_list, cancel_cancels_inputs_and_fires_with_their_results) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *ds[3];
  canceller_t cs[3] = {0};
  make_inputs(r, ds, 3, cs);
  eddy_deferred_t *l = eddy_deferred_list(r, ds, 3, EDDY_DL_CONSUME_ERRORS);
  out_t o = {0};
  eddy_deferred_add_both(l, on_out, &o);
  eddy_deferred_callback(ds[0], new_int(0), count_free);
  eddy_deferred_cancel(l);
  cr_assert_eq(cs[0].calls, 0);
  cr_assert_eq(cs[1].calls, 1);
  cr_assert_eq(cs[2].calls, 1);
  cr_assert_eq(o.calls, 1);
  cr_assert_eq(o.err, 0, "every input settled, so the list fired as usual");
  cr_assert_eq(item_int(o.list, 0), 0);
  cr_assert_eq(o.list->items[1].err, UV_ECANCELED);
  cr_assert_eq(o.list->items[2].err, UV_ECANCELED);
  eddy_results_free(o.list);
  test_close_reactor(r);
  cr_assert_eq(unhandled, 0);
  cr_assert_eq(n_freed, 1);
}

static void on_err_wait_on(eddy_result_t *res, void *arg) {
  eddy_result_wait(res, arg);
}

Test(deferred_list, cancel_fires_ecanceled_when_inputs_do_not_settle) {
  eddy_reactor_t *r = setup();
  /* mid waits on inner; when cancelled, inner's errback waits on y, so
   * cancelling does not settle mid until y fires. */
  eddy_deferred_t *y = eddy_deferred_new(r);
  eddy_deferred_t *inner = eddy_deferred_new(r);
  eddy_deferred_t *mid = eddy_deferred_new(r);
  eddy_deferred_add_errback(inner, on_err_wait_on, y);
  eddy_deferred_add_callback(mid, wait_on, inner);
  eddy_deferred_callback(mid, NULL, NULL);
  eddy_deferred_t *ds[2] = {mid, eddy_deferred_new(r)};
  eddy_deferred_t *l = eddy_deferred_list(r, ds, 2, EDDY_DL_CONSUME_ERRORS);
  out_t o = {0};
  eddy_deferred_add_both(l, on_out, &o);
  eddy_deferred_cancel(l);
  cr_assert_eq(o.calls, 1);
  cr_assert_eq(o.err, UV_ECANCELED);
  cr_assert_not(eddy_deferred_done(mid));
  /* Settles after the list fired: its value goes with the input. */
  eddy_deferred_callback(y, new_int(7), count_free);
  cr_assert(eddy_deferred_done(mid));
  cr_assert_eq(n_freed, 0);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 1);
  cr_assert_eq(unhandled, 0);
}

Test(deferred_list, no_inputs_and_bad_flags) {
  eddy_reactor_t *r = setup();
  out_t o = {0}, bad = {0};
  eddy_deferred_add_both(eddy_deferred_list(r, NULL, 0, 0), on_out, &o);
  cr_assert_eq(o.calls, 1);
  cr_assert_eq(o.list->count, 0);
  eddy_results_free(o.list);
  eddy_deferred_t *ds[1];
  make_inputs(r, ds, 1, NULL);
  eddy_deferred_add_both(eddy_deferred_list(r, ds, 1, 1u << 9), on_out, &bad);
  cr_assert_eq(bad.err, UV_EINVAL);
  eddy_deferred_callback(ds[0], NULL, NULL);
  test_close_reactor(r);
}
