/* eddy — the command-line tool that talks to eddyd's services.
 *
 *   eddy lock [OPTIONS] NAME -- COMMAND [ARGS...]
 *   eddy publish [OPTIONS] CHANNEL DATA
 *   eddy token [OPTIONS] USER
 *
 * Each subcommand is one entry in `commands` below: its name, a one-line
 * summary for `eddy --help`, its main and its help. Adding one (`eddy
 * publish`, `eddy cache`...) means writing those and one table line.
 */
#include <eddy/eddy.h>
#include <eddy/lock_client.h>

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Exit statuses of the tool itself, from sysexits(3), so a script can tell
 * "the lock was busy" from "the service is down" from "COMMAND failed". */
enum {
  EXIT_USAGE = 64,       /* EX_USAGE: bad arguments */
  EXIT_UNAVAILABLE = 69, /* EX_UNAVAILABLE: cannot reach the service */
  EXIT_SOFTWARE = 70,    /* EX_SOFTWARE: the lock was lost while held */
  EXIT_TEMPFAIL = 75,    /* EX_TEMPFAIL: not acquired in time / busy */
  EXIT_PROTOCOL = 76,    /* EX_PROTOCOL: the server refused the request */
  EXIT_NOEXEC = 126,     /* as the shell: COMMAND cannot be run */
  EXIT_NOTFOUND = 127    /* as the shell: COMMAND not found */
};

#define DEFAULT_LOCKS_ENDPOINT "tcp:127.0.0.1:7701"
#define ENV_LOCKS_ENDPOINT "EDDY_LOCKS_ENDPOINT"
#define DEFAULT_PUBLISH_ENDPOINT "tcp:127.0.0.1:7703"
#define ENV_PUBLISH_ENDPOINT "EDDY_PUBLISH_ENDPOINT"
#define ENV_PUBLISH_TOKEN "EDDY_PUBLISH_TOKEN"
#define ENV_TOKEN_SECRET "EDDY_TOKEN_SECRET"
#define MAX_SECONDS 31536000.0 /* a year: larger is a typo */
#define MAX_LEASE_SECONDS 86400.0

typedef struct command_s {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv);
  void (*help)(FILE *out);
} command_t;

static void lock_help(FILE *out);
static int lock_main(int argc, char **argv);
static void publish_help(FILE *out);
static int publish_main(int argc, char **argv);
static void token_help(FILE *out);
static int token_main(int argc, char **argv);

