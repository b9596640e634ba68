# shellcheck shell=bash
# bench/pgbench-scripts.sh: pgbench scripts that run the SQL stockflow runs
# per event, for PostgreSQL's own ceiling (sourced by bench/run.sh).
#
#   pgb_scripts N DIR   writes DIR/pgb_single.sql (one event per transaction:
#                       order.created, then payment.succeeded for that order,
#                       each a bare SELECT sf_apply(...)) and DIR/pgb_batch.sql
#                       (the workers' transaction shape, pipelined: BEGIN,
#                       sf_lock_batch, N x sf_apply, COMMIT, once for N
#                       order.created and once for their N payments).
#
# Orders have 1-3 lines (qty 1-3) over sku-00001..sku-10000, derived from a
# random :b per script run, so the lock set of a batch can be computed too.

# SQL of one sf_apply call; $1 = type, $2 = k (event of the batch), ids from :b.
pgb_apply() {
  local type=$1 k=$2 topic=inventory.orders lines='NULL::text[], NULL::bigint[]' suffix=c
  if [[ $type == order.created ]]; then
    lines="ARRAY(SELECT 'sku-' || lpad((((:b::bigint + $k * 7919 + l * 104729) % 10000) + 1)::text, 5, '0')
                   FROM generate_series(1, 1 + (:b::bigint + $k) % 3) l),
           ARRAY(SELECT 1 + ($k + l) % 3 FROM generate_series(1, 1 + (:b::bigint + $k) % 3) l)::bigint[]"
  else
    topic=inventory.payments suffix=p
  fi
  cat <<EOF
SELECT sf_apply('$type', 'pb-' || :client_id || '-' || :b || '-$k-$suffix',
  (extract(epoch FROM clock_timestamp()) * 1000)::bigint, 'pb-' || :client_id || '-' || :b || '-$k',
  NULL::text, NULL::bigint, NULL::integer, $lines, NULL::text, '$topic', :client_id, :b::bigint, 900);
EOF
}

pgb_scripts() { # N DIR
  local n=$1 dir=$2 k t
  { printf '%s\n' '\set b random(1, 1000000000000)'; pgb_apply order.created 0; pgb_apply payment.succeeded 0; } >"$dir/pgb_single.sql"
  {
    printf '%s\n' '\set b random(1, 1000000000000)' '\startpipeline'
    for t in order.created payment.succeeded; do
      echo 'BEGIN;'
      if [[ $t == order.created ]]; then
        echo "SELECT sf_lock_batch(ARRAY(SELECT 'pb-' || :client_id || '-' || :b || '-' || k FROM generate_series(1, $n) k),
  ARRAY(SELECT 'sku-' || lpad((((:b::bigint + k * 7919 + l * 104729) % 10000) + 1)::text, 5, '0')
          FROM generate_series(1, $n) k, generate_series(1, 1 + (:b::bigint + k) % 3) l));"
      else
        echo "SELECT sf_lock_batch(ARRAY(SELECT 'pb-' || :client_id || '-' || :b || '-' || k FROM generate_series(1, $n) k), '{}'::text[]);"
      fi
      for ((k = 1; k <= n; k++)); do pgb_apply "$t" "$k"; done
      echo 'COMMIT;'
    done
    printf '%s\n' '\endpipeline'
  } >"$dir/pgb_batch.sql"
}
