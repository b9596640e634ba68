#include "kread.h"

#include "log.h"
#include "out.h"
#include "stockctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCAN_STALL_NS (30 * 1000000000LL)

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    log_debug("librdkafka %s: %s", fac, buf);
}

void kread_quiet(rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_log_cb(conf, quiet_log);
}

rd_kafka_t *kread_client(const struct cfg *c, rd_kafka_type_t type, const struct kafka_prop *props,
                         size_t nprops, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf =
        kafka_conf_new_for(type, c->kafka_brokers, props, nprops, c->rdkafka, err, errlen);
    if (!conf)
        return NULL;
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    char why[512];
    size_t glen = 0;
    if (rd_kafka_conf_get(conf, "group.id", NULL, &glen) != RD_KAFKA_CONF_OK)
        glen = 0;
    if (type == RD_KAFKA_CONSUMER && glen <= 1) /* librdkafka assigns only with one */
        rd_kafka_conf_set(conf, "group.id", KREAD_GROUP, why, sizeof(why));
    rd_kafka_t *rk = rd_kafka_new(type, conf, why, sizeof(why));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka client: %s", why);
    }
    return rk;
}

int kread_metadata(rd_kafka_t *rk, const struct rd_kafka_metadata **md, char *err, size_t errlen)
{
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, md, KREAD_CONNECT_MS);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return EXIT_OK;
    char bs[512] = "?";
    size_t n = sizeof(bs);
    rd_kafka_conf_get(rd_kafka_conf(rk), "bootstrap.servers", bs, &n);
    snprintf(err, errlen, "cannot reach Kafka at %s: %s", bs, rd_kafka_err2str(e));
    *md = NULL;
    return EXIT_UNREACHABLE;
}

const rd_kafka_metadata_topic_t *kread_topic(const struct rd_kafka_metadata *md, const char *name)
{
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, name) == 0 && md->topics[i].err == 0)
            return &md->topics[i];
    return NULL;
}

static int cmp_part(const void *a, const void *b)
{
    const rd_kafka_topic_partition_t *x = a, *y = b;
    return (x->partition > y->partition) - (x->partition < y->partition);
}

int kread_partitions(rd_kafka_t *rk, const char *topic, rd_kafka_topic_partition_list_t **out,
                     char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md;
    int rc = kread_metadata(rk, &md, err, errlen);
    if (rc)
        return rc;
    const rd_kafka_metadata_topic_t *t = kread_topic(md, topic);
    if (!t || t->partition_cnt == 0) {
        snprintf(err, errlen, "topic %s does not exist", topic);
        rd_kafka_metadata_destroy(md);
        return EXIT_NOTFOUND;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(t->partition_cnt);
    for (int p = 0; p < t->partition_cnt; p++)
        rd_kafka_topic_partition_list_add(l, topic, t->partitions[p].id);
    qsort(l->elems, (size_t)l->cnt, sizeof(l->elems[0]), cmp_part);
    rd_kafka_metadata_destroy(md);
    *out = l;
    return EXIT_OK;
}

int kread_watermarks(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *l, int64_t *lo,
                     int64_t *hi, char *err, size_t errlen)
{
    for (int i = 0; i < l->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &l->elems[i];
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &lo[i], &hi[i], 10000);
        if (e) {
            snprintf(err, errlen, "offsets of %s [%d]: %s", tp->topic, (int)tp->partition,
                     rd_kafka_err2str(e));
            return e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ? EXIT_NOTFOUND : EXIT_UNREACHABLE;
        }
    }
    return EXIT_OK;
}

/* ---- reading up to an end ------------------------------------------------ */

struct scan_part {
    const char *topic; /* borrowed from the assignment list */
    int32_t partition;
    int64_t next, end;
    int open;
};

struct kread_scan {
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *assigned;
    struct scan_part *p;
    int n, open;
};

int kread_scan_start(struct kread_scan **out, rd_kafka_t *rk,
                     const rd_kafka_topic_partition_list_t *from, const int64_t *end, char *err,
                     size_t errlen)
{
    struct kread_scan *s = calloc(1, sizeof(*s));
    if (s)
        s->p = calloc((size_t)from->cnt + 1, sizeof(*s->p));
    if (!s || !s->p) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return EXIT_FAIL;
    }
    s->rk = rk;
    s->assigned = rd_kafka_topic_partition_list_new(from->cnt);
    for (int i = 0; i < from->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &from->elems[i];
        if (tp->offset >= end[i])
            continue;
        rd_kafka_topic_partition_list_add(s->assigned, tp->topic, tp->partition)->offset =
            tp->offset;
    }
    for (int i = 0, k = 0; i < from->cnt; i++) {
        if (from->elems[i].offset >= end[i])
            continue;
        s->p[s->n++] = (struct scan_part){s->assigned->elems[k++].topic, from->elems[i].partition,
                                          from->elems[i].offset, end[i], 1};
    }
    s->open = s->n;
    rd_kafka_resp_err_t e = s->n ? rd_kafka_assign(rk, s->assigned) : 0;
    if (e) {
        snprintf(err, errlen, "assign: %s", rd_kafka_err2str(e));
        kread_scan_free(s);
        return EXIT_FAIL;
    }
    *out = s;
    return EXIT_OK;
}

