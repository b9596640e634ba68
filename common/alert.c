#include "alert.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#define MAX_HEADERS 64 /* headers of a dead letter looked at */

/* ---- classification and timing ------------------------------------------ */

enum alert_class alert_classify(int curl_code, long http_status)
{
    if (curl_code != 0)
        return ALERT_RETRY;
    if (http_status >= 200 && http_status < 300)
        return ALERT_DELIVERED;
    if (http_status == 408 || http_status == 429)
        return ALERT_RETRY;
    if (http_status >= 400 && http_status < 500)
        return ALERT_PERMANENT;
    return ALERT_RETRY; /* 5xx, and 1xx/3xx/garbage: never drop an alert for them */
}

const char *alert_class_name(enum alert_class c)
{
    switch (c) {
    case ALERT_DELIVERED:
        return "delivered";
    case ALERT_RETRY:
        return "retry";
    case ALERT_PERMANENT:
        return "permanent";
    }
    return "?";
}

long alert_retry_after_ms(const char *value, time_t now, long cap_ms)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t n = strlen(value);
    while (n > 0 && isspace((unsigned char)value[n - 1]))
        n--;
    if (n == 0)
        return -1;
    size_t digits = strspn(value, "0123456789");
    if (digits == n) {
        long long s = 0;
        for (size_t i = 0; i < n && s <= cap_ms / 1000 + 1; i++)
            s = s * 10 + (value[i] - '0');
        return s * 1000 >= cap_ms ? cap_ms : (long)(s * 1000);
    }
    if (!isalpha((unsigned char)value[0])) /* "5s", "-1", "1.5": not a Retry-After */
        return -1;
    char date[64];
    snprintf(date, sizeof(date), "%.*s", (int)(n < 63 ? n : 63), value);
    time_t t = curl_getdate(date, NULL);
    if (t == (time_t)-1)
        return -1;
    if (t <= now)
        return 0;
    return (t - now) >= cap_ms / 1000 ? cap_ms : (long)(t - now) * 1000;
}

long alert_backoff_ms(int attempt)
{
    long ms = ALERT_BACKOFF_MIN_MS;
    for (int i = 1; i < attempt && ms < ALERT_BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms > ALERT_BACKOFF_MAX_MS ? ALERT_BACKOFF_MAX_MS : ms;
}

long alert_retry_delay_ms(long retry_after_ms, int attempt)
{
    if (retry_after_ms < 0)
        return alert_backoff_ms(attempt);
    return retry_after_ms < ALERT_BACKOFF_MIN_MS ? ALERT_BACKOFF_MIN_MS : retry_after_ms;
}

/* ---- UTF-8 -------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at p (Unicode Table 3-7), given
 * n bytes; 0 if ill-formed, -1 if a well-formed start is cut by n. */
static int utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xBF;
    int need;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        lo = c == 0xE0 ? 0xA0 : 0x80; /* no overlong forms */
        hi = c == 0xED ? 0x9F : 0xBF; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF; /* at most U+10FFFF */
    } else {
        return 0;
    }
    for (int i = 1; i <= need; i++) {
        if ((size_t)i >= n)
            return -1;
        if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xBF))
            return 0;
    }
    return need + 1;
}

int alert_utf8_copy(const void *in, size_t len, size_t max_in, char **out, size_t *outlen,
                    int *truncated)
{
    const unsigned char *p = in;
    size_t n = len < max_in ? len : max_in, i = 0, k = 0;
    char *o = malloc(3 * n + 1);
    if (!o)
        return -1;
    while (i < n) {
        int s = utf8_seq(p + i, n - i);
        if (s < 0 && n < len && utf8_seq(p + i, len - i) > 0)
            break; /* a whole character cut by max_in: left out */
        if (s > 0) {
            memcpy(o + k, p + i, (size_t)s);
            k += (size_t)s;
            i += (size_t)s;
        } else {
            memcpy(o + k, "\xEF\xBF\xBD", 3); /* U+FFFD REPLACEMENT CHARACTER */
            k += 3;
            i++;
        }
    }
    o[k] = '\0';
    *out = o;
    if (outlen)
        *outlen = k;
    if (truncated)
        *truncated = len > max_in;
    return 0;
}

/* Cuts s (valid UTF-8 but maybe cut mid-character at the end) to its
 * longest well-formed prefix and turns control characters into spaces. */
static void one_line(char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n) {
        int k = utf8_seq((const unsigned char *)s + i, n - i);
        if (k <= 0)
            break;
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            s[i] = ' ';
        i += (size_t)k;
    }
    s[i] = '\0';
}

