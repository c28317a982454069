/* cache-load — a libuv load generator for memcached-protocol servers.
 *
 *   cache-load --port P [--host 127.0.0.1] [-c CONNS] [-D DEPTH]
 *              [--get-ratio 0.9] [-k KEYS] [-v VALUE_BYTES]
 *              [-d SECONDS] [-w WARMUP_SECONDS] [--no-fill]
 *
 * Each of C connections keeps D requests in flight (a closed loop): when a
 * reply completes, the next request is queued, and everything queued while
 * handling one read is sent in ONE write, as a pipelining client does. Each
 * request is a single-key `get` or a `set` (chosen at random, --get-ratio of
 * them gets) of a key drawn uniformly from KEYS keys, with V-byte values.
 * Before the load, every key is set once (unless --no-fill), so gets hit.
 *
 * memaslap cannot drive more than ~70k ops/s here (see the project's
 * benchmarking notes), which is why this tool exists: it parses replies
 * without copying, makes one write per read, and reports its own CPU use
 * (load_cpu_pct): when that nears 100 the generator set the pace and the
 * figure is only a lower bound for the server.
 *
 * Latency is measured from when each request was queued to when its reply
 * completed; with depth 1 that is the round trip of one request. With deeper
 * pipelines it includes the wait behind the requests ahead of it.
 *
 * A closed loop hides tail latency (a slow reply delays the next request:
 * "coordinated omission"), so with --rate R requests are instead sent on a
 * fixed schedule, R per second in total, round robin over the connections,
 * without waiting for replies (at most RATE_RING unanswered per connection;
 * beyond that a send is counted as missed); latency then counts from when
 * each request was DUE, so any stall shows up. A runner can also divide the
 * server's CPU time by a fixed number of operations per second, the most
 * stable figure on a noisy machine.
 *
 * It prints "event=measure" when the measurement starts, and at its end one
 * "key=value ..." record for scripts (the last line).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "load_common.h"

#define MAX_CONNS 10000
#define MAX_DEPTH 1024
#define RATE_RING 4096 /* most unanswered requests per connection (--rate) */
#define MAX_VALUE (1024u * 1024u)
#define MAX_KEYS 100000000u
#define KEY_FMT "key:%010u"
#define KEY_LEN 14   /* "key:" + 10 digits */
#define MAX_LINE 512 /* longest reply line we accept */
#define REQ_SLACK 64 /* command line bytes besides the key and value */

/* ---- State -------------------------------------------------------------- */

typedef enum { PH_CONNECTING, PH_FILL, PH_WARMUP, PH_MEASURE, PH_DONE } phase_t;
typedef enum { REQ_GET, REQ_SET } req_kind_t;

typedef struct pending_s {
  uint64_t sent; /* uv_hrtime when queued */
  req_kind_t kind;
} pending_t;

typedef struct conn_s {
  uv_tcp_t tcp;
  uv_connect_t creq;
  pending_t *ring; /* requests awaiting a reply, oldest at head */
  unsigned head, count;
  char *out; /* requests queued during this callback, sent in one write */
  size_t out_len, out_cap;
  /* reply parser: a line being assembled, or value bytes being skipped */
  char line[MAX_LINE];
  size_t line_len;
  size_t skip;   /* bytes of a VALUE block (data + CRLF) still to skip */
  int got_value; /* the current get reply carried a VALUE */
  uint64_t rng;
} conn_t;

typedef struct wreq_s {
  uv_write_t req;
  conn_t *conn;
  char data[]; /* the unsent bytes, owned by the request */
} wreq_t;

static struct {
  const char *host;
  int port;
  unsigned conns, depth, keys;
  size_t value;
  double get_ratio, duration, warmup, rate;
  int fill;
} opt = {"127.0.0.1", 0, 50, 1, 10000, 100, 0.9, 5.0, 1.0, 0.0, 1};
static unsigned ring_cap; /* depth, or RATE_RING with --rate */

static uv_loop_t *loop;
static conn_t *conns;
static char *value; /* the value of every set, constant bytes */
static char rbuf[256 * 1024];
static unsigned connected;
static phase_t phase = PH_CONNECTING;
static uv_timer_t phase_timer;
static uint64_t t_measure, t_end, get_threshold;
static double cpu_start; /* load_cpu_secs() when the measurement began */
static unsigned fill_next, fill_done;
static uint64_t done_ops, done_gets, done_sets, hits, misses, errors, failures;
/* Everything answered since the load started, warm-up included: what a
 * runner reading the server's CPU time around the whole run divides by. */
