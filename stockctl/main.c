/* stockctl: the operator's tool for stockflow (DESIGN §1). */
#include "log.h"
#include "stockctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(const struct cfg *c, int argc, char **argv);
    const char *help;
} commands[] = {
    {"migrate", cmd_migrate, "apply schemas/sql migrations, grant the workers' role (safe twice)"},
    {"lag", cmd_lag, "consumer lag per group and partition; --wait SECONDS until caught up"},
    {"topics", cmd_topics, "topics apply: create or fix the DESIGN topics (Admin API); --dry-run"},
    {"dlq", cmd_dlq, "dead letters: list TOPIC, show TOPIC P:O, redrive TOPIC"},
    {"alerts", cmd_alerts, "what went to inventory.alerts: --since T, --limit N, --json"},
    {"replay", cmd_replay, "reset a role's consumer group: --from-beginning | --from-time T"},
    {"checksum", cmd_checksum, "digest of stock_levels and order_status, to compare databases"},
    {"check", cmd_check, "verify DESIGN §5.1/§5.2; exit 1 naming the offending SKUs"},
    {"stock", cmd_stock, "stock SKU: current state and event history of one SKU"},
    {"order", cmd_order, "order ORDER_ID: state, lines and event history of one order"},
    {"sku", cmd_sku, "sku set SKU --safety-stock N ...: SKU settings (an event); sku show SKU"},
    {"promotion", cmd_promotion, "promotion start SKU --qty N [--for 7d]: promotion.allocated (an event)"},
    {"deadstock", cmd_deadstock, "deadstock radar: aged, slow, expiring SKUs by value at risk; --alert"},
    {"rebuild", cmd_rebuild, "rebuild --from-ledger: restore an empty database from inventory.ledger"},
    {"dashboard", cmd_dashboard, "dashboard [--listen 127.0.0.1:8080] [--token T]: the operations web page"},
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: stockctl COMMAND [ARGS]   (stockctl COMMAND --help or stockctl help COMMAND\n"
               "for details; stockctl --version)\n\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nConfiguration from the environment: KAFKA_BROKERS, DATABASE_URL, RDKAFKA_<NAME>\n"
               "(see DESIGN.md §1). Tables for people by default; --json (JSON lines) for\n"
               "scripts where a command lists things; progress of long commands on stderr.\n"
               "Exit codes:\n"
               "  0  ok\n"
               "  1  failure, or a check that failed (check, lag --wait, a refused redrive)\n"
               "  2  bad usage or configuration\n"
               "  3  PostgreSQL or Kafka unreachable\n"
               "  4  not found (topic, partition, offset, SKU, order)\n"
               "  5  the broker has no Admin API (topics apply against the development broker)\n"
               "  6  database not migrated (run `stockctl migrate`)\n");
}

static const char *env_get(const char *name)
{
    return getenv(name);
}

int main(int argc, char **argv)
{
    log_init("stockctl", LOG_LEVEL_WARN);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        (!strcmp(argv[1], "help") && argc == 2)) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("stockctl %s\n", STOCKFLOW_VERSION);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "help")) { /* stockctl help COMMAND: its --help */
        static char help_opt[] = "--help";
        static char *h[4];
        h[0] = argv[0];
        h[1] = argv[2];
        h[2] = help_opt;
        argv = h;
        argc = 3;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        struct cfg c;
        char err[768];
        if (cfg_load(&c, 0, env_get, err, sizeof(err))) {
            fprintf(stderr, "stockctl: %s\n", err);
            return EXIT_USAGE;
        }
        return commands[i].run(&c, argc - 1, argv + 1);
    }
    fprintf(stderr, "stockctl: unknown command \"%s\" (see stockctl --help)\n", argv[1]);
    return EXIT_USAGE;
}
