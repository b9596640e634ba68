/* stock-worker: applies warehouse receipts and adjustments (DESIGN §4), SKU
 * settings and promotion earmarks (§9). */
#include "evt.h"
#include "worker.h"

static const char *const topics[] = {"inventory.stock", "inventory.promotions", NULL};

static const struct worker_role role = {
    .name = "stock-worker",
    .group = "stockflow-stock",
    .topics = topics,
    .types = (1u << EVT_STOCK_RECEIVED) | (1u << EVT_STOCK_ADJUSTED) | (1u << EVT_SKU_CONFIGURED) |
             (1u << EVT_PROMOTION_ALLOCATED) | (1u << EVT_PROMOTION_ENDED),
    .http_port = 8084,
    .summary = "Reads inventory.stock: stock.received adds to on_hand; stock.adjusted records\n"
               "gains and losses (a loss below the reservations marks the SKU oversold);\n"
               "sku.configured sets safety_stock, low_stock_threshold, hide_below, unit_cost.\n"
               "Reads inventory.promotions: promotion.allocated earmarks units for a promotion\n"
               "(refused whole, blocked, with a promotion_conflict alert when they are not\n"
               "available); promotion.ended returns the unsold earmark.",
};

int main(int argc, char **argv)
{
    return worker_main(&role, argc, argv);
}
