/* stockctl dlq list | show | redrive: inspect dead letters and send them
 * back (redrive lives in redrive.c). */
#include "dlq.h"

#include "arg.h"
#include "kread.h"
#include "out.h"
#include "stockctl.h"
#include "stop.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#define PREVIEW_CHARS 60
#define ERROR_CHARS 60

/* ---- shared ------------------------------------------------------------- */

void dlq_rec_read(const rd_kafka_message_t *m, struct dlq_rec *r)
{
    struct {
        const char *name;
        char *out;
        size_t len;
    } h[] = {
        {"x-attempt", r->attempt, sizeof(r->attempt)},
        {"x-error-class", r->error_class, sizeof(r->error_class)},
        {"x-error", r->error, sizeof(r->error)},
        {"x-original-topic", r->orig_topic, sizeof(r->orig_topic)},
        {"x-original-partition", r->orig_partition, sizeof(r->orig_partition)},
        {"x-original-offset", r->orig_offset, sizeof(r->orig_offset)},
        {"x-redriven-from", r->redriven_from, sizeof(r->redriven_from)},
    };
    char count[32];
    for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++)
        if (kafka_header_get(m, h[i].name, h[i].out, h[i].len))
            h[i].out[0] = '\0';
    if (kafka_header_get(m, "x-redrive-count", count, sizeof(count)) ||
        arg_long(count, 0, 1000000, &r->redrive_count, NULL, 0))
        r->redrive_count = 0;
    r->ts_ms = rd_kafka_message_timestamp(m, NULL);
}

int dlq_rec_match(const rd_kafka_message_t *m, const struct dlq_rec *r, const char *needle)
{
    size_t n = needle ? strlen(needle) : 0;
    if (n == 0)
        return 1;
    return (m->key && memmem(m->key, m->key_len, needle, n)) ||
           (m->payload && memmem(m->payload, m->len, needle, n)) || strstr(r->error, needle);
}

int dlq_source_of(const char *topic, char *out, size_t outlen)
{
    size_t n = strlen(topic);
    if (n <= 4 || strcmp(topic + n - 4, ".dlq") != 0 || n - 4 >= outlen)
        return -1;
    memcpy(out, topic, n - 4);
    out[n - 4] = '\0';
    return 0;
}

int dlq_src_open(struct dlq_src *s, const struct cfg *c, const char *topic, const char *group,
                 char *err, size_t errlen)
{
    const struct kafka_prop props[] = {{"enable.partition.eof", "true"},
                                       {"enable.auto.commit", "false"},
                                       {"enable.auto.offset.store", "false"},
                                       {"auto.offset.reset", "earliest"},
                                       {"client.id", "stockctl"},
                                       {"group.id", group ? group : KREAD_GROUP}};
    memset(s, 0, sizeof(*s));
    s->rk = kread_client(c, RD_KAFKA_CONSUMER, props, 6, err, errlen);
    if (!s->rk)
        return EXIT_USAGE;
    int rc = kread_partitions(s->rk, topic, &s->parts, err, errlen);
    if (rc)
        return rc;
    s->lo = calloc((size_t)s->parts->cnt, sizeof(*s->lo));
    s->hi = calloc((size_t)s->parts->cnt, sizeof(*s->hi));
    if (!s->lo || !s->hi) {
        snprintf(err, errlen, "out of memory");
        return EXIT_FAIL;
    }
    return kread_watermarks(s->rk, s->parts, s->lo, s->hi, err, errlen);
}

void dlq_src_close(struct dlq_src *s)
{
    if (s->parts)
        rd_kafka_topic_partition_list_destroy(s->parts);
    free(s->lo);
    free(s->hi);
    if (s->rk)
        rd_kafka_destroy(s->rk);
    memset(s, 0, sizeof(*s));
}

/* Every header of m as members of an open JSON map. */
static void json_headers(yajl_gen g, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *hdrs = NULL;
    const char *name;
    const void *val;
    size_t size;
    out_json_open(g, "headers", 0);
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
        for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++)
            out_json_bytes(g, name, val ? val : "", val ? size : 0);
    out_json_close(g, 0);
}

