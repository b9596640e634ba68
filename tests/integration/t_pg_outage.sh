#!/usr/bin/env bash
# PostgreSQL outage (DESIGN §5.3, §5.4, §6): a stream of about 20,000 events
# (stock receipts, then orders with cancellations) consumed by two
# order-workers and a stock-worker on a PostgreSQL cluster of this test's own;
# in the middle of it, `pg_ctl stop -m fast` (pg-local.sh stop); the rest of
# the stream is produced during the outage; after OUTAGE_S seconds (default
# 35, past the 30 s alert threshold; OUTAGE_S=20 for a short outage)
# PostgreSQL starts again on the same port -> the same worker processes
# resume by themselves, and in the end:
#  - every event applied exactly once (processed_events = the distinct event
#    ids produced), the state gen.py predicts, invariants hold;
#  - zero records on every retry and dead-letter topic (an outage is not a
#    failure of the events);
#  - on inventory.alerts, exactly one alert of kind "outage" per worker whose
#    outage lasted 30 s or more (by its own log), none for the others;
#  - every outbox row published.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_fail.sh
source "$(dirname "$0")/lib_fail.sh"

ORDERS=${ORDERS:-16800} # about 20,000 events with the cancellations
OUTAGE_S=${OUTAGE_S:-35}
gen scenario --orders "$ORDERS" --skus 40 --seed 59 --out "$SF_TMP/sc"
nevents=$(wc -l <"$SF_TMP/sc/orders.txt")
nstock=$(wc -l <"$SF_TMP/sc/stock.txt")
half=$((nevents / 2))
head -n "$half" "$SF_TMP/sc/orders.txt" >"$SF_TMP/orders-1.txt"
tail -n "+$((half + 1))" "$SF_TMP/sc/orders.txt" >"$SF_TMP/orders-2.txt"
note "stream: $nstock stock receipts, then $nevents order events"

start_own_pg
migrate
start_broker 6
start_worker stock
s1=$WORKER_PID
start_worker order
o1=$WORKER_PID
start_worker order
o2=$WORKER_PID
wait_assigned "$s1" "$o1" "$o2"
produce inventory.stock "$SF_TMP/sc/stock.txt"
wait_processed "$nstock" 60
produce inventory.orders "$SF_TMP/orders-1.txt"

progress() { processed_count "topic = 'inventory.orders'"; }
wait_for "a tenth of the orders applied" 60 processed_at_least $((nstock + nevents / 10))
at_stop=$(progress)
pg_stop_own
t_stop=$SECONDS
((at_stop < half)) || fail "the first half was consumed before the outage: not mid-stream"
produce inventory.orders "$SF_TMP/orders-2.txt"
for pid in "$s1" "$o1" "$o2"; do
  wait_log_line "$pid" '"msg":"PostgreSQL unavailable' 20
done
note "every worker reports the outage; $at_stop of $nevents orders applied when it began"
left=$((OUTAGE_S - (SECONDS - t_stop)))
((left <= 0)) || sleep "$left" # the outage itself: nothing to wait for
pg_start_own
note "PostgreSQL was down for $((SECONDS - t_stop)) s"
for pid in "$s1" "$o1" "$o2"; do
  wait_log_line "$pid" '"msg":"[^"]*resum' 60
done
wait_idle 120
assert_alive "$s1" "$o1" "$o2"

assert_processed_exactly "$SF_TMP/sc/stock.txt" "$SF_TMP/sc/orders.txt"
dump_state >"$SF_TMP/state.txt"
assert_files_eq "$SF_TMP/sc/expect.txt" "$SF_TMP/state.txt" "state after the outage = expected state"
assert_invariants
assert_no_retry_dlq

# outage alerts: one per worker whose outage lasted 30 s or more
topic_records inventory.alerts |
  jq -c 'select((.payload | fromjson? // {}) | .kind == "outage") | .payload | fromjson' >"$SF_TMP/outage-alerts.json"
note "outage alerts: $(wc -l <"$SF_TMP/outage-alerts.json")"
want_total=0
for pid in "$s1" "$o1" "$o2"; do
  name=${SF_NAME[$pid]}
  n_out=$(grep -c '"msg":"PostgreSQL unavailable' "$(worker_log "$pid")" || true)
  assert_eq 1 "$n_out" "$name: outages logged"
  # "... after 51.2 s; resuming consumption" (or "resuming ... after 51.2 s ...")
  dur=$(sed -nE '/"msg":"[^"]*resum/{s/.*after ([0-9.]+) s.*/\1/p;q}' "$(worker_log "$pid")")
  [[ $dur =~ ^[0-9]+(\.[0-9]+)?$ ]] || fail "$name: no outage duration in its log"
  got=$(jq -r --arg p ":$pid" 'select(.details.worker | endswith($p)) | .alert_id' "$SF_TMP/outage-alerts.json" | wc -l)
  want=0
  [[ ${dur%.*} -ge 30 ]] && want=1
  note "$name: outage of $dur s, $got outage alert(s)"
  assert_eq "$want" "$got" "$name: outage alerts on inventory.alerts for an outage of $dur s"
  want_total=$((want_total + want))
done
assert_eq "$want_total" "$(wc -l <"$SF_TMP/outage-alerts.json")" "outage alerts in all"
if ((OUTAGE_S >= 33)); then
  ((want_total == 3)) || fail "PostgreSQL was down $OUTAGE_S s but only $want_total worker(s) saw an outage of 30 s"
fi
assert_outbox_published 60
stop_workers "$o1" "$o2" "$s1"

# every alert reaches the webhook as it is (alert-worker), so an outage alert
# carries the body of DESIGN §6: alert_id, kind, severity, summary,
# occurred_at (a time string, like the outbox alerts) and details
bad=$(jq -c 'select((has("alert_id") and has("kind") and has("severity") and has("summary")
                     and (.occurred_at | type) == "string" and has("details")) | not)' "$SF_TMP/outage-alerts.json")
[[ -z $bad ]] || fail "outage alerts without the DESIGN §6 body (alert_id, kind, severity, summary, occurred_at, details): $(head -n 1 <<<"$bad")"
