/* eddy/ws_frame.h — the WebSocket frame codec (RFC 6455 section 5), pure:
 * no I/O, no allocation, no handshake.
 *
 * Decoder: a caller-owned state struct fed arbitrary pieces of the byte
 * stream. Each call consumes some bytes and reports one event: a frame
 * header, a span of payload (unmasked in place, the mask offset carried
 * across calls), "need more input", or a protocol error that maps to a close
 * code. How the stream is split never changes the sequence of headers, the
 * concatenated payload or the error.
 *
 * Ownership: the decoder keeps no pointer to the caller's data after a call
 * returns. A payload span points INTO the buffer passed to that call (which
 * is why it is not const: masked payload is unmasked in place) and is valid
 * as long as the caller keeps that buffer.
 *
 * Rules enforced (errors are sticky; after one, the connection must be
 * failed with eddy_ws_close_code(err)):
 *  - RSV1 only when permessage-deflate was negotiated (allow_rsv1), and
 *    then only on the first frame of a data message; RSV2/RSV3 never.
 *  - Opcodes other than 0, 1, 2, 8, 9, 10 are errors.
 *  - Control frames: FIN set, payload <= 125.
 *  - 64-bit lengths must have the most significant bit clear.
 *  - Lengths must use the minimal encoding. RFC 6455 5.2 requires senders
 *    to do so without telling receivers what to do; we reject non-minimal
 *    forms, since no conforming peer sends them and strictness here keeps
 *    one byte stream from having two parses.
 *  - A server-role decoder requires masked frames; a client-role decoder
 *    rejects them (RFC 6455 5.1).
 *  - A continuation frame needs a started message; a text/binary frame may
 *    not start while a fragmented message is open (control frames may be
 *    interleaved).
 *  - The sum of a data message's fragment lengths is limited by
 *    max_message (checked on each header, before any payload is read).
 */
#ifndef EDDY_WS_FRAME_H
#define EDDY_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  EDDY_WS_OP_CONT = 0x0,
  EDDY_WS_OP_TEXT = 0x1,
  EDDY_WS_OP_BINARY = 0x2,
  EDDY_WS_OP_CLOSE = 0x8,
  EDDY_WS_OP_PING = 0x9,
  EDDY_WS_OP_PONG = 0xA,
};

/* Who is decoding: a server reads client frames (masked), a client reads
 * server frames (unmasked). */
typedef enum { EDDY_WS_SERVER = 0, EDDY_WS_CLIENT = 1 } eddy_ws_role_t;

/* The largest frame header: 2 + 8 (length) + 4 (mask key). */
#define EDDY_WS_MAX_HEADER 14
/* The largest control frame payload. */
#define EDDY_WS_MAX_CONTROL 125
/* max_message when the caller passes 0. */
#define EDDY_WS_DEFAULT_MAX_MESSAGE ((uint64_t)16 * 1024 * 1024)

/* Decoder errors. Each maps to a close code with eddy_ws_close_code. */
typedef enum {
  EDDY_WS_OK = 0,
  EDDY_WS_ERR_RSV,             /* reserved bit not negotiated (1002) */
  EDDY_WS_ERR_OPCODE,          /* unknown opcode (1002) */
  EDDY_WS_ERR_CONTROL_FRAG,    /* control frame with FIN clear (1002) */
  EDDY_WS_ERR_CONTROL_LEN,     /* control payload > 125 (1002) */
  EDDY_WS_ERR_LENGTH_MSB,      /* 64-bit length with the top bit set (1002) */
  EDDY_WS_ERR_NONMINIMAL,      /* length not minimally encoded (1002) */
  EDDY_WS_ERR_MASK_REQUIRED,   /* server got an unmasked frame (1002) */
  EDDY_WS_ERR_MASK_FORBIDDEN,  /* client got a masked frame (1002) */
  EDDY_WS_ERR_UNEXPECTED_CONT, /* continuation with no message (1002) */
  EDDY_WS_ERR_EXPECTED_CONT,   /* new data frame inside a message (1002) */
  EDDY_WS_ERR_TOO_BIG,         /* message exceeds max_message (1009) */
  EDDY_WS_ERR_UTF8,            /* invalid UTF-8 in text or reason (1007) */
  EDDY_WS_ERR_CLOSE_PAYLOAD,   /* close payload of 1 byte / bad code (1002) */
} eddy_ws_error_t;

/* The close code to send when failing the connection for err (1002, 1007
 * or 1009); 1000 for EDDY_WS_OK. */
unsigned eddy_ws_close_code(eddy_ws_error_t err);
/* A short static description of err. */
const char *eddy_ws_strerror(eddy_ws_error_t err);

/* A decoded frame header. */
typedef struct {
  uint8_t fin;
  uint8_t rsv1;   /* compressed (permessage-deflate), first frame only */
  uint8_t opcode; /* as on the wire (EDDY_WS_OP_CONT for continuations) */
  uint8_t masked;
  uint8_t mask[4];
  /* For data frames: TEXT or BINARY, the type of the message this frame
   * belongs to (continuations inherit it). For control frames: opcode. */
  uint8_t message_opcode;
  uint64_t length; /* payload length of this frame */
} eddy_ws_header_t;

