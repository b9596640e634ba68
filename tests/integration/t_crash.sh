#!/usr/bin/env bash
# Crash: kill -9 one of two order-workers while the stream is being applied,
# start it again -> the final views are identical to an uninterrupted run of
# the same stream (second broker, second database), both match the state
# gen.py predicts, and the invariants hold (DESIGN §5.3, §5.4). The stream has
# plentiful stock and cancellations, so its outcome does not depend on which
# order wins the last units.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

ORDERS=4000
gen scenario --orders "$ORDERS" --skus 40 --seed 41 --out "$SF_TMP/sc"
nevents=$(wc -l <"$SF_TMP/sc/orders.txt")
nstock=$(wc -l <"$SF_TMP/sc/stock.txt")

# ---- run 1: with a crash ----
start_pg
migrate
start_broker 6
produce inventory.stock "$SF_TMP/sc/stock.txt"
start_worker stock
s1=$WORKER_PID
wait_idle 60 stockflow-stock
# small batches, so the stream takes long enough to be interrupted
start_worker order BATCH_MAX=20
victim=$WORKER_PID
start_worker order BATCH_MAX=20
other=$WORKER_PID
wait_assigned "$victim" "$other"
produce inventory.orders "$SF_TMP/sc/orders.txt"

progress() { psql_q "SELECT count(*) FROM processed_events WHERE topic = 'inventory.orders'"; }
in_flight() { (($(progress) >= nevents / 10)); }
wait_for "10% of the orders applied" 60 in_flight
done_at_kill=$(progress)
kill9 "$victim"
note "killed at $done_at_kill of $nevents order events applied"
((done_at_kill < nevents * 9 / 10)) || fail "the stream was almost consumed ($done_at_kill of $nevents) before the kill: not a mid-stream crash"
start_worker order BATCH_MAX=20
restarted=$WORKER_PID
wait_idle 120
dump_views >"$SF_TMP/crash.txt"
dump_state >"$SF_TMP/crash-state.txt"
assert_invariants
assert_eq $((nevents + nstock)) "$(psql_q "SELECT count(*) FROM processed_events")" "processed_events after the crash run"
stop_workers "$restarted" "$other" "$s1"

# ---- run 2: the same stream, uninterrupted ----
new_db ref
migrate
start_broker 6
produce inventory.stock "$SF_TMP/sc/stock.txt"
start_worker stock
s2=$WORKER_PID
wait_idle 60 stockflow-stock
produce inventory.orders "$SF_TMP/sc/orders.txt"
start_worker order
o2=$WORKER_PID
wait_idle 120
dump_views >"$SF_TMP/reference.txt"
assert_invariants
stop_workers "$o2" "$s2"

assert_files_eq "$SF_TMP/reference.txt" "$SF_TMP/crash.txt" "views after a kill -9 = views of an uninterrupted run"
assert_files_eq "$SF_TMP/sc/expect.txt" "$SF_TMP/crash-state.txt" "state after the crash run = expected state"
