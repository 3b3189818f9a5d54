// Jute codecs: reader bounds, round trips of the generated records and the multi encodings, and
// the generator itself (errors with file:line, deterministic output, --check).
import t from 'tap';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { getLong, JuteError, JuteReader, JuteWriter, putLong } from '../src/protocol/jute';
import * as R from '../src/protocol/generated/records';
import { OpCode } from '../src/protocol/constants';
import { decodeMulti, encodeMultiResponse, type MultiOp, type MultiResult } from '../src/protocol/requests';
import { generate, generateFromDir, parseJute } from '../jute/generate';

const ROOT = path.resolve(__dirname, '..', '..');

function encode<T>(enc: (w: JuteWriter, x: T) => void, x: T): Buffer {
  const w = new JuteWriter(8);
  enc(w, x);
  return w.toBuffer();
}

/** Decodes all of `buf`; fails if bytes are left over. */
function decodeWhole<T>(dec: (r: JuteReader) => T, buf: Buffer): T {
  const r = new JuteReader(buf);
  const x = dec(r);
  if (r.remaining() !== 0) throw new Error(`${r.remaining()} bytes left over`);
  return x;
}

// --- arbitraries ------------------------------------------------------------------------------

const int32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
const int64 = fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n });
const str = fc.string({ unit: 'binary', maxLength: 40 });
const buf = fc.option(
  fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  { nil: null },
);
const stat: fc.Arbitrary<R.Stat> = fc.record({
  czxid: int64,
  mzxid: int64,
  ctime: int64,
  mtime: int64,
  version: int32,
  cversion: int32,
  aversion: int32,
  ephemeralOwner: int64,
  dataLength: int32,
  numChildren: int32,
  pzxid: int64,
});
const acl: fc.Arbitrary<R.ACL> = fc.record({ perms: int32, id: fc.record({ scheme: str, id: str }) });
const acls = fc.array(acl, { maxLength: 6 });
const createRequest: fc.Arbitrary<R.CreateRequest> = fc.record({ path: str, data: buf, acl: acls, flags: int32 });
const strings = fc.array(str, { maxLength: 6 });
const setWatches2: fc.Arbitrary<R.SetWatches2> = fc.record({
  relativeZxid: int64,
  dataWatches: strings,
  existWatches: strings,
  childWatches: strings,
  persistentWatches: strings,
  persistentRecursiveWatches: strings,
});

/** Ops as decodeMulti returns them: plain creates carry flags that keep them plain creates. */
const multiOp: fc.Arbitrary<MultiOp> = fc.oneof(
  fc.record({ path: str, data: buf, acl: acls, flags: fc.integer({ min: 0, max: 3 }) }).map((record) => ({ type: OpCode.create, record }) as MultiOp),
  fc.record({ path: str, data: buf, acl: acls, flags: fc.constant(4) }).map((record) => ({ type: OpCode.createContainer, record }) as MultiOp),
  fc.record({ path: str, data: buf, acl: acls, flags: fc.constantFrom(5, 6), ttl: int64 }).map((record) => ({ type: OpCode.createTTL, record }) as MultiOp),
  fc.record({ path: str, version: int32 }).map((record) => ({ type: OpCode.delete, record }) as MultiOp),
  fc.record({ path: str, data: buf, version: int32 }).map((record) => ({ type: OpCode.setData, record }) as MultiOp),
  fc.record({ path: str, version: int32 }).map((record) => ({ type: OpCode.check, record }) as MultiOp),
  fc.record({ path: str, watch: fc.boolean() }).map((record) => ({ type: OpCode.getData, record }) as MultiOp),
  fc.record({ path: str, watch: fc.boolean() }).map((record) => ({ type: OpCode.getChildren, record }) as MultiOp),
);

/** A multi request as clients write it: (MultiHeader, op record)* then a done header. */
function encodeMultiRequest(w: JuteWriter, ops: MultiOp[]): void {
  for (const op of ops) {
    R.encodeMultiHeader(w, { type: op.type, done: false, err: -1 });
    switch (op.type) {
      case OpCode.create:
      case OpCode.createContainer:
        R.encodeCreateRequest(w, op.record);
        break;
      case OpCode.createTTL:
        R.encodeCreateTTLRequest(w, op.record);
        break;
      case OpCode.delete:
        R.encodeDeleteRequest(w, op.record);
        break;
      case OpCode.setData:
        R.encodeSetDataRequest(w, op.record);
        break;
      case OpCode.check:
        R.encodeCheckVersionRequest(w, op.record);
        break;
      case OpCode.getData:
        R.encodeGetDataRequest(w, op.record);
        break;
      case OpCode.getChildren:
        R.encodeGetChildrenRequest(w, op.record);
        break;
    }
  }
  R.encodeMultiHeader(w, { type: -1, done: true, err: -1 });
}

