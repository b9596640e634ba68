/* out: how stockctl prints. Tables for people (aligned columns, streamed row
 * by row so a long listing needs no memory), JSON lines for scripts (one
 * object per line, built with yajl_gen), escaped previews of raw record
 * bytes, UTC times, and progress lines on stderr.
 *
 * The escaping, preview and JSON reformatting functions are pure. */
#ifndef STOCKFLOW_OUT_H
#define STOCKFLOW_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <yajl/yajl_gen.h>

/* ---- escaping --------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (1..4), 0 when p[0] starts none
 * (a stray byte, an overlong form, a surrogate, beyond U+10FFFF). */
size_t out_utf8_len(const unsigned char *p, size_t n);

/* Writes a one-line preview of data into dst (always NUL-terminated): the
 * first maxchars characters, "..." appended when there were more. \n, \r
 * and \t are shown as such, other C0 controls, DEL and bytes that are not
 * UTF-8 as \xNN, C1 controls as \u0080..\u009f; other characters are
 * copied. Stops early (with "...") when dst is full; OUT_PREVIEW_SIZE(n)
 * bytes always hold n characters. Returns the length written. */
#define OUT_PREVIEW_SIZE(n) (6 * (n) + 4)
size_t out_preview(char *dst, size_t dstlen, const void *data, size_t len, size_t maxchars);

/* The whole of s escaped the same way (no limit but dstlen). */
size_t out_escape(char *dst, size_t dstlen, const void *data, size_t len);

/* ---- tables ------------------------------------------------------------- */

struct out_col {
    const char *name;
    int width; /* a cell shorter than this is padded; a longer one pushes on */
};

/* Prints one row: each cell padded to its column's width (counted in
 * characters) and one space apart; the last cell unpadded. NULL cells print
 * as "-". Pass the names (cols[i].name) for the header row. */
void out_row(FILE *f, const struct out_col *cols, size_t ncols, const char *const *cells);

/* Prints the header row of cols. */
void out_header(FILE *f, const struct out_col *cols, size_t ncols);

/* ---- times -------------------------------------------------------------- */

/* Epoch milliseconds as "2026-11-27T10:00:00.123Z"; "-" when ms < 0. */
void out_time(int64_t ms, char *buf, size_t len);

int64_t out_now_ms(void);  /* CLOCK_REALTIME */
int64_t out_mono_ns(void); /* CLOCK_MONOTONIC */

/* ---- JSON --------------------------------------------------------------- */

/* A generator for one JSON line at a time (beautify 0) or a pretty document
 * (beautify 1, two-space indent). NULL when out of memory. Free with
 * yajl_gen_free. */
yajl_gen out_json_new(int beautify);

/* Map members: key then value. Strings that are not UTF-8 get U+FFFD for
 * each stray byte, so the output is always valid JSON. NULL v: null. */
void out_json_str(yajl_gen g, const char *key, const char *v);
void out_json_bytes(yajl_gen g, const char *key, const void *data, size_t len);
void out_json_int(yajl_gen g, const char *key, long long v);
void out_json_num(yajl_gen g, const char *key, double v); /* three decimals */
void out_json_bool(yajl_gen g, const char *key, int v);
/* Opens a nested map or array as member key (key NULL inside an array). */
void out_json_open(yajl_gen g, const char *key, int array);
void out_json_close(yajl_gen g, int array);

/* Writes what g holds plus a newline to f, then readies g for the next
 * object. Returns 0, or -1 when g holds no complete value. */
int out_json_line(yajl_gen g, FILE *f);

/* Pretty-prints data when it is one JSON value (valid UTF-8): *out gets a
 * NUL-terminated copy, two-space indented, numbers and strings unchanged in
 * value, which the caller frees. Returns 0, or -1 when data is not JSON. */
int out_json_pretty(const void *data, size_t len, char **out);

/* ---- progress on stderr ------------------------------------------------- */

struct out_progress {
    int64_t next_ns;
    int tty;     /* stderr is a terminal: one line rewritten in place */
    int printed; /* something is on the current line */
};

void out_progress_init(struct out_progress *p);

/* Prints a progress line when one is due (every second on a terminal,
 * every 5 s otherwise); the first one comes after 1 s. */
void out_progress(struct out_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Ends the progress line (a newline on a terminal when one was printed). */
void out_progress_done(struct out_progress *p);

#endif
