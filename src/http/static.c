/* static.c — serving a directory over HTTP (eddy/http_static.h).
 *
 * A request goes through three stages, each owned by a job_t:
 *  1. on the loop: method and path checks (pure, no file system);
 *  2. on libuv's thread pool: resolve the path beneath the root, open and
 *     stat the file, find an index, or build a listing;
 *  3. on the loop: validators, conditionals and ranges, then the body read
 *     with uv_fs_read one chunk at a time, each read started only when the
 *     connection can take more.
 * The job holds a reference on the eddy_static_t, so the root's descriptor
 * stays open while any request may still use it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__linux__) && defined(__has_include)
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#include <sys/syscall.h>
#ifdef SYS_openat2
#define HAVE_OPENAT2 1
#endif
#endif
#endif

#include "core/reactor_internal.h"
#include "eddy/buffer.h"
#include "eddy/error.h"
#include "eddy/http_server.h"
#include "eddy/http_static.h"
#include "eddy/log.h"

#define MAX_PATH_BYTES 4096u
#define MAX_SEGMENT 255u
/* A listing is at most this big, whatever max_listing says. */
#define MAX_LISTING_BYTES ((size_t)32u * 1024u * 1024u)

struct eddy_static_s {
  eddy_reactor_t *reactor;
  int root_fd;
  char *root_real; /* realpath of the root, for the portable resolver */
  size_t root_real_len;
  char **index_names;
  size_t nindex;
  int listing, dotfiles, portable;
  uint32_t max_age;
  size_t chunk, max_listing;
  size_t refs; /* the owner's, plus one per job */
  int freed;
};

typedef enum { R_ERROR = 0, R_FILE, R_LISTING, R_REDIRECT } result_kind_t;

typedef struct {
  eddy_static_t *st;
  eddy_http_request_t *req; /* NULL once finished */
  uv_work_t work;
  uv_fs_t fs;
  eddy__soon_t soon;
  /* Stage 1 -> 2: what to look up. */
  char *rel;    /* "a/b" (segments checked), "" for the root */
  char *shown;  /* the decoded path, for a listing's title */
  int want_dir; /* the path ended with '/' */
  /* Stage 2 -> 3: what was found. */
  result_kind_t kind;
  int status; /* R_ERROR */
  int err;    /* the errno behind it, for the log */
  int fd;
  uint64_t ino, size;
  int64_t mtime;
  uint32_t mtime_ns;
  const char *name; /* the file name for its type (into rel or an index) */
  eddy_buf_t listing;
  /* Stage 3: the transfer. */
  uint64_t off, left;
  char *chunk; /* the buffer of the read in flight */
  int busy;    /* work or a read in flight: its callback will continue */
  int gone;    /* the client went away */
  int ended;   /* end() ran */
} job_t;

static void job_end(job_t *j);

/* ---- The object ---------------------------------------------------------- */

static void destroy(eddy_static_t *s) {
  if (s->root_fd >= 0)
    close(s->root_fd); /* a directory: close cannot block on it */
  for (size_t i = 0; i < s->nindex; i++)
    free(s->index_names[i]);
  free(s->index_names);
  free(s->root_real);
  eddy__reactor_live(s->reactor, EDDY__LIVE_OTHER, -1);
  free(s);
}

static void release(eddy_static_t *s) {
  if (--s->refs == 0)
    destroy(s);
}

static int valid_index_name(const char *n) {
  return n[0] != '\0' && strchr(n, '/') == NULL && strcmp(n, ".") != 0 &&
         strcmp(n, "..") != 0 && strlen(n) <= MAX_SEGMENT;
}

