/* eddyd.c — the daemon's main: options, configuration, detaching, and the
 * wiring of libeddy's services. The services themselves are library modules
 * (eddy/locks.h, eddy/cache.h, and behind the HTTP port the ones web.c
 * wires); nothing here knows their protocols.
 *
 * Start-up order matters:
 *   parse and check everything (exit 2 before touching the system) →
 *   detach (--daemon) → log sink → pidfile → bind every endpoint →
 *   drop privileges → announce → detach stdio and tell the caller "ready".
 * The metrics registry comes before every service (they feed it) and goes
 * after all of them.
 * Binding before the privilege drop lets eddyd take ports below 1024; the
 * pidfile comes first so a second eddyd is refused before it binds.
 */
#include <eddy/cache.h>
#include <eddy/error.h>
#include <eddy/locks.h>
#include <eddy/log.h>
#include <eddy/metrics.h>
#include <eddy/reactor.h>
#include <eddy/signal.h>
#include <eddy/version.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "options.h"
#include "process.h"
#include "web.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

typedef struct daemon_s {
  const eddyd_config_t *cfg;
  eddy_reactor_t *r;
  eddy_metrics_t *metrics;
  eddy_locks_t *locks;
  eddy_cache_t *cache;
  eddyd_web_t *web;
  eddyd_services_t svc; /* what the web service reaches */
  eddy_signal_t *sighup;
  eddy_signal_t *sigusr1;
  /* Watchers and listeners alone do not keep a loop alive when every
   * service is switched off; this handle does, until the stop. */
  uv_async_t keepalive;
  int keepalive_open;
  eddy_looping_t stats;
  int stopping;
  int closing; /* services whose close has not called back yet */
} daemon_t;

/* ---- Counters ---------------------------------------------------------- */

static void log_stats(daemon_t *d, eddy_log_level_t level) {
  if (d->locks != NULL) {
    eddy_locks_stats_t s;
    eddy_locks_stats(d->locks, &s);
    eddy_log(level, "stats.locks",
             "connections=%" PRIu64 " locks=%" PRIu64 " holders=%" PRIu64
             " waiters=%" PRIu64 " grants_total=%" PRIu64
             " waits_total=%" PRIu64 " timeouts_total=%" PRIu64
             " releases_on_disconnect_total=%" PRIu64
             " lease_expiries_total=%" PRIu64 " wait_time_us_total=%" PRIu64,
             s.connections, s.locks, s.holders, s.waiters, s.grants_total,
             s.waits_total, s.timeouts_total, s.releases_on_disconnect_total,
             s.lease_expiries_total, s.wait_time_us_total);
  }
  if (d->cache != NULL) {
    eddy_cache_stats_t s;
    eddy_cache_stats(d->cache, &s);
    eddy_log(level, "stats.cache",
             "curr_items=%" PRIu64 " bytes=%" PRIu64 " limit_maxbytes=%" PRIu64
             " curr_connections=%" PRIu64 " total_connections=%" PRIu64
             " get_hits=%" PRIu64 " get_misses=%" PRIu64 " cmd_get=%" PRIu64
             " cmd_set=%" PRIu64 " evictions=%" PRIu64 " reclaimed=%" PRIu64,
             s.curr_items, s.bytes, s.limit_maxbytes, s.curr_connections,
             s.total_connections, s.get_hits, s.get_misses, s.cmd_get,
             s.cmd_set, s.evictions, s.reclaimed);
  }
  eddyd_web_log_stats(d->web, level);
}

static void stats_tick(eddy_looping_t *lc, uint64_t intervals) {
  (void)intervals;
  /* Cheap when debug is off, but skip the formatting altogether. */
  if (eddy_log_get_level() <= EDDY_LOG_DEBUG)
    log_stats(lc->data, EDDY_LOG_DEBUG);
}

/* ---- Signals and stopping ---------------------------------------------- */

