/* eddy/http_parser.h — a pure, incremental, zero-copy HTTP/1.1 parser.
 *
 * No I/O, no allocation, no callbacks. Two pieces:
 *
 * HEADS (request line or status line plus header fields). Keep the bytes of
 * the message in one buffer of yours and call eddy_http_parse() with the
 * whole buffer from the message's first byte each time more arrives. It
 * returns the length of the head once the blank line that ends it is there,
 * EDDY_HTTP_NEED_MORE before that, or an error (EDDY_HTTP_E_*). The parser
 * remembers how far it has checked, so growing input is scanned only once:
 * do not change bytes already passed to it. Call eddy_http_parser_reset()
 * before the next message.
 *
 * OWNERSHIP: every eddy_http_str_t filled in (method, target, reason, header
 * names and values) points into YOUR buffer; nothing is copied and nothing
 * is NUL-terminated. They stay valid as long as those bytes stay where they
 * are. The header array is yours too (its capacity is the count limit).
 *
 * BODIES: the head tells how the body is framed (msg.body). A chunked body
 * goes through eddy_http_chunked_t, a resumable decoder that reports the
 * data as spans of the input it is given (again pointing into your buffer),
 * however the input is split.
 *
 * STRICTNESS (what laxness would let a request be smuggled past a proxy):
 * only CRLF ends a line (a bare LF or a CR not followed by LF is an error);
 * obsolete line folding, whitespace before the colon, a non-token name, and
 * a control character other than HTAB in a value are errors; Content-Length
 * must be digits only, and a repeated Content-Length must repeat the same
 * value; Content-Length with Transfer-Encoding is an error; a request's
 * Transfer-Encoding must be exactly "chunked" (another coding gets 501; an
 * empty list element, as in "chunked, ", is an error); an
 * HTTP/1.1 request needs exactly one Host. Chunk sizes that overflow 64 bits
 * are errors; chunk extensions are allowed and skipped, within a limit.
 * A message may not start with empty lines.
 */
#ifndef EDDY_HTTP_PARSER_H
#define EDDY_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Results. Distinct from libuv's and eddy's other codes (eddy/error.h).
 * The comment gives the status eddy_http_error_status() maps each to. */
#define EDDY_HTTP_ERRNO_MAP(XX)                                                \
  XX(NEED_MORE, -31000, 0, "incomplete, more input needed")                    \
  XX(E_SYNTAX, -31001, 400, "malformed start line")                            \
  XX(E_NEWLINE, -31002, 400, "bare LF or CR without LF")                       \
  XX(E_HEADER_NAME, -31003, 400, "invalid header name")                        \
  XX(E_HEADER_VALUE, -31004, 400, "invalid character in header value")         \
  XX(E_OBS_FOLD, -31005, 400, "obsolete line folding")                         \
  XX(E_CONTENT_LENGTH, -31006, 400, "invalid or conflicting Content-Length")   \
  XX(E_CL_AND_TE, -31007, 400, "Content-Length with Transfer-Encoding")        \
  XX(E_TRANSFER_ENCODING, -31008, 400, "invalid Transfer-Encoding")            \
  XX(E_UNSUPPORTED_TE, -31009, 501, "unsupported transfer coding")             \
  XX(E_HOST, -31010, 400, "missing or repeated Host")                          \
  XX(E_URI_TOO_LONG, -31011, 414, "request line too long")                     \
  XX(E_LINE_TOO_LONG, -31012, 400, "status line too long")                     \
  XX(E_TOO_MANY_HEADERS, -31013, 431, "too many header fields")                \
  XX(E_HEADERS_TOO_LARGE, -31014, 431, "header section too large")             \
  XX(E_BODY_TOO_LARGE, -31015, 413, "body too large")                          \
  XX(E_VERSION, -31016, 505, "unsupported HTTP version")                       \
  XX(E_STATUS, -31017, 400, "invalid status code")                             \
  XX(E_CHUNK, -31018, 400, "malformed chunked body")                           \
  XX(E_CHUNK_SIZE, -31019, 400, "chunk size overflows")                        \
  XX(E_CHUNK_EXT, -31020, 400, "chunk extension too long")                     \
  XX(E_TRAILERS, -31021, 431, "trailer section too large")

enum {
#define EDDY__HTTP_ERR_ENUM(name, value, status, msg)                          \
  EDDY_HTTP_##name = (value),
  EDDY_HTTP_ERRNO_MAP(EDDY__HTTP_ERR_ENUM)
#undef EDDY__HTTP_ERR_ENUM
};

/* The HTTP status a server answers a parse error with (400, 413, 414, 431,
 * 501, 505); 0 for EDDY_HTTP_NEED_MORE, 500 for an unknown code. */
int eddy_http_error_status(int err);
/* A message for err. Never NULL, static. */
const char *eddy_http_strerror(int err);

/* Limits. 0 in a field of the struct passed to init means its default. */
#define EDDY_HTTP_MAX_LINE_DEFAULT 8192u
#define EDDY_HTTP_MAX_HEADERS_DEFAULT 100u
#define EDDY_HTTP_MAX_HEAD_DEFAULT 65536u
#define EDDY_HTTP_MAX_BODY_DEFAULT ((uint64_t)16u * 1024u * 1024u)
#define EDDY_HTTP_MAX_CHUNK_EXT_DEFAULT 1024u
/* Head limits are clamped to this so a head length always fits an int. */
#define EDDY_HTTP_MAX_HEAD_CEILING ((size_t)64u * 1024u * 1024u)

