/* daemonize.c — detach from the terminal without losing start-up errors.
 *
 * The classic double fork loses the daemon's fate: the caller returns before
 * the daemon has bound anything. A pipe fixes that: the caller blocks on it
 * until the daemon writes one status byte (after every service listens) or
 * dies (EOF), and exits with that status, so `eddyd --daemon && next-step`
 * and init scripts see a port in use as a failure.
 */
#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, const char *what) {
  snprintf(err, errlen, "%s: %s", what, strerror(errno));
  return -1;
}

/* The caller's side: wait for the verdict and leave with it. _exit, because
 * everything this process owns (stdio buffers, atexit work) belongs to the
 * daemon now. */
static void wait_for_daemon(int rfd, pid_t first) {
  int st;
  while (waitpid(first, &st, 0) < 0 && errno == EINTR) {
  }
  unsigned char status;
  ssize_t n;
  do {
    n = read(rfd, &status, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1)
    _exit(status);
  /* EOF: the daemon (or the intermediate child) died before reporting. */
  if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
    _exit(WEXITSTATUS(st));
  static const char msg[] = "eddyd: the daemon exited during start-up\n";
  ssize_t ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
  (void)ignored;
  _exit(1);
}

int eddyd_daemonize(int *status_fd, char *err, size_t errlen) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return fail(err, errlen, "cannot create the status pipe");
  fflush(stdout);
  fflush(stderr);
  pid_t first = fork();
  if (first < 0) {
    close(fds[0]);
    close(fds[1]);
    return fail(err, errlen, "cannot fork");
  }
  if (first > 0) {
    close(fds[1]); /* so the daemon's death reads as EOF */
    wait_for_daemon(fds[0], first);
  }
  close(fds[0]);
  /* A new session detaches from the controlling terminal; the second fork
   * makes sure the daemon is not a session leader and so can never acquire
   * one again by opening a tty. */
  if (setsid() < 0) {
    unsigned char st = 1;
    fail(err, errlen, "setsid failed");
    fprintf(stderr, "eddyd: %s\n", err);
    ssize_t ignored = write(fds[1], &st, 1);
    (void)ignored;
    _exit(1);
  }
  pid_t second = fork();
  if (second < 0) {
    unsigned char st = 1;
    fail(err, errlen, "cannot fork");
    fprintf(stderr, "eddyd: %s\n", err);
    ssize_t ignored = write(fds[1], &st, 1);
    (void)ignored;
    _exit(1);
  }
  if (second > 0)
    _exit(0);
  umask(022);
  *status_fd = fds[1];
  return 0;
}

void eddyd_daemon_report(int *status_fd, int status) {
  if (*status_fd < 0)
    return;
  unsigned char st = (unsigned char)status;
  ssize_t n;
  do {
    n = write(*status_fd, &st, 1);
  } while (n < 0 && errno == EINTR);
  close(*status_fd);
  *status_fd = -1;
}

int eddyd_daemon_detach(char *err, size_t errlen) {
  if (chdir("/") != 0)
    return fail(err, errlen, "cannot chdir to /");
  int fd = open("/dev/null", O_RDWR);
  if (fd < 0)
    return fail(err, errlen, "cannot open /dev/null");
  fflush(stdout);
  fflush(stderr);
  for (int target = 0; target <= 2; target++)
    if (fd != target && dup2(fd, target) < 0) {
      int saved = errno;
      close(fd);
      errno = saved;
      return fail(err, errlen, "cannot redirect stdio to /dev/null");
    }
  if (fd > 2)
    close(fd);
  return 0;
}
