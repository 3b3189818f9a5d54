// The fault suite's third workload process, beside the Java and kazoo ones: the same command line and
// the same history format (FAULTS-SPEC.md "Workload process contract"), through the project's own
// raw test client. It runs the register and seq workloads (the counter, lock and watch workloads are
// the Java and kazoo processes' own). Usage:
//   node dist/scripts/faults/tsworkload.js --connect h:p,h:p --seed N --duration-ms D --out FILE
//     --workloads register,seq --processes K --session-timeout-ms 6000 --prefix ts [--value-base 2000]

import * as fs from 'node:fs';
import { Err, ErrName, OpCode } from '../../src/protocol/constants';
import * as R from '../../src/protocol/generated/records';
import { ZkClient } from '../../test/util/client';
import { SeededRandom } from './nemesis';

const OP_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 3_000;
const DRAIN_MS = 10_000;
const REGISTER_KEYS = 32;
const PERSISTENT_SEQUENTIAL = 2;

interface Args {
  connect: string[];
  seed: number;
  durationMs: number;
  out: string;
  workloads: string[];
  processes: number;
  sessionTimeoutMs: number;
  prefix: string;
  /** Register values are (valueBase + worker) * 1e6 + counter: Java's base is 0, kazoo's 1000. */
  valueBase: number;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string): string => {
    const i = argv.indexOf(`--${name}`);
    if (i < 0 || i + 1 >= argv.length) throw new Error(`missing --${name}`);
    return argv[i + 1];
  };
  const num = (name: string): number => {
    const v = Number(get(name));
    if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a non-negative integer`);
    return v;
  };
  const workloads = get('workloads').split(',').filter((w) => w !== '');
  for (const w of workloads) if (w !== 'register' && w !== 'seq') process.stderr.write(`tsworkload: workload ${w} is not this process's; skipped\n`);
  return {
    connect: get('connect').split(','),
    seed: num('seed'),
    durationMs: num('duration-ms'),
    out: get('out'),
    workloads: workloads.filter((w) => w === 'register' || w === 'seq'),
    processes: Math.max(1, num('processes')),
    sessionTimeoutMs: num('session-timeout-ms'),
    prefix: get('prefix'),
    valueBase: argv.includes('--value-base') ? num('value-base') : 2000,
  };
}

const hex = (z: bigint): string => `0x${z.toString(16)}`;

/** Settles with the reply, or with 'info' when the outcome cannot be known. */
type Outcome = { kind: 'reply'; err: number; reader: R.Stat | unknown; reply: Awaited<ReturnType<ZkClient['request']>> } | { kind: 'info'; why: string };

async function call(c: ZkClient, send: () => Promise<Awaited<ReturnType<ZkClient['request']>>>): Promise<Outcome> {
  try {
    const reply = await send();
    return { kind: 'reply', err: reply.header.err, reader: undefined, reply };
  } catch (err) {
    return { kind: 'info', why: (err as Error).message };
  }
}

class Worker {
  private client: ZkClient | undefined;
  private member: string | null = null;
  private next = 0;
  private counter = 0;
  private readonly rnd: SeededRandom;
  /** The mutation in flight: written as `info` if the process ends before its reply. */
  private pending: Record<string, unknown> | undefined;

  constructor(
    private readonly a: Args,
    private readonly index: number,
    private readonly write: (line: object) => void,
    private readonly endAt: number,
  ) {
    this.rnd = new SeededRandom(a.seed * 1000 + index);
    // Worker w puts member (w mod n) first.
    this.next = index % a.connect.length;
  }

  private emit(line: object): void {
    this.pending = undefined;
    this.write(line);
  }

  /** Records the mutation in flight, if any, as `info`. */
  abandon(): void {
    if (this.pending) this.emit({ ...this.pending, status: 'info', out: null, err: 'still outstanding at the end', t1: null });
  }

  get proc(): string {
    return `${this.a.prefix}-${this.index}`;
  }

  private async session(): Promise<ZkClient | undefined> {
    if (this.client && !this.client.closed) return this.client;
    this.client?.destroy();
    this.client = undefined;
    for (let i = 0; i < this.a.connect.length; i++) {
      const hp = this.a.connect[this.next];
      this.next = (this.next + 1) % this.a.connect.length;
      const [host, port] = hp.split(':');
      try {
        const c = await ZkClient.connect(host, Number(port), { timeoutMs: this.a.sessionTimeoutMs }, CONNECT_TIMEOUT_MS);
        if (c.sessionId === 0n || c.connectResponse.timeOut <= 0) {
          c.destroy();
          continue;
        }
        this.client = c;
        this.member = hp;
        return c;
      } catch {
        // Next member.
      }
    }
    return undefined;
  }

