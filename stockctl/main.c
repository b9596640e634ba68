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
    {"migrate", cmd_migrate, "apply schemas/sql migrations (safe twice and concurrently)"},
    {"lag", cmd_lag, "consumer lag per group and partition; --wait SECONDS until caught up"},
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: stockctl COMMAND [ARGS]   (stockctl COMMAND --help for details)\n\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nConfiguration from the environment: KAFKA_BROKERS, DATABASE_URL, RDKAFKA_<NAME>\n"
               "(see DESIGN.md §1). Exit codes: 0 ok, 1 failure, 2 bad usage or configuration,\n"
               "3 PostgreSQL or Kafka unreachable.\n");
}

static const char *env_get(const char *name)
{
    return getenv(name);
}

int main(int argc, char **argv)
{
    log_init("stockctl", LOG_WARN);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
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
    fprintf(stderr, "stockctl: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
