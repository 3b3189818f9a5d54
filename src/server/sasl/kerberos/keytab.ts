/**
 * MIT keytab files, format 0x0502 (and the older 0x0501, whose component count includes the realm
 * and which has no name type): a list of (principal, kvno, key) entries; negative sizes are holes.
 */
import * as fs from 'node:fs';
import { SaslError } from '../mechanism';
import type { KerberosKey } from './crypto';
import type { PrincipalName } from './principal';

export interface KeytabEntry {
  readonly principal: PrincipalName;
  readonly nameType: number;
  readonly timestampSec: number;
  readonly kvno: number;
  readonly key: KerberosKey;
}

/** Keytabs are small; a larger file is refused rather than read into memory. */
export const MAX_KEYTAB_BYTES = 1024 * 1024;
const MAX_ENTRIES = 10_000;

function bad(what: string): SaslError {
  return new SaslError(`GSSAPI: malformed keytab: ${what}`);
}

export function parseKeytab(buf: Buffer): KeytabEntry[] {
  if (buf.length < 2 || buf[0] !== 0x05 || (buf[1] !== 0x01 && buf[1] !== 0x02)) {
    throw bad('not a keytab of version 0x0501 or 0x0502');
  }
  const v1 = buf[1] === 0x01;
  const entries: KeytabEntry[] = [];
  let pos = 2;
  while (pos + 4 <= buf.length) {
    const size = buf.readInt32BE(pos);
    pos += 4;
    if (size === 0) break; // the unused tail MIT leaves after a removal
    if (size < 0) {
      pos += -size;
      continue;
    }
    if (pos + size > buf.length) throw bad(`entry of ${size} bytes overruns the file`);
    if (entries.length >= MAX_ENTRIES) throw bad(`more than ${MAX_ENTRIES} entries`);
    entries.push(parseEntry(buf.subarray(pos, pos + size), v1));
    pos += size;
  }
  return entries;
}

function parseEntry(e: Buffer, v1: boolean): KeytabEntry {
  let pos = 0;
  const need = (n: number) => {
    if (pos + n > e.length) throw bad('truncated entry');
  };
  const u16 = () => {
    need(2);
    const v = e.readUInt16BE(pos);
    pos += 2;
    return v;
  };
  const u32 = () => {
    need(4);
    const v = e.readUInt32BE(pos);
    pos += 4;
    return v;
  };
  const counted = () => {
    const n = u16();
    need(n);
    const v = e.subarray(pos, pos + n);
    pos += n;
    return v;
  };
  let count = u16();
  if (v1) count -= 1;
  if (count < 1 || count > 16) throw bad(`${count} name components`);
  const realm = counted().toString('utf8');
  const components: string[] = [];
  for (let i = 0; i < count; i++) components.push(counted().toString('utf8'));
  const nameType = v1 ? 1 : u32();
  const timestampSec = u32();
  need(1);
  let kvno = e[pos++];
  const enctype = u16();
  const value = Buffer.from(counted());
  // A 32-bit kvno follows when the entry has room for it; zero means "use the 8-bit one".
  if (pos + 4 <= e.length) {
    const kvno32 = e.readUInt32BE(pos);
    if (kvno32 !== 0) kvno = kvno32;
  }
  return { principal: { components, realm }, nameType, timestampSec, kvno, key: { enctype, value } };
}

export function readKeytab(path: string): KeytabEntry[] {
  let buf: Buffer;
  try {
    const size = fs.statSync(path).size;
    if (size > MAX_KEYTAB_BYTES) throw bad(`${path} is larger than ${MAX_KEYTAB_BYTES} bytes`);
    buf = fs.readFileSync(path);
  } catch (err) {
    if (err instanceof SaslError) throw err;
    throw new SaslError(`GSSAPI: cannot read keytab ${path}: ${(err as Error).message}`);
  }
  return parseKeytab(buf);
}

/** Writes entries in format 0x0502 (tests build keytabs with chosen keys with it). */
export function encodeKeytab(entries: readonly KeytabEntry[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0x05, 0x02])];
  const counted = (b: Buffer) => {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(b.length, 0);
    return Buffer.concat([len, b]);
  };
  for (const entry of entries) {
    const fixed = Buffer.alloc(4 + 4 + 1 + 2);
    fixed.writeUInt32BE(entry.nameType, 0);
    fixed.writeUInt32BE(entry.timestampSec, 4);
    fixed[8] = entry.kvno & 0xff;
    fixed.writeUInt16BE(entry.key.enctype, 9);
    const count = Buffer.alloc(2);
    count.writeUInt16BE(entry.principal.components.length, 0);
    const kvno32 = Buffer.alloc(4);
    kvno32.writeUInt32BE(entry.kvno, 0);
    const body = Buffer.concat([
      count,
      counted(Buffer.from(entry.principal.realm, 'utf8')),
      ...entry.principal.components.map((c) => counted(Buffer.from(c, 'utf8'))),
      fixed,
      counted(entry.key.value),
      kvno32,
    ]);
    const size = Buffer.alloc(4);
    size.writeInt32BE(body.length, 0);
    parts.push(size, body);
  }
  return Buffer.concat(parts);
}
