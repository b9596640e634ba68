/* stockctl: the operator's tool. One file per command group; each command
 * returns the process exit code (see --help: 0 ok, 1 failure, 2 usage). */
#ifndef STOCKFLOW_STOCKCTL_H
#define STOCKFLOW_STOCKCTL_H

#include "cfg.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

int cmd_migrate(const struct cfg *c, int argc, char **argv);
int cmd_lag(const struct cfg *c, int argc, char **argv);

#endif
