/* stockctl rebuild --from-ledger: restores stock and order state into an
 * empty database from inventory.ledger alone (DESIGN §5.5), then sets the
 * workers' consumer positions from the ledger's recorded causes so they
 * resume without gaps or repeats.
 *
 * Every ledger record carries its sequence number and the after-images of
 * the stock row and the order (with lines) its event changed, plus the
 * cause (event id, topic, partition, offset). The records are copied into a
 * temporary table; per row the image with the highest sequence wins. */
#include "db.h"
#include "kread.h"
#include "roles.h"
#include "group.h"
#include "log.h"
#include "route.h"
#include "stockctl.h"
#include "stop.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LEDGER "inventory.ledger"
#define AVAILABILITY "inventory.availability"

static const char *const restore_sql =
    "INSERT INTO stock SELECT (jsonb_populate_record(NULL::stock, payload->'stock')).* FROM ("
    " SELECT DISTINCT ON (key) payload FROM ledger_in"
    " WHERE jsonb_typeof(payload->'stock') = 'object' ORDER BY key, seq DESC) s;"
    "CREATE TEMP TABLE order_img AS SELECT DISTINCT ON (payload->'order'->>'order_id')"
    " payload->'order' AS img FROM ledger_in WHERE jsonb_typeof(payload->'order') = 'object'"
    " ORDER BY payload->'order'->>'order_id', seq DESC;"
    "INSERT INTO orders SELECT (jsonb_populate_record(NULL::orders, img)).* FROM order_img;"
    "INSERT INTO order_lines (order_id, sku, qty) SELECT img->>'order_id', l->>'sku',"
    " (l->>'qty')::bigint FROM order_img, jsonb_array_elements(img->'lines') l;"
    /* promotions (023): the latest image; sold is what their orders took */
    "INSERT INTO promotion SELECT (jsonb_populate_record(NULL::promotion, img)).* FROM ("
    " SELECT DISTINCT ON (payload->'promotion'->>'promo_id') payload->'promotion' AS img"
    " FROM ledger_in WHERE jsonb_typeof(payload->'promotion') = 'object'"
    " ORDER BY payload->'promotion'->>'promo_id', seq DESC) p;"
    "UPDATE promotion p SET sold = coalesce((SELECT sum(o.promo_units) FROM orders o"
    " WHERE o.promo_id = p.promo_id AND o.promo_units > 0), 0);"
    "INSERT INTO processed_events (event_id, type, order_id, sku, topic, partition, \"offset\","
    " occurred_at, outcome, detail)"
    " SELECT DISTINCT ON (c->>'event_id') c->>'event_id', c->>'type', payload->'order'->>'order_id',"
    " coalesce(payload->'stock'->>'sku', payload->'promotion'->>'sku'), c->>'topic',"
    " (c->>'partition')::int, (c->>'offset')::bigint,"
    " (c->>'occurred_at')::timestamptz, split_part(c->>'outcome', ':', 1),"
    " substr(c->>'outcome', strpos(c->>'outcome', ':') + 1)"
    " FROM ledger_in, LATERAL (SELECT payload->'cause' AS c) x WHERE c ? 'topic'"
    " ORDER BY c->>'event_id', seq;"
    "SELECT setval('outbox_id_seq', greatest((SELECT max(seq) FROM ledger_in), 1));"
    /* the relay starts after the ledger's records: they are on Kafka already */
    "UPDATE outbox_relay SET last_id = greatest(last_id, (SELECT last_value FROM outbox_id_seq));"
    /* the receipts' batches and their FIFO moves, replayed from the records (024);
     * the rows the restored stock rows made (no event: unnamed batches) go first */
    "DELETE FROM stock_batches; DELETE FROM stock_adjustments;"
    "SELECT sf_batches_from_ledger();";

static const char *const positions_sql =
    "SELECT c->>'topic', (c->>'partition')::int, max((c->>'offset')::bigint) + 1"
    " FROM ledger_in, LATERAL (SELECT payload->'cause' AS c) x WHERE c ? 'topic'"
    " GROUP BY 1, 2 ORDER BY 1, 2";

