/* simple-client — many requests at once, answers in request order.
 *
 *   simple-client [--timeout SECONDS] ENDPOINT N MESSAGE
 *
 * Opens N connections to ENDPOINT at the same time, sends "MESSAGE-i\n" on
 * connection i (i = 1..N), waits for one line back on each, and prints the
 * replies in request order, whatever order they arrived in. Works against
 * the echo and uppercase examples:
 *
 *   simple-client tcp:127.0.0.1:7700 5 hello
 *
 * What it shows:
 *  - eddy_connect returning a deferred that fires with the connected
 *    protocol;
 *  - a callback that makes the chain wait on a second deferred (the reply),
 *    so each request is one chain: connect -> send -> reply;
 *  - eddy_gather collecting N chains into one ordered list; the first
 *    failure cancels the rest, and cancelling the gather (on timeout or
 *    Ctrl-C) cancels every request, closing its connection.
 *
 * Exit status: 0 when every reply came (or when stopped by SIGINT/SIGTERM,
 * which is asked for, not a failure), 1 when a request failed or timed out,
 * 2 for bad arguments.
 */
#include <eddy/eddy.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REQUESTS 1000 /* one descriptor each; stay well under ulimit */
#define MAX_MESSAGE 1024
#define REPLY_SLACK 64 /* a reply may be a little longer than the request */

typedef struct client_s {
  eddy_reactor_t *reactor;
  eddy_deferred_t *all; /* the gather; valid until finished is set */
  eddy_timer_t deadline;
  unsigned long timeout_s;
  int finished;
  int timed_out;
  int interrupted; /* stopped by SIGINT/SIGTERM: not a failure */
  int status;      /* the process exit status */
} client_t;

typedef struct reply_conn_s reply_conn_t;

/* One per request. Each has its own factory, so the protocol it builds knows
 * which request it serves without any lookup. */
typedef struct request_s {
  eddy_factory_t factory;
  client_t *client;
  char *message; /* "MESSAGE-i" */
  size_t len;
  reply_conn_t *conn; /* while connected */
} request_t;

/* The protocol: sends the request line, waits for the reply line. */
struct reply_conn_s {
  eddy_line_receiver_t lr; /* first: a reply_conn_t * is a protocol */
  request_t *req;
  /* Fires with the reply (a malloc'd string). We keep a reference so the
   * deferred outlives a cancellation that fires it before we are done. */
  eddy_deferred_t *reply;
};

static void reply_connection_made(eddy_protocol_t *p) {
  reply_conn_t *c = (reply_conn_t *)p;
  eddy_line_receiver_send_line(&c->lr, c->req->message, c->req->len);
}

static void reply_line_received(eddy_line_receiver_t *lr, const char *line,
                                size_t len) {
  reply_conn_t *c = (reply_conn_t *)lr;
  if (len > 0 && line[len - 1] == '\r')
    len--;
  char *copy = strndup(line, len);
  if (copy == NULL)
    eddy_deferred_errback(c->reply, UV_ENOMEM, NULL);
  else
    eddy_deferred_callback(c->reply, copy, free);
  /* One answer is all we wanted; the line receiver delivers no more lines
   * once the transport is closing. */
  eddy_transport_lose_connection(lr->protocol.transport);
}

static void reply_connection_lost(eddy_protocol_t *p, int reason) {
  reply_conn_t *c = (reply_conn_t *)p;
  /* Firing a deferred that was cancelled is ignored, so no check for that. */
  if (!eddy_deferred_fired(c->reply))
    eddy_deferred_errback(c->reply, reason < 0 ? reason : UV_EOF,
                          "connection closed before the reply (%s)",
                          reason < 0 ? eddy_err_name(reason) : "EOF");
}

static void reply_destroy(eddy_protocol_t *p) {
  reply_conn_t *c = (reply_conn_t *)p;
  c->req->conn = NULL;
  eddy_deferred_unref(c->reply);
  eddy_line_receiver_cleanup(&c->lr);
  free(c);
}

static const eddy_protocol_ops_t reply_ops = {
    .connection_made = reply_connection_made,
    .data_received = eddy_line_receiver_data_received,
    .connection_lost = reply_connection_lost,
    .destroy = reply_destroy,
};

