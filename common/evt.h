/* evt: parse and validate one event (DESIGN §3).
 *
 * The JSON Schema files in schemas/events/ decide what is valid; they are
 * embedded at build time (schemas/embed.py) and interpreted by jschema.
 * This module only checks the JSON text itself (size, UTF-8, U+0000,
 * nesting, duplicate keys), dispatches on "type", validates against that
 * type's schema, and then reads the fields into struct evt.
 *
 *     struct evt_validator *v;            // once per process or thread
 *     evt_validator_new(&v, err, sizeof(err));
 *     struct evt e;
 *     if (evt_parse(v, payload, len, &e, err, sizeof(err)) == 0) {
 *         ... use e (strings borrowed from e) ...
 *         evt_release(&e);
 *     } else {
 *         ... poison: err says why, one line ...
 *     }
 */
#ifndef STOCKFLOW_EVT_H
#define STOCKFLOW_EVT_H

#include <stddef.h>

/* Largest event accepted, in bytes of JSON text. */
#define EVT_MAX_BYTES 65536
/* Deepest nesting of objects and arrays accepted. */
#define EVT_MAX_DEPTH 64

enum evt_type {
    EVT_ORDER_CREATED,
    EVT_ORDER_CANCELLED,
    EVT_PAYMENT_SUCCEEDED,
    EVT_PAYMENT_FAILED,
    EVT_STOCK_RECEIVED,
    EVT_STOCK_ADJUSTED,
    EVT_SKU_CONFIGURED,      /* DESIGN §9 */
    EVT_PROMOTION_ALLOCATED, /* DESIGN §9 */
    EVT_PROMOTION_ENDED,     /* DESIGN §9 */
    EVT__COUNT
};

struct evt_line {
    const char *sku;
    long long qty;
};

/* A parsed event. Strings are borrowed from the event until evt_release. */
struct evt {
    enum evt_type type;
    const char *type_name; /* "order.created" ... */
    const char *event_id;
    const char *occurred_at;  /* text as given */
    long long occurred_at_ms; /* epoch milliseconds, zone applied */
    const char *order_id;     /* order and payment events, else NULL */
    const char *sku;          /* stock events, sku.configured, promotion.allocated, else NULL */
    long long qty;            /* stock.received, promotion.allocated */
    long long delta;          /* stock.adjusted */
    long long hold_seconds;   /* order.created; 0 when absent */
    const char *reason;       /* payment.failed / stock.adjusted when a string, else NULL */
    const char *promo_id;     /* promotion events; order.created when given; else NULL */
    const char *ends_at;      /* promotion.allocated, text as given, else NULL */
    long long ends_at_ms;     /* promotion.allocated: epoch milliseconds */
    const char *batch;        /* stock.received when given, else NULL */
    const char *best_before;  /* stock.received when given ("YYYY-MM-DD"), else NULL */
    /* sku.configured: each setting, -1 when absent (absent = unchanged) */
    long long safety_stock, low_stock_threshold, hide_below;
    const char *unit_cost; /* sku.configured: the JSON number as written, NULL when absent */
    size_t n_lines;
    struct evt_line *lines; /* order.created, lines as given (NOT summed) */
    void *priv_;            /* owned parse tree */
};

struct evt_validator;

/* Compiles every embedded schema; every event type must have one.
 * Returns 0 and sets *out (free with evt_validator_free), or -1 with one
 * line in err. The validator is immutable afterwards: threads may share it. */
int evt_validator_new(struct evt_validator **out, char *err, size_t errlen);

/* Frees the validator; NULL is a no-op. */
void evt_validator_free(struct evt_validator *v);

/* Parses and validates one Kafka message value (not NUL-terminated).
 * Overwrites *out without releasing it first.
 * Returns 0 and fills *out (strings borrowed from *out until evt_release),
 * or -1 with *out zeroed and the reason in err, one line starting with a
 * class word:
 *   "too large: 70000 bytes (limit 65536)"
 *   "invalid JSON: ..."  (syntax, trailing garbage, empty or NULL value,
 *                         invalid UTF-8, a string holding U+0000 or an
 *                         unpaired surrogate, nesting over EVT_MAX_DEPTH,
 *                         a duplicate key)
 *   "not an object"
 *   "unknown type: \"foo\""
 *   "schema order.created: /lines/0/qty: 0 is less than minimum 1" */
int evt_parse(const struct evt_validator *v, const void *buf, size_t len, struct evt *out,
              char *err, size_t errlen);

/* Frees what evt_parse gave *e and zeroes it; safe on a zeroed or released
 * evt (and on NULL). */
void evt_release(struct evt *e);

/* The fields of a sku.configured event that are present, as one JSON
 * object in a fixed order: {"safety_stock":3,"unit_cost":2.50} (unit_cost
 * as written in the event); for promotion.allocated
 * {"promo_id":"p-1","ends_at_ms":1764770400000}, for promotion.ended and an
 * order.created that names one {"promo_id":"p-1"}; for a stock.received, its
 * batch and best_before when given: {"batch":"L7","best_before":"2026-01-31"}
 * (strings JSON-escaped); "{}" for an event without any of them. The apply
 * functions take it in the reason slot (DESIGN §9: an absent field leaves
 * its setting unchanged). Returns the length, or -1 when it does not fit in
 * len bytes (EVT_ARGS_MAX always does: a 128-character promo_id or batch
 * escaped is at most 768 bytes). */
#define EVT_ARGS_MAX 1024
int evt_args_json(const struct evt *e, char *buf, size_t len);

/* "order.created" ..., or "unknown" for a value out of range. */
const char *evt_type_name(enum evt_type t);

/* Parses an RFC 3339 date-time with zone into epoch ms; 0 ok, -1 invalid.
 * The same rules as the schemas' "format": "date-time" (jschema_datetime_ms). */
int evt_rfc3339_ms(const char *s, long long *out_ms);

/* One embedded schema file: name is the file name without ".json". */
struct evt_schema_src {
    const char *name;
    const char *text;
};

/* The embedded schema files (static storage), generated from
 * schemas/events/<type>.json by schemas/embed.py. Sets *count. */
const struct evt_schema_src *evt_schema_sources(size_t *count);

#endif
