/* batch: one poll's worth of events, from validation to stored offsets.
 *
 * validate (schema, type for the topic, retry records not yet due) ->
 * apply (one transaction, quick in-process retries of transient outcomes) ->
 * route (retry topic or DLQ, acknowledged by the broker) -> finish (store the
 * offsets of finished events, rewind each partition to its first unfinished
 * one). See worker.h for the outcomes. */
#include "worker_int.h"

#include "kafka.h"
#include "metrics.h"
#include "route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct log_ctx item_ctx(const struct item *it)
{
    struct log_ctx c = {.event_id = it->valid ? it->ev.event_id : NULL,
                        .topic = rd_kafka_topic_name(it->m->rkt),
                        .partition = it->m->partition,
                        .offset = it->m->offset};
    return c;
}

static int collect(struct worker *w)
{
    int wait = 200;
    size_t bytes = 0;
    while (w->n < (size_t)w->cfg->batch_max && bytes < BATCH_BYTES_MAX) {
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
        bytes += m->len + m->key_len;
    }
    return 0;
}

/* A failure whose fate route_decide settles when the batch is routed. */
static void mark_failed(struct item *it, enum route_error e, const char *prefix, const char *detail)
{
    it->st = IT_FAILED;
    it->fail = e;
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

/* Counts an event under name with labels topic, type[, outcome]. */
static void count_event(const char *name, const struct item *it, const char *outcome)
{
    char labels[METRICS_MAX_LABELS];
    const char *type = it->valid ? it->ev.type_name : "invalid";
    if (outcome)
        metrics_labels(labels, sizeof(labels), "topic", rd_kafka_topic_name(it->m->rkt), "type",
                       type, "outcome", outcome, NULL);
    else
        metrics_labels(labels, sizeof(labels), "topic", rd_kafka_topic_name(it->m->rkt), "type",
                       type, NULL);
    metrics_counter_add(name, labels, 1);
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
            mark_failed(it, ROUTE_ERR_POISON, "", err);
            count_event(METRICS_EVENTS_CONSUMED, it, NULL);
            continue;
        }
        it->valid = 1;
        count_event(METRICS_EVENTS_CONSUMED, it, NULL);
        if (!(w->role->types & (1u << it->ev.type))) {
            char why[256];
            snprintf(why, sizeof(why), "type %s is not handled on topic %s", it->ev.type_name,
                     rd_kafka_topic_name(it->m->rkt));
            mark_failed(it, ROUTE_ERR_POISON, "", why);
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
    w->turn_tried++;
    switch (r->res) {
    case INV_APPLIED:
    case INV_IGNORED:
    case INV_DUPLICATE:
        it->st = IT_DONE;
        logm_debug(&ctx, "%s %s: %s", it->ev.type_name, inv_res_name(r->res), r->detail);
        count_event(METRICS_EVENTS, it, inv_res_name(r->res));
        int64_t ts = rd_kafka_message_timestamp(it->m, NULL);
        if (ts > 0)
            metrics_histogram_observe(METRICS_EVENT_LATENCY, "", (now_ms() - ts) / 1000.0);
        break;
    case INV_POISON:
        mark_failed(it, ROUTE_ERR_POISON, "rejected by the database: ", r->detail);
        break;
    case INV_TRANSIENT:
    case INV_PENDING:
        it->failed_alone = 1;
        snprintf(it->error, sizeof(it->error), "%s", r->detail);
        break;
    }
}

/* The database failed the batch: its unfinished events are read again, and
 * batch_run reports BATCH_DB_DOWN (the first cause is kept). */
static void db_down(struct worker *w, const char *why)
{
    if (!(w->verdict & BATCH_DB_DOWN))
        snprintf(w->verdict_why, sizeof(w->verdict_why), "%s", why);
    w->verdict |= BATCH_DB_DOWN;
}

static void rewind_pending(struct worker *w)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->items[i].st == IT_PENDING)
            w->items[i].st = IT_REWIND;
}

static int past_deadline(const struct worker *w)
{
    return now_ms() >= w->turn_deadline_ms;
}

