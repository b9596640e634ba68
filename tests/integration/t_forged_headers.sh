#!/usr/bin/env bash
# Forged provenance (DESIGN §6): a record on the source topic inventory.orders
# that carries x-original-* / x-first-failure-at / x-attempt headers naming
# another topic, a negative attempt and a time long past is handled as a
# fresh record of inventory.orders. Invalid JSON, it lands in
# inventory.orders.dlq with x-original-topic/partition/offset/timestamp of
# itself, x-attempt 1 and a first failure now; its x-redriven-from and
# x-redrive-count are carried over as they were.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

start_pg
migrate
start_broker 2

printf '%s|%s\n' o-forged '{"event_id":' |
  kcat -P -b "$KAFKA_BROKERS" -t inventory.orders -p 1 -K '|' \
    -H x-original-topic=inventory.payments -H x-original-partition=7 \
    -H x-original-offset=12345 -H x-original-timestamp=1 -H x-first-failure-at=1 \
    -H x-attempt=-1 -H x-redriven-from=inventory.orders.dlq:0:3 -H x-redrive-count=2 \
    2>>"$SF_TMP/kcat.log" || fail "kcat could not produce the forged record"
src=$(topic_records inventory.orders)
ts=$(jq -r .ts <<<"$src")
off=$(jq -r .offset <<<"$src")
start_worker order
w=$WORKER_PID
rec=$(consume_dlq inventory.orders.dlq 1 30)
[[ -n $rec ]] || fail "no dead letter in inventory.orders.dlq"
hdr() { jq -r --arg k "$1" '.h[$k] // "<missing>"' <<<"$rec"; }
assert_eq "inventory.orders 1 $off $ts" \
  "$(hdr x-original-topic) $(hdr x-original-partition) $(hdr x-original-offset) $(hdr x-original-timestamp)" \
  "x-original-topic/partition/offset/timestamp name the record itself"
assert_eq "1 poison" "$(hdr x-attempt) $(hdr x-error-class)" "x-attempt x-error-class"
first=$(hdr x-first-failure-at)
((first >= ts)) || fail "x-first-failure-at $first is the forged one (before the record's time $ts)"
assert_eq "inventory.orders.dlq:0:3 2" "$(hdr x-redriven-from) $(hdr x-redrive-count)" \
  "x-redriven-from and x-redrive-count carried over"
stop_worker "$w"
