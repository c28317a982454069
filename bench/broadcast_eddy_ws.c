/* broadcast-eddy-ws — the broadcast peers' protocol subset on libeddy's
 * WebSocket layer alone, without the realtime hub: what the hub costs on
 * top of eddy_ws (bench/run-broadcast-bench runs it as "eddy-ws").
 *
 *   broadcast-eddy-ws [--port ENDPOINT]  (default tcp:0:interface=127.0.0.1)
 *
 *   {"op":"subscribe","id":I,"channel":C}  ->
 * {"op":"subscribed","id":I,"channel":C}
 *   {"op":"publish","id":I,"channel":C,"data":D}
 *        -> {"op":"message","channel":C,"offset":N,"data":D} to every
 *           subscriber of C, then {"op":"published","id":I,"channel":C,
 *           "offset":N}
 *   anything else -> {"op":"error","id":I,"code":400,"message":"..."}
 *
 * Any path upgrades. Requests are parsed with jansson; a publication is
 * encoded once (eddy_ws_message_new) and every subscriber's transport
 * references that one frame. Deliveries within one loop turn are gathered
 * per subscriber (eddy_ws_cork at the first, eddy_ws_uncork for all at the
 * end of the turn), so a burst of publications costs one write per
 * subscriber. Logs "event=ready port=N" on stdout; stops on SIGINT/SIGTERM.
 */
#include <eddy/eddy.h>
#include <eddy/http_server.h>
#include <eddy/websocket.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CLIENTS 100000
#define MAX_SUBS 8 /* channels per client */
#define MAX_CHANNELS 65536
#define MAX_SEND_QUEUE (1024u * 1024u)

typedef struct channel_s channel_t;

typedef struct {
  eddy_ws_t *ws;
  unsigned nsubs;
  channel_t *subs[MAX_SUBS];
  size_t slot[MAX_SUBS]; /* its index in each channel's array */
  size_t corked;         /* 1 + index in the corked list, 0: not corked */
} client_t;

struct channel_s {
  channel_t *next;
  char *name;
  uint64_t offset;
  client_t **clients;
  size_t n, cap;
};

static struct {
  eddy_reactor_t *r;
  eddy_http_server_t *http;
  channel_t *channels; /* few channels in these runs: a list will do */
  size_t nchannels, nclients;
  client_t **corked;
  size_t ncorked, corked_cap;
  int uncork_due;
  int stopping;
} hub;

static channel_t *channel_find(const char *name, int create) {
  for (channel_t *c = hub.channels; c != NULL; c = c->next)
    if (strcmp(c->name, name) == 0)
      return c;
  if (!create || hub.nchannels >= MAX_CHANNELS)
    return NULL;
  channel_t *c = calloc(1, sizeof(*c));
  if (c == NULL || (c->name = strdup(name)) == NULL) {
    free(c);
    return NULL;
  }
  c->next = hub.channels;
  hub.channels = c;
  hub.nchannels++;
  return c;
}

static void channel_remove(channel_t *ch, size_t i) {
  client_t *moved = ch->clients[--ch->n];
  ch->clients[i] = moved;
  if (moved != NULL && i < ch->n)
    for (unsigned k = 0; k < moved->nsubs; k++)
      if (moved->subs[k] == ch)
        moved->slot[k] = i;
}

static void uncork_all(void *arg) {
  (void)arg;
  hub.uncork_due = 0;
  for (size_t i = 0; i < hub.ncorked; i++) {
    client_t *c = hub.corked[i];
    if (c == NULL)
      continue;
    c->corked = 0;
    eddy_ws_uncork(c->ws);
  }
  hub.ncorked = 0;
}

/* Corks c until the end of this loop turn. */
static void cork(client_t *c) {
  if (c->corked)
    return;
  if (hub.ncorked == hub.corked_cap) {
    size_t cap = hub.corked_cap ? hub.corked_cap * 2 : 1024;
    client_t **n = realloc(hub.corked, cap * sizeof(*n));
    if (n == NULL)
      return; /* not corked: it writes at once */
    hub.corked = n;
    hub.corked_cap = cap;
  }
  if (!hub.uncork_due) {
    if (eddy_call_soon(hub.r, uncork_all, NULL) != 0)
      return;
    hub.uncork_due = 1;
  }
  hub.corked[hub.ncorked++] = c;
  c->corked = hub.ncorked;
  eddy_ws_cork(c->ws);
}

static void reply(client_t *c, json_t *obj) {
  char *text = json_dumps(obj, JSON_COMPACT);
  json_decref(obj);
  if (text != NULL)
    eddy_ws_send_text(c->ws, text, strlen(text));
  free(text);
}

static json_t *id_of(json_t *m) {
  json_t *id = json_object_get(m, "id");
  return id != NULL ? json_incref(id) : json_null();
}

static void error_reply(client_t *c, json_t *m, const char *why) {
  reply(c, json_pack("{s:s,s:o,s:i,s:s}", "op", "error", "id", id_of(m), "code",
                     400, "message", why));
}

