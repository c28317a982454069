/* eddy/line.h — a protocol that speaks in lines (Twisted's LineReceiver).
 *
 * Embed eddy_line_receiver_t as the first member of your protocol, put
 * eddy_line_receiver_data_received in your protocol ops' data_received, and
 * call eddy_line_receiver_cleanup from your destroy. Lines are delivered
 * without their delimiter (default "\r\n").
 *
 * RAW MODE, for length-prefixed data such as the block after memcached's
 * `set`: eddy_line_receiver_set_raw_mode() from inside line_received sends
 * the bytes that follow to raw_data_received, which returns how many it
 * consumed. Bytes it did not consume are kept and offered again, with more,
 * on the next call (so it can wait for a whole block). Calling
 * eddy_line_receiver_set_line_mode() from it switches back; the unconsumed
 * rest is then parsed as lines.
 *
 * TOO LONG: when more than max_line bytes arrive without a delimiter,
 * line_too_long(lr, len_so_far) is called once for that line. Without that
 * callback the connection is lost. With it, the receiver discards the rest of
 * the line up to the next delimiter and goes on with the next line.
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

typedef struct eddy_line_receiver_s eddy_line_receiver_t;

typedef struct eddy_line_ops_s {
  void (*line_received)(eddy_line_receiver_t *lr, const char *line,
                        size_t len);
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
  int skipping; /* discarding an over-long line */
  int feeding;  /* inside eddy_line_receiver_feed */
};

/* max_line 0 means EDDY_LINE_MAX_DEFAULT. */
void eddy_line_receiver_init(eddy_line_receiver_t *lr,
                             const eddy_protocol_ops_t *ops,
                             const eddy_line_ops_t *line_ops, size_t max_line);
void eddy_line_receiver_cleanup(eddy_line_receiver_t *lr);
/* 1 to EDDY_LINE_DELIM_MAX bytes, else UV_EINVAL. */
int eddy_line_receiver_set_delimiter(eddy_line_receiver_t *lr,
                                     const char *delim, size_t len);
void eddy_line_receiver_set_max_line(eddy_line_receiver_t *lr, size_t max);
void eddy_line_receiver_set_raw_mode(eddy_line_receiver_t *lr);
void eddy_line_receiver_set_line_mode(eddy_line_receiver_t *lr);
int eddy_line_receiver_is_raw(const eddy_line_receiver_t *lr);

/* Feeds bytes; what data_received does. Usable without any transport (the
 * parser is pure), which is how the fuzzer and unit tests drive it. Returns
 * 0, or ELINETOOLONG when a line was too long and no line_too_long callback
 * is set, or UV_ENOMEM. */
int eddy_line_receiver_feed(eddy_line_receiver_t *lr, const char *data,
                            size_t len);
/* For eddy_protocol_ops_t.data_received. */
void eddy_line_receiver_data_received(eddy_protocol_t *p, const char *data,
                                      size_t len);
/* Writes line then the delimiter, as one write. */
int eddy_line_receiver_send_line(eddy_line_receiver_t *lr, const char *line,
                                 size_t len);

#ifdef __cplusplus
}
#endif
#endif
