#!/usr/bin/env bash
# Compiles the fault suite's Java workload (java/FaultsWorkload.java) against ZooKeeper 3.9.5's
# client (fetched by scripts/zookeeper39.sh: its watch events carry the zxid) and Debian's Curator
# (libcurator-*-java, with guava), into a cache dir:
#   ${ZKTS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zkts}/faults-workload-java/
#     classes/     FaultsWorkload*.class and a logback.xml (client logging: WARN to stderr)
#     classpath    the runtime classpath, one line (classes/ first)
#     .stamp       sha256 of the source, this script and the classpath the classes were built from
# Idempotent: rebuilds only when the source or the jars changed. Prints the directory.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SOURCE="$SCRIPT_DIR/java/FaultsWorkload.java"
CACHE_ROOT=${ZKTS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zkts}
OUT="$CACHE_ROOT/faults-workload-java"
ZK_LIB="$CACHE_ROOT/zookeeper-3.9.5/lib"
JAVA_DIR=/usr/share/java
CURATOR_JARS=(curator-client.jar curator-framework.jar curator-recipes.jar guava.jar)

if [[ ! -f "$ZK_LIB/.complete" ]]; then
  echo "build-java: ZooKeeper 3.9.5 is not in $ZK_LIB (run scripts/zookeeper39.sh)" >&2
  exit 1
fi
for jar in "${CURATOR_JARS[@]}"; do
  if [[ ! -f "$JAVA_DIR/$jar" ]]; then
    echo "build-java: $JAVA_DIR/$jar missing (scripts/install-deps.sh installs libcurator-recipes-java)" >&2
    exit 1
  fi
done
if ! command -v javac >/dev/null 2>&1; then
  echo "build-java: javac not found (openjdk-17-jdk-headless)" >&2
  exit 1
fi

# ZooKeeper 3.9.5's jars first (zookeeper-3.9.5.jar ahead of all), so that its classes win over
# the Debian 3.8 jars that Curator's manifests name; then Curator and guava.
cp=""
while IFS= read -r jar; do
  cp+="${cp:+:}$ZK_LIB/$jar"
done < <(cd "$ZK_LIB" && { ls zookeeper-*.jar; ls *.jar | grep -v '^zookeeper-' | LC_ALL=C sort; })
for jar in "${CURATOR_JARS[@]}"; do
  cp+=":$JAVA_DIR/$jar"
done

stamp=$( { sha256sum "$SOURCE" "${BASH_SOURCE[0]}" | cut -d' ' -f1; echo "$cp"; } | sha256sum | cut -d' ' -f1)
if [[ -f "$OUT/.stamp" && "$(cat "$OUT/.stamp")" == "$stamp" ]]; then
  echo "$OUT"
  exit 0
fi

mkdir -p "$CACHE_ROOT"
tmp=$(mktemp -d "$CACHE_ROOT/faults-workload-java.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/classes"
# -implicit:none: sources that some jars carry are not compiled along.
javac -nowarn -implicit:none -sourcepath "" -encoding UTF-8 -d "$tmp/classes" -cp "$cp" "$SOURCE" >&2
cat >"$tmp/classes/logback.xml" <<'XML'
<configuration>
  <appender name="STDERR" class="ch.qos.logback.core.ConsoleAppender">
    <target>System.err</target>
    <encoder><pattern>%d{ISO8601} %-5p [%t:%C{0}@%L] - %m%n</pattern></encoder>
  </appender>
  <root level="WARN"><appender-ref ref="STDERR"/></root>
</configuration>
XML
echo "$OUT/classes:$cp" >"$tmp/classpath"
echo "$stamp" >"$tmp/.stamp"
# Replace the old build in one rename, so a concurrent reader sees one build or the other.
rm -rf "$OUT.old"
if [[ -d "$OUT" ]]; then mv "$OUT" "$OUT.old"; fi
mv "$tmp" "$OUT"
trap - EXIT
rm -rf "$OUT.old"
echo "$OUT"
