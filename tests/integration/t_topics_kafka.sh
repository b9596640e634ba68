#!/usr/bin/env bash
# stockctl topics apply against Apache Kafka (auto.create.topics.enable=false,
# so every topic exists because stockctl created it; DESIGN §2):
# 1. on an empty broker --dry-run lists every topic as "would create" and
#    creates nothing;
# 2. apply creates them all, with the partitions asked, and Kafka's own
#    kafka-configs tool (DescribeConfigs) shows cleanup.policy=compact on
#    inventory.availability, retention.ms=-1 on inventory.ledger and 30 days
#    on every *.dlq;
# 3. run again it changes nothing (exit 0, every line "exists");
# 4. configs changed behind its back (the availability topic set to
#    cleanup.policy=delete, a DLQ's retention cut to one day) are set right
#    again; more partitions and a fifth retry step grow and create;
# 5. a replication factor the cluster cannot meet is Kafka's error, named per
#    topic, exit 1, and nothing else is touched;
# 6. a worker started before its topics exist says so and applies its events
#    once they are created (it does not crash or spin).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
on_kafka || SF_BROKER=kafka

# broker_topics: "name partitions" of every topic but Kafka's own, sorted.
broker_topics() {
  kcat -L -b "$KAFKA_BROKERS" -J 2>>"$SF_TMP/kcat.log" |
    jq -r '.topics[] | select(.topic | startswith("__") | not) | "\(.topic) \(.partitions | length)"' | sort
}

# topic_config TOPIC KEY: the value Kafka's kafka-configs tool reports.
topic_config() {
  kafka_class kafka.admin.ConfigCommand --bootstrap-server "$KAFKA_BROKERS" --describe --all \
    --entity-type topics --entity-name "$1" 2>>"$SF_TMP/configs.err" |
    sed -n "s/^ *$2=\([^ ]*\) .*/\1/p" | head -n 1
}

alter_config() { # TOPIC KEY=VALUE
  kafka_class kafka.admin.ConfigCommand --bootstrap-server "$KAFKA_BROKERS" --alter \
    --entity-type topics --entity-name "$1" --add-config "$2" >>"$SF_TMP/configs.out" 2>&1 ||
    fail "kafka-configs --alter $1 $2 failed"
}

export RETRY_BACKOFF_SECONDS=1,10,60,300
start_pg
migrate
start_kafka --empty

# 6 (first half): a stock-worker before any topic exists
printf '%s\n' 'sku-a|{"event_id":"rcv-1","type":"stock.received","occurred_at":"2026-12-01T10:00:00Z","sku":"sku-a","qty":5}' \
  >"$SF_TMP/stock.txt"
start_worker stock
early=$WORKER_PID
wait_for "the stock-worker to say that its topics are missing" 60 \
  grep -q 'Subscribed topic not available: inventory.stock: ' "${SF_LOG[$early]}"

# 1. dry run on an empty broker
topics_run dry apply --dry-run
assert_eq 0 "$RC" "dry run on an empty broker: exit status (stderr: $(<"$SF_TMP/dry.err"))"
assert_eq "$(expected_topics 4)" "$(awk '$1 == "would" && $2 == "create" {print $3}' "$SF_TMP/dry.out")" \
  "--dry-run: every topic would be created"
assert_eq "" "$(broker_topics)" "the dry run created nothing"

# 2. apply on the empty broker
topics_run apply apply --partitions 4
assert_eq 0 "$RC" "apply: exit status (stderr: $(<"$SF_TMP/apply.err"))"
assert_eq "$(expected_topics 4)" "$(awk '$1 == "created" {print $2}' "$SF_TMP/apply.out")" "apply creates every topic"
assert_eq "$(expected_topics 4 | sed 's/$/ 4/' | sort)" "$(broker_topics)" "topics on the broker"
assert_eq compact "$(topic_config inventory.availability cleanup.policy)" "inventory.availability cleanup.policy"
assert_eq -1 "$(topic_config inventory.ledger retention.ms)" "inventory.ledger retention.ms"
assert_eq delete "$(topic_config inventory.ledger cleanup.policy)" "inventory.ledger is not compacted"
for t in inventory.orders.dlq inventory.payments.dlq inventory.stock.dlq inventory.promotions.dlq \
  inventory.alerts.dlq; do
  assert_eq 2592000000 "$(topic_config "$t" retention.ms)" "$t retention.ms (30 days)"
done
note "created $(grep -c '^created' "$SF_TMP/apply.out") topics; configs as DESIGN §2 says"

# 6 (second half): the worker that started first applies its event now
produce inventory.stock "$SF_TMP/stock.txt"
on_hand_is_5() { [[ $(psql_q "SELECT on_hand FROM stock_levels WHERE sku = 'sku-a'" 2>/dev/null) == 5 ]]; }
wait_for "the early stock-worker applied its event" 60 on_hand_is_5
sf_alive "$early" || fail "the early stock-worker exited: $(tail -n 3 "${SF_LOG[$early]}")"
stop_worker "$early"

# 3. again: nothing to do
topics_run again apply --partitions 4
assert_eq 0 "$RC" "apply again: exit status"
assert_eq "$(expected_topics 4)" "$(awk '$1 == "exists" {print $2}' "$SF_TMP/again.out")" "apply again: every topic exists"
assert_eq 0 "$(grep -cvE '^exists' "$SF_TMP/again.out" || true)" "apply again changes nothing"

# 4. drift set right, growth
alter_config inventory.availability cleanup.policy=delete
alter_config inventory.orders.dlq retention.ms=86400000
assert_eq delete "$(topic_config inventory.availability cleanup.policy)" "drift applied"
topics_run fix apply --partitions 6 --retry-steps 5
assert_eq 0 "$RC" "apply after drift: exit status (stderr: $(<"$SF_TMP/fix.err"))"
assert_eq compact "$(topic_config inventory.availability cleanup.policy)" "cleanup.policy set right again"
assert_eq 2592000000 "$(topic_config inventory.orders.dlq retention.ms)" "DLQ retention set right again"
assert_eq "$(expected_topics 5 | sed 's/$/ 6/' | sort)" "$(broker_topics)" "grown to 6 partitions, retry.5 created"

# 5. a replication factor one broker cannot meet
topics_run rf apply --partitions 6 --retry-steps 6 --replication-factor 3
assert_eq 1 "$RC" "replication factor 3 on one broker: exit status"
assert_match 'replication factor of 3 cannot be reached' "$(grep '^error' "$SF_TMP/rf.out" | head -n 1)" \
  "Kafka's own reason is shown"
assert_eq 4 "$(grep -c '^error' "$SF_TMP/rf.out")" "one error line per topic not created (the four retry.6)"
assert_eq "$(expected_topics 5 | sed 's/$/ 6/' | sort)" "$(broker_topics)" "nothing else was touched"
