/* broadcast-load — a libuv load generator for real-time broadcast hubs that
 * speak the subset of eddy's realtime protocol every peer in
 * bench/run-broadcast-bench implements (docs/protocol/realtime.md):
 *
 *   client -> server  {"op":"subscribe","id":1,"channel":C}
 *                     {"op":"publish","channel":C,"data":D}
 *   server -> client  {"op":"subscribed",...}
 *                     {"op":"message","channel":C,"offset":N,"data":D,...}
 *
 *   broadcast-load --port P [--path /] -c SUBSCRIBERS [--channels K]
 *                  [--rate PUBS_PER_S] [--batch B] [-s BYTES]
 *                  [-d SECONDS] [-w WARMUP] [--drain S]
 *   broadcast-load --port P --shootout [--step N] [--samples S] [--burst B]
 *                  [--limit-ms 500] [-c MAX_SUBSCRIBERS]
 *   broadcast-load --port P --idle -c SUBSCRIBERS [--idle-publish K]
 *
 * Opens SUBSCRIBERS WebSocket connections (at most --window handshakes at a
 * time, each from its own source address of 127.X.Y.Z once a few thousand
 * share one, so that many connections do not run out of ports), subscribes
 * subscriber i to channel "bench:c<i mod K>" and waits for every
 * "subscribed" reply. Then one more connection, the publisher, publishes:
 *
 *  rate mode   (default) RATE publications per second in total, round robin
 *              over the channels, on a fixed schedule (open loop): every
 *              1/(RATE/B) s a group of B publications leaves in one write,
 *              as a backend that publishes in bursts would send them. Each
 *              publication's data carries its due time ("#T<seq>,<ns>")
 *              and every subscriber measures the latency of each delivery
 *              from that time, so a stall anywhere shows (no coordinated
 *              omission). After WARMUP unmeasured seconds, publications due
 *              in the next SECONDS are measured; deliveries/s counts what
 *              arrived in that window. Then publishing stops and the tool
 *              waits up to --drain seconds for what is owed: missed is what
 *              never arrived (a run counts only with missed=0).
 *  --shootout  the websocket-shootout method: subscribers are added STEP at
 *              a time; after each step SAMPLES bursts of BURST publications
 *              are sent, one burst at a time, each timed from its send to
 *              the moment its LAST subscriber received it (the broadcast's
 *              round trip). The step passes when that round trip's p95 is
 *              at most --limit-ms and nothing was missed (a burst not
 *              complete within 5 s counts as missed); the largest passing
 *              subscriber count is the result.
 *  --idle      for memory figures: subscribes, prints "event=subscribed",
 *              waits for a line on stdin (the runner reads the server's
 *              memory meanwhile), publishes K publications at once, waits
 *              for every delivery, prints "event=delivered", waits for
 *              another line, and ends.
 *
 * Made to cost less than the servers it measures: one read buffer shared by
 * every connection, frames parsed in place (a frame is copied only when it
 * spans reads), and a delivery found with one memmem for "#T", not a JSON
 * parse. Client frames are masked with keys from a xorshift generator (the
 * RFC's unpredictable keys guard proxies against browser scripts, not at
 * issue here). Server pings are answered. The tool prints its own CPU use
 * (load_cpu_pct): near 100 it, not the server, set the pace.
 *
 * Output: "event=..." lines for runners (event=measure and event=measure_end
 * bracket the measured window), then one "key=value ..." record.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "load_common.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_CONNS 60000
#define MAX_CHANNELS 65536
#define MAX_SIZE 16384       /* data bytes of one publication */
#define MAX_BATCH 1024       /* publications per write */
#define MAX_FRAME (1u << 20) /* a server frame we accept */
#define HS_MAX 4096          /* the server's handshake response */
#define PER_SOURCE 4000      /* connections per source address */
#define BURST_TIMEOUT_NS 5000000000ull
#define PEND_RING 4096 /* shootout: publications tracked at once */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

typedef enum {
  PH_SUBSCRIBE, /* connecting and subscribing */
  PH_WARMUP,
  PH_MEASURE,
  PH_DRAIN,  /* publishing stopped, waiting for what is owed */
  PH_SAMPLE, /* shootout: bursts at this step */
  PH_IDLE,
  PH_DONE
} phase_t;

typedef enum { C_CONNECTING, C_HANDSHAKE, C_SUBSCRIBING, C_READY } cstate_t;

/* Only while the opening handshake runs: freed after it, so 19k idle
 * connections keep a few hundred bytes each. */
typedef struct {
  char accept[32];
  size_t len;
  char buf[HS_MAX];
} hs_t;

typedef struct conn_s {
  uv_tcp_t tcp;
  uv_connect_t creq;
  cstate_t state;
  int is_pub;
  unsigned chan;
  hs_t *hs;
  unsigned char *carry; /* a frame that spans reads */
  size_t carry_len, carry_cap;
  uint64_t next_seq; /* the seq expected next on its channel */
  uint64_t received;
} conn_t;

