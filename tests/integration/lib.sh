# shellcheck shell=bash
# stockflow integration test harness. Every test in this folder starts with
#
#     source "$(dirname "$0")/lib.sh"
#
# and then uses the functions below. The harness owns a temp folder ($SF_TMP),
# starts PostgreSQL databases, dev brokers and workers on request, and an EXIT
# trap stops every process it started (workers first), drops every database it
# created and stops a cluster it started, whether the test passed or not. On
# failure it prints the tail of every log first.
#
# Environment (set by tests/integration/meson.build; defaults for a manual run
# from the repo): STOCKFLOW_SRC, ORDER_WORKER, STOCK_WORKER, STOCKCTL,
# DEVBROKER; PG_ADMIN_URL (a shared cluster; unset: the test starts its own
# with deploy/pg-local.sh); WORKER_WRAPPER (a command line the workers run
# under, e.g. "valgrind --error-exitcode=99"); SF_KEEP_TMP=1 keeps the temp
# folder; SF_BROKER picks the broker start_broker starts: "dev" (default, the
# development broker) or "kafka" (Apache Kafka, deploy/kafka/kafka-local.sh,
# its topics created by `stockctl topics apply`).

set -euo pipefail
shopt -s inherit_errexit

SF_LIB_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
SF_SRC=${STOCKFLOW_SRC:-$(cd -- "$SF_LIB_DIR/../.." && pwd)}
: "${ORDER_WORKER:=$SF_SRC/build/workers/order/order-worker}"
: "${STOCK_WORKER:=$SF_SRC/build/workers/stock/stock-worker}"
: "${STOCKCTL:=$SF_SRC/build/stockctl/stockctl}"
: "${DEVBROKER:=$SF_SRC/build/deploy/devbroker/stockflow-devbroker}"
export PGTZ=UTC PGCONNECT_TIMEOUT=10

SF_TEST=$(basename -- "$0" .sh)
SF_TMP=$(mktemp -d "/tmp/stockflow-${SF_TEST}.XXXXXX")
chmod 755 "$SF_TMP" # pg-local.sh runs the cluster as postgres, which must reach $SF_TMP/pg
SF_START=$SECONDS
SF_WORKERS=()        # pids of workers still to stop
SF_OTHERS=()         # pids of brokers still to stop
declare -A SF_NAME=() # pid -> name (for messages)
declare -A SF_LOG=()  # pid -> log file
SF_DBS=()            # databases to drop
SF_ROLES=()          # PostgreSQL roles to drop (after the databases)
SF_PRIVATE_FDS=()    # descriptors of the test's own a started worker must not inherit
SF_ADMIN_URL=''
SF_OWN_PG=0
SF_NPROC=0
SF_NBROKER=0
WORKER_PID=''        # pid of the worker start_worker started last
BROKER_PID=''        # pid of the broker start_broker started last

# ---- messages and assertions -------------------------------------------

note() {
  printf '[%s +%ds] %s\n' "$SF_TEST" $((SECONDS - SF_START)) "$*" >&2
}

fail() {
  printf '[%s +%ds] FAIL: %s\n' "$SF_TEST" $((SECONDS - SF_START)) "$*" >&2
  exit 1
}

# assert_eq EXPECTED ACTUAL MESSAGE: fails with both values (a unified diff
# when either spans several lines).
assert_eq() {
  local exp=$1 act=$2 msg=$3
  [[ $exp == "$act" ]] && return 0
  if [[ $exp == *$'\n'* || $act == *$'\n'* ]]; then
    printf '%s: ASSERTION FAILED: %s\n' "$SF_TEST" "$msg" >&2
    diff -u --label expected --label actual <(printf '%s\n' "$exp") <(printf '%s\n' "$act") |
      head -n 60 >&2 || true
    fail "$msg"
  fi
  fail "$msg: expected '$exp', got '$act'"
}