int eddy_static_new(eddy_reactor_t *r, const char *root,
                    const eddy_static_config_t *cfg, eddy_static_t **out) {
  if (out != NULL)
    *out = NULL;
  if (r == NULL || root == NULL || root[0] == '\0' || out == NULL)
    return UV_EINVAL;
  eddy_static_config_t c = {0};
  if (cfg != NULL)
    c = *cfg;
  static const char *const default_index[] = {"index.html", NULL};
  const char *const *names = c.index_names ? c.index_names : default_index;
  size_t nindex = 0;
  while (names[nindex] != NULL) {
    if (nindex >= EDDY_STATIC_MAX_INDEX_NAMES ||
        !valid_index_name(names[nindex]))
      return UV_EINVAL;
    nindex++;
  }

  eddy_static_t *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return UV_ENOMEM;
  s->reactor = r;
  s->root_fd = -1;
  s->refs = 1;
  s->listing = !c.no_listing;
  s->dotfiles = c.dotfiles != 0;
  s->portable = c.portable_resolve != 0;
  s->max_age = c.max_age;
  s->chunk = c.chunk_size == 0 ? EDDY_STATIC_CHUNK_DEFAULT : c.chunk_size;
  if (s->chunk < EDDY_STATIC_CHUNK_MIN)
    s->chunk = EDDY_STATIC_CHUNK_MIN;
  if (s->chunk > EDDY_STATIC_CHUNK_MAX)
    s->chunk = EDDY_STATIC_CHUNK_MAX;
  s->max_listing =
      c.max_listing == 0 ? EDDY_STATIC_MAX_LISTING_DEFAULT : c.max_listing;
  eddy__reactor_live(r, EDDY__LIVE_OTHER, 1);

  int rc = 0;
  s->index_names = calloc(nindex + 1, sizeof(char *));
  if (s->index_names == NULL)
    rc = UV_ENOMEM;
  for (size_t i = 0; rc == 0 && i < nindex; i++) {
    s->index_names[i] = strdup(names[i]);
    if (s->index_names[i] == NULL)
      rc = UV_ENOMEM;
    else
      s->nindex++;
  }
  /* Once, at start-up: the only file system calls made on the loop. */
  if (rc == 0) {
    s->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->root_fd < 0)
      rc = uv_translate_sys_error(errno);
  }
  if (rc == 0) {
    s->root_real = realpath(root, NULL);
    if (s->root_real == NULL)
      rc = uv_translate_sys_error(errno);
    else
      s->root_real_len = strlen(s->root_real);
  }
  if (rc != 0) {
    destroy(s);
    return rc;
  }
  *out = s;
  return 0;
}

void eddy_static_free(eddy_static_t *s) {
  if (s == NULL || s->freed)
    return;
  s->freed = 1;
  release(s);
}

/* ---- Stage 1: the path -----------------------------------------------------
 */

/* Turns the decoded request path into "seg/seg" relative to the root, or
 * returns -1 for a path that must not be served. The rules are in the
 * header (NO PATH OUTSIDE THE ROOT). */
static int clean_path(const char *in, int dotfiles, char *out) {
  size_t o = 0;
  const char *p = in;
  for (;;) {
    while (*p == '/')
      p++;
    if (*p == '\0')
      break;
    const char *seg = p;
    while (*p != '\0' && *p != '/')
      p++;
    size_t n = (size_t)(p - seg);
    if (n == 1 && seg[0] == '.')
      continue;
    if (n == 2 && seg[0] == '.' && seg[1] == '.')
      return -1;
    if (n > MAX_SEGMENT || memchr(seg, '\\', n) != NULL)
      return -1;
    if (seg[0] == '.' && !dotfiles)
      return -1;
    if (o > 0)
      out[o++] = '/';
    memcpy(out + o, seg, n);
    o += n;
  }
  out[o] = '\0';
  return 0;
}

/* ---- Stage 2: on the thread pool ---------------------------------------- */

#ifdef HAVE_OPENAT2
/* 0 unknown, 1 works, -1 missing (ENOSYS: an old kernel or a sandbox). */
static atomic_int openat2_state;
#endif

static int status_for(int err) {
  switch (err) {
  case EACCES:
  case EPERM:
    return 403;
  case EMFILE:
  case ENFILE:
  case ENOMEM:
    return 503;
  case ENOENT:
  case ENOTDIR:
  case ELOOP:
  case EXDEV:
  case ENAMETOOLONG:
  case EINVAL:
  case ENXIO:
  case ENODEV:
    return 404;
  default:
    return 500;
  }
}

