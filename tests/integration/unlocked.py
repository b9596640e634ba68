#!/usr/bin/env python3
"""A sold-out SKU read without a lock changes under a batch (t_fast_path).

Usage: unlocked.py URL

Session A locks a batch of 5 one-unit orders for SKU X, which has nothing
left: sf_lock_batch reads X without locking it. Session B then receives 3
units of X and commits (it does not wait: X is not locked). A applies the
batch. Its set-based attempt sees the new stock, so the check at its end
(the row is no longer the version sf_lock_batch read) must undo it and apply
the batch again with X locked. Expected: 3 reserved, 2 rejected, X reserved
3, no invariant violated, and a gap in the outbox ids (the undone attempt
took sequence numbers) to show the second pass ran. Prints "redone".
"""
import subprocess
import sys

URL = sys.argv[1]


def q(sql):
    out = subprocess.run(["psql", URL, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"psql: {out.stderr.strip()}")
    return out.stdout.strip()


q("INSERT INTO stock (sku, on_hand, received_total) VALUES ('ul-x', 0, 0)")
n = 5
ids = ",".join(f"ul-o{i}" for i in range(1, n + 1))
a = subprocess.Popen(["psql", URL, "-XAtq", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)


def a_run(sql):
    a.stdin.write(sql + "\n\\echo MARK\n")
    a.stdin.flush()
    lines = []
    for line in a.stdout:
        if line.strip() == "MARK":
            return lines
        lines.append(line.rstrip("\n"))
    sys.exit("session A ended early: " + "\n".join(lines))


a_run(f"BEGIN; SELECT sf_lock_batch('{{{ids}}}', '{{}}', '{{{','.join(['ul-x'] * n)}}}');")
held = a_run("SELECT current_setting('stockflow.unlocked');")
if "ul-x" not in " ".join(held):
    sys.exit(f"sf_lock_batch did not leave ul-x unlocked: {held}")
q("UPDATE stock SET on_hand = on_hand + 3, received_total = received_total + 3 "
  "WHERE sku = 'ul-x'")   # does not wait: A holds no lock on it
before = int(q("SELECT last_value FROM outbox_id_seq"))
arr = lambda vals: "'{" + ",".join(vals) + "}'"
rows = a_run(
    "SELECT pos, outcome FROM sf_apply_batch("
    f"{arr(['order.created'] * n)}, {arr([f'ul-e{i}' for i in range(1, n + 1)])}, "
    f"{arr(['1800000000000'] * n)}::bigint[], '{{{ids}}}', {arr(['NULL'] * n)}, "
    f"{arr(['0'] * n)}::bigint[], {arr(['0'] * n)}::integer[], {arr(['NULL'] * n)}, "
    f"{arr(['inventory.orders'] * n)}, {arr(['0'] * n)}::integer[], "
    f"{arr([str(i) for i in range(n)])}::bigint[], {arr([str(i) for i in range(1, n + 1)])}::integer[], "
    f"{arr(['ul-x'] * n)}, {arr(['1'] * n)}::bigint[], 900, true);")
a_run("COMMIT;")
a.stdin.close()
a.wait()
got = sorted(rows)
want = sorted([f"{i}|applied:reserved" for i in (1, 2, 3)] + [f"{i}|applied:rejected" for i in (4, 5)])
if got != want:
    sys.exit(f"outcomes {got}, expected {want}")
stock = q("SELECT on_hand || '|' || reserved FROM stock WHERE sku = 'ul-x'")
if stock != "3|3":
    sys.exit(f"ul-x on_hand|reserved {stock}, expected 3|3")
bad = q("SELECT count(*) FROM invariant_violations")
if bad != "0":
    sys.exit(f"{bad} invariant violation(s)")
# ledger rows only: A's commit also raises ul-x's low_stock alert (021)
ids_used = [int(x) for x in q("SELECT id FROM outbox WHERE id > %d AND topic = 'inventory.ledger' "
                              "ORDER BY id" % before).split()]
if len(ids_used) != n:
    sys.exit(f"{len(ids_used)} outbox rows, expected {n} ledger records")
if ids_used[0] == before + 1:
    sys.exit("no gap in the outbox ids: the batch was not applied a second time")
print(f"redone: outbox ids {ids_used[0]}..{ids_used[-1]} after {before}")
