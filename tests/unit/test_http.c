/* Unit tests of http: real HTTP round trips with libcurl to /metrics,
 * /healthz and /readyz (200 and 503), unknown paths and methods, port
 * handling, and the heartbeat and status probes. */
#include "http.h"
#include "metrics.h"

#include <check.h>
#include <curl/curl.h>
#include <dirent.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct resp {
    long status;
    char body[65536];
    size_t len;
    char ctype[128];
    char allow[64];
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t k = size * n;
    if (k > sizeof(r->body) - 1 - r->len)
        return 0; /* too long: fails the transfer */
    memcpy(r->body + r->len, p, k);
    r->len += k;
    r->body[r->len] = '\0';
    return k;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t k = size * n;
    if (k > 7 && strncasecmp(p, "Allow: ", 7) == 0)
        snprintf(r->allow, sizeof(r->allow), "%.*s", (int)(k - 7 - 2), p + 7);
    return k;
}

/* method: "GET", "HEAD" or "POST". */
static void request(const struct http *h, const char *method, const char *path, struct resp *r)
{
    char url[128];
    memset(r, 0, sizeof(*r));
    snprintf(url, sizeof(url), "http://127.0.0.1:%ld%s", http_port(h), path);
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
    CURLcode e = curl_easy_perform(c);
    ck_assert_msg(e == CURLE_OK, "%s %s: %s", method, url, curl_easy_strerror(e));
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r->ctype, sizeof(r->ctype), "%s", ct ? ct : "");
    curl_easy_cleanup(c);
}

static struct http *start(const struct http_probe *probe)
{
    struct http *h = NULL;
    char err[256] = "";
    int rc = http_new(&h, NULL, HTTP_PORT_EPHEMERAL, probe, err, sizeof(err));
    ck_assert_msg(rc == 0, "http_new: %d %s", rc, err);
    ck_assert_ptr_nonnull(h);
    ck_assert_int_gt(http_port(h), 0);
    return h;
}

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void setup(void)
{
    metrics_reset();
}

