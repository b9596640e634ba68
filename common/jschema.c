/* jschema: JSON Schema draft-07 interpreter. See jschema.h for the contract.
 *
 * jschema_compile turns a schema tree into a graph of struct node (one per
 * schema location, $ref edges resolved, regexes compiled); jschema_validate walks
 * that graph over an instance and stops at the first error. Every node a
 * compile allocates is listed in jschema_schema.all, which owns them. */
#include "jschema.h"

#include <ctype.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JS_MAX_CALLS 256        /* nested validate() calls, $ref chains included */
#define JS_MAX_SCHEMA_DEPTH 128 /* nested subschemas while compiling */
#define JS_EXP_CAP 1000000000000000LL

/* ---------------------------------------------------------------------------
 * Small string builder: never overflows, keeps the text NUL-terminated and
 * never ends in a cut UTF-8 sequence. */

struct sb {
    char *buf;
    size_t cap, len;
};

static void sb_init(struct sb *b, char *buf, size_t cap)
{
    b->buf = buf;
    b->cap = cap;
    b->len = 0;
    if (cap)
        buf[0] = '\0';
}

static void sb_putc(struct sb *b, char ch)
{
    if (b->len + 1 < b->cap) {
        b->buf[b->len++] = ch;
        b->buf[b->len] = '\0';
    }
}

static void sb_puts(struct sb *b, const char *s)
{
    while (*s)
        sb_putc(b, *s++);
}

