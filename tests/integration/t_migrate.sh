#!/usr/bin/env bash
# Migrations: `stockctl migrate` twice in a row, and two at once on a fresh
# database (three rounds) -> every run exits 0, schema_migrations holds each
# version of schemas/sql once, and the concurrent schemas are identical to
# the sequential one (pg_dump --schema-only). Then an upgrade: a database of
# the schema before 005 (001-004) with stock, orders, alerts and ledger rows,
# some not yet published -> `stockctl migrate` (twice) brings it to the
# schema of a fresh database (006 first refused while an old relay holds
# its lock), the migrations after 004 run again by hand without error, the
# rows and views are unchanged, and the relay publishes exactly the rows that
# were not published (and what comes after).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_fail.sh
source "$(dirname "$0")/lib_fail.sh"

want=$(find "$SF_SRC/schemas/sql" -maxdepth 1 -name '*.sql' -printf '%f\n' | sed 's/\.sql$//' | sort)
[[ -n $want ]] || fail "no migrations in $SF_SRC/schemas/sql"
nwant=$(wc -l <<<"$want")

versions() { psql_q "SELECT version FROM schema_migrations ORDER BY version"; }
schema_dump() { pg_dump --schema-only --no-owner --no-privileges "$DATABASE_URL" | grep -Ev '^(--|\\(un)?restrict )' | sed '/^$/d'; }

start_pg
for run in 1 2; do
  rc=0
  "$STOCKCTL" migrate >"$SF_TMP/seq$run.out" 2>&1 || rc=$?
  assert_eq 0 "$rc" "stockctl migrate run $run exit status ($(tail -n 2 "$SF_TMP/seq$run.out" | tr '\n' ' '))"
done
assert_eq "$want" "$(versions)" "schema_migrations after two sequential runs"
assert_eq "$nwant" "$(psql_q "SELECT count(*) FROM schema_migrations")" "schema_migrations rows"
assert_eq "" "$(psql_q "SELECT sku FROM invariant_violations")" "invariant_violations on an empty schema"
psql_q "SELECT count(*) FROM stock_levels" >/dev/null
psql_q "SELECT count(*) FROM order_status" >/dev/null
schema_dump >"$SF_TMP/schema-seq.sql"

for round in 1 2 3; do
  new_db "c$round"
  "$STOCKCTL" migrate >"$SF_TMP/c$round-a.out" 2>&1 &
  a=$!
  "$STOCKCTL" migrate >"$SF_TMP/c$round-b.out" 2>&1 &
  b=$!
  rca=0
  rcb=0
  wait "$a" || rca=$?
  wait "$b" || rcb=$?
  assert_eq "0 0" "$rca $rcb" "exit status of two concurrent migrations, round $round ($(cat "$SF_TMP/c$round-a.out" "$SF_TMP/c$round-b.out" | grep -v '^applied' | tr '\n' ' '))"
  assert_eq "$want" "$(versions)" "schema_migrations after two concurrent runs, round $round"
  assert_eq "$nwant" "$(cat "$SF_TMP/c$round-a.out" "$SF_TMP/c$round-b.out" | grep -c '^applied ' || true)" \
    "migrations applied in total by the two concurrent runs, round $round"
  schema_dump >"$SF_TMP/schema-c$round.sql"
  assert_files_eq "$SF_TMP/schema-seq.sql" "$SF_TMP/schema-c$round.sql" "schema after concurrent migrations, round $round"
done

# ---- an existing database: the schema of 001-004 with data in it -------------
# Applied as `stockctl migrate` applied them before 005 existed (each file in
# one transaction, its version recorded), then filled through the apply
# functions: stock, orders in several states, alerts and ledger records in the
# outbox, all published but the last few. `stockctl migrate` must bring it to
# the schema of a fresh database, twice in a row, keep every row, and the
# relay must publish exactly the records that were not published yet.
new_db upgrade
psql_q "CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
old=$(grep -E '^00[1-4]_' <<<"$want")
assert_eq 4 "$(wc -l <<<"$old")" "migrations of the schema to upgrade from"
for v in $old; do
  psql "$DATABASE_URL" -Xq1 -v ON_ERROR_STOP=1 -f "$SF_SRC/schemas/sql/$v.sql" >/dev/null 2>"$SF_TMP/old-$v.err" ||
    fail "applying $v: $(head -n 3 "$SF_TMP/old-$v.err")"
  psql_q "INSERT INTO schema_migrations (version) VALUES ('$v')"
