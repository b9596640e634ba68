/* Unit tests of stockctl's pure helpers: PARTITION:OFFSET and time parsing
 * (arg), the token bucket of dlq redrive (rate), previews, escaping, JSON
 * output and pretty-printing (out), the dashboard's address rules
 * (dashboard_addr). */
#include "../../stockctl/arg.h"
#include "../../stockctl/dashboard_addr.h"
#include "../../stockctl/out.h"
#include "../../stockctl/rate.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- PARTITION:OFFSET --------------------------------------------------- */

static const struct {
    const char *s;
    int ok;
    int32_t p;
    int64_t o;
} part_offsets[] = {
    {"0:0", 1, 0, 0},
    {"3:42", 1, 3, 42},
    {"2147483647:9223372036854775807", 1, 2147483647, INT64_MAX},
    {"007:010", 1, 7, 10},
    {"", 0, 0, 0},
    {":", 0, 0, 0},
    {"0:", 0, 0, 0},
    {":0", 0, 0, 0},
    {"0-5", 0, 0, 0},
    {"0/5", 0, 0, 0},
    {"a:1", 0, 0, 0},
    {"1:b", 0, 0, 0},
    {"-1:0", 0, 0, 0},
    {"0:-1", 0, 0, 0},
    {"+1:2", 0, 0, 0},
    {" 0:1", 0, 0, 0},
    {"0:1 ", 0, 0, 0},
    {"1:2:3", 0, 0, 0},
    {"2147483648:0", 0, 0, 0},
    {"0:9223372036854775808", 0, 0, 0},
};

START_TEST(part_offset_syntax)
{
    int32_t p = -7;
    int64_t o = -7;
    char err[128] = "";
    int rc = arg_part_offset(part_offsets[_i].s, &p, &o, err, sizeof(err));
    if (part_offsets[_i].ok) {
        ck_assert_msg(rc == 0, "\"%s\" rejected: %s", part_offsets[_i].s, err);
        ck_assert_int_eq(p, part_offsets[_i].p);
        ck_assert_int_eq(o, part_offsets[_i].o);
    } else {
        ck_assert_msg(rc == -1, "\"%s\" accepted", part_offsets[_i].s);
        ck_assert_int_eq(p, -7); /* untouched */
        ck_assert_ptr_nonnull(strstr(err, "PARTITION:OFFSET"));
    }
}
END_TEST

/* ---- times ---------------------------------------------------------------- */

#define NOW 1795740000000LL /* 2026-11-27T00:40:00Z */

static const struct {
    const char *s;
    int ok;
    int64_t ms;
} times[] = {
    {"2026-11-27T10:00:00Z", 1, 1795773600000LL},
    {"2026-11-27t10:00:00z", 1, 1795773600000LL},
    {"2026-11-27 10:00:00Z", 1, 1795773600000LL},
    {"2026-11-27T10:00:00", 1, 1795773600000LL},
    {"2026-11-27T10:00Z", 1, 1795773600000LL},
    {"2026-11-27T10:00:00.250Z", 1, 1795773600250LL},
    {"2026-11-27T10:00:00.1234567Z", 1, 1795773600123LL},
    {"2026-11-27T11:00:00+01:00", 1, 1795773600000LL},
    {"2026-11-27T05:30:00-0430", 1, 1795773600000LL},
    {"2026-11-27", 1, 1795737600000LL},
    {"1970-01-01T00:00:00Z", 1, 0},
    {"2024-02-29", 1, 1709164800000LL},
    {"1795773600000", 1, 1795773600000LL},
    {"30s", 1, NOW - 30000},
    {"15m", 1, NOW - 900000},
    {"2h", 1, NOW - 7200000},
    {"7d", 1, NOW - 604800000LL},
    {"", 0, 0},
    {"yesterday", 0, 0},
    {"15", 0, 0},
    {"2h30m", 0, 0},
    {"-5m", 0, 0},
    {"2026-13-01", 0, 0},
    {"2026-02-29", 0, 0},
    {"2026-11-31", 0, 0},
    {"2026-11-27T24:00:00Z", 0, 0},
    {"2026-11-27T10:60:00Z", 0, 0},
    {"2026-11-27T10:00:00.Z", 0, 0},
    {"2026-11-27T10:00:00+1", 0, 0},
    {"2026-11-27T10:00:00Zjunk", 0, 0},
    {"26-11-27", 0, 0},
};

