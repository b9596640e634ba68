/* worker: the consumer loop of the event workers: life cycle, rebalances,
 * outages (pause, reconnect, resume, alert), the outbox relay, and the
 * process entry (arguments, configuration, signals). One batch at a time is
 * handled by batch.c. */
#include "worker_int.h"

#include "http.h"
#include "kafka.h"
#include "metrics.h"
#include "route.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

/* A loop turn longer than this is logged with its phases (slow_iteration). */
#define SLOW_ITERATION_MS 500

/* The loop may block up to a statement timeout or a dead-letter flush (30 s
 * each) before it beats again: alive means a beat within a minute. */
static struct http_heartbeat heartbeat = HTTP_HEARTBEAT_INIT(60000);
static struct http_status readiness = HTTP_STATUS_INIT;

void worker_beat(void)
{
    http_heartbeat_beat(&heartbeat);
}

void worker_ready(int ok, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    http_status_set(&readiness, ok, "%s", why);
}

/* ---- pausing for outages ------------------------------------------------ */

long worker_backoff_next(long prev_ms, unsigned *seed)
{
    long hi = prev_ms * 3;
    if (hi > BACKOFF_MAX_MS)
        hi = BACKOFF_MAX_MS;
    if (hi <= BACKOFF_MIN_MS)
        return BACKOFF_MIN_MS;
    return BACKOFF_MIN_MS + (long)(rand_r(seed) % (unsigned)(hi - BACKOFF_MIN_MS + 1));
}

static const char *sqlstate_class(const char *st)
{
    static const struct {
        const char *prefix, *name;
    } classes[] = {
        {"08", "connection exception"},       {"53", "insufficient resources"},
        {"57", "operator intervention"},      {"25", "invalid transaction state"},
        {"42", "missing table or privilege"}, {"25006", "read-only transaction"},
        {"58", "system error"},               {"XX", "internal error"},
    };
    const char *best = "other";
    size_t bestlen = 0;
    for (size_t i = 0; i < sizeof(classes) / sizeof(*classes); i++) {
        size_t n = strlen(classes[i].prefix);
        if (n > bestlen && !strncmp(st, classes[i].prefix, n)) {
            best = classes[i].name;
            bestlen = n;
        }
    }
    return best;
}

void worker_outage_reason(char *out, size_t outlen, int db, const char *err)
{
    if (!db) {
        snprintf(out, outlen, "broker unreachable: %s", err ? err : "unknown error");
        return;
    }
    /* pg_errline puts the SQLSTATE first when the server sent one */
    int has_state = err && strlen(err) >= 5 && (err[5] == ' ' || err[5] == '\0');
    for (int i = 0; has_state && i < 5; i++)
        has_state = (err[i] >= '0' && err[i] <= '9') || (err[i] >= 'A' && err[i] <= 'Z');
    if (has_state)
        snprintf(out, outlen, "database unreachable (SQLSTATE %.5s: %s)", err,
                 sqlstate_class(err));
    else
        snprintf(out, outlen, "database unreachable (no connection)");
}

/* stockflow_paused{reason}: 1 while consumption is paused for that
 * dependency, so dashboards see the pause itself, not only its lag. */
static void paused_gauges(const struct worker *w)
{
    metrics_gauge_set(METRICS_PAUSED, "reason=\"database\"", w->paused && w->db_down);
    metrics_gauge_set(METRICS_PAUSED, "reason=\"broker\"", w->paused && !w->db_down);
}

