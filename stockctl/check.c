/* stockctl check and stockctl checksum: the invariants of DESIGN §5.1 and
 * §5.2, and a digest of the contract views that two databases with the same
 * state share. */
#include "arg.h"
#include "db.h"
#include "out.h"
#include "stockctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Options shared by both: --json and --help only. Returns EXIT_OK,
 * EXIT_USAGE, or -1 after --help. */
static int parse(const char *cmd, void (*usage)(FILE *), int *json, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
    int opt;
    opterr = 0;
    optind = 0;
    while ((opt = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
        if (opt == 'h')
            return usage(stdout), -1;
        if (opt != 'j')
            return arg_bad_option(cmd, opt, argv), EXIT_USAGE;
        *json = 1;
    }
    if (optind < argc) {
        fprintf(stderr, "stockctl %s: unexpected argument \"%s\" (see stockctl %s --help)\n", cmd,
                argv[optind], cmd);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* Runs n statements on one connection into res[0..n-1]; on a failure
 * prints it, frees what it got and returns its exit code. */
static int run_queries(const struct cfg *c, const char *cmd, const char *const *sql, int n,
                       PGresult **res)
{
    struct pg *p = NULL;
    char err[1024];
    int rc = db_open(c, cmd, &p, err, sizeof(err)), i;
    for (i = 0; rc == EXIT_OK && i < n; i++)
        if (!(res[i] = db_query(p, sql[i], 0, NULL, &rc, err, sizeof(err))))
            break;
    if (rc != EXIT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        while (i-- > 0)
            PQclear(res[i]);
    }
    pg_free(p);
    return rc;
}

/* ---- checksum ---------------------------------------------------------------- */

/* Each view rendered row by row as a JSON array (unambiguous, canonical),
 * in byte order of its key, times in UTC; updated_at (wall-clock time of the
 * change) is left out: it differs between databases with the same state. */
static const char *const checksum_sql =
    "WITH s AS (SELECT count(*) AS n, md5(coalesce(string_agg("
    "    jsonb_build_array(sku, on_hand, reserved, safety_stock, available, status)::text,"
    "    E'\\n' ORDER BY sku COLLATE \"C\"), '')) AS d FROM stock_levels),"
    " o AS (SELECT count(*) AS n, md5(coalesce(string_agg("
    "    jsonb_build_array(order_id, state, to_char(expires_at AT TIME ZONE 'UTC',"
    "                      'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))::text,"
    "    E'\\n' ORDER BY order_id COLLATE \"C\"), '')) AS d FROM order_status)"
    " SELECT s.n, s.d, o.n, o.d, md5('stock_levels:' || s.d || ',order_status:' || o.d)"
    "   FROM s, o";

static void checksum_usage(FILE *f)
{
    fprintf(f, "Usage: stockctl checksum [--json]\n"
               "A stable digest of the contract views: md5 of stock_levels (every column) and\n"
               "of order_status (order_id, state, expires_at; not updated_at, which is the wall\n"
               "clock of the change), each rendered row by row in key order, and one of both.\n"
               "Two databases holding the same state print the same digests.\n"
               "Exit codes: 0 ok, 2 bad usage, 3 PostgreSQL unreachable, 1 other failure.\n");
}

int cmd_checksum(const struct cfg *c, int argc, char **argv)
{
    int json = 0, rc = parse("checksum", checksum_usage, &json, argc, argv);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    PGresult *res;
    if ((rc = run_queries(c, "stockctl checksum", &checksum_sql, 1, &res)) != EXIT_OK)
        return rc;
    const char *v[5];
    for (int i = 0; i < 5; i++)
        v[i] = PQgetvalue(res, 0, i);
    if (json) {
        yajl_gen g = out_json_new(0);
        out_json_open(g, NULL, 0);
        out_json_open(g, "stock_levels", 0);
        out_json_int(g, "rows", atoll(v[0]));
        out_json_str(g, "md5", v[1]);
        out_json_close(g, 0);
        out_json_open(g, "order_status", 0);
        out_json_int(g, "rows", atoll(v[2]));
        out_json_str(g, "md5", v[3]);
        out_json_close(g, 0);
        out_json_str(g, "combined", v[4]);
        out_json_close(g, 0);
        out_json_line(g, stdout);
        yajl_gen_free(g);
    } else {
        printf("stock_levels  %10s rows  %s\n", v[0], v[1]);
        printf("order_status  %10s rows  %s\n", v[2], v[3]);
        printf("combined      %15s  %s\n", "", v[4]);
    }
    PQclear(res);
    return EXIT_OK;
}

/* ---- check ------------------------------------------------------------------- */

/* invariant_violations covers §5.1 (0 <= reserved <= on_hand unless
 * oversold) and §5.2 (conservation, reserved = held reservations); a
 * negative on_hand is added. The count of SKUs comes last, as its own row. */
static const char *const check_sql =
    "SELECT sku, problem FROM ("
    "  SELECT sku, problem FROM invariant_violations"
    "  UNION ALL SELECT sku, format('on_hand %s < 0', on_hand) FROM stock WHERE on_hand < 0) v"
    " ORDER BY sku COLLATE \"C\", problem";

static void check_usage(FILE *f)
{
    fprintf(f, "Usage: stockctl check [--json]\n"
               "Verifies DESIGN §5.1 (0 <= reserved <= on_hand for every SKU, except one flagged\n"
               "oversold) and §5.2 (on_hand = received + adjustments - committed; reserved = the\n"
               "sum of its held reservations) through the view invariant_violations, and that\n"
               "no on_hand is negative. Prints each offending SKU with its problem and exits 1,\n"
               "else prints \"ok: N SKUs checked\".\n"
               "Exit codes: 0 all hold, 1 a violation (or another failure), 2 bad usage,\n"
               "3 PostgreSQL unreachable.\n");
}

static void check_json(const PGresult *bad, long long skus)
{
    yajl_gen g = out_json_new(0);
    out_json_open(g, NULL, 0);
    out_json_bool(g, "ok", PQntuples(bad) == 0);
    out_json_int(g, "skus_checked", skus);
    db_json_rows(g, "violations", bad);
    out_json_close(g, 0);
    out_json_line(g, stdout);
    yajl_gen_free(g);
}

int cmd_check(const struct cfg *c, int argc, char **argv)
{
    int json = 0, rc = parse("check", check_usage, &json, argc, argv);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    const char *const sql[] = {check_sql, "SELECT count(*) FROM stock"};
    PGresult *res[2];
    if ((rc = run_queries(c, "stockctl check", sql, 2, res)) != EXIT_OK)
        return rc;
    PGresult *bad = res[0], *n = res[1];
    long long skus = atoll(PQgetvalue(n, 0, 0));
    int nbad = PQntuples(bad);
    if (json) {
        check_json(bad, skus);
    } else if (nbad > 0) {
        db_print_table(stdout, bad, 0);
        printf("FAILED: %d violation(s) of DESIGN §5.1/§5.2 among %lld SKUs\n", nbad, skus);
    } else {
        printf("ok: %lld SKUs checked\n", skus);
    }
    PQclear(bad);
    PQclear(n);
    return nbad > 0 ? EXIT_FAIL : EXIT_OK;
}