# assert_match REGEX ACTUAL MESSAGE (bash =~, case-insensitive).
assert_match() {
  local re=$1 act=$2 msg=$3
  shopt -s nocasematch
  if [[ $act =~ $re ]]; then
    shopt -u nocasematch
    return 0
  fi
  shopt -u nocasematch
  fail "$msg: '$act' does not match /$re/"
}

# assert_files_eq EXPECTED_FILE ACTUAL_FILE MESSAGE: byte-for-byte, diff on failure.
assert_files_eq() {
  local exp=$1 act=$2 msg=$3
  cmp -s -- "$exp" "$act" && return 0
  printf '%s: ASSERTION FAILED: %s\n' "$SF_TEST" "$msg" >&2
  diff -u --label "expected ($exp)" --label "actual ($act)" -- "$exp" "$act" | head -n 60 >&2 || true
  fail "$msg"
}

# wait_for DESCRIPTION TIMEOUT_S COMMAND...: polls every 0.2 s until COMMAND succeeds.
wait_for() {
  local what=$1 timeout=$2 deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@"; do
    ((SECONDS < deadline)) || fail "timed out after ${timeout}s waiting for $what"
    sleep 0.2
  done
}

# ---- processes -----------------------------------------------------------

# sf_alive PID: the process exists and is not a zombie.
sf_alive() {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $st != Z* ]]
}

sf_forget() {
  local pid=$1 p keep=()
  for p in "${SF_WORKERS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  SF_WORKERS=("${keep[@]}")
  keep=()
  for p in "${SF_OTHERS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  SF_OTHERS=("${keep[@]}")
}

# sf_stop_pid PID TIMEOUT_S [signalled]: SIGTERM (only one: a second may mean
# "stop now"; none with "signalled"), wait, SIGKILL after TIMEOUT_S; sets
# SF_RC to the exit status (137/143 when killed) and SF_KILLED=1 if it had
# to be killed.
# sf_dump_stacks PID: every thread's backtrace of a process that would not
# stop, into its log (or $SF_TMP/pid-PID.log), so a hang names its place.
sf_dump_stacks() {
  local pid=$1 log=${SF_LOG[$1]:-$SF_TMP/pid-$1.log}
  command -v gdb >/dev/null || return 0
  {
    printf '\n----- backtraces of pid %s before SIGKILL -----\n' "$pid"
    timeout 20 gdb -p "$pid" -batch -nx -ex 'set pagination off' \
      -ex 'thread apply all bt 25' 2>&1 | grep -E '^(Thread|#)' || true
  } >>"$log"
}

sf_stop_pid() {
  local pid=$1 timeout=$2 deadline
  SF_KILLED=0
  [[ ${3:-} == signalled ]] || kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + timeout))
  while sf_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  if sf_alive "$pid"; then
    SF_KILLED=1
    sf_dump_stacks "$pid"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  SF_RC=0
  wait "$pid" 2>/dev/null || SF_RC=$?
  sf_forget "$pid"
}

sf_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

