/* evt: parse and validate one event. See evt.h.
 *
 * Validity is the schemas' business. This file checks only what a JSON
 * Schema cannot see or yajl does not check strictly enough: the size, the
 * text (strict UTF-8, no U+0000, no lone surrogates, no comments, bounded
 * nesting so that nothing below recurses without limit) and duplicate keys
 * (which would make "the value of a field" ambiguous). After validation it
 * only reads values. */
#include "evt.h"

#include "jschema.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

struct evt_validator {
    yajl_val docs[EVT__COUNT];
    struct jschema_schema *schemas[EVT__COUNT];
};

static const char *const type_names[EVT__COUNT] = {
    [EVT_ORDER_CREATED] = "order.created",         [EVT_ORDER_CANCELLED] = "order.cancelled",
    [EVT_PAYMENT_SUCCEEDED] = "payment.succeeded", [EVT_PAYMENT_FAILED] = "payment.failed",
    [EVT_STOCK_RECEIVED] = "stock.received",       [EVT_STOCK_ADJUSTED] = "stock.adjusted",
    [EVT_SKU_CONFIGURED] = "sku.configured",       [EVT_PROMOTION_ENDED] = "promotion.ended",
    [EVT_PROMOTION_ALLOCATED] = "promotion.allocated",
};

const char *evt_type_name(enum evt_type t)
{
    return (unsigned)t < EVT__COUNT ? type_names[t] : "unknown";
}

static int type_of_name(const char *s)
{
    int t;

    for (t = 0; t < EVT__COUNT; t++)
        if (strcmp(s, type_names[t]) == 0)
            return t;
    return -1;
}

int evt_rfc3339_ms(const char *s, long long *out_ms)
{
    return jschema_datetime_ms(s, out_ms);
}