done
# batch TYPES EVENT_IDS ORDER_IDS SKUS QTYS LINE_EV LINE_SKU LINE_QTY
batch() {
  local n
  n=$(($(tr -cd ',' <<<"$1" | wc -c) + 1))
  psql_q "SELECT sf_lock_batch('$3', '$4', '$7');
          SELECT count(*) FROM sf_apply_batch('$1', '$2',
            array_fill((extract(epoch FROM now()) * 1000)::bigint, ARRAY[$n]), '$3', '$4', '$5',
            array_fill(0, ARRAY[$n]), array_fill('found'::text, ARRAY[$n]),
            array_fill('inventory.orders'::text, ARRAY[$n]), array_fill(0, ARRAY[$n]),
            (SELECT array_agg(g::bigint) FROM generate_series(1, $n) g), '$6', '$7', '$8', 900, $n > 1)" \
    >/dev/null
}
batch '{stock.received,stock.received,stock.adjusted}' '{u-r1,u-r2,u-a1}' '{NULL,NULL,NULL}' \
  '{u-a,u-b,u-b}' '{5,2,-1}' '{}' '{}' '{}'
batch '{order.created,order.created,order.created,order.created,payment.succeeded}' \
  '{u-c1,u-c2,u-c3,u-c4,u-p9}' '{u-o1,u-o2,u-o3,u-o4,u-o9}' '{NULL,NULL,NULL,NULL,NULL}' '{0,0,0,0,0}' \
  '{1,2,2,3,4}' '{u-a,u-a,u-b,u-b,u-a}' '{1,1,1,5,2}'
# a loss below the reservations: u-a oversold, an alert in the outbox
batch '{payment.succeeded,order.cancelled,stock.adjusted}' '{u-p1,u-x2,u-a2}' '{u-o1,u-o2,NULL}' \
  '{NULL,NULL,u-a}' '{0,0,-4}' '{}' '{}' '{}'
assert_eq 1 "$(psql_q "SELECT count(*) FROM outbox WHERE topic = 'inventory.alerts'")" "alerts in the database to upgrade"
assert_eq "u-o1 committed|u-o2 cancelled|u-o3 rejected|u-o4 reserved|u-o9 awaiting_order" \
  "$(psql_q "SELECT string_agg(order_id || ' ' || state, '|' ORDER BY order_id) FROM order_status")" \
  "orders in the database to upgrade"
nrows=$(psql_q "SELECT count(*) FROM outbox")
((nrows >= 8)) || fail "only $nrows outbox rows in the database to upgrade"
psql_q "UPDATE outbox SET published_at = now() WHERE id <= (SELECT max(id) - 3 FROM outbox)" >/dev/null
psql_q "SELECT id FROM outbox WHERE published_at IS NULL ORDER BY id" >"$SF_TMP/unpublished.ids"
assert_eq 3 "$(wc -l <"$SF_TMP/unpublished.ids")" "unpublished outbox rows before the upgrade"
dump_views >"$SF_TMP/views-before.txt"
psql_q "SELECT id, topic, key, payload FROM outbox ORDER BY id" >"$SF_TMP/outbox-before.txt"

# a worker of before 006 still relaying (its session holds the relay's lock):
# 006 is refused, saying why, and nothing of it stays
mkfifo "$SF_TMP/relay.fifo"
PGAPPNAME=old-relay psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 <"$SF_TMP/relay.fifo" >"$SF_TMP/relay.out" 2>&1 &
relay_psql=$!
SF_OTHERS+=("$relay_psql")
exec {relay_fd}>"$SF_TMP/relay.fifo"
echo "SELECT 'locked', pg_advisory_lock(7415002);" >&"$relay_fd"
wait_for "the old relay's lock" 20 grep -q '^locked' "$SF_TMP/relay.out"
rc=0
"$STOCKCTL" migrate >"$SF_TMP/up0.out" 2>&1 || rc=$?
((rc != 0)) || fail "stockctl migrate went through while an old relay held its lock"
assert_match "an outbox relay is running.*stop the workers" "$(cat "$SF_TMP/up0.out")" "stockctl migrate with an old relay running"
assert_eq "$(grep -E '^00[1-5]_' <<<"$want")" "$(versions)" "schema_migrations after the refused 006"
assert_eq 0 "$(psql_q "SELECT count(*) FROM pg_class WHERE relname = 'outbox_relay'")" "outbox_relay after the refused 006"
exec {relay_fd}>&-
wait "$relay_psql" || fail "the old relay's psql failed: $(cat "$SF_TMP/relay.out")"
sf_forget "$relay_psql"

for run in 1 2; do
  rc=0
  "$STOCKCTL" migrate >"$SF_TMP/up$run.out" 2>&1 || rc=$?
  assert_eq 0 "$rc" "stockctl migrate of the existing database, run $run ($(tail -n 2 "$SF_TMP/up$run.out" | tr '\n' ' '))"
