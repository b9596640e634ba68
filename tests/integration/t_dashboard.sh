#!/usr/bin/env bash
# stockctl dashboard (DESIGN §9 "Dashboard", issue 17) in headless Chromium
# against a seeded stack: PostgreSQL, the dev broker, stock and order
# workers.
#   sku-old   received 40 at cost 5, 60 days ago, never sold: deadstock
#             (aged, slow; bundle), 200.00 at risk: red
#   sku-over  5 received, an order holds 5, a loss of 3: oversold: red
#   sku-low   10 received, low_stock_threshold 20: low: yellow
#   sku-ok    100 received, an order holds 3: ok: green
#   a poison record on inventory.stock: 1 dead letter in inventory.stock.dlq
# Checks: the refusals (a non-loopback --listen without --token: exit 2 and
# one line; with --token, /api/ without it or with a wrong one: 401, and in
# Chromium the page asks for the token, then shows the rows; a POST without
# the CSRF token or with a foreign Host: 403); the page in Chromium
# (cdp.py, dashboard_browser.py): no console errors, the rows' colours, the
# KPIs (1 oversold SKU, 8 held units, 200.00 at risk, 1 dead letter), the
# filter and sort; a click on "clearance" for sku-old, confirmed: a
# promotion.allocated for sku-old on inventory.promotions and the promotion
# active in the promotions view with its 40 units earmarked; stockctl
# promotion start (the same function) for more than is available: blocked;
# the other two
# actions through the same endpoint the page uses: new thresholds for
# sku-low (a sku.configured; the SKU turns ok) and a redrive of
# inventory.stock.dlq (the dead letter back on inventory.stock, with
# x-redriven-from). The screenshot stays in $SF_ARTIFACT_DIR (printed).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v chromium >/dev/null || [[ -n ${CHROMIUM:-} ]] ||
  fail "chromium not installed (scripts/install-deps.sh installs it)"
ART=${SF_ARTIFACT_DIR:-$SF_SRC/build/tests/integration}
mkdir -p "$ART"

start_pg
migrate
start_broker 4
start_worker stock
start_worker order

old=$(date -u -d '60 days ago' +%Y-%m-%dT%H:%M:%SZ)
cfg=$(date -u -d '90 days ago' +%Y-%m-%dT%H:%M:%SZ)
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cat >"$SF_TMP/stock.txt" <<EOF
sku-old|{"event_id":"d-1","type":"sku.configured","occurred_at":"$cfg","sku":"sku-old","unit_cost":5}
sku-old|{"event_id":"d-2","type":"stock.received","occurred_at":"$old","sku":"sku-old","qty":40,"batch":"B1"}
sku-low|{"event_id":"d-3","type":"sku.configured","occurred_at":"$now","sku":"sku-low","low_stock_threshold":20}
sku-low|{"event_id":"d-4","type":"stock.received","occurred_at":"$now","sku":"sku-low","qty":10}
sku-ok|{"event_id":"d-5","type":"stock.received","occurred_at":"$now","sku":"sku-ok","qty":100}
sku-over|{"event_id":"d-6","type":"stock.received","occurred_at":"$now","sku":"sku-over","qty":5}
sku-bad|this is not JSON
EOF
produce inventory.stock "$SF_TMP/stock.txt"
applied() { [[ $(psql_q "SELECT count(*) FROM processed_events") == "$1" ]]; }
wait_for "6 stock events applied" 60 applied 6
cat >"$SF_TMP/orders.txt" <<EOF
o-1|{"event_id":"d-7","type":"order.created","occurred_at":"$now","order_id":"o-1","lines":[{"sku":"sku-over","qty":5}],"hold_seconds":86400}
o-2|{"event_id":"d-8","type":"order.created","occurred_at":"$now","order_id":"o-2","lines":[{"sku":"sku-ok","qty":3}],"hold_seconds":86400}
EOF
produce inventory.orders "$SF_TMP/orders.txt"
wait_for "2 orders applied" 60 applied 8
echo 'sku-over|{"event_id":"d-9","type":"stock.adjusted","occurred_at":"'"$now"'","sku":"sku-over","delta":-3,"reason":"broken"}' >"$SF_TMP/adj.txt"
produce inventory.stock "$SF_TMP/adj.txt"
wait_for "the loss applied" 60 applied 9
consume_dlq inventory.stock.dlq 1 30 >/dev/null
assert_eq "$(psql_q "SELECT string_agg(sku || ':' || status, ' ' ORDER BY sku) FROM stock_levels")" \
  "sku-low:low sku-ok:ok sku-old:ok sku-over:oversold" "seeded statuses"

