#include "inv.h"

#include "strbuf.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPARAMS 16

const struct pg_stmt inv_stmts[] = {
    {"sf_batch",
     "SELECT pos, outcome FROM sf_apply_batch($1::text[], $2::text[], $3::bigint[], $4::text[], "
     "$5::text[], $6::bigint[], $7::integer[], $8::text[], $9::text[], $10::integer[], "
     "$11::bigint[], $12::integer[], $13::text[], $14::bigint[], $15::integer, $16::boolean)",
     NPARAMS},
    {"sf_lock", "SELECT sf_lock_batch($1::text[], $2::text[], $3::text[])", 3},
    {"sf_mark", "SELECT sf_watermark($1, $2, $3::integer, $4::bigint)", 4},
    {"sf_marks",
     "SELECT sf_watermarks($1, $2::text[], $3::integer[], $4::bigint[], $5::bigint[], "
     "$6::text[], $7::integer[], $8::bigint[], $9::text[], $10::integer[], $11::bigint[])",
     11},
};
const size_t inv_nstmts = sizeof(inv_stmts) / sizeof(inv_stmts[0]);

const char *inv_res_name(enum inv_res r)
{
    static const char *const names[] = {"pending", "applied", "ignored",
                                        "duplicate", "poison", "transient"};
    return names[r];
}

/* A growing PostgreSQL array literal: "{", elements, "}". */
struct arr {
    struct strbuf sb;
    size_t n; /* elements */
};

static void arr_init(struct arr *a, size_t k)
{
    for (size_t i = 0; i < k; i++)
        a[i] = (struct arr){STRBUF_INIT, 0};
}

static void arr_release(struct arr *a, size_t k)
{
    for (size_t i = 0; i < k; i++)
        strbuf_release(&a[i].sb);
}

static void arr_put(struct arr *a, const char *p, size_t len)
{
    strbuf_add(&a->sb, p, len);
}

static void arr_sep(struct arr *a)
{
    arr_put(a, a->n++ ? "," : "{", 1);
}

/* A text element (NULL for v == NULL), quoted and escaped. */
static void arr_text(struct arr *a, const char *v)
{
    arr_sep(a);
    if (!v) {
        arr_put(a, "NULL", 4);
        return;
    }
    arr_put(a, "\"", 1);
    for (const char *p = v; *p;) {
        size_t run = strcspn(p, "\"\\");
        arr_put(a, p, run);
        p += run;
        if (*p) {
            arr_put(a, "\\", 1);
            arr_put(a, p++, 1);
        }
    }
    arr_put(a, "\"", 1);
}

static void arr_int(struct arr *a, long long v)
{
    char num[24];
    arr_sep(a);
    arr_put(a, num, (size_t)snprintf(num, sizeof(num), "%lld", v));
}

static const char *arr_end(struct arr *a)
{
    arr_put(a, a->n ? "}" : "{}", a->n ? 1 : 2);
    return strbuf_failed(&a->sb) ? NULL : a->sb.buf;
}

enum { A_TYPE, A_ID, A_MS, A_ORDER, A_SKU, A_QTY, A_HOLD, A_REASON, A_TOPIC, A_PART, A_OFF,
       A_LEV, A_LSKU, A_LQTY, A_N };

