#include "http.h"

#include "log.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONNECTION_TIMEOUT_S 10

struct http {
    struct MHD_Daemon *d;
    struct http_probe probe;
    long port;
};

static const char ct_metrics[] = "text/plain; version=0.0.4; charset=utf-8";
static const char ct_text[] = "text/plain; charset=utf-8";

/* ---- responses ---------------------------------------------------------- */

/* Queues body (malloc'd, taken over; NULL: out of memory) with status. */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *ctype,
                             char *body, size_t len)
{
    if (!body)
        return MHD_NO; /* closes the connection */
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    char *body = strdup(text);
    return reply(c, status, ct_text, body, body ? strlen(body) : 0);
}

static enum MHD_Result reply_probe(struct MHD_Connection *c, http_probe_fn fn, void *ctx)
{
    char why[256] = "";
    if (!fn || fn(ctx, why, sizeof(why)) == 0)
        return reply_text(c, MHD_HTTP_OK, "ok\n");
    char line[272];
    why[strcspn(why, "\r\n")] = '\0'; /* one line */
    snprintf(line, sizeof(line), "%s\n", why[0] ? why : "not ok");
    return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, line);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http *h = cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: use GET\n");
    if (strcmp(url, "/metrics") == 0) {
        char *body = NULL;
        size_t len = metrics_render(&body);
        return reply(c, MHD_HTTP_OK, ct_metrics, body, len);
    }
    if (strcmp(url, "/healthz") == 0)
        return reply_probe(c, h->probe.healthz, h->probe.healthz_ctx);
    if (strcmp(url, "/readyz") == 0)
        return reply_probe(c, h->probe.readyz, h->probe.readyz_ctx);
    return reply_text(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics, /healthz or /readyz\n");
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt,
                                                              va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\r\n")] = '\0';
    log_warn("http: %s", msg);
}

/* ---- life cycle --------------------------------------------------------- */

/* Binds and listens on bind:port (0: any free port). Returns the socket,
 * or a negative errno with err set. */
static int listen_on(const char *bind_addr, long port, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char serv[16], where[96];
    int one = 1, e, fd;

    snprintf(serv, sizeof(serv), "%ld", port);
    if (strchr(bind_addr, ':'))
        snprintf(where, sizeof(where), "[%s]:%ld", bind_addr, port);
    else
        snprintf(where, sizeof(where), "%s:%ld", bind_addr, port);
    if ((e = getaddrinfo(bind_addr, serv, &hints, &ai)) != 0) {
        snprintf(err, errlen, "HTTP_BIND %s: not an IP address (%s)", bind_addr, gai_strerror(e));
        return -EINVAL;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        e = errno;
        snprintf(err, errlen, "HTTP_PORT %ld: socket: %s", port, strerror(e));
        freeaddrinfo(ai);
        return -e;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 64)) {
        e = errno;
        snprintf(err, errlen, "HTTP_PORT %ld: cannot listen on %s: %s", port, where, strerror(e));
        close(fd);
        freeaddrinfo(ai);
        return -e;
    }
    freeaddrinfo(ai);
    return fd;
}

static long bound_port(int fd)
{
    struct sockaddr_storage a;
    socklen_t len = sizeof(a);
    if (getsockname(fd, (struct sockaddr *)&a, &len))
        return 0;
    if (a.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
    return ntohs(((struct sockaddr_in *)&a)->sin_port);
}

int http_new(struct http **out, const char *addr, long port, const struct http_probe *probe, char *err, size_t errlen)
{
    *out = NULL;
    if (port == 0)
        return 0;
    if (port != HTTP_PORT_EPHEMERAL && (port < 1 || port > 65535)) {
        snprintf(err, errlen, "HTTP_PORT %ld: not a port (1..65535, 0 disables)", port);
        return -EINVAL;
    }
    struct http *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "HTTP: out of memory");
        return -ENOMEM;
    }
    if (probe)
        h->probe = *probe;
    int fd = listen_on(addr && *addr ? addr : "0.0.0.0", port == HTTP_PORT_EPHEMERAL ? 0 : port, err,
                       errlen);
    if (fd < 0) {
        free(h);
        return fd;
    }
    h->port = bound_port(fd);
    h->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                            on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                            MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)HTTP_MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                            (unsigned)HTTP_MAX_PER_CLIENT, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)CONNECTION_TIMEOUT_S, MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, errlen, "HTTP_PORT %ld: libmicrohttpd did not start", port);
        /* fd is not closed here: libmicrohttpd may have closed it already,
         * and a second close could hit a descriptor another thread opened */
        free(h);
        return -EIO;
    }
    *out = h;
    return 0;
}

long http_port(const struct http *h)
{
    return h ? h->port : 0;
}

void http_free(struct http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d); /* joins the thread and closes the listening socket */
    free(h);
}

/* ---- probes ------------------------------------------------------------- */

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void http_heartbeat_beat(struct http_heartbeat *hb)
{
    atomic_store_explicit(&hb->last_ms, mono_ms(), memory_order_relaxed);
}

int http_heartbeat_check(void *ctx, char *why, size_t whylen)
{
    struct http_heartbeat *hb = ctx;
    long long last = atomic_load_explicit(&hb->last_ms, memory_order_relaxed);
    if (last == 0) {
        snprintf(why, whylen, "the loop has not started");
        return -1;
    }
    long long age = mono_ms() - last;
    if (age > hb->max_age_ms) {
        snprintf(why, whylen, "the loop has not run for %.1f s (limit %.1f s)", age / 1000.0,
                 hb->max_age_ms / 1000.0);
        return -1;
    }
    return 0;
}

void http_status_set(struct http_status *s, int ok, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&s->mu);
    s->ok = ok;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof(s->why), fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&s->mu);
}

int http_status_check(void *ctx, char *why, size_t whylen)
{
    struct http_status *s = ctx;
    pthread_mutex_lock(&s->mu);
    int ok = s->ok;
    if (!ok)
        snprintf(why, whylen, "%s", s->why);
    pthread_mutex_unlock(&s->mu);
    return ok ? 0 : -1;
}
