/* eddy — the command-line tool that talks to eddyd's services.
 *
 *   eddy lock [OPTIONS] NAME -- COMMAND [ARGS...]
 *
 * Each subcommand is one entry in `commands` below: its name, a one-line
 * summary for `eddy --help`, its main and its help. Adding one (`eddy
 * publish`, `eddy cache`...) means writing those and one table line.
 */
#include <eddy/eddy.h>
#include <eddy/lock_client.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static const command_t commands[] = {
    {"lock", "run a command while holding a network lock", lock_main,
     lock_help},
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
