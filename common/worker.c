#include "worker.h"

#include "evt.h"
#include "inv.h"
#include "kafka.h"
#include "log.h"
#include "outbox.h"
#include "pg.h"
#include "route.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define QUICK_ATTEMPTS 4 /* in-process tries of a transient failure */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 30000
#define MAX_BATCH_PARTS 1024
#define OUTAGE_ALERT_MS 30000 /* DESIGN §6: one alert after 30 s */
#define IDLE_MARK_MS 100 /* how often an idle payment consumer says it is caught up */

enum item_state {
    IT_PENDING = 0,
    IT_DONE,   /* applied, ignored or duplicate */
    IT_DEAD,   /* to <source>.dlq */
    IT_RETRY,  /* to <source>.retry.<n> */
    IT_REWIND, /* not finished: read it again */
    IT_WAIT,   /* a retry record not due yet: rewind and pause its partition */
};

struct item {
    rd_kafka_message_t *m;
    struct evt ev;
    int valid;
    enum item_state st;
    const char *error_class;
    char error[512];
    int64_t not_before_ms; /* IT_RETRY: when the retry is due; IT_WAIT: when to resume */
    int dr; /* retry / dead letter delivery: 0 pending, 1 acknowledged, -1 failed */
};

/* A retry partition paused until its head record is due. */
struct waiting {
    char topic[256];
    int32_t partition;
    int64_t resume_ms;
};

struct worker {
    const struct worker_role *role;
    const struct cfg *cfg;
    rd_kafka_t *consumer, *producer;
    struct pg *pg;
    struct evt_validator *val;
    struct item *items;
    struct inv_item *inv;
    size_t *inv_idx;
    size_t n;
    int paused;  /* consumption paused for an outage */
    int db_down; /* the outage is PostgreSQL's: reconnect before resuming */
    long backoff_ms;
    int64_t retry_at_ms, outage_since_ms;
    int64_t idle_mark_ms; /* last idle watermark update */
    struct inv_mark marks[MAX_BATCH_PARTS];
    struct waiting waits[MAX_BATCH_PARTS];
    size_t nwaits;
    struct outbox *outbox;
    int outage_alerted;
    char outage_why[256];
    char client_id[128];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct log_ctx item_ctx(const struct item *it)
{
    struct log_ctx c = {.event_id = it->valid ? it->ev.event_id : NULL,
                        .topic = rd_kafka_topic_name(it->m->rkt),
                        .partition = it->m->partition,
                        .offset = it->m->offset};
    return c;
}

/* ---- pausing for outages ------------------------------------------------ */

static void set_paused(struct worker *w, int pause)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(w->consumer, &parts) || !parts)
        return;
    if (pause)
        rd_kafka_pause_partitions(w->consumer, parts);
    else
        rd_kafka_resume_partitions(w->consumer, parts);
    rd_kafka_topic_partition_list_destroy(parts);
}

static void enter_outage(struct worker *w, int db, const char *why)
{
    if (!w->paused) {
        log_error("%s unavailable: %s; pausing consumption until it is back",
                  db ? "PostgreSQL" : "Kafka", why);
        w->outage_since_ms = now_ms();
        w->backoff_ms = BACKOFF_MIN_MS;
        w->outage_alerted = 0;
        snprintf(w->outage_why, sizeof(w->outage_why), "%s unavailable: %s",
                 db ? "PostgreSQL" : "Kafka", why);
    }
    w->paused = 1;
    w->db_down |= db;
    w->retry_at_ms = now_ms() + w->backoff_ms;
    set_paused(w, 1);
}

