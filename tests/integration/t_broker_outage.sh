#!/usr/bin/env bash
# Kafka outage (DESIGN §5.3, §5.4, §6): while two order-workers apply a
# stream of 6,000 orders (plus cancellations), the broker is taken down for
# 10 s, longer than the 6 s session timeout, then brought up again: the dev
# broker through its control socket (down -1: every connection dropped and
# refused), Apache Kafka (SF_BROKER=kafka) for real: its process is stopped
# and started again on the same log folder and port (BROKER_DOWN=kill: killed
# with SIGKILL, a crash, so Kafka recovers its logs at restart). The rest of the
# stream is produced after -> the same worker processes (no restart) catch up,
# and in the end: every event applied exactly once (processed_events = the
# produced event ids), the state gen.py predicts, invariants hold, nothing on
# any retry or dead-letter topic, every outbox row published to
# inventory.ledger / inventory.alerts; the time from the broker accepting
# again to the first order applied is measured and printed (bound 15 s).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_fail.sh
source "$(dirname "$0")/lib_fail.sh"

ORDERS=${ORDERS:-6000}
DOWN_S=${DOWN_S:-10}
gen scenario --orders "$ORDERS" --skus 40 --seed 53 --out "$SF_TMP/sc"
nevents=$(wc -l <"$SF_TMP/sc/orders.txt")
half=$((nevents / 2))
head -n "$half" "$SF_TMP/sc/orders.txt" >"$SF_TMP/orders-1.txt"
tail -n "+$((half + 1))" "$SF_TMP/sc/orders.txt" >"$SF_TMP/orders-2.txt"

start_pg
migrate
start_broker_ctl 6
produce inventory.stock "$SF_TMP/sc/stock.txt"
start_worker stock
s1=$WORKER_PID
wait_idle 60 stockflow-stock
# small batches and a small fetch queue: the workers cannot have the whole
# first half fetched before the outage
start_worker order BATCH_MAX=50 RDKAFKA_QUEUED_MIN_MESSAGES=50 RDKAFKA_QUEUED_MAX_MESSAGES_KBYTES=64 RDKAFKA_FETCH_MESSAGE_MAX_BYTES=32768
o1=$WORKER_PID
start_worker order BATCH_MAX=50 RDKAFKA_QUEUED_MIN_MESSAGES=50 RDKAFKA_QUEUED_MAX_MESSAGES_KBYTES=64 RDKAFKA_FETCH_MESSAGE_MAX_BYTES=32768
o2=$WORKER_PID
wait_assigned "$o1" "$o2"
produce inventory.orders "$SF_TMP/orders-1.txt" -X batch.num.messages=20 # small record batches

progress() { processed_count "topic = 'inventory.orders'"; }
wait_for "the first orders applied" 60 processed_at_least $((half / 10))
at_down=$(progress)
if on_kafka; then kafka_down "${BROKER_DOWN:-stop}"; else broker_ctl down -1; fi
sleep "$DOWN_S" # the outage itself: nothing to wait for
at_up=$(progress)
if on_kafka; then kafka_up; else broker_ctl up -1; fi
t_up=$(fail_now_ms)
note "broker down for $DOWN_S s: $at_down orders applied when it went down, $at_up when it came back, of $nevents"
# recovery: from the broker accepting again to the first order applied after
# it (polled every 50 ms); the group has to form again (the outage outlived
# the 6 s session timeout), which takes the dev broker about 3 s
t_first=
for ((i = 0; i < 600; i++)); do
  if (($(progress) > at_up)); then
    t_first=$(fail_now_ms)
    break
  fi
  sleep 0.05
done
[[ -n $t_first ]] || fail "nothing applied within 30 s of the broker coming back"
note "recovery: first order applied $((t_first - t_up)) ms after the broker accepted connections again"
((t_first - t_up <= ${BROKER_RECOVERY_BOUND_MS:-15000})) || fail "first order applied $((t_first - t_up)) ms after the broker came back"
((at_down < half)) || fail "the first half was consumed before the outage: not mid-stream"
((at_up < half)) || fail "the first half was consumed during the outage: the workers did not depend on the broker"
produce inventory.orders "$SF_TMP/orders-2.txt"

wait_idle 120
assert_alive "$o1" "$o2" "$s1"
assert_processed_exactly "$SF_TMP/sc/stock.txt" "$SF_TMP/sc/orders.txt"
dump_state >"$SF_TMP/state.txt"
assert_files_eq "$SF_TMP/sc/expect.txt" "$SF_TMP/state.txt" "state after the broker outage = expected state"
assert_invariants
assert_no_retry_dlq
assert_outbox_published 60
stop_workers "$o1" "$o2" "$s1"
