#!/usr/bin/env bash
# A fatal producer error is seen (issue 15): the dev broker answers the
# order-worker's InitProducerId with CLUSTER_AUTHORIZATION_FAILED, which
# librdkafka's idempotent producer treats as fatal -> the worker logs the
# fatal error with its cause and exits with status 1 by itself, instead of
# running on with a producer that can write no retry or dead-letter record.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_fail.sh
source "$(dirname "$0")/lib_fail.sh"

start_pg
migrate
start_broker_ctl 2
broker_ctl push-errors InitProducerId 20 CLUSTER_AUTHORIZATION_FAILED
start_worker order
w=$WORKER_PID
exited() { ! sf_alive "$w"; }
wait_for "order-worker to exit on the fatal error" 30 exited
wait "$w" && rc=0 || rc=$?
sf_forget "$w"
assert_eq 1 "$rc" "exit status of the order-worker"
log_has "$w" '"level":"error".*fatal Kafka error on .*producer.*[Aa]uthorization failed' ||
  fail "no fatal error with its cause in the log: $(tail -n 5 "$(worker_log "$w")")"
