#include "cfg.h"

#include "kafka.h"
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

/* One variable: how it is parsed (type, default, bounds, where it goes),
 * logged (cfg_log; unset: what an unset optional one means) and documented
 * (cfg_usage: help, lines after the name column, "{port}" standing for the
 * role's HTTP port). */
struct cfg_entry {
    const char *name;
    enum cfg_type type;
    const char *def; /* NULL: unset allowed (T_HTTPURL/T_SECRET only) */
    long min, max;
    size_t offset; /* into struct cfg */
    const char *unset;
    const char *help;
};

#define OFF(f) offsetof(struct cfg, f)

/* clang-format off */
static const struct cfg_entry entries[] = {
    {"KAFKA_BROKERS", T_BROKERS, "127.0.0.1:9092", 0, 0, OFF(kafka_brokers), NULL,
     "bootstrap servers (default 127.0.0.1:9092)"},
    {"DATABASE_URL", T_PGURL, "postgresql:///stockflow", 0, 0, OFF(database_url), NULL,
     "libpq connection string (default postgresql:///stockflow)"},
    {"ALERT_WEBHOOK_URL", T_HTTPURL, NULL, 0, 0, OFF(alert_webhook_url),
     "(unset: alerts logged only)",
     "alert-worker: where alerts are POSTed (unset: logged only)"},
    {"ALERT_WEBHOOK_SECRET", T_SECRET, NULL, 0, 0, OFF(alert_webhook_secret),
     "(unset: requests unsigned)",
     "alert-worker: sign every request, X-Stockflow-Signature:\n"
     "t=<unix>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>"},
    {"ALERT_WEBHOOK_AUTHORIZATION", T_SECRET, NULL, 0, 0, OFF(alert_webhook_authorization),
     "(unset)",
     "alert-worker: Authorization header value of every request"},
    {"ALERT_INCLUDE_PAYLOAD", T_BOOL, "true", 0, 0, OFF(alert_include_payload), NULL,
     "alert-worker: false leaves the dead letter's payload out\n"
     "of its alert (default true)"},
    {"RESERVATION_HOLD_SECONDS", T_LONG, "900", 1, 604800, OFF(hold_seconds), NULL,
     "hold time when an order carries none (default 900)"},
    {"RETRY_BACKOFF_SECONDS", T_BACKOFF, "1,10,60,300", 0, 0, OFF(retry_backoff), NULL,
     "backoff steps (default 1,10,60,300)"},
    {"HTTP_PORT", T_LONG, NULL, 0, 65535, OFF(http_port), NULL,
     "metrics/health port (default {port}; 0 turns it off)"},
    {"HTTP_BIND", T_ADDR, "0.0.0.0", 0, 0, OFF(http_bind), NULL,
     "the address it listens on (default 0.0.0.0; :: for IPv6)"},
    {"LOG_LEVEL", T_LOGLEVEL, "info", 0, 0, OFF(log_level), NULL,
     "debug, info, warn, error (default info)"},
    {"BATCH_MAX", T_LONG, "1000", 1, 10000, OFF(batch_max), NULL,
     "events per database transaction (default 1000; a batch\n"
     "also stops at 8 MiB of records)"},
    {"PG_LOCK_TIMEOUT_MS", T_LONG, "2000", 1, 600000, OFF(lock_timeout_ms), NULL,
     "lock timeout per statement (default 2000)"},
    {"PG_STATEMENT_TIMEOUT_MS", T_LONG, "30000", 1, 3600000, OFF(statement_timeout_ms), NULL,
     "statement timeout (default 30000)"},
    {"TURN_DEADLINE_MS", T_LONG, "15000", 100, 45000, OFF(turn_deadline_ms), NULL,
     "no new transaction after this much of a loop turn; the\n"
     "rest of the batch goes to retry or is read again\n"
     "(default 15000; 100..45000)"},
    {"PAYMENT_LAG_ALERT_SECONDS", T_LONG, "60", 1, 86400, OFF(payment_lag_alert_s), NULL,
     "timeout-worker: alert when payments lag more (default 60)"},
    {"DEADSTOCK_RADAR_SECONDS", T_LONG, "86400", 0, 604800, OFF(deadstock_radar_s), NULL,
     "timeout-worker: run the deadstock radar at start and then\n"
     "this often (default 86400; 0 turns it off); at most one\n"
     "deadstock alert per SKU and UTC day, restarts included"},
};
/* clang-format on */

