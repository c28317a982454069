/* process.h — the Unix process chores of a daemon: detaching, the pidfile,
 * and dropping privileges. Each reports failures as a message in err (for
 * the caller's terminal) and a non-zero return. */
#ifndef EDDYD_PROCESS_H
#define EDDYD_PROCESS_H

#include <stddef.h>
#include <sys/types.h>

/* ---- daemonize.c -------------------------------------------------------
 * Double fork with a status pipe. Returns 0 in the daemon (the grandchild,
 * a session leader's child, so it can never regain a terminal) with
 * *status_fd set to the pipe's write end. The calling process never returns:
 * it waits for the daemon's status byte and exits with it — 0 once the
 * daemon reports ready, the daemon's exit status when start-up failed, 1
 * when the daemon died without a word. Returns -1 with err set (in the
 * calling process) when the pipe or the first fork fails. */
int eddyd_daemonize(int *status_fd, char *err, size_t errlen);
/* Sends the start-up status (0 ready, else the exit status) and closes fd.
 * Harmless with fd < 0. */
void eddyd_daemon_report(int *status_fd, int status);
/* The last step of start-up: chdir("/") so no mount is held busy, and
 * stdin/stdout/stderr to /dev/null so the caller's terminal or pipes are
 * released. */
int eddyd_daemon_detach(char *err, size_t errlen);

/* ---- pidfile.c ---------------------------------------------------------
 * The pidfile is created (0644), write-locked with fcntl for the daemon's
 * whole life, and holds "PID\n". A file locked by another process means a
 * running eddyd: refused. An unlocked file naming a live process called
 * eddyd is refused too (a lock lost on a network filesystem); any other pid
 * is stale and replaced (*stale_pid gets it, 0 when there was none). */
int eddyd_pidfile_acquire(const char *path, int *fd_out, long *stale_pid,
                          char *err, size_t errlen);
/* Lets the file belong to the user eddyd switches to. */
int eddyd_pidfile_chown(int fd, uid_t uid, gid_t gid);
/* Removes the file (if it is still ours) and drops the lock. */
void eddyd_pidfile_release(const char *path, int fd);

/* ---- privileges.c ------------------------------------------------------
 * Names are resolved before binding (so a typo is a configuration error)
 * and the switch happens after binding (so privileged ports work). */
typedef struct eddyd_identity_s {
  int change; /* non-zero when there is anything to switch */
  int set_user;
  uid_t uid;
  gid_t gid;
  char user[64];
} eddyd_identity_t;

/* user and group may be empty. Without root, only the current identity is
 * accepted (nothing to switch). */
int eddyd_identity_resolve(const char *user, const char *group,
                           eddyd_identity_t *id, char *err, size_t errlen);
/* Supplementary groups, then the group, then the user; checks that root
 * cannot be regained. */
int eddyd_identity_switch(const eddyd_identity_t *id, char *err, size_t errlen);

#endif
