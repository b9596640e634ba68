#!/usr/bin/env bash
# demo.sh: the stockflow fleet on a local stack, the whole lifecycle end to end.
#
# On a fresh Debian 12 machine as root (or a machine with the packages):
#   1. installs the Debian packages it needs (scripts/install-deps.sh: quick
#      and offline when they are all present)
#   2. builds (meson setup build, once; ninja -C build)
#   3. starts a throwaway PostgreSQL cluster in .stack/pg (a fresh
#      `stockflow_demo` database each run) and the development broker (in
#      memory), or with --kafka Apache Kafka (deploy/kafka/, a fresh log
#      folder in .stack/kafka, its topics created by `stockctl topics apply`)
#   4. migrates, starts a local webhook (webhook-sink, built with the tests)
#      and every worker: stock, two order, payment, timeout and alert (which
#      POSTs every alert to the webhook); holds last RESERVATION_HOLD_SECONDS=15
#      here (the default is 900), so unpaid orders expire during the demo
#   5. feeds the lifecycle, event times relative to now, waiting after each
#      step until it is consumed: unit costs and receipts for six SKUs (one
#      received six weeks ago, one best before in two days), a flash sale of
#      60 orders for 25 mangosteen-kg, ordinary orders, cancellations, a dozen
#      duplicates, malformed events; then a promotion that fits, a loss below
#      the holds, a low-stock threshold (stockctl sku set), payments (20 of
#      the flash sale's winners pay, one payment fails, 4 never pay); then
#      promo orders and a promotion that does not fit; waits until the 4
#      unpaid holds expire; runs the deadstock radar (stockctl deadstock
#      --alert)
#   6. prints a summary: the flash sale step by step (held, deducted,
#      released), orders by state, stock per SKU, promotions, the radar's
#      table, every alert as the webhook received it, dead letters with their
#      reasons, event counts, the invariants, and a check of every expected
#      outcome
#   7. stops everything it started (also on failure or Ctrl-C)
#
# Options: --keep   leave the stack running at the end (prints how to stop it;
#                   starts `stockctl dashboard` on 127.0.0.1:8080 when this
#                   stockctl has it); the next run stops what it left
#          --kafka  run on Apache Kafka instead of the development broker
# Environment: STOCKFLOW_BUILD (build folder, default build/), STOCKFLOW_STACK
# (default .stack/). A cluster already running in .stack/pg is reused (the
# demo works in its own database, stockflow_demo) and left running.
# Logs: .stack/logs/ (the webhook's requests: .stack/logs/webhook-requests.jsonl).
# Exit status 0 only when the invariants hold and every expected outcome
# happened (the last section lists them).
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
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
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
HOLD=15 # RESERVATION_HOLD_SECONDS of the demo's workers (default 900)
SINK_PID=''
SINK_REQ=$LOGS/webhook-requests.jsonl
DASH_PID=''
DASH_ADDR=127.0.0.1:8080
KEPT=$STACK/demo-kept.pids # what a --keep run left running: "pid executable" lines

