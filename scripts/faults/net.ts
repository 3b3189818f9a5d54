// Network faults between ensemble members on `lo`, made with the kernel's own packet filter
// (nftables, as root), the way Jepsen cuts links: no proxy sits between members.
//
// Every member binds its own address in 127.0.0.0/8. A member's outgoing connections would still
// leave from 127.0.0.1 (the kernel's preferred source for the loopback route; neither ZooKeeper's
// quorum and election connects nor zkts's bind a source address), so each member process runs under
// its own uid (memberUid) and a postrouting rule rewrites the source of that uid's new connections to
// the member's address. After that, every packet between two members carries both their addresses,
// and a fault is a rule on the pair in a prerouting chain (before conntrack): a cut drops, a lossy
// link drops at random, a duplicating link copies at random.
//
// Each NetFaults owns one table, `ip zkts_faults_<pid>_<n>`; nothing else on the machine is touched,
// and traffic between other addresses (clients on 127.0.0.1, other tests) matches no rule. The table
// is deleted at the end of a run, also on an exception or a signal (cleanup.ts); a table whose
// owning process is dead (a SIGKILLed run) is deleted by healLeftovers() at the next run's start.
//
// Delay and reordering: this kernel has neither sch_netem nor sch_prio (tc refuses both), and no
// nft `queue` expression, so `tc netem` cannot be used here; capabilities() says what works and the
// nemesis skips what does not, saying so in its log.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { onCleanup } from './cleanup';

export const TABLE_PREFIX = 'zkts_faults_';
const NFT_TIMEOUT_MS = 10_000;
// Marks a duplicated packet so that its copy is not copied again when it comes round through lo.
const DUPLICATE_MARK = '0x7a6b0001';
// Member uids: far above the ones a distribution hands out; one per loopback address.
const MEMBER_UID_BASE = 200_000_000;

/** The address if it is an IPv4 address in 127.0.0.0/8; throws otherwise. Nothing else is ever used. */
export function assertLoopback(address: string): string {
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  if (!m || m.slice(1).some((o) => Number(o) > 255)) throw new Error(`not an address in 127.0.0.0/8: ${JSON.stringify(address)}`);
  if (address === '127.0.0.1') throw new Error('127.0.0.1 is the clients\' and other tests\' address; a member never uses it');
  return address;
}

/** The uid a member on `address` runs as, so that its packets can be told apart (see above). */
export function memberUid(address: string): number {
  const [, a, b, c] = assertLoopback(address).split('.').map(Number);
  return MEMBER_UID_BASE + a * 65536 + b * 256 + c;
}

export interface LinkEffect {
  /** Percent of packets dropped. */
  lossPct?: number;
  /** Percent of packets delivered twice. */
  duplicatePct?: number;
  /** Not available on a kernel without sch_netem (see capabilities()). */
  delayMs?: number;
  jitterMs?: number;
  reorderPct?: number;
}

export interface NetCapabilities {
  cut: boolean;
  loss: boolean;
  duplicate: boolean;
  delay: boolean;
  reorder: boolean;
  /** Why something is missing. */
  notes: string[];
}

function run(cmd: string, args: string[], input?: string): { ok: boolean; out: string; err: string } {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', timeout: NFT_TIMEOUT_MS });
  if (r.error) return { ok: false, out: '', err: r.error.message };
  return { ok: r.status === 0, out: r.stdout ?? '', err: r.stderr ?? '' };
}

function nft(script: string): void {
  const r = run('nft', ['-f', '-'], script);
  if (!r.ok) throw new Error(`nft failed: ${r.err.trim()}\nscript:\n${script}`);
}

/** Whether nft is installed and this process may use it (root). */
export function netFaultsUsable(): { ok: true } | { ok: false; reason: string } {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'network faults need root (nftables)' };
  const r = run('nft', ['--version']);
  if (!r.ok) return { ok: false, reason: `nft is not installed (apt-get install -y nftables): ${r.err.trim()}` };
  return { ok: true };
}

