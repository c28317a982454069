/* eddy/http_json.h — JSON request bodies and JSON responses (jansson).
 *
 * READING: the body must be labelled application/json (or a "+json" type
 * such as application/problem+json; parameters allowed, a charset must be
 * utf-8) and hold exactly one JSON text (RFC 8259: any value at the top,
 * UTF-8, surrounding whitespace allowed). Stricter than jansson's defaults
 * where ambiguity could be abused: a repeated key in an object is an error
 * (two parsers could keep different ones), and so is "\u0000" in a string.
 * Nesting is bounded by jansson (2048 levels); the size by the server's
 * max_body. Errors carry a message with jansson's line and column, short
 * enough for a 400 body.
 *
 * WRITING: values are serialised compactly (no spaces), keys in insertion
 * order, as UTF-8, with Content-Type "application/json". The serialised
 * text is handed to the server without another copy.
 *
 * OWNERSHIP follows jansson's naming: a function ending in "_new" STEALS
 * the reference it is given (like json_object_set_new): it is released
 * even when the call fails. The others borrow it. A json_t given back in
 * *out is a new reference: json_decref it.
 */
#ifndef EDDY_HTTP_JSON_H
#define EDDY_HTTP_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "http_server.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EDDY_JSON_CONTENT_TYPE "application/json"

/* What went wrong, ready for an error response:
 * eddy_http_respond_error(req, err.status, err.text), or
 * eddy_http_respond_json_error(req, err.status, err.text). */
typedef struct {
  int status;      /* the HTTP status to answer: 400, 415 or 500 */
  int line;        /* jansson's position of a syntax error (1-based), */
  int column;      /* 0 for other errors */
  size_t position; /* byte offset of a syntax error */
  char text[256];  /* e.g. "invalid JSON at line 1, column 9: ..." */
} eddy_json_error_t;

/* Parses s[0..len) (need not be NUL-terminated) as one JSON text. err may
 * be NULL. Returns 0 and *out (a new reference), or, with *out NULL:
 * EDDY_EPARSE (syntax, encoding, duplicate key, "\u0000"; status 400) or
 * UV_ENOMEM (500). */
int eddy_json_parse(const char *s, size_t len, json_t **out,
                    eddy_json_error_t *err);

/* Whether a Content-Type value names JSON (see above); NULL gives 0. */
int eddy_json_is_json_type(const char *content_type);

/* Parses the request's body (eddy_http_body). Returns what eddy_json_parse
 * returns, or UV_ENOTSUP (status 415) when the Content-Type is absent or
 * not JSON. An empty body is EDDY_EPARSE (400). */
int eddy_http_body_json(const eddy_http_request_t *req, json_t **out,
                        eddy_json_error_t *err);

/* Serialises json (compact) and appends it to out. Returns 0, UV_EINVAL
 * (json is NULL or cannot be serialised), or the buffer's error. Borrows
 * json. */
int eddy_json_encode(const json_t *json, eddy_buf_t *out);

/* Answers with status and json as the body, Content-Type application/json,
 * and finishes the request — in every case: when json cannot be serialised
 * (NULL, or jansson refuses it) the answer is a 500 and UV_EINVAL is
 * returned; otherwise the result of eddy_http_respond_slice. The _new form
 * steals the reference (so handlers can write
 * eddy_http_respond_json_new(req, 200, json_pack("{s:i}", "n", 1))), the
 * other borrows it. */
int eddy_http_respond_json(eddy_http_request_t *req, int status,
                           const json_t *json);
int eddy_http_respond_json_new(eddy_http_request_t *req, int status,
                               json_t *json);

/* Answers {"error": message} (message NULL: the status's reason phrase)
 * with status, and finishes the request. */
int eddy_http_respond_json_error(eddy_http_request_t *req, int status,
                                 const char *message);

#ifdef __cplusplus
}
#endif

#endif
