#!/usr/bin/env bash
# Webhook retries (DESIGN §6), one partition so the order is defined:
#  1. the webhook answers 500, 500, then 200: the first alert is POSTed three
#     times (same Idempotency-Key, same body, backoff 0.5 s then 1 s) and
#     delivered once; the alerts behind it wait, then follow in order;
#  2. 429 with Retry-After: 1 twice, then 200: the attempts are 1 s apart
#     (the worker's own backoff would wait 0.5 s first);
#  3. SIGTERM while an alert is being retried (503): exit 0 at once, its
#     offset not committed; a new alert-worker delivers it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_alert.sh"

DLQ=inventory.payments.dlq

start_broker 2
start_sink sink1 --port "$(quiet_port)" --respond 500,500,200
port=$SINK_PORT
url="http://127.0.0.1:$port/hook"
start_alert_worker ALERT_WEBHOOK_URL="$url"
alert=$WORKER_PID

# key,status of each request, and the gaps between them in ms
requests() { jq -r '"\(.idempotency_key),\(.status)"' "$1"; }
gaps() { jq -s -r '[.[].ts_ms] | [range(1; length) as $i | .[$i] - .[$i - 1]] | .[]' "$1"; }
k() { printf 'dlq:%s:0:%s' "$DLQ" "$1"; }

# ---- 1. 500, 500, 200 -------------------------------------------------------
for i in 0 1 2; do produce_dead_letter "$DLQ" 0 "pay-$i" "{\"event_id\":\"pay-$i\"" "$((10 + i))"; done
wait_requests "$SINK_REQ" 5 30
sleep 1
assert_eq "$(k 0),500
$(k 0),500
$(k 0),200
$(k 1),200
$(k 2),200" "$(requests "$SINK_REQ")" "requests (Idempotency-Key,status) for 500,500,200"
assert_eq 1 "$(jq -r 'select(.idempotency_key == "'"$(k 0)"'") | .body' "$SINK_REQ" | sort -u | wc -l)" \
  "distinct bodies among the three attempts of the first alert"
mapfile -t gap < <(gaps "$SINK_REQ")
note "gaps between requests (ms): ${gap[*]}"
((gap[0] >= 490 && gap[0] < 1500)) || fail "first retry after ${gap[0]} ms, expected the 500 ms backoff"
((gap[1] >= 990 && gap[1] < 2000)) || fail "second retry after ${gap[1]} ms, expected the 1000 ms backoff"
assert_eq "pay-0 pay-1 pay-2" "$(jq -r 'select(.status == 200) | .body | fromjson | .details.key' "$SINK_REQ" | xargs)" \
  "delivered alerts in partition order"
wait_alert_lag0 15
stop_sink "$SINK_PID"

# ---- 2. 429 with Retry-After: 1 -----------------------------------------------
start_sink sink2 --port "$port" --respond 429,429,200 --retry-after 1
produce_dead_letter "$DLQ" 0 pay-3 '{"event_id":"pay-3"' 13
wait_requests "$SINK_REQ" 3 30
sleep 1
assert_eq "$(k 3),429
$(k 3),429
$(k 3),200" "$(requests "$SINK_REQ")" "requests (Idempotency-Key,status) for 429,429,200"
mapfile -t gap < <(gaps "$SINK_REQ")
note "gaps between requests (ms): ${gap[*]}"
((gap[0] >= 990 && gap[0] < 1900)) || fail "retry ${gap[0]} ms after a 429 with Retry-After: 1"
((gap[1] >= 990 && gap[1] < 1900)) || fail "retry ${gap[1]} ms after a 429 with Retry-After: 1"
assert_eq 2 "$(grep -c 'HTTP 429.*(Retry-After)' "$(worker_log "$alert")")" "retries logged as following Retry-After"
wait_alert_lag0 15
stop_sink "$SINK_PID"

# ---- 3. SIGTERM while retrying --------------------------------------------------
start_sink sink3 --port "$port" --respond 503
produce_dead_letter "$DLQ" 0 pay-4 '{"event_id":"pay-4"' 14
wait_requests "$SINK_REQ" 2 30
t0=$SECONDS
stop_worker "$alert"
((SECONDS - t0 <= 3)) || fail "alert-worker took $((SECONDS - t0)) s to stop while retrying"
grep -q "abandoned undelivered" "$(worker_log "$alert")" || fail "no log line for the abandoned alert"
assert_eq 1 "$(alert_lag)" "alert group lag after SIGTERM (the undelivered alert's offset not committed)"
stop_sink "$SINK_PID"
start_sink sink4 --port "$port" --respond 200
start_alert_worker ALERT_WEBHOOK_URL="$url"
alert=$WORKER_PID
wait_requests "$SINK_REQ" 1 30
sleep 1
assert_eq "$(k 4),200" "$(requests "$SINK_REQ")" "the abandoned alert, delivered by the next alert-worker"
wait_alert_lag0 15
stop_worker "$alert"
stop_sink "$SINK_PID"
