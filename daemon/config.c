/* config.c — eddyd's settings: defaults, one setter for file and flags, the
 * configuration file parser and the effective-configuration writer. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <eddy/endpoint.h>

#define MIN_CACHE_MEMORY ((size_t)1024 * 1024)
#define MAX_CACHE_MEMORY ((size_t)1 << 40) /* 1 TiB: a typo guard */
#define MIN_MAX_ITEM ((size_t)1024)        /* memcached's -I range */
#define MAX_MAX_ITEM ((size_t)1024 * 1024 * 1024)
#define MAX_STATS_INTERVAL 86400
#define MIN_SEND_QUEUE ((size_t)4 * 1024) /* a few protocol messages */
#define MAX_SEND_QUEUE ((size_t)1024 * 1024 * 1024)
#define MIN_HISTORY_MEMORY ((size_t)64 * 1024)
#define MAX_HISTORY_MEMORY ((size_t)1 << 40)
#define MAX_MAX_CLIENTS 10000000u

typedef enum {
  KIND_ENDPOINTS,
  KIND_SIZE,
  KIND_TOKEN,
  KIND_LEVEL,
  KIND_PATH,
  KIND_BOOL,
  KIND_NAME,
  KIND_SECONDS,
  KIND_NAMESPACE,
  KIND_ORIGIN,
  KIND_COUNT,
  KIND_SECRET,
  KIND_URL
} kind_t;

typedef struct key_s {
  const char *name;
  kind_t kind;
  size_t offset;
} keydef_t;

#define AT(field) offsetof(eddyd_config_t, field)

static const keydef_t keys[] = {
    {"http", KIND_ENDPOINTS, AT(http)},
    {"locks", KIND_ENDPOINTS, AT(locks)},
    {"cache", KIND_ENDPOINTS, AT(cache)},
    {"cache-memory", KIND_SIZE, AT(cache_memory)},
    {"cache-max-item", KIND_SIZE, AT(cache_max_item)},
    {"lock-admin-token", KIND_TOKEN, AT(lock_admin_token)},
    {"log-level", KIND_LEVEL, AT(log_level)},
    {"logfile", KIND_PATH, AT(logfile)},
    {"syslog", KIND_BOOL, AT(syslog)},
    {"daemon", KIND_BOOL, AT(daemon)},
    {"pidfile", KIND_PATH, AT(pidfile)},
    {"user", KIND_NAME, AT(user)},
    {"group", KIND_NAME, AT(group)},
    {"stats-interval", KIND_SECONDS, AT(stats_interval)},
    {"publish", KIND_ENDPOINTS, AT(publish)},
    {"namespace", KIND_NAMESPACE, AT(namespaces)},
    {"api-token", KIND_TOKEN, AT(api_token)},
    {"publish-token", KIND_TOKEN, AT(publish_token)},
    {"realtime-secret", KIND_SECRET, AT(realtime_secret)},
    {"web-root", KIND_PATH, AT(web_root)},
    {"origins", KIND_ORIGIN, AT(origins)},
    {"realtime-max-clients", KIND_COUNT, AT(realtime_max_clients)},
    {"realtime-send-queue", KIND_SIZE, AT(realtime_send_queue)},
    {"history-memory", KIND_SIZE, AT(history_memory)},
    {"sockjs", KIND_BOOL, AT(sockjs)},
    {"sockjs-client-url", KIND_URL, AT(sockjs_client_url)},
    {"access-log", KIND_BOOL, AT(access_log)},
};

/* The range of each size key. */
typedef struct size_range_s {
  size_t offset;
  size_t lo, hi;
} size_range_t;

