#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine as root (or a developer
# machine with the packages installed). .ci/run calls exactly this.
#
#   1. installs the Debian packages it needs (scripts/install-deps.sh)
#   2. builds with warnings as errors (build/) and runs unit + integration
#      tests against a throwaway PostgreSQL cluster and the development broker
#   3. the real-Kafka tier: the integration tests of suite 'kafka' against
#      Apache Kafka (deploy/kafka/: the pinned release's jars from Maven
#      Central, cached in .cache/; one single-node KRaft broker per test)
#   4. builds with -Db_sanitize=address,undefined (build-asan/) and runs the
#      unit tests and a set of integration tests that runs every worker and
#      tool under ASan/UBSan
#   5. runs the unit tests and one integration test with every worker under
#      valgrind (memcheck, leaks are errors)
#   6. builds the libFuzzer targets with clang, ASan and UBSan (build-fuzz/)
#      and runs each for 30 s (suite 'fuzz')
#
# Ends with one line "N passed, M failed". Options: --quick (step 2 only).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
quick=0
[ "${1:-}" = "--quick" ] && quick=1

scripts/install-deps.sh

tmp=$(mktemp -d /tmp/stockflow-test.XXXXXX)
chmod 755 "$tmp" # PostgreSQL runs as the postgres user and must reach its cluster below
cleanup() {
  "$root/deploy/pg-local.sh" stop "$tmp/pg" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

passed=0 failed=0
# Runs `meson test` with the given arguments and adds its counts.
run_meson_test() {
  local log="$tmp/meson-test.log" rc=0
  meson test "$@" --print-errorlogs 2>&1 | tee "$log" || rc=$?
  local ok fail
  ok=$(awk '/^Ok:/ {print $2}' "$log" | tail -n 1)
  fail=$(awk '/^(Fail|Timeout|Unexpected Pass):/ {s += $NF} END {print s + 0}' "$log")
  passed=$((passed + ${ok:-0}))
  failed=$((failed + ${fail:-0}))
  if [ "$rc" -ne 0 ] && [ "${fail:-0}" -eq 0 ]; then failed=$((failed + 1)); fi
  if [ "$rc" -ne 0 ]; then note_failures "$2"; fi
}

# Keeps the name and the last lines of every failed test of the run that
# just ended in build dir $1, for the summary at the end (CI shows the tail
# of the output, where the inline error logs of an early tier are long gone).
note_failures() {
  local json
  json=$(ls -t "$1"/meson-logs/testlog*.json 2>/dev/null | head -n 1)
  [ -n "$json" ] || return 0
  python3 - "$json" "$1" >>"$tmp/failures" <<'PY' || true
import json, sys
for line in open(sys.argv[1]):
    t = json.loads(line)
    if t.get("result") in ("OK", "SKIP", "EXPECTEDFAIL"):
        continue
    lines = ((t.get("stdout") or "") + (t.get("stderr") or "")).splitlines()
    # the test's own narration ends where lib.sh starts dumping process logs
    cut = next((i for i, l in enumerate(lines) if l.startswith("----- ")), len(lines))
    said = lines[:cut][-30:]
    why = [l for l in lines[:cut][:-30] if "FAIL" in l or "ASSERTION" in l][:10]
    print(f"--- {sys.argv[2]}: {t['name']} {t['result']} ({t.get('duration', 0):.1f} s)")
    print("\n".join("    " + l for l in why + said + ["..."] + lines[cut:][-30:]))
PY
}

setup_build() { # dir, meson options...
  local dir=$1
  shift
  local log rc=0
  log="$tmp/setup-${dir##*/}.log"
  if [ -d "$dir" ]; then
    meson setup --reconfigure "$dir" "$@" >"$log" 2>&1 || rc=$?
  else
    meson setup "$dir" "$@" >"$log" 2>&1 || rc=$?
  fi
  if [ "$rc" -ne 0 ]; then
    tail -n 20 "$log"
    return "$rc"
  fi
  ninja -C "$dir"
}

echo "== build (warnings are errors)"
setup_build build

echo "== throwaway PostgreSQL cluster"
PG_LOCAL_FAST=1 deploy/pg-local.sh start "$tmp/pg" >/dev/null
# shellcheck disable=SC1091
. "$tmp/pg/env"
export PG_ADMIN_URL

echo "== unit and integration tests (development broker)"
run_meson_test -C build --no-suite kafka

if [ "$quick" -eq 0 ]; then
  echo "== real-Kafka tier (Apache Kafka $(deploy/kafka/fetch.sh --version), one KRaft broker per test)"
  deploy/kafka/fetch.sh >/dev/null
  run_meson_test -C build --suite kafka

  echo "== AddressSanitizer + UndefinedBehaviorSanitizer build"
  setup_build build-asan -Db_sanitize=address,undefined -Db_lundef=false
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  # Every unit test, and integration tests that between them run every
  # binary (all five workers, stockctl, the broker, the webhook sink)
  # through its normal, retry, dead-letter and outage paths, and the stock
  # rules (promotions, the deadstock radar), and the dashboard. The whole
  # integration suite a second time would not fit CI's time.
  run_meson_test -C build-asan --suite unit
  run_meson_test -C build-asan --suite integration --timeout-multiplier 2 \
    t_poison t_last_unit t_lifecycle_mix t_lock_retry t_alert_retry t_dlq_tools t_pg_terminate \
    t_promotions t_deadstock t_dashboard
  unset ASAN_OPTIONS UBSAN_OPTIONS

  echo "== valgrind (memcheck; errors and definite leaks fail)"
  vg="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"
  run_meson_test -C build --suite unit --wrapper "$vg" --timeout-multiplier 4
  WORKER_WRAPPER="$vg" run_meson_test -C build --suite integration --timeout-multiplier 4 \
    t_poison t_last_unit t_alert_retry t_expiry

  echo "== libFuzzer targets (clang, ASan/UBSan, 30 s each)"
  # a build failure here counts as one failed test; the summary line still comes
  if CC=clang setup_build build-fuzz -Dfuzz=true -Dfuzz_seconds=30 -Db_sanitize=address,undefined -Db_lundef=false; then
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      run_meson_test -C build-fuzz --suite fuzz
  else
    echo "the fuzz build failed (above)"
    failed=$((failed + 1))
  fi
fi

echo
if [ -s "$tmp/failures" ]; then
  echo "== failed tests"
  cat "$tmp/failures"
  echo
fi
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