/** Installs Debian's nftables when nft is missing (root only). */
export function ensureNft(): void {
  if (run('nft', ['--version']).ok) return;
  if (process.getuid?.() !== 0) throw new Error('nft is missing and installing it needs root');
  const r = spawnSync('apt-get', ['install', '-y', 'nftables'], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) throw new Error(`apt-get install -y nftables failed: ${r.stderr}`);
}

/** Whether the kernel was built with sch_netem, read from its config (nothing is added to lo to find out). */
function kernelHasNetem(): boolean | undefined {
  try {
    const config = zlib.gunzipSync(fs.readFileSync('/proc/config.gz')).toString('utf8');
    return /^CONFIG_NET_SCH_NETEM=[ym]$/m.test(config);
  } catch {
    return fs.existsSync('/sys/module/sch_netem') ? true : undefined;
  }
}

/** Which faults this kernel can make. */
export function capabilities(): NetCapabilities {
  const notes: string[] = [];
  const netem = kernelHasNetem();
  if (netem === false) notes.push('the kernel has no sch_netem (CONFIG_NET_SCH_NETEM is not set): no delay or reordering');
  else notes.push(`sch_netem ${netem ? 'is in the kernel' : 'may be in the kernel'}, but delay/reorder through it is not built yet`);
  return { cut: true, loss: true, duplicate: true, delay: false, reorder: false, notes };
}

