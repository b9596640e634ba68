#!/usr/bin/env bash
# Plans on a fresh database: straight after `stockctl migrate`, no statistics
# at all, the apply path reads orders, order_lines, processed_events and
# stock by index only (SQL style: plans must not depend on statistics).
#  1. the plans of a first batch (auto_explain, nested statements, the
#     functions the workers call) name no Seq Scan on those tables, and no
#     plan carries a disabled scan's cost or is JIT-compiled;
#  2. 50,000 order.created (1-3 lines over 200 SKUs) through one order-worker,
#     then 12,000 payments and cancellations (held orders and orders not seen
#     yet) through one payment-worker, every worker session starting on the
#     fresh database: pg_stat_user_tables.seq_scan of those tables is the
#     same after the ~60 batches as before them (the generic plans made on
#     the first batch used to scan them sequentially once per batch or more).
#  3. the outbox relay publishes every record without updating outbox rows.
# The apply time per batch is printed (first and last tenth of the
# order-worker's transactions), not asserted: the machine may be shared; so
# are the rows written per event, per table.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_fail.sh
source "$(dirname "$0")/lib_fail.sh"

ORDERS=50000
SKUS=200
TABLES="'orders', 'order_lines', 'processed_events', 'stock'"
start_pg
migrate
start_broker 8

seq_scans() {
  psql_q "SELECT string_agg(relname || '=' || seq_scan, ' ' ORDER BY relname)
            FROM pg_stat_user_tables WHERE relname IN ($TABLES)"
}

# ---- 1. the plans of a first batch ------------------------------------------
# A batch of stock receipts, one of new orders (with a payment for an order not
# seen yet), one settling them, as a worker sends them, each planned on the
# empty database; auto_explain sends every nested statement's plan to psql.
batch() { # TYPES EVENT_IDS ORDER_IDS SKUS QTYS LINE_EV LINE_SKU LINE_QTY TOPIC
  local n
  n=$(tr -cd ',' <<<"$1" | wc -c)
  n=$((n + 1))
  cat <<SQL
BEGIN;
SELECT sf_lock_batch('$3', '$4', '$7');
SELECT pos, outcome FROM sf_apply_batch('$1', '$2',
  array_fill((extract(epoch FROM now()) * 1000)::bigint, ARRAY[$n]), '$3', '$4', '$5',
  array_fill(0, ARRAY[$n]), array_fill(NULL::text, ARRAY[$n]), array_fill('$9'::text, ARRAY[$n]),
  array_fill(0, ARRAY[$n]), (SELECT array_agg(g::bigint) FROM generate_series(1, $n) g),
  '$6', '$7', '$8', 900, $n > 1);
COMMIT;
SQL
}
{
  printf '%s\n' "LOAD 'auto_explain';" "SET auto_explain.log_min_duration = 0;" \
    "SET auto_explain.log_nested_statements = on;" "SET auto_explain.log_level = notice;"
  batch '{stock.received,stock.received,stock.received}' '{fp-r1,fp-r2,fp-r3}' '{NULL,NULL,NULL}' \
    '{fp-a,fp-b,fp-c}' '{10,10,1}' '{}' '{}' '{}' inventory.stock
  batch '{order.created,order.created,order.created,payment.succeeded}' '{fp-c1,fp-c2,fp-c3,fp-p9}' \
    '{fp-o1,fp-o2,fp-o3,fp-o9}' '{NULL,NULL,NULL,NULL}' '{0,0,0,0}' '{1,2,2,3}' \
    '{fp-a,fp-a,fp-b,fp-c}' '{1,1,2,1}' inventory.orders
  batch '{payment.succeeded,payment.failed,order.cancelled}' '{fp-p1,fp-f2,fp-x3}' \
    '{fp-o1,fp-o2,fp-o3}' '{NULL,NULL,NULL}' '{0,0,0}' '{}' '{}' '{}' inventory.payments
} >"$SF_TMP/first.sql"
psql "$DATABASE_URL" -X -v ON_ERROR_STOP=1 -f "$SF_TMP/first.sql" >"$SF_TMP/first.out" 2>"$SF_TMP/plans.txt" ||
  fail "first batches: $(tail -n 5 "$SF_TMP/plans.txt")"
assert_eq "fp-o1 committed|fp-o2 payment_failed|fp-o3 cancelled|fp-o9 awaiting_order" \
  "$(psql_q "SELECT string_agg(order_id || ' ' || state, '|' ORDER BY order_id) FROM order_status")" \
  "orders after the first batches"
nplans=$(grep -c 'Query Text:' "$SF_TMP/plans.txt" || true)
((nplans >= 20)) || fail "auto_explain printed $nplans plans for the first batches (expected the nested statements)"
bad=$(grep -E "Seq Scan on (orders|order_lines|processed_events|stock)\b" "$SF_TMP/plans.txt" | sed 's/^ *//' | sort | uniq -c || true)
assert_eq "" "$bad" "Seq Scan on the apply path's tables in the first batches' plans ($nplans plans)"
# enable_seqscan = off only adds a cost (1e10) to a scan it cannot avoid; such
# a cost would also make PostgreSQL JIT-compile the statement (hundreds of ms)
bad=$(grep -E "JIT:|cost=[0-9]{10,}" "$SF_TMP/plans.txt" | sed 's/^ *//' | sort | uniq -c || true)
assert_eq "" "$bad" "disabled scans or JIT in the first batches' plans"
note "first batches: $nplans plans, none with a sequential scan of $TABLES, none compiled"

