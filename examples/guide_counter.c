/* guide-counter — the counter service that docs/guide.md builds, step by
 * step. tests/unit/test_guide.c compiles this file into its tests, so the
 * code the guide quotes is the code that is tested.
 *
 *   guide-counter [LISTEN_ENDPOINT [SNAPSHOT_FILE]]   (default tcp:7700)
 *
 * A line protocol in the manner of memcached's; every line ends in \r\n:
 *   incr NAME        -> the new value (a NAME never seen counts from 0)
 *   get NAME         -> "VALUE BYTES", the value, \r\n; or NOT_FOUND
 *   set NAME BYTES   then BYTES bytes of anything and \r\n -> STORED
 *   save             -> "SAVED N" once the N names are in SNAPSHOT_FILE
 * A request it cannot serve gets one "ERROR reason" line, and the connection
 * goes on. Try it:
 *   guide-counter &
 *   printf 'incr hits\r\nincr hits\r\nget hits\r\n' | nc -q1 127.0.0.1 7700
 * A snapshot is a list of `set` commands, so feeding it to a fresh server
 * restores it:  nc -q1 127.0.0.1 7700 < SNAPSHOT_FILE
 */
#include <eddy/eddy.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNTER_NAME_MAX 64     /* bytes in a name */
#define COUNTER_VALUE_MAX 4096  /* bytes in a value */
#define COUNTER_NAMES_MAX 10000 /* names in the store */
#define COUNTER_LINE_MAX 128    /* "set NAME BYTES" fits with room to spare */
#define COUNTER_IDLE_MS (5 * 60 * 1000)
/* A snapshot holds every value plus a `set` line for each. */
#define COUNTER_SNAPSHOT_MAX                                                   \
  ((size_t)COUNTER_NAMES_MAX * (COUNTER_VALUE_MAX + COUNTER_LINE_MAX))

/* ---- The store: plain C, nothing to do with eddy ------------------------ */

typedef struct entry_s {
  struct entry_s *next;
  char *value;
  size_t len;
  size_t name_len;
  char name[COUNTER_NAME_MAX];
} entry_t;

typedef struct counter_conn_s counter_conn_t;
typedef struct save_s save_t;

/* What every connection shares: the factory, and the factory's data. */
typedef struct counter_service_s {
  eddy_factory_t factory; /* factory.data points back here */
  eddy_reactor_t *reactor;
  eddy_listener_t *listener;
  counter_conn_t *conns; /* open connections, so a stop can close them */
  entry_t *entries;      /* a list keeps the guide short; use a hash table */
  size_t nentries;
  uint64_t idle_ms;
  const char *snapshot_path; /* NULL: `save` is refused */
  int saving;                /* one save at a time */
} counter_service_t;

static entry_t *store_find(counter_service_t *svc, const char *name,
                           size_t len) {
  for (entry_t *e = svc->entries; e != NULL; e = e->next)
    if (e->name_len == len && memcmp(e->name, name, len) == 0)
      return e;
  return NULL;
}

static int store_set(entry_t *e, const char *value, size_t len) {
  char *copy = malloc(len + 1); /* + 1: an empty value is not malloc(0) */
  if (copy == NULL)
    return UV_ENOMEM;
  memcpy(copy, value, len);
  free(e->value);
  e->value = copy;
  e->len = len;
  return 0;
}

/* Finds NAME, or adds it with an empty value (never a NULL one). NULL when
 * the store is full or out of memory. New names go last, so a snapshot
 * keeps their order. */
static entry_t *store_get(counter_service_t *svc, const char *name,
                          size_t len) {
  entry_t *e = store_find(svc, name, len);
  if (e != NULL || svc->nentries == COUNTER_NAMES_MAX)
    return e;
  e = calloc(1, sizeof(*e));
  if (e == NULL || store_set(e, "", 0) != 0) {
    free(e);
    return NULL;
  }
  memcpy(e->name, name, len);
  e->name_len = len;
  entry_t **link = &svc->entries;
  while (*link != NULL)
    link = &(*link)->next;
  *link = e;
  svc->nentries++;
  return e;
}

