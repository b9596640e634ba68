#!/usr/bin/env bash
# bench/run.sh: stockflow's end-to-end benchmark (issue 7). See bench/README.md.
#
#   bench/run.sh [--quick] [--workload steady|flash|wide|capacity|all]
#                [--broker dev|kafka] [--pgss] [--perf] [--keep] [--no-save]
#                [--partitions N]
#
# --broker: dev (default: the development broker, librdkafka's mock cluster)
# or kafka (Apache Kafka, deploy/kafka/kafka-local.sh; see bench/broker.sh):
# every run gets a fresh broker of that kind. --workload capacity: the live
# capacity search and p50/p95/p99 at half of it (bench/capacity.sh); part of
# a full run, not of --quick.
#
# --pgss: pg_stat_statements (track = all) in the bench's own cluster, top
# statements per phase into bench/results/pgss-*.tsv; --perf: perf record of
# the workers and of their PostgreSQL backends for 10 s of the steady peak
# run, into bench/results/perf-*.txt. Both cost throughput: profile runs,
# not measurement runs.
#
# Builds a release tree (build-bench), starts a throwaway PostgreSQL with
# default durability (or uses $PG_ADMIN_URL's cluster) and the development
# broker, runs the workloads while the workers consume, and reports events/s,
# event-to-commit latency, CPU per 1,000 events, peak RSS per worker, the
# flash sale's decision time and winners, pgbench's ceiling on the same SQL,
# the reference ceiling (the least SQL an order reservation needs, on tables
# of its own) with stockflow's orders/s as a ratio of it, and p99 at half of
# the peak rate. It checks the results (counts against the
# broker, final order states, DESIGN §5.1/§5.2 invariants, §5.3 exactly-once
# after a consumer-group reset, §5.5 rebuild from the ledger when the dev
# broker kept all of it) and exits 1 only when a result is wrong; timings
# never fail it. Results: a table on stdout, bench/results/latest.json
# (quick.json for --quick, profile.json with --pgss/--perf; --no-save: none).
#
# Environment: ORDER_WORKER PAYMENT_WORKER TIMEOUT_WORKER STOCK_WORKER
# STOCKCTL DEVBROKER BENCH_PRODUCER (all set: use them, no build; meson test
# sets them), PG_ADMIN_URL (shared cluster), BENCH_BATCH_MAX (workers'
# BATCH_MAX, default theirs: 1000), BENCH_FLASH_COPIES (order-workers in the
# flash sale, default 2), BENCH_STEADY_ORDERS, BENCH_FLASH_ORDERS,
# BENCH_PGBENCH_SECONDS, BENCH_HALF_SECONDS, BENCH_HALF_RATE (events/s of the
# latency run instead of half the steady peak), BENCH_WIDE_COPIES (overrides), BENCH_WARMUP=0 (no
# warm-up: measure a cold database, before autovacuum has statistics),
# BENCH_CAPACITY_SECONDS, BENCH_CAPACITY_START, BENCH_CAPACITY_PROBES,
# BENCH_CAPACITY_LAG_S (the capacity search, see bench/capacity.sh),
# BENCH_FEED_COST=0 (no steady run with the feed disabled).
set -euo pipefail
shopt -s inherit_errexit

BENCH_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/pgbench-scripts.sh
source "$BENCH_DIR/pgbench-scripts.sh"
# shellcheck source=bench/observe.sh
source "$BENCH_DIR/observe.sh"
# shellcheck source=bench/broker.sh
source "$BENCH_DIR/broker.sh"
# shellcheck source=bench/capacity.sh
source "$BENCH_DIR/capacity.sh"
SRC=${STOCKFLOW_SRC:-$(cd -- "$BENCH_DIR/.." && pwd)}
PG_BIN=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
export PGTZ=UTC PGCONNECT_TIMEOUT=10

CMDLINE="bench/run.sh${*:+ $*}"
QUICK=0 WORKLOAD=all PGSS=0 PERF=0 KEEP=0 SAVE=1 PARTS='' BROKER=dev
while (($#)); do
  case $1 in
  --quick) QUICK=1 ;;
  --workload) WORKLOAD=${2:?--workload needs a value}; shift ;;
  --workload=*) WORKLOAD=${1#*=} ;;
  --pgss) PGSS=1 ;;
  --perf) PERF=1 ;;
  --keep) KEEP=1 ;;
  --no-save) SAVE=0 ;;
  --partitions) PARTS=${2:?}; shift ;;
  --broker) BROKER=${2:?--broker needs a value}; shift ;;
  --broker=*) BROKER=${1#*=} ;;
  -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//p}' "$0"; exit 0 ;;
  *) echo "bench/run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ $WORKLOAD =~ ^(steady|flash|wide|capacity|all)$ ]] || { echo "bench/run.sh: --workload steady|flash|wide|capacity|all" >&2; exit 2; }
[[ $BROKER =~ ^(dev|kafka)$ ]] || { echo "bench/run.sh: --broker dev|kafka" >&2; exit 2; }

if ((QUICK)); then
  : "${PARTS:=4}"
  STEADY_SKUS=1000 STEADY_ORDERS=${BENCH_STEADY_ORDERS:-1000} WIDE_ORDERS=500
  FLASH_ORDERS=${BENCH_FLASH_ORDERS:-5000} FLASH_UNITS=100
  PGB_T=${BENCH_PGBENCH_SECONDS:-3} HALF_S=${BENCH_HALF_SECONDS:-2} SHORT_HOLD=1 WARMUP_ORDERS=200
  WIDE_COPIES=${BENCH_WIDE_COPIES:-2}
else
  : "${PARTS:=16}"
  STEADY_SKUS=10000 STEADY_ORDERS=${BENCH_STEADY_ORDERS:-30000} WIDE_ORDERS=${BENCH_STEADY_ORDERS:-30000}
  FLASH_ORDERS=${BENCH_FLASH_ORDERS:-100000} FLASH_UNITS=1000
  PGB_T=${BENCH_PGBENCH_SECONDS:-10} HALF_S=${BENCH_HALF_SECONDS:-15} SHORT_HOLD=2 WARMUP_ORDERS=3000
  WIDE_COPIES=${BENCH_WIDE_COPIES:-1 2 4}
