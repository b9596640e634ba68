#include "route.h"

#include "kafka.h"

#include <errno.h>
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

const char *route_class_name(enum route_class c)
{
    static const char *const names[] = {"transient", "exhausted", "poison"};
    return names[c];
}

static int clamp(long long v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : (int)v;
}

void route_decide(const char *topic, int attempt, enum route_error e, const long *backoff,
                  size_t nsteps, int64_t now_ms, struct route_decision *out)
{
    char src[256];
    int steps = clamp((long long)nsteps, 0, 1000);
    attempt = clamp(attempt, 0, steps);
    route_source_topic(topic, src, sizeof(src));
    out->attempt = attempt + 1;
    out->not_before_ms = 0;
    if (e == ROUTE_ERR_TRANSIENT && attempt < steps) {
        out->cls = ROUTE_TRANSIENT;
        out->not_before_ms = now_ms + (int64_t)backoff[attempt] * 1000;
        snprintf(out->dest, sizeof(out->dest), "%s.retry.%d", src, attempt + 1);
        return;
    }
    out->cls = e == ROUTE_ERR_TRANSIENT ? ROUTE_EXHAUSTED : ROUTE_POISON;
    snprintf(out->dest, sizeof(out->dest), "%s.dlq", src);
}

/* A whole decimal number in lo..hi, nothing around it. */
static int parse_int(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s || s[0] == ' ' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* The source a record's headers must name on topic, "" when the workers
 * write no provenance there: <source>.retry.<n> and <source>.dlq. */
static void trusted_source(const char *topic, char *out, size_t outlen)
{
    size_t len = strlen(topic);
    out[0] = '\0';
    if (route_retry_step(topic))
        route_source_topic(topic, out, outlen);
    else if (len > 4 && strcmp(topic + len - 4, ".dlq") == 0)
        snprintf(out, outlen, "%.*s", (int)(len - 4), topic);
}

void route_trust(const struct route_seen *s, int max_attempt, int64_t now_ms,
                 struct route_origin *out)
{
    char src[256];
    long long part, off, ts, first, att;
    int step = clamp(route_retry_step(s->topic), 0, max_attempt);
    trusted_source(s->topic, src, sizeof(src));
    memset(out, 0, sizeof(*out));
    if (src[0] && s->orig_topic && strcmp(s->orig_topic, src) == 0 &&
        !parse_int(s->orig_partition, 0, INT32_MAX, &part) &&
        !parse_int(s->orig_offset, 0, INT64_MAX, &off) &&
        !parse_int(s->orig_timestamp, -1, INT64_MAX, &ts) &&
        !parse_int(s->first_failure_at, 0, INT64_MAX, &first)) {
        snprintf(out->topic, sizeof(out->topic), "%s", src);
        out->partition = (int32_t)part;
        out->offset = off;
        out->timestamp = ts;
        out->first_failure_at = first;
        out->attempt = parse_int(s->attempt, INT64_MIN, INT64_MAX, &att)
                           ? step
                           : clamp(att, 0, max_attempt);
        out->inherited = 1;
        return;
    }
    snprintf(out->topic, sizeof(out->topic), "%s", s->topic);
    out->partition = s->partition;
    out->offset = s->offset;
    out->timestamp = s->timestamp;
    out->first_failure_at = now_ms;
    out->attempt = step;
}

void route_origin_of(const rd_kafka_message_t *m, int max_attempt, int64_t now_ms,
                     struct route_origin *out)
{
    static const char *const names[] = {"x-original-topic",     "x-original-partition",
                                        "x-original-offset",    "x-original-timestamp",
                                        "x-first-failure-at",   "x-attempt"};
    char v[6][256];
    const char *p[6];
    for (int i = 0; i < 6; i++)
        p[i] = kafka_header_get(m, names[i], v[i], sizeof(v[i])) ? NULL : v[i];
    struct route_seen s = {.topic = rd_kafka_topic_name(m->rkt),
                           .partition = m->partition,
                           .offset = m->offset,
                           .timestamp = rd_kafka_message_timestamp(m, NULL),
                           .orig_topic = p[0],
                           .orig_partition = p[1],
                           .orig_offset = p[2],
                           .orig_timestamp = p[3],
                           .first_failure_at = p[4],
                           .attempt = p[5]};
    route_trust(&s, max_attempt, now_ms, out);
}

static int add(rd_kafka_headers_t *h, const char *name, const char *value)
{
    return rd_kafka_header_add(h, name, -1, value, -1) != RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Copies header name from m, bytes as they are, when m has it. */
static int carry(rd_kafka_headers_t *h, const rd_kafka_message_t *m, const char *name)
{
    rd_kafka_headers_t *mh = NULL;
    const void *val;
    size_t size;
    if (rd_kafka_message_headers(m, &mh) || rd_kafka_header_get_last(mh, name, &val, &size))
        return 0;
    return rd_kafka_header_add(h, name, -1, val, val ? (ssize_t)size : 0) !=
           RD_KAFKA_RESP_ERR_NO_ERROR;
}

int route_produce(rd_kafka_t *producer, const rd_kafka_message_t *m, const char *dest,
                  const struct route_failure *f, void *dr_opaque, char *err, size_t errlen)
{
    const struct route_origin *o = f->origin;
    rd_kafka_headers_t *h = rd_kafka_headers_new(14);
    char v[5][32];
    snprintf(v[0], sizeof(v[0]), "%d", (int)o->partition);
    snprintf(v[1], sizeof(v[1]), "%lld", (long long)o->offset);
    snprintf(v[2], sizeof(v[2]), "%lld", (long long)o->timestamp);
    snprintf(v[3], sizeof(v[3]), "%lld", (long long)o->first_failure_at);
    snprintf(v[4], sizeof(v[4]), "%d", f->attempt);
    int bad = add(h, "x-original-topic", o->topic);
    bad |= add(h, "x-original-partition", v[0]);
    bad |= add(h, "x-original-offset", v[1]);
    bad |= add(h, "x-original-timestamp", v[2]);
    bad |= add(h, "x-first-failure-at", v[3]);
    bad |= add(h, "x-original-group", f->group);
    bad |= add(h, "x-attempt", v[4]);
    bad |= add(h, "x-error-class", f->error_class);
    bad |= add(h, "x-error", f->error);
    bad |= add(h, "x-worker", f->worker);
    if (f->not_before_ms > 0) {
        char nb[32];
        snprintf(nb, sizeof(nb), "%lld", (long long)f->not_before_ms);
        bad |= add(h, "x-not-before", nb);
    }
    bad |= carry(h, m, "x-redriven-from");
    bad |= carry(h, m, "x-redrive-count");
    int omit = m->len > ROUTE_COPY_MAX;
    if (omit) {
        char sz[32];
        snprintf(sz, sizeof(sz), "%zu", m->len);
        bad |= add(h, "x-value-omitted", sz);
    }
    if (bad) {
        rd_kafka_headers_destroy(h);
        snprintf(err, errlen, "cannot build headers for %s", dest);
        return -1;
    }
    /* RD_KAFKA_V_VALUE casts its arguments unparenthesized: plain names only */
    void *value = omit ? NULL : m->payload;
    size_t value_len = omit ? 0 : m->len;
    rd_kafka_resp_err_t e = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(dest), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(value, value_len),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(dr_opaque), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(h); /* only freed by librdkafka on success */
        snprintf(err, errlen, "produce to %s: %s", dest, rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}
