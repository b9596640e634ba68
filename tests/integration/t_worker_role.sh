#!/usr/bin/env bash
# Least privilege (issue 15): `stockctl migrate` creates the NOLOGIN role
# stockflow_worker and grants it what the workers need. A login user inside
# it (CREATE ROLE app LOGIN IN ROLE stockflow_worker) runs the whole fleet
# (two order-workers, payment, timeout, stock, alert): a mixed stream of
# orders, payments, failures, cancellations, expiries and receipts, plus a
# refund_required order and a poison record, applies with every state as its
# events say, §5 invariants holding, every ledger record relayed, both
# alerts POSTed, and no worker paused on a privilege (42501). As that user,
# DDL, TRUNCATE, a DELETE from processed_events, schema_migrations and
# another schema are refused with 42501. A privilege granted by hand is
# taken away by the next `stockctl migrate`; the role may not be a
# superuser. The DELETE statements of the SQL and C sources all name tables
# the role may delete from (schemas/worker_role.sql's may_delete).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_life.sh
source "$(dirname "$0")/lib_life.sh"
# shellcheck source-path=SCRIPTDIR source=lib_alert.sh
source "$(dirname "$0")/lib_alert.sh"

ORDERS=${ROLE_ORDERS:-400}
ROLE=stockflow_worker

# ---- the grant lists cover every DELETE a worker may issue ------------------
may_delete=$(sed -n "s/.*may_delete text\[\] := ARRAY\[\(.*\)\];.*/\1/p" "$SF_SRC/schemas/worker_role.sql" |
  tr -d " '" | tr ',' '\n' | sort -u)
[[ -n $may_delete ]] || fail "no may_delete list in schemas/worker_role.sql"
deletes=$(cat "$SF_SRC"/schemas/sql/*.sql "$SF_SRC"/common/*.c "$SF_SRC"/workers/*/*.c |
  grep -oiE 'DELETE[[:space:]]+FROM[[:space:]]+(ONLY[[:space:]]+)?[a-z_][a-z0-9_.]*' |
  awk '{print tolower($NF)}' | sed 's/^.*\.//' | sort -u)
missing=$(comm -23 <(printf '%s\n' "$deletes") <(printf '%s\n' "$may_delete"))
assert_eq "" "$missing" "tables the sources DELETE from that schemas/worker_role.sql's may_delete lacks"
trunc=$(cat "$SF_SRC"/schemas/sql/*.sql "$SF_SRC"/common/*.c "$SF_SRC"/workers/*/*.c |
  grep -ciE '\bTRUNCATE[[:space:]]+(TABLE[[:space:]]+)?[a-z_]' || true)
assert_eq 0 "$trunc" "TRUNCATE statements in the workers' SQL (the role may not truncate)"

start_pg
migrate
grep -q "workers' role $ROLE: privileges set" "$SF_TMP/migrate.log" || fail "migrate did not report the role"
assert_eq "f|f|f" "$(psql_q "SELECT rolcanlogin, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = '$ROLE'")" \
  "$ROLE: login, superuser, createrole"
app="sf_app_$$"
psql_q "CREATE ROLE $app LOGIN IN ROLE $ROLE" >/dev/null
SF_ROLES+=("$app")
APP_URL=$(url_with "$DATABASE_URL" "user=$app")
assert_eq "$app" "$(psql "$APP_URL" -XAtq -c 'SELECT current_user')" "user of the workers' URL"

# the role may not be the migrating superuser
set +e
"$STOCKCTL" migrate --worker-role postgres >"$SF_TMP/m2.out" 2>&1
rc=$?
set -e
assert_eq 1 "$rc" "exit status of migrate --worker-role postgres"
assert_match 'workers. role postgres: .*(running the migrations|superuser)' "$(cat "$SF_TMP/m2.out")" \
  "migrate --worker-role postgres refused"

# ---- the fleet as the login user --------------------------------------------
start_broker 6
start_sink sink --port "$(quiet_port)" --respond 200
pids=()
for r in order order payment timeout stock; do
  start_role "$r" DATABASE_URL="$APP_URL"
  pids+=("$WORKER_PID")
done
start_alert_worker DATABASE_URL="$APP_URL" ALERT_WEBHOOK_URL="http://127.0.0.1:$SINK_PORT/hook"
pids+=("$WORKER_PID")
wait_assigned "${pids[0]}" "${pids[2]}" "${pids[4]}"
wait_payment_watermark 40

