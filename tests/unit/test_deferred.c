/* test_deferred.c — deferreds: firing, chains, waits, cancel, lifetime. */
#include <stdlib.h>
#include <string.h>

#include "support.h"

/* ---- Helpers ------------------------------------------------------------ */

/* Every value in these tests is an int freed through count_free, so a test
 * can prove each value is freed exactly once (ASan catches the rest). */
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

static int int_of(const eddy_result_t *res) {
  cr_assert_not_null(res->value);
  return *(int *)res->value;
}

typedef struct {
  int unhandled;
  int already_fired;
  int open_object;
  char last_unhandled[4096];
} logcap_t;

static logcap_t logs;

static void copy_line(char *dst, size_t size, const char *line) {
  size_t len = strlen(line);
  if (len >= size)
    len = size - 1;
  memcpy(dst, line, len);
  dst[len] = '\0';
}

static void log_sink(eddy_log_level_t level, const char *line, void *arg) {
  logcap_t *c = arg;
  (void)level;
  if (strstr(line, "event=deferred.unhandled") != NULL) {
    c->unhandled++;
    copy_line(c->last_unhandled, sizeof(c->last_unhandled), line);
  }
  if (strstr(line, "event=deferred.already_fired") != NULL)
    c->already_fired++;
  if (strstr(line, "event=reactor.open_object") != NULL &&
      strstr(line, "kind=deferred") != NULL)
    c->open_object++;
}

static eddy_reactor_t *setup(void) {
  memset(&logs, 0, sizeof(logs));
  n_freed = 0;
  eddy_log_to_sink(log_sink, &logs);
  return test_reactor(EDDY_REACTOR_FAKE_CLOCK);
}

/* A trace of which callbacks ran, each appending its label. */
static char trace[256];

static void append(const char *label) {
  size_t len = strlen(trace);
  cr_assert_lt(len + strlen(label), sizeof(trace) - 1);
  strcat(trace, label);
}

static void cb_note(eddy_result_t *res, void *arg) {
  (void)res;
  append(arg);
}

static void cb_fail(eddy_result_t *res, void *arg) {
  append(arg);
  eddy_result_fail(res, UV_ECONNREFUSED, "boom %s", (const char *)arg);
}

static void cb_recover(eddy_result_t *res, void *arg) {
  append(arg);
  eddy_result_recover(res);
}

static void cb_set7(eddy_result_t *res, void *arg) {
  append(arg);
  eddy_result_set(res, new_int(7), count_free);
}

/* Copies the current result's shape out, for assertions after the fire. */
typedef struct {
  int calls;
  int err;
  int value; /* -1 when there was no value */
  char msg[2048];
} seen_t;

static void cb_see(eddy_result_t *res, void *arg) {
  seen_t *s = arg;
  s->calls++;
  s->err = res->err;
  s->value = res->value != NULL ? *(int *)res->value : -1;
  snprintf(s->msg, sizeof(s->msg), "%s", eddy_result_message(res));
}

static void cb_see_recover(eddy_result_t *res, void *arg) {
  cb_see(res, arg);
  eddy_result_recover(res);
}

static void cb_wait_on(eddy_result_t *res, void *arg) {
  eddy_result_wait(res, arg);
}

static void cb_incr(eddy_result_t *res, void *arg) {
  (void)arg;
  (*(int *)res->value)++;
}

/* ---- Firing and callback order ----------------------------------------- */

Test(deferred, callback_gets_value_and_frees_it_once) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_new(r);
  cr_assert_not_null(d);
  cr_assert_eq(eddy_deferred_reactor(d), r);
  cr_assert_not(eddy_deferred_fired(d));
  cr_assert_not(eddy_deferred_done(d));
  seen_t s = {0};
  cr_assert_eq(eddy_deferred_add_callback(d, cb_see, &s), 0);
  cr_assert_eq(s.calls, 0);
  cr_assert_eq(eddy_deferred_callback(d, new_int(42), count_free), 0);
  cr_assert_eq(s.calls, 1);
  cr_assert_eq(s.err, 0);
  cr_assert_eq(s.value, 42);
  cr_assert(eddy_deferred_fired(d));
  cr_assert(eddy_deferred_done(d));
  cr_assert_eq(int_of(eddy_deferred_result(d)), 42);
  cr_assert_eq(n_freed, 0, "the value lives as long as the deferred");
  test_close_reactor(r);
  cr_assert_eq(n_freed, 1);
  cr_assert_eq(logs.unhandled, 0);
}

