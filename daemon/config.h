/* config.h — eddyd's effective configuration, and the configuration file.
 *
 * One setter serves the file and the flags: every flag `--KEY VALUE` is the
 * file's `KEY = VALUE`, so the two can never drift apart. Settings are
 * applied in layers (defaults, then the file, then the flags); a later layer
 * replaces an earlier one, and an endpoint list given in a layer replaces the
 * whole list of the layer below rather than adding to it.
 *
 * Everything here is pure: no I/O except eddyd_config_load_file, which only
 * reads the file and hands its text to eddyd_config_parse_text.
 */
#ifndef EDDYD_CONFIG_H
#define EDDYD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <eddy/log.h>
#include <eddy/realtime.h>

#define EDDYD_MAX_ENDPOINTS 8  /* per service */
#define EDDYD_ENDPOINT_MAX 400 /* bytes in one endpoint string */
#define EDDYD_PATH_MAX 1024    /* pidfile, logfile */
#define EDDYD_NAME_MAX 64      /* user and group names */
#define EDDYD_TOKEN_MAX 256    /* tokens and the realtime secret */
#define EDDYD_SECRET_MIN 16    /* bytes in a realtime secret, at least */
#define EDDYD_MAX_ORIGINS 32   /* allowed browser origins */
#define EDDYD_ORIGIN_MAX 256   /* bytes in one origin */
/* Namespaces from the configuration; the hub's table also holds eddyd's
 * own "eddy" namespace. */
#define EDDYD_MAX_NAMESPACES (EDDY_RT_MAX_NAMESPACES - 1)
#define EDDYD_NAMESPACE_SPEC_MAX 512 /* bytes in one namespace spec */
/* The namespace configured by default: the live demo's (/demo). */
#define EDDYD_DEFAULT_NAMESPACE "demo history=200 ttl=10m publish=yes"

#define EDDYD_ERR_MAX 512            /* room for any error message */
#define EDDYD_CONFIG_FILE_MAX (1024 * 1024)
#define EDDYD_CONFIG_LINE_MAX 4096

/* Defaults. */
#define EDDYD_DEFAULT_HTTP "tcp:7700"
#define EDDYD_DEFAULT_LOCKS "tcp:7701"
#define EDDYD_DEFAULT_CACHE "tcp:7702"
#define EDDYD_DEFAULT_PUBLISH "tcp:7703"
#define EDDYD_DEFAULT_MAX_CLIENTS 100000u
#define EDDYD_DEFAULT_SEND_QUEUE ((size_t)1024 * 1024)
#define EDDYD_DEFAULT_HISTORY_MEMORY ((size_t)64 * 1024 * 1024)
/* eddyd's own namespace: the dashboard's feed (eddy:metrics) keeps two
 * minutes of one-second snapshots so a new page draws its graphs at once. */
#define EDDYD_NAMESPACE "eddy"
#define EDDYD_METRICS_CHANNEL "eddy:metrics"
#define EDDYD_METRICS_HISTORY 120
#define EDDYD_METRICS_TTL_MS ((uint64_t)5 * 60 * 1000)
#define EDDYD_DEFAULT_CACHE_MEMORY ((size_t)64 * 1024 * 1024)
#define EDDYD_DEFAULT_CACHE_MAX_ITEM ((size_t)1024 * 1024)
#define EDDYD_DEFAULT_STATS_INTERVAL 60 /* seconds */

/* Where a setting came from; a higher layer replaces a lower one. */
typedef enum {
  EDDYD_LAYER_DEFAULT = 0,
  EDDYD_LAYER_FILE = 1,
  EDDYD_LAYER_FLAGS = 2
} eddyd_layer_t;

/* A service's endpoints. count 0 means the service is switched off. */
typedef struct eddyd_endpoints_s {
  int count;
  eddyd_layer_t layer; /* the layer the list was last set from */
  int off;             /* `off` was given in that layer */
  char list[EDDYD_MAX_ENDPOINTS][EDDYD_ENDPOINT_MAX];
} eddyd_endpoints_t;

/* Namespaces from the configuration, in the order given. Like an endpoint
 * list, a list given in a higher layer replaces the lower one. */
typedef struct eddyd_namespaces_s {
  int count;
  eddyd_layer_t layer;
  eddy_rt_namespace_t list[EDDYD_MAX_NAMESPACES];
} eddyd_namespaces_t;

