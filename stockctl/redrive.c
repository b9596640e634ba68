/* stockctl dlq redrive: sends dead letters back to their source topic.
 *
 * One record at a time: the original key and value, byte for byte, go to
 * x-original-topic (or --to) with one header, x-redriven-from, through an
 * idempotent producer; once the broker has acknowledged it, the DLQ offset
 * after it is committed (synchronously) in the consumer group
 * stockflow-redrive-<dlq>, which stockctl never joins. So an interrupted
 * redrive resumes where it stopped and sends nothing twice (after a kill -9,
 * at most the one record in flight). Records the filter leaves out are
 * skipped, and the position moves past them too.
 *
 * One redrive per DLQ at a time: the run holds the PostgreSQL advisory lock
 * pg_try_advisory_lock(hashtext(<dlq>)) until it ends. */
#include "arg.h"
#include "db.h"
#include "dlq.h"
#include "group.h"
#include "kread.h"
#include "out.h"
#include "rate.h"
#include "stockctl.h"
#include "stop.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern char **environ;

struct redrive_opts {
    const char *topic, *to, *filter;
    double rate;
    long limit;
    int dry_run, json, from_beginning;
};

struct delivery {
    int done;
    rd_kafka_resp_err_t err;
};

struct redrive {
    const struct redrive_opts *o;
    struct dlq_src src;
    struct kread_scan *scan;
    rd_kafka_t *producer;
    struct pg *pg;
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_partition_list_t *pos; /* next DLQ offset per partition */
    struct rate rate;
    char warm[8][256]; /* destinations whose metadata the producer has */
    int nwarm;
    long moved, skipped;
    int64_t t0_ns, first_ns, last_ns;
    char group[300];
    char err[768];
};

/* ---- the lock ----------------------------------------------------------- */

