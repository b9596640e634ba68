#!/usr/bin/env bash
# A record far over the 64 KiB event limit that the broker still accepted
# (Kafka takes up to 1 MiB by default): its dead letter cannot carry a copy
# of that size plus the DESIGN §2 headers (Kafka refuses it as too large,
# which blocked the partition for good: found on Kafka, the development
# broker has no size limit). In one partition: an order, a 1,040,000-byte
# order.created, another order.
# -> the big record is dead-lettered without its value: x-value-omitted
#    names its size, x-error says "too large", x-original-* say where it is,
#    the key is kept; both good orders are applied (nothing blocked);
# -> `stockctl dlq redrive` refuses it (exit 1), naming the original's place;
# -> a 300 KiB record (under the copy limit) keeps its value byte for byte.
# Runs on either broker (SF_BROKER).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_fail.sh
source "$(dirname "$0")/lib_fail.sh"

start_pg
migrate
start_broker 2

order() { # ORDER_ID PAD_BYTES
  python3 -c 'import json, sys
o, pad = sys.argv[1], int(sys.argv[2])
e = {"event_id": "ev-" + o, "type": "order.created", "occurred_at": "2026-12-01T10:00:00Z",
     "order_id": o, "lines": [{"sku": "sku-x", "qty": 1}]}
if pad:
    e["pad"] = "x" * pad
print(o + "|" + json.dumps(e))' "$1" "$2"
}
printf '%s\n' 'sku-x|{"event_id":"rcv-x","type":"stock.received","occurred_at":"2026-12-01T09:00:00Z","sku":"sku-x","qty":10}' \
  >"$SF_TMP/stock.txt"
{ order o-1 0; order o-big 1040000; order o-mid 300000; order o-2 0; } >"$SF_TMP/orders.txt"
produce inventory.stock "$SF_TMP/stock.txt"
start_worker stock
wait_idle 60 stockflow-stock
produce inventory.orders "$SF_TMP/orders.txt" -p 0 -X message.max.bytes=1048576
start_worker order
o=$WORKER_PID
wait_for "both good orders applied" 60 sql_equals \
  "SELECT count(*) FROM order_status WHERE order_id IN ('o-1', 'o-2') AND state = 'reserved'" 2
recs=$(consume_dlq inventory.orders.dlq 2 30)
assert_eq 2 "$(jq -s length <<<"$recs")" "dead letters"
big=$(jq -c 'select(.key == "o-big")' <<<"$recs")
mid=$(jq -c 'select(.key == "o-mid")' <<<"$recs")
[[ -n $big && -n $mid ]] || fail "dead letters: $(jq -c '{key, h}' <<<"$recs")"
big_len=$(grep '^o-big|' "$SF_TMP/orders.txt" | cut -d'|' -f2- | tr -d '\n' | wc -c)
assert_eq "$big_len" "$(jq -r '.h["x-value-omitted"]' <<<"$big")" "x-value-omitted: the original's size"
assert_eq 0 "$(jq -r '.payload // "" | length' <<<"$big")" "no value in the big dead letter"
assert_match '^too large: [0-9]+ bytes' "$(jq -r '.h["x-error"]' <<<"$big")" "x-error"
assert_eq "inventory.orders 0 1" "$(jq -r '.h | "\(.["x-original-topic"]) \(.["x-original-partition"]) \(.["x-original-offset"])"' <<<"$big")" \
  "x-original-* name the big record"
assert_eq null "$(jq -r '.h["x-value-omitted"]' <<<"$mid")" "a 300 KiB value is copied"
record_bytes inventory.orders.dlq "$(jq -r .partition <<<"$mid")" "$(jq -r .offset <<<"$mid")" value >"$SF_TMP/mid.dlq"
record_bytes inventory.orders 0 2 value >"$SF_TMP/mid.orig"
assert_files_eq "$SF_TMP/mid.orig" "$SF_TMP/mid.dlq" "the 300 KiB dead letter's value, byte for byte"
stop_worker "$o"

rc=0
"$STOCKCTL" dlq redrive inventory.orders.dlq --filter o-big --rate 1000 >"$SF_TMP/redrive.out" 2>"$SF_TMP/redrive.err" || rc=$?
assert_eq 1 "$rc" "redrive of a dead letter without its value: exit status"
assert_match 'refused .*too large to copy; the original is inventory\.orders\[0\]@1' \
  "$(<"$SF_TMP/redrive.err")" "redrive says where the original is"