/* Formats one line into err, never ending in a cut UTF-8 sequence. */
__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                      ...)
{
    va_list ap;
    size_t n, i;

    if (errlen == 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    n = strlen(err);
    for (i = n; i > 0 && n - i < 4 && ((unsigned char)err[i - 1] & 0xC0) == 0x80; i--)
        ;
    if (i > 0 && (unsigned char)err[i - 1] >= 0xC0) {
        unsigned char lead = (unsigned char)err[i - 1];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
        if (n - (i - 1) < need)
            err[i - 1] = '\0';
    }
    return -1;
}

/* '"' + at most 40 bytes of a valid UTF-8 string + '"', controls as '?'. */
static const char *quote(const char *s, char *buf, size_t len)
{
    size_t n = strlen(s), cut = n > 40 ? 40 : n, i, o = 0;

    while (cut < n && cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    buf[o++] = '"';
    for (i = 0; i < cut && o + 5 < len; i++)
        buf[o++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7F ? '?' : s[i];
    if (cut < n)
        o += (size_t)snprintf(buf + o, len - o, "...");
    snprintf(buf + o, len - o, "\"");
    return buf;
}

/* ---------------------------------------------------------------------------
 * The JSON text, before yajl sees it */

/* Length of the UTF-8 sequence at s (n bytes left), or 0 when it is not
 * valid RFC 3629 UTF-8 (overlong forms, surrogates, > U+10FFFF, cut). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned cp;
    size_t len, i;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2, cp = s[0] & 0x1Fu;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        len = 3, cp = s[0] & 0x0Fu;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        len = 4, cp = s[0] & 0x07u;
    else
        return 0;
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

#define NOT_HEX 0xFFFFFFFFu

static unsigned hex4(const unsigned char *s, size_t n)
{
    unsigned v = 0;
    size_t i;

    if (n < 4)
        return NOT_HEX;
    for (i = 0; i < 4; i++) {
        unsigned char ch = s[i] | 0x20;
        if (s[i] >= '0' && s[i] <= '9')
            v = v * 16 + (s[i] - '0');
        else if (ch >= 'a' && ch <= 'f')
            v = v * 16 + (ch - 'a' + 10);
        else
            return NOT_HEX;
    }
    return v;
}

/* A \u escape at s[i] (s[i+1] == 'u'): U+0000 and unpaired surrogates are
 * refused (PostgreSQL text can hold neither). Returns the bytes consumed. */
static size_t scan_u_escape(const unsigned char *s, size_t len, size_t i, char *err, size_t errlen)
{
    unsigned cp = hex4(s + i + 2, len - i - 2), lo = NOT_HEX;

    if (cp == 0)
        return fail(err, errlen, "invalid JSON: string contains U+0000 (byte %zu)", i), 0;
    if (cp >= 0xD800 && cp <= 0xDBFF && i + 8 <= len && s[i + 6] == '\\' && s[i + 7] == 'u')
        lo = hex4(s + i + 8, len - i - 8);
    if (cp >= 0xD800 && cp <= 0xDFFF && (cp > 0xDBFF || lo < 0xDC00 || lo > 0xDFFF))
        return fail(err, errlen, "invalid JSON: unpaired surrogate \\u%04X (byte %zu)", cp, i), 0;
    return cp == NOT_HEX ? 2 : lo != NOT_HEX ? 12 : 6; /* yajl reports bad escapes */
}

/* The string starting at s[*ip] == '"'; leaves *ip past its end. */
static int scan_string(const unsigned char *s, size_t len, size_t *ip, char *err, size_t errlen)
{
    size_t i = *ip + 1, k;

    while (i < len && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < len && s[i + 1] == 'u')
            k = scan_u_escape(s, len, i, err, errlen);
        else if (s[i] == '\\')
            k = 2;
        else if (s[i] < 0x20)
            return fail(err, errlen,
                        "invalid JSON: control character 0x%02x in a string (byte %zu)", s[i], i);
        else if (!(k = utf8_seq(s + i, len - i)))
            return fail(err, errlen, "invalid JSON: invalid UTF-8 at byte %zu", i);
        if (k == 0)
            return -1;
        i += k;
    }
    *ip = i + 1;
    return 0;
}

static int scan_text(const unsigned char *s, size_t len, char *err, size_t errlen)
{
    static const char outside[] = " \t\n\r:,0123456789+-.eEtrufalsn";
    size_t i = 0;
    int depth = 0;

    while (i < len) {
        unsigned char ch = s[i];
        if (ch == '"') {
            if (scan_string(s, len, &i, err, errlen))
                return -1;
            continue;
        }
        if ((ch == '{' || ch == '[') && ++depth > EVT_MAX_DEPTH)
            return fail(err, errlen,
                        "invalid JSON: too deep: more than %d nested levels (byte %zu)",
                        EVT_MAX_DEPTH, i);
        if (ch == '}' || ch == ']')
            depth--;
        else if (ch != '{' && ch != '[' && (ch == 0 || !strchr(outside, ch)))
            return fail(err, errlen, "invalid JSON: unexpected %s0x%02x at byte %zu",
                        ch == '/'    ? "comment "
                        : ch >= 0x80 ? "non-ASCII byte "
                                     : "byte ",
                        ch, i);
        i++;
    }
    return 0;
}

static int parse_tree(const void *buf, size_t len, yajl_val *root, char *err, size_t errlen)
{
    char *text = malloc(len + 1), ebuf[256] = "";

    if (!text)
        return fail(err, errlen, "out of memory: %zu bytes", len + 1);
    memcpy(text, buf, len);
    text[len] = '\0';
    *root = yajl_tree_parse(text, ebuf, sizeof(ebuf));
    free(text);
    if (*root)
        return 0;
    ebuf[strcspn(ebuf, "\r\n")] = '\0'; /* yajl adds a multi-line excerpt */
    return fail(err, errlen, "invalid JSON: %s", ebuf[0] ? ebuf : "parse failed");
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A key that 'o' holds twice, or NULL. */
static const char *dup_key(yajl_val o)
{
    size_t n = o->u.object.len, i, j;
    const char **keys = n > 16 ? malloc(n * sizeof(*keys)) : NULL, *dup = NULL;

    if (keys) {
        memcpy(keys, o->u.object.keys, n * sizeof(*keys));
        qsort(keys, n, sizeof(*keys), key_cmp);
        for (i = 1; i < n && !dup; i++)
            if (strcmp(keys[i - 1], keys[i]) == 0)
                dup = keys[i];
        free(keys);
        return dup;
    }
    for (i = 0; i < n && !dup; i++) /* small object, or no memory: quadratic */
        for (j = i + 1; j < n && !dup; j++)
            if (strcmp(o->u.object.keys[i], o->u.object.keys[j]) == 0)
                dup = o->u.object.keys[i];
    return dup;
}

/* Depth is bounded by scan_text. */
static int check_dups(yajl_val v, char *err, size_t errlen)
{
    const char *dup;
    char q[64];
    size_t i;

    if (YAJL_IS_OBJECT(v) && (dup = dup_key(v)))
        return fail(err, errlen, "invalid JSON: duplicate key %s", quote(dup, q, sizeof(q)));
    for (i = 0; YAJL_IS_OBJECT(v) && i < v->u.object.len; i++)
        if (check_dups(v->u.object.values[i], err, errlen))
            return -1;
    for (i = 0; YAJL_IS_ARRAY(v) && i < v->u.array.len; i++)
        if (check_dups(v->u.array.values[i], err, errlen))
            return -1;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Reading the fields, once the schema has accepted the event */

static yajl_val get(yajl_val o, const char *key)
{
    size_t i;

    for (i = 0; i < o->u.object.len; i++)
        if (strcmp(o->u.object.keys[i], key) == 0)
            return o->u.object.values[i];
    return NULL;
}

enum fkind { F_END, F_STR, F_INT, F_INFO, F_NUM };

struct field {
    enum fkind kind;
    const char *name;
    size_t off;
};

#define STR(f)                                                                                     \
    {                                                                                              \
        F_STR, #f, offsetof(struct evt, f)                                                         \
    }
/* informational (DESIGN §3): any shape is valid; read when a string */
#define INFO(f)                                                                                    \
    {                                                                                              \
        F_INFO, #f, offsetof(struct evt, f)                                                        \
    }
#define INT(f)                                                                                     \
    {                                                                                              \
        F_INT, #f, offsetof(struct evt, f)                                                         \
    }
/* a JSON number kept as written (exact decimal) */
#define NUM(f)                                                                                     \
    {                                                                                              \
        F_NUM, #f, offsetof(struct evt, f)                                                         \
    }

/* Which fields each type carries into struct evt (what is valid is the
 * schema's business: absent optional fields stay 0 / NULL). Each row ends
 * with a zeroed F_END entry: keep the bound one above the longest row. */
static const struct field fields[EVT__COUNT][8] = {
    [EVT_ORDER_CREATED] = {STR(event_id), STR(occurred_at), STR(order_id), INT(hold_seconds),
                           STR(promo_id)},
    [EVT_ORDER_CANCELLED] = {STR(event_id), STR(occurred_at), STR(order_id)},
    [EVT_PAYMENT_SUCCEEDED] = {STR(event_id), STR(occurred_at), STR(order_id)},
    [EVT_PAYMENT_FAILED] = {STR(event_id), STR(occurred_at), STR(order_id), INFO(reason)},
    [EVT_STOCK_RECEIVED] = {STR(event_id), STR(occurred_at), STR(sku), INT(qty), STR(batch),
                            STR(best_before)},
    [EVT_STOCK_ADJUSTED] = {STR(event_id), STR(occurred_at), STR(sku), INT(delta), INFO(reason)},
    [EVT_SKU_CONFIGURED] = {STR(event_id), STR(occurred_at), STR(sku), INT(safety_stock),
                            INT(low_stock_threshold), INT(hide_below), NUM(unit_cost)},
    [EVT_PROMOTION_ALLOCATED] = {STR(event_id), STR(occurred_at), STR(promo_id), STR(sku), INT(qty),
                                 STR(ends_at)},
    [EVT_PROMOTION_ENDED] = {STR(event_id), STR(occurred_at), STR(promo_id)},
};

/* The schema accepted something this reader cannot hold: the schema files
 * and this table disagree. Still poison, but named as such. */
static int disagree(const struct evt *e, const char *where, char *err, size_t errlen)
{
    return fail(err, errlen, "schema %s: %s: accepted by the schema but unreadable by evt.c",
                e->type_name, where);
}

static int read_lines(yajl_val root, struct evt *e, char *err, size_t errlen)
{
    yajl_val a = get(root, "lines"), line, sku;
    char where[48];
    size_t i;

    if (!a)
        return 0;
    if (!YAJL_IS_ARRAY(a) || !(e->lines = calloc(a->u.array.len + 1, sizeof(*e->lines))))
        return disagree(e, "/lines", err, errlen);
    for (i = 0; i < a->u.array.len; i++) {
        line = a->u.array.values[i];
        if (!YAJL_IS_OBJECT(line) || !YAJL_IS_STRING(sku = get(line, "sku")) || !get(line, "qty") ||
            jschema_number_ll(get(line, "qty"), &e->lines[i].qty)) {
            snprintf(where, sizeof(where), "/lines/%zu", i);
            return disagree(e, where, err, errlen);
        }
        e->lines[i].sku = sku->u.string;
        e->n_lines++;
    }
    return 0;
}

static int read_fields(yajl_val root, struct evt *e, char *err, size_t errlen)
{
    const struct field *f;
    char where[48];

    if (e->type == EVT_SKU_CONFIGURED)
        e->safety_stock = e->low_stock_threshold = e->hide_below = -1;
    for (f = fields[e->type]; f->kind != F_END; f++) {
        yajl_val x = get(root, f->name);
        char *slot = (char *)e + f->off;
        if (!x || (f->kind == F_INFO && !YAJL_IS_STRING(x)))
            continue;
        if ((f->kind == F_STR || f->kind == F_INFO) && YAJL_IS_STRING(x))
            memcpy(slot, &x->u.string, sizeof(x->u.string));
        else if (f->kind == F_NUM && YAJL_IS_NUMBER(x) && x->u.number.r &&
                 strlen(x->u.number.r) < 64)
            memcpy(slot, &x->u.number.r, sizeof(x->u.number.r));
        else if (f->kind != F_INT || jschema_number_ll(x, (long long *)(void *)slot))
            return snprintf(where, sizeof(where), "/%s", f->name), disagree(e, where, err, errlen);
    }
    if (e->occurred_at && evt_rfc3339_ms(e->occurred_at, &e->occurred_at_ms))
        return disagree(e, "/occurred_at", err, errlen);
    if (e->ends_at && evt_rfc3339_ms(e->ends_at, &e->ends_at_ms))
        return disagree(e, "/ends_at", err, errlen);
    return e->type == EVT_ORDER_CREATED ? read_lines(root, e, err, errlen) : 0;
}

/* ---------------------------------------------------------------------------
 * API */

/* Appends s as a JSON string (quoted, escaped) at buf + *o; -1 when it does
 * not fit. The text is valid UTF-8 (evt_parse checked it): only '"', '\\'
 * and control characters need escaping. */
static int json_str(char *buf, size_t len, size_t *o, const char *s)
{
    if (*o + 1 >= len)
        return -1;
    buf[(*o)++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int n = *p == '"' || *p == '\\' ? snprintf(buf + *o, len - *o, "\\%c", *p)
                : *p < 0x20            ? snprintf(buf + *o, len - *o, "\\u%04x", *p)
                                       : snprintf(buf + *o, len - *o, "%c", *p);
        if (n < 0 || (size_t)n >= len - *o)
            return -1;
        *o += (size_t)n;
    }
    if (*o + 1 >= len)
        return -1;
    buf[(*o)++] = '"';
    buf[*o] = '\0';
    return 0;
}

/* Appends ,"key":"value" (the comma unless first) at buf + *o, the value
 * JSON-escaped; -1 when it does not fit. */
static int args_str(char *buf, size_t len, size_t *o, const char *key, const char *v)
{
    int n = snprintf(buf + *o, len - *o, "%s\"%s\":", *o > 1 ? "," : "", key);
    if (n < 0 || (size_t)n >= len - *o)
        return -1;
    *o += (size_t)n;
    return json_str(buf, len, o, v);
}

/* The promotion fields of e: {"promo_id":"p-1","ends_at_ms":1764770400000}
 * (ends_at_ms for promotion.allocated only); nothing when e has no promo_id. */
static int promo_args(const struct evt *e, char *buf, size_t len, size_t *o)
{
    if (!e->promo_id)
        return 0;
    if (args_str(buf, len, o, "promo_id", e->promo_id))
        return -1;
    if (e->type != EVT_PROMOTION_ALLOCATED)
        return 0;
    int n = snprintf(buf + *o, len - *o, ",\"ends_at_ms\":%lld", e->ends_at_ms);
    if (n < 0 || (size_t)n >= len - *o)
        return -1;
    *o += (size_t)n;
    return 0;
}

int evt_args_json(const struct evt *e, char *buf, size_t len)
{
    static const char *const names[] = {"safety_stock", "low_stock_threshold", "hide_below"};
    size_t o = 0;
    int n;

    if (len < 3)
        return -1;
    buf[o++] = '{';
    if (e->type == EVT_SKU_CONFIGURED) {
        const long long v[] = {e->safety_stock, e->low_stock_threshold, e->hide_below};
        for (size_t i = 0; i < 3; i++) {
            if (v[i] < 0)
                continue;
            n = snprintf(buf + o, len - o, "%s\"%s\":%lld", o > 1 ? "," : "", names[i], v[i]);
            if (n < 0 || (size_t)n >= len - o)
                return -1;
            o += (size_t)n;
        }
        if (e->unit_cost) {
            n = snprintf(buf + o, len - o, "%s\"unit_cost\":%s", o > 1 ? "," : "", e->unit_cost);
            if (n < 0 || (size_t)n >= len - o)
                return -1;
            o += (size_t)n;
        }
    }
    if ((e->type == EVT_PROMOTION_ALLOCATED || e->type == EVT_PROMOTION_ENDED ||
         e->type == EVT_ORDER_CREATED) &&
        promo_args(e, buf, len, &o))
        return -1;
    /* stock.received: the receipt's batch and best_before (024, the radar) */
    if (e->type == EVT_STOCK_RECEIVED &&
        ((e->batch && args_str(buf, len, &o, "batch", e->batch)) ||
         (e->best_before && args_str(buf, len, &o, "best_before", e->best_before))))
        return -1;
    if (o + 2 > len)
        return -1;
    buf[o++] = '}';
    buf[o] = '\0';
    return (int)o;
}

static int dispatch(yajl_val root, enum evt_type *t, char *err, size_t errlen)
{
    yajl_val tv = get(root, "type");
    char q[64];
    int i;

    if (!tv)
        return fail(err, errlen, "unknown type: no \"type\" field");
    if (!YAJL_IS_STRING(tv))
        return fail(err, errlen, "unknown type: \"type\" is not a string");
    if ((i = type_of_name(tv->u.string)) < 0)
        return fail(err, errlen, "unknown type: %s", quote(tv->u.string, q, sizeof(q)));
    *t = (enum evt_type)i;
    return 0;
}

int evt_parse(const struct evt_validator *v, const void *buf, size_t len, struct evt *out,
              char *err, size_t errlen)
{
    yajl_val root = NULL;
    enum evt_type t = EVT__COUNT;
    char verr[512];

    memset(out, 0, sizeof(*out));
    if (errlen)
        err[0] = '\0';
    if (len > EVT_MAX_BYTES)
        return fail(err, errlen, "too large: %zu bytes (limit %d)", len, EVT_MAX_BYTES);
    if (!buf || len == 0)
        return fail(err, errlen, "invalid JSON: empty message");
    if (scan_text(buf, len, err, errlen) || parse_tree(buf, len, &root, err, errlen) ||
        check_dups(root, err, errlen))
        goto fail;
    if (!YAJL_IS_OBJECT(root)) {
        fail(err, errlen, "not an object");
        goto fail;
    }
    if (dispatch(root, &t, err, errlen))
        goto fail;
    if (jschema_validate(v->schemas[t], root, verr, sizeof(verr))) {
        fail(err, errlen, "schema %s: %s", type_names[t], verr);
        goto fail;
    }
    out->type = t;
    out->type_name = type_names[t];
    out->priv_ = root;
    if (read_fields(root, out, err, errlen) == 0)
        return 0;
    evt_release(out);
    return -1;
fail:
    if (root)
        yajl_tree_free(root);
    return -1;
}

void evt_release(struct evt *e)
{
    if (!e)
        return;
    if (e->priv_)
        yajl_tree_free(e->priv_);
    free(e->lines);
    memset(e, 0, sizeof(*e));
}

static int load_schema(struct evt_validator *v, const struct evt_schema_src *src, char *err,
                       size_t errlen)
{
    char ebuf[256] = "";
    int t = type_of_name(src->name);

    if (t < 0)
        return fail(err, errlen, "schema %s: no such event type", src->name);
    if (v->docs[t])
        return fail(err, errlen, "schema %s: embedded twice", src->name);
    if (!(v->docs[t] = yajl_tree_parse(src->text, ebuf, sizeof(ebuf)))) {
        ebuf[strcspn(ebuf, "\r\n")] = '\0';
        return fail(err, errlen, "schema %s: invalid JSON: %s", src->name, ebuf);
    }
    if (jschema_compile(&v->schemas[t], v->docs[t], ebuf, sizeof(ebuf)))
        return fail(err, errlen, "schema %s: %s", src->name, ebuf);
    return 0;
}

int evt_validator_new(struct evt_validator **out, char *err, size_t errlen)
{
    const struct evt_schema_src *src;
    struct evt_validator *v;
    size_t n, i;
    int t;

    *out = NULL;
    if (!(v = calloc(1, sizeof(*v))))
        return fail(err, errlen, "out of memory");
    src = evt_schema_sources(&n);
    for (i = 0; i < n; i++)
        if (load_schema(v, &src[i], err, errlen))
            goto fail;
    for (t = 0; t < EVT__COUNT; t++)
        if (!v->schemas[t]) {
            fail(err, errlen, "schema %s: missing from schemas/events", type_names[t]);
            goto fail;
        }
    *out = v;
    return 0;
fail:
    evt_validator_free(v);
    return -1;
}

void evt_validator_free(struct evt_validator *v)
{
    int t;

    if (!v)
        return;
    for (t = 0; t < EVT__COUNT; t++) {
        jschema_free(v->schemas[t]);
        if (v->docs[t])
            yajl_tree_free(v->docs[t]);
    }
    free(v);
}
