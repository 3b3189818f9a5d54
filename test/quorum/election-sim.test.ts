// A seeded simulation of FastLeaderElection: 3 or 5 voters (sometimes an observer) on a network
// that loses, delays, duplicates and reorders notifications, with crashes and restarts (a restarted
// server is a new Election: round 0, then 1). After a chaotic phase the network becomes reliable
// and nobody crashes; then every live server must decide, all on one leader, which must hold the
// best (peerEpoch, zxid, sid) among a quorum of voters.
//
// Above election sits a small stand-in for Zab's discovery, enough to end what election alone
// cannot end: a leader that gathers no quorum of followers within initLimit searches again, a
// follower whose leader is not leading searches again, and an established leader's followers take
// its new epoch (updateElectionVote) and, as writes commit, its zxids.
//
// ZKTS_SIM_SEED=N replays one seed (printing its trace); ZKTS_SIM_SEEDS=N sets how many run.
import t from 'tap';
import { Election, ElectionReady } from '../../src/quorum/election';
import { MajorityVerifier, QuorumMember, QuorumVerifier } from '../../src/quorum/verifier';
import { Notification, PeerState } from '../../src/quorum/vote';
import { fmtNotification } from './election-harness';
import { EventQueue } from './stacksim/events';

const STATE_NAMES = ['LOOKING', 'FOLLOWING', 'LEADING', 'OBSERVING'];

// ---------------------------------------------------------------------------------------------
// Deterministic randomness (mulberry32)

class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let z = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

// ---------------------------------------------------------------------------------------------
// The simulated servers

const ATTACH_TIMEOUT_MS = 2_000; // a follower gives up on a leader that is not leading
const ESTABLISH_TIMEOUT_MS = 4_000; // initLimit: a leader without a quorum of followers gives up
const QUORUM_LOSS_TIMEOUT_MS = 2_000; // syncLimit: an established leader that lost its quorum
const RELIABLE_PHASE_MAX_MS = 600_000; // plenty: the notification timeout tops out at 60 s
const EVENTS_MAX = 400_000;

interface Credentials {
  currentEpoch: bigint;
  zxid: bigint;
}

interface Server {
  sid: bigint;
  type: 'participant' | 'observer';
  election: Election | undefined; // undefined while crashed
  persisted: Credentials;
  decided: { state: PeerState; leader: bigint; atMs: number; via: string; credentials: Credentials } | undefined;
  /** Leader: established with a quorum. Learner: synced with its established leader. */
  synced: boolean;
  /** The leader incarnation a learner synced with. */
  syncedWith: Election | undefined;
  detachedSinceMs: number | undefined;
  quorumLostSinceMs: number | undefined;
  epochOfLeadership: bigint;
}

function moreRecent(a: Credentials, b: Credentials): boolean {
  return a.currentEpoch > b.currentEpoch || (a.currentEpoch === b.currentEpoch && a.zxid > b.zxid);
}

/** (peerEpoch, zxid, sid) order, as election compares votes. */
function credentialsAtMost(a: Credentials, aSid: bigint, b: Credentials, bSid: bigint): boolean {
  if (a.currentEpoch !== b.currentEpoch) return a.currentEpoch < b.currentEpoch;
  if (a.zxid !== b.zxid) return a.zxid < b.zxid;
  return aSid <= bSid;
}

interface SimResult {
  ok: boolean;
  failure?: string;
  trace: string[];
  events: number;
  leader?: bigint;
  digest: string;
}

function member(sid: bigint, type: 'participant' | 'observer'): QuorumMember {
  return { sid, host: '127.0.0.1', quorumPort: 2000 + Number(sid), electionPort: 3000 + Number(sid), type };
}

