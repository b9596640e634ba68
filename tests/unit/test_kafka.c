/* Unit tests of kafka:
 * - a fatal error on a producer made by kafka_producer_new is seen
 *   (kafka_fatal), with its cause; other errors are not fatal. The producer
 *   runs against librdkafka's in-process mock cluster, and the fatal error
 *   is raised by librdkafka's own test hook;
 * - RDKAFKA_* properties reach only the client type librdkafka scopes them
 *   to (no CONFWARN at every start);
 * - kafka_consumer_free leaves the group (the rebalance callback sees the
 *   revocation), and gives up waiting for a close that does not finish
 *   within its budget (here: a revocation callback that blocks). */
#include "kafka.h"

#include <librdkafka/rdkafka_mock.h>

#include <check.h>
#include <stdatomic.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

static void dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk, (void)m, (void)opaque;
}

START_TEST(fatal_producer_error_is_raised)
{
    const char *env[] = {"RDKAFKA_TEST_MOCK_NUM_BROKERS=1", NULL};
    char err[512], why[512];
    rd_kafka_t *p = kafka_producer_new("127.0.0.1:9", "t", env, dr, NULL, err, sizeof(err));
    ck_assert_msg(p != NULL, "%s", err);
    rd_kafka_poll(p, 100);
    ck_assert_int_eq(kafka_fatal(), 0);
    ck_assert_int_eq(kafka_error_is_fatal(p, RD_KAFKA_RESP_ERR__FATAL, why, sizeof(why)), 1);
    ck_assert_int_eq(rd_kafka_test_fatal_error(p, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                               "injected by test_kafka"),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    for (int i = 0; i < 50 && !kafka_fatal(); i++)
        rd_kafka_poll(p, 100);
    ck_assert_int_eq(kafka_fatal(), 1);
    ck_assert_int_eq(kafka_error_is_fatal(p, RD_KAFKA_RESP_ERR__FATAL, why, sizeof(why)), 1);
    ck_assert_msg(strstr(why, "injected by test_kafka") != NULL, "cause: %s", why);
    rd_kafka_destroy(p);
}
END_TEST

START_TEST(other_errors_are_not_fatal)
{
    const char *env[] = {"RDKAFKA_TEST_MOCK_NUM_BROKERS=1", NULL};
    char err[512], why[64] = "";
    rd_kafka_t *p = kafka_producer_new("127.0.0.1:9", "t", env, dr, NULL, err, sizeof(err));
    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_int_eq(kafka_error_is_fatal(p, RD_KAFKA_RESP_ERR__TRANSPORT, why, sizeof(why)), 0);
    ck_assert_int_eq(kafka_error_is_fatal(p, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, why, sizeof(why)),
                     0);
    ck_assert_int_eq(kafka_error_is_fatal(p, RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, why,
                                          sizeof(why)),
                     0);
    rd_kafka_destroy(p);
}
END_TEST


START_TEST(scopes_come_from_librdkafka)
{
    ck_assert_int_eq(kafka_prop_scope("session.timeout.ms"), 'C');
    ck_assert_int_eq(kafka_prop_scope("heartbeat.interval.ms"), 'C');
    ck_assert_int_eq(kafka_prop_scope("linger.ms"), 'P');
    ck_assert_int_eq(kafka_prop_scope("client.id"), '*');
    ck_assert_int_eq(kafka_prop_scope("no.such.property"), 0);
}
END_TEST

static void get(rd_kafka_conf_t *conf, const char *name, char *out, size_t len)
{
    ck_assert_int_eq(rd_kafka_conf_get(conf, name, out, &len), RD_KAFKA_CONF_OK);
}

START_TEST(consumer_properties_stay_out_of_producers)
{
    const char *env[] = {"RDKAFKA_SESSION_TIMEOUT_MS=6000", "RDKAFKA_LINGER_MS=7",
                         "RDKAFKA_CLIENT_RACK=r1", NULL};
    char err[256], v[64];
    rd_kafka_conf_t *p = kafka_conf_new_for(RD_KAFKA_PRODUCER, "127.0.0.1:1", NULL, 0, env, err,
                                            sizeof(err));
    rd_kafka_conf_t *c = kafka_conf_new_for(RD_KAFKA_CONSUMER, "127.0.0.1:1", NULL, 0, env, err,
                                            sizeof(err));
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(c);
    get(p, "session.timeout.ms", v, sizeof(v));
    ck_assert_str_eq(v, "45000"); /* librdkafka's default: left out */
    get(p, "linger.ms", v, sizeof(v));
    ck_assert_str_eq(v, "7");
    get(c, "session.timeout.ms", v, sizeof(v));
    ck_assert_str_eq(v, "6000");
    get(c, "client.rack", v, sizeof(v));
    ck_assert_str_eq(v, "r1");
    get(p, "client.rack", v, sizeof(v));
    ck_assert_str_eq(v, "r1");
    get(p, "reconnect.backoff.max.ms", v, sizeof(v));
    ck_assert_str_eq(v, "1000");
    rd_kafka_conf_destroy(p);
    rd_kafka_conf_destroy(c);
    /* a bad value is still refused, whichever client it is for */
    const char *bad[] = {"RDKAFKA_SESSION_TIMEOUT_MS=soon", NULL};
    ck_assert_ptr_null(
        kafka_conf_new("127.0.0.1:1", NULL, 0, bad, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "RDKAFKA_SESSION_TIMEOUT_MS"));
}
END_TEST

/* A consumer of its own mock cluster, subscribed to topic "t" and assigned
 * its partition; its revocation callback blocks while revoke_block is set. */
static atomic_int revoke_block, revoke_entered, revoke_left;

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    (void)opaque;
    if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        atomic_store(&revoke_entered, 1);
        for (int i = 0; i < 300 && atomic_load(&revoke_block); i++)
            usleep(100 * 1000);
        atomic_store(&revoke_left, 1);
    }
    kafka_rebalance_apply(rk, err, parts);
}

