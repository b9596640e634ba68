/* Unit tests of route: topic names and the dead-letter record's headers,
 * checked on a real record produced to librdkafka's in-process mock cluster. */
#include "kafka.h"
#include "route.h"

#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdlib.h>
#include <string.h>

START_TEST(source_topic_strips_retry_suffix)
{
    char out[128];
    route_source_topic("inventory.orders.retry.3", out, sizeof(out));
    ck_assert_str_eq(out, "inventory.orders");
    route_source_topic("inventory.orders", out, sizeof(out));
    ck_assert_str_eq(out, "inventory.orders");
    ck_assert_int_eq(route_retry_step("inventory.orders.retry.3"), 3);
    ck_assert_int_eq(route_retry_step("inventory.orders"), 0);
    ck_assert_int_eq(route_retry_step("inventory.orders.retry.x"), 0);
}
END_TEST


/* ---- route_decide: every cell ------------------------------------------- */

static const long backoff[] = {1, 10, 60, 300};
#define NOW 1000000

static const struct {
    const char *topic;
    int attempt;
    enum route_error e;
    size_t nsteps;
    const char *dest;
    enum route_class cls;
    int new_attempt;
    int64_t not_before;
} decide_cases[] = {
    {"inventory.orders", 0, ROUTE_ERR_POISON, 4, "inventory.orders.dlq", ROUTE_POISON, 1, 0},
    {"inventory.orders", 0, ROUTE_ERR_TRANSIENT, 4, "inventory.orders.retry.1", ROUTE_TRANSIENT, 1,
     NOW + 1000},
    {"inventory.orders.retry.1", 1, ROUTE_ERR_TRANSIENT, 4, "inventory.orders.retry.2",
     ROUTE_TRANSIENT, 2, NOW + 10000},
    {"inventory.orders.retry.2", 2, ROUTE_ERR_TRANSIENT, 4, "inventory.orders.retry.3",
     ROUTE_TRANSIENT, 3, NOW + 60000},
    {"inventory.orders.retry.3", 3, ROUTE_ERR_TRANSIENT, 4, "inventory.orders.retry.4",
     ROUTE_TRANSIENT, 4, NOW + 300000},
    {"inventory.orders.retry.4", 4, ROUTE_ERR_TRANSIENT, 4, "inventory.orders.dlq",
     ROUTE_EXHAUSTED, 5, 0},
    {"inventory.orders.retry.1", 1, ROUTE_ERR_POISON, 4, "inventory.orders.dlq", ROUTE_POISON, 2, 0},
    {"inventory.orders.retry.4", 4, ROUTE_ERR_POISON, 4, "inventory.orders.dlq", ROUTE_POISON, 5, 0},
    /* attempts outside 0..nsteps are clamped: never backoff[-1], never an overflow */
    {"inventory.orders", -1, ROUTE_ERR_TRANSIENT, 4, "inventory.orders.retry.1", ROUTE_TRANSIENT, 1,
     NOW + 1000},
    {"inventory.orders", INT_MIN, ROUTE_ERR_POISON, 4, "inventory.orders.dlq", ROUTE_POISON, 1, 0},
    {"inventory.orders.retry.2", INT_MAX, ROUTE_ERR_TRANSIENT, 4, "inventory.orders.dlq",
     ROUTE_EXHAUSTED, 5, 0},
    {"inventory.orders.retry.2", INT_MAX, ROUTE_ERR_POISON, 4, "inventory.orders.dlq", ROUTE_POISON,
     5, 0},
    /* no retry steps: a transient failure is exhausted at once */
    {"inventory.stock", 0, ROUTE_ERR_TRANSIENT, 0, "inventory.stock.dlq", ROUTE_EXHAUSTED, 1, 0},
    {"inventory.stock", 3, ROUTE_ERR_TRANSIENT, 0, "inventory.stock.dlq", ROUTE_EXHAUSTED, 1, 0},
    {"inventory.stock", 0, ROUTE_ERR_POISON, 0, "inventory.stock.dlq", ROUTE_POISON, 1, 0},
    /* fewer steps than the topic's number (configuration shrank) */
    {"inventory.stock.retry.4", 4, ROUTE_ERR_TRANSIENT, 2, "inventory.stock.dlq", ROUTE_EXHAUSTED,
     3, 0},
};

