/* stockflow-bench-producer: the benchmark's Kafka tool.
 *
 *   produce   writes a generated workload (steady mix, flash sale, stock
 *             receipts) as fast as it can or at --rate events/s, stamping
 *             each event's occurred_at with the time it is handed to
 *             librdkafka; prints its own rate and writes a summary (counts
 *             per topic, the outcome the run must end in) as JSON.
 *   offsets   low and high watermarks of topics, as JSON: a low watermark
 *             above 0 means the broker dropped records (the development
 *             broker keeps about 5 MiB per partition).
 *   reset     commits offset 0 on every partition of the topics for a
 *             consumer group that has no running member (a redelivery test).
 *
 * The generator is deterministic for a given --seed; ids carry --run so that
 * several runs can share one database. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define T_ORDERS "inventory.orders"
#define T_PAYMENTS "inventory.payments"
#define T_STOCK "inventory.stock"
#define MAX_LINES 3
#define FOLLOW_GAP 100 /* a payment or cancellation comes this many events after its cause */

static volatile sig_atomic_t stop;
static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("stockflow-bench-producer: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* xorshift64*: small, fast, deterministic across machines */
static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}
static long rnd_range(long lo, long hi) /* inclusive */
{
    return lo + (long)(rnd() % (uint64_t)(hi - lo + 1));
}

/* ---- options -------------------------------------------------------------- */

struct opts {
    const char *brokers;
    const char *workload; /* steady | flash | stock */
    const char *run;      /* id prefix */
    const char *summary;  /* JSON summary file */
    long orders, skus, units, short_hold, qty;
    double rate; /* events/s; 0 = unlimited */
    uint64_t seed;
    int quiet;
};

static void usage(FILE *f)
{
    fprintf(f, "Usage:\n"
               "  stockflow-bench-producer produce --workload steady|flash|stock [options]\n"
               "  stockflow-bench-producer offsets [--brokers B] TOPIC...\n"
               "  stockflow-bench-producer reset [--brokers B] GROUP TOPIC...\n"
               "produce options:\n"
               "  --brokers B       bootstrap servers (default $KAFKA_BROKERS or 127.0.0.1:9092)\n"
               "  --run ID          prefix of event and order ids (default r1)\n"
               "  --orders N        steady: orders; flash: orders for the one SKU (default 10000)\n"
               "  --skus N          steady/stock: SKUs sku-00001.. (default 10000)\n"
               "  --units N         flash: units of the flash SKU (default 1000)\n"
               "  --qty N           stock: units received per SKU (default 1000000)\n"
               "  --short-hold S    steady: hold_seconds of the never-paid orders (default 2)\n"
               "  --rate R          events per second (default 0: as fast as possible)\n"
               "  --seed N          generator seed (default 1)\n"
               "  --summary FILE    write counts and the expected outcome as JSON\n"
               "  --quiet           no progress line on stderr\n"
               "Steady mix, per order (1-3 lines, qty 1-3, uniform SKUs): 80%% paid, 10%%\n"
               "cancelled, 5%% payment failed then paid, 5%% never paid with a short hold.\n");
}

/* ---- producing -------------------------------------------------------------- */

struct prod {
    rd_kafka_t *rk;
    long delivered[3], failed; /* orders, payments, stock */
    long sent;
    int64_t first_ms, last_ms;
    double t0, rate;
};

static int topic_idx(const char *t)
{
    return !strcmp(t, T_ORDERS) ? 0 : !strcmp(t, T_PAYMENTS) ? 1 : 2;
}

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct prod *p = opaque;
    if (m->err) {
        if (p->failed++ < 5)
            fprintf(stderr, "stockflow-bench-producer: delivery to %s failed: %s\n",
                    rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
        return;
    }
    p->delivered[topic_idx(rd_kafka_topic_name(m->rkt))]++;
}