static uint64_t all_ops, missed;
/* --rate pacing */
static int tfd = -1;
static uv_poll_t pacer;
static uint64_t t_sched0, next_req;

static void finish(void);
static void start_load(void);

static void fail_conn(conn_t *c, const char *what, int err) {
  if (phase != PH_DONE) {
    fprintf(stderr, "cache-load: %s: %s\n", what,
            err ? uv_strerror(err) : "protocol error");
    failures++;
  }
  if (!uv_is_closing((uv_handle_t *)&c->tcp))
    uv_close((uv_handle_t *)&c->tcp, NULL);
  finish(); /* a broken connection invalidates the run */
}

static uint64_t next_rand(conn_t *c) {
  /* xorshift64*: cheap, and per connection so no state is shared */
  uint64_t x = c->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  c->rng = x;
  return x * 0x2545F4914F6CDD1Dull;
}

/* ---- Writing ------------------------------------------------------------ */

static void on_write(uv_write_t *req, int status) {
  wreq_t *w = (wreq_t *)req;
  conn_t *c = w->conn;
  free(w);
  if (status < 0 && status != UV_ECANCELED)
    fail_conn(c, "write", status);
}

/* Sends what was queued: straight into the socket when it can, else the
 * rest is copied into a write request (libuv keeps writes in order, and
 * uv_try_write refuses while one is queued, so bytes never reorder). */
static void flush_out(conn_t *c) {
  if (c->out_len == 0 || uv_is_closing((uv_handle_t *)&c->tcp))
    return;
  uv_buf_t b = uv_buf_init(c->out, (unsigned)c->out_len);
  int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (n == UV_EAGAIN)
    n = 0;
  if (n < 0) {
    fail_conn(c, "write", n);
    return;
  }
  size_t left = c->out_len - (size_t)n;
  c->out_len = 0;
  if (left == 0)
    return;
  wreq_t *w = malloc(sizeof(*w) + left);
  if (w == NULL) {
    fail_conn(c, "write", UV_ENOMEM);
    return;
  }
  w->conn = c;
  memcpy(w->data, c->out + n, left);
  b = uv_buf_init(w->data, (unsigned)left);
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
  if (rc != 0) {
    free(w);
    fail_conn(c, "write", rc);
  }
}

/* Appends one request to the connection's batch. In the fill phase it sets
 * the next unset key; afterwards it follows the get/set mix. Returns 0 when
 * there is nothing to send (the fill is handed out). */
static int queue_request(conn_t *c, uint64_t stamp) {
  req_kind_t kind;
  unsigned key;
  if (phase == PH_FILL) {
    if (fill_next >= opt.keys)
      return 0;
    kind = REQ_SET;
    key = fill_next++;
  } else {
    uint64_t r = next_rand(c);
    kind = (r >> 32) < get_threshold ? REQ_GET : REQ_SET;
    key = (unsigned)((r & 0xffffffffu) % opt.keys);
  }
  char *p = c->out + c->out_len;
  int n;
  if (kind == REQ_GET) {
    n = sprintf(p, "get " KEY_FMT "\r\n", key);
  } else {
    n = sprintf(p, "set " KEY_FMT " 0 0 %zu\r\n", key, opt.value);
    memcpy(p + n, value, opt.value);
    n += (int)opt.value;
    p[n++] = '\r';
    p[n++] = '\n';
  }
  c->out_len += (size_t)n;
  pending_t *slot = &c->ring[(c->head + c->count) % ring_cap];
  slot->sent = stamp;
  slot->kind = kind;
  c->count++;
  return 1;
}

/* ---- Reading ------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  /* Replies are parsed in place and never kept: one buffer serves all. */
  *buf = uv_buf_init(rbuf, sizeof(rbuf));
}

