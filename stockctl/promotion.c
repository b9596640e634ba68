/* stockctl promotion start SKU --qty N [--ends-at T | --for D]: produces
 * one promotion.allocated event (DESIGN §9) to inventory.promotions, key
 * the promo_id, checked against the embedded schema first, and prints what
 * it sent. The stock-worker applies it: the units are earmarked, or the
 * promotion is blocked whole when they are not available. The dashboard's
 * "clearance" action calls promotion_start too. */
#include "arg.h"
#include "emit.h"
#include "out.h"
#include "stockctl.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define PROMO_TOPIC "inventory.promotions"
#define DEFAULT_FOR_MS (7LL * 86400 * 1000)

static void usage(FILE *f)
{
    fprintf(f, "Usage: stockctl promotion start SKU --qty N [--ends-at T | --for D]\n"
               "                                [--promo-id ID] [--json]\n"
               "Promotions (DESIGN §9). start produces one promotion.allocated event to\n"
               "inventory.promotions (key: the promo_id) with a fresh event_id and occurred_at\n"
               "now, waits for the broker's acknowledgement and prints the event and where it\n"
               "went (--json: one line {topic, partition, offset, event}). The stock-worker\n"
               "earmarks N units of SKU for the promotion until it ends, or blocks it whole\n"
               "(promotions view: state blocked, a promotion_conflict alert) when fewer are\n"
               "available. The dashboard's clearance action produces the same event.\n"
               "  --qty N         units to earmark (1..1000000000)\n"
               "  --ends-at T     when the unsold earmark returns: 2026-12-24T00:00:00Z, epoch ms\n"
               "  --for D         or that long from now: 12h, 7d (default 7d)\n"
               "  --promo-id ID   default: promo-<random>\n"
               "Exit codes: 0 ok, 2 bad usage, 3 Kafka unreachable (not acknowledged), 4 no\n"
               "inventory.promotions topic.\n");
}

/* The event's JSON text into ev. */
static int build_event(const char *promo_id, const char *sku, long qty, int64_t ends_at_ms,
                       char *ev, char *err, size_t errlen)
{
    char id[64], at[40], ends[40];
    if (emit_fresh_id("stockctl-promotion-start", id, sizeof(id), err, errlen))
        return EXIT_FAIL;
    out_time(out_now_ms(), at, sizeof(at));
    out_time(ends_at_ms, ends, sizeof(ends));
    yajl_gen g = out_json_new(0);
    if (!g)
        return snprintf(err, errlen, "out of memory"), EXIT_FAIL;
    out_json_open(g, NULL, 0);
    out_json_str(g, "event_id", id);
    out_json_str(g, "type", "promotion.allocated");
    out_json_str(g, "occurred_at", at);
    out_json_str(g, "promo_id", promo_id);
    out_json_str(g, "sku", sku);
    out_json_int(g, "qty", qty);
    out_json_str(g, "ends_at", ends);
    out_json_close(g, 0);
    int rc = emit_text(g, ev, err, errlen);
    yajl_gen_free(g);
    return rc;
}

int promotion_start(const struct cfg *c, const char *promo_id, const char *sku, long qty,
                    int64_t ends_at_ms, char *ev, struct emit_ack *ack, char *err, size_t errlen)
{
    char fresh[64];
    if (!promo_id || !*promo_id) {
        if (emit_fresh_id("promo", fresh, sizeof(fresh), err, errlen))
            return EXIT_FAIL;
        promo_id = fresh;
    }
    if (ends_at_ms <= out_now_ms()) {
        snprintf(err, errlen, "ends_at is not in the future");
        return EXIT_USAGE;
    }
    int rc = build_event(promo_id, sku, qty, ends_at_ms, ev, err, errlen);
    return rc ? rc : emit_send(c, PROMO_TOPIC, promo_id, ev, ack, err, errlen);
}

struct start_opts {
    const char *promo_id;
    long qty;
    int64_t ends_at_ms;
    int json;
};

/* EXIT_OK, EXIT_USAGE (said why), or -1 after --help. */
static int start_opt(struct start_opts *o, int opt, char **argv)
{
    char err[256];
    int64_t back;
    if (opt == 'q' && arg_long(optarg, 1, 1000000000L, &o->qty, err, sizeof(err)))
        return fprintf(stderr, "stockctl promotion start: --qty %s\n", err), EXIT_USAGE;
    if (opt == 'e' && arg_time_ms(optarg, out_now_ms(), &o->ends_at_ms, err, sizeof(err)))
        return fprintf(stderr, "stockctl promotion start: --ends-at %s\n", err), EXIT_USAGE;
    if (opt == 'f' && (arg_time_ms(optarg, 0, &back, err, sizeof(err)) || back >= 0))
        return fprintf(stderr,
                       "stockctl promotion start: --for \"%s\": expected a duration "
                       "such as 12h or 7d\n",
                       optarg),
               EXIT_USAGE;
    if (opt == 'f')
        o->ends_at_ms = out_now_ms() - back; /* "7d" is 7 days before 0 */
    else if (opt == 'p')
        o->promo_id = optarg;
    else if (opt == 'j')
        o->json = 1;
    else if (opt == 'h')
        return usage(stdout), -1;
    else if (opt != 'q' && opt != 'e')
        return arg_bad_option("promotion start", opt, argv), EXIT_USAGE;
    return EXIT_OK;
}

static int start(const struct cfg *c, int argc, char **argv)
{
    static const struct option opts[] = {{"qty", required_argument, NULL, 'q'},
                                         {"ends-at", required_argument, NULL, 'e'},
                                         {"for", required_argument, NULL, 'f'},
                                         {"promo-id", required_argument, NULL, 'p'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    struct start_opts o = {.ends_at_ms = out_now_ms() + DEFAULT_FOR_MS};
    int opt, rc;
    opterr = 0;
    optind = 0;
    while ((opt = getopt_long(argc, argv, ":q:e:f:p:jh", opts, NULL)) != -1)
        if ((rc = start_opt(&o, opt, argv)) != EXIT_OK)
            return rc < 0 ? EXIT_OK : rc;
    if (argc - optind != 1 || o.qty == 0) {
        fprintf(stderr, "stockctl promotion start: expected one SKU and --qty N (see stockctl "
                        "promotion --help)\n");
        return EXIT_USAGE;
    }
    char ev[EMIT_EVENT_MAX], err[768];
    struct emit_ack ack;
    rc = promotion_start(c, o.promo_id, argv[optind], o.qty, o.ends_at_ms, ev, &ack, err,
                         sizeof(err));
    if (rc)
        return fprintf(stderr, "stockctl promotion start: %s\n", err), rc;
    if (o.json)
        printf("{\"topic\":\"%s\",\"partition\":%d,\"offset\":%lld,\"event\":%s}\n", PROMO_TOPIC,
               (int)ack.partition, (long long)ack.offset, ev);
    else
        printf("sent to %s [%d] at offset %lld:\n%s\n", PROMO_TOPIC, (int)ack.partition,
               (long long)ack.offset, ev);
    return EXIT_OK;
}

int cmd_promotion(const struct cfg *c, int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "stockctl promotion: expected start (see stockctl promotion --help)\n");
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return usage(stdout), EXIT_OK;
    if (!strcmp(argv[1], "start"))
        return start(c, argc - 1, argv + 1);
    fprintf(stderr, "stockctl promotion: unknown subcommand \"%s\": expected start\n", argv[1]);
    return EXIT_USAGE;
}
