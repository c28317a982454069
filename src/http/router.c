/* router.c — a tree of path segments with method dispatch.
 *
 * Each node is one segment position: literal children (sorted, found by
 * binary search), at most one parameter child, the routes that end there
 * and the routes whose wildcard starts there. Matching is a depth-first
 * walk in precedence order (literal, parameter, wildcard); a node is only
 * ever reached through its one parent, so a walk visits each node at most
 * once and its cost is bounded by the tree, not by the path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/error.h"
#include "eddy/http_router.h"

typedef struct route_s {
  struct route_s *next;     /* the other routes at the same place */
  struct route_s *all_next; /* every route, in the order added */
  char *method;             /* a token or "*" */
  char *pattern;
  eddy_http_handler_cb handler;
  void *arg;
  size_t nnames; /* parameter names in pattern order, the wildcard's last */
  char *names[EDDY_ROUTER_MAX_SEGMENTS];
  int wild_named; /* the last name belongs to the wildcard */
} route_t;

typedef struct node_s {
  char *literal; /* this node's segment (literal children only) */
  size_t literal_len;
  struct node_s **children; /* literal children, sorted */
  size_t nchildren;
  size_t cap;
  struct node_s *param; /* the ":name" child */
  route_t *routes;      /* routes ending at this node */
  route_t *wild;        /* routes with a wildcard after this node */
} node_t;

struct eddy_router_s {
  eddy_router_limits_t limits;
  node_t root;
  size_t nroutes;
  route_t *all; /* every route, oldest first, for "OPTIONS *" */
  route_t **all_tail;
  eddy_http_handler_cb not_found;
  void *not_found_arg;
};

int eddy_router_new(const eddy_router_limits_t *limits, eddy_router_t **out) {
  *out = NULL;
  eddy_router_t *rt = calloc(1, sizeof(*rt));
  if (rt == NULL)
    return UV_ENOMEM;
  size_t mr = limits != NULL ? limits->max_routes : 0;
  size_t ms = limits != NULL ? limits->max_segments : 0;
  rt->limits.max_routes = mr ? mr : EDDY_ROUTER_MAX_ROUTES_DEFAULT;
  rt->limits.max_segments =
      ms && ms < EDDY_ROUTER_MAX_SEGMENTS ? ms : EDDY_ROUTER_MAX_SEGMENTS;
  rt->all_tail = &rt->all;
  *out = rt;
  return 0;
}

static void node_free(node_t *n) {
  for (size_t i = 0; i < n->nchildren; i++) {
    node_free(n->children[i]);
    free(n->children[i]);
  }
  free(n->children);
  free(n->literal);
  if (n->param != NULL) {
    node_free(n->param);
    free(n->param);
  }
}

static void route_free(route_t *r) {
  for (size_t i = 0; i < r->nnames; i++)
    free(r->names[i]);
  free(r->method);
  free(r->pattern);
  free(r);
}

void eddy_router_free(eddy_router_t *rt) {
  if (rt == NULL)
    return;
  route_t *r = rt->all;
  while (r != NULL) {
    route_t *next = r->all_next;
    route_free(r);
    r = next;
  }
  node_free(&rt->root);
  free(rt);
}

void eddy_router_set_not_found(eddy_router_t *rt, eddy_http_handler_cb handler,
                               void *arg) {
  rt->not_found = handler;
  rt->not_found_arg = arg;
}

/* ---- Adding routes ------------------------------------------------------- */

static int is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9'))
    return 1;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_name_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_';
}

static int method_ok(const char *m) {
  if (strcmp(m, "*") == 0)
    return 1;
  size_t n = 0;
  for (; m[n] != '\0'; n++)
    if (!is_tchar((unsigned char)m[n]))
      return 0;
  return n > 0 && n <= EDDY_ROUTER_MAX_METHOD;
}

typedef enum { SEG_LITERAL, SEG_PARAM, SEG_WILD } seg_kind_t;

typedef struct {
  seg_kind_t kind;
  const char *p; /* the literal, or the name after ':' / '*' */
  size_t len;
} seg_t;

