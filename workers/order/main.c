/* order-worker: reserves stock for new orders (all lines or none) and
 * releases it for cancellations (DESIGN §4 rules 1, 3 and 6). */
#include "evt.h"
#include "worker.h"

static const char *const topics[] = {"inventory.orders", NULL};

static const struct worker_role role = {
    .name = "order-worker",
    .group = "stockflow-order",
    .topics = topics,
    .types = (1u << EVT_ORDER_CREATED) | (1u << EVT_ORDER_CANCELLED),
    .http_port = 8081,
    .summary = "Reads inventory.orders: order.created reserves every line or none;\n"
               "order.cancelled releases the hold.",
};

int main(int argc, char **argv)
{
    return worker_main(&role, argc, argv);
}
