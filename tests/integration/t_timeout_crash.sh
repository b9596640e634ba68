#!/usr/bin/env bash
# The timeout-worker survives kill -9 (DESIGN §4 rule 5; issue 3): 1,000
# pending holds it has read (500 of 6 s, 500 of 10 s) and 50 one-hour holds on
# the same SKU; kill -9 the timeout-worker before the first expiry, keep it
# down past the 6-second holds' expiry (nothing else may release them), start
# it again -> every hold released, none before its expires_at, none later than
# 1 s after max(expires_at, restart time), none twice: the SKU's reserved
# returns exactly to the 50 one-hour holds, nothing goes negative, the
# releases logged add up to 1,000, the ledger has one hold.expired record per
# hold and the outbox no duplicate alert.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_life.sh"

N=500 # per hold length

start_pg
migrate
psql_q "INSERT INTO stock (sku, on_hand, received_total) VALUES ('tc-sku', 100000, 100000), ('warm-sku', 10, 10)"
start_broker 6
start_role order
order=$WORKER_PID
start_role payment
payment=$WORKER_PID
start_role timeout
timeout=$WORKER_PID
wait_assigned "$order" "$payment"
wait_payment_watermark 40
life holds --t0 "$(now_ms)" --n 1 --hold 3600 --prefix warm- --sku warm-sku >"$SF_TMP/warm.txt"
produce inventory.orders "$SF_TMP/warm.txt"
wait_idle 40 stockflow-order stockflow-timeout

t0=$(now_ms)
{
  life holds --t0 "$t0" --n 50 --hold 3600 --prefix long- --sku tc-sku --qty 2
  life holds --t0 "$t0" --n "$N" --hold 6 --n2 "$N" --hold2 10 --prefix tc- --sku tc-sku --qty 3
} >"$SF_TMP/holds.txt"
produce inventory.orders "$SF_TMP/holds.txt"
wait_sql "the holds reserved" 10 "SELECT count(*) FROM order_status WHERE state = 'reserved'" $((2 * N + 51))
# the timeout-worker has read (and committed) them: after the restart it
# will not read them from Kafka again
wait_idle 10 stockflow-timeout
now=$(now_ms)
((now < t0 + 5500)) || fail "setup too slow ($((now - t0)) ms): the kill must come before the first expiry"
kill9 "$timeout"

sleep_until_ms $((t0 + 7500))
assert_eq $((2 * N + 51)) "$(psql_q "SELECT count(*) FROM order_status WHERE state = 'reserved'")" \
  "holds released while no timeout-worker ran"
start_role timeout
timeout=$WORKER_PID
restart_ms=$(now_ms)
wait_sql "all $((2 * N)) holds expired" 20 \
  "SELECT count(*) FROM order_status WHERE order_id LIKE 'tc-%' AND state = 'expired'" $((2 * N))

rs="to_timestamp($restart_ms / 1000.0)"
read -r early late lag_a lag_b <<<"$(psql_q "
  SELECT count(*) FILTER (WHERE updated_at < expires_at),
         count(*) FILTER (WHERE updated_at > greatest(expires_at, $rs) + interval '1 second'),
         round(1000 * max(extract(epoch FROM updated_at - $rs)) FILTER (WHERE expires_at < $rs)),
         round(1000 * max(extract(epoch FROM updated_at - expires_at)) FILTER (WHERE expires_at >= $rs))
    FROM order_status WHERE order_id LIKE 'tc-%'" -F ' ')"
note "holds that expired while it was down: released at most ${lag_a} ms after the restart;" \
  "the others at most ${lag_b} ms after their expiry"
if ((early + late != 0)); then
  psql "$DATABASE_URL" -Xq -c "SELECT order_id, expires_at, updated_at, $rs AS restart FROM order_status
     WHERE order_id LIKE 'tc-%' AND (updated_at < expires_at OR updated_at > greatest(expires_at, $rs) + interval '1 second')
     ORDER BY 1 LIMIT 10" >&2
  fail "$early released before expires_at, $late later than 1 s after max(expires_at, restart)"
fi

assert_eq "100000|100|0" "$(psql_q "SELECT on_hand || '|' || reserved || '|' || committed_total FROM stock WHERE sku = 'tc-sku'")" \
  "tc-sku on_hand|reserved|committed (reserved: the 50 one-hour holds of 2)"
assert_eq 50 "$(psql_q "SELECT count(*) FROM order_status WHERE order_id LIKE 'long-%' AND state = 'reserved'")" \
  "one-hour holds still reserved"
assert_invariants
released=$(cat "$SF_TMP"/timeout-*.log | { grep -o '"msg":"released [0-9]* expired' || true; } |
  awk '{ s += $2 } END { print s + 0 }')
assert_eq $((2 * N)) "$released" "holds released, summed over both timeout-worker logs"
assert_eq "" "$(psql_q "SELECT key || ' x' || count(*) FROM outbox WHERE topic = 'inventory.alerts'
                         GROUP BY key HAVING count(*) > 1")" "duplicate alerts in the outbox"
# the ledger: one hold.expired record per released hold, none for the others
assert_eq "$((2 * N))|$((2 * N))|0" "$(psql_q "
  SELECT count(*) || '|' || count(DISTINCT payload->'cause'->>'event_id') || '|'
         || count(*) FILTER (WHERE payload->'cause'->>'event_id' NOT LIKE 'expired:tc-%')
    FROM outbox WHERE topic = 'inventory.ledger' AND payload->'cause'->>'type' = 'hold.expired'")" \
  "ledger hold.expired records|distinct holds|records for other orders"
assert_eq 0 "$(psql_q "SELECT count(*) FROM outbox WHERE key LIKE 'refund_required:%'")" "refund alerts"
stop_workers "$order" "$payment" "$timeout"
