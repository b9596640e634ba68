#!/usr/bin/env bash
# stockctl replay on a live database:
# - `replay --dry-run` prints what would be re-read and commits nothing;
# - refused (exit 1) while the order workers run (the development broker
#   has no DescribeGroups; stockctl finds live members by joining the group);
# - with the workers stopped, `replay order --from-beginning --wait` resets
#   the group, says how many events will be re-read (every record of the
#   group's topics), and once the restarted workers caught up reports them
#   re-read and 0 applied; not one row of the views changes (updated_at
#   included) and processed_events keeps its count;
# - `replay stock --from-time T --wait` re-reads exactly the records at or after T
#   (found by reading: the development broker does not resolve times), and
#   changes nothing either.
source "$(dirname "$0")/lib.sh"

start_pg
migrate
start_broker 6

gen scenario --orders 800 --skus 25 --seed 41 --out "$SF_TMP/sc"
produce inventory.stock "$SF_TMP/sc/stock.txt"
start_worker stock
s1=$WORKER_PID
wait_idle 60 stockflow-stock
produce inventory.orders "$SF_TMP/sc/orders.txt"
start_worker order
o1=$WORKER_PID
start_worker order
o2=$WORKER_PID
wait_assigned "$o1" "$o2"
wait_idle 90
dump_state >"$SF_TMP/state.txt"
assert_files_eq "$SF_TMP/sc/expect.txt" "$SF_TMP/state.txt" "state after the first pass"

snapshot() {
  dump_views --updated-at
  psql_q "SELECT * FROM stock ORDER BY sku"
  psql_q "SELECT count(*) FROM processed_events"
}
snapshot >"$SF_TMP/before.txt"
n0=$(psql_q "SELECT count(*) FROM processed_events")

# --- refused while the workers run ---
rc=0
"$STOCKCTL" replay order --from-beginning >"$SF_TMP/refused.out" 2>"$SF_TMP/refused.err" || rc=$?
assert_eq 1 "$rc" "replay while two order workers run: exit status ($(cat "$SF_TMP/refused.err"))"
assert_match 'live member' "$(cat "$SF_TMP/refused.err")" "the refusal names the cause"
assert_eq 1 "$(wc -l <"$SF_TMP/refused.err")" "the refusal is one line"
wait_idle 60 # the workers went on after the rebalance stockctl caused

stop_worker "$o1"
stop_worker "$o2"

# --- replay from the beginning, wait for the restarted workers ---
records=0
for t in inventory.orders inventory.orders.retry.{1,2,3,4}; do
  records=$((records + $(topic_records "$t" | wc -l)))
done
# --dry-run: says what would be re-read, commits nothing
rc=0
"$STOCKCTL" replay order --from-beginning --dry-run >"$SF_TMP/dry.out" 2>"$SF_TMP/dry.err" || rc=$?
assert_eq 0 "$rc" "replay --dry-run exit status ($(cat "$SF_TMP/dry.err"))"
assert_match "^dry run: would reset group stockflow-order to the earliest offsets on 30 partitions: $records events would be re-read .*nothing was committed" \
  "$(tail -n 1 "$SF_TMP/dry.out")" "the dry run's summary"
assert_eq 30 "$(grep -c '^inventory\.orders' "$SF_TMP/dry.out")" "dry run: one row per partition"
lag=$("$STOCKCTL" lag stockflow-order | awk '$1 == "stockflow-order" { s += $6 } END { print s + 0 }')
assert_eq 0 "$lag" "lag of stockflow-order after the dry run (nothing committed)"

"$STOCKCTL" replay order --from-beginning --wait 120 >"$SF_TMP/replay.out" 2>"$SF_TMP/replay.err" &
rpid=$!
wait_for "the reset" 60 grep -q 'events will be re-read' "$SF_TMP/replay.out"
summary=$(grep 'events will be re-read' "$SF_TMP/replay.out")
note "$summary"
assert_match "^reset group stockflow-order to the earliest offsets on 30 partitions: $records events will be re-read \(processed_events: $n0\)" \
  "$summary" "the reset summary ($records records in the group's topics)"
assert_eq 30 "$(grep -c '^inventory\.orders' "$SF_TMP/replay.out")" "one row per partition"
lag=$("$STOCKCTL" lag stockflow-order | awk '$1 == "stockflow-order" { s += $6 } END { print s + 0 }')
assert_eq "$records" "$lag" "lag of stockflow-order right after the reset"

start_worker order
o1=$WORKER_PID
start_worker order
o2=$WORKER_PID
rc=0
wait "$rpid" || rc=$?
assert_eq 0 "$rc" "replay --wait exit status ($(cat "$SF_TMP/replay.err"))"
done_line=$(tail -n 1 "$SF_TMP/replay.out")
note "$done_line"
assert_match "^caught up after [0-9.]+ s: re-read $records events, applied 0 \(processed_events $n0 -> $n0\)" "$done_line" "replay result"
wait_idle 60
snapshot >"$SF_TMP/after.txt"
assert_files_eq "$SF_TMP/before.txt" "$SF_TMP/after.txt" "rows changed by the replay"
assert_invariants
"$STOCKCTL" check >"$SF_TMP/check.out" || fail "stockctl check after the replay: $(cat "$SF_TMP/check.out")"

# --- from a time: exactly the records at or after it ---
sleep 1.2
t_mid=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
sleep 0.2
for i in $(seq 1 25); do
  printf 'sku-late|{"event_id":"late-%d","type":"stock.received","occurred_at":"2026-11-27T11:00:00Z","sku":"sku-late","qty":1}\n' "$i"
done >"$SF_TMP/late.txt"
produce inventory.stock "$SF_TMP/late.txt"
wait_idle 60 stockflow-stock
assert_eq "25|25" "$(psql_q "SELECT on_hand || '|' || received_total FROM stock WHERE sku = 'sku-late'")" "sku-late after 25 receipts"
stop_worker "$s1"
snapshot >"$SF_TMP/before2.txt"
rc=0
"$STOCKCTL" replay stock --from-time "$t_mid" --json --wait 60 >"$SF_TMP/time.out" 2>"$SF_TMP/time.err" &
rpid=$!
wait_for "the reset" 60 grep -q '"event":"reset"' "$SF_TMP/time.out"
assert_eq 25 "$(jq -r 'select(.event == "reset") | .reread' "$SF_TMP/time.out")" "records to re-read from $t_mid"
start_worker stock
s1=$WORKER_PID
wait "$rpid" || rc=$?
assert_eq 0 "$rc" "replay stock --from-time exit status ($(cat "$SF_TMP/time.err"))"
assert_eq "25|0" "$(jq -r 'select(.event == "caught_up") | "\(.reread)|\(.applied)"' "$SF_TMP/time.out")" "re-read and applied"
snapshot >"$SF_TMP/after2.txt"
assert_files_eq "$SF_TMP/before2.txt" "$SF_TMP/after2.txt" "rows changed by the replay from a time"

stop_worker "$o1"
stop_worker "$o2"
stop_worker "$s1"
