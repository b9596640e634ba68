/* worker: the consumer loop shared by the event workers.
 *
 * A worker reads its topics with a librdkafka high-level consumer, takes what
 * one poll gives it (up to BATCH_MAX events), validates every event, applies
 * the valid ones in one PostgreSQL transaction (inv_apply_batch), writes dead
 * letters and waits for the broker to acknowledge them, and only then stores
 * the offsets (enable.auto.offset.store=false; auto-commit sends them).
 *
 * Outcomes (STYLE): OK -> offset stored; DLQ -> dead letter acknowledged,
 * then offset stored; RETRY -> a few quick in-process attempts, then the
 * next retry topic (<source>.retry.N, acknowledged, then offset stored), and
 * after the last retry step a dead letter marked "exhausted"; OUTAGE (PostgreSQL unreachable,
 * dead-letter write failed) -> rewind the partition to the first unfinished event, pause every
 * partition, reconnect with capped exponential backoff, resume. */
#ifndef STOCKFLOW_WORKER_H
#define STOCKFLOW_WORKER_H

#include "cfg.h"

#include <signal.h>
#include <stdint.h>

struct worker_role {
    const char *name;           /* binary name, e.g. "order-worker" */
    const char *group;          /* consumer group, "stockflow-order" */
    const char *const *topics;  /* NULL-terminated */
    uint32_t types;             /* bit (1u << enum evt_type) per event type handled */
    long http_port;             /* default HTTP_PORT */
    int watermarks;             /* record how far it has read, in event time (payments) */
    const char *summary;        /* one line for --help */
    /* the loop; NULL runs worker_run (the event-applying consumer) */
    int (*run)(const struct cfg *cfg, volatile sig_atomic_t *stop);
};

/* The whole life of a worker process: arguments, configuration, the loop,
 * teardown. Returns the process exit code: 0 after a clean stop, 2 for bad
 * usage or configuration (one line on stderr), 1 for a fatal runtime error. */
int worker_main(const struct worker_role *role, int argc, char **argv);

/* Liveness and readiness of this process, served on HTTP_PORT (/healthz,
 * /readyz) by worker_main: a loop calls worker_beat() every turn and
 * worker_ready() when its readiness changes. Thread-safe. */
void worker_beat(void);
void worker_ready(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs the loop until *stop becomes non-zero. Returns 0 or 1. */
int worker_run(const struct worker_role *role, const struct cfg *cfg,
               volatile sig_atomic_t *stop);

#endif
