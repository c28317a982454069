/* support.h — shared helpers for the unit tests. */
#ifndef EDDY_TEST_SUPPORT_H
#define EDDY_TEST_SUPPORT_H

#include <criterion/criterion.h>
#include <eddy/eddy.h>
#include <eddy/testing.h>

/* A reactor for one test; fails the test if it cannot be made. */
eddy_reactor_t *test_reactor(unsigned flags);

/* Runs r until idle (bounded: at most max_iterations or 10 s), then asserts
 * it frees cleanly: no handle, timer, soon-call or deferred left. */
void test_close_reactor(eddy_reactor_t *r);

/* Runs r with a real clock until *flag is non-zero, at most timeout_ms.
 * Returns the flag's value (0 on timeout). */
int test_run_until(eddy_reactor_t *r, const int *flag, uint64_t timeout_ms);

#endif