/* The sf_apply_batch parameters of items[0..n): one array per field. */
static int batch_params(struct arr *a, const char **v, const struct inv_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct inv_item *it = &items[i];
        const struct evt *e = it->ev;
        arr_text(&a[A_TYPE], e->type_name);
        arr_text(&a[A_ID], e->event_id);
        arr_int(&a[A_MS], e->occurred_at_ms);
        arr_text(&a[A_ORDER], e->order_id);
        arr_text(&a[A_SKU], e->sku);
        arr_int(&a[A_QTY], e->type == EVT_STOCK_ADJUSTED ? e->delta : e->qty);
        arr_int(&a[A_HOLD], e->hold_seconds);
        /* sku.configured has no reason: its settings take the slot (020);
         * so do the promotion fields of promotion.* and of an order.created
         * naming a promo_id (023): a reason of NULL is a normal order; and a
         * receipt's batch and best_before (024) */
        char args[EVT_ARGS_MAX];
        int settings = (e->type == EVT_SKU_CONFIGURED || e->type == EVT_PROMOTION_ALLOCATED ||
                        e->type == EVT_PROMOTION_ENDED || e->type == EVT_STOCK_RECEIVED ||
                        (e->type == EVT_ORDER_CREATED && e->promo_id)) &&
                       evt_args_json(e, args, sizeof(args)) > 0;
        arr_text(&a[A_REASON], settings ? args : e->reason);
        arr_text(&a[A_TOPIC], it->topic);
        arr_int(&a[A_PART], it->partition);
        arr_int(&a[A_OFF], it->offset);
        for (size_t l = 0; l < e->n_lines; l++) {
            arr_int(&a[A_LEV], (long long)i + 1);
            arr_text(&a[A_LSKU], e->lines[l].sku);
            arr_int(&a[A_LQTY], e->lines[l].qty);
        }
    }
    for (int k = 0; k < A_N; k++)
        if (!(v[k] = arr_end(&a[k])))
            return -1;
    return 0;
}

/* sf_lock_batch's parameters: the batch's order ids, the SKUs of its stock
 * events, the SKUs of its order lines. */
static int lock_params(const struct inv_item *items, size_t n, struct arr *a)
{
    for (size_t i = 0; i < n; i++) {
        const struct evt *e = items[i].ev;
        if (e->order_id)
            arr_text(&a[0], e->order_id);
        if (e->sku)
            arr_text(&a[1], e->sku);
        for (size_t l = 0; l < e->n_lines; l++)
            arr_text(&a[2], e->lines[l].sku);
    }
    for (int k = 0; k < 3; k++)
        if (!arr_end(&a[k]))
            return -1;
    return 0;
}

/* Flushes the pipeline without blocking forever on a full socket: while
 * libpq cannot send, read what the server sent so it can go on writing. */
static int flush_pipeline(PGconn *c)
{
    int r;
    while ((r = PQflush(c)) == 1) {
        struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN | POLLOUT};
        if (poll(&pfd, 1, 30000) <= 0)
            return -1;
        if ((pfd.revents & POLLIN) && !PQconsumeInput(c))
            return -1;
    }
    return r;
}

static void set_result(struct inv_item *it, const char *v)
{
    static const struct {
        const char *prefix;
        enum inv_res res;
    } map[] = {{"applied:", INV_APPLIED}, {"ignored:", INV_IGNORED}, {"duplicate", INV_DUPLICATE},
               {"poison:", INV_POISON},   {"transient:", INV_TRANSIENT}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        size_t len = strlen(map[i].prefix);
        if (strncmp(v, map[i].prefix, len) == 0) {
            it->res = map[i].res;
            snprintf(it->detail, sizeof(it->detail), "%s", v + len);
            return;
        }
    }
    it->res = INV_POISON;
    snprintf(it->detail, sizeof(it->detail), "unexpected apply result: %s", v);
}

/* Text parameters of one sf_mark call. */
struct mark_params {
    char part[16], ms[24];
    const char *v[4];
};

static void mark_params(struct mark_params *mp, const struct inv_mark *m)
{
    snprintf(mp->part, sizeof(mp->part), "%d", (int)m->partition);
    snprintf(mp->ms, sizeof(mp->ms), "%lld", (long long)m->ms);
    mp->v[0] = m->group;
    mp->v[1] = m->topic;
    mp->v[2] = mp->part;
    mp->v[3] = mp->ms;
}

static int send_marks(PGconn *c, const struct inv_mark *marks, size_t nmarks)
{
    for (size_t i = 0; i < nmarks; i++) {
        struct mark_params mp;
        mark_params(&mp, &marks[i]);
        if (!PQsendQueryPrepared(c, "sf_mark", 4, mp.v, NULL, NULL, 0))
            return -1;
    }
    return 0;
}

