/* error.c — messages and names for libuv's codes and eddy's own. */
#include "eddy/error.h"

const char *eddy_strerror(int err) {
  switch (err) {
#define EDDY__ERR_MSG(name, value, msg)                                        \
  case EDDY_##name:                                                            \
    return msg;
    EDDY_ERRNO_MAP(EDDY__ERR_MSG)
#undef EDDY__ERR_MSG
  case 0:
    return "success";
  default:
    break;
  }
  /* uv_strerror allocates (and leaks) a string for codes it does not know;
   * the _r variant writes into our per-thread buffer instead. */
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
  case 0:
    return "OK";
  default:
    break;
  }
  static _Thread_local char buf[80];
  return uv_err_name_r(err, buf, sizeof(buf));
}
