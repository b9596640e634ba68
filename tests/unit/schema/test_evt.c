/* evt_parse over the real, embedded schemas: a table of accept/reject cases
 * (each rejection checked for a substring of its one-line error), then the
 * fields read from accepted events. */
#include "evt.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID "\"event_id\":\"e-1\""
#define AT "\"occurred_at\":\"2024-05-01T12:00:00Z\""
#define T(x) "\"type\":\"" x "\""
#define LINE "{\"sku\":\"A\",\"qty\":1}"
#define OC(fields) "{" ID "," T("order.created") "," AT ",\"order_id\":\"o-1\"," fields "}"
#define OCL(extra) OC("\"lines\":[" LINE "]" extra)
#define SR(fields) "{" ID "," T("stock.received") "," AT ",\"sku\":\"A\"," fields "}"
#define SA(fields) "{" ID "," T("stock.adjusted") "," AT ",\"sku\":\"A\"," fields "}"
#define PS(fields) "{" ID "," T("payment.succeeded") "," AT ",\"order_id\":\"o-1\"" fields "}"
#define SC(fields) "{" ID "," T("sku.configured") "," AT ",\"sku\":\"A\"" fields "}"
#define PA(fields) "{" ID "," T("promotion.allocated") "," AT ",\"promo_id\":\"p-1\"," fields "}"
#define PAOK(extra) PA("\"sku\":\"A\",\"qty\":5,\"ends_at\":\"2024-05-02T00:00:00Z\"" extra)
#define PE(fields) "{" ID "," T("promotion.ended") "," AT fields "}"
#define RAW(s) s, sizeof(s) - 1

/* In 'json', "<<N:unit>>" stands for unit repeated N times and "<<N,unit>>"
 * for the same joined by commas. */
struct ecase {
    const char *name;
    const char *json;
    size_t len;      /* bytes of json when it holds a NUL; 0: strlen */
    size_t pad_to;   /* spaces appended up to this size (0: none) */
    const char *err; /* NULL: accepted; else a substring of the error */
};

