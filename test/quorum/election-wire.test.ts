// The election port's codec: bytes captured from a live ZooKeeper 3.8.0 ensemble decode to what
// ZooKeeper sent, our encoder reproduces them byte for byte, and malformed input is refused with the
// error ZooKeeper's rules call for.
import t from 'tap';
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  decodeNotification,
  ElectionFrameReader,
  ElectionWireError,
  encodeFrame,
  encodeInitialMessage,
  encodeLegacyInitialMessage,
  encodeNotification,
  formatElectionAddress,
  parseElectionAddress,
  parseInitialMessage,
  PROTOCOL_VERSION_V1,
  PROTOCOL_VERSION_V2,
} from '../../src/quorum/wire/election';
import { LONG_MIN, Notification, PeerState } from '../../src/quorum/vote';

const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'election');

/** A fixture: `#` comments, then hex bytes with any whitespace. */
function fixture(name: string): Buffer {
  const text = fs.readFileSync(path.join(FIXTURES, name), 'utf8');
  const hex = text
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .join('')
    .replace(/\s+/g, '');
  return Buffer.from(hex, 'hex');
}

const CONFIG =
  'server.1=127.0.0.1:3511:3521:participant\n' +
  'server.2=127.0.0.1:3512:3522:participant\n' +
  'server.3=127.0.0.1:3513:3523:participant\n' +
  'version=0';

type Asserts = Pick<typeof t, 'fail' | 'ok' | 'equal'>;

function expectCode(t: Asserts, fn: () => unknown, code: string): void {
  try {
    fn();
    t.fail(`expected ElectionWireError ${code}`);
  } catch (err) {
    t.ok(err instanceof ElectionWireError, `an ElectionWireError (${(err as Error).message})`);
    t.equal((err as ElectionWireError).code, code, (err as Error).message);
  }
}

/** Splits a captured byte stream: the initial message if `initiator`, then the frames. */
function splitStream(bytes: Buffer, initiator: boolean): { initial?: ReturnType<typeof parseInitialMessage>; frames: Buffer[] } {
  let rest = bytes;
  let initial: ReturnType<typeof parseInitialMessage>;
  if (initiator) {
    initial = parseInitialMessage(bytes);
    if (!initial) throw new Error('incomplete initial message');
    rest = bytes.subarray(initial.bytes);
  }
  const reader = new ElectionFrameReader();
  const frames = reader.push(rest);
  if (reader.bufferedBytes !== 0) throw new Error(`${reader.bufferedBytes} bytes left over`);
  return { initial, frames };
}

function summary(n: Notification): string {
  return `${n.state} leader=${n.leader} zxid=0x${n.zxid.toString(16)} round=${n.electionEpoch} peerEpoch=${n.peerEpoch}`;
}

t.test('captured initial message (V1, sid 1), then FIN: the smaller sid gives way', async (t) => {
  const bytes = fixture('s1-to-s2-initial.hex');
  t.equal(bytes.length, 34, 'the 34 bytes the fact sheet describes');
  const parsed = parseInitialMessage(bytes);
  t.ok(parsed);
  t.equal(parsed!.bytes, 34);
  t.same(parsed!.message, { protocolVersion: PROTOCOL_VERSION_V1, sid: 1n, addresses: [{ host: '127.0.0.1', port: 3521 }] });
  t.same(encodeInitialMessage(1n, [{ host: '127.0.0.1', port: 3521 }]), bytes, 'our encoder writes the same bytes');
  // Fed a byte at a time, nothing is reported before the last byte.
  for (let n = 0; n < bytes.length; n++) t.equal(parseInitialMessage(bytes.subarray(0, n)), undefined, `incomplete at ${n}`);
});

