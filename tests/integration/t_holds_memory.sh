#!/usr/bin/env bash
# Memory of the timeout-worker with 1,000,000 pending holds (issue 3: "well
# under 256 MB"). The holds are inserted with SQL (orders in state reserved,
# expiring in a day, one line each, the SKU's reserved matching); the
# timeout-worker seeds its expiry heap from them at start. Its VmRSS (and
# peak, VmHWM) from /proc/PID/status must stay below 256 MB; both are printed.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_life.sh"

HOLDS=${LIFE_HOLDS:-1000000}
LIMIT_KB=$((256 * 1024))

start_pg
migrate
psql_q "INSERT INTO stock (sku, on_hand, reserved, received_total) VALUES ('mem-sku', 2 * $HOLDS, $HOLDS, 2 * $HOLDS);
        INSERT INTO orders (order_id, state, created, created_at, hold_seconds, expires_at, updated_at)
        SELECT 'mem-' || lpad(g::text, 7, '0'), 'reserved', true, now(), 86400,
               now() + interval '1 day' + g * interval '1 ms', now()
          FROM generate_series(1, $HOLDS) g;
        INSERT INTO order_lines (order_id, sku, qty) SELECT order_id, 'mem-sku', 1 FROM orders;
        ANALYZE orders" >/dev/null
assert_eq "$HOLDS" "$(psql_q "SELECT count(*) FROM order_status WHERE state = 'reserved'")" "held orders inserted"
assert_invariants
start_broker 6
start_role timeout
timeout=$WORKER_PID
wait_log "$timeout" "\"$HOLDS held order\\(s\\) pending expiry\"" 60
wait_log "$timeout" 'connected to PostgreSQL' 10
rss1=$(rss_kb "$timeout")
sleep 2 # two sweeps with a million holds in the heap (nothing due)
sf_alive "$timeout" || fail "the timeout-worker exited"
rss2=$(rss_kb "$timeout")
hwm=$(rss_kb "$timeout" VmHWM)
rss=$((rss1 > rss2 ? rss1 : rss2))
note "timeout-worker with $HOLDS pending holds: VmRSS $((rss / 1024)) MB ($rss kB), peak VmHWM $((hwm / 1024)) MB ($hwm kB)"
printf 'HOLDS_MEMORY holds=%s vmrss_kb=%s vmhwm_kb=%s\n' "$HOLDS" "$rss" "$hwm"
((rss < LIMIT_KB)) || fail "VmRSS $rss kB with $HOLDS holds: not below 256 MB"
((hwm < LIMIT_KB)) || fail "peak VmHWM $hwm kB with $HOLDS holds: not below 256 MB"
assert_eq "$HOLDS" "$(psql_q "SELECT count(*) FROM order_status WHERE state = 'reserved'")" "holds still reserved"
stop_worker "$timeout"
