#!/usr/bin/env bash
# A loop turn has a deadline (TURN_DEADLINE_MS, here 1500 ms; issue 15). The
# row of sku-hot is locked from psql for 10 s, far past the deadline, while
# 12 orders for it and 24 for sku-cold wait in one partition
# (PG_LOCK_TIMEOUT_MS=300, RETRY_BACKOFF_SECONDS=14,14). Without a deadline
# one turn tries the batch 4 times, each event alone waiting out the lock
# timeout: ~11 s without a poll here, ~100 min for 1,000 such events.
#
# While the lock is held: /healthz answers 200 at every probe (every 0.3 s),
# the worker logs "loop turn past its deadline" turn after turn and counts
# them in stockflow_turn_deadline_cutoffs_total, no turn lasts longer than
# the deadline + one lock timeout + slack (4 s), the events tried alone go to
# inventory.orders.retry.1 (each at most once), nothing is dead-lettered.
# After the release everything applies exactly once (the retried orders from
# the retry topic), reservations add up, and the §5 invariants hold.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_fail.sh
source "$(dirname "$0")/lib_fail.sh"

HOT=12 COLD=24 DEADLINE=1500 LOCK_MS=300 MAX_TURN_MS=4000

start_pg
migrate
start_broker_ctl 3

{
  printf 'sku-hot|{"event_id":"r-hot","type":"stock.received","occurred_at":"2026-11-27T09:00:00Z","sku":"sku-hot","qty":100}\n'
  printf 'sku-cold|{"event_id":"r-cold","type":"stock.received","occurred_at":"2026-11-27T09:00:00Z","sku":"sku-cold","qty":100}\n'
} >"$SF_TMP/stock.txt"
produce inventory.stock "$SF_TMP/stock.txt"
start_worker stock
s1=$WORKER_PID
wait_idle 60 stockflow-stock

# one hot order, then two cold ones, and so on: all in partition 0
for ((i = 0; i < HOT; i++)); do
  printf 'o-hot-%d|{"event_id":"ev-hot-%d","type":"order.created","occurred_at":"2026-11-27T10:00:00Z","order_id":"o-hot-%d","lines":[{"sku":"sku-hot","qty":1}]}\n' "$i" "$i" "$i"
  for j in 0 1; do
    printf 'o-cold-%d-%d|{"event_id":"ev-cold-%d-%d","type":"order.created","occurred_at":"2026-11-27T10:00:00Z","order_id":"o-cold-%d-%d","lines":[{"sku":"sku-cold","qty":1}]}\n' "$i" "$j" "$i" "$j" "$i" "$j"
  done
done >"$SF_TMP/orders.txt"

port=$(sf_free_port)
start_worker order HTTP_PORT="$port" PG_LOCK_TIMEOUT_MS=$LOCK_MS TURN_DEADLINE_MS=$DEADLINE \
  RETRY_BACKOFF_SECONDS=14,14
o1=$WORKER_PID
wait_assigned "$o1"
wait_for "/healthz 200" 15 curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz"

cutoffs() {
  curl -fsS "http://127.0.0.1:$port/metrics" |
    awk '$1 == "stockflow_turn_deadline_cutoffs_total" { print $2; f = 1 } END { if (!f) print 0 }'
}

lock_hold sku-hot
produce inventory.orders "$SF_TMP/orders.txt" -p 0
held_from=$SECONDS
probes=0 bad=0
while ((SECONDS - held_from < 10)); do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/healthz" || true)
  probes=$((probes + 1))
  [[ $code == 200 ]] || {
    bad=$((bad + 1))
    note "/healthz answered '$code' while the lock was held"
  }
  sleep 0.3
done
n_cut=$(cutoffs)
n_logged=$(grep -c 'loop turn past its deadline' "$(worker_log "$o1")" || true)
retried=$(topic_count inventory.orders.retry.1)
lock_release
note "lock held 10 s: $probes /healthz probes ($bad not 200), $n_cut turns cut by the deadline ($n_logged logged), $retried orders on retry.1"
assert_eq 0 "$bad" "/healthz probes not answered 200 while the lock was held"
((n_cut >= 2)) || fail "stockflow_turn_deadline_cutoffs_total is $n_cut after 10 s of lock timeouts (want >= 2)"
((n_logged >= 2)) || fail "'loop turn past its deadline' logged $n_logged times (want >= 2)"
((retried >= 1)) || fail "no order went to inventory.orders.retry.1 while the lock was held"

# no turn longer than the deadline + one lock timeout + slack
longest=$(grep -oE 'slow loop turn: [0-9]+ ms' "$(worker_log "$o1")" | awk '{ if ($4 > m) m = $4 } END { print m + 0 }')
note "longest loop turn logged: $longest ms (deadline $DEADLINE ms, lock timeout $LOCK_MS ms)"
((longest <= MAX_TURN_MS)) || fail "a loop turn lasted $longest ms (want <= $MAX_TURN_MS)"

wait_for "every order applied after the release" 60 \
  sql_equals "SELECT count(*) FROM processed_events WHERE event_id LIKE 'ev-hot-%' OR event_id LIKE 'ev-cold-%'" $((HOT + COLD))
assert_processed_exactly "$SF_TMP/stock.txt" "$SF_TMP/orders.txt"
# each retry record is a distinct hot order, applied from the retry topic
dups=$(topic_records inventory.orders.retry.1 | jq -r .key | sort | uniq -d | head -n 3)
assert_eq "" "$dups" "orders written to retry.1 more than once"
assert_eq "$(topic_count inventory.orders.retry.1)" \
  "$(psql_q "SELECT count(*) FROM processed_events WHERE topic = 'inventory.orders.retry.1' AND outcome = 'applied'")" \
  "orders applied from retry.1 = records on retry.1"
assert_eq 0 "$(topic_count inventory.orders.retry.2)" "records on inventory.orders.retry.2"
assert_eq 0 "$(topic_count inventory.orders.dlq)" "records on inventory.orders.dlq"
assert_eq "100|$HOT" "$(psql_q "SELECT on_hand || '|' || reserved FROM stock_levels WHERE sku = 'sku-hot'")" "sku-hot on_hand|reserved"
assert_eq "100|$COLD" "$(psql_q "SELECT on_hand || '|' || reserved FROM stock_levels WHERE sku = 'sku-cold'")" "sku-cold on_hand|reserved"
assert_eq "reserved|$((HOT + COLD))" "$(psql_q "SELECT state || '|' || count(*) FROM order_status GROUP BY state")" "order states"
assert_invariants
! grep -q 'revoked' "$(worker_log "$o1")" || fail "the order-worker lost its partitions (max.poll.interval.ms exceeded?)"
assert_alive "$o1"
stop_workers "$o1" "$s1"
