/* eddy/deferred.h — a result that is not there yet.
 *
 * Twisted's Deferred in C. A producer creates a deferred and fires it once,
 * with a value (callback) or a failure (errback). A consumer adds pairs of
 * callbacks; each pair's success or failure side runs depending on the
 * current result, and may change it: replace the value, turn it into a
 * failure, recover from a failure, or make the chain wait on another deferred
 * (whose result then becomes the current one). Chains run in a loop, never by
 * recursion, so neither long chains nor deep nesting can exhaust the stack.
 *
 * OWNERSHIP
 *  - The result (eddy_result_t) owns its value when `free` is set (free is
 *    not called for a NULL value), and always owns `msg`. Firing a deferred
 *    hands the value to it, even when the fire is refused (the value is then
 *    freed at once). A callback that wants to keep the value takes it with
 *    eddy_result_take(); whatever value is left at the end of the chain is
 *    freed with the deferred. Failure messages are limited to 1 KiB; longer
 *    ones are truncated.
 *  - The deferred itself is library-owned. It stays alive while it is unfired,
 *    while its chain runs or waits, and while references taken with
 *    eddy_deferred_ref() remain. Once fired, finished and unreferenced it is
 *    freed at the end of the current loop iteration, never sooner — so code
 *    that just received a deferred may always add its callbacks, even if the
 *    deferred had already fired (they then run at once, inside the add call).
 *    An unfired deferred is never freed: the reactor reports it as left open.
 *  - A failure still unhandled when the deferred is freed is logged at error
 *    level ("deferred.unhandled"), with its code and message.
 *
 * FIRING TWICE is a programming error: it is logged ("deferred.already_fired"),
 * returns EDDY_EALREADYCALLED and changes nothing. The one exception: firing
 * a deferred that was cancelled before it fired is silently ignored and
 * returns 0 (the producer did not know).
 *
 * STACK DEPTH does not grow with the length of a chain, the depth of a nest
 * of waits, or a line of eddy_deferred_chain links; it grows only when a
 * callback itself fires another deferred.
 */
#ifndef EDDY_DEFERRED_H
#define EDDY_DEFERRED_H

#include <stdarg.h>
#include <stddef.h>

#include "reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_deferred_s eddy_deferred_t;
typedef void (*eddy_free_cb)(void *value);

/* The current result of a chain. Callbacks may read the fields and change
 * them only through the eddy_result_* functions below. */
typedef struct eddy_result_s {
  int err;           /* 0 = success, negative = failure */
  void *value;       /* success value, or optional detail of a failure */
  eddy_free_cb free; /* frees value; NULL when the result does not own it */
  char *msg;         /* failure message (owned), NULL on success */
  /* private: set by eddy_result_wait */
  eddy_deferred_t *wait_on;
} eddy_result_t;

/* A callback sees the current result and may change it in place. */
typedef void (*eddy_deferred_cb)(eddy_result_t *res, void *arg);
/* A canceller is called by eddy_deferred_cancel on an unfired deferred; it
 * should stop the work and may fire d itself (typically with its own
 * errback). If it does not, d fails with UV_ECANCELED. */
typedef void (*eddy_canceller_cb)(eddy_deferred_t *d, void *arg);

/* ---- Creating and firing ----------------------------------------------- */

/* Returns NULL only when out of memory. */
eddy_deferred_t *eddy_deferred_new(eddy_reactor_t *r);
eddy_deferred_t *eddy_deferred_new_cancellable(eddy_reactor_t *r,
                                               eddy_canceller_cb canceller,
                                               void *arg);
/* Already-fired deferreds, for APIs whose answer is known at once. When
 * succeed returns NULL the value has been freed. fail with err >= 0 fails
 * with UV_EINVAL instead. */
eddy_deferred_t *eddy_deferred_succeed(eddy_reactor_t *r, void *value,
                                       eddy_free_cb free_fn);
