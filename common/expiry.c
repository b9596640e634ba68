#include "expiry.h"

#include "evt.h"
#include "heap.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "worker.h"
#include "outbox.h"
#include "pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GROUP "stockflow-timeout"
#define PAYMENT_GROUP "stockflow-payment"
#define PAYMENT_TOPIC "inventory.payments"
#define SWEEP_MS 1000 /* a sweep finds holds the heap does not know */
#define EXPIRE_LIMIT 1000

static const struct pg_stmt stmts[] = {
    {"expire", "SELECT sf_expire_due(to_timestamp($1::bigint / 1000.0), $2::integer)", 2},
    {"watermark", "SELECT (extract(epoch FROM sf_payment_watermark($1, $2, $3::integer)) * 1000)::bigint", 3},
    {"alert", "SELECT sf_alert($1, 'payment_watermark_lag', 'warning', $2, $3::jsonb)", 3},
    /* holds reserved more than 1 s past expires_at (DESIGN §4 rule 5: released
     * within 1 s in normal operation); the partial index orders_held_expiry */
    {"overdue", "SELECT count(*) FROM orders WHERE state = 'reserved' "
                "AND expires_at < now() - interval '1 second'", 0},
    /* the deadstock radar (DESIGN §9, 024): alerts deduplicated per SKU and day */
    {"radar", "SELECT sf_deadstock_alert(now())", 0},
};
#define RADAR_RETRY_MS 60000 /* after a failed radar run */
#define OVERDUE_EVERY_MS 5000

