/* Unit tests of heap: order, bounds, and the memory figure of 1M holds. */
#include "heap.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

START_TEST(pops_in_ascending_order)
{
    struct heap *h;
    ck_assert_int_eq(heap_new(&h, 1000), 0);
    ck_assert_int_eq(heap_peek(h), INT64_MAX);
    srand(7);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(heap_push(h, rand() % 500), 0);
    int64_t prev = -1;
    for (int i = 0; i < 1000; i++) {
        int64_t v = heap_peek(h);
        ck_assert_int_ge(v, prev);
        prev = v;
        heap_pop(h);
    }
    ck_assert_int_eq(heap_len(h), 0);
    heap_pop(h); /* empty: no-op */
    heap_free(h);
    heap_free(NULL);
}
END_TEST

START_TEST(full_heap_refuses)
{
    struct heap *h;
    ck_assert_int_eq(heap_new(&h, 2), 0);
    ck_assert_int_eq(heap_push(h, 5), 0);
    ck_assert_int_eq(heap_push(h, 3), 0);
    ck_assert_int_eq(heap_push(h, 1), -1);
    ck_assert_int_eq(heap_peek(h), 3);
    heap_free(h);
}
END_TEST

START_TEST(a_long_hold_does_not_hide_a_short_one)
{
    struct heap *h;
    ck_assert_int_eq(heap_new(&h, 10), 0);
    heap_push(h, 3600000); /* one hour, first in */
    heap_push(h, 2000);
    heap_push(h, 2000);
    ck_assert_int_eq(heap_peek(h), 2000);
    heap_free(h);
}
END_TEST

START_TEST(million_holds_memory)
{
    struct heap *h;
    ck_assert_int_eq(heap_new(&h, 1000000), 0);
    for (int i = 0; i < 1000000; i++)
        ck_assert_int_eq(heap_push(h, 1000000 - i), 0);
    ck_assert_int_eq(heap_peek(h), 1);
    ck_assert_uint_lt(heap_bytes(h), 16u * 1024 * 1024);
    heap_free(h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("heap");
    TCase *tc = tcase_create("heap");
    tcase_set_timeout(tc, 120); /* a million pushes under valgrind */
    tcase_add_test(tc, pops_in_ascending_order);
    tcase_add_test(tc, full_heap_refuses);
    tcase_add_test(tc, a_long_hold_does_not_hide_a_short_one);
    tcase_add_test(tc, million_holds_memory);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
