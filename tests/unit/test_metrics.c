/* Unit tests of metrics: the exact exposition text, label escaping,
 * histograms, malformed updates, the series cap and concurrent updates.
 * With --promtool, only the check of a full render by `promtool check
 * metrics` runs (exit 77, "skipped" for meson, when promtool is absent). */
#include "metrics.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DROPPED_HELP                                                                               \
    "# HELP stockflow_metrics_dropped_series_total Metric updates dropped: no room for a new "     \
    "series (limit), or an undeclared name, wrong type or malformed labels (invalid).\n"           \
    "# TYPE stockflow_metrics_dropped_series_total counter\n"

static void setup(void)
{
    metrics_reset();
}

static char *render(void)
{
    char *s = NULL;
    size_t n = metrics_render(&s);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(n, strlen(s));
    return s;
}

static double value(const char *name, const char *labels)
{
    double v = -12345;
    ck_assert_msg(metrics_value(name, labels, &v) == 0, "no series %s{%s}", name, labels);
    return v;
}

START_TEST(renders_exact_text)
{
    static const double b[] = {0.125, 0.5, 1};
    ck_assert_int_eq(metrics_describe("t_requests_total", METRICS_COUNTER, "code, method",
                                      "Requests served.", NULL, 0),
                     0);
    ck_assert_int_eq(
        metrics_describe("t_temperature", METRICS_GAUGE, NULL, "A \\ backslash in help.", NULL, 0),
        0);
    ck_assert_int_eq(
        metrics_describe("t_latency_seconds", METRICS_HISTOGRAM, "op", "Latency.", b, 3), 0);
    ck_assert_int_eq(metrics_describe("t_unused_total", METRICS_COUNTER, "", "Unused.", NULL, 0),
                     0);
    ck_assert_int_eq(metrics_counter_add("t_requests_total", "code=\"200\",method=\"get\"", 2), 0);
    ck_assert_int_eq(metrics_counter_add("t_requests_total", "code=\"500\",method=\"get\"", 0.5),
                     0);
    ck_assert_int_eq(metrics_counter_add("t_requests_total", "code=\"200\",method=\"get\"", 1), 0);
    ck_assert_int_eq(metrics_gauge_set("t_temperature", NULL, 7), 0);
    ck_assert_int_eq(metrics_gauge_add("t_temperature", "", -8.25), 0);
    const double obs[] = {0.0625, 0.125, 0.75, 3};
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(metrics_histogram_observe("t_latency_seconds", "op=\"read\"", obs[i]), 0);
    char *s = render();
    ck_assert_str_eq(s, "# HELP t_requests_total Requests served.\n"
                        "# TYPE t_requests_total counter\n"
                        "t_requests_total{code=\"200\",method=\"get\"} 3\n"
                        "t_requests_total{code=\"500\",method=\"get\"} 0.5\n"
                        "# HELP t_temperature A \\\\ backslash in help.\n"
                        "# TYPE t_temperature gauge\n"
                        "t_temperature -1.25\n"
                        "# HELP t_latency_seconds Latency.\n"
                        "# TYPE t_latency_seconds histogram\n"
                        "t_latency_seconds_bucket{op=\"read\",le=\"0.125\"} 2\n"
                        "t_latency_seconds_bucket{op=\"read\",le=\"0.5\"} 2\n"
                        "t_latency_seconds_bucket{op=\"read\",le=\"1\"} 3\n"
                        "t_latency_seconds_bucket{op=\"read\",le=\"+Inf\"} 4\n"
                        "t_latency_seconds_sum{op=\"read\"} 3.9375\n"
                        "t_latency_seconds_count{op=\"read\"} 4\n" DROPPED_HELP
                        "stockflow_metrics_dropped_series_total{reason=\"limit\"} 0\n"
                        "stockflow_metrics_dropped_series_total{reason=\"invalid\"} 0\n");
    free(s);
}
END_TEST

