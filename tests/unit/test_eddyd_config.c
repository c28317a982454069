/* test_eddyd_config.c — eddyd's option and configuration parsing.
 *
 * Both are pure functions, so every message they can produce is checked
 * here, word for word. They live in daemon/'s eddyd-config library, which
 * tests/unit/meson.build links into this test.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "options.h"

static eddyd_config_t cfg;
static char err[EDDYD_ERR_MAX];

static void setup(void) {
  eddyd_config_init(&cfg);
  err[0] = '\0';
}

TestSuite(eddyd_config, .init = setup);
TestSuite(eddyd_options, .init = setup);

/* Sets key from the flags layer, expecting failure with exactly msg. */
static void set_fails(const char *key, const char *value, const char *msg) {
  int rc =
      eddyd_config_set(&cfg, EDDYD_LAYER_FLAGS, key, value, err, sizeof(err));
  cr_assert_eq(rc, -1, "%s=%s accepted", key, value ? value : "(null)");
  cr_assert_str_eq(err, msg);
}

static void set_ok(const char *key, const char *value) {
  int rc =
      eddyd_config_set(&cfg, EDDYD_LAYER_FLAGS, key, value, err, sizeof(err));
  cr_assert_eq(rc, 0, "%s=%s: %s", key, value, err);
}

static int parse_text(const char *text) {
  return eddyd_config_parse_text(&cfg, text, strlen(text), "f.conf", err,
                                 sizeof(err));
}

/* Each text is parsed into fresh defaults: lines of one file add to the
 * same layer, so earlier texts would otherwise interfere. */
static void text_fails(const char *text, const char *msg) {
  eddyd_config_init(&cfg);
  cr_assert_eq(parse_text(text), -1, "accepted: %s", text);
  cr_assert_str_eq(err, msg);
}

/* ---- Defaults and single settings -------------------------------------- */

Test(eddyd_config, defaults_serve_everything_on_loopback) {
  cr_assert_eq(cfg.http.count, 1);
  cr_assert_str_eq(cfg.http.list[0], "tcp:7700");
  cr_assert_eq(cfg.locks.count, 1);
  cr_assert_str_eq(cfg.locks.list[0], "tcp:7701");
  cr_assert_eq(cfg.cache.count, 1);
  cr_assert_str_eq(cfg.cache.list[0], "tcp:7702");
  cr_assert_eq(cfg.cache_memory, (size_t)64 << 20);
  cr_assert_eq(cfg.cache_max_item, (size_t)1 << 20);
  cr_assert_eq(cfg.log_level, EDDY_LOG_INFO);
  cr_assert_eq(cfg.daemon, 0);
  cr_assert_eq(cfg.syslog, 0);
  cr_assert_eq(cfg.stats_interval, 60);
  cr_assert_str_eq(cfg.pidfile, "");
  cr_assert_eq(eddyd_config_validate(&cfg, err, sizeof(err)), 0);
}

Test(eddyd_config, unknown_key_and_missing_value) {
  set_fails("bogus", "1", "unknown key 'bogus'");
  set_fails("locks", NULL, "a value is required");
}

Test(eddyd_config, key_kinds) {
  const char *name = NULL;
  cr_assert_eq(eddyd_config_key_kind("locks", &name), 1);
  cr_assert_str_eq(name, "locks");
  cr_assert_eq(eddyd_config_key_kind("daemon", NULL), 0);
  cr_assert_eq(eddyd_config_key_kind("syslog", NULL), 0);
  cr_assert_eq(eddyd_config_key_kind("config", NULL), -1);
  cr_assert_eq(eddyd_config_key_kind("", NULL), -1);
}

Test(eddyd_config, endpoints_replace_lower_layers_and_accumulate_within) {
  cr_assert_eq(eddyd_config_set(&cfg, EDDYD_LAYER_FILE, "locks", "tcp:1", err,
                                sizeof(err)),
               0);
  cr_assert_eq(eddyd_config_set(&cfg, EDDYD_LAYER_FILE, "locks", "unix:/a", err,
                                sizeof(err)),
               0);
  cr_assert_eq(cfg.locks.count, 2);
  set_ok("locks", "tcp:0");
  cr_assert_eq(cfg.locks.count, 1);
  cr_assert_str_eq(cfg.locks.list[0], "tcp:0");
  set_ok("locks", "unix:/run/eddy/locks.sock");
  cr_assert_eq(cfg.locks.count, 2);
  cr_assert_str_eq(cfg.locks.list[1], "unix:/run/eddy/locks.sock");
}

Test(eddyd_config, off_switches_a_service_off) {
  set_ok("cache", "off");
  cr_assert_eq(cfg.cache.count, 0);
  cr_assert_eq(cfg.cache.off, 1);
  set_fails("cache", "tcp:1", "'off' cannot be combined with endpoints");
  /* A higher layer may switch back on what a file switched off. */
  eddyd_config_init(&cfg);
  cr_assert_eq(eddyd_config_set(&cfg, EDDYD_LAYER_FILE, "cache", "off", err,
                                sizeof(err)),
               0);
  set_ok("cache", "tcp:11211");
  cr_assert_eq(cfg.cache.count, 1);
  set_fails("cache", "off", "'off' cannot be combined with endpoints");
}

Test(eddyd_config, endpoint_errors) {
  set_fails("locks", "", "expected an endpoint (tcp:PORT, unix:PATH) or off");
  set_fails("locks", "tcp:abc",
            "bad endpoint 'tcp:abc': expected a port number (0-65535) "
            "(at byte 4)");
  char long_ep[EDDYD_ENDPOINT_MAX + 1];
  memset(long_ep, 'a', sizeof(long_ep) - 1);
  long_ep[sizeof(long_ep) - 1] = '\0';
  set_fails("locks", long_ep, "endpoint longer than 399 bytes");
  eddyd_config_init(&cfg);
  set_ok("locks", "tcp:1");
  set_fails("locks", "tcp:1", "endpoint 'tcp:1' is given twice");
  for (int i = 2; i <= EDDYD_MAX_ENDPOINTS; i++) {
    char ep[32];
    snprintf(ep, sizeof(ep), "tcp:%d", i);
    set_ok("locks", ep);
  }
  set_fails("locks", "tcp:100", "at most 8 endpoints per service");
}

