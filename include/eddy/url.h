/* eddy/url.h — a strict, pure parser for http:// and ws:// URLs.
 *
 * No I/O, no allocation. eddy_url_parse() splits an absolute URL into its
 * parts; eddy_url_resolve() resolves a reference (a redirect's Location)
 * against a parsed base, RFC 3986 section 5.2, dot segments removed.
 *
 * OWNERSHIP: every eddy_url_str_t in an eddy_url_t points into the string
 * given to eddy_url_parse(); nothing is copied and nothing is
 * NUL-terminated. The parts stay valid as long as that string does, unchanged.
 *
 * WHAT IS ACCEPTED (RFC 3986, without its rarely used corners):
 *   scheme "://" [userinfo "@"] host [":" port] [path] ["?" query] ["#" frag]
 *  - scheme: http or ws (any case). https and wss are recognised and refused
 *    with UV_EPROTONOSUPPORT: eddy has no TLS yet.
 *  - userinfo ("user:pass@") is refused unless EDDY_URL_ALLOW_USERINFO is
 *    given: credentials in URLs leak into logs and proxies.
 *  - host: a name of letters, digits, '-', '.' and '_' (what the resolver and
 *    eddy/endpoint.h accept; no percent-encoding), at most
 *    EDDY_URL_HOST_MAX bytes, or an IPv6 literal in brackets (no zone id).
 *  - port: 1..65535; absent or empty means the scheme's default (80).
 *  - path, query and fragment: RFC 3986 characters only; every '%' starts a
 *    valid %XX escape. Spaces, controls, bytes >= 0x80 and the characters
 *    "<>\^`{|} are refused, so a URL can be put in a request line as is.
 *  - at most EDDY_URL_MAX_LENGTH bytes in all.
 */
#ifndef EDDY_URL_H
#define EDDY_URL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EDDY_URL_MAX_LENGTH 8192u
#define EDDY_URL_HOST_MAX 255u

typedef enum {
  EDDY_URL_HTTP = 1,
  EDDY_URL_WS = 2,
  EDDY_URL_HTTPS = 3, /* only in a refusal: never in a parsed URL yet */
  EDDY_URL_WSS = 4
} eddy_url_scheme_t;

/* Flags for eddy_url_parse. */
enum {
  EDDY_URL_ALLOW_USERINFO = 1u << 0 /* keep "user:pass@" instead of refusing */
};

typedef struct {
  const char *p; /* into the parsed string; NULL when the part is absent */
  size_t len;
} eddy_url_str_t;

typedef struct eddy_url_s {
  eddy_url_scheme_t scheme;
  eddy_url_str_t userinfo; /* without the '@'; absent unless allowed */
  eddy_url_str_t host;     /* as written, without the brackets of IPv6 */
  int host_is_ipv6;        /* the host was a bracketed IPv6 literal */
  uint16_t port;           /* the port given, or the scheme's default */
  int port_given;          /* a non-empty port was written */
  eddy_url_str_t path;     /* as written (encoded); len 0 when empty */
  eddy_url_str_t query;    /* after '?', without it; absent when no '?' */
  eddy_url_str_t fragment; /* after '#', without it; absent when no '#' */
} eddy_url_t;

typedef struct eddy_url_error_s {
  size_t pos;        /* byte offset where the problem is */
  char message[128]; /* e.g. "invalid character in path" */
} eddy_url_error_t;

/* Parses s[0..len) (a NUL byte inside is an error, not an end). Returns 0
 * and fills *url; EDDY_EPARSE for a malformed URL; UV_EPROTONOSUPPORT for
 * https:// and wss:// (message says TLS is missing); UV_EINVAL when s or url
 * is NULL. On failure *url is left untouched
 * and *err (may be NULL) says where and why. */
int eddy_url_parse(const char *s, size_t len, unsigned flags, eddy_url_t *url,
                   eddy_url_error_t *err);

/* The scheme's name in lower case ("http", "ws", ...). */
const char *eddy_url_scheme_name(eddy_url_scheme_t scheme);

/* Writes the origin-form request target: path (or "/" when empty), then
 * "?query" when a query is present. Returns the full length (like snprintf:
 * truncated to size - 1 bytes and NUL-terminated when size > 0). */
int eddy_url_target(const eddy_url_t *url, char *buf, size_t size);

/* Writes the Host header value: the host (bracketed when IPv6), then ":port"
 * when the port is not the scheme's default. Returns the full length, like
 * eddy_url_target. */
int eddy_url_authority(const eddy_url_t *url, char *buf, size_t size);

/* Resolves the reference ref[0..ref_len) (absolute, "//host/p", "/p", "p",
 * "?q", "" ...) against base, as RFC 3986 section 5.2 says, and writes the
 * absolute URL without any fragment to buf, NUL-terminated. The result is
 * not parsed: give it to eddy_url_parse, which checks its scheme and host.
 * Returns its length; EDDY_EPARSE when ref holds a character a URL may not
 * (or a bad %XX); UV_ENOBUFS when the result needs size bytes or more or is
 * longer than EDDY_URL_MAX_LENGTH. err (may be NULL) explains a failure. */
int eddy_url_resolve(const eddy_url_t *base, const char *ref, size_t ref_len,
                     char *buf, size_t size, eddy_url_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
