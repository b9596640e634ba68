#!/usr/bin/env bash
# Conservation (DESIGN §5.2) over a mixed lifecycle stream: ORDERS orders over
# 8 SKUs, 80% paid, 10% cancelled, 5% failed then paid, 5% never paid (2 s
# holds), with stock receipts arriving during the stream; orders, payments and
# receipts produced at the same time, read by two order-workers, a
# payment-worker, a timeout-worker and a stock-worker. Expected: every order
# in the state its events give (the state counts), reserved back to 0,
# invariant_violations empty, and per SKU received_total and committed_total
# as produced, on_hand = received - committed; every event applied once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_life.sh"

ORDERS=${LIFE_ORDERS:-2000}

start_pg
migrate
start_broker 6
pids=()
start_role order
pids+=("$WORKER_PID")
start_role order
pids+=("$WORKER_PID")
start_role payment
pids+=("$WORKER_PID")
start_role timeout
pids+=("$WORKER_PID")
start_role stock
pids+=("$WORKER_PID")
wait_assigned "${pids[0]}" "${pids[1]}" "${pids[2]}" "${pids[4]}"
wait_payment_watermark 40

D=$SF_TMP/mix
life mix --seed 7 --orders "$ORDERS" --skus 8 --t0 "$(now_ms)" --out "$D"
produce inventory.stock "$D/stock.txt"
wait_idle 30 stockflow-stock

# the three topics at once
producers=()
for tf in inventory.orders:orders inventory.payments:payments inventory.stock:stock_late; do
  produce "${tf%%:*}" "$D/${tf#*:}.txt" &
  producers+=($!)
done
for p in "${producers[@]}"; do wait "$p" || fail "producing the stream failed"; done
nevents=$(cat "$D"/orders.txt "$D"/payments.txt "$D"/stock.txt "$D"/stock_late.txt | wc -l)
note "$nevents events produced"

expect_counts=$(grep '^C|' "$D/expect.txt" | cut -d'|' -f2- | LC_ALL=C sort)
wait_sql "every order settled" 60 \
  "SELECT string_agg(state || '|' || n, E'\n' ORDER BY state COLLATE \"C\")
     FROM (SELECT state, count(*) AS n FROM order_status GROUP BY state) s" "$expect_counts"
wait_idle 30 stockflow-order stockflow-payment stockflow-stock stockflow-timeout
note "states: $(printf '%s' "$expect_counts" | paste -sd, -)"

assert_invariants
assert_eq "$nevents" "$(psql_q "SELECT count(*) FROM processed_events")" "events applied (once each)"
assert_eq "$(grep '^S|' "$D/expect.txt" | cut -d'|' -f2- | LC_ALL=C sort)" \
  "$(psql_q "SELECT format('%s|%s|%s', sku, received_total, committed_total) FROM stock ORDER BY sku COLLATE \"C\"")" \
  "per SKU: received|committed"
assert_eq "" "$(psql_q "SELECT sku || ': on_hand ' || on_hand || ', received ' || received_total || ', committed ' || committed_total
                         || ', reserved ' || reserved FROM stock
                         WHERE on_hand <> received_total - committed_total OR reserved <> 0 OR adjusted_total <> 0")" \
  "SKUs where on_hand <> received - committed, or reserved <> 0"
assert_eq 0 "$(psql_q "SELECT count(*) FROM outbox WHERE key LIKE 'refund_required:%'")" "refund alerts (stock was enough)"
assert_eq 0 "$(psql_q "SELECT count(*) FROM orders WHERE state = 'committed' AND expired")" \
  "committed orders that had been released by expiry first"
stop_workers "${pids[@]}"
