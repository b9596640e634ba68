#!/usr/bin/env bash
# Load with contention: 50 SKUs, 5,000 orders of 1-3 lines (qty 1-3), stock
# for about a third of the demand, three order-workers -> every order decided,
# DESIGN §5.1/§5.2 hold, nothing below zero, per-SKU reserved equals the sum
# of the reserved orders' lines as generated, and no order was rejected that
# the final stock could still have served (stock only shrinks here, so such
# an order was rejected wrongly).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

ORDERS=5000
SKUS=50
start_pg
migrate
start_broker 6

gen stock --skus "$SKUS" --qty 100 --qty-max 160 --seed 11 >"$SF_TMP/stock.txt"
gen orders --orders "$ORDERS" --skus "$SKUS" --seed 12 --prefix ct- >"$SF_TMP/orders.txt"
produce inventory.stock "$SF_TMP/stock.txt"
start_worker stock
stock_pid=$WORKER_PID
wait_idle 60 stockflow-stock
assert_eq "$SKUS" "$(psql_q "SELECT count(*) FROM stock_levels WHERE reserved = 0 AND on_hand >= 100")" "SKUs received"

start_worker order
w1=$WORKER_PID
start_worker order
w2=$WORKER_PID
start_worker order
w3=$WORKER_PID
wait_assigned "$w1" "$w2" "$w3"
t0=$SECONDS
produce inventory.orders "$SF_TMP/orders.txt"
wait_idle 120
note "$ORDERS orders consumed in $((SECONDS - t0)) s by 3 order-workers"

assert_eq "$ORDERS" "$(psql_q "SELECT count(*) FROM order_status")" "orders in order_status"
assert_eq "$ORDERS" "$(psql_q "SELECT count(*) FROM order_status WHERE state IN ('reserved', 'rejected')")" \
  "orders decided (reserved + rejected)"
nres=$(psql_q "SELECT count(*) FROM order_status WHERE state = 'reserved'")
note "reserved $nres, rejected $((ORDERS - nres))"
((nres > 500 && nres < ORDERS - 500)) || fail "expected real contention (between 500 and $((ORDERS - 500)) reserved), got $nres reserved"
assert_eq "$((ORDERS + SKUS))" "$(psql_q "SELECT count(*) FROM processed_events")" "processed events"
assert_invariants

# reserved per SKU against the generated lines of the reserved orders
psql_q "SELECT order_id FROM order_status WHERE state = 'reserved'" >"$SF_TMP/reserved.ids"
gen sumlines "$SF_TMP/orders.txt" "$SF_TMP/reserved.ids" >"$SF_TMP/expected-reserved.txt"
psql_q "SELECT sku || '|' || reserved FROM stock_levels WHERE reserved > 0 ORDER BY sku" >"$SF_TMP/actual-reserved.txt"
assert_files_eq "$SF_TMP/expected-reserved.txt" "$SF_TMP/actual-reserved.txt" "reserved per SKU = sum of reserved orders' lines"

# no order rejected that the final availability still covers
psql_q "SELECT order_id FROM order_status WHERE state = 'rejected'" >"$SF_TMP/rejected.ids"
psql_q "SELECT sku || '|' || available FROM stock_levels" >"$SF_TMP/available.txt"
wrong=$(gen check-rejected "$SF_TMP/orders.txt" "$SF_TMP/rejected.ids" "$SF_TMP/available.txt")
assert_eq "" "$wrong" "rejected orders that the remaining stock could serve"
# on_hand unchanged by reservations
assert_eq "$(cut -d'|' -f2 "$SF_TMP/stock.txt" | jq -r '"\(.sku)|\(.qty)"' | sort)" \
  "$(psql_q "SELECT sku || '|' || on_hand FROM stock_levels ORDER BY sku")" "on_hand per SKU"

stop_workers "$w1" "$w2" "$w3" "$stock_pid"
