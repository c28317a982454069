/* reactor.c — the loop, soon-calls, posts from threads, and shutdown checks. */
#include "core/reactor_struct.h"

#include <stdlib.h>
#include <string.h>

#include "eddy/error.h"
#include "eddy/log.h"

static const char *const live_names[EDDY__LIVE_KINDS] = {
    "deferred", "transport", "listener", "connect", "process", "work", "other"};

static void idle_cb(uv_idle_t *h);
static void async_cb(uv_async_t *h);
static void on_uv_timer(uv_timer_t *h);

int eddy_reactor_new(eddy_reactor_t **out, unsigned flags) {
  eddy_reactor_t *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return UV_ENOMEM;
  int rc = uv_loop_init(&r->loop);
  if (rc != 0) {
    free(r);
    return rc;
  }
  rc = uv_mutex_init(&r->post_mutex);
  if (rc != 0) {
    uv_loop_close(&r->loop);
    free(r);
    return rc;
  }
  r->flags = flags;
  r->loop.data = r;
  r->loop_thread = uv_thread_self();
  uv_idle_init(&r->loop, &r->idle);
  uv_timer_init(&r->loop, &r->uv_timer);
  rc = uv_async_init(&r->loop, &r->async, async_cb);
  if (rc != 0) { /* no eventfd left (EMFILE): undo what was opened */
    uv_close((uv_handle_t *)&r->idle, NULL);
    uv_close((uv_handle_t *)&r->uv_timer, NULL);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    uv_loop_close(&r->loop);
    uv_mutex_destroy(&r->post_mutex);
    free(r);
    return rc;
  }
  /* The wake-up handle alone must not keep run() going: a thread that may
   * post some day must not make run() wait for ever. Posts already queued
   * when run() starts are still delivered (see before_run). */
  uv_unref((uv_handle_t *)&r->async);
  r->idle.data = r;
  r->uv_timer.data = r;
  r->async.data = r;
  *out = r;
  return 0;
}

static int is_internal(const eddy_reactor_t *r, const uv_handle_t *h) {
  return h == (const uv_handle_t *)&r->idle ||
         h == (const uv_handle_t *)&r->uv_timer ||
         h == (const uv_handle_t *)&r->async;
}

typedef struct {
  eddy_reactor_t *r;
  size_t open;
  size_t closing;
  int log;
} walk_state_t;

static void count_open(uv_handle_t *h, void *arg) {
  walk_state_t *w = arg;
  if (is_internal(w->r, h))
    return;
  if (uv_is_closing(h)) {
    w->closing++;
    return;
  }
  w->open++;
  if (w->log)
    eddy_log(EDDY_LOG_ERROR, "reactor.open_handle", "type=%s active=%d",
             uv_handle_type_name(uv_handle_get_type(h)), uv_is_active(h));
}

static size_t count_closing(eddy_reactor_t *r) {
  walk_state_t w = {r, 0, 0, 0};
  uv_walk(&r->loop, count_open, &w);
  return w.closing;
}

static size_t count_left(eddy_reactor_t *r) {
  size_t left = 0;
  for (int k = 0; k < EDDY__LIVE_KINDS; k++) {
    if (r->live[k] != 0) {
      eddy_log(EDDY_LOG_ERROR, "reactor.open_object", "kind=%s count=%zu",
               live_names[k], r->live[k]);
      left += r->live[k];
    }
  }
  if (r->heap_len != 0) {
    eddy_log(EDDY_LOG_ERROR, "reactor.open_timers", "count=%zu", r->heap_len);
    left += r->heap_len;
  }
  size_t soon = 0;
  for (const eddy__soon_t *s = r->pending_head; s != NULL; s = s->next)
    soon++;
  for (const eddy__soon_t *s = r->running_head; s != NULL; s = s->next)
    soon++;
  if (soon != 0) {
    eddy_log(EDDY_LOG_ERROR, "reactor.open_soon_calls", "count=%zu", soon);
    left += soon;
  }
  walk_state_t w = {r, 0, 0, 1};
  uv_walk(&r->loop, count_open, &w);
  left += w.open;
  if (left != 0)
    return left;
  /* No timer or soon-call is due, so our own handles must not keep the loop
   * alive; if it still is, libuv requests (a write, a connect, a DNS lookup,
   * pool work) are in flight, and freeing would block on them or let their
   * callbacks run on freed memory. */
  uv_idle_stop(&r->idle);
  r->rearm_from_idle = 0;
  uv_timer_stop(&r->uv_timer);
  if (uv_loop_alive(&r->loop)) {
    if (w.closing != 0)
      eddy_log(EDDY_LOG_ERROR, "reactor.closing_handles", "count=%zu",
               w.closing);
    else
      eddy_log(EDDY_LOG_ERROR, "reactor.open_requests", NULL);
    left++;
  }
  return left;
}

