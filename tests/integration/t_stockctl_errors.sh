#!/usr/bin/env bash
# stockctl's bad inputs and failures: every one prints exactly one line on
# stderr and exits with the documented code (2 bad usage, 3 PostgreSQL or
# Kafka unreachable, 4 not found, 5 no Admin API, 6 database not migrated);
# the exit-code tables of README.md and docs/operations.md and
# `stockctl --help` list the same codes, and this test sees the binary exit
# with each of them; every command (and `stockctl help CMD`) has --help,
# `stockctl --version` works; an unset DATABASE_URL is named;
# `lag` says "pending holds: unknown (database unreachable)" without a
# database and warns about overdue holds; looking up a topic never creates it;
# `check` exits 1 naming a SKU whose row was corrupted; `checksum` is the
# same on two databases fed the same stream by different worker fleets, and
# differs once one row differs.
source "$(dirname "$0")/lib.sh"

start_pg
migrate
start_broker 6
DB1=$DATABASE_URL
BROKER1=$KAFKA_BROKERS

# expect CODE REGEX stockctl-args...: exit status CODE, one line on stderr
# matching REGEX, nothing else printed.
declare -A SEEN
expect() {
  local code=$1 re=$2 rc=0
  shift 2
  SEEN[$code]=1
  "$STOCKCTL" "$@" >"$SF_TMP/out" 2>"$SF_TMP/err" </dev/null || rc=$?
  assert_eq "$code" "$rc" "stockctl $* exit status ($(head -c 300 "$SF_TMP/err"))"
  assert_eq 1 "$(wc -l <"$SF_TMP/err")" "stockctl $*: lines on stderr ($(head -c 600 "$SF_TMP/err"))"
  assert_match "$re" "$(cat "$SF_TMP/err")" "stockctl $*: the error line"
  assert_eq 0 "$(wc -c <"$SF_TMP/out")" "stockctl $*: bytes on stdout"
}

# --- help: every command, and the exit codes documented ---
"$STOCKCTL" --help >"$SF_TMP/help.out"
for c in 0 1 2 3 4; do
  grep -qE "^  $c  " "$SF_TMP/help.out" || fail "stockctl --help does not document exit code $c"
done
for cmd in "dlq" "dlq list" "dlq show" "dlq redrive" replay checksum check stock order lag \
  migrate alerts topics rebuild; do
  # shellcheck disable=SC2086 # word splitting wanted
  "$STOCKCTL" $cmd --help >"$SF_TMP/help.out" 2>&1 || fail "stockctl $cmd --help failed"
  grep -q '^Usage: stockctl' "$SF_TMP/help.out" || fail "stockctl $cmd --help prints no usage"
done
# every command of `stockctl --help` answers --help and `stockctl help CMD`
for cmd in $("$STOCKCTL" --help | awk '/^  [a-z]+ / {print $1}'); do
  "$STOCKCTL" help "$cmd" >"$SF_TMP/help.out" 2>&1 || fail "stockctl help $cmd failed"
  grep -q "^Usage: stockctl $cmd" "$SF_TMP/help.out" || fail "stockctl help $cmd prints no usage: $(head -n 2 "$SF_TMP/help.out")"
done
assert_match '^stockctl [0-9]+\.[0-9]+\.[0-9]+$' "$("$STOCKCTL" --version)" "stockctl --version"
SEEN[0]=1

# --- the documented exit codes: README's table, docs/operations.md's, --help ---
readme_codes=$(awk '/^\| code \| meaning \|/ {t = 1; next} t && /^\| [0-9]+ \|/ {print $2} t && !/^\|/ {t = 0}' "$SF_SRC/README.md" | xargs)
ops_codes=$(awk '/^\| code \| meaning \|/ {t = 1; next} t && /^\| [0-9]+ \|/ {print $2} t && !/^\|/ {t = 0}' "$SF_SRC/docs/operations.md" | xargs)
help_codes=$("$STOCKCTL" --help | awk '/^Exit codes:/ {t = 1; next} t && /^  [0-9]+  / {print $1}' | xargs)
note "exit codes: README $readme_codes; operations.md $ops_codes; --help $help_codes"
[[ -n $readme_codes ]] || fail "no exit-code table in README.md"
assert_eq "$readme_codes" "$ops_codes" "exit codes of docs/operations.md = README.md"
assert_eq "$readme_codes" "$help_codes" "exit codes of stockctl --help = README.md"
for c in 4 5 6; do # the meaning of the codes most often mixed up, in both documents
  for doc in README.md docs/operations.md; do
    m=$(awk -v c="$c" '$1 == "|" && $2 == c && $3 == "|" {sub(/^\| [0-9]+ \| /, ""); print; exit}' "$SF_SRC/$doc")
    h=$("$STOCKCTL" --help | awk -v c="$c" '$1 == c {print; exit}')
    case $c in
    4) re='not found' ;;
    5) re='Admin API' ;;
    6) re='not migrated' ;;
    esac
    assert_match "$re" "$m" "$doc: meaning of exit code $c"
    assert_match "$re" "$h" "stockctl --help: meaning of exit code $c"
  done