/* clang-format off */
static const struct ecase cases[] = {
    /* accepted */
    {"order.created, minimal", OCL(""), 0, 0, NULL},
    {"order.cancelled", "{" ID "," T("order.cancelled") "," AT ",\"order_id\":\"o-1\"}", 0, 0, NULL},
    {"payment.succeeded with amount and currency", PS(",\"amount\":0,\"currency\":\"EUR\""), 0, 0, NULL},
    {"payment.failed without reason", "{" ID "," T("payment.failed") "," AT ",\"order_id\":\"o\"}", 0, 0, NULL},
    {"stock.adjusted negative", SA("\"delta\":-5,\"reason\":\"count\""), 0, 0, NULL},
    {"unknown fields are ignored", OC("\"lines\":[{\"sku\":\"A\",\"qty\":1,\"x\":[]}],\"note\":{\"a\":null}"), 0, 0, NULL},
    {"hold_seconds 1", OCL(",\"hold_seconds\":1"), 0, 0, NULL},
    {"hold_seconds 604800", OCL(",\"hold_seconds\":604800"), 0, 0, NULL},
    {"event_id 128 chars", "{\"event_id\":\"<<128:a>>\"," T("order.cancelled") "," AT ",\"order_id\":\"o\"}", 0, 0, NULL},
    {"event_id 128 two-byte code points", "{\"event_id\":\"<<128:é>>\"," T("order.cancelled") "," AT ",\"order_id\":\"o\"}", 0, 0, NULL},
    {"event_id 128 four-byte code points", "{\"event_id\":\"<<128:😀>>\"," T("order.cancelled") "," AT ",\"order_id\":\"o\"}", 0, 0, NULL},
    {"event_id 128 escaped surrogate pairs", "{\"event_id\":\"<<128:\\ud83d\\ude00>>\"," T("order.cancelled") "," AT ",\"order_id\":\"o\"}", 0, 0, NULL},
    {"order_id 128 chars", "{" ID "," T("order.cancelled") "," AT ",\"order_id\":\"<<128:o>>\"}", 0, 0, NULL},
    {"100 lines", OC("\"lines\":[<<100," LINE ">>]"), 0, 0, NULL},
    {"qty 1000000", OC("\"lines\":[{\"sku\":\"A\",\"qty\":1000000}]"), 0, 0, NULL},
    {"qty 1.0 is an integer", OC("\"lines\":[{\"sku\":\"A\",\"qty\":1.0}]"), 0, 0, NULL},
    {"sku 64 chars", OC("\"lines\":[{\"sku\":\"<<64:s>>\",\"qty\":1}]"), 0, 0, NULL},
    {"duplicate sku lines (summed later)", OC("\"lines\":[" LINE "," LINE "]"), 0, 0, NULL},
    {"stock.received qty 1000000000", SR("\"qty\":1000000000"), 0, 0, NULL},
    {"stock.adjusted delta -1000000000", SA("\"delta\":-1000000000,\"reason\":\"r\""), 0, 0, NULL},
    {"reason 256 chars", SA("\"delta\":1,\"reason\":\"<<256:r>>\""), 0, 0, NULL},
    /* informational fields (DESIGN §3): whatever their shape, never poison */
    {"payment.succeeded amount a string", PS(",\"amount\":\"19.90\""), 0, 0, NULL},
    {"payment.succeeded currency lower case", PS(",\"currency\":\"eur\""), 0, 0, NULL},
    {"payment.succeeded amount negative, currency 4 letters", PS(",\"amount\":-0.01,\"currency\":\"EURO\""), 0, 0, NULL},
    {"payment.succeeded amount and currency null", PS(",\"amount\":null,\"currency\":null"), 0, 0, NULL},
    {"payment.succeeded amount an object", PS(",\"amount\":{\"value\":1990,\"scale\":2},\"currency\":[\"EUR\"]"), 0, 0, NULL},
    {"payment.failed reason an object", "{" ID "," T("payment.failed") "," AT ",\"order_id\":\"o\",\"reason\":{\"code\":\"card_declined\"}}", 0, 0, NULL},
    {"payment.failed reason a number", "{" ID "," T("payment.failed") "," AT ",\"order_id\":\"o\",\"reason\":51}", 0, 0, NULL},
    {"payment.failed reason null", "{" ID "," T("payment.failed") "," AT ",\"order_id\":\"o\",\"reason\":null}", 0, 0, NULL},
    {"payment.failed reason empty", "{" ID "," T("payment.failed") "," AT ",\"order_id\":\"o\",\"reason\":\"\"}", 0, 0, NULL},
    {"stock.adjusted reason empty", SA("\"delta\":1,\"reason\":\"\""), 0, 0, NULL},
    {"stock.adjusted reason 257 chars", SA("\"delta\":1,\"reason\":\"<<257:r>>\""), 0, 0, NULL},
    {"stock.adjusted reason an object", SA("\"delta\":-2,\"reason\":{\"code\":\"damaged\"}"), 0, 0, NULL},
    {"stock.adjusted reason a number", SA("\"delta\":-2,\"reason\":7"), 0, 0, NULL},
    {"stock.adjusted reason null", SA("\"delta\":-2,\"reason\":null"), 0, 0, NULL},
    /* DESIGN §9 */
    {"sku.configured, no setting (changes nothing)", SC(""), 0, 0, NULL},
    {"sku.configured, every setting", SC(",\"safety_stock\":3,\"low_stock_threshold\":5,\"hide_below\":1,\"unit_cost\":2.5"), 0, 0, NULL},
    {"sku.configured, zeros", SC(",\"safety_stock\":0,\"low_stock_threshold\":0,\"hide_below\":0,\"unit_cost\":0"), 0, 0, NULL},
    {"sku.configured, maxima", SC(",\"safety_stock\":1000000000,\"low_stock_threshold\":1000000000,\"hide_below\":1000000000,\"unit_cost\":1e9"), 0, 0, NULL},
    {"sku.configured, integral 3.0", SC(",\"safety_stock\":3.0"), 0, 0, NULL},
    {"sku.configured, sku 64 chars", "{" ID "," T("sku.configured") "," AT ",\"sku\":\"<<64:s>>\",\"hide_below\":2}", 0, 0, NULL},
    {"promotion.allocated", PAOK(""), 0, 0, NULL},
    {"promotion.allocated, promo_id 128 chars", "{" ID "," T("promotion.allocated") "," AT ",\"promo_id\":\"<<128:p>>\",\"sku\":\"A\",\"qty\":1000000000,\"ends_at\":\"2024-05-02T00:00:00+02:00\"}", 0, 0, NULL},
    {"promotion.ended", PE(",\"promo_id\":\"p-1\""), 0, 0, NULL},
    {"order.created with promo_id", OCL(",\"promo_id\":\"p-1\""), 0, 0, NULL},
    {"stock.received with batch and best_before", SR("\"qty\":1,\"batch\":\"L-42\",\"best_before\":\"2024-02-29\""), 0, 0, NULL},
    {"stock.received batch 128 chars", SR("\"qty\":1,\"batch\":\"<<128:b>>\""), 0, 0, NULL},
    {"exactly 65536 bytes", OCL(""), 0, EVT_MAX_BYTES, NULL},
    {"whitespace around", " \n\t" OCL("") "\r\n ", 0, 0, NULL},
    {"64 nested levels", OCL(",\"x\":<<63:[>><<63:]>>"), 0, 0, NULL},
    /* size and JSON text */
    {"65537 bytes", OCL(""), 0, EVT_MAX_BYTES + 1, "too large: 65537 bytes (limit 65536)"},
    {"empty", "", 0, 0, "invalid JSON: empty message"},
    {"whitespace only", "  ", 0, 0, "invalid JSON"},
    {"trailing garbage", OCL("") "x", 0, 0, "invalid JSON"},
    {"two objects", OCL("") OCL(""), 0, 0, "invalid JSON"},
    {"syntax error", "{\"event_id\":}", 0, 0, "invalid JSON"},
    {"single quotes", "{'event_id':'e'}", 0, 0, "invalid JSON"},
    {"unterminated", "{\"event_id\":\"e", 0, 0, "invalid JSON"},
    {"comment", "/*x*/" OCL(""), 0, 0, "invalid JSON: unexpected comment"},
    {"UTF-8 BOM", "\xEF\xBB\xBF" OCL(""), 0, 0, "invalid JSON: unexpected non-ASCII byte 0xef"},
    {"\\u0000 in event_id", "{\"event_id\":\"a\\u0000b\"," T("order.cancelled") "," AT ",\"order_id\":\"o\"}", 0, 0, "invalid JSON: string contains U+0000"},
    {"\\u0000 in an unknown field", OCL(",\"note\":\"\\u0000\""), 0, 0, "U+0000"},
    {"\\u0000 in a key", OCL(",\"a\\u0000\":1"), 0, 0, "U+0000"},
    {"raw NUL byte in a string", RAW("{\"event_id\":\"a\0b\"}"), 0, "invalid JSON: control character 0x00"},
    {"raw NUL byte after the object", RAW("{\"event_id\":\"a\"}\0"), 0, "invalid JSON: unexpected byte 0x00"},
    {"raw newline in a string", "{\"event_id\":\"a\nb\"}", 0, 0, "invalid JSON: control character 0x0a"},
    {"invalid UTF-8", OCL(",\"note\":\"\xC3\x28\""), 0, 0, "invalid JSON: invalid UTF-8 at byte"},
    {"overlong UTF-8", OCL(",\"note\":\"\xC0\xAF\""), 0, 0, "invalid UTF-8"},
    {"UTF-8 encoded surrogate", OCL(",\"note\":\"\xED\xA0\x80\""), 0, 0, "invalid UTF-8"},
    {"UTF-8 beyond U+10FFFF", OCL(",\"note\":\"\xF4\x90\x80\x80\""), 0, 0, "invalid UTF-8"},
    {"UTF-8 cut short", "{\"event_id\":\"\xE2\x82", 0, 0, "invalid UTF-8"},
    {"lone high surrogate escape", OCL(",\"note\":\"\\ud800x\""), 0, 0, "invalid JSON: unpaired surrogate \\uD800"},
    {"lone low surrogate escape", OCL(",\"note\":\"\\udc00\""), 0, 0, "unpaired surrogate \\uDC00"},
    {"65 nested levels", OCL(",\"x\":<<64:[>><<64:]>>"), 0, 0, "invalid JSON: too deep: more than 64"},
    {"duplicate key", OCL(",\"order_id\":\"o-2\""), 0, 0, "invalid JSON: duplicate key \"order_id\""},
    {"duplicate key, nested", OC("\"lines\":[{\"sku\":\"A\",\"qty\":1,\"qty\":2}]"), 0, 0, "duplicate key \"qty\""},
    {"duplicate key among many", OCL(",\"k\":{<<40,\"a\":1>>}"), 0, 0, "duplicate key \"a\""},
    /* object and type */
    {"array", "[" OCL("") "]", 0, 0, "not an object"},
    {"string", "\"order.created\"", 0, 0, "not an object"},
    {"number", "42", 0, 0, "not an object"},
    {"null", "null", 0, 0, "not an object"},
    {"unknown type", "{" ID "," T("foo") "," AT "}", 0, 0, "unknown type: \"foo\""},
    {"type differs in case", "{" ID "," T("Order.Created") "," AT "}", 0, 0, "unknown type: \"Order.Created\""},
    {"no type", "{" ID "," AT "}", 0, 0, "unknown type: no \"type\" field"},
    {"type not a string", "{" ID ",\"type\":5," AT "}", 0, 0, "unknown type: \"type\" is not a string"},
    /* schema: missing, wrong types, bounds */
    {"missing event_id", "{" T("order.cancelled") "," AT ",\"order_id\":\"o\"}", 0, 0, "schema order.cancelled: /: missing required property \"event_id\""},
    {"order.created without event_id", "{" T("order.created") "," AT ",\"order_id\":\"o\",\"lines\":[" LINE "]}", 0, 0, "schema order.created: /: missing required property \"event_id\""},
    {"payment.succeeded without event_id", "{" T("payment.succeeded") "," AT ",\"order_id\":\"o\",\"amount\":\"19.90\"}", 0, 0, "schema payment.succeeded: /: missing required property \"event_id\""},
    {"payment.failed without event_id", "{" T("payment.failed") "," AT ",\"order_id\":\"o\",\"reason\":{}}", 0, 0, "schema payment.failed: /: missing required property \"event_id\""},
    {"stock.received without event_id", "{" T("stock.received") "," AT ",\"sku\":\"A\",\"qty\":1}", 0, 0, "schema stock.received: /: missing required property \"event_id\""},
    {"stock.adjusted without event_id", "{" T("stock.adjusted") "," AT ",\"sku\":\"A\",\"delta\":1,\"reason\":7}", 0, 0, "schema stock.adjusted: /: missing required property \"event_id\""},
    {"missing occurred_at", "{" ID "," T("order.cancelled") ",\"order_id\":\"o\"}", 0, 0, "/: missing required property \"occurred_at\""},
    {"missing order_id", "{" ID "," T("order.cancelled") "," AT "}", 0, 0, "/: missing required property \"order_id\""},
    {"missing lines", OC("\"hold_seconds\":5"), 0, 0, "schema order.created: /: missing required property \"lines\""},
    {"missing delta", SA("\"reason\":\"r\""), 0, 0, "/: missing required property \"delta\""},
    {"missing reason", SA("\"delta\":1"), 0, 0, "/: missing required property \"reason\""},
    {"missing qty in a line", OC("\"lines\":[{\"sku\":\"A\"}]"), 0, 0, "/lines/0: missing required property \"qty\""},
    {"event_id empty", "{\"event_id\":\"\"," T("order.cancelled") "," AT ",\"order_id\":\"o\"}", 0, 0, "/event_id: string shorter than minLength 1"},
    {"event_id 129 chars", "{\"event_id\":\"<<129:a>>\"," T("order.cancelled") "," AT ",\"order_id\":\"o\"}", 0, 0, "/event_id: string longer than maxLength 128"},
    {"event_id 129 two-byte code points", "{\"event_id\":\"<<129:é>>\"," T("order.cancelled") "," AT ",\"order_id\":\"o\"}", 0, 0, "/event_id: string longer than maxLength 128"},
    {"event_id a number", "{\"event_id\":5," T("order.cancelled") "," AT ",\"order_id\":\"o\"}", 0, 0, "/event_id: expected string, got integer 5"},
    {"order_id empty", "{" ID "," T("order.cancelled") "," AT ",\"order_id\":\"\"}", 0, 0, "/order_id: string shorter than minLength 1"},
    {"order_id 129 chars", "{" ID "," T("payment.failed") "," AT ",\"order_id\":\"<<129:o>>\"}", 0, 0, "schema payment.failed: /order_id: string longer than maxLength 128"},
    {"order_id null", "{" ID "," T("order.cancelled") "," AT ",\"order_id\":null}", 0, 0, "/order_id: expected string, got null"},
    {"lines empty", OC("\"lines\":[]"), 0, 0, "/lines: array has 0 items, fewer than minItems 1"},
    {"101 lines", OC("\"lines\":[<<101," LINE ">>]"), 0, 0, "/lines: array has 101 items, more than maxItems 100"},
    {"lines an object", OC("\"lines\":{}"), 0, 0, "/lines: expected array, got object"},
    {"line a string", OC("\"lines\":[\"A\"]"), 0, 0, "/lines/0: expected object, got string \"A\""},
    {"qty 0", OC("\"lines\":[" LINE ",{\"sku\":\"B\",\"qty\":0}]"), 0, 0, "/lines/1/qty: 0 is less than minimum 1"},
    {"qty 1000001", OC("\"lines\":[{\"sku\":\"A\",\"qty\":1000001}]"), 0, 0, "/lines/0/qty: 1000001 is greater than maximum 1000000"},
    {"qty 1.5", OC("\"lines\":[{\"sku\":\"A\",\"qty\":1.5}]"), 0, 0, "/lines/0/qty: expected integer, got number 1.5"},
    {"qty a string", OC("\"lines\":[{\"sku\":\"A\",\"qty\":\"1\"}]"), 0, 0, "/lines/0/qty: expected integer, got string \"1\""},
    {"qty huge", OC("\"lines\":[{\"sku\":\"A\",\"qty\":1e400}]"), 0, 0, "/lines/0/qty: 1e400 is greater than maximum"},
    {"sku empty", OC("\"lines\":[{\"sku\":\"\",\"qty\":1}]"), 0, 0, "/lines/0/sku: string shorter than minLength 1"},
    {"sku 65 chars", OC("\"lines\":[{\"sku\":\"<<65:s>>\",\"qty\":1}]"), 0, 0, "/lines/0/sku: string longer than maxLength 64"},
    {"hold_seconds 0", OCL(",\"hold_seconds\":0"), 0, 0, "/hold_seconds: 0 is less than minimum 1"},
    {"hold_seconds 604801", OCL(",\"hold_seconds\":604801"), 0, 0, "/hold_seconds: 604801 is greater than maximum 604800"},
    {"hold_seconds 1.5", OCL(",\"hold_seconds\":1.5"), 0, 0, "/hold_seconds: expected integer"},
    {"stock.received qty 0", SR("\"qty\":0"), 0, 0, "schema stock.received: /qty: 0 is less than minimum 1"},
    {"stock.received qty 1000000001", SR("\"qty\":1000000001"), 0, 0, "/qty: 1000000001 is greater than maximum 1000000000"},
    {"stock.received sku empty", "{" ID "," T("stock.received") "," AT ",\"sku\":\"\",\"qty\":1}", 0, 0, "/sku: string shorter than minLength 1"},
    {"delta 0", SA("\"delta\":0,\"reason\":\"r\""), 0, 0, "schema stock.adjusted: /delta: 0 is not allowed"},
    {"delta -0.0", SA("\"delta\":-0.0,\"reason\":\"r\""), 0, 0, "/delta: -0.0 is not allowed"},
    {"delta 1.5", SA("\"delta\":1.5,\"reason\":\"r\""), 0, 0, "/delta: expected integer, got number 1.5"},
    {"delta -1000000001", SA("\"delta\":-1000000001,\"reason\":\"r\""), 0, 0, "/delta: -1000000001 is less than minimum -1000000000"},
    {"occurred_at without zone", "{" ID "," T("order.cancelled") ",\"occurred_at\":\"2024-05-01T12:00:00\",\"order_id\":\"o\"}", 0, 0, "/occurred_at: \"2024-05-01T12:00:00\" is not an RFC 3339 date-time"},
    {"occurred_at month 13", "{" ID "," T("order.cancelled") ",\"occurred_at\":\"2024-13-01T12:00:00Z\",\"order_id\":\"o\"}", 0, 0, "/occurred_at: \"2024-13-01T12:00:00Z\" is not"},
    {"occurred_at 30 February", "{" ID "," T("order.cancelled") ",\"occurred_at\":\"2024-02-30T12:00:00Z\",\"order_id\":\"o\"}", 0, 0, "/occurred_at:"},
    {"occurred_at a date only", "{" ID "," T("order.cancelled") ",\"occurred_at\":\"2024-05-01\",\"order_id\":\"o\"}", 0, 0, "/occurred_at:"},
    {"occurred_at epoch number", "{" ID "," T("order.cancelled") ",\"occurred_at\":1714557600,\"order_id\":\"o\"}", 0, 0, "/occurred_at: expected string"},
    /* DESIGN §9: every new type loses its event_id (the issue 15 rule), then each field's bad values */
    {"sku.configured without event_id", "{" T("sku.configured") "," AT ",\"sku\":\"A\",\"safety_stock\":1}", 0, 0, "schema sku.configured: /: missing required property \"event_id\""},
    {"promotion.allocated without event_id", "{" T("promotion.allocated") "," AT ",\"promo_id\":\"p\",\"sku\":\"A\",\"qty\":1,\"ends_at\":\"2024-05-02T00:00:00Z\"}", 0, 0, "schema promotion.allocated: /: missing required property \"event_id\""},
    {"promotion.ended without event_id", "{" T("promotion.ended") "," AT ",\"promo_id\":\"p\"}", 0, 0, "schema promotion.ended: /: missing required property \"event_id\""},
    {"sku.configured without sku", "{" ID "," T("sku.configured") "," AT ",\"safety_stock\":1}", 0, 0, "schema sku.configured: /: missing required property \"sku\""},
    {"sku.configured without occurred_at", "{" ID "," T("sku.configured") ",\"sku\":\"A\"}", 0, 0, "/: missing required property \"occurred_at\""},
    {"sku.configured sku empty", "{" ID "," T("sku.configured") "," AT ",\"sku\":\"\"}", 0, 0, "/sku: string shorter than minLength 1"},
    {"sku.configured sku 65 chars", "{" ID "," T("sku.configured") "," AT ",\"sku\":\"<<65:s>>\"}", 0, 0, "/sku: string longer than maxLength 64"},
    {"sku.configured sku a number", "{" ID "," T("sku.configured") "," AT ",\"sku\":7}", 0, 0, "/sku: expected string, got integer 7"},
    {"safety_stock -1", SC(",\"safety_stock\":-1"), 0, 0, "schema sku.configured: /safety_stock: -1 is less than minimum 0"},
    {"safety_stock 1.5", SC(",\"safety_stock\":1.5"), 0, 0, "/safety_stock: expected integer, got number 1.5"},
    {"safety_stock a string", SC(",\"safety_stock\":\"3\""), 0, 0, "/safety_stock: expected integer, got string \"3\""},
    {"safety_stock null", SC(",\"safety_stock\":null"), 0, 0, "/safety_stock: expected integer, got null"},
    {"safety_stock 1000000001", SC(",\"safety_stock\":1000000001"), 0, 0, "/safety_stock: 1000000001 is greater than maximum 1000000000"},
    {"low_stock_threshold -1", SC(",\"low_stock_threshold\":-1"), 0, 0, "/low_stock_threshold: -1 is less than minimum 0"},
    {"low_stock_threshold 2.5", SC(",\"low_stock_threshold\":2.5"), 0, 0, "/low_stock_threshold: expected integer, got number 2.5"},
    {"low_stock_threshold a string", SC(",\"low_stock_threshold\":\"5\""), 0, 0, "/low_stock_threshold: expected integer, got string"},
    {"low_stock_threshold huge", SC(",\"low_stock_threshold\":1e400"), 0, 0, "/low_stock_threshold: 1e400 is greater than maximum"},
    {"hide_below -1", SC(",\"hide_below\":-1"), 0, 0, "/hide_below: -1 is less than minimum 0"},
    {"hide_below 0.5", SC(",\"hide_below\":0.5"), 0, 0, "/hide_below: expected integer, got number 0.5"},
    {"hide_below true", SC(",\"hide_below\":true"), 0, 0, "/hide_below: expected integer, got boolean"},
    {"hide_below 1000000001", SC(",\"hide_below\":1000000001"), 0, 0, "/hide_below: 1000000001 is greater than maximum 1000000000"},
    {"unit_cost -0.01", SC(",\"unit_cost\":-0.01"), 0, 0, "/unit_cost: -0.01 is less than minimum 0"},
    {"unit_cost a string", SC(",\"unit_cost\":\"2.50\""), 0, 0, "/unit_cost: expected number, got string \"2.50\""},
    {"unit_cost null", SC(",\"unit_cost\":null"), 0, 0, "/unit_cost: expected number, got null"},
    {"unit_cost 1e10", SC(",\"unit_cost\":1e10"), 0, 0, "/unit_cost: 1e10 is greater than maximum 1000000000"},
    {"promotion.allocated without promo_id", "{" ID "," T("promotion.allocated") "," AT ",\"sku\":\"A\",\"qty\":1,\"ends_at\":\"2024-05-02T00:00:00Z\"}", 0, 0, "schema promotion.allocated: /: missing required property \"promo_id\""},
    {"promotion.allocated without sku", PA("\"qty\":1,\"ends_at\":\"2024-05-02T00:00:00Z\""), 0, 0, "/: missing required property \"sku\""},
    {"promotion.allocated without qty", PA("\"sku\":\"A\",\"ends_at\":\"2024-05-02T00:00:00Z\""), 0, 0, "/: missing required property \"qty\""},
    {"promotion.allocated without ends_at", PA("\"sku\":\"A\",\"qty\":1"), 0, 0, "/: missing required property \"ends_at\""},
    {"promotion.allocated promo_id empty", "{" ID "," T("promotion.allocated") "," AT ",\"promo_id\":\"\",\"sku\":\"A\",\"qty\":1,\"ends_at\":\"2024-05-02T00:00:00Z\"}", 0, 0, "/promo_id: string shorter than minLength 1"},
    {"promotion.allocated promo_id 129 chars", "{" ID "," T("promotion.allocated") "," AT ",\"promo_id\":\"<<129:p>>\",\"sku\":\"A\",\"qty\":1,\"ends_at\":\"2024-05-02T00:00:00Z\"}", 0, 0, "/promo_id: string longer than maxLength 128"},
    {"promotion.allocated promo_id a number", "{" ID "," T("promotion.allocated") "," AT ",\"promo_id\":5,\"sku\":\"A\",\"qty\":1,\"ends_at\":\"2024-05-02T00:00:00Z\"}", 0, 0, "/promo_id: expected string, got integer 5"},
    {"promotion.allocated sku empty", PA("\"sku\":\"\",\"qty\":1,\"ends_at\":\"2024-05-02T00:00:00Z\""), 0, 0, "/sku: string shorter than minLength 1"},
    {"promotion.allocated sku 65 chars", PA("\"sku\":\"<<65:s>>\",\"qty\":1,\"ends_at\":\"2024-05-02T00:00:00Z\""), 0, 0, "/sku: string longer than maxLength 64"},
    {"promotion.allocated qty 0", PA("\"sku\":\"A\",\"qty\":0,\"ends_at\":\"2024-05-02T00:00:00Z\""), 0, 0, "schema promotion.allocated: /qty: 0 is less than minimum 1"},
    {"promotion.allocated qty -3", PA("\"sku\":\"A\",\"qty\":-3,\"ends_at\":\"2024-05-02T00:00:00Z\""), 0, 0, "/qty: -3 is less than minimum 1"},
    {"promotion.allocated qty 1.5", PA("\"sku\":\"A\",\"qty\":1.5,\"ends_at\":\"2024-05-02T00:00:00Z\""), 0, 0, "/qty: expected integer, got number 1.5"},
    {"promotion.allocated qty a string", PA("\"sku\":\"A\",\"qty\":\"5\",\"ends_at\":\"2024-05-02T00:00:00Z\""), 0, 0, "/qty: expected integer, got string"},
    {"promotion.allocated qty 1000000001", PA("\"sku\":\"A\",\"qty\":1000000001,\"ends_at\":\"2024-05-02T00:00:00Z\""), 0, 0, "/qty: 1000000001 is greater than maximum 1000000000"},
    {"promotion.allocated ends_at without zone", PA("\"sku\":\"A\",\"qty\":1,\"ends_at\":\"2024-05-02T00:00:00\""), 0, 0, "/ends_at: \"2024-05-02T00:00:00\" is not an RFC 3339 date-time"},
    {"promotion.allocated ends_at a date", PA("\"sku\":\"A\",\"qty\":1,\"ends_at\":\"2024-05-02\""), 0, 0, "/ends_at: \"2024-05-02\" is not an RFC 3339 date-time"},
    {"promotion.allocated ends_at a number", PA("\"sku\":\"A\",\"qty\":1,\"ends_at\":1714608000"), 0, 0, "/ends_at: expected string"},
    {"promotion.ended without promo_id", PE(""), 0, 0, "schema promotion.ended: /: missing required property \"promo_id\""},
    {"promotion.ended promo_id empty", PE(",\"promo_id\":\"\""), 0, 0, "/promo_id: string shorter than minLength 1"},
    {"promotion.ended promo_id 129 chars", PE(",\"promo_id\":\"<<129:p>>\""), 0, 0, "/promo_id: string longer than maxLength 128"},
    {"promotion.ended promo_id null", PE(",\"promo_id\":null"), 0, 0, "/promo_id: expected string, got null"},
    {"order.created promo_id empty", OCL(",\"promo_id\":\"\""), 0, 0, "schema order.created: /promo_id: string shorter than minLength 1"},
    {"order.created promo_id 129 chars", OCL(",\"promo_id\":\"<<129:p>>\""), 0, 0, "/promo_id: string longer than maxLength 128"},
    {"order.created promo_id a number", OCL(",\"promo_id\":7"), 0, 0, "/promo_id: expected string, got integer 7"},
    {"stock.received batch empty", SR("\"qty\":1,\"batch\":\"\""), 0, 0, "schema stock.received: /batch: string shorter than minLength 1"},
    {"stock.received batch 129 chars", SR("\"qty\":1,\"batch\":\"<<129:b>>\""), 0, 0, "/batch: string longer than maxLength 128"},
    {"stock.received batch a number", SR("\"qty\":1,\"batch\":42"), 0, 0, "/batch: expected string, got integer 42"},
    {"stock.received best_before 30 February", SR("\"qty\":1,\"best_before\":\"2024-02-30\""), 0, 0, "/best_before: \"2024-02-30\" is not an RFC 3339 full-date (YYYY-MM-DD)"},
    {"stock.received best_before 29 February 2023", SR("\"qty\":1,\"best_before\":\"2023-02-29\""), 0, 0, "/best_before: \"2023-02-29\" is not an RFC 3339 full-date"},
    {"stock.received best_before a date-time", SR("\"qty\":1,\"best_before\":\"2024-05-01T00:00:00Z\""), 0, 0, "/best_before: \"2024-05-01T00:00:00Z\" is not an RFC 3339 full-date"},
    {"stock.received best_before day first", SR("\"qty\":1,\"best_before\":\"01/05/2024\""), 0, 0, "/best_before:"},
    {"stock.received best_before a number", SR("\"qty\":1,\"best_before\":20240501"), 0, 0, "/best_before: expected string"},
};
/* clang-format on */

