/* endpoint_parse.c — endpoint strings to eddy_endpoint_t and back.
 *
 * A string is a list of fields separated by unescaped colons: the transport,
 * then positional fields (port; or host and port; or path), then key=value
 * options in any order. Parsing works on byte offsets into the caller's
 * string so every error can name the exact position, and it fills a local
 * struct that is copied out only on success: a failed parse leaves *ep as it
 * was. Nothing is allocated. */
#include "eddy/endpoint.h"

#include <stdint.h>
#include <string.h>
#include <uv.h>

#include "eddy/error.h"

#define NO_EQ SIZE_MAX
#define BACKLOG_MAX 65535
#define MODE_MAX 0777u
#define TIMEOUT_MAX_S 86400u

#define MSG_KIND "expected tcp, tcp6 or unix"
#define MSG_ESCAPE "expected a character after '\\'"
#define MSG_PORT "expected a port number (0-65535)"
#define MSG_PORT_CLIENT "expected a port number (1-65535)"
#define MSG_NEED_PORT "expected ':' and a port number (0-65535)"
#define MSG_NEED_PORT_CLIENT "expected ':' and a port number (1-65535)"
#define MSG_NEED_HOST "expected ':' and a host name or IP address"
#define MSG_NEED_PATH "expected ':' and a socket path"
#define MSG_HOST "expected a host name or IP address"
#define MSG_HOST6 "expected an IPv6 address or a host name"
#define MSG_HOST_V6LIT "expected a valid IPv6 address (escape ':' as '\\:')"
#define MSG_HOST_LONG "expected a host of at most 255 bytes"
#define MSG_PATH "expected a socket path"
#define MSG_PATH_LONG "expected a socket path of at most 107 bytes"
#define MSG_IFACE4 "expected an IPv4 address for interface"
#define MSG_IFACE6                                                             \
  "expected an IPv6 address for interface (escape ':' as '\\:')"
#define MSG_BACKLOG "expected a backlog from 1 to 65535"
#define MSG_MODE "expected an octal mode from 1 to 0777 (such as 0660)"
#define MSG_TIMEOUT                                                            \
  "expected a timeout in seconds above 0 and at most 86400, with at most 3 "   \
  "decimals (such as 30 or 0.5)"
#define MSG_OPT_TCP "expected an option: interface=ADDR or backlog=N"
#define MSG_OPT_UNIX "expected an option: mode=OCTAL or backlog=N"
#define MSG_OPT_CLIENT "expected an option: timeout=SECONDS"

_Static_assert(EDDY_ENDPOINT_HOST_MAX - 1 == 255, "MSG_HOST_LONG is stale");
_Static_assert(EDDY_ENDPOINT_PATH_MAX - 1 == 107, "MSG_PATH_LONG is stale");

typedef struct {
  const char *s;
  eddy_endpoint_error_t *err;
} parser_t;

/* Raw span [start, end) of one field; eq is the offset of its first
 * unescaped '=' (NO_EQ when none); last is set when the string ends there. */
typedef struct {
  size_t start;
  size_t end;
  size_t eq;
  int last;
} field_t;

static int fail(parser_t *p, size_t pos, const char *msg) {
  if (p->err != NULL) {
    p->err->pos = pos;
    size_t n = strlen(msg);
    if (n >= sizeof(p->err->message))
      n = sizeof(p->err->message) - 1;
    memcpy(p->err->message, msg, n);
    p->err->message[n] = '\0';
  }
  return EDDY_EPARSE;
}

static int scan_field(parser_t *p, size_t from, field_t *f) {
  const char *s = p->s;
  size_t i = from;
  f->start = from;
  f->eq = NO_EQ;
  for (;;) {
    char c = s[i];
    if (c == '\0' || c == ':')
      break;
    if (c == '\\') {
      if (s[i + 1] == '\0')
        return fail(p, i, MSG_ESCAPE);
      i += 2;
      continue;
    }
    if (c == '=' && f->eq == NO_EQ)
      f->eq = i;
    i++;
  }
  f->end = i;
  f->last = s[i] == '\0';
  return 0;
}

