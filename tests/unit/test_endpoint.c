/* test_endpoint.c — endpoint strings: parsing, errors, canonical format. */
#include "support.h"

#include <string.h>

#define MSG_KIND "expected tcp, tcp6 or unix"
#define MSG_ESCAPE "expected a character after '\\'"
#define MSG_PORT "expected a port number (0-65535)"
#define MSG_NEED_PORT "expected ':' and a port number (0-65535)"
#define MSG_PORT_CLIENT "expected a port number (1-65535)"
#define MSG_NEED_PORT_CLIENT "expected ':' and a port number (1-65535)"
#define MSG_NEED_HOST "expected ':' and a host name or IP address"
#define MSG_NEED_PATH "expected ':' and a socket path"
#define MSG_HOST "expected a host name or IP address"
#define MSG_HOST6 "expected an IPv6 address or a host name"
#define MSG_HOST_V6LIT "expected a valid IPv6 address (escape ':' as '\\:')"
#define MSG_HOST_LONG "expected a host of at most 255 bytes"
#define MSG_PATH "expected a socket path"
#define MSG_PATH_LONG "expected a socket path of at most 107 bytes"
#define MSG_IFACE4 "expected an IPv4 address for interface"
#define MSG_IFACE6                                                             \
  "expected an IPv6 address for interface (escape ':' as '\\:')"
#define MSG_BACKLOG "expected a backlog from 1 to 65535"
#define MSG_MODE "expected an octal mode from 1 to 0777 (such as 0660)"
#define MSG_TIMEOUT                                                            \
  "expected a timeout in seconds above 0 and at most 86400, with at most 3 "   \
  "decimals (such as 30 or 0.5)"
#define MSG_OPT_TCP "expected an option: interface=ADDR or backlog=N"
#define MSG_OPT_UNIX "expected an option: mode=OCTAL or backlog=N"
#define MSG_OPT_CLIENT "expected an option: timeout=SECONDS"

enum { CLIENT = 0, SERVER = 1 };

static int parse(int server, const char *s, eddy_endpoint_t *ep,
                 eddy_endpoint_error_t *err) {
  return server ? eddy_endpoint_parse_server(s, ep, err)
                : eddy_endpoint_parse_client(s, ep, err);
}

static eddy_endpoint_t parse_ok(int server, const char *s) {
  eddy_endpoint_t ep;
  eddy_endpoint_error_t err = {0, ""};
  int rc = parse(server, s, &ep, &err);
  cr_assert_eq(rc, 0, "%s: at %zu: %s", s, err.pos, err.message);
  cr_assert_eq(ep.server, server, "%s", s);
  return ep;
}

/* The error, its position and its message; *ep must stay untouched. */
static void check_error(int server, const char *s, size_t pos,
                        const char *msg) {
  eddy_endpoint_t ep;
  memset(&ep, 0xA5, sizeof(ep));
  eddy_endpoint_t before = ep;
  eddy_endpoint_error_t err;
  memset(&err, 0, sizeof(err));
  int rc = parse(server, s, &ep, &err);
  cr_assert_eq(rc, EDDY_EPARSE, "%s: parsed", s ? s : "(null)");
  cr_assert_eq(err.pos, pos, "%s: at %zu, want %zu (%s)", s ? s : "(null)",
               err.pos, pos, err.message);
  cr_assert_str_eq(err.message, msg, "%s", s ? s : "(null)");
  cr_assert_eq(memcmp(&ep, &before, sizeof(ep)), 0, "%s: *ep changed", s);
  /* err may be NULL. */
  cr_assert_eq(parse(server, s, &ep, NULL), EDDY_EPARSE);
}

/* parse -> format -> parse gives the same struct, and the canonical string
 * is a fixed point. */