START_TEST(decide_every_cell)
{
    struct route_decision d;
    memset(&d, 0x5a, sizeof(d));
    route_decide(decide_cases[_i].topic, decide_cases[_i].attempt, decide_cases[_i].e, backoff,
                 decide_cases[_i].nsteps, NOW, &d);
    ck_assert_str_eq(d.dest, decide_cases[_i].dest);
    ck_assert_str_eq(route_class_name(d.cls), route_class_name(decide_cases[_i].cls));
    ck_assert_int_eq(d.attempt, decide_cases[_i].new_attempt);
    ck_assert_int_eq(d.not_before_ms, decide_cases[_i].not_before);
}
END_TEST

START_TEST(class_names_are_the_header_values)
{
    ck_assert_str_eq(route_class_name(ROUTE_TRANSIENT), "transient");
    ck_assert_str_eq(route_class_name(ROUTE_EXHAUSTED), "exhausted");
    ck_assert_str_eq(route_class_name(ROUTE_POISON), "poison");
}
END_TEST

/* ---- route_trust: which provenance a record may claim ---------------------- */

#define T_NOW 5000
/* headers a worker writes for a record of inventory.orders[3]@40 */
#define GOOD "inventory.orders", "3", "40", "1700000000000", "1700000001000"

static const struct {
    const char *what;
    const char *topic;
    int max_attempt;
    const char *h[6]; /* topic, partition, offset, timestamp, first failure, attempt */
    const char *want_topic;
    int32_t want_part;
    int64_t want_off, want_first;
    int want_attempt, want_inherited;
} trust_cases[] = {
    {"source, no headers", "inventory.orders", 4, {NULL}, "inventory.orders", 2, 7, T_NOW, 0, 0},
    {"source, forged headers ignored", "inventory.orders", 4, {GOOD, "3"}, "inventory.orders", 2, 7,
     T_NOW, 0, 0},
    {"source, forged x-attempt -1", "inventory.orders", 4,
     {"inventory.payments", "0", "1", "1", "1", "-1"}, "inventory.orders", 2, 7, T_NOW, 0, 0},
    {"retry, headers naming its source", "inventory.orders.retry.2", 4, {GOOD, "2"},
     "inventory.orders", 3, 40, 1700000001000, 2, 1},
    {"retry, x-attempt -1 clamped", "inventory.orders.retry.2", 4, {GOOD, "-1"}, "inventory.orders",
     3, 40, 1700000001000, 0, 1},
    {"retry, x-attempt INT_MAX clamped", "inventory.orders.retry.2", 4, {GOOD, "2147483647"},
     "inventory.orders", 3, 40, 1700000001000, 4, 1},
    {"retry, x-attempt beyond int64", "inventory.orders.retry.2", 4,
     {GOOD, "99999999999999999999"}, "inventory.orders", 3, 40, 1700000001000, 2, 1},
    {"retry, no x-attempt: the topic's step", "inventory.orders.retry.3", 4, {GOOD, NULL},
     "inventory.orders", 3, 40, 1700000001000, 3, 1},
    {"retry, headers naming another source", "inventory.orders.retry.2", 4,
     {"inventory.payments", "3", "40", "1", "1", "1"}, "inventory.orders.retry.2", 2, 7, T_NOW, 2,
     0},
    {"retry, headers naming the retry topic", "inventory.orders.retry.2", 4,
     {"inventory.orders.retry.2", "3", "40", "1", "1", "1"}, "inventory.orders.retry.2", 2, 7,
     T_NOW, 2, 0},
    {"retry, partition not a number", "inventory.orders.retry.2", 4,
     {"inventory.orders", "x", "40", "1", "1", "2"}, "inventory.orders.retry.2", 2, 7, T_NOW, 2, 0},
    {"retry, negative offset", "inventory.orders.retry.2", 4,
     {"inventory.orders", "3", "-5", "1", "1", "2"}, "inventory.orders.retry.2", 2, 7, T_NOW, 2, 0},
    {"retry, no headers, step beyond the configured", "inventory.orders.retry.6", 4, {NULL},
     "inventory.orders.retry.6", 2, 7, T_NOW, 4, 0},
    {"dlq, headers naming its source", "inventory.orders.dlq", 5, {GOOD, "5"}, "inventory.orders",
     3, 40, 1700000001000, 5, 1},
    {"dlq, headers naming another source", "inventory.orders.dlq", 5,
     {"inventory.stock", "3", "40", "1", "1", "1"}, "inventory.orders.dlq", 2, 7, T_NOW, 0, 0},
};

