/* stream.c — the transport over a libuv stream (TCP or Unix socket).
 *
 * Writes take the fast path whenever nothing is queued: one uv_try_write
 * straight from the caller's memory, no copy. Only what the kernel did not
 * take is queued, as a list of chunks: copies (small writes append to the
 * tail chunk, so a burst of them leaves as one system call) and references to
 * shared slices. At most one uv_write is in flight; it carries every queued
 * chunk (up to WRITE_IOV_MAX) as one iovec list, and when it completes the
 * next one carries whatever was queued meanwhile.
 *
 * Closing always goes through uv_close; the close callback delivers
 * connection_lost and frees the memory, so a protocol may close its
 * connection from inside any callback without pulling memory from under the
 * code that called it. */
#include "net/stream_internal.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "core/reactor_internal.h"
#include "net/transport_internal.h"

/* One read buffer per thread (so per reactor), shared by all its streams:
 * data_received must not keep the pointer, and libuv reads one stream at a
 * time between alloc_cb and read_cb, so sharing is safe and per-connection
 * memory stays small. Freed when the thread's last stream goes. */
#define READ_BUF_SIZE (64u * 1024u)
/* A new copy chunk has at least this much room, for later small writes. */
#define CHUNK_MIN (4u * 1024u)
/* Slices this small are copied rather than referenced: cheaper than a
 * chunk of their own, and they coalesce with neighbouring writes. */
#define SLICE_COPY_MAX 512u
/* Chunks per uv_write; libuv copies the iovec array anyway. */
#define WRITE_IOV_MAX 16u

static _Thread_local struct {
  char *mem;
  size_t users;
} readbuf;

enum {
  F_TCP = 1u << 0,
  F_STARTED = 1u << 1,     /* connection_made delivered */
  F_READING = 1u << 2,     /* uv_read_start is active */
  F_READ_PAUSED = 1u << 3, /* the protocol paused reading */
  F_EOF = 1u << 4,         /* the peer sent EOF */
  F_SHUT_WANTED = 1u << 5, /* shutdown_write: send EOF once flushed */
  F_SHUT_STARTED = 1u << 6,
  F_SHUT_DONE = 1u << 7,
  F_CLOSE_FLUSHED = 1u << 8, /* close once the queue is written */
  F_CLOSED = 1u << 9,        /* uv_close was called */
  F_WRITING = 1u << 10       /* a uv_write is in flight */
};

typedef struct chunk_s chunk_t;
struct chunk_s {
  chunk_t *next;
  eddy_slice_t *slice; /* shared payload, or NULL: the bytes follow */
  char *base;          /* first byte not yet written */
  size_t len;          /* bytes not yet written */
  size_t room;         /* copy chunks: free space after base + len */
};

struct eddy__stream_s {
  eddy_transport_t base;
  chunk_t *head;
  chunk_t *tail;
  size_t queued;   /* bytes not yet written, those in flight included */
  size_t inflight; /* bytes handed to the current uv_write */
  uv_shutdown_t *sreq;
  int lost_reason;
  unsigned flags;
  /* Allocated only while a uv_write is in flight (F_WRITING): most writes
   * leave through uv_try_write, and an idle connection should not carry a
   * 192-byte request it rarely uses. */
  uv_write_t *wreq;
  eddy__socket_handle_t h;
};

static void do_close(eddy__stream_t *s, int reason);
static void stream_lose_connection(eddy_transport_t *t);

/* ---- Chunks ------------------------------------------------------------- */

static void chunk_free(chunk_t *c) {
  if (c->slice != NULL)
    eddy_slice_unref(c->slice);
  free(c);
}

static void chunk_append(eddy__stream_t *s, chunk_t *c) {
  c->next = NULL;
  if (s->tail != NULL)
    s->tail->next = c;
  else
    s->head = c;
  s->tail = c;
}

/* Drops n written bytes from the front of the queue. */
static void queue_consume(eddy__stream_t *s, size_t n) {
  s->queued -= n;
  while (n > 0) {
    chunk_t *c = s->head;
    if (n < c->len) {
      c->base += n;
      c->len -= n;
      return;
    }
    n -= c->len;
    s->head = c->next;
    if (s->head == NULL)
      s->tail = NULL;
    chunk_free(c);
  }
}

