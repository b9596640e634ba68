#!/usr/bin/env bash
# Records of inventory.alerts that are not alerts (not JSON, no alert_id, not
# an object) go to inventory.alerts.dlq as poison, key and value byte for
# byte, and nothing is POSTed for them; the valid alerts around them are
# delivered in order. Then, with ALERT_WEBHOOK_URL unset, an alert is logged
# (level warn, its summary in msg) and its offset committed.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_alert.sh"

start_broker 2
start_sink sink --respond 200
start_alert_worker ALERT_WEBHOOK_URL="http://127.0.0.1:$SINK_PORT/hook"
alert=$WORKER_PID

records=$SF_TMP/records.txt
cat >"$records" <<'EOF'
a-1|{"alert_id":"a-1","kind":"refund_required","severity":"warn","summary":"order o-1 needs a refund","occurred_at":"2026-11-27T10:00:00Z","details":{}}
bad-1|this is not JSON
bad-2|{"kind":"oversold","summary":"no alert_id here"}
bad-3|["alert_id","a-x"]
a-2|{"alert_id":"a-2","kind":"oversold","severity":"error","summary":"sku-2 oversold","occurred_at":"2026-11-27T10:00:01Z","details":{}}
EOF
produce inventory.alerts "$records" -p 1
consume_dlq inventory.alerts.dlq 3 30 >"$SF_TMP/adlq.records"
wait_requests "$SINK_REQ" 2 30
sleep 1
assert_eq "a-1 a-2" "$(jq -r .idempotency_key "$SINK_REQ" | xargs)" "alerts POSTed (nothing for the bad records)"
consume_dlq inventory.alerts.dlq 3 1 >"$SF_TMP/adlq.records"
assert_eq 3 "$(wc -l <"$SF_TMP/adlq.records")" "records in inventory.alerts.dlq"

declare -A WHY=([bad-1]='^not an alert: not JSON: ' [bad-2]='^not an alert: no alert_id$'
  [bad-3]='^not an alert: an alert must be a JSON object$')
declare -A OFF=([bad-1]=1 [bad-2]=2 [bad-3]=3)
while IFS='|' read -r key value; do
  [[ $key == bad-* ]] || continue
  rec=$(jq -c --arg k "$key" 'select(.key == $k)' "$SF_TMP/adlq.records")
  [[ -n $rec ]] || fail "$key: not in inventory.alerts.dlq"
  assert_eq "$value" "$(jq -r .payload <<<"$rec")" "$key: value byte for byte"
  assert_eq "poison inventory.alerts 1 ${OFF[$key]} stockflow-alert 1" \
    "$(jq -r '.h | "\(.["x-error-class"]) \(.["x-original-topic"]) \(.["x-original-partition"]) \(.["x-original-offset"]) \(.["x-original-group"]) \(.["x-attempt"])"' <<<"$rec")" \
    "$key: x-error-class x-original-topic/partition/offset x-original-group x-attempt"
  assert_match "${WHY[$key]}" "$(jq -r '.h["x-error"]' <<<"$rec")" "$key: x-error"
done <"$records"
wait_alert_lag0 15
stop_worker "$alert"

# ---- ALERT_WEBHOOK_URL unset: logged only ---------------------------------------
start_alert_worker
alert=$WORKER_PID
printf 'a-3|{"alert_id":"a-3","kind":"outage","severity":"error","summary":"PostgreSQL unreachable for 30 s","occurred_at":"2026-11-27T10:00:02Z","details":{}}\n' >"$SF_TMP/a3.txt"
produce inventory.alerts "$SF_TMP/a3.txt" -p 0
wait_for "the alert logged" 30 grep -qs '"level":"warn".*"msg":"alert a-3: PostgreSQL unreachable for 30 s"' "$(worker_log "$alert")"
wait_alert_lag0 15
assert_eq 2 "$(request_count "$SINK_REQ")" "requests at the webhook (none while the URL is unset)"
stop_worker "$alert"
stop_sink "$SINK_PID"