__attribute__((format(printf, 2, 0))) static void sb_vprintf(struct sb *b, const char *fmt,
                                                             va_list ap)
{
    int n;

    if (b->len + 1 >= b->cap)
        return;
    n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
    if (n > 0)
        b->len += (size_t)n < b->cap - b->len ? (size_t)n : b->cap - b->len - 1;
}

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sb *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Drops a trailing, incomplete UTF-8 sequence left by truncation. */
static void sb_finish(struct sb *b)
{
    size_t i = b->len, need;

    while (i > 0 && b->len - i < 4 && ((unsigned char)b->buf[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0 || (unsigned char)b->buf[i - 1] < 0xC0)
        return;
    need = (unsigned char)b->buf[i - 1] >= 0xF0 ? 4 : (unsigned char)b->buf[i - 1] >= 0xE0 ? 3 : 2;
    if (b->len - (i - 1) < need) {
        b->len = i - 1;
        b->buf[b->len] = '\0';
    }
}

/* Appends 's' (at most 'max' bytes of it, cut at a character boundary)
 * with control characters shown as '?', so that one line stays one line.
 * JSON-pointer escaping on request. */
static void sb_text(struct sb *b, const char *s, size_t max, bool pointer)
{
    size_t n = strnlen(s, max + 1), cut = n > max ? max : n, i;

    while (cut < n && cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    for (i = 0; i < cut; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (pointer && ch == '~')
            sb_puts(b, "~0");
        else if (pointer && ch == '/')
            sb_puts(b, "~1");
        else
            sb_putc(b, ch < 0x20 || ch == 0x7F ? '?' : (char)ch);
    }
    if (cut < n)
        sb_puts(b, "...");
}

/* A short, one-line rendering of a value for messages. */
static const char *show(yajl_val v, char *buf, size_t len)
{
    struct sb b;

    sb_init(&b, buf, len);
    switch (v->type) {
    case yajl_t_string:
        sb_putc(&b, '"');
        sb_text(&b, v->u.string, 40, false);
        sb_putc(&b, '"');
        break;
    case yajl_t_number:
        sb_text(&b, v->u.number.r, 40, false);
        break;
    case yajl_t_true:
        sb_puts(&b, "true");
        break;
    case yajl_t_false:
        sb_puts(&b, "false");
        break;
    case yajl_t_null:
        sb_puts(&b, "null");
        break;
    default:
        sb_puts(&b, v->type == yajl_t_object ? "object" : "array");
    }
    sb_finish(&b);
    return buf;
}

/* ---------------------------------------------------------------------------
 * Exact decimal numbers, read from the JSON text yajl keeps for each number. */

struct num {
    int sign;        /* -1, 0 (the value is zero), +1 */
    const char *p;   /* first significant digit in the text */
    const char *dot; /* the '.' in the text, or NULL */
    long long n;     /* significant digits, trailing zeros dropped */
    long long e;     /* value = sign * 0.d1d2..dn * 10^e */
    const char *raw; /* the text as written */
};

static bool is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

static long long parse_exponent(const char **sp)
{
    const char *s = *sp;
    long long e = 0;
    bool neg = false;

    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (!is_digit(*s))
        return LLONG_MIN;
    for (; is_digit(*s); s++)
        if (e < JS_EXP_CAP)
            e = e * 10 + (*s - '0');
    *sp = s;
    return neg ? -e : e;
}

static int num_parse(const char *raw, struct num *x)
{
    const char *s = raw, *first = NULL, *last = NULL, *int_end;
    long long exp = 0;
    bool neg = *s == '-';

    memset(x, 0, sizeof(*x));
    x->raw = raw;
    s += neg;
    if (!is_digit(*s))
        return -1;
    for (; is_digit(*s) || (*s == '.' && !x->dot); s++) {
        if (*s == '.')
            x->dot = s;
        else if (*s != '0')
            last = first ? s : (first = s);
    }
    int_end = x->dot ? x->dot : s;
    if (*s == 'e' || *s == 'E') {
        s++;
        if ((exp = parse_exponent(&s)) == LLONG_MIN)
            return -1;
    }
    if (*s || !first)
        return *s ? -1 : 0;
    x->sign = neg ? -1 : 1;
    x->p = first;
    x->n = last - first + 1 - (x->dot && x->dot > first && x->dot < last);
    x->e = (first < int_end ? int_end - first : -(first - int_end - 1)) + exp;
    return 0;
}

static int num_digit(const struct num *x, long long i)
{
    const char *c = x->p + i;

    if (x->dot && x->dot > x->p && c >= x->dot)
        c++;
    return *c - '0';
}

static int num_cmp(const struct num *a, const struct num *b)
{
    long long i;
    int mag = 0;

    if (a->sign != b->sign)
        return a->sign < b->sign ? -1 : 1;
    if (a->sign == 0)
        return 0;
    if (a->e != b->e)
        mag = a->e < b->e ? -1 : 1;
    for (i = 0; !mag && (i < a->n || i < b->n); i++) {
        int da = i < a->n ? num_digit(a, i) : 0, db = i < b->n ? num_digit(b, i) : 0;
        mag = da < db ? -1 : da > db;
    }
    return a->sign * mag;
}

static bool num_is_int(const struct num *x)
{
    return x->sign == 0 || x->n <= x->e;
}

static int num_to_ll(const struct num *x, long long *out)
{
    unsigned long long u = 0;
    long long i;

    if (!num_is_int(x) || x->e > 19)
        return -1;
    for (i = 0; x->sign && i < x->e; i++) {
        unsigned d = i < x->n ? (unsigned)num_digit(x, i) : 0;
        if (u > (ULLONG_MAX - d) / 10)
            return -1;
        u = u * 10 + d;
    }
    if (u > (unsigned long long)LLONG_MAX + (x->sign < 0))
        return -1;
    if (x->sign >= 0)
        *out = (long long)u;
    else
        *out = u > (unsigned long long)LLONG_MAX ? LLONG_MIN : -(long long)u;
    return 0;
}

static unsigned long long mulmod(unsigned long long a, unsigned long long b, unsigned long long m)
{
    __extension__ typedef unsigned __int128 u128;
    return (unsigned long long)((u128)a * b % m);
}

/* x is a multiple of d (d > 0, at most 18 significant digits, value dv). With
 * x = X*10^a and d = D*10^b, X and D free of trailing zeros: a < b cannot
 * divide (X would need a factor 10); otherwise test D | X*10^(a-b). */
static bool num_multiple(const struct num *x, const struct num *d, unsigned long long dv)
{
    long long a = x->e - x->n, b = d->e - d->n, i, k;
    unsigned long long r = 0, p = 1, base = 10 % dv;

    if (x->sign == 0)
        return true;
    if (a < b)
        return false;
    for (i = 0; i < x->n; i++)
        r = (r * 10 + (unsigned)num_digit(x, i)) % dv;
    for (k = a - b; k > 0; k >>= 1, base = mulmod(base, base, dv))
        if (k & 1)
            p = mulmod(p, base, dv);
    return mulmod(r, p, dv) == 0;
}

/* ---------------------------------------------------------------------------
 * Values */

enum {
    T_NULL = 1,
    T_BOOLEAN = 2,
    T_OBJECT = 4,
    T_ARRAY = 8,
    T_NUMBER = 16,
    T_STRING = 32,
    T_INTEGER = 64
};
static const char *const type_names[] = {"null",   "boolean", "object", "array",
                                         "number", "string",  "integer"};

static unsigned value_type(yajl_val v)
{
    struct num x;

    switch (v->type) {
    case yajl_t_null:
        return T_NULL;
    case yajl_t_true:
    case yajl_t_false:
        return T_BOOLEAN;
    case yajl_t_object:
        return T_OBJECT;
    case yajl_t_array:
        return T_ARRAY;
    case yajl_t_string:
        return T_STRING;
    default:
        return T_NUMBER | (num_parse(v->u.number.r, &x) == 0 && num_is_int(&x) ? T_INTEGER : 0);
    }
}

static yajl_val obj_get(yajl_val o, const char *key)
{
    size_t i;

    for (i = 0; i < o->u.object.len; i++)
        if (strcmp(o->u.object.keys[i], key) == 0)
            return o->u.object.values[i];
    return NULL;
}

/* Depth of 'v' is at most 'room' containers. */
static bool depth_ok(yajl_val v, int room)
{
    size_t i, n = YAJL_IS_OBJECT(v) ? v->u.object.len : YAJL_IS_ARRAY(v) ? v->u.array.len : 0;

    if (n && room == 0)
        return false;
    for (i = 0; i < n; i++)
        if (!depth_ok(YAJL_IS_OBJECT(v) ? v->u.object.values[i] : v->u.array.values[i], room - 1))
            return false;
    return true;
}

/* JSON equality: numbers by value. Recursion is bounded by the schema side,
 * whose depth jschema_compile checks. */
static bool json_equal(yajl_val a, yajl_val b)
{
    struct num x, y;
    size_t i;

    if (a->type != b->type)
        return false;
    switch (a->type) {
    case yajl_t_string:
        return strcmp(a->u.string, b->u.string) == 0;
    case yajl_t_number:
        if (num_parse(a->u.number.r, &x) || num_parse(b->u.number.r, &y))
            return strcmp(a->u.number.r, b->u.number.r) == 0;
        return num_cmp(&x, &y) == 0;
    case yajl_t_array:
        if (a->u.array.len != b->u.array.len)
            return false;
        for (i = 0; i < a->u.array.len; i++)
            if (!json_equal(a->u.array.values[i], b->u.array.values[i]))
                return false;
        return true;
    case yajl_t_object:
        if (a->u.object.len != b->u.object.len)
            return false;
        for (i = 0; i < a->u.object.len; i++) {
            yajl_val bv = obj_get(b, a->u.object.keys[i]);
            if (!bv || !json_equal(a->u.object.values[i], bv))
                return false;
        }
        return true;
    default:
        return true;
    }
}

size_t jschema_utf8_len(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* ---------------------------------------------------------------------------
 * RFC 3339 date-time */

static int digits(const char *s, int n, int *out)
{
    int i;

    *out = 0;
    for (i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        *out = *out * 10 + (s[i] - '0');
    }
    return 0;
}

static int month_days(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static long long days_from_civil(int y, int m, int d)
{
    long long era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "[.frac](Z|+hh:mm|-hh:mm)" at p: fraction in ms and offset in minutes. */
static int parse_tail(const char *p, long long *frac, int *off)
{
    int nd = 0, oh, om;

    *frac = 0;
    if (*p == '.') {
        if (!is_digit(*++p))
            return -1;
        for (; is_digit(*p); p++)
            if (nd < 3)
                *frac = *frac * 10 + (*p - '0'), nd++;
        for (; nd < 3; nd++)
            *frac *= 10;
    }
    if (*p == 'Z' || *p == 'z')
        return *off = 0, p[1] ? -1 : 0;
    if ((*p != '+' && *p != '-') || digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) ||
        p[6] || oh > 23 || om > 59)
        return -1;
    *off = (*p == '-' ? -1 : 1) * (oh * 60 + om);
    return 0;
}

int jschema_date_days(const char *s, long long *out_days)
{
    int y, mo, d;

    if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || s[10] || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo))
        return -1;
    *out_days = days_from_civil(y, mo, d);
    return 0;
}

int jschema_datetime_ms(const char *s, long long *out_ms)
{
    int y, mo, d, h, mi, sec, off, utc_min;
    long long frac;

    if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) ||
        s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &sec) ||
        parse_tail(s + 19, &frac, &off))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 || mi > 59 || sec > 60)
        return -1;
    utc_min = h * 60 + mi - off;
    if (sec == 60 && (utc_min % 1440 + 1440) % 1440 != 23 * 60 + 59)
        return -1; /* a leap second is the last second of a UTC day */
    *out_ms = (days_from_civil(y, mo, d) * 1440 + utc_min) * 60000LL + sec * 1000LL + frac;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Compiled schema */

