/* Unit tests of route: topic names and the dead-letter record's headers,
 * checked on a real record produced to librdkafka's in-process mock cluster. */
#include "kafka.h"
#include "route.h"

#include <check.h>
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

START_TEST(dead_letter_carries_key_value_and_headers)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof(err));
    rd_kafka_conf_set_dr_msg_cb(conf, dr);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    ck_assert_ptr_nonnull(p);
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(p);
    const char *bs = rd_kafka_mock_cluster_bootstraps(mc);
    rd_kafka_mock_topic_create(mc, "src", 1, 1);
    rd_kafka_mock_topic_create(mc, "src.dlq", 1, 1);
    /* a source record with a binary key and value */
    static const char key[] = {'k', 0, 'y'}, val[] = "{\"bad\":\xff}";
    rd_kafka_producev(p, RD_KAFKA_V_TOPIC("src"), RD_KAFKA_V_KEY(key, sizeof(key)),
                      RD_KAFKA_V_VALUE((void *)(uintptr_t)val, sizeof(val) - 1),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(1700000000123),
                      RD_KAFKA_V_END);
    rd_kafka_flush(p, 5000);
    rd_kafka_message_t *src = consume_one(bs, "src");
    ck_assert_ptr_nonnull(src);
    struct route_failure f = {.error_class = "poison", .error = "invalid JSON: x",
                              .group = "stockflow-order", .worker = "order-worker@h:1",
                              .now_ms = 1700000001000};
    delivered = 0;
    ck_assert_int_eq(route_produce(p, src, "src.dlq", &f, NULL, err, sizeof(err)), 0);
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
    char v[32];
    ck_assert_int_eq(kafka_header_get(d, "x-not-before", v, sizeof(v)), -1);
    /* a record routed again keeps the originals and counts the attempt */
    f.now_ms = 1700000009000;
    ck_assert_int_eq(route_produce(p, d, "src.dlq", &f, NULL, err, sizeof(err)), 0);
    rd_kafka_flush(p, 5000);
    ck_assert_int_eq(route_attempt(d), 1);
    rd_kafka_message_destroy(d);
    rd_kafka_message_destroy(src);
    for (int i = 0; i < nconsumers; i++) {
        rd_kafka_consumer_close(consumers[i]);
        rd_kafka_destroy(consumers[i]);
    }
    rd_kafka_destroy(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("route");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, source_topic_strips_retry_suffix);
    tcase_add_test(tc, dead_letter_carries_key_value_and_headers);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
