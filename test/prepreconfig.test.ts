// Prep's reconfig path (opcode 16) against docs/RECONFIG.md §3.1: ZooKeeper's check order
// (PrepRequestProcessor, case OpCode.reconfig), each failure an error txn, and the txn a reconfig
// becomes: a setData of /zookeeper/config with version -1 whose data is the new configuration
// string, versioned by the txn's own zxid, leaving the tree digest as it was.
import t from 'tap';
import { Err, OpCode } from '../src/protocol/constants';
import type { Id } from '../src/protocol/generated/records';
import { JuteReader, JuteWriter } from '../src/protocol/jute';
import { decodeRequestBody, type ReconfigRequestIn } from '../src/protocol/requests';
import { writeReconfigRequest } from './util/client';
import { AuthRegistry, digestOf } from '../src/server/auth';
import { Prep, type ReconfigPrepContext } from '../src/server/prep';
import { DataTree } from '../src/storage/datatree';
import { CONFIG_PATH } from '../src/storage/paths';
import { parseQuorumVerifier, type QuorumVerifier } from '../src/quorum/verifier';

const line = (n: number, role = 'participant') => `server.${n}=127.0.0.1:4620${n}:4630${n}:${role};127.0.0.1:4610${n}`;
const V1 = 0x100000000n;
const COMMITTED = parseQuorumVerifier(`${line(1)}\n${line(2)}\n${line(3)}\nversion=${V1.toString(16)}`);
const SESSION = 0x100000000000001n;
const OK = () => Err.OK;
const error = (err: number) => ({ type: OpCode.error, record: { err } });

const req = (r: Partial<ReconfigRequestIn>): { type: typeof OpCode.reconfig; record: ReconfigRequestIn } => ({
  type: OpCode.reconfig,
  record: { joiningServers: '', leavingServers: '', newMembers: null, curConfigId: -1n, ...r },
});
const ADD4 = req({ joiningServers: line(4) });
/** Three unstarted voters on top of three: 3 synced of 6 is no quorum of the new configuration. */
const ADD456 = req({ joiningServers: [line(4), line(5), line(6)].join(',') });

interface Setup {
  prep: Prep;
  tree: DataTree;
  ctx: { value: ReconfigPrepContext | undefined };
}

function setup(opts: { reconfigEnabled?: boolean; skipACL?: boolean; superDigest?: string; context?: boolean } = {}): Setup {
  const tree = new DataTree(true);
  tree.setQuorumConfig(COMMITTED.toString(), V1, 0n);
  const ctx: Setup['ctx'] = {
    value:
      opts.context === false
        ? undefined
        : { lastSeen: COMMITTED, committed: COMMITTED, standaloneEnabled: false, multiAddressEnabled: false, synced: new Set([1n, 2n, 3n]) },
  };
  const prep = new Prep(tree, new AuthRegistry(opts.superDigest, opts.skipACL ?? true), {
    extendedTypesEnabled: true,
    reconfigEnabled: opts.reconfigEnabled ?? true,
    enforceQuota: false,
    digestEnabled: true,
    reconfigContext: () => ctx.value,
  });
  return { prep, tree, ctx };
}

t.test('check order: RECONFIGDISABLED before the session, the session before UNIMPLEMENTED', async (t) => {
  let asked = 0;
  const moved = () => {
    asked++;
    return Err.SESSIONMOVED;
  };
  const off = setup({ reconfigEnabled: false });
  t.same(off.prep.prepare(ADD4, SESSION, [], 0x100000001n, 0n, moved), error(Err.RECONFIGDISABLED));
  t.equal(asked, 0, 'a disabled reconfig never asks for the session');

  const standalone = setup({ context: false });
  t.same(standalone.prep.prepare(ADD4, SESSION, [], 0x100000001n, 0n, moved), error(Err.SESSIONMOVED), 'the session is checked before the standalone check');
  t.equal(asked, 1);
  t.same(standalone.prep.prepare(ADD4, SESSION, [], 0x100000002n, 0n, OK), error(Err.UNIMPLEMENTED), 'no reconfig context (not a quorum leader): UNIMPLEMENTED');

  const leader = setup();
  t.same(leader.prep.prepare(ADD4, SESSION, [], 0x100000001n, 0n, moved), error(Err.SESSIONMOVED), 'a leader checks the session too');
});

