/* echo — the smallest useful eddy server: every byte received is sent back.
 *
 *   echo [-v] [LISTEN_ENDPOINT]        (default tcp:7700, loopback only)
 *
 * What it shows:
 *  - a protocol (per-connection state) built by a factory (shared state);
 *  - listening on an endpoint string, including `tcp:0` (any free port) and
 *    `unix:PATH`, with a parse error that points at the bad character;
 *  - backpressure: a client that sends but does not read makes the server
 *    stop reading from it, so its replies cannot pile up in memory;
 *  - a graceful stop on SIGINT/SIGTERM: stop accepting, let each connection
 *    flush what it owes, then leave with every handle closed.
 */
#include <eddy/eddy.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define DEFAULT_ENDPOINT "tcp:7700"
#define MAX_CONNECTIONS 10000
/* How long a graceful stop waits for slow clients before cutting them off. */
#define GRACE_MS 3000

typedef struct conn_s conn_t;

/* Shared by every connection: it is the factory's data. */
typedef struct server_s {
  eddy_reactor_t *reactor;
  eddy_factory_t factory;
  eddy_listener_t *listener;
  conn_t *conns; /* open connections, so a stop can close them */
  size_t nconns;
  int stopping;
  eddy_timer_t grace;
} server_t;

/* One per connection. The protocol is the first member so the library's
 * eddy_protocol_t * converts back to conn_t * with a cast. */
struct conn_s {
  eddy_protocol_t protocol;
  server_t *server;
  conn_t *prev, *next;
  char peer[64];
};

static void echo_connection_made(eddy_protocol_t *p) {
  conn_t *c = (conn_t *)p;
  /* Answers are small and wanted at once: do not let Nagle hold one back
   * while an earlier one awaits its ACK. (Unix sockets say UV_ENOTSUP.) */
  eddy_transport_set_nodelay(p->transport, 1);
  eddy_log(EDDY_LOG_DEBUG, "connection.made", "peer=%s", c->peer);
}

static void echo_data_received(eddy_protocol_t *p, const char *data,
                               size_t len) {
  /* The transport copies the bytes (and coalesces small writes made in one
   * loop iteration into one system call), so `data` need not outlive us. */
  eddy_transport_write(p->transport, data, len);
}

/* The client's replies are queuing up faster than it reads them: stop
 * reading its requests until the queue drains. */
static void echo_pause_writing(eddy_protocol_t *p) {
  eddy_transport_pause_reading(p->transport);
}

static void echo_resume_writing(eddy_protocol_t *p) {
  eddy_transport_resume_reading(p->transport);
}

static void echo_connection_lost(eddy_protocol_t *p, int reason) {
  conn_t *c = (conn_t *)p;
  if (reason == 0)
    eddy_log(EDDY_LOG_DEBUG, "connection.closed", "peer=%s", c->peer);
  else
    eddy_log(EDDY_LOG_DEBUG, "connection.lost", "peer=%s error=%s", c->peer,
             eddy_err_name(reason));
}

/* The last callback: unlink and free. */
static void echo_destroy(eddy_protocol_t *p) {
  conn_t *c = (conn_t *)p;
  server_t *s = c->server;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  s->nconns--;
  free(c);
  /* Once the last connection is gone nothing keeps the loop running, and
   * eddy_reactor_run returns by itself. */
  if (s->stopping && s->nconns == 0)
    eddy_timer_stop(&s->grace);
}

/* eof_received is left NULL: when the client half-closes, the connection is
 * closed cleanly once every echoed byte has been written. */
static const eddy_protocol_ops_t echo_ops = {
    .connection_made = echo_connection_made,
    .data_received = echo_data_received,
    .connection_lost = echo_connection_lost,
    .pause_writing = echo_pause_writing,
    .resume_writing = echo_resume_writing,
    .destroy = echo_destroy,
};

static eddy_protocol_t *build_echo(eddy_factory_t *f, const eddy_addr_t *peer) {
  server_t *s = f->data;
  if (s->stopping || s->nconns >= MAX_CONNECTIONS) {
    eddy_log(EDDY_LOG_WARN, "connection.refused", "open=%zu", s->nconns);
    return NULL; /* the library closes the socket */
  }
  conn_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  eddy_protocol_init(&c->protocol, &echo_ops);
  c->server = s;
  eddy_addr_format(peer, c->peer, sizeof(c->peer));
  c->next = s->conns;
  if (s->conns != NULL)
    s->conns->prev = c;
  s->conns = c;
  s->nconns++;
  return &c->protocol;
}

/* ---- Stopping ----------------------------------------------------------- */

static void grace_expired(eddy_timer_t *t) {
  server_t *s = t->data;
  eddy_log(EDDY_LOG_WARN, "stop.forced", "connections=%zu", s->nconns);
  for (conn_t *c = s->conns; c != NULL; c = c->next)
    eddy_transport_abort_connection(c->protocol.transport);
}

/* Runs on the loop (not in the signal handler) on the first SIGINT/SIGTERM;
 * a second signal exits at once. */