/* Splits and checks a pattern. Returns the segment count or UV_EINVAL. */
static int split_pattern(const char *pattern, size_t max, seg_t *segs) {
  if (pattern[0] != '/')
    return UV_EINVAL;
  size_t n = 0;
  const char *p = pattern + 1;
  for (;;) {
    const char *end = strchr(p, '/');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    if (n == max)
      return UV_EINVAL;
    seg_t *s = &segs[n++];
    if (len > 0 && (p[0] == ':' || p[0] == '*')) {
      s->kind = p[0] == ':' ? SEG_PARAM : SEG_WILD;
      s->p = p + 1;
      s->len = len - 1;
      if (s->kind == SEG_PARAM && s->len == 0)
        return UV_EINVAL;
      if (s->kind == SEG_WILD && end != NULL)
        return UV_EINVAL; /* a wildcard only ends a pattern */
      for (size_t i = 0; i < s->len; i++)
        if (!is_name_char((unsigned char)s->p[i]))
          return UV_EINVAL;
      for (size_t j = 0; j + 1 < n; j++)
        if (segs[j].kind != SEG_LITERAL && segs[j].len == s->len &&
            s->len > 0 && memcmp(segs[j].p, s->p, s->len) == 0)
          return UV_EINVAL; /* a name used twice */
    } else {
      s->kind = SEG_LITERAL;
      s->p = p;
      s->len = len;
    }
    if (end == NULL)
      break;
    p = end + 1;
  }
  return (int)n;
}

static int lit_cmp(const char *a, size_t alen, const char *b, size_t blen) {
  if (alen != blen)
    return alen < blen ? -1 : 1;
  return alen == 0 ? 0 : memcmp(a, b, alen);
}

