#!/usr/bin/env bash
# SASL on Apache Kafka (README "Kafka: which, and how to point the fleet at
# yours"): a broker whose SASL_PLAINTEXT listener knows one user.
# 1. `stockctl topics apply` and a stock-worker configured only through
#    RDKAFKA_SECURITY_PROTOCOL / RDKAFKA_SASL_* (SASL/PLAIN) create the topics
#    and apply a receipt; the password appears in no log line.
# 2. A stock-worker with a wrong password applies nothing, says "SASL
#    authentication error" in its log, is not ready (/readyz 503) and keeps
#    running; started again with the right password, it applies the event.
# 3. SASL/SCRAM: librdkafka before 2.6.1 builds a SCRAM client-final message
#    that Kafka 4.x refuses (librdkafka#4895; Debian 12 ships 2.0.2). With
#    such a librdkafka the test checks that the refusal is a clear
#    authentication error (so the README's advice stays true); with 2.6.1 or
#    newer it checks that SCRAM-SHA-512 works.
# Kafka only (SF_BROKER is set to kafka).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
SF_BROKER=kafka

readonly user=stockflow pass=s3cret-Pw-1 # the test's own throwaway broker
start_pg
migrate
KAFKA_SASL_USERS="$user:$pass" start_kafka --empty
sasl=$(sed -n 's/^KAFKA_SASL_BROKERS=//p' "$KAFKA_DIR/env")
[[ -n $sasl ]] || fail "no SASL listener in $KAFKA_DIR/env"
note "SASL_PLAINTEXT listener at $sasl"

sasl_env=(KAFKA_BROKERS="$sasl" RDKAFKA_SECURITY_PROTOCOL=sasl_plaintext RDKAFKA_SASL_MECHANISMS=PLAIN
  RDKAFKA_SASL_USERNAME="$user")

# 1. topics and a worker over SASL/PLAIN
env "${sasl_env[@]}" RDKAFKA_SASL_PASSWORD="$pass" "$STOCKCTL" topics apply --partitions 2 \
  >"$SF_TMP/topics.out" 2>"$SF_TMP/topics.err" || fail "topics apply over SASL: $(tail -n 3 "$SF_TMP/topics.err")"
assert_eq "$(expected_topics 4)" "$(awk '$1 == "created" {print $2}' "$SF_TMP/topics.out")" "topics created over SASL"

receipt() { # EVENT_ID QTY
  printf 'sku-s|{"event_id":"%s","type":"stock.received","occurred_at":"2026-12-01T10:00:00Z","sku":"sku-s","qty":%d}\n' "$1" "$2"
}
on_hand_is() { [[ $(psql_q "SELECT coalesce((SELECT on_hand FROM stock_levels WHERE sku = 'sku-s'), 0)") == "$1" ]]; }

start_worker stock "${sasl_env[@]}" RDKAFKA_SASL_PASSWORD="$pass"
good=$WORKER_PID
receipt rcv-1 5 >"$SF_TMP/r1.txt"
produce inventory.stock "$SF_TMP/r1.txt" # the plaintext listener: the test's own producer
wait_for "the receipt applied over SASL" 60 on_hand_is 5
stop_worker "$good"

# 2. a wrong password
port=$(sf_free_port)
start_worker stock "${sasl_env[@]}" RDKAFKA_SASL_PASSWORD=wrong-password HTTP_PORT="$port"
bad=$WORKER_PID
receipt rcv-2 7 >"$SF_TMP/r2.txt"
produce inventory.stock "$SF_TMP/r2.txt"
wait_for "the authentication error in the log" 60 grep -q 'SASL authentication error' "${SF_LOG[$bad]}"
sleep 2 # let a wrongly authenticated worker (if any) apply the receipt
on_hand_is 5 || fail "a worker with a wrong password applied an event"
code=$(curl -s -o "$SF_TMP/readyz.out" -w '%{http_code}' "http://127.0.0.1:$port/readyz") || true
assert_eq 503 "$code" "/readyz of a worker that cannot authenticate ($(cat "$SF_TMP/readyz.out"))"
sf_alive "$bad" || fail "the worker with a wrong password exited"
stop_worker "$bad"
start_worker stock "${sasl_env[@]}" RDKAFKA_SASL_PASSWORD="$pass"
fixed=$WORKER_PID
wait_for "the receipt applied once the password is right" 60 on_hand_is 12
stop_worker "$fixed"

if grep -l -- "$pass" "$SF_TMP"/stock-*.log "$SF_TMP/topics.err" 2>/dev/null; then
  fail "the SASL password appears in a log (files above)"
fi

# 3. SCRAM, and which librdkafka refuses it
rdk=$(pkg-config --modversion rdkafka)
scram_rc=0
kcat -b "$sasl" -X security.protocol=sasl_plaintext -X sasl.mechanisms=SCRAM-SHA-512 \
  -X sasl.username="$user" -X sasl.password="$pass" -L -m 10 >"$SF_TMP/scram.out" 2>"$SF_TMP/scram.err" || scram_rc=$?
if dpkg --compare-versions "$rdk" lt 2.6.1; then
  ((scram_rc != 0)) || fail "SCRAM worked with librdkafka $rdk: update the README (SCRAM needs 2.6.1 against Kafka 4.x)"
  assert_match 'SASL authentication error.*SCRAM-SHA-512' "$(<"$SF_TMP/scram.err")" "the SCRAM refusal is an authentication error"
  note "librdkafka $rdk: SCRAM-SHA-512 refused by Kafka 4.x, as the README says; SASL/PLAIN works"
else
  ((scram_rc == 0)) || fail "SCRAM-SHA-512 with librdkafka $rdk: $(tail -n 2 "$SF_TMP/scram.err")"
  note "librdkafka $rdk: SCRAM-SHA-512 works"
fi
