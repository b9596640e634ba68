#!/usr/bin/env bash
# The deadstock radar (DESIGN §9, issue 17): batches, FIFO, stockctl
# deadstock, its alerts, and the rebuild.
# A history at chosen event times, T = 2026-06-30T12:00:00Z (window: the 30
# days before T), unit costs set first (sku.configured):
#   A cost 10: A1 100 (Apr 1), A2 20 (Jun 25); 10 paid Jun 10; loss 5 Jun 20;
#      gain 3 Jun 26 (joins A2). A1 85, A2 23. Sold 10 / (100 + 20) = 8.33 %.
#      aged, with sales: discount, 108 x 10 = 1080.
#   B cost 2: B1 200 (Jun 10); 5 paid Jun 20: 2.5 %, 20 days old: slow,
#      bundle, 195 x 2 = 390.
#   C: 50 (Jun 27), nothing sold: slow but 3 days old (< 7): not dead.
#   D cost 4: 30 best before Jul 2 (Jun 20); 10 paid: expiring within 3
#      days: donate, 20 x 4 = 80.
#   E cost 1.5: E1 40 bb Aug 1 (Jun 15), E2 10 bb Jul 10 (Jun 16); 20 paid:
#      FIFO takes them from E1 (LIFO would empty E2); E2 expires within 14
#      days: discount, 30 x 1.5 = 45.
#   G: G1 5 bb Jul 1 (May 1), G2 10 (Jun 25); 5 paid take G1: not expiring,
#      5 days old, 33 %: not dead.
#   H: H1 10 (Apr 1), H2 10 (Jun 24); 10 held (not paid): the held units are
#      the oldest, the unsold ones H2, 6 days old: not dead.
# Checks: the batch table; `stockctl deadstock --as-of T --json` rows,
# reasons, actions, values (sorted by value); options change the answer;
# nothing dead: header only, exit 0; --alert twice: one alert per SKU at the
# webhook; the timeout-worker's radar (as of now: a new day) once per SKU
# over a restart; a rebuild from the ledger, and a replay of the topics into
# a fresh database, give the same batches and the same answer.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_alert.sh
source "$(dirname "$0")/lib_alert.sh"

T=2026-06-30T12:00:00Z
start_pg
migrate
start_broker 4
start_sink sink
start_alert_worker ALERT_WEBHOOK_URL="http://127.0.0.1:$SINK_PORT/alerts"
start_worker stock
stock_pid=$WORKER_PID
start_worker order
order_pid=$WORKER_PID
start_worker payment
pay_pid=$WORKER_PID

n=0
n_ev=0
ev() { n=$((n + 1)); }
cost() { ev; printf '%s|{"event_id":"e-%d","type":"sku.configured","occurred_at":"2026-03-01T00:00:00Z","sku":"%s","unit_cost":%s}\n' "$1" "$n" "$1" "$2"; }
# recv SKU QTY DATE [BATCH [BEST_BEFORE]]
recv() {
  ev
  local extra=''
  [[ -z ${4:-} ]] || extra+=",\"batch\":\"$4\""
  [[ -z ${5:-} ]] || extra+=",\"best_before\":\"$5\""
  printf '%s|{"event_id":"e-%d","type":"stock.received","occurred_at":"%sT08:00:00Z","sku":"%s","qty":%d%s}\n' "$1" "$n" "$3" "$1" "$2" "$extra"
}
adjust() { ev; printf '%s|{"event_id":"e-%d","type":"stock.adjusted","occurred_at":"%sT09:00:00Z","sku":"%s","delta":%d,"reason":"count"}\n' "$1" "$n" "$3" "$1" "$2"; }
# order ID SKU QTY DATE: created that day at 10:00, hold a week
order() { ev; printf '%s|{"event_id":"e-%d","type":"order.created","occurred_at":"%sT10:00:00Z","order_id":"%s","lines":[{"sku":"%s","qty":%d}],"hold_seconds":604800}\n' "$1" "$n" "$4" "$1" "$2" "$3"; }
pay() { ev; printf '%s|{"event_id":"e-%d","type":"payment.succeeded","occurred_at":"%sT11:00:00Z","order_id":"%s"}\n' "$1" "$n" "$2" "$1"; }
processed() { [[ $(psql_q "SELECT count(*) FROM processed_events") == "$n_ev" ]]; }
# { events; } >"$STEP"; on TOPIC: produced, then waits until every event
# so far is applied (no pipeline: a subshell would lose the counters)
STEP=$SF_TMP/step.txt
on() {
  produce "$1" "$SF_TMP/step.txt"
  n_ev=$((n_ev + $(wc -l <"$SF_TMP/step.txt")))
  wait_for "$n_ev events applied" 60 processed
}