eddy_deferred_t *eddy_deferred_fail(eddy_reactor_t *r, int err, const char *fmt,
                                    ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Fires with a success value (ownership passes to d; free_fn may be NULL).
 * Returns 0, EDDY_EALREADYCALLED (see above), or UV_EINVAL when d is NULL. */
int eddy_deferred_callback(eddy_deferred_t *d, void *value,
                           eddy_free_cb free_fn);
/* Fires with a failure: err < 0 and an optional printf-style message (NULL
 * uses eddy_strerror(err)). err >= 0 is refused with UV_EINVAL and leaves d
 * unfired. */
int eddy_deferred_errback(eddy_deferred_t *d, int err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Fires with *res, moving it into d (res is left empty, even when the fire
 * is refused). res->err > 0 is refused with UV_EINVAL. A result on which
 * eddy_result_wait() was called fires d waiting on that deferred. */
int eddy_deferred_fire(eddy_deferred_t *d, eddy_result_t *res);

/* ---- Adding callbacks -------------------------------------------------- */

/* Adds a pair: on_ok runs when the current result is a success, on_err when
 * it is a failure; a NULL side passes the result through unchanged. Returns
 * 0, UV_ENOMEM, or UV_EINVAL when d is NULL. If d has fired and is not
 * waiting, the chain runs now. A pair added from inside one of d's running
 * callbacks joins the same chain: it runs after the pairs already there,
 * once the current callback has returned. */
int eddy_deferred_add_callbacks(eddy_deferred_t *d, eddy_deferred_cb on_ok,
                                eddy_deferred_cb on_err, void *arg);
int eddy_deferred_add_callback(eddy_deferred_t *d, eddy_deferred_cb cb,
                               void *arg);
int eddy_deferred_add_errback(eddy_deferred_t *d, eddy_deferred_cb cb,
                              void *arg);
/* The same callback on both sides (Twisted's addBoth). */
int eddy_deferred_add_both(eddy_deferred_t *d, eddy_deferred_cb cb, void *arg);
/* Makes `other` fire with d's result when d's chain reaches this point, and
 * leaves d's result empty (success, no value) after it. other is kept alive
 * until then; if it has fired by then, that is a second fire (logged, and
 * the result is freed). UV_EINVAL when d or other is NULL or they are the
 * same deferred. */
int eddy_deferred_chain(eddy_deferred_t *d, eddy_deferred_t *other);

/* ---- Cancelling and inspecting ----------------------------------------- */

/* Unfired: calls the canceller, then fails with UV_ECANCELED unless the
 * canceller fired d; a later fire by the producer is silently ignored.
 * Fired and waiting on another deferred: cancels that one (down a nest of
 * waits to the unfired deferred at its bottom). Otherwise does nothing, so
 * cancelling twice is harmless and a canceller runs at most once. */
void eddy_deferred_cancel(eddy_deferred_t *d);

int eddy_deferred_fired(const eddy_deferred_t *d);
/* Fired, chain finished and the result is available (not waiting). */
int eddy_deferred_done(const eddy_deferred_t *d);
/* The current result (valid while d is alive; do not modify). While d waits
 * on another deferred it is an empty success. */
const eddy_result_t *eddy_deferred_result(const eddy_deferred_t *d);
eddy_reactor_t *eddy_deferred_reactor(const eddy_deferred_t *d);

/* Keeps d alive past the end of the current loop iteration, until the
 * matching unref. An unref without a reference is logged and ignored. */
eddy_deferred_t *eddy_deferred_ref(eddy_deferred_t *d);
void eddy_deferred_unref(eddy_deferred_t *d);

/* ---- Changing the result inside a callback ----------------------------- */

/* Replaces the result with a success value (the old value is freed, unless
 * it is the same pointer). */
void eddy_result_set(eddy_result_t *res, void *value, eddy_free_cb free_fn);
/* Replaces the result with a failure (the old value is freed). The
 * arguments may refer to the old message: it is freed after formatting.
 * err >= 0 becomes UV_EINVAL. */
void eddy_result_fail(eddy_result_t *res, int err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void eddy_result_failv(eddy_result_t *res, int err, const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 0)))
#endif
    ;
/* Turns a failure into a success with no value (handles the error); leaves
 * a success unchanged. */
void eddy_result_recover(eddy_result_t *res);
/* Takes the value out: the caller now owns it; the result keeps its err. */
void *eddy_result_take(eddy_result_t *res);
/* Makes the chain wait for `d`: when d's chain finishes, its result (and the
 * ownership of its value) becomes this chain's current result; if d has
 * already finished the chain goes on at once. The chain takes d over: do not
 * add callbacks to d afterwards. The current result is freed now, and the
 * wait wins over any other change the same callback makes after it.
 * Refused waits fail the chain instead: d NULL (an API out of memory) with
 * UV_ENOMEM; d being the deferred itself, or already taken over by another
 * wait or a gather, with UV_EINVAL. Deferreds that wait on each other in a
 * cycle never finish (the reactor reports them as left open). */
void eddy_result_wait(eddy_result_t *res, eddy_deferred_t *d);
/* Frees the value and the message; leaves an empty success. */
void eddy_result_clear(eddy_result_t *res);
/* The message of a failure, or eddy_strerror(err) when it has none. */
const char *eddy_result_message(const eddy_result_t *res);

/* ---- Gathering --------------------------------------------------------- */

/* The value of gather and deferred-list results: one result per input, in
 * input order; a failed input's item holds its err, message and value. Each
 * item owns its value as usual. `index` is the input that fired a
 * fire-on-one-callback list (SIZE_MAX otherwise). Freed with
 * eddy_results_free (which is the result's free function; NULL is fine). */
typedef struct eddy_results_s {
  size_t count;
  size_t index;
  eddy_result_t items[];
} eddy_results_t;

void eddy_results_free(void *results);

/* Fires with an eddy_results_t of every success in order once all n have
 * succeeded; or, on the first failure, fails with that failure (its err and
 * value, the message prefixed "deferred N: ") after cancelling the inputs
 * that have not delivered yet. Cancelling the gather cancels every input,
 * so it fails with UV_ECANCELED. The inputs' failures are always consumed
 * (never reported as unhandled). n may be 0 (fires at once with an empty
 * list).
 *
 * Inputs (gather and deferred list): the list takes them over, like a wait
 * (do not add callbacks to them afterwards). Inputs that have already fired
 * deliver at once, so the list may fire inside this call. A NULL input (an
 * API out of memory) counts as a failure with UV_ENOMEM. Bad arguments (ds
 * NULL with n > 0, one deferred given twice, an input already taken over,
 * unknown flags) give a deferred failed with UV_EINVAL, and NULL is returned
 * only when out of memory; in both cases the inputs are left untouched. */
eddy_deferred_t *eddy_gather(eddy_reactor_t *r, eddy_deferred_t **ds, size_t n);

enum {
  EDDY_DL_FIRE_ON_ONE_CALLBACK = 1u << 0, /* fire on the first success */
  EDDY_DL_FIRE_ON_ONE_ERRBACK = 1u << 1,  /* fail on the first failure */
  EDDY_DL_CONSUME_ERRORS = 1u << 2 /* inputs' failures count as handled */
};

/* Twisted's DeferredList. Without flags it fires, once every input has
 * fired, with an eddy_results_t holding each input's result (success or
 * failure) in order. FIRE_ON_ONE_CALLBACK fires with the list as soon as one
 * input succeeds (its slot filled, `index` naming it; inputs that have not
 * fired yet keep an empty success and are not cancelled); when none
 * succeeds it fires with the full list. FIRE_ON_ONE_ERRBACK fails with the
 * first failure (its err and value, the message prefixed "deferred N: ");
 * the other inputs are not cancelled.
 *
 * Failures: the list always receives them. Without CONSUME_ERRORS the
 * failing input keeps its failure as well and reports it as unhandled when
 * freed (as in Twisted); with it, the input's failure is handled.
 * Inputs that fire after the list fired: a success's value is freed with its
 * input; a failure is handled only with CONSUME_ERRORS.
 * Cancelling the list cancels every input that has not delivered; if they
 * all settle at once the list fires as usual (with their UV_ECANCELED
 * failures in it), otherwise it fails with UV_ECANCELED. */
eddy_deferred_t *eddy_deferred_list(eddy_reactor_t *r, eddy_deferred_t **ds,
                                    size_t n, unsigned flags);

#ifdef __cplusplus
}
#endif
#endif
