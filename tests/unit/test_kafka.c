/* Unit tests of kafka: a fatal error on a producer made by
 * kafka_producer_new is seen (kafka_fatal), with its cause; other errors
 * are not fatal. The producer runs against librdkafka's in-process mock
 * cluster, and the fatal error is raised by librdkafka's own test hook. */
#include "kafka.h"

#include <check.h>
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

int main(void)
{
    Suite *s = suite_create("kafka");
    TCase *tc = tcase_create("kafka");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, other_errors_are_not_fatal);
    tcase_add_test(tc, fatal_producer_error_is_raised);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK); /* kafka_fatal is process-wide: order matters */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
