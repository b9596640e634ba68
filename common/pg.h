/* pg: the PostgreSQL connection of a worker, and error classification.
 *
 * A struct pg owns one libpq connection. pg_connect (re)connects and sets
 * the session up (timeouts, application_name, prepared statements); callers
 * reconnect after PG_OUTAGE. Not thread-safe: one struct pg per thread. */
#ifndef STOCKFLOW_PG_H
#define STOCKFLOW_PG_H

#include <libpq-fe.h>
#include <stddef.h>

enum pg_class {
    PG_OK = 0,
    PG_TRANSIENT, /* deadlock, serialization failure, lock or statement timeout */
    PG_OUTAGE,    /* connection lost, or the server refuses everyone's work (read-only,
                     privilege, missing object, I/O, internal): pause and reconnect */
    PG_ERROR,     /* the event's own fault (data exception, constraint, SFnnn): poison */
};

struct pg;

/* Statements prepared on every (re)connection. */
struct pg_stmt {
    const char *name;
    const char *sql;
    int nparams;
};

/* Copies url and app_name; stmts is borrowed for the life of the struct.
 * Does not connect. Returns 0 or -ENOMEM. */
int pg_new(struct pg **out, const char *url, const char *app_name, long lock_timeout_ms,
           long statement_timeout_ms, const struct pg_stmt *stmts, size_t nstmts);
void pg_free(struct pg *p); /* NULL is a no-op */

/* Room for the key/value arrays of pg_conn_params, NULL entry included. */
#define PG_CONN_PARAMS_MAX 10

/* The PQconnectdbParams arrays (expand_dbname = 1) pg_connect uses: TCP
 * keepalives (idle 10 s, every 5 s, 3 probes), tcp_user_timeout 30 s and
 * connect_timeout 5 s, so a dead database host is noticed instead of hanging;
 * url may set any of them itself (its values win); application_name is
 * app_name. keys and vals hold PG_CONN_PARAMS_MAX entries, NULL-terminated
 * on return; the strings are borrowed. Returns the count without the NULL. */
size_t pg_conn_params(const char *url, const char *app_name, const char **keys,
                      const char **vals);

/* Connects (dropping any old connection) and prepares the statements.
 * Returns PG_OK, or PG_OUTAGE / PG_ERROR with one line in err. */
enum pg_class pg_connect(struct pg *p, char *err, size_t errlen);

/* The live connection, or NULL when not connected. Borrowed. */
PGconn *pg_conn(struct pg *p);

/* Classifies a SQLSTATE (DESIGN §6): PG_TRANSIENT for serialization
 * failure, deadlock, lock and statement timeout; PG_ERROR only for errors
 * that are the event's own fault (class 22 data exceptions, class 23
 * constraint violations, the project's SFnnn codes); PG_OUTAGE for every
 * other state and for none (NULL). Pure. */
enum pg_class pg_class_of_state(const char *sqlstate);

/* Classifies a failed result (r may be NULL) on connection c. */
enum pg_class pg_classify(PGconn *c, const PGresult *r);

/* Runs one statement without parameters; PG_OK when it succeeded. */
enum pg_class pg_exec(struct pg *p, const char *sql, char *err, size_t errlen);

/* Copies the error of r (or of the connection) as one line into err. */
void pg_errline(PGconn *c, const PGresult *r, char *err, size_t errlen);

const char *pg_class_name(enum pg_class c);

#endif
