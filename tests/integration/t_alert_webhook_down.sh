#!/usr/bin/env bash
# Webhook down, then up (DESIGN §6: "a webhook that is down delays alerts,
# never drops them"). An order-worker turns 20 poison events into real dead
# letters on inventory.orders.dlq while nothing listens at ALERT_WEBHOOK_URL;
# alert-worker retries with capped backoff for 60 s, storing no offset and
# keeping its group membership; then the webhook starts on that port and
# every alert arrives, each Idempotency-Key exactly once, in order per
# partition, with the DLQ record's headers and payload (cut to 4 KiB; invalid
# UTF-8 replaced), and the alert group's lag drops to 0.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_alert.sh"

DOWN_S=60
N=20

start_broker 6
hook_port=$(quiet_port) # unbound for 60 s: below the ephemeral port range
start_alert_worker ALERT_WEBHOOK_URL="http://127.0.0.1:$hook_port/alerts"
alert=$WORKER_PID
alert_log=$(worker_log "$alert")
start_pg
migrate

# 20 poison events with distinct keys (spread over the partitions):
# 17 cut-off JSON, one of 5000 bytes, one with invalid UTF-8, one schema violation.
events=$SF_TMP/poison.txt
for ((i = 1; i <= 17; i++)); do
  printf 'o-%02d|{"event_id":"bad-%02d","type":"order.created",\n' "$i" "$i"
done >"$events"
{
  printf 'o-18|'
  head -c 5000 /dev/zero | tr '\0' 'x'
  printf '\n'
  printf 'o-19|{"event_id":"\xff\xfe-19"}\n'
  printf 'o-20|{"event_id":"bad-20","type":"order.created","occurred_at":"2026-11-27T10:00:00Z"}\n'
} >>"$events"
assert_eq "$N" "$(wc -l <"$events")" "poison events written"

start_worker order
order=$WORKER_PID
# The webhook stays down for 60 s from the moment the events are produced
# (the first failed delivery comes a few seconds later, once the order-worker
# wrote the first dead letter; so the sink comes up between two attempts of
# the 30 s cap, not right before one).
down_at=$SECONDS
produce inventory.orders "$events"
note "webhook down: up again in ${DOWN_S} s"
consume_dlq inventory.orders.dlq "$N" 40 >"$SF_TMP/dlq.records"
assert_eq "$N" "$(wc -l <"$SF_TMP/dlq.records")" "dead letters in inventory.orders.dlq"
wait_for "the first failed delivery" 20 grep -qs 'not delivered (attempt 1' "$alert_log"
note "first failed delivery $((SECONDS - down_at)) s after the events were produced"

sleep 30
assert_eq "$N" "$(alert_lag)" "alert group lag while the webhook is down (no offset stored)"
sf_alive "$alert" || fail "alert-worker exited while the webhook was down"
sleep $((down_at + DOWN_S - SECONDS))

start_sink sink --port "$hook_port" --respond 200
wait_requests "$SINK_REQ" "$N" 45
sleep 2 # a duplicate would show up now
req=$SINK_REQ
assert_eq "$N" "$(request_count "$req")" "requests at the webhook"
note "all $N delivered, $((SECONDS - down_at)) s after the outage began"

# Exactly the DLQ records, each Idempotency-Key once.
jq -r '"dlq:inventory.orders.dlq:\(.partition):\(.offset)"' "$SF_TMP/dlq.records" | sort >"$SF_TMP/want.keys"
jq -r .idempotency_key "$req" | sort >"$SF_TMP/got.keys"
assert_files_eq "$SF_TMP/want.keys" "$SF_TMP/got.keys" "Idempotency-Keys at the webhook = dead letters"
assert_eq "" "$(uniq -d "$SF_TMP/got.keys")" "Idempotency-Keys seen twice"
assert_eq "POST /alerts application/json 200 true" \
  "$(jq -r '"\(.method) \(.path) \(.content_type) \(.status) \(.body_is_json)"' "$req" | sort -u)" \
  "method, path, content type, status and JSON validity of every request"

# In order per partition: offsets rise in request order.
jq -r .idempotency_key "$req" | awk -F: '
  { if (($3 in last) && $4 <= last[$3]) { print "partition " $3 ": offset " $4 " after " last[$3]; bad = 1 }
    last[$3] = $4 }
  END { exit bad }' || fail "alerts of one partition delivered out of order"

# The body of each alert (DESIGN §6) against its dead letter.
jq -c '.idempotency_key as $k | .body | fromjson | {k: $k, alert_id, kind, severity, summary,
        occurred_at, d: .details}' "$req" >"$SF_TMP/alerts.json"
assert_eq 0 "$(jq -s 'map(select(.alert_id != .k or .kind != "dead_letter" or .severity != "error"
        or (.occurred_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$") | not)
        or (.summary | test("^dead letter from inventory.orders \\(poison\\): ") | not)
        or .d["x-original-topic"] != "inventory.orders" or .d["x-error-class"] != "poison"
        or .d["x-original-group"] != "stockflow-order" or .d["x-attempt"] != "1"
        or (.d["x-worker"] | startswith("order-worker") | not)
        or (.d["x-error"] | length) == 0)) | length' "$SF_TMP/alerts.json")" \
  "alerts whose fields or headers are wrong"
while IFS='|' read -r key value; do
  a=$(jq -c --arg k "$key" 'select(.d.key == $k)' "$SF_TMP/alerts.json")
  [[ -n $a ]] || fail "no alert for the dead letter of key $key"
  dl=$(jq -c --arg k "$key" 'select(.key == $k)' "$SF_TMP/dlq.records")
  assert_eq "$(jq -r '"dlq:inventory.orders.dlq:\(.partition):\(.offset)"' <<<"$dl")" \
    "$(jq -r .alert_id <<<"$a")" "$key: alert_id names its DLQ record"
  case $key in
  o-18)
    assert_eq "4096 true 5000" "$(jq -r '"\(.d.payload | length) \(.d.truncated) \(.d.payload_bytes)"' <<<"$a")" \
      "$key: payload cut to 4 KiB, truncated, original size"
    ;;
  o-19)
    fffd=$'\xef\xbf\xbd'
    assert_eq "{\"event_id\":\"$fffd$fffd-19\"} false" "$(jq -r '"\(.d.payload) \(.d.truncated)"' <<<"$a")" \
      "$key: invalid UTF-8 replaced by U+FFFD"
    ;;
  *)
    assert_eq "$value false" "$(jq -r '"\(.d.payload) \(.d.truncated)"' <<<"$a")" "$key: payload and truncated"
    ;;
  esac
done <"$events"

# Offsets stored only after the 2xx, committed, group kept all along.
wait_alert_lag0 15
assert_eq 1 "$(grep -c '"assigned ' "$alert_log")" "assignments of the alert-worker (no rebalance while retrying)"
assert_eq 0 "$(grep -c '"revoked ' "$alert_log")" "revocations while the webhook was down"
retries=$(alert_retries "$alert_log")
((retries >= 6 && retries <= 10)) || fail "$retries failed attempts logged in ${DOWN_S} s, expected 6..10 (backoff 0.5 s doubling to 30 s)"
assert_eq "$N" "$(grep -c 'delivered (HTTP 200' "$alert_log")" "deliveries logged"
stop_worker "$alert"
stop_worker "$order"
stop_sink "$SINK_PID"
