/* stockctl sku set SKU [--safety-stock N] ...: produces one sku.configured
 * event (DESIGN §9) to inventory.stock, key the SKU, with a fresh event_id,
 * checked against the embedded schema first, and prints what it sent. The
 * stock-worker applies it like any event (idempotent, in the ledger).
 *
 * stockctl sku show SKU: the SKU's settings, stock and status, and why it
 * has that status (the §9 rule that matched). */
#include "arg.h"
#include "db.h"
#include "evt.h"
#include "kread.h"
#include "out.h"
#include "stockctl.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* 16 random bytes as 32 hex digits (the event_id's unique part). */
static int random_hex(char *out)
{
    unsigned char b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, b, sizeof(b)) : -1;
    if (fd >= 0)
        close(fd);
    if (n != (ssize_t)sizeof(b))
        return -1;
    for (size_t i = 0; i < sizeof(b); i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    return 0;
}

/* The event's JSON text into buf (sku is escaped by yajl). */
static int build_event(const char *sku, const struct setting *st, size_t nst, const char *cost,
                       char *buf, size_t len, char *err, size_t errlen)
{
    char hex[33], id[64], at[40];
    if (random_hex(hex)) {
        snprintf(err, errlen, "cannot read /dev/urandom for a fresh event_id");
        return EXIT_FAIL;
    }
    snprintf(id, sizeof(id), "stockctl-sku-set-%s", hex);
    out_time(out_now_ms(), at, sizeof(at));
    yajl_gen g = out_json_new(0);
    if (!g)
        return snprintf(err, errlen, "out of memory"), EXIT_FAIL;
    out_json_open(g, NULL, 0);
    out_json_str(g, "event_id", id);
    out_json_str(g, "type", "sku.configured");
    out_json_str(g, "occurred_at", at);
    out_json_str(g, "sku", sku);
    for (size_t i = 0; i < nst; i++)
        if (st[i].value >= 0)
            out_json_int(g, st[i].field, st[i].value);
    if (cost) { /* as given: a decimal is exact, a double would not be */
        yajl_gen_string(g, (const unsigned char *)"unit_cost", 9);
        yajl_gen_number(g, cost, strlen(cost));
    }
    out_json_close(g, 0);
    const unsigned char *text;
    size_t tlen;
    int rc = EXIT_OK;
    if (yajl_gen_get_buf(g, &text, &tlen) != yajl_gen_status_ok || tlen >= len) {
        snprintf(err, errlen, "the event does not fit in %zu bytes", len);
        rc = EXIT_FAIL;
    } else {
        memcpy(buf, text, tlen);
        buf[tlen] = '\0';
    }
    yajl_gen_free(g);
    return rc;
}

struct delivery {
    int done;
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct delivery *d = m->_private;
    (void)rk;
    (void)opaque;
    if (d) {
        d->err = m->err;
        d->partition = m->partition;
        d->offset = m->offset;
        d->done = 1;
    }
}

static rd_kafka_t *open_producer(const struct cfg *c, char *err, size_t errlen)
{
    const struct kafka_prop props[] = {{"client.id", "stockctl-sku"},
                                       {"enable.idempotence", "true"},
                                       {"acks", "all"},
                                       {"linger.ms", "0"},
                                       {"message.timeout.ms", "30000"}};
    rd_kafka_conf_t *conf =
        kafka_conf_new_for(RD_KAFKA_PRODUCER, c->kafka_brokers, props,
                           sizeof(props) / sizeof(*props), c->rdkafka, err, errlen);
    if (!conf)
        return NULL;
    kread_quiet(conf);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka producer: %s", why);
    }
    return rk;
}

