/* stockctl topics apply: creates the DESIGN §2 topics through the Kafka Admin
 * API (CreateTopics, DescribeConfigs, AlterConfigs, CreatePartitions) and
 * brings existing ones up to what stockflow needs: enough partitions and the
 * configs below. Idempotent: a second run changes nothing. Reads everything
 * first (Metadata, DescribeConfigs), then changes what differs, then prints
 * one line per topic and one per change.
 *
 * Configs set (other topic configs are kept as they are):
 *   <source>.dlq            retention.ms 30 days; an existing one keeping
 *                           at least 14 days (or forever) is left alone
 *   inventory.availability  cleanup.policy=compact
 *   inventory.ledger        retention.ms=-1 (forever): rebuilding the
 *                           database from the ledger (DESIGN §5.5) needs it all
 */
#include "kafka.h"
#include "log.h"
#include "stockctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_NO_ADMIN_API 5 /* the broker has no Admin API: the development broker */
#define DAY_MS 86400000LL
#define MAX_TOPICS (4 * (CFG_MAX_RETRY_STEPS + 2) + 4)
#define MAX_WANTS 2
#define ADMIN_TIMEOUT_MS 15000

/* A config value stockflow needs. AT_LEAST: a retention in ms no shorter
 * than min_ms, where -1 means forever (min_ms -1: only forever will do). */
struct want {
    const char *key, *value;
    enum { EXACT, AT_LEAST } kind;
    long long min_ms;
};

static const struct want dlq_wants[] = {{"retention.ms", "2592000000", AT_LEAST, 14 * DAY_MS}};
static const struct want compact_wants[] = {{"cleanup.policy", "compact", EXACT, 0}};
static const struct want ledger_wants[] = {{"retention.ms", "-1", AT_LEAST, -1}};

struct topic {
    char name[128];
    int partitions; /* wanted, at least */
    const struct want *wants;
    size_t nwants;
    /* found on the broker */
    int exists, have_partitions, have_rf, configs_known;
    char have[MAX_WANTS][64];
    /* what this run did, or the error it met */
    int changed_parts, raced, fix[MAX_WANTS], fixed;
    char error[256];
};

struct run {
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    struct topic t[MAX_TOPICS];
    size_t n;
    int partitions, rf, retry_steps, dry_run;
    int32_t broker_id;           /* the broker that answered Metadata */
    rd_kafka_event_t *described; /* DescribeConfigs result, for AlterConfigs */
    char unsupported[512];       /* set when the broker lacks an Admin API */
};

/* ---- the wanted topics -------------------------------------------------- */

static void add_topic(struct run *r, const char *name, const struct want *w, size_t nw)
{
    struct topic *t = &r->t[r->n++];
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->partitions = r->partitions;
    t->wants = w;
    t->nwants = nw;
}

/* DESIGN §2, in the order the development broker creates them. */
static void plan(struct run *r)
{
    static const char *const sources[] = {"inventory.orders", "inventory.payments",
                                          "inventory.stock", "inventory.promotions"};
    char name[160];
    for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
        add_topic(r, sources[i], NULL, 0);
        for (int s = 1; s <= r->retry_steps; s++) {
            snprintf(name, sizeof(name), "%s.retry.%d", sources[i], s);
            add_topic(r, name, NULL, 0);
        }
        snprintf(name, sizeof(name), "%s.dlq", sources[i]);
        add_topic(r, name, dlq_wants, 1);
    }
    add_topic(r, "inventory.alerts", NULL, 0);
    add_topic(r, "inventory.alerts.dlq", dlq_wants, 1);
    add_topic(r, "inventory.availability", compact_wants, 1);
    add_topic(r, "inventory.ledger", ledger_wants, 1);
}

static int want_met(const struct want *w, const char *have)
{
    if (w->kind == EXACT)
        return strcmp(have, w->value) == 0;
    char *end;
    long long v = strtoll(have, &end, 10);
    if (end == have || *end)
        return 0;
    return v == -1 || (w->min_ms != -1 && v >= w->min_ms);
}

/* ---- Admin API plumbing ------------------------------------------------- */