static void rewind_to(struct worker *w, const rd_kafka_message_t *m)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset =
        m->offset;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(w->consumer, l, 5000);
    if (e) {
        log_warn("seek %s[%d] to %lld: %s", rd_kafka_topic_name(m->rkt), (int)m->partition,
                 (long long)m->offset, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* One alert per outage that lasts OUTAGE_ALERT_MS, straight to
 * inventory.alerts (the outbox lives in the database that may be down). */
static void outage_alert(struct worker *w)
{
    char why[512], body[1024], id[192];
    if (w->outage_alerted || now_ms() - w->outage_since_ms < OUTAGE_ALERT_MS)
        return;
    w->outage_alerted = 1;
    log_json_escape(why, sizeof(why), w->outage_why);
    snprintf(id, sizeof(id), "outage:%s:%lld", w->client_id, (long long)w->outage_since_ms);
    int n = snprintf(body, sizeof(body),
                     "{\"alert_id\":\"%s\",\"kind\":\"outage\",\"severity\":\"critical\","
                     "\"summary\":\"%s paused for %lld s: %s\",\"occurred_at_ms\":%lld,"
                     "\"details\":{\"worker\":\"%s\",\"since_ms\":%lld}}",
                     id, w->role->name, (long long)(now_ms() - w->outage_since_ms) / 1000, why,
                     (long long)now_ms(), w->client_id, (long long)w->outage_since_ms);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        w->producer, RD_KAFKA_V_TOPIC("inventory.alerts"), RD_KAFKA_V_KEY(id, strlen(id)),
        RD_KAFKA_V_VALUE(body, (size_t)n), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_END);
    if (e)
        log_error("outage alert not queued: %s", rd_kafka_err2str(e));
    else
        log_error("outage alert raised: %s", w->outage_why);
}

/* One step of the outage loop: keep the group alive, try to recover. */
static void outage_step(struct worker *w)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, 100);
    if (m) {
        if (!m->err)
            rewind_to(w, m); /* fetched before the pause took effect */
        rd_kafka_message_destroy(m);
    }
    outage_alert(w);
    if (now_ms() < w->retry_at_ms)
        return;
    if (w->db_down) {
        char err[512];
        enum pg_class c = pg_connect(w->pg, err, sizeof(err));
        if (c != PG_OK) {
            log_debug("PostgreSQL still unavailable (%s): %s", pg_class_name(c), err);
            w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2;
            w->retry_at_ms = now_ms() + w->backoff_ms;
            return;
        }
    }
    log_info("dependencies available again after %.1f s; resuming consumption",
             (now_ms() - w->outage_since_ms) / 1000.0);
    outbox_reset(w->outbox);
    w->paused = w->db_down = 0;
    set_paused(w, 0);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct worker *w = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        log_info("assigned %d partition(s)", parts->cnt);
        rd_kafka_assign(rk, parts);
        if (w->paused)
            rd_kafka_pause_partitions(rk, parts);
        return;
    }
    log_info("revoked %d partition(s); committing stored offsets", parts->cnt);
    w->nwaits = 0; /* paused retry partitions go with the assignment */
    rd_kafka_resp_err_t ce = rd_kafka_commit(rk, NULL, 0);
    if (ce && ce != RD_KAFKA_RESP_ERR__NO_OFFSET)
        log_warn("commit on revoke: %s", rd_kafka_err2str(ce));
    rd_kafka_assign(rk, NULL);
}

/* ---- one batch ---------------------------------------------------------- */

static int collect(struct worker *w)
{
    int wait = 200;
    while (w->n < (size_t)w->cfg->batch_max) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, wait);
        if (!m)
            break;
        wait = 0;
        if (m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                char why[512];
                rd_kafka_fatal_error(w->consumer, why, sizeof(why));
                log_error("fatal consumer error: %s", why);
                rd_kafka_message_destroy(m);
                return -1;
            }
            log_warn("consumer: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        memset(&w->items[w->n], 0, sizeof(w->items[0]));
        w->items[w->n++].m = m;
    }
    return 0;
}

static void mark_dead(struct item *it, const char *cls, const char *prefix, const char *detail)
{
    it->st = IT_DEAD;
    it->error_class = cls;
    snprintf(it->error, sizeof(it->error), "%s%s", prefix, detail);
}

/* A record from a retry topic whose x-not-before is still ahead. */
static int not_due(const rd_kafka_message_t *m, int64_t *due_ms)
{
    char v[32];
    if (!route_retry_step(rd_kafka_topic_name(m->rkt)) ||
        kafka_header_get(m, "x-not-before", v, sizeof(v)))
        return 0;
    *due_ms = strtoll(v, NULL, 10);
    return *due_ms > now_ms();
}