static int take_lock(struct redrive *r, const struct cfg *c)
{
    int code = EXIT_OK;
    const char *p[1] = {r->o->topic};
    int rc = db_open(c, "stockctl dlq redrive", &r->pg, r->err, sizeof(r->err));
    if (rc)
        return rc;
    PGresult *res = db_query(r->pg, "SELECT pg_try_advisory_lock(hashtext($1))", 1, p, &code,
                             r->err, sizeof(r->err));
    if (!res)
        return code;
    int got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (got)
        return EXIT_OK;
    res = db_query(r->pg,
                   "SELECT a.pid, coalesce(a.application_name, ''), "
                   "       coalesce(a.client_addr::text, 'local') "
                   "  FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                   " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                   "   AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtext($1)::bigint",
                   1, p, &code, r->err, sizeof(r->err));
    char who[256] = "another session";
    if (res && PQntuples(res) > 0)
        snprintf(who, sizeof(who), "PostgreSQL backend pid %s (%s, %s)", PQgetvalue(res, 0, 0),
                 PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
    PQclear(res);
    snprintf(r->err, sizeof(r->err),
             "another redrive of %s is running: its advisory lock is held by %s; "
             "wait for it to finish",
             r->o->topic, who);
    return EXIT_FAIL;
}

/* ---- setting up --------------------------------------------------------- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct delivery *d = m->_private;
    if (d) {
        d->err = m->err;
        d->done = 1;
    }
}

static int open_producer(struct redrive *r, const struct cfg *c)
{
    const struct kafka_prop props[] = {{"client.id", "stockctl-redrive"},
                                       {"enable.idempotence", "true"},
                                       {"acks", "all"},
                                       {"linger.ms", "0"},
                                       {"message.timeout.ms", "30000"}};
    rd_kafka_conf_t *conf = kafka_conf_new(c->kafka_brokers, props, sizeof(props) / sizeof(*props),
                                           (const char *const *)environ, r->err, sizeof(r->err));
    if (!conf)
        return EXIT_USAGE;
    kread_quiet(conf);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    char why[512];
    r->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!r->producer) {
        rd_kafka_conf_destroy(conf);
        snprintf(r->err, sizeof(r->err), "kafka producer: %s", why);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* Starting positions: the group's committed offsets, else the beginning. */
static int start_positions(struct redrive *r)
{
    rd_kafka_topic_partition_list_t *l = r->src.parts;
    int rc = EXIT_OK;
    r->pos = rd_kafka_topic_partition_list_copy(l);
    if (!r->o->from_beginning)
        rc = group_committed(r->src.rk, r->pos, r->err, sizeof(r->err));
    for (int i = 0; rc == EXIT_OK && i < l->cnt; i++) {
        int64_t *off = &r->pos->elems[i].offset;
        if (r->o->from_beginning || *off < r->src.lo[i])
            *off = r->src.lo[i];
        if (*off > r->src.hi[i])
            *off = r->src.hi[i];
    }
    return rc;
}

/* Fetches the metadata of a destination before its first record: left to
 * itself, librdkafka 2.0.2 learns a topic first named after the producer
 * connected only on its 1 s topic scan, which would stall the first record. */
static void warm_up(struct redrive *r, const char *topic)
{
    for (int i = 0; i < r->nwarm; i++)
        if (strcmp(r->warm[i], topic) == 0)
            return;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->producer, topic, NULL);
    if (rkt && rd_kafka_metadata(r->producer, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (r->nwarm < 8)
        snprintf(r->warm[r->nwarm++], sizeof(r->warm[0]), "%s", topic);
}

static int setup(struct redrive *r, const struct cfg *c)
{
    int rc = r->o->dry_run ? EXIT_OK : take_lock(r, c);
    snprintf(r->group, sizeof(r->group), "stockflow-redrive-%s", r->o->topic);
    if (rc == EXIT_OK)
        rc = dlq_src_open(&r->src, c, r->o->topic, r->group, r->err, sizeof(r->err));
    if (rc == EXIT_OK)
        rc = kread_metadata(r->src.rk, &r->md, r->err, sizeof(r->err));
    if (rc == EXIT_OK && r->o->to && !kread_topic(r->md, r->o->to)) {
        snprintf(r->err, sizeof(r->err), "--to: topic %s does not exist", r->o->to);
        rc = EXIT_NOTFOUND;
    }
    if (rc == EXIT_OK)
        rc = start_positions(r);
    if (rc == EXIT_OK && !r->o->dry_run)
        rc = open_producer(r, c);
    if (rc == EXIT_OK && r->producer && r->o->to)
        warm_up(r, r->o->to);
    if (rc == EXIT_OK)
        rc = kread_scan_start(&r->scan, r->src.rk, r->pos, r->src.hi, r->err, sizeof(r->err));
    return rc;
}

static void teardown(struct redrive *r)
{
    kread_scan_free(r->scan);
    if (r->producer) {
        rd_kafka_flush(r->producer, 10000);
        rd_kafka_destroy(r->producer);
    }
    if (r->md)
        rd_kafka_metadata_destroy(r->md);
    if (r->pos)
        rd_kafka_topic_partition_list_destroy(r->pos);
    dlq_src_close(&r->src);
    pg_free(r->pg); /* ends the session: the advisory lock goes with it */
}

/* ---- one record ----------------------------------------------------------- */

/* Waits for a token of the rate limiter; -1 when a stop was asked for. */
static int wait_token(struct redrive *r)
{
    for (;;) {
        int64_t now = out_mono_ns();
        if (rate_take(&r->rate, now) == 0)
            return 0;
        if (stop_requested())
            return -1;
        int64_t d = rate_delay_ns(&r->rate, now);
        if (d > 100000000)
            d = 100000000;
        struct timespec ts = {(time_t)(d / 1000000000), (long)(d % 1000000000)};
        nanosleep(&ts, NULL);
    }
}

/* Where m goes: the topic and partition (the original one when it goes
 * back to its source, so per-key order is as the producer chose). */
static int destination(struct redrive *r, const rd_kafka_message_t *m, const struct dlq_rec *rec,
                       const char **topic, int32_t *part)
{
    long op;
    *topic = r->o->to ? r->o->to : rec->orig_topic;
    *part = RD_KAFKA_PARTITION_UA;
    if (!**topic) {
        snprintf(r->err, sizeof(r->err),
                 "dead letter %d:%lld has no x-original-topic header: redrive it with --to TOPIC "
                 "or leave it out with --filter",
                 (int)m->partition, (long long)m->offset);
        return EXIT_FAIL;
    }
    const rd_kafka_metadata_topic_t *t = kread_topic(r->md, *topic);
    if (!t) {
        snprintf(r->err, sizeof(r->err),
                 "dead letter %d:%lld: its source topic %s does not exist (use --to TOPIC)",
                 (int)m->partition, (long long)m->offset, *topic);
        return EXIT_NOTFOUND;
    }
    if (!r->o->to && arg_long(rec->orig_partition, 0, INT32_MAX, &op, NULL, 0) == 0 &&
        op < t->partition_cnt)
        *part = (int32_t)op;
    return EXIT_OK;
}

/* Saves the position (next DLQ offset of every partition) in the group. */
static int commit_pos(struct redrive *r, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(r->pos);
    rd_kafka_resp_err_t e = rd_kafka_commit(r->src.rk, c, 0);
    for (int i = 0; !e && i < c->cnt; i++)
        e = c->elems[i].err;
    rd_kafka_topic_partition_list_destroy(c);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return EXIT_OK;
    snprintf(err, errlen, "saving the redrive position in group %s: %s", r->group,
             rd_kafka_err2str(e));
    return EXIT_UNREACHABLE;
}

static int is_outage(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT || e == RD_KAFKA_RESP_ERR__TIMED_OUT ||
           e == RD_KAFKA_RESP_ERR__TRANSPORT || e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
}

/* Produces m's key and value to dest and waits for the acknowledgement
 * (message.timeout.ms bounds the wait: librdkafka always reports). */
static int send_one(struct redrive *r, const rd_kafka_message_t *m, const char *dest, int32_t part)
{
    char from[400];
    struct delivery d = {0};
    snprintf(from, sizeof(from), "%s:%d:%lld", r->o->topic, (int)m->partition,
             (long long)m->offset);
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, "x-redriven-from", -1, from, -1);
    rd_kafka_resp_err_t e =
        rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC(dest), RD_KAFKA_V_PARTITION(part),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(m->payload, m->len),
                          RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(&d), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(h); /* librdkafka owns it only on success */
        snprintf(r->err, sizeof(r->err), "dead letter %s: produce to %s: %s", from, dest,
                 rd_kafka_err2str(e));
        return EXIT_FAIL;
    }
    while (!d.done)
        rd_kafka_poll(r->producer, 50);
    if (d.err) {
        snprintf(r->err, sizeof(r->err), "dead letter %s not redriven to %s: %s", from, dest,
                 rd_kafka_err2str(d.err));
        return is_outage(d.err) ? EXIT_UNREACHABLE : EXIT_FAIL;
    }
    return EXIT_OK;
}

