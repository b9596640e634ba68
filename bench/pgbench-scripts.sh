# shellcheck shell=bash
# bench/pgbench-scripts.sh: pgbench scripts that run the SQL stockflow runs
# per batch, for PostgreSQL's own ceiling, and pgbench_ceiling, which runs them
# with run.sh's helpers (sourced by bench/run.sh).
#
#   pgb_scripts N DIR   writes DIR/pgb_single.sql (one event per transaction:
#                       order.created, then payment.succeeded for that order,
#                       each the transaction a worker sends for a batch of
#                       one) and DIR/pgb_batch.sql (the same for N
#                       order.created, then their N payments).
#   ref_script N DIR    writes DIR/pgb_ref.sql: the reference ceiling's
#                       transaction, N orders reserved set-based on minimal
#                       tables of its own (see reference_ceiling).
#
# A worker's transaction, pipelined: BEGIN; SELECT sf_lock_batch(order ids,
# stock-event SKUs, order-line SKUs); SELECT * FROM sf_apply_batch(the events as arrays, ..., fast);
# COMMIT. Orders have 1-3 lines (qty 1-3) over sku-00001..sku-10000, derived
# from a random :b per script run.

# SKU of line l of event k (uniform over the 10,000 SKUs, as the producer
# draws them: a hash, not an arithmetic pattern, so that two clients' batches
# share SKUs, and wait for each other's row locks, as often as two workers'
# batches do; a pattern b + k * c shifted by a random b made half of all
# pairs of batches disjoint and the ceiling unreachable), and the lines of
# event k.
PGB_SKU="'sku-' || lpad(((hashint8(:b::bigint * 4 + l + k * 1000003) & 2147483647) % 10000 + 1)::text, 5, '0')"
PGB_LINES="generate_series(1, 1 + (:b::bigint + k) % 3) l"

# pgb_txn TYPE FIRST LAST: the worker's transaction for events FIRST..LAST
# (set-based paths for more than one event, as common/inv.c chooses).
pgb_txn() {
  local type=$1 k0=$2 k1=$3 id topic=inventory.orders suffix=c skus lines fast=true
  id="'pb-' || :client_id || '-' || :b || '-' || k"
  skus="ARRAY(SELECT $PGB_SKU FROM generate_series($k0, $k1) k, $PGB_LINES)"
  lines="ARRAY(SELECT k - $k0 + 1 FROM generate_series($k0, $k1) k, $PGB_LINES),
  $skus, ARRAY(SELECT (1 + (k + l) % 3)::bigint FROM generate_series($k0, $k1) k, $PGB_LINES)"
  ((k1 > k0)) || fast=false
  if [[ $type == payment.succeeded ]]; then
    topic=inventory.payments suffix=p skus="'{}'::text[]" lines="'{}'::integer[], '{}'::text[], '{}'::bigint[]"
  fi
  cat <<SQL
BEGIN;
SELECT sf_lock_batch(ARRAY(SELECT $id FROM generate_series($k0, $k1) k), '{}'::text[], $skus);
SELECT count(*) FROM sf_apply_batch(
  ARRAY(SELECT '$type' FROM generate_series($k0, $k1) k),
  ARRAY(SELECT $id || '-$suffix' FROM generate_series($k0, $k1) k),
  ARRAY(SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint FROM generate_series($k0, $k1) k),
  ARRAY(SELECT $id FROM generate_series($k0, $k1) k),
  ARRAY(SELECT NULL::text FROM generate_series($k0, $k1) k),
  ARRAY(SELECT 0::bigint FROM generate_series($k0, $k1) k),
  ARRAY(SELECT 0 FROM generate_series($k0, $k1) k),
  ARRAY(SELECT NULL::text FROM generate_series($k0, $k1) k),
  ARRAY(SELECT '$topic' FROM generate_series($k0, $k1) k),
  ARRAY(SELECT :client_id::integer FROM generate_series($k0, $k1) k),
  ARRAY(SELECT :b::bigint + k FROM generate_series($k0, $k1) k),
  $lines, 900, $fast);
COMMIT;
SQL
}

