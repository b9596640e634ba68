/* arg: parsing of stockctl's command-line values. Pure: values in, values
 * out, no I/O, so the unit tests need nothing else.
 *
 * Every parser returns 0, or -1 with one readable line in err (when err is
 * given) naming what was expected; on -1 the outputs are untouched. */
#ifndef STOCKFLOW_ARG_H
#define STOCKFLOW_ARG_H

#include <stddef.h>
#include <stdint.h>

/* "PARTITION:OFFSET", both plain decimal numbers ("0:42"): no sign, no
 * spaces, partition <= INT32_MAX, offset <= INT64_MAX. */
int arg_part_offset(const char *s, int32_t *partition, int64_t *offset, char *err, size_t errlen);

/* A whole number in min..max, plain decimal. */
int arg_long(const char *s, long min, long max, long *out, char *err, size_t errlen);

/* A rate in records per second: a positive decimal number up to 1e6. */
int arg_rate(const char *s, double *out, char *err, size_t errlen);

/* A point in time, as epoch milliseconds. Accepted:
 *   2026-11-27T10:00:00Z, 2026-11-27T10:00:00.250+01:00 (RFC 3339; a space
 *   may stand for the T; no zone means UTC), 2026-11-27 (UTC midnight),
 *   1795740000000 (epoch milliseconds: 10 digits or more),
 *   30s, 15m, 2h, 7d (that long before now_ms). */
int arg_time_ms(const char *s, int64_t now_ms, int64_t *out, char *err, size_t errlen);

/* Prints one line "stockctl CMD: WHY (see stockctl CMD --help)" to stderr
 * for the option getopt_long just rejected: ret is what it returned (':' for
 * a missing value, '?' for an unknown option; optstring starting with ':'
 * and opterr = 0). Reads optind and optopt. */
void arg_bad_option(const char *cmd, int ret, char **argv);

#endif