static int empty_database(struct pg *p, char *err, size_t errlen)
{
    int code;
    PGresult *r = db_query(p,
                           "SELECT (SELECT count(*) FROM stock) + (SELECT count(*) FROM orders)"
                           " + (SELECT count(*) FROM processed_events)"
                           " + (SELECT count(*) FROM promotion)",
                           0, NULL, &code, err, errlen);
    if (!r)
        return code;
    long long n = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (n > 0) {
        snprintf(err, errlen, "the database is not empty (%lld rows in stock, orders and "
                              "processed_events): rebuild restores into an empty, migrated one",
                 n);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* Writes s into buf escaped for COPY text format; returns the length. */
static size_t copy_escape(char *buf, const char *s, size_t len)
{
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '\\' || ch == '\n' || ch == '\r' || ch == '\t') {
            buf[k++] = '\\';
            ch = ch == '\n' ? 'n' : ch == '\r' ? 'r' : ch == '\t' ? 't' : '\\';
        }
        buf[k++] = ch;
    }
    return k;
}

static int copy_record(PGconn *c, const rd_kafka_message_t *m, char **buf, size_t *cap)
{
    size_t need = m->len * 2 + 2;
    if (need > *cap) {
        char *nb = realloc(*buf, need);
        if (!nb)
            return -1;
        *buf = nb;
        *cap = need;
    }
    size_t k = copy_escape(*buf, m->payload, m->len);
    (*buf)[k++] = '\n';
    return PQputCopyData(c, *buf, (int)k) == 1 ? 0 : -1;
}

/* Reads every record of topic, from its low watermark to its high one, and
 * hands each to each(ctx, m) (non-zero: stop with EXIT_FAIL). With whole,
 * a partition whose low watermark is above 0 is refused (records were
 * deleted). *n gets the count. */
static int scan_topic(const struct cfg *c, const char *topic, int whole,
                      int (*each)(void *ctx, const rd_kafka_message_t *m), void *ctx,
                      long long *n, char *err, size_t errlen)
{
    const struct kafka_prop props[] = {{"enable.partition.eof", "true"},
                                       {"enable.auto.commit", "false"},
                                       {"group.id", KREAD_GROUP}};
    rd_kafka_t *rk = kread_client(c, RD_KAFKA_CONSUMER, props, 3, err, errlen);
    rd_kafka_topic_partition_list_t *parts = NULL;
    struct kread_scan *scan = NULL;
    int64_t *lo = NULL, *hi = NULL;
    int rc = rk ? kread_partitions(rk, topic, &parts, err, errlen) : EXIT_USAGE;
    if (rc)
        goto out;
    lo = calloc((size_t)parts->cnt, sizeof(*lo));
    hi = calloc((size_t)parts->cnt, sizeof(*hi));
    rc = lo && hi ? kread_watermarks(rk, parts, lo, hi, err, errlen) : EXIT_FAIL;
    for (int i = 0; whole && rc == EXIT_OK && i < parts->cnt; i++) {
        if (lo[i] > 0) {
            snprintf(err, errlen, "%s[%d] starts at offset %lld: records were deleted "
                     "(retention), so the ledger cannot rebuild the database",
                     topic, (int)parts->elems[i].partition, (long long)lo[i]);
            rc = EXIT_FAIL;
        }
    }
    for (int i = 0; rc == EXIT_OK && i < parts->cnt; i++)
        parts->elems[i].offset = lo[i];
    if (rc || (rc = kread_scan_start(&scan, rk, parts, hi, err, errlen)))
        goto out;
    rd_kafka_message_t *m;
    int got;
    time_t last = time(NULL);
    while (rc == EXIT_OK && (got = kread_scan_next(scan, &m, err, errlen)) == 1) {
        if (each(ctx, m)) {
            snprintf(err, errlen, "could not keep a record of %s", topic);
            rc = EXIT_FAIL;
        }
        rd_kafka_message_destroy(m);
        if (++*n % 10000 == 0 && time(NULL) != last) {
            last = time(NULL);
            fprintf(stderr, "rebuild: %lld %s records read, about %lld to go\n", *n, topic,
                    (long long)kread_scan_left(scan));
        }
        if (stop_requested())
            rc = EXIT_FAIL;
    }
    if (rc == EXIT_OK && got < 0)
        rc = EXIT_UNREACHABLE;
out:
    free(lo);
    free(hi);
    kread_scan_free(scan);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (rk)
        rd_kafka_destroy(rk);
    return rc;
}

struct copy_ctx {
    PGconn *conn;
    char *buf;
    size_t cap;
};

static int copy_each(void *ctx, const rd_kafka_message_t *m)
{
    struct copy_ctx *x = ctx;
    return m->len ? copy_record(x->conn, m, &x->buf, &x->cap) : 0;
}

