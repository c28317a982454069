/* options.h — eddyd's command line.
 *
 * Parsing is pure: it fills an eddyd_options_t and never prints or exits, so
 * every message can be unit-tested. Flags that configure the daemon are the
 * configuration file's keys (`--locks tcp:7701` is `locks = tcp:7701`); they
 * are kept in order and applied over the file by eddyd_options_apply.
 */
#ifndef EDDYD_OPTIONS_H
#define EDDYD_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"

#define EDDYD_MAX_SETTINGS 256 /* configuration flags on one command line */

typedef enum {
  EDDYD_ACTION_RUN = 0,
  EDDYD_ACTION_HELP,
  EDDYD_ACTION_VERSION,
  EDDYD_ACTION_CHECK_CONFIG
} eddyd_action_t;

typedef struct eddyd_setting_s {
  const char *key;   /* a configuration key (static storage) */
  const char *value; /* points into argv, or a static "yes" */
} eddyd_setting_t;

typedef struct eddyd_options_s {
  eddyd_action_t action;
  const char *config_path; /* --config, or NULL */
  size_t nsettings;
  eddyd_setting_t settings[EDDYD_MAX_SETTINGS];
} eddyd_options_t;

/* Parses argv. Accepts `--key value` and `--key=value`, the short forms
 * -c PATH, -d, -h and -V, and `--` to end the options (eddyd takes no
 * operands). Returns 0, or -1 with a message in err (exit status 2). Values
 * are checked here too, so a bad flag is reported before any file is read. */
int eddyd_options_parse(int argc, char **argv, eddyd_options_t *o, char *err,
                        size_t errlen);

/* Applies the flags' settings over c (as EDDYD_LAYER_FLAGS). */
int eddyd_options_apply(const eddyd_options_t *o, eddyd_config_t *c, char *err,
                        size_t errlen);

/* The --help text. */
void eddyd_usage(FILE *out);

#endif
