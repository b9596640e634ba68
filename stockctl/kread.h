/* kread: stockctl's Kafka plumbing. Clients whose librdkafka log lines stay
 * quiet (stockctl prints one line per failure, not librdkafka's chatter),
 * topic metadata that never creates a topic, watermarks, a bounded reader
 * that reads partitions up to given end offsets, and offsets by time.
 *
 * Functions that can fail return a stockctl exit code (EXIT_OK,
 * EXIT_NOTFOUND, EXIT_UNREACHABLE, EXIT_FAIL) with one line in err. */
#ifndef STOCKFLOW_KREAD_H
#define STOCKFLOW_KREAD_H

#include "cfg.h"
#include "kafka.h"

#include <stddef.h>
#include <stdint.h>

#define KREAD_CONNECT_MS 5000 /* the first request: how long the broker may take to answer */

/* group.id of stockctl's readers: librdkafka wants one to assign partitions;
 * they never join it nor commit in it. */
#define KREAD_GROUP "stockctl-reader"

/* A client of `type` with props (before the RDKAFKA_* overrides); a
 * consumer without a group.id gets KREAD_GROUP. Returns NULL with err (a
 * configuration error: exit code EXIT_USAGE). */
rd_kafka_t *kread_client(const struct cfg *c, rd_kafka_type_t type, const struct kafka_prop *props,
                         size_t nprops, char *err, size_t errlen);

/* Sends librdkafka's log lines of a client made from conf to stockctl's
 * log at debug level (kread_client does this itself). */
void kread_quiet(rd_kafka_conf_t *conf);

/* Metadata of every topic (asking for one topic by name would make the
 * development broker create it). *md is the caller's, to destroy with
 * rd_kafka_metadata_destroy. EXIT_OK or EXIT_UNREACHABLE. */
int kread_metadata(rd_kafka_t *rk, const struct rd_kafka_metadata **md, char *err, size_t errlen);

/* The topic named name in md, or NULL. */
const rd_kafka_metadata_topic_t *kread_topic(const struct rd_kafka_metadata *md, const char *name);

/* Every partition of topic, in partition order (offsets unset), into *out
 * (the caller's). EXIT_OK, EXIT_NOTFOUND or EXIT_UNREACHABLE. */
int kread_partitions(rd_kafka_t *rk, const char *topic, rd_kafka_topic_partition_list_t **out,
                     char *err, size_t errlen);

/* Low and high watermark of each partition of l into lo[i], hi[i]. */
int kread_watermarks(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *l, int64_t *lo,
                     int64_t *hi, char *err, size_t errlen);

/* ---- reading up to an end ------------------------------------------------ */

struct kread_scan;

/* Starts reading the partitions of `from` at their offsets (absolute) up to
 * end[i] (exclusive), with rk, a consumer made with enable.partition.eof =
 * true and no subscription. Takes no ownership. */
int kread_scan_start(struct kread_scan **out, rd_kafka_t *rk,
                     const rd_kafka_topic_partition_list_t *from, const int64_t *end, char *err,
                     size_t errlen);

/* Next record, in offset order per partition: 1 with *m (the caller
 * destroys it), 0 once every partition reached its end, -1 with err when
 * the broker stopped answering (nothing came for 30 s: EXIT_UNREACHABLE). */
int kread_scan_next(struct kread_scan *s, rd_kafka_message_t **m, char *err, size_t errlen);

/* Records still to read before the ends (an estimate for progress). */
int64_t kread_scan_left(const struct kread_scan *s);

/* Stops reading (unassigns). NULL is a no-op. */
void kread_scan_free(struct kread_scan *s);

/* Sets each partition's offset in l to the first offset whose timestamp is
 * at or after ts_ms, or hi[i] when there is none (ListOffsets by time).
 * The development broker answers "none" for every time, so when the broker
 * says none for a partition whose last record is that recent, the offset is
 * found by reading the partition. rk: a consumer as for kread_scan_start. */
int kread_offsets_for_time(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l, int64_t ts_ms,
                           const int64_t *lo, const int64_t *hi, char *err, size_t errlen);

#endif
