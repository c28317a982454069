/* fuzz_line.c — libFuzzer driver for the line receiver.
 *
 * The input chooses a delimiter, a maximum line length and options, then a
 * series of feeds: pieces of various sizes, one byte at a time, empty feeds,
 * and mode switches made from outside the callbacks. Lines may be commands
 * that switch to raw mode for a block, change the delimiter or the maximum
 * (the switches a protocol makes from line_received).
 *
 * Checked all along: no line contains the delimiter or exceeds max_line,
 * line_too_long reports more than max_line, raw data is never offered empty,
 * and between feeds line mode keeps at most max_line plus the delimiter.
 * At the end the events are compared with a naive reference parser run over
 * the whole stream at once (how the bytes were split must not matter); the
 * comparison is skipped after a mode switch from outside the callbacks or a
 * failed feed, whose effect depends on the split by design. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/error.h"
#include "eddy/line.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAW_BLOCK(d) ((size_t)((unsigned char)(d) % 10) + 1)

/* ---- Event logs ---------------------------------------------------------- */

typedef struct {
  char *p;
  size_t len;
  size_t cap;
} vec_t;

static void vec_put(vec_t *v, const void *d, size_t n) {
  if (v->len + n > v->cap) {
    size_t cap = v->cap ? v->cap : 256;
    while (cap < v->len + n)
      cap *= 2;
    char *p = realloc(v->p, cap);
    if (p == NULL)
      abort();
    v->p = p;
    v->cap = cap;
  }
  if (n > 0)
    memcpy(v->p + v->len, d, n);
  v->len += n;
}

static void vec_event(vec_t *v, char tag, const char *d, size_t n) {
  uint32_t n32 = (uint32_t)n;
  vec_put(v, &tag, 1);
  vec_put(v, &n32, sizeof(n32));
  vec_put(v, d, n);
}

/* ---- The receiver under test --------------------------------------------- */

typedef struct {
  eddy_line_receiver_t lr;
  vec_t events;
  int commands;    /* lines are commands */
  size_t raw_want; /* block size; 0: take whatever comes (outside switch) */
} fz_t;

/* Shared by the receiver and the model: what a line asks for. */
typedef struct {
  int raw;
  size_t raw_want;
  size_t delim_len; /* 0: unchanged */
  const char *delim;
  size_t max; /* 0: unchanged */
} command_t;

static command_t command_of(const char *line, size_t len) {
  command_t c = {0, 0, 0, NULL, 0};
  if (len < 2)
    return c;
  if (line[0] == 'R') {
    c.raw = 1;
    c.raw_want = RAW_BLOCK(line[1]);
  } else if (line[0] == 'D' && len - 1 <= EDDY_LINE_DELIM_MAX) {
    c.delim = line + 1;
    c.delim_len = len - 1;
  } else if (line[0] == 'M') {
    c.max = 1 + (unsigned char)line[1] % 64;
  }
  return c;
}

static void on_line(eddy_line_receiver_t *lr, const char *line, size_t len) {
  fz_t *f = (fz_t *)lr;
  if (len > lr->max_line)
    abort();
  if (len >= lr->delim_len && memmem(line, len, lr->delim, lr->delim_len))
    abort();
  vec_event(&f->events, 'L', line, len);
  if (!f->commands)
    return;
  command_t c = command_of(line, len);
  if (c.raw) {
    f->raw_want = c.raw_want;
    eddy_line_receiver_set_raw_mode(lr);
  } else if (c.delim_len > 0) {
    if (eddy_line_receiver_set_delimiter(lr, c.delim, c.delim_len) != 0)
      abort();
  } else if (c.max > 0) {
    eddy_line_receiver_set_max_line(lr, c.max);
  }
}

static size_t on_raw(eddy_line_receiver_t *lr, const char *d, size_t len) {
  fz_t *f = (fz_t *)lr;
  if (len == 0 || !lr->raw)
    abort();
  if (f->raw_want == 0) {
    vec_event(&f->events, 'R', d, len);
    return len;
  }
  if (len < f->raw_want)
    return 0; /* wait for the whole block */
  size_t n = f->raw_want;
  vec_event(&f->events, 'R', d, n);
  f->raw_want = 0;
  eddy_line_receiver_set_line_mode(lr);
  return n;
}

static void on_too_long(eddy_line_receiver_t *lr, size_t len) {
  if (len <= lr->max_line)
    abort();
  vec_event(&((fz_t *)lr)->events, 'T', NULL, 0);
}

static const eddy_line_ops_t ops_lenient = {on_line, on_raw, on_too_long};
static const eddy_line_ops_t ops_strict = {on_line, on_raw, NULL};

/* ---- The model: obviously right, slow, over the whole stream ------------- */

typedef struct {
  char delim[EDDY_LINE_DELIM_MAX];
  size_t delim_len;
  size_t max;
  size_t tail; /* bytes after the last complete line (line mode) */
  int raw;
} model_t;

