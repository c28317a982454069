/* parser.c — HTTP/1.1 heads: request and status lines, header fields and the
 * framing decision (eddy/http_parser.h).
 *
 * Two passes over the head: a resumable scan that only looks for the blank
 * line (and rejects bad line endings and oversize lines as soon as they
 * arrive), then one full parse once the head is complete. The scan position
 * is kept in the parser, so input that grows a byte at a time costs O(n). */
#include "eddy/http_parser.h"

#include <limits.h>
#include <string.h>

#include "http_internal.h"

int eddy_http_error_status(int err) {
  switch (err) {
#define EDDY__HTTP_ERR_STATUS(name, value, status, msg)                        \
  case (value):                                                                \
    return (status);
    EDDY_HTTP_ERRNO_MAP(EDDY__HTTP_ERR_STATUS)
#undef EDDY__HTTP_ERR_STATUS
  default:
    return 500;
  }
}

const char *eddy_http_strerror(int err) {
  switch (err) {
#define EDDY__HTTP_ERR_MSG(name, value, status, msg)                           \
  case (value):                                                                \
    return (msg);
    EDDY_HTTP_ERRNO_MAP(EDDY__HTTP_ERR_MSG)
#undef EDDY__HTTP_ERR_MSG
  default:
    return "unknown HTTP parser error";
  }
}

static size_t clamp_head(size_t v, size_t def) {
  if (v == 0)
    return def;
  return v > EDDY_HTTP_MAX_HEAD_CEILING ? EDDY_HTTP_MAX_HEAD_CEILING : v;
}

void eddy__http_limits_fill(eddy_http_limits_t *out,
                            const eddy_http_limits_t *in) {
  eddy_http_limits_t zero = {0};
  if (in == NULL)
    in = &zero;
  out->max_line = clamp_head(in->max_line, EDDY_HTTP_MAX_LINE_DEFAULT);
  out->max_headers = clamp_head(in->max_headers, EDDY_HTTP_MAX_HEADERS_DEFAULT);
  out->max_head = clamp_head(in->max_head, EDDY_HTTP_MAX_HEAD_DEFAULT);
  out->max_body = in->max_body ? in->max_body : EDDY_HTTP_MAX_BODY_DEFAULT;
  out->max_chunk_ext =
      clamp_head(in->max_chunk_ext, EDDY_HTTP_MAX_CHUNK_EXT_DEFAULT);
}

