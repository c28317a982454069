/* test_http_static.c — eddy_static over the real HTTP server and the string
 * transport, on a real clock (the file system work runs on libuv's thread
 * pool): files, index, listing, redirects, MIME, validators and
 * conditionals, ranges, HEAD, 405, traversal and symlinks (with openat2 and
 * with the portable resolver), FIFOs, large transfers with backpressure, a
 * client that leaves mid-transfer, and free with a request in flight. */
#include "net_support.h"

#include <eddy/http_server.h>
#include <eddy/http_static.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- A directory to serve --------------------------------------------------
 * TMP/root is served; TMP/outside holds what must never be reached. */

static char tmp[64], root[96];

static void put(const char *rel, const void *data, size_t len) {
  char p[256];
  snprintf(p, sizeof(p), "%s/%s", tmp, rel);
  FILE *f = fopen(p, "wb");
  cr_assert_not_null(f, "%s", p);
  cr_assert_eq(fwrite(data, 1, len, f), len);
  fclose(f);
}

static void put_str(const char *rel, const char *s) {
  put(rel, s, strlen(s));
}

static void mkdir_in(const char *rel) {
  char p[256];
  snprintf(p, sizeof(p), "%s/%s", tmp, rel);
  cr_assert_eq(mkdir(p, 0755), 0, "%s", p);
}

static void link_in(const char *target, const char *rel) {
  char p[256];
  snprintf(p, sizeof(p), "%s/%s", tmp, rel);
  cr_assert_eq(symlink(target, p), 0, "%s", p);
}

#define BIG_SIZE ((size_t)(1u << 20) + 7u)
static unsigned char *big;

static void make_tree(void) {
  snprintf(tmp, sizeof(tmp), "/tmp/eddy-static-XXXXXX");
  cr_assert_not_null(mkdtemp(tmp));
  snprintf(root, sizeof(root), "%s/root", tmp);
  mkdir_in("root");
  mkdir_in("outside");
  put_str("outside/secret.txt", "SECRET\n");
  put_str("root/index.html", "<h1>home</h1>\n");
  put_str("root/hello.txt", "hello, world\n");
  put_str("root/style.CSS", "p{}\n");
  put_str("root/noext", "x");
  put_str("root/empty.txt", "");
  put_str("root/.secret", "dot\n");
  mkdir_in("root/.git");
  put_str("root/.git/config", "dot\n");
  mkdir_in("root/sub");
  put_str("root/sub/a&b<c>.txt", "amp\n");
  put_str("root/sub/x y.txt", "space\n");
  put_str("root/sub/.hidden", "hidden\n");
  mkdir_in("root/sub/inner");
  put_str("root/sub/inner/deep.json", "{}\n");
  mkdir_in("root/site");
  put_str("root/site/index.html", "site index\n");
  link_in("hello.txt", "root/link_in");
  link_in("../outside/secret.txt", "root/link_out");
  char abs[256];
  snprintf(abs, sizeof(abs), "%s/outside/secret.txt", tmp);
  link_in(abs, "root/link_abs");
  link_in("../outside", "root/dirlink_out");
  link_in("sub", "root/dirlink_in");
  mkdir_in("root/trap");
  link_in("../../outside/secret.txt", "root/trap/index.html");
  char fifo[256];
  snprintf(fifo, sizeof(fifo), "%s/root/pipe", tmp);
  cr_assert_eq(mkfifo(fifo, 0644), 0);
  big = malloc(BIG_SIZE);
  cr_assert_not_null(big);
  uint32_t x = 12345;
  for (size_t i = 0; i < BIG_SIZE; i++) {
    x = x * 1103515245u + 12345u;
    big[i] = (unsigned char)(x >> 16);
  }
  put("root/big.bin", big, BIG_SIZE);
}

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p);
}

static void remove_tree(void) {
  nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  free(big);
  big = NULL;
}

/* ---- Server and client -------------------------------------------------- */

typedef struct {
  eddy_reactor_t *r;
  eddy_http_server_t *srv;
  eddy_static_t *st;
  eddy_string_transport_t *t;
  const char *mount; /* a prefix handed over through the "path" param */
  int stopped;
} fx_t;

static void handler(eddy_http_request_t *req, void *arg) {
  fx_t *f = arg;
  const char *path = eddy_http_path(req);
  if (f->mount != NULL) {
    size_t n = strlen(f->mount);
    if (strncmp(path, f->mount, n) != 0) {
      eddy_http_respond_error(req, 404, "outside the mount");
      return;
    }
    cr_assert_eq(eddy_http_set_param(req, "path", path + n), 0);
  }
  eddy_static_handler(req, f->st);
}