  private stopping(): boolean {
    return Date.now() >= this.endAt;
  }

  private value(): number {
    return (this.a.valueBase + this.index) * 1_000_000 + ++this.counter;
  }

  async op(): Promise<void> {
    const c = await this.session();
    if (!c || this.stopping()) {
      await new Promise((r) => setTimeout(r, 200));
      return;
    }
    const sessionHex = hex(c.sessionId);
    const member = this.member;
    const wl = this.a.workloads.length === 1 ? this.a.workloads[0] : this.rnd.next() < 0.75 ? 'register' : 'seq';
    const base = { proc: this.proc, wl, session: sessionHex, member };
    if (wl === 'seq') {
      const t0 = process.hrtime.bigint();
      this.pending = { ...base, f: 'seq-create', key: '/faults/seq', in: {}, t0 };
      const o = await call(c, () => c.request(OpCode.create, (w) => R.encodeCreateRequest(w, { path: '/faults/seq/n-', data: Buffer.alloc(0), acl: OPEN, flags: PERSISTENT_SEQUENTIAL }), { timeoutMs: OP_TIMEOUT_MS }));
      const t1 = process.hrtime.bigint();
      if (o.kind === 'reply' && o.err === Err.OK) {
        const name = R.decodeCreateResponse(o.reply.reader).path.split('/').pop();
        this.emit({ ...base, f: 'seq-create', key: '/faults/seq', in: {}, status: 'ok', out: { name }, err: null, t0, t1 });
      } else this.finishUnknown(base, 'seq-create', '/faults/seq', {}, o, t0, t1);
      return;
    }
    const key = `/faults/reg/${this.rnd.int(0, REGISTER_KEYS - 1)}`;
    const r = this.rnd.next();
    const f = r < 0.3 ? 'read' : r < 0.4 ? 'sync-read' : r < 0.65 ? 'write' : r < 0.9 ? 'cas' : r < 0.95 ? 'create' : 'delete';
    const t0 = process.hrtime.bigint();
    if (f === 'read' || f === 'sync-read') {
      if (f === 'sync-read') {
        const s = await call(c, () => c.request(OpCode.sync, (w) => R.encodeSyncRequest(w, { path: key }), { timeoutMs: OP_TIMEOUT_MS }));
        if (s.kind !== 'reply' || s.err !== Err.OK) return this.finishUnknown(base, f, key, {}, s, t0, process.hrtime.bigint());
      }
      const o = await call(c, () => c.getData(key));
      const t1 = process.hrtime.bigint();
      if (o.kind === 'reply' && o.err === Err.OK) {
        const { data, stat } = R.decodeGetDataResponse(o.reply.reader);
        const out = { exists: true, value: Number((data ?? Buffer.alloc(0)).toString('utf8')), version: stat.version, mzxid: hex(stat.mzxid) };
        this.emit({ ...base, f, key, in: {}, status: 'ok', out, err: null, t0, t1 });
      } else if (o.kind === 'reply' && o.err === Err.NONODE) {
        this.emit({ ...base, f, key, in: {}, status: 'ok', out: { exists: false }, err: null, t0, t1 });
      } else this.finishUnknown(base, f, key, {}, o, t0, t1);
      return;
    }
    if (f === 'write' || f === 'cas') {
      const value = this.value();
      let expectedVersion = -1;
      if (f === 'cas') {
        // The version to expect: a read first, outside the op's own interval.
        const g = await call(c, () => c.getData(key));
        if (g.kind !== 'reply' || g.err !== Err.OK) return;
        expectedVersion = R.decodeGetDataResponse(g.reply.reader).stat.version;
      }
      const t0w = process.hrtime.bigint();
      this.pending = { ...base, f, key, in: f === 'cas' ? { value, expectedVersion } : { value }, t0: t0w };
      const o = await call(c, () => c.request(OpCode.setData, (w) => R.encodeSetDataRequest(w, { path: key, data: Buffer.from(String(value)), version: expectedVersion }), { timeoutMs: OP_TIMEOUT_MS }));
      const t1 = process.hrtime.bigint();
      const input = f === 'cas' ? { value, expectedVersion } : { value };
      if (o.kind === 'reply' && o.err === Err.OK) {
        const stat = R.decodeStat(o.reply.reader);
        this.emit({ ...base, f, key, in: input, status: 'ok', out: { version: stat.version, mzxid: hex(stat.mzxid) }, err: null, t0: t0w, t1 });
      } else this.finishUnknown(base, f, key, input, o, t0w, t1);
      return;
    }
    if (f === 'create') {
      const value = this.value();
      this.pending = { ...base, f, key, in: { value }, t0 };
      const o = await call(c, () => c.request(OpCode.create2, (w) => R.encodeCreateRequest(w, { path: key, data: Buffer.from(String(value)), acl: OPEN, flags: 0 }), { timeoutMs: OP_TIMEOUT_MS }));
      const t1 = process.hrtime.bigint();
      if (o.kind === 'reply' && o.err === Err.OK) {
        const { stat } = R.decodeCreate2Response(o.reply.reader);
        this.emit({ ...base, f, key, in: { value }, status: 'ok', out: { mzxid: hex(stat.mzxid) }, err: null, t0, t1 });
      } else this.finishUnknown(base, f, key, { value }, o, t0, t1);
      return;
    }
    this.pending = { ...base, f, key, in: { expectedVersion: -1 }, t0 };
    const o = await call(c, () => c.request(OpCode.delete, (w) => R.encodeDeleteRequest(w, { path: key, version: -1 }), { timeoutMs: OP_TIMEOUT_MS }));
    const t1 = process.hrtime.bigint();
    if (o.kind === 'reply' && o.err === Err.OK) this.emit({ ...base, f, key, in: { expectedVersion: -1 }, status: 'ok', out: {}, err: null, t0, t1 });
    else this.finishUnknown(base, f, key, { expectedVersion: -1 }, o, t0, t1);
  }