done

# --- bad usage: 2 ---
expect 2 'unknown command "frobnicate"' frobnicate
expect 2 'expected list, show or redrive' dlq
expect 2 'unknown subcommand "frob"' dlq frob
expect 2 'expected one TOPIC' dlq list
expect 2 'unknown option --frob' dlq list inventory.stock.dlq --frob
expect 2 'option --limit needs a value' dlq list inventory.stock.dlq --limit
expect 2 '--limit "x"' dlq list inventory.stock.dlq --limit x
expect 2 '--since "yesterday"' dlq list inventory.stock.dlq --since yesterday
expect 2 '--error-class "bogus"' dlq list inventory.stock.dlq --error-class bogus
for bad in 0-5 x:1 1: :1 0:-1 "0:1 " 1:2:3 2147483648:0 0:9223372036854775808; do
  expect 2 "\"$bad\": expected PARTITION:OFFSET" dlq show inventory.stock.dlq "$bad"
done
expect 2 'unknown option -1' dlq show inventory.stock.dlq -1:0
expect 2 'expected TOPIC PARTITION:OFFSET' dlq show inventory.stock.dlq
expect 2 '--rate "0"' dlq redrive inventory.stock.dlq --rate 0
expect 2 '--rate "fast"' dlq redrive inventory.stock.dlq --rate fast
expect 2 'unknown role "nosuch"' replay nosuch --from-beginning
expect 2 'exactly one of --from-beginning and --from-time' replay order
expect 2 'exactly one of --from-beginning and --from-time' replay order --from-beginning --from-time 1h
expect 2 '--from-time "noon"' replay order --from-time noon
expect 2 'unexpected argument "x"' check x
expect 2 'expected one SKU' stock
expect 2 'unknown group "nosuch"' lag nosuch
KAFKA_BROKERS='not a broker list' expect 2 'KAFKA_BROKERS' dlq list inventory.stock.dlq

# --- not found: 4 (and no topic gets created by looking) ---
expect 4 'topic no.such.topic does not exist' dlq list no.such.topic
expect 4 'topic no.such.topic does not exist' dlq show no.such.topic 0:0
expect 4 'has no partition 99' dlq show inventory.stock.dlq 99:0
expect 4 'no record at inventory.stock.dlq 0:0' dlq show inventory.stock.dlq 0:0
expect 4 'topic no.such.topic does not exist' dlq redrive no.such.topic --dry-run
expect 4 'topic no.such.topic does not exist' dlq redrive no.such.topic
expect 4 '--to: topic no.such.target does not exist' dlq redrive inventory.stock.dlq --to no.such.target
expect 4 'SKU no-such-sku not found' stock no-such-sku
expect 4 'order no-such-order not found' order no-such-order
kcat -L -b "$KAFKA_BROKERS" >"$SF_TMP/topics.txt" 2>>"$SF_TMP/kcat.log"
if grep -q 'no\.such\.' "$SF_TMP/topics.txt"; then
  fail "a lookup created a topic: $(grep 'no\.such\.' "$SF_TMP/topics.txt")"
fi

# --- Kafka unreachable: 3 ---
export KAFKA_BROKERS=127.0.0.1:1
expect 3 'cannot reach Kafka at 127.0.0.1:1' dlq list inventory.stock.dlq
expect 3 'cannot reach Kafka at 127.0.0.1:1' dlq show inventory.stock.dlq 0:0
expect 3 'cannot reach Kafka at 127.0.0.1:1' dlq redrive inventory.stock.dlq --dry-run
expect 3 'cannot reach Kafka at 127.0.0.1:1' dlq redrive inventory.stock.dlq
expect 3 'cannot reach Kafka at 127.0.0.1:1' lag
expect 3 'cannot reach Kafka at 127.0.0.1:1' replay order --from-beginning
export KAFKA_BROKERS=$BROKER1