START_TEST(metrics_endpoint_serves_the_registry)
{
    ck_assert_int_eq(metrics_describe_stockflow("order-worker", "9.9.9"), 0);
    ck_assert_int_eq(metrics_counter_add(METRICS_EVENTS,
                                         "topic=\"inventory.orders\",type=\"order.created\","
                                         "outcome=\"applied\"",
                                         5),
                     0);
    struct http *h = start(NULL);
    struct resp r;
    request(h, "GET", "/metrics", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
    ck_assert_ptr_nonnull(strstr(r.body, "# TYPE stockflow_events_total counter\n"
                                         "stockflow_events_total{topic=\"inventory.orders\","
                                         "type=\"order.created\",outcome=\"applied\"} 5\n"));
    ck_assert_ptr_nonnull(strstr(r.body, "stockflow_build_info{version=\"9.9.9\","
                                         "worker=\"order-worker\"} 1\n"));
    char *direct = NULL;
    metrics_render(&direct);
    ck_assert_str_eq(r.body, direct);
    free(direct);
    http_free(h);
}
END_TEST

START_TEST(probes_default_to_ok)
{
    struct http *h = start(NULL);
    struct resp r;
    request(h, "GET", "/healthz", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "ok\n");
    ck_assert_str_eq(r.ctype, "text/plain; charset=utf-8");
    request(h, "GET", "/readyz", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "ok\n");
    http_free(h);
}
END_TEST

START_TEST(healthz_follows_the_heartbeat)
{
    struct http_heartbeat hb = HTTP_HEARTBEAT_INIT(200);
    struct http_probe p = {.healthz = http_heartbeat_check, .healthz_ctx = &hb};
    struct http *h = start(&p);
    struct resp r;
    request(h, "GET", "/healthz", &r);
    ck_assert_int_eq(r.status, 503);
    ck_assert_str_eq(r.body, "the loop has not started\n");
    http_heartbeat_beat(&hb);
    request(h, "GET", "/healthz", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "ok\n");
    nanosleep(&(struct timespec){.tv_nsec = 400 * 1000000}, NULL);
    request(h, "GET", "/healthz", &r);
    ck_assert_int_eq(r.status, 503);
    ck_assert_msg(strstr(r.body, "the loop has not run for ") && strstr(r.body, "(limit 0.2 s)"),
                  "body: %s", r.body);
    request(h, "GET", "/readyz", &r); /* no readiness probe: ready */
    ck_assert_int_eq(r.status, 200);
    http_free(h);
}
END_TEST

START_TEST(readyz_follows_the_status)
{
    struct http_status st = HTTP_STATUS_INIT;
    struct http_probe p = {.readyz = http_status_check, .readyz_ctx = &st};
    struct http *h = start(&p);
    struct resp r;
    request(h, "GET", "/readyz", &r);
    ck_assert_int_eq(r.status, 503);
    ck_assert_str_eq(r.body, "starting\n");
    http_status_set(&st, 1, "ok");
    request(h, "GET", "/readyz", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "ok\n");
    http_status_set(&st, 0, "paused: PostgreSQL unavailable for %d s", 12);
    request(h, "GET", "/readyz", &r);
    ck_assert_int_eq(r.status, 503);
    ck_assert_str_eq(r.body, "paused: PostgreSQL unavailable for 12 s\n");
    request(h, "HEAD", "/readyz", &r);
    ck_assert_int_eq(r.status, 503);
    ck_assert_uint_eq(r.len, 0);
    request(h, "GET", "/healthz", &r);
    ck_assert_int_eq(r.status, 200);
    http_free(h);
}
END_TEST

static int multi_line(void *ctx, char *why, size_t whylen)
{
    snprintf(why, whylen, "first line\nsecond line");
    return 1;
}

static int empty_reason(void *ctx, char *why, size_t whylen)
{
    return 1;
}

START_TEST(a_reason_is_one_line)
{
    struct http_probe p = {.healthz = multi_line, .readyz = empty_reason};
    struct http *h = start(&p);
    struct resp r;
    request(h, "GET", "/healthz", &r);
    ck_assert_int_eq(r.status, 503);
    ck_assert_str_eq(r.body, "first line\n");
    request(h, "GET", "/readyz", &r);
    ck_assert_int_eq(r.status, 503);
    ck_assert_str_eq(r.body, "not ok\n");
    http_free(h);
}
END_TEST

START_TEST(unknown_paths_and_methods)
{
    struct http *h = start(NULL);
    struct resp r;
    static const char *const paths[] = {"/", "/metricsx", "/metrics/", "/health", "/READYZ"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        request(h, "GET", paths[i], &r);
        ck_assert_msg(r.status == 404, "%s: %ld", paths[i], r.status);
        ck_assert_str_eq(r.body, "not found: try /metrics, /healthz or /readyz\n");
    }
    request(h, "GET", "/metrics?x=1", &r); /* a query string is ignored */
    ck_assert_int_eq(r.status, 200);
    request(h, "POST", "/metrics", &r);
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(r.allow, "GET, HEAD");
    request(h, "HEAD", "/metrics", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.len, 0);
    http_free(h);
}
END_TEST

START_TEST(port_zero_disables)
{
    struct http *h = (struct http *)&h; /* not NULL */
    char err[128] = "";
    ck_assert_int_eq(http_new(&h, NULL, 0, NULL, err, sizeof(err)), 0);
    ck_assert_ptr_null(h);
    ck_assert_int_eq(http_port(NULL), 0);
    http_free(NULL);
    ck_assert_int_eq(http_new(&h, NULL, 70000, NULL, err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "HTTP_PORT 70000: not a port (1..65535, 0 disables)");
    ck_assert_int_eq(http_new(&h, NULL, -5, NULL, err, sizeof(err)), -EINVAL);
    ck_assert_ptr_null(h);
}
END_TEST

START_TEST(port_in_use_is_one_clear_error)
{
    struct http *a = start(NULL), *b = (struct http *)&a;
    char err[256] = "", want[128];
    long port = http_port(a);
    ck_assert_int_eq(http_new(&b, NULL, port, NULL, err, sizeof(err)), -EADDRINUSE);
    ck_assert_ptr_null(b);
    snprintf(want, sizeof(want), "HTTP_PORT %ld: cannot listen on 0.0.0.0:%ld: %s", port, port,
             strerror(EADDRINUSE));
    ck_assert_str_eq(err, want);
    http_free(a);
}
END_TEST

START_TEST(free_releases_port_and_descriptors)
{
    int before = open_fds();
    struct http *a = start(NULL);
    long port = http_port(a);
    struct resp r;
    request(a, "GET", "/metrics", &r);
    http_free(a);
    ck_assert_int_eq(open_fds(), before);
    /* the same port is free again */
    char err[256] = "";
    ck_assert_int_eq(http_new(&a, NULL, port, NULL, err, sizeof(err)), 0);
    ck_assert_int_eq(http_port(a), port);
    http_free(a);
}
END_TEST

/* A TCP connection from loopback address src (127.0.0.x: Linux routes the
 * whole 127/8 to lo) to dst:port; -1 if refused. */
static int tcp_from(const char *src, const char *dst, long port)
{
    struct sockaddr_in a = {.sin_family = AF_INET}, b = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(inet_pton(AF_INET, src, &a.sin_addr), 1);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(inet_pton(AF_INET, dst, &b.sin_addr), 1);
    b.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&b, sizeof(b))) {
        close(fd);
        return -1;
    }
    return fd;
}