/* A header value that should be a number: as one, else null. */
static void json_number(yajl_gen g, const char *key, const char *v)
{
    long n;
    if (arg_long(v, 0, LONG_MAX, &n, NULL, 0) == 0)
        out_json_int(g, key, n);
    else
        out_json_str(g, key, NULL);
}

static void json_record(yajl_gen g, const rd_kafka_message_t *m, const struct dlq_rec *r)
{
    char ts[40];
    out_time(r->ts_ms, ts, sizeof(ts));
    out_json_open(g, NULL, 0);
    out_json_str(g, "topic", rd_kafka_topic_name(m->rkt));
    out_json_int(g, "partition", m->partition);
    out_json_int(g, "offset", m->offset);
    out_json_str(g, "timestamp", ts);
    out_json_int(g, "timestamp_ms", r->ts_ms);
    json_number(g, "attempt", r->attempt);
    out_json_str(g, "error_class", r->error_class);
    out_json_str(g, "error", r->error);
    out_json_str(g, "original_topic", r->orig_topic);
    json_number(g, "original_partition", r->orig_partition);
    json_number(g, "original_offset", r->orig_offset);
    out_json_int(g, "redrive_count", r->redrive_count);
    out_json_str(g, "redriven_from", r->redriven_from[0] ? r->redriven_from : NULL);
    out_json_bytes(g, "key", m->key, m->key_len);
    out_json_bytes(g, "payload", m->payload ? m->payload : "", m->len);
    json_headers(g, m);
    out_json_close(g, 0);
}

/* ---- counting ------------------------------------------------------------ */

