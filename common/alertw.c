#include "alertw.h"

#include "alert.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "worker.h"
#include "route.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 100           /* longest wait between two consumer polls */
#define DLQ_POLL_MS 20        /* poll period while the alerts DLQ acknowledges */
#define STOP_DLQ_WAIT_MS 5000 /* at SIGTERM, wait this long for a pending DLQ ack */

/* What the record in hand waits for. */
enum held { H_NONE = 0, H_SEND, H_DLQ_WAIT, H_DLQ_RETRY };

struct alertw {
    const struct alertw_role *role;
    const struct cfg *cfg;
    volatile sig_atomic_t *stop;
    rd_kafka_t *consumer, *producer;
    struct alert_http *http; /* NULL: ALERT_WEBHOOK_URL unset, alerts are logged */
    char client_id[128];
    /* the record in hand (m != NULL), handled to its end before the next */
    rd_kafka_message_t *m;
    enum held st;
    char *body; /* the alert JSON */
    size_t len;
    char id[ALERT_ID_MAX + 1], summary[1024];
    char why[640]; /* x-error of its alerts-DLQ record */
    int attempt, dlq_attempt;
    int64_t next_at_ms;
    int paused;  /* every assigned partition paused */
    int revoked; /* its partition was revoked: abandon it */
    uintptr_t dlq_seq;
    int dlq_dr; /* 0 pending, 1 acknowledged, -1 failed */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct log_ctx held_ctx(const struct alertw *w)
{
    struct log_ctx c = {.topic = rd_kafka_topic_name(w->m->rkt),
                        .partition = w->m->partition,
                        .offset = w->m->offset};
    return c;
}

/* ---- pausing while an alert waits ----------------------------------------- */

static void set_paused(struct alertw *w, int pause)
{
    w->paused = pause;
    kafka_pause_all(w->consumer, pause);
}

/* Makes the record in hand wait for `st`, delay_ms from now. */
static void hold(struct alertw *w, enum held st, long delay_ms)
{
    w->st = st;
    w->next_at_ms = now_ms() + delay_ms;
    if (!w->paused)
        set_paused(w, 1);
}
static void store_offset(struct alertw *w)
{
    kafka_store_next(w->consumer, w->m);
}

/* Ends the record in hand, storing its offset when `done`. */
static void release(struct alertw *w, int done)
{
    if (done && !w->revoked)
        store_offset(w);
    free(w->body);
    w->body = NULL;
    rd_kafka_message_destroy(w->m);
    w->m = NULL;
    w->st = H_NONE;
    w->attempt = w->dlq_attempt = w->revoked = 0;
    if (w->paused)
        set_paused(w, 0);
}

/* ---- callbacks ------------------------------------------------------------ */

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct alertw *w = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        log_info("assigned %d partition(s)", parts->cnt);
        kafka_rebalance_apply(rk, err, parts);
        if (w->paused)
            rd_kafka_pause_partitions(rk, parts);
        return;
    }
    log_info("revoked %d partition(s); committing stored offsets", parts->cnt);
    if (w->m &&
        rd_kafka_topic_partition_list_find(parts, rd_kafka_topic_name(w->m->rkt), w->m->partition))
        w->revoked = 1;
    rd_kafka_resp_err_t ce = rd_kafka_commit(rk, NULL, 0);
    if (ce && ce != RD_KAFKA_RESP_ERR__NO_OFFSET)
        log_warn("commit on revoke: %s", rd_kafka_err2str(ce));
    kafka_rebalance_apply(rk, err, parts);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct alertw *w = opaque;
    (void)rk;
    if (m->err)
        log_error("record to %s not written: %s", rd_kafka_topic_name(m->rkt),
                  rd_kafka_err2str(m->err));
    if (w->m && w->st == H_DLQ_WAIT && (uintptr_t)m->_private == w->dlq_seq)
        w->dlq_dr = m->err ? -1 : 1;
}

/* ---- one record ----------------------------------------------------------- */

/* Writes the record in hand to the alerts DLQ (x-error: w->why); the offset
 * is stored once the broker acknowledged it. */
