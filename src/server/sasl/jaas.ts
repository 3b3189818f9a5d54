/**
 * JAAS login configuration files (`-Djava.security.auth.login.config`), read with the rules of
 * Java's ConfigFile:
 *
 *   Name { module.Class flag key="value" key2=value2; other.Module flag; };
 *
 * `//` and `/* *\/` comments (and, as Java's tokenizer has it, a lone `/` to the end of the line),
 * values quoted or bare words, `${property}` expanded from the system properties, flags required,
 * requisite, sufficient or optional (any case), one section per name.
 */

export type JaasControlFlag = 'required' | 'requisite' | 'sufficient' | 'optional';

export interface JaasEntry {
  loginModule: string;
  flag: JaasControlFlag;
  options: Map<string, string>;
}

export class JaasError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JaasError';
  }
}

/** Bounds for a file read at start: it is small in any real deployment. */
export const MAX_JAAS_FILE_BYTES = 1024 * 1024;
const MAX_SECTIONS = 1000;

type Token = { kind: 'word' | 'quoted'; text: string; line: number } | { kind: 'char'; text: string; line: number } | { kind: 'eof'; text: ''; line: number };

function isWordStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c >= 0xa0 || c === 0x24 || c === 0x5f || c === 0x2d || c === 0x2a;
}

function isWordPart(c: number): boolean {
  return isWordStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x2e;
}

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let line = 1;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) {
      line++;
      i++;
    } else if (c <= 0x20) i++;
    else if (c === 0x2f && text.charCodeAt(i + 1) === 0x2a) {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) break;
      for (let k = i; k < end; k++) if (text.charCodeAt(k) === 0x0a) line++;
      i = end + 2;
    } else if (c === 0x2f) {
      // `//` and a lone `/` both run to the end of the line.
      while (i < n && text.charCodeAt(i) !== 0x0a) i++;
    } else if (c === 0x22) {
      let s = '';
      i++;
      while (i < n) {
        const q = text[i];
        if (q === '"' || q === '\n') break;
        if (q === '\\' && i + 1 < n) {
          const e = text[i + 1];
          const esc: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', a: '\x07', v: '\v' };
          if (e in esc) {
            s += esc[e];
            i += 2;
          } else if (e >= '0' && e <= '7') {
            let j = i + 1;
            let digits = '';
            const max = e <= '3' ? 3 : 2;
            while (j < n && digits.length < max && text[j] >= '0' && text[j] <= '7') digits += text[j++];
            s += String.fromCharCode(parseInt(digits, 8));
            i = j;
          } else {
            s += e;
            i += 2;
          }
        } else {
          s += q;
          i++;
        }
      }
      if (text[i] === '"') i++;
      out.push({ kind: 'quoted', text: s, line });
    } else if (isWordStart(c)) {
      const start = i;
      while (i < n && isWordPart(text.charCodeAt(i))) i++;
      out.push({ kind: 'word', text: text.slice(start, i), line });
    } else if (c >= 0x30 && c <= 0x39) {
      throw new JaasError(`Line ${line}: a number where a name or value was expected`);
    } else {
      out.push({ kind: 'char', text: text[i], line });
      i++;
    }
  }
  out.push({ kind: 'eof', text: '', line });
  return out;
}

/** `${name}` from the system properties; `${/}` is the path separator. An unknown name is an error. */
function expand(value: string, props: ReadonlyMap<string, string>): string {
  return value.replace(/\$\{([^}]*)\}/g, (_m, name: string) => {
    if (name === '/') return '/';
    const v = props.get(name);
    if (v === undefined) throw new JaasError(`unable to expand property ${name}`);
    return v;
  });
}

/** Sections by name, in file order. Throws JaasError with the line on a syntax error. */
export function parseJaas(text: string, props: ReadonlyMap<string, string> = new Map()): Map<string, JaasEntry[]> {
  const toks = tokenize(text);
  let p = 0;
  const peekChar = (c: string) => toks[p].kind === 'char' && toks[p].text === c;
  const expectChar = (c: string) => {
    const t = toks[p];
    if (t.kind !== 'char' || t.text !== c) throw new JaasError(`Line ${t.line}: expected [${c}]${t.kind === 'eof' ? ', read [end of file]' : `, found [${t.text}]`}`);
    p++;
  };
  const expectName = (what: string) => {
    const t = toks[p];
    if (t.kind !== 'word' && t.kind !== 'quoted') throw new JaasError(`Line ${t.line}: expected [${what}]${t.kind === 'eof' ? ', read [end of file]' : `, found [${t.text}]`}`);
    p++;
    return t.text;
  };
  const sections = new Map<string, JaasEntry[]>();
  while (toks[p].kind !== 'eof') {
    const name = expectName('application name');
    expectChar('{');
    const entries: JaasEntry[] = [];
    while (!peekChar('}')) {
      const loginModule = expectName('module class name');
      const flagLine = toks[p].line;
      const flag = expectName('controlFlag').toLowerCase();
      if (flag !== 'required' && flag !== 'requisite' && flag !== 'sufficient' && flag !== 'optional')
        throw new JaasError(`Line ${flagLine}: invalid control flag, ${flag}`);
      const options = new Map<string, string>();
      while (!peekChar(';')) {
        const key = expectName('option key');
        expectChar('=');
        options.set(key, expand(expectName('option value'), props));
      }
      p++;
      entries.push({ loginModule, flag, options });
    }
    expectChar('}');
    expectChar(';');
    if (sections.has(name)) throw new JaasError(`Can not specify multiple entries for ${name}`);
    if (sections.size >= MAX_SECTIONS) throw new JaasError(`more than ${MAX_SECTIONS} sections`);
    sections.set(name, entries);
  }
  return sections;
}