int dlq_counts(const struct cfg *c, struct dlq_count *out, int max, int *n, char *err,
               size_t errlen)
{
    const struct kafka_prop props[] = {{"client.id", "stockctl"}};
    const struct rd_kafka_metadata *md = NULL;
    char src[256];
    *n = 0;
    rd_kafka_t *rk = kread_client(c, RD_KAFKA_CONSUMER, props, 1, err, errlen);
    if (!rk)
        return EXIT_USAGE;
    int rc = kread_metadata(rk, &md, err, errlen);
    for (int t = 0; rc == EXIT_OK && t < md->topic_cnt && *n < max; t++) {
        const rd_kafka_metadata_topic_t *mt = &md->topics[t];
        int np = mt->partition_cnt;
        if (dlq_source_of(mt->topic, src, sizeof(src)) || np <= 0)
            continue;
        int64_t *lo = calloc((size_t)np, sizeof(*lo)), *hi = calloc((size_t)np, sizeof(*hi));
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
        for (int p = 0; p < np; p++)
            rd_kafka_topic_partition_list_add(l, mt->topic, mt->partitions[p].id);
        rc = lo && hi ? kread_watermarks(rk, l, lo, hi, err, errlen)
                      : (snprintf(err, errlen, "out of memory"), EXIT_FAIL);
        struct dlq_count *d = &out[(*n)++];
        snprintf(d->topic, sizeof(d->topic), "%s", mt->topic);
        d->count = 0;
        for (int p = 0; rc == EXIT_OK && p < np; p++)
            d->count += hi[p] - lo[p];
        rd_kafka_topic_partition_list_destroy(l);
        free(lo);
        free(hi);
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- list --------------------------------------------------------------- */

static const struct out_col list_cols[] = {
    {"P:OFFSET", 9},
    {"TIME", 20},
    {"ATT", 3},
    {"CLASS", 9},
    {"ORIGINAL", 24},
    {"REDRIVEN", 28},
    {"KEY", 14},
    {"ERROR", ERROR_CHARS + 3},
    {"PAYLOAD", 0},
};

static void list_row(const rd_kafka_message_t *m, const struct dlq_rec *r)
{
    char po[48], ts[40], orig[320], redriven[440], key[OUT_PREVIEW_SIZE(40)], error[OUT_PREVIEW_SIZE(ERROR_CHARS)],
        payload[OUT_PREVIEW_SIZE(PREVIEW_CHARS)];
    snprintf(po, sizeof(po), "%d:%lld", (int)m->partition, (long long)m->offset);
    out_time(r->ts_ms, ts, sizeof(ts));
    if (strlen(ts) > 20)
        strcpy(ts + 19, "Z"); /* whole seconds in the table */
    snprintf(orig, sizeof(orig), "%s:%s:%s", r->orig_topic[0] ? r->orig_topic : "?",
             r->orig_partition[0] ? r->orig_partition : "?",
             r->orig_offset[0] ? r->orig_offset : "?");
    if (r->redrive_count > 0 || r->redriven_from[0])
        snprintf(redriven, sizeof(redriven), "%ldx from %s", r->redrive_count,
                 r->redriven_from[0] ? r->redriven_from : "?");
    else
        snprintf(redriven, sizeof(redriven), "-");
    out_preview(key, sizeof(key), m->key, m->key ? m->key_len : 0, 40);
    out_preview(error, sizeof(error), r->error, strlen(r->error), ERROR_CHARS);
    out_preview(payload, sizeof(payload), m->payload, m->payload ? m->len : 0, PREVIEW_CHARS);
    const char *cells[] = {po,
                           ts,
                           r->attempt[0] ? r->attempt : "-",
                           r->error_class[0] ? r->error_class : "-",
                           orig,
                           redriven,
                           m->key ? key : "(null)",
                           error,
                           payload};
    out_row(stdout, list_cols, 9, cells);
}

struct list_opts {
    const char *topic, *error_class, *grep;
    int64_t since_ms;
    long limit;
    int json;
};

static int list_keep(const struct list_opts *o, const rd_kafka_message_t *m,
                     const struct dlq_rec *r)
{
    return r->ts_ms >= o->since_ms &&
           (!o->error_class || !strcmp(o->error_class, r->error_class)) &&
           dlq_rec_match(m, r, o->grep);
}

/* One JSON line when g is given, else one table row. */
static void list_print(yajl_gen g, const rd_kafka_message_t *m, const struct dlq_rec *r)
{
    if (!g) {
        list_row(m, r);
        return;
    }
    json_record(g, m, r);
    out_json_line(g, stdout);
}

/* Reads every record of scan, printing the kept ones. Returns an exit code. */
static int list_scan(const struct list_opts *o, struct kread_scan *scan, long *shown,
                     long *matched, long *seen, char *err, size_t errlen)
{
    struct out_progress prog;
    yajl_gen g = o->json ? out_json_new(0) : NULL;
    int got = 0;
    out_progress_init(&prog);
    while (!stop_requested()) {
        rd_kafka_message_t *m;
        struct dlq_rec r;
        if ((got = kread_scan_next(scan, &m, err, errlen)) <= 0)
            break;
        dlq_rec_read(m, &r);
        (*seen)++;
        if (list_keep(o, m, &r)) { /* past --limit: counted, not shown */
            (*matched)++;
            if (o->limit == 0 || *shown < o->limit) {
                (*shown)++;
                list_print(g, m, &r);
            }
        }
        rd_kafka_message_destroy(m);
        out_progress(&prog, "read %ld dead letters, %lld to go", *seen,
                     (long long)kread_scan_left(scan));
    }
    out_progress_done(&prog);
    if (g)
        yajl_gen_free(g);
    return got < 0 ? EXIT_UNREACHABLE : EXIT_OK;
}

static int list_run(const struct cfg *c, const struct list_opts *o)
{
    struct dlq_src src;
    struct kread_scan *scan = NULL;
    char err[768];
    long shown = 0, matched = 0, seen = 0;
    char src_topic[256];
    int rc = dlq_src_open(&src, c, o->topic, NULL, err, sizeof(err));
    if (rc == EXIT_OK && dlq_source_of(o->topic, src_topic, sizeof(src_topic)))
        fprintf(stderr, "stockctl dlq list: warning: %s is not a dead-letter topic (its name does "
                        "not end in .dlq); listing its records as dead letters anyway\n",
                o->topic);
    for (int i = 0; rc == EXIT_OK && i < src.parts->cnt; i++)
        src.parts->elems[i].offset = src.lo[i];
    if (rc == EXIT_OK)
        rc = kread_scan_start(&scan, src.rk, src.parts, src.hi, err, sizeof(err));
    if (rc == EXIT_OK && !o->json)
        out_header(stdout, list_cols, 9);
    if (rc == EXIT_OK)
        rc = list_scan(o, scan, &shown, &matched, &seen, err, sizeof(err));
    if (rc)
        fprintf(stderr, "stockctl dlq list: %s\n", err);
    else if (!o->json)
        fprintf(stderr, "%ld of %ld dead letters shown (%ld in %s%s)%s\n", shown, matched, seen,
                o->topic, matched < seen ? ", the others filtered out" : "",
                stop_requested() ? " (interrupted)" : "");
    kread_scan_free(scan);
    dlq_src_close(&src);
    return rc ? rc : stop_requested() ? EXIT_FAIL : EXIT_OK;
}

static void list_usage(FILE *f)
{
    fprintf(f,
            "Usage: stockctl dlq list TOPIC [--since T] [--error-class C] [--grep S] [--limit N]\n"
            "                         [--json]\n"
            "Reads the dead-letter topic TOPIC (e.g. inventory.orders.dlq) from its beginning to\n"
            "its end as of now, every partition, and prints one row per dead letter: P:OFFSET,\n"
            "TIME (of the dead letter, UTC), ATT (x-attempt), CLASS (x-error-class), ORIGINAL\n"
            "(x-original-topic:partition:offset), REDRIVEN (x-redrive-count and x-redriven-from:\n"
            "how often it was redriven and from which dead letter), KEY, ERROR (x-error) and a\n"
            "PAYLOAD preview (control characters escaped). \"N of M dead letters shown (T in\n"
            "TOPIC)\" goes to stderr: M match the filters, T are in the topic. A topic whose name\n"
            "does not end in .dlq is listed with a warning.\n"
            "  --since T          only dead letters written at or after T: 2026-11-27T10:00:00Z,\n"
            "                     2026-11-27, epoch milliseconds, or an age: 30m, 2h, 7d\n"
            "  --error-class C    only class C: poison, transient or exhausted\n"
            "  --grep S           only those whose key, payload or x-error contains S\n"
            "  --limit N          show N rows (the rest is still read, to count)\n"
            "  --json             one JSON object per line, with every header and the payload,\n"
            "                     redrive_count and redriven_from\n"
            "Exit codes: 0 ok, 2 bad usage, 3 Kafka unreachable, 4 no such topic.\n");
}

/* One option of dlq list: EXIT_OK, EXIT_USAGE (said why), -1 after --help. */
static int list_opt(struct list_opts *o, int opt, char **argv)
{
    char err[256];
    if (opt == 's' && arg_time_ms(optarg, out_now_ms(), &o->since_ms, err, sizeof(err)))
        return fprintf(stderr, "stockctl dlq list: --since %s\n", err), EXIT_USAGE;
    if (opt == 'n' && arg_long(optarg, 1, 1000000000L, &o->limit, err, sizeof(err)))
        return fprintf(stderr, "stockctl dlq list: --limit %s\n", err), EXIT_USAGE;
    if (opt == 'c' && strcmp(optarg, "poison") && strcmp(optarg, "transient") &&
        strcmp(optarg, "exhausted"))
        return fprintf(stderr,
                       "stockctl dlq list: --error-class \"%s\": expected poison, transient or "
                       "exhausted\n",
                       optarg),
               EXIT_USAGE;
    if (opt == 'c')
        o->error_class = optarg;
    else if (opt == 'g')
        o->grep = optarg;
    else if (opt == 'j')
        o->json = 1;
    else if (opt == 'h')
        return list_usage(stdout), -1;
    else if (opt != 's' && opt != 'n')
        return arg_bad_option("dlq list", opt, argv), EXIT_USAGE;
    return EXIT_OK;
}

static int list_args(struct list_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"since", required_argument, NULL, 's'},
                                         {"error-class", required_argument, NULL, 'c'},
                                         {"grep", required_argument, NULL, 'g'},
                                         {"limit", required_argument, NULL, 'n'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    int opt, rc;
    opterr = 0;
    optind = 0;
    while ((opt = getopt_long(argc, argv, ":s:c:g:n:jh", opts, NULL)) != -1)
        if ((rc = list_opt(o, opt, argv)) != EXIT_OK)
            return rc;
    if (argc - optind != 1) {
        fprintf(stderr, "stockctl dlq list: expected one TOPIC (see stockctl dlq list --help)\n");
        return EXIT_USAGE;
    }
    o->topic = argv[optind];
    return EXIT_OK;
}

static int dlq_list(const struct cfg *c, int argc, char **argv)
{
    struct list_opts o = {.since_ms = INT64_MIN};
    int rc = list_args(&o, argc, argv);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    stop_catch();
    return list_run(c, &o);
}

/* ---- show --------------------------------------------------------------- */

static void show_text(const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *hdrs = NULL;
    const char *name;
    const void *val;
    size_t size, cap = 16384 + 4 * (m->key_len + m->len);
    char ts[40], *buf = malloc(cap), *pretty = NULL;
    if (!buf)
        return;
    out_time(rd_kafka_message_timestamp(m, NULL), ts, sizeof(ts));
    printf("%s %d:%lld\n", rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset);
    printf("time      %s\n", ts);
    out_escape(buf, cap, m->key, m->key ? m->key_len : 0);
    printf("key       %s\n", m->key ? buf : "(null)");
    printf("headers\n");
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++) {
            out_escape(buf, cap, val, val ? size : 0);
            printf("  %-22s %s\n", name, val ? buf : "(null)");
        }
    }
    if (m->payload && out_json_pretty(m->payload, m->len, &pretty) == 0) {
        printf("payload   %zu bytes, JSON\n%s\n", m->len, pretty);
    } else {
        out_escape(buf, cap, m->payload, m->payload ? m->len : 0);
        printf("payload   %zu bytes, not JSON (escaped)\n%s\n", m->len, buf);
    }
    free(pretty);
    free(buf);
}

