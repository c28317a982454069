/* test_process.c — child processes as protocols (eddy/process.h). */
#include "support.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What a test saw of its child. */
typedef struct seen_s {
  char *out;
  size_t out_len;
  char *err;
  size_t err_len;
  int started;
  int ended;
  int out_before_start; /* output delivered before `started` */
  int out_after_end;
  int reason;
  int64_t status;
  int term_signal;
  size_t out_at_end; /* out_len when `ended` ran */
  /* Optional actions. */
  int kill_on_start;
  const char *write_on_start;
} seen_t;

static void append(char **buf, size_t *len, const char *data, size_t n) {
  char *b = realloc(*buf, *len + n + 1);
  cr_assert_not_null(b);
  memcpy(b + *len, data, n);
  *len += n;
  b[*len] = '\0';
  *buf = b;
}

static void p_started(eddy_process_t *p) {
  seen_t *s = eddy_process_data(p);
  s->started++;
  if (s->kill_on_start)
    cr_assert_eq(eddy_process_kill(p, SIGTERM), 0);
  if (s->write_on_start != NULL) {
    cr_assert_eq(
        eddy_process_write(p, s->write_on_start, strlen(s->write_on_start)), 0);
    eddy_process_close_stdin(p);
    cr_assert_eq(eddy_process_write(p, "x", 1), UV_EPIPE);
  }
}

static void p_out(eddy_process_t *p, const char *data, size_t len) {
  seen_t *s = eddy_process_data(p);
  if (!s->started)
    s->out_before_start = 1;
  if (s->ended)
    s->out_after_end = 1;
  append(&s->out, &s->out_len, data, len);
}

static void p_err(eddy_process_t *p, const char *data, size_t len) {
  seen_t *s = eddy_process_data(p);
  append(&s->err, &s->err_len, data, len);
}

static void p_ended(eddy_process_t *p, int reason, int64_t status, int sig) {
  seen_t *s = eddy_process_data(p);
  s->ended++;
  s->reason = reason;
  s->status = status;
  s->term_signal = sig;
  s->out_at_end = s->out_len;
}

static const eddy_process_ops_t ops = {p_started, p_out, p_err, p_ended};

static void seen_free(seen_t *s) {
  free(s->out);
  free(s->err);
}

/* Spawns /bin/sh -c script and runs until `ended`. */
static eddy_process_t *run_sh(eddy_reactor_t *r, const char *script,
                              seen_t *s) {
  char *args[] = {"sh", "-c", (char *)script, NULL};
  eddy_spawn_opts_t o = {.file = "/bin/sh", .args = args, .data = s};
  eddy_process_t *p = NULL;
  int rc = eddy_spawn(r, &o, &ops, &p);
  cr_assert_eq(rc, 0, "spawn: %s", eddy_strerror(rc));
  cr_assert_not_null(p);
  cr_assert_eq(s->started, 0, "started inside eddy_spawn");
  return p;
}

Test(process, exit_code_and_output) {
  eddy_reactor_t *r = test_reactor(0);
  seen_t s = {0};
  eddy_process_t *p = run_sh(r, "echo hello; exit 3", &s);
  cr_assert_gt(eddy_process_pid(p), 0);
  cr_assert_eq(eddy_process_data(p), &s);
  cr_assert(test_run_until(r, &s.ended, 5000));
  cr_assert_eq(s.started, 1);
  cr_assert_eq(s.ended, 1);
  cr_assert_eq(s.out_before_start, 0);
  cr_assert_str_eq(s.out, "hello\n");
  cr_assert_eq(s.reason, EDDY_EPROCEXIT);
  cr_assert_eq(s.status, 3);
  cr_assert_eq(s.term_signal, 0);
  test_close_reactor(r);
  cr_assert_eq(s.ended, 1);
  seen_free(&s);
}

Test(process, zero_exit) {
  eddy_reactor_t *r = test_reactor(0);
  seen_t s = {0};
  run_sh(r, "true", &s);
  cr_assert(test_run_until(r, &s.ended, 5000));
  cr_assert_eq(s.reason, 0);
  cr_assert_eq(s.status, 0);
  cr_assert_eq(s.out_len, 0);
  test_close_reactor(r);
  seen_free(&s);
}

