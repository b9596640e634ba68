#!/usr/bin/env bash
# The sellable-quantity feed (DESIGN §9, issue 16): inventory.availability,
# one record per SKU per transaction that changed its available or status,
# {sku, available, status, version, as_of}, through the outbox.
#  1. One batch: 1,000 orders on 10 SKUs produced before the order-worker
#     starts. Per transaction at most one record per SKU (outbox rows grouped
#     by xmin; checked again after 2, whose batches update a row many times),
#     and at most 10 records per transaction that applied them.
#  2. A random stream over 50 SKUs: receipts, orders, payments, failures,
#     cancellations, adjustments (some poison: below zero) and sku.configured
#     settings, with the order-, payment- and stock-worker killed (kill -9)
#     and restarted in the middle.
#  3. Changes nothing sellable, writes nothing: 30 events of the stream sent
#     again (duplicates), a sku.configured that sets only unit_cost, a loss
#     of 3 and a receipt of 3 of one SKU in one transaction.
#  4. stockctl rebuild --from-ledger into a fresh database, then more events:
#     versions go on above every version published before.
# After 2 and after 4, read back from the broker, per SKU: versions strictly
# increase in offset order (a record the relay sent again after a crash,
# byte for byte a record seen before, is allowed: at least once), and the
# record with the highest version shows the available and status of
# stock_levels; every SKU has one.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_life.sh
source "$(dirname "$0")/lib_life.sh"

SEED=1616
D=$SF_TMP/feed
mkdir -p "$D"
start_pg
migrate
start_broker 6
WORKER_ENV=(RESERVATION_HOLD_SECONDS=604800)

feed_rows() { psql_q "SELECT count(*) FROM outbox WHERE topic = 'inventory.availability'"; }
processed() { psql_q "SELECT count(*) FROM processed_events"; }
published() { wait_sql "the outbox published" 60 "SELECT count(*) FROM outbox_pending" 0; }

