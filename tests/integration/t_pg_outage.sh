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
#  - every outbox row published;
#  - during the outage (issue 18) each worker's /metrics still reports
#    stockflow_consumer_lag, the order-workers' growing with the events
#    produced meanwhile (> 0), and stockflow_paused{reason="database"} 1;
#    /readyz answers 503 with the current error in words ("database
#    unreachable (no connection)"), never libpq's message with host, port
#    or user, and when the next attempt is;
#  - recovery: from PostgreSQL's start (pg_postmaster_start_time(), before
#    it accepts) to the first event committed after it at most
#    RECOVERY_BOUND_S (default 5; the probes are at most 1 s apart, so about
#    1 s is expected) and each worker's paused gauge back to 0.
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
declare -A PORT
port=$(sf_free_port)
start_worker stock HTTP_PORT="$port"
s1=$WORKER_PID
PORT[$s1]=$port
port=$(sf_free_port)
start_worker order HTTP_PORT="$port"
o1=$WORKER_PID
PORT[$o1]=$port
port=$(sf_free_port)
start_worker order HTTP_PORT="$port"
o2=$WORKER_PID
PORT[$o2]=$port
# metric NAME LABELS PID: the value of one series on a worker's /metrics
metric() {
  curl -fsS "http://127.0.0.1:${PORT[$3]}/metrics" |
    awk -v s="$1$2" 'index($0, s " ") == 1 { print $2; f = 1 } END { if (!f) print "absent" }'
}
# lag_sum PID: the worker's stockflow_consumer_lag summed over inventory.orders
lag_sum() {
  curl -fsS "http://127.0.0.1:${PORT[$1]}/metrics" |
    awk '/^stockflow_consumer_lag\{topic="inventory.orders",/ { s += $2; n++ }
         END { if (n) print s; else print "absent" }'
}
RECOVERY_BOUND_S=${RECOVERY_BOUND_S:-5}
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

# ---- what an operator sees during the outage (issue 18) -------------------
sleep 3 # a few failed probes later, and a lag report past the produce
lag_total=0
for pid in "$s1" "$o1" "$o2"; do
  name=${SF_NAME[$pid]}
  assert_eq 1 "$(metric stockflow_paused '{reason="database"}' "$pid")" "$name: paused{reason=database} during the outage"
  assert_eq 0 "$(metric stockflow_paused '{reason="broker"}' "$pid")" "$name: paused{reason=broker} during the outage"
  code=$(curl -s -o "$SF_TMP/readyz-$pid" -w '%{http_code}' "http://127.0.0.1:${PORT[$pid]}/readyz")
  body=$(<"$SF_TMP/readyz-$pid")
  note "$name /readyz: $code $body"
  assert_eq 503 "$code" "$name: /readyz status during the outage"
  assert_match 'database unreachable \(no connection\); next attempt at 20[0-9-]+T[0-9:.]+Z' "$body" "$name: /readyz says the current error and the next attempt"
  for leak in 'connection to server' 'port' 'user' 'host' '127.0.0.1' '/tmp' "$SF_TMP"; do
    [[ $body != *"$leak"* ]] || fail "$name: /readyz shows libpq's message ($leak): $body"
  done
done
for pid in "$o1" "$o2"; do
  l=$(lag_sum "$pid")
  [[ $l =~ ^[0-9]+$ ]] || fail "${SF_NAME[$pid]}: no stockflow_consumer_lag while paused ($l)"
  note "${SF_NAME[$pid]}: stockflow_consumer_lag on inventory.orders during the outage: $l"
  lag_total=$((lag_total + l))
done
# the second half was produced during the outage: none of it applied
((lag_total >= nevents - half)) || fail "consumer lag during the outage $lag_total < the $((nevents - half)) events produced meanwhile"
# (read whole first: grep -q quitting at the match would fail curl's later
# writes, and pipefail the check)
m=$(curl -fsS "http://127.0.0.1:${PORT[$s1]}/metrics")
grep -q '^stockflow_consumer_lag{topic="inventory.stock",' <<<"$m" ||
  fail "stock-worker: no stockflow_consumer_lag while paused"

left=$((OUTAGE_S - (SECONDS - t_stop)))
((left <= 0)) || sleep "$left" # the outage itself: nothing to wait for
pg_start_own
t_started=$(fail_now_ms)
note "PostgreSQL was down for $((SECONDS - t_stop)) s"
# time from PostgreSQL's start (lower bound of when it accepts) to the first
# commit after it: polled every 50 ms (an upper bound of the commit)
t_commit=
for ((i = 0; i < 400; i++)); do
  n=$(processed_count 'processed_at >= pg_postmaster_start_time()' 2>/dev/null) || n=0
  if ((n > 0)); then
    t_commit=$(fail_now_ms)
    break
  fi
  sleep 0.05
done
[[ -n $t_commit ]] || fail "nothing committed within 20 s of PostgreSQL's restart"
pg_up=$(psql_q "SELECT (extract(epoch FROM pg_postmaster_start_time()) * 1000)::bigint")
rec_ms=$((t_commit - pg_up))
note "recovery: PostgreSQL started $((t_started - pg_up)) ms before pg_ctl returned; first commit $rec_ms ms after its start"
((rec_ms <= RECOVERY_BOUND_S * 1000)) || fail "first commit $rec_ms ms after PostgreSQL started (bound ${RECOVERY_BOUND_S} s)"
for pid in "$s1" "$o1" "$o2"; do
  wait_log_line "$pid" '"msg":"[^"]*resum' 60
done
wait_idle 120
assert_alive "$s1" "$o1" "$o2"
for pid in "$s1" "$o1" "$o2"; do
  assert_eq 0 "$(metric stockflow_paused '{reason="database"}' "$pid")" "${SF_NAME[$pid]}: paused{reason=database} after recovery"
done

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