export function simulate(seed: number, keepTrace: boolean): SimResult {
  const rng = new Rng(seed);
  const voterCount = rng.chance(0.5) ? 3 : 5;
  const withObserver = rng.chance(0.3);
  const members: QuorumMember[] = [];
  for (let i = 1; i <= voterCount; i++) members.push(member(BigInt(i), 'participant'));
  if (withObserver) members.push(member(BigInt(voterCount + 1), 'observer'));
  const verifier: QuorumVerifier = new MajorityVerifier(members, 0n);

  // Histories: epochs 0..3, zxids within them.
  const servers = new Map<bigint, Server>();
  for (const m of members) {
    const currentEpoch = BigInt(rng.int(0, 3));
    const zxidEpoch = currentEpoch === 0n ? 0n : BigInt(rng.int(Math.max(0, Number(currentEpoch) - 1), Number(currentEpoch)));
    const zxid = (zxidEpoch << 32n) + BigInt(zxidEpoch === 0n ? 0 : rng.int(0, 6));
    servers.set(m.sid, {
      sid: m.sid,
      type: m.type,
      election: undefined,
      persisted: { currentEpoch, zxid },
      decided: undefined,
      synced: false,
      syncedWith: undefined,
      detachedSinceMs: undefined,
      quorumLostSinceMs: undefined,
      epochOfLeadership: -1n,
    });
  }

  const lossP = rng.chance(0.2) ? 0 : rng.next() * 0.5;
  const dupP = rng.next() * 0.1;
  const maxDelayMs = rng.int(2, 400);
  const chaosEndMs = rng.int(0, 15_000);
  const minIntervalMs = 200;
  const maxIntervalMs = rng.chance(0.5) ? 60_000 : rng.int(400, 5_000);

  const q = new EventQueue();
  let nowMs = 0;
  let events = 0;
  const trace: string[] = [];
  let digest = 0;
  const log = (s: string): void => {
    const line = `${nowMs}ms ${s}`;
    for (let i = 0; i < line.length; i++) digest = (Math.imul(digest, 31) + line.charCodeAt(i)) | 0;
    if (keepTrace) trace.push(line);
  };
  log(
    `seed=${seed} voters=${voterCount} observer=${withObserver} loss=${lossP.toFixed(3)} dup=${dupP.toFixed(3)} maxDelay=${maxDelayMs}ms chaosEnd=${chaosEndMs}ms maxInterval=${maxIntervalMs}ms`,
  );
  for (const s of servers.values()) log(`server ${s.sid} ${s.type} epoch=${s.persisted.currentEpoch} zxid=0x${s.persisted.zxid.toString(16)}`);

  const chaotic = (): boolean => nowMs < chaosEndMs;
  let failure: string | undefined;

  const startLooking = (s: Server): void => {
    s.decided = undefined;
    s.synced = false;
    s.detachedSinceMs = undefined;
    s.quorumLostSinceMs = undefined;
    s.election!.startLooking(nowMs, s.persisted.zxid, s.persisted.currentEpoch);
    log(`${s.sid} LOOKING round=${s.election!.round}`);
  };

  /**
   * The role ended: LOOKING at once (peers' votes are held), the search a little later, after the
   * member has put its database back (QuorumPeer.roleEnded).
   */
  const endRole = (s: Server): void => {
    const e = s.election!;
    s.decided = undefined;
    s.synced = false;
    e.endRole(nowMs);
    const delayMs = rng.int(0, 30);
    log(`${s.sid} role ended, searching in ${delayMs} ms`);
    q.push(nowMs + delayMs, () => {
      if (s.election === e) startLooking(s);
    });
  };

  const boot = (s: Server): void => {
    s.election = new Election({
      mySid: s.sid,
      verifier,
      learnerType: s.type,
      minNotificationIntervalMs: minIntervalMs,
      maxNotificationIntervalMs: maxIntervalMs,
    });
    startLooking(s);
  };

  const crash = (s: Server): void => {
    if (s.election === undefined) return;
    log(`${s.sid} crash`);
    s.election = undefined;
    s.decided = undefined;
    s.synced = false;
  };

  const deliver = (to: Server, election: Election, n: Notification): void => {
    if (to.election !== election) return; // crashed (and maybe restarted) since it was sent
    election.step(nowMs, n);
  };

  const drain = (): void => {
    // Ready of every server, until loopback settles.
    for (let round = 0; round < 10_000; round++) {
      let any = false;
      for (const s of servers.values()) {
        const e = s.election;
        if (e === undefined || !e.hasReady()) continue;
        any = true;
        const rd: ElectionReady = e.ready();
        e.advance();
        if (rd.decided !== undefined) {
          s.decided = { state: rd.decided.state, leader: rd.decided.vote.leader, atMs: nowMs, via: rd.decided.via, credentials: s.persisted };
          log(`${s.sid} decided ${STATE_NAMES[rd.decided.state]} leader=${rd.decided.vote.leader} round=${rd.decided.electionEpoch} via=${rd.decided.via}`);
        }
        for (const out of rd.send) {
          if (out.to === s.sid) {
            e.step(nowMs, out.n); // loopback
            continue;
          }
          const to = servers.get(out.to);
          if (to === undefined) continue;
          if (chaotic() && rng.chance(lossP)) continue;
          const copies = chaotic() && rng.chance(dupP) ? 2 : 1;
          for (let c = 0; c < copies; c++) {
            const delayMs = chaotic() ? rng.int(1, maxDelayMs) : rng.int(1, 10);
            const target = to.election;
            if (target === undefined) continue;
            const n = out.n;
            q.push(nowMs + delayMs, () => {
              if (keepTrace) log(`${s.sid}->${to.sid} ${fmtNotification(n)}`);
              deliver(to, target, n);
            });
          }
        }
      }
      if (!any) return;
    }
    throw new Error('ready did not settle');
  };

  /** The Zab stand-in: attach, establish, give up. Returns its next deadline. */
  const supervise = (): number | undefined => {
    let next: number | undefined;
    const wakeAt = (ms: number): void => {
      next = next === undefined ? ms : Math.min(next, ms);
    };
    for (const s of servers.values()) {
      if (s.election === undefined || s.decided === undefined) continue;
      if (s.decided.state === PeerState.LEADING) {
        const followers = [...servers.values()].filter(
          (f) =>
            f.election !== undefined &&
            f.type === 'participant' &&
            f.decided?.state === PeerState.FOLLOWING &&
            f.decided.leader === s.sid,
        );
        if (!s.synced) {
          // Discovery: a quorum of followers not ahead of the leader (Zab refuses those).
          const electing = followers.filter((f) => !moreRecent(f.persisted, s.persisted));
          const quorum = [s.sid, ...electing.map((f) => f.sid)];
          if (verifier.containsQuorum(quorum)) {
            checkLeaderQuality(s);
            const newEpoch =
              [s, ...electing].reduce((m, f) => (f.persisted.currentEpoch > m ? f.persisted.currentEpoch : m), 0n) + 1n;
            s.synced = true;
            s.epochOfLeadership = newEpoch;
            s.persisted = { currentEpoch: newEpoch, zxid: s.persisted.zxid };
            s.election.setSettledState(PeerState.LEADING, { leader: s.sid, zxid: s.persisted.zxid, peerEpoch: newEpoch });
            log(`${s.sid} established epoch=${newEpoch} with ${quorum.join(',')}`);
          } else if (nowMs - s.decided.atMs >= ESTABLISH_TIMEOUT_MS) {
            log(`${s.sid} no quorum of followers`);
            endRole(s);
            continue;
          } else {
            wakeAt(s.decided.atMs + ESTABLISH_TIMEOUT_MS);
          }
        } else {
          const synced = followers.filter((f) => f.synced);
          if (!verifier.containsQuorum([s.sid, ...synced.map((f) => f.sid)])) {
            s.quorumLostSinceMs ??= nowMs;
            if (nowMs - s.quorumLostSinceMs >= QUORUM_LOSS_TIMEOUT_MS) {
              log(`${s.sid} lost its quorum`);
              endRole(s);
              continue;
            }
            wakeAt(s.quorumLostSinceMs + QUORUM_LOSS_TIMEOUT_MS);
          } else {
            s.quorumLostSinceMs = undefined;
          }
        }
      }
    }
    for (const s of servers.values()) {
      if (s.election === undefined || s.decided === undefined || s.decided.state === PeerState.LEADING) continue;
      const leader = servers.get(s.decided.leader);
      const leading = leader?.election !== undefined && leader.decided?.state === PeerState.LEADING;
      if (s.synced && (!leading || leader!.election !== s.syncedWith)) {
        // The connection to the leader broke (it crashed or stopped leading): search at once.
        log(`${s.sid} lost its leader ${s.decided.leader}`);
        endRole(s);
        continue;
      }
      if (!leading) {
        s.synced = false;
        s.detachedSinceMs ??= nowMs;
        if (nowMs - s.detachedSinceMs >= ATTACH_TIMEOUT_MS) {
          log(`${s.sid} gives up on ${s.decided.leader}`);
          endRole(s);
          continue;
        }
        wakeAt(s.detachedSinceMs + ATTACH_TIMEOUT_MS);
        continue;
      }
      s.detachedSinceMs = undefined;
      if (leader!.synced && !s.synced) {
        // Sync: the learner takes the leader's history and epoch (DIFF/TRUNC/SNAP alike here).
        s.synced = true;
        s.syncedWith = leader!.election;
        s.persisted = { currentEpoch: leader!.persisted.currentEpoch, zxid: leader!.persisted.zxid };
        s.election.setSettledState(s.decided.state, { leader: leader!.sid, zxid: s.persisted.zxid, peerEpoch: s.persisted.currentEpoch });
        log(`${s.sid} synced with ${leader!.sid}`);
      }
    }
    return next;
  };

  /**
   * The established leader's history (currentEpoch, zxid) is at least that of a quorum of voters;
   * when it won a search (not by joining FOLLOWING/LEADING reports), its whole vote, sid included,
   * is the best of a quorum.
   */
  const checkLeaderQuality = (leader: Server): void => {
    const bySid = leader.decided!.via === 'looking';
    const atMost = [...servers.values()]
      .filter((v) => v.type === 'participant')
      .filter((v) =>
        bySid ? credentialsAtMost(v.persisted, v.sid, leader.persisted, leader.sid) : !moreRecent(v.persisted, leader.persisted),
      )
      .map((v) => v.sid);
    if (!verifier.containsQuorum(atMost)) {
      failure ??=
        `leader ${leader.sid} (epoch ${leader.persisted.currentEpoch}, zxid 0x${leader.persisted.zxid.toString(16)}, ` +
        `via ${leader.decided!.via}) is not the best of any quorum`;
    }
  };

  // Chaos: crashes and restarts before chaosEndMs; every crashed server is back by then.
  const crashes = chaosEndMs === 0 ? 0 : rng.int(0, 4);
  for (let i = 0; i < crashes; i++) {
    const s = servers.get(BigInt(rng.int(1, members.length)))!;
    const at = rng.int(0, chaosEndMs);
    const back = Math.min(chaosEndMs, at + rng.int(0, 5_000));
    q.push(at, () => crash(s));
    q.push(back, () => {
      if (s.election === undefined) boot(s);
    });
  }
  // Writes whenever a leader is established: its zxid grows, each synced learner follows or lags.
  const writes = rng.int(0, 20);
  for (let i = 0; i < writes; i++) {
    q.push(rng.int(0, chaosEndMs + 20_000), () => {
      const leader = [...servers.values()].find((s) => s.election !== undefined && s.decided?.state === PeerState.LEADING && s.synced);
      if (leader === undefined) return;
      const epoch = leader.epochOfLeadership;
      const z = leader.persisted.zxid;
      leader.persisted = { ...leader.persisted, zxid: z >> 32n === epoch ? z + 1n : (epoch << 32n) + 1n };
      for (const f of servers.values()) {
        if (f !== leader && f.synced && f.decided?.leader === leader.sid && rng.chance(0.8)) {
          f.persisted = { ...f.persisted, zxid: leader.persisted.zxid };
        }
      }
      log(`write 0x${leader.persisted.zxid.toString(16)} at ${leader.sid}`);
    });
  }
  // Start: everyone boots within the first second, unless already down by a scheduled crash.
  for (const s of servers.values()) {
    q.push(rng.int(0, 1_000), () => {
      if (s.election === undefined) boot(s);
    });
  }
  q.push(chaosEndMs, () => {
    log('the network is reliable from now on');
    for (const s of servers.values()) if (s.election === undefined) boot(s);
  });

  const stable = (): bigint | undefined => {
    if (nowMs < chaosEndMs) return undefined;
    let leader: bigint | undefined;
    for (const s of servers.values()) {
      if (s.election === undefined || s.decided === undefined || !s.synced) return undefined;
      if (s.decided.state === PeerState.LEADING) {
        if (leader !== undefined) return undefined;
        leader = s.sid;
      }
    }
    if (leader === undefined) return undefined;
    for (const s of servers.values()) {
      if (s.decided!.leader !== leader) return undefined;
      const want = s.sid === leader ? PeerState.LEADING : s.type === 'participant' ? PeerState.FOLLOWING : PeerState.OBSERVING;
      if (s.decided!.state !== want) return undefined;
    }
    return leader;
  };

  let supervisorWakeMs: number | undefined;
  for (;;) {
    if (failure !== undefined) break;
    if (++events > EVENTS_MAX) {
      failure = `no end after ${EVENTS_MAX} events`;
      break;
    }
    // The next thing to happen: a queued event, an election timer, or the supervisor's deadline.
    let nextMs = q.peekMs();
    for (const s of servers.values()) {
      const w = s.election?.nextWakeMs();
      if (w !== undefined && (nextMs === undefined || w < nextMs)) nextMs = w;
    }
    if (supervisorWakeMs !== undefined && (nextMs === undefined || supervisorWakeMs < nextMs)) nextMs = supervisorWakeMs;
    if (nextMs === undefined) {
      failure = 'nothing left to happen';
      break;
    }
    if (nextMs > chaosEndMs + RELIABLE_PHASE_MAX_MS) {
      failure = `no stable leader ${RELIABLE_PHASE_MAX_MS} ms after the network became reliable`;
      break;
    }
    nowMs = Math.max(nowMs, nextMs);
    if (q.peekMs() !== undefined && q.peekMs()! <= nowMs) q.pop()!.run();
    for (const s of servers.values()) {
      const w = s.election?.nextWakeMs();
      if (w !== undefined && w <= nowMs) s.election!.tick(nowMs);
    }
    try {
      drain();
      supervisorWakeMs = supervise();
      drain();
    } catch (e) {
      failure = `exception: ${(e as Error).stack ?? e}`;
      break;
    }
    const leader = stable();
    if (leader !== undefined) {
      log(`stable: leader ${leader}`);
      return { ok: true, trace, events, leader, digest: digest.toString(16) };
    }
  }
  log(`FAILED: ${failure}`);
  return { ok: false, failure, trace, events, digest: digest.toString(16) };
}

