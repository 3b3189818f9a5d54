// Sends hostile or odd bytes on a fresh connection and records what comes back, in a form that
// compares across servers: reply frames with zxids relative to the connection's start, whether
// the connection was closed, and how many zxids the bytes consumed.
import { OpCode, Xid } from '../../src/protocol/constants';
import { JuteReader } from '../../src/protocol/jute';
import * as R from '../../src/protocol/generated/records';
import { connectFrame, RawConnection, requestFrame, waitFor, type Endpoint } from './client';

const PROBE_WAIT_MS = 5_000;

export interface ProbeResult {
  /** Reply frames after the handshake, with zxids relative to the zxid before the attack. */
  frames: string[];
  closed: boolean;
  /** How many zxids the attack consumed (from the sentinel ping after it). */
  zxidsConsumed?: string;
}

function describeReply(f: Buffer, base: bigint): string {
  const r = new JuteReader(f);
  if (f.length < R.ReplyHeader_SIZE) return `short frame ${f.toString('hex')}`;
  const h = R.decodeReplyHeader(r);
  return `xid=${h.xid} err=${h.err} zxid=${h.zxid < 0n ? h.zxid : `base+${h.zxid - base}`} body=${f.subarray(r.pos).toString('hex')}`;
}

/**
 * Sends `attack` on a fresh connection (after a handshake, or instead of one), then a ping as a
 * sentinel: its reply shows the connection survived and that every answer to the attack came.
 */
export async function probe(ep: Endpoint, handshake: boolean, attack: Buffer[], opts: { endAfter?: boolean; noSentinel?: boolean } = {}): Promise<ProbeResult> {
  const raw = await RawConnection.open(ep.host, ep.port);
  try {
    let base = 0n;
    let start = 0;
    if (handshake) {
      raw.write(connectFrame({ timeoutMs: 30_000 }));
      raw.write(requestFrame(Xid.ping, OpCode.ping));
      await raw.waitFrames(2);
      if (raw.frames.length < 2) throw new Error(`${ep.name}: handshake failed`);
      base = R.decodeReplyHeader(new JuteReader(raw.frames[1])).zxid;
      start = 2;
    }
    for (const b of attack) raw.write(b);
    if (opts.endAfter) raw.socket.end();
    let pingSeq = -1;
    if (handshake && !opts.endAfter && !opts.noSentinel) {
      raw.write(requestFrame(Xid.ping, OpCode.ping));
      const isPing = (f: Buffer) => f.length >= 4 && f.readInt32BE(0) === Xid.ping;
      await waitFor(() => raw.closed || raw.frames.slice(start).some(isPing), `${ep.name}: sentinel ping or close`, PROBE_WAIT_MS).catch(() => undefined);
      pingSeq = raw.frames.findIndex((f, i) => i >= start && isPing(f));
    } else {
      await raw.waitClosed(PROBE_WAIT_MS);
    }
    const frames = raw.frames.slice(start, pingSeq >= 0 ? pingSeq : undefined).map((f) => (handshake ? describeReply(f, base) : f.toString('hex')));
    const result: ProbeResult = { frames, closed: pingSeq < 0 && raw.closed };
    if (pingSeq >= 0) {
      result.zxidsConsumed = String(R.decodeReplyHeader(new JuteReader(raw.frames[pingSeq])).zxid - base);
      // Leave nothing behind that could expire later and take a zxid.
      raw.write(requestFrame(1_000_000, OpCode.closeSession));
      await raw.waitClosed(PROBE_WAIT_MS);
    } else if (!raw.closed && pingSeq < 0 && !handshake) {
      result.frames.push('(still open)');
    }
    return result;
  } finally {
    raw.destroy();
  }
}