static void queue_drop(eddy__stream_t *s) {
  while (s->head != NULL) {
    chunk_t *c = s->head;
    s->head = c->next;
    chunk_free(c);
  }
  s->tail = NULL;
  s->queued = 0;
}

/* Queues copies of the bytes of bufs after the first `skip` (`rest` bytes):
 * into the tail chunk's free room first, then one new chunk for the
 * remainder. All or nothing: the only allocation happens before any copy. A
 * tail chunk that is part of the uv_write in flight may still grow, since
 * libuv only reads the range it was given. */
static int queue_copy(eddy__stream_t *s, const uv_buf_t *bufs, size_t n,
                      size_t skip, size_t rest) {
  chunk_t *tail = s->tail;
  size_t room = (tail != NULL && tail->slice == NULL) ? tail->room : 0;
  chunk_t *extra = NULL;
  if (rest > room) {
    size_t need = rest - room;
    size_t cap = need < CHUNK_MIN ? CHUNK_MIN : need;
    extra = malloc(sizeof(*extra) + cap);
    if (extra == NULL)
      return UV_ENOMEM;
    extra->slice = NULL;
    extra->base = (char *)(extra + 1);
    extra->len = 0;
    extra->room = cap;
  }
  chunk_t *dst = room > 0 ? tail : extra;
  for (size_t i = 0; i < n; i++) {
    const char *p = bufs[i].base;
    size_t len = bufs[i].len;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    p += skip;
    len -= skip;
    skip = 0;
    while (len > 0) {
      if (dst->room == 0)
        dst = extra;
      size_t k = len < dst->room ? len : dst->room;
      memcpy(dst->base + dst->len, p, k);
      dst->len += k;
      dst->room -= k;
      p += k;
      len -= k;
    }
  }
  if (extra != NULL)
    chunk_append(s, extra);
  s->queued += rest;
  return 0;
}

/* ---- Writing ------------------------------------------------------------ */

static void write_cb(uv_write_t *req, int status);

/* Starts a uv_write of the queue when none is in flight. */
static int flush(eddy__stream_t *s) {
  if ((s->flags & (F_WRITING | F_CLOSED)) || s->head == NULL)
    return 0;
  uv_buf_t bufs[WRITE_IOV_MAX];
  unsigned n = 0;
  size_t bytes = 0;
  for (chunk_t *c = s->head; c != NULL && n < WRITE_IOV_MAX; c = c->next) {
    bufs[n].base = c->base;
    bufs[n].len = c->len;
    bytes += c->len;
    n++;
  }
  uv_write_t *req = malloc(sizeof(*req));
  if (req == NULL) {
    do_close(s, UV_ENOMEM);
    return UV_ENOMEM;
  }
  req->data = s;
  int rc = uv_write(req, &s->h.stream, bufs, n, write_cb);
  if (rc < 0) {
    free(req);
    do_close(s, rc);
    return rc;
  }
  s->wreq = req;
  s->flags |= F_WRITING;
  s->inflight = bytes;
  return 0;
}

static void shutdown_cb(uv_shutdown_t *req, int status) {
  eddy__stream_t *s = req->data;
  free(req);
  s->sreq = NULL;
  if (status < 0) {
    do_close(s, status); /* nothing happens when already closed */
    return;
  }
  s->flags |= F_SHUT_DONE;
  /* Both directions are finished: nothing can happen any more. */
  if (s->flags & F_EOF)
    do_close(s, 0);
}

static int start_shutdown(eddy__stream_t *s) {
  uv_shutdown_t *req = s->sreq;
  req->data = s;
  int rc = uv_shutdown(req, &s->h.stream, shutdown_cb);
  if (rc < 0) {
    free(req);
    s->sreq = NULL;
    do_close(s, rc);
    return rc;
  }
  s->flags |= F_SHUT_STARTED;
  return 0;
}

