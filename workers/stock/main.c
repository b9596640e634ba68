/* stock-worker: applies warehouse receipts and adjustments (DESIGN §4) and
 * SKU settings (§9). */
#include "evt.h"
#include "worker.h"

static const char *const topics[] = {"inventory.stock", NULL};

static const struct worker_role role = {
    .name = "stock-worker",
    .group = "stockflow-stock",
    .topics = topics,
    .types = (1u << EVT_STOCK_RECEIVED) | (1u << EVT_STOCK_ADJUSTED) | (1u << EVT_SKU_CONFIGURED),
    .http_port = 8084,
    .summary = "Reads inventory.stock: stock.received adds to on_hand; stock.adjusted records\n"
               "gains and losses (a loss below the reservations marks the SKU oversold);\n"
               "sku.configured sets safety_stock, low_stock_threshold, hide_below, unit_cost.",
};

int main(int argc, char **argv)
{
    return worker_main(&role, argc, argv);
}
