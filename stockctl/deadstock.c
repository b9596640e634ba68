/* stockctl deadstock: the deadstock radar (DESIGN §9). One row per
 * deadstock SKU as of a time, with every reason that applies, the
 * suggested action and the value at risk, by value at risk. The rules live
 * in SQL (sf_deadstock, schemas/sql/024_deadstock.sql), shared with the
 * timeout-worker's daily run; --alert raises the alerts as that run does
 * (sf_deadstock_alert: at most one per SKU and day). */
#include "arg.h"
#include "db.h"
#include "out.h"
#include "stockctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

struct ds_opts {
    int64_t as_of_ms;
    long age_days, min_age_days, expiry_days;
    char sell_through[32];
    int json, alert;
};

/* The radar's columns, in the order both outputs use. */
static const char *const query =
    "SELECT sku, array_to_string(reasons, ',') AS reasons, action, unsold,"
    " round(value_at_risk, 2) AS value_at_risk, age_days, sell_through,"
    " to_char(oldest_received AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    " AS oldest_received, best_before"
    " FROM sf_deadstock(to_timestamp($1::bigint / 1000.0), $2::integer, $3::numeric,"
    " $4::integer, $5::integer)";
static const char *const alert_sql =
    "SELECT sf_deadstock_alert(to_timestamp($1::bigint / 1000.0), $2::integer, $3::numeric,"
    " $4::integer, $5::integer)";

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: stockctl deadstock [--as-of T] [--age-days N] [--sell-through PCT]\n"
            "                          [--min-age-days N] [--expiry-days N] [--json] [--alert]\n"
            "The deadstock radar (DESIGN §9): one row per SKU that has unsold units\n"
            "(on_hand - reserved) and is aged, slow or expiring as of T, by value at risk:\n"
            "  aged      its oldest unsold batch was received more than --age-days before T\n"
            "  slow      sell-through over the 30 days before T (units committed in the window /\n"
            "            (on hand at its start + received in it)) below --sell-through %%, and\n"
            "            its oldest unsold batch at least --min-age-days old\n"
            "  expiring  an unsold batch's best_before within --expiry-days of T (or past)\n"
            "ACTION: donate (best before within 3 days), discount (expiring, or aged with\n"
            "sales in the window), bundle (slow, not expiring). VALUE_AT_RISK: unsold units x\n"
            "the unit_cost of their batch (the SKU's unit_cost when it was received).\n"
            "Ages and windows use event time (occurred_at), so a replayed history gives the\n"
            "same answer; on_hand, reserved and the batches are the current ones. Nothing\n"
            "dead: the header only, exit 0.\n"
            "  --as-of T          2026-11-27T10:00:00Z, 2026-11-27, epoch ms, or 7d (ago);\n"
            "                     default now\n"
            "  --age-days N       default 30      --sell-through PCT  default 5\n"
            "  --min-age-days N   default 7       --expiry-days N     default 14\n"
            "  --json             one JSON object per SKU and line: sku, reasons (array),\n"
            "                     action, unsold, value_at_risk, age_days, sell_through,\n"
            "                     oldest_received, best_before\n"
            "  --alert            also raise one `deadstock` alert per SKU listed, at most one\n"
            "                     per SKU and (UTC) day of T however often it runs (alert_id\n"
            "                     deadstock:SKU:DAY), as the timeout-worker's daily run does\n"
            "Exit codes: 0 ok, 2 bad usage, 3 PostgreSQL unreachable, 6 not migrated.\n");
}

static void json_raw_number(yajl_gen g, const char *key, const char *v)
{
    yajl_gen_string(g, (const unsigned char *)key, strlen(key));
    if (v)
        yajl_gen_number(g, v, strlen(v));
    else
        yajl_gen_null(g);
}

static void print_json(const PGresult *r)
{
    yajl_gen g = out_json_new(0);
    if (!g)
        return;
    for (int i = 0; i < PQntuples(r); i++) {
        out_json_open(g, NULL, 0);
        out_json_str(g, "sku", db_val(r, i, 0));
        out_json_open(g, "reasons", 1);
        char reasons[64];
        snprintf(reasons, sizeof(reasons), "%s", db_val(r, i, 1) ? db_val(r, i, 1) : "");
        for (char *save = NULL, *t = strtok_r(reasons, ",", &save); t;
             t = strtok_r(NULL, ",", &save))
            out_json_str(g, NULL, t);
        out_json_close(g, 1);
        out_json_str(g, "action", db_val(r, i, 2));
        json_raw_number(g, "unsold", db_val(r, i, 3));
        json_raw_number(g, "value_at_risk", db_val(r, i, 4));
        json_raw_number(g, "age_days", db_val(r, i, 5));
        json_raw_number(g, "sell_through", db_val(r, i, 6));
        out_json_str(g, "oldest_received", db_val(r, i, 7));
        out_json_str(g, "best_before", db_val(r, i, 8));
        out_json_close(g, 0);
        out_json_line(g, stdout);
    }
    yajl_gen_free(g);
}

