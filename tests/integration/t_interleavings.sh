#!/usr/bin/env bash
# Arrival-order independence as a property (DESIGN §4: the final state of
# every order depends only on its events, not on the order in which the
# topics are read, when stock is plentiful). life.py interleave (seeded) gives
# ORDERS orders a random event set each (created or not, sometimes twice,
# sometimes with an unknown SKU; 0-2 cancellations, 0-2 payments, 0-2
# failures; occurred_at from 2 s before to 10 s after the order) and RUNS
# arrival orders of the two topics: run 0 reads each order's orders-topic
# events first, run 1 its payments first, the others a random merge. Each
# topic keeps its own per-key order in every run. A run is produced in
# phases (even: inventory.orders, odd: inventory.payments), each read
# completely before the next, into its own database and broker. Every run
# must give identical order_status (state, expires_at), stock and refund
# alerts, the state the rules give, and no invariant violation.
#
# LIFE_SEED=S reruns one seed (default: a random one, printed).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_life.sh"

ORDERS=${LIFE_ORDERS:-300}
RUNS=${LIFE_RUNS:-4}
SEED=${LIFE_SEED:-$((RANDOM * 32768 + RANDOM))}
note "seed $SEED (rerun: LIFE_SEED=$SEED), $ORDERS orders, $RUNS arrival orders"
trap 'note "seed was $SEED (LIFE_SEED=$SEED reruns it)"' ERR

D=$SF_TMP/il
life interleave --seed "$SEED" --orders "$ORDERS" --runs "$RUNS" --t0 "$(now_ms)" --out "$D"
PHASES=$(<"$D/phases")

start_pg
pids=()
for ((k = 0; k < RUNS; k++)); do
  ((k == 0)) || new_db "r$k"
  migrate
  psql_q "$(cat "$D/stock.sql")" >/dev/null
  start_broker 6
  save_stack "r$k"
  start_role order
  pids+=("$WORKER_PID")
  start_role payment
  pids+=("$WORKER_PID")
done

for ((j = 0; j < PHASES; j++)); do
  topic=inventory.orders group=stockflow-order
  ((j % 2 == 0)) || topic=inventory.payments group=stockflow-payment
  for ((k = 0; k < RUNS; k++)); do
    use_stack "r$k"
    [[ ! -s $D/run$k/phase$j.txt ]] || produce "$topic" "$D/run$k/phase$j.txt"
  done
  for ((k = 0; k < RUNS; k++)); do
    use_stack "r$k"
    wait_idle 60 "$group"
  done
done
note "$PHASES phases produced and read in each run"

status=0 alerts=0
for ((k = 0; k < RUNS; k++)); do
  use_stack "r$k"
  dump_life >"$SF_TMP/dump-$k.txt"
  grep -v '^A|' "$SF_TMP/dump-$k.txt" >"$SF_TMP/views-$k.txt" || true
  grep '^A|' "$SF_TMP/dump-$k.txt" >"$SF_TMP/alerts-$k.txt" || true
  grep '^O|' "$SF_TMP/dump-$k.txt" | cut -d'|' -f1-3 >"$SF_TMP/state-$k.txt"
  assert_invariants
  assert_eq "$(wc -l <"$D/expect.txt")" "$(wc -l <"$SF_TMP/state-$k.txt")" "run $k: orders known"
  if ((k > 0)) && ! cmp -s "$SF_TMP/views-0.txt" "$SF_TMP/views-$k.txt"; then
    status=1
    note "order_status/stock of run 0 and run $k disagree (run 0 -, run $k +):"
    diff -u --label "run 0" --label "run $k" "$SF_TMP/views-0.txt" "$SF_TMP/views-$k.txt" |
      grep '^[-+][^-+]' | head -n 40 >&2 || true
  fi
  if ! cmp -s "$D/expect.txt" "$SF_TMP/state-$k.txt"; then
    status=1
    note "run $k: states differ from the rules (expected -, actual +):"
    diff -u --label expected --label "run $k" "$D/expect.txt" "$SF_TMP/state-$k.txt" |
      grep '^[-+][^-+]' | head -n 40 >&2 || true
  fi
  # every refund_required raises an alert, and refund_required is final
  # (rule 7): the alerts must not depend on the arrival order either
  if ((k > 0)) && ! cmp -s "$SF_TMP/alerts-0.txt" "$SF_TMP/alerts-$k.txt"; then
    alerts=1
    note "refund_required alerts of run 0 and run $k disagree (run 0 -, run $k +):"
    diff -u --label "run 0" --label "run $k" "$SF_TMP/alerts-0.txt" "$SF_TMP/alerts-$k.txt" |
      grep '^[-+][^-+]' | head -n 40 >&2 || true
  fi
done
# an alert for an order that did not end refund_required
for ((k = 0; k < RUNS; k++)); do
  use_stack "r$k"
  stray=$(psql_q "SELECT o.order_id || ' ' || o.state FROM outbox b JOIN orders o ON b.key = 'refund_required:' || o.order_id
                   WHERE o.state <> 'refund_required' ORDER BY 1" | paste -sd, -)
  if [[ -n $stray ]]; then
    alerts=1
    note "run $k: refund_required alert raised for orders that ended elsewhere (rule 7: refund_required is final): $stray"
  fi
done
if ((status != 0 || alerts != 0)); then
  # the events and facts of the first order that differs, for the report
  oid=$({
    for ((k = 1; k < RUNS; k++)); do diff "$SF_TMP/dump-0.txt" "$SF_TMP/dump-$k.txt" || true; done
    diff "$D/expect.txt" "$SF_TMP/state-0.txt" || true
  } | sed -n 's/^[<>] [OA]|\(refund_required:\)\{0,1\}\(il-[0-9]*\)|.*/\2/p' | head -n 1)
  if [[ -n $oid ]]; then
    note "events of $oid, in each topic's order:"
    grep -h "^$oid|" "$D"/run0/phase*.txt >&2 || true
    for ((k = 0; k < RUNS; k++)); do
      use_stack "r$k"
      note "run $k, $oid (rows of one batch share processed_at):"
      psql "$DATABASE_URL" -Xq -c "SELECT type, occurred_at, topic, \"offset\", outcome, detail FROM processed_events
                                     WHERE order_id = '$oid' ORDER BY processed_at, topic, \"offset\"" >&2
    done
  fi
  ((status == 0)) || fail "arrival order changed the final state (seed $SEED)"
  fail "arrival order changed the refund_required alerts (seed $SEED)"
fi
note "$RUNS arrival orders of $ORDERS orders: identical state ($(cut -d'|' -f3 "$D/expect.txt" | sort | uniq -c | awk '{ print $2 " " $1 }' | paste -sd, -))"
stop_workers "${pids[@]}"