static void fx_open(fx_t *f, const eddy_static_config_t *cfg) {
  memset(f, 0, sizeof(*f));
  make_tree();
  f->r = test_reactor(0);
  cr_assert_eq(eddy_static_new(f->r, root, cfg, &f->st), 0);
  cr_assert_eq(eddy_http_server_new(f->r, NULL, handler, f, &f->srv), 0);
  eddy_factory_t *fa = eddy_http_server_factory(f->srv);
  eddy_protocol_t *p = fa->build_protocol(fa, NULL);
  cr_assert_not_null(p);
  f->t = eddy_string_transport_new(f->r);
  cr_assert_not_null(f->t);
  eddy_string_transport_connect(f->t, p);
}

static void on_stopped(void *arg) {
  ((fx_t *)arg)->stopped++;
}

static void fx_close(fx_t *f) {
  eddy_http_server_close(f->srv, 0, on_stopped, f);
  RUN_UNTIL(f->r, f->stopped == 1, 2000);
  eddy_string_transport_free(f->t);
  eddy_static_free(f->st); /* NULL when the test freed it itself */
  WAIT_FOR(f->r, f->stopped == 1);
  test_close_reactor(f->r);
  remove_tree();
}

typedef struct {
  int status;
  char head[4096]; /* NUL-terminated, with the final CRLF CRLF */
  const char *body;
  size_t body_len;
  size_t total;
} resp_t;

/* The value of a response header (first one), into a static buffer. */
static const char *hdr(const resp_t *rs, const char *name) {
  static char val[1024];
  char pat[128];
  snprintf(pat, sizeof(pat), "\r\n%s: ", name);
  const char *p = strstr(rs->head, pat);
  if (p == NULL)
    return NULL;
  p += strlen(pat);
  size_t n = strcspn(p, "\r");
  snprintf(val, sizeof(val), "%.*s", (int)n, p);
  return val;
}

/* Whether the output holds a whole response (HEAD and 304: the head). */
static int parse(fx_t *f, int head_only, resp_t *rs) {
  size_t len;
  const char *o = eddy_string_transport_value(f->t, &len);
  const char *e = o != NULL ? strstr(o, "\r\n\r\n") : NULL;
  if (e == NULL)
    return 0;
  size_t hl = (size_t)(e - o) + 4;
  cr_assert_lt(hl, sizeof(rs->head));
  memcpy(rs->head, o, hl);
  rs->head[hl] = '\0';
  rs->status = atoi(o + 9);
  rs->body = o + hl;
  rs->body_len = len - hl;
  rs->total = len;
  const char *cl = hdr(rs, "Content-Length");
  if (head_only || rs->status == 304 || cl == NULL)
    return 1;
  return rs->body_len >= strtoull(cl, NULL, 10);
}

/* Sends one request (extra: more header lines, each ending in CRLF) and
 * waits for the whole response. */
static resp_t *ask(fx_t *f, const char *method, const char *target,
                   const char *extra) {
  static resp_t rs;
  char req[2048];
  snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\n%s\r\n", method,
           target, extra != NULL ? extra : "");
  eddy_string_transport_clear(f->t);
  eddy_string_transport_feed(f->t, req, strlen(req));
  int head_only = strcmp(method, "HEAD") == 0;
  memset(&rs, 0, sizeof(rs));
  WAIT_FOR(f->r, parse(f, head_only, &rs));
  return &rs;
}

static void expect_body(const resp_t *rs, const char *body) {
  cr_assert_eq(rs->body_len, strlen(body), "%s", rs->head);
  cr_assert(memcmp(rs->body, body, rs->body_len) == 0);
}

/* ---- Files, index, listing, redirects ----------------------------------- */

