/* Unit tests of the outage decisions of the worker loop: the jittered probe
 * backoff and what /readyz says about an outage. */
#include "worker_int.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* Waits stay in [MIN, MAX], reach the cap within a few probes (so a
 * dependency back after a long outage is found within BACKOFF_MAX_MS), and
 * two workers that start together do not probe together. */
START_TEST(backoff_is_jittered_and_capped)
{
    unsigned a = 1, b = 2;
    long wa = BACKOFF_MIN_MS, wb = BACKOFF_MIN_MS, max = 0;
    int same = 0;
    for (int i = 0; i < 1000; i++) {
        wa = worker_backoff_next(wa, &a);
        wb = worker_backoff_next(wb, &b);
        ck_assert_int_ge(wa, BACKOFF_MIN_MS);
        ck_assert_int_le(wa, BACKOFF_MAX_MS);
        if (wa > max)
            max = wa;
        same += wa == wb;
    }
    ck_assert_int_le(BACKOFF_MAX_MS, 2000); /* issue 18: resume within 2 s */
    ck_assert_int_gt(max, BACKOFF_MAX_MS * 9 / 10);
    ck_assert_int_lt(same, 100);
    /* the first waits grow from MIN: at most 3x the previous */
    unsigned s = 7;
    long w = BACKOFF_MIN_MS;
    for (int i = 0; i < 3; i++) {
        long n = worker_backoff_next(w, &s);
        ck_assert_int_le(n, w * 3);
        w = n;
    }
}
END_TEST

/* libpq's messages name host, port, socket and user: never in /readyz. */
START_TEST(database_reason_hides_libpq_message)
{
    char out[256];
    worker_outage_reason(out, sizeof(out), 1,
                         "connection to server at \"10.0.0.5\", port 5432 failed: FATAL: "
                         "password authentication failed for user \"stock\"");
    ck_assert_str_eq(out, "database unreachable (no connection)");
    worker_outage_reason(out, sizeof(out), 1,
                         "57P01 terminating connection due to administrator command");
    ck_assert_str_eq(out,
                     "database unreachable (SQLSTATE 57P01: operator intervention)");
    worker_outage_reason(out, sizeof(out), 1, "25006 cannot execute INSERT in a read-only "
                                              "transaction");
    ck_assert_str_eq(out, "database unreachable (SQLSTATE 25006: read-only transaction)");
    worker_outage_reason(out, sizeof(out), 1, "not connected");
    ck_assert_str_eq(out, "database unreachable (no connection)");
    worker_outage_reason(out, sizeof(out), 0, "retry or dead-letter topic not writable");
    ck_assert_str_eq(out, "broker unreachable: retry or dead-letter topic not writable");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("outage");
    TCase *tc = tcase_create("outage");
    tcase_add_test(tc, backoff_is_jittered_and_capped);
    tcase_add_test(tc, database_reason_hides_libpq_message);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