START_TEST(time_syntax)
{
    int64_t ms = -7;
    char err[256] = "";
    int rc = arg_time_ms(times[_i].s, NOW, &ms, err, sizeof(err));
    if (times[_i].ok) {
        ck_assert_msg(rc == 0, "\"%s\" rejected: %s", times[_i].s, err);
        ck_assert_msg(ms == times[_i].ms, "\"%s\": %lld, expected %lld", times[_i].s, (long long)ms,
                      (long long)times[_i].ms);
    } else {
        ck_assert_msg(rc == -1, "\"%s\" accepted as %lld", times[_i].s, (long long)ms);
        ck_assert_int_eq(ms, -7);
        ck_assert_ptr_nonnull(strstr(err, "RFC 3339"));
    }
}
END_TEST

START_TEST(numbers)
{
    long v = 0;
    double r = 0;
    ck_assert_int_eq(arg_long("150", 1, 1000, &v, NULL, 0), 0);
    ck_assert_int_eq(v, 150);
    ck_assert_int_eq(arg_long("-3", -5, 5, &v, NULL, 0), 0);
    ck_assert_int_eq(v, -3);
    ck_assert_int_eq(arg_long("0", 1, 1000, &v, NULL, 0), -1);
    ck_assert_int_eq(arg_long("1001", 1, 1000, &v, NULL, 0), -1);
    ck_assert_int_eq(arg_long("12x", 1, 1000, &v, NULL, 0), -1);
    ck_assert_int_eq(arg_long("", 1, 1000, &v, NULL, 0), -1);
    ck_assert_int_eq(arg_long("99999999999999999999", 1, 1000, &v, NULL, 0), -1);
    ck_assert_int_eq(arg_rate("50", &r, NULL, 0), 0);
    ck_assert(r == 50.0);
    ck_assert_int_eq(arg_rate("0.5", &r, NULL, 0), 0);
    ck_assert(r == 0.5);
    ck_assert_int_eq(arg_rate("0", &r, NULL, 0), -1);
    ck_assert_int_eq(arg_rate("-1", &r, NULL, 0), -1);
    ck_assert_int_eq(arg_rate("nan", &r, NULL, 0), -1);
    ck_assert_int_eq(arg_rate("inf", &r, NULL, 0), -1);
    ck_assert_int_eq(arg_rate("1e9", &r, NULL, 0), -1);
    ck_assert_int_eq(arg_rate("10/s", &r, NULL, 0), -1);
}
END_TEST

/* ---- the token bucket ---------------------------------------------------- */

#define SEC 1000000000LL

/* Sends n records as fast as the bucket allows from t0; returns when the
 * last one went. */
static int64_t send_all(struct rate *r, int n, int64_t t0)
{
    int64_t t = t0;
    for (int i = 0; i < n; i++) {
        t += rate_delay_ns(r, t);
        ck_assert_int_eq(rate_take(r, t), 0);
    }
    return t;
}

START_TEST(rate_spaces_records_evenly)
{
    struct rate r;
    rate_init(&r, 50, 1, 5 * SEC);
    ck_assert_int_eq(rate_delay_ns(&r, 5 * SEC), 0); /* the first goes at once */
    ck_assert_int_eq(rate_take(&r, 5 * SEC), 0);
    ck_assert_int_eq(rate_delay_ns(&r, 5 * SEC), SEC / 50);
    ck_assert_int_eq(rate_take(&r, 5 * SEC + SEC / 100), -1); /* half a token only */
    ck_assert_int_eq(rate_delay_ns(&r, 5 * SEC + SEC / 100), SEC / 100);
    ck_assert_int_eq(rate_take(&r, 5 * SEC + SEC / 50), 0);
}
END_TEST

START_TEST(rate_total_time)
{
    /* n records at R per second take (n - 1) / R seconds: 150 at 50/s, 2.98 s */
    static const struct {
        double per_sec;
        int n;
    } cases[] = {{50, 150}, {100, 1000}, {7, 50}, {1000, 5000}, {0.5, 4}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rate r;
        rate_init(&r, cases[i].per_sec, 1, 0);
        int64_t took = send_all(&r, cases[i].n, 0);
        double want = (cases[i].n - 1) / cases[i].per_sec;
        ck_assert_msg(llabs(took - (int64_t)(want * SEC)) <= cases[i].n,
                      "%d at %g/s took %lld ns, expected %.0f", cases[i].n, cases[i].per_sec,
                      (long long)took, want * SEC);
    }
}
END_TEST