Test(http_static, file_with_headers) {
  fx_t f;
  fx_open(&f, NULL);
  resp_t *rs = ask(&f, "GET", "/hello.txt", NULL);
  cr_assert_eq(rs->status, 200, "%s", rs->head);
  expect_body(rs, "hello, world\n");
  cr_assert_str_eq(hdr(rs, "Content-Type"), "text/plain; charset=utf-8");
  cr_assert_str_eq(hdr(rs, "Content-Length"), "13");
  cr_assert_str_eq(hdr(rs, "Accept-Ranges"), "bytes");
  cr_assert_str_eq(hdr(rs, "X-Content-Type-Options"), "nosniff");
  cr_assert_null(hdr(rs, "Cache-Control"));
  const char *etag = hdr(rs, "ETag");
  cr_assert(etag != NULL && etag[0] == '"');
  struct stat sb;
  char p[256];
  snprintf(p, sizeof(p), "%s/hello.txt", root);
  cr_assert_eq(stat(p, &sb), 0);
  char lm[EDDY_HTTP_DATE_SIZE];
  eddy_http_date_format(sb.st_mtim.tv_sec, lm, sizeof(lm));
  cr_assert_str_eq(hdr(rs, "Last-Modified"), lm);

  rs = ask(&f, "GET", "/style.CSS", NULL);
  cr_assert_str_eq(hdr(rs, "Content-Type"), "text/css; charset=utf-8");
  rs = ask(&f, "GET", "/noext", NULL);
  cr_assert_str_eq(hdr(rs, "Content-Type"), "application/octet-stream");
  rs = ask(&f, "GET", "/empty.txt", NULL);
  cr_assert_eq(rs->status, 200);
  cr_assert_str_eq(hdr(rs, "Content-Length"), "0");
  /* absolute-form: the server hands over its path */
  rs = ask(&f, "GET", "http://x/hello.txt", NULL);
  cr_assert_eq(rs->status, 200);
  expect_body(rs, "hello, world\n");
  /* query strings do not matter; a trailing slash on a file does */
  rs = ask(&f, "GET", "/hello.txt?v=3", NULL);
  cr_assert_eq(rs->status, 200);
  rs = ask(&f, "GET", "/hello.txt/", NULL);
  cr_assert_eq(rs->status, 404);
  rs = ask(&f, "GET", "/missing.txt", NULL);
  cr_assert_eq(rs->status, 404);
  fx_close(&f);
}

Test(http_static, one_byte_at_a_time) {
  fx_t f;
  fx_open(&f, NULL);
  static const char req[] = "GET /sub/x%20y.txt HTTP/1.1\r\nHost: x\r\n\r\n";
  eddy_string_transport_feed_bytewise(f.t, req, strlen(req));
  resp_t rs;
  WAIT_FOR(f.r, parse(&f, 0, &rs));
  cr_assert_eq(rs.status, 200);
  expect_body(&rs, "space\n");
  fx_close(&f);
}

/* Pipelined requests are answered in order, each after the previous one's
 * file work finished. */
Test(http_static, pipelined) {
  fx_t f;
  fx_open(&f, NULL);
  static const char reqs[] = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                             "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
                             "HEAD /sub/ HTTP/1.1\r\nHost: x\r\n\r\n"
                             "GET /sub/x%20y.txt HTTP/1.1\r\nHost: x\r\n\r\n";
  eddy_string_transport_feed(f.t, reqs, strlen(reqs));
  const char *o = NULL;
  size_t len = 0;
  WAIT_FOR(f.r, (o = eddy_string_transport_value(f.t, &len)) != NULL &&
                    len > 6 && memcmp(o + len - 6, "space\n", 6) == 0);
  const char *a = strstr(o, "hello, world\n");
  const char *b = strstr(o, "HTTP/1.1 404");
  const char *c = strstr(o, "HTTP/1.1 200 OK\r\n");
  cr_assert(a != NULL && b != NULL && c != NULL);
  cr_assert(a < b, "%s", o);
  fx_close(&f);
}

