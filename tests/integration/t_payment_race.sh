#!/usr/bin/env bash
# An order and its payment first seen at the same time by the order-worker
# and the payment-worker (the common case: the payment follows the order
# within milliseconds, and the two topics are read by different workers).
# 500 order.created and their 500 payment.succeeded, the payments produced in
# the opposite order, both topics produced before the two workers start, so
# their first batches hold the same new order ids in opposite orders. Every
# order must end committed within 30 s (it takes a few seconds), each event
# applied once, no event retried or dead-lettered, stock deducted once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_life.sh"

N=500

start_pg
migrate
psql_q "INSERT INTO stock (sku, on_hand, received_total) VALUES ('race-sku', 100000, 100000)"
start_broker 6
t0=$(now_ms)
life holds --t0 "$t0" --n "$N" --hold 600 --prefix race- --sku race-sku >"$SF_TMP/orders.txt"
life pay --t0 $((t0 + 100)) --n "$N" --prefix race- | tac >"$SF_TMP/payments.txt"
produce inventory.orders "$SF_TMP/orders.txt"
produce inventory.payments "$SF_TMP/payments.txt"
start_role order
order=$WORKER_PID
start_role payment
payment=$WORKER_PID
wait_sql "every order committed" 30 "SELECT count(*) FROM order_status WHERE state = 'committed'" "$N"
wait_idle 30 stockflow-order stockflow-payment
assert_eq $((2 * N)) "$(psql_q "SELECT count(*) FROM processed_events")" "events applied"
assert_eq "$((100000 - N))|0|$N" "$(psql_q "SELECT on_hand || '|' || reserved || '|' || committed_total FROM stock")" \
  "race-sku on_hand|reserved|committed"
routed=$(for t in inventory.orders.retry.1 inventory.payments.retry.1 inventory.orders.dlq inventory.payments.dlq; do
  topic_records "$t"
done | wc -l)
assert_eq 0 "$routed" "events sent to a retry or dead-letter topic"
assert_invariants
stop_workers "$order" "$payment"
