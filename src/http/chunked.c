/* chunked.c — the chunked transfer coding's decoder (RFC 9112 7.1).
 *
 * A byte-at-a-time state machine for everything but chunk data, which is
 * reported as one span of the input per call: nothing is copied and no
 * pointer into the input survives a call, so input may be split anywhere. */
#include "eddy/http_parser.h"

#include <limits.h>
#include <string.h>

#include "http_internal.h"

enum {
  S_SIZE,    /* chunk-size hex digits */
  S_EXT,     /* BWS and chunk extensions, up to CR */
  S_SIZE_LF, /* the LF after the size line */
  S_DATA,    /* chunk data */
  S_DATA_CR, /* CRLF after the data */
  S_DATA_LF, /* */
  S_TRAILER, /* the start of a trailer line, or the final CRLF */
  S_TRAILER_NAME,
  S_TRAILER_VALUE,
  S_TRAILER_LF,
  S_END_LF,
  S_DONE,
  S_ERROR,
};

void eddy_http_chunked_init(eddy_http_chunked_t *c,
                            const eddy_http_limits_t *limits) {
  memset(c, 0, sizeof(*c));
  eddy__http_limits_fill(&c->limits, limits);
  c->state = S_SIZE;
}

int eddy_http_chunked_done(const eddy_http_chunked_t *c) {
  return c->state == S_DONE;
}

uint64_t eddy_http_chunked_total(const eddy_http_chunked_t *c) {
  return c->total;
}

static int hex_value(unsigned char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* One byte outside the data. Returns 0 or an error. */
static int step(eddy_http_chunked_t *c, unsigned char ch) {
  int h;
  switch (c->state) {
  case S_SIZE:
    /* Leading zeros are legal but bounded like an extension. */
    if (++c->line_len > c->limits.max_chunk_ext + 16)
      return EDDY_HTTP_E_CHUNK_EXT;
    h = hex_value(ch);
    if (h >= 0) {
      if (c->remaining > (UINT64_MAX >> 4))
        return EDDY_HTTP_E_CHUNK_SIZE;
      c->remaining = (c->remaining << 4) | (uint64_t)h;
      c->digits++;
      return 0;
    }
    if (c->digits == 0)
      return EDDY_HTTP_E_CHUNK;
    if (ch == '\r') {
      c->state = S_SIZE_LF;
      return 0;
    }
    if (ch == ';' || ch == ' ' || ch == '\t') {
      c->state = S_EXT;
      c->line_len = 1;
      return 0;
    }
    return EDDY_HTTP_E_CHUNK;
  case S_EXT:
    if (ch == '\r') {
      c->state = S_SIZE_LF;
      return 0;
    }
    if (!eddy__http_is_vchar_ws(ch))
      return EDDY_HTTP_E_CHUNK;
    if (++c->line_len > c->limits.max_chunk_ext)
      return EDDY_HTTP_E_CHUNK_EXT;
    return 0;
  case S_SIZE_LF:
    if (ch != '\n')
      return EDDY_HTTP_E_CHUNK;
    if (c->remaining == 0) {
      c->state = S_TRAILER;
      return 0;
    }
    if (c->remaining > c->limits.max_body - c->total)
      return EDDY_HTTP_E_BODY_TOO_LARGE;
    c->state = S_DATA;
    return 0;
  case S_DATA_CR:
    if (ch != '\r')
      return EDDY_HTTP_E_CHUNK;
    c->state = S_DATA_LF;
    return 0;
  case S_DATA_LF:
    if (ch != '\n')
      return EDDY_HTTP_E_CHUNK;
    c->state = S_SIZE;
    c->digits = 0;
    c->line_len = 0;
    return 0;
  default:
    break;
  }
  /* Trailers: header fields after the last chunk, checked and dropped. */
  if (++c->trailer_bytes > c->limits.max_head)
    return EDDY_HTTP_E_TRAILERS;
  switch (c->state) {
  case S_TRAILER:
    if (ch == '\r') {
      c->state = S_END_LF;
      return 0;
    }
    if (!eddy__http_is_tchar(ch))
      return EDDY_HTTP_E_CHUNK; /* includes obs-fold's leading SP */
    if (++c->trailers > c->limits.max_headers)
      return EDDY_HTTP_E_TRAILERS;
    c->state = S_TRAILER_NAME;
    return 0;
  case S_TRAILER_NAME:
    if (ch == ':')
      c->state = S_TRAILER_VALUE;
    else if (!eddy__http_is_tchar(ch))
      return EDDY_HTTP_E_CHUNK;
    return 0;
  case S_TRAILER_VALUE:
    if (ch == '\r')
      c->state = S_TRAILER_LF;
    else if (!eddy__http_is_vchar_ws(ch))
      return EDDY_HTTP_E_CHUNK;
    return 0;
  case S_TRAILER_LF:
    if (ch != '\n')
      return EDDY_HTTP_E_CHUNK;
    c->state = S_TRAILER;
    return 0;
  case S_END_LF:
    if (ch != '\n')
      return EDDY_HTTP_E_CHUNK;
    c->state = S_DONE;
    return 0;
  default:
    return EDDY_HTTP_E_CHUNK;
  }
}

int eddy_http_chunked_feed(eddy_http_chunked_t *c, const char *buf, size_t len,
                           const char **data, size_t *data_len) {
  size_t i = 0;
  *data = NULL;
  *data_len = 0;
  if (c->state == S_ERROR)
    return c->err;
  if (len > INT_MAX)
    len = INT_MAX;
  while (i < len && c->state != S_DONE) {
    if (c->state == S_DATA) {
      size_t n = len - i;
      if ((uint64_t)n > c->remaining)
        n = (size_t)c->remaining;
      *data = buf + i;
      *data_len = n;
      c->remaining -= n;
      c->total += n;
      if (c->remaining == 0)
        c->state = S_DATA_CR;
      return (int)(i + n);
    }
    int rc = step(c, (unsigned char)buf[i]);
    if (rc < 0) {
      c->state = S_ERROR;
      c->err = rc;
      return rc;
    }
    i++;
  }
  return (int)i;
}
