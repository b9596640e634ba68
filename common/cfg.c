#include "cfg.h"

#include "log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum cfg_type {
    T_ADDR,
    T_LONG,
    T_BACKOFF,
    T_LOGLEVEL,
    T_BROKERS,
    T_PGURL,
    T_HTTPURL,
    T_SECRET,
    T_BOOL
};

struct cfg_entry {
    const char *name;
    enum cfg_type type;
    const char *def; /* NULL: unset allowed (T_HTTPURL/T_SECRET only) */
    long min, max;
    size_t offset; /* into struct cfg */
};

#define OFF(f) offsetof(struct cfg, f)

static const struct cfg_entry entries[] = {
    {"KAFKA_BROKERS", T_BROKERS, "127.0.0.1:9092", 0, 0, OFF(kafka_brokers)},
    {"DATABASE_URL", T_PGURL, "postgresql:///stockflow", 0, 0, OFF(database_url)},
    {"ALERT_WEBHOOK_URL", T_HTTPURL, NULL, 0, 0, OFF(alert_webhook_url)},
    {"ALERT_WEBHOOK_SECRET", T_SECRET, NULL, 0, 0, OFF(alert_webhook_secret)},
    {"ALERT_WEBHOOK_AUTHORIZATION", T_SECRET, NULL, 0, 0, OFF(alert_webhook_authorization)},
    {"ALERT_INCLUDE_PAYLOAD", T_BOOL, "true", 0, 0, OFF(alert_include_payload)},
    {"RESERVATION_HOLD_SECONDS", T_LONG, "900", 1, 604800, OFF(hold_seconds)},
    {"RETRY_BACKOFF_SECONDS", T_BACKOFF, "1,10,60,300", 0, 0, OFF(retry_backoff)},
    {"HTTP_PORT", T_LONG, NULL, 0, 65535, OFF(http_port)},
    {"HTTP_BIND", T_ADDR, "0.0.0.0", 0, 0, OFF(http_bind)},
    {"LOG_LEVEL", T_LOGLEVEL, "info", 0, 0, OFF(log_level)},
    {"BATCH_MAX", T_LONG, "1000", 1, 10000, OFF(batch_max)},
    {"PG_LOCK_TIMEOUT_MS", T_LONG, "2000", 1, 600000, OFF(lock_timeout_ms)},
    {"PG_STATEMENT_TIMEOUT_MS", T_LONG, "30000", 1, 3600000, OFF(statement_timeout_ms)},
    {"TURN_DEADLINE_MS", T_LONG, "15000", 100, 45000, OFF(turn_deadline_ms)},
    {"PAYMENT_LAG_ALERT_SECONDS", T_LONG, "60", 1, 86400, OFF(payment_lag_alert_s)},
    {"DEADSTOCK_RADAR_SECONDS", T_LONG, "86400", 0, 604800, OFF(deadstock_radar_s)},
};

static int parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || isspace((unsigned char)*s))
        return -1;
    *out = v;
    return 0;
}

int cfg_parse_backoff(const char *s, long *out, size_t max, char *err, size_t errlen)
{
    size_t n = 0;
    const char *p = s;
    if (!*s) {
        snprintf(err, errlen, "empty list");
        return -1;
    }
    while (*p) {
        char item[32];
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof(item)) {
            snprintf(err, errlen, "expected comma-separated seconds like 1,10,60,300");
            return -1;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        long v;
        if (parse_long(item, &v) || v < 0 || v > 86400) {
            snprintf(err, errlen, "\"%s\" is not a whole number of seconds in 0..86400", item);
            return -1;
        }
        if (n == max) {
            snprintf(err, errlen, "more than %zu steps", max);
            return -1;
        }
        if (n > 0 && v < out[n - 1]) {
            snprintf(err, errlen, "steps must not decrease (%ld after %ld)", v, out[n - 1]);
            return -1;
        }
        out[n++] = v;
        p += len;
        if (*p == ',' && *++p == '\0') {
            snprintf(err, errlen, "trailing comma");
            return -1;
        }
    }
    return (int)n;
}

