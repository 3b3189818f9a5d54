/**
 * `zkts log-dump [--json] <file>`: prints a txn log file one txn per line, as ZooKeeper's
 * TxnLogToolkit does (time, session, cxid, zxid, type, record fields), or one JSON object per line.
 */
import * as fs from 'node:fs';
import { OpCode } from '../protocol/constants';
import type { ACL } from '../protocol/generated/records';
import type { TxnBody } from './txn';
import { CorruptLogError, readTxnLogFile, TornLogTail, type LogEntry } from './txnlog';
import { txnTypeName } from './txnserde';

const USAGE = 'usage: zkts log-dump [--json] <txn log file>\n';

interface Out {
  out: (s: string) => void;
  err: (s: string) => void;
}

const stdio: Out = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

/** Exit code: 0 when the whole file was read, 1 for a damaged or unreadable file, 2 for bad usage. */
export async function logDumpMain(argv: string[], io: Out = stdio): Promise<number> {
  let json = false;
  const files: string[] = [];
  for (const a of argv) {
    if (a === '--json') json = true;
    else if (a === '-h' || a === '--help') {
      io.out(USAGE);
      return 0;
    } else if (a.startsWith('-')) {
      io.err(`zkts log-dump: unknown option ${a}\n${USAGE}`);
      return 2;
    } else files.push(a);
  }
  if (files.length !== 1) {
    io.err(USAGE);
    return 2;
  }
  const file = files[0];
  if (!fs.existsSync(file)) {
    io.err(`zkts log-dump: ${file} does not exist\n`);
    return 1;
  }
  let count = 0;
  try {
    if (!json) io.out(`ZooKeeper Transactional Log File ${file} (txnlog format version 2)\n`);
    for (const item of readTxnLogFile(file)) {
      if (item instanceof TornLogTail) {
        const msg = `torn record at offset ${item.offset}: ${item.reason}`;
        if (json) io.out(JSON.stringify({ tornTail: { offset: item.offset, reason: item.reason } }) + '\n');
        else io.out(`${msg}\n`);
        break;
      }
      io.out((json ? jsonLine(item) : textLine(item)) + '\n');
      count++;
    }
    if (!json) io.out(`EOF reached after ${count} txns.\n`);
    return 0;
  } catch (e) {
    if (e instanceof CorruptLogError) {
      io.err(`zkts log-dump: corrupt record after ${count} txns: ${e.message}\n`);
      return 1;
    }
    io.err(`zkts log-dump: ${(e as Error).message}\n`);
    return 1;
  }
}

function hex(n: bigint | number): string {
  const v = typeof n === 'bigint' ? BigInt.asUintN(64, n) : BigInt(n >>> 0);
  return '0x' + v.toString(16);
}

function timeText(ms: bigint): string {
  const d = new Date(Number(ms));
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

function text(data: Buffer | null): string {
  return data === null ? '' : data.toString('utf8');
}

function aclText(acl: ACL[]): string {
  return '[' + acl.map((a) => `${a.id.scheme}:${a.id.id}:${a.perms}`).join(', ') + ']';
}

/** Record fields in ZooKeeper's order, comma-separated as TxnLogToolkit prints them. */
function bodyText(body: TxnBody): string {
  switch (body.type) {
    case OpCode.create:
    case OpCode.create2: {
      const r = body.record;
      return `${r.path},${text(r.data)},${aclText(r.acl)},${r.ephemeral},${r.parentCVersion}`;
    }
    case OpCode.createContainer: {
      const r = body.record;
      return `${r.path},${text(r.data)},${aclText(r.acl)},${r.parentCVersion}`;
    }
    case OpCode.createTTL: {
      const r = body.record;
      return `${r.path},${text(r.data)},${aclText(r.acl)},${r.parentCVersion},${r.ttl}`;
    }
    case OpCode.delete:
    case OpCode.deleteContainer:
      return body.record.path;
    case OpCode.setData:
      return `${body.record.path},${text(body.record.data)},${body.record.version}`;
    case OpCode.setACL:
      return `${body.record.path},${aclText(body.record.acl)},${body.record.version}`;
    case OpCode.check:
      return `${body.record.path},${body.record.version}`;
    case OpCode.createSession:
      return `timeOut=${body.record.timeOut}`;
    case OpCode.closeSession:
      return `paths2Delete=[${body.record.paths2Delete.join(', ')}]`;
    case OpCode.error:
      return `err=${body.record.err}`;
    case OpCode.multi:
      return body.record.txns.map((sub) => `${txnTypeName(sub.type)}:${bodyText(sub)}`).join(';');
  }
}

function textLine(e: LogEntry): string {
  const h = e.txn.hdr;
  const digest = e.digest ? ` digest=${e.digest.version}:${hex(e.digest.treeDigest)}` : '';
  return `${timeText(h.time)} session ${hex(h.clientId)} cxid ${hex(h.cxid)} zxid ${hex(h.zxid)} ${txnTypeName(h.type)} ${bodyText(e.txn.body)}${digest}`;
}

/** Plain JSON values: bigints as decimal strings, buffers as base64. */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = plain(x);
    return o;
  }
  return v;
}

function bodyJson(body: TxnBody): unknown {
  if (body.type === OpCode.multi) {
    return { txns: body.record.txns.map((sub) => ({ type: txnTypeName(sub.type), record: bodyJson(sub) })) };
  }
  return plain(body.record);
}

function jsonLine(e: LogEntry): string {
  const h = e.txn.hdr;
  const o: Record<string, unknown> = {
    offset: e.offset,
    time: timeText(h.time),
    timeMs: h.time.toString(),
    session: hex(h.clientId),
    cxid: hex(h.cxid),
    zxid: hex(h.zxid),
    type: txnTypeName(h.type),
    record: bodyJson(e.txn.body),
  };
  if (e.digest) o.digest = { version: e.digest.version, treeDigest: hex(e.digest.treeDigest) };
  return JSON.stringify(o);
}