sf_print_logs() {
  local f
  for f in "$SF_TMP"/*.log; do
    [[ -s $f ]] || continue
    printf '\n----- %s: last 25 lines of %s -----\n' "$SF_TEST" "$(basename "$f")" >&2
    tail -n 25 -- "$f" | cut -c1-400 >&2
  done
  printf '\n' >&2
}

# Stops the cluster start_pg started. pg-local.sh stop waits for its lock
# file; when the lock is held already (nothing else uses our private folder,
# so only a server that inherited the lock can hold it) stop it with pg_ctl.
sf_stop_own_pg() {
  local dir=$SF_TMP/pg pid
  if flock -n "$dir/.pg-local.lock" true 2>/dev/null; then
    timeout 60 "$SF_SRC/deploy/pg-local.sh" stop "$dir" >/dev/null 2>&1 || note "warning: pg-local.sh stop failed"
  else
    note "warning: $dir/.pg-local.lock is held by the server (inherited lock): stopping it with pg_ctl"
    runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl stop -D "$dir/data" -m fast -w -t 30 -s \
      >/dev/null 2>&1 || note "warning: pg_ctl stop failed"
  fi
  if [[ -f $dir/data/postmaster.pid ]]; then
    pid=$(head -n 1 "$dir/data/postmaster.pid")
    note "warning: PostgreSQL (pid $pid) still running: SIGQUIT"
    kill -QUIT "$pid" 2>/dev/null || true
    sleep 1
  fi
}

sf_cleanup() {
  local rc=$? pid db
  set +e
  trap - EXIT INT TERM
  trap '' PIPE # output may be gone: still stop everything
  ((rc == 0)) || sf_print_logs
  for pid in "${SF_WORKERS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${SF_WORKERS[@]}"; do sf_stop_pid "$pid" 10 signalled; done
  for pid in "${SF_OTHERS[@]}"; do sf_stop_pid "$pid" 10; done
  if [[ -n $SF_ADMIN_URL ]]; then
    for db in "${SF_DBS[@]}"; do
      psql "$SF_ADMIN_URL" -Xq -v ON_ERROR_STOP=1 \
        -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 ||
        note "warning: could not drop database $db"
    done
    for db in "${SF_ROLES[@]}"; do
      psql "$SF_ADMIN_URL" -Xq -v ON_ERROR_STOP=1 -c "DROP ROLE IF EXISTS \"$db\"" >/dev/null 2>&1 ||
        note "warning: could not drop role $db"
    done
  fi
  ((SF_OWN_PG == 0)) || sf_stop_own_pg
  if [[ ${SF_KEEP_TMP:-0} == 1 ]]; then
    note "kept $SF_TMP"
  else
    rm -rf -- "$SF_TMP"
  fi
  if ((rc == 0)); then note "PASS ($((SECONDS - SF_START)) s)"; else note "FAILED (exit $rc, $((SECONDS - SF_START)) s)"; fi
  exit "$rc"
}
trap sf_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- PostgreSQL --------------------------------------------------------

# start_pg: a fresh database for this test, exported as DATABASE_URL, on the
# shared cluster ($PG_ADMIN_URL) or on a cluster of our own.
start_pg() {
  if [[ -n ${PG_ADMIN_URL:-} ]]; then
    SF_ADMIN_URL=$PG_ADMIN_URL
  else
    SF_OWN_PG=1
    PG_LOCAL_FAST=1 "$SF_SRC/deploy/pg-local.sh" start "$SF_TMP/pg" >"$SF_TMP/pg-local.out" 2>&1 ||
      fail "pg-local.sh start failed: $(tail -n 3 "$SF_TMP/pg-local.out")"
    SF_ADMIN_URL=$(sed -n 's/^PG_ADMIN_URL=//p' "$SF_TMP/pg/env")
    [[ -n $SF_ADMIN_URL ]] || fail "no PG_ADMIN_URL in $SF_TMP/pg/env"
  fi
  new_db ''
}

# new_db [SUFFIX]: creates database t_<test>_<pid>[_SUFFIX] and exports
# DATABASE_URL for it (the previous database stays, dropped at exit).
new_db() {
  local name base query
  name="t_${SF_TEST#t_}_$$${1:+_$1}"
  name=${name,,}
  [[ -n $SF_ADMIN_URL ]] || fail "new_db before start_pg"
  psql "$SF_ADMIN_URL" -Xq -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$name\"" >/dev/null ||
    fail "CREATE DATABASE $name failed"
  SF_DBS+=("$name")
  base=${SF_ADMIN_URL%%\?*}
  query=${SF_ADMIN_URL#"$base"}
  if [[ $base =~ ^postgres(ql)?://[^/]*$ ]]; then
    DATABASE_URL="$base/$name$query"
  else
    DATABASE_URL="${base%/*}/$name$query"
  fi
  export DATABASE_URL
}

# url_with URL KEY=VALUE...: URL (URL form) with connection parameters added
# as query parameters, which win over the URL's own (user=app, host=...).
url_with() {
  local url=$1 kv sep='?'
  shift
  [[ $url == *\?* ]] && sep='&'
  for kv in "$@"; do
    url+="$sep$kv"
    sep='&'
  done
  printf '%s\n' "$url"
}

# psql_q SQL [psql args...]: unaligned, tuples only, stops on error.
psql_q() {
  local sql=$1
  shift
  psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 "$@" -c "$sql"
}

migrate() {
  "$STOCKCTL" migrate >>"$SF_TMP/migrate.log" 2>&1 || {
    cat "$SF_TMP/migrate.log" >&2
    fail "stockctl migrate failed"
  }
}

# dump_views: a stable, sorted dump of both contract views, one row a line:
#   S|sku|on_hand|reserved|safety_stock|available|status
#   O|order_id|state|expires_at (UTC, empty when null)
# With --updated-at the order rows also carry updated_at (same-database
# comparisons only: it is wall-clock time).
# shellcheck disable=SC2120 # optional argument
dump_views() {
  local upd="''"
  [[ ${1:-} == --updated-at ]] && upd="to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
  psql_q "SELECT format('S|%s|%s|%s|%s|%s|%s', sku, on_hand, reserved, safety_stock, available, status)
            FROM stock_levels ORDER BY sku COLLATE \"C\""
  psql_q "SELECT format('O|%s|%s|%s', order_id, state,
                        coalesce(to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''))
                 || CASE WHEN $upd = '' THEN '' ELSE '|' || $upd END
            FROM order_status ORDER BY order_id COLLATE \"C\""
}

# dump_state: like dump_views, but expires_at only for reserved orders (what
# a generated expectation, gen.py scenario, can predict exactly).
dump_state() {
  psql_q "SELECT format('S|%s|%s|%s|%s|%s|%s', sku, on_hand, reserved, safety_stock, available, status)
            FROM stock_levels ORDER BY sku COLLATE \"C\""
  psql_q "SELECT format('O|%s|%s|%s', order_id, state,
                        CASE WHEN state = 'reserved'
                             THEN to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
                             ELSE '' END)
            FROM order_status ORDER BY order_id COLLATE \"C\""
}

# assert_invariants: DESIGN §5.1/§5.2 through the invariant_violations view,
# plus nothing negative anywhere.
assert_invariants() {
  local v
  v=$(psql_q "SELECT sku || ': ' || problem FROM invariant_violations ORDER BY 1")
  assert_eq "" "$v" "invariant_violations must be empty"
  v=$(psql_q "SELECT count(*) FROM stock_levels WHERE on_hand < 0 OR reserved < 0 OR available < 0
                 OR (reserved > on_hand AND status <> 'oversold')")
  assert_eq 0 "$v" "SKUs below zero or reserved above on_hand"
}

# ---- Kafka ---------------------------------------------------------------

SF_BROKER=${SF_BROKER:-dev}
case $SF_BROKER in
dev | kafka) ;;
*) fail "SF_BROKER='$SF_BROKER': expected dev or kafka" ;;
esac
KAFKA_DIR=''         # log folder of the Kafka broker start_kafka started last

# on_kafka: the tests run against Apache Kafka (SF_BROKER=kafka).
on_kafka() { [[ $SF_BROKER == kafka ]]; }

# start_broker [PARTITIONS]: a broker of kind $SF_BROKER; exports
# KAFKA_BROKERS once the DESIGN §2 topics exist. A second call starts a
# second, independent broker.
start_broker() {
  if on_kafka; then
    start_kafka "${1:-6}"
    return
  fi
  local parts=${1:-6} n bs
  n=$((SF_NBROKER += 1))
  bs=$SF_TMP/broker$n.bootstrap
  [[ -x $DEVBROKER ]] || fail "dev broker not built: $DEVBROKER"
  "$DEVBROKER" --partitions "$parts" --bootstrap-file "$bs" </dev/null \
    >"$SF_TMP/broker$n.out" 2>"$SF_TMP/broker$n.log" &
  BROKER_PID=$!
  SF_OTHERS+=("$BROKER_PID")
  SF_NAME[$BROKER_PID]=broker$n
  SF_LOG[$BROKER_PID]=$SF_TMP/broker$n.log
  wait_for "the dev broker's bootstrap file" 20 sf_broker_ready "$BROKER_PID" "$bs"
  KAFKA_BROKERS=$(<"$bs")
  export KAFKA_BROKERS
  note "broker$n at $KAFKA_BROKERS ($parts partitions)"
}

# start_kafka [PARTITIONS|--empty]: a single-node Apache Kafka broker in
# $SF_TMP/kafkaN (KAFKA_DIR), then `stockctl topics apply --partitions N`
# (none with --empty); exports KAFKA_BROKERS, sets BROKER_PID and KAFKA_DIR.
start_kafka() {
  local parts=${1:-6} n
  n=$((SF_NBROKER += 1))
  KAFKA_DIR=$SF_TMP/kafka$n
  kafka_up
  note "broker$n: Apache Kafka $("$SF_SRC/deploy/kafka/fetch.sh" --version) at $KAFKA_BROKERS"
  [[ $parts == --empty ]] && return 0
  "$STOCKCTL" topics apply --partitions "$parts" >"$SF_TMP/topics-apply$n.out" 2>&1 || {
    cat "$SF_TMP/topics-apply$n.out" >&2
    fail "stockctl topics apply failed on Kafka"
  }
  note "broker$n: $(grep -c '^created' "$SF_TMP/topics-apply$n.out") topics created ($parts partitions)"
}

# kafka_up: starts (or restarts, on the same log folder and port) the Kafka
# broker of KAFKA_DIR and waits until it answers metadata.
kafka_up() {
  local out name=${KAFKA_DIR##*/}
  out=$(KAFKA_HEAP=${KAFKA_HEAP:-512m} "$SF_SRC/deploy/kafka/kafka-local.sh" start "$KAFKA_DIR" \
    2>"$SF_TMP/$name-start.err") || fail "kafka-local.sh start failed: $(tail -n 3 "$SF_TMP/$name-start.err")"
  KAFKA_BROKERS=${out#KAFKA_BROKERS=}
  export KAFKA_BROKERS
  BROKER_PID=$(<"$KAFKA_DIR/pid")
  SF_OTHERS+=("$BROKER_PID")
  SF_NAME[$BROKER_PID]=$name
  SF_LOG[$BROKER_PID]=$KAFKA_DIR/kafka.log
  ln -sf "$KAFKA_DIR/kafka.log" "$SF_TMP/$name.log"
}