t.test('captured streams decode to what ZooKeeper sent, and re-encode byte for byte', async (t) => {
  const cases: { file: string; initiator: boolean; sid: bigint; fromSid: bigint; expect: string[] }[] = [
    { file: 's2-to-s1-initiator.hex', initiator: true, sid: 2n, fromSid: 2n, expect: ['0 leader=2 zxid=0x0 round=1 peerEpoch=0'] },
    {
      file: 's1-to-s2-acceptor.hex',
      initiator: false,
      sid: 0n,
      fromSid: 1n,
      expect: ['0 leader=1 zxid=0x0 round=1 peerEpoch=0', '0 leader=2 zxid=0x0 round=1 peerEpoch=0'],
    },
    {
      file: 's1-to-s3-acceptor.hex',
      initiator: false,
      sid: 0n,
      fromSid: 1n,
      expect: [
        '0 leader=2 zxid=0x0 round=1 peerEpoch=0',
        '1 leader=2 zxid=0x0 round=1 peerEpoch=1',
        '0 leader=1 zxid=0x0 round=2 peerEpoch=1',
        '0 leader=3 zxid=0x100000000 round=2 peerEpoch=1',
      ],
    },
    {
      file: 's3-to-s2-initiator.hex',
      initiator: true,
      sid: 3n,
      fromSid: 3n,
      expect: [
        '0 leader=3 zxid=0x100000000 round=2 peerEpoch=1',
        '2 leader=3 zxid=0x100000000 round=2 peerEpoch=2',
        '2 leader=3 zxid=0x100000000 round=2 peerEpoch=2',
      ],
    },
    {
      file: 's2-to-s3-acceptor.hex',
      initiator: false,
      sid: 0n,
      fromSid: 2n,
      expect: ['0 leader=2 zxid=0x0 round=1 peerEpoch=1', '0 leader=3 zxid=0x100000000 round=2 peerEpoch=1'],
    },
  ];
  for (const c of cases) {
    const bytes = fixture(c.file);
    const { initial, frames } = splitStream(bytes, c.initiator);
    if (c.initiator) {
      t.equal(initial!.message.sid, c.sid, `${c.file}: initial message sid`);
      t.equal(initial!.message.protocolVersion, PROTOCOL_VERSION_V1);
      t.same(initial!.message.addresses, [{ host: '127.0.0.1', port: 3520 + Number(c.sid) }]);
    }
    const decoded = frames.map((f) => decodeNotification(c.fromSid, f));
    t.same(decoded.map(summary), c.expect, `${c.file}: the notifications`);
    for (const n of decoded) {
      t.equal(n.sid, c.fromSid);
      t.equal(n.version, 2, 'version 2');
      t.equal(n.config, CONFIG, 'the sender config, QuorumVerifier.toString()');
    }
    // Re-encoding every decoded notification (and the initial message) gives back the capture.
    const rebuilt = Buffer.concat([
      ...(c.initiator ? [encodeInitialMessage(c.sid, initial!.message.addresses)] : []),
      ...decoded.map((n) => encodeFrame(encodeNotification({ ...n, config: n.config! }))),
    ]);
    t.same(rebuilt, bytes, `${c.file}: re-encoded byte for byte`);
  }
});

t.test('the frame reader gives the same frames however the captured stream is cut', async (t) => {
  const bytes = fixture('s1-to-s3-acceptor.hex');
  const whole = splitStream(bytes, false).frames.map((f) => Buffer.from(f));
  fc.assert(
    fc.property(fc.array(fc.nat(bytes.length), { maxLength: 20 }), (cuts) => {
      const points = [...new Set(cuts)].sort((a, b) => a - b);
      const reader = new ElectionFrameReader();
      const frames: Buffer[] = [];
      let prev = 0;
      for (const p of [...points, bytes.length]) {
        frames.push(...reader.push(bytes.subarray(prev, p)).map((f) => Buffer.from(f)));
        prev = p;
      }
      return reader.bufferedBytes === 0 && frames.length === whole.length && frames.every((f, i) => f.equals(whole[i]));
    }),
  );
});

