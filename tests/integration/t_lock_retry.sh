#!/usr/bin/env bash
# Transient failures (DESIGN §2, §6): a SKU row locked from psql longer than
# PG_LOCK_TIMEOUT_MS (300 ms), RETRY_BACKOFF_SECONDS=1,1.
#
# 1. The lock is released once the order went to inventory.orders.retry.1:
#    one retry record, key and value byte for byte, x-error-class transient,
#    x-attempt 1, x-original-* naming the source record, x-not-before =
#    x-first-failure-at + 1 s; the order is then applied exactly once, from
#    the retry topic, and reserves its units; nothing on retry.2 or the DLQ.
# 2. The lock is never released within the steps: retry.1 -> retry.2 ->
#    inventory.orders.dlq with x-error-class exhausted, x-attempt 3, the first
#    failure time inherited along the way, each step waiting its backoff, the
#    dead letter written after both backoffs; the order is not applied. Good
#    orders for another SKU, in the same partition, produced while the locked
#    one is retried, are applied meanwhile (before the dead letter exists).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_fail.sh
source "$(dirname "$0")/lib_fail.sh"

start_pg
migrate
start_broker_ctl 3

# order KEY EVENT_ID SKU QTY: one order.created line (key|value).
order() {
  printf '%s|{"event_id":"%s","type":"order.created","occurred_at":"2026-11-27T10:00:00Z","order_id":"%s","lines":[{"sku":"%s","qty":%d}]}\n' \
    "$1" "$2" "$1" "$3" "$4"
}

# good_batch NAME N: N orders of 1 unit of sku-good, ids gd-NAME-*.
good_batch() {
  local i
  for ((i = 0; i < $2; i++)); do order "gd-$1-$i" "ev-gd-$1-$i" sku-good 1; done >"$SF_TMP/good-$1.txt"
  produce inventory.orders "$SF_TMP/good-$1.txt" -p 0
}

# hdr NAME: header NAME of the record in $rec ("<missing>" if absent).
hdr() { jq -r --arg k "$1" '.h[$k] // "<missing>"' <<<"$rec"; }

# check_bytes TOPIC LINE_FILE: the record in $rec has the key and value of
# the line in LINE_FILE, byte for byte.
check_bytes() {
  local p o
  p=$(jq -r .partition <<<"$rec")
  o=$(jq -r .offset <<<"$rec")
  cut -d'|' -f1 "$2" | tr -d '\n' >"$SF_TMP/want.key"
  cut -d'|' -f2- "$2" | tr -d '\n' >"$SF_TMP/want.value"
  record_bytes "$1" "$p" "$o" key >"$SF_TMP/got.key"
  record_bytes "$1" "$p" "$o" value >"$SF_TMP/got.value"
  assert_files_eq "$SF_TMP/want.key" "$SF_TMP/got.key" "$1: key byte for byte"
  assert_files_eq "$SF_TMP/want.value" "$SF_TMP/got.value" "$1: value byte for byte"
}

# check_origin TOPIC SRC_JSON ATTEMPT CLASS: x-original-*, x-attempt,
# x-error-class, x-error, x-worker of the record in $rec.
check_origin() {
  local what=$1 src=$2
  assert_eq inventory.orders "$(hdr x-original-topic)" "$what: x-original-topic"
  assert_eq "$(jq -r .partition <<<"$src")" "$(hdr x-original-partition)" "$what: x-original-partition"
  assert_eq "$(jq -r .offset <<<"$src")" "$(hdr x-original-offset)" "$what: x-original-offset"
  assert_eq "$(jq -r .ts <<<"$src")" "$(hdr x-original-timestamp)" "$what: x-original-timestamp"
  assert_eq stockflow-order "$(hdr x-original-group)" "$what: x-original-group"
  assert_eq "$3" "$(hdr x-attempt)" "$what: x-attempt"
  assert_eq "$4" "$(hdr x-error-class)" "$what: x-error-class"
  assert_match '55P03|lock' "$(hdr x-error)" "$what: x-error names the lock timeout"
  assert_eq 1 "$(hdr x-error | wc -l)" "$what: x-error is one line"
  assert_match '^order-worker' "$(hdr x-worker)" "$what: x-worker"
  assert_match '^[0-9]{13}$' "$(hdr x-first-failure-at)" "$what: x-first-failure-at (epoch ms)"
}

# source_record KEY: the inventory.orders record with KEY (topic_records format).
source_record() {
  topic_records inventory.orders | jq -c --arg k "$1" 'select(.key == $k)'
}

