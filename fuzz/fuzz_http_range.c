/* fuzz_http_range.c — libFuzzer driver for the pure helpers of static file
 * serving: the Range header, entity-tag lists and HTTP dates.
 *
 * The first byte picks a file size from a small table (0, 1, small, huge,
 * UINT64_MAX); the rest is the header value, parsed from an exact-size heap
 * copy so any over-read is caught. Checked: a single range lies inside the
 * file; the answer does not depend on bytes past the length given; a date
 * that parses formats back to a date that parses to the same instant. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/http_server.h"
#include "eddy/http_static.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint64_t sizes[] = {
    0,         1, 2, 10, 500, 10000, 1u << 20, UINT64_MAX / 2, UINT64_MAX - 1,
    UINT64_MAX};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  uint64_t fsize = sizes[data[0] % (sizeof(sizes) / sizeof(sizes[0]))];
  size_t n = size - 1;
  char *v = malloc(n ? n : 1);
  if (v == NULL)
    abort();
  memcpy(v, data + 1, n);

  uint64_t a = 0, b = 0;
  eddy_range_result_t rc = eddy_http_range_parse(v, n, fsize, &a, &b);
  if (rc == EDDY_RANGE_SINGLE && !(a <= b && b < fsize))
    abort();
  /* The same bytes followed by junk in a bigger buffer, length unchanged:
   * the same answer. */
  char *padded = malloc(n + 8);
  if (padded == NULL)
    abort();
  memcpy(padded, v, n);
  memset(padded + n, '9', 8);
  uint64_t a2 = 0, b2 = 0;
  if (eddy_http_range_parse(padded, n, fsize, &a2, &b2) != rc ||
      (rc == EDDY_RANGE_SINGLE && (a != a2 || b != b2)))
    abort();
  free(padded);

  int m1 = eddy_http_etag_match(v, n, "\"1f-3e8-6553f100.5\"", 0);
  int m2 = eddy_http_etag_match(v, n, "\"1f-3e8-6553f100.5\"", 1);
  if (m2 && !m1)
    abort(); /* a strong match is also a weak one */

  int64_t t;
  if (eddy_http_date_parse(v, n, &t) == 0) {
    char buf[EDDY_HTTP_DATE_SIZE];
    int64_t t2;
    if (eddy_http_date_format(t, buf, sizeof(buf)) != 29 ||
        eddy_http_date_parse(buf, 29, &t2) != 0 || t2 != t)
      abort();
  }
  (void)eddy_mime_type(n > 0 && v[n - 1] == '\0' ? v : "x.html");
  free(v);
  return 0;
}
