#!/usr/bin/env bash
# demo.sh: the stockflow fleet on a local stack, end to end.
#
# On a fresh Debian 12 machine as root (or a machine with the packages):
#   1. installs the Debian packages it needs (scripts/install-deps.sh: quick
#      and offline when they are all present)
#   2. builds (meson setup build, once; ninja -C build)
#   3. starts a throwaway PostgreSQL cluster in .stack/pg (a fresh
#      `stockflow_demo` database each run) and the development broker (in
#      memory), or with --kafka Apache Kafka (deploy/kafka/, a fresh log
#      folder in .stack/kafka, its topics created by `stockctl topics apply`)
#   4. migrates, starts one stock-worker and two order-workers
#   5. feeds a demo stream: stock receipts for five SKUs, a flash sale with
#      more orders than units, ordinary orders, cancellations, a dozen
#      duplicate events and a few malformed ones
#   6. waits until every event is consumed, prints a summary (orders by
#      state, stock per SKU, dead letters with their reasons, invariants)
#   7. stops everything it started (also on failure or Ctrl-C)
#
# Options: --keep   leave the stack running at the end (prints how to stop it)
#          --kafka  run on Apache Kafka instead of the development broker
# Environment: STOCKFLOW_BUILD (build folder, default build/), STOCKFLOW_STACK
# (default .stack/). A cluster already running in .stack/pg is reused (the
# demo works in its own database, stockflow_demo) and left running.
# Logs: .stack/logs/. Exit status 0 when the demo ran and the invariants hold.
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${STOCKFLOW_BUILD:-$ROOT/build}
STACK=${STOCKFLOW_STACK:-$ROOT/.stack}
DEMO_DB=stockflow_demo
LOGS=$STACK/logs
PG_BINDIR=/usr/lib/postgresql/15/bin
KEEP=0
BROKER_KIND=dev
for arg in "$@"; do
  case $arg in
  --keep) KEEP=1 ;;
  --kafka) BROKER_KIND=kafka ;;
  -h | --help)
    sed -n '2,26s/^# \{0,1\}//p' "$0"
    exit 0
    ;;
  *)
    echo "demo.sh: unknown option '$arg' (try --help)" >&2
    exit 2
    ;;
  esac
done

T0=$SECONDS
WORKER_PIDS=()
declare -A WORKER_NAME=()
BROKER_PID=''
KAFKA_DIR=''
PGDIR=''
PG_WAS_RUNNING=0
KAFKA_BROKERS=${KAFKA_BROKERS:-}
DATABASE_URL=${DATABASE_URL:-}

if [[ -t 1 ]]; then B=$'\033[1m' N=$'\033[0m'; else B='' N=''; fi
say() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
info() { printf '   %s\n' "$*"; }
die() {
  printf 'demo.sh: %s\n' "$*" >&2
  exit 1
}

alive() {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $st != Z* ]]
}

# stop_pid PID NAME [signalled]: SIGTERM (one only: a second may mean "stop
# now"; none with "signalled"), up to 20 s, then SIGKILL; prints the outcome.
stop_pid() {
  local pid=$1 name=$2 deadline=$((SECONDS + 20)) rc=0
  [[ ${3:-} == signalled ]] || kill -TERM "$pid" 2>/dev/null || true
  while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  if alive "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    info "$name did not stop within 20 s: killed"
  fi
  wait "$pid" 2>/dev/null || rc=$?
  info "$name stopped (exit $rc)"
}

stop_pg() {
  [[ -n $PGDIR && -f $PGDIR/data/postmaster.pid ]] || return 0
  if ((PG_WAS_RUNNING)); then
    info "PostgreSQL in $PGDIR was running before the demo: left running"
    return 0
  fi
  # pg-local.sh stop takes a lock file; if the server itself holds it (an
  # inherited descriptor), waiting would never end: stop it with pg_ctl.
  if flock -n "$PGDIR/.pg-local.lock" true 2>/dev/null; then
    timeout 60 deploy/pg-local.sh stop "$PGDIR" >/dev/null 2>&1 || true
  fi
  if [[ -f $PGDIR/data/postmaster.pid ]]; then
    runuser -u postgres -- "$PG_BINDIR/pg_ctl" stop -D "$PGDIR/data" -m fast -w -t 30 -s >/dev/null 2>&1 ||
      "$PG_BINDIR/pg_ctl" stop -D "$PGDIR/data" -m fast -w -t 30 -s >/dev/null 2>&1 || true
  fi
  info "PostgreSQL stopped"
}

