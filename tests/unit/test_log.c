/* Logging, errors, addresses, version. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "support.h"

static char lines[8192];
static int count;
static void capture(eddy_log_level_t level, const char *line, void *arg) {
  (void)level;
  (void)arg;
  count++;
  strncat(lines, line, sizeof(lines) - strlen(lines) - 2);
  strcat(lines, "\n");
}

static void setup(void) {
  lines[0] = '\0';
  count = 0;
  eddy_log_set_level(EDDY_LOG_INFO);
  eddy_log_to_sink(capture, NULL);
}
static void teardown(void) {
  eddy_log_to_stderr();
}

TestSuite(log, .init = setup, .fini = teardown);

Test(log, key_value_line_with_timestamp_level_and_event) {
  eddy_log(EDDY_LOG_INFO, "listening", "endpoint=%s port=%d", "tcp:7700", 7700);
  cr_assert_eq(count, 1);
  cr_assert(strncmp(lines, "ts=", 3) == 0, "%s", lines);
  cr_assert(strstr(lines, "Z level=info event=listening endpoint=tcp:7700 "
                          "port=7700\n") != NULL,
            "%s", lines);
}

Test(log, level_filters) {
  eddy_log(EDDY_LOG_DEBUG, "hidden", NULL);
  cr_assert_eq(count, 0);
  eddy_log_set_level(EDDY_LOG_DEBUG);
  eddy_log(EDDY_LOG_DEBUG, "shown", NULL);
  cr_assert_eq(count, 1);
  eddy_log_set_level(EDDY_LOG_OFF);
  eddy_log(EDDY_LOG_ERROR, "hidden", NULL);
  cr_assert_eq(count, 1);
  cr_assert_eq(eddy_log_get_level(), EDDY_LOG_OFF);
}

Test(log, parse_level) {
  eddy_log_level_t l;
  cr_assert_eq(eddy_log_parse_level("warn", &l), 0);
  cr_assert_eq(l, EDDY_LOG_WARN);
  cr_assert_eq(eddy_log_parse_level("loud", &l), EDDY_EPARSE);
  cr_assert_eq(eddy_log_parse_level(NULL, &l), EDDY_EPARSE);
}

Test(log, quote) {
  char buf[64];
  cr_assert_str_eq(eddy_log_quote(buf, sizeof(buf), "plain"), "plain");
  cr_assert_str_eq(eddy_log_quote(buf, sizeof(buf), "two words"),
                   "\"two words\"");
  cr_assert_str_eq(eddy_log_quote(buf, sizeof(buf), "a\"b\\c\nd"),
                   "\"a\\\"b\\\\c\\nd\"");
  cr_assert_str_eq(eddy_log_quote(buf, sizeof(buf), ""), "\"\"");
  char tiny[6];
  eddy_log_quote(tiny, sizeof(tiny), "long value here");
  cr_assert(strlen(tiny) < sizeof(tiny));
}

Test(log, long_lines_are_truncated_not_split) {
  static char big[10000];
  memset(big, 'a', sizeof(big) - 1);
  eddy_log(EDDY_LOG_INFO, "big", "v=%s", big);
  cr_assert_eq(count, 1);
  cr_assert(strlen(lines) <= 4097);
}

Test(log, file_sink_and_reopen) {
  char path[] = "/tmp/eddy-log-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  close(fd);
  cr_assert_eq(eddy_log_to_file(path), 0);
  eddy_log(EDDY_LOG_WARN, "first", NULL);
  char rotated[64];
  snprintf(rotated, sizeof(rotated), "%s.1", path);
  cr_assert_eq(rename(path, rotated), 0);
  cr_assert_eq(eddy_log_reopen(), 0);
  eddy_log(EDDY_LOG_WARN, "second", NULL);
  eddy_log_to_stderr();
  char buf[512] = {0};
  FILE *f = fopen(rotated, "r");
  fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  cr_assert(strstr(buf, "event=first") && !strstr(buf, "event=second"));
  memset(buf, 0, sizeof(buf));
  f = fopen(path, "r");
  cr_assert_not_null(f, "reopen did not create a new file");
  fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  cr_assert(strstr(buf, "level=warn event=second"), "%s", buf);
  unlink(path);
  unlink(rotated);
  cr_assert_eq(eddy_log_to_file("/nonexistent-dir/x.log"), UV_ENOENT);
}

Test(error, names_and_messages_for_both_ranges) {
  cr_assert_str_eq(eddy_err_name(EDDY_EPARSE), "EPARSE");
  cr_assert_str_eq(eddy_strerror(EDDY_EALREADYCALLED),
                   "deferred already fired");
  cr_assert_str_eq(eddy_err_name(UV_ECONNREFUSED), "ECONNREFUSED");
  cr_assert_str_eq(eddy_strerror(UV_ECONNREFUSED), "connection refused");
  cr_assert_str_eq(eddy_strerror(0), "success");
  cr_assert((int)EDDY_EPARSE < (int)UV_ERRNO_MAX,
            "eddy codes must not collide");
  cr_assert_not_null(eddy_strerror(-29999));
}

Test(addr, format_v4_v6_unix_and_port) {
  eddy_addr_t a;
  char out[128];
  memset(&a, 0, sizeof(a));
  uv_ip4_addr("127.0.0.1", 7700, (struct sockaddr_in *)&a.ss);
  a.len = sizeof(struct sockaddr_in);
  eddy_addr_format(&a, out, sizeof(out));
  cr_assert_str_eq(out, "127.0.0.1:7700");
  cr_assert_eq(eddy_addr_port(&a), 7700);
  uv_ip6_addr("::1", 80, (struct sockaddr_in6 *)&a.ss);
  a.len = sizeof(struct sockaddr_in6);
  eddy_addr_format(&a, out, sizeof(out));
  cr_assert_str_eq(out, "[::1]:80");
  cr_assert_eq(eddy_addr_port(&a), 80);
  struct sockaddr_un *sun = (struct sockaddr_un *)&a.ss;
  memset(&a, 0, sizeof(a));
  sun->sun_family = AF_UNIX;
  strcpy(sun->sun_path, "/run/eddy.sock");
  a.len = sizeof(*sun);
  eddy_addr_format(&a, out, sizeof(out));
  cr_assert_str_eq(out, "unix:/run/eddy.sock");
  cr_assert_eq(eddy_addr_port(&a), 0);
  a.len = 0;
  eddy_addr_format(&a, out, sizeof(out));
  cr_assert_str_eq(out, "unknown");
  cr_assert_str_eq(eddy_version(), EDDY_VERSION_STRING);
}

/* ---- Regressions and edge cases ----------------------------------------- */

