#!/usr/bin/env bash
# safety_stock is enforced (DESIGN §4: available = on_hand - reserved -
# safety_stock; issue 16), on both apply paths of the order-worker:
#   one at a time (BATCH_MAX=1: each order.created alone through sf_apply)
#   and in one batch (three orders on one partition before the worker
#   starts: one transaction, the set-based path of sf_apply_batch).
# Per path, one SKU with on_hand 10 and safety_stock 3 (set with stockctl
# sku set, applied by the stock-worker), orders for 7, 1 and 1 units in that
# order: the 7 (exactly what is available) is reserved, both 1s are rejected,
# available ends at 0 and on_hand - reserved = 3 stays unsold. Ignoring
# safety_stock would reserve all three.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

start_pg
migrate
start_broker 6

{
  for s in ss-one ss-batch; do
    printf '%s|{"event_id":"recv-%s","type":"stock.received","occurred_at":"2026-12-01T10:00:00Z","sku":"%s","qty":10}\n' "$s" "$s" "$s"
  done
} >"$SF_TMP/stock.txt"
produce inventory.stock "$SF_TMP/stock.txt"
start_worker stock
stock_pid=$WORKER_PID
for s in ss-one ss-batch; do
  "$STOCKCTL" sku set "$s" --safety-stock 3 >>"$SF_TMP/sku-set.out" 2>&1 || fail "sku set $s: $(tail -n 1 "$SF_TMP/sku-set.out")"
done
wait_idle 60 stockflow-stock
assert_eq "ss-batch|10|0|3|7 ss-one|10|0|3|7" \
  "$(psql_q "SELECT string_agg(format('%s|%s|%s|%s|%s', sku, on_hand, reserved, safety_stock, available), ' '
               ORDER BY sku) FROM stock_levels")" "sku|on_hand|reserved|safety_stock|available before the orders"

# orders SKU PREFIX: order.created for 7, 1, 1 units of SKU, all keyed to partition 0.
orders() {
  local q n=0
  for q in 7 1 1; do
    n=$((n + 1))
    printf '%s-%d|{"event_id":"oc-%s-%d","type":"order.created","occurred_at":"2026-12-01T10:01:0%dZ","order_id":"%s-%d","lines":[{"sku":"%s","qty":%d}],"hold_seconds":604800}\n' \
      "$2" "$n" "$2" "$n" "$n" "$2" "$n" "$1" "$q"
  done
}
# check SKU PREFIX PATH: the outcome above, for the orders of PREFIX.
check() {
  assert_eq "$2-1 reserved|$2-2 rejected|$2-3 rejected" \
    "$(psql_q "SELECT string_agg(order_id || ' ' || state, '|' ORDER BY order_id) FROM order_status
                WHERE order_id LIKE '$2-%'")" "$3: the 7 reserved, the 1s rejected"
  assert_eq "10|7|3|0" "$(psql_q "SELECT format('%s|%s|%s|%s', on_hand, reserved, safety_stock, available)
                                   FROM stock_levels WHERE sku = '$1'")" "$3: on_hand|reserved|safety_stock|available"
}

# one at a time
orders ss-one one >"$SF_TMP/one.txt"
produce inventory.orders "$SF_TMP/one.txt" -p 0
start_worker order BATCH_MAX=1
wait_idle 60 stockflow-order
stop_worker "$WORKER_PID"
assert_eq 3 "$(psql_q "SELECT count(DISTINCT processed_at) FROM processed_events WHERE event_id LIKE 'oc-one-%'")" \
  "one at a time: three transactions"
check ss-one one "one at a time"

# in one batch: produced before the worker starts, so its first poll takes all three
orders ss-batch batch >"$SF_TMP/batch.txt"
produce inventory.orders "$SF_TMP/batch.txt" -p 0
start_worker order
wait_idle 60 stockflow-order
assert_eq 1 "$(psql_q "SELECT count(DISTINCT processed_at) FROM processed_events WHERE event_id LIKE 'oc-batch-%'")" \
  "in one batch: one transaction"
check ss-batch batch "in one batch"
assert_invariants
stop_worker "$WORKER_PID"
stop_worker "$stock_pid"