/* The index of the literal child equal to s, or where it would go. */
static size_t child_search(const node_t *n, const char *s, size_t len,
                           int *found) {
  size_t lo = 0, hi = n->nchildren;
  *found = 0;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const node_t *c = n->children[mid];
    int cmp = lit_cmp(s, len, c->literal, c->literal_len);
    if (cmp == 0) {
      *found = 1;
      return mid;
    }
    if (cmp < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

/* Walks to the node for segs (the wildcard excluded), creating nodes when
 * create is set. NULL when absent (or out of memory while creating). */
static node_t *walk(eddy_router_t *rt, const seg_t *segs, size_t n,
                    int create) {
  node_t *node = &rt->root;
  for (size_t i = 0; i < n; i++) {
    const seg_t *s = &segs[i];
    if (s->kind == SEG_PARAM) {
      if (node->param == NULL) {
        if (!create || (node->param = calloc(1, sizeof(node_t))) == NULL)
          return NULL;
      }
      node = node->param;
      continue;
    }
    int found;
    size_t at = child_search(node, s->p, s->len, &found);
    if (found) {
      node = node->children[at];
      continue;
    }
    if (!create)
      return NULL;
    if (node->nchildren == node->cap) {
      size_t cap = node->cap ? node->cap * 2 : 4;
      node_t **c = realloc(node->children, cap * sizeof(*c));
      if (c == NULL)
        return NULL;
      node->children = c;
      node->cap = cap;
    }
    node_t *child = calloc(1, sizeof(*child));
    if (child == NULL)
      return NULL;
    child->literal = malloc(s->len + 1);
    if (child->literal == NULL) {
      free(child);
      return NULL;
    }
    memcpy(child->literal, s->p, s->len);
    child->literal[s->len] = '\0';
    child->literal_len = s->len;
    memmove(node->children + at + 1, node->children + at,
            (node->nchildren - at) * sizeof(*node->children));
    node->children[at] = child;
    node->nchildren++;
    node = child;
  }
  return node;
}

static int has_method(const route_t *list, const char *method) {
  for (const route_t *r = list; r != NULL; r = r->next)
    if (strcmp(r->method, method) == 0)
      return 1;
  return 0;
}

static char *dup_n(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d != NULL) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

int eddy_router_add(eddy_router_t *rt, const char *method, const char *pattern,
                    eddy_http_handler_cb handler, void *arg) {
  if (method == NULL || pattern == NULL || handler == NULL ||
      !method_ok(method))
    return UV_EINVAL;
  seg_t segs[EDDY_ROUTER_MAX_SEGMENTS];
  int n = split_pattern(pattern, rt->limits.max_segments, segs);
  if (n < 0)
    return n;
  int wild = segs[n - 1].kind == SEG_WILD;
  size_t depth = (size_t)n - (wild ? 1 : 0);

  node_t *existing = walk(rt, segs, depth, 0);
  if (existing != NULL &&
      has_method(wild ? existing->wild : existing->routes, method))
    return UV_EEXIST;
  if (rt->nroutes >= rt->limits.max_routes)
    return UV_E2BIG;

  route_t *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return UV_ENOMEM;
  r->method = dup_n(method, strlen(method));
  r->pattern = dup_n(pattern, strlen(pattern));
  r->handler = handler;
  r->arg = arg;
  int ok = r->method != NULL && r->pattern != NULL;
  for (int i = 0; i < n && ok; i++) {
    if (segs[i].kind == SEG_LITERAL || segs[i].len == 0)
      continue;
    r->names[r->nnames] = dup_n(segs[i].p, segs[i].len);
    ok = r->names[r->nnames++] != NULL;
    if (segs[i].kind == SEG_WILD)
      r->wild_named = 1;
  }
  /* Nodes created before running out of memory are left empty: they match
   * nothing, so the router behaves as before. */
  node_t *node = ok ? walk(rt, segs, depth, 1) : NULL;
  if (node == NULL) {
    route_free(r);
    return UV_ENOMEM;
  }
  /* Appended, so a node's routes keep the order they were added in (the
   * Allow header lists them so). */
  route_t **tail = wild ? &node->wild : &node->routes;
  while (*tail != NULL)
    tail = &(*tail)->next;
  *tail = r;
  *rt->all_tail = r;
  rt->all_tail = &r->all_next;
  rt->nroutes++;
  return 0;
}

/* ---- Matching ------------------------------------------------------------ */

typedef struct {
  const char *method;
  int is_head;
  const char *p; /* the path after its leading '/' */
  size_t len;
  char *dec;    /* where the next decoded segment goes (in m->mem) */
  size_t nsegs; /* segments decoded so far */
  const char *seg[EDDY_ROUTER_MAX_SEGMENTS + 1];
  size_t seg_len[EDDY_ROUTER_MAX_SEGMENTS + 1];
  size_t seg_next[EDDY_ROUTER_MAX_SEGMENTS + 1]; /* raw offset after it */
  size_t ncap; /* parameter captures on the current walk */
  size_t cap[EDDY_ROUTER_MAX_SEGMENTS]; /* their segment indexes */
  const route_t *found;
  size_t wild_pos; /* where the found wildcard's rest starts, or SIZE_MAX */
  int path_matched;
  const char **allow; /* methods of routes matching the path, deduplicated */
  size_t nallow;
  size_t allow_cap;
  int oom;
} search_t;

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Whether every '%' is followed by two hex digits and none decodes to NUL:
 * checked once, so decoding segments later cannot fail. */
static int path_ok(const char *p, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (p[i] == '\0')
      return 0;
    if (p[i] != '%')
      continue;
    if (i + 2 >= len)
      return 0;
    int hi = hexval((unsigned char)p[i + 1]);
    int lo = hexval((unsigned char)p[i + 2]);
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
      return 0;
    i += 2;
  }
  return 1;
}

static size_t decode_into(char *dst, const char *s, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '%') {
      dst[n++] = (char)(hexval((unsigned char)s[i + 1]) * 16 +
                        hexval((unsigned char)s[i + 2]));
      i += 2;
    } else {
      dst[n++] = s[i];
    }
  }
  dst[n] = '\0';
  return n;
}

/* Decodes segment d, which starts at raw offset pos, unless done already.
 * A node at depth d is only reached after segment d - 1 was matched, so
 * segments are decoded in order, each once. */
static void segment(search_t *s, size_t d, size_t pos) {
  if (s->nsegs <= d) {
    const char *slash = memchr(s->p + pos, '/', s->len - pos);
    size_t end = slash != NULL ? (size_t)(slash - s->p) : s->len;
    s->seg[s->nsegs] = s->dec;
    s->seg_len[s->nsegs] = decode_into(s->dec, s->p + pos, end - pos);
    s->dec += s->seg_len[s->nsegs] + 1;
    s->seg_next[s->nsegs] = slash != NULL ? end + 1 : s->len + 1;
    s->nsegs++;
  }
}

static void allow_add(search_t *s, const char *method) {
  for (size_t i = 0; i < s->nallow; i++)
    if (strcmp(s->allow[i], method) == 0)
      return;
  if (s->nallow == s->allow_cap) {
    size_t cap = s->allow_cap ? s->allow_cap * 2 : 8;
    const char **a = realloc(s->allow, cap * sizeof(*a));
    if (a == NULL) {
      s->oom = 1;
      return;
    }
    s->allow = a;
    s->allow_cap = cap;
  }
  s->allow[s->nallow++] = method;
}