fi
FLASH_COPIES=${BENCH_FLASH_COPIES:-2}
BATCH=${BENCH_BATCH_MAX:-1000}
REF_BATCH=100 # orders per transaction of the reference ceiling (issue 14)
RETRY_STEPS=4 # the dev broker's default --retry-steps, as many as RETRY_BACKOFF_SECONDS has

TMP=$(mktemp -d /tmp/sf-bench.XXXXXX)
chmod 755 "$TMP" # the cluster runs as postgres, which must reach $TMP/pg
RES=$TMP/res
mkdir -p "$RES"
T0=$SECONDS
FAILS=()
PROCS=()            # pids still to stop
declare -A PNAME=() # pid -> name
DBS=()
OWN_PG=0
BROKER_PID=''
LAG_PROBE=0 # 1 while a capacity probe runs (bench/capacity.sh)

note() { printf '[bench +%ds] %s\n' $((SECONDS - T0)) "$*" >&2; }
die() {
  printf '[bench +%ds] ERROR: %s\n' $((SECONDS - T0)) "$*" >&2
  exit 1
}
# check WHAT EXPECTED ACTUAL: a wrong result is recorded (the run goes on).
check() {
  if [[ $2 == "$3" ]]; then
    note "ok: $1 ($3)"
  else
    note "WRONG: $1: expected '$2', got '$3'"
    FAILS+=("$1: expected '$2', got '$3'")
  fi
}

alive() {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $st != Z* ]]
}

forget() {
  local p keep=()
  for p in "${PROCS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PROCS=("${keep[@]}")
}

# stop_pid PID [signalled]: SIGTERM (unless already sent: a second one makes
# a worker exit at once), 20 s, SIGKILL; sets RC.
stop_pid() {
  local pid=$1 deadline=$((SECONDS + 20))
  [[ ${2:-} == signalled ]] || kill -TERM "$pid" 2>/dev/null || true
  while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  alive "$pid" && kill -KILL "$pid" 2>/dev/null
  RC=0
  wait "$pid" 2>/dev/null || RC=$?
  forget "$pid"
}

cleanup() {
  local rc=$? pid db
  set +e
  trap - EXIT INT TERM
  for pid in "${PROCS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${PROCS[@]}"; do stop_pid "$pid" signalled; done
  [[ $BROKER != kafka ]] || stop_broker
  if ((OWN_PG)); then
    "$SRC/deploy/pg-local.sh" stop "$TMP/pg" >/dev/null 2>&1 || note "warning: could not stop PostgreSQL"
  else
    for db in "${DBS[@]}"; do
      psql "$ADMIN_URL" -Xq -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1
    done
  fi
  if ((rc != 0)); then
    for f in "$TMP"/*.log; do
      [[ -s $f ]] || continue
      printf -- '----- last lines of %s -----\n' "${f##*/}" >&2
      tail -n 8 "$f" | cut -c1-300 >&2
    done
  fi
  if ((KEEP)); then note "kept $TMP"; else rm -rf -- "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- binaries -------------------------------------------------------------

if [[ -n ${ORDER_WORKER:-} && -n ${PAYMENT_WORKER:-} && -n ${TIMEOUT_WORKER:-} &&
  -n ${STOCK_WORKER:-} && -n ${STOCKCTL:-} && -n ${DEVBROKER:-} && -n ${BENCH_PRODUCER:-} ]]; then
  BUILD_NOTE="binaries from the environment"
else
  B=$SRC/build-bench
  if [[ ! -f $B/build.ninja ]]; then
    meson setup "$B" "$SRC" --buildtype=release >"$TMP/build.log" 2>&1 || { cat "$TMP/build.log" >&2; die "meson setup failed"; }
  fi
  ninja -C "$B" >>"$TMP/build.log" 2>&1 || { tail -n 30 "$TMP/build.log" >&2; die "build failed"; }
  ORDER_WORKER=$B/workers/order/order-worker PAYMENT_WORKER=$B/workers/payment/payment-worker
  TIMEOUT_WORKER=$B/workers/timeout/timeout-worker STOCK_WORKER=$B/workers/stock/stock-worker
  STOCKCTL=$B/stockctl/stockctl DEVBROKER=$B/deploy/devbroker/stockflow-devbroker
  BENCH_PRODUCER=$B/bench/stockflow-bench-producer
  BUILD_NOTE="release build in build-bench"
fi
for b in "$ORDER_WORKER" "$PAYMENT_WORKER" "$TIMEOUT_WORKER" "$STOCK_WORKER" "$STOCKCTL" "$DEVBROKER" "$BENCH_PRODUCER"; do
  [[ -x $b ]] || die "not built: $b"
done

# ---- PostgreSQL -----------------------------------------------------------

if [[ -n ${PG_ADMIN_URL:-} ]]; then
  ADMIN_URL=$PG_ADMIN_URL
  PG_NOTE="shared cluster (PG_ADMIN_URL)"
else
  OWN_PG=1
  env -u PG_LOCAL_FAST "$SRC/deploy/pg-local.sh" start "$TMP/pg" >"$TMP/pg-local.out" 2>&1 ||
    die "pg-local.sh start failed: $(tail -n 3 "$TMP/pg-local.out")"
  ADMIN_URL=$(sed -n 's/^PG_ADMIN_URL=//p' "$TMP/pg/env")
  # commit timestamps give the real commit time of every event (processed_at
  # is the transaction's start); pg_stat_statements only with --pgss
  psql "$ADMIN_URL" -Xq -c "ALTER SYSTEM SET track_commit_timestamp = on" >/dev/null
  if ((PGSS)); then
    psql "$ADMIN_URL" -Xq -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
  fi
  "$SRC/deploy/pg-local.sh" stop "$TMP/pg" >/dev/null
  env -u PG_LOCAL_FAST "$SRC/deploy/pg-local.sh" start "$TMP/pg" >>"$TMP/pg-local.out" 2>&1 ||
    die "pg-local.sh restart failed"
  PG_NOTE="own cluster (deploy/pg-local.sh, default durability)"
  if ((PGSS)); then
    psql "$ADMIN_URL" -Xq -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
      -c "ALTER SYSTEM SET pg_stat_statements.track = 'all'" -c "SELECT pg_reload_conf()" >/dev/null
    PG_NOTE="$PG_NOTE, pg_stat_statements (track all)"
  fi