/* Produces the event and waits for its acknowledgement. */
static int send_event(const struct cfg *c, const char *sku, const char *ev, struct delivery *d,
                      char *err, size_t errlen)
{
    rd_kafka_t *rk = open_producer(c, err, errlen);
    if (!rk)
        return EXIT_USAGE;
    const struct rd_kafka_metadata *md = NULL;
    int rc = kread_metadata(rk, &md, err, errlen);
    if (rc == EXIT_OK && !kread_topic(md, SKU_TOPIC)) {
        snprintf(err, errlen, "topic %s not found (stockctl topics apply creates it)", SKU_TOPIC);
        rc = EXIT_NOTFOUND;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (rc == EXIT_OK)
        e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(SKU_TOPIC),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_KEY(sku, strlen(sku)),
                              RD_KAFKA_V_VALUE((void *)ev, strlen(ev)), RD_KAFKA_V_OPAQUE(d),
                              RD_KAFKA_V_END);
    if (rc == EXIT_OK && e) {
        snprintf(err, errlen, "produce to %s: %s", SKU_TOPIC, rd_kafka_err2str(e));
        rc = EXIT_FAIL;
    }
    while (rc == EXIT_OK && !d->done) /* message.timeout.ms bounds the wait */
        rd_kafka_poll(rk, 50);
    if (rc == EXIT_OK && d->err) {
        snprintf(err, errlen, "not acknowledged by %s: %s", SKU_TOPIC, rd_kafka_err2str(d->err));
        rc = EXIT_UNREACHABLE;
    }
    rd_kafka_destroy(rk);
    return rc;
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
    const char *cost = NULL;
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
        else if (opt == 'u' && plain_decimal(optarg))
            cost = optarg;
        else if (opt == 'u')
            return fprintf(stderr, "stockctl sku set: --unit-cost %s: expected a decimal number "
                                   ">= 0 such as 2.50\n",
                           optarg),
                   EXIT_USAGE;
        else if (!s)
            return arg_bad_option("sku set", opt, argv), EXIT_USAGE;
        else if (arg_long(optarg, 0, SETTING_MAX, &s->value, err, sizeof(err)))
            return fprintf(stderr, "stockctl sku set: %s %s\n", s->opt, err), EXIT_USAGE;
    }
    if (argc - optind != 1) {
        fprintf(stderr, "stockctl sku set: expected one SKU (see stockctl sku --help)\n");
        return EXIT_USAGE;
    }
    if (!cost && st[0].value < 0 && st[1].value < 0 && st[2].value < 0) {
        fprintf(stderr, "stockctl sku set: nothing to set: give --safety-stock, "
                        "--low-stock-threshold, --hide-below or --unit-cost\n");
        return EXIT_USAGE;
    }
    const char *sku = argv[optind];
    char ev[1024];
    int rc = build_event(sku, st, 3, cost, ev, sizeof(ev), err, sizeof(err));
    if (rc)
        return fprintf(stderr, "stockctl sku set: %s\n", err), rc;
    /* the schema the stock-worker applies decides, here too: a bad SKU or
     * value is refused before anything is sent */
    struct evt_validator *v = NULL;
    struct evt e;
    if (evt_validator_new(&v, err, sizeof(err)))
        return fprintf(stderr, "stockctl sku set: %s\n", err), EXIT_FAIL;
    rc = evt_parse(v, ev, strlen(ev), &e, err, sizeof(err)) ? EXIT_USAGE : EXIT_OK;
    evt_release(&e);
    evt_validator_free(v);
    if (rc)
        return fprintf(stderr, "stockctl sku set: refused: %s\n", err), rc;
    struct delivery d = {0};
    if ((rc = send_event(c, sku, ev, &d, err, sizeof(err))))
        return fprintf(stderr, "stockctl sku set: %s\n", err), rc;
    if (json) {
        printf("{\"topic\":\"%s\",\"partition\":%d,\"offset\":%lld,\"event\":%s}\n", SKU_TOPIC,
               (int)d.partition, (long long)d.offset, ev);
    } else {
        printf("sent to %s [%d] at offset %lld:\n%s\n", SKU_TOPIC, (int)d.partition,
               (long long)d.offset, ev);
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
