/* Unit tests of alert: classification of webhook answers, Retry-After,
 * backoff, the alert of a dead letter (parsed back with yajl_tree_parse to
 * prove it is JSON) and the check of inventory.alerts records. No network. */
#include "alert.h"

#include <check.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

/* ---- classification -------------------------------------------------------- */

static const struct {
    int curl_code;
    long status;
    enum alert_class want;
} classes[] = {
    {0, 200, ALERT_DELIVERED},
    {0, 201, ALERT_DELIVERED},
    {0, 202, ALERT_DELIVERED},
    {0, 204, ALERT_DELIVERED},
    {0, 408, ALERT_RETRY},
    {0, 429, ALERT_RETRY},
    {0, 500, ALERT_RETRY},
    {0, 502, ALERT_RETRY},
    {0, 503, ALERT_RETRY},
    {0, 504, ALERT_RETRY},
    {0, 400, ALERT_PERMANENT},
    {0, 401, ALERT_PERMANENT},
    {0, 403, ALERT_PERMANENT},
    {0, 404, ALERT_PERMANENT},
    {0, 413, ALERT_PERMANENT},
    {0, 422, ALERT_PERMANENT},
    {0, 301, ALERT_RETRY}, /* redirects are not followed, never dropped */
    {0, 100, ALERT_RETRY},
    {CURLE_COULDNT_CONNECT, 0, ALERT_RETRY},
    {CURLE_COULDNT_RESOLVE_HOST, 0, ALERT_RETRY},
    {CURLE_OPERATION_TIMEDOUT, 0, ALERT_RETRY},
    {CURLE_SEND_ERROR, 0, ALERT_RETRY},
    {CURLE_RECV_ERROR, 0, ALERT_RETRY},
    {CURLE_GOT_NOTHING, 0, ALERT_RETRY},
    {CURLE_PEER_FAILED_VERIFICATION, 0, ALERT_RETRY},
    {CURLE_OPERATION_TIMEDOUT, 200, ALERT_RETRY}, /* answer cut short: not delivered */
};

START_TEST(classification_table)
{
    int curl_code = classes[_i].curl_code;
    long status = classes[_i].status;
    enum alert_class got = alert_classify(curl_code, status);
    ck_assert_msg(got == classes[_i].want, "curl %d, HTTP %ld: %s, want %s", curl_code, status,
                  alert_class_name(got), alert_class_name(classes[_i].want));
}
END_TEST

/* ---- Retry-After ------------------------------------------------------------ */

START_TEST(retry_after_seconds)
{
    ck_assert_int_eq(alert_retry_after_ms("1", 0, 120000), 1000);
    ck_assert_int_eq(alert_retry_after_ms("0", 0, 120000), 0);
    ck_assert_int_eq(alert_retry_after_ms(" 30\r\n", 0, 120000), 30000);
    ck_assert_int_eq(alert_retry_after_ms("120", 0, 120000), 120000);
}
END_TEST

START_TEST(retry_after_absent_or_garbage)
{
    ck_assert_int_eq(alert_retry_after_ms(NULL, 0, 120000), -1);
    ck_assert_int_eq(alert_retry_after_ms("", 0, 120000), -1);
    ck_assert_int_eq(alert_retry_after_ms("  \r\n", 0, 120000), -1);
    ck_assert_int_eq(alert_retry_after_ms("soon", 0, 120000), -1);
    ck_assert_int_eq(alert_retry_after_ms("5s", 0, 120000), -1);
    ck_assert_int_eq(alert_retry_after_ms("-1", 0, 120000), -1);
    ck_assert_int_eq(alert_retry_after_ms("1.5", 0, 120000), -1);
    ck_assert_int_eq(alert_retry_after_ms("10 20", 0, 120000), -1);
}
END_TEST

START_TEST(retry_after_capped)
{
    ck_assert_int_eq(alert_retry_after_ms("121", 0, 120000), 120000);
    ck_assert_int_eq(alert_retry_after_ms("86400", 0, 120000), 120000);
    ck_assert_int_eq(alert_retry_after_ms("99999999999999999999999", 0, 120000), 120000);
    ck_assert_int_eq(alert_retry_after_ms("7", 0, 5000), 5000);
}
END_TEST

