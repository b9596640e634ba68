/* ctl: control socket server. See ctl.h. */
#include "ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CTL_REPLY_MAX 1024

struct client {
    int fd;      /* -1: slot free */
    int discard; /* inside an over-long line: drop bytes up to '\n' */
    size_t len;
    char buf[CTL_LINE_MAX + 1];
};

struct ctl {
    int lfd;
    char *path;
    ctl_handler_fn *fn;
    void *opaque;
    struct client cl[CTL_MAX_CLIENTS];
};

static int fail(char *err, size_t errlen, int e, const char *what, const char *path)
{
    snprintf(err, errlen, "control socket %s: %s: %s", path, what, strerror(e));
    return -e;
}

static int make_addr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path))
        return -1;
    strcpy(sa->sun_path, path);
    return 0;
}

/* Removes a stale socket file; refuses a live socket or another file. */
static int clear_path(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    struct stat st;
    int fd, live;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : fail(err, errlen, errno, "stat", path);
    if (!S_ISSOCK(st.st_mode))
        return fail(err, errlen, EEXIST, "exists and is not a socket", path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(err, errlen, errno, "socket", path);
    make_addr(&sa, path);
    live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    if (live)
        return fail(err, errlen, EADDRINUSE, "another process is listening", path);
    if (unlink(path) < 0)
        return fail(err, errlen, errno, "unlink stale socket", path);
    return 0;
}

static int listen_on(const char *path, int *lfd, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    int fd, rc;

    if (make_addr(&sa, path) < 0)
        return fail(err, errlen, ENAMETOOLONG, "path", path);
    rc = clear_path(path, err, errlen);
    if (rc < 0)
        return rc;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return fail(err, errlen, errno, "socket", path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
        rc = fail(err, errlen, errno, "bind/listen", path);
        close(fd);
        return rc;
    }
    *lfd = fd;
    return 0;
}

int ctl_new(struct ctl **out, const char *path, ctl_handler_fn *fn, void *opaque, char *err,
            size_t errlen)
{
    struct ctl *c = calloc(1, sizeof(*c));
    int rc;

    if (!c || !(c->path = strdup(path))) {
        free(c);
        return fail(err, errlen, ENOMEM, "alloc", path);
    }
    rc = listen_on(path, &c->lfd, err, errlen);
    if (rc < 0) {
        free(c->path);
        free(c);
        return rc;
    }
    c->fn = fn;
    c->opaque = opaque;
    for (int i = 0; i < CTL_MAX_CLIENTS; i++)
        c->cl[i].fd = -1;
    *out = c;
    return 0;
}

static void client_close(struct client *cl)
{
    close(cl->fd);
    cl->fd = -1;
    cl->len = 0;
    cl->discard = 0;
}

/* Sends one reply line; closes the client when it cannot take it. */
static int client_reply(struct client *cl, char *reply)
{
    size_t n = strlen(reply);

    reply[n++] = '\n';
    if (send(cl->fd, reply, n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)n) {
        client_close(cl);
        return -1;
    }
    return 0;
}

static int client_line(struct ctl *c, struct client *cl)
{
    char reply[CTL_REPLY_MAX + 1]; /* + room for the '\n' */

    if (cl->len > 0 && cl->buf[cl->len - 1] == '\r')
        cl->len--;
    cl->buf[cl->len] = '\0';
    cl->len = 0;
    reply[0] = '\0';
    c->fn(c->opaque, cl->buf, reply, CTL_REPLY_MAX);
    return client_reply(cl, reply);
}

/* Feeds one byte; returns -1 once the client was closed. */
static int client_byte(struct ctl *c, struct client *cl, char ch)
{
    char reply[64];

    if (ch == '\n') {
        if (!cl->discard)
            return client_line(c, cl);
        cl->discard = 0;
        return 0;
    }
    if (cl->discard)
        return 0;
    if (cl->len < CTL_LINE_MAX) {
        cl->buf[cl->len++] = ch;
        return 0;
    }
    cl->discard = 1;
    cl->len = 0;
    snprintf(reply, sizeof(reply) - 1, "error: line too long (max %d bytes)", CTL_LINE_MAX);
    return client_reply(cl, reply);
}

static void client_read(struct ctl *c, struct client *cl)
{
    char in[1024];
    ssize_t n = recv(cl->fd, in, sizeof(in), 0);

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        /* EOF: a last line without '\n' still gets its reply. */
        if (n == 0 && cl->len > 0 && !cl->discard && client_line(c, cl) < 0)
            return;
        client_close(cl);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (client_byte(c, cl, in[i]) < 0)
            return;
    }
}

static void accept_one(struct ctl *c)
{
    int fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd < 0)
        return; /* EAGAIN, or the client already left */
    for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
        if (c->cl[i].fd < 0) {
            c->cl[i].fd = fd;
            return;
        }
    }
    close(fd); /* not reached: the listen fd is polled only with a free slot */
}

int ctl_step(struct ctl *c, int timeout_ms)
{
    struct pollfd p[CTL_MAX_CLIENTS + 1];
    int have_free = 0;

    for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
        p[i + 1].fd = c->cl[i].fd;
        p[i + 1].events = POLLIN;
        p[i + 1].revents = 0;
        have_free |= c->cl[i].fd < 0;
    }
    p[0].fd = have_free ? c->lfd : -1;
    p[0].events = POLLIN;
    p[0].revents = 0;
    if (poll(p, CTL_MAX_CLIENTS + 1, timeout_ms) < 0)
        return errno == EINTR ? -1 : 0;
    for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
        if (p[i + 1].fd >= 0 && p[i + 1].revents)
            client_read(c, &c->cl[i]);
    }
    if (p[0].revents & POLLIN)
        accept_one(c);
    return 0;
}

void ctl_free(struct ctl *c)
{
    if (!c)
        return;
    for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
        if (c->cl[i].fd >= 0)
            client_close(&c->cl[i]);
    }
    close(c->lfd);
    unlink(c->path);
    free(c->path);
    free(c);
}
