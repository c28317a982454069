/* lines_internal.h — the backend line protocol of the hub (line_server.c)
 * and the secret comparison it shares with the HTTP API (token.c).
 *
 * Grammar (docs/protocol/realtime.md, "Backend line protocol"): one
 * request per line, ended by "\n" ("\r\n" accepted), one reply line per
 * request, in order:
 *   AUTH <token>                  -> OK
 *   PUBLISH <channel> <json>      -> OK <offset> <epoch>
 *   BROADCAST <ch>,<ch>,... <json> -> OK <count>
 *   PING                          -> PONG
 *   errors                        -> ERR <code> <message>
 */
#ifndef EDDY_RT_LINES_INTERNAL_H
#define EDDY_RT_LINES_INTERNAL_H

#include <stddef.h>

#include "eddy/protocol.h"
#include "eddy/realtime.h"

/* The longest request line: a publication of the hub's default
 * max_publication (64 KiB) with a long channel list in front of it. */
#define EDDY__RT_LINE_MAX ((size_t)128 * 1024)
/* Channels one BROADCAST (or one HTTP broadcast) may name. */
#define EDDY__RT_BROADCAST_MAX 1000
/* Connections one line service holds open. */
#define EDDY__RT_LINES_CONN_MAX 10000

typedef enum {
  EDDY__RT_L_AUTH = 1,
  EDDY__RT_L_PUBLISH,
  EDDY__RT_L_BROADCAST,
  EDDY__RT_L_PING
} eddy__rt_line_verb_t;

typedef struct {
  eddy__rt_line_verb_t verb;
  /* AUTH: the token; PUBLISH: the channel; BROADCAST: the comma-separated
   * channel list (every name valid, no duplicates, at most
   * EDDY__RT_BROADCAST_MAX). Points into the line. */
  const char *arg;
  size_t arg_len;
  size_t nchannels; /* BROADCAST */
  /* PUBLISH, BROADCAST: the JSON text (not checked here: the hub does). */
  const char *data;
  size_t data_len;
} eddy__rt_line_t;

/* Parses one line (without its "\n"; a trailing "\r" is dropped). Pure: no
 * allocation, reads only line[0..len). Returns 1 with *out filled, 0 for a
 * blank line (no reply is due), or EDDY_EPARSE with *err pointing at a
 * static message for the "ERR 400" reply. Verbs are case-insensitive. */
int eddy__rt_line_parse(const char *line, size_t len, eddy__rt_line_t *out,
                        const char **err);

/* The next channel of a BROADCAST list: sets *name and *len to it and returns
 * 1, or 0 at the end. *pos starts at 0. */
int eddy__rt_line_next_channel(const eddy__rt_line_t *l, size_t *pos,
                               const char **name, size_t *len);

/* A line service on hub with no listener of its own: its factory serves
 * any transport (eddy_string_transport in tests, a caller's listener).
 * token as in eddy_rt_listen_lines. It belongs to the hub, which closes it
 * (and its connections) in eddy_rt_close. */
typedef struct eddy__rt_lines_s eddy__rt_lines_t;
int eddy__rt_lines_new(eddy_rt_t *hub, const char *token,
                       eddy__rt_lines_t **out);
eddy_factory_t *eddy__rt_lines_factory(eddy__rt_lines_t *s);

/* 1 when got equals want (NUL-terminated), in time that depends on
 * neither's content: both are hashed first, so not even the length of the
 * secret leaks. token.c. */
int eddy__rt_secret_equal(const char *want, const char *got, size_t got_len);

#endif
