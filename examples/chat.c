/* chat — a line-based chat room: each line goes to everyone else.
 *
 *   chat [-v] [LISTEN_ENDPOINT]        (default tcp:7703)
 *
 * Talk to it with `nc 127.0.0.1 7703` from several terminals. Each client is
 * named guest-N on arrival; its lines reach every other client as
 * "NAME: text". Commands: "/nick NAME" renames, "/quit" leaves. Server
 * notices start with "* ", complaints to one client with "! ".
 *
 * What it shows:
 *  - a broadcast built once into ONE reference-counted eddy_slice_t and
 *    queued on every receiver with eddy_transport_write_slice: no copy per
 *    client, the bytes are freed when the last socket has written them;
 *  - protecting everyone from a slow consumer: a client whose queue passes
 *    a hard limit is disconnected instead of growing the server's memory;
 *  - line length and client count limits with clear answers.
 */
#include <eddy/eddy.h>

#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define DEFAULT_ENDPOINT "tcp:7703"
#define MAX_CLIENTS 1000
#define MAX_LINE 2048
#define MAX_NAME 32
/* Queued bytes past which a client is considered stuck and cut off. */
#define MAX_QUEUED (1024u * 1024u)
#define GRACE_MS 3000

typedef struct client_s client_t;

typedef struct room_s {
  eddy_factory_t factory;
  eddy_listener_t *listener;
  client_t *clients;
  size_t nclients;
  unsigned long next_guest;
  int stopping;
  eddy_timer_t grace;
} room_t;

struct client_s {
  eddy_line_receiver_t lr; /* first: a client_t * is a protocol */
  room_t *room;
  client_t *prev, *next;
  int joined; /* announced to the room (and so must be announced leaving) */
  char name[MAX_NAME + 1];
};

static eddy_transport_t *transport_of(client_t *c) {
  return c->lr.protocol.transport;
}

/* Queues a shared message on one client, cutting it off if it has fallen
 * too far behind (eddy_transport_write_slice takes its own reference). */
static void deliver(client_t *c, eddy_slice_t *msg) {
  eddy_transport_t *t = transport_of(c);
  if (t == NULL || eddy_transport_is_closing(t))
    return;
  eddy_transport_write_slice(t, msg);
  if (eddy_transport_write_buffer_size(t) > MAX_QUEUED) {
    eddy_log(EDDY_LOG_WARN, "chat.slow_client", "name=%s queued=%zu", c->name,
             eddy_transport_write_buffer_size(t));
    eddy_transport_abort_connection(t);
  }
}

/* Formats one message and sends the same bytes to every joined client but
 * `except` (NULL: to all). */
