// The session bookkeeping a leader (or a standalone server) checks requests against, without
// sockets: owners and SESSIONMOVED, unknown and closing sessions, local sessions and their upgrade,
// expiry of some sessions only; and where prep asks for the check, so that a refused write is the
// error txn ZooKeeper's prep makes (the live behaviour is in test/quorum/sessionmoved.test.ts and
// localsessions.test.ts).
import t from 'tap';
import { Err, OpCode } from '../src/protocol/constants';
import { AuthRegistry } from '../src/server/auth';
import { Prep, type WriteRequest } from '../src/server/prep';
import { LOCAL_OWNER, SessionTracker, type SessionCheckRules } from '../src/server/sessions';
import { DataTree, OPEN_ACL_UNSAFE } from '../src/storage/datatree';

const TICK_MS = 100;
const LEADER: SessionCheckRules = { unknownIsExpired: true };
const STANDALONE: SessionCheckRules = { unknownIsExpired: false };
const LEARNER_CONN = 7;

t.test('owners: the first request claims a session, another server gets SESSIONMOVED, setOwner moves it', async (t) => {
  const s = new SessionTracker(TICK_MS, 1, 0);
  const id = s.newSessionId();
  s.add(id, 1000, 0);
  t.equal(s.checkSession(id, LEARNER_CONN, LEADER), Err.OK, 'no owner yet: this one takes it');
  t.equal(s.checkSession(id, LEARNER_CONN, LEADER), Err.OK);
  t.equal(s.checkSession(id, LOCAL_OWNER, LEADER), Err.SESSIONMOVED, 'through another server');
  t.ok(s.setOwner(id, LOCAL_OWNER), 'reopened on the leader');
  t.equal(s.checkSession(id, LOCAL_OWNER, LEADER), Err.OK);
  t.equal(s.checkSession(id, LEARNER_CONN, LEADER), Err.SESSIONMOVED);
  s.clearOwners();
  t.equal(s.checkSession(id, LEARNER_CONN, LEADER), Err.OK, 'a new leader learns owners again');
  s.setClosing(id);
  t.equal(s.checkSession(id, LEARNER_CONN, LEADER), Err.SESSIONEXPIRED, 'closing');
  t.notOk(s.setOwner(id, LEARNER_CONN), 'a closing session cannot be reopened');
  t.notOk(s.setOwner(0x5n, LEARNER_CONN), 'nor an unknown one');
});

t.test('unknown sessions: expired in an ensemble, unknown standalone, another server\'s local session with local sessions', async (t) => {
  const s = new SessionTracker(TICK_MS, 1, 0);
  const foreign = (2n << 56n) | 5n;
  const mine = (1n << 56n) | 5n;
  t.equal(s.checkSession(foreign, LEARNER_CONN, STANDALONE), Err.UNKNOWNSESSION);
  t.equal(s.checkSession(foreign, LEARNER_CONN, LEADER), Err.SESSIONEXPIRED);
  const local: SessionCheckRules = { unknownIsExpired: true, localSessionsOf: 1 };
  t.equal(s.checkSession(foreign, LEARNER_CONN, local), Err.OK, 'server 2 made it: its local session');
  t.equal(s.checkSession(mine, LEARNER_CONN, local), Err.SESSIONEXPIRED, 'this server would know its own');
  t.equal(s.checkSession(foreign, LEARNER_CONN, local, true), Err.SESSIONEXPIRED, 'an ephemeral needs a global session');
});

t.test('local sessions: no ephemeral until upgraded; adding as global upgrades', async (t) => {
  const s = new SessionTracker(TICK_MS, 1, 0);
  const id = s.newSessionId();
  s.add(id, 1000, 0, true);
  t.equal(s.get(id)?.local, true);
  t.equal(s.checkSession(id, LOCAL_OWNER, LEADER), Err.OK);
  t.equal(s.checkSession(id, LOCAL_OWNER, LEADER, true), Err.EPHEMERALONLOCALSESSION);
  s.add(id, 1000, 0);
  t.equal(s.get(id)?.local, false, 'global now');
  t.equal(s.checkSession(id, LOCAL_OWNER, LEADER, true), Err.OK);
});