static void on_sighup(eddy_signal_t *s, int signum, void *arg) {
  (void)s;
  (void)signum;
  daemon_t *d = arg;
  if (d->cfg->logfile[0] == '\0')
    return;
  int rc = eddy_log_reopen();
  if (rc != 0)
    eddy_log(EDDY_LOG_ERROR, "log.reopen_failed", "error=%s",
             eddy_err_name(rc));
  else
    eddy_log(EDDY_LOG_INFO, "log.reopened", NULL);
}

static void on_sigusr1(eddy_signal_t *s, int signum, void *arg) {
  (void)s;
  (void)signum;
  log_stats(arg, EDDY_LOG_INFO);
}

static void keepalive_cb(uv_async_t *h) {
  (void)h; /* never sent: the handle exists only to keep the loop running */
}

static void service_closed(void *arg) {
  daemon_t *d = arg;
  if (--d->closing > 0)
    return;
  /* Every feeder is gone: the registry can go. */
  eddy_metrics_free(d->metrics);
  d->metrics = NULL;
  eddy_log(EDDY_LOG_INFO, "services.closed", NULL);
}

/* The web side used the locks and the cache (its API); they close after
 * it. */
static void close_stores(daemon_t *d) {
  d->svc.locks = NULL;
  d->svc.cache = NULL;
  if (d->locks != NULL) {
    d->closing++;
    eddy_locks_close(d->locks, service_closed, d);
    d->locks = NULL;
  }
  if (d->cache != NULL) {
    d->closing++;
    eddy_cache_close(d->cache, service_closed, d);
    d->cache = NULL;
  }
}

static void web_closed(void *arg) {
  daemon_t *d = arg;
  close_stores(d);
  service_closed(d); /* the web service's own count */
}

/* Closes everything eddyd opened; the loop then runs dry and returns. Used
 * by the graceful stop and by a failed start-up alike. */
static void begin_stop(daemon_t *d) {
  if (d->stopping)
    return;
  d->stopping = 1;
  eddy_looping_stop(&d->stats);
  eddy_signal_close(d->sighup);
  eddy_signal_close(d->sigusr1);
  d->sighup = d->sigusr1 = NULL;
  /* Order: the HTTP port and the hub, then the stores they reach, then
   * the registry every one of them feeds (service_closed). */
  d->closing++; /* held until the stores are asked to close */
  if (d->web != NULL) {
    d->closing++;
    eddyd_web_close(d->web, web_closed, d);
    d->web = NULL;
  } else {
    close_stores(d);
  }
  service_closed(d);
  if (d->keepalive_open) {
    uv_close((uv_handle_t *)&d->keepalive, NULL);
    d->keepalive_open = 0;
  }
}

static void on_stop_signal(void *arg) {
  eddy_log(EDDY_LOG_INFO, "stopping", NULL);
  begin_stop(arg);
}

/* ---- Services ---------------------------------------------------------- */

/* Logs and prints where one endpoint really listens (the port after tcp:0,
 * the path of a Unix socket). */
static void announce(const char *service, const char *text,
                     eddy_listener_t *l) {
  char where[EDDYD_ADDRESS_MAX];
  char q1[2 * EDDYD_ENDPOINT_MAX + 3], q2[2 * sizeof(where) + 3];
  eddyd_listener_where(l, where, sizeof(where));
  /* A Unix socket is announced by its path alone, as before. */
  if (strncmp(where, "unix:", 5) == 0)
    memmove(where, where + 5, strlen(where + 5) + 1);
  eddy_log(EDDY_LOG_INFO, "ready", "service=%s endpoint=%s address=%s port=%d",
           service, eddy_log_quote(q1, sizeof(q1), text),
           eddy_log_quote(q2, sizeof(q2), where), eddy_listener_port(l));
  printf("eddyd: %s listening on %s (%s)\n", service, where, text);
}

static int listen_error(const char *service, const char *endpoint, int rc) {
  fprintf(stderr, "eddyd: %s: cannot listen on %s: %s\n", service, endpoint,
          eddy_strerror(rc));
  return EXIT_RUNTIME;
}