pgb_scripts() { # N DIR
  local n=$1 dir=$2 t
  {
    printf '%s\n' '\set b random(1, 1000000000000)' '\startpipeline'
    pgb_txn order.created 1 1
    pgb_txn payment.succeeded 1 1
    printf '%s\n' '\endpipeline'
  } >"$dir/pgb_single.sql"
  {
    printf '%s\n' '\set b random(1, 1000000000000)' '\startpipeline'
    for t in order.created payment.succeeded; do pgb_txn "$t" 1 "$n"; done
    printf '%s\n' '\endpipeline'
  } >"$dir/pgb_batch.sql"
}

# The reference: the least work a batch of N order reservations needs,
# set-based, pipelined, on tables of its own (not stockflow's schema or
# functions, so the figure stays fixed while stockflow's SQL changes): insert
# the N event ids (a primary key: each event once), lock the batch's SKU rows
# once each in SKU order, update each once (reserved += the batch's units,
# only where they are available), insert one row per order line. The orders
# are the steady mix's (1-3 lines, qty 1-3, SKUs uniform over 10,000).
ref_script() { # N DIR
  local n=$1 lines
  # the lines of PGB_LINES, written so that the planner estimates their
  # number (a generate_series with a variable bound counts as 1,000 rows),
  # and the stock rows read by = ANY (an index probe per SKU, not a hash
  # join over all of ref_stock)
  lines="SELECT 'rf-' || :client_id || '-' || :b || '-' || k AS order_id, l AS line, $PGB_SKU AS sku,
         (1 + (k + l) % 3)::bigint AS qty FROM generate_series(1, $n) k, generate_series(1, 3) l
         WHERE l <= 1 + (:b::bigint + k) % 3"
  cat >"$2/pgb_ref.sql" <<SQL
\set b random(1, 1000000000000)
\startpipeline
BEGIN;
INSERT INTO ref_events (event_id) SELECT 'rf-' || :client_id || '-' || :b || '-' || k FROM generate_series(1, $n) k;
SELECT count(*) FROM (SELECT 1 FROM ref_stock WHERE sku = ANY (ARRAY(SELECT sku FROM ($lines) x)) ORDER BY sku FOR UPDATE) lk;
UPDATE ref_stock s SET reserved = s.reserved + d.qty
  FROM (SELECT sku, sum(qty) AS qty FROM ($lines) x GROUP BY sku) d
 WHERE s.sku = d.sku AND s.sku = ANY (ARRAY(SELECT sku FROM ($lines) x)) AND s.on_hand - s.reserved >= d.qty;
INSERT INTO ref_lines (order_id, line, sku, qty) $lines;
COMMIT;
\endpipeline
SQL
}

# reference_ceiling CLIENTS: the reference's orders/s (REF_BATCH orders per
# transaction) on a database of its own in the same cluster, warmed up and
# analyzed as the workloads are; checks that every order was reserved.
reference_ceiling() {
  local c=$1 tps
  note "== reference ceiling: $c clients, ${PGB_T} s, batches of $REF_BATCH orders, minimal tables"
  new_db reference
  q "CREATE TABLE ref_events (event_id text PRIMARY KEY);
     CREATE TABLE ref_stock (sku text PRIMARY KEY, on_hand bigint NOT NULL, reserved bigint NOT NULL DEFAULT 0);
     CREATE TABLE ref_lines (order_id text, line integer, sku text NOT NULL, qty bigint NOT NULL,
                             PRIMARY KEY (order_id, line));
     INSERT INTO ref_stock (sku, on_hand)
     SELECT 'sku-' || lpad(g::text, 5, '0'), 1000000000 FROM generate_series(1, 10000) g" >/dev/null
  checkpoint
  ref_script "$REF_BATCH" "$TMP"
  "$PG_BIN/pgbench" -n -M prepared -c "$c" -j "$c" -t 20 -f "$TMP/pgb_ref.sql" "$DATABASE_URL" >"$TMP/pgbench_ref_warmup.log" 2>&1 ||
    { tail -n 20 "$TMP/pgbench_ref_warmup.log" >&2; die "pgbench reference warm-up failed"; }
  q "VACUUM ANALYZE" >/dev/null
  checkpoint
  "$PG_BIN/pgbench" -n -M prepared -c "$c" -j "$c" -T "$PGB_T" -f "$TMP/pgb_ref.sql" "$DATABASE_URL" \
    >"$TMP/pgbench_ref.log" 2>&1 || { tail -n 20 "$TMP/pgbench_ref.log" >&2; die "pgbench reference failed"; }
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$TMP/pgbench_ref.log" | head -n 1)
  [[ -n $tps ]] || die "no tps in the reference's pgbench output"
  check "reference: failed transactions" 0 \
    "$(grep -h '^number of failed transactions' "$TMP/pgbench_ref.log" | grep -o '[0-9]* (' | tr -d ' (' | head -n1)"
  check "reference: every order's lines reserved (units in ref_lines = reserved)" \
    "$(q "SELECT sum(qty) FROM ref_lines")" "$(q "SELECT sum(reserved) FROM ref_stock")"
  check "reference: one event row per order" \
    "$(q "SELECT count(*) FROM ref_events")" "$(q "SELECT count(DISTINCT order_id) FROM ref_lines")"
  jq -n --argjson c "$c" --argjson t "$PGB_T" --argjson n "$REF_BATCH" --argjson tps "$tps" \
    '{clients: $c, seconds: $t, batch: $n, tps: $tps, orders_per_s: ($tps * $n)}' >"$RES/reference.json"
  note "reference: $(jq .orders_per_s "$RES/reference.json") orders/s"
}

