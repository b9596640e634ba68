#!/usr/bin/env bash
# Dead-letter write failing (DESIGN §6, issue 4): the broker reports
# TOPIC_AUTHORIZATION_FAILED for inventory.orders.dlq (topic-error through
# the dev broker's control socket) while a poison event arrives on
# inventory.orders[0] between good orders ->
#  - while the fault lasts (until 35 s after the worker first reports it, past
#    the 30 s outage alert threshold): the
#    committed offset of inventory.orders[0] stays at the poison record
#    (stockctl lag shows it behind), an error naming the dead-letter topic is
#    logged, the worker pauses (logs the pause) and stays up, and an alert
#    is raised on inventory.alerts;
#  - once the fault is cleared, without a restart: exactly one dead letter
#    (poison, pointing at the poison record, key and value byte for byte),
#    the offset advances to the end, and every good order is applied exactly
#    once.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_fail.sh
source "$(dirname "$0")/lib_fail.sh"

# how long the fault stays after the worker first reports the failure (the
# outage alert threshold is 30 s)
FAULT_S=${FAULT_S:-35}

start_pg
migrate
start_broker_ctl 3

# order KEY: one order.created line (key|value) for 1 unit of sku-good.
order() {
  printf '%s|{"event_id":"ev-%s","type":"order.created","occurred_at":"2026-11-27T10:00:00Z","order_id":"%s","lines":[{"sku":"sku-good","qty":1}]}\n' \
    "$1" "$1" "$1"
}

printf 'sku-good|{"event_id":"r-1","type":"stock.received","occurred_at":"2026-11-27T09:00:00Z","sku":"sku-good","qty":1000}\n' >"$SF_TMP/stock.txt"
produce inventory.stock "$SF_TMP/stock.txt"
start_worker stock
s1=$WORKER_PID
wait_idle 60 stockflow-stock
start_worker order
o1=$WORKER_PID
wait_assigned "$o1"

for i in 1 2 3; do order "before-$i"; done >"$SF_TMP/before.txt"
printf 'poison-1|{"event_id":"poison-1","type":"order.created","occurred_at":\n' >"$SF_TMP/poison.txt"
for i in 1 2 3 4 5; do order "after-$i"; done >"$SF_TMP/after.txt"
for i in 1 2 3 4 5 6; do order "other-$i"; done >"$SF_TMP/other.txt" # for partition 1

broker_ctl topic-error inventory.orders.dlq TOPIC_AUTHORIZATION_FAILED
t_fault=$SECONDS
produce inventory.orders "$SF_TMP/before.txt" -p 0
produce inventory.orders "$SF_TMP/poison.txt" -p 0
produce inventory.orders "$SF_TMP/after.txt" -p 0
poison_off=3 # the fourth record of partition 0
assert_eq poison-1 "$(record_bytes inventory.orders 0 "$poison_off" key)" "key of inventory.orders[0] offset $poison_off"

# the record waits in the producer queue until message.timeout.ms (30 s)
wait_log_line "$o1" '"level":"error".*inventory\.orders\.dlq' 60
t_err=$SECONDS
note "first failure reported $((t_err - t_fault)) s after the fault was set"
note "error logged: $(grep -E '"level":"error".*inventory\.orders\.dlq' "$(worker_log "$o1")" | head -n 1 | cut -c1-300)"
wait_log_line "$o1" '"level":"error".*paus' 10
note "pause logged: $(grep -E '"level":"error".*paus' "$(worker_log "$o1")" | head -n 1 | cut -c1-300)"
produce inventory.orders "$SF_TMP/other.txt" -p 1 # another partition, during the fault
wait_sql() { wait_for "$1" "$2" sql_equals "$3" "$4"; }
wait_sql "the orders before the poison" 30 "SELECT count(*) FROM processed_events WHERE event_id LIKE 'ev-before-%'" 3

# committed_is GROUP TOPIC PARTITION OFFSET: for wait_for.
committed_is() {
  local l
  l=$(group_lag "$1" "$2" "$3")
  [[ ${l%% *} == "$4" ]]
}
wait_for "the committed offset of inventory.orders[0] at the poison record ($poison_off)" 20 \
  committed_is stockflow-order inventory.orders 0 "$poison_off"

