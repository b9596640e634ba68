/* strbuf: a growable, NUL-terminated string buffer (git's strbuf.h is the
 * model), for text built piece by piece: PostgreSQL array literals (inv.c),
 * the Prometheus exposition (metrics.c). JSON is yajl_gen's, not this.
 *
 * Life cycle
 *   struct strbuf sb = STRBUF_INIT;   nothing allocated yet; sb.buf is ""
 *   strbuf_addf(&sb, "%d", 42);       grows as needed
 *   ... use sb.buf, sb.len ...        (check strbuf_failed first)
 *   strbuf_release(&sb);              frees; sb is STRBUF_INIT again
 *
 * Errors: an allocation that fails, or growth past STRBUF_MAX bytes, marks
 * the buffer failed; every later add does nothing, so a caller builds the
 * whole text and checks once (strbuf_failed) before using it. buf stays a
 * valid NUL-terminated string throughout (what fit before the failure).
 *
 * Not thread-safe: one strbuf per thread. */
#ifndef STOCKFLOW_STRBUF_H
#define STOCKFLOW_STRBUF_H

#include <stddef.h>

/* No buffer grows beyond this many bytes (NUL included): 64 MiB, the
 * memory bound of a whole worker. */
#define STRBUF_MAX ((size_t)64 << 20)

struct strbuf {
    char *buf;    /* NUL-terminated; strbuf_empty (shared, never written) until
                   * the first growth */
    size_t len;   /* bytes in buf, NUL excluded */
    size_t alloc; /* bytes allocated for buf, 0 while it is strbuf_empty */
    int failed;   /* an allocation failed or STRBUF_MAX was reached */
};

extern char strbuf_empty[];
#define STRBUF_INIT                                                                                \
    {                                                                                              \
        strbuf_empty, 0, 0, 0                                                                      \
    }

/* ---- life cycle ---------------------------------------------------------- */

/* Frees the buffer and makes sb STRBUF_INIT again. */
void strbuf_release(struct strbuf *sb);

/* Empties sb (len 0, failed cleared), keeping its allocation. */
void strbuf_reset(struct strbuf *sb);

/* Hands the text to the caller, who frees it; sb is STRBUF_INIT again.
 * Returns NULL (and frees) when sb failed; an empty buffer gives a
 * malloc'd "". *len (when not NULL) is the length. */
char *strbuf_detach(struct strbuf *sb, size_t *len);

/* ---- adding ----------------------------------------------------------------- */

/* Makes room for extra more bytes (and the NUL). Returns 0, or -1 and
 * marks sb failed. */
int strbuf_grow(struct strbuf *sb, size_t extra);

void strbuf_add(struct strbuf *sb, const void *data, size_t len);
void strbuf_addstr(struct strbuf *sb, const char *s);
void strbuf_addch(struct strbuf *sb, char c);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- state ---------------------------------------------------------------- */

/* 1 when an add was lost (out of memory, or STRBUF_MAX): do not use buf. */
static inline int strbuf_failed(const struct strbuf *sb)
{
    return sb->failed;
}

#endif
