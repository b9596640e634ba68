/* stockctl: the operator's tool. One file per command group; each command
 * returns the process exit code (see --help: 0 ok, 1 failure or check
 * failed, 2 usage, 3 PostgreSQL or Kafka unreachable, 4 not found, 5 no Admin API,
 * 6 database not migrated). */
#ifndef STOCKFLOW_STOCKCTL_H
#define STOCKFLOW_STOCKCTL_H

#include "cfg.h"

enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,
    EXIT_USAGE = 2,
    EXIT_UNREACHABLE = 3,
    EXIT_NOTFOUND = 4,
    EXIT_NOADMIN = 5,      /* the broker has no Admin API (topics apply) */
    EXIT_NOT_MIGRATED = 6, /* the database has no stockflow schema: run stockctl migrate */
};

int cmd_migrate(const struct cfg *c, int argc, char **argv);
int cmd_lag(const struct cfg *c, int argc, char **argv);
int cmd_topics(const struct cfg *c, int argc, char **argv);
int cmd_dlq(const struct cfg *c, int argc, char **argv);     /* dlq.c, redrive.c */
int cmd_alerts(const struct cfg *c, int argc, char **argv);  /* alerts.c */
int cmd_replay(const struct cfg *c, int argc, char **argv);  /* replay.c */
int cmd_checksum(const struct cfg *c, int argc, char **argv); /* check.c */
int cmd_check(const struct cfg *c, int argc, char **argv);   /* check.c */
int cmd_stock(const struct cfg *c, int argc, char **argv);   /* inspect.c */
int cmd_order(const struct cfg *c, int argc, char **argv);   /* inspect.c */
int cmd_rebuild(const struct cfg *c, int argc, char **argv); /* rebuild.c */
int cmd_sku(const struct cfg *c, int argc, char **argv);     /* sku.c */
int cmd_deadstock(const struct cfg *c, int argc, char **argv); /* deadstock.c */
int cmd_promotion(const struct cfg *c, int argc, char **argv); /* promotion.c */
int cmd_dashboard(const struct cfg *c, int argc, char **argv); /* dashboard.c */

#endif
