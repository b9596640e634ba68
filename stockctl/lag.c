/* stockctl lag: committed offset, end offset and lag per group and partition;
 * with --wait, waits until every listed group has caught up. */
#include "kafka.h"
#include "stockctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern char **environ;

struct group_topics {
    const char *group;
    const char *const topics[3];
};

static const struct group_topics known[] = {
    {"stockflow-order", {"inventory.orders", NULL}},
    {"stockflow-stock", {"inventory.stock", NULL}},
    {"stockflow-payment", {"inventory.payments", NULL}},
    {"stockflow-timeout", {"inventory.orders", NULL}},
};

static const struct group_topics *find_group(const char *g)
{
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(known[i].group, g) == 0)
            return &known[i];
    return NULL;
}

/* Lists every partition of the group's topics. NULL with err on failure. */
static rd_kafka_topic_partition_list_t *group_partitions(rd_kafka_t *rk,
                                                         const struct group_topics *g, char *err,
                                                         size_t errlen)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    for (int t = 0; g->topics[t]; t++) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, g->topics[t], NULL);
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
        rd_kafka_topic_destroy(rkt);
        if (e || md->topic_cnt != 1 || md->topics[0].err) {
            snprintf(err, errlen, "topic %s: %s", g->topics[t],
                     rd_kafka_err2str(e ? e : md->topics[0].err));
            if (md)
                rd_kafka_metadata_destroy(md);
            rd_kafka_topic_partition_list_destroy(l);
            return NULL;
        }
        for (int p = 0; p < md->topics[0].partition_cnt; p++)
            rd_kafka_topic_partition_list_add(l, g->topics[t], md->topics[0].partitions[p].id);
        rd_kafka_metadata_destroy(md);
    }
    return l;
}

/* Prints one group's lag; returns the total lag, or -1 on error. */
static long long group_lag(const char *brokers, const struct group_topics *g, int quiet,
                           char *err, size_t errlen)
{
    const struct kafka_prop props[] = {{"group.id", g->group}, {"enable.auto.commit", "false"}};
    rd_kafka_conf_t *conf = kafka_conf_new(brokers, props, 2, (const char *const *)environ, err,
                                           errlen);
    if (!conf)
        return -1;
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    long long total = -1;
    rd_kafka_topic_partition_list_t *l = group_partitions(rk, g, err, errlen);
    if (!l)
        goto out;
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, l, 5000);
    if (e) {
        snprintf(err, errlen, "committed offsets of %s: %s", g->group, rd_kafka_err2str(e));
        goto out;
    }
    total = 0;
    for (int i = 0; i < l->cnt && total >= 0; i++) {
        rd_kafka_topic_partition_t *tp = &l->elems[i];
        int64_t lo, hi;
        e = rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &lo, &hi, 5000);
        if (e) {
            snprintf(err, errlen, "end offset of %s[%d]: %s", tp->topic, (int)tp->partition,
                     rd_kafka_err2str(e));
            total = -1;
            break;
        }
        int64_t done = tp->offset >= 0 ? tp->offset : lo;
        long long lag = hi - done > 0 ? hi - done : 0;
        total += lag;
        if (!quiet)
            printf("%-20s %-28s %4d %12lld %12lld %10lld\n", g->group, tp->topic,
                   (int)tp->partition, (long long)tp->offset, (long long)hi, lag);
    }
out:
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return total;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: stockctl lag [--wait SECONDS] [--quiet] [GROUP...]\n"
               "Committed offset, end offset and lag per partition for each GROUP (default:\n"
               "stockflow-order stockflow-stock). -1001 as committed means nothing committed\n"
               "yet. With --wait, polls until every group's lag is 0 (exit 0) or the time is\n"
               "up (exit 1). Exit 3 when the broker cannot be reached.\n");
}

int cmd_lag(const struct cfg *c, int argc, char **argv)
{
    static const struct option opts[] = {{"wait", required_argument, NULL, 'w'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    double wait_s = -1;
    int quiet = 0, o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "w:qh", opts, NULL)) != -1) {
        char *end;
        switch (o) {
        case 'w':
            wait_s = strtod(optarg, &end);
            if (*end || wait_s < 0) {
                fprintf(stderr, "stockctl lag: --wait: \"%s\" is not a number of seconds\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    const char *defaults[] = {"stockflow-order", "stockflow-stock"};
    const char **groups = optind < argc ? (const char **)argv + optind : defaults;
    int ngroups = optind < argc ? argc - optind : 2;
    for (int i = 0; i < ngroups; i++) {
        if (!find_group(groups[i])) {
            fprintf(stderr, "stockctl lag: unknown group \"%s\"\n", groups[i]);
            return EXIT_USAGE;
        }
    }
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        long long total = 0;
        char err[512];
        int show = !quiet && wait_s < 0;
        if (show)
            printf("%-20s %-28s %4s %12s %12s %10s\n", "GROUP", "TOPIC", "PART", "COMMITTED",
                   "END", "LAG");
        for (int i = 0; i < ngroups; i++) {
            long long lag = group_lag(c->kafka_brokers, find_group(groups[i]), !show, err,
                                      sizeof(err));
            if (lag < 0) {
                fprintf(stderr, "stockctl lag: %s\n", err);
                return EXIT_UNREACHABLE;
            }
            total += lag;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        double el = (double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9;
        if (wait_s < 0)
            return EXIT_OK;
        if (total == 0) {
            if (!quiet)
                printf("caught up: lag 0 after %.1f s\n", el);
            return EXIT_OK;
        }
        if (el >= wait_s) {
            fprintf(stderr, "stockctl lag: still %lld behind after %.0f s\n", total, wait_s);
            return EXIT_FAIL;
        }
        nanosleep(&(struct timespec){.tv_nsec = 250 * 1000000}, NULL);
    }
}
