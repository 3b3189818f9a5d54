/**
 * JSON as ZooKeeper's AdminServer writes it (Jackson's default pretty printer): `"key" : value`,
 * two-space indent, `[ a, b ]` arrays on one line, `{ }` and `[ ]` when empty, Java doubles with a
 * fractional part (0.0), and 64-bit longs written exactly (bigint).
 */

/** A Java double: JSON and 4lw text show 0 as 0.0. */
export class JavaDouble {
  constructor(readonly value: number) {}
  toString(): string {
    return javaDoubleText(this.value);
  }
}

export function javaDouble(n: number): JavaDouble {
  return new JavaDouble(n);
}

export function javaDoubleText(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity';
  return Number.isInteger(n) ? n.toFixed(1) : String(n);
}

/** Structured command output: what both the 4lw text and the JSON are made from. */
export type Value = null | boolean | number | bigint | string | JavaDouble | Value[] | { [key: string]: Value };
export type Data = { [key: string]: Value };

function indent(level: number): string {
  return '  '.repeat(level);
}

function render(v: Value, level: number): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : JSON.stringify(String(v));
  if (typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof JavaDouble) return v.toString();
  if (Array.isArray(v)) {
    if (v.length === 0) return '[ ]';
    return '[ ' + v.map((x) => render(x, level)).join(', ') + ' ]';
  }
  const keys = Object.keys(v);
  if (keys.length === 0) return '{ }';
  const inner = keys.map((k) => `${indent(level + 1)}${JSON.stringify(k)} : ${render(v[k], level + 1)}`);
  return '{\n' + inner.join(',\n') + '\n' + indent(level) + '}';
}

export function toJackson(v: Value): string {
  return render(v, 0);
}