static void prod_init(struct prod *p, const char *brokers, double rate)
{
    char err[512];
    static const char *const props[][2] = {
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "5"},
        {"batch.num.messages", "10000"},
        {"batch.size", "1000000"},
        {"queue.buffering.max.messages", "1000000"},
        {"queue.buffering.max.kbytes", "1048576"},
        {"message.timeout.ms", "60000"},
        {"client.id", "stockflow-bench-producer"},
    };
    memset(p, 0, sizeof(*p));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)))
        die("%s", err);
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], err, sizeof(err)))
            die("%s", err);
    rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!p->rk)
        die("%s", err);
    p->rate = rate;
    /* Learn every topic's partitions before the first event: otherwise the
     * first records of a topic wait in the producer for its metadata, and
     * that wait would count as stockflow's latency. */
    static const char *const topics[] = {T_ORDERS, T_PAYMENTS, T_STOCK};
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, topics[i], NULL);
        const struct rd_kafka_metadata *md = NULL;
        if (rkt && rd_kafka_metadata(p->rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR)
            rd_kafka_metadata_destroy(md);
        if (rkt)
            rd_kafka_topic_destroy(rkt);
    }
}

/* Waits until the next event is due under --rate. */
static void pace(struct prod *p)
{
    if (p->rate <= 0)
        return;
    if (p->sent == 0) {
        p->t0 = mono_s();
        return;
    }
    double due = p->t0 + (double)p->sent / p->rate;
    for (;;) {
        double ahead = due - mono_s();
        if (ahead <= 0)
            return;
        rd_kafka_poll(p->rk, 0);
        struct timespec ts = {0, ahead > 0.001 ? 1000000 : (long)(ahead * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* Sends one event: json_head (an object's opening and first fields, no
 * closing brace), then "occurred_at" = now (RFC 3339, ms, UTC), then
 * json_tail (more ",\"field\":value" pairs or ""), then "}". */
static void send_event(struct prod *p, const char *topic, const char *key, const char *json_head,
                       const char *json_tail)
{
    char buf[1024];
    pace(p);
    int64_t ms = now_ms();
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    int n =
        snprintf(buf, sizeof(buf), "%s,\"occurred_at\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"%s}",
                 json_head, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, (int)(ms % 1000), json_tail);
    if (n < 0 || (size_t)n >= sizeof(buf))
        die("event too long");
    for (;;) {
        rd_kafka_resp_err_t e =
            rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                              RD_KAFKA_V_VALUE(buf, (size_t)n),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            die("produce to %s: %s", topic, rd_kafka_err2str(e));
        rd_kafka_poll(p->rk, 10);
    }
    if (p->sent++ == 0)
        p->first_ms = ms;
    p->last_ms = ms;
    if ((p->sent & 1023) == 0)
        rd_kafka_poll(p->rk, 0);
}

static double prod_finish(struct prod *p, double started)
{
    while (rd_kafka_outq_len(p->rk) > 0 && !stop)
        rd_kafka_poll(p->rk, 50);
    double el = mono_s() - started;
    rd_kafka_destroy(p->rk);
    return el;
}

/* ---- workloads ---------------------------------------------------------------- */

enum fate { F_PAID, F_CANCELLED, F_FAILED_PAID, F_UNPAID };

/* A follow-up event due once 'due' events have been sent. */
struct follow {
    long due;
    long order;
    int kind; /* 0 cancel, 1 pay, 2 fail */
};

struct fifo {
    struct follow *v;
    size_t head, tail, cap;
};

static void fifo_push(struct fifo *q, struct follow f)
{
    if (q->tail == q->cap)
        die("follow-up queue full");
    q->v[q->tail++] = f;
}

struct counts {
    long states[4]; /* committed, cancelled, expired, (unused) */
    long committed_units, lines;
};

static void send_follow(struct prod *p, const struct opts *o, const struct follow *f, long *eid)
{
    static const char *const types[] = {"order.cancelled", "payment.succeeded", "payment.failed"};
    char key[160], head[512];
    snprintf(key, sizeof(key), "%s-o%ld", o->run, f->order);
    snprintf(head, sizeof(head), "{\"event_id\":\"%s-e%ld\",\"type\":\"%s\",\"order_id\":\"%s\"",
             o->run, (*eid)++, types[f->kind], key);
    send_event(p, f->kind == 0 ? T_ORDERS : T_PAYMENTS, key, head,
               f->kind == 2 ? ",\"reason\":\"card declined\"" : "");
}

/* Sends due follow-ups from both queues, oldest due first. */
static void drain(struct prod *p, const struct opts *o, struct fifo *q, int all, long *eid)
{
    for (;;) {
        struct follow *a = q[0].head < q[0].tail ? &q[0].v[q[0].head] : NULL;
        struct follow *b = q[1].head < q[1].tail ? &q[1].v[q[1].head] : NULL;
        struct follow *n = a && (!b || a->due <= b->due) ? a : b;
        if (!n || (!all && n->due > p->sent))
            return;
        send_follow(p, o, n, eid);
        if (n == a)
            q[0].head++;
        else
            q[1].head++;
    }
}

static void steady(struct prod *p, const struct opts *o, struct counts *c)
{
    struct fifo q[2] = {{0}};
    long eid = 1;
    for (int i = 0; i < 2; i++) {
        q[i].cap = (size_t)o->orders + 1;
        q[i].v = calloc(q[i].cap, sizeof(struct follow));
        if (!q[i].v)
            die("out of memory");
    }
    for (long i = 1; i <= o->orders && !stop; i++) {
        drain(p, o, q, 0, &eid);
        long r = rnd_range(0, 99), nl = rnd_range(1, MAX_LINES), units = 0;
        enum fate f = r < 80 ? F_PAID : r < 90 ? F_CANCELLED : r < 95 ? F_FAILED_PAID : F_UNPAID;
        char key[160], head[1024], tail[64] = "";
        int k = snprintf(key, sizeof(key), "%s-o%ld", o->run, i);
        k = snprintf(head, sizeof(head),
                     "{\"event_id\":\"%s-e%ld\",\"type\":\"order.created\",\"order_id\":\"%s\","
                     "\"lines\":[",
                     o->run, eid++, key);
        for (long l = 0; l < nl; l++) {
            long qty = rnd_range(1, 3);
            units += qty;
            k += snprintf(head + k, sizeof(head) - (size_t)k,
                          "%s{\"sku\":\"sku-%05ld\",\"qty\":%ld}", l ? "," : "",
                          rnd_range(1, o->skus), qty);
        }
        snprintf(head + k, sizeof(head) - (size_t)k, "]");
        if (f == F_UNPAID)
            snprintf(tail, sizeof(tail), ",\"hold_seconds\":%ld", o->short_hold);
        send_event(p, T_ORDERS, key, head, tail);
        c->lines += nl;
        long due = p->sent + FOLLOW_GAP;
        switch (f) {
        case F_PAID:
            fifo_push(&q[0], (struct follow){due, i, 1});
            c->states[0]++, c->committed_units += units;
            break;
        case F_CANCELLED:
            fifo_push(&q[0], (struct follow){due, i, 0});
            c->states[1]++;
            break;
        case F_FAILED_PAID:
            fifo_push(&q[0], (struct follow){due, i, 2});
            fifo_push(&q[1], (struct follow){due + FOLLOW_GAP, i, 1});
            c->states[0]++, c->committed_units += units;
            break;
        case F_UNPAID:
            c->states[2]++;
            break;
        }
    }
    drain(p, o, q, 1, &eid);
    free(q[0].v);
    free(q[1].v);
}

static void flash(struct prod *p, const struct opts *o)
{
    for (long i = 1; i <= o->orders && !stop; i++) {
        char key[160], head[512];
        snprintf(key, sizeof(key), "%s-o%ld", o->run, i);
        snprintf(head, sizeof(head),
                 "{\"event_id\":\"%s-e%ld\",\"type\":\"order.created\",\"order_id\":\"%s\","
                 "\"lines\":[{\"sku\":\"flash-%s\",\"qty\":1}]",
                 o->run, i, key, o->run);
        send_event(p, T_ORDERS, key, head, "");
    }
}

static void stock(struct prod *p, const struct opts *o, const char *sku_fmt_run)
{
    for (long i = 1; i <= o->skus && !stop; i++) {
        char sku[96], head[512];
        if (sku_fmt_run)
            snprintf(sku, sizeof(sku), "flash-%s", sku_fmt_run);
        else
            snprintf(sku, sizeof(sku), "sku-%05ld", i);
        snprintf(head, sizeof(head),
                 "{\"event_id\":\"%s-s%ld\",\"type\":\"stock.received\",\"sku\":\"%s\",\"qty\":%ld",
                 o->run, i, sku, sku_fmt_run ? o->units : o->qty);
        send_event(p, T_STOCK, sku, head, "");
    }
}

static int cmd_produce(const struct opts *o)
{
    struct prod p;
    struct counts c = {0};
    prod_init(&p, o->brokers, o->rate);
    rng_state ^= o->seed * 0x9E3779B97F4A7C15ull;
    double t0 = mono_s();
    if (!strcmp(o->workload, "steady"))
        steady(&p, o, &c);
    else if (!strcmp(o->workload, "flash"))
        flash(&p, o);
    else if (!strcmp(o->workload, "stock"))
        stock(&p, o, NULL);
    else if (!strcmp(o->workload, "flash-stock"))
        stock(&p, &(struct opts){.run = o->run, .skus = 1, .units = o->units}, o->run);
    else
        die("unknown workload \"%s\"", o->workload);
    double send_s = mono_s() - t0;
    long sent = p.sent;
    int64_t first = p.first_ms, last = p.last_ms;
    double el = prod_finish(&p, t0);
    long delivered = p.delivered[0] + p.delivered[1] + p.delivered[2];
    if (!o->quiet)
        fprintf(stderr,
                "stockflow-bench-producer: %s: %ld events handed over in %.2f s, all acknowledged "
                "after %.2f s: %.0f events/s\n",
                o->workload, sent, send_s, el, el > 0 ? delivered / el : 0.0);
    if (o->summary) {
        FILE *f = fopen(o->summary, "w");
        if (!f)
            die("%s: %s", o->summary, strerror(errno));
        long won = o->units < o->orders ? o->units : o->orders;
        fprintf(f,
                "{\"workload\":\"%s\",\"run\":\"%s\",\"sent\":%ld,\"failed\":%ld,"
                "\"produced\":{\"" T_ORDERS "\":%ld,\"" T_PAYMENTS "\":%ld,\"" T_STOCK "\":%ld},"
                "\"first_ms\":%" PRId64 ",\"last_ms\":%" PRId64 ",\"send_s\":%.3f,"
                "\"ack_s\":%.3f,\"rate\":%.1f,\"target_rate\":%.1f,",
                o->workload, o->run, sent, p.failed, p.delivered[0], p.delivered[1], p.delivered[2],
                first, last, send_s, el, el > 0 ? delivered / el : 0.0, o->rate);
        if (!strcmp(o->workload, "steady"))
            fprintf(f,
                    "\"orders\":%ld,\"lines\":%ld,\"expect\":{\"committed\":%ld,\"cancelled\":%ld,"
                    "\"expired\":%ld},\"committed_units\":%ld}\n",
                    o->orders, c.lines, c.states[0], c.states[1], c.states[2], c.committed_units);
        else if (!strcmp(o->workload, "flash"))
            fprintf(
                f, "\"orders\":%ld,\"units\":%ld,\"expect\":{\"reserved\":%ld,\"rejected\":%ld}}\n",
                o->orders, o->units, won, o->orders - won);
        else
            fprintf(f, "\"skus\":%ld}\n", !strcmp(o->workload, "stock") ? o->skus : 1);
        fclose(f);
    }
    return stop || p.failed || delivered != sent ? 1 : 0;
}

/* ---- offsets and reset ---------------------------------------------------- */

/* A producer handle, only for metadata and watermark queries. */
static rd_kafka_t *query_client(const char *brokers)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)))
        die("%s", err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk)
        die("%s", err);
    return rk;
}