void alert_rfc3339(int64_t epoch_ms, char *out, size_t outlen)
{
    time_t t = (time_t)(epoch_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(epoch_ms % 1000));
}

/* ---- the dead-letter alert ---------------------------------------------- */

/* Emits a string; bytes are made valid UTF-8 first. Returns 0 or -1. */
static int gen_bytes(yajl_gen g, const void *p, size_t len, size_t max, int *truncated)
{
    char *s;
    size_t n;
    if (alert_utf8_copy(p ? p : "", p ? len : 0, max, &s, &n, truncated))
        return -1;
    int rc = yajl_gen_string(g, (const unsigned char *)s, n) == yajl_gen_status_ok ? 0 : -1;
    free(s);
    return rc;
}

static int gen_str(yajl_gen g, const char *s)
{
    return yajl_gen_string(g, (const unsigned char *)s, strlen(s)) == yajl_gen_status_ok ? 0 : -1;
}

/* The header that counts for `name`: the last one of that name. */
static const struct alert_header *last_header(const struct alert_dead_letter *d, const char *name)
{
    const struct alert_header *h = NULL;
    for (size_t i = 0; i < d->nheaders && i < MAX_HEADERS; i++)
        if (strcmp(d->headers[i].name, name) == 0)
            h = &d->headers[i];
    return h;
}

/* Copies header `name` as valid UTF-8, at most max bytes of it, or def. */
static void header_text(const struct alert_dead_letter *d, const char *name, size_t max,
                        const char *def, char *out, size_t outlen)
{
    const struct alert_header *h = last_header(d, name);
    char *s = NULL;
    if (h && h->size > 0 && alert_utf8_copy(h->value, h->size, max, &s, NULL, NULL) == 0) {
        snprintf(out, outlen, "%s", s);
        free(s);
        return;
    }
    free(s);
    snprintf(out, outlen, "%s", def);
}

static void dead_letter_summary(const struct alert_dead_letter *d, char *out, size_t outlen)
{
    char def[256], src[256], cls[64], why[400];
    size_t tl = strlen(d->topic);
    if (tl > 4 && strcmp(d->topic + tl - 4, ".dlq") == 0)
        tl -= 4; /* no x-original-topic: the DLQ's source topic */
    snprintf(def, sizeof(def), "%.*s", (int)tl, d->topic);
    header_text(d, "x-original-topic", 200, def, src, sizeof(src));
    header_text(d, "x-error-class", 40, "unknown class", cls, sizeof(cls));
    header_text(d, "x-error", 300, "no x-error header", why, sizeof(why));
    snprintf(out, outlen, "dead letter from %s (%s): %s", src, cls, why);
    one_line(out);
}

static int gen_details(yajl_gen g, const struct alert_dead_letter *d)
{
    int bad = yajl_gen_map_open(g) != yajl_gen_status_ok, trunc = 0;
    for (size_t i = 0; i < d->nheaders && i < MAX_HEADERS && !bad; i++) {
        const struct alert_header *h = &d->headers[i];
        if (strncmp(h->name, "x-", 2) != 0 || last_header(d, h->name) != h)
            continue;
        bad |= gen_bytes(g, h->name, strlen(h->name), 256, NULL); /* names are bytes too */
        bad |= gen_bytes(g, h->value, h->size, ALERT_PAYLOAD_MAX, NULL);
    }
    bad |= gen_str(g, "key");
    if (d->key)
        bad |= gen_bytes(g, d->key, d->key_len, ALERT_PAYLOAD_MAX, NULL);
    else
        bad |= yajl_gen_null(g) != yajl_gen_status_ok;
    if (!d->omit_payload) {
        bad |= gen_str(g, "payload");
        bad |= gen_bytes(g, d->payload, d->len, ALERT_PAYLOAD_MAX, &trunc);
    }
    bad |= gen_str(g, "payload_bytes");
    bad |= yajl_gen_integer(g, (long long)d->len) != yajl_gen_status_ok;
    if (!d->omit_payload) {
        bad |= gen_str(g, "truncated");
        bad |= yajl_gen_bool(g, trunc) != yajl_gen_status_ok;
    }
    bad |= yajl_gen_map_close(g) != yajl_gen_status_ok;
    return bad ? -1 : 0;
}

