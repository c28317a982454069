/* reconnect.c — a client that connects again after every failure or loss.
 *
 * Three states, one of them at a time: an attempt in flight (`attempt`), a
 * connection up (`proto`, observed through its lost hook), or a retry timer
 * armed. Delays use an eddy_timer_t, so a fake-clock reactor drives them.
 *
 * `next_n` indexes the backoff schedule and `retries` counts consecutive
 * failed attempts; they differ after a lost connection, whose first retry
 * waits the initial delay although nothing has failed yet.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/reactor_internal.h"
#include "eddy/endpoint.h"
#include "eddy/error.h"
#include "eddy/log.h"
#include "eddy/reconnect.h"

struct eddy_reconnecting_s {
  eddy_reactor_t *r;
  eddy_endpoint_t ep;
  eddy_factory_t *f;
  eddy_reconnect_opts_t o;
  eddy_timer_t timer;
  /* The first attempt, then (after stop) the free. */
  eddy__soon_t soon;
  eddy_deferred_t *attempt;
  eddy_protocol_t *proto;
  unsigned retries;
  unsigned next_n;
  int stopped;
};

/* ---- Randomness ----------------------------------------------------------
 * Jitter only needs to spread clients apart, not to be unpredictable, so a
 * per-reactor splitmix64 seeded from the clock is enough. */

typedef struct rng_s {
  uint64_t state;
} rng_t;

static void rng_ext_close(eddy_reactor_t *r, void *state) {
  (void)r;
  free(state);
}

static double rng_uniform(eddy_reactor_t *r) {
  rng_t *g = eddy__reactor_ext(r, EDDY__EXT_RANDOM);
  if (g == NULL) {
    g = malloc(sizeof(*g));
    if (g == NULL)
      return 0.5; /* no jitter rather than no reconnection */
    g->state = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)r;
    eddy__reactor_set_ext(r, EDDY__EXT_RANDOM, g, rng_ext_close);
  }
  uint64_t z = (g->state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1.0p-53; /* 53 random bits: [0, 1) */
}

static uint64_t next_delay(eddy_reconnecting_t *rc) {
  double u =
      rc->o.random != NULL ? rc->o.random(rc->o.arg) : rng_uniform(rc->r);
  uint64_t d = eddy_backoff_delay(&rc->o.backoff, rc->next_n, u);
  if (rc->next_n < UINT_MAX)
    rc->next_n++;
  return d;
}

/* ---- Attempts ------------------------------------------------------------ */

static void free_now(void *arg) {
  eddy_reconnecting_t *rc = arg;
  eddy_reactor_t *r = rc->r;
  free(rc);
  eddy__reactor_live(r, EDDY__LIVE_OTHER, -1);
}

/* After stop: free once no deferred callback of ours can run any more, and
 * on a later iteration, so that stop may be called from our observers. */
static void free_when_idle(eddy_reconnecting_t *rc) {
  if (rc->attempt == NULL)
    eddy__reactor_soon(rc->r, &rc->soon, free_now, rc);
}

static void attempt(eddy_reconnecting_t *rc);

static void retry_due(eddy_timer_t *t) {
  attempt(t->data);
}

/* Arms the retry timer; returns the delay, or UINT64_MAX when giving up. */
static uint64_t schedule_retry(eddy_reconnecting_t *rc) {
  if (rc->o.max_retries != 0 && rc->retries >= rc->o.max_retries)
    return UINT64_MAX;
  uint64_t delay = next_delay(rc);
  int err = eddy_timer_start(&rc->timer, delay, retry_due);
  if (err != 0) {
    eddy_log(EDDY_LOG_ERROR, "reconnect.give_up", "err=%s", eddy_err_name(err));
    return UINT64_MAX;
  }
  return delay;
}

static void attempt_failed(eddy_reconnecting_t *rc, int err) {
  if (rc->retries < UINT_MAX)
    rc->retries++;
  uint64_t delay = schedule_retry(rc);
  if (rc->o.connect_failed != NULL)
    rc->o.connect_failed(rc, err, delay, rc->o.arg);
}

static void on_lost(eddy_protocol_t *p, int reason, void *arg) {
  eddy_reconnecting_t *rc = arg;
  p->lost_hook = NULL;
  p->lost_hook_arg = NULL;
  rc->proto = NULL;
  uint64_t delay = schedule_retry(rc);
  if (rc->o.connection_lost != NULL)
    rc->o.connection_lost(rc, reason, delay, rc->o.arg);
}