static const command_t commands[] = {
    {"lock", "run a command while holding a network lock", lock_main,
     lock_help},
    {"publish", "publish a message to a realtime channel", publish_main,
     publish_help},
    {"token", "make a connection token for the realtime hub", token_main,
     token_help},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void main_help(FILE *out) {
  fprintf(out, "usage: eddy COMMAND [ARGS...]\n"
               "       eddy help COMMAND\n"
               "       eddy --version\n\n"
               "Talks to the services of eddyd, the eddy daemon.\n\n"
               "Commands:\n");
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\nRun `eddy COMMAND --help` for the options of each.\n");
}

static const command_t *find_command(const char *name) {
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

/* Seconds as "N" or "N.NNN" (at most three decimals: the protocol counts
 * milliseconds), 0 <= value <= max. */
static int parse_seconds(const char *s, double max, uint64_t *ms) {
  uint64_t whole = 0, frac = 0;
  int digits = 0, fdigits = 0;
  const char *p = s;
  for (; *p >= '0' && *p <= '9'; p++, digits++) {
    whole = whole * 10 + (uint64_t)(*p - '0');
    if (whole > (uint64_t)max)
      return -1;
  }
  if (*p == '.') {
    for (p++; *p >= '0' && *p <= '9'; p++, fdigits++) {
      if (fdigits == 3)
        return -1;
      frac = frac * 10 + (uint64_t)(*p - '0');
    }
    if (fdigits == 0)
      return -1;
    for (int i = fdigits; i < 3; i++)
      frac *= 10;
  }
  if (*p != '\0' || digits == 0)
    return -1;
  uint64_t v = whole * 1000 + frac;
  if ((double)v > max * 1000.0)
    return -1;
  *ms = v;
  return 0;
}

/* ---- eddy lock ----------------------------------------------------------- */

static void lock_help(FILE *out) {
  fprintf(
      out,
      "usage: eddy lock [OPTIONS] NAME -- COMMAND [ARGS...]\n"
      "\n"
      "Runs COMMAND while holding the lock NAME of an eddy lock service, like\n"
      "flock(1) but across processes on any number of hosts.\n"
      "\n"
      "eddy connects to the service, waits for the lock (in line with the\n"
      "other waiters: first come, first served), runs COMMAND with its\n"
      "standard input, output and error, and releases the lock when COMMAND\n"
      "exits. The lock belongs to eddy's connection: if eddy is killed, even\n"
      "with SIGKILL, or its host goes away, the service releases the lock at\n"
      "once, so a lock is never left behind.\n"
      "\n"
      "Options:\n"
      "  -e, --endpoint EP  the lock service: tcp:HOST:PORT or unix:PATH\n"
      "                     (default $" ENV_LOCKS_ENDPOINT
      ", else " DEFAULT_LOCKS_ENDPOINT ")\n"
      "  -t, --timeout S    wait at most S seconds for the lock (decimals\n"
      "                     allowed, e.g. 0.5); 0 tries once without waiting.\n"
      "                     Default: wait as long as it takes.\n"
      "  -s, --shared       take a shared (read) lock: any number of shared\n"
      "                     holders at once, but never with an exclusive one.\n"
      "                     Default: exclusive.\n"
      "  -l, --lease S      ask the service to release the lock if eddy stops\n"
      "                     renewing it for S seconds (a hung host whose\n"
      "                     connection stays open); eddy renews it every S/3\n"
      "                     while COMMAND runs. At most 86400.\n"
      "  -n, --client-name N  name this client for the service's inspection\n"
      "                     (default eddy-lock/HOST/PID)\n"
      "  -q, --quiet        say nothing when the lock is busy or times out\n"
      "  -h, --help         show this help\n"
      "\n"
      "Environment given to COMMAND:\n"
      "  EDDY_LOCK_NAME     NAME\n"
      "  EDDY_LOCK_TOKEN    the fencing token of this grant: a number that\n"
      "                     only grows for NAME. Hand it to whatever the lock\n"
      "                     protects so it can refuse writes from an older\n"
      "                     holder that lost the lock without knowing.\n"
      "\n"
      "Signals: SIGTERM and SIGHUP received by eddy while COMMAND runs are\n"
      "passed on to COMMAND (SIGINT from a terminal reaches both already);\n"
      "eddy then waits for COMMAND. A signal while waiting for the lock gives\n"
      "up the wait.\n"
      "\n"
      "Exit status:\n"
      "  COMMAND's own status, or 128+N when it was killed by signal N.\n"
      "   64  bad arguments\n"
      "   69  the lock service cannot be reached, or the connection was lost\n"
      "       before the lock was granted\n"
      "   70  the lock was lost while COMMAND ran (connection or lease lost):\n"
      "       COMMAND was sent SIGTERM\n"
      "   75  the lock was not granted within --timeout (or was busy, with\n"
      "       --timeout 0)\n"
      "   76  the service refused the request (bad name, limit, admin reset)\n"
      "  126  COMMAND cannot be executed;  127  COMMAND not found\n"
      "  130, 143  interrupted by SIGINT or SIGTERM while waiting\n"
      "\n"
      "Examples:\n"
      "  eddy lock nightly-report -- ./make-report --all\n"
      "  eddy lock -t 0 -e unix:/run/eddy/locks.sock cron-job -- ./job.sh\n"
      "  eddy lock --shared schema -- ./read-only-check\n");
}

typedef enum {
  PHASE_CONNECTING,
  PHASE_WAITING,
  PHASE_RUNNING,
  PHASE_RELEASING,
  PHASE_DONE
} phase_t;

typedef struct lock_run_s {
  eddy_reactor_t *r;
  const char *endpoint;
  const char *name;
  const char *client_name;
  eddy_lock_opts_t opts;
  char **argv; /* COMMAND and its arguments */
  int quiet;

  phase_t phase;
  eddy_deferred_t *pending; /* the connect+acquire chain while unfinished */
  eddy_lock_client_t *client;
  eddy_process_t *proc;
  eddy_looping_t refresh;
  int refreshing; /* a refresh is in flight */
  int lost;       /* the lock went away while COMMAND ran */
  int signalled;  /* a signal asked us to give up the wait */
  int status;
  char **env;
  eddy_signal_t *sigs[3];
} lock_run_t;

static void lock_finish(lock_run_t *lr);

static void client_closed(void *arg) {
  lock_run_t *lr = arg;
  lock_finish(lr);
}

/* Everything ends here: close the connection (the server releases what is
 * still held), then stop the loop once it is closed. */
static void lock_finish(lock_run_t *lr) {
  lr->phase = PHASE_DONE;
  eddy_looping_stop(&lr->refresh);
  if (lr->client != NULL) {
    /* client_closed comes back here once the client is freed. */
    eddy_lock_client_t *c = lr->client;
    lr->client = NULL;
    eddy_lock_client_close(c, client_closed, lr);
    return;
  }
  eddy_reactor_stop(lr->r);
}

static void released(eddy_result_t *res, void *arg) {
  lock_run_t *lr = arg;
  if (res->err != 0 && !lr->lost)
    fprintf(stderr, "eddy: warning: releasing %s: %s\n", lr->name,
            eddy_result_message(res));
  eddy_result_recover(res);
  lock_finish(lr);
}

static void proc_ended(eddy_process_t *p, int reason, int64_t exit_status,
                       int term_signal) {
  lock_run_t *lr = eddy_process_data(p);
  lr->proc = NULL;
  eddy_looping_stop(&lr->refresh);
  if (lr->lost)
    lr->status = EXIT_SOFTWARE;
  else if (term_signal != 0)
    lr->status = 128 + term_signal;
  else
    lr->status = (int)exit_status;
  if (lr->client == NULL || eddy_lock_client_lost(lr->client)) {
    lock_finish(lr);
    return;
  }
  /* An explicit release, confirmed, so the next holder is let in before we
   * exit; closing alone would also release it. */
  lr->phase = PHASE_RELEASING;
  eddy_deferred_t *d = eddy_lock_release(lr->client, lr->name);
  if (d == NULL || eddy_deferred_add_both(d, released, lr) != 0)
    lock_finish(lr);
}

static const eddy_process_ops_t proc_ops = {.ended = proc_ended};

static void lock_lost(lock_run_t *lr, const char *why) {
  if (lr->lost || lr->phase != PHASE_RUNNING)
    return;
  lr->lost = 1;
  eddy_looping_stop(&lr->refresh);
  fprintf(stderr, "eddy: lost the lock %s (%s); stopping the command\n",
          lr->name, why);
  if (lr->proc != NULL)
    eddy_process_kill(lr->proc, SIGTERM);
}

static void client_lost(eddy_lock_client_t *c, const char *name, uint64_t token,
                        int reason, void *arg) {
  lock_run_t *lr = arg;
  char why[160];
  if (name == NULL)
    snprintf(why, sizeof(why), "connection to %s closed: %s", lr->endpoint,
             reason == 0 ? "by the server" : eddy_strerror(reason));
  else if (strcmp(name, lr->name) != 0)
    return;
  else
    snprintf(why, sizeof(why), "%s",
             reason == UV_ETIMEDOUT ? "its lease expired"
                                    : "an administrator reset the locks");
  lock_lost(lr, why);
}

static void refreshed(eddy_result_t *res, void *arg) {
  lock_run_t *lr = arg;
  lr->refreshing = 0;
  if (res->err != 0) {
    char why[200];
    snprintf(why, sizeof(why), "lease renewal failed: %s",
             eddy_result_message(res));
    lock_lost(lr, why);
  }
  eddy_result_recover(res);
}

static void refresh_tick(eddy_looping_t *lc, uint64_t intervals) {
  lock_run_t *lr = lc->data;
  if (lr->refreshing || lr->client == NULL)
    return;
  eddy_deferred_t *d =
      eddy_lock_refresh(lr->client, lr->name, lr->opts.lease_ms);
  if (d == NULL)
    return; /* out of memory: the next tick tries again */
  lr->refreshing = 1;
  eddy_deferred_add_both(d, refreshed, lr);
}

/* The environment of COMMAND: ours, with EDDY_LOCK_NAME and EDDY_LOCK_TOKEN
 * set (replacing any inherited ones). */
static char **command_env(const char *name, uint64_t token) {
  size_t n = 0;
  while (environ[n] != NULL)
    n++;
  char **env = calloc(n + 3, sizeof(*env));
  if (env == NULL)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "EDDY_LOCK_NAME=", 15) != 0 &&
        strncmp(environ[i], "EDDY_LOCK_TOKEN=", 16) != 0)
      env[k++] = environ[i];
  char *a = NULL, *b = NULL;
  if (asprintf(&a, "EDDY_LOCK_NAME=%s", name) < 0)
    a = NULL;
  if (asprintf(&b, "EDDY_LOCK_TOKEN=%llu", (unsigned long long)token) < 0)
    b = NULL;
  if (a == NULL || b == NULL) {
    free(a);
    free(b);
    free(env);
    return NULL;
  }
  env[k++] = a;
  env[k++] = b;
  env[k] = NULL;
  return env;
}