int alert_dead_letter_json(const struct alert_dead_letter *d, char **out, size_t *outlen, char *id,
                           char *summary, size_t summarylen, char *err, size_t errlen)
{
    char when[40];
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g)
        return snprintf(err, errlen, "out of memory"), -1;
    yajl_gen_config(g, yajl_gen_validate_utf8, 1);
    snprintf(id, ALERT_ID_MAX + 1, "dlq:%s:%d:%lld", d->topic, (int)d->partition,
             (long long)d->offset);
    dead_letter_summary(d, summary, summarylen);
    alert_rfc3339(d->now_ms, when, sizeof(when));
    int bad = yajl_gen_map_open(g) != yajl_gen_status_ok;
    const char *const kv[][2] = {
        {"alert_id", id},     {"kind", "dead_letter"}, {"severity", "error"},
        {"summary", summary}, {"occurred_at", when},
    };
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]) && !bad; i++)
        bad |= gen_str(g, kv[i][0]) | gen_str(g, kv[i][1]);
    bad |= gen_str(g, "details");
    bad = bad || gen_details(g, d);
    bad = bad || yajl_gen_map_close(g) != yajl_gen_status_ok;
    const unsigned char *buf;
    size_t len;
    if (bad || yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok || !(*out = malloc(len + 1))) {
        yajl_gen_free(g);
        return snprintf(err, errlen, "cannot build the alert of %s", id), -1;
    }
    memcpy(*out, buf, len);
    (*out)[len] = '\0';
    *outlen = len;
    yajl_gen_free(g);
    return 0;
}

/* ---- checking a record of inventory.alerts -------------------------------- */

enum want { W_OTHER = 0, W_ID, W_SUMMARY };

struct parse_st {
    int depth, top_map, id_state; /* id_state: 0 absent, 1 ok, 2 not a string, 3 bad chars */
    enum want want;
    char *id, *summary;
    size_t summarylen;
};

static void on_value(struct parse_st *st, int is_string)
{
    if (st->depth == 0 && !is_string)
        st->top_map = 0;
    if (st->depth == 1 && st->want == W_ID && !is_string)
        st->id_state = 2;
    if (st->depth == 1)
        st->want = W_OTHER;
}

static int cb_scalar(void *ctx)
{
    on_value(ctx, 0);
    return 1;
}
static int cb_bool(void *ctx, int b)
{
    (void)b;
    return cb_scalar(ctx);
}
static int cb_number(void *ctx, const char *s, size_t n)
{
    (void)s, (void)n;
    return cb_scalar(ctx);
}

static int cb_string(void *ctx, const unsigned char *s, size_t n)
{
    struct parse_st *st = ctx;
    if (st->depth == 1 && st->want == W_ID) {
        st->id_state = (n > 0 && n <= ALERT_ID_MAX) ? 1 : 3;
        for (size_t i = 0; i < n && st->id_state == 1; i++)
            if (s[i] < 0x20 || s[i] > 0x7e)
                st->id_state = 3;
        if (st->id_state == 1)
            snprintf(st->id, ALERT_ID_MAX + 1, "%.*s", (int)n, (const char *)s);
    } else if (st->depth == 1 && st->want == W_SUMMARY) {
        snprintf(st->summary, st->summarylen, "%.*s", (int)(n < 65536 ? n : 65536),
                 (const char *)s);
        one_line(st->summary);
    }
    on_value(st, 1);
    if (st->depth == 0)
        st->top_map = 0;
    return 1;
}

static int cb_open(void *ctx, int is_map)
{
    struct parse_st *st = ctx;
    if (st->depth == 0)
        st->top_map = is_map;
    else
        on_value(st, 0);
    st->depth++;
    return 1;
}
static int cb_start_map(void *ctx)
{
    return cb_open(ctx, 1);
}
static int cb_start_array(void *ctx)
{
    return cb_open(ctx, 0);
}
static int cb_close(void *ctx)
{
    ((struct parse_st *)ctx)->depth--;
    return 1;
}

static int cb_key(void *ctx, const unsigned char *k, size_t n)
{
    struct parse_st *st = ctx;
    if (st->depth == 1)
        st->want = (n == 8 && !memcmp(k, "alert_id", 8))  ? W_ID
                   : (n == 7 && !memcmp(k, "summary", 7)) ? W_SUMMARY
                                                          : W_OTHER;
    return 1;
}

static const yajl_callbacks parse_cbs = {
    .yajl_null = cb_scalar,
    .yajl_boolean = cb_bool,
    .yajl_number = cb_number, /* every number, so integer/double stay NULL */
    .yajl_string = cb_string,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_key,
    .yajl_end_map = cb_close,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_close,
};

