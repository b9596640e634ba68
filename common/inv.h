/* inv: applies validated events to PostgreSQL, many per transaction.
 *
 * A batch is one transaction sent through libpq pipeline mode: BEGIN, one
 * statement that locks every row the batch touches in a global order (so
 * concurrent batches queue instead of deadlocking), one sf_apply_batch()
 * call that takes the whole batch as arrays (set-based for the common
 * events, a subtransaction per event for the rest, so a failing event rolls
 * back only itself), COMMIT (inv_apply_batch). inv_apply_each sends each
 * event through sf_apply instead. The rules live in the migrations
 * (schemas/sql): sf_apply_batch and sf_apply, each as the newest migration
 * that replaces it defines it. */
#ifndef STOCKFLOW_INV_H
#define STOCKFLOW_INV_H

#include "evt.h"
#include "pg.h"

#include <stdint.h>

enum inv_res {
    INV_PENDING = 0,
    INV_APPLIED,   /* state changed, recorded in processed_events */
    INV_IGNORED,   /* nothing to change, recorded in processed_events */
    INV_DUPLICATE, /* event_id already applied: nothing done */
    INV_POISON,    /* can never apply: dead letter */
    INV_TRANSIENT, /* lock/statement timeout, deadlock: try again */
};

struct inv_item {
    const struct evt *ev; /* borrowed */
    const char *topic;    /* borrowed */
    int32_t partition;
    int64_t offset;
    enum inv_res res;     /* filled by inv_apply_batch / inv_apply_each */
    char detail[256];     /* e.g. "reserved", or the poison/transient reason */
};

/* "Every record of this partition up to timestamp ms has been finished": a
 * payment consumer's watermark (inv_watermarks, after each batch). */
struct inv_mark {
    const char *group;
    const char *topic;
    int32_t partition;
    int64_t ms;
};

/* A record's source position (topic, partition, offset) and its record
 * timestamp ms: a payment sent to retry pins its partition's watermark
 * below ms until it is applied or dead-lettered (schemas/sql/008). */
struct inv_pos {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t ms;
};

/* Statements the inv_ functions need; pass them to pg_new. */
extern const struct pg_stmt inv_stmts[];
extern const size_t inv_nstmts;

/* Applies items[0..n) in one transaction, each event on its own through
 * sf_apply (no set-based path: for finding the culprit after a batch failed).
 * On PG_OK every item has res set (the transaction committed). Otherwise
 * nothing was committed: PG_OUTAGE (reconnect), PG_TRANSIENT or PG_ERROR
 * (err says why). */
enum pg_class inv_apply_each(struct pg *p, struct inv_item *items, size_t n, long default_hold,
                             char *err, size_t errlen);

/* Applies a batch (set-based where it can when n > 1), also advancing the
 * watermarks marks[0..nmarks) in the transaction (the workers pass none:
 * batch.c writes them after routing, once it knows which records went to
 * retry). Results as inv_apply_each; on PG_ERROR, or a PG_TRANSIENT that
 * repeats, apply the items one by one to find the culprit (batch.c,
 * apply_valid). */
enum pg_class inv_apply_batch(struct pg *p, struct inv_item *items, size_t n, long default_hold,
                              const struct inv_mark *marks, size_t nmarks, char *err,
                              size_t errlen);

/* In one statement of group: pins pins[0..npins) (records about to go to a
 * retry topic; a pin that exists stays as it is), removes the pins of
 * unpins[0..nunpins) (applied or dead-lettered; ms unused), then advances
 * marks[0..nmarks), each to at most now and below its partition's oldest
 * pin. PG_OK, or the class of the failure with err. */
enum pg_class inv_watermarks(struct pg *p, const char *group, const struct inv_pos *pins,
                             size_t npins, const struct inv_pos *unpins, size_t nunpins,
                             const struct inv_mark *marks, size_t nmarks, char *err,
                             size_t errlen);

/* Advances watermarks on their own (autocommit). */
enum pg_class inv_mark(struct pg *p, const struct inv_mark *marks, size_t nmarks, char *err,
                       size_t errlen);

const char *inv_res_name(enum inv_res r);

#endif
