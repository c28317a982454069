/* fuzz_http_router.c — libFuzzer driver for the router's matching.
 *
 * The input is lines: "METHOD PATTERN" routes (invalid ones are refused by
 * eddy_router_add and skipped), up to a line "--", then "METHOD PATH"
 * requests. Each request is matched, and then:
 *  - the status is one the header lists, and the Allow value is there
 *    exactly for 204 and 405;
 *  - parameters have the length they claim (no NUL inside: a NUL is a 400);
 *  - matching again gives the same route and parameters;
 *  - a found route is found again from a path rebuilt from its pattern with
 *    every parameter percent-encoded, with the same parameter values: what
 *    the router decodes, it can be given back (skipped for a wildcard value
 *    holding '/', whose segmentation the value does not tell).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/http_router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ROUTES 16
#define MAX_REQUESTS 16
#define MAX_LINE 512

static void check(int cond) {
  if (!cond)
    abort();
}

static void handler(eddy_http_request_t *req, void *arg) {
  (void)req;
  (void)arg;
}

/* Splits "METHOD REST" into two NUL-terminated strings in out. */
static int split_line(const char *line, size_t n, char *method, char *rest) {
  const char *sp = memchr(line, ' ', n);
  if (sp == NULL || sp == line || (size_t)(sp - line) >= 32 ||
      n - (size_t)(sp - line) - 1 >= MAX_LINE)
    return -1;
  memcpy(method, line, (size_t)(sp - line));
  method[sp - line] = '\0';
  size_t rl = n - (size_t)(sp - line) - 1;
  memcpy(rest, sp + 1, rl);
  rest[rl] = '\0';
  if (memchr(method, '\0', (size_t)(sp - line)) != NULL)
    return -1;
  return 0;
}

static void encode(char *out, size_t *o, size_t cap, const char *v, size_t n,
                   int keep_slash) {
  /* (keep_slash: for literal segments, which never hold one) */
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n && *o + 3 < cap; i++) {
    unsigned char ch = (unsigned char)v[i];
    int plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
                ch == '.' || ch == '~' || (keep_slash && ch == '/');
    if (plain) {
      out[(*o)++] = (char)ch;
    } else {
      out[(*o)++] = '%';
      out[(*o)++] = hex[ch >> 4];
      out[(*o)++] = hex[ch & 15];
    }
  }
}

static const char *param_value(const eddy_router_match_t *m, const char *name,
                               size_t *len) {
  for (size_t i = 0; i < m->nparams; i++)
    if (strcmp(m->params[i].name, name) == 0) {
      *len = m->params[i].value_len;
      return m->params[i].value;
    }
  return NULL;
}

/* Rebuilds a path from the matched pattern; 0 when it could. */
static int rebuild(const eddy_router_match_t *m, char *out, size_t cap) {
  size_t o = 0;
  const char *p = m->pattern;
  while (*p != '\0') {
    if (*p == '/') {
      if (o + 1 >= cap)
        return -1;
      out[o++] = '/';
      p++;
      continue;
    }
    const char *end = strchr(p, '/');
    size_t seg = end ? (size_t)(end - p) : strlen(p);
    if (*p == ':' || *p == '*') {
      char name[MAX_LINE];
      memcpy(name, p + 1, seg - 1);
      name[seg - 1] = '\0';
      size_t vl = 0;
      const char *v = param_value(m, name, &vl);
      if (v == NULL)
        return -1; /* "*" alone keeps no value */
      /* A wildcard's '/' could come from "/" or "%2F": the segmentation,
       * and so the route, is not recoverable from the value alone. */
      if (*p == '*' && memchr(v, '/', vl) != NULL)
        return -1;
      encode(out, &o, cap, v, vl, 0);
    } else {
      encode(out, &o, cap, p, seg, 0);
    }
    p += seg;
  }
  if (o >= cap)
    return -1;
  out[o] = '\0';
  return 0;
}

static void same_match(const eddy_router_match_t *a,
                       const eddy_router_match_t *b) {
  check(a->status == b->status);
  if (a->status != 0)
    return;
  check(a->handler == b->handler && a->arg == b->arg);
  check(strcmp(a->pattern, b->pattern) == 0);
  check(a->nparams == b->nparams);
  for (size_t i = 0; i < a->nparams; i++) {
    check(strcmp(a->params[i].name, b->params[i].name) == 0);
    check(a->params[i].value_len == b->params[i].value_len);
    check(memcmp(a->params[i].value, b->params[i].value,
                 a->params[i].value_len) == 0);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  eddy_router_limits_t lim = {.max_routes = MAX_ROUTES, .max_segments = 0};
  eddy_router_t *rt;
  if (eddy_router_new(&lim, &rt) != 0)
    return 0;
  const char *in = (const char *)data, *end = in + size;
  int routing = 1, requests = 0;
  static char method[32], rest[MAX_LINE], again[4 * MAX_LINE];
  while (in < end && requests < MAX_REQUESTS) {
    const char *nl = memchr(in, '\n', (size_t)(end - in));
    size_t n = nl ? (size_t)(nl - in) : (size_t)(end - in);
    const char *line = in;
    in += n + (nl != NULL);
    if (routing && n == 2 && memcmp(line, "--", 2) == 0) {
      routing = 0;
      continue;
    }
    if (split_line(line, n, method, rest) != 0)
      continue;
    if (routing) {
      /* Each route its own arg, to tell them apart. */
      eddy_router_add(rt, method, rest, handler, (void *)(uintptr_t)(n + 1));
      continue;
    }
    requests++;
    size_t plen = strlen(rest);
    eddy_router_match_t m, m2;
    if (eddy_router_match(rt, method, rest, plen, &m) != 0) {
      eddy_router_match_cleanup(&m);
      continue;
    }
    check(m.status == 0 || m.status == 204 || m.status == 400 ||
          m.status == 404 || m.status == 405);
    check((m.allow != NULL) == (m.status == 204 || m.status == 405));
    if (m.status == 0) {
      check(m.handler == handler && m.pattern != NULL);
      for (size_t i = 0; i < m.nparams; i++)
        check(strlen(m.params[i].value) == m.params[i].value_len);
    }
    if (eddy_router_match(rt, method, rest, plen, &m2) == 0)
      same_match(&m, &m2);
    eddy_router_match_cleanup(&m2);
    if (m.status == 0 && rebuild(&m, again, sizeof(again)) == 0) {
      eddy_router_match_t m3;
      if (eddy_router_match(rt, method, again, strlen(again), &m3) == 0) {
        check(m3.status == 0);
        check(strcmp(m3.pattern, m.pattern) == 0);
        /* The same values come back (a lower-precedence route could only
         * win if a higher one did not match, and the rebuilt path is the
         * same route's path). */
        same_match(&m, &m3);
      }
      eddy_router_match_cleanup(&m3);
    }
    eddy_router_match_cleanup(&m);
  }
  eddy_router_free(rt);
  return 0;
}