# ---- pgbench: PostgreSQL's own ceiling on the same SQL ----------------------

# pgbench_ceiling CLIENTS: (a) one event per transaction, (b) batches of BATCH.
pgbench_ceiling() {
  local c=$1 tps_a tps_b
  note "== pgbench ceiling: $c clients, ${PGB_T} s each, batches of $BATCH"
  new_db pgbench
  q "INSERT INTO stock (sku, on_hand, received_total)
     SELECT 'sku-' || lpad(g::text, 5, '0'), 1000000000, 1000000000 FROM generate_series(1, 10000) g" >/dev/null
  checkpoint
  pgb_scripts "$BATCH" "$TMP"
  # warm up as the workloads do: rows in every table, then statistics
  "$PG_BIN/pgbench" -n -M prepared -c "$c" -j "$c" -t 2 -f "$TMP/pgb_batch.sql" "$DATABASE_URL" >"$TMP/pgbench_warmup.log" 2>&1 ||
    { tail -n 20 "$TMP/pgbench_warmup.log" >&2; die "pgbench warm-up failed"; }
  q "VACUUM ANALYZE" >/dev/null
  "$PG_BIN/pgbench" -n -M prepared -c "$c" -j "$c" -T "$PGB_T" -f "$TMP/pgb_single.sql" "$DATABASE_URL" \
    >"$TMP/pgbench_a.log" 2>&1 || { tail -n 20 "$TMP/pgbench_a.log" >&2; die "pgbench (a) failed"; }
  "$PG_BIN/pgbench" -n -M prepared -c "$c" -j "$c" -T "$PGB_T" -f "$TMP/pgb_batch.sql" "$DATABASE_URL" \
    >"$TMP/pgbench_b.log" 2>&1 || { tail -n 20 "$TMP/pgbench_b.log" >&2; die "pgbench (b) failed"; }
  tps_a=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$TMP/pgbench_a.log" | head -n 1)
  tps_b=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$TMP/pgbench_b.log" | head -n 1)
  [[ -n $tps_a && -n $tps_b ]] || die "no tps in pgbench output"
  check "pgbench: failed transactions" "0|0" \
    "$(grep -h '^number of failed transactions' "$TMP/pgbench_a.log" | grep -o '[0-9]* (' | tr -d ' (' | head -n1)|$(grep -h '^number of failed transactions' "$TMP/pgbench_b.log" | grep -o '[0-9]* (' | tr -d ' (' | head -n1)"
  check "pgbench: every event applied, none ignored or duplicate" 0 \
    "$(q "SELECT count(*) FROM processed_events WHERE outcome <> 'applied' OR detail NOT IN ('reserved', 'committed')")"
  check "pgbench: invariant_violations" "" "$(q "SELECT string_agg(sku || ': ' || problem, '; ') FROM invariant_violations")"
  jq -n --argjson c "$c" --argjson t "$PGB_T" --argjson n "$BATCH" --argjson a "$tps_a" --argjson b "$tps_b" \
    '{clients: $c, seconds: $t, batch: $n,
      single: {tps: $a, events_per_s: ($a * 2)},
      batched: {tps: $b, events_per_s: ($b * 2 * $n)}}' >"$RES/pgbench.json"
  note "pgbench: one event per transaction $(jq .single.events_per_s "$RES/pgbench.json") events/s; batches of $BATCH $(jq .batched.events_per_s "$RES/pgbench.json") events/s"
}
