/* stockctl replay ROLE: resets the role's consumer group so its workers read
 * their topics again, from the beginning or from a time. Refuses while the
 * group has live members. Applying is idempotent (DESIGN §5.3), so a replay
 * changes nothing; with --wait it proves it: it waits until the group has
 * caught up and compares processed_events before and after. */
#include "arg.h"
#include "db.h"
#include "group.h"
#include "kread.h"
#include "out.h"
#include "roles.h"
#include "stockctl.h"
#include "stop.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ROLE_TOPICS (8 + 4 * CFG_MAX_RETRY_STEPS)

struct replay_opts {
    const struct role *role;
    int from_beginning, json, dry_run;
    int64_t from_ms;
    double wait_s; /* < 0: do not wait */
};

struct replay {
    const struct replay_opts *o;
    const struct cfg *c;
    struct pg *pg;
    rd_kafka_t *rk;                       /* metadata, watermarks, reading by time */
    rd_kafka_topic_partition_list_t *l;   /* every partition: the new offsets */
    rd_kafka_topic_partition_list_t *old; /* committed before */
    int64_t *lo, *hi;
    long long before, reread;
    int cannot_tell;
    char err[768];
};

static int count_events(struct replay *r, long long *n)
{
    int code = EXIT_OK;
    PGresult *res = db_query(r->pg, "SELECT count(*) FROM processed_events", 0, NULL, &code, r->err,
                             sizeof(r->err));
    if (!res)
        return code;
    *n = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return EXIT_OK;
}

/* Every partition of the role's topics (optional retry topics skipped when
 * the cluster does not have them). */
static int role_partitions(struct replay *r)
{
    struct role_topic t[MAX_ROLE_TOPICS];
    const struct rd_kafka_metadata *md;
    size_t n = roles_topics(r->o->role, r->c->n_retry, t, MAX_ROLE_TOPICS);
    int rc = kread_metadata(r->rk, &md, r->err, sizeof(r->err));
    if (rc)
        return rc;
    r->l = rd_kafka_topic_partition_list_new(32);
    for (size_t i = 0; i < n && rc == EXIT_OK; i++) {
        const rd_kafka_metadata_topic_t *mt = kread_topic(md, t[i].name);
        if (!mt && !t[i].optional) {
            snprintf(r->err, sizeof(r->err), "topic %s of group %s does not exist", t[i].name,
                     r->o->role->group);
            rc = EXIT_NOTFOUND;
        }
        for (int p = 0; mt && p < mt->partition_cnt; p++)
            rd_kafka_topic_partition_list_add(r->l, t[i].name, mt->partitions[p].id);
    }
    rd_kafka_metadata_destroy(md);
    if (rc == EXIT_OK) {
        rd_kafka_topic_partition_list_sort(r->l, NULL, NULL);
        r->lo = calloc((size_t)r->l->cnt + 1, sizeof(*r->lo));
        r->hi = calloc((size_t)r->l->cnt + 1, sizeof(*r->hi));
        if (!r->lo || !r->hi)
            return snprintf(r->err, sizeof(r->err), "out of memory"), EXIT_FAIL;
        rc = kread_watermarks(r->rk, r->l, r->lo, r->hi, r->err, sizeof(r->err));
    }
    return rc;
}