# kafka_down [kill]: stops the Kafka broker of KAFKA_DIR (controlled
# shutdown; with "kill", SIGKILL: a crash). kafka_up brings it back.
kafka_down() {
  local how=stop
  [[ ${1:-} == kill ]] && how=kill
  "$SF_SRC/deploy/kafka/kafka-local.sh" "$how" "$KAFKA_DIR" || fail "kafka-local.sh $how failed"
  sf_forget "$BROKER_PID"
}

# expected_topics STEPS: DESIGN §2 topics, in stockctl's order.
expected_topics() {
  local s n
  for s in inventory.orders inventory.payments inventory.stock inventory.promotions; do
    echo "$s"
    for ((n = 1; n <= $1; n++)); do echo "$s.retry.$n"; done
    echo "$s.dlq"
  done
  printf '%s\n' inventory.alerts inventory.alerts.dlq inventory.availability inventory.ledger
}

# topics_run NAME ARGS...: runs stockctl topics, output in $SF_TMP/NAME.{out,err}; sets RC.
topics_run() {
  local name=$1
  shift
  RC=0
  "$STOCKCTL" topics "$@" >"$SF_TMP/$name.out" 2>"$SF_TMP/$name.err" || RC=$?
}

# kafka_class CLASS ARGS...: one of the Kafka release's own tools.
kafka_class() {
  "$SF_SRC/deploy/kafka/kafka-local.sh" class "$@"
}

