#!/usr/bin/env bash
# Batch byte bound: a batch stops at 8 MiB of records whatever BATCH_MAX says
# (BATCH_BYTES_MAX, common/worker_int.h), so the memory bound of a worker
# holds for records of up to the 64 KiB an event may have. 300 valid
# order.created of ~60 KB each (a padding field the schema allows) wait in
# the topic before an order-worker with BATCH_MAX 1000 starts -> every one is
# applied, no transaction holds more than 140 of them (8 MiB / 60 KB), and
# the consumer's read-ahead (16 MiB, ~270 records) let at least one batch
# reach the bound (more than 100), so the bound, not the supply, is what cut
# the batches.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

start_pg
migrate
start_broker 6

pad=$(head -c 60000 /dev/zero | tr '\0' 'x')
for i in $(seq 1 300); do
  printf 'bb-o-%d|{"event_id":"bb-e-%d","type":"order.created","occurred_at":"2026-11-27T09:00:00Z","order_id":"bb-o-%d","lines":[{"sku":"bb-sku","qty":1}],"pad":"%s"}\n' \
    "$i" "$i" "$i" "$pad"
done >"$SF_TMP/orders.txt"
produce inventory.orders "$SF_TMP/orders.txt"
assert_eq 300 "$(topic_records inventory.orders | wc -l)" "records in inventory.orders"

start_worker order BATCH_MAX=1000
w=$WORKER_PID
wait_idle 60 stockflow-order

assert_eq 300 "$(psql_q "SELECT count(*) FROM processed_events WHERE event_id LIKE 'bb-e-%'")" \
  "orders applied"
# one transaction: one processed_at (its start time, now())
sizes=$(psql_q "SELECT count(*) FROM processed_events WHERE event_id LIKE 'bb-e-%'
                 GROUP BY processed_at ORDER BY 1 DESC")
note "events per transaction: $(echo "$sizes" | tr '\n' ' ')"
largest=$(echo "$sizes" | head -n 1)
((largest <= 140)) || fail "a transaction applied $largest records of ~60 KB: more than 8 MiB in one batch"
((largest > 100)) || fail "no batch came near the 8 MiB bound (largest $largest): the test did not exercise it"
assert_invariants
stop_workers "$w"
