/* http-load — a lean HTTP/1.1 keep-alive load generator on libuv.
 *
 *   http-load [--host 127.0.0.1] --port P [--path /] [-c CONNS] [-D DEPTH]
 *             [-d SECONDS] [-w WARMUP_SECONDS] [--rate REQS_PER_S]
 *   http-load [options] http://HOST:PORT/PATH
 *
 * Each of C keep-alive connections sends D identical GET requests together
 * in one write (D = 1 is no pipelining) and, once all D are answered, the
 * next D (a closed loop). Latency is measured per request, from when its
 * batch was sent to when its response completed, so with D > 1 it includes
 * the wait behind the responses ahead of it.
 *
 * With --rate R the requests are instead sent on a fixed schedule, R per
 * second in total, round robin over the connections, without waiting
 * (at most RATE_RING unanswered per connection; beyond that a send is
 * counted as missed), and latency counts from when each was DUE, so any
 * stall shows up (no coordinated omission).
 *
 * Why it exists: one wrk thread costs about as much CPU per request as the
 * servers it measures (four system calls per request, two of them epoll_ctl),
 * so it, not the server, set the pace. This tool does the least a client can:
 * one send() and one recv() per round trip and a lean parse. Unpipelined,
 * that floor is still close to a lean server's cost, because on loopback
 * the kernel charges the sender for the receiving side's TCP processing
 * too (~3.4 of ~3.7 us per request here): watch load_cpu_pct. Pipelined
 * it costs a fraction of what a server does. How:
 *  - the request is encoded once, as a run of identical copies, so sending
 *    k requests is one send() of k * len bytes from that run (no copy, no
 *    allocation, whatever was left unsent is just a shorter run);
 *  - sockets are plain non-blocking fds under uv_poll: per readable event
 *    one recv() into a shared buffer, parsed in place; per event at most
 *    one send(); no epoll_ctl in the steady state;
 *  - one clock read per read, shared by every response it completed.
 *
 * Responses are parsed minimally but correctly: status line (HTTP/1.1 200
 * only), Content-Length or chunked transfer coding (extensions and
 * trailers allowed), both limited. Anything else — another status, a
 * response that closes the connection or has no length, a malformed head,
 * a closed connection — fails the run loudly (the offending line on
 * stderr, exit status 1): a benchmark must not count errors as answers.
 *
 * It prints "event=measure" when the measurement starts and, at its end,
 * one "key=value ..." record for scripts (the last line): req_per_s,
 * p50_us ... max_us, load_cpu_pct (this process's CPU use during the
 * measurement: near 100 the generator set the pace) and
 * load_cpu_us_per_req.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

#define MAX_CONNS 10000
#define MAX_DEPTH 1024
#define RATE_RING 4096 /* most unanswered requests per connection (--rate) */
#define MAX_PATH 2048
#define MAX_LINE 8192          /* longest status, header or chunk line */
#define MAX_HEAD (64u * 1024u) /* longest response head */
#define MAX_BODY (1ull << 40)  /* largest body or chunk we accept */
#define RBUF_SIZE (256 * 1024) /* one recv per readable event */
#define SHOW_MAX 200           /* bytes of a bad line shown on stderr */

/* ---- State -------------------------------------------------------------- */

typedef enum { PH_CONNECTING, PH_WARMUP, PH_MEASURE, PH_DONE } phase_t;

/* Where the response parser is. Line states read a line; RS_BODY and
 * RS_CHUNK_DATA skip `left` bytes. */
typedef enum {
  RS_STATUS,
  RS_HEADER,
  RS_BODY,
  RS_CHUNK_SIZE,
  RS_CHUNK_DATA,
  RS_CHUNK_END, /* the CRLF after a chunk's data */
  RS_TRAILER
} rstate_t;

typedef struct conn_s {
  uv_poll_t poll;
  int fd;
  int connected;
  int want_write; /* polling for UV_WRITABLE: a send was left unfinished */
  uint64_t *ring; /* send (or due) times of unanswered requests */
  unsigned head, count;
  size_t unsent;  /* bytes of queued requests not yet written */
  size_t out_pos; /* offset within the request of the next byte to write */
  /* response parser */
  rstate_t st;
  uint64_t left;   /* body or chunk bytes still to skip */
  size_t head_len; /* bytes of the current head so far */
  int has_len;     /* a Content-Length was seen */
  int chunked;     /* Transfer-Encoding: chunked */
  uint64_t clen;   /* its value */
  size_t line_len; /* bytes of a line split across reads, in line[] */
  char line[MAX_LINE];
} conn_t;