/* Expands the <<N:unit>> / <<N,unit>> repeats; caller frees. */
static char *expand(const char *in, size_t *len)
{
    size_t cap = 256 * 1024, o = 0;
    char *out = malloc(cap);
    const char *p = in;

    ck_assert(out != NULL);
    while (*p) {
        const char *end;
        char *num_end, sep;
        long n, i;
        if (strncmp(p, "<<", 2) != 0) {
            out[o++] = *p++;
            continue;
        }
        n = strtol(p + 2, &num_end, 10);
        sep = *num_end;
        end = strstr(num_end, ">>");
        ck_assert(end && (sep == ':' || sep == ','));
        for (i = 0; i < n; i++) {
            if (i && sep == ',')
                out[o++] = ',';
            ck_assert(o + (size_t)(end - num_end) < cap);
            memcpy(out + o, num_end + 1, (size_t)(end - num_end - 1));
            o += (size_t)(end - num_end - 1);
        }
        p = end + 2;
    }
    *len = o;
    return out;
}

static struct evt_validator *validator;

static void setup(void)
{
    char err[256];

    ck_assert_msg(evt_validator_new(&validator, err, sizeof(err)) == 0, "%s", err);
}

static void teardown(void)
{
    evt_validator_free(validator);
    validator = NULL;
}

