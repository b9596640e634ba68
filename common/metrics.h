/* metrics: a process-wide registry of Prometheus metrics.
 *
 * A metric (a "family") is declared once with metrics_describe: name, type,
 * the names of its labels, HELP text and, for a histogram, its bucket
 * bounds. Each distinct label string is one series, created by its first
 * update. Updates come from any thread (the worker loop); metrics_render,
 * usually called from the HTTP thread, writes the whole registry in the
 * Prometheus text exposition format (version 0.0.4). One mutex guards the
 * registry; an update is a hash lookup and an addition under it.
 *
 * Bounded: at most METRICS_MAX_SERIES series and METRICS_MAX_FAMILIES
 * families. An update that would need a series beyond the cap is dropped,
 * and so is a malformed one (undeclared name, wrong type, label names that
 * differ from the declared ones, malformed label string, NaN); each drop is
 * counted in stockflow_metrics_dropped_series_total{reason="limit"} or
 * {reason="invalid"}, which every render includes. Updates never log.
 *
 * Label strings are pre-rendered Prometheus label lists, exactly as they
 * appear between the braces: `topic="inventory.orders",type="order.created"`,
 * names in the declared order; NULL or "" for a metric without labels. Build
 * them with metrics_labels (which escapes) or metrics_label_escape. */
#ifndef STOCKFLOW_METRICS_H
#define STOCKFLOW_METRICS_H

#include <stddef.h>

#define METRICS_MAX_SERIES 4096 /* series over all families */
#define METRICS_MAX_FAMILIES 64 /* declared metrics */
#define METRICS_MAX_BUCKETS 32  /* bounds of one histogram, +Inf excluded */
#define METRICS_MAX_LABELS 512  /* bytes of one label string */

enum metrics_type { METRICS_COUNTER = 0, METRICS_GAUGE, METRICS_HISTOGRAM };

/* ---- the metrics of the stockflow fleet ------------------------------------
 * Names and labels are part of the operations contract (docs/operations.md).
 * metrics_describe_stockflow declares all of them. Label values:
 *   topic      the topic the record was read from (retry topics included)
 *   type       the event type; "invalid" when the event did not parse
 *   outcome    applied, ignored, duplicate, retry, dead_letter
 *   class      poison, transient, exhausted (the x-error-class header)
 *   partition  the partition number
 *   status     HTTP status of a webhook answer ("200", "503"), "none" when
 *              no answer came
 *   reason     timeout, connect, http_4xx, http_5xx, other (webhook);
 *              database, broker (paused)
 */
/* counter{topic,type}: records read from Kafka, before any validation */
#define METRICS_EVENTS_CONSUMED "stockflow_events_consumed_total"
/* counter{topic,type,outcome}: events finished, by how they finished */
#define METRICS_EVENTS "stockflow_events_total"
/* histogram: seconds from the record's timestamp to the commit of its effect */
#define METRICS_EVENT_LATENCY "stockflow_event_latency_seconds"
/* gauge{topic,partition}: end offset minus the consumer's position */
#define METRICS_CONSUMER_LAG "stockflow_consumer_lag"
/* counter{topic,class}: records written to a retry topic */
#define METRICS_RETRIES "stockflow_retries_total"
/* counter{topic,class}: records written to a dead-letter topic */
#define METRICS_DEAD_LETTERS "stockflow_dead_letters_total"
/* counter: quick in-process retries of a transient failure */
#define METRICS_INPROCESS_RETRIES "stockflow_inprocess_retries_total"
/* counter: loop turns cut short by their deadline (TURN_DEADLINE_MS): what
 * was left of the batch was sent to retry or read again */
#define METRICS_TURN_DEADLINE "stockflow_turn_deadline_cutoffs_total"
/* gauge: outbox rows not yet acknowledged by the broker */
#define METRICS_OUTBOX_BACKLOG "stockflow_outbox_backlog"
/* gauge: age in seconds of the oldest unpublished outbox row, 0 when none */
#define METRICS_OUTBOX_OLDEST_AGE "stockflow_outbox_oldest_age_seconds"
/* histogram: duration of one PostgreSQL apply transaction (BEGIN..COMMIT) */
#define METRICS_TRANSACTION "stockflow_transaction_seconds"
/* counter{status}: webhook POSTs that got an answer (or none) */
#define METRICS_WEBHOOK_DELIVERIES "stockflow_webhook_deliveries_total"
/* counter{reason}: webhook POSTs that did not deliver the alert */
#define METRICS_WEBHOOK_FAILURES "stockflow_webhook_failures_total"
/* gauge: holds the timeout-worker is waiting to release */
#define METRICS_PENDING_HOLDS "stockflow_pending_holds"
/* gauge{reason}: 1 while consumption is paused for an outage of that
 * dependency (reason: database, broker), else 0 */