static void stop_server(void *arg) {
  server_t *s = arg;
  if (s->stopping)
    return;
  s->stopping = 1;
  eddy_log(EDDY_LOG_INFO, "stopping", "connections=%zu", s->nconns);
  eddy_listener_close(s->listener, NULL, NULL);
  s->listener = NULL;
  /* connection_lost never runs inside lose_connection, so the list stays
   * intact while we walk it. */
  for (conn_t *c = s->conns; c != NULL; c = c->next)
    eddy_transport_lose_connection(c->protocol.transport);
  if (s->nconns > 0)
    eddy_timer_start(&s->grace, GRACE_MS, grace_expired);
}

/* ---- Start-up ----------------------------------------------------------- */

/* Parses a listen endpoint, explaining a mistake with a caret under it. */
static int parse_endpoint(const char *text, eddy_endpoint_t *ep) {
  eddy_endpoint_error_t err;
  if (eddy_endpoint_parse_server(text, ep, &err) == 0)
    return 0;
  fprintf(stderr, "echo: bad endpoint: %s\n  %s\n  %*s^\n", err.message, text,
          (int)err.pos, "");
  return -1;
}

/* Logs where we listen in a form scripts can parse (port=N is the real port,
 * also after tcp:0), and tells a human how to try it. */
static void announce(const char *text, eddy_listener_t *l) {
  eddy_addr_t a;
  char where[160], qwhere[200], quoted[300];
  if (eddy_listener_address(l, &a) != 0)
    a.len = 0;
  eddy_addr_format(&a, where, sizeof(where));
  eddy_log(EDDY_LOG_INFO, "ready", "endpoint=%s address=%s port=%d",
           eddy_log_quote(quoted, sizeof(quoted), text),
           eddy_log_quote(qwhere, sizeof(qwhere), where),
           eddy_listener_port(l));
  if (a.len != 0 && a.ss.ss_family == AF_UNIX)
    printf("talk to it: nc -U %s\n", ((struct sockaddr_un *)&a.ss)->sun_path);
  else if (a.len != 0 && a.ss.ss_family == AF_INET6)
    printf("talk to it: nc ::1 %d\n", eddy_listener_port(l));
  else
    printf("talk to it: nc 127.0.0.1 %d\n", eddy_listener_port(l));
  fflush(stdout);
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: echo [-v] [LISTEN_ENDPOINT]\n"
          "Echoes every byte back to the client.\n\n"
          "  LISTEN_ENDPOINT  where to listen (default " DEFAULT_ENDPOINT ")\n"
          "                   tcp:PORT[:interface=ADDR], tcp6:PORT, "
          "unix:PATH;\n"
          "                   tcp:0 picks a free port (see port= in the log)\n"
          "  -v, --verbose    log every connection\n"
          "  -h, --help       show this help\n");
}

int main(int argc, char **argv) {
  /* libuv writes with write(2): a peer that resets the connection while we
   * write would kill the process with SIGPIPE. Ignored, it is an EPIPE error
   * on that one connection. */
  signal(SIGPIPE, SIG_IGN);
  const char *endpoint = DEFAULT_ENDPOINT;
  int positional = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(argv[i], "-v") == 0 ||
               strcmp(argv[i], "--verbose") == 0) {
      eddy_log_set_level(EDDY_LOG_DEBUG);
    } else if (argv[i][0] == '-' || positional++ > 0) {
      usage(stderr);
      return 2;
    } else {
      endpoint = argv[i];
    }
  }

  eddy_endpoint_t ep;
  if (parse_endpoint(endpoint, &ep) != 0)
    return 2;

  eddy_reactor_t *r;
  int rc = eddy_reactor_new(&r, 0);
  if (rc != 0) {
    fprintf(stderr, "echo: %s\n", eddy_strerror(rc));
    return 1;
  }
  server_t s = {.reactor = r};
  s.factory.build_protocol = build_echo;
  s.factory.data = &s;
  eddy_timer_init(r, &s.grace);
  s.grace.data = &s;

  /* Binding happens here, so "address in use" is reported at once. */
  rc = eddy_listen_endpoint(r, &ep, &s.factory, &s.listener);
  if (rc == 0)
    rc = eddy_stop_on_signals(r, stop_server, &s);
  if (rc != 0) {
    fprintf(stderr, "echo: cannot listen on %s: %s\n", endpoint,
            eddy_strerror(rc));
    if (s.listener != NULL)
      eddy_listener_close(s.listener, NULL, NULL);
    eddy_reactor_run(r); /* lets the close finish */
    eddy_reactor_free(r);
    return 1;
  }
  announce(endpoint, s.listener);

  rc = eddy_reactor_run(r);
  /* eddy_reactor_free checks that everything was closed. */
  int left = eddy_reactor_free(r);
  eddy_log(EDDY_LOG_INFO, "stopped", "clean=%s", left == 0 ? "yes" : "no");
  return rc == 0 && left == 0 ? 0 : 1;
}
