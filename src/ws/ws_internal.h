/* ws_internal.h — what the WebSocket files share: the connection struct,
 * permessage-deflate streams, and the client handshake hooks. */
#ifndef EDDY_WS_INTERNAL_H
#define EDDY_WS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "core/reactor_internal.h"
#include "eddy/buffer.h"
#include "eddy/utf8.h"
#include "eddy/websocket.h"

/* ---- permessage-deflate streams (deflate.c) ------------------------------ */

/* The trailer RFC 7692 strips from every compressed message. */
#define EDDY__WS_TRAILER_LEN 4

/* A compressor. With no_takeover the context is reset after every message,
 * so the stream may come from a process-wide cache instead of this struct
 * (zlib's deflate state is ~256 KiB: thousands of idle connections must not
 * each hold one). */
typedef struct {
  z_stream z;
  int ready; /* z is initialised */
  unsigned window_bits;
  int level;
  int no_takeover;
} eddy__ws_zout_t;

typedef struct {
  z_stream z;
  int ready;
  int no_takeover; /* the peer resets per message: so do we */
  uint64_t fed;    /* compressed bytes of the current message */
  int ended;       /* the message's data ended with a final block */
} eddy__ws_zin_t;

void eddy__ws_zout_init(eddy__ws_zout_t *d, unsigned window_bits, int level,
                        int no_takeover);
/* Compresses one whole message into out (cleared first) without the
 * trailer. 0, UV_ENOMEM, UV_ENOBUFS (out's max) or UV_EIO (zlib). */
int eddy__ws_zout_message(eddy__ws_zout_t *d, const void *in, size_t n,
                          eddy_buf_t *out);
void eddy__ws_zout_free(eddy__ws_zout_t *d);
/* One message with a fresh context (for shared broadcast frames). */
int eddy__ws_deflate_once(unsigned window_bits, int level, const void *in,
                          size_t n, eddy_buf_t *out);

void eddy__ws_zin_init(eddy__ws_zin_t *z, int no_takeover);
/* Inflates n bytes of a message's compressed payload, appending to out.
 * fin: this ends the message (the trailer is added). *produced gets how
 * many bytes were appended. 0, UV_EMSGSIZE (out would pass limit bytes),
 * UV_EILSEQ (corrupt data), UV_ENOMEM. */
int eddy__ws_zin_feed(eddy__ws_zin_t *z, const void *in, size_t n, int fin,
                      eddy_buf_t *out, uint64_t limit, size_t *produced);
void eddy__ws_zin_free(eddy__ws_zin_t *z);

/* The permessage-deflate streams of one connection: allocated only when it
 * negotiates (or, a client, offers) the extension, so the many connections
 * without it do not carry two z_streams. */
typedef struct {
  eddy__ws_zout_t zout;
  eddy__ws_zin_t zin;
  eddy_buf_t zbuf; /* compressed output of one send */
} eddy__ws_pmd_t;

/* What only a client needs to send: masking keys and a buffer to mask
 * frames in. A server (a hub's thousands of connections) goes without. */
typedef struct {
  uint8_t rnd[64];
  size_t rnd_pos;
  eddy_buf_t out; /* masked frames are built here */
} eddy__ws_masking_t;

/* ---- The connection (connection.c) ----------------------------------------
 */

typedef struct eddy__ws_client_s eddy__ws_client_t;

enum {
  EDDY__WS_NEW = 0,   /* not connected to a transport yet */
  EDDY__WS_HANDSHAKE, /* client: waiting for the 101 */
  EDDY__WS_OPENING,   /* connected, on_open due */
  EDDY__WS_OPEN,
  EDDY__WS_CLOSING, /* a close frame was sent or received */
  EDDY__WS_GONE,    /* connection_lost ran */
};

struct eddy_ws_s {
  eddy_protocol_t proto; /* first: the transport calls us through it */
  eddy_reactor_t *reactor;
  eddy_ws_role_t role;
  int state;
  eddy_ws_handlers_t h;
  void *arg;
  void *data;

  /* settings, defaults applied */
  uint64_t max_message;
  size_t max_send_queue;
  uint64_t ping_interval;
  uint64_t pong_timeout;
  uint64_t close_timeout;
  size_t fragment_size;
  size_t deflate_threshold;
  char *subprotocol;