static int send_batch(PGconn *c, struct inv_item *items, size_t n, long default_hold, int fast,
                      const struct inv_mark *marks, size_t nmarks)
{
    char hold[24];
    struct arr a[A_N], la[3];
    const char *v[NPARAMS];
    int ok = 0;
    arr_init(a, A_N);
    arr_init(la, 3);
    snprintf(hold, sizeof(hold), "%ld", default_hold);
    v[A_N] = hold;
    v[A_N + 1] = fast ? "true" : "false";
    if (lock_params(items, n, la) || batch_params(a, v, items, n))
        goto out;
    const char *lp[3] = {la[0].sb.buf, la[1].sb.buf, la[2].sb.buf};
    if (PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) &&
        PQsendQueryPrepared(c, "sf_lock", 3, lp, NULL, NULL, 0) &&
        PQsendQueryPrepared(c, "sf_batch", NPARAMS, v, NULL, NULL, 0) &&
        send_marks(c, marks, nmarks) == 0 &&
        PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) && PQpipelineSync(c) &&
        flush_pipeline(c) == 0)
        ok = 1;
out:
    arr_release(a, A_N);
    arr_release(la, 3);
    return ok ? 0 : -1;
}

/* Reads one command's result; keeps the first error. With items, the
 * result is sf_apply_batch's (pos, outcome) rows. Returns 0, or -1 when the
 * connection gave nothing (lost). */
static int read_one(PGconn *c, PGresult **first_err, struct inv_item *items, size_t n)
{
    PGresult *r = PQgetResult(c);
    if (!r)
        return -1;
    ExecStatusType s = PQresultStatus(r);
    for (int i = 0; s == PGRES_TUPLES_OK && items && i < PQntuples(r); i++) {
        long pos = strtol(PQgetvalue(r, i, 0), NULL, 10);
        if (pos >= 1 && (size_t)pos <= n)
            set_result(&items[pos - 1], PQgetvalue(r, i, 1));
    }
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK && !*first_err &&
        s != PGRES_PIPELINE_ABORTED)
        *first_err = r;
    else
        PQclear(r);
    r = PQgetResult(c); /* the NULL that ends this command */
    if (r)
        PQclear(r);
    return 0;
}

static enum pg_class read_batch(PGconn *c, struct inv_item *items, size_t n, size_t nmarks,
                                char *err, size_t errlen)
{
    PGresult *first_err = NULL;
    enum pg_class cls = PG_OK;
    int lost = read_one(c, &first_err, NULL, 0) || read_one(c, &first_err, NULL, 0) ||
               read_one(c, &first_err, items, n);
    for (size_t i = 0; i < nmarks && !lost; i++)
        lost = read_one(c, &first_err, NULL, 0);
    if (!lost)
        lost = read_one(c, &first_err, NULL, 0); /* COMMIT */
    if (!lost) {
        PGresult *sync = PQgetResult(c);
        lost = !sync || PQresultStatus(sync) != PGRES_PIPELINE_SYNC;
        PQclear(sync);
    }
    if (first_err) {
        cls = pg_classify(c, first_err);
        pg_errline(c, first_err, err, errlen);
        PQclear(first_err);
    } else if (lost) {
        cls = PG_OUTAGE;
        pg_errline(c, NULL, err, errlen);
    }
    return cls;
}

static enum pg_class apply_batch(struct pg *p, struct inv_item *items, size_t n,
                                 long default_hold, int fast, const struct inv_mark *marks,
                                 size_t nmarks, char *err, size_t errlen);

enum pg_class inv_apply_each(struct pg *p, struct inv_item *items, size_t n, long default_hold,
                             char *err, size_t errlen)
{
    return apply_batch(p, items, n, default_hold, 0, NULL, 0, err, errlen);
}

enum pg_class inv_mark(struct pg *p, const struct inv_mark *marks, size_t nmarks, char *err,
                       size_t errlen)
{
    PGconn *c = pg_conn(p);
    for (size_t i = 0; c && i < nmarks; i++) {
        struct mark_params mp;
        mark_params(&mp, &marks[i]);
        PGresult *r = PQexecPrepared(c, "sf_mark", 4, mp.v, NULL, NULL, 0);
        enum pg_class cls = PQresultStatus(r) == PGRES_TUPLES_OK ? PG_OK : pg_classify(c, r);
        if (cls != PG_OK)
            pg_errline(c, r, err, errlen);
        PQclear(r);
        if (cls != PG_OK)
            return cls;
    }
    if (!c)
        snprintf(err, errlen, "not connected");
    return c ? PG_OK : PG_OUTAGE;
}