{ cost A 10; cost B 2; cost D 4; cost E 1.5; } >"$STEP"
on inventory.stock
{
  recv A 100 2026-04-01 A1; recv A 20 2026-06-25 A2
  recv B 200 2026-06-10 B1
  recv C 50 2026-06-27 C1
  recv D 30 2026-06-20 D1 2026-07-02
  recv E 40 2026-06-15 E1 2026-08-01; recv E 10 2026-06-16 E2 2026-07-10
  recv G 5 2026-05-01 G1 2026-07-01; recv G 10 2026-06-25 G2 2026-12-31
  recv H 10 2026-04-01 H1; recv H 10 2026-06-24 H2
} >"$STEP"
on inventory.stock
# H's hold starts now (a week long): nothing expires it during the test
now=$(date -u +%Y-%m-%d)
{
  order oa A 10 2026-06-10; order ob B 5 2026-06-20; order od D 10 2026-06-25
  order oe E 20 2026-06-28; order og G 5 2026-06-26; order oh H 10 "$now"
} >"$STEP"
on inventory.orders
{ pay oa 2026-06-10; pay ob 2026-06-20; pay od 2026-06-25; pay oe 2026-06-28; pay og 2026-06-26; } >"$STEP"
on inventory.payments
{ adjust A -5 2026-06-20; adjust A 3 2026-06-26; } >"$STEP"
on inventory.stock

batches() {
  psql_q "SELECT sku, coalesce(batch, '-'), coalesce(best_before::text, '-'),
                 to_char(received_at AT TIME ZONE 'UTC', 'MM-DD'), coalesce(unit_cost::text, '-'),
                 qty_received, qty_left
            FROM stock_batches ORDER BY sku, received_at, id" -F ' '
}
batches >"$SF_TMP/batches.txt"
cat >"$SF_TMP/batches.want" <<'EOF'
A A1 - 04-01 10 100 85
A A2 - 06-25 10 20 23
B B1 - 06-10 2 200 195
C C1 - 06-27 - 50 50
D D1 2026-07-02 06-20 4 30 20
E E1 2026-08-01 06-15 1.5 40 20
E E2 2026-07-10 06-16 1.5 10 10
G G1 2026-07-01 05-01 - 5 0
G G2 2026-12-31 06-25 - 10 10
H H1 - 04-01 - 10 10
H H2 - 06-24 - 10 10
EOF
assert_files_eq "$SF_TMP/batches.want" "$SF_TMP/batches.txt" \
  "batches: sales and losses FIFO from the oldest, the gain joins the newest"
assert_eq 0 "$(psql_q "SELECT count(*) FROM stock s WHERE on_hand <> (SELECT coalesce(sum(qty_left), 0)
                        FROM stock_batches b WHERE b.sku = s.sku)")" "every SKU: on_hand = sum of its batches"