static void model_run(model_t *m, const char *s, size_t len, int commands,
                      vec_t *out) {
  size_t pos = 0;
  size_t raw_want = 0;
  m->raw = 0;
  for (;;) {
    if (m->raw) {
      if (len - pos < raw_want)
        break;
      vec_event(out, 'R', s + pos, raw_want);
      pos += raw_want;
      m->raw = 0;
      continue;
    }
    size_t i = pos;
    int found = 0;
    for (; i + m->delim_len <= len; i++) {
      if (memcmp(s + i, m->delim, m->delim_len) == 0) {
        found = 1;
        break;
      }
    }
    if (!found)
      break;
    const char *line = s + pos;
    size_t n = i - pos;
    pos = i + m->delim_len;
    if (n > m->max) {
      vec_event(out, 'T', NULL, 0);
      continue;
    }
    vec_event(out, 'L', line, n);
    if (!commands)
      continue;
    command_t c = command_of(line, n);
    if (c.raw) {
      m->raw = 1;
      raw_want = c.raw_want;
    } else if (c.delim_len > 0) {
      memcpy(m->delim, c.delim, c.delim_len);
      m->delim_len = c.delim_len;
    } else if (c.max > 0) {
      m->max = c.max;
    }
  }
  m->tail = len - pos;
}

/* ---- Driver -------------------------------------------------------------- */

static const char *const delims[] = {"\r\n", "\n",       "\0",      "ab",
                                     "aab",  "\r\n\r\n", "12345678"};

typedef struct {
  const uint8_t *p;
  size_t n;
} input_t;

static int take(input_t *in, size_t n, const uint8_t **out) {
  if (in->n < n)
    return 0;
  *out = in->p;
  in->p += n;
  in->n -= n;
  return 1;
}

/* Feeds an exact-size heap copy, so any over-read is caught. */
static int feed_copy(fz_t *f, const uint8_t *d, size_t n) {
  char *copy = malloc(n ? n : 1);
  if (copy == NULL)
    abort();
  memcpy(copy, d, n);
  int rc = eddy_line_receiver_feed(&f->lr, copy, n);
  free(copy);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  input_t in = {data, size};
  const uint8_t *h;
  if (!take(&in, 3, &h))
    return 0;

  char delim[EDDY_LINE_DELIM_MAX];
  size_t delim_len;
  unsigned pick = h[0] % 8;
  if (pick < 7) {
    delim_len = pick == 2 ? 1 : strlen(delims[pick]);
    memcpy(delim, delims[pick], delim_len);
  } else {
    const uint8_t *d;
    delim_len = 1 + (h[0] >> 3) % EDDY_LINE_DELIM_MAX;
    if (!take(&in, delim_len, &d))
      return 0;
    memcpy(delim, d, delim_len);
  }
  size_t max = h[1] >= 192 ? 1 + (size_t)(h[1] % 64) * 64 : 1 + h[1] % 64;
  int lenient = h[2] & 1;

  fz_t f;
  memset(&f, 0, sizeof(f));
  f.commands = (h[2] >> 1) & 1;
  eddy_line_receiver_init(&f.lr, NULL, lenient ? &ops_lenient : &ops_strict,
                          max);
  if (eddy_line_receiver_set_delimiter(&f.lr, delim, delim_len) != 0)
    abort();

  vec_t stream = {NULL, 0, 0};
  int comparable = 1;
  while (in.n > 0) {
    const uint8_t *c, *d;
    take(&in, 1, &c);
    unsigned op = c[0] >> 6, n = c[0] & 63;
    int rc = 0;
    if (op == 3) {
      switch (n % 4) {
      case 0:
        f.raw_want = 0;
        eddy_line_receiver_set_raw_mode(&f.lr);
        comparable = 0;
        break;
      case 1:
        eddy_line_receiver_set_line_mode(&f.lr);
        comparable = 0;
        break;
      default:
        break;
      }
      rc = n % 4 == 3 ? feed_copy(&f, c, 0)
                      : eddy_line_receiver_feed(&f.lr, NULL, 0);
    } else {
      size_t len = op == 2 ? (size_t)n * 16 : n;
      if (len > in.n)
        len = in.n;
      take(&in, len, &d);
      vec_put(&stream, d, len);
      if (op == 1) {
        for (size_t i = 0; i < len && rc == 0; i++)
          rc = feed_copy(&f, d + i, 1);
        /* After a failed byte the rest of the piece is not fed. */
        if (rc != 0)
          comparable = 0;
      } else {
        rc = feed_copy(&f, d, len);
      }
    }
    if (rc == EDDY_ELINETOOLONG) {
      if (lenient || f.lr.buf.len != 0)
        abort();
      comparable = 0;
    } else if (rc != 0) {
      abort();
    }
    if (!f.lr.raw && f.lr.buf.len > f.lr.max_line + f.lr.delim_len)
      abort(); /* line mode must stay bounded */
  }

  if (comparable) {
    model_t m;
    memcpy(m.delim, delim, delim_len);
    m.delim_len = delim_len;
    m.max = max;
    vec_t want = {NULL, 0, 0};
    model_run(&m, stream.p, stream.len, f.commands, &want);
    /* An unfinished line past max_line + delimiter has been given up on;
     * between the two, whether it was yet depends on the split. */
    int tail_long = !m.raw && m.tail > m.max;
    int tail_must = !m.raw && m.tail >= m.max + m.delim_len;
    if (!lenient) {
      /* No callback: a line given up on fails the feed (not comparable). */
      if (tail_must)
        abort();
      tail_long = 0;
    }
    if (tail_must)
      vec_event(&want, 'T', NULL, 0);
    int same = f.events.len == want.len &&
               (want.len == 0 || memcmp(f.events.p, want.p, want.len) == 0);
    if (!same && tail_long && !tail_must) {
      vec_event(&want, 'T', NULL, 0);
      same =
          f.events.len == want.len && memcmp(f.events.p, want.p, want.len) == 0;
    }
    if (!same)
      abort();
    free(want.p);
  }
  free(stream.p);
  free(f.events.p);
  eddy_line_receiver_cleanup(&f.lr);
  return 0;
}