/* Copies s[start, end) without its escapes into out (cap > 0, always
 * NUL-terminated). Returns the unescaped length, or SIZE_MAX when it does
 * not fit in cap - 1 bytes. Escapes were validated by scan_field. */
static size_t unescape(const char *s, size_t start, size_t end, char *out,
                       size_t cap) {
  size_t n = 0;
  for (size_t i = start; i < end; i++) {
    if (s[i] == '\\')
      i++;
    if (n + 1 >= cap) {
      out[0] = '\0';
      return SIZE_MAX;
    }
    out[n++] = s[i];
  }
  out[n] = '\0';
  return n;
}

/* Decimal digits only, at most max. Leading zeros are allowed. */
static int parse_uint(const char *v, uint64_t max, uint64_t *out) {
  uint64_t val = 0;
  if (*v == '\0')
    return -1;
  for (; *v != '\0'; v++) {
    if (*v < '0' || *v > '9')
      return -1;
    val = val * 10 + (uint64_t)(*v - '0');
    if (val > max)
      return -1;
  }
  *out = val;
  return 0;
}

static int parse_octal(const char *v, unsigned max, unsigned *out) {
  unsigned val = 0;
  if (*v == '\0')
    return -1;
  for (; *v != '\0'; v++) {
    if (*v < '0' || *v > '7')
      return -1;
    val = val * 8 + (unsigned)(*v - '0');
    if (val > max)
      return -1;
  }
  *out = val;
  return 0;
}

/* Seconds with up to three decimals, to milliseconds; 0 < t <= max. */
static int parse_seconds(const char *v, uint64_t *ms) {
  uint64_t whole = 0;
  unsigned frac = 0, scale = 100;
  const char *q = v;
  if (*q < '0' || *q > '9')
    return -1;
  for (; *q >= '0' && *q <= '9'; q++) {
    whole = whole * 10 + (uint64_t)(*q - '0');
    if (whole > TIMEOUT_MAX_S)
      return -1;
  }
  if (*q == '.') {
    q++;
    if (*q < '0' || *q > '9')
      return -1;
    for (int digits = 0; *q >= '0' && *q <= '9'; q++, digits++) {
      if (digits == 3)
        return -1;
      frac += (unsigned)(*q - '0') * scale;
      scale /= 10;
    }
  }
  if (*q != '\0')
    return -1;
  uint64_t total = whole * 1000 + frac;
  if (total == 0 || total > (uint64_t)TIMEOUT_MAX_S * 1000)
    return -1;
  *ms = total;
  return 0;
}

static int is_ipv4(const char *v) {
  unsigned char a[sizeof(struct in6_addr)];
  return uv_inet_pton(AF_INET, v, a) == 0;
}

/* uv_inet_pton ignores whatever follows '%', so the zone is checked here:
 * a non-empty interface name or number. */
static int is_ipv6(const char *v) {
  unsigned char a[sizeof(struct in6_addr)];
  const char *zone = strchr(v, '%');
  if (zone != NULL) {
    if (zone[1] == '\0')
      return 0;
    for (const char *z = zone + 1; *z != '\0'; z++) {
      char c = *z;
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
        return 0;
    }
  }
  return uv_inet_pton(AF_INET6, v, a) == 0;
}

/* A DNS-style name: letters, digits, '-', '_' and '.', not starting with
 * '-' or '.', and not made of digits and dots only (getaddrinfo would read
 * "80" or "1.2.3" as an IPv4 address). */
static int is_host_name(const char *v) {
  int alpha = 0;
  if (*v == '\0' || *v == '-' || *v == '.')
    return 0;
  for (; *v != '\0'; v++) {
    char c = *v;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
        c == '_')
      alpha = 1;
    else if (!((c >= '0' && c <= '9') || c == '.'))
      return 0;
  }
  return alpha;
}