cleanup() {
  local rc=$? pid f
  set +e
  trap - EXIT INT TERM
  trap '' PIPE # output may be gone (demo.sh | head): still stop everything
  if ((rc != 0)); then
    for f in "$LOGS"/*.log; do
      [[ -s $f ]] || continue
      printf '\n--- last lines of %s ---\n' "${f#"$ROOT"/}" >&2
      tail -n 8 "$f" | cut -c1-300 >&2
    done
  fi
  if ((KEEP && rc == 0)); then
    say "stack left running (--keep)"
    operator_help
    if [[ -n $KAFKA_DIR ]]; then
      info "stop it: kill ${WORKER_PIDS[*]}; deploy/kafka/kafka-local.sh stop $KAFKA_DIR; deploy/pg-local.sh stop $PGDIR"
    else
      info "stop it: kill ${WORKER_PIDS[*]} $BROKER_PID; deploy/pg-local.sh stop $PGDIR"
    fi
    exit 0
  fi
  say "stopping"
  for pid in "${WORKER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${WORKER_PIDS[@]}"; do stop_pid "$pid" "${WORKER_NAME[$pid]}" signalled; done
  [[ -z $BROKER_PID ]] || stop_pid "$BROKER_PID" "stockflow-devbroker"
  if [[ -n $KAFKA_DIR ]]; then
    deploy/kafka/kafka-local.sh stop "$KAFKA_DIR" && info "Apache Kafka stopped"
  fi
  stop_pg
  if ((rc == 0)); then
    say "demo done in $((SECONDS - T0)) s (logs in ${LOGS#"$ROOT"/})"
  else
    printf '\ndemo.sh: FAILED (exit %d); logs in %s\n' "$rc" "$LOGS" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- 1. packages -----------------------------------------------------------
say "packages"
# quick and offline when everything is installed already
scripts/install-deps.sh | sed 's/^/   /'

# ---- 2. build --------------------------------------------------------------
say "build"
mkdir -p "$LOGS"
rm -f -- "$LOGS"/*.log # this run's logs only
if [[ ! -f $BUILD/build.ninja ]]; then
  meson setup "$BUILD" >"$LOGS/meson-setup.log" 2>&1 || {
    tail -n 20 "$LOGS/meson-setup.log" >&2
    die "meson setup failed"
  }
fi
ninja -C "$BUILD" >"$LOGS/ninja.log" 2>&1 || {
  tail -n 30 "$LOGS/ninja.log" >&2
  die "build failed"
}
info "built in ${BUILD#"$ROOT"/} ($(tail -n 1 "$LOGS/ninja.log" | cut -c1-60))"
ORDER_WORKER=$BUILD/workers/order/order-worker
STOCK_WORKER=$BUILD/workers/stock/stock-worker
STOCKCTL=$BUILD/stockctl/stockctl
DEVBROKER=$BUILD/deploy/devbroker/stockflow-devbroker

# ---- 3. local stack ----------------------------------------------------------
say "local stack"
PGDIR=$STACK/pg
if [[ $EUID -eq 0 ]] && ! runuser -u postgres -- test -x "$STACK" 2>/dev/null; then
  # PostgreSQL runs as the postgres user, which cannot reach this checkout
  PGDIR=/tmp/stockflow-demo-pg
  info "the postgres user cannot reach $STACK: cluster in $PGDIR instead"
fi
deploy/pg-local.sh status "$PGDIR" >/dev/null 2>&1 && PG_WAS_RUNNING=1
PG_LOCAL_FAST=1 deploy/pg-local.sh start "$PGDIR" >"$LOGS/pg-local.log" 2>&1 || {
  cat "$LOGS/pg-local.log" >&2
  die "deploy/pg-local.sh start failed"
}
PG_ADMIN_URL=$(sed -n 's/^PG_ADMIN_URL=//p' "$PGDIR/env")
[[ $PG_ADMIN_URL == */postgres ]] || die "unexpected PG_ADMIN_URL in $PGDIR/env: $PG_ADMIN_URL"
DATABASE_URL=${PG_ADMIN_URL%/postgres}/$DEMO_DB
PGOPTIONS='-c client_min_messages=warning' psql "$PG_ADMIN_URL" -Xq -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $DEMO_DB WITH (FORCE)" \
  -c "CREATE DATABASE $DEMO_DB" >/dev/null
