/* ws-load — a libuv WebSocket echo load generator.
 *
 *   ws-load --port P [--host 127.0.0.1] [--path /] [-c CONNS] [-k INFLIGHT]
 *           [-s BYTES] [--binary] [-d SECONDS] [-w WARMUP_SECONDS]
 *           [--rate MSGS_PER_S]
 *
 * Opens C connections, upgrades each (RFC 6455 handshake; the server's
 * Sec-WebSocket-Accept is checked), then:
 *  closed loop  each connection keeps K messages of S bytes in flight: each
 *               echo that comes back is replaced by a new message. Reports
 *               messages echoed per second and the latency of each (send to
 *               the end of its echo).
 *  --rate R     R messages per second in total on a fixed schedule, round
 *               robin over the connections, without waiting for echoes;
 *               latency counts from when each message was DUE, so a stall
 *               anywhere shows up (no coordinated omission). For the
 *               server's CPU time per message at a fixed load.
 *
 * Client frames are masked, as RFC 6455 requires, but built once, at
 * start-up: a pool of up to 16 frames, each with its own random key, used in
 * turn (a server cannot tell; the RFC's unpredictable keys protect
 * intermediaries from browser scripts, not at issue here). So sending costs
 * this tool no per-byte work: it must stay cheaper than the servers it
 * measures. Echoes
 * are parsed frame by frame (fragmented messages, pings — answered with a
 * pong — and a close are handled); the payload of the first 4 echoes on each
 * connection is compared byte for byte with what was sent, the rest only
 * counted. Replies that arrive together are answered in one write.
 *
 * Messages are UTF-8 text by default (letters), --binary for binary. No
 * extension is offered (no permessage-deflate): every server in the
 * comparison echoes plain frames.
 *
 * The last line of output is one "key=value ..." record for scripts, with
 * load_cpu_pct, this process's CPU use during the measurement: when it nears
 * 100 the generator, not the server, set the pace.
 */
#include <errno.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <uv.h>

#include "load_common.h"

#define MAX_CONNS 10000
#define MAX_SIZE (16u * 1024u * 1024u)
#define MAX_INFLIGHT 1024
#define RING 4096              /* most unanswered messages per connection */
#define POOL_MAX 16            /* prebuilt masked frames */
#define POOL_BYTES (64u << 20) /* at most this much memory for them */
#define MAX_IOV 256            /* frames per write call */
#define VERIFY_FIRST 4         /* echoes checked byte for byte per conn */
#define HS_MAX 4096            /* the server's handshake response */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ---- State -------------------------------------------------------------- */

typedef enum { PH_CONNECTING, PH_WARMUP, PH_MEASURE, PH_DONE } phase_t;

typedef struct conn_s {
  uv_tcp_t tcp;
  uv_connect_t creq;
  int upgraded;
  char accept[32]; /* the Sec-WebSocket-Accept we expect */
  char req[512];   /* the handshake request */
  char hs[HS_MAX]; /* the response, until its blank line */
  size_t hs_len;
  /* frame parser */
  unsigned char hdr[14];
  unsigned hdr_len, hdr_need;
  int in_payload;
  uint64_t payload_left;
  int opcode, fin;
  int in_msg;         /* a data message has begun (fragmented) */
  uint64_t msg_bytes; /* bytes of the current message so far */
  unsigned char ctl[125];
  unsigned ctl_len;
  unsigned verified;
  /* send times (or due times) of unanswered messages */
  uint64_t ring[RING];
  unsigned head, count;
  unsigned pool_next;
} conn_t;

typedef struct wreq_s {
  uv_write_t req;
  conn_t *conn;
  size_t len;
  unsigned char data[]; /* a copy, when the bytes are not the pool's */
} wreq_t;

static struct {
  const char *host, *path;
  int port;
  unsigned conns, inflight;
  size_t size;
  int binary;
  double duration, warmup, rate;
} opt = {"127.0.0.1", "/", 0, 50, 1, 64, 0, 5.0, 1.0, 0.0};