/* Runs a batch of posts taken off the queue, freeing each node before its
 * call so a call may post again. */
static void run_posts(eddy__post_t *p) {
  while (p != NULL) {
    eddy__post_t *next = p->next;
    eddy_call_cb cb = p->cb;
    void *arg = p->arg;
    free(p);
    cb(arg);
    p = next;
  }
}

/* Closes the cross-thread queue and runs what was already posted: a post that
 * returned 0 is a promise (a thread may be blocked waiting for it), so it is
 * delivered, never dropped. Returns with posting refused (EDDY_ESTOPPED). */
static void close_posts(eddy_reactor_t *r) {
  uv_mutex_lock(&r->post_mutex);
  r->post_closed = 1;
  eddy__post_t *p = r->post_head;
  r->post_head = r->post_tail = NULL;
  uv_mutex_unlock(&r->post_mutex);
  uv_unref((uv_handle_t *)&r->async); /* see before_run */
  run_posts(p);
}

/* Extensions (cooperator, signal watchers) close their own handles. */
static void close_exts(eddy_reactor_t *r) {
  for (int i = 0; i < EDDY__EXT_COUNT; i++) {
    if (r->ext[i].close != NULL) {
      eddy__ext_close_cb close_cb = r->ext[i].close;
      void *state = r->ext[i].state;
      r->ext[i].close = NULL;
      r->ext[i].state = NULL;
      close_cb(r, state);
    }
  }
}

int eddy_reactor_free(eddy_reactor_t *r) {
  if (r == NULL)
    return 0;
  close_posts(r);
  close_exts(r);
  /* Let pending close callbacks run before judging what is left; a close
   * callback may close another handle, so go on while any are closing. */
  for (int i = 0; i < 16; i++) {
    uv_run(&r->loop, UV_RUN_NOWAIT);
    if (count_closing(r) == 0)
      break;
  }
  if (count_left(r) != 0) {
    uv_mutex_lock(&r->post_mutex);
    r->post_closed = 0; /* nothing freed: the reactor works as before */
    uv_mutex_unlock(&r->post_mutex);
    if (r->pending_head != NULL)
      uv_idle_start(&r->idle, idle_cb);
    eddy__timers_rearm(r);
    return EDDY_EBUSYCLOSE;
  }
  /* The loop runs above may have created an extension again (a callback
   * that used the cooperator, say); it holds nothing due, so just close it. */
  close_exts(r);
  uv_close((uv_handle_t *)&r->idle, NULL);
  uv_close((uv_handle_t *)&r->uv_timer, NULL);
  uv_close((uv_handle_t *)&r->async, NULL);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&r->loop);
  if (rc != 0)
    return rc;
  uv_mutex_destroy(&r->post_mutex);
  free(r->heap);
  free(r);
  return 0;
}

static void before_run(eddy_reactor_t *r) {
  /* Written only when the loop moves to another thread, so that the usual
   * case (run where created) never writes while another thread reads it in
   * eddy__reactor_is_loop_thread. */
  uv_thread_t self = uv_thread_self();
  if (!uv_thread_equal(&self, &r->loop_thread))
    r->loop_thread = self;
  /* The wake-up handle is unreferenced, so posts made while the loop was
   * not running would be left behind by a loop with nothing else to do.
   * Hold a reference until async_cb has delivered them. */
  uv_mutex_lock(&r->post_mutex);
  int queued = r->post_head != NULL;
  uv_mutex_unlock(&r->post_mutex);
  if (queued)
    uv_ref((uv_handle_t *)&r->async);
}

