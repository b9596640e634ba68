#!/usr/bin/env bash
# A batch that fails as a whole on a deadlock is tried again as a whole, not
# applied one event per transaction (common/batch.c, apply_valid).
#
# psql locks the stock row of sku-dl-b; an order-worker's batch holds seven
# orders, one of them for sku-dl-a and sku-dl-b: the batch locks sku-dl-a
# (rows in SKU order) and waits for sku-dl-b. psql then asks for sku-dl-a: a
# deadlock, which the worker's session finds (psql's deadlock_timeout is
# 30 s, the worker's the server's 1 s) and loses. psql gets the row and ends
# its transaction. Expected: the worker logs the failed batch (40P01) and
# "trying it again as a whole", never "applying one by one"; every order is
# applied exactly once (all reserved, stock reserved as ordered), nothing on
# a retry topic or the DLQ, the invariants hold.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_fail.sh
source "$(dirname "$0")/lib_fail.sh"

start_pg
migrate
start_broker 1

{
  printf 'sku-dl-a|{"event_id":"r-a","type":"stock.received","occurred_at":"2026-11-27T09:00:00Z","sku":"sku-dl-a","qty":10}\n'
  printf 'sku-dl-b|{"event_id":"r-b","type":"stock.received","occurred_at":"2026-11-27T09:00:00Z","sku":"sku-dl-b","qty":10}\n'
  printf 'sku-good|{"event_id":"r-g","type":"stock.received","occurred_at":"2026-11-27T09:00:00Z","sku":"sku-good","qty":100}\n'
} >"$SF_TMP/stock.txt"
produce inventory.stock "$SF_TMP/stock.txt"
start_worker stock
wait_idle 60 stockflow-stock

# order KEY LINES_JSON
order() {
  printf '%s|{"event_id":"ev-%s","type":"order.created","occurred_at":"2026-11-27T10:00:00Z","order_id":"%s","lines":%s}\n' \
    "$1" "$1" "$1" "$2"
}
{
  for i in 1 2 3; do order "o-good-$i" '[{"sku":"sku-good","qty":1}]'; done
  order o-dl '[{"sku":"sku-dl-a","qty":2},{"sku":"sku-dl-b","qty":2}]'
  for i in 4 5 6; do order "o-good-$i" '[{"sku":"sku-good","qty":1}]'; done
} >"$SF_TMP/orders.txt"

# the worker after lock_hold: start_worker closes psql's command pipe in it
# (SF_PRIVATE_FDS), else psql would never see its end and lock_release
# would wait for it forever
lock_hold sku-dl-b
start_worker order PG_LOCK_TIMEOUT_MS=10000
o1=$WORKER_PID
wait_assigned "$o1"
produce inventory.orders "$SF_TMP/orders.txt" -p 0

# worker_waits: the order-worker's session waits for a row lock.
worker_waits() {
  sql_equals "SELECT count(*) FROM pg_stat_activity
               WHERE application_name LIKE 'order-worker%' AND wait_event_type = 'Lock'" 1
}
wait_for "the order-worker's batch waiting for the row of sku-dl-b" 30 worker_waits
printf "SET deadlock_timeout = '30s';\nSELECT 'locked|' || sku FROM stock WHERE sku = 'sku-dl-a' FOR UPDATE;\n" >&"$LOCK_FD"
wait_for "psql to get the row of sku-dl-a (the worker lost the deadlock)" 20 \
  grep -qx 'locked|sku-dl-a' "$SF_TMP/lock.out"
lock_release

wait_processed 10 30
wait_log_line "$o1" 'failed \(transient: 40P01 [^)]*\); trying it again as a whole' 5
log_has "$o1" 'applying one by one' &&
  fail "the batch was applied one event per transaction after the deadlock: $(grep -m1 'one by one' "$(worker_log "$o1")")"
note "deadlock: the batch was tried again as a whole"

assert_eq 7 "$(psql_q "SELECT count(*) FROM orders WHERE state = 'reserved'")" "orders reserved"
assert_eq "2|2" "$(psql_q "SELECT string_agg(reserved::text, '|' ORDER BY sku) FROM stock WHERE sku IN ('sku-dl-a', 'sku-dl-b')")" \
  "units reserved on sku-dl-a and sku-dl-b"
assert_eq 6 "$(psql_q "SELECT reserved FROM stock WHERE sku = 'sku-good'")" "units reserved on sku-good"
assert_processed_exactly "$SF_TMP/stock.txt" "$SF_TMP/orders.txt"
assert_no_retry_dlq
assert_invariants
stop_worker "$o1"
