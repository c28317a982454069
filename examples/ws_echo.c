/* ws-echo — a WebSocket echo server, and a client that checks one.
 *
 *   ws-echo [--port ENDPOINT] [--no-deflate] [--max-message BYTES] [-v]
 *   ws-echo --connect ws://HOST[:PORT]/PATH [--count N] [--size BYTES]
 *           [--binary] [--deflate] [--fragment BYTES] [--window N]
 *
 * The server upgrades a request on any path and sends every message back
 * as it came: text as text, binary as binary, whatever its fragmentation.
 * It accepts permessage-deflate when the client offers it (browsers and
 * python3-websockets do). A plain HTTP request gets 426 Upgrade Required.
 *
 * The client sends N messages of BYTES each (at most --window of them in
 * flight), checks every echo byte for byte against what it sent, prints a
 * summary and exits 0 only if all came back intact and the close handshake
 * completed.
 *
 * What it shows:
 *  - a WebSocket resource on an HTTP server: eddy_ws_accept from a request
 *    handler, with the library answering a bad handshake (400, 426, 403);
 *  - the client: eddy_ws_connect's deferred, the same handlers as a server;
 *  - the close handshake on both sides, and a graceful stop that sends
 *    1001 "going away" to everyone connected.
 */
#include <eddy/eddy.h>
#include <eddy/http_server.h>
#include <eddy/websocket.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define DEFAULT_ENDPOINT "tcp:8081"
#define MAX_PEERS 10000
#define GRACE_MS 3000
/* The client's limits: what one run may ask for. */
#define MAX_COUNT 10000000ul
#define MAX_WINDOW 1024ul
#define DEFAULT_TIMEOUT_MS 120000u

/* ==== The server ======================================================== */

typedef struct peer_s peer_t;

typedef struct server_s {
  eddy_reactor_t *reactor;
  eddy_http_server_t *http;
  peer_t *peers; /* every accepted WebSocket, open or opening */
  size_t npeers;
  int deflate;
  uint64_t max_message;
  int stopping;
  eddy_timer_t grace;
} server_t;

struct peer_s {
  eddy_ws_t *ws;
  server_t *server;
  peer_t *prev, *next;
  int open;
  char addr[64];
};

static void unlink_peer(peer_t *p) {
  server_t *s = p->server;
  if (p->prev != NULL)
    p->prev->next = p->next;
  else
    s->peers = p->next;
  if (p->next != NULL)
    p->next->prev = p->prev;
  s->npeers--;
}

static void peer_open(eddy_ws_t *ws, void *arg) {
  peer_t *p = arg;
  p->open = 1;
  eddy_log(EDDY_LOG_DEBUG, "ws.open", "peer=%s deflate=%s", p->addr,
           eddy_ws_deflate(ws, NULL) ? "yes" : "no");
  /* A stop that began while this one was opening could not close it. */
  if (p->server->stopping)
    eddy_ws_close(ws, 1001, "server shutting down");
}

static void peer_message(eddy_ws_t *ws, unsigned opcode, const char *data,
                         size_t len, void *arg) {
  peer_t *p = arg;
  /* The send copies the bytes. A peer that sends without reading fills its
   * queue; the library then fails it with 1008 (and returns UV_ENOBUFS). */
  int rc = eddy_ws_send(ws, opcode, data, len);
  if (rc != 0 && rc != UV_EPIPE)
    eddy_log(EDDY_LOG_INFO, "ws.echo_failed", "peer=%s error=%s", p->addr,
             eddy_err_name(rc));
}

static void peer_close(eddy_ws_t *ws, const eddy_ws_close_info_t *info,
                       void *arg) {
  (void)ws;
  peer_t *p = arg;
  server_t *s = p->server;
  eddy_log(EDDY_LOG_DEBUG, "ws.closed",
           "peer=%s code=%u sent=%u clean=%s error=%s", p->addr, info->code,
           info->sent_code, info->clean ? "yes" : "no",
           info->error != 0 ? eddy_err_name(info->error) : "none");
  unlink_peer(p);
  free(p);
  if (s->stopping && s->npeers == 0)
    eddy_timer_stop(&s->grace);
}