/* One request's reply is complete: record it and queue the next. */
static void complete(conn_t *c, req_kind_t got, int is_error) {
  if (c->count == 0) {
    fprintf(stderr, "cache-load: a reply with no request pending\n");
    fail_conn(c, "read", 0);
    return;
  }
  pending_t *slot = &c->ring[c->head];
  if (!is_error && slot->kind != got) {
    fprintf(stderr, "cache-load: reply does not match its request\n");
    fail_conn(c, "read", 0);
    return;
  }
  uint64_t sent = slot->sent;
  req_kind_t kind = slot->kind;
  c->head = (c->head + 1) % ring_cap;
  c->count--;
  if (phase == PH_FILL) {
    fill_done++;
  } else if (phase == PH_WARMUP || phase == PH_MEASURE) {
    all_ops++;
    if (phase == PH_MEASURE) {
      load_hist_add(uv_hrtime() - sent);
      done_ops++;
      if (is_error)
        errors++;
      else if (kind == REQ_GET) {
        done_gets++;
        if (c->got_value)
          hits++;
        else
          misses++;
      } else {
        done_sets++;
      }
    }
  }
  c->got_value = 0;
  /* closed loop (and the fill, always): a reply makes room for the next */
  if (phase == PH_FILL || (phase != PH_DONE && opt.rate == 0))
    queue_request(c, uv_hrtime());
}

/* Handles one complete reply line (without its CRLF). */
static void on_line(conn_t *c, const char *s, size_t n) {
  if (n >= 6 && memcmp(s, "VALUE ", 6) == 0) {
    /* VALUE <key> <flags> <bytes>[ <cas>] */
    char tmp[MAX_LINE + 1];
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *save = NULL;
    strtok_r(tmp, " ", &save);
    strtok_r(NULL, " ", &save);
    strtok_r(NULL, " ", &save);
    char *bytes = strtok_r(NULL, " ", &save);
    char *end = NULL;
    unsigned long long len = bytes ? strtoull(bytes, &end, 10) : 0;
    if (bytes == NULL || end == bytes || len > MAX_VALUE) {
      fail_conn(c, "read", 0);
      return;
    }
    c->skip = (size_t)len + 2;
    c->got_value = 1;
  } else if (n == 3 && memcmp(s, "END", 3) == 0) {
    complete(c, REQ_GET, 0);
  } else if (n == 6 && memcmp(s, "STORED", 6) == 0) {
    complete(c, REQ_SET, 0);
  } else {
    /* ERROR, CLIENT_ERROR ..., SERVER_ERROR ... (e.g. out of memory) */
    complete(c, REQ_GET, 1);
  }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = s->data;
  if (n < 0) {
    fail_conn(c, "read", (int)n);
    return;
  }
  const char *p = buf->base;
  const char *end = p + n;
  while (p < end && !uv_is_closing((uv_handle_t *)&c->tcp)) {
    if (c->skip > 0) {
      size_t k = (size_t)(end - p) < c->skip ? (size_t)(end - p) : c->skip;
      p += k;
      c->skip -= k;
      continue;
    }
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t k = (size_t)((nl ? nl + 1 : end) - p);
    if (c->line_len + k > MAX_LINE) {
      fail_conn(c, "read", 0);
      return;
    }
    if (nl != NULL && c->line_len == 0) {
      /* the common case: the whole line is in this buffer, no copy */
      size_t len = k - 1;
      if (len > 0 && p[len - 1] == '\r')
        len--;
      on_line(c, p, len);
    } else {
      memcpy(c->line + c->line_len, p, k);
      c->line_len += k;
      if (nl != NULL) {
        size_t len = c->line_len - 1;
        if (len > 0 && c->line[len - 1] == '\r')
          len--;
        c->line_len = 0;
        on_line(c, c->line, len);
      }
    }
    p += k;
  }
  if (uv_is_closing((uv_handle_t *)&c->tcp))
    return;
  flush_out(c);
  if (phase == PH_FILL && fill_done == opt.keys) {
    start_load();
  }
}

/* ---- Phases ------------------------------------------------------------- */

static void on_phase(uv_timer_t *t) {
  if (phase == PH_WARMUP) {
    phase = PH_MEASURE;
    /* lets a runner sample the server's CPU time exactly over the
     * measurement (the fill and warm-up are left out) */
    printf("event=measure\n");
    fflush(stdout);
    t_measure = uv_hrtime();
    cpu_start = load_cpu_secs();
    uv_timer_start(&phase_timer, on_phase, (uint64_t)(opt.duration * 1000), 0);
  } else if (phase == PH_MEASURE) {
    finish();
  }
}

