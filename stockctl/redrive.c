/* stockctl dlq redrive: sends dead letters back to their source topic.
 *
 * One record at a time: the original key and value, byte for byte, go to
 * the DLQ's own source topic (its name without ".dlq") or --to, with two
 * headers, x-redriven-from and x-redrive-count, through an
 * idempotent producer; once the broker has acknowledged it, the DLQ offset
 * after it is committed (synchronously) in the consumer group
 * stockflow-redrive-<dlq>, which stockctl never joins. So an interrupted
 * redrive resumes where it stopped and sends nothing twice (after a kill -9,
 * at most the one record in flight). A partition's saved position never
 * passes a record left behind (filtered out, refused, held back): a later
 * redrive without --filter reaches it. The records moved after it are kept
 * with the position (struct done), so that later run does not send them
 * again.
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

/* Offsets at or after a partition's saved position that were moved already
 * (a record before them was left behind: filtered out, refused, held back).
 * Saved with the position as the commit's metadata, "done:5-9,12", so the
 * next run neither passes the record left behind nor sends these again. */
struct done {
    int64_t (*r)[2]; /* sorted, disjoint, non-adjacent ranges [lo, hi] */
    int n, cap;
};

#define DONE_META_MAX 3000 /* bytes of commit metadata: far below any broker's limit */

static int done_has(const struct done *d, int64_t off)
{
    for (int k = 0; k < d->n; k++)
        if (off >= d->r[k][0] && off <= d->r[k][1])
            return 1;
    return 0;
}

static int done_add(struct done *d, int64_t off)
{
    int k = 0;
    while (k < d->n && d->r[k][1] < off - 1)
        k++;
    if (k < d->n && off >= d->r[k][0] - 1) { /* joins range k */
        if (off < d->r[k][0])
            d->r[k][0] = off;
        if (off > d->r[k][1])
            d->r[k][1] = off;
        if (k + 1 < d->n && d->r[k + 1][0] <= d->r[k][1] + 1) {
            d->r[k][1] = d->r[k + 1][1];
            memmove(&d->r[k + 1], &d->r[k + 2], sizeof(*d->r) * (size_t)(d->n - k - 2));
            d->n--;
        }
        return 0;
    }
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 8;
        void *p = realloc(d->r, sizeof(*d->r) * (size_t)cap);
        if (!p)
            return -1;
        d->r = p;
        d->cap = cap;
    }
    memmove(&d->r[k + 1], &d->r[k], sizeof(*d->r) * (size_t)(d->n - k));
    d->r[k][0] = d->r[k][1] = off;
    d->n++;
    return 0;
}

/* Moves *pos past the ranges that start at it, and drops ranges below it. */
static void done_advance(struct done *d, int64_t *pos)
{
    int k = 0;
    while (k < d->n && d->r[k][0] <= *pos) {
        if (d->r[k][1] + 1 > *pos)
            *pos = d->r[k][1] + 1;
        k++;
    }
    if (k == 0)
        return; /* nothing passed (d->r may still be NULL: no memmove) */
    memmove(&d->r[0], &d->r[k], sizeof(*d->r) * (size_t)(d->n - k));
    d->n -= k;
}

/* "done:5-9,12"; returns -1 when it does not fit in len. */
static int done_format(const struct done *d, char *out, size_t len)
{
    size_t n = (size_t)snprintf(out, len, "done:");
    for (int k = 0; k < d->n && n < len; k++)
        n += (size_t)(d->r[k][0] == d->r[k][1]
                          ? snprintf(out + n, len - n, "%s%lld", k ? "," : "",
                                     (long long)d->r[k][0])
                          : snprintf(out + n, len - n, "%s%lld-%lld", k ? "," : "",
                                     (long long)d->r[k][0], (long long)d->r[k][1]));
    return n < len ? 0 : -1;
}

