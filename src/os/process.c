/* process.c — child processes as protocols.
 *
 * A process owns up to four libuv handles: the process and one pipe per
 * piped standard stream. `ended` waits for the exit AND for EOF on stdout
 * and stderr, because the exit notification (SIGCHLD) and the last bytes in
 * the pipes arrive in no particular order. Reading starts only once
 * `started` has run, so no output can overtake it.
 */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/reactor_internal.h"
#include "eddy/error.h"
#include "eddy/log.h"
#include "eddy/process.h"

/* Bytes queued for the child's stdin beyond which writes are refused: a
 * child that does not read must not make the parent grow without bound. */
#define STDIN_QUEUE_MAX (16u * 1024u * 1024u)
#define READ_BUF_SIZE (64u * 1024u)

struct eddy_process_s {
  uv_process_t proc;
  uv_pipe_t pipes[3];
  uv_shutdown_t shutdown_req;
  eddy_reactor_t *r;
  eddy_process_ops_t ops;
  void *data;
  eddy__soon_t started_soon;
  pid_t pid;
  int piped[3];   /* pipes[i] was initialised */
  int reading[2]; /* stdout, stderr: not at EOF yet */
  int stdin_shut; /* closed or not a pipe: writes refused */
  int handles;    /* handles not yet closed */
  int started;    /* `started` delivered, reading began */
  int exited;     /* exit status known */
  int ended;      /* `ended` delivered, teardown begun */
  int64_t exit_status;
  int term_signal;
  size_t stdin_queued;
  char buf[READ_BUF_SIZE]; /* one read at a time per loop: safe to share */
};

typedef struct write_req_s {
  uv_write_t req;
  eddy_process_t *p;
  size_t len;
  char data[];
} write_req_t;

static void handle_closed(uv_handle_t *h) {
  eddy_process_t *p = h->data;
  if (--p->handles == 0) {
    eddy_reactor_t *r = p->r;
    free(p);
    eddy__reactor_live(r, EDDY__LIVE_PROCESS, -1);
  }
}

static void close_handle(uv_handle_t *h) {
  if (!uv_is_closing(h))
    uv_close(h, handle_closed);
}

/* Closes everything still open; the last close callback frees p. */
static void teardown(eddy_process_t *p) {
  for (int i = 0; i < 3; i++)
    if (p->piped[i])
      close_handle((uv_handle_t *)&p->pipes[i]);
  close_handle((uv_handle_t *)&p->proc);
}

static void maybe_end(eddy_process_t *p) {
  if (p->ended || !p->started || !p->exited || p->reading[0] || p->reading[1])
    return;
  p->ended = 1;
  int reason = 0;
  if (p->term_signal != 0)
    reason = EDDY_EPROCSIGNAL;
  else if (p->exit_status != 0)
    reason = EDDY_EPROCEXIT;
  if (p->ops.ended != NULL)
    p->ops.ended(p, reason, p->exit_status, p->term_signal);
  teardown(p);
}

