#!/usr/bin/env bash
# pg-local.sh: a throwaway local PostgreSQL 15 cluster for stockflow.
#
#   pg-local.sh start DIR    create (first time) and start a cluster in DIR;
#                            prints DATABASE_URL=postgresql://postgres@127.0.0.1:PORT/stockflow
#   pg-local.sh stop DIR     stop it (fast shutdown)
#   pg-local.sh status DIR   exit 0 and print the URL when running, 3 when
#                            stopped, 4 when DIR holds no cluster
#
# Layout: DIR/data (cluster), DIR/sock (UNIX socket), DIR/pg.log (server
# log), DIR/env (DATABASE_URL=... and PG_ADMIN_URL=...), DIR/port.
# Environment: PGPORT_WANTED (port to use; default: the last one if still
# free, else any free port), PG_LOCAL_FAST=1 (fsync, synchronous_commit,
# full_page_writes off: fast, but a crash may corrupt the cluster),
# PG_BINDIR (default /usr/lib/postgresql/15/bin), PG_LOCAL_SSL_CERT and
# PG_LOCAL_SSL_KEY (PEM files: copied to DIR/ssl at each start, ssl = on;
# clients then connect over TLS, e.g. with sslmode=verify-full).
# PostgreSQL refuses to run as root: as root the cluster runs as the
# postgres user, so DIR must be reachable by it (e.g. under /tmp).
set -euo pipefail

readonly prog=pg-local.sh
readonly db_user=postgres
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}

die() {
  echo "$prog: $*" >&2
  exit 1
}

usage() {
  sed -n '2,19s/^# \{0,1\}//p' "$0"
}

check_env() {
  local p=${PGPORT_WANTED:-}
  if [[ -n $p ]] && { [[ ! $p =~ ^[1-9][0-9]{0,4}$ ]] || ((p > 65535)); }; then
    die "PGPORT_WANTED='$p' is not a port number (1..65535)"
  fi
}

check_ssl() {
  local c=${PG_LOCAL_SSL_CERT:-} k=${PG_LOCAL_SSL_KEY:-}
  [[ -z $c && -z $k ]] && return 0
  [[ -n $c && -n $k ]] || die "PG_LOCAL_SSL_CERT and PG_LOCAL_SSL_KEY go together (one is unset)"
  [[ -r $c ]] || die "PG_LOCAL_SSL_CERT='$c': no such readable file"
  [[ -r $k ]] || die "PG_LOCAL_SSL_KEY='$k': no such readable file"
}

# Copies the server certificate and key where the server can read them
# (the key owned by the cluster owner, mode 0600, as PostgreSQL demands).
install_ssl() {
  [[ -n ${PG_LOCAL_SSL_CERT:-} ]] || return 0
  as_db mkdir -p "$dir/ssl"
  as_db tee "$dir/ssl/server.crt" <"$PG_LOCAL_SSL_CERT" >/dev/null
  as_db tee "$dir/ssl/server.key" <"$PG_LOCAL_SSL_KEY" >/dev/null
  as_db chmod 600 "$dir/ssl/server.key"
}

check_bins() {
  local b
  for b in initdb pg_ctl postgres psql; do
    [[ -x $PG_BINDIR/$b ]] ||
      die "$PG_BINDIR/$b not found: install PostgreSQL 15 (apt-get install postgresql) or set PG_BINDIR"
  done
  if [[ $EUID -eq 0 ]]; then
    id -u "$db_user" >/dev/null 2>&1 || die "user '$db_user' does not exist (apt-get install postgresql)"
    command -v runuser >/dev/null 2>&1 || command -v su >/dev/null 2>&1 ||
      die "neither runuser nor su found (apt-get install util-linux)"
  fi
}

# Runs a command as the cluster owner: postgres when we are root, else us.
# The lock (fd 9) is not passed on: the server would hold it forever.
as_db() {
  if [[ $EUID -ne 0 ]]; then
    "$@" 9>&-
  elif command -v runuser >/dev/null 2>&1; then
    runuser -u "$db_user" -- "$@" 9>&-
  else
    su "$db_user" -s /bin/bash -c "$(printf '%q ' "$@")" 9>&-
  fi
}

# Sets the global paths for cluster folder $1, creating it.
set_paths() {
  mkdir -p -- "$1" || die "cannot create $1"
  dir=$(cd -- "$1" && pwd -P)
  data=$dir/data
  sock=$dir/sock
  log=$dir/pg.log
  cd /  # the postgres user may not be able to enter our working directory
}

# As root, hands DIR to postgres and checks that postgres can reach it.
prepare_owner() {
  [[ $EUID -eq 0 ]] || return 0
  chown "$db_user:" "$dir"
  if [[ -e $data ]]; then
    find "$data" "$sock" "$log" ! -user "$db_user" -exec chown "$db_user:" {} + 2>/dev/null || true
  fi
  as_db test -w "$dir" ||
    die "$dir is not reachable by the $db_user user (a parent folder is closed); use a folder under /tmp"
}

is_running() {
  [[ -f $data/PG_VERSION ]] && as_db "$PG_BINDIR/pg_ctl" status -D "$data" >/dev/null 2>&1
}

# Succeeds when nothing accepts connections on 127.0.0.1:$1.
port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
  local p
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    return
  fi
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    if port_free "$p"; then
      echo "$p"
      return
    fi
  done
  die "no free TCP port found on 127.0.0.1"
}