enum pg_class inv_watermarks(struct pg *p, const char *group, const struct inv_pos *pins,
                             size_t npins, const struct inv_pos *unpins, size_t nunpins,
                             const struct inv_mark *marks, size_t nmarks, char *err, size_t errlen)
{
    struct arr a[10];
    const char *v[11] = {group};
    enum pg_class cls = PG_ERROR;
    PGconn *c = pg_conn(p);
    arr_init(a, 10);
    for (size_t i = 0; i < npins; i++) {
        arr_text(&a[0], pins[i].topic);
        arr_int(&a[1], pins[i].partition);
        arr_int(&a[2], pins[i].offset);
        arr_int(&a[3], pins[i].ms);
    }
    for (size_t i = 0; i < nunpins; i++) {
        arr_text(&a[4], unpins[i].topic);
        arr_int(&a[5], unpins[i].partition);
        arr_int(&a[6], unpins[i].offset);
    }
    for (size_t i = 0; i < nmarks; i++) {
        arr_text(&a[7], marks[i].topic);
        arr_int(&a[8], marks[i].partition);
        arr_int(&a[9], marks[i].ms);
    }
    int oom = 0;
    for (int k = 0; k < 10; k++)
        oom |= !(v[k + 1] = arr_end(&a[k]));
    if (!c) {
        snprintf(err, errlen, "not connected");
        cls = PG_OUTAGE;
    } else if (oom) {
        snprintf(err, errlen, "out of memory");
    } else {
        PGresult *r = PQexecPrepared(c, "sf_marks", 11, v, NULL, NULL, 0);
        cls = PQresultStatus(r) == PGRES_TUPLES_OK ? PG_OK : pg_classify(c, r);
        if (cls != PG_OK)
            pg_errline(c, r, err, errlen);
        PQclear(r);
    }
    arr_release(a, 10);
    return cls;
}

static enum pg_class apply_batch(struct pg *p, struct inv_item *items, size_t n,
                                 long default_hold, int fast, const struct inv_mark *marks,
                                 size_t nmarks, char *err, size_t errlen)
{
    PGconn *c = pg_conn(p);
    if (!c) {
        snprintf(err, errlen, "not connected");
        return PG_OUTAGE;
    }
    for (size_t i = 0; i < n; i++)
        items[i].res = INV_PENDING;
    if (!PQenterPipelineMode(c) || PQsetnonblocking(c, 1)) {
        pg_errline(c, NULL, err, errlen);
        return pg_classify(c, NULL);
    }
    enum pg_class cls;
    if (send_batch(c, items, n, default_hold, fast, marks, nmarks)) {
        pg_errline(c, NULL, err, errlen);
        cls = PQstatus(c) == CONNECTION_OK ? PG_ERROR : PG_OUTAGE;
    } else {
        PQsetnonblocking(c, 0);
        cls = read_batch(c, items, n, nmarks, err, errlen);
    }
    PQsetnonblocking(c, 0);
    if (cls == PG_OUTAGE || !PQexitPipelineMode(c))
        return PG_OUTAGE; /* the connection is unusable: the caller reconnects */
    if (PQtransactionStatus(c) != PQTRANS_IDLE) {
        PGresult *r = PQexec(c, "ROLLBACK");
        PQclear(r);
    }
    for (size_t i = 0; cls == PG_OK && i < n; i++) {
        if (items[i].res == INV_PENDING) {
            snprintf(err, errlen, "no result for event %zu of the batch", i);
            cls = PG_ERROR;
        }
    }
    return cls;
}

enum pg_class inv_apply_batch(struct pg *p, struct inv_item *items, size_t n, long default_hold,
                              const struct inv_mark *marks, size_t nmarks, char *err, size_t errlen)
{
    /* one event alone is cheaper through sf_apply than through the
     * set-based statements (measured with bench/pgbench-scripts.sh) */
    return apply_batch(p, items, n, default_hold, n > 1, marks, nmarks, err, errlen);
}