  /** A reply with an error code is `fail` when the code says the op did nothing, else `info`. */
  private finishUnknown(base: object, f: string, key: string, input: object, o: Outcome, t0: bigint, t1: bigint): void {
    if (o.kind === 'reply' && DEFINITE.has(o.err)) {
      this.emit({ ...base, f, key, in: input, status: 'fail', out: null, err: ErrName[o.err] ?? String(o.err), t0, t1 });
      return;
    }
    const why = o.kind === 'info' ? o.why : (ErrName[o.err] ?? String(o.err));
    this.emit({ ...base, f, key, in: input, status: 'info', out: null, err: why, t0, t1: null });
    // The session's state is unknown: the next op starts a new one.
    this.client?.destroy();
    this.client = undefined;
  }

  async close(): Promise<void> {
    if (this.client) await this.client.close(2000).catch(() => undefined);
    this.client?.destroy();
  }
}

const OPEN: R.ACL[] = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];
// Codes after which the op certainly did not take effect.
const DEFINITE = new Set<number>([Err.BADVERSION, Err.NONODE, Err.NODEEXISTS, Err.NOTEMPTY]);

async function main(): Promise<number> {
  let a: Args;
  try {
    a = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`tsworkload: ${(err as Error).message}\n`);
    return 2;
  }
  let fd: number;
  try {
    fd = fs.openSync(a.out, 'a');
  } catch (err) {
    process.stderr.write(`tsworkload: cannot write ${a.out}: ${(err as Error).message}\n`);
    return 2;
  }
  let finished = false;
  const write = (line: object): void => {
    if (finished) return;
    fs.writeSync(fd, `${JSON.stringify(line, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))}\n`);
  };
  const endAt = Date.now() + a.durationMs;
  const workers = Array.from({ length: a.processes }, (_, i) => new Worker(a, i, write, endAt));
  // Each worker's ops are sequential; an op is bounded by OP_TIMEOUT_MS, so the drain is bounded too.
  const loops = workers.map(async (w) => {
    while (Date.now() < endAt) await w.op();
  });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(loops), new Promise((r) => (timer = setTimeout(r, a.durationMs + DRAIN_MS)))]);
  clearTimeout(timer);
  for (const w of workers) w.abandon();
  finished = true;
  await Promise.all(workers.map((w) => w.close()));
  fs.closeSync(fd);
  return 0;
}

main().then((code) => process.exit(code));
