/* alert-worker: POSTs every alert to ALERT_WEBHOOK_URL (DESIGN §1, §6): one
 * per dead letter of the .dlq topics, and every record of inventory.alerts
 * (which must already be an alert). The loop lives in common/alertw.c. */
#include "alertw.h"

/* Every dead-letter topic, and the alerts; never inventory.alerts.dlq, where
 * this worker puts the alerts the webhook refuses. */
static const char *const topics[] = {
    "inventory.orders.dlq",
    "inventory.payments.dlq",
    "inventory.stock.dlq",
    "inventory.alerts",
    NULL,
};

static const struct alertw_role role = {
    .name = "alert-worker",
    .group = "stockflow-alert",
    .topics = topics,
    .alerts_topic = "inventory.alerts",
    .alerts_dlq = "inventory.alerts.dlq",
    .http_port = 8085,
};

int main(int argc, char **argv)
{
    return alertw_main(&role, argc, argv);
}