static const size_range_t size_ranges[] = {
    {AT(cache_memory), MIN_CACHE_MEMORY, MAX_CACHE_MEMORY},
    {AT(cache_max_item), MIN_MAX_ITEM, MAX_MAX_ITEM},
    {AT(realtime_send_queue), MIN_SEND_QUEUE, MAX_SEND_QUEUE},
    {AT(history_memory), MIN_HISTORY_MEMORY, MAX_HISTORY_MEMORY},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

int eddyd_fail(char *err, size_t errlen, const char *fmt, ...) {
  if (err != NULL && errlen > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -1;
}

static const keydef_t *find_key(const char *name) {
  for (size_t i = 0; i < NKEYS; i++)
    if (strcmp(keys[i].name, name) == 0)
      return &keys[i];
  return NULL;
}

static void endpoints_default(eddyd_endpoints_t *e, const char *ep) {
  memset(e, 0, sizeof(*e));
  e->count = 1;
  e->layer = EDDYD_LAYER_DEFAULT;
  snprintf(e->list[0], sizeof(e->list[0]), "%s", ep);
}

static int set_namespace(eddyd_namespaces_t *n, eddyd_layer_t layer,
                         const char *v, char *err, size_t errlen);

void eddyd_config_init(eddyd_config_t *c) {
  memset(c, 0, sizeof(*c));
  /* The live demo at /demo publishes from browsers: out of the box, its
   * namespace is there (a configured namespace list replaces it). */
  set_namespace(&c->namespaces, EDDYD_LAYER_DEFAULT, EDDYD_DEFAULT_NAMESPACE,
                NULL, 0);
  endpoints_default(&c->http, EDDYD_DEFAULT_HTTP);
  endpoints_default(&c->locks, EDDYD_DEFAULT_LOCKS);
  endpoints_default(&c->cache, EDDYD_DEFAULT_CACHE);
  endpoints_default(&c->publish, EDDYD_DEFAULT_PUBLISH);
  c->realtime_max_clients = EDDYD_DEFAULT_MAX_CLIENTS;
  c->realtime_send_queue = EDDYD_DEFAULT_SEND_QUEUE;
  c->history_memory = EDDYD_DEFAULT_HISTORY_MEMORY;
  c->sockjs = 1;
  c->cache_memory = EDDYD_DEFAULT_CACHE_MEMORY;
  c->cache_max_item = EDDYD_DEFAULT_CACHE_MAX_ITEM;
  c->log_level = EDDY_LOG_INFO;
  c->stats_interval = EDDYD_DEFAULT_STATS_INTERVAL;
}

int eddyd_config_key_kind(const char *key, const char **name) {
  const keydef_t *k = find_key(key);
  if (k == NULL)
    return -1;
  if (name != NULL)
    *name = k->name;
  return k->kind != KIND_BOOL;
}

/* ---- Sizes ----------------------------------------------------------- */

int eddyd_parse_size(const char *s, size_t *out) {
  if (s == NULL || !isdigit((unsigned char)s[0]))
    return -1;
  size_t v = 0;
  const char *p = s;
  for (; isdigit((unsigned char)*p); p++) {
    size_t d = (size_t)(*p - '0');
    if (v > (SIZE_MAX - d) / 10)
      return -1;
    v = v * 10 + d;
  }
  unsigned shift = 0;
  switch (*p) {
  case '\0':
    break;
  case 'k':
  case 'K':
    shift = 10;
    break;
  case 'm':
  case 'M':
    shift = 20;
    break;
  case 'g':
  case 'G':
    shift = 30;
    break;
  default:
    return -1;
  }
  if (*p != '\0' && p[1] != '\0')
    return -1;
  if (shift != 0 && v > (SIZE_MAX >> shift))
    return -1;
  *out = v << shift;
  return 0;
}

void eddyd_format_size(size_t v, char *buf, size_t size) {
  static const char suffix[] = {'G', 'M', 'K'};
  static const unsigned shift[] = {30, 20, 10};
  for (int i = 0; i < 3; i++) {
    size_t unit = (size_t)1 << shift[i];
    if (v != 0 && v % unit == 0) {
      snprintf(buf, size, "%zu%c", v / unit, suffix[i]);
      return;
    }
  }
  snprintf(buf, size, "%zu", v);
}

/* ---- One setting ------------------------------------------------------ */

static int parse_bool(const char *v, int *out) {
  static const char *yes[] = {"yes", "true", "on", "1"};
  static const char *no[] = {"no", "false", "off", "0"};
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(v, yes[i]) == 0) {
      *out = 1;
      return 0;
    }
    if (strcasecmp(v, no[i]) == 0) {
      *out = 0;
      return 0;
    }
  }
  return -1;
}