static int is_unsupported(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE ||
           e == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION || e == RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED;
}

/* Waits for the result of an admin request. Returns the event (caller
 * destroys it), or NULL with err set, and r->unsupported when the broker
 * does not know the request. */
static rd_kafka_event_t *wait_result(struct run *r, const char *what, char *err, size_t errlen)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(r->q, ADMIN_TIMEOUT_MS + 5000);
    if (!ev) {
        snprintf(err, errlen, "%s: no answer within %d s", what, ADMIN_TIMEOUT_MS / 1000 + 5);
        return NULL;
    }
    rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
    if (!e)
        return ev;
    snprintf(err, errlen, "%s: %s", what, rd_kafka_event_error_string(ev));
    if (is_unsupported(e))
        snprintf(r->unsupported, sizeof(r->unsupported), "%s", err);
    rd_kafka_event_destroy(ev);
    return NULL;
}

static rd_kafka_AdminOptions_t *admin_options(struct run *r, rd_kafka_admin_op_t op)
{
    char why[256];
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(r->rk, op);
    rd_kafka_AdminOptions_set_request_timeout(o, ADMIN_TIMEOUT_MS, why, sizeof(why));
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_CREATEPARTITIONS)
        rd_kafka_AdminOptions_set_operation_timeout(o, ADMIN_TIMEOUT_MS, why, sizeof(why));
    /* any broker answers DescribeConfigs: do not wait for a controller
     * (a broker without the Admin API may never name one) */
    if (op == RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS)
        rd_kafka_AdminOptions_set_broker(o, r->broker_id, why, sizeof(why));
    return o;
}

static struct topic *find_topic(struct run *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->t[i].name, name) == 0)
            return &r->t[i];
    return NULL;
}

/* ---- reading ------------------------------------------------------------ */

static int read_metadata(struct run *r, char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(r->rk, 1, NULL, &md, ADMIN_TIMEOUT_MS);
    if (e) {
        snprintf(err, errlen, "cannot read the topic list: %s", rd_kafka_err2str(e));
        return -1;
    }
    for (int i = 0; i < md->topic_cnt; i++) {
        struct topic *t = find_topic(r, md->topics[i].topic);
        if (!t || md->topics[i].err || md->topics[i].partition_cnt == 0)
            continue;
        t->exists = 1;
        t->have_partitions = md->topics[i].partition_cnt;
        t->have_rf = md->topics[i].partitions[0].replica_cnt;
    }
    r->broker_id = md->orig_broker_id;
    rd_kafka_metadata_destroy(md);
    return 0;
}

/* Asks the broker that answered Metadata for its own configs: the cheapest
 * Admin API request, and one that needs no controller. Returns -1 with
 * r->unsupported set when the broker has no Admin API. */
static int probe_admin_api(struct run *r, char *err, size_t errlen)
{
    char id[16];
    snprintf(id, sizeof(id), "%d", (int)r->broker_id);
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_BROKER, id);
    rd_kafka_AdminOptions_t *o = admin_options(r, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_DescribeConfigs(r->rk, &res, 1, o, r->q);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_event_t *ev = wait_result(r, "DescribeConfigs", err, errlen);
    if (!ev)
        return -1;
    rd_kafka_event_destroy(ev);
    return 0;
}

/* Copies what the broker says about one topic's wanted configs. */
static void take_configs(struct topic *t, const rd_kafka_ConfigResource_t *res)
{
    size_t cnt;
    const rd_kafka_ConfigEntry_t **ce = rd_kafka_ConfigResource_configs(res, &cnt);
    t->configs_known = 1;
    for (size_t w = 0; w < t->nwants; w++) {
        for (size_t i = 0; i < cnt; i++) {
            const char *v = rd_kafka_ConfigEntry_value(ce[i]);
            if (strcmp(rd_kafka_ConfigEntry_name(ce[i]), t->wants[w].key) == 0 && v)
                snprintf(t->have[w], sizeof(t->have[w]), "%s", v);
        }
        t->fix[w] = !want_met(&t->wants[w], t->have[w]);
    }
}