#define OPEN_FLAGS (O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)

/* The portable resolver: realpath must stay inside the root's real path,
 * and the resolved path itself is opened without following a last link. */
static int open_by_realpath(eddy_static_t *s, const char *rel) {
  char path[MAX_PATH_BYTES * 2 + 2];
  int n = snprintf(path, sizeof(path), "%s/%s", s->root_real, rel);
  if (n < 0 || (size_t)n >= sizeof(path)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  char *real = realpath(path, NULL);
  if (real == NULL)
    return -1;
  size_t rl = s->root_real_len;
  int inside;
  if (rl == 1) /* the root is "/" */
    inside = real[0] == '/';
  else
    inside = strncmp(real, s->root_real, rl) == 0 &&
             (real[rl] == '/' || real[rl] == '\0');
  int fd = -1;
  if (!inside)
    errno = EXDEV;
  else
    fd = open(real, OPEN_FLAGS | O_NOFOLLOW);
  int saved = errno;
  free(real);
  errno = saved;
  return fd;
}

/* Opens rel (checked segments, "" for the root) beneath the root. Returns
 * a descriptor, or -1 with errno set. */
static int open_beneath(eddy_static_t *s, const char *rel) {
#ifdef HAVE_OPENAT2
  if (!s->portable && atomic_load(&openat2_state) >= 0) {
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = OPEN_FLAGS;
    /* BENEATH: no "..", absolute link or link target may leave the root;
     * NO_MAGICLINKS: no /proc/self/fd-style jumps. */
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    for (int tries = 0; tries < 8; tries++) {
      long fd = syscall(SYS_openat2, s->root_fd, rel[0] ? rel : ".", &how,
                        sizeof(how));
      if (fd >= 0) {
        atomic_store(&openat2_state, 1);
        return (int)fd;
      }
      /* EAGAIN: a concurrent rename made the kernel unsure; ask again. */
      if (errno != EAGAIN)
        break;
    }
    if (errno != ENOSYS)
      return -1;
    atomic_store(&openat2_state, -1);
  }
#endif
  return open_by_realpath(s, rel);
}

static int set_error(job_t *j, int err) {
  j->kind = R_ERROR;
  j->err = err;
  j->status = status_for(err);
  return -1;
}

/* Opens rel as a regular file: 0 with j->fd and its stat, 1 when it is a
 * directory (fd kept in *dirfd when not NULL, else closed), or -1. */
static int open_entry(job_t *j, const char *rel, int *dirfd) {
  int fd = open_beneath(j->st, rel);
  if (fd < 0)
    return set_error(j, errno);
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    int e = errno;
    close(fd);
    return set_error(j, e);
  }
  if (S_ISDIR(sb.st_mode)) {
    if (dirfd != NULL)
      *dirfd = fd;
    else
      close(fd);
    return 1;
  }
  if (!S_ISREG(sb.st_mode)) {
    close(fd);
    return set_error(j, ENOENT); /* devices, FIFOs, sockets: not files */
  }
  j->fd = fd;
  j->ino = (uint64_t)sb.st_ino;
  j->size = (uint64_t)sb.st_size;
  j->mtime = (int64_t)sb.st_mtim.tv_sec;
  j->mtime_ns = (uint32_t)sb.st_mtim.tv_nsec;
  j->kind = R_FILE;
  return 0;
}

typedef struct {
  char *name;
  int is_dir;
  int has_stat;
  uint64_t size;
  int64_t mtime;
} entry_t;

static int entry_cmp(const void *a, const void *b) {
  const entry_t *x = a, *y = b;
  return strcmp(x->name, y->name);
}

