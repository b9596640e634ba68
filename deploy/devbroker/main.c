/* stockflow-devbroker: a development Kafka broker on librdkafka's mock
 * cluster. It speaks the real Kafka protocol on 127.0.0.1, creates the
 * DESIGN §2 topics up front, keeps every record in memory only, and takes
 * fault-injection commands on an optional UNIX control socket (cmd.h). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "cmd.h"
#include "ctl.h"

#define MAX_EXTRA_TOPICS 64
#define LEDGER_MIN_PARTITIONS 12 /* the mock keeps ~5 MiB per partition */
#define LOOP_TIMEOUT_MS 200

struct extra_topic {
    const char *name; /* borrowed from argv, NUL-terminated by parse_topic */
    int partitions;   /* 0: use --partitions */
};

struct opts {
    int brokers;
    int partitions;
    int retry_steps;
    const char *bootstrap_file;
    const char *control_path;
    int n_extra;
    struct extra_topic extra[MAX_EXTRA_TOPICS];
};

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

/* ---- logging: JSON lines on stderr ------------------------------------ */

/* Escapes 'in' for a JSON string; non-ASCII bytes become '?' so that the
 * line stays valid UTF-8 whatever a control client sent. */
static void json_escape(const char *in, char *out, size_t outlen)
{
    size_t o = 0;

    for (; *in && o + 7 < outlen; in++) {
        unsigned char ch = (unsigned char)*in;

        if (ch == '"' || ch == '\\')
            o += (size_t)snprintf(out + o, outlen - o, "\\%c", ch);
        else if (ch < 0x20)
            o += (size_t)snprintf(out + o, outlen - o, "\\u%04x", ch);
        else if (ch > 0x7e)
            out[o++] = '?';
        else
            out[o++] = (char)ch;
    }
    out[o] = '\0';
}

static void logmsg(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One JSON line on stderr: ts, level, worker, msg. */
static void logmsg(const char *level, const char *fmt, ...)
{
    char msg[1024], esc[2048], ts[32];
    struct timespec now;
    struct tm tm;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_escape(msg, esc, sizeof(esc));
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr,
            "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"worker\":\"devbroker\",\"msg\":\"%s\"}\n", ts,
            now.tv_nsec / 1000000, level, esc);
}

static const char *syslog_level_name(int level)
{
    if (level <= 3)
        return "error";
    if (level <= 5)
        return "warn";
    return level == 6 ? "info" : "debug";
}

static void on_rdkafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* The handle only hosts the mock cluster; it never connects anywhere. */
    if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "bootstrap.servers"))
        return;
    logmsg(syslog_level_name(level), "rdkafka %s: %s", fac, buf);
}