Test(eddyd_config, the_reserved_http_endpoint_is_checked_too) {
  set_ok("http", "tcp:8080:interface=0.0.0.0");
  set_fails("http", "udp:1",
            "bad endpoint 'udp:1': expected tcp, tcp6 or unix (at byte 0)");
}

Test(eddyd_config, sizes) {
  size_t v;
  cr_assert_eq(eddyd_parse_size("0", &v), 0);
  cr_assert_eq(v, 0);
  cr_assert_eq(eddyd_parse_size("100", &v), 0);
  cr_assert_eq(v, 100);
  cr_assert_eq(eddyd_parse_size("2k", &v), 0);
  cr_assert_eq(v, 2048);
  cr_assert_eq(eddyd_parse_size("64M", &v), 0);
  cr_assert_eq(v, (size_t)64 << 20);
  cr_assert_eq(eddyd_parse_size("3g", &v), 0);
  cr_assert_eq(v, (size_t)3 << 30);
  const char *bad[] = {"",
                       "M",
                       "-1",
                       "1.5M",
                       "1MB",
                       "1 M",
                       " 1",
                       "1T",
                       "99999999999999999999",
                       "18014398509481984K",
                       NULL};
  for (int i = 0; bad[i] != NULL; i++)
    cr_assert_eq(eddyd_parse_size(bad[i], &v), -1, "accepted '%s'", bad[i]);
  char buf[32];
  eddyd_format_size((size_t)64 << 20, buf, sizeof(buf));
  cr_assert_str_eq(buf, "64M");
  eddyd_format_size(1536 * 1024, buf, sizeof(buf));
  cr_assert_str_eq(buf, "1536K");
  eddyd_format_size((size_t)2 << 30, buf, sizeof(buf));
  cr_assert_str_eq(buf, "2G");
  eddyd_format_size(1000, buf, sizeof(buf));
  cr_assert_str_eq(buf, "1000");
  eddyd_format_size(0, buf, sizeof(buf));
  cr_assert_str_eq(buf, "0");
}

Test(eddyd_config, size_settings) {
  set_ok("cache-memory", "128M");
  cr_assert_eq(cfg.cache_memory, (size_t)128 << 20);
  set_ok("cache-max-item", "2m");
  cr_assert_eq(cfg.cache_max_item, (size_t)2 << 20);
  set_fails("cache-memory", "lots",
            "expected a size such as 64M (K, M, G), got 'lots'");
  set_fails("cache-memory", "1023K", "'1023K' is out of range (1M to 1024G)");
  set_fails("cache-memory", "1025G", "'1025G' is out of range (1M to 1024G)");
  set_fails("cache-max-item", "1023", "'1023' is out of range (1K to 1G)");
  set_fails("cache-max-item", "2G", "'2G' is out of range (1K to 1G)");
}

Test(eddyd_config, token) {
  set_ok("lock-admin-token", "s3cr3t-#!");
  cr_assert_str_eq(cfg.lock_admin_token, "s3cr3t-#!");
  set_fails("lock-admin-token", "", "expected a token, got an empty value");
  set_fails("lock-admin-token", "two words",
            "the token must be printable ASCII without spaces");
  set_fails("lock-admin-token", "tab\there",
            "the token must be printable ASCII without spaces");
  set_fails("lock-admin-token", "caf\xc3\xa9",
            "the token must be printable ASCII without spaces");
  char big[EDDYD_TOKEN_MAX + 1];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  set_fails("lock-admin-token", big, "a token longer than 255 bytes");
}