fi
psql_a() { psql "$ADMIN_URL" -XAtq -v ON_ERROR_STOP=1 "$@"; }
COMMIT_TS=$(psql_a -c "SHOW track_commit_timestamp")
PG_SETTINGS=$(psql_a -c "SELECT json_object_agg(name, setting) FROM pg_settings WHERE name IN
  ('fsync','synchronous_commit','full_page_writes','shared_buffers','wal_level','track_commit_timestamp',
   'max_wal_size','server_version','shared_preload_libraries')")
note "PostgreSQL: $PG_NOTE; track_commit_timestamp=$COMMIT_TS"
broker_describe
note "broker: $BROKER_NAME, $BROKER_VERSION"

# new_db NAME: creates database NAME (dropped at exit), migrates it, exports DATABASE_URL.
new_db() {
  local name="bench_${1}_$$" base query
  psql_a -c "CREATE DATABASE \"$name\"" >/dev/null || die "CREATE DATABASE $name failed"
  DBS+=("$name")
  base=${ADMIN_URL%%\?*}
  query=${ADMIN_URL#"$base"}
  if [[ $base =~ ^postgres(ql)?://[^/]*$ ]]; then DATABASE_URL="$base/$name$query"; else DATABASE_URL="${base%/*}/$name$query"; fi
  export DATABASE_URL
  "$STOCKCTL" migrate >>"$TMP/migrate.log" 2>&1 || { tail -n 5 "$TMP/migrate.log" >&2; die "stockctl migrate failed"; }
}
q() { psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

# ---- broker, workers ------------------------------------------------------

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

FLEET=()
FLEET_ID=0
FLEET_ENV=() # extra VAR=value for every worker of the next fleet
declare -A ROLE=()
start_worker() { # ROLE BIN
  local name="f$FLEET_ID-$1-${#FLEET[@]}"
  env LOG_LEVEL=info HTTP_PORT="$(free_port)" BATCH_MAX="$BATCH" \
    RDKAFKA_SESSION_TIMEOUT_MS=6000 RDKAFKA_HEARTBEAT_INTERVAL_MS=500 "${FLEET_ENV[@]}" \
    "$2" </dev/null >>"$TMP/$name.log" 2>&1 &
  PROCS+=("$!")
  FLEET+=("$!")
  PNAME[$!]=$name
  ROLE[$!]=$1
}

# fleet_start NORDER NPAYMENT: order, payment, stock and timeout workers;
# waits until every consumer-loop worker has its partitions.
fleet_start() {
  local i pid deadline
  FLEET=()
  FLEET_ID=$((FLEET_ID + 1))
  for ((i = 0; i < $1; i++)); do start_worker order "$ORDER_WORKER"; done
  for ((i = 0; i < $2; i++)); do start_worker payment "$PAYMENT_WORKER"; done
  start_worker stock "$STOCK_WORKER"
  start_worker timeout "$TIMEOUT_WORKER"
  deadline=$((SECONDS + 30))
  for pid in "${FLEET[@]}"; do
    [[ ${ROLE[$pid]} == timeout ]] && continue
    until grep -q 'assigned' "$TMP/${PNAME[$pid]}.log" 2>/dev/null; do
      alive "$pid" || die "${PNAME[$pid]} exited: $(tail -n 3 "$TMP/${PNAME[$pid]}.log")"
      ((SECONDS < deadline)) || die "${PNAME[$pid]} got no partitions within 30 s"
      sleep 0.1
    done
  done
  sleep 1 # let the last rebalance settle
}

# fleet_stop: records peak RSS (VmHWM, kB) per worker into $TMP/rss, stops all.
fleet_stop() {
  local pid
  for pid in "${FLEET[@]}"; do
    printf '%s %s\n' "${ROLE[$pid]}" "$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)" >>"$TMP/rss"
  done
  for pid in "${FLEET[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${FLEET[@]}"; do
    stop_pid "$pid" signalled
    ((RC == 0)) || check "${PNAME[$pid]} exit status after SIGTERM" 0 "$RC"
  done
  FLEET=()
}

# cpu_ticks PID...: utime + stime (+ reaped children for the postmaster).
cpu_ticks() {
  local pid t=0 v
  for pid in "$@"; do
    v=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat" 2>/dev/null || echo 0)
    t=$((t + v))
  done
  echo "$t"
}
pg_pids() {
  ((OWN_PG)) || return 0
  local pm
  pm=$(head -n 1 "$TMP/pg/data/postmaster.pid")
  echo "$pm"
  pgrep -P "$pm" || true
}
cpu_fleet() { cpu_ticks "${FLEET[@]}"; }
# machine_ticks: busy CPU ticks of the whole machine (all CPUs, /proc/stat);
# minus the bench's own processes over a run, what others used meanwhile.
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
# fallbacks: batches of the current fleet that failed as a whole and were
# applied again one event per transaction (a costly path worth counting).
fallbacks() { cat "$TMP/f$FLEET_ID"-*.log 2>/dev/null | grep -c 'applying one by one' || true; }
cpu_pg() { # the cluster, without the bench's own pg_stat_activity sampler
  local pids p keep=()
  mapfile -t pids < <(pg_pids)
  for p in "${pids[@]}"; do [[ $p == "${SAMPLER_BACKEND:-}" ]] || keep+=("$p"); done
  cpu_ticks "${keep[@]}"
}
CLK_TCK=$(getconf CLK_TCK)

# wait_applied RUN EXPECTED: polls (1 s) until EXPECTED events of RUN are in
# processed_events, or (every 5 s) the consumers have nothing left to read
# (an event dead-lettered never arrives); lighter than polling the broker
# 4 times a second while the run is measured.
wait_applied() {
  local deadline=$((SECONDS + 900)) n i=0
  while :; do
    n=$(q "SELECT count(*) FROM processed_events WHERE event_id LIKE '$1-e%'")
    ((n >= $2)) && return 0
    ((SECONDS < deadline)) || return 0 # wait_lag reports what is missing
    if ((++i % 5 == 0)) && "$STOCKCTL" lag --wait 0 --quiet "${GROUPS_ALL[@]}" >/dev/null 2>&1; then
      return 0
    fi
    sleep 1
  done
}

# wait_lag SECONDS GROUP...: every group has read and committed everything.
wait_lag() {
  local t=$1
  shift
  "$STOCKCTL" lag --wait "$t" --quiet "$@" >"$TMP/lag.out" 2>&1 || {
    cat "$TMP/lag.out" >&2
    "$STOCKCTL" lag "$@" >&2 || true
    die "consumers did not catch up within ${t}s"
  }
}
GROUPS_ALL=(stockflow-order stockflow-payment stockflow-stock stockflow-timeout)

produce() { # RUN SUMMARY_NAME produce-args...
  local run=$1 sum=$RES/$2.producer.json
  shift 2
  "$BENCH_PRODUCER" produce --run "$run" --summary "$sum" "$@" 2>>"$TMP/producer.log" ||
    die "producer failed: $(tail -n 2 "$TMP/producer.log")"
  tail -n 1 "$TMP/producer.log" | sed 's/^stockflow-bench-producer: /  producer: /' >&2
}

# ---- measurements ---------------------------------------------------------

if [[ $COMMIT_TS == on ]]; then DONE_EXPR='pg_xact_commit_timestamp(xmin)'; else DONE_EXPR='processed_at'; fi

# measure RUN NAME: events/s, latency from occurred_at to commit, into $RES/NAME.json.
measure() {
  local run=$1 name=$2 first
  first=$(jq .first_ms "$RES/$name.producer.json")
  q "WITH e AS (SELECT extract(epoch FROM $DONE_EXPR - occurred_at) * 1000 AS lat,
                       extract(epoch FROM $DONE_EXPR) * 1000 AS done
                  FROM processed_events WHERE event_id LIKE '$run-e%')
     SELECT json_build_object('events', count(*), 'first_ms', $first, 'last_commit_ms', round(max(done)),
       'seconds', round(((max(done) - $first) / 1000)::numeric, 3),
       'events_per_s', round((count(*) / nullif((max(done) - $first) / 1000, 0))::numeric, 1),
       'p50_ms', round(percentile_disc(0.50) WITHIN GROUP (ORDER BY lat)::numeric, 1),
       'p95_ms', round(percentile_disc(0.95) WITHIN GROUP (ORDER BY lat)::numeric, 1),
       'p99_ms', round(percentile_disc(0.99) WITHIN GROUP (ORDER BY lat)::numeric, 1),
       'max_ms', round(max(lat)::numeric, 1),
       'latency_clock', '$DONE_EXPR') FROM e" >"$RES/$name.json"
}

# counts_check LABEL PRODUCER_SUMMARY...: per source topic, the broker's
# records (high watermark; low watermark 0: nothing dropped) = produced =
# applied + dead letters.
counts_check() {
  local label=$1 offs t prod high low dlq applied sums=()
  shift
  for t in "$@"; do sums+=("$RES/$t.producer.json"); done
  local topics=() src
  for src in inventory.orders inventory.payments inventory.stock; do
    topics+=("$src" "$src.dlq")
    for ((t = 1; t <= RETRY_STEPS; t++)); do topics+=("$src.retry.$t"); done
  done
  offs=$("$BENCH_PRODUCER" offsets "${topics[@]}")
  echo "$offs" >"$RES/$label.offsets.json"
  jq '{retry_records: ([to_entries[] | select(.key | test("\\.retry\\.")) | .value.high] | add),
       dead_letters: ([to_entries[] | select(.key | endswith(".dlq")) | .value.high] | add)}' <<<"$offs" >"$RES/$label.failures.json"
  for t in inventory.orders inventory.payments inventory.stock; do
    prod=$(jq -s --arg t "$t" 'map(.produced[$t]) | add' "${sums[@]}")
    high=$(jq --arg t "$t" '.[$t].high' <<<"$offs")
    low=$(jq --arg t "$t" '.[$t].low' <<<"$offs")
    dlq=$(jq --arg t "$t.dlq" '.[$t].high' <<<"$offs")
    applied=$(q "SELECT count(*) FROM processed_events WHERE regexp_replace(topic, '\.retry\.[0-9]+$', '') = '$t'")
    check "$label: $t records in the broker = produced" "$prod" "$high"
    if ((low > 0 && LAG_PROBE)) && [[ $BROKER == dev ]]; then
      # a capacity probe writes more than the dev broker's 5 MiB per partition;
      # applied + dead letters = produced below still proves nothing was lost
      note "$label: $t: the dev broker dropped $low records it had delivered (5 MiB per partition)"
    else
      check "$label: $t log start offsets (0 = nothing dropped)" 0 "$low"
    fi
    check "$label: $t applied + dead letters = produced" "$prod" "$((applied + dlq))"
    check "$label: $t dead letters" 0 "$dlq"
  done
}

invariants_check() {
  local label=$1
  check "$label: invariant_violations (DESIGN §5.1, §5.2)" "" "$(q "SELECT string_agg(sku || ': ' || problem, '; ') FROM invariant_violations")"
  check "$label: SKUs below zero or oversold" 0 "$(q "SELECT count(*) FROM stock_levels WHERE on_hand < 0 OR reserved < 0 OR available < 0 OR reserved > on_hand OR status = 'oversold'")"
}

states_of() { # RUN -> {"state": n, ...}
  q "SELECT coalesce(json_object_agg(state, n ORDER BY state), '{}') FROM (SELECT state, count(*) n FROM orders WHERE order_id LIKE '$1-o%' GROUP BY state) s"
}

# wait_settled RUN: the short holds of the never-paid orders are released.
wait_settled() {
  local deadline=$((SECONDS + 60)) n
  while :; do
    n=$(q "SELECT count(*) FROM orders WHERE order_id LIKE '$1-o%' AND state = 'reserved'")
    ((n == 0)) && return 0
    ((SECONDS < deadline)) || { note "still $n held orders of $1 after 60 s"; return 0; }
    sleep 0.25
  done
}

steady_check() { # RUN NAME
  local run=$1 name=$2 exp
  exp=$(jq -c '.expect | to_entries | sort_by(.key) | from_entries' "$RES/$name.producer.json")
  check "$name: final order states" "$exp" "$(states_of "$run" | jq -c 'to_entries | sort_by(.key) | from_entries')"
  check "$name: committed units" "$(jq .committed_units "$RES/$name.producer.json")" \
    "$(q "SELECT coalesce(sum(l.qty), 0) FROM order_lines l JOIN orders o USING (order_id) WHERE o.order_id LIKE '$run-o%' AND o.state = 'committed'")"
}

snapshot() {
  q "SELECT md5(string_agg(x, E'\n' ORDER BY x)) FROM (
       SELECT s::text x FROM stock s UNION ALL SELECT o::text FROM orders o
       UNION ALL SELECT l::text FROM order_lines l
       UNION ALL SELECT 'outbox max id ' || coalesce(max(id), 0) FROM outbox
       UNION ALL SELECT 'processed ' || count(*) FROM processed_events) t"
}

# ledger_check LABEL: DESIGN §5.5: a database rebuilt from inventory.ledger
# alone (stockctl rebuild --from-ledger) has the same stock_levels and
# order_status (stockctl checksum) as the one the workers wrote. The dev
# broker keeps ~5 MiB per partition: when it dropped ledger records (low
# watermark > 0) the check cannot run and says so.
ledger_check() {
  local label=$1 low keep_url=$DATABASE_URL want got
  low=$("$BENCH_PRODUCER" offsets inventory.ledger | jq '.["inventory.ledger"].low')
  if ((low > 0)); then
    note "$label: ledger rebuild (DESIGN §5.5) not checked: the dev broker dropped $low ledger records (5 MiB per partition)"
    echo '{"checked": false, "reason": "ledger truncated by the dev broker"}' >"$RES/$label.ledger.json"
    return 0
  fi
  want=$("$STOCKCTL" checksum 2>>"$TMP/stockctl.log" | tail -n 1 | tr -s " ") || die "stockctl checksum failed"
  new_db "${label}_rebuilt"
  "$STOCKCTL" rebuild --from-ledger --no-positions >>"$TMP/stockctl.log" 2>&1 || {
    tail -n 5 "$TMP/stockctl.log" >&2
    check "$label: stockctl rebuild --from-ledger" "exit 0" "failed"
    DATABASE_URL=$keep_url
    return 0
  }
  got=$("$STOCKCTL" checksum 2>>"$TMP/stockctl.log" | tail -n 1 | tr -s " ") || die "stockctl checksum failed"
  DATABASE_URL=$keep_url
  export DATABASE_URL
  check "$label: database rebuilt from the ledger = the workers' (DESIGN §5.5)" "$want" "$got"
  echo '{"checked": true}' >"$RES/$label.ledger.json"
}

# redelivery_check LABEL NORDER NPAYMENT: DESIGN §5.3: with the fleet
# stopped, reset the consumer groups to the earliest offset, restart, let
# every event be delivered again: nothing may change.
redelivery_check() {
  local label=$1 before after g t0
  before=$(snapshot)
  for g in order:inventory.orders payment:inventory.payments stock:inventory.stock; do
    "$BENCH_PRODUCER" reset "stockflow-${g%%:*}" "${g#*:}" 2>>"$TMP/producer.log" || die "reset of stockflow-${g%%:*} failed"
  done
  t0=$SECONDS
  fleet_start "$2" "$3"
  wait_lag 600 "${GROUPS_ALL[@]}"
  note "$label: every event delivered again in $((SECONDS - t0)) s"
  after=$(snapshot)
  check "$label: state after every event was delivered again (DESIGN §5.3)" "$before" "$after"
  fleet_stop
}

rss_json() { # -> {"order": max kB, ...} from $TMP/rss
  awk '{ if ($2 > m[$1]) m[$1] = $2 } END { s = ""; for (r in m) { s = s sprintf("%s\"%s\":%d", s == "" ? "" : ",", r, m[r]) } print "{" s "}" }' "$TMP/rss"
}

cpu_json() { # NAME WORKER_TICKS PG_TICKS EVENTS MACHINE_TICKS BROKER_TICKS SECONDS
  jq -n --argjson w "$2" --argjson p "$3" --argjson n "$4" --argjson m "$5" --argjson b "$6" --argjson s "$7" \
    --argjson hz "$CLK_TCK" --argjson own "$OWN_PG" \
    '{workers_cpu_s: ($w / $hz), workers_cpu_s_per_1k: (if $n > 0 then ($w / $hz) / $n * 1000 else null end),
      pg_cpu_s: (if $own == 1 then $p / $hz else null end),
      pg_cpu_s_per_1k: (if $own == 1 and $n > 0 then ($p / $hz) / $n * 1000 else null end),
      broker_cpu_s: ($b / $hz), machine_busy_cpu_s: ($m / $hz), wall_s: $s,
      others_cpu_s: (if $own == 1 then ([($m - $w - $p - $b) / $hz, 0] | max) else null end)}' >"$RES/$1.cpu.json"
}

# wait_quiet RUN NAME [--holds-stay]: the run's short holds are released
# (unless its holds are long: --holds-stay) and the outbox relay
# has published everything (so the next measurement starts from rest);
# records how long after the run's last commit the ledger was published.
wait_quiet() {
  local run=$1 name=$2 deadline=$((SECONDS + 300)) n
  [[ ${3:-} == --holds-stay ]] || wait_settled "$run"
  note "$name: holds settled"
  while :; do
    n=$(q "SELECT count(*) FROM outbox_pending")
    ((n == 0)) && break
    ((SECONDS < deadline)) || { note "outbox still holds $n unpublished records after 300 s"; break; }
    sleep 0.25
  done
  q "SELECT json_build_object('outbox_drained_s_after_last_commit',
       round(extract(epoch FROM (SELECT published_at FROM outbox_relay) - to_timestamp($(jq .last_commit_ms "$RES/$name.json") / 1000.0))::numeric, 2),
       'outbox_records', count(*)) FROM outbox" >"$RES/$name.outbox.json"
}

