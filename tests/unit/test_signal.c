/* test_signal.c — signals delivered on the loop (eddy/signal.h).
 *
 * Criterion runs each test in its own process, so signals raised here reach
 * only the test that raised them. */
#include "support.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct got_s {
  eddy_reactor_t *r;
  int count;
  int signum;
  int on_loop;
  int close_in_cb;
} got_t;

static void got_signal(eddy_signal_t *s, int signum, void *arg) {
  got_t *g = arg;
  g->count++;
  g->signum = signum;
  g->on_loop = eddy_in_loop_thread(g->r);
  if (g->close_in_cb)
    eddy_signal_close(s);
}

Test(signal, raise_delivered_on_loop) {
  eddy_reactor_t *r = test_reactor(0);
  got_t g = {.r = r};
  eddy_signal_t *s = NULL;
  cr_assert_eq(eddy_signal_watch(r, SIGUSR1, got_signal, &g, &s), 0);
  cr_assert_eq(raise(SIGUSR1), 0);
  /* The C handler only noted it: nothing ran yet. */
  cr_assert_eq(g.count, 0);
  cr_assert(test_run_until(r, &g.count, 5000));
  cr_assert_eq(g.signum, SIGUSR1);
  cr_assert_eq(g.on_loop, 1);
  eddy_signal_close(s);
  test_close_reactor(r);
}

Test(signal, kill_self_and_close_inside_callback) {
  eddy_reactor_t *r = test_reactor(0);
  got_t g = {.r = r, .close_in_cb = 1};
  eddy_signal_t *s = NULL;
  cr_assert_eq(eddy_signal_watch(r, SIGUSR2, got_signal, &g, &s), 0);
  cr_assert_eq(kill(getpid(), SIGUSR2), 0);
  cr_assert(test_run_until(r, &g.count, 5000));
  cr_assert_eq(g.signum, SIGUSR2);
  test_close_reactor(r);
  cr_assert_eq(g.count, 1);
}

Test(signal, watcher_does_not_keep_loop_alive) {
  eddy_reactor_t *r = test_reactor(0);
  got_t g = {.r = r};
  eddy_signal_t *s = NULL;
  cr_assert_eq(eddy_signal_watch(r, SIGUSR1, got_signal, &g, &s), 0);
  uint64_t start = uv_hrtime();
  /* Nothing else is open: run returns at once instead of waiting for a
   * signal that may never come. */
  cr_assert_eq(eddy_reactor_run(r), 0);
  cr_assert_lt(uv_hrtime() - start, 1000000000ull);
  eddy_signal_close(s);
  eddy_signal_close(s); /* harmless while it is closing */
  test_close_reactor(r);
}

Test(signal, bad_arguments) {
  eddy_reactor_t *r = test_reactor(0);
  got_t g = {.r = r};
  eddy_signal_t *s = NULL;
  cr_assert_eq(eddy_signal_watch(r, SIGUSR1, NULL, &g, &s), UV_EINVAL);
  cr_assert_eq(eddy_signal_watch(r, 0, got_signal, &g, &s), UV_EINVAL);
  cr_assert_eq(eddy_signal_watch(r, 100000, got_signal, &g, &s), UV_EINVAL);
  cr_assert_null(s);
  eddy_signal_close(NULL);
  test_close_reactor(r);
}

/* ---- Graceful stop ------------------------------------------------------ */

static void on_stop_flag(void *arg) {
  *(int *)arg += 1;
}

Test(signal, stop_on_sigterm_calls_on_stop) {
  eddy_reactor_t *r = test_reactor(0);
  int stopped = 0;
  cr_assert_eq(eddy_stop_on_signals(r, on_stop_flag, &stopped), 0);
  cr_assert_eq(kill(getpid(), SIGTERM), 0);
  cr_assert(test_run_until(r, &stopped, 5000));
  cr_assert_eq(stopped, 1);
  /* The watchers belong to the reactor: nothing to close by hand. */
  test_close_reactor(r);
}

static void send_sigint(void *arg) {
  (void)arg;
  kill(getpid(), SIGINT);
}

static void never(eddy_timer_t *t) {
  *(int *)t->data = 1;
}

Test(signal, sigint_stops_reactor_run) {
  eddy_reactor_t *r = test_reactor(0);
  cr_assert_eq(eddy_stop_on_signals(r, NULL, NULL), 0);
  /* Calling again only replaces the callback. */
  cr_assert_eq(eddy_stop_on_signals(r, NULL, NULL), 0);
  /* Something that would keep run() going for 20 s. */
  int long_fired = 0;
  eddy_timer_t keep;
  eddy_timer_init(r, &keep);
  keep.data = &long_fired;
  cr_assert_eq(eddy_timer_start(&keep, 20000, never), 0);
  cr_assert_eq(eddy_call_soon(r, send_sigint, NULL), 0);
  uint64_t start = uv_hrtime();
  cr_assert_eq(eddy_reactor_run(r), 0);
  cr_assert_lt(uv_hrtime() - start, 5000000000ull, "run did not stop");
  cr_assert_eq(long_fired, 0);
  eddy_timer_stop(&keep);
  test_close_reactor(r);
}

/* The child stops gracefully on the first SIGTERM, then its on_stop sends a
 * second one, which must end the process with 143 at once. */
static void child_on_stop(void *arg) {
  (void)arg;
  kill(getpid(), SIGTERM);
}

static void child_main(void) {
  eddy_reactor_t *r = NULL;
  if (eddy_reactor_new(&r, 0) != 0)
    _exit(2);
  if (eddy_stop_on_signals(r, child_on_stop, NULL) != 0)
    _exit(3);
  eddy_timer_t keep;
  eddy_timer_init(r, &keep);
  eddy_timer_start(&keep, 20000, never);
  kill(getpid(), SIGTERM);
  eddy_reactor_run(r);
  _exit(4); /* the second signal should have exited already */
}

typedef struct reaper_s {
  pid_t pid;
  int status;
  int done;
  eddy_looping_t lc;
} reaper_t;

static void reap(eddy_looping_t *lc, uint64_t intervals) {
  (void)intervals;
  reaper_t *rp = lc->data;
  if (waitpid(rp->pid, &rp->status, WNOHANG) == rp->pid) {
    rp->done = 1;
    eddy_looping_stop(lc);
  }
}

Test(signal, second_signal_exits_at_once) {
  eddy_reactor_t *r = test_reactor(0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0)
    child_main();
  reaper_t rp = {.pid = pid};
  eddy_looping_init(r, &rp.lc, reap);
  rp.lc.data = &rp;
  cr_assert_eq(eddy_looping_start(&rp.lc, 5, 1), 0);
  if (!test_run_until(r, &rp.done, 5000)) {
    kill(pid, SIGKILL);
    waitpid(pid, &rp.status, 0);
    eddy_looping_stop(&rp.lc);
    cr_assert_fail("child did not exit");
  }
  cr_assert(WIFEXITED(rp.status), "status %#x", rp.status);
  cr_assert_eq(WEXITSTATUS(rp.status), 143);
  test_close_reactor(r);
}
