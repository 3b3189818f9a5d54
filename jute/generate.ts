/**
 * The Jute code generator: reads `*.jute` IDL files and emits straight-line TypeScript
 * encode/decode/size functions, one set per record, with no runtime interpretation of the IDL.
 *
 *   node dist/jute/generate.js <idl-dir> <out.ts>           write the generated module
 *   node dist/jute/generate.js --check <idl-dir> <out.ts>   exit 1 if <out.ts> is not what the IDL gives
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export type JuteType =
  | { kind: 'int' | 'long' | 'boolean' | 'buffer' | 'ustring' }
  | { kind: 'vector'; element: JuteType }
  | { kind: 'record'; name: string };

export interface JuteField {
  name: string;
  type: JuteType;
}

export interface JuteRecord {
  module: string;
  name: string;
  fields: JuteField[];
}

const PRIMITIVES = new Set(['int', 'long', 'boolean', 'buffer', 'ustring']);
const UNSUPPORTED = new Set(['byte', 'float', 'double', 'map']);

class Tokens {
  private i = 0;
  constructor(
    private readonly toks: { text: string; line: number }[],
    private readonly file: string,
  ) {}
  peek(): string | undefined {
    return this.toks[this.i]?.text;
  }
  next(): string {
    const t = this.toks[this.i++];
    if (!t) throw new Error(`${this.file}:${this.toks[this.toks.length - 1]?.line ?? 1}: unexpected end of input`);
    return t.text;
  }
  expect(text: string): void {
    const line = this.toks[this.i]?.line;
    const t = this.next();
    if (t !== text) throw new Error(`${this.file}:${line}: expected '${text}', found '${t}'`);
  }
  line(): number {
    return this.toks[this.i]?.line ?? -1;
  }
}

function tokenize(src: string, file: string): Tokens {
  const toks: { text: string; line: number }[] = [];
  let line = 1;
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === '\n') {
      line++;
      i++;
    } else if (/\s/.test(c)) {
      i++;
    } else if (src.startsWith('//', i)) {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (src.startsWith('/*', i)) {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) throw new Error(`${file}:${line}: unterminated comment`);
      for (let k = i; k < end; k++) if (src[k] === '\n') line++;
      i = end + 2;
    } else if ('{};<>'.includes(c)) {
      toks.push({ text: c, line });
      i++;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i;
      while (j < src.length && /[A-Za-z0-9_.]/.test(src[j])) j++;
      toks.push({ text: src.slice(i, j), line });
      i = j;
    } else {
      throw new Error(`${file}:${line}: unexpected character '${c}'`);
    }
  }
  return new Tokens(toks, file);
}

function parseType(t: Tokens, file: string): JuteType {
  const line = t.line();
  const word = t.next();
  if (PRIMITIVES.has(word)) return { kind: word as 'int' };
  if (UNSUPPORTED.has(word)) throw new Error(`${file}:${line}: type '${word}' is not used by the protocol and not supported`);
  if (word === 'vector') {
    t.expect('<');
    const element = parseType(t, file);
    t.expect('>');
    return { kind: 'vector', element };
  }
  const name = word.includes('.') ? word.slice(word.lastIndexOf('.') + 1) : word;
  return { kind: 'record', name };
}

export function parseJute(src: string, file: string): JuteRecord[] {
  const t = tokenize(src, file);
  const out: JuteRecord[] = [];
  while (t.peek() !== undefined) {
    t.expect('module');
    const module = t.next();
    t.expect('{');
    while (t.peek() !== '}') {
      t.expect('class');
      const name = t.next();
      t.expect('{');
      const fields: JuteField[] = [];
      while (t.peek() !== '}') {
        const type = parseType(t, file);
        const fname = t.next();
        t.expect(';');
        fields.push({ name: fname, type });
      }
      t.expect('}');
      out.push({ module, name, fields });
    }
    t.expect('}');
  }
  return out;
}

function tsType(type: JuteType): string {
  switch (type.kind) {
    case 'int':
      return 'number';
    case 'long':
      return 'bigint';
    case 'boolean':
      return 'boolean';
    case 'buffer':
      return 'Buffer | null';
    case 'ustring':
      return 'string';
    case 'vector':
      return `${tsType(type.element)}[]`;
    case 'record':
      return type.name;
  }
}

/** The fewest bytes one value of the type takes on the wire (bounds vector counts when decoding). */
function minBytes(type: JuteType, records: Map<string, JuteRecord>): number {
  switch (type.kind) {
    case 'int':
      return 4;
    case 'long':
      return 8;
    case 'boolean':
      return 1;
    case 'buffer':
    case 'ustring':
    case 'vector':
      return 4;
    case 'record':
      return records.get(type.name)!.fields.reduce((n, f) => n + minBytes(f.type, records), 0);
  }
}