static int syntax_error(yajl_handle h, const void *buf, size_t len, char *err, size_t errlen)
{
    unsigned char *e = yajl_get_error(h, 0, buf, len);
    char what[200];
    snprintf(what, sizeof(what), "%s", e ? (const char *)e : "parse error");
    if (e)
        yajl_free_error(h, e);
    size_t n = strlen(what);
    while (n > 0 && (isspace((unsigned char)what[n - 1]) || what[n - 1] == '.'))
        what[--n] = '\0';
    snprintf(err, errlen, "not JSON: %s (near byte %zu)", what, yajl_get_bytes_consumed(h));
    one_line(err);
    return -1;
}

int alert_parse(const void *buf, size_t len, char *id, char *summary, size_t summarylen, char *err,
                size_t errlen)
{
    struct parse_st st = {.id = id, .summary = summary, .summarylen = summarylen};
    id[0] = summary[0] = '\0';
    if (len > ALERT_BODY_MAX)
        return snprintf(err, errlen, "alert of %zu bytes, more than %d", len, ALERT_BODY_MAX), -1;
    yajl_handle h = yajl_alloc(&parse_cbs, NULL, &st);
    if (!h)
        return snprintf(err, errlen, "out of memory"), -1;
    int rc = 0;
    if (yajl_parse(h, buf ? buf : (const void *)"", len) != yajl_status_ok ||
        yajl_complete_parse(h) != yajl_status_ok)
        rc = syntax_error(h, buf, len, err, errlen);
    else if (!st.top_map)
        rc = -1, snprintf(err, errlen, "an alert must be a JSON object");
    else if (st.id_state != 1)
        rc = -1, snprintf(err, errlen, "%s",
                          st.id_state == 0   ? "no alert_id"
                          : st.id_state == 2 ? "alert_id is not a string"
                                             : "alert_id must be 1..320 printable ASCII "
                                               "characters");
    yajl_free(h);
    if (rc)
        id[0] = summary[0] = '\0';
    return rc;
}

/* ---- delivery ----------------------------------------------------------- */

int alert_signature(const char *secret, int64_t t, const void *body, size_t len, char *out,
                    size_t outlen)
{
    char pre[32];
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t mdlen = 0;
    int n = snprintf(pre, sizeof(pre), "%lld.", (long long)t);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    int ok = ctx && EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) &&
             EVP_MAC_update(ctx, (const unsigned char *)pre, (size_t)n) &&
             EVP_MAC_update(ctx, body, len) && EVP_MAC_final(ctx, md, &mdlen, sizeof(md)) &&
             mdlen == 32;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    if (!ok || outlen < (size_t)n + 5 + 2 * mdlen + 1)
        return -1;
    size_t k = (size_t)snprintf(out, outlen, "t=%lld,v1=", (long long)t);
    for (size_t i = 0; i < mdlen; i++, k += 2)
        snprintf(out + k, outlen - k, "%02x", md[i]);
    return 0;
}

struct alert_http {
    char *secret, *authorization; /* NULL when not configured */
    CURL *curl;
    volatile sig_atomic_t *stop;
    char errbuf[CURL_ERROR_SIZE];
    char body[256]; /* start of the response body */
    size_t body_n;
    char retry_after[64];
    int has_retry_after;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct alert_http *h = ud;
    size_t n = size * nmemb, room = sizeof(h->body) - 1 - h->body_n;
    memcpy(h->body + h->body_n, p, n < room ? n : room);
    h->body_n += n < room ? n : room;
    h->body[h->body_n] = '\0';
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    struct alert_http *h = ud;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) /* a new response: forget the last one's */
        h->has_retry_after = 0;
    if (n > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        size_t vlen = n - 12 < sizeof(h->retry_after) - 1 ? n - 12 : sizeof(h->retry_after) - 1;
        memcpy(h->retry_after, p + 12, vlen);
        h->retry_after[vlen] = '\0';
        h->has_retry_after = 1;
    }
    return n;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    struct alert_http *h = ud;
    (void)a, (void)b, (void)c, (void)d;
    return h->stop && *h->stop ? 1 : 0; /* non-zero aborts the transfer */
}

#define SETOPT(opt, val) bad |= curl_easy_setopt(h->curl, opt, val) != CURLE_OK