static void free_env(char **env) {
  if (env == NULL)
    return;
  /* Only the two strings we made are ours: they are the last two. */
  size_t n = 0;
  while (env[n] != NULL)
    n++;
  if (n >= 2) {
    free(env[n - 1]);
    free(env[n - 2]);
  }
  free(env);
}

static void granted(eddy_result_t *res, void *arg) {
  lock_run_t *lr = arg;
  lr->pending = NULL;
  const eddy_lock_grant_t *g = res->value;
  lr->phase = PHASE_RUNNING;
  lr->env = command_env(lr->name, g->token);
  if (lr->env == NULL) {
    fprintf(stderr, "eddy: out of memory\n");
    lr->status = EXIT_SOFTWARE;
    lock_finish(lr);
    return;
  }
  eddy_spawn_opts_t so = {
      .file = lr->argv[0],
      .args = lr->argv,
      .env = lr->env,
      .stdio = {EDDY_STDIO_INHERIT, EDDY_STDIO_INHERIT, EDDY_STDIO_INHERIT},
      .data = lr,
  };
  int rc = eddy_spawn(lr->r, &so, &proc_ops, &lr->proc);
  if (rc != 0) {
    fprintf(stderr, "eddy: cannot run %s: %s\n", lr->argv[0],
            eddy_strerror(rc));
    lr->status = rc == UV_ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC;
    lr->proc = NULL;
    lock_finish(lr);
    return;
  }
  if (lr->opts.lease_ms > 0) {
    uint64_t every = lr->opts.lease_ms / 3;
    eddy_looping_start(&lr->refresh, every > 0 ? every : 1, 0);
  }
}