static void dlq_send(struct alertw *w)
{
    char err[512];
    struct route_origin o;
    /* a dead letter keeps its provenance; one past the last retry step is
     * the highest attempt a worker writes to a DLQ */
    route_origin_of(w->m, (int)w->cfg->n_retry + 1, now_ms(), &o);
    struct route_failure f = {.error_class = "poison",
                              .error = w->why,
                              .group = w->role->group,
                              .worker = w->client_id,
                              .attempt = o.attempt + 1,
                              .origin = &o};
    struct log_ctx ctx = held_ctx(w);
    w->dlq_dr = 0;
    w->dlq_seq++;
    if (route_produce(w->producer, w->m, w->role->alerts_dlq, &f, (void *)w->dlq_seq, err,
                      sizeof(err))) {
        long d = alert_backoff_ms(++w->dlq_attempt);
        logm_error(&ctx, "%s; trying again in %ld ms", err, d);
        hold(w, H_DLQ_RETRY, d);
        return;
    }
    hold(w, H_DLQ_WAIT, 0);
}

/* Webhook answers for /metrics: deliveries by status, failures by reason. */
static void count_delivery(const struct alert_result *r)
{
    char labels[METRICS_MAX_LABELS], status[16];
    snprintf(status, sizeof(status), "%ld", r->status);
    metrics_labels(labels, sizeof(labels), "status", r->status ? status : "none", NULL);
    metrics_counter_add(METRICS_WEBHOOK_DELIVERIES, labels, 1);
    if (r->cls == ALERT_DELIVERED)
        return;
    const char *reason = r->status >= 500 ? "http_5xx"
                         : r->status >= 400 ? "http_4xx"
                         : r->curl_code == 28 ? "timeout" /* CURLE_OPERATION_TIMEDOUT */
                         : r->curl_code == 7 ? "connect" /* CURLE_COULDNT_CONNECT */
                                             : "other";
    metrics_labels(labels, sizeof(labels), "reason", reason, NULL);
    metrics_counter_add(METRICS_WEBHOOK_FAILURES, labels, 1);
}

/* One POST of the alert in hand, and what follows from its answer. */
static void attempt(struct alertw *w)
{
    struct alert_result r;
    struct log_ctx ctx = held_ctx(w);
    alert_http_post(w->http, w->id, w->body, w->len, &r);
    w->attempt++;
    count_delivery(&r);
    if (r.cls == ALERT_DELIVERED) {
        logm_info(&ctx, "alert %s delivered (HTTP %ld, attempt %d)", w->id, r.status, w->attempt);
        release(w, 1);
    } else if (r.cls == ALERT_PERMANENT) {
        snprintf(w->why, sizeof(w->why), "webhook refused alert %s with HTTP %ld: %s", w->id,
                 r.status, r.detail);
        logm_error(&ctx, "%s; sending the record to %s", w->why, w->role->alerts_dlq);
        dlq_send(w);
    } else if (*w->stop) {
        logm_info(&ctx, "stopping: alert %s abandoned undelivered (%s)", w->id, r.detail);
        release(w, 0);
    } else {
        long d = alert_retry_delay_ms(r.retry_after_ms, w->attempt);
        char what[64];
        if (r.curl_code)
            snprintf(what, sizeof(what), "curl error %d", r.curl_code);
        else
            snprintf(what, sizeof(what), "HTTP %ld", r.status);
        logm_warn(&ctx, "alert %s not delivered (attempt %d, %s: %s); trying again in %ld ms%s",
                  w->id, w->attempt, what, r.detail, d,
                  r.retry_after_ms >= 0 ? " (Retry-After)" : "");
        hold(w, H_SEND, d);
    }
}

