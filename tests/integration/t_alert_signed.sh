#!/usr/bin/env bash
# Signed alerts: with ALERT_WEBHOOK_SECRET, ALERT_WEBHOOK_AUTHORIZATION and
# ALERT_INCLUDE_PAYLOAD=false, the alert of a dead letter reaches a webhook
# that verifies signatures (webhook-sink --secret: HMAC-SHA256 of
# "<t>.<body>", t within 300 s, else 401) and is accepted (200) with
# X-Stockflow-Signature valid, checked again here with Python's hmac (the
# recipe of docs/operations.md), the Authorization header as configured, and
# a body without the dead letter's payload; the secret never in the log.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_alert.sh
source "$(dirname "$0")/lib_alert.sh"

SECRET=whsec_s3cr3t_for_test
start_broker 2
start_sink sink1 --secret "$SECRET"
start_alert_worker ALERT_WEBHOOK_URL="http://127.0.0.1:$SINK_PORT/hook" \
  ALERT_WEBHOOK_SECRET="$SECRET" ALERT_WEBHOOK_AUTHORIZATION="Bearer t0ken-for-test" \
  ALERT_INCLUDE_PAYLOAD=false
alert=$WORKER_PID
produce_dead_letter inventory.orders.dlq 0 o-sig '{"event_id":"e-sig","card":"4111-1111"}' 5
wait_requests "$SINK_REQ" 1 30
sleep 1
assert_eq 1 "$(request_count "$SINK_REQ")" "requests (a 401 would have been retried or dead-lettered)"
req=$(head -n 1 "$SINK_REQ")
assert_eq "200 valid" "$(jq -r '"\(.status) \(.signature)"' <<<"$req")" "status and signature as the sink verified it"
assert_eq "Bearer t0ken-for-test" "$(jq -r .authorization <<<"$req")" "Authorization header"
body=$(jq -r .body <<<"$req")
[[ $body != *4111* ]] || fail "the alert carries the dead letter's payload: $body"
assert_eq "null 39" "$(jq -r '"\(.details.payload) \(.details.payload_bytes)"' <<<"$body")" \
  "details.payload left out, payload_bytes kept"
# the receiver's recipe, in Python
jq -r .signature_header <<<"$req" >"$SF_TMP/sig"
jq -j .body <<<"$req" >"$SF_TMP/body"
check=$(python3 - "$SECRET" "$SF_TMP/sig" "$SF_TMP/body" <<'PY'
import hashlib, hmac, sys, time
secret, sig, body = sys.argv[1].encode(), open(sys.argv[2]).read().strip(), open(sys.argv[3], "rb").read()
parts = dict(p.split("=", 1) for p in sig.split(","))
t = int(parts["t"])
want = hmac.new(secret, str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
wrong = hmac.new(secret + b"x", str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
fresh = abs(time.time() - t) <= 300
print(hmac.compare_digest(want, parts["v1"]), hmac.compare_digest(wrong, parts["v1"]), fresh)
PY
)
assert_eq "True False True" "$check" "Python: signature matches, not under another secret, t fresh"
! grep -qF "$SECRET" "$(worker_log "$alert")" || fail "the secret is in the alert-worker's log"
! grep -qF "t0ken-for-test" "$(worker_log "$alert")" || fail "the Authorization value is in the log"
stop_worker "$alert"
stop_sink "$SINK_PID"