int dlq_fetch(struct dlq_src *src, const char *topic, int32_t p, int64_t o,
              rd_kafka_message_t **m, char *err, size_t errlen)
{
    int i = 0;
    while (i < src->parts->cnt && src->parts->elems[i].partition != p)
        i++;
    if (i == src->parts->cnt) {
        snprintf(err, errlen, "topic %s has no partition %d (it has %d)", topic, (int)p,
                 src->parts->cnt);
        return EXIT_NOTFOUND;
    }
    if (o < src->lo[i] || o >= src->hi[i]) {
        char holds[96];
        if (src->hi[i] > src->lo[i])
            snprintf(holds, sizeof(holds), "holds offsets %lld..%lld", (long long)src->lo[i],
                     (long long)src->hi[i] - 1);
        else
            snprintf(holds, sizeof(holds), "is empty");
        snprintf(err, errlen, "no record at %s %d:%lld (partition %d %s)", topic, (int)p,
                 (long long)o, (int)p, holds);
        return EXIT_NOTFOUND;
    }
    rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(one, topic, p)->offset = o;
    struct kread_scan *scan = NULL;
    int64_t end = o + 1;
    int rc = kread_scan_start(&scan, src->rk, one, &end, err, errlen);
    int got = rc ? 0 : kread_scan_next(scan, m, err, errlen);
    kread_scan_free(scan);
    rd_kafka_topic_partition_list_destroy(one);
    if (rc)
        return rc;
    if (got < 0)
        return EXIT_UNREACHABLE;
    if (got == 0 || (*m)->offset != o) {
        if (got)
            rd_kafka_message_destroy(*m);
        snprintf(err, errlen, "no record at %s %d:%lld", topic, (int)p, (long long)o);
        return EXIT_NOTFOUND;
    }
    return EXIT_OK;
}

