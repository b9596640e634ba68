#!/usr/bin/env python3
"""Test streams for stockflow: key|value lines for `kcat -P -K '|'`.

  gen.py stock --skus N --qty Q [--prefix sku-] [--seed S --qty-max Q2]
      stock.received for N SKUs (key sku), Q units each (random Q..Q2 with --qty-max)
  gen.py flash --sku SKU --orders N [--qty 1] [--prefix o-]
      N one-line order.created for the same SKU (flash sale, key order_id)
  gen.py orders --orders N --skus K --seed S [--max-lines 3] [--max-qty 3] [--prefix o-]
      random order.created of 1..max-lines lines over K SKUs (sku-000...)
  gen.py scenario --orders N --skus K --seed S --out DIR [options]
      a stream whose final state is known whatever the interleaving: plentiful
      stock, cancellations (some read before their order), repeated order_ids,
      a SKU named twice in one order, unknown SKUs, orders larger than the
      stock. Writes DIR/stock.txt, DIR/orders.txt and DIR/expect.txt (the
      dump_state format of lib.sh).
  gen.py dup --seed S [--adjacent 0.5]   (filter)
      every input line twice: the copy right after the original, or later in
      the stream (same key, so the same partition, after the original)
  gen.py demo --out DIR [--seed S] [--now EPOCH_S]
      the stream of scripts/demo.sh (DIR/stock.txt, DIR/orders.txt), event
      times relative to --now: unit costs, receipts for six SKUs (one six
      weeks old, one best before in two days), a flash sale with more orders
      than units (default hold), ordinary orders (an hour's hold),
      cancellations, a dozen duplicates, malformed events
  gen.py malformed [--prefix m-]
      one record of each poison kind for inventory.orders (demo use)
  gen.py poison orders|stock --labels FILE
      good and poison records for one partition; FILE gets one label a line
  gen.py sumlines ORDERS_FILE IDS_FILE
      per SKU, the sum of the lines of the orders listed in IDS_FILE (sku|qty)
  gen.py check-rejected ORDERS_FILE REJECTED_IDS AVAILABLE_FILE
      prints every rejected order that fits the final availability (sku|available)

Events never contain '|' or newlines. Times are fixed (2026-11-27; demo: --now), so the
same arguments always give the same bytes.
"""
import argparse
import datetime as dt
import json
import os
import random
import sys

BASE = dt.datetime(2026, 11, 27, 10, 0, 0, tzinfo=dt.timezone.utc)
DEFAULT_HOLD = 900  # RESERVATION_HOLD_SECONDS default (DESIGN §1)