static int set_endpoints(eddyd_endpoints_t *e, eddyd_layer_t layer,
                         const char *v, char *err, size_t errlen) {
  /* A list from a higher layer replaces the lower one as a whole: `--locks
   * unix:X` means "only unix:X", not "the file's endpoints and unix:X". */
  if (e->layer != layer) {
    memset(e, 0, sizeof(*e));
    e->layer = layer;
  }
  if (strcmp(v, "off") == 0) {
    if (e->count > 0)
      return eddyd_fail(err, errlen, "'off' cannot be combined with endpoints");
    e->off = 1;
    return 0;
  }
  if (e->off)
    return eddyd_fail(err, errlen, "'off' cannot be combined with endpoints");
  if (e->count == EDDYD_MAX_ENDPOINTS)
    return eddyd_fail(err, errlen, "at most %d endpoints per service",
                      EDDYD_MAX_ENDPOINTS);
  size_t len = strlen(v);
  if (len == 0)
    return eddyd_fail(err, errlen,
                      "expected an endpoint (tcp:PORT, unix:PATH) "
                      "or off");
  if (len >= EDDYD_ENDPOINT_MAX)
    return eddyd_fail(err, errlen, "endpoint longer than %d bytes",
                      EDDYD_ENDPOINT_MAX - 1);
  eddy_endpoint_t ep;
  eddy_endpoint_error_t perr;
  if (eddy_endpoint_parse_server(v, &ep, &perr) != 0)
    return eddyd_fail(err, errlen, "bad endpoint '%s': %s (at byte %zu)", v,
                      perr.message, perr.pos);
  for (int i = 0; i < e->count; i++)
    if (strcmp(e->list[i], v) == 0)
      return eddyd_fail(err, errlen, "endpoint '%s' is given twice", v);
  memcpy(e->list[e->count++], v, len + 1);
  return 0;
}

static int set_text(char *dst, size_t cap, const char *v, const char *what,
                    char *err, size_t errlen) {
  size_t len = strlen(v);
  if (len == 0)
    return eddyd_fail(err, errlen, "expected %s, got an empty value", what);
  if (len >= cap)
    return eddyd_fail(err, errlen, "%s longer than %zu bytes", what, cap - 1);
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
      return eddyd_fail(err, errlen, "%s contains a control character", what);
  memcpy(dst, v, len + 1);
  return 0;
}

/* A URL put in an HTML page's script tag: absolute http(s) or a path on
 * this server, nothing that could leave the attribute. */
static int set_url(char *dst, const char *v, char *err, size_t errlen) {
  if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0 &&
      v[0] != '/')
    return eddyd_fail(err, errlen,
                      "expected an http:// or https:// URL or a path "
                      "starting with '/', got '%s'",
                      v);
  if (strpbrk(v, "\"'<>&\\ `") != NULL)
    return eddyd_fail(err, errlen,
                      "the URL may not contain quotes, '<', '>', '&', "
                      "'\\', '`' or spaces");
  return set_text(dst, EDDYD_PATH_MAX, v, "a URL", err, errlen);
}

static int set_name(char *dst, const char *v, char *err, size_t errlen) {
  /* What useradd accepts, plus plain numeric ids. */
  if (v[0] == '-')
    return eddyd_fail(err, errlen, "expected a name or a number, got '%s'", v);
  for (const char *p = v; *p != '\0'; p++)
    if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
      return eddyd_fail(err, errlen, "expected a name or a number, got '%s'",
                        v);
  return set_text(dst, EDDYD_NAME_MAX, v, "a name or a number", err, errlen);
}

static int set_token(char *dst, const char *v, char *err, size_t errlen) {
  /* The token travels as one word of the lock protocol's request line. */
  for (const char *p = v; *p != '\0'; p++)
    if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
      return eddyd_fail(err, errlen,
                        "the token must be printable ASCII without "
                        "spaces");
  return set_text(dst, EDDYD_TOKEN_MAX, v, "a token", err, errlen);
}

