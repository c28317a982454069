/* line.c — the line receiver: splits a byte stream into lines, or hands it
 * over raw.
 *
 * Two places hold unread bytes: the caller's input of the current feed
 * (lr->ext, read in place whenever possible) and lr->buf (what a previous
 * feed left: a partial line, a possible partial delimiter, raw bytes not
 * consumed). A line that lies wholly in the input is delivered from it
 * without a copy; only a line that started in an earlier feed is completed
 * in buf, and then only up to its delimiter, so buf never exceeds max_line
 * plus the delimiter in line mode.
 *
 * Nothing is searched twice: `scanned` counts the bytes of buf known not to
 * start a delimiter, and a delimiter split between buf and the input is
 * found by looking at fewer than 2 * EDDY_LINE_DELIM_MAX bytes. Feeding a
 * long line one byte at a time is therefore linear.
 *
 * Every callback may switch modes, change the delimiter or the maximum,
 * close the transport, or feed again; after each callback the loop reads its
 * state afresh from lr. */
#include "eddy/line.h"

#include <assert.h>
#include <string.h>

#include "eddy/error.h"
#include "eddy/transport.h"

enum { GO_ON = 0, STOP = 1 };

void eddy_line_receiver_init(eddy_line_receiver_t *lr,
                             const eddy_protocol_ops_t *ops,
                             const eddy_line_ops_t *line_ops, size_t max_line) {
  eddy_protocol_init(&lr->protocol, ops);
  lr->line_ops = line_ops;
  /* The raw-mode bound; line mode stays far below it on its own. */
  eddy_buf_init(&lr->buf, EDDY_LINE_BUFFER_MAX + EDDY_LINE_DELIM_MAX);
  memcpy(lr->delim, "\r\n", 2);
  lr->delim_len = 2;
  lr->scanned = 0;
  lr->raw = 0;
  lr->skipping = 0;
  lr->feeding = 0;
  lr->ext = NULL;
  lr->ext_len = 0;
  eddy_line_receiver_set_max_line(lr, max_line);
}

void eddy_line_receiver_cleanup(eddy_line_receiver_t *lr) {
  eddy_buf_free(&lr->buf);
  lr->scanned = 0;
}

int eddy_line_receiver_set_delimiter(eddy_line_receiver_t *lr,
                                     const char *delim, size_t len) {
  if (delim == NULL || len == 0 || len > EDDY_LINE_DELIM_MAX)
    return UV_EINVAL;
  memcpy(lr->delim, delim, len);
  lr->delim_len = len;
  lr->scanned = 0; /* what was searched was searched for another delimiter */
  return 0;
}

void eddy_line_receiver_set_max_line(eddy_line_receiver_t *lr, size_t max) {
  if (max == 0)
    max = EDDY_LINE_MAX_DEFAULT;
  if (max > EDDY_LINE_BUFFER_MAX)
    max = EDDY_LINE_BUFFER_MAX;
  lr->max_line = max;
}

void eddy_line_receiver_set_raw_mode(eddy_line_receiver_t *lr) {
  lr->raw = 1;
  lr->skipping = 0;
  lr->scanned = 0;
}

void eddy_line_receiver_set_line_mode(eddy_line_receiver_t *lr) {
  lr->raw = 0;
  lr->scanned = 0;
}

int eddy_line_receiver_is_raw(const eddy_line_receiver_t *lr) {
  return lr->raw;
}

static int is_closing(const eddy_line_receiver_t *lr) {
  const eddy_transport_t *t = lr->protocol.transport;
  return t != NULL && eddy_transport_is_closing(t);
}

static size_t min_size(size_t a, size_t b) {
  return a < b ? a : b;
}

static void take_ext(eddy_line_receiver_t *lr, size_t n) {
  lr->ext += n;
  lr->ext_len -= n;
}

/* Keeps the rest of the input in buf for a later feed. */
static int save_ext(eddy_line_receiver_t *lr) {
  int rc = eddy_buf_append(&lr->buf, lr->ext, lr->ext_len);
  lr->ext_len = 0;
  return rc;
}

