#!/usr/bin/env bash
# Duplicates: every event produced twice (the copy right behind the original
# or later in the stream, so also inside one batch) -> exactly the state the
# stream gives once, as predicted by gen.py scenario; then the whole stream
# delivered a third time -> not one row changes (DESIGN §4, §5.3).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

start_pg
migrate
start_broker 6

gen scenario --orders 1500 --skus 30 --seed 21 --out "$SF_TMP/sc"
gen dup --seed 22 --adjacent 0.5 <"$SF_TMP/sc/stock.txt" >"$SF_TMP/stock2.txt"
gen dup --seed 23 --adjacent 0.5 <"$SF_TMP/sc/orders.txt" >"$SF_TMP/orders2.txt"
assert_eq $((2 * $(wc -l <"$SF_TMP/sc/orders.txt"))) "$(wc -l <"$SF_TMP/orders2.txt")" "doubled stream length"

produce inventory.stock "$SF_TMP/stock2.txt"
start_worker stock
stock_pid=$WORKER_PID
wait_idle 60 stockflow-stock
produce inventory.orders "$SF_TMP/orders2.txt"
start_worker order
w1=$WORKER_PID
start_worker order
w2=$WORKER_PID
wait_idle 90

dump_state >"$SF_TMP/state.txt"
assert_files_eq "$SF_TMP/sc/expect.txt" "$SF_TMP/state.txt" "state after the doubled stream = expected state of the stream once"
assert_invariants
unique=$(cat "$SF_TMP/sc/stock.txt" "$SF_TMP/sc/orders.txt" | cut -d'|' -f2- | jq -r .event_id | sort -u | wc -l)
assert_eq "$unique" "$(psql_q "SELECT count(*) FROM processed_events")" "processed_events rows (one per distinct event_id)"
recreated=$(grep -c '"event_id":"c2-' "$SF_TMP/sc/orders.txt" || true)
assert_eq "$recreated" "$(psql_q "SELECT count(*) FROM processed_events WHERE event_id LIKE 'c2-%' AND outcome = 'ignored'")" \
  "second order.created for a known order_id recorded 'ignored'"
# anything else recorded 'ignored' can only be an order.created whose
# cancellation was read first (the order ends cancelled without a hold)
assert_eq "" "$(psql_q "SELECT p.event_id || ' ' || p.type || ' ' || coalesce(o.state, '-') FROM processed_events p
                          LEFT JOIN order_status o USING (order_id)
                         WHERE p.outcome = 'ignored' AND p.event_id NOT LIKE 'c2-%'
                           AND NOT (p.type = 'order.created' AND o.state = 'cancelled') ORDER BY 1")" \
  "events recorded 'ignored' that changed something"

# a third delivery of everything, long after the first two
dump_views --updated-at >"$SF_TMP/before.txt"
psql_q "SELECT * FROM stock ORDER BY sku" >>"$SF_TMP/before.txt"
psql_q "SELECT count(*) FROM processed_events" >>"$SF_TMP/before.txt"
produce inventory.stock "$SF_TMP/sc/stock.txt"
produce inventory.orders "$SF_TMP/sc/orders.txt"
wait_idle 60
dump_views --updated-at >"$SF_TMP/after.txt"
psql_q "SELECT * FROM stock ORDER BY sku" >>"$SF_TMP/after.txt"
psql_q "SELECT count(*) FROM processed_events" >>"$SF_TMP/after.txt"
assert_files_eq "$SF_TMP/before.txt" "$SF_TMP/after.txt" "a third delivery changes no row"

stop_workers "$w1" "$w2" "$stock_pid"