#define NENTRIES (sizeof(entries) / sizeof(entries[0]))
#define RDKAFKA_HELP                                                                               \
    "any librdkafka property, e.g.\n"                                                              \
    "RDKAFKA_SESSION_TIMEOUT_MS; max.poll.interval.ms\n"                                           \
    "defaults to " KAFKA_MAX_POLL_INTERVAL_MS " and must exceed\n"                                 \
    "TURN_DEADLINE_MS + PG_STATEMENT_TIMEOUT_MS + 30000"

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

extern char **environ; /* read here only: cfg_load keeps the RDKAFKA_* entries */

/* Keeps the RDKAFKA_* entries of the process environment in c->rdkafka. */
static int load_rdkafka(struct cfg *c, char *err, size_t errlen)
{
    size_t n = 0;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "RDKAFKA_", 8) != 0 || !strchr(*e, '='))
            continue;
        if (n == CFG_MAX_RDKAFKA) {
            snprintf(err, errlen, "invalid configuration: more than %d RDKAFKA_* variables",
                     CFG_MAX_RDKAFKA);
            return -1;
        }
        c->rdkafka[n++] = *e;
    }
    c->rdkafka[n] = NULL;
    return 0;
}

int cfg_load(struct cfg *c, long default_http_port, cfg_getenv_fn get, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->http_port = default_http_port;
    if (load_rdkafka(c, err, errlen))
        return -1;
    for (size_t i = 0; i < NENTRIES; i++) {
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

/* Appends the effective value of e, as cfg_log shows it, to out at *n. */
static void log_value(const struct cfg *c, const struct cfg_entry *e, char *out, size_t outlen,
                      size_t *n)
{
    const char *s = (const char *)c + e->offset;
    char v[1100];
    switch (e->type) {
    case T_PGURL:
        cfg_redact_pg(s, v, sizeof(v));
        break;
    case T_HTTPURL:
        if (*s)
            cfg_redact_http(s, v, sizeof(v));
        else
            snprintf(v, sizeof(v), "%s", e->unset);
        break;
    case T_SECRET:
        snprintf(v, sizeof(v), "%s", *s ? "***" : e->unset);
        break;
    case T_BOOL:
        snprintf(v, sizeof(v), "%s", *(const int *)(const void *)s ? "true" : "false");
        break;
    case T_LONG:
        snprintf(v, sizeof(v), "%ld", *(const long *)(const void *)s);
        break;
    case T_LOGLEVEL:
        snprintf(v, sizeof(v), "%s", log_level_name((enum log_level)c->log_level));
        break;
    case T_BACKOFF: {
        size_t k = 0;
        v[0] = '\0';
        for (size_t i = 0; i < c->n_retry && k < sizeof(v) - 16; i++)
            k += (size_t)snprintf(v + k, sizeof(v) - k, "%s%ld", i ? "," : "", c->retry_backoff[i]);
        break;
    }
    default: /* T_BROKERS, T_ADDR: as given */
        snprintf(v, sizeof(v), "%s", s);
    }
    if (*n < outlen)
        *n += (size_t)snprintf(out + *n, outlen - *n, " %s=%s", e->name, v);
}

void cfg_log(const struct cfg *c)
{
    char line[2048] = "config:";
    size_t n = strlen(line);
    for (size_t i = 0; i < NENTRIES; i++)
        log_value(c, &entries[i], line, sizeof(line), &n);
    log_info("%s", line);
    for (const char *const *e = c->rdkafka; *e; e++) {
        const char *eq = strchr(*e, '=');
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)(eq - *e), *e);
        log_info("config: %s=%s", name, cfg_is_secret_name(name) ? "***" : eq + 1);
    }
}

/* Prints one variable of --help: the name in a column of 25, then the help
 * lines, each continuation indented to that column. */
static void usage_one(FILE *f, const char *name, const char *help, long port)
{
    fprintf(f, "  %-25s ", name);
    for (const char *p = help; *p; p++) {
        if (*p == '\n')
            fprintf(f, "\n%28s", "");
        else if (strncmp(p, "{port}", 6) == 0) {
            fprintf(f, "%ld", port);
            p += 5;
        } else
            fputc(*p, f);
    }
    fputc('\n', f);
}

void cfg_usage(FILE *f, long default_http_port)
{
    for (size_t i = 0; i < NENTRIES; i++)
        usage_one(f, entries[i].name, entries[i].help, default_http_port);
    usage_one(f, "RDKAFKA_<NAME>", RDKAFKA_HELP, default_http_port);
}