/* Allowed browser origins (WebSocket and SockJS). count 0: any origin. */
typedef struct eddyd_origins_s {
  int count;
  eddyd_layer_t layer;
  int any; /* `*` was given in that layer */
  char list[EDDYD_MAX_ORIGINS][EDDYD_ORIGIN_MAX];
} eddyd_origins_t;

typedef struct eddyd_config_s {
  eddyd_endpoints_t http;
  eddyd_endpoints_t locks;
  eddyd_endpoints_t cache;
  eddyd_endpoints_t publish; /* the realtime hub's line protocol */
  size_t cache_memory;
  size_t cache_max_item;
  char lock_admin_token[EDDYD_TOKEN_MAX]; /* empty: reset is open */
  eddy_log_level_t log_level;
  char logfile[EDDYD_PATH_MAX]; /* empty: stderr (or syslog) */
  int syslog;
  int daemon;
  char pidfile[EDDYD_PATH_MAX]; /* empty: none */
  char user[EDDYD_NAME_MAX];    /* empty: keep the current user */
  char group[EDDYD_NAME_MAX];
  unsigned stats_interval; /* seconds between debug stats lines; 0 = never */
  /* The web and realtime services (on the http endpoints). */
  eddyd_namespaces_t namespaces;
  eddyd_origins_t origins;
  char api_token[EDDYD_TOKEN_MAX];       /* /api bearer token; empty: open */
  char publish_token[EDDYD_TOKEN_MAX];   /* line protocol AUTH; empty: open */
  char realtime_secret[EDDYD_TOKEN_MAX]; /* connection tokens; empty: none */
  char web_root[EDDYD_PATH_MAX];         /* empty: the embedded pages */
  /* Where SockJS's iframe page loads sockjs-client from; empty: the
   * library's default (a CDN). */
  char sockjs_client_url[EDDYD_PATH_MAX];
  size_t realtime_max_clients;
  size_t realtime_send_queue;
  size_t history_memory;
  int sockjs;
  int access_log;
} eddyd_config_t;

/* Fills c with the defaults: every service on loopback, in-memory engines. */
void eddyd_config_init(eddyd_config_t *c);

/* Sets KEY to VALUE from `layer`. Returns 0, or -1 with a message in err
 * (which names the key and says what was expected). Keys are the long flag
 * names without the dashes; boolean keys take yes/no, true/false, on/off or
 * 1/0. */
int eddyd_config_set(eddyd_config_t *c, eddyd_layer_t layer, const char *key,
                     const char *value, char *err, size_t errlen);

/* 1 when KEY takes a value, 0 when it is a boolean, -1 when it is not a
 * configuration key. *name (may be NULL) gets the key's static spelling. */
int eddyd_config_key_kind(const char *key, const char **name);

/* Parses the text of a configuration file (`name` is used in messages:
 * "NAME:LINE: ..."). Format: one `key = value` per line; blank lines and
 * lines whose first non-blank character is '#' are ignored; the value runs
 * to the end of the line with surrounding blanks removed, and may be put in
 * double quotes to keep them. Stops at the first error. */
int eddyd_config_parse_text(eddyd_config_t *c, const char *text, size_t len,
                            const char *name, char *err, size_t errlen);

/* Reads PATH (at most EDDYD_CONFIG_FILE_MAX bytes) and parses it. */
int eddyd_config_load_file(eddyd_config_t *c, const char *path, char *err,
                           size_t errlen);

/* Fills table (room for EDDY_RT_MAX_NAMESPACES) with the hub's namespaces:
 * eddyd's own "eddy" namespace, then the configured ones. Returns the
 * count. */
size_t eddyd_config_namespaces(const eddyd_config_t *c,
                               eddy_rt_namespace_t *table);

/* Checks what single settings cannot: relations between them. */
int eddyd_config_validate(const eddyd_config_t *c, char *err, size_t errlen);

/* Writes the effective configuration in the file format, every key, so the
 * output is itself a valid configuration file. */
void eddyd_config_write(const eddyd_config_t *c, FILE *out);

/* Parses a size: digits with an optional K, M or G suffix (powers of 1024,
 * either case). Returns 0 or -1 (not a size, or larger than SIZE_MAX). */
int eddyd_parse_size(const char *s, size_t *out);
/* Writes a size as the largest exact suffix (64M, 1536K, 100). */
void eddyd_format_size(size_t v, char *buf, size_t size);

/* Formats a message into err (when err is non-NULL and errlen > 0) and
 * returns -1: the failure path of the config and command-line parsers. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int eddyd_fail(char *err, size_t errlen, const char *fmt, ...);

#endif