static int describe_configs(struct run *r, char *err, size_t errlen)
{
    rd_kafka_ConfigResource_t *res[MAX_TOPICS];
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->t[i].exists && r->t[i].nwants)
            res[n++] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, r->t[i].name);
    if (n == 0)
        return 0;
    rd_kafka_AdminOptions_t *o = admin_options(r, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_DescribeConfigs(r->rk, res, n, o, r->q);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_ConfigResource_destroy_array(res, n);
    r->described = wait_result(r, "DescribeConfigs", err, errlen);
    if (!r->described)
        return -1;
    const rd_kafka_DescribeConfigs_result_t *dr =
        rd_kafka_event_DescribeConfigs_result(r->described);
    const rd_kafka_ConfigResource_t **rr = rd_kafka_DescribeConfigs_result_resources(dr, &n);
    for (size_t i = 0; i < n; i++) {
        struct topic *t = find_topic(r, rd_kafka_ConfigResource_name(rr[i]));
        if (!t)
            continue;
        if (rd_kafka_ConfigResource_error(rr[i]))
            snprintf(t->error, sizeof(t->error), "DescribeConfigs: %s",
                     rd_kafka_ConfigResource_error_string(rr[i]));
        else
            take_configs(t, rr[i]);
    }
    return 0;
}

/* ---- changing ----------------------------------------------------------- */

/* Records each topic's result; returns how many failed. */
static int take_topic_results(struct run *r, const rd_kafka_topic_result_t **tr, size_t n,
                              const char *what)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        struct topic *t = find_topic(r, rd_kafka_topic_result_name(tr[i]));
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
        if (!t)
            continue;
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            t->changed_parts = e == RD_KAFKA_RESP_ERR_NO_ERROR;
            t->raced = !t->changed_parts; /* another client created it meanwhile */
            continue;
        }
        snprintf(t->error, sizeof(t->error), "%s: %s", what,
                 rd_kafka_topic_result_error_string(tr[i]));
        failed++;
    }
    return failed;
}

static rd_kafka_NewTopic_t *new_topic(const struct run *r, const struct topic *t)
{
    char why[256];
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(t->name, t->partitions, r->rf, why, sizeof(why));
    for (size_t w = 0; nt && w < t->nwants; w++)
        rd_kafka_NewTopic_set_config(nt, t->wants[w].key, t->wants[w].value);
    return nt;
}

static int create_missing(struct run *r, char *err, size_t errlen)
{
    rd_kafka_NewTopic_t *nt[MAX_TOPICS];
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        if (!r->t[i].exists && (nt[n] = new_topic(r, &r->t[i])) != NULL)
            n++;
    if (n == 0)
        return 0;
    rd_kafka_AdminOptions_t *o = admin_options(r, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_CreateTopics(r->rk, nt, n, o, r->q);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_NewTopic_destroy_array(nt, n);
    rd_kafka_event_t *ev = wait_result(r, "CreateTopics", err, errlen);
    if (!ev)
        return -1;
    const rd_kafka_topic_result_t **tr =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    int failed = take_topic_results(r, tr, n, "CreateTopics");
    rd_kafka_event_destroy(ev);
    return failed ? -1 : 0;
}

static int grow_partitions(struct run *r, char *err, size_t errlen)
{
    rd_kafka_NewPartitions_t *np[MAX_TOPICS];
    char why[256];
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) {
        const struct topic *t = &r->t[i];
        if (t->exists && t->have_partitions < t->partitions &&
            (np[n] = rd_kafka_NewPartitions_new(t->name, (size_t)t->partitions, why,
                                                sizeof(why))) != NULL)
            n++;
    }
    if (n == 0)
        return 0;
    rd_kafka_AdminOptions_t *o = admin_options(r, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
    rd_kafka_CreatePartitions(r->rk, np, n, o, r->q);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_NewPartitions_destroy_array(np, n);
    rd_kafka_event_t *ev = wait_result(r, "CreatePartitions", err, errlen);
    if (!ev)
        return -1;
    const rd_kafka_topic_result_t **tr =
        rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &n);
    int failed = take_topic_results(r, tr, n, "CreatePartitions");
    rd_kafka_event_destroy(ev);
    return failed ? -1 : 0;
}

