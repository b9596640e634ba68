#include "out.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_parse.h>

/* ---- escaping --------------------------------------------------------- */

size_t out_utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    unsigned cp = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* The escaped form of the character at p (consumes *used bytes). */
static size_t escape_one(const unsigned char *p, size_t n, char out[8], size_t *used)
{
    size_t u = out_utf8_len(p, n);
    *used = u ? u : 1;
    if (p[0] == '\n' || p[0] == '\r' || p[0] == '\t') {
        out[0] = '\\';
        out[1] = p[0] == '\n' ? 'n' : p[0] == '\r' ? 'r' : 't';
        return 2;
    }
    if (u == 0 || p[0] < 0x20 || p[0] == 0x7f)
        return (size_t)snprintf(out, 8, "\\x%02X", p[0]);
    if (u == 2 && p[0] == 0xc2 && p[1] < 0xa0) /* C1 control */
        return (size_t)snprintf(out, 8, "\\u%04x", (unsigned)p[1]);
    memcpy(out, p, u);
    return u;
}

static size_t escape_into(char *dst, size_t dstlen, const void *data, size_t len, size_t maxchars)
{
    const unsigned char *p = data;
    size_t i = 0, o = 0, chars = 0;
    if (dstlen == 0)
        return 0;
    while (i < len) {
        char e[8];
        size_t used, el = escape_one(p + i, len - i, e, &used);
        if (chars == maxchars || o + el + 4 > dstlen) {
            size_t room = dstlen - 1 - o;
            memcpy(dst + o, "...", room < 3 ? room : 3);
            o += room < 3 ? room : 3;
            break;
        }
        memcpy(dst + o, e, el);
        o += el;
        i += used;
        chars++;
    }
    dst[o] = '\0';
    return o;
}

size_t out_preview(char *dst, size_t dstlen, const void *data, size_t len, size_t maxchars)
{
    return escape_into(dst, dstlen, data, len, maxchars);
}

size_t out_escape(char *dst, size_t dstlen, const void *data, size_t len)
{
    return escape_into(dst, dstlen, data, len, (size_t)-1);
}

/* ---- tables ------------------------------------------------------------- */

static size_t display_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

void out_row(FILE *f, const struct out_col *cols, size_t ncols, const char *const *cells)
{
    for (size_t i = 0; i < ncols; i++) {
        const char *c = cells[i] ? cells[i] : "-";
        fputs(c, f);
        if (i + 1 == ncols)
            break;
        size_t w = display_width(c);
        for (size_t k = w; k < (size_t)cols[i].width; k++)
            fputc(' ', f);
        fputc(' ', f);
    }
    fputc('\n', f);
}

void out_header(FILE *f, const struct out_col *cols, size_t ncols)
{
    const char *names[32];
    for (size_t i = 0; i < ncols && i < 32; i++)
        names[i] = cols[i].name;
    out_row(f, cols, ncols < 32 ? ncols : 32, names);
}

/* ---- times -------------------------------------------------------------- */

void out_time(int64_t ms, char *buf, size_t len)
{
    if (ms < 0) {
        snprintf(buf, len, "-");
        return;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

int64_t out_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t out_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- JSON --------------------------------------------------------------- */

yajl_gen out_json_new(int beautify)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    if (g && beautify) {
        yajl_gen_config(g, yajl_gen_beautify, 1);
        yajl_gen_config(g, yajl_gen_indent_string, "  ");
    }
    return g;
}

static void gen_bytes(yajl_gen g, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t i = 0, o = 0;
    while (i < len) {
        size_t u = out_utf8_len(p + i, len - i);
        if (!u)
            break;
        i += u;
    }
    if (i == len) {
        yajl_gen_string(g, p, len);
        return;
    }
    unsigned char *tmp = malloc(len * 3 + 1);
    if (!tmp) {
        yajl_gen_null(g);
        return;
    }
    for (i = 0; i < len;) {
        size_t u = out_utf8_len(p + i, len - i);
        if (u) {
            memcpy(tmp + o, p + i, u);
            o += u, i += u;
        } else {
            memcpy(tmp + o, "\xef\xbf\xbd", 3); /* U+FFFD */
            o += 3, i++;
        }
    }
    yajl_gen_string(g, tmp, o);
    free(tmp);
}

static void gen_key(yajl_gen g, const char *key)
{
    if (key)
        yajl_gen_string(g, (const unsigned char *)key, strlen(key));
}

void out_json_str(yajl_gen g, const char *key, const char *v)
{
    gen_key(g, key);
    if (v)
        gen_bytes(g, v, strlen(v));
    else
        yajl_gen_null(g);
}

void out_json_bytes(yajl_gen g, const char *key, const void *data, size_t len)
{
    gen_key(g, key);
    if (data)
        gen_bytes(g, data, len);
    else
        yajl_gen_null(g);
}

void out_json_int(yajl_gen g, const char *key, long long v)
{
    gen_key(g, key);
    yajl_gen_integer(g, v);
}

void out_json_num(yajl_gen g, const char *key, double v)
{
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%.3f", v);
    gen_key(g, key);
    yajl_gen_number(g, buf, (size_t)n);
}

void out_json_bool(yajl_gen g, const char *key, int v)
{
    gen_key(g, key);
    yajl_gen_bool(g, v);
}

void out_json_open(yajl_gen g, const char *key, int array)
{
    gen_key(g, key);
    if (array)
        yajl_gen_array_open(g);
    else
        yajl_gen_map_open(g);
}

void out_json_close(yajl_gen g, int array)
{
    if (array)
        yajl_gen_array_close(g);
    else
        yajl_gen_map_close(g);
}

int out_json_line(yajl_gen g, FILE *f)
{
    const unsigned char *buf;
    size_t len;
    if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok || len == 0)
        return -1;
    while (len > 0 && buf[len - 1] == '\n')
        len--;
    fwrite(buf, 1, len, f);
    fputc('\n', f);
    yajl_gen_clear(g);
    yajl_gen_reset(g, NULL);
    return 0;
}

