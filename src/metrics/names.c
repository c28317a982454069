/* names.c — what a metric name and a label set may be, and label escaping.
 *
 * Labels arrive preformatted, so the registry checks their syntax once at
 * creation: the renderers then copy them as they are, and a bad label set
 * fails there with NULL instead of producing text a scraper rejects. */
#include <string.h>

#include "eddy/utf8.h"
#include "metrics/names_internal.h"

static int name_start(int ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static int name_char(int ch) {
  return name_start(ch) || (ch >= '0' && ch <= '9');
}

int eddy__metrics_valid_name(const char *name) {
  if (name == NULL)
    return 0;
  size_t n = strnlen(name, EDDY_METRICS_NAME_MAX + 1);
  if (n == 0 || n > EDDY_METRICS_NAME_MAX)
    return 0;
  if (!name_start((unsigned char)name[0]) && name[0] != ':')
    return 0;
  for (size_t i = 1; i < n; i++)
    if (!name_char((unsigned char)name[i]) && name[i] != ':')
      return 0;
  return 1;
}

/* Is the key at k (length kl) among the keys before position end? */
static int seen_key(const char *labels, size_t end, const char *k, size_t kl) {
  size_t i = 0;
  while (i < end) {
    size_t ks = i;
    while (labels[i] != '=')
      i++;
    if (i - ks == kl && memcmp(labels + ks, k, kl) == 0)
      return 1;
    i += 2; /* '=' '"' */
    while (labels[i] != '"')
      i += labels[i] == '\\' ? 2 : 1;
    i += 2; /* '"' ',' */
  }
  return 0;
}

int eddy__metrics_valid_labels(const char *labels, int histogram) {
  if (labels == NULL || labels[0] == '\0')
    return 1;
  size_t n = strnlen(labels, EDDY_METRICS_LABELS_MAX + 1);
  if (n > EDDY_METRICS_LABELS_MAX || eddy_utf8_valid(labels, n) != 0)
    return 0;
  size_t i = 0;
  for (;;) {
    size_t ks = i;
    if (!name_start((unsigned char)labels[i]))
      return 0;
    while (name_char((unsigned char)labels[i]))
      i++;
    size_t kl = i - ks;
    /* "__" names are Prometheus's own; le is the histogram bucket's. */
    if (kl >= 2 && labels[ks] == '_' && labels[ks + 1] == '_')
      return 0;
    if (histogram && kl == 2 && memcmp(labels + ks, "le", 2) == 0)
      return 0;
    if (seen_key(labels, ks, labels + ks, kl))
      return 0;
    if (labels[i] != '=' || labels[i + 1] != '"')
      return 0;
    i += 2;
    while (labels[i] != '"') {
      unsigned char ch = (unsigned char)labels[i];
      if (ch == '\0' || ch == '\n')
        return 0;
      if (ch == '\\') {
        char e = labels[i + 1];
        if (e != '\\' && e != '"' && e != 'n')
          return 0;
        i++;
      }
      i++;
    }
    i++;
    if (labels[i] == '\0')
      return 1;
    if (labels[i] != ',' || labels[i + 1] == '\0')
      return 0;
    i++;
  }
}

char *eddy_metrics_escape_label(char *buf, size_t size, const char *value) {
  if (buf == NULL || size == 0)
    return buf;
  size_t o = 0;
  int cut = 0;
  if (value != NULL) {
    for (const char *p = value; *p != '\0'; p++) {
      const char *esc = *p == '\\'   ? "\\\\"
                        : *p == '"'  ? "\\\""
                        : *p == '\n' ? "\\n"
                                     : NULL;
      size_t need = esc != NULL ? 2 : 1;
      if (o + need >= size) {
        cut = 1;
        break;
      }
      if (esc != NULL) {
        buf[o++] = esc[0];
        buf[o++] = esc[1];
      } else {
        buf[o++] = *p;
      }
    }
  }
  /* A cut must not split a character: the result is still valid UTF-8
   * when the value was. */
  if (cut) {
    size_t k = o;
    while (k > 0 && ((unsigned char)buf[k - 1] & 0xC0) == 0x80)
      k--;
    if (k > 0 && (unsigned char)buf[k - 1] >= 0xC0) {
      unsigned char lead = (unsigned char)buf[k - 1];
      size_t len = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
      if (o - (k - 1) < len)
        o = k - 1;
    }
  }
  buf[o] = '\0';
  return buf;
}