static const eddy_ws_handlers_t peer_handlers = {
    .on_open = peer_open,
    .on_message = peer_message,
    .on_close = peer_close,
};

static const char not_websocket[] =
    "This is a WebSocket echo server: connect to ws://HOST:PORT/ with a "
    "WebSocket client.\n";

static void handle_request(eddy_http_request_t *req, void *arg) {
  server_t *s = arg;
  if (!eddy_http_wants_upgrade(req)) {
    /* RFC 9110: a 426 names the protocol to switch to. */
    eddy_http_set_header(req, "Upgrade", "websocket");
    eddy_http_respond(req, 426, "text/plain; charset=utf-8", not_websocket,
                      sizeof(not_websocket) - 1);
    return;
  }
  if (s->stopping || s->npeers >= MAX_PEERS) {
    eddy_http_respond_error(
        req, 503, s->stopping ? "shutting down" : "too many connections");
    return;
  }
  peer_t *p = calloc(1, sizeof(*p));
  if (p == NULL) {
    eddy_http_respond_error(req, 503, "out of memory");
    return;
  }
  p->server = s;
  eddy_addr_t peer;
  if (eddy_http_peer(req, &peer) == 0)
    eddy_addr_format(&peer, p->addr, sizeof(p->addr));
  else
    strcpy(p->addr, "-");

  eddy_ws_config_t cfg = {0};
  cfg.permessage_deflate = s->deflate;
  cfg.max_message = s->max_message;
  /* The largest echo in flight plus room, so a client that reads slowly is
   * not cut off while it is still reading. */
  cfg.max_send_queue = (size_t)s->max_message + (1u << 20);
  /* Any origin: an echo service has nothing to protect. */
  int rc = eddy_ws_accept(req, &cfg, &peer_handlers, p, &p->ws);
  if (rc != 0) {
    /* The library answered the request (400, 426, 403 or 500). */
    eddy_log(EDDY_LOG_DEBUG, "ws.refused", "peer=%s error=%s", p->addr,
             eddy_err_name(rc));
    free(p);
    return;
  }
  p->next = s->peers;
  if (s->peers != NULL)
    s->peers->prev = p;
  s->peers = p;
  s->npeers++;
}

static void grace_expired(eddy_timer_t *t) {
  server_t *s = t->data;
  eddy_log(EDDY_LOG_WARN, "stop.forced", "connections=%zu", s->npeers);
  peer_t *next;
  for (peer_t *p = s->peers; p != NULL; p = next) {
    next = p->next;
    eddy_ws_abort(p->ws);
  }
}

static void http_closed(void *arg) {
  (void)arg;
  eddy_log(EDDY_LOG_DEBUG, "http.closed", "%s", "");
}

/* First SIGINT/SIGTERM: stop accepting, say goodbye to every WebSocket with
 * 1001, and let the close handshakes finish (at most GRACE_MS). */
static void stop_server(void *arg) {
  server_t *s = arg;
  if (s->stopping)
    return;
  s->stopping = 1;
  eddy_log(EDDY_LOG_INFO, "stopping", "connections=%zu", s->npeers);
  eddy_http_server_close(s->http, GRACE_MS, http_closed, s);
  s->http = NULL;
  peer_t *next;
  for (peer_t *p = s->peers; p != NULL; p = next) {
    next = p->next;
    /* One still opening is closed by its on_open. */
    if (p->open)
      eddy_ws_close(p->ws, 1001, "server shutting down");
  }
  if (s->npeers > 0)
    eddy_timer_start(&s->grace, GRACE_MS, grace_expired);
}