Test(eddyd_config, log_level_paths_and_booleans) {
  set_ok("log-level", "debug");
  cr_assert_eq(cfg.log_level, EDDY_LOG_DEBUG);
  set_fails("log-level", "loud",
            "expected debug, info, warn, error or off, got 'loud'");
  set_ok("logfile", "/var/log/eddyd.log");
  cr_assert_str_eq(cfg.logfile, "/var/log/eddyd.log");
  set_fails("pidfile", "", "expected a path, got an empty value");
  set_fails("pidfile", "a\nb", "a path contains a control character");
  char big[EDDYD_PATH_MAX + 1];
  memset(big, 'p', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  set_fails("logfile", big, "a path longer than 1023 bytes");
  const char *yes[] = {"yes", "TRUE", "on", "1"};
  const char *no[] = {"no", "False", "OFF", "0"};
  for (int i = 0; i < 4; i++) {
    set_ok("daemon", yes[i]);
    cr_assert_eq(cfg.daemon, 1);
    set_ok("daemon", no[i]);
    cr_assert_eq(cfg.daemon, 0);
  }
  set_fails("syslog", "maybe", "expected yes or no, got 'maybe'");
}

Test(eddyd_config, user_group_and_interval) {
  set_ok("user", "eddy");
  set_ok("group", "1000");
  cr_assert_str_eq(cfg.user, "eddy");
  cr_assert_str_eq(cfg.group, "1000");
  set_fails("user", "-root", "expected a name or a number, got '-root'");
  set_fails("group", "a b", "expected a name or a number, got 'a b'");
  set_fails("user", "", "expected a name or a number, got an empty value");
  char big[EDDYD_NAME_MAX + 1];
  memset(big, 'u', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  set_fails("user", big, "a name or a number longer than 63 bytes");
  set_ok("stats-interval", "0");
  cr_assert_eq(cfg.stats_interval, 0);
  set_ok("stats-interval", "86400");
  cr_assert_eq(cfg.stats_interval, 86400);
  set_fails("stats-interval", "",
            "expected seconds (0-86400), got an empty "
            "value");
  set_fails("stats-interval", "86401",
            "expected seconds (0-86400), got '86401'");
  set_fails("stats-interval", "5s", "expected seconds (0-86400), got '5s'");
  set_fails("stats-interval", "99999999999999999999",
            "expected seconds (0-86400), got '99999999999999999999'");
}

Test(eddyd_config, validate) {
  set_ok("cache-memory", "1M");
  set_ok("cache-max-item", "2M");
  cr_assert_eq(eddyd_config_validate(&cfg, err, sizeof(err)), -1);
  cr_assert_str_eq(err, "cache-max-item (2M) is larger than cache-memory (1M)");
  eddyd_config_init(&cfg);
  set_ok("syslog", "yes");
  set_ok("logfile", "/tmp/x.log");
  cr_assert_eq(eddyd_config_validate(&cfg, err, sizeof(err)), -1);
  cr_assert_str_eq(err, "logfile and syslog cannot both be set");
  eddyd_config_init(&cfg);
  set_ok("daemon", "yes");
  set_ok("locks", "unix:run/locks.sock");
  cr_assert_eq(eddyd_config_validate(&cfg, err, sizeof(err)), -1);
  cr_assert_str_eq(err, "locks: with daemon, the Unix socket path "
                        "'run/locks.sock' must be absolute");
  eddyd_config_init(&cfg);
  set_ok("locks", "unix:run/locks.sock"); /* fine in the foreground */
  cr_assert_eq(eddyd_config_validate(&cfg, err, sizeof(err)), 0);
}

/* ---- The configuration file ------------------------------------------- */

Test(eddyd_config, file_format) {
  const char *text = "# eddyd.conf\n"
                     "\n"
                     "   # indented comment\n"
                     "locks = tcp:0\n"
                     "locks=unix:/tmp/l.sock\n"
                     "\tcache   =   off   \r\n"
                     "cache-memory = 32M\n"
                     "lock-admin-token = \"tok#en\"\n"
                     "logfile = \" /tmp/space.log \"\n"
                     "daemon = yes";
  cr_assert_eq(parse_text(text), 0, "%s", err);
  cr_assert_eq(cfg.locks.count, 2);
  cr_assert_str_eq(cfg.locks.list[0], "tcp:0");
  cr_assert_str_eq(cfg.locks.list[1], "unix:/tmp/l.sock");
  cr_assert_eq(cfg.locks.layer, EDDYD_LAYER_FILE);
  cr_assert_eq(cfg.cache.count, 0);
  cr_assert_eq(cfg.cache_memory, (size_t)32 << 20);
  cr_assert_str_eq(cfg.lock_admin_token, "tok#en");
  cr_assert_str_eq(cfg.logfile, " /tmp/space.log ");
  cr_assert_eq(cfg.daemon, 1);
}

Test(eddyd_config, empty_file_changes_nothing) {
  cr_assert_eq(parse_text(""), 0);
  cr_assert_eq(parse_text("\n\n# only comments\n"), 0);
  cr_assert_eq(cfg.locks.count, 1);
  cr_assert_str_eq(cfg.locks.list[0], "tcp:7701");
}

Test(eddyd_config, file_errors_name_the_line) {
  text_fails("locks = tcp:1\nnonsense\n",
             "f.conf:2: expected '=' after 'nonsense'");
  text_fails("\n\n = 3\n", "f.conf:3: expected a key before '='");
  text_fails("bogus = 1\n", "f.conf:1: unknown key 'bogus'");
  text_fails("config = /x\n", "f.conf:1: 'config' is a command-line flag only");
  text_fails("check-config = yes\n",
             "f.conf:1: 'check-config' is a command-line flag only");
  text_fails("help = yes\n", "f.conf:1: 'help' is a command-line flag only");
  text_fails("version = yes\n",
             "f.conf:1: 'version' is a command-line flag only");
  text_fails("logfile = \"/tmp/x\n",
             "f.conf:1: logfile: unterminated quoted value");
  text_fails("logfile = \"\n", "f.conf:1: logfile: unterminated quoted value");
  text_fails("cache-memory = big\n",
             "f.conf:1: cache-memory: expected a size such as 64M (K, M, G), "
             "got 'big'");
  text_fails("logfile =\n",
             "f.conf:1: logfile: expected a path, got an empty value");
  text_fails("locks = off\nlocks = tcp:1\n",
             "f.conf:2: locks: 'off' cannot be combined with endpoints");
  text_fails("daemon = perhaps\n",
             "f.conf:1: daemon: expected yes or no, got 'perhaps'");
}

Test(eddyd_config, file_limits) {
  size_t n = EDDYD_CONFIG_LINE_MAX + 10;
  char *text = malloc(n + 1);
  cr_assert_not_null(text);
  memcpy(text, "logfile = ", 10);
  memset(text + 10, 'x', n - 10);
  text[n] = '\0';
  text_fails(text, "f.conf:1: line longer than 4096 bytes");
  free(text);
  const char with_nul[] = "daemon = yes\nlocks = tcp:1\0x\n";
  cr_assert_eq(eddyd_config_parse_text(&cfg, with_nul, sizeof(with_nul) - 1,
                                       "f.conf", err, sizeof(err)),
               -1);
  cr_assert_str_eq(err, "f.conf:2: NUL byte in the line");
}

static void write_file(const char *path, const char *text, size_t len) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(text, 1, len, f), len);
  fclose(f);
}

Test(eddyd_config, load_file) {
  char dir[] = "/tmp/eddyd-conf-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char path[256], msg[600];
  snprintf(path, sizeof(path), "%s/eddyd.conf", dir);

  cr_assert_eq(eddyd_config_load_file(&cfg, path, err, sizeof(err)), -1);
  snprintf(msg, sizeof(msg), "cannot read %s: No such file or directory", path);
  cr_assert_str_eq(err, msg);

  cr_assert_eq(eddyd_config_load_file(&cfg, dir, err, sizeof(err)), -1);
  snprintf(msg, sizeof(msg), "%s is not a regular file", dir);
  cr_assert_str_eq(err, msg);

  size_t big = EDDYD_CONFIG_FILE_MAX + 1;
  char *text = malloc(big);
  cr_assert_not_null(text);
  memset(text, '\n', big);
  write_file(path, text, big);
  free(text);
  cr_assert_eq(eddyd_config_load_file(&cfg, path, err, sizeof(err)), -1);
  snprintf(msg, sizeof(msg), "%s is larger than 1048576 bytes", path);
  cr_assert_str_eq(err, msg);

  const char *good = "cache = tcp:0\nstats-interval = 5\n";
  write_file(path, good, strlen(good));
  cr_assert_eq(eddyd_config_load_file(&cfg, path, err, sizeof(err)), 0, "%s",
               err);
  cr_assert_str_eq(cfg.cache.list[0], "tcp:0");
  cr_assert_eq(cfg.stats_interval, 5);

  const char *bad = "cache = tcp:0\nstats-interval = soon\n";
  write_file(path, bad, strlen(bad));
  eddyd_config_init(&cfg);
  cr_assert_eq(eddyd_config_load_file(&cfg, path, err, sizeof(err)), -1);
  snprintf(msg, sizeof(msg),
           "%s:2: stats-interval: expected seconds (0-86400), got 'soon'",
           path);
  cr_assert_str_eq(err, msg);

  unlink(path);
  rmdir(dir);
}