# --- PostgreSQL unreachable: 3 ---
export DATABASE_URL=postgresql://postgres@127.0.0.1:1/stockflow
expect 3 'cannot connect to PostgreSQL' check
expect 3 'cannot connect to PostgreSQL' checksum
expect 3 'cannot connect to PostgreSQL' stock sku-000
expect 3 'cannot connect to PostgreSQL' order o-1
expect 3 'cannot connect to PostgreSQL' replay order --from-beginning
expect 3 'cannot connect to PostgreSQL' dlq redrive inventory.stock.dlq
"$STOCKCTL" lag >"$SF_TMP/lag.out" 2>"$SF_TMP/lag.err" || fail "lag without a database: $(cat "$SF_TMP/lag.err")"
assert_eq "" "$(cat "$SF_TMP/lag.err")" "lag without a database: stderr"
assert_eq "timeout-worker: pending holds: unknown (database unreachable)" "$(tail -n 1 "$SF_TMP/lag.out")" "lag without a database"
export DATABASE_URL=$DB1

# --- DATABASE_URL unset: said so ---
rc=0
env -u DATABASE_URL "$STOCKCTL" check >"$SF_TMP/out" 2>"$SF_TMP/err" || rc=$?
((rc != 0)) || fail "check without DATABASE_URL succeeded"
assert_match 'DATABASE_URL is not set, so the default postgresql:///stockflow was tried' "$(cat "$SF_TMP/err")" "check without DATABASE_URL"

# --- not migrated: 6 ---
new_db nomig
expect 6 'database not migrated \(run `stockctl migrate`\)' check
expect 6 'database not migrated \(run `stockctl migrate`\)' stock sku-000
expect 6 'database not migrated \(run `stockctl migrate`\)' order o-1
"$STOCKCTL" lag >"$SF_TMP/lag.out" 2>&1 || fail "lag on a database not migrated: $(cat "$SF_TMP/lag.out")"
assert_eq "timeout-worker: pending holds: unknown (database not migrated)" "$(tail -n 1 "$SF_TMP/lag.out")" "lag on a database not migrated"
export DATABASE_URL=$DB1

# --- the development broker has no Admin API: 5 ---
rc=0
"$STOCKCTL" topics apply >"$SF_TMP/out" 2>"$SF_TMP/err" || rc=$?
assert_eq 5 "$rc" "topics apply against the development broker: exit status"
SEEN[5]=1

# --- a stream, two databases, two worker fleets ---
gen scenario --orders 600 --skus 20 --seed 53 --out "$SF_TMP/sc"
produce inventory.stock "$SF_TMP/sc/stock.txt"
start_worker stock
s1=$WORKER_PID
wait_idle 60 stockflow-stock
produce inventory.orders "$SF_TMP/sc/orders.txt"
start_worker order
o1=$WORKER_PID
start_worker order
o2=$WORKER_PID
wait_idle 90
dump_state >"$SF_TMP/state1.txt"
assert_files_eq "$SF_TMP/sc/expect.txt" "$SF_TMP/state1.txt" "state of the first database"

"$STOCKCTL" lag >"$SF_TMP/lag.out" || fail "stockctl lag failed"
holds=$(grep '^timeout-worker:' "$SF_TMP/lag.out")
assert_match 'timeout-worker: [0-9]+ pending holds, oldest expiry 20' "$holds" "lag: pending holds"
assert_eq "$(psql_q "SELECT count(*) FROM orders WHERE state = 'reserved'")" \
  "$(awk '{print $2}' <<<"$holds")" "lag: pending holds counted"
assert_match '^total stockflow-order: lag 0, 0 of 30 partition\(s\) behind$' "$(grep '^total stockflow-order' "$SF_TMP/lag.out")" "lag: the group's total"
grep -q ' -1001 ' "$SF_TMP/lag.out" && fail "lag shows -1001 for no committed offset: $(grep -m1 ' -1001 ' "$SF_TMP/lag.out")"
assert_match '^stockflow-order +inventory.orders.retry.1 +0 +- +0 +0 ' "$(grep -m1 'inventory.orders.retry.1 *0 ' "$SF_TMP/lag.out")" "lag: - for a partition without a committed offset"
"$STOCKCTL" lag --behind >"$SF_TMP/behind.out" || fail "stockctl lag --behind failed"
assert_eq 0 "$(grep -c '^stockflow-' "$SF_TMP/behind.out")" "lag --behind when caught up: no partition rows"
# overdue holds: no timeout-worker runs here, and the stream's orders are
# days old, so every hold is past its expiry
overdue=$(psql_q "SELECT count(*) FROM orders WHERE state = 'reserved' AND expires_at < now() - interval '1 second'")
((overdue > 0)) || fail "the scenario left no overdue hold to see"
assert_match "^warning: $overdue overdue hold\\(s\\): reserved past expires_at and not released, the oldest for [0-9]+d " "$(tail -n 1 "$SF_TMP/lag.out")" "lag: overdue holds"

