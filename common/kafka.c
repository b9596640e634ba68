#include "kafka.h"

#include "cfg.h"
#include "log.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int kafka_env_to_prop(const char *name, char *out, size_t outlen)
{
    if (strncmp(name, "RDKAFKA_", 8) != 0 || name[8] == '\0')
        return -1;
    size_t n = 0;
    for (const char *p = name + 8; *p; p++) {
        if (n + 1 >= outlen)
            return -1;
        out[n++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
    }
    out[n] = '\0';
    return 0;
}

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, const char *var,
                    char *err, size_t errlen)
{
    char why[512];
    const char *what = var ? var : name;
    if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) == RD_KAFKA_CONF_OK)
        return 0;
    if (cfg_is_secret_name(what) || cfg_is_secret_name(name)) {
        /* a secret (or a misspelled one): neither the value nor librdkafka's
         * message, which may quote it, is shown */
        snprintf(err, errlen, "invalid configuration: %s (value not shown): %s", what,
                 strstr(why, "No such configuration property") ? "no such librdkafka property"
                                                                : "refused by librdkafka");
        return -1;
    }
    snprintf(err, errlen, "invalid configuration: %s=\"%.200s\": %s", what, value, why);
    return -1;
}

/* librdkafka's own log lines, as our JSON lines (syslog levels). Called
 * from librdkafka's threads; log_write is thread-safe. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    int l = level <= 3 ? LOG_LEVEL_WARN : level <= 6 ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG;
    LOG_AT((enum log_level)l, NULL, "librdkafka %s: %s: %s", rd_kafka_name(rk), fac, buf);
}

static atomic_int fatal_seen;

int kafka_fatal(void)
{
    return atomic_load(&fatal_seen);
}

int kafka_error_is_fatal(rd_kafka_t *rk, int err, char *why, size_t whylen)
{
    if (err != RD_KAFKA_RESP_ERR__FATAL)
        return 0;
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, whylen);
    if (orig == RD_KAFKA_RESP_ERR_NO_ERROR)
        snprintf(why, whylen, "fatal error with no cause reported");
    return 1;
}

/* Errors librdkafka reports on a producer's poll. Most are transient (it
 * retries by itself) and only logged; a fatal one (the idempotent producer
 * can no longer guarantee its ordering or was fenced) leaves the producer
 * unusable: logged, and raised for the loop (kafka_fatal). */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    char why[512];
    (void)opaque;
    if (kafka_error_is_fatal(rk, err, why, sizeof(why))) {
        log_error("fatal Kafka error on %s: %s; stopping", rd_kafka_name(rk), why);
        atomic_store(&fatal_seen, 1);
        return;
    }
    log_warn("librdkafka %s: ERROR: %s: %s", rd_kafka_name(rk),
             rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* ---- property scopes ------------------------------------------------------ */

#define MAX_SCOPED 512
static struct {
    char name[64];
    char scope;
} scoped[MAX_SCOPED];
static int nscoped;
static pthread_once_t scoped_once = PTHREAD_ONCE_INIT;

/* Reads librdkafka's property table, lines "name | C/P | range | ...". */
static void scoped_load(void)
{
    char *buf = NULL, *line, *save = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return;
    rd_kafka_conf_properties_show(f);
    fclose(f);
    for (line = strtok_r(buf, "\n", &save); line && nscoped < MAX_SCOPED;
         line = strtok_r(NULL, "\n", &save)) {
        char name[64], cp[8];
        if (sscanf(line, "%63s | %7s |", name, cp) != 2 || strchr(name, '|') || !cp[0] ||
            cp[1] != '\0' || !strchr("CP*", cp[0]))
            continue;
        snprintf(scoped[nscoped].name, sizeof(scoped[0].name), "%s", name);
        scoped[nscoped++].scope = cp[0];
    }
    free(buf);
}

int kafka_prop_scope(const char *name)
{
    pthread_once(&scoped_once, scoped_load);
    for (int i = 0; i < nscoped; i++)
        if (strcmp(scoped[i].name, name) == 0)
            return scoped[i].scope;
    return 0;
}

rd_kafka_conf_t *kafka_conf_new(const char *brokers, const struct kafka_prop *defaults,
                                size_t ndefaults, const char *const *environ_vars, char *err,
                                size_t errlen)
{
    return kafka_conf_new_for((rd_kafka_type_t)-1, brokers, defaults, ndefaults, environ_vars,
                              err, errlen);
}

rd_kafka_conf_t *kafka_conf_new_for(rd_kafka_type_t type, const char *brokers,
                                    const struct kafka_prop *defaults, size_t ndefaults,
                                    const char *const *environ_vars, char *err, size_t errlen)
{
    const char *other = type == RD_KAFKA_PRODUCER ? "C" : type == RD_KAFKA_CONSUMER ? "P" : "";
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);
    /* a broker back from an outage is found within about a second (librdkafka
     * jitters each client's reconnect backoff by -25%..+50%: no stampede) */
    if (conf_set(conf, "bootstrap.servers", brokers, "KAFKA_BROKERS", err, errlen) ||
        conf_set(conf, "reconnect.backoff.max.ms", "1000", NULL, err, errlen))
        goto fail;
    for (size_t i = 0; i < ndefaults; i++)
        if (conf_set(conf, defaults[i].name, defaults[i].value, NULL, err, errlen))
            goto fail;
    for (const char *const *e = environ_vars; e && *e; e++) {
        char var[256], prop[256];
        const char *eq = strchr(*e, '=');
        if (strncmp(*e, "RDKAFKA_", 8) != 0 || !eq || (size_t)(eq - *e) >= sizeof(var))
            continue;
        snprintf(var, sizeof(var), "%.*s", (int)(eq - *e), *e);
        if (kafka_env_to_prop(var, prop, sizeof(prop))) {
            snprintf(err, errlen, "invalid configuration: %s: not a librdkafka property name", var);
            goto fail;
        }
        int scope = *other ? kafka_prop_scope(prop) : 0;
        if (scope && scope == other[0])
            continue; /* the other client type's property: CONFWARN otherwise */
        if (conf_set(conf, prop, eq + 1, var, err, errlen))
            goto fail;
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_t *kafka_consumer_new(const char *brokers, const char *group, const char *client_id,
                               const char *const *environ_vars,
                               void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                                                    rd_kafka_topic_partition_list_t *, void *),
                               void *opaque, char *err, size_t errlen)
{
    const struct kafka_prop defaults[] = {
        {"group.id", group},
        {"client.id", client_id},
        {"enable.auto.offset.store", "false"},
        {"enable.auto.commit", "true"},
        {"auto.commit.interval.ms", "1000"},
        {"auto.offset.reset", "earliest"},
        {"enable.partition.eof", "false"},
        {"session.timeout.ms", "10000"},
        {"max.poll.interval.ms", KAFKA_MAX_POLL_INTERVAL_MS},
        {"heartbeat.interval.ms", "1000"},
        {"queued.max.messages.kbytes", "16384"},
        {"fetch.wait.max.ms", "100"},
        {"partition.assignment.strategy", "range,roundrobin"},
    };
    rd_kafka_conf_t *conf =
        kafka_conf_new_for(RD_KAFKA_CONSUMER, brokers, defaults,
                           sizeof(defaults) / sizeof(*defaults), environ_vars, err, errlen);
    if (!conf)
        return NULL;
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, opaque);
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka consumer: %s", why);
        return NULL;
    }
    /* rk owns conf now */
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