/* Refuses when the broker reports live members; notes when it cannot tell. */
static int check_idle(struct replay *r)
{
    int members = 0;
    char desc[512] = "";
    int rc = group_members(r->c, r->o->role->group, &members, desc, sizeof(desc), r->err,
                           sizeof(r->err));
    if (rc)
        return rc;
    r->cannot_tell = members < 0;
    if (members > 0) {
        snprintf(r->err, sizeof(r->err),
                 "group %s has %d live member(s): %s; stop its workers first", r->o->role->group,
                 members, desc);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

static int targets(struct replay *r)
{
    int rc = EXIT_OK;
    if (r->o->from_beginning) {
        for (int i = 0; i < r->l->cnt; i++)
            r->l->elems[i].offset = r->lo[i];
    } else {
        rc = kread_offsets_for_time(r->rk, r->l, r->o->from_ms, r->lo, r->hi, r->err,
                                    sizeof(r->err));
    }
    r->reread = 0;
    for (int i = 0; rc == EXIT_OK && i < r->l->cnt; i++)
        r->reread += r->hi[i] - r->l->elems[i].offset;
    return rc;
}

static int committed_before(struct replay *r)
{
    rd_kafka_t *g = group_handle(r->c, r->o->role->group, r->err, sizeof(r->err));
    if (!g)
        return EXIT_USAGE;
    r->old = rd_kafka_topic_partition_list_copy(r->l);
    int rc = group_committed(g, r->old, r->err, sizeof(r->err));
    rd_kafka_destroy(g);
    return rc;
}

/* ---- output --------------------------------------------------------------- */

static const struct out_col cols[] = {{"TOPIC", 26}, {"PART", 4}, {"OLD", 10},
                                      {"NEW", 10},   {"END", 10}, {"RE-READ", 0}};

static void print_reset_json(const struct replay *r, const char *from)
{
    yajl_gen g = out_json_new(0);
    out_json_open(g, NULL, 0);
    out_json_str(g, "event", r->o->dry_run ? "would_reset" : "reset");
    out_json_str(g, "group", r->o->role->group);
    out_json_str(g, "from", r->o->from_beginning ? "beginning" : from);
    out_json_int(g, "partitions", r->l->cnt);
    out_json_int(g, "reread", r->reread);
    out_json_int(g, "processed_events", r->before);
    out_json_close(g, 0);
    out_json_line(g, stdout);
    yajl_gen_free(g);
}

static void print_reset_table(const struct replay *r, const char *from)
{
    out_header(stdout, cols, 6);
    for (int i = 0; i < r->l->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &r->l->elems[i];
        char v[5][24];
        snprintf(v[0], 24, "%d", (int)tp->partition);
        snprintf(v[1], 24, "%lld", (long long)r->old->elems[i].offset);
        snprintf(v[2], 24, "%lld", (long long)tp->offset);
        snprintf(v[3], 24, "%lld", (long long)r->hi[i]);
        snprintf(v[4], 24, "%lld", (long long)(r->hi[i] - tp->offset));
        const char *cells[] = {tp->topic, v[0], v[1], v[2], v[3], v[4]};
        out_row(stdout, cols, 6, cells);
    }
    if (r->o->dry_run)
        printf("dry run: would reset group %s to %s on %d partitions: %lld events would be "
               "re-read (processed_events: %lld); nothing was committed\n",
               r->o->role->group, from, r->l->cnt, r->reread, r->before);
    else
        printf("reset group %s to %s on %d partitions: %lld events will be re-read "
               "(processed_events: %lld)\n",
               r->o->role->group, from, r->l->cnt, r->reread, r->before);
}

static void print_reset(const struct replay *r)
{
    char from[64] = "the earliest offsets";
    if (!r->o->from_beginning)
        out_time(r->o->from_ms, from, sizeof(from));
    if (r->o->json)
        print_reset_json(r, from);
    else
        print_reset_table(r, from);
    if (r->cannot_tell && r->o->dry_run)
        fprintf(stderr, "note: the broker cannot describe consumer groups (no DescribeGroups, "
                        "e.g. the development broker): whether the group has live members is "
                        "only found out by the reset itself\n");
    else if (r->cannot_tell)
        fprintf(stderr, "note: the broker cannot describe consumer groups (no DescribeGroups, "
                        "e.g. the development broker); stockctl committed as the group's only "
                        "member, which a live member would have prevented\n");
    fflush(stdout);
}

/* ---- waiting for the workers ----------------------------------------------- */

/* Events still to re-read: what the group's committed offsets lack of the
 * ends as of the reset. */
static int still_to_read(struct replay *r, rd_kafka_t *g, long long *left)
{
    rd_kafka_topic_partition_list_t *now = rd_kafka_topic_partition_list_copy(r->l);
    int rc = group_committed(g, now, r->err, sizeof(r->err));
    *left = 0;
    for (int i = 0; rc == EXIT_OK && i < now->cnt; i++) {
        int64_t at = now->elems[i].offset >= 0 ? now->elems[i].offset : r->l->elems[i].offset;
        *left += at < r->hi[i] ? r->hi[i] - at : 0;
    }
    rd_kafka_topic_partition_list_destroy(now);
    return rc;
}

static void print_done(const struct replay *r, long long after, double s)
{
    if (r->o->json) {
        yajl_gen g = out_json_new(0);
        out_json_open(g, NULL, 0);
        out_json_str(g, "event", "caught_up");
        out_json_str(g, "group", r->o->role->group);
        out_json_int(g, "reread", r->reread);
        out_json_int(g, "applied", after - r->before);
        out_json_int(g, "processed_events", after);
        out_json_num(g, "seconds", s);
        out_json_close(g, 0);
        out_json_line(g, stdout);
        yajl_gen_free(g);
        return;
    }
    printf("caught up after %.1f s: re-read %lld events, applied %lld (processed_events %lld -> "
           "%lld)\n",
           s, r->reread, after - r->before, r->before, after);
}

static int wait_caught_up(struct replay *r)
{
    rd_kafka_t *g = group_handle(r->c, r->o->role->group, r->err, sizeof(r->err));
    if (!g)
        return EXIT_USAGE;
    struct out_progress prog;
    long long left = 0, after = 0;
    int64_t t0 = out_mono_ns(), limit = t0 + (int64_t)(r->o->wait_s * 1e9);
    int rc;
    out_progress_init(&prog);
    while ((rc = still_to_read(r, g, &left)) == EXIT_OK && left > 0) {
        if (out_mono_ns() >= limit || stop_requested()) {
            snprintf(r->err, sizeof(r->err),
                     "%s: %lld of %lld events still to re-read after %.0f s", r->o->role->group,
                     left, r->reread, (out_mono_ns() - t0) / 1e9);
            rc = EXIT_FAIL;
            break;
        }
        out_progress(&prog, "replay %s: %lld of %lld events still to re-read", r->o->role->name,
                     left, r->reread);
        nanosleep(&(struct timespec){.tv_nsec = 500 * 1000000}, NULL);
    }
    out_progress_done(&prog);
    rd_kafka_destroy(g);
    if (rc == EXIT_OK && (rc = count_events(r, &after)) == EXIT_OK)
        print_done(r, after, (out_mono_ns() - t0) / 1e9);
    return rc;
}

/* ---- the command ------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: stockctl replay ROLE --from-beginning | --from-time T [--wait SECONDS] "
            "[--dry-run] [--json]\n"
            "Resets the consumer group of ROLE (%s: group stockflow-ROLE,\n"
            "the topics of `stockctl lag`, retry topics included) on every partition, to the\n"
            "earliest offset or to the first record at or after time T, so its workers read\n"
            "again. Prints, per partition, the old and new committed offset, and how many\n"
            "events will be re-read (end - new offset). Applying is idempotent: nothing changes\n"
            "(poison records do go to the DLQ again).\n"
            "Refuses (exit 1) while the group has live members: stop the role's workers, run\n"
            "this, start them again. On Kafka the members come from ListGroups/DescribeGroups\n"
            "and stockctl never joins the group. Only the development broker, which has\n"
            "neither request and refuses commits from outside an existing group, is checked\n"
            "by joining the group (stockctl must be given every partition; live members see\n"
            "a rebalance).\n"
            "  --dry-run         print what would be re-read (old, new offset per partition);\n"
            "                    commit nothing, join nothing\n"
            "  --from-beginning  the earliest offset still in each partition\n"
            "  --from-time T     2026-11-27T10:00:00Z, 2026-11-27, epoch milliseconds, or an\n"
            "                    age such as 30m, 2h\n"
            "  --wait SECONDS    then wait until the group has caught up again (start the\n"
            "                    workers meanwhile) and print how many events were re-read and\n"
            "                    how many applied (the processed_events delta: 0 when idempotent)\n"
            "  --json            JSON lines instead of the table\n"
            "Exit codes: 0 ok, 1 refused, failed or not caught up in time, 2 bad usage,\n"
            "3 PostgreSQL or Kafka unreachable, 4 a topic of the role does not exist.\n",
            roles_names());
}

static int parse_opt(struct replay_opts *o, int opt, char **argv)
{
    char err[256];
    switch (opt) {
    case 'b':
        o->from_beginning = 1;
        return EXIT_OK;
    case 't':
        if (arg_time_ms(optarg, out_now_ms(), &o->from_ms, err, sizeof(err)))
            return fprintf(stderr, "stockctl replay: --from-time %s\n", err), EXIT_USAGE;
        return EXIT_OK;
    case 'w': {
        long s;
        if (arg_long(optarg, 0, 86400, &s, err, sizeof(err)))
            return fprintf(stderr, "stockctl replay: --wait %s\n", err), EXIT_USAGE;
        o->wait_s = (double)s;
        return EXIT_OK;
    }
    case 'j':
        o->json = 1;
        return EXIT_OK;
    case 'd':
        o->dry_run = 1;
        return EXIT_OK;
    case 'h':
        usage(stdout);
        return -1;
    default:
        arg_bad_option("replay", opt, argv);
        return EXIT_USAGE;
    }
}

static int parse(struct replay_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {
        {"from-beginning", no_argument, NULL, 'b'}, {"from-time", required_argument, NULL, 't'},
        {"wait", required_argument, NULL, 'w'},     {"json", no_argument, NULL, 'j'},
        {"dry-run", no_argument, NULL, 'd'},        {"help", no_argument, NULL, 'h'},
        {0}};
    int opt, rc;
    o->from_ms = -1;
    o->wait_s = -1;
    opterr = 0;
    optind = 0;
    while ((opt = getopt_long(argc, argv, ":bt:w:djh", opts, NULL)) != -1)
        if ((rc = parse_opt(o, opt, argv)) != EXIT_OK)
            return rc;
    if (argc - optind != 1) {
        fprintf(stderr, "stockctl replay: expected one ROLE (%s; see stockctl replay --help)\n",
                roles_names());
        return EXIT_USAGE;
    }
    if (!(o->role = roles_find(argv[optind]))) {
        fprintf(stderr, "stockctl replay: unknown role \"%s\": expected one of %s\n", argv[optind],
                roles_names());
        return EXIT_USAGE;
    }
    if (o->from_beginning == (o->from_ms >= 0)) {
        fprintf(stderr, "stockctl replay: give exactly one of --from-beginning and --from-time T "
                        "(see stockctl replay --help)\n");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

static int replay_run(struct replay *r)
{
    const struct kafka_prop props[] = {{"enable.partition.eof", "true"},
                                       {"enable.auto.commit", "false"},
                                       {"client.id", "stockctl"},
                                       {"group.id", KREAD_GROUP}};
    int rc = db_open(r->c, "stockctl replay", &r->pg, r->err, sizeof(r->err));
    if (rc == EXIT_OK)
        rc = count_events(r, &r->before);
    if (rc == EXIT_OK &&
        !(r->rk = kread_client(r->c, RD_KAFKA_CONSUMER, props, 4, r->err, sizeof(r->err))))
        rc = EXIT_USAGE;
    if (rc == EXIT_OK)
        rc = role_partitions(r);
    if (rc == EXIT_OK)
        rc = check_idle(r);
    if (rc == EXIT_OK)
        rc = targets(r);
    if (rc == EXIT_OK)
        rc = committed_before(r);
    if (rc == EXIT_OK && !r->o->dry_run)
        rc = group_commit(r->c, r->o->role->group, r->l, r->err, sizeof(r->err));
    if (rc == EXIT_OK)
        print_reset(r);
    if (rc == EXIT_OK && r->o->wait_s >= 0 && !r->o->dry_run)
        rc = wait_caught_up(r);
    return rc;
}

int cmd_replay(const struct cfg *c, int argc, char **argv)
{
    struct replay_opts o = {0};
    int rc = parse(&o, argc, argv);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    struct replay r = {.o = &o, .c = c};
    stop_catch();
    rc = replay_run(&r);
    if (rc)
        fprintf(stderr, "stockctl replay: %s\n", r.err);
    if (r.l)
        rd_kafka_topic_partition_list_destroy(r.l);
    if (r.old)
        rd_kafka_topic_partition_list_destroy(r.old);
    free(r.lo);
    free(r.hi);
    if (r.rk)
        rd_kafka_destroy(r.rk);
    pg_free(r.pg);
    return rc;
}
