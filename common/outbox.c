#include "outbox.h"

#include "log.h"
#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OUTBOX_LOCK_KEY 7415002
#define RELAY_BATCH 1000
#define RELAY_EVERY_MS 100
#define LEADER_RETRY_MS 2000
#define PURGE_EVERY_MS 60000
#define REPORT_EVERY_MS 1000

struct outbox {
    rd_kafka_t *producer;
    struct pg *pg;
    int leader;
    long long next_try_ms, next_relay_ms, next_purge_ms, next_report_ms;
    int status[RELAY_BATCH];
    char ids[RELAY_BATCH * 21 + 3];
};

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int outbox_new(struct outbox **out, rd_kafka_t *producer, struct pg *pg)
{
    struct outbox *o = calloc(1, sizeof(*o));
    if (!o)
        return -ENOMEM;
    o->producer = producer;
    o->pg = pg;
    *out = o;
    return 0;
}

void outbox_free(struct outbox *o)
{
    free(o);
}

void outbox_reset(struct outbox *o)
{
    o->leader = 0;
    o->next_try_ms = 0;
}

/* Returns 1 when this session holds the relay lock, 0 if another does,
 * -1 on a database failure. */
static int take_lead(struct outbox *o, char *err, size_t errlen)
{
    if (o->leader)
        return 1;
    if (mono_ms() < o->next_try_ms)
        return 0;
    o->next_try_ms = mono_ms() + LEADER_RETRY_MS;
    PGconn *c = pg_conn(o->pg);
    char sql[64];
    snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%d)", OUTBOX_LOCK_KEY);
    PGresult *r = PQexec(c, sql);
    int rc = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        rc = o->leader = PQgetvalue(r, 0, 0)[0] == 't';
        if (o->leader)
            log_info("this process relays the outbox");
    } else {
        pg_errline(c, r, err, errlen);
    }
    PQclear(r);
    return rc;
}

/* Produces rows of r; returns how many were delivered before the first
 * failure (their ids written to o->ids as a text[] literal). */
static int produce_rows(struct outbox *o, PGresult *r)
{
    int n = PQntuples(r), sent = 0;
    for (int i = 0; i < n; i++) {
        o->status[i] = 0;
        rd_kafka_resp_err_t e = rd_kafka_producev(
            o->producer, RD_KAFKA_V_TOPIC(PQgetvalue(r, i, 1)),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(PQgetvalue(r, i, 2), (size_t)PQgetlength(r, i, 2)),
            RD_KAFKA_V_VALUE(PQgetvalue(r, i, 3), (size_t)PQgetlength(r, i, 3)),
            RD_KAFKA_V_OPAQUE(&o->status[i]), RD_KAFKA_V_END);
        if (e) {
            log_warn("outbox: produce to %s: %s", PQgetvalue(r, i, 1), rd_kafka_err2str(e));
            break;
        }
        sent++;
    }
    if (rd_kafka_flush(o->producer, 10000)) {
        rd_kafka_purge(o->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(o->producer, 1000);
    }
    size_t k = 0;
    int done = 0;
    o->ids[k++] = '{';
    while (done < sent && o->status[done] == 1) {
        k += (size_t)snprintf(o->ids + k, sizeof(o->ids) - k, "%s%s", done ? "," : "",
                              PQgetvalue(r, done, 0));
        done++;
    }
    o->ids[k++] = '}';
    o->ids[k] = '\0';
    return done;
}

/* Moves the relay's cursor (read at `after`) past the rows in o->ids: one
 * row updated per round, however many records it published. */
static int mark_published(struct outbox *o, const char *after, char *err, size_t errlen)
{
    const char *v[2] = {after, o->ids};
    PGresult *r = PQexecParams(pg_conn(o->pg), "SELECT sf_relay_done($1::bigint, $2::bigint[])",
                               2, NULL, v, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        pg_errline(pg_conn(o->pg), r, err, errlen);
    PQclear(r);
    return ok ? 0 : -1;
}

/* Backlog and age of the oldest unpublished row, for /metrics. */
static void report_backlog(struct outbox *o)
{
    PGresult *r = PQexec(pg_conn(o->pg), "SELECT n, oldest_age FROM sf_relay_backlog()");
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        metrics_gauge_set(METRICS_OUTBOX_BACKLOG, "", strtod(PQgetvalue(r, 0, 0), NULL));
        metrics_gauge_set(METRICS_OUTBOX_OLDEST_AGE, "", strtod(PQgetvalue(r, 0, 1), NULL));
    }
    PQclear(r);
}

static void purge_published(struct outbox *o)
{
    if (mono_ms() < o->next_purge_ms)
        return;
    o->next_purge_ms = mono_ms() + PURGE_EVERY_MS;
    PQclear(PQexec(pg_conn(o->pg), "SELECT sf_relay_purge()"));
}

int outbox_relay(struct outbox *o, int now, char *err, size_t errlen)
{
    if (!pg_conn(o->pg) || (!now && mono_ms() < o->next_relay_ms))
        return 0;
    o->next_relay_ms = mono_ms() + RELAY_EVERY_MS;
    int lead = take_lead(o, err, errlen);
    if (lead <= 0)
        return lead;
    char sql[128];
    snprintf(sql, sizeof(sql),
             "SELECT id, topic, key, payload, after_id FROM sf_relay_next(%d)", RELAY_BATCH);
    PGresult *r = PQexec(pg_conn(o->pg), sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pg_errline(pg_conn(o->pg), r, err, errlen);
        PQclear(r);
        return -1;
    }
    int n = PQntuples(r), done = n ? produce_rows(o, r) : 0;
    char after[24] = "0";
    if (n)
        snprintf(after, sizeof(after), "%s", PQgetvalue(r, 0, 4));
    PQclear(r);
    if (done && mark_published(o, after, err, errlen))
        return -1;
    purge_published(o);
    /* at most once a second: counting the backlog scans every unpublished
     * row (~15 ms with 100,000 of them), as much as a relay round */
    if (mono_ms() >= o->next_report_ms) {
        o->next_report_ms = mono_ms() + REPORT_EVERY_MS;
        report_backlog(o);
    }
    if (done < n) {
        snprintf(err, errlen, "%d of %d outbox record(s) not delivered", n - done, n);
        return -2;
    }
    return done;
}
