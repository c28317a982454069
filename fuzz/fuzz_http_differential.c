/* fuzz_http_differential.c — eddy's HTTP parser against Node's old
 * http_parser (Debian's libhttp-parser-dev), a test-only oracle.
 *
 * Request smuggling lives in disagreements about where a message ends. So
 * whenever BOTH parsers accept a head, they must agree on what frames the
 * body and on what the message is: method, target, status, version,
 * chunked or not, and the Content-Length. Anything one of them refuses is
 * not compared: eddy is deliberately stricter (bare LF, obs-fold, repeated
 * Content-Length, unknown methods it allows as tokens, and so on).
 *
 * The first byte chooses a request or a response; the rest is the message.
 */
#include <http_parser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/http_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Exported by libhttp_parser 2.9 but missing from its header. */
int http_message_needs_eof(const http_parser *parser);

#define CAP 64
#define URL_MAX 8192

typedef struct {
  int headers_done;
  char url[URL_MAX];
  size_t url_len;
  int url_truncated;
} oracle_t;

static int on_url(http_parser *p, const char *at, size_t len) {
  oracle_t *o = p->data;
  if (o->url_len + len > URL_MAX) {
    o->url_truncated = 1;
    return 0;
  }
  memcpy(o->url + o->url_len, at, len);
  o->url_len += len;
  return 0;
}

static int on_headers_complete(http_parser *p) {
  oracle_t *o = p->data;
  o->headers_done = 1;
  /* Stop here: only the head is compared. */
  http_parser_pause(p, 1);
  return 0;
}

static void check(int cond) {
  if (!cond)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  int response = data[0] & 1;
  const char *in = (const char *)data + 1;
  size_t len = size - 1;

  eddy_http_parser_t ep;
  eddy_http_parser_init(&ep, response ? EDDY_HTTP_RESPONSE : EDDY_HTTP_REQUEST,
                        NULL);
  eddy_http_msg_t m;
  eddy_http_header_t h[CAP];
  int rc = eddy_http_parse(&ep, in, len, &m, h, CAP);
  if (rc <= 0)
    return 0;

  static http_parser_settings settings;
  settings.on_url = on_url;
  settings.on_headers_complete = on_headers_complete;
  oracle_t o;
  memset(&o, 0, sizeof(o));
  http_parser hp;
  http_parser_init(&hp, response ? HTTP_RESPONSE : HTTP_REQUEST);
  hp.data = &o;
  /* Only the head eddy accepted: both must find the head in it. */
  http_parser_execute(&hp, &settings, in, (size_t)rc);
  enum http_errno herr = HTTP_PARSER_ERRNO(&hp);
  if (!o.headers_done || (herr != HPE_OK && herr != HPE_PAUSED))
    return 0;

  check(hp.http_major == 1);
  check((int)hp.http_minor == m.version_minor);
  if (response) {
    check((int)hp.status_code == m.status);
  } else {
    const char *name = http_method_str((enum http_method)hp.method);
    check(strlen(name) == m.method.len &&
          memcmp(name, m.method.p, m.method.len) == 0);
    if (!o.url_truncated)
      check(o.url_len == m.target.len &&
            memcmp(o.url, m.target.p, o.url_len) == 0);
  }

  /* The framing: the one thing two parsers in a chain must never differ
   * on. A response to CONNECT or an upgrade is left out (no body framing
   * applies); so are 1xx, 204 and 304, which have no body whatever they
   * say and which http_parser frames by its own rules. */
  if (hp.upgrade || m.upgrade)
    return 0;
  if (response && (m.status < 200 || m.status == 204 || m.status == 304))
    return 0;
  int oracle_chunked = (hp.flags & F_CHUNKED) != 0;
  check(oracle_chunked == (m.body == EDDY_HTTP_BODY_CHUNKED));
  if (m.body == EDDY_HTTP_BODY_LENGTH)
    check(hp.content_length == m.content_length);
  if (m.body == EDDY_HTTP_BODY_NONE && !response)
    check(hp.content_length == 0 || hp.content_length == UINT64_MAX);
  if (response && m.body == EDDY_HTTP_BODY_UNTIL_CLOSE)
    check(http_message_needs_eof(&hp));
  return 0;
}
