/* alertw: the alert-worker's loop (DESIGN §1, §6).
 *
 * Reads the dead-letter topics and inventory.alerts with a high-level
 * consumer (offsets stored by the application only) and handles one record
 * at a time, in order per partition:
 *   - a dead letter becomes one alert (alert_dead_letter_json);
 *   - a record of inventory.alerts must be an alert (alert_parse) and is
 *     POSTed unchanged; one that is not goes to the alerts DLQ (poison);
 *   - the alert is POSTed to ALERT_WEBHOOK_URL (alert_http_post), or logged
 *     at level warn when the variable is unset.
 * The offset is stored only after a 2xx (or the log line), or after the
 * alerts DLQ acknowledged the record of a permanently refused alert.
 * While an alert waits for its next attempt, or for the DLQ's
 * acknowledgement, every assigned partition is paused and the consumer is
 * polled at least every 100 ms, so the group membership survives. */
#ifndef STOCKFLOW_ALERTW_H
#define STOCKFLOW_ALERTW_H

#include "cfg.h"

#include <signal.h>

struct alertw_role {
    const char *name;          /* "alert-worker" */
    const char *group;         /* "stockflow-alert" */
    const char *const *topics; /* NULL-terminated: the .dlq topics and the alerts topic */
    const char *alerts_topic;  /* records already alerts: "inventory.alerts" */
    const char *alerts_dlq;    /* where refused alerts go: "inventory.alerts.dlq" */
};

/* Runs the loop until *stop becomes non-zero (worker_main runs the process
 * around it: arguments, configuration, signals, /metrics). Returns 0 or 1. */
int alertw_run(const struct alertw_role *role, const struct cfg *cfg, volatile sig_atomic_t *stop);

#endif
