// Text forms of quorum packets and Readys for the Zab transcripts and simulation failures.
import { epochOf, counterOf } from '../../src/storage/zxid';
import type { Ready, Send } from '../../src/quorum/ready';
import { PacketType, type QuorumPacket } from '../../src/quorum/wire/packets';
import { decodeInt, decodeLearnerInfo, decodeRequest, decodeTouchTable, reconfigTxnConfig } from '../../src/quorum/zabpayloads';
import { parseQuorumVerifier } from '../../src/quorum/verifier';

const NAMES: Record<number, string> = {
  1: 'REQUEST', 2: 'PROPOSAL', 3: 'ACK', 4: 'COMMIT', 5: 'PING', 6: 'REVALIDATE', 7: 'SYNC', 8: 'INFORM',
  9: 'COMMITANDACTIVATE', 10: 'NEWLEADER', 11: 'FOLLOWERINFO', 12: 'UPTODATE', 13: 'DIFF', 14: 'TRUNC',
  15: 'SNAP', 16: 'OBSERVERINFO', 17: 'LEADERINFO', 18: 'ACKEPOCH', 19: 'INFORMANDACTIVATE',
};

export const TYPE_BY_NAME: Record<string, number> = Object.fromEntries(Object.entries(NAMES).map(([k, v]) => [v, Number(k)]));

export function hex(zxid: bigint): string {
  return zxid < 0n ? String(zxid) : '0x' + zxid.toString(16);
}

/** Test txns carry "epoch:counter" (or a given text) as their bytes. */
export function txnText(zxid: bigint): string {
  return `${epochOf(zxid)}:${counterOf(zxid)}`;
}

/**
 * A txn's bytes: a reconfig txn as its configuration (version, voters, observers), anything else
 * as its text (the test txns are "epoch:counter").
 */
export function txnDataText(data: Buffer | null): string {
  const config = reconfigTxnConfig(data);
  if (config === undefined) return `"${data?.toString('latin1') ?? ''}"`;
  try {
    return `reconfig(${configText(parseQuorumVerifier(config))})`;
  } catch {
    return `reconfig(unparsable "${config.replace(/\n/g, '|')}")`;
  }
}

/** A configuration in short: version, voters, observers. */
export function configText(qv: { version: bigint; votingMembers: ReadonlySet<bigint>; observingMembers: ReadonlySet<bigint> }): string {
  const ids = (s: ReadonlySet<bigint>) => [...s].sort((a, b) => Number(a - b)).join(',');
  return `version=${qv.version.toString(16)} voters=${ids(qv.votingMembers)}${qv.observingMembers.size > 0 ? ` observers=${ids(qv.observingMembers)}` : ''}`;
}

export function packetText(p: QuorumPacket): string {
  const name = NAMES[p.type] ?? `type${p.type}`;
  let extra = '';
  switch (p.type) {
    case PacketType.FOLLOWERINFO:
    case PacketType.OBSERVERINFO: {
      const li = decodeLearnerInfo(p.data);
      extra = li ? ` sid=${li.sid} proto=0x${li.protocolVersion.toString(16)} cfg=${li.configVersion}` : ' bad-info';
      break;
    }
    case PacketType.LEADERINFO:
    case PacketType.ACKEPOCH:
      extra = ` int=${decodeInt(p.data)}`;
      break;
    case PacketType.PROPOSAL:
    case PacketType.INFORM:
      extra = ` ${txnDataText(p.data)}`;
      break;
    case PacketType.COMMITANDACTIVATE:
      extra = p.data !== null && p.data.length === 8 ? ` designated=s${p.data.readBigInt64BE(0)}` : ` data=${p.data?.length ?? -1}B`;
      break;
    case PacketType.INFORMANDACTIVATE:
      extra =
        p.data !== null && p.data.length > 8
          ? ` designated=s${p.data.readBigInt64BE(0)} ${txnDataText(p.data.subarray(8))}`
          : ` data=${p.data?.length ?? -1}B`;
      break;
    case PacketType.NEWLEADER:
      extra = ` cfg=${p.data?.length ?? -1}B`;
      break;
    case PacketType.PING:
      if (p.data !== null) {
        const t = decodeTouchTable(p.data) ?? [];
        extra = ` touches=[${t.map((x) => `${hex(x.sessionId)}/${x.timeoutMs}`).join(',')}]`;
      }
      break;
    case PacketType.REQUEST: {
      const r = decodeRequest(p.data);
      extra = r ? ` session=${hex(r.sessionId)} cxid=${r.cxid} op=${r.op} body="${r.body.toString('latin1')}"` : ' bad-request';
      break;
    }
  }
  return `${name} ${hex(p.zxid)}${extra}`;
}

export function sendText(s: Send, name: (conn: number) => string): string {
  switch (s.kind) {
    case 'packet':
      return `-> ${name(s.to)} ${packetText(s.packet)}`;
    case 'logRange':
      return `-> ${name(s.to)} txn log (${hex(s.afterZxid)}, ${hex(s.toZxid)}] as PROPOSAL+COMMIT`;
    case 'snapshot':
      return `-> ${name(s.to)} SNAP ${hex(s.zxid)} + snapshot`;
  }
}

/** One line per item, in the Ready's execution order. */
export function readyLines(r: Ready, name: (conn: number) => string): string[] {
  const out: string[] = [];
  if (r.truncateTo !== undefined) out.push(`truncateTo ${hex(r.truncateTo)}`);
  if (r.installSnapshot !== undefined) out.push(`installSnapshot ${hex(r.installSnapshot)}`);
  if (r.takeSnapshot !== undefined) out.push(`takeSnapshot ${hex(r.takeSnapshot)}`);
  if (r.append.length > 0) out.push(`append+fsync ${r.append.map((t) => hex(t.zxid)).join(' ')}`);
  if (r.acceptedEpoch !== undefined) out.push(`acceptedEpoch=${r.acceptedEpoch}`);
  if (r.currentEpoch !== undefined) out.push(`currentEpoch=${r.currentEpoch}`);
  if (r.dropSeenConfig) out.push('dropSeenConfig');
  if (r.seenConfig !== undefined) out.push(`seenConfig ${configText(r.seenConfig)}`);
  for (const a of r.activations) out.push(`activate ${configText(a.verifier)}${a.designatedLeader === undefined ? '' : ` designated=s${a.designatedLeader}`}`);
  if (r.commit.length > 0) out.push(`commit ${r.commit.map((t) => hex(t.zxid)).join(' ')}`);
  if (r.syncsCompleted > 0) out.push(`syncsCompleted=${r.syncsCompleted}`);
  for (const s of r.send) out.push(sendText(s, name));
  for (const c of r.close) out.push(`close ${name(c.conn)}: ${c.reason}`);
  for (const q of r.requests) out.push(`request from ${name(q.conn)} session=${hex(q.sessionId)} cxid=${q.cxid} op=${q.op} body="${q.body.toString('latin1')}"`);
  for (const t of r.touches) out.push(`touch ${hex(t.sessionId)} ${t.timeoutMs}ms`);
  for (const v of r.revalidations) out.push(`revalidate ${hex(v.sessionId)} from ${name(v.conn)}`);
  for (const v of r.revalidated) out.push(`revalidated ${hex(v.sessionId)} valid=${v.valid}`);
  if (r.state !== undefined) {
    const s = r.state;
    out.push(s.kind === 'serving' ? `state serving epoch=${s.epoch}` : `state LOOKING: ${s.reason}${s.designatedLeader === undefined ? '' : ` (designated leader s${s.designatedLeader})`}`);
  }
  for (const n of r.notes) out.push(`note: ${n}`);
  return out;
}
