/* roles: the worker roles stockctl knows, their consumer groups and the
 * topics each group reads (shared by lag and replay). A worker reads its
 * source topics and, when `retry` is set, their retry topics
 * <source>.retry.1 .. .retry.N (N = the steps of RETRY_BACKOFF_SECONDS). */
#ifndef STOCKFLOW_ROLES_H
#define STOCKFLOW_ROLES_H

#include <stddef.h>

struct role {
    const char *name;          /* "order" */
    const char *group;         /* "stockflow-order" */
    const char *const *topics; /* NULL-terminated source topics */
    int retry;                 /* also reads <source>.retry.<n> */
};

struct role_topic {
    char name[256];
    int optional; /* a retry topic: skipped when the cluster does not have it */
};

/* The role named name ("order") or grouped name ("stockflow-order"), or NULL. */
const struct role *roles_find(const char *name);

/* Every role, in a fixed order; *n gets the count. */
const struct role *roles_all(size_t *n);

/* Fills out with the topics of r (sources first, then retry topics for
 * n_retry steps); returns how many (at most max). */
size_t roles_topics(const struct role *r, size_t n_retry, struct role_topic *out, size_t max);

/* "order, payment, stock, timeout, alert" */
const char *roles_names(void);

#endif
