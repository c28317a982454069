/* log.c — one process-wide structured logger (see eddy/log.h). */
#include "eddy/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "eddy/error.h"

#define LINE_MAX_BYTES 4096

typedef enum { SINK_STDERR, SINK_FILE, SINK_SYSLOG, SINK_CUSTOM } sink_kind_t;

static uv_once_t once = UV_ONCE_INIT;
static uv_mutex_t lock; /* guards the sink; held while a line is written */
/* Atomic, so that a filtered-out line costs no lock. */
static atomic_int min_level = EDDY_LOG_INFO;
static sink_kind_t sink = SINK_STDERR;
static int file_fd = -1;
static char *file_path;
static char *syslog_ident; /* openlog keeps the pointer: we own a copy */
static eddy_log_sink_cb custom_cb;
static void *custom_arg;
/* Set while this thread is inside the sink: a sink that logs would take the
 * lock it already holds; its line is dropped instead. */
static _Thread_local int in_sink;

static const char *const level_names[] = {"debug", "info", "warn", "error",
                                          "off"};

static void init_lock(void) {
  uv_mutex_init(&lock);
}

void eddy_log_set_level(eddy_log_level_t level) {
  atomic_store_explicit(&min_level, (int)level, memory_order_relaxed);
}

eddy_log_level_t eddy_log_get_level(void) {
  return (eddy_log_level_t)atomic_load_explicit(&min_level,
                                                memory_order_relaxed);
}

int eddy_log_parse_level(const char *name, eddy_log_level_t *out) {
  for (int i = 0; i <= EDDY_LOG_OFF; i++) {
    if (name != NULL && strcmp(name, level_names[i]) == 0) {
      *out = (eddy_log_level_t)i;
      return 0;
    }
  }
  return EDDY_EPARSE;
}

static int is_plain(const char *s) {
  if (*s == '\0')
    return 0;
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f)
      return 0;
  }
  return 1;
}

const char *eddy_log_quote(char *buf, size_t size, const char *s) {
  if (size == 0)
    return buf;
  if (s == NULL)
    s = "";
  if (is_plain(s)) {
    snprintf(buf, size, "%s", s); /* a cut plain token is still plain */
    return buf;
  }
  if (size < 3) { /* not even room for "" */
    buf[0] = '\0';
    return buf;
  }
  size_t o = 0;
  buf[o++] = '"';
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;
    int escaped = c == '"' || c == '\\' || c == '\n';
    /* Room for this byte (or its two-byte escape, never split), the closing
     * quote and the NUL; so a cut value is still well quoted. */
    if (o + (escaped ? 2u : 1u) + 2 > size)
      break;
    if (escaped) {
      buf[o++] = '\\';
      buf[o++] = c == '\n' ? 'n' : (char)c;
    } else {
      buf[o++] = c < ' ' || c == 0x7f ? '?' : (char)c;
    }
  }
  buf[o++] = '"';
  buf[o] = '\0';
  return buf;
}

/* Releases what the current sink holds, before another replaces it. */
static void close_sink_locked(void) {
  if (file_fd >= 0)
    close(file_fd);
  file_fd = -1;
  free(file_path);
  file_path = NULL;
  if (sink == SINK_SYSLOG) {
    closelog();
    free(syslog_ident);
    syslog_ident = NULL;
  }
  sink = SINK_STDERR;
}

void eddy_log_to_stderr(void) {
  uv_once(&once, init_lock);
  uv_mutex_lock(&lock);
  close_sink_locked();
  sink = SINK_STDERR;
  uv_mutex_unlock(&lock);
}

static int open_log(const char *path) {
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  return fd < 0 ? uv_translate_sys_error(errno) : fd;
}

int eddy_log_to_file(const char *path) {
  uv_once(&once, init_lock);
  int fd = open_log(path);
  if (fd < 0)
    return fd;
  char *copy = strdup(path);
  if (copy == NULL) {
    close(fd);
    return UV_ENOMEM;
  }
  uv_mutex_lock(&lock);
  close_sink_locked();
  file_fd = fd;
  file_path = copy;
  sink = SINK_FILE;
  uv_mutex_unlock(&lock);
  return 0;
}