Test(http_static, index_listing_redirect) {
  fx_t f;
  fx_open(&f, NULL);
  resp_t *rs = ask(&f, "GET", "/", NULL);
  cr_assert_eq(rs->status, 200);
  expect_body(rs, "<h1>home</h1>\n");
  cr_assert_str_eq(hdr(rs, "Content-Type"), "text/html; charset=utf-8");
  rs = ask(&f, "GET", "/site/", NULL);
  expect_body(rs, "site index\n");

  rs = ask(&f, "GET", "/sub/", NULL);
  cr_assert_eq(rs->status, 200);
  cr_assert_str_eq(hdr(rs, "Content-Type"), "text/html; charset=utf-8");
  char body[8192];
  snprintf(body, sizeof(body), "%.*s", (int)rs->body_len, rs->body);
  cr_assert_not_null(strstr(body, "Index of /sub/"));
  cr_assert_not_null(
      strstr(body, "<a href=\"a%26b%3Cc%3E.txt\">a&amp;b&lt;c&gt;.txt</a>"),
      "%s", body);
  cr_assert_not_null(strstr(body, "<a href=\"x%20y.txt\">x y.txt</a>"));
  cr_assert_not_null(strstr(body, "<a href=\"inner/\">inner/</a>"));
  cr_assert_not_null(strstr(body, "<a href=\"../\">"));
  cr_assert_null(strstr(body, "hidden"));
  cr_assert_null(strstr(body, "<a&"));
  /* sorted by name */
  cr_assert_lt(strstr(body, "a%26b"), strstr(body, "inner/"));
  cr_assert_lt(strstr(body, "inner/"), strstr(body, "x%20y"));
  /* a symlink to a directory inside the root is followed */
  rs = ask(&f, "GET", "/dirlink_in/x%20y.txt", NULL);
  cr_assert_eq(rs->status, 200);

  /* directories without their slash: 301, query kept */
  rs = ask(&f, "GET", "/sub", NULL);
  cr_assert_eq(rs->status, 301);
  cr_assert_str_eq(hdr(rs, "Location"), "/sub/");
  rs = ask(&f, "GET", "/sub/inner?a=1&b", NULL);
  cr_assert_str_eq(hdr(rs, "Location"), "/sub/inner/?a=1&b");
  rs = ask(&f, "GET", "/x%20/../sub", NULL);
  cr_assert_neq(rs->status, 200);
  /* never a protocol-relative Location that leaves the site */
  rs = ask(&f, "GET", "//sub", NULL);
  cr_assert_eq(rs->status, 301);
  cr_assert_str_eq(hdr(rs, "Location"), "/sub/");
  rs = ask(&f, "GET", "http://x/sub", NULL);
  cr_assert_str_eq(hdr(rs, "Location"), "/sub/");
  fx_close(&f);
}

Test(http_static, options) {
  static const char *const idx[] = {"missing.htm", "hello.txt", NULL};
  eddy_static_config_t cfg = {
      .index_names = idx, .no_listing = 1, .max_age = 600, .dotfiles = 1};
  fx_t f;
  fx_open(&f, &cfg);
  resp_t *rs = ask(&f, "GET", "/", NULL);
  expect_body(rs, "hello, world\n");
  cr_assert_str_eq(hdr(rs, "Cache-Control"), "max-age=600");
  rs = ask(&f, "GET", "/sub/", NULL);
  cr_assert_eq(rs->status, 403);
  rs = ask(&f, "GET", "/.secret", NULL);
  cr_assert_eq(rs->status, 200);
  rs = ask(&f, "GET", "/.git/config", NULL);
  cr_assert_eq(rs->status, 200);
  fx_close(&f);

  /* listing limit, and dot files listed when served */
  static const char *const none[] = {NULL};
  eddy_static_config_t cfg2 = {
      .index_names = none, .max_listing = 2, .dotfiles = 1};
  fx_open(&f, &cfg2);
  rs = ask(&f, "GET", "/sub/", NULL);
  char body[8192];
  snprintf(body, sizeof(body), "%.*s", (int)rs->body_len, rs->body);
  cr_assert_not_null(strstr(body, "Only the first 2 entries are shown."));
  int links = 0;
  for (const char *q = body; (q = strstr(q, "<a href=")) != NULL; q++)
    links++;
  cr_assert_eq(links, 3, "%s", body); /* "../" and two entries */
  fx_close(&f);
}

/* ---- Validators and conditional requests --------------------------------- */