static int check_brokers(const char *s, char *why, size_t whylen)
{
    const char *p = s;
    if (!*s) {
        snprintf(why, whylen, "expected host:port[,host:port...]");
        return -1;
    }
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *colon = memchr(p, ':', len);
        if (len == 0 || !colon || colon == p) {
            snprintf(why, whylen, "expected host:port[,host:port...]");
            return -1;
        }
        for (const char *q = p; q < p + len; q++) {
            if (isspace((unsigned char)*q)) {
                snprintf(why, whylen, "must not contain spaces");
                return -1;
            }
        }
        char port[8] = "";
        size_t plen = (size_t)(p + len - colon - 1);
        long v;
        if (plen == 0 || plen >= sizeof(port)) {
            snprintf(why, whylen, "bad port");
            return -1;
        }
        memcpy(port, colon + 1, plen);
        if (parse_long(port, &v) || v < 1 || v > 65535) {
            snprintf(why, whylen, "port \"%s\" is not in 1..65535", port);
            return -1;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* Copies a libpq parse error into why with every quoted fragment (libpq
 * quotes the piece of the string it stumbled on, which may be a password)
 * replaced by "***", as one line. */
static void pg_parse_error(const char *msg, char *why, size_t whylen)
{
    size_t k = 0;
    int quoted = 0;
    if (!msg)
        msg = "not a libpq connection string";
    for (const char *p = msg; *p && k + 6 < whylen; p++) {
        if (!quoted && strncmp(p, "\"=\"", 3) == 0) { /* missing "=" names no value */
            memcpy(why + k, p, 3);
            k += 3;
            p += 2;
            continue;
        }
        if (*p == '"') {
            quoted = !quoted;
            if (quoted) {
                memcpy(why + k, "\"***", 4);
                k += 4;
            } else {
                why[k++] = '"';
            }
            continue;
        }
        if (!quoted)
            why[k++] = (*p == '\n' || *p == '\r') ? ' ' : *p;
    }
    while (k > 0 && why[k - 1] == ' ')
        k--;
    why[k] = '\0';
}

static int check_pgurl(const char *s, char *why, size_t whylen)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(s, &msg);
    if (!opts) {
        pg_parse_error(msg, why, whylen);
        PQfreemem(msg);
        return -1;
    }
    PQconninfoFree(opts);
    return 0;
}

static int check_httpurl(const char *s, char *why, size_t whylen)
{
    if (strncmp(s, "http://", 7) && strncmp(s, "https://", 8)) {
        snprintf(why, whylen, "expected an http:// or https:// URL");
        return -1;
    }
    for (const char *q = s; *q; q++) {
        if (isspace((unsigned char)*q) || iscntrl((unsigned char)*q)) {
            snprintf(why, whylen, "must not contain spaces or control characters");
            return -1;
        }
    }
    return 0;
}

static int load_one(struct cfg *c, const struct cfg_entry *e, const char *v, char *why,
                    size_t whylen)
{
    char *dst = (char *)c + e->offset;
    long lv;
    enum log_level lvl;
    int n;

    if (e->type != T_BACKOFF && e->type != T_LONG && e->type != T_LOGLEVEL && e->type != T_BOOL) {
        if (strlen(v) >= sizeof(c->kafka_brokers)) {
            snprintf(why, whylen, "longer than %zu bytes", sizeof(c->kafka_brokers) - 1);
            return -1;
        }
    }
    switch (e->type) {
    case T_ADDR: { /* an IPv4 or IPv6 literal, no host name: nothing to resolve */
        unsigned char a[sizeof(struct in6_addr)];
        if (inet_pton(AF_INET, v, a) != 1 && inet_pton(AF_INET6, v, a) != 1) {
            snprintf(why, whylen, "not an IP address (e.g. 0.0.0.0, 127.0.0.1, ::)");
            return -1;
        }
        snprintf(dst, sizeof(c->http_bind), "%s", v);
        return 0;
    }
    case T_BROKERS:
        if (check_brokers(v, why, whylen))
            return -1;
        break;
    case T_PGURL:
        if (check_pgurl(v, why, whylen))
            return -1;
        break;
    case T_HTTPURL:
        if (check_httpurl(v, why, whylen))
            return -1;
        break;
    case T_SECRET: /* a header value: printable, no line breaks */
        for (const char *q = v; *q; q++) {
            if (iscntrl((unsigned char)*q)) {
                snprintf(why, whylen, "must not contain control characters or line breaks");
                return -1;
            }
        }
        if (!*v) {
            snprintf(why, whylen, "empty (unset it instead)");
            return -1;
        }
        break;
    case T_BOOL:
        if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes"))
            *(int *)(void *)dst = 1;
        else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no"))
            *(int *)(void *)dst = 0;
        else {
            snprintf(why, whylen, "expected true or false");
            return -1;
        }
        return 0;
    case T_LONG:
        if (parse_long(v, &lv) || lv < e->min || lv > e->max) {
            snprintf(why, whylen, "expected a whole number in %ld..%ld", e->min, e->max);
            return -1;
        }
        *(long *)(void *)dst = lv;
        return 0;
    case T_BACKOFF:
        n = cfg_parse_backoff(v, c->retry_backoff, CFG_MAX_RETRY_STEPS, why, whylen);
        if (n < 0)
            return -1;
        c->n_retry = (size_t)n;
        return 0;
    case T_LOGLEVEL:
        if (log_level_parse(v, &lvl)) {
            snprintf(why, whylen, "expected one of debug, info, warn, error");
            return -1;
        }
        c->log_level = (int)lvl;
        return 0;
    }
    snprintf(dst, sizeof(c->kafka_brokers), "%s", v);
    return 0;
}

int cfg_load(struct cfg *c, long default_http_port, cfg_getenv_fn get, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->http_port = default_http_port;
    for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
        const struct cfg_entry *e = &entries[i];
        const char *v = get(e->name);
        char why[512];
        if (!v)
            v = e->def;
        if (!v)
            continue;
        if (load_one(c, e, v, why, sizeof(why))) {
            if (e->type == T_PGURL || e->type == T_HTTPURL || e->type == T_SECRET)
                /* may hold a password or token */
                snprintf(err, errlen, "invalid configuration: %s (value not shown): %s", e->name,
                         why);
            else
                snprintf(err, errlen, "invalid configuration: %s=\"%.200s\": %s", e->name, v,
                         why);
            return -1;
        }
    }
    return 0;
}