static int append_escaped(eddy_buf_t *b, const char *s) {
  int rc = 0;
  for (const char *p = s; *p && rc == 0; p++) {
    switch (*p) {
    case '&':
      rc = eddy_buf_append_str(b, "&amp;");
      break;
    case '<':
      rc = eddy_buf_append_str(b, "&lt;");
      break;
    case '>':
      rc = eddy_buf_append_str(b, "&gt;");
      break;
    case '"':
      rc = eddy_buf_append_str(b, "&quot;");
      break;
    case '\'':
      rc = eddy_buf_append_str(b, "&#39;");
      break;
    default:
      rc = eddy_buf_append(b, p, 1);
    }
  }
  return rc;
}

/* Everything but unreserved characters is percent-encoded, so a name like
 * "javascript:x" or "a?b#c" stays a relative path in the link. */
static int append_encoded(eddy_buf_t *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  int rc = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p && rc == 0; p++) {
    unsigned char c = *p;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      rc = eddy_buf_append(b, p, 1);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      rc = eddy_buf_append(b, e, 3);
    }
  }
  return rc;
}

static int build_listing(job_t *j, int fd) {
  DIR *d = fdopendir(fd);
  if (d == NULL) {
    int e = errno;
    close(fd);
    return set_error(j, e);
  }
  entry_t *ents = NULL;
  size_t n = 0, cap = 0, more = 0;
  int rc = 0;
  struct dirent *de;
  errno = 0;
  while ((de = readdir(d)) != NULL) {
    const char *nm = de->d_name;
    if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
      continue;
    if (nm[0] == '.' && !j->st->dotfiles)
      continue;
    if (n == j->st->max_listing) {
      more++;
      /* Counting every further name of a huge directory is not worth the
       * time; one more is enough to say the list was cut. */
      break;
    }
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 64;
      entry_t *ne = realloc(ents, nc * sizeof(*ne));
      if (ne == NULL) {
        rc = UV_ENOMEM;
        break;
      }
      ents = ne;
      cap = nc;
    }
    entry_t *e = &ents[n];
    memset(e, 0, sizeof(*e));
    e->name = strdup(nm);
    if (e->name == NULL) {
      rc = UV_ENOMEM;
      break;
    }
    n++;
    /* Follows links, to show what a click would get; a link that leads
     * outside the root is listed but answered 404 when followed. */
    struct stat sb;
    if (fstatat(dirfd(d), nm, &sb, 0) == 0) {
      e->has_stat = 1;
      e->is_dir = S_ISDIR(sb.st_mode);
      e->size = (uint64_t)sb.st_size;
      e->mtime = (int64_t)sb.st_mtim.tv_sec;
    }
  }
  closedir(d);
  if (rc == 0 && n > 1)
    qsort(ents, n, sizeof(*ents), entry_cmp);

  eddy_buf_t *b = &j->listing;
  eddy_buf_init(b, MAX_LISTING_BYTES);
  if (rc == 0) {
    rc = eddy_buf_append_str(b, "<!DOCTYPE html>\n<html><head><meta "
                                "charset=\"utf-8\"><title>Index of ");
    if (rc == 0)
      rc = append_escaped(b, j->shown);
    if (rc == 0)
      rc = eddy_buf_append_str(
          b, "</title>\n<style>body{font-family:sans-serif}"
             "td{padding:0 1em 0 0}</style></head>\n<body><h1>Index of ");
    if (rc == 0)
      rc = append_escaped(b, j->shown);
    if (rc == 0)
      rc = eddy_buf_append_str(b, "</h1>\n<table>\n<tr><th>Name</th>"
                                  "<th>Size</th><th>Last modified</th></tr>\n");
    if (rc == 0 && j->rel[0] != '\0')
      rc = eddy_buf_append_str(
          b, "<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
  }
  for (size_t i = 0; i < n && rc == 0; i++) {
    entry_t *e = &ents[i];
    rc = eddy_buf_append_str(b, "<tr><td><a href=\"");
    if (rc == 0)
      rc = append_encoded(b, e->name);
    if (rc == 0)
      rc = eddy_buf_append_str(b, e->is_dir ? "/\">" : "\">");
    if (rc == 0)
      rc = append_escaped(b, e->name);
    if (rc == 0)
      rc = eddy_buf_append_str(b,
                               e->is_dir ? "/</a></td><td>" : "</a></td><td>");
    if (rc == 0 && e->has_stat && !e->is_dir)
      rc = eddy_buf_printf(b, "%" PRIu64, e->size);
    if (rc == 0)
      rc = eddy_buf_append_str(b, "</td><td>");
    char date[EDDY_HTTP_DATE_SIZE];
    if (rc == 0 && e->has_stat &&
        eddy_http_date_format(e->mtime, date, sizeof(date)) > 0)
      rc = eddy_buf_append_str(b, date);
    if (rc == 0)
      rc = eddy_buf_append_str(b, "</td></tr>\n");
  }
  if (rc == 0)
    rc = eddy_buf_append_str(b, "</table>\n");
  if (rc == 0 && more > 0)
    rc =
        eddy_buf_printf(b, "<p>Only the first %zu entries are shown.</p>\n", n);
  if (rc == 0)
    rc = eddy_buf_append_str(b, "</body></html>\n");
  for (size_t i = 0; i < n; i++)
    free(ents[i].name);
  free(ents);
  if (rc != 0) {
    eddy_buf_free(b);
    return set_error(j, rc == UV_ENOBUFS ? EFBIG : ENOMEM);
  }
  j->kind = R_LISTING;
  return 0;
}

