/* request_internal.h — the lock protocol's request line parser.
 *
 * Pure: no allocation, no I/O. It parses one line (without its "\n"; a
 * trailing "\r" is dropped) into a request whose strings point into the
 * line. Grammar: docs/protocol/locks.md. */
#ifndef EDDY_LOCKS_REQUEST_INTERNAL_H
#define EDDY_LOCKS_REQUEST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define EDDY__LK_CLIENT_MAX 64
#define EDDY__LK_WAIT_MAX 4294967295u

typedef enum {
  EDDY__LK_V_NONE = 0,
  EDDY__LK_V_HELLO,
  EDDY__LK_V_ACQUIRE,
  EDDY__LK_V_RELEASE,
  EDDY__LK_V_REFRESH,
  EDDY__LK_V_INSPECT,
  EDDY__LK_V_LIST,
  EDDY__LK_V_STATS,
  EDDY__LK_V_RESET,
  EDDY__LK_V_PING,
  EDDY__LK_V_QUIT
} eddy__lk_verb_t;

typedef struct eddy__lk_request_s {
  eddy__lk_verb_t verb;
  /* The argument: lock name (acquire, release, refresh, inspect), client
   * name (hello), prefix (list), admin token (reset); NULL when absent. */
  const char *arg;
  size_t arg_len;
  int shared;
  int reentrant;
  uint64_t wait_ms;  /* 0: try; UINT64_MAX: forever */
  uint64_t lease_ms; /* 0: none (acquire, refresh) */
} eddy__lk_request_t;

/* Returns 1 with *out filled, 0 for a blank line (no reply is due), or
 * EDDY_EPARSE with *err pointing at a static message for the reply. Names
 * longer than max_name bytes are errors. */
int eddy__lk_request_parse(const char *line, size_t len, size_t max_name,
                           eddy__lk_request_t *out, const char **err);

#endif
