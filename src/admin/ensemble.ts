/**
 * An ensemble member's admin views, as ZooKeeper 3.8 answers them on a leader, a follower and an
 * observer (captured from a live 3.8.0 ensemble): the leader, voting_view, zabstate and observers
 * commands, the quorum part of conf, and srvr's proposal sizes. Each takes the member's
 * QuorumStatus; a standalone server has none and keeps the standalone answers in commands.ts.
 */
import type { ServerConfig } from '../server/config';
import type { LearnerHandlerStatus, QuorumStatus } from '../server/server';
import type { QuorumMember } from '../quorum/verifier';
import type { Data } from './json';

function hostPort(host: string, port: number): string {
  // Jackson writes an InetSocketAddress as its host string, an IPv6 literal in brackets.
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The client address ZooKeeper knows for a member: its own from zoo.cfg, others' from `;port` server lines. */
function clientAddress(q: QuorumStatus, m: QuorumMember, config: ServerConfig, clientPort: number): string {
  if (m.clientAddress) return hostPort(m.clientAddress.host, m.clientAddress.port);
  if (m.sid === q.mySid) return hostPort(config.clientPortAddress ?? '0.0.0.0', clientPort);
  return '';
}

/** `leader`: whether this member leads, and which one does. */
export function leaderView(q: QuorumStatus): Data {
  const leader = q.leaderSid === undefined ? undefined : q.verifier.members.get(q.leaderSid);
  return {
    is_leader: q.leaderSid !== undefined && q.leaderSid === q.mySid,
    leader_id: q.leaderSid ?? -1n,
    leader_ip: leader?.host ?? '',
  };
}

/** `voting_view`: the voting members by sid, with their addresses as ZooKeeper prints them. */
export function votingView(q: QuorumStatus, config: ServerConfig, clientPort: number): Data {
  const current: Data = {};
  const voters = [...q.verifier.votingMembers].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const sid of voters) {
    const m = q.verifier.members.get(sid);
    if (!m) continue;
    const triples = m.addresses ?? [{ host: m.host, quorumPort: m.quorumPort, electionPort: m.electionPort }];
    current[sid.toString()] = {
      server_addresses: triples.map((a) => hostPort(a.host, a.quorumPort)),
      election_addresses: triples.map((a) => hostPort(a.host, a.electionPort)),
      client_address: clientAddress(q, m, config, clientPort),
      learner_type: m.type,
    };
  }
  return { current_config: current };
}

/** Jackson's view of ZooKeeper's MultipleAddresses for one member's quorum or election port. */
function multipleAddresses(hosts: readonly string[], port: number): Data {
  const all = hosts.map((h) => hostPort(h, port));
  return {
    empty: all.length === 0,
    all_addresses: all,
    all_reachable_addresses: all,
    one: all[0] ?? '',
    reachable_address: all[0] ?? '',
    wildcard_addresses: hosts.map(() => hostPort('0.0.0.0', port)),
    all_ports: hosts.map(() => port),
    all_host_strings: [...hosts],
    all_reachable_addresses_or_all: all,
    reachable_or_one: all[0] ?? '',
  };
}

/** `zabstate`: this member's addresses, whether it votes, its last zxid and its ZabState. */
export function zabStateView(q: QuorumStatus, config: ServerConfig, clientPort: number, lastZxid: bigint): Data {
  const me = q.verifier.members.get(q.mySid);
  const hosts = me ? (me.addresses ?? [{ host: me.host }]).map((a) => a.host) : [];
  const z = BigInt.asUintN(64, lastZxid);
  return {
    myid: q.mySid,
    is_leader: q.leaderSid !== undefined && q.leaderSid === q.mySid,
    quorum_address: multipleAddresses(hosts, me?.quorumPort ?? 0),
    election_address: multipleAddresses(hosts, me?.electionPort ?? 0),
    client_address: me ? clientAddress(q, me, config, clientPort) : '',
    voting: q.verifier.votingMembers.has(q.mySid),
    last_zxid: '0x' + z.toString(16),
    zab_epoch: Number(z >> 32n),
    zab_counter: Number(z & 0xffffffffn),
    zabstate: q.zabState,
  };
}