Test(deferred, pairs_switch_between_success_and_failure) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_new(r);
  trace[0] = '\0';
  eddy_deferred_add_callbacks(d, cb_note, cb_note, "a"); /* ok side */
  eddy_deferred_add_callbacks(d, cb_fail, cb_note, "b"); /* ok: fails */
  eddy_deferred_add_callback(d, cb_note, "X");           /* skipped */
  eddy_deferred_add_callbacks(d, cb_note, cb_note, "c"); /* err side */
  eddy_deferred_add_errback(d, cb_recover, "d");         /* recovers */
  eddy_deferred_add_errback(d, cb_note, "Y");            /* skipped */
  eddy_deferred_add_callback(d, cb_set7, "e");
  eddy_deferred_add_both(d, cb_note, "f");
  eddy_deferred_add_callbacks(d, NULL, cb_note, "Z"); /* NULL ok side */
  eddy_deferred_add_callbacks(d, cb_note, NULL, "g");
  eddy_deferred_callback(d, NULL, NULL);
  cr_assert_str_eq(trace, "abcdefg");
  cr_assert_eq(eddy_deferred_result(d)->err, 0);
  cr_assert_eq(int_of(eddy_deferred_result(d)), 7);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 1);
  cr_assert_eq(logs.unhandled, 0);
}

Test(deferred, errback_fires_failure_side_with_message) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_new(r);
  seen_t ok = {0}, err = {0};
  eddy_deferred_add_callbacks(d, cb_see, cb_see_recover, &err);
  eddy_deferred_add_callback(d, cb_see, &ok);
  cr_assert_eq(eddy_deferred_errback(d, UV_ETIMEDOUT, "after %d ms", 30), 0);
  cr_assert_eq(err.calls, 1);
  cr_assert_eq(err.err, UV_ETIMEDOUT);
  cr_assert_str_eq(err.msg, "after 30 ms");
  cr_assert_eq(ok.calls, 1);
  cr_assert_eq(ok.err, 0);
  cr_assert_eq(ok.value, -1, "a recovered failure has no value");
  test_close_reactor(r);
  cr_assert_eq(logs.unhandled, 0);
}

Test(deferred, errback_without_message_uses_strerror) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_new(r);
  seen_t s = {0};
  eddy_deferred_add_errback(d, cb_see_recover, &s);
  eddy_deferred_errback(d, UV_ECONNRESET, NULL);
  cr_assert_str_eq(s.msg, eddy_strerror(UV_ECONNRESET));
  cr_assert_null(eddy_deferred_result(d)->msg);
  test_close_reactor(r);
}

Test(deferred, add_both_sees_either_outcome) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *a = eddy_deferred_new(r);
  eddy_deferred_t *b = eddy_deferred_new(r);
  seen_t sa = {0}, sb = {0};
  eddy_deferred_add_both(a, cb_see_recover, &sa);
  eddy_deferred_add_both(b, cb_see_recover, &sb);
  eddy_deferred_callback(a, new_int(3), count_free);
  eddy_deferred_errback(b, UV_EPIPE, "gone");
  cr_assert_eq(sa.calls, 1);
  cr_assert_eq(sa.value, 3);
  cr_assert_eq(sb.calls, 1);
  cr_assert_eq(sb.err, UV_EPIPE);
  cr_assert_str_eq(sb.msg, "gone");
  test_close_reactor(r);
  cr_assert_eq(n_freed, 1);
  cr_assert_eq(logs.unhandled, 0);
}

static void cb_rewrap(eddy_result_t *res, void *arg) {
  (void)arg;
  /* The new message is built from the old one, which is freed after. */
  eddy_result_fail(res, res->err, "outer: %s", res->msg);
}

Test(deferred, fail_inside_callback_can_reuse_old_message) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_new(r);
  seen_t s = {0};
  eddy_deferred_add_callback(d, cb_fail, "x");
  eddy_deferred_add_errback(d, cb_rewrap, NULL);
  eddy_deferred_add_errback(d, cb_see, &s);
  trace[0] = '\0';
  eddy_deferred_callback(d, new_int(1), count_free);
  cr_assert_eq(n_freed, 1, "failing frees the old value at once");
  cr_assert_eq(s.err, UV_ECONNREFUSED);
  cr_assert_str_eq(s.msg, "outer: boom x");
  test_close_reactor(r);
  cr_assert_eq(logs.unhandled, 1, "the failure was never handled");
  cr_assert(strstr(logs.last_unhandled, "err=ECONNREFUSED") != NULL, "%s",
            logs.last_unhandled);
  cr_assert(strstr(logs.last_unhandled, "message=\"outer: boom x\"") != NULL,
            "%s", logs.last_unhandled);
}

static void cb_fail_nonnegative(eddy_result_t *res, void *arg) {
  (void)arg;
  eddy_result_fail(res, 5, "not an error");
}

static void cb_fail_long(eddy_result_t *res, void *arg) {
  (void)arg;
  eddy_result_fail(res, UV_E2BIG, "%5000s", "x");
}

