/* eddy/http_cookie.h — reading Cookie headers, writing Set-Cookie headers.
 *
 * READING (RFC 6265 section 4.2 and 5.4): a Cookie header is a list of
 * name=value pairs separated by ';'. Browsers send "a=1; b=2", but what they
 * send back is whatever servers set, so reading is tolerant: spaces and tabs
 * around names, values and separators are ignored; a value wrapped in one
 * pair of double quotes is returned without them; a name or value may hold
 * any byte but a control byte, ';' (and '=' in names); pieces with no '='
 * or an empty name are skipped, as are empty pieces. It is strict where
 * tolerance would hide an attack: a control byte (other than HTAB) anywhere
 * is an error (EDDY_EPARSE). Repeated names are all kept, in order;
 * browsers send the most specific (longest Path) first, so a lookup returns
 * the first.
 *
 * WRITING (RFC 6265 section 4.1): eddy_cookie_format validates every field
 * and refuses what a browser would drop or misread, with a reason:
 * the name must be a token, the value cookie-octets (no space, DQUOTE,
 * ',', ';' or '\'; encode other data yourself, e.g. base64url), SameSite=None
 * needs Secure, and the "__Secure-" and "__Host-" name prefixes get their
 * rules checked.
 *
 * OWNERSHIP: nothing here allocates except into an eddy_buf_t you pass.
 * Parsed names and values point into the header you parsed (not
 * NUL-terminated; lengths explicit) and live as long as it does. Reasons
 * (const char **why) are static strings.
 */
#ifndef EDDY_HTTP_COOKIE_H
#define EDDY_HTTP_COOKIE_H

#include <stddef.h>
#include <stdint.h>

#include "buffer.h"
#include "http_server.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Reading ------------------------------------------------------------ */

typedef struct {
  const char *name; /* into the parsed header; not NUL-terminated */
  size_t name_len;
  const char *value; /* into the parsed header, quotes removed */
  size_t value_len;
} eddy_cookie_pair_t;

/* Parses the value of one Cookie header, h[0..len), into pairs[0..cap).
 * Returns the number of pairs (>= 0), EDDY_EPARSE (a control byte; pairs
 * untouched) or UV_E2BIG (more than cap pairs; pairs holds the first cap).
 * pairs may be NULL when cap is 0. Pure: no allocation. */
int eddy_cookie_parse(const char *h, size_t len, eddy_cookie_pair_t *pairs,
                      size_t cap);

/* Finds the first cookie called name in h[0..len): 0 and *value /
 * *value_len (pointing into h), UV_ENOENT when absent, EDDY_EPARSE when the
 * header is malformed (see above). No limit on the number of pairs. */
int eddy_cookie_find(const char *h, size_t len, const char *name,
                     const char **value, size_t *value_len);

/* The first cookie called name among the request's Cookie headers (all of
 * them, in order: HTTP/2 proxies may split them). *value points into the
 * request's header (valid until the response finishes) and is NOT
 * NUL-terminated: use *value_len. Returns 0, UV_ENOENT or EDDY_EPARSE. */
int eddy_http_cookie(const eddy_http_request_t *req, const char *name,
                     const char **value, size_t *value_len);

/* ---- Writing ------------------------------------------------------------ */

typedef enum {
  EDDY_COOKIE_SAMESITE_DEFAULT = 0, /* no attribute: the browser decides */
  EDDY_COOKIE_SAMESITE_STRICT,
  EDDY_COOKIE_SAMESITE_LAX,
  EDDY_COOKIE_SAMESITE_NONE, /* requires EDDY_COOKIE_SECURE */
} eddy_cookie_samesite_t;

/* Flags. */
#define EDDY_COOKIE_SECURE 0x1u
#define EDDY_COOKIE_HTTP_ONLY 0x2u
#define EDDY_COOKIE_MAX_AGE 0x4u /* max_age is meaningful */
#define EDDY_COOKIE_EXPIRES 0x8u /* expires is meaningful */

/* The largest Max-Age accepted: RFC 6265bis caps cookies at 400 days. */
#define EDDY_COOKIE_MAX_AGE_LIMIT ((int64_t)400 * 24 * 3600)

/* A zeroed struct plus name and value is a session cookie with no
 * attributes. Strings are borrowed for the call only. */
typedef struct {
  const char *name;   /* a token; required */
  const char *value;  /* cookie-octets; NULL means "" */
  const char *path;   /* NULL: none; no control byte or ';' */
  const char *domain; /* NULL: none; letters, digits, '-', '.' */
  int64_t max_age;    /* seconds, 0..EDDY_COOKIE_MAX_AGE_LIMIT (0 deletes) */
  int64_t expires;    /* Unix time, year 1970..9999, sent as IMF-fixdate */
  unsigned flags;     /* EDDY_COOKIE_* */
  eddy_cookie_samesite_t samesite;
} eddy_cookie_t;

/* Appends the Set-Cookie header value for c to out, e.g.
 * "sid=abc; Path=/; Max-Age=3600; Secure; HttpOnly; SameSite=Lax".
 * Returns 0; UV_EINVAL with *why (may be NULL) a static reason ("cookie
 * name is not a token", ...) and out unchanged; or the buffer's error
 * (UV_ENOBUFS, UV_ENOMEM), out unchanged. */
int eddy_cookie_format(const eddy_cookie_t *c, eddy_buf_t *out,
                       const char **why);

/* Formats c and adds it to the response as a Set-Cookie header. Returns 0,
 * UV_EINVAL (with *why as above, or a reason from eddy_http_add_header),
 * or what eddy_http_add_header returns (UV_EALREADY once the head was sent,
 * UV_ENOBUFS). */
int eddy_http_set_cookie(eddy_http_request_t *req, const eddy_cookie_t *c,
                         const char **why);

#ifdef __cplusplus
}
#endif

#endif
