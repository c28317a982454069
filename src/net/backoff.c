/* backoff.c — the delay before each reconnection attempt.
 *
 * Pure arithmetic on doubles, so a huge attempt count saturates instead of
 * wrapping, and the clamp to max happens before any conversion back to an
 * integer (converting a double that does not fit in uint64_t would be
 * undefined behaviour).
 */
#include <math.h>
#include <stdint.h>

#include "eddy/reconnect.h"

void eddy_backoff_init(eddy_backoff_t *b) {
  b->initial_ms = 1000;
  b->max_ms = 60000;
  b->factor = 2.0;
  b->jitter = 0.1;
}

uint64_t eddy_backoff_delay(const eddy_backoff_t *b, unsigned attempt,
                            double u) {
  /* Out-of-range parameters are clamped rather than refused: this is called
   * from timer paths that have no way to report an error. NaN fails every
   * comparison, hence the negated tests. */
  double factor = b->factor;
  if (!(factor >= 1.0))
    factor = 1.0;
  double jitter = b->jitter;
  if (!(jitter >= 0.0))
    jitter = 0.0;
  if (jitter > 1.0)
    jitter = 1.0;
  if (!(u >= 0.0))
    u = 0.0;
  if (u >= 1.0)
    u = nextafter(1.0, 0.0);

  if (b->initial_ms == 0 || b->max_ms == 0)
    return 0;

  /* 1 + jitter * (2u - 1) lies in [1 - jitter, 1 + jitter). */
  double mult = 1.0 + jitter * (2.0 * u - 1.0);
  if (mult <= 0.0)
    return 0; /* also avoids inf * 0 = NaN below */

  double growth = 1.0;
  if (factor > 1.0) {
    /* Cap the exponent where factor^n reaches 2^128: a positive multiplier
     * is at least 2^-53 (the smallest step below 1.0), so from there on the
     * product exceeds 2^75 > any max and the result is max whatever n is.
     * The cap keeps pow() from overflowing (and setting errno) without
     * changing any result. */
    double n = (double)attempt;
    double cap = ceil(128.0 * log(2.0) / log(factor)) + 1.0;
    if (n > cap)
      n = cap;
    growth = pow(factor, n);
  }

  double d = (double)b->initial_ms * growth * mult;
  double max = (double)b->max_ms;
  if (!(d < max))
    return b->max_ms;
  /* d < max <= 2^64, so the conversion is defined; the final min guards the
   * case where max itself was rounded up when converted to double. */
  uint64_t v = (uint64_t)d;
  return v > b->max_ms ? b->max_ms : v;
}