static void resolve_work(uv_work_t *w) {
  job_t *j = w->data;
  eddy_static_t *s = j->st;
  int dirfd = -1;
  int rc = open_entry(j, j->rel, &dirfd);
  if (rc < 0)
    return;
  if (rc == 0) {
    /* "/file.txt/" names a directory that is not there. */
    if (j->want_dir) {
      close(j->fd);
      j->fd = -1;
      set_error(j, ENOTDIR);
      return;
    }
    const char *slash = strrchr(j->rel, '/');
    j->name = slash != NULL ? slash + 1 : j->rel;
    return;
  }
  if (!j->want_dir) {
    close(dirfd);
    j->kind = R_REDIRECT;
    return;
  }
  /* A directory: its first index that is a regular file, else a listing.
   * Each index goes through the same resolution beneath the root. */
  size_t rl = strlen(j->rel);
  for (size_t i = 0; i < s->nindex; i++) {
    char path[MAX_PATH_BYTES + MAX_SEGMENT + 2];
    snprintf(path, sizeof(path), "%s%s%s", j->rel, rl ? "/" : "",
             s->index_names[i]);
    if (open_entry(j, path, NULL) == 0) {
      close(dirfd);
      j->name = s->index_names[i];
      return;
    }
  }
  if (!s->listing) {
    close(dirfd);
    set_error(j, EACCES);
    return;
  }
  build_listing(j, dirfd);
}

/* ---- Stage 3: answering -------------------------------------------------- */

static void add_header(job_t *j, const char *name, const char *value) {
  /* Only invalid values or a 64 KiB header block fail; neither can come
   * from what we add, so a failure is only logged. */
  int rc = eddy_http_set_header(j->req, name, value);
  if (rc != 0)
    eddy_log(EDDY_LOG_WARN, "http.static.header", "name=%s error=%s", name,
             eddy_err_name(rc));
}

/* The path comes from the client: quoted, so it cannot forge log fields. */
static void log_failure(job_t *j, const char *event, int err) {
  char q[600];
  eddy_log(EDDY_LOG_WARN, event, "path=%s error=%s",
           eddy_log_quote(q, sizeof(q), j->shown), eddy_err_name(err));
}

static void respond_error(job_t *j, int status) {
  eddy_http_respond_error(j->req, status, NULL);
  j->req = NULL;
}

