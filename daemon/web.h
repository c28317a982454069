/* web.h — eddyd's HTTP port and real-time hub: the wiring of the hub
 * (eddy/realtime.h), its backend line protocol, SockJS (eddy/sockjs.h), the
 * JSON API (eddy/http_api.h), the pages, /metrics and /status, behind one
 * router on the HTTP server (eddy/http_server.h).
 *
 * The web service owns the hub, the SockJS endpoint, the API, the router,
 * the HTTP server and the one-second feed of eddy:metrics. It borrows the
 * metrics registry, the locks and the cache from eddyd.c, which closes them
 * only after eddyd_web_close has called back.
 */
#ifndef EDDYD_WEB_H
#define EDDYD_WEB_H

#include <stdint.h>

#include <eddy/cache.h>
#include <eddy/endpoint.h>
#include <eddy/locks.h>
#include <eddy/metrics.h>
#include <eddy/reactor.h>

#include "config.h"

/* Room for "127.0.0.1:7700", "[::1]:7700" or "unix:/run/x.sock". */
#define EDDYD_ADDRESS_MAX (EDDY_ENDPOINT_PATH_MAX + 64)

/* Where one service really listens, for /status. */
typedef struct eddyd_addresses_s {
  int count;
  char list[EDDYD_MAX_ENDPOINTS][EDDYD_ADDRESS_MAX];
} eddyd_addresses_t;

/* What the web service reaches. eddyd.c fills it and keeps it alive until
 * eddyd_web_close has called back; locks and cache may be NULL (off). */
typedef struct eddyd_services_s {
  eddy_reactor_t *r;
  const eddyd_config_t *cfg;
  eddy_metrics_t *metrics;
  eddy_locks_t *locks;
  eddy_cache_t *cache;
  int64_t started_unix;   /* wall clock at start, seconds */
  uint64_t started_ms;    /* reactor time at start */
  eddyd_addresses_t http; /* filled by eddyd_web_start */
  eddyd_addresses_t locks_at;
  eddyd_addresses_t cache_at;
  eddyd_addresses_t publish;
} eddyd_services_t;

typedef struct eddyd_web_s eddyd_web_t;

/* Called for each endpoint once it listens (eddyd announces it). */
typedef void (*eddyd_listening_cb)(const char *service, const char *endpoint,
                                   eddy_listener_t *l);

/* Writes where l listens into buf ("127.0.0.1:7700", "unix:/path"). */
void eddyd_listener_where(eddy_listener_t *l, char *buf, size_t size);

/* Starts the hub, its line protocol on every `publish` endpoint, and, when
 * `http` is not off, the HTTP server on every `http` endpoint. Nothing is
 * started when both are off (*out is then NULL). Returns 0, or -1 with a
 * message in err; *out is set even then when anything was created, and
 * must be closed. */
int eddyd_web_start(eddyd_services_t *svc, eddyd_listening_cb listening,
                    eddyd_web_t **out, char *err, size_t errlen);

/* Logs the hub's and the HTTP server's counters at level. */
void eddyd_web_log_stats(eddyd_web_t *w, eddy_log_level_t level);

/* Stops everything in order — the HTTP server (no request reaches a
 * handler after this call), SockJS, the API, the hub — and frees w, also
 * after a failed start; cb is called on a later loop iteration once all is
 * gone. w must not be NULL. */
void eddyd_web_close(eddyd_web_t *w, eddy_call_cb cb, void *arg);

#endif