/* The alert of a dead letter, into w->body. Returns 0, or -1 (out of memory). */
static int dead_letter_alert(struct alertw *w)
{
    struct alert_header hs[64];
    size_t n = 0;
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(w->m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *val;
        size_t size;
        while (n < sizeof(hs) / sizeof(hs[0]) &&
               rd_kafka_header_get_all(hdrs, n, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR)
            hs[n++] = (struct alert_header){.name = name, .value = val, .size = size};
    }
    struct alert_dead_letter d = {.topic = rd_kafka_topic_name(w->m->rkt),
                                  .partition = w->m->partition,
                                  .offset = w->m->offset,
                                  .key = w->m->key,
                                  .key_len = w->m->key_len,
                                  .payload = w->m->payload,
                                  .len = w->m->len,
                                  .headers = hs,
                                  .nheaders = n,
                                  .now_ms = now_ms(),
                                  .omit_payload = !w->cfg->alert_include_payload};
    char err[512];
    if (alert_dead_letter_json(&d, &w->body, &w->len, w->id, w->summary, sizeof(w->summary), err,
                               sizeof(err)))
        return log_error("%s", err), -1;
    return 0;
}

/* A record of the alerts topic, checked and copied into w->body. Returns 0,
 * 1 when it is not an alert (sent to the alerts DLQ), -1 out of memory. */
static int alert_record(struct alertw *w)
{
    char err[400];
    if (alert_parse(w->m->payload, w->m->len, w->id, w->summary, sizeof(w->summary), err,
                    sizeof(err))) {
        struct log_ctx ctx = held_ctx(w);
        snprintf(w->why, sizeof(w->why), "not an alert: %s", err);
        logm_error(&ctx, "%s; sending the record to %s", w->why, w->role->alerts_dlq);
        dlq_send(w);
        return 1;
    }
    if (!(w->body = malloc(w->m->len + 1)))
        return log_error("out of memory"), -1;
    memcpy(w->body, w->m->payload, w->m->len);
    w->body[w->m->len] = '\0';
    w->len = w->m->len;
    return 0;
}

/* Takes a new record. Returns 0, or -1 on a fatal error. */
static int take(struct alertw *w, rd_kafka_message_t *m)
{
    w->m = m;
    w->st = H_SEND;
    int rc = strcmp(rd_kafka_topic_name(m->rkt), w->role->alerts_topic) == 0 ? alert_record(w)
                                                                             : dead_letter_alert(w);
    if (rc)
        return rc < 0 ? -1 : 0;
    if (!w->http) {
        struct log_ctx ctx = held_ctx(w);
        logm_warn(&ctx, "alert %s: %s", w->id, w->summary[0] ? w->summary : "(no summary)");
        release(w, 1);
        return 0;
    }
    attempt(w);
    return 0;
}

/* ---- the loop ------------------------------------------------------------- */

/* An error event from the consumer; destroys m. Returns -1 if fatal. */
static int consumer_error(struct alertw *w, rd_kafka_message_t *m)
{
    int fatal = m->err == RD_KAFKA_RESP_ERR__FATAL;
    if (fatal) {
        char why[512];
        rd_kafka_fatal_error(w->consumer, why, sizeof(why));
        log_error("fatal consumer error: %s", why);
    } else {
        log_warn("consumer: %s", rd_kafka_message_errstr(m));
    }
    rd_kafka_message_destroy(m);
    return fatal ? -1 : 0;
}

/* One step while a record is in hand: poll (the group stays alive), then
 * act when its time has come. Returns -1 on a fatal error. */
static int held_step(struct alertw *w)
{
    int64_t wait = w->st == H_DLQ_WAIT ? DLQ_POLL_MS : w->next_at_ms - now_ms();
    wait = wait < 0 ? 0 : wait > POLL_MS ? POLL_MS : wait;
    rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, (int)wait);
    if (m && m->err)
        return consumer_error(w, m);
    if (m) {
        kafka_rewind(w->consumer, m);
        rd_kafka_message_destroy(m);
    }
    rd_kafka_poll(w->producer, 0);
    if (w->revoked) {
        struct log_ctx ctx = held_ctx(w);
        logm_info(&ctx, "partition revoked: alert %s left to its next owner", w->id);
        release(w, 0);
    } else if (w->st == H_DLQ_WAIT && w->dlq_dr == 1) {
        struct log_ctx ctx = held_ctx(w);
        logm_warn(&ctx, "record written to %s (%s)", w->role->alerts_dlq, w->why);
        release(w, 1);
    } else if (w->st == H_DLQ_WAIT && w->dlq_dr < 0) {
        hold(w, H_DLQ_RETRY, alert_backoff_ms(++w->dlq_attempt));
    } else if (w->st != H_DLQ_WAIT && now_ms() >= w->next_at_ms) {
        if (w->st == H_SEND)
            attempt(w);
        else
            dlq_send(w);
    }
    return 0;
}