/* The path as the client wrote it (a raw target's path), for Location. */
static void redirect(job_t *j) {
  const char *t = eddy_http_target(j->req);
  if (t[0] != '/') { /* absolute-form: skip "scheme://authority" */
    const char *p = strstr(t, "://");
    p = p != NULL ? strchr(p + 3, '/') : NULL;
    t = p != NULL ? p : "/";
  }
  /* "//host/x" in Location would send the browser to another site. */
  while (t[0] == '/' && t[1] == '/')
    t++;
  size_t plen = strcspn(t, "?#");
  const char *q = eddy_http_query(j->req);
  size_t need = plen + 2 + strlen(q) + 1;
  char *loc = malloc(need);
  if (loc == NULL) {
    respond_error(j, 503);
    return;
  }
  snprintf(loc, need, "%.*s/%s%s", (int)plen, t, q[0] ? "?" : "", q);
  add_header(j, "Location", loc);
  free(loc);
  static const char body[] = "Moved Permanently\n";
  eddy_http_respond(j->req, 301, "text/plain; charset=utf-8", body,
                    sizeof(body) - 1);
  j->req = NULL;
}

/* RFC 9110 section 13.2.2: returns 0 to go on, or 304 / 412. */
static int preconditions(job_t *j, const char *etag) {
  eddy_http_request_t *req = j->req;
  const char *v = eddy_http_header(req, "If-Match");
  int64_t t;
  if (v != NULL) {
    if (!eddy_http_etag_match(v, strlen(v), etag, 1))
      return 412;
  } else if ((v = eddy_http_header(req, "If-Unmodified-Since")) != NULL) {
    if (eddy_http_date_parse(v, strlen(v), &t) == 0 && j->mtime > t)
      return 412;
  }
  if ((v = eddy_http_header(req, "If-None-Match")) != NULL) {
    if (eddy_http_etag_match(v, strlen(v), etag, 0))
      return 304;
  } else if ((v = eddy_http_header(req, "If-Modified-Since")) != NULL) {
    if (eddy_http_date_parse(v, strlen(v), &t) == 0 && j->mtime <= t)
      return 304;
  }
  return 0;
}

/* Whether If-Range (absent, or still valid) lets the Range apply. */
static int if_range_holds(job_t *j, const char *etag) {
  const char *v = eddy_http_header(j->req, "If-Range");
  if (v == NULL)
    return 1;
  size_t n = strlen(v);
  /* An entity tag, else a date (which may start with "Wed"). */
  if (v[0] == '"' || (v[0] == 'W' && v[1] == '/'))
    return eddy_http_etag_match(v, n, etag, 1);
  int64_t t;
  return eddy_http_date_parse(v, n, &t) == 0 && t == j->mtime;
}

static void chunk_free(void *data, void *arg) {
  (void)arg;
  free(data);
}

static void read_next(job_t *j);
static void step_soon(void *arg);

static void on_writable(eddy_http_request_t *req, void *arg) {
  job_t *j = arg;
  eddy_http_on_writable(req, NULL, NULL);
  if (!j->busy && !j->ended)
    read_next(j);
}

static void read_done(uv_fs_t *f) {
  job_t *j = f->data;
  ssize_t n = f->result;
  uv_fs_req_cleanup(f);
  j->busy = 0;
  char *chunk = j->chunk;
  j->chunk = NULL;
  if (j->gone || n <= 0) {
    free(chunk);
    if (n < 0)
      log_failure(j, "http.static.read", (int)n);
    /* n == 0: the file shrank under us; finishing short makes the server
     * close the connection, so the client sees the truncation. */
    job_end(j);
    return;
  }
  eddy_slice_t *sl = eddy_slice_wrap(chunk, (size_t)n, chunk_free, NULL);
  if (sl == NULL) {
    free(chunk);
    job_end(j);
    return;
  }
  j->off += (uint64_t)n;
  j->left -= (uint64_t)n;
  int rc = eddy_http_write_slice(j->req, sl);
  eddy_slice_unref(sl);
  if (rc != 0 || j->left == 0 || j->gone) {
    job_end(j);
    return;
  }
  if (eddy_http_writable(j->req)) {
    read_next(j);
    return;
  }
  eddy_http_on_writable(j->req, on_writable, j);
}