static int partitions_of(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    if (e || md->topic_cnt != 1 || md->topics[0].err)
        die("metadata of %s: %s", topic, rd_kafka_err2str(e ? e : md->topics[0].err));
    int n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return n;
}

static int cmd_offsets(const char *brokers, int argc, char **argv)
{
    rd_kafka_t *rk = query_client(brokers);
    printf("{");
    for (int t = 0; t < argc; t++) {
        int n = partitions_of(rk, argv[t]), dropped_parts = 0;
        long long lo_sum = 0, hi_sum = 0;
        for (int i = 0; i < n; i++) {
            int64_t lo, hi;
            rd_kafka_resp_err_t e =
                rd_kafka_query_watermark_offsets(rk, argv[t], i, &lo, &hi, 10000);
            if (e)
                die("watermarks of %s[%d]: %s", argv[t], i, rd_kafka_err2str(e));
            lo_sum += lo;
            hi_sum += hi;
            dropped_parts += lo > 0;
        }
        printf("%s\"%s\":{\"partitions\":%d,\"low\":%lld,\"high\":%lld,\"dropped_partitions\":%d}",
               t ? "," : "", argv[t], n, lo_sum, hi_sum, dropped_parts);
    }
    printf("}\n");
    rd_kafka_destroy(rk);
    return 0;
}

