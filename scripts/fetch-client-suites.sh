#!/usr/bin/env bash
# Fetches the client libraries' own test suites that compat-tests/reconfig-clientsuites.test.ts runs
# against both kinds of ensemble, into a cache dir:
#   ${ZKTS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zkts}/
#     kazoo-2.10.0/        Kazoo's sdist from PyPI, unpacked (kazoo/, kazoo/tests/, kazoo/testing/),
#                          checked against its sha256
#     curator-5.9.0/lib/   Curator 5.9.0's published test classes (curator-framework-5.9.0-tests.jar),
#                          curator-test, the ZooKeeper client Curator 5.9.0 was built with, AssertJ
#                          and the JUnit 5 console launcher, from Maven Central (mvn)
# Kazoo's tests also need python3-pyjks, python3-openssl and python3-mock (Debian packages,
# scripts/install-deps.sh). Idempotent: each part is skipped once its .complete stamp exists.
set -euo pipefail

CACHE_ROOT=${ZKTS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zkts}
PYTHON=/usr/bin/python3

KAZOO_VERSION=2.10.0
KAZOO_SHA256=905796ae4f4c12bd4e4ae92e6e5d018439e6b56c8cfbb24825362e79b230dab1
KAZOO_DIR="$CACHE_ROOT/kazoo-$KAZOO_VERSION"

CURATOR_VERSION=5.9.0
CURATOR_DIR="$CACHE_ROOT/curator-$CURATOR_VERSION"
# Versions from Curator 5.9.0's own parent pom (assertj-version, junit-version).
ASSERTJ_VERSION=3.23.1
JUNIT_PLATFORM_VERSION=1.6.2

fetch_kazoo() {
  if [[ -f "$KAZOO_DIR/.complete" ]]; then
    echo "client-suites: Kazoo $KAZOO_VERSION already in $KAZOO_DIR"
    return
  fi
  echo "client-suites: fetching Kazoo $KAZOO_VERSION (sdist) into $KAZOO_DIR"
  local tmp
  tmp=$(mktemp -d)
  # --no-build-isolation: the metadata step uses Debian's setuptools instead of fetching one.
  if ! "$PYTHON" -m pip download "kazoo==$KAZOO_VERSION" --no-deps --no-binary :all: \
      --no-build-isolation -q -d "$tmp" >"$tmp/pip.log" 2>&1; then
    cat "$tmp/pip.log" >&2
    rm -rf "$tmp"
    echo "client-suites: pip download kazoo==$KAZOO_VERSION failed" >&2
    exit 1
  fi
  local sdist="$tmp/kazoo-$KAZOO_VERSION.tar.gz"
  if [[ "$(sha256sum "$sdist" | cut -d' ' -f1)" != "$KAZOO_SHA256" ]]; then
    rm -rf "$tmp"
    echo "client-suites: kazoo-$KAZOO_VERSION.tar.gz does not have the expected sha256" >&2
    exit 1
  fi
  rm -rf "$KAZOO_DIR"
  mkdir -p "$CACHE_ROOT"
  tar -xzf "$sdist" -C "$tmp"
  touch "$tmp/kazoo-$KAZOO_VERSION/.complete"
  mv "$tmp/kazoo-$KAZOO_VERSION" "$KAZOO_DIR"
  rm -rf "$tmp"
}

fetch_curator() {
  if [[ -f "$CURATOR_DIR/lib/.complete" ]]; then
    echo "client-suites: Curator $CURATOR_VERSION tests already in $CURATOR_DIR/lib"
    return
  fi
  if ! command -v mvn >/dev/null 2>&1; then
    echo "client-suites: mvn not found (install the maven package)" >&2
    exit 1
  fi
  mkdir -p "$CURATOR_DIR"
  cat >"$CURATOR_DIR/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>zkts.test</groupId>
  <artifactId>curator-own-tests</artifactId>
  <version>$CURATOR_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.curator</groupId><artifactId>curator-framework</artifactId><version>$CURATOR_VERSION</version>
      <exclusions>
        <!-- OpenSSL natives for every platform: TLS is not used. -->
        <exclusion><groupId>io.netty</groupId><artifactId>netty-tcnative-boringssl-static</artifactId></exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <groupId>org.apache.curator</groupId><artifactId>curator-framework</artifactId><version>$CURATOR_VERSION</version>
      <classifier>tests</classifier>
      <exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>
    </dependency>
    <dependency>
      <groupId>org.apache.curator</groupId><artifactId>curator-test</artifactId><version>$CURATOR_VERSION</version>
      <exclusions>
        <!-- OpenSSL natives for every platform: TLS is not used. -->
        <exclusion><groupId>io.netty</groupId><artifactId>netty-tcnative-boringssl-static</artifactId></exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <groupId>org.assertj</groupId><artifactId>assertj-core</artifactId><version>$ASSERTJ_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.junit.platform</groupId><artifactId>junit-platform-console-standalone</artifactId><version>$JUNIT_PLATFORM_VERSION</version>
    </dependency>
  </dependencies>
</project>
POM
  echo "client-suites: fetching Curator $CURATOR_VERSION's tests from Maven Central into $CURATOR_DIR/lib"
  rm -rf "$CURATOR_DIR/lib.partial" "$CURATOR_DIR/lib"
  if ! mvn -B -q -f "$CURATOR_DIR/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$CURATOR_DIR/lib.partial" >"$CURATOR_DIR/mvn.log" 2>&1; then
    cat "$CURATOR_DIR/mvn.log" >&2
    echo "client-suites: mvn dependency:copy-dependencies failed" >&2
    exit 1
  fi
  if [[ ! -f "$CURATOR_DIR/lib.partial/curator-framework-$CURATOR_VERSION-tests.jar" ]]; then
    echo "client-suites: curator-framework-$CURATOR_VERSION-tests.jar missing after the fetch" >&2
    exit 1
  fi
  touch "$CURATOR_DIR/lib.partial/.complete"
  mv "$CURATOR_DIR/lib.partial" "$CURATOR_DIR/lib"
  echo "client-suites: $(ls "$CURATOR_DIR/lib" | wc -l) jars in $CURATOR_DIR/lib"
}

fetch_kazoo
fetch_curator