static uv_loop_t *loop;
static conn_t *conns;
static unsigned char *payload;  /* the message, unmasked */
static uv_buf_t pool[POOL_MAX]; /* masked frames ready to send */
static unsigned npool;
static unsigned char rbuf[256 * 1024];
static unsigned upgraded;
static phase_t phase = PH_CONNECTING;
static uv_timer_t phase_timer;
static uint64_t t_measure;
static double cpu_start;
static uint64_t done_msgs, missed, failures, pings;
/* Everything echoed since the load started, warm-up included: what a runner
 * reading the server's CPU time around the whole run divides by. */
static uint64_t all_msgs;
static int tfd = -1;
static uv_poll_t pacer;
static uint64_t t_sched0, next_msg;

static void finish(void);

static void fail_conn(conn_t *c, const char *what, const char *detail) {
  if (phase != PH_DONE) {
    fprintf(stderr, "ws-load: %s: %s\n", what, detail);
    failures++;
  }
  if (!uv_is_closing((uv_handle_t *)&c->tcp))
    uv_close((uv_handle_t *)&c->tcp, NULL);
  /* a connection lost before the load started would stall it forever */
  if (phase == PH_CONNECTING)
    finish();
}

/* ---- Frames ------------------------------------------------------------- */

/* Writes a client frame header (FIN set, masked) for len bytes into out;
 * returns its length, mask key included. */
static size_t frame_header(unsigned char *out, int opcode, uint64_t len,
                           const unsigned char key[4]) {
  size_t n = 0;
  out[n++] = (unsigned char)(0x80 | opcode);
  if (len < 126) {
    out[n++] = (unsigned char)(0x80 | len);
  } else if (len <= 0xffff) {
    out[n++] = 0x80 | 126;
    out[n++] = (unsigned char)(len >> 8);
    out[n++] = (unsigned char)len;
  } else {
    out[n++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--)
      out[n++] = (unsigned char)(len >> (8 * i));
  }
  memcpy(out + n, key, 4);
  return n + 4;
}

static int build_pool(void) {
  size_t frame = opt.size + 14;
  npool = (unsigned)(POOL_BYTES / frame);
  if (npool > POOL_MAX)
    npool = POOL_MAX;
  if (npool == 0)
    npool = 1;
  for (unsigned i = 0; i < npool; i++) {
    unsigned char key[4];
    unsigned char *f = malloc(frame);
    if (f == NULL || RAND_bytes(key, 4) != 1) {
      free(f);
      return -1;
    }
    size_t h = frame_header(f, opt.binary ? 2 : 1, opt.size, key);
    for (size_t j = 0; j < opt.size; j++)
      f[h + j] = payload[j] ^ key[j & 3];
    pool[i] = uv_buf_init((char *)f, (unsigned)(h + opt.size));
  }
  return 0;
}

/* ---- Writing ------------------------------------------------------------ */

static void on_write(uv_write_t *req, int status) {
  wreq_t *w = (wreq_t *)req;
  conn_t *c = w->conn;
  free(w);
  if (status < 0 && status != UV_ECANCELED)
    fail_conn(c, "write", uv_strerror(status));
}

/* Writes iov: straight into the socket when it can, the rest queued. Bytes
 * of the pool (copy == 0) stay valid for the whole run, so they are queued
 * without a copy; others are copied. uv_try_write refuses while anything is
 * queued, so the order holds. */
