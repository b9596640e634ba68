/* stockctl stock SKU and stockctl order ORDER_ID: the current state of one
 * SKU or order and its history from processed_events (which events, when,
 * with what outcome and detail, from which topic, partition and offset),
 * newest last. */
#include "arg.h"
#include "db.h"
#include "dlq.h"
#include "out.h"
#include "stockctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SQL reads best as written. */
/* clang-format off */
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* History columns, shared by both lookups. n numbers the events newest
 * first: a batch shares one processed_at, so offsets order within it. */
#define HISTORY_COLS                                                                               \
    TS("e.processed_at") " AS processed, " TS("e.occurred_at") " AS occurred, e.type, "            \
    "e.outcome, e.detail, e.event_id, "                                                            \
    "e.topic || ':' || e.partition || ':' || e.\"offset\" AS source, "                             \
    "row_number() OVER (ORDER BY e.processed_at DESC, e.topic DESC, e.partition DESC, "            \
    "e.\"offset\" DESC) AS n"
#define HISTORY_OUT "processed, occurred, type, outcome, detail, event_id, source"

static const char *const stock_sql[] = {
    "SELECT s.sku, s.on_hand, s.reserved, s.safety_stock, l.available, l.status,"
    "       s.received_total, s.adjusted_total, s.committed_total, s.low_stock_threshold,"
    "       s.hide_below, s.unit_cost, s.oversold, " TS("s.updated_at") " AS updated_at"
    "  FROM stock s JOIN stock_levels l USING (sku) WHERE s.sku = $1",
    /* orders holding it */
    "SELECT o.order_id, l.qty, " TS("o.expires_at") " AS expires_at"
    "  FROM order_lines l JOIN orders o USING (order_id)"
    " WHERE l.sku = $1 AND o.state = 'reserved' ORDER BY o.expires_at, o.order_id LIMIT $2",
    "SELECT count(*) FROM order_lines l JOIN orders o USING (order_id)"
    " WHERE l.sku = $1 AND o.state = 'reserved' AND $2::int >= 0",
    /* the last $2 events of the SKU and of the orders naming it */
    "SELECT " HISTORY_OUT ", order_id FROM (SELECT " HISTORY_COLS ","
    "       coalesce(e.order_id, '-') AS order_id"
    "  FROM processed_events e"
    " WHERE e.sku = $1 OR e.order_id IN (SELECT order_id FROM order_lines WHERE sku = $1)"
    " ORDER BY n LIMIT $2) h ORDER BY n DESC",
    "SELECT count(*) FROM processed_events e"
    " WHERE (e.sku = $1 OR e.order_id IN (SELECT order_id FROM order_lines WHERE sku = $1))"
    "   AND $2::int >= 0",
};

static const char *const order_sql[] = {
    "SELECT o.order_id, o.state, " TS("o.expires_at") " AS expires_at, "
    TS("o.updated_at") " AS updated_at, o.created, " TS("o.created_at") " AS created_at, "
    "o.hold_seconds, " TS("o.cancelled_at") " AS cancelled_at, " TS("o.paid_at") " AS paid_at, "
    TS("o.failed_at") " AS failed_at, o.rejected, o.expired"
    "  FROM orders o WHERE o.order_id = $1",
    "SELECT sku, qty FROM order_lines WHERE order_id = $1 AND $2::int >= 0 ORDER BY sku",
    "SELECT 0 WHERE $1::text IS NULL AND $2::int >= 0",
    "SELECT " HISTORY_OUT " FROM (SELECT " HISTORY_COLS " FROM processed_events e"
    " WHERE e.order_id = $1 ORDER BY n LIMIT $2) h ORDER BY n DESC",
    "SELECT count(*) FROM processed_events e WHERE e.order_id = $1 AND $2::int >= 0",
};
/* clang-format on */

enum { Q_STATE, Q_PARTS, Q_PARTS_N, Q_HISTORY, Q_HISTORY_N, NQ };