choose_port() {
  local old
  if [[ -n ${PGPORT_WANTED:-} ]]; then
    port=$PGPORT_WANTED
    return
  fi
  old=$(cat "$dir/port" 2>/dev/null || true)
  if [[ $old =~ ^[0-9]+$ ]] && port_free "$old"; then
    port=$old
  else
    port=$(pick_port)
  fi
}

init_cluster() {
  local fast=()
  [[ ${PG_LOCAL_FAST:-0} == 1 ]] && fast=(--no-sync)
  as_db mkdir -p "$data"
  as_db chmod 700 "$data"
  if ! as_db "$PG_BINDIR/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
    --locale=C --no-instructions "${fast[@]}" >"$dir/initdb.log" 2>&1; then
    die "initdb failed: $(tail -n 1 "$dir/initdb.log") (see $dir/initdb.log)"
  fi
  echo "include_if_exists = 'pg-local.conf'  # written by $prog at each start" |
    as_db tee -a "$data/postgresql.conf" >/dev/null
}

# Escapes a value for a single-quoted postgresql.conf string.
conf_quote() {
  printf "'%s'" "${1//\'/\'\'}"
}

write_conf() {
  {
    echo "# written by $prog at each start; edits are lost"
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = $(conf_quote "$sock")"
    echo "max_connections = 200"
    echo "logging_collector = off"
    if [[ -n ${PG_LOCAL_SSL_CERT:-} ]]; then
      echo "ssl = on"
      echo "ssl_cert_file = $(conf_quote "$dir/ssl/server.crt")"
      echo "ssl_key_file = $(conf_quote "$dir/ssl/server.key")"
    fi
    if [[ ${PG_LOCAL_FAST:-0} == 1 ]]; then
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
  } | as_db tee "$data/pg-local.conf" >/dev/null
}

# Starts the server on $port; returns 1 and sets $why when it does not.
start_server() {
  local sockfile="$sock/.s.PGSQL.$port" before
  ((${#sockfile} < 108)) || die "socket path $sockfile is too long (max 107 bytes): use a shorter DIR"
  as_db mkdir -p "$sock"
  install_ssl
  write_conf
  before=0
  [[ -f $log ]] && before=$(wc -l <"$log")
  as_db "$PG_BINDIR/pg_ctl" start -D "$data" -l "$log" -w -t 60 -s >/dev/null 2>&1 && return 0
  why=$(tail -n "+$((before + 1))" "$log" 2>/dev/null | grep -E 'FATAL|PANIC' | tail -n 1 | sed -E 's/.*(FATAL|PANIC): +//' || true)
  return 1
}

# Picks a port and starts; a port taken in the meantime costs a retry.
start_on_free_port() {
  for _ in 1 2 3; do
    choose_port
    start_server && return 0
    [[ -z ${PGPORT_WANTED:-} && $why == *"TCP/IP socket"* ]] || break
    rm -f "$dir/port"
  done
  die "PostgreSQL did not start on port $port: ${why:-unknown reason} (see $log)"
}

# Port of the running server, from postmaster.pid (line 4).
running_port() {
  sed -n 4p "$data/postmaster.pid" 2>/dev/null || true
}

psql_admin() {
  "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres "$@"
}

ensure_database() {
  local have
  have=$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = 'stockflow'") ||
    die "cannot connect to PostgreSQL on 127.0.0.1:$port (see $log)"
  if [[ $have != 1 ]]; then
    psql_admin -c 'CREATE DATABASE stockflow' >/dev/null || die "CREATE DATABASE stockflow failed"
  fi
}

write_env() {
  local tmp="$dir/env.tmp.$$"
  printf 'DATABASE_URL=%s\nPG_ADMIN_URL=%s\n' "$url" "postgresql://postgres@127.0.0.1:$port/postgres" >"$tmp"
  mv -f "$tmp" "$dir/env"
  echo "$port" >"$dir/port.tmp.$$"
  mv -f "$dir/port.tmp.$$" "$dir/port"
}

# Serialises start/stop on one DIR.
lock_dir() {
  exec 9>"$dir/.pg-local.lock"
  flock -w 120 9 || die "timed out waiting for another $prog on $dir"
}

cmd_start() {
  prepare_owner
  lock_dir
  if is_running; then
    port=$(running_port)
  else
    [[ -f $data/PG_VERSION ]] || init_cluster
    start_on_free_port
  fi
  url="postgresql://postgres@127.0.0.1:$port/stockflow"
  ensure_database
  write_env
  echo "DATABASE_URL=$url"
}

cmd_stop() {
  if [[ ! -f $data/PG_VERSION ]]; then
    echo "$prog: no cluster in $data: nothing to stop" >&2
    return 0
  fi
  lock_dir
  if ! is_running; then
    echo "$prog: not running: $dir" >&2
    return 0
  fi
  as_db "$PG_BINDIR/pg_ctl" stop -D "$data" -m fast -w -t 60 -s ||
    die "pg_ctl stop failed (see $log)"
}

cmd_status() {
  if [[ ! -f $data/PG_VERSION ]]; then
    echo "no cluster in $data"
    return 4
  fi
  if ! is_running; then
    echo "stopped: $dir"
    return 3
  fi
  echo "running DATABASE_URL=postgresql://postgres@127.0.0.1:$(running_port)/stockflow"
}

main() {
  if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    usage
    return 0
  fi
  if [[ $# -ne 2 || ! $1 =~ ^(start|stop|status)$ ]]; then
    usage >&2
    return 2
  fi
  check_env
  check_ssl
  check_bins
  set_paths "$2"
  "cmd_$1"
}

main "$@"
