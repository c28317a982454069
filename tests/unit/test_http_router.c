/* test_http_router.c — the router (eddy/http_router.h): patterns, precedence
 * with backtracking, parameters, 404 / 405 with Allow, HEAD through GET,
 * automatic OPTIONS, limits; then through a real server on the string
 * transport. */
#include "support.h"

#include <eddy/http_router.h>
#include <eddy/http_server.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Handlers are told apart by their arg; the pure tests never call them. */
static void h(eddy_http_request_t *req, void *arg) {
  (void)req;
  (void)arg;
}

static int A, B, C, D, E, F, G;

static eddy_router_t *router(void) {
  eddy_router_t *rt = NULL;
  cr_assert_eq(eddy_router_new(NULL, &rt), 0);
  return rt;
}

static void add(eddy_router_t *rt, const char *method, const char *pattern,
                void *arg) {
  int rc = eddy_router_add(rt, method, pattern, h, arg);
  cr_assert_eq(rc, 0, "add %s %s: %d", method, pattern, rc);
}

/* Matches from an exact-size heap copy of path. */
static void match(const eddy_router_t *rt, const char *method, const char *path,
                  eddy_router_match_t *m) {
  size_t len = strlen(path);
  char *copy = malloc(len ? len : 1);
  cr_assert_not_null(copy);
  memcpy(copy, path, len);
  cr_assert_eq(eddy_router_match(rt, method, copy, len, m), 0);
  free(copy);
}

static void expect_route(const eddy_router_t *rt, const char *method,
                         const char *path, void *arg) {
  eddy_router_match_t m;
  match(rt, method, path, &m);
  cr_assert_eq(m.status, 0, "%s %s: status %d", method, path, m.status);
  cr_assert_eq(m.arg, arg, "%s %s: routed to %s", method, path, m.pattern);
  cr_assert_eq(m.handler, h);
  cr_assert_null(m.allow);
  eddy_router_match_cleanup(&m);
}

static void expect_status(const eddy_router_t *rt, const char *method,
                          const char *path, int status, const char *allow) {
  eddy_router_match_t m;
  match(rt, method, path, &m);
  cr_assert_eq(m.status, status, "%s %s: status %d, want %d", method, path,
               m.status, status);
  cr_assert_null(m.handler);
  if (allow == NULL) {
    cr_assert_null(m.allow);
  } else {
    cr_assert_not_null(m.allow);
    cr_assert_str_eq(m.allow, allow);
  }
  eddy_router_match_cleanup(&m);
  eddy_router_match_cleanup(&m); /* twice is safe */
}

static const char *param(const eddy_router_match_t *m, const char *name) {
  for (size_t i = 0; i < m->nparams; i++)
    if (strcmp(m->params[i].name, name) == 0)
      return m->params[i].value;
  return NULL;
}

Test(http_router, literals_and_root) {
  eddy_router_t *rt = router();
  add(rt, "GET", "/", &A);
  add(rt, "GET", "/users", &B);
  add(rt, "GET", "/users/", &C);
  add(rt, "GET", "/a//b", &D);
  add(rt, "GET", "/a b", &E);
  expect_route(rt, "GET", "/", &A);
  expect_route(rt, "GET", "/users", &B);
  expect_route(rt, "GET", "/users/", &C);
  expect_route(rt, "GET", "/a//b", &D);
  expect_route(rt, "GET", "/a%20b", &E);
  expect_route(rt, "GET", "/a b", &E);
  expect_status(rt, "GET", "/user", 404, NULL);
  expect_status(rt, "GET", "/users/x", 404, NULL);
  expect_status(rt, "GET", "//", 404, NULL);
  expect_status(rt, "GET", "", 404, NULL);
  expect_status(rt, "GET", "users", 404, NULL);
  expect_status(rt, "GET", "/USERS", 404, NULL);
  eddy_router_free(rt);
}

