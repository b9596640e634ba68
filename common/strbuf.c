#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char strbuf_empty[1];

void strbuf_release(struct strbuf *sb)
{
    if (sb->alloc)
        free(sb->buf);
    *sb = (struct strbuf)STRBUF_INIT;
}

void strbuf_reset(struct strbuf *sb)
{
    sb->len = 0;
    sb->failed = 0;
    if (sb->alloc) /* strbuf_empty is shared: never written */
        sb->buf[0] = '\0';
}

char *strbuf_detach(struct strbuf *sb, size_t *len)
{
    char *out = sb->alloc ? sb->buf : strdup("");
    size_t n = sb->len;
    if (sb->failed) {
        free(out);
        out = NULL;
    }
    *sb = (struct strbuf)STRBUF_INIT;
    if (len)
        *len = out ? n : 0;
    return out;
}

int strbuf_grow(struct strbuf *sb, size_t extra)
{
    if (sb->failed)
        return -1;
    if (extra >= STRBUF_MAX - sb->len) {
        sb->failed = 1;
        return -1;
    }
    size_t need = sb->len + extra + 1;
    if (need <= sb->alloc)
        return 0;
    size_t alloc = sb->alloc ? sb->alloc : 64;
    while (alloc < need)
        alloc = alloc > STRBUF_MAX / 2 ? STRBUF_MAX : alloc * 2;
    char *p = realloc(sb->alloc ? sb->buf : NULL, alloc);
    if (!p) {
        sb->failed = 1;
        return -1;
    }
    if (!sb->alloc)
        p[0] = '\0';
    sb->buf = p;
    sb->alloc = alloc;
    return 0;
}

void strbuf_add(struct strbuf *sb, const void *data, size_t len)
{
    if (strbuf_grow(sb, len))
        return;
    memcpy(sb->buf + sb->len, data, len);
    sb->len += len;
    sb->buf[sb->len] = '\0';
}

void strbuf_addstr(struct strbuf *sb, const char *s)
{
    strbuf_add(sb, s, strlen(s));
}

void strbuf_addch(struct strbuf *sb, char c)
{
    strbuf_add(sb, &c, 1);
}

void strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    if (sb->failed)
        return;
    va_start(ap, fmt);
    int k = vsnprintf(sb->buf + sb->len, sb->alloc ? sb->alloc - sb->len : 0, fmt, ap);
    va_end(ap);
    if (k < 0) {
        sb->failed = 1;
        return;
    }
    if (sb->alloc && (size_t)k < sb->alloc - sb->len) {
        sb->len += (size_t)k;
        return;
    }
    if (strbuf_grow(sb, (size_t)k))
        return;
    va_start(ap, fmt);
    vsnprintf(sb->buf + sb->len, sb->alloc - sb->len, fmt, ap);
    va_end(ap);
    sb->len += (size_t)k;
}