  /* permessage-deflate */
  int pmd;
  int deflate_level; /* cfg.deflate_level, for the negotiated stream */
  eddy_ws_deflate_params_t pmdp;
  eddy__ws_pmd_t *z; /* non-NULL when pmd (a client: when offered) */

  /* receiving */
  eddy_ws_decoder_t dec;
  eddy_buf_t backlog; /* bytes that arrived while we could not process */
  eddy_buf_t msg;     /* a message that spans frames or reads */
  int processing;
  int corked;       /* eddy_ws_cork: sends gather until eddy_ws_uncork */
  int stop_reading; /* failed, or the peer's close arrived */
  unsigned msg_opcode;
  int msg_compressed;
  int msg_inplace; /* the current frame is whole in the input: no copy */
  eddy_utf8_t utf8;
  /* A control frame's payload (EDDY_WS_MAX_CONTROL bytes), allocated for
   * the frame and freed after it; after the peer's close frame it keeps
   * the close reason for on_close. */
  uint8_t *ctl;
  size_t ctl_len;

  /* sending */
  int streaming; /* a fragmented message is being sent */
  unsigned stream_opcode;
  eddy_utf8_t send_utf8;
  eddy_buf_t cork;             /* frames sent while a read is processed */
  eddy__ws_masking_t *masking; /* client role only */

  /* closing */
  int close_sent;
  int close_received;
  unsigned sent_code;
  unsigned recv_code;
  size_t recv_reason_len; /* the reason is at the start of ctl */
  int error;
  int lost; /* connection_lost ran */

  /* timers */
  eddy_timer_t ping_timer;
  eddy_timer_t close_timer;
  uint64_t last_rx;
  int ping_outstanding;
  eddy__soon_t open_soon;

  eddy__ws_client_t *client; /* client role during the handshake */
};

/* Builds a connection with the settings of cfg (checked: UV_EINVAL). */
int eddy__ws_create(eddy_reactor_t *r, eddy_ws_role_t role,
                    const eddy_ws_config_t *cfg, const eddy_ws_handlers_t *h,
                    void *arg, const eddy_ws_deflate_params_t *pmd,
                    eddy_ws_t **out);
int eddy__ws_config_check(const eddy_ws_config_t *cfg);
int eddy__ws_set_subprotocol(eddy_ws_t *ws, const char *name, size_t len);
/* Handshake done (client): enable deflate and become open; on_open is
 * called now. */
void eddy__ws_client_opened(eddy_ws_t *ws, const eddy_ws_deflate_params_t *pmd);
/* Processes frame bytes (the client hands over what followed the 101). */
void eddy__ws_receive(eddy_ws_t *ws, const char *data, size_t len);
/* For message.c: queues a whole encoded frame (the codes of eddy_ws_send;
 * the queue limit applies). */
int eddy__ws_write_slice(eddy_ws_t *ws, eddy_slice_t *s);
/* Messages at least this long are compressed (SIZE_MAX: no deflate). */
size_t eddy__ws_deflate_threshold(const eddy_ws_t *ws);
/* The compressor window this connection uses, 0 when it does not compress
 * with a per-message reset (so shared frames are not usable). */
unsigned eddy__ws_shared_window(const eddy_ws_t *ws);
int eddy__ws_deflate_level(const eddy_ws_t *ws);

/* ---- The client handshake (client.c) ------------------------------------- */
void eddy__ws_client_made(eddy_ws_t *ws);
/* Consumes handshake bytes; returns how many were used, the rest being
 * frames (after eddy__ws_client_opened), or < 0 when the handshake failed
 * (the connection is being aborted). */
int eddy__ws_client_data(eddy_ws_t *ws, const char *data, size_t len);
void eddy__ws_client_lost(eddy_ws_t *ws, int reason);
void eddy__ws_client_free(eddy_ws_t *ws);

/* ---- Handshake helpers (handshake.c) --------------------------------------
 */
/* Whether the comma-separated header value contains token (case-insensitive).
 */
int eddy__ws_has_token(const char *value, const char *token);
/* base64 of n bytes into out (room for 4 * ((n + 2) / 3) + 1). */
void eddy__ws_base64(const uint8_t *in, size_t n, char *out);

#endif