struct expiry {
    const struct cfg *cfg;
    rd_kafka_t *consumer, *producer;
    struct outbox *outbox;
    struct pg *pg;
    struct evt_validator *val;
    struct heap *heap;
    int payment_partitions;
    int64_t next_round_ms, pg_retry_ms, lag_alerted_ms, meta_at_ms, overdue_ms, radar_ms;
    long pg_backoff_ms;
    int pg_ok, heap_full_logged;
    char client_id[128];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void push_expiry(struct expiry *x, int64_t ms)
{
    if (ms < x->next_round_ms)
        x->next_round_ms = ms; /* a short hold behind a long one still wakes us */
    if (heap_push(x->heap, ms) == 0)
        return;
    if (!x->heap_full_logged)
        log_warn("%zu pending holds in memory: further ones are found by the %d ms sweep",
                 heap_len(x->heap), SWEEP_MS);
    x->heap_full_logged = 1;
}

/* Loads the held orders' expiry times (after a start or a reconnection).
 * Returns 0, or -1 with one line in err. */
static int seed(struct expiry *x, char *err, size_t errlen)
{
    char sql[160];
    snprintf(sql, sizeof(sql),
             "SELECT (extract(epoch FROM expires_at) * 1000)::bigint FROM orders "
             "WHERE state = 'reserved' ORDER BY expires_at LIMIT %d",
             EXPIRY_HEAP_CAP);
    PGresult *r = PQexec(pg_conn(x->pg), sql);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    while (ok && heap_len(x->heap))
        heap_pop(x->heap);
    for (int i = 0; ok && i < PQntuples(r); i++)
        push_expiry(x, strtoll(PQgetvalue(r, i, 0), NULL, 10));
    if (ok)
        log_info("%d held order(s) pending expiry", PQntuples(r));
    else
        pg_errline(pg_conn(x->pg), r, err, errlen);
    PQclear(r);
    return ok ? 0 : -1;
}

static int ensure_pg(struct expiry *x)
{
    char err[512];
    if (x->pg_ok)
        return 0;
    if (now_ms() < x->pg_retry_ms)
        return -1;
    if (pg_connect(x->pg, err, sizeof(err)) == PG_OK && seed(x, err, sizeof(err)) == 0) {
        log_info("connected to PostgreSQL");
        x->pg_ok = 1;
        x->pg_backoff_ms = 100;
        return 0;
    }
    log_error("PostgreSQL unavailable: %s; retrying in %ld ms", err, x->pg_backoff_ms);
    x->pg_retry_ms = now_ms() + x->pg_backoff_ms;
    x->pg_backoff_ms = x->pg_backoff_ms * 2 > 30000 ? 30000 : x->pg_backoff_ms * 2;
    return -1;
}

/* Partition count of the payments topic (refreshed every minute). */
static void refresh_partitions(struct expiry *x)
{
    const struct rd_kafka_metadata *md = NULL;
    if (now_ms() - x->meta_at_ms < 60000 && x->payment_partitions > 0)
        return;
    rd_kafka_topic_t *t = rd_kafka_topic_new(x->consumer, PAYMENT_TOPIC, NULL);
    if (!rd_kafka_metadata(x->consumer, 0, t, &md, 2000) && md->topic_cnt == 1 &&
        !md->topics[0].err) {
        x->payment_partitions = md->topics[0].partition_cnt;
        x->meta_at_ms = now_ms();
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
}

/* Returns a single-value query's result as int64 (-1 when NULL or failed). */
static int64_t query_ll(struct expiry *x, const char *stmt, int n, const char *const *v)
{
    PGresult *r = PQexecPrepared(pg_conn(x->pg), stmt, n, v, NULL, NULL, 0);
    int64_t out = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char err[512];
        pg_errline(pg_conn(x->pg), r, err, sizeof(err));
        log_error("%s: %s", stmt, err);
        if (pg_classify(pg_conn(x->pg), r) == PG_OUTAGE)
            x->pg_ok = 0;
    }
    PQclear(r);
    return out;
}

static void lag_alert(struct expiry *x, int64_t wm, int64_t now)
{
    char id[64], summary[256], details[256];
    if (x->lag_alerted_ms)
        return;
    x->lag_alerted_ms = now;
    snprintf(id, sizeof(id), "payment_watermark_lag:%lld", (long long)now);
    snprintf(summary, sizeof(summary),
             "payment consumers are %s behind: holds past expiry wait for them",
             wm < 0 ? "not reporting (never started or a partition unread)" : "over the bound");
    snprintf(details, sizeof(details), "{\"watermark_ms\": %lld, \"now_ms\": %lld}",
             (long long)wm, (long long)now);
    const char *v[3] = {id, summary, details};
    log_error("%s", summary);
    query_ll(x, "alert", 3, v);
}

/* Releases what is due: holds, and promotions' unsold earmarks at ends_at
 * (sf_expire_due, 023). Returns how many it released. */
static long expire_round(struct expiry *x)
{
    char parts[16], due_text[32], limit[16];
    int64_t now = now_ms();
    refresh_partitions(x);
    snprintf(parts, sizeof(parts), "%d", x->payment_partitions);
    const char *wv[3] = {PAYMENT_GROUP, PAYMENT_TOPIC, parts};
    int64_t wm = x->payment_partitions > 0 ? query_ll(x, "watermark", 3, wv) : -1;
    if (!x->pg_ok)
        return 0;
    int lagging = wm < 0 || now - wm > x->cfg->payment_lag_alert_s * 1000;
    if (lagging && heap_peek(x->heap) <= now)
        lag_alert(x, wm, now);
    else if (!lagging)
        x->lag_alerted_ms = 0;
    if (wm < 0)
        return 0;
    int64_t due = wm < now ? wm : now;
    snprintf(due_text, sizeof(due_text), "%lld", (long long)due);
    snprintf(limit, sizeof(limit), "%d", EXPIRE_LIMIT);
    const char *ev[2] = {due_text, limit};
    long total = 0, n;
    do {
        n = (long)query_ll(x, "expire", 2, ev);
        total += n > 0 ? n : 0;
    } while (n == EXPIRE_LIMIT && x->pg_ok);
    while (heap_len(x->heap) && heap_peek(x->heap) <= due)
        heap_pop(x->heap);
    if (total)
        log_info("released %ld expired hold(s) and promotion earmark(s)", total);
    return total;
}

/* The daily deadstock radar: at start, then every DEADSTOCK_RADAR_SECONDS.
 * sf_deadstock_alert raises at most one alert per SKU and UTC day (a table
 * keyed by both), so a restart, or several timeout-workers, add none. It
 * runs between expiry rounds: on a large catalogue it holds them back for
 * its duration (about 1 s per 100,000 SKUs, bench/deadstock.sh), once a day. */
static void radar(struct expiry *x)
{
    if (!x->cfg->deadstock_radar_s || now_ms() < x->radar_ms)
        return;
    int64_t n = query_ll(x, "radar", 0, NULL);
    if (n >= 0)
        log_info("deadstock radar: %lld alert(s) raised", (long long)n);
    x->radar_ms = now_ms() + (n >= 0 ? x->cfg->deadstock_radar_s * 1000 : RADAR_RETRY_MS);
}

static void on_message(struct expiry *x, rd_kafka_message_t *m)
{
    struct evt ev;
    char err[512];
    if (evt_parse(x->val, m->payload, m->len, &ev, err, sizeof(err)) == 0) {
        if (ev.type == EVT_ORDER_CREATED) {
            long long hold = ev.hold_seconds ? ev.hold_seconds : x->cfg->hold_seconds;
            push_expiry(x, ev.occurred_at_ms + hold * 1000);
        }
        evt_release(&ev);
    } /* invalid events are the order-worker's to dead-letter */
    kafka_store_next(x->consumer, m);
}

/* Waits for the next message until the earliest expiry or the next sweep. */
static void poll_once(struct expiry *x)
{
    int64_t now = now_ms(), wake = x->next_round_ms;
    int timeout = wake <= now ? 0 : (wake - now > 100 ? 100 : (int)(wake - now));
    rd_kafka_message_t *m = rd_kafka_consumer_poll(x->consumer, timeout);
    if (!m)
        return;
    if (m->err)
        log_warn("consumer: %s", rd_kafka_message_errstr(m));
    else
        on_message(x, m);
    rd_kafka_message_destroy(m);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        log_info("assigned %d partition(s)", parts->cnt);
    } else {
        log_info("revoked %d partition(s); committing stored offsets", parts->cnt);
        rd_kafka_resp_err_t ce = rd_kafka_commit(rk, NULL, 0);
        if (ce && ce != RD_KAFKA_RESP_ERR__NO_OFFSET)
            log_warn("commit on revoke: %s", rd_kafka_err2str(ce));
    }
    kafka_rebalance_apply(rk, err, parts);
}