/* The route of list that takes method: exact, else GET for HEAD, else "*". */
static const route_t *pick(const route_t *list, const char *method,
                           int is_head) {
  const route_t *get = NULL, *any = NULL;
  for (const route_t *r = list; r != NULL; r = r->next) {
    if (strcmp(r->method, method) == 0)
      return r;
    if (is_head && strcmp(r->method, "GET") == 0)
      get = r;
    else if (strcmp(r->method, "*") == 0)
      any = r;
  }
  return get != NULL ? get : any;
}

static int consider(search_t *s, const route_t *list, size_t wild_pos) {
  if (list == NULL)
    return 0;
  const route_t *r = pick(list, s->method, s->is_head);
  if (r != NULL) {
    s->found = r;
    s->wild_pos = wild_pos;
    return 1;
  }
  s->path_matched = 1;
  for (; list != NULL; list = list->next)
    allow_add(s, list->method);
  return 0;
}

/* Matches segment d (starting at raw offset pos; pos > len when every
 * segment is consumed) and what follows, from node n. */
static int dfs(search_t *s, const node_t *n, size_t d, size_t pos) {
  if (pos > s->len)
    return consider(s, n->routes, SIZE_MAX);
  if (n->nchildren > 0 || n->param != NULL) {
    segment(s, d, pos);
    int found;
    size_t at = child_search(n, s->seg[d], s->seg_len[d], &found);
    if (found && dfs(s, n->children[at], d + 1, s->seg_next[d]))
      return 1;
    if (n->param != NULL && s->seg_len[d] > 0) {
      s->cap[s->ncap++] = d;
      if (dfs(s, n->param, d + 1, s->seg_next[d]))
        return 1;
      s->ncap--;
    }
  }
  return consider(s, n->wild, pos);
}

static void collect_all(search_t *s, const eddy_router_t *rt) {
  for (const route_t *r = rt->all; r != NULL && !s->oom; r = r->all_next)
    if (strcmp(r->method, "*") != 0)
      allow_add(s, r->method);
}

/* "GET, HEAD, POST, OPTIONS": the methods in the order met, HEAD right
 * after GET when only GET was routed, OPTIONS last when not routed. */
static char *allow_string(search_t *s) {
  int has_head = 0, has_options = 0;
  size_t size = 1;
  for (size_t i = 0; i < s->nallow; i++) {
    has_head |= strcmp(s->allow[i], "HEAD") == 0;
    has_options |= strcmp(s->allow[i], "OPTIONS") == 0;
    size += strlen(s->allow[i]) + 2;
  }
  size += sizeof(", HEAD") + sizeof(", OPTIONS");
  char *out = malloc(size);
  if (out == NULL)
    return NULL;
  char *p = out;
  for (size_t i = 0; i < s->nallow; i++) {
    if (strcmp(s->allow[i], "*") == 0)
      continue;
    size_t n = strlen(s->allow[i]);
    if (p != out) {
      memcpy(p, ", ", 2);
      p += 2;
    }
    memcpy(p, s->allow[i], n);
    p += n;
    if (strcmp(s->allow[i], "GET") == 0 && !has_head) {
      memcpy(p, ", HEAD", 6);
      p += 6;
    }
  }
  if (!has_options) {
    if (p != out) {
      memcpy(p, ", ", 2);
      p += 2;
    }
    memcpy(p, "OPTIONS", 7);
    p += 7;
  }
  *p = '\0';
  return out;
}

void eddy_router_match_cleanup(eddy_router_match_t *m) {
  free(m->mem);
  free((char *)(uintptr_t)m->allow);
  m->mem = NULL;
  m->allow = NULL;
}

static int finish_allow(eddy_router_match_t *m, search_t *s, int status) {
  if (s->oom)
    goto oom;
  char *allow = allow_string(s);
  if (allow == NULL)
    goto oom;
  m->allow = allow;
  m->status = status;
  free(s->allow);
  return 0;
oom:
  free(s->allow);
  m->status = 500;
  return UV_ENOMEM;
}