static void on_connected(eddy_result_t *res, void *arg) {
  eddy_reconnecting_t *rc = arg;
  eddy_protocol_t *p = res->value;
  rc->attempt = NULL;
  if (rc->stopped) {
    /* Connected although stop cancelled the attempt: leave it alone, as
     * stop leaves a current connection alone. */
    free_when_idle(rc);
    return;
  }
  rc->proto = p;
  rc->retries = 0;
  rc->next_n = 0;
  p->lost_hook = on_lost;
  p->lost_hook_arg = rc;
  if (rc->o.connected != NULL)
    rc->o.connected(rc, p, rc->o.arg);
}

static void on_failed(eddy_result_t *res, void *arg) {
  eddy_reconnecting_t *rc = arg;
  int err = res->err;
  eddy_result_recover(res); /* reported through connect_failed instead */
  rc->attempt = NULL;
  if (rc->stopped) {
    free_when_idle(rc);
    return;
  }
  attempt_failed(rc, err);
}

static void attempt(eddy_reconnecting_t *rc) {
  eddy_deferred_t *d = eddy_connect_endpoint(rc->r, &rc->ep, rc->f);
  if (d == NULL) {
    attempt_failed(rc, UV_ENOMEM);
    return;
  }
  /* Set before adding the callbacks: a deferred that already failed runs
   * them inside the add. */
  rc->attempt = d;
  if (eddy_deferred_add_callbacks(d, on_connected, on_failed, rc) != 0) {
    rc->attempt = NULL;
    eddy_deferred_cancel(d);
    attempt_failed(rc, UV_ENOMEM);
  }
}

static void first_attempt(void *arg) {
  attempt(arg);
}

/* ---- Public API ---------------------------------------------------------- */

void eddy_reconnect_opts_init(eddy_reconnect_opts_t *o) {
  memset(o, 0, sizeof(*o));
  eddy_backoff_init(&o->backoff);
}

int eddy_reconnecting_start(eddy_reactor_t *r, const char *endpoint,
                            eddy_factory_t *f, const eddy_reconnect_opts_t *o,
                            eddy_reconnecting_t **out) {
  if (r == NULL || endpoint == NULL || f == NULL || out == NULL)
    return UV_EINVAL;
  eddy_reconnect_opts_t defaults;
  if (o == NULL) {
    eddy_reconnect_opts_init(&defaults);
    o = &defaults;
  }
  if (!(o->backoff.factor >= 1.0) || !(o->backoff.jitter >= 0.0) ||
      o->backoff.jitter > 1.0)
    return UV_EINVAL;
  eddy_endpoint_t ep;
  int err = eddy_endpoint_parse_client(endpoint, &ep, NULL);
  if (err != 0)
    return err;

  eddy_reconnecting_t *rc = calloc(1, sizeof(*rc));
  if (rc == NULL)
    return UV_ENOMEM;
  rc->r = r;
  rc->ep = ep;
  rc->f = f;
  rc->o = *o;
  eddy_timer_init(r, &rc->timer);
  rc->timer.data = rc;
  eddy__reactor_live(r, EDDY__LIVE_OTHER, +1);
  eddy__reactor_soon(r, &rc->soon, first_attempt, rc);
  *out = rc;
  return 0;
}

void eddy_reconnecting_stop(eddy_reconnecting_t *rc) {
  if (rc == NULL || rc->stopped)
    return;
  rc->stopped = 1;
  eddy_timer_stop(&rc->timer);
  eddy__reactor_soon_cancel(rc->r, &rc->soon);
  if (rc->proto != NULL) {
    rc->proto->lost_hook = NULL;
    rc->proto->lost_hook_arg = NULL;
    rc->proto = NULL;
  }
  if (rc->attempt != NULL)
    eddy_deferred_cancel(rc->attempt); /* on_failed frees, later */
  else
    free_when_idle(rc);
}

eddy_protocol_t *eddy_reconnecting_protocol(const eddy_reconnecting_t *rc) {
  return rc->proto;
}

unsigned eddy_reconnecting_retries(const eddy_reconnecting_t *rc) {
  return rc->retries;
}
