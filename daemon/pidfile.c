/* pidfile.c — one eddyd per pidfile.
 *
 * The fcntl lock is the truth: it vanishes with its process, so a crash can
 * never leave a pidfile that blocks the next start. The pid inside is for
 * people and scripts; it is trusted only when the lock cannot be (a
 * filesystem without working locks), and then only if it names a live
 * process that is really eddyd — a recycled pid belonging to anything else
 * makes the file stale.
 */
#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ATTEMPTS 5

static long read_pid(int fd) {
  char buf[32];
  ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  char *end;
  long pid = strtol(buf, &end, 10);
  if (end == buf || pid <= 0 || (*end != '\n' && *end != '\0'))
    return 0;
  return pid;
}

static int is_live_eddyd(long pid) {
  if (pid <= 0 || pid == (long)getpid())
    return 0;
  if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
    return 0;
  char path[64], comm[64];
  snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return 1; /* alive and unknowable: do not risk two daemons */
  int same = fgets(comm, sizeof(comm), f) != NULL &&
             strncmp(comm, "eddyd", 5) == 0 &&
             (comm[5] == '\n' || comm[5] == '\0');
  fclose(f);
  return same;
}

static int fail(char *err, size_t errlen, const char *path, const char *what) {
  snprintf(err, errlen, "pidfile %s: %s: %s", path, what, strerror(errno));
  return -1;
}

int eddyd_pidfile_acquire(const char *path, int *fd_out, long *stale_pid,
                          char *err, size_t errlen) {
  *stale_pid = 0;
  for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
      return fail(err, errlen, path, "cannot open");
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &lk) != 0) {
      if (errno != EAGAIN && errno != EACCES) {
        fail(err, errlen, path, "cannot lock");
        close(fd);
        return -1;
      }
      long pid = read_pid(fd);
      close(fd);
      if (pid > 0)
        snprintf(err, errlen,
                 "eddyd is already running (pid %ld holds the pidfile %s)", pid,
                 path);
      else
        snprintf(err, errlen,
                 "eddyd is already running (the pidfile %s is locked)", path);
      return -1;
    }
    /* The previous owner may have unlinked the file between our open and
     * our lock: then we hold a lock on a file nobody will see. Retry. */
    struct stat a, b;
    if (fstat(fd, &a) != 0 || stat(path, &b) != 0 || a.st_ino != b.st_ino ||
        a.st_dev != b.st_dev) {
      close(fd);
      continue;
    }
    long pid = read_pid(fd);
    if (is_live_eddyd(pid)) {
      close(fd);
      snprintf(err, errlen,
               "eddyd is already running (pid %ld in the pidfile %s is alive)",
               pid, path);
      return -1;
    }
    if (pid > 0)
      *stale_pid = pid;
    char text[32];
    int len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)len, 0) != len) {
      fail(err, errlen, path, "cannot write");
      close(fd);
      return -1;
    }
    *fd_out = fd;
    return 0;
  }
  snprintf(err, errlen,
           "pidfile %s: replaced by another process while "
           "starting",
           path);
  return -1;
}

int eddyd_pidfile_chown(int fd, uid_t uid, gid_t gid) {
  return fchown(fd, uid, gid);
}

void eddyd_pidfile_release(const char *path, int fd) {
  if (fd < 0)
    return;
  /* Unlink only the file we locked, never a successor's. */
  struct stat a, b;
  if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
      a.st_dev == b.st_dev)
    unlink(path);
  close(fd); /* drops the lock last, so no one sees an unlocked, named file */
}