// ---------------------------------------------------------------------------------------------

const oneSeed = process.env.ZKTS_SIM_SEED;
if (oneSeed !== undefined) {
  t.test(`seed=${oneSeed}`, async (t) => {
    const r = simulate(Number(oneSeed), true);
    t.comment(r.trace.join('\n'));
    t.ok(r.ok, r.failure ?? `stable, leader ${r.leader}`);
  });
} else {
  const seeds = Number(process.env.ZKTS_SIM_SEEDS ?? 5000);
  t.test(`${seeds} seeds`, async (t) => {
    const started = Date.now();
    const leaders = new Map<string, number>();
    let failed = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      const r = simulate(seed, false);
      if (!r.ok) {
        failed++;
        if (failed <= 5) t.fail(`seed=${seed}: ${r.failure} (replay: ZKTS_SIM_SEED=${seed})`);
        continue;
      }
      leaders.set(String(r.leader), (leaders.get(String(r.leader)) ?? 0) + 1);
    }
    t.equal(failed, 0, `every seed ends with one stable leader (${Date.now() - started} ms)`);
    // The seeds do explore: different servers end up leading.
    t.ok(leaders.size >= 3, `leaders seen: ${[...leaders].map(([l, n]) => `${l}:${n}`).join(' ')}`);
  });

  t.test('a seed replays exactly', async (t) => {
    for (const seed of [7, 1234]) {
      const a = simulate(seed, true);
      const b = simulate(seed, true);
      t.equal(a.digest, b.digest, `seed=${seed}: same digest`);
      t.same(a.trace, b.trace, `seed=${seed}: same trace`);
      t.ok(a.trace.length > 10, 'the trace says something');
    }
  });
}
