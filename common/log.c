#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_min_level = LOG_LEVEL_INFO;
static char log_worker[64] = "stockflow";

static const char *const level_names[] = {"debug", "info", "warn", "error", "fatal"};

void log_init(const char *worker, enum log_level min_level)
{
    snprintf(log_worker, sizeof(log_worker), "%s", worker ? worker : "stockflow");
    log_min_level = (int)min_level;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = LOG_LEVEL_DEBUG; i <= LOG_LEVEL_ERROR; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = LOG_LEVEL_WARN;
        return 0;
    }
    return -1;
}

const char *log_level_name(enum log_level l)
{
    return (unsigned)l < sizeof(level_names) / sizeof(level_names[0]) ? level_names[l] : "?";
}

size_t log_json_escape(char *buf, size_t size, const char *s)
{
    size_t n = 0;
    if (size == 0)
        return 0;
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        char tmp[8];
        size_t k;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            k = 2;
        } else if (c == '\n') {
            memcpy(tmp, "\\n", 2);
            k = 2;
        } else if (c < 0x20 || c == 0x7f) {
            k = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", c);
        } else {
            tmp[0] = (char)c;
            k = 1;
        }
        if (n + k >= size)
            break;
        memcpy(buf + n, tmp, k);
        n += k;
    }
    /* do not leave a truncated UTF-8 sequence behind */
    while (n > 0 && s && *s && ((unsigned char)buf[n - 1] & 0xC0) == 0x80)
        n--;
    if (n > 0 && s && *s && ((unsigned char)buf[n - 1] & 0xC0) == 0xC0)
        n--;
    buf[n] = '\0';
    return n;
}

static size_t put(char *line, size_t n, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static size_t put(char *line, size_t n, size_t size, const char *fmt, ...)
{
    if (n >= size)
        return n;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line + n, size - n, fmt, ap);
    va_end(ap);
    if (k < 0)
        return n;
    return (size_t)k >= size - n ? size - 1 : n + (size_t)k;
}

static size_t put_str_field(char *line, size_t n, size_t size, const char *key, const char *val)
{
    char esc[1024];
    log_json_escape(esc, sizeof(esc), val);
    return put(line, n, size, ",\"%s\":\"%s\"", key, esc);
}

void log_write(enum log_level lvl, const struct log_ctx *ctx, const char *fmt, ...)
{
    char msg[2048], line[4096];
    struct timeval tv;
    struct tm tm;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);

    size_t n = put(line, 0, sizeof(line) - 2,
                   "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",\"level\":\"%s\"",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   (int)(tv.tv_usec / 1000), level_names[lvl]);
    n = put_str_field(line, n, sizeof(line) - 2, "worker", log_worker);
    n = put_str_field(line, n, sizeof(line) - 2, "msg", msg);
    if (ctx) {
        if (ctx->event_id)
            n = put_str_field(line, n, sizeof(line) - 2, "event_id", ctx->event_id);
        if (ctx->topic)
            n = put_str_field(line, n, sizeof(line) - 2, "topic", ctx->topic);
        if (ctx->partition >= 0)
            n = put(line, n, sizeof(line) - 2, ",\"partition\":%d", (int)ctx->partition);
        if (ctx->offset >= 0)
            n = put(line, n, sizeof(line) - 2, ",\"offset\":%lld", (long long)ctx->offset);
    }
    line[n++] = '}';
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
