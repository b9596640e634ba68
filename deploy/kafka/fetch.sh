#!/usr/bin/env bash
# fetch.sh: the pinned Apache Kafka broker's jars from Maven Central, with
# their runtime dependencies (deploy/kafka/pom.xml), into a cache folder.
#
#   fetch.sh            prints the folder holding the jars (downloads first
#                       when it is missing or incomplete)
#   fetch.sh --version  prints the pinned Kafka version
#
# The folder is $STOCKFLOW_CACHE/kafka-<version> (default cache: .cache/ at
# the top of the repository, ignored by git). A folder with its stamp file
# is complete: then nothing runs and nothing is downloaded. Needs Maven and
# a JDK 17 (scripts/install-deps.sh installs both); downloads nothing but
# Maven artifacts.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
pom=$here/pom.xml
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
[[ -n $version ]] || { echo "fetch.sh: no <kafka.version> in $pom" >&2; exit 1; }

case ${1:-} in
--version) echo "$version"; exit 0 ;;
-h | --help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
"") ;;
*) echo "fetch.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

cache=$(realpath -m -- "${STOCKFLOW_CACHE:-$here/../../.cache}")
dest=$cache/kafka-$version
stamp=$dest/.complete
if [[ -f $stamp ]]; then
  echo "$dest"
  exit 0
fi

command -v mvn >/dev/null 2>&1 || { echo "fetch.sh: mvn not found (scripts/install-deps.sh installs Maven)" >&2; exit 1; }
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.kafka-$version.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
log=$tmp/mvn.log
if ! mvn -B -q -f "$pom" dependency:copy-dependencies -DincludeScope=runtime \
  -DoutputDirectory="$tmp/jars" >"$log" 2>&1; then
  echo "fetch.sh: mvn could not fetch org.apache.kafka:kafka_2.13:$version and its dependencies:" >&2
  grep -E 'ERROR|Could not' "$log" | head -n 10 >&2 || tail -n 20 "$log" >&2
  exit 1
fi
[[ -f $tmp/jars/kafka_2.13-$version.jar ]] || { echo "fetch.sh: kafka_2.13-$version.jar missing after mvn" >&2; exit 1; }
rm -rf -- "$dest"
mv -- "$tmp/jars" "$dest"
ls -- "$dest" >"$stamp"
echo "fetch.sh: $(($(wc -l <"$stamp"))) jars of Apache Kafka $version in $dest" >&2
echo "$dest"
