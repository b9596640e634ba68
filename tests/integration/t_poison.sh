#!/usr/bin/env bash
# Poison: invalid JSON (two kinds), schema violations, an unknown type, a
# 70 KiB event, a payment event on inventory.orders, an order event on
# inventory.stock, a stock adjustment that would make on_hand negative ->
# each lands in <source>.dlq with its key and value byte for byte and the
# DESIGN §2 headers (error class poison, original topic/partition/offset/
# timestamp/group, a one-line x-error naming the cause, x-worker), while the
# good events around them in the same partition are applied.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

start_pg
migrate
start_broker 6

# error text expected per label (case-insensitive regex on x-error)
declare -A CAUSE=(
  [invalid-json]='json|pars|syntax|invalid'
  [schema]='schema|required|missing|lines|qty|minimum|type|integer'
  [unknown-type]='unknown|order\.teleported|type'
  [oversize]='64|size|large|long|bytes|kib'
  [wrong-topic]='payment\.succeeded|order\.created|topic|not handled|unexpected|type'
  [negative]='negative|on_hand'
)

# hdr NAME: header NAME of the dead letter in $rec, "<missing>" if absent
hdr() { jq -r --arg k "$1" '.h[$k] // "<missing>"' <<<"$rec"; }

# check_dlq SOURCE_TOPIC DLQ_TOPIC GROUP LINES_FILE LABELS_FILE
check_dlq() {
  local src=$1 dlq=$2 group=$3 lines=$4 labels=$5
  local -a lab
  local nbad n i rec src_rec ts t off p o
  mapfile -t lab <"$labels"
  nbad=$(grep -vcx good "$labels")
  topic_records "$src" >"$SF_TMP/$src.records"
  assert_eq "${#lab[@]}" "$(wc -l <"$SF_TMP/$src.records")" "records in $src"
  assert_eq 0 "$(jq -r .partition "$SF_TMP/$src.records" | sort -u)" "all $src records on partition 0"
  consume_dlq "$dlq" "$nbad" 30 >"$SF_TMP/$dlq.records"
  n=$(wc -l <"$SF_TMP/$dlq.records")
  sleep 1 # anything extra would show up now
  consume_dlq "$dlq" "$nbad" 1 >"$SF_TMP/$dlq.records"
  assert_eq "$nbad" "$(wc -l <"$SF_TMP/$dlq.records")" "dead letters in $dlq (saw $n first)"

  # dead letters in the order of their original offsets
  jq -sc 'sort_by(.h["x-original-offset"] | tonumber? // -1)[]' "$SF_TMP/$dlq.records" >"$SF_TMP/$dlq.sorted"
  i=0
  for ((o = 0; o < ${#lab[@]}; o++)); do
    [[ ${lab[o]} != good ]] || continue
    i=$((i + 1))
    rec=$(sed -n "${i}p" "$SF_TMP/$dlq.sorted")
    src_rec=$(jq -c --argjson o "$o" 'select(.offset == $o)' "$SF_TMP/$src.records")
    ts=$(jq -r .ts <<<"$src_rec")
    note "$dlq: ${lab[o]} (offset $o): x-error: $(hdr x-error | cut -c1-160)"
    assert_eq "$src" "$(hdr x-original-topic)" "${lab[o]}: x-original-topic"
    assert_eq 0 "$(hdr x-original-partition)" "${lab[o]}: x-original-partition"
    assert_eq "$o" "$(hdr x-original-offset)" "${lab[o]}: x-original-offset"
    assert_eq poison "$(hdr x-error-class)" "${lab[o]}: x-error-class"
    assert_eq "$group" "$(hdr x-original-group)" "${lab[o]}: x-original-group"
    assert_match '^[0-9]+$' "$(hdr x-attempt)" "${lab[o]}: x-attempt"
    assert_match '^[^<].+' "$(hdr x-first-failure-at)" "${lab[o]}: x-first-failure-at"
    assert_match "${group#stockflow-}" "$(hdr x-worker)" "${lab[o]}: x-worker names the worker"
    assert_match "${CAUSE[${lab[o]}]}" "$(hdr x-error)" "${lab[o]}: x-error names the cause"
    assert_eq 1 "$(hdr x-error | wc -l)" "${lab[o]}: x-error is one line"
    t=$(hdr x-first-failure-at)
    if [[ $t =~ ^[0-9]+$ ]]; then
      ((t >= ts)) || fail "${lab[o]}: x-first-failure-at $t is before the source record's timestamp $ts"
    fi
    t=$(hdr x-original-timestamp)
    if [[ $t =~ ^[0-9]+$ ]]; then
      assert_eq "$ts" "$t" "${lab[o]}: x-original-timestamp (epoch ms of the source record)"
    else
      assert_eq "$ts" "$(($(date -d "$t" +%s%N) / 1000000))" "${lab[o]}: x-original-timestamp ('$t')"
    fi
    # key and value byte for byte against what was produced
    p=$(jq -r .partition <<<"$rec")
    off=$(jq -r .offset <<<"$rec")
    sed -n "$((o + 1))p" "$lines" | cut -d'|' -f1 | tr -d '\n' >"$SF_TMP/want.key"
    sed -n "$((o + 1))p" "$lines" | cut -d'|' -f2- | tr -d '\n' >"$SF_TMP/want.value"
    record_bytes "$dlq" "$p" "$off" key >"$SF_TMP/got.key"
    record_bytes "$dlq" "$p" "$off" value >"$SF_TMP/got.value"
    assert_files_eq "$SF_TMP/want.key" "$SF_TMP/got.key" "${lab[o]}: dead letter key byte for byte"
    cmp -s "$SF_TMP/want.value" "$SF_TMP/got.value" ||
      fail "${lab[o]}: dead letter value differs from the produced value ($(wc -c <"$SF_TMP/want.value") bytes produced, $(wc -c <"$SF_TMP/got.value") in the DLQ)"
  done
}

# --- inventory.stock, partition 0 ---
gen poison stock --labels "$SF_TMP/stock.labels" >"$SF_TMP/stock.txt"
produce inventory.stock "$SF_TMP/stock.txt" -p 0
start_worker stock
s1=$WORKER_PID
wait_idle 60 stockflow-stock
check_dlq inventory.stock inventory.stock.dlq stockflow-stock "$SF_TMP/stock.txt" "$SF_TMP/stock.labels"
assert_eq "13|0|15|-2" "$(psql_q "SELECT on_hand || '|' || reserved || '|' || received_total || '|' || adjusted_total FROM stock WHERE sku = 'sku-p'")" \
  "sku-p after the good stock events (on_hand|reserved|received|adjusted)"
assert_eq "s-good-1 s-good-2 s-good-3" "$(psql_q "SELECT string_agg(event_id, ' ' ORDER BY event_id) FROM processed_events")" \
  "processed stock events (poison never recorded)"

# --- inventory.orders, partition 0 ---
gen poison orders --labels "$SF_TMP/orders.labels" >"$SF_TMP/orders.txt"
big=$(grep -n oversize "$SF_TMP/orders.labels" | cut -d: -f1)
size=$(sed -n "${big}p" "$SF_TMP/orders.txt" | cut -d'|' -f2- | tr -d '\n' | wc -c)
((size > 70 * 1024)) || fail "the oversize event is only $size bytes"
produce inventory.orders "$SF_TMP/orders.txt" -p 0
start_worker order
o1=$WORKER_PID
wait_idle 60
check_dlq inventory.orders inventory.orders.dlq stockflow-order "$SF_TMP/orders.txt" "$SF_TMP/orders.labels"
assert_eq "O|po-1|reserved O|po-2|reserved O|po-3|reserved" \
  "$(psql_q "SELECT string_agg(format('O|%s|%s', order_id, state), ' ' ORDER BY order_id) FROM order_status")" \
  "the good orders around the poison are applied, nothing else"
assert_eq "13|6" "$(psql_q "SELECT on_hand || '|' || reserved FROM stock_levels WHERE sku = 'sku-p'")" "sku-p after the orders (on_hand|reserved)"
assert_eq "p-good-1 p-good-2 p-good-3 s-good-1 s-good-2 s-good-3" \
  "$(psql_q "SELECT string_agg(event_id, ' ' ORDER BY event_id) FROM processed_events")" "processed events"
assert_eq 0 "$(topic_records inventory.orders.retry.1 | wc -l)" "records in inventory.orders.retry.1 (poison skips retries)"
assert_invariants

stop_workers "$o1" "$s1"