START_TEST(trust_only_where_it_belongs)
{
    const char *const *h = trust_cases[_i].h;
    struct route_seen s = {.topic = trust_cases[_i].topic, .partition = 2, .offset = 7,
                           .timestamp = 1600000000000, .orig_topic = h[0],
                           .orig_partition = h[1], .orig_offset = h[2], .orig_timestamp = h[3],
                           .first_failure_at = h[4], .attempt = h[5]};
    struct route_origin o;
    route_trust(&s, trust_cases[_i].max_attempt, T_NOW, &o);
    ck_assert_msg(strcmp(o.topic, trust_cases[_i].want_topic) == 0, "%s: topic %s",
                  trust_cases[_i].what, o.topic);
    ck_assert_msg(o.partition == trust_cases[_i].want_part, "%s: partition %d",
                  trust_cases[_i].what, (int)o.partition);
    ck_assert_msg(o.offset == trust_cases[_i].want_off, "%s: offset %lld", trust_cases[_i].what,
                  (long long)o.offset);
    ck_assert_msg(o.first_failure_at == trust_cases[_i].want_first, "%s: first failure %lld",
                  trust_cases[_i].what, (long long)o.first_failure_at);
    ck_assert_msg(o.attempt == trust_cases[_i].want_attempt, "%s: attempt %d",
                  trust_cases[_i].what, o.attempt);
    ck_assert_msg(o.inherited == trust_cases[_i].want_inherited, "%s: inherited %d",
                  trust_cases[_i].what, o.inherited);
    ck_assert_int_eq(o.timestamp, o.inherited ? 1700000000000 : 1600000000000);
}
END_TEST

static int delivered;
static void dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *op)
{
    delivered = m->err ? -1 : 1;
}

/* Consumers stay open until the end: a handle may not be destroyed while
 * one of its messages lives. */
static rd_kafka_t *consumers[4];
static int nconsumers;

static rd_kafka_message_t *consume_one(const char *bootstrap, const char *topic)
{
    char err[256];
    const struct kafka_prop props[] = {{"group.id", "t"}, {"auto.offset.reset", "earliest"}};
    rd_kafka_conf_t *conf = kafka_conf_new(bootstrap, props, 2, NULL, err, sizeof(err));
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    ck_assert_ptr_nonnull(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_message_t *m = NULL;
    for (int i = 0; i < 100 && !m; i++) {
        m = rd_kafka_consumer_poll(c, 100);
        if (m && m->err) {
            rd_kafka_message_destroy(m);
            m = NULL;
        }
    }
    consumers[nconsumers++] = c;
    return m;
}

static void assert_header(const rd_kafka_message_t *m, const char *name, const char *want)
{
    char v[512];
    ck_assert_msg(kafka_header_get(m, name, v, sizeof(v)) == 0, "header %s missing", name);
    ck_assert_msg(strcmp(v, want) == 0, "header %s = \"%s\", want \"%s\"", name, v, want);
}

/* A producer on librdkafka's in-process mock cluster (one broker); *mc is
 * its cluster, *bs its bootstrap servers. */
static rd_kafka_t *mock_producer(rd_kafka_mock_cluster_t **mc, const char **bs)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof(err));
    rd_kafka_conf_set_dr_msg_cb(conf, dr);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    ck_assert_ptr_nonnull(p);
    *mc = rd_kafka_handle_mock_cluster(p);
    *bs = rd_kafka_mock_cluster_bootstraps(*mc);
    return p;
}

