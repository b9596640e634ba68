#!/usr/bin/env bash
# Every cell of DESIGN §4 (rules 1-7), with both arrival orders across the
# inventory.orders and inventory.payments topics. One small scenario per
# order (life.py rules; distinct order ids, plentiful stock), produced to two
# stacks (database + broker + order, payment, timeout and stock workers):
#   run A: stock, orders, [the short holds expire], late stock, payments, final
#   run B: stock, payments, late stock, orders, final
# "final" is stock for a SKU that had none, then more events for orders that
# are already committed or refund_required (rule 7: those states are final).
# Each run must end in the state the rules give every order (expect.txt:
# state, stock on_hand/reserved/committed, one refund_required alert per
# refund), and both runs must agree row for row (expires_at included).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_life.sh"

RUNS=(A B)
declare -A WORKERS=()

start_pg
for run in "${RUNS[@]}"; do
  [[ $run == A ]] || new_db "${run,,}"
  migrate
  start_broker 6
  save_stack "$run"
  pids=()
  for role in stock order payment timeout; do
    start_role "$role"
    pids+=("$WORKER_PID")
  done
  WORKERS[$run]="${pids[*]}"
done
for run in "${RUNS[@]}"; do
  use_stack "$run"
  wait_payment_watermark 40
done

D=$SF_TMP/rules
life rules --t0 "$(now_ms)" --out "$D"

# idle RUN GROUP...: waits until RUN's listed groups have read everything.
idle() {
  use_stack "$1"
  shift
  wait_idle 60 "$@"
}
# on RUN TOPIC FILE: produces FILE to TOPIC on RUN's broker.
on() {
  use_stack "$1"
  [[ ! -s $3 ]] || produce "$2" "$3"
}

on A inventory.stock "$D/stock0.txt"
on B inventory.stock "$D/stock0.txt"
idle A stockflow-stock
idle B stockflow-stock

# the first topic
on A inventory.orders "$D/orders.txt"
on B inventory.payments "$D/payments.txt"
idle A stockflow-order
idle B stockflow-payment
use_stack A
ids=$(paste -sd, "$D/expire_ids.txt" | sed "s/[^,]*/'&'/g")
nexp=$(wc -l <"$D/expire_ids.txt")
wait_sql "run A: the short holds expired before their payments are read" 20 \
  "SELECT count(*) FROM order_status WHERE order_id IN ($ids) AND state = 'expired'" "$nexp"
use_stack B
assert_eq "" "$(psql_q "SELECT order_id || ' ' || state FROM order_status
                         WHERE state NOT IN ('awaiting_order', 'payment_failed') ORDER BY 1")" \
  "run B: payments read before their orders leave awaiting_order or payment_failed only"

# stock for late-sku, between the two topics
on A inventory.stock "$D/stock_late.txt"
on B inventory.stock "$D/stock_late.txt"
idle A stockflow-stock
idle B stockflow-stock

# the second topic
on A inventory.payments "$D/payments.txt"
on B inventory.orders "$D/orders.txt"
idle A stockflow-payment
idle B stockflow-order

# B: the short holds, read after their expiry, are released now
held=$(grep -c '|reserved$' "$D/expect.txt")
for run in "${RUNS[@]}"; do
  use_stack "$run"
  wait_sql "run $run: only the long holds left reserved" 20 \
    "SELECT count(*) FROM order_status WHERE state = 'reserved'" "$held"
done

# final: stock for never-sku, then more events for final orders
on A inventory.stock "$D/stock_final.txt"
on B inventory.stock "$D/stock_final.txt"
idle A stockflow-stock
idle B stockflow-stock
on A inventory.orders "$D/orders_final.txt"
on B inventory.payments "$D/payments_final.txt"
idle A stockflow-order
idle B stockflow-payment
on A inventory.payments "$D/payments_final.txt"
on B inventory.orders "$D/orders_final.txt"
for run in "${RUNS[@]}"; do
  idle "$run" stockflow-order stockflow-payment stockflow-stock
done

# actual, in expect.txt's format
actual() {
  {
    psql_q "SELECT format('O|%s|%s', order_id, state) FROM order_status"
    psql_q "SELECT format('S|%s|%s|%s|%s', sku, on_hand, reserved, committed_total) FROM stock"
    psql_q "SELECT format('A|%s|%s', key, count(*)) FROM outbox
             WHERE topic = 'inventory.alerts' AND key LIKE 'refund_required:%' GROUP BY key"
  } | LC_ALL=C sort
}

status=0
for run in "${RUNS[@]}"; do
  use_stack "$run"
  actual >"$SF_TMP/actual-$run.txt"
  dump_life >"$SF_TMP/dump-$run.txt"
  if ! cmp -s "$D/expect.txt" "$SF_TMP/actual-$run.txt"; then
    status=1
    note "run $run: state differs from the rules (expected -, actual +):"
    diff -u --label expected --label "actual run $run" "$D/expect.txt" "$SF_TMP/actual-$run.txt" |
      grep '^[-+][^-+]' >&2 || true
    # the facts of every order that differs, for the report
    bad=$({ diff "$D/expect.txt" "$SF_TMP/actual-$run.txt" || true; } | sed -n 's/^[<>] [OA]|\(refund_required:\)\{0,1\}\([^|]*\)|.*/\2/p' |
      sort -u | sed "s/.*/'&'/" | paste -sd,)
    if [[ -n $bad ]]; then
      psql "$DATABASE_URL" -Xq -c "SELECT order_id, state, created, rejected, expired, created_at,
               expires_at, paid_at, cancelled_at, failed_at FROM orders WHERE order_id IN ($bad) ORDER BY 1" >&2
      psql "$DATABASE_URL" -Xq -c "SELECT order_id, type, occurred_at, outcome, detail, processed_at
               FROM processed_events WHERE order_id IN ($bad) ORDER BY order_id, processed_at" >&2
    fi
  fi
  assert_invariants
done
if ! cmp -s "$SF_TMP/dump-A.txt" "$SF_TMP/dump-B.txt"; then
  status=1
  note "the two arrival orders disagree (run A -, run B +):"
  diff -u --label "run A" --label "run B" "$SF_TMP/dump-A.txt" "$SF_TMP/dump-B.txt" | grep '^[-+][^-+]' >&2 || true
fi
((status == 0)) || fail "DESIGN §4 rules: see the differences above"

# the refund alerts carry the order and its lines
use_stack A
assert_eq '[{"qty": 1, "sku": "never-sku"}]' \
  "$(psql_q "SELECT payload->'details'->'lines' FROM outbox WHERE key = 'refund_required:r7-refund-final-stock-came'")" \
  "refund alert details.lines"
note "$(grep -c '^O|' "$D/expect.txt") orders, $(grep -c '^A|' "$D/expect.txt") refund alerts: both arrival orders match the rules"
for run in "${RUNS[@]}"; do
  read -ra pids <<<"${WORKERS[$run]}"
  stop_workers "${pids[@]}"
done