static void validate(struct worker *w)
{
    for (size_t i = 0; i < w->n; i++) {
        struct item *it = &w->items[i];
        char err[512];
        if (not_due(it->m, &it->not_before_ms)) {
            it->st = IT_WAIT;
            continue;
        }
        if (evt_parse(w->val, it->m->payload, it->m->len, &it->ev, err, sizeof(err))) {
            mark_dead(it, "poison", "", err);
            continue;
        }
        it->valid = 1;
        if (!(w->role->types & (1u << it->ev.type))) {
            char why[256];
            snprintf(why, sizeof(why), "type %s is not handled on topic %s", it->ev.type_name,
                     rd_kafka_topic_name(it->m->rkt));
            mark_dead(it, "poison", "", why);
        }
    }
}

/* Gathers the valid, pending items into w->inv. */
static size_t gather(struct worker *w)
{
    size_t k = 0;
    for (size_t i = 0; i < w->n; i++) {
        struct item *it = &w->items[i];
        if (!it->valid || it->st != IT_PENDING)
            continue;
        w->inv[k] = (struct inv_item){.ev = &it->ev,
                                      .topic = rd_kafka_topic_name(it->m->rkt),
                                      .partition = it->m->partition,
                                      .offset = it->m->offset};
        w->inv_idx[k++] = i;
    }
    return k;
}

static void take_result(struct worker *w, size_t k)
{
    struct item *it = &w->items[w->inv_idx[k]];
    const struct inv_item *r = &w->inv[k];
    struct log_ctx ctx = item_ctx(it);
    switch (r->res) {
    case INV_APPLIED:
    case INV_IGNORED:
    case INV_DUPLICATE:
        it->st = IT_DONE;
        logm_debug(&ctx, "%s %s: %s", it->ev.type_name, inv_res_name(r->res), r->detail);
        break;
    case INV_POISON:
        mark_dead(it, "poison", "rejected by the database: ", r->detail);
        break;
    case INV_TRANSIENT:
    case INV_PENDING:
        snprintf(it->error, sizeof(it->error), "%s", r->detail);
        break;
    }
}

static void rewind_pending(struct worker *w)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->items[i].st == IT_PENDING)
            w->items[i].st = IT_REWIND;
}

/* Applies items one per transaction, after the batch as a whole failed.
 * Returns -1 on an outage (pending items rewound). */
static int apply_singly(struct worker *w, size_t k)
{
    for (size_t j = 0; j < k; j++) {
        char err[512];
        enum pg_class c = inv_apply(w->pg, &w->inv[j], 1, w->cfg->hold_seconds, err, sizeof(err));
        struct item *it = &w->items[w->inv_idx[j]];
        if (c == PG_OUTAGE) {
            rewind_pending(w);
            enter_outage(w, 1, err);
            return -1;
        }
        if (c == PG_OK)
            take_result(w, j);
        else if (c == PG_ERROR)
            mark_dead(it, "poison", "database error: ", err);
        else
            snprintf(it->error, sizeof(it->error), "%s", err);
    }
    return 0;
}

/* The newest record timestamp of each source partition in the batch. */
static size_t batch_marks(struct worker *w)
{
    size_t n = 0;
    for (size_t i = 0; w->role->watermarks && i < w->n; i++) {
        const rd_kafka_message_t *m = w->items[i].m;
        const char *t = rd_kafka_topic_name(m->rkt);
        int64_t ts = rd_kafka_message_timestamp(m, NULL);
        size_t j = 0;
        if (route_retry_step(t) || ts < 0)
            continue;
        while (j < n && (w->marks[j].partition != m->partition || strcmp(w->marks[j].topic, t)))
            j++;
        if (j == n && n == MAX_BATCH_PARTS)
            continue;
        if (j == n)
            w->marks[n++] = (struct inv_mark){w->role->group, t, m->partition, ts};
        else if (ts > w->marks[j].ms)
            w->marks[j].ms = ts;
    }
    return n;
}

/* A transient failure that outlived the quick attempts goes to the next
 * retry topic, or after the last one to the DLQ as exhausted. */
static void still_transient(struct worker *w, struct item *it)
{
    int step = route_attempt(it->m) + 1;
    char last[512];
    snprintf(last, sizeof(last), "%s", it->error);
    if ((size_t)step <= w->cfg->n_retry) {
        it->st = IT_RETRY;
        it->error_class = "transient";
        it->not_before_ms = now_ms() + w->cfg->retry_backoff[step - 1] * 1000;
        snprintf(it->error, sizeof(it->error), "%s", last);
        return;
    }
    it->st = IT_DEAD;
    it->error_class = "exhausted";
    snprintf(it->error, sizeof(it->error), "gave up after %d retry step(s): %s", step - 1, last);
}