# feed_json NAME MARK: the sellable-quantity feed of a run (outbox rows to
# inventory.availability above id MARK): records, the transactions that wrote
# any (xmin), records per such transaction, SKUs. A transaction that wrote
# two records for one SKU is a wrong result (DESIGN §9: one per SKU).
feed_json() {
  local name=$1 mark=$2
  q "SELECT json_build_object('records', count(*), 'transactions', count(DISTINCT xmin::text),
       'records_per_transaction', round(count(*)::numeric / nullif(count(DISTINCT xmin::text), 0), 2),
       'skus', count(DISTINCT key), 'enabled', (SELECT bool_and(tgenabled <> 'D') FROM pg_trigger
                                                  WHERE tgname LIKE 'stock_availability_%'))
       FROM outbox WHERE id > $mark AND topic = 'inventory.availability'" >"$RES/$name.feed.json"
  check "$name: feed transactions that wrote two records for one SKU" 0 \
    "$(q "SELECT count(*) FROM (SELECT 1 FROM outbox WHERE id > $mark AND topic = 'inventory.availability'
           GROUP BY xmin::text, key HAVING count(*) > 1) d")"
}

# ---- workloads --------------------------------------------------------------

# checkpoint: every measured run (and pgbench) starts right after a
# checkpoint, so none pays for the one the WAL of the runs before it made
# due.
checkpoint() {
  q "CHECKPOINT" >/dev/null 2>&1 || note "warning: CHECKPOINT failed (not a superuser?)"
}

