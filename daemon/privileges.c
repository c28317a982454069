/* privileges.c — run as an unprivileged user once the sockets are bound. */
#include "process.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int numeric(const char *s, unsigned long *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (*s == '\0' || *end != '\0' || errno != 0 || v > 0x7fffffffUL)
    return 0;
  *out = v;
  return 1;
}

int eddyd_identity_resolve(const char *user, const char *group,
                           eddyd_identity_t *id, char *err, size_t errlen) {
  memset(id, 0, sizeof(*id));
  id->uid = geteuid();
  id->gid = getegid();
  if (user[0] != '\0') {
    unsigned long n;
    struct passwd *pw = numeric(user, &n) ? getpwuid((uid_t)n) : getpwnam(user);
    if (pw == NULL) {
      snprintf(err, errlen, "user: no such user '%s'", user);
      return -1;
    }
    id->set_user = 1;
    id->uid = pw->pw_uid;
    id->gid = pw->pw_gid;
    snprintf(id->user, sizeof(id->user), "%s", pw->pw_name);
  }
  if (group[0] != '\0') {
    unsigned long n;
    struct group *gr =
        numeric(group, &n) ? getgrgid((gid_t)n) : getgrnam(group);
    if (gr == NULL) {
      snprintf(err, errlen, "group: no such group '%s'", group);
      return -1;
    }
    id->gid = gr->gr_gid;
  }
  id->change = id->uid != geteuid() || id->gid != getegid() ||
               (id->set_user && geteuid() == 0);
  if (id->change && geteuid() != 0) {
    snprintf(err, errlen,
             "switching user or group needs root (running as "
             "uid %lu)",
             (unsigned long)geteuid());
    return -1;
  }
  return 0;
}

int eddyd_identity_switch(const eddyd_identity_t *id, char *err,
                          size_t errlen) {
  if (!id->change)
    return 0;
  /* Groups first: once the uid is dropped they can no longer change. */
  int rc =
      id->set_user ? initgroups(id->user, id->gid) : setgroups(1, &id->gid);
  if (rc != 0) {
    snprintf(err, errlen, "cannot set the supplementary groups: %s",
             strerror(errno));
    return -1;
  }
  if (setgid(id->gid) != 0) {
    snprintf(err, errlen, "cannot switch to gid %lu: %s",
             (unsigned long)id->gid, strerror(errno));
    return -1;
  }
  if (setuid(id->uid) != 0) {
    snprintf(err, errlen, "cannot switch to uid %lu: %s",
             (unsigned long)id->uid, strerror(errno));
    return -1;
  }
  if (id->uid != 0 && setuid(0) == 0) {
    snprintf(err, errlen, "root could be regained after switching to uid %lu",
             (unsigned long)id->uid);
    return -1;
  }
  return 0;
}