enum { N_MIN, N_MAX, N_XMIN, N_XMAX, N_MULT, N__COUNT };
enum { C_MIN_ITEMS, C_MAX_ITEMS, C_MIN_LEN, C_MAX_LEN, C__COUNT };
enum { S_ADDL, S_ITEMS, S_NOT, S_IF, S_THEN, S_ELSE, S__COUNT };
enum { L_ALL, L_ANY, L_ONE, L_ITEMS, L__COUNT };

struct nlist {
    size_t n;
    struct node **v;
};

struct node {
    yajl_val src;
    int boolean;      /* 0: false, 1: true, -1: an object schema */
    struct node *ref; /* $ref: every other keyword is ignored */
    unsigned types;   /* T_* mask, 0 when absent */
    yajl_val konst, enm;
    struct num nums[N__COUNT];
    unsigned has_num;            /* 1 << N_* */
    unsigned long long multiple; /* multipleOf digits as an integer */
    long long counts[C__COUNT];  /* -1 when absent */
    regex_t *pattern;
    yajl_val pattern_src;
    bool date_time, date; /* format "date-time", format "date" */
    yajl_val props, pprops, required; /* the keyword values */
    struct node **prop_nodes;         /* index-aligned with props */
    struct node **pprop_nodes;        /* index-aligned with pprops */
    regex_t *pprop_re;
    size_t n_pprop_re; /* compiled so far */
    struct node *subs[S__COUNT];
    struct nlist lists[L__COUNT];
};

struct jschema_schema {
    struct node *root;
    struct node **all;
    size_t n_all;
};

struct cctx {
    yajl_val root;
    struct jschema_schema *s;
    size_t cap;
    int depth;
    char where[256]; /* JSON pointer of the keyword being compiled */
    size_t wlen;
    char *err;
    size_t errlen;
};

static size_t where_push(struct cctx *c, const char *seg)
{
    size_t old = c->wlen;
    struct sb b = {c->where, sizeof(c->where), c->wlen};

    sb_putc(&b, '/');
    sb_text(&b, seg, 64, true);
    c->wlen = b.len;
    return old;
}

static void where_pop(struct cctx *c, size_t old)
{
    c->wlen = old;
    c->where[old] = '\0';
}

__attribute__((format(printf, 2, 3))) static int cfail(struct cctx *c, const char *fmt, ...)
{
    struct sb b;
    va_list ap;

    sb_init(&b, c->err, c->errlen);
    sb_printf(&b, "schema #%s: ", c->where);
    va_start(ap, fmt);
    sb_vprintf(&b, fmt, ap);
    va_end(ap);
    sb_finish(&b);
    return -1;
}

static void node_free(struct node *n)
{
    size_t i;

    if (n->pattern)
        regfree(n->pattern);
    free(n->pattern);
    for (i = 0; i < n->n_pprop_re; i++)
        regfree(&n->pprop_re[i]);
    free(n->pprop_re);
    free(n->prop_nodes);
    free(n->pprop_nodes);
    for (i = 0; i < L__COUNT; i++)
        free(n->lists[i].v);
    free(n);
}

void jschema_free(struct jschema_schema *s)
{
    size_t i;

    if (!s)
        return;
    for (i = 0; i < s->n_all; i++)
        node_free(s->all[i]);
    free(s->all);
    free(s);
}

static struct node *compile(struct cctx *c, yajl_val s);

static struct node *node_new(struct cctx *c, yajl_val src)
{
    struct node *n;
    int i;

    if (c->s->n_all == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct node **all = realloc(c->s->all, cap * sizeof(*all));
        if (!all)
            return NULL;
        c->s->all = all;
        c->cap = cap;
    }
    if (!(n = calloc(1, sizeof(*n))))
        return NULL;
    n->src = src;
    n->boolean = -1;
    for (i = 0; i < C__COUNT; i++)
        n->counts[i] = -1;
    c->s->all[c->s->n_all++] = n;
    return n;
}

/* ---------------------------------------------------------------------------
 * Keywords */

/* Syntax that ECMA-262 and POSIX ERE read differently (or ERE lacks):
 * refused, so that a pattern never silently means something else. */
static const char *ecma_only(const char *p)
{
    bool in_br = false;

    for (; *p; p++) {
        if (in_br) {
            if (*p == '\\' || (*p == '[' && strchr(":.=", p[1]) && p[1]))
                return "escapes or [: :] classes inside [...]";
            in_br = *p != ']';
        } else if (*p == '[') {
            in_br = true;
            p += p[1] == '^';
            p += p[1] == ']';
        } else if (*p == '\\') {
            if (!p[1] || !strchr("\\.*+?()[]{}|^$/-wWsSbB", p[1]))
                return "this escape";
            p++;
        } else if (*p == '(' && p[1] == '?') {
            return "(?...) groups";
        } else if (strchr("*+?}", *p) && p[1] == '?') {
            return "lazy quantifiers";
        }
    }
    return NULL;
}