/* The value t wants for config 'name' when it must be set, else NULL. */
static const char *fixed_value(const struct topic *t, const char *name)
{
    for (size_t w = 0; w < t->nwants; w++)
        if (t->fix[w] && strcmp(t->wants[w].key, name) == 0)
            return t->wants[w].value;
    return NULL;
}

/* AlterConfigs replaces a topic's whole set of dynamic configs (librdkafka
 * 2.0.2 has no IncrementalAlterConfigs), so the resource carries every
 * dynamic config the topic has now, ours in place of the ones we set: each
 * key once, since Kafka refuses a request naming a key twice ("duplicate
 * config keys"; the development broker has no AlterConfigs to tell).
 * Returns NULL when the topic needs no change. */
static rd_kafka_ConfigResource_t *alter_resource(const struct run *r, const struct topic *t)
{
    if (!t->configs_known || !(t->fix[0] || t->fix[1]))
        return NULL;
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, t->name);
    size_t nd, cnt;
    const rd_kafka_ConfigResource_t **rr = rd_kafka_DescribeConfigs_result_resources(
        rd_kafka_event_DescribeConfigs_result(r->described), &nd);
    for (size_t i = 0; i < nd; i++) {
        if (strcmp(rd_kafka_ConfigResource_name(rr[i]), t->name) != 0)
            continue;
        const rd_kafka_ConfigEntry_t **ce = rd_kafka_ConfigResource_configs(rr[i], &cnt);
        for (size_t k = 0; k < cnt; k++)
            if (rd_kafka_ConfigEntry_source(ce[k]) == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG &&
                rd_kafka_ConfigEntry_value(ce[k]) &&
                !fixed_value(t, rd_kafka_ConfigEntry_name(ce[k])))
                rd_kafka_ConfigResource_set_config(res, rd_kafka_ConfigEntry_name(ce[k]),
                                                   rd_kafka_ConfigEntry_value(ce[k]));
    }
    for (size_t w = 0; w < t->nwants; w++)
        if (t->fix[w])
            rd_kafka_ConfigResource_set_config(res, t->wants[w].key, t->wants[w].value);
    return res;
}

static int alter_configs(struct run *r, char *err, size_t errlen)
{
    rd_kafka_ConfigResource_t *res[MAX_TOPICS];
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        if ((res[n] = alter_resource(r, &r->t[i])) != NULL)
            n++;
    if (n == 0)
        return 0;
    rd_kafka_AdminOptions_t *o = admin_options(r, RD_KAFKA_ADMIN_OP_ALTERCONFIGS);
    rd_kafka_AlterConfigs(r->rk, res, n, o, r->q);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_ConfigResource_destroy_array(res, n);
    rd_kafka_event_t *ev = wait_result(r, "AlterConfigs", err, errlen);
    if (!ev)
        return -1;
    const rd_kafka_ConfigResource_t **rr =
        rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        struct topic *t = find_topic(r, rd_kafka_ConfigResource_name(rr[i]));
        if (t && rd_kafka_ConfigResource_error(rr[i])) {
            snprintf(t->error, sizeof(t->error), "AlterConfigs: %s",
                     rd_kafka_ConfigResource_error_string(rr[i]));
            failed++;
        } else if (t) {
            t->fixed = 1;
        }
    }
    rd_kafka_event_destroy(ev);
    return failed ? -1 : 0;
}

/* ---- reporting ---------------------------------------------------------- */

static void print_configs(const struct run *r, const struct topic *t)
{
    if (t->exists && !t->configs_known && t->nwants) {
        printf("%-12s %-36s configs not checked\n", "unknown", t->name);
        return;
    }
    for (size_t w = 0; w < t->nwants; w++) {
        if (!t->exists || !t->fix[w])
            continue;
        const char *verb = r->dry_run ? "would set" : t->fixed ? "set" : "not set";
        printf("%-12s %-36s %s=%s (was %s)\n", verb, t->name, t->wants[w].key, t->wants[w].value,
               t->have[w][0] ? t->have[w] : "unknown");
    }
}