t.test('frame lengths outside 1..524288 are refused at the length', async (t) => {
  for (const length of [0, -1, 524289, 0x7fffffff, -0x80000000]) {
    const reader = new ElectionFrameReader();
    const head = Buffer.alloc(4);
    head.writeInt32BE(length);
    expectCode(t, () => reader.push(head), 'frame-length');
  }
  // The limit itself is allowed and buffers exactly one frame.
  const reader = new ElectionFrameReader();
  const head = Buffer.alloc(4);
  head.writeInt32BE(524288);
  t.same(reader.push(head), []);
  t.same(reader.push(Buffer.alloc(524287)), []);
  t.equal(reader.bufferedBytes, 524287);
  t.equal(reader.push(Buffer.alloc(1))[0].length, 524288);
  expectCode(t, () => encodeFrame(Buffer.alloc(0)), 'frame-length');
  expectCode(t, () => encodeFrame(Buffer.alloc(524289)), 'frame-length');
});

t.test('initial message: versions, sids and lengths', async (t) => {
  // A first long >= 0 is the whole message of a pre-3.5 peer.
  t.same(parseInitialMessage(encodeLegacyInitialMessage(7n)), {
    message: { protocolVersion: undefined, sid: 7n, addresses: [] },
    bytes: 8,
  });
  t.same(parseInitialMessage(encodeLegacyInitialMessage(0n))!.message.sid, 0n);
  // Any other negative first long is an unknown version.
  for (const v of [-1n, -65537n, -65534n, LONG_MIN]) {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(v);
    expectCode(t, () => parseInitialMessage(b), 'unknown-protocol-version');
  }
  // N must be 1..2048.
  for (const n of [0, -1, 2049, 0x7fffffff]) {
    const b = Buffer.alloc(20);
    b.writeBigInt64BE(PROTOCOL_VERSION_V1, 0);
    b.writeBigInt64BE(1n, 8);
    b.writeInt32BE(n, 16);
    expectCode(t, () => parseInitialMessage(b), 'address-length');
  }
  // 2048 is allowed (here: an address list of wildcards and one real address, padded by a long host).
  const longHost = 'h'.repeat(2048 - ':1'.length);
  const b = encodeInitialMessage(9n, [{ host: longHost, port: 1 }]);
  t.equal(b.length, 20 + 2048);
  t.same(parseInitialMessage(b)!.message.addresses, [{ host: longHost, port: 1 }]);
  t.throws(() => encodeInitialMessage(9n, [{ host: longHost + 'h', port: 1 }]), ElectionWireError);
  // V2 carries several addresses; wildcard ones are left out as ZooKeeper leaves them out.
  const v2 = encodeInitialMessage(
    5n,
    [
      { host: '10.0.0.1', port: 3888 },
      { host: '::1', port: 3889 },
      { host: '0.0.0.0', port: 3890 },
      { host: '::', port: 3891 },
    ],
    PROTOCOL_VERSION_V2,
  );
  t.match(v2.subarray(20).toString(), '10.0.0.1:3888|[::1]:3889|0.0.0.0:3890|[::]:3891');
  t.same(parseInitialMessage(v2)!.message, {
    protocolVersion: PROTOCOL_VERSION_V2,
    sid: 5n,
    addresses: [
      { host: '10.0.0.1', port: 3888 },
      { host: '::1', port: 3889 },
    ],
  });
  // V1 sends only the first address.
  t.equal(encodeInitialMessage(5n, [{ host: 'a', port: 1 }, { host: 'b', port: 2 }]).subarray(20).toString(), 'a:1');
  // The bytes after the message are not part of it.
  const withTail = Buffer.concat([encodeInitialMessage(4n, [{ host: 'x', port: 2 }]), Buffer.from([0, 0, 0, 1, 9])]);
  t.equal(parseInitialMessage(withTail)!.bytes, withTail.length - 5);
});