static void not_granted(eddy_result_t *res, void *arg) {
  lock_run_t *lr = arg;
  lr->pending = NULL;
  int err = res->err;
  const char *msg = eddy_result_message(res);
  if (lr->signalled) {
    /* status already set by the signal */
  } else if (lr->phase == PHASE_CONNECTING) {
    fprintf(stderr, "eddy: cannot reach the lock service at %s: %s\n",
            lr->endpoint, msg);
    lr->status = EXIT_UNAVAILABLE;
  } else if (err == UV_ETIMEDOUT || err == UV_EBUSY) {
    if (!lr->quiet) {
      if (err == UV_EBUSY)
        fprintf(stderr, "eddy: lock %s is busy\n", lr->name);
      else
        fprintf(stderr, "eddy: lock %s not granted within %.3f s\n", lr->name,
                (double)lr->opts.timeout_ms / 1000.0);
    }
    lr->status = EXIT_TEMPFAIL;
  } else if (err == UV_ENOTCONN || err == UV_ECONNRESET || err == UV_EOF ||
             err == UV_EPIPE) {
    fprintf(stderr, "eddy: connection to %s lost while waiting for %s: %s\n",
            lr->endpoint, lr->name, msg);
    lr->status = EXIT_UNAVAILABLE;
  } else {
    fprintf(stderr, "eddy: lock %s refused: %s\n", lr->name, msg);
    lr->status = EXIT_PROTOCOL;
  }
  eddy_result_recover(res);
  lock_finish(lr);
}

static void connected(eddy_result_t *res, void *arg) {
  lock_run_t *lr = arg;
  lr->client = res->value;
  lr->phase = PHASE_WAITING;
  eddy_lock_client_on_lost(lr->client, client_lost, lr);
  eddy_result_wait(res, eddy_lock_acquire(lr->client, lr->name, &lr->opts));
}

static void on_signal(eddy_signal_t *s, int signum, void *arg) {
  lock_run_t *lr = arg;
  switch (lr->phase) {
  case PHASE_CONNECTING:
  case PHASE_WAITING:
    lr->signalled = 1;
    lr->status = 128 + signum;
    if (lr->pending != NULL)
      eddy_deferred_cancel(lr->pending);
    break;
  case PHASE_RUNNING:
    if (signum != SIGINT && lr->proc != NULL)
      eddy_process_kill(lr->proc, signum);
    break;
  default:
    break;
  }
}

static int lock_usage(const char *why) {
  fprintf(stderr, "eddy lock: %s\nRun `eddy lock --help` for usage.\n", why);
  return EXIT_USAGE;
}

/* A name as the protocol takes it: 1..EDDY_LOCK_NAME_MAX printable bytes,
 * no spaces. Checked here so the user gets the reason before any I/O. */
static int valid_name(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n == 0 || n > max)
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
      return 0;
  return 1;
}

static int lock_main(int argc, char **argv) {
  lock_run_t lr = {.status = 0};
  eddy_lock_opts_init(&lr.opts);
  lr.endpoint = getenv(ENV_LOCKS_ENDPOINT);
  if (lr.endpoint == NULL || lr.endpoint[0] == '\0')
    lr.endpoint = DEFAULT_LOCKS_ENDPOINT;

  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      lock_help(stdout);
      return 0;
    } else if (strcmp(a, "--") == 0) {
      break;
    } else if (strcmp(a, "-s") == 0 || strcmp(a, "--shared") == 0) {
      lr.opts.shared = 1;
    } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
      lr.quiet = 1;
    } else if (strcmp(a, "-e") == 0 || strcmp(a, "--endpoint") == 0) {
      if (v == NULL)
        return lock_usage("--endpoint needs a value");
      lr.endpoint = v;
      i++;
    } else if (strcmp(a, "-n") == 0 || strcmp(a, "--client-name") == 0) {
      if (v == NULL || !valid_name(v, 64))
        return lock_usage("--client-name wants 1..64 printable bytes, no "
                          "spaces");
      lr.client_name = v;
      i++;
    } else if (strcmp(a, "-t") == 0 || strcmp(a, "--timeout") == 0) {
      if (v == NULL || parse_seconds(v, MAX_SECONDS, &lr.opts.timeout_ms) != 0)
        return lock_usage("--timeout wants seconds, 0 to 31536000, at most "
                          "three decimals");
      i++;
    } else if (strcmp(a, "-l") == 0 || strcmp(a, "--lease") == 0) {
      if (v == NULL ||
          parse_seconds(v, MAX_LEASE_SECONDS, &lr.opts.lease_ms) != 0 ||
          lr.opts.lease_ms < 3)
        return lock_usage("--lease wants seconds, 0.003 to 86400");
      i++;
    } else if (a[0] == '-' && a[1] != '\0') {
      char why[128];
      snprintf(why, sizeof(why), "unknown option %.60s", a);
      return lock_usage(why);
    } else if (lr.name == NULL) {
      lr.name = a;
    } else {
      return lock_usage("expected -- between NAME and COMMAND");
    }
  }
  if (lr.name == NULL)
    return lock_usage("missing NAME");
  if (!valid_name(lr.name, EDDY_LOCK_NAME_MAX))
    return lock_usage("NAME must be 1..250 printable bytes without spaces");
  if (i >= argc || i + 1 >= argc)
    return lock_usage("missing -- COMMAND");
  lr.argv = &argv[i + 1];

  eddy_endpoint_t ep;
  eddy_endpoint_error_t perr;
  if (eddy_endpoint_parse_client(lr.endpoint, &ep, &perr) != 0) {
    fprintf(stderr, "eddy lock: bad endpoint: %s\n  %s\n  %*s^\n", perr.message,
            lr.endpoint, (int)perr.pos, "");
    return EXIT_USAGE;
  }
  char default_name[64];
  if (lr.client_name == NULL) {
    char host[32] = "";
    if (gethostname(host, sizeof(host) - 1) != 0)
      strcpy(host, "unknown");
    for (char *p = host; *p; p++)
      if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
        *p = '_';
    snprintf(default_name, sizeof(default_name), "eddy-lock/%s/%ld", host,
             (long)getpid());
    lr.client_name = default_name;
  }

  int rc = eddy_reactor_new(&lr.r, 0);
  if (rc != 0) {
    fprintf(stderr, "eddy: %s\n", eddy_strerror(rc));
    return EXIT_SOFTWARE;
  }
  eddy_looping_init(lr.r, &lr.refresh, refresh_tick);
  lr.refresh.data = &lr;
  const int signums[3] = {SIGINT, SIGTERM, SIGHUP};
  for (int k = 0; k < 3 && rc == 0; k++)
    rc = eddy_signal_watch(lr.r, signums[k], on_signal, &lr, &lr.sigs[k]);
  eddy_deferred_t *d = NULL;
  if (rc == 0) {
    d = eddy_lock_client_connect(lr.r, lr.endpoint, lr.client_name);
    if (d == NULL || eddy_deferred_add_callback(d, connected, &lr) != 0 ||
        eddy_deferred_add_callbacks(d, granted, not_granted, &lr) != 0)
      rc = UV_ENOMEM;
  }
  if (rc != 0) {
    fprintf(stderr, "eddy: %s\n", eddy_strerror(rc));
    if (d != NULL)
      eddy_deferred_cancel(d);
    lr.status = EXIT_SOFTWARE;
  } else {
    lr.pending = d;
    eddy_reactor_run(lr.r);
  }
  for (int k = 0; k < 3; k++)
    if (lr.sigs[k] != NULL)
      eddy_signal_close(lr.sigs[k]);
  /* eddy_reactor_free turns the loop until the watchers are closed. */
  if (eddy_reactor_free(lr.r) != 0 && lr.status == 0)
    lr.status = EXIT_SOFTWARE;
  free_env(lr.env);
  return lr.status;
}

