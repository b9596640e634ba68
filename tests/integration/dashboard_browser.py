#!/usr/bin/env python3
"""The dashboard in headless Chromium (t_dashboard.sh).

usage: dashboard_browser.py URL EXPECT.json SCREENSHOT.png

EXPECT: {"token": T?, "rows": {sku: "red"|"yellow"|"green"},
         "kpis": {element id: value}?, "dead_letters": {topic: n}?,
         "clearance": sku?}
Loads the page; with a token, waits for the page to ask for it and types
it in. Waits (30 s at most) until every expected row and KPI is shown;
with a clearance, checks the filter, the health filter and the sort,
clicks "clearance" on the row of that SKU, confirms, waits for the answer
and for the promotion in the page's promotions table. Saves a screenshot.
Fails (exit 1, one line why) on any console error, uncaught exception or
failed load. Prints one JSON line: {"toast": ..., "screenshot": ...}."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cdp import Browser, CDPError  # noqa: E402


def q(s):
    return json.dumps(s)


def rows_shown(page):
    return page.eval("[...document.querySelectorAll('#skus tbody tr')].map(t => t.dataset.sku)")


def check_table(page, rows):
    page.eval("(() => { const f = document.querySelector('#filter'); f.value = %s;"
              " f.dispatchEvent(new Event('input')); })()" % q(sorted(rows)[0].lower()))
    page.wait("[...document.querySelectorAll('#skus tbody tr')].every(t => t.dataset.sku"
              ".toLowerCase().includes(%s))" % q(sorted(rows)[0].lower()), 5, "the filter")
    page.eval("(() => { const f = document.querySelector('#filter'); f.value = '';"
              " f.dispatchEvent(new Event('input'));"
              " const h = document.querySelector('#health'); h.value = 'red';"
              " h.dispatchEvent(new Event('change')); })()")
    red = sorted(s for s, h in rows.items() if h == "red")
    page.wait("JSON.stringify([...document.querySelectorAll('#skus tbody tr')].map(t => t.dataset.sku)"
              ".sort()) === %s" % q(json.dumps(red, separators=(",", ":"))), 5, "the red filter: %s" % red)
    page.eval("(() => { const h = document.querySelector('#health'); h.value = '';"
              " h.dispatchEvent(new Event('change')); })()")
    page.click("#skus th[data-key=sku]")
    shown = page.wait("(() => { const r = [...document.querySelectorAll('#skus tbody tr')]"
                      ".map(t => t.dataset.sku); return r.length >= %d && r; })()" % len(rows), 5)
    if shown != sorted(shown):
        raise CDPError("sort by SKU: rows in order %s" % shown)


def main():
    url, expect_path, shot = sys.argv[1:4]
    with open(expect_path) as f:
        expect = json.load(f)
    with Browser(width=1440, height=1100) as b:
        page = b.new_page()
        page.goto(url)
        if expect.get("token"):
            page.wait("document.querySelector('#modal.open #modal-title')?.textContent === 'Bearer token'",
                      10, "the page asking for the token")
            page.click("#modal-fields input[name=token]")
            page.type(expect["token"])
            page.click("#modal-ok")
            # the 401s that made the page ask were expected; nothing else
            page.errors[:] = [e for e in page.errors if "status of 401" not in e]
        for sku, health in expect["rows"].items():
            page.wait("document.querySelector(%s)?.dataset.health === %s"
                      % (q("#skus tr[data-sku=%s]" % q(sku)), q(health)), 30, "row %s %s" % (sku, health))
        for kid, value in expect.get("kpis", {}).items():
            page.wait("document.querySelector('#%s')?.dataset.value === %s" % (kid, q(str(value))), 30,
                      "KPI %s = %s" % (kid, value))
        for topic, n in expect.get("dead_letters", {}).items():
            page.wait("document.querySelector(%s)?.dataset.value === %s"
                      % (q("#kpi-dlq li[data-name=%s]" % q(topic)), q(str(n))), 30,
                      "dead letters %s = %s" % (topic, n))
        sku = expect.get("clearance")
        if not sku:
            page.screenshot(shot)
            if page.errors:
                raise CDPError("the page logged errors: %s" % "; ".join(page.errors))
            print(json.dumps({"screenshot": shot, "rows": rows_shown(page)}))
            return
        check_table(page, expect["rows"])
        page.click("#skus tr[data-sku=%s] button.clearance" % json.dumps(sku))
        page.wait("document.querySelector('#modal').classList.contains('open')", 5, "the confirmation")
        page.click("#modal-ok")
        toast = page.wait("(() => { const t = document.querySelector('#toast');"
                          " return t.classList.contains('show') && !t.textContent.startsWith('working')"
                          " && t.textContent; })()", 40, "the answer")
        if "sent to inventory.promotions" not in toast:
            raise CDPError("clearance refused: %s" % toast)
        page.wait("[...document.querySelectorAll('#promotions tbody tr')].some(t =>"
                  " (t.dataset.key || '').startsWith(%s))" % q("clearance-" + sku), 40,
                  "the clearance promotion in the page")
        page.screenshot(shot)
        if page.errors:
            raise CDPError("the page logged errors: %s" % "; ".join(page.errors))
        print(json.dumps({"toast": toast, "screenshot": shot, "rows": rows_shown(page)}))


if __name__ == "__main__":
    try:
        main()
    except CDPError as e:
        print("dashboard_browser: %s" % e, file=sys.stderr)
        sys.exit(1)
