#!/usr/bin/env bash
# bench/sql-variants.sh: where PostgreSQL's time per event goes, by experiment.
#
#   bench/sql-variants.sh [SECONDS]     (default 10 s per variant)
#
# Starts a throwaway PostgreSQL (default durability), migrates it with the
# current schemas/sql, seeds 10,000 SKUs and runs the workers' transaction
# shape (bench/pgbench-scripts.sh: BEGIN, sf_lock_batch, 500 x sf_apply,
# COMMIT, for order.created then payment.succeeded) with one pgbench client,
# once per variant of the SQL in bench/sql-variants/. For each it reports the
# backend's CPU per event (utime + stime of the pgbench session's backend over
# a window, divided by the events committed in it) and the events/s. The
# variants are experiments for the lead to judge, never applied to the
# product: the migration is re-applied before each one.
#
#   base        the SQL as it is
#   e1          sf_touched / sf_stock_image as PL/pgSQL (cached plans)
#   e1+generic  e1 with plan_cache_mode = force_generic_plan for the session
#   e4          sf_lock_batch's stock lock without OR (index probes, no seq scan)
#   e1+e4+gen   all three
#   e3          no ledger records (measure only: what the ledger costs)
#   e5          sf_apply without its EXCEPTION block (measure only: the
#               subtransaction per event)
#   e6          (hot SKU only) sf_lines_fit without its FOR UPDATE
# Then the hot-SKU path: one transaction of N order.created for one SKU
# (N = 100, 250, 500, 1000) through sf_apply, and the same 500 orders through
# bench/sql-variants/proto_flash_batch.sql (one set-based statement).
set -euo pipefail

BENCH_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd -- "$BENCH_DIR/.." && pwd)
# shellcheck source=bench/pgbench-scripts.sh
source "$BENCH_DIR/pgbench-scripts.sh"
SECS=${1:-10}
PG_BIN=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
B=$SRC/build-bench
if [[ ! -x $B/stockctl/stockctl ]]; then
  [[ -f $B/build.ninja ]] || meson setup "$B" "$SRC" --buildtype=release >/dev/null
  ninja -C "$B" >/dev/null
fi
TMP=$(mktemp -d /tmp/sf-variants.XXXXXX)
chmod 755 "$TMP"
cleanup() {
  "$SRC/deploy/pg-local.sh" stop "$TMP/pg" >/dev/null 2>&1 || true
  rm -rf -- "$TMP"
}
[[ ${KEEP:-0} == 1 ]] || trap cleanup EXIT

env -u PG_LOCAL_FAST "$SRC/deploy/pg-local.sh" start "$TMP/pg" >/dev/null
# shellcheck disable=SC1091
source "$TMP/pg/env"
export DATABASE_URL
"$B/stockctl/stockctl" migrate >/dev/null
q() { psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 "$@"; }
q -c "INSERT INTO stock (sku, on_hand, received_total)
      SELECT 'sku-' || lpad(g::text, 5, '0'), 1000000000, 1000000000 FROM generate_series(1, 10000) g"
pgb_scripts 500 "$TMP"
# warm up: some rows in every table, then statistics (as in a running system)
"$PG_BIN/pgbench" -n -M prepared -c 1 -t 4 -f "$TMP/pgb_batch.sql" "$DATABASE_URL" >/dev/null 2>&1
q -c "VACUUM ANALYZE"

# e5: the current sf_apply without its EXCEPTION block
python3 - "$SRC/schemas/sql/002_apply.sql" "$TMP/e5_no_subxact.sql" <<'EOF'
import sys
s = open(sys.argv[1]).read()
f = s[s.index('CREATE OR REPLACE FUNCTION sf_apply('):]
f = f[:f.index('END $$;') + 7]
i = f.index('\nEXCEPTION\n')
f = f[:i] + '\nEND $$;'
open(sys.argv[2], 'w').write('-- E5 (measure only): sf_apply without its EXCEPTION block\n' + f + '\n')
EOF