/* Reads the whole ledger into ledger_in(payload). *n gets the count. */
static int load_ledger(const struct cfg *c, struct pg *p, long long *n, char *err, size_t errlen)
{
    struct copy_ctx x = {pg_conn(p), NULL, 0};
    PGresult *r = PQexec(x.conn, "COPY ledger_in (payload) FROM STDIN");
    int copying = PQresultStatus(r) == PGRES_COPY_IN;
    PQclear(r);
    if (!copying) {
        pg_errline(x.conn, NULL, err, errlen);
        return EXIT_FAIL;
    }
    int rc = scan_topic(c, LEDGER, 1, copy_each, &x, n, err, errlen);
    if (PQputCopyEnd(x.conn, rc == EXIT_OK ? NULL : "aborted") == 1) {
        r = PQgetResult(x.conn);
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == EXIT_OK) {
            pg_errline(x.conn, r, err, errlen);
            rc = EXIT_FAIL;
        }
        PQclear(r);
    }
    free(x.buf);
    return rc;
}

/* The version of one inventory.availability record (the first "version":
 * N of its value), or -1. The feed writes them as jsonb text; a record
 * that is not one of its own (a redrive sent there by hand) gives -1 or a
 * number that only moves the versions further on, which is harmless. */
static long long rebuild_feed_version(const char *v, size_t len)
{
    static const char key[] = "\"version\"";
    const size_t klen = sizeof(key) - 1;
    for (size_t i = 0; i + klen <= len; i++) {
        if (memcmp(v + i, key, klen))
            continue;
        size_t k = i + klen;
        while (k < len && (v[k] == ' ' || v[k] == '\t' || v[k] == '\n' || v[k] == '\r'))
            k++;
        if (k == len || v[k++] != ':')
            continue;
        while (k < len && (v[k] == ' ' || v[k] == '\t' || v[k] == '\n' || v[k] == '\r'))
            k++;
        long long x = 0;
        size_t d = k;
        while (d < len && d - k < 18 && v[d] >= '0' && v[d] <= '9')
            x = x * 10 + (v[d++] - '0');
        if (d > k)
            return x;
    }
    return -1;
}

static int version_each(void *ctx, const rd_kafka_message_t *m)
{
    long long *top = ctx, v = rebuild_feed_version(m->payload, m->len);
    if (v > *top)
        *top = v;
    return 0;
}

/* Moves the feed's version sequence past the highest version a storefront
 * may have seen on inventory.availability (the sequence of a fresh
 * database starts at 1: versions must never go back, DESIGN §9). Before
 * the restore commits: its restored rows publish the rebuilt state, at
 * commit, with versions above those. A missing topic has no versions. */
static int seed_feed_version(const struct cfg *c, struct pg *p, char *err, size_t errlen)
{
    long long top = 0, n = 0;
    int rc = scan_topic(c, AVAILABILITY, 0, version_each, &top, &n, err, errlen);
    if (rc == EXIT_NOTFOUND)
        return EXIT_OK;
    if (rc)
        return rc;
    printf("read %lld %s records, highest version %lld\n", n, AVAILABILITY, top);
    if (top <= 0)
        return EXIT_OK;
    char sql[160];
    snprintf(sql, sizeof(sql),
             "SELECT setval('availability_version', greatest(%lld, last_value)) FROM "
             "availability_version",
             top);
    return pg_exec(p, sql, err, errlen) == PG_OK ? EXIT_OK : EXIT_FAIL;
}

/* The role whose group reads topic (a source or one of its retry topics). */
static const struct role *role_of(const char *topic)
{
    char src[256];
    size_t n;
    const struct role *all = roles_all(&n);
    route_source_topic(topic, src, sizeof(src));
    for (size_t i = 0; i < n; i++)
        for (int t = 0; all[i].topics[t]; t++)
            if (!strcmp(all[i].topics[t], src) && strcmp(all[i].name, "timeout"))
                return &all[i];
    return NULL;
}

/* Commits, per role group, the offset after the last applied event of each
 * partition the ledger names. */