# --- check: ok, then a corrupted row is named ---
skus=$(psql_q "SELECT count(*) FROM stock")
out=$("$STOCKCTL" check) || fail "check on a consistent database: $out"
assert_eq "ok: $skus SKUs checked" "$out" "check output"
bad=$(psql_q "SELECT sku FROM stock WHERE reserved < on_hand ORDER BY sku LIMIT 1")
psql_q "UPDATE stock SET reserved = reserved + 1 WHERE sku = '$bad'" >/dev/null
rc=0
"$STOCKCTL" check >"$SF_TMP/check.out" 2>"$SF_TMP/check.err" || rc=$?
assert_eq 1 "$rc" "check with a corrupted row: exit status ($(cat "$SF_TMP/check.err"))"
SEEN[1]=1
assert_match "^$bad +reserved [0-9]+ <> held reservations [0-9]+\$" "$(grep "^$bad " "$SF_TMP/check.out")" "check names $bad and its problem"
assert_match "^FAILED: 1 violation" "$(tail -n 1 "$SF_TMP/check.out")" "check summary"
rc=0
"$STOCKCTL" check --json >"$SF_TMP/check.json" || rc=$?
assert_eq "1|false|$bad" "$rc|$(jq -r '"\(.ok)|\(.violations[0].sku)"' "$SF_TMP/check.json")" "check --json"
psql_q "UPDATE stock SET reserved = reserved - 1 WHERE sku = '$bad'" >/dev/null
"$STOCKCTL" check >/dev/null || fail "check after undoing the corruption"

# --- lookups ---
"$STOCKCTL" stock "$bad" --json >"$SF_TMP/stock.json" || fail "stockctl stock $bad"
assert_eq "$(psql_q "SELECT on_hand FROM stock WHERE sku = '$bad'")" "$(jq .state.on_hand "$SF_TMP/stock.json")" "stock --json: on_hand"
(($(jq '.history | length' "$SF_TMP/stock.json") > 0)) || fail "stock $bad: no history"
oid=$(psql_q "SELECT order_id FROM orders WHERE state = 'reserved' ORDER BY order_id LIMIT 1")
"$STOCKCTL" order "$oid" >"$SF_TMP/order.out" || fail "stockctl order $oid"
assert_match '^state +reserved$' "$(grep '^state ' "$SF_TMP/order.out")" "order $oid: state"
grep -q ' order\.created .*applied' "$SF_TMP/order.out" || fail "order $oid: no order.created in its history: $(cat "$SF_TMP/order.out")"

# --- checksum: the same stream into a second database, read by one worker each ---
"$STOCKCTL" checksum --json >"$SF_TMP/sum1.json" || fail "checksum of the first database"
stop_worker "$o1"
stop_worker "$o2"
stop_worker "$s1"
new_db two
migrate
start_broker 6
produce inventory.stock "$SF_TMP/sc/stock.txt"
start_worker stock
s2=$WORKER_PID
wait_idle 60 stockflow-stock
produce inventory.orders "$SF_TMP/sc/orders.txt"
start_worker order
o3=$WORKER_PID
wait_idle 90
"$STOCKCTL" checksum --json >"$SF_TMP/sum2.json" || fail "checksum of the second database"
note "checksums: $(jq -c . "$SF_TMP/sum1.json")"
assert_eq "$(jq -c . "$SF_TMP/sum1.json")" "$(jq -c . "$SF_TMP/sum2.json")" "checksums of two databases fed the same stream"
"$STOCKCTL" checksum >"$SF_TMP/sum2.txt"
assert_eq "$(jq -r .combined "$SF_TMP/sum1.json")" "$(awk '$1 == "combined" {print $2}' "$SF_TMP/sum2.txt")" "checksum table: combined"
psql_q "UPDATE stock SET safety_stock = safety_stock + 1 WHERE sku = '$bad'" >/dev/null
"$STOCKCTL" checksum --json >"$SF_TMP/sum3.json"
assert_eq "$(jq -r .order_status.md5 "$SF_TMP/sum1.json")" "$(jq -r .order_status.md5 "$SF_TMP/sum3.json")" "order_status digest after a stock change"
[[ $(jq -r .stock_levels.md5 "$SF_TMP/sum1.json") != $(jq -r .stock_levels.md5 "$SF_TMP/sum3.json") ]] ||
  fail "the stock_levels digest did not change with a row"
stop_worker "$o3"
stop_worker "$s2"

# every documented exit code was seen above
for c in $readme_codes; do
  [[ -n ${SEEN[$c]:-} ]] || fail "documented exit code $c was never produced by this test"
done
