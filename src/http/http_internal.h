/* http_internal.h — helpers shared by the HTTP parser's files. */
#ifndef EDDY_HTTP_INTERNAL_H
#define EDDY_HTTP_INTERNAL_H

#include "eddy/http_parser.h"

/* Copies limits (NULL: all defaults), replacing zeros by defaults and
 * clamping head limits to EDDY_HTTP_MAX_HEAD_CEILING. */
void eddy__http_limits_fill(eddy_http_limits_t *out,
                            const eddy_http_limits_t *in);
int eddy__http_is_tchar(unsigned char c);
int eddy__http_is_vchar_ws(unsigned char c);

#endif