static void announce(const char *endpoint, eddy_listener_t *l) {
  eddy_addr_t a;
  char where[160], qwhere[200], quoted[300];
  if (eddy_listener_address(l, &a) != 0)
    a.len = 0;
  eddy_addr_format(&a, where, sizeof(where));
  int port = eddy_listener_port(l);
  eddy_log(EDDY_LOG_INFO, "ready", "endpoint=%s address=%s port=%d",
           eddy_log_quote(quoted, sizeof(quoted), endpoint),
           eddy_log_quote(qwhere, sizeof(qwhere), where), port);
  if (port != 0)
    printf("try it: ws-echo --connect ws://%s%s%s:%d/\n",
           a.ss.ss_family == AF_INET6 ? "[" : "",
           a.ss.ss_family == AF_INET6 ? "::1" : "127.0.0.1",
           a.ss.ss_family == AF_INET6 ? "]" : "", port);
  fflush(stdout);
}

static int run_server(const char *endpoint, int deflate, uint64_t max_message) {
  eddy_endpoint_t ep;
  eddy_endpoint_error_t err;
  if (eddy_endpoint_parse_server(endpoint, &ep, &err) != 0) {
    fprintf(stderr, "ws-echo: bad endpoint: %s\n  %s\n  %*s^\n", err.message,
            endpoint, (int)err.pos, "");
    return 2;
  }
  eddy_reactor_t *r;
  int rc = eddy_reactor_new(&r, 0);
  if (rc != 0) {
    fprintf(stderr, "ws-echo: %s\n", eddy_strerror(rc));
    return 1;
  }
  server_t s = {.reactor = r, .deflate = deflate, .max_message = max_message};
  eddy_timer_init(r, &s.grace);
  s.grace.data = &s;

  eddy_listener_t *l = NULL;
  rc = eddy_http_server_new(r, NULL, handle_request, &s, &s.http);
  if (rc == 0)
    rc = eddy_http_server_listen(s.http, endpoint, &l);
  if (rc == 0)
    rc = eddy_stop_on_signals(r, stop_server, &s);
  if (rc != 0) {
    fprintf(stderr, "ws-echo: cannot listen on %s: %s\n", endpoint,
            eddy_strerror(rc));
    if (s.http != NULL)
      eddy_http_server_close(s.http, 0, NULL, NULL);
    eddy_reactor_run(r);
    eddy_reactor_free(r);
    return 1;
  }
  announce(endpoint, l);

  rc = eddy_reactor_run(r);
  int left = eddy_reactor_free(r);
  eddy_log(EDDY_LOG_INFO, "stopped", "clean=%s", left == 0 ? "yes" : "no");
  return rc == 0 && left == 0 ? 0 : 1;
}

/* ==== The client ======================================================== */

typedef struct client_s {
  eddy_reactor_t *reactor;
  const char *url;
  unsigned long count, window;
  size_t size, fragment;
  int binary, deflate;
  unsigned long sent, received;
  char *expected; /* scratch: the message being checked */
  eddy_ws_t *ws;
  int failed, finished;
  uint64_t started;
  eddy_timer_t deadline;
} client_t;

/* A small deterministic generator: message i is rebuilt from i alone, so
 * the checker need not keep what it sent. */
static uint64_t next_random(uint64_t *state) {
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *state = x;
}

/* Message i: words from a small vocabulary (so deflate has something to
 * find) mixed with noise — random bytes for binary, and for text
 * characters of two, three and four UTF-8 bytes, which must cross frame and
 * fragment boundaries intact. Exactly len bytes; text is valid UTF-8. */