/* Closes the consumers consume_one opened, then the producer. */
static void close_all(rd_kafka_t *p)
{
    for (int i = 0; i < nconsumers; i++) {
        rd_kafka_consumer_close(consumers[i]);
        rd_kafka_destroy(consumers[i]);
    }
    rd_kafka_destroy(p);
}

START_TEST(dead_letter_carries_key_value_and_headers)
{
    char err[256];
    rd_kafka_mock_cluster_t *mc;
    const char *bs;
    rd_kafka_t *p = mock_producer(&mc, &bs);
    rd_kafka_mock_topic_create(mc, "src", 1, 1);
    rd_kafka_mock_topic_create(mc, "src.dlq", 1, 1);
    /* a source record with a binary key and value, and forged provenance */
    static const char key[] = {'k', 0, 'y'}, val[] = "{\"bad\":\xff}";
    rd_kafka_headers_t *fh = rd_kafka_headers_new(8);
    rd_kafka_header_add(fh, "x-original-topic", -1, "elsewhere", -1);
    rd_kafka_header_add(fh, "x-original-partition", -1, "9", -1);
    rd_kafka_header_add(fh, "x-original-offset", -1, "99", -1);
    rd_kafka_header_add(fh, "x-original-timestamp", -1, "1", -1);
    rd_kafka_header_add(fh, "x-first-failure-at", -1, "1", -1);
    rd_kafka_header_add(fh, "x-attempt", -1, "-1", -1);
    rd_kafka_header_add(fh, "x-redriven-from", -1, "src.dlq:0:5", -1);
    rd_kafka_header_add(fh, "x-redrive-count", -1, "2", -1);
    rd_kafka_producev(p, RD_KAFKA_V_TOPIC("src"), RD_KAFKA_V_KEY(key, sizeof(key)),
                      RD_KAFKA_V_VALUE((void *)(uintptr_t)val, sizeof(val) - 1),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(1700000000123),
                      RD_KAFKA_V_HEADERS(fh), RD_KAFKA_V_END);
    rd_kafka_flush(p, 5000);
    rd_kafka_message_t *src = consume_one(bs, "src");
    ck_assert_ptr_nonnull(src);
    struct route_origin o;
    struct route_decision dec;
    route_origin_of(src, 4, 1700000001000, &o);
    route_decide("src", o.attempt, ROUTE_ERR_POISON, backoff, 4, 1700000001000, &dec);
    ck_assert_str_eq(dec.dest, "src.dlq");
    struct route_failure f = {.error_class = route_class_name(dec.cls),
                              .error = "invalid JSON: x", .group = "stockflow-order",
                              .worker = "order-worker@h:1", .attempt = dec.attempt,
                              .origin = &o};
    delivered = 0;
    ck_assert_int_eq(route_produce(p, src, dec.dest, &f, NULL, err, sizeof(err)), 0);
    rd_kafka_flush(p, 5000);
    ck_assert_int_eq(delivered, 1);
    rd_kafka_message_t *d = consume_one(bs, "src.dlq");
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(d->key_len, sizeof(key));
    ck_assert_mem_eq(d->key, key, sizeof(key));
    ck_assert_int_eq(d->len, sizeof(val) - 1);
    ck_assert_mem_eq(d->payload, val, sizeof(val) - 1);
    assert_header(d, "x-original-topic", "src");
    assert_header(d, "x-original-partition", "0");
    assert_header(d, "x-original-offset", "0");
    assert_header(d, "x-original-timestamp", "1700000000123");
    assert_header(d, "x-original-group", "stockflow-order");
    assert_header(d, "x-attempt", "1");
    assert_header(d, "x-first-failure-at", "1700000001000");
    assert_header(d, "x-error-class", "poison");
    assert_header(d, "x-error", "invalid JSON: x");
    assert_header(d, "x-worker", "order-worker@h:1");
    assert_header(d, "x-redriven-from", "src.dlq:0:5");
    assert_header(d, "x-redrive-count", "2");
    char v[32];
    ck_assert_int_eq(kafka_header_get(d, "x-not-before", v, sizeof(v)), -1);
    /* read back from the DLQ (as the alert-worker does) it keeps the originals */
    route_origin_of(d, 5, 1700000009000, &o);
    ck_assert_int_eq(o.inherited, 1);
    ck_assert_str_eq(o.topic, "src");
    ck_assert_int_eq(o.first_failure_at, 1700000001000);
    ck_assert_int_eq(o.attempt, 1);
    rd_kafka_message_destroy(d);
    rd_kafka_message_destroy(src);
    close_all(p);
}
END_TEST

