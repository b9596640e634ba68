#!/usr/bin/env bash
# install-deps.sh: install every Debian package stockflow needs to build,
# test and run its local stack (Debian 12). Quick and offline when all are
# present; otherwise apt-get update + install of the missing ones only.
# As root it installs; otherwise it uses sudo when available, else it prints
# the command to run and exits 1. Output: one summary line on stdout (apt's
# own output goes to stderr).
set -euo pipefail

readonly packages=(
  build-essential meson ninja-build pkg-config # build
  librdkafka-dev libpq-dev libyajl-dev libcurl4-openssl-dev libmicrohttpd-dev libssl-dev
  check json-schema-test-suite valgrind gdb # tests (gdb: stacks of a hung worker)
  clang libclang-rt-14-dev # tests: libFuzzer targets (tests/fuzz/)
  prometheus docker-compose # tests: promtool check metrics, docker-compose config
  kcat postgresql postgresql-contrib # local stack (deploy/)
  python3 procps psmisc ca-certificates util-linux jq curl # scripts
  chromium # tests: the dashboard in headless Chromium (tests/integration/cdp.py)
  openjdk-17-jre-headless maven # Apache Kafka (deploy/kafka/: jars from Maven Central)
)

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n '2,7s/^# \{0,1\}//p' "$0"
  exit 0
fi

is_installed() {
  [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

missing_packages() {
  local p
  for p in "${packages[@]}"; do
    is_installed "$p" || echo "$p"
  done
}

command -v dpkg-query >/dev/null 2>&1 || {
  echo "install-deps: dpkg-query not found: this script needs Debian or a derivative" >&2
  exit 1
}

mapfile -t missing < <(missing_packages)
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

if [[ $EUID -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps: not root and no sudo; as root run: apt-get update &&" \
    "apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300)
"${apt[@]}" update >&2
"${apt[@]}" install -y --no-install-recommends "${missing[@]}" >&2

mapfile -t still < <(missing_packages)
if ((${#still[@]} > 0)); then
  echo "install-deps: still missing after apt-get install: ${still[*]}" >&2
  exit 1
fi
echo "install-deps: installed ${#missing[@]} package(s): ${missing[*]}; all ${#packages[@]} present"
