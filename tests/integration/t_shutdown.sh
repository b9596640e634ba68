#!/usr/bin/env bash
# Graceful shutdown under load (issue 5): SIGTERM two order-workers while a
# 8,000-event stream is being applied -> each exits 0 within 10 s (the time
# is printed); restarted, they finish the stream with every order decided
# once: processed_events holds each event id once, and the invariants hold.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

start_pg
migrate
start_broker 6

gen stock --skus 50 --qty 100000 >"$SF_TMP/stock.txt"
produce inventory.stock "$SF_TMP/stock.txt"
start_worker stock
stock_pid=$WORKER_PID
wait_idle 60 stockflow-stock

gen orders --orders 8000 --skus 50 --seed 5 >"$SF_TMP/orders.txt"
start_worker order BATCH_MAX=100
w1=$WORKER_PID
start_worker order BATCH_MAX=100
w2=$WORKER_PID
wait_assigned "$w1" "$w2"
produce inventory.orders "$SF_TMP/orders.txt"

# wait until the workers are in the middle of the stream
some_applied() {
  (($(psql_q "SELECT count(*) FROM processed_events WHERE type = 'order.created'") >= 1000))
}
wait_for "1000 orders applied" 60 some_applied
applied_at_stop=$(psql_q "SELECT count(*) FROM processed_events WHERE type = 'order.created'")
((applied_at_stop < 8000)) || fail "the stream was already consumed: nothing to stop in the middle of"

t0=$(date +%s%N)
kill -TERM "$w1" "$w2"
for pid in "$w1" "$w2"; do
  stop_worker "$pid" signalled
  ms=$((($(date +%s%N) - t0) / 1000000))
  note "$(basename "$(worker_log "$pid")" .log) exited 0, ${ms} ms after SIGTERM"
  ((ms <= 10000)) || fail "shutdown took ${ms} ms, over 10 s"
done
echo "shutdown: both order-workers stopped within $((($(date +%s%N) - t0) / 1000000)) ms of SIGTERM, at $applied_at_stop of 8000 orders"
grep -q 'stopping: committing offsets' "$(worker_log "$w1")" || fail "no orderly stop logged"

start_worker order
start_worker order
wait_idle 120 stockflow-order

assert_eq 8000 "$(psql_q "SELECT count(*) FROM processed_events WHERE type = 'order.created'")" \
  "order.created events applied, each once"
assert_eq 8000 "$(psql_q "SELECT count(*) FROM orders WHERE created")" "orders decided"
assert_eq 0 "$(psql_q "SELECT count(*) FROM (SELECT order_id FROM order_lines GROUP BY order_id, sku HAVING count(*) > 1) d")" \
  "no order line recorded twice"
assert_invariants
stop_workers "$stock_pid"
note "ok"