START_TEST(rate_idle_time_is_capped_by_burst)
{
    struct rate r;
    rate_init(&r, 10, 3, 0);
    send_all(&r, 3, 0); /* the burst, at once */
    ck_assert_int_eq(rate_delay_ns(&r, 0), SEC / 10);
    /* an hour idle gives back 3 tokens, not 36000 */
    int64_t t = 3600 * SEC;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(rate_take(&r, t), 0);
    ck_assert_int_eq(rate_take(&r, t), -1);
    ck_assert_int_eq(rate_delay_ns(&r, t), SEC / 10);
    /* a clock that seems to step back adds nothing and breaks nothing */
    ck_assert_int_eq(rate_take(&r, t - SEC), -1);
}
END_TEST

/* ---- previews and escaping ---------------------------------------------- */

static const struct {
    const char *in;
    size_t len; /* 0: strlen */
    size_t max;
    const char *out;
} previews[] = {
    {"{\"event_id\":\"e1\"}", 0, 60, "{\"event_id\":\"e1\"}"},
    {"abcdefghij", 0, 4, "abcd..."},
    {"abcd", 0, 4, "abcd"},
    {"line1\nline2\r\tx", 0, 60, "line1\\nline2\\r\\tx"},
    {"a\x01"
     "b\x7f"
     "c\x1b",
     0, 60, "a\\x01b\\x7Fc\\x1B"},
    {"nul\0byte", 8, 60, "nul\\x00byte"},
    {"bad \xff\xfe utf8", 0, 60, "bad \\xFF\\xFE utf8"},
    {"caf\xc3\xa9 \xe2\x82\xac", 0, 60, "caf\xc3\xa9 \xe2\x82\xac"},
    {"\xc3\xa9\xc3\xa9\xc3\xa9", 0, 2, "\xc3\xa9\xc3\xa9..."},
    {"c1\xc2\x85x", 0, 60, "c1\\u0085x"},
    {"overlong \xc0\xaf", 0, 60, "overlong \\xC0\\xAF"},
    {"surrogate \xed\xa0\x80", 0, 60, "surrogate \\xED\\xA0\\x80"},
    {"cut \xe2\x82", 0, 60, "cut \\xE2\\x82"},
    {"\n\n\n\n", 0, 2, "\\n\\n..."},
    {"", 0, 60, ""},
};

START_TEST(preview_escapes_and_truncates)
{
    char out[OUT_PREVIEW_SIZE(60)];
    size_t len = previews[_i].len ? previews[_i].len : strlen(previews[_i].in);
    size_t n = out_preview(out, sizeof(out), previews[_i].in, len, previews[_i].max);
    ck_assert_str_eq(out, previews[_i].out);
    ck_assert_uint_eq(n, strlen(out));
}
END_TEST

START_TEST(preview_never_overflows_nor_splits)
{
    char big[200], out[16];
    memset(big, '\x01', sizeof(big)); /* every byte becomes 4 */
    size_t n = out_preview(out, sizeof(out), big, sizeof(big), 60);
    ck_assert_uint_lt(n, sizeof(out));
    ck_assert_str_eq(out, "\\x01\\x01\\x01...");
    /* a multi-byte character is never cut in half */
    const char *e = "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac";
    char small[10];
    out_preview(small, sizeof(small), e, strlen(e), 60);
    ck_assert_str_eq(small, "\xe2\x82\xac\xe2\x82\xac...");
    /* the documented size always holds maxchars characters */
    char worst[OUT_PREVIEW_SIZE(5)];
    out_preview(worst, sizeof(worst), "\xc2\x85\xc2\x85\xc2\x85\xc2\x85\xc2\x85x", 11, 5);
    ck_assert_str_eq(worst, "\\u0085\\u0085\\u0085\\u0085\\u0085...");
    ck_assert_uint_eq(out_preview(out, 0, "abc", 3, 60), 0);
}
END_TEST

START_TEST(escape_keeps_everything)
{
    char out[256];
    out_escape(out, sizeof(out), "x-error: a\tb", 12);
    ck_assert_str_eq(out, "x-error: a\\tb");
    char longer[100];
    memset(longer, 'a', sizeof(longer));
    out_escape(out, sizeof(out), longer, sizeof(longer));
    ck_assert_uint_eq(strlen(out), 100);
}
END_TEST