# steady_run RUN NAME ORDERS [--rate R]: one steady mix on the running fleet.
steady_run() {
  local run=$1 name=$2 orders=$3 w0 p0 w1 p1 n f0 m0 m1 b0 b1 t0 t1 mark
  shift 3
  mark=$(q "SELECT coalesce(max(id), 0) FROM outbox")
  checkpoint
  w0=$(cpu_fleet) p0=$(cpu_pg) f0=$(fallbacks) m0=$(machine_ticks) b0=$(cpu_ticks "$BROKER_PID") t0=$(date +%s.%N)
  sampler_start "$run"
  [[ $name != steady ]] || perf_start steady
  ((!LAG_PROBE)) || lag_sampler_start "$name"
  produce "$run" "$name" --workload steady --orders "$orders" --skus "$STEADY_SKUS" --short-hold "$SHORT_HOLD" "$@"
  ((!LAG_PROBE)) || lag_sampler_stop "$name"
  wait_applied "$run" "$(jq '.produced | add' "$RES/$name.producer.json")"
  w1=$(cpu_fleet) p1=$(cpu_pg) m1=$(machine_ticks) b1=$(cpu_ticks "$BROKER_PID") t1=$(date +%s.%N)
  wait_lag 900 "${GROUPS_ALL[@]}"
  [[ $name != steady ]] || perf_stop steady
  sampler_stop
  measure "$run" "$name"
  feed_json "$name" "$mark"
  sessions_json "$run" "$name"
  batches_json "$run" "$name"
  n=$(jq .events "$RES/$name.json")
  cpu_json "$name" $((w1 - w0)) $((p1 - p0)) "$n" $((m1 - m0)) $((b1 - b0)) "$(echo "$t1 - $t0" | bc)"
  echo "{\"batches_applied_one_by_one\": $(($(fallbacks) - f0))}" >"$RES/$name.fallbacks.json"
  note "$name: $n events, $(jq .events_per_s "$RES/$name.json") events/s, p99 $(jq .p99_ms "$RES/$name.json") ms"
}

