#!/usr/bin/env bash
# Bad configuration: each variable with a bad value, for both workers ->
# exit status 2 within 2 s (no Kafka or PostgreSQL session: a consumer group
# join alone takes ~3 s), exactly one line on stderr naming the variable,
# nothing consumed, and no part of a secret in a bad value (hunter2) on
# stderr. The rest of the environment is valid, as the baseline run at the
# start proves.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

start_pg
migrate
start_broker 6
# one event waiting: a worker that half-started would apply it
printf '%s\n' 'bc-1|{"event_id":"bc-1","type":"order.created","occurred_at":"2026-11-27T10:00:00Z","order_id":"bc-1","lines":[{"sku":"A","qty":1}]}' \
  >"$SF_TMP/one.txt"
produce inventory.orders "$SF_TMP/one.txt"
printf '%s\n' 'A|{"event_id":"bc-s","type":"stock.received","occurred_at":"2026-11-27T10:00:00Z","sku":"A","qty":5}' \
  >"$SF_TMP/one-stock.txt"
produce inventory.stock "$SF_TMP/one-stock.txt"

# VARIABLE=value cases (a value may be empty or contain spaces)
CASES=(
  'KAFKA_BROKERS=nohost'
  'KAFKA_BROKERS=127.0.0.1:notaport'
  'DATABASE_URL=port=notanumber x'
  'DATABASE_URL=postgresql://[::1'
  'RESERVATION_HOLD_SECONDS=0'
  'RESERVATION_HOLD_SECONDS=abc'
  'RESERVATION_HOLD_SECONDS=-5'
  'RESERVATION_HOLD_SECONDS=12x'
  'RETRY_BACKOFF_SECONDS=1,,2'
  'RETRY_BACKOFF_SECONDS=abc'
  'RETRY_BACKOFF_SECONDS=1,-10'
  'HTTP_PORT=70000'
  'HTTP_PORT=http'
  'HTTP_BIND=localhost'
  'HTTP_BIND=10.0.0.300'
  'LOG_LEVEL=loud'
  'BATCH_MAX=0'
  'BATCH_MAX=10001'
  'BATCH_MAX=ten'
  'PG_LOCK_TIMEOUT_MS=abc'
  'PG_STATEMENT_TIMEOUT_MS=-1'
  'TURN_DEADLINE_MS=50'
  'TURN_DEADLINE_MS=60000'
  # a turn (15 s + a 30 s statement + 30 s of retry/DLQ writes) longer than max.poll.interval.ms
  'RDKAFKA_MAX_POLL_INTERVAL_MS=40000'
  'RDKAFKA_NO_SUCH_PROPERTY=1'
  'RDKAFKA_SESSION_TIMEOUT_MS=abc'
  # secrets (hunter2) in bad values: never on stderr
  'DATABASE_URL=postgresql://bob:hunter2@db/x?sslpasword=hunter2'
  'DATABASE_URL=host=db passwordhunter2'
  "DATABASE_URL=host=db password='hunter2 sslpassword=hunter2"
  'RDKAFKA_SASL_PASWORD=hunter2'
  'RDKAFKA_SSL_KEY_PASSWROD=hunter2'
  'ALERT_WEBHOOK_URL=ftp://hooks.example.com/hunter2'
)

# baseline: the same environment without a bad value starts and keeps running
for role in order stock; do
  start_worker "$role"
  pid=$WORKER_PID
  sleep 2.5
  sf_alive "$pid" || fail "$role-worker with the baseline environment exited: $(tail -n 3 "$(worker_log "$pid")")"
  stop_worker "$pid"
done
# the baseline runs applied the two waiting events; forget them
before=$(psql_q "SELECT count(*) FROM processed_events")

failures=0
for role in order stock; do
  bin=$ORDER_WORKER
  [[ $role == stock ]] && bin=$STOCK_WORKER
  for c in "${CASES[@]}"; do
    var=${c%%=*}
    t0=$(date +%s%N)
    rc=0
    env LOG_LEVEL=info HTTP_PORT="$(sf_free_port)" RDKAFKA_SESSION_TIMEOUT_MS=6000 "$c" \
      timeout -k 1 10 "$bin" </dev/null >"$SF_TMP/out" 2>"$SF_TMP/err" || rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    lines=$(wc -l <"$SF_TMP/err")
    first=$(head -n 1 "$SF_TMP/err" | cut -c1-200)
    problems=()
    ((rc == 2)) || problems+=("exit status $rc (want 2)")
    ((lines == 1)) || problems+=("$lines stderr lines (want 1)")
    grep -qF -- "$var" "$SF_TMP/err" || problems+=("stderr does not name $var")
    ! grep -qF hunter2 "$SF_TMP/err" || problems+=("stderr shows the secret")
    ((ms < 2000)) || problems+=("took $ms ms (want < 2000)")
    if ((${#problems[@]})); then
      failures=$((failures + 1))
      note "BAD  $role-worker $c: $(
        IFS=';'
        echo "${problems[*]}"
      ) | stderr: $first"
    else
      note "ok   $role-worker $c -> 2 in $ms ms: $first"
    fi
  done
done
assert_eq "$before" "$(psql_q "SELECT count(*) FROM processed_events")" "events applied by workers started with bad configuration"
((failures == 0)) || fail "$failures of $((2 * ${#CASES[@]})) bad-configuration cases misbehaved (lines marked BAD above)"