static void print_topic(const struct run *r, const struct topic *t)
{
    char cfg[160] = "";
    for (size_t w = 0, n = 0; w < t->nwants; w++)
        n += (size_t)snprintf(cfg + n, sizeof(cfg) - n, ", %s=%s", t->wants[w].key,
                              t->wants[w].value);
    if (!t->exists && t->raced) {
        printf("%-12s %-36s created meanwhile by another client\n", "exists", t->name);
    } else if (!t->exists) {
        const char *verb = r->dry_run         ? "would create"
                           : t->changed_parts ? "created"
                                              : "not created";
        printf("%-12s %-36s %d partitions, replication factor %d%s\n", verb, t->name, t->partitions,
               r->rf, cfg);
    } else if (t->have_partitions < t->partitions) {
        const char *verb = r->dry_run ? "would grow" : t->changed_parts ? "grew" : "not grown";
        printf("%-12s %-36s %d -> %d partitions\n", verb, t->name, t->have_partitions,
               t->partitions);
    } else {
        printf("%-12s %-36s %d partitions, replication factor %d\n", "exists", t->name,
               t->have_partitions, t->have_rf);
    }
    if (t->exists && t->have_rf < r->rf)
        printf("%-12s %-36s replication factor %d < %d: raise it with "
               "kafka-reassign-partitions.sh\n",
               "warning", t->name, t->have_rf, r->rf);
    print_configs(r, t);
    if (t->error[0])
        printf("%-12s %-36s %s\n", "error", t->name, t->error);
}

static int report(const struct run *r)
{
    int errors = 0, grown = 0;
    for (size_t i = 0; i < r->n; i++) {
        print_topic(r, &r->t[i]);
        errors += r->t[i].error[0] != '\0';
        grown += r->t[i].exists && r->t[i].have_partitions < r->t[i].partitions;
    }
    if (grown)
        printf("note: new partitions take new keys; records already written keep their\n"
               "partition, so one key's records may be read out of order once (the order\n"
               "rules of DESIGN §4 do not depend on arrival order).\n");
    return errors;
}

static void print_unsupported(const struct run *r)
{
    fprintf(stderr,
            "stockctl topics: the broker does not support the Kafka Admin API (%s).\n"
            "This is what the development broker (stockflow-devbroker) answers: it has no\n"
            "CreateTopics, DescribeConfigs, AlterConfigs or CreatePartitions, and it has\n"
            "already created every DESIGN §2 topic itself at start (see its --partitions\n"
            "and --retry-steps), so there is nothing to provision there. Exit code %d.\n",
            r->unsupported, EXIT_NO_ADMIN_API);
}

/* ---- the command -------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: stockctl topics apply [--partitions N] [--replication-factor N]\n"
            "                             [--retry-steps N] [--dry-run]\n"
            "Creates the DESIGN §2 topics through the Kafka Admin API, or brings existing\n"
            "ones up to date: grows partitions to N (never shrinks), sets retention.ms of\n"
            "30 days on *.dlq (when under 14 days), cleanup.policy=compact on\n"
            "inventory.availability, retention.ms=-1 (forever) on inventory.ledger. Other\n"
            "configs are kept. Prints one line per topic and one per change; safe to run\n"
            "again. --dry-run reads the broker and prints what it would change.\n\n"
            "  --partitions N          partitions per topic (default 6)\n"
            "  --replication-factor N  for new topics (default 1; 3 on a real cluster)\n"
            "  --retry-steps N         <source>.retry.1..N topics (default: the number of\n"
            "                          RETRY_BACKOFF_SECONDS steps)\n\n"
            "Exit codes: 0 every topic as wanted, 1 a change failed, 2 bad usage or\n"
            "configuration, 3 Kafka unreachable, %d the broker has no Admin API (the\n"
            "development broker, which creates the topics itself).\n",
            EXIT_NO_ADMIN_API);
}

static int int_arg(const char *opt, const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "stockctl topics: %s: \"%s\" is not a number from %d to %d\n", opt, s, lo,
                hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Returns -1 to go on, or an exit code. */