static void check_round_trip(int server, const char *s) {
  eddy_endpoint_t a = parse_ok(server, s);
  char buf[1024], buf2[1024];
  int n = eddy_endpoint_format(&a, buf, sizeof(buf));
  cr_assert(n > 0 && (size_t)n < sizeof(buf), "%s: format gave %d", s, n);
  cr_assert_eq(strlen(buf), (size_t)n);
  eddy_endpoint_t b = parse_ok(server, buf);
  cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0, "%s -> %s re-parses differently",
               s, buf);
  cr_assert_eq(eddy_endpoint_format(&b, buf2, sizeof(buf2)), n);
  cr_assert_str_eq(buf, buf2);
}

static void check_format(int server, const char *s, const char *want) {
  eddy_endpoint_t ep = parse_ok(server, s);
  char buf[1024];
  int n = eddy_endpoint_format(&ep, buf, sizeof(buf));
  cr_assert_str_eq(buf, want, "%s", s);
  cr_assert_eq(n, (int)strlen(want));
}

static char *repeat(char *buf, char c, size_t n) {
  memset(buf, c, n);
  buf[n] = '\0';
  return buf;
}

/* ---- Servers ------------------------------------------------------------ */

Test(endpoint, tcp_server_defaults) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_endpoint_t ep = parse_ok(SERVER, "tcp:7700");
  cr_assert_eq(ep.kind, EDDY_ENDPOINT_TCP);
  cr_assert_eq(ep.port, 7700);
  cr_assert_str_eq(ep.host, "127.0.0.1");
  cr_assert_eq(ep.backlog, EDDY_ENDPOINT_BACKLOG_DEFAULT);
  cr_assert_eq(ep.mode, 0);
  cr_assert_str_eq(ep.path, "");
  cr_assert_eq(ep.timeout_ms, 0);

  ep = parse_ok(SERVER, "tcp6:7700");
  cr_assert_eq(ep.kind, EDDY_ENDPOINT_TCP6);
  cr_assert_str_eq(ep.host, "::1");
  cr_assert_eq(ep.backlog, EDDY_ENDPOINT_BACKLOG_DEFAULT);

  cr_assert_eq(parse_ok(SERVER, "tcp:0").port, 0);
  cr_assert_eq(parse_ok(SERVER, "tcp:65535").port, 65535);
  cr_assert_eq(parse_ok(SERVER, "tcp:0080").port, 80);
  test_close_reactor(r);
}

Test(endpoint, tcp_server_options) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_endpoint_t ep = parse_ok(SERVER, "tcp:80:interface=0.0.0.0:backlog=128");
  cr_assert_str_eq(ep.host, "0.0.0.0");
  cr_assert_eq(ep.backlog, 128);
  /* Any order. */
  ep = parse_ok(SERVER, "tcp:80:backlog=1:interface=10.1.2.3");
  cr_assert_str_eq(ep.host, "10.1.2.3");
  cr_assert_eq(ep.backlog, 1);
  cr_assert_eq(parse_ok(SERVER, "tcp:80:backlog=65535").backlog, 65535);

  ep = parse_ok(SERVER, "tcp6:7700:interface=\\:\\:");
  cr_assert_str_eq(ep.host, "::");
  ep = parse_ok(SERVER, "tcp6:7700:interface=fe80\\:\\:1%lo");
  cr_assert_str_eq(ep.host, "fe80::1%lo");
  ep = parse_ok(SERVER, "tcp6:7700:interface=\\:\\:ffff\\:127.0.0.1");
  cr_assert_str_eq(ep.host, "::ffff:127.0.0.1");
  /* The escape works anywhere, even where it is not needed. */
  ep = parse_ok(SERVER, "t\\cp:8\\0:interface=1\\.2.3.4");
  cr_assert_eq(ep.kind, EDDY_ENDPOINT_TCP);
  cr_assert_eq(ep.port, 80);
  cr_assert_str_eq(ep.host, "1.2.3.4");
  test_close_reactor(r);
}