/* Fills each connection's pipeline to the depth, one write each. */
static void prime_all(void) {
  for (unsigned i = 0; i < opt.conns; i++) {
    conn_t *c = &conns[i];
    while (c->count < opt.depth && queue_request(c, uv_hrtime()))
      ;
    flush_out(c);
  }
}

/* ---- --rate: a timerfd wakes us exactly when the next request is due -- */

static void on_pacer(uv_poll_t *h, int status, int events) {
  if (load_pacer_ack(tfd) != 0)
    return;
  if (phase != PH_WARMUP && phase != PH_MEASURE)
    return;
  uint64_t now = uv_hrtime();
  double gap = 1e9 / opt.rate;
  for (;;) {
    uint64_t due = t_sched0 + (uint64_t)((double)next_req * gap);
    if (due > now) {
      load_pacer_arm(tfd, due);
      return;
    }
    conn_t *c = &conns[next_req % opt.conns];
    next_req++;
    if (uv_is_closing((uv_handle_t *)&c->tcp))
      continue;
    if (c->count == ring_cap) {
      missed++; /* the server lags this far behind: skip, and say so */
      continue;
    }
    queue_request(c, due); /* latency counts from when it was due */
    flush_out(c);
    if (phase == PH_DONE)
      return;
  }
}

static void start_load(void) {
  phase = PH_WARMUP;
  uv_timer_start(&phase_timer, on_phase, (uint64_t)(opt.warmup * 1000), 0);
  if (opt.rate > 0) {
    t_sched0 = uv_hrtime();
    next_req = 0;
    load_pacer_arm(tfd, t_sched0);
  } else {
    prime_all();
  }
}

