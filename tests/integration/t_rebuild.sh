#!/usr/bin/env bash
# stockctl rebuild --from-ledger (issue 6, DESIGN §5.5).
#  1. A dev broker whose inventory.ledger has 48 partitions (it keeps only
#     about 5 MiB per partition: nothing may be dropped), two order-workers, a
#     payment-, a timeout- and a stock-worker, and a deterministic mixed
#     stream: receipts for 50 SKUs, 3,000 orders of 1-3 lines (80% paid, 10%
#     cancelled, 5% failed then paid, 5% never paid with 2 s holds that
#     expire), 8 orders naming an unknown SKU (rejected; 4 paid anyway:
#     refund_required), receipts and adjustments during the stream. Then,
#     once that is read, events the rules ignore but whose facts the order
#     row keeps: cancellations and failures after the payment, a second
#     payment dated before the first, cancellations (dated before the
#     payment) of 5 orders known only by their payment (awaiting_order),
#     followed by 100 more paid orders. Wait until consumed, every hold
#     released and the outbox published; the ledger lost nothing.
#  2. The live checksum; stop the workers; the role groups lose their
#     positions (reset to 0); a fresh database, migrate, rebuild: exit 0,
#     "rebuilt in X s", every ledger record read; checksum, SELECT * FROM
#     stock, the order rows (state and every fact), created_at, hold_seconds
#     and lines equal the live ones; stockctl check passes; every applied
#     event id is restored (and no id the live database lacks); each role
#     group's position is the live one (the offset after the last event of
#     each partition: phase B ends with applied events everywhere).
#  3. Part 2 read by the workers on the REBUILT database: 1,000 new orders on
#     the same SKUs, late payments of the expired orders of part 1, late
#     cancellations of paid ones (ignored), cancellations dated between the
#     two payments of the twice-paid orders (refund_required: the later
#     payment came after the cancellation), the order.created of the awaiting orders (refund_required: the
#     cancellation came first), receipts for 10 SKUs only, and 100 part-1
#     events sent again. Every order ends in the state its events give (the
#     state the live database would reach), stockctl check passes, per SKU
#     received|adjusted|committed as the events give (unchanged receipts for
#     the 40 SKUs without new ones), processed_events = the rebuilt ids + the
#     new ones, and the workers read nothing of part 1 again but the 100
#     events sent again (duplicates).
# The checks of 2 and 3 all run; the failed ones are listed at the end.
# Prints the rebuild time and the ledger record count.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_life.sh
source "$(dirname "$0")/lib_life.sh"

ORDERS=${REBUILD_ORDERS:-3000}
ORDERS2=${REBUILD_ORDERS2:-1000}
SKUS=50
LEDGER_PARTS=48
SEED=606
D=$SF_TMP/rb
GROUPS_ALL=(stockflow-order stockflow-payment stockflow-stock stockflow-timeout)

# rb_gen 1 T0 | rb_gen 2 T0 T0_2: writes the stream of part 1, or of part 2
# (which derives part 1 again from the same seed and T0), to $D:
#   p1/stock0.txt                       the first receipts
#   p1/stock.txt, orders.txt, payments.txt   the main stream
#   p1/orders_b.txt, payments_b.txt     phase B (after the main stream is read)
#   p2/stock.txt, orders.txt, payments.txt   new events and part-1 events sent again
#   p2/new_ids.txt, resent_ids.txt
#   pN/expect.txt   O|order_id|state, S|sku|received|adjusted|committed after part N
rb_gen() {
  python3 - "$SEED" "$ORDERS" "$ORDERS2" "$SKUS" "$D" "$@" <<'PY'
import datetime as dt, json, os, random, sys

seed, n1, n2, nskus, out, part = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                   int(sys.argv[4]), sys.argv[5], int(sys.argv[6]))
t1 = int(sys.argv[7])
t2 = int(sys.argv[8]) if part == 2 else None