Test(process, stdin_echoed_by_cat) {
  eddy_reactor_t *r = test_reactor(0);
  seen_t s = {.write_on_start = "line one\nline two\n"};
  char *args[] = {"cat", NULL};
  eddy_spawn_opts_t o = {.file = "cat", .args = args, .data = &s};
  eddy_process_t *p = NULL;
  cr_assert_eq(eddy_spawn(r, &o, &ops, &p), 0);
  cr_assert(test_run_until(r, &s.ended, 5000));
  cr_assert_str_eq(s.out, "line one\nline two\n");
  cr_assert_eq(s.reason, 0);
  test_close_reactor(r);
  seen_free(&s);
}

Test(process, killed_by_signal) {
  eddy_reactor_t *r = test_reactor(0);
  seen_t s = {.kill_on_start = 1};
  /* exec: a shell killed before its child would leave sleep holding the
   * pipes, and `ended` rightly waits for their EOF. */
  run_sh(r, "exec sleep 10", &s);
  cr_assert(test_run_until(r, &s.ended, 5000));
  cr_assert_eq(s.reason, EDDY_EPROCSIGNAL);
  cr_assert_eq(s.term_signal, SIGTERM);
  test_close_reactor(r);
  seen_free(&s);
}

Test(process, stderr_separate) {
  eddy_reactor_t *r = test_reactor(0);
  seen_t s = {0};
  run_sh(r, "echo out; echo oops >&2; exit 1", &s);
  cr_assert(test_run_until(r, &s.ended, 5000));
  cr_assert_str_eq(s.out, "out\n");
  cr_assert_str_eq(s.err, "oops\n");
  cr_assert_eq(s.reason, EDDY_EPROCEXIT);
  cr_assert_eq(s.status, 1);
  test_close_reactor(r);
  seen_free(&s);
}

Test(process, env_and_cwd) {
  eddy_reactor_t *r = test_reactor(0);
  char tmpl[] = "/tmp/eddy-proc-XXXXXX";
  cr_assert_not_null(mkdtemp(tmpl));
  char real[PATH_MAX];
  cr_assert_not_null(realpath(tmpl, real));
  char *env[] = {"EDDY_TEST_VAR=forty two", "PATH=/usr/bin:/bin", NULL};
  char *args[] = {"sh", "-c", "echo \"$EDDY_TEST_VAR\"; pwd -P", NULL};
  seen_t s = {0};
  eddy_spawn_opts_t o = {
      .file = "/bin/sh", .args = args, .env = env, .cwd = tmpl, .data = &s};
  eddy_process_t *p = NULL;
  cr_assert_eq(eddy_spawn(r, &o, &ops, &p), 0);
  cr_assert(test_run_until(r, &s.ended, 5000));
  char want[PATH_MAX + 32];
  snprintf(want, sizeof(want), "forty two\n%s\n", real);
  cr_assert_str_eq(s.out, want);
  cr_assert_eq(rmdir(tmpl), 0);
  test_close_reactor(r);
  seen_free(&s);
}

Test(process, large_output_received_before_ended) {
  eddy_reactor_t *r = test_reactor(0);
  seen_t s = {0};
  run_sh(r, "head -c 1048576 /dev/zero", &s);
  cr_assert(test_run_until(r, &s.ended, 10000));
  cr_assert_eq(s.out_at_end, 1048576u);
  cr_assert_eq(s.out_len, 1048576u);
  cr_assert_eq(s.out_after_end, 0);
  for (size_t i = 0; i < s.out_len; i++)
    if (s.out[i] != '\0')
      cr_assert_fail("byte %zu is %d", i, s.out[i]);
  test_close_reactor(r);
  seen_free(&s);
}

/* 1 MiB through cat: stdin writes queue beyond the pipe's capacity. */
typedef struct pump_s {
  seen_t seen;
  char *payload;
  size_t len;
} pump_t;

static void pump_started(eddy_process_t *p) {
  pump_t *pp = eddy_process_data(p);
  pp->seen.started = 1;
  for (size_t off = 0; off < pp->len; off += 65536)
    cr_assert_eq(eddy_process_write(p, pp->payload + off, 65536), 0);
  eddy_process_close_stdin(p);
}

static void pump_out(eddy_process_t *p, const char *data, size_t len) {
  pump_t *pp = eddy_process_data(p);
  append(&pp->seen.out, &pp->seen.out_len, data, len);
}

