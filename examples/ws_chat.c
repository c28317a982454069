/* ws-chat — a chat room in the browser: every message goes to everyone.
 *
 *   ws-chat [--port ENDPOINT] [-v]        (default tcp:8080, loopback)
 *
 * Open http://127.0.0.1:8080/ in several browser tabs. The page at / opens
 * a WebSocket to /ws; each arrival is named guest-N and announced, each
 * message comes back to everyone (its sender included) as "NAME: text", and
 * notices start with "* ".
 *
 * What it shows:
 *  - one HTTP server for both the page and the WebSocket resource;
 *  - broadcast with a shared message: each line is encoded once into one
 *    frame (and compressed once for the permessage-deflate receivers) that
 *    every connection's transport references without a copy;
 *  - a browser's safety: the WebSocket accepts only pages of this very
 *    server (Origin must match Host), so another site open in the same
 *    browser cannot talk in the user's name;
 *  - limits: message size, members, and a send queue per member — a member
 *    that stops reading is closed (1008) instead of growing our memory.
 */
#include <eddy/eddy.h>
#include <eddy/http_server.h>
#include <eddy/websocket.h>

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ENDPOINT "tcp:8080"
#define MAX_MEMBERS 1000
#define MAX_TEXT 4096 /* bytes in one message (1009 beyond) */
#define MAX_NAME 32
/* Bytes queued for one member before it counts as not reading. */
#define MAX_QUEUED (1024u * 1024u)
#define MAX_HOST 255
#define GRACE_MS 3000

/* The page, served at "/". Its script only uses textContent, so nothing a
 * member sends can become markup. */
static const char page[] =
    "<!doctype html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>eddy chat</title>\n"
    "<style>\n"
    "body{font:15px/1.4 system-ui,sans-serif;margin:0;display:flex;"
    "flex-direction:column;height:100vh;background:#f6f7f9}\n"
    "header{padding:.6em 1em;background:#234;color:#fff}\n"
    "#state{float:right;opacity:.8}\n"
    "#log{flex:1;overflow-y:auto;margin:0;padding:.5em 1em;list-style:none}\n"
    "#log li{padding:.15em 0;white-space:pre-wrap;word-wrap:break-word}\n"
    "#log li.notice{color:#667;font-style:italic}\n"
    "form{display:flex;gap:.5em;padding:.6em 1em;background:#fff;"
    "border-top:1px solid #ddd}\n"
    "#msg{flex:1;font:inherit;padding:.4em}\n"
    "</style>\n"
    "</head>\n"
    "<body data-state=\"connecting\">\n"
    "<header><span id=\"state\">connecting&hellip;</span>"
    "<b>eddy chat</b></header>\n"
    "<ul id=\"log\"></ul>\n"
    "<form id=\"form\" autocomplete=\"off\">\n"
    "<input id=\"msg\" maxlength=\"1000\" placeholder=\"Say something\" "
    "autofocus>\n"
    "<button>Send</button>\n"
    "</form>\n"
    "<script>\n"
    "'use strict';\n"
    "const log = document.getElementById('log');\n"
    "const state = document.getElementById('state');\n"
    "const input = document.getElementById('msg');\n"
    "function show(text) {\n"
    "  const li = document.createElement('li');\n"
    "  li.textContent = text;\n"
    "  if (text.startsWith('* ')) li.className = 'notice';\n"
    "  log.appendChild(li);\n"
    "  li.scrollIntoView({block: 'end'});\n"
    "}\n"
    "function setState(name, text) {\n"
    "  document.body.dataset.state = name;\n"
    "  state.textContent = text;\n"
    "}\n"
    "const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';\n"
    "const ws = new WebSocket(scheme + location.host + '/ws');\n"
    "window.chatSocket = ws;\n"
    "ws.onopen = () => setState('open', 'connected');\n"
    "ws.onmessage = (e) => show(e.data);\n"
    "ws.onclose = (e) => setState('closed', 'disconnected (' + e.code +\n"
    "    (e.reason ? ': ' + e.reason : '') + ')');\n"
    "document.getElementById('form').onsubmit = (e) => {\n"
    "  e.preventDefault();\n"
    "  if (input.value !== '' && ws.readyState === WebSocket.OPEN) {\n"
    "    ws.send(input.value);\n"
    "    input.value = '';\n"
    "  }\n"
    "};\n"
    "</script>\n"
    "</body>\n"
    "</html>\n";