/* A decimal number of 1 to 20 digits that fits in 64 bits. */
static int parse_u64(const char *s, size_t len, uint64_t *out) {
  uint64_t v = 0;
  if (len == 0 || len > 20)
    return EDDY_EPARSE;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return EDDY_EPARSE;
    unsigned digit = (unsigned)(s[i] - '0');
    if (v > (UINT64_MAX - digit) / 10)
      return EDDY_EPARSE;
    v = v * 10 + digit;
  }
  *out = v;
  return 0;
}

/* 1 to COUNTER_NAME_MAX printable bytes and no space, so that a name can
 * never break the framing of a command. */
static int valid_name(const char *s, size_t len) {
  if (len == 0 || len > COUNTER_NAME_MAX)
    return 0;
  for (size_t i = 0; i < len; i++)
    if (s[i] <= ' ' || s[i] > '~')
      return 0;
  return 1;
}

typedef struct word_s {
  const char *p;
  size_t len;
} word_t;

/* Splits a line at spaces into at most max words. Returns how many, or
 * max + 1 when there are more. */
static size_t split_words(const char *line, size_t len, word_t *w, size_t max) {
  size_t n = 0, i = 0;
  while (i < len) {
    if (line[i] == ' ') {
      i++;
      continue;
    }
    if (n == max)
      return max + 1;
    w[n].p = line + i;
    while (i < len && line[i] != ' ')
      i++;
    w[n].len = (size_t)(line + i - w[n].p);
    n++;
  }
  return n;
}

static int word_is(word_t w, const char *s) {
  return w.len == strlen(s) && memcmp(w.p, s, w.len) == 0;
}

/* ---- One connection ----------------------------------------------------- */

struct counter_conn_s {
  eddy_line_receiver_t lr; /* first: the library's protocol pointer is ours */
  counter_service_t *service;
  counter_conn_t *prev, *next;
  eddy_timer_t idle; /* closes a connection that went quiet */
  save_t *save;      /* the save this connection waits for, or NULL */
  /* Between `set NAME BYTES` and the end of its block (raw mode). */
  char set_name[COUNTER_NAME_MAX];
  size_t set_name_len;
  size_t set_len;
};

/* A `save` in progress (see do_save). */
struct save_s {
  counter_service_t *service;
  counter_conn_t *conn; /* NULL once that connection is gone */
  const char *path;
  eddy_buf_t snapshot;
  size_t names;
};

static void reply(counter_conn_t *c, const char *text) {
  /* Writes never block and never call back; once the connection is
   * closing they are dropped, which is what we want. */
  eddy_line_receiver_send_line(&c->lr, text, strlen(text));
}

static void do_incr(counter_conn_t *c, word_t name) {
  entry_t *e = store_get(c->service, name.p, name.len);
  uint64_t v = 0;
  char num[24];
  if (e == NULL) {
    reply(c, "ERROR store full");
  } else if (e->len > 0 && parse_u64(e->value, e->len, &v) != 0) {
    reply(c, "ERROR not a number");
  } else if (v == UINT64_MAX) {
    reply(c, "ERROR overflow");
  } else {
    int n = snprintf(num, sizeof(num), "%" PRIu64, v + 1);
    if (store_set(e, num, (size_t)n) != 0)
      reply(c, "ERROR out of memory");
    else
      reply(c, num);
  }
}

static void do_get(counter_conn_t *c, word_t name) {
  entry_t *e = store_find(c->service, name.p, name.len);
  if (e == NULL) {
    reply(c, "NOT_FOUND");
    return;
  }
  char head[32];
  int n = snprintf(head, sizeof(head), "VALUE %zu\r\n", e->len);
  /* One write in three pieces: the transport copies them, so the value
   * needs no copy of ours into a reply buffer. */
  uv_buf_t parts[3] = {uv_buf_init(head, (unsigned)n),
                       uv_buf_init(e->value, (unsigned)e->len),
                       uv_buf_init("\r\n", 2)};
  eddy_transport_writev(c->lr.protocol.transport, parts, 3);
}