Test(error, two_libuv_messages_in_one_call_stay_distinct) {
  /* Each used to be copied into one per-thread buffer, so both arguments
   * showed whichever was formatted last. */
  char out[128];
  snprintf(out, sizeof(out), "%s|%s", eddy_strerror(UV_ECONNREFUSED),
           eddy_strerror(UV_ETIMEDOUT));
  cr_assert_str_eq(out, "connection refused|connection timed out");
  snprintf(out, sizeof(out), "%s|%s", eddy_err_name(UV_EOF),
           eddy_err_name(UV_EAI_NONAME));
  cr_assert_str_eq(out, "EOF|EAI_NONAME");
  cr_assert_str_eq(eddy_err_name(0), "OK");
  cr_assert_str_eq(eddy_err_name(EDDY_EFAKECLOCK), "EFAKECLOCK");
  cr_assert_str_eq(eddy_strerror(EDDY_EBUSYCLOSE),
                   "handles or work still open");
}

Test(error, unknown_codes_get_a_message_and_a_name) {
  cr_assert(strstr(eddy_strerror(-29999), "-29999") != NULL, "%s",
            eddy_strerror(-29999));
  cr_assert(strstr(eddy_err_name(-29998), "-29998") != NULL, "%s",
            eddy_err_name(-29998));
}

Test(log, quote_edges) {
  char buf[16];
  cr_assert_str_eq(eddy_log_quote(buf, sizeof(buf), NULL), "\"\"");
  cr_assert_str_eq(eddy_log_quote(buf, sizeof(buf), "a=b"), "\"a=b\"");
  cr_assert_str_eq(eddy_log_quote(buf, sizeof(buf), "t\tx\x7f"), "\"t?x?\"");
  cr_assert_str_eq(eddy_log_quote(buf, sizeof(buf), "caf\xc3\xa9"),
                   "\"caf\xc3\xa9\"");
  /* Cut values keep their closing quote and never split an escape. */
  cr_assert_str_eq(eddy_log_quote(buf, 8, "a b c d e f"), "\"a b c\"");
  cr_assert_str_eq(eddy_log_quote(buf, 6, "ab\"cd"), "\"ab\"");
  cr_assert_str_eq(eddy_log_quote(buf, 3, "a b"), "\"\"");
  cr_assert_str_eq(eddy_log_quote(buf, 2, "a b"), "");
  cr_assert_str_eq(eddy_log_quote(buf, 1, "a b"), "");
  cr_assert_str_eq(eddy_log_quote(buf, 4, "plainer"), "pla");
  buf[0] = 'z';
  eddy_log_quote(buf, 0, "x");
  cr_assert_eq(buf[0], 'z', "size 0 writes nothing");
}

