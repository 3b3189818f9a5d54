/**
 * Measures the 64-bit integer representations zkts could use for zxids, session ids and times:
 * native bigint (Buffer.readBigInt64BE / writeBigInt64BE) against the `long` package
 * (Long.fromBits over two 32-bit reads). Run: node dist/scripts/bench-int64.js
 */
import Long from 'long';

const N = 5_000_000;
const buf = Buffer.alloc(8 * 1024);
for (let i = 0; i < buf.length; i += 8) buf.writeBigInt64BE(BigInt(i) * 0x100000001n, i);

function time(name: string, fn: () => number): void {
  fn();
  const t0 = process.hrtime.bigint();
  const sink = fn();
  const ns = Number(process.hrtime.bigint() - t0);
  process.stdout.write(`${name.padEnd(34)} ${(ns / N).toFixed(2)} ns/op  (sink ${sink})\n`);
}

time('bigint read', () => {
  let acc = 0n;
  for (let i = 0; i < N; i++) acc ^= buf.readBigInt64BE((i & 1023) * 8);
  return Number(acc & 0xffn);
});
time('long read', () => {
  let acc = Long.ZERO;
  for (let i = 0; i < N; i++) {
    const o = (i & 1023) * 8;
    acc = acc.xor(Long.fromBits(buf.readInt32BE(o + 4), buf.readInt32BE(o)));
  }
  return acc.low & 0xff;
});
time('bigint write', () => {
  let v = 1n;
  for (let i = 0; i < N; i++) {
    buf.writeBigInt64BE(v, (i & 1023) * 8);
    v++;
  }
  return Number(v & 0xffn);
});
time('long write', () => {
  let v = Long.ONE;
  for (let i = 0; i < N; i++) {
    const o = (i & 1023) * 8;
    buf.writeInt32BE(v.high, o);
    buf.writeInt32BE(v.low, o + 4);
    v = v.add(Long.ONE);
  }
  return v.low & 0xff;
});
time('bigint compare (zxid > zxid)', () => {
  let c = 0;
  let a = 0x100000000n;
  for (let i = 0; i < N; i++) {
    if (a > 0x100000005n) c++;
    a++;
  }
  return c;
});
time('long compare (zxid > zxid)', () => {
  let c = 0;
  let a = Long.fromNumber(0x100000000);
  const b = Long.fromNumber(0x100000005);
  for (let i = 0; i < N; i++) {
    if (a.greaterThan(b)) c++;
    a = a.add(Long.ONE);
  }
  return c;
});
