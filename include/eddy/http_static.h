/* eddy/http_static.h — serve a directory over HTTP, the way
 * `twistd web --path DIR` does; and the pure helpers it is built on (Range
 * header, entity tags, parsing HTTP dates, MIME types).
 *
 * WHAT IS SERVED. eddy_static_handler answers GET and HEAD (anything else:
 * 405 with "Allow: GET, HEAD") for the request's path — or, when a router
 * set the "path" parameter (eddy_http_param; e.g. the route "/static/" "*path"
 * of eddy/http_router.h), for that decoded sub-path, so the handler can be
 * mounted under a prefix (Location headers and listing titles still use the
 * full path):
 *  - a regular file: 200 with Content-Type (by extension, see
 *    eddy_mime_type), Content-Length, Last-Modified, ETag, Accept-Ranges,
 *    X-Content-Type-Options: nosniff and, with max_age, Cache-Control;
 *  - a directory asked without its trailing slash: 301 to the same path
 *    with one (the query kept);
 *  - a directory: its first existing index file (index.html by default),
 *    else an HTML listing (names HTML-escaped, links percent-encoded, dot
 *    files left out unless served, at most max_listing entries), else 403
 *    when listings are off;
 *  - anything else (missing, a device, a FIFO, a socket, outside the root,
 *    a hidden name): 404; unreadable: 403.
 *
 * CONDITIONAL REQUESTS (RFC 9110 section 13.2.2 order): If-Match (strong
 * comparison, 412), If-Unmodified-Since when there is no If-Match (412),
 * If-None-Match (weak comparison, 304), If-Modified-Since when there is no
 * If-None-Match (304). A 304 carries ETag, Last-Modified and Cache-Control.
 *
 * RANGES (GET only; HEAD ignores Range as RFC 9110 section 14.2 asks): one
 * range "bytes=a-b", "bytes=a-" or "bytes=-n" is answered 206 with
 * Content-Range; a Range none of whose ranges can be satisfied gets 416
 * with "Content-Range: bytes * / SIZE" (no spaces); SEVERAL satisfiable
 * ranges are answered with the whole file (200) — allowed by the RFC, and
 * it spares multipart/byteranges; so is a zero-length file; a malformed
 * Range or another unit is ignored (200). If-Range (an entity tag compared
 * strongly, or a date equal to Last-Modified) turns a stale range request
 * into a 200.
 *
 * NO PATH OUTSIDE THE ROOT. The path (already percent-decoded by the
 * server, once: "%252e" stays the literal name "%2e") is split on '/';
 * empty and "." segments are skipped; a ".." segment, a backslash, a
 * segment longer than 255 bytes or a path longer than 4096 bytes gets 404,
 * and so does a segment starting with '.' unless dotfiles is set. Symbolic
 * links are followed only while the resolved file stays inside the root:
 * on Linux every open goes through openat2(2) with RESOLVE_BENEATH relative
 * to a descriptor of the root opened once, so the kernel itself refuses an
 * escape, atomically (no check-then-open race); it also refuses absolute
 * link targets, even ones that point back inside. Where openat2 is missing
 * (or with portable_resolve) the path is resolved with realpath(3), must
 * lie inside the root's real path, and that path is then opened with
 * O_NOFOLLOW — correct, but a local user who can swap a directory for a
 * symlink between the check and the open could race it. Files are opened
 * non-blocking (a FIFO cannot stall a worker) and must be regular files.
 *
 * I/O. The loop thread never touches the file system while serving: the
 * path is resolved (and a listing built) on libuv's thread pool, and a file
 * is read with uv_fs_read in chunks of chunk_size, each read started only
 * once the connection is writable again (eddy_http_writable /
 * eddy_http_on_writable), so a slow client holds at most about one chunk
 * plus the transport's high water mark in memory. A client that goes away
 * stops the transfer at the next chunk (eddy_http_on_close). Each chunk is
 * handed to the server as a slice, without a copy. A file that shrinks
 * while it is sent ends the response short (the server then closes the
 * connection, so the client sees a truncated body, never wrong bytes
 * silently appended).
 *
 * OWNERSHIP. eddy_static_new copies root and the configuration; eddy_static_t
 * is library-owned. eddy_static_free may be called at any time on the loop
 * thread: requests already being served hold a reference and finish
 * normally; the root's descriptor and the memory go when the last of them
 * finishes. After free, the handler must not be called with it again (stop
 * routing to it first). While it (or a request it serves) lives, the
 * reactor counts it as open, so eddy_reactor_free reports a leak.
 */
#ifndef EDDY_HTTP_STATIC_H
#define EDDY_HTTP_STATIC_H

