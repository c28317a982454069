/* log.c — one process-wide structured logger (see eddy/log.h). */
#include "eddy/log.h"

#include <errno.h>
#include <fcntl.h>
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
static uv_mutex_t lock;
static eddy_log_level_t min_level = EDDY_LOG_INFO;
static sink_kind_t sink = SINK_STDERR;
static int file_fd = -1;
static char *file_path;
static eddy_log_sink_cb custom_cb;
static void *custom_arg;

static const char *const level_names[] = {"debug", "info", "warn", "error",
                                          "off"};

static void init_lock(void) { uv_mutex_init(&lock); }

void eddy_log_set_level(eddy_log_level_t level) {
  uv_once(&once, init_lock);
  uv_mutex_lock(&lock);
  min_level = level;
  uv_mutex_unlock(&lock);
}

eddy_log_level_t eddy_log_get_level(void) {
  uv_once(&once, init_lock);
  uv_mutex_lock(&lock);
  eddy_log_level_t level = min_level;
  uv_mutex_unlock(&lock);
  return level;
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
    snprintf(buf, size, "%s", s);
    return buf;
  }
  size_t o = 0;
  buf[o++] = '"';
  for (const char *p = s; *p && o + 3 < size; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '"' || c == '\\') {
      buf[o++] = '\\';
      buf[o++] = (char)c;
    } else if (c == '\n') {
      buf[o++] = '\\';
      buf[o++] = 'n';
    } else if (c < ' ' || c == 0x7f) {
      buf[o++] = '?';
    } else {
      buf[o++] = (char)c;
    }
  }
  if (o + 1 < size)
    buf[o++] = '"';
  buf[o < size ? o : size - 1] = '\0';
  return buf;
}

static void close_file_locked(void) {
  if (file_fd >= 0)
    close(file_fd);
  file_fd = -1;
  free(file_path);
  file_path = NULL;
}

void eddy_log_to_stderr(void) {
  uv_once(&once, init_lock);
  uv_mutex_lock(&lock);
  close_file_locked();
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
  close_file_locked();
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
  uv_mutex_lock(&lock);
  close_file_locked();
  openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
  sink = SINK_SYSLOG;
  uv_mutex_unlock(&lock);
}

void eddy_log_to_sink(eddy_log_sink_cb cb, void *arg) {
  uv_once(&once, init_lock);
  uv_mutex_lock(&lock);
  close_file_locked();
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

void eddy_logv(eddy_log_level_t level, const char *event, const char *fmt,
               va_list ap) {
  uv_once(&once, init_lock);
  if (level < EDDY_LOG_DEBUG || level >= EDDY_LOG_OFF)
    return;
  char line[LINE_MAX_BYTES + 1];
  size_t n = 0;
  uv_mutex_lock(&lock);
  if (level < min_level) {
    uv_mutex_unlock(&lock);
    return;
  }
  if (sink != SINK_SYSLOG) {
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    time_t secs = (time_t)tv.tv_sec;
    struct tm tm;
    gmtime_r(&secs, &tm);
    n = strftime(line, sizeof(line), "ts=%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03dZ ",
                          (int)(tv.tv_usec / 1000));
  }
  int w = snprintf(line + n, sizeof(line) - n, "level=%s event=%s",
                   level_names[level], event != NULL ? event : "-");
  n = w < 0 ? n : n + (size_t)w;
  if (n < sizeof(line) - 1 && fmt != NULL && *fmt != '\0') {
    line[n++] = ' ';
    w = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    n = w < 0 ? n : n + (size_t)w;
  }
  if (n > LINE_MAX_BYTES)
    n = LINE_MAX_BYTES; /* truncated, never split */
  line[n] = '\0';
  switch (sink) {
  case SINK_STDERR:
  case SINK_FILE:
    line[n] = '\n';
    write_all(sink == SINK_FILE ? file_fd : STDERR_FILENO, line, n + 1);
    break;
  case SINK_SYSLOG: {
    static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
    syslog(prio[level], "%s", line);
    break;
  }
  case SINK_CUSTOM:
    custom_cb(level, line, custom_arg);
    break;
  }
  uv_mutex_unlock(&lock);
}

void eddy_log(eddy_log_level_t level, const char *event, const char *fmt,
              ...) {
  va_list ap;
  va_start(ap, fmt);
  eddy_logv(level, event, fmt, ap);
  va_end(ap);
}
