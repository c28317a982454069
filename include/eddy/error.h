/* eddy/error.h — one vocabulary of errors.
 *
 * Every eddy function that can fail returns 0 (or a non-negative count) on
 * success and a negative int on failure. The negative values are libuv's
 * (UV_ENOMEM, UV_ECONNREFUSED, UV_ECANCELED, ...) plus eddy's own, which live
 * in a range below libuv's so the two never collide.
 */
#ifndef EDDY_ERROR_H
#define EDDY_ERROR_H

#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* eddy's own codes: name, value, message. */
#define EDDY_ERRNO_MAP(XX)                                                     \
  XX(EALREADYCALLED, -30001, "deferred already fired")                         \
  XX(EPARSE, -30002, "parse error")                                            \
  XX(ELINETOOLONG, -30003, "line too long")                                    \
  XX(EPROCEXIT, -30004, "process exited with a non-zero status")               \
  XX(EPROCSIGNAL, -30005, "process was killed by a signal")                    \
  XX(ESTOPPED, -30006, "stopped before completion")                            \
  XX(EBUSYCLOSE, -30007, "handles or work still open")                         \
  XX(EFAKECLOCK, -30008, "operation needs a fake clock")

enum {
#define EDDY__ERR_ENUM(name, value, msg) EDDY_##name = (value),
  EDDY_ERRNO_MAP(EDDY__ERR_ENUM)
#undef EDDY__ERR_ENUM
};

/* A human-readable message for err (libuv's or eddy's). Never NULL. Static
 * for known codes; for unknown ones valid until the thread's next call. */
const char *eddy_strerror(int err);

/* A symbolic name such as "ECONNREFUSED" or "EPARSE" (same lifetime rule).
 */
const char *eddy_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