t.test('host:port parsing, IPv6 in brackets', async (t) => {
  t.same(parseElectionAddress('127.0.0.1:3888'), { host: '127.0.0.1', port: 3888 });
  t.same(parseElectionAddress('zk1.example.com:1'), { host: 'zk1.example.com', port: 1 });
  t.same(parseElectionAddress('[::1]:3888'), { host: '::1', port: 3888 });
  t.same(parseElectionAddress('[fe80::1%eth0]:65535'), { host: 'fe80::1%eth0', port: 65535 });
  t.equal(formatElectionAddress({ host: '::1', port: 3888 }), '[::1]:3888');
  t.equal(formatElectionAddress({ host: '10.1.2.3', port: 1 }), '10.1.2.3:1');
  expectCode(t, () => parseElectionAddress('::1:3888'), 'bad-address');
  expectCode(t, () => parseElectionAddress('[::1:3888'), 'bad-address');
  expectCode(t, () => parseElectionAddress('[::1]'), 'bad-address');
  expectCode(t, () => parseElectionAddress('[::1]:'), 'bad-address');
  expectCode(t, () => parseElectionAddress('host'), 'bad-address');
  expectCode(t, () => parseElectionAddress('a:1:2'), 'bad-address');
  expectCode(t, () => parseElectionAddress(':3888'), 'bad-address');
  expectCode(t, () => parseElectionAddress('host:port'), 'bad-port');
  expectCode(t, () => parseElectionAddress('host:65536'), 'bad-port');
  expectCode(t, () => parseElectionAddress('host:-1'), 'bad-port');
  expectCode(t, () => parseElectionAddress('host:'), 'bad-port');
  // Inside an initial message, a bad address refuses the whole message.
  const bad = Buffer.concat([Buffer.alloc(20), Buffer.from('nohost')]);
  bad.writeBigInt64BE(PROTOCOL_VERSION_V1, 0);
  bad.writeBigInt64BE(2n, 8);
  bad.writeInt32BE(6, 16);
  expectCode(t, () => parseInitialMessage(bad), 'bad-address');
});

t.test('notification forms: 28 B, 40 B, 41+ B without config, version 2 with config', async (t) => {
  const base = (length: number): Buffer => {
    const b = Buffer.alloc(length);
    b.writeInt32BE(PeerState.FOLLOWING, 0);
    b.writeBigInt64BE(3n, 4);
    b.writeBigInt64BE(0x500000007n, 12);
    b.writeBigInt64BE(9n, 20);
    if (length >= 36) b.writeBigInt64BE(4n, 28);
    return b;
  };
  // 28 B: peerEpoch is the zxid's epoch.
  t.same(decodeNotification(1n, base(28)), {
    sid: 1n, state: 1, leader: 3n, zxid: 0x500000007n, electionEpoch: 9n, peerEpoch: 5n, version: 0, config: undefined,
  });
  // The epoch of a negative zxid keeps its sign (Java's >>).
  const negative = base(28);
  negative.writeBigInt64BE(-1n, 12);
  t.equal(decodeNotification(1n, negative).peerEpoch, -1n);
  // 40 B: peerEpoch read, no version even though 4 more bytes are there.
  const forty = base(40);
  forty.writeInt32BE(2, 36);
  t.same(decodeNotification(1n, forty), {
    sid: 1n, state: 1, leader: 3n, zxid: 0x500000007n, electionEpoch: 9n, peerEpoch: 4n, version: 0, config: undefined,
  });
  // 29..35: cut inside peerEpoch; 36..39: cut inside the version.
  for (const length of [29, 35, 36, 39]) expectCode(t, () => decodeNotification(1n, base(length)), 'notification-truncated');
  for (const length of [0, 1, 27]) expectCode(t, () => decodeNotification(1n, Buffer.alloc(length)), 'notification-short');
  // 41+ with version 0 or 1 (or negative): no config is read.
  for (const version of [0, 1, -5]) {
    const b = base(44);
    b.writeInt32BE(version, 36);
    b.writeInt32BE(-1, 40);
    const n = decodeNotification(1n, b);
    t.equal(n.version, version);
    t.equal(n.config, undefined);
  }
  // Version 2 needs its config length.
  const short = base(43);
  short.writeInt32BE(2, 36);
  expectCode(t, () => decodeNotification(1n, short), 'notification-truncated');
  // Version 2 with an empty config, and with trailing bytes after the config (ignored).
  const empty = encodeNotification({ state: 0, leader: 1n, zxid: 2n, electionEpoch: 3n, peerEpoch: 4n, config: '' });
  t.equal(empty.length, 44);
  t.equal(decodeNotification(2n, empty).config, '');
  const trailing = Buffer.concat([encodeNotification({ state: 0, leader: 1n, zxid: 2n, electionEpoch: 3n, peerEpoch: 4n, config: 'ab' }), Buffer.from('zz')]);
  t.equal(decodeNotification(2n, trailing).config, 'ab');
  // configLength < 0, or beyond the frame.
  for (const [configLength, extra] of [[-1, 0], [-0x80000000, 0], [1, 0], [11, 10], [0x7fffffff, 10]] as const) {
    const b = Buffer.concat([encodeNotification({ state: 0, leader: 1n, zxid: 2n, electionEpoch: 3n, peerEpoch: 4n, config: '' }), Buffer.alloc(extra)]);
    b.writeInt32BE(configLength, 40);
    expectCode(t, () => decodeNotification(1n, b), 'config-length');
  }
});