/* 1 when an item before i, of the same partition, is to be read again. */
static int rewound_before(const struct worker *w, size_t i)
{
    const rd_kafka_message_t *m = w->items[i].m;
    for (size_t j = 0; j < i; j++) {
        const rd_kafka_message_t *o = w->items[j].m;
        if (w->items[j].st == IT_REWIND && o->partition == m->partition &&
            !strcmp(rd_kafka_topic_name(o->rkt), rd_kafka_topic_name(m->rkt)))
            return 1;
    }
    return 0;
}

/* The turn's deadline (TURN_DEADLINE_MS) passed with events still pending:
 * rows kept busy past PG_LOCK_TIMEOUT_MS again and again would otherwise
 * hold the loop for (quick attempts x events x lock timeout): 1,000 events
 * behind one locked row, ~100 minutes without a poll, long past
 * max.poll.interval.ms and the liveness limit. No new transaction starts.
 * An event that failed transiently in a transaction of its own goes to its
 * next retry topic now, as after its last quick attempt (DESIGN §6); an
 * event not tried on its own yet is rewound: its partition is read again
 * from it, in order, next turn, after a poll. Per-key order: what is
 * rewound keeps its order (and so does everything after it in its
 * partition, which is rewound too, even a failure already settled, so that
 * nothing goes to a retry topic and is also read again); what goes to retry
 * leaves the order as every transient failure does, and the rules do not
 * depend on it (§4: occurred_at decides). Invariants: nothing is lost (an
 * offset is stored only past events applied or acknowledged on a retry or
 * dead-letter topic), nothing is applied twice (event ids). Each turn tries
 * at least one event on its own (apply_valid), so a batch that only ever
 * fails as a whole still moves to its retry topics. */
static void cut_turn(struct worker *w)
{
    size_t retry = 0, again = 0;
    for (size_t i = 0; i < w->n; i++) {
        struct item *it = &w->items[i];
        if (it->st != IT_PENDING && it->st != IT_FAILED)
            continue;
        if (rewound_before(w, i) || (it->st == IT_PENDING && !it->failed_alone)) {
            it->st = IT_REWIND;
            again++;
        } else if (it->st == IT_PENDING) {
            it->st = IT_FAILED;
            it->fail = ROUTE_ERR_TRANSIENT;
            retry++;
        }
    }
    metrics_counter_add(METRICS_TURN_DEADLINE, "", 1);
    log_warn("loop turn past its deadline (TURN_DEADLINE_MS=%ld): %zu event(s) to retry, %zu "
             "read again after the next poll",
             w->cfg->turn_deadline_ms, retry, again);
}

/* Applies items one per transaction, after the batch as a whole failed.
 * Returns -1 on an outage (pending items rewound), 1 when the turn's
 * deadline stopped it (after the first item at least), else 0. */
static int apply_singly(struct worker *w, size_t k)
{
    for (size_t j = 0; j < k; j++) {
        char err[512];
        if (j > 0 && past_deadline(w))
            return 1;
        enum pg_class c =
            inv_apply_each(w->pg, &w->inv[j], 1, w->cfg->hold_seconds, err, sizeof(err));
        struct item *it = &w->items[w->inv_idx[j]];
        if (c == PG_OUTAGE) {
            rewind_pending(w);
            db_down(w, err);
            return -1;
        }
        if (c == PG_OK) {
            take_result(w, j);
        } else if (c == PG_ERROR) {
            w->turn_tried++;
            mark_failed(it, ROUTE_ERR_POISON, "database error: ", err);
        } else {
            w->turn_tried++;
            it->failed_alone = 1;
            snprintf(it->error, sizeof(it->error), "%s", err);
        }
    }
    return 0;
}

/* A record timestamp as the watermark may take it: never later than now (a
 * producer's clock in 2100 must not move it there for good); -1 (none)
 * reads as now, the time the record was read. */
static int64_t mark_ms(int64_t ts, int64_t now)
{
    return ts < 0 || ts > now ? now : ts;
}