static void write_iov(conn_t *c, uv_buf_t *iov, unsigned n, int copy) {
  int w = uv_try_write((uv_stream_t *)&c->tcp, iov, n);
  if (w == UV_EAGAIN)
    w = 0;
  if (w < 0) {
    fail_conn(c, "write", uv_strerror(w));
    return;
  }
  size_t done = (size_t)w;
  while (n > 0 && done >= iov->len) {
    done -= iov->len;
    iov++;
    n--;
  }
  if (n == 0)
    return;
  iov->base += done;
  iov->len -= done;
  size_t extra = 0;
  if (copy)
    for (unsigned i = 0; i < n; i++)
      extra += iov[i].len;
  wreq_t *r = malloc(sizeof(*r) + extra);
  if (r == NULL) {
    fail_conn(c, "write", "out of memory");
    return;
  }
  r->conn = c;
  r->len = extra;
  uv_buf_t one;
  if (copy) {
    size_t off = 0;
    for (unsigned i = 0; i < n; i++) {
      memcpy(r->data + off, iov[i].base, iov[i].len);
      off += iov[i].len;
    }
    one = uv_buf_init((char *)r->data, (unsigned)extra);
    iov = &one;
    n = 1;
  }
  int rc = uv_write(&r->req, (uv_stream_t *)&c->tcp, iov, n, on_write);
  if (rc != 0) {
    free(r);
    fail_conn(c, "write", uv_strerror(rc));
  }
}

/* Sends k messages on c in as few writes as it can, each stamped. */
static void send_msgs(conn_t *c, unsigned k, uint64_t stamp) {
  uv_buf_t iov[MAX_IOV];
  while (k > 0 && !uv_is_closing((uv_handle_t *)&c->tcp)) {
    unsigned m = 0;
    while (m < MAX_IOV && k > 0) {
      k--;
      if (c->count == RING) {
        missed++; /* RING echoes owed on this connection: the server lags */
        continue;
      }
      c->ring[(c->head + c->count) % RING] = stamp;
      c->count++;
      iov[m++] = pool[c->pool_next++ % npool];
    }
    if (m > 0)
      write_iov(c, iov, m, 0);
  }
}

static void send_pong(conn_t *c) {
  unsigned char f[14 + 125], key[4];
  if (RAND_bytes(key, 4) != 1) {
    fail_conn(c, "pong", "no random bytes");
    return;
  }
  size_t h = frame_header(f, 0xA, c->ctl_len, key);
  for (unsigned j = 0; j < c->ctl_len; j++)
    f[h + j] = c->ctl[j] ^ key[j & 3];
  uv_buf_t b = uv_buf_init((char *)f, (unsigned)(h + c->ctl_len));
  write_iov(c, &b, 1, 1);
}

/* ---- Reading frames ----------------------------------------------------- */

/* A whole frame's header is in c->hdr: checks it and starts its payload.
 * Returns 0, or -1 after failing the connection. */
static int frame_begin(conn_t *c) {
  const unsigned char *h = c->hdr;
  c->fin = h[0] >> 7;
  c->opcode = h[0] & 0x0f;
  if (h[0] & 0x70)
    return fail_conn(c, "frame",
                     "reserved bits set (no extension was offered)"),
           -1;
  if (h[1] & 0x80)
    return fail_conn(c, "frame", "the server masked a frame"), -1;
  uint64_t len = h[1] & 0x7f;
  if (len == 126)
    len = (uint64_t)h[2] << 8 | h[3];
  else if (len == 127) {
    len = 0;
    for (int i = 2; i < 10; i++)
      len = len << 8 | h[i];
  }
  if (c->opcode >= 8) {
    if (len > 125 || !c->fin)
      return fail_conn(c, "frame", "bad control frame"), -1;
    if (c->opcode == 8)
      return fail_conn(c, "frame", "the server sent a close frame"), -1;
    if (c->opcode != 9 && c->opcode != 10)
      return fail_conn(c, "frame", "unknown control opcode"), -1;
    c->ctl_len = 0;
  } else if (c->opcode == 0) {
    if (!c->in_msg)
      return fail_conn(c, "frame", "continuation without a message"), -1;
  } else if (c->opcode == 1 || c->opcode == 2) {
    if (c->in_msg)
      return fail_conn(c, "frame", "new message inside a fragmented one"), -1;
    if (c->opcode != (opt.binary ? 2 : 1))
      return fail_conn(c, "frame", "the echo is not of the type sent"), -1;
    c->in_msg = 1;
    c->msg_bytes = 0;
  } else {
    return fail_conn(c, "frame", "unknown opcode"), -1;
  }
  if (c->opcode < 8 && c->msg_bytes + len > opt.size)
    return fail_conn(c, "frame", "echo longer than the message sent"), -1;
  c->payload_left = len;
  c->in_payload = 1;
  return 0;
}