static int parse_args(struct run *r, int argc, char **argv)
{
    static const struct option opts[] = {{"partitions", required_argument, NULL, 'p'},
                                         {"replication-factor", required_argument, NULL, 'r'},
                                         {"retry-steps", required_argument, NULL, 's'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    int o, bad = 0;
    optind = 1;
    while ((o = getopt_long(argc, argv, "p:r:s:nh", opts, NULL)) != -1) {
        if (o == 'p')
            bad |= int_arg("--partitions", optarg, 1, 10000, &r->partitions);
        else if (o == 'r')
            bad |= int_arg("--replication-factor", optarg, 1, 32, &r->rf);
        else if (o == 's')
            bad |= int_arg("--retry-steps", optarg, 0, CFG_MAX_RETRY_STEPS, &r->retry_steps);
        else if (o == 'n')
            r->dry_run = 1;
        else if (o == 'h')
            return usage(stdout), EXIT_OK;
        else
            return usage(stderr), EXIT_USAGE;
    }
    if (bad)
        return EXIT_USAGE;
    if (optind >= argc || strcmp(argv[optind], "apply") != 0 || optind + 1 < argc) {
        fprintf(stderr, "stockctl topics: expected \"apply\" (see stockctl topics --help)\n");
        return EXIT_USAGE;
    }
    return -1;
}

/* librdkafka's own connection errors would repeat what the final line says,
 * from another thread and out of order: keep them for LOG_LEVEL=debug. */
static void on_rdkafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    log_debug("librdkafka %s: %s", fac, buf);
}

static int connect_admin(struct run *r, const struct cfg *c)
{
    char err[512];
    const struct kafka_prop props[] = {{"client.id", "stockctl-topics"}};
    rd_kafka_conf_t *conf =
        kafka_conf_new(c->kafka_brokers, props, 1, c->rdkafka, err, sizeof(err));
    if (!conf) {
        fprintf(stderr, "stockctl topics: %s\n", err);
        return EXIT_USAGE;
    }
    rd_kafka_conf_set_log_cb(conf, on_rdkafka_log);
    r->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!r->rk) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "stockctl topics: %s\n", err);
        return EXIT_FAIL;
    }
    r->q = rd_kafka_queue_new(r->rk);
    return EXIT_OK;
}

/* Reads, then changes what differs. Returns an exit code. */
static int apply(struct run *r, const char *brokers)
{
    char err[512] = "";
    if (read_metadata(r, err, sizeof(err))) {
        fprintf(stderr, "stockctl topics: Kafka at %s: %s\n", brokers, err);
        return EXIT_UNREACHABLE;
    }
    int failed = probe_admin_api(r, err, sizeof(err)) || describe_configs(r, err, sizeof(err));
    if (!failed && !r->dry_run) {
        failed |= create_missing(r, err, sizeof(err)) != 0;
        failed |= grow_partitions(r, err, sizeof(err)) != 0;
        failed |= alter_configs(r, err, sizeof(err)) != 0;
    }
    int errors = report(r);
    if (r->unsupported[0]) {
        print_unsupported(r);
        return EXIT_NO_ADMIN_API;
    }
    if (failed && err[0])
        fprintf(stderr, "stockctl topics: %s\n", err);
    if (failed || errors) {
        fprintf(stderr, "stockctl topics: %d topic(s) not as wanted (lines marked error)\n",
                errors);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

int cmd_topics(const struct cfg *c, int argc, char **argv)
{
    static struct run r; /* large: topic table */
    memset(&r, 0, sizeof(r));
    r.partitions = 6;
    r.rf = 1;
    r.retry_steps = (int)c->n_retry;
    int rc = parse_args(&r, argc, argv);
    if (rc >= 0)
        return rc;
    plan(&r);
    if ((rc = connect_admin(&r, c)) != EXIT_OK)
        return rc;
    if (r.dry_run)
        printf("dry run: nothing is changed\n");
    rc = apply(&r, c->kafka_brokers);
    if (r.described)
        rd_kafka_event_destroy(r.described);
    rd_kafka_queue_destroy(r.q);
    rd_kafka_destroy(r.rk);
    return rc;
}
