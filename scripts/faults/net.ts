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
// Delay and reordering: a kernel without sch_netem (this project's CI kernel has neither sch_netem
// nor sch_prio, and no nft `queue` expression) cannot run `tc netem`. There, the packets of a
// delayed link go to an NFQUEUE (the xtables NFQUEUE target, through iptables-nft, in a chain of its
// own in table `ip raw`) and nfq_delay.py gives each its verdict late: the packets stay in the
// kernel, nothing proxies them. capabilities() says what works; the nemesis skips what does not and
// says so in its log.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
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

const NFQ_HELPER = path.resolve(__dirname, '..', '..', '..', 'scripts', 'faults', 'nfq_delay.py');
const QUEUE_CHAIN_PREFIX = 'zkts_q_';
const QUEUES_PER_RUN = 32;
const HELPER_READY_MS = 5000;

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

/** As netFaultsUsable, but as root installs nftables first when nft is missing (tests and runs alike). */
export function netFaultsReady(): { ok: true } | { ok: false; reason: string } {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'network faults need root (nftables)' };
  try {
    ensureNft();
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
  return netFaultsUsable();
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
  if (netem === false) notes.push('the kernel has no sch_netem (CONFIG_NET_SCH_NETEM is not set): delay and reordering go through NFQUEUE');
  const queue = nfqueueUsable();
  if (!queue.ok) notes.push(`no delay or reordering: ${queue.reason}`);
  return { cut: true, loss: true, duplicate: true, delay: queue.ok, reorder: queue.ok, notes };
}

/** Installs Debian's iptables (its NFQUEUE target makes delayed links) when missing; root only. */
export function ensureIptables(): void {
  if (run('iptables', ['--version']).ok || process.getuid?.() !== 0) return;
  const r = spawnSync('apt-get', ['install', '-y', 'iptables'], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) throw new Error(`apt-get install -y iptables failed: ${r.stderr}`);
}

/** Whether delayed links can be made: iptables-nft (for the NFQUEUE target), python3, the helper. */
export function nfqueueUsable(): { ok: true } | { ok: false; reason: string } {
  const ipt = run('iptables', ['--version']);
  if (!ipt.ok) return { ok: false, reason: 'iptables is not installed (apt-get install -y iptables): the NFQUEUE target comes from it' };
  if (!/nf_tables/.test(ipt.out)) return { ok: false, reason: `iptables is not the nf_tables variant: ${ipt.out.trim()}` };
  if (!run('python3', ['--version']).ok) return { ok: false, reason: 'python3 is missing (it runs nfq_delay.py)' };
  if (!fs.existsSync(NFQ_HELPER)) return { ok: false, reason: `${NFQ_HELPER} is missing` };
  return { ok: true };
}

function queueChains(): string[] {
  const r = run('iptables', ['-t', 'raw', '-S']);
  if (!r.ok) return [];
  return r.out
    .split('\n')
    .map((l) => /^-N (\S+)$/.exec(l.trim())?.[1])
    .filter((c): c is string => c !== undefined && c.startsWith(QUEUE_CHAIN_PREFIX));
}