/* ---- eddy publish -------------------------------------------------------- */

static void publish_help(FILE *out) {
  fprintf(
      out,
      "usage: eddy publish [OPTIONS] CHANNEL DATA\n"
      "\n"
      "Publishes DATA on CHANNEL of an eddy realtime hub, over its backend\n"
      "line protocol (eddyd's publish port). Every browser subscribed to\n"
      "CHANNEL gets the message at once; when the channel's namespace keeps\n"
      "history, it is kept there too.\n"
      "\n"
      "DATA is one JSON value: an object, an array, a number, true, false,\n"
      "null or a quoted string. An argument that is not valid JSON is sent\n"
      "as a JSON string holding it, so `eddy publish news hello` sends\n"
      "\"hello\" (but `eddy publish news 42` sends the number 42: quote it,\n"
      "'\"42\"', to send a string). DATA - reads the value from standard\n"
      "input instead (at most 64 KiB). JSON spread over several lines is\n"
      "sent compacted to one.\n"
      "\n"
      "On success eddy prints the publication's offset and the channel's\n"
      "epoch (\"OFFSET EPOCH\"; offset 0 when the namespace keeps no "
      "history),\n"
      "which is what a client gives to recover from.\n"
      "\n"
      "Options:\n"
      "  -s, --server EP    the hub's line protocol endpoint: tcp:HOST:PORT "
      "or\n"
      "                     unix:PATH (default $" ENV_PUBLISH_ENDPOINT ",\n"
      "                     else " DEFAULT_PUBLISH_ENDPOINT ")\n"
      "  -t, --token T      the publish token, when the hub asks for one\n"
      "                     (default $" ENV_PUBLISH_TOKEN
      "; prefer the environment:\n"
      "                     arguments are visible to other users in ps)\n"
      "  -w, --timeout S    give up after S seconds without an answer\n"
      "                     (decimals allowed; default 10)\n"
      "  -q, --quiet        print nothing on success\n"
      "  -h, --help         show this help\n"
      "\n"
      "Exit status:\n"
      "    0  published\n"
      "   64  bad arguments\n"
      "   69  the hub cannot be reached, closed the connection, or did not\n"
      "       answer in time\n"
      "   76  the hub refused: bad channel name, unknown namespace, data too\n"
      "       large, bad token (its message is printed)\n"
      "\n"
      "Examples:\n"
      "  eddy publish chat:lobby '{\"text\": \"deploy finished\"}'\n"
      "  eddy publish alerts disk-full\n"
      "  ./status --json | eddy publish -s tcp:hub.internal:7703 status -\n");
}

typedef struct pub_run_s pub_run_t;

typedef struct {
  eddy_line_receiver_t lr; /* first: the library's protocol pointer is ours */
  pub_run_t *run;
} pub_conn_t;

struct pub_run_s {
  eddy_reactor_t *r;
  eddy_factory_t factory;
  const char *endpoint;
  const char *token;
  const char *channel;
  char *data; /* compact JSON text */
  int quiet;
  uint64_t timeout_ms;
  eddy_timer_t timer;
  eddy_deferred_t *pending; /* the connect, until it fires */
  pub_conn_t *conn;
  int auth_pending; /* the AUTH reply comes first */
  int done;         /* the PUBLISH reply arrived */
  int status;
};