typedef struct {
  size_t max_line;      /* request line (414) or status line */
  size_t max_headers;   /* header fields (431); also the trailers' count */
  size_t max_head;      /* the whole head with its blank line (431) */
  uint64_t max_body;    /* Content-Length or decoded chunked total (413) */
  size_t max_chunk_ext; /* a chunk-size line beyond its digits */
} eddy_http_limits_t;

typedef struct {
  const char *p; /* into the caller's buffer; not NUL-terminated */
  size_t len;
} eddy_http_str_t;

typedef struct {
  eddy_http_str_t name;  /* a token, case as sent */
  eddy_http_str_t value; /* leading and trailing SP/HTAB removed */
} eddy_http_header_t;

typedef enum {
  EDDY_HTTP_REQUEST = 0,
  EDDY_HTTP_RESPONSE = 1,
} eddy_http_kind_t;

typedef enum {
  EDDY_HTTP_BODY_NONE = 0,    /* no body (or Content-Length: 0) */
  EDDY_HTTP_BODY_LENGTH,      /* exactly content_length bytes */
  EDDY_HTTP_BODY_CHUNKED,     /* chunked: use eddy_http_chunked_t */
  EDDY_HTTP_BODY_UNTIL_CLOSE, /* responses only: read until the peer closes */
} eddy_http_body_t;

typedef struct {
  /* Requests. */
  eddy_http_str_t method; /* a token, case-sensitive */
  eddy_http_str_t target; /* as sent: origin, absolute, authority or "*" */
  /* Responses. */
  int status;             /* 100..999 */
  eddy_http_str_t reason; /* may be empty */
  /* Both. */
  int version_minor;           /* HTTP/1.<version_minor>: 0 or 1 */
  eddy_http_header_t *headers; /* the caller's array, in order */
  size_t num_headers;
  eddy_http_body_t body;
  uint64_t content_length;      /* when body == EDDY_HTTP_BODY_LENGTH */
  unsigned keep_alive : 1;      /* the connection may carry another message */
  unsigned expect_continue : 1; /* request: Expect: 100-continue (HTTP/1.1) */
  unsigned upgrade : 1; /* Upgrade present and Connection lists "upgrade" */
} eddy_http_msg_t;

/* Parser state for one head. Fields are private. */
typedef struct {
  eddy_http_limits_t limits;
  eddy_http_kind_t kind;
  int response_to_head; /* set by the caller: the request was HEAD */
  size_t scanned;       /* bytes checked for the end of the head */
  size_t line_end;      /* end of the start line once seen, else 0 */
} eddy_http_parser_t;

/* limits may be NULL (all defaults). */
void eddy_http_parser_init(eddy_http_parser_t *p, eddy_http_kind_t kind,
                           const eddy_http_limits_t *limits);
/* Forgets the current head (kind, limits and response_to_head are kept). */
void eddy_http_parser_reset(eddy_http_parser_t *p);
/* For a response parser: whether the request this response answers was a
 * HEAD request (its response then has no body, whatever it says). */
void eddy_http_parser_set_head_request(eddy_http_parser_t *p, int was_head);

/* Parses the head in buf[0..len). headers[0..capacity) receives the header
 * fields (more than min(capacity, max_headers) is E_TOO_MANY_HEADERS).
 * Returns the head's length in bytes (> 0, the body starts there) and fills
 * msg; or EDDY_HTTP_NEED_MORE; or an EDDY_HTTP_E_* code (then msg is
 * unspecified and the parser must be reset before reuse). */
int eddy_http_parse(eddy_http_parser_t *p, const char *buf, size_t len,
                    eddy_http_msg_t *msg, eddy_http_header_t *headers,
                    size_t capacity);

/* ---- Chunked bodies ------------------------------------------------------
 * Feed the bytes after the head, in pieces of any size. Each call consumes
 * a prefix of its input and reports at most one span of body data inside
 * that prefix (*data, *data_len; data_len 0 when none). It returns the
 * number of bytes consumed (>= 0) or an EDDY_HTTP_E_* code. It consumes at
 * least one byte of non-empty input until the body ends, so loop while input
 * remains and eddy_http_chunked_done() is false; unconsumed input after the
 * end belongs to the next message. Trailer fields are checked and skipped.
 * The decoder keeps no pointer to the input between calls. */
typedef struct {
  eddy_http_limits_t limits;
  int state;
  int err;            /* sticky once an error was returned */
  int digits;         /* hex digits in the current size */
  uint64_t remaining; /* data bytes left in the current chunk / the size */
  uint64_t total;     /* decoded so far */
  size_t line_len;    /* bytes of the current size or trailer line */
  size_t trailer_bytes;
  size_t trailers;
} eddy_http_chunked_t;

/* limits may be NULL (defaults); uses max_body, max_chunk_ext, max_headers
 * and max_head (for the trailers). */
void eddy_http_chunked_init(eddy_http_chunked_t *c,
                            const eddy_http_limits_t *limits);
int eddy_http_chunked_feed(eddy_http_chunked_t *c, const char *buf, size_t len,
                           const char **data, size_t *data_len);
/* Whether the last chunk and the trailers have been consumed. */
int eddy_http_chunked_done(const eddy_http_chunked_t *c);
/* The number of data bytes decoded so far. */
uint64_t eddy_http_chunked_total(const eddy_http_chunked_t *c);

#ifdef __cplusplus
}
#endif

#endif
