/* eddy/process.h — child processes as protocols (Twisted's ProcessProtocol).
 *
 * A process is library-owned. Events arrive on the loop:
 *   started -> out_received* / err_received* -> ended(status, signal)
 * `ended` comes once the child has exited AND its stdout and stderr have
 * been read to the end, so no output is lost. After `ended` returns the
 * process is freed; do not use it afterwards.
 */
#ifndef EDDY_PROCESS_H
#define EDDY_PROCESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_process_s eddy_process_t;

typedef struct eddy_process_ops_s {
  void (*started)(eddy_process_t *p);
  void (*out_received)(eddy_process_t *p, const char *data, size_t len);
  void (*err_received)(eddy_process_t *p, const char *data, size_t len);
  /* exit_status is the exit code (0..255) when term_signal is 0. reason is
   * 0 for a zero exit, EDDY_EPROCEXIT or EDDY_EPROCSIGNAL otherwise. */
  void (*ended)(eddy_process_t *p, int reason, int64_t exit_status,
                int term_signal);
} eddy_process_ops_t;

/* What happens to each of the child's standard streams. */
typedef enum {
  EDDY_STDIO_PIPE = 0,    /* connected to the protocol (default) */
  EDDY_STDIO_INHERIT = 1, /* the parent's */
  EDDY_STDIO_IGNORE = 2   /* /dev/null */
} eddy_stdio_t;

typedef struct eddy_spawn_opts_s {
  const char *file;  /* looked up in PATH when it has no slash */
  char *const *args; /* argv, NULL-terminated; args[0] conventionally file */
  char *const *env;  /* NULL-terminated "K=V"; NULL inherits */
  const char *cwd;   /* NULL inherits */
  eddy_stdio_t stdio[3];
  void *data; /* copied into the process, see eddy_process_data */
} eddy_spawn_opts_t;

/* Spawns; errors (ENOENT, EACCES, ...) are returned at once and then no
 * callback is called. `started` runs on the next loop iteration. */
int eddy_spawn(eddy_reactor_t *r, const eddy_spawn_opts_t *o,
               const eddy_process_ops_t *ops, eddy_process_t **out);

/* Writes to the child's stdin (copied). UV_EPIPE once stdin is closed (or
 * when it is not a pipe); UV_ENOBUFS when more than 16 MiB would be queued
 * for a child that does not read. */
int eddy_process_write(eddy_process_t *p, const void *data, size_t len);
/* Closes the child's stdin after queued data is written (EOF for it). */
void eddy_process_close_stdin(eddy_process_t *p);
/* UV_ESRCH once the child has exited. */
int eddy_process_kill(eddy_process_t *p, int signum);
pid_t eddy_process_pid(const eddy_process_t *p);
void *eddy_process_data(const eddy_process_t *p);

#ifdef __cplusplus
}
#endif
#endif
