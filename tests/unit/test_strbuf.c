/* Unit tests of strbuf: growth, formatting, detach and release, and the
 * failed state (STRBUF_MAX) after which adds do nothing. */
#include "strbuf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(init_is_an_empty_string)
{
    struct strbuf sb = STRBUF_INIT;
    ck_assert_str_eq(sb.buf, "");
    ck_assert_uint_eq(sb.len, 0);
    ck_assert_int_eq(strbuf_failed(&sb), 0);
    strbuf_release(&sb); /* nothing allocated: nothing freed */
    ck_assert_str_eq(sb.buf, "");
}
END_TEST

START_TEST(adds_grow_past_the_first_allocation)
{
    struct strbuf sb = STRBUF_INIT;
    char want[5000];
    size_t n = 0;
    for (int i = 0; i < 1000; i++) {
        strbuf_addf(&sb, "%d,", i % 10);
        n += (size_t)snprintf(want + n, sizeof(want) - n, "%d,", i % 10);
    }
    strbuf_addstr(&sb, "end");
    strbuf_addch(&sb, '!');
    strbuf_add(&sb, "x\0y", 3); /* binary: the NUL is kept, len counts it */
    memcpy(want + n, "end!x\0y", 8);
    n += 7;
    ck_assert_uint_eq(sb.len, n);
    ck_assert_mem_eq(sb.buf, want, n);
    ck_assert_int_eq(sb.buf[sb.len], '\0');
    ck_assert_uint_gt(sb.alloc, sb.len);
    strbuf_release(&sb);
    ck_assert_uint_eq(sb.len, 0);
    ck_assert_uint_eq(sb.alloc, 0);
}
END_TEST

START_TEST(addf_longer_than_the_room_left)
{
    struct strbuf sb = STRBUF_INIT;
    char big[300];
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    strbuf_addstr(&sb, "a");
    strbuf_addf(&sb, "[%s]", big);
    ck_assert_uint_eq(sb.len, 1 + 1 + 299 + 1);
    ck_assert_int_eq(sb.buf[0], 'a');
    ck_assert_int_eq(sb.buf[1], '[');
    ck_assert_int_eq(sb.buf[300], 'b');
    ck_assert_str_eq(sb.buf + 301, "]");
    strbuf_release(&sb);
}
END_TEST

START_TEST(detach_hands_over_the_text)
{
    struct strbuf sb = STRBUF_INIT;
    size_t len = 99;
    char *s = strbuf_detach(&sb, &len); /* empty: a malloc'd "" */
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "");
    ck_assert_uint_eq(len, 0);
    free(s);
    strbuf_addf(&sb, "%s=%d", "n", 42);
    s = strbuf_detach(&sb, &len);
    ck_assert_str_eq(s, "n=42");
    ck_assert_uint_eq(len, 4);
    ck_assert_uint_eq(sb.alloc, 0); /* sb is STRBUF_INIT again */
    ck_assert_str_eq(sb.buf, "");
    free(s);
}
END_TEST

START_TEST(past_the_bound_it_fails_and_stays_failed)
{
    struct strbuf sb = STRBUF_INIT;
    strbuf_addstr(&sb, "kept");
    ck_assert_int_eq(strbuf_grow(&sb, STRBUF_MAX), -1);
    ck_assert_int_eq(strbuf_failed(&sb), 1);
    strbuf_addstr(&sb, "lost");
    strbuf_addf(&sb, "%d", 1);
    ck_assert_str_eq(sb.buf, "kept"); /* still a valid string */
    ck_assert_uint_eq(sb.len, 4);
    size_t len = 99;
    ck_assert_ptr_null(strbuf_detach(&sb, &len));
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(strbuf_failed(&sb), 0); /* detach made it STRBUF_INIT */
    strbuf_addstr(&sb, "again");
    strbuf_reset(&sb);
    ck_assert_str_eq(sb.buf, "");
    strbuf_addstr(&sb, "ok");
    ck_assert_str_eq(sb.buf, "ok");
    strbuf_release(&sb);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("strbuf");
    TCase *tc = tcase_create("strbuf");
    tcase_add_test(tc, init_is_an_empty_string);
    tcase_add_test(tc, adds_grow_past_the_first_allocation);
    tcase_add_test(tc, addf_longer_than_the_room_left);
    tcase_add_test(tc, detach_hands_over_the_text);
    tcase_add_test(tc, past_the_bound_it_fails_and_stays_failed);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