stock_setup() { # NAME
  produce stk "$1" --workload stock --skus "$STEADY_SKUS"
  wait_lag 300 stockflow-stock
}

# warmup NAME: a small steady mix (run "wu") before the measured runs, then
# VACUUM ANALYZE. A fresh database has no statistics until autovacuum's first
# pass (up to a minute, autovacuum_naptime), and meanwhile the planner may
# pick sequential scans of stock for every event; a running system has them.
warmup() {
  if [[ ${BENCH_WARMUP:-1} == 0 ]]; then
    echo '{"produced": {}}' >"$RES/$1-warmup.producer.json"
    note "$1: no warm-up (BENCH_WARMUP=0): a cold database, no statistics"
    return 0
  fi
  produce wu "$1-warmup" --workload steady --orders "$WARMUP_ORDERS" --skus "$STEADY_SKUS" --short-hold 1 --seed 7
  wait_lag 300 "${GROUPS_ALL[@]}"
  measure wu "$1-warmup"
  wait_quiet wu "$1-warmup"
  q "VACUUM ANALYZE" >/dev/null
  note "$1: warmed up ($(jq .events "$RES/$1-warmup.json") events), statistics taken"
}

workload_steady() {
  local peak rate
  note "== steady mix: $STEADY_ORDERS orders over $STEADY_SKUS SKUs, 1 order-worker + 1 payment-worker"
  start_broker
  new_db steady
  : >"$TMP/rss"
  fleet_start 1 1
  stock_setup steady-stock
  warmup steady
  pgss_snap setup
  steady_run st steady "$STEADY_ORDERS"
  pgss_snap steady
  wait_quiet st steady
  steady_check st steady
  check "steady: units still reserved (every order settled)" 0 "$(q "SELECT coalesce(sum(reserved), 0) FROM stock")"
  check "steady: committed_total = committed units of the runs" \
    "$(jq -s 'map(.committed_units) | add' "$RES/steady-warmup.producer.json" "$RES/steady.producer.json")" \
    "$(q "SELECT sum(committed_total) FROM stock")"
  invariants_check steady
  fleet_stop
  rss_json >"$RES/steady.rss.json"
  counts_check steady steady-stock steady-warmup steady
  redelivery_check steady 1 1
  ledger_check steady
  pgss_snap redelivery
  [[ ${BENCH_FEED_COST:-1} == 0 ]] || feed_off_run
  peak=$(jq .events_per_s "$RES/steady.json")
  rate=${BENCH_HALF_RATE:-$(jq -n --argjson p "$peak" '$p / 2 | floor')}
  latency_run half "$rate" hp
  pgss_snap half
  if ((!QUICK)); then
    # The dev broker answers an empty fetch only after the consumer's whole
    # fetch.wait.max.ms (100 ms in the workers) even when records arrive
    # meanwhile; Kafka answers as soon as data is there. The same run with a
    # 10 ms fetch wait shows what that costs in latency.
    latency_run half_fetch10 "$rate" hq RDKAFKA_FETCH_WAIT_MAX_MS=10
    pgss_snap half_fetch10
  fi
  pgbench_ceiling 2
  pgss_snap pgbench
}

