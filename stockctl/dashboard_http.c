/* dashboard_http: the dashboard's HTTP server (libmicrohttpd, as the
 * workers' common/http.c; a thread per connection, so an action that waits
 * for the broker holds only its own request).
 *
 *   GET  /                the page (embedded; its CSRF token filled in)
 *   GET  /api/state       the latest snapshot (JSON)
 *   POST /api/clearance   {sku, qty, days}: promotion_start, as `stockctl
 *                         promotion start SKU --qty N --for Dd`
 *   POST /api/redrive     {topic}: dlq_redrive_run, as `stockctl dlq
 *                         redrive TOPIC` (rate 100/s, max redrives 3)
 *   POST /api/sku         {sku, safety_stock?, low_stock_threshold?,
 *                         hide_below?}: sku_configure, as `stockctl sku set`
 *
 * /api/ wants "Authorization: Bearer <token>" when --token was given (401
 * otherwise); a POST wants the page's "X-CSRF-Token" (403 otherwise). On a
 * loopback address without a token, a request whose Host is not a loopback
 * name is refused (403): a page of another site cannot reach the
 * dashboard through DNS rebinding. */
#include "dashboard.h"
#include "dashboard_addr.h"
#include "emit.h"
#include "out.h"
#include "stockctl.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

#define BODY_MAX 4096

extern const char dashboard_html[]; /* dashboard_page.c, generated from dashboard/index.html */

struct req {
    char body[BODY_MAX + 1];
    size_t len;
    int too_big;
};

static MHD_RESULT reply(struct MHD_Connection *c, unsigned status, const char *type,
                        const char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, mode);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; style-src "
                            "'unsafe-inline'; img-src data:; connect-src 'self'");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"stockctl dashboard\"");
    MHD_RESULT ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* {"ok":false,"error":why} */
static MHD_RESULT fail(struct MHD_Connection *c, unsigned status, const char *why)
{
    yajl_gen g = out_json_new(0);
    out_json_open(g, NULL, 0);
    out_json_bool(g, "ok", 0);
    out_json_str(g, "error", why);
    out_json_close(g, 0);
    const unsigned char *t;
    size_t n;
    yajl_gen_get_buf(g, &t, &n);
    MHD_RESULT r = reply(c, status, "application/json", (const char *)t, n, MHD_RESPMEM_MUST_COPY);
    yajl_gen_free(g);
    return r;
}

