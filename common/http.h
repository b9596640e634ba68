/* http: the metrics and health endpoint of a worker (HTTP_PORT, DESIGN §1).
 *
 * A libmicrohttpd server on 0.0.0.0:HTTP_PORT with its own thread
 * (MHD_USE_INTERNAL_POLLING_THREAD). GET or HEAD:
 *
 *   /metrics  200, metrics_render() as text/plain; version=0.0.4
 *   /healthz  200 "ok": the process loop is alive; 503 with the reason
 *   /readyz   200 "ok": ready for work; 503 with the reason
 *   other     404; a method other than GET or HEAD: 405
 *
 * The probe callbacks run on the HTTP thread, so they must only read state
 * that is safe to read from another thread: http_heartbeat and http_status
 * below are such state, for the worker to update from its loop. */
#ifndef STOCKFLOW_HTTP_H
#define STOCKFLOW_HTTP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_PORT_EPHEMERAL (-1L) /* http_new: any free port (tests) */
#define HTTP_MAX_CONNECTIONS 32
#define HTTP_MAX_PER_CLIENT 4

/* A probe returns 0 when healthy, else non-zero with one line in why
 * (NUL-terminated, at most whylen bytes). Called on the HTTP thread. */
typedef int (*http_probe_fn)(void *ctx, char *why, size_t whylen);

struct http_probe {
    http_probe_fn healthz; /* NULL: always healthy */
    void *healthz_ctx;
    http_probe_fn readyz; /* NULL: always ready */
    void *readyz_ctx;
};

struct http;

/* Starts serving on addr:port (addr: an IPv4 or IPv6 literal, NULL or ""
 * for 0.0.0.0). port 0 disables the endpoint: returns 0 with *out = NULL
 * (http_free and http_port accept NULL). One client address holds at most
 * HTTP_MAX_PER_CLIENT of the HTTP_MAX_CONNECTIONS connections, so a client
 * that opens many and sends nothing cannot starve the liveness probe.
 * HTTP_PORT_EPHEMERAL binds a free port (see http_port). The probe is
 * copied; the contexts it points to are borrowed until http_free.
 * Returns 0, or a negative errno with one line in err (port in use, ...). */
int http_new(struct http **out, const char *addr, long port, const struct http_probe *probe, char *err,
             size_t errlen);

/* The port served, 0 for NULL. */
long http_port(const struct http *h);

/* Stops the server: waits for the HTTP thread, so no probe runs after it
 * returns. http_free(NULL) does nothing. */
void http_free(struct http *h);

/* ---- liveness: a heartbeat the loop bumps -------------------------------- */

struct http_heartbeat {
    atomic_llong last_ms; /* CLOCK_MONOTONIC ms of the last beat; 0: never */
    long max_age_ms;      /* older than this: not alive */
};
#define HTTP_HEARTBEAT_INIT(max_age_ms)                                                            \
    {                                                                                              \
        0, (max_age_ms)                                                                            \
    }

/* Records that the loop is alive now. Thread-safe, lock-free. */
void http_heartbeat_beat(struct http_heartbeat *hb);

/* An http_probe_fn; ctx is a struct http_heartbeat. Fails when there was no
 * beat yet or the last is older than max_age_ms. */
int http_heartbeat_check(void *ctx, char *why, size_t whylen);

/* ---- readiness: a status the loop sets ---------------------------------- */

struct http_status {
    pthread_mutex_t mu;
    int ok;
    char why[256];
};
#define HTTP_STATUS_INIT                                                                           \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, 0, "starting"                                                   \
    }

/* Sets the status: ok non-zero, or the reason it is not. Thread-safe. */
void http_status_set(struct http_status *s, int ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An http_probe_fn; ctx is a struct http_status. */
int http_status_check(void *ctx, char *why, size_t whylen);

#endif
