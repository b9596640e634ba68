/* stockctl alerts: what went to inventory.alerts (outbox alerts, outage
 * alerts), newest last. Reads the topic from its beginning to its end as of
 * now without joining any group, like dlq list. */
#include "arg.h"
#include "dlq.h"
#include "kread.h"
#include "out.h"
#include "stockctl.h"
#include "stop.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#define ALERTS_TOPIC "inventory.alerts"

struct alerts_opts {
    int64_t since_ms;
    long limit;
    int json;
};

/* One alert kept for printing: the record's time and a copy of it. */
struct alert_row {
    int64_t ts_ms;
    int32_t partition;
    int64_t offset;
    char *key, *payload;
    size_t payload_len;
};

static const struct out_col cols[] = {
    {"TIME", 20}, {"KIND", 18}, {"SEVERITY", 8}, {"ALERT_ID", 30}, {"SUMMARY", 0}};

static const char *field(yajl_val root, const char *name)
{
    const char *path[] = {name, NULL};
    yajl_val v = root ? yajl_tree_get(root, path, yajl_t_string) : NULL;
    return v ? YAJL_GET_STRING(v) : NULL;
}

static void print_row(const struct alert_row *a, int json)
{
    char ts[40], *text = malloc(a->payload_len + 1), summary[OUT_PREVIEW_SIZE(120)];
    if (!text)
        return;
    memcpy(text, a->payload ? a->payload : "", a->payload_len);
    text[a->payload_len] = '\0';
    yajl_val root = yajl_tree_parse(text, NULL, 0);
    out_time(a->ts_ms, ts, sizeof(ts));
    if (json) {
        yajl_gen g = out_json_new(0);
        out_json_open(g, NULL, 0);
        out_json_int(g, "partition", a->partition);
        out_json_int(g, "offset", a->offset);
        out_json_str(g, "timestamp", ts);
        out_json_str(g, "key", a->key);
        out_json_bytes(g, "payload", text, a->payload_len);
        out_json_close(g, 0);
        out_json_line(g, stdout);
        yajl_gen_free(g);
    } else {
        const char *s = field(root, "summary");
        if (strlen(ts) > 20)
            strcpy(ts + 19, "Z");
        out_preview(summary, sizeof(summary), s ? s : text, strlen(s ? s : text), 120);
        const char *kind = field(root, "kind"), *sev = field(root, "severity"),
                   *id = field(root, "alert_id");
        const char *cells[] = {ts, kind ? kind : "(not JSON)", sev ? sev : "-",
                               id ? id : (a->key ? a->key : "-"), summary};
        out_row(stdout, cols, 5, cells);
    }
    yajl_tree_free(root);
    free(text);
}

static void row_free(struct alert_row *a)
{
    free(a->key);
    free(a->payload);
    memset(a, 0, sizeof(*a));
}

static int row_cmp(const void *x, const void *y)
{
    const struct alert_row *a = x, *b = y;
    return a->ts_ms < b->ts_ms ? -1 : a->ts_ms > b->ts_ms;
}

/* Keeps the newest `limit` alerts of the scan in rows (at most limit). */
static int collect(const struct alerts_opts *o, struct kread_scan *scan, struct alert_row *rows,
                   long *n, long *seen, char *err, size_t errlen)
{
    int got;
    rd_kafka_message_t *m;
    while (!stop_requested() && (got = kread_scan_next(scan, &m, err, errlen)) > 0) {
        int64_t ts = rd_kafka_message_timestamp(m, NULL);
        long slot = -1;
        if (ts >= o->since_ms) {
            (*seen)++;
            if (*n < o->limit) {
                slot = (*n)++;
            } else { /* full: replace the oldest when this one is newer */
                long old = 0;
                for (long i = 1; i < *n; i++)
                    if (rows[i].ts_ms < rows[old].ts_ms)
                        old = i;
                if (rows[old].ts_ms <= ts)
                    slot = old;
            }
        }
        if (slot >= 0) {
            struct alert_row *a = &rows[slot];
            row_free(a);
            a->ts_ms = ts;
            a->partition = m->partition;
            a->offset = m->offset;
            a->key = m->key ? strndup(m->key, m->key_len) : NULL;
            a->payload = malloc(m->len + 1);
            if (a->payload && m->payload)
                memcpy(a->payload, m->payload, m->len);
            a->payload_len = a->payload ? m->len : 0;
        }
        rd_kafka_message_destroy(m);
    }
    return got < 0 ? EXIT_UNREACHABLE : EXIT_OK;
}

