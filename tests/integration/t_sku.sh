#!/usr/bin/env bash
# SKU settings (DESIGN §9, issue 16): stockctl sku set produces sku.configured
# to inventory.stock, the stock-worker applies it, stockctl sku show shows it.
#  1. set prints what it sent (a fresh event_id each time, the fields given,
#     nothing else); show gives the settings, available and status;
#  2. an absent field leaves its setting alone; the status follows the §9
#     rules (ok, low at available <= threshold, hidden at available <
#     hide_below, hidden before low, oversold before both);
#  3. a SKU configured before its first receipt gets a row with nothing on
#     hand; a setting that changes nothing is recorded as ignored;
#  4. bad values: refused by stockctl set (exit 2, nothing sent); produced
#     raw, each is a dead letter on inventory.stock.dlq, class poison, with
#     its reason, and changes nothing;
#  5. the same events delivered again, and the whole topic replayed twice
#     (group reset to the beginning), change nothing;
#  6. rebuild --from-ledger into an empty database reproduces the stock
#     rows, settings included, row for row.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

start_pg
migrate
start_broker 6
live_db=$DATABASE_URL

printf '%s\n' \
  'sku-a|{"event_id":"recv-a","type":"stock.received","occurred_at":"2026-12-01T10:00:00Z","sku":"sku-a","qty":10}' \
  'sku-o|{"event_id":"recv-o","type":"stock.received","occurred_at":"2026-12-01T10:00:00Z","sku":"sku-o","qty":5}' \
  >"$SF_TMP/stock.txt"
produce inventory.stock "$SF_TMP/stock.txt"
start_worker stock
stock_pid=$WORKER_PID
wait_idle 60 stockflow-stock

# sku_set ARGS...: stockctl sku set --json, output in $SF_TMP/set.out; sets RC.
sku_set() {
  RC=0
  "$STOCKCTL" sku set "$@" --json >"$SF_TMP/set.out" 2>"$SF_TMP/set.err" || RC=$?
}
# show SKU COLUMNS...: the named columns of stockctl sku show --json, |-joined.
show() {
  local sku=$1
  shift
  "$STOCKCTL" sku show "$sku" --json >"$SF_TMP/show.out" 2>"$SF_TMP/show.err" ||
    fail "stockctl sku show $sku: $(<"$SF_TMP/show.err")"
  jq -r --arg c "$*" '[.[($c | split(" "))[]] | if . == null then "-" else tostring end] | join("|")' \
    "$SF_TMP/show.out"
}
applied() { wait_idle 60 stockflow-stock; }

# ---- 1. set and show -----------------------------------------------------------
sku_set sku-a --safety-stock 3 --low-stock-threshold 5 --hide-below 2 --unit-cost 2.50
assert_eq 0 "$RC" "sku set: exit status ($(<"$SF_TMP/set.err"))"
ev=$(jq -c .event "$SF_TMP/set.out")
assert_eq "inventory.stock" "$(jq -r .topic "$SF_TMP/set.out")" "sku set: topic"
assert_match '^[0-9]+$' "$(jq -r .offset "$SF_TMP/set.out")" "sku set: offset"
assert_match '^stockctl-sku-set-[0-9a-f]{32}$' "$(jq -r .event_id <<<"$ev")" "sku set: a fresh event_id"
assert_eq '{"type":"sku.configured","sku":"sku-a","safety_stock":3,"low_stock_threshold":5,"hide_below":2,"unit_cost":2.5}' \
  "$(jq -c 'del(.event_id, .occurred_at)' <<<"$ev")" "sku set: the event sent"
assert_match '"unit_cost":2\.50\}\}$' "$(<"$SF_TMP/set.out")" "sku set: unit_cost exactly as given"
id1=$(jq -r .event_id <<<"$ev")
rec=$(topic_records inventory.stock | jq -c --arg id "$id1" 'select((.payload | fromjson).event_id == $id)')
assert_eq "sku-a" "$(jq -r .key <<<"$rec")" "the record on inventory.stock is keyed by the SKU"
"$STOCKCTL" sku set sku-a --unit-cost 2.50 >"$SF_TMP/set-text.out" 2>&1 || fail "sku set (text): $(<"$SF_TMP/set-text.out")"
assert_match '^sent to inventory\.stock \[[0-9]+\] at offset [0-9]+:$' "$(head -n 1 "$SF_TMP/set-text.out")" "sku set prints where it sent"
id2=$(sed -n 2p "$SF_TMP/set-text.out" | jq -r .event_id)
[[ $id2 != "$id1" ]] || fail "two sku set runs used the same event_id $id1"
applied
assert_eq "3|5|2|2.50|10|0|7|ok" \
  "$(show sku-a safety_stock low_stock_threshold hide_below unit_cost on_hand reserved available status)" \
  "sku-a settings|stock|status"
