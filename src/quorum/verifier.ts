/**
 * Which sets of servers form a quorum. Versioned, as ZooKeeper's QuorumVerifier is, so that dynamic
 * reconfiguration can hold an old and a new one side by side.
 *
 * Two kinds, as ZooKeeper 3.8 has them:
 *  - MajorityVerifier (QuorumMaj): the voters are the participants; a quorum is more than half of them.
 *  - HierarchicalVerifier (QuorumHierarchical, `group.N=` / `weight.N=`): a quorum is more than half
 *    of the groups of non-zero weight, a group counting when the members present carry more than half
 *    of its weight (integer halves, as Java divides).
 *
 * toString() is byte for byte ZooKeeper's, because it travels in every election notification and in
 * NEWLEADER, and a Java peer that reads a config it judges different restarts its election (the
 * member order follows java.util.HashMap's iteration over Long keys).
 */

import { ConfigError, Membership, parseMembership, parseProperties, QuorumServerSpec, ServerConfig } from '../server/config';

export type LearnerType = 'participant' | 'observer';

/** One address triple of a member; a member has several only with multiAddress. */
export interface QuorumAddressTriple {
  host: string;
  quorumPort: number;
  electionPort: number;
}

/** One member of a configuration, as a `server.N=` line names it. */
export interface QuorumMember {
  sid: bigint;
  host: string;
  quorumPort: number;
  electionPort: number;
  type: LearnerType;
  /** Present when the server line carried a `;[host:]port` client part. */
  clientAddress?: { host: string; port: number };
  /** Every address (the first is host/quorumPort/electionPort); present only when there are several. */
  addresses?: readonly QuorumAddressTriple[];
}

export interface QuorumVerifier {
  /** The config version (a zxid once a leader has written it; 0 for a static zoo.cfg). */
  readonly version: bigint;
  /** Every member, voters and observers. */
  readonly members: ReadonlyMap<bigint, QuorumMember>;
  /**
   * The participants: ZooKeeper's getVotingMembers(). A hierarchical participant of weight 0 is
   * listed here too (election talks to it and accepts its notifications, as ZooKeeper does), but it
   * never wins an election and counts for nothing in containsQuorum().
   */
  readonly votingMembers: ReadonlySet<bigint>;
  readonly observingMembers: ReadonlySet<bigint>;
  /** 0 for observers and unknown sids (and weight-0 participants of a hierarchical verifier). */
  weight(sid: bigint): number;
  /** Whether these sids (unknown ones and observers count for nothing) are a quorum. */
  containsQuorum(sids: Iterable<bigint>): boolean;
  /** ZooKeeper's QuorumVerifier.toString(): one `server.N=...` line each, then `version=<hex>`. */
  toString(): string;
}

// ---------------------------------------------------------------------------------------------
// java.util.HashMap<Long, V> iteration order

/** Long.hashCode() spread as HashMap.hash() does. */
function javaLongHash(v: bigint): number {
  const u = BigInt.asUintN(64, v);
  const h = Number((u ^ (u >> 32n)) & 0xffffffffn) | 0;
  return h ^ (h >>> 16);
}

/**
 * The table size of `new HashMap<>(m)` for an m of `size` entries (the smallest power of two of at
 * least size / 0.75 + 1), then grown by later puts as a HashMap grows: what a map copied and edited
 * (ZooKeeper's incremental reconfig) iterates by. `added` counts the net new keys put after.
 */
export function javaHashMapCopyCapacity(size: number, added = 0): number {
  if (size === 0) return javaHashMapCapacity(added);
  const wanted = Math.floor(size / 0.75 + 1);
  let capacity = 1;
  while (capacity < wanted) capacity *= 2;
  let n = size;
  for (let i = 0; i < added; i++) {
    n++;
    if (n > capacity * 0.75) capacity *= 2;
  }
  return capacity;
}

/** The table size a HashMap filled by puts from empty ends with: 16, doubled past 0.75 load. */
function javaHashMapCapacity(size: number): number {
  let capacity = 16;
  while (size > capacity * 0.75) capacity *= 2;
  return capacity;
}

/**
 * Keys in the order a java.util.HashMap<Long, _> iterates them: by bucket, then by insertion within
 * a bucket. `keys` come in insertion order. (A bucket holding 8 or more keys would become a tree in
 * Java; that takes sids equal modulo the table size eight times over and is not modelled.)
 */