/* The watermark of each source partition of the batch: the newest
 * timestamp of its records finished (applied, sent to retry, dead-lettered)
 * before its first unfinished one (read again), at most now. A record sent
 * to retry counts: it pinned its partition before it was written
 * (pin_routed). */
static size_t batch_marks(struct worker *w)
{
    struct inv_mark *held = w->held; /* partitions with an unfinished record */
    size_t n = 0, nheld = 0;
    int64_t now = now_ms();
    for (size_t i = 0; i < w->n; i++) {
        const struct item *it = &w->items[i];
        const rd_kafka_message_t *m = it->m;
        const char *t = rd_kafka_topic_name(m->rkt);
        int64_t ts = rd_kafka_message_timestamp(m, NULL);
        size_t j = 0, h = 0;
        if (route_retry_step(t))
            continue;
        while (h < nheld && (held[h].partition != m->partition || strcmp(held[h].topic, t)))
            h++;
        if (h < nheld)
            continue;
        if (it->st != IT_DONE && it->st != IT_RETRY && it->st != IT_DEAD) {
            held[nheld++] = (struct inv_mark){NULL, t, m->partition, 0}; /* <= w->n */
            continue;
        }
        if (ts < 0)
            continue;
        ts = mark_ms(ts, now);
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

/* A batch that failed as a whole on a deadlock, serialization failure or
 * lock timeout (busy rows: the batch's luck, not one of its events) is tried
 * once more as a whole; after that, or at once on any other error (a
 * statement timeout would only repeat), its events go one per transaction,
 * so that one event's failure stays its own. One by one costs a transaction
 * per event: ~1,000 where the batch took one. */
static void apply_valid(struct worker *w)
{
    for (int attempt = 0; attempt < QUICK_ATTEMPTS; attempt++) {
        size_t k = gather(w);
        char err[512];
        if (k == 0)
            return;
        if (attempt > 0 && past_deadline(w)) {
            /* at least one event on its own per turn, or a batch failing as
             * a whole would be rewound turn after turn, forever */
            if (w->turn_tried == 0 && apply_singly(w, k) < 0)
                return;
            cut_turn(w);
            return;
        }
        if (attempt > 0) {
            rd_kafka_poll(w->producer, 25 << attempt); /* short pause, serves callbacks */
            metrics_counter_add(METRICS_INPROCESS_RETRIES, "", (double)k);
        }
        int64_t t0 = now_ms();
        enum pg_class c =
            inv_apply_batch(w->pg, w->inv, k, w->cfg->hold_seconds, NULL, 0, err, sizeof(err));
        metrics_histogram_observe(METRICS_TRANSACTION, "", (now_ms() - t0) / 1000.0);
        if (c == PG_OUTAGE) {
            rewind_pending(w);
            db_down(w, err);
            return;
        }
        if (c == PG_OK) {
            for (size_t j = 0; j < k; j++)
                take_result(w, j);
        } else if (c == PG_TRANSIENT && attempt == 0 &&
                   strncmp(err, "57014", 5) != 0) { /* err starts with the SQLSTATE */
            log_warn("batch of %zu failed (%s: %s); trying it again as a whole", k,
                     pg_class_name(c), err);
        } else {
            log_warn("batch of %zu failed (%s: %s); applying one by one", k, pg_class_name(c),
                     err);
            int r = apply_singly(w, k);
            if (r > 0)
                cut_turn(w);
            if (r)
                return;
        }
    }
    for (size_t i = 0; i < w->n; i++)
        if (w->items[i].valid && w->items[i].st == IT_PENDING)
            w->items[i].st = IT_FAILED, w->items[i].fail = ROUTE_ERR_TRANSIENT;
}

/* Settles a failed item's fate (route_decide): retry topic or DLQ. */
static void decide(struct worker *w, struct item *it)
{
    int64_t now = now_ms();
    route_origin_of(it->m, (int)w->cfg->n_retry, now, &it->origin);
    route_decide(rd_kafka_topic_name(it->m->rkt), it->origin.attempt, it->fail,
                 w->cfg->retry_backoff, w->cfg->n_retry, now, &it->dec);
    it->st = it->dec.cls == ROUTE_TRANSIENT ? IT_RETRY : IT_DEAD;
    it->error_class = route_class_name(it->dec.cls);
    if (it->dec.cls == ROUTE_EXHAUSTED) {
        char last[sizeof(it->error)];
        snprintf(last, sizeof(last), "%s", it->error);
        snprintf(it->error, sizeof(it->error), "gave up after %d retry step(s): %s",
                 it->origin.attempt, last);
    }
}

/* Writes one retry or dead-letter record; returns 0 when queued. */
static int route_item(struct worker *w, struct item *it)
{
    char src[256], err[512];
    struct log_ctx ctx = item_ctx(it);
    const char *dest = it->dec.dest;
    route_source_topic(rd_kafka_topic_name(it->m->rkt), src, sizeof(src));
    struct route_failure f = {.error_class = it->error_class, .error = it->error,
                              .group = w->role->group, .worker = w->client_id,
                              .attempt = it->dec.attempt,
                              .not_before_ms = it->dec.not_before_ms,
                              .origin = &it->origin};
    if (route_produce(w->producer, it->m, dest, &f, &it->delivery, err, sizeof(err))) {
        it->delivery = -1;
        logm_error(&ctx, "%s", err);
        return -1;
    }
    logm_warn(&ctx, "%s to %s (%s): %s", it->st == IT_RETRY ? "retry" : "dead letter", dest,
              it->error_class, it->error);
    char labels[METRICS_MAX_LABELS];
    metrics_labels(labels, sizeof(labels), "topic", src, "class", it->error_class, NULL);
    metrics_counter_add(it->st == IT_RETRY ? METRICS_RETRIES : METRICS_DEAD_LETTERS, labels, 1);
    count_event(METRICS_EVENTS, it, it->st == IT_RETRY ? "retry" : "dead_letter");
    return 0;
}

/* The source position and timestamp (at most now) of an item. */
static struct inv_pos item_pos(const struct item *it, int64_t now)
{
    return (struct inv_pos){it->origin.topic, it->origin.partition, it->origin.offset,
                            mark_ms(it->origin.timestamp, now)};
}

/* Payments only: before a record is written to a retry topic, its source
 * partition's watermark is pinned below its timestamp, so the timeout
 * worker cannot release its hold while it waits there (written first: read
 * back from the retry topic and applied, it must find the pin to remove).
 * A dead letter will never apply: its pin goes. Both are keyed by the
 * source position (x-original-*), so a record retried again keeps the pin
 * of its first failure. When they cannot be written, the records are not
 * routed but read again (and the outage reported). */
static void pin_routed(struct worker *w)
{
    size_t np = 0, nu = 0;
    int64_t now = now_ms();
    char err[512];
    if (!w->role->watermarks)
        return;
    for (size_t i = 0; i < w->n; i++) {
        const struct item *it = &w->items[i];
        if (it->st == IT_RETRY)
            w->pins[np++] = item_pos(it, now);
        else if (it->st == IT_DEAD)
            w->unpins[nu++] = item_pos(it, now);
    }
    if (np + nu == 0 ||
        inv_watermarks(w->pg, w->role->group, w->pins, np, w->unpins, nu, NULL, 0, err,
                       sizeof(err)) == PG_OK)
        return;
    log_error("retry pins of the payment watermark not written: %s; reading %zu record(s) again",
              err, np + nu);
    for (size_t i = 0; i < w->n; i++)
        if (w->items[i].st == IT_RETRY || w->items[i].st == IT_DEAD)
            w->items[i].st = IT_REWIND;
    db_down(w, err);
}

/* Payments only, after routing: removes the pins of the records applied
 * (read from a retry topic, or again from their source) and advances the
 * watermarks (batch_marks). If that fails, the applied records are read
 * again (duplicates then, and their pins go with the next batch): their
 * offsets must not move past a pin nobody would remove. */
static void settle_watermarks(struct worker *w)
{
    size_t nu = 0, nmarks;
    int64_t now = now_ms();
    char err[512];
    if (!w->role->watermarks)
        return;
    for (size_t i = 0; i < w->n; i++) {
        struct item *it = &w->items[i];
        if (it->st != IT_DONE)
            continue;
        route_origin_of(it->m, (int)w->cfg->n_retry, now, &it->origin);
        w->unpins[nu++] = item_pos(it, now);
    }
    nmarks = batch_marks(w);
    if (nu + nmarks == 0 ||
        inv_watermarks(w->pg, w->role->group, NULL, 0, w->unpins, nu, w->marks, nmarks, err,
                       sizeof(err)) == PG_OK)
        return;
    for (size_t i = 0; i < w->n; i++)
        if (w->items[i].st == IT_DONE)
            w->items[i].st = IT_REWIND;
    if (!(w->verdict & BATCH_DB_DOWN))
        log_error("payment watermark not advanced: %s; reading %zu applied record(s) again", err,
                  nu);
    db_down(w, err);
}

/* Writes retry and dead-letter records and waits for the broker to
 * acknowledge them: only then may the source offsets be stored. */
static void write_routed(struct worker *w)
{
    size_t queued = 0;
    for (size_t i = 0; i < w->n; i++)
        if (w->items[i].st == IT_FAILED)
            decide(w, &w->items[i]);
    pin_routed(w);
    for (size_t i = 0; i < w->n; i++) {
        struct item *it = &w->items[i];
        if ((it->st == IT_RETRY || it->st == IT_DEAD) && route_item(w, it) == 0)
            queued++;
    }
    if (queued && rd_kafka_flush(w->producer, ROUTE_FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* undelivered records report back as purged, then items may go */
        rd_kafka_purge(w->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(w->producer, 1000);
    }
    for (size_t i = 0; i < w->n; i++) {
        struct item *it = &w->items[i];
        if ((it->st == IT_DEAD || it->st == IT_RETRY) && it->delivery != 1) {
            it->st = IT_REWIND;
            w->verdict |= BATCH_BROKER_DOWN; /* DESIGN §6: nothing dropped, and the worker alerts */
        }
    }
}

/* Pauses a retry partition until its head record is due. Without room in
 * waits (the assignment's reservation failed) it does not pause: the record,
 * rewound, is read again and waits again. */
static void wait_until(struct worker *w, const rd_kafka_message_t *m, int64_t due_ms)
{
    struct waiting *wt = NULL;
    for (size_t i = 0; i < w->nwaits && !wt; i++)
        if (w->waits[i].partition == m->partition &&
            !strcmp(w->waits[i].topic, rd_kafka_topic_name(m->rkt)))
            wt = &w->waits[i];
    if (!wt && w->nwaits == w->waits_cap)
        return;
    if (!wt) {
        wt = &w->waits[w->nwaits++];
        snprintf(wt->topic, sizeof(wt->topic), "%s", rd_kafka_topic_name(m->rkt));
        wt->partition = m->partition;
    }
    wt->resume_ms = due_ms;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition);
    rd_kafka_pause_partitions(w->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* Resumes the retry partitions whose head record is due. */
void batch_resume_due(struct worker *w)
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

/* The entry of m's partition in pp[0..*np), added when new: pp has room
 * for one per record of the batch. */
static struct part_pos *part_find(struct part_pos *pp, size_t *np, const rd_kafka_message_t *m)
{
    const char *t = rd_kafka_topic_name(m->rkt);
    for (size_t i = 0; i < *np; i++)
        if (pp[i].partition == m->partition && strcmp(pp[i].topic, t) == 0)
            return &pp[i];
    pp[*np] = (struct part_pos){.topic = t, .partition = m->partition, .store = -1};
    return &pp[(*np)++];
}

/* Stores the offset after the last finished event of each partition and
 * rewinds a partition to its first unfinished event. */
static void finish(struct worker *w)
{
    struct part_pos *pp = w->parts;
    size_t np = 0;
    for (size_t i = 0; i < w->n; i++) {
        struct item *it = &w->items[i];
        struct part_pos *p = part_find(pp, &np, it->m);
        if (p->rewind)
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
            kafka_rewind(w->consumer, pp[i].rewind);
    for (size_t i = 0; i < w->n; i++) {
        evt_release(&w->items[i].ev);
        rd_kafka_message_destroy(w->items[i].m);
    }
    w->n = 0;
}

/* Fills in the positions the consumer does not know yet (nothing read since
 * the assignment) with the committed offsets (the low end when none), in one
 * OffsetFetch request for all of them. Unknown ones stay negative. */
static void fill_positions(struct worker *w, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].offset < 0)
            rd_kafka_topic_partition_list_add(l, parts->elems[i].topic, parts->elems[i].partition);
    if (l->cnt && !rd_kafka_committed(w->consumer, l, 2000)) {
        for (int i = 0; i < l->cnt; i++) {
            rd_kafka_topic_partition_t *tp =
                rd_kafka_topic_partition_list_find(parts, l->elems[i].topic, l->elems[i].partition);
            if (tp && !l->elems[i].err)
                tp->offset = l->elems[i].offset >= 0 ? l->elems[i].offset : 0;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* An idle payment consumer that has read everything in a partition counts
 * as having read up to the present: the time before it asked the broker for
 * the end offsets (every record produced before then is below them). One
 * ListOffsets request covers every partition (timestamp -1 = latest). It
 * goes through the worker's producer: a broker answers the requests of one
 * connection in order, so on the consumer's connection it would wait behind
 * the consumer's pending Fetch (up to fetch.wait.max.ms, every time). */
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
    if (ends->cnt && rd_kafka_offsets_for_times(w->producer, ends, 2000) == 0) {
        rd_kafka_position(w->consumer, parts);
        fill_positions(w, parts);
        for (int i = 0; i < parts->cnt && n < MAX_BATCH_PARTS; i++) {
            rd_kafka_topic_partition_t *tp = &parts->elems[i], *end = &ends->elems[i];
            if (route_retry_step(tp->topic) || end->err || end->offset < 0)
                continue;
            if (tp->offset >= 0 && tp->offset >= end->offset)
                w->marks[n++] = (struct inv_mark){w->role->group, tp->topic, tp->partition, t0};
        }
    }
    char err[512];
    if (n && inv_mark(w->pg, w->marks, n, err, sizeof(err)) == PG_OUTAGE)
        db_down(w, err);
    /* marks point into parts: written above, before it goes */
    rd_kafka_topic_partition_list_destroy(ends);
    rd_kafka_topic_partition_list_destroy(parts);
}

/* Partitions with no traffic must not hold the watermark back while others
 * are busy: after every batch (all it polled is finished), not only when a
 * poll comes back empty. */
static void mark_caught_up(struct worker *w)
{
    if (w->role->watermarks && !w->paused && !(w->verdict & BATCH_DB_DOWN) &&
        now_ms() - w->idle_mark_ms >= IDLE_MARK_MS)
        idle_watermarks(w);
}

int batch_run(struct worker *w)
{
    int64_t t = now_ms(), *ph = w->phase_ms;
    memset(w->phase_ms, 0, sizeof(w->phase_ms));
    w->verdict = BATCH_OK;
    w->verdict_why[0] = '\0';
    w->turn_deadline_ms = t + w->cfg->turn_deadline_ms;
    w->turn_tried = 0;
    if (collect(w))
        return BATCH_FATAL;
    ph[0] = now_ms() - t;
    w->phase_n = w->n;
    if (w->n == 0) {
        t = now_ms();
        mark_caught_up(w);
        ph[4] = now_ms() - t;
        return w->verdict;
    }
    t = now_ms();
    validate(w);
    apply_valid(w);
    ph[1] = now_ms() - t;
    t = now_ms();
    write_routed(w);
    ph[2] = now_ms() - t;
    t = now_ms();
    settle_watermarks(w);
    ph[4] = now_ms() - t;
    t = now_ms();
    finish(w);
    ph[3] = now_ms() - t;
    t = now_ms();
    mark_caught_up(w);
    ph[4] += now_ms() - t;
    return w->verdict;
}