static void apply_valid(struct worker *w)
{
    size_t nmarks = batch_marks(w);
    for (int attempt = 0; attempt < QUICK_ATTEMPTS; attempt++) {
        size_t k = gather(w);
        char err[512];
        if (k == 0)
            return;
        if (attempt > 0)
            rd_kafka_poll(w->producer, 25 << attempt); /* short pause, serves callbacks */
        enum pg_class c = inv_apply_marked(w->pg, w->inv, k, w->cfg->hold_seconds, w->marks,
                                           attempt ? 0 : nmarks, err, sizeof(err));
        if (c == PG_OUTAGE) {
            rewind_pending(w);
            enter_outage(w, 1, err);
            return;
        }
        if (c == PG_OK) {
            for (size_t j = 0; j < k; j++)
                take_result(w, j);
        } else {
            log_warn("batch of %zu failed (%s: %s); applying one by one", k, pg_class_name(c),
                     err);
            if (apply_singly(w, k))
                return;
        }
    }
    for (size_t i = 0; i < w->n; i++)
        if (w->items[i].valid && w->items[i].st == IT_PENDING)
            still_transient(w, &w->items[i]);
}

/* Writes one retry or dead-letter record; returns 0 when queued. */
static int route_item(struct worker *w, struct item *it)
{
    char src[256], dest[300], err[512];
    struct log_ctx ctx = item_ctx(it);
    route_source_topic(rd_kafka_topic_name(it->m->rkt), src, sizeof(src));
    if (it->st == IT_RETRY)
        snprintf(dest, sizeof(dest), "%s.retry.%d", src, route_attempt(it->m) + 1);
    else
        snprintf(dest, sizeof(dest), "%s.dlq", src);
    struct route_failure f = {.error_class = it->error_class, .error = it->error,
                              .group = w->role->group, .worker = w->client_id,
                              .now_ms = now_ms(),
                              .not_before_ms = it->st == IT_RETRY ? it->not_before_ms : 0};
    if (route_produce(w->producer, it->m, dest, &f, &it->dr, err, sizeof(err))) {
        it->dr = -1;
        logm_error(&ctx, "%s", err);
        return -1;
    }
    logm_warn(&ctx, "%s to %s (%s): %s", it->st == IT_RETRY ? "retry" : "dead letter", dest,
              it->error_class, it->error);
    return 0;
}

/* Writes retry and dead-letter records and waits for the broker to
 * acknowledge them: only then may the source offsets be stored. */
static void write_routed(struct worker *w)
{
    size_t queued = 0;
    for (size_t i = 0; i < w->n; i++) {
        struct item *it = &w->items[i];
        if ((it->st == IT_DEAD || it->st == IT_RETRY) && route_item(w, it) == 0)
            queued++;
    }
    if (queued && rd_kafka_flush(w->producer, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* undelivered records report back as purged, then items may go */
        rd_kafka_purge(w->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(w->producer, 1000);
    }
    for (size_t i = 0; i < w->n; i++) {
        struct item *it = &w->items[i];
        if ((it->st == IT_DEAD || it->st == IT_RETRY) && it->dr != 1) {
            it->st = IT_REWIND;
            enter_outage(w, 0, "retry or dead-letter topic not writable");
        }
    }
}

/* Pauses a retry partition until its head record is due. */
static void wait_until(struct worker *w, const rd_kafka_message_t *m, int64_t due_ms)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition);
    rd_kafka_pause_partitions(w->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    for (size_t i = 0; i < w->nwaits; i++) {
        if (w->waits[i].partition == m->partition &&
            !strcmp(w->waits[i].topic, rd_kafka_topic_name(m->rkt))) {
            w->waits[i].resume_ms = due_ms;
            return;
        }
    }
    if (w->nwaits == MAX_BATCH_PARTS)
        return; /* cannot happen: one entry per assigned retry partition */
    struct waiting *wt = &w->waits[w->nwaits++];
    snprintf(wt->topic, sizeof(wt->topic), "%s", rd_kafka_topic_name(m->rkt));
    wt->partition = m->partition;
    wt->resume_ms = due_ms;
}

/* Resumes the retry partitions whose head record is due. */
static void resume_due(struct worker *w)
{
    int64_t now = now_ms();
    for (size_t i = 0; i < w->nwaits;) {
        if (w->waits[i].resume_ms > now || w->paused) {
            i++;
            continue;
        }
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, w->waits[i].topic, w->waits[i].partition);
        rd_kafka_resume_partitions(w->consumer, l);
        rd_kafka_topic_partition_list_destroy(l);
        w->waits[i] = w->waits[--w->nwaits];
    }
}