static void show_usage(FILE *f)
{
    fprintf(f, "Usage: stockctl dlq show TOPIC PARTITION:OFFSET [--json]\n"
               "Prints one dead letter: its time, key, every header (values escaped, never\n"
               "shortened) and the payload, pretty-printed when it is JSON, else escaped.\n"
               "  --json   one JSON object: topic, partition, offset, timestamp, key, headers,\n"
               "           payload (the exact text)\n"
               "Exit codes: 0 ok, 2 bad usage (e.g. not PARTITION:OFFSET), 3 Kafka unreachable,\n"
               "4 no such topic, partition or offset.\n");
}

/* Arguments of dlq show: EXIT_OK, EXIT_USAGE (said why), -1 after --help. */
static int show_args(int argc, char **argv, int *json, int32_t *p, int64_t *o)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
    char err[256];
    int opt;
    opterr = 0;
    optind = 0;
    while ((opt = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
        if (opt == 'h')
            return show_usage(stdout), -1;
        if (opt != 'j')
            return arg_bad_option("dlq show", opt, argv), EXIT_USAGE;
        *json = 1;
    }
    if (argc - optind != 2) {
        fprintf(stderr, "stockctl dlq show: expected TOPIC PARTITION:OFFSET (see stockctl dlq "
                        "show --help)\n");
        return EXIT_USAGE;
    }
    if (arg_part_offset(argv[optind + 1], p, o, err, sizeof(err)))
        return fprintf(stderr, "stockctl dlq show: %s\n", err), EXIT_USAGE;
    return EXIT_OK;
}

