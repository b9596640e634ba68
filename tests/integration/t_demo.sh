#!/usr/bin/env bash
# scripts/demo.sh, the README's first command, end to end (issue 17): it
# runs on a stack folder of its own (STOCKFLOW_STACK, the build folder of
# this test run), with --kafka when SF_BROKER=kafka, and
#   - exits 0, every expected outcome of its last section "ok", none missed;
#   - its webhook received, one request per alert_id, each answered 200:
#     hidden and back_in_stock for mangosteen-kg (sold out, then a declined
#     payment frees a unit), low_stock for rambutan-box (stockctl sku set),
#     oversold for lychee-box (a loss below the holds), promotion_conflict
#     for P-MANGO-MEGA, deadstock for dragonfruit-box and durian-kg, and one
#     dead_letter per dead letter (1 from inventory.stock, 4 from orders),
#     every one with Idempotency-Key = alert_id;
#   - its summary shows the flash sale (25 held, 35 rejected), the radar's
#     rows and the promotions;
#   - it stopped everything it started: every process it names exited 0,
#     none is left, the cluster is stopped.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

build=$(cd -- "$(dirname -- "$STOCKCTL")/.." && pwd)
stack=$SF_TMP/stack
mkdir -p "$stack"
args=()
! on_kafka || args+=(--kafka)
rc=0
STOCKFLOW_BUILD=$build STOCKFLOW_STACK=$stack "$SF_SRC/scripts/demo.sh" "${args[@]}" \
  >"$SF_TMP/demo.out" 2>"$SF_TMP/demo.err" </dev/null || rc=$?
if ((rc != 0)); then
  tail -n 60 "$SF_TMP/demo.out" >&2
  tail -n 40 "$SF_TMP/demo.err" >&2
fi
assert_eq 0 "$rc" "demo.sh ${args[*]} exit status"
out=$SF_TMP/demo.out

# the demo's own checks: all there, none missed
assert_eq 0 "$(grep -c '^   MISSED' "$out" || true)" "expected outcomes missed"
assert_eq 19 "$(sed -n '/^== expected outcomes/,/^== /p' "$out" | grep -c '^   ok ')" "expected outcomes ok"

# what the webhook received, read here from its request log
req=$stack/logs/webhook-requests.jsonl
[[ -s $req ]] || fail "no webhook request log at $req"
jq -r '(.body | fromjson) as $b | "\($b.kind) \($b.details.promo_id // $b.details.sku // "-")"' "$req" |
  grep -v '^dead_letter' | sort >"$SF_TMP/kinds.txt"
# dragonfruit-box and durian-kg get unit costs before their first receipt:
# low (available 0) until it arrives, then back in stock
cat >"$SF_TMP/kinds.want" <<'W'
back_in_stock dragonfruit-box
back_in_stock durian-kg
back_in_stock mangosteen-kg
deadstock dragonfruit-box
deadstock durian-kg
hidden mangosteen-kg
low_stock rambutan-box
oversold lychee-box
promotion_conflict P-MANGO-MEGA
W
assert_files_eq "$SF_TMP/kinds.want" "$SF_TMP/kinds.txt" "alerts at the webhook (kind, subject)"
assert_eq 5 "$(jq -r 'select((.body | fromjson | .kind) == "dead_letter") | .idempotency_key' "$req" | sort -u | wc -l)" \
  "dead_letter alerts at the webhook"
assert_eq 0 "$(jq -r 'select(.status != 200 or .method != "POST" or .idempotency_key != (.body | fromjson | .alert_id))' "$req" | wc -l)" \
  "every request a POST answered 200 with Idempotency-Key = alert_id"
assert_match 'promotion P-MANGO-MEGA blocked: SKU mango-box asked 60, available [0-9]+ \(short by [0-9]+\)' \
  "$(jq -r '.body | fromjson | select(.kind == "promotion_conflict") | .summary' "$req")" "the promotion_conflict alert"

# the summary a person reads
assert_match '25 got a hold, 35 rejected' "$(grep 'got a hold' "$out")" "flash sale line"
assert_match '^ +durian-kg +expiring +donate ' "$(grep -E '^ +durian-kg +expiring' "$out")" "radar row durian-kg"
assert_match '^ +dragonfruit-box +aged,slow +bundle +30 +180' "$(grep -E '^ +dragonfruit-box +aged' "$out")" \
  "radar row dragonfruit-box (30 unsold x 6)"
assert_match 'P-MANGO-WEEKEND \| mango-box \| active +\| +40 \| +40 \| +6 ' "$(grep 'P-MANGO-WEEKEND |' "$out")" "promotion row"

# it stopped everything it started
n_started=$(grep -cE '^   [a-z0-9-]+ \(pid [0-9]+\)' "$out")
assert_eq 7 "$n_started" "processes the demo started (webhook-sink and 6 workers)"
assert_eq 7 "$(grep -cE '^   (webhook-sink|[a-z]+-worker(-[12])?) stopped \(exit 0\)$' "$out")" "each stopped with exit status 0"
for pid in $(sed -nE 's/^   [a-z0-9-]+ \(pid ([0-9]+)\).*/\1/p' "$out"); do
  ! sf_alive "$pid" || fail "pid $pid is still running after the demo"
done
if on_kafka; then
  assert_match 'Apache Kafka stopped' "$(cat "$out")" "Kafka stopped"
else
  assert_match 'stockflow-devbroker stopped \(exit 0\)' "$(cat "$out")" "development broker stopped"
fi
pgdir=$stack/pg
[[ -d $pgdir ]] || pgdir=/tmp/stockflow-demo-pg
[[ ! -f $pgdir/data/postmaster.pid ]] || fail "the demo's cluster in $pgdir is still running"
note "demo: $(grep 'demo done' "$out")"