Test(deferred, fail_with_bad_code_or_long_message) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *a = eddy_deferred_new(r);
  eddy_deferred_t *b = eddy_deferred_new(r);
  seen_t sa = {0}, sb = {0};
  eddy_deferred_add_callback(a, cb_fail_nonnegative, NULL);
  eddy_deferred_add_errback(a, cb_see_recover, &sa);
  eddy_deferred_add_callback(b, cb_fail_long, NULL);
  eddy_deferred_add_errback(b, cb_see_recover, &sb);
  eddy_deferred_callback(a, NULL, NULL);
  eddy_deferred_callback(b, NULL, NULL);
  cr_assert_eq(sa.err, UV_EINVAL);
  cr_assert_eq(sb.err, UV_E2BIG);
  cr_assert_eq(strlen(sb.msg), 1024, "messages are bounded");
  test_close_reactor(r);
  cr_assert_eq(logs.unhandled, 0);
}

/* ---- Ownership ---------------------------------------------------------- */

static void *taken_value;

static void cb_take(eddy_result_t *res, void *arg) {
  (void)arg;
  taken_value = eddy_result_take(res);
  cr_assert_null(res->value);
  cr_assert_eq(res->err, 0);
}

static void cb_set_same(eddy_result_t *res, void *arg) {
  (void)arg;
  eddy_result_set(res, res->value, count_free);
}

Test(deferred, take_set_and_clear_free_each_value_once) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_new(r);
  eddy_deferred_add_callback(d, cb_take, NULL);
  eddy_deferred_add_callback(d, cb_set7, "s"); /* nothing left to free */
  eddy_deferred_add_callback(d, cb_set_same, NULL);
  eddy_deferred_add_callback(d, cb_set7, "t"); /* frees the first 7 */
  trace[0] = '\0';
  eddy_deferred_callback(d, new_int(1), count_free);
  cr_assert_eq(n_freed, 1);
  cr_assert_not_null(taken_value);
  cr_assert_eq(*(int *)taken_value, 1);
  count_free(taken_value); /* ours now */
  cr_assert_eq(n_freed, 2);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 3, "the last value goes with the deferred");
}

static void cb_clear(eddy_result_t *res, void *arg) {
  (void)arg;
  eddy_result_clear(res);
}

Test(deferred, clear_leaves_empty_success) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_new(r);
  seen_t s = {0};
  eddy_deferred_add_errback(d, cb_clear, NULL);
  eddy_deferred_add_callback(d, cb_see, &s);
  eddy_result_t res = {UV_EIO, new_int(9), count_free, strdup("detail"), NULL};
  cr_assert_eq(eddy_deferred_fire(d, &res), 0);
  cr_assert_null(res.value, "fire moves the result out");
  cr_assert_null(res.msg);
  cr_assert_eq(res.err, 0);
  cr_assert_eq(n_freed, 1);
  cr_assert_eq(s.calls, 1);
  cr_assert_eq(s.value, -1);
  test_close_reactor(r);
  cr_assert_eq(logs.unhandled, 0);
}

Test(deferred, invalid_fires_are_refused_and_free_the_value) {
  eddy_reactor_t *r = setup();
  cr_assert_eq(eddy_deferred_callback(NULL, new_int(1), count_free), UV_EINVAL);
  cr_assert_eq(n_freed, 1);
  eddy_deferred_t *d = eddy_deferred_new(r);
  cr_assert_eq(eddy_deferred_errback(d, 0, "zero"), UV_EINVAL);
  cr_assert_eq(eddy_deferred_errback(d, 3, NULL), UV_EINVAL);
  eddy_result_t res = {7, new_int(2), count_free, NULL, NULL};
  cr_assert_eq(eddy_deferred_fire(d, &res), UV_EINVAL);
  cr_assert_eq(n_freed, 2);
  cr_assert_not(eddy_deferred_fired(d), "refused fires change nothing");
  cr_assert_eq(eddy_deferred_add_callback(NULL, cb_note, "x"), UV_EINVAL);
  cr_assert_eq(eddy_deferred_callback(d, NULL, NULL), 0);
  test_close_reactor(r);
}

/* ---- Firing twice ------------------------------------------------------- */

Test(deferred, second_fire_is_refused_logged_and_frees_value) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_new(r);
  cr_assert_eq(eddy_deferred_callback(d, new_int(1), count_free), 0);
  cr_assert_eq(eddy_deferred_callback(d, new_int(2), count_free),
               EDDY_EALREADYCALLED);
  cr_assert_eq(n_freed, 1, "the refused value is freed at once");
  cr_assert_eq(eddy_deferred_errback(d, UV_EIO, "late"), EDDY_EALREADYCALLED);
  eddy_result_t res = {0, new_int(3), count_free, NULL, NULL};
  cr_assert_eq(eddy_deferred_fire(d, &res), EDDY_EALREADYCALLED);
  cr_assert_null(res.value);
  cr_assert_eq(n_freed, 2);
  cr_assert_eq(logs.already_fired, 3);
  cr_assert_eq(int_of(eddy_deferred_result(d)), 1, "first result kept");
  test_close_reactor(r);
  cr_assert_eq(n_freed, 3);
}

