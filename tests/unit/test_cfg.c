/* Unit tests of cfg: defaults, every variable's bad values, redaction. */
#include "cfg.h"
#include "kafka.h"
#include "log.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    ck_assert_str_eq(c.alert_webhook_secret, "");
    ck_assert_str_eq(c.alert_webhook_authorization, "");
    ck_assert_int_eq(c.alert_include_payload, 1);
    ck_assert_str_eq(c.http_bind, "0.0.0.0");
}
END_TEST

START_TEST(values_are_read)
{
    static const char *const env[] = {"KAFKA_BROKERS", "a:1,b:2", "RESERVATION_HOLD_SECONDS", "5",
                                      "RETRY_BACKOFF_SECONDS", "0,2,2", "HTTP_PORT", "0",
                                      "LOG_LEVEL", "debug", "ALERT_WEBHOOK_URL",
                                      "https://hooks.example/x", "ALERT_WEBHOOK_SECRET", "whsec_1",
                                      "ALERT_WEBHOOK_AUTHORIZATION", "Bearer t0k",
                                      "ALERT_INCLUDE_PAYLOAD", "false", "HTTP_BIND", "::1", NULL};
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
    ck_assert_str_eq(c.alert_webhook_secret, "whsec_1");
    ck_assert_str_eq(c.alert_webhook_authorization, "Bearer t0k");
    ck_assert_int_eq(c.alert_include_payload, 0);
    ck_assert_str_eq(c.http_bind, "::1");
}
END_TEST

static const struct {
    const char *name, *value, *why;
} bad[] = {
    {"KAFKA_BROKERS", "nohost", "host:port"},
    {"KAFKA_BROKERS", "a:0", "1..65535"},
    {"KAFKA_BROKERS", "a:1, b:2", "spaces"},
    {"KAFKA_BROKERS", "", "host:port"},
    {"DATABASE_URL", "port=5432 nonsense", "missing \"=\""},
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
    {"HTTP_BIND", "localhost", "not an IP address"},
    {"HTTP_BIND", "10.0.0.300", "not an IP address"},
    {"LOG_LEVEL", "loud", "debug, info"},
    {"BATCH_MAX", "0", "1..10000"},
    {"PG_LOCK_TIMEOUT_MS", "x", "whole number"},
    {"ALERT_INCLUDE_PAYLOAD", "maybe", "true or false"},
    {"ALERT_WEBHOOK_SECRET", "", "empty"},
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

/* Asserts s holds none of the secret's pieces. */
static void assert_no_secret(const char *s, const char *what)
{
    static const char *const pieces[] = {"hunter", "er2", "hun%", "s3cr3t", "xoxb"};
    for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++)
        ck_assert_msg(strstr(s, pieces[i]) == NULL, "%s: \"%s\" shows \"%s\"", what, s, pieces[i]);
}

static const struct {
    const char *in;
    const char *want[4]; /* substrings of the redacted form */
} pg_cases[] = {
    {"postgresql://bob:hunter2@db/x", {"user=bob", "password=***", "host=db", "dbname=x"}},
    {"postgres://bob:hun%74er2@db:6543/x", {"password=***", "port=6543"}},
    {"postgresql://db/x?user=bob&password=hunter2&sslpassword=hunter2", {"password=***", "sslpassword=***"}},
    {"host=db password=hunter2 dbname=x", {"host=db", "password=***", "dbname=x"}},
    {"host=db password='hunt er2' sslpassword='x\\'hunter2' dbname=x", {"password=***", "sslpassword=***"}},
    {"host=db password = \"hunter2\"", {"password=***", "host=db"}}, /* quotes are part of it */
    {"host='my db' dbname=x", {"host='my db'"}},
    {"postgresql://bob:hunter2@[::1", {"(not a valid connection string)"}},
    {"", {"(libpq defaults)"}},
};

START_TEST(database_url_redacted_by_parsing)
{
    char out[1024];
    cfg_redact_pg(pg_cases[_i].in, out, sizeof(out));
    assert_no_secret(out, pg_cases[_i].in);
    for (int k = 0; k < 4 && pg_cases[_i].want[k]; k++)
        ck_assert_msg(strstr(out, pg_cases[_i].want[k]) != NULL, "%s -> \"%s\": no \"%s\"",
                      pg_cases[_i].in, out, pg_cases[_i].want[k]);
}
END_TEST

/* A short password at the end of a ~1 KiB connection string: the old
 * scanner moved the tail past the end of its buffer (caught under ASan). */