struct part_pos {
    const char *topic;
    int32_t partition;
    int64_t store; /* next offset to store, -1 none */
    const rd_kafka_message_t *rewind;
};

static struct part_pos *part_find(struct part_pos *pp, size_t *np, const rd_kafka_message_t *m)
{
    const char *t = rd_kafka_topic_name(m->rkt);
    for (size_t i = 0; i < *np; i++)
        if (pp[i].partition == m->partition && strcmp(pp[i].topic, t) == 0)
            return &pp[i];
    if (*np == MAX_BATCH_PARTS)
        return NULL;
    pp[*np] = (struct part_pos){.topic = t, .partition = m->partition, .store = -1};
    return &pp[(*np)++];
}

/* Stores the offset after the last finished event of each partition and
 * rewinds a partition to its first unfinished event. */
static void finish(struct worker *w)
{
    static struct part_pos pp[MAX_BATCH_PARTS];
    size_t np = 0;
    for (size_t i = 0; i < w->n; i++) {
        struct item *it = &w->items[i];
        struct part_pos *p = part_find(pp, &np, it->m);
        if (!p || p->rewind)
            continue;
        if (it->st == IT_DONE || it->st == IT_DEAD || it->st == IT_RETRY)
            p->store = it->m->offset + 1;
        else
            p->rewind = it->m;
        if (it->st == IT_WAIT)
            wait_until(w, it->m, it->not_before_ms);
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)np);
    for (size_t i = 0; i < np; i++)
        if (pp[i].store >= 0)
            rd_kafka_topic_partition_list_add(l, pp[i].topic, pp[i].partition)->offset = pp[i].store;
    if (l->cnt) {
        rd_kafka_resp_err_t e = rd_kafka_offsets_store(w->consumer, l);
        if (e)
            log_debug("offsets_store: %s (partitions revoked meanwhile)", rd_kafka_err2str(e));
    }
    rd_kafka_topic_partition_list_destroy(l);
    for (size_t i = 0; i < np; i++)
        if (pp[i].rewind)
            rewind_to(w, pp[i].rewind);
    for (size_t i = 0; i < w->n; i++) {
        evt_release(&w->items[i].ev);
        rd_kafka_message_destroy(w->items[i].m);
    }
    w->n = 0;
}

/* Position of the consumer in a partition: the next offset it will read. */
static int64_t read_position(struct worker *w, rd_kafka_topic_partition_t *tp, int64_t lo)
{
    if (tp->offset >= 0)
        return tp->offset;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, tp->topic, tp->partition);
    int64_t pos = -1;
    if (!rd_kafka_committed(w->consumer, l, 2000))
        pos = l->elems[0].offset >= 0 ? l->elems[0].offset : lo;
    rd_kafka_topic_partition_list_destroy(l);
    return pos;
}

/* An idle payment consumer that has read everything in a partition counts
 * as having read up to the present: the time before it asked the broker for
 * the end offsets (every record produced before then is below them). One
 * ListOffsets request covers every partition (timestamp -1 = latest). */
static void idle_watermarks(struct worker *w)
{
    rd_kafka_topic_partition_list_t *parts = NULL, *ends = NULL;
    size_t n = 0;
    w->idle_mark_ms = now_ms();
    if (rd_kafka_assignment(w->consumer, &parts) || !parts)
        return;
    ends = rd_kafka_topic_partition_list_copy(parts);
    for (int i = 0; i < ends->cnt; i++)
        ends->elems[i].offset = RD_KAFKA_OFFSET_END;
    int64_t t0 = now_ms();
    if (ends->cnt && rd_kafka_offsets_for_times(w->consumer, ends, 2000) == 0) {
        rd_kafka_position(w->consumer, parts);
        for (int i = 0; i < parts->cnt && n < MAX_BATCH_PARTS; i++) {
            rd_kafka_topic_partition_t *tp = &parts->elems[i], *end = &ends->elems[i];
            if (route_retry_step(tp->topic) || end->err || end->offset < 0)
                continue;
            int64_t pos = read_position(w, tp, 0);
            if (pos >= 0 && pos >= end->offset)
                w->marks[n++] = (struct inv_mark){w->role->group, tp->topic, tp->partition, t0};
        }
    }
    char err[512];
    if (n && inv_mark(w->pg, w->marks, n, err, sizeof(err)) == PG_OUTAGE)
        enter_outage(w, 1, err);
    /* marks point into parts: written above, before it goes */
    rd_kafka_topic_partition_list_destroy(ends);
    rd_kafka_topic_partition_list_destroy(parts);
}