static int parse_kind(parser_t *p, field_t *f, eddy_endpoint_kind_t *kind) {
  char name[8];
  if (scan_field(p, 0, f) != 0)
    return EDDY_EPARSE;
  size_t n = unescape(p->s, f->start, f->end, name, sizeof(name));
  if (n != SIZE_MAX && strcmp(name, "tcp") == 0)
    *kind = EDDY_ENDPOINT_TCP;
  else if (n != SIZE_MAX && strcmp(name, "tcp6") == 0)
    *kind = EDDY_ENDPOINT_TCP6;
  else if (n != SIZE_MAX && strcmp(name, "unix") == 0)
    *kind = EDDY_ENDPOINT_UNIX;
  else
    return fail(p, 0, MSG_KIND);
  return 0;
}

/* Reads the positional field after f; need is the message when it is
 * missing. */
static int next_positional(parser_t *p, field_t *f, const char *need) {
  if (f->last)
    return fail(p, f->end, need);
  return scan_field(p, f->end + 1, f);
}

/* Port 0 asks a server for any free port; a client cannot connect to it. */
static int parse_port(parser_t *p, const field_t *f, int server,
                      uint16_t *port) {
  char v[32];
  uint64_t val;
  if (unescape(p->s, f->start, f->end, v, sizeof(v)) == SIZE_MAX ||
      parse_uint(v, 65535, &val) != 0 || (!server && val == 0))
    return fail(p, f->start, server ? MSG_PORT : MSG_PORT_CLIENT);
  *port = (uint16_t)val;
  return 0;
}

static int parse_path(parser_t *p, const field_t *f, char *path) {
  size_t n = unescape(p->s, f->start, f->end, path, EDDY_ENDPOINT_PATH_MAX);
  if (n == SIZE_MAX)
    return fail(p, f->start, MSG_PATH_LONG);
  if (n == 0)
    return fail(p, f->start, MSG_PATH);
  return 0;
}

static int parse_host(parser_t *p, const field_t *f, eddy_endpoint_kind_t kind,
                      char *host) {
  size_t n = unescape(p->s, f->start, f->end, host, EDDY_ENDPOINT_HOST_MAX);
  if (n == SIZE_MAX)
    return fail(p, f->start, MSG_HOST_LONG);
  if (strchr(host, ':') != NULL) {
    if (!is_ipv6(host))
      return fail(p, f->start, MSG_HOST_V6LIT);
    return 0;
  }
  if (is_host_name(host))
    return 0;
  if (kind == EDDY_ENDPOINT_TCP && is_ipv4(host))
    return 0;
  return fail(p, f->start, kind == EDDY_ENDPOINT_TCP6 ? MSG_HOST6 : MSG_HOST);
}

enum { OPT_INTERFACE, OPT_BACKLOG, OPT_MODE, OPT_TIMEOUT, OPT_COUNT };
static const char *const opt_names[OPT_COUNT] = {"interface", "backlog", "mode",
                                                 "timeout"};

static int parse_option_value(parser_t *p, int opt, const field_t *f,
                              eddy_endpoint_t *ep) {
  size_t vstart = f->eq + 1;
  char v[EDDY_ENDPOINT_HOST_MAX];
  size_t n = unescape(p->s, vstart, f->end, v, sizeof(v));
  /* `interface=::1` splits at its first colon: say how to write it. */
  if (n == 0 && opt == OPT_INTERFACE && p->s[f->end] == ':')
    return fail(p, vstart,
                ep->kind == EDDY_ENDPOINT_TCP ? MSG_IFACE4 : MSG_IFACE6);
  if (n == 0) {
    char msg[64];
    strcpy(msg, "expected a value after '");
    strcat(msg, opt_names[opt]);
    strcat(msg, "='");
    return fail(p, vstart, msg);
  }
  uint64_t val;
  switch (opt) {
  case OPT_INTERFACE:
    if (ep->kind == EDDY_ENDPOINT_TCP) {
      if (n == SIZE_MAX || !is_ipv4(v))
        return fail(p, vstart, MSG_IFACE4);
    } else if (n == SIZE_MAX || !is_ipv6(v)) {
      return fail(p, vstart, MSG_IFACE6);
    }
    memcpy(ep->host, v, n + 1);
    return 0;
  case OPT_BACKLOG:
    if (n == SIZE_MAX || parse_uint(v, BACKLOG_MAX, &val) != 0 || val == 0)
      return fail(p, vstart, MSG_BACKLOG);
    ep->backlog = (int)val;
    return 0;
  case OPT_MODE:
    if (n == SIZE_MAX || parse_octal(v, MODE_MAX, &ep->mode) != 0 ||
        ep->mode == 0)
      return fail(p, vstart, MSG_MODE);
    return 0;
  default:
    if (n == SIZE_MAX || parse_seconds(v, &ep->timeout_ms) != 0)
      return fail(p, vstart, MSG_TIMEOUT);
    return 0;
  }
}

