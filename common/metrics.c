#include "metrics.h"

#include "strbuf.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HASH_SLOTS (2 * METRICS_MAX_SERIES) /* a power of two; at most half full */
#define NAME_LEN 128
#define LABEL_NAMES_LEN 256

struct family {
    char name[NAME_LEN];
    char label_names[LABEL_NAMES_LEN]; /* "topic,type", "" for none */
    char *help;                        /* owned */
    enum metrics_type type;
    double bounds[METRICS_MAX_BUCKETS];
    size_t nbounds;
    int head, tail; /* first and last series of this family, -1 when none */
};

struct series {
    uint32_t hash;
    int fam;
    int next;          /* next series of the same family, -1 at the end */
    char *labels;      /* owned, "" when none */
    double value;      /* counter or gauge value; histogram sum */
    uint64_t count;    /* histogram: observations */
    uint64_t *buckets; /* histogram: observations per bucket, not cumulative; owned */
};

enum op { OP_ADD, OP_SET, OP_OBSERVE };

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct family fams[METRICS_MAX_FAMILIES];
static size_t nfams;
static struct series ser[METRICS_MAX_SERIES];
static size_t nser;
static int slots[HASH_SLOTS]; /* series index + 1; 0 is empty */
static uint64_t dropped_limit, dropped_invalid;

/* ---- names and label strings ------------------------------------------- */

