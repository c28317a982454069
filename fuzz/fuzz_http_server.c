/* fuzz_http_server.c — libFuzzer driver for the whole HTTP server.
 *
 * A server on a fake clock gets arbitrary bytes on a string transport, fed
 * in pieces whose sizes the input chooses, the clock moving between them
 * (so header, body, idle and linger timeouts all fire). The first bytes
 * pick small limits and a pipeline depth. Every request is answered, in a
 * way its path picks: at once, streamed, as a slice, later (from the next
 * piece, possibly after the client left), or by switching to a protocol
 * that swallows what follows. Afterwards the server must stop and the
 * reactor close with nothing left open, and every request handed to the
 * handler must have been finished exactly once (ASan checks the rest). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/http_parser.h"
#include "eddy/http_server.h"
#include "eddy/reactor.h"
#include "eddy/testing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HELD 8
#define MAX_TRACKED 4096

typedef struct {
  eddy_http_request_t *held[MAX_HELD];
  int nheld;
  unsigned handled;
  unsigned finished;
  int stopped;
  unsigned char was_head[MAX_TRACKED]; /* per handled request, in order */
} state_t;

/* ---- A protocol that swallows everything after a switch ---------------- */

static void sink_data(eddy_protocol_t *p, const char *d, size_t n) {
  (void)d;
  if (n > 0 && d[0] == 'Q')
    eddy_transport_lose_connection(p->transport);
}

static void sink_destroy(eddy_protocol_t *p) {
  free(p);
}

static const eddy_protocol_ops_t sink_ops = {
    .data_received = sink_data,
    .destroy = sink_destroy,
};

/* ---- The handler --------------------------------------------------------- */

static void answer(state_t *s, eddy_http_request_t *req, unsigned how) {
  static const char body[] = "0123456789abcdef";
  s->finished++;
  switch (how % 4) {
  case 0:
    eddy_http_respond(req, 200, "text/plain", body, sizeof(body) - 1);
    break;
  case 1:
    eddy_http_write(req, body, 3);
    eddy_http_write(req, body, 0);
    eddy_http_write(req, body, 7);
    eddy_http_finish(req);
    break;
  case 2: {
    eddy_http_set_header(req, "Content-Length", "10");
    eddy_http_write(req, body, 4); /* short: the connection closes */
    eddy_http_finish(req);
    break;
  }
  default:
    eddy_http_respond_error(req, 404, eddy_http_path(req));
    break;
  }
}

static void handler(eddy_http_request_t *req, void *arg) {
  state_t *s = arg;
  if (s->handled < MAX_TRACKED)
    s->was_head[s->handled] = strcmp(eddy_http_method(req), "HEAD") == 0;
  s->handled++;
  const char *path = eddy_http_path(req);
  size_t len;
  eddy_http_body(req, &len);
  unsigned h = (unsigned)strlen(path) + (unsigned)len;
  if (path[0] != '\0' && path[1] != '\0')
    h += (unsigned char)path[1];
  if (eddy_http_wants_upgrade(req) && h % 2 == 0) {
    eddy_protocol_t *p = malloc(sizeof(*p));
    if (p != NULL) {
      eddy_protocol_init(p, &sink_ops);
      if (eddy_http_switch_protocol(req, p) == 0) {
        s->finished++;
        return;
      }
      free(p);
    }
  }
  if (h % 3 == 0 && s->nheld < MAX_HELD) {
    s->held[s->nheld++] = req;
    return;
  }
  if (h % 5 == 0) {
    eddy_slice_t *sl = eddy_slice_new("slice body", 10);
    s->finished++;
    if (sl != NULL) {
      eddy_http_respond_slice(req, 201, NULL, sl);
      eddy_slice_unref(sl);
    } else {
      eddy_http_respond(req, 500, NULL, NULL, 0);
    }
    return;
  }
  answer(s, req, h);
}

static void answer_held(state_t *s) {
  for (int i = 0; i < s->nheld; i++)
    answer(s, s->held[i], (unsigned)i);
  s->nheld = 0;
}

/* The server's output must be a well-formed sequence of responses: one
 * final response per request handed to the handler, in order, then at most
 * one error of the server's own; interim 100s anywhere; nothing HTTP after a
 * 101. Only the last body may be cut short (a declared length not written,
 * or the connection aborted). */
