/**
 * The "null server": speaks the client protocol but keeps no state and touches no disk; every
 * request gets a canned, well-formed reply. What a client can get from this machine through it is
 * the ceiling the benchmark compares the real servers with.
 * Run: node dist/scripts/bench/nullserver.js <port>
 */
import * as net from 'node:net';
import { OpCode } from '../../src/protocol/constants';
import { FrameDecoder } from '../../src/protocol/frame';
import { JuteReader, JuteWriter } from '../../src/protocol/jute';
import * as R from '../../src/protocol/generated/records';
import { decodeMulti, encodeMultiResponse, type MultiResult } from '../../src/protocol/requests';

const STAT: R.Stat = { czxid: 1n, mzxid: 1n, ctime: 0n, mtime: 0n, version: 0, cversion: 0, aversion: 0, ephemeralOwner: 0n, dataLength: 100, numChildren: 10, pzxid: 1n };
const DATA = Buffer.alloc(100, 0x61);
const CHILDREN = Array.from({ length: 10 }, (_, i) => `c${i}`);
let nextSession = 1n;

function serve(socket: net.Socket): void {
  socket.setNoDelay(true);
  let connected = false;
  const w = new JuteWriter(4096);
  const out: Buffer[] = [];
  let scheduled = false;
  const send = (body: (w: JuteWriter) => void) => {
    w.reset();
    w.writeInt(0);
    body(w);
    w.buf.writeInt32BE(w.pos - 4, 0);
    out.push(w.toBuffer());
    if (!scheduled) {
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        socket.write(out.length === 1 ? out[0] : Buffer.concat(out));
        out.length = 0;
      });
    }
  };
  const decoder = new FrameDecoder(0xfffff, { onFrame: (frame: Buffer) => {
    const r = new JuteReader(frame);
    if (!connected) {
      connected = true;
      send((w) => R.encodeConnectResponse(w, { protocolVersion: 0, timeOut: 30000, sessionId: nextSession++, passwd: Buffer.alloc(16), readOnly: false }));
      return;
    }
    const h = R.decodeRequestHeader(r);
    send((w) => {
      R.encodeReplyHeader(w, { xid: h.xid, zxid: 1n, err: 0 });
      switch (h.type) {
        case OpCode.getData:
          R.encodeGetDataResponse(w, { data: DATA, stat: STAT });
          break;
        case OpCode.exists:
          R.encodeExistsResponse(w, { stat: STAT });
          break;
        case OpCode.getChildren:
          R.encodeGetChildrenResponse(w, { children: CHILDREN });
          break;
        case OpCode.getChildren2:
          R.encodeGetChildren2Response(w, { children: CHILDREN, stat: STAT });
          break;
        case OpCode.setData:
          R.encodeSetDataResponse(w, { stat: STAT });
          break;
        case OpCode.create:
          R.encodeCreateResponse(w, { path: R.decodeCreateRequest(r).path });
          break;
        case OpCode.create2:
          R.encodeCreate2Response(w, { path: R.decodeCreateRequest(r).path, stat: STAT });
          break;
        case OpCode.multi: {
          const results: MultiResult[] = decodeMulti(r).map((op) => (op.type === OpCode.create ? { type: OpCode.create, path: op.record.path } : { type: OpCode.delete }));
          encodeMultiResponse(w, results);
          break;
        }
        default:
          break;
      }
    });
    if (h.type === OpCode.closeSession) setImmediate(() => socket.end());
  } });
  socket.on('data', (d: Buffer) => {
    try {
      decoder.push(d);
    } catch {
      socket.destroy();
    }
  });
  socket.on('error', () => undefined);
}

const port = Number(process.argv[2] ?? 2181);
net.createServer(serve).listen(port, '127.0.0.1', () => process.stdout.write(`null server on 127.0.0.1:${port}\n`));