Test(http_router, parameters) {
  eddy_router_t *rt = router();
  add(rt, "GET", "/users/:id", &A);
  add(rt, "GET", "/users/:id/posts/:post_id", &B);
  add(rt, "GET", "/files/:name", &C);
  eddy_router_match_t m;
  match(rt, "GET", "/users/42", &m);
  cr_assert_eq(m.status, 0);
  cr_assert_eq(m.arg, &A);
  cr_assert_eq(m.nparams, 1);
  cr_assert_str_eq(m.params[0].name, "id");
  cr_assert_str_eq(m.params[0].value, "42");
  cr_assert_eq(m.params[0].value_len, 2);
  cr_assert_str_eq(m.pattern, "/users/:id");
  cr_assert_str_eq(m.method, "GET");
  eddy_router_match_cleanup(&m);

  match(rt, "GET", "/users/7/posts/x%20y", &m);
  cr_assert_eq(m.arg, &B);
  cr_assert_eq(m.nparams, 2);
  cr_assert_str_eq(param(&m, "id"), "7");
  cr_assert_str_eq(param(&m, "post_id"), "x y");
  eddy_router_match_cleanup(&m);

  /* Split before decoding: %2F stays inside the parameter. */
  match(rt, "GET", "/files/a%2Fb%3F", &m);
  cr_assert_eq(m.arg, &C);
  cr_assert_str_eq(param(&m, "name"), "a/b?");
  eddy_router_match_cleanup(&m);

  /* A parameter needs a non-empty segment. */
  expect_status(rt, "GET", "/users/", 404, NULL);
  expect_status(rt, "GET", "/users", 404, NULL);
  expect_status(rt, "GET", "/users/7/posts/", 404, NULL);
  eddy_router_free(rt);
}

Test(http_router, wildcards) {
  eddy_router_t *rt = router();
  add(rt, "GET", "/static/*path", &A);
  add(rt, "*", "/mount/*", &B);
  add(rt, "GET", "/*all", &C);
  eddy_router_match_t m;
  match(rt, "GET", "/static/css/site%20x.css", &m);
  cr_assert_eq(m.arg, &A);
  cr_assert_eq(m.nparams, 1);
  cr_assert_str_eq(param(&m, "path"), "css/site x.css");
  eddy_router_match_cleanup(&m);
  match(rt, "GET", "/static/", &m);
  cr_assert_eq(m.arg, &A);
  cr_assert_str_eq(param(&m, "path"), "");
  eddy_router_match_cleanup(&m);
  /* "/static" has no segment for the wildcard: the catch-all takes it. */
  match(rt, "GET", "/static", &m);
  cr_assert_eq(m.arg, &C);
  cr_assert_str_eq(param(&m, "all"), "static");
  eddy_router_match_cleanup(&m);
  /* An unnamed wildcard keeps no value; "*" takes any method. */
  match(rt, "DELETE", "/mount/x/y", &m);
  cr_assert_eq(m.arg, &B);
  cr_assert_eq(m.nparams, 0);
  cr_assert_str_eq(m.method, "*");
  eddy_router_match_cleanup(&m);
  match(rt, "GET", "/", &m);
  cr_assert_eq(m.arg, &C);
  cr_assert_str_eq(param(&m, "all"), "");
  eddy_router_match_cleanup(&m);
  /* A deep path, far past the segment limit, under a wildcard. */
  char deep[4096] = "/static";
  for (int i = 0; i < 500; i++)
    strcat(deep, "/d");
  match(rt, "GET", deep, &m);
  cr_assert_eq(m.arg, &A);
  cr_assert_eq(strlen(param(&m, "path")), 500 * 2 - 1);
  eddy_router_match_cleanup(&m);
  eddy_router_free(rt);
}