static const eddy_line_ops_t reply_line_ops = {
    .line_received = reply_line_received,
    /* no line_too_long: an over-long reply closes the connection, and
     * connection_lost turns that into a failure of this request */
};

/* Cancelling the reply (timeout, Ctrl-C, another request failed) abandons the
 * connection; connection_lost follows on a later iteration. */
static void cancel_reply(eddy_deferred_t *d, void *arg) {
  reply_conn_t *c = arg;
  if (c->lr.protocol.transport != NULL)
    eddy_transport_abort_connection(c->lr.protocol.transport);
}

static eddy_protocol_t *build_reply_conn(eddy_factory_t *f,
                                         const eddy_addr_t *peer) {
  request_t *req = f->data;
  reply_conn_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  c->req = req;
  c->reply =
      eddy_deferred_new_cancellable(req->client->reactor, cancel_reply, c);
  if (c->reply == NULL) {
    free(c);
    return NULL;
  }
  eddy_deferred_ref(c->reply);
  eddy_line_receiver_init(&c->lr, &reply_ops, &reply_line_ops,
                          req->len + REPLY_SLACK);
  eddy_line_receiver_set_delimiter(&c->lr, "\n", 1);
  req->conn = c;
  return &c->lr.protocol;
}

/* The connect deferred fired with our protocol: continue the chain with the
 * reply. From here on the chain's result is whatever the reply fires with. */
static void on_connected(eddy_result_t *res, void *arg) {
  reply_conn_t *c = (reply_conn_t *)res->value;
  eddy_result_wait(res, c->reply);
}

/* ---- The gathered result ------------------------------------------------ */

static void finish(client_t *cl) {
  cl->finished = 1;
  eddy_timer_stop(&cl->deadline);
}

static void print_replies(eddy_result_t *res, void *arg) {
  client_t *cl = arg;
  const eddy_results_t *all = res->value;
  for (size_t i = 0; i < all->count; i++)
    printf("%s\n", (const char *)all->items[i].value);
  fflush(stdout);
  finish(cl);
}

static void report_failure(eddy_result_t *res, void *arg) {
  client_t *cl = arg;
  if (cl->interrupted) {
    /* Asked to stop: a clean exit, not an error. */
    fprintf(stderr, "simple-client: stopped by a signal; requests cancelled\n");
  } else if (cl->timed_out) {
    fprintf(stderr,
            "simple-client: no complete answer within %lu s; requests "
            "cancelled\n",
            cl->timeout_s);
    cl->status = 1;
  } else {
    /* The gather's message names the request that failed first. */
    fprintf(stderr, "simple-client: request failed: %s\n",
            eddy_result_message(res));
    cl->status = 1;
  }
  eddy_result_recover(res); /* handled: do not log it as unhandled */
  finish(cl);
}

static void deadline_passed(eddy_timer_t *t) {
  client_t *cl = t->data;
  cl->timed_out = 1;
  /* Fails the gather with UV_ECANCELED and cancels every request. */
  eddy_deferred_cancel(cl->all);
}

static void on_signal(void *arg) {
  client_t *cl = arg;
  if (cl->finished)
    return;
  cl->interrupted = 1;
  eddy_deferred_cancel(cl->all);
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: simple-client [--timeout SECONDS] ENDPOINT N MESSAGE\n"
          "Sends MESSAGE-1 .. MESSAGE-N on N connections at once and prints\n"
          "the N reply lines in request order.\n\n"
          "  ENDPOINT       tcp:HOST:PORT, tcp6:HOST:PORT or unix:PATH\n"
          "  N              number of connections, 1..%d\n"
          "  MESSAGE        up to %d bytes, no newline\n"
          "  --timeout S    give up after S seconds (default 10)\n"
          "  -h, --help     show this help\n",
          MAX_REQUESTS, MAX_MESSAGE);
}

