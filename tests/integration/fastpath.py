#!/usr/bin/env python3
"""Set-based batch apply against one-by-one apply (t_fast_path).

Usage: fastpath.py URL_A URL_B SEED BATCHES

Generates a random stream of events over a few scarce SKUs (orders of 1-3
lines, payments, failures, cancellations, duplicates, unknown orders and
SKUs, several events of one order in a batch, stock receipts and losses)
and cuts it into batches. Database A applies each batch as a worker does:
BEGIN, sf_lock_batch, sf_apply_batch(..., fast := true), COMMIT. The rows
it returns are in the order the events were applied (set-based ones first).
Database B applies the same events, in that order, each through sf_apply
alone (fast := false). Both must return the same outcomes, and end with the
same stock, orders, lines, processed events and ledger records (wall-clock
columns left out), the same alerts (status alerts are keyed by the
transaction id, left out too), and per SKU the same feed records in the same
order (their as_of is a clock, their version a sequence shared by all SKUs:
both left out; a transaction writes its SKUs' records in the order it
touched them, which differs between the paths). Prints "fast N of M" (events decided set-based).
"""
import random
import subprocess
import sys

URL_A, URL_B, SEED, BATCHES = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(SEED)
SKUS = [f"fp-{i}" for i in range(6)]


def psql(url, sql):
    out = subprocess.run(["psql", url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-F", "|"],
                         input=sql, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"psql failed: {out.stderr.strip()}")
    return out.stdout


def arr(vals, cast):
    def el(v):
        if v is None:
            return "NULL"
        if cast in ("text",):
            return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
        return str(v)
    return "'{" + ",".join(el(v) for v in vals) + "}'::" + cast + "[]"


def call(events, fast):
    lev, lsku, lqty = [], [], []
    for i, e in enumerate(events, 1):
        for sku, qty in e.get("lines", []):
            lev.append(i), lsku.append(sku), lqty.append(qty)
    col = lambda k: [e.get(k) for e in events]
    oids = [e["order_id"] for e in events if e.get("order_id")]
    skus = [e["sku"] for e in events if e.get("sku")]
    return (
        "BEGIN;\n"
        f"SELECT 'L', sf_lock_batch({arr(oids, 'text')}, {arr(skus, 'text')}, {arr(lsku, 'text')});\n"
        "SELECT pos, outcome FROM sf_apply_batch("
        f"{arr(col('type'), 'text')}, {arr(col('event_id'), 'text')}, {arr(col('ms'), 'bigint')}, "
        f"{arr(col('order_id'), 'text')}, {arr(col('sku'), 'text')}, {arr(col('qty'), 'bigint')}, "
        f"{arr(col('hold'), 'integer')}, {arr(col('reason'), 'text')}, {arr(col('topic'), 'text')}, "
        f"{arr(col('part'), 'integer')}, {arr(col('off'), 'bigint')}, {arr(lev, 'integer')}, "
        f"{arr(lsku, 'text')}, {arr(lqty, 'bigint')}, 900, {'true' if fast else 'false'});\n"
        "COMMIT;\n")


def apply(url, events, fast):
    rows = []
    for line in psql(url, call(events, fast)).splitlines():
        if line.startswith("L|"):
            continue
        pos, outcome = line.split("|", 1)
        rows.append((int(pos), outcome))
    return rows


# ---- the stream ---------------------------------------------------------
t = 1_800_000_000_000
orders, seen_events, n_ev = [], [], 0


def ev(kind, **kw):
    global t, n_ev
    t += rng.randint(1, 2000)
    n_ev += 1
    e = {"type": kind, "event_id": f"fp-e{n_ev}", "ms": t, "qty": 0, "hold": 0,
         "topic": "inventory.payments" if kind.startswith("payment") else "inventory.orders",
         "part": rng.randint(0, 5), "off": n_ev}
    e.update(kw)
    return e


def one():
    r = rng.random()
    if r < 0.40 or not orders:
        oid = f"fp-o{len(orders) + 1}"
        orders.append(oid)
        n = rng.choice([1, 1, 1, 2, 3])
        lines = [(rng.choice(SKUS + (["fp-unknown"] if rng.random() < 0.05 else [])),
                  rng.randint(1, 3)) for _ in range(n)]
        return ev("order.created", order_id=oid, lines=lines,
                  hold=rng.choice([0, 0, 60, 120]))
    recent = orders[-40:]
    if r < 0.62:
        return ev("payment.succeeded", order_id=rng.choice(recent))
    if r < 0.70:
        return ev("payment.failed", order_id=rng.choice(recent), reason="card_declined")
    if r < 0.80:
        return ev("order.cancelled", order_id=rng.choice(recent + ["fp-o-never"]))
    if r < 0.86 and seen_events:
        return dict(rng.choice(seen_events))            # a redelivery
    if r < 0.93:
        return ev("payment.succeeded", order_id=f"fp-o{len(orders) + rng.randint(1, 3)}")
    if r < 0.97:
        e = ev("stock.received", sku=rng.choice(SKUS), qty=rng.randint(1, 6))
        e["topic"] = "inventory.stock"
        return e
    e = ev("stock.adjusted", sku=rng.choice(SKUS), qty=-rng.randint(1, 4), reason="damaged")
    e["topic"] = "inventory.stock"
    return e


setup = "".join(
    f"INSERT INTO stock (sku, on_hand, received_total, safety_stock, oversold) "
    f"VALUES ('{s}', {q}, {q}, {ss}, {ov});\n"
    for s, q, ss, ov in [(SKUS[0], 40, 0, "false"), (SKUS[1], 120, 2, "false"),
                         (SKUS[2], 400, 0, "false"), (SKUS[3], 1, 0, "false"),
                         (SKUS[4], 60, 0, "true"), (SKUS[5], 0, 0, "false")])
for url in (URL_A, URL_B):
    psql(url, setup)
psql(URL_A, "SELECT pg_stat_reset();")

fast = total = 0
for b in range(BATCHES):
    batch = [one() for _ in range(rng.choice([1, 5, 20, 60, 120]))]
    seen_events.extend(e for e in batch if rng.random() < 0.3)
    got_a = apply(URL_A, batch, True)
    if sorted(p for p, _ in got_a) != list(range(1, len(batch) + 1)):
        sys.exit(f"batch {b}: A returned positions {[p for p, _ in got_a]} for {len(batch)} events")
    # A's rows are in application order (set-based ones first); B applies
    # the events in that order, each through sf_apply alone
    order = [p for p, _ in got_a]
    got_b = [(order[i - 1], out) for i, out in apply(URL_B, [batch[p - 1] for p in order], False)]
    if got_a != got_b:
        diff = [(x, y) for x, y in zip(got_a, got_b) if x != y]
        sys.exit(f"batch {b}: outcomes differ, (pos, set-based) vs (pos, one by one): {diff[:5]}")
    total += len(batch)

DUMP = r"""
SELECT 'S', sku, on_hand, reserved, safety_stock, oversold, received_total, adjusted_total,
       committed_total FROM stock ORDER BY sku;
SELECT 'O', order_id, state, created, created_at, hold_seconds, expires_at, cancelled_at,
       paid_at, last_paid_at, failed_at, rejected, expired FROM orders ORDER BY order_id;
SELECT 'L', order_id, sku, qty FROM order_lines ORDER BY 2, 3;
SELECT 'P', event_id, type, order_id, sku, topic, partition, "offset", occurred_at, outcome,
       detail FROM processed_events ORDER BY event_id;
SELECT 'X', topic, regexp_replace(key, '^(low_stock|hidden|back_in_stock):(.*):[0-9]+$', '\1:\2:XID'),
       payload #- '{stock,updated_at}' #- '{order,updated_at}' #- '{seq}' #- '{occurred_at}'
               #- '{alert_id}'
  FROM outbox WHERE topic <> 'inventory.availability' ORDER BY id;
SELECT 'A', key, payload #- '{as_of}' #- '{version}' FROM outbox
 WHERE topic = 'inventory.availability' ORDER BY key, id;
SELECT 'I', * FROM invariant_violations;
"""
da, db = psql(URL_A, DUMP), psql(URL_B, DUMP)
if da != db:
    la, lb = da.splitlines(), db.splitlines()
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            sys.exit(f"end state differs at line {i}:\n fast:       {x}\n one by one: {y}")
    sys.exit(f"end state differs in length: {len(la)} vs {len(lb)} lines")
if any(l.startswith("I|") for l in da.splitlines()):
    sys.exit("invariant violations:\n" + da)
# every event A did not decide set-based went through sf_apply (track_functions)
slow = int(psql(URL_A, "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions "
                       "WHERE funcname = 'sf_apply'").strip())
kinds = {}
for line in da.splitlines():
    if line.startswith("P|"):
        k = line.split("|")[10]
        kinds[k] = kinds.get(k, 0) + 1
print(f"fast {total - slow} of {total}; outcomes {sorted(kinds.items())}; "
      f"outbox rows {sum(1 for l in da.splitlines() if l.startswith('X|'))}")