static void cb_fire_self(eddy_result_t *res, void *arg) {
  (void)res;
  int rc = eddy_deferred_callback(arg, new_int(5), count_free);
  cr_assert_eq(rc, EDDY_EALREADYCALLED);
}

Test(deferred, firing_itself_from_its_callback_is_refused) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_new(r);
  seen_t s = {0};
  eddy_deferred_add_callback(d, cb_fire_self, d);
  eddy_deferred_add_callback(d, cb_see, &s);
  eddy_deferred_callback(d, new_int(1), count_free);
  cr_assert_eq(logs.already_fired, 1);
  cr_assert_eq(s.value, 1);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 2);
}

/* ---- Adding callbacks late or from inside ------------------------------- */

Test(deferred, callbacks_added_after_fire_run_at_once) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_succeed(r, new_int(8), count_free);
  cr_assert_not_null(d);
  cr_assert(eddy_deferred_done(d));
  seen_t s = {0};
  eddy_deferred_add_callback(d, cb_see, &s);
  cr_assert_eq(s.calls, 1, "ran inside the add call");
  cr_assert_eq(s.value, 8);
  eddy_deferred_add_callback(d, cb_see, &s);
  cr_assert_eq(s.calls, 2);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 1);
}

typedef struct {
  eddy_deferred_t *d;
  int c_ran_early;
} adder_t;

static void cb_c(eddy_result_t *res, void *arg) {
  (void)arg;
  (void)res;
  append("C");
}

static void cb_adds(eddy_result_t *res, void *arg) {
  adder_t *a = arg;
  (void)res;
  append("A");
  cr_assert_eq(eddy_deferred_add_callback(a->d, cb_c, NULL), 0);
  /* Appended, not run from inside this call. */
  a->c_ran_early = strchr(trace, 'C') != NULL;
}

Test(deferred, callbacks_added_from_inside_join_the_same_chain) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_new(r);
  adder_t a = {d, 0};
  trace[0] = '\0';
  eddy_deferred_add_callback(d, cb_adds, &a);
  eddy_deferred_add_callback(d, cb_note, "B");
  eddy_deferred_callback(d, NULL, NULL);
  cr_assert_str_eq(trace, "ABC");
  cr_assert_not(a.c_ran_early);
  test_close_reactor(r);
}

/* ---- Waiting on another deferred ---------------------------------------- */

Test(deferred, wait_on_unfired_inner_pauses_then_resumes) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *outer = eddy_deferred_new(r);
  eddy_deferred_t *inner = eddy_deferred_new(r);
  seen_t s = {0};
  eddy_deferred_add_callback(outer, cb_wait_on, inner);
  eddy_deferred_add_callback(outer, cb_see, &s);
  eddy_deferred_callback(outer, new_int(1), count_free);
  cr_assert_eq(n_freed, 1, "the wait replaced the value");
  cr_assert_eq(s.calls, 0);
  cr_assert(eddy_deferred_fired(outer));
  cr_assert_not(eddy_deferred_done(outer));
  /* Paused deferreds stay alive across iterations. */
  for (int i = 0; i < 3; i++)
    eddy_reactor_run_once(r, 0);
  seen_t late = {0};
  eddy_deferred_add_callback(outer, cb_see, &late);
  cr_assert_eq(late.calls, 0, "appended while paused");
  eddy_deferred_add_callback(inner, cb_incr, NULL);
  eddy_deferred_callback(inner, new_int(41), count_free);
  cr_assert_eq(s.calls, 1);
  cr_assert_eq(s.value, 42, "inner's own callbacks ran first");
  cr_assert_eq(late.calls, 1);
  cr_assert(eddy_deferred_done(outer));
  cr_assert_eq(eddy_deferred_result(inner)->value, NULL,
               "the value moved to the outer chain");
  test_close_reactor(r);
  cr_assert_eq(n_freed, 2);
}

Test(deferred, wait_on_finished_inner_continues_at_once) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *outer = eddy_deferred_new(r);
  eddy_deferred_t *inner = eddy_deferred_succeed(r, new_int(5), count_free);
  seen_t s = {0};
  eddy_deferred_add_callback(outer, cb_wait_on, inner);
  eddy_deferred_add_callback(outer, cb_see, &s);
  eddy_deferred_callback(outer, NULL, NULL);
  cr_assert_eq(s.calls, 1);
  cr_assert_eq(s.value, 5);
  cr_assert(eddy_deferred_done(outer));
  test_close_reactor(r);
  cr_assert_eq(n_freed, 1);
}

