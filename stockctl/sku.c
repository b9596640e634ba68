/* stockctl sku set SKU [--safety-stock N] ...: produces one sku.configured
 * event (DESIGN §9) to inventory.stock, key the SKU, with a fresh event_id,
 * checked against the embedded schema first, and prints what it sent. The
 * stock-worker applies it like any event (idempotent, in the ledger).
 *
 * stockctl sku show SKU: the SKU's settings, stock and status, and why it
 * has that status (the §9 rule that matched). */
#include "arg.h"
#include "db.h"
#include "emit.h"
#include "out.h"
#include "stockctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SKU_TOPIC "inventory.stock"
#define SETTING_MAX 1000000000L

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: stockctl sku set SKU [--safety-stock N] [--low-stock-threshold N]\n"
            "                            [--hide-below N] [--unit-cost X] [--json]\n"
            "       stockctl sku show SKU [--json]\n"
            "SKU settings (DESIGN §9).\n"
            "set   produces one sku.configured event to inventory.stock (key: the SKU) with a\n"
            "      fresh event_id and occurred_at now, waits for the broker's acknowledgement\n"
            "      and prints the event and where it went (--json: one line {topic,\n"
            "      partition, offset, event}). The stock-worker applies it; a setting not\n"
            "      given stays as it is (defaults 0, 0, 0, no unit cost).\n"
            "        --safety-stock N         units never offered: available = on_hand -\n"
            "                                 reserved - safety_stock - earmarked\n"
            "                                 (0..1000000000)\n"
            "        --low-stock-threshold N  status low when available <= N\n"
            "        --hide-below N           status hidden when available < N\n"
            "        --unit-cost X            cost of one unit, a decimal number >= 0\n"
            "show  the settings, on_hand, reserved, earmarked (held back for promotions),\n"
            "      available and status of the SKU, and the rule that gives the status:\n"
            "      oversold, then hidden (available < hide_below), then low (available <=\n"
            "      low_stock_threshold), else ok.\n"
            "Exit codes: 0 ok, 2 bad usage, 3 PostgreSQL or Kafka unreachable (set: not\n"
            "acknowledged), 4 SKU not found (show) or no inventory.stock topic (set),\n"
            "6 database not migrated.\n");
}

/* ---- set ------------------------------------------------------------------ */

struct setting {
    const char *opt, *field;
    long value; /* -1: not given */
};

/* A decimal number >= 0 as JSON writes it: digits, optionally a point and
 * digits ("2", "2.50"). */
static int plain_decimal(const char *s)
{
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 20)
        return 0;
    if (s[n] == '\0')
        return 1;
    size_t f = s[n] == '.' ? strspn(s + n + 1, "0123456789") : 0;
    return f > 0 && f <= 20 && s[n + 1 + f] == '\0';
}

/* The event's JSON text into ev (sku is escaped by yajl). */
static int build_event(const char *sku, const struct sku_settings *s, char *ev, char *err,
                       size_t errlen)
{
    char id[64], at[40];
    if (emit_fresh_id("stockctl-sku-set", id, sizeof(id), err, errlen))
        return EXIT_FAIL;
    out_time(out_now_ms(), at, sizeof(at));
    yajl_gen g = out_json_new(0);
    if (!g)
        return snprintf(err, errlen, "out of memory"), EXIT_FAIL;
    out_json_open(g, NULL, 0);
    out_json_str(g, "event_id", id);
    out_json_str(g, "type", "sku.configured");
    out_json_str(g, "occurred_at", at);
    out_json_str(g, "sku", sku);
    if (s->safety_stock >= 0)
        out_json_int(g, "safety_stock", s->safety_stock);
    if (s->low_stock_threshold >= 0)
        out_json_int(g, "low_stock_threshold", s->low_stock_threshold);
    if (s->hide_below >= 0)
        out_json_int(g, "hide_below", s->hide_below);
    if (s->unit_cost) { /* as given: a decimal is exact, a double would not be */
        yajl_gen_string(g, (const unsigned char *)"unit_cost", 9);
        yajl_gen_number(g, s->unit_cost, strlen(s->unit_cost));
    }
    out_json_close(g, 0);
    int rc = emit_text(g, ev, err, errlen);
    yajl_gen_free(g);
    return rc;
}

int sku_configure(const struct cfg *c, const char *sku, const struct sku_settings *s, char *ev,
                  struct emit_ack *ack, char *err, size_t errlen)
{
    if (!s->unit_cost && s->safety_stock < 0 && s->low_stock_threshold < 0 && s->hide_below < 0) {
        snprintf(err, errlen, "nothing to set: give --safety-stock, --low-stock-threshold, "
                              "--hide-below or --unit-cost");
        return EXIT_USAGE;
    }
    if (s->unit_cost && !plain_decimal(s->unit_cost)) {
        snprintf(err, errlen, "--unit-cost %s: expected a decimal number >= 0 such as 2.50",
                 s->unit_cost);
        return EXIT_USAGE;
    }
    int rc = build_event(sku, s, ev, err, errlen);
    return rc ? rc : emit_send(c, SKU_TOPIC, sku, ev, ack, err, errlen);
}