function handlerJson(h: LearnerHandlerStatus): Data {
  return {
    remote_socket_address: h.remoteAddress,
    sid: h.sid,
    established: h.establishedAtMs,
    // zkts writes a learner's packets to its socket at once: what waits is the kernel's backlog.
    queued_packets: 0,
    queued_packets_size: h.queuedBytes,
    packets_received: h.packetsReceived,
    packets_sent: h.packetsSent,
    requests: h.requests,
    last_zxid: BigInt.asIntN(64, h.lastZxid),
  };
}

/** `observers`: on the leader, its observers' connections; elsewhere none. */
export function observersView(q: QuorumStatus | undefined): Data {
  const handlers = q?.leader?.handlers.filter((h) => h.learnerType === 'observer') ?? [];
  return { synced_observers: q?.leader?.syncedObservers ?? 0, observers: handlers.map(handlerJson) };
}

/**
 * conf's lines after serverId on an ensemble member (QuorumZooKeeperServer's part of dumpConf): the
 * membership ends the reply with the committed config string as is, without a final newline.
 */
export function confQuorumText(q: QuorumStatus, config: ServerConfig): string {
  const me = q.self ?? q.verifier.members.get(q.mySid);
  return (
    `initLimit=${config.initLimitTicks}\n` +
    `syncLimit=${config.syncLimitTicks}\n` +
    `electionAlg=3\n` +
    `electionPort=${me?.electionPort ?? 0}\n` +
    `quorumPort=${me?.quorumPort ?? 0}\n` +
    `peerType=${me?.type === 'observer' ? 1 : 0}\n` +
    `membership: \n${q.verifier.toString()}`
  );
}

/** The leader's proposal sizes, as srvr's line and server_stats' proposal_stats show them. */
export function proposalSizes(q: QuorumStatus | undefined): { last: number; min: number; max: number } | undefined {
  const l = q?.leader;
  return l ? { last: l.lastProposalSize, min: l.minProposalSize, max: l.maxProposalSize } : undefined;
}

/** One member in the console's ensemble table. */
export interface MemberRow {
  sid: string;
  learnerType: string;
  address: string;
  /** leader, follower, observer, looking; "not connected" on a leader for a member without a link; "unknown" on a learner for the others. */
  role: string;
  /** Its last zxid as this member knows it (hex), or null when this member cannot know it. */
  zxid: string | null;
  /** Committed txns of this epoch it does not have yet, or null when not comparable. */
  lagTxns: number | null;
  synced: boolean | null;
}

/**
 * The ensemble as this member sees it. The leader knows every learner's position (what a follower
 * acknowledged, what an observer was sent); a learner knows itself and who leads.
 */
export function ensembleRows(q: QuorumStatus, serverState: string, lastZxid: bigint): MemberRow[] {
  const hex = (z: bigint) => '0x' + BigInt.asUintN(64, z).toString(16);
  const handlers = new Map((q.leader?.handlers ?? []).map((h) => [h.sid, h]));
  const rows: MemberRow[] = [];
  const sids = [...q.verifier.members.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const sid of sids) {
    const m = q.verifier.members.get(sid)!;
    const row: MemberRow = { sid: sid.toString(), learnerType: m.type, address: `${m.host}:${m.quorumPort}:${m.electionPort}`, role: 'unknown', zxid: null, lagTxns: null, synced: null };
    if (sid === q.mySid) {
      row.role = serverState;
      row.zxid = hex(lastZxid);
      if (q.leader) row.lagTxns = 0;
    } else if (q.leader) {
      const h = handlers.get(sid);
      if (h === undefined) row.role = 'not connected';
      else {
        row.role = h.learnerType === 'observer' ? 'observer' : 'follower';
        // A follower has what it acknowledged; an observer acknowledges nothing after its sync and
        // has what it was sent.
        const at = h.learnerType === 'observer' || h.lastAckedZxid < 0n ? h.sentZxid : h.lastAckedZxid;
        row.synced = h.synced;
        if (at >= 0n) {
          row.zxid = hex(at);
          if (at >> 32n === lastZxid >> 32n) row.lagTxns = Math.max(0, Number((lastZxid & 0xffffffffn) - (at & 0xffffffffn)));
        }
      }
    } else if (sid === q.leaderSid) row.role = 'leader';
    rows.push(row);
  }
  return rows;
}
