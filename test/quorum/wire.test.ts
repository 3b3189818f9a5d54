// The quorum port's wire layer against bytes captured from a live ZooKeeper 3.8.0 ensemble (three
// voters and an observer; scripts/capture-quorum.sh): every packet decodes to the fields the fact
// sheet gives, re-encodes to the same bytes, and the incremental framer finds the same packets in
// the concatenated stream however it is split, including a SNAP sync with its raw snapshot.
import t, { type Test } from 'tap';
import { OpCode } from '../../src/protocol/constants';
import { deserializeTxn, serializeTxn } from '../../src/storage/txnserde';
import {
  ackEpoch,
  commitAndActivateLeader,
  decodeQuorumPacket,
  encodeAckEpoch,
  encodeCommitAndActivate,
  encodeInformAndActivate,
  encodeLeaderInfo,
  encodeLearnerInfo,
  encodePingTouches,
  encodeRequestData,
  encodeRevalidateReply,
  encodeRevalidateRequest,
  informAndActivate,
  leaderInfoVersion,
  learnerInfo,
  newLeaderConfig,
  packetTypeName,
  pingTouches,
  quorumPacketBytes,
  quorumPacketFromBytes,
  requestData,
  revalidateReply,
  revalidateRequest,
  txnData,
  QuorumWireError,
  ZAB_PROTOCOL_VERSION,
  QUORUM_AUTH_MAGIC,
  type QuorumPacket,
} from '../../src/quorum/wire/packets';
import { QuorumPacketEncoder, QuorumPacketFramer, type RawConsumer } from '../../src/quorum/wire/framer';
import { encodeQuorumAuthPacket } from '../../src/protocol/generated/records';
import { JuteReader, JuteWriter } from '../../src/protocol/jute';
import { readFixture } from './fixtures';
import { prng } from '../util/prng';

const packets = readFixture('packets.txt');
const proposals = readFixture('proposals.txt');
const snapStream = readFixture('snap-stream.txt');

const counter = (zxid: bigint) => zxid & 0xffffffffn;
const epochOf = (zxid: bigint) => zxid >> 32n;