/* The current frame is complete. Returns 1 when it ended a data message. */
static int frame_end(conn_t *c) {
  c->in_payload = 0;
  c->hdr_len = 0;
  c->hdr_need = 2;
  if (c->opcode == 9) {
    pings++;
    send_pong(c);
    return 0;
  }
  if (c->opcode == 10 || !c->fin)
    return 0;
  c->in_msg = 0;
  if (c->msg_bytes != opt.size) {
    fail_conn(c, "frame", "echo shorter than the message sent");
    return 0;
  }
  if (c->verified < VERIFY_FIRST)
    c->verified++;
  return 1;
}

static void on_frames(conn_t *c, const unsigned char *p, size_t n) {
  uint64_t now = uv_hrtime();
  unsigned owe = 0;
  while (n > 0 && !uv_is_closing((uv_handle_t *)&c->tcp)) {
    if (!c->in_payload) {
      c->hdr[c->hdr_len++] = *p++;
      n--;
      if (c->hdr_len == 2) {
        unsigned l7 = c->hdr[1] & 0x7f;
        c->hdr_need = 2 +
                      (l7 == 126   ? 2
                       : l7 == 127 ? 8
                                   : 0) +
                      (c->hdr[1] & 0x80 ? 4 : 0);
      }
      if (c->hdr_len < 2 || c->hdr_len < c->hdr_need)
        continue;
      if (frame_begin(c) != 0)
        return;
    } else {
      size_t m = n < c->payload_left ? n : (size_t)c->payload_left;
      if (c->opcode >= 8) {
        memcpy(c->ctl + c->ctl_len, p, m);
        c->ctl_len += (unsigned)m;
      } else {
        if (c->verified < VERIFY_FIRST &&
            memcmp(p, payload + c->msg_bytes, m) != 0) {
          fail_conn(c, "echo", "the bytes differ from those sent");
          return;
        }
        c->msg_bytes += m;
      }
      p += m;
      n -= m;
      c->payload_left -= m;
    }
    if (c->payload_left > 0 || !c->in_payload)
      continue;
    if (!frame_end(c))
      continue;
    /* one message echoed */
    if (c->count == 0) {
      fail_conn(c, "echo", "more echoes than messages sent");
      return;
    }
    uint64_t sent = c->ring[c->head];
    c->head = (c->head + 1) % RING;
    c->count--;
    if (phase != PH_DONE)
      all_msgs++;
    if (phase == PH_MEASURE) {
      load_hist_add(now - sent);
      done_msgs++;
    }
    owe++;
  }
  if (owe > 0 && opt.rate == 0 && phase != PH_DONE &&
      !uv_is_closing((uv_handle_t *)&c->tcp))
    send_msgs(c, owe, uv_hrtime());
}

/* ---- The handshake ------------------------------------------------------ */

static void start_load(void);

/* Sec-WebSocket-Accept for key: base64(SHA-1(key + GUID)). */
static int accept_for(const char *key, char out[32]) {
  char in[64];
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0;
  int n = snprintf(in, sizeof(in), "%s%s", key, WS_GUID);
  if (n < 0 || (size_t)n >= sizeof(in) ||
      EVP_Digest(in, (size_t)n, md, &mdlen, EVP_sha1(), NULL) != 1 ||
      mdlen != 20)
    return -1;
  EVP_EncodeBlock((unsigned char *)out, md, 20);
  return 0;
}