static struct {
  const char *host, *path;
  int port;
  unsigned conns, depth;
  double duration, warmup, rate;
} opt = {"127.0.0.1", "/", 0, 50, 1, 5.0, 1.0, 0.0};
static unsigned ring_cap; /* depth, or RATE_RING with --rate */

static uv_loop_t *loop;
static conn_t *conns;
static struct sockaddr_in addr;
/* ring_cap + 1 copies of the request back to back: any run of up to
 * ring_cap requests, starting at any offset within one, is contiguous */
static char *reqs;
static size_t req_len;
static char rbuf[RBUF_SIZE];
static unsigned connected;
static phase_t phase = PH_CONNECTING;
static uv_timer_t phase_timer;
static uint64_t t_measure;
static double cpu_start; /* load_cpu_secs() when the measurement began */
static uint64_t done_reqs, rx_bytes, failures;
/* Everything answered since the load started, warm-up included. */
static uint64_t all_reqs, missed;
/* --rate pacing */
static int tfd = -1;
static uv_poll_t pacer;
static uint64_t t_sched0, next_req;

static void finish(void);
static void on_conn_poll(uv_poll_t *h, int status, int events);

/* Reports what went wrong (a bad line is shown, escaped and cut short) and
 * ends the run: a broken connection or an unexpected answer invalidates it.
 * Returns -1 so callers can `return fail(...)`. */
static int fail(conn_t *c, const char *what, const char *data, size_t n) {
  if (phase != PH_DONE) {
    fprintf(stderr, "http-load: connection %u: %s", (unsigned)(c - conns),
            what);
    if (data != NULL) {
      fputs(": \"", stderr);
      for (size_t i = 0; i < n && i < SHOW_MAX; i++) {
        unsigned char ch = (unsigned char)data[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
          fputc(ch, stderr);
        else
          fprintf(stderr, "\\x%02x", ch);
      }
      fputs(n > SHOW_MAX ? "\"..." : "\"", stderr);
    }
    fputc('\n', stderr);
    failures++;
  }
  finish();
  return -1;
}

static int fail_errno(conn_t *c, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof(msg), "%s: %s", what, strerror(err));
  return fail(c, msg, NULL, 0);
}

/* ---- Writing ------------------------------------------------------------ */

static void want_write(conn_t *c, int on) {
  if (c->want_write == on)
    return;
  c->want_write = on;
  uv_poll_start(&c->poll, on ? UV_READABLE | UV_WRITABLE : UV_READABLE,
                on_conn_poll);
}

/* Writes what is queued in one send(); the rest waits for UV_WRITABLE. */
static int flush_out(conn_t *c) {
  if (c->unsent == 0)
    return 0;
  ssize_t n =
      send(c->fd, reqs + c->out_pos, c->unsent, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      return fail_errno(c, "send", errno);
    n = 0;
  }
  c->unsent -= (size_t)n;
  c->out_pos = (c->out_pos + (size_t)n) % req_len;
  want_write(c, c->unsent > 0);
  return 0;
}

/* Queues one request sent (or due) at stamp. */
static void queue_request(conn_t *c, uint64_t stamp) {
  unsigned slot = c->head + c->count;
  if (slot >= ring_cap)
    slot -= ring_cap;
  c->ring[slot] = stamp;
  c->count++;
  c->unsent += req_len;
}

/* ---- Reading ------------------------------------------------------------ */

/* The current response is complete: record it, queue the next request. */
static int complete(conn_t *c, uint64_t now) {
  /* unsent bytes belong to the newest requests: the oldest must be out */
  if ((size_t)c->count * req_len < c->unsent + req_len)
    return fail(c, "a response to a request not sent yet", NULL, 0);
  uint64_t sent = c->ring[c->head];
  if (++c->head == ring_cap)
    c->head = 0;
  c->count--;
  c->st = RS_STATUS;
  c->head_len = 0;
  c->has_len = c->chunked = 0;
  if (phase == PH_WARMUP || phase == PH_MEASURE) {
    all_reqs++;
    if (phase == PH_MEASURE) {
      load_hist_add(now - sent);
      done_reqs++;
    }
    /* closed loop: the next D requests go out together, in one write,
     * once all D are answered (as wrk's pipelining and the usual pipelined
     * benchmarks do). Refilling one per answer instead would turn the
     * pipeline into D trickles of single requests, and a server that
     * writes each response on its own would then read them one by one. */
    if (opt.rate == 0 && c->count == 0)
      for (unsigned i = 0; i < opt.depth; i++)
        queue_request(c, now);
  }
  return 0;
}