/* The reformatter: every parse event straight into the generator. */
static int re_null(void *g)
{
    return yajl_gen_null(g) == yajl_gen_status_ok;
}
static int re_bool(void *g, int b)
{
    return yajl_gen_bool(g, b) == yajl_gen_status_ok;
}
static int re_number(void *g, const char *s, size_t l)
{
    return yajl_gen_number(g, s, l) == yajl_gen_status_ok;
}
static int re_string(void *g, const unsigned char *s, size_t l)
{
    return yajl_gen_string(g, s, l) == yajl_gen_status_ok;
}
static int re_map_open(void *g)
{
    return yajl_gen_map_open(g) == yajl_gen_status_ok;
}
static int re_map_close(void *g)
{
    return yajl_gen_map_close(g) == yajl_gen_status_ok;
}
static int re_array_open(void *g)
{
    return yajl_gen_array_open(g) == yajl_gen_status_ok;
}
static int re_array_close(void *g)
{
    return yajl_gen_array_close(g) == yajl_gen_status_ok;
}

static const yajl_callbacks reformat = {re_null,      re_bool,       NULL,          NULL,
                                        re_number,    re_string,     re_map_open,   re_string,
                                        re_map_close, re_array_open, re_array_close};

int out_json_pretty(const void *data, size_t len, char **out)
{
    int rc = -1;
    yajl_gen g = out_json_new(1);
    yajl_handle h = g ? yajl_alloc(&reformat, NULL, g) : NULL;
    const unsigned char *buf;
    size_t blen;
    if (!h)
        goto done;
    if (yajl_parse(h, data, len) != yajl_status_ok || yajl_complete_parse(h) != yajl_status_ok)
        goto done;
    if (yajl_gen_get_buf(g, &buf, &blen) != yajl_gen_status_ok || blen == 0)
        goto done;
    while (blen > 0 && buf[blen - 1] == '\n')
        blen--;
    *out = malloc(blen + 1);
    if (!*out)
        goto done;
    memcpy(*out, buf, blen);
    (*out)[blen] = '\0';
    rc = 0;
done:
    if (h)
        yajl_free(h);
    if (g)
        yajl_gen_free(g);
    return rc;
}

/* ---- progress on stderr ------------------------------------------------- */

void out_progress_init(struct out_progress *p)
{
    p->tty = isatty(STDERR_FILENO);
    p->next_ns = out_mono_ns() + 1000000000LL;
    p->printed = 0;
}

void out_progress(struct out_progress *p, const char *fmt, ...)
{
    int64_t now = out_mono_ns();
    if (now < p->next_ns)
        return;
    p->next_ns = now + (p->tty ? 1000000000LL : 5000000000LL);
    va_list ap;
    va_start(ap, fmt);
    if (p->tty)
        fputs("\r\033[K", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (!p->tty)
        fputc('\n', stderr);
    fflush(stderr);
    p->printed = 1;
}

void out_progress_done(struct out_progress *p)
{
    if (p->tty && p->printed)
        fputs("\r\033[K", stderr);
    p->printed = 0;
}