/** A multi response, read back the way a client reads it. */
function decodeMultiResponse(r: JuteReader): MultiResult[] {
  const out: MultiResult[] = [];
  for (;;) {
    const h = R.decodeMultiHeader(r);
    if (h.done) return out;
    switch (h.type) {
      case OpCode.error:
        out.push({ type: OpCode.error, err: R.decodeErrorResponse(r).err });
        break;
      case OpCode.create:
        out.push({ type: OpCode.create, path: R.decodeCreateResponse(r).path });
        break;
      case OpCode.create2:
      case OpCode.createTTL:
      case OpCode.createContainer: {
        const x = R.decodeCreate2Response(r);
        out.push({ type: h.type, path: x.path, stat: x.stat });
        break;
      }
      case OpCode.setData:
        out.push({ type: OpCode.setData, stat: R.decodeSetDataResponse(r).stat });
        break;
      case OpCode.getData: {
        const x = R.decodeGetDataResponse(r);
        out.push({ type: OpCode.getData, data: x.data, stat: x.stat });
        break;
      }
      case OpCode.getChildren:
        out.push({ type: OpCode.getChildren, children: R.decodeGetChildrenResponse(r).children });
        break;
      case OpCode.delete:
      case OpCode.deleteContainer:
      case OpCode.check:
        out.push({ type: h.type });
        break;
      default:
        throw new Error(`unexpected multi result type ${h.type}`);
    }
  }
}

const multiResult: fc.Arbitrary<MultiResult> = fc.oneof(
  fc.integer({ min: -130, max: -1 }).map((err) => ({ type: OpCode.error, err }) as MultiResult),
  str.map((p) => ({ type: OpCode.create, path: p }) as MultiResult),
  fc.record({ type: fc.constantFrom(OpCode.create2, OpCode.createTTL, OpCode.createContainer), path: str, stat }).map((x) => x as MultiResult),
  fc.constantFrom(OpCode.delete, OpCode.deleteContainer, OpCode.check).map((type) => ({ type }) as MultiResult),
  stat.map((s) => ({ type: OpCode.setData, stat: s }) as MultiResult),
  fc.record({ data: buf, stat }).map((x) => ({ type: OpCode.getData, ...x }) as MultiResult),
  strings.map((children) => ({ type: OpCode.getChildren, children }) as MultiResult),
);

// --- round trips ------------------------------------------------------------------------------

/** JSON with bigints, for structural comparison of decoded records. */
function big(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? `${v}n` : v;
}

function roundTrip<T>(
  name: string,
  arb: fc.Arbitrary<T>,
  enc: (w: JuteWriter, x: T) => void,
  dec: (r: JuteReader) => T,
  size?: (x: T) => number,
): void {
  fc.assert(
    fc.property(arb, (x) => {
      const bytes = encode(enc, x);
      if (size && size(x) !== bytes.length) throw new Error(`${name}: size ${size(x)} != encoded ${bytes.length}`);
      const back = decodeWhole(dec, bytes);
      if (JSON.stringify(back, big) !== JSON.stringify(x, big)) throw new Error(`${name}: decoded record differs`);
      return encode(enc, back).equals(bytes);
    }),
    { numRuns: 200 },
  );
}

t.test('round trips of generated records', async (t) => {
  roundTrip('Stat', stat, R.encodeStat, R.decodeStat, R.sizeStat);
  roundTrip('ACL list', fc.record({ acl: acls, stat }), R.encodeGetACLResponse, R.decodeGetACLResponse, R.sizeGetACLResponse);
  roundTrip('SetACLRequest', fc.record({ path: str, acl: acls, version: int32 }), R.encodeSetACLRequest, R.decodeSetACLRequest, R.sizeSetACLRequest);
  roundTrip('CreateRequest', createRequest, R.encodeCreateRequest, R.decodeCreateRequest, R.sizeCreateRequest);
  roundTrip('SetWatches2', setWatches2, R.encodeSetWatches2, R.decodeSetWatches2, R.sizeSetWatches2);
  roundTrip(
    'ConnectRequest',
    fc.record({ protocolVersion: int32, lastZxidSeen: int64, timeOut: int32, sessionId: int64, passwd: buf, readOnly: fc.boolean() }),
    R.encodeConnectRequest,
    R.decodeConnectRequest,
    R.sizeConnectRequest,
  );
  roundTrip('ReplyHeader', fc.record({ xid: int32, zxid: int64, err: int32 }), R.encodeReplyHeader, R.decodeReplyHeader, R.sizeReplyHeader);
  roundTrip('WatcherEvent', fc.record({ type: int32, state: int32, path: str }), R.encodeWatcherEvent, R.decodeWatcherEvent, R.sizeWatcherEvent);
  t.pass('200 runs each');
});