static int set_positions(const struct cfg *c, struct pg *p, char *err, size_t errlen)
{
    int code;
    PGresult *r = db_query(p, positions_sql, 0, NULL, &code, err, errlen);
    if (!r)
        return code;
    size_t nroles;
    const struct role *all = roles_all(&nroles);
    int rc = EXIT_OK;
    for (size_t g = 0; g < nroles && rc == EXIT_OK; g++) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
        for (int i = 0; i < PQntuples(r); i++) {
            if (role_of(PQgetvalue(r, i, 0)) != &all[g])
                continue;
            rd_kafka_topic_partition_list_add(l, PQgetvalue(r, i, 0), atoi(PQgetvalue(r, i, 1)))
                ->offset = atoll(PQgetvalue(r, i, 2));
            printf("  %-20s %-28s %4s -> %s\n", all[g].group, PQgetvalue(r, i, 0),
                   PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
        }
        if (l->cnt)
            rc = group_commit(c, all[g].group, l, err, errlen);
        rd_kafka_topic_partition_list_destroy(l);
    }
    PQclear(r);
    return rc;
}

static int restore(struct pg *p, char *err, size_t errlen)
{
    if (pg_exec(p, restore_sql, err, errlen) != PG_OK)
        return EXIT_FAIL;
    int code;
    PGresult *r = db_query(p,
                           "SELECT (SELECT count(*) FROM stock), (SELECT count(*) FROM orders),"
                           " (SELECT count(*) FROM processed_events)",
                           0, NULL, &code, err, errlen);
    if (!r)
        return code;
    printf("restored %s SKUs, %s orders, %s applied event ids\n", PQgetvalue(r, 0, 0),
           PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
    PQclear(r);
    return EXIT_OK;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: stockctl rebuild --from-ledger [--no-positions]\n"
               "Restores stock, order and promotion state into an empty, migrated database\n"
               "from inventory.ledger alone (per row, the after-image with the highest sequence\n"
               "number wins), then commits each worker group's position after the last\n"
               "event the ledger recorded per partition, so the workers resume without\n"
               "gaps or repeats. Stop the workers first. --no-positions skips that step.\n"
               "The feed's versions go on above the highest on inventory.availability;\n"
               "every restored SKU is published there again with the rebuilt state.\n"
               "It refuses a ledger whose oldest records were deleted (a low watermark\n"
               "above 0): give inventory.ledger unlimited retention.\n"
               "Exit codes: 0 ok, 1 failure (database not empty, a live group), 2 usage,\n"
               "3 PostgreSQL or Kafka unreachable, 4 no ledger topic.\n");
}

static int rebuild(const struct cfg *c, int positions)
{
    struct pg *p = NULL;
    char err[1024];
    long long n = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = db_open(c, "stockctl rebuild", &p, err, sizeof(err));
    if (rc == EXIT_OK && (rc = empty_database(p, err, sizeof(err))) == EXIT_OK &&
        pg_exec(p, "BEGIN; CREATE TEMP TABLE ledger_in (payload jsonb NOT NULL,"
                   " seq bigint GENERATED ALWAYS AS ((payload->>'seq')::bigint) STORED,"
                   " key text GENERATED ALWAYS AS (payload->>'key') STORED)",
                err, sizeof(err)) != PG_OK)
        rc = EXIT_FAIL;
    if (rc == EXIT_OK)
        rc = load_ledger(c, p, &n, err, sizeof(err));
    if (rc == EXIT_OK)
        printf("read %lld ledger records\n", n);
    if (rc == EXIT_OK)
        rc = seed_feed_version(c, p, err, sizeof(err));
    if (rc == EXIT_OK)
        rc = restore(p, err, sizeof(err));
    /* state first: positions without it would skip events; state without
     * positions only re-reads events the restored event ids make no-ops */
    if (rc == EXIT_OK && pg_exec(p, "COMMIT", err, sizeof(err)) != PG_OK)
        rc = EXIT_FAIL;
    if (rc == EXIT_OK && positions)
        rc = set_positions(c, p, err, sizeof(err));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc == EXIT_OK)
        printf("rebuilt in %.1f s\n", (double)(t1.tv_sec - t0.tv_sec) +
                                          (t1.tv_nsec - t0.tv_nsec) / 1e9);
    else
        fprintf(stderr, "stockctl rebuild: %s\n", err);
    pg_free(p);
    return rc;
}

int cmd_rebuild(const struct cfg *c, int argc, char **argv)
{
    static const struct option opts[] = {{"from-ledger", no_argument, NULL, 'l'},
                                         {"no-positions", no_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    int from_ledger = 0, positions = 1, o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (o == 'l')
            from_ledger = 1;
        else if (o == 'n')
            positions = 0;
        else
            return usage(o == 'h' ? stdout : stderr), o == 'h' ? EXIT_OK : EXIT_USAGE;
    }
    if (!from_ledger || optind < argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    stop_catch();
    return rebuild(c, positions);
}