/* Parses an unsigned decimal (Content-Length) or hex (chunk size) number
 * making up all of s[0..n) but for surrounding blanks; at most MAX_BODY.
 * Returns 0 and the value in *out, or -1. */
static int parse_num(const char *s, size_t n, int hex, uint64_t *out) {
  size_t i = 0;
  while (i < n && (s[i] == ' ' || s[i] == '\t'))
    i++;
  while (n > i && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    n--;
  if (i == n)
    return -1;
  uint64_t v = 0;
  for (; i < n; i++) {
    unsigned d;
    char ch = s[i];
    if (ch >= '0' && ch <= '9')
      d = (unsigned)(ch - '0');
    else if (hex && ch >= 'a' && ch <= 'f')
      d = (unsigned)(ch - 'a' + 10);
    else if (hex && ch >= 'A' && ch <= 'F')
      d = (unsigned)(ch - 'A' + 10);
    else
      return -1;
    v = v * (hex ? 16 : 10) + d;
    if (v > MAX_BODY)
      return -1;
  }
  *out = v;
  return 0;
}

/* Does the comma-separated list s[0..n) hold the token tok (any case)? */
static int has_token(const char *s, size_t n, const char *tok) {
  size_t tl = strlen(tok);
  size_t i = 0;
  while (i < n) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
      i++;
    size_t j = i;
    while (j < n && s[j] != ',')
      j++;
    size_t e = j;
    while (e > i && (s[e - 1] == ' ' || s[e - 1] == '\t'))
      e--;
    if (e - i == tl && strncasecmp(s + i, tok, tl) == 0)
      return 1;
    i = j;
  }
  return 0;
}

/* Whether header line s[0..n) is named name (lowercase, with its colon);
 * if so *val is set to the value's start. */
static int header_is(const char *s, size_t n, const char *name, size_t nl,
                     const char **val) {
  if (n < nl || strncasecmp(s, name, nl) != 0)
    return 0;
  *val = s + nl;
  return 1;
}

/* The head is complete (its blank line was read): on to the body. */
static int end_of_head(conn_t *c, uint64_t now) {
  if (c->chunked) {
    c->st = RS_CHUNK_SIZE;
    return 0;
  }
  if (!c->has_len)
    return fail(c,
                "a response with neither Content-Length nor chunked "
                "coding (delimited by closing the connection)",
                NULL, 0);
  if (c->clen == 0)
    return complete(c, now);
  c->left = c->clen;
  c->st = RS_BODY;
  return 0;
}

/* Handles one header line s[0..n) (without its line end). */
static int on_header(conn_t *c, const char *s, size_t n, uint64_t now) {
  if (n == 0)
    return end_of_head(c, now);
  if (s[0] == ' ' || s[0] == '\t')
    return fail(c, "a folded header line", s, n);
  const char *v;
  switch (s[0] | 0x20) {
  case 'c':
    if (header_is(s, n, "content-length:", 15, &v)) {
      uint64_t len;
      if (parse_num(v, (size_t)(s + n - v), 0, &len) != 0 ||
          (c->has_len && len != c->clen))
        return fail(c, "a bad Content-Length", s, n);
      if (c->chunked)
        return fail(c, "both Content-Length and Transfer-Encoding", s, n);
      c->has_len = 1;
      c->clen = len;
    } else if (header_is(s, n, "connection:", 11, &v)) {
      if (has_token(v, (size_t)(s + n - v), "close"))
        return fail(c, "the server closes the connection", s, n);
    }
    break;
  case 't':
    if (header_is(s, n, "transfer-encoding:", 18, &v)) {
      /* only "chunked" alone: a benchmark's answers are not compressed */
      size_t vn = (size_t)(s + n - v);
      if (!has_token(v, vn, "chunked") || memchr(v, ',', vn) != NULL)
        return fail(c, "an unsupported Transfer-Encoding", s, n);
      if (c->has_len)
        return fail(c, "both Content-Length and Transfer-Encoding", s, n);
      c->chunked = 1;
    }
    break;
  default:
    break;
  }
  return 0;
}