static size_t scanned_after(size_t len, size_t delim_len) {
  return len >= delim_len ? len - delim_len + 1 : 0;
}

/* The input is advanced past the line before the callback, so a nested feed
 * that moves the unread input into buf never moves the line's bytes. */
static void deliver_line(eddy_line_receiver_t *lr, const char *line, size_t len,
                         size_t buf_consume) {
  if (lr->line_ops != NULL && lr->line_ops->line_received != NULL)
    lr->line_ops->line_received(lr, line, len);
  eddy_buf_consume(&lr->buf, buf_consume);
  lr->scanned = 0;
}

/* The caller has already dropped the line's bytes and set `skipping`. */
static int too_long(eddy_line_receiver_t *lr, size_t len) {
  if (lr->line_ops == NULL || lr->line_ops->line_too_long == NULL) {
    eddy_buf_clear(&lr->buf);
    lr->ext_len = 0;
    lr->scanned = 0;
    lr->skipping = 0;
    return EDDY_ELINETOOLONG;
  }
  lr->line_ops->line_too_long(lr, len);
  return GO_ON;
}

/* Looks for a delimiter starting in buf[from, len) and ending in the
 * input, using at most delim_len - 1 input bytes. Returns its offset in buf,
 * or SIZE_MAX; then *ruled_out tells up to where (exclusive) no delimiter
 * can start: len when the input had enough bytes to decide. */
static size_t find_straddle(const eddy_line_receiver_t *lr, size_t from,
                            size_t *ruled_out) {
  size_t dlen = lr->delim_len;
  size_t len = lr->buf.len;
  /* Callers searched buf itself first: no delimiter lies wholly in it. */
  assert(from <= len && len - from < dlen);
  size_t tail = len - from;
  size_t more = min_size(lr->ext_len, dlen - 1);
  *ruled_out = from;
  if (tail == 0)
    return SIZE_MAX;
  char tmp[2 * EDDY_LINE_DELIM_MAX];
  memcpy(tmp, lr->buf.data + from, tail);
  memcpy(tmp + tail, lr->ext, more);
  const char *p = memmem(tmp, tail + more, lr->delim, dlen);
  if (p != NULL && (size_t)(p - tmp) < tail)
    return from + (size_t)(p - tmp);
  /* Starts whose whole delimiter fits in tmp are ruled out. */
  if (tail + more >= dlen)
    *ruled_out = min_size(len, from + tail + more - dlen + 1);
  return SIZE_MAX;
}

/* Line mode, nothing buffered: lines are read in place. */
static int line_from_input(eddy_line_receiver_t *lr) {
  size_t dlen = lr->delim_len;
  size_t limit = lr->max_line + dlen;
  const char *line = lr->ext;
  const char *p = memmem(line, min_size(lr->ext_len, limit), lr->delim, dlen);
  if (p != NULL) {
    size_t len = (size_t)(p - line);
    take_ext(lr, len + dlen);
    deliver_line(lr, line, len, 0);
    return GO_ON;
  }
  if (lr->ext_len >= limit) {
    /* No delimiter starts at or before max_line: those bytes are all line. */
    take_ext(lr, lr->max_line + 1);
    lr->skipping = 1;
    return too_long(lr, lr->max_line + 1);
  }
  int rc = save_ext(lr);
  lr->scanned = scanned_after(lr->buf.len, dlen);
  return rc != 0 ? rc : STOP;
}

