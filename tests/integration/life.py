#!/usr/bin/env python3
"""Event streams for the order-lifecycle tests (issue 3): key|value lines for
`kcat -P -K '|'`. Times are real (epoch milliseconds given by the caller,
usually "now"), because expiry is measured against the wall clock.

  life.py rules --t0 MS --out DIR
      one small scenario per cell of DESIGN §4 (rules 1-7). Files, in the
      order a run produces them (run A: orders before payments; run B:
      payments before orders):
        stock0.txt                       plentiful stock, before anything
        orders.txt, payments.txt         each topic's events, per-key order fixed
        stock_late.txt                   stock arriving between the two topics
        stock_final.txt, orders_final.txt, payments_final.txt
                                         after both topics (finality, rule 7)
        expect.txt                       O|order_id|state, S|sku|on_hand|reserved|committed,
                                         A|refund_required:<order_id>|1
        expire_ids.txt                   orders a run must see expired before its
                                         payments are produced (run A)
  life.py interleave --seed S --orders N --runs K --t0 MS --out DIR
      N orders with random event sets (created, paid, failed, cancelled, with
      varied occurred_at), and K arrival orders of the two topics: DIR/run<k>/
      phase<j>.txt, phase j going to inventory.orders when j is even and to
      inventory.payments when odd (each topic keeps its own per-key order in
      every run). DIR/phases holds the phase count, DIR/stock.sql seeds the
      stock, DIR/expect.txt the state the rules give (O|order_id|state).
  life.py holds --t0 MS --n N --hold S --prefix P --sku SKU [--qty Q] [--step MS]
                [--hold2 S2 --n2 N2]
      order.created events (ids P00000...) occurring at t0 + i * step, N of
      them with hold S, then N2 with hold S2.
  life.py pay --t0 MS --prefix P --n N [--type payment.succeeded]
      one payment event (at t0) for each of the orders P00000 .. P(N-1).
  life.py stream --n N --rate R --prefix P
      N payment.failed events for orders nobody created (P00000...), written
      at R per second (paced, flushed line by line: pipe it into kcat).
  life.py mix --seed S --orders N --skus K --t0 MS --out DIR
      the mixed stream of t_lifecycle_mix: 80% paid, 10% cancelled, 5% failed
      then paid, 5% never paid (2 s holds), stock receipts during the stream.
      DIR/orders.txt, payments.txt, stock.txt, stock_late.txt, expect.txt
      (C|state|count and S|sku|received|committed).
"""
import argparse
import datetime as dt
import json
import os
import random
import sys


def ts(ms):
    t = dt.datetime.fromtimestamp(ms / 1000.0, tz=dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ms) % 1000:03d}Z"


def enc(obj):
    s = json.dumps(obj, separators=(",", ":"))
    assert "|" not in s and "\n" not in s
    return s


def rec(key, obj):
    return f"{key}|{enc(obj)}"


def write(path, lines):
    with open(path, "w") as f:
        for ln in lines:
            f.write(ln + "\n")


def created(eid, oid, lines, ms, hold):
    e = {"event_id": eid, "type": "order.created", "occurred_at": ts(ms), "order_id": oid,
         "lines": [{"sku": s, "qty": q} for s, q in lines]}
    if hold is not None:
        e["hold_seconds"] = hold
    return e


def simple(eid, typ, oid, ms):
    e = {"event_id": eid, "type": typ, "occurred_at": ts(ms), "order_id": oid}
    if typ == "payment.failed":
        e["reason"] = "card declined"
    if typ == "payment.succeeded":
        e["amount"] = 10
        e["currency"] = "EUR"
    return e


def received(eid, sku, qty, ms):
    return {"event_id": eid, "type": "stock.received", "occurred_at": ts(ms), "sku": sku, "qty": qty}


def adjusted(eid, sku, delta, ms):
    return {"event_id": eid, "type": "stock.adjusted", "occurred_at": ts(ms), "sku": sku,
            "delta": delta, "reason": "count"}


def summed(lines):
    need = {}
    for s, q in lines:
        need[s] = need.get(s, 0) + q
    return need


