#!/usr/bin/env bash
# Rebalances under load (DESIGN §1, §5.3, §5.4): two order-workers apply a
# stream of 6,000 orders (with cancellations) in small batches; mid-stream a
# third joins (its partitions are revoked from the others while they apply),
# then one leaves with SIGTERM (finishes its batch, commits, leaves: exit 0),
# then one is killed with -9 (its partitions move once its session times
# out). The survivor finishes the stream: every event applied exactly once,
# the state gen.py predicts, the invariants hold, nothing on a retry or
# dead-letter topic. Each membership change happens while events are still
# unapplied, and each worker applied some of the stream (its log says so).
# Runs on either broker (SF_BROKER); Kafka is the reference. With
# REBALANCE_STRATEGY (e.g. cooperative-sticky) the workers use that
# partition.assignment.strategy (incremental rebalances: only the moved
# partitions are revoked).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_fail.sh
source "$(dirname "$0")/lib_fail.sh"

ORDERS=${ORDERS:-6000}
gen scenario --orders "$ORDERS" --skus 40 --seed 61 --out "$SF_TMP/sc"
nevents=$(wc -l <"$SF_TMP/sc/orders.txt")

start_pg
migrate
start_broker 6
produce inventory.stock "$SF_TMP/sc/stock.txt"
start_worker stock
s1=$WORKER_PID
wait_idle 60 stockflow-stock

# small batches and a small fetch queue: the stream lasts long enough for
# three membership changes, and each worker holds few fetched records
slow=(BATCH_MAX=20 RDKAFKA_QUEUED_MIN_MESSAGES=50 RDKAFKA_QUEUED_MAX_MESSAGES_KBYTES=64
  RDKAFKA_FETCH_MESSAGE_MAX_BYTES=32768)
if [[ -n ${REBALANCE_STRATEGY:-} ]]; then
  slow+=(RDKAFKA_PARTITION_ASSIGNMENT_STRATEGY="$REBALANCE_STRATEGY")
  note "partition.assignment.strategy=$REBALANCE_STRATEGY"
fi
# applied PORT: events the worker on HTTP port PORT finished (its /metrics)
applied() {
  curl -fsS --max-time 10 "http://127.0.0.1:$1/metrics" |
    awk '/^stockflow_events_total\{/ { s += $NF } END { printf "%d\n", s }'
}
p1=$(sf_free_port) p2=$(sf_free_port) p3=$(sf_free_port)
start_worker order "${slow[@]}" HTTP_PORT="$p1"
o1=$WORKER_PID
start_worker order "${slow[@]}" HTTP_PORT="$p2"
o2=$WORKER_PID
wait_assigned "$o1" "$o2"
produce inventory.orders "$SF_TMP/sc/orders.txt"

progress() { processed_count "topic = 'inventory.orders'"; }
# step NAME FRACTION: waits until FRACTION percent of the stream is applied,
# and fails if it all was (the change would not be mid-stream).
step() {
  wait_for "$2% of the orders applied" 120 processed_at_least $((nevents * $2 / 100))
  local n
  n=$(progress)
  ((n < nevents)) || fail "$1: the whole stream was applied before it"
  note "$1 at $n of $nevents order events applied"
}

step "a third order-worker joins" 15
start_worker order "${slow[@]}" HTTP_PORT="$p3"
o3=$WORKER_PID
wait_log_line "$o3" 'assigned [1-9]' 60
note "${SF_NAME[$o3]} got partitions"

step "${SF_NAME[$o1]} leaves with SIGTERM" 40
n1=$(applied "$p1")
stop_worker "$o1"

step "${SF_NAME[$o2]} is killed with -9" 60
n2=$(applied "$p2")
kill9 "$o2"

wait_idle 180
assert_alive "$o3" "$s1"
assert_processed_exactly "$SF_TMP/sc/stock.txt" "$SF_TMP/sc/orders.txt"
dump_state >"$SF_TMP/state.txt"
assert_files_eq "$SF_TMP/sc/expect.txt" "$SF_TMP/state.txt" "state after three rebalances = expected state"
assert_invariants
assert_no_retry_dlq
n3=$(applied "$p3")
note "events applied: ${SF_NAME[$o1]} $n1 (before SIGTERM), ${SF_NAME[$o2]} $n2 (before kill -9), ${SF_NAME[$o3]} $n3"
((n1 > 0 && n2 > 0 && n3 > 0)) || fail "every worker must have applied part of the stream"
log_has "$o1" 'revoked [1-9]' || log_has "$o2" 'revoked [1-9]' ||
  fail "no worker had partitions revoked when order-3 joined"
stop_workers "$o3" "$s1"
