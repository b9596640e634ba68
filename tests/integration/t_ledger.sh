#!/usr/bin/env bash
# The ledger (issue 4, DESIGN §2, §5.5): after a mixed stream (stock
# receipts and adjustments, 600 orders: paid, cancelled, failed then paid,
# unpaid with 2 s holds that expire; life.py mix) applied by stock-, order-,
# payment- and timeout-workers:
#  - nothing on any retry or dead-letter topic, the state the stream gives;
#  - every outbox row is published (none left in outbox_pending);
#  - inventory.ledger holds exactly the outbox's ledger rows: same count, each
#    seq once, the record key equal to the payload's key, every key on one
#    partition with its seqs increasing in offset order;
#  - replaying the ledger alone into a fresh database (here with kcat + jq +
#    psql: per SKU key the record with the highest seq gives the stock row,
#    per order the record with the highest seq gives the order row and its
#    lines) reproduces stock_levels and order_status (state, expires_at) of
#    the live database, and the stock counters (received, adjusted,
#    committed, oversold) and order facts row for row.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_fail.sh
source "$(dirname "$0")/lib_fail.sh"

ORDERS=${ORDERS:-600}
SKUS=12
t0=$(fail_now_ms)
python3 "$SF_LIB_DIR/life.py" mix --seed 61 --orders "$ORDERS" --skus "$SKUS" --t0 "$t0" --out "$SF_TMP/mx"
# adjustments: found and damaged units on half the SKUs, and a SKU that only
# ever sees adjustments
for ((i = 0; i < SKUS / 2; i++)); do
  printf 'mx-sku-%02d|{"event_id":"adj-found-%d","type":"stock.adjusted","occurred_at":"2026-11-27T10:00:00Z","sku":"mx-sku-%02d","delta":7,"reason":"found"}\n' "$i" "$i" "$i"
  printf 'mx-sku-%02d|{"event_id":"adj-damaged-%d","type":"stock.adjusted","occurred_at":"2026-11-27T10:00:01Z","sku":"mx-sku-%02d","delta":-4,"reason":"damaged"}\n' "$i" "$i" "$i"
done >"$SF_TMP/adjust.txt"
printf 'mx-only-adj|{"event_id":"adj-only","type":"stock.adjusted","occurred_at":"2026-11-27T10:00:02Z","sku":"mx-only-adj","delta":5,"reason":"found"}\n' >>"$SF_TMP/adjust.txt"

start_pg
migrate
live_db=$DATABASE_URL
start_broker 6
produce inventory.stock "$SF_TMP/mx/stock.txt"
start_worker stock
s1=$WORKER_PID
start_worker order
o1=$WORKER_PID
start_worker payment
p1=$WORKER_PID
start_worker timeout
x1=$WORKER_PID
wait_assigned "$s1" "$o1" "$p1" # (timeout-worker logs no assignment)
# the first receipts cover every order: applied before any order arrives
wait_processed "$(wc -l <"$SF_TMP/mx/stock.txt")" 60
produce inventory.orders "$SF_TMP/mx/orders.txt"
produce inventory.stock "$SF_TMP/mx/stock_late.txt"
produce inventory.stock "$SF_TMP/adjust.txt"
produce inventory.payments "$SF_TMP/mx/payments.txt"
wait_idle 120 stockflow-order stockflow-stock stockflow-payment stockflow-timeout
want_expired=$(sed -n 's/^C|expired|//p' "$SF_TMP/mx/expect.txt")
expired_sql="SELECT count(*) FROM orders WHERE state = 'expired'"
deadline=$((SECONDS + 60))
until sql_equals "$expired_sql" "$want_expired"; do
  if ((SECONDS >= deadline)); then
    note "orders per state: $(psql_q "SELECT string_agg(state || ' ' || n, ', ') FROM (SELECT state, count(*) n FROM orders GROUP BY state) s")"
    note "payment watermark: $(psql_q "SELECT min(watermark) FROM consumer_watermarks"), now: $(psql_q "SELECT now()")"
    fail "timed out after 60 s waiting for $want_expired expired orders (got $(psql_q "$expired_sql"))"
  fi
  sleep 0.2
done
assert_alive "$s1" "$o1" "$p1" "$x1"
# nothing needed a retry (a light load: no lock waits of 2 s), nothing dead
assert_no_retry_dlq

# the live state is the one the stream gives
assert_eq "$(grep '^C|' "$SF_TMP/mx/expect.txt")" \
  "$(psql_q "SELECT format('C|%s|%s', state, count(*)) FROM orders GROUP BY state ORDER BY state")" "orders per state"
assert_eq "$(grep '^S|' "$SF_TMP/mx/expect.txt")" \
  "$(psql_q "SELECT format('S|%s|%s|%s', sku, received_total, committed_total) FROM stock WHERE sku LIKE 'mx-sku-%' ORDER BY sku")" \
  "stock received|committed per SKU"
half_skus=$((SKUS / 2))
assert_eq "$((half_skus * 3 + 5))" "$(psql_q "SELECT sum(adjusted_total) FROM stock")" "adjustments in all"
assert_invariants
n_events=$(cat "$SF_TMP/mx/"{stock,stock_late,orders,payments}.txt "$SF_TMP/adjust.txt" | wc -l)
assert_processed_exactly "$SF_TMP/mx/"{stock,stock_late,orders,payments}.txt "$SF_TMP/adjust.txt"