# radar FILE [args]: stockctl deadstock --json, rows as sku|reasons|action|unsold|value|age|st|bb
radar() {
  local out=$1 rc=0
  shift
  "$STOCKCTL" deadstock --json "$@" >"$SF_TMP/radar.json" 2>"$SF_TMP/radar.err" || rc=$?
  assert_eq 0 "$rc" "stockctl deadstock $* exit status ($(tail -n 1 "$SF_TMP/radar.err"))"
  jq -r '"\(.sku)|\(.reasons | join(","))|\(.action)|\(.unsold)|\(.value_at_risk)|\(.age_days)|\(.sell_through)|\(.best_before)"' \
    "$SF_TMP/radar.json" >"$out"
}
cat >"$SF_TMP/radar.want" <<'EOF'
A|aged|discount|108|1080|90|8.33|null
B|slow|bundle|195|390|20|2.5|null
D|expiring|donate|20|80|10|33.33|2026-07-02
E|expiring|discount|30|45|15|40|2026-07-10
EOF
radar "$SF_TMP/radar.txt" --as-of "$T"
assert_files_eq "$SF_TMP/radar.want" "$SF_TMP/radar.txt" "deadstock as of $T (by value at risk)"
note "radar as of $T: $(paste -sd ' ' "$SF_TMP/radar.txt")"
radar "$SF_TMP/radar2.txt" --as-of "$T" --sell-through 10 --expiry-days 1
printf '%s\n' 'A|aged,slow|discount|108|1080|90|8.33|null' 'B|slow|bundle|195|390|20|2.5|null' \
  >"$SF_TMP/radar2.want"
assert_files_eq "$SF_TMP/radar2.want" "$SF_TMP/radar2.txt" "--sell-through 10 --expiry-days 1"
radar "$SF_TMP/radar3.txt" --as-of 2026-07-04T12:00:00Z --age-days 100
# Jul 4: nothing is 100 days old; C is 7 days old now, with no sales (slow);
# H's unsold units (H2) are 10 days old, none sold (slow); G2 9 days, 5 of
# 15 sold; D's best before within 3 days, E's within 14
assert_eq "B|slow|bundle D|expiring|donate E|expiring|discount C|slow|bundle H|slow|bundle" \
  "$(cut -d'|' -f1-3 "$SF_TMP/radar3.txt" | paste -sd ' ')" "as of Jul 4, --age-days 100"
rc=0
"$STOCKCTL" deadstock --as-of "$T" --age-days 36500 --sell-through 0 --expiry-days 0 \
  >"$SF_TMP/empty.txt" 2>"$SF_TMP/empty.err" || rc=$?
assert_eq 0 "$rc" "nothing dead: exit status"
assert_match '^SKU +REASONS +ACTION' "$(cat "$SF_TMP/empty.txt")" "nothing dead: the header only"
assert_eq 1 "$(wc -l <"$SF_TMP/empty.txt")" "nothing dead: one line"
"$STOCKCTL" deadstock --as-of "$T" --json --age-days 36500 --sell-through 0 --expiry-days 0 \
  >"$SF_TMP/empty.json" || fail "deadstock --json, nothing dead"
assert_eq 0 "$(wc -c <"$SF_TMP/empty.json")" "nothing dead: no JSON line"
rc=0
"$STOCKCTL" deadstock --sell-through 101 2>/dev/null || rc=$?
assert_eq 2 "$rc" "--sell-through 101: usage"

# ---- alerts: on demand twice the same day, then the timeout-worker's run -----
for i in 1 2; do
  "$STOCKCTL" deadstock --as-of "$T" --alert >"$SF_TMP/alert$i.out" 2>"$SF_TMP/alert$i.err" ||
    fail "deadstock --alert ($i): $(tail -n 1 "$SF_TMP/alert$i.err")"
