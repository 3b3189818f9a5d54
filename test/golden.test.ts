// Golden bytes: a real Apache ZooKeeper 3.8 exchange (test/golden/exchange-3.8.json). Every frame
// decodes with the generated codecs and re-encodes to the same bytes, and zkts answers the same
// requests with the same bytes, except the fields that vary between runs (times, session ids).
import t from 'tap';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { JuteReader, JuteWriter } from '../src/protocol/jute';
import * as R from '../src/protocol/generated/records';
import { OpCode } from '../src/protocol/constants';
import { decodeConnectRequest, decodeRequestBody } from '../src/protocol/requests';
import { startZkts } from './util/servers';

interface Frame {
  name: string;
  direction: 'request' | 'response';
  xid: number | null;
  opcode?: number;
  hex: string;
  varies: { offset: number; length: number; field: string }[];
}

const frames: Frame[] = JSON.parse(fs.readFileSync(path.join(__dirname, '../../test/golden/exchange-3.8.json'), 'utf8'));

function roundTrip<T>(buf: Buffer, decode: (r: JuteReader) => T, encode: (w: JuteWriter, x: T) => void): Buffer {
  const rec = decode(new JuteReader(buf));
  const w = new JuteWriter(16);
  encode(w, rec);
  return w.toBuffer();
}

t.test('every golden frame decodes and re-encodes to the same bytes', async (t) => {
  for (const f of frames) {
    const buf = Buffer.from(f.hex, 'hex');
    t.equal(buf.readInt32BE(0), buf.length - 4, `${f.name}: length prefix`);
    const body = buf.subarray(4);
    if (f.name === 'connect') {
      const out = f.direction === 'request'
        ? roundTrip(body, decodeConnectRequest, R.encodeConnectRequest)
        : roundTrip(body, R.decodeConnectResponse, R.encodeConnectResponse);
      t.equal(out.toString('hex'), body.toString('hex'), `${f.name} ${f.direction}`);
      continue;
    }
    if (f.direction === 'request') {
      const r = new JuteReader(body);
      const hdr = R.decodeRequestHeader(r);
      t.equal(hdr.xid, f.xid, `${f.name}: xid`);
      t.equal(hdr.type, f.opcode, `${f.name}: opcode`);
      decodeRequestBody(hdr.type, r);
      t.equal(r.remaining(), 0, `${f.name}: request body fully consumed`);
    } else {
      const r = new JuteReader(body);
      const hdr = R.decodeReplyHeader(r);
      t.equal(hdr.xid, f.xid, `${f.name}: reply xid`);
      if (hdr.xid === -1) {
        const ev = R.decodeWatcherEvent(r);
        t.equal(ev.path, '/golden');
      } else if (hdr.err === 0) {
        switch (f.opcode) {
          case OpCode.create: R.decodeCreateResponse(r); break;
          case OpCode.create2: R.decodeCreate2Response(r); break;
          case OpCode.exists: R.decodeExistsResponse(r); break;
          case OpCode.getData: R.decodeGetDataResponse(r); break;
          case OpCode.setData: R.decodeSetDataResponse(r); break;
          case OpCode.getChildren2: R.decodeGetChildren2Response(r); break;
          case OpCode.getACL: R.decodeGetACLResponse(r); break;
          case OpCode.multi:
            for (;;) {
              const mh = R.decodeMultiHeader(r);
              if (mh.done) break;
              if (mh.type === -1) R.decodeErrorResponse(r);
              else if (mh.type === OpCode.create) R.decodeCreateResponse(r);
              else if (mh.type === OpCode.setData) R.decodeSetDataResponse(r);
            }
            break;
          default:
            break;
        }
      }
      t.equal(r.remaining(), 0, `${f.name}: response body fully consumed`);
    }
  }
});

function masked(hex: string, varies: Frame['varies']): string {
  const b = Buffer.from(hex, 'hex');
  for (const v of varies) b.fill(0xaa, v.offset, v.offset + v.length);
  return b.toString('hex');
}

/** Reads whole frames off a socket. */
class FrameReader {
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  constructor(sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiters.splice(0).forEach((w) => w());
    });
  }
  async next(timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buf.length >= 4) {
        const len = this.buf.readInt32BE(0);
        if (this.buf.length >= 4 + len) {
          const f = this.buf.subarray(0, 4 + len);
          this.buf = this.buf.subarray(4 + len);
          return f;
        }
      }
      if (Date.now() > deadline) throw new Error('timed out waiting for a frame');
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }
}

t.test('zkts answers the golden requests with the golden bytes', async (t) => {
  const server = await startZkts();
  t.teardown(() => server.stop());
  const sock = net.connect(server.port, server.host);
  await new Promise((resolve) => sock.once('connect', resolve));
  const reader = new FrameReader(sock);
  let i = 0;
  while (i < frames.length) {
    const req = frames[i++];
    t.equal(req.direction, 'request');
    sock.write(Buffer.from(req.hex, 'hex'));
    while (i < frames.length && frames[i].direction === 'response') {
      const expected = frames[i++];
      const got = (await reader.next()).toString('hex');
      t.equal(masked(got, expected.varies), masked(expected.hex, expected.varies), `${expected.name}`);
    }
  }
  sock.destroy();
});