static struct scan_part *scan_find(struct kread_scan *s, const rd_kafka_message_t *m)
{
    const char *t = rd_kafka_topic_name(m->rkt);
    for (int i = 0; i < s->n; i++)
        if (s->p[i].partition == m->partition && strcmp(s->p[i].topic, t) == 0)
            return &s->p[i];
    return NULL;
}

static void scan_close(struct kread_scan *s, struct scan_part *p)
{
    if (p->open) {
        p->open = 0;
        s->open--;
    }
}

/* Takes m when it is the next record of an open partition (1), else
 * destroys it (0). */
static int scan_take(struct kread_scan *s, rd_kafka_message_t *m)
{
    struct scan_part *p = scan_find(s, m);
    if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && p && m->offset >= p->end)
            scan_close(s, p);
        else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log_debug("reading: %s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return 0;
    }
    if (!p || !p->open || m->offset < p->next || m->offset >= p->end) {
        if (p && m->offset >= p->end)
            scan_close(s, p);
        rd_kafka_message_destroy(m);
        return 0;
    }
    p->next = m->offset + 1;
    if (p->next >= p->end)
        scan_close(s, p);
    return 1;
}

int kread_scan_next(struct kread_scan *s, rd_kafka_message_t **m, char *err, size_t errlen)
{
    int64_t idle_since = out_mono_ns();
    while (s->open > 0) {
        rd_kafka_message_t *r = rd_kafka_consumer_poll(s->rk, 200);
        if (!r) {
            if (out_mono_ns() - idle_since > SCAN_STALL_NS) {
                snprintf(err, errlen, "Kafka stopped answering: nothing read for 30 s");
                return -1;
            }
            continue;
        }
        idle_since = out_mono_ns();
        if (scan_take(s, r)) {
            *m = r;
            return 1;
        }
    }
    return 0;
}

int64_t kread_scan_left(const struct kread_scan *s)
{
    int64_t left = 0;
    for (int i = 0; i < s->n; i++)
        if (s->p[i].open)
            left += s->p[i].end - s->p[i].next;
    return left;
}

void kread_scan_free(struct kread_scan *s)
{
    if (!s)
        return;
    if (s->n)
        rd_kafka_assign(s->rk, NULL);
    rd_kafka_topic_partition_list_destroy(s->assigned);
    free(s->p);
    free(s);
}

/* ---- offsets by time ------------------------------------------------------ */

/* The first offset in [from, hi) of one partition whose timestamp is at or
 * after ts_ms, hi when none; stops at the first found. */
static int scan_for_time(rd_kafka_t *rk, const rd_kafka_topic_partition_t *tp, int64_t from,
                         int64_t hi, int64_t ts_ms, int64_t *found, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, tp->topic, tp->partition)->offset = from;
    struct kread_scan *s = NULL;
    rd_kafka_message_t *m;
    int rc = kread_scan_start(&s, rk, l, &hi, err, errlen), got;
    *found = hi;
    while (rc == EXIT_OK && (got = kread_scan_next(s, &m, err, errlen)) != 0) {
        if (got < 0) {
            rc = EXIT_UNREACHABLE;
            break;
        }
        int64_t ts = rd_kafka_message_timestamp(m, NULL);
        int64_t off = m->offset;
        rd_kafka_message_destroy(m);
        if (ts >= ts_ms) {
            *found = off;
            break;
        }
    }
    kread_scan_free(s);
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

int kread_offsets_for_time(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l, int64_t ts_ms,
                           const int64_t *lo, const int64_t *hi, char *err, size_t errlen)
{
    for (int i = 0; i < l->cnt; i++)
        l->elems[i].offset = ts_ms;
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, l, 10000);
    if (e) {
        snprintf(err, errlen, "offsets for time: %s", rd_kafka_err2str(e));
        return EXIT_UNREACHABLE;
    }
    for (int i = 0; i < l->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &l->elems[i];
        if (tp->err) {
            snprintf(err, errlen, "offsets for time of %s [%d]: %s", tp->topic, (int)tp->partition,
                     rd_kafka_err2str(tp->err));
            return EXIT_UNREACHABLE;
        }
        if (tp->offset >= 0 || hi[i] <= lo[i]) {
            if (tp->offset < 0 || tp->offset > hi[i])
                tp->offset = hi[i];
            continue;
        }
        /* "none": true only when the last record is older than ts_ms */
        int64_t last, first;
        int rc = scan_for_time(rk, tp, hi[i] - 1, hi[i], ts_ms, &last, err, errlen);
        if (rc == EXIT_OK && last < hi[i])
            rc = scan_for_time(rk, tp, lo[i], hi[i], ts_ms, &first, err, errlen);
        else
            first = hi[i];
        if (rc)
            return rc;
        tp->offset = first;
    }
    return EXIT_OK;
}