/* Appends "key=value " to out (at *n), value single-quoted when needed. */
static void put_kv(char *out, size_t outlen, size_t *n, const char *key, const char *val)
{
    int quote = !*val || strpbrk(val, " \t\n'\\") != NULL;
    char buf[1100];
    size_t k = 0;
    if (quote)
        buf[k++] = '\'';
    for (const char *p = val; *p && k + 3 < sizeof(buf); p++) {
        if (quote && (*p == '\'' || *p == '\\'))
            buf[k++] = '\\';
        buf[k++] = *p;
    }
    if (quote)
        buf[k++] = '\'';
    buf[k] = '\0';
    if (*n < outlen)
        *n += (size_t)snprintf(out + *n, outlen - *n, "%s%s=%s", *n ? " " : "", key, buf);
}

void cfg_redact_pg(const char *conninfo, char *out, size_t outlen)
{
    char *msg = NULL;
    size_t n = 0;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
    if (outlen == 0)
        goto done;
    out[0] = '\0';
    if (!opts) {
        snprintf(out, outlen, "(not a valid connection string)");
        goto done;
    }
    /* libpq marks its secrets (password, sslpassword) with dispchar "*" */
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (o->val)
            put_kv(out, outlen, &n, o->keyword, o->dispchar[0] == '*' ? "***" : o->val);
    if (n == 0)
        snprintf(out, outlen, "(libpq defaults)");
done:
    PQconninfoFree(opts);
    PQfreemem(msg);
}