static int assigned;
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        assigned = parts->cnt;
    } else {
        rd_kafka_assign(rk, NULL);
        assigned = 0;
    }
}

/* The mock cluster refuses an OffsetCommit from outside the group, so join
 * it (alone), wait for every partition, commit 0 everywhere, leave. */
static int cmd_reset(const char *brokers, const char *group, int argc, char **argv)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "session.timeout.ms", "6000", err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)))
        die("%s", err);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk)
        die("%s", err);
    rd_kafka_poll_set_consumer(rk);
    int total = 0;
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(argc);
    rd_kafka_topic_partition_list_t *zero = rd_kafka_topic_partition_list_new(16);
    for (int t = 0; t < argc; t++) {
        int n = partitions_of(rk, argv[t]);
        rd_kafka_topic_partition_list_add(sub, argv[t], RD_KAFKA_PARTITION_UA);
        for (int i = 0; i < n; i++)
            rd_kafka_topic_partition_list_add(zero, argv[t], i)->offset = 0;
        total += n;
    }
    if (rd_kafka_subscribe(rk, sub))
        die("subscribe failed");
    double deadline = mono_s() + 60;
    while (assigned < total && mono_s() < deadline && !stop) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m)
            rd_kafka_message_destroy(m);
    }
    if (assigned < total)
        die("group %s: %d of %d partitions assigned after 60 s (is a member still running?)", group,
            assigned, total);
    rd_kafka_resp_err_t e = rd_kafka_commit(rk, zero, 0);
    if (e)
        die("commit: %s", rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(sub);
    rd_kafka_topic_partition_list_destroy(zero);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    fprintf(stderr, "stockflow-bench-producer: group %s reset to offset 0 on %d partitions\n",
            group, total);
    return 0;
}