static int step(struct alertw *w)
{
    rd_kafka_poll(w->producer, 0);
    if (w->m)
        return held_step(w);
    rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, POLL_MS);
    if (!m)
        return 0;
    if (m->err)
        return consumer_error(w, m);
    return take(w, m);
}

/* At SIGTERM: a record whose DLQ copy is in flight may still finish; any
 * other is abandoned, its offset not stored. */
static void finish_held(struct alertw *w)
{
    if (!w->m)
        return;
    for (int i = 0; w->st == H_DLQ_WAIT && w->dlq_dr == 0 && i < STOP_DLQ_WAIT_MS / 50; i++)
        rd_kafka_poll(w->producer, 50);
    struct log_ctx ctx = held_ctx(w);
    if (w->st == H_DLQ_WAIT && w->dlq_dr == 1) {
        logm_warn(&ctx, "record written to %s (%s)", w->role->alerts_dlq, w->why);
        release(w, 1);
        return;
    }
    logm_info(&ctx, "stopping: alert %s abandoned undelivered; it is read again at the next start",
              w->id[0] ? w->id : "(none)");
    release(w, 0);
}

/* ---- life cycle ----------------------------------------------------------- */

static void alertw_free(struct alertw *w)
{
    kafka_consumer_free(w->consumer, KAFKA_CLOSE_BUDGET_MS);
    if (w->producer) {
        if (rd_kafka_flush(w->producer, 10000))
            log_warn("%d record(s) not delivered at shutdown", rd_kafka_outq_len(w->producer));
        rd_kafka_destroy(w->producer);
    }
    alert_http_free(w->http);
}

static int alertw_init(struct alertw *w, const struct alertw_role *role, const struct cfg *cfg,
                       volatile sig_atomic_t *stop)
{
    char err[512], host[64] = "host";
    const char *const *env = cfg->rdkafka;
    memset(w, 0, sizeof(*w));
    w->role = role;
    w->cfg = cfg;
    w->stop = stop;
    gethostname(host, sizeof(host) - 1);
    snprintf(w->client_id, sizeof(w->client_id), "%s@%s:%d", role->name, host, (int)getpid());
    if (cfg->alert_webhook_url[0] &&
        alert_http_new(&w->http, cfg->alert_webhook_url,
                       &(struct alert_http_opts){.secret = cfg->alert_webhook_secret,
                                                 .authorization = cfg->alert_webhook_authorization},
                       stop, err, sizeof(err)))
        return log_error("ALERT_WEBHOOK_URL: %s", err), -1;
    w->producer =
        kafka_producer_new(cfg->kafka_brokers, w->client_id, env, on_delivery, w, err, sizeof(err));
    if (!w->producer)
        return log_error("%s", err), -1;
    w->consumer = kafka_consumer_new(cfg->kafka_brokers, role->group, w->client_id, env,
                                     on_rebalance, w, err, sizeof(err));
    if (!w->consumer)
        return log_error("%s", err), -1;
    return 0;
}

static int subscribe(struct alertw *w)
{
    int n = 0;
    while (w->role->topics[n])
        n++;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, w->role->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(w->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        log_error("subscribe: %s", rd_kafka_err2str(e));
    return e ? -1 : 0;
}

int alertw_run(const struct alertw_role *role, const struct cfg *cfg, volatile sig_atomic_t *stop)
{
    struct alertw w;
    int rc = 1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("libcurl initialisation failed");
        return 1;
    }
    if (alertw_init(&w, role, cfg, stop) || subscribe(&w))
        goto out;
    log_info("started: group %s, %s", role->group,
             w.http ? "alerts POSTed to the webhook" : "ALERT_WEBHOOK_URL unset: alerts logged");
    rc = 0;
    worker_ready(1, "ok");
    while (!*stop) {
        worker_beat();
        if (step(&w) || kafka_fatal()) { /* a fatal producer error is logged where seen */
            rc = 1;
            break;
        }
    }
    worker_ready(0, "stopping");
    finish_held(&w);
    log_info("stopping: committing offsets and leaving the group");
out:
    if (w.m)
        release(&w, 0);
    alertw_free(&w);
    curl_global_cleanup();
    return rc;
}