assert_eq "available 7 > low_stock_threshold 5, >= hide_below 2" "$(show sku-a because)" "why ok"
assert_eq "applied ignored" "$(psql_q "SELECT string_agg(outcome, ' ' ORDER BY event_id = '$id1' DESC)
                                      FROM processed_events WHERE type = 'sku.configured'")" \
  "the second set changed nothing: ignored"
assert_eq "safety_stock 0 -> 3, low_stock_threshold 0 -> 5, hide_below 0 -> 2, unit_cost none -> 2.50" \
  "$(psql_q "SELECT detail FROM processed_events WHERE event_id = '$id1'")" "processed_events detail"

# ---- 2. absent fields unchanged; the status rules --------------------------------
sku_set sku-a --low-stock-threshold 7
applied
assert_eq "3|7|2|2.50|low|available 7 <= low_stock_threshold 7" \
  "$(show sku-a safety_stock low_stock_threshold hide_below unit_cost status because)" "low at available = threshold"
sku_set sku-a --hide-below 8
applied
assert_eq "hidden|available 7 < hide_below 8" "$(show sku-a status because)" "hidden before low"
sku_set sku-a --hide-below 7 --low-stock-threshold 6
applied
assert_eq "7|6|ok" "$(show sku-a hide_below low_stock_threshold status)" "available 7: not below hide_below 7, above 6"
sku_set sku-a --safety-stock 10
applied
assert_eq "0|hidden" "$(show sku-a available status)" "safety_stock 10 of 10: nothing available"
sku_set sku-a --safety-stock 3 --hide-below 2 --low-stock-threshold 5
applied
# oversold comes first: a loss below the reservations (an order holds 4 of 5)
start_worker order
order_pid=$WORKER_PID
printf '%s\n' 'o-1|{"event_id":"oc-1","type":"order.created","occurred_at":"2026-12-01T10:01:00Z","order_id":"o-1","lines":[{"sku":"sku-o","qty":4}],"hold_seconds":604800}' \
  >"$SF_TMP/orders.txt"
produce inventory.orders "$SF_TMP/orders.txt"
wait_idle 60 stockflow-order
sku_set sku-o --hide-below 3 --low-stock-threshold 2
printf '%s\n' 'sku-o|{"event_id":"adj-o","type":"stock.adjusted","occurred_at":"2026-12-01T10:02:00Z","sku":"sku-o","delta":-3,"reason":"damaged"}' \
  >"$SF_TMP/adj.txt"
produce inventory.stock "$SF_TMP/adj.txt"
applied
assert_eq "2|4|0|oversold" "$(show sku-o on_hand reserved available status)" "oversold before hidden and low"

# ---- 3. a SKU configured before its first receipt ----------------------------------
sku_set sku-new --safety-stock 2 --low-stock-threshold 1
applied
assert_eq "0|0|2|0|low" "$(show sku-new on_hand reserved safety_stock available status)" "sku-new: a row, nothing on hand"
printf '%s\n' 'sku-new|{"event_id":"recv-new","type":"stock.received","occurred_at":"2026-12-01T10:03:00Z","sku":"sku-new","qty":5}' \
  >"$SF_TMP/recv-new.txt"
produce inventory.stock "$SF_TMP/recv-new.txt"
applied
assert_eq "5|2|3|ok" "$(show sku-new on_hand safety_stock available status)" "sku-new after its receipt"
RC=0
"$STOCKCTL" sku show sku-none >/dev/null 2>"$SF_TMP/show-none.err" || RC=$?
assert_eq 4 "$RC" "sku show of an unknown SKU: exit status"
assert_match 'SKU sku-none not found' "$(<"$SF_TMP/show-none.err")" "sku show of an unknown SKU: message"

# ---- 4. bad values ---------------------------------------------------------------------
n_stock=$(topic_records inventory.stock | wc -l)
for args in "sku-a --safety-stock -1" "sku-a --hide-below 1000000001" "sku-a --low-stock-threshold x" \
  "sku-a --unit-cost -2" "sku-a --unit-cost 1e3" "sku-a --unit-cost abc" "sku-a" "" \
  "sku-a --frob 1" "$(printf 's%.0s' {1..65}) --safety-stock 1"; do
  # shellcheck disable=SC2086 # word splitting wanted
  sku_set $args
  assert_eq 2 "$RC" "stockctl sku set $args: exit status"
  [[ $(wc -l <"$SF_TMP/set.err") == 1 ]] || fail "stockctl sku set $args: not one line on stderr: $(<"$SF_TMP/set.err")"
done
assert_match 'refused: schema sku.configured: /sku: string longer than maxLength 64' "$(<"$SF_TMP/set.err")" \
  "a 65-character SKU is refused by the schema"