Test(eddyd_config, written_configuration_reads_back_the_same) {
  set_ok("locks", "tcp:0");
  set_ok("locks", "unix:/tmp/a b.sock");
  set_ok("cache", "off");
  set_ok("cache-memory", "1536K");
  set_ok("log-level", "warn");
  set_ok("logfile", " /tmp/odd.log");
  set_ok("daemon", "yes");
  set_ok("pidfile", "/tmp/eddyd.pid");
  set_ok("user", "nobody");
  set_ok("stats-interval", "7");
  set_ok("lock-admin-token", "hunter2");
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  cr_assert_not_null(out);
  eddyd_config_write(&cfg, out);
  fclose(out);
  cr_assert_null(strstr(text, "hunter2"), "the token leaked:\n%s", text);
  cr_assert_not_null(strstr(text, "# lock-admin-token = (set, not shown)"));

  eddyd_config_t back;
  eddyd_config_init(&back);
  cr_assert_eq(
      eddyd_config_parse_text(&back, text, len, "out", err, sizeof(err)), 0,
      "%s\n%s", err, text);
  free(text);
  cr_assert_eq(back.locks.count, 2);
  cr_assert_str_eq(back.locks.list[1], "unix:/tmp/a b.sock");
  cr_assert_eq(back.cache.count, 0);
  cr_assert_eq(back.http.count, 1);
  cr_assert_eq(back.cache_memory, cfg.cache_memory);
  cr_assert_eq(back.cache_max_item, cfg.cache_max_item);
  cr_assert_eq(back.log_level, EDDY_LOG_WARN);
  cr_assert_str_eq(back.logfile, " /tmp/odd.log");
  cr_assert_eq(back.daemon, 1);
  cr_assert_eq(back.syslog, 0);
  cr_assert_str_eq(back.pidfile, "/tmp/eddyd.pid");
  cr_assert_str_eq(back.user, "nobody");
  cr_assert_str_eq(back.group, "");
  cr_assert_eq(back.stats_interval, 7);
}

/* ---- The command line --------------------------------------------------- */

static eddyd_options_t opts;

