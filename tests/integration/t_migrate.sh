#!/usr/bin/env bash
# Migrations: `stockctl migrate` twice in a row, and two at once on a fresh
# database (three rounds) -> every run exits 0, schema_migrations holds each
# version of schemas/sql once, and the concurrent schemas are identical to
# the sequential one (pg_dump --schema-only).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

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
