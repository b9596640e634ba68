/* expiry: the timeout worker's loop (DESIGN §4 rule 5).
 *
 * It reads inventory.orders in its own group only to learn when holds end:
 * every order.created pushes occurred_at + hold into a bounded min-heap of
 * expiry times, seeded at start from the held orders in PostgreSQL. When the
 * earliest one is due, and at least every second as a sweep, it releases in
 * PostgreSQL every hold whose expires_at has passed both the clock and the
 * payment watermark (sf_expire_due: set-based, index-driven, idempotent),
 * and, in the same call, ends every active promotion whose ends_at has
 * passed both (its unsold earmark returns to available; DESIGN §9).
 * PostgreSQL is the truth; the heap only says when to look, so a full heap
 * or a restart loses nothing. */
#ifndef STOCKFLOW_EXPIRY_H
#define STOCKFLOW_EXPIRY_H

#include "cfg.h"

#include <signal.h>

#define EXPIRY_HEAP_CAP 2000000 /* 16 MB of expiry times */

/* Runs until *stop; returns 0, or 1 on a fatal error (logged). */
int expiry_run(const struct cfg *cfg, volatile sig_atomic_t *stop);

#endif
