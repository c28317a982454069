/* clock.c — the microsecond clock services feed histograms with. */
#include <uv.h>

#include "eddy/metrics.h"

uint64_t eddy_metrics_now_us(const eddy_reactor_t *r) {
  /* A fake clock only moves by whole milliseconds; a real one is read
   * finer than the loop's cached millisecond, which would make most
   * requests last 0. uv_hrtime is the clock uv_now is cached from. */
  if (r == NULL)
    return uv_hrtime() / 1000u;
  if (eddy_reactor_is_fake(r))
    return eddy_reactor_now(r) * 1000u;
  return uv_hrtime() / 1000u;
}