static const struct out_col would_cols[] = {
    {"P:OFFSET", 9}, {"TO", 24}, {"KEY", 14}, {"CLASS", 9}, {"ERROR", 0}};

static void print_would(struct redrive *r, const rd_kafka_message_t *m, const struct dlq_rec *rec,
                        const char *dest, int32_t part)
{
    char po[48], to[300], key[OUT_PREVIEW_SIZE(40)], error[OUT_PREVIEW_SIZE(80)];
    snprintf(po, sizeof(po), "%d:%lld", (int)m->partition, (long long)m->offset);
    if (part >= 0)
        snprintf(to, sizeof(to), "%s:%d", dest, (int)part);
    else
        snprintf(to, sizeof(to), "%s", dest);
    out_preview(key, sizeof(key), m->key, m->key ? m->key_len : 0, 40);
    out_preview(error, sizeof(error), rec->error, strlen(rec->error), 80);
    if (r->o->json) {
        yajl_gen g = out_json_new(0);
        out_json_open(g, NULL, 0);
        out_json_int(g, "partition", m->partition);
        out_json_int(g, "offset", m->offset);
        out_json_str(g, "to", dest);
        out_json_int(g, "to_partition", part);
        out_json_bytes(g, "key", m->key, m->key_len);
        out_json_str(g, "error_class", rec->error_class);
        out_json_str(g, "error", rec->error);
        out_json_close(g, 0);
        out_json_line(g, stdout);
        yajl_gen_free(g);
        return;
    }
    if (r->moved == 0)
        out_header(stdout, would_cols, 5);
    const char *cells[] = {po, to, m->key ? key : "(null)", rec->error_class, error};
    out_row(stdout, would_cols, 5, cells);
}