static void do_set(counter_conn_t *c, word_t name, word_t size) {
  uint64_t len;
  if (parse_u64(size.p, size.len, &len) != 0 || len > COUNTER_VALUE_MAX) {
    reply(c, "ERROR bad size");
    return;
  }
  memcpy(c->set_name, name.p, name.len);
  c->set_name_len = name.len;
  c->set_len = (size_t)len;
  /* The block may hold anything, "\r\n" included: stop splitting lines and
   * hand the bytes to counter_raw_received until the block is in. */
  eddy_line_receiver_set_raw_mode(&c->lr);
}

static size_t counter_raw_received(eddy_line_receiver_t *lr, const char *data,
                                   size_t len) {
  counter_conn_t *c = (counter_conn_t *)lr;
  size_t need = c->set_len + 2; /* the value, then \r\n */
  if (len < need)
    return 0; /* kept, and offered again once more has come */
  eddy_line_receiver_set_line_mode(lr);
  if (memcmp(data + c->set_len, "\r\n", 2) != 0) {
    /* We no longer know where the next command starts. */
    reply(c, "ERROR bad data chunk");
    eddy_transport_lose_connection(lr->protocol.transport);
    return len;
  }
  entry_t *e = store_get(c->service, c->set_name, c->set_name_len);
  if (e == NULL || store_set(e, data, c->set_len) != 0)
    reply(c, "ERROR cannot store");
  else
    reply(c, "STORED");
  return need; /* what follows the block is parsed as lines again */
}

static void do_save(counter_conn_t *c);

static void counter_line_received(eddy_line_receiver_t *lr, const char *line,
                                  size_t len) {
  counter_conn_t *c = (counter_conn_t *)lr;
  word_t w[3];
  size_t n = split_words(line, len, w, 3);
  if (n >= 2 && !valid_name(w[1].p, w[1].len))
    reply(c, "ERROR bad name");
  else if (n == 2 && word_is(w[0], "incr"))
    do_incr(c, w[1]);
  else if (n == 2 && word_is(w[0], "get"))
    do_get(c, w[1]);
  else if (n == 3 && word_is(w[0], "set"))
    do_set(c, w[1], w[2]);
  else if (n == 1 && word_is(w[0], "save"))
    do_save(c);
  else
    reply(c, "ERROR unknown command");
}

/* Without this callback an over-long line closes the connection. With it,
 * the receiver drops that line, up to its \r\n, and goes on. */
static void counter_line_too_long(eddy_line_receiver_t *lr, size_t len) {
  reply((counter_conn_t *)lr, "ERROR line too long");
}

static void counter_idle(eddy_timer_t *t) {
  counter_conn_t *c = t->data;
  reply(c, "ERROR idle timeout");
  eddy_transport_lose_connection(c->lr.protocol.transport);
}

static void counter_connection_made(eddy_protocol_t *p) {
  counter_conn_t *c = (counter_conn_t *)p;
  counter_service_t *svc = c->service;
  c->next = svc->conns;
  if (svc->conns != NULL)
    svc->conns->prev = c;
  svc->conns = c;
  eddy_timer_start(&c->idle, svc->idle_ms, counter_idle);
}

static void counter_data_received(eddy_protocol_t *p, const char *data,
                                  size_t len) {
  counter_conn_t *c = (counter_conn_t *)p;
  /* Any byte shows the client is alive: the idle timer starts over. */
  eddy_timer_start(&c->idle, c->service->idle_ms, counter_idle);
  eddy_line_receiver_data_received(p, data, len);
}

/* A client that sends requests but does not read the answers: stop reading
 * its requests until the answers drain, so they cannot pile up. */
static void counter_pause_writing(eddy_protocol_t *p) {
  eddy_transport_pause_reading(p->transport);
}

static void counter_resume_writing(eddy_protocol_t *p) {
  eddy_transport_resume_reading(p->transport);
}

static void counter_connection_lost(eddy_protocol_t *p, int reason) {
  counter_conn_t *c = (counter_conn_t *)p;
  counter_service_t *svc = c->service;
  /* The timer lives in c, which destroy frees: disarm it first. */
  eddy_timer_stop(&c->idle);
  if (c->save != NULL)
    c->save->conn = NULL; /* the save goes on, with nobody to tell */
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    svc->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
}

