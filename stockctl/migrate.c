/* stockctl migrate: applies the embedded migrations in order, each in its
 * own transaction with its version recorded, under an advisory lock so two
 * runs at once apply each version exactly once; then grants the workers'
 * role what the workers need (schemas/worker_role.sql), every run. */
#include "log.h"
#include "migrations.h"
#include "pg.h"
#include "stockctl.h"

#include <stdio.h>
#include <string.h>

#define MIGRATE_LOCK_KEY 7415001
#define WORKER_ROLE_DEFAULT "stockflow_worker"

static const char *const setup_sql =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())";

static int is_applied(PGconn *c, const char *version, int *applied)
{
    const char *p[1] = {version};
    PGresult *r = PQexecParams(c, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL,
                               p, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    *applied = ok && PQntuples(r) > 0;
    PQclear(r);
    return ok ? 0 : -1;
}

static int apply_one(struct pg *p, const struct migration *m, char *err, size_t errlen)
{
    PGconn *c = pg_conn(p);
    const char *v[1] = {m->version};
    if (pg_exec(p, "BEGIN", err, errlen) != PG_OK)
        return -1;
    if (pg_exec(p, m->sql, err, errlen) != PG_OK)
        goto fail;
    PGresult *r = PQexecParams(c, "INSERT INTO schema_migrations (version) VALUES ($1)", 1, NULL,
                               v, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        pg_errline(c, r, err, errlen);
    PQclear(r);
    if (!ok || pg_exec(p, "COMMIT", err, errlen) != PG_OK)
        goto fail;
    return 0;
fail:
    PQclear(PQexec(c, "ROLLBACK"));
    return -1;
}

static int migrate_all(struct pg *p, int *napplied, char *err, size_t errlen)
{
    char lock[96];
    snprintf(lock, sizeof(lock), "SELECT pg_advisory_lock(%d)", MIGRATE_LOCK_KEY);
    if (pg_exec(p, "SET client_min_messages = warning", err, errlen) != PG_OK ||
        pg_exec(p, lock, err, errlen) != PG_OK || pg_exec(p, setup_sql, err, errlen) != PG_OK)
        return -1;
    for (unsigned i = 0; i < n_migrations; i++) {
        int applied;
        if (is_applied(pg_conn(p), migrations[i].version, &applied)) {
            pg_errline(pg_conn(p), NULL, err, errlen);
            return -1;
        }
        if (applied)
            continue;
        if (apply_one(p, &migrations[i], err, errlen))
            return -1;
        printf("applied %s\n", migrations[i].version);
        (*napplied)++;
    }
    return 0;
}

/* Creates the workers' role if missing and sets its privileges, in one
 * transaction (still under the advisory lock). */
static int grant_worker_role(struct pg *p, const char *role, char *err, size_t errlen)
{
    PGconn *c = pg_conn(p);
    const char *v[1] = {role};
    if (pg_exec(p, "BEGIN", err, errlen) != PG_OK)
        return -1;
    PGresult *r = PQexecParams(c, "SELECT set_config('stockflow.worker_role', $1, true)", 1, NULL,
                               v, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        pg_errline(c, r, err, errlen);
    PQclear(r);
    if (!ok || pg_exec(p, worker_role_sql, err, errlen) != PG_OK ||
        pg_exec(p, "COMMIT", err, errlen) != PG_OK) {
        PQclear(PQexec(c, "ROLLBACK"));
        return -1;
    }
    return 0;
}

int cmd_migrate(const struct cfg *c, int argc, char **argv)
{
    const char *role = WORKER_ROLE_DEFAULT;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("Usage: stockctl migrate [--worker-role NAME | --no-worker-role]\n"
                   "Applies the numbered migrations of schemas/sql (embedded in this binary) that\n"
                   "DATABASE_URL's database lacks, each in its own transaction, and records them\n"
                   "in schema_migrations. Safe to run twice and concurrently (an advisory lock\n"
                   "serialises runs). Prints each migration applied, then \"schema up to date\".\n"
                   "Then, every run, creates the workers' role if it does not exist (NOLOGIN,\n"
                   "needs CREATEROLE) and grants it what the workers need and nothing else:\n"
                   "SELECT, INSERT, UPDATE on the tables (DELETE on the outbox only), EXECUTE on\n"
                   "the functions; no DDL, no TRUNCATE, nothing on other schemas. Run migrate as\n"
                   "the tables' owner; run the workers as a login member of the role\n"
                   "(docs/operations.md).\n"
                   "  --worker-role NAME   the role's name (default " WORKER_ROLE_DEFAULT ")\n"
                   "  --no-worker-role     leave roles and privileges alone\n"
                   "Exit codes: 0 ok, 1 a migration or the grants failed, 2 bad usage,\n"
                   "3 PostgreSQL unreachable.\n");
            return EXIT_OK;
        }
        if (!strcmp(argv[i], "--no-worker-role")) {
            role = NULL;
        } else if (!strcmp(argv[i], "--worker-role")) {
            if (i + 1 >= argc || !argv[i + 1][0] || strlen(argv[i + 1]) > 63) {
                fprintf(stderr, "stockctl migrate: --worker-role needs a role name (1-63 "
                                "bytes)\n");
                return EXIT_USAGE;
            }
            role = argv[++i];
        } else {
            fprintf(stderr, "stockctl migrate: unexpected argument \"%s\" (see stockctl migrate "
                            "--help)\n",
                    argv[i]);
            return EXIT_USAGE;
        }
    }
    struct pg *p = NULL;
    char err[1024];
    int napplied = 0, rc = EXIT_OK;
    if (pg_new(&p, c->database_url, "stockctl migrate", 60000, 0, NULL, 0))
        return EXIT_FAIL;
    if (pg_connect(p, err, sizeof(err)) != PG_OK) {
        fprintf(stderr, "stockctl migrate: cannot connect to PostgreSQL: %s\n", err);
        rc = EXIT_UNREACHABLE;
    } else if (migrate_all(p, &napplied, err, sizeof(err))) {
        fprintf(stderr, "stockctl migrate: %s\n", err);
        rc = EXIT_FAIL;
    } else {
        printf("schema up to date (%u migrations, %d applied now)\n", n_migrations, napplied);
        if (role && grant_worker_role(p, role, err, sizeof(err))) {
            fprintf(stderr, "stockctl migrate: workers' role %s: %s\n", role, err);
            rc = EXIT_FAIL;
        } else if (role) {
            printf("workers' role %s: privileges set\n", role);
        }
    }
    pg_free(p);
    return rc;
}
