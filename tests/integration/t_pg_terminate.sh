#!/usr/bin/env bash
# Connections killed under the workers (DESIGN §5.3, §5.4, §6): while two
# order-workers apply a stream of 6,000 orders (plus cancellations), the
# order-workers' PostgreSQL sessions are terminated with pg_terminate_backend
# five times, 1 s apart (only this test's database), at least once in the
# middle of a transaction -> each worker logs the outage, reconnects by
# itself (same process), and in the end: every event applied exactly once (processed_events
# = the produced event ids), the state gen.py predicts, invariants hold,
# nothing on any retry or dead-letter topic, every outbox row published.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_fail.sh
source "$(dirname "$0")/lib_fail.sh"

ORDERS=${ORDERS:-6000}
ROUNDS=5
gen scenario --orders "$ORDERS" --skus 40 --seed 47 --out "$SF_TMP/sc"
nevents=$(wc -l <"$SF_TMP/sc/orders.txt")

start_pg
migrate
start_broker 6
produce inventory.stock "$SF_TMP/sc/stock.txt"
start_worker stock
s1=$WORKER_PID
wait_idle 60 stockflow-stock
# small batches: the stream lasts long enough for five rounds of kills
start_worker order BATCH_MAX=20
o1=$WORKER_PID
start_worker order BATCH_MAX=20
o2=$WORKER_PID
wait_assigned "$o1" "$o2"
produce inventory.orders "$SF_TMP/sc/orders.txt"

progress() { processed_count "topic = 'inventory.orders'"; }
wait_for "the first orders applied" 60 processed_at_least $((nevents / 20))

killed=0
in_tx=0
for ((r = 1; r <= ROUNDS; r++)); do
  out=$(psql_q "SELECT count(*) || '|' || count(*) FILTER (WHERE xact_start IS NOT NULL)
                  FROM (SELECT pid, xact_start, pg_terminate_backend(pid)
                          FROM pg_stat_activity
                         WHERE application_name LIKE 'order-worker%'
                           AND datname = current_database()) t")
  done_now=$(progress)
  note "round $r: terminated $out (sessions|in a transaction) at $done_now of $nevents orders applied"
  killed=$((killed + ${out%|*}))
  in_tx=$((in_tx + ${out#*|}))
  ((done_now < nevents)) || fail "the stream was consumed before round $r: not mid-stream"
  sleep 1
done
((killed >= ROUNDS)) || fail "only $killed order-worker sessions terminated in $ROUNDS rounds"
((in_tx >= 1)) || fail "no session was terminated in the middle of a transaction"

wait_idle 120
assert_alive "$o1" "$o2" "$s1"
for pid in "$o1" "$o2"; do
  log_has "$pid" '"level":"error".*PostgreSQL unavailable' || fail "${SF_NAME[$pid]} logged no PostgreSQL outage"
done
assert_processed_exactly "$SF_TMP/sc/stock.txt" "$SF_TMP/sc/orders.txt"
dump_state >"$SF_TMP/state.txt"
assert_files_eq "$SF_TMP/sc/expect.txt" "$SF_TMP/state.txt" "state after the kills = expected state"
assert_invariants
assert_no_retry_dlq
assert_outbox_published 30
stop_workers "$o1" "$o2" "$s1"
