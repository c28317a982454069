/* assets.h — the web pages built into eddyd.
 *
 * web/meson.build runs scripts/embed-assets over web/'s files at build time;
 * the C file it writes defines this table. Everything in it is static and
 * read-only: eddyd serves the bytes without copying them.
 */
#ifndef EDDYD_ASSETS_H
#define EDDYD_ASSETS_H

#include <stddef.h>

typedef struct eddyd_asset_s {
  const char *path;          /* "/index.html": the URL path it is served at */
  const char *mime;          /* the Content-Type */
  const unsigned char *data; /* the file's bytes (followed by a NUL) */
  size_t len;
  const char *etag; /* a strong entity tag of the content, with quotes */
} eddyd_asset_t;

extern const eddyd_asset_t eddyd_assets[];
extern const size_t eddyd_asset_count;

#endif
