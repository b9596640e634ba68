#!/usr/bin/env bash
# An event without event_id in the middle of a batch (issue 15: making
# event_id optional in a schema passed every test). One partition of
# inventory.orders holds five good order.created (plentiful stock: no SKU is
# contended, which would send orders to sf_apply by design), an
# order.created and an order.cancelled without event_id between them; the order-worker starts
# after they are all there, so one poll takes them together. Expected: the
# two dead letters say which schema refused them and why (x-error
# 'schema order.created: /: missing required property "event_id"'), and the
# good events are applied set-based in the batch's transaction: the
# database's function statistics (track_functions) show sf_apply_batch
# called and sf_apply (the one-by-one path, one subtransaction per event)
# never; the worker never logs "applying one by one". With event_id
# optional, the events reach PostgreSQL, the batch fails on the NULL key
# and is applied one by one, and the dead letters name a NOT NULL violation.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_life.sh
source "$(dirname "$0")/lib_life.sh"

start_pg
migrate
psql "$SF_ADMIN_URL" -Xq -v ON_ERROR_STOP=1 \
  -c "ALTER DATABASE \"$(psql_q 'SELECT current_database()')\" SET track_functions = 'pl'" >/dev/null
start_broker 2

at() { date -u -d "@$(($(date +%s) + $1))" +%Y-%m-%dT%H:%M:%SZ; }
cat >"$SF_TMP/stock.txt" <<EOF
pb-sku|{"event_id":"pb-r","type":"stock.received","occurred_at":"$(at 0)","sku":"pb-sku","qty":100}
EOF
produce inventory.stock "$SF_TMP/stock.txt"
start_role stock
s=$WORKER_PID
wait_idle 30 stockflow-stock
stop_worker "$s"
# the receipt alone went through sf_apply (a batch of one): count from here
calls() { psql_q "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions WHERE funcname = '$1'"; }
wait_sql "the stock-worker's function statistics" 10 \
  "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions WHERE funcname = 'sf_apply'" 1
psql_q 'SELECT pg_stat_reset()' >/dev/null
assert_eq "0|0" "$(calls sf_apply)|$(calls sf_apply_batch)" "function calls after pg_stat_reset"

o() { # o N QTY: a good order.created
  printf 'pb-%s|{"event_id":"pb-c%s","type":"order.created","occurred_at":"%s","order_id":"pb-%s","lines":[{"sku":"pb-sku","qty":%s}]}\n' \
    "$1" "$1" "$(at "$1")" "$1" "$2"
}
{
  o 1 2
  o 2 3
  printf 'pb-x|{"type":"order.created","occurred_at":"%s","order_id":"pb-x","lines":[{"sku":"pb-sku","qty":1}]}\n' "$(at 3)"
  o 3 1
  printf 'pb-1|{"type":"order.cancelled","occurred_at":"%s","order_id":"pb-1"}\n' "$(at 4)"
  o 4 4
  o 5 5
} >"$SF_TMP/orders.txt"
produce inventory.orders "$SF_TMP/orders.txt" -p 0

start_worker order
w=$WORKER_PID
wait_idle 60 stockflow-order
consume_dlq inventory.orders.dlq 2 30 >"$SF_TMP/dlq.records"
sleep 1
stop_worker "$w" # its session ends: its function statistics are flushed

assert_eq 2 "$(wc -l <"$SF_TMP/dlq.records")" "dead letters"
assert_eq 'order.created|schema order.created: /: missing required property "event_id"
order.cancelled|schema order.cancelled: /: missing required property "event_id"' \
  "$(jq -r '"\(.payload | fromjson | .type)|\(.h["x-error"])"' "$SF_TMP/dlq.records")" \
  "x-error of each dead letter (type|x-error)"
assert_eq "poison poison" "$(jq -r '.h["x-error-class"]' "$SF_TMP/dlq.records" | paste -sd' ')" "x-error-class"

assert_eq "O|pb-1|reserved O|pb-2|reserved O|pb-3|reserved O|pb-4|reserved O|pb-5|reserved" \
  "$(psql_q "SELECT string_agg(format('O|%s|%s', order_id, state), ' ' ORDER BY order_id) FROM order_status")" \
  "the good orders (pb-1 not cancelled: its cancellation was poison)"
assert_eq "100|15" "$(psql_q "SELECT on_hand || '|' || reserved FROM stock WHERE sku = 'pb-sku'")" "pb-sku on_hand|reserved"
assert_eq 6 "$(psql_q "SELECT count(*) FROM processed_events")" "processed events (pb-r and the five orders)"
assert_invariants

# the batch path, not one by one
psql_q "SELECT funcname || ' ' || calls FROM pg_stat_user_functions ORDER BY 1" | paste -sd, >&2
batch=$(calls sf_apply_batch)
single=$(calls sf_apply)
note "sf_apply_batch calls: $batch, sf_apply calls: $single"
((batch >= 1)) || fail "sf_apply_batch was never called"
assert_eq 0 "$single" "sf_apply calls (events applied one by one)"
! grep -q 'applying one by one' "$(worker_log "$w")" || fail "the worker applied the batch one by one: $(grep -m1 'one by one' "$(worker_log "$w")")"