static void check_output(const state_t *s, const char *out, size_t len) {
  eddy_http_parser_t p;
  eddy_http_header_t headers[64];
  eddy_http_parser_init(&p, EDDY_HTTP_RESPONSE, NULL);
  unsigned finals = 0;
  size_t pos = 0;
  while (pos < len) {
    unsigned idx = finals < MAX_TRACKED ? finals : MAX_TRACKED - 1;
    int head = finals < s->handled && s->was_head[idx];
    eddy_http_parser_reset(&p);
    eddy_http_parser_set_head_request(&p, head);
    eddy_http_msg_t m;
    int n = eddy_http_parse(&p, out + pos, len - pos, &m, headers, 64);
    if (n <= 0)
      abort(); /* not a response head (or a cut one) */
    pos += (size_t)n;
    if (m.status == 101)
      return;
    if (m.status == 100)
      continue;
    if (++finals > s->handled + 1)
      abort();
    if (m.body == EDDY_HTTP_BODY_LENGTH) {
      if (len - pos < m.content_length)
        return; /* cut short; the connection was closed after it */
      pos += (size_t)m.content_length;
    } else if (m.body == EDDY_HTTP_BODY_CHUNKED) {
      eddy_http_chunked_t ch;
      eddy_http_chunked_init(&ch, NULL);
      while (!eddy_http_chunked_done(&ch)) {
        const char *d;
        size_t dl;
        if (pos == len)
          return; /* cut by an abort */
        int k = eddy_http_chunked_feed(&ch, out + pos, len - pos, &d, &dl);
        if (k < 0)
          abort();
        pos += (size_t)k;
      }
    } else if (m.body == EDDY_HTTP_BODY_UNTIL_CLOSE) {
      return;
    }
    if (!m.keep_alive && pos != len)
      abort(); /* bytes after "Connection: close" */
  }
}

static void stopped(void *arg) {
  ((state_t *)arg)->stopped = 1;
}

static void spin(eddy_reactor_t *r) {
  for (int i = 0; i < 8; i++)
    eddy_reactor_run_once(r, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4)
    return 0;
  eddy_http_server_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.limits.max_line = 16 + data[0];
  cfg.limits.max_headers = 1 + data[1] % 16;
  cfg.limits.max_head = 64 + (size_t)data[1] * 4;
  cfg.limits.max_body = data[2];
  cfg.limits.max_chunk_ext = 1 + data[2] % 32;
  cfg.max_pipeline = 1 + data[3] % 4;
  cfg.header_timeout_ms = 100;
  cfg.body_timeout_ms = 100;
  cfg.idle_timeout_ms = 300;
  unsigned mode = data[3] >> 2;
  data += 4;
  size -= 4;

  eddy_reactor_t *r;
  if (eddy_reactor_new(&r, EDDY_REACTOR_FAKE_CLOCK) != 0)
    return 0;
  state_t s;
  memset(&s, 0, sizeof(s));
  eddy_http_server_t *srv;
  if (eddy_http_server_new(r, &cfg, handler, &s, &srv) != 0)
    abort();
  eddy_factory_t *f = eddy_http_server_factory(srv);
  eddy_string_transport_t *st = eddy_string_transport_new(r);
  eddy_string_transport_connect(st, f->build_protocol(f, NULL));

  /* Pieces: a length byte, then that many bytes (the last takes the rest). */
  size_t pos = 0;
  while (pos < size) {
    size_t n = data[pos++] % 64 + 1;
    if (n > size - pos)
      n = size - pos;
    if (mode & 1)
      eddy_string_transport_feed_bytewise(st, data + pos, n);
    else
      eddy_string_transport_feed(st, data + pos, n);
    pos += n;
    if (n > 0 && data[pos - 1] == '~')
      eddy_string_transport_set_pending(st, (size_t)1 << 20);
    else
      eddy_string_transport_set_pending(st, 0);
    spin(r);
    eddy_reactor_advance(r, (uint64_t)(n % 7) * 20);
    if (n % 4 == 0)
      answer_held(&s);
  }
  if (mode & 4)
    eddy_string_transport_feed_eof(st);
  else if (mode & 8)
    eddy_string_transport_disconnect(st, UV_ECONNRESET);
  /* Answering one lets the next pipelined request reach the handler. */
  for (int i = 0; i < 64 && s.nheld > 0; i++) {
    answer_held(&s);
    spin(r);
  }
  size_t outlen;
  const char *out = eddy_string_transport_value(st, &outlen);
  check_output(&s, out, outlen);
  eddy_http_server_close(srv, mode & 16 ? 50 : 0, stopped, &s);
  spin(r);
  eddy_reactor_advance(r, 100);
  spin(r);
  answer_held(&s); /* dispatched meanwhile; the client is gone by now */
  spin(r);
  eddy_string_transport_free(st);
  spin(r);
  if (!s.stopped || s.finished != s.handled) {
    fprintf(stderr, "stopped=%d finished=%u handled=%u nheld=%d\n", s.stopped,
            s.finished, s.handled, s.nheld);
    abort();
  }
  if (eddy_reactor_free(r) != 0)
    abort();
  return 0;
}