START_TEST(table)
{
    const struct ecase *c = &cases[_i];
    size_t len = 0;
    char *buf = c->len ? malloc(c->len + EVT_MAX_BYTES + 2) : expand(c->json, &len);
    char err[512];
    struct evt e;
    int rc;

    if (c->len) {
        memcpy(buf, c->json, c->len);
        len = c->len;
    }
    if (c->pad_to) {
        ck_assert(len <= c->pad_to);
        memset(buf + len, ' ', c->pad_to - len);
        len = c->pad_to;
    }
    rc = evt_parse(validator, buf, len, &e, err, sizeof(err));
    free(buf);
    if (!c->err) {
        ck_assert_msg(rc == 0, "%s: rejected: %s", c->name, err);
        ck_assert_ptr_nonnull(e.event_id);
        evt_release(&e);
        return;
    }
    ck_assert_msg(rc == -1, "%s: accepted, expected \"%s\"", c->name, c->err);
    ck_assert_msg(strstr(err, c->err) != NULL, "%s: error \"%s\", expected \"%s\"", c->name, err,
                  c->err);
    ck_assert_msg(strchr(err, '\n') == NULL, "%s: error is not one line", c->name);
    ck_assert_ptr_null(e.priv_);
    ck_assert_ptr_null(e.lines);
}
END_TEST