if [[ -t 1 ]]; then B=$'\033[1m' N=$'\033[0m'; else B='' N=''; fi
say() { printf '\n%s== %s%s   [%d s]\n' "$B" "$*" "$N" $((SECONDS - T0)); }
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
    [[ -z $DASH_PID ]] || info "dashboard: http://$DASH_ADDR/ (stockctl dashboard, pid $DASH_PID, log ${LOGS#"$ROOT"/}/dashboard.log)"
    local kept=("${WORKER_PIDS[@]}" "$SINK_PID")
    [[ -z $DASH_PID ]] || kept+=("$DASH_PID")
    [[ -z $BROKER_PID ]] || kept+=("$BROKER_PID")
    {
      for pid in "${kept[@]}"; do
        printf '%s %s\n' "$pid" "$(readlink "/proc/$pid/exe" 2>/dev/null)"
      done
      # the next run stops a cluster this run started
      ((PG_WAS_RUNNING)) || printf 'pg %s\n' "$PGDIR"
    } >"$KEPT"
    if [[ -n $KAFKA_DIR ]]; then
      info "stop it: kill ${kept[*]}; deploy/kafka/kafka-local.sh stop $KAFKA_DIR; deploy/pg-local.sh stop $PGDIR"
    else
      info "stop it: kill ${kept[*]}; deploy/pg-local.sh stop $PGDIR"
    fi
    info "(or run the demo again: it stops what this run left, and reuses the cluster)"
    exit 0
  fi
  say "stopping"
  [[ -z $DASH_PID ]] || stop_pid "$DASH_PID" "stockctl dashboard"
  for pid in "${WORKER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${WORKER_PIDS[@]}"; do stop_pid "$pid" "${WORKER_NAME[$pid]}" signalled; done
  [[ -z $SINK_PID ]] || stop_pid "$SINK_PID" "webhook-sink"
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
PAYMENT_WORKER=$BUILD/workers/payment/payment-worker
TIMEOUT_WORKER=$BUILD/workers/timeout/timeout-worker
ALERT_WORKER=$BUILD/workers/alert/alert-worker
WEBHOOK_SINK=$BUILD/tests/tools/webhook-sink

# ---- 3. local stack ----------------------------------------------------------
say "local stack"
# what a --keep run left running (only processes still running that binary)
PG_KEPT=''
if [[ -s $KEPT ]]; then
  while read -r pid exe; do
    [[ $pid != pg ]] || {
      PG_KEPT=$exe
      continue
    }
    [[ -n $exe && $(readlink "/proc/$pid/exe" 2>/dev/null) == "$exe" ]] || continue
    kill -TERM "$pid" 2>/dev/null || continue
    deadline=$((SECONDS + 20))
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    ! alive "$pid" || kill -KILL "$pid" 2>/dev/null || true
    info "stopped $(basename "$exe") (pid $pid), left running by a --keep run"
  done <"$KEPT"
  rm -f -- "$KEPT"
fi
PGDIR=$STACK/pg
if [[ $EUID -eq 0 ]] && ! runuser -u postgres -- test -x "$STACK" 2>/dev/null; then
  # PostgreSQL runs as the postgres user, which cannot reach this checkout
  PGDIR=/tmp/stockflow-demo-pg
  info "the postgres user cannot reach $STACK: cluster in $PGDIR instead"
fi
# a cluster a --keep run started is this run's to stop
if [[ $PG_KEPT != "$PGDIR" ]] && deploy/pg-local.sh status "$PGDIR" >/dev/null 2>&1; then
  PG_WAS_RUNNING=1
fi
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

# ---- 4. schema, webhook and workers ------------------------------------------
say "migrate, start the webhook and the workers"
"$STOCKCTL" migrate >"$LOGS/migrate.log" 2>&1 || {
  cat "$LOGS/migrate.log" >&2
  die "stockctl migrate failed"
}
info "$(tail -n 1 "$LOGS/migrate.log")"

rm -f -- "$SINK_REQ" "$STACK/webhook.port"
"$WEBHOOK_SINK" --log "$SINK_REQ" --port-file "$STACK/webhook.port" </dev/null >"$LOGS/webhook-sink.log" 2>&1 &
SINK_PID=$!
deadline=$((SECONDS + 10))
until [[ -s $STACK/webhook.port ]]; do
  alive "$SINK_PID" || die "webhook-sink exited: $(tail -n 2 "$LOGS/webhook-sink.log")"
  ((SECONDS < deadline)) || die "webhook-sink did not listen within 10 s"
  sleep 0.1
done
WEBHOOK_URL=http://127.0.0.1:$(<"$STACK/webhook.port")/alerts
info "webhook-sink (pid $SINK_PID): $WEBHOOK_URL, one JSON line per request in ${SINK_REQ#"$ROOT"/}"