static void proc_exited(uv_process_t *h, int64_t exit_status, int term_signal) {
  eddy_process_t *p = h->data;
  p->exited = 1;
  p->exit_status = exit_status;
  p->term_signal = term_signal;
  maybe_end(p);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  eddy_process_t *p = h->data;
  *buf = uv_buf_init(p->buf, sizeof(p->buf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  eddy_process_t *p = s->data;
  int idx = s == (uv_stream_t *)&p->pipes[1] ? 0 : 1;
  if (nread > 0) {
    void (*cb)(eddy_process_t *, const char *, size_t) =
        idx == 0 ? p->ops.out_received : p->ops.err_received;
    if (cb != NULL)
      cb(p, buf->base, (size_t)nread);
    return;
  }
  if (nread == 0)
    return; /* EAGAIN */
  if (nread != UV_EOF)
    eddy_log(EDDY_LOG_WARN, "process.read_error", "pid=%d stream=%s err=%s",
             (int)p->pid, idx == 0 ? "stdout" : "stderr",
             eddy_err_name((int)nread));
  /* The pipe is done either way; an error is as final as EOF. */
  p->reading[idx] = 0;
  uv_read_stop(s);
  close_handle((uv_handle_t *)s);
  maybe_end(p);
}

static void start_reading(eddy_process_t *p, int idx) {
  uv_stream_t *s = (uv_stream_t *)&p->pipes[idx + 1];
  int rc = uv_read_start(s, on_alloc, on_read);
  if (rc != 0) {
    eddy_log(EDDY_LOG_WARN, "process.read_error", "pid=%d stream=%s err=%s",
             (int)p->pid, idx == 0 ? "stdout" : "stderr", eddy_err_name(rc));
    p->reading[idx] = 0;
    close_handle((uv_handle_t *)s);
  }
}

static void deliver_started(void *arg) {
  eddy_process_t *p = arg;
  p->started = 1;
  if (p->ops.started != NULL)
    p->ops.started(p);
  for (int i = 0; i < 2; i++)
    if (p->reading[i])
      start_reading(p, i);
  maybe_end(p);
}

int eddy_spawn(eddy_reactor_t *r, const eddy_spawn_opts_t *o,
               const eddy_process_ops_t *ops, eddy_process_t **out) {
  if (r == NULL || o == NULL || o->file == NULL || out == NULL)
    return UV_EINVAL;
  for (int i = 0; i < 3; i++)
    if (o->stdio[i] != EDDY_STDIO_PIPE && o->stdio[i] != EDDY_STDIO_INHERIT &&
        o->stdio[i] != EDDY_STDIO_IGNORE)
      return UV_EINVAL;

  eddy_process_t *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return UV_ENOMEM;
  p->r = r;
  if (ops != NULL)
    p->ops = *ops;
  p->data = o->data;
  eddy__reactor_live(r, EDDY__LIVE_PROCESS, +1);

  uv_loop_t *loop = eddy_reactor_loop(r);
  uv_stdio_container_t stdio[3];
  for (int i = 0; i < 3; i++) {
    switch (o->stdio[i]) {
    case EDDY_STDIO_PIPE:
      /* Cannot fail for a non-IPC pipe on Unix. */
      uv_pipe_init(loop, &p->pipes[i], 0);
      p->pipes[i].data = p;
      p->piped[i] = 1;
      p->handles++;
      /* Flags are from the child's point of view. */
      stdio[i].flags =
          UV_CREATE_PIPE | (i == 0 ? UV_READABLE_PIPE : UV_WRITABLE_PIPE);
      stdio[i].data.stream = (uv_stream_t *)&p->pipes[i];
      break;
    case EDDY_STDIO_INHERIT:
      stdio[i].flags = UV_INHERIT_FD;
      stdio[i].data.fd = i;
      break;
    default:
      stdio[i].flags = UV_IGNORE; /* libuv opens /dev/null for fds 0-2 */
      break;
    }
  }
  p->reading[0] = p->piped[1];
  p->reading[1] = p->piped[2];
  p->stdin_shut = !p->piped[0];

  char *default_args[2] = {(char *)o->file, NULL};
  uv_process_options_t po;
  memset(&po, 0, sizeof(po));
  po.exit_cb = proc_exited;
  po.file = o->file;
  po.args = o->args != NULL ? (char **)o->args : default_args;
  po.env = (char **)o->env;
  po.cwd = o->cwd;
  po.stdio_count = 3;
  po.stdio = stdio;

  p->proc.data = p;
  p->handles++;
  int rc = uv_spawn(loop, &p->proc, &po);
  if (rc != 0) {
    /* The handles exist even though the spawn failed; they are closed (and
     * p freed) on a later iteration, and no user callback ever runs. */
    p->ended = 1;
    teardown(p);
    return rc;
  }
  p->pid = p->proc.pid;
  eddy__reactor_soon(r, &p->started_soon, deliver_started, p);
  *out = p;
  return 0;
}

static void write_done(uv_write_t *req, int status) {
  write_req_t *w = (write_req_t *)req;
  eddy_process_t *p = w->p;
  p->stdin_queued -= w->len;
  if (status != 0 && status != UV_ECANCELED)
    eddy_log(EDDY_LOG_DEBUG, "process.stdin_error", "pid=%d err=%s",
             (int)p->pid, eddy_err_name(status));
  free(w);
}

int eddy_process_write(eddy_process_t *p, const void *data, size_t len) {
  if (p == NULL || (data == NULL && len > 0))
    return UV_EINVAL;
  if (p->stdin_shut || p->ended)
    return UV_EPIPE;
  if (len == 0)
    return 0;
  if (len > STDIN_QUEUE_MAX - p->stdin_queued)
    return UV_ENOBUFS;
  write_req_t *w = malloc(sizeof(*w) + len);
  if (w == NULL)
    return UV_ENOMEM;
  memcpy(w->data, data, len);
  w->p = p;
  w->len = len;
  uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
  int rc = uv_write(&w->req, (uv_stream_t *)&p->pipes[0], &b, 1, write_done);
  if (rc != 0) {
    free(w);
    return rc;
  }
  p->stdin_queued += len;
  return 0;
}

static void stdin_shut_done(uv_shutdown_t *req, int status) {
  (void)status; /* the child may have gone already; EOF is moot then */
  eddy_process_t *p = req->data;
  close_handle((uv_handle_t *)&p->pipes[0]);
}

void eddy_process_close_stdin(eddy_process_t *p) {
  if (p == NULL || p->stdin_shut)
    return;
  p->stdin_shut = 1;
  uv_handle_t *h = (uv_handle_t *)&p->pipes[0];
  if (uv_is_closing(h))
    return;
  /* Shutdown waits for queued writes, then the close delivers EOF. */
  p->shutdown_req.data = p;
  if (uv_shutdown(&p->shutdown_req, (uv_stream_t *)h, stdin_shut_done) != 0)
    close_handle(h);
}

int eddy_process_kill(eddy_process_t *p, int signum) {
  if (p == NULL)
    return UV_EINVAL;
  if (p->exited)
    return UV_ESRCH;
  return uv_process_kill(&p->proc, signum);
}

pid_t eddy_process_pid(const eddy_process_t *p) {
  return p->pid;
}

void *eddy_process_data(const eddy_process_t *p) {
  return p->data;
}
