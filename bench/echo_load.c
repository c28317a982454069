/* echo-load — a libuv load generator for echo servers.
 *
 *   echo-load --port P [--mode rr|stream] [-c CONNS] [-s BYTES]
 *             [-d SECONDS] [-w WARMUP_SECONDS] [--rate MSGS_PER_S]
 *
 * Modes:
 *  rr      each of C connections sends an S-byte message and waits for all
 *          S bytes to come back before sending the next (closed loop).
 *          Reports round trips per second and latency percentiles. A closed
 *          loop hides tail latency (a slow reply delays the next request:
 *          "coordinated omission"), so with --rate R the messages are sent
 *          instead on a fixed schedule, R per second in total, round robin
 *          over the connections, without waiting for replies; latency is
 *          then measured from the moment each message was DUE, so any stall
 *          (server or generator) shows up in the percentiles.
 *  stream  each connection keeps a few S-byte chunks in flight and reads
 *          the echo; reports echoed MiB per second.
 *
 * The last line of output is one "key=value ..." record for scripts. It
 * includes load_cpu_pct, this process's CPU use during the measurement: when
 * it nears 100 the generator, not the server, set the pace.
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
#define MAX_SIZE (16u * 1024u * 1024u)
#define RING 4096      /* most unanswered messages per connection (rate mode) */
#define STREAM_DEPTH 4 /* chunks in flight per connection (stream mode) */

/* ---- State -------------------------------------------------------------- */

typedef enum { MODE_RR, MODE_STREAM } load_mode_t;
typedef enum { PH_CONNECTING, PH_WARMUP, PH_MEASURE, PH_DONE } phase_t;

typedef struct conn_s {
  uv_tcp_t tcp;
  uv_connect_t creq;
  size_t partial;      /* bytes of the oldest message received so far */
  uint64_t ring[RING]; /* send (or due) times of unanswered messages */
  unsigned head, count;
  int inflight; /* stream mode: chunks being written */
} conn_t;

typedef struct wreq_s {
  uv_write_t req;
  conn_t *conn;
} wreq_t;

static struct {
  load_mode_t mode;
  const char *host;
  int port;
  unsigned conns;
  size_t size;
  double duration, warmup, rate;
} opt = {MODE_RR, "127.0.0.1", 0, 50, 64, 5.0, 1.0, 0.0};

static uv_loop_t *loop;
static conn_t *conns;
static char *msg; /* the message (rr) or chunk (stream), constant bytes */
static char rbuf[256 * 1024];
static unsigned connected;
static phase_t phase = PH_CONNECTING;
static uv_timer_t phase_timer;
static uint64_t t_measure, t_end;
static double cpu_start; /* load_cpu_secs() when the measurement began */
static uint64_t done_msgs, done_bytes, missed, failures;
/* Everything answered since the load started, warm-up included: what a
 * runner reading the server's CPU time around the whole run divides by. */
static uint64_t all_msgs, all_bytes;
/* rate mode pacing */
static int tfd = -1;
static uv_poll_t pacer;
static uint64_t t_sched0, next_msg;

static void finish(void);

static void fail_conn(conn_t *c, const char *what, int err) {
  if (phase != PH_DONE) {
    fprintf(stderr, "echo-load: %s: %s\n", what, uv_strerror(err));
    failures++;
  }
  if (!uv_is_closing((uv_handle_t *)&c->tcp))
    uv_close((uv_handle_t *)&c->tcp, NULL);
}

/* ---- Writing ------------------------------------------------------------ */

static void on_write(uv_write_t *req, int status) {
  wreq_t *w = (wreq_t *)req;
  conn_t *c = w->conn;
  free(w);
  if (status < 0) {
    if (status != UV_ECANCELED)
      fail_conn(c, "write", status);
    return;
  }
  if (opt.mode == MODE_STREAM) {
    c->inflight--;
    if (phase != PH_DONE && c->inflight < STREAM_DEPTH) {
      wreq_t *nw = malloc(sizeof(*nw));
      if (nw == NULL)
        return;
      nw->conn = c;
      uv_buf_t b = uv_buf_init(msg, (unsigned)opt.size);
      if (uv_write(&nw->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) == 0)
        c->inflight++;
      else
        free(nw);
    }
  }
}

/* Sends one message: straight into the socket when it can, else queued. The
 * bytes are the constant `msg`, so nothing is copied either way. */
