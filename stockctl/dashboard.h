/* dashboard: `stockctl dashboard`, the operations web page (DESIGN §9).
 * dashboard.c: the command (options, listen address, the loop);
 * dashboard_data.c: what the page shows, sampled in the background: a
 * snapshot of PostgreSQL each second, the Kafka figures (lag, dead
 * letters) refreshed by their own thread, a bounded ring of samples for
 * the charts; dashboard_http.c: the HTTP server (libmicrohttpd), the page,
 * the JSON endpoint and the actions.
 *
 * The HTTP threads never wait for PostgreSQL or Kafka to read: they copy
 * the latest snapshot. Only an action (a POST) talks to Kafka itself. */
#ifndef STOCKFLOW_DASHBOARD_H
#define STOCKFLOW_DASHBOARD_H

#include "cfg.h"
#include "dlq.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define DASH_TICK_MS 1000     /* one snapshot and one chart sample per tick */
#define DASH_RING 3600        /* samples kept: the last hour */
#define DASH_CHART_POINTS 180 /* the ring is thinned to this for the page */
#define DASH_GROUPS 5         /* roles.c: order, payment, stock, timeout, alert */
#define DASH_DLQS 16
#define DASH_SKUS 2000      /* rows of the SKU table, SKUs with a sparkline */
#define DASH_SPARK 60       /* points per sparkline */
#define DASH_SPARK_MS 60000 /* a point at least this often, and at each change */
#define DASH_KAFKA_MS 2000  /* Kafka figures refreshed this often */
#define DASH_DEADSTOCK_MS 30000
#define DASH_RATE_SAMPLES 5 /* events applied/s: over this many samples */

struct dash_sample {
    int64_t ts_ms, mono_ms;
    long long events_total; /* rows inserted into processed_events (pg_stat) */
    double applied_per_s;
    long long held, dead_letters;
    long long lag[DASH_GROUPS]; /* -1: unknown */
};

struct dash_spark {
    char sku[72]; /* "" : free slot */
    long long v[DASH_SPARK];
    int n, head;
    int64_t last_ms;
};

struct dash {
    const struct cfg *cfg;
    const char *token; /* NULL: no bearer token asked */
    char csrf[65];
    int loopback; /* listening on a loopback address */
    pthread_mutex_t mu;
    /* under mu */
    char *state; /* the latest snapshot (JSON), NULL before the first */
    size_t state_len;
    long long lag[DASH_GROUPS];
    struct dlq_count dlq[DASH_DLQS];
    int ndlq, kafka_ok;
    char kafka_err[300];
    int64_t kafka_ms;
    /* the sampler's own */
    struct pg *pg;
    struct dash_sample ring[DASH_RING];
    int ring_n, ring_head;
    struct dash_spark *spark; /* 2 * DASH_SKUS slots, open addressing */
    char *deadstock;          /* JSON array text of the last radar run */
    int64_t deadstock_ms;
    double deadstock_value;
    atomic_int deadstock_due; /* an action asks for a fresh radar run */
    pthread_t kafka_thread;
    int kafka_started;
};

/* dashboard_data.c */
int dash_data_start(struct dash *d, char *err, size_t errlen); /* the Kafka thread */
void dash_data_tick(struct dash *d);                           /* one snapshot */
void dash_data_stop(struct dash *d);                           /* joins, frees */
/* A copy of the latest snapshot (caller frees), NULL before the first. */
char *dash_snapshot(struct dash *d, size_t *len);

/* dashboard_http.c */
struct MHD_Daemon;
/* Serves on addr (sockaddr of the --listen address). Returns the daemon or
 * NULL with err; *port gets the port bound. */
struct MHD_Daemon *dash_http_start(struct dash *d, const void *addr, int *port, char *err,
                                   size_t errlen);

#endif