START_TEST(utf8_lengths)
{
    ck_assert_uint_eq(out_utf8_len((const unsigned char *)"a", 1), 1);
    ck_assert_uint_eq(out_utf8_len((const unsigned char *)"\xc3\xa9", 2), 2);
    ck_assert_uint_eq(out_utf8_len((const unsigned char *)"\xe2\x82\xac", 3), 3);
    ck_assert_uint_eq(out_utf8_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
    ck_assert_uint_eq(out_utf8_len((const unsigned char *)"\xc3", 1), 0);
    ck_assert_uint_eq(out_utf8_len((const unsigned char *)"\xe0\x80\x80", 3), 0);
    ck_assert_uint_eq(out_utf8_len((const unsigned char *)"\xf4\x90\x80\x80", 4), 0);
    ck_assert_uint_eq(out_utf8_len((const unsigned char *)"\x80", 1), 0);
}
END_TEST

/* ---- JSON ------------------------------------------------------------------ */

START_TEST(json_pretty_prints_json_only)
{
    char *out = NULL;
    const char *in = "{\"a\":1.50,\"b\":[true,null,\"x\\ty\"],\"c\":{\"d\":-2e3}}";
    ck_assert_int_eq(out_json_pretty(in, strlen(in), &out), 0);
    ck_assert_str_eq(out, "{\n"
                          "  \"a\": 1.50,\n"
                          "  \"b\": [\n"
                          "    true,\n"
                          "    null,\n"
                          "    \"x\\ty\"\n"
                          "  ],\n"
                          "  \"c\": {\n"
                          "    \"d\": -2e3\n"
                          "  }\n"
                          "}");
    free(out);
    static const char *const bad[] = {"{not json", "",         "{\"a\":1} {\"b\":2}",
                                      "[1,]",      "\"\xff\"", "{\"a\":1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        out = NULL;
        ck_assert_msg(out_json_pretty(bad[i], strlen(bad[i]), &out) == -1, "accepted %s", bad[i]);
        ck_assert_ptr_null(out);
    }
}
END_TEST

START_TEST(json_lines_are_valid_utf8)
{
    yajl_gen g = out_json_new(0);
    FILE *f = tmpfile();
    out_json_open(g, NULL, 0);
    out_json_bytes(g, "key", "k\xff", 2);
    out_json_str(g, "nothing", NULL);
    out_json_int(g, "n", -3);
    out_json_num(g, "s", 2.5);
    out_json_bool(g, "ok", 1);
    out_json_close(g, 0);
    ck_assert_int_eq(out_json_line(g, f), 0);
    out_json_open(g, NULL, 0); /* a second object on the same generator */
    out_json_str(g, "tab", "a\tb");
    out_json_close(g, 0);
    ck_assert_int_eq(out_json_line(g, f), 0);
    ck_assert_int_eq(out_json_line(g, f), -1); /* nothing held */
    char buf[256] = "";
    rewind(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "{\"key\":\"k\xef\xbf\xbd\",\"nothing\":null,\"n\":-3,\"s\":2.500,"
                          "\"ok\":true}\n{\"tab\":\"a\\tb\"}\n");
    fclose(f);
    yajl_gen_free(g);
}
END_TEST

START_TEST(times_are_utc)
{
    char buf[40];
    out_time(0, buf, sizeof(buf));
    ck_assert_str_eq(buf, "1970-01-01T00:00:00.000Z");
    out_time(1795773600250LL, buf, sizeof(buf));
    ck_assert_str_eq(buf, "2026-11-27T10:00:00.250Z");
    out_time(-1, buf, sizeof(buf));
    ck_assert_str_eq(buf, "-");
}
END_TEST

START_TEST(table_rows_align)
{
    static const struct out_col cols[] = {{"A", 3}, {"BB", 2}, {"C", 0}};
    const char *cells[] = {"x", "long", NULL};
    FILE *f = tmpfile();
    out_header(f, cols, 3);
    out_row(f, cols, 3, cells);
    const char *wide[] = {"\xc3\xa9", "y", "z"}; /* one character, two bytes */
    out_row(f, cols, 3, wide);
    char buf[128] = "";
    rewind(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "A   BB C\nx   long -\n\xc3\xa9   y  z\n");
    fclose(f);
}
END_TEST

/* ---- the dashboard's addresses ------------------------------------------- */

static const struct {
    const char *listen;
    int ok, loopback;
} listens[] = {
    {"127.0.0.1:8080", 1, 1}, {"127.9.9.9:0", 1, 1},  {"localhost:8080", 1, 1},
    {"[::1]:8080", 1, 1},     {"0.0.0.0:8080", 1, 0}, {"10.1.2.3:80", 1, 0},
    {"[::]:8080", 1, 0},      {"128.0.0.1:80", 1, 0}, {"8080", 0, 0},
    {"127.0.0.1:", 0, 0},     {":8080", 0, 0},        {"127.0.0.1:65536", 0, 0},
    {"127.0.0.1:-1", 0, 0},   {"[::1]", 0, 0},        {"[::1]8080", 0, 0},
    {"example.com:80", 0, 0}, /* a name: no DNS */
    {"999.1.1.1:80", 0, 0},
};

START_TEST(listen_addresses)
{
    struct sockaddr_storage ss;
    char err[256] = "";
    int rc = dash_addr_parse(listens[_i].listen, &ss, err, sizeof(err));
    ck_assert_msg(rc == (listens[_i].ok ? 0 : -1), "%s: %d (%s)", listens[_i].listen, rc, err);
    if (rc == 0)
        ck_assert_msg(dash_addr_is_loopback(&ss) == listens[_i].loopback, "%s: loopback",
                      listens[_i].listen);
    else
        ck_assert_msg(strstr(err, listens[_i].listen) != NULL, "%s: err %s", listens[_i].listen,
                      err);
}
END_TEST

START_TEST(host_headers)
{
    static const struct {
        const char *host;
        int loopback;
    } hosts[] = {
        {"127.0.0.1:8080", 1},
        {"127.0.0.1", 1},
        {"localhost:8080", 1},
        {"localhost", 1},
        {"[::1]:8080", 1},
        {"[::1]", 1},
        {"127.1.2.3:80", 1},
        {NULL, 0},
        {"", 0},
        {"evil.example", 0},
        {"127.0.0.1.evil.example", 0},
        {"127.evil.example:80", 0},
        {"localhost.evil.example", 0},
        {"[::1].evil.example", 0},
        {"127.0.0.1:80x", 0},
        {"10.0.0.1:8080", 0},
        {"[::2]:80", 0},
        {"localhost:", 0},
    };
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
        ck_assert_msg(dash_host_is_loopback(hosts[i].host) == hosts[i].loopback, "Host %s",
                      hosts[i].host ? hosts[i].host : "(none)");
}
END_TEST

START_TEST(secrets)
{
    ck_assert(dash_secret_eq("s3cret", "s3cret"));
    ck_assert(dash_secret_eq("", ""));
    ck_assert(!dash_secret_eq("s3cret", "s3crex"));
    ck_assert(!dash_secret_eq("s3cret", "s3cre"));
    ck_assert(!dash_secret_eq("s3cre", "s3cret"));
    ck_assert(!dash_secret_eq("", "x"));
    ck_assert(!dash_secret_eq("x", ""));
    ck_assert(!dash_secret_eq("abab", "ab")); /* not a repeat of the shorter */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stockctl");
    TCase *tc = tcase_create("helpers");
    tcase_add_loop_test(tc, part_offset_syntax, 0,
                        (int)(sizeof(part_offsets) / sizeof(part_offsets[0])));
    tcase_add_loop_test(tc, time_syntax, 0, (int)(sizeof(times) / sizeof(times[0])));
    tcase_add_test(tc, numbers);
    tcase_add_test(tc, rate_spaces_records_evenly);
    tcase_add_test(tc, rate_total_time);
    tcase_add_test(tc, rate_idle_time_is_capped_by_burst);
    tcase_add_loop_test(tc, preview_escapes_and_truncates, 0,
                        (int)(sizeof(previews) / sizeof(previews[0])));
    tcase_add_test(tc, preview_never_overflows_nor_splits);
    tcase_add_test(tc, escape_keeps_everything);
    tcase_add_test(tc, utf8_lengths);
    tcase_add_test(tc, json_pretty_prints_json_only);
    tcase_add_test(tc, json_lines_are_valid_utf8);
    tcase_add_test(tc, times_are_utc);
    tcase_add_test(tc, table_rows_align);
    tcase_add_loop_test(tc, listen_addresses, 0, (int)(sizeof(listens) / sizeof(listens[0])));
    tcase_add_test(tc, host_headers);
    tcase_add_test(tc, secrets);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