int main(int argc, char **argv) {
  /* libuv writes with write(2): a peer that resets the connection while we
   * write would kill the process with SIGPIPE. Ignored, it is an EPIPE error
   * on that one connection. */
  signal(SIGPIPE, SIG_IGN);
  const char *args[3];
  int nargs = 0;
  unsigned long timeout_s = 10;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
      char *end;
      timeout_s = strtoul(argv[++i], &end, 10);
      if (*end != '\0' || timeout_s == 0 || timeout_s > 3600) {
        fprintf(stderr, "simple-client: --timeout wants 1..3600\n");
        return 2;
      }
    } else if (nargs == 3 || (argv[i][0] == '-' && argv[i][1] != '\0')) {
      usage(stderr);
      return 2;
    } else {
      args[nargs++] = argv[i];
    }
  }
  if (nargs != 3) {
    usage(stderr);
    return 2;
  }

  eddy_endpoint_t ep;
  eddy_endpoint_error_t perr;
  if (eddy_endpoint_parse_client(args[0], &ep, &perr) != 0) {
    fprintf(stderr, "simple-client: bad endpoint: %s\n  %s\n  %*s^\n",
            perr.message, args[0], (int)perr.pos, "");
    return 2;
  }
  char *end;
  unsigned long n = strtoul(args[1], &end, 10);
  if (*end != '\0' || n == 0 || n > MAX_REQUESTS) {
    fprintf(stderr, "simple-client: N must be 1..%d\n", MAX_REQUESTS);
    return 2;
  }
  const char *message = args[2];
  if (strlen(message) > MAX_MESSAGE || strpbrk(message, "\r\n") != NULL) {
    fprintf(stderr,
            "simple-client: MESSAGE must be at most %d bytes, one "
            "line\n",
            MAX_MESSAGE);
    return 2;
  }

  eddy_reactor_t *r;
  int rc = eddy_reactor_new(&r, 0);
  if (rc != 0) {
    fprintf(stderr, "simple-client: %s\n", eddy_strerror(rc));
    return 1;
  }
  client_t cl = {.reactor = r, .timeout_s = timeout_s};
  eddy_timer_init(r, &cl.deadline);
  cl.deadline.data = &cl;

  /* Requests and their factories must outlive every connection: they are
   * freed only after the loop has finished. */
  request_t *reqs = calloc(n, sizeof(*reqs));
  eddy_deferred_t **chains = calloc(n, sizeof(*chains));
  size_t started = 0;
  rc = reqs == NULL || chains == NULL ? UV_ENOMEM : 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    request_t *req = &reqs[i];
    req->client = &cl;
    req->factory.build_protocol = build_reply_conn;
    req->factory.data = req;
    int len = asprintf(&req->message, "%s-%zu", message, i + 1);
    if (len < 0) {
      req->message = NULL;
      rc = UV_ENOMEM;
      break;
    }
    req->len = (size_t)len;
    /* All N attempts start now; none waits for another. */
    eddy_deferred_t *d = eddy_connect_endpoint(r, &ep, &req->factory);
    if (d == NULL || eddy_deferred_add_callback(d, on_connected, NULL) != 0) {
      if (d != NULL)
        eddy_deferred_cancel(d);
      rc = UV_ENOMEM;
      break;
    }
    chains[started++] = d;
  }
  if (rc == 0) {
    /* The gather takes the chains over; it fires with their results in the
     * order given, which is request order. */
    cl.all = eddy_gather(r, chains, started);
    if (cl.all == NULL || eddy_deferred_add_callbacks(cl.all, print_replies,
                                                      report_failure, &cl) != 0)
      rc = UV_ENOMEM;
  } else {
    for (size_t i = 0; i < started; i++)
      eddy_deferred_cancel(chains[i]);
  }
  if (rc == 0)
    rc = eddy_timer_start(&cl.deadline, timeout_s * 1000, deadline_passed);
  if (rc == 0)
    rc = eddy_stop_on_signals(r, on_signal, &cl);
  if (rc != 0) {
    fprintf(stderr, "simple-client: %s\n", eddy_strerror(rc));
    cl.status = 1;
    if (cl.all != NULL && !cl.finished)
      eddy_deferred_cancel(cl.all);
  }

  eddy_reactor_run(r);
  int left = eddy_reactor_free(r);
  for (size_t i = 0; reqs != NULL && i < n; i++)
    free(reqs[i].message);
  free(reqs);
  free(chains);
  return cl.status == 0 && left == 0 ? 0 : 1;
}