static void write_cb(uv_write_t *req, int status) {
  eddy__stream_t *s = req->data;
  size_t bytes = s->inflight;
  free(req);
  s->wreq = NULL;
  s->flags &= ~F_WRITING;
  s->inflight = 0;
  if (status < 0) {
    /* UV_ECANCELED when we closed: the close callback frees the queue. */
    do_close(s, status);
    return;
  }
  queue_consume(s, bytes);
  if (s->flags & F_CLOSED)
    return;
  if (s->head != NULL) {
    if (flush(s) < 0)
      return;
  } else if (s->flags & F_CLOSE_FLUSHED) {
    do_close(s, 0);
    return;
  } else if ((s->flags & (F_SHUT_WANTED | F_SHUT_STARTED)) == F_SHUT_WANTED) {
    if (start_shutdown(s) < 0)
      return;
  }
  eddy_transport_check_water(&s->base);
}

/* One write attempt straight from the caller's memory; returns the bytes the
 * kernel took (0 when it took none or failed: a hard error shows up again on
 * the queued uv_write, which closes the connection with it). */
static size_t try_write(eddy__stream_t *s, const uv_buf_t *bufs, size_t n) {
  unsigned nbufs = n > UINT_MAX ? UINT_MAX : (unsigned)n;
  int rc = uv_try_write(&s->h.stream, bufs, nbufs);
  return rc > 0 ? (size_t)rc : 0;
}

/* After part of a write was queued: start writing, update flow control. */
static int queued_more(eddy__stream_t *s) {
  int rc = flush(s);
  if (rc < 0)
    return rc;
  eddy_transport_check_water(&s->base);
  return 0;
}

static int stream_writev(eddy_transport_t *t, const uv_buf_t *bufs, size_t n) {
  eddy__stream_t *s = (eddy__stream_t *)t;
  if (s->flags & (F_CLOSED | F_SHUT_WANTED))
    return UV_EPIPE;
  size_t total;
  int rc = eddy__transport_fits(bufs, n, s->queued, &total);
  if (rc != 0)
    return rc;
  if (total == 0)
    return 0;
  size_t done = 0;
  if (s->head == NULL) {
    done = try_write(s, bufs, n);
    if (done == total)
      return 0;
  }
  rc = queue_copy(s, bufs, n, done, total - done);
  if (rc < 0) {
    if (done > 0) /* the stream would have a hole in it */
      do_close(s, rc);
    return rc;
  }
  return queued_more(s);
}

static int stream_write_slice(eddy_transport_t *t, eddy_slice_t *sl) {
  eddy__stream_t *s = (eddy__stream_t *)t;
  if (s->flags & (F_CLOSED | F_SHUT_WANTED))
    return UV_EPIPE;
  uv_buf_t b;
  b.base = (char *)eddy_slice_data(sl);
  b.len = eddy_slice_len(sl);
  size_t total;
  int rc = eddy__transport_fits(&b, 1, s->queued, &total);
  if (rc != 0 || total == 0)
    return rc;
  size_t done = 0;
  if (s->head == NULL) {
    done = try_write(s, &b, 1);
    if (done == b.len)
      return 0;
  }
  size_t rest = b.len - done;
  if (rest <= SLICE_COPY_MAX) {
    rc = queue_copy(s, &b, 1, done, rest);
  } else {
    chunk_t *c = malloc(sizeof(*c));
    if (c == NULL) {
      rc = UV_ENOMEM;
    } else {
      c->slice = eddy_slice_ref(sl);
      c->base = b.base + done;
      c->len = rest;
      c->room = 0;
      chunk_append(s, c);
      s->queued += rest;
      rc = 0;
    }
  }
  if (rc < 0) {
    if (done > 0)
      do_close(s, rc);
    return rc;
  }
  return queued_more(s);
}

static size_t stream_write_buffer_size(const eddy_transport_t *t) {
  return ((const eddy__stream_t *)t)->queued;
}

/* ---- Reading ------------------------------------------------------------ */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  if (readbuf.mem == NULL)
    readbuf.mem = malloc(READ_BUF_SIZE);
  buf->base = readbuf.mem;
  buf->len = readbuf.mem != NULL ? READ_BUF_SIZE : 0; /* 0: UV_ENOBUFS */
}

