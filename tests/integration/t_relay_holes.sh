#!/usr/bin/env bash
# The relay's cursor never skips a record (006_relay.sql): outbox ids come
# from a sequence before commit, so a transaction can commit an id below one
# the relay has published already. The relay keeps such an id as a hole until
# it appears (then publishes it) or until every transaction that could hold
# it has ended. Each case below holds an id in an open transaction while a
# later id commits and is published, lets a minute pass for the hole (its
# seen_at moved back, as when the holder stays open that long), makes the
# relay run another round (which forgets dead holes), then commits the
# holder: its record must reach inventory.alerts.
#  A: the holder has its xid before its id, a transaction that got its xid
#     before the holder's commits the later id: the hole's horizon must be
#     past the holder's xid (the snapshot's xmax at that moment is not).
#  B: the holder's statement takes its id (nextval in a subquery, as the
#     ledger writers do) and only then writes: the id must not be taken
#     before the transaction has an xid.
#  C: a plain hole, published as soon as its transaction commits.
# Without holes every case loses its record; A fails with the snapshot's xmax
# as horizon, B without the xid taken before the id.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_fail.sh
source "$(dirname "$0")/lib_fail.sh"

declare -A SESS_FD=() SESS_PID=()

# sess_open NAME: a psql session (application_name NAME) reading commands
# from a pipe; its output goes to $SF_TMP/NAME.out.
sess_open() {
  local fifo=$SF_TMP/$1.fifo fd
  mkfifo -- "$fifo"
  PGAPPNAME=$1 psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 <"$fifo" >"$SF_TMP/$1.out" 2>&1 &
  SESS_PID[$1]=$!
  SF_OTHERS+=("$!")
  SF_NAME[$!]=$1
  exec {fd}>"$fifo"
  SESS_FD[$1]=$fd
}

# sess_send NAME SQL: sends SQL to the session without waiting for it.
sess_send() {
  printf '%s\n' "$2" >&"${SESS_FD[$1]}"
}

# sess_idle NAME: the session waits for a command inside its open transaction.
sess_idle() {
  sql_equals "SELECT count(*) FROM pg_stat_activity
               WHERE application_name = '$1' AND state = 'idle in transaction'" 1
}

# sess_close NAME: COMMIT, end of input; the session must exit cleanly.
sess_close() {
  sess_send "$1" 'COMMIT;'
  local fd=${SESS_FD[$1]}
  exec {fd}>&-
  wait "${SESS_PID[$1]}" || fail "session $1 failed: $(cat "$SF_TMP/$1.out")"
  sf_forget "${SESS_PID[$1]}"
}

# alert SQL-STRING: the statement that writes alert KEY (sf_alert, one INSERT).
alert() {
  printf "SELECT sf_alert('%s', 'test', 'info', 'relay holes', '{}');" "$1"
}

# alert_on_kafka KEY: inventory.alerts holds a record with key KEY.
alert_on_kafka() {
  topic_records inventory.alerts | jq -se --arg k "$1" 'any(.[]; .key == $k)' >/dev/null
}

# past_cursor KEY: the relay's cursor has passed alert KEY (the round that
# published it has ended: sf_relay_done ran).
past_cursor() {
  sql_equals "SELECT (SELECT last_id FROM outbox_relay) >= id FROM outbox WHERE key = '$1'" t
}

# publish_now KEY: an alert written and committed by psql, then waited for on
# Kafka and until the relay's round that published it has ended.
publish_now() {
  psql_q "$(alert "$1")" >/dev/null
  wait_for "alert $1 on inventory.alerts" 30 alert_on_kafka "$1"
  wait_for "the relay's cursor past $1" 10 past_cursor "$1"
}

# age_holes: every hole is more than a minute old.
age_holes() {
  psql_q "UPDATE outbox_relay_holes SET seen_at = now() - interval '2 minutes'" >/dev/null
}

start_pg
migrate
start_broker 3
start_worker stock
s1=$WORKER_PID
publish_now warmup