Test(http_static, conditionals) {
  fx_t f;
  fx_open(&f, NULL);
  resp_t *rs = ask(&f, "GET", "/hello.txt", NULL);
  char etag[128], lm[64], extra[512];
  snprintf(etag, sizeof(etag), "%s", hdr(rs, "ETag"));
  snprintf(lm, sizeof(lm), "%s", hdr(rs, "Last-Modified"));

  snprintf(extra, sizeof(extra), "If-None-Match: \"zz\", %s\r\n", etag);
  rs = ask(&f, "GET", "/hello.txt", extra);
  cr_assert_eq(rs->status, 304, "%s", rs->head);
  cr_assert_eq(rs->body_len, 0);
  cr_assert_str_eq(hdr(rs, "ETag"), etag);
  cr_assert_str_eq(hdr(rs, "Last-Modified"), lm);
  /* a weak form of our tag matches too (weak comparison) */
  snprintf(extra, sizeof(extra), "If-None-Match: W/%s\r\n", etag);
  rs = ask(&f, "HEAD", "/hello.txt", extra);
  cr_assert_eq(rs->status, 304);
  rs = ask(&f, "GET", "/hello.txt", "If-None-Match: *\r\n");
  cr_assert_eq(rs->status, 304);
  rs = ask(&f, "GET", "/hello.txt", "If-None-Match: \"other\"\r\n");
  cr_assert_eq(rs->status, 200);

  snprintf(extra, sizeof(extra), "If-Modified-Since: %s\r\n", lm);
  rs = ask(&f, "GET", "/hello.txt", extra);
  cr_assert_eq(rs->status, 304);
  rs = ask(&f, "GET", "/hello.txt",
           "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n");
  cr_assert_eq(rs->status, 200);
  expect_body(rs, "hello, world\n");
  rs = ask(&f, "GET", "/hello.txt", "If-Modified-Since: yesterday\r\n");
  cr_assert_eq(rs->status, 200);
  /* If-None-Match wins over If-Modified-Since */
  snprintf(extra, sizeof(extra),
           "If-None-Match: \"other\"\r\nIf-Modified-Since: %s\r\n", lm);
  rs = ask(&f, "GET", "/hello.txt", extra);
  cr_assert_eq(rs->status, 200);

  rs = ask(&f, "GET", "/hello.txt", "If-Match: \"other\"\r\n");
  cr_assert_eq(rs->status, 412);
  snprintf(extra, sizeof(extra), "If-Match: W/%s\r\n", etag);
  rs = ask(&f, "GET", "/hello.txt", extra); /* strong comparison */
  cr_assert_eq(rs->status, 412);
  snprintf(extra, sizeof(extra), "If-Match: %s\r\n", etag);
  rs = ask(&f, "GET", "/hello.txt", extra);
  cr_assert_eq(rs->status, 200);
  rs = ask(&f, "GET", "/hello.txt",
           "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n");
  cr_assert_eq(rs->status, 412);
  snprintf(extra, sizeof(extra), "If-Unmodified-Since: %s\r\n", lm);
  rs = ask(&f, "GET", "/hello.txt", extra);
  cr_assert_eq(rs->status, 200);

  /* the tag changes when the file does */
  char p[256];
  snprintf(p, sizeof(p), "%s/hello.txt", root);
  struct timespec ts[2] = {{0, UTIME_OMIT}, {1000000000, 0}};
  cr_assert_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
  snprintf(extra, sizeof(extra), "If-None-Match: %s\r\n", etag);
  rs = ask(&f, "GET", "/hello.txt", extra);
  cr_assert_eq(rs->status, 200);
  cr_assert_str_neq(hdr(rs, "ETag"), etag);
  cr_assert_str_eq(hdr(rs, "Last-Modified"), "Sun, 09 Sep 2001 01:46:40 GMT");
  fx_close(&f);
}

/* ---- Ranges -------------------------------------------------------------- */