typedef struct wreq_s {
  uv_write_t req;
  conn_t *conn;
  unsigned char data[];
} wreq_t;

static struct {
  const char *host, *path, *source;
  int port;
  unsigned subs, channels, batch, window;
  size_t size;
  double duration, warmup, rate, drain;
  int shootout, idle;
  unsigned step, samples, burst, idle_publish;
  double limit_ms;
} opt = {"127.0.0.1", "/",    NULL, 0, 1000, 1,    1,  256, 64, 5.0,
         1.0,         1000.0, 5.0,  0, 0,    1000, 20, 4,   10, 500.0};

static uv_loop_t *loop;
static conn_t *conns; /* subscribers, then the publisher */
static conn_t *pub;
static unsigned char rbuf[256 * 1024];
static phase_t phase = PH_SUBSCRIBE;
static uv_timer_t phase_timer, drain_timer;
static struct sockaddr_in server_addr;
static uint32_t source_base; /* host order; 0: no binding */

static unsigned opened, subscribed, target; /* subscribers */
static unsigned *chan_subs;                 /* subscribers per channel */
static uint64_t *chan_seq;                  /* publications per channel */
static unsigned next_chan;
static uint64_t pubs, expected, received, window_deliveries, out_of_order;
static uint64_t failures, pings;
static uint64_t t_measure, t_measure_end, t_publish0;
static double cpu_start, cpu_publish0;
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static char pad[MAX_SIZE];

/* rate mode pacing */
static int tfd = -1;
static uv_poll_t pacer;
static uint64_t next_group;
static double group_gap_ns;

/* shootout */
typedef struct {
  uint64_t seq; /* of channel 0 */
  uint64_t sent;
  unsigned got;
  uint64_t last;
} pend_t;
static pend_t pend[PEND_RING];
static uint64_t burst_first; /* seq of the current burst's first */
static unsigned samples_done, last_pass, burst_missed;
static uint64_t burst_sent_at;
static uint64_t *rtts; /* ns, this step */
static unsigned nrtts;
static const char *stop_reason = "limit";

static void finish(void);
static void start_publishing(void);
static void open_more(void);
static void shoot_burst(void);

static void fail_conn(conn_t *c, const char *what, const char *detail) {
  if (phase != PH_DONE) {
    fprintf(stderr, "broadcast-load: %s%s: %s\n", c->is_pub ? "publisher " : "",
            what, detail);
    failures++;
  }
  if (!uv_is_closing((uv_handle_t *)&c->tcp))
    uv_close((uv_handle_t *)&c->tcp, NULL);
  /* a lost connection would leave the run waiting for it forever */
  finish();
}

/* ---- Frames ------------------------------------------------------------- */

static uint64_t xorshift(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* Appends a masked client frame (FIN, opcode) of payload to out; returns its
 * length. out needs len + 14 bytes. */
static size_t put_frame(unsigned char *out, int opcode, const void *payload,
                        size_t len) {
  size_t n = 0;
  uint32_t k32 = (uint32_t)xorshift();
  unsigned char key[4];
  memcpy(key, &k32, 4);
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
      out[n++] = (unsigned char)((uint64_t)len >> (8 * i));
  }
  memcpy(out + n, key, 4);
  n += 4;
  const unsigned char *p = payload;
  for (size_t i = 0; i < len; i++)
    out[n + i] = p[i] ^ key[i & 3];
  return n + len;
}

/* ---- Writing ------------------------------------------------------------ */

static void on_write(uv_write_t *req, int status) {
  wreq_t *w = (wreq_t *)req;
  conn_t *c = w->conn;
  free(w);
  if (status < 0 && status != UV_ECANCELED)
    fail_conn(c, "write", uv_strerror(status));
}

/* Writes len bytes: into the socket at once when it can, the rest copied
 * and queued (uv_try_write refuses while anything is queued: order holds). */
static void write_bytes(conn_t *c, const unsigned char *p, size_t len) {
  uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);
  int w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (w == UV_EAGAIN)
    w = 0;
  if (w < 0) {
    fail_conn(c, "write", uv_strerror(w));
    return;
  }
  if ((size_t)w == len)
    return;
  wreq_t *r = malloc(sizeof(*r) + len - (size_t)w);
  if (r == NULL) {
    fail_conn(c, "write", "out of memory");
    return;
  }
  r->conn = c;
  memcpy(r->data, p + w, len - (size_t)w);
  b = uv_buf_init((char *)r->data, (unsigned)(len - (size_t)w));
  int rc = uv_write(&r->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
  if (rc != 0) {
    free(r);
    fail_conn(c, "write", uv_strerror(rc));
  }
}

static void send_text(conn_t *c, const char *text, size_t len) {
  unsigned char f[512 + 14];
  if (len > 512) {
    fail_conn(c, "send", "message too long");
    return;
  }
  write_bytes(c, f, put_frame(f, 1, text, len));
}