# one_per_xact LABEL: no transaction wrote two feed records for one SKU.
one_per_xact() {
  local twice
  twice=$(psql_q "SELECT key || ' in xact ' || xmin::text || ': ' || count(*) || ' records'
                    FROM outbox WHERE topic = 'inventory.availability'
                   GROUP BY xmin::text, key HAVING count(*) > 1 LIMIT 5") || fail "one_per_xact: query failed"
  assert_eq "" "$twice" "$1: at most one feed record per SKU per transaction"
}

# check_feed LABEL: reads inventory.availability, checks it against
# stock_levels (see the header); notes the figures.
check_feed() {
  topic_records inventory.availability >"$D/records.json"
  psql_q "SELECT sku || '|' || available || '|' || status FROM stock_levels" >"$D/levels.txt"
  python3 - "$D/records.json" "$D/levels.txt" "$1" <<'PY' || fail "$1: the feed disagrees (above)"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
recs.sort(key=lambda r: (r["partition"], r["offset"]))
levels = {}
for l in open(sys.argv[2]):
    sku, avail, status = l.rstrip("\n").split("|")
    levels[sku] = (int(avail), status)
top, seen, part, bad, again = {}, {}, {}, [], 0
for r in recs:
    k, v = r["key"], json.loads(r["payload"])
    if set(v) != {"sku", "available", "status", "version", "as_of"} or v["sku"] != k:
        bad.append(f"{k}: bad record {r['payload']}")
        continue
    if part.setdefault(k, r["partition"]) != r["partition"]:
        bad.append(f"{k}: in partitions {part[k]} and {r['partition']}")
    s = seen.setdefault(k, {})
    if v["version"] in s:
        if s[v["version"]] != r["payload"]:
            bad.append(f"{k}: two records with version {v['version']}")
        again += 1
        continue
    if k in top and v["version"] <= top[k]["version"]:
        bad.append(f"{k}: version {v['version']} at offset {r['offset']} after {top[k]['version']}")
    s[v["version"]] = r["payload"]
    top[k] = v
for sku, want in sorted(levels.items()):
    got = top.get(sku)
    if got is None:
        bad.append(f"{sku}: no record (stock_levels {want})")
    elif (got["available"], got["status"]) != want:
        bad.append(f"{sku}: highest version {got['version']} says {got['available']}|{got['status']}, "
                   f"stock_levels {want[0]}|{want[1]}")
bad += [f"{k}: a record but no stock row" for k in top if k not in levels]
for b in bad[:20]:
    print(f"  {sys.argv[3]}: {b}", file=sys.stderr)
print(f"{len(recs)} records, {len(top)} SKUs, {again} sent again by the relay, "
      f"highest version {max((v['version'] for v in top.values()), default=0)}")
sys.exit(1 if bad else 0)
PY
}

# ---- the stream (deterministic) ----------------------------------------------------
python3 - "$SEED" "$D" <<'PY'
import json, random, sys
seed, out = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(seed)
T = "2026-12-01T10:00:00Z"
def rec(key, obj):
    s = json.dumps(obj, separators=(",", ":"))
    return f"{key}|{s}"
def write(name, lines):
    with open(f"{out}/{name}", "w") as f:
        f.write("".join(l + "\n" for l in lines))
n = 0
def eid(p):
    global n
    n += 1
    return f"{p}-{n}"
# 1. the batch: 10 SKUs, 1,000 one-line orders
bskus = [f"fb-{i}" for i in range(10)]
write("b_stock.txt", [rec(s, dict(event_id=eid("bs"), type="stock.received", occurred_at=T, sku=s, qty=500))
                      for s in bskus])
write("b_orders.txt", [rec(f"bo-{i}", dict(event_id=eid("bo"), type="order.created", occurred_at=T,
                                            order_id=f"bo-{i}",
                                            lines=[dict(sku=bskus[i % 10], qty=1 + i % 3)]))
                       for i in range(1000)])
# 2. the random stream over 50 SKUs, in two halves (stock, orders, payments each)
skus = [f"fs-{i:02d}" for i in range(50)]
stock0 = [rec(s, dict(event_id=eid("s0"), type="stock.received", occurred_at=T, sku=s,
                      qty=rnd.randint(0, 1) and rnd.randint(5, 60) or rnd.randint(1, 5))) for s in skus]
write("recv.txt", stock0)
orders, payments, stock = [[], []], [[], []], [[], []]
for i in range(900):
    h = 0 if i < 450 else 1
    oid = f"fo-{i}"
    lines = {}
    for _ in range(rnd.randint(1, 3)):
        lines[rnd.choice(skus)] = rnd.randint(1, 4)
    orders[h].append(rec(oid, dict(event_id=eid("oc"), type="order.created", occurred_at=T, order_id=oid,
                                   lines=[dict(sku=k, qty=q) for k, q in lines.items()])))
    r = rnd.random()
    if r < 0.45:
        payments[h].append(rec(oid, dict(event_id=eid("ps"), type="payment.succeeded", occurred_at=T,
                                         order_id=oid)))
    elif r < 0.6:
        payments[h].append(rec(oid, dict(event_id=eid("pf"), type="payment.failed", occurred_at=T,
                                         order_id=oid, reason="declined")))
    elif r < 0.8:
        orders[h].append(rec(oid, dict(event_id=eid("cx"), type="order.cancelled", occurred_at=T,
                                       order_id=oid)))
    if rnd.random() < 0.25:
        s = rnd.choice(skus)
        k = rnd.random()
        if k < 0.4:
            stock[h].append(rec(s, dict(event_id=eid("rc"), type="stock.received", occurred_at=T, sku=s,
                                        qty=rnd.randint(1, 20))))
        elif k < 0.7:
            d = rnd.choice([-1, 1]) * rnd.randint(1, 8)
            stock[h].append(rec(s, dict(event_id=eid("ad"), type="stock.adjusted", occurred_at=T, sku=s,
                                        delta=d, reason="count")))
        else:
            cfg = {}
            for f, hi in (("safety_stock", 6), ("low_stock_threshold", 15), ("hide_below", 4)):
                if rnd.random() < 0.5:
                    cfg[f] = rnd.randint(0, hi)
            stock[h].append(rec(s, dict(event_id=eid("sc"), type="sku.configured", occurred_at=T, sku=s,
                                        **cfg)))
for h in (0, 1):
    write(f"orders{h}.txt", orders[h])
    write(f"payments{h}.txt", payments[h])
    write(f"stock{h}.txt", stock[h])
# 3. sent again: 30 events of the first half
write("again_orders.txt", orders[0][:10])
write("again_payments.txt", payments[0][:10])
write("again_stock.txt", stock0[:10])
write("cost.txt", [rec("fs-00", dict(event_id="cost-1", type="sku.configured", occurred_at=T, sku="fs-00",
                                     unit_cost=2.5))])
write("downup.txt", [rec("fb-0", dict(event_id="du-1", type="stock.adjusted", occurred_at=T, sku="fb-0",
                                      delta=-3, reason="count")),
                     rec("fb-0", dict(event_id="du-2", type="stock.received", occurred_at=T, sku="fb-0",
                                      qty=3))])
# 4. after the rebuild
write("late_stock.txt", [rec(s, dict(event_id=eid("lr"), type="stock.received", occurred_at=T, sku=s, qty=7))
                         for s in skus[:10]])
write("late_orders.txt", [rec(f"lo-{i}", dict(event_id=eid("lo"), type="order.created", occurred_at=T,
                                               order_id=f"lo-{i}", lines=[dict(sku=skus[i % 20], qty=1)]))
                          for i in range(40)])
PY

# ---- 1. one batch of 1,000 orders on 10 SKUs ----------------------------------------
start_worker stock "${WORKER_ENV[@]}"
stock_pid=$WORKER_PID
produce inventory.stock "$D/b_stock.txt"
wait_sql "the batch SKUs' receipts" 60 "SELECT count(*) FROM stock" 10
published
mark=$(psql_q "SELECT coalesce(max(id), 0) FROM outbox")
produce inventory.orders "$D/b_orders.txt"
start_worker order "${WORKER_ENV[@]}"
order_pid=$WORKER_PID
wait_sql "the 1,000 orders applied" 90 "SELECT count(*) FROM processed_events WHERE event_id LIKE 'bo-%'" 1000
# transactions that applied the orders: processed_at is now() of the transaction
xacts=$(psql_q "SELECT count(DISTINCT processed_at) FROM processed_events WHERE event_id LIKE 'bo-%'")
recs=$(psql_q "SELECT count(*) FROM outbox WHERE id > $mark AND topic = 'inventory.availability'")
one_per_xact "the batch"
((recs >= 10)) || fail "the batch wrote $recs feed records, expected one per SKU at least (10)"
((recs <= 10 * xacts)) || fail "the batch wrote $recs feed records in $xacts transactions: more than 10 per transaction"
note "1,000 orders on 10 SKUs: $xacts transaction(s), $recs feed records"
assert_eq "$(psql_q "SELECT count(*) FROM stock_levels WHERE sku LIKE 'fb-%' AND reserved > 0")" 10 "every batch SKU reserved"

# ---- 2. the random stream, with kill -9 in the middle -------------------------------
start_worker payment "${WORKER_ENV[@]}"
pay_pid=$WORKER_PID
produce inventory.stock "$D/recv.txt"
wait_sql "the first receipts" 60 "SELECT count(*) FROM stock" 60
produce inventory.orders "$D/orders0.txt"
produce inventory.payments "$D/payments0.txt"
produce inventory.stock "$D/stock0.txt"
n_before=$(processed)
created_ge() { (($(psql_q "SELECT count(*) FROM processed_events WHERE event_id LIKE 'oc-%'") >= $1)); }
wait_for "100 orders of the stream applied" 60 created_ge 100
kill9 "$order_pid"
kill9 "$pay_pid"
kill9 "$stock_pid"
note "killed the workers after $(($(processed) - n_before)) events of the stream"
produce inventory.orders "$D/orders1.txt"
produce inventory.payments "$D/payments1.txt"
produce inventory.stock "$D/stock1.txt"
start_worker order "${WORKER_ENV[@]}"
order_pid=$WORKER_PID
start_worker payment "${WORKER_ENV[@]}"
pay_pid=$WORKER_PID
start_worker stock "${WORKER_ENV[@]}"
stock_pid=$WORKER_PID
wait_idle 120 stockflow-order stockflow-payment stockflow-stock
published
assert_invariants
one_per_xact "the stream"
out=$(check_feed "after the stream") || exit 1
note "after the stream: $out"
note "statuses: $(psql_q "SELECT string_agg(status || ' ' || n, ', ' ORDER BY status)
                           FROM (SELECT status, count(*) n FROM stock_levels GROUP BY status) s")"
note "a record: $(psql_q "SELECT payload FROM outbox WHERE topic = 'inventory.availability' ORDER BY id DESC LIMIT 1")"

# ---- 3. nothing sellable changed: no record -------------------------------------------
before=$(feed_rows)
n_before=$(processed)
produce inventory.orders "$D/again_orders.txt"
produce inventory.payments "$D/again_payments.txt"
produce inventory.stock "$D/again_stock.txt"
produce inventory.stock "$D/cost.txt"
wait_sql "the unit_cost setting applied" 60 \
  "SELECT outcome FROM processed_events WHERE event_id = 'cost-1'" applied
wait_idle 60 stockflow-order stockflow-payment stockflow-stock
assert_eq "$((n_before + 1))" "$(processed)" "30 events sent again: duplicates, nothing recorded"
assert_eq "$before" "$(feed_rows)" "feed records after 30 duplicates and a unit_cost setting"
# down and up again in one transaction (the stock-worker stopped while both are produced)
stop_worker "$stock_pid"
produce inventory.stock "$D/downup.txt"
start_worker stock "${WORKER_ENV[@]}"
stock_pid=$WORKER_PID
wait_sql "the loss and the receipt applied, in one transaction" 60 \
  "SELECT count(*) || '|' || count(DISTINCT processed_at) FROM processed_events WHERE event_id LIKE 'du-%'" "2|1"
assert_eq "$before" "$(feed_rows)" "feed records after a loss of 3 and a receipt of 3 in one transaction"
assert_eq 2.5 "$(psql_q "SELECT unit_cost FROM stock WHERE sku = 'fs-00'")" "unit_cost set"

# ---- 4. rebuild, then more events ----------------------------------------------------------
published
top=$(psql_q "SELECT max((payload->>'version')::bigint) FROM outbox WHERE topic = 'inventory.availability'")
stop_workers "$order_pid" "$pay_pid" "$stock_pid"
new_db rebuilt
migrate
"$STOCKCTL" rebuild --from-ledger --no-positions >"$D/rebuild.out" 2>"$D/rebuild.err" ||
  fail "stockctl rebuild: $(tail -n 3 "$D/rebuild.err")"
assert_match "^read [0-9]+ inventory.availability records, highest version $top\$" \
  "$(grep availability "$D/rebuild.out")" "rebuild read the feed's versions"
assert_eq "$(psql_q "SELECT count(*) FROM stock")|$((top + 1))" \
  "$(psql_q "SELECT count(*) || '|' || min((payload->>'version')::bigint) FROM outbox
              WHERE topic = 'inventory.availability'")" \
  "the rebuild publishes every SKU, versions after $top"
start_worker stock "${WORKER_ENV[@]}"
stock_pid=$WORKER_PID
start_worker order "${WORKER_ENV[@]}"
order_pid=$WORKER_PID
produce inventory.stock "$D/late_stock.txt"
produce inventory.orders "$D/late_orders.txt"
wait_sql "the events after the rebuild" 60 \
  "SELECT count(*) FROM processed_events WHERE event_id LIKE 'lr-%' OR event_id LIKE 'lo-%'" 50
wait_idle 60 stockflow-order stockflow-stock
published
out=$(check_feed "after the rebuild") || exit 1
note "after the rebuild and 50 more events: $out"
stop_workers "$order_pid" "$stock_pid"