static int deadstock_run(const struct cfg *c, const struct ds_opts *o)
{
    struct pg *p = NULL;
    char err[1024], as_of[24], age[24], min_age[24], expiry[24];
    int code = EXIT_OK;
    PGresult *r = NULL, *a = NULL;
    snprintf(as_of, sizeof(as_of), "%lld", (long long)o->as_of_ms);
    snprintf(age, sizeof(age), "%ld", o->age_days);
    snprintf(min_age, sizeof(min_age), "%ld", o->min_age_days);
    snprintf(expiry, sizeof(expiry), "%ld", o->expiry_days);
    const char *params[] = {as_of, age, o->sell_through, min_age, expiry};
    int rc = db_open(c, "stockctl deadstock", &p, err, sizeof(err));
    if (rc == EXIT_OK && !(r = db_query(p, query, 5, params, &code, err, sizeof(err))))
        rc = code;
    if (rc == EXIT_OK && o->alert && !(a = db_query(p, alert_sql, 5, params, &code, err,
                                                    sizeof(err))))
        rc = code;
    if (rc == EXIT_OK) {
        if (o->json)
            print_json(r);
        else
            db_print_table(stdout, r, 0);
        if (!o->json || o->alert)
            fprintf(stderr, "%d deadstock SKUs%s%s%s\n", PQntuples(r),
                    a ? "; deadstock alerts raised: " : "", a ? PQgetvalue(a, 0, 0) : "",
                    a ? " (at most one per SKU and day)" : "");
    } else {
        fprintf(stderr, "stockctl deadstock: %s\n", err);
    }
    PQclear(r);
    PQclear(a);
    pg_free(p);
    return rc;
}

/* A percentage 0..100: plain decimal digits, optionally a point and digits. */
static int percent(const char *s, char *out, size_t len)
{
    size_t n = strspn(s, "0123456789"), f = 0;
    if (n == 0 || n > 3)
        return -1;
    if (s[n] == '.' && (f = strspn(s + n + 1, "0123456789")) == 0)
        return -1;
    if (s[n + (s[n] == '.' ? 1 + f : 0)] != '\0' || f > 6 || strtod(s, NULL) > 100 ||
        strlen(s) >= len)
        return -1;
    snprintf(out, len, "%s", s);
    return 0;
}

int cmd_deadstock(const struct cfg *c, int argc, char **argv)
{
    static const struct option opts[] = {{"as-of", required_argument, NULL, 't'},
                                         {"age-days", required_argument, NULL, 'a'},
                                         {"sell-through", required_argument, NULL, 's'},
                                         {"min-age-days", required_argument, NULL, 'm'},
                                         {"expiry-days", required_argument, NULL, 'e'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"alert", no_argument, NULL, 'A'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    struct ds_opts o = {.as_of_ms = out_now_ms(), .age_days = 30, .min_age_days = 7,
                        .expiry_days = 14, .sell_through = "5"};
    char err[256];
    int opt;
    opterr = 0;
    optind = 0;
    while ((opt = getopt_long(argc, argv, ":t:a:s:m:e:jAh", opts, NULL)) != -1) {
        const char *bad = NULL;
        if (opt == 't' && arg_time_ms(optarg, out_now_ms(), &o.as_of_ms, err, sizeof(err)))
            bad = "--as-of";
        else if (opt == 'a' && arg_long(optarg, 0, 36500, &o.age_days, err, sizeof(err)))
            bad = "--age-days";
        else if (opt == 'm' && arg_long(optarg, 0, 36500, &o.min_age_days, err, sizeof(err)))
            bad = "--min-age-days";
        else if (opt == 'e' && arg_long(optarg, 0, 36500, &o.expiry_days, err, sizeof(err)))
            bad = "--expiry-days";
        else if (opt == 's' && percent(optarg, o.sell_through, sizeof(o.sell_through))) {
            snprintf(err, sizeof(err), "expects a percentage 0..100, not \"%s\"", optarg);
            bad = "--sell-through";
        }
        if (bad)
            return fprintf(stderr, "stockctl deadstock: %s %s\n", bad, err), EXIT_USAGE;
        if (opt == 'j')
            o.json = 1;
        else if (opt == 'A')
            o.alert = 1;
        else if (opt == 'h')
            return usage(stdout), EXIT_OK;
        else if (!strchr("tasme", opt))
            return arg_bad_option("deadstock", opt, argv), EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr,
                "stockctl deadstock: unexpected argument \"%s\" (see stockctl deadstock --help)\n",
                argv[optind]);
        return EXIT_USAGE;
    }
    return deadstock_run(c, &o);
}