static void publish(client_t *c, json_t *m, const char *name) {
  channel_t *ch = channel_find(name, 0);
  uint64_t offset = 0;
  if (ch != NULL && ch->n > 0) {
    offset = ++ch->offset;
    json_t *data = json_object_get(m, "data");
    json_t *msg = json_pack("{s:s,s:s,s:I,s:O}", "op", "message", "channel",
                            name, "offset", (json_int_t)offset, "data",
                            data != NULL ? data : json_null());
    char *text = msg != NULL ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    eddy_ws_message_t *wm = NULL;
    if (text == NULL ||
        eddy_ws_message_new(EDDY_WS_OP_TEXT, text, strlen(text), &wm) != 0) {
      free(text);
      error_reply(c, m, "out of memory");
      return;
    }
    free(text);
    for (size_t i = 0; i < ch->n; i++) {
      cork(ch->clients[i]);
      eddy_ws_send_message(ch->clients[i]->ws, wm);
    }
    eddy_ws_message_unref(wm);
  }
  reply(c, json_pack("{s:s,s:o,s:s,s:I}", "op", "published", "id", id_of(m),
                     "channel", name, "offset", (json_int_t)offset));
}

static void subscribe(client_t *c, json_t *m, const char *name) {
  channel_t *ch = channel_find(name, 1);
  if (ch == NULL || c->nsubs == MAX_SUBS) {
    error_reply(c, m,
                ch == NULL ? "too many channels" : "too many subscriptions");
    return;
  }
  for (unsigned k = 0; k < c->nsubs; k++)
    if (c->subs[k] == ch)
      goto done;
  if (ch->n == ch->cap) {
    size_t cap = ch->cap ? ch->cap * 2 : 16;
    client_t **n = realloc(ch->clients, cap * sizeof(*n));
    if (n == NULL) {
      error_reply(c, m, "out of memory");
      return;
    }
    ch->clients = n;
    ch->cap = cap;
  }
  c->subs[c->nsubs] = ch;
  c->slot[c->nsubs++] = ch->n;
  ch->clients[ch->n++] = c;
done:
  reply(c, json_pack("{s:s,s:o,s:s}", "op", "subscribed", "id", id_of(m),
                     "channel", name));
}

static void on_message(eddy_ws_t *ws, unsigned opcode, const char *data,
                       size_t len, void *arg) {
  client_t *c = arg;
  json_t *m = opcode == EDDY_WS_OP_TEXT ? json_loadb(data, len, 0, NULL) : NULL;
  if (!json_is_object(m)) {
    json_decref(m);
    eddy_ws_close(ws, 4000, "bad request");
    return;
  }
  const char *op = json_string_value(json_object_get(m, "op"));
  const char *name = json_string_value(json_object_get(m, "channel"));
  if (name == NULL || *name == '\0')
    error_reply(c, m, "channel required");
  else if (op != NULL && strcmp(op, "subscribe") == 0)
    subscribe(c, m, name);
  else if (op != NULL && strcmp(op, "publish") == 0)
    publish(c, m, name);
  else
    error_reply(c, m, "unknown op");
  json_decref(m);
}

static void on_close(eddy_ws_t *ws, const eddy_ws_close_info_t *info,
                     void *arg) {
  (void)ws;
  (void)info;
  client_t *c = arg;
  for (unsigned k = 0; k < c->nsubs; k++)
    channel_remove(c->subs[k], c->slot[k]);
  if (c->corked)
    hub.corked[c->corked - 1] = NULL;
  hub.nclients--;
  free(c);
}

static const eddy_ws_handlers_t handlers = {.on_message = on_message,
                                            .on_close = on_close};

static void handle_request(eddy_http_request_t *req, void *arg) {
  (void)arg;
  if (hub.stopping || hub.nclients >= MAX_CLIENTS) {
    eddy_http_respond_error(req, 503, "full");
    return;
  }
  client_t *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    eddy_http_respond_error(req, 503, "out of memory");
    return;
  }
  eddy_ws_config_t cfg = {0};
  cfg.max_message = 64 * 1024;
  cfg.max_send_queue = MAX_SEND_QUEUE;
  if (eddy_ws_accept(req, &cfg, &handlers, c, &c->ws) != 0) {
    free(c); /* answered by the library */
    return;
  }
  hub.nclients++;
}

static void stop(void *arg) {
  (void)arg;
  hub.stopping = 1;
  eddy_http_server_close(hub.http, 0, NULL, NULL);
  /* dropping the connections lets the loop end */
  for (channel_t *ch = hub.channels; ch != NULL; ch = ch->next)
    for (size_t i = 0; i < ch->n; i++)
      eddy_ws_abort(ch->clients[i]->ws);
  eddy_reactor_stop(hub.r);
}

int main(int argc, char **argv) {
  const char *endpoint = "tcp:0:interface=127.0.0.1";
  signal(SIGPIPE, SIG_IGN);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      endpoint = argv[++i];
    } else {
      fprintf(stderr, "usage: broadcast-eddy-ws [--port ENDPOINT]\n");
      return 2;
    }
  }
  int rc = eddy_reactor_new(&hub.r, 0);
  if (rc != 0) {
    fprintf(stderr, "broadcast-eddy-ws: %s\n", eddy_strerror(rc));
    return 1;
  }
  eddy_http_server_config_t hc = {0};
  hc.max_connections = MAX_CLIENTS;
  eddy_listener_t *l = NULL;
  rc = eddy_http_server_new(hub.r, &hc, handle_request, NULL, &hub.http);
  if (rc == 0)
    rc = eddy_http_server_listen(hub.http, endpoint, &l);
  if (rc == 0)
    rc = eddy_stop_on_signals(hub.r, stop, NULL);
  if (rc != 0) {
    fprintf(stderr, "broadcast-eddy-ws: cannot listen on %s: %s\n", endpoint,
            eddy_strerror(rc));
    return 1;
  }
  printf("event=ready port=%d\n", eddy_listener_port(l));
  fflush(stdout);
  rc = eddy_reactor_run(hub.r);
  /* the process ends here: what the channels hold goes with it */
  return rc == 0 ? 0 : 1;
}