/* ---- Publishing --------------------------------------------------------- */

/* Publishes n messages due at `due` in one write, round robin over the
 * channels (shootout: all on channel 0). */
static void publish(unsigned n, uint64_t due) {
  static unsigned char buf[MAX_BATCH * (MAX_SIZE + 128 + 14)];
  size_t off = 0;
  for (unsigned i = 0; i < n; i++) {
    unsigned ch = next_chan;
    next_chan = (next_chan + 1) % opt.channels;
    uint64_t seq = chan_seq[ch]++;
    char text[MAX_SIZE + 128];
    /* the data: "#T<seq>,<due ns>," then padding up to opt.size bytes */
    int h = snprintf(text, sizeof(text),
                     "{\"op\":\"publish\",\"channel\":\"bench:c%u\","
                     "\"data\":\"#T%llu,%llu,",
                     ch, (unsigned long long)seq, (unsigned long long)due);
    size_t data_len = (size_t)h - (size_t)(strstr(text, "#T") - text);
    size_t fill = opt.size > data_len ? opt.size - data_len : 0;
    memcpy(text + h, pad, fill);
    memcpy(text + h + fill, "\"}", 2);
    size_t len = (size_t)h + fill + 2;
    off += put_frame(buf + off, 1, text, len);
    pubs++;
    expected += chan_subs[ch];
    if (opt.shootout) {
      pend_t *p = &pend[seq % PEND_RING];
      p->seq = seq;
      p->sent = due;
      p->got = 0;
      p->last = 0;
    }
  }
  write_bytes(pub, buf, off);
}

/* ---- Receiving ---------------------------------------------------------- */

static uint64_t parse_u64(const unsigned char **pp, const unsigned char *end) {
  const unsigned char *p = *pp;
  uint64_t v = 0;
  while (p < end && *p >= '0' && *p <= '9')
    v = v * 10 + (uint64_t)(*p++ - '0');
  *pp = p;
  return v;
}

static void burst_check(void);

static void delivery(conn_t *c, const unsigned char *m,
                     const unsigned char *end, uint64_t now) {
  const unsigned char *p = m + 2;
  uint64_t seq = parse_u64(&p, end);
  if (p >= end || *p != ',') {
    fail_conn(c, "message", "a malformed #T stamp");
    return;
  }
  p++;
  uint64_t due = parse_u64(&p, end);
  if (seq != c->next_seq)
    out_of_order++;
  c->next_seq = seq + 1;
  c->received++;
  received++;
  if (phase == PH_MEASURE)
    window_deliveries++;
  if (due >= t_measure && due < t_measure_end)
    load_hist_add(now > due ? now - due : 0);
  if (opt.shootout) {
    pend_t *q = &pend[seq % PEND_RING];
    if (q->seq == seq) {
      q->got++;
      q->last = now;
      if (q->got == subscribed && seq + 1 == chan_seq[0])
        burst_check();
    }
  } else if (opt.idle && received == expected && phase == PH_IDLE) {
    burst_check();
  }
}

static void on_subscribed(conn_t *c) {
  c->state = C_READY;
  c->next_seq = chan_seq[c->chan];
  chan_subs[c->chan]++;
  subscribed++;
  if (subscribed == target)
    start_publishing();
  else
    open_more();
}

/* One whole text message from the server. */
static void on_text(conn_t *c, const unsigned char *p, size_t len,
                    uint64_t now) {
  const unsigned char *m = memmem(p, len, "#T", 2);
  if (m != NULL && !c->is_pub) {
    delivery(c, m, p + len, now);
    return;
  }
  if (c->state == C_SUBSCRIBING && memmem(p, len, "\"subscribed\"", 12)) {
    on_subscribed(c);
    return;
  }
  if (memmem(p, len, "\"error\"", 7) != NULL) {
    char msg[256];
    snprintf(msg, sizeof(msg), "%.*s", (int)(len < 200 ? len : 200),
             (const char *)p);
    fail_conn(c, "error reply", msg);
  }
  /* anything else (published, connected, pong) is not ours to count */
}

/* Handles the frames in p..p+n; returns the bytes consumed (whole frames).
 * -1 when the connection failed. */