static int start_locks(daemon_t *d) {
  const eddyd_config_t *c = d->cfg;
  if (c->locks.count == 0)
    return 0;
  eddy_locks_opts_t o;
  eddy_locks_opts_init(&o);
  if (c->lock_admin_token[0] != '\0')
    o.admin_token = c->lock_admin_token;
  o.metrics = d->metrics;
  int rc = eddy_locks_new(d->r, &o, &d->locks);
  if (rc != 0) {
    fprintf(stderr, "eddyd: locks: cannot start: %s\n", eddy_strerror(rc));
    return EXIT_RUNTIME;
  }
  for (int i = 0; i < c->locks.count; i++) {
    eddy_listener_t *l = NULL;
    rc = eddy_locks_listen(d->locks, c->locks.list[i], &l);
    if (rc != 0)
      return listen_error("locks", c->locks.list[i], rc);
    announce("locks", c->locks.list[i], l);
    eddyd_addresses_t *at = &d->svc.locks_at;
    if (at->count < EDDYD_MAX_ENDPOINTS)
      eddyd_listener_where(l, at->list[at->count++], sizeof(at->list[0]));
  }
  return 0;
}

static int start_cache(daemon_t *d) {
  const eddyd_config_t *c = d->cfg;
  if (c->cache.count == 0)
    return 0;
  eddy_cache_opts_t o;
  eddy_cache_opts_init(&o);
  o.memory_limit = c->cache_memory;
  o.max_item_size = c->cache_max_item;
  o.metrics = d->metrics;
  int rc = eddy_cache_new(d->r, &o, &d->cache);
  if (rc != 0) {
    fprintf(stderr, "eddyd: cache: cannot start: %s\n", eddy_strerror(rc));
    return EXIT_RUNTIME;
  }
  for (int i = 0; i < c->cache.count; i++) {
    eddy_listener_t *l = NULL;
    rc = eddy_cache_listen(d->cache, c->cache.list[i], &l);
    if (rc != 0)
      return listen_error("cache", c->cache.list[i], rc);
    announce("cache", c->cache.list[i], l);
    eddyd_addresses_t *at = &d->svc.cache_at;
    if (at->count < EDDYD_MAX_ENDPOINTS)
      eddyd_listener_where(l, at->list[at->count++], sizeof(at->list[0]));
  }
  return 0;
}

static int start_web(daemon_t *d) {
  char err[EDDYD_ERR_MAX];
  eddyd_services_t *svc = &d->svc;
  svc->r = d->r;
  svc->cfg = d->cfg;
  svc->metrics = d->metrics;
  svc->locks = d->locks;
  svc->cache = d->cache;
  svc->started_unix = (int64_t)time(NULL);
  svc->started_ms = eddy_reactor_now(d->r);
  if (eddyd_web_start(svc, announce, &d->web, err, sizeof(err)) != 0) {
    fprintf(stderr, "eddyd: %s\n", err);
    return EXIT_RUNTIME;
  }
  return 0;
}

/* ---- Start-up ---------------------------------------------------------- */

static int start_logging(const eddyd_config_t *c) {
  eddy_log_set_level(c->log_level);
  if (c->logfile[0] != '\0') {
    int rc = eddy_log_to_file(c->logfile);
    if (rc != 0) {
      fprintf(stderr, "eddyd: cannot open the log file %s: %s\n", c->logfile,
              eddy_strerror(rc));
      return EXIT_RUNTIME;
    }
  } else if (c->syslog || c->daemon) {
    /* A daemon's stderr is /dev/null: without a file, syslog it is. */
    eddy_log_to_syslog("eddyd");
  }
  return 0;
}

static int open_handles(daemon_t *d) {
  int rc = uv_async_init(eddy_reactor_loop(d->r), &d->keepalive, keepalive_cb);
  if (rc == 0) {
    d->keepalive_open = 1;
    rc = eddy_stop_on_signals(d->r, on_stop_signal, d);
  }
  if (rc == 0)
    rc = eddy_signal_watch(d->r, SIGHUP, on_sighup, d, &d->sighup);
  if (rc == 0)
    rc = eddy_signal_watch(d->r, SIGUSR1, on_sigusr1, d, &d->sigusr1);
  eddy_looping_init(d->r, &d->stats, stats_tick);
  d->stats.data = d;
  if (rc == 0 && d->cfg->stats_interval > 0)
    rc = eddy_looping_start(&d->stats, (uint64_t)d->cfg->stats_interval * 1000,
                            0);
  if (rc != 0)
    fprintf(stderr, "eddyd: cannot start: %s\n", eddy_strerror(rc));
  return rc == 0 ? 0 : EXIT_RUNTIME;
}

