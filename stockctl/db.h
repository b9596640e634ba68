/* db: stockctl's PostgreSQL access, with errors mapped to exit codes. */
#ifndef STOCKFLOW_DB_H
#define STOCKFLOW_DB_H

#include "cfg.h"
#include "pg.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <yajl/yajl_gen.h>

/* Connects to DATABASE_URL as application `app`. Returns EXIT_OK with *out
 * set (caller frees with pg_free), or EXIT_UNREACHABLE / EXIT_FAIL with one
 * line in err. */
int db_open(const struct cfg *c, const char *app, struct pg **out, char *err, size_t errlen);

/* Runs sql with n text parameters. Returns the result (caller PQclears),
 * or NULL with one line in err and *code set to EXIT_UNREACHABLE (the
 * connection is gone) or EXIT_FAIL. */
PGresult *db_query(struct pg *p, const char *sql, int n, const char *const *params, int *code,
                   char *err, size_t errlen);

/* Value of row r, column c: NULL when SQL NULL. Borrowed from res. */
const char *db_val(const PGresult *res, int r, int c);

/* ---- printing results (column names are the headers) ---------------------- */

/* Every row of res as an aligned table (widths from the data), indented by
 * `indent` spaces; NULL prints as "-". */
void db_print_table(FILE *f, const PGresult *res, int indent);

/* Row r of res as "name  value" lines, indented by `indent` spaces. */
void db_print_row(FILE *f, const PGresult *res, int r, int indent);

/* Row r of res as members of an open JSON map: integers and booleans as
 * such, NULL as null, everything else as strings. */
void db_json_row(yajl_gen g, const PGresult *res, int r);

/* Every row of res as a JSON array of maps, as member key. */
void db_json_rows(yajl_gen g, const char *key, const PGresult *res);

#endif