static void read_cb(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf) {
  eddy__stream_t *s = h->data;
  if (nread > 0) {
    eddy_protocol_data_received(s->base.protocol, buf->base, (size_t)nread);
    return;
  }
  if (nread == 0)
    return;
  if (nread != UV_EOF) {
    do_close(s, (int)nread);
    return;
  }
  /* libuv stopped reading on EOF. */
  s->flags = (s->flags | F_EOF) & ~F_READING;
  int keep_open = eddy_protocol_eof_received(s->base.protocol);
  if ((s->flags & F_CLOSED) || s->base.closing)
    return; /* the protocol closed it meanwhile */
  if (!keep_open || (s->flags & F_SHUT_DONE))
    stream_lose_connection(&s->base);
}

static void read_start(eddy__stream_t *s) {
  int rc = uv_read_start(&s->h.stream, alloc_cb, read_cb);
  if (rc < 0)
    do_close(s, rc);
  else
    s->flags |= F_READING;
}

static void read_stop(eddy__stream_t *s) {
  if (s->flags & F_READING) {
    uv_read_stop(&s->h.stream);
    s->flags &= ~F_READING;
  }
}

static void stream_pause_reading(eddy_transport_t *t) {
  eddy__stream_t *s = (eddy__stream_t *)t;
  s->flags |= F_READ_PAUSED;
  read_stop(s);
}

static void stream_resume_reading(eddy_transport_t *t) {
  eddy__stream_t *s = (eddy__stream_t *)t;
  s->flags &= ~F_READ_PAUSED;
  if ((s->flags & (F_STARTED | F_CLOSED | F_EOF | F_READING)) == F_STARTED &&
      !t->closing)
    read_start(s);
}

/* ---- Closing ------------------------------------------------------------ */

static void close_cb(uv_handle_t *h) {
  eddy__stream_t *s = h->data;
  eddy_reactor_t *r = s->base.reactor;
  queue_drop(s);
  free(s->sreq); /* only set when the shutdown never started */
  if (s->base.protocol != NULL)
    eddy_protocol_connection_lost(s->base.protocol, s->lost_reason);
  eddy_transport_cleanup(&s->base);
  free(s);
  if (--readbuf.users == 0) {
    free(readbuf.mem);
    readbuf.mem = NULL;
  }
  eddy__reactor_live(r, EDDY__LIVE_TRANSPORT, -1);
}

static void do_close(eddy__stream_t *s, int reason) {
  if (s->flags & F_CLOSED)
    return;
  s->flags = (s->flags | F_CLOSED) & ~F_READING;
  s->base.closing = 1;
  s->lost_reason = reason;
  uv_close(&s->h.handle, close_cb);
}

static void stream_lose_connection(eddy_transport_t *t) {
  eddy__stream_t *s = (eddy__stream_t *)t;
  if (s->flags & F_CLOSED)
    return;
  t->closing = 1;
  read_stop(s);
  if (s->head == NULL)
    do_close(s, 0);
  else
    s->flags |= F_CLOSE_FLUSHED;
}

static void stream_abort_connection(eddy_transport_t *t) {
  do_close((eddy__stream_t *)t, UV_ECONNABORTED);
}

static int stream_shutdown_write(eddy_transport_t *t) {
  eddy__stream_t *s = (eddy__stream_t *)t;
  if (s->flags & F_CLOSED)
    return UV_EPIPE;
  if (s->flags & F_SHUT_WANTED)
    return 0;
  s->sreq = malloc(sizeof(*s->sreq));
  if (s->sreq == NULL)
    return UV_ENOMEM;
  s->flags |= F_SHUT_WANTED;
  return s->head == NULL ? start_shutdown(s) : 0;
}

/* ---- Addresses and options ---------------------------------------------- */

static int sock_name(const eddy__stream_t *s, int peer, eddy_addr_t *out) {
  memset(out, 0, sizeof(*out));
  uv_os_fd_t fd;
  int rc = uv_fileno(&s->h.handle, &fd);
  if (rc < 0)
    return rc;
  socklen_t len = sizeof(out->ss);
  struct sockaddr *sa = (struct sockaddr *)&out->ss;
  if ((peer ? getpeername(fd, sa, &len) : getsockname(fd, sa, &len)) != 0)
    return -errno;
  /* An unnamed Unix socket: the family is known, the address is not. */
  if (out->ss.ss_family == AF_UNIX &&
      len <= offsetof(struct sockaddr_un, sun_path))
    len = 0;
  out->len = len;
  return 0;
}

