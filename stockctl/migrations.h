/* migrations: the numbered SQL files of schemas/sql, embedded at build time
 * in file-name order, so stockctl needs no files at run time. */
#ifndef STOCKFLOW_MIGRATIONS_H
#define STOCKFLOW_MIGRATIONS_H

struct migration {
    const char *version; /* file name without .sql, e.g. "001_core" */
    const char *sql;
};

extern const struct migration migrations[];
extern const unsigned n_migrations;

/* schemas/worker_role.sql: creates the workers' role (named by the setting
 * stockflow.worker_role) if missing and grants it exactly what the workers
 * need; run after the migrations, every time. */
extern const char worker_role_sql[];

#endif