static void parse_ok(const char *json, struct evt *e)
{
    char err[512];

    ck_assert_msg(evt_parse(validator, json, strlen(json), e, err, sizeof(err)) == 0, "%s", err);
}

START_TEST(order_created_fields)
{
    struct evt e;

    parse_ok("{\"event_id\":\"e-7\",\"type\":\"order.created\","
             "\"occurred_at\":\"2024-05-01T12:00:00.250+02:00\",\"order_id\":\"o-7\","
             "\"lines\":[{\"sku\":\"A\",\"qty\":2},{\"sku\":\"B\",\"qty\":1.0},{\"sku\":\"A\","
             "\"qty\":3}],"
             "\"hold_seconds\":3600,\"sku\":\"ignored\",\"reason\":\"ignored\"}",
             &e);
    ck_assert_int_eq(e.type, EVT_ORDER_CREATED);
    ck_assert_str_eq(e.type_name, "order.created");
    ck_assert_str_eq(e.event_id, "e-7");
    ck_assert_str_eq(e.occurred_at, "2024-05-01T12:00:00.250+02:00");
    ck_assert_int_eq(e.occurred_at_ms, 1714557600250LL); /* 10:00:00.250Z */
    ck_assert_str_eq(e.order_id, "o-7");
    ck_assert_int_eq(e.hold_seconds, 3600);
    ck_assert_ptr_null(e.sku);
    ck_assert_ptr_null(e.reason);
    ck_assert_uint_eq(e.n_lines, 3); /* as given: not summed */
    ck_assert_str_eq(e.lines[0].sku, "A");
    ck_assert_int_eq(e.lines[0].qty, 2);
    ck_assert_str_eq(e.lines[1].sku, "B");
    ck_assert_int_eq(e.lines[1].qty, 1);
    ck_assert_str_eq(e.lines[2].sku, "A");
    ck_assert_int_eq(e.lines[2].qty, 3);
    evt_release(&e);
    ck_assert_ptr_null(e.lines);
    evt_release(&e); /* twice is fine */
}
END_TEST