# wait_sql DESCRIPTION TIMEOUT_S SQL EXPECTED
wait_sql() { wait_for "$1" "$2" sql_equals "$3" "$4"; }

# in_range WHAT VALUE LO HI
in_range() {
  (($2 >= $3 && $2 <= $4)) || fail "$1: $2 not within [$3, $4]"
}

{
  printf 'sku-lock-1|{"event_id":"r-1","type":"stock.received","occurred_at":"2026-11-27T09:00:00Z","sku":"sku-lock-1","qty":10}\n'
  printf 'sku-lock-2|{"event_id":"r-2","type":"stock.received","occurred_at":"2026-11-27T09:00:00Z","sku":"sku-lock-2","qty":10}\n'
  printf 'sku-good|{"event_id":"r-3","type":"stock.received","occurred_at":"2026-11-27T09:00:00Z","sku":"sku-good","qty":1000}\n'
} >"$SF_TMP/stock.txt"
produce inventory.stock "$SF_TMP/stock.txt"
start_worker stock
s1=$WORKER_PID
wait_idle 60 stockflow-stock
start_worker order PG_LOCK_TIMEOUT_MS=300 RETRY_BACKOFF_SECONDS=1,1
o1=$WORKER_PID
wait_assigned "$o1"

# ---- 1: lock released after the first retry record ------------------------------
note "case 1: lock released once the order is on retry.1"
lock_hold sku-lock-1
order o-lock-1 ev-lock-1 sku-lock-1 3 >"$SF_TMP/lock1.txt"
good_batch a 5
produce inventory.orders "$SF_TMP/lock1.txt" -p 0
good_batch b 5
wait_log_line "$o1" '"retry to inventory\.orders\.retry\.1' 30
lock_release
wait_for "the retry record on inventory.orders.retry.1" 30 topic_has inventory.orders.retry.1 1
rec=$(topic_records inventory.orders.retry.1)
src=$(source_record o-lock-1)
assert_eq 1 "$(grep -c . <<<"$rec")" "records on inventory.orders.retry.1"
check_origin "retry.1 (case 1)" "$src" 1 transient
check_bytes inventory.orders.retry.1 "$SF_TMP/lock1.txt"
ffa=$(hdr x-first-failure-at)
nb=$(hdr x-not-before)
assert_match '^[0-9]{13}$' "$nb" "x-not-before (epoch ms)"
note "retry.1: first failure $ffa, not before $nb (+$((nb - ffa)) ms), record ts $(jq -r .ts <<<"$rec")"
in_range "x-not-before - x-first-failure-at (backoff 1 s)" $((nb - ffa)) 900 1100
in_range "x-not-before - retry record timestamp" $((nb - $(jq -r .ts <<<"$rec"))) 800 1100
in_range "x-first-failure-at between the source record and the retry record" \
  "$ffa" "$(jq -r .ts <<<"$src")" "$(jq -r .ts <<<"$rec")"
wait_sql "ev-lock-1 applied" 30 "SELECT count(*) FROM processed_events WHERE event_id = 'ev-lock-1'" 1
assert_eq "inventory.orders.retry.1|applied" \
  "$(psql_q "SELECT topic || '|' || outcome FROM processed_events WHERE event_id = 'ev-lock-1'")" \
  "ev-lock-1 applied once, read from the retry topic"
ap=$(psql_q "SELECT (extract(epoch FROM processed_at) * 1000)::bigint FROM processed_events WHERE event_id = 'ev-lock-1'")
((ap >= nb)) || fail "ev-lock-1 applied at $ap, before its x-not-before $nb"
assert_eq "O|o-lock-1|reserved" "$(psql_q "SELECT format('O|%s|%s', order_id, state) FROM order_status WHERE order_id = 'o-lock-1'")" "o-lock-1"
assert_eq "10|3" "$(psql_q "SELECT on_hand || '|' || reserved FROM stock_levels WHERE sku = 'sku-lock-1'")" "sku-lock-1 on_hand|reserved"
wait_sql "the good orders of case 1" 30 "SELECT count(*) FROM processed_events WHERE event_id LIKE 'ev-gd-%'" 10
assert_eq 0 "$(topic_count inventory.orders.retry.2)" "records on inventory.orders.retry.2 after case 1"
assert_eq 0 "$(topic_count inventory.orders.dlq)" "records on inventory.orders.dlq after case 1"

