/* eddy/utf8.h — a streaming UTF-8 validator.
 *
 * Text WebSocket messages must be valid UTF-8 as a whole, but they arrive in
 * fragments split at arbitrary byte positions, and a receiver must fail as
 * soon as the stream can no longer become valid (RFC 6455 8.1, "fail fast").
 * The validator therefore carries the state of a partial sequence across
 * calls and reports "valid so far, but in the middle of a character"
 * separately from "valid and complete", so the last fragment can be checked.
 *
 * Rejected: stray continuation bytes, C0/C1/F5..FF lead bytes, overlong
 * forms, UTF-16 surrogates (U+D800..U+DFFF) and anything above U+10FFFF.
 * The state is a plain caller-owned struct: no allocation, no I/O.
 */
#ifndef EDDY_UTF8_H
#define EDDY_UTF8_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Results of eddy_utf8_feed / eddy_utf8_valid. */
enum {
  EDDY_UTF8_INVALID = -1, /* can never become valid; sticky */
  EDDY_UTF8_OK = 0,       /* valid so far and at a character boundary */
  EDDY_UTF8_PARTIAL = 1,  /* valid so far, but inside a multi-byte sequence */
};

/* Validator state. Zero-initialised (or eddy_utf8_init) means "at the start
 * of a character". Fields are private. */
typedef struct {
  uint8_t need; /* continuation bytes still expected */
  uint8_t lo;   /* allowed range of the next continuation byte */
  uint8_t hi;
  uint8_t bad; /* an invalid byte was seen */
} eddy_utf8_t;

void eddy_utf8_init(eddy_utf8_t *v);

/* Validates n more bytes of the stream. Returns EDDY_UTF8_OK, _PARTIAL or
 * _INVALID; once _INVALID, every later call returns _INVALID too. */
int eddy_utf8_feed(eddy_utf8_t *v, const void *p, size_t n);

/* The stream ends here: 0 if everything fed was valid and complete,
 * EDDY_UTF8_INVALID otherwise (including a truncated last character). */
int eddy_utf8_finish(const eddy_utf8_t *v);

/* One-shot check of a complete string: 0 if valid, EDDY_UTF8_INVALID if not
 * (a truncated final character counts as invalid). */
int eddy_utf8_valid(const void *p, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* EDDY_UTF8_H */