def target(f, fits):
    """The state DESIGN §4 gives an order's facts (the lead's reading: the
    earliest cancellation and the latest payment count; a payment dominates
    failures and later cancellations; a cancellation before a payment ->
    refund).
    fits: the order's lines fit the stock (plentiful stock: all known SKUs)."""
    if not f["created"]:
        if f["paid"] is not None:
            return "awaiting_order"
        if f["cancelled"] is not None:
            return "cancelled"
        return "payment_failed"
    if f["paid"] is not None:
        if f["cancelled"] is not None and f["cancelled"] < f.get("last_paid", f["paid"]):
            return "refund_required"
        return "committed" if fits else "refund_required"
    if f["cancelled"] is not None:
        return "cancelled"
    if f["failed"] is not None:
        return "payment_failed"
    if f.get("expired"):
        return "expired"
    return "reserved" if fits else "rejected"


# ---- rules -------------------------------------------------------------------

LONG = 3600   # holds that never end during a test
SHORT = 2     # holds that end during a test


def cmd_rules(a):
    t0 = a.t0
    S = 1000  # ms per "second" of the scenario
    stock0 = [rec("sku-a", received("r-sku-a", "sku-a", 1000, t0)),
              rec("sku-b", received("r-sku-b", "sku-b", 1000, t0))]
    stock_late = [rec("late-sku", received("r-late-sku", "late-sku", 10, t0))]
    stock_final = [rec("never-sku", received("r-never-sku", "never-sku", 100, t0))]
    received_tot = {"sku-a": 1000, "sku-b": 1000, "late-sku": 10, "never-sku": 100}
    orders, payments, orders_final, payments_final = [], [], [], []
    expect, expire_ids = {}, []
    lines_of = {}
    n = [0]

    def eid(oid, what):
        n[0] += 1
        return f"{oid}-{what}-{n[0]}"

    def cell(oid, state, evs, lines=(("sku-a", 1), ("sku-b", 2)), hold=LONG, expire_first=False):
        """evs: (topic, type, seconds after t0) in per-topic production order;
        topic 'O'/'P' or 'OF'/'PF' (final phase)."""
        lines_of[oid] = summed(lines)
        expect[oid] = state
        if expire_first:
            expire_ids.append(oid)
        for topic, typ, sec in evs:
            ms = t0 + int(sec * S)
            if typ == "created":
                e = created(eid(oid, "c"), oid, lines, ms, hold)
            elif typ == "created2":  # a second order.created, other lines: ignored
                e = created(eid(oid, "c2"), oid, [("sku-a", 7)], ms, hold)
            else:
                e = simple(eid(oid, typ.split(".")[1][:4]), typ, oid, ms)
            {"O": orders, "P": payments, "OF": orders_final, "PF": payments_final}[topic].append(rec(oid, e))

    C, X = "created", "order.cancelled"
    PS, PF = "payment.succeeded", "payment.failed"
    # rule 1: all lines or none; a second order.created is ignored
    cell("r1-reserved", "reserved", [("O", C, 0)])
    cell("r1-none-of-two", "rejected", [("O", C, 0)], lines=(("sku-a", 1), ("sku-b", 5000)))
    cell("r1-unknown-sku", "rejected", [("O", C, 0)], lines=(("sku-a", 1), ("no-such-sku", 1)))
    cell("r1-created-twice", "reserved", [("O", C, 0), ("O", "created2", 1)])
    cell("r1-same-sku-twice", "reserved", [("O", C, 0)], lines=(("sku-a", 2), ("sku-a", 3)))
    cell("r1-rejected-cancelled", "cancelled", [("O", C, 0), ("O", X, 1)],
         lines=(("sku-b", 5000),))
    # rule 2: payment deducts; dominates failures and later cancellations;
    # a released hold is taken again if stock allows, else refund_required
    cell("r2-paid", "committed", [("O", C, 0), ("P", PS, 1)])
    cell("r2-failed-then-paid", "committed", [("O", C, 0), ("P", PF, 1), ("P", PS, 2)])
    cell("r2-paid-then-failed", "committed", [("O", C, 0), ("P", PS, 1), ("P", PF, 2)])
    cell("r2-later-failure-read-first", "committed", [("O", C, 0), ("P", PF, 2), ("P", PS, 1)])
    cell("r2-earlier-failure-read-last", "committed", [("O", C, 0), ("P", PS, 2), ("P", PF, 1)])
    cell("r2-paid-then-cancelled", "committed", [("O", C, 0), ("O", X, 2), ("P", PS, 1)])
    cell("r2-paid-twice", "committed", [("O", C, 0), ("P", PS, 1), ("P", PS, 2)])
    cell("r2-rejected-paid", "refund_required", [("O", C, 0), ("P", PS, 1)],
         lines=(("sku-b", 5000),))
    cell("r2-unknown-sku-paid", "refund_required", [("O", C, 0), ("P", PS, 1)],
         lines=(("no-such-sku", 1),))
    cell("r2-rejected-stock-came-paid", "committed", [("O", C, 0), ("P", PS, 1)],
         lines=(("late-sku", 2),))
    cell("r2-expired-then-paid", "committed", [("O", C, 0), ("P", PS, SHORT + 2)],
         hold=SHORT, expire_first=True)
    cell("r2-paid-on-time-read-late", "committed", [("O", C, 0), ("P", PS, 1)],
         hold=SHORT, expire_first=True)
    # rule 3: cancellation releases; a payment after it -> refund_required
    cell("r3-cancelled", "cancelled", [("O", C, 0), ("O", X, 1)])
    cell("r3-cancelled-then-paid", "refund_required", [("O", C, 0), ("O", X, 1), ("P", PS, 2)])
    cell("r3-paid-after-two-cancels", "refund_required",
         [("O", C, 0), ("O", X, 3), ("O", X, 1), ("P", PS, 2)])
    cell("r3-cancel-then-fail", "cancelled", [("O", C, 0), ("O", X, 1), ("P", PF, 2)])
    cell("r3-fail-then-cancel", "cancelled", [("O", C, 0), ("O", X, 2), ("P", PF, 1)])
    cell("r3-cancel-read-after-commit", "refund_required", [("O", C, 0), ("P", PS, 2), ("OF", X, 1)])
    cell("r3-cancel-fail-paid", "refund_required",
         [("O", C, 0), ("O", X, 1), ("P", PF, 2), ("P", PS, 3)])
    # two payments around a cancellation (what only t_interleavings caught
    # before): the latest payment decides. Paid 1 s and 3 s, cancelled 2 s
    # after the order: the payment after the cancellation refunds the order,
    # and the goods the first payment took go back to stock, whatever order
    # the events are read in. Run A reads O, P, OF, PF; run B P, O, PF, OF;
    # the read order of each run is in the comment.
    cell("pcp-in-time-order", "refund_required",             # A: PS1 X2 PS3; B: PS1 PS3 X2
         [("O", C, 0), ("P", PS, 1), ("OF", X, 2), ("PF", PS, 3)])
    cell("pcp-later-payment-first", "refund_required",       # A: PS3 X2 PS1; B: PS3 PS1 X2
         [("O", C, 0), ("P", PS, 3), ("OF", X, 2), ("PF", PS, 1)])
    cell("pcp-cancel-first", "refund_required",              # A: X2 PS1 PS3; B: PS1 X2 PS3
         [("O", C, 0), ("O", X, 2), ("P", PS, 1), ("PF", PS, 3)])
    cell("pcp-cancel-last", "refund_required",               # A: PS1 PS3 X2; B: PS1 PS3 X2
         [("O", C, 0), ("P", PS, 1), ("P", PS, 3), ("OF", X, 2)])
    cell("pcp-cancel-then-later-first", "refund_required",   # A: X2 PS3 PS1; B: PS3 X2 PS1
         [("O", C, 0), ("O", X, 2), ("P", PS, 3), ("PF", PS, 1)])
    # ... but a failure after the cancellation is no payment: the first
    # payment stands, and so do two payments before the cancellation
    cell("pcf-failure-after-cancel", "committed",            # A: PS1 X2 PF3; B: PS1 PF3 X2
         [("O", C, 0), ("P", PS, 1), ("OF", X, 2), ("PF", PF, 3)])
    cell("ppc-both-before-cancel", "committed",              # A: PS2 PS1 X3; B: PS2 PS1 X3
         [("O", C, 0), ("P", PS, 2), ("P", PS, 1), ("OF", X, 3)])
    # rule 4: payment.failed releases; a later success applies rule 2
    cell("r4-failed", "payment_failed", [("O", C, 0), ("P", PF, 1)])
    cell("r4-failed-twice", "payment_failed", [("O", C, 0), ("P", PF, 1), ("P", PF, 2)])
    # rule 5: an unpaid hold is released at expires_at
    cell("r5-expired", "expired", [("O", C, 0)], hold=SHORT, expire_first=True)
    cell("r5-expired-then-cancelled", "cancelled", [("O", C, 0), ("OF", X, SHORT + 1)],
         hold=SHORT)
    cell("r5-expired-then-failed", "payment_failed", [("O", C, 0), ("P", PF, SHORT + 1)],
         hold=SHORT, expire_first=True)
    # rule 6: events for an order not yet seen are remembered
    cell("r6-cancel-before-order", "cancelled", [("O", X, 1), ("O", C, 0)])
    cell("r6-cancel-before-order-paid", "refund_required", [("O", X, 1), ("O", C, 0), ("P", PS, 2)])
    cell("r6-paid-no-order", "awaiting_order", [("P", PS, 1)])
    cell("r6-cancelled-no-order", "cancelled", [("O", X, 1)])
    # rule 7: committed and refund_required are final
    cell("r7-committed-final", "committed",
         [("O", C, 0), ("P", PS, 1), ("PF", PF, 5), ("OF", X, 6)])
    cell("r7-refund-final-stock-came", "refund_required",
         [("O", C, 0), ("P", PS, 1), ("PF", PF, 5), ("PF", PS, 6), ("OF", X, 7)],
         lines=(("never-sku", 1),))
    cell("r7-refund-final-cancel", "refund_required",
         [("O", C, 0), ("O", X, 1), ("P", PS, 2), ("PF", PS, 3), ("PF", PF, 4)])

    os.makedirs(a.out, exist_ok=True)
    write(os.path.join(a.out, "stock0.txt"), stock0)
    write(os.path.join(a.out, "stock_late.txt"), stock_late)
    write(os.path.join(a.out, "stock_final.txt"), stock_final)
    write(os.path.join(a.out, "orders.txt"), orders)
    write(os.path.join(a.out, "payments.txt"), payments)
    write(os.path.join(a.out, "orders_final.txt"), orders_final)
    write(os.path.join(a.out, "payments_final.txt"), payments_final)
    write(os.path.join(a.out, "expire_ids.txt"), expire_ids)
    res, held, comm = [], {}, {}
    for oid in sorted(expect):
        st = expect[oid]
        res.append(f"O|{oid}|{st}")
        if st == "reserved":
            for s, q in lines_of[oid].items():
                held[s] = held.get(s, 0) + q
        if st == "committed":
            for s, q in lines_of[oid].items():
                comm[s] = comm.get(s, 0) + q
        if st == "refund_required":
            res.append(f"A|refund_required:{oid}|1")
    for s in sorted(received_tot):
        c = comm.get(s, 0)
        res.append(f"S|{s}|{received_tot[s] - c}|{held.get(s, 0)}|{c}")
    write(os.path.join(a.out, "expect.txt"), sorted(res))


