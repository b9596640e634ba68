/* kafka: librdkafka configuration and client construction.
 *
 * Every client gets bootstrap.servers from KAFKA_BROKERS and then every
 * RDKAFKA_<NAME> variable (name lower-cased, '_' read as '.'), so an
 * operator can override any librdkafka property, ours included. */
#ifndef STOCKFLOW_KAFKA_H
#define STOCKFLOW_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/* A property default applied before the RDKAFKA_* overrides. */
struct kafka_prop {
    const char *name;
    const char *value;
};

/* Builds a configuration: defaults, then bootstrap servers, then RDKAFKA_*
 * from environ_vars (NULL-terminated "NAME=value" strings). Returns NULL with
 * one line in err naming the variable on a bad value. Caller owns the conf. */
rd_kafka_conf_t *kafka_conf_new(const char *brokers, const struct kafka_prop *defaults,
                                size_t ndefaults, const char *const *environ_vars, char *err,
                                size_t errlen);

/* As kafka_conf_new, for a client of one type: an RDKAFKA_* property that
 * librdkafka scopes to the other type only (session.timeout.ms for a
 * producer, linger.ms for a consumer) is left out, so no client logs
 * CONFWARN for it; it still reaches the clients it applies to. */
rd_kafka_conf_t *kafka_conf_new_for(rd_kafka_type_t type, const char *brokers,
                                    const struct kafka_prop *defaults, size_t ndefaults,
                                    const char *const *environ_vars, char *err, size_t errlen);

/* librdkafka's scope of a property, from its own property table
 * (rd_kafka_conf_properties_show): 'C' consumer only, 'P' producer only,
 * '*' both, 0 unknown. Thread-safe; the table is read once. */
int kafka_prop_scope(const char *name);

/* Converts RDKAFKA_SESSION_TIMEOUT_MS to session.timeout.ms. Returns 0, or
 * -1 if name has no RDKAFKA_ prefix or does not fit. */
int kafka_env_to_prop(const char *name, char *out, size_t outlen);

/* max.poll.interval.ms of every consumer unless RDKAFKA_MAX_POLL_INTERVAL_MS
 * says otherwise: the longest a loop turn may keep the consumer from
 * polling before it leaves its group. A worker's turn is bounded by
 * TURN_DEADLINE_MS + one statement (PG_STATEMENT_TIMEOUT_MS) + the
 * retry/DLQ flush (30 s): 75 s with the defaults. 120 s is above that, and
 * a loop stuck for good has failed liveness (60 s without a beat) well
 * before its partitions go to another consumer (librdkafka's own default,
 * 300 s, would keep them idle for five minutes). */
#define KAFKA_MAX_POLL_INTERVAL_MS "120000"

/* Creates a high-level consumer in group `group`, with offsets stored only
 * by the application (enable.auto.offset.store=false) and auto-committed.
 * Returns NULL with one line in err. */
rd_kafka_t *kafka_consumer_new(const char *brokers, const char *group, const char *client_id,
                               const char *const *environ_vars,
                               void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                                                    rd_kafka_topic_partition_list_t *, void *),
                               void *opaque, char *err, size_t errlen);

/* Tears a consumer down: commits the stored offsets (synchronously), leaves
 * the group (the rebalance callback sees the revocation, on another thread
 * while this one waits) and destroys it, all within close_budget_ms. One
 * that has not finished by then (librdkafka's own close has no bound; a
 * broker that stops answering, or a stuck group state, held a worker past
 * its grace period) is abandoned with a warning: the caller goes on and the
 * process ends; the group notices the member gone within
 * session.timeout.ms, and nothing is lost (what was not committed is read
 * again). Only for a process that is ending. NULL: nothing. */
void kafka_consumer_free(rd_kafka_t *consumer, int close_budget_ms);

/* The close budget of the workers: a SIGTERM ends a worker within its last
 * loop turn, this, and a 10 s producer flush. */
#define KAFKA_CLOSE_BUDGET_MS 10000

/* Creates an idempotent producer (acks=all) whose delivery reports go to
 * dr_cb, and whose errors are logged; a fatal one sets kafka_fatal().
 * Returns NULL with one line in err. */
rd_kafka_t *kafka_producer_new(const char *brokers, const char *client_id,
                               const char *const *environ_vars,
                               void (*dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                               void *opaque, char *err, size_t errlen);

/* Non-zero once any producer made by kafka_producer_new reported a fatal
 * error (RD_KAFKA_RESP_ERR__FATAL, logged with its cause): the producer can
 * deliver nothing more, and the process must stop with a failure status.
 * The loops check it every turn; only main exits. Thread-safe. */
int kafka_fatal(void);

/* The decision of the producers' error callback: 1 when err (as given to an
 * error_cb) is fatal, with the underlying cause from rd_kafka_fatal_error in
 * why; else 0. */
int kafka_error_is_fatal(rd_kafka_t *rk, int err, char *why, size_t whylen);

/* Delivery-report callback for producers whose records carry an int * as
 * their opaque: sets it to 1 when acknowledged, -1 when not (and logs). */
void kafka_dr_status(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

/* Inside a rebalance callback: adds 'parts' to the consumer's assignment
 * (err RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) or removes them (any other
 * err), with the protocol the group runs: the whole assignment at once
 * (eager: range, roundrobin) or incrementally (cooperative-sticky), so that
 * RDKAFKA_PARTITION_ASSIGNMENT_STRATEGY may name either. Logs a failure.
 * Returns the number of partitions assigned afterwards. */
int kafka_rebalance_apply(rd_kafka_t *consumer, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t *parts);

/* Pauses (pause != 0) or resumes every partition assigned to consumer. */
void kafka_pause_all(rd_kafka_t *consumer, int pause);

/* Seeks m's partition back to m, so the consumer reads it again; logs a
 * failure (the partition may have been revoked meanwhile). */
void kafka_rewind(rd_kafka_t *consumer, const rd_kafka_message_t *m);

/* Stores m's offset + 1 for the next commit (after m was handled). */
void kafka_store_next(rd_kafka_t *consumer, const rd_kafka_message_t *m);

/* Finds header `name` on m and copies its value NUL-terminated into out.
 * Returns 0, or -1 when absent. */
int kafka_header_get(const rd_kafka_message_t *m, const char *name, char *out, size_t outlen);

#endif