static int parse_argv(const char *const *args) {
  char *argv[EDDYD_MAX_SETTINGS * 2 + 8];
  int argc = 0;
  argv[argc++] = (char *)"eddyd";
  for (; *args != NULL; args++)
    argv[argc++] = (char *)*args;
  argv[argc] = NULL;
  return eddyd_options_parse(argc, argv, &opts, err, sizeof(err));
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void argv_fails(const char *const *args, const char *msg) {
  cr_assert_eq(parse_argv(args), -1, "accepted; expected: %s", msg);
  cr_assert_str_eq(err, msg);
}

Test(eddyd_options, nothing_means_run_with_defaults) {
  const char *const none[] = {NULL};
  cr_assert_eq(parse_argv(none), 0);
  cr_assert_eq(opts.action, EDDYD_ACTION_RUN);
  cr_assert_null(opts.config_path);
  cr_assert_eq(opts.nsettings, 0);
}

Test(eddyd_options, both_value_forms_and_short_flags) {
  cr_assert_eq(parse_argv(ARGS("--locks", "tcp:0", "--cache=unix:/tmp/c.sock",
                               "-d", "-c", "/etc/eddy/eddyd.conf",
                               "--syslog=no", "--log-level=debug")),
               0, "%s", err);
  cr_assert_str_eq(opts.config_path, "/etc/eddy/eddyd.conf");
  cr_assert_eq(opts.nsettings, 5);
  cr_assert_str_eq(opts.settings[0].key, "locks");
  cr_assert_str_eq(opts.settings[0].value, "tcp:0");
  cr_assert_str_eq(opts.settings[1].key, "cache");
  cr_assert_str_eq(opts.settings[1].value, "unix:/tmp/c.sock");
  cr_assert_str_eq(opts.settings[2].key, "daemon");
  cr_assert_str_eq(opts.settings[2].value, "yes");
  cr_assert_str_eq(opts.settings[3].value, "no");
  cr_assert_eq(opts.action, EDDYD_ACTION_RUN);
  cr_assert_eq(parse_argv(ARGS("--config=/x.conf", "--")), 0);
  cr_assert_str_eq(opts.config_path, "/x.conf");
}

Test(eddyd_options, actions) {
  cr_assert_eq(parse_argv(ARGS("--version")), 0);
  cr_assert_eq(opts.action, EDDYD_ACTION_VERSION);
  cr_assert_eq(parse_argv(ARGS("-V")), 0);
  cr_assert_eq(opts.action, EDDYD_ACTION_VERSION);
  cr_assert_eq(parse_argv(ARGS("--check-config", "--locks", "off")), 0);
  cr_assert_eq(opts.action, EDDYD_ACTION_CHECK_CONFIG);
  cr_assert_eq(parse_argv(ARGS("-h")), 0);
  cr_assert_eq(opts.action, EDDYD_ACTION_HELP);
  /* --help wins wherever it stands. */
  cr_assert_eq(parse_argv(ARGS("--help", "--version")), 0);
  cr_assert_eq(opts.action, EDDYD_ACTION_HELP);
  cr_assert_eq(parse_argv(ARGS("--check-config", "--help")), 0);
  cr_assert_eq(opts.action, EDDYD_ACTION_HELP);
}

Test(eddyd_options, errors) {
  argv_fails(ARGS("--bogus"), "unknown option '--bogus' (see eddyd --help)");
  argv_fails(ARGS("--bogus=1"), "unknown option '--bogus' (see eddyd --help)");
  argv_fails(ARGS("-x"), "unknown option '-x' (see eddyd --help)");
  argv_fails(ARGS("-dc"), "unknown option '-dc' (see eddyd --help)");
  argv_fails(ARGS("--=x"), "unknown option '--=x' (see eddyd --help)");
  char longopt[80];
  memset(longopt, 'o', sizeof(longopt) - 1);
  longopt[0] = longopt[1] = '-';
  longopt[sizeof(longopt) - 1] = '\0';
  char expect[160];
  snprintf(expect, sizeof(expect), "unknown option '%s' (see eddyd --help)",
           longopt);
  argv_fails(ARGS(longopt), expect);
  argv_fails(ARGS("serve"),
             "unexpected argument 'serve' (eddyd takes no operands)");
  argv_fails(ARGS("-"), "unexpected argument '-' (eddyd takes no operands)");
  argv_fails(ARGS("--", "x"),
             "unexpected argument 'x' (eddyd takes no operands)");
  argv_fails(ARGS("--help=yes"), "--help takes no value");
  argv_fails(ARGS("--check-config=1"), "--check-config takes no value");
  argv_fails(ARGS("--config"), "--config needs a value");
  argv_fails(ARGS("--config="),
             "--config: expected a path, got an empty value");
  argv_fails(ARGS("-c", "a", "-c", "b"), "--config is given twice");
  argv_fails(ARGS("--locks"), "--locks needs a value");
  argv_fails(ARGS("--locks", "tcp:99999"),
             "--locks: bad endpoint 'tcp:99999': expected a port number "
             "(0-65535) (at byte 4)");
  argv_fails(ARGS("--cache-memory", "64X"),
             "--cache-memory: expected a size such as 64M (K, M, G), got "
             "'64X'");
  argv_fails(ARGS("--daemon=sometimes"),
             "--daemon: expected yes or no, got 'sometimes'");
  argv_fails(ARGS("--locks", "off", "--locks", "tcp:1"),
             "--locks: 'off' cannot be combined with endpoints");
  argv_fails(ARGS("--log-level", "chatty"),
             "--log-level: expected debug, info, warn, error or off, got "
             "'chatty'");
}

Test(eddyd_options, too_many_settings) {
  const char *args[EDDYD_MAX_SETTINGS * 2 + 4];
  int n = 0;
  for (int i = 0; i <= EDDYD_MAX_SETTINGS; i++) {
    args[n++] = "--log-level";
    args[n++] = "info";
  }
  args[n] = NULL;
  argv_fails(args, "too many options (at most 256)");
}

Test(eddyd_options, flags_override_the_file) {
  cr_assert_eq(parse_text("locks = tcp:1\nlocks = tcp:2\ncache = off\n"
                          "daemon = yes\ncache-memory = 8M\n"),
               0, "%s", err);
  cr_assert_eq(parse_argv(ARGS("--locks", "unix:/tmp/l.sock", "--daemon=no",
                               "--cache", "tcp:0")),
               0, "%s", err);
  cr_assert_eq(eddyd_options_apply(&opts, &cfg, err, sizeof(err)), 0, "%s",
               err);
  cr_assert_eq(cfg.locks.count, 1);
  cr_assert_str_eq(cfg.locks.list[0], "unix:/tmp/l.sock");
  cr_assert_eq(cfg.cache.count, 1);
  cr_assert_str_eq(cfg.cache.list[0], "tcp:0");
  cr_assert_eq(cfg.daemon, 0);
  cr_assert_eq(cfg.cache_memory, (size_t)8 << 20); /* from the file */
}

Test(eddyd_options, apply_reports_the_flag) {
  /* Applying checks each value again and names the flag in its message. */
  opts.nsettings = 1;
  opts.settings[0].key = "locks";
  opts.settings[0].value = "tcp:nope";
  cr_assert_eq(eddyd_options_apply(&opts, &cfg, err, sizeof(err)), -1);
  cr_assert_str_eq(err, "--locks: bad endpoint 'tcp:nope': expected a port "
                        "number (0-65535) (at byte 4)");
}

Test(eddyd_options, help_names_every_option) {
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  cr_assert_not_null(out);
  eddyd_usage(out);
  fclose(out);
  const char *flags[] = {"--locks",
                         "--cache",
                         "--http",
                         "--cache-memory",
                         "--cache-max-item",
                         "--lock-admin-token",
                         "--log-level",
                         "--logfile",
                         "--syslog",
                         "--stats-interval",
                         "--daemon",
                         "--pidfile",
                         "--user",
                         "--group",
                         "--config",
                         "--check-config",
                         "--version",
                         "--help",
                         "--publish",
                         "--namespace",
                         "--api-token",
                         "--publish-token",
                         "--realtime-secret",
                         "--web-root",
                         "--origins",
                         "--realtime-max-clients",
                         "--realtime-send-queue",
                         "--history-memory",
                         "--sockjs",
                         "--access-log",
                         "/connect/websocket",
                         "/metrics",
                         "/status"};
  for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
    cr_assert_not_null(strstr(text, flags[i]), "--help lacks %s", flags[i]);
  free(text);
}

/* ---- The web port and the real-time hub ---------------------------------- */

Test(eddyd_config, web_defaults) {
  cr_assert_eq(cfg.publish.count, 1);
  cr_assert_str_eq(cfg.publish.list[0], "tcp:7703");
  /* The live demo's namespace, until a configured list replaces it. */
  cr_assert_eq(cfg.namespaces.count, 1);
  cr_assert_str_eq(cfg.namespaces.list[0].name, "demo");
  cr_assert_eq(cfg.namespaces.list[0].publish, 1);
  cr_assert_eq(cfg.namespaces.list[0].history_size, 200);
  cr_assert_eq(cfg.origins.count, 0);
  cr_assert_str_eq(cfg.api_token, "");
  cr_assert_str_eq(cfg.publish_token, "");
  cr_assert_str_eq(cfg.realtime_secret, "");
  cr_assert_str_eq(cfg.web_root, "");
  cr_assert_eq(cfg.realtime_max_clients, 100000);
  cr_assert_eq(cfg.realtime_send_queue, (size_t)1 << 20);
  cr_assert_eq(cfg.history_memory, (size_t)64 << 20);
  cr_assert_eq(cfg.sockjs, 1);
  cr_assert_eq(cfg.access_log, 0);
}

Test(eddyd_config, publish_endpoints) {
  set_ok("publish", "tcp:0");
  set_ok("publish", "unix:/tmp/publish.sock");
  cr_assert_eq(cfg.publish.count, 2);
  set_fails("publish", "off", "'off' cannot be combined with endpoints");
  eddyd_config_init(&cfg);
  set_ok("publish", "off");
  cr_assert_eq(cfg.publish.count, 0);
  cr_assert_eq(cfg.publish.off, 1);
  eddyd_config_init(&cfg);
  set_fails("publish", "tcp:x",
            "bad endpoint 'tcp:x': expected a port number (0-65535) (at byte "
            "4)");
}

Test(eddyd_config, namespaces) {
  set_ok("namespace", "chat history=50 publish=yes");
  set_ok("namespace", "default");
  cr_assert_eq(cfg.namespaces.count, 2);
  cr_assert_str_eq(cfg.namespaces.list[0].name, "chat");
  cr_assert_eq(cfg.namespaces.list[0].history_size, 50);
  cr_assert_eq(cfg.namespaces.list[0].publish, 1);
  cr_assert_str_eq(cfg.namespaces.list[1].name, "");
  set_fails("namespace", "chat", "namespace 'chat' is given twice");
  set_fails("namespace", "default presence=no",
            "namespace 'default' is given twice");
  set_fails("namespace", "eddy",
            "the namespace 'eddy' is eddyd's own (its metrics feed) and "
            "cannot be configured");
  /* The spec's own errors come from eddy_rt_namespace_parse; eddyd names
   * the spec around them. */
  cr_assert_eq(eddyd_config_set(&cfg, EDDYD_LAYER_FLAGS, "namespace",
                                "chat history=lots", err, sizeof(err)),
               -1);
  cr_assert(strncmp(err, "bad namespace 'chat history=lots': ", 35) == 0, "%s",
            err);
  cr_assert_gt(strlen(err), 35);
  cr_assert_eq(eddyd_config_set(&cfg, EDDYD_LAYER_FLAGS, "namespace",
                                "bad/name", err, sizeof(err)),
               -1);
  cr_assert(strncmp(err, "bad namespace 'bad/name': ", 26) == 0, "%s", err);
  cr_assert_eq(cfg.namespaces.count, 2, "a refused spec changed the list");
  char spec[EDDYD_NAMESPACE_SPEC_MAX + 8];
  memset(spec, 'a', sizeof(spec) - 1);
  spec[sizeof(spec) - 1] = '\0';
  set_fails("namespace", spec, "namespace spec longer than 511 bytes");
}

Test(eddyd_config, namespace_list_is_replaced_by_a_higher_layer) {
  cr_assert_eq(parse_text("namespace = a\nnamespace = b history=5\n"), 0, "%s",
               err);
  cr_assert_eq(cfg.namespaces.count, 2);
  cr_assert_eq(cfg.namespaces.list[1].history_size, 5);
  set_ok("namespace", "c");
  cr_assert_eq(cfg.namespaces.count, 1);
  cr_assert_str_eq(cfg.namespaces.list[0].name, "c");
  set_ok("namespace", "a");
  cr_assert_eq(cfg.namespaces.count, 2);
}

Test(eddyd_config, too_many_namespaces) {
  char spec[32];
  for (int i = 0; i < EDDYD_MAX_NAMESPACES; i++) {
    snprintf(spec, sizeof(spec), "ns%d", i);
    set_ok("namespace", spec);
  }
  set_fails("namespace", "one-more", "at most 63 namespaces");
}

Test(eddyd_config, the_hub_gets_eddyds_own_namespace_first) {
  set_ok("namespace", "chat history=10 presence=yes publish=yes");
  eddy_rt_namespace_t table[EDDY_RT_MAX_NAMESPACES];
  cr_assert_eq(eddyd_config_namespaces(&cfg, table), 2);
  cr_assert_str_eq(table[0].name, "eddy");
  cr_assert_eq(table[0].history_size, 120);
  cr_assert_eq(table[0].history_ttl_ms, 5 * 60 * 1000);
  cr_assert_eq(table[0].presence, 0);
  cr_assert_eq(table[0].join_leave, 0);
  cr_assert_eq(table[0].publish, 0);
  cr_assert_str_eq(table[1].name, "chat");
  cr_assert_eq(table[1].history_size, 10);
  cr_assert_eq(table[1].publish, 1);
  eddyd_config_init(&cfg);
  cr_assert_eq(eddyd_config_namespaces(&cfg, table), 2, "eddy, then demo");
  cr_assert_str_eq(table[1].name, "demo");
}

Test(eddyd_config, origins) {
  set_ok("origins", "https://app.example.com");
  set_ok("origins", "http://localhost:8000");
  set_ok("origins", "http://[::1]:7700");
  set_ok("origins", "HTTP://127.0.0.1");
  cr_assert_eq(cfg.origins.count, 4);
  cr_assert_str_eq(cfg.origins.list[1], "http://localhost:8000");
  set_fails("origins", "https://APP.example.com",
            "origin 'https://APP.example.com' is given twice");
  set_fails("origins", "*", "'*' cannot be combined with origins");
  const char *bad[] = {
      "example.com",     "https://a.com/",      "ftp://a.com",
      "https://",        "https://a.com:99999", "https://a.com:",
      "https://a b.com", "https://[::1",        "https://a.com/path"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char msg[EDDYD_ERR_MAX];
    snprintf(msg, sizeof(msg),
             "expected an origin such as https://app.example.com or "
             "http://localhost:8000 (no path), or *, got '%s'",
             bad[i]);
    set_fails("origins", bad[i], msg);
  }
  eddyd_config_init(&cfg);
  set_ok("origins", "*");
  cr_assert_eq(cfg.origins.count, 0);
  cr_assert_eq(cfg.origins.any, 1);
  set_fails("origins", "https://a.com", "'*' cannot be combined with origins");
}

Test(eddyd_config, origins_are_limited_and_replaced_by_layer) {
  char o[64];
  for (int i = 0; i < EDDYD_MAX_ORIGINS; i++) {
    snprintf(o, sizeof(o), "https://h%d.example.com", i);
    set_ok("origins", o);
  }
  set_fails("origins", "https://more.example.com", "at most 32 origins");
  char longo[EDDYD_ORIGIN_MAX + 16] = "https://";
  memset(longo + 8, 'a', EDDYD_ORIGIN_MAX);
  longo[EDDYD_ORIGIN_MAX + 8] = '\0';
  set_fails("origins", longo, "origin longer than 255 bytes");
  /* A file's list is replaced as a whole by the flags' list. */
  eddyd_config_init(&cfg);
  cr_assert_eq(parse_text("origins = https://a.com\norigins = https://b.com\n"),
               0, "%s", err);
  cr_assert_eq(cfg.origins.count, 2);
  set_ok("origins", "*");
  cr_assert_eq(cfg.origins.count, 0);
}

Test(eddyd_config, web_tokens_and_secret) {
  set_ok("api-token", "s3cr3t-api");
  set_ok("publish-token", "pub.token");
  set_ok("realtime-secret", "0123456789abcdef");
  cr_assert_str_eq(cfg.api_token, "s3cr3t-api");
  cr_assert_str_eq(cfg.publish_token, "pub.token");
  cr_assert_str_eq(cfg.realtime_secret, "0123456789abcdef");
  set_fails("api-token", "two words",
            "the token must be printable ASCII without spaces");
  set_fails("publish-token", "", "expected a token, got an empty value");
  set_fails("realtime-secret", "short",
            "the secret must be at least 16 bytes (use a long random string)");
  set_fails("realtime-secret", "0123456789abcdef ghi",
            "the token must be printable ASCII without spaces");
}

Test(eddyd_config, realtime_limits) {
  set_ok("realtime-max-clients", "500");
  cr_assert_eq(cfg.realtime_max_clients, 500);
  set_ok("realtime-max-clients", "10000000");
  const char *bad[] = {"0", "-1", "many", "", "10000001", "99999999999999"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char msg[EDDYD_ERR_MAX];
    snprintf(msg, sizeof(msg), "expected a number from 1 to 10000000, got '%s'",
             bad[i]);
    set_fails("realtime-max-clients", bad[i], msg);
  }
  set_ok("realtime-send-queue", "256K");
  cr_assert_eq(cfg.realtime_send_queue, (size_t)256 << 10);
  set_fails("realtime-send-queue", "1K", "'1K' is out of range (4K to 1G)");
  set_fails("realtime-send-queue", "2G", "'2G' is out of range (4K to 1G)");
  set_ok("history-memory", "1G");
  cr_assert_eq(cfg.history_memory, (size_t)1 << 30);
  set_fails("history-memory", "1000", "'1000' is out of range (64K to 1024G)");
  set_fails("history-memory", "lots",
            "expected a size such as 64M (K, M, G), got 'lots'");
}

Test(eddyd_config, web_switches_and_root) {
  set_ok("sockjs", "no");
  cr_assert_eq(cfg.sockjs, 0);
  set_ok("access-log", "yes");
  cr_assert_eq(cfg.access_log, 1);
  set_fails("sockjs", "maybe", "expected yes or no, got 'maybe'");
  set_ok("web-root", "/srv/eddy/web");
  cr_assert_str_eq(cfg.web_root, "/srv/eddy/web");
  set_fails("web-root", "", "expected a path, got an empty value");
  const char *name = NULL;
  cr_assert_eq(eddyd_config_key_kind("sockjs", &name), 0);
  cr_assert_eq(eddyd_config_key_kind("namespace", &name), 1);
  cr_assert_str_eq(name, "namespace");
  cr_assert_eq(eddyd_config_key_kind("origins", NULL), 1);
}

Test(eddyd_config, validate_finds_two_services_on_one_address) {
  set_ok("publish", "tcp:7701");
  cr_assert_eq(eddyd_config_validate(&cfg, err, sizeof(err)), -1);
  cr_assert_str_eq(err, "locks 'tcp:7701' and publish 'tcp:7701' are the same "
                        "address");
  eddyd_config_init(&cfg);
  set_ok("http", "unix:/tmp/x.sock");
  set_ok("cache", "unix:/tmp/x.sock:mode=0600");
  cr_assert_eq(eddyd_config_validate(&cfg, err, sizeof(err)), -1);
  cr_assert_str_eq(err, "http 'unix:/tmp/x.sock' and cache "
                        "'unix:/tmp/x.sock:mode=0600' are the same address");
  /* Port 0 never clashes; other interfaces are other addresses. */
  eddyd_config_init(&cfg);
  set_ok("http", "tcp:0");
  set_ok("locks", "tcp:0");
  set_ok("cache", "tcp:0:interface=127.0.0.1");
  set_ok("publish", "tcp:0");
  set_ok("publish", "tcp:7701:interface=127.0.0.2");
  cr_assert_eq(eddyd_config_validate(&cfg, err, sizeof(err)), 0, "%s", err);
}

Test(eddyd_config, validate_wants_absolute_publish_sockets_with_daemon) {
  set_ok("daemon", "yes");
  set_ok("publish", "unix:pub.sock");
  cr_assert_eq(eddyd_config_validate(&cfg, err, sizeof(err)), -1);
  cr_assert_str_eq(err, "publish: with daemon, the Unix socket path "
                        "'pub.sock' must be absolute");
}

Test(eddyd_config, web_settings_read_back_the_same) {
  set_ok("publish", "tcp:0");
  set_ok("namespace", "chat history=7 ttl=30s presence=no publish=yes");
  set_ok("namespace", "default history=0");
  set_ok("origins", "https://a.example.com");
  set_ok("api-token", "api-hunter2");
  set_ok("publish-token", "pub-hunter2");
  set_ok("realtime-secret", "secret-hunter2-long");
  set_ok("web-root", "/srv/web");
  set_ok("realtime-max-clients", "42");
  set_ok("realtime-send-queue", "64K");
  set_ok("history-memory", "2M");
  set_ok("sockjs", "no");
  set_ok("access-log", "yes");
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  cr_assert_not_null(out);
  eddyd_config_write(&cfg, out);
  fclose(out);
  cr_assert_null(strstr(text, "hunter2"), "a secret leaked:\n%s", text);
  cr_assert_not_null(strstr(text, "# api-token = (set, not shown)"));
  cr_assert_not_null(strstr(text, "# publish-token = (set, not shown)"));
  cr_assert_not_null(strstr(text, "# realtime-secret = (set, not shown)"));
  cr_assert_not_null(strstr(text, "# namespace = eddy "), "%s", text);

  eddyd_config_t back;
  eddyd_config_init(&back);
  cr_assert_eq(
      eddyd_config_parse_text(&back, text, len, "out", err, sizeof(err)), 0,
      "%s\n%s", err, text);
  free(text);
  cr_assert_eq(back.publish.count, 1);
  cr_assert_str_eq(back.publish.list[0], "tcp:0");
  cr_assert_eq(back.namespaces.count, 2);
  cr_assert_str_eq(back.namespaces.list[0].name, "chat");
  cr_assert_eq(back.namespaces.list[0].history_size, 7);
  cr_assert_eq(back.namespaces.list[0].history_ttl_ms, 30000);
  cr_assert_eq(back.namespaces.list[0].presence, 0);
  cr_assert_eq(back.namespaces.list[0].publish, 1);
  cr_assert_str_eq(back.namespaces.list[1].name, "");
  cr_assert_eq(back.namespaces.list[1].history_size, 0);
  cr_assert_eq(back.origins.count, 1);
  cr_assert_str_eq(back.origins.list[0], "https://a.example.com");
  cr_assert_str_eq(back.web_root, "/srv/web");
  cr_assert_eq(back.realtime_max_clients, 42);
  cr_assert_eq(back.realtime_send_queue, (size_t)64 << 10);
  cr_assert_eq(back.history_memory, (size_t)2 << 20);
  cr_assert_eq(back.sockjs, 0);
  cr_assert_eq(back.access_log, 1);
  /* Secrets are not written, so they do not come back. */
  cr_assert_str_eq(back.api_token, "");
}

Test(eddyd_config, default_web_settings_read_back_the_same) {
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  cr_assert_not_null(out);
  eddyd_config_write(&cfg, out);
  fclose(out);
  cr_assert_not_null(strstr(text, "origins = *\n"), "%s", text);
  cr_assert_not_null(strstr(text, "publish = tcp:7703\n"), "%s", text);
  eddyd_config_t back;
  eddyd_config_init(&back);
  cr_assert_eq(
      eddyd_config_parse_text(&back, text, len, "out", err, sizeof(err)), 0,
      "%s\n%s", err, text);
  free(text);
  cr_assert_eq(back.namespaces.count, 1);
  cr_assert_str_eq(back.namespaces.list[0].name, "demo");
  cr_assert_eq(back.origins.count, 0);
  cr_assert_eq(back.sockjs, 1);
}

Test(eddyd_options, web_flags) {
  cr_assert_eq(
      parse_argv(ARGS("--namespace", "chat publish=yes",
                      "--namespace=news history=5", "--sockjs", "--origins",
                      "https://a.com", "--publish", "off", "--access-log=yes")),
      0, "%s", err);
  cr_assert_eq(opts.nsettings, 6);
  cr_assert_str_eq(opts.settings[2].key, "sockjs");
  cr_assert_str_eq(opts.settings[2].value, "yes");
  cr_assert_eq(eddyd_options_apply(&opts, &cfg, err, sizeof(err)), 0, "%s",
               err);
  cr_assert_eq(cfg.namespaces.count, 2);
  cr_assert_str_eq(cfg.namespaces.list[1].name, "news");
  cr_assert_eq(cfg.publish.count, 0);
  cr_assert_eq(cfg.origins.count, 1);
  /* A boolean flag takes a following yes/no word as its value. */
  cr_assert_eq(parse_argv(ARGS("--sockjs", "no", "--access-log", "--daemon",
                               "off", "--syslog", "TRUE")),
               0, "%s", err);
  cr_assert_eq(opts.nsettings, 4);
  cr_assert_str_eq(opts.settings[0].value, "no");
  cr_assert_str_eq(opts.settings[1].value, "yes");
  cr_assert_str_eq(opts.settings[2].value, "off");
  cr_assert_str_eq(opts.settings[3].value, "TRUE");
  argv_fails(ARGS("--sockjs", "maybe"),
             "unexpected argument 'maybe' (eddyd takes no operands)");
  argv_fails(ARGS("--namespace", "eddy"),
             "--namespace: the namespace 'eddy' is eddyd's own (its metrics "
             "feed) and cannot be configured");
  argv_fails(ARGS("--realtime-secret", "abc"),
             "--realtime-secret: the secret must be at least 16 bytes (use a "
             "long random string)");
  argv_fails(ARGS("--origins", "localhost"),
             "--origins: expected an origin such as https://app.example.com "
             "or http://localhost:8000 (no path), or *, got 'localhost'");
  argv_fails(ARGS("--realtime-max-clients", "0"),
             "--realtime-max-clients: expected a number from 1 to 10000000, "
             "got '0'");
}

Test(eddyd_config, sockjs_client_url) {
  cr_assert_str_eq(cfg.sockjs_client_url, "", "the library's default");
  set_ok("sockjs-client-url", "/static/sockjs.min.js");
  cr_assert_str_eq(cfg.sockjs_client_url, "/static/sockjs.min.js");
  set_ok("sockjs-client-url", "https://cdn.example.com/sockjs.min.js");
  set_fails("sockjs-client-url", "javascript:alert(1)",
            "expected an http:// or https:// URL or a path starting with "
            "'/', got 'javascript:alert(1)'");
  static const char *const bad[] = {"/x\"><script>", "/a b.js", "/q'.js",
                                    "/s.js?v=1&x=2"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    set_fails("sockjs-client-url", bad[i],
              "the URL may not contain quotes, '<', '>', '&', '\\', '`' "
              "or spaces");
  cr_assert_str_eq(cfg.sockjs_client_url,
                   "https://cdn.example.com/sockjs.min.js",
                   "a refused value changes nothing");
}
