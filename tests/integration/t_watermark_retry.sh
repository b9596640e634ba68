#!/usr/bin/env bash
# The payment watermark never passes a payment sent to retry, nor the present
# (issue 15; schemas/sql/008). One partition of inventory.payments.
#
# 1. late-00000 holds 8 s; its on-time payment fails on a lock of its order
#    row (PG_LOCK_TIMEOUT_MS=300) and goes to inventory.payments.retry.1
#    (RETRY_BACKOFF_SECONDS=14,14); the lock goes at once. Payments for
#    other orders, produced after late-00000's expiry, are applied and move
#    the partition on. 3 s past the expiry (and before the retry is due)
#    late-00000 is still reserved, and so is ctl-00000 (unpaid, same expiry:
#    the pin holds every hold back); the effective watermark is below the
#    retried record's timestamp and one pin exists. Once the retry is
#    applied: late-00000 committed, never released (orders.expired false, no
#    refund), applied from retry.1; the pin is gone and ctl-00000 expires.
# 2. A payment record stamped 2100-01-01 (on Apache Kafka, which refuses
#    that, 50 minutes ahead) does not move the watermark past now: with the payment-worker stopped right after it, a 2-second hold
#    whose payment waits unread is still reserved 3 s past its expiry; the
#    payment-worker started again commits it; the watermark goes on
#    advancing (nothing pinned it).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_life.sh"

: "${PRODUCE_AT:=$SF_SRC/build/tests/tools/produce-at}"
[[ -x $PRODUCE_AT ]] || fail "produce-at not built: $PRODUCE_AT"

start_pg
migrate
psql_q "INSERT INTO stock (sku, on_hand, received_total) VALUES ('wm-sku', 1000, 1000)"
start_broker 1
start_role order
order=$WORKER_PID
start_role payment PG_LOCK_TIMEOUT_MS=300 RETRY_BACKOFF_SECONDS=14,14
payment=$WORKER_PID
start_role timeout
timeout=$WORKER_PID
wait_assigned "$order" "$payment"
wait_payment_watermark 40

# lock_order ORDER_ID: a psql session holds the orders row FOR UPDATE (until unlock_order).
lock_order() {
  local fifo=$SF_TMP/lock.fifo
  rm -f -- "$fifo" "$SF_TMP/lock.out"
  mkfifo -- "$fifo"
  PGAPPNAME=sf-lockholder psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 <"$fifo" >"$SF_TMP/lock.out" 2>&1 &
  LOCK_PID=$!
  SF_OTHERS+=("$LOCK_PID")
  SF_NAME[$LOCK_PID]=lockholder
  exec {LOCK_FD}>"$fifo"
  printf "BEGIN;\nSELECT 'locked|' || order_id FROM orders WHERE order_id = '%s' FOR UPDATE;\n" "$1" >&"$LOCK_FD"
  wait_for "the row lock on order $1" 20 grep -qx "locked|$1" "$SF_TMP/lock.out"
}
unlock_order() {
  printf 'COMMIT;\n' >&"$LOCK_FD"
  exec {LOCK_FD}>&-
  wait "$LOCK_PID" || fail "the lock-holding psql failed: $(cat "$SF_TMP/lock.out")"
  sf_forget "$LOCK_PID"
}
state_of() { psql_q "SELECT state FROM order_status WHERE order_id = '$1'"; }
eff_wm_ms() {
  psql_q "SELECT (extract(epoch FROM sf_payment_watermark('stockflow-payment', 'inventory.payments', 1)) * 1000)::bigint"
}

# ---- 1: a payment waiting in a retry topic pins the watermark ---------------
t1=$(now_ms)
life holds --t0 "$t1" --n 1 --hold 8 --prefix late- --sku wm-sku >"$SF_TMP/holds.txt"
life holds --t0 "$t1" --n 1 --hold 8 --prefix ctl- --sku wm-sku >>"$SF_TMP/holds.txt"
life holds --t0 "$t1" --n 5 --hold 600 --prefix other- --sku wm-sku >>"$SF_TMP/holds.txt"
produce inventory.orders "$SF_TMP/holds.txt"
wait_sql "the holds applied" 15 "SELECT count(*) FROM order_status WHERE state = 'reserved'" 7
expires_ms=$(psql_q "SELECT (extract(epoch FROM expires_at) * 1000)::bigint FROM orders WHERE order_id = 'late-00000'")

lock_order late-00000
life pay --t0 $((t1 + 1000)) --n 1 --prefix late- >"$SF_TMP/pay-late.txt"
produce inventory.payments "$SF_TMP/pay-late.txt"
wait_log "$payment" '"retry to inventory\.payments\.retry\.1' 30
unlock_order
rec=$(topic_records inventory.payments.retry.1)
nb=$(jq -r '.h["x-not-before"]' <<<"$rec")
src_ts=$(topic_records inventory.payments | jq -r 'select(.key == "late-00000") | .ts')
note "late-00000: record stamped $src_ts, expires at $expires_ms (+$((expires_ms - src_ts)) ms), retry due at $nb (+$((nb - expires_ms)) ms after the expiry)"
assert_eq 1 "$(psql_q "SELECT count(*) FROM watermark_pins")" "pins while the payment waits in retry.1"

