/* eddy/http_form.h — query strings and urlencoded forms as multi-value maps.
 *
 * One format serves both: application/x-www-form-urlencoded, the text after
 * '?' in a URL and the body an HTML form posts. Pairs are separated by '&',
 * a key from its value by the first '=', '+' stands for a space and %XX for
 * the byte 0xXX (hex digits of either case).
 *
 * STRICTNESS (the choices, where the WHATWG parser is lenient):
 *   - a '%' not followed by two hex digits is an error (EDDY_EPARSE), where
 *     browsers would keep it literally: a form that cannot be read exactly
 *     is refused rather than guessed at;
 *   - a raw control byte (0x00-0x1F, 0x7F) in the input is an error: every
 *     client encodes them;
 *   - a key that decodes to a NUL byte (%00) is an error, so keys are plain
 *     C strings; VALUES may hold any byte, NUL included: every value has an
 *     explicit length (and is also followed by a NUL not counted in it, for
 *     the common text case). Bytes are not checked to be UTF-8 (use
 *     eddy/utf8.h when that matters).
 * Empty pieces ("a=1&&b=2", a trailing '&') are skipped; a piece without
 * '=' is a key with the empty value ("flag" -> flag=""); "=x" is the empty
 * key with value "x". A repeated key keeps every value, in input order.
 *
 * LIMITS: at most max_pairs pairs, keys of at most max_key bytes and values
 * of at most max_value bytes (decoded). Going past one is an error, never a
 * truncation.
 *
 * OWNERSHIP: eddy_form_t is library-owned (eddy_form_parse / eddy_form_new
 * make one, eddy_form_free frees it). Every pointer a lookup returns points
 * into the form and stays valid until the form is freed; adding pairs does
 * not move earlier ones. A form is not thread-safe; it uses no reactor.
 */
#ifndef EDDY_HTTP_FORM_H
#define EDDY_HTTP_FORM_H

#include <stddef.h>

#include "buffer.h"
#include "http_server.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_form_s eddy_form_t;

#define EDDY_FORM_MAX_PAIRS_DEFAULT 1000u
#define EDDY_FORM_MAX_KEY_DEFAULT 1024u
#define EDDY_FORM_MAX_VALUE_DEFAULT ((size_t)1024u * 1024u)

/* 0 in a field means its default. */
typedef struct {
  size_t max_pairs;
  size_t max_key;   /* bytes of one decoded key */
  size_t max_value; /* bytes of one decoded value */
} eddy_form_limits_t;

/* What went wrong, ready for an error response:
 * eddy_http_respond_error(req, err.status, err.text). */
typedef struct {
  int status;     /* the HTTP status to answer: 400, 413, 414, 415 or 500 */
  size_t offset;  /* byte offset of the problem in the input (0 if none) */
  char text[128]; /* one line, e.g. "invalid percent escape at byte 7" */
} eddy_form_error_t;

/* Parses s[0..len) (s need not be NUL-terminated; len 0 gives an empty
 * form). limits and err may be NULL. Returns 0 and *out (free it with
 * eddy_form_free), or, with *out set to NULL and err filled:
 *   EDDY_EPARSE  bad percent escape, raw control byte, NUL in a key (400)
 *   UV_E2BIG     more than max_pairs pairs (413)
 *   UV_EMSGSIZE  a key or a value over its limit (413)
 *   UV_ENOMEM    (500) */
int eddy_form_parse(const char *s, size_t len, const eddy_form_limits_t *limits,
                    eddy_form_t **out, eddy_form_error_t *err);

/* An empty form to fill with eddy_form_add (to build a query string or a
 * body for the HTTP client). limits may be NULL. 0 or UV_ENOMEM. */
int eddy_form_new(const eddy_form_limits_t *limits, eddy_form_t **out);
/* NULL is allowed. */
void eddy_form_free(eddy_form_t *f);

/* Appends a pair; key and value are copied. value may hold any byte
 * (value_len explicit; value may be NULL when value_len is 0). Returns 0,
 * UV_EINVAL (NULL key), UV_E2BIG (max_pairs), UV_EMSGSIZE (a limit on
 * sizes) or UV_ENOMEM; on error the form is unchanged. */
int eddy_form_add(eddy_form_t *f, const char *key, const void *value,
                  size_t value_len);
/* The same with a NUL-terminated value. */
int eddy_form_add_str(eddy_form_t *f, const char *key, const char *value);

/* Number of pairs (all keys, repeats counted). */
size_t eddy_form_count(const eddy_form_t *f);
/* The i-th pair in order: 0, or UV_ENOENT past the end. Any out pointer
 * may be NULL. */
int eddy_form_at(const eddy_form_t *f, size_t i, const char **key,
                 const char **value, size_t *value_len);
/* The first value of key (compared bytewise, case-sensitive), or NULL when
 * the key is absent; value_len may be NULL. Lookups scan the pairs (at most
 * max_pairs). */
const char *eddy_form_get(const eddy_form_t *f, const char *key,
                          size_t *value_len);
/* How many values key has (0 when absent). */
size_t eddy_form_count_of(const eddy_form_t *f, const char *key);
/* The n-th value (from 0) of key, or NULL when it has fewer. */
const char *eddy_form_get_nth(const eddy_form_t *f, const char *key, size_t n,
                              size_t *value_len);

/* Appends the form, encoded, to out ("a=1&b=x+y&c=%2F"): bytes other than
 * ALPHA, DIGIT and "*-._" become %XX (uppercase hex), space becomes '+'.
 * Returns 0 or the buffer's error (UV_ENOBUFS past its max, UV_ENOMEM); on
 * error out may hold part of the encoding. */
int eddy_form_encode(const eddy_form_t *f, eddy_buf_t *out);
/* Appends one component (a key or a value) encoded the same way. */
int eddy_form_escape(eddy_buf_t *out, const void *s, size_t len);

/* ---- Requests ------------------------------------------------------------
 * Both return what eddy_form_parse returns; err (may be NULL) then carries
 * the status to answer. */

/* Parses the request's query string (eddy_http_query). Limit errors are
 * reported with status 414 (the query is part of the URI). */
int eddy_http_query_form(const eddy_http_request_t *req,
                         const eddy_form_limits_t *limits, eddy_form_t **out,
                         eddy_form_error_t *err);
/* Parses the request's body as a form. The Content-Type must be
 * application/x-www-form-urlencoded (parameters such as charset allowed,
 * case-insensitive); otherwise (or when absent) UV_ENOTSUP, status 415. */
int eddy_http_body_form(const eddy_http_request_t *req,
                        const eddy_form_limits_t *limits, eddy_form_t **out,
                        eddy_form_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
