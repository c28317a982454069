/* listen.c — accepting TCP and Unix-socket connections.
 *
 * Binding and listening happen inside eddy_listen so that every error
 * (EADDRINUSE, EACCES, a bad path) is returned to the caller at once. Each
 * accepted connection becomes a stream transport with a protocol built by the
 * factory. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/reactor_internal.h"
#include "eddy/endpoint.h"
#include "eddy/error.h"
#include "eddy/log.h"
#include "net/stream_internal.h"

struct eddy_listener_s {
  eddy_reactor_t *reactor;
  eddy_factory_t *factory;
  eddy_call_cb close_cb;
  void *close_arg;
  eddy_addr_t addr; /* as bound */
  int port;
  int is_unix;
  int closing;
  /* The socket file we created, unlinked on close only if it is still the
   * same file (someone may have replaced it meanwhile). */
  int created;
  dev_t dev;
  ino_t ino;
  char path[EDDY_ENDPOINT_PATH_MAX];
  eddy__socket_handle_t h;
};

static void listener_closed(uv_handle_t *h) {
  eddy_listener_t *l = h->data;
  struct stat st;
  if (l->created && lstat(l->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
      st.st_dev == l->dev && st.st_ino == l->ino)
    unlink(l->path);
  eddy_call_cb cb = l->close_cb;
  void *arg = l->close_arg;
  eddy_reactor_t *r = l->reactor;
  free(l);
  eddy__reactor_live(r, EDDY__LIVE_LISTENER, -1);
  if (cb != NULL)
    cb(arg);
}

static void listener_start_close(eddy_listener_t *l, eddy_call_cb cb,
                                 void *arg) {
  l->closing = 1;
  l->close_cb = cb;
  l->close_arg = arg;
  uv_close(&l->h.handle, listener_closed);
}

static void on_connection(uv_stream_t *server, int status) {
  eddy_listener_t *l = server->data;
  if (status < 0) {
    eddy_log(EDDY_LOG_WARN, "accept.error", "port=%d error=%s", l->port,
             eddy_err_name(status));
    return;
  }
  eddy__stream_t *s;
  int rc = eddy__stream_new(l->reactor, !l->is_unix, &s);
  if (rc < 0) {
    /* libuv stops watching the listener until uv_accept is called. */
    eddy_log(EDDY_LOG_ERROR, "accept.error", "port=%d error=%s", l->port,
             eddy_err_name(rc));
    return;
  }
  rc = uv_accept(server, eddy__stream_handle(s));
  if (rc < 0) {
    eddy__stream_discard(s);
    eddy_log(EDDY_LOG_WARN, "accept.error", "port=%d error=%s", l->port,
             eddy_err_name(rc));
    return;
  }
  eddy_addr_t peer;
  int known = eddy_transport_get_peer(eddy__stream_transport(s), &peer) == 0;
  eddy_protocol_t *p =
      l->factory->build_protocol(l->factory, known ? &peer : NULL);
  if (p == NULL) {
    eddy__stream_discard(s); /* refused */
    return;
  }
  p->factory = l->factory;
  eddy__stream_start(s, p);
}

static int bind_tcp(eddy_listener_t *l, const eddy_endpoint_t *ep) {
  int v6only = ep->kind == EDDY_ENDPOINT_TCP6;
  const char *host = ep->host[0] != '\0' ? ep->host
                     : v6only            ? "::1"
                                         : "127.0.0.1";
  struct sockaddr_storage ss;
  int rc = UV_EINVAL;
  if (!v6only)
    rc = uv_ip4_addr(host, ep->port, (struct sockaddr_in *)&ss);
  /* tcp: also takes a v6 literal (dual-stack on "::"); tcp6: v6 only. */
  unsigned flags = v6only ? UV_TCP_IPV6ONLY : 0;
  if (rc < 0)
    rc = uv_ip6_addr(host, ep->port, (struct sockaddr_in6 *)&ss);
  if (rc < 0)
    return UV_EINVAL; /* not an IP address */
  return uv_tcp_bind(&l->h.tcp, (const struct sockaddr *)&ss, flags);
}

/* A socket file left by a process that died is removed, but only when it is
 * a socket and nothing answers on it; anything else is someone's. */
static int clear_stale(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0)
    return errno == ENOENT ? 0 : -errno;
  if (!S_ISSOCK(st.st_mode))
    return UV_EADDRINUSE;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  struct sockaddr_un sun;
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  memcpy(sun.sun_path, path, strlen(path) + 1);
  int r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
  int e = errno;
  close(fd);
  if (r == 0 || e == EAGAIN || e == EINPROGRESS)
    return UV_EADDRINUSE; /* a live listener (possibly with a full backlog) */
  if (e != ECONNREFUSED)
    return -e;
  if (unlink(path) != 0 && errno != ENOENT)
    return -errno;
  return 0;
}