int eddy_reactor_run(eddy_reactor_t *r) {
  before_run(r);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  return 0;
}

int eddy_reactor_run_once(eddy_reactor_t *r, int block) {
  before_run(r);
  return uv_run(&r->loop, block ? UV_RUN_ONCE : UV_RUN_NOWAIT);
}

void eddy_reactor_stop(eddy_reactor_t *r) {
  uv_stop(&r->loop);
}

uint64_t eddy_reactor_now(const eddy_reactor_t *r) {
  if (r->flags & EDDY_REACTOR_FAKE_CLOCK)
    return r->fake_now;
  return uv_now(&r->loop);
}

int eddy_reactor_is_fake(const eddy_reactor_t *r) {
  return (r->flags & EDDY_REACTOR_FAKE_CLOCK) != 0;
}

uv_loop_t *eddy_reactor_loop(eddy_reactor_t *r) {
  return &r->loop;
}

int eddy__reactor_is_loop_thread(const eddy_reactor_t *r) {
  uv_thread_t self = uv_thread_self();
  return uv_thread_equal(&self, &r->loop_thread);
}

/* ---- Soon-calls ---------------------------------------------------------- */

enum { SOON_IDLE = 0, SOON_PENDING = 1, SOON_RUNNING = 2 };

void eddy__reactor_soon(eddy_reactor_t *r, eddy__soon_t *s, eddy_call_cb cb,
                        void *arg) {
  if (s->queued != SOON_IDLE)
    return;
  s->cb = cb;
  s->arg = arg;
  s->next = NULL;
  s->queued = SOON_PENDING;
  if (r->pending_tail != NULL)
    r->pending_tail->next = s;
  else
    r->pending_head = s;
  r->pending_tail = s;
  if (!uv_is_active((uv_handle_t *)&r->idle))
    uv_idle_start(&r->idle, idle_cb);
}

/* Lists are short-lived and singly linked; cancelling is rare (a transport
 * freed with a notification due), so a linear unlink is fine. */
static int unlink_from(eddy__soon_t **head, eddy__soon_t **tail,
                       eddy__soon_t *s) {
  eddy__soon_t *prev = NULL;
  for (eddy__soon_t *it = *head; it != NULL; prev = it, it = it->next) {
    if (it != s)
      continue;
    if (prev != NULL)
      prev->next = it->next;
    else
      *head = it->next;
    if (tail != NULL && *tail == it)
      *tail = prev;
    return 1;
  }
  return 0;
}

void eddy__reactor_soon_cancel(eddy_reactor_t *r, eddy__soon_t *s) {
  if (s->queued == SOON_PENDING)
    unlink_from(&r->pending_head, &r->pending_tail, s);
  else if (s->queued == SOON_RUNNING)
    unlink_from(&r->running_head, NULL, s);
  s->queued = SOON_IDLE;
  s->next = NULL;
}

int eddy_call_soon(eddy_reactor_t *r, eddy_call_cb cb, void *arg) {
  if (cb == NULL)
    return UV_EINVAL;
  eddy__soon_t *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return UV_ENOMEM;
  s->heap_owned = 1;
  eddy__reactor_soon(r, s, cb, arg);
  return 0;
}

static void idle_cb(uv_idle_t *h) {
  eddy_reactor_t *r = h->data;
  if (r->rearm_from_idle) {
    r->rearm_from_idle = 0;
    eddy__timers_rearm(r);
  }
  /* Take the batch queued so far; what these calls queue runs next time. */
  r->running_head = r->pending_head;
  r->pending_head = r->pending_tail = NULL;
  for (eddy__soon_t *s = r->running_head; s != NULL; s = s->next)
    s->queued = SOON_RUNNING;
  while (r->running_head != NULL) {
    eddy__soon_t *s = r->running_head;
    r->running_head = s->next;
    s->next = NULL;
    s->queued = SOON_IDLE;
    eddy_call_cb cb = s->cb;
    void *arg = s->arg;
    if (s->heap_owned)
      free(s);
    cb(arg);
  }
  if (r->pending_head == NULL)
    uv_idle_stop(&r->idle);
}

