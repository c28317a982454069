/* lock-server — the lock service alone, for tests and benchmarks.
 *
 *   lock-server [--admin-token TOKEN] ENDPOINT...
 *
 * Serves the lock protocol (docs/protocol/locks.md) on each ENDPOINT
 * (tcp:PORT, tcp:0 for any free port, unix:PATH) with the default limits,
 * logs `event=ready endpoint=EP port=N` once each one listens, and stops on
 * SIGTERM or SIGINT. It exists so the clients can be tested without eddyd;
 * eddyd is what users run.
 */
#include <eddy/eddy.h>
#include <eddy/locks.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

#define MAX_ENDPOINTS 8

static void usage(FILE *out) {
  fprintf(out,
          "usage: lock-server [--admin-token TOKEN] ENDPOINT...\n"
          "Serves the eddy lock protocol on each ENDPOINT until SIGTERM.\n\n"
          "  ENDPOINT             tcp:PORT[:interface=ADDR] or unix:PATH\n"
          "                       (tcp:0 picks a free port; see the log)\n"
          "  --admin-token TOKEN  `reset` must present TOKEN\n"
          "  -h, --help           show this help\n");
}

static void closed(void *arg) {
  int *done = arg;
  *done = 1;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  const char *eps[MAX_ENDPOINTS];
  int neps = 0;
  eddy_locks_opts_t o;
  eddy_locks_opts_init(&o);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(argv[i], "--admin-token") == 0 && i + 1 < argc) {
      o.admin_token = argv[++i];
    } else if (argv[i][0] == '-' || neps == MAX_ENDPOINTS) {
      usage(stderr);
      return 2;
    } else {
      eps[neps++] = argv[i];
    }
  }
  if (neps == 0) {
    usage(stderr);
    return 2;
  }

  eddy_reactor_t *r;
  int rc = eddy_reactor_new(&r, 0);
  if (rc != 0) {
    fprintf(stderr, "lock-server: %s\n", eddy_strerror(rc));
    return 1;
  }
  eddy_locks_t *locks;
  rc = eddy_locks_new(r, &o, &locks);
  if (rc != 0) {
    fprintf(stderr, "lock-server: %s\n", eddy_strerror(rc));
    eddy_reactor_free(r);
    return 1;
  }
  int status = 0;
  for (int i = 0; i < neps && status == 0; i++) {
    eddy_listener_t *l;
    rc = eddy_locks_listen(locks, eps[i], &l);
    if (rc != 0) {
      fprintf(stderr, "lock-server: cannot listen on %s: %s\n", eps[i],
              eddy_strerror(rc));
      status = 1;
      break;
    }
    char q[256];
    eddy_log(EDDY_LOG_INFO, "ready", "endpoint=%s port=%d",
             eddy_log_quote(q, sizeof(q), eps[i]), eddy_listener_port(l));
  }
  if (status == 0) {
    rc = eddy_stop_on_signals(r, NULL, NULL);
    if (rc != 0) {
      fprintf(stderr, "lock-server: %s\n", eddy_strerror(rc));
      status = 1;
    }
  }
  if (status == 0)
    eddy_reactor_run(r);

  /* Closing the service closes its listeners and connections; their close
   * callbacks need the loop to run. */
  int done = 0;
  eddy_locks_close(locks, closed, &done);
  while (!done)
    eddy_reactor_run_once(r, 1);
  if (eddy_reactor_free(r) != 0)
    status = 1;
  eddy_log(EDDY_LOG_INFO, "stopped", NULL);
  return status;
}
