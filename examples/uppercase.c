/* uppercase — a line protocol: each line received is answered uppercased.
 *
 *   uppercase [--max-line N] [-v] [LISTEN_ENDPOINT]    (default tcp:7701)
 *
 * What it shows:
 *  - eddy_line_receiver_t embedded as the first member of a protocol, the way
 *    Twisted's LineReceiver is subclassed;
 *  - a limit on line length with a clear answer: a line over the limit gets
 *    "ERROR line too long ..." and the connection goes on with the next line,
 *    so a client cannot make the server buffer without bound;
 *  - lines end with "\n"; a "\r" before it is dropped, so both `nc` and
 *    telnet-style clients work. Answers end with "\n".
 */
#include <eddy/eddy.h>

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define DEFAULT_ENDPOINT "tcp:7701"
#define MAX_CONNECTIONS 10000
#define MAX_LINE_LIMIT (1024u * 1024u) /* what --max-line may ask for */
#define GRACE_MS 3000

typedef struct conn_s conn_t;

typedef struct server_s {
  eddy_factory_t factory;
  eddy_listener_t *listener;
  size_t max_line;
  char *scratch; /* max_line bytes: one loop thread, so one buffer will do */
  conn_t *conns;
  size_t nconns;
  int stopping;
  eddy_timer_t grace;
} server_t;

/* The line receiver is the first member: it is itself a protocol, so a
 * conn_t * is also an eddy_line_receiver_t * and an eddy_protocol_t *. */
struct conn_s {
  eddy_line_receiver_t lr;
  server_t *server;
  conn_t *prev, *next;
};

static void upper_line_received(eddy_line_receiver_t *lr, const char *line,
                                size_t len) {
  conn_t *c = (conn_t *)lr;
  if (len > 0 && line[len - 1] == '\r')
    len--;
  /* len <= max_line: the receiver never hands us more. */
  char *out = c->server->scratch;
  for (size_t i = 0; i < len; i++)
    out[i] = (char)toupper((unsigned char)line[i]);
  /* Copies the answer and its delimiter into the transport as one write. */
  eddy_line_receiver_send_line(lr, out, len);
}

/* Called once per over-long line; the receiver then skips to the end of that
 * line by itself. Answering beats closing: the client learns why. */
static void upper_line_too_long(eddy_line_receiver_t *lr, size_t len) {
  conn_t *c = (conn_t *)lr;
  char msg[96];
  int n = snprintf(msg, sizeof(msg), "ERROR line too long (over %zu bytes)",
                   c->server->max_line);
  eddy_log(EDDY_LOG_INFO, "line.too_long", "bytes=%zu max=%zu", len,
           c->server->max_line);
  eddy_line_receiver_send_line(lr, msg, (size_t)n);
}

static const eddy_line_ops_t upper_line_ops = {
    .line_received = upper_line_received,
    .line_too_long = upper_line_too_long,
};

/* Backpressure, as in echo.c: stop reading a client that does not read. */
static void upper_pause_writing(eddy_protocol_t *p) {
  eddy_transport_pause_reading(p->transport);
}

static void upper_resume_writing(eddy_protocol_t *p) {
  eddy_transport_resume_reading(p->transport);
}

static void upper_destroy(eddy_protocol_t *p) {
  conn_t *c = (conn_t *)p;
  server_t *s = c->server;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  s->nconns--;
  eddy_line_receiver_cleanup(&c->lr); /* frees its line buffer */
  free(c);
  if (s->stopping && s->nconns == 0)
    eddy_timer_stop(&s->grace);
}

static const eddy_protocol_ops_t upper_ops = {
    .data_received = eddy_line_receiver_data_received,
    .pause_writing = upper_pause_writing,
    .resume_writing = upper_resume_writing,
    .destroy = upper_destroy,
};

static eddy_protocol_t *build_upper(eddy_factory_t *f,
                                    const eddy_addr_t *peer) {
  server_t *s = f->data;
  if (s->stopping || s->nconns >= MAX_CONNECTIONS)
    return NULL;
  conn_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  eddy_line_receiver_init(&c->lr, &upper_ops, &upper_line_ops, s->max_line);
  if (eddy_line_receiver_set_delimiter(&c->lr, "\n", 1) != 0) {
    eddy_line_receiver_cleanup(&c->lr);
    free(c);
    return NULL;
  }
  c->server = s;
  c->next = s->conns;
  if (s->conns != NULL)
    s->conns->prev = c;
  s->conns = c;
  s->nconns++;
  return &c->lr.protocol;
}

/* ---- Stopping (see echo.c) ---------------------------------------------- */