/* ---- options ---------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("Usage: stockflow-devbroker [OPTION]...\n"
          "Development Kafka broker for stockflow, built on librdkafka's mock cluster.\n"
          "It speaks the Kafka protocol on 127.0.0.1 (free ports picked at start) and\n"
          "holds all data in memory only: every record is lost when it stops.\n"
          "\n"
          "  -b, --brokers N            brokers, ids 1..N (default 1, max 16)\n"
          "  -p, --partitions N         partitions of each stockflow topic (default 6,\n"
          "                             max 256); inventory.ledger gets at least 12\n"
          "  -r, --retry-steps N        <source>.retry.1..N topics per source topic\n"
          "                             (default 4, 0..64)\n"
          "  -t, --topic NAME[:PARTS]   also create NAME, with PARTS partitions; naming a\n"
          "                             built-in topic sets its partition count\n"
          "                             (default --partitions); repeatable, up to 64\n"
          "  -f, --bootstrap-file PATH  when ready, write the bootstrap address to PATH\n"
          "                             (temp file + rename); removed on exit\n"
          "  -c, --control PATH         serve fault-injection commands on this UNIX\n"
          "                             stream socket; removed on exit\n"
          "  -h, --help                 show this help and exit\n"
          "\n"
          "Topics created: inventory.orders, inventory.payments, inventory.stock,\n"
          "inventory.promotions, each with <topic>.retry.1..N and <topic>.dlq;\n"
          "inventory.alerts, inventory.alerts.dlq, inventory.availability,\n"
          "inventory.ledger. Any other topic a client asks for is auto-created with 4\n"
          "partitions.\n"
          "\n"
          "When ready it prints the bootstrap address (e.g. 127.0.0.1:41234; one per\n"
          "broker, comma-separated) as the first line on stdout. Logs are JSON lines\n"
          "on stderr. SIGTERM or SIGINT stops it cleanly (exit 0).\n"
          "\n"
          "Control socket: one command per line, each answered \"ok\" or \"error: ...\":\n"
          "  ping | help | bootstrap | down <id|-1> | up <id|-1> | rtt <id|-1> <ms> |\n"
          "  push-errors <ApiKey> <count> <error> | topic-error <topic> <error> |\n"
          "  clear <ApiKey|all>\n"
          "ApiKey: Produce, Fetch, Metadata, OffsetCommit, JoinGroup, Heartbeat, ... or\n"
          "a number; error: a librdkafka error name (_TRANSPORT, NOT_COORDINATOR, ...)\n"
          "or a number.\n"
          "\n"
          "Limits: ~5 MiB of log per partition (older records silently dropped); no\n"
          "CreateTopics admin API; a group join takes ~3 s, so use short session\n"
          "timeouts. Exit status: 0 clean stop, 1 runtime failure, 2 usage error.\n",
          f);
}

static int parse_int(const char *opt, const char *s, int min, int max, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "stockflow-devbroker: %s: '%s' is not an integer in %d..%d\n", opt, s, min,
                max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int valid_topic_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 249 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* Parses NAME[:PARTS] in place (the ':' becomes a NUL). */
static int parse_topic(struct opts *o, char *arg)
{
    char *colon = strrchr(arg, ':');
    struct extra_topic *t;

    if (o->n_extra == MAX_EXTRA_TOPICS) {
        fprintf(stderr, "stockflow-devbroker: --topic: at most %d topics\n", MAX_EXTRA_TOPICS);
        return -1;
    }
    t = &o->extra[o->n_extra];
    t->partitions = 0;
    if (colon) {
        *colon = '\0';
        if (parse_int("--topic", colon + 1, 1, 256, &t->partitions) < 0)
            return -1;
    }
    if (!valid_topic_name(arg)) {
        fprintf(stderr, "stockflow-devbroker: --topic: '%s' is not a valid topic name\n", arg);
        return -1;
    }
    t->name = arg;
    o->n_extra++;
    return 0;
}