/* Reads what done_format wrote; anything else reads as nothing done. */
static void done_parse(struct done *d, const void *meta, size_t len)
{
    char buf[DONE_META_MAX + 1], *p, *end;
    if (!meta || len < 5 || len > DONE_META_MAX)
        return;
    memcpy(buf, meta, len);
    buf[len] = '\0';
    if (strncmp(buf, "done:", 5))
        return;
    for (p = buf + 5; *p; p = *end ? end + 1 : end) {
        long long lo = strtoll(p, &end, 10), hi = lo;
        if (end == p)
            return;
        if (*end == '-')
            hi = strtoll(end + 1, &end, 10);
        for (long long o = lo; o <= hi && o - lo < 1000000; o++)
            if (done_add(d, o))
                return;
        if (*end && *end != ',')
            return;
    }
}

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
    char source[256];  /* the DLQ's source topic: its name without .dlq */
    struct done *done; /* per partition: offsets moved past the saved position */
    struct dlq_src before; /* dry run: reads the dead letters named by x-redriven-from */
    long moved, skipped, refused, over, already;
    int64_t t0_ns, first_ns, last_ns;
    char group[300];
    char err[768];
    const struct cfg *cfg;
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
    rd_kafka_conf_t *conf =
        kafka_conf_new_for(RD_KAFKA_PRODUCER, c->kafka_brokers, props,
                           sizeof(props) / sizeof(*props), c->rdkafka, r->err, sizeof(r->err));
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
        rd_kafka_topic_partition_t *tp = &r->pos->elems[i];
        if (!r->o->from_beginning && tp->offset >= 0)
            done_parse(&r->done[i], tp->metadata, tp->metadata_size);
        if (r->o->from_beginning || tp->offset < r->src.lo[i])
            tp->offset = r->src.lo[i];
        if (tp->offset > r->src.hi[i])
            tp->offset = r->src.hi[i];
        done_advance(&r->done[i], &tp->offset);
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
    if (rc == EXIT_OK && dlq_source_of(r->o->topic, r->source, sizeof(r->source)) && !r->o->to) {
        snprintf(r->err, sizeof(r->err),
                 "%s is not a dead-letter topic (its name does not end in .dlq): name the "
                 "destination with --to TOPIC",
                 r->o->topic);
        rc = EXIT_USAGE;
    }
    if (rc == EXIT_OK && !(r->done = calloc((size_t)r->src.parts->cnt, sizeof(*r->done)))) {
        snprintf(r->err, sizeof(r->err), "out of memory");
        rc = EXIT_FAIL;
    }
    if (rc == EXIT_OK)
        rc = kread_metadata(r->src.rk, &r->md, r->err, sizeof(r->err));
    if (rc == EXIT_OK && r->o->to && !kread_topic(r->md, r->o->to)) {
        snprintf(r->err, sizeof(r->err), "--to: topic %s does not exist", r->o->to);
        rc = EXIT_NOTFOUND;
    }
    if (rc == EXIT_OK && !r->o->to && !kread_topic(r->md, r->source)) {
        snprintf(r->err, sizeof(r->err), "the source topic %s of %s does not exist (use --to)",
                 r->source, r->o->topic);
        rc = EXIT_NOTFOUND;
    }
    r->cfg = c;
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
    for (int i = 0; r->done && i < r->src.parts->cnt; i++)
        free(r->done[i].r);
    free(r->done);
    dlq_src_close(&r->src);
    dlq_src_close(&r->before);
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

/* Whether topic is src or one of its retry topics (src.retry.N). */
static int same_source(const char *topic, const char *src)
{
    size_t n = strlen(src);
    return strncmp(topic, src, n) == 0 &&
           (topic[n] == '\0' || strncmp(topic + n, ".retry.", 7) == 0);
}

/* Where m goes: --to, else the DLQ's source topic, on the original
 * partition when the record came from it (per-key order as the producer
 * chose). Returns EXIT_OK, or -1 when the record is refused (said on
 * stderr): its x-original-topic names another topic and no --to was given. */