static void broadcast(room_t *room, client_t *except, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void broadcast(room_t *room, client_t *except, const char *fmt, ...) {
  eddy_buf_t b;
  eddy_buf_init(&b, MAX_LINE + 2 * MAX_NAME + 64);
  va_list ap;
  va_start(ap, fmt);
  int rc = eddy_buf_vprintf(&b, fmt, ap);
  va_end(ap);
  eddy_slice_t *msg = rc == 0 ? eddy_slice_from_buf(&b) : NULL;
  eddy_buf_free(&b);
  if (msg == NULL) {
    eddy_log(EDDY_LOG_ERROR, "chat.broadcast_failed", "error=%s",
             eddy_err_name(rc != 0 ? rc : UV_ENOMEM));
    return;
  }
  for (client_t *c = room->clients; c != NULL; c = c->next)
    if (c != except && c->joined)
      deliver(c, msg);
  eddy_slice_unref(msg); /* ours; each transport holds its own */
}

/* A line to one client only. */
static void tell(client_t *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void tell(client_t *c, const char *fmt, ...) {
  char line[MAX_LINE + 128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n >= sizeof(line))
    n = (int)sizeof(line) - 1;
  eddy_line_receiver_send_line(&c->lr, line, (size_t)n);
}

static int valid_name(const char *s, size_t len) {
  if (len == 0 || len > MAX_NAME)
    return 0;
  for (size_t i = 0; i < len; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
      return 0;
  return 1;
}

static client_t *find_name(room_t *room, const char *s, size_t len) {
  for (client_t *c = room->clients; c != NULL; c = c->next)
    if (strlen(c->name) == len && memcmp(c->name, s, len) == 0)
      return c;
  return NULL;
}

static void rename_client(client_t *c, const char *name, size_t len) {
  if (!valid_name(name, len)) {
    tell(c, "! a name is 1 to %d letters, digits, '-' or '_'", MAX_NAME);
    return;
  }
  client_t *holder = find_name(c->room, name, len);
  if (holder == c)
    return;
  if (holder != NULL) {
    tell(c, "! %.*s is taken", (int)len, name);
    return;
  }
  char old[MAX_NAME + 1];
  memcpy(old, c->name, sizeof(old));
  memcpy(c->name, name, len);
  c->name[len] = '\0';
  tell(c, "* you are now %s", c->name);
  broadcast(c->room, c, "* %s is now %s\n", old, c->name);
}

static void chat_line_received(eddy_line_receiver_t *lr, const char *line,
                               size_t len) {
  client_t *c = (client_t *)lr;
  if (len > 0 && line[len - 1] == '\r')
    len--;
  if (len == 0)
    return;
  if (len >= 6 && memcmp(line, "/nick ", 6) == 0) {
    rename_client(c, line + 6, len - 6);
  } else if (len == 5 && memcmp(line, "/quit", 5) == 0) {
    tell(c, "* bye");
    eddy_transport_lose_connection(transport_of(c));
  } else {
    broadcast(c->room, c, "%s: %.*s\n", c->name, (int)len, line);
  }
}

static void chat_line_too_long(eddy_line_receiver_t *lr, size_t len) {
  tell((client_t *)lr, "! line too long (max %d bytes), not sent", MAX_LINE);
}

static const eddy_line_ops_t chat_line_ops = {
    .line_received = chat_line_received,
    .line_too_long = chat_line_too_long,
};

static void chat_connection_made(eddy_protocol_t *p) {
  client_t *c = (client_t *)p;
  room_t *room = c->room;
  tell(c,
       "* welcome %s, %zu other(s) here; /nick NAME to rename, /quit to "
       "leave",
       c->name, room->nclients - 1);
  broadcast(room, c, "* %s joined\n", c->name);
  c->joined = 1;
  eddy_log(EDDY_LOG_DEBUG, "chat.joined", "name=%s clients=%zu", c->name,
           room->nclients);
}

static void chat_connection_lost(eddy_protocol_t *p, int reason) {
  client_t *c = (client_t *)p;
  if (c->joined) {
    c->joined = 0; /* no longer a receiver */
    broadcast(c->room, c, "* %s left\n", c->name);
  }
}

static void chat_destroy(eddy_protocol_t *p) {
  client_t *c = (client_t *)p;
  room_t *room = c->room;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    room->clients = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  room->nclients--;
  eddy_line_receiver_cleanup(&c->lr);
  free(c);
  if (room->stopping && room->nclients == 0)
    eddy_timer_stop(&room->grace);
}

/* No pause_writing: a chat client that stops reading is not slowed down
 * (that would stall the room), it is cut off past MAX_QUEUED in deliver(). */
static const eddy_protocol_ops_t chat_ops = {
    .connection_made = chat_connection_made,
    .data_received = eddy_line_receiver_data_received,
    .connection_lost = chat_connection_lost,
    .destroy = chat_destroy,
};

static eddy_protocol_t *build_client(eddy_factory_t *f,
                                     const eddy_addr_t *peer) {
  room_t *room = f->data;
  if (room->stopping || room->nclients >= MAX_CLIENTS) {
    eddy_log(EDDY_LOG_WARN, "chat.full", "clients=%zu", room->nclients);
    return NULL;
  }
  client_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  eddy_line_receiver_init(&c->lr, &chat_ops, &chat_line_ops, MAX_LINE);
  eddy_line_receiver_set_delimiter(&c->lr, "\n", 1);
  c->room = room;
  /* guest-N is unique unless someone took it with /nick: then count on. */
  do
    snprintf(c->name, sizeof(c->name), "guest-%lu", ++room->next_guest);
  while (find_name(room, c->name, strlen(c->name)) != NULL);
  c->next = room->clients;
  if (room->clients != NULL)
    room->clients->prev = c;
  room->clients = c;
  room->nclients++;
  return &c->lr.protocol;
}

/* ---- Stopping (see echo.c) ---------------------------------------------- */

static void grace_expired(eddy_timer_t *t) {
  room_t *room = t->data;
  for (client_t *c = room->clients; c != NULL; c = c->next)
    eddy_transport_abort_connection(transport_of(c));
}

static void stop_room(void *arg) {
  room_t *room = arg;
  if (room->stopping)
    return;
  room->stopping = 1;
  eddy_log(EDDY_LOG_INFO, "stopping", "clients=%zu", room->nclients);
  eddy_listener_close(room->listener, NULL, NULL);
  room->listener = NULL;
  broadcast(room, NULL, "* the server is shutting down\n");
  for (client_t *c = room->clients; c != NULL; c = c->next) {
    c->joined = 0; /* no "left" notices during the shutdown */
    eddy_transport_lose_connection(transport_of(c));
  }
  if (room->nclients > 0)
    eddy_timer_start(&room->grace, GRACE_MS, grace_expired);
}

/* ---- Start-up ----------------------------------------------------------- */

static void usage(FILE *out) {
  fprintf(out,
          "usage: chat [-v] [LISTEN_ENDPOINT]\n"
          "A chat room: every line a client sends goes to all the others.\n\n"
          "  LISTEN_ENDPOINT  where to listen (default " DEFAULT_ENDPOINT ")\n"
          "  -v, --verbose    log joins\n"
          "  -h, --help       show this help\n\n"
          "In the room: /nick NAME renames you, /quit leaves.\n");
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
  eddy_endpoint_error_t perr;
  if (eddy_endpoint_parse_server(endpoint, &ep, &perr) != 0) {
    fprintf(stderr, "chat: bad endpoint: %s\n  %s\n  %*s^\n", perr.message,
            endpoint, (int)perr.pos, "");
    return 2;
  }

  eddy_reactor_t *r;
  int rc = eddy_reactor_new(&r, 0);
  if (rc != 0) {
    fprintf(stderr, "chat: %s\n", eddy_strerror(rc));
    return 1;
  }
  room_t room = {0};
  room.factory.build_protocol = build_client;
  room.factory.data = &room;
  eddy_timer_init(r, &room.grace);
  room.grace.data = &room;

  rc = eddy_listen_endpoint(r, &ep, &room.factory, &room.listener);
  if (rc == 0)
    rc = eddy_stop_on_signals(r, stop_room, &room);
  if (rc != 0) {
    fprintf(stderr, "chat: cannot listen on %s: %s\n", endpoint,
            eddy_strerror(rc));
    if (room.listener != NULL)
      eddy_listener_close(room.listener, NULL, NULL);
    eddy_reactor_run(r);
    eddy_reactor_free(r);
    return 1;
  }

  eddy_addr_t a;
  char where[160], qwhere[200], quoted[300];
  if (eddy_listener_address(room.listener, &a) != 0)
    a.len = 0;
  eddy_addr_format(&a, where, sizeof(where));
  eddy_log(EDDY_LOG_INFO, "ready", "endpoint=%s address=%s port=%d",
           eddy_log_quote(quoted, sizeof(quoted), endpoint),
           eddy_log_quote(qwhere, sizeof(qwhere), where),
           eddy_listener_port(room.listener));
  if (a.len != 0 && a.ss.ss_family == AF_UNIX)
    printf("talk to it: nc -U %s   (from several terminals)\n",
           ((struct sockaddr_un *)&a.ss)->sun_path);
  else
    printf("talk to it: nc %s %d   (from several terminals)\n",
           a.len != 0 && a.ss.ss_family == AF_INET6 ? "::1" : "127.0.0.1",
           eddy_listener_port(room.listener));
  fflush(stdout);

  rc = eddy_reactor_run(r);
  int left = eddy_reactor_free(r);
  eddy_log(EDDY_LOG_INFO, "stopped", "clean=%s", left == 0 ? "yes" : "no");
  return rc == 0 && left == 0 ? 0 : 1;
}