def ts(sec):
    return (BASE + dt.timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%SZ")


def enc(obj):
    s = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    assert "|" not in s and "\n" not in s
    return s


def line(key, obj):
    return f"{key}|{enc(obj)}"


def out(lines, f=sys.stdout):
    for ln in lines:
        f.write(ln + "\n")


def sku_name(i):
    return f"sku-{i:03d}"


def created(eid, oid, lines, sec, hold=None):
    e = {"event_id": eid, "type": "order.created", "occurred_at": ts(sec), "order_id": oid,
         "lines": [{"sku": s, "qty": q} for s, q in lines]}
    if hold is not None:
        e["hold_seconds"] = hold
    return e


def cancelled(eid, oid, sec):
    return {"event_id": eid, "type": "order.cancelled", "occurred_at": ts(sec), "order_id": oid}


def received(eid, sku, qty, sec=0):
    return {"event_id": eid, "type": "stock.received", "occurred_at": ts(sec), "sku": sku,
            "qty": qty}


def adjusted(eid, sku, delta, reason, sec=0):
    return {"event_id": eid, "type": "stock.adjusted", "occurred_at": ts(sec), "sku": sku,
            "delta": delta, "reason": reason}


def cmd_stock(a):
    rnd = random.Random(a.seed)
    res = []
    for i in range(a.skus):
        sku = f"{a.prefix}{i:03d}"
        qty = a.qty if a.qty_max is None else rnd.randint(a.qty, a.qty_max)
        res.append(line(sku, received(f"recv-{sku}-{a.seed}", sku, qty, i)))
    out(res)


def cmd_flash(a):
    out(line(f"{a.prefix}{i:04d}",
             created(f"ev-{a.prefix}{i:04d}", f"{a.prefix}{i:04d}", [(a.sku, a.qty)], 60 + i))
        for i in range(a.orders))


def random_lines(rnd, skus, max_lines, max_qty):
    n = rnd.randint(1, max_lines)
    picked = rnd.sample(range(skus), n)
    return [(sku_name(s), rnd.randint(1, max_qty)) for s in picked]


def cmd_orders(a):
    rnd = random.Random(a.seed)
    res = []
    for i in range(a.orders):
        oid = f"{a.prefix}{i:05d}"
        res.append(line(oid, created(f"ev-{oid}", oid,
                                     random_lines(rnd, a.skus, a.max_lines, a.max_qty), 60 + i)))
    out(res)


def cmd_scenario(a):
    """Plentiful stock: the outcome of every order is decided by its own
    events, so the final state does not depend on partition interleaving."""
    rnd = random.Random(a.seed)
    skus = [sku_name(i) for i in range(a.skus)]
    stock_lines, orders, expect_orders = [], [], {}
    demand = {s: 0 for s in skus}
    events = []  # (position, key, event)
    pos = 0.0
    for i in range(a.orders):
        oid = f"o-{a.seed}-{i:05d}"
        sec = 100 + i
        r = rnd.random()
        hold = rnd.choice([60, 3600, 86400]) if rnd.random() < a.hold else None
        lines = random_lines(rnd, a.skus, a.max_lines, a.max_qty)
        if rnd.random() < 0.02 and lines:  # the same SKU twice in one order: summed
            lines.append((lines[0][0], 1))
        kind = "plain"
        if r < a.unknown:
            lines.append(("no-such-sku", 1))
            kind = "rejected"
        elif r < a.unknown + a.huge:
            lines = [(rnd.choice(skus), 1000000)]
            kind = "rejected"
        create = created(f"c-{oid}", oid, lines, sec, hold)
        p = rnd.random()
        if kind == "plain" and p < a.cancel_first:
            # rule 6: the cancellation is read before the order it cancels
            events.append((pos, oid, cancelled(f"x-{oid}", oid, sec + 5)))
            events.append((pos + 0.5 + rnd.random() * 50, oid, create))
            expect_orders[oid] = ("cancelled", None)
        elif kind == "plain" and p < a.cancel_first + a.cancel:
            events.append((pos, oid, create))
            events.append((pos + 0.5 + rnd.random() * 50, oid, cancelled(f"x-{oid}", oid, sec + 5)))
            expect_orders[oid] = ("cancelled", None)
        else:
            events.append((pos, oid, create))
            if kind == "rejected":
                expect_orders[oid] = ("rejected", None)
            else:
                expires = sec + (hold if hold is not None else DEFAULT_HOLD)
                expect_orders[oid] = ("reserved", ts(expires))
                for s, q in lines:
                    demand[s] += q
        if rnd.random() < a.recreate:
            # a second order.created for a known order_id: ignored (rule 1)
            other = random_lines(rnd, a.skus, a.max_lines, a.max_qty)
            events.append((pos + 60 + rnd.random() * 50, oid,
                           created(f"c2-{oid}", oid, other, sec + 1)))
        pos += 1
    events.sort(key=lambda e: e[0])
    orders = [line(k, e) for _, k, e in events]

    on_hand = {}
    for i, s in enumerate(skus):
        qty = demand[s] + 50 + rnd.randint(0, 50)
        stock_lines.append(line(s, received(f"r-{a.seed}-{s}", s, qty, i)))
        on_hand[s] = qty
        if i % 5 == 0:
            stock_lines.append(line(s, adjusted(f"a-{a.seed}-{s}", s, -7, "damaged", i + 1)))
            on_hand[s] -= 7
        elif i % 5 == 1:
            stock_lines.append(line(s, adjusted(f"a-{a.seed}-{s}", s, 3, "found", i + 1)))
            on_hand[s] += 3

    expect = []
    for s in skus:
        avail = on_hand[s] - demand[s]
        assert avail > 0
        expect.append(f"S|{s}|{on_hand[s]}|{demand[s]}|0|{avail}|ok")
    for oid in sorted(expect_orders):
        st, exp = expect_orders[oid]
        expect.append(f"O|{oid}|{st}|{exp or ''}")
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "stock.txt"), "w") as f:
        out(stock_lines, f)
    with open(os.path.join(a.out, "orders.txt"), "w") as f:
        out(orders, f)
    with open(os.path.join(a.out, "expect.txt"), "w") as f:
        out(expect, f)


