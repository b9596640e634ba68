#include "rate.h"

#include <math.h>

void rate_init(struct rate *r, double per_sec, double burst, int64_t now_ns)
{
    r->per_sec = per_sec;
    r->burst = burst < 1 ? 1 : burst;
    r->tokens = r->burst;
    r->last_ns = now_ns;
}

/* Tokens there would be at now_ns (the clock never runs backwards here). */
static double tokens_at(const struct rate *r, int64_t now_ns)
{
    int64_t dt = now_ns > r->last_ns ? now_ns - r->last_ns : 0;
    double t = r->tokens + (double)dt * r->per_sec / 1e9;
    return t > r->burst ? r->burst : t;
}

int64_t rate_delay_ns(const struct rate *r, int64_t now_ns)
{
    double missing = 1.0 - tokens_at(r, now_ns);
    if (missing <= 1e-9)
        return 0;
    return (int64_t)ceil(missing * 1e9 / r->per_sec);
}

int rate_take(struct rate *r, int64_t now_ns)
{
    double t = tokens_at(r, now_ns);
    if (t < 1.0 - 1e-9)
        return -1;
    r->tokens = t - 1.0 < 0 ? 0 : t - 1.0;
    if (now_ns > r->last_ns)
        r->last_ns = now_ns;
    return 0;
}
