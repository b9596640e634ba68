#!/usr/bin/env bash
# A permanent 4xx (DESIGN §6: "one bad alert never blocks the rest"):
#  1. three alerts on inventory.alerts, the webhook answers 400 to the first,
#     then 200: the first lands in inventory.alerts.dlq (key and value byte
#     for byte, x-error-class poison, x-error naming HTTP 400 and the
#     response body, x-original-* naming the alerts record), the other two
#     are POSTed unchanged and delivered;
#  2. a dead letter whose alert gets 422: the dead letter goes to
#     inventory.alerts.dlq (x-original-* still those of the failed event,
#     x-error naming the alert_id and HTTP 422), the next one is delivered.
# Each refused alert is POSTed exactly once; the group's lag ends at 0.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_alert.sh"

start_broker 2
start_sink sink1 --port "$(quiet_port)" --respond 400,200
port=$SINK_PORT
start_alert_worker ALERT_WEBHOOK_URL="http://127.0.0.1:$port/hook"
alert=$WORKER_PID

hdr() { jq -r --arg k "$1" '.h[$k] // "<missing>"' <<<"$rec"; }

# ---- 1. an alert refused with 400 ----------------------------------------------
alerts=$SF_TMP/alerts.txt
for i in 1 2 3; do
  printf 'a-%d|{"alert_id":"a-%d","kind":"oversold","severity":"error","summary":"sku-%d oversold","occurred_at":"2026-11-27T10:00:0%dZ","details":{"sku":"sku-%d","n":%d}}\n' \
    "$i" "$i" "$i" "$i" "$i" "$i"
done >"$alerts"
produce inventory.alerts "$alerts" -p 0
wait_requests "$SINK_REQ" 3 30
consume_dlq inventory.alerts.dlq 1 15 >"$SF_TMP/adlq.records"
sleep 1
assert_eq "a-1,400 a-2,200 a-3,200" "$(jq -r '"\(.idempotency_key),\(.status)"' "$SINK_REQ" | xargs)" \
  "requests (Idempotency-Key,status)"
i=0
while IFS='|' read -r key value; do
  i=$((i + 1))
  assert_eq "$value" "$(sed -n "${i}p" "$SINK_REQ" | jq -j .body)" "$key: POSTed unchanged"
done <"$alerts"
consume_dlq inventory.alerts.dlq 1 1 >"$SF_TMP/adlq.records"
assert_eq 1 "$(wc -l <"$SF_TMP/adlq.records")" "records in inventory.alerts.dlq"
rec=$(head -n 1 "$SF_TMP/adlq.records")
assert_eq a-1 "$(jq -r .key <<<"$rec")" "alerts DLQ record: key"
assert_eq "$(head -n 1 "$alerts" | cut -d'|' -f2-)" "$(jq -r .payload <<<"$rec")" "alerts DLQ record: value byte for byte"
assert_eq poison "$(hdr x-error-class)" "x-error-class"
assert_match '^webhook refused alert a-1 with HTTP 400: .*"from":"webhook-sink"' "$(hdr x-error)" "x-error: status and response body"
assert_eq inventory.alerts "$(hdr x-original-topic)" "x-original-topic"
assert_eq 0 "$(hdr x-original-partition)" "x-original-partition"
assert_eq 0 "$(hdr x-original-offset)" "x-original-offset"
assert_eq stockflow-alert "$(hdr x-original-group)" "x-original-group"
assert_eq 1 "$(hdr x-attempt)" "x-attempt"
assert_match '^alert-worker@' "$(hdr x-worker)" "x-worker"
assert_match '^[0-9]+$' "$(hdr x-first-failure-at)" "x-first-failure-at"
grep -q '"level":"error".*webhook refused alert a-1 with HTTP 400' "$(worker_log "$alert")" ||
  fail "the refused alert was not logged as an error"
wait_alert_lag0 15
stop_sink "$SINK_PID"

# ---- 2. a dead letter's alert refused with 422 ---------------------------------
start_sink sink2 --port "$port" --respond 422,200
produce_dead_letter inventory.stock.dlq 1 sku-9 '{"event_id":"s-9"' 40
produce_dead_letter inventory.stock.dlq 1 sku-9 '{"event_id":"s-10"' 41
wait_requests "$SINK_REQ" 2 30
consume_dlq inventory.alerts.dlq 2 15 >"$SF_TMP/adlq.records"
sleep 1
assert_eq "dlq:inventory.stock.dlq:1:0,422 dlq:inventory.stock.dlq:1:1,200" \
  "$(jq -r '"\(.idempotency_key),\(.status)"' "$SINK_REQ" | xargs)" "requests (Idempotency-Key,status)"
consume_dlq inventory.alerts.dlq 2 1 >"$SF_TMP/adlq.records"
assert_eq 2 "$(wc -l <"$SF_TMP/adlq.records")" "records in inventory.alerts.dlq"
rec=$(jq -c 'select(.key == "sku-9")' "$SF_TMP/adlq.records")
assert_eq '{"event_id":"s-9"' "$(jq -r .payload <<<"$rec")" "refused dead letter: value byte for byte"
assert_eq poison "$(hdr x-error-class)" "x-error-class"
assert_match '^webhook refused alert dlq:inventory\.stock\.dlq:1:0 with HTTP 422: ' "$(hdr x-error)" "x-error"
assert_eq "inventory.stock 1 40" "$(hdr x-original-topic) $(hdr x-original-partition) $(hdr x-original-offset)" \
  "x-original-* kept from the dead letter"
assert_eq 2 "$(hdr x-attempt)" "x-attempt (the dead letter's + 1)"
wait_alert_lag0 15
stop_worker "$alert"
stop_sink "$SINK_PID"