Test(http_static, ranges) {
  fx_t f;
  fx_open(&f, NULL);
  resp_t *rs = ask(&f, "GET", "/hello.txt", "Range: bytes=0-4\r\n");
  cr_assert_eq(rs->status, 206, "%s", rs->head);
  expect_body(rs, "hello");
  cr_assert_str_eq(hdr(rs, "Content-Range"), "bytes 0-4/13");
  cr_assert_str_eq(hdr(rs, "Content-Length"), "5");
  rs = ask(&f, "GET", "/hello.txt", "Range: bytes=7-\r\n");
  cr_assert_eq(rs->status, 206);
  expect_body(rs, "world\n");
  rs = ask(&f, "GET", "/hello.txt", "Range: bytes=-3\r\n");
  expect_body(rs, "ld\n");
  cr_assert_str_eq(hdr(rs, "Content-Range"), "bytes 10-12/13");
  rs = ask(&f, "GET", "/hello.txt", "Range: bytes=5-100\r\n");
  cr_assert_str_eq(hdr(rs, "Content-Range"), "bytes 5-12/13");

  rs = ask(&f, "GET", "/hello.txt", "Range: bytes=13-\r\n");
  cr_assert_eq(rs->status, 416);
  cr_assert_str_eq(hdr(rs, "Content-Range"), "bytes */13");
  /* several ranges: the whole file (documented) */
  rs = ask(&f, "GET", "/hello.txt", "Range: bytes=0-1,4-5\r\n");
  cr_assert_eq(rs->status, 200);
  expect_body(rs, "hello, world\n");
  rs = ask(&f, "GET", "/hello.txt", "Range: lines=1-2\r\n");
  cr_assert_eq(rs->status, 200);
  /* HEAD ignores Range */
  rs = ask(&f, "HEAD", "/hello.txt", "Range: bytes=0-4\r\n");
  cr_assert_eq(rs->status, 200);
  cr_assert_str_eq(hdr(rs, "Content-Length"), "13");

  /* If-Range: still valid -> the range; stale -> the whole file */
  rs = ask(&f, "GET", "/hello.txt", NULL);
  char etag[128], lm[64], extra[512];
  snprintf(etag, sizeof(etag), "%s", hdr(rs, "ETag"));
  snprintf(lm, sizeof(lm), "%s", hdr(rs, "Last-Modified"));
  snprintf(extra, sizeof(extra), "Range: bytes=0-4\r\nIf-Range: %s\r\n", etag);
  rs = ask(&f, "GET", "/hello.txt", extra);
  cr_assert_eq(rs->status, 206);
  snprintf(extra, sizeof(extra), "Range: bytes=0-4\r\nIf-Range: %s\r\n", lm);
  rs = ask(&f, "GET", "/hello.txt", extra);
  cr_assert_eq(rs->status, 206);
  rs = ask(&f, "GET", "/hello.txt",
           "Range: bytes=0-4\r\nIf-Range: \"stale\"\r\n");
  cr_assert_eq(rs->status, 200);
  rs = ask(&f, "GET", "/hello.txt",
           "Range: bytes=0-4\r\n"
           "If-Range: Thu, 01 Jan 1970 00:00:00 GMT\r\n");
  cr_assert_eq(rs->status, 200);
  snprintf(extra, sizeof(extra), "Range: bytes=0-4\r\nIf-Range: W/%s\r\n",
           etag);
  rs = ask(&f, "GET", "/hello.txt", extra);
  cr_assert_eq(rs->status, 200);

  /* a date that starts like a weak tag ("Wed") is still a date */
  char p[256];
  snprintf(p, sizeof(p), "%s/hello.txt", root);
  struct timespec ts[2] = {{0, UTIME_OMIT}, {1000259200, 0}};
  cr_assert_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
  rs = ask(&f, "GET", "/hello.txt",
           "Range: bytes=0-4\r\nIf-Range: Wed, 12 Sep 2001 01:46:40 GMT\r\n");
  cr_assert_eq(rs->status, 206, "%s", rs->head);

  /* a range of the large file, across chunks */
  rs = ask(&f, "GET", "/big.bin", "Range: bytes=100000-400006\r\n");
  cr_assert_eq(rs->status, 206);
  cr_assert_eq(rs->body_len, 300007);
  cr_assert(memcmp(rs->body, big + 100000, 300007) == 0);
  fx_close(&f);
}

/* ---- Methods ------------------------------------------------------------- */

Test(http_static, head_and_methods) {
  fx_t f;
  fx_open(&f, NULL);
  resp_t *rs = ask(&f, "HEAD", "/big.bin", NULL);
  cr_assert_eq(rs->status, 200);
  cr_assert_eq(rs->body_len, 0);
  char n[32];
  snprintf(n, sizeof(n), "%zu", BIG_SIZE);
  cr_assert_str_eq(hdr(rs, "Content-Length"), n);
  /* the connection is still usable after HEAD */
  rs = ask(&f, "GET", "/hello.txt", NULL);
  expect_body(rs, "hello, world\n");
  rs = ask(&f, "HEAD", "/sub/", NULL);
  cr_assert_eq(rs->status, 200);
  cr_assert_eq(rs->body_len, 0);
  static const char *const bad[] = {"POST", "PUT", "DELETE", "OPTIONS"};
  for (size_t i = 0; i < 4; i++) {
    const char *extra = i < 2 ? "Content-Length: 0\r\n" : NULL;
    rs = ask(&f, bad[i], "/hello.txt", extra);
    cr_assert_eq(rs->status, 405, "%s", bad[i]);
    cr_assert_str_eq(hdr(rs, "Allow"), "GET, HEAD");
  }
  fx_close(&f);
}

/* ---- Nothing outside the root -------------------------------------------- */

