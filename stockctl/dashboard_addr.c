/* dashboard_addr: see dashboard_addr.h. */
#include "dashboard_addr.h"
#include "arg.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

int dash_addr_parse(const char *s, struct sockaddr_storage *ss, char *err, size_t errlen)
{
    char host[256], serv[8];
    int v6 = s[0] == '[';
    const char *colon = v6 ? strstr(s, "]:") : strrchr(s, ':');
    size_t hl = colon ? (size_t)(colon - s) - (size_t)v6 : 0;
    long port;
    if (!colon || hl == 0 || hl >= sizeof(host) ||
        arg_long(colon + 1 + v6, 0, 65535, &port, NULL, 0)) {
        snprintf(err, errlen, "--listen \"%s\": expected ADDR:PORT such as 127.0.0.1:8080", s);
        return -1;
    }
    memcpy(host, s + v6, hl);
    host[hl] = '\0';
    /* numeric: a name would need DNS, and a listener wants an address */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *ai = NULL;
    snprintf(serv, sizeof(serv), "%ld", port);
    if (!strcmp(host, "localhost"))
        strcpy(host, "127.0.0.1");
    if (getaddrinfo(host, serv, &hints, &ai) || !ai) {
        snprintf(err, errlen, "--listen \"%s\": %s is not an IP address (nor localhost)", s, host);
        return -1;
    }
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return 0;
}

int dash_addr_is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    return ss->ss_family == AF_INET6 &&
           IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* ":1234" or "": the rest of a Host header after its name. */
static int port_or_end(const char *p)
{
    return *p == '\0' || (p[0] == ':' && p[1] && strspn(p + 1, "0123456789") == strlen(p + 1));
}

int dash_host_is_loopback(const char *host)
{
    char name[64];
    struct in_addr a;
    if (!host)
        return 0;
    if (!strncmp(host, "[::1]", 5))
        return port_or_end(host + 5);
    size_t n = strcspn(host, ":");
    if (n == 0 || n >= sizeof(name) || !port_or_end(host + n))
        return 0;
    memcpy(name, host, n);
    name[n] = '\0';
    if (!strcmp(name, "localhost"))
        return 1;
    return inet_pton(AF_INET, name, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

int dash_secret_eq(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char diff = na != nb;
    for (size_t i = 0; i < na; i++)
        diff |= (unsigned char)(a[i] ^ b[nb ? i % nb : 0]);
    return diff == 0;
}
