/* emit: the events stockctl produces itself (sku.configured,
 * promotion.allocated), one at a time: built, checked against the embedded
 * schema the workers apply, produced through an idempotent producer and
 * acknowledged by the broker. Shared by the commands (`stockctl sku set`,
 * `stockctl promotion start`) and the dashboard's actions, so both produce
 * exactly the same event.
 *
 * Functions return a stockctl exit code (EXIT_OK, EXIT_USAGE for an event
 * the schema refuses, EXIT_NOTFOUND when the topic does not exist,
 * EXIT_UNREACHABLE when not acknowledged, EXIT_FAIL) with one line in err.
 * They print nothing, and are safe to call from several threads at once. */
#ifndef STOCKFLOW_EMIT_H
#define STOCKFLOW_EMIT_H

#include "cfg.h"

#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>

#define EMIT_EVENT_MAX 1024 /* bytes of one event's JSON text, NUL included */

/* Where the broker put the event. */
struct emit_ack {
    int32_t partition;
    int64_t offset;
};

/* "<prefix>-<32 random hex digits>" into out (an event_id or promo_id). */
int emit_fresh_id(const char *prefix, char *out, size_t outlen, char *err, size_t errlen);

/* Copies the complete JSON value g holds into ev (EMIT_EVENT_MAX bytes). */
int emit_text(yajl_gen g, char *ev, char *err, size_t errlen);

/* Validates ev (a NUL-terminated event) with the embedded schemas, then
 * produces it to topic with key and waits for the acknowledgement. */
int emit_send(const struct cfg *c, const char *topic, const char *key, const char *ev,
              struct emit_ack *ack, char *err, size_t errlen);

/* ---- the events -------------------------------------------------------- */

/* sku.configured (DESIGN §9): a field < 0 (or cost NULL) is not given; cost
 * is a plain decimal ("2.50"). At least one must be given. */
struct sku_settings {
    long safety_stock, low_stock_threshold, hide_below;
    const char *unit_cost;
};

/* stockctl sku set: produces sku.configured for sku to inventory.stock.
 * ev (EMIT_EVENT_MAX bytes) gets the event's text. */
int sku_configure(const struct cfg *c, const char *sku, const struct sku_settings *s, char *ev,
                  struct emit_ack *ack, char *err, size_t errlen);

/* stockctl promotion start: produces promotion.allocated {promo_id, sku,
 * qty, ends_at} to inventory.promotions, key promo_id. promo_id NULL or
 * "": "promo-<random>"; ends_at_ms: epoch ms. ev as above. */
int promotion_start(const struct cfg *c, const char *promo_id, const char *sku, long qty,
                    int64_t ends_at_ms, char *ev, struct emit_ack *ack, char *err, size_t errlen);

#endif