def ts(ms):
    t = dt.datetime.fromtimestamp(ms / 1000.0, tz=dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ms) % 1000:03d}Z"

def rec(key, obj):
    s = json.dumps(obj, separators=(",", ":"))
    assert "|" not in s and "\n" not in s
    return (key, obj["event_id"], f"{key}|{s}")

def ev(eid, typ, ms, **kw):
    return dict(event_id=eid, type=typ, occurred_at=ts(ms), **kw)

def created(oid, eid, ms, lines, hold):
    return rec(oid, ev(eid, "order.created", ms, order_id=oid, hold_seconds=hold,
                       lines=[{"sku": s, "qty": q} for s, q in lines]))

def paid(oid, eid, ms):
    return rec(oid, ev(eid, "payment.succeeded", ms, order_id=oid, amount=10, currency="EUR"))

def cancelled(oid, eid, ms):
    return rec(oid, ev(eid, "order.cancelled", ms, order_id=oid))

def failed(oid, eid, ms):
    return rec(oid, ev(eid, "payment.failed", ms, order_id=oid, reason="card declined"))

rnd = random.Random(seed)
skus = [f"rb-sku-{i:02d}" for i in range(nskus)]
GHOST = "rb-ghost-sku"
recv = {s: 0 for s in skus}
adj = {s: 0 for s in skus}
state, lines_of, base_of = {}, {}, {}

def plan_orders(prefix, n, base_ms, rnd, kinds=True):
    res = []
    for i in range(n):
        r = rnd.random() if kinds else 0
        kind = ("paid" if r < 0.80 else "cancelled" if r < 0.90 else
                "failed_paid" if r < 0.95 else "unpaid")
        lines = [(s, rnd.randint(1, 3)) for s in rnd.sample(skus, rnd.randint(1, 3))]
        res.append((f"{prefix}-{i:05d}", kind, lines, base_ms + i))
    return res

def order_events(plan):
    orders, payments = [], []
    for oid, kind, lines, ms in plan:
        lines_of[oid], base_of[oid] = lines, ms
        orders.append(created(oid, f"{oid}-c", ms, lines, 2 if kind == "unpaid" else 600))
        st = {"paid": "committed", "cancelled": "cancelled", "failed_paid": "committed",
              "rejected": "rejected", "rejected_paid": "refund_required", "unpaid": "expired"}[kind]
        if kind in ("paid", "rejected_paid"):
            payments.append(paid(oid, f"{oid}-p", ms + 300))
        elif kind == "cancelled":
            orders.append(cancelled(oid, f"{oid}-x", ms + 300))
        elif kind == "failed_paid":
            payments.append(failed(oid, f"{oid}-f", ms + 200))
            payments.append(paid(oid, f"{oid}-p", ms + 400))
        state[oid] = st
    return orders, payments

# ---- part 1 ----
plan1 = plan_orders("rb1", n1, t1, rnd)
for i in range(8):  # an unknown SKU: rejected; the first 4 paid anyway
    lines = [(GHOST, 1)] if i % 2 else [(skus[i], 1), (GHOST, 2)]
    plan1.append((f"rb1-ghost-{i}", "rejected_paid" if i < 4 else "rejected", lines, t1 + n1 + i))
final1 = plan_orders("rb1-fin", 100, t1 + n1 + 100, rnd, kinds=False)
await1 = plan_orders("rb1-await", 5, t1 + n1 + 300, rnd, kinds=False)
plan2 = plan_orders("rb2", n2, 0, random.Random(seed + 1))  # times set in part 2
demand = {s: 0 for s in skus}
for _, _, lines, _ in plan1 + final1 + await1 + plan2:
    for s, q in lines:
        if s != GHOST:
            demand[s] += q
