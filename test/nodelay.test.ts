// Client connections carry TCP_NODELAY (replies are small frames; with Nagle a reply behind an
// unacknowledged one would wait for the client's delayed ACK). On Linux the listener holds the
// option and every accepted socket inherits it, so no connection sets it itself; this checks the
// accepted socket of a real server process, read from outside through pidfd_getfd.

import t from 'tap';
import * as path from 'node:path';
import { runProcess } from '../compat-tests/util/harness';
import { startZkts } from './util/servers';

const SCRIPT = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'tcpnodelay.py');

t.test('an accepted client socket has TCP_NODELAY, as its listener', { skip: process.platform !== 'linux' && 'Linux only' }, async (t) => {
  const server = await startZkts();
  try {
    const r = await runProcess('python3', [SCRIPT, String(server.pid), String(server.port)], { timeoutMs: 30_000 });
    t.equal(r.code, 0, 'the probe ran', { stderr: r.stderr });
    t.same(JSON.parse(r.stdout), { listener: 1, accepted: 1 }, 'TCP_NODELAY on the listener and on the connection it accepted');
  } finally {
    await server.stop();
  }
});