/* Handles one line s[0..n) (without its line end) in a line state. */
static int on_line(conn_t *c, const char *s, size_t n, uint64_t now) {
  switch (c->st) {
  case RS_STATUS:
    /* "HTTP/1.1 200" then a space and a reason (maybe empty), or nothing */
    if (n < 12 || memcmp(s, "HTTP/1.1 200", 12) != 0 ||
        (n > 12 && s[12] != ' '))
      return fail(c, "not an HTTP/1.1 200 response", s, n);
    c->st = RS_HEADER;
    return 0;
  case RS_HEADER:
    return on_header(c, s, n, now);
  case RS_CHUNK_SIZE: {
    /* chunk-size [; extensions] */
    const char *semi = memchr(s, ';', n);
    uint64_t size;
    if (parse_num(s, semi ? (size_t)(semi - s) : n, 1, &size) != 0)
      return fail(c, "a bad chunk size line", s, n);
    if (size == 0) {
      c->st = RS_TRAILER;
    } else {
      c->left = size;
      c->st = RS_CHUNK_DATA;
    }
    return 0;
  }
  case RS_CHUNK_END:
    if (n != 0)
      return fail(c, "chunk data longer than its size", s, n);
    c->st = RS_CHUNK_SIZE;
    return 0;
  case RS_TRAILER:
    return n == 0 ? complete(c, now) : 0;
  default:
    return fail(c, "parser state", NULL, 0);
  }
}

/* Parses n bytes that arrived on c. Lines complete in the buffer are read
 * in place; only one split by the end of a read is copied. */
static int parse(conn_t *c, const char *p, size_t n, uint64_t now) {
  const char *end = p + n;
  while (p < end) {
    if (c->st == RS_BODY || c->st == RS_CHUNK_DATA) {
      size_t avail = (size_t)(end - p);
      size_t k = avail < c->left ? avail : (size_t)c->left;
      p += k;
      c->left -= k;
      if (c->left == 0) {
        if (c->st == RS_CHUNK_DATA)
          c->st = RS_CHUNK_END;
        else if (complete(c, now) != 0)
          return -1;
      }
      continue;
    }
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t k = (size_t)((nl ? nl + 1 : end) - p);
    if (c->line_len + k > MAX_LINE)
      return fail(c, "a line longer than 8 KiB", p, k);
    if (c->st <= RS_HEADER) {
      c->head_len += k;
      if (c->head_len > MAX_HEAD)
        return fail(c, "a response head longer than 64 KiB", NULL, 0);
    }
    const char *s = p; /* the common case: the line is here, no copy */
    size_t len = k - 1;
    p += k;
    if (nl == NULL || c->line_len > 0) {
      memcpy(c->line + c->line_len, s, k);
      c->line_len += k;
      if (nl == NULL)
        break; /* the rest comes with the next read */
      s = c->line;
      len = c->line_len - 1;
      c->line_len = 0;
    }
    if (len > 0 && s[len - 1] == '\r')
      len--;
    if (on_line(c, s, len, now) != 0)
      return -1;
  }
  return 0;
}

static void on_readable(conn_t *c) {
  ssize_t n = recv(c->fd, rbuf, sizeof(rbuf), 0);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      fail_errno(c, "recv", errno);
    return;
  }
  if (n == 0) {
    if (phase != PH_DONE)
      fail(c, "the server closed the connection", NULL, 0);
    return;
  }
  if (phase == PH_MEASURE)
    rx_bytes += (uint64_t)n;
  if (parse(c, rbuf, (size_t)n, uv_hrtime()) == 0 && phase != PH_DONE)
    flush_out(c);
}

/* ---- Connections -------------------------------------------------------- */

static void start_load(void);

static void on_connected(conn_t *c) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    err = errno;
  if (err != 0) {
    fail_errno(c, "connect", err);
    return;
  }
  c->connected = 1;
  uv_poll_start(&c->poll, UV_READABLE, on_conn_poll);
  if (++connected == opt.conns)
    start_load();
}

static void on_conn_poll(uv_poll_t *h, int status, int events) {
  conn_t *c = h->data;
  if (status < 0) {
    /* libuv reports a socket error as UV_EBADF: the socket knows better */
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err == 0)
      err = -status;
    fail_errno(c, c->connected ? "socket" : "connect", err);
    return;
  }
  if (!c->connected) {
    on_connected(c);
    return;
  }
  if (events & UV_READABLE)
    on_readable(c);
  if ((events & UV_WRITABLE) && phase != PH_DONE)
    flush_out(c);
}