restore() { for f in "$SRC"/schemas/sql/*.sql; do PGOPTIONS="-c client_min_messages=warning" q -f "$f" >/dev/null; done; }

# variant LABEL PGOPTIONS SQL_FILE...
variant() {
  local label=$1 opts=$2 pid t1 t2 n1 n2 out
  shift 2
  restore
  for f in "$@"; do q -f "$f" >/dev/null; done
  q -c "ANALYZE" # fresh tables have no statistics until autovacuum's first pass
  out=$TMP/pgbench.$label.log
  PGOPTIONS=$opts PGAPPNAME=variant "$PG_BIN/pgbench" -n -M prepared -c 1 -j 1 -T $((SECS + 4)) \
    -f "$TMP/pgb_batch.sql" "$DATABASE_URL" >"$out" 2>&1 &
  local bg=$!
  sleep 2
  pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'variant'")
  t1=$(awk '{print $14 + $15}' "/proc/$pid/stat") n1=$(q -c "SELECT count(*) FROM processed_events")
  sleep "$SECS"
  t2=$(awk '{print $14 + $15}' "/proc/$pid/stat") n2=$(q -c "SELECT count(*) FROM processed_events")
  wait "$bg"
  printf '%-12s %8d events %8.3f ms CPU/event %8.0f events/s\n' "$label" $((n2 - n1)) \
    "$(echo "scale=6; ($t2 - $t1) * 1000 / $(getconf CLK_TCK) / ($n2 - $n1)" | bc)" \
    "$(echo "scale=2; ($n2 - $n1) / $SECS" | bc)"
}

V=$BENCH_DIR/sql-variants
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); one pgbench client, batches of 500, ${SECS} s each"
variant base ''
variant e1 '' "$V/e1_plpgsql_helpers.sql"
variant e1+generic '-c plan_cache_mode=force_generic_plan' "$V/e1_plpgsql_helpers.sql"
variant e4 '' "$V/e4_lock_union.sql"
variant e1+e4+gen '-c plan_cache_mode=force_generic_plan' "$V/e1_plpgsql_helpers.sql" "$V/e4_lock_union.sql"
variant e3 '' "$V/e3_no_ledger.sql"
variant e5 '' "$TMP/e5_no_subxact.sql"
restore

# hot TAG N: one transaction as a worker runs it (sf_lock_batch, then N
# sf_apply of one-unit orders for one SKU); prints ms and ms per order.
hot() {
  local tag=$1 n=$2 ms
  q -c "INSERT INTO stock (sku, on_hand, received_total) VALUES ('hot-$tag-$n', 100000, 100000)"
  ms=$(q -c '\timing on' -c "BEGIN" \
    -c "SELECT sf_lock_batch(ARRAY(SELECT '$tag$n-' || g FROM generate_series(1, $n) g), ARRAY['hot-$tag-$n'])" \
    -c "SELECT count(*) FROM (SELECT sf_apply('order.created', '$tag$n-e' || g,
        (extract(epoch FROM clock_timestamp()) * 1000)::bigint, '$tag$n-' || g, NULL, NULL, NULL, ARRAY['hot-$tag-$n'],
        ARRAY[1]::bigint[], NULL, 'inventory.orders', 0, g, 900) FROM generate_series(1, $n) g) x" -c "COMMIT" |
    sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sed -n 3p)
  printf '  %-6s N=%-5d %9.1f ms  %6.3f ms per order\n' "$tag" "$n" "$ms" "$(echo "scale=4; $ms / $n" | bc)"
}
echo
echo "hot SKU: one transaction of N one-unit order.created for one SKU (base SQL; e6: sf_lines_fit without FOR UPDATE)"
for n in 100 250 500 1000; do hot base "$n"; done
q -f "$V/e6_no_relock.sql" >/dev/null
for n in 100 500 1000; do hot e6 "$n"; done
restore
q -f "$V/proto_flash_batch.sql" >/dev/null
q -c "INSERT INTO stock (sku, on_hand, received_total) VALUES ('hot-proto', 100000, 100000)"
ms=$(q -c '\timing on' -c "BEGIN" -c "SELECT proto_created_batch(
      ARRAY(SELECT 'p-e' || g FROM generate_series(1, 500) g), ARRAY(SELECT 'p-' || g FROM generate_series(1, 500) g),
      ARRAY(SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint FROM generate_series(1, 500) g),
      array_fill('hot-proto'::text, ARRAY[500]), array_fill(1::bigint, ARRAY[500]), 900)" -c "COMMIT" |
  sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sed -n 2p)
printf '  set-based prototype, N=500: %.1f ms  %.3f ms per order\n' "$ms" "$(echo "scale=4; $ms / 500" | bc)"