# ---- 2: lock held past the last step -----------------------------------------
note "case 2: lock held until the dead letter"
lock_hold sku-lock-2
order o-lock-2 ev-lock-2 sku-lock-2 4 >"$SF_TMP/lock2.txt"
produce inventory.orders "$SF_TMP/lock2.txt" -p 0
good_batch c 5
wait_for "the second retry.1 record" 30 topic_has inventory.orders.retry.1 2
good_batch d 5 # produced while o-lock-2 waits its first backoff
wait_sql "the good orders produced while o-lock-2 is retried" 30 \
  "SELECT count(*) FROM processed_events WHERE event_id LIKE 'ev-gd-c-%' OR event_id LIKE 'ev-gd-d-%'" 10
wait_for "the dead letter" 40 topic_has inventory.orders.dlq 1
lock_release
sleep 1 # an extra retry or dead letter would show up now
src=$(source_record o-lock-2)
assert_eq 2 "$(topic_count inventory.orders.retry.1)" "records on inventory.orders.retry.1"
assert_eq 1 "$(topic_count inventory.orders.retry.2)" "records on inventory.orders.retry.2"
assert_eq 1 "$(topic_count inventory.orders.dlq)" "records on inventory.orders.dlq"
assert_eq 0 "$(topic_count inventory.orders.retry.3)" "records on inventory.orders.retry.3 (only 2 steps)"

rec=$(topic_records inventory.orders.retry.1 | jq -c 'select(.key == "o-lock-2")')
check_origin "retry.1 (case 2)" "$src" 1 transient
check_bytes inventory.orders.retry.1 "$SF_TMP/lock2.txt"
ffa1=$(hdr x-first-failure-at)
nb1=$(hdr x-not-before)
in_range "retry.1 x-not-before - x-first-failure-at" $((nb1 - ffa1)) 900 1100

rec=$(topic_records inventory.orders.retry.2)
check_origin "retry.2" "$src" 2 transient
check_bytes inventory.orders.retry.2 "$SF_TMP/lock2.txt"
assert_eq "$ffa1" "$(hdr x-first-failure-at)" "retry.2 inherits x-first-failure-at"
nb2=$(hdr x-not-before)
ts2=$(jq -r .ts <<<"$rec")
((ts2 >= nb1)) || fail "retry.2 written at $ts2, before retry.1's x-not-before $nb1"
in_range "retry.2 x-not-before - its timestamp (backoff 1 s)" $((nb2 - ts2)) 800 1100

rec=$(topic_records inventory.orders.dlq)
check_origin "dlq" "$src" 3 exhausted
check_bytes inventory.orders.dlq "$SF_TMP/lock2.txt"
assert_eq "$ffa1" "$(hdr x-first-failure-at)" "dead letter inherits x-first-failure-at"
assert_eq "<missing>" "$(hdr x-not-before)" "dead letter has no x-not-before"
tsd=$(jq -r .ts <<<"$rec")
((ffa1 <= tsd)) || fail "x-first-failure-at $ffa1 after the dead letter's timestamp $tsd"
((tsd >= nb2)) || fail "dead letter written at $tsd, before retry.2's x-not-before $nb2"
in_range "dead letter timestamp - first failure (two 1 s steps + quick tries)" $((tsd - ffa1)) 2000 30000
note "case 2 timings: first failure $ffa1, retry.1 due +$((nb1 - ffa1)), retry.2 at +$((ts2 - ffa1)) due +$((nb2 - ffa1)), dead letter at +$((tsd - ffa1)) ms"

assert_eq 0 "$(processed_count "event_id = 'ev-lock-2'")" "ev-lock-2 not applied (dead letter)"
assert_eq "10|0" "$(psql_q "SELECT on_hand || '|' || reserved FROM stock_levels WHERE sku = 'sku-lock-2'")" "sku-lock-2 on_hand|reserved"
# the good orders of case 2 were applied while o-lock-2 was being retried
late=$(psql_q "SELECT count(*) FROM processed_events WHERE (event_id LIKE 'ev-gd-c-%' OR event_id LIKE 'ev-gd-d-%')
                 AND processed_at >= to_timestamp($tsd / 1000.0)")
assert_eq 0 "$late" "good orders of case 2 applied only after the dead letter was written"
assert_processed_exactly "$SF_TMP/stock.txt" "$SF_TMP/lock1.txt" "$SF_TMP"/good-*.txt
assert_eq "1000|20" "$(psql_q "SELECT on_hand || '|' || reserved FROM stock_levels WHERE sku = 'sku-good'")" "sku-good on_hand|reserved"
assert_invariants
wait_idle 30
stop_workers "$o1" "$s1"