static const struct option long_opts[] = {
    {"brokers", required_argument, NULL, 'b'},
    {"partitions", required_argument, NULL, 'p'},
    {"retry-steps", required_argument, NULL, 'r'},
    {"topic", required_argument, NULL, 't'},
    {"bootstrap-file", required_argument, NULL, 'f'},
    {"control", required_argument, NULL, 'c'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Applies one option; returns 0, 1 after --help, -1 on a usage error. */
static int parse_one(struct opts *o, int c, char *arg)
{
    switch (c) {
    case 'b':
        return parse_int("--brokers", arg, 1, 16, &o->brokers);
    case 'p':
        return parse_int("--partitions", arg, 1, 256, &o->partitions);
    case 'r':
        return parse_int("--retry-steps", arg, 0, 64, &o->retry_steps);
    case 't':
        return parse_topic(o, arg);
    case 'f':
        o->bootstrap_file = arg;
        return 0;
    case 'c':
        o->control_path = arg;
        return 0;
    case 'h':
        usage(stdout);
        return 1;
    default:
        return -1; /* getopt_long printed why */
    }
}

/* Returns 0 to run, 1 after --help, -1 on a usage error (message printed). */
static int parse_opts(struct opts *o, int argc, char **argv)
{
    int c, rc = 0;

    *o = (struct opts){.brokers = 1, .partitions = 6, .retry_steps = 4};
    while (rc == 0 && (c = getopt_long(argc, argv, "b:p:r:t:f:c:h", long_opts, NULL)) != -1)
        rc = parse_one(o, c, optarg);
    if (rc == 0 && optind < argc) {
        fprintf(stderr, "stockflow-devbroker: unexpected argument '%s'\n", argv[optind]);
        rc = -1;
    }
    if (rc < 0)
        fputs("Try 'stockflow-devbroker --help'.\n", stderr);
    return rc;
}

/* ---- topics ----------------------------------------------------------- */

/* A --topic naming a built-in topic sets its partition count instead. */
static const struct opts *topic_opts;

static int overridden(const char *name)
{
    for (int i = 0; topic_opts && i < topic_opts->n_extra; i++)
        if (strcmp(topic_opts->extra[i].name, name) == 0 && topic_opts->extra[i].partitions > 0)
            return topic_opts->extra[i].partitions;
    return 0;
}

/* Topics are queued, then created all at once from one thread each:
 * librdkafka 2.0.2's mock thread loses the wake-up of back-to-back requests
 * and serves each of them only at its next 1 s poll timeout, so 24 topics
 * created one after another take ~6 s, and created concurrently ~1 s. */
#define MAX_TOPICS 512

struct topic_req {
    rd_kafka_mock_cluster_t *mc;
    char name[256];
    int parts, rf;
    rd_kafka_resp_err_t err;
};

static struct topic_req topic_reqs[MAX_TOPICS];
static int n_topic_reqs;

static int create_topic(rd_kafka_mock_cluster_t *mc, const char *name, int parts, int rf)
{
    struct topic_req *r;

    if (n_topic_reqs == MAX_TOPICS) {
        logmsg("error", "create topic %s: more than %d topics", name, MAX_TOPICS);
        return -1;
    }
    r = &topic_reqs[n_topic_reqs++];
    r->mc = mc;
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->parts = overridden(name) ? overridden(name) : parts;
    r->rf = rf;
    return 0;
}

static void *create_one(void *arg)
{
    struct topic_req *r = arg;

    r->err = rd_kafka_mock_topic_create(r->mc, r->name, r->parts, r->rf);
    return NULL;
}

/* Creates every queued topic concurrently; -1 if any failed. */
static int create_queued(void)
{
    static pthread_t th[MAX_TOPICS];
    int rc = 0;

    for (int i = 0; i < n_topic_reqs; i++)
        if (pthread_create(&th[i], NULL, create_one, &topic_reqs[i]) != 0)
            create_one(&topic_reqs[i]), th[i] = 0;
    for (int i = 0; i < n_topic_reqs; i++) {
        if (th[i])
            pthread_join(th[i], NULL);
        if (topic_reqs[i].err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS && i > 0)
            continue; /* a --topic naming a built-in one */
        if (topic_reqs[i].err) {
            logmsg("error", "create topic %s: %s", topic_reqs[i].name,
                   rd_kafka_err2str(topic_reqs[i].err));
            rc = -1;
        }
    }
    n_topic_reqs = 0;
    return rc;
}

/* The source topics with their retry and dead-letter topics. */
static int create_source_topics(rd_kafka_mock_cluster_t *mc, const struct opts *o, int rf)
{
    static const char *const sources[] = {"inventory.orders", "inventory.payments",
                                          "inventory.stock", "inventory.promotions"};
    char name[256];

    for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
        if (create_topic(mc, sources[i], o->partitions, rf) < 0)
            return -1;
        for (int n = 1; n <= o->retry_steps; n++) {
            snprintf(name, sizeof(name), "%s.retry.%d", sources[i], n);
            if (create_topic(mc, name, o->partitions, rf) < 0)
                return -1;
        }
        snprintf(name, sizeof(name), "%s.dlq", sources[i]);
        if (create_topic(mc, name, o->partitions, rf) < 0)
            return -1;
    }
    return 0;
}

static int create_topics(rd_kafka_mock_cluster_t *mc, const struct opts *o)
{
    static const char *const plain[] = {"inventory.alerts", "inventory.alerts.dlq",
                                        "inventory.availability"};
    int rf = o->brokers < 3 ? o->brokers : 3;
    int ledger = o->partitions > LEDGER_MIN_PARTITIONS ? o->partitions : LEDGER_MIN_PARTITIONS;

    topic_opts = o;
    if (create_source_topics(mc, o, rf) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        if (create_topic(mc, plain[i], o->partitions, rf) < 0)
            return -1;
    }
    if (create_topic(mc, "inventory.ledger", ledger, rf) < 0)
        return -1;
    for (int i = 0; i < o->n_extra; i++) {
        const struct extra_topic *t = &o->extra[i];
        int builtin = 0;

        for (int k = 0; k < n_topic_reqs; k++)
            builtin |= strcmp(topic_reqs[k].name, t->name) == 0;
        if (!builtin &&
            create_topic(mc, t->name, t->partitions ? t->partitions : o->partitions, rf) < 0)
            return -1;
    }
    return create_queued();
}

/* ---- lifecycle -------------------------------------------------------- */

/* Writes "ADDR\n" to a temp file beside 'path', then renames it over. */
static int write_bootstrap_file(const char *path, const char *addr)
{
    char tmp[4096];
    FILE *f;
    int ok;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp)) {
        logmsg("error", "--bootstrap-file %s: path too long", path);
        return -1;
    }
    f = fopen(tmp, "w");
    if (!f) {
        logmsg("error", "--bootstrap-file %s: %s", tmp, strerror(errno));
        return -1;
    }
    ok = fprintf(f, "%s\n", addr) > 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) < 0) {
        logmsg("error", "--bootstrap-file %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void on_ctl(void *opaque, const char *line, char *reply, size_t len)
{
    int rc = cmd_exec(opaque, line, reply, len);

    if (rc < 0 || strcmp(line, "ping") != 0)
        logmsg(rc == 0 ? "info" : "warn", "control: %s -> %s", line, reply);
}

struct broker {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    struct ctl *ctl;
    const char *bootstrap_file; /* set once written: removed at stop */
};

static int broker_start(struct broker *b, const struct opts *o)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    const char *addr;

    rd_kafka_conf_set_log_cb(conf, on_rdkafka_log);
    b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!b->rk) {
        rd_kafka_conf_destroy(conf); /* only owned by rk on success */
        logmsg("error", "rd_kafka_new: %s", err);
        return -1;
    }
    b->mc = rd_kafka_mock_cluster_new(b->rk, o->brokers);
    if (!b->mc) {
        logmsg("error", "rd_kafka_mock_cluster_new failed");
        return -1;
    }
    if (create_topics(b->mc, o) < 0)
        return -1;
    if (o->control_path && ctl_new(&b->ctl, o->control_path, on_ctl, b->mc, err, sizeof(err)) < 0) {
        logmsg("error", "%s", err);
        return -1;
    }
    addr = rd_kafka_mock_cluster_bootstraps(b->mc);
    if (o->bootstrap_file) {
        if (write_bootstrap_file(o->bootstrap_file, addr) < 0)
            return -1;
        b->bootstrap_file = o->bootstrap_file;
    }
    printf("%s\n", addr);
    fflush(stdout);
    logmsg("info", "ready: bootstrap %s, %d broker(s), control %s", addr, o->brokers,
           o->control_path ? o->control_path : "off");
    return 0;
}

/* Releases whatever broker_start() built, in reverse order. */
static void broker_stop(struct broker *b)
{
    ctl_free(b->ctl);
    if (b->bootstrap_file)
        unlink(b->bootstrap_file);
    if (b->mc)
        rd_kafka_mock_cluster_destroy(b->mc);
    if (b->rk)
        rd_kafka_destroy(b->rk);
    rd_kafka_wait_destroyed(5000);
}

static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term; /* no SA_RESTART: poll() returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
    struct broker b = {0};
    struct opts o;
    int rc = parse_opts(&o, argc, argv);

    if (rc != 0)
        return rc > 0 ? 0 : 2;
    install_signals();
    rc = broker_start(&b, &o);
    while (rc == 0 && !stop) {
        if (b.ctl)
            ctl_step(b.ctl, LOOP_TIMEOUT_MS);
        else
            usleep(LOOP_TIMEOUT_MS * 1000);
        rd_kafka_poll(b.rk, 0);
    }
    if (rc == 0)
        logmsg("info", "stopping on signal");
    broker_stop(&b);
    return rc == 0 ? 0 : 1;
}