Test(endpoint, unix_server) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_endpoint_t ep = parse_ok(SERVER, "unix:/run/eddy.sock");
  cr_assert_eq(ep.kind, EDDY_ENDPOINT_UNIX);
  cr_assert_str_eq(ep.path, "/run/eddy.sock");
  cr_assert_eq(ep.mode, 0);
  cr_assert_eq(ep.backlog, EDDY_ENDPOINT_BACKLOG_DEFAULT);
  cr_assert_str_eq(ep.host, "");
  cr_assert_eq(ep.port, 0);

  ep = parse_ok(SERVER, "unix:/tmp/a.sock:mode=0660:backlog=10");
  cr_assert_eq(ep.mode, 0660);
  cr_assert_eq(ep.backlog, 10);
  cr_assert_eq(parse_ok(SERVER, "unix:x:mode=660").mode, 0660);
  cr_assert_eq(parse_ok(SERVER, "unix:x:mode=0777").mode, 0777);
  cr_assert_eq(parse_ok(SERVER, "unix:x:mode=1").mode, 1);
  /* Escaped colon and backslash; '=' in a path is just a byte. */
  cr_assert_str_eq(parse_ok(SERVER, "unix:/tmp/a\\:b\\\\c").path,
                   "/tmp/a:b\\c");
  cr_assert_str_eq(parse_ok(SERVER, "unix:/tmp/k=v").path, "/tmp/k=v");
  cr_assert_str_eq(parse_ok(SERVER, "unix:relative").path, "relative");

  char path[200], s[220];
  repeat(path, 'p', 107);
  snprintf(s, sizeof(s), "unix:%s", path);
  cr_assert_str_eq(parse_ok(SERVER, s).path, path);
  test_close_reactor(r);
}

/* ---- Clients ------------------------------------------------------------ */

Test(endpoint, tcp_client) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_endpoint_t ep = parse_ok(CLIENT, "tcp:localhost:80");
  cr_assert_eq(ep.kind, EDDY_ENDPOINT_TCP);
  cr_assert_str_eq(ep.host, "localhost");
  cr_assert_eq(ep.port, 80);
  cr_assert_eq(ep.timeout_ms, 0);
  cr_assert_eq(ep.backlog, 0);

  cr_assert_str_eq(parse_ok(CLIENT, "tcp:127.0.0.1:1").host, "127.0.0.1");
  cr_assert_str_eq(parse_ok(CLIENT, "tcp:\\:\\:1:7700").host, "::1");
  cr_assert_str_eq(parse_ok(CLIENT, "tcp:db-1.internal_x.example.:5432").host,
                   "db-1.internal_x.example.");
  cr_assert_str_eq(parse_ok(CLIENT, "tcp:1e100.net:443").host, "1e100.net");
  ep = parse_ok(CLIENT, "tcp6:example.com:443");
  cr_assert_eq(ep.kind, EDDY_ENDPOINT_TCP6);
  cr_assert_str_eq(ep.host, "example.com");
  cr_assert_str_eq(parse_ok(CLIENT, "tcp6:\\:\\:1:443").host, "::1");

  char host[300], s[320];
  repeat(host, 'h', 255);
  snprintf(s, sizeof(s), "tcp:%s:1", host);
  cr_assert_str_eq(parse_ok(CLIENT, s).host, host);
  test_close_reactor(r);
}

Test(endpoint, client_timeouts) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  static const struct {
    const char *s;
    uint64_t ms;
  } cases[] = {
      {"tcp:h:1:timeout=30", 30000},  {"tcp:h:1:timeout=0.5", 500},
      {"tcp:h:1:timeout=1.25", 1250}, {"tcp:h:1:timeout=0.001", 1},
      {"tcp:h:1:timeout=0.010", 10},  {"tcp:h:1:timeout=86400", 86400000},
      {"tcp:h:1:timeout=007", 7000},  {"unix:/s:timeout=2", 2000},
      {"tcp6:h:1:timeout=0.25", 250},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    cr_assert_eq(parse_ok(CLIENT, cases[i].s).timeout_ms, cases[i].ms, "%s",
                 cases[i].s);
  eddy_endpoint_t ep = parse_ok(CLIENT, "unix:/run/x.sock");
  cr_assert_eq(ep.kind, EDDY_ENDPOINT_UNIX);
  cr_assert_str_eq(ep.path, "/run/x.sock");
  cr_assert_eq(ep.mode, 0);
  test_close_reactor(r);
}