static int alerts_run(const struct cfg *c, const struct alerts_opts *o)
{
    struct dlq_src src;
    struct kread_scan *scan = NULL;
    struct alert_row *rows = calloc((size_t)o->limit, sizeof(*rows));
    char err[768] = "out of memory";
    long n = 0, seen = 0;
    int rc = rows ? dlq_src_open(&src, c, ALERTS_TOPIC, NULL, err, sizeof(err)) : EXIT_FAIL;
    for (int i = 0; rows && rc == EXIT_OK && i < src.parts->cnt; i++)
        src.parts->elems[i].offset = src.lo[i];
    if (rc == EXIT_OK)
        rc = kread_scan_start(&scan, src.rk, src.parts, src.hi, err, sizeof(err));
    if (rc == EXIT_OK)
        rc = collect(o, scan, rows, &n, &seen, err, sizeof(err));
    if (rc == EXIT_OK) {
        qsort(rows, (size_t)n, sizeof(*rows), row_cmp);
        if (!o->json)
            out_header(stdout, cols, 5);
        for (long i = 0; i < n; i++)
            print_row(&rows[i], o->json);
        if (!o->json)
            fprintf(stderr, "%ld of %ld alerts shown (the newest, oldest first)\n", n, seen);
    } else {
        fprintf(stderr, "stockctl alerts: %s\n", err);
    }
    for (long i = 0; rows && i < n; i++)
        row_free(&rows[i]);
    free(rows);
    kread_scan_free(scan);
    if (rows)
        dlq_src_close(&src);
    return rc ? rc : stop_requested() ? EXIT_FAIL : EXIT_OK;
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: stockctl alerts [--since T] [--limit N] [--json]\n"
            "Lists the alerts on inventory.alerts (what the alert-worker POSTs to the webhook:\n"
            "outbox alerts such as refund_required, oversold, low_stock, and the workers'\n"
            "outage alerts), the newest --limit of them, oldest first: TIME, KIND, SEVERITY,\n"
            "ALERT_ID and SUMMARY. A count goes to stderr. Joins no consumer group.\n"
            "  --since T   only alerts written at or after T: 2026-11-27T10:00:00Z, 2026-11-27,\n"
            "              epoch milliseconds, or an age: 30m, 2h, 7d\n"
            "  --limit N   at most N alerts, the newest (default 50)\n"
            "  --json      one JSON object per line: partition, offset, timestamp, key, payload\n"
            "Exit codes: 0 ok, 2 bad usage, 3 Kafka unreachable, 4 no inventory.alerts topic.\n");
}

int cmd_alerts(const struct cfg *c, int argc, char **argv)
{
    static const struct option opts[] = {{"since", required_argument, NULL, 's'},
                                         {"limit", required_argument, NULL, 'n'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    struct alerts_opts o = {.since_ms = INT64_MIN, .limit = 50};
    char err[256];
    int opt;
    opterr = 0;
    optind = 0;
    while ((opt = getopt_long(argc, argv, ":s:n:jh", opts, NULL)) != -1) {
        if (opt == 's' && arg_time_ms(optarg, out_now_ms(), &o.since_ms, err, sizeof(err)))
            return fprintf(stderr, "stockctl alerts: --since %s\n", err), EXIT_USAGE;
        if (opt == 'n' && arg_long(optarg, 1, 100000L, &o.limit, err, sizeof(err)))
            return fprintf(stderr, "stockctl alerts: --limit %s\n", err), EXIT_USAGE;
        if (opt == 'j')
            o.json = 1;
        else if (opt == 'h')
            return usage(stdout), EXIT_OK;
        else if (opt != 's' && opt != 'n')
            return arg_bad_option("alerts", opt, argv), EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "stockctl alerts: unexpected argument \"%s\" (see stockctl alerts --help)\n",
                argv[optind]);
        return EXIT_USAGE;
    }
    stop_catch();
    return alerts_run(c, &o);
}
