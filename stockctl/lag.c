/* stockctl lag: committed offset, end offset and lag per group and partition
 * (the topics of each group come from roles.c, retry topics included), and
 * the timeout-worker's pending holds when DATABASE_URL reaches a database;
 * with --wait, waits until every listed group has caught up. */
#include "arg.h"
#include "db.h"
#include "group.h"
#include "kread.h"
#include "lag.h"
#include "out.h"
#include "roles.h"
#include "stockctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_GROUPS 16
#define MAX_ROLE_TOPICS (8 + 4 * CFG_MAX_RETRY_STEPS)

struct lag_opts {
    double wait_s; /* < 0: print once */
    int quiet, json, behind;
    int header; /* the table header is out */
    const struct role *roles[MAX_GROUPS];
    int n;
};

/* Every partition of the role's topics that the cluster has. */
static int role_partitions(rd_kafka_t *rk, const struct cfg *c, const struct role *r,
                           rd_kafka_topic_partition_list_t **out, char *err, size_t errlen)
{
    struct role_topic t[MAX_ROLE_TOPICS];
    const struct rd_kafka_metadata *md;
    size_t n = roles_topics(r, c->n_retry, t, MAX_ROLE_TOPICS);
    int rc = kread_metadata(rk, &md, err, errlen);
    if (rc)
        return rc;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(32);
    for (size_t i = 0; i < n && rc == EXIT_OK; i++) {
        const rd_kafka_metadata_topic_t *mt = kread_topic(md, t[i].name);
        if (!mt && !t[i].optional) {
            snprintf(err, errlen, "topic %s of group %s does not exist", t[i].name, r->group);
            rc = EXIT_NOTFOUND;
        }
        for (int p = 0; mt && p < mt->partition_cnt; p++)
            rd_kafka_topic_partition_list_add(l, t[i].name, mt->partitions[p].id);
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_partition_list_sort(l, NULL, NULL);
    *out = l;
    return rc;
}

static void print_row(struct lag_opts *o, const char *group, const rd_kafka_topic_partition_t *tp,
                      int64_t hi, long long lag, const char *owner)
{
    if (o->json) {
        yajl_gen g = out_json_new(0);
        out_json_open(g, NULL, 0);
        out_json_str(g, "group", group);
        out_json_str(g, "topic", tp->topic);
        out_json_int(g, "partition", tp->partition);
        if (tp->offset >= 0)
            out_json_int(g, "committed", tp->offset);
        else
            out_json_str(g, "committed", NULL);
        out_json_int(g, "end", hi);
        out_json_int(g, "lag", lag);
        out_json_str(g, "owner", owner);
        out_json_close(g, 0);
        out_json_line(g, stdout);
        yajl_gen_free(g);
        return;
    }
    char committed[24] = "-";
    if (tp->offset >= 0)
        snprintf(committed, sizeof(committed), "%lld", (long long)tp->offset);
    if (!o->header++)
        printf("%-20s %-28s %4s %12s %12s %10s  %s\n", "GROUP", "TOPIC", "PART", "COMMITTED", "END",
               "LAG", "OWNER");
    printf("%-20s %-28s %4d %12s %12lld %10lld  %s\n", group, tp->topic, (int)tp->partition,
           committed, (long long)hi, lag, owner ? owner : "-");
}

static void print_total(const struct lag_opts *o, const char *group, long long lag, int behind,
                        int parts)
{
    if (o->json) {
        yajl_gen g = out_json_new(0);
        out_json_open(g, NULL, 0);
        out_json_str(g, "group", group);
        out_json_int(g, "total_lag", lag);
        out_json_int(g, "partitions_behind", behind);
        out_json_int(g, "partitions", parts);
        out_json_close(g, 0);
        out_json_line(g, stdout);
        yajl_gen_free(g);
        return;
    }
    printf("total %s: lag %lld, %d of %d partition(s) behind\n", group, lag, behind, parts);
}

/* Sums (and prints unless quiet) one group's lag into *total. */
static int group_lag(const struct cfg *c, const struct role *r, struct lag_opts *o, int show,
                     long long *total, char *err, size_t errlen)
{
    rd_kafka_t *rk = group_handle(c, r->group, err, errlen);
    if (!rk)
        return EXIT_USAGE;
    rd_kafka_topic_partition_list_t *l = NULL;
    int64_t *lo = NULL, *hi = NULL;
    int rc = role_partitions(rk, c, r, &l, err, errlen);
    if (rc == EXIT_OK) {
        lo = calloc((size_t)l->cnt + 1, sizeof(*lo));
        hi = calloc((size_t)l->cnt + 1, sizeof(*hi));
        if (!lo || !hi)
            rc = EXIT_FAIL, snprintf(err, errlen, "out of memory");
    }
    if (rc == EXIT_OK)
        rc = group_committed(rk, l, err, errlen);
    if (rc == EXIT_OK)
        rc = kread_watermarks(rk, l, lo, hi, err, errlen);
    struct group_owners own = {0};
    if (rc == EXIT_OK && show)
        group_owners(c, r->group, &own); /* best effort: unknown on the dev broker */
    long long sum = 0;
    int behind = 0;
    for (int i = 0; rc == EXIT_OK && i < l->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &l->elems[i];
        int64_t done = tp->offset >= 0 ? tp->offset : lo[i];
        long long lag = hi[i] - done > 0 ? hi[i] - done : 0;
        sum += lag;
        behind += lag > 0;
        if (show && (!o->behind || lag > 0))
            print_row(o, r->group, tp, hi[i], lag, group_owner(&own, tp->topic, tp->partition));
    }
    *total += sum;
    if (rc == EXIT_OK && show)
        print_total(o, r->group, sum, behind, l->cnt);
    group_owners_release(&own);
    free(lo);
    free(hi);
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return rc;
}

int lag_total(const struct cfg *c, const struct role *r, long long *total, char *err, size_t errlen)
{
    struct lag_opts o = {.wait_s = -1, .quiet = 1};
    *total = 0;
    return group_lag(c, r, &o, 0, total, err, errlen);
}

/* "3d 4h", "5h 12m", "7m 3s", "42s". */
static void duration(long long s, char *buf, size_t len)
{
    if (s >= 86400)
        snprintf(buf, len, "%lldd %lldh", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        snprintf(buf, len, "%lldh %lldm", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        snprintf(buf, len, "%lldm %llds", s / 60, s % 60);
    else
        snprintf(buf, len, "%llds", s);
}

/* The timeout-worker's work: holds not yet released, and the overdue ones
 * (reserved more than a second past expires_at: DESIGN §4 rule 5 releases
 * within 1 s in normal operation), as a warning with count and age. When
 * the database cannot be asked, says so instead of dropping the line. */
static void pending_holds(const struct cfg *c, int json)
{
    struct pg *p = NULL;
    char err[768];
    int code = EXIT_OK;
    PGresult *res = NULL;
    if ((code = db_open(c, "stockctl lag", &p, err, sizeof(err))) == EXIT_OK)
        res = db_query(p,
                       "SELECT count(*) AS pending_holds,"
                       "       to_char(min(expires_at) AT TIME ZONE 'UTC',"
                       "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS oldest_expiry,"
                       "       floor(extract(epoch FROM min(expires_at) - now()))::bigint"
                       "         AS expires_in_s,"
                       "       count(*) FILTER (WHERE expires_at < now() - interval '1 second')"
                       "         AS overdue_holds,"
                       "       coalesce(floor(extract(epoch FROM now() - min(expires_at)"
                       "         FILTER (WHERE expires_at < now() - interval '1 second'))), 0)"
                       "         ::bigint AS overdue_oldest_s"
                       "  FROM orders WHERE state = 'reserved'",
                       0, NULL, &code, err, sizeof(err));
    const char *why = code == EXIT_UNREACHABLE   ? "database unreachable"
                      : code == EXIT_NOT_MIGRATED ? "database not migrated"
                                                  : "database error";
    if (!res && json) {
        yajl_gen g = out_json_new(0);
        out_json_open(g, NULL, 0);
        out_json_str(g, "group", "stockflow-timeout");
        out_json_str(g, "pending_holds", NULL);
        out_json_str(g, "unknown", why);
        out_json_close(g, 0);
        out_json_line(g, stdout);
        yajl_gen_free(g);
    } else if (!res) {
        printf("timeout-worker: pending holds: unknown (%s)\n", why);
    } else if (json) {
        yajl_gen g = out_json_new(0);
        out_json_open(g, NULL, 0);
        out_json_str(g, "group", "stockflow-timeout");
        db_json_row(g, res, 0);
        out_json_close(g, 0);
        out_json_line(g, stdout);
        yajl_gen_free(g);
    } else {
        const char *in = db_val(res, 0, 2);
        long long s = in ? atoll(in) : 0, overdue = atoll(PQgetvalue(res, 0, 3));
        char when[64] = "", d[32];
        if (in) {
            duration(s < 0 ? -s : s, d, sizeof(d));
            snprintf(when, sizeof(when), s >= 0 ? " (in %s)" : " (%s ago)", d);
        }
        printf("timeout-worker: %s pending holds, oldest expiry %s%s\n", PQgetvalue(res, 0, 0),
               in ? PQgetvalue(res, 0, 1) : "-", when);
        if (overdue > 0) {
            duration(atoll(PQgetvalue(res, 0, 4)), d, sizeof(d));
            printf("warning: %lld overdue hold(s): reserved past expires_at and not released, "
                   "the oldest for %s (is the timeout-worker running and the payment "
                   "watermark moving?)\n",
                   overdue, d);
        }
    }
    PQclear(res);
    pg_free(p);
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: stockctl lag [--wait SECONDS] [--behind] [--quiet] [--json] [GROUP...]\n"
            "Committed offset, end offset, lag and owner (the member the partition is\n"
            "assigned to, where the broker describes groups: not the development broker) per\n"
            "partition for each GROUP, a consumer group (stockflow-order) or a role (order):\n"
            "%s.\n"
            "Default: stockflow-order stockflow-stock. A group reads its source topics and\n"
            "their retry topics (those of RETRY_BACKOFF_SECONDS). \"-\" as committed means\n"
            "nothing committed yet (the lag then counts from the partition's start). Each\n"
            "group ends with a line \"total GROUP: lag N, B of P partition(s) behind\". Then the\n"
            "timeout-worker's pending holds and the oldest expiry, a warning with count and\n"
            "age when holds are overdue (reserved more than 1 s past expires_at), or \"pending\n"
            "holds: unknown (database unreachable)\" when DATABASE_URL cannot be asked.\n"
            "With --wait, polls until every group's lag is 0 (exit 0) or the time is up\n"
            "(exit 1), printing nothing but the result.\n"
            "  --behind  only the partitions with lag (the totals stay whole)\n"
            "  --quiet   no output (with --wait: just the exit code)\n"
            "  --json    one JSON object per partition (and one for the pending holds)\n"
            "Exit codes: 0 ok, 1 not caught up in time, 2 bad usage, 3 Kafka unreachable,\n"
            "4 a topic of the group does not exist.\n",
            roles_names());
}

static int parse(struct lag_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"wait", required_argument, NULL, 'w'},
                                         {"behind", no_argument, NULL, 'b'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    int opt;
    char *end;
    opterr = 0;
    optind = 0;
    while ((opt = getopt_long(argc, argv, ":w:bqjh", opts, NULL)) != -1) {
        if (opt == 'w' && (o->wait_s = strtod(optarg, &end),
                           *end || end == optarg || !(o->wait_s >= 0 && o->wait_s <= 86400)))
            return fprintf(stderr, "stockctl lag: --wait \"%s\": expected seconds in 0..86400\n",
                           optarg),
                   EXIT_USAGE;
        if (opt == 'w')
            continue;
        if (opt == 'b')
            o->behind = 1;
        else if (opt == 'q' || opt == 'j')
            *(opt == 'q' ? &o->quiet : &o->json) = 1;
        else if (opt == 'h')
            return usage(stdout), -1;
        else
            return arg_bad_option("lag", opt, argv), EXIT_USAGE;
    }
    for (int i = optind; i < argc; i++) {
        if (o->n == MAX_GROUPS || !(o->roles[o->n++] = roles_find(argv[i]))) {
            fprintf(stderr,
                    "stockctl lag: unknown group \"%s\": expected one of %s (or "
                    "stockflow-<role>)\n",
                    argv[i], roles_names());
            return EXIT_USAGE;
        }
    }
    if (o->n == 0) {
        o->roles[o->n++] = roles_find("order");
        o->roles[o->n++] = roles_find("stock");
    }
    return EXIT_OK;
}

int cmd_lag(const struct cfg *c, int argc, char **argv)
{
    struct lag_opts o = {.wait_s = -1};
    int rc = parse(&o, argc, argv);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    int64_t t0 = out_mono_ns();
    int show = !o.quiet && o.wait_s < 0;
    for (;;) {
        long long total = 0;
        char err[768];
        for (int i = 0; i < o.n; i++) {
            if ((rc = group_lag(c, o.roles[i], &o, show, &total, err, sizeof(err))) != EXIT_OK) {
                fprintf(stderr, "stockctl lag: %s\n", err);
                return rc;
            }
        }
        double el = (double)(out_mono_ns() - t0) / 1e9;
        if (o.wait_s < 0) {
            if (show)
                pending_holds(c, o.json);
            return EXIT_OK;
        }
        if (total == 0) {
            if (!o.quiet)
                printf("caught up: lag 0 after %.1f s\n", el);
            return EXIT_OK;
        }
        if (el >= o.wait_s) {
            fprintf(stderr, "stockctl lag: still %lld behind after %.0f s\n", total, o.wait_s);
            return EXIT_FAIL;
        }
        nanosleep(&(struct timespec){.tv_nsec = 250 * 1000000}, NULL);
    }
}
