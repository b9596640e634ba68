# shellcheck shell=bash
# Order-lifecycle additions to the integration harness (issue 3). A test
# sources lib.sh first, then this file:
#
#     source "$(dirname "$0")/lib.sh"
#     source "$(dirname "$0")/lib_life.sh"
#
# It adds the payment- and timeout-workers (start_role), several stacks side
# by side (save_stack / use_stack), waits on SQL conditions and the event
# generator of these tests (life.py). Environment: PAYMENT_WORKER and
# TIMEOUT_WORKER (set by tests/integration/meson.build; defaults for a manual
# run from the repo).

: "${PAYMENT_WORKER:=$SF_SRC/build/workers/payment/payment-worker}"
: "${TIMEOUT_WORKER:=$SF_SRC/build/workers/timeout/timeout-worker}"

# start_role ROLE [VAR=value...]: like lib.sh's start_worker, for every role
# (order|stock|payment|timeout). Sets WORKER_PID; the log is $SF_TMP/ROLE-N.log.
start_role() {
  local role=$1 bin name n
  shift
  case $role in
  order) bin=$ORDER_WORKER ;;
  stock) bin=$STOCK_WORKER ;;
  payment) bin=$PAYMENT_WORKER ;;
  timeout) bin=$TIMEOUT_WORKER ;;
  *) fail "start_role: unknown role '$role'" ;;
  esac
  [[ -x $bin ]] || fail "worker not built: $bin"
  n=$((SF_NPROC += 1))
  name=$role-$n
  local wrap=()
  [[ -z ${WORKER_WRAPPER:-} ]] || read -ra wrap <<<"$WORKER_WRAPPER"
  env LOG_LEVEL=info HTTP_PORT="$(sf_free_port)" \
    RDKAFKA_SESSION_TIMEOUT_MS=6000 RDKAFKA_HEARTBEAT_INTERVAL_MS=500 "$@" \
    "${wrap[@]}" "$bin" </dev/null >>"$SF_TMP/$name.log" 2>&1 &
  WORKER_PID=$!
  SF_WORKERS+=("$WORKER_PID")
  # shellcheck disable=SC2004 # SF_NAME and SF_LOG are associative (lib.sh)
  SF_NAME[$WORKER_PID]=$name
  # shellcheck disable=SC2004

  SF_LOG[$WORKER_PID]=$SF_TMP/$name.log
  note "started $name (pid $WORKER_PID)"
}

# ---- several stacks (database + broker) in one test -----------------------

declare -A LIFE_DB=() LIFE_BROKERS=()

# save_stack NAME: remembers the current DATABASE_URL and KAFKA_BROKERS as NAME.
save_stack() {
  LIFE_DB[$1]=$DATABASE_URL
  LIFE_BROKERS[$1]=$KAFKA_BROKERS
}

# use_stack NAME: makes NAME's database and broker the current ones.
use_stack() {
  [[ -n ${LIFE_DB[$1]:-} ]] || fail "use_stack: no stack '$1'"
  DATABASE_URL=${LIFE_DB[$1]}
  KAFKA_BROKERS=${LIFE_BROKERS[$1]}
  export DATABASE_URL KAFKA_BROKERS
}

# ---- time, conditions ------------------------------------------------------

# now_ms: wall-clock time in epoch milliseconds.
now_ms() {
  local t=$EPOCHREALTIME
  printf '%s\n' "$(((10#${t%.*} * 1000000 + 10#${t#*.}) / 1000))"
}

# sleep_until_ms MS: sleeps until the wall clock reaches MS (for tests whose
# point is that time passes, e.g. past an expiry, with nothing to wait for).
sleep_until_ms() {
  local left=$(($1 - $(now_ms)))
  ((left <= 0)) || sleep "$(printf '%d.%03d' $((left / 1000)) $((left % 1000)))"
}

# sql_is SQL EXPECTED: the query's result equals EXPECTED (for wait_for).
sql_is() {
  local got
  got=$(psql_q "$1" 2>/dev/null) || return 1
  [[ $got == "$2" ]]
}

