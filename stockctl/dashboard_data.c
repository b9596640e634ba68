/* dashboard_data: what the dashboard shows (see dashboard.h). The sampler
 * (the command's main thread) takes one PostgreSQL snapshot per tick and
 * keeps the chart samples; a thread of its own refreshes the Kafka figures
 * with the code `stockctl lag` and `stockctl dlq` use, so a slow broker
 * delays those figures, never the page. */
#include "dashboard.h"
#include "db.h"
#include "lag.h"
#include "out.h"
#include "roles.h"
#include "stockctl.h"
#include "stop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* clang-format off */
static const char *const kpi_sql =
    "SELECT count(*) FILTER (WHERE l.status = 'oversold') AS oversold_skus,"
    "       coalesce(sum(l.reserved), 0)::bigint AS held_units,"
    "       coalesce(sum(s.earmarked), 0)::bigint AS earmarked_units,"
    "       count(*) AS skus,"
    "       (SELECT coalesce(sum(n_tup_ins), 0)::bigint FROM pg_stat_user_tables"
    "         WHERE relname = 'processed_events') AS events_total"
    "  FROM stock_levels l JOIN stock s USING (sku)";
static const char *const sku_sql =
    "SELECT l.sku, l.on_hand, l.reserved, l.safety_stock, s.earmarked, l.available, l.status,"
    "       s.low_stock_threshold, s.hide_below"
    "  FROM stock_levels l JOIN stock s USING (sku)"
    " ORDER BY CASE l.status WHEN 'oversold' THEN 0 WHEN 'hidden' THEN 1 WHEN 'low' THEN 2"
    "          ELSE 3 END, l.sku LIMIT 2000";
static const char *const promo_sql =
    "SELECT p.promo_id, p.sku, p.state, p.allocated, p.sold, p.earmarked, p.requested,"
    "       to_char(p.ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS ends_at,"
    "       t.detail"
    "  FROM promotions p JOIN promotion t USING (promo_id)"
    " WHERE p.state IN ('active', 'blocked')"
    " ORDER BY p.state, t.allocated_at DESC NULLS LAST, p.promo_id LIMIT 100";
static const char *const alert_sql =
    "SELECT payload->>'alert_id' AS alert_id, payload->>'kind' AS kind,"
    "       payload->>'severity' AS severity, payload->>'summary' AS summary,"
    "       payload->>'occurred_at' AS occurred_at"
    "  FROM outbox WHERE topic = 'inventory.alerts' ORDER BY id DESC LIMIT 20";
static const char *const deadstock_sql =
    "SELECT sku, array_to_string(reasons, ',') AS reasons, action, unsold,"
    "       round(value_at_risk, 2)::text AS value_at_risk, age_days,"
    "       round(sell_through, 2)::text AS sell_through, best_before::text AS best_before,"
    "       round(sum(value_at_risk) OVER (), 2)::text AS total"
    "  FROM sf_deadstock() LIMIT 2000";
/* clang-format on */

static int64_t mono_ms(void)
{
    return out_mono_ns() / 1000000;
}

/* ---- Kafka, in its own thread ----------------------------------------------- */

static void kafka_refresh(struct dash *d)
{
    size_t nroles;
    const struct role *roles = roles_all(&nroles);
    long long lag[DASH_GROUPS];
    struct dlq_count dlq[DASH_DLQS];
    char err[300] = "";
    int ndlq = 0, ok = 1;
    /* a broker that does not answer costs one KREAD_CONNECT_MS, not one
     * per group: the rest is skipped */
    for (size_t i = 0; i < DASH_GROUPS; i++) {
        char why[300];
        int rc = i < nroles && ok && !stop_requested()
                     ? lag_total(d->cfg, &roles[i], &lag[i], why, sizeof(why))
                     : EXIT_FAIL;
        if (rc != EXIT_OK)
            lag[i] = -1; /* a topic not there yet (NOTFOUND) is not an outage */
        if (rc == EXIT_UNREACHABLE || rc == EXIT_USAGE)
            ok = 0, snprintf(err, sizeof(err), "%s", why);
    }
    if (ok && !stop_requested() &&
        dlq_counts(d->cfg, dlq, DASH_DLQS, &ndlq, err, sizeof(err)) != EXIT_OK)
        ok = 0;
    pthread_mutex_lock(&d->mu);
    memcpy(d->lag, lag, sizeof(lag));
    if (ok) {
        memcpy(d->dlq, dlq, sizeof(dlq));
        d->ndlq = ndlq;
    }
    d->kafka_ok = ok;
    snprintf(d->kafka_err, sizeof(d->kafka_err), "%s", ok ? "" : err);
    d->kafka_ms = out_now_ms();
    pthread_mutex_unlock(&d->mu);
}

