#include "arg.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void say(char *err, size_t errlen, const char *what, const char *s)
{
    if (err && errlen)
        snprintf(err, errlen, "\"%.80s\": %s", s, what);
}

/* Plain decimal digits only, at least one; returns -1 on overflow. */
static int digits(const char *s, size_t len, unsigned long long max, unsigned long long *out)
{
    unsigned long long v = 0;
    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int arg_part_offset(const char *s, int32_t *partition, int64_t *offset, char *err, size_t errlen)
{
    const char *colon = strchr(s, ':');
    unsigned long long p, o;
    if (!colon || digits(s, (size_t)(colon - s), INT32_MAX, &p) ||
        digits(colon + 1, strlen(colon + 1), INT64_MAX, &o)) {
        say(err, errlen, "expected PARTITION:OFFSET, e.g. 0:42", s);
        return -1;
    }
    *partition = (int32_t)p;
    *offset = (int64_t)o;
    return 0;
}

int arg_long(const char *s, long min, long max, long *out, char *err, size_t errlen)
{
    unsigned long long v;
    int neg = s[0] == '-';
    if (digits(s + neg, strlen(s + neg), (unsigned long long)LONG_MAX, &v) ||
        (neg ? -(long)v : (long)v) < min || (neg ? -(long)v : (long)v) > max) {
        char why[96];
        snprintf(why, sizeof(why), "expected a whole number in %ld..%ld", min, max);
        say(err, errlen, why, s);
        return -1;
    }
    *out = neg ? -(long)v : (long)v;
    return 0;
}

int arg_rate(const char *s, double *out, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isdigit((unsigned char)s[0]) || !isfinite(v) || v <= 0 ||
        v > 1e6) {
        say(err, errlen, "expected records per second, a number above 0 and up to 1000000", s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int month_days(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return days[m - 1] + (m == 2 && leap);
}

/* Reads exactly n digits at *p into *v and advances *p. */
static int fixed(const char **p, int n, int *v)
{
    unsigned long long x;
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
    if (digits(*p, (size_t)n, 99999, &x))
        return -1;
    *v = (int)x;
    *p += n;
    return 0;
}

/* Time of day after the date: "HH:MM[:SS[.fff]]", milliseconds into *ms. */
static int clock_part(const char **p, int64_t *ms)
{
    int h, mi, sec = 0, frac = 0, scale = 1000;
    if (fixed(p, 2, &h) || *(*p)++ != ':' || fixed(p, 2, &mi) || h > 23 || mi > 59)
        return -1;
    if (**p == ':') {
        (*p)++;
        if (fixed(p, 2, &sec) || sec > 59)
            return -1;
        if (**p == '.') {
            (*p)++;
            if (!isdigit((unsigned char)**p))
                return -1;
            for (; isdigit((unsigned char)**p); (*p)++) {
                if (scale > 1) {
                    scale /= 10;
                    frac += (**p - '0') * scale;
                }
            }
        }
    }
    *ms = ((int64_t)h * 3600 + mi * 60 + sec) * 1000 + frac;
    return 0;
}

/* Zone suffix: "", "Z", "+HH:MM", "-HHMM"; offset east of UTC in ms. */
static int zone_part(const char *p, int64_t *off_ms)
{
    int h, m, sign;
    *off_ms = 0;
    if (*p == '\0' || ((*p == 'Z' || *p == 'z') && p[1] == '\0'))
        return 0;
    if (*p != '+' && *p != '-')
        return -1;
    sign = *p++ == '-' ? -1 : 1;
    if (fixed(&p, 2, &h))
        return -1;
    if (*p == ':')
        p++;
    if (fixed(&p, 2, &m) || *p || h > 23 || m > 59)
        return -1;
    *off_ms = sign * ((int64_t)h * 60 + m) * 60000;
    return 0;
}

static int parse_rfc3339(const char *s, int64_t *out)
{
    const char *p = s;
    int y, mo, d;
    int64_t tod = 0, off = 0;
    if (fixed(&p, 4, &y) || *p++ != '-' || fixed(&p, 2, &mo) || *p++ != '-' || fixed(&p, 2, &d) ||
        mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo))
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (clock_part(&p, &tod))
            return -1;
    }
    if (zone_part(p, &off))
        return -1;
    *out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400000 + tod - off;
    return 0;
}

static int parse_relative(const char *s, int64_t now_ms, int64_t *out)
{
    size_t len = strlen(s);
    unsigned long long n;
    int64_t unit;
    switch (len ? s[len - 1] : 0) {
    case 's':
        unit = 1000;
        break;
    case 'm':
        unit = 60000;
        break;
    case 'h':
        unit = 3600000;
        break;
    case 'd':
        unit = 86400000;
        break;
    default:
        return -1;
    }
    if (digits(s, len - 1, 100000000ULL, &n))
        return -1;
    *out = now_ms - (int64_t)n * unit;
    return 0;
}

int arg_time_ms(const char *s, int64_t now_ms, int64_t *out, char *err, size_t errlen)
{
    unsigned long long v;
    size_t len = strlen(s);
    if (len >= 10 && digits(s, len, INT64_MAX, &v) == 0) {
        *out = (int64_t)v;
        return 0;
    }
    if (parse_relative(s, now_ms, out) == 0 || parse_rfc3339(s, out) == 0)
        return 0;
    say(err, errlen,
        "expected a time: 2026-11-27T10:00:00Z (RFC 3339), 2026-11-27, epoch milliseconds, "
        "or an age such as 30s, 15m, 2h, 7d",
        s);
    return -1;
}

void arg_bad_option(const char *cmd, int ret, char **argv)
{
    const char *opt = optind > 0 ? argv[optind - 1] : "?";
    char shortopt[3] = {'-', (char)optopt, '\0'};
    if (strncmp(opt, "--", 2) != 0 && optopt)
        opt = shortopt;
    if (ret == ':')
        fprintf(stderr, "stockctl %s: option %s needs a value (see stockctl %s --help)\n", cmd, opt,
                cmd);
    else
        fprintf(stderr, "stockctl %s: unknown option %s (see stockctl %s --help)\n", cmd, opt, cmd);
}