rd_kafka_t *kafka_producer_new(const char *brokers, const char *client_id,
                               const char *const *environ_vars,
                               void (*dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                               void *opaque, char *err, size_t errlen)
{
    const struct kafka_prop defaults[] = {
        {"client.id", client_id},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "5"},
        {"message.timeout.ms", "300000"}, /* an outage alert outlives a broker outage */
        {"queue.buffering.max.messages", "100000"},
    };
    rd_kafka_conf_t *conf =
        kafka_conf_new_for(RD_KAFKA_PRODUCER, brokers, defaults,
                           sizeof(defaults) / sizeof(*defaults), environ_vars, err, errlen);
    if (!conf)
        return NULL;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_opaque(conf, opaque);
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka producer: %s", why);
        return NULL;
    }
    return rk;
}

int kafka_header_get(const rd_kafka_message_t *m, const char *name, char *out, size_t outlen)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val;
    size_t size;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    if (rd_kafka_header_get_last(hdrs, name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    if (!val)
        size = 0;
    if (size >= outlen)
        size = outlen - 1;
    memcpy(out, val, size);
    out[size] = '\0';
    return 0;
}

void kafka_dr_status(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    int *status = m->_private;
    if (m->err)
        log_error("record to %s [%d] not delivered: %s", rd_kafka_topic_name(m->rkt),
                  (int)m->partition, rd_kafka_err2str(m->err));
    if (status)
        *status = m->err ? -1 : 1;
}

int kafka_rebalance_apply(rd_kafka_t *consumer, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t *parts)
{
    int assign = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
    const char *proto = rd_kafka_rebalance_protocol(consumer);
    if (proto && strcmp(proto, "COOPERATIVE") == 0) {
        rd_kafka_error_t *e = assign ? rd_kafka_incremental_assign(consumer, parts)
                                     : rd_kafka_incremental_unassign(consumer, parts);
        if (e) {
            log_error("incremental %s of %d partition(s): %s", assign ? "assign" : "unassign",
                      parts->cnt, rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    } else {
        rd_kafka_resp_err_t e = rd_kafka_assign(consumer, assign ? parts : NULL);
        if (e)
            log_error("%s: %s", assign ? "assign" : "unassign", rd_kafka_err2str(e));
    }
    rd_kafka_topic_partition_list_t *now = NULL;
    int n = 0;
    if (!rd_kafka_assignment(consumer, &now) && now)
        n = now->cnt;
    if (now)
        rd_kafka_topic_partition_list_destroy(now);
    return n;
}

void kafka_pause_all(rd_kafka_t *consumer, int pause)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(consumer, &parts) || !parts)
        return;
    if (pause)
        rd_kafka_pause_partitions(consumer, parts);
    else
        rd_kafka_resume_partitions(consumer, parts);
    rd_kafka_topic_partition_list_destroy(parts);
}

void kafka_rewind(rd_kafka_t *consumer, const rd_kafka_message_t *m)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset =
        m->offset;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(consumer, l, 5000);
    if (e) {
        log_warn("seek %s[%d] to %lld: %s", rd_kafka_topic_name(m->rkt), (int)m->partition,
                 (long long)m->offset, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

void kafka_store_next(rd_kafka_t *consumer, const rd_kafka_message_t *m)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset =
        m->offset + 1;
    rd_kafka_resp_err_t e = rd_kafka_offsets_store(consumer, l);
    if (e)
        log_debug("offsets_store: %s (partition revoked meanwhile)", rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
}

/* The teardown of one consumer, on a thread of its own so that the caller
 * can stop waiting for it. */
struct closer {
    rd_kafka_t *rk;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, abandoned; /* abandoned: the thread frees this */
};

static void *closer_main(void *arg)
{
    struct closer *c = arg;
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, NULL, 0);
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
        log_warn("final commit: %s", rd_kafka_err2str(e));
    rd_kafka_consumer_close(c->rk); /* the rebalance callback runs here */
    rd_kafka_destroy(c->rk);
    pthread_mutex_lock(&c->mu);
    c->done = 1;
    int abandoned = c->abandoned;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (abandoned) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        free(c);
    }
    return NULL;
}

void kafka_consumer_free(rd_kafka_t *consumer, int close_budget_ms)
{
    if (!consumer)
        return;
    struct closer *c = calloc(1, sizeof(*c));
    pthread_t t;
    pthread_condattr_t ca;
    if (c) {
        c->rk = consumer;
        pthread_mutex_init(&c->mu, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&c->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    if (!c || pthread_create(&t, NULL, closer_main, c) != 0) { /* no bound, then */
        struct closer here = {.rk = consumer};
        pthread_mutex_init(&here.mu, NULL);
        pthread_cond_init(&here.cv, NULL);
        closer_main(&here);
        pthread_cond_destroy(&here.cv);
        pthread_mutex_destroy(&here.mu);
        if (c) {
            pthread_cond_destroy(&c->cv);
            pthread_mutex_destroy(&c->mu);
        }
        free(c);
        return;
    }
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += close_budget_ms / 1000;
    end.tv_nsec += (long)(close_budget_ms % 1000) * 1000000;
    if (end.tv_nsec >= 1000000000) {
        end.tv_sec++;
        end.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&c->mu);
    while (!c->done && pthread_cond_timedwait(&c->cv, &c->mu, &end) == 0)
        ;
    int done = c->done;
    c->abandoned = !done;
    pthread_mutex_unlock(&c->mu);
    if (!done) { /* the thread goes on (and frees c): the process is ending */
        log_warn("leaving the consumer group did not finish within %d ms; going on without it "
                 "(the group notices within session.timeout.ms; uncommitted records are read "
                 "again)",
                 close_budget_ms);
        pthread_detach(t);
        return;
    }
    pthread_join(t, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