START_TEST(retry_after_http_date)
{
    time_t now = 1445412480; /* Wed, 21 Oct 2015 07:28:00 GMT */
    ck_assert_int_eq(alert_retry_after_ms("Wed, 21 Oct 2015 07:28:10 GMT", now, 120000), 10000);
    ck_assert_int_eq(alert_retry_after_ms("Wed, 21 Oct 2015 07:27:00 GMT", now, 120000), 0);
    ck_assert_int_eq(alert_retry_after_ms("Thu, 22 Oct 2015 07:28:00 GMT", now, 120000), 120000);
}
END_TEST

/* ---- backoff ---------------------------------------------------------------- */

START_TEST(backoff_grows_and_is_capped)
{
    ck_assert_int_eq(alert_backoff_ms(0), 500);
    ck_assert_int_eq(alert_backoff_ms(1), 500);
    ck_assert_int_eq(alert_backoff_ms(2), 1000);
    ck_assert_int_eq(alert_backoff_ms(3), 2000);
    ck_assert_int_eq(alert_backoff_ms(6), 16000);
    ck_assert_int_eq(alert_backoff_ms(7), 30000);
    ck_assert_int_eq(alert_backoff_ms(100), 30000);
    ck_assert_int_eq(alert_backoff_ms(1 << 30), 30000);
    for (int a = 1; a < 40; a++)
        ck_assert_int_le(alert_backoff_ms(a), alert_backoff_ms(a + 1));
}
END_TEST

START_TEST(retry_delay_prefers_retry_after)
{
    ck_assert_int_eq(alert_retry_delay_ms(-1, 3), 2000);
    ck_assert_int_eq(alert_retry_delay_ms(1000, 1), 1000);
    ck_assert_int_eq(alert_retry_delay_ms(1000, 9), 1000); /* the webhook knows best */
    ck_assert_int_eq(alert_retry_delay_ms(0, 5), 500);     /* never a busy loop */
}
END_TEST

/* ---- UTF-8 ----------------------------------------------------------------- */