#include <stddef.h>
#include <stdint.h>

#include "http_server.h"
#include "reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_static_s eddy_static_t;

#define EDDY_STATIC_CHUNK_DEFAULT ((size_t)128u * 1024u)
#define EDDY_STATIC_CHUNK_MIN ((size_t)4096u)
#define EDDY_STATIC_CHUNK_MAX ((size_t)4u * 1024u * 1024u)
#define EDDY_STATIC_MAX_LISTING_DEFAULT 10000u
#define EDDY_STATIC_MAX_INDEX_NAMES 16u

/* Zero in every field means its default. */
typedef struct {
  /* Index file names tried in order, NULL-terminated; NULL means
   * {"index.html", NULL}; a list whose first element is NULL means none.
   * At most EDDY_STATIC_MAX_INDEX_NAMES, each a plain name (no '/'). */
  const char *const *index_names;
  int no_listing;     /* answer 403 for a directory without an index */
  int dotfiles;       /* serve (and list) names starting with '.' */
  uint32_t max_age;   /* seconds; sends "Cache-Control: max-age=N"; 0: none */
  size_t chunk_size;  /* bytes per read, clamped to [CHUNK_MIN, CHUNK_MAX] */
  size_t max_listing; /* entries in a listing; more are cut, with a note */
  /* Resolve with realpath(3) even where openat2(2) exists (see above). */
  int portable_resolve;
} eddy_static_config_t;

/* Checks that root is a directory and opens it once (synchronously: call it
 * at start-up, so a bad root is reported at once). cfg may be NULL.
 * Returns 0, UV_EINVAL (bad config: empty root, an index name with '/' or
 * too many), UV_ENOTDIR, UV_ENOMEM, or the error opening root. */
int eddy_static_new(eddy_reactor_t *r, const char *root,
                    const eddy_static_config_t *cfg, eddy_static_t **out);
/* See OWNERSHIP above. NULL is harmless. */
void eddy_static_free(eddy_static_t *s);
/* An eddy_http_handler_cb: pass the eddy_static_t as its arg. */
void eddy_static_handler(eddy_http_request_t *req, void *arg);

/* ---- Pure helpers (no I/O, no allocation; safe from any thread) -------- */

/* The Content-Type for a file name, from its extension (case-insensitive)
 * in a built-in table of common web types; text types carry
 * "; charset=utf-8". "application/octet-stream" when unknown. Static. */
const char *eddy_mime_type(const char *name);

typedef enum {
  EDDY_RANGE_IGNORE = 0,   /* send the whole representation (200) */
  EDDY_RANGE_SINGLE,       /* *first..*last (inclusive) is satisfiable: 206 */
  EDDY_RANGE_UNSATISFIABLE /* 416 with "Content-Range: bytes * / size" */
} eddy_range_result_t;

/* Evaluates a Range header value (len bytes, no NUL needed) against a
 * representation of `size` bytes. "bytes" (case-insensitive) is the only
 * unit understood; other units and malformed values are ignored; more than
 * one range is ignored unless none is satisfiable (see RANGES above); at
 * most 100 ranges are read (more: ignored). Positions that overflow 64 bits
 * saturate. On EDDY_RANGE_SINGLE, *first <= *last < size. */
eddy_range_result_t eddy_http_range_parse(const char *value, size_t len,
                                          uint64_t size, uint64_t *first,
                                          uint64_t *last);

/* A strong entity tag for a file ("\"ino-size-mtime\"", hex, with quotes),
 * written NUL-terminated into buf. Returns its length, or 0 when buf is
 * smaller than EDDY_HTTP_ETAG_MAX. */
#define EDDY_HTTP_ETAG_MAX 80u
size_t eddy_http_etag(char *buf, size_t size, uint64_t ino, uint64_t fsize,
                      int64_t mtime_sec, uint32_t mtime_nsec);
/* Whether an If-Match / If-None-Match value (len bytes: "*" or a
 * comma-separated list of entity tags, W/ prefixed or not) matches etag.
 * strong != 0: the strong comparison (weak tags never match), else the weak
 * one. A malformed list matches nothing. */
int eddy_http_etag_match(const char *list, size_t len, const char *etag,
                         int strong);

/* Parses an HTTP-date (len bytes): IMF-fixdate, and the obsolete RFC 850
 * and asctime forms recipients must accept (years 0000..9999; two-digit
 * years 70..99 are 19xx, 00..69 20xx). Formatting is eddy_http_date_format
 * (eddy/http_server.h). Returns 0 and sets *out, or
 * EDDY_EPARSE. */
int eddy_http_date_parse(const char *s, size_t len, int64_t *out);

#ifdef __cplusplus
}
#endif

#endif
