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

#define EDDYD_MAX_ENDPOINTS 8  /* per service */
#define EDDYD_ENDPOINT_MAX 400 /* bytes in one endpoint string */
#define EDDYD_PATH_MAX 1024    /* pidfile, logfile */
#define EDDYD_NAME_MAX 64      /* user and group names */
#define EDDYD_TOKEN_MAX 256    /* the lock admin token */
#define EDDYD_ERR_MAX 512      /* room for any error message */
#define EDDYD_CONFIG_FILE_MAX (1024 * 1024)
#define EDDYD_CONFIG_LINE_MAX 4096

/* Defaults. HTTP's port is reserved for the web service of a later issue. */
#define EDDYD_DEFAULT_HTTP "tcp:7700"
#define EDDYD_DEFAULT_LOCKS "tcp:7701"
#define EDDYD_DEFAULT_CACHE "tcp:7702"
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

typedef struct eddyd_config_s {
  eddyd_endpoints_t http;
  eddyd_endpoints_t locks;
  eddyd_endpoints_t cache;
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
