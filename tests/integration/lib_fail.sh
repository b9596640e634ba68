# shellcheck shell=bash
# shellcheck disable=SC2004 # SF_NAME and SF_LOG are associative arrays (lib.sh)
# Failure-path helpers (issue 4) on top of lib.sh. A test sources lib.sh
# first, then this file:
#
#     source "$(dirname "$0")/lib.sh"
#     source "$(dirname "$0")/lib_fail.sh"
#
# It adds: a dev broker with a fault-injection control socket, a PostgreSQL
# cluster of the test's own that can be stopped and started (never the shared
# one), waits on worker logs, topic record counts, consumer lag of one
# partition, and the checks every failure test ends with (nothing on the
# retry and dead-letter topics, processed_events exact, outbox published).
#
# Environment: PAYMENT_WORKER, TIMEOUT_WORKER (set by meson.build; defaults
# point into build/ for a manual run), like lib.sh's ORDER_WORKER.

: "${PAYMENT_WORKER:=$SF_SRC/build/workers/payment/payment-worker}"
: "${TIMEOUT_WORKER:=$SF_SRC/build/workers/timeout/timeout-worker}"
export PAYMENT_WORKER TIMEOUT_WORKER # start_worker payment|timeout reads them

FAIL_PG_DIR=''  # the cluster of start_own_pg
FAIL_PG_PORT='' # its port, kept across stop/start
BROKER_CTL=''   # control socket of the broker start_broker_ctl started last

# ---- time ----------------------------------------------------------------

# fail_now_ms: wall-clock time in epoch milliseconds.
fail_now_ms() {
  local t=$EPOCHREALTIME
  printf '%s\n' "$(((10#${t%.*} * 1000000 + 10#${t#*.}) / 1000))"
}

# ---- PostgreSQL of the test's own ------------------------------------------

# start_own_pg: like lib.sh's start_pg, but always on a cluster of this test
# ($SF_TMP/pg, stopped at exit by lib.sh), never on the shared $PG_ADMIN_URL
# one: for tests that stop PostgreSQL.
start_own_pg() {
  unset PG_ADMIN_URL
  start_pg
  FAIL_PG_DIR=$SF_TMP/pg
  FAIL_PG_PORT=$(<"$FAIL_PG_DIR/port")
  [[ $FAIL_PG_PORT =~ ^[0-9]+$ ]] || fail "no port in $FAIL_PG_DIR/port"
  note "own PostgreSQL cluster on port $FAIL_PG_PORT"
}

# pg_stop_own: stops the test's cluster (pg_ctl stop -m fast).
pg_stop_own() {
  [[ -n $FAIL_PG_DIR ]] || fail "pg_stop_own without start_own_pg"
  "$SF_SRC/deploy/pg-local.sh" stop "$FAIL_PG_DIR" >>"$SF_TMP/pg-local.out" 2>&1 ||
    fail "pg-local.sh stop failed: $(tail -n 3 "$SF_TMP/pg-local.out")"
  note "PostgreSQL stopped"
}

# pg_start_own: starts the test's cluster again on the same port.
pg_start_own() {
  [[ -n $FAIL_PG_DIR ]] || fail "pg_start_own without start_own_pg"
  PG_LOCAL_FAST=1 PGPORT_WANTED=$FAIL_PG_PORT "$SF_SRC/deploy/pg-local.sh" start "$FAIL_PG_DIR" \
    >>"$SF_TMP/pg-local.out" 2>&1 ||
    fail "pg-local.sh start failed: $(tail -n 3 "$SF_TMP/pg-local.out")"
  note "PostgreSQL started again on port $FAIL_PG_PORT"
}

# ---- broker with fault injection -----------------------------------------