# ---- interleavings -------------------------------------------------------------


def cmd_interleave(a):
    rnd = random.Random(a.seed)
    skus = [f"il-sku-{i}" for i in range(5)]
    topic_seqs = []  # per order: (orders-topic events, payments-topic events)
    expect = []
    for i in range(a.orders):
        oid = f"il-{i:04d}"
        base = a.t0 + i * 10
        f = {"created": False, "paid": None, "cancelled": None, "failed": None}
        o_ev, p_ev = [], []
        fits = True
        if rnd.random() < 0.93:
            if rnd.random() < 0.06:
                lines, fits = [(rnd.choice(skus), 1), ("il-ghost", 1)], False
            else:
                lines = [(s, rnd.randint(1, 3)) for s in rnd.sample(skus, rnd.randint(1, 2))]
            o_ev.append(created(f"{oid}-c", oid, lines, base, LONG))
            f["created"] = True
            if rnd.random() < 0.05:
                o_ev.append(created(f"{oid}-c2", oid, [(skus[0], 9)], base + 500, LONG))

        def when():
            return base + rnd.randint(-2, 10) * 1000

        for k in range(rnd.choices([0, 1, 2], [0.6, 0.3, 0.1])[0]):
            t = when()
            o_ev.append(simple(f"{oid}-x{k}", "order.cancelled", oid, t))
            f["cancelled"] = t if f["cancelled"] is None else min(f["cancelled"], t)
        for k in range(rnd.choices([0, 1, 2], [0.35, 0.55, 0.1])[0]):
            t = when()
            p_ev.append(simple(f"{oid}-p{k}", "payment.succeeded", oid, t))
            f["paid"] = t if f["paid"] is None else min(f["paid"], t)
            f["last_paid"] = t if f.get("last_paid") is None else max(f["last_paid"], t)
        for k in range(rnd.choices([0, 1, 2], [0.6, 0.3, 0.1])[0]):
            t = when()
            p_ev.append(simple(f"{oid}-f{k}", "payment.failed", oid, t))
            f["failed"] = t if f["failed"] is None else max(f["failed"], t)
        if not o_ev and not p_ev:
            p_ev.append(simple(f"{oid}-p0", "payment.succeeded", oid, base))
            f["paid"] = base
        # each topic's own per-key order: random, the same in every run; the
        # first order.created read is the one that counts (rule 1)
        rnd.shuffle(o_ev)
        rnd.shuffle(p_ev)
        first = next((e for e in o_ev if e["type"] == "order.created"), None)
        if first is not None and first["event_id"].endswith("-c2"):
            fits = True  # the second order.created names known SKUs only
        topic_seqs.append((oid, o_ev, p_ev))
        expect.append(f"O|{oid}|{target(f, fits)}")

    runs = []  # per run: per order: list of (phase, event)
    nphases = 0
    for k in range(a.runs):
        r = random.Random(a.seed * 1000 + k)
        placed = []
        for oid, o_ev, p_ev in topic_seqs:
            n_o, n_p = len(o_ev), len(p_ev)
            if k == 0:
                merged = ["O"] * n_o + ["P"] * n_p       # orders topic read first
            elif k == 1:
                merged = ["P"] * n_p + ["O"] * n_o       # payments topic read first
            else:
                merged = ["O"] * n_o + ["P"] * n_p
                r.shuffle(merged)
            oi = pi = 0
            phase = None
            for t in merged:
                want = 0 if t == "O" else 1
                if phase is None:
                    phase = want
                elif phase % 2 != want:
                    phase += 1
                if t == "O":
                    placed.append((phase, oid, o_ev[oi]))
                    oi += 1
                else:
                    placed.append((phase, oid, p_ev[pi]))
                    pi += 1
                nphases = max(nphases, phase + 1)
        runs.append(placed)
    for k, placed in enumerate(runs):
        d = os.path.join(a.out, f"run{k}")
        os.makedirs(d, exist_ok=True)
        for j in range(nphases):
            write(os.path.join(d, f"phase{j}.txt"),
                  [rec(oid, e) for ph, oid, e in placed if ph == j])
    with open(os.path.join(a.out, "phases"), "w") as f:
        f.write(f"{nphases}\n")
    with open(os.path.join(a.out, "stock.sql"), "w") as f:
        for s in skus:
            f.write(f"INSERT INTO stock (sku, on_hand, received_total) VALUES ('{s}', 1000000, 1000000);\n")
    write(os.path.join(a.out, "expect.txt"), expect)