function removeQueueChain(chain: string): boolean {
  // The jump from PREROUTING first (as many times as it is there), then the chain.
  for (let i = 0; i < 10 && run('iptables', ['-t', 'raw', '-D', 'PREROUTING', '-j', chain]).ok; i++);
  run('iptables', ['-t', 'raw', '-F', chain]);
  const removed = run('iptables', ['-t', 'raw', '-X', chain]).ok;
  // iptables-nft created table `ip raw` for the jump; when nothing else is in it, it goes too.
  const rest = run('iptables', ['-t', 'raw', '-S']);
  if (rest.ok && rest.out.split('\n').every((l) => l.trim() === '' || /^-P (PREROUTING|OUTPUT) ACCEPT$/.test(l.trim()))) run('nft', ['delete', 'table', 'ip', 'raw']);
  return removed;
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
  if (run('iptables', ['--version']).ok) {
    for (const chain of queueChains()) {
      const pid = Number(/^zkts_q_(\d+)_/.exec(chain)?.[1]);
      if (Number.isInteger(pid) && pid !== process.pid && pidAlive(pid)) continue;
      if (pid === process.pid && liveTables.has(chain)) continue;
      if (removeQueueChain(chain)) removed.push(`ip raw ${chain}`);
    }
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
  /** Delayed links: each its own queue. */
  private delays: Array<{ from: string; to: string; queue: number; delayMs: number; jitterMs: number; reorderPct: number }> = [];
  private readonly queueChain: string;
  private readonly queueBase: number;
  private queueChainMade = false;
  private helper: ChildProcess | undefined;
  private releaseHelper: (() => void) | undefined;

  constructor(addresses: readonly string[]) {
    if (new Set(addresses).size !== addresses.length) throw new Error('member addresses must differ');
    this.members = addresses.map(assertLoopback);
    this.table = `${TABLE_PREFIX}${process.pid}_${++tableCounter}`;
    this.queueChain = `${QUEUE_CHAIN_PREFIX}${process.pid}_${tableCounter}`;
    this.queueBase = 1024 + ((process.pid * 7 + tableCounter) % 1900) * QUEUES_PER_RUN;
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
  async link(from: string, to: string, effect: LinkEffect): Promise<void> {
    if (effect.delayMs || effect.jitterMs || effect.reorderPct) {
      const usable = nfqueueUsable();
      if (!usable.ok) throw new Error(`delay and reordering are not available: ${usable.reason}`);
      if (this.delays.length >= QUEUES_PER_RUN) throw new Error(`at most ${QUEUES_PER_RUN} delayed links`);
      const delayMs = effect.delayMs ?? 0;
      const jitterMs = effect.jitterMs ?? 0;
      const reorderPct = effect.reorderPct ?? 0;
      if (!(delayMs >= 0 && delayMs <= 60_000 && jitterMs >= 0 && reorderPct >= 0 && reorderPct <= 100)) throw new Error(`bad delay ${JSON.stringify(effect)}`);
      this.delays.push({ from: this.member(from), to: this.member(to), queue: this.queueBase + this.delays.length, delayMs, jitterMs, reorderPct });
      await this.applyDelays();
    }
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
    if (this.delays.length > 0) {
      this.delays = [];
      run('iptables', ['-t', 'raw', '-F', this.queueChain]);
      this.stopHelper();
    }
  }

  /** The delayed links' rules (iptables -S of the run's chain in table raw), for a log or a test. */
  listDelays(): string {
    if (!this.queueChainMade) return '';
    const r = run('iptables', ['-t', 'raw', '-S', this.queueChain]);
    return r.ok ? r.out : '';
  }

  private stopHelper(): void {
    const h = this.helper;
    this.helper = undefined;
    this.releaseHelper?.();
    this.releaseHelper = undefined;
    if (h?.pid !== undefined) {
      try {
        process.kill(h.pid, 'SIGKILL');
      } catch {
        // Gone.
      }
    }
  }

  /** (Re)starts the helper on every delayed link's queue, then sends those links' packets to it. */
  private async applyDelays(): Promise<void> {
    if (!this.installed) this.install();
    this.stopHelper();
    const args = this.delays.map((d) => `${d.queue}:${d.delayMs}:${d.jitterMs}:${d.reorderPct}`);
    const helper = spawn('python3', [NFQ_HELPER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.helper = helper;
    const pid = helper.pid;
    this.releaseHelper = onCleanup(`kill nfq_delay.py ${pid}`, () => {
      try {
        if (pid !== undefined) process.kill(pid, 'SIGKILL');
      } catch {
        // Gone.
      }
    });
    let stderr = '';
    helper.stderr?.on('data', (d) => (stderr += String(d)).slice(-4000));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nfq_delay.py not ready in ${HELPER_READY_MS} ms: ${stderr}`)), HELPER_READY_MS);
      helper.stdout?.on('data', (d) => {
        if (String(d).includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      helper.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nfq_delay.py exited (${code}): ${stderr}`));
      });
    });
    if (!this.queueChainMade) {
      const made = run('iptables', ['-t', 'raw', '-N', this.queueChain]);
      if (!made.ok) throw new Error(`iptables -t raw -N ${this.queueChain}: ${made.err}`);
      this.queueChainMade = true;
      liveTables.add(this.queueChain);
      const jump = run('iptables', ['-t', 'raw', '-I', 'PREROUTING', '-j', this.queueChain]);
      if (!jump.ok) throw new Error(`iptables jump to ${this.queueChain}: ${jump.err}`);
    }
    run('iptables', ['-t', 'raw', '-F', this.queueChain]);
    for (const d of this.delays) {
      const r = run('iptables', ['-t', 'raw', '-A', this.queueChain, '-s', d.from, '-d', d.to, '-j', 'NFQUEUE', '--queue-num', String(d.queue), '--queue-bypass']);
      if (!r.ok) throw new Error(`iptables NFQUEUE rule: ${r.err}`);
    }
  }

  /** Deletes the table (the run's end). */
  remove(): void {
    if (this.queueChainMade) {
      this.delays = [];
      this.stopHelper();
      removeQueueChain(this.queueChain);
      this.queueChainMade = false;
      liveTables.delete(this.queueChain);
    }
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

/** Hands a member's dir (recursively) to its uid: the member writes its data and log there as that uid. */
export function chownForMember(pathName: string, address: string): void {
  const uid = memberUid(address);
  const walk = (p: string): void => {
    fs.chownSync(p, uid, uid);
    if (fs.statSync(p).isDirectory()) for (const e of fs.readdirSync(p)) walk(`${p}/${e}`);
  };
  walk(pathName);
}