#define METRICS_PAUSED "stockflow_paused"
/* gauge: holds past their expires_at and not released yet */
#define METRICS_OVERDUE_HOLDS "stockflow_overdue_holds"
/* gauge{version,worker}: always 1 */
#define METRICS_BUILD_INFO "stockflow_build_info"
/* counter{reason}: updates dropped by this registry (limit, invalid) */
#define METRICS_DROPPED "stockflow_metrics_dropped_series_total"

/* ---- declaring ---------------------------------------------------------- */

/* Declares a metric. label_names is a comma-separated list ("topic,type";
 * NULL or "" for none); "le" and names starting with "__" are reserved.
 * help is one line (copied). buckets (copied) are the upper bounds of a
 * histogram, finite and strictly increasing, 1..METRICS_MAX_BUCKETS of them
 * (+Inf is implicit); NULL and 0 for the other types. Declaring a name
 * again with the same type and labels does nothing.
 * Returns 0, -EINVAL (bad name, labels, help or buckets), -EEXIST (the name
 * is declared differently), -ENOSPC (too many families) or -ENOMEM. */
int metrics_describe(const char *name, enum metrics_type type, const char *label_names,
                     const char *help, const double *buckets, size_t nbuckets);

/* Declares every METRICS_* metric above and sets
 * stockflow_build_info{version,worker} to 1. Returns 0 or a negative errno. */
int metrics_describe_stockflow(const char *worker, const char *version);

/* ---- updating (thread-safe) ------------------------------------------- */

/* Each returns 0, or a negative errno when the update was dropped (and
 * counted): -ENOENT undeclared name, -EINVAL wrong type, label names or
 * label syntax, or a NaN (or, for a counter, negative) value, -ENOSPC the
 * series cap, -ENOMEM. labels is borrowed for the call. */

/* Adds v (>= 0) to a counter. Adding 0 creates the series, showing a 0. */
int metrics_counter_add(const char *name, const char *labels, double v);
/* Sets a gauge. */
int metrics_gauge_set(const char *name, const char *labels, double v);
/* Adds v (may be negative) to a gauge. */
int metrics_gauge_add(const char *name, const char *labels, double v);
/* Counts one observation (seconds, for the fleet's histograms). */
int metrics_histogram_observe(const char *name, const char *labels, double v);

/* ---- label strings ------------------------------------------------------ */

/* Writes value escaped for a label value (backslash, double quote and
 * newline escaped; a byte that is not part of valid UTF-8 becomes '?') into
 * out, without quotes. Writes only whole escapes and always NUL-terminates
 * when outlen > 0. Returns the length the whole escaped value needs (like
 * snprintf): the result was truncated when it is >= outlen. */
size_t metrics_label_escape(char *out, size_t outlen, const char *value);

/* Builds a label string from name, value pairs ended by NULL:
 *   metrics_labels(buf, sizeof(buf), "topic", t, "class", "poison", NULL)
 * gives `topic="...",class="poison"`. A NULL value reads as "".
 * Returns 0, or -ENOSPC (and out = "") when it does not fit. */
int metrics_labels(char *out, size_t outlen, ...) __attribute__((sentinel));

/* ---- reading ------------------------------------------------------------ */

/* Renders every family that has at least one series, in declaration order,
 * series in creation order, histogram buckets cumulative with +Inf, _sum and
 * _count, then the dropped-updates counter. Sets *out to a NUL-terminated
 * string the caller frees, and returns its length; on out-of-memory sets
 * *out to NULL and returns 0. Thread-safe. */
size_t metrics_render(char **out);

/* Value of a counter or gauge series, or for a histogram its count; the
 * dropped counter by its name with `reason="limit"` or `reason="invalid"`.
 * Returns 0, or -ENOENT when there is no such series. For tests. */
int metrics_value(const char *name, const char *labels, double *out);

/* Forgets every family and series and zeroes the dropped counters (tests;
 * and at exit, so that leak checkers see nothing). Not concurrent with
 * anything else: call it when no other thread uses the registry. */
void metrics_reset(void);

#endif
