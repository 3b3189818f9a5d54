// TLS between ensemble members (sslQuorum, ssl.quorum.*), in zkts ensembles and in mixed ensembles
// of Apache ZooKeeper 3.8.0 and zkts processes, with certificates this run makes:
// 1. 3 zkts, 2 ZooKeeper + 1 zkts, 1 ZooKeeper + 2 zkts, all with sslQuorum=true: the leader is
//    killed twice so that each kind leads while the other follows; writes through every member;
//    identical trees; both kinds logged TLS quorum connections.
// 2. A member whose certificate comes from another CA cannot join a TLS ensemble (zkts refusing a
//    ZooKeeper member, ZooKeeper refusing a zkts member); the other two serve.
// 3. ZooKeeper's rolling upgrade of a zkts ensemble, and of a zkts + ZooKeeper one, from plaintext
//    to TLS under a write load, one member restarted at a time: portUnification on, then sslQuorum on, then portUnification off;
//    every write succeeds, and at the end the members talk TLS only.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { Err } from '../../src/protocol/constants';
import { CertFactory } from '../util/certs';
import { ZkClient } from '../util/client';
import { type EnsembleMember, type MemberKind, startReferenceEnsemble } from '../util/ensemble';
import { HOST, settledZxids } from './members';
import { createThrough, expectIdenticalTrees, side } from './mixedchecks';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-quorum-tls-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const certs = new CertFactory(dir);
const ca = certs.ca('quorum-ca');
const rogueCa = certs.ca('quorum-rogue-ca');
const memberStores = certs.keyStores(certs.leaf(ca, 'member', '/O=zkts tests/CN=member'), 'secret1');
const rogueStores = certs.keyStores(certs.leaf(rogueCa, 'rogue', '/O=zkts tests/CN=rogue'), 'secret1');
const trust = certs.trustStores('quorum', [ca], 'trustpw');

const TLS_STORES = (keyStore: string): Record<string, string> => ({
  'ssl.quorum.keyStore.location': keyStore,
  'ssl.quorum.keyStore.password': 'secret1',
  'ssl.quorum.trustStore.location': trust.p12,
  'ssl.quorum.trustStore.password': 'trustpw',
});
const BASE = { tickTime: '500', '4lw.commands.whitelist': '*' };
const WAIT_MS = 40_000;

async function until(pred: () => boolean | Promise<boolean>, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}


const SHAPES: Array<{ name: string; members: MemberKind[] }> = [
  { name: '3 zkts', members: ['zkts', 'zkts', 'zkts'] },
  { name: '2 ZooKeeper + 1 zkts', members: ['3.8.0', '3.8.0', 'zkts'] },
  { name: '1 ZooKeeper + 2 zkts', members: ['zkts', 'zkts', '3.8.0'] },
];

for (const shape of SHAPES) {
  t.test(`${shape.name}, sslQuorum=true: leaders killed, writes everywhere, identical trees`, async (t) => {
    const ens = await startReferenceEnsemble({ members: shape.members, extraConfig: { ...BASE, sslQuorum: 'true', ...TLS_STORES(memberStores.jks) } });
    t.teardown(() => ens.stop());
    const logs: Record<number, string> = {};
    const keepLog = (m: EnsembleMember) => (logs[m.sid] = (logs[m.sid] ?? '') + m.log());
    const acked: string[] = [];
    const round = async (tag: string) => {
      for (const m of ens.members.filter((x) => x.isRunning())) await createThrough(t, m, `/tls-${tag}-${m.sid}`, tag, acked);
    };
    const first = await ens.waitForQuorum();
    await round('a');
    keepLog(first);
    await first.kill();
    const second = await ens.waitForQuorum();
    await round('b');
    await first.start();
    await ens.waitForQuorum();
    t.equal((await first.srvr()).mode, 'follower', `the restarted ${side(first)} ${first.sid} follows`);
    await round('c');
    keepLog(second);
    await second.kill();
    await ens.waitForQuorum();
    await round('d');
    await second.start();
    await ens.waitForQuorum();
    await round('e');
    await expectIdenticalTrees(t, ens.members, acked);
    const zxids = await settledZxids(ens.members.map((m) => m.clientPort));
    t.equal(new Set(zxids).size, 1, `the same zxid everywhere (${zxids.join(', ')})`);
    for (const m of ens.members) keepLog(m);
    const zkts = ens.members.filter((m) => m.kind === 'zkts').map((m) => logs[m.sid]).join('\n');
    t.match(zkts, /Accepted TLS quorum connection/, 'zkts accepted TLS connections from members');
    t.match(zkts, /Using TLS encrypted quorum communication/);
    if (shape.members.includes('3.8.0')) {
      const zk = ens.members.filter((m) => m.kind !== 'zkts').map((m) => logs[m.sid]).join('\n');
      t.match(zk, /SSL handshake complete|Accepted TLS connection/, 'ZooKeeper talked TLS to its peers');
    }
  });
}