static void pub_fail(pub_run_t *run, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void pub_fail(pub_run_t *run, int status, const char *fmt, ...) {
  if (run->done)
    return;
  run->done = 1;
  run->status = status;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "eddy publish: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static void pub_line(eddy_line_receiver_t *lr, const char *line, size_t len) {
  pub_conn_t *c = (pub_conn_t *)lr;
  pub_run_t *run = c->run;
  if (len > 0 && line[len - 1] == '\r')
    len--;
  if (run->done)
    return;
  if (len >= 4 && memcmp(line, "ERR ", 4) == 0) {
    pub_fail(run, EXIT_PROTOCOL, "%s refused: %.*s", run->endpoint,
             (int)(len - 4), line + 4);
  } else if (run->auth_pending) {
    run->auth_pending = 0;
    if (len != 2 || memcmp(line, "OK", 2) != 0)
      pub_fail(run, EXIT_PROTOCOL, "unexpected answer to AUTH: %.*s", (int)len,
               line);
    return;
  } else if (len > 3 && memcmp(line, "OK ", 3) == 0) {
    run->done = 1;
    run->status = 0;
    if (!run->quiet)
      printf("%.*s\n", (int)(len - 3), line + 3);
  } else {
    pub_fail(run, EXIT_PROTOCOL, "unexpected answer: %.*s", (int)len, line);
  }
  eddy_transport_lose_connection(lr->protocol.transport);
}

static void pub_made(eddy_protocol_t *p) {
  pub_conn_t *c = (pub_conn_t *)p;
  pub_run_t *run = c->run;
  run->conn = c;
  /* Both lines at once: the replies come back in order. */
  if (run->token != NULL) {
    uv_buf_t auth[3] = {
        uv_buf_init("AUTH ", 5),
        uv_buf_init((char *)run->token, (unsigned)strlen(run->token)),
        uv_buf_init("\n", 1)};
    eddy_transport_writev(p->transport, auth, 3);
    run->auth_pending = 1;
  }
  uv_buf_t pub[5] = {
      uv_buf_init("PUBLISH ", 8),
      uv_buf_init((char *)run->channel, (unsigned)strlen(run->channel)),
      uv_buf_init(" ", 1), uv_buf_init(run->data, (unsigned)strlen(run->data)),
      uv_buf_init("\n", 1)};
  eddy_transport_writev(p->transport, pub, 5);
}

static void pub_lost(eddy_protocol_t *p, int reason) {
  pub_conn_t *c = (pub_conn_t *)p;
  pub_run_t *run = c->run;
  run->conn = NULL;
  pub_fail(run, EXIT_UNAVAILABLE,
           "%s closed the connection before answering%s%s", run->endpoint,
           reason != 0 ? ": " : "", reason != 0 ? eddy_strerror(reason) : "");
}

static void pub_destroy(eddy_protocol_t *p) {
  pub_conn_t *c = (pub_conn_t *)p;
  pub_run_t *run = c->run;
  eddy_line_receiver_cleanup(&c->lr);
  free(c);
  eddy_timer_stop(&run->timer);
  eddy_reactor_stop(run->r);
}

static const eddy_protocol_ops_t pub_ops = {
    .connection_made = pub_made,
    .data_received = eddy_line_receiver_data_received,
    .connection_lost = pub_lost,
    .destroy = pub_destroy,
};

static const eddy_line_ops_t pub_line_ops = {.line_received = pub_line};

static eddy_protocol_t *pub_build(eddy_factory_t *f, const eddy_addr_t *peer) {
  (void)peer;
  pub_conn_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  eddy_line_receiver_init(&c->lr, &pub_ops, &pub_line_ops, 4096);
  (void)eddy_line_receiver_set_delimiter(&c->lr, "\n", 1);
  c->run = f->data;
  return &c->lr.protocol;
}

static void pub_connected(eddy_result_t *res, void *arg) {
  pub_run_t *run = arg;
  (void)res;
  run->pending = NULL;
}

static void pub_not_connected(eddy_result_t *res, void *arg) {
  pub_run_t *run = arg;
  run->pending = NULL;
  if (res->err == UV_ECANCELED && run->done) {
    /* The timeout cancelled the attempt and said so already. */
  } else {
    pub_fail(run, EXIT_UNAVAILABLE, "cannot reach %s: %s", run->endpoint,
             eddy_result_message(res));
  }
  eddy_result_recover(res);
  eddy_timer_stop(&run->timer);
  eddy_reactor_stop(run->r);
}

static void pub_timeout(eddy_timer_t *t) {
  pub_run_t *run = t->data;
  pub_fail(run, EXIT_UNAVAILABLE, "no answer from %s within %.3f s",
           run->endpoint, (double)run->timeout_ms / 1000.0);
  if (run->pending != NULL)
    eddy_deferred_cancel(run->pending);
  else if (run->conn != NULL)
    eddy_transport_abort_connection(run->conn->lr.protocol.transport);
}

static int pub_usage(const char *why) {
  fprintf(stderr, "eddy publish: %s\nRun `eddy publish --help` for usage.\n",
          why);
  return EXIT_USAGE;
}

/* DATA as compact JSON text (malloc'd): itself when it is JSON, else a
 * JSON string holding it. NULL when it cannot be (not UTF-8). */
static char *publish_data(const char *arg, size_t len) {
  json_t *v =
      json_loadb(arg, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
  if (v == NULL)
    v = json_stringn(arg, len);
  if (v == NULL)
    return NULL;
  char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  json_decref(v);
  return text;
}

/* Standard input, at most max bytes (NUL-terminated); NULL past it. */
static char *read_stdin(size_t max, size_t *len) {
  char *buf = malloc(max + 2);
  size_t n = 0;
  if (buf == NULL)
    return NULL;
  while (n <= max) {
    size_t k = fread(buf + n, 1, max + 1 - n, stdin);
    if (k == 0)
      break;
    n += k;
  }
  if (n > max || ferror(stdin)) {
    free(buf);
    return NULL;
  }
  /* A trailing newline from `echo` is not part of the value. */
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    n--;
  buf[n] = '\0';
  *len = n;
  return buf;
}

static int publish_main(int argc, char **argv) {
  pub_run_t run = {.status = EXIT_UNAVAILABLE, .timeout_ms = 10000};
  run.endpoint = getenv(ENV_PUBLISH_ENDPOINT);
  if (run.endpoint == NULL || run.endpoint[0] == '\0')
    run.endpoint = DEFAULT_PUBLISH_ENDPOINT;
  run.token = getenv(ENV_PUBLISH_TOKEN);
  const char *pos[2] = {NULL, NULL};
  int npos = 0, dashdash = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (dashdash || a[0] != '-' || strcmp(a, "-") == 0) {
      if (npos == 2)
        return pub_usage("too many arguments (quote DATA as one argument)");
      pos[npos++] = a;
    } else if (strcmp(a, "--") == 0) {
      dashdash = 1;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      publish_help(stdout);
      return 0;
    } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
      run.quiet = 1;
    } else if (strcmp(a, "-s") == 0 || strcmp(a, "--server") == 0) {
      if (v == NULL)
        return pub_usage("--server needs a value");
      run.endpoint = v;
      i++;
    } else if (strcmp(a, "-t") == 0 || strcmp(a, "--token") == 0) {
      if (v == NULL)
        return pub_usage("--token needs a value");
      run.token = v;
      i++;
    } else if (strcmp(a, "-w") == 0 || strcmp(a, "--timeout") == 0) {
      if (v == NULL || parse_seconds(v, MAX_SECONDS, &run.timeout_ms) != 0 ||
          run.timeout_ms == 0)
        return pub_usage("--timeout wants seconds, 0.001 to 31536000");
      i++;
    } else {
      char why[128];
      snprintf(why, sizeof(why), "unknown option %.60s", a);
      return pub_usage(why);
    }
  }
  if (npos < 2)
    return pub_usage(npos == 0 ? "missing CHANNEL and DATA" : "missing DATA");
  run.channel = pos[0];
  if (!valid_name(run.channel, 255) || strchr(run.channel, ',') != NULL ||
      strchr(run.channel, '"') != NULL || strchr(run.channel, '\\') != NULL)
    return pub_usage("CHANNEL must be 1..255 printable bytes without spaces, "
                     "commas, quotes or backslashes");
  if (run.token != NULL && run.token[0] == '\0')
    run.token = NULL;
  if (run.token != NULL && !valid_name(run.token, 4096))
    return pub_usage("the token must be printable, without spaces");
  if (strcmp(pos[1], "-") == 0) {
    size_t len;
    char *in = read_stdin(64 * 1024, &len);
    if (in == NULL)
      return pub_usage("standard input holds more than 64 KiB");
    run.data = publish_data(in, len);
    free(in);
  } else {
    run.data = publish_data(pos[1], strlen(pos[1]));
  }
  if (run.data == NULL)
    return pub_usage("DATA is not valid UTF-8");
  eddy_endpoint_t ep;
  eddy_endpoint_error_t perr;
  if (eddy_endpoint_parse_client(run.endpoint, &ep, &perr) != 0) {
    fprintf(stderr, "eddy publish: bad endpoint: %s\n  %s\n  %*s^\n",
            perr.message, run.endpoint, (int)perr.pos, "");
    free(run.data);
    return EXIT_USAGE;
  }
  int rc = eddy_reactor_new(&run.r, 0);
  if (rc != 0) {
    fprintf(stderr, "eddy: %s\n", eddy_strerror(rc));
    free(run.data);
    return EXIT_SOFTWARE;
  }
  run.factory.build_protocol = pub_build;
  run.factory.data = &run;
  eddy_timer_init(run.r, &run.timer);
  run.timer.data = &run;
  eddy_deferred_t *d = eddy_connect(run.r, run.endpoint, &run.factory);
  if (d == NULL ||
      eddy_deferred_add_callbacks(d, pub_connected, pub_not_connected, &run) !=
          0 ||
      eddy_timer_start(&run.timer, run.timeout_ms, pub_timeout) != 0) {
    fprintf(stderr, "eddy: out of memory\n");
    if (d != NULL)
      eddy_deferred_cancel(d);
    run.status = EXIT_SOFTWARE;
  } else {
    run.pending = d;
    eddy_reactor_run(run.r);
  }
  eddy_timer_stop(&run.timer);
  if (eddy_reactor_free(run.r) != 0 && run.status == 0)
    run.status = EXIT_SOFTWARE;
  free(run.data);
  return run.status;
}