t.test('the leader decision comes before the ACL check: -13 not -102 for an unauthenticated impossible request', async (t) => {
  const { prep } = setup({ skipACL: false });
  const anyone: Id[] = [{ scheme: 'ip', id: '127.0.0.1' }];
  t.same(prep.prepare(ADD456, SESSION, anyone, 0x100000001n, 0n, OK), error(Err.NEWCONFIGNOQUORUM));
  t.same(prep.prepare(req({ curConfigId: 0x42n }), SESSION, anyone, 0x100000002n, 0n, OK), error(Err.BADVERSION), 'BADVERSION also before the ACL');
  t.same(prep.prepare(req({ joiningServers: 'server.4=127.0.0.1:46204;127.0.0.1:46104' }), SESSION, anyone, 0x100000003n, 0n, OK), error(Err.BADARGUMENTS));
  t.same(prep.prepare(ADD4, SESSION, anyone, 0x100000004n, 0n, OK), error(Err.NOAUTH), 'a possible request without WRITE on /zookeeper/config: NOAUTH');
  t.equal(prep.outstandingCount, 0, 'no failed reconfig leaves a change record');
});

t.test('super passes the ACL check; so does skipACL', async (t) => {
  const withSuper = setup({ skipACL: false, superDigest: digestOf('super:pw') });
  const superIds: Id[] = [
    { scheme: 'super', id: '' },
    { scheme: 'digest', id: digestOf('super:pw') },
  ];
  t.equal(withSuper.prep.prepare(ADD4, SESSION, superIds, 0x100000001n, 0n, OK).type, OpCode.setData, 'super');
  const skip = setup({ skipACL: true });
  t.equal(skip.prep.prepare(ADD4, SESSION, [], 0x100000001n, 0n, OK).type, OpCode.setData, 'skipACL');
});

t.test('the txn: setData of /zookeeper/config, version -1, the new configuration versioned by its zxid; digest unchanged', async (t) => {
  const { prep, tree } = setup();
  const before = tree.digest.value;
  const zxid = 0x100000007n;
  const body = prep.prepare(ADD4, SESSION, [], zxid, 1234n, OK);
  const expected = `${line(1)}\n${line(2)}\n${line(3)}\n${line(4)}\nversion=100000007`;
  t.same(body, { type: OpCode.setData, record: { path: CONFIG_PATH, data: Buffer.from(expected, 'utf8'), version: -1 } });
  t.equal(prep.lastTreeDigest, before, 'the config node is outside the digest: the txn leaves it as it was');
  const parsed: QuorumVerifier = parseQuorumVerifier(expected);
  t.equal(parsed.version, zxid);
  t.same([...parsed.votingMembers].sort(), [1n, 2n, 3n, 4n]);

  // A removal and a role change (incremental joiner replacing an entry), each from the last seen members.
  const p2 = setup().prep;
  const removed = p2.prepare(req({ leavingServers: '3' }), SESSION, [], 0x200000002n, 0n, OK);
  t.same(removed, { type: OpCode.setData, record: { path: CONFIG_PATH, data: Buffer.from(`${line(1)}\n${line(2)}\nversion=200000002`), version: -1 } });
  const p3 = setup().prep;
  const observer = p3.prepare(req({ joiningServers: line(2, 'observer') }), SESSION, [], 0x200000003n, 0n, OK);
  t.same(observer, { type: OpCode.setData, record: { path: CONFIG_PATH, data: Buffer.from(`${line(1)}\n${line(2, 'observer')}\n${line(3)}\nversion=200000003`), version: -1 } });
});

t.test('RECONFIGINPROGRESS: a second reconfig prepared before the first is applied, or while the leader has one pending', async (t) => {
  const { prep, ctx } = setup();
  t.equal(prep.prepare(ADD4, SESSION, [], 0x100000001n, 0n, OK).type, OpCode.setData);
  // An ordinary write between them changes nothing about it.
  t.equal(prep.prepare({ type: OpCode.create, record: { path: '/a', data: null, acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }], flags: 0 } }, SESSION, [], 0x100000002n, 0n, OK).type, OpCode.create);
  t.same(prep.prepare(req({ leavingServers: '2' }), SESSION, [], 0x100000003n, 0n, OK), error(Err.RECONFIGINPROGRESS), 'prepared, not yet applied');
  prep.applied(0x100000001n);
  // Applied, but the leader's last-seen configuration is still ahead of its committed one.
  const next = parseQuorumVerifier(`${line(1)}\n${line(2)}\n${line(3)}\n${line(4)}\nversion=100000001`);
  ctx.value = { ...ctx.value!, lastSeen: next, synced: new Set([1n, 2n, 3n, 4n]) };
  t.same(prep.prepare(req({ leavingServers: '2' }), SESSION, [], 0x100000004n, 0n, OK), error(Err.RECONFIGINPROGRESS), 'pending at the leader');
  ctx.value = { ...ctx.value!, committed: next };
  const body = prep.prepare(req({ leavingServers: '2' }), SESSION, [], 0x100000005n, 0n, OK);
  t.same(body, { type: OpCode.setData, record: { path: CONFIG_PATH, data: Buffer.from(`${line(1)}\n${line(3)}\n${line(4)}\nversion=100000005`), version: -1 } }, 'committed: the next one is prepared from it');
  t.same(prep.prepare(req({ curConfigId: 0x100000001n }), SESSION, [], 0x100000006n, 0n, OK), error(Err.RECONFIGINPROGRESS), 'in progress wins over BADVERSION');
});