static int set_size(eddyd_config_t *c, const keydef_t *k, const char *v,
                    char *err, size_t errlen) {
  size_t n;
  if (eddyd_parse_size(v, &n) != 0)
    return eddyd_fail(err, errlen,
                      "expected a size such as 64M (K, M, G), got '%s'", v);
  size_t lo = 0, hi = SIZE_MAX;
  for (size_t i = 0; i < sizeof(size_ranges) / sizeof(size_ranges[0]); i++)
    if (size_ranges[i].offset == k->offset) {
      lo = size_ranges[i].lo;
      hi = size_ranges[i].hi;
    }
  if (n < lo || n > hi) {
    char a[32], b[32];
    eddyd_format_size(lo, a, sizeof(a));
    eddyd_format_size(hi, b, sizeof(b));
    return eddyd_fail(err, errlen, "'%s' is out of range (%s to %s)", v, a, b);
  }
  *(size_t *)((char *)c + k->offset) = n;
  return 0;
}

static int set_seconds(unsigned *dst, const char *v, char *err, size_t errlen) {
  unsigned long n = 0;
  const char *p = v;
  if (*p == '\0')
    return eddyd_fail(err, errlen,
                      "expected seconds (0-%d), got an empty value",
                      MAX_STATS_INTERVAL);
  for (; isdigit((unsigned char)*p) && n <= MAX_STATS_INTERVAL; p++)
    n = n * 10 + (unsigned long)(*p - '0');
  if (*p != '\0' || n > MAX_STATS_INTERVAL)
    return eddyd_fail(err, errlen, "expected seconds (0-%d), got '%s'",
                      MAX_STATS_INTERVAL, v);
  *dst = (unsigned)n;
  return 0;
}

static int set_count(size_t *dst, const char *v, char *err, size_t errlen) {
  unsigned long n = 0;
  const char *p = v;
  for (; isdigit((unsigned char)*p) && n <= MAX_MAX_CLIENTS; p++)
    n = n * 10 + (unsigned long)(*p - '0');
  if (p == v || *p != '\0' || n < 1 || n > MAX_MAX_CLIENTS)
    return eddyd_fail(err, errlen, "expected a number from 1 to %u, got '%s'",
                      MAX_MAX_CLIENTS, v);
  *dst = (size_t)n;
  return 0;
}

static int set_secret(char *dst, const char *v, char *err, size_t errlen) {
  /* A short HMAC key can be guessed offline from one token. */
  if (v[0] != '\0' && strlen(v) < EDDYD_SECRET_MIN)
    return eddyd_fail(err, errlen,
                      "the secret must be at least %d bytes (use a long "
                      "random string)",
                      EDDYD_SECRET_MIN);
  return set_token(dst, v, err, errlen);
}

static int set_namespace(eddyd_namespaces_t *n, eddyd_layer_t layer,
                         const char *v, char *err, size_t errlen) {
  if (n->layer != layer) {
    memset(n, 0, sizeof(*n));
    n->layer = layer;
  }
  if (strlen(v) >= EDDYD_NAMESPACE_SPEC_MAX)
    return eddyd_fail(err, errlen, "namespace spec longer than %d bytes",
                      EDDYD_NAMESPACE_SPEC_MAX - 1);
  eddy_rt_namespace_t ns;
  char msg[EDDYD_ERR_MAX];
  msg[0] = '\0';
  if (eddy_rt_namespace_parse(v, &ns, msg, sizeof(msg)) != 0)
    return eddyd_fail(err, errlen, "bad namespace '%s': %s", v,
                      msg[0] != '\0' ? msg : "not a namespace spec");
  if (strcmp(ns.name, EDDYD_NAMESPACE) == 0)
    return eddyd_fail(err, errlen,
                      "the namespace '%s' is eddyd's own (its metrics "
                      "feed) and cannot be configured",
                      EDDYD_NAMESPACE);
  for (int i = 0; i < n->count; i++)
    if (strcmp(n->list[i].name, ns.name) == 0)
      return eddyd_fail(err, errlen, "namespace '%s' is given twice",
                        ns.name[0] != '\0' ? ns.name : "default");
  if (n->count == EDDYD_MAX_NAMESPACES)
    return eddyd_fail(err, errlen, "at most %d namespaces",
                      EDDYD_MAX_NAMESPACES);
  n->list[n->count++] = ns;
  return 0;
}

