/* route: where a failed message goes (DESIGN §6), and the retry /
 * dead-letter records of DESIGN §2.
 *
 * The decisions are pure and take values: route_trust says which provenance
 * a record may claim, route_decide turns (topic read, attempt, error class,
 * backoff steps) into a destination. route_produce writes one record and
 * reports delivery through the producer's delivery-report callback. */
#ifndef STOCKFLOW_ROUTE_H
#define STOCKFLOW_ROUTE_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/* What went wrong with an event: its own fault, or the database's luck. */
enum route_error {
    ROUTE_ERR_POISON = 0, /* can never apply: invalid, rejected by the rules */
    ROUTE_ERR_TRANSIENT,  /* still failing after the quick in-process attempts */
};

/* The fate of a failure: x-error-class of the record written. */
enum route_class {
    ROUTE_TRANSIENT = 0, /* to <source>.retry.<attempt + 1> */
    ROUTE_EXHAUSTED,     /* transient, after the last retry step: <source>.dlq */
    ROUTE_POISON,        /* <source>.dlq at once */
};

struct route_decision {
    enum route_class cls;
    char dest[300];        /* topic to write to */
    int attempt;           /* x-attempt of the record written: attempt + 1 */
    int64_t not_before_ms; /* x-not-before of a retry record; 0 for a dead letter */
};

/* The one place that decides a failure's fate. topic is the topic the
 * record was read from (a source or one of its retry topics), attempt the
 * retry steps it has been through (clamped to 0..nsteps), backoff the
 * seconds of each of the nsteps retry steps, now_ms the time of the
 * decision. Poison goes to <source>.dlq; a transient failure to the next
 * retry topic, due backoff[attempt] seconds from now, or after the last one
 * to <source>.dlq as exhausted. */
void route_decide(const char *topic, int attempt, enum route_error e, const long *backoff,
                  size_t nsteps, int64_t now_ms, struct route_decision *out);

/* "transient", "exhausted", "poison". */
const char *route_class_name(enum route_class c);

/* What a record read says about itself: where it was read, and the
 * provenance headers it carries (NULL when absent; NUL-terminated). */
struct route_seen {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp;
    const char *orig_topic, *orig_partition, *orig_offset, *orig_timestamp;
    const char *first_failure_at, *attempt;
};

/* The provenance a retry or dead-letter record carries (DESIGN §2). */
struct route_origin {
    char topic[256];
    int32_t partition;
    int64_t offset;
    int64_t timestamp;
    int64_t first_failure_at;
    int attempt; /* retry steps already taken, 0..max_attempt */
    int inherited; /* 1: taken from the record's headers */
};

/* Decides which provenance a record may claim (DESIGN §6). Headers are
 * trusted only on a topic the workers write (<source>.retry.<n>, or
 * <source>.dlq for the alert-worker), and only when x-original-topic names
 * that <source> and every x-original-* value parses; then the originals,
 * x-first-failure-at and x-attempt (clamped to 0..max_attempt; the topic's
 * retry step when absent or not a number) are kept. Otherwise the record
 * is a fresh one of the topic it was read from: its own position, first
 * failure now, attempt 0 on a source topic, the retry step on a retry
 * topic (clamped). */
void route_trust(const struct route_seen *s, int max_attempt, int64_t now_ms,
                 struct route_origin *out);

/* route_trust on m's own position and headers. */
void route_origin_of(const rd_kafka_message_t *m, int max_attempt, int64_t now_ms,
                     struct route_origin *out);

/* The failure being routed. */
struct route_failure {
    const char *error_class; /* "poison", "transient", "exhausted" */
    const char *error;       /* one line, human readable */
    const char *group;       /* consumer group that failed it */
    const char *worker;      /* the client id, "order-worker@host:pid" */
    int attempt;             /* x-attempt to write */
    int64_t not_before_ms;   /* retry records only; 0 otherwise */
    const struct route_origin *origin; /* borrowed; see route_origin_of */
};

/* Source topic of a topic we read: "inventory.orders.retry.2" ->
 * "inventory.orders"; any other name is returned as is. */
void route_source_topic(const char *topic, char *out, size_t outlen);

/* Retry step of a topic name: 2 for "x.retry.2", 0 for a source topic. */
int route_retry_step(const char *topic);

/* Largest value a retry or dead-letter record copies. Kafka accepts records
 * up to its message.max.bytes (1 MiB by default) on the source topic, and a
 * copy of one that size plus the headers below is refused (MSG_SIZE_TOO_LARGE),
 * which would block its partition for good. Events are at most 64 KiB, so
 * only poison ever comes near this. */
#define ROUTE_COPY_MAX (512 * 1024)

/* Writes a copy of m (key and value byte for byte) to dest with the DESIGN
 * §2 headers from f (x-original-* and x-first-failure-at from f->origin),
 * and m's x-redriven-from and x-redrive-count copied as they are. A value
 * over ROUTE_COPY_MAX is left out: the record has no value and the header
 * x-value-omitted: <its size in bytes>; the x-original-* headers say where
 * the original stays (for its topic's retention).
 * dr_opaque reaches the delivery-report callback. Returns 0, or -1 with one
 * line in err (nothing was queued). */
int route_produce(rd_kafka_t *producer, const rd_kafka_message_t *m, const char *dest,
                  const struct route_failure *f, void *dr_opaque, char *err, size_t errlen);

#endif