# later payments for other orders, after the expiry: the partition moves on
sleep_until_ms $((expires_ms + 500))
life pay --t0 "$(now_ms)" --n 5 --prefix other- >"$SF_TMP/pay-other.txt"
produce inventory.payments "$SF_TMP/pay-other.txt"
wait_sql "the later payments applied" 15 \
  "SELECT count(*) FROM order_status WHERE order_id LIKE 'other-%' AND state = 'committed'" 5
check_ms=$((expires_ms + 3000))
((check_ms < nb - 300)) || fail "too slow: the retry is due at $nb, before the check at $check_ms"
sleep_until_ms "$check_ms"
wm=$(eff_wm_ms)
stored=$(psql_q "SELECT (extract(epoch FROM watermark) * 1000)::bigint FROM consumer_watermarks WHERE topic = 'inventory.payments'")
note "3 s past the expiry: effective watermark $wm ($((wm - src_ts)) ms from the retried record), stored $stored, newest applied payment $(topic_records inventory.payments | jq -s 'map(.ts) | max')"
assert_eq "reserved" "$(state_of late-00000)" "late-00000 3 s past its expiry, its payment in retry.1"
assert_eq "reserved" "$(state_of ctl-00000)" "ctl-00000 3 s past its expiry (held back by the pin too)"
((wm < src_ts)) || fail "effective payment watermark $wm is not below the retried record's timestamp $src_ts"
((stored < src_ts)) || fail "stored watermark $stored is not below the retried record's timestamp $src_ts"

wait_sql "late-00000 committed by its retried payment" 40 \
  "SELECT state FROM order_status WHERE order_id = 'late-00000'" committed
wait_sql "ctl-00000 expired once the pin is gone" 15 \
  "SELECT state FROM order_status WHERE order_id = 'ctl-00000'" expired
assert_eq "f" "$(psql_q "SELECT expired FROM orders WHERE order_id = 'late-00000'")" "late-00000 released before its payment applied (orders.expired)"
assert_eq "inventory.payments.retry.1|applied|committed" \
  "$(psql_q "SELECT topic || '|' || outcome || '|' || detail FROM processed_events WHERE order_id = 'late-00000' AND type = 'payment.succeeded'")" \
  "late-00000's payment: applied from retry.1, deducting the held order"
assert_eq 0 "$(psql_q "SELECT count(*) FROM watermark_pins")" "pins once the retried payment applied"
assert_eq 0 "$(psql_q "SELECT count(*) FROM outbox WHERE key LIKE 'refund_required:%'")" "refund alerts"
wm_after=$(eff_wm_ms)
((wm_after > expires_ms)) || fail "the watermark did not move on after the retry applied: $wm_after"

# ---- 2: a record stamped in 2100 neither jumps nor pins the watermark ---------
future=4102444800000 # 2100-01-01T00:00:00Z
if on_kafka; then
  # Apache Kafka 4 refuses a record stamped more than an hour ahead
  # (log.message.timestamp.after.max.ms, "Invalid timestamp"): 50 minutes
  future=$(($(now_ms) + 50 * 60 * 1000))
fi
"$PRODUCE_AT" "$KAFKA_BROKERS" inventory.payments 0 "$future" fut-unknown \
  '{"event_id":"fut-unknown-p","type":"payment.succeeded","occurred_at":"2026-11-27T10:00:00Z","order_id":"fut-unknown"}' ||
  fail "produce-at failed"
wait_sql "the 2100 payment applied" 15 "SELECT state FROM order_status WHERE order_id = 'fut-unknown'" awaiting_order
assert_eq "$future" "$(topic_records inventory.payments | jq -r 'select(.key == "fut-unknown") | .ts')" "the record's timestamp"
ahead=$(psql_q "SELECT (extract(epoch FROM max(watermark) - clock_timestamp()) * 1000)::bigint FROM consumer_watermarks")
note "after the record stamped $future: the stored watermark is $ahead ms from now"
((ahead <= 1000)) || fail "a record stamped $future moved the watermark $ahead ms into the future"
stop_worker "$payment"

t2=$(now_ms)
life holds --t0 "$t2" --n 1 --hold 2 --prefix fut- --sku wm-sku >"$SF_TMP/fut.txt"
produce inventory.orders "$SF_TMP/fut.txt"
life pay --t0 $((t2 + 1000)) --n 1 --prefix fut- >"$SF_TMP/pay-fut.txt"
produce inventory.payments "$SF_TMP/pay-fut.txt"
wait_sql "fut-00000 reserved" 10 "SELECT state FROM order_status WHERE order_id = 'fut-00000'" reserved
sleep_until_ms $((t2 + 2000 + 3000))
assert_eq "reserved" "$(state_of fut-00000)" "fut-00000 3 s past its expiry, its payment unread"
start_role payment
payment=$WORKER_PID
wait_sql "fut-00000 committed" 30 "SELECT state FROM order_status WHERE order_id = 'fut-00000'" committed
assert_eq "f" "$(psql_q "SELECT expired FROM orders WHERE order_id = 'fut-00000'")" "fut-00000 released before its payment applied"
wait_payment_watermark 15 # advancing again: within 5 s of now
assert_invariants
stop_workers "$order" "$payment" "$timeout"