function fixedSize(type: JuteType, records: Map<string, JuteRecord>): number | undefined {
  switch (type.kind) {
    case 'int':
      return 4;
    case 'long':
      return 8;
    case 'boolean':
      return 1;
    case 'record': {
      let n = 0;
      for (const f of records.get(type.name)!.fields) {
        const s = fixedSize(f.type, records);
        if (s === undefined) return undefined;
        n += s;
      }
      return n;
    }
    default:
      return undefined;
  }
}

function encodeStmt(type: JuteType, expr: string, depth: number): string[] {
  switch (type.kind) {
    case 'int':
      return [`w.writeInt(${expr});`];
    case 'long':
      return [`w.writeLong(${expr});`];
    case 'boolean':
      return [`w.writeBool(${expr});`];
    case 'buffer':
      return [`w.writeBuffer(${expr});`];
    case 'ustring':
      return [`w.writeString(${expr});`];
    case 'record':
      return [`encode${type.name}(w, ${expr});`];
    case 'vector': {
      const v = `v${depth}`;
      const e = `e${depth}`;
      return [
        `const ${v} = ${expr};`,
        `w.writeInt(${v}.length);`,
        `for (const ${e} of ${v}) {`,
        ...encodeStmt(type.element, e, depth + 1).map((l) => '  ' + l),
        `}`,
      ];
    }
  }
}

function decodeExpr(type: JuteType): string {
  switch (type.kind) {
    case 'int':
      return 'r.readInt()';
    case 'long':
      return 'r.readLong()';
    case 'boolean':
      return 'r.readBool()';
    case 'buffer':
      return 'r.readBuffer()';
    case 'ustring':
      return 'r.readString()';
    case 'record':
      return `decode${type.name}(r)`;
    case 'vector':
      throw new Error('vectors are decoded by statements');
  }
}

function decodeStmts(type: JuteType, target: string, depth: number, records: Map<string, JuteRecord>): string[] {
  if (type.kind !== 'vector') return [`const ${target} = ${decodeExpr(type)};`];
  const n = `${target}_n`;
  const i = `${target}_i`;
  const x = `${target}_e`;
  return [
    `const ${n} = r.readVectorLength(${minBytes(type.element, records)});`,
    `const ${target}: ${tsType(type)} = new Array(${n});`,
    `for (let ${i} = 0; ${i} < ${n}; ${i}++) {`,
    ...decodeStmts(type.element, x, depth + 1, records).map((l) => '  ' + l),
    `  ${target}[${i}] = ${x};`,
    `}`,
  ];
}

function sizeExpr(type: JuteType, expr: string, records: Map<string, JuteRecord>, depth: number): string {
  const fixed = fixedSize(type, records);
  if (fixed !== undefined) return String(fixed);
  switch (type.kind) {
    case 'buffer':
      return `(4 + (${expr} === null ? 0 : ${expr}.length))`;
    case 'ustring':
      return `(4 + Buffer.byteLength(${expr}, 'utf8'))`;
    case 'record':
      return `size${type.name}(${expr})`;
    case 'vector': {
      const e = `e${depth}`;
      const elFixed = fixedSize(type.element, records);
      if (elFixed !== undefined) return `(4 + ${expr}.length * ${elFixed})`;
      return `${expr}.reduce((n: number, ${e}: ${tsType(type.element)}) => n + ${sizeExpr(type.element, e, records, depth + 1)}, 4)`;
    }
    default:
      throw new Error('unreachable');
  }
}