static int stream_get_host(const eddy_transport_t *t, eddy_addr_t *out) {
  return sock_name((const eddy__stream_t *)t, 0, out);
}

static int stream_get_peer(const eddy_transport_t *t, eddy_addr_t *out) {
  return sock_name((const eddy__stream_t *)t, 1, out);
}

static int stream_set_nodelay(eddy_transport_t *t, int on) {
  eddy__stream_t *s = (eddy__stream_t *)t;
  if (!(s->flags & F_TCP))
    return UV_ENOTSUP;
  return uv_tcp_nodelay(&s->h.tcp, on != 0);
}

static int stream_set_keepalive(eddy_transport_t *t, int on, unsigned delay_s) {
  eddy__stream_t *s = (eddy__stream_t *)t;
  if (!(s->flags & F_TCP))
    return UV_ENOTSUP;
  if (on && delay_s == 0)
    return UV_EINVAL;
  return uv_tcp_keepalive(&s->h.tcp, on != 0, delay_s);
}

static const eddy_transport_ops_t stream_ops = {
    .writev = stream_writev,
    .write_slice = stream_write_slice,
    .lose_connection = stream_lose_connection,
    .abort_connection = stream_abort_connection,
    .shutdown_write = stream_shutdown_write,
    .pause_reading = stream_pause_reading,
    .resume_reading = stream_resume_reading,
    .write_buffer_size = stream_write_buffer_size,
    .get_host = stream_get_host,
    .get_peer = stream_get_peer,
    .set_nodelay = stream_set_nodelay,
    .set_keepalive = stream_set_keepalive,
};

/* ---- For listen.c and connect.c ----------------------------------------- */

/* libuv writes with write(2), so a peer that went away raises SIGPIPE, whose
 * default action kills the process. A network library must not die of its
 * peers: while SIGPIPE still has its default action it is ignored, and the
 * write fails with UV_EPIPE instead. A handler the program installed is left
 * alone; children started by libuv get default dispositions back. */
static uv_once_t sigpipe_once = UV_ONCE_INIT;

static void ignore_sigpipe(void) {
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) != 0 || sa.sa_handler != SIG_DFL)
    return;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGPIPE, &sa, NULL);
}

int eddy__stream_new(eddy_reactor_t *r, int tcp, eddy__stream_t **out) {
  *out = NULL;
  uv_once(&sigpipe_once, ignore_sigpipe);
  eddy__stream_t *s = malloc(sizeof(*s));
  if (s == NULL)
    return UV_ENOMEM;
  eddy_transport_init(&s->base, &stream_ops, r);
  s->head = s->tail = NULL;
  s->queued = s->inflight = 0;
  s->sreq = NULL;
  s->wreq = NULL;
  s->lost_reason = 0;
  s->flags = tcp ? F_TCP : 0;
  uv_loop_t *loop = eddy_reactor_loop(r);
  int rc =
      tcp ? uv_tcp_init(loop, &s->h.tcp) : uv_pipe_init(loop, &s->h.pipe, 0);
  if (rc < 0) {
    free(s);
    return rc;
  }
  s->h.handle.data = s;
  readbuf.users++;
  eddy__reactor_live(r, EDDY__LIVE_TRANSPORT, 1);
  *out = s;
  return 0;
}

uv_stream_t *eddy__stream_handle(eddy__stream_t *s) {
  return &s->h.stream;
}

eddy_transport_t *eddy__stream_transport(eddy__stream_t *s) {
  return &s->base;
}

void eddy__stream_start(eddy__stream_t *s, eddy_protocol_t *p) {
  s->base.protocol = p;
  s->flags |= F_STARTED;
  if (s->flags & F_TCP)
    uv_tcp_nodelay(&s->h.tcp, 1); /* best effort; see transport.h */
  p->transport = &s->base;
  eddy_protocol_connection_made(p, &s->base);
  if (!(s->flags & (F_CLOSED | F_READ_PAUSED)) && !s->base.closing)
    read_start(s);
}

void eddy__stream_discard(eddy__stream_t *s) {
  do_close(s, 0);
}