int eddy_router_match(const eddy_router_t *rt, const char *method,
                      const char *path, size_t path_len,
                      eddy_router_match_t *m) {
  memset(m, 0, sizeof(*m));
  search_t s;
  memset(&s, 0, sizeof(s));
  s.method = method;
  s.is_head = strcmp(method, "HEAD") == 0;
  int is_options = strcmp(method, "OPTIONS") == 0;

  if (path_len == 1 && path[0] == '*') {
    if (!is_options) {
      m->status = 404;
      return 0;
    }
    collect_all(&s, rt);
    return finish_allow(m, &s, 204);
  }
  if (path_len == 0 || path[0] != '/') {
    m->status = 404;
    return 0;
  }
  if (!path_ok(path, path_len)) {
    m->status = 400;
    return 0;
  }
  s.p = path + 1;
  s.len = path_len - 1;
  /* Decoded segments, then the decoded wildcard rest: each at most the raw
   * length plus a NUL. */
  m->mem = malloc(2 * (s.len + 1));
  if (m->mem == NULL) {
    m->status = 500;
    return UV_ENOMEM;
  }
  s.dec = m->mem;

  if (dfs(&s, &rt->root, 0, 0)) {
    const route_t *r = s.found;
    m->handler = r->handler;
    m->arg = r->arg;
    m->method = r->method;
    m->pattern = r->pattern;
    size_t names = r->nnames - (r->wild_named ? 1 : 0);
    for (size_t i = 0; i < names && i < s.ncap; i++) {
      m->params[i].name = r->names[i];
      m->params[i].value = s.seg[s.cap[i]];
      m->params[i].value_len = s.seg_len[s.cap[i]];
    }
    m->nparams = names;
    if (r->wild_named) {
      char *rest = m->mem + (s.len + 1);
      size_t rest_len = decode_into(rest, s.p + s.wild_pos, s.len - s.wild_pos);
      m->params[names].name = r->names[names];
      m->params[names].value = rest;
      m->params[names].value_len = rest_len;
      m->nparams++;
    }
    free(s.allow);
    return 0;
  }
  if (!s.path_matched) {
    free(s.allow);
    m->status = s.oom ? 500 : 404;
    return s.oom ? UV_ENOMEM : 0;
  }
  return finish_allow(m, &s, is_options ? 204 : 405);
}

/* ---- Serving ------------------------------------------------------------- */

/* The raw path of a request target: origin-form up to '?', the path of an
 * absolute-form target ("/" when it has none), or "*". */
static const char *target_path(const char *t, size_t *len) {
  if (t[0] != '/' && strcmp(t, "*") != 0) {
    const char *scheme_end = strstr(t, "://");
    if (scheme_end != NULL) {
      const char *slash = strchr(scheme_end + 3, '/');
      const char *q = strchr(scheme_end + 3, '?');
      if (slash == NULL || (q != NULL && q < slash)) {
        *len = 1;
        return "/";
      }
      t = slash;
    }
  }
  *len = strcspn(t, "?");
  return t;
}

void eddy_router_handler(eddy_http_request_t *req, void *arg) {
  eddy_router_t *rt = arg;
  size_t len;
  const char *path = target_path(eddy_http_target(req), &len);
  eddy_router_match_t m;
  eddy_router_match(rt, eddy_http_method(req), path, len, &m);
  eddy_http_handler_cb handler = m.handler;
  void *harg = m.arg;
  switch (m.status) {
  case 0:
    for (size_t i = 0; i < m.nparams; i++) {
      if (eddy_http_set_param(req, m.params[i].name, m.params[i].value) != 0) {
        eddy_router_match_cleanup(&m);
        eddy_http_respond_error(req, 500, "out of memory");
        return;
      }
    }
    /* The server copied the parameters; the match is not needed in the
     * handler, which may finish (and so free) the request. */
    eddy_router_match_cleanup(&m);
    handler(req, harg);
    return;
  case 204:
    eddy_http_set_header(req, "Allow", m.allow);
    eddy_router_match_cleanup(&m);
    eddy_http_respond(req, 204, NULL, NULL, 0);
    return;
  case 405:
    eddy_http_set_header(req, "Allow", m.allow);
    eddy_router_match_cleanup(&m);
    eddy_http_respond_error(req, 405, NULL);
    return;
  case 404:
    eddy_router_match_cleanup(&m);
    if (rt->not_found != NULL)
      rt->not_found(req, rt->not_found_arg);
    else
      eddy_http_respond_error(req, 404, NULL);
    return;
  case 400:
    eddy_router_match_cleanup(&m);
    eddy_http_respond_error(req, 400, "bad percent escape in the path");
    return;
  default:
    eddy_router_match_cleanup(&m);
    eddy_http_respond_error(req, 500, "out of memory");
    return;
  }
}