typedef struct member_s member_t;

typedef struct room_s {
  eddy_reactor_t *reactor;
  eddy_http_server_t *http;
  member_t *members; /* every accepted WebSocket, open or opening */
  size_t nmembers;
  size_t online; /* the open ones */
  unsigned long next_guest;
  int stopping;
  eddy_timer_t grace;
} room_t;

struct member_s {
  eddy_ws_t *ws;
  room_t *room;
  member_t *prev, *next;
  int open;
  char name[MAX_NAME + 1];
};

/* Encodes one line once and queues it on every open member but `except`.
 * A member whose queue is full is being closed by the library (1008); the
 * others are not held back by it. */
static void broadcast(room_t *room, member_t *except, const char *text,
                      size_t len) {
  eddy_ws_message_t *m;
  int rc = eddy_ws_message_new(EDDY_WS_OP_TEXT, text, len, &m);
  if (rc != 0) {
    eddy_log(EDDY_LOG_WARN, "chat.broadcast_failed", "error=%s",
             eddy_err_name(rc));
    return;
  }
  member_t *next;
  for (member_t *p = room->members; p != NULL; p = next) {
    next = p->next;
    if (!p->open || p == except)
      continue;
    rc = eddy_ws_send_message(p->ws, m);
    if (rc == UV_ENOBUFS)
      eddy_log(EDDY_LOG_INFO, "chat.slow_member", "name=%s", p->name);
  }
  /* Transports keep their own references until the bytes are written. */
  eddy_ws_message_unref(m);
}

