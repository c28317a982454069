/* mime.c — Content-Type by file extension (eddy/http_static.h). */
#include <stddef.h>
#include <string.h>

#include "eddy/http_static.h"

#define UTF8 "; charset=utf-8"

/* Sorted by extension (lower case, ASCII order) for the binary search.
 * Text types carry a charset so browsers never sniff one. */
static const struct {
  const char *ext;
  const char *type;
} types[] = {
    {"7z", "application/x-7z-compressed"},
    {"aac", "audio/aac"},
    {"apng", "image/apng"},
    {"avif", "image/avif"},
    {"bin", "application/octet-stream"},
    {"bmp", "image/bmp"},
    {"bz2", "application/x-bzip2"},
    {"c", "text/plain" UTF8},
    {"css", "text/css" UTF8},
    {"csv", "text/csv" UTF8},
    {"doc", "application/msword"},
    {"docx", "application/"
             "vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {"eot", "application/vnd.ms-fontobject"},
    {"epub", "application/epub+zip"},
    {"flac", "audio/flac"},
    {"gif", "image/gif"},
    {"gz", "application/gzip"},
    {"h", "text/plain" UTF8},
    {"htm", "text/html" UTF8},
    {"html", "text/html" UTF8},
    {"ico", "image/vnd.microsoft.icon"},
    {"ics", "text/calendar" UTF8},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript" UTF8},
    {"json", "application/json" UTF8},
    {"jsonld", "application/ld+json" UTF8},
    {"log", "text/plain" UTF8},
    {"m4a", "audio/mp4"},
    {"m4v", "video/mp4"},
    {"map", "application/json" UTF8},
    {"md", "text/markdown" UTF8},
    {"mjs", "text/javascript" UTF8},
    {"mkv", "video/x-matroska"},
    {"mov", "video/quicktime"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"mpeg", "video/mpeg"},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"opus", "audio/opus"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"py", "text/x-python" UTF8},
    {"rss", "application/rss+xml" UTF8},
    {"rtf", "application/rtf"},
    {"svg", "image/svg+xml" UTF8},
    {"tar", "application/x-tar"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"toml", "application/toml" UTF8},
    {"ts", "video/mp2t"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain" UTF8},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"weba", "audio/webm"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json" UTF8},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xhtml", "application/xhtml+xml" UTF8},
    {"xml", "application/xml" UTF8},
    {"xz", "application/x-xz"},
    {"yaml", "application/yaml" UTF8},
    {"yml", "application/yaml" UTF8},
    {"zip", "application/zip"},
    {"zst", "application/zstd"},
};

#define DEFAULT_TYPE "application/octet-stream"
/* Longer than any extension in the table. */
#define MAX_EXT 16

const char *eddy_mime_type(const char *name) {
  if (name == NULL)
    return DEFAULT_TYPE;
  /* Only the last path segment counts: "a.d/b" has no extension. */
  const char *base = strrchr(name, '/');
  base = base != NULL ? base + 1 : name;
  const char *dot = strrchr(base, '.');
  /* ".bashrc" is a hidden name, not an extension. */
  if (dot == NULL || dot == base || dot[1] == '\0')
    return DEFAULT_TYPE;
  char ext[MAX_EXT + 1];
  size_t n = strlen(dot + 1);
  if (n > MAX_EXT)
    return DEFAULT_TYPE;
  for (size_t i = 0; i < n; i++) {
    char c = dot[1 + i];
    ext[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
  }
  ext[n] = '\0';
  size_t lo = 0, hi = sizeof(types) / sizeof(types[0]);
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(ext, types[mid].ext);
    if (c == 0)
      return types[mid].type;
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return DEFAULT_TYPE;
}