static ssize_t frames(conn_t *c, unsigned char *p, size_t n, uint64_t now) {
  size_t off = 0;
  while (n - off >= 2) {
    const unsigned char *h = p + off;
    int fin = h[0] >> 7, opcode = h[0] & 0x0f;
    uint64_t len = h[1] & 0x7f;
    size_t hl = 2;
    if (h[1] & 0x80)
      return fail_conn(c, "frame", "the server masked a frame"), -1;
    if (h[0] & 0x70)
      return fail_conn(c, "frame", "reserved bits (no extension offered)"), -1;
    if (len == 126) {
      if (n - off < 4)
        break;
      len = (uint64_t)h[2] << 8 | h[3];
      hl = 4;
    } else if (len == 127) {
      if (n - off < 10)
        break;
      len = 0;
      for (int i = 2; i < 10; i++)
        len = len << 8 | h[i];
      hl = 10;
    }
    if (len > MAX_FRAME)
      return fail_conn(c, "frame", "longer than 1 MiB"), -1;
    if (n - off < hl + len)
      break;
    const unsigned char *pl = h + hl;
    off += hl + (size_t)len;
    if (!fin)
      return fail_conn(c, "frame", "fragmented message (not expected)"), -1;
    if (opcode == 1) {
      on_text(c, pl, (size_t)len, now);
    } else if (opcode == 9) {
      unsigned char f[125 + 14];
      pings++;
      write_bytes(c, f, put_frame(f, 0xA, pl, len > 125 ? 125 : (size_t)len));
    } else if (opcode == 8) {
      char why[160];
      unsigned code = len >= 2 ? (unsigned)(pl[0] << 8 | pl[1]) : 1005;
      snprintf(why, sizeof(why), "the server closed: %u %.*s", code,
               (int)(len > 2 && len < 125 ? len - 2 : 0), (const char *)pl + 2);
      return fail_conn(c, "frame", why), -1;
    } else if (opcode != 10) {
      return fail_conn(c, "frame", "unexpected opcode"), -1;
    }
    if (uv_is_closing((uv_handle_t *)&c->tcp))
      return -1;
  }
  return (ssize_t)off;
}

static void on_bytes(conn_t *c, unsigned char *p, size_t n) {
  uint64_t now = uv_hrtime();
  if (c->carry_len == 0) {
    ssize_t used = frames(c, p, n, now);
    if (used < 0)
      return;
    p += used;
    n -= (size_t)used;
    if (n == 0)
      return;
  }
  /* a frame spans reads: gather it */
  if (c->carry_len + n > c->carry_cap) {
    size_t cap = c->carry_cap ? c->carry_cap : 1024;
    while (cap < c->carry_len + n)
      cap *= 2;
    unsigned char *nb = realloc(c->carry, cap);
    if (nb == NULL) {
      fail_conn(c, "read", "out of memory");
      return;
    }
    c->carry = nb;
    c->carry_cap = cap;
  }
  memcpy(c->carry + c->carry_len, p, n);
  c->carry_len += n;
  ssize_t used = frames(c, c->carry, c->carry_len, now);
  if (used < 0)
    return;
  memmove(c->carry, c->carry + used, c->carry_len - (size_t)used);
  c->carry_len -= (size_t)used;
  if (c->carry_len == 0 && c->carry_cap > 4096) {
    free(c->carry); /* one big frame: do not keep its buffer */
    c->carry = NULL;
    c->carry_cap = 0;
  }
}

/* ---- The handshake ------------------------------------------------------ */

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

static void on_handshake(conn_t *c, char *p, size_t n) {
  hs_t *hs = c->hs;
  size_t before = hs->len;
  size_t room = sizeof(hs->buf) - 1 - hs->len;
  size_t take = n < room ? n : room;
  memcpy(hs->buf + hs->len, p, take);
  hs->len += take;
  hs->buf[hs->len] = '\0';
  char *end = strstr(hs->buf, "\r\n\r\n");
  if (end == NULL) {
    if (hs->len == sizeof(hs->buf) - 1)
      fail_conn(c, "handshake", "response head too long");
    return;
  }
  end[2] = '\0';
  size_t head_len = (size_t)(end + 4 - hs->buf);
  size_t vlen;
  const char *v = header_value(hs->buf, "Sec-WebSocket-Accept", &vlen);
  if (strncmp(hs->buf, "HTTP/1.1 101", 12) != 0) {
    char *eol = strstr(hs->buf, "\r\n");
    *eol = '\0';
    fail_conn(c, "handshake refused", hs->buf);
    return;
  }
  if (v == NULL || vlen != strlen(hs->accept) ||
      memcmp(v, hs->accept, vlen) != 0) {
    fail_conn(c, "handshake", "wrong or missing Sec-WebSocket-Accept");
    return;
  }
  free(c->hs);
  c->hs = NULL;
  if (c->is_pub) {
    c->state = C_READY;
  } else {
    char msg[128];
    int m = snprintf(
        msg, sizeof(msg),
        "{\"op\":\"subscribe\",\"id\":1,\"channel\":\"bench:c%u\"}", c->chan);
    c->state = C_SUBSCRIBING;
    send_text(c, msg, (size_t)m);
  }
  size_t used = head_len - before;
  if (n > used && !uv_is_closing((uv_handle_t *)&c->tcp))
    on_bytes(c, (unsigned char *)p + used, n - used);
  if (c->is_pub && subscribed == target && phase == PH_SUBSCRIBE)
    start_publishing();
}