START_TEST(order_created_defaults)
{
    struct evt e;

    parse_ok(OCL(""), &e);
    ck_assert_int_eq(e.hold_seconds, 0);
    ck_assert_uint_eq(e.n_lines, 1);
    ck_assert_int_eq(e.occurred_at_ms, 1714564800000LL);
    evt_release(&e);
}
END_TEST

START_TEST(non_ascii_fields)
{
    struct evt e;

    parse_ok("{\"event_id\":\"\\u00e9v\\ud83d\\ude00\",\"type\":\"order.cancelled\"," AT
             ",\"order_id\":\"c\xC3\xA9\"}",
             &e);
    ck_assert_str_eq(e.event_id, "\xC3\xA9v\xF0\x9F\x98\x80");
    ck_assert_str_eq(e.order_id, "c\xC3\xA9");
    evt_release(&e);
}
END_TEST

START_TEST(stock_fields)
{
    struct evt e;

    parse_ok(SA("\"delta\":-7,\"reason\":\"cycle count\",\"order_id\":\"ignored\""), &e);
    ck_assert_int_eq(e.type, EVT_STOCK_ADJUSTED);
    ck_assert_str_eq(e.sku, "A");
    ck_assert_int_eq(e.delta, -7);
    ck_assert_str_eq(e.reason, "cycle count");
    ck_assert_ptr_null(e.order_id);
    evt_release(&e);
    parse_ok(SR("\"qty\":1e3"), &e);
    ck_assert_int_eq(e.type, EVT_STOCK_RECEIVED);
    ck_assert_int_eq(e.qty, 1000);
    ck_assert_ptr_null(e.reason);
    evt_release(&e);
    parse_ok(SA("\"delta\":-7,\"reason\":{\"code\":\"damaged\"}"), &e);
    ck_assert_int_eq(e.delta, -7);
    ck_assert_ptr_null(e.reason); /* not a string: applied without one */
    evt_release(&e);
}
END_TEST