static void notice(room_t *room, member_t *except, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void notice(room_t *room, member_t *except, const char *fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  broadcast(room, except, line,
            (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void member_open(eddy_ws_t *ws, void *arg) {
  member_t *p = arg;
  room_t *room = p->room;
  if (room->stopping) {
    eddy_ws_close(ws, 1001, "server shutting down");
    return;
  }
  p->open = 1;
  room->online++;
  char hello[128];
  int n = snprintf(hello, sizeof(hello), "* welcome, you are %s (%zu online)",
                   p->name, room->online);
  eddy_ws_send_text(ws, hello, (size_t)n);
  notice(room, p, "* %s joined (%zu online)", p->name, room->online);
  eddy_log(EDDY_LOG_DEBUG, "chat.joined", "name=%s deflate=%s", p->name,
           eddy_ws_deflate(ws, NULL) ? "yes" : "no");
}

static void member_message(eddy_ws_t *ws, unsigned opcode, const char *data,
                           size_t len, void *arg) {
  member_t *p = arg;
  if (opcode != EDDY_WS_OP_TEXT) {
    eddy_ws_close(ws, 1003, "text messages only");
    return;
  }
  if (len == 0 || len > MAX_TEXT) /* cfg.max_message keeps len in range */
    return;
  /* "NAME: " and the text, which may hold any valid UTF-8 (NUL included):
   * copied, not formatted. */
  char line[MAX_NAME + 2 + MAX_TEXT];
  size_t nl = strlen(p->name);
  memcpy(line, p->name, nl);
  memcpy(line + nl, ": ", 2);
  memcpy(line + nl + 2, data, len);
  broadcast(p->room, NULL, line, nl + 2 + len);
}

static void member_close(eddy_ws_t *ws, const eddy_ws_close_info_t *info,
                         void *arg) {
  (void)ws;
  member_t *p = arg;
  room_t *room = p->room;
  if (p->prev != NULL)
    p->prev->next = p->next;
  else
    room->members = p->next;
  if (p->next != NULL)
    p->next->prev = p->prev;
  room->nmembers--;
  eddy_log(EDDY_LOG_DEBUG, "chat.left", "name=%s code=%u error=%s", p->name,
           info->code, info->error != 0 ? eddy_err_name(info->error) : "none");
  if (p->open) {
    room->online--;
    if (!room->stopping)
      notice(room, NULL, "* %s left (%zu online)", p->name, room->online);
  }
  free(p);
  if (room->stopping && room->nmembers == 0)
    eddy_timer_stop(&room->grace);
}

static const eddy_ws_handlers_t member_handlers = {
    .on_open = member_open,
    .on_message = member_message,
    .on_close = member_close,
};

static void join(room_t *room, eddy_http_request_t *req) {
  if (room->stopping || room->nmembers >= MAX_MEMBERS) {
    eddy_http_respond_error(
        req, 503, room->stopping ? "shutting down" : "the room is full");
    return;
  }
  /* Browsers send Origin; only this server's own page may connect. Clients
   * that are not browsers send none and are let in. */
  const char *host = eddy_http_header(req, "Host");
  if (host == NULL || strlen(host) > MAX_HOST) {
    eddy_http_respond_error(req, 400, "a valid Host header is required");
    return;
  }
  char origin[MAX_HOST + 8];
  snprintf(origin, sizeof(origin), "http://%s", host);
  const char *const origins[] = {origin, NULL};

  member_t *p = calloc(1, sizeof(*p));
  if (p == NULL) {
    eddy_http_respond_error(req, 503, "out of memory");
    return;
  }
  p->room = room;
  snprintf(p->name, sizeof(p->name), "guest-%lu", ++room->next_guest);

  eddy_ws_config_t cfg = {0};
  cfg.max_message = MAX_TEXT;
  cfg.max_send_queue = MAX_QUEUED;
  cfg.permessage_deflate = 1;
  cfg.origins = origins;
  int rc = eddy_ws_accept(req, &cfg, &member_handlers, p, &p->ws);
  if (rc != 0) {
    /* Answered by the library: 400, 426 or 403 (another site's page). */
    eddy_log(EDDY_LOG_INFO, "chat.refused", "error=%s", eddy_err_name(rc));
    free(p);
    return;
  }
  p->next = room->members;
  if (room->members != NULL)
    room->members->prev = p;
  room->members = p;
  room->nmembers++;
}

static void handle_request(eddy_http_request_t *req, void *arg) {
  room_t *room = arg;
  const char *path = eddy_http_path(req);
  const char *method = eddy_http_method(req);
  int get = strcmp(method, "GET") == 0;
  if (strcmp(path, "/ws") == 0) {
    join(room, req); /* the library answers everything but a valid GET */
    return;
  }
  if (strcmp(path, "/favicon.ico") == 0) {
    /* Browsers ask for it; "none" keeps their consoles quiet. */
    eddy_http_respond(req, 204, NULL, NULL, 0);
    return;
  }
  if (strcmp(path, "/") != 0) {
    eddy_http_respond_error(req, 404, NULL);
    return;
  }
  if (!get && strcmp(method, "HEAD") != 0) {
    eddy_http_set_header(req, "Allow", "GET, HEAD");
    eddy_http_respond_error(req, 405, NULL);
    return;
  }
  eddy_http_set_header(req, "Cache-Control", "no-store");
  eddy_http_set_header(req, "X-Content-Type-Options", "nosniff");
  eddy_http_respond(req, 200, "text/html; charset=utf-8", page,
                    sizeof(page) - 1);
}

/* ---- Stopping ----------------------------------------------------------- */

static void grace_expired(eddy_timer_t *t) {
  room_t *room = t->data;
  eddy_log(EDDY_LOG_WARN, "stop.forced", "connections=%zu", room->nmembers);
  member_t *next;
  for (member_t *p = room->members; p != NULL; p = next) {
    next = p->next;
    eddy_ws_abort(p->ws);
  }
}

static void stop_room(void *arg) {
  room_t *room = arg;
  if (room->stopping)
    return;
  room->stopping = 1;
  eddy_log(EDDY_LOG_INFO, "stopping", "connections=%zu", room->nmembers);
  eddy_http_server_close(room->http, GRACE_MS, NULL, NULL);
  room->http = NULL;
  member_t *next;
  for (member_t *p = room->members; p != NULL; p = next) {
    next = p->next;
    if (p->open)
      eddy_ws_close(p->ws, 1001, "server shutting down");
  }
  if (room->nmembers > 0)
    eddy_timer_start(&room->grace, GRACE_MS, grace_expired);
}

/* ---- Start-up ----------------------------------------------------------- */

static void usage(FILE *out) {
  fprintf(out,
          "usage: ws-chat [--port ENDPOINT] [-v]\n"
          "A chat room for browsers: open http://HOST:PORT/ in several "
          "tabs.\n\n"
          "  --port ENDPOINT  where to listen (default " DEFAULT_ENDPOINT
          ", loopback);\n"
          "                   tcp:0 picks a free port (see port= in the log)\n"
          "  -v, --verbose    log every arrival and departure\n"
          "  -h, --help       show this help\n");
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  const char *endpoint = DEFAULT_ENDPOINT;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(argv[i], "-v") == 0 ||
               strcmp(argv[i], "--verbose") == 0) {
      eddy_log_set_level(EDDY_LOG_DEBUG);
    } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      endpoint = argv[++i];
    } else {
      usage(stderr);
      return 2;
    }
  }
  eddy_endpoint_t ep;
  eddy_endpoint_error_t err;
  if (eddy_endpoint_parse_server(endpoint, &ep, &err) != 0) {
    fprintf(stderr, "ws-chat: bad endpoint: %s\n  %s\n  %*s^\n", err.message,
            endpoint, (int)err.pos, "");
    return 2;
  }

  eddy_reactor_t *r;
  int rc = eddy_reactor_new(&r, 0);
  if (rc != 0) {
    fprintf(stderr, "ws-chat: %s\n", eddy_strerror(rc));
    return 1;
  }
  room_t room = {.reactor = r};
  eddy_timer_init(r, &room.grace);
  room.grace.data = &room;
  eddy_http_server_config_t hc = {0};
  hc.access_log = eddy_log_get_level() == EDDY_LOG_DEBUG;
  eddy_listener_t *l = NULL;
  rc = eddy_http_server_new(r, &hc, handle_request, &room, &room.http);
  if (rc == 0)
    rc = eddy_http_server_listen(room.http, endpoint, &l);
  if (rc == 0)
    rc = eddy_stop_on_signals(r, stop_room, &room);
  if (rc != 0) {
    fprintf(stderr, "ws-chat: cannot listen on %s: %s\n", endpoint,
            eddy_strerror(rc));
    if (room.http != NULL)
      eddy_http_server_close(room.http, 0, NULL, NULL);
    eddy_reactor_run(r);
    eddy_reactor_free(r);
    return 1;
  }

  char quoted[300];
  int port = eddy_listener_port(l);
  eddy_log(EDDY_LOG_INFO, "ready", "endpoint=%s port=%d",
           eddy_log_quote(quoted, sizeof(quoted), endpoint), port);
  if (port != 0)
    printf("open http://127.0.0.1:%d/ in a browser\n", port);
  fflush(stdout);

  rc = eddy_reactor_run(r);
  int left = eddy_reactor_free(r);
  eddy_log(EDDY_LOG_INFO, "stopped", "clean=%s", left == 0 ? "yes" : "no");
  return rc == 0 && left == 0 ? 0 : 1;
}