Test(deferred, wait_on_failed_inner_moves_failure_handled_once) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *outer = eddy_deferred_new(r);
  eddy_deferred_t *inner = eddy_deferred_new(r);
  seen_t s = {0};
  eddy_deferred_add_callback(outer, cb_wait_on, inner);
  eddy_deferred_add_errback(outer, cb_see_recover, &s);
  eddy_deferred_callback(outer, NULL, NULL);
  eddy_deferred_errback(inner, UV_EHOSTUNREACH, "no route");
  cr_assert_eq(s.err, UV_EHOSTUNREACH);
  cr_assert_str_eq(s.msg, "no route");
  test_close_reactor(r);
  cr_assert_eq(logs.unhandled, 0,
               "handled in the outer chain, so neither reports it");
}

Test(deferred, nested_waits_resume_outward) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *a = eddy_deferred_new(r);
  eddy_deferred_t *b = eddy_deferred_new(r);
  eddy_deferred_t *c = eddy_deferred_new(r);
  seen_t s = {0};
  trace[0] = '\0';
  eddy_deferred_add_callback(a, cb_wait_on, b);
  eddy_deferred_add_callback(a, cb_note, "a");
  eddy_deferred_add_callback(a, cb_see, &s);
  eddy_deferred_add_callback(b, cb_wait_on, c);
  eddy_deferred_add_callback(b, cb_note, "b");
  eddy_deferred_add_callback(c, cb_note, "c");
  eddy_deferred_callback(a, NULL, NULL);
  eddy_deferred_callback(b, NULL, NULL);
  cr_assert_str_eq(trace, "");
  eddy_deferred_callback(c, new_int(9), count_free);
  cr_assert_str_eq(trace, "cba");
  cr_assert_eq(s.value, 9);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 1);
}

static void cb_set_then_wait_then_set(eddy_result_t *res, void *arg) {
  eddy_result_set(res, new_int(100), count_free);
  eddy_result_wait(res, arg); /* frees 100 */
  /* The wait wins: this one is dropped when the chain pauses. */
  eddy_result_set(res, new_int(200), count_free);
}

Test(deferred, wait_wins_over_other_changes) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *outer = eddy_deferred_new(r);
  eddy_deferred_t *inner = eddy_deferred_new(r);
  seen_t s = {0};
  eddy_deferred_add_callback(outer, cb_set_then_wait_then_set, inner);
  eddy_deferred_add_callback(outer, cb_see, &s);
  eddy_deferred_callback(outer, new_int(1), count_free);
  cr_assert_eq(n_freed, 3);
  cr_assert_eq(s.calls, 0);
  eddy_deferred_callback(inner, new_int(3), count_free);
  cr_assert_eq(s.value, 3);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 4);
}

Test(deferred, bad_waits_fail_the_chain) {
  eddy_reactor_t *r = setup();
  /* NULL: what an API out of memory returns. */
  eddy_deferred_t *a = eddy_deferred_new(r);
  seen_t sa = {0};
  eddy_deferred_add_callback(a, cb_wait_on, NULL);
  eddy_deferred_add_errback(a, cb_see_recover, &sa);
  eddy_deferred_callback(a, NULL, NULL);
  cr_assert_eq(sa.err, UV_ENOMEM);

  /* Itself. */
  eddy_deferred_t *b = eddy_deferred_new(r);
  seen_t sb = {0};
  eddy_deferred_add_callback(b, cb_wait_on, b);
  eddy_deferred_add_errback(b, cb_see_recover, &sb);
  eddy_deferred_callback(b, NULL, NULL);
  cr_assert_eq(sb.err, UV_EINVAL);

  /* One already taken over by another chain. */
  eddy_deferred_t *inner = eddy_deferred_new(r);
  eddy_deferred_t *c1 = eddy_deferred_new(r);
  eddy_deferred_t *c2 = eddy_deferred_new(r);
  seen_t s1 = {0}, s2 = {0};
  eddy_deferred_add_callback(c1, cb_wait_on, inner);
  eddy_deferred_add_both(c1, cb_see_recover, &s1);
  eddy_deferred_add_callback(c2, cb_wait_on, inner);
  eddy_deferred_add_both(c2, cb_see_recover, &s2);
  eddy_deferred_callback(c1, NULL, NULL);
  eddy_deferred_callback(c2, NULL, NULL);
  cr_assert_eq(s2.err, UV_EINVAL);
  cr_assert_eq(s1.calls, 0);
  eddy_deferred_callback(inner, new_int(4), count_free);
  cr_assert_eq(s1.value, 4);
  test_close_reactor(r);
  cr_assert_eq(logs.unhandled, 0);
  cr_assert_eq(n_freed, 1);
}

Test(deferred, fire_with_a_wait_in_the_result) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_new(r);
  eddy_deferred_t *inner = eddy_deferred_new(r);
  seen_t s = {0};
  eddy_deferred_add_callback(d, cb_see, &s);
  eddy_result_t res = {0, NULL, NULL, NULL, NULL};
  eddy_result_wait(&res, inner);
  cr_assert_eq(eddy_deferred_fire(d, &res), 0);
  cr_assert_eq(s.calls, 0);
  eddy_deferred_callback(inner, new_int(6), count_free);
  cr_assert_eq(s.value, 6);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 1);
}