START_TEST(long_url_short_password_stays_in_bounds)
{
    char in[1100], out[1024];
    for (size_t len = 1000; len < 1040; len++) {
        int n = snprintf(in, sizeof(in), "host=h dbname=");
        memset(in + n, 'a', len - (size_t)n);
        snprintf(in + len, sizeof(in) - len, " password=x");
        char *guard = out + sizeof(out) - 1;
        cfg_redact_pg(in, out, sizeof(out) - 1);
        *guard = 'G';
        ck_assert_int_lt(strlen(out), sizeof(out) - 1);
        ck_assert_msg(strstr(out, "password=x") == NULL, "len %zu: password shown", len);
        ck_assert_int_eq(*guard, 'G');
    }
    cfg_redact_pg("host=h password=x", out, 8);
    ck_assert_int_eq(strlen(out), 7);
    cfg_redact_http("https://hooks.example.com/services/xoxb", out, 10);
    ck_assert_int_eq(strlen(out), 9);
}
END_TEST

static const struct {
    const char *in, *want;
} http_cases[] = {
    {"https://hooks.example.com/services/T00/B00/xoxb-s3cr3t", "https://hooks.example.com/..."},
    {"https://hooks.example.com/hook?token=s3cr3t", "https://hooks.example.com/..."},
    {"http://bob:hunter2@127.0.0.1:8080/x", "http://127.0.0.1:8080/..."},
    {"https://hooks.example.com", "https://hooks.example.com"},
    {"https://hooks.example.com/", "https://hooks.example.com"},
    {"http://[::1]:9/a#s3cr3t", "http://[::1]:9/..."},
    {"not a url hunter2", "(not a valid URL)"},
};

START_TEST(webhook_url_shows_scheme_and_host)
{
    char out[256];
    cfg_redact_http(http_cases[_i].in, out, sizeof(out));
    ck_assert_str_eq(out, http_cases[_i].want);
    assert_no_secret(out, http_cases[_i].in);
}
END_TEST

/* Bad values that carry a secret: the one-line error names the variable
 * and shows no part of the secret. */
static const struct {
    const char *name, *value, *why;
} secret_bad[] = {
    {"DATABASE_URL", "host=db passwordhunter2", "missing \"=\""},
    {"DATABASE_URL", "postgresql://bob:hunter2@db/x?sslpasword=hunter2", "invalid URI query parameter"},
    {"DATABASE_URL", "postgresql://bob:hun%zzter2@db/x", "percent"},
    {"DATABASE_URL", "host=db password='hunter2", "unterminated quoted string"},
    {"DATABASE_URL", "host=db passwrd=hunter2", "invalid connection option"},
    {"ALERT_WEBHOOK_URL", "ftp://hooks.example.com/s3cr3t", "http"},
    {"ALERT_WEBHOOK_URL", "https://hooks.example.com/s3cr3t x", "spaces"},
    {"ALERT_WEBHOOK_SECRET", "s3cr3t\n", "line breaks"},
    {"ALERT_WEBHOOK_AUTHORIZATION", "Bearer s3cr3t\r\nX-Injected: 1", "line breaks"},
};

START_TEST(bad_secret_value_is_not_shown)
{
    const char *env[] = {secret_bad[_i].name, secret_bad[_i].value, NULL};
    struct cfg c;
    char err[768] = "";
    fake_env = env;
    ck_assert_int_eq(cfg_load(&c, 8081, fake_get, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, secret_bad[_i].name) != NULL, "\"%s\" does not name %s", err,
                  secret_bad[_i].name);
    ck_assert_msg(strstr(err, secret_bad[_i].why) != NULL, "\"%s\" lacks \"%s\"", err,
                  secret_bad[_i].why);
    assert_no_secret(err, secret_bad[_i].value);
    ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

START_TEST(bad_rdkafka_secret_is_not_shown)
{
    static const char *const cases[][2] = {
        {"RDKAFKA_SASL_PASWORD=hunter2", "RDKAFKA_SASL_PASWORD"},
        {"RDKAFKA_SASL_PASSWROD=hunter2", "RDKAFKA_SASL_PASSWROD"},
        {"RDKAFKA_SSL_KEY_PASSWROD=hunter2", "RDKAFKA_SSL_KEY_PASSWROD"},
        {"RDKAFKA_SASL_OAUTHBEARER_CLIENT_SECRET_X=hunter2", "RDKAFKA_SASL_OAUTHBEARER_CLIENT_SECRET_X"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *env[] = {cases[i][0], NULL};
        char err[512] = "";
        ck_assert_ptr_null(kafka_conf_new("a:1", NULL, 0, env, err, sizeof(err)));
        ck_assert_msg(strstr(err, cases[i][1]) != NULL, "\"%s\" does not name %s", err,
                      cases[i][1]);
        assert_no_secret(err, cases[i][0]);
    }
}
END_TEST

/* What cfg_log writes to stderr, into buf. */
static void log_of(const struct cfg *c, char *buf, size_t len)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(f), 2);
    log_init("test", LOG_LEVEL_INFO);
    cfg_log(c);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    buf[fread(buf, 1, len - 1, f)] = '\0';
    fclose(f);
}