declare -A WORKER_PORT=()
start_worker() { # binary name [VAR=value...]
  local bin=$1 name=$2 port
  shift 2
  port=$(free_port)
  env HTTP_PORT="$port" RESERVATION_HOLD_SECONDS="$HOLD" RDKAFKA_SESSION_TIMEOUT_MS=6000 \
    RDKAFKA_HEARTBEAT_INTERVAL_MS=500 "$@" "$bin" </dev/null >"$LOGS/$name.log" 2>&1 &
  WORKER_PIDS+=("$!")
  WORKER_NAME[$!]=$name
  WORKER_PORT[$!]=$port
  info "$name (pid $!), http://127.0.0.1:$port/metrics /healthz /readyz, log ${LOGS#"$ROOT"/}/$name.log"
}
# how to look at the running stack from another shell
operator_help() {
  info "in another shell:"
  info "  export KAFKA_BROKERS=$KAFKA_BROKERS DATABASE_URL=$DATABASE_URL"
  info "  $STOCKCTL lag                      # per-partition lag, pending and overdue holds"
  info "  $STOCKCTL dlq list inventory.orders.dlq"
  info "  $STOCKCTL alerts --since 1h"
  info "  $STOCKCTL deadstock"
  info "  jq -c '.body | fromjson' $SINK_REQ   # what the webhook received"
  local pid
  for pid in "${WORKER_PIDS[@]}"; do
    info "  curl -s 127.0.0.1:${WORKER_PORT[$pid]}/readyz   # ${WORKER_NAME[$pid]}"
  done
}
info "holds last RESERVATION_HOLD_SECONDS=$HOLD s in this demo (default 900): unpaid orders expire soon"
start_worker "$STOCK_WORKER" stock-worker
start_worker "$ORDER_WORKER" order-worker-1
start_worker "$ORDER_WORKER" order-worker-2
start_worker "$PAYMENT_WORKER" payment-worker
start_worker "$TIMEOUT_WORKER" timeout-worker
start_worker "$ALERT_WORKER" alert-worker ALERT_WEBHOOK_URL="$WEBHOOK_URL"
# let them join their groups (/readyz: partitions assigned), so both
# order-workers share the flash sale
deadline=$((SECONDS + 20))
for pid in "${WORKER_PIDS[@]}"; do
  until curl -fs -o /dev/null "http://127.0.0.1:${WORKER_PORT[$pid]}/readyz"; do
    alive "$pid" || die "${WORKER_NAME[$pid]} exited at start"
    ((SECONDS < deadline)) || break 2
    sleep 0.2
  done
done

operator_help

# start_dashboard: `stockctl dashboard` on $DASH_ADDR when this stockctl has
# the command (--keep); says nothing when it has not.
start_dashboard() {
  "$STOCKCTL" dashboard --help >/dev/null 2>&1 || return 0
  "$STOCKCTL" dashboard --listen "$DASH_ADDR" </dev/null >"$LOGS/dashboard.log" 2>&1 &
  DASH_PID=$!
  local deadline=$((SECONDS + 15))
  until curl -fsS -o /dev/null "http://$DASH_ADDR/" 2>/dev/null; do
    if ! alive "$DASH_PID" || ((SECONDS >= deadline)); then
      info "stockctl dashboard did not come up on $DASH_ADDR: $(tail -n 1 "$LOGS/dashboard.log")"
      stop_pid "$DASH_PID" "stockctl dashboard"
      DASH_PID=''
      return 0
    fi
    sleep 0.2
  done
}

