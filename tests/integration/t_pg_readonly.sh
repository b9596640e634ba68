#!/usr/bin/env bash
# A database that refuses everyone's work is an outage, not poison (DESIGN
# §6): with `ALTER DATABASE ... SET default_transaction_read_only = on` (and
# the worker's session ended, so its next one is read-only) an order.created
# fails with 25006 -> the order-worker pauses (/readyz answers 503 "paused
# for N s: database unreachable (SQLSTATE 25006: ...)", not libpq's message),
# writes nothing to inventory.orders.dlq or a retry topic; after the setting
# is reset the same worker applies the event by itself. Then a
# timeout-worker whose user may not read orders: it connects (statements
# prepare; privileges are checked when they run), loading the pending holds
# fails, and its log says why (it logged an uninitialised buffer, issue 19).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_fail.sh
source "$(dirname "$0")/lib_fail.sh"

start_pg
migrate
start_broker 2
db=$(psql_q "SELECT current_database()")
port=$(sf_free_port)
start_worker order HTTP_PORT="$port"
w=$WORKER_PID
readyz() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true; }
is_ready() { [[ $(readyz) == 200 ]]; }
not_ready() { [[ $(readyz) == 503 ]]; }
wait_for "order-worker ready" 30 is_ready

psql "$SF_ADMIN_URL" -XAtq -v ON_ERROR_STOP=1 \
  -c "ALTER DATABASE \"$db\" SET default_transaction_read_only = on" \
  -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
       WHERE datname = '$db' AND application_name LIKE 'order-worker%'" >/dev/null ||
  fail "could not make $db read-only"
note "$db is read-only for new sessions; the worker's session was ended"

at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
printf 'o-ro|{"event_id":"ro-1","type":"order.created","occurred_at":"%s","order_id":"o-ro","lines":[{"sku":"sku-ro","qty":1}]}\n' \
  "$at" >"$SF_TMP/order.txt"
produce inventory.orders "$SF_TMP/order.txt"
wait_log_line "$w" '25006' 30
wait_for "/readyz answering 503 while paused" 15 not_ready
# /readyz says the current error: right after the session was ended that is
# "no connection", then the read-only refusal once a new session tried
ready_says_readonly() {
  body=$(curl -s "http://127.0.0.1:$port/readyz")
  [[ $body =~ paused\ for\ [0-9.]+\ s:\ database\ unreachable\ \(SQLSTATE\ 25006 ]]
}
wait_for "/readyz naming the read-only refusal" 15 ready_says_readonly
[[ $body != *postgres* && $body != *127.0.0.1* ]] || fail "/readyz shows libpq's message: $body"
sleep 2 # a dead letter or retry record would be written by now
assert_eq 0 "$(topic_records inventory.orders.dlq | wc -l)" "records in inventory.orders.dlq"
assert_eq 0 "$(topic_records inventory.orders.retry.1 | wc -l)" "records in inventory.orders.retry.1"
assert_eq 0 "$(psql_q "SELECT count(*) FROM processed_events")" "events applied while read-only"

psql "$SF_ADMIN_URL" -XAtq -v ON_ERROR_STOP=1 \
  -c "ALTER DATABASE \"$db\" RESET default_transaction_read_only" >/dev/null ||
  fail "could not reset $db"
note "$db writable again"
applied() { [[ $(psql_q "SELECT count(*) FROM processed_events WHERE event_id = 'ro-1'") == 1 ]]; }
wait_for "ro-1 applied after the reset" 60 applied
assert_eq "rejected" "$(psql_q "SELECT state FROM order_status WHERE order_id = 'o-ro'")" "o-ro (unknown SKU: rejected)"
wait_for "order-worker ready again" 30 is_ready
assert_eq 0 "$(topic_records inventory.orders.dlq | wc -l)" "records in inventory.orders.dlq at the end"
stop_worker "$w"

noread="sf_noread_$$"
psql_q "CREATE ROLE $noread LOGIN" >/dev/null
SF_ROLES+=("$noread")
start_worker timeout DATABASE_URL="$(url_with "$DATABASE_URL" "user=$noread")"
t=$WORKER_PID
wait_log_line "$t" 'PostgreSQL unavailable: [^"]*permission denied for table orders[^"]*; retrying in' 30
stop_worker "$t"