static void grace_expired(eddy_timer_t *t) {
  server_t *s = t->data;
  for (conn_t *c = s->conns; c != NULL; c = c->next)
    eddy_transport_abort_connection(c->lr.protocol.transport);
}

static void stop_server(void *arg) {
  server_t *s = arg;
  if (s->stopping)
    return;
  s->stopping = 1;
  eddy_log(EDDY_LOG_INFO, "stopping", "connections=%zu", s->nconns);
  eddy_listener_close(s->listener, NULL, NULL);
  s->listener = NULL;
  for (conn_t *c = s->conns; c != NULL; c = c->next)
    eddy_transport_lose_connection(c->lr.protocol.transport);
  if (s->nconns > 0)
    eddy_timer_start(&s->grace, GRACE_MS, grace_expired);
}

/* ---- Start-up ----------------------------------------------------------- */

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
  else
    printf("talk to it: nc %s %d\n",
           a.len != 0 && a.ss.ss_family == AF_INET6 ? "::1" : "127.0.0.1",
           eddy_listener_port(l));
  fflush(stdout);
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: uppercase [--max-line N] [-v] [LISTEN_ENDPOINT]\n"
          "Answers each line with the same line uppercased.\n\n"
          "  LISTEN_ENDPOINT  where to listen (default " DEFAULT_ENDPOINT ")\n"
          "  --max-line N     longest line accepted, in bytes (default %d,\n"
          "                   at most %u); longer lines get an ERROR answer\n"
          "  -v, --verbose    debug logging\n"
          "  -h, --help       show this help\n",
          EDDY_LINE_MAX_DEFAULT, MAX_LINE_LIMIT);
}

int main(int argc, char **argv) {
  /* libuv writes with write(2): a peer that resets the connection while we
   * write would kill the process with SIGPIPE. Ignored, it is an EPIPE error
   * on that one connection. */
  signal(SIGPIPE, SIG_IGN);
  const char *endpoint = DEFAULT_ENDPOINT;
  size_t max_line = EDDY_LINE_MAX_DEFAULT;
  int positional = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(argv[i], "-v") == 0 ||
               strcmp(argv[i], "--verbose") == 0) {
      eddy_log_set_level(EDDY_LOG_DEBUG);
    } else if (strcmp(argv[i], "--max-line") == 0 && i + 1 < argc) {
      char *end;
      unsigned long v = strtoul(argv[++i], &end, 10);
      if (*end != '\0' || v == 0 || v > MAX_LINE_LIMIT) {
        fprintf(stderr, "uppercase: --max-line wants 1..%u\n", MAX_LINE_LIMIT);
        return 2;
      }
      max_line = v;
    } else if (argv[i][0] == '-' || positional++ > 0) {
      usage(stderr);
      return 2;
    } else {
      endpoint = argv[i];
    }
  }

  eddy_endpoint_t ep;
  eddy_endpoint_error_t perr;
  if (eddy_endpoint_parse_server(endpoint, &ep, &perr) != 0) {
    fprintf(stderr, "uppercase: bad endpoint: %s\n  %s\n  %*s^\n", perr.message,
            endpoint, (int)perr.pos, "");
    return 2;
  }

  server_t s = {.max_line = max_line};
  s.scratch = malloc(max_line);
  eddy_reactor_t *r = NULL;
  int rc = s.scratch == NULL ? UV_ENOMEM : eddy_reactor_new(&r, 0);
  if (rc != 0) {
    fprintf(stderr, "uppercase: %s\n", eddy_strerror(rc));
    free(s.scratch);
    return 1;
  }
  s.factory.build_protocol = build_upper;
  s.factory.data = &s;
  eddy_timer_init(r, &s.grace);
  s.grace.data = &s;

  rc = eddy_listen_endpoint(r, &ep, &s.factory, &s.listener);
  if (rc == 0)
    rc = eddy_stop_on_signals(r, stop_server, &s);
  if (rc != 0) {
    fprintf(stderr, "uppercase: cannot listen on %s: %s\n", endpoint,
            eddy_strerror(rc));
    if (s.listener != NULL)
      eddy_listener_close(s.listener, NULL, NULL);
    eddy_reactor_run(r);
    eddy_reactor_free(r);
    free(s.scratch);
    return 1;
  }
  announce(endpoint, s.listener);

  rc = eddy_reactor_run(r);
  int left = eddy_reactor_free(r);
  free(s.scratch);
  eddy_log(EDDY_LOG_INFO, "stopped", "clean=%s", left == 0 ? "yes" : "no");
  return rc == 0 && left == 0 ? 0 : 1;
}
