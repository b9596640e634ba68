#!/usr/bin/env bash
# PostgreSQL over TLS with sslmode=verify-full (issue 15; docs/operations.md
# §8b is the same recipe): a CA and a server certificate for
# db.stockflow.test made with openssl, a cluster of the test's own with
# ssl = on (deploy/pg-local.sh PG_LOCAL_SSL_CERT/KEY). stockctl migrate and
# an order-worker connect with sslmode=verify-full (hostaddr=127.0.0.1, so no
# DNS is needed) and apply an event; the worker's session is encrypted
# (pg_stat_ssl). A worker whose URL names a host the certificate does not
# cover is refused: its log carries libpq's "does not match host name" line,
# it stays paused as in an outage (/readyz 503 "database unreachable"),
# applies nothing and writes no dead letter; so is one trusting another CA.
# stockctl with the wrong host name exits 3 (PostgreSQL unreachable).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_fail.sh
source "$(dirname "$0")/lib_fail.sh"

# ---- a CA and a server certificate ---------------------------------------------
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
  -subj "/CN=db.stockflow.test" -keyout "$T/server.key" -out "$T/server.csr"
printf 'subjectAltName = DNS:db.stockflow.test\nextendedKeyUsage = serverAuth\n' >"$T/server.ext"
ossl x509 -req -in "$T/server.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial \
  -days 2 -extfile "$T/server.ext" -out "$T/server.crt"

# the test needs a cluster with TLS on: its own, even when PG_ADMIN_URL names a shared one
unset PG_ADMIN_URL
PG_LOCAL_SSL_CERT=$T/server.crt PG_LOCAL_SSL_KEY=$T/server.key start_pg
grep -q "^ssl = on" "$SF_TMP/pg/data/pg-local.conf" || fail "pg-local.sh did not turn ssl on"
tls_url() { # tls_url HOST CA: DATABASE_URL over TLS, verify-full against CA, to 127.0.0.1
  url_with "$DATABASE_URL" "host=$1" hostaddr=127.0.0.1 sslmode=verify-full "sslrootcert=$T/$2.crt"
}
GOOD=$(tls_url db.stockflow.test ca)
WRONG_HOST=$(tls_url other.stockflow.test ca)
WRONG_CA=$(tls_url db.stockflow.test other-ca)

DATABASE_URL=$GOOD migrate
assert_eq "t" "$(psql "$GOOD" -XAtq -c 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')" \
  "psql over verify-full: ssl"
out=$(psql "$WRONG_HOST" -XAtq -c 'SELECT 1' 2>&1) && fail "psql with a host name the certificate lacks connected"
assert_match 'server certificate for "db\.stockflow\.test" does not match host name "other\.stockflow\.test"' \
  "$out" "libpq's refusal of a wrong host name"
out=$(psql "$WRONG_CA" -XAtq -c 'SELECT 1' 2>&1) && fail "psql trusting another CA connected"
assert_match 'certificate verify failed' "$out" "libpq's refusal of a certificate from another CA"
rc=0
out=$(DATABASE_URL=$WRONG_HOST "$STOCKCTL" migrate 2>&1) || rc=$?
assert_eq 3 "$rc" "exit status of stockctl migrate with a wrong host name"
assert_match 'cannot connect to PostgreSQL: .*does not match host name "other\.stockflow\.test"' "$out" \
  "stockctl's refusal"

# ---- a worker with the wrong host name: refused, paused, nothing applied -------------
start_broker 2
at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
printf 'o-tls|{"event_id":"tls-1","type":"order.created","occurred_at":"%s","order_id":"o-tls","lines":[{"sku":"sku-tls","qty":1}]}\n' \
  "$at" >"$SF_TMP/order.txt"
produce inventory.orders "$SF_TMP/order.txt"
for bad in WRONG_HOST WRONG_CA; do
  port=$(sf_free_port)
  start_worker order HTTP_PORT="$port" DATABASE_URL="${!bad}"
  w=$WORKER_PID
  case $bad in
  WRONG_HOST) wait_log_line "$w" 'does not match host name \\"other\.stockflow\.test\\"' 30 ;;
  WRONG_CA) wait_log_line "$w" 'certificate verify failed' 30 ;;
  esac
  body=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$port/readyz" || true)
  assert_match 'database unreachable.* 503$' "$body" "/readyz of the worker with $bad"
  sleep 2
  assert_eq 0 "$(psql_q "SELECT count(*) FROM processed_events")" "events applied by the worker with $bad"
  stop_worker "$w"
done
assert_eq 0 "$(topic_records inventory.orders.dlq | wc -l)" "dead letters written by the refused workers"

# ---- verify-full with the right name: the event applies, over TLS ---------------------
start_worker order DATABASE_URL="$GOOD"
w=$WORKER_PID
wait_for "tls-1 applied" 60 sh -c "[ \"\$(psql '$DATABASE_URL' -XAtq -c \"SELECT count(*) FROM processed_events WHERE event_id = 'tls-1'\")\" = 1 ]"
assert_eq "rejected" "$(psql_q "SELECT state FROM order_status WHERE order_id = 'o-tls'")" "o-tls (unknown SKU)"
assert_eq "t" "$(psql_q "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
                          WHERE a.application_name LIKE 'order-worker%'")" "the worker's sessions are encrypted"
stop_worker "$w"