stock0, stock_late = [], []
for s in skus:
    # enough for every order of both parts whatever the timing: no order
    # competes for the last units, so every final state is known
    q = demand[s] + 50
    recv[s] += q
    stock0.append(rec(s, ev(f"rb1-r0-{s}", "stock.received", t1, sku=s, qty=q)))
    for k in range(2):
        q = rnd.randint(5, 40)
        recv[s] += q
        stock_late.append(rec(s, ev(f"rb1-r{k + 1}-{s}", "stock.received", t1 + 1000 + k, sku=s, qty=q)))
for s in skus[:10]:
    stock_late.append(rec(s, ev(f"rb1-adj-found-{s}", "stock.adjusted", t1 + 2000, sku=s, delta=5,
                                reason="found")))
    stock_late.append(rec(s, ev(f"rb1-adj-damaged-{s}", "stock.adjusted", t1 + 2001, sku=s,
                                delta=-3, reason="damaged")))
    adj[s] += 2
rnd.shuffle(stock_late)
orders1, payments1 = order_events(plan1)
# orders known only by their payment (created in part 2)
for oid, _, lines, ms in await1:
    lines_of[oid], base_of[oid] = lines, ms
    payments1.append(paid(oid, f"{oid}-p", ms + 300))
    state[oid] = "awaiting_order"
# phase B: events the rules ignore, each changing a fact of its order row,
# then 100 more paid orders, so that every partition goes on past them
paid1 = sorted(oid for oid, kind, _, _ in plan1 if kind == "paid")
picks = rnd.sample(paid1, 30)
late_x, late_f, twice = picks[:10], picks[10:20], picks[20:]
orders_b, payments_b = [], []
for oid in late_x:  # a cancellation after the payment: committed stays
    orders_b.append(cancelled(oid, f"{oid}-late-x", base_of[oid] + 5000))
for oid in late_f:  # a failure after the payment: committed stays
    payments_b.append(failed(oid, f"{oid}-late-f", base_of[oid] + 6000))
for oid in twice:  # a second payment dated before the first: the earliest counts
    payments_b.append(paid(oid, f"{oid}-p0", base_of[oid] + 100))
for oid, _, _, ms in await1:  # a cancellation dated before the payment
    orders_b.append(cancelled(oid, f"{oid}-x", ms + 100))
o, p = order_events(final1)
orders_b += o
payments_b += p

def expect():
    com = {s: 0 for s in skus}
    for oid, st in state.items():
        if st == "committed":
            for s, q in lines_of[oid]:
                com[s] += q
    res = [f"O|{oid}|{state[oid]}" for oid in sorted(state)]
    res += [f"S|{s}|{recv[s]}|{adj[s]}|{com[s]}" for s in skus]
    return res