static int is_name_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_name_char(int c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

static int metric_name_ok(const char *s)
{
    if (!s || !(is_name_start(*s) || *s == ':') || strlen(s) >= NAME_LEN)
        return 0;
    for (; *s; s++)
        if (!is_name_char(*s) && *s != ':')
            return 0;
    return 1;
}

/* Length of the valid UTF-8 sequence at s, or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s)
{
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    uint32_t c = s[0], cp;
    size_t n;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        n = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0)
        n = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0)
        n = 4, cp = c & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) /* also stops at the NUL */
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

size_t metrics_label_escape(char *out, size_t outlen, const char *value)
{
    size_t need = 0, used = 0;
    int full = 0;
    for (const unsigned char *p = (const unsigned char *)(value ? value : ""); *p;) {
        char tmp[4];
        size_t k = utf8_seq(p), w = k ? k : 1;
        if (*p == '\\' || *p == '"' || *p == '\n')
            tmp[0] = '\\', tmp[1] = *p == '\n' ? 'n' : (char)*p, w = 2, k = 1;
        else if (k == 0)
            tmp[0] = '?', k = 1;
        else
            memcpy(tmp, p, k);
        if (!full && used + w < outlen) {
            memcpy(out + used, tmp, w);
            used += w;
        } else {
            full = 1;
        }
        need += w;
        p += k;
    }
    if (outlen)
        out[used] = '\0';
    return need;
}

int metrics_labels(char *out, size_t outlen, ...)
{
    va_list ap;
    size_t n = 0;
    int rc = 0;
    const char *name;
    if (outlen)
        out[0] = '\0';
    va_start(ap, outlen);
    while (rc == 0 && (name = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        int k = snprintf(out + n, outlen - n, "%s%s=\"", n ? "," : "", name);
        if (k < 0 || (size_t)k >= outlen - n) {
            rc = -ENOSPC;
            break;
        }
        n += (size_t)k;
        n += metrics_label_escape(out + n, outlen - n, value);
        if (n + 1 >= outlen) /* the escape was cut, or no room for the quote */
            rc = -ENOSPC;
        else
            out[n++] = '"', out[n] = '\0';
    }
    va_end(ap);
    if (rc && outlen)
        out[0] = '\0';
    return rc;
}

/* Checks a label value from just after its opening quote; returns a pointer
 * to the closing quote, or NULL when malformed. */
static const char *label_value_end(const char *p)
{
    while (*p != '"') {
        if (*p == '\\') {
            if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
                return NULL;
            p += 2;
            continue;
        }
        size_t k = *p == '\0' || *p == '\n' ? 0 : utf8_seq((const unsigned char *)p);
        if (k == 0) /* the NUL, a raw newline or broken UTF-8 */
            return NULL;
        p += k;
    }
    return p;
}

/* Checks `a="x",b="y"` and writes its names, "a,b", to names.
 * Returns 0, or -1 when malformed. */
static int labels_parse(const char *p, char *names, size_t nameslen)
{
    size_t n = 0;
    names[0] = '\0';
    while (*p) {
        if (n > 0 && *p++ != ',')
            return -1;
        const char *start = p;
        if (!is_name_start(*p))
            return -1;
        while (is_name_char(*p))
            p++;
        size_t len = (size_t)(p - start);
        if (n + len + 2 > nameslen)
            return -1;
        if (n > 0)
            names[n++] = ',';
        memcpy(names + n, start, len);
        n += len;
        names[n] = '\0';
        if (p[0] != '=' || p[1] != '"' || !(p = label_value_end(p + 2)))
            return -1;
        p++;
    }
    return 0;
}

static int label_name_ok(const char *s)
{
    if (!is_name_start(*s) || strcmp(s, "le") == 0 || strncmp(s, "__", 2) == 0)
        return 0;
    while (is_name_char(*s))
        s++;
    return *s == '\0';
}

/* Whether name is one of the comma-separated names in list. */
static int name_listed(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = list; *p; p += strcspn(p, ","), p += *p == ',') {
        if (strcspn(p, ",") == len && strncmp(p, name, len) == 0)
            return 1;
    }
    return 0;
}

/* Normalizes a declared list " topic, type" to "topic,type", checking each
 * name and that none comes twice. Returns 0 or -1. */
static int label_names_parse(const char *in, char *out, size_t outlen)
{
    char tmp[LABEL_NAMES_LEN], *save = NULL;
    size_t n = 0;
    out[0] = '\0';
    if (!in)
        return 0;
    if (strlen(in) >= sizeof(tmp))
        return -1;
    memcpy(tmp, in, strlen(in) + 1);
    for (char *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        tok += strspn(tok, " ");
        size_t len = strcspn(tok, " ");
        if (tok[len + strspn(tok + len, " ")] != '\0')
            return -1;
        tok[len] = '\0';
        if (len == 0)
            continue;
        if (!label_name_ok(tok) || name_listed(out, tok) || n + len + 2 > outlen)
            return -1;
        n += (size_t)snprintf(out + n, outlen - n, "%s%s", n ? "," : "", tok);
    }
    return 0;
}

/* ---- the registry (callers hold mu) ------------------------------------ */

static uint32_t hash_of(const char *name, const char *labels)
{
    uint32_t h = 2166136261u;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ 0xffu) * 16777619u;
    for (const char *p = labels; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

static struct family *family_find(const char *name)
{
    for (size_t i = 0; i < nfams; i++)
        if (strcmp(fams[i].name, name) == 0)
            return &fams[i];
    return NULL;
}

/* Finds the series (its index), or returns -1 with *slot the free slot. */
static int series_find(uint32_t h, const char *name, const char *labels, size_t *slot)
{
    size_t i = h & (HASH_SLOTS - 1);
    for (;;) { /* ends: the table is never more than half full */
        int s = slots[i] - 1;
        if (s < 0) {
            *slot = i;
            return -1;
        }
        if (ser[s].hash == h && strcmp(ser[s].labels, labels) == 0 &&
            strcmp(fams[ser[s].fam].name, name) == 0)
            return s;
        i = (i + 1) & (HASH_SLOTS - 1);
    }
}

static int series_create(struct family *f, uint32_t h, const char *labels, size_t slot)
{
    char names[LABEL_NAMES_LEN];
    if (strlen(labels) >= METRICS_MAX_LABELS || labels_parse(labels, names, sizeof(names)) ||
        strcmp(names, f->label_names) != 0)
        return -EINVAL;
    if (nser == METRICS_MAX_SERIES)
        return -ENOSPC;
    struct series *s = &ser[nser];
    *s = (struct series){.hash = h, .fam = (int)(f - fams), .next = -1};
    s->labels = strdup(labels);
    if (f->type == METRICS_HISTOGRAM)
        s->buckets = calloc(f->nbounds, sizeof(*s->buckets));
    if (!s->labels || (f->type == METRICS_HISTOGRAM && !s->buckets)) {
        free(s->labels);
        free(s->buckets);
        return -ENOMEM;
    }
    if (f->tail >= 0)
        ser[f->tail].next = (int)nser;
    else
        f->head = (int)nser;
    f->tail = (int)nser;
    slots[slot] = (int)nser + 1;
    return (int)nser++;
}

/* Finds or creates the series; returns its index or a negative errno. */
static int series_get(const char *name, const char *labels, enum metrics_type type)
{
    size_t slot;
    uint32_t h = hash_of(name, labels);
    int s = series_find(h, name, labels, &slot);
    if (s >= 0)
        return fams[ser[s].fam].type == type ? s : -EINVAL;
    struct family *f = family_find(name);
    if (!f)
        return -ENOENT;
    if (f->type != type)
        return -EINVAL;
    return series_create(f, h, labels, slot);
}

static void apply(struct series *s, enum op op, double v)
{
    if (op == OP_ADD) {
        s->value += v;
    } else if (op == OP_SET) {
        s->value = v;
    } else {
        const struct family *f = &fams[s->fam];
        for (size_t i = 0; i < f->nbounds; i++) {
            if (v <= f->bounds[i]) {
                s->buckets[i]++;
                break;
            }
        }
        s->count++;
        s->value += v;
    }
}

static int update(const char *name, const char *labels, enum metrics_type type, enum op op,
                  double v)
{
    int rc = -EINVAL;
    pthread_mutex_lock(&mu);
    if (name && !isnan(v) && !(type == METRICS_COUNTER && v < 0))
        rc = series_get(name, labels ? labels : "", type);
    if (rc >= 0)
        apply(&ser[rc], op, v);
    else if (rc == -ENOSPC)
        dropped_limit++;
    else
        dropped_invalid++;
    pthread_mutex_unlock(&mu);
    return rc < 0 ? rc : 0;
}

int metrics_counter_add(const char *name, const char *labels, double v)
{
    return update(name, labels, METRICS_COUNTER, OP_ADD, v);
}

int metrics_gauge_set(const char *name, const char *labels, double v)
{
    return update(name, labels, METRICS_GAUGE, OP_SET, v);
}

int metrics_gauge_add(const char *name, const char *labels, double v)
{
    return update(name, labels, METRICS_GAUGE, OP_ADD, v);
}

int metrics_histogram_observe(const char *name, const char *labels, double v)
{
    return update(name, labels, METRICS_HISTOGRAM, OP_OBSERVE, v);
}

/* ---- declaring ---------------------------------------------------------- */

static int buckets_ok(enum metrics_type type, const double *b, size_t n)
{
    if (type != METRICS_HISTOGRAM)
        return b == NULL && n == 0;
    if (!b || n == 0 || n > METRICS_MAX_BUCKETS)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(b[i]) || (i > 0 && b[i] <= b[i - 1]))
            return 0;
    return 1;
}

static int describe_locked(const char *name, enum metrics_type type, const char *names,
                           const char *help, const double *buckets, size_t nbuckets)
{
    struct family *f = family_find(name);
    if (f)
        return f->type == type && strcmp(f->label_names, names) == 0 ? 0 : -EEXIST;
    if (nfams == METRICS_MAX_FAMILIES)
        return -ENOSPC;
    f = &fams[nfams];
    *f = (struct family){.type = type, .nbounds = nbuckets, .head = -1, .tail = -1};
    f->help = strdup(help);
    if (!f->help)
        return -ENOMEM;
    snprintf(f->name, sizeof(f->name), "%s", name);
    snprintf(f->label_names, sizeof(f->label_names), "%s", names);
    if (nbuckets)
        memcpy(f->bounds, buckets, nbuckets * sizeof(*buckets));
    nfams++;
    return 0;
}

int metrics_describe(const char *name, enum metrics_type type, const char *label_names,
                     const char *help, const double *buckets, size_t nbuckets)
{
    char names[LABEL_NAMES_LEN];
    if (!metric_name_ok(name) || !help || strchr(help, '\n') ||
        (type != METRICS_COUNTER && type != METRICS_GAUGE && type != METRICS_HISTOGRAM) ||
        !buckets_ok(type, buckets, nbuckets) ||
        label_names_parse(label_names, names, sizeof(names)) || !strcmp(name, METRICS_DROPPED))
        return -EINVAL;
    pthread_mutex_lock(&mu);
    int rc = describe_locked(name, type, names, help, buckets, nbuckets);
    pthread_mutex_unlock(&mu);
    return rc;
}

/* ---- rendering ---------------------------------------------------------- */

/* The shortest of %.15g .. %.17g that reads back as v; +Inf, -Inf, NaN. */
static const char *fmt_num(char *out, size_t outlen, double v)
{
    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, outlen, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            break;
    }
    return out;
}