/* ---- Reading ------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h;
  (void)hint;
  *buf = uv_buf_init((char *)rbuf, sizeof(rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = s->data;
  if (n < 0) {
    fail_conn(c, "read", uv_strerror((int)n));
    return;
  }
  if (n == 0)
    return;
  if (c->state == C_HANDSHAKE)
    on_handshake(c, buf->base, (size_t)n);
  else
    on_bytes(c, (unsigned char *)buf->base, (size_t)n);
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
  char key[32], req_text[512];
  if (RAND_bytes(raw, sizeof(raw)) != 1) {
    fail_conn(c, "handshake", "no random bytes");
    return;
  }
  EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
  c->hs = calloc(1, sizeof(hs_t));
  if (c->hs == NULL || accept_for(key, c->hs->accept) != 0) {
    fail_conn(c, "handshake", "out of memory or SHA-1 failed");
    return;
  }
  c->state = C_HANDSHAKE;
  int n = snprintf(req_text, sizeof(req_text),
                   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n",
                   opt.path, opt.host, opt.port, key);
  write_bytes(c, (unsigned char *)req_text, (size_t)n);
}

/* Starts connection c; source address i / PER_SOURCE above source_base. */
static int start_conn(conn_t *c, unsigned i) {
  int rc = uv_tcp_init(loop, &c->tcp);
  if (rc != 0)
    return rc;
  c->tcp.data = c;
  c->creq.data = c;
  c->state = C_CONNECTING;
  if (source_base != 0) {
    /* bind the address but let connect pick the port (per destination),
     * so TIME_WAIT of earlier runs and bind-time port search do not
     * limit us */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in src = {0};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(source_base + i / PER_SOURCE);
    if (fd < 0)
      return uv_translate_sys_error(errno);
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
      rc = uv_translate_sys_error(errno);
      close(fd);
      return rc;
    }
    rc = uv_tcp_open(&c->tcp, fd);
    if (rc != 0) {
      close(fd);
      return rc;
    }
  }
  return uv_tcp_connect(&c->creq, &c->tcp,
                        (const struct sockaddr *)&server_addr, on_connect);
}

/* Keeps up to opt.window subscribers between connect and subscribed. */
static void open_more(void) {
  while (opened < target && opened - subscribed < opt.window) {
    conn_t *c = &conns[opened];
    c->chan = opened % opt.channels;
    int rc = start_conn(c, opened);
    opened++;
    if (rc != 0) {
      fprintf(stderr, "broadcast-load: connect #%u: %s\n", opened,
              uv_strerror(rc));
      failures++;
      finish();
      return;
    }
  }
}

/* ---- Rate mode ---------------------------------------------------------- */

static void on_pacer(uv_poll_t *h, int status, int events) {
  (void)h;
  (void)status;
  (void)events;
  if (load_pacer_ack(tfd) != 0 || (phase != PH_WARMUP && phase != PH_MEASURE))
    return;
  uint64_t now = uv_hrtime();
  for (;;) {
    uint64_t due = t_publish0 + (uint64_t)((double)next_group * group_gap_ns);
    if (due > now) {
      load_pacer_arm(tfd, due);
      return;
    }
    next_group++;
    publish(opt.batch, due);
    if (uv_is_closing((uv_handle_t *)&pub->tcp))
      return;
  }
}

static void report(void);

static void on_drain_tick(uv_timer_t *t) {
  (void)t;
  uint64_t now = uv_hrtime();
  if (received >= expected || now - t_measure_end > (uint64_t)(opt.drain * 1e9))
    finish();
}

static void on_phase(uv_timer_t *t) {
  (void)t;
  if (phase == PH_WARMUP) {
    phase = PH_MEASURE;
    t_measure = uv_hrtime();
    t_measure_end = t_measure + (uint64_t)(opt.duration * 1e9);
    cpu_start = load_cpu_secs();
    window_deliveries = 0;
    printf("event=measure\n");
    fflush(stdout);
    uv_timer_start(&phase_timer, on_phase, (uint64_t)(opt.duration * 1000), 0);
  } else if (phase == PH_MEASURE) {
    phase = PH_DRAIN;
    report();
    uv_timer_start(&drain_timer, on_drain_tick, 10, 10);
  }
}