export function generate(records: JuteRecord[]): string {
  const byName = new Map<string, JuteRecord>();
  for (const r of records) {
    if (byName.has(r.name)) throw new Error(`record name ${r.name} is defined twice (${byName.get(r.name)!.module}, ${r.module})`);
    byName.set(r.name, r);
  }
  for (const r of records)
    for (const f of r.fields) {
      let t = f.type;
      while (t.kind === 'vector') t = t.element;
      if (t.kind === 'record' && !byName.has(t.name)) throw new Error(`${r.name}.${f.name}: unknown record ${t.name}`);
    }
  const out: string[] = [
    '// Generated by jute/generate.ts from jute/*.jute. Do not edit: change the IDL and run `npm run generate`.',
    '/* eslint-disable */',
    "import { JuteReader, JuteWriter } from '../jute';",
    '',
  ];
  for (const rec of records) {
    out.push(`/** ${rec.module}.${rec.name} */`);
    out.push(`export interface ${rec.name} {`);
    for (const f of rec.fields) out.push(`  ${f.name}: ${tsType(f.type)};`);
    out.push('}', '');
    out.push(`export function encode${rec.name}(w: JuteWriter, x: ${rec.name}): void {`);
    for (const f of rec.fields) {
      const lines = encodeStmt(f.type, `x.${f.name}`, 0);
      if (f.type.kind === 'vector') out.push('  {', ...lines.map((l) => '    ' + l), '  }');
      else out.push(...lines.map((l) => '  ' + l));
    }
    out.push('}', '');
    out.push(`export function decode${rec.name}(r: JuteReader): ${rec.name} {`);
    for (const f of rec.fields) out.push(...decodeStmts(f.type, `f_${f.name}`, 0, byName).map((l) => '  ' + l));
    out.push(`  return { ${rec.fields.map((f) => `${f.name}: f_${f.name}`).join(', ')} };`);
    out.push('}', '');
    const fixed = fixedSize({ kind: 'record', name: rec.name }, byName);
    if (fixed !== undefined) {
      out.push(`export const ${rec.name}_SIZE = ${fixed};`, '');
      out.push(`export function size${rec.name}(_x: ${rec.name}): number {`, `  return ${fixed};`, '}', '');
    } else {
      out.push(`export function size${rec.name}(x: ${rec.name}): number {`);
      out.push(`  return ${rec.fields.map((f) => sizeExpr(f.type, `x.${f.name}`, byName, 0)).join(' + ')};`);
      out.push('}', '');
    }
  }
  return out.join('\n');
}

export function generateFromDir(dir: string): string {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.jute'))
    .sort();
  const records: JuteRecord[] = [];
  for (const f of files) records.push(...parseJute(fs.readFileSync(path.join(dir, f), 'utf8'), f));
  return generate(records);
}

function main(argv: string[]): number {
  const check = argv[0] === '--check';
  const args = check ? argv.slice(1) : argv;
  if (args.length !== 2) {
    process.stderr.write('usage: generate [--check] <idl-dir> <out.ts>\n');
    return 2;
  }
  const [dir, outFile] = args;
  const text = generateFromDir(dir);
  if (check) {
    const current = fs.existsSync(outFile) ? fs.readFileSync(outFile, 'utf8') : '';
    if (current !== text) {
      process.stderr.write(`${outFile} differs from what ${dir}/*.jute generates: run \`npm run generate\` and commit the result\n`);
      return 1;
    }
    process.stdout.write(`${outFile} is up to date\n`);
    return 0;
  }
  fs.writeFileSync(outFile, text);
  process.stdout.write(`wrote ${outFile}\n`);
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
