/* rate: a token bucket that spaces records out to a steady rate. Pure: the
 * caller passes the time (monotonic nanoseconds), so the maths is testable.
 *
 * The bucket holds at most `burst` tokens and starts full; each record takes
 * one; tokens come back at `per_sec`. With burst 1, n records sent as fast
 * as the bucket allows take (n - 1) / per_sec seconds. */
#ifndef STOCKFLOW_RATE_H
#define STOCKFLOW_RATE_H

#include <stdint.h>

struct rate {
    double per_sec; /* tokens added per second, > 0 */
    double burst;   /* most tokens held, >= 1 */
    double tokens;
    int64_t last_ns; /* time of the last refill */
};

void rate_init(struct rate *r, double per_sec, double burst, int64_t now_ns);

/* Nanoseconds to wait at now_ns before a token is there (0: take it now). */
int64_t rate_delay_ns(const struct rate *r, int64_t now_ns);

/* Takes one token at now_ns. Returns 0, or -1 (and takes nothing) when none
 * is there yet: wait rate_delay_ns first. */
int rate_take(struct rate *r, int64_t now_ns);

#endif
