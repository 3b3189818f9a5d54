#!/usr/bin/env bash
# Fetches Apache Kafka (the broker in ZooKeeper mode, its command-line tools and an slf4j binding)
# from Maven Central into a cache dir, for compat-tests/kafka.test.ts. Idempotent: does nothing
# when the jars are already there. The jars land in $ZKTS_KAFKA_DIR (default
# ~/.cache/zkts/kafka-<version>/lib); a file `complete` beside lib/ marks a finished fetch, so an
# interrupted one is redone.
set -euo pipefail

KAFKA_VERSION="${ZKTS_KAFKA_VERSION:-3.9.1}"
SLF4J_VERSION=1.7.36   # the slf4j 1.7 line Kafka 3.9 is built against
CACHE_ROOT="${ZKTS_CACHE_DIR:-${HOME:-/root}/.cache/zkts}"
KAFKA_DIR="${ZKTS_KAFKA_DIR:-$CACHE_ROOT/kafka-$KAFKA_VERSION}"

if [[ -f "$KAFKA_DIR/complete" && -d "$KAFKA_DIR/lib" ]]; then
  echo "fetch-kafka: Kafka $KAFKA_VERSION already in $KAFKA_DIR"
  exit 0
fi

if ! command -v mvn >/dev/null 2>&1; then
  echo "fetch-kafka: mvn not found (install-deps.sh installs the maven package)" >&2
  exit 1
fi

mkdir -p "$KAFKA_DIR"
rm -rf "$KAFKA_DIR/lib" "$KAFKA_DIR/complete"
cat >"$KAFKA_DIR/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>zkts.compat</groupId>
  <artifactId>kafka-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>$SLF4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF

echo "fetch-kafka: fetching Kafka $KAFKA_VERSION into $KAFKA_DIR/lib"
started=$(date +%s)
if ! mvn -B -q -f "$KAFKA_DIR/pom.xml" \
    org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
    -DoutputDirectory="$KAFKA_DIR/lib" -DincludeScope=runtime \
    >"$KAFKA_DIR/fetch.log" 2>&1; then
  tail -n 40 "$KAFKA_DIR/fetch.log" >&2
  echo "fetch-kafka: mvn dependency:copy-dependencies failed (log: $KAFKA_DIR/fetch.log)" >&2
  exit 1
fi
touch "$KAFKA_DIR/complete"
echo "fetch-kafka: $(ls "$KAFKA_DIR/lib" | wc -l) jars in $(( $(date +%s) - started )) s"
