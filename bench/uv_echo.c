/* uv-echo — a plain libuv echo server: the floor eddy's echo is measured
 * against.
 *
 *   uv-echo [PORT]          (default 0: any free port; 127.0.0.1 only)
 *
 * Written the way a careful libuv programmer would write it, so the floor is
 * honest: one read buffer per connection, reused while nothing is queued;
 * uv_try_write first (on loopback the kernel nearly always takes the whole
 * reply at once, with no request allocated), and a uv_write of the rest
 * only when the socket is full. Flow control follows eddy's defaults, so
 * both servers run the same policy: reading stops while more than 64 KiB
 * wait to be written and resumes at 16 KiB. Logs "event=listening port=N"
 * on stderr and exits 0 on SIGINT/SIGTERM.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define READ_SIZE 65536
#define MAX_QUEUED (64u * 1024u) /* resume at a quarter: 16 KiB */

typedef struct conn_s {
  uv_tcp_t tcp;
  char *rbuf;    /* one read buffer, reused: unwritten bytes are copied */
  size_t queued; /* bytes in uv_write requests */
  int reading;
} conn_t;

typedef struct write_s {
  uv_write_t req;
  conn_t *conn;
  char *data; /* malloc'd copy of what try_write did not take */
  size_t len;
} write_t;

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sigint_h, sigterm_h;

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  conn_t *c = h->data;
  if (c->rbuf == NULL)
    c->rbuf = malloc(READ_SIZE);
  *buf = uv_buf_init(c->rbuf, c->rbuf != NULL ? READ_SIZE : 0);
}

static void on_close(uv_handle_t *h) {
  conn_t *c = h->data;
  free(c->rbuf);
  free(c);
}

static void close_conn(conn_t *c) {
  if (!uv_is_closing((uv_handle_t *)&c->tcp))
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void on_write(uv_write_t *req, int status) {
  write_t *w = req->data;
  conn_t *c = w->conn;
  c->queued -= w->len;
  free(w->data);
  free(w);
  if (status < 0) {
    close_conn(c);
    return;
  }
  if (!c->reading && c->queued <= MAX_QUEUED / 4 &&
      !uv_is_closing((uv_handle_t *)&c->tcp)) {
    c->reading = 1;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = s->data;
  if (n < 0) {
    close_conn(c);
    return;
  }
  if (n == 0)
    return;
  uv_buf_t out = uv_buf_init(buf->base, (unsigned)n);
  /* Only write directly when nothing is queued, or bytes would reorder. */
  int done = c->queued == 0 ? uv_try_write(s, &out, 1) : 0;
  if (done == UV_EAGAIN)
    done = 0;
  if (done < 0) {
    close_conn(c);
    return;
  }
  if ((size_t)done == (size_t)n)
    return;
  write_t *w = malloc(sizeof(*w));
  char *copy = malloc((size_t)n - (size_t)done);
  if (w == NULL || copy == NULL) {
    free(w);
    free(copy);
    close_conn(c);
    return;
  }
  memcpy(copy, buf->base + done, (size_t)n - (size_t)done);
  w->conn = c;
  w->data = copy;
  w->len = (size_t)n - (size_t)done;
  w->req.data = w;
  uv_buf_t rest = uv_buf_init(copy, (unsigned)w->len);
  if (uv_write(&w->req, s, &rest, 1, on_write) != 0) {
    free(copy);
    free(w);
    close_conn(c);
    return;
  }
  c->queued += w->len;
  if (c->queued > MAX_QUEUED) {
    c->reading = 0;
    uv_read_stop(s);
  }
}

static void on_connection(uv_stream_t *srv, int status) {
  if (status < 0)
    return;
  conn_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return;
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(srv, (uv_stream_t *)&c->tcp) != 0) {
    close_conn(c);
    return;
  }
  /* Every server in the comparison answers small messages at once. */
  uv_tcp_nodelay(&c->tcp, 1);
  c->reading = 1;
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void close_any(uv_handle_t *h, void *arg) {
  if (h->type == UV_TCP && h != (uv_handle_t *)&server)
    close_conn(h->data);
  else if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
  uv_walk(loop, close_any, NULL);
}

int main(int argc, char **argv) {
  if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
    fprintf(stderr, "usage: uv-echo [PORT]\n");
    return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
  }
  int port = argc == 2 ? atoi(argv[1]) : 0;
  signal(SIGPIPE, SIG_IGN); /* a vanished client is an EPIPE, not a death */
  loop = uv_default_loop();
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", port, &addr);
  uv_tcp_init(loop, &server);
  int rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&server, 511, on_connection);
  if (rc != 0) {
    fprintf(stderr, "uv-echo: %s\n", uv_strerror(rc));
    return 1;
  }
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  uv_tcp_getsockname(&server, (struct sockaddr *)&ss, &len);
  fprintf(stderr, "event=listening port=%d\n",
          ntohs(((struct sockaddr_in *)&ss)->sin_port));
  uv_signal_init(loop, &sigint_h);
  uv_signal_init(loop, &sigterm_h);
  uv_signal_start(&sigint_h, on_signal, SIGINT);
  uv_signal_start(&sigterm_h, on_signal, SIGTERM);
  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0 ? 0 : 1;
}
