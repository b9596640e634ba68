#include "route.h"

#include "kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void route_source_topic(const char *topic, char *out, size_t outlen)
{
    const char *r = strstr(topic, ".retry.");
    size_t len = r ? (size_t)(r - topic) : strlen(topic);
    snprintf(out, outlen, "%.*s", (int)len, topic);
}

int route_retry_step(const char *topic)
{
    const char *r = strstr(topic, ".retry.");
    if (!r)
        return 0;
    char *end;
    long n = strtol(r + 7, &end, 10);
    return (*end == '\0' && n > 0 && n < 1000) ? (int)n : 0;
}

int route_attempt(const rd_kafka_message_t *m)
{
    char v[32];
    if (kafka_header_get(m, "x-attempt", v, sizeof(v)))
        return 0;
    return atoi(v);
}

static int add(rd_kafka_headers_t *h, const char *name, const char *value)
{
    return rd_kafka_header_add(h, name, -1, value, -1) != RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* The x-original-* values: inherited from a retry record, else m itself. */
static int add_originals(rd_kafka_headers_t *h, const rd_kafka_message_t *m,
                         const struct route_failure *f)
{
    static const char *const names[] = {"x-original-topic", "x-original-partition",
                                        "x-original-offset", "x-original-timestamp",
                                        "x-first-failure-at"};
    char v[5][256];
    int inherited = kafka_header_get(m, names[0], v[0], sizeof(v[0])) == 0;
    for (int i = 1; inherited && i < 5; i++)
        inherited = kafka_header_get(m, names[i], v[i], sizeof(v[i])) == 0;
    if (!inherited) {
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(m, &tstype);
        snprintf(v[0], sizeof(v[0]), "%s", rd_kafka_topic_name(m->rkt));
        snprintf(v[1], sizeof(v[1]), "%d", (int)m->partition);
        snprintf(v[2], sizeof(v[2]), "%lld", (long long)m->offset);
        snprintf(v[3], sizeof(v[3]), "%lld", (long long)ts);
        snprintf(v[4], sizeof(v[4]), "%lld", (long long)f->now_ms);
    }
    int bad = 0;
    for (int i = 0; i < 5; i++)
        bad |= add(h, names[i], v[i]);
    return bad;
}

int route_produce(rd_kafka_t *producer, const rd_kafka_message_t *m, const char *dest,
                  const struct route_failure *f, void *dr_opaque, char *err, size_t errlen)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(12);
    char attempt[16], nb[32];
    snprintf(attempt, sizeof(attempt), "%d", route_attempt(m) + 1);
    int bad = add_originals(h, m, f);
    bad |= add(h, "x-original-group", f->group);
    bad |= add(h, "x-attempt", attempt);
    bad |= add(h, "x-error-class", f->error_class);
    bad |= add(h, "x-error", f->error);
    bad |= add(h, "x-worker", f->worker);
    if (f->not_before_ms > 0) {
        snprintf(nb, sizeof(nb), "%lld", (long long)f->not_before_ms);
        bad |= add(h, "x-not-before", nb);
    }
    if (bad) {
        rd_kafka_headers_destroy(h);
        snprintf(err, errlen, "cannot build headers for %s", dest);
        return -1;
    }
    rd_kafka_resp_err_t e = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(dest), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(m->payload, m->len),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(dr_opaque), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(h); /* only freed by librdkafka on success */
        snprintf(err, errlen, "produce to %s: %s", dest, rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}
