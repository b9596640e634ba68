#!/usr/bin/env bash
# dashboard-screenshot.sh [OUT.png]: regenerates the README's picture of
# `stockctl dashboard` (default docs/dashboard.png). Starts a seeded stack
# with the integration tests' harness (tests/integration/lib.sh: a
# PostgreSQL cluster of its own, the development broker, every worker; the
# alert-worker without a webhook only logs), a history with every colour in it (ok, low,
# hidden, oversold, deadstock aged, slow and expiring, an active and a
# blocked promotion, dead letters), orders flowing for 40 s so the charts
# have a shape, then takes a full-page screenshot with headless Chromium
# (tests/integration/cdp.py). Needs a build (meson setup build && ninja -C
# build) and chromium (scripts/install-deps.sh). Takes about a minute;
# everything it started is stopped on exit.
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n '2,12s/^# \{0,1\}//p' "$0"
  exit 0
fi
root=$(cd -- "$(dirname -- "$0")/.." && pwd)
out=$(realpath -m -- "${1:-$root/docs/dashboard.png}")
# shellcheck source=../tests/integration/lib.sh
source "$root/tests/integration/lib.sh"

start_pg
migrate
start_broker 4
start_worker stock
start_worker order
start_worker payment
start_worker timeout
start_worker alert

ago() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }
day() { date -u -d "$1" +%Y-%m-%d; }
now=$(ago now)
n=0
ev() { n=$((n + 1)); printf '%s|{"event_id":"shot-%d","type":"%s","occurred_at":"%s",%s}\n' "$1" "$n" "$2" "$3" "$4"; }
recv() { ev "$1" stock.received "$3" "\"sku\":\"$1\",\"qty\":$2${4:+,$4}"; }
conf() { ev "$1" sku.configured "$(ago '90 days ago')" "\"sku\":\"$1\",$2"; }
{
  conf apples '"unit_cost":0.40,"low_stock_threshold":20'
  conf bananas '"unit_cost":0.25,"low_stock_threshold":50'
  conf cherries '"unit_cost":4.10,"hide_below":5'
  conf dates '"unit_cost":3.20'
  conf espresso '"unit_cost":9.50,"safety_stock":10'
  conf gift-box '"unit_cost":300'
  conf honey '"unit_cost":6.80'
  recv apples 400 "$now"
  recv bananas 60 "$now"
  recv cherries 3 "$now"
  recv dates 120 "$(ago '45 days ago')" '"batch":"D-0412"'
  recv espresso 250 "$now"
  recv flour 10 "$now"
  recv gift-box 12 "$(ago '20 days ago')" "\"batch\":\"GB-XMAS\",\"best_before\":\"$(day '+10 days')\""
  recv honey 200 "$(ago '20 days ago')" '"batch":"H-7"'
  recv oats 90 "$now"
  recv pasta 140 "$now"
  recv rice 75 "$now"
} >"$SF_TMP/stock.txt"
produce inventory.stock "$SF_TMP/stock.txt"
applied() { (($(psql_q "SELECT count(*) FROM processed_events") >= $1)); }
wait_for "the stock applied" 60 applied "$n"
order() { ev "$1" order.created "$2" "\"order_id\":\"$1\",\"lines\":[{\"sku\":\"$3\",\"qty\":$4}],\"hold_seconds\":86400"; }
{
  order o-honey "$(ago '10 days ago')" honey 2
  order o-flour "$now" flour 8
  order o-bananas "$now" bananas 15
  order o-oats "$now" oats 30
} >"$SF_TMP/orders.txt"
produce inventory.orders "$SF_TMP/orders.txt"
ev o-honey payment.succeeded "$(ago '10 days ago')" '"order_id":"o-honey"' >"$SF_TMP/pay.txt"
produce inventory.payments "$SF_TMP/pay.txt"
wait_for "the orders applied" 60 applied "$n"
{
  ev flour stock.adjusted "$now" '"sku":"flour","delta":-4,"reason":"water damage"'
  echo 'rice|{"type":"stock.received","sku":"rice"'
} >"$SF_TMP/adj.txt"
produce inventory.stock "$SF_TMP/adj.txt"
printf 'o-bad|not an order\n' >"$SF_TMP/bad.txt"
produce inventory.orders "$SF_TMP/bad.txt"
"$STOCKCTL" promotion start apples --qty 60 --promo-id spring-apples --for 5d >/dev/null
"$STOCKCTL" promotion start bananas --qty 500 --promo-id banana-week --for 7d >/dev/null
wait_for "the promotions applied" 60 applied "$((n + 2))"

"$STOCKCTL" dashboard --listen 127.0.0.1:0 >"$SF_TMP/dashboard.out" 2>"$SF_TMP/dashboard.log" &
SF_WORKERS+=("$!")
wait_for "the dashboard" 30 grep -q '^dashboard: http' "$SF_TMP/dashboard.out"
url=$(sed -n 's/^dashboard: \(http[^ ]*\).*/\1/p' "$SF_TMP/dashboard.out")
note "dashboard at $url; 40 s of orders for the charts"
for s in $(seq 1 40); do
  {
    for i in $(seq 1 $((s % 7 * 6 + 10))); do
      sku=$( ((i % 3)) && echo espresso || echo pasta)
      order "f-$s-$i" "$(ago now)" "$sku" 1
    done
  } >"$SF_TMP/flow.txt"
  produce inventory.orders "$SF_TMP/flow.txt"
  sleep 1
done

python3 - "$SF_LIB_DIR" "$url" "$out" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from cdp import Browser
url, out = sys.argv[2], sys.argv[3]
with Browser(width=1440, height=1000) as b:
    page = b.new_page()
    page.goto(url)
    page.wait("document.querySelectorAll('#skus tbody tr').length >= 11", 30, "the SKU rows")
    page.wait("document.querySelectorAll('#deadstock tbody tr').length >= 3", 40, "the radar")
    page.screenshot(out)
    if page.errors:
        sys.exit("the page logged errors: " + "; ".join(page.errors))
EOF
note "wrote $out"