static void counter_destroy(eddy_protocol_t *p) {
  counter_conn_t *c = (counter_conn_t *)p;
  eddy_line_receiver_cleanup(&c->lr);
  free(c);
}

static const eddy_protocol_ops_t counter_ops = {
    .connection_made = counter_connection_made,
    .data_received = counter_data_received,
    .connection_lost = counter_connection_lost,
    .pause_writing = counter_pause_writing,
    .resume_writing = counter_resume_writing,
    .destroy = counter_destroy,
};

static const eddy_line_ops_t counter_line_ops = {
    .line_received = counter_line_received,
    .raw_data_received = counter_raw_received,
    .line_too_long = counter_line_too_long,
};

static eddy_protocol_t *counter_build(eddy_factory_t *f,
                                      const eddy_addr_t *peer) {
  counter_service_t *svc = f->data;
  counter_conn_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL; /* refuses this connection */
  eddy_line_receiver_init(&c->lr, &counter_ops, &counter_line_ops,
                          COUNTER_LINE_MAX);
  c->service = svc;
  eddy_timer_init(svc->reactor, &c->idle);
  c->idle.data = c;
  return &c->lr.protocol;
}

/* ---- Saving on a pool thread -------------------------------------------- */

/* Runs on a pool thread, where blocking is fine. It reads only s->path and
 * s->snapshot, and calls no eddy function. Writing beside the file and then
 * renaming means a crash never leaves half a snapshot. */
static int write_snapshot(void *arg, void **result) {
  save_t *s = arg;
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof(tmp), "%s.tmp", s->path) >= (int)sizeof(tmp))
    return UV_ENAMETOOLONG;
  FILE *f = fopen(tmp, "wb");
  if (f == NULL)
    return uv_translate_sys_error(errno);
  int rc = 0;
  if (s->snapshot.len > 0 &&
      fwrite(s->snapshot.data, 1, s->snapshot.len, f) != s->snapshot.len)
    rc = UV_EIO;
  if (fclose(f) != 0 && rc == 0)
    rc = uv_translate_sys_error(errno);
  if (rc == 0 && rename(tmp, s->path) != 0)
    rc = uv_translate_sys_error(errno);
  if (rc != 0)
    remove(tmp);
  return rc;
}

/* Back on the loop once the work has finished. We never cancel it, so the
 * thread is done with s by the time this runs. */
static void save_done(eddy_result_t *res, void *arg) {
  save_t *s = arg;
  char line[128];
  if (s->conn != NULL) {
    if (res->err == 0)
      snprintf(line, sizeof(line), "SAVED %zu", s->names);
    else
      snprintf(line, sizeof(line), "ERROR save failed: %s",
               eddy_strerror(res->err));
    reply(s->conn, line);
    s->conn->save = NULL;
  }
  eddy_result_recover(res); /* answered, or nobody left to answer */
  s->service->saving = 0;
  eddy_buf_free(&s->snapshot);
  free(s);
}

static void do_save(counter_conn_t *c) {
  counter_service_t *svc = c->service;
  if (svc->snapshot_path == NULL) {
    reply(c, "ERROR saving is off");
    return;
  }
  if (svc->saving) {
    reply(c, "ERROR already saving");
    return;
  }
  save_t *s = calloc(1, sizeof(*s));
  if (s == NULL) {
    reply(c, "ERROR out of memory");
    return;
  }
  s->service = svc;
  s->conn = c;
  s->path = svc->snapshot_path;
  eddy_buf_init(&s->snapshot, COUNTER_SNAPSHOT_MAX);
  /* Copied here, on the loop thread: the pool thread must not read a store
   * that the loop keeps changing. */
  int rc = 0;
  for (entry_t *e = svc->entries; e != NULL && rc == 0; e = e->next) {
    rc = eddy_buf_printf(&s->snapshot, "set %.*s %zu\r\n", (int)e->name_len,
                         e->name, e->len);
    if (rc == 0)
      rc = eddy_buf_append(&s->snapshot, e->value, e->len);
    if (rc == 0)
      rc = eddy_buf_append(&s->snapshot, "\r\n", 2);
    s->names++;
  }
  eddy_deferred_t *d = NULL;
  if (rc == 0)
    d = eddy_defer_to_thread(svc->reactor, write_snapshot, s, NULL);
  if (d == NULL) {
    eddy_buf_free(&s->snapshot);
    free(s);
    reply(c, "ERROR out of memory");
    return;
  }
  svc->saving = 1;
  c->save = s;
  if (eddy_deferred_add_both(d, save_done, s) != 0) {
    /* Out of memory. The thread may be reading s, and nothing would tell
     * us when it stops: leave s, and `saving` set, so no save runs again. */
    c->save = NULL;
    reply(c, "ERROR out of memory");
  }
}