static int sku_set(const struct cfg *c, int argc, char **argv)
{
    static const struct option opts[] = {{"safety-stock", required_argument, NULL, 's'},
                                         {"low-stock-threshold", required_argument, NULL, 'l'},
                                         {"hide-below", required_argument, NULL, 'b'},
                                         {"unit-cost", required_argument, NULL, 'u'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    struct setting st[] = {{"--safety-stock", "safety_stock", -1},
                           {"--low-stock-threshold", "low_stock_threshold", -1},
                           {"--hide-below", "hide_below", -1}};
    struct sku_settings set = {-1, -1, -1, NULL};
    char err[768];
    int opt, json = 0;
    opterr = 0;
    optind = 0;
    while ((opt = getopt_long(argc, argv, ":s:l:b:u:jh", opts, NULL)) != -1) {
        struct setting *s = opt == 's' ? &st[0] : opt == 'l' ? &st[1] : opt == 'b' ? &st[2] : NULL;
        if (opt == 'h')
            return usage(stdout), EXIT_OK;
        if (opt == 'j')
            json = 1;
        else if (opt == 'u')
            set.unit_cost = optarg;
        else if (!s)
            return arg_bad_option("sku set", opt, argv), EXIT_USAGE;
        else if (arg_long(optarg, 0, SETTING_MAX, &s->value, err, sizeof(err)))
            return fprintf(stderr, "stockctl sku set: %s %s\n", s->opt, err), EXIT_USAGE;
    }
    if (argc - optind != 1) {
        fprintf(stderr, "stockctl sku set: expected one SKU (see stockctl sku --help)\n");
        return EXIT_USAGE;
    }
    set.safety_stock = st[0].value;
    set.low_stock_threshold = st[1].value;
    set.hide_below = st[2].value;
    const char *sku = argv[optind];
    char ev[EMIT_EVENT_MAX];
    struct emit_ack ack;
    int rc = sku_configure(c, sku, &set, ev, &ack, err, sizeof(err));
    if (rc)
        return fprintf(stderr, "stockctl sku set: %s\n", err), rc;
    if (json) {
        printf("{\"topic\":\"%s\",\"partition\":%d,\"offset\":%lld,\"event\":%s}\n", SKU_TOPIC,
               (int)ack.partition, (long long)ack.offset, ev);
    } else {
        printf("sent to %s [%d] at offset %lld:\n%s\n", SKU_TOPIC, (int)ack.partition,
               (long long)ack.offset, ev);
    }
    return EXIT_OK;
}

/* ---- show ----------------------------------------------------------------- */

/* clang-format off */
static const char *const show_sql =
    "SELECT l.sku, l.status,"
    "       CASE l.status"
    "         WHEN 'oversold' THEN format('flagged oversold: on_hand %s, reserved %s',"
    "                                     l.on_hand, l.reserved)"
    "         WHEN 'hidden' THEN format('available %s < hide_below %s', l.available, s.hide_below)"
    "         WHEN 'low' THEN format('available %s <= low_stock_threshold %s', l.available,"
    "                                s.low_stock_threshold)"
    "         ELSE format('available %s > low_stock_threshold %s, >= hide_below %s',"
    "                     l.available, s.low_stock_threshold, s.hide_below) END AS because,"
    "       l.on_hand, l.reserved, l.safety_stock, s.earmarked, l.available,"
    "       s.low_stock_threshold,"
    "       s.hide_below, s.unit_cost,"
    "       to_char(s.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    "         AS updated_at"
    "  FROM stock_levels l JOIN stock s USING (sku) WHERE l.sku = $1";
/* clang-format on */

static int sku_show(const struct cfg *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
    int opt, json = 0;
    opterr = 0;
    optind = 0;
    while ((opt = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
        if (opt == 'h')
            return usage(stdout), EXIT_OK;
        if (opt != 'j')
            return arg_bad_option("sku show", opt, argv), EXIT_USAGE;
        json = 1;
    }
    if (argc - optind != 1) {
        fprintf(stderr, "stockctl sku show: expected one SKU (see stockctl sku --help)\n");
        return EXIT_USAGE;
    }
    struct pg *p = NULL;
    char err[1024];
    int rc = db_open(c, "stockctl sku", &p, err, sizeof(err));
    PGresult *r = NULL;
    const char *params[1] = {argv[optind]};
    if (rc == EXIT_OK)
        r = db_query(p, show_sql, 1, params, &rc, err, sizeof(err));
    if (rc == EXIT_OK && PQntuples(r) == 0) {
        snprintf(err, sizeof(err), "SKU %s not found (no stock row: never received, adjusted "
                                   "or configured)",
                 argv[optind]);
        rc = EXIT_NOTFOUND;
    } else if (rc == EXIT_OK && json) {
        yajl_gen g = out_json_new(0);
        out_json_open(g, NULL, 0);
        db_json_row(g, r, 0);
        out_json_close(g, 0);
        out_json_line(g, stdout);
        yajl_gen_free(g);
    } else if (rc == EXIT_OK) {
        db_print_row(stdout, r, 0, 0);
    }
    if (rc)
        fprintf(stderr, "stockctl sku show: %s\n", err);
    PQclear(r);
    pg_free(p);
    return rc;
}

int cmd_sku(const struct cfg *c, int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "stockctl sku: expected set or show (see stockctl sku --help)\n");
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return usage(stdout), EXIT_OK;
    if (!strcmp(argv[1], "set"))
        return sku_set(c, argc - 1, argv + 1);
    if (!strcmp(argv[1], "show"))
        return sku_show(c, argc - 1, argv + 1);
    fprintf(stderr, "stockctl sku: unknown subcommand \"%s\": expected set or show\n", argv[1]);
    return EXIT_USAGE;
}