static void fill_message(char *buf, size_t len, unsigned long i, int binary) {
  static const char *const words[] = {"eddy ",    "socket ", "frame ",
                                      "deflate ", "echo ",   "reactor "};
  static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac",
                                      "\xf0\x9f\x98\x80"};
  uint64_t st = 0x9e3779b97f4a7c15ull ^ ((uint64_t)i * 0xbf58476d1ce4e5b9ull);
  if (st == 0)
    st = 1;
  size_t pos = 0;
  while (pos < len) {
    uint64_t r = next_random(&st);
    size_t left = len - pos;
    if ((r & 3) != 0) {
      const char *w = words[(r >> 8) % 6];
      size_t n = strlen(w) < left ? strlen(w) : left;
      memcpy(buf + pos, w, n);
      pos += n;
    } else if (binary) {
      for (int k = 0; k < 6 && pos < len; k++)
        buf[pos++] = (char)(r >> (8 + 8 * k));
    } else {
      const char *c = chars[(r >> 8) % 3];
      size_t n = strlen(c);
      if (n <= left) {
        memcpy(buf + pos, c, n);
        pos += n;
      } else {
        buf[pos++] = (char)('a' + (r >> 16) % 26);
      }
    }
  }
}

static void client_send_more(client_t *c) {
  while (!c->failed && c->sent < c->count &&
         c->sent - c->received < c->window) {
    /* The same scratch buffer serves sending and checking: the send copies
     * the bytes before it returns. */
    fill_message(c->expected, c->size, c->sent, c->binary);
    int rc =
        eddy_ws_send(c->ws, c->binary ? EDDY_WS_OP_BINARY : EDDY_WS_OP_TEXT,
                     c->expected, c->size);
    if (rc != 0) {
      fprintf(stderr, "ws-echo: send %lu failed: %s\n", c->sent,
              eddy_strerror(rc));
      c->failed = 1;
      eddy_ws_abort(c->ws);
      return;
    }
    c->sent++;
  }
}

static void client_open(eddy_ws_t *ws, void *arg) {
  client_t *c = arg;
  c->ws = ws;
  c->started = eddy_reactor_now(c->reactor);
  if (c->count == 0) {
    c->finished = 1;
    eddy_ws_close(ws, 1000, "done");
    return;
  }
  client_send_more(c);
}

static void client_message(eddy_ws_t *ws, unsigned opcode, const char *data,
                           size_t len, void *arg) {
  client_t *c = arg;
  if (c->failed || c->finished)
    return;
  unsigned want = c->binary ? EDDY_WS_OP_BINARY : EDDY_WS_OP_TEXT;
  const char *problem = NULL;
  size_t at = 0;
  if (c->received >= c->sent) {
    problem = "an echo of a message never sent";
  } else if (opcode != want) {
    problem = "the wrong type (text/binary)";
  } else if (len != c->size) {
    problem = "the wrong length";
  } else {
    fill_message(c->expected, c->size, c->received, c->binary);
    if (memcmp(data, c->expected, len) != 0) {
      while (data[at] == c->expected[at])
        at++;
      problem = "different bytes";
    }
  }
  if (problem != NULL) {
    fprintf(stderr,
            "ws-echo: echo %lu has %s (opcode %u, %zu bytes; first "
            "difference at byte %zu)\n",
            c->received, problem, opcode, len, at);
    c->failed = 1;
    eddy_ws_close(ws, 1000, "echo mismatch");
    return;
  }
  c->received++;
  if (c->received == c->count) {
    c->finished = 1;
    uint64_t ms = eddy_reactor_now(c->reactor) - c->started;
    printf("ws-echo: %lu of %lu %s messages of %zu bytes echoed intact in "
           "%llu ms (deflate=%s)\n",
           c->received, c->count, c->binary ? "binary" : "text", c->size,
           (unsigned long long)ms, eddy_ws_deflate(ws, NULL) ? "yes" : "no");
    fflush(stdout);
    eddy_ws_close(ws, 1000, "done");
    return;
  }
  client_send_more(c);
}

