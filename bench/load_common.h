/* Support code shared by the libuv load generators (echo-load, cache-load):
 * one latency histogram per process, CPU-time reading, the timerfd pacer of
 * --rate mode, closing everything at the end, and the checks common to their
 * options. Kept out of the generators so a fix to the histogram or the pacer
 * reaches every tool's figures at once. */
#ifndef EDDY_BENCH_LOAD_COMMON_H
#define EDDY_BENCH_LOAD_COMMON_H

#include <stdint.h>
#include <uv.h>

/* ---- Latency histogram ---------------------------------------------------
 * Log-linear: exact below 64 ns, then 64 buckets per power of two (about
 * 1.5 % resolution) up to 2^40 ns. One per process: each generator measures
 * one latency distribution. */

/* Records one latency of ns nanoseconds. */
void load_hist_add(uint64_t ns);
/* Latencies recorded so far. */
uint64_t load_hist_count(void);
/* The p-quantile (0 < p <= 1) in microseconds (a bucket's middle); 0 if
 * nothing was recorded. */
double load_hist_pct_us(double p);
/* The largest latency recorded, exactly, in microseconds. */
double load_hist_max_us(void);

/* ---- Process ------------------------------------------------------------ */

/* User plus system CPU seconds this process has used so far. */
double load_cpu_secs(void);

/* Closes every handle of loop not already closing, so uv_run returns. */
void load_close_all(uv_loop_t *loop);

/* ---- --rate pacing ------------------------------------------------------
 * A timerfd wakes the loop exactly when the next message is due: a uv_timer
 * has millisecond resolution, far too coarse for a fixed schedule. */

/* Opens a non-blocking CLOCK_MONOTONIC timerfd watched by poll (calling cb
 * when it fires). Returns the fd, or -1 with errno set. */
int load_pacer_open(uv_loop_t *loop, uv_poll_t *poll, uv_poll_cb cb);
/* Makes the pacer fd fire at at_ns, an absolute uv_hrtime() value. */
void load_pacer_arm(int fd, uint64_t at_ns);
/* Consumes a firing of the pacer fd. Returns 0, or -1 on a read error. */
int load_pacer_ack(int fd);

/* ---- Options ------------------------------------------------------------ */

/* Checks the options every generator shares: port 1..65535, 1..max_conns
 * connections, 0 < duration <= 3600 s, 0 <= warmup <= 3600 s and
 * 0 <= rate <= 1e7 (NaN fails). Returns 1 if they are all valid, else 0. */
int load_common_opts_ok(int port, unsigned conns, unsigned max_conns,
                        double duration, double warmup, double rate);

#endif
