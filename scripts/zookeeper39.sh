#!/usr/bin/env bash
# Fetches the second reference server, Apache ZooKeeper 3.9.5, with its runtime dependencies, a
# logging backend (logback) and what its AdminServer and zkCli need (Jetty, servlet API, Jackson,
# metrics, jline, commons-cli), from Maven Central into a cache dir:
#   ${ZKTS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zkts}/zookeeper-3.9.5/lib/*.jar
# test/util/servers.ts looks there (zookeeper39LibDir()). Versions of everything but ZooKeeper come
# from ZooKeeper's own parent pom (imported as a BOM), so they are the ones 3.9.5 was released with.
# Idempotent: does nothing once lib/.complete exists.
set -euo pipefail

ZK_VERSION=3.9.5
CACHE_ROOT=${ZKTS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zkts}
DIR="$CACHE_ROOT/zookeeper-$ZK_VERSION"
STAMP="$DIR/lib/.complete"

if [[ -f "$STAMP" ]]; then
  echo "zookeeper39: ZooKeeper $ZK_VERSION already in $DIR/lib"
  exit 0
fi
if ! command -v mvn >/dev/null 2>&1; then
  echo "zookeeper39: mvn not found (install the maven package)" >&2
  exit 1
fi

mkdir -p "$DIR"
cat >"$DIR/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>zkts.test</groupId>
  <artifactId>zookeeper-reference</artifactId>
  <version>$ZK_VERSION</version>
  <packaging>pom</packaging>
  <dependencyManagement>
    <dependencies>
      <dependency>
        <groupId>org.apache.zookeeper</groupId><artifactId>parent</artifactId><version>$ZK_VERSION</version>
        <type>pom</type><scope>import</scope>
      </dependency>
    </dependencies>
  </dependencyManagement>
  <dependencies>
    <dependency>
      <groupId>org.apache.zookeeper</groupId><artifactId>zookeeper</artifactId><version>$ZK_VERSION</version>
      <exclusions>
        <!-- OpenSSL natives for every platform: TLS is not used by the tests. -->
        <exclusion><groupId>io.netty</groupId><artifactId>netty-tcnative-boringssl-static</artifactId></exclusion>
      </exclusions>
    </dependency>
    <dependency><groupId>ch.qos.logback</groupId><artifactId>logback-classic</artifactId></dependency>
    <dependency><groupId>org.eclipse.jetty</groupId><artifactId>jetty-server</artifactId></dependency>
    <dependency><groupId>org.eclipse.jetty</groupId><artifactId>jetty-servlet</artifactId></dependency>
    <dependency><groupId>org.eclipse.jetty</groupId><artifactId>jetty-client</artifactId></dependency>
    <dependency><groupId>com.fasterxml.jackson.core</groupId><artifactId>jackson-databind</artifactId></dependency>
    <dependency><groupId>io.dropwizard.metrics</groupId><artifactId>metrics-core</artifactId></dependency>
    <dependency><groupId>org.xerial.snappy</groupId><artifactId>snappy-java</artifactId></dependency>
    <dependency><groupId>commons-cli</groupId><artifactId>commons-cli</artifactId></dependency>
    <dependency><groupId>org.jline</groupId><artifactId>jline</artifactId></dependency>
  </dependencies>
</project>
POM

echo "zookeeper39: fetching ZooKeeper $ZK_VERSION from Maven Central into $DIR/lib"
rm -rf "$DIR/lib.partial" "$DIR/lib"
if ! mvn -B -q -f "$DIR/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$DIR/lib.partial" >"$DIR/mvn.log" 2>&1; then
  cat "$DIR/mvn.log" >&2
  echo "zookeeper39: mvn dependency:copy-dependencies failed" >&2
  exit 1
fi
if [[ ! -f "$DIR/lib.partial/zookeeper-$ZK_VERSION.jar" ]]; then
  echo "zookeeper39: zookeeper-$ZK_VERSION.jar missing after the fetch" >&2
  exit 1
fi
touch "$DIR/lib.partial/.complete"
mv "$DIR/lib.partial" "$DIR/lib"
echo "zookeeper39: $(ls "$DIR/lib" | wc -l) jars in $DIR/lib"
