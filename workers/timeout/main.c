/* timeout-worker: releases holds still unpaid at expires_at (DESIGN §4 rule
 * 5), never early, and never while an on-time payment may still be unread. */
#include "expiry.h"
#include "worker.h"

static const char *const topics[] = {"inventory.orders", NULL};

static const struct worker_role role = {
    .name = "timeout-worker",
    .group = "stockflow-timeout",
    .topics = topics,
    .http_port = 8083,
    .summary = "Reads inventory.orders to learn when holds end; releases each unpaid hold\n"
               "(expired) once its expires_at has passed and the payment consumers have\n"
               "read past it. Held orders in PostgreSQL are the truth: a restart loses none.\n"
               "Promotions end the same way at ends_at: their unsold earmark returns to\n"
               "available.",
    .run = expiry_run,
};

int main(int argc, char **argv)
{
    return worker_main(&role, argc, argv);
}