static int destination(struct redrive *r, const rd_kafka_message_t *m, const struct dlq_rec *rec,
                       const char **topic, int32_t *part)
{
    long op;
    *topic = r->o->to ? r->o->to : r->source;
    *part = RD_KAFKA_PARTITION_UA;
    if (r->o->to)
        return EXIT_OK;
    if (rec->orig_topic[0] && !same_source(rec->orig_topic, r->source)) {
        fprintf(stderr,
                "stockctl dlq redrive: refused %s %d:%lld: its x-original-topic is %s, not %s "
                "(send it there with --to %s)\n",
                r->o->topic, (int)m->partition, (long long)m->offset, rec->orig_topic, r->source,
                rec->orig_topic);
        return -1;
    }
    const rd_kafka_metadata_topic_t *t = kread_topic(r->md, *topic);
    if (t && arg_long(rec->orig_partition, 0, INT32_MAX, &op, NULL, 0) == 0 &&
        op < t->partition_cnt)
        *part = (int32_t)op;
    return EXIT_OK;
}

/* Saves the position (next DLQ offset of every partition) in the group. */
static int commit_pos(struct redrive *r, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(r->pos);
    char meta[DONE_META_MAX];
    for (int i = 0; i < c->cnt; i++) {
        if (done_format(&r->done[i], meta, sizeof(meta))) {
            snprintf(err, errlen,
                     "%s [%d]: more than %d bytes of moved offsets after the records left "
                     "behind; redrive those first (or run --from-beginning)",
                     r->o->topic, (int)c->elems[i].partition, DONE_META_MAX);
            rd_kafka_topic_partition_list_destroy(c);
            return EXIT_FAIL;
        }
        free(c->elems[i].metadata);
        c->elems[i].metadata = strdup(meta);
        c->elems[i].metadata_size = c->elems[i].metadata ? strlen(meta) : 0;
    }
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
static int send_one(struct redrive *r, const rd_kafka_message_t *m, const struct dlq_rec *rec,
                    const char *dest, int32_t part)
{
    char from[400], count[24];
    struct delivery d = {0};
    snprintf(from, sizeof(from), "%s:%d:%lld", r->o->topic, (int)m->partition,
             (long long)m->offset);
    snprintf(count, sizeof(count), "%ld", rec->redrive_count + 1);
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    rd_kafka_header_add(h, "x-redriven-from", -1, from, -1);
    rd_kafka_header_add(h, "x-redrive-count", -1, count, -1);
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

static const struct out_col would_cols[] = {{"P:OFFSET", 9},  {"TO", 24},       {"KEY", 14},
                                            {"CLASS", 9},     {"BEFORE", 30},  {"ERROR", 0}};

/* Dry run: what happened the last time this record was redriven, from the
 * dead letter named by its x-redriven-from ("<dlq>:<p>:<o>"): "-" (never
 * redriven), "same error, 2 redrives", "other error, 1 redrive", or
 * "1 redrive (<why it cannot tell>)". */
static void failed_before(struct redrive *r, const struct dlq_rec *rec, char *out, size_t outlen)
{
    char topic[300], err[512];
    const char *s = rec->redriven_from, *c2 = strrchr(s, ':');
    const char *c1 = c2 && c2 > s ? memrchr(s, ':', (size_t)(c2 - s)) : NULL;
    long p, o;
    const char *plural = rec->redrive_count == 1 ? "" : "s";
    if (!s[0] && rec->redrive_count == 0) {
        snprintf(out, outlen, "-");
        return;
    }
    if (!c1 || (size_t)(c1 - s) >= sizeof(topic) ||
        arg_long(c2 + 1, 0, INT64_MAX, &o, NULL, 0)) {
        snprintf(out, outlen, "%ld redrive%s (no x-redriven-from)", rec->redrive_count, plural);
        return;
    }
    memcpy(topic, s, (size_t)(c1 - s));
    topic[c1 - s] = '\0';
    char pbuf[16];
    snprintf(pbuf, sizeof(pbuf), "%.*s", (int)(c2 - c1 - 1), c1 + 1);
    if (arg_long(pbuf, 0, INT32_MAX, &p, NULL, 0)) {
        snprintf(out, outlen, "%ld redrive%s (bad x-redriven-from)", rec->redrive_count, plural);
        return;
    }
    rd_kafka_message_t *prev = NULL;
    int rc = EXIT_OK;
    if (!r->before.rk)
        rc = dlq_src_open(&r->before, r->cfg, topic, NULL, err, sizeof(err));
    else if (strcmp(r->before.parts->elems[0].topic, topic))
        rc = EXIT_NOTFOUND; /* one DLQ per run: the common case */
    if (rc == EXIT_OK)
        rc = dlq_fetch(&r->before, topic, (int32_t)p, o, &prev, err, sizeof(err));
    if (rc != EXIT_OK) {
        snprintf(out, outlen, "%ld redrive%s (%s gone)", rec->redrive_count, plural, s);
        return;
    }
    struct dlq_rec pr;
    dlq_rec_read(prev, &pr);
    rd_kafka_message_destroy(prev);
    snprintf(out, outlen, "%s error, %ld redrive%s",
             strcmp(pr.error, rec->error) == 0 ? "same" : "other", rec->redrive_count, plural);
}

static void print_would(struct redrive *r, const rd_kafka_message_t *m, const struct dlq_rec *rec,
                        const char *dest, int32_t part)
{
    char po[48], to[300], key[OUT_PREVIEW_SIZE(40)], error[OUT_PREVIEW_SIZE(80)], before[600];
    snprintf(po, sizeof(po), "%d:%lld", (int)m->partition, (long long)m->offset);
    if (part >= 0)
        snprintf(to, sizeof(to), "%s:%d", dest, (int)part);
    else
        snprintf(to, sizeof(to), "%s", dest);
    out_preview(key, sizeof(key), m->key, m->key ? m->key_len : 0, 40);
    out_preview(error, sizeof(error), rec->error, strlen(rec->error), 80);
    failed_before(r, rec, before, sizeof(before));
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
        out_json_int(g, "redrive_count", rec->redrive_count);
        out_json_str(g, "before", before);
        out_json_close(g, 0);
        out_json_line(g, stdout);
        yajl_gen_free(g);
        return;
    }
    if (r->moved == 0)
        out_header(stdout, would_cols, 6);
    const char *cells[] = {po, to, m->key ? key : "(null)", rec->error_class, before, error};
    out_row(stdout, would_cols, 6, cells);
}

static int handle(struct redrive *r, const rd_kafka_message_t *m)
{
    struct dlq_rec rec;
    const char *dest;
    int32_t part;
    int i = 0;
    while (i < r->pos->cnt - 1 && r->pos->elems[i].partition != m->partition)
        i++;
    if (m->offset < r->pos->elems[i].offset || done_has(&r->done[i], m->offset)) {
        r->already++; /* moved by an earlier run that had left a record before it */
        return EXIT_OK;
    }
    dlq_rec_read(m, &rec);
    if (!dlq_rec_match(m, &rec, r->o->filter))
        return r->skipped++, EXIT_OK; /* not done: the position stays before it */
    char omitted[32];
    if (kafka_header_get(m, "x-value-omitted", omitted, sizeof(omitted)) == 0) {
        fprintf(stderr,
                "stockctl dlq redrive: refused %s %d:%lld: its value (%s bytes) was too large to "
                "copy; the original is %s[%s]@%s (for that topic's retention)\n",
                r->o->topic, (int)m->partition, (long long)m->offset, omitted, rec.orig_topic,
                rec.orig_partition, rec.orig_offset);
        return r->refused++, EXIT_OK;
    }
    if (destination(r, m, &rec, &dest, &part))
        return r->refused++, EXIT_OK;
    if (rec.redrive_count >= r->o->max_redrives && !r->o->force) {
        fprintf(stderr,
                "stockctl dlq redrive: held back %s %d:%lld: redriven %ld time(s) already "
                "(--max-redrives %ld; --force sends it anyway)\n",
                r->o->topic, (int)m->partition, (long long)m->offset, rec.redrive_count,
                r->o->max_redrives);
        return r->over++, EXIT_OK;
    }
    if (r->o->dry_run) {
        print_would(r, m, &rec, dest, part);
        r->moved++;
        return EXIT_OK;
    }
    warm_up(r, dest);
    if (wait_token(r))
        return EXIT_OK; /* stopping: not sent, position unchanged */
    int rc = send_one(r, m, &rec, dest, part);
    if (rc != EXIT_OK)
        return rc;
    r->moved++;
    if (done_add(&r->done[i], m->offset)) {
        snprintf(r->err, sizeof(r->err), "out of memory");
        return EXIT_FAIL;
    }
    done_advance(&r->done[i], &r->pos->elems[i].offset);
    return commit_pos(r, r->err, sizeof(r->err));
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
    if (rc == EXIT_OK && (r->refused || r->over)) {
        snprintf(r->err, sizeof(r->err),
                 "%ld dead letter(s) refused (said above: another x-original-topic, use --to; or a value "
                 "too large to copy), "
                 "%ld held back (--max-redrives %ld: use --force); they stay in %s",
                 r->refused, r->over, r->o->max_redrives, r->o->topic);
        rc = EXIT_FAIL;
    }
    return rc;
}

static void summary(const struct redrive *r, int rc)
{
    double s = (double)(r->last_ns - r->t0_ns) / 1e9;
    const char *to = r->o->to ? r->o->to : r->source;
    if (r->o->json) {
        yajl_gen g = out_json_new(0);
        out_json_open(g, NULL, 0);
        out_json_str(g, "topic", r->o->topic);
        out_json_bool(g, "dry_run", r->o->dry_run);
        out_json_int(g, "moved", r->moved);
        out_json_int(g, "skipped", r->skipped);
        out_json_int(g, "refused", r->refused);
        out_json_int(g, "held_back", r->over);
        out_json_int(g, "moved_before", r->already);
        out_json_num(g, "seconds", s);
        out_json_bool(g, "complete", rc == EXIT_OK && !stop_requested());
        out_json_str(g, "group", r->group);
        out_json_close(g, 0);
        out_json_line(g, stdout);
        yajl_gen_free(g);
    } else if (r->o->dry_run) {
        printf("dry run: would move %ld dead letter(s) from %s to %s, skip %ld (filtered out), "
               "refuse %ld, hold back %ld; nothing was produced and no position was saved\n",
               r->moved, r->o->topic, to, r->skipped, r->refused, r->over);
    } else {
        char rate[48] = "";
        if (r->moved > 1 && s > 0)
            snprintf(rate, sizeof(rate), " (%.1f/s)", (double)r->moved / s);
        printf("moved %ld dead letter(s) from %s to %s in %.2f s%s, skipped %ld (filtered "
               "out), refused %ld, held back %ld, %ld moved by an earlier run%s; position saved in "
               "consumer group %s\n",
               r->moved, r->o->topic, to, s, rate, r->skipped, r->refused, r->over, r->already,
               stop_requested() ? ", interrupted: run again to resume" : "", r->group);
    }
}

/* ---- arguments ------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: stockctl dlq redrive TOPIC [--to TOPIC] [--filter S] [--rate N] [--limit N]\n"
            "                            [--max-redrives N] [--force] [--dry-run]\n"
            "                            [--from-beginning] [--json]\n"
            "Sends the dead letters of TOPIC (NAME.dlq) back to their source topic NAME (on\n"
            "their original partition), or to --to TOPIC: the original key and value byte for\n"
            "byte, with two headers: x-redriven-from: <dlq>:<partition>:<offset> and\n"
            "x-redrive-count: N (the dead letter's own x-redrive-count + 1; the workers copy\n"
            "both onto the record should it fail again). Applying is idempotent, so a record\n"
            "that had been applied changes nothing.\n"
            "A dead letter whose x-original-topic names another topic is refused unless --to\n"
            "is given; one redriven --max-redrives times already is held back unless --force.\n"
            "Each record is acknowledged by the broker before the next is sent, and the\n"
            "position after it is saved at once in consumer group stockflow-redrive-<TOPIC>:\n"
            "an interrupted redrive (Ctrl-C) resumes where it stopped and repeats nothing.\n"
            "The position never passes a record left behind (filtered out, refused, held\n"
            "back): a later redrive reaches it, and skips what was moved after it already\n"
            "(kept with the position, as the commit's metadata).\n"
            "Only one redrive per DLQ runs at a time (a PostgreSQL advisory lock on the\n"
            "topic name); a second one is refused. Reads up to the end of TOPIC as of the start.\n"
            "  --to TOPIC        send everything to TOPIC instead\n"
            "  --filter S        only dead letters whose key, payload or x-error contains S\n"
            "  --rate N          at most N records per second (default 100)\n"
            "  --limit N         stop after moving N records\n"
            "  --max-redrives N  hold back dead letters redriven N times already (default 3)\n"
            "  --force           redrive those too\n"
            "  --dry-run         print what would move, and in BEFORE whether the record failed\n"
            "                    the same way after its last redrive; produce and save nothing\n"
            "  --from-beginning  ignore the saved position: start at the oldest dead letter\n"
            "                    (records moved before are sent again; harmless, idempotent)\n"
            "  --json            the summary (and with --dry-run each record) as JSON lines\n"
            "Progress goes to stderr, the summary (moved, skipped, refused, held back) to stdout.\n"
            "Exit codes: 0 ok, 1 failed, refused (another redrive runs), interrupted, or\n"
            "records refused or held back, 2 bad usage, 3 PostgreSQL or Kafka unreachable,\n"
            "4 no such topic.\n");
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
                                         {"max-redrives", required_argument, NULL, 'm'},
                                         {"force", no_argument, NULL, 'F'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    char err[256];
    int opt;
    opterr = 0;
    optind = 0;
    while ((opt = getopt_long(argc, argv, ":t:f:r:n:m:Fdbjh", opts, NULL)) != -1) {
        if (opt == 't')
            o->to = optarg;
        else if (opt == 'f')
            o->filter = optarg;
        else if (opt == 'r' && arg_rate(optarg, &o->rate, err, sizeof(err)))
            return fprintf(stderr, "stockctl dlq redrive: --rate %s\n", err), EXIT_USAGE;
        else if (opt == 'n' && arg_long(optarg, 1, 1000000000L, &o->limit, err, sizeof(err)))
            return fprintf(stderr, "stockctl dlq redrive: --limit %s\n", err), EXIT_USAGE;
        else if (opt == 'm' && arg_long(optarg, 1, 1000000L, &o->max_redrives, err, sizeof(err)))
            return fprintf(stderr, "stockctl dlq redrive: --max-redrives %s\n", err), EXIT_USAGE;
        else if (opt == 'F')
            o->force = 1;
        else if (opt == 'd' || opt == 'b' || opt == 'j')
            *(opt == 'd' ? &o->dry_run : opt == 'b' ? &o->from_beginning : &o->json) = 1;
        else if (opt == 'h')
            return usage(stdout), -1;
        else if (opt != 'r' && opt != 'n' && opt != 'm')
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

int dlq_redrive_run(const struct cfg *c, const struct redrive_opts *o,
                    struct dlq_redrive_result *res, char *err, size_t errlen)
{
    struct redrive r;
    memset(&r, 0, sizeof(r));
    r.o = o;
    int rc = setup(&r, c);
    if (rc == EXIT_OK)
        rc = run(&r);
    res->moved = r.moved;
    res->skipped = r.skipped;
    res->refused = r.refused;
    res->held_back = r.over;
    res->moved_before = r.already;
    res->seconds = rc == EXIT_OK ? (double)(r.last_ns - r.t0_ns) / 1e9 : 0;
    snprintf(res->group, sizeof(res->group), "%s", r.group);
    if (rc)
        snprintf(err, errlen, "%s", r.err);
    teardown(&r);
    return rc == EXIT_OK && stop_requested() ? EXIT_FAIL : rc;
}

int dlq_redrive(const struct cfg *c, int argc, char **argv)
{
    struct redrive_opts o = REDRIVE_OPTS_INIT;
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