static void render_help(struct strbuf *b, const struct family *f)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    strbuf_addf(b, "# HELP %s ", f->name);
    for (const char *p = f->help; *p;) { /* a backslash is written twice */
        size_t k = strcspn(p, "\\");
        strbuf_addf(b, "%.*s%s", (int)k, p, p[k] ? "\\\\" : "");
        p += k + (p[k] != '\0');
    }
    strbuf_addf(b, "\n# TYPE %s %s\n", f->name, types[f->type]);
}

static void render_histogram(struct strbuf *b, const struct family *f, const struct series *s)
{
    char num[40];
    const char *sep = s->labels[0] ? "," : "";
    uint64_t cum = 0;
    for (size_t i = 0; i < f->nbounds; i++) {
        cum += s->buckets[i];
        strbuf_addf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name, s->labels, sep,
                    fmt_num(num, sizeof(num), f->bounds[i]), (unsigned long long)cum);
    }
    strbuf_addf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", f->name, s->labels, sep,
                (unsigned long long)s->count);
    const char *open = s->labels[0] ? "{" : "", *close = s->labels[0] ? "}" : "";
    strbuf_addf(b, "%s_sum%s%s%s %s\n", f->name, open, s->labels, close,
                fmt_num(num, sizeof(num), s->value));
    strbuf_addf(b, "%s_count%s%s%s %llu\n", f->name, open, s->labels, close,
                (unsigned long long)s->count);
}