/* ---- Posts from other threads ------------------------------------------- */

int eddy__reactor_post(eddy_reactor_t *r, eddy_call_cb cb, void *arg) {
  eddy__post_t *p = malloc(sizeof(*p));
  if (p == NULL)
    return UV_ENOMEM;
  p->next = NULL;
  p->cb = cb;
  p->arg = arg;
  uv_mutex_lock(&r->post_mutex);
  if (r->post_closed) {
    uv_mutex_unlock(&r->post_mutex);
    free(p);
    return EDDY_ESTOPPED;
  }
  if (r->post_tail != NULL)
    r->post_tail->next = p;
  else
    r->post_head = p;
  r->post_tail = p;
  /* Sent under the lock: once eddy_reactor_free has closed the queue (under
   * this lock) no thread can still be about to touch the async handle. */
  uv_async_send(&r->async);
  uv_mutex_unlock(&r->post_mutex);
  return 0;
}

static void async_cb(uv_async_t *h) {
  eddy_reactor_t *r = h->data;
  /* uv_async_send coalesces, so take everything queued so far. Posts made
   * while these run (even from the loop thread) sent their own wake-up and
   * run on the next iteration: a steady stream cannot starve I/O. */
  uv_mutex_lock(&r->post_mutex);
  eddy__post_t *p = r->post_head;
  r->post_head = r->post_tail = NULL;
  uv_mutex_unlock(&r->post_mutex);
  run_posts(p);
  /* See before_run: hold the loop while posts wait for their wake-up. */
  uv_mutex_lock(&r->post_mutex);
  int queued = r->post_head != NULL;
  uv_mutex_unlock(&r->post_mutex);
  if (queued)
    uv_ref((uv_handle_t *)&r->async);
  else
    uv_unref((uv_handle_t *)&r->async);
}

/* ---- Accounting and extensions ------------------------------------------ */

void eddy__reactor_live(eddy_reactor_t *r, eddy__live_kind_t kind, int delta) {
  if (delta < 0 && r->live[kind] < (size_t)-delta) {
    eddy_log(EDDY_LOG_ERROR, "reactor.live_underflow", "kind=%s",
             live_names[kind]);
    r->live[kind] = 0;
    return;
  }
  r->live[kind] += (size_t)(ptrdiff_t)delta;
}

void *eddy__reactor_ext(eddy_reactor_t *r, eddy__ext_id_t id) {
  return r->ext[id].state;
}

void eddy__reactor_set_ext(eddy_reactor_t *r, eddy__ext_id_t id, void *state,
                           eddy__ext_close_cb close_cb) {
  r->ext[id].state = state;
  r->ext[id].close = close_cb;
}

/* ---- Timers' link to libuv ---------------------------------------------- */

static void on_uv_timer(uv_timer_t *h) {
  eddy_reactor_t *r = h->data;
  if (eddy__timers_fire_due(r, uv_now(&r->loop))) {
    /* A timer re-armed with zero delay is due now. Arming the uv timer for
     * it here, inside libuv's timer phase, would (libuv < 1.45) run it again
     * in the same phase, and a self-re-arming timer would never let the loop
     * poll. Arm it from the idle phase: it fires on the next iteration. */
    r->rearm_from_idle = 1;
    if (!uv_is_active((uv_handle_t *)&r->idle))
      uv_idle_start(&r->idle, idle_cb);
    return;
  }
  eddy__timers_rearm(r);
}

void eddy__timers_rearm(eddy_reactor_t *r) {
  if (r->flags & EDDY_REACTOR_FAKE_CLOCK)
    return;
  if (r->heap_len == 0) {
    uv_timer_stop(&r->uv_timer);
    return;
  }
  uint64_t now = uv_now(&r->loop);
  uint64_t due = r->heap[0]->due;
  uv_timer_start(&r->uv_timer, on_uv_timer, due > now ? due - now : 0, 0);
}