# need_dev_broker WHY: this test uses what only the development broker has
# (fault injection): on Kafka it ends at once as skipped (exit 77), saying why.
need_dev_broker() {
  if on_kafka; then
    note "SKIP on Apache Kafka: $*"
    exit 77
  fi
}

sf_broker_ready() {
  sf_alive "$1" || fail "the dev broker exited: $(tail -n 3 "$SF_TMP/broker$SF_NBROKER.log")"
  [[ -s $2 ]]
}

# produce TOPIC FILE [kcat args, e.g. -p 0]: key|value lines.
produce() {
  local topic=$1 file=$2
  shift 2
  kcat -P -b "$KAFKA_BROKERS" -t "$topic" -K '|' "$@" <"$file" 2>>"$SF_TMP/kcat.log" ||
    fail "kcat could not produce $file to $topic"
}

# wait_idle [TIMEOUT_S] [GROUP...]: stockctl lag --wait (every listed group,
# default stockflow-order and stockflow-stock, has lag 0 everywhere).
wait_idle() {
  local t=${1:-60}
  (($# == 0)) || shift
  if ! "$STOCKCTL" lag --wait "$t" "$@" >"$SF_TMP/lag.out" 2>&1; then
    cat "$SF_TMP/lag.out" >&2
    fail "consumers did not catch up within ${t}s"
  fi
}

# topic_records TOPIC: every record now in TOPIC, one JSON object a line:
#   {"partition":0,"offset":3,"ts":1700000000000,"key":"k","payload":"v","h":{"x-a":"..."}}
topic_records() {
  kcat -C -b "$KAFKA_BROKERS" -t "$1" -o beginning -e -q -J 2>>"$SF_TMP/kcat.log" |
    jq -c '{partition, offset, ts, key, payload,
            h: ((.headers // []) as $h | [range(0; $h | length; 2) | {($h[.]): $h[. + 1]}] | add // {})}'
}

# consume_dlq TOPIC COUNT [TIMEOUT_S]: waits until TOPIC holds at least COUNT
# records, then prints them all (topic_records format), in partition/offset order.
consume_dlq() {
  local topic=$1 want=$2 timeout=${3:-30} deadline out n
  deadline=$((SECONDS + timeout))
  while :; do
    out=$(topic_records "$topic")
    n=0
    [[ -z $out ]] || n=$(printf '%s\n' "$out" | wc -l)
    ((n >= want || SECONDS >= deadline)) && break
    sleep 0.5
  done
  ((n >= want)) || note "consume_dlq: $topic holds $n records, expected $want"
  [[ -z $out ]] || printf '%s\n' "$out" | jq -sc 'sort_by(.partition, .offset)[]'
}

# record_bytes TOPIC PARTITION OFFSET key|value: the raw bytes of one record's key or value.
record_bytes() {
  local f='%s'
  [[ $4 == key ]] && f='%k'
  kcat -C -b "$KAFKA_BROKERS" -t "$1" -p "$2" -o "$3" -c 1 -e -q -f "$f" 2>>"$SF_TMP/kcat.log"
}

# reset_group GROUP TOPIC...: commits offset 0 on every partition (the group
# must have no running member), like kafka-consumer-groups --to-earliest.
reset_group() {
  python3 "$SF_LIB_DIR/kreset.py" "$KAFKA_BROKERS" "$@" >>"$SF_TMP/kreset.log" 2>&1 || {
    cat "$SF_TMP/kreset.log" >&2
    fail "could not reset group $1"
  }
}

# ---- workers ---------------------------------------------------------------

# start_worker ROLE [VAR=value...]: starts ROLE-worker (order, stock, or any
# ROLE with $<ROLE>_WORKER or build/workers/ROLE/ROLE-worker), under
# $WORKER_WRAPPER if set, in the background with the current KAFKA_BROKERS
# and DATABASE_URL, short session timeouts and a free HTTP_PORT (the
# VAR=value arguments override them);
# stdout and stderr go to $SF_TMP/ROLE-N.log; the descriptors in
# SF_PRIVATE_FDS are closed in it. Sets WORKER_PID.
start_worker() {
  local role=$1 bin name n
  shift
  case $role in
  order) bin=$ORDER_WORKER ;;
  stock) bin=$STOCK_WORKER ;;
  [a-z]*)
    # any other role: $<ROLE>_WORKER, else build/workers/<role>/<role>-worker
    local var=${role^^}_WORKER
    bin=${!var:-$SF_SRC/build/workers/$role/$role-worker}
    ;;
  *) fail "start_worker: bad role '$role'" ;;
  esac
  [[ -x $bin ]] || fail "worker not built: $bin"
  local -a wrap=()
  [[ -z ${WORKER_WRAPPER:-} ]] || read -ra wrap <<<"$WORKER_WRAPPER"
  n=$((SF_NPROC += 1))
  name=$role-$n
  local port
  port=$(sf_free_port)
  (
    for fd in "${SF_PRIVATE_FDS[@]}"; do exec {fd}>&-; done
    exec env LOG_LEVEL=info HTTP_PORT="$port" \
      RDKAFKA_SESSION_TIMEOUT_MS=6000 RDKAFKA_HEARTBEAT_INTERVAL_MS=500 "$@" \
      "${wrap[@]}" "$bin" </dev/null >>"$SF_TMP/$name.log" 2>&1
  ) &
  WORKER_PID=$!
  SF_WORKERS+=("$WORKER_PID")
  SF_NAME[$WORKER_PID]=$name
  SF_LOG[$WORKER_PID]=$SF_TMP/$name.log
  note "started $name (pid $WORKER_PID)"
}

