/* Namespace specs: defaults, parsing (every option, every error, byte for
 * byte), formatting back. */
#include "support.h"

#include <string.h>

#include <eddy/realtime.h>

Test(rt_namespace, defaults) {
  eddy_rt_namespace_t ns;
  eddy_rt_namespace_init(&ns, "chat");
  cr_assert_str_eq(ns.name, "chat");
  cr_assert_eq(ns.history_size, 100);
  cr_assert_eq(ns.history_ttl_ms, 300000);
  cr_assert_eq(ns.presence, 1);
  cr_assert_eq(ns.join_leave, 1);
  cr_assert_eq(ns.publish, 0);
  eddy_reactor_t *r = test_reactor(0);
  test_close_reactor(r);
}

Test(rt_namespace, parse_every_option) {
  eddy_rt_namespace_t ns;
  char err[160];
  cr_assert_eq(
      eddy_rt_namespace_parse("  chat.v2-x history=5\tttl=250ms presence=no "
                              "join_leave=off publish=yes ",
                              &ns, err, sizeof(err)),
      0, "%s", err);
  cr_assert_str_eq(ns.name, "chat.v2-x");
  cr_assert_eq(ns.history_size, 5);
  cr_assert_eq(ns.history_ttl_ms, 250);
  cr_assert_eq(ns.presence, 0);
  cr_assert_eq(ns.join_leave, 0);
  cr_assert_eq(ns.publish, 1);
  cr_assert_str_eq(err, "");

  cr_assert_eq(eddy_rt_namespace_parse("default ttl=2", &ns, err, sizeof(err)),
               0);
  cr_assert_str_eq(ns.name, "");
  cr_assert_eq(ns.history_ttl_ms, 2000);
  cr_assert_eq(ns.history_size, 100); /* untouched options keep defaults */

  struct {
    const char *ttl;
    uint64_t ms;
  } ttls[] = {{"0", 0},
              {"7s", 7000},
              {"3m", 180000},
              {"2h", 7200000},
              {"15ms", 15},
              {"0s", 0},
              {"8784h", 8784ull * 3600000}};
  for (size_t i = 0; i < sizeof(ttls) / sizeof(ttls[0]); i++) {
    char spec[64];
    snprintf(spec, sizeof(spec), "n ttl=%s", ttls[i].ttl);
    cr_assert_eq(eddy_rt_namespace_parse(spec, &ns, err, sizeof(err)), 0,
                 "%s: %s", spec, err);
    cr_assert_eq(ns.history_ttl_ms, ttls[i].ms, "%s", spec);
  }
  eddy_reactor_t *r = test_reactor(0);
  test_close_reactor(r);
}

Test(rt_namespace, parse_errors_are_exact) {
  struct {
    const char *spec;
    const char *err;
  } cases[] = {
      {"", "missing namespace name"},
      {"   ", "missing namespace name"},
      {"a:b", "bad namespace name 'a:b' (letters, digits, '_', '.', '-'; at "
              "most 63)"},
      {"n history", "option 'history' needs a value (name=value)"},
      {"n size=3", "unknown option 'size' (history, ttl, presence, "
                   "join_leave, publish)"},
      {"n history=1 history=2", "option 'history' given twice"},
      {"n history=-1", "bad history '-1' (a count, 0..1000000)"},
      {"n history=1000001", "bad history '1000001' (a count, 0..1000000)"},
      {"n history=", "bad history '' (a count, 0..1000000)"},
      {"n ttl=5d", "bad ttl '5d' (digits with ms, s, m or h; at most a year)"},
      {"n ttl=s", "bad ttl 's' (digits with ms, s, m or h; at most a year)"},
      {"n ttl=8785h",
       "bad ttl '8785h' (digits with ms, s, m or h; at most a year)"},
      {"n ttl=99999999999999999999999",
       "bad ttl '99999999999999999999999' (digits with ms, s, m or h; at "
       "most a year)"},
      {"n presence=maybe", "bad yes/no value 'maybe'"},
      {"n publish=", "bad yes/no value ''"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    eddy_rt_namespace_t ns;
    char err[160] = "x";
    cr_assert_eq(eddy_rt_namespace_parse(cases[i].spec, &ns, err, sizeof(err)),
                 -1, "%s", cases[i].spec);
    cr_assert_str_eq(err, cases[i].err, "spec '%s'", cases[i].spec);
  }
  /* A name of 64 bytes is one too many. */
  char spec[80];
  memset(spec, 'n', 64);
  spec[64] = '\0';
  eddy_rt_namespace_t ns;
  cr_assert_eq(eddy_rt_namespace_parse(spec, &ns, NULL, 0), -1);
  spec[63] = '\0';
  cr_assert_eq(eddy_rt_namespace_parse(spec, &ns, NULL, 0), 0);
  cr_assert_eq(strlen(ns.name), 63);
  /* A short error buffer is cut, never overrun. */
  char small[8];
  cr_assert_eq(eddy_rt_namespace_parse("n x=1", &ns, small, sizeof(small)), -1);
  cr_assert_str_eq(small, "unknown");
  eddy_reactor_t *r = test_reactor(0);
  test_close_reactor(r);
}

Test(rt_namespace, format_round_trips) {
  const char *specs[] = {"default",
                         "chat history=0 ttl=0 publish=yes",
                         "a ttl=1500ms presence=no join_leave=no",
                         "b history=7 ttl=90s",
                         "c ttl=120m",
                         "d ttl=3h"};
  for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
    eddy_rt_namespace_t a, b;
    char buf[256], err[160];
    cr_assert_eq(eddy_rt_namespace_parse(specs[i], &a, err, sizeof(err)), 0);
    cr_assert_eq(eddy_rt_namespace_format(&a, buf, sizeof(buf)), 0);
    cr_assert_eq(eddy_rt_namespace_parse(buf, &b, err, sizeof(err)), 0,
                 "%s: %s", buf, err);
    cr_assert_str_eq(a.name, b.name);
    cr_assert_eq(a.history_size, b.history_size, "%s -> %s", specs[i], buf);
    cr_assert_eq(a.history_ttl_ms, b.history_ttl_ms, "%s -> %s", specs[i], buf);
    cr_assert_eq(a.presence, b.presence);
    cr_assert_eq(a.join_leave, b.join_leave);
    cr_assert_eq(a.publish, b.publish);
  }
  eddy_rt_namespace_t ns;
  eddy_rt_namespace_init(&ns, "chat");
  char buf[256];
  cr_assert_eq(eddy_rt_namespace_format(&ns, buf, sizeof(buf)), 0);
  cr_assert_str_eq(buf, "chat history=100 ttl=5m presence=yes "
                        "join_leave=yes publish=no");
  cr_assert_eq(eddy_rt_namespace_format(&ns, buf, 10), UV_ENOBUFS);
  eddy_reactor_t *r = test_reactor(0);
  test_close_reactor(r);
}
