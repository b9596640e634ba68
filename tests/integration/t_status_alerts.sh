#!/usr/bin/env bash
# Status alerts (DESIGN §9, issue 16): one alert per status change of a SKU,
# never one per event, through the outbox to inventory.alerts and the
# webhook (alert-worker, Idempotency-Key).
# sku-t: on_hand 10, low_stock_threshold 5, hide_below 2 (ok), then, one
# step at a time (each step waits until applied):
#   4 orders of 1 (available 6, ok)                 nothing
#   1 order (5)                                     low_stock
#   2 orders (3, still low)                         nothing
#   2 orders (1 < hide_below 2)                     hidden
#   receipt of 10 (11)                              back_in_stock
#   low_stock_threshold 20, then 20 again           low_stock (once)
#   hide_below 15                                   hidden
#   hide_below 0, low_stock_threshold 0             back_in_stock
#   one batch: a loss of 11 and a receipt of 11     nothing (ok -> low at
#                                                   available 0 -> ok, within
#                                                   one transaction)
# sku-m: on_hand 100, low_stock_threshold 95; 70 orders of 1 in batches:
#   one low_stock, nothing more while it stays low.
# sku-o: a loss below the reservations: only the oversold alert of §4.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_alert.sh
source "$(dirname "$0")/lib_alert.sh"

start_pg
migrate
start_broker 6
start_sink sink
start_alert_worker ALERT_WEBHOOK_URL="http://127.0.0.1:$SINK_PORT/alerts"
start_worker stock
stock_pid=$WORKER_PID
start_worker order
order_pid=$WORKER_PID

n=0
T=2026-12-01T10:00:00Z
# stock SKU QTY | adjust SKU DELTA: one event on inventory.stock.
stock() {
  n=$((n + 1))
  printf '%s|{"event_id":"st-%d","type":"stock.received","occurred_at":"%s","sku":"%s","qty":%d}\n' "$1" "$n" "$T" "$1" "$2"
}
adjust() {
  n=$((n + 1))
  printf '%s|{"event_id":"st-%d","type":"stock.adjusted","occurred_at":"%s","sku":"%s","delta":%d,"reason":"count"}\n' "$1" "$n" "$T" "$1" "$2"
}
# orders SKU COUNT: COUNT orders of one unit, long holds.
orders() {
  local i
  for ((i = 0; i < $2; i++)); do
    n=$((n + 1))
    printf 'o-%d|{"event_id":"oc-%d","type":"order.created","occurred_at":"%s","order_id":"o-%d","lines":[{"sku":"%s","qty":1}],"hold_seconds":604800}\n' \
      "$n" "$n" "$T" "$n" "$1"
  done
}
n_ev=0 # events produced so far; each is applied (processed_events)
processed() { [[ $(psql_q "SELECT count(*) FROM processed_events") == "$n_ev" ]]; }
# on TOPIC EVENT_FUNCTION ARGS...: the events it writes produced to TOPIC,
# then waits until every event so far is applied (no pipeline: a subshell
# would lose the counters)
on() {
  local topic=$1
  shift
  "$@" >"$SF_TMP/step.txt"
  produce "$topic" "$SF_TMP/step.txt"
  n_ev=$((n_ev + $(wc -l <"$SF_TMP/step.txt")))
  wait_for "$n_ev events applied" 60 processed
}
set_sku() {
  "$STOCKCTL" sku set "$@" >>"$SF_TMP/sku-set.out" 2>&1 || fail "sku set $*: $(tail -n 1 "$SF_TMP/sku-set.out")"
  n_ev=$((n_ev + 1))
  wait_for "$n_ev events applied" 60 processed
}
# kinds SKU: the status alert kinds of SKU in the outbox, in order.
kinds() {
  psql_q "SELECT coalesce(string_agg(payload->>'kind', ' ' ORDER BY id), '') FROM outbox
           WHERE topic = 'inventory.alerts' AND payload->'details'->>'sku' = '$1'"
}
step() { # SKU EXPECTED_KINDS MESSAGE
  [[ $(kinds "$1") == "$2" ]] ||
    note "stock_levels: $(psql_q "SELECT concat_ws('|', l.*) FROM stock_levels l WHERE sku = '$1'")"
  assert_eq "$2" "$(kinds "$1")" "$3"
  note "$1: $3: ${2:-no alert}"
}