# ---- the refusals -------------------------------------------------------------
rc=0
"$STOCKCTL" dashboard --listen 0.0.0.0:0 >"$SF_TMP/open.out" 2>"$SF_TMP/open.err" || rc=$?
assert_eq "$rc" 2 "a non-loopback --listen without --token: exit code"
assert_eq "$(wc -l <"$SF_TMP/open.err")" 1 "one line"
assert_match "not a loopback address: refused without --token" "$(cat "$SF_TMP/open.err")" "why"

# start_dashboard NAME [ARGS...]: sets DASH_URL, DASH_PID
start_dashboard() {
  local name=$1
  shift
  "$STOCKCTL" dashboard --listen 127.0.0.1:0 "$@" >"$SF_TMP/$name.out" 2>"$SF_TMP/$name.log" &
  DASH_PID=$!
  SF_WORKERS+=("$DASH_PID") # stopped before the broker and PostgreSQL
  SF_NAME[$DASH_PID]=$name
  SF_LOG[$DASH_PID]=$SF_TMP/$name.log
  wait_for "$name listening" 30 grep -q '^dashboard: http' "$SF_TMP/$name.out"
  DASH_URL=$(sed -n 's/^dashboard: \(http[^ ]*\).*/\1/p' "$SF_TMP/$name.out")
  note "$name at $DASH_URL"
}
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

start_dashboard locked --token s3cret-token
assert_eq "$(status "${DASH_URL}api/state")" 401 "token: /api/state without the token"
assert_eq "$(status -H 'Authorization: Bearer wrong' "${DASH_URL}api/state")" 401 "token: a wrong token"
assert_eq "$(status -H 'Authorization: Bearer s3cret-token' "${DASH_URL}api/state")" 200 "token: the token"
assert_eq "$(status "$DASH_URL")" 200 "token: the page itself (it asks for the token)"
assert_eq "$(status -X POST -H 'Authorization: Bearer s3cret-token' -d '{"sku":"sku-low","hide_below":1}' \
  "${DASH_URL}api/sku")" 403 "token: a POST without the CSRF token"

cat >"$SF_TMP/locked.json" <<'EOF'
{"token": "s3cret-token",
 "rows": {"sku-old": "red", "sku-over": "red", "sku-low": "yellow", "sku-ok": "green"}}
EOF
python3 "$SF_LIB_DIR/dashboard_browser.py" "$DASH_URL" "$SF_TMP/locked.json" "$SF_TMP/locked.png" \
  >"$SF_TMP/locked-browser.out" 2>"$SF_TMP/locked-browser.err" || {
  cat "$SF_TMP/locked-browser.err" >&2
  fail "token: the page asks for the token and then shows the SKUs"
}

