/* libFuzzer target: route_trust and route_decide on any provenance. The
 * input is up to seven lines: the topic read, then x-original-topic,
 * -partition, -offset, -timestamp, x-first-failure-at, x-attempt (a missing
 * line is an absent header). Whatever the headers say, the attempt stays in
 * 0..steps, a retry goes to <source>.retry.1..steps of the topic read, due
 * no earlier than now, and anything else to <source>.dlq. */
#include "route.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long backoff[] = {1, 10, 60, 300};
    char buf[2048], *f[7] = {0}, src[256], want[300];
    size_t n = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;
    memcpy(buf, data, n);
    buf[n] = '\0';
    char *p = buf;
    for (int i = 0; i < 7 && p; i++) {
        f[i] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    if (!f[0] || strlen(f[0]) > 200)
        return 0;
    struct route_seen s = {.topic = f[0], .partition = 3, .offset = 9, .timestamp = 5,
                           .orig_topic = f[1], .orig_partition = f[2], .orig_offset = f[3],
                           .orig_timestamp = f[4], .first_failure_at = f[5], .attempt = f[6]};
    struct route_origin o;
    struct route_decision d;
    route_trust(&s, 4, 1000, &o);
    if (o.attempt < 0 || o.attempt > 4 || o.partition < 0 || o.offset < 0)
        abort();
    route_source_topic(f[0], src, sizeof(src));
    for (int e = 0; e < 2; e++) {
        route_decide(f[0], o.attempt, e ? ROUTE_ERR_TRANSIENT : ROUTE_ERR_POISON, backoff, 4, 1000,
                     &d);
        if (d.attempt != o.attempt + 1)
            abort();
        if (d.cls == ROUTE_TRANSIENT) {
            snprintf(want, sizeof(want), "%s.retry.%d", src, o.attempt + 1);
            if (!e || strcmp(d.dest, want) || d.not_before_ms < 1000)
                abort();
        } else {
            snprintf(want, sizeof(want), "%s.dlq", src);
            if (strcmp(d.dest, want) || d.not_before_ms != 0 ||
                d.cls != (e ? ROUTE_EXHAUSTED : ROUTE_POISON))
                abort();
        }
    }
    return 0;
}