/* ---- Chaining ----------------------------------------------------------- */

Test(deferred, chain_fires_other_and_leaves_empty_success) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_new(r);
  eddy_deferred_t *other = eddy_deferred_new(r);
  seen_t so = {0}, sd = {0};
  eddy_deferred_add_callback(other, cb_see, &so);
  cr_assert_eq(eddy_deferred_chain(d, other), 0);
  eddy_deferred_add_both(d, cb_see, &sd);
  cr_assert_eq(eddy_deferred_chain(d, d), UV_EINVAL);
  cr_assert_eq(eddy_deferred_chain(d, NULL), UV_EINVAL);
  eddy_deferred_callback(d, new_int(12), count_free);
  cr_assert_eq(so.value, 12);
  cr_assert_eq(sd.calls, 1);
  cr_assert_eq(sd.err, 0);
  cr_assert_eq(sd.value, -1);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 1);
}

Test(deferred, chain_moves_failure_to_other) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_new(r);
  eddy_deferred_t *other = eddy_deferred_new(r);
  eddy_deferred_chain(d, other);
  eddy_deferred_errback(d, UV_EACCES, "denied");
  cr_assert_eq(eddy_deferred_result(d)->err, 0);
  cr_assert_eq(eddy_deferred_result(other)->err, UV_EACCES);
  test_close_reactor(r);
  cr_assert_eq(logs.unhandled, 1, "reported once, on the other deferred");
  cr_assert(strstr(logs.last_unhandled, "denied") != NULL);
}

Test(deferred, chain_to_fired_deferred_is_refused_and_logged) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_new(r);
  eddy_deferred_t *other = eddy_deferred_succeed(r, new_int(1), count_free);
  eddy_deferred_chain(d, other);
  eddy_deferred_callback(d, new_int(2), count_free);
  cr_assert_eq(logs.already_fired, 1);
  cr_assert_eq(n_freed, 1);
  cr_assert_eq(int_of(eddy_deferred_result(other)), 1);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 2);
}

static void cb_set9(eddy_result_t *res, void *arg) {
  (void)arg;
  eddy_result_set(res, new_int(9), count_free);
}

Test(deferred, chained_deferred_may_wait_on_its_source) {
  /* other runs on top of d's chain; waiting on d pauses other until d's
   * remaining callbacks are done. */
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_new(r);
  eddy_deferred_t *other = eddy_deferred_new(r);
  seen_t s = {0};
  eddy_deferred_add_callback(other, cb_wait_on, d);
  eddy_deferred_add_callback(other, cb_see, &s);
  eddy_deferred_chain(d, other);
  eddy_deferred_add_callback(d, cb_set9, NULL);
  eddy_deferred_callback(d, new_int(1), count_free);
  cr_assert_eq(s.calls, 1);
  cr_assert_eq(s.value, 9);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 2);
}

/* ---- Cancelling --------------------------------------------------------- */

typedef struct {
  int calls;
  int fire_err; /* 0: do not fire */
  int cancel_again;
} canceller_t;

static void canceller(eddy_deferred_t *d, void *arg) {
  canceller_t *c = arg;
  c->calls++;
  if (c->cancel_again)
    eddy_deferred_cancel(d);
  if (c->fire_err != 0)
    eddy_deferred_errback(d, c->fire_err, "stopped by canceller");
}

Test(deferred, cancel_without_canceller_fails_with_ecanceled) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_new(r);
  seen_t s = {0};
  eddy_deferred_add_errback(d, cb_see_recover, &s);
  eddy_deferred_cancel(d);
  cr_assert_eq(s.err, UV_ECANCELED);
  eddy_deferred_cancel(d); /* idempotent */
  cr_assert_eq(s.calls, 1);
  /* The producer did not know: its fire is silently dropped. */
  cr_assert_eq(eddy_deferred_callback(d, new_int(1), count_free), 0);
  cr_assert_eq(eddy_deferred_errback(d, UV_EIO, NULL), 0);
  cr_assert_eq(n_freed, 1);
  cr_assert_eq(logs.already_fired, 0);
  test_close_reactor(r);
  cr_assert_eq(logs.unhandled, 0);
}

Test(deferred, cancel_calls_canceller_then_fails) {
  eddy_reactor_t *r = setup();
  canceller_t c = {0, 0, 1};
  eddy_deferred_t *d = eddy_deferred_new_cancellable(r, canceller, &c);
  seen_t s = {0};
  eddy_deferred_add_errback(d, cb_see_recover, &s);
  eddy_deferred_cancel(d);
  eddy_deferred_cancel(d);
  cr_assert_eq(c.calls, 1, "once, even when it cancels again itself");
  cr_assert_eq(s.err, UV_ECANCELED);
  test_close_reactor(r);
}

