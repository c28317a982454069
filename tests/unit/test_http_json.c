/* test_http_json.c — JSON bodies and responses (eddy/http_json.h): parsing
 * with the strict rules and positioned errors, media types, compact
 * encoding, and requests through a real server on the string transport. */
#include "support.h"

#include <eddy/http_json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses s[0..len) from an exact-size heap copy. */
static int parse_copy(const char *s, size_t len, json_t **out,
                      eddy_json_error_t *err) {
  char *copy = malloc(len ? len : 1);
  cr_assert_not_null(copy);
  memcpy(copy, s, len);
  int rc = eddy_json_parse(copy, len, out, err);
  free(copy);
  return rc;
}

Test(http_json, parses_any_value) {
  json_t *j = NULL;
  eddy_json_error_t err;
  const char *in = " {\"a\": [1, 2.5, \"x\\u00e9\", null, true], \"b\": {}} ";
  cr_assert_eq(parse_copy(in, strlen(in), &j, &err), 0, "%s", err.text);
  cr_assert(json_is_object(j));
  cr_assert_eq(json_array_size(json_object_get(j, "a")), 3 + 2);
  json_decref(j);
  static const char *const scalars[] = {"1",    "\"s\"",  "null",
                                        "true", "-0.5e3", "[]"};
  for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
    cr_assert_eq(parse_copy(scalars[i], strlen(scalars[i]), &j, NULL), 0, "%s",
                 scalars[i]);
    json_decref(j);
  }
  /* Not NUL-terminated: the length is what counts. */
  cr_assert_eq(parse_copy("[1]garbage", 3, &j, NULL), 0);
  json_decref(j);
}

Test(http_json, errors_with_positions) {
  json_t *j = (json_t *)1;
  eddy_json_error_t err;
  const char *in = "{\"a\": 1,\n \"b\": }";
  cr_assert_eq(parse_copy(in, strlen(in), &j, &err), EDDY_EPARSE);
  cr_assert_null(j);
  cr_assert_eq(err.status, 400);
  cr_assert_eq(err.line, 2);
  cr_assert_gt(err.column, 0);
  cr_assert_not_null(strstr(err.text, "invalid JSON at line 2, column"), "%s",
                     err.text);

  static const char *const bad[] = {"",
                                    "{",
                                    "[1,]",
                                    "{\"a\":1,\"a\":2}",
                                    "\"\\u0000\"",
                                    "[1] [2]",
                                    "\"\xff\"",
                                    "{'a':1}",
                                    "NaN",
                                    "[1e400]",
                                    "\"\x01\"",
                                    "tru"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    cr_assert_eq(parse_copy(bad[i], strlen(bad[i]), &j, &err), EDDY_EPARSE,
                 "'%s' accepted", bad[i]);
    cr_assert_eq(err.status, 400);
    cr_assert_not_null(strstr(err.text, "invalid JSON at line "));
  }
  cr_assert_eq(parse_copy("{\"a\":1,\"a\":2}", 13, &j, &err), EDDY_EPARSE);
  cr_assert_not_null(strstr(err.text, "duplicate"), "%s", err.text);
  /* A raw NUL byte inside the length. */
  cr_assert_eq(parse_copy("[1,\0 2]", 7, &j, NULL), EDDY_EPARSE);

  /* Nesting deeper than jansson's bound is an error, not a crash. */
  size_t depth = 100000;
  char *deep = malloc(depth);
  cr_assert_not_null(deep);
  memset(deep, '[', depth);
  cr_assert_eq(parse_copy(deep, depth, &j, &err), EDDY_EPARSE);
  free(deep);
}

Test(http_json, every_prefix) {
  const char *in = "{\"k\": [1, {\"x\": \"\\u00e9\\n\"}, false], \"z\": -1.5}";
  size_t len = strlen(in);
  for (size_t i = 0; i < len; i++) {
    json_t *j = NULL;
    int rc = parse_copy(in, i, &j, NULL);
    /* "{...}" prefixes are incomplete; only a few are whole values. */
    if (rc == 0)
      json_decref(j);
    else
      cr_assert_eq(rc, EDDY_EPARSE);
  }
  json_t *j = NULL;
  cr_assert_eq(parse_copy(in, len, &j, NULL), 0);
  json_decref(j);
}

