/* eddy/line.h — a protocol that speaks in lines (Twisted's LineReceiver).
 *
 * Embed eddy_line_receiver_t as the first member of your protocol, put
 * eddy_line_receiver_data_received in your protocol ops' data_received, and
 * call eddy_line_receiver_cleanup from your destroy. Lines are delivered
 * without their delimiter (default "\r\n"). The `line` pointer (not
 * NUL-terminated) is valid only until line_received returns; it may point
 * into the bytes being fed or into the receiver's buffer, and is never
 * copied when it does not have to be.
 *
 * RAW MODE, for length-prefixed data such as the block after memcached's
 * `set`: eddy_line_receiver_set_raw_mode() from inside line_received sends
 * the bytes that follow to raw_data_received, which returns how many it
 * consumed. Bytes it did not consume are kept and offered again, with more,
 * on the next call (so it can wait for a whole block); while it consumes
 * something, what is left is offered again at once. Calling
 * eddy_line_receiver_set_line_mode() from it switches back; the unconsumed
 * rest is then parsed as lines. A mode switched outside the receiver's
 * callbacks applies to the bytes already buffered on the next feed;
 * eddy_line_receiver_feed(lr, NULL, 0) processes them at once. Raw mode
 * keeps at most EDDY_LINE_BUFFER_MAX unconsumed bytes: a protocol waiting for
 * a block must bound the block size it accepts.
 *
 * TOO LONG: when more than max_line bytes arrive without a delimiter,
 * line_too_long(lr, len) is called once for that line, with len > max_line:
 * how much of it had arrived when the receiver gave up on it (how the bytes
 * were split changes it; the whole length when the delimiter was there).
 * Without that callback the connection is lost. With it, the receiver
 * discards the rest of the line up to the next delimiter and goes on with
 * the next line. In line mode the receiver never keeps more than max_line
 * plus the delimiter's length between feeds, however the bytes are split.
 *
 * Delivery stops as soon as the transport starts closing, so a protocol may
 * close its connection from line_received without seeing more lines.
 */
#ifndef EDDY_LINE_H
#define EDDY_LINE_H

#include <stddef.h>

#include "buffer.h"
#include "protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EDDY_LINE_MAX_DEFAULT 16384
#define EDDY_LINE_DELIM_MAX 8
/* The largest max_line, and the most bytes raw mode keeps unconsumed. */
#define EDDY_LINE_BUFFER_MAX ((size_t)256u * 1024u * 1024u)

typedef struct eddy_line_receiver_s eddy_line_receiver_t;

typedef struct eddy_line_ops_s {
  void (*line_received)(eddy_line_receiver_t *lr, const char *line, size_t len);
  /* Raw mode only. Returns the number of bytes consumed (<= len). */
  size_t (*raw_data_received)(eddy_line_receiver_t *lr, const char *data,
                              size_t len);
  void (*line_too_long)(eddy_line_receiver_t *lr, size_t len);
} eddy_line_ops_t;

struct eddy_line_receiver_s {
  eddy_protocol_t protocol; /* a line receiver is a protocol */
  const eddy_line_ops_t *line_ops;
  /* private */
  eddy_buf_t buf;
  char delim[EDDY_LINE_DELIM_MAX];
  size_t delim_len;
  size_t max_line;
  size_t scanned; /* bytes of buf already searched for the delimiter */
  int raw;
  int skipping;    /* discarding an over-long line */
  int feeding;     /* inside eddy_line_receiver_feed */
  const char *ext; /* the caller's bytes not yet read by this feed */
  size_t ext_len;
};

/* max_line 0 means EDDY_LINE_MAX_DEFAULT; larger than EDDY_LINE_BUFFER_MAX
 * means EDDY_LINE_BUFFER_MAX. */
void eddy_line_receiver_init(eddy_line_receiver_t *lr,
                             const eddy_protocol_ops_t *ops,
                             const eddy_line_ops_t *line_ops, size_t max_line);
void eddy_line_receiver_cleanup(eddy_line_receiver_t *lr);
/* 1 to EDDY_LINE_DELIM_MAX bytes, else UV_EINVAL. Applies to the bytes not
 * yet delivered, including those already buffered. */
int eddy_line_receiver_set_delimiter(eddy_line_receiver_t *lr,
                                     const char *delim, size_t len);
void eddy_line_receiver_set_max_line(eddy_line_receiver_t *lr, size_t max);
void eddy_line_receiver_set_raw_mode(eddy_line_receiver_t *lr);
void eddy_line_receiver_set_line_mode(eddy_line_receiver_t *lr);
int eddy_line_receiver_is_raw(const eddy_line_receiver_t *lr);

/* Feeds bytes; what data_received does. Usable without any transport (the
 * parser is pure), which is how the fuzzer and unit tests drive it. Nothing
 * is delivered once the protocol's transport is closing (the bytes are
 * dropped). Returns 0; or EDDY_ELINETOOLONG when a line was too long and no
 * line_too_long callback is set (the receiver then drops what it buffered and
 * the rest of data, and starts afresh on the next feed); or UV_ENOBUFS (raw
 * mode over EDDY_LINE_BUFFER_MAX) or UV_ENOMEM, with data dropped.
 * Feeding again from inside a callback queues the bytes behind those not yet
 * delivered (a line pointer into the buffer may then move). */
int eddy_line_receiver_feed(eddy_line_receiver_t *lr, const char *data,
                            size_t len);
/* For eddy_protocol_ops_t.data_received: feeds, then loses the connection
 * on EDDY_ELINETOOLONG and aborts it on a memory error. */
void eddy_line_receiver_data_received(eddy_protocol_t *p, const char *data,
                                      size_t len);
/* Writes line then the delimiter, as one write (eddy_transport_writev).
 * Returns its result, or UV_ENOTCONN without a transport. */
int eddy_line_receiver_send_line(eddy_line_receiver_t *lr, const char *line,
                                 size_t len);

#ifdef __cplusplus
}
#endif
#endif