start_dashboard dashboard
csrf=$(curl -s "$DASH_URL" | sed -n 's/.*const CSRF = "\([0-9a-f]*\)".*/\1/p')
[[ ${#csrf} == 32 ]] || fail "no CSRF token in the page"
assert_eq "$(status -X POST -d '{"sku":"sku-low","hide_below":1}' "${DASH_URL}api/sku")" 403 \
  "a POST without the CSRF token"
assert_eq "$(status -X POST -H "X-CSRF-Token: x$csrf" -d '{"sku":"sku-low","hide_below":1}' \
  "${DASH_URL}api/sku")" 403 "a POST with a wrong CSRF token"
assert_eq "$(status -H 'Host: evil.example:80' "${DASH_URL}api/state")" 403 "a foreign Host (DNS rebinding)"
assert_eq "$(psql_q "SELECT count(*) FROM processed_events WHERE type = 'sku.configured'")" 2 \
  "nothing produced by the refused POSTs"

# ---- the page in Chromium -------------------------------------------------------
cat >"$SF_TMP/expect.json" <<'EOF'
{"rows": {"sku-old": "red", "sku-over": "red", "sku-low": "yellow", "sku-ok": "green"},
 "kpis": {"kpi-oversold": 1, "kpi-held": 8, "kpi-earmarked": 0, "kpi-deadstock": "200.00"},
 "dead_letters": {"inventory.stock.dlq": 1},
 "clearance": "sku-old"}
EOF
shot=$ART/t_dashboard$(on_kafka && echo -kafka || true).png
python3 "$SF_LIB_DIR/dashboard_browser.py" "$DASH_URL" "$SF_TMP/expect.json" "$shot" \
  >"$SF_TMP/browser.out" 2>"$SF_TMP/browser.err" || {
  cat "$SF_TMP/browser.err" >&2
  fail "the page in Chromium"
}
note "browser: $(cat "$SF_TMP/browser.out")"
note "screenshot: $shot"
[[ $(head -c 8 "$shot" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "no PNG at $shot"

# the clearance: one promotion.allocated for sku-old, and the promotion in the view
ev=$(topic_records inventory.promotions | jq -c '.payload | fromjson | select(.type == "promotion.allocated")')
assert_eq "$(printf '%s\n' "$ev" | jq -r '[.sku, .qty, (.promo_id | startswith("clearance-sku-old-"))] | @tsv')" \
  "$(printf 'sku-old\t40\ttrue')" "the clearance event on inventory.promotions"
promo=$(printf '%s\n' "$ev" | jq -r .promo_id)
view() { psql_q "SELECT sku || ' ' || state || ' ' || allocated || ' ' || earmarked FROM promotions WHERE promo_id = '$promo'"; }
wait_for "the promotion in the view" 30 eval '[[ $(view) == "sku-old active 40 40" ]]'

# the command the clearance shares its code with: too many units, blocked
"$STOCKCTL" promotion start sku-ok --qty 500 --promo-id cli-big --json >"$SF_TMP/promo.json"
assert_eq "$(jq -r '[.topic, .event.type, .event.promo_id, .event.sku, .event.qty] | @tsv' "$SF_TMP/promo.json")" \
  "$(printf 'inventory.promotions\tpromotion.allocated\tcli-big\tsku-ok\t500')" "stockctl promotion start"
wait_for "cli-big blocked" 30 eval '[[ $(psql_q "SELECT state FROM promotions WHERE promo_id = '"'cli-big'"'") == blocked ]]'

# new thresholds for sku-low, as the page posts them: sku.configured, then ok
post() { curl -s -X POST -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' -d "$2" "${DASH_URL}$1"; }
r=$(post api/sku '{"sku":"sku-low","low_stock_threshold":5,"safety_stock":null,"hide_below":null}')
assert_eq "$(jq -r '[.ok, .topic, .event.type, .event.low_stock_threshold, (.event | has("safety_stock"))] | @tsv' <<<"$r")" \
  "$(printf 'true\tinventory.stock\tsku.configured\t5\tfalse')" "thresholds: the answer"
wait_for "sku-low ok" 30 eval '[[ $(psql_q "SELECT status FROM stock_levels WHERE sku = '"'sku-low'"'") == ok ]]'

# a redrive of inventory.stock.dlq, as the page posts it: the dead letter
# back on inventory.stock (where it fails again: a second dead letter)
r=$(post api/redrive '{"topic":"inventory.stock.dlq"}')
assert_eq "$(jq -r '[.ok, .moved] | @tsv' <<<"$r")" "$(printf 'true\t1')" "redrive: the answer ($r)"
back=$(topic_records inventory.stock | jq -r 'select(.h["x-redriven-from"] != null) | .payload')
assert_eq "$back" "this is not JSON" "redrive: the dead letter back on inventory.stock"
consume_dlq inventory.stock.dlq 2 30 >/dev/null
r=$(post api/redrive '{"topic":"no.such.dlq"}')
assert_eq "$(jq -r .ok <<<"$r")" false "redrive of a topic that does not exist"

# Ctrl-C (SIGTERM) stops it: the Kafka thread and the HTTP threads joined,
# exit 0 (under ASan also: no leak, no error)
sf_stop_pid "$DASH_PID" 15
assert_eq "$SF_KILLED" 0 "the dashboard stopped within 15 s of SIGTERM"
assert_eq "$SF_RC" 0 "the dashboard's exit code after SIGTERM"