# start_broker_ctl [PARTITIONS] [devbroker args...]: like lib.sh's
# start_broker, with a control socket (BROKER_CTL) for broker_ctl.
# On Apache Kafka (SF_BROKER=kafka) it starts Kafka: broker_ctl then ends
# the test as skipped, since only the development broker injects faults.
start_broker_ctl() {
  if on_kafka; then
    start_kafka "${1:-6}"
    return
  fi
  local parts=${1:-6} n bs
  (($# == 0)) || shift
  n=$((SF_NBROKER += 1))
  bs=$SF_TMP/broker$n.bootstrap
  BROKER_CTL=$SF_TMP/broker$n.ctl
  [[ -x $DEVBROKER ]] || fail "dev broker not built: $DEVBROKER"
  "$DEVBROKER" --partitions "$parts" --bootstrap-file "$bs" --control "$BROKER_CTL" "$@" </dev/null \
    >"$SF_TMP/broker$n.out" 2>"$SF_TMP/broker$n.log" &
  BROKER_PID=$!
  SF_OTHERS+=("$BROKER_PID")
  SF_NAME[$BROKER_PID]=broker$n
  SF_LOG[$BROKER_PID]=$SF_TMP/broker$n.log
  wait_for "the dev broker's bootstrap file" 20 sf_broker_ready "$BROKER_PID" "$bs"
  wait_for "the dev broker's control socket" 10 test -S "$BROKER_CTL"
  KAFKA_BROKERS=$(<"$bs")
  export KAFKA_BROKERS
  note "broker$n at $KAFKA_BROKERS ($parts partitions, control $BROKER_CTL)"
}

# broker_ctl COMMAND [ARG...]: one fault-injection command; fails the test
# unless the broker answers ok.
broker_ctl() {
  local out
  need_dev_broker "broker_ctl $* is the development broker's fault injection"
  out=$("$SF_SRC/deploy/devbroker-ctl.sh" "$BROKER_CTL" "$@" 2>&1) ||
    fail "devbroker-ctl $*: $out"
  note "broker: $* -> $out"
}

# ---- Kafka -----------------------------------------------------------------

# topic_count TOPIC: number of records now in TOPIC: the sum over its
# partitions of end offset - start offset.
topic_count() {
  local end begin
  end=$(fail_offset_sum "$1" -1) || fail "cannot query the end offsets of $1"
  begin=$(fail_offset_sum "$1" -2) || fail "cannot query the start offsets of $1"
  printf '%s\n' $((end - begin))
}

# topic_end_sum TOPIC: the sum of TOPIC's end offsets (records ever written,
# even those the dev broker dropped since).
topic_end_sum() {
  fail_offset_sum "$1" -1 || fail "cannot query the end offsets of $1"
}

# fail_offset_sum TOPIC -1|-2: the sum of the end (-1) or start (-2) offsets
# of TOPIC's partitions (kcat -Q); fails unless every partition answers.
fail_offset_sum() {
  local t=$1 ts=$2 parts p
  local -a args=()
  parts=$(kcat -L -b "$KAFKA_BROKERS" -t "$t" -J 2>>"$SF_TMP/kcat.log" | jq -r '.topics[0].partitions[]?.partition') ||
    return 1
  [[ -n $parts ]] || return 1
  for p in $parts; do args+=(-t "$t:$p:$ts"); done
  kcat -Q -b "$KAFKA_BROKERS" "${args[@]}" 2>>"$SF_TMP/kcat.log" |
    awk -v want=$((${#args[@]} / 2)) '/ offset [0-9]+$/ { s += $NF; n++ } END { if (n != want) exit 1; print s + 0 }'
}

# topic_has TOPIC COUNT: TOPIC holds at least COUNT records (for wait_for).
topic_has() {
  (($(topic_count "$1") >= $2))
}

# group_lag GROUP TOPIC PARTITION: "committed end lag" of one partition,
# from stockctl lag.
group_lag() {
  local out
  out=$("$STOCKCTL" lag "$1" 2>>"$SF_TMP/lag.err") || fail "stockctl lag $1 failed: $(tail -n 2 "$SF_TMP/lag.err")"
  awk -v g="$1" -v t="$2" -v p="$3" '$1 == g && $2 == t && $3 == p { print $4, $5, $6; found = 1 }
                                     END { if (!found) exit 1 }' <<<"$out" ||
    fail "stockctl lag shows no $2[$3] for $1"
}

# retry_dlq_topics: every retry and dead-letter topic of the broker.
retry_dlq_topics() {
  kcat -L -b "$KAFKA_BROKERS" -J 2>>"$SF_TMP/kcat.log" |
    jq -r '.topics[].topic | select(test("\\.retry\\.[0-9]+$|\\.dlq$"))' | sort
}

# assert_no_retry_dlq: every .retry.N and .dlq topic is empty.
assert_no_retry_dlq() {
  local t n bad='' all
  all=$(retry_dlq_topics)
  [[ -n $all ]] || fail "no retry or dead-letter topics listed by the broker"
  for t in $all; do
    n=$(topic_count "$t")
    ((n == 0)) || bad+=" $t:$n"
  done
  if [[ -n $bad ]]; then
    for t in $all; do
      topic_records "$t" | head -n 3 | cut -c1-600 >&2
    done
    fail "records on retry/dead-letter topics:$bad"
  fi
}

# ---- events and database -----------------------------------------------------

# event_ids FILE...: the distinct event_id values of key|value files, sorted.
event_ids() {
  cut -d'|' -f2- "$@" | jq -r .event_id | LC_ALL=C sort -u
}

# assert_processed_exactly FILE...: processed_events holds exactly the
# distinct event ids of FILE... (each once: event_id is its primary key).
assert_processed_exactly() {
  local want got
  event_ids "$@" >"$SF_TMP/want.ids"
  psql_q "SELECT event_id FROM processed_events" | LC_ALL=C sort >"$SF_TMP/got.ids"
  want=$(wc -l <"$SF_TMP/want.ids")
  got=$(wc -l <"$SF_TMP/got.ids")
  if ! cmp -s "$SF_TMP/want.ids" "$SF_TMP/got.ids"; then
    note "missing: $(comm -23 "$SF_TMP/want.ids" "$SF_TMP/got.ids" | head -n 5 | tr '\n' ' ')"
    note "unexpected: $(comm -13 "$SF_TMP/want.ids" "$SF_TMP/got.ids" | head -n 5 | tr '\n' ' ')"
    fail "processed_events: $got event ids, expected exactly the $want produced"
  fi
  note "processed_events: exactly the $want event ids produced"
}

# processed_count [WHERE]: rows of processed_events.
processed_count() {
  psql_q "SELECT count(*) FROM processed_events ${1:+WHERE $1}"
}

# processed_at_least N: for wait_for.
processed_at_least() {
  local n
  n=$(processed_count '' 2>/dev/null) || return 1
  ((n >= $1))
}

# wait_processed N TIMEOUT_S: waits until processed_events holds N rows.
wait_processed() {
  wait_for "$1 rows in processed_events" "$2" processed_at_least "$1"
}

# assert_outbox_published [TIMEOUT_S]: waits until every outbox row is marked
# published (the relay caught up), then checks that inventory.ledger
# received at least as many records as the outbox holds ledger rows (sum of
# its end offsets: the dev broker may drop old records of a big partition,
# offsets stay; inventory.alerts is not counted, outage alerts bypass the
# outbox). Records published twice (the relay publishes at least once) are
# noted, not failed.
assert_outbox_published() {
  local t=${1:-30} rows got
  wait_for "every outbox row published" "$t" sql_equals "SELECT count(*) FROM outbox_pending" 0
  rows=$(psql_q "SELECT count(*) FROM outbox WHERE topic = 'inventory.ledger'")
  got=$(topic_end_sum inventory.ledger)
  ((got >= rows)) || fail "inventory.ledger: $got records published, the outbox holds $rows published rows"
  if ((got == rows)); then
    note "outbox: every inventory.ledger row published, $rows records on the topic"
  else
    note "note: inventory.ledger received $got records for $rows outbox rows (some published more than once)"
  fi
}

# sql_equals SQL EXPECTED: for wait_for.
sql_equals() {
  local got
  got=$(psql_q "$1" 2>/dev/null) || return 1
  [[ $got == "$2" ]]
}

# ---- worker logs ---------------------------------------------------------------

# log_has PID REGEX: the worker's log matches the extended REGEX.
log_has() {
  grep -qE -- "$2" "${SF_LOG[$1]}" 2>/dev/null
}

# wait_log_line PID REGEX TIMEOUT_S: waits until the worker's log matches.
wait_log_line() {
  local pid=$1 re=$2 timeout=$3 deadline
  deadline=$((SECONDS + timeout))
  until log_has "$pid" "$re"; do
    sf_alive "$pid" || fail "${SF_NAME[$pid]} exited: $(tail -n 3 "${SF_LOG[$pid]}")"
    ((SECONDS < deadline)) || fail "timed out after ${timeout}s waiting for /$re/ in ${SF_NAME[$pid]}'s log"
    sleep 0.1
  done
}

# assert_alive PID...: each worker is still running (no restart needed).
assert_alive() {
  local pid
  for pid in "$@"; do
    sf_alive "$pid" || fail "${SF_NAME[$pid]} exited: $(tail -n 3 "${SF_LOG[$pid]}")"
  done
}

# ---- a row lock held from psql ----------------------------------------------

LOCK_PID='' # the psql session of lock_hold
LOCK_FD=''  # its command pipe

# lock_hold SKU: a psql session (application_name sf-lockholder) runs
# BEGIN; SELECT ... FROM stock WHERE sku = SKU FOR UPDATE and keeps the
# transaction open (it waits for more commands) until lock_release. Returns
# once the row is locked.
lock_hold() {
  local fifo=$SF_TMP/lock.fifo
  [[ -z $LOCK_PID ]] || fail "lock_hold: a lock is held already"
  rm -f -- "$fifo" "$SF_TMP/lock.out"
  mkfifo -- "$fifo"
  PGAPPNAME=sf-lockholder psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 <"$fifo" >"$SF_TMP/lock.out" 2>&1 &
  LOCK_PID=$!
  SF_OTHERS+=("$LOCK_PID")
  SF_NAME[$LOCK_PID]=lockholder
  exec {LOCK_FD}>"$fifo"
  SF_PRIVATE_FDS+=("$LOCK_FD") # a worker started now must not keep psql's input open
  printf "BEGIN;\nSELECT 'locked|' || sku FROM stock WHERE sku = '%s' FOR UPDATE;\n" "$1" >&"$LOCK_FD"
  wait_for "the row lock on $1" 20 grep -qx "locked|$1" "$SF_TMP/lock.out"
  note "row of $1 locked (psql pid $LOCK_PID)"
}

# lock_release: COMMIT in the lock_hold session, which then ends.
lock_release() {
  [[ -n $LOCK_PID ]] || fail "lock_release without lock_hold"
  printf 'COMMIT;\n' >&"$LOCK_FD"
  exec {LOCK_FD}>&-
  local fd
  local -a keep=()
  for fd in "${SF_PRIVATE_FDS[@]}"; do [[ $fd == "$LOCK_FD" ]] || keep+=("$fd"); done
  SF_PRIVATE_FDS=("${keep[@]}")
  wait "$LOCK_PID" || fail "the lock-holding psql failed: $(cat "$SF_TMP/lock.out")"
  sf_forget "$LOCK_PID"
  LOCK_PID=''
  note "row lock released"
}