typedef enum {
  EDDY_WS_NEED_MORE = 0, /* all input consumed; feed more */
  EDDY_WS_HEADER,        /* out->header is a new frame's header */
  EDDY_WS_PAYLOAD,       /* out->data/out->len: unmasked payload span */
  EDDY_WS_ERROR,         /* out->error; the decoder is now stuck */
} eddy_ws_event_t;

typedef struct {
  eddy_ws_header_t header; /* the current frame (set from HEADER on) */
  uint8_t *data;           /* PAYLOAD: span inside the caller's buffer */
  size_t len;              /* PAYLOAD: its length, > 0 */
  /* HEADER or PAYLOAD: 1 when the current frame's payload is complete with
   * this event (a HEADER of a 0-length frame, or the last span). */
  int frame_end;
  eddy_ws_error_t error; /* ERROR */
} eddy_ws_result_t;

/* Decoder state: caller-owned, plain memory. Fields are private. */
typedef struct {
  uint8_t role;
  uint8_t allow_rsv1;
  uint8_t state;
  uint8_t hlen;       /* header bytes gathered */
  uint8_t hneed;      /* header bytes needed (2 until the 2nd is seen) */
  uint8_t in_message; /* a fragmented data message is open */
  uint8_t msg_opcode; /* its type */
  uint8_t hbuf[EDDY_WS_MAX_HEADER];
  eddy_ws_error_t error;
  uint64_t remaining; /* payload bytes left in the current frame */
  uint64_t mask_off;  /* payload bytes of the frame already unmasked */
  uint64_t msg_size;  /* sum of the open data message's lengths */
  uint64_t max_message;
  eddy_ws_header_t cur;
} eddy_ws_decoder_t;

/* Prepares d. allow_rsv1: permessage-deflate was negotiated.
 * max_message: limit on a data message's total payload (0: the default). */
void eddy_ws_decoder_init(eddy_ws_decoder_t *d, eddy_ws_role_t role,
                          int allow_rsv1, uint64_t max_message);

/* Decodes from data[0..len). Sets *consumed to the bytes used (possibly 0
 * only when returning ERROR, or NEED_MORE with len 0) and fills *out.
 * Call again with the rest of the input after every non-NEED_MORE event.
 * Masked payload is unmasked in place within data. */
eddy_ws_event_t eddy_ws_decode(eddy_ws_decoder_t *d, uint8_t *data, size_t len,
                               size_t *consumed, eddy_ws_result_t *out);

/* Encoder. Writes a frame header into out (room for EDDY_WS_MAX_HEADER
 * bytes) for a payload of length len; mask is NULL for an unmasked frame
 * (server to client) or the 4-byte key (client to server; the caller must
 * then mask the payload with eddy_ws_mask, offset 0). Returns the header
 * length (2..14), or UV_EINVAL for an invalid opcode, a fragmented or
 * over-long control frame, rsv1 on a control or continuation frame, or
 * len >= 2^63. Always uses the minimal length encoding. */
int eddy_ws_encode_header(uint8_t *out, unsigned opcode, int fin, int rsv1,
                          uint64_t len, const uint8_t *mask);

/* XORs n bytes of src with key into dst (dst may equal src). offset is the
 * position of src[0] within the frame's payload, so a payload can be masked
 * or unmasked piece by piece. */
void eddy_ws_mask(uint8_t *dst, const uint8_t *src, size_t n,
                  const uint8_t key[4], uint64_t offset);

/* 1 if code may appear in a close frame on the wire: 1000-1003, 1007-1014
 * and 3000-4999. 1004 (reserved), 1005, 1006 and 1015 (never sent: they
 * describe local conditions), < 1000 and the unassigned ranges are not. */
int eddy_ws_close_code_valid(unsigned code);

/* Builds a close payload (code + reason) into out (room for 125 bytes).
 * code 0 means "no code" (empty payload; reason must then be empty).
 * Returns the payload length, or UV_EINVAL for an invalid code, a reason
 * that is not valid UTF-8, or one longer than 123 bytes. */
int eddy_ws_close_build(uint8_t *out, unsigned code, const char *reason,
                        size_t reason_len);

/* Parses a close payload. An empty payload gives *code = 1005 (no status)
 * and an empty reason. The reason points into p. Returns EDDY_WS_OK,
 * EDDY_WS_ERR_CLOSE_PAYLOAD (1 byte, invalid code, > 125 bytes) or
 * EDDY_WS_ERR_UTF8 (reason not valid UTF-8). */
eddy_ws_error_t eddy_ws_close_parse(const uint8_t *p, size_t n, unsigned *code,
                                    const uint8_t **reason, size_t *reason_len);

#ifdef __cplusplus
}
#endif

#endif /* EDDY_WS_FRAME_H */