static int http_setup(struct alert_http *h, const char *url)
{
    int bad = 0;
    SETOPT(CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SETOPT(CURLOPT_POST, 1L);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)ALERT_CONNECT_TIMEOUT_MS);
    SETOPT(CURLOPT_TIMEOUT_MS, (long)ALERT_TOTAL_TIMEOUT_MS);
    SETOPT(CURLOPT_SSL_VERIFYPEER, 1L); /* never turned off */
    SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_USERAGENT, "stockflow-alert-worker/" STOCKFLOW_VERSION);
    SETOPT(CURLOPT_ERRORBUFFER, h->errbuf);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, h);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, h);
    SETOPT(CURLOPT_XFERINFOFUNCTION, on_progress);
    SETOPT(CURLOPT_XFERINFODATA, h);
    SETOPT(CURLOPT_NOPROGRESS, 0L);
    return bad ? -1 : 0;
}

int alert_http_new(struct alert_http **out, const char *url, const struct alert_http_opts *opts,
                   volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    *out = NULL;
    if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
        return snprintf(err, errlen, "webhook URL must be http:// or https://"), -EINVAL;
    struct alert_http *h = calloc(1, sizeof(*h));
    if (!h || !(h->curl = curl_easy_init())) {
        free(h);
        return snprintf(err, errlen, "out of memory"), -ENOMEM;
    }
    h->stop = stop;
    if (opts && opts->secret && *opts->secret && !(h->secret = strdup(opts->secret))) {
        alert_http_free(h);
        return snprintf(err, errlen, "out of memory"), -ENOMEM;
    }
    if (opts && opts->authorization && *opts->authorization &&
        !(h->authorization = strdup(opts->authorization))) {
        alert_http_free(h);
        return snprintf(err, errlen, "out of memory"), -ENOMEM;
    }
    if (http_setup(h, url)) {
        alert_http_free(h);
        return snprintf(err, errlen, "libcurl refused the webhook options"), -EINVAL;
    }
    *out = h;
    return 0;
}

static void fill_result(struct alert_http *h, CURLcode code, struct alert_result *r)
{
    r->curl_code = (int)code;
    r->status = 0;
    r->retry_after_ms = -1;
    if (code == CURLE_OK) {
        curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &r->status);
        if (h->has_retry_after)
            r->retry_after_ms =
                alert_retry_after_ms(h->retry_after, time(NULL), ALERT_RETRY_AFTER_MAX_MS);
        char *s = NULL;
        if (alert_utf8_copy(h->body, h->body_n, sizeof(r->detail) - 1, &s, NULL, NULL) == 0)
            snprintf(r->detail, sizeof(r->detail), "%s", s);
        free(s);
    } else if (code == CURLE_ABORTED_BY_CALLBACK) {
        snprintf(r->detail, sizeof(r->detail), "aborted: stopping");
    } else {
        snprintf(r->detail, sizeof(r->detail), "%s",
                 h->errbuf[0] ? h->errbuf : curl_easy_strerror(code));
    }
    one_line(r->detail);
    r->cls = alert_classify(r->curl_code, r->status);
}

void alert_http_post(struct alert_http *h, const char *id, const char *body, size_t len,
                     struct alert_result *r)
{
    char idh[ALERT_ID_MAX + 32], sig[160] = "", auth[1100] = "";
    struct curl_slist *hdrs = NULL, *t;
    snprintf(idh, sizeof(idh), "Idempotency-Key: %s", id);
    if (h->secret) {
        char v[128];
        if (alert_signature(h->secret, (int64_t)time(NULL), body, len, v, sizeof(v)) == 0)
            snprintf(sig, sizeof(sig), "X-Stockflow-Signature: %s", v);
        else
            snprintf(sig, sizeof(sig), "X-Stockflow-Signature-Error: signing failed");
    }
    if (h->authorization)
        snprintf(auth, sizeof(auth), "Authorization: %s", h->authorization);
    const char *const lines[] = {"Content-Type: application/json", "Accept: application/json",
                                 "Expect:", idh, sig, auth};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (!lines[i][0])
            continue;
        if (!(t = curl_slist_append(hdrs, lines[i]))) {
            curl_slist_free_all(hdrs);
            *r = (struct alert_result){.cls = ALERT_RETRY,
                                       .curl_code = CURLE_OUT_OF_MEMORY,
                                       .retry_after_ms = -1,
                                       .detail = "out of memory"};
            return;
        }
        hdrs = t;
    }
    h->errbuf[0] = h->body[0] = '\0';
    h->body_n = 0;
    h->has_retry_after = 0;
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    CURLcode code = curl_easy_perform(h->curl);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    fill_result(h, code, r);
}

void alert_http_free(struct alert_http *h)
{
    if (!h)
        return;
    if (h->curl)
        curl_easy_cleanup(h->curl);
    if (h->secret)
        OPENSSL_cleanse(h->secret, strlen(h->secret));
    free(h->secret);
    free(h->authorization);
    free(h);
}
