/* lock-bench — acquire/release cycles per second against a lock service:
 * eddy's lock protocol, or the usual Redis lock (SET key token NX PX, then
 * a compare-and-delete script run with EVALSHA).
 *
 *   lock-bench --mode eddy|redis --port P [--host 127.0.0.1] [--conns 50]
 *              [--keys K] [--duration 3] [--warmup 1] [--prefix P]
 *
 * Closed loop: each of --conns connections does acquire, waits for the
 * grant, releases, waits for the reply, and starts again. With --keys equal
 * to --conns (the default) every connection has its own lock: the service's
 * cost per cycle, uncontended. With fewer keys, connections contend: eddy's
 * waiters queue on the server; Redis clients retry at once when SET NX
 * fails (what a Redis lock client does without sleeping), and only
 * successful cycles count.
 *
 * Prints one line: `cycles=N seconds=S rate=R p50_us=A p99_us=B retries=F`.
 * Plain epoll, no library, so the generator is the same for both servers.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1000
#define BUF 4096
#define HIST_US 100000 /* latency histogram: 1 µs buckets up to 100 ms */

/* Deletes the key only if it still holds our token: the standard release of
 * a Redis lock, so a client never deletes a lock another one now holds. */
static const char *REDIS_UNLOCK =
    "if redis.call('get',KEYS[1]) == ARGV[1] then "
    "return redis.call('del',KEYS[1]) else return 0 end";

typedef struct {
  int fd;
  int state; /* 0: acquire sent, 1: release sent */
  int key;
  uint64_t seq;
  uint64_t started_ns;
  char in[BUF];
  size_t inlen;
} conn_t;

static int redis_mode;
/* Keys are bench/PREFIX/N: a run must not meet the locks an earlier run's
 * connections left behind (Redis keeps them until PX expires). */
static const char *prefix = "0";
static char sha[64];
static uint64_t cycles, retries;
static uint32_t *hist;
static uint64_t overflow;
static int counting;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void send_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN)
        continue; /* requests are tiny: the socket buffer never fills */
      die("write");
    }
    buf += n;
    len -= (size_t)n;
  }
}

/* RESP array of bulk strings. */
static size_t resp(char *out, size_t size, int argc, const char **argv) {
  size_t n = (size_t)snprintf(out, size, "*%d\r\n", argc);
  for (int i = 0; i < argc; i++)
    n += (size_t)snprintf(out + n, size - n, "$%zu\r\n%s\r\n", strlen(argv[i]),
                          argv[i]);
  return n;
}

static void send_acquire(conn_t *c) {
  char buf[512], key[96], token[48];
  snprintf(key, sizeof(key), "bench/%s/%d", prefix, c->key);
  c->state = 0;
  c->seq++;
  if (redis_mode) {
    snprintf(token, sizeof(token), "%d-%llu", c->fd,
             (unsigned long long)c->seq);
    const char *argv[] = {"SET", key, token, "NX", "PX", "30000"};
    send_all(c->fd, buf, resp(buf, sizeof(buf), 6, argv));
  } else {
    int n = snprintf(buf, sizeof(buf), "acquire %s\r\n", key);
    send_all(c->fd, buf, (size_t)n);
  }
}

static void send_release(conn_t *c) {
  char buf[512], key[96], token[48];
  snprintf(key, sizeof(key), "bench/%s/%d", prefix, c->key);
  c->state = 1;
  if (redis_mode) {
    snprintf(token, sizeof(token), "%d-%llu", c->fd,
             (unsigned long long)c->seq);
    const char *argv[] = {"EVALSHA", sha, "1", key, token};
    send_all(c->fd, buf, resp(buf, sizeof(buf), 5, argv));
  } else {
    int n = snprintf(buf, sizeof(buf), "release %s\r\n", key);
    send_all(c->fd, buf, (size_t)n);
  }
}

static void record(conn_t *c) {
  if (!counting)
    return;
  cycles++;
  uint64_t us = (now_ns() - c->started_ns) / 1000;
  if (us < HIST_US)
    hist[us]++;
  else
    overflow++;
}

/* One reply line (without \r\n). Every reply of both protocols used here
 * is a single line. */
static void on_reply(conn_t *c, const char *line) {
  if (c->state == 0) {
    int granted =
        redis_mode ? strcmp(line, "+OK") == 0 : strncmp(line, "OK ", 3) == 0;
    if (!granted) {
      if (redis_mode && strcmp(line, "$-1") == 0) {
        retries++; /* taken: a Redis lock client tries again */
        c->seq++;
        send_acquire(c);
        return;
      }
      fprintf(stderr, "lock-bench: acquire failed: %s\n", line);
      exit(1);
    }
    send_release(c);
  } else {
    /* Redis answers :1 when the key held our token and was deleted; :0
     * would mean the lock was not ours any more. */
    if (line[0] == '-' || strncmp(line, "ERR", 3) == 0 ||
        (redis_mode && strcmp(line, ":1") != 0)) {
      fprintf(stderr, "lock-bench: release failed: %s\n", line);
      exit(1);
    }
    record(c);
    c->started_ns = now_ns();
    send_acquire(c);
  }
}

static int connect_to(const char *host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    die("socket");
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
    fprintf(stderr, "lock-bench: bad host %s\n", host);
    exit(2);
  }
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
    die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

