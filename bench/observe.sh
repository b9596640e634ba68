# shellcheck shell=bash
# bench/observe.sh: what the bench watches besides counts and latency (sourced
# by bench/run.sh): pg_stat_statements snapshots (--pgss), the workers'
# database sessions sampled every 20 ms, their transactions, perf (--perf).

# pgss_snap NAME: with --pgss, the top statements since the last snapshot
# (nested ones too: track = all) into $RES/pgss-NAME.tsv, then a reset.
pgss_snap() {
  ((OWN_PG && PGSS)) || return 0
  psql "$ADMIN_URL" -XAq -F $'\t' -c "SELECT calls, round(total_exec_time::numeric, 0) AS total_ms,
      round(mean_exec_time::numeric, 3) AS mean_ms, rows,
      left(regexp_replace(query, '\s+', ' ', 'g'), 140) AS query FROM pg_stat_statements
     ORDER BY total_exec_time DESC LIMIT 40" >"$RES/pgss-$1.tsv" 2>&1 || true
  psql "$ADMIN_URL" -XAtq -c "SELECT pg_stat_statements_reset()" >/dev/null 2>&1 || true
}

# ---- where the database time goes -------------------------------------------

# sampler_start RUN: samples pg_stat_activity of the workers' sessions every
# 20 ms (state and wait event) into bench_samples in the run's database.
sampler_start() {
  q "CREATE UNLOGGED TABLE IF NOT EXISTS bench_samples (run text, ts timestamptz, role text, what text)" >/dev/null
  PGAPPNAME=bench-sampler PGOPTIONS="-c synchronous_commit=off" psql "$DATABASE_URL" -Xq -v ON_ERROR_STOP=1 -c "
    DO \$\$ BEGIN LOOP
      INSERT INTO bench_samples
      SELECT '$1', clock_timestamp(), split_part(application_name, '@', 1),
             CASE WHEN state = 'active' THEN coalesce(wait_event_type || ':' || wait_event, 'CPU')
                  ELSE state END
        FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name LIKE '%-worker@%';
      COMMIT;
      PERFORM pg_sleep(0.02);
    END LOOP; END \$\$" >/dev/null 2>&1 &
  SAMPLER_PID=$!
  SAMPLER_BACKEND=''
  local i=0
  while [[ -z $SAMPLER_BACKEND ]] && ((i++ < 50)); do
    SAMPLER_BACKEND=$(q "SELECT pid FROM pg_stat_activity WHERE application_name = 'bench-sampler'")
    [[ -n $SAMPLER_BACKEND ]] || sleep 0.02
  done
}
sampler_stop() {
  [[ -n ${SAMPLER_PID:-} ]] || return 0
  q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'bench-sampler'" >/dev/null || true
  wait "$SAMPLER_PID" 2>/dev/null || true
  SAMPLER_PID=''
}
# sessions_json RUN NAME: share of samples per worker role and state:
# CPU (running), Lock:* (waiting for another transaction), IO:WALSync etc.
# (commit flush), idle / idle in transaction (waiting for the worker).
sessions_json() {
  q "WITH s AS (SELECT role, what, count(*) n FROM bench_samples WHERE run = '$1' GROUP BY 1, 2),
          t AS (SELECT role, sum(n) tot FROM s GROUP BY 1)
     SELECT coalesce(json_object_agg(role, w), '{}') FROM (
       SELECT s.role, json_object_agg(what, round(100.0 * n / tot, 1) ORDER BY n DESC) w
         FROM s JOIN t USING (role) GROUP BY s.role) x" >"$RES/$2.sessions.json"
}

# batches_json RUN NAME: the workers' transactions (events grouped by commit
# timestamp): count, size, duration from BEGIN (processed_at) to commit.
batches_json() {
  [[ $COMMIT_TS == on ]] || return 0
  q "WITH t AS (SELECT pg_xact_commit_timestamp(xmin) c, processed_at s, topic FROM processed_events
                 WHERE event_id LIKE '$1-e%'),
          b AS (SELECT split_part(regexp_replace(min(topic), '\.retry\.[0-9]+$', ''), '.', 2) w, c, count(*) n,
                       extract(epoch FROM c - min(s)) * 1000 ms FROM t GROUP BY c)
     SELECT coalesce(json_object_agg(w, x), '{}') FROM (
       SELECT w, json_build_object('transactions', count(*), 'avg_events', round(avg(n), 1), 'max_events', max(n),
                'avg_ms', round(avg(ms)::numeric, 1), 'p50_ms', round(percentile_disc(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
                'max_ms', round(max(ms)::numeric, 1)) x FROM b GROUP BY w) y" >"$RES/$2.batches.json"
}

# perf_start NAME: perf record (10 s, call graphs) of the fleet and of the
# workers' PostgreSQL backends, in the background.
perf_start() {
  ((PERF)) || return 0
  local pg
  pg=$(q "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE application_name LIKE '%-worker@%'")
  perf record -q -F 499 -g -p "$(IFS=,; echo "${FLEET[*]}")" -o "$TMP/perf-$1-workers.data" -- sleep 10 >/dev/null 2>&1 &
  PERF_PIDS=("$!")
  [[ -z $pg ]] || perf record -q -F 499 -g -p "$pg" -o "$TMP/perf-$1-postgres.data" -- sleep 10 >/dev/null 2>&1 &
  PERF_PIDS+=("$!")
}
perf_stop() {
  ((PERF)) || return 0
  local p f
  for p in "${PERF_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  for f in "$TMP"/perf-"$1"-*.data; do
    [[ -f $f ]] || continue
    { perf report -i "$f" --no-children --sort comm,dso,sym --stdio -g none 2>/dev/null | grep '%' | grep -v '^#' | head -n 60 || true
      echo; echo "== with children (inclusive time)"
      perf report -i "$f" --children --sort sym --stdio -g none 2>/dev/null | grep '%' | grep -v '^#' | grep -v '\] 0x0' | head -n 60 || true
    } >"$RES/$(basename "$f" .data).txt"
  done
}
