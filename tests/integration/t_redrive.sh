#!/usr/bin/env bash
# stockctl dlq redrive converges, and dlq list / alerts say what an operator
# needs at 3 a.m. (issue 18). Dead letters are written to the broker with the
# headers a worker (and an earlier redrive) gives them; no worker runs, so
# what a redrive produces stays on the source topic to be read back.
# - dlq list --limit 2 says "2 of 5 dead letters shown (5 in ...)", shows
#   the redrive count and redriven-from; on a non-DLQ topic it warns;
# - the dry run says which records failed before with the same error (read
#   from the dead letter their x-redriven-from names);
# - redrive sends to the DLQ's own source topic (name without .dlq), on the
#   original partition, with x-redriven-from and x-redrive-count = the dead
#   letter's own count + 1; refuses a record whose x-original-topic names
#   another topic unless --to; holds back one redriven --max-redrives times
#   unless --force;
# - --filter leaves the position before the records it skipped: a later plain
#   redrive reaches them, and does not send again what the filtered run moved;
# - stockctl alerts lists what is on inventory.alerts, newest --limit.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

DLQ=inventory.stock.dlq
start_pg
migrate
start_broker 6

sc() {
  RC=0
  "$STOCKCTL" "$@" >"$SF_TMP/out" 2>"$SF_TMP/err" || RC=$?
}
# dead KEY VALUE ERROR [header=value...]: one dead letter on $DLQ partition 0
dead() {
  local key=$1 value=$2 error=$3
  shift 3
  local -a h=(-H "x-error-class=poison" -H "x-error=$error" -H "x-attempt=1")
  for kv in "$@"; do h+=(-H "$kv"); done
  printf '%s|%s\n' "$key" "$value" >"$SF_TMP/one.txt"
  produce "$DLQ" "$SF_TMP/one.txt" -p 0 "${h[@]}"
}
dead k-a pay-a E1 x-original-topic=inventory.stock x-original-partition=2 x-original-offset=7
dead k-b pay-b E1 x-original-topic=inventory.stock x-original-partition=1 x-original-offset=9 \
  x-redriven-from=$DLQ:0:0 x-redrive-count=1
dead k-c pay-c E3 x-original-topic=inventory.orders x-original-partition=0 x-original-offset=1
dead k-d pay-d E2 x-original-topic=inventory.stock.retry.2 x-original-partition=3 x-original-offset=4 \
  x-redriven-from=$DLQ:0:0 x-redrive-count=2
dead k-e pay-e E1 x-original-topic=inventory.stock x-original-partition=0 x-original-offset=5 \
  x-redriven-from=$DLQ:0:1 x-redrive-count=3
assert_eq 5 "$(topic_records "$DLQ" | wc -l)" "dead letters written"

# --- list: how many there are, redrive count and redriven-from ---
sc dlq list "$DLQ" --limit 2
assert_eq 0 "$RC" "dlq list --limit 2 exit status ($(cat "$SF_TMP/err"))"
assert_eq 3 "$(wc -l <"$SF_TMP/out")" "dlq list --limit 2: a header and two rows"
assert_match '^2 of 5 dead letters shown \(5 in inventory.stock.dlq\)$' "$(cat "$SF_TMP/err")" "dlq list --limit 2 count"
assert_match 'REDRIVEN' "$(head -n 1 "$SF_TMP/out")" "dlq list header names REDRIVEN"
assert_match "^0:1 .* 1x from $DLQ:0:0 +k-b " "$(sed -n 3p "$SF_TMP/out")" "dlq list row of a redriven dead letter"
sc dlq list "$DLQ" --json --grep pay-e
assert_eq "3|$DLQ:0:1" "$(jq -r '"\(.redrive_count)|\(.redriven_from)"' "$SF_TMP/out")" "dlq list --json redrive_count and redriven_from"
sc dlq list inventory.stock
assert_eq 0 "$RC" "dlq list on a non-DLQ topic exit status"
assert_match 'warning: inventory.stock is not a dead-letter topic' "$(head -n 1 "$SF_TMP/err")" "dlq list on a non-DLQ topic warns"

# --- dry run: where each goes, what happened before ---
sc dlq redrive "$DLQ" --dry-run
assert_eq 1 "$RC" "dry run with a refused and a held-back record: exit status"
cat "$SF_TMP/out" "$SF_TMP/err" >&2
assert_match '^0:0 +inventory.stock:2 +k-a +poison +- +E1$' "$(grep '^0:0 ' "$SF_TMP/out")" "dry run: never redriven"
assert_match '^0:1 +inventory.stock:1 +k-b +poison +same error, 1 redrive +E1$' "$(grep '^0:1 ' "$SF_TMP/out")" "dry run: failed before with the same error"
assert_match '^0:3 +inventory.stock:3 +k-d +poison +other error, 2 redrives +E2$' "$(grep '^0:3 ' "$SF_TMP/out")" "dry run: failed before with another error"
assert_eq "" "$(grep -E '^0:(2|4) ' "$SF_TMP/out")" "dry run: the refused and the held-back records do not move"
assert_match "refused $DLQ 0:2: its x-original-topic is inventory.orders, not inventory.stock" "$(cat "$SF_TMP/err")" "dry run: refusal"
assert_match "held back $DLQ 0:4: redriven 3 time\(s\) already" "$(cat "$SF_TMP/err")" "dry run: hold-back"
assert_match 'would move 3 .* to inventory.stock, skip 0 \(filtered out\), refuse 1, hold back 1' "$(cat "$SF_TMP/out")" "dry run summary"
assert_eq 0 "$(topic_records inventory.stock | wc -l)" "records on inventory.stock after the dry run"