/* ---- Errors: every message, at its position ------------------------------ */

Test(endpoint, errors_transport_and_escapes) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  check_error(SERVER, NULL, 0, "expected an endpoint string");
  check_error(CLIENT, NULL, 0, "expected an endpoint string");
  check_error(SERVER, "", 0, MSG_KIND);
  check_error(SERVER, "udp:80", 0, MSG_KIND);
  check_error(SERVER, "TCP:80", 0, MSG_KIND);
  check_error(SERVER, "tcp7700", 0, MSG_KIND);
  check_error(CLIENT, "unixx:/a", 0, MSG_KIND);
  check_error(SERVER, ":80", 0, MSG_KIND);
  check_error(SERVER, "tcp\\", 3, MSG_ESCAPE);
  check_error(SERVER, "tcp:80\\", 6, MSG_ESCAPE);
  check_error(SERVER, "unix:/a:mode=06\\", 15, MSG_ESCAPE);
  /* A missing field is reported at the end of the string. */
  check_error(SERVER, "tcp", 3, MSG_NEED_PORT);
  check_error(SERVER, "tcp6", 4, MSG_NEED_PORT);
  check_error(CLIENT, "tcp", 3, MSG_NEED_HOST);
  check_error(SERVER, "unix", 4, MSG_NEED_PATH);
  check_error(CLIENT, "unix", 4, MSG_NEED_PATH);
  test_close_reactor(r);
}

Test(endpoint, errors_ports) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  check_error(SERVER, "tcp:", 4, MSG_PORT);
  check_error(SERVER, "tcp:65536", 4, MSG_PORT);
  check_error(SERVER, "tcp:99999999999999999999999", 4, MSG_PORT);
  check_error(SERVER, "tcp:80x", 4, MSG_PORT);
  check_error(SERVER, "tcp:-1", 4, MSG_PORT);
  check_error(SERVER, "tcp:+1", 4, MSG_PORT);
  check_error(SERVER, "tcp: 80", 4, MSG_PORT);
  check_error(SERVER, "tcp6:http", 5, MSG_PORT);
  check_error(SERVER, "tcp:localhost:80", 4, MSG_PORT);
  check_error(CLIENT, "tcp:h:", 6, MSG_PORT_CLIENT);
  check_error(CLIENT, "tcp:h:70000", 6, MSG_PORT_CLIENT);
  check_error(CLIENT, "tcp:h:8o", 6, MSG_PORT_CLIENT);
  check_error(CLIENT, "tcp:h:0", 6, MSG_PORT_CLIENT);
  check_error(CLIENT, "tcp6:h:000", 7, MSG_PORT_CLIENT);
  check_error(CLIENT, "tcp:localhost", 13, MSG_NEED_PORT_CLIENT);
  test_close_reactor(r);
}