START_TEST(effective_config_log_has_no_secret)
{
    static const char *const env[] = {"DATABASE_URL",
                                      "postgresql://bob:hunter2@db/x?sslpassword=hunter2",
                                      "ALERT_WEBHOOK_URL",
                                      "https://hooks.example.com/services/xoxb-s3cr3t?token=s3cr3t",
                                      "ALERT_WEBHOOK_SECRET",
                                      "s3cr3t",
                                      "ALERT_WEBHOOK_AUTHORIZATION",
                                      "Bearer xoxb",
                                      NULL};
    struct cfg c;
    char err[512], buf[8192];
    fake_env = env;
    /* RDKAFKA_* come from the process environment (this test's own process) */
    setenv("RDKAFKA_SASL_PASSWORD", "hunter2", 1);
    setenv("RDKAFKA_SASL_USERNAME", "bob", 1);
    setenv("RDKAFKA_SESSION_TIMEOUT_MS", "6000", 1);
    ck_assert_int_eq(cfg_load(&c, 8081, fake_get, err, sizeof(err)), 0);
    log_of(&c, buf, sizeof(buf));
    assert_no_secret(buf, "config log");
    ck_assert_ptr_nonnull(strstr(buf, "https://hooks.example.com/..."));
    ck_assert_ptr_nonnull(strstr(buf, "password=***"));
    ck_assert_ptr_nonnull(strstr(buf, "RDKAFKA_SASL_PASSWORD=***"));
    ck_assert_ptr_nonnull(strstr(buf, "RDKAFKA_SESSION_TIMEOUT_MS=6000"));
}
END_TEST

/* One table: every variable --help documents is on the startup line, and
 * HTTP_PORT's default there is the role's. */
START_TEST(help_and_config_line_name_the_same_variables)
{
    static const char *const env[] = {NULL};
    struct cfg c;
    char err[512], help[8192], buf[8192], name[64];
    fake_env = env;
    ck_assert_int_eq(cfg_load(&c, 8083, fake_get, err, sizeof(err)), 0);
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    cfg_usage(f, 8083);
    rewind(f);
    help[0] = '\n'; /* every entry starts a line */
    help[1 + fread(help + 1, 1, sizeof(help) - 2, f)] = '\0';
    fclose(f);
    ck_assert_ptr_nonnull(
        strstr(help, "\n  HTTP_PORT                 metrics/health port (default 8083;"));
    log_of(&c, buf, sizeof(buf));
    int n = 0;
    for (const char *p = help; (p = strstr(p, "\n  ")) != NULL; p++) {
        if (sscanf(p + 3, "%63[A-Z_]", name) != 1 || !strcmp(name, "RDKAFKA_"))
            continue;
        char want[80];
        snprintf(want, sizeof(want), " %s=", name);
        ck_assert_msg(strstr(buf, want) != NULL, "%s documented, not logged: %s", name, buf);
        n++;
    }
    ck_assert_int_eq(n, 17); /* the variables of cfg.c's table */
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
    tcase_add_loop_test(tc, database_url_redacted_by_parsing, 0,
                        (int)(sizeof(pg_cases) / sizeof(pg_cases[0])));
    tcase_add_test(tc, long_url_short_password_stays_in_bounds);
    tcase_add_loop_test(tc, webhook_url_shows_scheme_and_host, 0,
                        (int)(sizeof(http_cases) / sizeof(http_cases[0])));
    tcase_add_loop_test(tc, bad_secret_value_is_not_shown, 0,
                        (int)(sizeof(secret_bad) / sizeof(secret_bad[0])));
    tcase_add_test(tc, bad_rdkafka_secret_is_not_shown);
    tcase_add_test(tc, effective_config_log_has_no_secret);
    tcase_add_test(tc, help_and_config_line_name_the_same_variables);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