/* tchar from RFC 9110 5.6.2. */
static const unsigned char tchar_table[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1,
    ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,
    ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1,
    ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1,
    ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,
    ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
    ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1,
    ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

int eddy__http_is_tchar(unsigned char c) {
  return tchar_table[c];
}

/* Field-value bytes: HTAB, SP, VCHAR and obs-text; no other control. */
int eddy__http_is_vchar_ws(unsigned char c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

void eddy_http_parser_init(eddy_http_parser_t *p, eddy_http_kind_t kind,
                           const eddy_http_limits_t *limits) {
  memset(p, 0, sizeof(*p));
  eddy__http_limits_fill(&p->limits, limits);
  p->kind = kind;
}

void eddy_http_parser_reset(eddy_http_parser_t *p) {
  p->scanned = 0;
  p->line_end = 0;
}

void eddy_http_parser_set_head_request(eddy_http_parser_t *p, int was_head) {
  p->response_to_head = was_head != 0;
}

static int lower_eq(const char *s, size_t n, const char *lit) {
  size_t i;
  for (i = 0; i < n && lit[i]; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 'A' && c <= 'Z')
      c = (unsigned char)(c + 32);
    if (c != (unsigned char)lit[i])
      return 0;
  }
  return i == n && lit[i] == '\0';
}

/* Finds the end of the head, starting where the last call stopped. Every
 * check depends only on the byte and the one before it, so the first error
 * by position is found however the input was split. */
static int scan(eddy_http_parser_t *p, const char *buf, size_t len,
                size_t *end) {
  size_t i;
  for (i = p->scanned; i < len; i++) {
    unsigned char c = (unsigned char)buf[i];
    if (i > 0 && buf[i - 1] == '\r' && c != '\n')
      return EDDY_HTTP_E_NEWLINE;
    if (i >= p->limits.max_head)
      return EDDY_HTTP_E_HEADERS_TOO_LARGE;
    if (c == '\n') {
      if (i == 0 || buf[i - 1] != '\r')
        return EDDY_HTTP_E_NEWLINE;
      if (p->line_end == 0) {
        if (i == 1)
          return EDDY_HTTP_E_SYNTAX; /* empty start line */
        p->line_end = i + 1;
      } else if (buf[i - 2] == '\n') {
        p->scanned = i + 1;
        *end = i + 1;
        return 1;
      }
      continue;
    }
    if (p->line_end == 0 && c != '\r' && i >= p->limits.max_line)
      return p->kind == EDDY_HTTP_REQUEST ? EDDY_HTTP_E_URI_TOO_LONG
                                          : EDDY_HTTP_E_LINE_TOO_LONG;
  }
  p->scanned = len;
  return 0;
}

/* "HTTP/" DIGIT "." DIGIT, exactly 8 bytes. */
static int parse_version(const char *s, size_t n, int *minor) {
  if (n != 8 || memcmp(s, "HTTP/", 5) != 0 || s[5] < '0' || s[5] > '9' ||
      s[6] != '.' || s[7] < '0' || s[7] > '9')
    return EDDY_HTTP_E_SYNTAX;
  if (s[5] != '1' || (s[7] != '0' && s[7] != '1'))
    return EDDY_HTTP_E_VERSION;
  *minor = s[7] - '0';
  return 0;
}

static int parse_request_line(const char *s, size_t n, eddy_http_msg_t *m) {
  size_t i = 0, start;
  while (i < n && eddy__http_is_tchar((unsigned char)s[i]))
    i++;
  if (i == 0 || i == n || s[i] != ' ')
    return EDDY_HTTP_E_SYNTAX;
  m->method.p = s;
  m->method.len = i;
  start = ++i;
  /* The target is visible ASCII only: no spaces, controls or raw UTF-8. */
  while (i < n && (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f)
    i++;
  if (i == start || i == n || s[i] != ' ')
    return EDDY_HTTP_E_SYNTAX;
  m->target.p = s + start;
  m->target.len = i - start;
  i++;
  return parse_version(s + i, n - i, &m->version_minor);
}

static int parse_status_line(const char *s, size_t n, eddy_http_msg_t *m) {
  int rc;
  size_t i;
  if (n < 12 || s[8] != ' ')
    return n >= 8 && parse_version(s, 8, &m->version_minor) == 0
               ? EDDY_HTTP_E_STATUS
               : EDDY_HTTP_E_SYNTAX;
  rc = parse_version(s, 8, &m->version_minor);
  if (rc)
    return rc;
  m->status = 0;
  for (i = 9; i < 12; i++) {
    if (s[i] < '0' || s[i] > '9')
      return EDDY_HTTP_E_STATUS;
    m->status = m->status * 10 + (s[i] - '0');
  }
  if (m->status < 100)
    return EDDY_HTTP_E_STATUS;
  m->reason.p = s + 12;
  m->reason.len = 0;
  if (n == 12)
    return 0; /* no reason and no SP: tolerated, as RFC 9112 suggests */
  if (s[12] != ' ')
    return EDDY_HTTP_E_STATUS;
  for (i = 13; i < n; i++)
    if (!eddy__http_is_vchar_ws((unsigned char)s[i]))
      return EDDY_HTTP_E_SYNTAX;
  m->reason.p = s + 13;
  m->reason.len = n - 13;
  return 0;
}

/* What the header fields say about framing and the connection. */
typedef struct {
  int has_cl;
  uint64_t cl;
  int has_te;
  int te_codings; /* codings listed over every Transfer-Encoding */
  int te_chunked; /* how many of them are "chunked" */
  int te_last_chunked;
  int hosts;
  int conn_close, conn_keep_alive, conn_upgrade;
  int has_upgrade;
  int expect_continue;
} fields_t;

static int on_content_length(fields_t *f, const char *v, size_t n) {
  uint64_t x = 0;
  size_t i;
  if (n == 0)
    return EDDY_HTTP_E_CONTENT_LENGTH;
  for (i = 0; i < n; i++) {
    unsigned d = (unsigned)((unsigned char)v[i] - '0');
    if (d > 9 || x > (UINT64_MAX - d) / 10)
      return EDDY_HTTP_E_CONTENT_LENGTH;
    x = x * 10 + d;
  }
  if (f->has_cl && f->cl != x)
    return EDDY_HTTP_E_CONTENT_LENGTH;
  f->has_cl = 1;
  f->cl = x;
  return 0;
}

/* Calls fn on each non-empty element of a comma-separated list, trimmed. */
typedef int (*elem_fn)(fields_t *f, const char *s, size_t n);

static int each_element(fields_t *f, const char *v, size_t n, elem_fn fn) {
  size_t i = 0;
  while (i < n) {
    size_t a, b;
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
      i++;
    a = i;
    while (i < n && v[i] != ',')
      i++;
    b = i;
    while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
      b--;
    if (b > a) {
      int rc = fn(f, v + a, b - a);
      if (rc)
        return rc;
    }
  }
  return 0;
}

/* Whether a list has an empty element ("chunked, ", ", chunked", "a,,b").
 * RFC 9110 5.6.1 lets recipients skip them, but parsers differ on it (Node's
 * old http_parser reads "chunked, " as not chunked), and a framing header
 * two parsers read differently is how requests are smuggled: refuse. */
static int has_empty_element(const char *v, size_t n) {
  size_t i = 0;
  for (;;) {
    int empty = 1;
    while (i < n && v[i] != ',') {
      if (v[i] != ' ' && v[i] != '\t')
        empty = 0;
      i++;
    }
    if (empty)
      return 1;
    if (i == n)
      return 0;
    i++; /* the comma */
  }
}

static int te_element(fields_t *f, const char *s, size_t n) {
  size_t i = 0;
  while (i < n && eddy__http_is_tchar((unsigned char)s[i]))
    i++;
  if (i == 0)
    return EDDY_HTTP_E_TRANSFER_ENCODING;
  f->te_codings++;
  f->te_last_chunked = lower_eq(s, i, "chunked");
  if (f->te_last_chunked) {
    if (i != n) /* chunked takes no parameters */
      return EDDY_HTTP_E_TRANSFER_ENCODING;
    f->te_chunked++;
  }
  return 0;
}

static int conn_element(fields_t *f, const char *s, size_t n) {
  if (lower_eq(s, n, "close"))
    f->conn_close = 1;
  else if (lower_eq(s, n, "keep-alive"))
    f->conn_keep_alive = 1;
  else if (lower_eq(s, n, "upgrade"))
    f->conn_upgrade = 1;
  return 0;
}

static int on_field(fields_t *f, const eddy_http_header_t *h) {
  const char *n = h->name.p, *v = h->value.p;
  size_t nl = h->name.len, vl = h->value.len;
  if (lower_eq(n, nl, "content-length"))
    return on_content_length(f, v, vl);
  if (lower_eq(n, nl, "transfer-encoding")) {
    f->has_te = 1;
    /* (this also refuses an empty value) */
    if (has_empty_element(v, vl))
      return EDDY_HTTP_E_TRANSFER_ENCODING;
    return each_element(f, v, vl, te_element);
  }
  if (lower_eq(n, nl, "host"))
    f->hosts++;
  else if (lower_eq(n, nl, "connection"))
    return each_element(f, v, vl, conn_element);
  else if (lower_eq(n, nl, "upgrade"))
    f->has_upgrade = 1;
  else if (lower_eq(n, nl, "expect") && lower_eq(v, vl, "100-continue"))
    f->expect_continue = 1;
  return 0;
}

/* One header line [s, s + n), without its CRLF. */
static int parse_field(const char *s, size_t n, eddy_http_header_t *h) {
  size_t i = 0, a, b;
  if (s[0] == ' ' || s[0] == '\t')
    return EDDY_HTTP_E_OBS_FOLD;
  while (i < n && eddy__http_is_tchar((unsigned char)s[i]))
    i++;
  /* Includes whitespace before the colon, which RFC 9112 5.1 forbids. */
  if (i == 0 || i == n || s[i] != ':')
    return EDDY_HTTP_E_HEADER_NAME;
  h->name.p = s;
  h->name.len = i;
  for (a = i + 1; a < n; a++)
    if (!eddy__http_is_vchar_ws((unsigned char)s[a]))
      return EDDY_HTTP_E_HEADER_VALUE;
  a = i + 1;
  while (a < n && (s[a] == ' ' || s[a] == '\t'))
    a++;
  b = n;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
    b--;
  h->value.p = s + a;
  h->value.len = b - a;
  return 0;
}

static int decide_request(const eddy_http_parser_t *p, const fields_t *f,
                          eddy_http_msg_t *m) {
  if (m->version_minor == 1 ? f->hosts != 1 : f->hosts > 1)
    return EDDY_HTTP_E_HOST;
  if (f->has_te) {
    /* HTTP/1.0 has no transfer codings: a peer sending one is suspect. */
    if (m->version_minor == 0 || f->te_chunked > 1 ||
        (f->te_chunked == 1 && !f->te_last_chunked))
      return EDDY_HTTP_E_TRANSFER_ENCODING;
    if (f->te_codings != 1 || !f->te_last_chunked)
      return EDDY_HTTP_E_UNSUPPORTED_TE;
    m->body = EDDY_HTTP_BODY_CHUNKED;
  } else if (f->has_cl && f->cl > 0) {
    if (f->cl > p->limits.max_body)
      return EDDY_HTTP_E_BODY_TOO_LARGE;
    m->body = EDDY_HTTP_BODY_LENGTH;
    m->content_length = f->cl;
  }
  m->expect_continue = m->version_minor == 1 && f->expect_continue;
  return 0;
}

static int decide_response(const eddy_http_parser_t *p, const fields_t *f,
                           eddy_http_msg_t *m) {
  if (p->response_to_head || m->status < 200 || m->status == 204 ||
      m->status == 304)
    return 0; /* no body, whatever the fields say */
  if (f->has_te) {
    if (f->te_chunked > 1)
      return EDDY_HTTP_E_TRANSFER_ENCODING;
    /* A final coding other than chunked is delimited by the close. */
    m->body = f->te_last_chunked ? EDDY_HTTP_BODY_CHUNKED
                                 : EDDY_HTTP_BODY_UNTIL_CLOSE;
  } else if (f->has_cl) {
    if (f->cl > p->limits.max_body)
      return EDDY_HTTP_E_BODY_TOO_LARGE;
    if (f->cl > 0) {
      m->body = EDDY_HTTP_BODY_LENGTH;
      m->content_length = f->cl;
    }
  } else {
    m->body = EDDY_HTTP_BODY_UNTIL_CLOSE;
  }
  return 0;
}

static int parse_head(eddy_http_parser_t *p, const char *buf, size_t end,
                      eddy_http_msg_t *m, eddy_http_header_t *headers,
                      size_t capacity) {
  fields_t f;
  size_t pos,
      max = capacity < p->limits.max_headers ? capacity : p->limits.max_headers;
  int rc;
  memset(&f, 0, sizeof(f));
  memset(m, 0, sizeof(*m));
  m->headers = headers;
  rc = p->kind == EDDY_HTTP_REQUEST
           ? parse_request_line(buf, p->line_end - 2, m)
           : parse_status_line(buf, p->line_end - 2, m);
  if (rc)
    return rc;
  for (pos = p->line_end; pos < end - 2;) {
    const char *s = buf + pos;
    const char *cr = memchr(s, '\r', end - 2 - pos + 1);
    size_t n = (size_t)(cr - s);
    if (m->num_headers >= max)
      return EDDY_HTTP_E_TOO_MANY_HEADERS;
    rc = parse_field(s, n, &headers[m->num_headers]);
    if (rc)
      return rc;
    rc = on_field(&f, &headers[m->num_headers]);
    if (rc)
      return rc;
    m->num_headers++;
    pos += n + 2;
  }
  if (f.has_cl && f.has_te)
    return EDDY_HTTP_E_CL_AND_TE;
  rc = p->kind == EDDY_HTTP_REQUEST ? decide_request(p, &f, m)
                                    : decide_response(p, &f, m);
  if (rc)
    return rc;
  m->upgrade = f.has_upgrade && f.conn_upgrade;
  m->keep_alive = !f.conn_close &&
                  (m->version_minor == 1 || f.conn_keep_alive) &&
                  m->body != EDDY_HTTP_BODY_UNTIL_CLOSE;
  return 0;
}

int eddy_http_parse(eddy_http_parser_t *p, const char *buf, size_t len,
                    eddy_http_msg_t *msg, eddy_http_header_t *headers,
                    size_t capacity) {
  size_t end = 0;
  int rc = scan(p, buf, len, &end);
  if (rc < 0)
    return rc;
  if (rc == 0)
    return EDDY_HTTP_NEED_MORE;
  rc = parse_head(p, buf, end, msg, headers, capacity);
  return rc < 0 ? rc : (int)end;
}
