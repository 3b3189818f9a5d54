// The leader's decision on a reconfig request, case by case as ZooKeeper 3.8.0/3.9.5 answered the
// same requests on live ensembles (docs/RECONFIG.md §2.1, §3.1, §3.3).
import t from 'tap';
import { Err } from '../../src/protocol/constants';
import { decideReconfig, type ReconfigContext, type ReconfigRequestFields } from '../../src/quorum/reconfigrequest';
import { HierarchicalVerifier, parseQuorumVerifier, type QuorumVerifier } from '../../src/quorum/verifier';

const THREE = parseQuorumVerifier(
  [
    'server.1=127.0.0.1:46201:46301:participant;127.0.0.1:46101',
    'server.2=127.0.0.1:46202:46302:participant;127.0.0.1:46102',
    'server.3=127.0.0.1:46203:46303:participant;127.0.0.1:46103',
    'version=100000000',
  ].join('\n'),
);

function ctx(over: Partial<ReconfigContext> = {}): ReconfigContext {
  return { lastSeen: THREE, committed: THREE, standaloneEnabled: true, multiAddressEnabled: false, synced: new Set([1n, 2n, 3n]), zxid: 0x100000008n, ...over };
}

function req(over: Partial<ReconfigRequestFields>): ReconfigRequestFields {
  return { joiningServers: null, leavingServers: null, newMembers: null, curConfigId: -1n, ...over };
}

function next(r: ReturnType<typeof decideReconfig>): QuorumVerifier {
  if (!r.ok) throw new Error(`refused: ${r.err} ${r.reason}`);
  return r.next;
}

t.test('adding a server: the config string in ZooKeeper order (a copied map of 8 buckets: 9 after 1), version = the zxid', async (t) => {
  const r = decideReconfig(req({ joiningServers: 'server.9=127.0.0.1:46209:46309;127.0.0.1:46109' }), ctx());
  t.equal(
    next(r).toString(),
    [
      'server.1=127.0.0.1:46201:46301:participant;127.0.0.1:46101',
      'server.9=127.0.0.1:46209:46309:participant;127.0.0.1:46109',
      'server.2=127.0.0.1:46202:46302:participant;127.0.0.1:46102',
      'server.3=127.0.0.1:46203:46303:participant;127.0.0.1:46103',
      'version=100000008',
    ].join('\n'),
  );
  // Four voters, three synced: a quorum of the new configuration.
  t.equal(next(r).votingMembers.size, 4);
});

t.test('an observer joins; a follower turns observer and back (a joiner replaces its id)', async (t) => {
  const obs = next(decideReconfig(req({ joiningServers: 'server.5=127.0.0.1:46205:46305:observer;127.0.0.1:46105' }), ctx()));
  t.same([...obs.observingMembers], [5n]);
  t.equal(obs.votingMembers.size, 3);
  const two = next(decideReconfig(req({ joiningServers: 'server.2=127.0.0.1:46202:46302:observer;127.0.0.1:46102' }), ctx()));
  t.same([...two.observingMembers], [2n]);
  t.match(two.toString(), /server\.2=127\.0\.0\.1:46202:46302:observer;127\.0\.0\.1:46102\n/);
  const back = next(decideReconfig(req({ joiningServers: 'server.2=127.0.0.1:46202:46302:participant;127.0.0.1:46102' }), ctx({ lastSeen: two, committed: two, zxid: 0x100000009n })));
  t.equal(back.votingMembers.size, 3);
});

t.test('removing: a follower, the leader, unknown ids; too few voters is BADARGUMENTS', async (t) => {
  t.same([...next(decideReconfig(req({ leavingServers: '3' }), ctx())).votingMembers].sort(), [1n, 2n]);
  t.equal(next(decideReconfig(req({ leavingServers: ' 7 , ' }), ctx())).votingMembers.size, 3, 'an unknown id is ignored');
  const one = decideReconfig(req({ leavingServers: '1,2' }), ctx());
  t.same(one.ok ? undefined : [one.err, one.reason], [Err.BADARGUMENTS, 'Reconfig failed - new configuration must include at least 2 followers']);
  const none = decideReconfig(req({ leavingServers: '1,2,3' }), ctx({ standaloneEnabled: false }));
  t.same(none.ok ? undefined : [none.err, none.reason], [Err.BADARGUMENTS, 'Reconfig failed - new configuration must include at least 1 follower']);
  t.ok(decideReconfig(req({ leavingServers: '1,2' }), ctx({ standaloneEnabled: false })).ok, 'one voter with standaloneEnabled=false');
});