/* ---- The service -------------------------------------------------------- */

static void counter_service_init(counter_service_t *svc, eddy_reactor_t *r,
                                 const char *snapshot_path) {
  memset(svc, 0, sizeof(*svc));
  svc->factory.build_protocol = counter_build;
  svc->factory.data = svc;
  svc->reactor = r;
  svc->idle_ms = COUNTER_IDLE_MS;
  svc->snapshot_path = snapshot_path;
}

/* Once no connection is left. */
static void counter_service_cleanup(counter_service_t *svc) {
  while (svc->entries != NULL) {
    entry_t *e = svc->entries;
    svc->entries = e->next;
    free(e->value);
    free(e);
  }
  svc->nentries = 0;
}

/* The first SIGINT or SIGTERM: stop accepting, and close each connection
 * once its answers are written. Then nothing is left to wait for, and
 * eddy_reactor_run returns. */
static void counter_stop(void *arg) {
  counter_service_t *svc = arg;
  if (svc->listener != NULL) {
    eddy_listener_close(svc->listener, NULL, NULL);
    svc->listener = NULL;
  }
  /* connection_lost comes on a later iteration, so the list holds still
   * while we walk it. */
  for (counter_conn_t *c = svc->conns; c != NULL; c = c->next)
    eddy_transport_lose_connection(c->lr.protocol.transport);
}

static int counter_serve(counter_service_t *svc, const char *endpoint) {
  eddy_reactor_t *r = svc->reactor;
  int rc = eddy_listen(r, endpoint, &svc->factory, &svc->listener);
  if (rc != 0)
    return rc;
  printf("counting on %s (port %d)\n", endpoint,
         eddy_listener_port(svc->listener));
  fflush(stdout);
  rc = eddy_stop_on_signals(r, counter_stop, svc);
  if (rc != 0)
    counter_stop(svc); /* the run below only finishes the closing */
  int run_rc = eddy_reactor_run(r);
  return rc != 0 ? rc : run_rc;
}

int main(int argc, char **argv) {
  const char *usage =
      "usage: guide-counter [LISTEN_ENDPOINT [SNAPSHOT_FILE]]\n";
  if (argc > 1 &&
      (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    fputs(usage, stdout);
    return 0;
  }
  if (argc > 3 || (argc > 1 && argv[1][0] == '-')) {
    fputs(usage, stderr);
    return 2;
  }
  const char *endpoint = argc > 1 ? argv[1] : "tcp:7700";
  eddy_reactor_t *r;
  int rc = eddy_reactor_new(&r, 0);
  if (rc != 0) {
    fprintf(stderr, "guide-counter: %s\n", eddy_strerror(rc));
    return 1;
  }
  counter_service_t svc;
  counter_service_init(&svc, r, argc > 2 ? argv[2] : NULL);
  rc = counter_serve(&svc, endpoint);
  if (rc != 0)
    fprintf(stderr, "guide-counter: %s: %s\n", endpoint, eddy_strerror(rc));
  counter_service_cleanup(&svc);
  /* Refuses, and logs what, when anything was left open. */
  int left = eddy_reactor_free(r);
  return rc == 0 && left == 0 ? 0 : 1;
}