on inventory.stock stock sku-t 10
set_sku sku-t --low-stock-threshold 5 --hide-below 2
step sku-t "" "configured, available 10: ok"
on inventory.orders orders sku-t 4
step sku-t "" "available 6: still ok"
on inventory.orders orders sku-t 1
step sku-t "low_stock" "available 5: low"
on inventory.orders orders sku-t 2
step sku-t "low_stock" "available 3: still low"
on inventory.orders orders sku-t 2
step sku-t "low_stock hidden" "available 1: hidden"
on inventory.stock stock sku-t 10
step sku-t "low_stock hidden back_in_stock" "available 11: back in stock"
set_sku sku-t --low-stock-threshold 20
set_sku sku-t --low-stock-threshold 20
step sku-t "low_stock hidden back_in_stock low_stock" "low_stock_threshold 20 (twice): low once"
set_sku sku-t --hide-below 15
step sku-t "low_stock hidden back_in_stock low_stock hidden" "hide_below 15: hidden"
set_sku sku-t --hide-below 0 --low-stock-threshold 0
want="low_stock hidden back_in_stock low_stock hidden back_in_stock"
step sku-t "$want" "thresholds 0: back in stock"

# down and up again within one batch: the stock-worker is stopped while both are produced
stop_worker "$stock_pid"
adjust sku-t -11 >"$SF_TMP/both.txt"
stock sku-t 11 >>"$SF_TMP/both.txt"
produce inventory.stock "$SF_TMP/both.txt"
n_ev=$((n_ev + 2))
start_worker stock
stock_pid=$WORKER_PID
wait_for "$n_ev events applied" 60 processed
assert_eq 1 "$(psql_q "SELECT count(DISTINCT processed_at) FROM processed_events
                        WHERE event_id IN ('st-$((n - 1))', 'st-$n')")" "the loss and the receipt in one transaction"
assert_eq "20|9|11" "$(psql_q "SELECT on_hand || '|' || reserved || '|' || available FROM stock_levels WHERE sku = 'sku-t'")" \
  "sku-t after the batch (on_hand|reserved|available)"
step sku-t "$want" "ok -> low -> ok within one transaction: nothing"

# a status that holds over many events and batches
on inventory.stock stock sku-m 100
set_sku sku-m --low-stock-threshold 95
on inventory.orders orders sku-m 10
step sku-m "low_stock" "sku-m: available 90: low"
on inventory.orders orders sku-m 60
step sku-m "low_stock" "sku-m: 60 more orders, still low: nothing more"
assert_eq "30|low" "$(psql_q "SELECT available || '|' || status FROM stock_levels WHERE sku = 'sku-m'")" "sku-m at the end"

# oversold: the §4 alert only
on inventory.stock stock sku-o 5
on inventory.orders orders sku-o 4
on inventory.stock adjust sku-o -3
step sku-o "oversold" "sku-o: a loss below the reservations: the oversold alert only"

# ---- through inventory.alerts to the webhook ---------------------------------------
total=$(psql_q "SELECT count(*) FROM outbox WHERE topic = 'inventory.alerts'")
assert_eq 8 "$total" "alerts in the outbox (6 sku-t, 1 sku-m, 1 sku-o)"
wait_requests "$SINK_REQ" "$total" 60
jq -r '.body | fromjson | "\(.kind)|\(.details.sku)|\(.alert_id)"' "$SINK_REQ" | sort -u >"$SF_TMP/webhook.txt"
psql_q "SELECT payload->>'kind' || '|' || (payload->'details'->>'sku') || '|' || key FROM outbox
         WHERE topic = 'inventory.alerts'" | sort >"$SF_TMP/outbox.txt"
assert_files_eq "$SF_TMP/outbox.txt" "$SF_TMP/webhook.txt" "the webhook received every alert of the outbox"
assert_eq 0 "$(jq -r 'select(.idempotency_key != (.body | fromjson | .alert_id))' "$SINK_REQ" | wc -l)" \
  "Idempotency-Key = alert_id"
assert_match '^low_stock:sku-t:[0-9]+$' "$(psql_q "SELECT key FROM outbox WHERE topic = 'inventory.alerts'
                                                    AND payload->>'kind' = 'low_stock' ORDER BY id LIMIT 1")" "alert_id"
note "webhook: $(jq -r '.body | fromjson | .summary' "$SINK_REQ" | head -n 3 | paste -sd ';')"
assert_match '^SKU sku-t is low: available 5 <= low_stock_threshold 5$' \
  "$(psql_q "SELECT payload->>'summary' FROM outbox WHERE topic = 'inventory.alerts' ORDER BY id LIMIT 1")" "summary"
assert_invariants
stop_worker "$order_pid"
stop_worker "$stock_pid"
