/* alert-worker: POSTs every alert to ALERT_WEBHOOK_URL (DESIGN §1, §6): one
 * per dead letter of the .dlq topics, and every record of inventory.alerts
 * (which must already be an alert). The loop lives in common/alertw.c. */
#include "alertw.h"
#include "worker.h"

/* Every dead-letter topic, and the alerts; never inventory.alerts.dlq, where
 * this worker puts the alerts the webhook refuses. */
static const char *const topics[] = {
    "inventory.orders.dlq",
    "inventory.payments.dlq",
    "inventory.stock.dlq",
    "inventory.promotions.dlq",
    "inventory.alerts",
    NULL,
};

static const struct alertw_role alert_role = {
    .name = "alert-worker",
    .group = "stockflow-alert",
    .topics = topics,
    .alerts_topic = "inventory.alerts",
    .alerts_dlq = "inventory.alerts.dlq",
};

static int run(const struct cfg *cfg, volatile sig_atomic_t *stop)
{
    return alertw_run(&alert_role, cfg, stop);
}

static const struct worker_role role = {
    .name = "alert-worker",
    .group = "stockflow-alert",
    .topics = topics,
    .http_port = 8085,
    .summary = "Reads every .dlq topic and inventory.alerts; POSTs each alert (one per dead\n"
               "letter) to ALERT_WEBHOOK_URL with Idempotency-Key: <alert_id>, at least once\n"
               "and in order per partition (unset: each alert is logged at level warn).\n"
               "Network errors, 5xx, 408 and 429 are retried with capped backoff, honouring\n"
               "Retry-After; any other 4xx sends the record to inventory.alerts.dlq.",
    .run = run,
};

int main(int argc, char **argv)
{
    return worker_main(&role, argc, argv);
}