static void read_next(job_t *j) {
  size_t want = j->left < j->st->chunk ? (size_t)j->left : j->st->chunk;
  char *chunk = malloc(want);
  if (chunk == NULL) {
    job_end(j);
    return;
  }
  uv_buf_t b = uv_buf_init(chunk, (unsigned)want);
  j->chunk = chunk;
  j->fs.data = j;
  j->busy = 1;
  int rc = uv_fs_read(eddy_reactor_loop(j->st->reactor), &j->fs, j->fd, &b, 1,
                      (int64_t)j->off, read_done);
  if (rc != 0) {
    j->busy = 0;
    j->chunk = NULL;
    uv_fs_req_cleanup(&j->fs);
    free(chunk);
    job_end(j);
  }
}

static void serve_file(job_t *j) {
  eddy_http_request_t *req = j->req;
  char etag[EDDY_HTTP_ETAG_MAX], lm[EDDY_HTTP_DATE_SIZE], num[96];
  eddy_http_etag(etag, sizeof(etag), j->ino, j->size, j->mtime, j->mtime_ns);
  if (eddy_http_date_format(j->mtime, lm, sizeof(lm)) < 0)
    lm[0] = '\0';
  add_header(j, "ETag", etag);
  if (lm[0] != '\0')
    add_header(j, "Last-Modified", lm);
  if (j->st->max_age > 0) {
    snprintf(num, sizeof(num), "max-age=%" PRIu32, j->st->max_age);
    add_header(j, "Cache-Control", num);
  }
  add_header(j, "X-Content-Type-Options", "nosniff");

  int pre = preconditions(j, etag);
  if (pre == 304) {
    eddy_http_set_status(req, 304, NULL);
    job_end(j);
    return;
  }
  if (pre != 0) {
    respond_error(j, pre);
    job_end(j);
    return;
  }
  add_header(j, "Accept-Ranges", "bytes");
  int head = strcmp(eddy_http_method(req), "HEAD") == 0;
  uint64_t first = 0, last = 0;
  eddy_range_result_t rr = EDDY_RANGE_IGNORE;
  const char *range = eddy_http_header(req, "Range");
  if (range != NULL && !head && if_range_holds(j, etag))
    rr = eddy_http_range_parse(range, strlen(range), j->size, &first, &last);
  if (rr == EDDY_RANGE_UNSATISFIABLE) {
    snprintf(num, sizeof(num), "bytes */%" PRIu64, j->size);
    add_header(j, "Content-Range", num);
    respond_error(j, 416);
    job_end(j);
    return;
  }
  j->off = 0;
  j->left = j->size;
  if (rr == EDDY_RANGE_SINGLE) {
    j->off = first;
    j->left = last - first + 1;
    snprintf(num, sizeof(num), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first,
             last, j->size);
    add_header(j, "Content-Range", num);
    eddy_http_set_status(req, 206, NULL);
  }
  add_header(j, "Content-Type", eddy_mime_type(j->name));
  snprintf(num, sizeof(num), "%" PRIu64, j->left);
  add_header(j, "Content-Length", num);
  if (head || j->left == 0) {
    job_end(j);
    return;
  }
  read_next(j);
}

static void resolve_done(uv_work_t *w, int status) {
  job_t *j = w->data;
  j->busy = 0;
  if (j->gone || status != 0) {
    job_end(j);
    return;
  }
  switch (j->kind) {
  case R_ERROR:
    if (j->status >= 500)
      log_failure(j, "http.static.error", uv_translate_sys_error(j->err));
    respond_error(j, j->status);
    break;
  case R_REDIRECT:
    redirect(j);
    break;
  case R_LISTING:
    add_header(j, "X-Content-Type-Options", "nosniff");
    eddy_http_respond(j->req, 200, "text/html; charset=utf-8", j->listing.data,
                      j->listing.len);
    j->req = NULL;
    break;
  case R_FILE:
    serve_file(j);
    return;
  }
  job_end(j);
}

