/* webhook-sink: a scripted HTTP webhook for the alert tests.
 *
 * Listens on 127.0.0.1 (libmicrohttpd, one internal polling thread, so
 * requests are handled one at a time and in order), appends one JSON line
 * per request to the --log file:
 *
 *   {"seq":1,"ts_ms":1700000000123,"method":"POST","path":"/hook",
 *    "idempotency_key":"dlq:...","content_type":"application/json",
 *    "status":500,"body_is_json":true,"body":"{...}"}
 *
 * and answers request n with the n-th status of --respond (the last one
 * repeats). A 429 carries "Retry-After: N" with --retry-after N. Writes the
 * port to --port-file (atomically) once it listens. SIGTERM or SIGINT stops
 * it (exit 0).
 *
 * With --secret S it verifies every request as a receiver of signed alerts
 * must (docs/operations.md): X-Stockflow-Signature "t=<unix>,v1=<hex>" where
 * v1 = HMAC-SHA256(S, "<t>.<raw body>"), compared in constant time, and t no
 * more than --max-age seconds (default 300) from now. The line then also
 * carries "signature": "valid", "invalid", "missing", "malformed" or
 * "stale" (and "signature_header", the header as received), and anything
 * but valid is answered 401 whatever --respond says.
 * Every line carries "authorization": the Authorization header or null. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <yajl/yajl_parse.h>

#define MAX_STATUSES 64
#define MAX_BODY (1024 * 1024)

struct sink {
    long statuses[MAX_STATUSES];
    size_t nstatuses;
    long retry_after; /* -1: no Retry-After */
    int log_fd;
    unsigned long seq; /* requests answered; only the MHD thread touches it */
    const char *secret; /* --secret: verify signatures */
    long max_age;       /* --max-age: replay window in seconds */
};

struct req {
    char *body;
    size_t n, cap;
    int too_big;
};

struct buf {
    char *p;
    size_t n, cap;
};

static int buf_put(struct buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

/* Appends "s" as a JSON string (or null): quotes, backslashes and control
 * characters escaped; other bytes as they are. */
static int buf_json_str(struct buf *b, const char *s, size_t n)
{
    if (!s)
        return buf_put(b, "null", 4);
    int bad = buf_put(b, "\"", 1);
    for (size_t i = 0; i < n && !bad; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            bad = buf_put(b, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            bad = buf_put(b, esc, 6);
        } else {
            bad = buf_put(b, (const char *)&s[i], 1);
        }
    }
    return bad | buf_put(b, "\"", 1);
}

/* Strict JSON (no comments, valid UTF-8, one value)? */
static int is_json(const char *s, size_t n)
{
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    int ok = h && yajl_parse(h, (const unsigned char *)s, n) == yajl_status_ok &&
             yajl_complete_parse(h) == yajl_status_ok;
    if (h)
        yajl_free(h);
    return ok;
}

static long long now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Verifies the X-Stockflow-Signature of one request (see the top). */
static const char *verify(const struct sink *s, const char *hdr, const char *body, size_t n)
{
    char hex[65] = "";
    long long t;
    int used = 0;
    if (!hdr)
        return "missing";
    if (sscanf(hdr, "t=%lld,v1=%64[0-9a-f]%n", &t, hex, &used) != 2 || hdr[used] != '\0' ||
        strlen(hex) != 64)
        return "malformed";
    size_t pn = (size_t)snprintf(NULL, 0, "%lld.", t);
    char *msg = malloc(pn + n + 1);
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t mdlen = 0;
    if (!msg)
        return "invalid";
    snprintf(msg, pn + 1, "%lld.", t);
    memcpy(msg + pn, body, n);
    int ok = EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, s->secret, strlen(s->secret),
                       (unsigned char *)msg, pn + n, md, sizeof(md), &mdlen) != NULL;
    free(msg);
    unsigned char want[32];
    for (int i = 0; i < 32; i++)
        sscanf(hex + 2 * i, "%2hhx", &want[i]);
    if (!ok || mdlen != 32 || CRYPTO_memcmp(md, want, 32) != 0)
        return "invalid";
    long long age = now_ms() / 1000 - t;
    return (age > s->max_age || age < -s->max_age) ? "stale" : "valid";
}