Test(endpoint, errors_options) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  check_error(SERVER, "tcp:80:", 7, MSG_OPT_TCP);
  check_error(SERVER, "tcp:80::backlog=5", 7, MSG_OPT_TCP);
  check_error(SERVER, "tcp:80:foo=1", 7, MSG_OPT_TCP);
  check_error(SERVER, "tcp:80:interface", 7, MSG_OPT_TCP);
  check_error(SERVER, "tcp:80:=1", 7, MSG_OPT_TCP);
  check_error(SERVER, "tcp:80:Backlog=1", 7, MSG_OPT_TCP);
  check_error(SERVER, "tcp:80:mode=0660", 7, MSG_OPT_TCP);
  check_error(SERVER, "tcp:80:timeout=1", 7, MSG_OPT_TCP);
  check_error(SERVER, "tcp:80:backlog=5:", 17, MSG_OPT_TCP);
  check_error(SERVER, "unix:/s:interface=1.2.3.4", 8, MSG_OPT_UNIX);
  check_error(SERVER, "unix:/s:timeout=1", 8, MSG_OPT_UNIX);
  check_error(CLIENT, "tcp:h:80:backlog=5", 9, MSG_OPT_CLIENT);
  check_error(CLIENT, "tcp:h:80:extra", 9, MSG_OPT_CLIENT);
  check_error(CLIENT, "unix:/s:mode=0600", 8, MSG_OPT_CLIENT);
  check_error(CLIENT, "tcp:h:80:timeoutx=1", 9, MSG_OPT_CLIENT);
  /* Duplicates, at the second occurrence. */
  check_error(SERVER, "tcp:80:backlog=1:backlog=2", 17,
              "expected each option once; 'backlog' is repeated");
  check_error(SERVER, "tcp:80:interface=1.1.1.1:interface=1.1.1.1", 25,
              "expected each option once; 'interface' is repeated");
  check_error(SERVER, "unix:/s:mode=1:backlog=3:mode=1", 25,
              "expected each option once; 'mode' is repeated");
  check_error(CLIENT, "tcp:h:1:timeout=1:timeout=1", 18,
              "expected each option once; 'timeout' is repeated");
  /* Empty values, at the value. */
  check_error(SERVER, "tcp:80:interface=", 17,
              "expected a value after 'interface='");
  check_error(SERVER, "tcp:80:backlog=", 15,
              "expected a value after 'backlog='");
  check_error(SERVER, "unix:/s:mode=", 13, "expected a value after 'mode='");
  check_error(CLIENT, "tcp:h:1:timeout=", 16,
              "expected a value after 'timeout='");
  check_error(SERVER, "tcp:80:backlog=:interface=1.1.1.1", 15,
              "expected a value after 'backlog='");
  test_close_reactor(r);
}

Test(endpoint, errors_values) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  check_error(SERVER, "tcp:80:interface=1.2.3", 17, MSG_IFACE4);
  check_error(SERVER, "tcp:80:interface=localhost", 17, MSG_IFACE4);
  check_error(SERVER, "tcp:80:interface=1.2.3.4.5", 17, MSG_IFACE4);
  check_error(SERVER, "tcp:80:interface=\\:\\:1", 17, MSG_IFACE4);
  check_error(SERVER, "tcp6:80:interface=127.0.0.1", 18, MSG_IFACE6);
  check_error(SERVER, "tcp6:80:interface=fe80\\:\\:1%", 18, MSG_IFACE6);
  check_error(SERVER, "tcp6:80:interface=fe80\\:\\:1%e/0", 18, MSG_IFACE6);
  /* The usual mistake: an unescaped IPv6 address. */
  check_error(SERVER, "tcp6:80:interface=::1", 18, MSG_IFACE6);
  check_error(SERVER, "tcp:80:interface=:", 17, MSG_IFACE4);

  check_error(SERVER, "tcp:80:backlog=0", 15, MSG_BACKLOG);
  check_error(SERVER, "tcp:80:backlog=65536", 15, MSG_BACKLOG);
  check_error(SERVER, "tcp:80:backlog=-1", 15, MSG_BACKLOG);
  check_error(SERVER, "tcp:80:backlog=1k", 15, MSG_BACKLOG);
  check_error(SERVER, "unix:/s:backlog=99999999999999999999999", 16,
              MSG_BACKLOG);

  check_error(SERVER, "unix:/s:mode=0", 13, MSG_MODE);
  check_error(SERVER, "unix:/s:mode=0000", 13, MSG_MODE);
  check_error(SERVER, "unix:/s:mode=0778", 13, MSG_MODE);
  check_error(SERVER, "unix:/s:mode=01000", 13, MSG_MODE);
  check_error(SERVER, "unix:/s:mode=rw", 13, MSG_MODE);
  check_error(SERVER, "unix:/s:mode=0x1ff", 13, MSG_MODE);

  static const char *const bad_timeouts[] = {
      "0",    "0.0",    "000",       ".5",
      "1.",   "1.2345", "86400.001", "86401",
      "1e3",  "abc",    "-1",        "1..2",
      "1.5s", " 1",     "0.000",     "99999999999999999999",
  };
  for (size_t i = 0; i < sizeof(bad_timeouts) / sizeof(bad_timeouts[0]); i++) {
    char s[64];
    snprintf(s, sizeof(s), "tcp:h:1:timeout=%s", bad_timeouts[i]);
    check_error(CLIENT, s, 16, MSG_TIMEOUT);
  }
  check_error(CLIENT, "unix:/s:timeout=2.", 16, MSG_TIMEOUT);
  test_close_reactor(r);
}