static int dlq_show(const struct cfg *c, int argc, char **argv)
{
    int32_t p;
    int64_t o;
    int json = 0, rc = show_args(argc, argv, &json, &p, &o);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    struct dlq_src src;
    rd_kafka_message_t *m = NULL;
    char err[768];
    const char *topic = argv[optind];
    rc = dlq_src_open(&src, c, topic, NULL, err, sizeof(err));
    if (rc == EXIT_OK)
        rc = dlq_fetch(&src, topic, p, o, &m, err, sizeof(err));
    if (rc == EXIT_OK && json) {
        yajl_gen g = out_json_new(0);
        struct dlq_rec r;
        dlq_rec_read(m, &r);
        list_print(g, m, &r);
        yajl_gen_free(g);
    } else if (rc == EXIT_OK) {
        show_text(m);
    } else {
        fprintf(stderr, "stockctl dlq show: %s\n", err);
    }
    if (m)
        rd_kafka_message_destroy(m);
    dlq_src_close(&src);
    return rc;
}

/* ---- naming: dead letters about one SKU or order ------------------------- */

static int str_is(yajl_val v, const char *value)
{
    const char *sv = v && YAJL_IS_STRING(v) ? v->u.string : NULL;
    return sv && strcmp(sv, value) == 0;
}

/* Whether m names value: its key, or payload field (or lines[].sku). */
static int names(const rd_kafka_message_t *m, const char *field, const char *value)
{
    size_t n = strlen(value);
    if (m->key && m->key_len == n && memcmp(m->key, value, n) == 0)
        return 1;
    if (!m->payload || m->len == 0 || m->len > 65536 || !memmem(m->payload, m->len, value, n))
        return 0; /* cheap: the value does not even occur */
    char *text = strndup(m->payload, m->len);
    yajl_val root = text ? yajl_tree_parse(text, NULL, 0) : NULL;
    const char *fp[] = {field, NULL}, *lp[] = {"lines", NULL}, *sp[] = {"sku", NULL};
    int hit = root && str_is(yajl_tree_get(root, fp, yajl_t_string), value);
    yajl_val lines = root && !hit && !strcmp(field, "sku") ? yajl_tree_get(root, lp, yajl_t_array)
                                                          : NULL;
    for (size_t i = 0; lines && !hit && i < YAJL_GET_ARRAY(lines)->len; i++)
        hit = str_is(yajl_tree_get(YAJL_GET_ARRAY(lines)->values[i], sp, yajl_t_string), value);
    yajl_tree_free(root);
    free(text);
    return hit;
}