static int handle(struct redrive *r, const rd_kafka_message_t *m)
{
    struct dlq_rec rec;
    const char *dest;
    int32_t part;
    int i = 0;
    while (i < r->pos->cnt - 1 && r->pos->elems[i].partition != m->partition)
        i++;
    dlq_rec_read(m, &rec);
    if (!dlq_rec_match(m, &rec, r->o->filter)) {
        r->skipped++;
        r->pos->elems[i].offset = m->offset + 1;
        return EXIT_OK;
    }
    int rc = destination(r, m, &rec, &dest, &part);
    if (rc)
        return rc;
    if (r->o->dry_run) {
        print_would(r, m, &rec, dest, part);
        r->moved++;
        return EXIT_OK;
    }
    warm_up(r, dest);
    if (wait_token(r))
        return EXIT_OK; /* stopping: not sent, position unchanged */
    if ((rc = send_one(r, m, dest, part)) != EXIT_OK)
        return rc;
    r->pos->elems[i].offset = m->offset + 1;
    if ((rc = commit_pos(r, r->err, sizeof(r->err))) != EXIT_OK)
        return rc;
    r->moved++;
    return EXIT_OK;
}

/* ---- the run ------------------------------------------------------------- */

static int run(struct redrive *r)
{
    struct out_progress prog;
    int rc = EXIT_OK, got;
    out_progress_init(&prog);
    r->t0_ns = out_mono_ns();
    rate_init(&r->rate, r->o->rate, 1, r->t0_ns);
    while (rc == EXIT_OK && !stop_requested() && (r->o->limit == 0 || r->moved < r->o->limit)) {
        rd_kafka_message_t *m;
        if ((got = kread_scan_next(r->scan, &m, r->err, sizeof(r->err))) <= 0) {
            rc = got < 0 ? EXIT_UNREACHABLE : EXIT_OK;
            break;
        }
        rc = handle(r, m);
        rd_kafka_message_destroy(m);
        out_progress(&prog, "redrive %s: moved %ld, skipped %ld, %lld to go", r->o->topic, r->moved,
                     r->skipped, (long long)kread_scan_left(r->scan));
    }
    out_progress_done(&prog);
    r->last_ns = out_mono_ns();
    if (!r->o->dry_run && r->skipped > 0) { /* the skipped tail after the last moved */
        char err[512];
        int c = commit_pos(r, err, sizeof(err));
        if (rc == EXIT_OK && c != EXIT_OK) {
            rc = c;
            snprintf(r->err, sizeof(r->err), "%s", err);
        }
    }
    return rc;
}

static void summary(const struct redrive *r, int rc)
{
    double s = (double)(r->last_ns - r->t0_ns) / 1e9;
    const char *to = r->o->to ? r->o->to : "their x-original-topic";
    if (r->o->json) {
        yajl_gen g = out_json_new(0);
        out_json_open(g, NULL, 0);
        out_json_str(g, "topic", r->o->topic);
        out_json_bool(g, "dry_run", r->o->dry_run);
        out_json_int(g, "moved", r->moved);
        out_json_int(g, "skipped", r->skipped);
        out_json_num(g, "seconds", s);
        out_json_bool(g, "complete", rc == EXIT_OK && !stop_requested());
        out_json_str(g, "group", r->group);
        out_json_close(g, 0);
        out_json_line(g, stdout);
        yajl_gen_free(g);
    } else if (r->o->dry_run) {
        printf("dry run: would move %ld dead letter(s) from %s to %s, skip %ld (filtered out); "
               "nothing was produced and no position was saved\n",
               r->moved, r->o->topic, to, r->skipped);
    } else {
        char rate[48] = "";
        if (r->moved > 1 && s > 0)
            snprintf(rate, sizeof(rate), " (%.1f/s)", (double)r->moved / s);
        printf("moved %ld dead letter(s) from %s to %s in %.2f s%s, skipped %ld (filtered "
               "out)%s; position saved in consumer group %s\n",
               r->moved, r->o->topic, to, s, rate, r->skipped,
               stop_requested() ? ", interrupted: run again to resume" : "", r->group);
    }
}