# feed_off_run: the cost of the feed. The steady mix again, as the steady
# run had it, on a fresh broker and database whose feed triggers are
# disabled (ALTER TABLE stock DISABLE TRIGGER: no setting of the workers;
# since 025 the two statement triggers that also drive the status alerts, so
# this run has neither); the report compares the two runs' events/s.
# BENCH_FEED_COST=0 skips it.
feed_off_run() {
  note "== steady mix with the feed disabled (its cost), on a fresh broker and database"
  start_broker
  new_db steady_nofeed
  q "ALTER TABLE stock DISABLE TRIGGER stock_availability_changes_update,
                       DISABLE TRIGGER stock_availability_changes_insert" >/dev/null
  : >"$TMP/rss"
  fleet_start 1 1
  stock_setup steady_nofeed-stock
  warmup steady_nofeed
  steady_run sn steady_nofeed "$STEADY_ORDERS"
  wait_quiet sn steady_nofeed
  steady_check sn steady_nofeed
  check "steady_nofeed: feed records" 0 "$(q "SELECT count(*) FROM outbox WHERE topic = 'inventory.availability'")"
  invariants_check steady_nofeed
  fleet_stop
  rss_json >"$RES/steady_nofeed.rss.json"
  counts_check steady_nofeed steady_nofeed-stock steady_nofeed-warmup steady_nofeed
}

# latency_run NAME RATE RUN [VAR=value...]: the steady mix at RATE events/s
# for HALF_S seconds, live (produced while the workers consume), on a fresh
# broker and database with the stock and warm-up the steady run had, workers
# with the extra environment given. Fresh, because the dev broker finds the
# records of a Fetch by walking each partition's list of producer batches
# from its start: a run made on the broker after another one (a live run
# leaves thousands of small batches per partition) paid that walk on every
# Fetch, 4x the broker CPU, and measured its latency against it.
latency_run() {
  local name=$1 rate=$2 run=$3 orders secs=${LIVE_S:-$HALF_S}
  shift 3
  orders=$(jq -n --argjson r "$rate" --argjson s "$secs" '[($r * $s / 2 | floor), 50] | max')
  note "== steady mix, live, at $rate events/s for ${secs} s${*:+ ($*)}, on a fresh broker and database"
  start_broker
  new_db "$name"
  : >"$TMP/rss"
  FLEET_ENV=("$@")
  fleet_start 1 1
  FLEET_ENV=()
  stock_setup "$name-stock"
  warmup "$name"
  steady_run "$run" "$name" "$orders" --rate "$rate"
  if ((LAG_PROBE)); then wait_settled "$run"; else wait_quiet "$run" "$name"; fi
  steady_check "$run" "$name"
  check "$name: units still reserved (every order settled)" 0 "$(q "SELECT coalesce(sum(reserved), 0) FROM stock")"
  check "$name: committed_total = committed units of the runs" \
    "$(jq -s 'map(.committed_units) | add' "$RES/$name-warmup.producer.json" "$RES/$name.producer.json")" \
    "$(q "SELECT sum(committed_total) FROM stock")"
  invariants_check "$name"
  fleet_stop
  rss_json >"$RES/$name.rss.json"
  counts_check "$name" "$name-stock" "$name-warmup" "$name"
}