def cmd_dup(a):
    rnd = random.Random(a.seed)
    src = [ln.rstrip("\n") for ln in sys.stdin if ln.strip()]
    res = []  # (position, line)
    for i, ln in enumerate(src):
        res.append((i, 0, ln))
        if rnd.random() < a.adjacent:
            res.append((i + 0.5, 1, ln))
        else:
            res.append((i + 1 + rnd.random() * len(src), 1, ln))
    res.sort(key=lambda t: (t[0], t[1]))
    out(ln for _, _, ln in res)


def poison_orders():
    """(label, key, value) for one partition of inventory.orders."""
    big = created("p-big", "po-big", [("sku-p", 1)], 10)
    big["padding"] = "x" * (70 * 1024)
    return [
        ("good", "po-1", enc(created("p-good-1", "po-1", [("sku-p", 1)], 1))),
        ("invalid-json", "po-bad-json", '{"event_id":"p-bad-json","type":"order.created",'),
        ("good", "po-2", enc(created("p-good-2", "po-2", [("sku-p", 2)], 2))),
        ("schema", "po-schema", enc({"event_id": "p-schema", "type": "order.created",
                                     "occurred_at": ts(3), "order_id": "po-schema"})),
        ("unknown-type", "po-unknown", enc({"event_id": "p-unknown", "type": "order.teleported",
                                            "occurred_at": ts(4), "order_id": "po-unknown"})),
        ("oversize", "po-big", enc(big)),
        ("wrong-topic", "po-pay", enc({"event_id": "p-pay", "type": "payment.succeeded",
                                       "occurred_at": ts(6), "order_id": "po-1",
                                       "amount": 10, "currency": "EUR"})),
        ("schema", "po-qty", enc(created("p-qty0", "po-qty", [("sku-p", 0)], 7))),
        ("invalid-json", "po-utf", '{"event_id":"p-ütf","type":"order.created" trailing}'),
        ("good", "po-3", enc(created("p-good-3", "po-3", [("sku-p", 3)], 8))),
    ]


def poison_stock():
    return [
        ("good", "sku-p", enc(received("s-good-1", "sku-p", 10, 0))),
        ("negative", "sku-p", enc(adjusted("s-neg", "sku-p", -1000, "count error", 1))),
        ("good", "sku-p", enc(adjusted("s-good-2", "sku-p", -2, "damaged", 2))),
        ("schema", "sku-p", enc({"event_id": "s-schema", "type": "stock.received",
                                 "occurred_at": ts(3), "sku": "sku-p", "qty": "five"})),
        ("wrong-topic", "sku-p", enc(created("s-order", "po-x", [("sku-p", 1)], 4))),
        ("good", "sku-p", enc(received("s-good-3", "sku-p", 5, 5))),
    ]


def cmd_poison(a):
    recs = poison_orders() if a.topic == "orders" else poison_stock()
    with open(a.labels, "w") as f:
        out((r[0] for r in recs), f)
    out(f"{k}|{v}" for _, k, v in recs)


def cmd_malformed(a):
    p = a.prefix
    big = created(f"{p}big", f"{p}big", [("durian-kg", 1)], 10)
    big["note"] = "y" * (70 * 1024)
    out([
        f'{p}1|{{"event_id":"{p}1","type":"order.created","lines":[',
        f"{p}2|" + enc({"event_id": f"{p}2", "type": "order.created", "occurred_at": ts(5),
                        "order_id": f"{p}2", "lines": []}),
        f"{p}3|" + enc({"event_id": f"{p}3", "type": "order.shipped", "occurred_at": ts(6),
                        "order_id": f"{p}3"}),
        f"{p}big|" + enc(big),
    ])