static rd_kafka_t *assigned_consumer(void)
{
    const char *env[] = {"RDKAFKA_TEST_MOCK_NUM_BROKERS=1", NULL};
    char err[512];
    atomic_store(&revoke_entered, 0);
    atomic_store(&revoke_left, 0);
    rd_kafka_t *c = kafka_consumer_new("127.0.0.1:9", "g", "t", env, on_rebalance, NULL, err,
                                       sizeof(err));
    ck_assert_msg(c != NULL, "%s", err);
    rd_kafka_mock_topic_create(rd_kafka_handle_mock_cluster(c), "t", 1, 1);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "t", RD_KAFKA_PARTITION_UA);
    ck_assert_int_eq(rd_kafka_subscribe(c, l), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_topic_partition_list_t *a = NULL;
    for (int i = 0; i < 200 && (!a || a->cnt == 0); i++) {
        if (a)
            rd_kafka_topic_partition_list_destroy(a);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m)
            rd_kafka_message_destroy(m);
        rd_kafka_assignment(c, &a);
    }
    ck_assert_msg(a && a->cnt == 1, "no partition assigned within 20 s");
    rd_kafka_topic_partition_list_destroy(a);
    return c;
}

START_TEST(consumer_free_leaves_the_group)
{
    atomic_store(&revoke_block, 0);
    kafka_consumer_free(assigned_consumer(), 10000);
    ck_assert_int_eq(atomic_load(&revoke_left), 1);
}
END_TEST

START_TEST(consumer_free_gives_up_on_a_stuck_close)
{
    atomic_store(&revoke_block, 1);
    kafka_consumer_free(assigned_consumer(), 1000);
    /* returned while the close was still inside the callback (without the
     * budget it returns only after the callback, i.e. revoke_left == 1) */
    ck_assert_int_eq(atomic_load(&revoke_left), 0);
    atomic_store(&revoke_block, 0);
    /* the abandoned close finishes on its own: wait for its threads */
    for (int i = 0; i < 200 && rd_kafka_thread_cnt() > 0; i++)
        usleep(100 * 1000);
    ck_assert_int_eq(atomic_load(&revoke_left), 1);
    ck_assert_int_eq(rd_kafka_thread_cnt(), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kafka");
    TCase *tc = tcase_create("kafka");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, scopes_come_from_librdkafka);
    tcase_add_test(tc, consumer_properties_stay_out_of_producers);
    tcase_add_test(tc, other_errors_are_not_fatal);
    tcase_add_test(tc, consumer_free_leaves_the_group);
    tcase_add_test(tc, consumer_free_gives_up_on_a_stuck_close);
    tcase_add_test(tc, fatal_producer_error_is_raised);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK); /* kafka_fatal is process-wide: order matters */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