/* ---- Shootout ----------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double pct_ms(const uint64_t *v, unsigned n, double p) {
  if (n == 0)
    return 0;
  unsigned i = (unsigned)((double)n * p + 0.999999);
  if (i == 0)
    i = 1;
  if (i > n)
    i = n;
  return (double)v[i - 1] / 1e6;
}

static void step_done(void) {
  qsort(rtts, nrtts, sizeof(*rtts), cmp_u64);
  double p95 = pct_ms(rtts, nrtts, 0.95);
  int pass = burst_missed == 0 && p95 <= opt.limit_ms;
  printf("step subscribers=%u samples=%u rtt_p50_ms=%.2f rtt_p95_ms=%.2f "
         "rtt_max_ms=%.2f missed=%u pass=%d load_cpu_pct=%.1f\n",
         subscribed, nrtts, pct_ms(rtts, nrtts, 0.5), p95,
         pct_ms(rtts, nrtts, 1.0), burst_missed, pass,
         (load_cpu_secs() - cpu_publish0) /
             ((double)(uv_hrtime() - t_publish0) / 1e9) * 100.0);
  fflush(stdout);
  if (!pass) {
    stop_reason = burst_missed ? "missed" : "p95";
    finish();
    return;
  }
  last_pass = subscribed;
  if (subscribed >= opt.subs) {
    stop_reason = "max_subscribers";
    finish();
    return;
  }
  phase = PH_SUBSCRIBE;
  target = subscribed + opt.step > opt.subs ? opt.subs : subscribed + opt.step;
  open_more();
}

static void on_burst_timeout(uv_timer_t *t) {
  (void)t;
  if (phase == PH_SAMPLE) {
    burst_missed++;
    step_done();
  } else if (phase == PH_IDLE) {
    fprintf(stderr, "broadcast-load: deliveries missing after 5 s\n");
    failures++;
    finish();
  }
}

/* Called when the last publication of the burst reached everybody. */
static void burst_check(void) {
  if (phase == PH_IDLE) {
    uv_timer_stop(&drain_timer);
    printf("event=delivered deliveries=%llu\n", (unsigned long long)received);
    fflush(stdout);
    char line[64];
    (void)!fgets(line, sizeof(line), stdin);
    finish();
    return;
  }
  if (phase != PH_SAMPLE)
    return;
  for (uint64_t s = burst_first; s < chan_seq[0]; s++)
    if (pend[s % PEND_RING].got < subscribed)
      return;
  uv_timer_stop(&drain_timer);
  for (uint64_t s = burst_first; s < chan_seq[0]; s++)
    rtts[nrtts++] = pend[s % PEND_RING].last - pend[s % PEND_RING].sent;
  if (++samples_done >= opt.samples)
    step_done();
  else
    shoot_burst();
}

static void shoot_burst(void) {
  burst_first = chan_seq[0];
  burst_sent_at = uv_hrtime();
  publish(opt.burst, burst_sent_at);
  uv_timer_start(&drain_timer, on_burst_timeout, BURST_TIMEOUT_NS / 1000000, 0);
}

/* ---- Phases ------------------------------------------------------------- */

static void start_publishing(void) {
  if (pub->state != C_READY) {
    return; /* on_handshake of the publisher calls again */
  }
  if (t_publish0 == 0) {
    printf("event=subscribed subscribers=%u\n", subscribed);
    fflush(stdout);
  }
  if (opt.idle) {
    char line[64];
    (void)!fgets(line, sizeof(line), stdin);
    phase = PH_IDLE;
    t_publish0 = uv_hrtime();
    publish(opt.idle_publish, uv_hrtime());
    uv_timer_start(&drain_timer, on_burst_timeout, BURST_TIMEOUT_NS / 1000000,
                   0);
    return;
  }
  if (opt.shootout) {
    if (t_publish0 == 0) {
      t_publish0 = uv_hrtime();
      cpu_publish0 = load_cpu_secs();
    }
    phase = PH_SAMPLE;
    samples_done = 0;
    nrtts = 0;
    burst_missed = 0;
    shoot_burst();
    return;
  }
  phase = PH_WARMUP;
  t_publish0 = uv_hrtime();
  cpu_publish0 = load_cpu_secs();
  next_group = 0;
  group_gap_ns = 1e9 * (double)opt.batch / opt.rate;
  load_pacer_arm(tfd, t_publish0);
  uv_timer_start(&phase_timer, on_phase, (uint64_t)(opt.warmup * 1000), 0);
}

/* The measured window's record, printed when it ends (drain follows). */
static double m_secs, m_cpu_pct;
static uint64_t m_deliveries, m_pubs_at_end;

static void report(void) {
  uint64_t now = uv_hrtime();
  m_secs = (double)(now - t_measure) / 1e9;
  m_cpu_pct = (load_cpu_secs() - cpu_start) / m_secs * 100.0;
  m_deliveries = window_deliveries;
  m_pubs_at_end = pubs;
  printf("event=measure_end deliveries=%llu\n",
         (unsigned long long)window_deliveries);
  fflush(stdout);
}