/* An origin as browsers send it: scheme "://" host [":" port], nothing
 * after (no path, no trailing slash), e.g. https://app.example.com. */
static int valid_origin(const char *v) {
  const char *p = v;
  if (strncasecmp(p, "http://", 7) == 0)
    p += 7;
  else if (strncasecmp(p, "https://", 8) == 0)
    p += 8;
  else
    return 0;
  const char *host = p;
  if (*p == '[') { /* an IPv6 literal */
    p = strchr(p, ']');
    if (p == NULL)
      return 0;
    p++;
  } else {
    while (isalnum((unsigned char)*p) || *p == '-' || *p == '.')
      p++;
  }
  if (p == host)
    return 0;
  if (*p == ':') {
    const char *digits = ++p;
    while (isdigit((unsigned char)*p))
      p++;
    if (p == digits || p - digits > 5 || atoi(digits) > 65535)
      return 0;
  }
  return *p == '\0';
}

static int set_origin(eddyd_origins_t *o, eddyd_layer_t layer, const char *v,
                      char *err, size_t errlen) {
  if (o->layer != layer) {
    memset(o, 0, sizeof(*o));
    o->layer = layer;
  }
  if (strcmp(v, "*") == 0) {
    if (o->count > 0)
      return eddyd_fail(err, errlen, "'*' cannot be combined with origins");
    o->any = 1;
    return 0;
  }
  if (o->any)
    return eddyd_fail(err, errlen, "'*' cannot be combined with origins");
  size_t len = strlen(v);
  if (len >= EDDYD_ORIGIN_MAX)
    return eddyd_fail(err, errlen, "origin longer than %d bytes",
                      EDDYD_ORIGIN_MAX - 1);
  if (!valid_origin(v))
    return eddyd_fail(err, errlen,
                      "expected an origin such as https://app.example.com "
                      "or http://localhost:8000 (no path), or *, got '%s'",
                      v);
  for (int i = 0; i < o->count; i++)
    if (strcasecmp(o->list[i], v) == 0)
      return eddyd_fail(err, errlen, "origin '%s' is given twice", v);
  if (o->count == EDDYD_MAX_ORIGINS)
    return eddyd_fail(err, errlen, "at most %d origins", EDDYD_MAX_ORIGINS);
  memcpy(o->list[o->count++], v, len + 1);
  return 0;
}

int eddyd_config_set(eddyd_config_t *c, eddyd_layer_t layer, const char *key,
                     const char *value, char *err, size_t errlen) {
  const keydef_t *k = find_key(key);
  if (k == NULL)
    return eddyd_fail(err, errlen, "unknown key '%s'", key);
  if (value == NULL)
    return eddyd_fail(err, errlen, "a value is required");
  void *field = (char *)c + k->offset;
  switch (k->kind) {
  case KIND_ENDPOINTS:
    return set_endpoints(field, layer, value, err, errlen);
  case KIND_SIZE:
    return set_size(c, k, value, err, errlen);
  case KIND_TOKEN:
    return set_token(field, value, err, errlen);
  case KIND_LEVEL: {
    eddy_log_level_t level;
    if (eddy_log_parse_level(value, &level) != 0)
      return eddyd_fail(err, errlen,
                        "expected debug, info, warn, error or off, got '%s'",
                        value);
    c->log_level = level;
    return 0;
  }
  case KIND_PATH:
    return set_text(field, EDDYD_PATH_MAX, value, "a path", err, errlen);
  case KIND_BOOL:
    if (parse_bool(value, field) != 0)
      return eddyd_fail(err, errlen, "expected yes or no, got '%s'", value);
    return 0;
  case KIND_NAME:
    return set_name(field, value, err, errlen);
  case KIND_SECONDS:
    return set_seconds(field, value, err, errlen);
  case KIND_NAMESPACE:
    return set_namespace(field, layer, value, err, errlen);
  case KIND_ORIGIN:
    return set_origin(field, layer, value, err, errlen);
  case KIND_COUNT:
    return set_count(field, value, err, errlen);
  case KIND_SECRET:
    return set_secret(field, value, err, errlen);
  case KIND_URL:
    return set_url(field, value, err, errlen);
  }
  return eddyd_fail(err, errlen, "unknown key '%s'", key);
}

