/* route: what happens to a message after it was handled (STYLE: OK, RETRY,
 * DLQ, OUTAGE), and the retry / dead-letter records of DESIGN §2.
 *
 * The pure parts (topic names, header values) take values and return values;
 * route_produce writes one record and reports delivery through the producer's
 * delivery-report callback. */
#ifndef STOCKFLOW_ROUTE_H
#define STOCKFLOW_ROUTE_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

enum outcome { OUTCOME_OK = 0, OUTCOME_RETRY, OUTCOME_DLQ, OUTCOME_OUTAGE };

/* The failure being routed. */
struct route_failure {
    const char *error_class; /* "poison", "transient", "exhausted" */
    const char *error;       /* one line, human readable */
    const char *group;       /* consumer group that failed it */
    const char *worker;      /* e.g. "order-worker" */
    int64_t now_ms;
    int64_t not_before_ms;   /* retry records only; 0 otherwise */
};

/* Source topic of a topic we read: "inventory.orders.retry.2" ->
 * "inventory.orders"; any other name is returned as is. */
void route_source_topic(const char *topic, char *out, size_t outlen);

/* Retry step of a topic name: 2 for "x.retry.2", 0 for a source topic. */
int route_retry_step(const char *topic);

/* Writes a copy of m (key and value byte for byte) to dest with the DESIGN
 * §2 headers. The x-original-* headers and x-first-failure-at come from m's
 * own headers when m is itself a retry record, else from m; x-attempt is the
 * previous attempt + 1. dr_opaque reaches the delivery-report callback.
 * Returns 0, or -1 with one line in err (nothing was queued). */
int route_produce(rd_kafka_t *producer, const rd_kafka_message_t *m, const char *dest,
                  const struct route_failure *f, void *dr_opaque, char *err, size_t errlen);

/* Attempt number carried by m (x-attempt), 0 when it has none. */
int route_attempt(const rd_kafka_message_t *m);

#endif