static void finish(void) {
  if (phase == PH_DONE)
    return;
  phase_t was = phase;
  phase = PH_DONE;
  if (opt.shootout) {
    if (was == PH_SAMPLE || was == PH_SUBSCRIBE) {
      if (failures > 0)
        stop_reason = "failure";
      printf("mode=shootout step=%u samples=%u burst=%u limit_ms=%.0f "
             "max_subscribers=%u reached=%u stop=%s failures=%llu\n",
             opt.step, opt.samples, opt.burst, opt.limit_ms, last_pass,
             subscribed, stop_reason, (unsigned long long)failures);
      fflush(stdout);
    }
  } else if (!opt.idle && was == PH_DRAIN) {
    uint64_t missed = expected > received ? expected - received : 0;
    printf("mode=rate subscribers=%u channels=%u rate=%.0f batch=%u size=%zu "
           "secs=%.3f pubs=%llu deliveries=%llu deliveries_per_s=%.0f "
           "measured=%llu p50_us=%.1f p95_us=%.1f p99_us=%.1f p999_us=%.1f "
           "max_us=%.1f "
           "missed=%llu out_of_order=%llu expected=%llu pings=%llu "
           "load_cpu_pct=%.1f failures=%llu\n",
           subscribed, opt.channels, opt.rate, opt.batch, opt.size, m_secs,
           (unsigned long long)m_pubs_at_end, (unsigned long long)m_deliveries,
           (double)m_deliveries / m_secs, (unsigned long long)load_hist_count(),
           load_hist_pct_us(0.50), load_hist_pct_us(0.95),
           load_hist_pct_us(0.99), load_hist_pct_us(0.999), load_hist_max_us(),
           (unsigned long long)missed, (unsigned long long)out_of_order,
           (unsigned long long)expected, (unsigned long long)pings, m_cpu_pct,
           (unsigned long long)failures);
    fflush(stdout);
  }
  load_close_all(loop);
}

/* ---- Options ------------------------------------------------------------ */

static void usage(FILE *out) {
  fprintf(out,
          "usage: broadcast-load --port P [options]\n"
          "  --host ADDR          the server's IPv4 address (127.0.0.1)\n"
          "  --port P             its port (required)\n"
          "  --path PATH          the resource to upgrade (/)\n"
          "  --source ADDR        first source address (default: 127.X.Y.1\n"
          "                       from the pid); one per %u connections\n"
          "  -c, --subscribers N  subscribers (1000; shootout: the most)\n"
          "  --channels K         channels, subscriber i on bench:c<i mod K>"
          " (1)\n"
          "  --window W           handshakes in progress at once (256)\n"
          "  -s, --size BYTES     data bytes per publication (64)\n"
          "rate mode:\n"
          "  --rate R             publications per second in total (1000)\n"
          "  --batch B            publications per write (1)\n"
          "  -d, --duration S     measured seconds (5)\n"
          "  -w, --warmup S       unmeasured seconds first (1)\n"
          "  --drain S            wait for late deliveries at most (5)\n"
          "--shootout:\n"
          "  --step N             subscribers added per step (1000)\n"
          "  --samples S          bursts per step (20)\n"
          "  --burst B            publications per burst (4)\n"
          "  --limit-ms MS        p95 round trip that passes (500)\n"
          "--idle:\n"
          "  --idle-publish K     publications after the first pause (10)\n",
          PER_SOURCE);
}

static int parse(int argc, char **argv) {
  static const struct option longs[] = {
      {"host", required_argument, 0, 'H'},
      {"port", required_argument, 0, 'p'},
      {"path", required_argument, 0, 'P'},
      {"source", required_argument, 0, 'S'},
      {"subscribers", required_argument, 0, 'c'},
      {"channels", required_argument, 0, 'k'},
      {"window", required_argument, 0, 'W'},
      {"size", required_argument, 0, 's'},
      {"rate", required_argument, 0, 'r'},
      {"batch", required_argument, 0, 'b'},
      {"duration", required_argument, 0, 'd'},
      {"warmup", required_argument, 0, 'w'},
      {"drain", required_argument, 0, 'D'},
      {"shootout", no_argument, 0, 'O'},
      {"step", required_argument, 0, 't'},
      {"samples", required_argument, 0, 'm'},
      {"burst", required_argument, 0, 'u'},
      {"limit-ms", required_argument, 0, 'l'},
      {"idle", no_argument, 0, 'I'},
      {"idle-publish", required_argument, 0, 'i'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "c:s:d:w:h", longs, NULL)) != -1) {
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
    case 'S':
      opt.source = optarg;
      break;
    case 'c':
      opt.subs = (unsigned)strtoul(optarg, NULL, 10);
      break;
    case 'k':
      opt.channels = (unsigned)strtoul(optarg, NULL, 10);
      break;
    case 'W':
      opt.window = (unsigned)strtoul(optarg, NULL, 10);
      break;
    case 's':
      opt.size = strtoul(optarg, NULL, 10);
      break;
    case 'r':
      opt.rate = strtod(optarg, NULL);
      break;
    case 'b':
      opt.batch = (unsigned)strtoul(optarg, NULL, 10);
      break;
    case 'd':
      opt.duration = strtod(optarg, NULL);
      break;
    case 'w':
      opt.warmup = strtod(optarg, NULL);
      break;
    case 'D':
      opt.drain = strtod(optarg, NULL);
      break;
    case 'O':
      opt.shootout = 1;
      break;
    case 't':
      opt.step = (unsigned)strtoul(optarg, NULL, 10);
      break;
    case 'm':
      opt.samples = (unsigned)strtoul(optarg, NULL, 10);
      break;
    case 'u':
      opt.burst = (unsigned)strtoul(optarg, NULL, 10);
      break;
    case 'l':
      opt.limit_ms = strtod(optarg, NULL);
      break;
    case 'I':
      opt.idle = 1;
      break;
    case 'i':
      opt.idle_publish = (unsigned)strtoul(optarg, NULL, 10);
      break;
    case 'h':
      usage(stdout);
      exit(0);
    default:
      return -1;
    }
  }
  if (optind != argc ||
      !load_common_opts_ok(opt.port, opt.subs, MAX_CONNS, opt.duration,
                           opt.warmup, opt.rate) ||
      opt.rate <= 0 || opt.channels == 0 || opt.channels > MAX_CHANNELS ||
      opt.channels > opt.subs || opt.window == 0 || opt.size > MAX_SIZE ||
      opt.batch == 0 || opt.batch > MAX_BATCH || !(opt.drain >= 0) ||
      opt.drain > 600 || opt.step == 0 || opt.samples == 0 ||
      opt.samples > 10000 || opt.burst == 0 || opt.burst > MAX_BATCH ||
      opt.burst > PEND_RING || !(opt.limit_ms > 0) || opt.idle_publish == 0 ||
      opt.idle_publish > MAX_BATCH || (opt.shootout && opt.idle) ||
      opt.path[0] != '/' || strlen(opt.path) > 200 ||
      strpbrk(opt.path, " \r\n") != NULL || strlen(opt.host) > 64)
    return -1;
  if (opt.shootout)
    opt.channels = 1; /* every subscriber gets every broadcast */
  return 0;
}

