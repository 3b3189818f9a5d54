#!/usr/bin/env bash
# Compiles the fault suite's Java workload (java/FaultsWorkload.java) against ZooKeeper 3.9.5's
# client (fetched by scripts/zookeeper39.sh: its watch events carry the zxid) and Debian's Curator
# (libcurator-*-java, with guava), into a cache dir:
#   ${ZKTS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zkts}/faults-workload-java/<stamp>/
#     classes/     FaultsWorkload*.class and a logback.xml (client logging: WARN to stderr)
#     classpath    the runtime classpath, one line (classes/ first)
# where <stamp> is a hash of the source, this script and the classpath. Idempotent: builds only
# when no build of that stamp exists. Prints the build's directory.
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
# One dir per build, never changed once complete: a program still running from an older build
# (another test, the runner) keeps its classes while a new one is made.
BUILD="$OUT/${stamp:0:16}"
if [[ -f "$BUILD/.complete" ]]; then
  echo "$BUILD"
  exit 0
fi

mkdir -p "$OUT"
tmp=$(mktemp -d "$OUT/.build.XXXXXX")
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
echo "$BUILD/classes:$cp" >"$tmp/classpath"
touch "$tmp/.complete"
# A concurrent build of the same stamp may have won the rename; its result is the same.
if ! mv -T "$tmp" "$BUILD" 2>/dev/null; then
  rm -rf "$tmp"
fi
trap - EXIT
# Builds of other sources untouched for a day are gone.
find "$OUT" -mindepth 1 -maxdepth 1 -type d ! -name "${stamp:0:16}" -mtime +0 -exec rm -rf {} + 2>/dev/null || true
echo "$BUILD"