/* GET path over a raw connection from src; the status code, or -1 when the
 * server closed the connection (or sent nothing) within 5 s. */
static int raw_get(const char *src, const char *dst, long port, const char *path)
{
    char req[128], buf[256];
    int fd = tcp_from(src, dst, port), code = -1;
    size_t n = 0;
    if (fd < 0)
        return -1;
    snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", path);
    if (write(fd, req, strlen(req)) == (ssize_t)strlen(req)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        while (n < sizeof(buf) - 1 && poll(&p, 1, 5000) == 1) {
            ssize_t k = read(fd, buf + n, sizeof(buf) - 1 - n);
            if (k <= 0)
                break;
            n += (size_t)k;
        }
        buf[n] = '\0';
        if (sscanf(buf, "HTTP/1.%*d %d", &code) != 1)
            code = -1;
    }
    close(fd);
    return code;
}

START_TEST(http_bind_is_the_listening_address)
{
    struct http *h = NULL;
    char err[256] = "";
    ck_assert_int_eq(http_new(&h, "127.0.0.2", HTTP_PORT_EPHEMERAL, NULL, err, sizeof(err)), 0);
    long port = http_port(h);
    ck_assert_int_eq(raw_get("127.0.0.1", "127.0.0.2", port, "/healthz"), 200);
    ck_assert_int_eq(tcp_from("127.0.0.1", "127.0.0.1", port), -1); /* not on 127.0.0.1 */
    http_free(h);
    h = (struct http *)&h;
    ck_assert_int_eq(http_new(&h, "localhost", 8080, NULL, err, sizeof(err)), -EINVAL);
    ck_assert_ptr_null(h);
    ck_assert_ptr_nonnull(strstr(err, "HTTP_BIND localhost: not an IP address"));
}
END_TEST

/* One client opening more connections than the server has, and sending
 * nothing, holds only HTTP_MAX_PER_CLIENT of them: the liveness probe from
 * another address is still answered at once. */
START_TEST(one_client_cannot_starve_the_probe)
{
    struct http *h = start(NULL);
    long port = http_port(h);
    int fds[HTTP_MAX_CONNECTIONS + 8], held = 0;
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        fds[i] = tcp_from("127.0.0.3", "127.0.0.1", port);
    /* the server closes each connection past the client's share */
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        char c;
        if (fds[i] >= 0 && !(poll(&p, 1, 200) == 1 && read(fds[i], &c, 1) == 0))
            held++;
    }
    ck_assert_int_eq(held, HTTP_MAX_PER_CLIENT);
    ck_assert_int_eq(raw_get("127.0.0.4", "127.0.0.1", port, "/healthz"), 200);
    ck_assert_int_eq(raw_get("127.0.0.4", "127.0.0.1", port, "/metrics"), 200);
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    http_free(h);
}
END_TEST

START_TEST(heartbeat_and_status_without_server)
{
    struct http_heartbeat hb = HTTP_HEARTBEAT_INIT(10000);
    struct http_status st = HTTP_STATUS_INIT;
    char why[64] = "";
    ck_assert_int_ne(http_heartbeat_check(&hb, why, sizeof(why)), 0);
    http_heartbeat_beat(&hb);
    ck_assert_int_eq(http_heartbeat_check(&hb, why, sizeof(why)), 0);
    ck_assert_int_ne(http_status_check(&st, why, sizeof(why)), 0);
    ck_assert_str_eq(why, "starting");
    http_status_set(&st, 0, "%s", "a reason longer than the buffer it is copied into, cut");
    ck_assert_int_ne(http_status_check(&st, why, 8), 0);
    ck_assert_str_eq(why, "a reaso");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, setup);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, metrics_endpoint_serves_the_registry);
    tcase_add_test(tc, probes_default_to_ok);
    tcase_add_test(tc, healthz_follows_the_heartbeat);
    tcase_add_test(tc, readyz_follows_the_status);
    tcase_add_test(tc, a_reason_is_one_line);
    tcase_add_test(tc, unknown_paths_and_methods);
    tcase_add_test(tc, port_zero_disables);
    tcase_add_test(tc, port_in_use_is_one_clear_error);
    tcase_add_test(tc, free_releases_port_and_descriptors);
    tcase_add_test(tc, heartbeat_and_status_without_server);
    tcase_add_test(tc, http_bind_is_the_listening_address);
    tcase_add_test(tc, one_client_cannot_starve_the_probe);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
