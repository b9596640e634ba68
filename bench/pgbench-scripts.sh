# shellcheck shell=bash
# bench/pgbench-scripts.sh: pgbench scripts that run the SQL stockflow runs
# per batch, for PostgreSQL's own ceiling (sourced by bench/run.sh).
#
#   pgb_scripts N DIR   writes DIR/pgb_single.sql (one event per transaction:
#                       order.created, then payment.succeeded for that order,
#                       each the transaction a worker sends for a batch of
#                       one) and DIR/pgb_batch.sql (the same for N
#                       order.created, then their N payments).
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