Test(log, event_and_format_edges) {
  eddy_log(EDDY_LOG_WARN, NULL, NULL);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-zero-length"
  eddy_log(EDDY_LOG_ERROR, "empty_fmt", "");
#pragma GCC diagnostic pop
  eddy_log((eddy_log_level_t)EDDY_LOG_OFF, "never", NULL);
  eddy_log((eddy_log_level_t)99, "never", NULL);
  eddy_log((eddy_log_level_t)-1, "never", NULL);
  cr_assert_eq(count, 2, "%s", lines);
  cr_assert(strstr(lines, "level=warn event=-\n") != NULL, "%s", lines);
  cr_assert(strstr(lines, "level=error event=empty_fmt\n") != NULL, "%s",
            lines);
}

Test(log, truncated_line_is_exactly_the_limit) {
  static char big[10000];
  memset(big, 'a', sizeof(big) - 1);
  eddy_log(EDDY_LOG_INFO, "big", "v=%s", big);
  cr_assert_eq(strlen(lines), 4096 + 1, "line plus the test's newline");
  static char huge_event[5000];
  memset(huge_event, 'e', sizeof(huge_event) - 1);
  lines[0] = '\0';
  eddy_log(EDDY_LOG_INFO, huge_event, "k=%d", 1);
  cr_assert_eq(strlen(lines), 4096 + 1);
}

static void logging_sink(eddy_log_level_t level, const char *line, void *arg) {
  capture(level, line, arg);
  /* Would deadlock on the logger's lock; the inner line is dropped. */
  eddy_log(EDDY_LOG_ERROR, "from_inside_the_sink", NULL);
}

Test(log, a_sink_that_logs_does_not_deadlock) {
  eddy_log_to_sink(logging_sink, NULL);
  eddy_log(EDDY_LOG_INFO, "outer", NULL);
  eddy_log(EDDY_LOG_INFO, "outer", NULL);
  cr_assert_eq(count, 2);
  cr_assert(strstr(lines, "from_inside") == NULL, "%s", lines);
}

enum { LOG_THREADS = 4, LOG_LINES = 500 };
static int bad_lines;
static void checking_sink(eddy_log_level_t level, const char *line, void *arg) {
  (void)level;
  (void)arg;
  /* Runs under the logger's lock: count is not raced. */
  count++;
  const char *v = strstr(line, "payload=");
  if (v == NULL || strlen(v) != strlen("payload=") + 200)
    bad_lines++;
}

static void *log_storm(void *arg) {
  char payload[201];
  memset(payload, 'a' + (int)(intptr_t)arg, 200);
  payload[200] = '\0';
  for (int i = 0; i < LOG_LINES; i++) {
    eddy_log(EDDY_LOG_INFO, "storm", "thread=%d i=%d payload=%s",
             (int)(intptr_t)arg, i, payload);
    if (i == LOG_LINES / 2)
      eddy_log_set_level(EDDY_LOG_INFO); /* concurrent level writes */
  }
  return NULL;
}

Test(log, many_threads_log_whole_lines) {
  bad_lines = 0;
  eddy_log_to_sink(checking_sink, NULL);
  pthread_t th[LOG_THREADS];
  for (int i = 0; i < LOG_THREADS; i++)
    pthread_create(&th[i], NULL, log_storm, (void *)(intptr_t)i);
  for (int i = 0; i < LOG_THREADS; i++)
    pthread_join(th[i], NULL);
  cr_assert_eq(count, LOG_THREADS * LOG_LINES);
  cr_assert_eq(bad_lines, 0);
}

Test(log, syslog_sink_can_be_set_and_left) {
  char ident[32];
  snprintf(ident, sizeof(ident), "eddy-test");
  eddy_log_to_syslog(ident);
  memset(ident, 'X', sizeof(ident) - 1); /* the logger keeps its own copy */
  eddy_log_set_level(EDDY_LOG_ERROR);
  eddy_log(EDDY_LOG_DEBUG, "filtered", NULL);
  eddy_log_set_level(EDDY_LOG_DEBUG);
  eddy_log(EDDY_LOG_DEBUG, "eddy_unit_test", "sink=syslog"); /* one line */
  eddy_log_to_syslog(NULL);
  eddy_log_to_sink(capture, NULL);
  eddy_log(EDDY_LOG_ERROR, "back", NULL);
  cr_assert_eq(count, 1);
}