/* 0 when the request may go on, else the status to refuse it with. */
static unsigned check(const struct dash *d, struct MHD_Connection *c, const char *url, int post)
{
    if (d->loopback && !d->token &&
        !dash_host_is_loopback(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host")))
        return MHD_HTTP_FORBIDDEN;
    if (strncmp(url, "/api/", 5) != 0)
        return 0;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (d->token && (!auth || strncmp(auth, "Bearer ", 7) || !dash_secret_eq(auth + 7, d->token)))
        return MHD_HTTP_UNAUTHORIZED;
    const char *csrf = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
    if (post && (!csrf || !dash_secret_eq(csrf, d->csrf)))
        return MHD_HTTP_FORBIDDEN;
    return 0;
}

static MHD_RESULT page(struct dash *d, struct MHD_Connection *c)
{
    const char *mark = strstr(dashboard_html, "__CSRF_TOKEN__");
    size_t n = strlen(dashboard_html);
    char *html = malloc(n + sizeof(d->csrf));
    if (!html || !mark)
        return free(html), fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "page not built");
    size_t pre = (size_t)(mark - dashboard_html);
    memcpy(html, dashboard_html, pre);
    strcpy(html + pre, d->csrf);
    strcat(html + pre, mark + strlen("__CSRF_TOKEN__"));
    return reply(c, MHD_HTTP_OK, "text/html; charset=utf-8", html, strlen(html),
                 MHD_RESPMEM_MUST_FREE);
}

static MHD_RESULT state(struct dash *d, struct MHD_Connection *c)
{
    size_t n = 0;
    char *s = dash_snapshot(d, &n);
    if (!s)
        return fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no snapshot yet: starting");
    return reply(c, MHD_HTTP_OK, "application/json", s, n, MHD_RESPMEM_MUST_FREE);
}

/* ---- actions ------------------------------------------------------------------ */

static const char *str_field(yajl_val v, const char *name)
{
    const char *path[] = {name, NULL};
    yajl_val x = yajl_tree_get(v, path, yajl_t_string);
    return x ? YAJL_GET_STRING(x) : NULL;
}

/* A whole number field: its value, -1 when absent, -2 when not a number
 * in 0..max. */
static long num_field(yajl_val v, const char *name, long max)
{
    const char *path[] = {name, NULL};
    yajl_val x = yajl_tree_get(v, path, yajl_t_any);
    if (!x || YAJL_IS_NULL(x))
        return -1;
    if (!YAJL_IS_INTEGER(x) || YAJL_GET_INTEGER(x) < 0 || YAJL_GET_INTEGER(x) > max)
        return -2;
    return (long)YAJL_GET_INTEGER(x);
}

static unsigned status_of(int rc)
{
    return rc == EXIT_USAGE         ? MHD_HTTP_BAD_REQUEST
           : rc == EXIT_NOTFOUND    ? MHD_HTTP_NOT_FOUND
           : rc == EXIT_UNREACHABLE ? MHD_HTTP_BAD_GATEWAY
                                    : MHD_HTTP_CONFLICT;
}

/* {"ok":true,"message":...,"event":<ev>,...} for an event produced. */
static MHD_RESULT sent(struct MHD_Connection *c, const char *topic, const struct emit_ack *a,
                       const char *ev)
{
    char *body = malloc(EMIT_EVENT_MAX + 512);
    if (!body)
        return fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    snprintf(body, EMIT_EVENT_MAX + 512,
             "{\"ok\":true,\"message\":\"sent to %s [%d] at offset %lld\",\"topic\":\"%s\","
             "\"partition\":%d,\"offset\":%lld,\"event\":%s}",
             topic, (int)a->partition, (long long)a->offset, topic, (int)a->partition,
             (long long)a->offset, ev);
    return reply(c, MHD_HTTP_OK, "application/json", body, strlen(body), MHD_RESPMEM_MUST_FREE);
}

static MHD_RESULT clearance(struct dash *d, struct MHD_Connection *c, yajl_val v)
{
    const char *sku = str_field(v, "sku");
    long qty = num_field(v, "qty", 1000000000L), days = num_field(v, "days", 365);
    if (!sku || qty < 1 || days < 1)
        return fail(c, MHD_HTTP_BAD_REQUEST, "expected {sku, qty >= 1, days 1..365}");
    char ev[EMIT_EVENT_MAX], err[768], promo[160];
    struct emit_ack a;
    snprintf(promo, sizeof(promo), "clearance-%.64s-%lld", sku, (long long)out_now_ms());
    int rc = promotion_start(d->cfg, promo, sku, qty, out_now_ms() + days * 86400000LL, ev, &a, err,
                             sizeof(err));
    if (rc)
        return fail(c, status_of(rc), err);
    atomic_store(&d->deadstock_due, 1);
    return sent(c, "inventory.promotions", &a, ev);
}

static MHD_RESULT sku_set(struct dash *d, struct MHD_Connection *c, yajl_val v)
{
    const char *sku = str_field(v, "sku");
    struct sku_settings s = {num_field(v, "safety_stock", 1000000000L),
                             num_field(v, "low_stock_threshold", 1000000000L),
                             num_field(v, "hide_below", 1000000000L), NULL};
    if (!sku || s.safety_stock < -1 || s.low_stock_threshold < -1 || s.hide_below < -1)
        return fail(c, MHD_HTTP_BAD_REQUEST,
                    "expected {sku, safety_stock?, low_stock_threshold?, hide_below?}: whole "
                    "numbers 0..1000000000");
    char ev[EMIT_EVENT_MAX], err[768];
    struct emit_ack a;
    int rc = sku_configure(d->cfg, sku, &s, ev, &a, err, sizeof(err));
    return rc ? fail(c, status_of(rc), err) : sent(c, "inventory.stock", &a, ev);
}

static MHD_RESULT redrive(struct dash *d, struct MHD_Connection *c, yajl_val v)
{
    struct redrive_opts o = REDRIVE_OPTS_INIT;
    struct dlq_redrive_result res;
    char err[768], body[1400];
    o.topic = str_field(v, "topic");
    if (!o.topic || !*o.topic)
        return fail(c, MHD_HTTP_BAD_REQUEST, "expected {topic}");
    int rc = dlq_redrive_run(d->cfg, &o, &res, err, sizeof(err));
    if (rc)
        return fail(c, status_of(rc), err);
    snprintf(body, sizeof(body),
             "{\"ok\":true,\"message\":\"moved %ld dead letter(s) in %.2f s, skipped %ld, "
             "refused %ld, held back %ld, %ld moved by an earlier run\",\"moved\":%ld}",
             res.moved, res.seconds, res.skipped, res.refused, res.held_back, res.moved_before,
             res.moved);
    return reply(c, MHD_HTTP_OK, "application/json", body, strlen(body), MHD_RESPMEM_MUST_COPY);
}

static MHD_RESULT action(struct dash *d, struct MHD_Connection *c, const char *url, struct req *q)
{
    char why[256];
    if (q->too_big)
        return fail(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body over 4096 bytes");
    q->body[q->len] = '\0';
    yajl_val v = yajl_tree_parse(q->body, why, sizeof(why));
    if (!v || !YAJL_IS_OBJECT(v))
        return yajl_tree_free(v), fail(c, MHD_HTTP_BAD_REQUEST, "expected a JSON object");
    MHD_RESULT r = !strcmp(url, "/api/clearance") ? clearance(d, c, v)
                   : !strcmp(url, "/api/sku")     ? sku_set(d, c, v)
                   : !strcmp(url, "/api/redrive") ? redrive(d, c, v)
                                                  : fail(c, MHD_HTTP_NOT_FOUND, "no such action");
    yajl_tree_free(v);
    return r;
}

static MHD_RESULT on_request(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *data,
                             size_t *size, void **con_cls)
{
    struct dash *d = cls;
    int post = !strcmp(method, "POST");
    if (post && !*con_cls) { /* the headers: check before reading a body */
        unsigned st = check(d, c, url, 1);
        if (st)
            return fail(c, st,
                        st == MHD_HTTP_UNAUTHORIZED ? "bearer token required"
                                                    : "forbidden: CSRF token or Host");
        struct req *q = calloc(1, sizeof(*q));
        *con_cls = q;
        return q ? MHD_YES : MHD_NO;
    }
    if (post && *size) {
        struct req *q = *con_cls;
        if (q->len + *size > BODY_MAX)
            q->too_big = 1;
        else
            memcpy(q->body + q->len, data, *size), q->len += *size;
        *size = 0;
        return MHD_YES;
    }
    if (post)
        return action(d, c, url, *con_cls);
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return fail(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET or POST");
    unsigned st = check(d, c, url, 0);
    if (st)
        return fail(c, st, st == MHD_HTTP_UNAUTHORIZED ? "bearer token required" : "forbidden");
    if (!strcmp(url, "/"))
        return page(d, c);
    if (!strcmp(url, "/api/state"))
        return state(d, c);
    return fail(c, MHD_HTTP_NOT_FOUND, "not found");
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    free(*con_cls);
    *con_cls = NULL;
}

struct MHD_Daemon *dash_http_start(struct dash *d, const void *addr, int *port, char *err,
                                   size_t errlen)
{
    const struct sockaddr *sa = addr;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     (sa->sa_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *m =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, d, MHD_OPTION_SOCK_ADDR, addr,
                         MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_CONNECTION_LIMIT,
                         64u, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!m) {
        snprintf(err, errlen, "cannot listen there (in use, or not an address of this host)");
        return NULL;
    }
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(m, MHD_DAEMON_INFO_BIND_PORT);
    *port = i ? i->port : 0;
    return m;
}
