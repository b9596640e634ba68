#!/usr/bin/env bash
# kafka-local.sh: a single-node Apache Kafka broker (KRaft, combined broker
# and controller) on loopback, run from the release's jars (fetch.sh).
#
#   kafka-local.sh start DIR   the first time: picks free ports, writes
#                              DIR/server.properties and formats DIR/data;
#                              then starts the broker in the background, waits
#                              until it answers metadata and prints
#                              KAFKA_BROKERS=127.0.0.1:PORT (also in DIR/env)
#   kafka-local.sh run DIR     the same in the foreground: Ctrl-C or SIGTERM
#                              stops the broker
#   kafka-local.sh stop DIR    SIGTERM (controlled shutdown), SIGKILL after 30 s
#   kafka-local.sh kill DIR    SIGKILL at once (a crash; `start` restarts it on
#                              the same log folder, same ports)
#   kafka-local.sh status DIR  exit 0 and print the address when running,
#                              3 when stopped, 4 when DIR holds no broker
#   kafka-local.sh class CLASS ARGS...
#                              runs one of the release's tools by class name,
#                              e.g. kafka.admin.ConfigCommand --describe ...
#
# Every topic exists because `stockctl topics apply` created it:
# auto.create.topics.enable=false. Settings for a 2-core machine: JVM heap
# KAFKA_HEAP (default 768m, at most 1g), replication factors 1, 2 network and
# 2 I/O threads, group.initial.rebalance.delay.ms=0. KAFKA_LOCAL_PROPERTIES
# names a file of extra server properties appended on the first start (e.g.
# a SASL listener). Layout: DIR/data (logs), DIR/kafka.log (broker log),
# DIR/server.properties, DIR/env, DIR/pid. KAFKA_SASL_USERS="name:password"
# (comma-separated) adds a SASL_PLAINTEXT listener with SCRAM-SHA-256,
# SCRAM-SHA-512 and PLAIN for those users, on the first start; its address
# is KAFKA_SASL_BROKERS in DIR/env. KAFKA_SSL_CERT and KAFKA_SSL_KEY (PEM
# files, the key unencrypted PKCS#8) add an SSL listener with that
# certificate (a PEM keystore), on the first start; its address is
# KAFKA_SSL_BROKERS in DIR/env. Needs a JDK 17 and kcat.
set -euo pipefail

readonly prog=kafka-local.sh
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)

die() {
  echo "$prog: $*" >&2
  exit 1
}