START_TEST(histogram_without_labels)
{
    static const double b[] = {0.25, 1};
    ck_assert_int_eq(metrics_describe("t_tx_seconds", METRICS_HISTOGRAM, "", "Tx.", b, 2), 0);
    ck_assert_int_eq(metrics_histogram_observe("t_tx_seconds", NULL, 0.25), 0); /* le is <= */
    ck_assert_int_eq(metrics_histogram_observe("t_tx_seconds", NULL, 4), 0);
    ck_assert_int_eq(metrics_histogram_observe("t_tx_seconds", NULL, -0.5), 0);
    char *s = render();
    ck_assert_ptr_nonnull(strstr(s, "# TYPE t_tx_seconds histogram\n"
                                    "t_tx_seconds_bucket{le=\"0.25\"} 2\n"
                                    "t_tx_seconds_bucket{le=\"1\"} 2\n"
                                    "t_tx_seconds_bucket{le=\"+Inf\"} 3\n"
                                    "t_tx_seconds_sum 3.75\n"
                                    "t_tx_seconds_count 3\n"));
    free(s);
}
END_TEST

START_TEST(numbers_render_shortest_and_special)
{
    ck_assert_int_eq(metrics_describe("t_g", METRICS_GAUGE, "k", "G.", NULL, 0), 0);
    static const struct {
        double v;
        const char *want;
    } cases[] = {{0.1, "t_g{k=\"a\"} 0.1\n"},
                 {1e21, "t_g{k=\"a\"} 1e+21\n"},
                 {123456789, "t_g{k=\"a\"} 123456789\n"},
                 {INFINITY, "t_g{k=\"a\"} +Inf\n"},
                 {-INFINITY, "t_g{k=\"a\"} -Inf\n"},
                 {1.0 / 3, "t_g{k=\"a\"} 0.3333333333333333\n"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(metrics_gauge_set("t_g", "k=\"a\"", cases[i].v), 0);
        char *s = render();
        ck_assert_msg(strstr(s, cases[i].want), "want %s in:\n%s", cases[i].want, s);
        free(s);
    }
}
END_TEST

START_TEST(label_escape_cases)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"plain", "plain"},
        {"a\"b", "a\\\"b"},
        {"back\\slash", "back\\\\slash"},
        {"two\nlines", "two\\nlines"},
        {"tab\tstays", "tab\tstays"},
        {"caf\xc3\xa9", "caf\xc3\xa9"},
        {"bad\xff\xc3", "bad??"},
        {"\xe2\x82", "??"},
        {"", ""},
    };
    char out[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = metrics_label_escape(out, sizeof(out), cases[i].in);
        ck_assert_str_eq(out, cases[i].want);
        ck_assert_uint_eq(n, strlen(cases[i].want));
    }
    /* truncation: whole escapes only, the needed length returned */
    ck_assert_uint_eq(metrics_label_escape(out, 4, "ab\"c"), 5);
    ck_assert_str_eq(out, "ab");
    ck_assert_uint_eq(metrics_label_escape(out, 4, "\xc3\xa9\xc3\xa9"), 4);
    ck_assert_str_eq(out, "\xc3\xa9");
    ck_assert_uint_eq(metrics_label_escape(NULL, 0, "abc"), 3);
}
END_TEST

