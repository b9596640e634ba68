/* alert: the alert webhook (DESIGN §6): alert bodies and their delivery.
 *
 * Pure parts, unit-tested without a network:
 *   - alert_classify / alert_retry_after_ms / alert_backoff_ms /
 *     alert_retry_delay_ms: what an HTTP answer means and when to try again;
 *   - alert_dead_letter_json: the alert raised for one dead letter;
 *   - alert_parse: checks a record of inventory.alerts is an alert.
 * I/O: alert_http_* POSTs one alert with libcurl (one easy handle kept for
 * keep-alive, connect and total timeouts, TLS verification on).
 *
 * The process calls curl_global_init once before alert_http_new. */
#ifndef STOCKFLOW_ALERT_H
#define STOCKFLOW_ALERT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define ALERT_PAYLOAD_MAX 4096          /* bytes of a dead letter's value copied into details */
#define ALERT_ID_MAX 320                /* longest alert_id (it becomes a header); buffers + 1 */
#define ALERT_BODY_MAX (256 * 1024)     /* largest alert record POSTed */
#define ALERT_BACKOFF_MIN_MS 500        /* first retry */
#define ALERT_BACKOFF_MAX_MS 30000      /* cap of the exponential backoff */
#define ALERT_RETRY_AFTER_MAX_MS 120000 /* cap of a webhook's Retry-After */
#define ALERT_CONNECT_TIMEOUT_MS 3000
#define ALERT_TOTAL_TIMEOUT_MS 10000

/* ---- classification and timing (pure) ---------------------------------- */

enum alert_class {
    ALERT_DELIVERED = 0, /* 2xx */
    ALERT_RETRY,         /* network error, 408, 429, 5xx, anything unexpected */
    ALERT_PERMANENT,     /* any other 4xx: this alert will never be accepted */
};

/* What one attempt gave: curl_code (CURLcode, 0 when the exchange completed)
 * and the HTTP status. A transport error always retries; so do 1xx and 3xx
 * (redirects are not followed: a misconfigured URL delays alerts, it does
 * not drop them). */
enum alert_class alert_classify(int curl_code, long http_status);

/* "delivered", "retry", "permanent". */
const char *alert_class_name(enum alert_class c);

/* Parses a Retry-After value: delay-seconds ("120") or an HTTP-date, relative
 * to now. Returns the delay in ms, capped at cap_ms (0 for a date already
 * past), or -1 when value is NULL, empty or unreadable. */
long alert_retry_after_ms(const char *value, time_t now, long cap_ms);

/* Backoff before retry number `attempt` (1 = first retry): 500 ms doubled
 * per attempt, at most ALERT_BACKOFF_MAX_MS. attempt < 1 counts as 1. */
long alert_backoff_ms(int attempt);

/* Delay before the next attempt after a retryable failure: the webhook's
 * Retry-After when it sent one (retry_after_ms >= 0, at least
 * ALERT_BACKOFF_MIN_MS), else alert_backoff_ms(attempt). */
long alert_retry_delay_ms(long retry_after_ms, int attempt);

/* ---- alert bodies (pure) ------------------------------------------------ */

/* Formats epoch milliseconds as RFC 3339 UTC, "2024-05-01T12:00:00.123Z". */
void alert_rfc3339(int64_t epoch_ms, char *out, size_t outlen);

/* Copies at most max_in bytes of in as valid UTF-8 into out (caller frees):
 * every byte that is not part of a well-formed UTF-8 sequence becomes
 * U+FFFD; a character cut by max_in is left out. *truncated is set when
 * len > max_in. Returns 0, or -1 when out of memory. */
int alert_utf8_copy(const void *in, size_t len, size_t max_in, char **out, size_t *outlen,
                    int *truncated);

struct alert_header {
    const char *name;  /* NUL-terminated */
    const void *value; /* may be NULL */
    size_t size;
};

