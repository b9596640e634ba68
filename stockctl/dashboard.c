/* stockctl dashboard [--listen ADDR:PORT] [--token T]: the operations web
 * page (DESIGN §9 "Dashboard"); see dashboard.h for how it is split. */
#include "dashboard.h"
#include "arg.h"
#include "dashboard_addr.h"
#include "emit.h"
#include "out.h"
#include "stockctl.h"
#include "stop.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f, "Usage: stockctl dashboard [--listen ADDR:PORT] [--token T]\n"
               "Serves the operations dashboard, one web page (no external assets, works\n"
               "offline) that updates itself every second: KPIs (oversold SKUs, held and\n"
               "earmarked units, deadstock value at risk, dead letters per DLQ topic, consumer\n"
               "lag per group), the SKUs in red (oversold or deadstock), yellow (low or hidden)\n"
               "and green (ok) with filter, sort and a sparkline of available, the active and\n"
               "blocked promotions, the latest alerts, and charts of the last hour (events\n"
               "applied/s, lag per group, held units, dead letters) from samples it keeps.\n"
               "Actions, each behind a confirmation, do what the matching command does: a\n"
               "clearance promotion for a deadstock SKU (stockctl promotion start), a redrive\n"
               "of a DLQ (stockctl dlq redrive: rate 100/s, one per DLQ at a time), new SKU\n"
               "thresholds (stockctl sku set). Reads DATABASE_URL and KAFKA_BROKERS; prints\n"
               "\"dashboard: http://ADDR:PORT/\" once it listens; Ctrl-C stops it.\n"
               "  --listen ADDR:PORT  an IP address (or localhost) and a port; default\n"
               "                      127.0.0.1:8080; port 0: any free port. An address\n"
               "                      that is not loopback needs --token\n"
               "  --token T           a bearer token: the page asks for it and sends it with\n"
               "                      every request (also $DASHBOARD_TOKEN)\n"
               "Exit codes: 0 stopped, 2 bad usage (a non-loopback --listen without --token),\n"
               "1 cannot listen.\n");
}

static void address(const struct sockaddr_storage *ss, int port, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    const void *a = ss->ss_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
    inet_ntop(ss->ss_family, a, ip, sizeof(ip));
    snprintf(out, len, ss->ss_family == AF_INET6 ? "http://[%s]:%d/" : "http://%s:%d/", ip, port);
}

/* Returns EXIT_OK, EXIT_USAGE (said why), or -1 after --help. */
static int parse(int argc, char **argv, const char **listen, const char **token)
{
    static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                         {"token", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    int opt;
    opterr = 0;
    optind = 0;
    while ((opt = getopt_long(argc, argv, ":l:t:h", opts, NULL)) != -1) {
        if (opt == 'l')
            *listen = optarg;
        else if (opt == 't')
            *token = optarg;
        else if (opt == 'h')
            return usage(stdout), -1;
        else
            return arg_bad_option("dashboard", opt, argv), EXIT_USAGE;
    }
    if (optind != argc) {
        fprintf(stderr, "stockctl dashboard: unexpected argument \"%s\"\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (*token && !**token)
        *token = NULL;
    return EXIT_OK;
}

static void run(struct dash *d)
{
    while (!stop_requested()) {
        int64_t next = out_mono_ns() / 1000000 + DASH_TICK_MS;
        dash_data_tick(d);
        while (!stop_requested() && out_mono_ns() / 1000000 < next)
            nanosleep(&(struct timespec){.tv_nsec = 50 * 1000000}, NULL);
    }
}

int cmd_dashboard(const struct cfg *c, int argc, char **argv)
{
    const char *listen = "127.0.0.1:8080", *token = getenv("DASHBOARD_TOKEN");
    struct sockaddr_storage ss = {0};
    char err[768], where[128], csrf[64];
    int rc = parse(argc, argv, &listen, &token), port = 0;
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (dash_addr_parse(listen, &ss, err, sizeof(err)))
        return fprintf(stderr, "stockctl dashboard: %s\n", err), EXIT_USAGE;
    if (!dash_addr_is_loopback(&ss) && !token)
        return fprintf(stderr,
                       "stockctl dashboard: --listen %s is not a loopback address: "
                       "refused without --token T (a bearer token the page asks for)\n",
                       listen),
               EXIT_USAGE;
    struct dash d = {.cfg = c, .token = token, .loopback = dash_addr_is_loopback(&ss)};
    pthread_mutex_init(&d.mu, NULL);
    if (emit_fresh_id("csrf", csrf, sizeof(csrf), err, sizeof(err)))
        return fprintf(stderr, "stockctl dashboard: %s\n", err), EXIT_FAIL;
    snprintf(d.csrf, sizeof(d.csrf), "%s", csrf + 5);
    stop_catch();
    rc = dash_data_start(&d, err, sizeof(err));
    if (rc == EXIT_OK)
        dash_data_tick(&d); /* the first snapshot before the first request */
    struct MHD_Daemon *m = rc ? NULL : dash_http_start(&d, &ss, &port, err, sizeof(err));
    if (!m) {
        fprintf(stderr, "stockctl dashboard: --listen %s: %s\n", listen, err);
        stop_set(); /* ends the Kafka thread */
    } else {
        address(&ss, port, where, sizeof(where));
        printf("dashboard: %s%s\n", where, token ? " (bearer token required)" : "");
        fflush(stdout);
        run(&d);
        MHD_stop_daemon(m);
    }
    dash_data_stop(&d);
    pthread_mutex_destroy(&d.mu);
    return m ? EXIT_OK : EXIT_FAIL;
}