/* The states glibc's regcomp builds for a pattern: it copies a repeated
 * atom or group once per repetition, so "(a{100}){100}" or "a++++" grows
 * its tree without bound (the fuzzer found 740 MB from a 60-byte
 * pattern). Counted here the same way (an atom is 1, a quantifier
 * multiplies what it repeats by its upper bound + 1, a group is the sum of
 * what it holds) and refused over RE_MAX_STATES. ECMA-262 refuses a
 * quantifier on a quantifier too ("nothing to repeat"). */
#define RE_MAX_STATES 4096
#define RE_MAX_STATES_S "4096"
#define RE_MAX_DEPTH 32

static unsigned long re_bound(const char **pp)
{
    const char *p = *pp + 1; /* after '{' */
    unsigned long n = 0, m;

    for (; isdigit((unsigned char)*p); p++)
        if (n < 100000)
            n = n * 10 + (unsigned long)(*p - '0');
    m = n;
    if (*p == ',') {
        p++;
        if (isdigit((unsigned char)*p)) {
            for (m = 0; isdigit((unsigned char)*p); p++)
                if (m < 100000)
                    m = m * 10 + (unsigned long)(*p - '0');
        } else {
            m = n + 1; /* {n,}: n copies and a star */
        }
    }
    if (*p == '}')
        *pp = p;
    return (m > n ? m : n) + 1;
}

static const char *re_too_big(const char *p)
{
    unsigned long sum[RE_MAX_DEPTH], last[RE_MAX_DEPTH], k, atom;
    bool prev_q = false;
    int d = 0;

    sum[0] = last[0] = 0;
    for (; *p; p++) {
        if (*p == '(') {
            if (++d == RE_MAX_DEPTH)
                return "groups nested more than 31 deep";
            sum[d] = last[d] = 0;
            prev_q = false;
            continue;
        }
        if (*p == '|') {
            prev_q = false;
            continue;
        }
        if (strchr("*+?", *p) || (*p == '{' && isdigit((unsigned char)p[1]))) {
            if (prev_q)
                return "a quantifier on a quantifier";
            k = *p == '{' ? re_bound(&p) : 2;
            sum[d] += last[d] * (k - 1);
            last[d] *= k;
            prev_q = true;
        } else {
            if (*p == ')' && d > 0) {
                atom = sum[d];
                d--;
            } else {
                atom = 1;
                if (*p == '\\' && p[1]) {
                    p++;
                } else if (*p == '[') { /* one atom, up to its ']' */
                    p += p[1] == '^';
                    p += p[1] == ']';
                    while (p[1] && p[1] != ']')
                        p++;
                    p += p[1] == ']';
                }
            }
            sum[d] += atom;
            last[d] = atom;
            prev_q = false;
        }
        if (sum[d] > RE_MAX_STATES || last[d] > RE_MAX_STATES)
            return "repetitions that expand past " RE_MAX_STATES_S " states";
    }
    return NULL;
}

static int compile_re(struct cctx *c, const char *pat, regex_t *re)
{
    const char *why = ecma_only(pat);
    char msg[128];
    int rc;

    if (why)
        return cfail(c, "pattern uses %s, which POSIX regular expressions do not support", why);
    if ((why = re_too_big(pat)))
        return cfail(c, "pattern refused: %s", why);
    if ((rc = regcomp(re, pat, REG_EXTENDED | REG_NOSUB)) != 0) {
        regerror(rc, re, msg, sizeof(msg));
        return cfail(c, "bad pattern: %s", msg);
    }
    return 0;
}

