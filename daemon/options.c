/* options.c — eddyd's command line and its --help. */
#include "options.h"

#include <string.h>
#include <strings.h>

/* Short flags and the long flag each stands for. */
static const char *short_flag(char ch) {
  switch (ch) {
  case 'c':
    return "config";
  case 'd':
    return "daemon";
  case 'h':
    return "help";
  case 'V':
    return "version";
  }
  return NULL;
}

static int is_bool_word(const char *s) {
  static const char *const words[] = {"yes", "no",  "true", "false",
                                      "on",  "off", "1",    "0"};
  for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
    if (strcasecmp(s, words[i]) == 0)
      return 1;
  return 0;
}

static int add_setting(eddyd_options_t *o, eddyd_config_t *scratch,
                       const char *key, const char *value, char *err,
                       size_t errlen) {
  if (o->nsettings == EDDYD_MAX_SETTINGS)
    return eddyd_fail(err, errlen, "too many options (at most %d)",
                      EDDYD_MAX_SETTINGS);
  char msg[EDDYD_ERR_MAX];
  if (eddyd_config_set(scratch, EDDYD_LAYER_FLAGS, key, value, msg,
                       sizeof(msg)) != 0)
    return eddyd_fail(err, errlen, "--%s: %s", key, msg);
  o->settings[o->nsettings].key = key;
  o->settings[o->nsettings].value = value;
  o->nsettings++;
  return 0;
}

int eddyd_options_parse(int argc, char **argv, eddyd_options_t *o, char *err,
                        size_t errlen) {
  memset(o, 0, sizeof(*o));
  /* Values are tried on a scratch configuration so that a bad one is
   * reported with the flag that carried it. */
  static eddyd_config_t scratch;
  eddyd_config_init(&scratch);
  int action_set = 0;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    char name[64];
    const char *inline_value = NULL;
    if (strcmp(arg, "--") == 0) {
      if (i + 1 < argc)
        return eddyd_fail(err, errlen,
                          "unexpected argument '%s' (eddyd takes no "
                          "operands)",
                          argv[i + 1]);
      break;
    }
    if (arg[0] == '-' && arg[1] != '-' && arg[1] != '\0') {
      const char *longname = arg[2] == '\0' ? short_flag(arg[1]) : NULL;
      if (longname == NULL)
        return eddyd_fail(err, errlen, "unknown option '%s' (see eddyd --help)",
                          arg);
      snprintf(name, sizeof(name), "%s", longname);
    } else if (arg[0] == '-' && arg[1] == '-') {
      const char *eq = strchr(arg + 2, '=');
      size_t n = eq != NULL ? (size_t)(eq - (arg + 2)) : strlen(arg + 2);
      if (n == 0 || n >= sizeof(name))
        return eddyd_fail(err, errlen, "unknown option '%s' (see eddyd --help)",
                          arg);
      memcpy(name, arg + 2, n);
      name[n] = '\0';
      if (eq != NULL)
        inline_value = eq + 1;
    } else {
      return eddyd_fail(err, errlen,
                        "unexpected argument '%s' (eddyd takes no "
                        "operands)",
                        arg);
    }

    eddyd_action_t action = EDDYD_ACTION_RUN;
    if (strcmp(name, "help") == 0)
      action = EDDYD_ACTION_HELP;
    else if (strcmp(name, "version") == 0)
      action = EDDYD_ACTION_VERSION;
    else if (strcmp(name, "check-config") == 0)
      action = EDDYD_ACTION_CHECK_CONFIG;
    if (action != EDDYD_ACTION_RUN) {
      if (inline_value != NULL)
        return eddyd_fail(err, errlen, "--%s takes no value", name);
      /* --help wins over everything, so `eddyd --bogus --help` still
       * helps; the others are plain flags. */
      if (action == EDDYD_ACTION_HELP || !action_set ||
          o->action != EDDYD_ACTION_HELP)
        o->action = action;
      action_set = 1;
      continue;
    }

    if (strcmp(name, "config") == 0) {
      const char *v = inline_value;
      if (v == NULL) {
        if (i + 1 >= argc)
          return eddyd_fail(err, errlen, "--config needs a value");
        v = argv[++i];
      }
      if (v[0] == '\0')
        return eddyd_fail(err, errlen,
                          "--config: expected a path, got an empty "
                          "value");
      if (o->config_path != NULL)
        return eddyd_fail(err, errlen, "--config is given twice");
      o->config_path = v;
      continue;
    }

    /* The key's static spelling outlives this loop's copy of the name. */
    const char *key = NULL;
    int kind = eddyd_config_key_kind(name, &key);
    if (kind < 0)
      return eddyd_fail(err, errlen, "unknown option '--%s' (see eddyd --help)",
                        name);
    const char *v = inline_value;
    if (kind == 0) {
      /* --daemon alone means yes; --daemon=no and `--sockjs no` work too
       * (eddyd takes no operands, so a yes/no word after a boolean flag
       * can only be its value). */
      if (v == NULL && i + 1 < argc && is_bool_word(argv[i + 1]))
        v = argv[++i];
      if (v == NULL)
        v = "yes";
    } else if (v == NULL) {
      if (i + 1 >= argc)
        return eddyd_fail(err, errlen, "--%s needs a value", key);
      v = argv[++i];
    }
    if (add_setting(o, &scratch, key, v, err, errlen) != 0)
      return -1;
  }
  return 0;
}