static void *kafka_main(void *arg)
{
    struct dash *d = arg;
    while (!stop_requested()) {
        int64_t next = mono_ms() + DASH_KAFKA_MS;
        kafka_refresh(d);
        while (!stop_requested() && mono_ms() < next)
            nanosleep(&(struct timespec){.tv_nsec = 100 * 1000000}, NULL);
    }
    return NULL;
}

int dash_data_start(struct dash *d, char *err, size_t errlen)
{
    for (int i = 0; i < DASH_GROUPS; i++)
        d->lag[i] = -1;
    d->spark = calloc(2 * DASH_SKUS, sizeof(*d->spark));
    if (!d->spark)
        return snprintf(err, errlen, "out of memory"), EXIT_FAIL;
    if (pthread_create(&d->kafka_thread, NULL, kafka_main, d))
        return snprintf(err, errlen, "cannot start a thread"), EXIT_FAIL;
    d->kafka_started = 1;
    return EXIT_OK;
}

void dash_data_stop(struct dash *d)
{
    if (d->kafka_started)
        pthread_join(d->kafka_thread, NULL);
    free(d->spark);
    free(d->state);
    free(d->deadstock);
    pg_free(d->pg);
}

char *dash_snapshot(struct dash *d, size_t *len)
{
    pthread_mutex_lock(&d->mu);
    char *s = d->state ? malloc(d->state_len + 1) : NULL;
    if (s) {
        memcpy(s, d->state, d->state_len + 1);
        *len = d->state_len;
    }
    pthread_mutex_unlock(&d->mu);
    return s;
}

/* ---- sparklines: open addressing on the SKU, bounded ------------------------ */