void cfg_redact_http(const char *url, char *out, size_t outlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL;
    if (outlen == 0)
        goto done;
    snprintf(out, outlen, "(not a valid URL)");
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
        curl_url_get(u, CURLUPART_HOST, &host, 0))
        goto done;
    curl_url_get(u, CURLUPART_PORT, &port, 0);
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    curl_url_get(u, CURLUPART_QUERY, &query, 0);
    int more = (path && strcmp(path, "/") != 0) || query;
    snprintf(out, outlen, "%s://%s%s%s%s", scheme, host, port ? ":" : "", port ? port : "",
             more ? "/..." : "");
done:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    curl_url_cleanup(u);
}

int cfg_is_secret_name(const char *name)
{
    static const char *const words[] = {"PASSWORD", "PASSWD", "SECRET", "TOKEN",
                                        "KEY",      "SASL",   "CREDENTIAL", "AUTHORIZATION"};
    char up[256];
    size_t i;
    for (i = 0; name[i] && i + 1 < sizeof(up); i++)
        up[i] = (char)toupper((unsigned char)name[i]);
    up[i] = '\0';
    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strstr(up, words[i]))
            return 1;
    return 0;
}

void cfg_log(const struct cfg *c, const char *const *environ_vars)
{
    char db[1024], hook[1024], steps[256] = "";
    size_t n = 0;
    cfg_redact_pg(c->database_url, db, sizeof(db));
    if (c->alert_webhook_url[0])
        cfg_redact_http(c->alert_webhook_url, hook, sizeof(hook));
    else
        hook[0] = '\0';
    for (size_t i = 0; i < c->n_retry && n < sizeof(steps) - 16; i++)
        n += (size_t)snprintf(steps + n, sizeof(steps) - n, "%s%ld", i ? "," : "", c->retry_backoff[i]);
    log_info("config: KAFKA_BROKERS=%s DATABASE_URL=%s ALERT_WEBHOOK_URL=%s "
             "ALERT_WEBHOOK_SECRET=%s ALERT_WEBHOOK_AUTHORIZATION=%s ALERT_INCLUDE_PAYLOAD=%s "
             "RESERVATION_HOLD_SECONDS=%ld RETRY_BACKOFF_SECONDS=%s HTTP_PORT=%ld HTTP_BIND=%s "
             "BATCH_MAX=%ld "
             "PG_LOCK_TIMEOUT_MS=%ld PG_STATEMENT_TIMEOUT_MS=%ld TURN_DEADLINE_MS=%ld "
             "PAYMENT_LAG_ALERT_SECONDS=%ld DEADSTOCK_RADAR_SECONDS=%ld",
             c->kafka_brokers, db, hook[0] ? hook : "(unset: alerts logged only)",
             c->alert_webhook_secret[0] ? "***" : "(unset: requests unsigned)",
             c->alert_webhook_authorization[0] ? "***" : "(unset)",
             c->alert_include_payload ? "true" : "false", c->hold_seconds, steps, c->http_port,
             c->http_bind,
             c->batch_max, c->lock_timeout_ms, c->statement_timeout_ms, c->turn_deadline_ms,
             c->payment_lag_alert_s, c->deadstock_radar_s);
    for (const char *const *e = environ_vars; e && *e; e++) {
        if (strncmp(*e, "RDKAFKA_", 8) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)(eq - *e), *e);
        log_info("config: %s=%s", name, cfg_is_secret_name(name) ? "***" : eq + 1);
    }
}