/* ---- arguments ------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: stockctl dlq redrive TOPIC [--to TOPIC] [--filter S] [--rate N] [--limit N]\n"
            "                            [--dry-run] [--from-beginning] [--json]\n"
            "Sends the dead letters of TOPIC back to the topic in their x-original-topic header\n"
            "(on their original partition), or to --to TOPIC: the original key and value byte\n"
            "for byte, with one header, x-redriven-from: <dlq>:<partition>:<offset>. Applying\n"
            "is idempotent, so a record that had been applied changes nothing.\n"
            "Each record is acknowledged by the broker before the next is sent, and the\n"
            "position after it is saved at once in consumer group stockflow-redrive-<TOPIC>:\n"
            "an interrupted redrive (Ctrl-C) resumes where it stopped and repeats nothing.\n"
            "Only one redrive per DLQ runs at a time (a PostgreSQL advisory lock on the\n"
            "topic name); a second one is refused. Reads up to the end of TOPIC as of the start.\n"
            "  --to TOPIC        send everything to TOPIC instead\n"
            "  --filter S        only dead letters whose key, payload or x-error contains S;\n"
            "                    the others are skipped, and the saved position passes them\n"
            "  --rate N          at most N records per second (default 100)\n"
            "  --limit N         stop after moving N records\n"
            "  --dry-run         print what would move; produce nothing, save nothing\n"
            "  --from-beginning  ignore the saved position: start at the oldest dead letter\n"
            "                    (records moved before are sent again; harmless, idempotent)\n"
            "  --json            the summary (and with --dry-run each record) as JSON lines\n"
            "Progress goes to stderr, the summary (moved, skipped) to stdout.\n"
            "Exit codes: 0 ok, 1 failed, refused (another redrive runs) or interrupted,\n"
            "2 bad usage, 3 PostgreSQL or Kafka unreachable, 4 no such topic.\n");
}

/* Returns EXIT_OK, EXIT_USAGE, or -1 after --help. */
static int parse(struct redrive_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"to", required_argument, NULL, 't'},
                                         {"filter", required_argument, NULL, 'f'},
                                         {"rate", required_argument, NULL, 'r'},
                                         {"limit", required_argument, NULL, 'n'},
                                         {"dry-run", no_argument, NULL, 'd'},
                                         {"from-beginning", no_argument, NULL, 'b'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    char err[256];
    int opt;
    opterr = 0;
    optind = 0;
    while ((opt = getopt_long(argc, argv, ":t:f:r:n:dbjh", opts, NULL)) != -1) {
        if (opt == 't')
            o->to = optarg;
        else if (opt == 'f')
            o->filter = optarg;
        else if (opt == 'r' && arg_rate(optarg, &o->rate, err, sizeof(err)))
            return fprintf(stderr, "stockctl dlq redrive: --rate %s\n", err), EXIT_USAGE;
        else if (opt == 'n' && arg_long(optarg, 1, 1000000000L, &o->limit, err, sizeof(err)))
            return fprintf(stderr, "stockctl dlq redrive: --limit %s\n", err), EXIT_USAGE;
        else if (opt == 'd' || opt == 'b' || opt == 'j')
            *(opt == 'd' ? &o->dry_run : opt == 'b' ? &o->from_beginning : &o->json) = 1;
        else if (opt == 'h')
            return usage(stdout), -1;
        else if (opt != 'r' && opt != 'n')
            return arg_bad_option("dlq redrive", opt, argv), EXIT_USAGE;
    }
    if (argc - optind != 1) {
        fprintf(stderr, "stockctl dlq redrive: expected one TOPIC (see stockctl dlq redrive "
                        "--help)\n");
        return EXIT_USAGE;
    }
    o->topic = argv[optind];
    return EXIT_OK;
}

int dlq_redrive(const struct cfg *c, int argc, char **argv)
{
    struct redrive_opts o = {.rate = 100};
    struct redrive r;
    int rc = parse(&o, argc, argv);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    memset(&r, 0, sizeof(r));
    r.o = &o;
    stop_catch();
    rc = setup(&r, c);
    if (rc == EXIT_OK) {
        rc = run(&r);
        summary(&r, rc);
    }
    if (rc != EXIT_OK)
        fprintf(stderr, "stockctl dlq redrive: %s\n", r.err);
    teardown(&r);
    return rc == EXIT_OK && stop_requested() ? EXIT_FAIL : rc;
}