/* Publishes pending outbox rows (expiry ledger records, alerts) when this
 * process is the relay. */
static void relay(struct expiry *x)
{
    char err[512];
    rd_kafka_poll(x->producer, 0);
    int n = outbox_relay(x->outbox, 0, err, sizeof(err));
    if (n == -1) {
        log_error("outbox: %s", err);
        x->pg_ok = 0;
        outbox_reset(x->outbox);
    } else if (n == -2) {
        log_warn("outbox: %s; will retry", err);
    }
}

static int expiry_init(struct expiry *x, const struct cfg *cfg)
{
    char err[512], host[64] = "host";
    memset(x, 0, sizeof(*x));
    x->cfg = cfg;
    x->pg_backoff_ms = 100;
    gethostname(host, sizeof(host) - 1);
    snprintf(x->client_id, sizeof(x->client_id), "timeout-worker@%s:%d", host, (int)getpid());
    if (heap_new(&x->heap, EXPIRY_HEAP_CAP) ||
        pg_new(&x->pg, cfg->database_url, x->client_id, cfg->lock_timeout_ms,
               cfg->statement_timeout_ms, stmts, sizeof(stmts) / sizeof(stmts[0])))
        return log_error("out of memory"), -1;
    if (evt_validator_new(&x->val, err, sizeof(err)))
        return log_error("schemas: %s", err), -1;
    x->consumer = kafka_consumer_new(cfg->kafka_brokers, GROUP, x->client_id, cfg->rdkafka,
                                     on_rebalance, x, err, sizeof(err));
    if (!x->consumer)
        return log_error("%s", err), -1;
    x->producer = kafka_producer_new(cfg->kafka_brokers, x->client_id, cfg->rdkafka,
                                     kafka_dr_status, x, err, sizeof(err));
    if (!x->producer)
        return log_error("%s", err), -1;
    if (outbox_new(&x->outbox, x->producer, x->pg))
        return log_error("out of memory"), -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "inventory.orders", RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(x->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        return log_error("subscribe: %s", rd_kafka_err2str(e)), -1;
    return 0;
}

static void expiry_free(struct expiry *x)
{
    kafka_consumer_free(x->consumer, KAFKA_CLOSE_BUDGET_MS);
    if (x->producer) {
        rd_kafka_flush(x->producer, 10000);
        rd_kafka_destroy(x->producer);
    }
    outbox_free(x->outbox);
    pg_free(x->pg);
    evt_validator_free(x->val);
    heap_free(x->heap);
}

int expiry_run(const struct cfg *cfg, volatile sig_atomic_t *stop)
{
    struct expiry x;
    int rc = 1;
    if (expiry_init(&x, cfg) == 0) {
        rc = 0;
        log_info("started: group %s; pending-hold heap of %zu bytes", GROUP, heap_bytes(x.heap));
        while (!*stop) {
            worker_beat();
            poll_once(&x);
            if (kafka_fatal()) { /* logged by the producer's error callback */
                rc = 1;
                break;
            }
            metrics_gauge_set(METRICS_PENDING_HOLDS, "", (double)heap_len(x.heap));
            if (ensure_pg(&x)) {
                worker_ready(0, "PostgreSQL unavailable");
                continue;
            }
            worker_ready(1, "ok");
            relay(&x);
            radar(&x);
            if (now_ms() - x.overdue_ms >= OVERDUE_EVERY_MS) { /* stockflow_overdue_holds */
                int64_t n = query_ll(&x, "overdue", 0, NULL);
                x.overdue_ms = now_ms();
                if (n >= 0)
                    metrics_gauge_set(METRICS_OVERDUE_HOLDS, "", (double)n);
            }
            if (now_ms() < x.next_round_ms)
                continue;
            expire_round(&x);
            /* next: the earliest hold, a sweep, or soon when the watermark holds us back */
            int64_t now = now_ms(), top = heap_peek(x.heap);
            x.next_round_ms = top <= now ? now + 50 : (top < now + SWEEP_MS ? top : now + SWEEP_MS);
        }
        log_info("stopping");
    }
    expiry_free(&x);
    return rc;
}
