/* lag: a consumer group's total lag, as `stockctl lag` sums it (shared
 * with the dashboard). */
#ifndef STOCKFLOW_LAG_H
#define STOCKFLOW_LAG_H

#include "cfg.h"
#include "roles.h"

#include <stddef.h>

/* The lag of r's group summed over its topics' partitions (committed
 * offset, else the partition's start, to the end) into *total. Returns an
 * exit code (EXIT_NOTFOUND when a topic of the group does not exist,
 * EXIT_UNREACHABLE) with one line in err; prints nothing. */
int lag_total(const struct cfg *c, const struct role *r, long long *total, char *err,
              size_t errlen);

#endif