static void client_close(eddy_ws_t *ws, const eddy_ws_close_info_t *info,
                         void *arg) {
  (void)ws;
  client_t *c = arg;
  c->ws = NULL;
  eddy_timer_stop(&c->deadline);
  if (c->failed)
    return;
  if (c->received < c->count) {
    fprintf(stderr,
            "ws-echo: connection closed after %lu of %lu echoes: code %u "
            "\"%.*s\" (%s)\n",
            c->received, c->count, info->code, (int)info->reason_len,
            info->reason,
            info->error != 0 ? eddy_strerror(info->error) : "by the peer");
    c->failed = 1;
  } else if (!info->clean) {
    fprintf(stderr, "ws-echo: the close handshake did not complete: %s\n",
            info->error != 0 ? eddy_strerror(info->error) : "no close frame");
    c->failed = 1;
  } else {
    printf("ws-echo: closed cleanly (code %u)\n", info->code);
    fflush(stdout);
  }
}

static const eddy_ws_handlers_t client_handlers = {
    .on_open = client_open,
    .on_message = client_message,
    .on_close = client_close,
};

static void connect_failed(eddy_result_t *res, void *arg) {
  client_t *c = arg;
  fprintf(stderr, "ws-echo: cannot connect to %s: %s\n", c->url,
          eddy_result_message(res));
  c->failed = 1;
  eddy_timer_stop(&c->deadline);
  eddy_result_recover(res);
}

static void client_timed_out(eddy_timer_t *t) {
  client_t *c = t->data;
  fprintf(stderr, "ws-echo: gave up after %u ms with %lu of %lu echoes\n",
          DEFAULT_TIMEOUT_MS, c->received, c->count);
  c->failed = 1;
  if (c->ws != NULL)
    eddy_ws_abort(c->ws);
}

static int run_client(client_t *c) {
  eddy_reactor_t *r;
  int rc = eddy_reactor_new(&r, 0);
  if (rc != 0) {
    fprintf(stderr, "ws-echo: %s\n", eddy_strerror(rc));
    return 1;
  }
  c->reactor = r;
  c->expected = malloc(c->size > 0 ? c->size : 1);
  if (c->expected == NULL) {
    fprintf(stderr, "ws-echo: out of memory for %zu-byte messages\n", c->size);
    eddy_reactor_free(r);
    return 1;
  }
  eddy_timer_init(r, &c->deadline);
  c->deadline.data = c;
  eddy_timer_start(&c->deadline, DEFAULT_TIMEOUT_MS, client_timed_out);

  eddy_ws_config_t cfg = {0};
  cfg.permessage_deflate = c->deflate;
  cfg.fragment_size = c->fragment;
  /* Room for a whole window of echoes, so ours is never the limit. */
  cfg.max_send_queue = c->size * c->window + (1u << 20);
  cfg.ping_interval_ms = EDDY_WS_NEVER;
  eddy_deferred_t *d = eddy_ws_connect(r, c->url, &cfg, &client_handlers, c);
  if (d == NULL) {
    fprintf(stderr, "ws-echo: out of memory\n");
    c->failed = 1;
    eddy_timer_stop(&c->deadline);
  } else {
    eddy_deferred_add_errback(d, connect_failed, c);
  }
  eddy_reactor_run(r);
  int left = eddy_reactor_free(r);
  free(c->expected);
  return !c->failed && c->finished && left == 0 ? 0 : 1;
}

/* ==== Options =========================================================== */

static void usage(FILE *out) {
  fprintf(out,
          "usage: ws-echo [--port ENDPOINT] [--no-deflate] [--max-message "
          "BYTES] [-v]\n"
          "       ws-echo --connect URL [--count N] [--size BYTES] [--binary]\n"
          "               [--deflate] [--fragment BYTES] [--window N]\n"
          "A WebSocket echo server on every path, or a client that checks "
          "one.\n\n"
          "Server:\n"
          "  --port ENDPOINT      where to listen (default " DEFAULT_ENDPOINT
          ", loopback);\n"
          "                       tcp:0 picks a free port (see port= in the "
          "log)\n"
          "  --no-deflate         refuse permessage-deflate\n"
          "  --max-message BYTES  largest message accepted (default 16 MiB)\n"
          "  -v, --verbose        log every connection\n"
          "Client:\n"
          "  --connect URL        ws://HOST[:PORT]/PATH of an echo server\n"
          "  --count N            messages to send (default 10)\n"
          "  --size BYTES         bytes per message (default 1024, at most "
          "16 MiB)\n"
          "  --binary             binary messages (default: UTF-8 text)\n"
          "  --deflate            offer permessage-deflate\n"
          "  --fragment BYTES     send messages in frames of at most BYTES\n"
          "  --window N           messages in flight (default 16)\n"
          "  -h, --help           show this help\n");
}

