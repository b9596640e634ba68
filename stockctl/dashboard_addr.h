/* dashboard_addr: the dashboard's address rules, pure (no I/O, no DNS),
 * so the unit tests check them:
 * parsing --listen, what counts as loopback, the Host header a loopback
 * listener accepts, and comparing secrets. */
#ifndef STOCKFLOW_DASHBOARD_ADDR_H
#define STOCKFLOW_DASHBOARD_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* "127.0.0.1:8080", "[::1]:8080", "localhost:8080" (127.0.0.1) into *ss:
 * an IP address (no DNS) and a port 0..65535. Returns 0, or -1 with one
 * line in err. */
int dash_addr_parse(const char *s, struct sockaddr_storage *ss, char *err, size_t errlen);

/* 127.0.0.0/8 or ::1. */
int dash_addr_is_loopback(const struct sockaddr_storage *ss);

/* A Host header naming this machine's loopback: "localhost", an IPv4
 * address in 127.0.0.0/8 or "[::1]", each with an optional ":port".
 * Anything else (NULL, "127.0.0.1.evil.example", a name) is not. */
int dash_host_is_loopback(const char *host);

/* a equals b, in a time that does not depend on where they differ. */
int dash_secret_eq(const char *a, const char *b);

#endif