static void render_family(struct strbuf *b, const struct family *f)
{
    char num[40];
    if (f->head < 0)
        return;
    render_help(b, f);
    for (int i = f->head; i >= 0; i = ser[i].next) {
        const struct series *s = &ser[i];
        if (f->type == METRICS_HISTOGRAM)
            render_histogram(b, f, s);
        else if (s->labels[0])
            strbuf_addf(b, "%s{%s} %s\n", f->name, s->labels, fmt_num(num, sizeof(num), s->value));
        else
            strbuf_addf(b, "%s %s\n", f->name, fmt_num(num, sizeof(num), s->value));
    }
}

size_t metrics_render(char **out)
{
    struct strbuf b = STRBUF_INIT;
    size_t len;
    *out = NULL;
    if (strbuf_grow(&b, 16384))
        return 0;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < nfams; i++)
        render_family(&b, &fams[i]);
    strbuf_addf(&b,
                "# HELP " METRICS_DROPPED " Metric updates dropped: no room for a new series "
                "(limit), or an undeclared name, wrong type or malformed labels (invalid).\n"
                "# TYPE " METRICS_DROPPED " counter\n" METRICS_DROPPED
                "{reason=\"limit\"} %llu\n" METRICS_DROPPED "{reason=\"invalid\"} %llu\n",
                (unsigned long long)dropped_limit, (unsigned long long)dropped_invalid);
    pthread_mutex_unlock(&mu);
    *out = strbuf_detach(&b, &len); /* NULL when out of memory */
    return len;
}

int metrics_value(const char *name, const char *labels, double *out)
{
    size_t slot;
    labels = labels ? labels : "";
    pthread_mutex_lock(&mu);
    int s = strcmp(name, METRICS_DROPPED) == 0
                ? -2
                : series_find(hash_of(name, labels), name, labels, &slot);
    if (s >= 0)
        *out = fams[ser[s].fam].type == METRICS_HISTOGRAM ? (double)ser[s].count : ser[s].value;
    else if (s == -2 && strcmp(labels, "reason=\"limit\"") == 0)
        *out = (double)dropped_limit, s = 0;
    else if (s == -2 && strcmp(labels, "reason=\"invalid\"") == 0)
        *out = (double)dropped_invalid, s = 0;
    pthread_mutex_unlock(&mu);
    return s >= 0 ? 0 : -ENOENT;
}

