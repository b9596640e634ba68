#include "db.h"

#include "out.h"
#include "stockctl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_STATEMENT_TIMEOUT_MS 300000 /* a checksum of a large database takes a while */

int db_open(const struct cfg *c, const char *app, struct pg **out, char *err, size_t errlen)
{
    struct pg *p = NULL;
    char why[768];
    long st = c->statement_timeout_ms > DB_STATEMENT_TIMEOUT_MS ? c->statement_timeout_ms
                                                                : DB_STATEMENT_TIMEOUT_MS;
    if (pg_new(&p, c->database_url, app, c->lock_timeout_ms, st, NULL, 0)) {
        snprintf(err, errlen, "out of memory");
        return EXIT_FAIL;
    }
    enum pg_class k = pg_connect(p, why, sizeof(why));
    if (k != PG_OK) {
        if (!getenv("DATABASE_URL"))
            snprintf(err, errlen,
                     "cannot connect to PostgreSQL: DATABASE_URL is not set, so the default %s "
                     "was tried: %s",
                     c->database_url, why);
        else
            snprintf(err, errlen, "cannot connect to PostgreSQL: %s", why);
        pg_free(p);
        return k == PG_OUTAGE ? EXIT_UNREACHABLE : EXIT_FAIL;
    }
    *out = p;
    return EXIT_OK;
}

PGresult *db_query(struct pg *p, const char *sql, int n, const char *const *params, int *code,
                   char *err, size_t errlen)
{
    PGconn *c = pg_conn(p);
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType s = PQresultStatus(r);
    if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK)
        return r;
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    *code = pg_classify(c, r) == PG_OUTAGE ? EXIT_UNREACHABLE : EXIT_FAIL;
    pg_errline(c, r, err, errlen);
    if (st && (!strcmp(st, "42P01") || !strcmp(st, "42883") || !strcmp(st, "3F000"))) {
        /* undefined table, function or schema: the stockflow schema is missing */
        char why[512];
        snprintf(why, sizeof(why), "%s", err);
        snprintf(err, errlen, "database not migrated (run `stockctl migrate`): %s", why);
        *code = EXIT_NOT_MIGRATED;
    }
    PQclear(r);
    return NULL;
}

const char *db_val(const PGresult *res, int r, int c)
{
    return PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
}

/* ---- printing results ------------------------------------------------------ */

#define MAX_COLS 24

enum { BOOLOID = 16, INT8OID = 20, INT2OID = 21, INT4OID = 23 };

/* A value for people: booleans as yes/no, NULL as NULL (printed "-"). */
static const char *shown(const PGresult *res, int r, int c)
{
    const char *v = db_val(res, r, c);
    if (v && PQftype(res, c) == BOOLOID)
        return v[0] == 't' ? "yes" : "no";
    return v;
}

void db_print_table(FILE *f, const PGresult *res, int indent)
{
    int nf = PQnfields(res) < MAX_COLS ? PQnfields(res) : MAX_COLS;
    struct out_col cols[MAX_COLS];
    char names[MAX_COLS][64];
    const char *cells[MAX_COLS];
    for (int c = 0; c < nf; c++) {
        size_t w = strlen(PQfname(res, c)), i;
        for (int r = 0; r < PQntuples(res); r++)
            if (!PQgetisnull(res, r, c) && (size_t)PQgetlength(res, r, c) > w)
                w = (size_t)PQgetlength(res, r, c);
        for (i = 0; PQfname(res, c)[i] && i < sizeof(names[c]) - 1; i++)
            names[c][i] = (char)toupper((unsigned char)PQfname(res, c)[i]);
        names[c][i] = '\0';
        cols[c] = (struct out_col){names[c], (int)(w > 60 ? 60 : w)};
        cells[c] = names[c];
    }
    for (int r = -1; r < PQntuples(res); r++) {
        for (int c = 0; r >= 0 && c < nf; c++)
            cells[c] = shown(res, r, c);
        fprintf(f, "%*s", indent, "");
        out_row(f, cols, (size_t)nf, cells);
    }
}

void db_print_row(FILE *f, const PGresult *res, int r, int indent)
{
    for (int c = 0; c < PQnfields(res); c++) {
        const char *v = shown(res, r, c);
        fprintf(f, "%*s%-16s %s\n", indent, "", PQfname(res, c), v ? v : "-");
    }
}

void db_json_row(yajl_gen g, const PGresult *res, int r)
{
    for (int c = 0; c < PQnfields(res); c++) {
        const char *name = PQfname(res, c), *v = db_val(res, r, c);
        Oid t = PQftype(res, c);
        if (!v)
            out_json_str(g, name, NULL);
        else if (t == BOOLOID)
            out_json_bool(g, name, v[0] == 't');
        else if (t == INT8OID || t == INT4OID || t == INT2OID)
            out_json_int(g, name, atoll(v));
        else
            out_json_str(g, name, v);
    }
}

void db_json_rows(yajl_gen g, const char *key, const PGresult *res)
{
    out_json_open(g, key, 1);
    for (int r = 0; r < PQntuples(res); r++) {
        out_json_open(g, NULL, 0);
        db_json_row(g, res, r);
        out_json_close(g, 0);
    }
    out_json_close(g, 1);
}