/* Parses the options after field f. allowed is a bit set of OPT_*. */
static int parse_options(parser_t *p, field_t *f, unsigned allowed,
                         const char *expect, eddy_endpoint_t *ep) {
  unsigned seen = 0;
  while (!f->last) {
    if (scan_field(p, f->end + 1, f) != 0)
      return EDDY_EPARSE;
    char key[16];
    int opt = OPT_COUNT;
    if (f->eq != NO_EQ &&
        unescape(p->s, f->start, f->eq, key, sizeof(key)) != SIZE_MAX) {
      for (int i = 0; i < OPT_COUNT; i++)
        if ((allowed & (1u << i)) && strcmp(key, opt_names[i]) == 0)
          opt = i;
    }
    if (opt == OPT_COUNT)
      return fail(p, f->start, expect);
    if (seen & (1u << opt)) {
      char msg[64];
      strcpy(msg, "expected each option once; '");
      strcat(msg, opt_names[opt]);
      strcat(msg, "' is repeated");
      return fail(p, f->start, msg);
    }
    seen |= 1u << opt;
    int rc = parse_option_value(p, opt, f, ep);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int parse(const char *s, int server, eddy_endpoint_t *out,
                 eddy_endpoint_error_t *err) {
  parser_t p = {s, err};
  eddy_endpoint_t ep;
  field_t f;
  int rc;

  if (s == NULL)
    return fail(&p, 0, "expected an endpoint string");
  memset(&ep, 0, sizeof(ep));
  ep.server = server;
  if ((rc = parse_kind(&p, &f, &ep.kind)) != 0)
    return rc;

  if (ep.kind == EDDY_ENDPOINT_UNIX) {
    if ((rc = next_positional(&p, &f, MSG_NEED_PATH)) != 0 ||
        (rc = parse_path(&p, &f, ep.path)) != 0)
      return rc;
    if (server) {
      ep.backlog = EDDY_ENDPOINT_BACKLOG_DEFAULT;
      rc = parse_options(&p, &f, (1u << OPT_MODE) | (1u << OPT_BACKLOG),
                         MSG_OPT_UNIX, &ep);
    } else {
      rc = parse_options(&p, &f, 1u << OPT_TIMEOUT, MSG_OPT_CLIENT, &ep);
    }
  } else if (server) {
    if ((rc = next_positional(&p, &f, MSG_NEED_PORT)) != 0 ||
        (rc = parse_port(&p, &f, 1, &ep.port)) != 0)
      return rc;
    ep.backlog = EDDY_ENDPOINT_BACKLOG_DEFAULT;
    strcpy(ep.host, ep.kind == EDDY_ENDPOINT_TCP ? "127.0.0.1" : "::1");
    rc = parse_options(&p, &f, (1u << OPT_INTERFACE) | (1u << OPT_BACKLOG),
                       MSG_OPT_TCP, &ep);
  } else {
    if ((rc = next_positional(&p, &f, MSG_NEED_HOST)) != 0 ||
        (rc = parse_host(&p, &f, ep.kind, ep.host)) != 0 ||
        (rc = next_positional(&p, &f, MSG_NEED_PORT_CLIENT)) != 0 ||
        (rc = parse_port(&p, &f, 0, &ep.port)) != 0)
      return rc;
    rc = parse_options(&p, &f, 1u << OPT_TIMEOUT, MSG_OPT_CLIENT, &ep);
  }
  if (rc != 0)
    return rc;
  *out = ep;
  return 0;
}

int eddy_endpoint_parse_server(const char *s, eddy_endpoint_t *ep,
                               eddy_endpoint_error_t *err) {
  return parse(s, 1, ep, err);
}

int eddy_endpoint_parse_client(const char *s, eddy_endpoint_t *ep,
                               eddy_endpoint_error_t *err) {
  return parse(s, 0, ep, err);
}

/* ---- Formatting ---------------------------------------------------------
 * Like snprintf: counts every byte, stores what fits, always terminates. */
typedef struct {
  char *buf;
  size_t size;
  size_t len;
} out_t;

static void put(out_t *o, char c) {
  if (o->size > 0 && o->len < o->size - 1)
    o->buf[o->len] = c;
  o->len++;
}

static void put_str(out_t *o, const char *s) {
  for (; *s != '\0'; s++)
    put(o, *s);
}

/* Only ':' and '\' need escaping: '=' splits an option only at its first
 * occurrence, and positional fields are never split on it. */
static void put_escaped(out_t *o, const char *s, size_t max) {
  for (size_t i = 0; i < max && s[i] != '\0'; i++) {
    if (s[i] == ':' || s[i] == '\\')
      put(o, '\\');
    put(o, s[i]);
  }
}

static void put_uint(out_t *o, uint64_t v, unsigned base, int min_digits) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = (char)('0' + (int)(v % base));
    v /= base;
  } while (v != 0);
  while (n < min_digits)
    digits[n++] = '0';
  while (n > 0)
    put(o, digits[--n]);
}