static void send_msg(conn_t *c) {
  uv_buf_t b = uv_buf_init(msg, (unsigned)opt.size);
  int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (n == UV_EAGAIN)
    n = 0;
  if (n < 0) {
    fail_conn(c, "write", n);
    return;
  }
  if ((size_t)n == opt.size)
    return;
  wreq_t *w = malloc(sizeof(*w));
  if (w == NULL) {
    fail_conn(c, "write", UV_ENOMEM);
    return;
  }
  w->conn = c;
  b = uv_buf_init(msg + n, (unsigned)(opt.size - (size_t)n));
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
  if (rc != 0) {
    free(w);
    fail_conn(c, "write", rc);
  }
}

static void send_rr(conn_t *c, uint64_t stamp) {
  if (c->count == RING) {
    missed++; /* RING replies owed on this connection: the server lags */
    return;
  }
  c->ring[(c->head + c->count) % RING] = stamp;
  c->count++;
  send_msg(c);
}

/* ---- Reading ------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  /* Bytes are counted, never kept, so one buffer serves every connection. */
  *buf = uv_buf_init(rbuf, sizeof(rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = s->data;
  if (n < 0) {
    fail_conn(c, "read", (int)n);
    return;
  }
  uint64_t now = uv_hrtime();
  int measuring = phase == PH_MEASURE;
  if (phase != PH_DONE)
    all_bytes += (uint64_t)n;
  if (opt.mode == MODE_STREAM) {
    if (measuring)
      done_bytes += (uint64_t)n;
    return;
  }
  size_t left = (size_t)n;
  while (left > 0) {
    size_t need = opt.size - c->partial;
    if (left < need) {
      c->partial += left;
      break;
    }
    left -= need;
    c->partial = 0;
    if (c->count == 0) {
      fprintf(stderr, "echo-load: more bytes back than were sent\n");
      failures++;
      break;
    }
    uint64_t sent = c->ring[c->head];
    c->head = (c->head + 1) % RING;
    c->count--;
    if (phase != PH_DONE)
      all_msgs++;
    if (measuring) {
      load_hist_add(now - sent);
      done_msgs++;
    }
    if (opt.rate == 0 && phase != PH_DONE)
      send_rr(c, uv_hrtime());
  }
}

/* ---- Rate mode: a timerfd wakes us exactly when the next message is due */

static void on_pacer(uv_poll_t *h, int status, int events) {
  if (load_pacer_ack(tfd) != 0)
    return;
  if (phase == PH_DONE)
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
      send_rr(c, due); /* latency counts from when it was due */
  }
}

/* ---- Phases ------------------------------------------------------------- */

static void on_phase(uv_timer_t *t) {
  if (phase == PH_WARMUP) {
    phase = PH_MEASURE;
    t_measure = uv_hrtime();
    cpu_start = load_cpu_secs();
    uv_timer_start(&phase_timer, on_phase, (uint64_t)(opt.duration * 1000), 0);
  } else if (phase == PH_MEASURE) {
    finish();
  }
}

static void start_load(void) {
  phase = PH_WARMUP;
  uv_timer_start(&phase_timer, on_phase, (uint64_t)(opt.warmup * 1000), 0);
  if (opt.mode == MODE_STREAM) {
    for (unsigned i = 0; i < opt.conns; i++)
      for (int k = 0; k < STREAM_DEPTH; k++) {
        wreq_t *w = malloc(sizeof(*w));
        if (w == NULL)
          continue;
        w->conn = &conns[i];
        uv_buf_t b = uv_buf_init(msg, (unsigned)opt.size);
        if (uv_write(&w->req, (uv_stream_t *)&conns[i].tcp, &b, 1, on_write))
          free(w);
        else
          conns[i].inflight++;
      }
  } else if (opt.rate > 0) {
    t_sched0 = uv_hrtime();
    next_msg = 0;
    load_pacer_arm(tfd, t_sched0);
  } else {
    for (unsigned i = 0; i < opt.conns; i++)
      send_rr(&conns[i], uv_hrtime());
  }
}