/* ---- eddy token ---------------------------------------------------------- */

static void token_help(FILE *out) {
  fprintf(
      out,
      "usage: eddy token [OPTIONS] USER\n"
      "\n"
      "Prints a connection token for USER, signed with the realtime hub's\n"
      "secret (HMAC-SHA256). A browser sends it in its first message,\n"
      "{\"op\":\"connect\",\"token\":\"...\"}; the hub then knows the "
      "connection\n"
      "as USER (shown in presence and on the messages it publishes). Nothing\n"
      "is sent over the network: any holder of the secret can make tokens,\n"
      "so a backend usually makes them itself (see docs/protocol/realtime.md,\n"
      "\"Tokens\") and this command is for scripts and trials.\n"
      "\n"
      "Options:\n"
      "  -k, --secret S     the hub's secret (default $" ENV_TOKEN_SECRET
      "; prefer\n"
      "                     the environment: arguments are visible in ps)\n"
      "  -l, --ttl N        the token expires N seconds from now (default\n"
      "                     3600); 0 makes a token that never expires\n"
      "  -i, --info JSON    a JSON object the hub shows with USER in presence\n"
      "  -h, --help         show this help\n"
      "\n"
      "Exit status: 0 printed, 64 bad arguments.\n"
      "\n"
      "Example:\n"
      "  EDDY_TOKEN_SECRET=s3cret eddy token --ttl 600 --info "
      "'{\"name\":\"Ada\"}' ada\n");
}

