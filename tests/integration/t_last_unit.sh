#!/usr/bin/env bash
# Last unit: one SKU with 1 unit, 100 order.created for it over 6 partitions,
# two order-workers side by side -> exactly 1 reserved, 99 rejected,
# reserved = 1 on the SKU (DESIGN §4 rule 1, §5.1).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

start_pg
migrate
start_broker 6

printf '%s\n' 'last-unit|{"event_id":"recv-last","type":"stock.received","occurred_at":"2026-11-27T09:00:00Z","sku":"last-unit","qty":1}' \
  >"$SF_TMP/stock.txt"
produce inventory.stock "$SF_TMP/stock.txt"
start_worker stock
stock_pid=$WORKER_PID
wait_idle 60 stockflow-stock
assert_eq "1|0" "$(psql_q "SELECT on_hand || '|' || reserved FROM stock_levels")" "stock before the sale (on_hand|reserved)"

gen flash --sku last-unit --orders 100 --prefix lu- >"$SF_TMP/orders.txt"
# both workers in the group before the sale starts, so both compete for the unit
start_worker order
w1=$WORKER_PID
start_worker order
w2=$WORKER_PID
wait_assigned "$w1" "$w2"
produce inventory.orders "$SF_TMP/orders.txt"

parts=$(topic_records inventory.orders | jq -r .partition | sort -u | wc -l)
assert_eq 6 "$parts" "the 100 orders must be spread over all 6 partitions"

wait_idle 60
for pid in "$w1" "$w2"; do
  n=$(grep -c '' "$(worker_log "$pid")" || true)
  note "$(basename "$(worker_log "$pid")"): $n log lines"
done

assert_eq 100 "$(psql_q "SELECT count(*) FROM order_status")" "orders decided"
assert_eq 1 "$(psql_q "SELECT count(*) FROM order_status WHERE state = 'reserved'")" "reserved orders"
assert_eq 99 "$(psql_q "SELECT count(*) FROM order_status WHERE state = 'rejected'")" "rejected orders"
assert_eq "1|1|0" "$(psql_q "SELECT on_hand || '|' || reserved || '|' || available FROM stock_levels WHERE sku = 'last-unit'")" \
  "stock of last-unit (on_hand|reserved|available)"
assert_eq 101 "$(psql_q "SELECT count(*) FROM processed_events")" "processed events (1 receipt + 100 orders)"
assert_invariants

stop_workers "$w1" "$w2" "$stock_pid"