START_TEST(payment_fields)
{
    struct evt e;

    parse_ok("{" ID "," T("payment.failed") "," AT ",\"order_id\":\"o-9\",\"reason\":\"declined\"}",
             &e);
    ck_assert_int_eq(e.type, EVT_PAYMENT_FAILED);
    ck_assert_str_eq(e.order_id, "o-9");
    ck_assert_str_eq(e.reason, "declined");
    evt_release(&e);
    parse_ok(PS(",\"amount\":12.5,\"currency\":\"EUR\""), &e);
    ck_assert_int_eq(e.type, EVT_PAYMENT_SUCCEEDED);
    ck_assert_str_eq(e.order_id, "o-1");
    ck_assert_ptr_null(e.sku);
    ck_assert_uint_eq(e.n_lines, 0);
    evt_release(&e);
}
END_TEST

START_TEST(sku_configured_fields)
{
    struct evt e;
    char args[EVT_ARGS_MAX];

    parse_ok(SC(",\"safety_stock\":3,\"hide_below\":0,\"unit_cost\":2.50,\"order_id\":\"x\""), &e);
    ck_assert_int_eq(e.type, EVT_SKU_CONFIGURED);
    ck_assert_str_eq(e.type_name, "sku.configured");
    ck_assert_str_eq(e.sku, "A");
    ck_assert_int_eq(e.safety_stock, 3);
    ck_assert_int_eq(e.low_stock_threshold, -1); /* absent: unchanged */
    ck_assert_int_eq(e.hide_below, 0);
    ck_assert_str_eq(e.unit_cost, "2.50"); /* as written */
    ck_assert_ptr_null(e.order_id);
    ck_assert_int_eq(evt_args_json(&e, args, sizeof(args)), 50);
    ck_assert_str_eq(args, "{\"safety_stock\":3,\"hide_below\":0,\"unit_cost\":2.50}");
    ck_assert_int_eq(evt_args_json(&e, args, 50), -1); /* no room for the NUL */
    evt_release(&e);
    parse_ok(SC(",\"low_stock_threshold\":1e3"), &e);
    ck_assert_int_eq(e.safety_stock, -1);
    ck_assert_int_eq(e.low_stock_threshold, 1000);
    ck_assert_ptr_null(e.unit_cost);
    evt_args_json(&e, args, sizeof(args));
    ck_assert_str_eq(args, "{\"low_stock_threshold\":1000}");
    evt_release(&e);
    parse_ok(SC(""), &e);
    ck_assert_int_eq(evt_args_json(&e, args, sizeof(args)), 2);
    ck_assert_str_eq(args, "{}");
    evt_release(&e);
    parse_ok(SR("\"qty\":1"), &e); /* other types: no settings */
    evt_args_json(&e, args, sizeof(args));
    ck_assert_str_eq(args, "{}");
    evt_release(&e);
}
END_TEST

/* A receipt's batch and best_before go to the apply functions as JSON
 * (024, the deadstock radar), the batch escaped. */
START_TEST(receipt_args)
{
    struct evt e;
    char args[EVT_ARGS_MAX];

    parse_ok(SR("\"qty\":1,\"batch\":\"L-7\",\"best_before\":\"2026-07-02\""), &e);
    ck_assert_int_eq(evt_args_json(&e, args, sizeof(args)), 42);
    ck_assert_str_eq(args, "{\"batch\":\"L-7\",\"best_before\":\"2026-07-02\"}");
    ck_assert_int_eq(evt_args_json(&e, args, 42), -1); /* no room for the NUL */
    evt_release(&e);
    parse_ok(SR("\"qty\":1,\"batch\":\"a\\\"b\\\\c\\u0001\""), &e);
    evt_args_json(&e, args, sizeof(args));
    ck_assert_str_eq(args, "{\"batch\":\"a\\\"b\\\\c\\u0001\"}");
    evt_release(&e);
}
END_TEST

START_TEST(promotion_fields)
{
    struct evt e;

    parse_ok(PAOK(",\"order_id\":\"x\""), &e);
    ck_assert_int_eq(e.type, EVT_PROMOTION_ALLOCATED);
    ck_assert_str_eq(e.promo_id, "p-1");
    ck_assert_str_eq(e.sku, "A");
    ck_assert_int_eq(e.qty, 5);
    ck_assert_str_eq(e.ends_at, "2024-05-02T00:00:00Z");
    ck_assert_int_eq(e.ends_at_ms, 1714608000000LL);
    ck_assert_ptr_null(e.order_id);
    evt_release(&e);
    parse_ok(PE(",\"promo_id\":\"p-2\",\"sku\":\"ignored\""), &e);
    ck_assert_int_eq(e.type, EVT_PROMOTION_ENDED);
    ck_assert_str_eq(e.promo_id, "p-2");
    ck_assert_ptr_null(e.sku); /* promotion.ended carries no sku */
    evt_release(&e);
    parse_ok(OCL(",\"promo_id\":\"p-3\""), &e);
    ck_assert_str_eq(e.promo_id, "p-3");
    ck_assert_str_eq(e.order_id, "o-1");
    evt_release(&e);
    parse_ok(OCL(""), &e);
    ck_assert_ptr_null(e.promo_id);
    evt_release(&e);
}
END_TEST

/* The promotion fields the apply functions take in the reason slot (023). */
START_TEST(promotion_args_json)
{
    struct evt e;
    char args[EVT_ARGS_MAX];

    parse_ok(PAOK(""), &e);
    ck_assert_int_eq(evt_args_json(&e, args, sizeof(args)), 45);
    ck_assert_str_eq(args, "{\"promo_id\":\"p-1\",\"ends_at_ms\":1714608000000}");
    ck_assert_int_eq(evt_args_json(&e, args, 45), -1); /* no room for the NUL */
    evt_release(&e);
    parse_ok(PE(",\"promo_id\":\"q\\\"\\\\\\u0001\u00e9\""), &e);
    evt_args_json(&e, args, sizeof(args));
    ck_assert_str_eq(args, "{\"promo_id\":\"q\\\"\\\\\\u0001\u00e9\"}"); /* escaped as JSON */
    evt_release(&e);
    parse_ok(OCL(",\"promo_id\":\"p-3\""), &e);
    evt_args_json(&e, args, sizeof(args));
    ck_assert_str_eq(args, "{\"promo_id\":\"p-3\"}");
    evt_release(&e);
    parse_ok(OCL(""), &e); /* a normal order: nothing */
    ck_assert_int_eq(evt_args_json(&e, args, sizeof(args)), 2);
    evt_release(&e);
}
END_TEST