checks=0
while ((SECONDS - t_err < FAULT_S)); do
  read -r committed end lag < <(group_lag stockflow-order inventory.orders 0)
  assert_eq "$poison_off" "$committed" "committed offset of inventory.orders[0] while the dead letter cannot be written"
  assert_eq 9 "$end" "end offset of inventory.orders[0]"
  ((lag >= 1)) || fail "stockctl lag shows lag $lag on inventory.orders[0] while the dead letter cannot be written"
  assert_alive "$o1"
  checks=$((checks + 1))
  sleep 2
done
note "$checks checks over $((SECONDS - t_err)) s after the first failure: offset held at $poison_off, lag $lag"
# (orders behind the poison in the same batch may be applied already: their
# offsets are not stored either, and reading them again is idempotent)
# not asserted: the worker pauses all its partitions, not only the stuck one
note "orders produced to inventory.orders[1] during the fault and applied before it was cleared: $(processed_count "event_id LIKE 'ev-other-%'") of 6"

topic_records inventory.alerts >"$SF_TMP/alerts.json"
note "inventory.alerts during the fault: $(wc -l <"$SF_TMP/alerts.json") record(s): $(jq -r .payload "$SF_TMP/alerts.json" | cut -c1-200 | head -n 3)"
# the order-worker's outage alert, valid JSON with every field (DESIGN §6)
well_formed=$(jq -r '.payload | fromjson? | select(.kind == "outage" and .severity == "critical"
  and (.alert_id | startswith("outage:order-worker@")) and (.occurred_at | test("^[0-9-]+T[0-9:]+Z$"))
  and (.summary | startswith("order-worker paused for ")) and (.details.since_ms | type) == "number"
  and (.details.worker | startswith("order-worker@")) and (.details.reason | length) > 0) | .alert_id' \
  "$SF_TMP/alerts.json" | wc -l)
alert_ok=1
((well_formed >= 1)) || alert_ok=0

broker_ctl topic-error inventory.orders.dlq NO_ERROR
wait_for "the dead letter once the fault is cleared" 60 topic_has inventory.orders.dlq 1
wait_idle 60 stockflow-order
sleep 1 # a second dead letter would show up now
assert_eq 1 "$(topic_count inventory.orders.dlq)" "dead letters after the fault is cleared"
rec=$(topic_records inventory.orders.dlq)
hdr() { jq -r --arg k "$1" '.h[$k] // "<missing>"' <<<"$rec"; }
assert_eq poison "$(hdr x-error-class)" "x-error-class"
assert_eq inventory.orders "$(hdr x-original-topic)" "x-original-topic"
assert_eq 0 "$(hdr x-original-partition)" "x-original-partition"
assert_eq "$poison_off" "$(hdr x-original-offset)" "x-original-offset"
cut -d'|' -f2- "$SF_TMP/poison.txt" | tr -d '\n' >"$SF_TMP/want.value"
record_bytes inventory.orders.dlq "$(jq -r .partition <<<"$rec")" "$(jq -r .offset <<<"$rec")" value >"$SF_TMP/got.value"
assert_files_eq "$SF_TMP/want.value" "$SF_TMP/got.value" "dead letter value byte for byte"
read -r committed end lag < <(group_lag stockflow-order inventory.orders 0)
assert_eq "9|9|0" "$committed|$end|$lag" "inventory.orders[0] committed|end|lag after the fault"
assert_processed_exactly "$SF_TMP/stock.txt" "$SF_TMP/before.txt" "$SF_TMP/after.txt" "$SF_TMP/other.txt"
assert_eq "1000|14" "$(psql_q "SELECT on_hand || '|' || reserved FROM stock_levels WHERE sku = 'sku-good'")" "sku-good on_hand|reserved"
assert_invariants
assert_alive "$o1" "$s1"
((alert_ok)) || fail "no well-formed outage alert on inventory.alerts after ${FAULT_S} s of failing dead-letter writes (DESIGN §6: 'the worker alerts')"
stop_workers "$o1" "$s1"