D=$SF_TMP/mix
t0=$(now_ms)
life mix --seed 11 --orders "$ORDERS" --skus 6 --t0 "$t0" --out "$D"
iso() { date -u -d "@$(($1 / 1000))" +%Y-%m-%dT%H:%M:%SZ; }
# a refund_required order (paid after its cancellation, DESIGN §4 rule 3)
# on a SKU of its own, with a loss of one unit, and a poison record
cat >>"$D/stock.txt" <<EOF
wr-sku|{"event_id":"wr-r","type":"stock.received","occurred_at":"$(iso "$t0")","sku":"wr-sku","qty":5}
wr-sku|{"event_id":"wr-a","type":"stock.adjusted","occurred_at":"$(iso "$t0")","sku":"wr-sku","delta":-1,"reason":"damaged"}
EOF
produce inventory.stock "$D/stock.txt"
wait_idle 30 stockflow-stock
cat >>"$D/orders.txt" <<EOF
wr-o|{"event_id":"wr-c","type":"order.created","occurred_at":"$(iso "$t0")","order_id":"wr-o","lines":[{"sku":"wr-sku","qty":2}]}
wr-o|{"event_id":"wr-x","type":"order.cancelled","occurred_at":"$(iso $((t0 + 1000)))","order_id":"wr-o"}
wr-bad|{"type":"order.created","order_id":"wr-bad"
EOF
cat >>"$D/payments.txt" <<EOF
wr-o|{"event_id":"wr-p","type":"payment.succeeded","occurred_at":"$(iso $((t0 + 2000)))","order_id":"wr-o"}
EOF
producers=()
for tf in inventory.orders:orders inventory.payments:payments inventory.stock:stock_late; do
  produce "${tf%%:*}" "$D/${tf#*:}.txt" &
  producers+=($!)
done
for p in "${producers[@]}"; do wait "$p" || fail "producing the stream failed"; done
nevents=$(($(cat "$D"/orders.txt "$D"/payments.txt "$D"/stock.txt "$D"/stock_late.txt | wc -l) - 1))
note "$nevents valid events and one poison record produced"

expect_counts=$( (grep '^C|' "$D/expect.txt" | cut -d'|' -f2-
  echo 'refund_required|1') | LC_ALL=C sort)
wait_sql "every order settled" 90 \
  "SELECT string_agg(state || '|' || n, E'\n' ORDER BY state COLLATE \"C\")
     FROM (SELECT state, count(*) AS n FROM order_status GROUP BY state) s" "$expect_counts"
wait_idle 30 stockflow-order stockflow-payment stockflow-stock stockflow-timeout
assert_invariants
assert_eq "$nevents" "$(psql_q "SELECT count(*) FROM processed_events")" "events applied (once each)"
assert_eq "$( (grep '^S|' "$D/expect.txt" | cut -d'|' -f2-
  echo 'wr-sku|5|0') | LC_ALL=C sort)" \
  "$(psql_q "SELECT format('%s|%s|%s', sku, received_total, committed_total) FROM stock ORDER BY sku COLLATE \"C\"")" \
  "per SKU: received|committed"
assert_eq "S|wr-sku|4|0|0|4|ok" "$(dump_views | grep '^S|wr-sku|')" "wr-sku after the loss and the released hold"

# the outbox relayed by a worker as the login user: every ledger row on
# inventory.ledger, and the refund alert on inventory.alerts
ledger_rows=$(psql_q "SELECT count(*) FROM outbox WHERE topic = 'inventory.ledger'")
((ledger_rows > ORDERS)) || fail "only $ledger_rows ledger rows in the outbox"
ledger_relayed() { (($(topic_records inventory.ledger | wc -l) >= ledger_rows)); }
wait_for "$ledger_rows ledger records on inventory.ledger" 30 ledger_relayed
# both alerts reach the webhook: the refund (outbox -> inventory.alerts) and
# the poison record's dead letter
wait_requests "$SINK_REQ" 2 30
assert_match 'refund_required' "$(jq -r .body "$SINK_REQ")" "an alert POSTed for the refund"
assert_match 'inventory\.orders\.dlq' "$(jq -r .idempotency_key "$SINK_REQ")" "an alert POSTed for the dead letter"
for p in "${pids[@]}"; do
  ! grep -q '42501' "$(worker_log "$p")" || fail "${SF_NAME[$p]} hit a missing privilege: $(grep -m1 42501 "$(worker_log "$p")")"
done

# ---- what the role may not do --------------------------------------------------
psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 >/dev/null <<'EOF' ||
CREATE SCHEMA other;
CREATE TABLE other.secret (x int);
GRANT TRUNCATE ON processed_events TO stockflow_worker;
EOF
  fail "could not set up the other schema"
migrate # takes the hand-granted TRUNCATE away again
refused() {
  local sql=$1 out
  if out=$(psql "$APP_URL" -Xq -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "$sql" 2>&1); then
    fail "as the workers' user, '$sql' succeeded"
  fi
  [[ $out == *"ERROR:  42501"* ]] || fail "'$sql' failed, but not with 42501: $out"
}
refused "DROP TABLE orders"
refused "DROP TABLE processed_events"
refused "TRUNCATE processed_events"
refused "TRUNCATE stock"
refused "CREATE TABLE evil (x int)"
refused "CREATE TABLE public.evil (x int)"
refused "CREATE FUNCTION evil() RETURNS int LANGUAGE sql AS 'SELECT 1'"
refused "ALTER TABLE stock ADD COLUMN evil int"
refused "ALTER TABLE orders DROP CONSTRAINT orders_state_check"
refused "CREATE INDEX evil ON orders (state)"
refused "DELETE FROM processed_events"
refused "DELETE FROM stock"
refused "SELECT count(*) FROM schema_migrations"
refused "SELECT count(*) FROM other.secret"
refused "CREATE SCHEMA evil"
assert_eq "$nevents" "$(psql_q "SELECT count(*) FROM processed_events")" "processed_events after the attempts"
# what operators' readers use stays readable
psql "$APP_URL" -XAtq -v ON_ERROR_STOP=1 -c "SELECT count(*) FROM stock_levels" >/dev/null ||
  fail "stock_levels not readable as the workers' user"
stop_workers "${pids[@]}"
