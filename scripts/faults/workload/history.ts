// Reads a workload history (FAULTS-SPEC "History line") and checks that it is well-formed by the
// contract: every line parses, every field is there with its type, the op names and their `in` and
// `out` fit the workload, zxids are hex, times are CLOCK_MONOTONIC nanoseconds (read exactly, as
// bigint), and the ops of one proc never overlap. Whether the history is *correct* is the checker's
// business (porcupine); this is what every consumer may rely on before that.

export type Workload = 'register' | 'seq' | 'counter' | 'lock' | 'watch';
export type Status = 'ok' | 'fail' | 'info';

export interface HistoryOp {
  proc: string;
  wl: Workload;
  f: string;
  key: string;
  in: Record<string, unknown>;
  status: Status;
  out: Record<string, unknown> | null;
  err: string | null;
  t0: bigint;
  t1: bigint | null;
  session: string | null;
  member: string | null;
  /** 1-based line number in the file. */
  line: number;
}

export interface ParsedHistory {
  ops: HistoryOp[];
  /** One entry per violation of the contract, with its line number; empty when well-formed. */
  problems: string[];
}

const OPS: Record<Workload, readonly string[]> = {
  register: ['read', 'sync-read', 'write', 'cas', 'create', 'delete'],
  seq: ['seq-create'],
  counter: ['incr', 'read-both', 'read-a-then-b'],
  lock: ['acquire', 'release', 'lost'],
  watch: ['event', 'state'],
};
const FIELDS = ['proc', 'wl', 'f', 'key', 'in', 'status', 'out', 'err', 't0', 't1', 'session', 'member'] as const;
const HEX = /^0x[0-9a-f]+$/;
const MEMBER = /^[^\s:]+:\d{1,5}$/;
const CODE_NAME = /^[A-Z][A-Z_]*$/;
const SEQ_NAME = /^n-\d{10}$/;
const EVENT_TYPES = new Set(['NodeDataChanged', 'NodeCreated', 'NodeDeleted']);
const STATES = new Set(['Disconnected', 'SyncConnected', 'Expired']);
// Instantaneous ops: t0 = t1.
const INSTANT = new Set(['lost', 'event', 'state']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isInt(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v);
}

// The times are read from the text as bigint: JSON numbers past 2^53 lose digits in JSON.parse.
// A key inside a JSON string has its quotes escaped, so these patterns only meet the real fields.
function timeField(text: string, name: 't0' | 't1'): bigint | null | undefined {
  const m = new RegExp(`"${name}":(-?\\d+|null)[,}]`).exec(text);
  if (!m) return undefined;
  return m[1] === 'null' ? null : BigInt(m[1]);
}

function checkIn(op: HistoryOp, bad: (what: string) => void): void {
  const i = op.in;
  const needInts = (...names: string[]): void => {
    for (const n of names) if (!isInt(i[n])) bad(`in.${n} is not an integer`);
  };
  switch (op.f) {
    case 'write':
    case 'create':
      needInts('value');
      break;
    case 'cas':
      needInts('value', 'expectedVersion');
      break;
    case 'delete':
      needInts('expectedVersion');
      break;
    case 'incr':
      needInts('from', 'va', 'vb');
      break;
    default:
      break;
  }
}

function checkOut(op: HistoryOp, bad: (what: string) => void): void {
  const o = op.out!;
  const hex = (n: string): void => {
    if (typeof o[n] !== 'string' || !HEX.test(o[n] as string)) bad(`out.${n} is not a hex zxid`);
  };
  const ints = (...names: string[]): void => {
    for (const n of names) if (!isInt(o[n])) bad(`out.${n} is not an integer`);
  };
  switch (op.f) {
    case 'read':
    case 'sync-read':
      if (o.exists === true) {
        ints('value', 'version');
        hex('mzxid');
      } else if (o.exists !== false) {
        bad('out.exists is not a boolean');
      }
      break;
    case 'write':
    case 'cas':
      ints('version');
      hex('mzxid');
      break;
    case 'create':
      hex('mzxid');
      break;
    case 'seq-create':
      if (typeof o.name !== 'string' || !SEQ_NAME.test(o.name)) bad(`out.name ${JSON.stringify(o.name)} is not a sequential name`);
      break;
    case 'incr':
      ints('to');
      if (isInt(o.to) && isInt(op.in.from) && o.to !== (op.in.from as number) + 1) bad('out.to is not in.from + 1');
      break;
    case 'read-both':
    case 'read-a-then-b':
      ints('a', 'b');
      break;
    case 'event':
      if (typeof o.type !== 'string' || !EVENT_TYPES.has(o.type)) bad(`out.type ${JSON.stringify(o.type)}`);
      if (typeof o.path !== 'string' || !o.path.startsWith('/')) bad('out.path is not a path');
      if (o.zxid !== null && (typeof o.zxid !== 'string' || !HEX.test(o.zxid))) bad('out.zxid is neither null nor a hex zxid');
      break;
    case 'state':
      if (typeof o.state !== 'string' || !STATES.has(o.state)) bad(`out.state ${JSON.stringify(o.state)}`);
      break;
    default:
      break;
  }
}