static int token_usage(const char *why) {
  fprintf(stderr, "eddy token: %s\nRun `eddy token --help` for usage.\n", why);
  return EXIT_USAGE;
}

static int token_main(int argc, char **argv) {
  const char *secret = getenv(ENV_TOKEN_SECRET);
  const char *user = NULL;
  uint64_t ttl = 3600;
  json_t *info = NULL;
  int rc = 0;
  for (int i = 1; i < argc && rc == 0; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      token_help(stdout);
      json_decref(info);
      return 0;
    } else if (strcmp(a, "-k") == 0 || strcmp(a, "--secret") == 0) {
      if (v == NULL)
        rc = token_usage("--secret needs a value");
      secret = v;
      i++;
    } else if (strcmp(a, "-l") == 0 || strcmp(a, "--ttl") == 0) {
      uint64_t ms = 0;
      if (v == NULL || parse_seconds(v, MAX_SECONDS, &ms) != 0 || ms % 1000)
        rc = token_usage("--ttl wants whole seconds, 0 to 31536000");
      ttl = ms / 1000;
      i++;
    } else if (strcmp(a, "-i") == 0 || strcmp(a, "--info") == 0) {
      json_decref(info);
      info = v != NULL ? json_loads(v, JSON_REJECT_DUPLICATES, NULL) : NULL;
      if (!json_is_object(info))
        rc = token_usage("--info wants a JSON object");
      i++;
    } else if (a[0] == '-' && a[1] != '\0') {
      char why[128];
      snprintf(why, sizeof(why), "unknown option %.60s", a);
      rc = token_usage(why);
    } else if (user == NULL) {
      user = a;
    } else {
      rc = token_usage("one USER only");
    }
  }
  if (rc == 0 && user == NULL)
    rc = token_usage("missing USER");
  if (rc == 0 && (secret == NULL || secret[0] == '\0'))
    rc = token_usage("no secret: give --secret or set " ENV_TOKEN_SECRET);
  if (rc != 0) {
    json_decref(info);
    return rc;
  }
  char *tok = NULL;
  uint64_t exp = ttl == 0 ? 0 : (uint64_t)time(NULL) + ttl;
  rc = eddy_rt_token_make(secret, user, exp, info, &tok);
  json_decref(info);
  if (rc != 0)
    return token_usage(rc == UV_EINVAL ? "USER must be UTF-8, and USER with "
                                         "--info at most about 3 KB"
                                       : "out of memory");
  printf("%s\n", tok);
  free(tok);
  return 0;
}

/* ---- main ---------------------------------------------------------------- */

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc < 2) {
    main_help(stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
    main_help(stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("eddy %s\n", eddy_version());
    return 0;
  }
  if (strcmp(cmd, "help") == 0) {
    if (argc < 3) {
      main_help(stdout);
      return 0;
    }
    const command_t *c = find_command(argv[2]);
    if (c == NULL) {
      fprintf(stderr, "eddy: no command %s\n", argv[2]);
      return EXIT_USAGE;
    }
    c->help(stdout);
    return 0;
  }
  const command_t *c = find_command(cmd);
  if (c == NULL) {
    fprintf(stderr, "eddy: unknown command %s\n\n", cmd);
    main_help(stderr);
    return EXIT_USAGE;
  }
  eddy_log_set_level(EDDY_LOG_WARN); /* a tool's stderr is for its user */
  return c->run(argc - 1, argv + 1);
}
