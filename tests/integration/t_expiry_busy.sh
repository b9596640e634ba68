#!/usr/bin/env bash
# Timely expiry while payments flow (DESIGN §4 rule 5: "in normal operation
# within 1 s of expiry"; issue 3: "a payment consumer that has caught up with
# its partitions (no lag) counts as having read up to the present"). A steady
# stream of payment events (200/s for 10 s, all on partition 0 of
# inventory.payments, for orders nobody created) keeps the payment-worker
# busy and caught up; 20 holds of 2 s created 2 s into the stream must be
# released within 1 s of their expiry, although partitions 1-5 of the
# payments topic receive nothing. Prints each partition's watermark age at
# the expiry and the expiry lag.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_life.sh"

RATE=200 SECS=10 N=20

start_pg
migrate
psql_q "INSERT INTO stock (sku, on_hand, received_total) VALUES ('busy-sku', 1000, 1000)"
start_broker 6
start_role order
order=$WORKER_PID
start_role payment
payment=$WORKER_PID
start_role timeout
timeout=$WORKER_PID
wait_assigned "$order" "$payment"
wait_payment_watermark 40

life stream --n $((RATE * SECS)) --rate "$RATE" --prefix busy- |
  kcat -P -b "$KAFKA_BROKERS" -t inventory.payments -K '|' -p 0 2>>"$SF_TMP/kcat.log" &
stream=$!
wait_sql "the payment stream being applied" 20 \
  "SELECT count(*) >= $((RATE * 2)) FROM processed_events WHERE order_id LIKE 'busy-%'" t

t0=$(now_ms)
life holds --t0 "$t0" --n "$N" --hold 2 --prefix hold- --sku busy-sku >"$SF_TMP/holds.txt"
produce inventory.orders "$SF_TMP/holds.txt"
wait_sql "the holds applied" 5 "SELECT count(*) FROM order_status WHERE order_id LIKE 'hold-%'" "$N"
sleep_until_ms $((t0 + 2000 + 1000))
ages=$(psql_q "SELECT string_agg(partition || ':' || round(1000 * extract(epoch FROM clock_timestamp() - watermark)) || 'ms',
                                 ' ' ORDER BY partition)
                 FROM consumer_watermarks WHERE topic = 'inventory.payments'")
done_at_1s=$(psql_q "SELECT count(*) FROM order_status WHERE order_id LIKE 'hold-%' AND state = 'expired'")
busy_age=$(psql_q "SELECT round(1000 * extract(epoch FROM clock_timestamp() - watermark)) FROM consumer_watermarks
                    WHERE topic = 'inventory.payments' AND partition = 0")
sf_alive "$stream" || note "warning: the payment stream ended before the holds expired"
note "1 s after the expiry, with payments flowing: $done_at_1s of $N holds released; payment watermark age per partition: $ages"
wait_sql "the holds released" 30 "SELECT count(*) FROM order_status WHERE order_id LIKE 'hold-%' AND state = 'expired'" "$N"
max=$(psql_q "SELECT round(1000 * max(extract(epoch FROM updated_at - expires_at))) FROM order_status WHERE order_id LIKE 'hold-%'")
note "expiry lag while payments flow: max ${max} ms"
wait "$stream" || fail "producing the payment stream failed"
((busy_age < 1000)) || fail "the payment-worker itself lagged ${busy_age} ms on the busy partition (machine overloaded?): cannot judge"
((done_at_1s == N)) || fail "holds not released within 1 s of expiry while payments flow on another partition" \
  "(released ${max} ms after expiry; watermark ages: $ages)"
assert_invariants
stop_workers "$order" "$payment" "$timeout"
