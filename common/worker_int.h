/* worker_int: what the consumer loop (worker.c) and the batch pipeline
 * (batch.c) share. Internal to the common library: not an API. */
#ifndef STOCKFLOW_WORKER_INT_H
#define STOCKFLOW_WORKER_INT_H

#include "evt.h"
#include "inv.h"
#include "log.h"
#include "outbox.h"
#include "pg.h"
#include "route.h"
#include "worker.h"

#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <time.h>

#define QUICK_ATTEMPTS 4 /* in-process tries of a transient failure */
/* Outage probes: decorrelated jitter (AWS architecture blog, "Exponential
 * backoff and jitter"): each wait is uniform in [MIN, 3 x the previous],
 * at most MAX. A probe of a stopped PostgreSQL is one refused TCP
 * connection, so probing every ~0.5 s costs nothing, resumes work within
 * about a second of the dependency accepting again, and the fleet's probes
 * spread instead of arriving together. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000
#define MAX_BATCH_PARTS 1024 /* source partitions an idle payment consumer marks at once */
/* A batch also stops at this many bytes of records, whatever BATCH_MAX says:
 * at the 64 KiB a record may have, BATCH_MAX of them could alone exceed the
 * memory bound of a worker (64 MB). */
#define BATCH_BYTES_MAX (8u << 20)
#define OUTAGE_ALERT_MS 30000 /* DESIGN §6: one alert after 30 s */
#define OUTAGE_CONTINUES_MS 5000 /* failing again this soon after resuming: same outage */
#define ROUTE_FLUSH_MS 30000 /* the longest wait for retry/DLQ writes to be acknowledged */
#define IDLE_MARK_MS 100 /* how often an idle payment consumer says it is caught up */

enum item_state {
    IT_PENDING = 0,
    IT_DONE,   /* applied, ignored or duplicate */
    IT_FAILED, /* poison or still transient: write_routed asks route_decide where to */
    IT_DEAD,   /* to <source>.dlq */
    IT_RETRY,  /* to <source>.retry.<n> */
    IT_REWIND, /* not finished: read it again */
    IT_WAIT,   /* a retry record not due yet: rewind and pause its partition */
};

struct item {
    rd_kafka_message_t *m;
    struct evt ev;
    int valid;
    enum item_state st;
    enum route_error fail;   /* IT_FAILED: what went wrong */
    struct route_origin origin; /* IT_DEAD / IT_RETRY: the provenance written */
    struct route_decision dec;  /* IT_DEAD / IT_RETRY: where it goes */
    const char *error_class;
    char error[512];
    int64_t not_before_ms; /* IT_WAIT: when to resume */
    int delivery;          /* retry / dead letter delivery: 0 pending, 1 acknowledged, -1 failed */
    int failed_alone; /* failed transiently in a transaction of its own this turn */
};

/* A retry partition paused until its head record is due. */
struct waiting {
    char topic[256]; /* Kafka topic names have at most 249 bytes */
    int32_t partition;
    int64_t resume_ms;
};

/* A partition of the batch in flight: the offset finish() stores, or the
 * record it rewinds to. */
struct part_pos {
    const char *topic; /* borrowed from the batch's records */
    int32_t partition;
    int64_t store; /* next offset to store, -1 none */
    const rd_kafka_message_t *rewind;
};

struct worker {
    const struct worker_role *role;
    const struct cfg *cfg;
    rd_kafka_t *consumer, *producer, *alert_producer;
    struct pg *pg;
    struct evt_validator *val;
    struct item *items;
    struct inv_item *inv;
    size_t *inv_idx;
    size_t n;
    int paused;  /* consumption paused for an outage */
    int db_down; /* the outage is PostgreSQL's: reconnect before resuming */
    long backoff_ms;
    int64_t retry_at_ms, outage_since_ms, resumed_ms;
    int64_t idle_mark_ms; /* last idle watermark update */
    int64_t phase_ms[5];  /* last batch_run: collect, apply, routed, finish, marks */
    size_t phase_n;       /* events of that batch */
    struct inv_mark marks[MAX_BATCH_PARTS];
    struct inv_pos *pins, *unpins; /* BATCH_MAX each: watermark pins to write, to remove */
    /* BATCH_MAX each (a batch has at most as many partitions as records):
     * finish()'s partitions, batch_marks()'s partitions with an unfinished record */
    struct part_pos *parts;
    struct inv_mark *held;
    /* paused retry partitions: at most one entry per assigned retry
     * partition, room for all of them reserved at each assignment */
    struct waiting *waits;
    size_t nwaits, waits_cap;
    struct outbox *outbox;
    int outage_alerted;
    int alert_now; /* raise the outage alert at once (a retry or DLQ write failed) */
    int64_t turn_deadline_ms; /* no new transaction after this (TURN_DEADLINE_MS) */
    size_t turn_tried;      /* events with a result of their own this turn */
    int verdict;            /* of the batch in flight: enum batch_verdict bits */
    char verdict_why[512];  /* BATCH_DB_DOWN: the first database error */
    char outage_why[256];   /* the current error, for /readyz and the alert */
    char client_id[128];
    unsigned jitter_seed;   /* rand_r state of the probe jitter */
    int64_t lag_ms;         /* last consumer lag report */
};

static inline int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* worker.c: the next wait between outage probes: uniform in
 * [BACKOFF_MIN_MS, 3 * prev_ms], at most BACKOFF_MAX_MS (decorrelated
 * jitter). Pure but for *seed (rand_r state). */
long worker_backoff_next(long prev_ms, unsigned *seed);

/* worker.c: what /readyz and the outage alert say about an outage: for
 * PostgreSQL (db) never libpq's message, which names host, port and user,
 * only "database unreachable" and the SQLSTATE when err starts with one
 * ("57P01 terminating connection ..."); for the broker, "broker
 * unreachable: " and err. Writes at most outlen bytes, NUL-terminated. */
void worker_outage_reason(char *out, size_t outlen, int db, const char *err);

/* worker.c: pause every partition for an outage (db: PostgreSQL's, so
 * reconnect before resuming); why is logged once per outage. Only worker.c
 * enters an outage: batch_run reports one in its verdict. */
void worker_enter_outage(struct worker *w, int db, const char *why);

/* The verdict of one batch_run, bits: */
enum batch_verdict {
    BATCH_OK = 0,
    BATCH_DB_DOWN = 1,     /* PostgreSQL failed (why in verdict_why): unfinished events rewound */
    BATCH_BROKER_DOWN = 2, /* a retry or dead-letter record was not written: rewound */
    BATCH_FATAL = 4,       /* the consumer reported a fatal error (logged): stop */
};

/* batch.c: polls one batch and takes it through validation, apply, retry
 * and dead-letter routing and offset storage (every finished event's offset
 * stored, every unfinished one rewound). Returns its verdict: BATCH_OK, or
 * BATCH_DB_DOWN and/or BATCH_BROKER_DOWN for worker.c to pause on, or
 * BATCH_FATAL. */
int batch_run(struct worker *w);

/* batch.c: resumes retry partitions whose head record is due. */
void batch_resume_due(struct worker *w);

#endif