static void record(struct sink *s, struct MHD_Connection *c, const char *method, const char *url,
                   const struct req *r, long status, const char *sig)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    char head[128];
    struct buf b = {0};
    snprintf(head, sizeof(head), "{\"seq\":%lu,\"ts_ms\":%lld,\"method\":", s->seq, now_ms());
    int bad = buf_put(&b, head, strlen(head));
    bad |= buf_json_str(&b, method, strlen(method));
    bad |= buf_put(&b, ",\"path\":", 8) | buf_json_str(&b, url, strlen(url));
    bad |= buf_put(&b, ",\"idempotency_key\":", 19) | buf_json_str(&b, key, key ? strlen(key) : 0);
    bad |= buf_put(&b, ",\"content_type\":", 16) | buf_json_str(&b, ct, ct ? strlen(ct) : 0);
    bad |= buf_put(&b, ",\"authorization\":", 17) |
           buf_json_str(&b, auth, auth ? strlen(auth) : 0);
    if (sig) {
        const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Stockflow-Signature");
        bad |= buf_put(&b, ",\"signature\":", 13) | buf_json_str(&b, sig, strlen(sig));
        bad |= buf_put(&b, ",\"signature_header\":", 20) | buf_json_str(&b, h, h ? strlen(h) : 0);
    }
    snprintf(head, sizeof(head), ",\"status\":%ld,\"body_is_json\":%s,\"body\":", status,
             is_json(r->body ? r->body : "", r->n) ? "true" : "false");
    bad |= buf_put(&b, head, strlen(head));
    bad |= buf_json_str(&b, r->body ? r->body : "", r->n);
    bad |= buf_put(&b, "}\n", 2);
    if (bad || write(s->log_fd, b.p, b.n) != (ssize_t)b.n)
        fprintf(stderr, "webhook-sink: cannot write the log line of request %lu\n", s->seq);
    free(b.p);
}

static enum MHD_Result respond(struct sink *s, struct MHD_Connection *c, long status)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"status\":%ld,\"from\":\"webhook-sink\"}", status);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (status == 429 && s->retry_after >= 0) {
        char ra[32];
        snprintf(ra, sizeof(ra), "%ld", s->retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    enum MHD_Result rc = MHD_queue_response(c, (unsigned int)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static int append_body(struct req *r, const char *data, size_t n)
{
    if (r->too_big || r->n + n > MAX_BODY) {
        r->too_big = 1;
        return 0;
    }
    if (r->n + n + 1 > r->cap) {
        size_t cap = (r->n + n + 1) * 2;
        char *p = realloc(r->body, cap);
        if (!p)
            return -1;
        r->body = p;
        r->cap = cap;
    }
    memcpy(r->body + r->n, data, n);
    r->n += n;
    r->body[r->n] = '\0';
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
    struct sink *s = cls;
    struct req *r = *con_cls;
    (void)version;
    if (!r) {
        if (!(r = calloc(1, sizeof(*r))))
            return MHD_NO;
        *con_cls = r;
        return MHD_YES;
    }
    if (*data_size) {
        if (append_body(r, data, *data_size))
            return MHD_NO;
        *data_size = 0;
        return MHD_YES;
    }
    long status = r->too_big ? 413 : s->statuses[s->seq < s->nstatuses ? s->seq : s->nstatuses - 1];
    const char *sig = NULL;
    if (s->secret) {
        sig = verify(s, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Stockflow-Signature"),
                     r->body ? r->body : "", r->n);
        if (strcmp(sig, "valid") != 0)
            status = 401;
    }
    s->seq++;
    record(s, c, method, url, r, status, sig);
    return respond(s, c, status);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct req *r = *con_cls;
    (void)cls, (void)c, (void)toe;
    if (r) {
        free(r->body);
        free(r);
    }
    *con_cls = NULL;
}

/* ---- setup -------------------------------------------------------------- */

static int parse_statuses(struct sink *s, const char *arg)
{
    const char *p = arg;
    s->nstatuses = 0;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 100 || v > 599 || s->nstatuses == MAX_STATUSES ||
            (*end != ',' && *end != '\0'))
            return -1;
        s->statuses[s->nstatuses++] = v;
        p = *end == ',' ? end + 1 : end;
    }
    return s->nstatuses ? 0 : -1;
}

static int write_port_file(const char *path, unsigned port)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "%u\n", port);
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path);
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: webhook-sink --log FILE [--port-file FILE] [--port N]\n"
               "                    [--respond STATUS[,STATUS...]] [--retry-after SECONDS]\n"
               "                    [--secret SECRET [--max-age SECONDS]]\n"
               "A scripted webhook on 127.0.0.1: logs each request as a JSON line to FILE and\n"
               "answers the n-th request with the n-th STATUS (the last repeats; default 200).\n"
               "--port 0 (default) takes a free port; the port is written to --port-file.\n"
               "--secret verifies X-Stockflow-Signature (HMAC-SHA256 of \"<t>.<body>\", t within\n"
               "--max-age seconds, default 300) and answers 401 to anything not valid.\n");
}

