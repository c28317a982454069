/* error.c — messages and names for libuv's codes and eddy's own. */
#include "eddy/error.h"

/* libuv's own *_r functions copy even its known messages into the caller's
 * buffer, so two calls in one printf would show the same text. Known codes
 * (eddy's and those of the libuv we were built with) get static strings;
 * only unknown codes use the per-thread buffer. */
const char *eddy_strerror(int err) {
  switch (err) {
#define EDDY__ERR_MSG(name, value, msg)                                        \
  case EDDY_##name:                                                            \
    return msg;
    EDDY_ERRNO_MAP(EDDY__ERR_MSG)
#undef EDDY__ERR_MSG
#define EDDY__UV_MSG(name, msg)                                                \
  case UV_##name:                                                              \
    return msg;
    UV_ERRNO_MAP(EDDY__UV_MSG)
#undef EDDY__UV_MSG
  case 0:
    return "success";
  default:
    break;
  }
  static _Thread_local char buf[80];
  return uv_strerror_r(err, buf, sizeof(buf));
}

const char *eddy_err_name(int err) {
  switch (err) {
#define EDDY__ERR_NAME(name, value, msg)                                       \
  case EDDY_##name:                                                            \
    return #name;
    EDDY_ERRNO_MAP(EDDY__ERR_NAME)
#undef EDDY__ERR_NAME
#define EDDY__UV_NAME(name, msg)                                               \
  case UV_##name:                                                              \
    return #name;
    UV_ERRNO_MAP(EDDY__UV_NAME)
#undef EDDY__UV_NAME
  case 0:
    return "OK";
  default:
    break;
  }
  static _Thread_local char buf[80];
  return uv_err_name_r(err, buf, sizeof(buf));
}