/* Routes m (read from its topic) with error e at now; returns the record
 * written, read back from the destination. */
static rd_kafka_message_t *route_once(rd_kafka_t *p, const char *bs, const rd_kafka_message_t *m,
                                      enum route_error e, int64_t now, const char *want_dest)
{
    char err[256];
    struct route_origin o;
    struct route_decision dec;
    route_origin_of(m, 4, now, &o);
    route_decide(rd_kafka_topic_name(m->rkt), o.attempt, e, backoff, 4, now, &dec);
    ck_assert_str_eq(dec.dest, want_dest);
    struct route_failure f = {.error_class = route_class_name(dec.cls),
                              .error = "x",
                              .group = "stockflow-order",
                              .worker = "order-worker@h:1",
                              .attempt = dec.attempt,
                              .not_before_ms = dec.not_before_ms,
                              .origin = &o};
    delivered = 0;
    ck_assert_int_eq(route_produce(p, m, dec.dest, &f, NULL, err, sizeof(err)), 0);
    rd_kafka_flush(p, 5000);
    ck_assert_int_eq(delivered, 1);
    rd_kafka_message_t *out = consume_one(bs, dec.dest);
    ck_assert_ptr_nonnull(out);
    return out;
}

START_TEST(routed_again_keeps_originals_and_counts_the_attempt)
{
    rd_kafka_mock_cluster_t *mc;
    const char *bs;
    rd_kafka_t *p = mock_producer(&mc, &bs);
    rd_kafka_mock_topic_create(mc, "src", 1, 1);
    rd_kafka_mock_topic_create(mc, "src.retry.1", 1, 1);
    rd_kafka_mock_topic_create(mc, "src.dlq", 1, 1);
    rd_kafka_producev(p, RD_KAFKA_V_TOPIC("src"), RD_KAFKA_V_VALUE("v", 1),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(1700000000123),
                      RD_KAFKA_V_END);
    rd_kafka_flush(p, 5000);
    rd_kafka_message_t *src = consume_one(bs, "src");
    ck_assert_ptr_nonnull(src);
    /* first failure: to the retry topic; then the retry record fails for good */
    rd_kafka_message_t *r =
        route_once(p, bs, src, ROUTE_ERR_TRANSIENT, 1700000001000, "src.retry.1");
    assert_header(r, "x-attempt", "1");
    rd_kafka_message_t *d = route_once(p, bs, r, ROUTE_ERR_POISON, 1700000009000, "src.dlq");
    /* the record routed again, not the one before it */
    assert_header(d, "x-original-topic", "src");
    assert_header(d, "x-original-partition", "0");
    assert_header(d, "x-original-offset", "0");
    assert_header(d, "x-original-timestamp", "1700000000123");
    assert_header(d, "x-first-failure-at", "1700000001000");
    assert_header(d, "x-attempt", "2");
    assert_header(d, "x-error-class", "poison");
    rd_kafka_message_destroy(d);
    rd_kafka_message_destroy(r);
    rd_kafka_message_destroy(src);
    close_all(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("route");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, source_topic_strips_retry_suffix);
    tcase_add_loop_test(tc, decide_every_cell, 0, (int)(sizeof(decide_cases) / sizeof(decide_cases[0])));
    tcase_add_test(tc, class_names_are_the_header_values);
    tcase_add_loop_test(tc, trust_only_where_it_belongs, 0,
                        (int)(sizeof(trust_cases) / sizeof(trust_cases[0])));
    tcase_add_test(tc, dead_letter_carries_key_value_and_headers);
    tcase_add_test(tc, routed_again_keeps_originals_and_counts_the_attempt);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