/* Reads one DLQ to its end, adding what names value to out. */
static int naming_one(const struct cfg *c, const char *topic, const char *field,
                      const char *value, long *found, char *out, size_t outlen, char *err,
                      size_t errlen)
{
    struct dlq_src src;
    struct kread_scan *scan = NULL;
    int rc = dlq_src_open(&src, c, topic, NULL, err, errlen), got = 0;
    for (int i = 0; rc == EXIT_OK && i < src.parts->cnt; i++)
        src.parts->elems[i].offset = src.lo[i];
    if (rc == EXIT_OK)
        rc = kread_scan_start(&scan, src.rk, src.parts, src.hi, err, errlen);
    rd_kafka_message_t *m;
    while (rc == EXIT_OK && (got = kread_scan_next(scan, &m, err, errlen)) > 0) {
        if (names(m, field, value)) {
            struct dlq_rec r;
            char e[104];
            size_t used = strlen(out);
            dlq_rec_read(m, &r);
            out_preview(e, sizeof(e), r.error, strlen(r.error), 80);
            if (*found < 5 && used < outlen)
                snprintf(out + used, outlen - used, "%s%s %d:%lld, %s", *found ? "; " : "", topic,
                         (int)m->partition, (long long)m->offset, e);
            (*found)++;
        }
        rd_kafka_message_destroy(m);
    }
    kread_scan_free(scan);
    dlq_src_close(&src);
    return rc ? rc : got < 0 ? EXIT_UNREACHABLE : EXIT_OK;
}

long dlq_naming(const struct cfg *c, const char *field, const char *value, char *out,
                size_t outlen, char *err, size_t errlen)
{
    char list[2048] = "";
    long found = 0;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_t *rk = kread_client(c, RD_KAFKA_PRODUCER, NULL, 0, err, errlen);
    int rc = rk ? kread_metadata(rk, &md, err, errlen) : EXIT_USAGE;
    for (int i = 0; rc == EXIT_OK && i < md->topic_cnt; i++) {
        char src_topic[256];
        if (!md->topics[i].err && !dlq_source_of(md->topics[i].topic, src_topic, sizeof(src_topic)))
            rc = naming_one(c, md->topics[i].topic, field, value, &found, list, sizeof(list), err,
                            errlen);
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rk)
        rd_kafka_destroy(rk);
    if (rc != EXIT_OK)
        return -1;
    out[0] = '\0';
    if (found)
        snprintf(out, outlen, "%ld dead letter%s name%s it: %s%s", found, found == 1 ? "" : "s",
                 found == 1 ? "s" : "", list, found > 5 ? "; ..." : "");
    return found;
}

/* ---- dispatch ----------------------------------------------------------- */

static void dlq_usage(FILE *f)
{
    fprintf(f, "Usage: stockctl dlq list|show|redrive ...   (stockctl dlq SUBCOMMAND --help)\n"
               "  list TOPIC      one row per dead letter, with filters\n"
               "  show TOPIC P:O  every header and the payload of one dead letter\n"
               "  redrive TOPIC   send dead letters back to their source topic, rate-limited\n");
}

int cmd_dlq(const struct cfg *c, int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "stockctl dlq: expected list, show or redrive (see stockctl dlq "
                        "--help)\n");
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return dlq_usage(stdout), EXIT_OK;
    if (!strcmp(argv[1], "list"))
        return dlq_list(c, argc - 1, argv + 1);
    if (!strcmp(argv[1], "show"))
        return dlq_show(c, argc - 1, argv + 1);
    if (!strcmp(argv[1], "redrive"))
        return dlq_redrive(c, argc - 1, argv + 1);
    fprintf(stderr, "stockctl dlq: unknown subcommand \"%s\": expected list, show or redrive\n",
            argv[1]);
    return EXIT_USAGE;
}