struct opts {
    const char *log, *port_file;
    long port;
};

static int parse_args(int argc, char **argv, struct sink *s, struct opts *o)
{
    static const struct option lo[] = {{"log", required_argument, NULL, 'l'},
                                       {"port-file", required_argument, NULL, 'f'},
                                       {"port", required_argument, NULL, 'p'},
                                       {"respond", required_argument, NULL, 'r'},
                                       {"retry-after", required_argument, NULL, 'a'},
                                       {"secret", required_argument, NULL, 's'},
                                       {"max-age", required_argument, NULL, 'm'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        char *end = NULL;
        if (c == 'l')
            o->log = optarg;
        else if (c == 'f')
            o->port_file = optarg;
        else if (c == 'p' && ((o->port = strtol(optarg, &end, 10)) < 0 || o->port > 65535 || *end))
            return fprintf(stderr, "webhook-sink: bad --port %s\n", optarg), 2;
        else if (c == 'r' && parse_statuses(s, optarg))
            return fprintf(stderr, "webhook-sink: bad --respond %s\n", optarg), 2;
        else if (c == 'a' && ((s->retry_after = strtol(optarg, &end, 10)) < 0 || *end))
            return fprintf(stderr, "webhook-sink: bad --retry-after %s\n", optarg), 2;
        else if (c == 's')
            s->secret = optarg;
        else if (c == 'm' && ((s->max_age = strtol(optarg, &end, 10)) < 0 || *end))
            return fprintf(stderr, "webhook-sink: bad --max-age %s\n", optarg), 2;
        else if (c == 'h')
            return usage(stdout), 0;
        else if (c == '?')
            return usage(stderr), 2;
    }
    if (!o->log)
        return usage(stderr), 2;
    return -1;
}

int main(int argc, char **argv)
{
    struct sink s = {.statuses = {200}, .nstatuses = 1, .retry_after = -1, .max_age = 300};
    struct opts o = {0};
    int rc = parse_args(argc, argv, &s, &o);
    if (rc >= 0)
        return rc;
    if ((s.log_fd = open(o.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
        return fprintf(stderr, "webhook-sink: %s: %s\n", o.log, strerror(errno)), 1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* the MHD thread inherits the mask */
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)o.port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, &s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        &s, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30, MHD_OPTION_END);
    if (!d)
        return fprintf(stderr, "webhook-sink: cannot listen on 127.0.0.1:%ld\n", o.port), 1;
    unsigned port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    if (o.port_file && write_port_file(o.port_file, port))
        fprintf(stderr, "webhook-sink: %s: %s\n", o.port_file, strerror(errno));
    fprintf(stderr, "webhook-sink: listening on 127.0.0.1:%u\n", port);
    int sig = 0;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    close(s.log_fd);
    fprintf(stderr, "webhook-sink: stopped by signal %d after %lu request(s)\n", sig, s.seq);
    return 0;
}
