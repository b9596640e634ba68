# shellcheck shell=bash
# bench/broker.sh: the broker every run of the bench uses (sourced by
# bench/run.sh), chosen with --broker:
#
#   dev    stockflow-devbroker (librdkafka's mock cluster), in memory, ready in
#          0.1 s; creates the topics itself ($PARTS partitions each)
#   kafka  Apache Kafka (deploy/kafka/kafka-local.sh: single-node KRaft on
#          loopback, the pinned release's jars), ready in 5-20 s; its topics
#          come from `stockctl topics apply --partitions $PARTS`
#          (auto.create.topics.enable=false)
#
# start_broker starts a fresh one (stopping the one before and discarding its
# log) and exports KAFKA_BROKERS; BROKER_PID is the process whose CPU the
# report counts as the broker's. stop_broker stops it; cleanup calls it too,
# so a failed or interrupted run leaves no broker behind.

BROKER_N=0
KAFKA_DIR=''

broker_describe() { # -> BROKER_NAME, BROKER_VERSION
  if [[ $BROKER == kafka ]]; then
    BROKER_NAME="Apache Kafka (deploy/kafka/kafka-local.sh, single-node KRaft)"
    BROKER_VERSION=$("$SRC/deploy/kafka/fetch.sh" --version)
  else
    BROKER_NAME="stockflow-devbroker (librdkafka mock cluster)"
    BROKER_VERSION="librdkafka $(pkg-config --modversion rdkafka 2>/dev/null || echo unknown)"
  fi
}

stop_broker() {
  [[ -n $BROKER_PID ]] || return 0
  if [[ $BROKER == kafka ]]; then
    # SIGKILL: the log is thrown away, a controlled shutdown would only cost time
    "$SRC/deploy/kafka/kafka-local.sh" kill "$KAFKA_DIR" >>"$TMP/broker.log" 2>&1 || note "warning: could not stop Kafka in $KAFKA_DIR"
    rm -rf -- "$KAFKA_DIR/data"
  else
    stop_pid "$BROKER_PID"
  fi
  BROKER_PID=''
}

start_broker() {
  stop_broker
  BROKER_N=$((BROKER_N + 1))
  if [[ $BROKER == kafka ]]; then
    local out=$TMP/kafka-start.out t0=$SECONDS
    KAFKA_DIR=$TMP/kafka-$BROKER_N
    "$SRC/deploy/kafka/kafka-local.sh" start "$KAFKA_DIR" >"$out" 2>>"$TMP/broker.log" ||
      die "kafka-local.sh start failed: $(tail -n 3 "$TMP/broker.log")"
    BROKER_PID=$(<"$KAFKA_DIR/pid")
    KAFKA_BROKERS=$(sed -n 's/^KAFKA_BROKERS=//p' "$out")
    [[ -n $KAFKA_BROKERS ]] || die "kafka-local.sh printed no KAFKA_BROKERS"
    export KAFKA_BROKERS
    "$STOCKCTL" topics apply --partitions "$PARTS" --retry-steps "$RETRY_STEPS" >>"$TMP/topics.log" 2>&1 ||
      die "stockctl topics apply failed: $(tail -n 3 "$TMP/topics.log")"
    note "Kafka $BROKER_VERSION at $KAFKA_BROKERS, topics of $PARTS partitions, ready in $((SECONDS - t0)) s"
    return 0
  fi
  local bs=$TMP/bootstrap
  rm -f "$bs"
  "$DEVBROKER" --partitions "$PARTS" --bootstrap-file "$bs" </dev/null >"$TMP/broker.out" 2>>"$TMP/broker.log" &
  BROKER_PID=$!
  PROCS+=("$BROKER_PID")
  local deadline=$((SECONDS + 20))
  until [[ -s $bs ]]; do
    alive "$BROKER_PID" || die "dev broker exited: $(tail -n 3 "$TMP/broker.log")"
    ((SECONDS < deadline)) || die "dev broker not ready after 20 s"
    sleep 0.1
  done
  KAFKA_BROKERS=$(<"$bs")
  export KAFKA_BROKERS
}