function tableNames(): string[] {
  const r = run('nft', ['list', 'tables', 'ip']);
  if (!r.ok) return [];
  return r.out
    .split('\n')
    .map((l) => /^table ip (\S+)$/.exec(l.trim())?.[1])
    .filter((t): t is string => t !== undefined && t.startsWith(TABLE_PREFIX));
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Deletes the fault tables an earlier run left behind when it died without cleaning up (its pid
 * no longer runs). Tables of live runs stay. Returns the tables removed.
 */
export function healLeftovers(): string[] {
  const removed: string[] = [];
  for (const table of tableNames()) {
    const pid = Number(/^zkts_faults_(\d+)_/.exec(table)?.[1]);
    if (Number.isInteger(pid) && pid !== process.pid && pidAlive(pid)) continue;
    if (pid === process.pid && liveTables.has(table)) continue;
    const r = run('nft', ['delete', 'table', 'ip', table]);
    if (r.ok) removed.push(table);
  }
  return removed;
}

/** Every table of this process's NetFaults now alive. */
const liveTables = new Set<string>();
let tableCounter = 0;

interface Rule {
  from: string;
  to: string;
  kind: 'cut' | 'loss' | 'duplicate';
  pct?: number;
}

/** The network faults of one run, between the members on `addresses`. */
export class NetFaults {
  readonly table: string;
  private readonly members: readonly string[];
  private rules: Rule[] = [];
  private installed = false;
  private releaseCleanup: (() => void) | undefined;

  constructor(addresses: readonly string[]) {
    if (new Set(addresses).size !== addresses.length) throw new Error('member addresses must differ');
    this.members = addresses.map(assertLoopback);
    this.table = `${TABLE_PREFIX}${process.pid}_${++tableCounter}`;
  }

  /**
   * Creates the table: the source rewrite per member uid (before any member starts: it applies to
   * new connections only) and an empty fault chain.
   */
  install(): void {
    if (this.installed) return;
    const snat = this.members.map((a) => `    meta skuid ${memberUid(a)} ip saddr != ${a} ip daddr 127.0.0.0/8 snat to ${a}`);
    nft(
      [
        `table ip ${this.table} {`,
        '  chain members_source {',
        '    type nat hook postrouting priority srcnat; policy accept;',
        ...snat,
        '  }',
        '  chain faults {',
        '    type filter hook prerouting priority raw; policy accept;',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    this.installed = true;
    liveTables.add(this.table);
    this.releaseCleanup = onCleanup(`nft delete table ip ${this.table}`, () => this.remove());
  }

  private member(address: string): string {
    if (!this.members.includes(address)) throw new Error(`${address} is not a member address of this run (${this.members.join(', ')})`);
    return address;
  }

  /** Packets from `from` to `to` are dropped (a one-way cut). */
  dropOneWay(from: string, to: string): void {
    this.rules.push({ from: this.member(from), to: this.member(to), kind: 'cut' });
    this.apply();
  }

  /** No packet passes between `a` and `b` in either direction. */
  cut(a: string, b: string): void {
    this.rules.push({ from: this.member(a), to: this.member(b), kind: 'cut' }, { from: this.member(b), to: this.member(a), kind: 'cut' });
    this.apply();
  }

  /** Cuts every link between members of different sides; a member on no side keeps all its links. */
  partition(sides: readonly (readonly string[])[]): void {
    for (let i = 0; i < sides.length; i++)
      for (let j = 0; j < sides.length; j++)
        if (i !== j) for (const a of sides[i]) for (const b of sides[j]) this.rules.push({ from: this.member(a), to: this.member(b), kind: 'cut' });
    this.apply();
  }

  /** Loss and duplication on the packets from `from` to `to`. */
  link(from: string, to: string, effect: LinkEffect): void {
    if (effect.delayMs || effect.jitterMs || effect.reorderPct) throw new Error('delay and reordering are not available (see capabilities())');
    for (const [kind, pct] of [['loss', effect.lossPct], ['duplicate', effect.duplicatePct]] as const) {
      if (pct === undefined || pct <= 0) continue;
      if (!(pct <= 100)) throw new Error(`${kind} percent out of range: ${pct}`);
      this.rules.push({ from: this.member(from), to: this.member(to), kind, pct });
    }
    this.apply();
  }

  /** The fault rules now in force, as nft lists them (for a log or a test). */
  listFaults(): string {
    const r = run('nft', ['list', 'chain', 'ip', this.table, 'faults']);
    return r.ok ? r.out : '';
  }

  /** Removes every fault; the members keep their addresses. */
  healAll(): void {
    this.rules = [];
    if (this.installed) this.apply();
  }

  /** Deletes the table (the run's end). */
  remove(): void {
    if (!this.installed) return;
    this.installed = false;
    this.rules = [];
    liveTables.delete(this.table);
    this.releaseCleanup?.();
    this.releaseCleanup = undefined;
    const r = run('nft', ['delete', 'table', 'ip', this.table]);
    if (!r.ok && tableNames().includes(this.table)) throw new Error(`could not delete table ${this.table}: ${r.err}`);
  }

  private apply(): void {
    if (!this.installed) this.install();
    const lines = [`flush chain ip ${this.table} faults`, `table ip ${this.table} {`, '  chain faults {'];
    for (const r of this.rules) {
      const pair = `ip saddr ${r.from} ip daddr ${r.to}`;
      if (r.kind === 'cut') lines.push(`    ${pair} drop`);
      else if (r.kind === 'loss') lines.push(`    ${pair} numgen random mod 10000 < ${Math.round((r.pct ?? 0) * 100)} drop`);
      else
        lines.push(
          `    ${pair} meta mark != ${DUPLICATE_MARK} numgen random mod 10000 < ${Math.round((r.pct ?? 0) * 100)} meta mark set ${DUPLICATE_MARK} dup to ${r.to}`,
        );
    }
    lines.push('  }', '}', '');
    nft(lines.join('\n'));
  }
}

/** Whether a table of that name exists now (tests check that a run leaves none). */
export function tableExists(table: string): boolean {
  return tableNames().includes(table);
}

/** Every fault table on the machine now (any run's). */
export function faultTables(): string[] {
  return tableNames();
}

/** Checks a path is writable by a member uid: members write their data dirs as that uid. */
export function chownForMember(pathName: string, address: string): void {
  const uid = memberUid(address);
  const walk = (p: string): void => {
    fs.chownSync(p, uid, uid);
    if (fs.statSync(p).isDirectory()) for (const e of fs.readdirSync(p)) walk(`${p}/${e}`);
  };
  walk(pathName);
}