/* Line mode, a line begun earlier: finish it in buf. */
static int line_from_buf(eddy_line_receiver_t *lr) {
  size_t dlen = lr->delim_len;
  size_t len = lr->buf.len;
  const char *data = lr->buf.data;
  if (lr->scanned < len) {
    const char *p =
        memmem(data + lr->scanned, len - lr->scanned, lr->delim, dlen);
    if (p != NULL) {
      size_t i = (size_t)(p - data);
      if (i > lr->max_line) {
        eddy_buf_consume(&lr->buf, i + dlen);
        lr->scanned = 0;
        return too_long(lr, i);
      }
      deliver_line(lr, data, i, i + dlen);
      return GO_ON;
    }
  }
  if (scanned_after(len, dlen) > lr->scanned)
    lr->scanned = scanned_after(len, dlen);
  if (lr->scanned > lr->max_line) {
    size_t n = lr->scanned;
    eddy_buf_consume(&lr->buf, n);
    lr->scanned = 0;
    lr->skipping = 1;
    return too_long(lr, n);
  }
  if (lr->ext_len == 0)
    return STOP;

  size_t ruled;
  size_t start = find_straddle(lr, lr->scanned, &ruled);
  if (start != SIZE_MAX) {
    take_ext(lr, start + dlen - len);
    if (start > lr->max_line) {
      eddy_buf_clear(&lr->buf);
      lr->scanned = 0;
      return too_long(lr, start);
    }
    deliver_line(lr, data, start, len);
    return GO_ON;
  }
  if (ruled > lr->max_line) {
    /* Every start up to max_line is ruled out: bytes [0, ruled) are line. */
    eddy_buf_consume(&lr->buf, ruled);
    lr->scanned = 0;
    lr->skipping = 1;
    return too_long(lr, ruled);
  }
  if (ruled < len) {
    /* Too few input bytes to tell whether buf ends in a delimiter. The
     * line so far is at most max_line + delim_len - 1 bytes. */
    int rc = save_ext(lr);
    lr->scanned = ruled;
    return rc != 0 ? rc : STOP;
  }

  /* Here len <= max_line, so room >= delim_len. */
  size_t room = lr->max_line + dlen - len;
  const char *p = memmem(lr->ext, min_size(lr->ext_len, room), lr->delim, dlen);
  if (p != NULL) {
    size_t j = (size_t)(p - lr->ext);
    int rc = eddy_buf_append(&lr->buf, lr->ext, j);
    if (rc != 0)
      return rc;
    take_ext(lr, j + dlen);
    deliver_line(lr, lr->buf.data, len + j, len + j);
    return GO_ON;
  }
  if (lr->ext_len >= room) {
    /* No start up to max_line: the line has at least max_line + 1 bytes. */
    size_t k = room - dlen + 1;
    take_ext(lr, k);
    eddy_buf_clear(&lr->buf);
    lr->scanned = 0;
    lr->skipping = 1;
    return too_long(lr, len + k);
  }
  int rc = save_ext(lr);
  lr->scanned = scanned_after(lr->buf.len, dlen);
  return rc != 0 ? rc : STOP;
}

/* Discarding an over-long line up to its delimiter. buf holds at most the
 * last delim_len - 1 bytes (which may begin the delimiter), except after a
 * mode or delimiter change. */
static int skip(eddy_line_receiver_t *lr) {
  size_t dlen = lr->delim_len;
  if (lr->buf.len == 0) {
    const char *p = memmem(lr->ext, lr->ext_len, lr->delim, dlen);
    if (p != NULL) {
      take_ext(lr, (size_t)(p - lr->ext) + dlen);
      lr->skipping = 0;
      return GO_ON;
    }
    take_ext(lr, lr->ext_len - min_size(lr->ext_len, dlen - 1));
    lr->scanned = 0;
    int rc = save_ext(lr);
    return rc != 0 ? rc : STOP;
  }
  size_t len = lr->buf.len;
  if (lr->scanned < len) {
    const char *p =
        memmem(lr->buf.data + lr->scanned, len - lr->scanned, lr->delim, dlen);
    if (p != NULL) {
      eddy_buf_consume(&lr->buf, (size_t)(p - lr->buf.data) + dlen);
      lr->scanned = 0;
      lr->skipping = 0;
      return GO_ON;
    }
  }
  eddy_buf_consume(&lr->buf, len - min_size(len, dlen - 1));
  lr->scanned = 0;
  if (lr->ext_len == 0)
    return STOP;
  size_t ruled;
  size_t start = find_straddle(lr, 0, &ruled);
  if (start != SIZE_MAX) {
    take_ext(lr, start + dlen - lr->buf.len);
    eddy_buf_clear(&lr->buf);
    lr->skipping = 0;
    return GO_ON;
  }
  if (ruled == lr->buf.len) {
    /* No delimiter starts in buf: what is left to search is the input. */
    eddy_buf_clear(&lr->buf);
    return GO_ON;
  }
  /* Keep only what may still begin the delimiter: at most delim_len - 1. */
  eddy_buf_consume(&lr->buf, ruled);
  lr->scanned = 0;
  int rc = save_ext(lr);
  return rc != 0 ? rc : STOP;
}

