#!/usr/bin/env bash
# Timely expiry (DESIGN §4 rule 5): 200 orders with hold_seconds 2, occurring
# 5 ms apart (plentiful stock; the payment-worker running and idle, so the
# payment watermark keeps up with the clock) are all released (expired), none
# before its expires_at, each within 1 s of it. A 1-hour hold produced first, on the same partition
# as the 2-second ones, stays reserved and does not hold them back.
# Prints the expiry lag (updated_at - expires_at): p50, p99, max.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_life.sh"

N=${LIFE_HOLDS:-200}

start_pg
migrate
psql_q "INSERT INTO stock (sku, on_hand, received_total) VALUES ('exp-sku', 100000, 100000), ('warm-sku', 10, 10)"
start_broker 6
start_role order
order=$WORKER_PID
start_role payment
payment=$WORKER_PID
start_role timeout
timeout=$WORKER_PID
wait_assigned "$order" "$payment"
wait_payment_watermark 40

# warm-up: the timeout-worker has joined its group and reads inventory.orders
life holds --t0 "$(now_ms)" --n 1 --hold 3600 --prefix warm- --sku warm-sku >"$SF_TMP/warm.txt"
produce inventory.orders "$SF_TMP/warm.txt" -p 1
wait_idle 40 stockflow-order stockflow-timeout

# one 1-hour hold, then N 2-second holds, all on partition 0, in one go
t0=$(now_ms)
{
  life holds --t0 "$t0" --n 1 --hold 3600 --prefix long- --sku exp-sku
  life holds --t0 "$t0" --n "$N" --hold 2 --prefix short- --sku exp-sku --step 5
} >"$SF_TMP/holds.txt"
produce inventory.orders "$SF_TMP/holds.txt" -p 0
wait_sql "the $N + 1 holds applied" 10 \
  "SELECT count(*) FROM processed_events WHERE order_id LIKE 'short-%' OR order_id LIKE 'long-%'" $((N + 1))
applied_ms=$(psql_q "SELECT (extract(epoch FROM max(processed_at)) * 1000)::bigint FROM processed_events
                      WHERE order_id LIKE 'short-%'")
note "holds applied at most $((applied_ms - t0)) ms after the first one occurred"
# the measurement needs every hold in the database before the first expiry
((applied_ms - t0 < 1900)) || fail "the holds took $((applied_ms - t0)) ms to apply (machine overloaded?): cannot measure a 2 s expiry"

wait_sql "all $N short holds expired" 20 \
  "SELECT count(*) FROM order_status WHERE order_id LIKE 'short-%' AND state = 'expired'" "$N"

# lag figures, and none early
read -r early p50 p99 max <<<"$(psql_q "
  SELECT count(*) FILTER (WHERE updated_at < expires_at),
         round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - expires_at))),
         round(1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - expires_at))),
         round(1000 * max(extract(epoch FROM updated_at - expires_at)))
    FROM order_status WHERE order_id LIKE 'short-%'" -F ' ')"
note "expiry lag over $N holds of 2 s (updated_at - expires_at): p50 ${p50} ms, p99 ${p99} ms, max ${max} ms"
printf 'EXPIRY_LAG holds=%s p50_ms=%s p99_ms=%s max_ms=%s\n' "$N" "$p50" "$p99" "$max"
if ((early != 0)); then
  psql "$DATABASE_URL" -Xq -c "SELECT order_id, expires_at, updated_at FROM order_status
                                WHERE order_id LIKE 'short-%' AND updated_at < expires_at ORDER BY 1 LIMIT 10" >&2
  fail "$early holds released before their expires_at"
fi
((max < 1000)) || fail "expiry lag max ${max} ms: not within 1 s of expiry"

assert_eq reserved "$(psql_q "SELECT state FROM order_status WHERE order_id = 'long-00000'")" "the 1-hour hold"
assert_eq "100000|1" "$(psql_q "SELECT on_hand || '|' || reserved FROM stock WHERE sku = 'exp-sku'")" \
  "exp-sku on_hand|reserved after the expiry (only the 1-hour hold left)"
assert_eq 0 "$(psql_q "SELECT count(*) FROM orders WHERE order_id LIKE 'short-%' AND NOT expired")" \
  "short holds not marked expired"
assert_invariants
sf_alive "$timeout" || fail "the timeout-worker exited"
stop_workers "$order" "$payment" "$timeout"