struct lookup {
    const char *cmd;  /* "stock" */
    const char *what; /* "SKU" */
    const char *const *sql;
    const char *parts; /* title of the Q_PARTS rows */
};

static const struct lookup stock_lookup = {"stock", "SKU", stock_sql, "held by reserved orders"};
static const struct lookup order_lookup = {"order", "order", order_sql, "lines"};

static long long count_of(const PGresult *r)
{
    return PQntuples(r) ? atoll(PQgetvalue(r, 0, 0)) : 0;
}

static void print_text(const struct lookup *k, PGresult **res)
{
    long long nparts = count_of(res[Q_PARTS_N]), nhist = count_of(res[Q_HISTORY_N]);
    if (PQntuples(res[Q_STATE]))
        db_print_row(stdout, res[Q_STATE], 0, 0);
    else
        printf("(no %s row: known only from %s)\n", k->cmd,
               PQntuples(res[Q_PARTS]) ? k->parts : "its events");
    if (k == &stock_lookup)
        printf("%s: %lld order(s)%s\n", k->parts, nparts,
               nparts > PQntuples(res[Q_PARTS]) ? ", soonest to expire first" : "");
    else
        printf("%s:\n", k->parts);
    if (PQntuples(res[Q_PARTS]))
        db_print_table(stdout, res[Q_PARTS], 2);
    printf("history (processed_events, newest last): %lld event(s)", nhist);
    if (nhist > PQntuples(res[Q_HISTORY]))
        printf(", the last %d shown (--limit 0 for all)", PQntuples(res[Q_HISTORY]));
    printf("\n");
    if (PQntuples(res[Q_HISTORY]))
        db_print_table(stdout, res[Q_HISTORY], 2);
}

static void print_json(const struct lookup *k, PGresult **res, long ndead, const char *dead)
{
    yajl_gen g = out_json_new(0);
    out_json_open(g, NULL, 0);
    out_json_open(g, "state", 0);
    if (PQntuples(res[Q_STATE]))
        db_json_row(g, res[Q_STATE], 0);
    out_json_close(g, 0);
    db_json_rows(g, k == &stock_lookup ? "held_by" : "lines", res[Q_PARTS]);
    out_json_int(g, "history_total", count_of(res[Q_HISTORY_N]));
    db_json_rows(g, "history", res[Q_HISTORY]);
    if (ndead >= 0)
        out_json_int(g, "dead_letters", ndead);
    else
        out_json_str(g, "dead_letters", NULL);
    out_json_str(g, "dead_letters_summary", dead);
    out_json_close(g, 0);
    out_json_line(g, stdout);
    yajl_gen_free(g);
}

/* Runs the lookup's queries; EXIT_NOTFOUND when nothing names the key. */
static int fetch(struct pg *p, const struct lookup *k, const char *key, long limit, PGresult **res,
                 char *err, size_t errlen)
{
    char lim[24];
    snprintf(lim, sizeof(lim), "%ld", limit > 0 ? limit : 2147483647L);
    const char *params[2] = {key, lim};
    int code = EXIT_OK;
    for (int i = 0; i < NQ; i++) {
        int n = i == Q_STATE ? 1 : 2;
        if (!(res[i] = db_query(p, k->sql[i], n, params, &code, err, errlen)))
            return code;
    }
    if (!PQntuples(res[Q_STATE]) && !PQntuples(res[Q_PARTS]) && !count_of(res[Q_HISTORY_N])) {
        snprintf(err, errlen, "%s %s not found (no %s row and no event names it)", k->what, key,
                 k->cmd);
        return EXIT_NOTFOUND;
    }
    return EXIT_OK;
}

