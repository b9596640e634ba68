/* Unit tests of kafka's configuration: RDKAFKA_* properties reach only the
 * client type librdkafka scopes them to (no CONFWARN at every start). */
#include "kafka.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
    Suite *s = suite_create("kafka");
    TCase *tc = tcase_create("kafka");
    tcase_add_test(tc, scopes_come_from_librdkafka);
    tcase_add_test(tc, consumer_properties_stay_out_of_producers);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
