#!/usr/bin/env bash
# docker-compose.yml and Dockerfile, checked without a Docker engine:
# `docker-compose config -q` accepts the compose file, and the resolved
# configuration has what docs/operations.md promises: Kafka in KRaft mode
# (apache/kafka), PostgreSQL 16, one-shot `stockctl migrate` and `stockctl
# topics apply`, every worker binary the build makes as a service with a
# /readyz health check and depends_on conditions, and a webhook sink for
# alert-worker. The Dockerfile: multi-stage on bookworm, non-root, a
# HEALTHCHECK on /healthz. Skipped (exit 77) when docker-compose is absent.
if ! command -v docker-compose >/dev/null 2>&1; then
  echo "SKIP: docker-compose not found (Debian package docker-compose; scripts/install-deps.sh installs it)"
  exit 77
fi
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

compose=$SF_SRC/docker-compose.yml
[[ -f $compose ]] || fail "no $compose"
# a clean environment: no host overrides leak into the check
unset KAFKA_HOST_PORT PG_HOST_PORT

docker-compose -f "$compose" config -q 2>"$SF_TMP/config.err" ||
  fail "docker-compose config -q rejected docker-compose.yml: $(head -n 5 "$SF_TMP/config.err")"
note "docker-compose config -q: ok ($(docker-compose version --short 2>/dev/null || echo '?'))"
docker-compose -f "$compose" config >"$SF_TMP/resolved.yml" 2>"$SF_TMP/config.err" ||
  fail "docker-compose config failed: $(head -n 5 "$SF_TMP/config.err")"

# the worker binaries the build makes (workers/*/main.c: .name = "...")
mapfile -t workers < <(sed -n 's/^ *\.name = "\([a-z-]*-worker\)",$/\1/p' "$SF_SRC"/workers/*/main.c | sort)
((${#workers[@]} > 0)) || fail "no worker names found in workers/*/main.c"
note "workers: ${workers[*]}"

# Structural checks on the resolved file (python3-yaml comes with docker-compose).
kafka_version=$("$SF_SRC/deploy/kafka/fetch.sh" --version)
python3 - "$SF_TMP/resolved.yml" "$kafka_version" "${workers[@]}" <<'EOF' || fail "docker-compose.yml misses something (above)"
import sys, yaml

cfg = yaml.safe_load(open(sys.argv[1]))
svc, kafka_version, workers, bad = cfg["services"], sys.argv[2], sys.argv[3:], []

def check(cond, msg):
    if not cond:
        bad.append(msg)

def env(s):
    e = svc[s].get("environment", {})
    return e if isinstance(e, dict) else dict(x.split("=", 1) for x in e)

want = {"kafka", "postgres", "migrate", "topics", "webhook-sink", *workers}
check(want <= set(svc), f"services missing: {sorted(want - set(svc))}")
k = svc.get("kafka", {})
check(k.get("image", "").startswith("apache/kafka:"), "kafka: not the apache/kafka image")
check("controller" in env("kafka").get("KAFKA_PROCESS_ROLES", ""), "kafka: not KRaft")
check(k.get("image") == f"apache/kafka:{kafka_version}",
      f"kafka: image {k.get('image')}, not the version the tests run (deploy/kafka/pom.xml: {kafka_version})")
for key, val in (("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false"), ("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")):
    check(str(env("kafka").get(key)) == val, f"kafka: {key} is not {val} (as deploy/kafka/kafka-local.sh)")
check(svc.get("postgres", {}).get("image") == "postgres:16", "postgres: not postgres:16")
check(svc["migrate"].get("command") == ["stockctl", "migrate"], "migrate: command")
check(svc["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy",
      "migrate: waits for postgres healthy")
check(svc["topics"].get("command", [])[:3] == ["stockctl", "topics", "apply"], "topics: command")
check(svc["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy",
      "topics: waits for kafka healthy")
for s in ("migrate", "topics"):
    check(svc[s].get("restart", "no") == "no", f"{s}: a one-shot must not restart")
for w in workers:
    s = svc.get(w, {})
    check(s.get("command", [None])[0] == w, f"{w}: command runs {w}")
    test = " ".join(s.get("healthcheck", {}).get("test", []))
    check("/readyz" in test, f"{w}: health check on /readyz")
    dep = {d: c.get("condition") for d, c in s.get("depends_on", {}).items()}
    for d, c in (("kafka", "service_healthy"), ("postgres", "service_healthy"),
                 ("migrate", "service_completed_successfully"),
                 ("topics", "service_completed_successfully")):
        check(dep.get(d) == c, f"{w}: depends_on {d}: {c}")
    e = env(w)
    for v in ("KAFKA_BROKERS", "DATABASE_URL", "HTTP_PORT", "RETRY_BACKOFF_SECONDS"):
        check(v in e, f"{w}: no {v}")
    check(e.get("KAFKA_BROKERS") == "kafka:9092", f"{w}: KAFKA_BROKERS")
check("webhook-sink" in env("alert-worker").get("ALERT_WEBHOOK_URL", ""),
      "alert-worker: ALERT_WEBHOOK_URL names the webhook sink")
for m in bad:
    print("  missing:", m, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
note "compose structure: every service, health check and dependency present"

# Dockerfile: what the issue asks, read statically (no engine here)
df=$SF_SRC/Dockerfile
[[ -f $df ]] || fail "no Dockerfile"
assert_eq 2 "$(grep -cE '^FROM debian:bookworm(-slim)? AS ' "$df")" "Dockerfile: two bookworm stages"
grep -qE '^USER +[1-9][0-9]*' "$df" || fail "Dockerfile: no non-root USER"
grep -qE '^HEALTHCHECK ' "$df" || fail "Dockerfile: no HEALTHCHECK"
grep -qE '^ +CMD curl .*/healthz' "$df" || fail "Dockerfile: the HEALTHCHECK does not probe /healthz"
grep -q 'COPY --from=build /out/usr/local/bin/' "$df" || fail "Dockerfile: binaries not copied from the build stage"
[[ -f $SF_SRC/.dockerignore ]] || fail "no .dockerignore"
note "Dockerfile: multi-stage, non-root, HEALTHCHECK /healthz"