assert_eq "$n_stock" "$(topic_records inventory.stock | wc -l)" "nothing sent by the refused runs"
ev() { printf 'sku-a|{"event_id":"%s","type":"sku.configured","occurred_at":"2026-12-01T11:00:00Z","sku":"sku-a",%s}\n' "$1" "$2"; }
{
  ev bad-1 '"safety_stock":-1'
  ev bad-2 '"hide_below":"5"'
  ev bad-3 '"low_stock_threshold":2.5'
  ev bad-4 '"unit_cost":-0.5'
  ev bad-5 '"unit_cost":"2.50"'
  printf 'sku-a|{"type":"sku.configured","occurred_at":"2026-12-01T11:00:00Z","sku":"sku-a","safety_stock":1}\n'
} >"$SF_TMP/bad.txt"
before=$(show sku-a safety_stock low_stock_threshold hide_below unit_cost)
produce inventory.stock "$SF_TMP/bad.txt"
consume_dlq inventory.stock.dlq 6 30 >"$SF_TMP/dlq.json"
assert_eq 6 "$(wc -l <"$SF_TMP/dlq.json")" "dead letters on inventory.stock.dlq"
assert_eq "poison" "$(jq -r '.h["x-error-class"]' "$SF_TMP/dlq.json" | sort -u)" "every bad event is poison"
jq -r '.h["x-error"]' "$SF_TMP/dlq.json" | sort >"$SF_TMP/reasons.txt"
for want in '/safety_stock: -1 is less than minimum 0' '/hide_below: expected integer, got string "5"' \
  '/low_stock_threshold: expected integer, got number 2.5' '/unit_cost: -0.5 is less than minimum 0' \
  '/unit_cost: expected number, got string "2.50"' 'missing required property "event_id"'; do
  grep -qF -- "$want" "$SF_TMP/reasons.txt" || fail "no dead letter says '$want': $(cat "$SF_TMP/reasons.txt")"
done
applied
assert_eq "$before" "$(show sku-a safety_stock low_stock_threshold hide_below unit_cost)" "bad events changed nothing"

# ---- 5. delivered again, replayed twice --------------------------------------------------
wait_for "every outbox row published" 60 \
  bash -c '[[ $(psql "$DATABASE_URL" -XAtqc "SELECT count(*) FROM outbox_pending") == 0 ]]'
state_sql="SELECT format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', sku, on_hand, reserved, safety_stock,
                  low_stock_threshold, hide_below, unit_cost, received_total, adjusted_total, updated_at)
             FROM stock ORDER BY sku COLLATE \"C\""
psql_q "$state_sql" >"$SF_TMP/state0.txt"
n_pe=$(psql_q "SELECT count(*) FROM processed_events")
n_ledger=$(psql_q "SELECT count(*) FROM outbox WHERE topic = 'inventory.ledger'")
topic_records inventory.stock | jq -r '"\(.key)|\(.payload)"' | grep '"sku.configured"' >"$SF_TMP/again.txt"
produce inventory.stock "$SF_TMP/again.txt"
applied
stop_worker "$stock_pid"
for round in 1 2; do
  reset_group stockflow-stock inventory.stock
  start_worker stock
  stock_pid=$WORKER_PID
  applied
  stop_worker "$stock_pid"
  psql_q "$state_sql" >"$SF_TMP/state$round.txt"
  assert_files_eq "$SF_TMP/state0.txt" "$SF_TMP/state$round.txt" "stock rows after replay $round (updated_at included)"
  assert_eq "$n_pe" "$(psql_q "SELECT count(*) FROM processed_events")" "processed events after replay $round"
  assert_eq "$n_ledger" "$(psql_q "SELECT count(*) FROM outbox WHERE topic = 'inventory.ledger'")" "ledger rows after replay $round"
done
stop_worker "$order_pid"
dump_views >"$SF_TMP/live-views.txt"
psql_q "SELECT to_jsonb(s)::text FROM stock s ORDER BY sku COLLATE \"C\"" >"$SF_TMP/live-rows.txt"

# ---- 6. rebuild from the ledger ---------------------------------------------------------
new_db rebuilt
migrate
"$STOCKCTL" rebuild --from-ledger --no-positions >"$SF_TMP/rebuild.out" 2>"$SF_TMP/rebuild.err" ||
  fail "stockctl rebuild: $(tail -n 3 "$SF_TMP/rebuild.err")"
psql_q "SELECT to_jsonb(s)::text FROM stock s ORDER BY sku COLLATE \"C\"" >"$SF_TMP/rebuilt-rows.txt"
assert_files_eq "$SF_TMP/live-rows.txt" "$SF_TMP/rebuilt-rows.txt" "stock rows rebuilt from the ledger = live (settings included)"
dump_views >"$SF_TMP/rebuilt-views.txt"
assert_files_eq "$SF_TMP/live-views.txt" "$SF_TMP/rebuilt-views.txt" "stock_levels and order_status rebuilt = live"
note "rebuilt $(psql_q "SELECT count(*) FROM stock") stock rows; settings of sku-a: $(show sku-a safety_stock low_stock_threshold hide_below unit_cost)"
DATABASE_URL=$live_db
assert_invariants