export function javaHashMapOrder(keys: Iterable<bigint>, capacity?: number): bigint[] {
  const inOrder = [...new Set(keys)];
  const mask = (capacity ?? javaHashMapCapacity(inOrder.length)) - 1;
  const bucket = (k: bigint): number => javaLongHash(k) & mask;
  // Array.prototype.sort is stable, so insertion order survives within a bucket.
  return inOrder.sort((a, b) => bucket(a) - bucket(b));
}

function javaStringHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
}

/**
 * The order in which java.util.Properties (a ConcurrentHashMap of 16 bins, grown at 3/4 load, as
 * Java 17 builds it) iterates keys put in this order. ZooKeeper builds a verifier by iterating the
 * Properties of its config file (or of a config string), so this order is the insertion order of
 * its member map. Resizing moves a bin's nodes ahead of its unchanged tail in reverse order, as
 * ConcurrentHashMap.transfer does. (Bins of 8 or more keys are not modelled.)
 */
export function javaPropertiesOrder(keys: Iterable<string>): string[] {
  let n = 16;
  let sizeCtl = 12;
  let table: string[][] = Array.from({ length: n }, () => []);
  const hashes = new Map<string, number>();
  for (const k of keys) {
    if (hashes.has(k)) continue; // a repeated key keeps its node
    const h0 = javaStringHash(k);
    const h = (h0 ^ (h0 >>> 16)) & 0x7fffffff;
    hashes.set(k, h);
    table[h & (n - 1)].push(k);
    while (hashes.size >= sizeCtl) {
      const next: string[][] = Array.from({ length: 2 * n }, () => []);
      for (let i = 0; i < n; i++) {
        const bin = table[i];
        if (bin.length === 0) continue;
        let runBit = hashes.get(bin[0])! & n;
        let lastRun = 0;
        for (let j = 1; j < bin.length; j++) {
          const b = hashes.get(bin[j])! & n;
          if (b !== runBit) {
            runBit = b;
            lastRun = j;
          }
        }
        const low: string[] = runBit === 0 ? bin.slice(lastRun) : [];
        const high: string[] = runBit !== 0 ? bin.slice(lastRun) : [];
        for (let j = 0; j < lastRun; j++) ((hashes.get(bin[j])! & n) === 0 ? low : high).unshift(bin[j]);
        next[i] = low;
        next[i + n] = high;
      }
      table = next;
      n *= 2;
      sizeCtl = n - (n >>> 2);
    }
  }
  return table.flat();
}

// ---------------------------------------------------------------------------------------------
// Member strings (QuorumPeer.QuorumServer.toString)

/**
 * InetSocketAddress.getHostString() for a host as written in a config: names stay as written, an
 * IPv6 literal comes back in Java's uncompressed form (`::1` -> `0:0:0:0:0:0:0:1`), an IPv4-mapped
 * IPv6 literal as its IPv4 address.
 */
export function javaHostString(host: string): string {
  if (!host.includes(':')) return host;
  const groups = parseIpv6(host);
  if (groups === undefined) return host;
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  if (mapped) return `${groups[6] >> 8}.${groups[6] & 0xff}.${groups[7] >> 8}.${groups[7] & 0xff}`;
  return groups.map((g) => g.toString(16)).join(':');
}