DEMO_STOCK = [("durian-kg", 40), ("lychee-box", 60), ("mango-box", 120),
              ("mangosteen-kg", 25), ("rambutan-box", 80)]
DEMO_COST = {"durian-kg": 12, "dragonfruit-box": 6}  # the deadstock radar's value at risk
DEMO_FLASH_SKU, DEMO_FLASH_ORDERS = "mangosteen-kg", 60
DEMO_ORDER_HOLD = 3600  # the ordinary orders' hold_seconds; the flash sale's: the default


def configured(eid, sku, sec, **settings):
    e = {"event_id": eid, "type": "sku.configured", "occurred_at": ts(sec), "sku": sku}
    e.update(settings)
    return e


def cmd_demo(a):
    """The stream of scripts/demo.sh: DIR/stock.txt and DIR/orders.txt, with
    event times relative to --now (epoch seconds)."""
    global BASE
    BASE = dt.datetime.fromtimestamp(a.now, dt.timezone.utc)
    rnd = random.Random(a.seed)
    day = 86400
    stock = []
    # unit costs first (a batch keeps the cost of its SKU at receipt); a SKU
    # configured before its first receipt is "low" (available 0) until then
    for s, c in DEMO_COST.items():
        stock.append(line(s, configured(f"cost-{s}", s, -50 * day, unit_cost=c)))
    for i, (s, q) in enumerate(DEMO_STOCK):
        e = received(f"recv-{s}", s, q, -60 + i)
        if s == "durian-kg":  # best before in two days: the radar says donate
            e["batch"] = "D-0412"
            e["best_before"] = (BASE + dt.timedelta(days=2)).strftime("%Y-%m-%d")
        stock.append(line(s, e))
    # received six weeks ago and never sold: aged and slow on the radar
    old = received("recv-dragonfruit-box", "dragonfruit-box", 30, -42 * day)
    old["batch"] = "DF-0921"
    stock.append(line("dragonfruit-box", old))
    # the storefront hides mangosteen-kg when none is left
    stock.append(line(DEMO_FLASH_SKU, configured(f"hide-{DEMO_FLASH_SKU}", DEMO_FLASH_SKU, -50,
                                                 hide_below=1)))
    stock.append(line("mango-box", adjusted("adj-mango-1", "mango-box", -4, "crushed in transit", -40)))
    # a count error that would make on_hand negative: a dead letter
    stock.append(line("rambutan-box", adjusted("adj-rambutan-1", "rambutan-box", -500,
                                               "count error", -39)))
    events = []
    # the flash sale: more orders than units, one unit each, the default hold
    for i in range(DEMO_FLASH_ORDERS):
        oid = f"flash-{i + 1:03d}"
        events.append(line(oid, created(f"ev-{oid}", oid, [(DEMO_FLASH_SKU, 1)], 0)))
    # ordinary orders over the other SKUs, an hour's hold; some cancelled later
    others = [s for s, _ in DEMO_STOCK if s != DEMO_FLASH_SKU]
    regular = []
    for i in range(40):
        oid = f"ord-{i + 1:03d}"
        n = rnd.randint(1, 3)
        lines = [(s, rnd.randint(1, 2)) for s in rnd.sample(others, n)]
        regular.append(oid)
        events.append(line(oid, created(f"ev-{oid}", oid, lines, -20, DEMO_ORDER_HOLD)))
    for oid in rnd.sample(regular, 8):
        events.append(line(oid, cancelled(f"cancel-{oid}", oid, -3)))
    # a cancellation read before its order (remembered, DESIGN §4 rule 6)
    events.insert(10, line("ord-late", cancelled("cancel-ord-late", "ord-late", -2)))
    events.append(line("ord-late", created("ev-ord-late", "ord-late", [("durian-kg", 1)], -4,
                                           DEMO_ORDER_HOLD)))
    # duplicates: a dozen events delivered again
    events.extend(rnd.sample(events, 12))
    # malformed events
    p = "bad-"
    big = created(f"{p}big", f"{p}big", [("durian-kg", 1)], -10)
    big["note"] = "y" * (70 * 1024)
    events.extend([
        f'{p}1|{{"event_id":"{p}1","type":"order.created","lines":[',
        f"{p}2|" + enc({"event_id": f"{p}2", "type": "order.created", "occurred_at": ts(-10),
                        "order_id": f"{p}2", "lines": []}),
        f"{p}3|" + enc({"event_id": f"{p}3", "type": "order.shipped", "occurred_at": ts(-10),
                        "order_id": f"{p}3"}),
        f"{p}big|" + enc(big),
    ])
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "stock.txt"), "w") as f:
        out(stock, f)
    with open(os.path.join(a.out, "orders.txt"), "w") as f:
        out(events, f)


