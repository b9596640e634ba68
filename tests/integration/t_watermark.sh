#!/usr/bin/env bash
# Payment watermark (DESIGN §4 rule 5: a hold is not released while a payment
# that occurred before its expires_at may still be unread). With the
# payment-worker stopped (SIGTERM), 2-second holds pass their expiry while
# their on-time payments (occurred_at 1 s after the order) wait unread in
# inventory.payments: the holds stay reserved (and so do unpaid ones: any of
# them might have a payment unread), the timeout-worker raises a
# payment_watermark_lag alert (PAYMENT_LAG_ALERT_SECONDS=2). Once the
# payment-worker runs again, the paid orders end committed without ever
# having been released (orders.expired false, stock deducted once) and the
# unpaid ones expire. While held back, the holds show on the timeout-worker's
# /metrics as stockflow_overdue_holds (30), and 0 once released.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_life.sh"

PAID=20 UNPAID=10

start_pg
migrate
psql_q "INSERT INTO stock (sku, on_hand, received_total) VALUES ('wm-sku', 1000, 1000)"
start_broker 6
start_role order
order=$WORKER_PID
start_role payment
payment=$WORKER_PID
tport=$(sf_free_port)
start_role timeout PAYMENT_LAG_ALERT_SECONDS=2 HTTP_PORT="$tport"
timeout=$WORKER_PID
overdue_is() {
  [[ $(curl -fsS "http://127.0.0.1:$tport/metrics" | awk '$1 == "stockflow_overdue_holds" {print $2}') == "$1" ]]
}
wait_assigned "$order" "$payment"
wait_payment_watermark 40

# control: with the payment-worker running, a 1-second hold expires
life holds --t0 "$(now_ms)" --n 3 --hold 1 --prefix pre- --sku wm-sku >"$SF_TMP/pre.txt"
produce inventory.orders "$SF_TMP/pre.txt"
wait_sql "the control holds expired (payment-worker up)" 15 \
  "SELECT count(*) FROM order_status WHERE order_id LIKE 'pre-%' AND state = 'expired'" 3

stop_worker "$payment"
stopped_ms=$(now_ms)

t1=$(now_ms)
life holds --t0 "$t1" --n "$PAID" --hold 2 --prefix paid- --sku wm-sku >"$SF_TMP/holds.txt"
life holds --t0 "$t1" --n "$UNPAID" --hold 2 --prefix unpaid- --sku wm-sku >>"$SF_TMP/holds.txt"
produce inventory.orders "$SF_TMP/holds.txt"
# on time: 1 s after the order, 1 s before its expiry
life pay --t0 $((t1 + 1000)) --n "$PAID" --prefix paid- >"$SF_TMP/pay.txt"
produce inventory.payments "$SF_TMP/pay.txt"
wait_sql "the holds applied" 10 \
  "SELECT count(*) FROM order_status WHERE state = 'reserved'" $((PAID + UNPAID))
wm_ms=$(psql_q "SELECT (extract(epoch FROM min(watermark)) * 1000)::bigint FROM consumer_watermarks")
note "payment watermark frozen $((stopped_ms - wm_ms)) ms before the stop; the holds expire $((t1 + 2000 - wm_ms)) ms after it"

wait_sql "a payment_watermark_lag alert" 15 \
  "SELECT count(*) > 0 FROM outbox WHERE payload->>'kind' = 'payment_watermark_lag'" t
# past the expiry by 3 s: nothing may have been released
sleep_until_ms $((t1 + 2000 + 3000))
assert_eq "reserved|$((PAID + UNPAID))" \
  "$(psql_q "SELECT state || '|' || count(*) FROM order_status WHERE order_id LIKE 'paid-%' OR order_id LIKE 'unpaid-%' GROUP BY state")" \
  "3 s past expiry with the payments unread: every hold still reserved"
assert_eq "$((PAID + UNPAID))" "$(psql_q "SELECT reserved FROM stock WHERE sku = 'wm-sku'")" "wm-sku reserved while waiting"
assert_eq 0 "$(psql_q "SELECT count(*) FROM processed_events WHERE topic = 'inventory.payments'")" \
  "payments applied while the payment-worker was down"
note "watermark $(psql_q "SELECT to_char(min(watermark), 'HH24:MI:SS.MS') FROM consumer_watermarks")," \
  "holds expired at $(psql_q "SELECT to_char(max(expires_at), 'HH24:MI:SS.MS') FROM orders WHERE order_id LIKE 'paid-%'"): nothing released"

wait_for "stockflow_overdue_holds $((PAID + UNPAID)) on the timeout-worker" 15 overdue_is $((PAID + UNPAID))

start_role payment
payment=$WORKER_PID
restart_ms=$(now_ms)
wait_sql "the paid orders committed" 30 \
  "SELECT count(*) FROM order_status WHERE order_id LIKE 'paid-%' AND state = 'committed'" "$PAID"
wait_sql "the unpaid orders expired" 15 \
  "SELECT count(*) FROM order_status WHERE order_id LIKE 'unpaid-%' AND state = 'expired'" "$UNPAID"
note "paid -> committed and unpaid -> expired within $((($(now_ms) - restart_ms) / 1000)) s of the restart"
assert_eq 0 "$(psql_q "SELECT count(*) FROM orders WHERE order_id LIKE 'paid-%' AND expired")" \
  "paid orders released before their payment was read (orders.expired)"
assert_eq "$PAID" "$(psql_q "SELECT count(*) FROM processed_events WHERE type = 'payment.succeeded'
                              AND outcome = 'applied' AND detail = 'committed'")" \
  "payments that deducted a held order (detail committed)"
assert_eq "$((1000 - PAID))|0|$PAID" "$(psql_q "SELECT on_hand || '|' || reserved || '|' || committed_total FROM stock WHERE sku = 'wm-sku'")" \
  "wm-sku on_hand|reserved|committed"
assert_eq 0 "$(psql_q "SELECT count(*) FROM outbox WHERE key LIKE 'refund_required:%'")" "refund alerts"
wait_for "stockflow_overdue_holds 0 once released" 15 overdue_is 0
assert_invariants
stop_workers "$order" "$payment" "$timeout"
