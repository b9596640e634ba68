/* dlq: the dead-letter commands (list and show in dlq.c, redrive in
 * redrive.c) and what they share: reading a DLQ topic and the DESIGN §2
 * headers of a dead letter. */
#ifndef STOCKFLOW_DLQ_H
#define STOCKFLOW_DLQ_H

#include "cfg.h"
#include "kafka.h"

#include <stddef.h>
#include <stdint.h>

/* The DESIGN §2 headers of one dead letter ("" when absent). */
struct dlq_rec {
    char attempt[16];
    char error_class[32];
    char error[2048];
    char orig_topic[256];
    char orig_partition[16];
    char orig_offset[32];
    char redriven_from[400]; /* x-redriven-from: <dlq>:<p>:<o> of the last redrive */
    long redrive_count;      /* x-redrive-count, 0 when absent or not a number */
    int64_t ts_ms; /* the dead letter's own timestamp */
};

void dlq_rec_read(const rd_kafka_message_t *m, struct dlq_rec *r);

/* Whether needle occurs in m's key, its value or r->error (bytes, case
 * sensitive). An empty or NULL needle matches everything. */
int dlq_rec_match(const rd_kafka_message_t *m, const struct dlq_rec *r, const char *needle);

/* A DLQ topic opened for reading: a consumer (in `group` when given, which
 * it never joins), every partition and its watermarks at opening. */
struct dlq_src {
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *parts; /* in partition order */
    int64_t *lo, *hi;
};

/* Returns an exit code: EXIT_NOTFOUND when the topic does not exist. */
int dlq_src_open(struct dlq_src *s, const struct cfg *c, const char *topic, const char *group,
                 char *err, size_t errlen);
void dlq_src_close(struct dlq_src *s); /* a zeroed one is a no-op */

/* Reads the record at topic p:o of src (opened on that topic) into *m
 * (caller destroys it). Returns an exit code: EXIT_NOTFOUND with err saying
 * which offsets the partition holds. */
int dlq_fetch(struct dlq_src *src, const char *topic, int32_t p, int64_t o,
              rd_kafka_message_t **m, char *err, size_t errlen);

/* The topic a DLQ's dead letters come from: its name without ".dlq".
 * Returns -1 when topic does not end in ".dlq". */
int dlq_source_of(const char *topic, char *out, size_t outlen);

/* Dead letters naming a SKU or an order: every *.dlq topic read to its end,
 * a record matches when its key is value or its JSON payload has field
 * ("sku" also in lines[].sku) equal to value. Summarised in out as
 * "1 dead letter names it: inventory.orders.dlq 5:1, <x-error>; ..." (at
 * most 5 named), or "" when none. Returns the number found, or -1 with err
 * (Kafka unreachable). */
long dlq_naming(const struct cfg *c, const char *field, const char *value, char *out,
                size_t outlen, char *err, size_t errlen);

/* Dead letters now in each *.dlq topic the cluster has (end - start
 * watermark, summed over its partitions), in metadata order, at most max
 * into out; *n gets how many. Returns an exit code with err. */
struct dlq_count {
    char topic[256];
    long long count;
};
int dlq_counts(const struct cfg *c, struct dlq_count *out, int max, int *n, char *err,
               size_t errlen);

/* The options of a redrive (stockctl dlq redrive --help says what each
 * does). */
struct redrive_opts {
    const char *topic, *to, *filter;
    double rate;
    long limit, max_redrives;
    int dry_run, json, from_beginning, force;
};
#define REDRIVE_OPTS_INIT {.rate = 100, .max_redrives = 3}

struct dlq_redrive_result {
    long moved, skipped, refused, held_back, moved_before;
    double seconds;
    char group[300]; /* where the position is saved */
};

/* A redrive of o->topic exactly as `stockctl dlq redrive` runs it (the
 * advisory lock, the rate limiter, the saved position), without printing a
 * summary; o->dry_run must be 0 (a dry run prints its rows). Returns an
 * exit code (EXIT_FAIL also when records were refused or held back, or a
 * stop was asked for) with one line in err; res is filled either way. */
int dlq_redrive_run(const struct cfg *c, const struct redrive_opts *o,
                    struct dlq_redrive_result *res, char *err, size_t errlen);

/* stockctl dlq redrive ARGS (argv[0] is "redrive"). */
int dlq_redrive(const struct cfg *c, int argc, char **argv);

#endif