Test(http_router, precedence_and_backtracking) {
  eddy_router_t *rt = router();
  add(rt, "GET", "/users/new", &A);
  add(rt, "GET", "/users/:id", &B);
  add(rt, "GET", "/users/:id/edit", &C);
  add(rt, "GET", "/users/*rest", &D);
  add(rt, "GET", "/users/new/:x/z", &E);
  expect_route(rt, "GET", "/users/new", &A);
  expect_route(rt, "GET", "/users/12", &B);
  expect_route(rt, "GET", "/users/12/edit", &C);
  /* The literal "new" has no "edit" below it: back to the parameter. */
  expect_route(rt, "GET", "/users/new/edit", &C);
  expect_route(rt, "GET", "/users/new/q/z", &E);
  /* Neither literal nor parameter goes deep enough: the wildcard. */
  expect_route(rt, "GET", "/users/new/q/y", &D);
  expect_route(rt, "GET", "/users/12/edit/more", &D);
  expect_route(rt, "GET", "/users/", &D);

  eddy_router_match_t m;
  match(rt, "GET", "/users/new/edit", &m);
  cr_assert_str_eq(param(&m, "id"), "new");
  eddy_router_match_cleanup(&m);
  match(rt, "GET", "/users/new/q/y", &m);
  cr_assert_eq(m.nparams, 1);
  cr_assert_str_eq(param(&m, "rest"), "new/q/y");
  eddy_router_match_cleanup(&m);
  eddy_router_free(rt);
}

Test(http_router, methods_405_and_allow) {
  eddy_router_t *rt = router();
  add(rt, "GET", "/items", &A);
  add(rt, "POST", "/items", &B);
  add(rt, "DELETE", "/items/:id", &C);
  add(rt, "PUT", "/items/:id", &D);
  add(rt, "GET", "/items/special", &E);
  add(rt, "HEAD", "/only-head", &F);
  add(rt, "OPTIONS", "/custom", &G);
  expect_route(rt, "GET", "/items", &A);
  expect_route(rt, "POST", "/items", &B);
  expect_status(rt, "PUT", "/items", 405, "GET, HEAD, POST, OPTIONS");
  expect_status(rt, "get", "/items", 405, "GET, HEAD, POST, OPTIONS");
  /* HEAD through GET. */
  expect_route(rt, "HEAD", "/items", &A);
  eddy_router_match_t m;
  match(rt, "HEAD", "/items", &m);
  cr_assert_str_eq(m.method, "GET");
  eddy_router_match_cleanup(&m);
  /* A method not at the literal falls back to the parameter. */
  expect_route(rt, "DELETE", "/items/special", &C);
  expect_route(rt, "GET", "/items/special", &E);
  /* The union of every route matching the path. */
  expect_status(rt, "POST", "/items/special", 405,
                "GET, HEAD, DELETE, PUT, OPTIONS");
  expect_status(rt, "POST", "/items/7", 405, "DELETE, PUT, OPTIONS");
  expect_status(rt, "GET", "/items/7", 405, "DELETE, PUT, OPTIONS");
  /* A HEAD route does not answer GET. */
  expect_route(rt, "HEAD", "/only-head", &F);
  expect_status(rt, "GET", "/only-head", 405, "HEAD, OPTIONS");
  /* Automatic OPTIONS, unless routed. */
  expect_status(rt, "OPTIONS", "/items", 204, "GET, HEAD, POST, OPTIONS");
  expect_status(rt, "OPTIONS", "/nothing", 404, NULL);
  expect_route(rt, "OPTIONS", "/custom", &G);
  expect_status(rt, "GET", "/custom", 405, "OPTIONS");
  expect_status(rt, "OPTIONS", "*", 204,
                "GET, POST, DELETE, PUT, HEAD, OPTIONS");
  expect_status(rt, "GET", "*", 404, NULL);
  eddy_router_free(rt);
}