# ---- outbox -> inventory.ledger -----------------------------------------------
wait_for "every outbox row published" 60 sql_equals "SELECT count(*) FROM outbox_pending" 0
psql_q "SELECT id FROM outbox WHERE topic = 'inventory.ledger' ORDER BY id" >"$SF_TMP/outbox.seq"
rows=$(wc -l <"$SF_TMP/outbox.seq")
note "$n_events events, $rows ledger rows in the outbox"
wait_for "$rows records on inventory.ledger" 60 topic_has inventory.ledger "$rows"
kcat -C -b "$KAFKA_BROKERS" -t inventory.ledger -o beginning -e -q -J 2>>"$SF_TMP/kcat.log" |
  jq -c '{p: .partition, o: .offset, k: .key, v: (.payload | fromjson)}' >"$SF_TMP/ledger.jsonl"
assert_eq "$rows" "$(wc -l <"$SF_TMP/ledger.jsonl")" "records on inventory.ledger (= outbox ledger rows)"
jq -r '.v.seq' "$SF_TMP/ledger.jsonl" | sort -n >"$SF_TMP/ledger.seq"
assert_eq "$rows" "$(sort -u "$SF_TMP/ledger.seq" | wc -l)" "distinct seq values on inventory.ledger"
assert_files_eq "$SF_TMP/outbox.seq" "$SF_TMP/ledger.seq" "seq values on inventory.ledger = outbox ids"
assert_eq 0 "$(jq -c 'select(.k != .v.key)' "$SF_TMP/ledger.jsonl" | wc -l)" "records whose Kafka key differs from the payload key"
bad=$(jq -sc 'group_by(.k)[] | sort_by(.o) as $r
              | select(($r | map(.p) | unique | length) != 1
                       or ($r | map(.v.seq)) != ($r | map(.v.seq) | sort))
              | {key: $r[0].k, partitions: ($r | map(.p) | unique), seqs: ($r | map(.v.seq))[0:10]}' \
  "$SF_TMP/ledger.jsonl")
assert_eq "" "$bad" "keys spread over partitions or with seq not increasing in offset order"
nkeys=$(jq -r .k "$SF_TMP/ledger.jsonl" | sort -u | wc -l)
note "inventory.ledger: $rows records, $nkeys keys, seq unique and increasing per key"
assert_eq 0 "$(jq -c 'select(.v.cause.event_id == null)' "$SF_TMP/ledger.jsonl" | wc -l)" "ledger records without a cause event id"

# ---- replay into a fresh database ------------------------------------------------
# $r$-quoted JSON literals: the payloads never contain "$r$"
grep -qF "\$r\$" "$SF_TMP/ledger.jsonl" && fail "a ledger payload contains \$r\$"
jq -sr '
  ([.[] | select(.v.stock != null)] | group_by(.k) | map(max_by(.v.seq).v.stock)) as $stock
  | ([.[] | select(.v.order != null)] | group_by(.v.order.order_id) | map(max_by(.v.seq).v.order)) as $orders
  | "BEGIN;",
    ($stock[] | "INSERT INTO stock SELECT * FROM jsonb_populate_record(NULL::stock, $r$\(tojson)$r$::jsonb);"),
    ($orders[] | "INSERT INTO orders SELECT * FROM jsonb_populate_record(NULL::orders, $r$\(tojson)$r$::jsonb);",
                 "INSERT INTO order_lines (order_id, sku, qty) SELECT o ->> '"'order_id'"', l ->> '"'sku'"', (l ->> '"'qty'"')::bigint FROM (SELECT $r$\(tojson)$r$::jsonb AS o) x, jsonb_array_elements(o -> '"'lines'"') l;"),
    "COMMIT;"' "$SF_TMP/ledger.jsonl" >"$SF_TMP/replay.sql"

# live: the contract views and the rows behind them
dump_views >"$SF_TMP/live-views.txt"
rows_sql="SELECT format('S|%s|%s|%s|%s|%s|%s|%s|%s', sku, on_hand, reserved, safety_stock, received_total,
                        adjusted_total, committed_total, oversold) FROM stock ORDER BY sku COLLATE \"C\";
          SELECT format('O|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', order_id, state, created, created_at, hold_seconds,
                        expires_at, cancelled_at, paid_at, failed_at, rejected, expired)
            FROM orders ORDER BY order_id COLLATE \"C\";
          SELECT format('L|%s|%s|%s', order_id, sku, qty) FROM order_lines ORDER BY order_id COLLATE \"C\", sku COLLATE \"C\""
psql_q "$rows_sql" >"$SF_TMP/live-rows.txt"
stop_workers "$s1" "$o1" "$p1" "$x1"

new_db replay
migrate
psql "$DATABASE_URL" -Xq -v ON_ERROR_STOP=1 -f "$SF_TMP/replay.sql" >"$SF_TMP/replay.out" 2>&1 ||
  fail "the replay failed: $(tail -n 3 "$SF_TMP/replay.out")"
note "replayed into a fresh database: $(psql_q "SELECT count(*) FROM stock") stock rows, $(psql_q "SELECT count(*) FROM orders") orders"
dump_views >"$SF_TMP/replay-views.txt"
psql_q "$rows_sql" >"$SF_TMP/replay-rows.txt"
assert_files_eq "$SF_TMP/live-views.txt" "$SF_TMP/replay-views.txt" \
  "stock_levels and order_status rebuilt from inventory.ledger = live"
assert_files_eq "$SF_TMP/live-rows.txt" "$SF_TMP/replay-rows.txt" \
  "stock, orders and order_lines rows rebuilt from inventory.ledger = live (DESIGN §5.5: row for row)"
assert_invariants
DATABASE_URL=$live_db