done
assert_match 'alerts raised: 4 ' "$(cat "$SF_TMP/alert1.err")" "first --alert: 4 alerts"
assert_match 'alerts raised: 0 ' "$(cat "$SF_TMP/alert2.err")" "second --alert the same day: none"
deadstock_requests() { jq -r '.body | fromjson | select(.kind == "deadstock") | .alert_id' "$SINK_REQ" | sort -u; }
has_deadstock() { [[ $(deadstock_requests | wc -l) -ge $1 ]]; }
wait_for "4 deadstock alerts at the webhook" 60 has_deadstock 4
assert_eq "deadstock:A:2026-06-30 deadstock:B:2026-06-30 deadstock:D:2026-06-30 deadstock:E:2026-06-30" \
  "$(deadstock_requests | paste -sd ' ')" "webhook: one alert per deadstock SKU (alert_id)"
summary=$(jq -r '.body | fromjson | select(.alert_id == "deadstock:A:2026-06-30") | .summary' "$SINK_REQ" | head -n 1)
assert_eq "SKU A is deadstock (aged): 108 unsold units, 1080 at risk; suggested: discount" "$summary" "summary"

# as of now every SKU with unsold units is months old: 7 alerts for today,
# raised by the timeout-worker at its start, none more after a restart
start_worker timeout
tw=$WORKER_PID
today=$(date -u +%Y-%m-%d)
radar_today() { [[ $(psql_q "SELECT count(*) FROM deadstock_alerts WHERE day = '$today'") == 7 ]]; }
wait_for "the timeout-worker's radar" 30 radar_today
stop_worker "$tw"
start_worker timeout
tw=$WORKER_PID
ran_again() { grep -q 'deadstock radar: 0 alert' "$(worker_log "$tw")"; }
wait_for "the restarted timeout-worker's radar" 30 ran_again
wait_for "11 deadstock alerts at the webhook" 60 has_deadstock 11
assert_eq 11 "$(jq -r '.body | fromjson | select(.kind == "deadstock") | .alert_id' "$SINK_REQ" | sort -u | wc -l)" \
  "alert ids: 4 (Jun 30) + 7 (today)"
assert_eq 11 "$(psql_q "SELECT count(*) FROM outbox WHERE topic = 'inventory.alerts'
                         AND payload->>'kind' = 'deadstock'")" "deadstock alerts in the outbox: one per SKU and day"
stop_worker "$tw"

# ---- rebuild from the ledger: same batches, same answer ------------------------
published() { [[ $(psql_q "SELECT count(*) FROM outbox_pending") == 0 ]]; }
wait_for "the outbox published" 60 published
stop_workers "$stock_pid" "$order_pid" "$pay_pid"
new_db rebuilt
migrate
"$STOCKCTL" rebuild --from-ledger --no-positions >"$SF_TMP/rebuild.out" 2>&1 ||
  fail "rebuild: $(tail -n 2 "$SF_TMP/rebuild.out")"
batches >"$SF_TMP/batches.rebuilt"
assert_files_eq "$SF_TMP/batches.want" "$SF_TMP/batches.rebuilt" "rebuilt batches"
radar "$SF_TMP/radar.rebuilt" --as-of "$T"
assert_files_eq "$SF_TMP/radar.want" "$SF_TMP/radar.rebuilt" "rebuilt: the same radar"
assert_invariants

# ---- replay from the beginning into a fresh database: the same answer --------
# (stock first, then orders, then payments: read all at once, an order read
# before its SKU's receipt would be rejected, a different history)
new_db replayed
migrate
reset_group stockflow-stock inventory.stock
reset_group stockflow-order inventory.orders
reset_group stockflow-payment inventory.payments
n_ev=17
start_worker stock
wait_for "the stock events replayed" 60 processed
n_ev=23
start_worker order
wait_for "the orders replayed" 60 processed
n_ev=28
start_worker payment
wait_for "the payments replayed" 60 processed
batches >"$SF_TMP/batches.replayed"
assert_files_eq "$SF_TMP/batches.want" "$SF_TMP/batches.replayed" "replayed batches"
radar "$SF_TMP/radar.replayed" --as-of "$T"
assert_files_eq "$SF_TMP/radar.want" "$SF_TMP/radar.replayed" "replayed: the same radar"
assert_invariants