export function parseHistory(text: string): ParsedHistory {
  const ops: HistoryOp[] = [];
  const problems: string[] = [];
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    const bad = (what: string): void => {
      problems.push(`line ${lineNo}: ${what}: ${raw.length > 300 ? raw.slice(0, 300) + '...' : raw}`);
    };
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (err) {
      bad(`not JSON (${(err as Error).message})`);
      return;
    }
    if (!isObject(v)) return bad('not an object');
    for (const field of FIELDS) if (!(field in v)) return bad(`no field ${field}`);
    const t0 = timeField(raw, 't0');
    const t1 = timeField(raw, 't1');
    if (typeof v.t0 !== 'number' || t0 === undefined || t0 === null) return bad('t0 is not an integer');
    if (!(v.t1 === null || typeof v.t1 === 'number') || t1 === undefined) return bad('t1 is neither an integer nor null');
    if (typeof v.proc !== 'string' || v.proc === '') return bad('proc is not a name');
    if (typeof v.wl !== 'string' || !(v.wl in OPS)) return bad(`unknown wl ${JSON.stringify(v.wl)}`);
    const wl = v.wl as Workload;
    if (typeof v.f !== 'string' || !OPS[wl].includes(v.f)) return bad(`unknown f ${JSON.stringify(v.f)} for ${wl}`);
    if (typeof v.key !== 'string' || !v.key.startsWith('/')) return bad('key is not a path');
    if (!isObject(v.in)) return bad('in is not an object');
    if (v.status !== 'ok' && v.status !== 'fail' && v.status !== 'info') return bad(`status ${JSON.stringify(v.status)}`);
    if (v.session !== null && (typeof v.session !== 'string' || !HEX.test(v.session))) return bad('session is neither null nor hex');
    if (v.member !== null && (typeof v.member !== 'string' || !MEMBER.test(v.member))) return bad('member is neither null nor host:port');
    const op: HistoryOp = {
      proc: v.proc,
      wl,
      f: v.f,
      key: v.key,
      in: v.in,
      status: v.status,
      out: isObject(v.out) ? v.out : null,
      err: typeof v.err === 'string' ? v.err : null,
      t0,
      t1,
      session: v.session as string | null,
      member: v.member as string | null,
      line: lineNo,
    };
    checkIn(op, bad);
    switch (op.status) {
      case 'ok':
        if (op.out === null) bad('an ok op without out');
        else checkOut(op, bad);
        if (v.err !== null) bad('an ok op with err');
        if (t1 === null) bad('an ok op without t1');
        break;
      case 'fail':
        if (v.out !== null) bad('a failed op with out');
        if (op.err === null || !CODE_NAME.test(op.err)) bad(`a failed op's err ${JSON.stringify(v.err)} is not a code name`);
        if (t1 === null) bad('a failed op without t1');
        break;
      case 'info':
        if (v.out !== null) bad('an info op with out');
        if (t1 !== null) bad('an info op with t1');
        if (v.err !== null && typeof v.err !== 'string') bad('err is neither null nor a string');
        break;
    }
    if (t1 !== null && t1 < t0) bad('t1 before t0');
    if (INSTANT.has(op.f) && t1 !== t0) bad(`${op.f} with t1 != t0`);
    if ((op.f === 'event' || op.f === 'state' || op.f === 'lost') && op.status !== 'ok') bad(`${op.f} is not ok`);
    ops.push(op);
  });
  problems.push(...overlapProblems(ops));
  return { ops, problems };
}

/** The ops of one proc must not overlap: each starts after the one before it ended. */
export function overlapProblems(ops: readonly HistoryOp[]): string[] {
  const problems: string[] = [];
  for (const [proc, list] of byProc(ops)) {
    const sorted = [...list].sort((a, b) => (a.t0 < b.t0 ? -1 : a.t0 > b.t0 ? 1 : a.line - b.line));
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1];
      const cur = sorted[i];
      // An info op has no known end; the worker moved on at some point after its t0.
      const prevEnd = prev.t1 ?? prev.t0;
      if (cur.t0 < prevEnd) {
        problems.push(`${proc}: line ${cur.line} (${cur.f}, t0 ${cur.t0}) starts before line ${prev.line} (${prev.f}) ended (${prevEnd})`);
      }
    }
  }
  return problems;
}

export function byProc(ops: readonly HistoryOp[]): Map<string, HistoryOp[]> {
  const m = new Map<string, HistoryOp[]>();
  for (const op of ops) {
    let list = m.get(op.proc);
    if (!list) m.set(op.proc, (list = []));
    list.push(op);
  }
  return m;
}
