/* fuzz_rt_namespace.c — libFuzzer driver for namespace specs.
 *
 * A spec is parsed (as a C string: the input up to its first NUL). A
 * refusal must come with a message; an accepted spec must format back
 * into a spec that parses to the same namespace. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/realtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *spec = malloc(size + 1);
  if (spec == NULL)
    return 0;
  memcpy(spec, data, size);
  spec[size] = '\0';
  eddy_rt_namespace_t a, b;
  char err[160], buf[256];
  int rc = eddy_rt_namespace_parse(spec, &a, err, sizeof(err));
  free(spec);
  if (rc != 0) {
    if (rc != -1 || err[0] == '\0')
      abort();
    return 0;
  }
  if (eddy_rt_namespace_format(&a, buf, sizeof(buf)) != 0)
    abort();
  if (eddy_rt_namespace_parse(buf, &b, err, sizeof(err)) != 0)
    abort();
  if (strcmp(a.name, b.name) != 0 || a.history_size != b.history_size ||
      a.history_ttl_ms != b.history_ttl_ms || a.presence != b.presence ||
      a.join_leave != b.join_leave || a.publish != b.publish)
    abort();
  return 0;
}
