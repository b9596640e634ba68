#!/usr/bin/env bash
# bench/deadstock.sh: how fast the deadstock radar answers on a real-sized
# catalogue (issue 17: 100,000 SKUs with 1,000,000 receipts and orders in
# <= 2 s).
#
#   bench/deadstock.sh [--skus N]     default 100000; 10 receipts and 10 paid
#                                     orders per SKU over the last 365 days,
#                                     80-94 % of what came in sold
#
# Starts a throwaway PostgreSQL 15 (deploy/pg-local.sh, PG_LOCAL_FAST) in a
# temporary folder, or uses PG_ADMIN_URL's cluster, migrates a fresh
# database, and loads the data with SQL straight into the tables (the batch
# trigger off: qty_left is the FIFO result, computed set-based), then runs
# `stockctl deadstock --json` three times (the first with a cold plan cache)
# and prints each wall time, the rows and the best time. STOCKCTL: the
# binary (default build/stockctl/stockctl). Nothing is kept.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
STOCKCTL=${STOCKCTL:-$SRC/build/stockctl/stockctl}
SKUS=100000
while (($#)); do
  case $1 in
  --skus) SKUS=$2; shift 2 ;;
  -h | --help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) echo "deadstock.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $SKUS =~ ^[1-9][0-9]*$ ]] || { echo "deadstock.sh: --skus expects a number" >&2; exit 2; }
[[ -x $STOCKCTL ]] || { echo "deadstock.sh: stockctl not built: $STOCKCTL" >&2; exit 2; }

TMP=$(mktemp -d /tmp/stockflow-deadstock.XXXXXX)
chmod 755 "$TMP"
DB=bench_deadstock_$$
own_pg=0
cleanup() {
  if [[ -n ${ADMIN:-} ]]; then
    psql "$ADMIN" -Xq -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  fi
  ((own_pg == 0)) || "$SRC/deploy/pg-local.sh" stop "$TMP/pg" >/dev/null 2>&1 || true
  rm -rf -- "$TMP"
}
trap cleanup EXIT

if [[ -n ${PG_ADMIN_URL:-} ]]; then
  ADMIN=$PG_ADMIN_URL
else
  own_pg=1
  PG_LOCAL_FAST=1 "$SRC/deploy/pg-local.sh" start "$TMP/pg" >"$TMP/pg.out" 2>&1 ||
    { cat "$TMP/pg.out" >&2; exit 1; }
  ADMIN=$(sed -n 's/^PG_ADMIN_URL=//p' "$TMP/pg/env")
fi
psql "$ADMIN" -Xq -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB" >/dev/null
base=${ADMIN%%\?*}
query=${ADMIN#"$base"}
if [[ $base =~ ^postgres(ql)?://[^/]*$ ]]; then
  DATABASE_URL="$base/$DB$query"
else
  DATABASE_URL="${base%/*}/$DB$query"
fi
export DATABASE_URL
"$STOCKCTL" migrate >"$TMP/migrate.log" 2>&1 || { cat "$TMP/migrate.log" >&2; exit 1; }

echo "loading $SKUS SKUs, $((SKUS * 10)) receipts, $((SKUS * 10)) paid orders ..."
t0=$(date +%s.%N)
psql "$DATABASE_URL" -Xq -v ON_ERROR_STOP=1 -v skus="$SKUS" <<'SQL'
SET session_replication_role = replica;  -- no triggers: the FIFO result is computed below
-- 10 orders per SKU, 40..47 units each, paid over the last 365 days: 80-94 %
-- of the receipts sold, so a SKU keeps its newest one or two batches
CREATE TEMP TABLE o AS
SELECT 'o-' || s || '-' || k AS order_id, 'sku-' || s AS sku, 40 + (s * 7 + k * 13) % 8 AS qty,
       now() - make_interval(mins => ((s * 31 + k * 524287) % (365 * 1440))) AS paid_at
  FROM generate_series(1, :skus) s, generate_series(1, 10) k;
INSERT INTO orders (order_id, state, created, created_at, hold_seconds, expires_at, paid_at,
                    last_paid_at)
SELECT order_id, 'committed', true, paid_at - interval '1 minute', 900,
       paid_at + interval '14 minutes', paid_at, paid_at FROM o;
INSERT INTO order_lines (order_id, sku, qty) SELECT order_id, sku, qty FROM o;
-- 10 receipts per SKU of 50 units over the last 365 days (the newest 5..34
-- days old), a quarter with a best before
CREATE TEMP TABLE r AS
SELECT 'sku-' || s AS sku, 'L' || k AS batch,
       now() - make_interval(days => 365 - k * 36 + (s % 30)) AS received_at,
       CASE WHEN (s + k) % 4 = 0 THEN (now() + make_interval(days => (s * k) % 120))::date END
         AS best_before,
       50 AS qty, 's' || s || '-' || k AS event_id,
       (1 + s % 50)::numeric / 4 AS cost
  FROM generate_series(1, :skus) s, generate_series(1, 10) k;
CREATE TEMP TABLE sold AS SELECT sku, sum(qty) AS qty FROM o GROUP BY sku;
INSERT INTO stock_batches (sku, batch, best_before, received_at, unit_cost, qty_received,
                           qty_left, event_id)
SELECT r.sku, r.batch, r.best_before, r.received_at, r.cost, r.qty,
       greatest(0, least(r.qty, sum(r.qty) OVER w - coalesce(sold.qty, 0))), r.event_id
  FROM r LEFT JOIN sold USING (sku)
WINDOW w AS (PARTITION BY r.sku ORDER BY r.received_at, r.event_id);
INSERT INTO stock (sku, on_hand, received_total, committed_total, unit_cost)
SELECT r.sku, sum(r.qty) - coalesce(max(sold.qty), 0), sum(r.qty), coalesce(max(sold.qty), 0),
       max(r.cost)
  FROM r LEFT JOIN sold USING (sku) GROUP BY r.sku;
-- a few losses in the last 30 days
INSERT INTO stock_adjustments (event_id, sku, occurred_at, delta)
SELECT 'a-' || s, 'sku-' || s, now() - make_interval(days => s % 30), -1
  FROM generate_series(1, :skus, 10) s;
UPDATE stock s SET on_hand = on_hand - 1, adjusted_total = -1
  FROM stock_adjustments a WHERE a.sku = s.sku AND s.on_hand > 0;
SQL
psql "$DATABASE_URL" -Xq -c "VACUUM ANALYZE" >/dev/null
t1=$(date +%s.%N)
printf 'loaded in %.1f s: %s batches, %s orders\n' "$(echo "$t1 - $t0" | bc)" \
  "$(psql "$DATABASE_URL" -XAtc "SELECT count(*) FROM stock_batches")" \
  "$(psql "$DATABASE_URL" -XAtc "SELECT count(*) FROM orders")"

best=
for i in 1 2 3; do
  s=$(date +%s.%N)
  "$STOCKCTL" deadstock --json >"$TMP/out.json"
  e=$(date +%s.%N)
  t=$(echo "$e - $s" | bc)
  printf 'run %d: stockctl deadstock --json: %.3f s, %d deadstock SKUs\n' "$i" "$t" \
    "$(wc -l <"$TMP/out.json")"
  if [[ -z $best ]] || (($(echo "$t < $best" | bc))); then best=$t; fi
done
printf 'best: %.3f s for %d SKUs (target <= 2 s at 100000); %s cores, load average %s\n' \
  "$best" "$SKUS" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
head -n 3 "$TMP/out.json"