# ---- holds, mix ------------------------------------------------------------------


def cmd_holds(a):
    res = []
    for i in range(a.n + a.n2):
        oid = f"{a.prefix}{i:05d}"
        hold = a.hold if i < a.n else a.hold2
        res.append(rec(oid, created(f"{oid}-c", oid, [(a.sku, a.qty)], a.t0 + i * a.step, hold)))
    for ln in res:
        sys.stdout.write(ln + "\n")


def cmd_pay(a):
    for i in range(a.n):
        oid = f"{a.prefix}{i:05d}"
        sys.stdout.write(rec(oid, simple(f"{oid}-{a.type}", a.type, oid, a.t0)) + "\n")


def cmd_stream(a):
    import time
    start = time.time()
    for i in range(a.n):
        delay = start + i / a.rate - time.time()
        if delay > 0:
            time.sleep(delay)
        oid = f"{a.prefix}{i:05d}"
        sys.stdout.write(rec(oid, simple(f"{oid}-f", "payment.failed", oid, int(time.time() * 1000))) + "\n")
        sys.stdout.flush()


def cmd_mix(a):
    rnd = random.Random(a.seed)
    skus = [f"mx-sku-{i:02d}" for i in range(a.skus)]
    orders, payments, counts = [], [], {}
    recv = {s: 0 for s in skus}
    comm = {s: 0 for s in skus}
    stock, stock_late = [], []
    demand = {s: 0 for s in skus}
    plan = []
    for i in range(a.orders):
        r = rnd.random()
        kind = "paid" if r < 0.80 else "cancelled" if r < 0.90 else "failed_paid" if r < 0.95 else "unpaid"
        lines = [(s, rnd.randint(1, 3)) for s in rnd.sample(skus, rnd.randint(1, 3))]
        plan.append((i, kind, lines))
        for s, q in lines:
            demand[s] += q
    # receipts: 60% of the demand up front plus a margin, the rest (and more)
    # while the stream runs: enough for every order whatever the timing
    for s in skus:
        first = demand[s] + 20
        recv[s] += first
        stock.append(rec(s, received(f"mx-r0-{s}", s, first, a.t0)))
        for k in range(3):
            q = rnd.randint(5, 40)
            recv[s] += q
            stock_late.append(rec(s, received(f"mx-r{k + 1}-{s}", s, q, a.t0 + 1000 + k)))
    rnd.shuffle(stock_late)
    for i, kind, lines in plan:
        oid = f"mx-{i:05d}"
        base = a.t0 + i
        hold = 2 if kind == "unpaid" else 600
        orders.append(rec(oid, created(f"{oid}-c", oid, lines, base, hold)))
        if kind == "paid":
            payments.append(rec(oid, simple(f"{oid}-p", "payment.succeeded", oid, base + 300)))
            st = "committed"
        elif kind == "cancelled":
            orders.append(rec(oid, simple(f"{oid}-x", "order.cancelled", oid, base + 300)))
            st = "cancelled"
        elif kind == "failed_paid":
            payments.append(rec(oid, simple(f"{oid}-f", "payment.failed", oid, base + 200)))
            payments.append(rec(oid, simple(f"{oid}-p", "payment.succeeded", oid, base + 400)))
            st = "committed"
        else:
            st = "expired"
        counts[st] = counts.get(st, 0) + 1
        if st == "committed":
            for s, q in lines:
                comm[s] += q
    os.makedirs(a.out, exist_ok=True)
    write(os.path.join(a.out, "orders.txt"), orders)
    write(os.path.join(a.out, "payments.txt"), payments)
    write(os.path.join(a.out, "stock.txt"), stock)
    write(os.path.join(a.out, "stock_late.txt"), stock_late)
    exp = [f"C|{st}|{counts[st]}" for st in sorted(counts)]
    exp += [f"S|{s}|{recv[s]}|{comm[s]}" for s in skus]
    write(os.path.join(a.out, "expect.txt"), exp)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("rules")
    p.add_argument("--t0", type=int, required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("interleave")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--orders", type=int, required=True)
    p.add_argument("--runs", type=int, required=True)
    p.add_argument("--t0", type=int, required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("holds")
    p.add_argument("--t0", type=int, required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--hold", type=int, required=True)
    p.add_argument("--n2", type=int, default=0)
    p.add_argument("--hold2", type=int, default=0)
    p.add_argument("--prefix", required=True)
    p.add_argument("--sku", required=True)
    p.add_argument("--qty", type=int, default=1)
    p.add_argument("--step", type=int, default=0)
    p = sub.add_parser("pay")
    p.add_argument("--t0", type=int, required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--type", default="payment.succeeded")
    p = sub.add_parser("stream")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--prefix", required=True)
    p = sub.add_parser("mix")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--orders", type=int, required=True)
    p.add_argument("--skus", type=int, required=True)
    p.add_argument("--t0", type=int, required=True)
    p.add_argument("--out", required=True)
    a = ap.parse_args()
    {"rules": cmd_rules, "interleave": cmd_interleave, "holds": cmd_holds, "pay": cmd_pay,
     "stream": cmd_stream, "mix": cmd_mix}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