/* /readyz while paused: the current error, how long, the next probe. */
static void outage_ready(const struct worker *w)
{
    char at[40];
    time_t secs = (time_t)(w->retry_at_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(at + n, sizeof(at) - n, ".%03dZ", (int)(w->retry_at_ms % 1000));
    worker_ready(0, "paused for %.1f s: %s; next attempt at %s",
                 (now_ms() - w->outage_since_ms) / 1000.0, w->outage_why, at);
}

void worker_enter_outage(struct worker *w, int db, const char *why)
{
    int64_t now = now_ms();
    if (!w->paused && now - w->resumed_ms < OUTAGE_CONTINUES_MS) {
        /* failed again right after resuming: the same outage goes on */
        w->backoff_ms = worker_backoff_next(w->backoff_ms, &w->jitter_seed);
        log_warn("%s still unavailable after resuming: %s; pausing again for %ld ms",
                 db ? "PostgreSQL" : "Kafka", why, w->backoff_ms);
    } else if (!w->paused) {
        log_error("%s unavailable: %s; pausing consumption until it is back",
                  db ? "PostgreSQL" : "Kafka", why);
        w->outage_since_ms = now;
        w->backoff_ms = worker_backoff_next(BACKOFF_MIN_MS, &w->jitter_seed);
        w->outage_alerted = 0;
        w->alert_now = 0;
    }
    worker_outage_reason(w->outage_why, sizeof(w->outage_why), db, why);
    w->paused = 1;
    w->db_down |= db;
    w->retry_at_ms = now + w->backoff_ms;
    outage_ready(w);
    paused_gauges(w);
    kafka_pause_all(w->consumer, 1);
}

/* Ready: connected to PostgreSQL, partitions assigned, not paused. */
static void update_ready(struct worker *w)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    int n = 0;
    if (!rd_kafka_assignment(w->consumer, &parts) && parts) {
        n = parts->cnt;
        rd_kafka_topic_partition_list_destroy(parts);
    }
    if (w->paused)
        outage_ready(w);
    else if (!pg_conn(w->pg))
        worker_ready(0, "not connected to PostgreSQL");
    else if (n == 0)
        worker_ready(0, "no partitions assigned");
    else
        worker_ready(1, "ok: %d partition(s)", n);
}

/* One alert per outage that lasts OUTAGE_ALERT_MS, straight to
 * inventory.alerts (the outbox lives in the database that may be down). */
static int gen_kv(yajl_gen g, const char *key, const char *val)
{
    return yajl_gen_string(g, (const unsigned char *)key, strlen(key)) != yajl_gen_status_ok ||
           yajl_gen_string(g, (const unsigned char *)val, strlen(val)) != yajl_gen_status_ok;
}

/* The outage alert's JSON (DESIGN §6), from yajl's generator. Returns the
 * generator holding it (caller frees), or NULL when out of memory. */
static yajl_gen outage_alert_json(const struct worker *w, const char *id, int64_t now)
{
    char at[32], summary[512];
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(summary, sizeof(summary), "%s paused for %lld s: %s", w->role->name,
             (long long)(now - w->outage_since_ms) / 1000, w->outage_why);
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g)
        return NULL;
    int bad = yajl_gen_map_open(g) != yajl_gen_status_ok || gen_kv(g, "alert_id", id) ||
              gen_kv(g, "kind", "outage") || gen_kv(g, "severity", "critical") ||
              gen_kv(g, "summary", summary) || gen_kv(g, "occurred_at", at) ||
              yajl_gen_string(g, (const unsigned char *)"details", 7) != yajl_gen_status_ok ||
              yajl_gen_map_open(g) != yajl_gen_status_ok || gen_kv(g, "worker", w->client_id) ||
              yajl_gen_string(g, (const unsigned char *)"since_ms", 8) != yajl_gen_status_ok ||
              yajl_gen_integer(g, (long long)w->outage_since_ms) != yajl_gen_status_ok ||
              gen_kv(g, "reason", w->outage_why) || yajl_gen_map_close(g) != yajl_gen_status_ok ||
              yajl_gen_map_close(g) != yajl_gen_status_ok;
    if (bad) {
        yajl_gen_free(g);
        return NULL;
    }
    return g;
}

static void outage_alert(struct worker *w)
{
    char id[192];
    const unsigned char *body;
    size_t len;
    int64_t now = now_ms();
    if (w->outage_alerted || (now - w->outage_since_ms < OUTAGE_ALERT_MS && !w->alert_now))
        return;
    w->outage_alerted = 1;
    snprintf(id, sizeof(id), "outage:%s:%lld", w->client_id, (long long)w->outage_since_ms);
    yajl_gen g = outage_alert_json(w, id, now);
    if (!g || yajl_gen_get_buf(g, &body, &len) != yajl_gen_status_ok) {
        log_error("outage alert not queued: out of memory");
        if (g)
            yajl_gen_free(g);
        return;
    }
    /* its own producer: a flush that gives up on dead letters purges its queue */
    rd_kafka_resp_err_t e = rd_kafka_producev(
        w->alert_producer, RD_KAFKA_V_TOPIC("inventory.alerts"), RD_KAFKA_V_KEY(id, strlen(id)),
        RD_KAFKA_V_VALUE((void *)(uintptr_t)body, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_END);
    yajl_gen_free(g);
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
            kafka_rewind(w->consumer, m); /* fetched before the pause took effect */
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
            w->backoff_ms = worker_backoff_next(w->backoff_ms, &w->jitter_seed);
            w->retry_at_ms = now_ms() + w->backoff_ms;
            worker_outage_reason(w->outage_why, sizeof(w->outage_why), 1, err);
            outage_ready(w);
            return;
        }
    }
    log_info("dependencies available again after %.1f s; resuming consumption",
             (now_ms() - w->outage_since_ms) / 1000.0);
    w->resumed_ms = now_ms();
    outbox_reset(w->outbox);
    w->paused = w->db_down = 0;
    kafka_pause_all(w->consumer, 0);
    paused_gauges(w);
    update_ready(w);
}