Test(deferred, canceller_may_fire_with_its_own_failure) {
  eddy_reactor_t *r = setup();
  canceller_t c = {0, UV_ETIMEDOUT, 0};
  eddy_deferred_t *d = eddy_deferred_new_cancellable(r, canceller, &c);
  seen_t s = {0};
  eddy_deferred_add_errback(d, cb_see_recover, &s);
  eddy_deferred_cancel(d);
  cr_assert_eq(c.calls, 1);
  cr_assert_eq(s.calls, 1);
  cr_assert_eq(s.err, UV_ETIMEDOUT);
  cr_assert_str_eq(s.msg, "stopped by canceller");
  test_close_reactor(r);
}

Test(deferred, cancel_after_fire_does_nothing) {
  eddy_reactor_t *r = setup();
  canceller_t c = {0};
  eddy_deferred_t *d = eddy_deferred_new_cancellable(r, canceller, &c);
  eddy_deferred_callback(d, new_int(1), count_free);
  eddy_deferred_cancel(d);
  cr_assert_eq(c.calls, 0);
  cr_assert_eq(eddy_deferred_result(d)->err, 0);
  /* Not cancelled, so a second fire is still an error. */
  cr_assert_eq(eddy_deferred_callback(d, NULL, NULL), EDDY_EALREADYCALLED);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 1);
}

Test(deferred, cancel_while_waiting_cancels_inner) {
  eddy_reactor_t *r = setup();
  canceller_t c = {0};
  eddy_deferred_t *outer = eddy_deferred_new(r);
  eddy_deferred_t *inner = eddy_deferred_new_cancellable(r, canceller, &c);
  seen_t s = {0};
  eddy_deferred_add_callback(outer, cb_wait_on, inner);
  eddy_deferred_add_errback(outer, cb_see_recover, &s);
  eddy_deferred_callback(outer, NULL, NULL);
  eddy_deferred_cancel(outer);
  cr_assert_eq(c.calls, 1);
  cr_assert_eq(s.err, UV_ECANCELED);
  cr_assert(eddy_deferred_done(outer));
  test_close_reactor(r);
  cr_assert_eq(logs.unhandled, 0);
}

/* ---- Lifetime ----------------------------------------------------------- */

Test(deferred, freed_at_end_of_iteration_not_sooner) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_succeed(r, new_int(1), count_free);
  cr_assert_eq(n_freed, 0);
  seen_t s = {0};
  eddy_deferred_add_callback(d, cb_see, &s); /* still valid */
  cr_assert_eq(s.value, 1);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(n_freed, 1, "released by the next iteration");
  test_close_reactor(r);
}

Test(deferred, reference_keeps_it_alive_across_iterations) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d =
      eddy_deferred_ref(eddy_deferred_succeed(r, new_int(1), count_free));
  for (int i = 0; i < 5; i++)
    eddy_reactor_run_once(r, 0);
  cr_assert_eq(n_freed, 0);
  seen_t s = {0};
  eddy_deferred_add_callback(d, cb_see, &s);
  cr_assert_eq(s.value, 1);
  eddy_deferred_ref(d);
  eddy_deferred_unref(d);
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(n_freed, 0, "one reference is left");
  eddy_deferred_unref(d);
  cr_assert_eq(n_freed, 0, "never freed inside unref");
  eddy_reactor_run_once(r, 0);
  cr_assert_eq(n_freed, 1);
  test_close_reactor(r);
}

Test(deferred, unfired_deferred_is_reported_as_left_open) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_new(r);
  for (int i = 0; i < 3; i++)
    eddy_reactor_run_once(r, 0);
  cr_assert_eq(eddy_reactor_free(r), EDDY_EBUSYCLOSE);
  cr_assert_eq(logs.open_object, 1);
  eddy_deferred_callback(d, NULL, NULL);
  test_close_reactor(r);
}

Test(deferred, unhandled_failure_is_logged_when_freed) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_fail(r, UV_ECONNRESET, "peer %s", "left");
  cr_assert_not_null(d);
  cr_assert(eddy_deferred_done(d));
  cr_assert_eq(eddy_deferred_result(d)->err, UV_ECONNRESET);
  cr_assert_eq(logs.unhandled, 0, "not before it is freed");
  test_close_reactor(r);
  cr_assert_eq(logs.unhandled, 1);
  cr_assert(strstr(logs.last_unhandled, "err=ECONNRESET") != NULL, "%s",
            logs.last_unhandled);
  cr_assert(strstr(logs.last_unhandled, "message=\"peer left\"") != NULL, "%s",
            logs.last_unhandled);
}