# flash_run RUN NAME warm|cold: the flash sale on a fresh broker and database
# with the stock of 10,000 SKUs; warm: after the warm-up and VACUUM ANALYZE,
# as the other runs; cold: straight after it, as a new user's first sale
# meets it (no warm-up, statistics only if autovacuum took them meanwhile).
flash_run() {
  local run=$1 name=$2 how=$3 n w0 p0 w1 p1 f0 m0 m1 b0 b1 t0 t1 mark
  note "== flash sale ($how): $FLASH_ORDERS orders for one SKU with $FLASH_UNITS units, $FLASH_COPIES order-workers"
  start_broker
  new_db "$name"
  : >"$TMP/rss"
  fleet_start "$FLASH_COPIES" 1
  stock_setup "$name-skus"
  if [[ $how == warm ]]; then
    warmup "$name"
  else
    echo '{"produced": {}}' >"$RES/$name-warmup.producer.json"
    note "$name: no warm-up, no VACUUM ANALYZE"
  fi
  produce "$run" "$name-stock" --workload flash-stock --units "$FLASH_UNITS"
  wait_lag 60 stockflow-stock
  mark=$(q "SELECT coalesce(max(id), 0) FROM outbox")
  checkpoint
  w0=$(cpu_fleet) p0=$(cpu_pg) f0=$(fallbacks) m0=$(machine_ticks) b0=$(cpu_ticks "$BROKER_PID") t0=$(date +%s.%N)
  sampler_start "$run"
  produce "$run" "$name" --workload flash --orders "$FLASH_ORDERS" --units "$FLASH_UNITS"
  wait_applied "$run" "$FLASH_ORDERS"
  w1=$(cpu_fleet) p1=$(cpu_pg) m1=$(machine_ticks) b1=$(cpu_ticks "$BROKER_PID") t1=$(date +%s.%N)
  wait_lag 600 "${GROUPS_ALL[@]}"
  sampler_stop
  measure "$run" "$name"
  feed_json "$name" "$mark"
  sessions_json "$run" "$name"
  batches_json "$run" "$name"
  n=$(jq .events "$RES/$name.json")
  cpu_json "$name" $((w1 - w0)) $((p1 - p0)) "$n" $((m1 - m0)) $((b1 - b0)) "$(echo "$t1 - $t0" | bc)"
  echo "{\"batches_applied_one_by_one\": $(($(fallbacks) - f0))}" >"$RES/$name.fallbacks.json"
  note "$name: $n orders decided in $(jq .seconds "$RES/$name.json") s"
  wait_quiet "$run" "$name" --holds-stay
  local exp
  exp=$(jq -c '.expect' "$RES/$name.producer.json")
  check "$name: winners and losers" "$exp" "$(states_of "$run" | jq -c '{reserved: (.reserved // 0), rejected: (.rejected // 0)}')"
  check "$name: stock of the flash SKU (on_hand|reserved|available)" "$FLASH_UNITS|$((FLASH_UNITS < FLASH_ORDERS ? FLASH_UNITS : FLASH_ORDERS))|$((FLASH_UNITS < FLASH_ORDERS ? 0 : FLASH_UNITS - FLASH_ORDERS))" \
    "$(q "SELECT on_hand || '|' || reserved || '|' || available FROM stock_levels WHERE sku = 'flash-$run'")"
  q "SELECT json_build_object('winners', count(*) FILTER (WHERE state = 'reserved'),
       'rejected', count(*) FILTER (WHERE state = 'rejected')) FROM orders WHERE order_id LIKE '$run-o%'" >"$RES/$name.winners.json"
  invariants_check "$name"
  fleet_stop
  rss_json >"$RES/$name.rss.json"
  counts_check "$name" "$name-skus" "$name-warmup" "$name-stock" "$name"
}

workload_flash() {
  flash_run fl flash warm
  flash_run fc flash_cold cold
}

workload_wide() {
  local c
  for c in $WIDE_COPIES; do
    note "== wide: steady mix with $c order-worker(s) + $c payment-worker(s)"
    start_broker
    new_db "wide$c"
    : >"$TMP/rss"
    fleet_start "$c" "$c"
    stock_setup "wide$c-stock"
    warmup "wide$c"
    steady_run "w$c" "wide$c" "$WIDE_ORDERS"
    wait_quiet "w$c" "wide$c"
    steady_check "w$c" "wide$c"
    invariants_check "wide$c"
    fleet_stop
    rss_json >"$RES/wide$c.rss.json"
    counts_check "wide$c" "wide$c-stock" "wide$c-warmup" "wide$c"
  done
}

# ---- main -------------------------------------------------------------------

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
note "load average at start: $LOAD_START; $(nproc) CPUs; partitions $PARTS; BATCH_MAX $BATCH; $BUILD_NOTE"
case $WORKLOAD in
steady) workload_steady ;;
flash) workload_flash ;;
wide) workload_wide ;;
capacity) workload_capacity ;;
all)
  workload_steady
  workload_flash
  if ((QUICK)); then
    note "quick: wide and capacity skipped (run them with --quick --workload wide|capacity)"
  else
    workload_wide
    workload_capacity
  fi
  ;;
esac
case $WORKLOAD in
steady | flash | all) reference_ceiling 2 ;;
esac
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

pgss_snap end

jq -n --arg quick "$QUICK" --arg workload "$WORKLOAD" --arg ls "$LOAD_START" --arg le "$LOAD_END" \
  --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" --argjson nproc "$(nproc)" \
  --arg mem "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)" \
  --arg kernel "$(uname -r)" --arg pg "$PG_NOTE" --argjson pgset "$PG_SETTINGS" \
  --argjson parts "$PARTS" --argjson batch "$BATCH" --argjson flash_copies "$FLASH_COPIES" \
  --arg build "$BUILD_NOTE" --arg cmd "$CMDLINE" \
  --arg broker "$BROKER" --arg bname "$BROKER_NAME" --arg bver "$BROKER_VERSION" \
  --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg commit "$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  '{date: $date, commit: $commit, command: $cmd, quick: ($quick == "1"), workload: $workload,
    machine: {nproc: $nproc, cpu: $cpu, memory: $mem, kernel: $kernel,
              load_start: $ls, load_end: $le},
    setup: {postgresql: $pg, settings: $pgset, partitions: $parts, batch_max: $batch,
            flash_order_workers: $flash_copies, build: $build,
            broker: {kind: $broker, name: $bname, version: $bver}}}' >"$RES/meta.json"

OUT=$TMP/latest.json
python3 "$BENCH_DIR/report.py" "$RES" "$OUT" "${FAILS[@]}"
if ((SAVE)); then
  mkdir -p "$BENCH_DIR/results"
  sfx=''
  [[ $BROKER == dev ]] || sfx=-$BROKER # latest-kafka.json beside the dev broker's latest.json
  if ((PGSS || PERF)); then
    cp "$OUT" "$BENCH_DIR/results/profile$sfx.json" # a profile run is no measurement
  elif ((QUICK)); then
    cp "$OUT" "$BENCH_DIR/results/quick$sfx.json"
  else
    cp "$OUT" "$BENCH_DIR/results/latest$sfx.json"
  fi
  for f in "$RES"/pgss-*.tsv "$RES"/perf-*.txt; do if [[ -f $f ]]; then cp "$f" "$BENCH_DIR/results/"; fi; done
fi
if ((${#FAILS[@]})); then
  note "FAILED: ${#FAILS[@]} wrong result(s)"
  exit 1
fi
note "all results correct ($((SECONDS - T0)) s)"