/* Room in w->waits for every assigned retry partition (wait_until adds at
 * most one entry per partition, on_rebalance drops revoked ones), so the
 * array grows with the assignment and never beyond it. */
static void reserve_waits(struct worker *w, rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *a = NULL;
    size_t want = 0;
    if (rd_kafka_assignment(rk, &a) || !a)
        return;
    for (int i = 0; i < a->cnt; i++)
        want += route_retry_step(a->elems[i].topic) > 0;
    rd_kafka_topic_partition_list_destroy(a);
    if (want <= w->waits_cap)
        return;
    struct waiting *n = realloc(w->waits, want * sizeof(*n));
    if (!n) {
        log_error("out of memory: retry records not due are read again instead of waited for");
        return;
    }
    w->waits = n;
    w->waits_cap = want;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct worker *w = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        log_info("assigned %d partition(s)", parts->cnt);
        kafka_rebalance_apply(rk, err, parts);
        reserve_waits(w, rk);
        if (w->paused)
            rd_kafka_pause_partitions(rk, parts);
        update_ready(w);
        return;
    }
    log_info("revoked %d partition(s); committing stored offsets", parts->cnt);
    /* a paused retry partition goes with the assignment; the others stay
     * paused until due (a cooperative rebalance revokes only some) */
    for (size_t i = 0; i < w->nwaits;) {
        if (rd_kafka_topic_partition_list_find(parts, w->waits[i].topic, w->waits[i].partition))
            w->waits[i] = w->waits[--w->nwaits];
        else
            i++;
    }
    rd_kafka_resp_err_t ce = rd_kafka_commit(rk, NULL, 0);
    if (ce && ce != RD_KAFKA_RESP_ERR__NO_OFFSET)
        log_warn("commit on revoke: %s", rd_kafka_err2str(ce));
    if (kafka_rebalance_apply(rk, err, parts) == 0)
        worker_ready(0, "no partitions assigned");
}

/* ---- life cycle --------------------------------------------------------- */

static void worker_free(struct worker *w)
{
    kafka_consumer_free(w->consumer, KAFKA_CLOSE_BUDGET_MS);
    rd_kafka_t *producers[2] = {w->producer, w->alert_producer};
    for (int i = 0; i < 2; i++) {
        if (!producers[i])
            continue;
        if (rd_kafka_flush(producers[i], 10000))
            log_warn("%d record(s) not delivered at shutdown", rd_kafka_outq_len(producers[i]));
        rd_kafka_destroy(producers[i]);
    }
    outbox_free(w->outbox);
    pg_free(w->pg);
    evt_validator_free(w->val);
    free(w->items);
    free(w->inv);
    free(w->inv_idx);
    free(w->pins);
    free(w->unpins);
    free(w->parts);
    free(w->held);
    free(w->waits);
}