int eddy_log_reopen(void) {
  uv_once(&once, init_lock);
  uv_mutex_lock(&lock);
  int rc = 0;
  if (sink == SINK_FILE && file_path != NULL) {
    int fd = open_log(file_path);
    if (fd < 0) {
      rc = fd; /* keep writing to the old file rather than lose lines */
    } else {
      close(file_fd);
      file_fd = fd;
    }
  }
  uv_mutex_unlock(&lock);
  return rc;
}

void eddy_log_to_syslog(const char *ident) {
  uv_once(&once, init_lock);
  /* Out of memory gives a NULL ident: syslog then uses the program name. */
  char *copy = ident != NULL ? strdup(ident) : NULL;
  uv_mutex_lock(&lock);
  close_sink_locked();
  openlog(copy, LOG_PID | LOG_NDELAY, LOG_DAEMON);
  syslog_ident = copy;
  sink = SINK_SYSLOG;
  uv_mutex_unlock(&lock);
}

void eddy_log_to_sink(eddy_log_sink_cb cb, void *arg) {
  uv_once(&once, init_lock);
  uv_mutex_lock(&lock);
  close_sink_locked();
  custom_cb = cb;
  custom_arg = arg;
  sink = cb != NULL ? SINK_CUSTOM : SINK_STDERR;
  uv_mutex_unlock(&lock);
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return; /* nowhere left to report a failing log */
    p += w;
    n -= (size_t)w;
  }
}

/* "ts=2026-11-21T23:13:10.123Z " into line; returns its length. */
static size_t format_ts(char *line, size_t size) {
  uv_timeval64_t tv;
  uv_gettimeofday(&tv);
  time_t secs = (time_t)tv.tv_sec;
  struct tm tm;
  gmtime_r(&secs, &tm);
  size_t n = strftime(line, size, "ts=%Y-%m-%dT%H:%M:%S", &tm);
  int w = snprintf(line + n, size - n, ".%03dZ ", (int)(tv.tv_usec / 1000));
  return w < 0 || (size_t)w >= size - n ? n : n + (size_t)w;
}

void eddy_logv(eddy_log_level_t level, const char *event, const char *fmt,
               va_list ap) {
  if ((int)level < (int)EDDY_LOG_DEBUG || (int)level >= (int)EDDY_LOG_OFF ||
      (int)level < atomic_load_explicit(&min_level, memory_order_relaxed) ||
      in_sink)
    return;
  /* The caller's text is formatted outside the lock, so threads only queue
   * for the write itself. */
  char body[LINE_MAX_BYTES + 1];
  int w = snprintf(body, sizeof(body), "level=%s event=%s", level_names[level],
                   event != NULL ? event : "-");
  size_t n = w < 0 ? 0 : (size_t)w;
  if (n < sizeof(body) - 1 && fmt != NULL && *fmt != '\0') {
    body[n] = ' ';
    w = vsnprintf(body + n + 1, sizeof(body) - n - 1, fmt, ap);
    if (w >= 0)
      n += 1 + (size_t)w;
  }
  if (n > LINE_MAX_BYTES)
    n = LINE_MAX_BYTES;

  uv_once(&once, init_lock);
  uv_mutex_lock(&lock);
  /* The line, cut at LINE_MAX_BYTES (truncated, never split), then room for
   * the newline of the fd sinks. */
  char line[LINE_MAX_BYTES + 2];
  size_t m = sink != SINK_SYSLOG ? format_ts(line, LINE_MAX_BYTES + 1) : 0;
  size_t take = n < LINE_MAX_BYTES - m ? n : LINE_MAX_BYTES - m;
  memcpy(line + m, body, take);
  m += take;
  line[m] = '\0';
  switch (sink) {
  case SINK_STDERR:
  case SINK_FILE:
    line[m] = '\n';
    write_all(sink == SINK_FILE ? file_fd : STDERR_FILENO, line, m + 1);
    break;
  case SINK_SYSLOG: {
    static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
    syslog(prio[level], "%s", line);
    break;
  }
  case SINK_CUSTOM:
    in_sink = 1;
    custom_cb(level, line, custom_arg);
    in_sink = 0;
    break;
  }
  uv_mutex_unlock(&lock);
}

void eddy_log(eddy_log_level_t level, const char *event, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  eddy_logv(level, event, fmt, ap);
  va_end(ap);
}