Test(deferred, recovered_failure_is_not_logged) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_fail(r, UV_ECONNRESET, NULL);
  seen_t s = {0};
  eddy_deferred_add_errback(d, cb_see_recover, &s);
  cr_assert_eq(s.err, UV_ECONNRESET);
  test_close_reactor(r);
  cr_assert_eq(logs.unhandled, 0);
}

Test(deferred, fail_with_bad_code_becomes_einval) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_fail(r, 0, "oops");
  cr_assert_eq(eddy_deferred_result(d)->err, UV_EINVAL);
  eddy_deferred_add_errback(d, cb_recover, "");
  test_close_reactor(r);
  cr_assert_eq(logs.unhandled, 0);
}

Test(deferred, unref_without_reference_is_harmless) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_succeed(r, NULL, NULL);
  eddy_deferred_unref(d);
  eddy_deferred_unref(NULL);
  cr_assert(eddy_deferred_done(d));
  test_close_reactor(r);
}

/* ---- Depth: loops, never recursion -------------------------------------- */

#define LONG_CHAIN 200000
#define DEEP_NEST 100000

Test(deferred, chain_of_200000_callbacks) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_new(r);
  for (int i = 0; i < LONG_CHAIN; i++)
    cr_assert_eq(eddy_deferred_add_callback(d, cb_incr, NULL), 0);
  eddy_deferred_callback(d, new_int(0), count_free);
  cr_assert_eq(int_of(eddy_deferred_result(d)), LONG_CHAIN);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 1);
}

static int appended;

static void cb_incr_and_append(eddy_result_t *res, void *arg) {
  eddy_deferred_t *d = arg;
  (*(int *)res->value)++;
  if (++appended < LONG_CHAIN)
    cr_assert_eq(eddy_deferred_add_callback(d, cb_incr_and_append, d), 0);
}

Test(deferred, chain_of_200000_callbacks_each_added_by_the_last) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t *d = eddy_deferred_new(r);
  appended = 0;
  eddy_deferred_add_callback(d, cb_incr_and_append, d);
  eddy_deferred_callback(d, new_int(0), count_free);
  cr_assert_eq(int_of(eddy_deferred_result(d)), LONG_CHAIN);
  test_close_reactor(r);
}

static eddy_deferred_t **make_nest(eddy_reactor_t *r, size_t n) {
  eddy_deferred_t **ds = calloc(n + 1, sizeof(*ds));
  cr_assert_not_null(ds);
  for (size_t i = 0; i <= n; i++) {
    ds[i] = eddy_deferred_new(r);
    cr_assert_not_null(ds[i]);
  }
  /* Each fired deferred waits on the next: a nest n deep. */
  for (size_t i = 0; i < n; i++) {
    eddy_deferred_add_callback(ds[i], cb_wait_on, ds[i + 1]);
    eddy_deferred_add_callback(ds[i], cb_incr, NULL);
    eddy_deferred_callback(ds[i], NULL, NULL);
  }
  return ds;
}

Test(deferred, nest_of_100000_waits_fired_at_innermost) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t **ds = make_nest(r, DEEP_NEST);
  seen_t s = {0};
  eddy_deferred_add_callback(ds[0], cb_see, &s);
  cr_assert_eq(s.calls, 0);
  eddy_deferred_callback(ds[DEEP_NEST], new_int(0), count_free);
  cr_assert_eq(s.calls, 1);
  cr_assert_eq(s.value, DEEP_NEST, "every level added one on the way out");
  free(ds);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 1);
}

Test(deferred, cancel_outermost_of_100000_nest) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t **ds = make_nest(r, DEEP_NEST);
  seen_t s = {0};
  eddy_deferred_add_errback(ds[0], cb_see_recover, &s);
  eddy_deferred_cancel(ds[0]);
  cr_assert_eq(s.calls, 1);
  cr_assert_eq(s.err, UV_ECANCELED);
  free(ds);
  test_close_reactor(r);
  cr_assert_eq(logs.unhandled, 0);
}

Test(deferred, chain_of_100000_chained_deferreds) {
  eddy_reactor_t *r = setup();
  eddy_deferred_t **ds = calloc(DEEP_NEST + 1, sizeof(*ds));
  cr_assert_not_null(ds);
  for (size_t i = 0; i <= DEEP_NEST; i++)
    ds[i] = eddy_deferred_new(r);
  for (size_t i = 0; i < DEEP_NEST; i++) {
    eddy_deferred_add_callback(ds[i], cb_incr, NULL);
    cr_assert_eq(eddy_deferred_chain(ds[i], ds[i + 1]), 0);
  }
  seen_t s = {0};
  eddy_deferred_add_callback(ds[DEEP_NEST], cb_see, &s);
  eddy_deferred_callback(ds[0], new_int(0), count_free);
  cr_assert_eq(s.value, DEEP_NEST);
  free(ds);
  test_close_reactor(r);
  cr_assert_eq(n_freed, 1);
}