static int open_conn(conn_t *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0)
    return -errno;
  /* pipelined refills are small writes while earlier ones are unacked:
   * Nagle would hold them back */
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(c->fd, (const struct sockaddr *)&addr, sizeof(addr)) != 0 &&
      errno != EINPROGRESS)
    return -errno;
  int rc = uv_poll_init_socket(loop, &c->poll, c->fd);
  if (rc != 0)
    return rc;
  c->poll.data = c;
  /* writable once connected (or failed) */
  return uv_poll_start(&c->poll, UV_WRITABLE, on_conn_poll);
}

/* ---- Phases ------------------------------------------------------------- */

static void on_phase(uv_timer_t *t) {
  (void)t;
  if (phase == PH_WARMUP) {
    phase = PH_MEASURE;
    /* lets a runner sample the server's CPU time over the measurement */
    printf("event=measure\n");
    fflush(stdout);
    t_measure = uv_hrtime();
    cpu_start = load_cpu_secs();
    uv_timer_start(&phase_timer, on_phase, (uint64_t)(opt.duration * 1000), 0);
  } else if (phase == PH_MEASURE) {
    finish();
  }
}

static void on_pacer(uv_poll_t *h, int status, int events) {
  (void)h;
  (void)status;
  (void)events;
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
    if (c->count == ring_cap) {
      missed++; /* the server lags this far behind: skip, and say so */
      continue;
    }
    queue_request(c, due); /* latency counts from when it was due */
    if (flush_out(c) != 0)
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
    return;
  }
  uint64_t now = uv_hrtime();
  for (unsigned i = 0; i < opt.conns && phase != PH_DONE; i++) {
    conn_t *c = &conns[i];
    while (c->count < opt.depth)
      queue_request(c, now);
    flush_out(c);
  }
}

static void finish(void) {
  if (phase == PH_DONE)
    return;
  int measured = phase == PH_MEASURE;
  phase = PH_DONE;
  double secs = (double)(uv_hrtime() - t_measure) / 1e9;
  double cpu = load_cpu_secs() - cpu_start;
  if (measured && secs > 0) {
    printf("mode=http conns=%u depth=%u rate=%.0f path=%s secs=%.3f "
           "reqs=%llu req_per_s=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
           "p999_us=%.1f max_us=%.1f rx_bytes=%llu missed=%llu "
           "all_reqs=%llu load_cpu_pct=%.1f load_cpu_us_per_req=%.3f "
           "failures=%llu\n",
           opt.conns, opt.depth, opt.rate, opt.path, secs,
           (unsigned long long)done_reqs, (double)done_reqs / secs,
           load_hist_pct_us(0.50), load_hist_pct_us(0.90),
           load_hist_pct_us(0.99), load_hist_pct_us(0.999), load_hist_max_us(),
           (unsigned long long)rx_bytes, (unsigned long long)missed,
           (unsigned long long)all_reqs, 100.0 * cpu / secs,
           done_reqs ? 1e6 * cpu / (double)done_reqs : 0.0,
           (unsigned long long)failures);
    fflush(stdout);
  }
  load_close_all(loop);
}

/* ---- Options ------------------------------------------------------------ */

static void usage(FILE *out) {
  fprintf(out,
          "usage: http-load [options] [http://HOST:PORT/PATH]\n"
          "  --host ADDR          IPv4 address of the server (127.0.0.1)\n"
          "  --port P             its port (required without a URL)\n"
          "  --path PATH          the request's target (/)\n"
          "  -c, --connections N  keep-alive connections (50, at most %d)\n"
          "  -D, --depth N        requests in flight per connection, "
          "pipelined\n"
          "                       (1: no pipelining; at most %d)\n"
          "  -d, --duration S     measured seconds (5)\n"
          "  -w, --warmup S       unmeasured seconds first (1)\n"
          "  --rate R             R requests/s in total on a fixed schedule\n"
          "                       instead of a closed loop (-D is ignored)\n",
          MAX_CONNS, MAX_DEPTH);
}

/* Takes http://HOST:PORT/PATH apart (an IPv4 HOST; PORT required; no
 * PATH means /). The host points into url, which is modified. */