START_TEST(labels_builder)
{
    char out[64];
    ck_assert_int_eq(metrics_labels(out, sizeof(out), "topic", "a\"b", "class", NULL, NULL), 0);
    ck_assert_str_eq(out, "topic=\"a\\\"b\",class=\"\"");
    ck_assert_int_eq(metrics_labels(out, sizeof(out), NULL), 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(metrics_labels(out, 12, "topic", "abc", NULL), 0); /* 11 bytes + NUL */
    ck_assert_str_eq(out, "topic=\"abc\"");
    ck_assert_int_eq(metrics_labels(out, 11, "topic", "abc", NULL), -ENOSPC);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(metrics_labels(out, 8, "topic", "abc", NULL), -ENOSPC);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(escaped_values_round_trip)
{
    char labels[128];
    ck_assert_int_eq(metrics_describe("t_c_total", METRICS_COUNTER, "v", "C.", NULL, 0), 0);
    ck_assert_int_eq(metrics_labels(labels, sizeof(labels), "v", "x\"\\\n\xff", NULL), 0);
    ck_assert_int_eq(metrics_counter_add("t_c_total", labels, 1), 0);
    char *s = render();
    ck_assert_ptr_nonnull(strstr(s, "\nt_c_total{v=\"x\\\"\\\\\\n?\"} 1\n"));
    free(s);
}
END_TEST

START_TEST(malformed_updates_are_dropped_and_counted)
{
    ck_assert_int_eq(metrics_describe("t_c_total", METRICS_COUNTER, "topic", "C.", NULL, 0), 0);
    ck_assert_int_eq(metrics_describe("t_g", METRICS_GAUGE, "", "G.", NULL, 0), 0);
    static const struct {
        const char *name, *labels;
        double v;
        int want;
    } cases[] = {
        {"t_nope_total", "topic=\"a\"", 1, -ENOENT}, /* undeclared */
        {"t_c_total", "", 1, -EINVAL},               /* label missing */
        {"t_c_total", "type=\"a\"", 1, -EINVAL},     /* other label name */
        {"t_c_total", "topic=\"a\",x=\"b\"", 1, -EINVAL},
        {"t_c_total", "topic=a", 1, -EINVAL}, /* unquoted */
        {"t_c_total", "topic=\"a", 1, -EINVAL},
        {"t_c_total", "topic=\"a\",", 1, -EINVAL},
        {"t_c_total", "topic=\"a\\t\"", 1, -EINVAL}, /* unknown escape */
        {"t_c_total", "topic=\"a\nb\"", 1, -EINVAL}, /* raw newline */
        {"t_c_total", "topic=\"\xff\"", 1, -EINVAL}, /* not UTF-8 */
        {"t_c_total", "topic=\"a\"", -1, -EINVAL},   /* counters only grow */
        {"t_c_total", "topic=\"a\"", NAN, -EINVAL},
        {NULL, "", 1, -EINVAL},
    };
    size_t n = sizeof(cases) / sizeof(cases[0]);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(metrics_counter_add(cases[i].name, cases[i].labels, cases[i].v) ==
                          cases[i].want,
                      "case %zu", i);
    ck_assert_int_eq(metrics_gauge_set("t_c_total", "topic=\"a\"", 1), -EINVAL); /* wrong type */
    ck_assert_int_eq(metrics_counter_add("t_g", NULL, 1), -EINVAL);
    ck_assert_int_eq(metrics_histogram_observe("t_g", NULL, 1), -EINVAL);
    ck_assert_int_eq(metrics_counter_add("t_c_total", "topic=\"a\"", 1), 0);
    ck_assert_int_eq(metrics_gauge_set("t_c_total", "topic=\"a\"", 1), -EINVAL); /* existing */
    ck_assert(value(METRICS_DROPPED, "reason=\"invalid\"") == (double)n + 4);
    ck_assert(value(METRICS_DROPPED, "reason=\"limit\"") == 0);
    char *s = render();
    ck_assert_ptr_null(strstr(s, "t_nope"));
    ck_assert_ptr_nonnull(strstr(s, "\nt_c_total{topic=\"a\"} 1\n# HELP"));
    free(s);
}
END_TEST

START_TEST(describe_checks_its_arguments)
{
    static const double good[] = {1, 2}, same[] = {1, 1}, inf[] = {1, INFINITY};
    double many[METRICS_MAX_BUCKETS + 1];
    for (size_t i = 0; i < sizeof(many) / sizeof(many[0]); i++)
        many[i] = (double)i;
    ck_assert_int_eq(metrics_describe("1bad", METRICS_COUNTER, "", "h", NULL, 0), -EINVAL);
    ck_assert_int_eq(metrics_describe("bad-name", METRICS_COUNTER, "", "h", NULL, 0), -EINVAL);
    ck_assert_int_eq(metrics_describe("t_x", METRICS_COUNTER, "", NULL, NULL, 0), -EINVAL);
    ck_assert_int_eq(metrics_describe("t_x", METRICS_COUNTER, "", "two\nlines", NULL, 0), -EINVAL);
    ck_assert_int_eq(metrics_describe("t_x", METRICS_COUNTER, "le", "h", NULL, 0), -EINVAL);
    ck_assert_int_eq(metrics_describe("t_x", METRICS_COUNTER, "__a", "h", NULL, 0), -EINVAL);
    ck_assert_int_eq(metrics_describe("t_x", METRICS_COUNTER, "a,a", "h", NULL, 0), -EINVAL);
    ck_assert_int_eq(metrics_describe("t_x", METRICS_COUNTER, "a b", "h", NULL, 0), -EINVAL);
    ck_assert_int_eq(metrics_describe("t_x", METRICS_COUNTER, "9a", "h", NULL, 0), -EINVAL);
    ck_assert_int_eq(metrics_describe("t_x", METRICS_COUNTER, "", "h", good, 2), -EINVAL);
    ck_assert_int_eq(metrics_describe("t_h", METRICS_HISTOGRAM, "", "h", NULL, 0), -EINVAL);
    ck_assert_int_eq(metrics_describe("t_h", METRICS_HISTOGRAM, "", "h", same, 2), -EINVAL);
    ck_assert_int_eq(metrics_describe("t_h", METRICS_HISTOGRAM, "", "h", inf, 2), -EINVAL);
    ck_assert_int_eq(
        metrics_describe("t_h", METRICS_HISTOGRAM, "", "h", many, METRICS_MAX_BUCKETS + 1),
        -EINVAL);
    ck_assert_int_eq(metrics_describe(METRICS_DROPPED, METRICS_COUNTER, "", "h", NULL, 0), -EINVAL);
    ck_assert_int_eq(
        metrics_describe("t_h", METRICS_HISTOGRAM, "a", "h", many, METRICS_MAX_BUCKETS), 0);
    ck_assert_int_eq(metrics_describe("t_h", METRICS_HISTOGRAM, " a ", "other help", good, 2), 0);
    ck_assert_int_eq(metrics_describe("t_h", METRICS_GAUGE, "a", "h", NULL, 0), -EEXIST);
    ck_assert_int_eq(metrics_describe("t_h", METRICS_HISTOGRAM, "b", "h", good, 2), -EEXIST);
}
END_TEST

START_TEST(families_are_bounded)
{
    char name[32];
    for (int i = 0; i < METRICS_MAX_FAMILIES; i++) {
        snprintf(name, sizeof(name), "t_f%d", i);
        ck_assert_int_eq(metrics_describe(name, METRICS_GAUGE, "", "h", NULL, 0), 0);
    }
    ck_assert_int_eq(metrics_describe("t_one_more", METRICS_GAUGE, "", "h", NULL, 0), -ENOSPC);
}
END_TEST

START_TEST(series_cap_drops_and_counts)
{
    char labels[64];
    const int extra = 900;
    ck_assert_int_eq(metrics_describe("t_c_total", METRICS_COUNTER, "i", "C.", NULL, 0), 0);
    for (int i = 0; i < METRICS_MAX_SERIES + extra; i++) {
        snprintf(labels, sizeof(labels), "i=\"%d\"", i);
        int rc = metrics_counter_add("t_c_total", labels, 1);
        ck_assert_int_eq(rc, i < METRICS_MAX_SERIES ? 0 : -ENOSPC);
    }
    /* existing series still count */
    ck_assert_int_eq(metrics_counter_add("t_c_total", "i=\"7\"", 1), 0);
    ck_assert(value("t_c_total", "i=\"7\"") == 2);
    ck_assert(value(METRICS_DROPPED, "reason=\"limit\"") == extra);
    ck_assert(value(METRICS_DROPPED, "reason=\"invalid\"") == 0);
    char *s = render();
    size_t lines = 0;
    for (const char *p = s; (p = strstr(p, "\nt_c_total{")); p++)
        lines++;
    ck_assert_uint_eq(lines, METRICS_MAX_SERIES);
    ck_assert_ptr_nonnull(
        strstr(s, "stockflow_metrics_dropped_series_total{reason=\"limit\"} 900\n"));
    free(s);
}
END_TEST

enum { PER_THREAD = 100000 };

static void *adder(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        metrics_counter_add("t_c_total", "k=\"same\"", 1);
        metrics_histogram_observe("t_h_seconds", NULL, 0.5);
    }
    return NULL;
}

static void *renderer(void *arg)
{
    atomic_int *stop = arg;
    while (!atomic_load(stop)) {
        char *s = NULL;
        metrics_render(&s);
        free(s);
    }
    return NULL;
}

START_TEST(concurrent_updates_are_exact)
{
    static const double b[] = {1};
    ck_assert_int_eq(metrics_describe("t_c_total", METRICS_COUNTER, "k", "C.", NULL, 0), 0);
    ck_assert_int_eq(metrics_describe("t_h_seconds", METRICS_HISTOGRAM, "", "H.", b, 1), 0);
    pthread_t a, c, r;
    atomic_int stop = 0;
    ck_assert_int_eq(pthread_create(&r, NULL, renderer, &stop), 0);
    ck_assert_int_eq(pthread_create(&a, NULL, adder, NULL), 0);
    ck_assert_int_eq(pthread_create(&c, NULL, adder, NULL), 0);
    pthread_join(a, NULL);
    pthread_join(c, NULL);
    atomic_store(&stop, 1);
    pthread_join(r, NULL);
    ck_assert(value("t_c_total", "k=\"same\"") == 2.0 * PER_THREAD);
    ck_assert(value("t_h_seconds", NULL) == 2.0 * PER_THREAD);
    char *s = render();
    ck_assert_ptr_nonnull(strstr(s, "t_c_total{k=\"same\"} 200000\n"));
    ck_assert_ptr_nonnull(strstr(s, "t_h_seconds_bucket{le=\"1\"} 200000\n"));
    ck_assert_ptr_nonnull(strstr(s, "t_h_seconds_sum 100000\n"));
    free(s);
}
END_TEST

START_TEST(fleet_metrics_and_build_info)
{
    ck_assert_int_eq(metrics_describe_stockflow("order-worker", "1.2.3"), 0);
    ck_assert_int_eq(metrics_describe_stockflow("order-worker", "1.2.3"), 0); /* twice is fine */
    char *s = render();
    ck_assert_ptr_nonnull(
        strstr(s, "# TYPE stockflow_build_info gauge\n"
                  "stockflow_build_info{version=\"1.2.3\",worker=\"order-worker\"} 1\n"));
    ck_assert_ptr_null(strstr(s, METRICS_EVENTS)); /* no series yet, no HELP either */
    free(s);
    ck_assert_int_eq(metrics_counter_add(METRICS_EVENTS,
                                         "topic=\"inventory.orders\",type=\"order.created\","
                                         "outcome=\"applied\"",
                                         1),
                     0);
    ck_assert_int_eq(metrics_histogram_observe(METRICS_EVENT_LATENCY, NULL, 0.02), 0);
    ck_assert_int_eq(
        metrics_gauge_set(METRICS_CONSUMER_LAG, "topic=\"inventory.orders\",partition=\"3\"", 12),
        0);
    ck_assert_int_eq(metrics_counter_add(METRICS_EVENTS, "topic=\"inventory.orders\"", 1), -EINVAL);
    s = render();
    ck_assert_ptr_nonnull(strstr(s, "stockflow_event_latency_seconds_bucket{le=\"0.025\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(s, "stockflow_consumer_lag{topic=\"inventory.orders\","
                                    "partition=\"3\"} 12\n"));
    free(s);
}
END_TEST

/* ---- promtool ----------------------------------------------------------- */

/* Every fleet metric with a sample, plus escaping, rendered to a file. */
static void fill_fleet(void)
{
    char l[256];
    ck_assert_int_eq(metrics_describe_stockflow("order-worker", "0.1.0"), 0);
    const char *c[] = {METRICS_EVENTS_CONSUMED, METRICS_INPROCESS_RETRIES};
    metrics_counter_add(c[0], "topic=\"inventory.orders\",type=\"order.created\"", 3);
    metrics_counter_add(c[1], NULL, 2);
    metrics_counter_add(METRICS_EVENTS,
                        "topic=\"inventory.orders\",type=\"order.created\","
                        "outcome=\"applied\"",
                        2);
    metrics_labels(l, sizeof(l), "topic", "inventory.orders", "type", "we\"ird\\\n", "outcome",
                   "dead_letter", NULL);
    metrics_counter_add(METRICS_EVENTS, l, 1);
    metrics_histogram_observe(METRICS_EVENT_LATENCY, NULL, 0.031);
    metrics_gauge_set(METRICS_CONSUMER_LAG, "topic=\"inventory.orders\",partition=\"0\"", 0);
    metrics_counter_add(METRICS_RETRIES, "topic=\"inventory.orders\",class=\"transient\"", 1);
    metrics_counter_add(METRICS_DEAD_LETTERS, "topic=\"inventory.orders\",class=\"poison\"", 1);
    metrics_gauge_set(METRICS_OUTBOX_BACKLOG, NULL, 4);
    metrics_gauge_set(METRICS_OUTBOX_OLDEST_AGE, NULL, 0.25);
    metrics_histogram_observe(METRICS_TRANSACTION, NULL, 0.004);
    metrics_counter_add(METRICS_WEBHOOK_DELIVERIES, "status=\"200\"", 1);
    metrics_counter_add(METRICS_WEBHOOK_FAILURES, "reason=\"timeout\"", 1);
    metrics_gauge_set(METRICS_PENDING_HOLDS, NULL, 17);
    metrics_gauge_set(METRICS_PAUSED, "reason=\"database\"", 1);
    metrics_gauge_set(METRICS_OVERDUE_HOLDS, NULL, 2);
}

START_TEST(promtool_accepts_the_render)
{
    fill_fleet();
    char *s = render();
    char path[] = "/tmp/test_metrics.XXXXXX", cmd[128];
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
    close(fd);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    unlink(path);
    ck_assert_msg(st == 0, "promtool check metrics failed (status %d):\n%s\n--- input:\n%s", st,
                  out, s);
    free(s);
}
END_TEST

static int have_promtool(void)
{
    return system("command -v promtool >/dev/null 2>&1") == 0;
}

static Suite *suite(int promtool)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create(promtool ? "promtool" : "core");
    tcase_add_checked_fixture(tc, setup, setup);
    tcase_set_timeout(tc, 60);
    if (promtool) {
        tcase_add_test(tc, promtool_accepts_the_render);
    } else {
        tcase_add_test(tc, renders_exact_text);
        tcase_add_test(tc, histogram_without_labels);
        tcase_add_test(tc, numbers_render_shortest_and_special);
        tcase_add_test(tc, label_escape_cases);
        tcase_add_test(tc, labels_builder);
        tcase_add_test(tc, escaped_values_round_trip);
        tcase_add_test(tc, malformed_updates_are_dropped_and_counted);
        tcase_add_test(tc, describe_checks_its_arguments);
        tcase_add_test(tc, families_are_bounded);
        tcase_add_test(tc, series_cap_drops_and_counts);
        tcase_add_test(tc, concurrent_updates_are_exact);
        tcase_add_test(tc, fleet_metrics_and_build_info);
    }
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    int promtool = argc > 1 && strcmp(argv[1], "--promtool") == 0;
    if (promtool && !have_promtool()) {
        printf("SKIP: promtool not found (Debian package prometheus; "
               "scripts/install-deps.sh installs it)\n");
        return 77;
    }
    SRunner *sr = srunner_create(suite(promtool));
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