static int worker_init(struct worker *w, const struct worker_role *role, const struct cfg *cfg)
{
    char err[512], host[64] = "host";
    const char *const *env = cfg->rdkafka;
    memset(w, 0, sizeof(*w));
    w->role = role;
    w->cfg = cfg;
    w->jitter_seed = (unsigned)getpid() ^ (unsigned)now_ms();
    gethostname(host, sizeof(host) - 1);
    snprintf(w->client_id, sizeof(w->client_id), "%s@%s:%d", role->name, host, (int)getpid());
    size_t bm = (size_t)cfg->batch_max;
    w->items = calloc(bm, sizeof(*w->items));
    w->inv = calloc(bm, sizeof(*w->inv));
    w->inv_idx = calloc(bm, sizeof(*w->inv_idx));
    w->pins = calloc(bm, sizeof(*w->pins));
    w->unpins = calloc(bm, sizeof(*w->unpins));
    w->parts = calloc(bm, sizeof(*w->parts));
    w->held = calloc(bm, sizeof(*w->held));
    if (!w->items || !w->inv || !w->inv_idx || !w->pins || !w->unpins || !w->parts || !w->held)
        return log_error("out of memory"), -1;
    if (evt_validator_new(&w->val, err, sizeof(err)))
        return log_error("schemas: %s", err), -1;
    if (pg_new(&w->pg, cfg->database_url, w->client_id, cfg->lock_timeout_ms,
               cfg->statement_timeout_ms, inv_stmts, inv_nstmts))
        return log_error("out of memory"), -1;
    w->alert_producer = kafka_producer_new(cfg->kafka_brokers, w->client_id, env, kafka_dr_status,
                                           w, err, sizeof(err));
    if (!w->alert_producer)
        return log_error("%s", err), -1;
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

/* Positions of parts for the lag while paused: a partition never fetched
 * (assigned during the outage) has no position; its committed offset is
 * where work will resume. Bounded: one committed-offsets request. */
static void lag_positions(struct worker *w, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_position(w->consumer, parts);
    int unknown = 0;
    for (int i = 0; i < parts->cnt; i++)
        unknown += parts->elems[i].offset < 0;
    if (!unknown)
        return;
    rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(parts);
    if (rd_kafka_committed(w->consumer, c, 500) == RD_KAFKA_RESP_ERR_NO_ERROR)
        for (int i = 0; i < parts->cnt; i++)
            if (parts->elems[i].offset < 0)
                parts->elems[i].offset = c->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(c);
}

/* Consumer lag per assigned partition, once a second. While consuming, from
 * the end offsets librdkafka learned with its last fetch (no broker round
 * trip). While paused for an outage nothing is fetched, so those ends stop
 * moving and the dashboards would go blind exactly when the backlog grows:
 * then the ends are asked from the broker (ListOffsets, 200 ms each at most,
 * the round given up at the first timeout: a broker outage). A partition
 * without a committed offset counts from its start. */
static void report_lag(struct worker *w)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (now_ms() - w->lag_ms < 1000 || rd_kafka_assignment(w->consumer, &parts) || !parts)
        return;
    w->lag_ms = now_ms();
    if (w->paused)
        lag_positions(w, parts);
    else
        rd_kafka_position(w->consumer, parts);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        int64_t lo = -1, hi = -1, pos = tp->offset;
        char labels[METRICS_MAX_LABELS], part[16];
        rd_kafka_resp_err_t e =
            w->paused ? rd_kafka_query_watermark_offsets(w->consumer, tp->topic, tp->partition,
                                                         &lo, &hi, 200)
                      : rd_kafka_get_watermark_offsets(w->consumer, tp->topic, tp->partition,
                                                       &lo, &hi);
        if (e == RD_KAFKA_RESP_ERR__TIMED_OUT || e == RD_KAFKA_RESP_ERR__TRANSPORT ||
            e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
            break; /* the broker is down too: no more waits this round */
        if (e || hi < 0 || (pos < 0 && !w->paused))
            continue;
        if (pos < 0)
            pos = lo;
        snprintf(part, sizeof(part), "%d", (int)tp->partition);
        metrics_labels(labels, sizeof(labels), "topic", tp->topic, "partition", part, NULL);
        metrics_gauge_set(METRICS_CONSUMER_LAG, labels, (double)(hi > pos ? hi - pos : 0));
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

/* One turn of the loop that took long stalls every partition of this
 * worker: say where the time went (start t0, batch done t1). */
static void slow_iteration(const struct worker *w, int64_t t0, int64_t t1)
{
    int64_t total = now_ms() - t0;
    const int64_t *ph = w->phase_ms;
    if (total < SLOW_ITERATION_MS)
        return;
    log_warn("slow loop turn: %lld ms (poll %lld, apply %lld for %zu events, retry/DLQ writes "
             "%lld, offsets %lld, watermarks %lld, relay and lag %lld)",
             (long long)total, (long long)ph[0], (long long)ph[1], w->phase_n, (long long)ph[2],
             (long long)ph[3], (long long)ph[4], (long long)(now_ms() - t1));
}

/* Publishes pending outbox rows when this process is the relay. */
static void relay(struct worker *w)
{
    char err[512];
    int n = outbox_relay(w->outbox, 0, err, sizeof(err));
    if (n == -1)
        worker_enter_outage(w, 1, err);
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
    struct worker *w = calloc(1, sizeof(*w)); /* ~34 KB: off the stack */
    int rc = 1;
    if (!w)
        return log_error("out of memory"), 1;
    if (worker_init(w, role, cfg) || subscribe(w))
        goto out;
    char err[512];
    enum pg_class c = pg_connect(w->pg, err, sizeof(err));
    if (c != PG_OK)
        worker_enter_outage(w, 1, err);
    paused_gauges(w);
    log_info("started: group %s, batches of up to %ld events", role->group, cfg->batch_max);
    rc = 0;
    while (!*stop) {
        worker_beat();
        rd_kafka_poll(w->producer, 0);
        rd_kafka_poll(w->alert_producer, 0);
        if (kafka_fatal()) {
            rc = 1; /* logged by the producer's error callback */
            break;
        }
        if (w->paused) {
            outage_step(w);
            report_lag(w); /* dashboards must not go blind during an outage */
            continue;
        }
        int64_t t0 = now_ms();
        batch_resume_due(w);
        int v = batch_run(w);
        if (v & BATCH_FATAL) {
            rc = 1;
            break;
        }
        if (v & BATCH_DB_DOWN)
            worker_enter_outage(w, 1, w->verdict_why);
        if (v & BATCH_BROKER_DOWN) {
            worker_enter_outage(w, 0, "retry or dead-letter topic not writable");
            w->alert_now = 1; /* DESIGN §6: nothing dropped, and the worker alerts */
        }
        int64_t t1 = now_ms();
        relay(w);
        report_lag(w);
        slow_iteration(w, t0, t1);
    }
    worker_ready(0, "stopping");
    log_info("stopping: committing offsets and leaving the group");
out:
    worker_free(w);
    free(w);
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
            "Consumer group %s. Configuration comes from the environment:\n",
            r->name, r->summary, r->group);
    cfg_usage(f, r->http_port);
    fprintf(f, "Logs are JSON lines on stderr. SIGTERM or SIGINT stops after the batch in\n"
               "flight, with offsets committed; a second signal exits at once.\n"
               "Exit codes: 0 clean stop, 1 runtime failure, 2 bad usage or configuration.\n");
}

/* A loop turn ends within TURN_DEADLINE_MS, then one statement that was
 * already running (PG_STATEMENT_TIMEOUT_MS at most), then the retry/DLQ
 * flush (ROUTE_FLUSH_MS at most). That must fit in max.poll.interval.ms, or
 * a slow turn makes the consumer leave its group in the middle of a batch. */
static int check_turn_budget(const struct cfg *c, const rd_kafka_conf_t *conf, char *err,
                             size_t errlen)
{
    char v[32];
    size_t n = sizeof(v);
    long poll_ms = 0;
    if (rd_kafka_conf_get(conf, "max.poll.interval.ms", v, &n) == RD_KAFKA_CONF_OK)
        poll_ms = strtol(v, NULL, 10);
    long turn = c->turn_deadline_ms + c->statement_timeout_ms + ROUTE_FLUSH_MS;
    if (poll_ms >= turn)
        return 0;
    snprintf(err, errlen,
             "invalid configuration: TURN_DEADLINE_MS=%ld: a loop turn may last %ld ms "
             "(TURN_DEADLINE_MS + PG_STATEMENT_TIMEOUT_MS=%ld + %d ms of retry/DLQ writes), "
             "more than max.poll.interval.ms=%ld (RDKAFKA_MAX_POLL_INTERVAL_MS)",
             c->turn_deadline_ms, turn, c->statement_timeout_ms, ROUTE_FLUSH_MS, poll_ms);
    return -1;
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
    log_init(role->name, LOG_LEVEL_INFO);
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
    const struct kafka_prop poll = {"max.poll.interval.ms", KAFKA_MAX_POLL_INTERVAL_MS};
    rd_kafka_conf_t *probe =
        kafka_conf_new(cfg.kafka_brokers, &poll, 1, cfg.rdkafka, err, sizeof(err));
    if (!probe || (!role->run && check_turn_budget(&cfg, probe, err, sizeof(err)))) {
        if (probe)
            rd_kafka_conf_destroy(probe);
        fprintf(stderr, "%s: %s\n", role->name, err);
        return 2;
    }
    rd_kafka_conf_destroy(probe);
    log_init(role->name, (enum log_level)cfg.log_level);
    cfg_log(&cfg);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    metrics_describe_stockflow(role->name, STOCKFLOW_VERSION);
    const struct http_probe health = {http_heartbeat_check, &heartbeat, http_status_check,
                                     &readiness};
    struct http *http = NULL;
    if (http_new(&http, cfg.http_bind, cfg.http_port, &health, err, sizeof(err))) {
        fprintf(stderr, "%s: %s\n", role->name, err);
        return 2;
    }
    worker_beat();
    int rc = role->run ? role->run(&cfg, &stop_flag) : worker_run(role, &cfg, &stop_flag);
    http_free(http);
    log_info("stopped (exit status %d)", rc);
    return rc;
}