int eddyd_options_apply(const eddyd_options_t *o, eddyd_config_t *c, char *err,
                        size_t errlen) {
  char msg[EDDYD_ERR_MAX];
  for (size_t i = 0; i < o->nsettings; i++) {
    const eddyd_setting_t *s = &o->settings[i];
    if (eddyd_config_set(c, EDDYD_LAYER_FLAGS, s->key, s->value, msg,
                         sizeof(msg)) != 0)
      return eddyd_fail(err, errlen, "--%s: %s", s->key, msg);
  }
  return 0;
}

void eddyd_usage(FILE *out) {
  /* Kept under 80 columns; docs/eddyd.md says the same at length. */
  static const char *const lines[] = {
      "usage: eddyd [OPTION]...",
      "",
      "eddyd serves libeddy's services: a web port with the real-time hub, its",
      "JSON API, a dashboard, /metrics and /status; a publish line protocol "
      "for",
      "backends; named locks; a memcached-compatible cache. With no options "
      "it",
      "runs every service on loopback with in-memory engines, in the "
      "foreground,",
      "logging to stderr. Each flag --KEY VALUE is also the configuration "
      "file's",
      "`KEY = VALUE`; flags override the file.",
      "",
      "Services. ENDPOINT is tcp:PORT[:interface=ADDR][:backlog=N],",
      "tcp6:PORT[:interface=ADDR] or unix:PATH[:mode=0660]; tcp:0 picks a free",
      "port. Give a flag several times to listen on several endpoints, or "
      "`off`",
      "to switch the service off:",
      "  --http ENDPOINT|off      the web port (default tcp:7700): / the "
      "dashboard,",
      "                           /demo, /eddy.js, /connect/websocket, "
      "/sockjs,",
      "                           /api, /metrics, /status",
      "  --publish ENDPOINT|off   the hub's line protocol for backends "
      "(default",
      "                           tcp:7703): PUBLISH CHANNEL JSON",
      "  --locks ENDPOINT|off     the lock service (default tcp:7701)",
      "  --cache ENDPOINT|off     the memcached-protocol cache (default "
      "tcp:7702)",
      "",
      "Real-time hub:",
      "  --namespace SPEC         channel rules for the namespace before ':' "
      "in a",
      "                           channel name; repeat for several. SPEC is",
      "                           NAME [history=N] [ttl=DURATION] "
      "[presence=yes|no]",
      "                           [join_leave=yes|no] [publish=yes|no]; NAME",
      "                           `default` is for names without ':'. "
      "Unlisted",
      "                           namespaces are refused; `eddy` is eddyd's "
      "own.",
      "                           Default: demo history=200 ttl=10m "
      "publish=yes",
      "                           (the live demo at /demo); a list replaces "
      "it.",
      "  --realtime-secret SECRET clients must connect with a token signed "
      "with",
      "                           SECRET (16 bytes or more); POST /api/token "
      "makes",
      "                           them (default: none, anyone may connect)",
      "  --origins ORIGIN|*       browser origins allowed to connect "
      "(WebSocket,",
      "                           SockJS), e.g. https://app.example.com; "
      "repeat",
      "                           for several (default *: any)",
      "  --realtime-max-clients N connected clients at most (default 100000)",
      "  --realtime-send-queue SIZE  bytes queued to one client; a slower "
      "reader",
      "                           is disconnected (4008) and may recover "
      "(default",
      "                           1M; 4K to 1G)",
      "  --history-memory SIZE    memory for channel history, all channels",
      "                           (default 64M; 64K to 1024G)",
      "  --sockjs yes|no          serve SockJS under /sockjs (default yes)",
      "  --sockjs-client-url URL  where SockJS's iframe page loads "
      "sockjs-client",
      "                           (iframe transports only; default: the "
      "jsDelivr",
      "                           CDN, sockjs-client@1)",
      "",
      "Web and access:",
      "  --api-token TOKEN        /api needs `Authorization: Bearer TOKEN`",
      "                           (default: none, /api is open)",
      "  --publish-token TOKEN    the publish protocol needs `AUTH TOKEN` "
      "first",
      "                           (default: none)",
      "  --lock-admin-token TOKEN the lock protocol's `reset` must present "
      "TOKEN",
      "                           (default: none, any client may reset)",
      "  --web-root DIR           serve the pages from DIR instead of the "
      "copies",
      "                           built into eddyd (to work on them)",
      "  --access-log yes|no      log one line per HTTP request (default no)",
      "",
      "Service limits. SIZE is bytes, or a number with K, M or G (powers of "
      "1024):",
      "  --cache-memory SIZE      memory for cache items, LRU eviction beyond "
      "it",
      "                           (default 64M; from 1M to 1024G)",
      "  --cache-max-item SIZE    largest cache value (default 1M; from 1K to "
      "1G,",
      "                           at most --cache-memory)",
      "",
      "Logging:",
      "  --log-level LEVEL        debug, info, warn, error or off (default "
      "info)",
      "  --logfile PATH           append the log to PATH; reopened on SIGHUP",
      "  --syslog                 log to syslog (facility daemon, ident eddyd)",
      "  --stats-interval SECONDS log the services' counters at debug level "
      "every",
      "                           SECONDS (default 60; 0 = never)",
      "",
      "Process:",
      "  -d, --daemon             detach; return once every service listens, "
      "or",
      "                           with eddyd's exit status if start-up failed.",
      "                           Without --logfile the log goes to syslog.",
      "  --pidfile PATH           write the pid to PATH (locked); refuse to "
      "start",
      "                           if a live eddyd holds it, replace a stale "
      "one",
      "  --user USER              switch to USER after binding (needs root)",
      "  --group GROUP            switch to GROUP after binding (default: "
      "USER's",
      "                           primary group)",
      "Boolean flags alone mean yes; they also take a value, as =no or no",
      "(--daemon=no, --sockjs no; either overrides the file).",
      "",
      "Other:",
      "  -c, --config PATH        read settings from PATH (none is read unless",
      "                           given; /etc/eddy/eddyd.conf is the usual "
      "place)",
      "  --check-config           check the configuration, print it, and exit",
      "  -V, --version            print the version and exit",
      "  -h, --help               print this help and exit",
      "",
      "Signals: SIGTERM or SIGINT stop gracefully (a second one exits at "
      "once);",
      "SIGHUP reopens the log file; SIGUSR1 logs the services' counters.",
      "",
      "Exit status: 0 stopped cleanly; 1 run-time or start-up error (an "
      "endpoint",
      "in use, a live pidfile, a failed privilege switch); 2 usage or",
      "configuration error.",
      "",
      "Examples:",
      "  eddyd                          every service on loopback; open",
      "                                 http://127.0.0.1:7700/ for the "
      "dashboard",
      "  eddyd --namespace 'chat history=50 ttl=10m publish=yes' \\",
      "        --realtime-secret \"$(head -c 24 /dev/urandom | base64)\"",
      "  eddyd --http tcp:8080:interface=0.0.0.0 \\",
      "        --origins https://app.example.com --api-token \"$API_TOKEN\"",
      "  eddyd --locks unix:/run/eddy/locks.sock --cache off --publish off",
      "  eddyd --cache tcp:11211:interface=0.0.0.0 --cache-memory 1G",
      "  eddyd -d --pidfile /run/eddyd.pid --logfile /var/log/eddyd.log \\",
      "        --user eddy",
      "  eddyd -c /etc/eddy/eddyd.conf --check-config",
      "",
      "See eddyd(8) (docs/eddyd.md) for the configuration file and more.",
  };
  for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
    fputs(lines[i], out);
    fputc('\n', out);
  }
}