t.test('multi request encoding round-trips through decodeMulti', async (t) => {
  fc.assert(
    fc.property(fc.array(multiOp, { maxLength: 8 }), (ops) => {
      const w = new JuteWriter(16);
      encodeMultiRequest(w, ops);
      const r = new JuteReader(w.toBuffer());
      const back = decodeMulti(r);
      if (r.remaining() !== 0) return false;
      return JSON.stringify(back, big) === JSON.stringify(ops, big);
    }),
    { numRuns: 300 },
  );
  t.pass('300 runs');
});

t.test('multi response encoding round-trips', async (t) => {
  fc.assert(
    fc.property(fc.array(multiResult, { maxLength: 8 }), (results) => {
      const w = new JuteWriter(16);
      encodeMultiResponse(w, results);
      const r = new JuteReader(w.toBuffer());
      const back = decodeMultiResponse(r);
      return r.remaining() === 0 && JSON.stringify(back, big) === JSON.stringify(results, big);
    }),
    { numRuns: 300 },
  );
  t.pass('300 runs');
});

t.test('decodeMulti: create2 in a multi is a plain create; flags pick container and TTL', async (t) => {
  const w = new JuteWriter(16);
  R.encodeMultiHeader(w, { type: OpCode.create2, done: false, err: -1 });
  R.encodeCreateRequest(w, { path: '/a', data: null, acl: [], flags: 0 });
  R.encodeMultiHeader(w, { type: OpCode.create, done: false, err: -1 });
  R.encodeCreateRequest(w, { path: '/c', data: null, acl: [], flags: 4 });
  R.encodeMultiHeader(w, { type: -1, done: true, err: -1 });
  const ops = decodeMulti(new JuteReader(w.toBuffer()));
  t.same(ops.map((o) => o.type), [OpCode.create, OpCode.createContainer]);
});

t.test('decodeMulti refuses an invalid op type; the number of ops is bounded by the bytes only', async (t) => {
  const w = new JuteWriter(16);
  R.encodeMultiHeader(w, { type: OpCode.exists, done: false, err: -1 });
  R.encodeExistsRequest(w, { path: '/a', watch: false });
  R.encodeMultiHeader(w, { type: -1, done: true, err: -1 });
  t.throws(() => decodeMulti(new JuteReader(w.toBuffer())), JuteError);

  const w2 = new JuteWriter(16);
  for (let i = 0; i < 50_000; i++) {
    R.encodeMultiHeader(w2, { type: OpCode.check, done: false, err: -1 });
    R.encodeCheckVersionRequest(w2, { path: '/a', version: 1 });
  }
  R.encodeMultiHeader(w2, { type: -1, done: true, err: -1 });
  t.equal(decodeMulti(new JuteReader(w2.toBuffer())).length, 50_000, '50,000 ops in a frame under jute.maxbuffer');
  // A multi without its done header is truncated.
  t.throws(() => decodeMulti(new JuteReader(w2.toBuffer().subarray(0, w2.pos - 9))), JuteError);
});

t.test('lengths below -1 are refused; -1 is null and counted', async (t) => {
  const neg = (n: number) => {
    const b = Buffer.alloc(8);
    b.writeInt32BE(n);
    return new JuteReader(b);
  };
  t.throws(() => neg(-5).readString(), JuteError, 'string length -5');
  t.throws(() => neg(-2).readBuffer(), JuteError, 'buffer length -2');
  t.throws(() => neg(-0x80000000).readString(), JuteError);
  const r = neg(-1);
  t.equal(r.readString(), '');
  t.equal(r.nullsRead, 1);
  const r2 = neg(-1);
  t.equal(r2.readBuffer(), null);
  t.equal(r2.nullsRead, 1);
  t.equal(neg(-5).readVectorLength(4), 0, 'a vector count below -1 is an empty vector, as in ZooKeeper');
});