static void pump_ended(eddy_process_t *p, int reason, int64_t st, int sig) {
  pump_t *pp = eddy_process_data(p);
  pp->seen.ended = 1;
  pp->seen.reason = reason;
  pp->seen.out_at_end = pp->seen.out_len;
  (void)st;
  (void)sig;
}

Test(process, large_stdin_round_trip) {
  eddy_reactor_t *r = test_reactor(0);
  pump_t pp = {.len = 1048576};
  pp.payload = malloc(pp.len);
  cr_assert_not_null(pp.payload);
  for (size_t i = 0; i < pp.len; i++)
    pp.payload[i] = (char)('a' + i % 26);
  static const eddy_process_ops_t pump_ops = {pump_started, pump_out, NULL,
                                              pump_ended};
  char *args[] = {"cat", NULL};
  eddy_spawn_opts_t o = {.file = "cat", .args = args, .data = &pp};
  eddy_process_t *p = NULL;
  cr_assert_eq(eddy_spawn(r, &o, &pump_ops, &p), 0);
  cr_assert(test_run_until(r, &pp.seen.ended, 10000));
  cr_assert_eq(pp.seen.reason, 0);
  cr_assert_eq(pp.seen.out_at_end, pp.len);
  cr_assert(memcmp(pp.seen.out, pp.payload, pp.len) == 0);
  test_close_reactor(r);
  free(pp.payload);
  seen_free(&pp.seen);
}

Test(process, spawn_error_is_synchronous) {
  eddy_reactor_t *r = test_reactor(0);
  seen_t s = {0};
  char *args[] = {"nope", NULL};
  eddy_spawn_opts_t o = {
      .file = "/nonexistent/eddy-no-such-program", .args = args, .data = &s};
  eddy_process_t *p = NULL;
  cr_assert_eq(eddy_spawn(r, &o, &ops, &p), UV_ENOENT);
  cr_assert_null(p);
  /* A bad cwd fails the same way. */
  char *sh_args[] = {"sh", "-c", "true", NULL};
  eddy_spawn_opts_t o2 = {.file = "/bin/sh",
                          .args = sh_args,
                          .cwd = "/nonexistent/eddy-dir",
                          .data = &s};
  cr_assert_eq(eddy_spawn(r, &o2, &ops, &p), UV_ENOENT);
  test_close_reactor(r);
  cr_assert_eq(s.started, 0);
  cr_assert_eq(s.ended, 0);
}

Test(process, bad_arguments) {
  eddy_reactor_t *r = test_reactor(0);
  eddy_process_t *p = NULL;
  eddy_spawn_opts_t o = {.file = NULL};
  cr_assert_eq(eddy_spawn(r, &o, &ops, &p), UV_EINVAL);
  eddy_spawn_opts_t o2 = {.file = "/bin/sh", .stdio = {7, 0, 0}};
  cr_assert_eq(eddy_spawn(r, &o2, &ops, &p), UV_EINVAL);
  test_close_reactor(r);
}

Test(process, stdio_ignore_and_no_ops) {
  eddy_reactor_t *r = test_reactor(0);
  seen_t s = {0};
  char *args[] = {"sh", "-c", "echo discarded; read x; exit 5", NULL};
  eddy_spawn_opts_t o = {
      .file = "/bin/sh",
      .args = args,
      .stdio = {EDDY_STDIO_IGNORE, EDDY_STDIO_IGNORE, EDDY_STDIO_IGNORE},
      .data = &s};
  eddy_process_t *p = NULL;
  cr_assert_eq(eddy_spawn(r, &o, &ops, &p), 0);
  /* stdin is /dev/null, not a pipe: nothing to write to. */
  cr_assert_eq(eddy_process_write(p, "x", 1), UV_EPIPE);
  cr_assert(test_run_until(r, &s.ended, 5000));
  cr_assert_eq(s.out_len, 0);
  cr_assert_eq(s.status, 5);
  /* NULL ops: the process still runs and is freed. */
  eddy_spawn_opts_t o2 = {.file = "/bin/sh", .args = args};
  cr_assert_eq(eddy_spawn(r, &o2, NULL, &p), 0);
  eddy_process_close_stdin(p);
  /* Nothing to observe it by: run until its handles are gone. */
  cr_assert_eq(eddy_reactor_run(r), 0);
  test_close_reactor(r);
  seen_free(&s);
}