# --- a filtered redrive: only k-b; the position stays before k-a ---
sc dlq redrive "$DLQ" --filter pay-b
assert_eq 0 "$RC" "filtered redrive exit status ($(cat "$SF_TMP/err"))"
assert_match '^moved 1 dead letter.* skipped 4 \(filtered out\)' "$(cat "$SF_TMP/out")" "filtered redrive summary"
rec=$(topic_records inventory.stock | jq -c 'select(.key == "k-b")')
assert_eq "1|pay-b" "$(jq -r '"\(.partition)|\(.payload)"' <<<"$rec")" "k-b redriven to inventory.stock, its original partition"
assert_eq "{\"x-redriven-from\":\"$DLQ:0:1\",\"x-redrive-count\":\"2\"}" "$(jq -c .h <<<"$rec")" "headers of the redriven k-b"

# --- a plain redrive reaches what the filter skipped, not k-b again ---
sc dlq redrive "$DLQ"
assert_eq 1 "$RC" "plain redrive with a refused and a held-back record: exit status"
assert_match '^moved 2 dead letter.*refused 1, held back 1, 1 moved by an earlier run' "$(cat "$SF_TMP/out")" "plain redrive summary"
assert_match '1 dead letter\(s\) refused .* 1 held back' "$(tail -n 1 "$SF_TMP/err")" "plain redrive says why it failed"
topic_records inventory.stock >"$SF_TMP/src.json"
assert_eq "k-a k-b k-d" "$(jq -r .key "$SF_TMP/src.json" | sort | xargs)" "records on inventory.stock after the plain redrive"
assert_eq "2|$DLQ:0:0|1" "$(jq -r 'select(.key == "k-a") | "\(.partition)|\(.h["x-redriven-from"])|\(.h["x-redrive-count"])"' "$SF_TMP/src.json")" "k-a: original partition, x-redriven-from, x-redrive-count 1"
assert_eq "3|$DLQ:0:3|3" "$(jq -r 'select(.key == "k-d") | "\(.partition)|\(.h["x-redriven-from"])|\(.h["x-redrive-count"])"' "$SF_TMP/src.json")" "k-d (from a retry topic of inventory.stock): x-redrive-count 3"
assert_eq 0 "$(topic_records inventory.orders | wc -l)" "nothing sent to inventory.orders without --to"

# --- converged: a plain redrive again moves nothing new ---
sc dlq redrive "$DLQ"
assert_match '^moved 0 dead letter.*refused 1, held back 1, 1 moved by an earlier run' "$(cat "$SF_TMP/out")" "a second plain redrive sends nothing again"
assert_eq 3 "$(topic_records inventory.stock | wc -l)" "records on inventory.stock after the second plain redrive"

# --- --to for the refused one, --force for the held-back one ---
sc dlq redrive "$DLQ" --filter pay-c --to inventory.orders
assert_eq "0" "$RC" "redrive --to of the refused record ($(cat "$SF_TMP/err"))"
assert_eq "k-c" "$(topic_records inventory.orders | jq -r .key)" "the refused record, sent with --to"
sc dlq redrive "$DLQ" --max-redrives 5
assert_match '^moved 1 dead letter' "$(cat "$SF_TMP/out")" "--max-redrives 5 lets k-e go"
assert_eq "4" "$(topic_records inventory.stock | jq -r 'select(.key == "k-e") | .h["x-redrive-count"]')" "k-e: x-redrive-count 4"
sc dlq redrive "$DLQ"
assert_eq 0 "$RC" "everything redriven: exit status ($(cat "$SF_TMP/err"))"
assert_match '^moved 0 dead letter.*refused 0, held back 0' "$(cat "$SF_TMP/out")" "everything redriven"

# --- not a DLQ: redrive needs --to ---
sc dlq redrive inventory.stock
assert_eq 2 "$RC" "redrive of a non-DLQ topic without --to: exit status"
assert_match 'not a dead-letter topic' "$(cat "$SF_TMP/err")" "redrive of a non-DLQ topic"

# --- alerts ---
for i in 1 2 3; do
  printf 'a-%s|{"alert_id":"a-%s","kind":"oversold","severity":"warning","summary":"sku-%s oversold by %s","occurred_at":"2026-12-03T03:00:0%sZ","details":{}}\n' "$i" "$i" "$i" "$i" "$i"
  sleep 0.01
done >"$SF_TMP/alerts.txt"
while IFS= read -r line; do
  printf '%s\n' "$line" >"$SF_TMP/one.txt"
  produce inventory.alerts "$SF_TMP/one.txt"
  sleep 0.05 # distinct record times
done <"$SF_TMP/alerts.txt"
sc alerts
assert_eq 0 "$RC" "alerts exit status ($(cat "$SF_TMP/err"))"
assert_match '^TIME +KIND +SEVERITY +ALERT_ID +SUMMARY' "$(head -n 1 "$SF_TMP/out")" "alerts header"
assert_eq "a-1 a-2 a-3" "$(tail -n +2 "$SF_TMP/out" | awk '{print $4}' | xargs)" "alerts, oldest first"
assert_match '^20[0-9-]+T[0-9:]+Z +oversold +warning +a-3 +sku-3 oversold by 3$' "$(tail -n 1 "$SF_TMP/out")" "alerts row"
sc alerts --limit 2 --json
assert_eq "a-2 a-3" "$(jq -r '.payload | fromjson | .alert_id' "$SF_TMP/out" | xargs)" "alerts --limit 2: the newest two"
sc alerts --since "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)"
assert_eq "0:1" "$RC:$(wc -l <"$SF_TMP/out")" "alerts --since an hour ahead: only the header"
assert_match '^0 of 0 alerts' "$(cat "$SF_TMP/err")" "alerts count"
