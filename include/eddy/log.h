/* eddy/log.h — levelled, structured (key=value) logging.
 *
 * A line looks like:
 *   ts=2026-11-21T23:13:10.123Z level=info event=listening endpoint=tcp:7700
 * The logger is process-wide (like syslog) and thread-safe; it is the one
 * piece of global state in libeddy. Output goes to stderr by default.
 */
#ifndef EDDY_LOG_H
#define EDDY_LOG_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  EDDY_LOG_DEBUG = 0,
  EDDY_LOG_INFO = 1,
  EDDY_LOG_WARN = 2,
  EDDY_LOG_ERROR = 3,
  EDDY_LOG_OFF = 4
} eddy_log_level_t;

/* A custom sink receives each formatted line (no trailing newline). */
typedef void (*eddy_log_sink_cb)(eddy_log_level_t level, const char *line,
                                 void *arg);

/* Log `event` with further key=value pairs given printf-style in fmt (may be
 * NULL). Values that may contain spaces or quotes should be passed through
 * eddy_log_quote. Lines longer than 4 KiB are truncated, never split. */
void eddy_log(eddy_log_level_t level, const char *event, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void eddy_logv(eddy_log_level_t level, const char *event, const char *fmt,
               va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 0)))
#endif
    ;

/* Writes s into buf as a log value: unchanged when it is a plain token,
 * otherwise in double quotes with \" \\ \n escaped and other control bytes
 * shown as '?'. A value too long for buf is cut, keeping its closing quote
 * (empty when size < 3). Returns buf. */
const char *eddy_log_quote(char *buf, size_t size, const char *s);

void eddy_log_set_level(eddy_log_level_t level);
eddy_log_level_t eddy_log_get_level(void);
/* Parses "debug", "info", "warn", "error", "off"; EDDY_EPARSE otherwise. */
int eddy_log_parse_level(const char *name, eddy_log_level_t *out);

/* Sinks. Each replaces the previous one. */
void eddy_log_to_stderr(void);
/* Appends to path (created 0640). eddy_log_reopen() reopens it, for SIGHUP
 * after log rotation. Returns 0 or a negative error. */
int eddy_log_to_file(const char *path);
int eddy_log_reopen(void);
void eddy_log_to_syslog(const char *ident);
/* cb runs under the logger's lock: it must not change the sink, and lines it
 * logs itself are dropped. NULL restores stderr. */
void eddy_log_to_sink(eddy_log_sink_cb cb, void *arg);

#ifdef __cplusplus
}
#endif
#endif
