#include "support.h"

#include <stdint.h>

eddy_reactor_t *test_reactor(unsigned flags) {
  eddy_reactor_t *r = NULL;
  int rc = eddy_reactor_new(&r, flags);
  cr_assert_eq(rc, 0, "eddy_reactor_new: %s", eddy_strerror(rc));
  cr_assert_not_null(r);
  return r;
}

void test_close_reactor(eddy_reactor_t *r) {
  uint64_t start = uv_hrtime();
  for (int i = 0; i < 100000; i++) {
    if (!eddy_reactor_run_once(r, 0))
      break;
    if (uv_hrtime() - start > 10000000000ull)
      break;
  }
  int rc = eddy_reactor_free(r);
  cr_assert_eq(rc, 0, "reactor left open: %s", eddy_strerror(rc));
}

static void guard_fired(eddy_timer_t *t) {
  *(int *)t->data = 1;
}

int test_run_until(eddy_reactor_t *r, const int *flag, uint64_t timeout_ms) {
  /* A fake clock never fires the guard: the loop below would spin for ever. */
  cr_assert_not(eddy_reactor_is_fake(r), "test_run_until needs a real clock");
  /* A guard timer bounds every blocking iteration by the deadline. */
  int expired = 0;
  eddy_timer_t guard;
  eddy_timer_init(r, &guard);
  guard.data = &expired;
  cr_assert_eq(eddy_timer_start(&guard, timeout_ms, guard_fired), 0);
  while (!*flag && !expired)
    eddy_reactor_run_once(r, 1);
  eddy_timer_stop(&guard);
  return *flag;
}