# worker_log PID: the log file of a worker.
worker_log() {
  printf '%s\n' "${SF_LOG[$1]}"
}

# stop_worker PID [signalled]: SIGTERM (not with "signalled": sent already),
# wait (30 s at most), assert exit status 0.
stop_worker() {
  local pid=$1 name=${SF_NAME[$1]:-pid $1}
  sf_stop_pid "$pid" 30 "${2:-}"
  ((SF_KILLED == 0)) || fail "$name did not stop within 30 s of SIGTERM (killed)"
  ((SF_RC == 0)) || fail "$name exited with status $SF_RC after SIGTERM, expected 0"
  note "stopped $name (exit 0)"
}

# stop_workers PID...: SIGTERM to all at once (one rebalance), then as stop_worker.
stop_workers() {
  local pid
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do stop_worker "$pid" signalled; done
}

# kill9 PID: SIGKILL and reap.
kill9() {
  local pid=$1
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  sf_forget "$pid"
  note "killed ${SF_NAME[$pid]:-pid $pid} with SIGKILL"
}

# wait_assigned PID... : waits (15 s at most) until each worker has logged a
# partition assignment, so that tests really run workers side by side. A
# worker that logs no such line only costs the timeout (a note, no failure).
wait_assigned() {
  local pid deadline=$((SECONDS + 15))
  for pid in "$@"; do
    until grep -qiE 'assign' "${SF_LOG[$pid]}" 2>/dev/null; do
      sf_alive "$pid" || fail "${SF_NAME[$pid]} exited early: $(tail -n 3 "${SF_LOG[$pid]}")"
      if ((SECONDS >= deadline)); then
        note "no assignment logged by ${SF_NAME[$pid]} within 15 s; going on"
        return 0
      fi
      sleep 0.2
    done
  done
}

# gen ARGS...: the test stream generator (gen.py).
gen() {
  python3 "$SF_LIB_DIR/gen.py" "$@"
}