static void on_connect(uv_connect_t *req, int status) {
  conn_t *c = req->data;
  if (status < 0) {
    fail_conn(c, "connect", status);
    finish();
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (++connected == opt.conns)
    start_load();
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
    if (opt.mode == MODE_STREAM) {
      printf("mode=stream conns=%u size=%zu secs=%.3f bytes=%llu "
             "mib_per_s=%.1f all_bytes=%llu load_cpu_pct=%.1f "
             "failures=%llu\n",
             opt.conns, opt.size, secs, (unsigned long long)done_bytes,
             (double)done_bytes / secs / (1024.0 * 1024.0),
             (unsigned long long)all_bytes, cpu, (unsigned long long)failures);
    } else {
      printf("mode=rr conns=%u size=%zu rate=%.0f secs=%.3f msgs=%llu "
             "msgs_per_s=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
             "p999_us=%.1f max_us=%.1f missed=%llu all_msgs=%llu "
             "load_cpu_pct=%.1f failures=%llu\n",
             opt.conns, opt.size, opt.rate, secs, (unsigned long long)done_msgs,
             (double)done_msgs / secs, load_hist_pct_us(0.50),
             load_hist_pct_us(0.90), load_hist_pct_us(0.99),
             load_hist_pct_us(0.999), load_hist_max_us(),
             (unsigned long long)missed, (unsigned long long)all_msgs, cpu,
             (unsigned long long)failures);
    }
    fflush(stdout);
  }
  load_close_all(loop);
}

/* ---- Options ------------------------------------------------------------ */

static void usage(FILE *out) {
  fprintf(out,
          "usage: echo-load --port P [options]\n"
          "  --host ADDR          IPv4 address of the server (127.0.0.1)\n"
          "  --port P             its port (required)\n"
          "  --mode rr|stream     round trips (default) or streaming\n"
          "  -c, --connections N  connections (50, at most %d)\n"
          "  -s, --size BYTES     message (rr) or chunk (stream) size (64)\n"
          "  -d, --duration S     measured seconds (5)\n"
          "  -w, --warmup S       unmeasured seconds first (1)\n"
          "  --rate R             rr: R messages/s on a fixed schedule\n"
          "                       instead of a closed loop\n",
          MAX_CONNS);
}

static int parse(int argc, char **argv) {
  static const struct option longs[] = {
      {"host", required_argument, 0, 'H'},
      {"port", required_argument, 0, 'p'},
      {"mode", required_argument, 0, 'm'},
      {"connections", required_argument, 0, 'c'},
      {"size", required_argument, 0, 's'},
      {"duration", required_argument, 0, 'd'},
      {"warmup", required_argument, 0, 'w'},
      {"rate", required_argument, 0, 'r'},
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
    case 'm':
      if (strcmp(optarg, "rr") == 0)
        opt.mode = MODE_RR;
      else if (strcmp(optarg, "stream") == 0)
        opt.mode = MODE_STREAM;
      else
        return -1;
      break;
    case 'c':
      opt.conns = (unsigned)strtoul(optarg, NULL, 10);
      break;
    case 's':
      opt.size = strtoul(optarg, NULL, 10);
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
      opt.size == 0 || opt.size > MAX_SIZE)
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
    fprintf(stderr, "echo-load: bad address %s\n", opt.host);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  loop = uv_default_loop();
  conns = calloc(opt.conns, sizeof(*conns));
  msg = malloc(opt.size);
  if (conns == NULL || msg == NULL) {
    fprintf(stderr, "echo-load: out of memory\n");
    return 1;
  }
  for (size_t i = 0; i < opt.size; i++)
    msg[i] = (char)('a' + i % 26);
  uv_timer_init(loop, &phase_timer);
  if (opt.mode == MODE_RR && opt.rate > 0) {
    tfd = load_pacer_open(loop, &pacer, on_pacer);
    if (tfd < 0) {
      fprintf(stderr, "echo-load: timerfd: %s\n", strerror(errno));
      return 1;
    }
  }
  for (unsigned i = 0; i < opt.conns; i++) {
    conn_t *c = &conns[i];
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    c->creq.data = c;
    int rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&addr,
                            on_connect);
    if (rc != 0) {
      fprintf(stderr, "echo-load: connect: %s\n", uv_strerror(rc));
      return 1;
    }
  }
  uv_run(loop, UV_RUN_DEFAULT);
  if (tfd >= 0)
    close(tfd);
  uv_loop_close(loop);
  free(conns);
  free(msg);
  return failures == 0 && load_hist_count() + done_bytes > 0 ? 0 : 1;
}