t.test('a null newMembers is incremental; an empty one is a non-incremental reconfig to no members (MARSHALLINGERROR)', async (t) => {
  // On the wire: what ZooKeeper's Java client sends for fields not given (null ustrings), and an empty string.
  const decode = (fields: Parameters<typeof writeReconfigRequest>[1]) => {
    const w = new JuteWriter();
    writeReconfigRequest(w, fields);
    return decodeRequestBody(OpCode.reconfig, new JuteReader(w.toBuffer())) as ReconfigRequestIn;
  };
  const incremental = decode({ joiningServers: line(4) });
  t.same(incremental, { joiningServers: line(4), leavingServers: '', newMembers: null, curConfigId: -1n }, 'null newMembers decodes as null');
  const empty = decode({ joiningServers: line(4), newMembers: '' });
  t.equal(empty.newMembers, '', 'an empty newMembers stays empty');
  const { prep } = setup();
  t.equal(prep.prepare({ type: OpCode.reconfig, record: incremental }, SESSION, [], 0x100000001n, 0n, OK).type, OpCode.setData, 'null: the joiner is added');
  prep.applied(0x100000001n);
  // ZooKeeper (newMembers != null) parses "" as a dynamic config: no participants with
  // standaloneEnabled=false is an IllegalArgumentException, answered MARSHALLINGERROR (seen on a
  // 3.8.0 leader: "standaloneEnabled = false then number of participants should be >0").
  t.same(prep.prepare({ type: OpCode.reconfig, record: empty }, SESSION, [], 0x100000002n, 0n, OK), error(Err.MARSHALLINGERROR), 'empty: non-incremental, no members');
});

t.test('the decided configuration keeps its member order; one parsed back from its string does not (sid 9 beside 1)', async (t) => {
  const nine = `server.9=127.0.0.1:46209:46309:participant;127.0.0.1:46109`;
  const { prep, ctx } = setup();
  const add = prep.prepare(req({ joiningServers: nine }), SESSION, [], 0x10000000an, 0n, OK);
  const addText = (add.record as { data: Buffer }).data.toString('utf8');
  // ZooKeeper 3.8.0's order for adding 9 to {1,2,3} (docs/RECONFIG.md §2.1).
  t.equal(addText, `${line(1)}\n${nine}\n${line(2)}\n${line(3)}\nversion=10000000a`);
  const decided = prep.decidedConfiguration(addText);
  t.ok(decided !== undefined, 'the leader gets the decided configuration for its txn string');
  t.equal(decided!.toString(), addText);
  t.equal(parseQuorumVerifier(addText).toString(), `${line(1)}\n${line(2)}\n${line(3)}\n${nine}\nversion=10000000a`, 'parsed back: a fresh map, ascending');
  t.equal(prep.decidedConfiguration(parseQuorumVerifier(addText).toString()), undefined, 'another string: no decided configuration');
  prep.applied(0x10000000an);

  // Replacing entry 1 (an observer now) in the copy of the decided map puts 1 behind 9 in its
  // bucket, as ZooKeeper's leader does; then removing 3 keeps 9 first. From the parsed-back
  // configuration the second step would give 1, 9, 2 instead.
  ctx.value = { ...ctx.value!, lastSeen: decided!, committed: decided!, synced: new Set([1n, 2n, 3n, 9n]) };
  const flip = prep.prepare(req({ joiningServers: line(1, 'observer') }), SESSION, [], 0x10000000bn, 0n, OK);
  const flipText = (flip.record as { data: Buffer }).data.toString('utf8');
  t.equal(flipText, `${nine}\n${line(1, 'observer')}\n${line(2)}\n${line(3)}\nversion=10000000b`);
  const flipped = prep.decidedConfiguration(flipText)!;
  prep.applied(0x10000000bn);
  ctx.value = { ...ctx.value!, lastSeen: flipped, committed: flipped };
  const rm = prep.prepare(req({ leavingServers: '3' }), SESSION, [], 0x10000000cn, 0n, OK);
  t.equal((rm.record as { data: Buffer }).data.toString('utf8'), `${nine}\n${line(1, 'observer')}\n${line(2)}\nversion=10000000c`, 'from the decided map: 9, 1, 2');
  prep.applied(0x10000000cn);
  const parsed = parseQuorumVerifier(flipText);
  ctx.value = { ...ctx.value!, lastSeen: parsed, committed: parsed };
  const rmParsed = prep.prepare(req({ leavingServers: '3' }), SESSION, [], 0x10000000dn, 0n, OK);
  t.equal((rmParsed.record as { data: Buffer }).data.toString('utf8'), `${line(1, 'observer')}\n${nine}\n${line(2)}\nversion=10000000d`, 'from a parsed-back map: 1, 9, 2 (what the leader must not do)');
});