/* ---- The file --------------------------------------------------------- */

static int is_blank(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\r';
}

/* Parses one line (NUL-terminated, no newline, writable). */
static int parse_line(eddyd_config_t *c, char *line, char *err, size_t errlen) {
  char *p = line;
  while (is_blank(*p))
    p++;
  if (*p == '\0' || *p == '#')
    return 0;
  char *key = p;
  while (*p != '\0' && *p != '=' && !is_blank(*p))
    p++;
  char *key_end = p;
  while (is_blank(*p))
    p++;
  if (*p != '=') {
    *key_end = '\0';
    return eddyd_fail(err, errlen, "expected '=' after '%s'", key);
  }
  if (key_end == key)
    return eddyd_fail(err, errlen, "expected a key before '='");
  *key_end = '\0';
  p++;
  while (is_blank(*p))
    p++;
  char *value = p;
  char *end = value + strlen(value);
  while (end > value && is_blank(end[-1]))
    *--end = '\0';
  if (*value == '"') {
    if (end - value < 2 || end[-1] != '"')
      return eddyd_fail(err, errlen, "%s: unterminated quoted value", key);
    end[-1] = '\0';
    value++;
  }
  if (find_key(key) == NULL) {
    if (strcmp(key, "config") == 0 || strcmp(key, "check-config") == 0 ||
        strcmp(key, "help") == 0 || strcmp(key, "version") == 0)
      return eddyd_fail(err, errlen, "'%s' is a command-line flag only", key);
    return eddyd_fail(err, errlen, "unknown key '%s'", key);
  }
  char msg[EDDYD_ERR_MAX];
  if (eddyd_config_set(c, EDDYD_LAYER_FILE, key, value, msg, sizeof(msg)) != 0)
    return eddyd_fail(err, errlen, "%s: %s", key, msg);
  return 0;
}

int eddyd_config_parse_text(eddyd_config_t *c, const char *text, size_t len,
                            const char *name, char *err, size_t errlen) {
  char line[EDDYD_CONFIG_LINE_MAX + 1];
  char msg[EDDYD_ERR_MAX];
  size_t lineno = 0, pos = 0;
  while (pos < len) {
    lineno++;
    const char *nl = memchr(text + pos, '\n', len - pos);
    size_t n = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
    if (n > EDDYD_CONFIG_LINE_MAX)
      return eddyd_fail(err, errlen, "%s:%zu: line longer than %d bytes", name,
                        lineno, EDDYD_CONFIG_LINE_MAX);
    if (memchr(text + pos, '\0', n) != NULL)
      return eddyd_fail(err, errlen, "%s:%zu: NUL byte in the line", name,
                        lineno);
    memcpy(line, text + pos, n);
    line[n] = '\0';
    pos += n + (nl != NULL);
    if (parse_line(c, line, msg, sizeof(msg)) != 0)
      return eddyd_fail(err, errlen, "%s:%zu: %s", name, lineno, msg);
  }
  return 0;
}