static void usage(const struct lookup *k, FILE *f)
{
    fprintf(f,
            "Usage: stockctl %s %s [--limit N] [--json]\n"
            "The current state of one %s (%s) and its history from processed_events:\n"
            "when each event was processed and occurred, its type, outcome (applied or\n"
            "ignored) and detail, its event_id and where it came from (topic:partition:offset),\n"
            "newest last.%s Then the dead letters naming it (every *.dlq topic, by key or\n"
            "payload): \"1 dead letter names it: inventory.orders.dlq 5:1, <x-error>\" (also\n"
            "when the %s itself is not found).\n"
            "  --limit N   the last N events of the history (default 50; 0: all)\n"
            "  --json      one JSON object: state, %s, history\n"
            "Exit codes: 0 ok, 2 bad usage, 3 PostgreSQL unreachable, 4 not found.\n",
            k->cmd, k == &stock_lookup ? "SKU" : "ORDER_ID", k->what,
            k == &stock_lookup ? "stock_levels and the stock row"
                               : "order_status, orders, order_lines",
            k == &stock_lookup ? " The SKU's history includes the events of orders naming it." : "",
            k->what,
            k == &stock_lookup ? "held_by (reserved orders holding it)" : "lines");
}

static int parse(const struct lookup *k, int argc, char **argv, long *limit, int *json)
{
    static const struct option opts[] = {{"limit", required_argument, NULL, 'n'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    char err[256];
    int opt;
    opterr = 0;
    optind = 0;
    while ((opt = getopt_long(argc, argv, ":n:jh", opts, NULL)) != -1) {
        if (opt == 'h')
            return usage(k, stdout), -1;
        if (opt == 'j')
            *json = 1;
        else if (opt != 'n')
            return arg_bad_option(k->cmd, opt, argv), EXIT_USAGE;
        else if (arg_long(optarg, 0, 1000000, limit, err, sizeof(err)))
            return fprintf(stderr, "stockctl %s: --limit %s\n", k->cmd, err), EXIT_USAGE;
    }
    if (argc - optind != 1) {
        fprintf(stderr, "stockctl %s: expected one %s (see stockctl %s --help)\n", k->cmd,
                k == &stock_lookup ? "SKU" : "ORDER_ID", k->cmd);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

static int lookup_run(const struct lookup *k, const struct cfg *c, int argc, char **argv)
{
    long limit = 50;
    int json = 0, rc = parse(k, argc, argv, &limit, &json);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    struct pg *p = NULL;
    PGresult *res[NQ] = {0};
    char err[1024], app[32];
    snprintf(app, sizeof(app), "stockctl %s", k->cmd);
    rc = db_open(c, app, &p, err, sizeof(err));
    if (rc == EXIT_OK)
        rc = fetch(p, k, argv[optind], limit, res, err, sizeof(err));
    /* the events that never applied: dead letters naming the key */
    char dead[2600] = "", kerr[512];
    long ndead = rc == EXIT_OK || rc == EXIT_NOTFOUND
                     ? dlq_naming(c, k == &stock_lookup ? "sku" : "order_id", argv[optind], dead,
                                  sizeof(dead), kerr, sizeof(kerr))
                     : 0;
    if (ndead < 0)
        snprintf(dead, sizeof(dead), "dead letters: unknown (%s)", kerr);
    if (rc == EXIT_OK && json)
        print_json(k, res, ndead, dead);
    else if (rc == EXIT_OK)
        print_text(k, res);
    if (rc == EXIT_OK && !json && dead[0])
        printf("%s\n", dead);
    else if (rc == EXIT_NOTFOUND && dead[0])
        fprintf(stderr, "stockctl %s: %s; %s\n", k->cmd, err, dead);
    else if (rc != EXIT_OK)
        fprintf(stderr, "stockctl %s: %s\n", k->cmd, err);
    for (int i = 0; i < NQ; i++)
        PQclear(res[i]);
    pg_free(p);
    return rc;
}

int cmd_stock(const struct cfg *c, int argc, char **argv)
{
    return lookup_run(&stock_lookup, c, argc, argv);
}

int cmd_order(const struct cfg *c, int argc, char **argv)
{
    return lookup_run(&order_lookup, c, argc, argv);
}