static void put_timeout(out_t *o, uint64_t ms) {
  put_str(o, ":timeout=");
  put_uint(o, ms / 1000, 10, 1);
  unsigned frac = (unsigned)(ms % 1000);
  if (frac == 0)
    return;
  put(o, '.');
  for (unsigned scale = 100; frac != 0; scale /= 10) {
    put(o, (char)('0' + frac / scale));
    frac %= scale;
  }
}

static void put_backlog(out_t *o, int backlog) {
  if (backlog <= 0 || backlog == EDDY_ENDPOINT_BACKLOG_DEFAULT)
    return;
  put_str(o, ":backlog=");
  put_uint(o, (uint64_t)backlog, 10, 1);
}

int eddy_endpoint_format(const eddy_endpoint_t *ep, char *buf, size_t size) {
  out_t o = {buf, size, 0};
  if (ep == NULL || (buf == NULL && size > 0))
    return UV_EINVAL;
  switch (ep->kind) {
  case EDDY_ENDPOINT_TCP:
    put_str(&o, "tcp:");
    break;
  case EDDY_ENDPOINT_TCP6:
    put_str(&o, "tcp6:");
    break;
  case EDDY_ENDPOINT_UNIX:
    put_str(&o, "unix:");
    break;
  default:
    return UV_EINVAL;
  }
  if (ep->kind == EDDY_ENDPOINT_UNIX) {
    put_escaped(&o, ep->path, sizeof(ep->path));
    if (ep->server) {
      if (ep->mode != 0) {
        put_str(&o, ":mode=");
        put_uint(&o, ep->mode, 8, 4);
      }
      put_backlog(&o, ep->backlog);
    }
  } else if (ep->server) {
    put_uint(&o, ep->port, 10, 1);
    put_str(&o, ":interface=");
    put_escaped(&o, ep->host, sizeof(ep->host));
    put_backlog(&o, ep->backlog);
  } else {
    put_escaped(&o, ep->host, sizeof(ep->host));
    put(&o, ':');
    put_uint(&o, ep->port, 10, 1);
  }
  if (!ep->server && ep->timeout_ms != 0)
    put_timeout(&o, ep->timeout_ms);
  if (size > 0)
    buf[o.len < size ? o.len : size - 1] = '\0';
  return (int)o.len;
}