def read_orders(path):
    res = {}
    with open(path) as f:
        for ln in f:
            _, v = ln.rstrip("\n").split("|", 1)
            e = json.loads(v)
            if e.get("type") == "order.created" and e["order_id"] not in res:
                need = {}
                for li in e["lines"]:
                    need[li["sku"]] = need.get(li["sku"], 0) + li["qty"]
                res[e["order_id"]] = need
    return res


def read_ids(path):
    with open(path) as f:
        return [ln.strip() for ln in f if ln.strip()]


def cmd_sumlines(a):
    orders = read_orders(a.orders_file)
    tot = {}
    for oid in read_ids(a.ids_file):
        for s, q in orders[oid].items():
            tot[s] = tot.get(s, 0) + q
    out(f"{s}|{tot[s]}" for s in sorted(tot))


def cmd_check_rejected(a):
    orders = read_orders(a.orders_file)
    avail = {}
    with open(a.available_file) as f:
        for ln in f:
            s, v = ln.strip().split("|")
            avail[s] = int(v)
    for oid in read_ids(a.ids_file):
        if all(avail.get(s, 0) >= q for s, q in orders[oid].items()):
            print(f"{oid} {json.dumps(orders[oid], sort_keys=True)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("stock")
    p.add_argument("--skus", type=int, required=True)
    p.add_argument("--qty", type=int, required=True)
    p.add_argument("--qty-max", type=int)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--prefix", default="sku-")
    p = sub.add_parser("flash")
    p.add_argument("--sku", required=True)
    p.add_argument("--orders", type=int, required=True)
    p.add_argument("--qty", type=int, default=1)
    p.add_argument("--prefix", default="o-")
    p = sub.add_parser("orders")
    p.add_argument("--orders", type=int, required=True)
    p.add_argument("--skus", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--max-lines", type=int, default=3)
    p.add_argument("--max-qty", type=int, default=3)
    p.add_argument("--prefix", default="o-")
    p = sub.add_parser("scenario")
    p.add_argument("--orders", type=int, required=True)
    p.add_argument("--skus", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--max-lines", type=int, default=3)
    p.add_argument("--max-qty", type=int, default=3)
    p.add_argument("--cancel", type=float, default=0.15)
    p.add_argument("--cancel-first", type=float, default=0.03)
    p.add_argument("--unknown", type=float, default=0.02)
    p.add_argument("--huge", type=float, default=0.02)
    p.add_argument("--hold", type=float, default=0.1)
    p.add_argument("--recreate", type=float, default=0.02)
    p = sub.add_parser("dup")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--adjacent", type=float, default=0.5)
    p = sub.add_parser("demo")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--now", type=int, default=int(BASE.timestamp()))
    p = sub.add_parser("malformed")
    p.add_argument("--prefix", default="m-")
    p = sub.add_parser("poison")
    p.add_argument("topic", choices=["orders", "stock"])
    p.add_argument("--labels", required=True)
    p = sub.add_parser("sumlines")
    p.add_argument("orders_file")
    p.add_argument("ids_file")
    p = sub.add_parser("check-rejected")
    p.add_argument("orders_file")
    p.add_argument("ids_file")
    p.add_argument("available_file")
    a = ap.parse_args()
    globals()["cmd_" + a.cmd.replace("-", "_")](a)


if __name__ == "__main__":
    main()