t.test('expiry of some sessions only: the others stay tracked and move to a later bucket', async (t) => {
  const s = new SessionTracker(TICK_MS, 1, 0);
  const local = s.newSessionId();
  const global = s.newSessionId();
  s.add(local, 300, 0, true);
  s.add(global, 300, 0);
  const first = s.expired(400, (x) => x.local);
  t.same(first.map((x) => x.id), [local], 'the local one expires');
  t.equal(s.get(global)?.closing, false, 'the global one is not closing');
  t.ok(s.get(global)!.expiresAtMs > 400, 'and has a new deadline');
  t.same(s.expired(2000).map((x) => x.id), [global], 'which is kept');
});

t.test('prep asks for the session check where ZooKeeper does, and a refusal is an error txn', async (t) => {
  const tree = new DataTree(true);
  const prep = new Prep(tree, new AuthRegistry(undefined, false), { extendedTypesEnabled: true, reconfigEnabled: true, enforceQuota: false });
  const session = 0x100000000000001n;
  let zxid = 0n;
  const asked: boolean[] = [];
  const moved = (ephemeral: boolean) => {
    asked.push(ephemeral);
    return Err.SESSIONMOVED;
  };
  const prepare = (req: WriteRequest, check: ((e: boolean) => number) | null = moved) => {
    asked.length = 0;
    return prep.prepare(req, session, [], ++zxid, 0n, check ?? undefined);
  };
  const error = (err: number) => ({ type: OpCode.error, record: { err } });
  // Checked first: before NONODE / BADVERSION.
  t.same(prepare({ type: OpCode.delete, record: { path: '/missing', version: 3 } }), error(Err.SESSIONMOVED));
  t.same(prepare({ type: OpCode.setData, record: { path: '/missing', data: null, version: -1 } }), error(Err.SESSIONMOVED));
  t.same(prepare({ type: OpCode.setACL, record: { path: '/missing', acl: OPEN_ACL_UNSAFE, version: -1 } }), error(Err.SESSIONMOVED));
  t.same(prepare({ type: OpCode.check, record: { path: '/missing', version: 1 } }), error(Err.SESSIONMOVED));
  t.same(prepare({ type: OpCode.reconfig, record: { joiningServers: '', leavingServers: '', newMembers: '', curConfigId: -1n } }), error(Err.SESSIONMOVED));
  t.same(prepare({ type: OpCode.create, record: { path: '/e', data: null, acl: OPEN_ACL_UNSAFE, flags: 1 } }), error(Err.SESSIONMOVED));
  t.same(asked, [true], 'an ephemeral create asks for a global session');
  // A create checks its mode and TTL first.
  t.same(prepare({ type: OpCode.createTTL, record: { path: '/t', data: null, acl: OPEN_ACL_UNSAFE, flags: 5, ttl: 0n } }), error(Err.BADARGUMENTS));
  t.same(asked, [], 'not asked');
  // Not checked: createSession, closeSession, deleteContainer.
  t.same(prepare({ type: OpCode.createSession, record: { timeOut: 1000 } }), { type: OpCode.createSession, record: { timeOut: 1000 } });
  t.equal(prepare({ type: OpCode.closeSession, record: null }).type, OpCode.closeSession);
  t.same(prepare({ type: OpCode.deleteContainer, record: { path: '/missing', version: -1 } }), error(Err.NONODE));
  t.same(asked, [], 'none of them asked');
  // A multi: its first op is refused, the rest RUNTIMEINCONSISTENCY, as any failed multi.
  const multi = prepare({
    type: OpCode.multi,
    record: [
      { type: OpCode.create, record: { path: '/m', data: null, acl: OPEN_ACL_UNSAFE, flags: 0 } },
      { type: OpCode.setData, record: { path: '/m', data: null, version: -1 } },
    ],
  });
  t.same(multi, { type: OpCode.multi, record: { txns: [error(Err.SESSIONMOVED), error(Err.RUNTIMEINCONSISTENCY)] } });
  // Without a check (the server's own writes) nothing is asked.
  t.equal(prepare({ type: OpCode.create, record: { path: '/own', data: null, acl: OPEN_ACL_UNSAFE, flags: 0 } }, null).type, OpCode.create);
});