# ---- A: the holder's xid is newer than the last one completed ---------------
sess_open early # gets its xid first, commits the later id
sess_open holder-a
sess_send early 'BEGIN; SELECT pg_current_xact_id();'
wait_for "session early in its transaction" 20 sess_idle early
sess_send holder-a "BEGIN; SELECT pg_current_xact_id(); $(alert held-a)"
wait_for "session holder-a holding its id" 20 sess_idle holder-a
sess_send early "$(alert after-a) COMMIT;"
wait_for "alert after-a on inventory.alerts" 30 alert_on_kafka after-a
wait_for "the relay's cursor past after-a" 10 past_cursor after-a
alert_on_kafka held-a && fail "held-a published before its transaction committed"
assert_eq 1 "$(psql_q "SELECT count(*) FROM outbox_relay_holes")" "holes after after-a was published"
age_holes
publish_now after-a-aged
assert_eq 1 "$(psql_q "SELECT count(*) FROM outbox_relay_holes")" \
  "holes after a round with holder-a still open and its hole a minute old"
sess_close holder-a
wait_for "alert held-a on inventory.alerts (committed after a higher id was published)" 15 alert_on_kafka held-a
sess_close early
note "A: held over a minute by a transaction newer than the last completed one: published"

# ---- B: the id is taken before the statement's first write ------------------
sess_open holder-b
sess_send holder-b "BEGIN;
INSERT INTO outbox (id, topic, key, payload)
SELECT n, 'inventory.alerts', 'held-b', jsonb_build_object('alert_id', 'held-b', 'slept', pg_sleep(6)::text)
  FROM (SELECT nextval('outbox_id_seq') AS n) s;"
wait_for "session holder-b in its statement" 20 sql_equals \
  "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'holder-b' AND state = 'active'" 1
sleep 0.5 # nextval has run: the statement sleeps after it
publish_now after-b
sql_equals "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'holder-b' AND state = 'active'" 1 ||
  fail "holder-b's statement ended before after-b was published: the case was not run"
wait_for "session holder-b holding its id" 20 sess_idle holder-b
assert_eq 1 "$(psql_q "SELECT count(*) FROM outbox_relay_holes")" "holes after after-b was published"
age_holes
publish_now after-b-aged
assert_eq 1 "$(psql_q "SELECT count(*) FROM outbox_relay_holes")" \
  "holes after a round with holder-b still open and its hole a minute old"
sess_close holder-b
wait_for "alert held-b on inventory.alerts (its id taken before its first write)" 15 alert_on_kafka held-b
note "B: an id taken before the statement's first write: published"

# ---- C: a plain hole ----------------------------------------------------------
sess_open holder-c
sess_send holder-c "BEGIN; $(alert held-c)"
wait_for "session holder-c holding its id" 20 sess_idle holder-c
publish_now after-c
sess_close holder-c
wait_for "alert held-c on inventory.alerts" 15 alert_on_kafka held-c

# a hole whose transaction rolled back goes once it is a minute old
sess_open rollback
sess_send rollback "BEGIN; $(alert rolled-back)"
wait_for "session rollback holding its id" 20 sess_idle rollback
publish_now after-rollback
sess_send rollback 'ROLLBACK;'
sess_close rollback
assert_eq 1 "$(psql_q "SELECT count(*) FROM outbox_relay_holes")" "holes after the rollback"
age_holes
publish_now after-rollback-aged
assert_eq 0 "$(psql_q "SELECT count(*) FROM outbox_relay_holes")" "holes once the rolled-back one is a minute old"

# every record exactly once, nothing pending
wait_for "nothing pending" 20 sql_equals "SELECT count(*) FROM outbox_pending" 0
want=$(psql_q "SELECT key FROM outbox WHERE topic = 'inventory.alerts' ORDER BY key COLLATE \"C\"")
got=$(topic_records inventory.alerts | jq -r .key | LC_ALL=C sort)
assert_eq "$want" "$got" "alert keys on inventory.alerts (each once) = the outbox's"
assert_eq "" "$(printf '%s\n' "$got" | grep -x rolled-back || true)" "the rolled-back alert on Kafka"
assert_alive "$s1"
stop_worker "$s1"