Test(log, reopen_failure_keeps_the_old_file) {
  char dir[] = "/tmp/eddy-logdir-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char path[64];
  snprintf(path, sizeof(path), "%s/a.log", dir);
  cr_assert_eq(eddy_log_to_file(path), 0);
  eddy_log(EDDY_LOG_WARN, "one", NULL);
  int keep = open(path, O_RDONLY);
  cr_assert(keep >= 0);
  unlink(path);
  rmdir(dir);
  cr_assert_eq(eddy_log_reopen(), UV_ENOENT);
  eddy_log(EDDY_LOG_WARN, "two", NULL); /* still goes to the old file */
  eddy_log_to_stderr();
  char buf[512] = {0};
  cr_assert(read(keep, buf, sizeof(buf) - 1) > 0);
  close(keep);
  cr_assert(strstr(buf, "event=one") && strstr(buf, "event=two"), "%s", buf);
  cr_assert_eq(eddy_log_reopen(), 0, "not logging to a file: nothing to do");
}

Test(log, stderr_sink_writes_a_line) {
  int saved = dup(STDERR_FILENO);
  int fds[2];
  cr_assert_eq(pipe(fds), 0);
  dup2(fds[1], STDERR_FILENO);
  eddy_log_to_stderr();
  eddy_log(EDDY_LOG_ERROR, "to_stderr", "k=%s", "v");
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(fds[1]);
  char buf[256] = {0};
  cr_assert(read(fds[0], buf, sizeof(buf) - 1) > 0);
  close(fds[0]);
  cr_assert(strstr(buf, "level=error event=to_stderr k=v\n") != NULL, "%s",
            buf);
  /* A closed stderr: the line is lost, quietly. */
  saved = dup(STDERR_FILENO);
  close(STDERR_FILENO);
  eddy_log(EDDY_LOG_ERROR, "nowhere", NULL);
  dup2(saved, STDERR_FILENO);
  close(saved);
}

Test(addr, abstract_unknown_family_and_truncation) {
  eddy_addr_t a;
  char out[128];
  memset(&a, 0, sizeof(a));
  struct sockaddr_un *sun = (struct sockaddr_un *)&a.ss;
  sun->sun_family = AF_UNIX;
  memcpy(sun->sun_path, "\0eddy\x01", 6);
  a.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 6);
  cr_assert_eq(eddy_addr_format(&a, out, sizeof(out)), 11);
  cr_assert_str_eq(out, "unix:@eddy?");
  char small[8];
  cr_assert_eq(eddy_addr_format(&a, small, sizeof(small)), 11);
  cr_assert_str_eq(small, "unix:@e");
  /* Unnamed: only the family. */
  a.len = sizeof(sa_family_t);
  eddy_addr_format(&a, out, sizeof(out));
  cr_assert_str_eq(out, "unix:");
  a.ss.ss_family = AF_UNSPEC;
  a.len = sizeof(a.ss);
  eddy_addr_format(&a, out, sizeof(out));
  cr_assert_str_eq(out, "family-0");
  cr_assert_eq(eddy_addr_port(&a), 0);
  cr_assert_eq(eddy_addr_port(NULL), 0);
  cr_assert_eq(eddy_addr_format(NULL, out, sizeof(out)), 7);
  cr_assert_str_eq(out, "unknown");
  uv_ip4_addr("10.0.0.1", 65535, (struct sockaddr_in *)&a.ss);
  a.len = sizeof(struct sockaddr_in);
  cr_assert_eq(eddy_addr_format(&a, small, sizeof(small)), 14);
  cr_assert_str_eq(small, "10.0.0.");
  cr_assert_eq(eddy_addr_format(&a, NULL, 0), 14);
}

Test(log, parse_every_level) {
  const char *names[] = {"debug", "info", "warn", "error", "off"};
  for (int i = 0; i <= EDDY_LOG_OFF; i++) {
    eddy_log_level_t l = EDDY_LOG_INFO;
    cr_assert_eq(eddy_log_parse_level(names[i], &l), 0);
    cr_assert_eq((int)l, i);
  }
  eddy_log_level_t l = EDDY_LOG_WARN;
  cr_assert_eq(eddy_log_parse_level("INFO", &l), EDDY_EPARSE);
  cr_assert_eq(l, EDDY_LOG_WARN, "left unchanged on error");
}