void metrics_reset(void)
{
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < nser; i++) {
        free(ser[i].labels);
        free(ser[i].buckets);
    }
    for (size_t i = 0; i < nfams; i++)
        free(fams[i].help);
    memset(slots, 0, sizeof(slots));
    nser = nfams = 0;
    dropped_limit = dropped_invalid = 0;
    pthread_mutex_unlock(&mu);
}

/* ---- the fleet's metrics ------------------------------------------------ */

static const double latency_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                         2.5,   5,    10,    30,   60,  120,  300, 900};
static const double tx_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                    0.25,  0.5,    1,     2.5,  5,     10,   30};

#define NB(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
    const char *name;
    enum metrics_type type;
    const char *labels, *help;
    const double *buckets;
    size_t nbuckets;
} fleet[] = {
    {METRICS_EVENTS_CONSUMED, METRICS_COUNTER, "topic,type",
     "Records read from Kafka, before validation.", NULL, 0},
    {METRICS_EVENTS, METRICS_COUNTER, "topic,type,outcome",
     "Events finished, by outcome: applied, ignored, duplicate, retry, dead_letter.", NULL, 0},
    {METRICS_EVENT_LATENCY, METRICS_HISTOGRAM, "",
     "Seconds from an event's record timestamp to the commit of its effect.", latency_buckets,
     NB(latency_buckets)},
    {METRICS_CONSUMER_LAG, METRICS_GAUGE, "topic,partition",
     "Records between the consumer's position and the partition's end offset.", NULL, 0},
    {METRICS_RETRIES, METRICS_COUNTER, "topic,class", "Records written to a retry topic.", NULL, 0},
    {METRICS_DEAD_LETTERS, METRICS_COUNTER, "topic,class",
     "Records written to a dead-letter topic.", NULL, 0},
    {METRICS_INPROCESS_RETRIES, METRICS_COUNTER, "",
     "Quick in-process retries of a transient failure.", NULL, 0},
    {METRICS_TURN_DEADLINE, METRICS_COUNTER, "",
     "Loop turns cut short by their deadline; the rest of the batch went to retry or was rewound.",
     NULL, 0},
    {METRICS_OUTBOX_BACKLOG, METRICS_GAUGE, "", "Outbox rows not yet acknowledged by Kafka.", NULL,
     0},
    {METRICS_OUTBOX_OLDEST_AGE, METRICS_GAUGE, "",
     "Age in seconds of the oldest unpublished outbox row (0 when none).", NULL, 0},
    {METRICS_TRANSACTION, METRICS_HISTOGRAM, "",
     "Seconds one PostgreSQL apply transaction took, BEGIN to COMMIT.", tx_buckets, NB(tx_buckets)},
    {METRICS_WEBHOOK_DELIVERIES, METRICS_COUNTER, "status",
     "Alert webhook POSTs by HTTP status (none: no answer).", NULL, 0},
    {METRICS_WEBHOOK_FAILURES, METRICS_COUNTER, "reason",
     "Alert webhook POSTs that did not deliver the alert, by reason.", NULL, 0},
    {METRICS_PENDING_HOLDS, METRICS_GAUGE, "", "Holds waiting to be released at their expiry.",
     NULL, 0},
    {METRICS_PAUSED, METRICS_GAUGE, "reason",
     "1 while consumption is paused for an outage of the database or the broker.", NULL, 0},
    {METRICS_OVERDUE_HOLDS, METRICS_GAUGE, "",
     "Holds past their expiry and not released yet (timeout-worker).", NULL, 0},
    {METRICS_BUILD_INFO, METRICS_GAUGE, "version,worker",
     "Always 1; labels name the build and the worker.", NULL, 0},
};

int metrics_describe_stockflow(const char *worker, const char *version)
{
    char labels[METRICS_MAX_LABELS];
    for (size_t i = 0; i < NB(fleet); i++) {
        int rc = metrics_describe(fleet[i].name, fleet[i].type, fleet[i].labels, fleet[i].help,
                                  fleet[i].buckets, fleet[i].nbuckets);
        if (rc)
            return rc;
    }
    int rc = metrics_labels(labels, sizeof(labels), "version", version, "worker", worker, NULL);
    return rc ? rc : metrics_gauge_set(METRICS_BUILD_INFO, labels, 1);
}