# wait_sql DESCRIPTION TIMEOUT_S SQL EXPECTED: waits until SQL returns
# EXPECTED; on timeout fails with the last value seen.
wait_sql() {
  local what=$1 timeout=$2 sql=$3 want=$4 deadline
  deadline=$((SECONDS + timeout))
  until sql_is "$sql" "$want"; do
    if ((SECONDS >= deadline)); then
      pg_diag
      fail "timed out after ${timeout}s waiting for $what: expected '$want', got '$(psql_q "$sql" 2>&1 | head -c 2000)'"
    fi
    sleep 0.2
  done
}

# pg_diag: what the database is doing (for a timeout): every session of the
# current database that is not idle, and every lock wait with its blocker.
pg_diag() {
  note "sessions of the database that are not idle:"
  psql "$DATABASE_URL" -Xq -c "SELECT pid, application_name AS app, state, wait_event_type AS wtype, wait_event,
           round(extract(epoch FROM now() - xact_start)::numeric, 1) AS xact_s, left(query, 120) AS query
      FROM pg_stat_activity WHERE datname = current_database() AND state <> 'idle' AND pid <> pg_backend_pid()
     ORDER BY xact_start" >&2 2>&1 || true
  psql "$DATABASE_URL" -Xq -c "SELECT w.pid AS waiting, w.application_name AS waiting_app,
           pg_blocking_pids(w.pid) AS blocked_by, left(w.query, 80) AS query
      FROM pg_stat_activity w WHERE cardinality(pg_blocking_pids(w.pid)) > 0" >&2 2>&1 || true
}

# wait_log PID REGEX TIMEOUT_S: waits until the worker's log matches REGEX.
wait_log() {
  local pid=$1 re=$2 timeout=$3 deadline
  deadline=$((SECONDS + timeout))
  until grep -qE -- "$re" "${SF_LOG[$pid]}" 2>/dev/null; do
    sf_alive "$pid" || fail "${SF_NAME[$pid]} exited: $(tail -n 3 "${SF_LOG[$pid]}")"
    ((SECONDS < deadline)) || fail "timed out after ${timeout}s waiting for /$re/ in ${SF_NAME[$pid]}'s log"
    sleep 0.2
  done
}

# wait_payment_watermark TIMEOUT_S: waits until the payment consumers report
# a watermark for every partition of inventory.payments (the timeout worker
# releases nothing before).
wait_payment_watermark() {
  local parts
  parts=$(kcat -L -b "$KAFKA_BROKERS" -t inventory.payments -J 2>/dev/null | jq '.topics[0].partitions | length')
  [[ $parts =~ ^[0-9]+$ && $parts -gt 0 ]] || fail "cannot read the partition count of inventory.payments"
  wait_sql "a payment watermark on all $parts partitions" "$1" \
    "SELECT count(*) FROM consumer_watermarks WHERE group_id = 'stockflow-payment'
       AND topic = 'inventory.payments' AND watermark > now() - interval '5 seconds'" "$parts"
}

# ---- state -------------------------------------------------------------------

# dump_life: the contract views without wall-clock columns plus the stock
# counters and the refund alerts, sorted: what two runs of the same events
# must agree on.
#   S|sku|on_hand|reserved|safety_stock|available|status|received|adjusted|committed
#   O|order_id|state|expires_at (ms, UTC)
#   A|alert key|count
dump_life() {
  psql_q "SELECT format('S|%s|%s|%s|%s|%s|%s|%s|%s|%s', l.sku, l.on_hand, l.reserved, l.safety_stock,
                        l.available, l.status, s.received_total, s.adjusted_total, s.committed_total)
            FROM stock_levels l JOIN stock s USING (sku) ORDER BY l.sku COLLATE \"C\""
  psql_q "SELECT format('O|%s|%s|%s', order_id, state,
                        coalesce(to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), ''))
            FROM order_status ORDER BY order_id COLLATE \"C\""
  psql_q "SELECT format('A|%s|%s', key, count(*)) FROM outbox
           WHERE topic = 'inventory.alerts' AND key LIKE 'refund_required:%'
           GROUP BY key ORDER BY key COLLATE \"C\""
}

# rss_kb PID [FIELD]: VmRSS (or FIELD, e.g. VmHWM) of a process in kB.
rss_kb() {
  awk -v f="${2:-VmRSS}:" '$1 == f { print $2 }' "/proc/$1/status"
}

# life ARGS...: the generator of the lifecycle tests (life.py).
life() {
  python3 "$SF_LIB_DIR/life.py" "$@"
}