/* ---- The job's end ----------------------------------------------------------
 */

static void job_free(job_t *j) {
  eddy_static_t *s = j->st;
  eddy_buf_free(&j->listing);
  free(j->rel);
  free(j->shown);
  free(j);
  release(s);
}

static void fd_closed(uv_fs_t *f) {
  job_t *j = f->data;
  uv_fs_req_cleanup(f);
  job_free(j);
}

/* Finishes the request (if not answered yet) and releases everything. Runs
 * once, never while work or a read is in flight. */
static void job_end(job_t *j) {
  if (j->ended)
    return;
  j->ended = 1;
  eddy__reactor_soon_cancel(j->st->reactor, &j->soon);
  if (j->req != NULL) {
    eddy_http_on_writable(j->req, NULL, NULL);
    eddy_http_on_close(j->req, NULL, NULL);
    eddy_http_finish(j->req);
    j->req = NULL;
  }
  if (j->fd >= 0) {
    int fd = j->fd;
    j->fd = -1;
    j->fs.data = j;
    /* A close can flush (NFS): off the loop too. */
    if (uv_fs_close(eddy_reactor_loop(j->st->reactor), &j->fs, fd, fd_closed) ==
        0)
      return;
    uv_fs_req_cleanup(&j->fs);
  }
  job_free(j);
}

/* The job's one soon-call: ends it when the client went away, else goes
 * on reading when the connection can take more. */
static void step_soon(void *arg) {
  job_t *j = arg;
  if (j->ended || j->busy)
    return;
  if (j->gone) {
    job_end(j);
  } else if (j->req != NULL && eddy_http_writable(j->req)) {
    eddy_http_on_writable(j->req, NULL, NULL);
    read_next(j);
  }
}

static void on_client_gone(eddy_http_request_t *req, int reason, void *arg) {
  (void)req;
  (void)reason;
  job_t *j = arg;
  j->gone = 1;
  /* With work or a read in flight, its callback ends the job; otherwise
   * it was waiting for the connection to drain, which will never come. */
  if (!j->busy)
    eddy__reactor_soon(j->st->reactor, &j->soon, step_soon, j);
}

/* ---- The handler -----------------------------------------------------------
 */

void eddy_static_handler(eddy_http_request_t *req, void *arg) {
  eddy_static_t *s = arg;
  if (s == NULL || s->freed) {
    eddy_http_respond_error(req, 503, NULL);
    return;
  }
  const char *m = eddy_http_method(req);
  if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
    eddy_http_set_header(req, "Allow", "GET, HEAD");
    eddy_http_respond_error(req, 405, NULL);
    return;
  }
  const char *full = eddy_http_path(req);
  const char *sub = eddy_http_param(req, "path");
  const char *path = sub != NULL ? sub : full;
  size_t flen = strlen(full), plen = strlen(path);
  if (plen > MAX_PATH_BYTES) {
    eddy_http_respond_error(req, 404, NULL);
    return;
  }
  job_t *j = calloc(1, sizeof(*j));
  char *rel = malloc(plen + 1);
  char *shown = strdup(full);
  if (j == NULL || rel == NULL || shown == NULL) {
    free(j);
    free(rel);
    free(shown);
    eddy_http_respond_error(req, 503, NULL);
    return;
  }
  if (clean_path(path, s->dotfiles, rel) != 0) {
    free(j);
    free(rel);
    free(shown);
    eddy_http_respond_error(req, 404, NULL);
    return;
  }
  j->st = s;
  s->refs++;
  j->req = req;
  j->rel = rel;
  j->shown = shown;
  j->want_dir = flen > 0 && full[flen - 1] == '/';
  j->fd = -1;
  eddy_buf_init(&j->listing, MAX_LISTING_BYTES);
  j->work.data = j;
  j->busy = 1;
  eddy_http_on_close(req, on_client_gone, j);
  /* uv_queue_work fails only without a work callback. */
  uv_queue_work(eddy_reactor_loop(s->reactor), &j->work, resolve_work,
                resolve_done);
}
