/* cfg: configuration from the environment (DESIGN §1).
 *
 * One table describes every variable (name, type, default, bounds, help):
 * it drives parsing (cfg_load), the startup log line (cfg_log) and the
 * variables of --help (cfg_usage). cfg_load reads and checks every value at
 * startup; the first bad one fails the load with one line naming the
 * variable. It is also the one reader of the RDKAFKA_* variables (passed on
 * to librdkafka, kafka.h). Nothing here exits. */
#ifndef STOCKFLOW_CFG_H
#define STOCKFLOW_CFG_H

#include <stddef.h>
#include <stdio.h>

#define CFG_MAX_RETRY_STEPS 16
#define CFG_MAX_RDKAFKA 256 /* RDKAFKA_* variables at most */

struct cfg {
    char kafka_brokers[1024];
    char database_url[1024];
    char alert_webhook_url[1024]; /* "" when unset: alerts are logged only */
    char alert_webhook_secret[1024]; /* ALERT_WEBHOOK_SECRET, "" unset: requests unsigned */
    char alert_webhook_authorization[1024]; /* ALERT_WEBHOOK_AUTHORIZATION, "" unset */
    int alert_include_payload; /* ALERT_INCLUDE_PAYLOAD (default 1) */
    long hold_seconds;            /* RESERVATION_HOLD_SECONDS */
    long retry_backoff[CFG_MAX_RETRY_STEPS]; /* RETRY_BACKOFF_SECONDS */
    size_t n_retry;
    long http_port;    /* HTTP_PORT, 0 disables the endpoint */
    char http_bind[64]; /* HTTP_BIND: the address it listens on (default 0.0.0.0) */
    int log_level;     /* enum log_level */
    long batch_max;    /* BATCH_MAX: events per database transaction */
    long lock_timeout_ms; /* PG_LOCK_TIMEOUT_MS */
    long statement_timeout_ms; /* PG_STATEMENT_TIMEOUT_MS */
    long turn_deadline_ms;     /* TURN_DEADLINE_MS: no new transaction after this much of a turn */
    long payment_lag_alert_s;  /* PAYMENT_LAG_ALERT_SECONDS (timeout-worker) */
    long deadstock_radar_s;    /* DEADSTOCK_RADAR_SECONDS (timeout-worker), 0: off */
    /* the RDKAFKA_* variables, "NAME=value", NULL-terminated, in the order of
     * the environment; borrowed from the process environment (not to be
     * changed while a cfg lives) */
    const char *rdkafka[CFG_MAX_RDKAFKA + 1];
};

/* Function that returns the value of an environment variable or NULL.
 * Tests pass their own; binaries pass getenv. */
typedef const char *(*cfg_getenv_fn)(const char *name);

/* Loads every variable of the table through get, and the RDKAFKA_* ones of
 * the process environment (environ) into c->rdkafka. default_http_port is
 * the role's port. Returns 0, or -1 with one line in err naming the
 * variable. */
int cfg_load(struct cfg *c, long default_http_port, cfg_getenv_fn get, char *err, size_t errlen);

/* Parses "1,10,60,300" into out (at most max values, each 0..86400,
 * non-decreasing). Returns the count, or -1 with the reason in err. */
int cfg_parse_backoff(const char *s, long *out, size_t max, char *err, size_t errlen);

/* Logs the effective configuration once, every variable of the table on one
 * line "config: NAME=value ...", then one line per RDKAFKA_* variable;
 * secrets redacted: DATABASE_URL through cfg_redact_pg, ALERT_WEBHOOK_URL
 * through cfg_redact_http, the webhook's secret and authorization and any
 * RDKAFKA_* variable cfg_is_secret_name names as "***". */
void cfg_log(const struct cfg *c);

/* Prints the variables for --help, one "  NAME  what it does (default)"
 * entry each, RDKAFKA_<NAME> last; default_http_port is the role's. */
void cfg_usage(FILE *f, long default_http_port);

/* Renders a libpq connection string (URL or keyword form) as parsed by
 * PQconninfoParse, keyword=value, with every value libpq marks secret
 * (password, sslpassword) shown as "***"; "(not a valid connection
 * string)" when it does not parse. Never writes more than outlen bytes. */
void cfg_redact_pg(const char *conninfo, char *out, size_t outlen);

/* Renders an http(s) URL as its scheme, host and port only, "/..." when a
 * path or query followed (they may carry a token; user info is dropped);
 * "(not a valid URL)" when libcurl cannot parse it. */
void cfg_redact_http(const char *url, char *out, size_t outlen);

/* 1 when an environment variable's name says its value is a secret
 * (PASSWORD, SECRET, TOKEN, KEY, SASL, CREDENTIAL, AUTHORIZATION; any case). */
int cfg_is_secret_name(const char *name);

#endif