static int run_batch(struct worker *w)
{
    if (collect(w))
        return -1;
    if (w->n == 0 && w->role->watermarks && now_ms() - w->idle_mark_ms >= IDLE_MARK_MS)
        idle_watermarks(w);
    if (w->n == 0)
        return 0;
    validate(w);
    apply_valid(w);
    write_routed(w);
    finish(w);
    return 0;
}

/* ---- life cycle --------------------------------------------------------- */

static void worker_free(struct worker *w)
{
    if (w->consumer) {
        rd_kafka_resp_err_t e = rd_kafka_commit(w->consumer, NULL, 0);
        if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
            log_warn("final commit: %s", rd_kafka_err2str(e));
        rd_kafka_consumer_close(w->consumer);
        rd_kafka_destroy(w->consumer);
    }
    if (w->producer) {
        if (rd_kafka_flush(w->producer, 10000))
            log_warn("%d record(s) not delivered at shutdown", rd_kafka_outq_len(w->producer));
        rd_kafka_destroy(w->producer);
    }
    outbox_free(w->outbox);
    pg_free(w->pg);
    evt_validator_free(w->val);
    free(w->items);
    free(w->inv);
    free(w->inv_idx);
}

static int worker_init(struct worker *w, const struct worker_role *role, const struct cfg *cfg)
{
    char err[512], host[64] = "host";
    const char *const *env = (const char *const *)environ;
    memset(w, 0, sizeof(*w));
    w->role = role;
    w->cfg = cfg;
    gethostname(host, sizeof(host) - 1);
    snprintf(w->client_id, sizeof(w->client_id), "%s@%s:%d", role->name, host, (int)getpid());
    size_t bm = (size_t)cfg->batch_max;
    w->items = calloc(bm, sizeof(*w->items));
    w->inv = calloc(bm, sizeof(*w->inv));
    w->inv_idx = calloc(bm, sizeof(*w->inv_idx));
    if (!w->items || !w->inv || !w->inv_idx)
        return log_error("out of memory"), -1;
    if (evt_validator_new(&w->val, err, sizeof(err)))
        return log_error("schemas: %s", err), -1;
    if (pg_new(&w->pg, cfg->database_url, w->client_id, cfg->lock_timeout_ms,
               cfg->statement_timeout_ms, inv_stmts, inv_nstmts))
        return log_error("out of memory"), -1;
    w->producer = kafka_producer_new(cfg->kafka_brokers, w->client_id, env, kafka_dr_status, w, err,
                                     sizeof(err));
    if (!w->producer)
        return log_error("%s", err), -1;
    w->consumer = kafka_consumer_new(cfg->kafka_brokers, role->group, w->client_id, env,
                                     on_rebalance, w, err, sizeof(err));
    if (!w->consumer)
        return log_error("%s", err), -1;
    if (outbox_new(&w->outbox, w->producer, w->pg))
        return log_error("out of memory"), -1;
    return 0;
}

/* Publishes pending outbox rows when this process is the relay. */
static void relay(struct worker *w)
{
    char err[512];
    int n = outbox_relay(w->outbox, 0, err, sizeof(err));
    if (n == -1)
        enter_outage(w, 1, err);
    else if (n == -2)
        log_warn("outbox: %s; will retry", err);
}

/* Subscribes to the role's topics and their retry topics. */
static int subscribe(struct worker *w)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int i = 0; w->role->topics[i]; i++) {
        rd_kafka_topic_partition_list_add(l, w->role->topics[i], RD_KAFKA_PARTITION_UA);
        for (size_t step = 1; step <= w->cfg->n_retry; step++) {
            char t[300];
            snprintf(t, sizeof(t), "%s.retry.%zu", w->role->topics[i], step);
            rd_kafka_topic_partition_list_add(l, t, RD_KAFKA_PARTITION_UA);
        }
    }
    rd_kafka_resp_err_t e = rd_kafka_subscribe(w->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        log_error("subscribe: %s", rd_kafka_err2str(e));
    return e ? -1 : 0;
}

