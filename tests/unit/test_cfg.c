/* Unit tests of cfg: defaults, every variable's bad values, redaction. */
#include "cfg.h"
#include "kafka.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* A fake environment: NULL-terminated pairs. */
static const char *const *fake_env;

static const char *fake_get(const char *name)
{
    for (const char *const *p = fake_env; p && *p; p += 2)
        if (strcmp(p[0], name) == 0)
            return p[1];
    return NULL;
}

START_TEST(defaults_follow_design)
{
    static const char *const env[] = {NULL};
    struct cfg c;
    char err[512];
    fake_env = env;
    ck_assert_int_eq(cfg_load(&c, 8081, fake_get, err, sizeof(err)), 0);
    ck_assert_str_eq(c.kafka_brokers, "127.0.0.1:9092");
    ck_assert_str_eq(c.database_url, "postgresql:///stockflow");
    ck_assert_str_eq(c.alert_webhook_url, "");
    ck_assert_int_eq(c.hold_seconds, 900);
    ck_assert_int_eq(c.n_retry, 4);
    ck_assert_int_eq(c.retry_backoff[0], 1);
    ck_assert_int_eq(c.retry_backoff[3], 300);
    ck_assert_int_eq(c.http_port, 8081);
    ck_assert_int_eq(c.log_level, 1);
    ck_assert_int_eq(c.batch_max, 1000);
}
END_TEST

START_TEST(values_are_read)
{
    static const char *const env[] = {"KAFKA_BROKERS", "a:1,b:2", "RESERVATION_HOLD_SECONDS", "5",
                                      "RETRY_BACKOFF_SECONDS", "0,2,2", "HTTP_PORT", "0",
                                      "LOG_LEVEL", "debug", "ALERT_WEBHOOK_URL",
                                      "https://hooks.example/x", NULL};
    struct cfg c;
    char err[512];
    fake_env = env;
    ck_assert_int_eq(cfg_load(&c, 8081, fake_get, err, sizeof(err)), 0);
    ck_assert_str_eq(c.kafka_brokers, "a:1,b:2");
    ck_assert_int_eq(c.hold_seconds, 5);
    ck_assert_int_eq(c.n_retry, 3);
    ck_assert_int_eq(c.retry_backoff[2], 2);
    ck_assert_int_eq(c.http_port, 0);
    ck_assert_int_eq(c.log_level, 0);
    ck_assert_str_eq(c.alert_webhook_url, "https://hooks.example/x");
}
END_TEST

static const struct {
    const char *name, *value, *why;
} bad[] = {
    {"KAFKA_BROKERS", "nohost", "host:port"},
    {"KAFKA_BROKERS", "a:0", "1..65535"},
    {"KAFKA_BROKERS", "a:1, b:2", "spaces"},
    {"KAFKA_BROKERS", "", "host:port"},
    {"DATABASE_URL", "port=5432 nonsense", "nonsense"},
    {"DATABASE_URL", "postgresql://[::1", ""},
    {"ALERT_WEBHOOK_URL", "ftp://x", "http"},
    {"ALERT_WEBHOOK_URL", "http://a b", "spaces"},
    {"RESERVATION_HOLD_SECONDS", "0", "1..604800"},
    {"RESERVATION_HOLD_SECONDS", "604801", "1..604800"},
    {"RESERVATION_HOLD_SECONDS", "abc", "whole number"},
    {"RESERVATION_HOLD_SECONDS", "10s", "whole number"},
    {"RESERVATION_HOLD_SECONDS", " 10", "whole number"},
    {"RETRY_BACKOFF_SECONDS", "1,,2", "comma-separated"},
    {"RETRY_BACKOFF_SECONDS", "1,2,", "trailing"},
    {"RETRY_BACKOFF_SECONDS", "10,1", "decrease"},
    {"RETRY_BACKOFF_SECONDS", "-1", "0..86400"},
    {"RETRY_BACKOFF_SECONDS", "", "empty"},
    {"RETRY_BACKOFF_SECONDS", "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1", "more than 16"},
    {"HTTP_PORT", "70000", "0..65535"},
    {"HTTP_PORT", "-1", "0..65535"},
    {"LOG_LEVEL", "loud", "debug, info"},
    {"BATCH_MAX", "0", "1..10000"},
    {"PG_LOCK_TIMEOUT_MS", "x", "whole number"},
};

START_TEST(bad_value_names_the_variable)
{
    const char *env[] = {bad[_i].name, bad[_i].value, NULL};
    struct cfg c;
    char err[768] = "";
    fake_env = env;
    ck_assert_int_eq(cfg_load(&c, 8081, fake_get, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, bad[_i].name) != NULL, "error \"%s\" does not name %s", err,
                  bad[_i].name);
    ck_assert_msg(strstr(err, bad[_i].why) != NULL, "error \"%s\" lacks \"%s\"", err, bad[_i].why);
    ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

START_TEST(rdkafka_variables_map_to_properties)
{
    char prop[128];
    ck_assert_int_eq(kafka_env_to_prop("RDKAFKA_SESSION_TIMEOUT_MS", prop, sizeof(prop)), 0);
    ck_assert_str_eq(prop, "session.timeout.ms");
    ck_assert_int_eq(kafka_env_to_prop("RDKAFKA_", prop, sizeof(prop)), -1);
    ck_assert_int_eq(kafka_env_to_prop("KAFKA_X", prop, sizeof(prop)), -1);
}
END_TEST

START_TEST(bad_rdkafka_variable_is_named)
{
    const char *env1[] = {"RDKAFKA_NO_SUCH_PROPERTY=1", NULL};
    const char *env2[] = {"RDKAFKA_SESSION_TIMEOUT_MS=abc", NULL};
    char err[512];
    ck_assert_ptr_null(kafka_conf_new("a:1", NULL, 0, env1, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "RDKAFKA_NO_SUCH_PROPERTY"));
    ck_assert_ptr_null(kafka_conf_new("a:1", NULL, 0, env2, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "RDKAFKA_SESSION_TIMEOUT_MS"));
    const char *env3[] = {"RDKAFKA_SESSION_TIMEOUT_MS=6000", NULL};
    rd_kafka_conf_t *conf = kafka_conf_new("a:1", NULL, 0, env3, err, sizeof(err));
    ck_assert_ptr_nonnull(conf);
    char v[32];
    size_t vl = sizeof(v);
    ck_assert_int_eq(rd_kafka_conf_get(conf, "session.timeout.ms", v, &vl), RD_KAFKA_CONF_OK);
    ck_assert_str_eq(v, "6000");
    rd_kafka_conf_destroy(conf);
}
END_TEST

START_TEST(secrets_are_redacted)
{
    char out[256];
    cfg_redact_url("postgresql://bob:hunter2@db/x", out, sizeof(out));
    ck_assert_str_eq(out, "postgresql://bob:***@db/x");
    cfg_redact_url("host=db password=hunter2 dbname=x", out, sizeof(out));
    ck_assert_str_eq(out, "host=db password=*** dbname=x");
    cfg_redact_url("postgresql:///stockflow", out, sizeof(out));
    ck_assert_str_eq(out, "postgresql:///stockflow");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cfg");
    TCase *tc = tcase_create("cfg");
    tcase_add_test(tc, defaults_follow_design);
    tcase_add_test(tc, values_are_read);
    tcase_add_loop_test(tc, bad_value_names_the_variable, 0, (int)(sizeof(bad) / sizeof(bad[0])));
    tcase_add_test(tc, rdkafka_variables_map_to_properties);
    tcase_add_test(tc, bad_rdkafka_variable_is_named);
    tcase_add_test(tc, secrets_are_redacted);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
