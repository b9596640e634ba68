#!/usr/bin/env python3
"""bench/report.py RES_DIR OUT_JSON [FAILURE...]

Gathers the measurement files bench/run.sh wrote into RES_DIR, prints the
results table on stdout and writes them as one JSON document to OUT_JSON.
FAILURE arguments are the wrong results the run found (none: all correct).
"""
import json
import os
import sys


def load(res, name):
    path = os.path.join(res, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def fmt(v, nd=0):
    if v is None:
        return "-"
    if isinstance(v, float) or nd:
        return f"{v:,.{nd}f}"
    return f"{v:,}"


def run_entry(res, name):
    m = load(res, name)
    if m is None:
        return None
    m = dict(m)
    m["producer"] = load(res, name + ".producer")
    m["cpu"] = load(res, name + ".cpu")
    m["fallbacks"] = (load(res, name + ".fallbacks") or {}).get("batches_applied_one_by_one")
    m["db_sessions_pct"] = load(res, name + ".sessions")
    m["transactions"] = load(res, name + ".batches")
    m["outbox"] = load(res, name + ".outbox")
    m["feed"] = load(res, name + ".feed")
    rss = load(res, name + ".rss")
    if rss is not None:
        m["peak_rss_mb"] = {k: round(v / 1024, 1) for k, v in rss.items()}
    return m


def main():
    res, out, fails = sys.argv[1], sys.argv[2], sys.argv[3:]
    meta = load(res, "meta") or {}
    runs = {}
    capacity = load(res, "capacity")
    probes = [f"cap{i}" for i in range(1, len((capacity or {}).get("probes") or []) + 1)]
    for name in (["steady", "steady_nofeed", "half", "half_fetch10", "flash", "flash_cold", "wide1", "wide2", "wide4"]
                 + probes + ["cap_half"]):
        e = run_entry(res, name)
        if e is not None:
            runs[name] = e
            v = load(res, name + ".verdict")
            if v is not None:
                e["capacity_probe"] = v
    for name, label in [("steady", "steady"), ("flash", "flash"), ("flash_cold", "flash_cold"),
                        ("wide1", "wide1"), ("wide2", "wide2"), ("wide4", "wide4")]:
        if name in runs:
            runs[name]["failures"] = load(res, label + ".failures")
    for h in ("half", "half_fetch10"):
        if h in runs and "steady" in runs and not runs[h].get("peak_rss_mb"):
            runs[h]["peak_rss_mb"] = runs["steady"].get("peak_rss_mb")
    for name in ("flash", "flash_cold"):
        if name in runs:
            runs[name]["decision"] = load(res, name + ".winners")
    pgb = load(res, "pgbench")

    ratios = {}
    if pgb and "steady" in runs:
        ev = runs["steady"]["events_per_s"]
        ratios["steady_vs_pgbench_single"] = round(ev / pgb["single"]["events_per_s"], 2)
        ratios["steady_vs_pgbench_batched"] = round(ev / pgb["batched"]["events_per_s"], 2)

    ref = load(res, "reference")
    ref_ratios = {}
    if ref:
        for name in ("steady", "flash", "flash_cold", "wide1", "wide2", "wide4"):
            r = runs.get(name)
            orders = ((r or {}).get("producer") or {}).get("orders")
            if r and orders and r.get("seconds"):
                ops = orders / r["seconds"]
                r["orders_per_s"] = round(ops, 1)
                ref_ratios[name] = round(ops / ref["orders_per_s"], 3)
        ratios["orders_vs_reference"] = ref_ratios

    targets = []

    def target(what, goal, value, ok):
        targets.append({"target": what, "goal": goal, "measured": value,
                        "met": None if value is None else bool(ok)})

    if "steady" in ref_ratios:
        r = ref_ratios["steady"]
        target("steady orders/s vs the reference ceiling", ">= 0.5x", r, r >= 0.5)
    if "steady_vs_pgbench_single" in ratios:
        r = ratios["steady_vs_pgbench_single"]
        target("steady vs pgbench one event per transaction", ">= 5x", r, r >= 5)
        r = ratios["steady_vs_pgbench_batched"]
        target("steady vs pgbench set-based batches", ">= 0.8x", r, r >= 0.8)
    for name, what in (("flash", "flash sale"), ("flash_cold", "flash sale, fresh database")):
        if name not in runs:
            continue
        f = runs[name]
        d = f.get("decision") or {}
        target(f"{what}: every order decided", "<= 4 s", f["seconds"], f["seconds"] <= 4)
        w = d.get("winners")
        exp = (f["producer"] or {}).get("expect", {}).get("reserved")
        target(f"{what}: winners", f"exactly {exp}", w, w == exp)
    if "half" in runs:
        p = runs["half"]["p99_ms"]
        rate = (runs["half"].get("producer") or {}).get("target_rate")
        peak = (runs.get("steady") or {}).get("events_per_s")
        at = "half of peak"
        if rate and peak and abs(rate / peak - 0.5) > 0.01:  # BENCH_HALF_RATE
            at = f"{100 * rate / peak:.0f}% of peak (not the target's 50%)"
        target(f"(before #13) p99 at {at}", "<= 50 ms", p, p is not None and p <= 50)
    if "half_fetch10" in runs:
        p = runs["half_fetch10"]["p99_ms"]
        target("  same, workers with fetch.wait.max.ms=10", "<= 50 ms", p, p is not None and p <= 50)
    broker = (meta.get("setup", {}).get("broker") or {}).get("kind", "dev")
    if "cap_half" in runs:
        p = runs["cap_half"]["p99_ms"]
        on = "on Kafka" if broker == "kafka" else "(dev; target: Kafka)"
        target(f"p99 at half of live capacity {on}", "<= 50 ms", p, p is not None and p <= 50)
    if "steady" in runs and "steady_nofeed" in runs:
        on, off = runs["steady"]["events_per_s"], runs["steady_nofeed"]["events_per_s"]
        if on and off:
            cost = round(100 * (1 - on / off), 1)
            ratios["feed_cost_pct"] = cost
            target("feed cost: steady events/s, feed on vs off", "<= 15%", cost, cost <= 15)

        def cpu1k(r):
            c = r.get("cpu") or {}
            w, p = c.get("workers_cpu_s_per_1k"), c.get("pg_cpu_s_per_1k")
            return None if w is None or p is None else w + p
        con, coff = cpu1k(runs["steady"]), cpu1k(runs["steady_nofeed"])
        if con and coff:
            # less sensitive to a loaded machine than events/s of one short run
            ratios["feed_cost_cpu_pct"] = round(100 * (con / coff - 1), 1)
    rss_all = [v for r in runs.values() for v in (r.get("peak_rss_mb") or {}).values()]
    if rss_all:
        target("worker peak RSS", "<= 64 MB", max(rss_all), max(rss_all) <= 64)

    doc = dict(meta)
    doc["results"] = runs
    doc["pgbench"] = pgb
    doc["reference"] = ref
    doc["ratios"] = ratios
    doc["capacity"] = capacity
    doc["targets"] = targets
    doc["correct"] = not fails
    doc["wrong_results"] = fails
    with open(out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")

    m = meta.get("machine", {})
    s = meta.get("setup", {})
    print()
    print(f"stockflow bench  {meta.get('date', '')}  commit {meta.get('commit', '')}  "
          f"{meta.get('command', '')}")
    print(f"machine: {m.get('nproc')} x {m.get('cpu')}, {m.get('memory')}, kernel {m.get('kernel')}; "
          f"load average {m.get('load_start')} at start, {m.get('load_end')} at end")
    st = s.get("settings") or {}
    print(f"setup: PostgreSQL {st.get('server_version')} {s.get('postgresql')}, fsync={st.get('fsync')} "
          f"synchronous_commit={st.get('synchronous_commit')}; {s.get('partitions')} partitions; "
          f"BATCH_MAX {s.get('batch_max')}; {s.get('build')}")
    b = s.get("broker") or {}
    print(f"broker: {b.get('kind', 'dev')}: {b.get('name', 'stockflow-devbroker')}, {b.get('version', '-')}; "
          f"a fresh broker for every run")
    print()
    hdr = (f"{'run':<26}{'events':>9}{'seconds':>9}{'events/s':>10}{'p50 ms':>9}{'p95 ms':>9}"
           f"{'p99 ms':>9}{'max ms':>9}{'wrk CPU s/1k':>13}{'PG CPU s/1k':>12}{'1-by-1':>7}  peak RSS MB")
    print(hdr)
    print("-" * len(hdr) + "-" * 30)
    labels = {
        "steady": "steady (1 order, 1 pay)",
        "steady_nofeed": "  same, feed disabled",
        "half": "steady @ 50% of peak",
        "flash": f"flash sale ({s.get('flash_order_workers')} order-workers)",
        "flash_cold": "  same, fresh database",
        "wide1": "wide: 1 order + 1 pay",
        "wide2": "wide: 2 order + 2 pay",
        "wide4": "wide: 4 order + 4 pay",
    }
    for name, r in runs.items():
        cpu = r.get("cpu") or {}
        rss = r.get("peak_rss_mb") or {}
        rss_s = " ".join(f"{k} {v:.1f}" for k, v in sorted(rss.items()))
        label = labels.get(name, name)
        if name == "half" and r.get("producer"):
            rate = r['producer']['target_rate']
            peak = (runs.get("steady") or {}).get("events_per_s")
            share = f" ({100 * rate / peak:.0f}%)" if peak else ""
            label = f"steady @ {rate:,.0f}/s{share}"
        if name == "half_fetch10" and r.get("producer"):
            label = f"  same, fetch wait 10 ms"
        if name.startswith("cap") and r.get("producer"):
            rate = r['producer']['target_rate']
            v = r.get("capacity_probe")
            label = (f"cap @ {rate:,.0f}/s (50%)" if name == "cap_half" else
                     f"probe @ {rate:,.0f}/s " + ("ok" if v and v.get("pass") else "lag"))
        print(f"{label:<26}{fmt(r['events']):>9}{fmt(r['seconds'], 2):>9}{fmt(r['events_per_s']):>10}"
              f"{fmt(r['p50_ms'], 1):>9}{fmt(r['p95_ms'], 1):>9}{fmt(r['p99_ms'], 1):>9}"
              f"{fmt(r['max_ms'], 1):>9}{fmt(cpu.get('workers_cpu_s_per_1k'), 3):>13}"
              f"{fmt(cpu.get('pg_cpu_s_per_1k'), 3):>12}{fmt(r.get('fallbacks')):>7}  {rss_s}")
    for name, r in runs.items():
        p = r.get("producer") or {}
        if p:
            print(f"  producer {name}: {p['sent']:,} events handed over in {p['send_s']:.2f} s, "
                  f"acknowledged at {p['rate']:,.0f} events/s")
    print("  (1-by-1: batches that failed as a whole and were applied again one event per transaction)")
    for name, r in runs.items():
        c = r.get("cpu") or {}
        if c.get("machine_busy_cpu_s") is not None and c.get("wall_s"):
            oth = c.get("others_cpu_s")
            print(f"  {name}: machine busy {c['machine_busy_cpu_s']:.1f} CPU s in {c['wall_s']:.1f} s "
                  f"(workers {c['workers_cpu_s']:.1f}, PostgreSQL {c['pg_cpu_s'] or 0:.1f}, broker {c['broker_cpu_s']:.1f}"
                  + (f", everything else {oth:.1f})" if oth is not None else ")"))
    for name, r in runs.items():
        fl = r.get("failures")
        if fl:
            print(f"  {name}: {fl.get('retry_records') or 0} records sent to retry topics, "
                  f"{fl.get('dead_letters') or 0} dead letters")
    print()
    print("where the time goes (database sessions of the workers, % of 20 ms samples; transactions by commit time):")
    for name, r in runs.items():
        for role, w in sorted((r.get("db_sessions_pct") or {}).items()):
            top = ", ".join(f"{k} {v}%" for k, v in list(w.items())[:5])
            print(f"  {name:<13} {role:<15} {top}")
        for w, b in sorted((r.get("transactions") or {}).items()):
            print(f"  {name:<13} {w + ' txns':<15} {b['transactions']:,} transactions, {b['avg_events']} events on average "
                  f"(max {b['max_events']}), {b['avg_ms']} ms on average (p50 {b['p50_ms']}, max {b['max_ms']})")
        fd = r.get("feed")
        if fd and fd.get("enabled") is not False:
            print(f"  {name:<13} {'feed':<15} {fd['records']:,} inventory.availability records by "
                  f"{fd['transactions']:,} transactions: {fmt(fd['records_per_transaction'])} per transaction "
                  f"({fd['skus']:,} SKUs)")
        ob = r.get("outbox")
        if ob and ob.get("outbox_drained_s_after_last_commit") is not None:
            print(f"  {name:<13} {'outbox relay':<15} all {ob['outbox_records']:,} ledger/alert/feed records published "
                  f"{ob['outbox_drained_s_after_last_commit']} s after the last commit")
    print()
    for name, what in (("flash", "flash sale"), ("flash_cold", "flash sale on a fresh database (no warm-up)")):
        if name in runs:
            d = runs[name].get("decision") or {}
            print(f"{what}: {runs[name]['events']:,} orders decided {runs[name]['seconds']:.2f} s after "
                  f"the first was produced; winners {d.get('winners')}, rejected {d.get('rejected')}")
    if capacity:
        c = capacity
        print(f"live capacity ({c['broker']} broker): {fmt(c.get('capacity'))} events/s "
              f"(lowest rate whose lag went over the bound: {fmt(c.get('lowest_failing'))}); probes of {c['window_s']} s, "
              f"search {c['search_s']} s")
        for v in c.get("probes") or []:
            print(f"  probe {v['rate']:>7,} events/s: {'bounded' if v['pass'] else 'OVER BOUND'}: lag at end "
                  f"{v['lag_end']:,}, max of 2nd half {v['lag_max_second_half']:,} (bound {v['lag_bound']:,}, "
                  f"{v['samples']} samples); applied {fmt(v['events_per_s'])} events/s, p99 {v['p99_ms']} ms")
    if pgb:
        print(f"pgbench, same SQL, {pgb['clients']} clients, {pgb['seconds']} s: "
              f"one event per transaction {pgb['single']['events_per_s']:,.0f} events/s; "
              f"set-based batches of {pgb['batch']} {pgb['batched']['events_per_s']:,.0f} events/s")
    if "steady_vs_pgbench_single" in ratios:
        print(f"ratios: steady / pgbench one-per-transaction = {ratios['steady_vs_pgbench_single']:.2f}x; "
              f"steady / pgbench batched = {ratios['steady_vs_pgbench_batched']:.2f}x")
    if ref:
        print(f"reference ceiling (the least SQL a reservation needs, own tables), {ref['clients']} clients, "
              f"{ref['seconds']} s, batches of {ref['batch']} orders: {ref['orders_per_s']:,.0f} orders/s")
        for name, x in ref_ratios.items():
            print(f"  {name}: {runs[name]['orders_per_s']:,.0f} orders/s end to end = {x:.2f}x of it")
    if "feed_cost_pct" in ratios:
        print(f"feed cost (steady, feed on vs disabled): events/s {runs['steady']['events_per_s']:,.0f} vs "
              f"{runs['steady_nofeed']['events_per_s']:,.0f} ({ratios['feed_cost_pct']:+.1f}%); "
              f"workers + PostgreSQL CPU s per 1,000 events "
              + (f"{ratios['feed_cost_cpu_pct']:+.1f}%" if ratios.get("feed_cost_cpu_pct") is not None else "-"))
    print()
    print("targets (reported, never failed on):")
    for t in targets:
        met = {True: "met", False: "MISSED", None: "-"}[t["met"]]
        print(f"  {t['target']:<48} {t['goal']:>12}  measured {t['measured']!s:>10}  {met}")
    print()
    if fails:
        print(f"WRONG RESULTS ({len(fails)}):")
        for f in fails:
            print(f"  {f}")
    else:
        print("results: correct (counts, winners, invariants, redelivery)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