Test(http_router, explicit_head_and_any_method) {
  eddy_router_t *rt = router();
  add(rt, "GET", "/x", &A);
  add(rt, "HEAD", "/x", &B);
  add(rt, "*", "/x", &C);
  expect_route(rt, "GET", "/x", &A);
  expect_route(rt, "HEAD", "/x", &B);
  expect_route(rt, "PATCH", "/x", &C);
  expect_route(rt, "OPTIONS", "/x", &C);
  /* Without a HEAD route, HEAD goes to GET before "*". */
  add(rt, "GET", "/y", &D);
  add(rt, "*", "/y", &E);
  expect_route(rt, "HEAD", "/y", &D);
  expect_route(rt, "PUT", "/y", &E);
  eddy_router_free(rt);
}

Test(http_router, bad_paths_are_400) {
  eddy_router_t *rt = router();
  add(rt, "GET", "/*rest", &A);
  expect_status(rt, "GET", "/a%", 400, NULL);
  expect_status(rt, "GET", "/a%2", 400, NULL);
  expect_status(rt, "GET", "/a%zz", 400, NULL);
  expect_status(rt, "GET", "/a%00b", 400, NULL);
  eddy_router_match_t m;
  char nul[] = "/a\0b";
  cr_assert_eq(eddy_router_match(rt, "GET", nul, 4, &m), 0);
  cr_assert_eq(m.status, 400);
  eddy_router_match_cleanup(&m);
  expect_route(rt, "GET", "/a%25", &A);
  eddy_router_free(rt);
}

Test(http_router, add_errors) {
  eddy_router_limits_t lim = {3, 4};
  eddy_router_t *rt = NULL;
  cr_assert_eq(eddy_router_new(&lim, &rt), 0);
  static const char *const bad_patterns[] = {
      "",         "x",      "users", "/:",    "/:a-b",      "/*x/y",
      "/:id/:id", "/:a/*a", "/*a*",  "/:a:b", "/a/b/c/d/e", "/*/x"};
  for (size_t i = 0; i < sizeof(bad_patterns) / sizeof(bad_patterns[0]); i++)
    cr_assert_eq(eddy_router_add(rt, "GET", bad_patterns[i], h, NULL),
                 UV_EINVAL, "pattern '%s'", bad_patterns[i]);
  static const char *const bad_methods[] = {
      "", "G ET", "GET\r", "GET/", "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG"};
  for (size_t i = 0; i < sizeof(bad_methods) / sizeof(bad_methods[0]); i++)
    cr_assert_eq(eddy_router_add(rt, bad_methods[i], "/", h, NULL), UV_EINVAL,
                 "method '%s'", bad_methods[i]);
  cr_assert_eq(eddy_router_add(rt, NULL, "/", h, NULL), UV_EINVAL);
  cr_assert_eq(eddy_router_add(rt, "GET", NULL, h, NULL), UV_EINVAL);
  cr_assert_eq(eddy_router_add(rt, "GET", "/", NULL, NULL), UV_EINVAL);

  cr_assert_eq(eddy_router_add(rt, "GET", "/a/b/c/:d", h, &A), 0);
  cr_assert_eq(eddy_router_add(rt, "GET", "/a/b/c/:other", h, &B), UV_EEXIST);
  cr_assert_eq(eddy_router_add(rt, "POST", "/a/b/c/:other", h, &B), 0);
  cr_assert_eq(eddy_router_add(rt, "GET", "/s/*x", h, &C), 0);
  cr_assert_eq(eddy_router_add(rt, "GET", "/s/*", h, &C), UV_EEXIST);
  cr_assert_eq(eddy_router_add(rt, "GET", "/z", h, &D), UV_E2BIG);
  /* Nothing half-added: the router still routes as before. */
  expect_route(rt, "GET", "/a/b/c/1", &A);
  expect_route(rt, "POST", "/a/b/c/1", &B);
  expect_status(rt, "GET", "/z", 404, NULL);
  eddy_router_free(rt);
  eddy_router_free(NULL);

  /* The segment ceiling. */
  lim.max_routes = 0;
  lim.max_segments = 1000;
  cr_assert_eq(eddy_router_new(&lim, &rt), 0);
  char deep[256] = "";
  for (unsigned i = 0; i < EDDY_ROUTER_MAX_SEGMENTS; i++)
    strcat(deep, "/:p");
  cr_assert_eq(eddy_router_add(rt, "GET", deep, h, NULL), UV_EINVAL,
               "names repeat");
  deep[0] = '\0';
  for (unsigned i = 0; i < EDDY_ROUTER_MAX_SEGMENTS; i++)
    snprintf(deep + strlen(deep), sizeof(deep) - strlen(deep), "/:p%u", i);
  cr_assert_eq(eddy_router_add(rt, "GET", deep, h, &A), 0);
  strcat(deep, "/x");
  cr_assert_eq(eddy_router_add(rt, "GET", deep, h, NULL), UV_EINVAL);
  char path[256] = "";
  for (unsigned i = 0; i < EDDY_ROUTER_MAX_SEGMENTS; i++)
    strcat(path, "/v");
  eddy_router_match_t m;
  match(rt, "GET", path, &m);
  cr_assert_eq(m.status, 0);
  cr_assert_eq(m.nparams, EDDY_ROUTER_MAX_SEGMENTS);
  cr_assert_str_eq(m.params[31].name, "p31");
  eddy_router_match_cleanup(&m);
  strcat(path, "/v");
  expect_status(rt, "GET", path, 404, NULL);
  eddy_router_free(rt);
}