function parseIpv6(text: string): number[] | undefined {
  let s = text;
  const pct = s.indexOf('%');
  if (pct >= 0) return undefined; // scoped addresses keep their text
  const tail: number[] = [];
  // An embedded IPv4 tail (::ffff:1.2.3.4) stands for the last two groups.
  const lastColon = s.lastIndexOf(':');
  const last = s.slice(lastColon + 1);
  if (last.includes('.')) {
    const parts = last.split('.');
    if (parts.length !== 4 || parts.some((p) => !/^[0-9]{1,3}$/.test(p) || Number(p) > 255)) return undefined;
    const b = parts.map(Number);
    tail.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
    s = s.slice(0, lastColon + 1);
    if (!s.endsWith('::')) s = s.slice(0, -1);
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parse = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    for (const g of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  if (head === undefined || rest === undefined) return undefined;
  const total = head.length + rest.length + tail.length;
  if (halves.length === 1 && total !== 8) return undefined;
  if (halves.length === 2 && total > 7) return undefined;
  const zeros = new Array<number>(8 - total).fill(0);
  return halves.length === 2 ? [...head, ...zeros, ...rest, ...tail] : [...head, ...rest, ...tail];
}

function delimitedHost(host: string): string {
  const h = javaHostString(host);
  return h.includes(':') ? `[${h}]` : h;
}

/** Every address triple of a member, in the order of its server line (one without multiAddress). */
export function memberAddresses(m: QuorumMember): readonly QuorumAddressTriple[] {
  return m.addresses && m.addresses.length > 0 ? m.addresses : [{ host: m.host, quorumPort: m.quorumPort, electionPort: m.electionPort }];
}

/**
 * A member's distinct quorum (`pick` = quorumPort) or election (electionPort) addresses, in the
 * order of its server line: ZooKeeper keeps each as a set (MultipleAddresses).
 */
export function memberPortAddresses(m: QuorumMember, pick: 'quorumPort' | 'electionPort'): Array<{ host: string; port: number }> {
  const out = new Map<string, { host: string; port: number }>();
  for (const t of memberAddresses(m)) {
    const key = `${javaHostString(t.host).toLowerCase()}:${t[pick]}`;
    if (!out.has(key)) out.set(key, { host: t.host, port: t[pick] });
  }
  return [...out.values()];
}

/** The value of a `server.N=` line as ZooKeeper prints it. */
export function memberString(m: QuorumMember): string {
  const triples = m.addresses && m.addresses.length > 0 ? [...m.addresses] : [m];
  // Java sorts the quorum and the election addresses each by host string and pairs them by index.
  const byHost = (a: QuorumAddressTriple, b: QuorumAddressTriple): number => {
    const ha = javaHostString(a.host);
    const hb = javaHostString(b.host);
    return ha < hb ? -1 : ha > hb ? 1 : 0;
  };
  const quorum = [...triples].sort(byHost);
  const election = [...triples].sort(byHost);
  let s = quorum.map((q, i) => `${delimitedHost(q.host)}:${q.quorumPort}:${election[i].electionPort}`).join('|');
  s += m.type === 'observer' ? ':observer' : ':participant';
  if (m.clientAddress !== undefined) s += `;${delimitedHost(m.clientAddress.host)}:${m.clientAddress.port}`;
  return s;
}

/** QuorumServer.equals: same sid, type, address sets and client address (hosts compared as text). */
export function membersEqual(a: QuorumMember, b: QuorumMember): boolean {
  if (a.sid !== b.sid || a.type !== b.type) return false;
  const key = (host: string, port: number): string => `${javaHostString(host).toLowerCase()}:${port}`;
  const set = (m: QuorumMember, pick: (t: QuorumAddressTriple) => number): Set<string> =>
    new Set((m.addresses && m.addresses.length > 0 ? m.addresses : [m]).map((t) => key(t.host, pick(t))));
  const sameSet = (x: Set<string>, y: Set<string>): boolean => x.size === y.size && [...x].every((v) => y.has(v));
  if (!sameSet(set(a, (t) => t.quorumPort), set(b, (t) => t.quorumPort))) return false;
  if (!sameSet(set(a, (t) => t.electionPort), set(b, (t) => t.electionPort))) return false;
  if ((a.clientAddress === undefined) !== (b.clientAddress === undefined)) return false;
  if (a.clientAddress === undefined || b.clientAddress === undefined) return true;
  return key(a.clientAddress.host, a.clientAddress.port) === key(b.clientAddress.host, b.clientAddress.port);
}

// ---------------------------------------------------------------------------------------------
// The two verifiers

function indexMembers(list: Iterable<QuorumMember>): {
  members: Map<bigint, QuorumMember>;
  voting: Set<bigint>;
  observing: Set<bigint>;
} {
  const members = new Map<bigint, QuorumMember>();
  const voting = new Set<bigint>();
  const observing = new Set<bigint>();
  for (const m of list) {
    if (members.has(m.sid)) throw new ConfigError(`server.${m.sid}`, `server ${m.sid} listed twice`);
    members.set(m.sid, m);
    (m.type === 'participant' ? voting : observing).add(m.sid);
  }
  return { members, voting, observing };
}

function membersString(members: ReadonlyMap<bigint, QuorumMember>, capacity?: number): string {
  let s = '';
  for (const sid of javaHashMapOrder(members.keys(), capacity)) s += `server.${sid}=${memberString(members.get(sid)!)}\n`;
  return s;
}

function sameMembers(a: ReadonlyMap<bigint, QuorumMember>, b: ReadonlyMap<bigint, QuorumMember>): boolean {
  if (a.size !== b.size) return false;
  for (const [sid, m] of a) {
    const o = b.get(sid);
    if (o === undefined || !membersEqual(m, o)) return false;
  }
  return true;
}

export class MajorityVerifier implements QuorumVerifier {
  readonly version: bigint;
  readonly members: ReadonlyMap<bigint, QuorumMember>;
  readonly votingMembers: ReadonlySet<bigint>;
  readonly observingMembers: ReadonlySet<bigint>;
  private readonly half: number;

  /**
   * `members` in the member map's insertion order; `hashMapCapacity`, when the map was not filled
   * from empty (an incremental reconfig copies and edits the last one), orders toString().
   */
  constructor(
    members: Iterable<QuorumMember>,
    version: bigint,
    private readonly hashMapCapacity?: number,
  ) {
    const ix = indexMembers(members);
    this.members = ix.members;
    this.votingMembers = ix.voting;
    this.observingMembers = ix.observing;
    this.version = version;
    this.half = Math.floor(ix.voting.size / 2);
  }

  weight(sid: bigint): number {
    return this.votingMembers.has(sid) ? 1 : 0;
  }

  containsQuorum(sids: Iterable<bigint>): boolean {
    let n = 0;
    for (const sid of new Set(sids)) if (this.votingMembers.has(sid)) n++;
    return n > this.half;
  }

  toString(): string {
    return `${membersString(this.members, this.hashMapCapacity)}version=${this.version.toString(16)}`;
  }

  /** The sids in the order ZooKeeper's member map iterates them (toString's order). */
  memberOrder(): bigint[] {
    return javaHashMapOrder(this.members.keys(), this.hashMapCapacity);
  }

  /** QuorumMaj.equals: the same version, or the same members (client addresses included). */
  equals(other: QuorumVerifier): boolean {
    if (!(other instanceof MajorityVerifier)) return false;
    return other.version === this.version || sameMembers(this.members, other.members);
  }
}

export class HierarchicalVerifier implements QuorumVerifier {
  readonly version: bigint;
  readonly members: ReadonlyMap<bigint, QuorumMember>;
  readonly votingMembers: ReadonlySet<bigint>;
  readonly observingMembers: ReadonlySet<bigint>;
  /** sid -> group id, for every sid a `group.N=` line lists. */
  readonly serverGroup: ReadonlyMap<bigint, bigint>;
  /** sid -> weight: every `weight.N=` line, plus weight 1 for participants without one. */
  readonly serverWeight: ReadonlyMap<bigint, bigint>;
  /** group id -> the summed weight of its members. */
  readonly groupWeight: ReadonlyMap<bigint, bigint>;
  /** Groups that can count: those of non-zero weight. */
  private readonly countedGroups: number;

  constructor(
    members: Iterable<QuorumMember>,
    groups: ReadonlyMap<bigint, readonly bigint[]>,
    weights: ReadonlyMap<bigint, bigint>,
    version: bigint,
  ) {
    const ix = indexMembers(members);
    this.members = ix.members;
    this.votingMembers = ix.voting;
    this.observingMembers = ix.observing;
    this.version = version;
    const serverGroup = new Map<bigint, bigint>();
    for (const [gid, sids] of groups) {
      for (const sid of sids) {
        const prior = serverGroup.get(sid);
        if (prior !== undefined && prior !== gid) throw new ConfigError(`group.${gid}`, `server ${sid} is in multiple groups`);
        serverGroup.set(sid, gid);
      }
    }
    const serverWeight = new Map<bigint, bigint>(weights);
    // Participants without a weight line weigh 1, added in member-map order as ZooKeeper does.
    for (const sid of javaHashMapOrder(ix.members.keys())) {
      if (!ix.voting.has(sid)) continue;
      if (!serverGroup.has(sid)) throw new ConfigError(`server.${sid}`, `server ${sid} is not in a group`);
      if (!serverWeight.has(sid)) serverWeight.set(sid, 1n);
    }
    const groupWeight = new Map<bigint, bigint>();
    for (const [sid, gid] of serverGroup) {
      const w = serverWeight.get(sid);
      // ZooKeeper fails on this too (a null weight); refuse it at construction instead.
      if (w === undefined) throw new ConfigError(`group.${gid}`, `server ${sid} is in a group but has no weight`);
      groupWeight.set(gid, (groupWeight.get(gid) ?? 0n) + w);
    }
    // A group line with no members still counts as a group, as in ZooKeeper.
    let counted = groups.size;
    for (const w of groupWeight.values()) if (w === 0n) counted--;
    this.serverGroup = serverGroup;
    this.serverWeight = serverWeight;
    this.groupWeight = groupWeight;
    this.countedGroups = counted;
  }

  weight(sid: bigint): number {
    if (!this.votingMembers.has(sid)) return 0;
    return Number(this.serverWeight.get(sid) ?? 0n);
  }

  containsQuorum(sids: Iterable<bigint>): boolean {
    const present = new Map<bigint, bigint>();
    let any = false;
    for (const sid of new Set(sids)) {
      if (!this.votingMembers.has(sid)) continue;
      any = true;
      const gid = this.serverGroup.get(sid);
      if (gid === undefined) continue;
      present.set(gid, (present.get(gid) ?? 0n) + (this.serverWeight.get(sid) ?? 0n));
    }
    if (!any) return false;
    let majorities = 0;
    for (const [gid, w] of present) if (w > this.groupWeight.get(gid)! / 2n) majorities++;
    return majorities > Math.floor(this.countedGroups / 2);
  }

  toString(): string {
    let s = membersString(this.members);
    // Each group's member list follows the sid order of the sid -> group map; the groups follow
    // the order of a gid-keyed map; the weights that of a sid-keyed map.
    const groupText = new Map<bigint, string>();
    for (const sid of javaHashMapOrder(this.serverGroup.keys())) {
      const gid = this.serverGroup.get(sid)!;
      const prior = groupText.get(gid);
      groupText.set(gid, prior === undefined ? `${sid}` : `${prior}:${sid}`);
    }
    for (const gid of javaHashMapOrder(groupText.keys())) s += `group.${gid}=${groupText.get(gid)}\n`;
    for (const sid of javaHashMapOrder(this.serverWeight.keys())) s += `weight.${sid}=${this.serverWeight.get(sid)}\n`;
    return `${s}version=${this.version.toString(16)}`;
  }

  /** QuorumHierarchical.equals: the same version, or the same members, weights and groups. */
  equals(other: QuorumVerifier): boolean {
    if (!(other instanceof HierarchicalVerifier)) return false;
    if (other.version === this.version) return true;
    const sameMap = (a: ReadonlyMap<bigint, bigint>, b: ReadonlyMap<bigint, bigint>): boolean =>
      a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
    return (
      sameMembers(this.members, other.members) &&
      sameMap(this.serverWeight, other.serverWeight) &&
      sameMap(this.groupWeight, other.groupWeight) &&
      sameMap(this.serverGroup, other.serverGroup)
    );
  }
}

/** QuorumVerifier.equals as ZooKeeper defines it for either kind (different kinds are unequal). */
export function verifiersEqual(a: QuorumVerifier, b: QuorumVerifier): boolean {
  if (a instanceof MajorityVerifier) return a.equals(b);
  if (a instanceof HierarchicalVerifier) return a.equals(b);
  return false;
}

// ---------------------------------------------------------------------------------------------
// Building one

export function memberFromSpec(sid: number, spec: QuorumServerSpec): QuorumMember {
  const m: QuorumMember = {
    sid: BigInt(sid),
    host: spec.host,
    quorumPort: spec.quorumPort,
    electionPort: spec.electionPort,
    type: spec.role,
  };
  if (spec.clientPort !== undefined) {
    // A bare `;port` binds every interface, which Java prints as 0.0.0.0.
    m.clientAddress = { host: spec.clientPortAddress ?? '0.0.0.0', port: spec.clientPort };
  }
  if (spec.addresses.length > 1) m.addresses = spec.addresses.map((a) => ({ ...a }));
  return m;
}

/** Java's insertion order: the Properties order of the keys, when the text is known; else ascending ids. */
function orderedIds(ids: Iterable<number>, prefix: string, keyOrder: string[] | undefined): bigint[] {
  const all = [...ids].map((x) => BigInt(x)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (keyOrder === undefined) return all;
  const present = new Set(all);
  const out: bigint[] = [];
  for (const raw of keyOrder) {
    const key = raw.trim();
    if (!key.startsWith(prefix) || !/^[+-]?[0-9]+$/.test(key.slice(prefix.length))) continue;
    const id = BigInt(key.slice(prefix.length));
    if (present.delete(id)) out.push(id);
  }
  return [...out, ...all.filter((id) => present.has(id))];
}

function fromMembership(
  servers: ReadonlyMap<number, QuorumServerSpec>,
  groups: ReadonlyMap<number, number[]>,
  weights: ReadonlyMap<number, number>,
  hierarchical: boolean,
  version: bigint,
  propertiesText: string | undefined,
): QuorumVerifier {
  const keyOrder = propertiesText === undefined ? undefined : javaPropertiesOrder(parseProperties(propertiesText).keys());
  const members = orderedIds(servers.keys(), 'server.', keyOrder).map((sid) => memberFromSpec(Number(sid), servers.get(Number(sid))!));
  if (!hierarchical) return new MajorityVerifier(members, version);
  const g = new Map<bigint, bigint[]>();
  for (const gid of orderedIds(groups.keys(), 'group.', keyOrder)) g.set(gid, groups.get(Number(gid))!.map((s) => BigInt(s)));
  const w = new Map<bigint, bigint>();
  // Only the weight lines: the verifier adds the default weights itself, in ZooKeeper's order.
  const explicit =
    keyOrder === undefined
      ? undefined
      : new Set(keyOrder.map((k) => k.trim()).filter((k) => k.startsWith('weight.')).map((k) => k.slice('weight.'.length)));
  for (const sid of orderedIds(weights.keys(), 'weight.', keyOrder)) {
    if (explicit !== undefined && !explicit.has(sid.toString())) continue;
    w.set(sid, BigInt(weights.get(Number(sid))!));
  }
  return new HierarchicalVerifier(members, g, w, version);
}

function hexVersion(v: string | undefined): bigint {
  return v === undefined ? 0n : BigInt('0x' + v);
}

/**
 * The verifier of a parsed zoo.cfg (and its dynamic file): hierarchical when it has group/weight
 * lines. `propertiesText`, the text of the file the members came from (zoo.cfg, or the dynamic
 * file), gives ZooKeeper's order for sids that share a hash bucket (e.g. 1 and 17); without it they
 * go in ascending order.
 */
export function verifierFromConfig(config: ServerConfig, opts: { propertiesText?: string } = {}): QuorumVerifier {
  const hierarchical = config.groups.size > 0 || config.weights.size > 0;
  return fromMembership(
    config.servers,
    config.groups,
    config.weights,
    hierarchical,
    hexVersion(config.dynamicConfigVersion),
    opts.propertiesText,
  );
}

/**
 * Parses a config string as notifications and NEWLEADER carry it (the inverse of toString()).
 * Throws ConfigError on a malformed one; callers treat that as "no config", as ZooKeeper logs it.
 */
export function parseQuorumVerifier(text: string, opts: { multiAddressEnabled?: boolean } = {}): QuorumVerifier {
  const entries: Array<[string, string]> = [];
  let hierarchical = false;
  for (const [k, v] of parseProperties(text)) {
    const key = k.trim();
    if (key.startsWith('group') || key.startsWith('weight')) hierarchical = true;
    else if (!key.startsWith('server.') && key !== 'version') throw new ConfigError(key, 'unrecognised parameter');
    entries.push([key, v.trim()]);
  }
  const m: Membership = parseMembership(entries, opts.multiAddressEnabled ?? false);
  return fromMembership(m.servers, m.groups, m.weights, hierarchical, hexVersion(m.version), text);
}

/**
 * The same configuration under another version (ZooKeeper's configFromString(qv.toString()) then
 * setVersion): how the first leader of an ensemble gives its static config the epoch's zxid.
 */
export function verifierWithVersion(qv: QuorumVerifier, version: bigint, opts: { multiAddressEnabled?: boolean } = {}): QuorumVerifier {
  const text = qv.toString().replace(/version=[0-9a-f]+$/, `version=${BigInt.asUintN(64, version).toString(16)}`);
  return parseQuorumVerifier(text, opts);
}