/* ---- main ------------------------------------------------------------------ */

static long num(const char *name, const char *v, long lo, long hi)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < lo || x > hi)
        die("%s: \"%s\" is not an integer in %ld..%ld", name, v, lo, hi);
    return x;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"brokers", required_argument, NULL, 'b'},
                                       {"workload", required_argument, NULL, 'w'},
                                       {"run", required_argument, NULL, 'r'},
                                       {"summary", required_argument, NULL, 'S'},
                                       {"orders", required_argument, NULL, 'o'},
                                       {"skus", required_argument, NULL, 'k'},
                                       {"units", required_argument, NULL, 'u'},
                                       {"qty", required_argument, NULL, 'q'},
                                       {"short-hold", required_argument, NULL, 'H'},
                                       {"rate", required_argument, NULL, 'R'},
                                       {"seed", required_argument, NULL, 's'},
                                       {"quiet", no_argument, NULL, 'Q'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
    const char *env = getenv("KAFKA_BROKERS");
    struct opts o = {.brokers = env && *env ? env : "127.0.0.1:9092",
                     .workload = "steady",
                     .run = "r1",
                     .orders = 10000,
                     .skus = 10000,
                     .units = 1000,
                     .qty = 1000000,
                     .short_hold = 2,
                     .seed = 1};
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'b':
            o.brokers = optarg;
            break;
        case 'w':
            o.workload = optarg;
            break;
        case 'r':
            o.run = optarg;
            break;
        case 'S':
            o.summary = optarg;
            break;
        case 'o':
            o.orders = num("--orders", optarg, 1, 100000000);
            break;
        case 'k':
            o.skus = num("--skus", optarg, 1, 99999);
            break;
        case 'u':
            o.units = num("--units", optarg, 1, 1000000000);
            break;
        case 'q':
            o.qty = num("--qty", optarg, 1, 1000000000);
            break;
        case 'H':
            o.short_hold = num("--short-hold", optarg, 1, 604800);
            break;
        case 'R': {
            char *end;
            o.rate = strtod(optarg, &end);
            if (*end || o.rate < 0)
                die("--rate: \"%s\" is not a rate", optarg);
            break;
        }
        case 's':
            o.seed = (uint64_t)num("--seed", optarg, 0, 1L << 40);
            break;
        case 'Q':
            o.quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    signal(SIGINT, on_term);
    signal(SIGTERM, on_term);
    if (!strcmp(cmd, "produce"))
        return cmd_produce(&o);
    if (!strcmp(cmd, "offsets"))
        return cmd_offsets(o.brokers, argc - optind, argv + optind);
    if (!strcmp(cmd, "reset") && argc - optind >= 2)
        return cmd_reset(o.brokers, argv[optind], argc - optind - 1, argv + optind + 1);
    usage(stderr);
    return 2;
}
