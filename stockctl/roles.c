#include "roles.h"

#include <stdio.h>
#include <string.h>

static const char *const orders[] = {"inventory.orders", NULL};
static const char *const payments[] = {"inventory.payments", NULL};
static const char *const stock[] = {"inventory.stock", "inventory.promotions", NULL};
static const char *const alerts[] = {"inventory.orders.dlq", "inventory.payments.dlq",
                                     "inventory.stock.dlq", "inventory.promotions.dlq",
                                     "inventory.alerts", NULL};

/* Mirrors workers/<role>/main.c. */
static const struct role roles[] = {
    {"order", "stockflow-order", orders, 1}, {"payment", "stockflow-payment", payments, 1},
    {"stock", "stockflow-stock", stock, 1},  {"timeout", "stockflow-timeout", orders, 0},
    {"alert", "stockflow-alert", alerts, 0},
};

const struct role *roles_find(const char *name)
{
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
        if (strcmp(roles[i].name, name) == 0 || strcmp(roles[i].group, name) == 0)
            return &roles[i];
    return NULL;
}

const struct role *roles_all(size_t *n)
{
    *n = sizeof(roles) / sizeof(roles[0]);
    return roles;
}

size_t roles_topics(const struct role *r, size_t n_retry, struct role_topic *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; r->topics[i] && n < max; i++) {
        snprintf(out[n].name, sizeof(out[n].name), "%s", r->topics[i]);
        out[n++].optional = 0;
    }
    for (size_t i = 0; r->retry && r->topics[i]; i++) {
        for (size_t step = 1; step <= n_retry && n < max; step++) {
            snprintf(out[n].name, sizeof(out[n].name), "%s.retry.%zu", r->topics[i], step);
            out[n++].optional = 1;
        }
    }
    return n;
}

const char *roles_names(void)
{
    return "order, payment, stock, timeout, alert";
}