Test(http_json, media_types) {
  static const char *const yes[] = {"application/json",
                                    "Application/JSON",
                                    " application/json ",
                                    "application/json; charset=utf-8",
                                    "application/json;charset=\"UTF-8\"",
                                    "application/json; foo=bar",
                                    "application/problem+json",
                                    "application/vnd.api+json; x=1"};
  for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
    cr_assert(eddy_json_is_json_type(yes[i]), "%s", yes[i]);
  static const char *const no[] = {NULL,
                                   "",
                                   "text/json",
                                   "application/jsonx",
                                   "application/json; charset=latin1",
                                   "application/x-www-form-urlencoded",
                                   "application/+json",
                                   "text/x+json",
                                   "application/a/b+json",
                                   "application/json x"};
  for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
    cr_assert_not(eddy_json_is_json_type(no[i]), "%s", no[i] ? no[i] : "NULL");
}

Test(http_json, encode) {
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  json_t *j = json_pack("{s:i, s:[s, n, b], s:s}", "a", 1, "list", "x", 1, "u",
                        "caf\xc3\xa9");
  cr_assert_not_null(j);
  cr_assert_eq(eddy_json_encode(j, &b), 0);
  const char *want =
      "{\"a\":1,\"list\":[\"x\",null,true],\"u\":\"caf\xc3\xa9\"}";
  cr_assert_eq(b.len, strlen(want));
  cr_assert_eq(memcmp(b.data, want, b.len), 0, "%.*s", (int)b.len, b.data);
  eddy_buf_clear(&b);
  json_t *n = json_integer(5);
  cr_assert_eq(eddy_json_encode(n, &b), 0);
  cr_assert_eq(b.len, 1);
  json_decref(n);
  cr_assert_eq(eddy_json_encode(NULL, &b), UV_EINVAL);
  eddy_buf_free(&b);
  /* The buffer's limit. */
  eddy_buf_init(&b, 10);
  cr_assert_eq(eddy_json_encode(j, &b), UV_ENOBUFS);
  cr_assert_eq(b.len, 0);
  eddy_buf_free(&b);
  json_decref(j);
}

/* ---- Through a real server ------------------------------------------------
 */

typedef struct {
  eddy_reactor_t *r;
  eddy_http_server_t *srv;
  eddy_string_transport_t *st;
} rig_t;

/* POST /echo: parse and answer the value back wrapped in {"got": ...}.
 * GET /new: respond_json_new. GET /bad: an unserialisable value.
 * GET /err: respond_json_error. */
static void handler(eddy_http_request_t *req, void *arg) {
  (void)arg;
  const char *path = eddy_http_path(req);
  if (strcmp(path, "/echo") == 0) {
    json_t *j;
    eddy_json_error_t err;
    int rc = eddy_http_body_json(req, &j, &err);
    if (rc != 0) {
      cr_assert_eq(eddy_http_respond_json_error(req, err.status, err.text), 0);
      return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "got", j);
    cr_assert_eq(eddy_http_respond_json(req, 200, o), 0);
    json_decref(o);
  } else if (strcmp(path, "/new") == 0) {
    cr_assert_eq(
        eddy_http_respond_json_new(req, 201, json_pack("{s:i}", "n", 1)), 0);
  } else if (strcmp(path, "/bad") == 0) {
    cr_assert_eq(eddy_http_respond_json_new(req, 200, NULL), UV_EINVAL);
  } else {
    cr_assert_eq(eddy_http_respond_json_error(req, 404, NULL), 0);
  }
}

static void spin(eddy_reactor_t *r) {
  for (int i = 0; i < 20; i++)
    eddy_reactor_run_once(r, 0);
}

