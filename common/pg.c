#include "pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pg {
    PGconn *conn;
    char *url;
    char *app_name;
    long lock_timeout_ms;
    long statement_timeout_ms;
    const struct pg_stmt *stmts;
    size_t nstmts;
};

int pg_new(struct pg **out, const char *url, const char *app_name, long lock_timeout_ms,
           long statement_timeout_ms, const struct pg_stmt *stmts, size_t nstmts)
{
    struct pg *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->url = strdup(url);
    p->app_name = strdup(app_name);
    if (!p->url || !p->app_name) {
        pg_free(p);
        return -ENOMEM;
    }
    p->lock_timeout_ms = lock_timeout_ms;
    p->statement_timeout_ms = statement_timeout_ms;
    p->stmts = stmts;
    p->nstmts = nstmts;
    *out = p;
    return 0;
}

void pg_free(struct pg *p)
{
    if (!p)
        return;
    if (p->conn)
        PQfinish(p->conn);
    free(p->url);
    free(p->app_name);
    free(p);
}

PGconn *pg_conn(struct pg *p)
{
    return p->conn;
}

const char *pg_class_name(enum pg_class c)
{
    static const char *const names[] = {"ok", "transient", "outage", "error"};
    return names[c];
}

void pg_errline(PGconn *c, const PGresult *r, char *err, size_t errlen)
{
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!msg || !*msg)
        msg = c ? PQerrorMessage(c) : "no connection";
    if (!msg || !*msg)
        msg = "unknown error";
    snprintf(err, errlen, "%s%s%s", state ? state : "", state ? " " : "", msg);
    /* one line: fold newlines and runs of spaces, drop trailing blanks */
    size_t k = 0;
    for (size_t i = 0; err[i]; i++) {
        char ch = (err[i] == '\n' || err[i] == '\r' || err[i] == '\t') ? ' ' : err[i];
        if (ch == ' ' && (k == 0 || err[k - 1] == ' '))
            continue;
        err[k++] = ch;
    }
    while (k > 0 && err[k - 1] == ' ')
        k--;
    err[k] = '\0';
}

enum pg_class pg_class_of_state(const char *st)
{
    if (!st || strlen(st) != 5)
        return PG_OUTAGE; /* no SQLSTATE: the server did not answer the statement */
    if (!strcmp(st, "40001") || !strcmp(st, "40P01") || !strcmp(st, "55P03") ||
        !strcmp(st, "57014"))
        return PG_TRANSIENT; /* serialization, deadlock, lock and statement timeout */
    /* the event's own fault: a value the rules refuse (data exception), a
     * constraint the rules raise, the project's own codes (SFnnn) */
    if (!strncmp(st, "22", 2) || !strncmp(st, "23", 2) || !strncmp(st, "SF", 2))
        return PG_ERROR;
    /* everything else refuses everyone's work, whatever the event: connection
     * (08), resources (53), shutdown (57P), read-only (25006), privilege
     * (42501), missing table or function (42P01, 42883), I/O (58), internal
     * (XX), or a statement of ours the server does not take (42) */
    return PG_OUTAGE;
}

enum pg_class pg_classify(PGconn *c, const PGresult *r)
{
    if (!c || PQstatus(c) != CONNECTION_OK)
        return PG_OUTAGE;
    if (!r)
        return PG_OUTAGE;
    return pg_class_of_state(PQresultErrorField(r, PG_DIAG_SQLSTATE));
}

enum pg_class pg_exec(struct pg *p, const char *sql, char *err, size_t errlen)
{
    if (!p->conn) {
        snprintf(err, errlen, "not connected");
        return PG_OUTAGE;
    }
    PGresult *r = PQexec(p->conn, sql);
    ExecStatusType s = PQresultStatus(r);
    enum pg_class c = PG_OK;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        c = pg_classify(p->conn, r);
        pg_errline(p->conn, r, err, errlen);
    }
    PQclear(r);
    return c;
}

static enum pg_class pg_setup(struct pg *p, char *err, size_t errlen)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SET lock_timeout = %ld; SET statement_timeout = %ld",
             p->lock_timeout_ms, p->statement_timeout_ms);
    enum pg_class c = pg_exec(p, sql, err, errlen);
    for (size_t i = 0; c == PG_OK && i < p->nstmts; i++) {
        PGresult *r = PQprepare(p->conn, p->stmts[i].name, p->stmts[i].sql, p->stmts[i].nparams,
                                NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            c = pg_classify(p->conn, r);
            pg_errline(p->conn, r, err, errlen);
        }
        PQclear(r);
    }
    return c;
}

size_t pg_conn_params(const char *url, const char *app_name, const char **keys,
                      const char **vals)
{
    /* before dbname: the URL's own values win (expand_dbname); after: ours */
    static const char *const k[] = {"connect_timeout", "keepalives", "keepalives_idle",
                                    "keepalives_interval", "keepalives_count",
                                    "tcp_user_timeout"};
    static const char *const v[] = {"5", "1", "10", "5", "3", "30000"};
    size_t n = 0;
    for (; n < sizeof(k) / sizeof(k[0]); n++) {
        keys[n] = k[n];
        vals[n] = v[n];
    }
    keys[n] = "dbname";
    vals[n++] = url;
    keys[n] = "application_name";
    vals[n++] = app_name;
    keys[n] = NULL;
    vals[n] = NULL;
    return n;
}

enum pg_class pg_connect(struct pg *p, char *err, size_t errlen)
{
    const char *keys[PG_CONN_PARAMS_MAX], *vals[PG_CONN_PARAMS_MAX];
    if (p->conn)
        PQfinish(p->conn);
    pg_conn_params(p->url, p->app_name, keys, vals);
    p->conn = PQconnectdbParams(keys, vals, 1);
    if (!p->conn || PQstatus(p->conn) != CONNECTION_OK) {
        pg_errline(p->conn, NULL, err, errlen);
        if (p->conn)
            PQfinish(p->conn);
        p->conn = NULL;
        return PG_OUTAGE;
    }
    enum pg_class c = pg_setup(p, err, errlen);
    if (c != PG_OK) {
        PQfinish(p->conn);
        p->conn = NULL;
    }
    return c;
}