static size_t offer_raw(eddy_line_receiver_t *lr, const char *data,
                        size_t len) {
  if (lr->line_ops == NULL || lr->line_ops->raw_data_received == NULL)
    return len; /* nobody wants it */
  size_t n = lr->line_ops->raw_data_received(lr, data, len);
  return n > len ? len : n;
}

static int raw(eddy_line_receiver_t *lr) {
  if (lr->buf.len == 0) {
    size_t n = offer_raw(lr, lr->ext, lr->ext_len);
    if (lr->ext == NULL) /* a nested feed moved the input into buf */
      eddy_buf_consume(&lr->buf, n);
    else
      take_ext(lr, n);
    if (n == 0 && lr->raw) {
      int rc = save_ext(lr);
      return rc != 0 ? rc : STOP;
    }
    return GO_ON;
  }
  /* The consumer sees one contiguous run: what it left, then the input. */
  int rc = save_ext(lr);
  if (rc != 0)
    return rc;
  size_t n = offer_raw(lr, lr->buf.data, lr->buf.len);
  eddy_buf_consume(&lr->buf, n);
  return n == 0 && lr->raw ? STOP : GO_ON;
}

static int process(eddy_line_receiver_t *lr) {
  for (;;) {
    if (is_closing(lr))
      return 0;
    if (lr->buf.len == 0 && lr->ext_len == 0)
      return 0;
    int rc;
    if (lr->raw)
      rc = raw(lr);
    else if (lr->skipping)
      rc = skip(lr);
    else if (lr->buf.len == 0)
      rc = line_from_input(lr);
    else
      rc = line_from_buf(lr);
    if (rc == STOP)
      return 0;
    if (rc != GO_ON)
      return rc;
  }
}

int eddy_line_receiver_feed(eddy_line_receiver_t *lr, const char *data,
                            size_t len) {
  if (len > 0 && data == NULL)
    return UV_EINVAL;
  if (lr->feeding) {
    /* Called from one of our callbacks: queue behind the unread input. */
    int rc = eddy_buf_append(&lr->buf, lr->ext, lr->ext_len);
    lr->ext = NULL;
    lr->ext_len = 0;
    if (rc == 0)
      rc = eddy_buf_append(&lr->buf, data, len);
    return rc;
  }
  lr->feeding = 1;
  lr->ext = data;
  lr->ext_len = len;
  int rc = process(lr);
  lr->feeding = 0;
  lr->ext = NULL;
  lr->ext_len = 0;
  return rc;
}

void eddy_line_receiver_data_received(eddy_protocol_t *p, const char *data,
                                      size_t len) {
  eddy_line_receiver_t *lr = (eddy_line_receiver_t *)p;
  int rc = eddy_line_receiver_feed(lr, data, len);
  if (rc == 0 || p->transport == NULL)
    return;
  if (rc == EDDY_ELINETOOLONG)
    eddy_transport_lose_connection(p->transport);
  else
    eddy_transport_abort_connection(p->transport);
}

int eddy_line_receiver_send_line(eddy_line_receiver_t *lr, const char *line,
                                 size_t len) {
  if (len > 0 && line == NULL)
    return UV_EINVAL;
  if (lr->protocol.transport == NULL)
    return UV_ENOTCONN;
  uv_buf_t bufs[2];
  bufs[0].base = (char *)line;
  bufs[0].len = len;
  bufs[1].base = lr->delim;
  bufs[1].len = lr->delim_len;
  return eddy_transport_writev(lr->protocol.transport, bufs, 2);
}
