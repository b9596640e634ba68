/* log: JSON lines on stderr, one object per line.
 *
 * Fields: ts, level, worker, msg, and event_id/topic/partition/offset when a
 * message context is given. The level is checked before any formatting.
 * Thread-safe: each line is written with one write(2). */
#ifndef STOCKFLOW_LOG_H
#define STOCKFLOW_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR,
    LOG_LEVEL_FATAL
};

/* Context of the message being handled; any field may be NULL / -1. */
struct log_ctx {
    const char *event_id;
    const char *topic;
    int32_t partition;
    int64_t offset;
};

extern int log_min_level;

/* Sets the worker name (copied, up to 63 bytes) and the minimum level. */
void log_init(const char *worker, enum log_level min_level);

/* Parses "debug", "info", "warn", "error". Returns 0, or -1 if unknown. */
int log_level_parse(const char *s, enum log_level *out);

/* "debug" ... "fatal"; a static string. */
const char *log_level_name(enum log_level l);

void log_write(enum log_level lvl, const struct log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends s to buf as a JSON string body (no quotes), escaping as needed.
 * Always NUL-terminates; truncates at a character boundary. Returns bytes used. */
size_t log_json_escape(char *buf, size_t size, const char *s);

/* An expression, so it can stand in `return log_error(...), -1;`. */
#define LOG_AT(lvl, ctx, ...)                                                                      \
    ((int)(lvl) >= log_min_level ? log_write((lvl), (ctx), __VA_ARGS__) : (void)0)
#define log_debug(...) LOG_AT(LOG_LEVEL_DEBUG, NULL, __VA_ARGS__)
#define log_info(...) LOG_AT(LOG_LEVEL_INFO, NULL, __VA_ARGS__)
#define log_warn(...) LOG_AT(LOG_LEVEL_WARN, NULL, __VA_ARGS__)
#define log_error(...) LOG_AT(LOG_LEVEL_ERROR, NULL, __VA_ARGS__)
#define log_fatal(...) LOG_AT(LOG_LEVEL_FATAL, NULL, __VA_ARGS__)
#define logm_debug(ctx, ...) LOG_AT(LOG_LEVEL_DEBUG, ctx, __VA_ARGS__)
#define logm_info(ctx, ...) LOG_AT(LOG_LEVEL_INFO, ctx, __VA_ARGS__)
#define logm_warn(ctx, ...) LOG_AT(LOG_LEVEL_WARN, ctx, __VA_ARGS__)
#define logm_error(ctx, ...) LOG_AT(LOG_LEVEL_ERROR, ctx, __VA_ARGS__)

#endif
