/* cmd: the devbroker control language (fault injection on the mock cluster).
 *
 * One command per line, whitespace-separated words:
 *
 *   ping                                  liveness check
 *   help                                  list the commands
 *   bootstrap                             reply "ok <bootstrap.servers>"
 *   down <broker_id|-1>                   disconnect broker(s), refuse connects
 *   up <broker_id|-1>                     accept connections again
 *   rtt <broker_id|-1> <ms>               add round-trip delay
 *   push-errors <ApiKey> <count> <error>  fail the next <count> requests
 *   topic-error <topic> <error>           error for the topic in Metadata
 *                                         (an unknown topic is created, empty)
 *   clear <ApiKey|all>                    drop pushed request errors
 *
 * <ApiKey> is a Kafka protocol request name (Produce, Fetch, OffsetCommit,
 * JoinGroup, Heartbeat, Metadata, ...; case-insensitive, an optional
 * "Request" suffix is accepted) or its number. <error> is a librdkafka
 * error name with or without the RD_KAFKA_RESP_ERR_ prefix
 * (NOT_LEADER_FOR_PARTITION, _TRANSPORT, ...; case-insensitive) or its
 * number.
 */
#ifndef STOCKFLOW_DEVBROKER_CMD_H
#define STOCKFLOW_DEVBROKER_CMD_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* Longest command line accepted, without the newline. */
#define CMD_LINE_MAX 512

/* Runs one command line (NUL-terminated, no newline) against 'mc'.
 * Always writes a one-line reply without newline into 'reply': "ok",
 * "ok <value>" or "error: <reason>". Returns 0 when the reply is ok,
 * -1 otherwise. Borrows all arguments. */
int cmd_exec(rd_kafka_mock_cluster_t *mc, const char *line, char *reply, size_t replylen);

/* Resolves a Kafka ApiKey name or number; returns it, or -1 if unknown. */
int cmd_apikey_parse(const char *s);

/* Resolves a librdkafka error name or number into 'out'. Returns 0, or -1
 * if 's' names no known error. */
int cmd_error_parse(const char *s, rd_kafka_resp_err_t *out);

#endif
