#!/usr/bin/env bash
# Installs the Debian packages the tests need: the reference Apache ZooKeeper 3.8 server and its
# Java libraries, the real clients used by compat-tests (zkCli via ZooKeeperMain, the C client
# cli_mt, Kazoo, Curator, ClickHouse 18.16, Patroni 3.0 with PostgreSQL 15), pytest, and an MIT KDC with Kerberos clients for the
# SASL GSSAPI tests, and Maven, which then fetches from Maven Central a second reference server,
# Apache ZooKeeper 3.9.5 (scripts/zookeeper39.sh), and Apache Kafka's jars for the Kafka compat test
# (scripts/fetch-kafka.sh), and the client libraries' own reconfiguration tests (Kazoo 2.10.0's
# sdist from PyPI, Curator 5.9.0's test jars from Maven Central: scripts/fetch-client-suites.sh).
# The fault suite's workload programs use what these bring: ZooKeeper 3.9.5's client with Debian's
# Curator (scripts/faults/workload/build-java.sh compiles against them) and Kazoo 2.10.0, else
# Debian's python3-kazoo.
# Idempotent: does nothing when everything is installed and fetched, and runs `apt-get update` only
# when a package cannot be found in the current lists.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

PACKAGES=(
  zookeeper              # QuorumPeerMain, zkCli.sh, zkServer.sh; pulls in libzookeeper-java
  zookeeper-bin          # C client: /usr/lib/zookeeper/bin/cli_mt
  python3-kazoo          # Kazoo for /usr/bin/python3
  python3-pure-sasl      # SASL DIGEST-MD5 for Kazoo (compat-tests/sasl.test.ts); kazoo depends on it, listed as used directly
  python3-pytest
  python3-openssl        # Kazoo's own test harness (kazoo/testing) imports OpenSSL ...
  python3-pyjks          # ... and jks (compat-tests/reconfig-clientsuites.test.ts runs Kazoo's own tests)
  python3-mock           # Debian's kazoo/tests (2.8.0) import mock
  python3-pip            # pip download of Kazoo's sdist (scripts/fetch-client-suites.sh) ...
  python3-setuptools     # ... whose metadata step runs on Debian's setuptools (--no-build-isolation)
  libcurator-framework-java
  libcurator-recipes-java
  libcurator-discovery-java
  libservlet-api-java    # /usr/share/java/servlet-api.jar, needed by ZooKeeper's Jetty AdminServer
  libslf4j-java          # slf4j-api + the slf4j-log4j12 binding
  liblog4j1.2-java       # log4j 1.2 backend for the reference server's log
  openjdk-17-jdk-headless  # java and javac (Curator programs in compat-tests are compiled)
  chromium               # the web console is tested in headless Chromium (playwright-core)
  clickhouse-server      # ClickHouse 18.16: replicated tables through an old-style ZooKeeper client
  patroni                # Patroni 3.0 (PostgreSQL failover) with its zookeeper DCS on Kazoo
  postgresql-15          # the PostgreSQL Patroni runs (/usr/lib/postgresql/15/bin)
  krb5-kdc               # a throwaway MIT KDC for the GSSAPI tests (test/util/kdc.ts)
  krb5-admin-server      # kadmin.local: principals and keytabs
  krb5-user              # kinit, klist
  python3-gssapi         # an MIT GSS-API client for the GSSAPI tests
  python3-pure-sasl      # Kazoo's SASL client ...
  python3-kerberos       # ... and the pykerberos it runs GSSAPI on
  nftables               # nft: the fault suite's network partitions on lo (scripts/faults/net.ts)
  iptables               # its NFQUEUE target: delayed links where the kernel has no sch_netem (net.ts)
  maven                  # fetches ZooKeeper 3.9.5 (scripts/zookeeper39.sh) and Kafka (scripts/fetch-kafka.sh)
  cmake                  # builds the C client with OpenSSL (scripts/cclient-ssl.sh) ...
  make                   # ... (cmake's generator) ...
  gcc                    # ... its compiler ...
  libssl-dev             # ... against OpenSSL's headers
  curl                   # ... whose source it downloads from Debian's archive
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != ii* ]]; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  bash "$SCRIPT_DIR/zookeeper39.sh"
  bash "$SCRIPT_DIR/cclient-ssl.sh"
  bash "$SCRIPT_DIR/fetch-client-suites.sh"
  exec bash "$SCRIPT_DIR/fetch-kafka.sh"
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
  else
    echo "install-deps: must run as root (missing: ${missing[*]})" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-y -qq -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

apt_update() {
  echo "install-deps: apt-get update"
  "${SUDO[@]}" apt-get update -qq
}

lists_present() {
  compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null
}

candidates_known() {
  local pkg candidate
  for pkg in "$@"; do
    candidate=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [[ -z "$candidate" || "$candidate" == "(none)" ]]; then
      return 1
    fi
  done
}

if ! lists_present || ! candidates_known "${missing[@]}"; then
  apt_update
fi

echo "install-deps: installing ${missing[*]}"
if ! "${SUDO[@]}" apt-get install "${APT_OPTS[@]}" "${missing[@]}" >/tmp/zkts-install-deps.log 2>&1; then
  # Stale lists (a removed version) are the usual cause; refresh once and retry.
  apt_update
  if ! "${SUDO[@]}" apt-get install "${APT_OPTS[@]}" "${missing[@]}" >/tmp/zkts-install-deps.log 2>&1; then
    cat /tmp/zkts-install-deps.log >&2
    echo "install-deps: apt-get install failed" >&2
    exit 1
  fi
fi
echo "install-deps: done"
bash "$SCRIPT_DIR/zookeeper39.sh"
bash "$SCRIPT_DIR/cclient-ssl.sh"
bash "$SCRIPT_DIR/fetch-client-suites.sh"
exec bash "$SCRIPT_DIR/fetch-kafka.sh"
