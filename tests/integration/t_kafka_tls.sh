#!/usr/bin/env bash
# TLS on Apache Kafka (docs/operations.md §8c is the same recipe): a CA and a
# broker certificate for 127.0.0.1 made with openssl, the broker's SSL
# listener with a PEM keystore (deploy/kafka/kafka-local.sh KAFKA_SSL_CERT /
# KAFKA_SSL_KEY).
# 1. `stockctl topics apply` and a stock-worker configured only through
#    RDKAFKA_SECURITY_PROTOCOL=ssl and RDKAFKA_SSL_CA_LOCATION create the
#    topics and apply a receipt (host name verification on: librdkafka's
#    default ssl.endpoint.identification.algorithm=https).
# 2. A stock-worker trusting another CA applies nothing, logs the
#    certificate verification failure, is not ready (/readyz 503) and keeps
#    running; so does one that speaks plaintext to the SSL listener.
# Kafka only (SF_BROKER is set to kafka).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
SF_BROKER=kafka

T=$SF_TMP/tls
mkdir -p "$T"
ossl() { openssl "$@" >>"$T/openssl.log" 2>&1 || fail "openssl $1 failed: $(tail -n 3 "$T/openssl.log")"; }
ca() { # ca NAME: a self-signed CA, NAME.crt + NAME.key
  ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=stockflow test $1" -keyout "$T/$1.key" -out "$T/$1.crt" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
ca ca
ca other-ca
ossl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=kafka.stockflow.test" -keyout "$T/broker.key" -out "$T/broker.csr"
printf 'subjectAltName = DNS:localhost, IP:127.0.0.1\nextendedKeyUsage = serverAuth\n' >"$T/broker.ext"
ossl x509 -req -in "$T/broker.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial \
  -days 2 -extfile "$T/broker.ext" -out "$T/broker.crt"

start_pg
migrate
KAFKA_SSL_CERT=$T/broker.crt KAFKA_SSL_KEY=$T/broker.key start_kafka --empty
tls=$(sed -n 's/^KAFKA_SSL_BROKERS=//p' "$KAFKA_DIR/env")
[[ -n $tls ]] || fail "no SSL listener in $KAFKA_DIR/env"
note "SSL listener at $tls"
tls_env=(KAFKA_BROKERS="$tls" RDKAFKA_SECURITY_PROTOCOL=ssl)

# 1. topics and a worker over TLS
env "${tls_env[@]}" RDKAFKA_SSL_CA_LOCATION="$T/ca.crt" "$STOCKCTL" topics apply --partitions 2 \
  >"$SF_TMP/topics.out" 2>"$SF_TMP/topics.err" || fail "topics apply over TLS: $(tail -n 3 "$SF_TMP/topics.err")"
assert_eq "$(expected_topics 4)" "$(awk '$1 == "created" {print $2}' "$SF_TMP/topics.out")" "topics created over TLS"

receipt() { # EVENT_ID QTY
  printf 'sku-t|{"event_id":"%s","type":"stock.received","occurred_at":"2026-12-01T10:00:00Z","sku":"sku-t","qty":%d}\n' "$1" "$2"
}
on_hand_is() { [[ $(psql_q "SELECT coalesce((SELECT on_hand FROM stock_levels WHERE sku = 'sku-t'), 0)") == "$1" ]]; }

start_worker stock "${tls_env[@]}" RDKAFKA_SSL_CA_LOCATION="$T/ca.crt"
good=$WORKER_PID
receipt rcv-1 5 >"$SF_TMP/r1.txt"
produce inventory.stock "$SF_TMP/r1.txt" # the plaintext listener: the test's own producer
wait_for "the receipt applied over TLS" 60 on_hand_is 5
stop_worker "$good"

# 2. another CA; plaintext to the TLS port
receipt rcv-2 7 >"$SF_TMP/r2.txt"
produce inventory.stock "$SF_TMP/r2.txt"
for bad in other-ca plaintext; do
  port=$(sf_free_port)
  case $bad in
  other-ca)
    start_worker stock "${tls_env[@]}" RDKAFKA_SSL_CA_LOCATION="$T/other-ca.crt" HTTP_PORT="$port"
    re='certificate verify failed'
    ;;
  plaintext)
    start_worker stock KAFKA_BROKERS="$tls" HTTP_PORT="$port"
    re='Disconnected'
    ;;
  esac
  w=$WORKER_PID
  wait_for "$bad: the failure in the log" 60 grep -qE "$re" "${SF_LOG[$w]}"
  sleep 2 # let a wrongly connected worker (if any) apply the receipt
  on_hand_is 5 || fail "a worker with $bad applied an event"
  code=$(curl -s -o "$SF_TMP/readyz.out" -w '%{http_code}' "http://127.0.0.1:$port/readyz") || true
  assert_eq 503 "$code" "/readyz of a worker with $bad ($(cat "$SF_TMP/readyz.out"))"
  sf_alive "$w" || fail "the worker with $bad exited"
  note "$bad: $(grep -m1 -oE "[^\"]*($re)[^\"]*" "${SF_LOG[$w]}" | cut -c1-200)"
  stop_worker "$w"
done
start_worker stock "${tls_env[@]}" RDKAFKA_SSL_CA_LOCATION="$T/ca.crt"
fixed=$WORKER_PID
wait_for "the receipt applied with the right CA" 60 on_hand_is 12
stop_worker "$fixed"