static void on_connect(uv_connect_t *req, int status) {
  conn_t *c = req->data;
  if (status < 0) {
    fail_conn(c, "connect", status);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (++connected < opt.conns)
    return;
  if (opt.fill) {
    phase = PH_FILL;
    prime_all();
  } else {
    start_load();
  }
}

static void finish(void) {
  if (phase == PH_DONE)
    return;
  int measured = phase == PH_MEASURE;
  phase = PH_DONE;
  t_end = uv_hrtime();
  double cpu_end = load_cpu_secs();
  double secs = (double)(t_end - t_measure) / 1e9;
  if (measured && secs > 0) {
    double cpu = (cpu_end - cpu_start) / secs * 100.0;
    printf("mode=cache conns=%u depth=%u rate=%.0f get_ratio=%.3f keys=%u "
           "value=%zu "
           "secs=%.3f ops=%llu ops_per_s=%.0f gets=%llu sets=%llu hits=%llu "
           "misses=%llu errors=%llu p50_us=%.1f p90_us=%.1f p99_us=%.1f "
           "p999_us=%.1f max_us=%.1f missed=%llu all_ops=%llu "
           "load_cpu_pct=%.1f failures=%llu\n",
           opt.conns, opt.depth, opt.rate, opt.get_ratio, opt.keys, opt.value,
           secs, (unsigned long long)done_ops, (double)done_ops / secs,
           (unsigned long long)done_gets, (unsigned long long)done_sets,
           (unsigned long long)hits, (unsigned long long)misses,
           (unsigned long long)errors, load_hist_pct_us(0.50),
           load_hist_pct_us(0.90), load_hist_pct_us(0.99),
           load_hist_pct_us(0.999), load_hist_max_us(),
           (unsigned long long)missed, (unsigned long long)all_ops, cpu,
           (unsigned long long)failures);
    fflush(stdout);
  }
  load_close_all(loop);
}

/* ---- Options ------------------------------------------------------------ */

static void usage(FILE *out) {
  fprintf(out,
          "usage: cache-load --port P [options]\n"
          "  --host ADDR          IPv4 address of the server (127.0.0.1)\n"
          "  --port P             its port (required)\n"
          "  -c, --connections N  connections (50, at most %d)\n"
          "  -D, --depth N        requests in flight per connection (1, at "
          "most %d)\n"
          "  --get-ratio R        share of gets, 0..1 (0.9)\n"
          "  -k, --keys N         key space (10000)\n"
          "  -v, --value BYTES    value size of sets (100, at most %u)\n"
          "  -d, --duration S     measured seconds (5)\n"
          "  -w, --warmup S       unmeasured seconds first (1)\n"
          "  --no-fill            do not set every key before the load\n"
          "  --rate R             R requests/s in total on a fixed schedule\n"
          "                       instead of a closed loop (-D is ignored)\n",
          MAX_CONNS, MAX_DEPTH, MAX_VALUE);
}

static int parse(int argc, char **argv) {
  static const struct option longs[] = {
      {"host", required_argument, 0, 'H'},
      {"port", required_argument, 0, 'p'},
      {"connections", required_argument, 0, 'c'},
      {"depth", required_argument, 0, 'D'},
      {"get-ratio", required_argument, 0, 'g'},
      {"keys", required_argument, 0, 'k'},
      {"value", required_argument, 0, 'v'},
      {"duration", required_argument, 0, 'd'},
      {"warmup", required_argument, 0, 'w'},
      {"no-fill", no_argument, 0, 'n'},
      {"rate", required_argument, 0, 'r'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "c:D:k:v:d:w:h", longs, NULL)) != -1) {
    switch (ch) {
    case 'H':
      opt.host = optarg;
      break;
    case 'p':
      opt.port = atoi(optarg);
      break;
    case 'c':
      opt.conns = (unsigned)strtoul(optarg, NULL, 10);
      break;
    case 'D':
      opt.depth = (unsigned)strtoul(optarg, NULL, 10);
      break;
    case 'g':
      opt.get_ratio = strtod(optarg, NULL);
      break;
    case 'k':
      opt.keys = (unsigned)strtoul(optarg, NULL, 10);
      break;
    case 'v':
      opt.value = strtoul(optarg, NULL, 10);
      break;
    case 'd':
      opt.duration = strtod(optarg, NULL);
      break;
    case 'w':
      opt.warmup = strtod(optarg, NULL);
      break;
    case 'n':
      opt.fill = 0;
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
      opt.depth == 0 || opt.depth > MAX_DEPTH || opt.keys == 0 ||
      opt.keys > MAX_KEYS || opt.value > MAX_VALUE ||
      !(opt.get_ratio >= 0 && opt.get_ratio <= 1))
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
    fprintf(stderr, "cache-load: bad address %s\n", opt.host);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  /* compared with the top 32 bits of a random number */
  get_threshold = (uint64_t)(opt.get_ratio * 4294967296.0);
  loop = uv_default_loop();
  conns = calloc(opt.conns, sizeof(*conns));
  value = malloc(opt.value + 1);
  if (conns == NULL || value == NULL) {
    fprintf(stderr, "cache-load: out of memory\n");
    return 1;
  }
  for (size_t i = 0; i < opt.value; i++)
    value[i] = (char)('a' + i % 26);
  uv_timer_init(loop, &phase_timer);
  if (opt.rate > 0) {
    tfd = load_pacer_open(loop, &pacer, on_pacer);
    if (tfd < 0) {
      fprintf(stderr, "cache-load: timerfd: %s\n", strerror(errno));
      return 1;
    }
  }
  /* the fill runs closed-loop at -D even with --rate */
  ring_cap = opt.rate > 0 && RATE_RING > opt.depth ? RATE_RING : opt.depth;
  for (unsigned i = 0; i < opt.conns; i++) {
    conn_t *c = &conns[i];
    c->ring = calloc(ring_cap, sizeof(*c->ring));
    /* the largest request is a set; sprintf writes a NUL after the line */
    c->out_cap = (size_t)opt.depth * (REQ_SLACK + KEY_LEN + opt.value + 2);
    c->out = malloc(c->out_cap);
    if (c->ring == NULL || c->out == NULL) {
      fprintf(stderr, "cache-load: out of memory\n");
      return 1;
    }
    c->rng = 0x9E3779B97F4A7C15ull * (i + 1);
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    c->creq.data = c;
    int rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&addr,
                            on_connect);
    if (rc != 0) {
      fprintf(stderr, "cache-load: connect: %s\n", uv_strerror(rc));
      return 1;
    }
  }
  uv_run(loop, UV_RUN_DEFAULT);
  if (tfd >= 0)
    close(tfd);
  uv_loop_close(loop);
  for (unsigned i = 0; i < opt.conns; i++) {
    free(conns[i].ring);
    free(conns[i].out);
  }
  free(conns);
  free(value);
  return failures == 0 && done_ops > 0 ? 0 : 1;
}