def write(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for r in rows:
            f.write((r if isinstance(r, str) else r[2]) + "\n")

if part == 1:
    write(f"{out}/p1/stock0.txt", stock0)
    write(f"{out}/p1/stock.txt", stock_late)
    write(f"{out}/p1/orders.txt", orders1)
    write(f"{out}/p1/payments.txt", payments1)
    write(f"{out}/p1/orders_b.txt", orders_b)
    write(f"{out}/p1/payments_b.txt", payments_b)
    write(f"{out}/p1/expect.txt", expect())
    sys.exit(0)

# ---- part 2 ----
r2 = random.Random(seed + 2)
plan2 = [(oid, kind, lines, t2 + i) for i, (oid, kind, lines, _) in enumerate(plan2)]
orders2, payments2 = order_events(plan2)
# the expired orders of part 1, paid late: taken again and committed (rule 2)
for k, oid in enumerate(sorted(o for o, kind, _, _ in plan1 if kind == "unpaid")):
    payments2.append(paid(oid, f"{oid}-late-p", t2 + k))
    state[oid] = "committed"
# cancellations of paid orders of part 1: ignored (the payment came first)
for oid in r2.sample([o for o in paid1 if o not in picks], 20):
    orders2.append(cancelled(oid, f"{oid}-late-x", t2))
# a cancellation dated between the two payments of the twice-paid orders:
# the later payment came after it, so refund_required (the lead's reading of
# rules 2 and 3: the latest payment decides, whatever the arrival order)
for oid in twice:
    orders2.append(cancelled(oid, f"{oid}-mid-x", base_of[oid] + 200))
    state[oid] = "refund_required"
# the order.created of the awaiting orders: the cancellation came before the
# payment, so refund_required (rules 3 and 6)
for oid, _, lines, ms in await1:
    orders2.append(created(oid, f"{oid}-c", ms, lines, 600))
    state[oid] = "refund_required"
stock2 = []
for s in skus[40:]:
    recv[s] += 7
    stock2.append(rec(s, ev(f"rb2-r-{s}", "stock.received", t2, sku=s, qty=7)))
new_ids = [e[1] for e in orders2 + payments2 + stock2]
# part-1 events sent again, byte for byte: the first receipts of the SKUs
# without new ones, order events and payments
resent_stock = [e for e in stock0 if e[0] in skus[:40]]
resent_orders = r2.sample(orders1, 30)
resent_pay = r2.sample(payments1, 30)
write(f"{out}/p2/stock.txt", stock2 + resent_stock)
write(f"{out}/p2/orders.txt", orders2 + resent_orders)
write(f"{out}/p2/payments.txt", payments2 + resent_pay)
write(f"{out}/p2/new_ids.txt", sorted(new_ids))
write(f"{out}/p2/resent_ids.txt", sorted(e[1] for e in resent_stock + resent_orders + resent_pay))
write(f"{out}/p2/expect.txt", expect())
PY
}

# start_ledger_broker: like lib.sh's start_broker, with LEDGER_PARTS
# partitions for inventory.ledger.
# On Apache Kafka, which keeps every record, the ledger gets the 6
# partitions of every other topic.
start_ledger_broker() {
  if on_kafka; then
    LEDGER_PARTS=6
    start_kafka 6
    return
  fi
  local bs=$SF_TMP/broker1.bootstrap
  [[ -x $DEVBROKER ]] || fail "dev broker not built: $DEVBROKER"
  "$DEVBROKER" --partitions 6 --topic "inventory.ledger:$LEDGER_PARTS" --bootstrap-file "$bs" \
    </dev/null >"$SF_TMP/broker1.out" 2>"$SF_TMP/broker1.log" &
  BROKER_PID=$!
  SF_OTHERS+=("$BROKER_PID")
  # shellcheck disable=SC2004 # SF_NAME and SF_LOG are associative (lib.sh)
  SF_NAME[$BROKER_PID]=broker1
  # shellcheck disable=SC2004
  SF_LOG[$BROKER_PID]=$SF_TMP/broker1.log
  SF_NBROKER=1
  wait_for "the dev broker's bootstrap file" 20 sf_broker_ready "$BROKER_PID" "$bs"
  KAFKA_BROKERS=$(<"$bs")
  export KAFKA_BROKERS
  note "broker1 at $KAFKA_BROKERS (inventory.ledger: $LEDGER_PARTS partitions)"
}

# start_fleet: two order-workers, a payment-, a timeout- and a stock-worker
# (FLEET: their pids; FLEET_PORTS: the HTTP ports of the event workers).
start_fleet() {
  FLEET=()
  FLEET_PORTS=()
  local r port
  for r in order order payment timeout stock; do
    port=$(sf_free_port)
    start_role "$r" HTTP_PORT="$port"
    FLEET+=("$WORKER_PID")
    [[ $r == timeout ]] || FLEET_PORTS+=("$port")
  done
  wait_assigned "${FLEET[0]}" "${FLEET[1]}" "${FLEET[2]}" "${FLEET[4]}"
}