static void no_escape(int portable) {
  eddy_static_config_t cfg = {.portable_resolve = portable};
  fx_t f;
  fx_open(&f, &cfg);
  static const char *const targets[] = {
      "/../outside/secret.txt",
      "/%2e%2e/outside/secret.txt",
      "/%2E%2E/outside/secret.txt",
      "/sub/%2e%2e/%2e%2e/outside/secret.txt",
      "/a/%2e%2e/%2e%2e/outside/secret.txt",
      "/..%2foutside/secret.txt",
      "/sub/..",
      "/%2e%2e",
      "/..%5coutside%5csecret.txt",
      "/sub%5c..%5c..%5coutside",
      "/link_out",
      "/link_abs",
      "/dirlink_out/secret.txt",
      "/dirlink_out/",
      "/trap/index.html",
      "/.secret",
      "/.git/config",
      "/sub/.hidden",
      "/pipe",
      "/%252e%252e/outside/secret.txt",
      "http://x/../outside/secret.txt",
  };
  for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
    resp_t *rs = ask(&f, "GET", targets[i], NULL);
    cr_assert(rs->status == 404 || rs->status == 400 || rs->status == 403,
              "%s: %d", targets[i], rs->status);
    cr_assert_null(memmem(rs->body, rs->body_len, "SECRET", 6), "%s",
                   targets[i]);
  }
  /* an index that leads outside is not an index: the listing is shown */
  resp_t *rs = ask(&f, "GET", "/trap/", NULL);
  cr_assert_eq(rs->status, 200);
  cr_assert_not_null(memmem(rs->body, rs->body_len, "Index of /trap/", 15));
  cr_assert_null(memmem(rs->body, rs->body_len, "SECRET", 6));
  /* links that stay inside are followed */
  rs = ask(&f, "GET", "/link_in", NULL);
  cr_assert_eq(rs->status, 200);
  expect_body(rs, "hello, world\n");
  /* "." and empty segments are harmless */
  rs = ask(&f, "GET", "/./sub//./x%20y.txt", NULL);
  cr_assert_eq(rs->status, 200);
  fx_close(&f);

  /* the same through a mount, where the router's "path" param is used:
   * ".." there is caught too */
  fx_open(&f, &cfg);
  f.mount = "/static";
  rs = ask(&f, "GET", "/static/hello.txt", NULL);
  cr_assert_eq(rs->status, 200);
  rs = ask(&f, "GET", "/static", NULL);
  cr_assert_eq(rs->status, 301);
  cr_assert_str_eq(hdr(rs, "Location"), "/static/");
  rs = ask(&f, "GET", "/static/", NULL);
  expect_body(rs, "<h1>home</h1>\n");
  rs = ask(&f, "GET", "/static/sub/", NULL);
  cr_assert_eq(rs->status, 200);
  cr_assert_not_null(
      memmem(rs->body, rs->body_len, "Index of /static/sub/", 21));
  rs = ask(&f, "GET", "/static..%2foutside/secret.txt", NULL);
  cr_assert_eq(rs->status, 404);
  fx_close(&f);
}

Test(http_static, no_escape_openat2) {
  no_escape(0);
}
Test(http_static, no_escape_portable) {
  no_escape(1);
}

/* ---- Large files, backpressure, early goodbyes -----------------------------
 */

Test(http_static, large_file_intact) {
  eddy_static_config_t cfg = {.chunk_size = 64 * 1024};
  fx_t f;
  fx_open(&f, &cfg);
  resp_t *rs = ask(&f, "GET", "/big.bin", NULL);
  cr_assert_eq(rs->status, 200);
  cr_assert_str_eq(hdr(rs, "Content-Type"), "application/octet-stream");
  cr_assert_eq(rs->body_len, BIG_SIZE);
  cr_assert(memcmp(rs->body, big, BIG_SIZE) == 0);
  /* the smallest chunks (inline writes in the server) work too */
  fx_close(&f);
  cfg.chunk_size = 1; /* clamped to EDDY_STATIC_CHUNK_MIN */
  fx_open(&f, &cfg);
  rs = ask(&f, "GET", "/big.bin", "Range: bytes=-200000\r\n");
  cr_assert_eq(rs->body_len, 200000);
  cr_assert(memcmp(rs->body, big + BIG_SIZE - 200000, 200000) == 0);
  fx_close(&f);
}

static size_t out_len(fx_t *f) {
  size_t len;
  eddy_string_transport_value(f->t, &len);
  return len;
}