int eddyd_config_load_file(eddyd_config_t *c, const char *path, char *err,
                           size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return eddyd_fail(err, errlen, "cannot read %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return eddyd_fail(err, errlen, "%s is not a regular file", path);
  }
  if (st.st_size > EDDYD_CONFIG_FILE_MAX) {
    close(fd);
    return eddyd_fail(err, errlen, "%s is larger than %d bytes", path,
                      EDDYD_CONFIG_FILE_MAX);
  }
  char *text = malloc((size_t)st.st_size + 1);
  if (text == NULL) {
    close(fd);
    return eddyd_fail(err, errlen, "%s: out of memory", path);
  }
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t n = read(fd, text + got, (size_t)st.st_size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  close(fd);
  int rc = eddyd_config_parse_text(c, text, got, path, err, errlen);
  free(text);
  return rc;
}

size_t eddyd_config_namespaces(const eddyd_config_t *c,
                               eddy_rt_namespace_t *table) {
  eddy_rt_namespace_t *own = &table[0];
  eddy_rt_namespace_init(own, EDDYD_NAMESPACE);
  own->history_size = EDDYD_METRICS_HISTORY;
  own->history_ttl_ms = EDDYD_METRICS_TTL_MS;
  own->presence = 0;
  own->join_leave = 0;
  own->publish = 0;
  for (int i = 0; i < c->namespaces.count; i++)
    table[1 + i] = c->namespaces.list[i];
  return 1 + (size_t)c->namespaces.count;
}

/* Two services on one address would fail at bind time with a bare
 * EADDRINUSE; say which two instead. Port 0 never clashes. */
static int same_address(const eddy_endpoint_t *a, const eddy_endpoint_t *b) {
  if (a->kind != b->kind)
    return 0;
  if (a->kind == EDDY_ENDPOINT_UNIX)
    return strcmp(a->path, b->path) == 0;
  return a->port != 0 && a->port == b->port && strcmp(a->host, b->host) == 0;
}

int eddyd_config_validate(const eddyd_config_t *c, char *err, size_t errlen) {
  const eddyd_endpoints_t *lists[] = {&c->http, &c->locks, &c->cache,
                                      &c->publish};
  const char *names[] = {"http", "locks", "cache", "publish"};
  enum { NLISTS = 4 };
  for (int s = 0; s < NLISTS; s++)
    for (int i = 0; i < lists[s]->count; i++) {
      eddy_endpoint_t a;
      if (eddy_endpoint_parse_server(lists[s]->list[i], &a, NULL) != 0)
        continue;
      for (int t = s; t < NLISTS; t++)
        for (int j = t == s ? i + 1 : 0; j < lists[t]->count; j++) {
          eddy_endpoint_t b;
          if (eddy_endpoint_parse_server(lists[t]->list[j], &b, NULL) == 0 &&
              same_address(&a, &b))
            return eddyd_fail(
                err, errlen, "%s '%s' and %s '%s' are the same address",
                names[s], lists[s]->list[i], names[t], lists[t]->list[j]);
        }
    }
  if (c->cache_max_item > c->cache_memory) {
    char a[32], b[32];
    eddyd_format_size(c->cache_max_item, a, sizeof(a));
    eddyd_format_size(c->cache_memory, b, sizeof(b));
    return eddyd_fail(err, errlen,
                      "cache-max-item (%s) is larger than "
                      "cache-memory (%s)",
                      a, b);
  }
  if (c->syslog && c->logfile[0] != '\0')
    return eddyd_fail(err, errlen, "logfile and syslog cannot both be set");
  if (c->daemon) {
    /* A daemon works from "/", where a relative socket path would point
     * somewhere else than the operator meant. */
    for (int s = 0; s < NLISTS; s++)
      for (int i = 0; i < lists[s]->count; i++) {
        eddy_endpoint_t ep;
        if (eddy_endpoint_parse_server(lists[s]->list[i], &ep, NULL) == 0 &&
            ep.kind == EDDY_ENDPOINT_UNIX && ep.path[0] != '/')
          return eddyd_fail(err, errlen,
                            "%s: with daemon, the Unix socket path "
                            "'%s' must be absolute",
                            names[s], ep.path);
      }
  }
  return 0;
}

/* ---- Writing ---------------------------------------------------------- */

static void write_endpoints(FILE *out, const char *key,
                            const eddyd_endpoints_t *e) {
  if (e->count == 0)
    fprintf(out, "%s = off\n", key);
  for (int i = 0; i < e->count; i++)
    fprintf(out, "%s = %s\n", key, e->list[i]);
}

static const char *level_name(eddy_log_level_t l) {
  switch (l) {
  case EDDY_LOG_DEBUG:
    return "debug";
  case EDDY_LOG_INFO:
    return "info";
  case EDDY_LOG_WARN:
    return "warn";
  case EDDY_LOG_ERROR:
    return "error";
  case EDDY_LOG_OFF:
    break;
  }
  return "off";
}

/* Empty text settings are written commented out: an empty value is not
 * valid input, and the line still shows that the key exists. */
static void write_text(FILE *out, const char *key, const char *v) {
  if (v[0] == '\0')
    fprintf(out, "# %s =\n", key);
  else if (is_blank(v[0]) || is_blank(v[strlen(v) - 1]) || v[0] == '"')
    fprintf(out, "%s = \"%s\"\n", key, v);
  else
    fprintf(out, "%s = %s\n", key, v);
}

static void write_secret(FILE *out, const char *key, const char *v) {
  /* Never print a secret: say only whether one is set. */
  if (v[0] != '\0')
    fprintf(out, "# %s = (set, not shown)\n", key);
  else
    fprintf(out, "# %s =\n", key);
}

/* The web and realtime settings. */
static void write_web(const eddyd_config_t *c, FILE *out) {
  char a[32], b[32], spec[EDDYD_NAMESPACE_SPEC_MAX];
  eddy_rt_namespace_t table[EDDY_RT_MAX_NAMESPACES];
  size_t n = eddyd_config_namespaces(c, table);
  fprintf(out, "# realtime namespaces (the first is built in)\n");
  for (size_t i = 0; i < n; i++) {
    if (eddy_rt_namespace_format(&table[i], spec, sizeof(spec)) < 0)
      snprintf(spec, sizeof(spec), "%.*s", EDDY_RT_NAMESPACE_MAX,
               table[i].name);
    fprintf(out, "%snamespace = %s\n", i == 0 ? "# " : "", spec);
  }
  if (c->namespaces.count == 0)
    fprintf(out, "# (no namespace configured: channels without ':' get the "
                 "default rules, others are refused)\n");
  if (c->origins.count == 0)
    fprintf(out, "origins = *\n");
  for (int i = 0; i < c->origins.count; i++)
    fprintf(out, "origins = %s\n", c->origins.list[i]);
  write_secret(out, "api-token", c->api_token);
  write_secret(out, "publish-token", c->publish_token);
  write_secret(out, "realtime-secret", c->realtime_secret);
  write_text(out, "web-root", c->web_root);
  write_text(out, "sockjs-client-url", c->sockjs_client_url);
  fprintf(out, "realtime-max-clients = %zu\n", c->realtime_max_clients);
  eddyd_format_size(c->realtime_send_queue, a, sizeof(a));
  eddyd_format_size(c->history_memory, b, sizeof(b));
  fprintf(out, "realtime-send-queue = %s\n", a);
  fprintf(out, "history-memory = %s\n", b);
  fprintf(out, "sockjs = %s\n", c->sockjs ? "yes" : "no");
  fprintf(out, "access-log = %s\n", c->access_log ? "yes" : "no");
}

void eddyd_config_write(const eddyd_config_t *c, FILE *out) {
  char a[32], b[32];
  eddyd_format_size(c->cache_memory, a, sizeof(a));
  eddyd_format_size(c->cache_max_item, b, sizeof(b));
  fprintf(out, "# eddyd effective configuration\n");
  write_endpoints(out, "http", &c->http);
  write_endpoints(out, "locks", &c->locks);
  write_endpoints(out, "cache", &c->cache);
  write_endpoints(out, "publish", &c->publish);
  fprintf(out, "cache-memory = %s\n", a);
  fprintf(out, "cache-max-item = %s\n", b);
  write_secret(out, "lock-admin-token", c->lock_admin_token);
  fprintf(out, "log-level = %s\n", level_name(c->log_level));
  write_text(out, "logfile", c->logfile);
  fprintf(out, "syslog = %s\n", c->syslog ? "yes" : "no");
  fprintf(out, "daemon = %s\n", c->daemon ? "yes" : "no");
  write_text(out, "pidfile", c->pidfile);
  write_text(out, "user", c->user);
  write_text(out, "group", c->group);
  fprintf(out, "stats-interval = %u\n", c->stats_interval);
  write_web(c, out);
}