static struct dash_spark *spark_of(struct dash *d, const char *sku)
{
    uint32_t h = 2166136261u;
    for (const char *p = sku; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    for (int k = 0; k < 2 * DASH_SKUS; k++) {
        struct dash_spark *s = &d->spark[(h + (uint32_t)k) % (2 * DASH_SKUS)];
        if (!s->sku[0] && strlen(sku) < sizeof(s->sku)) {
            snprintf(s->sku, sizeof(s->sku), "%s", sku);
            return s;
        }
        if (!strcmp(s->sku, sku))
            return s;
    }
    return NULL;
}

static void spark_add(struct dash_spark *s, long long v, int64_t now)
{
    int last = (s->head + DASH_SPARK - 1) % DASH_SPARK;
    if (s->n > 0 && s->v[last] == v && now - s->last_ms < DASH_SPARK_MS)
        return;
    s->v[s->head] = v;
    s->head = (s->head + 1) % DASH_SPARK;
    s->n += s->n < DASH_SPARK;
    s->last_ms = now;
}

static void spark_json(yajl_gen g, const struct dash_spark *s)
{
    out_json_open(g, "spark", 1);
    for (int i = 0; s && i < s->n; i++)
        out_json_int(g, NULL, s->v[(s->head + DASH_SPARK - s->n + i) % DASH_SPARK]);
    out_json_close(g, 1);
}

/* ---- one snapshot ------------------------------------------------------------ */

struct snap {
    PGresult *kpi, *skus, *promos, *alerts;
    char err[768];
};

static PGresult *query(struct dash *d, const char *sql, struct snap *s)
{
    int code = EXIT_OK;
    if (!d->pg || s->err[0])
        return NULL;
    PGresult *r = db_query(d->pg, sql, 0, NULL, &code, s->err, sizeof(s->err));
    if (!r && code == EXIT_UNREACHABLE) {
        pg_free(d->pg); /* reconnect next tick */
        d->pg = NULL;
    }
    return r;
}

static void deadstock_refresh(struct dash *d, struct snap *s, int64_t now)
{
    if (now - d->deadstock_ms < DASH_DEADSTOCK_MS && d->deadstock &&
        !atomic_load(&d->deadstock_due))
        return;
    atomic_store(&d->deadstock_due, 0);
    PGresult *r = query(d, deadstock_sql, s);
    if (!r)
        return;
    yajl_gen g = out_json_new(0);
    db_json_rows(g, NULL, r);
    const unsigned char *text;
    size_t len;
    yajl_gen_get_buf(g, &text, &len);
    free(d->deadstock);
    d->deadstock = strndup((const char *)text, len);
    d->deadstock_value = PQntuples(r) > 0 ? strtod(PQgetvalue(r, 0, 8), NULL) : 0;
    d->deadstock_ms = now;
    yajl_gen_free(g);
    PQclear(r);
}

static long long kpi(const struct snap *s, int col)
{
    return s->kpi && PQntuples(s->kpi) ? atoll(PQgetvalue(s->kpi, 0, col)) : 0;
}

/* Appends this tick's chart sample (mu held: reads the Kafka figures). */
static void sample(struct dash *d, const struct snap *s, int64_t now_wall, int64_t now)
{
    struct dash_sample *x = &d->ring[d->ring_head];
    int back = d->ring_n < DASH_RATE_SAMPLES ? d->ring_n : DASH_RATE_SAMPLES;
    const struct dash_sample *was = &d->ring[(d->ring_head + DASH_RING - back) % DASH_RING];
    memset(x, 0, sizeof(*x));
    x->ts_ms = now_wall;
    x->mono_ms = now;
    x->events_total = kpi(s, 4);
    /* over the last few samples: the statistics move in steps of about a
     * second (each backend flushes its counts at most once a second) */
    if (back > 0 && now > was->mono_ms && x->events_total >= was->events_total)
        x->applied_per_s =
            (double)(x->events_total - was->events_total) * 1000.0 / (double)(now - was->mono_ms);
    x->held = kpi(s, 1);
    for (int i = 0; i < d->ndlq; i++)
        x->dead_letters += d->dlq[i].count;
    memcpy(x->lag, d->lag, sizeof(x->lag));
    d->ring_head = (d->ring_head + 1) % DASH_RING;
    d->ring_n += d->ring_n < DASH_RING;
}

/* The ring thinned to at most DASH_CHART_POINTS, oldest first. */
static void series_json(yajl_gen g, const struct dash *d)
{
    size_t nroles;
    const struct role *roles = roles_all(&nroles);
    int step = (d->ring_n + DASH_CHART_POINTS - 1) / DASH_CHART_POINTS;
    step = step < 1 ? 1 : step;
    const char *keys[] = {"t", "applied", "held", "dead_letters"};
    out_json_open(g, "series", 0);
    for (int k = 0; k < 4 + DASH_GROUPS; k++) {
        if (k == 4)
            out_json_open(g, "lag", 0);
        out_json_open(g, k < 4 ? keys[k] : roles[k - 4].group, 1);
        for (int i = (d->ring_n - 1) % step; i < d->ring_n; i += step) {
            const struct dash_sample *x =
                &d->ring[(d->ring_head + DASH_RING - d->ring_n + i) % DASH_RING];
            if (k == 1)
                out_json_num(g, NULL, x->applied_per_s);
            else if (k >= 4 && x->lag[k - 4] < 0)
                out_json_str(g, NULL, NULL);
            else
                out_json_int(g, NULL,
                             k == 0   ? x->ts_ms
                             : k == 2 ? x->held
                             : k == 3 ? x->dead_letters
                                      : x->lag[k - 4]);
        }
        out_json_close(g, 1);
    }
    out_json_close(g, 0);
    out_json_close(g, 0);
}

static void kafka_json(yajl_gen g, const struct dash *d)
{
    size_t nroles;
    const struct role *roles = roles_all(&nroles);
    out_json_open(g, "kafka", 0);
    out_json_bool(g, "ok", d->kafka_ok);
    out_json_str(g, "error", d->kafka_err[0] ? d->kafka_err : NULL);
    out_json_int(g, "as_of", d->kafka_ms);
    out_json_open(g, "lag", 0);
    for (int i = 0; i < DASH_GROUPS; i++)
        if (d->lag[i] >= 0)
            out_json_int(g, roles[i].group, d->lag[i]);
        else
            out_json_str(g, roles[i].group, NULL);
    out_json_close(g, 0);
    out_json_open(g, "dead_letters", 0);
    for (int i = 0; i < d->ndlq; i++)
        out_json_int(g, d->dlq[i].topic, d->dlq[i].count);
    out_json_close(g, 0);
    out_json_close(g, 0);
}

static void rows_json(yajl_gen g, const char *key, const PGresult *r)
{
    if (r)
        db_json_rows(g, key, r);
    else
        out_json_open(g, key, 1), out_json_close(g, 1);
}

static void skus_json(yajl_gen g, struct dash *d, const PGresult *r, int64_t now)
{
    out_json_open(g, "skus", 1);
    for (int i = 0; r && i < PQntuples(r); i++) {
        struct dash_spark *s = spark_of(d, PQgetvalue(r, i, 0));
        if (s)
            spark_add(s, atoll(PQgetvalue(r, i, 5)), now);
        out_json_open(g, NULL, 0);
        db_json_row(g, r, i);
        spark_json(g, s);
        out_json_close(g, 0);
    }
    out_json_close(g, 1);
}

static void kpi_json(yajl_gen g, const struct dash *d, const struct snap *s)
{
    char value[64];
    snprintf(value, sizeof(value), "%.2f", d->deadstock_value);
    out_json_open(g, "kpi", 0);
    out_json_int(g, "oversold_skus", kpi(s, 0));
    out_json_int(g, "held_units", kpi(s, 1));
    out_json_int(g, "earmarked_units", kpi(s, 2));
    out_json_int(g, "skus", kpi(s, 3));
    out_json_str(g, "deadstock_value", value);
    out_json_close(g, 0);
}

/* The snapshot as JSON (mu held). */
static void snapshot_json(yajl_gen g, struct dash *d, struct snap *s, int64_t now)
{
    out_json_open(g, NULL, 0);
    out_json_int(g, "at", out_now_ms());
    out_json_str(g, "db_error", s->err[0] ? s->err : NULL);
    kpi_json(g, d, s);
    kafka_json(g, d);
    skus_json(g, d, s->skus, now);
    if (d->deadstock) { /* already JSON: as a number token, which yajl copies as is */
        yajl_gen_string(g, (const unsigned char *)"deadstock", 9);
        yajl_gen_number(g, d->deadstock, strlen(d->deadstock));
    } else {
        rows_json(g, "deadstock", NULL);
    }
    rows_json(g, "promotions", s->promos);
    rows_json(g, "alerts", s->alerts);
    series_json(g, d);
    out_json_close(g, 0);
}

void dash_data_tick(struct dash *d)
{
    struct snap s = {0};
    int64_t now = mono_ms();
    if (!d->pg && db_open(d->cfg, "stockctl dashboard", &d->pg, s.err, sizeof(s.err)) != EXIT_OK)
        d->pg = NULL;
    s.kpi = query(d, kpi_sql, &s);
    s.skus = query(d, sku_sql, &s);
    s.promos = query(d, promo_sql, &s);
    s.alerts = query(d, alert_sql, &s);
    deadstock_refresh(d, &s, now);
    yajl_gen g = out_json_new(0);
    pthread_mutex_lock(&d->mu);
    sample(d, &s, out_now_ms(), now);
    snapshot_json(g, d, &s, now);
    const unsigned char *text;
    size_t len;
    char *copy = NULL;
    if (yajl_gen_get_buf(g, &text, &len) == yajl_gen_status_ok &&
        (copy = strndup((const char *)text, len))) {
        free(d->state);
        d->state = copy;
        d->state_len = len;
    }
    pthread_mutex_unlock(&d->mu);
    yajl_gen_free(g);
    PQclear(s.kpi);
    PQclear(s.skus);
    PQclear(s.promos);
    PQclear(s.alerts);
}
