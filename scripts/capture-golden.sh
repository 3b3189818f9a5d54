#!/usr/bin/env bash
# Starts a throwaway reference ZooKeeper 3.8 (via the test launcher), runs capture-golden.py
# against it and stops it. Usage: scripts/capture-golden.sh [OUTPUT.json]
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json
node - "$@" <<'JS'
const { execFileSync } = require('node:child_process');
const { startReferenceZooKeeper } = require('./dist/test/util/servers.js');
(async () => {
  const zk = await startReferenceZooKeeper();
  try {
    execFileSync('/usr/bin/python3', ['scripts/capture-golden.py', zk.connectString, ...process.argv.slice(2)], {
      stdio: 'inherit',
    });
  } catch (err) {
    process.stderr.write(zk.log());
    throw err;
  } finally {
    await zk.stop();
  }
})().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
JS
