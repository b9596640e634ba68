/* ctl: the devbroker's control socket, a UNIX stream socket that speaks a
 * line protocol (one command per line, one reply line per command).
 *
 * Single-threaded: the owner calls ctl_step() from its main loop. At most
 * CTL_MAX_CLIENTS connections are served at once; further clients wait in
 * the listen backlog. A line longer than CTL_LINE_MAX bytes is answered
 * with one error and discarded up to its newline. A client that does not
 * read its replies (socket buffer full) is disconnected.
 */
#ifndef STOCKFLOW_DEVBROKER_CTL_H
#define STOCKFLOW_DEVBROKER_CTL_H

#include <stddef.h>

#define CTL_MAX_CLIENTS 8
#define CTL_LINE_MAX 512 /* bytes per command line, newline excluded */

struct ctl;

/* Runs one command line (NUL-terminated, newline stripped) and writes a
 * one-line reply without newline into 'reply'. */
typedef void ctl_handler_fn(void *opaque, const char *line, char *reply, size_t replylen);

/* Creates the socket at 'path' and listens. A stale socket file (nobody
 * listening) is replaced; a live one or a non-socket file is an error.
 * Returns 0, or a negative errno with one line in 'err'. */
int ctl_new(struct ctl **out, const char *path, ctl_handler_fn *fn, void *opaque, char *err,
            size_t errlen);

/* Waits up to 'timeout_ms' for socket activity and serves it. Returns 0,
 * or -1 when poll() was interrupted by a signal. */
int ctl_step(struct ctl *c, int timeout_ms);

/* Closes every connection, removes the socket file, frees 'c'.
 * ctl_free(NULL) does nothing. */
void ctl_free(struct ctl *c);

#endif