t.test('bad joiners are BADARGUMENTS; an id Java cannot parse is MARSHALLINGERROR', async (t) => {
  const code = (r: ReturnType<typeof decideReconfig>): number => (r.ok ? 0 : r.err);
  t.equal(code(decideReconfig(req({ joiningServers: 'server.6=127.0.0.1:46206:46306' }), ctx())), Err.BADARGUMENTS, 'no client part');
  t.equal(code(decideReconfig(req({ joiningServers: 'server.6=127.0.0.1:46206;127.0.0.1:46106' }), ctx())), Err.BADARGUMENTS, 'a missing port');
  t.equal(code(decideReconfig(req({ joiningServers: 'server.6=127.0.0.1:46206:46206;127.0.0.1:46106' }), ctx())), Err.BADARGUMENTS, 'quorum port = election port');
  t.equal(code(decideReconfig(req({ joiningServers: 'server.6' }), ctx())), Err.BADARGUMENTS, 'no "="');
  t.equal(code(decideReconfig(req({ joiningServers: 'server.x=127.0.0.1:46206:46306;46106' }), ctx())), Err.MARSHALLINGERROR);
  t.equal(code(decideReconfig(req({ leavingServers: 'two' }), ctx())), Err.MARSHALLINGERROR);
  // Java leaves loopback addresses out of its clash check; other addresses clash.
  t.ok(decideReconfig(req({ joiningServers: 'server.9=127.0.0.1:46201:46309;127.0.0.1:46109' }), ctx()).ok, 'loopback ports may repeat');
  const hosts = parseQuorumVerifier('server.1=10.0.0.1:2888:3888;2181\nserver.2=10.0.0.2:2888:3888;2181\nserver.3=10.0.0.3:2888:3888;2181\nversion=1');
  t.equal(code(decideReconfig(req({ joiningServers: 'server.4=10.0.0.1:2888:3889;2182' }), ctx({ lastSeen: hosts, committed: hosts }))), Err.BADARGUMENTS);
});

t.test('versions: a pending reconfig is RECONFIGINPROGRESS, a stale curConfigId BADVERSION', async (t) => {
  const pending = next(decideReconfig(req({ leavingServers: '3' }), ctx()));
  const r1 = decideReconfig(req({ leavingServers: '2' }), ctx({ lastSeen: pending }));
  t.equal(r1.ok ? 0 : r1.err, Err.RECONFIGINPROGRESS);
  const r2 = decideReconfig(req({ leavingServers: '3', curConfigId: 0x100000001n }), ctx());
  t.equal(r2.ok ? 0 : r2.err, Err.BADVERSION);
  t.ok(decideReconfig(req({ leavingServers: '3', curConfigId: 0x100000000n }), ctx()).ok, 'the current version is taken');
});

t.test('a quorum of the new configuration must be synced: 6 voters with 3 synced is NEWCONFIGNOQUORUM, 5 is not', async (t) => {
  const add = (ids: number[]) => ids.map((i) => `server.${i}=127.0.0.1:462${i}0:463${i}0;127.0.0.1:461${i}0`).join(',');
  const six = decideReconfig(req({ joiningServers: add([4, 5, 6]) }), ctx());
  t.equal(six.ok ? 0 : six.err, Err.NEWCONFIGNOQUORUM);
  t.ok(decideReconfig(req({ joiningServers: add([4, 5]) }), ctx()).ok);
  // Only voters of the new configuration count: removing two synced followers leaves no quorum.
  const r = decideReconfig(req({ joiningServers: add([4, 5]), leavingServers: '2' }), ctx({ synced: new Set([1n, 2n]) }));
  t.equal(r.ok ? 0 : r.err, Err.NEWCONFIGNOQUORUM);
});

t.test('non-incremental: the new member list, commas for newlines; omitted members leave', async (t) => {
  const r = decideReconfig(
    req({ newMembers: 'server.1=127.0.0.1:46201:46301:participant;127.0.0.1:46101,server.2=127.0.0.1:46202:46302:participant;127.0.0.1:46102,server.4=127.0.0.1:46204:46304:participant' }),
    ctx(),
  );
  const n = next(r);
  t.same([...n.votingMembers].sort(), [1n, 2n, 4n]);
  t.equal(n.version, 0x100000008n);
  t.match(n.toString(), /server\.4=127\.0\.0\.1:46204:46304:participant\n/, 'no client part when none was given');
  const bad = decideReconfig(req({ newMembers: 'server.1=127.0.0.1:46201:46301;46101,bogus=1' }), ctx());
  t.equal(bad.ok ? 0 : bad.err, Err.BADARGUMENTS, 'an unknown key');
  const observersOnly = decideReconfig(req({ newMembers: 'server.4=127.0.0.1:46204:46304:observer;46104' }), ctx());
  t.equal(observersOnly.ok ? 0 : observersOnly.err, Err.MARSHALLINGERROR, 'observers without participants');
});

t.test('incremental changes need a majority configuration', async (t) => {
  const h = parseQuorumVerifier('server.1=127.0.0.1:46201:46301;46101\nserver.2=127.0.0.1:46202:46302;46102\nserver.3=127.0.0.1:46203:46303;46103\ngroup.1=1:2:3\nversion=1');
  t.ok(h instanceof HierarchicalVerifier);
  const r = decideReconfig(req({ leavingServers: '3' }), ctx({ lastSeen: h, committed: h }));
  t.equal(r.ok ? 0 : r.err, Err.BADARGUMENTS);
});