Test(endpoint, errors_hosts_and_paths) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  check_error(CLIENT, "tcp::80", 4, MSG_HOST);
  check_error(CLIENT, "tcp:a b:80", 4, MSG_HOST);
  check_error(CLIENT, "tcp:-x:80", 4, MSG_HOST);
  check_error(CLIENT, "tcp:.x:80", 4, MSG_HOST);
  check_error(CLIENT, "tcp:1.2.3:80", 4, MSG_HOST);
  check_error(CLIENT, "tcp:80", 4, MSG_HOST);
  check_error(CLIENT, "tcp:h\\=x:80", 4, MSG_HOST);
  check_error(CLIENT, "tcp:[\\:\\:1]:80", 4, MSG_HOST_V6LIT);
  check_error(CLIENT, "tcp:\\:\\:g:80", 4, MSG_HOST_V6LIT);
  check_error(CLIENT, "tcp6:1.2.3.4:80", 5, MSG_HOST6);
  check_error(CLIENT, "tcp6::80", 5, MSG_HOST6);

  char host[300], s[320];
  repeat(host, 'h', 256);
  snprintf(s, sizeof(s), "tcp:%s:1", host);
  check_error(CLIENT, s, 4, MSG_HOST_LONG);

  check_error(SERVER, "unix:", 5, MSG_PATH);
  check_error(SERVER, "unix::mode=0600", 5, MSG_PATH);
  check_error(CLIENT, "unix:", 5, MSG_PATH);
  char path[200];
  repeat(path, 'p', 108);
  snprintf(s, sizeof(s), "unix:%s", path);
  check_error(SERVER, s, 5, MSG_PATH_LONG);
  check_error(CLIENT, s, 5, MSG_PATH_LONG);
  /* 107 bytes after unescaping fit, whatever the escapes cost. */
  char esc[300];
  size_t n = 0;
  memcpy(esc, "unix:", 5);
  n = 5;
  for (int i = 0; i < 107; i++) {
    esc[n++] = '\\';
    esc[n++] = ':';
  }
  esc[n] = '\0';
  cr_assert_eq(strlen(parse_ok(SERVER, esc).path), 107);
  test_close_reactor(r);
}

/* Every prefix of a valid string either parses or fails within itself. */
Test(endpoint, truncated_at_every_byte) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  static const struct {
    int server;
    const char *s;
  } cases[] = {
      {SERVER, "tcp6:7700:interface=\\:\\:1:backlog=128"},
      {SERVER, "unix:/tmp/a\\:b.sock:mode=0660:backlog=5"},
      {CLIENT, "tcp:db.example.com:5432:timeout=1.5"},
      {CLIENT, "tcp6:\\:\\:1:80"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char buf[128];
    size_t len = strlen(cases[i].s);
    for (size_t k = 0; k <= len; k++) {
      memcpy(buf, cases[i].s, k);
      buf[k] = '\0';
      eddy_endpoint_t ep;
      eddy_endpoint_error_t err;
      int rc = parse(cases[i].server, buf, &ep, &err);
      if (rc == 0)
        check_round_trip(cases[i].server, buf);
      else
        cr_assert_leq(err.pos, k, "%s: error at %zu past the end", buf,
                      err.pos);
    }
    cr_assert_eq(
        parse(cases[i].server, cases[i].s, &(eddy_endpoint_t){0}, NULL), 0);
  }
  test_close_reactor(r);
}

/* ---- Format ------------------------------------------------------------- */