START_TEST(utf8_copy_replaces_bad_bytes)
{
    static const char in[] = "ok \xff \xc3\xa9 \xed\xa0\x80 \xc0\xaf \xf4\x90\x80\x80 \xe2\x82";
    char *out;
    size_t n;
    int trunc = -1;
    ck_assert_int_eq(alert_utf8_copy(in, sizeof(in) - 1, 4096, &out, &n, &trunc), 0);
    ck_assert_int_eq(trunc, 0);
    ck_assert_str_eq(out,
                     "ok \xEF\xBF\xBD \xc3\xa9 \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD "
                     "\xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                     " \xEF\xBF\xBD\xEF\xBF\xBD");
    ck_assert_uint_eq(n, strlen(out));
    free(out);
}
END_TEST

START_TEST(utf8_copy_cuts_at_a_character)
{
    static const char in[] = "ab\xc3\xa9"; /* 'é' spans bytes 2..3 */
    char *out;
    int trunc = 0;
    ck_assert_int_eq(alert_utf8_copy(in, 4, 3, &out, NULL, &trunc), 0);
    ck_assert_str_eq(out, "ab");
    ck_assert_int_eq(trunc, 1);
    free(out);
}
END_TEST

/* ---- the dead-letter alert ---------------------------------------------------- */

#define H(n, v)                                                                                    \
    {                                                                                              \
        n, v, sizeof(v) - 1                                                                        \
    }
static const struct alert_header sample_headers[] = {
    H("x-original-topic", "inventory.orders"),
    H("x-original-partition", "2"),
    H("x-original-offset", "41"),
    H("x-original-timestamp", "1700000000123"),
    H("x-original-group", "stockflow-order"),
    H("x-attempt", "1"),
    H("x-first-failure-at", "1700000001000"),
    H("x-error-class", "poison"),
    H("x-error", "first error"),
    H("x-error", "invalid JSON: \"unexpected\" \x01 at 3\nsecond line"),
    H("x-worker", "order-worker@h:1"),
    H("traceparent", "00-abc-def-01"),
    H("x-b\xff" "d", "name of bad UTF-8"),
};

static yajl_val dead_letter(const void *payload, size_t len, const void *key, char **json)
{
    struct alert_dead_letter d = {.topic = "inventory.orders.dlq",
                                  .partition = 3,
                                  .offset = 17,
                                  .key = key,
                                  .key_len = key ? strlen(key) : 0,
                                  .payload = payload,
                                  .len = len,
                                  .headers = sample_headers,
                                  .nheaders = sizeof(sample_headers) / sizeof(sample_headers[0]),
                                  .now_ms = 1700000002005};
    char id[ALERT_ID_MAX + 1], summary[1024], err[256], perr[256];
    size_t n;
    ck_assert_int_eq(
        alert_dead_letter_json(&d, json, &n, id, summary, sizeof(summary), err, sizeof(err)), 0);
    ck_assert_uint_eq(n, strlen(*json));
    ck_assert_str_eq(id, "dlq:inventory.orders.dlq:3:17");
    yajl_val v = yajl_tree_parse(*json, perr, sizeof(perr));
    ck_assert_msg(v != NULL, "not JSON (%s): %s", perr, *json);
    ck_assert(YAJL_IS_OBJECT(v));
    return v;
}

static const char *str_at(yajl_val v, const char *a, const char *b)
{
    const char *path[] = {a, b, NULL};
    yajl_val s = yajl_tree_get(v, path, yajl_t_string);
    ck_assert_msg(s != NULL, "no string at %s%s%s", a, b ? "." : "", b ? b : "");
    return YAJL_GET_STRING(s);
}

START_TEST(dead_letter_alert_fields)
{
    char *json;
    yajl_val v = dead_letter("{\"event_id\":\"e1\"", 16, "order-1", &json);
    ck_assert_str_eq(str_at(v, "alert_id", NULL), "dlq:inventory.orders.dlq:3:17");
    ck_assert_str_eq(str_at(v, "kind", NULL), "dead_letter");
    ck_assert_str_eq(str_at(v, "severity", NULL), "error");
    ck_assert_str_eq(str_at(v, "occurred_at", NULL), "2023-11-14T22:13:22.005Z");
    const char *summary = str_at(v, "summary", NULL);
    ck_assert_ptr_nonnull(strstr(summary, "inventory.orders"));
    ck_assert_ptr_nonnull(strstr(summary, "poison"));
    ck_assert_ptr_nonnull(strstr(summary, "invalid JSON: \"unexpected\""));
    ck_assert_ptr_null(strchr(summary, '\n')); /* one line */
    ck_assert_ptr_null(strchr(summary, '\x01'));
    ck_assert_str_eq(str_at(v, "details", "x-original-topic"), "inventory.orders");
    ck_assert_str_eq(str_at(v, "details", "x-original-partition"), "2");
    ck_assert_str_eq(str_at(v, "details", "x-original-offset"), "41");
    ck_assert_str_eq(str_at(v, "details", "x-original-timestamp"), "1700000000123");
    ck_assert_str_eq(str_at(v, "details", "x-original-group"), "stockflow-order");
    ck_assert_str_eq(str_at(v, "details", "x-attempt"), "1");
    ck_assert_str_eq(str_at(v, "details", "x-first-failure-at"), "1700000001000");
    ck_assert_str_eq(str_at(v, "details", "x-error-class"), "poison");
    ck_assert_str_eq(str_at(v, "details", "x-error"),
                     "invalid JSON: \"unexpected\" \x01 at 3\nsecond line"); /* the last one */
    ck_assert_str_eq(str_at(v, "details", "x-worker"), "order-worker@h:1");
    ck_assert_str_eq(str_at(v, "details", "key"), "order-1");
    ck_assert_str_eq(str_at(v, "details", "payload"), "{\"event_id\":\"e1\"");
    const char *tp[] = {"details", "traceparent", NULL}, *tr[] = {"details", "truncated", NULL};
    ck_assert_ptr_null(yajl_tree_get(v, tp, yajl_t_any)); /* only x-* headers */
    ck_assert(YAJL_IS_FALSE(yajl_tree_get(v, tr, yajl_t_any)));
    ck_assert_ptr_null(strstr(json, "first error")); /* one value per header name */
    ck_assert_str_eq(str_at(v, "details", "x-b\xEF\xBF\xBD" "d"), "name of bad UTF-8");
    yajl_tree_free(v);
    free(json);
}
END_TEST

START_TEST(dead_letter_payload_truncated_at_4k)
{
    size_t len = 10000;
    char *payload = malloc(len), *json;
    memset(payload, 'a', len);
    yajl_val v = dead_letter(payload, len, NULL, &json);
    ck_assert_uint_eq(strlen(str_at(v, "details", "payload")), ALERT_PAYLOAD_MAX);
    const char *tr[] = {"details", "truncated", NULL}, *pb[] = {"details", "payload_bytes", NULL},
               *key[] = {"details", "key", NULL};
    ck_assert(YAJL_IS_TRUE(yajl_tree_get(v, tr, yajl_t_any)));
    ck_assert_int_eq(YAJL_GET_INTEGER(yajl_tree_get(v, pb, yajl_t_number)), 10000);
    ck_assert(YAJL_IS_NULL(yajl_tree_get(v, key, yajl_t_any)));
    yajl_tree_free(v);
    free(json);
    /* exactly 4 KiB is not truncated */
    v = dead_letter(payload, ALERT_PAYLOAD_MAX, NULL, &json);
    ck_assert(YAJL_IS_FALSE(yajl_tree_get(v, tr, yajl_t_any)));
    yajl_tree_free(v);
    free(json);
    free(payload);
}
END_TEST

START_TEST(dead_letter_invalid_utf8_still_json)
{
    static const char payload[] = "{\"sku\":\"\xff\xfe\",\"q\":\"\xc3\x28\x00\x01\x1f\\\"\"}";
    char *json;
    yajl_val v = dead_letter(payload, sizeof(payload) - 1, "\x80k\xe2", &json);
    const char *p = str_at(v, "details", "payload");
    ck_assert_ptr_nonnull(strstr(p, "\"sku\":\"\xEF\xBF\xBD\xEF\xBF\xBD\""));
    ck_assert_str_eq(str_at(v, "details", "key"), "\xEF\xBF\xBDk\xEF\xBF\xBD");
    yajl_tree_free(v);
    free(json);
}
END_TEST

START_TEST(dead_letter_without_headers)
{
    struct alert_dead_letter d = {.topic = "inventory.stock.dlq",
                                  .partition = 0,
                                  .offset = 5,
                                  .payload = "x",
                                  .len = 1,
                                  .now_ms = 0};
    char *json, id[ALERT_ID_MAX + 1], summary[1024], err[256], perr[256];
    size_t n;
    ck_assert_int_eq(
        alert_dead_letter_json(&d, &json, &n, id, summary, sizeof(summary), err, sizeof(err)), 0);
    ck_assert_str_eq(id, "dlq:inventory.stock.dlq:0:5");
    ck_assert_ptr_nonnull(strstr(summary, "inventory.stock "));
    yajl_val v = yajl_tree_parse(json, perr, sizeof(perr));
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(str_at(v, "occurred_at", NULL), "1970-01-01T00:00:00.000Z");
    yajl_tree_free(v);
    free(json);
}
END_TEST

/* ---- records of inventory.alerts --------------------------------------------- */

static const struct {
    const char *json;
    int ok;
    const char *id;
} alerts[] = {
    {"{\"alert_id\":\"a-1\",\"kind\":\"oversold\",\"summary\":\"sku-1 oversold\",\"details\":{}}",
     1, "a-1"},
    {" {\"details\":{\"alert_id\":5},\"alert_id\":\"outbox:42\"} ", 1, "outbox:42"},
    {"not json", 0, NULL},
    {"", 0, NULL},
    {"{\"alert_id\":\"a\"} trailing", 0, NULL},
    {"{\"alert_id\":\"a\"}{}", 0, NULL},
    {"/* c */ {\"alert_id\":\"a\"}", 0, NULL},
    {"[{\"alert_id\":\"a\"}]", 0, NULL},
    {"\"alert_id\"", 0, NULL},
    {"{\"kind\":\"x\"}", 0, NULL},
    {"{\"alert_id\":7}", 0, NULL},
    {"{\"alert_id\":{\"a\":1}}", 0, NULL},
    {"{\"alert_id\":\"\"}", 0, NULL},
    {"{\"alert_id\":\"a\\r\\nX-Evil: 1\"}", 0, NULL},
    {"{\"alert_id\":\"caf\xc3\xa9\"}", 0, NULL},
    {"{\"alert_id\":\"a\",\"summary\":\"\xff\"}", 0, NULL},
};

START_TEST(alert_records_checked)
{
    char id[ALERT_ID_MAX + 1], summary[256], err[256] = "";
    const char *j = alerts[_i].json;
    int rc = alert_parse(j, strlen(j), id, summary, sizeof(summary), err, sizeof(err));
    ck_assert_msg(rc == (alerts[_i].ok ? 0 : -1), "%s: rc %d (%s)", j, rc, err);
    if (alerts[_i].ok)
        ck_assert_str_eq(id, alerts[_i].id);
    else
        ck_assert_msg(err[0] && !strchr(err, '\n'), "%s: one-line reason, got \"%s\"", j, err);
}
END_TEST

START_TEST(alert_record_summary_read)
{
    static const char j[] = "{\"alert_id\":\"a-1\",\"summary\":\"line 1\\nline 2\"}";
    char id[ALERT_ID_MAX + 1], summary[256], err[256];
    ck_assert_int_eq(alert_parse(j, sizeof(j) - 1, id, summary, sizeof(summary), err, sizeof(err)),
                     0);
    ck_assert_str_eq(summary, "line 1 line 2");
}
END_TEST

START_TEST(rfc3339_format)
{
    char out[40];
    alert_rfc3339(1700000002005, out, sizeof(out));
    ck_assert_str_eq(out, "2023-11-14T22:13:22.005Z");
}
END_TEST

START_TEST(signature_is_hmac_sha256_of_t_dot_body)
{
    /* expected values: Python's hmac.new(secret, b"<t>.<body>", sha256) */
    static const char body[] = "{\"alert_id\":\"a-1\"}";
    char sig[160];
    ck_assert_int_eq(alert_signature("whsec_test", 1700000000, body, sizeof(body) - 1, sig,
                                     sizeof(sig)),
                     0);
    ck_assert_str_eq(sig, "t=1700000000,v1="
                          "854f515b140e6505d1891fab4d2370eebb4d3ee7ed34509bb47d113827ec6c15");
    ck_assert_int_eq(alert_signature("whsec_test", 0, "", 0, sig, sizeof(sig)), 0);
    ck_assert_str_eq(sig, "t=0,v1=a2fa7a43c6a1cf2e784eaf3327d65c65b3d2b790320ebed9aa5661bc42a8cccd");
    /* another secret, time or body gives another signature */
    char other[160];
    alert_signature("whsec_tesu", 1700000000, body, sizeof(body) - 1, other, sizeof(other));
    ck_assert_str_ne(other + 16, sig + 7);
    ck_assert_int_eq(alert_signature("whsec_test", 1700000000, body, sizeof(body) - 1, sig, 40),
                     -1);
}
END_TEST

START_TEST(dead_letter_payload_left_out)
{
    struct alert_dead_letter d = {.topic = "inventory.orders.dlq",
                                  .partition = 0,
                                  .offset = 1,
                                  .payload = "{\"card\":\"4111\"}",
                                  .len = 15,
                                  .now_ms = 1700000002005,
                                  .omit_payload = 1};
    char id[ALERT_ID_MAX + 1], summary[1024], err[256], *json;
    size_t n;
    ck_assert_int_eq(
        alert_dead_letter_json(&d, &json, &n, id, summary, sizeof(summary), err, sizeof(err)), 0);
    ck_assert_ptr_null(strstr(json, "4111"));
    ck_assert_ptr_null(strstr(json, "\"payload\""));
    ck_assert_ptr_nonnull(strstr(json, "\"payload_bytes\":15"));
    free(json);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("alert");
    TCase *tc = tcase_create("alert");
    tcase_add_loop_test(tc, classification_table, 0, sizeof(classes) / sizeof(classes[0]));
    tcase_add_test(tc, retry_after_seconds);
    tcase_add_test(tc, retry_after_absent_or_garbage);
    tcase_add_test(tc, retry_after_capped);
    tcase_add_test(tc, retry_after_http_date);
    tcase_add_test(tc, backoff_grows_and_is_capped);
    tcase_add_test(tc, retry_delay_prefers_retry_after);
    tcase_add_test(tc, utf8_copy_replaces_bad_bytes);
    tcase_add_test(tc, utf8_copy_cuts_at_a_character);
    tcase_add_test(tc, dead_letter_alert_fields);
    tcase_add_test(tc, dead_letter_payload_truncated_at_4k);
    tcase_add_test(tc, dead_letter_invalid_utf8_still_json);
    tcase_add_test(tc, dead_letter_without_headers);
    tcase_add_loop_test(tc, alert_records_checked, 0, sizeof(alerts) / sizeof(alerts[0]));
    tcase_add_test(tc, alert_record_summary_read);
    tcase_add_test(tc, rfc3339_format);
    tcase_add_test(tc, signature_is_hmac_sha256_of_t_dot_body);
    tcase_add_test(tc, dead_letter_payload_left_out);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