// --- reader bounds ----------------------------------------------------------------------------

t.test('every truncation of a record throws JuteError with an offset inside the prefix', async (t) => {
  const cases: Array<[string, fc.Arbitrary<unknown>, (w: JuteWriter, x: never) => void, (r: JuteReader) => unknown]> = [
    ['Stat', stat, R.encodeStat, R.decodeStat],
    ['CreateRequest', createRequest, R.encodeCreateRequest, R.decodeCreateRequest],
    ['SetWatches2', setWatches2, R.encodeSetWatches2, R.decodeSetWatches2],
  ];
  for (const [name, arb, enc, dec] of cases) {
    fc.assert(
      fc.property(arb, fc.nat(), (x, cut) => {
        const bytes = encode(enc as (w: JuteWriter, x: unknown) => void, x);
        const n = cut % bytes.length;
        try {
          dec(new JuteReader(bytes.subarray(0, n)));
        } catch (e) {
          if (!(e instanceof JuteError)) throw e;
          return e.offset >= 0 && e.offset <= n && /at offset \d+$/.test(e.message);
        }
        throw new Error(`${name}: ${n} of ${bytes.length} bytes decoded without an error`);
      }),
      { numRuns: 300 },
    );
  }
  t.pass('300 runs each');
});

t.test('a reader honours its end, not the buffer', async (t) => {
  const b = Buffer.alloc(16, 0);
  const r = new JuteReader(b, 4, 8);
  t.equal(r.readInt(), 0);
  const e = t.throws(() => r.readInt(), JuteError) as unknown as JuteError;
  t.equal(e.offset, 8);
});

t.test('null and empty encodings', async (t) => {
  const w = new JuteWriter(4);
  w.writeInt(-1);
  w.writeInt(-1);
  w.writeInt(-1);
  const r = new JuteReader(w.toBuffer());
  t.equal(r.readBuffer(), null, 'buffer -1 is null');
  t.equal(r.readString(), '', 'string -1 reads as empty');
  t.equal(r.readVectorLength(4), 0, 'vector -1 reads as empty');
});

t.test('huge vector counts are refused before allocating', async (t) => {
  // A CreateRequest whose ACL count claims 2^31-1 entries in a few bytes.
  const w = new JuteWriter(16);
  w.writeString('/a');
  w.writeBuffer(null);
  const countAt = w.pos;
  w.writeInt(0x7fffffff);
  w.writeInt(0);
  const bytes = w.toBuffer();
  const e = t.throws(() => R.decodeCreateRequest(new JuteReader(bytes)), JuteError) as unknown as JuteError;
  // The generated decoder allocates the array only after readVectorLength: an error naming the
  // count's offset means nothing was allocated for it.
  t.equal(e.offset, countAt, 'the offset names the count');

  for (const count of [0x7fffffff, 1 << 20, 3]) {
    const v = new JuteWriter(16);
    v.writeLong(0n);
    v.writeInt(count);
    v.writeInt(0);
    t.throws(() => R.decodeSetWatches2(new JuteReader(v.toBuffer())), JuteError, `SetWatches2 with count ${count}`);
  }
  // Counts that need the remaining bytes exactly are fine.
  const ok = new JuteWriter(16);
  ok.writeInt(2);
  ok.writeInt(0);
  ok.writeInt(0);
  t.equal(new JuteReader(ok.toBuffer()).readVectorLength(4), 2);
  const notOk = new JuteReader(ok.toBuffer());
  t.throws(() => notOk.readVectorLength(5), JuteError, 'one byte short');
});

t.test('string and buffer lengths beyond the record throw', async (t) => {
  const w = new JuteWriter(8);
  w.writeInt(1000);
  w.writeInt(0);
  t.throws(() => new JuteReader(w.toBuffer()).readString(), JuteError);
  t.throws(() => new JuteReader(w.toBuffer()).readBuffer(), JuteError);
});

// --- the generator ----------------------------------------------------------------------------