info "PostgreSQL: $DATABASE_URL (fresh database)"

if [[ $BROKER_KIND == kafka ]]; then
  KAFKA_DIR=$STACK/kafka
  deploy/kafka/kafka-local.sh stop "$KAFKA_DIR" >/dev/null 2>&1 || true # a --keep run before
  rm -rf -- "$KAFKA_DIR"
  out=$(deploy/kafka/kafka-local.sh start "$KAFKA_DIR" 2>"$LOGS/kafka-local.log") || {
    cat "$LOGS/kafka-local.log" >&2
    die "deploy/kafka/kafka-local.sh start failed"
  }
  ln -sf "$KAFKA_DIR/kafka.log" "$LOGS/kafka.log"
  KAFKA_BROKERS=${out#KAFKA_BROKERS=}
  export DATABASE_URL KAFKA_BROKERS
  "$STOCKCTL" topics apply --partitions 6 >"$LOGS/topics-apply.log" 2>&1 || {
    cat "$LOGS/topics-apply.log" >&2
    die "stockctl topics apply failed"
  }
  info "Kafka (Apache Kafka $(deploy/kafka/fetch.sh --version), KRaft, log in ${KAFKA_DIR#"$ROOT"/}): $KAFKA_BROKERS"
  info "$(grep -c '^created' "$LOGS/topics-apply.log") topics created by stockctl topics apply"
else
  rm -f "$STACK/bootstrap"
  "$DEVBROKER" --partitions 6 --bootstrap-file "$STACK/bootstrap" </dev/null \
    >"$LOGS/devbroker.out" 2>"$LOGS/devbroker.log" &
  BROKER_PID=$!
  deadline=$((SECONDS + 20))
  until [[ -s $STACK/bootstrap ]]; do
    alive "$BROKER_PID" || die "the development broker exited"
    ((SECONDS < deadline)) || die "the development broker did not come up in 20 s"
    sleep 0.1
  done
  KAFKA_BROKERS=$(<"$STACK/bootstrap")
  export DATABASE_URL KAFKA_BROKERS
  info "Kafka (development broker, in memory): $KAFKA_BROKERS"
fi

# ---- 4. schema and workers -----------------------------------------------------
say "migrate and start the workers"
"$STOCKCTL" migrate >"$LOGS/migrate.log" 2>&1 || {
  cat "$LOGS/migrate.log" >&2
  die "stockctl migrate failed"
}
info "$(tail -n 1 "$LOGS/migrate.log")"

declare -A WORKER_PORT=()
start_worker() { # role name
  local port
  port=$(free_port)
  env HTTP_PORT="$port" RDKAFKA_SESSION_TIMEOUT_MS=6000 RDKAFKA_HEARTBEAT_INTERVAL_MS=500 \
    "$1" </dev/null >"$LOGS/$2.log" 2>&1 &
  WORKER_PIDS+=("$!")
  WORKER_NAME[$!]=$2
  WORKER_PORT[$!]=$port
  info "$2 (pid $!), http://127.0.0.1:$port/metrics /healthz /readyz, log ${LOGS#"$ROOT"/}/$2.log"
}
# how to look at the running stack from another shell
operator_help() {
  info "in another shell:"
  info "  export KAFKA_BROKERS=$KAFKA_BROKERS DATABASE_URL=$DATABASE_URL"
  info "  $STOCKCTL lag                      # per-partition lag, pending and overdue holds"
  info "  $STOCKCTL dlq list inventory.orders.dlq"
  info "  $STOCKCTL alerts --since 1h"
  local pid
  for pid in "${WORKER_PIDS[@]}"; do
    info "  curl -s 127.0.0.1:${WORKER_PORT[$pid]}/readyz   # ${WORKER_NAME[$pid]}"
  done
}
start_worker "$STOCK_WORKER" stock-worker
start_worker "$ORDER_WORKER" order-worker-1
start_worker "$ORDER_WORKER" order-worker-2
# let all three join their groups, so both order-workers share the flash sale
deadline=$((SECONDS + 20))
for pid in "${WORKER_PIDS[@]}"; do
  until grep -qsi 'assign' "$LOGS/${WORKER_NAME[$pid]}.log"; do
    alive "$pid" || die "${WORKER_NAME[$pid]} exited at start"
    ((SECONDS < deadline)) || break 2
    sleep 0.2
  done
done

operator_help

# ---- 5. the demo stream ------------------------------------------------------
say "feed the demo stream"
python3 tests/integration/gen.py demo --out "$STACK/stream"
produce() {
  kcat -P -b "$KAFKA_BROKERS" -t "$1" -K '|' <"$2" 2>>"$LOGS/kcat.log" || die "kcat could not produce to $1"
}
n_stock=$(wc -l <"$STACK/stream/stock.txt")
n_orders=$(wc -l <"$STACK/stream/orders.txt")
produce inventory.stock "$STACK/stream/stock.txt"
info "inventory.stock: $n_stock events (receipts for 5 SKUs, 2 adjustments)"
"$STOCKCTL" lag --wait 60 stockflow-stock >"$LOGS/lag.log" 2>&1 || die "stock-worker did not catch up in 60 s"
produce inventory.orders "$STACK/stream/orders.txt"
info "inventory.orders: $n_orders events (a flash sale of 60 orders for 25 mangosteen-kg,"
info "  40 ordinary orders, 9 cancellations, 12 duplicates, 4 malformed events)"

# ---- 6. wait and summarise ---------------------------------------------------
say "wait until consumed"
t=$SECONDS
"$STOCKCTL" lag --wait 120 >>"$LOGS/lag.log" 2>&1 || {
  "$STOCKCTL" lag >&2 || true
  die "the workers did not catch up within 120 s"
}
info "lag 0 on every partition after $((SECONDS - t)) s"

q() { psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
table() { psql "$DATABASE_URL" -Xq -v ON_ERROR_STOP=1 -P footer=off -c "$1" | sed -e '/^$/d' -e 's/^/   /'; }

say "orders by state"
table "SELECT state, count(*) AS orders FROM order_status GROUP BY state ORDER BY state"
flash=$(q "SELECT count(*) FILTER (WHERE o.state = 'reserved') || ' reserved, ' ||
                  count(*) FILTER (WHERE o.state = 'rejected') || ' rejected'
             FROM order_status o WHERE o.order_id LIKE 'flash-%'")
info "flash sale: 60 orders for 25 mangosteen-kg -> $flash"

say "stock per SKU (stock_levels)"
table "SELECT sku, on_hand, reserved, safety_stock, available, status FROM stock_levels ORDER BY sku"

say "dead letters"
n_dlq=0
for topic in inventory.stock.dlq inventory.orders.dlq; do
  recs=$(kcat -C -b "$KAFKA_BROKERS" -t "$topic" -o beginning -e -q -J 2>>"$LOGS/kcat.log" |
    jq -r '(.headers // []) as $h
           | ([range(0; $h | length; 2) | {($h[.]): $h[. + 1]}] | add // {}) as $m
           | "\($m["x-original-topic"] // "?")[\($m["x-original-partition"] // "?")]@\($m["x-original-offset"] // "?")\tkey=\(.key // "")\t\($m["x-error-class"] // "?"): \($m["x-error"] // "?" | .[0:110])"')
  [[ -n $recs ]] || continue
  info "$topic:"
  while IFS=$'\t' read -r where key why; do
    printf '     %-24s %-16s %s\n' "$where" "$key" "$why"
    n_dlq=$((n_dlq + 1))
  done <<<"$recs"
done
((n_dlq > 0)) || info "(none)"

say "events"
applied=$(q "SELECT count(*) FROM processed_events WHERE outcome = 'applied'")
ignored=$(q "SELECT count(*) FROM processed_events WHERE outcome = 'ignored'")
total=$((n_stock + n_orders))
info "$total produced: $applied applied, $ignored ignored (recorded, changed nothing),"
info "$n_dlq dead letters, $((total - applied - ignored - n_dlq)) duplicates skipped (same event_id)"

say "invariants (DESIGN §5.1, §5.2)"
violations=$(q "SELECT sku || ': ' || problem FROM invariant_violations ORDER BY sku")
if [[ -z $violations ]]; then
  info "hold: 0 <= reserved <= on_hand, on_hand = received + adjustments - committed, reserved = held orders"
else
  printf '%s\n' "$violations" | sed 's/^/   VIOLATED /'
  die "invariants violated"
fi
