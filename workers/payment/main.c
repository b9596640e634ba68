/* payment-worker: applies payment outcomes to held orders (DESIGN §4 rules
 * 2, 4, 6) and records how far it has read, so the timeout worker never
 * releases a hold whose on-time payment is still unread (rule 5). */
#include "evt.h"
#include "worker.h"

static const char *const topics[] = {"inventory.payments", NULL};

static const struct worker_role role = {
    .name = "payment-worker",
    .group = "stockflow-payment",
    .topics = topics,
    .types = (1u << EVT_PAYMENT_SUCCEEDED) | (1u << EVT_PAYMENT_FAILED),
    .http_port = 8082,
    .watermarks = 1,
    .summary = "Reads inventory.payments: payment.succeeded deducts the held stock (or\n"
               "reserves and deducts again when the hold was released, else refund_required);\n"
               "payment.failed releases the hold.",
};

int main(int argc, char **argv)
{
    return worker_main(&role, argc, argv);
}