/* A dead letter as read from a .dlq topic; every pointer borrowed. */
struct alert_dead_letter {
    const char *topic; /* the .dlq topic it was read from */
    int32_t partition;
    int64_t offset;
    const void *key; /* NULL: no key */
    size_t key_len;
    const void *payload;
    size_t len;
    const struct alert_header *headers; /* in record order */
    size_t nheaders;
    int64_t now_ms; /* becomes occurred_at */
    int omit_payload; /* ALERT_INCLUDE_PAYLOAD=false: no "payload" nor "truncated" */
};

/* Builds the alert of one dead letter:
 *   {"alert_id":"dlq:<topic>:<partition>:<offset>","kind":"dead_letter",
 *    "severity":"error","summary":"<original topic> (<class>): <x-error>",
 *    "occurred_at":"<now>","details":{<every x-* header>,"key":...,
 *    "payload":"<first 4 KiB>","payload_bytes":N,"truncated":bool}}
 * ("payload" and "truncated" left out when d->omit_payload).
 * Header values, key and payload are made valid UTF-8 (alert_utf8_copy); a
 * header name seen twice keeps its last value. On success *out (caller
 * frees, NUL-terminated) holds the JSON, id (ALERT_ID_MAX + 1 bytes) the
 * alert_id and summary the summary line. Returns 0, or -1 with one line in err. */
int alert_dead_letter_json(const struct alert_dead_letter *d, char **out, size_t *outlen, char *id,
                           char *summary, size_t summarylen, char *err, size_t errlen);

/* Checks that buf is one strict JSON object (no comments, nothing after it,
 * valid UTF-8) whose "alert_id" is a string of 1..ALERT_ID_MAX printable
 * ASCII characters. Fills id (ALERT_ID_MAX + 1 bytes) and summary (its
 * "summary" member, "" when absent or not a string, cut to fit). Returns 0,
 * or -1 with the reason in err. */
int alert_parse(const void *buf, size_t len, char *id, char *summary, size_t summarylen, char *err,
                size_t errlen);

/* ---- delivery (libcurl) ------------------------------------------------- */

struct alert_http;

/* The outcome of one POST. */
struct alert_result {
    enum alert_class cls;
    int curl_code;       /* CURLcode; 0 when an HTTP answer came back */
    long status;         /* HTTP status, 0 without an answer */
    long retry_after_ms; /* parsed Retry-After, -1 without one */
    char detail[320];    /* one line: the curl error, or the start of the response body */
};

/* Signature of one webhook request (ALERT_WEBHOOK_SECRET): writes
 * "t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>" (64 lowercase hex
 * digits) into out. The receiver recomputes it over the raw body and the t
 * it was given, compares in constant time, and rejects a t outside its
 * replay window. Returns 0, or -1 (libcrypto failure, out too small). */
int alert_signature(const char *secret, int64_t t, const void *body, size_t len, char *out,
                    size_t outlen);

/* Optional headers of every request; strings copied by alert_http_new. */
struct alert_http_opts {
    const char *secret;        /* NULL or "": unsigned; else X-Stockflow-Signature */
    const char *authorization; /* NULL or "": none; else the Authorization value */
};

/* Prepares delivery to url (http:// or https://). opts may be NULL. stop,
 * when not NULL, is checked during a transfer: once it is non-zero the
 * attempt is abandoned (ALERT_RETRY, "aborted"). Returns 0 or -ENOMEM /
 * -EINVAL with err. */
int alert_http_new(struct alert_http **out, const char *url, const struct alert_http_opts *opts,
                   volatile sig_atomic_t *stop, char *err, size_t errlen);

/* POSTs body (len bytes, application/json) with "Idempotency-Key: id"
 * (and, as configured, "X-Stockflow-Signature: t=<now>,v1=..." signed at
 * each attempt, and "Authorization") and fills r. Blocks for
 * ALERT_TOTAL_TIMEOUT_MS at most. */
void alert_http_post(struct alert_http *h, const char *id, const char *body, size_t len,
                     struct alert_result *r);

/* Closes the connection and frees h. alert_http_free(NULL) does nothing. */
void alert_http_free(struct alert_http *h);

#endif