static int type_one(struct cctx *c, yajl_val v, unsigned *mask)
{
    char sh[64];
    size_t i;

    for (i = 0; YAJL_IS_STRING(v) && i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (strcmp(v->u.string, type_names[i]) == 0)
            return *mask |= 1u << i, 0;
    return cfail(c, "unknown type %s", show(v, sh, sizeof(sh)));
}

static int kw_type(struct cctx *c, struct node *n, int slot, yajl_val v)
{
    size_t i;

    if (!YAJL_IS_ARRAY(v))
        return type_one(c, v, &n->types);
    if (v->u.array.len == 0)
        return cfail(c, "must not be empty");
    for (i = 0; i < v->u.array.len; i++)
        if (type_one(c, v->u.array.values[i], &n->types))
            return -1;
    return 0;
}

static int kw_value(struct cctx *c, struct node *n, int slot, yajl_val v)
{
    if (slot && !YAJL_IS_ARRAY(v))
        return cfail(c, "must be an array");
    if (!depth_ok(v, JS_MAX_DEPTH))
        return cfail(c, "value nested too deeply");
    *(slot ? &n->enm : &n->konst) = v;
    return 0;
}

static int kw_num(struct cctx *c, struct node *n, int slot, yajl_val v)
{
    struct num *x = &n->nums[slot];
    long long i;

    if (!YAJL_IS_NUMBER(v) || num_parse(v->u.number.r, x))
        return cfail(c, "must be a number");
    if (slot == N_MULT && x->sign <= 0)
        return cfail(c, "must be greater than 0");
    if (slot == N_MULT && x->n > 18)
        return cfail(c, "more than 18 significant digits are not supported");
    for (i = 0; slot == N_MULT && i < x->n; i++)
        n->multiple = n->multiple * 10 + (unsigned)num_digit(x, i);
    n->has_num |= 1u << slot;
    return 0;
}

static int kw_count(struct cctx *c, struct node *n, int slot, yajl_val v)
{
    struct num x;

    if (!YAJL_IS_NUMBER(v) || num_parse(v->u.number.r, &x) || !num_is_int(&x) || x.sign < 0)
        return cfail(c, "must be a non-negative integer");
    if (num_to_ll(&x, &n->counts[slot]))
        n->counts[slot] = LLONG_MAX;
    return 0;
}

static int kw_sub(struct cctx *c, struct node *n, int slot, yajl_val v)
{
    return (n->subs[slot] = compile(c, v)) ? 0 : -1;
}

static struct node *compile_at(struct cctx *c, yajl_val s, const char *key, size_t index)
{
    char idx[24];
    size_t old;
    struct node *r;

    if (!key)
        snprintf(idx, sizeof(idx), "%zu", index);
    old = where_push(c, key ? key : idx);
    r = compile(c, s);
    where_pop(c, old);
    return r;
}

static int kw_list(struct cctx *c, struct node *n, int slot, yajl_val v)
{
    struct nlist *l = &n->lists[slot];
    size_t i;

    if (!YAJL_IS_ARRAY(v) || v->u.array.len == 0)
        return cfail(c, "must be a non-empty array of schemas");
    if (!(l->v = calloc(v->u.array.len, sizeof(*l->v))))
        return cfail(c, "out of memory");
    l->n = v->u.array.len;
    for (i = 0; i < l->n; i++)
        if (!(l->v[i] = compile_at(c, v->u.array.values[i], NULL, i)))
            return -1;
    return 0;
}

static int kw_items(struct cctx *c, struct node *n, int slot, yajl_val v)
{
    return YAJL_IS_ARRAY(v) ? kw_list(c, n, L_ITEMS, v) : kw_sub(c, n, S_ITEMS, v);
}

/* properties (slot 0), patternProperties (1), definitions (2) */
static int kw_schemas(struct cctx *c, struct node *n, int slot, yajl_val v)
{
    struct node **nodes = NULL, *sub;
    size_t i;

    if (!YAJL_IS_OBJECT(v))
        return cfail(c, "must be an object of schemas");
    if (slot < 2 && !(nodes = calloc(v->u.object.len + 1, sizeof(*nodes))))
        return cfail(c, "out of memory");
    if (slot == 0)
        n->props = v, n->prop_nodes = nodes;
    if (slot == 1 && !(n->pprop_re = calloc(v->u.object.len + 1, sizeof(regex_t))))
        return free(nodes), cfail(c, "out of memory");
    if (slot == 1)
        n->pprops = v, n->pprop_nodes = nodes;
    for (i = 0; i < v->u.object.len; i++) {
        const char *key = v->u.object.keys[i];
        if (slot == 1 && compile_re(c, key, &n->pprop_re[i]))
            return -1;
        n->n_pprop_re += slot == 1;
        if (!(sub = compile_at(c, v->u.object.values[i], key, 0)))
            return -1;
        if (nodes)
            nodes[i] = sub;
    }
    return 0;
}

static int kw_required(struct cctx *c, struct node *n, int slot, yajl_val v)
{
    size_t i;

    for (i = 0; YAJL_IS_ARRAY(v) && i < v->u.array.len; i++)
        if (!YAJL_IS_STRING(v->u.array.values[i]))
            break;
    if (!YAJL_IS_ARRAY(v) || i < v->u.array.len)
        return cfail(c, "must be an array of strings");
    n->required = v;
    return 0;
}

static int kw_pattern(struct cctx *c, struct node *n, int slot, yajl_val v)
{
    if (!YAJL_IS_STRING(v))
        return cfail(c, "must be a string");
    if (!(n->pattern = calloc(1, sizeof(*n->pattern))))
        return cfail(c, "out of memory");
    if (compile_re(c, v->u.string, n->pattern)) {
        free(n->pattern);
        n->pattern = NULL;
        return -1;
    }
    n->pattern_src = v;
    return 0;
}

static int kw_format(struct cctx *c, struct node *n, int slot, yajl_val v)
{
    char sh[64];

    if (YAJL_IS_STRING(v) && strcmp(v->u.string, "date-time") == 0)
        n->date_time = true;
    else if (YAJL_IS_STRING(v) && strcmp(v->u.string, "date") == 0)
        n->date = true;
    else
        return cfail(c, "format %s is not supported (only \"date-time\" and \"date\")",
                     show(v, sh, sizeof(sh)));
    return 0;
}

static int kw_meta(struct cctx *c, struct node *n, int slot, yajl_val v)
{
    if (slot == 0 && !(YAJL_IS_STRING(v) && strstr(v->u.string, "json-schema.org/draft-07/schema")))
        return cfail(c, "only draft-07 schemas are supported");
    if (slot == 1 && n->src != c->root)
        return cfail(c, "$id below the root is not supported");
    return 0;
}

static int kw_unsupported(struct cctx *c, struct node *n, int slot, yajl_val v)
{
    return cfail(c, "keyword not supported by this interpreter");
}

static const struct kw {
    const char *name;
    int (*fn)(struct cctx *c, struct node *n, int slot, yajl_val v);
    int slot;
} keywords[] = {
    {"type", kw_type, 0},
    {"const", kw_value, 0},
    {"enum", kw_value, 1},
    {"properties", kw_schemas, 0},
    {"patternProperties", kw_schemas, 1},
    {"definitions", kw_schemas, 2},
    {"additionalProperties", kw_sub, S_ADDL},
    {"required", kw_required, 0},
    {"items", kw_items, 0},
    {"minItems", kw_count, C_MIN_ITEMS},
    {"maxItems", kw_count, C_MAX_ITEMS},
    {"minLength", kw_count, C_MIN_LEN},
    {"maxLength", kw_count, C_MAX_LEN},
    {"minimum", kw_num, N_MIN},
    {"maximum", kw_num, N_MAX},
    {"exclusiveMinimum", kw_num, N_XMIN},
    {"exclusiveMaximum", kw_num, N_XMAX},
    {"multipleOf", kw_num, N_MULT},
    {"pattern", kw_pattern, 0},
    {"format", kw_format, 0},
    {"not", kw_sub, S_NOT},
    {"if", kw_sub, S_IF},
    {"then", kw_sub, S_THEN},
    {"else", kw_sub, S_ELSE},
    {"allOf", kw_list, L_ALL},
    {"anyOf", kw_list, L_ANY},
    {"oneOf", kw_list, L_ONE},
    {"$schema", kw_meta, 0},
    {"$id", kw_meta, 1},
    {"additionalItems", kw_unsupported, 0},
    {"contains", kw_unsupported, 0},
    {"dependencies", kw_unsupported, 0},
    {"propertyNames", kw_unsupported, 0},
    {"minProperties", kw_unsupported, 0},
    {"maxProperties", kw_unsupported, 0},
    {"uniqueItems", kw_unsupported, 0},
};

/* ---------------------------------------------------------------------------
 * $ref: local JSON pointers only ("#", "#/definitions/a~1b", percent-encoded) */

static int hexval(int ch)
{
    if (is_digit(ch))
        return ch - '0';
    ch |= 0x20;
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Percent-decodes 'in' into 'out' (as large as 'in'); -1 on a bad escape or %00. */
static int percent_decode(const char *in, char *out)
{
    for (; *in; in++) {
        int hi, lo;
        if (*in != '%') {
            *out++ = *in;
            continue;
        }
        if ((hi = hexval(in[1])) < 0 || (lo = hexval(in[2])) < 0 || (hi | lo) == 0)
            return -1;
        *out++ = (char)(hi * 16 + lo);
        in += 2;
    }
    *out = '\0';
    return 0;
}

static yajl_val pointer_step(yajl_val cur, const char *seg)
{
    char *end;
    unsigned long i;

    if (YAJL_IS_OBJECT(cur))
        return obj_get(cur, seg);
    if (!YAJL_IS_ARRAY(cur) || !is_digit(seg[0]) || (seg[0] == '0' && seg[1]))
        return NULL;
    i = strtoul(seg, &end, 10);
    return *end || i >= cur->u.array.len ? NULL : cur->u.array.values[i];
}

static yajl_val resolve_ref(yajl_val root, const char *ref)
{
    size_t len = strlen(ref);
    char *buf = malloc(len + 1), *seg = malloc(len + 1), *p = buf;
    yajl_val cur = root;

    if (!buf || !seg || ref[0] != '#' || percent_decode(ref + 1, buf) || (*p && *p != '/'))
        cur = NULL;
    while (cur && *p == '/') {
        char *w = seg;
        for (p++; *p && *p != '/'; p++) {
            if (*p == '~' && p[1] != '0' && p[1] != '1')
                break;
            *w++ = *p == '~' ? (*++p == '0' ? '~' : '/') : *p;
        }
        *w = '\0';
        cur = *p && *p != '/' ? NULL : pointer_step(cur, seg);
    }
    free(buf);
    free(seg);
    return cur;
}

static int compile_ref(struct cctx *c, struct node *n, yajl_val ref)
{
    char saved[sizeof(c->where)], sh[96];
    size_t saved_len = c->wlen;
    yajl_val target;
    struct sb b;

    where_push(c, "$ref");
    if (!YAJL_IS_STRING(ref))
        return cfail(c, "must be a string");
    if (!(target = resolve_ref(c->root, ref->u.string)))
        return cfail(c, "cannot resolve %s (only local JSON pointers such as \"#/definitions/x\")",
                     show(ref, sh, sizeof(sh)));
    memcpy(saved, c->where, sizeof(saved));
    sb_init(&b, c->where, sizeof(c->where));
    sb_text(&b, ref->u.string + 1, 128, false);
    c->wlen = b.len;
    n->ref = compile(c, target);
    memcpy(c->where, saved, sizeof(saved));
    where_pop(c, saved_len);
    return n->ref ? 0 : -1;
}

static int compile_keywords(struct cctx *c, struct node *n)
{
    yajl_val s = n->src, ref = obj_get(s, "$ref");
    size_t i, k, old;

    if (ref)
        return compile_ref(c, n, ref); /* draft-07: $ref siblings are ignored */
    for (i = 0; i < s->u.object.len; i++) {
        for (k = 0; k < sizeof(keywords) / sizeof(keywords[0]); k++)
            if (strcmp(s->u.object.keys[i], keywords[k].name) == 0)
                break;
        if (k == sizeof(keywords) / sizeof(keywords[0]))
            continue; /* annotations and unknown words */
        old = where_push(c, keywords[k].name);
        /* JSON leaves duplicate names undefined; a keyword given twice
         * would compile twice into one slot (found by fuzz_jschema: the
         * first "properties" leaked) */
        if (obj_get(s, keywords[k].name) != s->u.object.values[i])
            return cfail(c, "keyword given twice");
        if (keywords[k].fn(c, n, keywords[k].slot, s->u.object.values[i]))
            return -1;
        where_pop(c, old);
    }
    return 0;
}

/* Compiles the schema at 's' once: a location reached twice (through $ref,
 * or a cycle) yields the same node. NULL with err set on failure. */
static struct node *compile(struct cctx *c, yajl_val s)
{
    struct node *n;
    size_t i;
    int rc;

    for (i = 0; i < c->s->n_all; i++)
        if (c->s->all[i]->src == s)
            return c->s->all[i];
    if (c->depth >= JS_MAX_SCHEMA_DEPTH)
        return cfail(c, "schema nested too deeply"), NULL;
    if (!(n = node_new(c, s)))
        return cfail(c, "out of memory"), NULL;
    if (YAJL_IS_TRUE(s) || YAJL_IS_FALSE(s)) {
        n->boolean = YAJL_IS_TRUE(s);
        return n;
    }
    if (!YAJL_IS_OBJECT(s))
        return cfail(c, "a schema must be an object or a boolean"), NULL;
    c->depth++;
    rc = compile_keywords(c, n);
    c->depth--;
    return rc ? NULL : n;
}

int jschema_compile(struct jschema_schema **out, yajl_val doc, char *err, size_t errlen)
{
    struct cctx c;

    *out = NULL;
    memset(&c, 0, sizeof(c));
    c.root = doc;
    c.err = err;
    c.errlen = errlen;
    if (errlen)
        err[0] = '\0';
    if (!doc)
        return cfail(&c, "no schema");
    if (!(c.s = calloc(1, sizeof(*c.s))))
        return cfail(&c, "out of memory");
    if (!(c.s->root = compile(&c, doc))) {
        jschema_free(c.s);
        return -1;
    }
    *out = c.s;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Validation */

struct frame {
    yajl_val parent;
    size_t i;
};

struct vctx {
    int quiet; /* > 0 inside anyOf/oneOf/not/if: failures are expected, not reported */
    bool hard; /* a limit was hit: the instance fails whatever the combinators say */
    int calls;
    size_t depth;
    struct frame path[JS_MAX_DEPTH];
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int vfail(struct vctx *c, const char *fmt, ...)
{
    struct sb b;
    va_list ap;
    size_t i;

    if (c->quiet && !c->hard)
        return -1;
    sb_init(&b, c->err, c->errlen);
    for (i = 0; i < c->depth; i++) {
        const struct frame *f = &c->path[i];
        sb_putc(&b, '/');
        if (YAJL_IS_OBJECT(f->parent))
            sb_text(&b, f->parent->u.object.keys[f->i], 64, true);
        else
            sb_printf(&b, "%zu", f->i);
    }
    sb_puts(&b, c->depth ? ": " : "/: ");
    va_start(ap, fmt);
    sb_vprintf(&b, fmt, ap);
    va_end(ap);
    sb_finish(&b);
    return -1;
}

static int too_deep(struct vctx *c, const char *what, int limit)
{
    c->hard = true;
    return vfail(c, "too deep: %s over %d", what, limit);
}

static int validate(struct vctx *c, const struct node *n, yajl_val v);

/* Validates member/element i of 'parent' against n; n == NULL refuses it as
 * an additional property. */
static int validate_child(struct vctx *c, const struct node *n, yajl_val parent, size_t i)
{
    int r;

    if (c->depth >= JS_MAX_DEPTH)
        return too_deep(c, "nesting", JS_MAX_DEPTH);
    c->path[c->depth].parent = parent;
    c->path[c->depth++].i = i;
    if (n)
        r = validate(
            c, n, YAJL_IS_OBJECT(parent) ? parent->u.object.values[i] : parent->u.array.values[i]);
    else
        r = vfail(c, "property not allowed (additionalProperties is false)");
    c->depth--;
    return r;
}

static int check_type(struct vctx *c, const struct node *n, yajl_val v)
{
    unsigned t = value_type(v), i;
    char want[96], sh[64];
    struct sb b;

    if (!n->types || (n->types & t))
        return 0;
    sb_init(&b, want, sizeof(want));
    for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (n->types & (1u << i))
            sb_printf(&b, "%s%s", b.len ? " or " : "", type_names[i]);
    if (t & (T_OBJECT | T_ARRAY | T_NULL))
        return vfail(c, "expected %s, got %s", want, show(v, sh, sizeof(sh)));
    return vfail(c, "expected %s, got %s %s", want,
                 t & T_INTEGER  ? "integer"
                 : t & T_NUMBER ? "number"
                 : t & T_STRING ? "string"
                                : "boolean",
                 show(v, sh, sizeof(sh)));
}

static int check_value(struct vctx *c, const struct node *n, yajl_val v)
{
    char a[64], b[64];
    size_t i;

    if (n->konst && !json_equal(n->konst, v))
        return vfail(c, "%s does not equal const %s", show(v, a, sizeof(a)),
                     show(n->konst, b, sizeof(b)));
    for (i = 0; n->enm && i < n->enm->u.array.len; i++)
        if (json_equal(n->enm->u.array.values[i], v))
            return 0;
    return n->enm ? vfail(c, "%s is not one of the enum values", show(v, a, sizeof(a))) : 0;
}

static int check_string(struct vctx *c, const struct node *n, yajl_val v)
{
    const char *s = v->u.string;
    long long len, ms;
    char a[64], b[64];

    if (n->counts[C_MIN_LEN] >= 0 || n->counts[C_MAX_LEN] >= 0) {
        len = (long long)jschema_utf8_len(s);
        if (len < n->counts[C_MIN_LEN])
            return vfail(c, "string shorter than minLength %lld", n->counts[C_MIN_LEN]);
        if (n->counts[C_MAX_LEN] >= 0 && len > n->counts[C_MAX_LEN])
            return vfail(c, "string longer than maxLength %lld", n->counts[C_MAX_LEN]);
    }
    if (n->pattern && regexec(n->pattern, s, 0, NULL, 0) != 0)
        return vfail(c, "%s does not match pattern %s", show(v, a, sizeof(a)),
                     show(n->pattern_src, b, sizeof(b)));
    if (n->date_time && jschema_datetime_ms(s, &ms))
        return vfail(c, "%s is not an RFC 3339 date-time with zone", show(v, a, sizeof(a)));
    if (n->date && jschema_date_days(s, &ms))
        return vfail(c, "%s is not an RFC 3339 full-date (YYYY-MM-DD)", show(v, a, sizeof(a)));
    return 0;
}

static int check_number(struct vctx *c, const struct node *n, yajl_val v)
{
    static const char *const words[] = {"less than minimum", "greater than maximum",
                                        "not greater than exclusiveMinimum",
                                        "not less than exclusiveMaximum"};
    struct num x;
    char a[64];
    int i, cmp;

    if (!n->has_num)
        return 0;
    if (num_parse(v->u.number.r, &x))
        return vfail(c, "unreadable number %s", show(v, a, sizeof(a)));
    for (i = N_MIN; i <= N_XMAX; i++) {
        if (!(n->has_num & (1u << i)))
            continue;
        cmp = num_cmp(&x, &n->nums[i]);
        if ((i == N_MIN && cmp < 0) || (i == N_MAX && cmp > 0) || (i == N_XMIN && cmp <= 0) ||
            (i == N_XMAX && cmp >= 0))
            return vfail(c, "%s is %s %s", show(v, a, sizeof(a)), words[i], n->nums[i].raw);
    }
    if ((n->has_num & (1u << N_MULT)) && !num_multiple(&x, &n->nums[N_MULT], n->multiple))
        return vfail(c, "%s is not a multiple of %s", show(v, a, sizeof(a)), n->nums[N_MULT].raw);
    return 0;
}

static int check_member(struct vctx *c, const struct node *n, yajl_val v, size_t i)
{
    const char *key = v->u.object.keys[i];
    bool matched = false;
    size_t j;

    for (j = 0; n->props && j < n->props->u.object.len; j++) {
        if (strcmp(n->props->u.object.keys[j], key) != 0)
            continue;
        matched = true;
        if (validate_child(c, n->prop_nodes[j], v, i))
            return -1;
    }
    for (j = 0; j < n->n_pprop_re; j++) {
        if (regexec(&n->pprop_re[j], key, 0, NULL, 0) != 0)
            continue;
        matched = true;
        if (validate_child(c, n->pprop_nodes[j], v, i))
            return -1;
    }
    if (matched || !n->subs[S_ADDL])
        return 0;
    return validate_child(c, n->subs[S_ADDL]->boolean == 0 ? NULL : n->subs[S_ADDL], v, i);
}

static int check_object(struct vctx *c, const struct node *n, yajl_val v)
{
    char a[64];
    size_t i;

    for (i = 0; n->required && i < n->required->u.array.len; i++)
        if (!obj_get(v, n->required->u.array.values[i]->u.string))
            return vfail(c, "missing required property %s",
                         show(n->required->u.array.values[i], a, sizeof(a)));
    for (i = 0; i < v->u.object.len; i++)
        if (check_member(c, n, v, i))
            return -1;
    return 0;
}

static int check_array(struct vctx *c, const struct node *n, yajl_val v)
{
    const struct nlist *l = &n->lists[L_ITEMS];
    size_t len = v->u.array.len, i;

    if ((long long)len < n->counts[C_MIN_ITEMS])
        return vfail(c, "array has %zu items, fewer than minItems %lld", len,
                     n->counts[C_MIN_ITEMS]);
    if (n->counts[C_MAX_ITEMS] >= 0 && (long long)len > n->counts[C_MAX_ITEMS])
        return vfail(c, "array has %zu items, more than maxItems %lld", len,
                     n->counts[C_MAX_ITEMS]);
    for (i = 0; i < len && (l->v ? i < l->n : n->subs[S_ITEMS] != NULL); i++)
        if (validate_child(c, l->v ? l->v[i] : n->subs[S_ITEMS], v, i))
            return -1;
    return 0;
}

/* Runs 'n' on 'v' without reporting; 0 when it matches. */
static int probe(struct vctx *c, const struct node *n, yajl_val v)
{
    int r;

    c->quiet++;
    r = validate(c, n, v);
    c->quiet--;
    return r;
}

static int check_logic(struct vctx *c, const struct node *n, yajl_val v)
{
    const struct nlist *l;
    size_t i, hits = 0, first = 0;
    char a[64];

    for (i = 0, l = &n->lists[L_ALL]; i < l->n; i++)
        if (validate(c, l->v[i], v))
            return -1;
    for (i = 0, l = &n->lists[L_ANY]; i < l->n && probe(c, l->v[i], v) && !c->hard; i++)
        ;
    if (c->hard || (l->n && i == l->n))
        return c->hard ? -1 : vfail(c, "%s matches no schema in anyOf", show(v, a, sizeof(a)));
    for (i = 0, l = &n->lists[L_ONE]; i < l->n && hits < 2 && !c->hard; i++)
        if (probe(c, l->v[i], v) == 0 && hits++ == 0)
            first = i;
    if (c->hard || (l->n && hits != 1))
        return c->hard ? -1
               : hits  ? vfail(c, "%s matches more than one schema in oneOf (%zu and %zu)",
                               show(v, a, sizeof(a)), first, i - 1)
                       : vfail(c, "%s matches no schema in oneOf", show(v, a, sizeof(a)));
    if (n->subs[S_NOT] && (probe(c, n->subs[S_NOT], v) == 0 || c->hard))
        return c->hard ? -1
                       : vfail(c, "%s is not allowed (matches a \"not\" schema)",
                               show(v, a, sizeof(a)));
    if (n->subs[S_IF]) {
        const struct node *branch = probe(c, n->subs[S_IF], v) ? n->subs[S_ELSE] : n->subs[S_THEN];
        if (c->hard || (branch && validate(c, branch, v)))
            return -1;
    }
    return 0;
}

static int validate_node(struct vctx *c, const struct node *n, yajl_val v)
{
    if (n->ref)
        return validate(c, n->ref, v);
    if (n->boolean >= 0)
        return n->boolean ? 0 : vfail(c, "no value is allowed here (schema false)");
    if (check_type(c, n, v) || check_value(c, n, v))
        return -1;
    if ((v->type == yajl_t_string && check_string(c, n, v)) ||
        (v->type == yajl_t_number && check_number(c, n, v)) ||
        (v->type == yajl_t_object && check_object(c, n, v)) ||
        (v->type == yajl_t_array && check_array(c, n, v)))
        return -1;
    return check_logic(c, n, v);
}

static int validate(struct vctx *c, const struct node *n, yajl_val v)
{
    int r;

    if (c->hard)
        return -1;
    if (c->calls >= JS_MAX_CALLS)
        return too_deep(c, "schema or $ref chain", JS_MAX_CALLS);
    c->calls++;
    r = validate_node(c, n, v);
    c->calls--;
    return r;
}

int jschema_validate(const struct jschema_schema *s, yajl_val inst, char *err, size_t errlen)
{
    struct vctx c;

    memset(&c, 0, sizeof(c));
    c.err = err;
    c.errlen = errlen;
    if (errlen)
        err[0] = '\0';
    if (!inst)
        return vfail(&c, "no value");
    return validate(&c, s->root, inst);
}

int jschema_number_ll(yajl_val v, long long *out)
{
    struct num x;

    if (!YAJL_IS_NUMBER(v) || num_parse(v->u.number.r, &x))
        return -1;
    return num_to_ll(&x, out);
}