Test(http_router, many_routes_bounded_cost) {
  eddy_router_t *rt = router();
  static int args[1024];
  char pat[64];
  for (int i = 0; i < 1000; i++) {
    snprintf(pat, sizeof(pat), "/r%d/:x/%d", i, i);
    add(rt, "GET", pat, &args[i]);
  }
  cr_assert_eq(eddy_router_add(rt, "GET", "/:a/:b/:c", h, &args[1000]), 0);
  for (int i = 0; i < 1000; i += 37) {
    char path[64];
    snprintf(path, sizeof(path), "/r%d/q/%d", i, i);
    expect_route(rt, "GET", path, &args[i]);
    snprintf(path, sizeof(path), "/r%d/q/x", i);
    expect_route(rt, "GET", path, &args[1000]);
  }
  /* Backtracking over a tree of parameters and literals: each node is
   * visited once, so this is quick whatever the path. */
  eddy_router_t *t = router();
  for (int d = 1; d <= 20; d++) {
    char pp[256] = "";
    for (int i = 0; i < d; i++)
      snprintf(pp + strlen(pp), sizeof(pp) - strlen(pp), "/a");
    add(t, "GET", pp, &args[d]);
    pp[0] = '\0';
    for (int i = 0; i < d; i++)
      snprintf(pp + strlen(pp), sizeof(pp) - strlen(pp), "/:p%d", i);
    add(t, "POST", pp, &args[100 + d]);
  }
  char path[256] = "";
  for (int i = 0; i < 21; i++)
    strcat(path, "/a");
  expect_status(t, "GET", path, 404, NULL);
  path[strlen(path) - 2] = '\0';
  expect_route(t, "GET", path, &args[20]);
  expect_route(t, "POST", path, &args[120]);
  expect_status(t, "PUT", path, 405, "GET, HEAD, POST, OPTIONS");
  eddy_router_free(t);
  eddy_router_free(rt);
}

/* ---- Through a real server ------------------------------------------------
 * Handlers echo what they saw. */

static void echo(eddy_http_request_t *req, void *arg) {
  const char *tag = arg;
  char body[512];
  const char *id = eddy_http_param(req, "id");
  const char *path = eddy_http_param(req, "path");
  snprintf(body, sizeof(body), "%s %s id=%s path=%s", tag,
           eddy_http_method(req), id ? id : "-", path ? path : "-");
  eddy_http_respond(req, 200, "text/plain", body, strlen(body));
}

