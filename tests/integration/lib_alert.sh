# shellcheck shell=bash
# shellcheck disable=SC2004 # SF_NAME and SF_LOG are associative arrays (lib.sh)
# Helpers of the alert tests, on top of lib.sh (source lib.sh first):
# alert-worker, the scripted webhook (tests/tools/webhook-sink), dead letters
# produced with their DESIGN §2 headers, and the alert group's lag.
#
# Environment (set by tests/integration/meson.build): ALERT_WORKER,
# WEBHOOK_SINK; defaults point into build/ for a manual run.

: "${ALERT_WORKER:=$SF_SRC/build/workers/alert/alert-worker}"
: "${WEBHOOK_SINK:=$SF_SRC/build/tests/tools/webhook-sink}"

ALERT_GROUP=stockflow-alert
ALERT_TOPICS=(inventory.orders.dlq inventory.payments.dlq inventory.stock.dlq inventory.promotions.dlq
  inventory.alerts)

# start_alert_worker [VAR=value...]: alert-worker in the background, like
# start_worker (short session timeouts, a free HTTP_PORT, log in
# $SF_TMP/alert-N.log); under $WORKER_WRAPPER (e.g. valgrind) when set.
# Sets WORKER_PID.
start_alert_worker() {
  local n name
  [[ -x $ALERT_WORKER ]] || fail "alert-worker not built: $ALERT_WORKER"
  n=$((SF_NPROC += 1))
  name=alert-$n
  # shellcheck disable=SC2086 # WORKER_WRAPPER is a command line, split on purpose
  env LOG_LEVEL=info HTTP_PORT="$(sf_free_port)" \
    RDKAFKA_SESSION_TIMEOUT_MS=6000 RDKAFKA_HEARTBEAT_INTERVAL_MS=500 "$@" \
    ${WORKER_WRAPPER:-} "$ALERT_WORKER" </dev/null >>"$SF_TMP/$name.log" 2>&1 &
  WORKER_PID=$!
  SF_WORKERS+=("$WORKER_PID")
  SF_NAME[$WORKER_PID]=$name
  SF_LOG[$WORKER_PID]=$SF_TMP/$name.log
  note "started $name (pid $WORKER_PID)"
}

# start_sink NAME [webhook-sink args...]: the scripted webhook; waits until it
# listens. Sets SINK_PID, SINK_PORT and SINK_REQ (its request log, one JSON
# line per request: seq, ts_ms, method, path, idempotency_key, content_type,
# status, body_is_json, body).
start_sink() {
  local name=$1
  shift
  [[ -x $WEBHOOK_SINK ]] || fail "webhook-sink not built: $WEBHOOK_SINK"
  rm -f -- "$SF_TMP/$name.port"
  SINK_REQ=$SF_TMP/$name-requests.log
  touch -- "$SINK_REQ"
  "$WEBHOOK_SINK" --log "$SINK_REQ" --port-file "$SF_TMP/$name.port" "$@" </dev/null \
    >>"$SF_TMP/$name.log" 2>&1 &
  SINK_PID=$!
  SF_OTHERS+=("$SINK_PID")
  SF_NAME[$SINK_PID]=$name
  SF_LOG[$SINK_PID]=$SF_TMP/$name.log
  wait_for "webhook-sink $name to listen" 10 sf_sink_ready "$SINK_PID" "$SF_TMP/$name.port"
  SINK_PORT=$(<"$SF_TMP/$name.port")
  note "webhook-sink $name on 127.0.0.1:$SINK_PORT ($*)"
}

sf_sink_ready() {
  sf_alive "$1" || fail "webhook-sink exited: $(tail -n 3 "${SF_LOG[$1]}")"
  [[ -s $2 ]]
}

# quiet_port: a free 127.0.0.1 port below the ephemeral range, for a webhook
# that must stay unbound for a while: a port from sf_free_port may meanwhile
# become the source port of some outgoing connection (brokers, workers).
quiet_port() {
  python3 - <<'EOF'
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
ports = list(range(10000, lo)) if lo > 11000 else list(range(lo, 65536))
random.shuffle(ports)
for port in ports[:500]:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
EOF
}

# stop_sink PID: SIGTERM, assert exit status 0.
stop_sink() {
  local pid=$1 name=${SF_NAME[$1]:-pid $1}
  sf_stop_pid "$pid" 10
  ((SF_KILLED == 0 && SF_RC == 0)) || fail "$name: exit status $SF_RC after SIGTERM (killed: $SF_KILLED)"
  note "stopped $name"
}

# request_count FILE: requests recorded so far.
request_count() {
  wc -l <"$1" | tr -d ' '
}

# wait_requests FILE N TIMEOUT_S: until FILE records at least N requests.
wait_requests() {
  local file=$1 want=$2
  wait_for "$want request(s) at the webhook" "$3" sf_has_requests "$file" "$want"
}

sf_has_requests() {
  (($(request_count "$1") >= $2))
}

# produce_dead_letter TOPIC PARTITION KEY VALUE ORIGINAL_OFFSET [HEADER=value...]:
# one record as a worker writes it to a DLQ (DESIGN §2 headers for a poison
# event of the DLQ's source topic, at ORIGINAL_OFFSET); extra headers are
# added after them.
produce_dead_letter() {
  local topic=$1 part=$2 key=$3 value=$4 off=$5 src=${1%.dlq} h
  shift 5
  local -a hdrs=(
    -H "x-original-topic=$src" -H "x-original-partition=$part" -H "x-original-offset=$off"
    -H "x-original-timestamp=1700000000000" -H "x-original-group=stockflow-test"
    -H "x-attempt=1" -H "x-first-failure-at=1700000001000" -H "x-error-class=poison"
    -H "x-error=invalid JSON at offset $off" -H "x-worker=test-producer@localhost:1")
  for h in "$@"; do hdrs+=(-H "$h"); done
  printf '%s|%s\n' "$key" "$value" |
    kcat -P -b "$KAFKA_BROKERS" -t "$topic" -p "$part" -K '|' "${hdrs[@]}" 2>>"$SF_TMP/kcat.log" ||
    fail "kcat could not produce a dead letter to $topic"
}

# partitions TOPIC: its partition count.
partitions() {
  kcat -L -b "$KAFKA_BROKERS" -t "$1" -J 2>>"$SF_TMP/kcat.log" | jq '.topics[0].partitions | length'
}

# alert_lag: total lag of the alert-worker's group over its topics (per
# partition lines in $SF_TMP/alert-lag.out).
alert_lag() {
  local t specs=()
  for t in "${ALERT_TOPICS[@]}"; do specs+=("$t:$(partitions "$t")"); done
  python3 "$SF_LIB_DIR/alert_lag.py" "$KAFKA_BROKERS" "$ALERT_GROUP" "${specs[@]}" \
    >"$SF_TMP/alert-lag.out" 2>>"$SF_TMP/alert-lag.err" || fail "alert_lag.py failed: $(tail -n 2 "$SF_TMP/alert-lag.err")"
  sed -n 's/^total //p' "$SF_TMP/alert-lag.out"
}

# wait_alert_lag0 TIMEOUT_S: until the alert group has committed everything.
wait_alert_lag0() {
  wait_for "alert-worker group lag 0" "$1" sf_alert_lag0
}

sf_alert_lag0() {
  [[ $(alert_lag) == 0 ]]
}

# alert_retries LOG: lines where the worker logged a failed attempt.
alert_retries() {
  grep -c 'not delivered (attempt' "$1" || true
}