done
assert_eq "$(grep -vE '^00[1-4]_' <<<"$want")" "$(cat "$SF_TMP/up0.out" "$SF_TMP/up1.out" | sed -n 's/^applied //p')" \
  "migrations applied to the existing database"
assert_eq "" "$(grep '^applied ' "$SF_TMP/up2.out" || true)" "migrations applied by the second run"
assert_eq "$want" "$(versions)" "schema_migrations of the upgraded database"
# the migrations added since 004 are also safe to run again by hand (001-004
# are applied once each, by version: 001's outbox_unpublished index names the
# column 006 drops)
for f in $(find "$SF_SRC/schemas/sql" -maxdepth 1 -name '*.sql' ! -name '00[1-4]_*' | sort); do
  PGOPTIONS="-c client_min_messages=warning" psql "$DATABASE_URL" -Xq1 -v ON_ERROR_STOP=1 -f "$f" >/dev/null 2>"$SF_TMP/again.err" ||
    fail "$(basename "$f") run again on the upgraded database: $(grep -m 3 -E "ERROR|FATAL" "$SF_TMP/again.err")"
done
schema_dump >"$SF_TMP/schema-upgraded.sql"
assert_files_eq "$SF_TMP/schema-seq.sql" "$SF_TMP/schema-upgraded.sql" "schema of the upgraded database = of a fresh one"
dump_views >"$SF_TMP/views-after.txt"
assert_files_eq "$SF_TMP/views-before.txt" "$SF_TMP/views-after.txt" "stock_levels and order_status across the upgrade"
# 022 adds one inventory.availability record per SKU (the feed's starting
# point; again when run again by hand); every other row is unchanged
psql_q "SELECT id, topic, key, payload FROM outbox WHERE topic <> 'inventory.availability' ORDER BY id" \
  >"$SF_TMP/outbox-after.txt"
assert_files_eq "$SF_TMP/outbox-before.txt" "$SF_TMP/outbox-after.txt" "outbox rows across the upgrade"
assert_eq "$(psql_q "SELECT sku || '|' || available || '|' || status FROM stock_levels ORDER BY sku")" \
  "$(psql_q "SELECT DISTINCT ON (key) key || '|' || (payload->>'available') || '|' || (payload->>'status')
               FROM outbox WHERE topic = 'inventory.availability'
              ORDER BY key, (payload->>'version')::bigint DESC")" \
  "the upgrade's feed records (the highest version per SKU) = stock_levels"
psql_q "SELECT id FROM outbox_pending WHERE topic <> 'inventory.availability' ORDER BY id" >"$SF_TMP/pending.ids"
assert_files_eq "$SF_TMP/unpublished.ids" "$SF_TMP/pending.ids" "rows the relay has still to publish = the unpublished ones"
assert_eq 2 "$(psql_q "SELECT count(*) FROM pg_proc WHERE proname IN ('sf_apply_batch', 'sf_lock_batch')
                         AND 'enable_seqscan=off' = ANY (proconfig)")" \
  "apply functions with enable_seqscan = off after the upgrade"

# the relay publishes the three rows, and what the workers write next
start_broker 1
printf '%s\n' 'u-a|{"event_id":"u-r3","type":"stock.received","occurred_at":"2026-11-27T10:00:00Z","sku":"u-a","qty":3}' \
  >"$SF_TMP/more.txt"
produce inventory.stock "$SF_TMP/more.txt"
start_worker stock
stock_pid=$WORKER_PID
wait_idle 60 stockflow-stock
wait_for "every outbox row published" 60 sql_equals "SELECT count(*) FROM outbox_pending" 0
psql_q "SELECT id FROM outbox WHERE id > $(tail -n 1 "$SF_TMP/unpublished.ids")
          AND topic <> 'inventory.availability' ORDER BY id" >>"$SF_TMP/unpublished.ids"
{
  topic_records inventory.ledger | jq -r '.payload | fromjson | .seq'
  topic_records inventory.alerts | jq -r '.payload | fromjson | .alert_id' | while read -r a; do
    psql_q "SELECT id FROM outbox WHERE topic = 'inventory.alerts' AND key = '$a'"
  done
} | sort -nu >"$SF_TMP/published.ids"   # at least once: a record may come twice
assert_files_eq "$SF_TMP/unpublished.ids" "$SF_TMP/published.ids" \
  "outbox ids on inventory.ledger and inventory.alerts after the upgrade (the unpublished ones, then the new ones)"
stop_worker "$stock_pid"
