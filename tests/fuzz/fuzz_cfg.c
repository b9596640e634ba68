/* libFuzzer target: configuration parsing: cfg_load over an environment
 * made of the input's lines (first byte picks the variable, the rest is its
 * value) and cfg_parse_backoff over the whole input. A value must be
 * accepted or refused with one line naming the variable; a backoff list
 * never has more steps than the buffer. (fuzz_redact covers redaction.) */
#include "cfg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_VARS 32
static char env_names[MAX_VARS][64];
static char *env_values[MAX_VARS];
static size_t n_env;

static const char *fuzz_getenv(const char *name)
{
    for (size_t i = 0; i < n_env; i++)
        if (strcmp(env_names[i], name) == 0)
            return env_values[i];
    return NULL;
}

/* One NAME=value per line; names are reduced to the variables cfg knows
 * by the byte before '=' picking one (so the fuzzer reaches every one). */
static void load_env(const char *text)
{
    static const char *const known[] = {
        "KAFKA_BROKERS", "DATABASE_URL", "ALERT_WEBHOOK_URL", "RESERVATION_HOLD_SECONDS",
        "RETRY_BACKOFF_SECONDS", "HTTP_PORT", "LOG_LEVEL", "BATCH_MAX", "PG_LOCK_TIMEOUT_MS",
        "PG_STATEMENT_TIMEOUT_MS", "PAYMENT_LAG_ALERT_SECONDS"};
    n_env = 0;
    const char *p = text;
    while (*p && n_env < MAX_VARS) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len >= 1) {
            size_t k = (unsigned char)p[0] % (sizeof(known) / sizeof(*known));
            strcpy(env_names[n_env], known[k]);
            env_values[n_env] = strndup(p + 1, len - 1);
            if (!env_values[n_env])
                abort();
            n_env++;
        }
        p += len + (nl ? 1 : 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    char err[512];

    load_env(text);
    struct cfg c;
    err[0] = '\0';
    if (cfg_load(&c, 8080, fuzz_getenv, err, sizeof(err)) != 0 && !err[0])
        abort(); /* a refusal must name the variable */
    for (size_t i = 0; i < n_env; i++)
        free(env_values[i]);

    long steps[CFG_MAX_RETRY_STEPS];
    int n = cfg_parse_backoff(text, steps, CFG_MAX_RETRY_STEPS, err, sizeof(err));
    if (n > CFG_MAX_RETRY_STEPS)
        abort();

    free(text);
    return 0;
}
