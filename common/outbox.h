/* outbox: the relay of the transactional outbox (DESIGN §2, §6).
 *
 * Alert and ledger rows are written to the outbox table in the same
 * transaction as the change that caused them. One process at a time relays
 * them (the holder of a PostgreSQL advisory lock on its session): it reads
 * unpublished rows in id order (sf_relay_next: above the relay's cursor, and
 * ids it passed before their transaction committed), produces each to its
 * topic with its key through an idempotent producer, waits for the delivery
 * reports, and moves the cursor (sf_relay_done, one row per round) past the
 * rows delivered before the first failure only, so per key the topic follows
 * commit order. At least once: a crash between delivery and the cursor's
 * move sends a row again (consumers dedupe by alert_id / seq). Published
 * rows are deleted in bulk an hour later (schemas/sql/006_relay.sql). */
#ifndef STOCKFLOW_OUTBOX_H
#define STOCKFLOW_OUTBOX_H

#include "pg.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>

struct outbox;

/* producer and pg are borrowed for the life of the relay; the producer's
 * delivery-report callback must be kafka_dr_status. Returns 0 or -ENOMEM. */
int outbox_new(struct outbox **out, rd_kafka_t *producer, struct pg *pg);
void outbox_free(struct outbox *o); /* NULL is a no-op */

/* Relays one round if due (or if `now` is set). Returns rows published, 0
 * when not the relay or nothing pending, -1 when PostgreSQL is unavailable
 * (err filled; the caller reconnects), -2 when Kafka refused (retry later). */
int outbox_relay(struct outbox *o, int now, char *err, size_t errlen);

/* Forget the advisory lock (after a reconnection the session is new). */
void outbox_reset(struct outbox *o);

#endif