int worker_run(const struct worker_role *role, const struct cfg *cfg, volatile sig_atomic_t *stop)
{
    struct worker w;
    int rc = 1;
    if (worker_init(&w, role, cfg) || subscribe(&w))
        goto out;
    char err[512];
    enum pg_class c = pg_connect(w.pg, err, sizeof(err));
    if (c != PG_OK)
        enter_outage(&w, 1, err);
    log_info("started: group %s, batches of up to %ld events", role->group, cfg->batch_max);
    rc = 0;
    while (!*stop) {
        rd_kafka_poll(w.producer, 0);
        if (w.paused) {
            outage_step(&w);
            continue;
        }
        resume_due(&w);
        if (run_batch(&w)) {
            rc = 1;
            break;
        }
        relay(&w);
    }
    log_info("stopping: committing offsets and leaving the group");
out:
    worker_free(&w);
    return rc;
}

/* ---- process entry ------------------------------------------------------ */

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    if (stop_flag)
        _exit(128 + sig); /* a second signal exits at once */
    stop_flag = 1;
}

static void usage(const struct worker_role *r, FILE *f)
{
    fprintf(f,
            "Usage: %s [--help] [--version]\n"
            "%s\n\n"
            "Consumer group %s. Configuration comes from the environment:\n"
            "  KAFKA_BROKERS             bootstrap servers (default 127.0.0.1:9092)\n"
            "  DATABASE_URL              libpq connection string (default postgresql:///stockflow)\n"
            "  RESERVATION_HOLD_SECONDS  hold time when an order carries none (default 900)\n"
            "  RETRY_BACKOFF_SECONDS     backoff steps (default 1,10,60,300)\n"
            "  HTTP_PORT                 metrics/health port (default %ld)\n"
            "  LOG_LEVEL                 debug, info, warn, error (default info)\n"
            "  BATCH_MAX                 events per database transaction (default 500)\n"
            "  PG_LOCK_TIMEOUT_MS        lock timeout per statement (default 2000)\n"
            "  PG_STATEMENT_TIMEOUT_MS   statement timeout (default 30000)\n"
            "  PAYMENT_LAG_ALERT_SECONDS timeout-worker: alert when payments lag more (default 60)\n"
            "  RDKAFKA_<NAME>            any librdkafka property, e.g. RDKAFKA_SESSION_TIMEOUT_MS\n"
            "Logs are JSON lines on stderr. SIGTERM or SIGINT stops after the batch in\n"
            "flight, with offsets committed; a second signal exits at once.\n"
            "Exit codes: 0 clean stop, 1 runtime failure, 2 bad usage or configuration.\n",
            r->name, r->summary, r->group, r->http_port);
}

static const char *env_get(const char *name)
{
    return getenv(name);
}

int worker_main(const struct worker_role *role, int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'}, {0}};
    int o;
    log_init(role->name, LOG_INFO);
    while ((o = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
        if (o == 'h')
            return usage(role, stdout), 0;
        if (o == 'V')
            return printf("%s %s\n", role->name, STOCKFLOW_VERSION), 0;
        return usage(role, stderr), 2;
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument \"%s\" (see --help)\n", role->name, argv[optind]);
        return 2;
    }
    struct cfg cfg;
    char err[768];
    if (cfg_load(&cfg, role->http_port, env_get, err, sizeof(err))) {
        fprintf(stderr, "%s: %s\n", role->name, err);
        return 2;
    }
    /* librdkafka properties are checked before anything connects */
    rd_kafka_conf_t *probe = kafka_conf_new(cfg.kafka_brokers, NULL, 0,
                                            (const char *const *)environ, err, sizeof(err));
    if (!probe) {
        fprintf(stderr, "%s: %s\n", role->name, err);
        return 2;
    }
    rd_kafka_conf_destroy(probe);
    log_init(role->name, (enum log_level)cfg.log_level);
    cfg_log(&cfg, (const char *const *)environ);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (role->run)
        return role->run(&cfg, &stop_flag);
    return worker_run(role, &cfg, &stop_flag);
}