static int parse_url(char *url) {
  if (strncmp(url, "http://", 7) != 0)
    return -1;
  char *host = url + 7;
  char *slash = strchr(host, '/');
  if (slash != NULL) {
    opt.path = strdup(slash); /* lives as long as the process */
    if (opt.path == NULL)
      return -1;
    *slash = '\0';
  }
  char *colon = strchr(host, ':');
  if (colon == NULL)
    return -1;
  *colon = '\0';
  opt.host = host;
  char *end = NULL;
  long port = strtol(colon + 1, &end, 10);
  if (end == colon + 1 || *end != '\0' || port <= 0 || port > 65535)
    return -1;
  opt.port = (int)port;
  return 0;
}

static int path_ok(const char *p) {
  size_t n = strlen(p);
  if (n == 0 || n > MAX_PATH || p[0] != '/')
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f)
      return 0;
  return 1;
}

static int parse_args(int argc, char **argv) {
  static const struct option longs[] = {
      {"host", required_argument, 0, 'H'},
      {"port", required_argument, 0, 'p'},
      {"path", required_argument, 0, 'P'},
      {"connections", required_argument, 0, 'c'},
      {"depth", required_argument, 0, 'D'},
      {"duration", required_argument, 0, 'd'},
      {"warmup", required_argument, 0, 'w'},
      {"rate", required_argument, 0, 'r'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "c:D:d:w:h", longs, NULL)) != -1) {
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
    case 'D':
      opt.depth = (unsigned)strtoul(optarg, NULL, 10);
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
  if (optind + 1 == argc) {
    if (parse_url(argv[optind]) != 0) {
      fprintf(stderr, "http-load: bad URL (want http://IPV4:PORT/PATH)\n");
      return -1;
    }
  } else if (optind != argc) {
    return -1;
  }
  if (!load_common_opts_ok(opt.port, opt.conns, MAX_CONNS, opt.duration,
                           opt.warmup, opt.rate) ||
      opt.depth == 0 || opt.depth > MAX_DEPTH || !path_ok(opt.path))
    return -1;
  return 0;
}

int main(int argc, char **argv) {
  if (parse_args(argc, argv) != 0) {
    usage(stderr);
    return 2;
  }
  if (uv_ip4_addr(opt.host, opt.port, &addr) != 0) {
    fprintf(stderr, "http-load: bad IPv4 address %s\n", opt.host);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  ring_cap = opt.rate > 0 ? RATE_RING : opt.depth;

  /* the one request, as wrk sends it; then ring_cap + 1 copies of it */
  char one[MAX_PATH + 128];
  int n = snprintf(one, sizeof(one), "GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n",
                   opt.path, opt.host, opt.port);
  if (n < 0 || (size_t)n >= sizeof(one)) {
    fprintf(stderr, "http-load: request too long\n");
    return 2;
  }
  req_len = (size_t)n;
  reqs = malloc(req_len * (ring_cap + 1));
  conns = calloc(opt.conns, sizeof(*conns));
  if (reqs == NULL || conns == NULL) {
    fprintf(stderr, "http-load: out of memory\n");
    return 1;
  }
  for (unsigned i = 0; i <= ring_cap; i++)
    memcpy(reqs + i * req_len, one, req_len);

  loop = uv_default_loop();
  uv_timer_init(loop, &phase_timer);
  if (opt.rate > 0) {
    tfd = load_pacer_open(loop, &pacer, on_pacer);
    if (tfd < 0) {
      fprintf(stderr, "http-load: timerfd: %s\n", strerror(errno));
      return 1;
    }
  }
  for (unsigned i = 0; i < opt.conns; i++)
    conns[i].fd = -1;
  for (unsigned i = 0; i < opt.conns; i++) {
    conn_t *c = &conns[i];
    c->ring = malloc(ring_cap * sizeof(*c->ring));
    if (c->ring == NULL) {
      fprintf(stderr, "http-load: out of memory\n");
      return 1;
    }
    int rc = open_conn(c);
    if (rc != 0) {
      fprintf(stderr, "http-load: connect: %s\n", uv_strerror(rc));
      return 1;
    }
  }
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  if (tfd >= 0)
    close(tfd);
  for (unsigned i = 0; i < opt.conns; i++) {
    if (conns[i].fd >= 0)
      close(conns[i].fd);
    free(conns[i].ring);
  }
  free(conns);
  free(reqs);
  return failures == 0 && done_reqs > 0 ? 0 : 1;
}