t.test('parse errors name file and line', async (t) => {
  const cases: Array<[string, string, number]> = [
    ['bad character', 'module a {\n  class X {\n    int @x;\n  }\n}\n', 3],
    ['unsupported type', 'module a {\n  class X {\n    int a;\n    float f;\n  }\n}\n', 4],
    ['not a class', 'module a {\n  struct X {\n  }\n}\n', 2],
    ['missing semicolon', 'module a {\n  class X {\n    int a\n    int b;\n  }\n}\n', 4],
    ['unterminated comment', 'module a {\n /* no end\n}\n', 2],
    ['vector without >', 'module a {\n  class X {\n    vector<int x;\n  }\n}\n', 3],
    ['end of input inside a class', 'module a {\n  class X {\n    int a;\n', 3],
  ];
  for (const [name, src, line] of cases) {
    let msg = '';
    try {
      parseJute(src, 'x.jute');
    } catch (e) {
      msg = (e as Error).message;
    }
    t.match(msg, new RegExp(`^x\\.jute:${line}:`), `${name}: ${JSON.stringify(msg)}`);
  }
});

t.test('generate refuses unknown and duplicate records', async (t) => {
  t.throws(() => generate(parseJute('module a { class X { Y y; } }', 'x.jute')), /unknown record Y/);
  t.throws(() => generate(parseJute('module a { class X { int a; } } module b { class X { int b; } }', 'x.jute')), /defined twice/);
});

t.test('generate is deterministic and matches the checked-in module', async (t) => {
  const dir = path.join(ROOT, 'jute');
  const a = generateFromDir(dir);
  const b = generateFromDir(dir);
  t.equal(a, b, 'same output twice');
  const records = parseJute(fs.readFileSync(path.join(dir, 'zookeeper.jute'), 'utf8'), 'zookeeper.jute');
  t.equal(generate(records), generate(structuredClone(records)), 'same records, same text');
  t.equal(a, fs.readFileSync(path.join(ROOT, 'src/protocol/generated/records.ts'), 'utf8'), 'checked-in file is current');
});

t.test('generate --check', async (t) => {
  const script = path.join(ROOT, 'dist/jute/generate.js');
  const run = (out: string) => spawnSync(process.execPath, [script, '--check', 'jute', out], { cwd: ROOT, encoding: 'utf8' });
  const ok = run('src/protocol/generated/records.ts');
  t.equal(ok.status, 0, `up to date: ${ok.stderr}`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'jute-check-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const stale = path.join(tmp, 'records.ts');
  const current = fs.readFileSync(path.join(ROOT, 'src/protocol/generated/records.ts'), 'utf8');
  fs.writeFileSync(stale, current.replace('czxid: bigint;', 'czxid: number;'));
  const bad = run(stale);
  t.equal(bad.status, 1, 'a modified copy is stale');
  t.match(bad.stderr, /differs/);
  fs.writeFileSync(stale, current + '\n');
  t.equal(run(stale).status, 1, 'a trailing newline is a difference');
  t.equal(run(path.join(tmp, 'missing.ts')).status, 1, 'a missing file is stale');
  fs.writeFileSync(stale, current);
  t.equal(run(stale).status, 0, 'an exact copy is current');
});

t.test('longs are written and read as Buffer does, without its bigint arithmetic', async (t) => {
  const values = [0n, 1n, -1n, 255n, 256n, 0x7fffffffn, 0x80000000n, -0x80000000n, 0x7fffffffffffffffn, -0x8000000000000000n, 0x0102030405060708n, -0x0102030405060708n];
  for (let i = 0; i < 200; i++) values.push(BigInt.asIntN(64, BigInt(Math.floor(Math.random() * 2 ** 32)) * BigInt(Math.floor(Math.random() * 2 ** 32))));
  const ours = Buffer.alloc(11);
  const theirs = Buffer.alloc(11);
  for (const v of values) {
    // At an odd offset, between bytes that must stay as they are.
    ours.fill(0xee);
    theirs.fill(0xee);
    putLong(ours, 3, v);
    theirs.writeBigInt64BE(v, 3);
    if (!ours.equals(theirs)) t.fail(`putLong ${v}: ${ours.toString('hex')} vs ${theirs.toString('hex')}`);
    if (getLong(theirs, 3) !== v) t.fail(`getLong ${v}`);
  }
  t.pass(`${values.length} values agree`);
  putLong(ours, 0, 2n ** 64n + 5n);
  t.equal(ours.readBigInt64BE(0), 5n, 'a value past 64 bits is taken modulo 2^64');
  const w = new JuteWriter(1);
  w.writeLong(-2n);
  w.writeLong(0x1122334455667788n);
  const r = new JuteReader(w.toBuffer());
  t.equal(r.readLong(), -2n);
  t.equal(r.readLong(), 0x1122334455667788n);
  t.throws(() => r.readLong(), /truncated/);
});