/** Splits bytes into chunks of 1..maxChunk bytes. */
function randomSplits(b: Buffer, seed: number, maxChunk: number): Buffer[] {
  const rnd = prng(seed);
  const out: Buffer[] = [];
  for (let at = 0; at < b.length; ) {
    const n = 1 + Math.floor(rnd() * maxChunk);
    out.push(b.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** Checks a txn (PROPOSAL, INFORM, INFORMANDACTIVATE) against its packet and re-encodes it. */
function checkTxn(tt: Test, txnBytes: Buffer, zxid: bigint): number {
  const d = deserializeTxn(txnBytes);
  tt.equal(d.txn.hdr.zxid, zxid, 'txn zxid is the packet zxid');
  if (d.txn.hdr.type === OpCode.error) tt.equal(d.digest, undefined, 'ErrorTxn carries no digest');
  else tt.same(d.digest?.version, 2, 'TxnDigest version 2');
  tt.ok(serializeTxn(d.txn, d.digest, d.legacy).equals(txnBytes), 'txn re-encodes to the same bytes');
  return d.txn.hdr.type;
}

t.test('every captured packet decodes, has the fact sheet fields and re-encodes identically', async (t) => {
  const typesSeen = new Set<number>();
  for (const { kind, note, bytes } of packets) {
    await t.test(`${kind} ${note}`, async (tt) => {
      const p = quorumPacketFromBytes(bytes);
      typesSeen.add(p.type);
      tt.equal(packetTypeName(p.type), kind, 'type');
      tt.ok(quorumPacketBytes(p).equals(bytes), 're-encodes to the same bytes');
      const fromLeader = note.includes('leader->learner');
      const d = p.data;
      switch (kind) {
        case 'REQUEST': {
          tt.equal(p.zxid, -1n, 'zxid -1');
          const r = requestData(d);
          tt.ok(encodeRequestData(r).equals(d!), 'request data re-encodes');
          if (r.op === OpCode.createSession) {
            tt.equal(p.authinfo, null, 'createSession: authinfo null');
            tt.equal(r.cxid, 0, 'createSession: cxid 0');
            tt.equal(d!.length, 20, 'createSession: 20 bytes (timeout body)');
            tt.equal(r.body.readInt32BE(0), 10000, 'the timeout');
            const creator = r.sessionId >> 56n;
            tt.ok(creator >= 1n && creator <= 4n, `the learner allocated the id (sid ${creator} in the top byte)`);
          } else {
            tt.same(p.authinfo, [{ scheme: 'ip', id: '127.0.0.1' }], "the client's ids");
            if (r.op === OpCode.closeSession) tt.equal(r.body.length, 0, 'closeSession: empty body');
            if (r.op === OpCode.sync) tt.equal(new JuteReader(r.body).readString(), '/f', 'sync path');
          }
          tt.match(note, `cxid=${r.cxid}`);
          break;
        }
        case 'PROPOSAL':
        case 'INFORM':
          tt.ok(fromLeader);
          tt.equal(p.authinfo, null);
          tt.not(counter(p.zxid), 0n, 'a txn zxid');
          checkTxn(tt, txnData(p.type, d), p.zxid);
          break;
        case 'ACK':
        case 'COMMIT':
        case 'DIFF':
        case 'TRUNC':
        case 'SNAP':
          tt.equal(d, null, 'data null');
          tt.equal(p.authinfo, null, 'authinfo null');
          break;
        case 'SYNC':
          tt.equal(p.zxid, 0n, 'zxid 0');
          tt.equal(d, null);
          break;
        case 'UPTODATE':
          tt.equal(p.zxid, -1n, 'zxid -1');
          tt.equal(d, null);
          break;
        case 'PING':
          if (fromLeader) {
            tt.equal(d, null, "the leader's ping has null data");
          } else {
            tt.not(d, null, "a learner's ping has a touch table");
            const touches = pingTouches(d);
            tt.equal(touches.length * 12, d!.length);
            tt.ok(encodePingTouches(touches).equals(d!), 'touch table re-encodes');
            for (const x of touches) tt.equal(x.timeoutMs, 10000);
          }
          break;
        case 'REVALIDATE':
          tt.equal(p.zxid, -1n, 'zxid -1');
          if (fromLeader) {
            const r = revalidateReply(d);
            tt.ok(encodeRevalidateReply(r).equals(d!));
            tt.equal(d!.length, 9);
          } else {
            const r = revalidateRequest(d);
            tt.equal(r.timeoutMs, 10000);
            tt.ok(encodeRevalidateRequest(r).equals(d!));
          }
          break;
        case 'COMMITANDACTIVATE': {
          const leader = commitAndActivateLeader(d);
          tt.ok(leader >= 1n && leader <= 3n, 'a voter is the designated leader');
          tt.ok(encodeCommitAndActivate(leader).equals(d!));
          break;
        }
        case 'INFORMANDACTIVATE': {
          const ia = informAndActivate(d);
          tt.ok(ia.designatedLeader >= 1n && ia.designatedLeader <= 3n);
          tt.equal(checkTxn(tt, ia.txn, p.zxid), OpCode.reconfig, 'a reconfig txn');
          tt.ok(encodeInformAndActivate(ia.designatedLeader, ia.txn).equals(d!));
          break;
        }
        case 'NEWLEADER': {
          tt.equal(counter(p.zxid), 0n, 'newEpoch<<32');
          const cfg = newLeaderConfig(d);
          tt.match(cfg, /^server\.1=127\.0\.0\.1:3411:3421:participant\n/);
          tt.match(cfg, new RegExp(`\nversion=${p.zxid.toString(16)}$`), 'no trailing newline, version in hex');
          break;
        }
        case 'FOLLOWERINFO':
        case 'OBSERVERINFO': {
          tt.equal(counter(p.zxid), 0n, 'acceptedEpoch<<32');
          const li = learnerInfo(d, p.type);
          tt.equal(d!.length, 20, 'the 20-byte form');
          tt.equal(li.protocolVersion, ZAB_PROTOCOL_VERSION);
          if (kind === 'OBSERVERINFO') tt.equal(li.sid, 4n, 'the observer');
          else tt.ok(li.sid >= 1n && li.sid <= 3n);
          tt.ok(encodeLearnerInfo(li).equals(d!));
          break;
        }
        case 'LEADERINFO':
          tt.equal(counter(p.zxid), 0n, 'newEpoch<<32');
          tt.equal(leaderInfoVersion(d), 0x10000);
          tt.ok(encodeLeaderInfo().equals(d!));
          break;
        case 'ACKEPOCH': {
          const e = ackEpoch(d);
          tt.ok(e === -1 || e >= 0, 'currentEpoch or -1');
          tt.ok(encodeAckEpoch(e).equals(d!));
          break;
        }
        default:
          tt.fail(`unexpected kind ${kind}`);
      }
    });
  }
  t.same(
    [...typesSeen].sort((a, b) => a - b),
    Array.from({ length: 19 }, (_, i) => i + 1),
    'all 19 packet types were captured',
  );
  // The forms the fact sheet names, seen live.
  t.ok(packets.some((l) => l.kind === 'ACKEPOCH' && ackEpoch(quorumPacketFromBytes(l.bytes).data) === -1), 'ACKEPOCH -1');
  t.ok(packets.some((l) => l.kind === 'PING' && quorumPacketFromBytes(l.bytes).data?.length === 0), 'empty touch table: 0 bytes');
  t.ok(
    packets.some((l) => l.kind === 'REVALIDATE' && l.bytes.length > 20 && quorumPacketFromBytes(l.bytes).data!.length === 9 && !revalidateReply(quorumPacketFromBytes(l.bytes).data).valid),
    'an invalid REVALIDATE reply',
  );
  t.equal(packets.find((l) => l.kind === 'UPTODATE')!.bytes.length, 20, 'null data, null authinfo: 20 bytes');
});

t.test('PROPOSALs from the cold start: each txn decodes and re-encodes identically', async (t) => {
  t.ok(proposals.length >= 20, `${proposals.length} proposals`);
  for (const { bytes } of proposals) {
    const p = quorumPacketFromBytes(bytes);
    t.equal(p.type, 2);
    checkTxn(t, txnData(p.type, p.data), p.zxid);
  }
});

function decodeAll(stream: Buffer[]): QuorumPacket[] {
  const got: QuorumPacket[] = [];
  const f = new QuorumPacketFramer((p) => got.push(p));
  for (const c of stream) f.push(c);
  f.end();
  return got;
}

t.test('the framer finds the same packets in the concatenated stream, however it is split', async (t) => {
  const all = [...packets, ...proposals];
  const expected = all.map((l) => quorumPacketFromBytes(l.bytes));
  const stream = Buffer.concat(all.map((l) => l.bytes));
  t.same(decodeAll([stream]), expected, 'one chunk');
  t.same(decodeAll(randomSplits(stream, 1, 1)), expected, 'one byte at a time');
  for (const seed of [2, 3, 4, 5, 6]) {
    for (const max of [3, 17, 200]) t.same(decodeAll(randomSplits(stream, seed * 1000 + max, max)), expected, `seed ${seed}, chunks up to ${max} B`);
  }
  // The encoder writes the same stream back, packet by packet and all at once.
  const enc = new QuorumPacketEncoder(16);
  t.ok(Buffer.concat(expected.map((p) => enc.encode(p))).equals(stream), 'encoder, one packet at a time');
  t.ok(enc.encodeAll(expected).equals(stream), 'encoder, all at once');
});

t.test('a SNAP sync: raw mode hands the snapshot to its consumer, then packets resume', async (t) => {
  const raw = snapStream.filter((s) => s.kind === 'raw');
  t.equal(raw.length, 1);
  const rawBytes = raw[0].bytes;
  t.equal(rawBytes.subarray(rawBytes.length - 14).toString('latin1'), '\x00\x00\x00\x0aBenWasHere', 'the stream ends with the signature');
  const expectedPackets = snapStream.filter((s) => s.kind === 'packet').map((s) => quorumPacketFromBytes(s.bytes));
  t.same(expectedPackets.map((p) => packetTypeName(p.type)), ['SNAP', 'NEWLEADER', 'UPTODATE']);
  const stream = Buffer.concat(snapStream.map((s) => s.bytes));

  const run = (chunks: Buffer[]) => {
    const got: QuorumPacket[] = [];
    const seen: Buffer[] = [];
    let calls = 0;
    const framer = new QuorumPacketFramer((p) => {
      got.push(p);
      if (p.type === 15) {
        // Stands in for the snapshot decoder: it knows where its stream ends.
        let left = rawBytes.length;
        const consumer: RawConsumer = (chunk) => {
          calls++;
          const used = Math.min(left, chunk.length);
          seen.push(Buffer.from(chunk.subarray(0, used)));
          left -= used;
          return { used, done: left === 0 };
        };
        framer.rawMode(consumer);
      }
    });
    for (const c of chunks) framer.push(c);
    framer.end();
    return { got, raw: Buffer.concat(seen), calls, framer };
  };
  for (const [label, chunks] of [
    ['one chunk', [stream]],
    ['one byte at a time', randomSplits(stream, 7, 1)],
    ['random 1..40', randomSplits(stream, 8, 40)],
    ['random 1..500', randomSplits(stream, 9, 500)],
  ] as [string, Buffer[]][]) {
    const r = run(chunks);
    t.same(r.got, expectedPackets, `${label}: packets`);
    t.ok(r.raw.equals(rawBytes), `${label}: the raw stream, byte for byte`);
    t.notOk(r.framer.inRawMode, `${label}: back to packets`);
  }
  t.equal(run(randomSplits(stream, 7, 1)).calls, rawBytes.length, 'one byte at a time: one call per byte');
});

t.test('raw mode misuse and an unfinished raw stream are errors', async (t) => {
  const f1 = new QuorumPacketFramer(() => undefined);
  f1.rawMode(() => ({ used: 1, done: false }));
  t.throws(() => f1.push(Buffer.alloc(4)), { name: 'QuorumWireError', message: /used 1 of 4 bytes without finishing/ });
  const f2 = new QuorumPacketFramer(() => undefined);
  f2.rawMode((c) => ({ used: c.length + 1, done: true }));
  t.throws(() => f2.push(Buffer.alloc(2)), /reported 3 of 2 bytes/);
  const f3 = new QuorumPacketFramer(() => undefined);
  f3.rawMode((c) => ({ used: c.length, done: false }));
  f3.push(Buffer.alloc(10));
  t.throws(() => f3.end(), /ended inside a raw stream/);
  const f4 = new QuorumPacketFramer(() => undefined);
  f4.push(Buffer.alloc(3));
  t.throws(() => f4.rawMode(() => ({ used: 0, done: true })), /inside a packet/);
  t.throws(() => f4.end(), /ended inside a packet/);
});

function head(type: number, dataLength: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32BE(type, 0);
  b.writeBigInt64BE(1n, 4);
  b.writeInt32BE(dataLength, 12);
  return b;
}

t.test('malformed or oversized packets raise a QuorumWireError naming the packet', async (t) => {
  const limits = { maxBufferBytes: 1000, extraBufferBytes: 24, maxAuthinfo: 4 };
  const f = () => new QuorumPacketFramer(() => undefined, limits);

  const big = f();
  t.throws(() => big.push(head(2, 1025)), { name: 'QuorumWireError', message: 'PROPOSAL packet: data length 1025 exceeds the limit of 1024 bytes' });
  t.throws(() => big.push(Buffer.alloc(1)), /data length 1025/, 'the framer stays failed');
  const ok = f();
  ok.push(head(2, 1024));
  t.ok(ok.heldBytes <= 16 + 1024, 'an accepted packet holds its announced size only');

  t.throws(() => f().push(head(5, -2)), /PING packet: data length -2/);
  const count = Buffer.concat([head(1, -1), Buffer.from([0, 0, 0, 5])]);
  t.throws(() => f().push(count), /REQUEST packet: authinfo count 5 exceeds the limit of 4/);
  const negCount = Buffer.concat([head(1, -1), Buffer.from([0xff, 0xff, 0xff, 0xfe])]);
  t.throws(() => f().push(negCount), /authinfo count -2/);
  const longId = Buffer.concat([head(1, -1), Buffer.from([0, 0, 0, 1]), Buffer.from([0, 0, 4, 1])]);
  t.throws(() => f().push(longId), /authinfo string length 1025 exceeds/);
  const unknown = Buffer.concat([head(99, -1), Buffer.from([0xff, 0xff, 0xff, 0xff])]);
  const got: QuorumPacket[] = [];
  new QuorumPacketFramer((p) => got.push(p)).push(unknown);
  t.equal(got[0].type, 99, 'unknown types are handed on (the peer logic ignores them)');
  t.equal(packetTypeName(99), 'UNKNOWN(99)');

  // Whole-buffer decoding applies the same limits, and refuses leftovers.
  t.throws(() => decodeQuorumPacket(new JuteReader(head(2, 5000)), { maxBufferBytes: 1024, maxAuthinfo: 4 }), /PROPOSAL packet: data length 5000 exceeds the limit of 1024/);
  t.throws(() => quorumPacketFromBytes(Buffer.concat([unknown, Buffer.alloc(1)])), /1 bytes after the packet/);
  t.throws(() => quorumPacketFromBytes(head(3, 4)), /ACK packet: data of 4 bytes is truncated/);
});

t.test('payloads: the short LearnerInfo forms, and malformed data named by packet', async (t) => {
  const b8 = encodeLearnerInfo({ sid: 7n });
  t.equal(b8.length, 8);
  t.same(learnerInfo(b8), { sid: 7n });
  const b12 = encodeLearnerInfo({ sid: 7n, protocolVersion: 0x10000 });
  t.same(learnerInfo(b12), { sid: 7n, protocolVersion: 0x10000 });
  t.same(learnerInfo(encodeLearnerInfo({ sid: 7n, protocolVersion: 0x10000, configVersion: 0x100000000n })), {
    sid: 7n,
    protocolVersion: 0x10000,
    configVersion: 0x100000000n,
  });
  t.throws(() => learnerInfo(Buffer.alloc(7)), { name: 'QuorumWireError', message: 'FOLLOWERINFO packet: LearnerInfo must be at least 8 bytes, got 7' });
  // As ZooKeeper's leader reads it: the fields whose bytes are all there, the rest not read.
  t.same(learnerInfo(Buffer.alloc(10)), { sid: 0n });
  t.same(learnerInfo(Buffer.alloc(24)), { sid: 0n, protocolVersion: 0, configVersion: 0n });
  t.throws(() => learnerInfo(null, 16), /OBSERVERINFO packet: LearnerInfo expected, data is null/);
  t.throws(() => pingTouches(Buffer.alloc(13)), /PING packet: touch table of 13 bytes/);
  t.throws(() => pingTouches(null), /PING packet/);
  t.throws(() => revalidateRequest(Buffer.alloc(9)), /REVALIDATE packet: learner revalidation .* must be 12 bytes, got 9/);
  t.throws(() => revalidateReply(Buffer.alloc(12)), /must be 9 bytes, got 12/);
  t.throws(() => requestData(Buffer.alloc(15)), /REQUEST packet: forwarded request of 15 bytes/);
  t.throws(() => ackEpoch(Buffer.alloc(8)), /ACKEPOCH packet: current epoch must be 4 bytes/);
  t.throws(() => leaderInfoVersion(null), /LEADERINFO packet/);
  t.throws(() => commitAndActivateLeader(Buffer.alloc(16)), /COMMITANDACTIVATE packet: designated leader must be 8 bytes/);
  t.throws(() => informAndActivate(Buffer.alloc(8)), /INFORMANDACTIVATE packet: 8 bytes hold no txn/);
  t.throws(() => txnData(2, null), /PROPOSAL packet: txn expected/);
  t.same(pingTouches(Buffer.alloc(0)), [], 'empty touch table');
  t.equal(encodePingTouches([]).length, 0, 'an empty touch table is 0 bytes, not null');
  t.equal(ackEpoch(encodeAckEpoch(-1)), -1);
  t.same(epochOf(0x200000003n), 2n);
  t.ok(new QuorumWireError('x') instanceof Error);
});

t.test('null data, 0-length data and null authinfo survive a round trip', async (t) => {
  const cases: QuorumPacket[] = [
    { type: 3, zxid: 5n, data: null, authinfo: null },
    { type: 5, zxid: 5n, data: Buffer.alloc(0), authinfo: null },
    { type: 1, zxid: -1n, data: Buffer.from([1, 2, 3]), authinfo: [] },
    { type: 1, zxid: -1n, data: null, authinfo: [{ scheme: 'digest', id: 'u:h' }, { scheme: 'ip', id: '127.0.0.1' }] },
  ];
  const bytes = cases.map(quorumPacketBytes);
  t.equal(bytes[0].length, 20);
  t.equal(bytes[0].readInt32BE(12), -1, 'null data: -1');
  t.equal(bytes[1].readInt32BE(12), 0, '0-length data: 0');
  t.equal(bytes[0].readInt32BE(16), -1, 'null authinfo: -1');
  t.equal(bytes[2].readInt32BE(19), 0, 'empty authinfo: 0');
  for (let i = 0; i < cases.length; i++) t.same(quorumPacketFromBytes(bytes[i]), cases[i]);
  t.same(decodeAll(randomSplits(Buffer.concat(bytes), 11, 1)), cases);
});

t.test('memory held is one packet at most, however the bytes arrive', async (t) => {
  const big: QuorumPacket = { type: 2, zxid: 9n, data: Buffer.alloc(3000, 7), authinfo: [{ scheme: 'ip', id: '127.0.0.1' }] };
  const one = quorumPacketBytes(big);
  const stream = Buffer.concat([one, one, one, one]);
  let got = 0;
  let maxHeld = 0;
  const f = new QuorumPacketFramer(() => got++, { maxBufferBytes: 4000, extraBufferBytes: 0 });
  for (const c of randomSplits(stream, 12, 7)) {
    f.push(c);
    maxHeld = Math.max(maxHeld, f.heldBytes);
  }
  f.end();
  t.equal(got, 4);
  t.ok(maxHeld <= one.length, `held at most ${maxHeld} bytes for a ${one.length}-byte packet`);
  t.equal(f.heldBytes, 16, 'between packets: the fixed head scratch only');
});

t.test('QuorumAuthPacket: the magic as ZooKeeper writes it', async (t) => {
  const w = new JuteWriter(32);
  encodeQuorumAuthPacket(w, { magic: QUORUM_AUTH_MAGIC, status: 0, token: null });
  t.equal(w.toBuffer().toString('hex'), '5f2435013501edcc' + '00000000' + 'ffffffff');
});