for (const [name, members, checker] of [
  ['a ZooKeeper member with a foreign certificate among zkts members', ['zkts', 'zkts', '3.8.0'], 'zkts'],
  ['a zkts member with a foreign certificate among ZooKeeper members', ['3.8.0', '3.8.0', 'zkts'], 'ZooKeeper'],
] as Array<[string, MemberKind[], string]>) {
  t.test(`${name}: it cannot join; ${checker} refuses it and the other two serve`, async (t) => {
    const ens = await startReferenceEnsemble({ members, extraConfig: { ...BASE, sslQuorum: 'true', ...TLS_STORES(memberStores.jks) }, start: false });
    t.teardown(() => ens.stop());
    Object.assign(ens.member(3).config, TLS_STORES(rogueStores.jks));
    await Promise.all(ens.members.map((m) => m.start()));
    await ens.waitForQuorum({ members: [ens.member(1), ens.member(2)] });
    await new Promise((r) => setTimeout(r, 4000));
    const mode = (await ens.member(3).srvr()).mode;
    t.not(mode, 'follower', `member 3 does not follow (${mode ?? 'not serving'})`);
    t.not(mode, 'leader', 'nor lead');
  });
}

// In the mixed shape zkts is member 1, so that the ZooKeeper members' election connections (made
// from the higher id to the lower) are ones zkts accepts.
const ROLLING_SHAPES: Array<[string, MemberKind[]]> = [
  ['3 zkts', ['zkts', 'zkts', 'zkts']],
  ['1 zkts + 2 ZooKeeper', ['zkts', '3.8.0', '3.8.0']],
];

for (const [name, members] of ROLLING_SHAPES) {
  t.test(`${name}: rolling upgrade from plaintext to TLS under a write load, no failed write`, async (t) => {
    const ens = await startReferenceEnsemble({ members, extraConfig: { ...BASE, ...TLS_STORES(memberStores.jks) } });
    t.teardown(() => ens.stop());
    await ens.waitForQuorum();
    const acked: string[] = [];
    const failures: string[] = [];
    let writing = true;
    let target = 1;
    // Writes go through a member that is not being restarted. A restarted leader makes the others
    // close their clients while they elect (as in ZooKeeper), so a write cut off by a lost connection
    // is retried, as a client library does: NODEEXISTS on a retry means the first attempt took. A
    // write that gets an error answer, or never goes through within 60 s, has failed.
    let retries = 0;
    const load = (async () => {
      let c: ZkClient | undefined;
      for (let n = 0; writing; n++) {
        const p = `/roll-${n}`;
        const deadline = Date.now() + 60_000;
        for (;;) {
          if (Date.now() > deadline) {
            failures.push(`${p}: not written within 60 s`);
            break;
          }
          try {
            c ??= await ZkClient.connect(HOST, ens.member(target).clientPort);
            const err = (await c.create(p, Buffer.from('x'))).header.err;
            if (err === Err.OK || err === Err.NODEEXISTS) acked.push(p);
            else failures.push(`${p}: error ${err}`);
            break;
          } catch {
            retries++;
            c?.destroy();
            c = undefined;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      }
      c?.destroy();
    })();
    const steps: Array<[string, Record<string, string>]> = [
      ['portUnification on', { portUnification: 'true' }],
      ['sslQuorum on', { sslQuorum: 'true', portUnification: 'true' }],
      ['portUnification off', { sslQuorum: 'true', portUnification: 'false' }],
    ];
    for (const [step, change] of steps) {
      for (const m of ens.members) {
        target = (m.sid % 3) + 1;
        Object.assign(m.config, change);
        await m.restart();
        await until(async () => ['leader', 'follower'].includes((await m.srvr()).mode ?? ''), `member ${m.sid} serving after "${step}"`);
        await ens.waitForQuorum();
      }
      t.pass(`step "${step}" done on every member`);
    }
    writing = false;
    await load;
    t.same(failures, [], `no failed write (${retries} retries after lost connections)`);
    t.ok(acked.length > 50, `writes went on all along (${acked.length})`);
    await expectIdenticalTrees(t, ens.members, acked);
    // At the end every member talks TLS only: a member restarted now still joins over TLS.
    const last = ens.member(1);
    await last.restart();
    await ens.waitForQuorum();
    t.match(ens.members.map((m) => m.log()).join('\n'), /Accepted TLS quorum connection/);
  });
}