/* The value of header name in the response head, or NULL. */
static const char *header_value(const char *head, const char *name,
                                size_t *len) {
  size_t nl = strlen(name);
  for (const char *l = strstr(head, "\r\n"); l != NULL; l = strstr(l, "\r\n")) {
    l += 2;
    if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
      const char *v = l + nl + 1;
      while (*v == ' ' || *v == '\t')
        v++;
      const char *e = strstr(v, "\r\n");
      while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
      *len = (size_t)(e - v);
      return v;
    }
  }
  return NULL;
}

static void on_handshake(conn_t *c, const char *p, size_t n) {
  size_t before = c->hs_len;
  size_t room = sizeof(c->hs) - 1 - c->hs_len;
  size_t take = n < room ? n : room;
  memcpy(c->hs + c->hs_len, p, take);
  c->hs_len += take;
  c->hs[c->hs_len] = '\0';
  char *end = strstr(c->hs, "\r\n\r\n");
  if (end == NULL) {
    if (c->hs_len == sizeof(c->hs) - 1)
      fail_conn(c, "handshake", "response head too long");
    return;
  }
  end[2] = '\0'; /* keep the last header's CRLF for header_value */
  size_t head_len = (size_t)(end + 4 - c->hs);
  size_t vlen;
  const char *v = header_value(c->hs, "Sec-WebSocket-Accept", &vlen);
  if (strncmp(c->hs, "HTTP/1.1 101 ", 13) != 0) {
    char *eol = strstr(c->hs, "\r\n");
    *eol = '\0';
    fail_conn(c, "handshake refused", c->hs);
    return;
  }
  if (v == NULL || vlen != strlen(c->accept) ||
      memcmp(v, c->accept, vlen) != 0) {
    fail_conn(c, "handshake", "wrong or missing Sec-WebSocket-Accept");
    return;
  }
  if (header_value(c->hs, "Sec-WebSocket-Extensions", &vlen) != NULL) {
    fail_conn(c, "handshake", "the server chose an extension not offered");
    return;
  }
  c->upgraded = 1;
  /* frames right behind the head (none are expected: nothing was sent) */
  size_t used = head_len - before; /* bytes of p that were the head */
  if (n > used)
    on_frames(c, (const unsigned char *)p + used, n - used);
  if (++upgraded == opt.conns)
    start_load();
}

