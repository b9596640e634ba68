#!/usr/bin/env bash
# stockctl topics apply against the development broker, which has no Admin
# API: --dry-run lists every DESIGN §2 topic (as "exists", since the broker
# created them) and a growth or a missing retry step as "would grow" / "would
# create"; apply and --dry-run both say clearly that the broker does not
# support the Admin API and that it created the topics itself, and exit 5,
# changing nothing. Also: the retry steps follow RETRY_BACKOFF_SECONDS, bad
# usage exits 2, an unreachable broker exits 3.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

assert_no_admin_api() { # NAME
  local err
  err=$(<"$SF_TMP/$1.err")
  assert_eq 5 "$RC" "$1: exit status (stderr: $err)"
  assert_match 'does not support the Kafka Admin API' "$err" "$1: stderr names the missing API"
  assert_match 'development broker .* already created every DESIGN §2 topic' "${err//$'\n'/ }" \
    "$1: stderr says the devbroker created the topics"
  assert_match 'Exit code 5' "$err" "$1: stderr states the exit code"
}

partition_counts() {
  kcat -L -b "$KAFKA_BROKERS" -J 2>>"$SF_TMP/kcat.log" |
    jq -r '.topics[] | "\(.topic) \(.partitions | length)"' | sort
}

start_broker 6
export RETRY_BACKOFF_SECONDS=1,10,60,300
before=$(partition_counts)

# --dry-run: every topic listed, in order, as existing with 6 partitions
topics_run dry apply --dry-run
assert_no_admin_api dry
assert_eq "dry run: nothing is changed" "$(head -n 1 "$SF_TMP/dry.out")" "dry run header"
assert_eq "$(expected_topics 4)" "$(awk '$1 == "exists" {print $2}' "$SF_TMP/dry.out")" \
  "--dry-run lists every DESIGN §2 topic"
assert_eq 0 "$(awk '$1 == "exists" && $2 != "inventory.ledger" && $3 != 6' "$SF_TMP/dry.out" | wc -l)" \
  "partition counts reported"
note "dry run: $(grep -c '^exists' "$SF_TMP/dry.out") topics listed, exit 5"

# apply: same message, nothing changed
topics_run apply apply
assert_no_admin_api apply
assert_eq "$(expected_topics 4)" "$(awk '$1 == "exists" {print $2}' "$SF_TMP/apply.out")" \
  "apply lists every topic"
assert_eq "$before" "$(partition_counts)" "topics after apply against the dev broker"

# more partitions and one more retry step: what it would do
topics_run grow apply --dry-run --partitions 8 --retry-steps 5
assert_no_admin_api grow
assert_eq "$(expected_topics 5 | grep -v '\.retry\.5$' | grep -vx inventory.ledger)" \
  "$(awk '$1 == "would" && $2 == "grow" {print $3}' "$SF_TMP/grow.out")" "topics it would grow"
assert_eq "$(printf '%s\n' inventory.orders.retry.5 inventory.payments.retry.5 inventory.stock.retry.5 \
  inventory.promotions.retry.5)" \
  "$(awk '$1 == "would" && $2 == "create" {print $3}' "$SF_TMP/grow.out")" "topics it would create"
assert_match 'inventory\.orders +6 -> 8 partitions' "$(<"$SF_TMP/grow.out")" "growth line"

# the retry steps follow RETRY_BACKOFF_SECONDS
RETRY_BACKOFF_SECONDS=1,10 topics_run steps apply --dry-run
assert_no_admin_api steps
assert_eq "$(expected_topics 2)" "$(awk '$1 == "exists" {print $2}' "$SF_TMP/steps.out")" \
  "two backoff steps, two retry topics per source"

# bad usage -> 2 with one line; --help -> 0
for args in "" "frob" "apply extra" "apply --partitions 0" "apply --replication-factor x" \
  "apply --retry-steps 99" "apply --no-such-option"; do
  # shellcheck disable=SC2086 # word splitting wanted
  topics_run usage $args
  assert_eq 2 "$RC" "stockctl topics $args: exit status"
  [[ -s $SF_TMP/usage.err ]] || fail "stockctl topics $args: nothing on stderr"
done
topics_run help --help
assert_eq 0 "$RC" "stockctl topics --help"
assert_match 'Exit codes: .* 5 the broker has no Admin API' "$(tr '\n' ' ' <"$SF_TMP/help.out")" \
  "--help documents exit 5"

# unreachable broker -> 3
KAFKA_BROKERS=127.0.0.1:$(sf_free_port) topics_run down apply --dry-run
assert_eq 3 "$RC" "unreachable broker: exit status"
assert_match "Kafka at 127.0.0.1:[0-9]+: cannot read the topic list" "$(<"$SF_TMP/down.err")" \
  "unreachable broker: message"