# ---- 5. the lifecycle --------------------------------------------------------
q() { psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
table() { psql "$DATABASE_URL" -Xq -v ON_ERROR_STOP=1 -P footer=off -c "$1" | sed -e '/^$/d' -e 's/^/   /'; }
produce() { # TOPIC FILE
  kcat -P -b "$KAFKA_BROKERS" -t "$1" -K '|' <"$2" 2>>"$LOGS/kcat.log" || die "kcat could not produce to $1"
}
caught_up() { # [GROUP]: until every partition is consumed
  "$STOCKCTL" lag --wait 120 "$@" >>"$LOGS/lag.log" 2>&1 || {
    "$STOCKCTL" lag >&2 || true
    die "the workers did not catch up within 120 s"
  }
}
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
# sku_line SKU: on_hand, reserved, available and status, for the story
sku_line() {
  q "SELECT format('on_hand %s, reserved %s, available %s, %s', on_hand, reserved, available, status)
       FROM stock_levels WHERE sku = '$1'"
}
FLASH_SKU=mangosteen-kg

say "feed the lifecycle (event times relative to now)"
NOW=$(date +%s)
python3 tests/integration/gen.py demo --out "$STACK/stream" --now "$NOW"
n_stock=$(wc -l <"$STACK/stream/stock.txt")
n_orders=$(wc -l <"$STACK/stream/orders.txt")
produce inventory.stock "$STACK/stream/stock.txt"
info "1. inventory.stock: $n_stock events: unit costs, receipts for 6 SKUs (dragonfruit-box six weeks"
info "   ago, durian-kg best before in two days), $FLASH_SKU hidden below 1, 2 adjustments"
caught_up stockflow-stock
# the orders again, their event times from now: the flash sale's holds
# start as it is produced (their expiry must come after the payments)
NOW=$(date +%s)
python3 tests/integration/gen.py demo --out "$STACK/stream" --now "$NOW"
produce inventory.orders "$STACK/stream/orders.txt"
info "2. inventory.orders: $n_orders events: a flash sale of 60 orders for 25 $FLASH_SKU (default hold),"
info "   40 ordinary orders (an hour's hold), 9 cancellations, 12 duplicates, 4 malformed events"
caught_up
FLASH_AFTER_SALE=$(sku_line "$FLASH_SKU")

# 3. marketing, the warehouse, an operator and the payment service
later=$(iso $((NOW + 2 * 86400)))
printf 'P-MANGO-WEEKEND|{"event_id":"promo-1","type":"promotion.allocated","occurred_at":"%s","promo_id":"P-MANGO-WEEKEND","sku":"mango-box","qty":40,"ends_at":"%s"}\n' \
  "$(iso "$NOW")" "$later" >"$STACK/stream/promotions.txt"
produce inventory.promotions "$STACK/stream/promotions.txt"
# a cold-store failure: 5 units fewer than the orders hold
loss=$(q "SELECT on_hand - reserved + 5 FROM stock WHERE sku = 'lychee-box'")
printf 'lychee-box|{"event_id":"adj-lychee-1","type":"stock.adjusted","occurred_at":"%s","sku":"lychee-box","delta":-%d,"reason":"cold-store failure"}\n' \
  "$(iso "$NOW")" "$loss" >"$STACK/stream/loss.txt"
produce inventory.stock "$STACK/stream/loss.txt"
"$STOCKCTL" sku set rambutan-box --low-stock-threshold 60 >"$LOGS/sku-set.log" 2>&1 ||
  die "stockctl sku set failed: $(tail -n 1 "$LOGS/sku-set.log")"
# 20 of the flash sale's winners pay, one payment fails, 4 never pay; 10
# ordinary orders pay
mapfile -t winners < <(q "SELECT order_id FROM orders WHERE order_id LIKE 'flash-%' AND state = 'reserved' ORDER BY order_id")
mapfile -t regular < <(q "SELECT order_id FROM orders WHERE order_id LIKE 'ord-%' AND state = 'reserved' ORDER BY order_id LIMIT 10")
paid_at=$(iso "$(date +%s)")
{
  for oid in "${winners[@]:0:20}" "${regular[@]}"; do
    printf '%s|{"event_id":"pay-%s","type":"payment.succeeded","occurred_at":"%s","order_id":"%s","amount":19.9,"currency":"EUR"}\n' \
      "$oid" "$oid" "$paid_at" "$oid"
  done
  if ((${#winners[@]} > 20)); then
    printf '%s|{"event_id":"payfail-%s","type":"payment.failed","occurred_at":"%s","order_id":"%s","reason":"card declined"}\n' \
      "${winners[20]}" "${winners[20]}" "$paid_at" "${winners[20]}"
  fi
} >"$STACK/stream/payments.txt"
produce inventory.payments "$STACK/stream/payments.txt"
n_payments=$(wc -l <"$STACK/stream/payments.txt")
info "3. inventory.promotions: P-MANGO-WEEKEND earmarks 40 mango-box; inventory.stock: a cold-store"
info "   failure loses $loss lychee-box (5 more than the holds leave); stockctl sku set rambutan-box"
info "   --low-stock-threshold 60; inventory.payments: $n_payments events (20 flash-sale winners and 10"
info "   ordinary orders pay, ${winners[20]:-?}'s card is declined, $((${#winners[@]} - 21)) never pay)"
caught_up
FLASH_AFTER_PAY=$(sku_line "$FLASH_SKU")

# 4. promo orders draw from the earmark; a second promotion does not fit
{
  for i in 1 2 3; do
    printf 'promo-ord-%d|{"event_id":"ev-promo-ord-%d","type":"order.created","occurred_at":"%s","order_id":"promo-ord-%d","lines":[{"sku":"mango-box","qty":2}],"hold_seconds":3600,"promo_id":"P-MANGO-WEEKEND"}\n' \
      "$i" "$i" "$(iso "$NOW")" "$i"
  done
} >"$STACK/stream/promo-orders.txt"
produce inventory.orders "$STACK/stream/promo-orders.txt"
printf 'P-MANGO-MEGA|{"event_id":"promo-2","type":"promotion.allocated","occurred_at":"%s","promo_id":"P-MANGO-MEGA","sku":"mango-box","qty":60,"ends_at":"%s"}\n' \
  "$(iso "$NOW")" "$later" >"$STACK/stream/promotions-2.txt"
produce inventory.promotions "$STACK/stream/promotions-2.txt"
info "4. inventory.orders: 3 orders of 2 mango-box for P-MANGO-WEEKEND; inventory.promotions:"
info "   P-MANGO-MEGA asks 60 mango-box (more than is left)"
caught_up

say "wait for the unpaid holds to expire"
expired() { q "SELECT count(*) FROM orders WHERE order_id LIKE 'flash-%' AND state = 'expired'"; }
t=$SECONDS
deadline=$((SECONDS + HOLD + 60))
until (($(expired) >= ${#winners[@]} - 21)) || ((SECONDS >= deadline)); do sleep 0.5; done
info "$(expired) flash-sale hold(s) expired $((SECONDS - t)) s later (hold $HOLD s from occurred_at)"
FLASH_AFTER_EXPIRY=$(sku_line "$FLASH_SKU")
caught_up

# 5. the deadstock radar, on demand (the timeout-worker runs it daily)
"$STOCKCTL" deadstock --alert >"$LOGS/deadstock.txt" 2>"$LOGS/deadstock.err" ||
  die "stockctl deadstock --alert failed: $(tail -n 1 "$LOGS/deadstock.err")"
"$STOCKCTL" deadstock --json >"$LOGS/deadstock.json" 2>>"$LOGS/deadstock.err" ||
  die "stockctl deadstock --json failed: $(tail -n 1 "$LOGS/deadstock.err")"

# every alert reaches the webhook: the outbox's and one per dead letter
dlq_records() { # TOPIC: one line per dead letter: where, key, reason
  kcat -C -b "$KAFKA_BROKERS" -t "$1" -o beginning -e -q -J 2>>"$LOGS/kcat.log" |
    jq -r '(.headers // []) as $h
           | ([range(0; $h | length; 2) | {($h[.]): $h[. + 1]}] | add // {}) as $m
           | "\($m["x-original-topic"] // "?")[\($m["x-original-partition"] // "?")]@\($m["x-original-offset"] // "?")\tkey=\(.key // "")\t\($m["x-error-class"] // "?"): \($m["x-error"] // "?" | .[0:110])"'
}
: >"$STACK/dlq.txt"
for topic in inventory.stock.dlq inventory.orders.dlq inventory.payments.dlq inventory.promotions.dlq; do
  dlq_records "$topic" | sed "s/^/$topic\t/" >>"$STACK/dlq.txt"
done
n_dlq=$(wc -l <"$STACK/dlq.txt")
n_alerts=$(q "SELECT count(*) FROM outbox WHERE topic = 'inventory.alerts'")
want=$((n_alerts + n_dlq))
received() { jq -r '.idempotency_key' "$SINK_REQ" 2>/dev/null | sort -u | wc -l; }
deadline=$((SECONDS + 60))
until (($(received) >= want)) || ((SECONDS >= deadline)); do sleep 0.5; done

# ---- 6. summary --------------------------------------------------------------
say "flash sale: 60 orders for 25 $FLASH_SKU"
flash() { q "SELECT count(*) FROM orders WHERE order_id LIKE 'flash-%' AND state = '$1'"; }
n_rejected=$(flash rejected)
info "$((60 - n_rejected)) got a hold, $n_rejected rejected (two order-workers, no oversell)"
info "after the sale:      $FLASH_AFTER_SALE   (hidden: none left to sell)"
info "after the payments:  $FLASH_AFTER_PAY   ($(flash committed) paid: held -> deducted; 1 declined: released)"
info "after the expiry:    $FLASH_AFTER_EXPIRY   ($(flash expired) unpaid holds released after $HOLD s)"

say "orders by state"
table "SELECT state, count(*) AS orders,
              count(*) FILTER (WHERE order_id LIKE 'flash-%') AS flash_sale,
              count(*) FILTER (WHERE order_id NOT LIKE 'flash-%') AS other
         FROM order_status GROUP BY state ORDER BY state"

say "stock per SKU (stock_levels; earmarked: held back for promotions)"
table "SELECT l.sku, l.on_hand, l.reserved, s.earmarked, l.available, l.status
         FROM stock_levels l JOIN stock s USING (sku) ORDER BY l.sku"

say "promotions"
table "SELECT promo_id, sku, state, requested, allocated, sold, earmarked FROM promotions ORDER BY promo_id"

say "deadstock radar (stockctl deadstock; --alert raised its alerts)"
sed -e '/^$/d' -e 's/^/   /' "$LOGS/deadstock.txt"

say "alerts as the webhook received them ($(received) of $want)"
jq -r '(.body | fromjson) as $b
       | [.seq, .status, $b.kind, ($b.summary // "" | .[0:100])] | @tsv' "$SINK_REQ" 2>/dev/null |
  sort -t $'\t' -k3,3 -k1,1n | awk -F '\t' '{ printf "   #%-3s %s  %-18s %s\n", $1, $2, $3, $4 }'

say "dead letters"
if ((n_dlq > 0)); then
  while IFS=$'\t' read -r topic where key why; do
    printf '   %-22s %-24s %-16s %s\n' "$topic" "$where" "$key" "$why"
  done <"$STACK/dlq.txt"
else
  info "(none)"
fi

say "events"
applied=$(q "SELECT count(*) FROM processed_events WHERE outcome = 'applied'")
ignored=$(q "SELECT count(*) FROM processed_events WHERE outcome = 'ignored'")
total=$((n_stock + n_orders + 1)) # and the sku.configured of stockctl sku set
for f in promotions loss payments promo-orders promotions-2; do
  total=$((total + $(wc -l <"$STACK/stream/$f.txt")))
done
n_dup=$((total - applied - ignored - n_dlq))
info "$total produced: $applied applied, $ignored ignored (recorded, changed nothing),"
info "$n_dlq dead letters, $n_dup duplicates skipped (same event_id)"

say "invariants (DESIGN §5.1, §5.2)"
violations=$(q "SELECT sku || ': ' || problem FROM invariant_violations ORDER BY sku")
if [[ -z $violations ]]; then
  info "hold: 0 <= reserved <= on_hand (unless oversold), on_hand = received + adjustments - committed,"
  info "reserved = held orders, earmarked = the active promotions' unsold units"
else
  printf '%s\n' "$violations" | sed 's/^/   VIOLATED /'
fi

say "expected outcomes"
MISSED=0
expect() { # WHAT EXPECTED ACTUAL
  if [[ $2 == "$3" ]]; then
    printf '   ok      %s\n' "$1"
  else
    printf '   MISSED  %s: expected %s, got %s\n' "$1" "$2" "$3"
    MISSED=$((MISSED + 1))
  fi
}
# got KIND SUBJECT: 1 when the webhook received an alert of KIND about SUBJECT
got() {
  jq -r --arg k "$1" --arg s "$2" '.body | fromjson | select(.kind == $k)
    | select(([.details // {} | .. | strings] | index($s)) != null or ((.summary // "") | contains($s)))
    | .alert_id' "$SINK_REQ" 2>/dev/null | sort -u | wc -l | awk '{ print ($1 > 0) }'
}
expect "flash sale: 25 held, 35 rejected" "25|35" "$((60 - n_rejected))|$n_rejected"
expect "flash sale: 20 committed, 1 payment_failed, 4 expired" "20|1|4" \
  "$(flash committed)|$(flash payment_failed)|$(flash expired)"
expect "$FLASH_SKU at the end: on_hand 5, reserved 0, available 5" "5|0|5" \
  "$(q "SELECT concat_ws('|', on_hand, reserved, available) FROM stock_levels WHERE sku = '$FLASH_SKU'")"
expect "10 ordinary orders committed" 10 "$(q "SELECT count(*) FROM orders WHERE order_id LIKE 'ord-%' AND state = 'committed'")"
expect "P-MANGO-WEEKEND active, 40 allocated, 6 sold" "active|40|6" \
  "$(q "SELECT concat_ws('|', state, allocated, sold) FROM promotions WHERE promo_id = 'P-MANGO-WEEKEND'")"
expect "P-MANGO-MEGA blocked" blocked "$(q "SELECT state FROM promotions WHERE promo_id = 'P-MANGO-MEGA'")"
expect "statuses: lychee-box oversold, rambutan-box low" "oversold|low" \
  "$(q "SELECT string_agg(status, '|' ORDER BY sku) FROM stock_levels WHERE sku IN ('lychee-box', 'rambutan-box')")"
expect "radar: dragonfruit-box (aged, bundle), durian-kg (expiring, donate)" \
  "dragonfruit-box|aged,slow|bundle durian-kg|expiring|donate" \
  "$(jq -r '"\(.sku)|\(.reasons | join(","))|\(.action)"' "$LOGS/deadstock.json" | sort | paste -sd ' ')"
for a in "hidden $FLASH_SKU" "back_in_stock $FLASH_SKU" "low_stock rambutan-box" "oversold lychee-box" \
  "promotion_conflict P-MANGO-MEGA" "deadstock dragonfruit-box" "deadstock durian-kg"; do
  expect "webhook: ${a/ / alert for }" 1 "$(got ${a})"
done
expect "webhook: every alert (outbox and dead letters)" "$want" "$(received)"
expect "dead letters: 1 stock, 4 orders" "1|4" \
  "$(grep -c '^inventory.stock.dlq' "$STACK/dlq.txt")|$(grep -c '^inventory.orders.dlq' "$STACK/dlq.txt")"
expect "duplicates skipped" 12 "$n_dup"
expect "invariants hold" "" "$violations"
((MISSED == 0)) || die "$MISSED expected outcome(s) did not happen"

if ((KEEP)); then start_dashboard; fi