static int bind_unix(eddy_listener_t *l, const eddy_endpoint_t *ep) {
  size_t len = strnlen(ep->path, sizeof(ep->path));
  if (len == 0)
    return UV_EINVAL;
  /* libuv would silently truncate a longer path. */
  if (len >= sizeof(((struct sockaddr_un *)0)->sun_path))
    return UV_ENAMETOOLONG;
  if (ep->mode > 07777)
    return UV_EINVAL;
  memcpy(l->path, ep->path, len + 1);
  int rc = clear_stale(l->path);
  if (rc < 0)
    return rc;
  /* Bound here rather than with uv_pipe_bind: libuv would unlink the path
   * on close whatever file it names by then; we unlink only our own. */
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  struct sockaddr_un sun;
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  memcpy(sun.sun_path, l->path, len + 1);
  if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
    rc = -errno;
    close(fd);
    return rc;
  }
  rc = uv_pipe_open(&l->h.pipe, fd);
  if (rc < 0) {
    close(fd);
    unlink(l->path);
    return rc;
  }
  struct stat st;
  if (lstat(l->path, &st) == 0) {
    l->created = 1;
    l->dev = st.st_dev;
    l->ino = st.st_ino;
  }
  if (ep->mode != 0 && chmod(l->path, (mode_t)ep->mode) != 0)
    return -errno;
  return 0;
}

static void fill_address(eddy_listener_t *l) {
  eddy_addr_t *a = &l->addr;
  memset(a, 0, sizeof(*a));
  if (l->is_unix) {
    struct sockaddr_un *sun = (struct sockaddr_un *)&a->ss;
    size_t n = strlen(l->path);
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, l->path, n + 1);
    a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return;
  }
  int len = (int)sizeof(a->ss);
  if (uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)&a->ss, &len) == 0) {
    a->len = (socklen_t)len;
    l->port = eddy_addr_port(a);
  }
}

static void log_listening(const eddy_listener_t *l, const eddy_endpoint_t *ep) {
  eddy_endpoint_t bound = *ep;
  bound.port = (uint16_t)l->port;
  char text[EDDY_ENDPOINT_HOST_MAX + EDDY_ENDPOINT_PATH_MAX + 64];
  char quoted[2 * sizeof(text) + 3];
  eddy_endpoint_format(&bound, text, sizeof(text));
  eddy_log(EDDY_LOG_INFO, "listening", "endpoint=%s port=%d",
           eddy_log_quote(quoted, sizeof(quoted), text), l->port);
}

int eddy_listen_endpoint(eddy_reactor_t *r, const eddy_endpoint_t *ep,
                         eddy_factory_t *f, eddy_listener_t **out) {
  if (out != NULL)
    *out = NULL;
  if (r == NULL || ep == NULL || f == NULL || f->build_protocol == NULL ||
      out == NULL)
    return UV_EINVAL;
  int is_unix = ep->kind == EDDY_ENDPOINT_UNIX;
  if (!is_unix && ep->kind != EDDY_ENDPOINT_TCP &&
      ep->kind != EDDY_ENDPOINT_TCP6)
    return UV_EINVAL;
  eddy_listener_t *l = calloc(1, sizeof(*l));
  if (l == NULL)
    return UV_ENOMEM;
  l->reactor = r;
  l->factory = f;
  l->is_unix = is_unix;
  uv_loop_t *loop = eddy_reactor_loop(r);
  int rc = is_unix ? uv_pipe_init(loop, &l->h.pipe, 0)
                   : uv_tcp_init(loop, &l->h.tcp);
  if (rc < 0) {
    free(l);
    return rc;
  }
  l->h.handle.data = l;
  eddy__reactor_live(r, EDDY__LIVE_LISTENER, 1);

  rc = is_unix ? bind_unix(l, ep) : bind_tcp(l, ep);
  if (rc == 0) {
    int backlog = ep->backlog > 0 ? ep->backlog : EDDY_ENDPOINT_BACKLOG_DEFAULT;
    rc = uv_listen(&l->h.stream, backlog, on_connection);
  }
  if (rc < 0) {
    char where[EDDY_ENDPOINT_HOST_MAX + EDDY_ENDPOINT_PATH_MAX + 64];
    char quoted[2 * sizeof(where) + 3];
    eddy_endpoint_format(ep, where, sizeof(where));
    eddy_log(EDDY_LOG_ERROR, "listen.error", "endpoint=%s error=%s",
             eddy_log_quote(quoted, sizeof(quoted), where), eddy_err_name(rc));
    listener_start_close(l, NULL, NULL); /* unlinks a socket file we made */
    return rc;
  }
  fill_address(l);
  log_listening(l, ep);
  *out = l;
  return 0;
}

int eddy_listen(eddy_reactor_t *r, const char *endpoint, eddy_factory_t *f,
                eddy_listener_t **out) {
  if (out != NULL)
    *out = NULL;
  if (endpoint == NULL)
    return UV_EINVAL;
  eddy_endpoint_t ep;
  eddy_endpoint_error_t err;
  int rc = eddy_endpoint_parse_server(endpoint, &ep, &err);
  if (rc < 0) {
    char q1[512], q2[sizeof(err.message) * 2 + 3];
    eddy_log(EDDY_LOG_ERROR, "listen.error", "endpoint=%s pos=%zu error=%s",
             eddy_log_quote(q1, sizeof(q1), endpoint), err.pos,
             eddy_log_quote(q2, sizeof(q2), err.message));
    return rc;
  }
  return eddy_listen_endpoint(r, &ep, f, out);
}

int eddy_listener_port(const eddy_listener_t *l) {
  return l->port;
}

int eddy_listener_address(const eddy_listener_t *l, eddy_addr_t *out) {
  if (out == NULL)
    return UV_EINVAL;
  *out = l->addr;
  return 0;
}

void eddy_listener_close(eddy_listener_t *l, eddy_call_cb cb, void *arg) {
  if (l == NULL || l->closing)
    return;
  listener_start_close(l, cb, arg);
}