/* Runs the daemon proper; returns the exit status. status_fd is the pipe
 * to a --daemon caller (-1 in the foreground). */
static int run(const eddyd_config_t *c, const eddyd_identity_t *id,
               int status_fd) {
  char err[EDDYD_ERR_MAX];
  int pid_fd = -1;
  int status = start_logging(c);
  if (status != 0)
    goto report;
  if (c->pidfile[0] != '\0') {
    long stale = 0;
    if (eddyd_pidfile_acquire(c->pidfile, &pid_fd, &stale, err, sizeof(err)) !=
        0) {
      fprintf(stderr, "eddyd: %s\n", err);
      status = EXIT_RUNTIME;
      goto report;
    }
    if (stale != 0)
      eddy_log(EDDY_LOG_WARN, "pidfile.stale", "pid=%ld", stale);
  }

  daemon_t d = {.cfg = c};
  int rc = eddy_reactor_new(&d.r, 0);
  if (rc != 0) {
    fprintf(stderr, "eddyd: cannot create the reactor: %s\n",
            eddy_strerror(rc));
    status = EXIT_RUNTIME;
    goto release;
  }
  status = open_handles(&d);
  if (status == 0 && (rc = eddy_metrics_new(&d.metrics)) != 0) {
    fprintf(stderr, "eddyd: cannot start: %s\n", eddy_strerror(rc));
    status = EXIT_RUNTIME;
  }
  if (status == 0)
    status = start_locks(&d);
  if (status == 0)
    status = start_cache(&d);
  if (status == 0)
    status = start_web(&d);
  if (status == 0 && id->change) {
    /* Files opened as root stay usable after the switch: the log must be
     * reopenable on SIGHUP, the pidfile removable at exit (if its
     * directory allows). */
    if (c->logfile[0] != '\0' && chown(c->logfile, id->uid, id->gid) != 0)
      eddy_log(EDDY_LOG_WARN, "logfile.chown_failed", "error=%s",
               eddy_err_name(-errno));
    if (pid_fd >= 0 && eddyd_pidfile_chown(pid_fd, id->uid, id->gid) != 0)
      eddy_log(EDDY_LOG_WARN, "pidfile.chown_failed", "error=%s",
               eddy_err_name(-errno));
    if (eddyd_identity_switch(id, err, sizeof(err)) != 0) {
      fprintf(stderr, "eddyd: %s\n", err);
      status = EXIT_RUNTIME;
    }
  }
  if (status == 0 && geteuid() == 0)
    eddy_log(EDDY_LOG_WARN, "running_as_root",
             "advice=\"use --user to drop privileges after binding\"");
  fflush(stdout);
  if (status == 0 && status_fd >= 0 &&
      eddyd_daemon_detach(err, sizeof(err)) != 0) {
    fprintf(stderr, "eddyd: %s\n", err);
    status = EXIT_RUNTIME;
  }

  if (status != 0) {
    begin_stop(&d);
    eddy_reactor_run(d.r); /* lets every close complete */
    eddy_reactor_free(d.r);
    goto release;
  }
  eddy_log(EDDY_LOG_INFO, "started", "pid=%ld version=%s", (long)getpid(),
           eddy_version());
  eddyd_daemon_report(&status_fd, 0);

  rc = eddy_reactor_run(d.r);
  int left = eddy_reactor_free(d.r);
  eddy_log(EDDY_LOG_INFO, "stopped", "clean=%s", left == 0 ? "yes" : "no");
  status = rc == 0 && left == 0 ? EXIT_OK : EXIT_RUNTIME;

release:
  eddyd_pidfile_release(c->pidfile, pid_fd);
report:
  if (status != 0)
    eddy_log(EDDY_LOG_ERROR, "start.failed", "status=%d", status);
  fflush(stderr);
  eddyd_daemon_report(&status_fd, status);
  return status;
}