# fleet_events [OUTCOME]: events the event workers of the fleet finished
# (stockflow_events_total, every outcome or OUTCOME).
fleet_events() {
  local port sum=0 n
  for port in "${FLEET_PORTS[@]}"; do
    n=$(python3 -c 'import sys, urllib.request as u; sys.stdout.write(u.urlopen(sys.argv[1], timeout=10).read().decode())' \
      "http://127.0.0.1:$port/metrics" |
      awk -v o="$1" '/^stockflow_events_total\{/ && (o == "" || index($0, "outcome=\"" o "\"")) { s += $NF }
                     END { printf "%d\n", s }') || fail "cannot read the metrics on port $port"
    sum=$((sum + n))
  done
  printf '%s\n' "$sum"
}

# soft ASSERTION...: runs an assertion of lib.sh without stopping the test;
# a failure is listed at the end (and fails the test there).
SOFT_FAILS=()
soft() {
  ("$@") || SOFT_FAILS+=("${*: -1}")
}

# same EXPECTED_FILE ACTUAL_FILE MESSAGE: the files are equal; else fails
# with the number of differing lines and the first 40 of them (- expected,
# + actual, sorted by key).
same() {
  local n
  cmp -s -- "$1" "$2" && return 0
  diff -- "$1" "$2" | sed -n 's/^< /- /p; s/^> /+ /p' |
    awk '{ l = substr($0, 3); n = split(l, f, "|")
           if (n == 1) { k = l; sub(/ [^ ]*$/, "", k) } else k = length(f[1]) == 1 ? f[1] "|" f[2] : f[1]
           print k "\t" $0 }' |
    LC_ALL=C sort -s -t$'\t' -k1,1 | cut -f2- >"$SF_TMP/same.diff" || true
  n=$(wc -l <"$SF_TMP/same.diff")
  printf '%s: ASSERTION FAILED: %s: %s line(s) differ (- expected %s, + actual %s):\n' \
    "$SF_TEST" "$3" "$n" "$(basename "$1")" "$(basename "$2")" >&2
  head -n 40 "$SF_TMP/same.diff" >&2
  fail "$3"
}

# offsets TOPIC -1|-2: "partition offset" per partition, end (-1) or start (-2).
offsets() {
  local t=$1 parts p
  local -a args=()
  parts=$(kcat -L -b "$KAFKA_BROKERS" -t "$t" -J 2>>"$SF_TMP/kcat.log" | jq -r '.topics[0].partitions[]?.partition')
  [[ -n $parts ]] || fail "no partitions for $t"
  for p in $parts; do args+=(-t "$t:$p:$2"); done
  kcat -Q -b "$KAFKA_BROKERS" "${args[@]}" 2>>"$SF_TMP/kcat.log" |
    awk '/ offset -?[0-9]+$/ { print $(NF - 2), $NF }' | sort -n
}

# positions: "group topic partition committed" of the role groups (source topics).
positions() {
  "$STOCKCTL" lag --json stockflow-order stockflow-payment stockflow-stock 2>>"$SF_TMP/lag.err" |
    jq -r 'select(.topic != null and (.topic | test("^inventory\\.(orders|payments|stock)$")))
           | "\(.group) \(.topic) \(.partition) \(.committed)"' | LC_ALL=C sort
}

