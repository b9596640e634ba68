/* Unit tests of pg: the classification of SQLSTATEs (DESIGN §6: poison is
 * the event's own fault, nothing else is), and the connection parameters
 * libpq really uses (PQconninfo of a connection started with them). */
#include "pg.h"

#include <check.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *state, *what;
    enum pg_class want;
} states[] = {
    {"40001", "serialization failure", PG_TRANSIENT},
    {"40P01", "deadlock", PG_TRANSIENT},
    {"55P03", "lock not available (lock timeout)", PG_TRANSIENT},
    {"57014", "query canceled (statement timeout)", PG_TRANSIENT},
    {"22003", "numeric value out of range", PG_ERROR},
    {"22P02", "invalid text representation", PG_ERROR},
    {"22008", "datetime field overflow", PG_ERROR},
    {"23514", "check violation", PG_ERROR},
    {"23505", "unique violation", PG_ERROR},
    {"SF001", "the rules refuse the event", PG_ERROR},
    {"25006", "read-only transaction", PG_OUTAGE},
    {"42501", "insufficient privilege", PG_OUTAGE},
    {"42P01", "undefined table", PG_OUTAGE},
    {"42883", "undefined function", PG_OUTAGE},
    {"42601", "syntax error (a statement of ours)", PG_OUTAGE},
    {"58030", "I/O error", PG_OUTAGE},
    {"58P01", "undefined file", PG_OUTAGE},
    {"XX000", "internal error", PG_OUTAGE},
    {"XX001", "data corrupted", PG_OUTAGE},
    {"53100", "disk full", PG_OUTAGE},
    {"53300", "too many connections", PG_OUTAGE},
    {"57P01", "admin shutdown", PG_OUTAGE},
    {"08006", "connection failure", PG_OUTAGE},
    {"25P03", "idle in transaction timeout", PG_OUTAGE},
    {"3D000", "database does not exist", PG_OUTAGE},
    {"P0001", "a RAISE without a code of ours", PG_OUTAGE},
    {"", "empty", PG_OUTAGE},
    {NULL, "no SQLSTATE", PG_OUTAGE},
};

START_TEST(sqlstate_classes)
{
    enum pg_class got = pg_class_of_state(states[_i].state);
    ck_assert_msg(got == states[_i].want, "%s (%s): %s, want %s", states[_i].state ? states[_i].state : "NULL",
                  states[_i].what, pg_class_name(got), pg_class_name(states[_i].want));
}
END_TEST

/* The value libpq will use for keyword on a connection started with the
 * parameters pg_connect uses ("" when unset). */
static void effective(const char *url, const char *keyword, char *out, size_t outlen)
{
    const char *keys[PG_CONN_PARAMS_MAX], *vals[PG_CONN_PARAMS_MAX];
    pg_conn_params(url, "test-app", keys, vals);
    PGconn *c = PQconnectStartParams(keys, vals, 1);
    ck_assert_ptr_nonnull(c);
    PQconninfoOption *opts = PQconninfo(c);
    ck_assert_ptr_nonnull(opts);
    out[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, keyword) == 0 && o->val)
            snprintf(out, outlen, "%s", o->val);
    PQconninfoFree(opts);
    PQfinish(c);
}

/* a closed port on the loopback: the connection starts, then fails */
#define URL "postgresql://u@127.0.0.1:1/db"

START_TEST(keepalives_and_user_timeout_are_set)
{
    static const char *const want[][2] = {
        {"keepalives", "1"},         {"keepalives_idle", "10"}, {"keepalives_interval", "5"},
        {"keepalives_count", "3"},   {"tcp_user_timeout", "30000"}, {"connect_timeout", "5"},
        {"application_name", "test-app"}, {"dbname", "db"}, {"port", "1"},
    };
    char v[256];
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        effective(URL, want[i][0], v, sizeof(v));
        ck_assert_msg(strcmp(v, want[i][1]) == 0, "%s = \"%s\", want \"%s\"", want[i][0], v,
                      want[i][1]);
    }
}
END_TEST

START_TEST(url_values_override)
{
    char v[64];
    effective(URL "?keepalives_idle=60&tcp_user_timeout=9000&connect_timeout=2", "keepalives_idle",
              v, sizeof(v));
    ck_assert_str_eq(v, "60");
    effective(URL "?keepalives_idle=60&tcp_user_timeout=9000&connect_timeout=2", "tcp_user_timeout",
              v, sizeof(v));
    ck_assert_str_eq(v, "9000");
    effective("host=127.0.0.1 port=1 dbname=db keepalives=0", "keepalives", v, sizeof(v));
    ck_assert_str_eq(v, "0");
    effective("host=127.0.0.1 port=1 dbname=db connect_timeout=2", "connect_timeout", v,
              sizeof(v));
    ck_assert_str_eq(v, "2");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pg");
    TCase *tc = tcase_create("pg");
    tcase_add_loop_test(tc, sqlstate_classes, 0, (int)(sizeof(states) / sizeof(states[0])));
    tcase_add_test(tc, keepalives_and_user_timeout_are_set);
    tcase_add_test(tc, url_values_override);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
