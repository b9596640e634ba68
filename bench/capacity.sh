# shellcheck shell=bash
# bench/capacity.sh: live capacity and the latency at half of it (sourced by
# bench/run.sh; `--workload capacity`, and part of a full run).
#
# Live capacity: the highest offered rate (the steady mix produced at a
# steady rate, each payment 100 events after its order, as in the half-peak
# runs) whose consumer lag stays bounded over the probe window. Each probe is
# a live run (latency_run) on a fresh broker and database, with the stock and
# warm-up of the other runs, for BENCH_CAPACITY_SECONDS (default 60; 10 with
# --quick). While the producer runs, the summed lag of the order and payment
# groups (`stockctl lag`, every 2 s) is recorded; the probe passes when no
# sample of the window's second half, nor the one at its end, exceeds the
# bound: BENCH_CAPACITY_LAG_S (default 1) seconds of the offered rate, at
# least 4 x BATCH_MAX (a batch in flight in each worker). A fleet that falls
# 3% behind at 6,000 events/s is 10,800 events behind after 60 s: past it.
#
# The search: the first rate is BENCH_CAPACITY_START, or half of the steady
# peak when this run measured one (the backlog peak is about twice the live
# capacity), or 4,000 events/s; up by 30% after a pass and down by 30% after
# a failure until a pass and a failure bracket the capacity, then halving the
# bracket, until it is within 10% or BENCH_CAPACITY_PROBES (default 4) probes
# ran. Capacity = the highest rate that passed. Then p50/p95/p99 at half of
# it (latency_run cap_half, HALF_S seconds, the workers' default settings).
# Results: $RES/capacity.json, $RES/capN.json per probe, $RES/cap_half.json.

# lag_sampler_start NAME: summed lag of the order and payment groups every
# 2 s into $RES/NAME.lag (seconds since start, lag), in the background.
lag_sampler_start() {
  local f=$RES/$1.lag
  : >"$f"
  (
    set +e
    t0=$(date +%s.%N)
    while :; do
      lag_sample "$f" "$t0"
      sleep 2
    done
  ) &
  LAG_SAMPLER=$!
  PROCS+=("$LAG_SAMPLER")
}
lag_sample() { # FILE T0: appends one sample
  local v
  v=$(env -u DATABASE_URL "$STOCKCTL" lag --json stockflow-order stockflow-payment 2>/dev/null |
    jq -s 'map(select(.lag != null) | .lag | if . < 0 then 0 else . end) | add // 0' 2>/dev/null) || v=''
  [[ -z $v ]] || printf '%.1f %s\n' "$(echo "$(date +%s.%N) - $2" | bc)" "$v" >>"$1"
}
# lag_sampler_stop NAME: stops the sampler, then one last sample: the lag at
# the end of the window (the producer has just handed over its last event).
lag_sampler_stop() {
  local t0
  stop_pid "$LAG_SAMPLER"
  t0=$(jq '.first_ms / 1000' "$RES/$1.producer.json")
  lag_sample "$RES/$1.lag" "$t0"
}

# capacity_verdict NAME RATE SECONDS: pass/fail of a probe into $RES/NAME.verdict.json
capacity_verdict() {
  local name=$1 rate=$2 secs=$3 bound
  bound=$(jq -n --argjson r "$rate" --argjson l "${BENCH_CAPACITY_LAG_S:-1}" --argjson b "$BATCH" \
    '[$r * $l, 4 * $b] | max | floor')
  jq -Rn --argjson rate "$rate" --argjson secs "$secs" --argjson bound "$bound" \
    --slurpfile run "$RES/$name.json" --slurpfile prod "$RES/$name.producer.json" '
    [inputs | select(length > 0) | split(" ") | map(tonumber)] as $s
    | ($s | map(select(.[0] >= $secs / 2)) | map(.[1])) as $late
    | ($s | last // [0, 0]) as $fin
    | {rate: $rate, window_s: $secs, lag_bound: $bound, samples: ($s | length),
       lag_end: $fin[1], lag_max_second_half: ($late | max // $fin[1]), lag_max: ($s | map(.[1]) | max // 0),
       offered_acked_per_s: $prod[0].rate, events_per_s: $run[0].events_per_s,
       p50_ms: $run[0].p50_ms, p95_ms: $run[0].p95_ms, p99_ms: $run[0].p99_ms}
    | .pass = (.lag_end <= $bound and .lag_max_second_half <= $bound and .samples >= 2)' \
    <"$RES/$name.lag" >"$RES/$name.verdict.json"
}

workload_capacity() {
  local secs=${BENCH_CAPACITY_SECONDS:-$((QUICK ? 10 : 60))} max=${BENCH_CAPACITY_PROBES:-4}
  local rate lo=0 hi=0 i pass cap half t0=$SECONDS
  rate=${BENCH_CAPACITY_START:-}
  if [[ -z $rate && -f $RES/steady.json ]]; then rate=$(jq '.events_per_s / 2 | floor' "$RES/steady.json"); fi
  : "${rate:=4000}"
  note "== live capacity on the $BROKER broker: probes of ${secs} s, at most $max, from $rate events/s"
  for ((i = 1; i <= max; i++)); do
    LAG_PROBE=1 LIVE_S=$secs
    latency_run "cap$i" "$rate" "c$i"
    LAG_PROBE=0 LIVE_S=''
    capacity_verdict "cap$i" "$rate" "$secs"
    pass=$(jq .pass "$RES/cap$i.verdict.json")
    note "capacity probe $i: $rate events/s: $(jq -r 'if .pass then "bounded" else "OVER BOUND" end + " (lag at end \(.lag_end), max of 2nd half \(.lag_max_second_half), bound \(.lag_bound)); p99 \(.p99_ms) ms"' "$RES/cap$i.verdict.json")"
    if [[ $pass == true ]]; then lo=$rate; else hi=$rate; fi
    if ((hi == 0)); then
      rate=$((rate * 13 / 10 / 100 * 100))
    elif ((lo == 0)); then
      rate=$((rate * 7 / 10 / 100 * 100))
    else
      ((hi * 10 > lo * 11)) || break
      rate=$(((lo + hi) / 2 / 10 * 10)) # to 10/s: to 100/s, 991 and 1,200 gave 1,000
    fi
    ((rate >= 100)) || break
  done
  cap=$lo
  jq -s --argjson cap "$cap" --argjson hi "$hi" --argjson secs "$secs" --arg broker "$BROKER" \
    --argjson took $((SECONDS - t0)) \
    '{broker: $broker, window_s: $secs, capacity: (if $cap > 0 then $cap else null end),
      lowest_failing: (if $hi > 0 then $hi else null end), search_s: $took, probes: .}' \
    "$RES"/cap[0-9]*.verdict.json >"$RES/capacity.json"
  if ((cap == 0)); then
    note "capacity: no probe passed (lowest failing $hi events/s): no run at half of it"
    return 0
  fi
  note "live capacity: $cap events/s (lowest failing: ${hi:-none}) after $((SECONDS - t0)) s"
  half=$((cap / 2))
  latency_run cap_half "$half" ch
}