/* Relative paths would break after the daemon's chdir("/"). */
static int make_absolute(char *path, size_t size) {
  if (path[0] == '\0' || path[0] == '/')
    return 0;
  char cwd[EDDYD_PATH_MAX];
  if (getcwd(cwd, sizeof(cwd)) == NULL)
    return -1;
  char joined[2 * EDDYD_PATH_MAX + 2];
  int n = snprintf(joined, sizeof(joined), "%s/%s", cwd, path);
  if (n < 0 || (size_t)n >= size)
    return -1;
  memcpy(path, joined, (size_t)n + 1);
  return 0;
}

/* A web root that is not a readable directory is a configuration mistake:
 * reported before anything starts, with the configuration errors. */
static int check_web_root(const char *path, char *err, size_t errlen) {
  struct stat st;
  if (path[0] == '\0')
    return 0;
  if (stat(path, &st) != 0)
    return eddyd_fail(err, errlen, "web-root %s: %s", path, strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return eddyd_fail(err, errlen, "web-root %s is not a directory", path);
  if (access(path, R_OK | X_OK) != 0)
    return eddyd_fail(err, errlen, "web-root %s: %s", path, strerror(errno));
  return 0;
}

int main(int argc, char **argv) {
  /* A peer resetting a connection mid-write must cost that connection an
   * EPIPE, not the daemon its life. */
  signal(SIGPIPE, SIG_IGN);
  char err[EDDYD_ERR_MAX];
  static eddyd_options_t opts;
  static eddyd_config_t cfg;
  if (eddyd_options_parse(argc, argv, &opts, err, sizeof(err)) != 0) {
    fprintf(stderr, "eddyd: %s\nTry 'eddyd --help' for more information.\n",
            err);
    return EXIT_USAGE;
  }
  if (opts.action == EDDYD_ACTION_HELP) {
    eddyd_usage(stdout);
    return EXIT_OK;
  }
  if (opts.action == EDDYD_ACTION_VERSION) {
    printf("eddyd %s (libeddy %s)\n", EDDY_VERSION_STRING, eddy_version());
    return EXIT_OK;
  }
  eddyd_config_init(&cfg);
  if ((opts.config_path != NULL &&
       eddyd_config_load_file(&cfg, opts.config_path, err, sizeof(err)) != 0) ||
      eddyd_options_apply(&opts, &cfg, err, sizeof(err)) != 0 ||
      eddyd_config_validate(&cfg, err, sizeof(err)) != 0) {
    fprintf(stderr, "eddyd: %s\n", err);
    return EXIT_USAGE;
  }
  if (opts.action == EDDYD_ACTION_CHECK_CONFIG) {
    eddyd_config_write(&cfg, stdout);
    return EXIT_OK;
  }
  eddyd_identity_t id;
  if (eddyd_identity_resolve(cfg.user, cfg.group, &id, err, sizeof(err)) != 0) {
    fprintf(stderr, "eddyd: %s\n", err);
    return EXIT_USAGE;
  }
  if (make_absolute(cfg.logfile, sizeof(cfg.logfile)) != 0 ||
      make_absolute(cfg.pidfile, sizeof(cfg.pidfile)) != 0 ||
      make_absolute(cfg.web_root, sizeof(cfg.web_root)) != 0) {
    fprintf(stderr, "eddyd: cannot make the log, pid file or web root path "
                    "absolute\n");
    return EXIT_RUNTIME;
  }
  if (check_web_root(cfg.web_root, err, sizeof(err)) != 0) {
    fprintf(stderr, "eddyd: %s\n", err);
    return EXIT_USAGE;
  }
  int status_fd = -1;
  if (cfg.daemon && eddyd_daemonize(&status_fd, err, sizeof(err)) != 0) {
    fprintf(stderr, "eddyd: %s\n", err);
    return EXIT_RUNTIME;
  }
  return run(&cfg, &id, status_fd);
}
