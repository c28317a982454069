/* Logging, errors, addresses, version. */
#include <arpa/inet.h>
#include <fcntl.h>
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
static void teardown(void) { eddy_log_to_stderr(); }

TestSuite(log, .init = setup, .fini = teardown);

Test(log, key_value_line_with_timestamp_level_and_event) {
  eddy_log(EDDY_LOG_INFO, "listening", "endpoint=%s port=%d", "tcp:7700",
           7700);
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
  cr_assert((int)EDDY_EPARSE < (int)UV_ERRNO_MAX, "eddy codes must not collide");
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