int main(int argc, char **argv) {
  if (parse(argc, argv) != 0) {
    usage(stderr);
    return 2;
  }
  if (uv_ip4_addr(opt.host, opt.port, &server_addr) != 0) {
    fprintf(stderr, "broadcast-load: bad address %s\n", opt.host);
    return 2;
  }
  if (opt.source != NULL) {
    struct sockaddr_in s;
    if (uv_ip4_addr(opt.source, 0, &s) != 0 ||
        (ntohl(s.sin_addr.s_addr) >> 24) != 127) {
      fprintf(stderr, "broadcast-load: --source must be a 127.x.y.z address\n");
      return 2;
    }
    source_base = ntohl(s.sin_addr.s_addr);
  } else {
    /* a different block per run: earlier runs' TIME_WAIT stay out of the
     * way */
    unsigned p = (unsigned)getpid();
    source_base =
        (127u << 24) | ((p & 0xff) << 16) | (((p >> 8) & 0xff) << 8) | 1u;
  }
  if ((source_base & 0xff) + opt.subs / PER_SOURCE > 254) {
    fprintf(stderr, "broadcast-load: --source leaves too few addresses\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  rng ^= (uint64_t)getpid() << 32 ^ uv_hrtime();
  memset(pad, 'x', sizeof(pad));
  loop = uv_default_loop();
  conns = calloc((size_t)opt.subs + 1, sizeof(*conns));
  chan_subs = calloc(opt.channels, sizeof(*chan_subs));
  chan_seq = calloc(opt.channels, sizeof(*chan_seq));
  rtts = calloc((size_t)opt.samples * opt.burst, sizeof(*rtts));
  if (conns == NULL || chan_subs == NULL || chan_seq == NULL || rtts == NULL) {
    fprintf(stderr, "broadcast-load: out of memory\n");
    return 1;
  }
  uv_timer_init(loop, &phase_timer);
  uv_timer_init(loop, &drain_timer);
  tfd = load_pacer_open(loop, &pacer, on_pacer);
  if (tfd < 0) {
    fprintf(stderr, "broadcast-load: timerfd: %s\n", strerror(errno));
    return 1;
  }
  /* the publisher: from 127.0.0.1 (no source binding) */
  pub = &conns[opt.subs];
  pub->is_pub = 1;
  uint32_t keep = source_base;
  source_base = 0;
  int rc = start_conn(pub, 0);
  source_base = keep;
  if (rc != 0) {
    fprintf(stderr, "broadcast-load: connect: %s\n", uv_strerror(rc));
    return 1;
  }
  opened = 0;
  target =
      opt.shootout ? (opt.step < opt.subs ? opt.step : opt.subs) : opt.subs;
  open_more();
  uv_run(loop, UV_RUN_DEFAULT);
  close(tfd);
  uv_loop_close(loop);
  for (unsigned i = 0; i <= opt.subs; i++) {
    free(conns[i].hs);
    free(conns[i].carry);
  }
  free(conns);
  free(chan_subs);
  free(chan_seq);
  free(rtts);
  if (opt.shootout)
    return last_pass > 0 && failures == 0 ? 0 : 1;
  if (opt.idle)
    return failures == 0 ? 0 : 1;
  return failures == 0 && m_deliveries > 0 ? 0 : 1;
}