Test(http_static, backpressure) {
  eddy_static_config_t cfg = {.chunk_size = 16 * 1024};
  fx_t f;
  fx_open(&f, &cfg);
  /* the "kernel" holds a lot: the connection is not writable */
  eddy_string_transport_set_pending(f.t, 1u << 20);
  static const char req[] = "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n";
  eddy_string_transport_feed(f.t, req, strlen(req));
  WAIT_FOR(f.r, out_len(&f) > 16 * 1024);
  run_for(f.r, 200);
  /* one chunk went out, then reading stopped */
  size_t held = out_len(&f);
  cr_assert_lt(held, 2 * 16 * 1024 + 1024, "%zu", held);
  /* drained: the rest follows */
  eddy_string_transport_set_pending(f.t, 0);
  resp_t rs;
  WAIT_FOR(f.r, parse(&f, 0, &rs));
  cr_assert_eq(rs.body_len, BIG_SIZE);
  cr_assert(memcmp(rs.body, big, BIG_SIZE) == 0);
  fx_close(&f);
}

Test(http_static, client_leaves_mid_transfer) {
  eddy_static_config_t cfg = {.chunk_size = 16 * 1024};
  fx_t f;
  fx_open(&f, &cfg);
  eddy_string_transport_set_pending(f.t, 1u << 20);
  static const char req[] = "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n";
  eddy_string_transport_feed(f.t, req, strlen(req));
  WAIT_FOR(f.r, out_len(&f) > 16 * 1024);
  eddy_string_transport_disconnect(f.t, UV_ECONNRESET);
  /* the job ends, its descriptor is closed, and the reactor closes clean */
  run_for(f.r, 100);
  fx_close(&f);
}

Test(http_static, client_leaves_during_lookup) {
  fx_t f;
  fx_open(&f, NULL);
  static const char req[] = "GET /sub/ HTTP/1.1\r\nHost: x\r\n\r\n";
  eddy_string_transport_feed(f.t, req, strlen(req));
  eddy_string_transport_disconnect(f.t, UV_ECONNRESET);
  run_for(f.r, 100);
  fx_close(&f);
}

Test(http_static, free_with_request_in_flight) {
  eddy_static_config_t cfg = {.chunk_size = 16 * 1024};
  fx_t f;
  fx_open(&f, &cfg);
  eddy_string_transport_set_pending(f.t, 1u << 20);
  static const char req[] = "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n";
  eddy_string_transport_feed(f.t, req, strlen(req));
  WAIT_FOR(f.r, out_len(&f) > 16 * 1024);
  eddy_static_free(f.st);
  eddy_static_free(f.st); /* a second free is ignored */
  eddy_string_transport_set_pending(f.t, 0);
  resp_t rs;
  WAIT_FOR(f.r, parse(&f, 0, &rs));
  cr_assert_eq(rs.body_len, BIG_SIZE);
  cr_assert(memcmp(rs.body, big, BIG_SIZE) == 0);
  f.st = NULL;
  fx_close(&f);
}

/* ---- Creation ------------------------------------------------------------ */

Test(http_static, new_checks) {
  make_tree();
  eddy_reactor_t *r = test_reactor(0);
  eddy_static_t *s = (eddy_static_t *)1;
  char p[256];
  snprintf(p, sizeof(p), "%s/hello.txt", root);
  cr_assert_eq(eddy_static_new(r, p, NULL, &s), UV_ENOTDIR);
  cr_assert_null(s);
  snprintf(p, sizeof(p), "%s/nope", root);
  cr_assert_eq(eddy_static_new(r, p, NULL, &s), UV_ENOENT);
  cr_assert_eq(eddy_static_new(r, "", NULL, &s), UV_EINVAL);
  cr_assert_eq(eddy_static_new(NULL, root, NULL, &s), UV_EINVAL);
  static const char *const slash[] = {"a/index.html", NULL};
  eddy_static_config_t cfg = {.index_names = slash};
  cr_assert_eq(eddy_static_new(r, root, &cfg, &s), UV_EINVAL);
  static const char *const dots[] = {"..", NULL};
  cfg.index_names = dots;
  cr_assert_eq(eddy_static_new(r, root, &cfg, &s), UV_EINVAL);
  const char *many[EDDY_STATIC_MAX_INDEX_NAMES + 2];
  for (size_t i = 0; i <= EDDY_STATIC_MAX_INDEX_NAMES; i++)
    many[i] = "index.html";
  many[EDDY_STATIC_MAX_INDEX_NAMES + 1] = NULL;
  cfg.index_names = many;
  cr_assert_eq(eddy_static_new(r, root, &cfg, &s), UV_EINVAL);
  cr_assert_eq(eddy_static_new(r, root, NULL, &s), 0);
  eddy_static_free(s);
  eddy_static_free(NULL);
  test_close_reactor(r);
  remove_tree();
}
