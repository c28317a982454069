/* addr.c — printing socket addresses. */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <uv.h>

#include "eddy/protocol.h"

/* A Linux abstract name (leading NUL, length from the address, any bytes):
 * "unix:@name", with unprintable bytes as '?', so it never looks unnamed. */
static int format_abstract(const char *name, size_t len, char *buf,
                           size_t size) {
  int n = snprintf(buf, size, "unix:@");
  for (size_t i = 0; i < len; i++, n++) {
    unsigned char c = (unsigned char)name[i];
    if ((size_t)n + 1 < size) {
      buf[n] = c >= 0x20 && c < 0x7f ? (char)c : '?';
      buf[n + 1] = '\0';
    }
  }
  return n;
}

int eddy_addr_format(const eddy_addr_t *a, char *buf, size_t size) {
  char ip[INET6_ADDRSTRLEN];
  if (a == NULL || a->len == 0)
    return snprintf(buf, size, "unknown");
  switch (a->ss.ss_family) {
  case AF_INET: {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;
    uv_ip4_name(sin, ip, sizeof(ip));
    return snprintf(buf, size, "%s:%d", ip, ntohs(sin->sin_port));
  }
  case AF_INET6: {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;
    uv_ip6_name(sin6, ip, sizeof(ip));
    return snprintf(buf, size, "[%s]:%d", ip, ntohs(sin6->sin6_port));
  }
  case AF_UNIX: {
    const struct sockaddr_un *sun = (const struct sockaddr_un *)&a->ss;
    size_t max = a->len > offsetof(struct sockaddr_un, sun_path)
                     ? a->len - offsetof(struct sockaddr_un, sun_path)
                     : 0;
    if (max > sizeof(sun->sun_path))
      max = sizeof(sun->sun_path);
    if (max > 1 && sun->sun_path[0] == '\0')
      return format_abstract(sun->sun_path + 1, max - 1, buf, size);
    return snprintf(buf, size, "unix:%.*s", (int)strnlen(sun->sun_path, max),
                    sun->sun_path);
  }
  default:
    return snprintf(buf, size, "family-%d", a->ss.ss_family);
  }
}

int eddy_addr_port(const eddy_addr_t *a) {
  if (a == NULL || a->len == 0)
    return 0;
  if (a->ss.ss_family == AF_INET)
    return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
  if (a->ss.ss_family == AF_INET6)
    return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
  return 0;
}