static void rig_up(rig_t *g) {
  g->r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  eddy_http_server_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.server_name = "";
  cr_assert_eq(eddy_http_server_new(g->r, &cfg, handler, NULL, &g->srv), 0);
  eddy_factory_t *f = eddy_http_server_factory(g->srv);
  eddy_protocol_t *p = f->build_protocol(f, NULL);
  cr_assert_not_null(p);
  g->st = eddy_string_transport_new(g->r);
  eddy_string_transport_connect(g->st, p);
}

static void on_stopped(void *arg) {
  (*(int *)arg)++;
}

static void rig_down(rig_t *g) {
  int stopped = 0;
  eddy_http_server_close(g->srv, 0, on_stopped, &stopped);
  spin(g->r);
  eddy_string_transport_free(g->st);
  test_close_reactor(g->r);
  cr_assert_eq(stopped, 1);
}

static const char *ask(rig_t *g, const char *req, int bytewise) {
  eddy_string_transport_clear(g->st);
  if (bytewise)
    eddy_string_transport_feed_bytewise(g->st, req, strlen(req));
  else
    eddy_string_transport_feed(g->st, req, strlen(req));
  spin(g->r);
  return eddy_string_transport_value(g->st, NULL);
}

static void expect_in(const char *got, const char *want) {
  cr_assert_not_null(strstr(got, want), "want '%s' in:\n%s", want, got);
}

static const char *post(rig_t *g, const char *ct, const char *body,
                        int bytewise) {
  static char req[1024];
  snprintf(req, sizeof(req),
           "POST /echo HTTP/1.1\r\nHost: a\r\n%s%s%sContent-Length: %zu\r\n"
           "\r\n%s",
           ct ? "Content-Type: " : "", ct ? ct : "", ct ? "\r\n" : "",
           strlen(body), body);
  return ask(g, req, bytewise);
}

Test(http_json, through_server) {
  rig_t g;
  rig_up(&g);
  const char *out = post(&g, "application/json", "{\"x\": [1, 2]}", 1);
  expect_in(out, "HTTP/1.1 200 ");
  expect_in(out, "\r\nContent-Type: application/json\r\n");
  expect_in(out, "\r\n\r\n{\"got\":{\"x\":[1,2]}}");

  out = post(&g, "application/json; charset=utf-8", "\"s\"", 0);
  expect_in(out, "{\"got\":\"s\"}");

  out = post(&g, "text/plain", "{}", 0);
  expect_in(out, "HTTP/1.1 415 ");
  expect_in(out,
            "{\"error\":\"Content-Type must be application/json (UTF-8)\"}");
  out = post(&g, NULL, "{}", 0);
  expect_in(out, "HTTP/1.1 415 ");

  out = post(&g, "application/json", "{\"a\":\n}", 1);
  expect_in(out, "HTTP/1.1 400 ");
  expect_in(out, "{\"error\":\"invalid JSON at line 2, column 1: ");

  out = post(&g, "application/json", "", 0);
  expect_in(out, "HTTP/1.1 400 ");
  expect_in(out, "empty body where JSON was expected");

  out = post(&g, "application/json", "{\"a\":1,\"a\":2}", 0);
  expect_in(out, "HTTP/1.1 400 ");
  expect_in(out, "duplicate");

  out = ask(&g, "GET /new HTTP/1.1\r\nHost: a\r\n\r\n", 0);
  expect_in(out, "HTTP/1.1 201 ");
  expect_in(out, "\r\nContent-Length: 7\r\n");
  expect_in(out, "\r\n\r\n{\"n\":1}");

  out = ask(&g, "GET /bad HTTP/1.1\r\nHost: a\r\n\r\n", 0);
  expect_in(out, "HTTP/1.1 500 ");

  out = ask(&g, "GET /other HTTP/1.1\r\nHost: a\r\n\r\n", 0);
  expect_in(out, "HTTP/1.1 404 ");
  expect_in(out, "{\"error\":\"Not Found\"}");
  rig_down(&g);
}