# produce_all DIR SUFFIX: DIR/{orders,payments,stock}SUFFIX.txt (those that
# exist) to their topics at once.
produce_all() {
  local tf f p
  local -a producers=()
  for tf in inventory.orders:orders inventory.payments:payments inventory.stock:stock; do
    f=$1/${tf#*:}$2.txt
    [[ -f $f ]] || continue
    produce "${tf%%:*}" "$f" &
    producers+=($!)
  done
  for p in "${producers[@]}"; do wait "$p" || fail "producing $1/*$2.txt failed"; done
}

# caught_up TIMEOUT_S: every group has read everything (stockctl lag --wait);
# on timeout, the lag and what the database is doing.
caught_up() {
  "$STOCKCTL" lag --wait "$1" "${GROUPS_ALL[@]}" >"$SF_TMP/lag.out" 2>&1 && return 0
  "$STOCKCTL" lag "${GROUPS_ALL[@]}" 2>&1 | awk '$6 != 0' >&2 || true
  pg_diag
  fail "the workers did not catch up within $1 s: $(tail -n 1 "$SF_TMP/lag.out")"
}

# settle TIMEOUT_S: every group caught up and every hold released.
settle() {
  caught_up "$1"
  wait_sql "every hold released" "$1" "SELECT count(*) FROM orders WHERE state = 'reserved'" 0
  caught_up "$1"
}

state_sql="SELECT format('O|%s|%s', order_id, state) FROM orders ORDER BY order_id COLLATE \"C\";
           SELECT format('S|%s|%s|%s|%s', sku, received_total, adjusted_total, committed_total)
             FROM stock ORDER BY sku COLLATE \"C\""
rows_stock="SELECT * FROM stock ORDER BY sku"
rows_orders="SELECT order_id, state, created, paid_at, cancelled_at, failed_at, expired, rejected, expires_at
               FROM orders ORDER BY order_id"
rows_more="SELECT order_id, created_at, hold_seconds FROM orders ORDER BY order_id;
           SELECT order_id, sku, qty FROM order_lines ORDER BY order_id, sku"

# ---- 1. the live run ---------------------------------------------------------
start_pg
migrate
start_ledger_broker
start_fleet
wait_payment_watermark 40
t1=$(now_ms)
rb_gen 1 "$t1"
nev1=$(cat "$D"/p1/*.txt | grep -c '|{')
produce inventory.stock "$D/p1/stock0.txt"
wait_idle 30 stockflow-stock
produce_all "$D/p1" ''
settle 90
produce_all "$D/p1" _b
settle 60
note "part 1: $nev1 events"
wait_sql "every outbox row published" 60 "SELECT count(*) FROM outbox_pending" 0
psql_q "$state_sql" >"$SF_TMP/live-state.txt"
assert_files_eq "$D/p1/expect.txt" "$SF_TMP/live-state.txt" "live: order states and per SKU received|adjusted|committed"
assert_invariants
n_applied=$(psql_q "SELECT count(*) FROM processed_events WHERE outcome = 'applied'")
n_ignored=$(psql_q "SELECT count(*) FROM processed_events WHERE outcome = 'ignored'")
assert_eq "$nev1" "$((n_applied + n_ignored))" "live: processed_events (every event of part 1 once)"
n_ledger=$(psql_q "SELECT count(*) FROM outbox WHERE topic = 'inventory.ledger'")
note "live: $n_applied events applied, $n_ignored ignored, $n_ledger ledger rows in the outbox"

"$STOCKCTL" checksum >"$SF_TMP/live.sum" || fail "stockctl checksum (live) failed"
stop_workers "${FLEET[@]}"
"$STOCKCTL" checksum >"$SF_TMP/live2.sum" || fail "stockctl checksum (live, stopped) failed"
assert_files_eq "$SF_TMP/live.sum" "$SF_TMP/live2.sum" "live checksum before and after stopping the workers"
psql_q "$rows_stock" >"$SF_TMP/live-stock.txt"
psql_q "$rows_orders" >"$SF_TMP/live-orders.txt"
psql_q "$rows_more" >"$SF_TMP/live-more.txt"
positions >"$SF_TMP/live-positions.txt"
assert_eq "$nev1" "$(awk '{ s += $4 } END { print s + 0 }' "$SF_TMP/live-positions.txt")" \
  "live: committed offsets of the role groups (sum = events of part 1)"
psql_q "SELECT event_id FROM processed_events WHERE outcome = 'applied'" | LC_ALL=C sort >"$SF_TMP/live-applied.ids"
psql_q "SELECT event_id FROM processed_events" | LC_ALL=C sort >"$SF_TMP/live-all.ids"

# the ledger on the broker: every row published once, nothing dropped
offsets inventory.ledger -2 >"$SF_TMP/ledger-low.txt"
offsets inventory.ledger -1 >"$SF_TMP/ledger-end.txt"
assert_eq "$LEDGER_PARTS" "$(wc -l <"$SF_TMP/ledger-low.txt")" "inventory.ledger partitions"
assert_eq "" "$(awk '$2 != 0' "$SF_TMP/ledger-low.txt")" "inventory.ledger partitions whose low watermark is not 0 (records dropped)"
assert_eq "$n_ledger" "$(awk '{ s += $2 } END { print s + 0 }' "$SF_TMP/ledger-end.txt")" \
  "records on inventory.ledger (= outbox ledger rows)"

# ---- 2. rebuild into a fresh database ------------------------------------------
# the role groups lose their positions too: rebuild must set them
reset_group stockflow-order inventory.orders
reset_group stockflow-payment inventory.payments
reset_group stockflow-stock inventory.stock
new_db rebuilt
migrate
rc=0
t_rb=$(now_ms)
"$STOCKCTL" rebuild --from-ledger >"$SF_TMP/rebuild.out" 2>"$SF_TMP/rebuild.err" || rc=$?
t_rb=$(($(now_ms) - t_rb))
sed 's/^/  rebuild: /' "$SF_TMP/rebuild.out" "$SF_TMP/rebuild.err" | grep -v ' -> ' >&2
soft assert_eq 0 "$rc" "stockctl rebuild --from-ledger exit status ($(grep -v '^rebuild: ' "$SF_TMP/rebuild.err" | tail -n 2))"
n_read=$(sed -n 's/^read \([0-9]*\) ledger records$/\1/p' "$SF_TMP/rebuild.out")
rebuild_s=$(sed -n 's/^rebuilt in \([0-9.]*\) s$/\1/p' "$SF_TMP/rebuild.out")
soft assert_match '^[0-9]+\.[0-9]$' "$rebuild_s" "the 'rebuilt in X s' line"
soft assert_eq "$n_ledger" "$n_read" "ledger records read by rebuild"
report="$n_read ledger records ($nev1 events) rebuilt in ${rebuild_s:-?} s (the command took $((t_rb / 1000)).$((t_rb % 1000 / 100)) s)"
note "REBUILD: $report"

"$STOCKCTL" checksum >"$SF_TMP/rebuilt.sum" || fail "stockctl checksum (rebuilt) failed"
soft same "$SF_TMP/live.sum" "$SF_TMP/rebuilt.sum" "stockctl checksum: rebuilt = live"
psql_q "$rows_stock" >"$SF_TMP/rebuilt-stock.txt"
psql_q "$rows_orders" >"$SF_TMP/rebuilt-orders.txt"
psql_q "$rows_more" >"$SF_TMP/rebuilt-more.txt"
soft same "$SF_TMP/live-stock.txt" "$SF_TMP/rebuilt-stock.txt" "stock rows: rebuilt = live"
soft same "$SF_TMP/live-orders.txt" "$SF_TMP/rebuilt-orders.txt" "order rows (state and facts): rebuilt = live"
soft same "$SF_TMP/live-more.txt" "$SF_TMP/rebuilt-more.txt" "order created_at, hold_seconds and lines: rebuilt = live"
rc=0
"$STOCKCTL" check >"$SF_TMP/check1.out" 2>&1 || rc=$?
soft assert_eq 0 "$rc" "stockctl check on the rebuilt database ($(head -c 500 "$SF_TMP/check1.out"))"
psql_q "SELECT event_id FROM processed_events" | LC_ALL=C sort >"$SF_TMP/rebuilt.ids"
n_rebuilt=$(wc -l <"$SF_TMP/rebuilt.ids")
comm -23 "$SF_TMP/live-applied.ids" "$SF_TMP/rebuilt.ids" >"$SF_TMP/not-restored.ids"
comm -13 "$SF_TMP/live-all.ids" "$SF_TMP/rebuilt.ids" >"$SF_TMP/unknown.ids"
soft assert_eq "" "$(head -n 10 "$SF_TMP/not-restored.ids")" \
  "applied event ids of the live database missing after rebuild ($(wc -l <"$SF_TMP/not-restored.ids"))"
soft assert_eq "" "$(head -n 10 "$SF_TMP/unknown.ids")" \
  "event ids restored that the live database never processed ($(wc -l <"$SF_TMP/unknown.ids"))"
positions >"$SF_TMP/rebuilt-positions.txt"
soft same "$SF_TMP/live-positions.txt" "$SF_TMP/rebuilt-positions.txt" \
  "role group positions (group topic partition offset) after rebuild = those of the live run"

# ---- 3. resume on the rebuilt database -------------------------------------------
psql_q "$state_sql" | grep '^S|' >"$SF_TMP/before2.stock"
start_fleet
wait_payment_watermark 40
rb_gen 2 "$t1" "$(now_ms)"
nev2=$(cat "$D"/p2/{stock,orders,payments}.txt | wc -l)
n_new=$(wc -l <"$D/p2/new_ids.txt")
n_resent=$(wc -l <"$D/p2/resent_ids.txt")
produce_all "$D/p2" ''
note "part 2: $nev2 events ($n_new new, $n_resent of part 1 sent again)"
settle 90
psql_q "$state_sql" >"$SF_TMP/after2-state.txt"
soft same "$D/p2/expect.txt" "$SF_TMP/after2-state.txt" \
  "after part 2: order states and per SKU received|adjusted|committed (as the events give)"
rc=0
"$STOCKCTL" check >"$SF_TMP/check2.out" 2>&1 || rc=$?
soft assert_eq 0 "$rc" "stockctl check after part 2 ($(head -c 500 "$SF_TMP/check2.out"))"
soft assert_invariants
soft assert_eq "$(grep -E '^S\|rb-sku-[0-3][0-9]\|' "$SF_TMP/before2.stock" | cut -d'|' -f1-4)" \
  "$(grep -E '^S\|rb-sku-[0-3][0-9]\|' "$SF_TMP/after2-state.txt" | cut -d'|' -f1-4)" \
  "received and adjusted totals of the 40 SKUs without new receipts (their first receipts were sent again)"
psql_q "SELECT event_id FROM processed_events" | LC_ALL=C sort >"$SF_TMP/after2.ids"
LC_ALL=C sort -m "$SF_TMP/rebuilt.ids" "$D/p2/new_ids.txt" >"$SF_TMP/want2.ids"
soft assert_eq "$((n_rebuilt + n_new))" "$(wc -l <"$SF_TMP/after2.ids")" \
  "processed_events after part 2 (= $n_rebuilt rebuilt + $n_new new event ids)"
soft same "$SF_TMP/want2.ids" "$SF_TMP/after2.ids" "processed_events after part 2: the rebuilt ids and the new ones"
# what the resumed workers read: part 2, of which the part-1 events sent
# again are duplicates; nothing of part 1 a second time
read_total=$(fleet_events '')
dups=$(fleet_events duplicate)
note "resumed workers: $read_total events finished, $dups duplicates ($n_resent part-1 events were sent again)"
soft assert_eq "$n_resent" "$dups" "duplicates seen by the resumed workers (= the part-1 events sent again)"
soft assert_eq "$nev2" "$read_total" "events finished by the resumed workers (= part 2)"
stop_workers "${FLEET[@]}"
note "REBUILD: $report"
if ((${#SOFT_FAILS[@]})); then
  fail "$(printf '%s\n' "${#SOFT_FAILS[@]} check(s) failed:" "${SOFT_FAILS[@]/#/  - }")"
fi
