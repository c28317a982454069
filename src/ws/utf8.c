/* utf8.c — streaming UTF-8 validation (eddy/utf8.h).
 *
 * Rather than decoding code points, each lead byte fixes how many
 * continuation bytes follow and the allowed range of the FIRST of them; the
 * narrowed ranges are exactly what excludes overlongs (E0, F0), surrogates
 * (ED) and values above U+10FFFF (F4). Later continuations are 80..BF. */
#include "eddy/utf8.h"

#include <string.h>

void eddy_utf8_init(eddy_utf8_t *v) {
  memset(v, 0, sizeof *v);
}

static int lead(eddy_utf8_t *v, uint8_t c) {
  v->lo = 0x80;
  v->hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    v->need = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    v->need = 2;
    if (c == 0xE0)
      v->lo = 0xA0; /* below: overlong */
    else if (c == 0xED)
      v->hi = 0x9F; /* above: surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    v->need = 3;
    if (c == 0xF0)
      v->lo = 0x90; /* below: overlong */
    else if (c == 0xF4)
      v->hi = 0x8F; /* above: > U+10FFFF */
  } else {
    return -1; /* 80..C1 (stray continuation, overlong 2-byte), F5..FF */
  }
  return 0;
}

int eddy_utf8_feed(eddy_utf8_t *v, const void *p, size_t n) {
  const uint8_t *s = p;
  size_t i = 0;
  if (v->bad)
    return EDDY_UTF8_INVALID;
  while (i < n) {
    if (v->need == 0) {
      /* Text is mostly ASCII: skip it eight bytes at a time. */
      while (n - i >= 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & UINT64_C(0x8080808080808080))
          break;
        i += 8;
      }
      if (i == n)
        break;
      uint8_t c = s[i++];
      if (c < 0x80)
        continue;
      if (lead(v, c) < 0) {
        v->bad = 1;
        return EDDY_UTF8_INVALID;
      }
    } else {
      uint8_t c = s[i++];
      if (c < v->lo || c > v->hi) {
        v->bad = 1;
        return EDDY_UTF8_INVALID;
      }
      v->need--;
      v->lo = 0x80;
      v->hi = 0xBF;
    }
  }
  return v->need ? EDDY_UTF8_PARTIAL : EDDY_UTF8_OK;
}

int eddy_utf8_finish(const eddy_utf8_t *v) {
  return (v->bad || v->need) ? EDDY_UTF8_INVALID : 0;
}

int eddy_utf8_valid(const void *p, size_t n) {
  eddy_utf8_t v;
  eddy_utf8_init(&v);
  eddy_utf8_feed(&v, p, n);
  return eddy_utf8_finish(&v);
}