t.test('unknown states are refused, with what was read', async (t) => {
  for (const state of [4, -1, 0x7fffffff]) {
    const b = encodeNotification({ state: 0, leader: 2n, zxid: 0n, electionEpoch: 1n, peerEpoch: 1n, config: 'c' });
    b.writeInt32BE(state, 0);
    try {
      decodeNotification(9n, b);
      t.fail('accepted');
    } catch (err) {
      t.equal((err as ElectionWireError).code, 'unknown-state');
      t.same((err as ElectionWireError).partial, {
        sid: 9n, state, leader: 2n, zxid: 0n, electionEpoch: 1n, peerEpoch: 1n, version: 2, config: 'c',
      });
    }
  }
});

t.test('round trip: any notification encodes and decodes to itself', async (t) => {
  const long = fc.bigInt({ min: LONG_MIN, max: (1n << 63n) - 1n });
  fc.assert(
    fc.property(
      fc.constantFrom(PeerState.LOOKING, PeerState.FOLLOWING, PeerState.LEADING, PeerState.OBSERVING),
      long, long, long, long, long,
      fc.string({ unit: 'grapheme', maxLength: 200 }),
      (state, sid, leader, zxid, electionEpoch, peerEpoch, config) => {
        const payload = encodeNotification({ state, leader, zxid, electionEpoch, peerEpoch, config });
        const n = decodeNotification(sid, payload);
        return (
          n.sid === sid && n.state === state && n.leader === leader && n.zxid === zxid &&
          n.electionEpoch === electionEpoch && n.peerEpoch === peerEpoch && n.version === 2 && n.config === config
        );
      },
    ),
  );
  // Initial messages too.
  fc.assert(
    fc.property(
      fc.bigInt({ min: LONG_MIN, max: (1n << 63n) - 1n }),
      fc.constantFrom('127.0.0.1', '::1', 'fe80::2', 'zk-3.example'),
      fc.integer({ min: 0, max: 65535 }),
      (sid, host, port) => {
        const parsed = parseInitialMessage(encodeInitialMessage(sid, [{ host, port }]));
        return parsed !== undefined && parsed.message.sid === sid && parsed.message.addresses[0].host === host && parsed.message.addresses[0].port === port;
      },
    ),
  );
  t.pass('fast-check found no counterexample');
});

t.test('an observer vote (MIN fields) round-trips', async (t) => {
  const n = decodeNotification(
    4n,
    encodeNotification({ state: PeerState.LOOKING, leader: LONG_MIN, zxid: LONG_MIN, electionEpoch: 1n, peerEpoch: LONG_MIN, config: CONFIG }),
  );
  t.equal(n.leader, LONG_MIN);
  t.equal(n.zxid, LONG_MIN);
  t.equal(n.peerEpoch, LONG_MIN);
});
