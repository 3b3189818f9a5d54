// FrameDecoder: however the stream is cut into chunks, the same frames come out; bad lengths are
// refused at the length, before any body bytes are buffered.
import t from 'tap';
import fc from 'fast-check';
import { FrameDecoder, FrameError } from '../src/protocol/frame';

function encodeFrames(frames: Buffer[]): Buffer {
  return Buffer.concat(
    frames.flatMap((f) => {
      const len = Buffer.alloc(4);
      len.writeInt32BE(f.length);
      return [len, f];
    }),
  );
}

/** Cuts `stream` at the given offsets (any order, duplicates allowed). */
function split(stream: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, stream.length]) {
    out.push(stream.subarray(prev, p));
    prev = p;
  }
  return out;
}

function decodeAll(chunks: Buffer[], max = 1 << 20): { frames: Buffer[]; decoder: FrameDecoder } {
  const frames: Buffer[] = [];
  // Frames may be views of the chunk: copy, as a consumer that keeps them must.
  const decoder = new FrameDecoder(max, { onFrame: (f) => frames.push(Buffer.from(f)) });
  for (const c of chunks) decoder.push(c);
  return { frames, decoder };
}

t.test('any split of a stream of frames yields the same frames', async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 40 }),
      (bodies, cuts) => {
        const frames = bodies.map((b) => Buffer.from(b));
        const stream = encodeFrames(frames);
        const { frames: got, decoder } = decodeAll(split(stream, cuts));
        if (got.length !== frames.length) return false;
        for (let i = 0; i < frames.length; i++) if (!got[i].equals(frames[i])) return false;
        return decoder.bufferedBytes === 0;
      },
    ),
    { numRuns: 500 },
  );
  t.pass('500 random splits');
});

t.test('byte-at-a-time feeding', async (t) => {
  const frames = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(1000, 7), Buffer.from('xyz')];
  const stream = encodeFrames(frames);
  const chunks = [...stream].map((b) => Buffer.from([b]));
  const { frames: got } = decodeAll(chunks);
  t.same(got, frames);
});

t.test('a partial frame is held and counted', async (t) => {
  const stream = encodeFrames([Buffer.alloc(10, 1)]);
  const { frames, decoder } = decodeAll([stream.subarray(0, 2)]);
  t.equal(frames.length, 0);
  t.equal(decoder.bufferedBytes, 2, 'two length bytes');
  decoder.push(stream.subarray(2, 9));
  t.equal(decoder.bufferedBytes, 5, 'five body bytes');
  decoder.push(stream.subarray(9));
  t.equal(frames.length, 1);
  t.equal(decoder.bufferedBytes, 0);
});

t.test('length limits', async (t) => {
  const max = 100;
  const lengthOnly = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(n);
    return b;
  };
  t.throws(() => decodeAll([lengthOnly(-1)], max), FrameError, 'negative length');
  t.throws(() => decodeAll([lengthOnly(-0x80000000)], max), FrameError, 'most negative length');
  t.throws(() => decodeAll([lengthOnly(max + 1)], max), FrameError, 'one over the limit');
  t.throws(() => decodeAll([lengthOnly(0x7fffffff)], max), FrameError, 'huge length');
  // The length split across chunks is checked just the same.
  const big = lengthOnly(max + 1);
  t.throws(() => decodeAll([big.subarray(0, 1), big.subarray(1, 3), big.subarray(3)], max), FrameError, 'split length');
  // Refused before the body: no bytes of it are needed, none are held.
  const d = new FrameDecoder(max, { onFrame: () => undefined });
  t.throws(() => d.push(lengthOnly(max + 1)));
  t.equal(d.bufferedBytes, 0, 'nothing buffered for a refused frame');

  const { frames } = decodeAll([encodeFrames([Buffer.alloc(max, 3)])], max);
  t.equal(frames.length, 1, 'exactly the limit is accepted');
  t.equal(frames[0].length, max);
  const { frames: empty } = decodeAll([encodeFrames([Buffer.alloc(0)])], max);
  t.same(empty, [Buffer.alloc(0)], 'an empty frame is a frame');
});

t.test('frames before a bad length are delivered', async (t) => {
  const good = encodeFrames([Buffer.from('ok')]);
  const bad = Buffer.alloc(4);
  bad.writeInt32BE(-5);
  const frames: Buffer[] = [];
  const d = new FrameDecoder(100, { onFrame: (f) => frames.push(Buffer.from(f)) });
  t.throws(() => d.push(Buffer.concat([good, bad])), FrameError);
  t.same(frames, [Buffer.from('ok')]);
});

t.test('a held decoder hands out no frame, keeps the bytes in order, and goes on from them', async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 30 }),
      fc.array(fc.nat(2000), { maxLength: 12 }),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 20 }),
      (bodies, cuts, pattern) => {
        const frames = bodies.map((b) => Buffer.from(b));
        const got: Buffer[] = [];
        let ready = true;
        let step = 0;
        let whileHeld = 0;
        // The consumer holds the decoder after some frames, as a connection does past its soft bound.
        const d = new FrameDecoder(1 << 20, {
          onFrame: (f) => {
            if (!ready) whileHeld++;
            got.push(Buffer.from(f));
            ready = pattern[step++ % pattern.length];
          },
          readyForFrame: () => ready,
        });
        for (const chunk of split(encodeFrames(frames), cuts)) d.push(chunk);
        for (let i = 0; i < frames.length * 2 + 2 && got.length < frames.length; i++) {
          ready = true;
          d.resume();
        }
        // Frames are whole here (no frame straddles a hold), so none may come while held.
        return whileHeld === 0 && got.length === frames.length && got.every((f, i) => f.equals(frames[i])) && d.bufferedBytes === 0;
      },
    ),
  );
  t.pass('every frame, once, in order; none while held');
});

t.test('bytes received while held are bounded', async (t) => {
  const d = new FrameDecoder(1 << 20, { onFrame: () => undefined, readyForFrame: () => false }, 100);
  d.push(Buffer.alloc(60));
  t.equal(d.bufferedBytes, 60);
  t.throws(() => d.push(Buffer.alloc(60)), FrameError, 'past the bound the connection is refused');
  d.clear();
  t.equal(d.bufferedBytes, 0, 'clear drops what was held');
});