/* A decimal number in [min, max], with an optional K/M suffix (binary). */
static int parse_number(const char *opt, const char *text, uint64_t min,
                        uint64_t max, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  uint64_t scale = 1;
  if (end != text && (*end == 'K' || *end == 'k'))
    scale = 1024, end++;
  else if (end != text && (*end == 'M' || *end == 'm'))
    scale = 1024 * 1024, end++;
  if (text[0] == '-' || end == text || *end != '\0' || errno != 0 ||
      v > max / scale || v * scale < min) {
    fprintf(stderr, "ws-echo: %s wants a number from %llu to %llu, not '%s'\n",
            opt, (unsigned long long)min, (unsigned long long)max, text);
    return -1;
  }
  *out = v * scale;
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  const char *endpoint = DEFAULT_ENDPOINT;
  int deflate_server = 1;
  uint64_t max_message = EDDY_WS_DEFAULT_MAX_MESSAGE;
  client_t c = {.count = 10, .size = 1024, .window = 16};
  int server_opts = 0, client_opts = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    uint64_t n;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
      eddy_log_set_level(EDDY_LOG_DEBUG);
    } else if (strcmp(a, "--no-deflate") == 0) {
      deflate_server = 0, server_opts++;
    } else if (strcmp(a, "--binary") == 0) {
      c.binary = 1, client_opts++;
    } else if (strcmp(a, "--deflate") == 0) {
      c.deflate = 1, client_opts++;
    } else if (v == NULL) {
      usage(stderr);
      return 2;
    } else if (strcmp(a, "--port") == 0) {
      endpoint = v, server_opts++, i++;
    } else if (strcmp(a, "--max-message") == 0) {
      if (parse_number(a, v, 1, EDDY_WS_DEFAULT_MAX_MESSAGE * 4, &n) != 0)
        return 2;
      max_message = n, server_opts++, i++;
    } else if (strcmp(a, "--connect") == 0) {
      c.url = v, i++;
    } else if (strcmp(a, "--count") == 0) {
      if (parse_number(a, v, 0, MAX_COUNT, &n) != 0)
        return 2;
      c.count = (unsigned long)n, client_opts++, i++;
    } else if (strcmp(a, "--size") == 0) {
      if (parse_number(a, v, 0, EDDY_WS_DEFAULT_MAX_MESSAGE, &n) != 0)
        return 2;
      c.size = (size_t)n, client_opts++, i++;
    } else if (strcmp(a, "--fragment") == 0) {
      if (parse_number(a, v, 1, EDDY_WS_DEFAULT_MAX_MESSAGE, &n) != 0)
        return 2;
      c.fragment = (size_t)n, client_opts++, i++;
    } else if (strcmp(a, "--window") == 0) {
      if (parse_number(a, v, 1, MAX_WINDOW, &n) != 0)
        return 2;
      c.window = (unsigned long)n, client_opts++, i++;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (c.url != NULL ? server_opts != 0 : client_opts != 0) {
    fprintf(stderr, "ws-echo: %s\n",
            c.url != NULL ? "server options given with --connect"
                          : "client options given without --connect");
    usage(stderr);
    return 2;
  }
  if (c.url != NULL)
    return run_client(&c);
  return run_server(endpoint, deflate_server, max_message);
}