# ---- 2. a stream through the workers ----------------------------------------
gen stock --skus "$SKUS" --qty 1000000 --prefix sku- >"$SF_TMP/stock.txt"
produce inventory.stock "$SF_TMP/stock.txt"
start_worker stock
stock_pid=$WORKER_PID
wait_idle 60 stockflow-stock
stop_worker "$stock_pid"   # its statistics are flushed when its session ends
sleep 1.2
before=$(seq_scans)
note "seq_scan before the stream: $before"

gen orders --orders "$ORDERS" --skus "$SKUS" --seed 14 --prefix fo- >"$SF_TMP/orders.txt"
# payments for the first 8,000 orders (held: set-based settlement), failures
# and cancellations for the next 2,000, payments for 2,000 orders never created
python3 - "$SF_TMP/pay.txt" "$SF_TMP/cancel.txt" <<'PY'
import json, sys
def ev(t, eid, oid):
    return f'{oid}|' + json.dumps({"event_id": eid, "type": t, "occurred_at": "2026-11-27T10:05:00Z",
                                   "order_id": oid}, separators=(",", ":"))
with open(sys.argv[1], "w") as pay, open(sys.argv[2], "w") as can:
    for i in range(0, 8000):
        pay.write(ev("payment.succeeded", f"fp-pay-{i}", f"fo-{i:05d}") + "\n")
    for i in range(8000, 9000):
        pay.write(ev("payment.failed", f"fp-fail-{i}", f"fo-{i:05d}") + "\n")
    for i in range(9000, 10000):
        can.write(ev("order.cancelled", f"fp-can-{i}", f"fo-{i:05d}") + "\n")
    for i in range(0, 2000):
        pay.write(ev("payment.succeeded", f"fp-pay-x{i}", f"fx-{i:05d}") + "\n")
PY
head -n 1 "$SF_TMP/orders.txt" | grep -q '^fo-00000|' || fail "gen orders: unexpected order ids: $(head -c 80 "$SF_TMP/orders.txt")"

start_worker order
order_pid=$WORKER_PID
t0=$SECONDS
produce inventory.orders "$SF_TMP/orders.txt"
wait_idle 300 stockflow-order
note "$ORDERS orders applied in $((SECONDS - t0)) s by one order-worker"
start_worker payment
pay_pid=$WORKER_PID
produce inventory.payments "$SF_TMP/pay.txt"
produce inventory.orders "$SF_TMP/cancel.txt"
wait_idle 120 stockflow-order stockflow-payment
# the relay (one of the workers) publishes every ledger record
wait_for "every outbox row published" 120 sql_equals "SELECT count(*) FROM ${PENDING:-outbox_pending}" 0
stop_workers "$order_pid" "$pay_pid"
sleep 1.2
after=$(seq_scans)
note "seq_scan after the stream:  $after"
# the rows each table got, per event (flushed when the sessions ended)
writes=$(psql_q "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables
                  WHERE n_tup_ins + n_tup_upd + n_tup_del > 0 ORDER BY relname")
nev=$(psql_q "SELECT count(*) FROM processed_events")
while read -r l; do note "$l"; done < <(awk -F'|' -v n="$nev" \
  '{ printf "writes per event: %-20s inserted %6.3f  updated %6.3f  deleted %6.3f\n", $1, $2 / n, $3 / n, $4 / n }' <<<"$writes")
assert_eq 0 "$(psql_q "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'outbox'")" \
  "outbox rows updated (the relay moves its cursor, one row per round)"

assert_eq "$ORDERS" "$(psql_q "SELECT count(*) FROM orders WHERE order_id LIKE 'fo-%'")" "orders of the stream"
assert_eq 2000 "$(psql_q "SELECT count(*) FROM orders WHERE order_id LIKE 'fx-%' AND state = 'awaiting_order'")" \
  "payments for orders not seen yet"
assert_eq 0 "$(psql_q "SELECT count(*) FROM orders WHERE order_id BETWEEN 'fo-00000' AND 'fo-07999' AND state <> 'committed'")" \
  "paid orders not committed"
assert_eq "$((SKUS + ORDERS + 12000 + 3 + 4 + 3))" "$(psql_q "SELECT count(*) FROM processed_events")" "processed events"
assert_invariants
txns=$(psql_q "SELECT count(DISTINCT processed_at) FROM processed_events WHERE topic <> 'inventory.stock'")
assert_eq "$before" "$after" "seq_scan of $TABLES over $txns worker transactions on a fresh database"

# per-transaction time of the order-worker's backlog (start of the next
# transaction minus start of this one), first and last tenth
psql_q "WITH t AS (SELECT processed_at AS s FROM processed_events WHERE event_id LIKE 'ev-fo-%'
                    GROUP BY processed_at),
             d AS (SELECT s, lead(s) OVER (ORDER BY s) - s AS d, ntile(10) OVER (ORDER BY s) AS q FROM t)
        SELECT format('order-worker transactions: %s; ms each, first tenth %s, last tenth %s',
                      count(*), round(extract(epoch FROM avg(d) FILTER (WHERE q = 1)) * 1000),
                      round(extract(epoch FROM avg(d) FILTER (WHERE q = 10)) * 1000))
          FROM d WHERE d IS NOT NULL" | while read -r l; do note "$l"; done