START_TEST(receipt_batch_fields)
{
    struct evt e;

    parse_ok(SR("\"qty\":4,\"batch\":\"L-42\",\"best_before\":\"2024-02-29\""), &e);
    ck_assert_int_eq(e.qty, 4);
    ck_assert_str_eq(e.batch, "L-42");
    ck_assert_str_eq(e.best_before, "2024-02-29");
    evt_release(&e);
    parse_ok(SR("\"qty\":4"), &e);
    ck_assert_ptr_null(e.batch);
    ck_assert_ptr_null(e.best_before);
    evt_release(&e);
}
END_TEST

START_TEST(null_buffer_and_small_err)
{
    char err[24];
    struct evt e;
    const char *bad =
        "{\"event_id\":\"e\",\"type\":\"\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\"}";
    size_t i;

    ck_assert_int_eq(evt_parse(validator, NULL, 0, &e, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "invalid JSON: empty mes");
    /* a cut message never ends in half a UTF-8 sequence */
    ck_assert_int_eq(evt_parse(validator, bad, strlen(bad), &e, err, sizeof(err)), -1);
    ck_assert_msg(strncmp(err, "unknown type: \"", 15) == 0, "%s", err);
    for (i = 15; err[i]; i += 2)
        ck_assert_msg((unsigned char)err[i] == 0xC3 && (unsigned char)err[i + 1] == 0xA9, "%s",
                      err);
    ck_assert_int_eq(evt_parse(validator, bad, strlen(bad), &e, NULL, 0), -1);
}
END_TEST

/* evt_release frees and zeroes (evt.h): a released evt is all zero bytes,
 * and releasing it again, a zeroed one or NULL does nothing (a double free
 * would abort under ASan or valgrind). */
START_TEST(release_zeroed)
{
    struct evt e, zero;
    char err[256];

    memset(&zero, 0, sizeof(zero));
    ck_assert_msg(evt_parse(validator, RAW(OCL("")), &e, err, sizeof(err)) == 0, "%s", err);
    ck_assert_ptr_nonnull(e.event_id);
    evt_release(&e);
    ck_assert_mem_eq(&e, &zero, sizeof(e));
    evt_release(&e);
    ck_assert_mem_eq(&e, &zero, sizeof(e));
    evt_release(NULL);
    evt_validator_free(NULL);
}
END_TEST

START_TEST(rfc3339)
{
    long long ms = 42;

    ck_assert_int_eq(evt_rfc3339_ms("1970-01-01T00:00:00Z", &ms), 0);
    ck_assert_int_eq(ms, 0);
    ck_assert_int_eq(evt_rfc3339_ms("1970-01-01T01:30:00+01:30", &ms), 0);
    ck_assert_int_eq(ms, 0);
    ck_assert_int_eq(evt_rfc3339_ms("1969-12-31T23:59:59.999Z", &ms), 0);
    ck_assert_int_eq(ms, -1);
    ck_assert_int_eq(evt_rfc3339_ms("1969-12-31t19:00:00.0009-05:00", &ms), 0);
    ck_assert_int_eq(ms, 0);
    ck_assert_int_eq(evt_rfc3339_ms("2000-02-29T00:00:00z", &ms), 0);
    ck_assert_int_eq(ms, 951782400000LL);
    ck_assert_int_eq(evt_rfc3339_ms("2016-12-31T23:59:60Z", &ms), 0);
    ck_assert_int_eq(ms, 1483228800000LL); /* a leap second counts as the next second */
    ck_assert_int_eq(evt_rfc3339_ms("0001-01-01T00:00:00Z", &ms), 0);
    ck_assert_int_eq(ms, -62135596800000LL);
    ck_assert_int_eq(evt_rfc3339_ms("9999-12-31T23:59:59.999-23:59", &ms), 0);
    ck_assert_int_eq(ms, 253402387139999LL);
    ck_assert_int_eq(evt_rfc3339_ms("2024-05-01T12:00:00", &ms), -1);
    ck_assert_int_eq(evt_rfc3339_ms("2024-13-01T12:00:00Z", &ms), -1);
    ck_assert_int_eq(evt_rfc3339_ms("2023-02-29T12:00:00Z", &ms), -1);
    ck_assert_int_eq(evt_rfc3339_ms("2024-05-01T12:00:00+01:00x", &ms), -1);
    ck_assert_int_eq(evt_rfc3339_ms("", &ms), -1);
}
END_TEST

START_TEST(type_names)
{
    int t;

    for (t = 0; t < EVT__COUNT; t++)
        ck_assert_ptr_nonnull(strchr(evt_type_name((enum evt_type)t), '.'));
    ck_assert_str_eq(evt_type_name(EVT_STOCK_ADJUSTED), "stock.adjusted");
    ck_assert_str_eq(evt_type_name(EVT__COUNT), "unknown");
}
END_TEST

START_TEST(embedded_schemas)
{
    size_t n, i;
    const struct evt_schema_src *src = evt_schema_sources(&n);

    ck_assert_uint_eq(n, EVT__COUNT);
    for (i = 0; i < n; i++)
        ck_assert_ptr_nonnull(strstr(src[i].text, "draft-07"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("evt");
    TCase *tc = tcase_create("evt");
    SRunner *sr;
    int failures;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, table, 0, (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_test(tc, order_created_fields);
    tcase_add_test(tc, order_created_defaults);
    tcase_add_test(tc, non_ascii_fields);
    tcase_add_test(tc, stock_fields);
    tcase_add_test(tc, payment_fields);
    tcase_add_test(tc, sku_configured_fields);
    tcase_add_test(tc, receipt_args);
    tcase_add_test(tc, promotion_fields);
    tcase_add_test(tc, promotion_args_json);
    tcase_add_test(tc, receipt_batch_fields);
    tcase_add_test(tc, null_buffer_and_small_err);
    tcase_add_test(tc, release_zeroed);
    tcase_add_test(tc, rfc3339);
    tcase_add_test(tc, type_names);
    tcase_add_test(tc, embedded_schemas);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    printf("evt: %zu table cases\n", sizeof(cases) / sizeof(cases[0]));
    return failures == 0 ? 0 : 1;
}