static void custom_404(eddy_http_request_t *req, void *arg) {
  (void)arg;
  eddy_http_respond(req, 404, "text/plain", "nothing here", 12);
}

typedef struct {
  eddy_reactor_t *r;
  eddy_router_t *rt;
  eddy_http_server_t *srv;
  eddy_string_transport_t *st;
  eddy_protocol_t *p;
} rig_t;

static void rig_up(rig_t *g) {
  g->r = test_reactor(EDDY_REACTOR_FAKE_CLOCK);
  g->rt = router();
  cr_assert_eq(eddy_router_add(g->rt, "GET", "/users/:id", echo, "user"), 0);
  cr_assert_eq(eddy_router_add(g->rt, "DELETE", "/users/:id", echo, "del"), 0);
  cr_assert_eq(eddy_router_add(g->rt, "GET", "/static/*path", echo, "static"),
               0);
  eddy_http_server_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.server_name = "";
  cr_assert_eq(
      eddy_http_server_new(g->r, &cfg, eddy_router_handler, g->rt, &g->srv), 0);
  eddy_factory_t *f = eddy_http_server_factory(g->srv);
  g->p = f->build_protocol(f, NULL);
  cr_assert_not_null(g->p);
  g->st = eddy_string_transport_new(g->r);
  eddy_string_transport_connect(g->st, g->p);
}

static void spin(eddy_reactor_t *r) {
  for (int i = 0; i < 20; i++)
    eddy_reactor_run_once(r, 0);
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
  eddy_router_free(g->rt); /* outlives the server */
}

/* Sends one request (one byte at a time when bytewise) and returns what the
 * server wrote. */
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

Test(http_router, through_server) {
  rig_t g;
  rig_up(&g);
  const char *out;
  out = ask(&g, "GET /users/42?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", 1);
  expect_in(out, "HTTP/1.1 200 ");
  expect_in(out, "user GET id=42 path=-");

  out = ask(&g, "GET /users/a%2Fb HTTP/1.1\r\nHost: a\r\n\r\n", 0);
  expect_in(out, "user GET id=a/b path=-");

  out = ask(&g, "GET /static/css/x%20y.css HTTP/1.1\r\nHost: a\r\n\r\n", 0);
  expect_in(out, "static GET id=- path=css/x y.css");

  out = ask(&g, "DELETE /users/7 HTTP/1.1\r\nHost: a\r\n\r\n", 1);
  expect_in(out, "del DELETE id=7");

  out = ask(&g, "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n", 0);
  expect_in(out, "HTTP/1.1 404 ");

  out = ask(
      &g, "POST /users/7 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 1);
  expect_in(out, "HTTP/1.1 405 ");
  expect_in(out, "\r\nAllow: GET, HEAD, DELETE, OPTIONS\r\n");

  out = ask(&g, "HEAD /users/9 HTTP/1.1\r\nHost: a\r\n\r\n", 0);
  expect_in(out, "HTTP/1.1 200 ");
  cr_assert_null(strstr(out, "user"), "no body for HEAD:\n%s", out);

  out = ask(&g, "OPTIONS /users/9 HTTP/1.1\r\nHost: a\r\n\r\n", 0);
  expect_in(out, "HTTP/1.1 204 ");
  expect_in(out, "\r\nAllow: GET, HEAD, DELETE, OPTIONS\r\n");

  out = ask(&g, "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0);
  expect_in(out, "HTTP/1.1 204 ");
  expect_in(out, "\r\nAllow: GET, HEAD, DELETE, OPTIONS\r\n");

  out = ask(&g, "GET http://a/users/5?q HTTP/1.1\r\nHost: a\r\n\r\n", 0);
  expect_in(out, "user GET id=5");

  eddy_router_set_not_found(g.rt, custom_404, NULL);
  out = ask(&g, "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n", 0);
  expect_in(out, "HTTP/1.1 404 ");
  expect_in(out, "nothing here");
  rig_down(&g);
}