Test(endpoint, format_canonical) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  check_format(SERVER, "tcp:7700", "tcp:7700:interface=127.0.0.1");
  check_format(SERVER, "tcp:0080:backlog=511", "tcp:80:interface=127.0.0.1");
  check_format(SERVER, "tcp:80:backlog=5:interface=0.0.0.0",
               "tcp:80:interface=0.0.0.0:backlog=5");
  check_format(SERVER, "tcp6:7700", "tcp6:7700:interface=\\:\\:1");
  check_format(SERVER, "unix:/tmp/a\\:b\\\\c:backlog=5:mode=660",
               "unix:/tmp/a\\:b\\\\c:mode=0660:backlog=5");
  check_format(SERVER, "unix:/s:mode=7", "unix:/s:mode=0007");
  check_format(SERVER, "unix:/s", "unix:/s");
  check_format(CLIENT, "tcp:localhost:80", "tcp:localhost:80");
  check_format(CLIENT, "tcp:h:80:timeout=0.500", "tcp:h:80:timeout=0.5");
  check_format(CLIENT, "tcp:h:80:timeout=1.25", "tcp:h:80:timeout=1.25");
  check_format(CLIENT, "tcp:h:80:timeout=30.0", "tcp:h:80:timeout=30");
  check_format(CLIENT, "tcp:h:80:timeout=0.001", "tcp:h:80:timeout=0.001");
  check_format(CLIENT, "tcp:h:80:timeout=0.01", "tcp:h:80:timeout=0.01");
  check_format(CLIENT, "tcp6:\\:\\:1:80", "tcp6:\\:\\:1:80");
  check_format(CLIENT, "unix:/run/x:timeout=2", "unix:/run/x:timeout=2");
  test_close_reactor(r);
}

Test(endpoint, format_truncates_like_snprintf) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_endpoint_t ep = parse_ok(SERVER, "tcp:7700");
  const char *want = "tcp:7700:interface=127.0.0.1";
  int full = (int)strlen(want);
  char buf[64];
  cr_assert_eq(eddy_endpoint_format(&ep, NULL, 0), full);
  for (size_t size = 1; size <= (size_t)full + 1; size++) {
    memset(buf, 'X', sizeof(buf));
    cr_assert_eq(eddy_endpoint_format(&ep, buf, size), full);
    cr_assert_eq(strlen(buf), size - 1);
    cr_assert_eq(strncmp(buf, want, size - 1), 0);
    cr_assert_eq(buf[size], 'X', "wrote past size %zu", size);
  }
  eddy_endpoint_t bad = ep;
  bad.kind = (eddy_endpoint_kind_t)9;
  cr_assert_eq(eddy_endpoint_format(&bad, buf, sizeof(buf)), UV_EINVAL);
  cr_assert_eq(eddy_endpoint_format(NULL, buf, sizeof(buf)), UV_EINVAL);
  test_close_reactor(r);
}

Test(endpoint, round_trips) {
  eddy_reactor_t *r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  static const char *const servers[] = {
      "tcp:0",
      "tcp:65535:interface=192.168.1.1:backlog=1",
      "tcp6:1:interface=fe80\\:\\:1%eth0",
      "tcp6:443:interface=\\:\\:ffff\\:10.0.0.1:backlog=65535",
      "unix:/tmp/x\\\\y\\:z=w:mode=0777",
      "unix:a:backlog=511",
  };
  static const char *const clients[] = {
      "tcp:localhost:1",
      "tcp:10.0.0.1:65535:timeout=86400",
      "tcp:\\:\\:1:80:timeout=0.999",
      "tcp6:host-name:1:timeout=0.1",
      "unix:/a\\:b:timeout=0.05",
      "unix:=",
  };
  for (size_t i = 0; i < sizeof(servers) / sizeof(servers[0]); i++)
    check_round_trip(SERVER, servers[i]);
  for (size_t i = 0; i < sizeof(clients) / sizeof(clients[0]); i++)
    check_round_trip(CLIENT, clients[i]);

  /* The longest strings still re-parse: every byte of a path escaped. */
  char s[400];
  size_t n = 5;
  memcpy(s, "unix:", 5);
  for (int i = 0; i < 107; i++) {
    s[n++] = '\\';
    s[n++] = i % 2 ? ':' : '\\';
  }
  s[n] = '\0';
  check_round_trip(SERVER, s);
  check_round_trip(CLIENT, s);
  test_close_reactor(r);
}