usage() {
  sed -n '2,33s/^# \{0,1\}//p' "$0"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

java_bin() {
  if [[ -n ${JAVA_HOME:-} ]]; then echo "$JAVA_HOME/bin/java"; else command -v java || die "java not found (install openjdk-17-jre-headless)"; fi
}

# The broker's classpath: every jar fetch.sh brought.
classpath() {
  local jars
  jars=$("$here/fetch.sh") || die "fetch.sh failed: no Kafka jars"
  echo "$jars/*"
}

heap() {
  local h=${KAFKA_HEAP:-768m}
  [[ $h =~ ^([1-9][0-9]{1,3})m$|^1g$ ]] || die "KAFKA_HEAP='$h' is not a heap size from 64m to 1g (e.g. 768m)"
  if [[ $h == *m ]] && ((${h%m} < 64 || ${h%m} > 1024)); then die "KAFKA_HEAP='$h' is not from 64m to 1g"; fi
  echo "$h"
}

broker_port() { sed -n 's/^advertised.listeners=PLAINTEXT:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$1/server.properties"; }
sasl_port() { sed -n 's/^advertised.listeners=.*SASL_PLAINTEXT:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$1/server.properties"; }
ssl_port() { sed -n 's/^advertised.listeners=.*,SSL:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$1/server.properties"; }

# pem_prop NAME FILE: a server property whose value is a PEM file, one line
# per PEM line joined by properties-file continuations (KIP-651's format).
pem_prop() {
  printf '%s=' "$1"
  sed -e '/^[[:space:]]*$/d' -e 's/$/ \\/' "$2" | sed '$ s/ \\$//'
}

running_pid() { # DIR: prints the broker's pid when it runs
  local pid
  [[ -f $1/pid ]] || return 1
  pid=$(<"$1/pid")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && grep -q 'kafka.Kafka' "/proc/$pid/cmdline" 2>/dev/null &&
    echo "$pid"
}

# First start: server.properties and a formatted log folder.
init_dir() {
  local dir=$1 bport cport sport='' tport='' cid listeners advertised
  local -a scram=() users=()
  mkdir -p "$dir/data"
  bport=${KAFKA_PORT_WANTED:-$(free_port)}
  cport=$(free_port)
  listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport
  advertised=PLAINTEXT://127.0.0.1:$bport
  local plain='org.apache.kafka.common.security.plain.PlainLoginModule required'
  if [[ -n ${KAFKA_SASL_USERS:-} ]]; then
    sport=$(free_port)
    listeners+=,SASL_PLAINTEXT://127.0.0.1:$sport
    advertised+=,SASL_PLAINTEXT://127.0.0.1:$sport
    local u
    IFS=, read -ra users <<<"$KAFKA_SASL_USERS"
    for u in "${users[@]}"; do
      [[ $u =~ ^([A-Za-z0-9_.-]+):([^\"\\ ]+)$ ]] || die "KAFKA_SASL_USERS: '${u%%:*}:...' is not name:password"
      plain+=" user_${BASH_REMATCH[1]}=\"${BASH_REMATCH[2]}\""
      scram+=(--add-scram "SCRAM-SHA-256=[name=${BASH_REMATCH[1]},password=${BASH_REMATCH[2]}]"
        --add-scram "SCRAM-SHA-512=[name=${BASH_REMATCH[1]},password=${BASH_REMATCH[2]}]")
    done
  fi
  if [[ -n ${KAFKA_SSL_CERT:-}${KAFKA_SSL_KEY:-} ]]; then
    [[ -r ${KAFKA_SSL_CERT:-} ]] || die "KAFKA_SSL_CERT='${KAFKA_SSL_CERT:-}' is not a readable file"
    [[ -r ${KAFKA_SSL_KEY:-} ]] || die "KAFKA_SSL_KEY='${KAFKA_SSL_KEY:-}' is not a readable file"
    grep -q -- '-----BEGIN PRIVATE KEY-----' "$KAFKA_SSL_KEY" ||
      die "KAFKA_SSL_KEY='$KAFKA_SSL_KEY' is not an unencrypted PKCS#8 PEM key (openssl pkcs8 -topk8 -nocrypt converts one)"
    tport=$(free_port)
    listeners+=,SSL://127.0.0.1:$tport
    advertised+=,SSL://127.0.0.1:$tport
  fi
  cat >"$dir/server.properties" <<PROPS
# written by $prog for a single-node local broker
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1
PROPS
  if [[ -n $sport ]]; then
    cat >>"$dir/server.properties" <<PROPS
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=$plain;
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
PROPS
  fi
  if [[ -n $tport ]]; then
    {
      echo "listener.name.ssl.ssl.keystore.type=PEM"
      pem_prop listener.name.ssl.ssl.keystore.certificate.chain "$KAFKA_SSL_CERT"
      pem_prop listener.name.ssl.ssl.keystore.key "$KAFKA_SSL_KEY"
    } >>"$dir/server.properties"
  fi
  if [[ -n ${KAFKA_LOCAL_PROPERTIES:-} ]]; then
    [[ -r $KAFKA_LOCAL_PROPERTIES ]] || die "KAFKA_LOCAL_PROPERTIES='$KAFKA_LOCAL_PROPERTIES' is not a readable file"
    cat "$KAFKA_LOCAL_PROPERTIES" >>"$dir/server.properties"
  fi
  # a cluster id as Kafka's own Uuid.randomUuid makes them: base64url of 16
  # random bytes, never starting with '-' (the format tool would read it as
  # an option: one id in 64 did)
  cid=$(python3 -c 'import base64, uuid
while True:
    c = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not c.startswith("-"):
        break
print(c)')
  "$(java_bin)" -cp "$(classpath)" -Dlog4j2.configurationFile="$here/log4j2.yaml" \
    kafka.tools.StorageTool format -t "$cid" -c "$dir/server.properties" "${scram[@]}" >"$dir/format.log" 2>&1 ||
    die "formatting $dir/data failed: $(tail -n 3 "$dir/format.log")"
}

# Waits (60 s at most) until the broker answers metadata with itself in it.
wait_ready() {
  local dir=$1 pid=$2 addr=$3 deadline=$((SECONDS + 60))
  until kcat -b "$addr" -L -m 2 -J 2>/dev/null | grep -q '"brokers":\[{'; do
    kill -0 "$pid" 2>/dev/null || return 1
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

start() {
  local dir=$1 pid port addr h jv cp
  [[ -n $dir ]] || die "start: no folder given"
  command -v kcat >/dev/null 2>&1 || die "kcat not found (scripts/install-deps.sh installs it)"
  if pid=$(running_pid "$dir"); then
    port=$(broker_port "$dir")
    echo "KAFKA_BROKERS=127.0.0.1:$port"
    return 0
  fi
  h=$(heap)
  jv=$(java_bin)
  cp=$(classpath)
  mkdir -p "$dir"
  dir=$(cd -- "$dir" && pwd)
  [[ -f $dir/server.properties && -f $dir/data/meta.properties ]] || init_dir "$dir"
  port=$(broker_port "$dir")
  addr=127.0.0.1:$port
  # exec: the pid we record is the JVM's own
  (exec "$jv" -Xms256m -Xmx"$h" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$here/log4j2.yaml" \
    -cp "$cp" kafka.Kafka "$dir/server.properties" </dev/null >>"$dir/kafka.log" 2>&1) &
  pid=$!
  echo "$pid" >"$dir/pid"
  if ! wait_ready "$dir" "$pid" "$addr"; then
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/pid"
    die "the broker did not answer on $addr within 60 s: $(grep -E 'ERROR|Exception' "$dir/kafka.log" | tail -n 3)"
  fi
  printf 'KAFKA_BROKERS=%s\n' "$addr" >"$dir/env"
  [[ -z $(sasl_port "$dir") ]] || printf 'KAFKA_SASL_BROKERS=127.0.0.1:%s\n' "$(sasl_port "$dir")" >>"$dir/env"
  [[ -z $(ssl_port "$dir") ]] || printf 'KAFKA_SSL_BROKERS=127.0.0.1:%s\n' "$(ssl_port "$dir")" >>"$dir/env"
  echo "KAFKA_BROKERS=$addr"
}

stop() { # DIR SIGNAL
  local dir=$1 sig=$2 pid deadline
  pid=$(running_pid "$dir") || { rm -f "$dir/pid"; return 0; }
  kill -"$sig" "$pid" 2>/dev/null || true
  deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "$prog: broker $pid did not stop within 30 s of SIG$sig: SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$dir/pid"
}

run() {
  local dir=$1
  start "$dir"
  trap 'stop "$dir" TERM; exit 0' INT TERM
  trap 'stop "$dir" TERM' EXIT
  local pid
  pid=$(running_pid "$dir") || die "the broker is not running"
  while kill -0 "$pid" 2>/dev/null; do sleep 1; done
  die "the broker exited: $(tail -n 3 "$dir/kafka.log")"
}

status() {
  local dir=$1
  [[ -f $dir/server.properties ]] || return 4
  running_pid "$dir" >/dev/null || return 3
  echo "KAFKA_BROKERS=127.0.0.1:$(broker_port "$dir")"
}

cmd=${1:-}
dir=${2:-}
case $cmd in
start) start "$dir" ;;
run) run "$dir" ;;
stop) stop "$dir" TERM ;;
kill) stop "$dir" KILL ;;
status) status "$dir" ;;
class)
  shift
  [[ $# -ge 1 ]] || die "class: no class name given"
  exec "$(java_bin)" -Xmx256m -Dlog4j2.configurationFile="$here/log4j2-tools.yaml" -cp "$(classpath)" "$@"
  ;;
-h | --help) usage ;;
*)
  usage >&2
  exit 2
  ;;
esac