/* Blocking read of one line, for the set-up exchange. */
static void read_line(int fd, char *out, size_t size) {
  size_t n = 0;
  while (n + 1 < size) {
    char ch;
    ssize_t r = read(fd, &ch, 1);
    if (r <= 0)
      die("read");
    if (ch == '\n')
      break;
    if (ch != '\r')
      out[n++] = ch;
  }
  out[n] = '\0';
}

static void load_script(const char *host, int port) {
  int fd = connect_to(host, port);
  char buf[512], line[256];
  const char *argv[] = {"SCRIPT", "LOAD", REDIS_UNLOCK};
  send_all(fd, buf, resp(buf, sizeof(buf), 3, argv));
  read_line(fd, line, sizeof(line)); /* $40 */
  read_line(fd, sha, sizeof(sha));
  if (line[0] != '$' || strlen(sha) != 40) {
    fprintf(stderr, "lock-bench: SCRIPT LOAD failed: %s %s\n", line, sha);
    exit(1);
  }
  close(fd);
}

static uint64_t percentile(double p) {
  uint64_t total = cycles, want = (uint64_t)(p * (double)total), seen = 0;
  for (uint64_t us = 0; us < HIST_US; us++) {
    seen += hist[us];
    if (seen > want)
      return us;
  }
  return HIST_US;
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1", *mode = NULL;
  int port = 0, nconns = 50, nkeys = 0;
  double duration = 3, warmup = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--mode") == 0)
      mode = argv[i + 1];
    else if (strcmp(argv[i], "--host") == 0)
      host = argv[i + 1];
    else if (strcmp(argv[i], "--port") == 0)
      port = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--conns") == 0)
      nconns = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--keys") == 0)
      nkeys = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--prefix") == 0)
      prefix = argv[i + 1];
    else if (strcmp(argv[i], "--duration") == 0)
      duration = atof(argv[i + 1]);
    else if (strcmp(argv[i], "--warmup") == 0)
      warmup = atof(argv[i + 1]);
    else {
      fprintf(stderr, "lock-bench: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (mode == NULL || port <= 0 || nconns < 1 || nconns > MAX_CONNS ||
      duration <= 0 || (strcmp(mode, "eddy") != 0 && strcmp(mode, "redis"))) {
    fprintf(stderr, "usage: lock-bench --mode eddy|redis --port P [--host H] "
                    "[--conns 1..1000] [--keys K] [--duration S] "
                    "[--warmup S] [--prefix P]\n");
    return 2;
  }
  if (nkeys <= 0 || nkeys > nconns)
    nkeys = nconns;
  redis_mode = strcmp(mode, "redis") == 0;
  hist = calloc(HIST_US, sizeof(*hist));
  conn_t *conns = calloc((size_t)nconns, sizeof(*conns));
  if (hist == NULL || conns == NULL)
    die("calloc");
  if (redis_mode)
    load_script(host, port);

  int ep = epoll_create1(0);
  if (ep < 0)
    die("epoll_create1");
  for (int i = 0; i < nconns; i++) {
    conn_t *c = &conns[i];
    c->fd = connect_to(host, port);
    c->key = i % nkeys;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
      die("epoll_ctl");
  }
  uint64_t t0 = now_ns();
  uint64_t measure_from = t0 + (uint64_t)(warmup * 1e9);
  uint64_t end = measure_from + (uint64_t)(duration * 1e9);
  for (int i = 0; i < nconns; i++) {
    conns[i].started_ns = t0;
    send_acquire(&conns[i]);
  }
  uint64_t retries_at_start = 0;
  struct epoll_event evs[256];
  for (;;) {
    uint64_t now = now_ns();
    if (!counting && now >= measure_from) {
      counting = 1;
      retries_at_start = retries;
    }
    if (now >= end)
      break;
    int n = epoll_wait(ep, evs, 256, 10);
    if (n < 0 && errno != EINTR)
      die("epoll_wait");
    for (int k = 0; k < n; k++) {
      conn_t *c = evs[k].data.ptr;
      ssize_t r = read(c->fd, c->in + c->inlen, BUF - c->inlen);
      if (r <= 0) {
        fprintf(stderr, "lock-bench: connection closed by the server\n");
        return 1;
      }
      c->inlen += (size_t)r;
      size_t start = 0;
      for (size_t i = 0; i < c->inlen; i++) {
        if (c->in[i] != '\n')
          continue;
        size_t len = i - start;
        if (len > 0 && c->in[start + len - 1] == '\r')
          len--;
        c->in[start + len] = '\0';
        on_reply(c, c->in + start);
        start = i + 1;
      }
      memmove(c->in, c->in + start, c->inlen - start);
      c->inlen -= start;
    }
  }
  double secs = (double)(now_ns() - measure_from) / 1e9;
  printf("cycles=%llu seconds=%.3f rate=%.0f p50_us=%llu p99_us=%llu "
         "retries=%llu\n",
         (unsigned long long)cycles, secs, (double)cycles / secs,
         (unsigned long long)percentile(0.50),
         (unsigned long long)percentile(0.99),
         (unsigned long long)(retries - retries_at_start));
  for (int i = 0; i < nconns; i++)
    close(conns[i].fd);
  free(conns);
  free(hist);
  return 0;
}