/* ---- Reading ------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h;
  (void)hint;
  /* Parsed as it comes, never kept: one buffer serves every connection. */
  *buf = uv_buf_init((char *)rbuf, sizeof(rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = s->data;
  if (n < 0) {
    fail_conn(c, "read", uv_strerror((int)n));
    return;
  }
  if (c->upgraded)
    on_frames(c, (const unsigned char *)buf->base, (size_t)n);
  else
    on_handshake(c, buf->base, (size_t)n);
}

static void on_connect(uv_connect_t *req, int status) {
  conn_t *c = req->data;
  if (status < 0) {
    fail_conn(c, "connect", uv_strerror(status));
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  unsigned char raw[16];
  char key[32];
  if (RAND_bytes(raw, sizeof(raw)) != 1) {
    fail_conn(c, "handshake", "no random bytes");
    return;
  }
  EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
  if (accept_for(key, c->accept) != 0) {
    fail_conn(c, "handshake", "SHA-1 failed");
    return;
  }
  int n = snprintf(c->req, sizeof(c->req),
                   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n",
                   opt.path, opt.host, opt.port, key);
  uv_buf_t b = uv_buf_init(c->req, (unsigned)n);
  write_iov(c, &b, 1, 1);
}

/* ---- Rate mode: a timerfd wakes us exactly when the next message is due */

static void on_pacer(uv_poll_t *h, int status, int events) {
  (void)h;
  (void)status;
  (void)events;
  if (load_pacer_ack(tfd) != 0 || phase == PH_DONE)
    return;
  uint64_t now = uv_hrtime();
  double gap = 1e9 / opt.rate;
  for (;;) {
    uint64_t due = t_sched0 + (uint64_t)((double)next_msg * gap);
    if (due > now) {
      load_pacer_arm(tfd, due);
      return;
    }
    conn_t *c = &conns[next_msg % opt.conns];
    next_msg++;
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
      send_msgs(c, 1, due); /* latency counts from when it was due */
  }
}

/* ---- Phases ------------------------------------------------------------- */

static void on_phase(uv_timer_t *t) {
  (void)t;
  if (phase == PH_WARMUP) {
    phase = PH_MEASURE;
    t_measure = uv_hrtime();
    cpu_start = load_cpu_secs();
    /* runners read the server's CPU time from here */
    printf("event=measure\n");
    fflush(stdout);
    uv_timer_start(&phase_timer, on_phase, (uint64_t)(opt.duration * 1000), 0);
  } else if (phase == PH_MEASURE) {
    finish();
  }
}

static void start_load(void) {
  phase = PH_WARMUP;
  uv_timer_start(&phase_timer, on_phase, (uint64_t)(opt.warmup * 1000), 0);
  if (opt.rate > 0) {
    t_sched0 = uv_hrtime();
    next_msg = 0;
    load_pacer_arm(tfd, t_sched0);
  } else {
    for (unsigned i = 0; i < opt.conns; i++)
      send_msgs(&conns[i], opt.inflight, uv_hrtime());
  }
}

static void finish(void) {
  if (phase == PH_DONE)
    return;
  int measured = phase == PH_MEASURE;
  phase = PH_DONE;
  double secs = (double)(uv_hrtime() - t_measure) / 1e9;
  if (measured && secs > 0) {
    double cpu = (load_cpu_secs() - cpu_start) / secs * 100.0;
    printf("mode=ws conns=%u inflight=%u size=%zu binary=%d rate=%.0f "
           "secs=%.3f msgs=%llu msgs_per_s=%.0f mib_per_s=%.2f p50_us=%.1f "
           "p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f missed=%llu "
           "all_msgs=%llu pings=%llu load_cpu_pct=%.1f failures=%llu\n",
           opt.conns, opt.inflight, opt.size, opt.binary, opt.rate, secs,
           (unsigned long long)done_msgs, (double)done_msgs / secs,
           (double)done_msgs * (double)opt.size / secs / (1024.0 * 1024.0),
           load_hist_pct_us(0.50), load_hist_pct_us(0.90),
           load_hist_pct_us(0.99), load_hist_pct_us(0.999), load_hist_max_us(),
           (unsigned long long)missed, (unsigned long long)all_msgs,
           (unsigned long long)pings, cpu, (unsigned long long)failures);
    fflush(stdout);
  }
  load_close_all(loop);
}

/* ---- Options ------------------------------------------------------------ */

static void usage(FILE *out) {
  fprintf(out,
          "usage: ws-load --port P [options]\n"
          "  --host ADDR          IPv4 address of the server (127.0.0.1)\n"
          "  --port P             its port (required)\n"
          "  --path PATH          the resource to upgrade (/)\n"
          "  -c, --connections N  connections (50, at most %d)\n"
          "  -k, --inflight K     messages in flight per connection (1, at "
          "most %d)\n"
          "  -s, --size BYTES     message size (64, at most %u)\n"
          "  --binary             binary messages (default: UTF-8 text)\n"
          "  -d, --duration S     measured seconds (5)\n"
          "  -w, --warmup S       unmeasured seconds first (1)\n"
          "  --rate R             R messages/s in total on a fixed schedule\n"
          "                       instead of a closed loop\n",
          MAX_CONNS, MAX_INFLIGHT, MAX_SIZE);
}

static int parse(int argc, char **argv) {
  static const struct option longs[] = {
      {"host", required_argument, 0, 'H'},
      {"port", required_argument, 0, 'p'},
      {"path", required_argument, 0, 'P'},
      {"connections", required_argument, 0, 'c'},
      {"inflight", required_argument, 0, 'k'},
      {"size", required_argument, 0, 's'},
      {"binary", no_argument, 0, 'b'},
      {"duration", required_argument, 0, 'd'},
      {"warmup", required_argument, 0, 'w'},
      {"rate", required_argument, 0, 'r'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "c:k:s:d:w:h", longs, NULL)) != -1) {
    switch (ch) {
    case 'H':
      opt.host = optarg;
      break;
    case 'p':
      opt.port = atoi(optarg);
      break;
    case 'P':
      opt.path = optarg;
      break;
    case 'c':
      opt.conns = (unsigned)strtoul(optarg, NULL, 10);
      break;
    case 'k':
      opt.inflight = (unsigned)strtoul(optarg, NULL, 10);
      break;
    case 's':
      opt.size = strtoul(optarg, NULL, 10);
      break;
    case 'b':
      opt.binary = 1;
      break;
    case 'd':
      opt.duration = strtod(optarg, NULL);
      break;
    case 'w':
      opt.warmup = strtod(optarg, NULL);
      break;
    case 'r':
      opt.rate = strtod(optarg, NULL);
      break;
    case 'h':
      usage(stdout);
      exit(0);
    default:
      return -1;
    }
  }
  if (optind != argc ||
      !load_common_opts_ok(opt.port, opt.conns, MAX_CONNS, opt.duration,
                           opt.warmup, opt.rate) ||
      opt.size == 0 || opt.size > MAX_SIZE || opt.inflight == 0 ||
      opt.inflight > MAX_INFLIGHT || opt.path[0] != '/' ||
      strlen(opt.path) > 200 || strpbrk(opt.path, " \r\n") != NULL ||
      strlen(opt.host) > 64)
    return -1;
  return 0;
}

int main(int argc, char **argv) {
  if (parse(argc, argv) != 0) {
    usage(stderr);
    return 2;
  }
  struct sockaddr_in addr;
  if (uv_ip4_addr(opt.host, opt.port, &addr) != 0) {
    fprintf(stderr, "ws-load: bad address %s\n", opt.host);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  loop = uv_default_loop();
  conns = calloc(opt.conns, sizeof(*conns));
  payload = malloc(opt.size);
  if (conns == NULL || payload == NULL) {
    fprintf(stderr, "ws-load: out of memory\n");
    return 1;
  }
  for (size_t i = 0; i < opt.size; i++)
    payload[i] = (unsigned char)('a' + i % 26);
  if (build_pool() != 0) {
    fprintf(stderr, "ws-load: out of memory for the frames\n");
    return 1;
  }
  uv_timer_init(loop, &phase_timer);
  if (opt.rate > 0) {
    tfd = load_pacer_open(loop, &pacer, on_pacer);
    if (tfd < 0) {
      fprintf(stderr, "ws-load: timerfd: %s\n", strerror(errno));
      return 1;
    }
  }
  for (unsigned i = 0; i < opt.conns; i++) {
    conn_t *c = &conns[i];
    c->hdr_need = 2;
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    c->creq.data = c;
    int rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&addr,
                            on_connect);
    if (rc != 0) {
      fprintf(stderr, "ws-load: connect: %s\n", uv_strerror(rc));
      return 1;
    }
  }
  uv_run(loop, UV_RUN_DEFAULT);
  if (tfd >= 0)
    close(tfd);
  uv_loop_close(loop);
  for (unsigned i = 0; i < npool; i++)
    free(pool[i].base);
  free(conns);
  free(payload);
  return failures == 0 && load_hist_count() > 0 ? 0 : 1;
}
