/**
 * ACL checks and authentication providers (world, auth, digest, ip, sasl, super), with ZooKeeper's rules:
 * super bypasses every check; `auth` expands to the requester's authenticated ids.
 */
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import { Err, KeeperError } from '../protocol/constants';
import type { ACL, Id } from '../protocol/generated/records';
import { parsePrincipal } from './sasl/principal';

export interface AuthProvider {
  scheme: string;
  /** Ids of an identity that may stand for `auth` in ACLs. */
  isAuthenticated: boolean;
  isValid(id: string): boolean;
  matches(authId: string, aclId: string): boolean;
  userName(authId: string): string;
}

/** `user:base64(sha1(user:password))`, as ZooKeeper's digest provider stores it. */
export function digestOf(userColonPassword: string): string {
  const user = userColonPassword.split(':')[0];
  return `${user}:${crypto.createHash('sha1').update(userColonPassword, 'utf8').digest('base64')}`;
}

export const digestProvider: AuthProvider = {
  scheme: 'digest',
  isAuthenticated: true,
  isValid: (id) => id.split(':').length === 2,
  matches: (authId, aclId) => authId === aclId,
  userName: (authId) => authId.split(':')[0],
};

function ipMatches(addr: string, pattern: string): boolean {
  const slash = pattern.indexOf('/');
  const base = slash < 0 ? pattern : pattern.slice(0, slash);
  const a = ipBytes(addr);
  const b = ipBytes(base);
  if (!a || !b || a.length !== b.length) return false;
  const bits = slash < 0 ? a.length * 8 : Number(pattern.slice(slash + 1));
  if (!Number.isInteger(bits) || bits < 0 || bits > a.length * 8) return false;
  for (let i = 0; i < bits; i++) {
    const mask = 0x80 >> i % 8;
    if ((a[i >> 3] & mask) !== (b[i >> 3] & mask)) return false;
  }
  return true;
}

function ipBytes(s: string): number[] | undefined {
  const v4 = s.startsWith('::ffff:') && net.isIPv4(s.slice(7)) ? s.slice(7) : s;
  if (net.isIPv4(v4)) return v4.split('.').map(Number);
  if (net.isIPv6(s)) {
    const [head, tail] = s.split('::');
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail ? tail.split(':') : [];
    const fill = tail !== undefined ? 8 - h.length - t.length : 0;
    const groups = [...h, ...Array(fill).fill('0'), ...t];
    if (groups.length !== 8) return undefined;
    return groups.flatMap((g) => {
      const n = parseInt(g, 16);
      return [n >> 8, n & 0xff];
    });
  }
  return undefined;
}

export const ipProvider: AuthProvider = {
  scheme: 'ip',
  isAuthenticated: false,
  isValid: (id) => {
    const slash = id.indexOf('/');
    const base = slash < 0 ? id : id.slice(0, slash);
    const bytes = ipBytes(base);
    if (!bytes) return false;
    if (slash < 0) return true;
    const bits = Number(id.slice(slash + 1));
    return Number.isInteger(bits) && bits >= 0 && bits <= bytes.length * 8;
  },
  matches: (authId, aclId) => ipMatches(authId, aclId),
  userName: (authId) => authId,
};

/**
 * ZooKeeper's SASLAuthenticationProvider: ids come from a SASL exchange, not from addauth. An
 * ACL id is matched exactly, by the id "super", or, for every SASL id, when it equals
 * `zookeeper.letAnySaslUserDoX`; ACL ids must be valid Kerberos-style names.
 */
export function saslProvider(letAnySaslUserDoX: string | undefined): AuthProvider {
  return {
    scheme: 'sasl',
    isAuthenticated: true,
    isValid: (id) => parsePrincipal(id) !== undefined,
    matches: (authId, aclId) => authId === 'super' || authId === aclId || (letAnySaslUserDoX !== undefined && aclId === letAnySaslUserDoX),
    userName: (authId) => authId,
  };
}

/** Attribute keywords Java's X500Principal(String) accepts (any case); OIDs are accepted too. */
const X500_KEYWORDS = new Set(['CN', 'C', 'L', 'S', 'ST', 'O', 'OU', 'T', 'IP', 'STREET', 'DC', 'DNQUALIFIER', 'DNQ', 'SURNAME', 'GIVENNAME', 'INITIALS', 'GENERATION', 'EMAIL', 'EMAILADDRESS', 'UID', 'SERIALNUMBER']);

/** Whether `name` parses as an X.500 distinguished name, as X500Principal's constructor checks an x509 ACL id. */
export function isX500Name(name: string): boolean {
  if (name.trim() === '') return false;
  // Split at the separators (",", ";", "+") that are not escaped and not inside quotes.
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < name.length; i++) {
    const ch = name[i];
    if (ch === '\\' && i + 1 < name.length) {
      cur += ch + name[++i];
    } else if (ch === '"') {
      quoted = !quoted;
      cur += ch;
    } else if (!quoted && (ch === ',' || ch === ';' || ch === '+')) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (quoted) return false;
  parts.push(cur);
  return parts.every((p) => {
    const eq = p.indexOf('=');
    if (eq < 0) return false;
    const type = p.slice(0, eq).trim();
    return X500_KEYWORDS.has(type.toUpperCase()) || /^(oid\.)?\d+(\.\d+)+$/i.test(type);
  });
}

/**
 * ZooKeeper's X509AuthenticationProvider: the id is the client certificate's subject (set by the
 * TLS handshake, never by addauth); an ACL id matches it exactly, and every id matches when it is
 * `zookeeper.X509AuthenticationProvider.superUser`.
 */
export function x509Provider(superUser: string | undefined): AuthProvider {
  return {
    scheme: 'x509',
    isAuthenticated: true,
    isValid: isX500Name,
    matches: (authId, aclId) => authId === aclId || (superUser !== undefined && authId === superUser),
    userName: (authId) => authId,
  };
}

function javaStringHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

/** Id.hashCode() of ZooKeeper's generated record class. */
function javaIdHash(id: Id): number {
  return (Math.imul((Math.imul(17, 37) + javaStringHash(id.scheme)) | 0, 37) + javaStringHash(id.id)) | 0;
}

/**
 * Adds ids to a connection's identities and keeps them in the order ZooKeeper iterates them: it
 * holds them in a concurrent hash set of 16 buckets, so whoAmI and `auth` ACL expansion list them
 * bucket by bucket, each bucket in the order the ids were added.
 */
export function addIdentities(current: Id[], added: readonly Id[]): void {
  for (const id of added) if (!current.some((x) => x.scheme === id.scheme && x.id === id.id)) current.push(id);
  const bucket = (id: Id) => {
    const h = javaIdHash(id);
    return (h ^ (h >>> 16)) & 15;
  };
  const keyed = current.map((id, i) => ({ id, b: bucket(id), i }));
  keyed.sort((x, y) => x.b - y.b || x.i - y.i);
  keyed.forEach((k, i) => (current[i] = k.id));
}

export class AuthRegistry {
  private readonly providers = new Map<string, AuthProvider>();

  constructor(
    readonly superDigest: string | undefined,
    readonly skipACL: boolean,
    /** Present when authProvider.N names SASLAuthenticationProvider. */
    sasl?: { letAnySaslUserDoX?: string },
    /** Present when authProvider.N names X509AuthenticationProvider. */
    x509?: { superUser?: string },
  ) {
    this.providers.set('digest', digestProvider);
    this.providers.set('ip', ipProvider);
    if (sasl) this.providers.set('sasl', saslProvider(sasl.letAnySaslUserDoX));
    if (x509) this.providers.set('x509', x509Provider(x509.superUser));
  }

  provider(scheme: string): AuthProvider | undefined {
    return this.providers.get(scheme);
  }

  /**
   * Handles an `addauth`: returns the ids to add to the connection, or undefined when the
   * scheme is unknown or the credentials are refused.
   */
  authenticate(scheme: string, auth: Buffer | null, remoteAddress: string): Id[] | undefined {
    const text = auth === null ? '' : auth.toString('utf8');
    if (scheme === 'digest') {
      const digest = digestOf(text);
      const ids: Id[] = [];
      if (this.superDigest !== undefined && digest === this.superDigest) ids.push({ scheme: 'super', id: '' });
      ids.push({ scheme: 'digest', id: digest });
      return ids;
    }
    if (scheme === 'ip') return [{ scheme: 'ip', id: remoteAddress }];
    // sasl ids come only from the SASL exchange: addauth with it fails, as in ZooKeeper.
    return undefined;
  }

  /** Throws NOAUTH unless one of `ids` holds `perm` on a node with `acl`. */
  checkACL(acl: ACL[], perm: number, ids: readonly Id[]): void {
    if (!this.hasPermission(acl, perm, ids)) throw new KeeperError(Err.NOAUTH);
  }

  hasPermission(acl: ACL[], perm: number, ids: readonly Id[]): boolean {
    if (this.skipACL || acl.length === 0) return true;
    for (const id of ids) if (id.scheme === 'super') return true;
    for (const a of acl) {
      if ((a.perms & perm) === 0) continue;
      if (a.id.scheme === 'world' && a.id.id === 'anyone') return true;
      const p = this.providers.get(a.id.scheme);
      if (!p) continue;
      for (const id of ids) if (id.scheme === a.id.scheme && p.matches(id.id, a.id.id)) return true;
    }
    return false;
  }

  /** Validates an ACL list from a request and expands `auth` ids; throws INVALIDACL. */
  fixupACL(path: string, ids: readonly Id[], acl: ACL[]): ACL[] {
    if (acl.length === 0) throw new KeeperError(Err.INVALIDACL, path);
    // Most creates carry the open ACL alone: nothing to expand or drop.
    if (acl.length === 1 && acl[0].id.scheme === 'world' && acl[0].id.id === 'anyone') return acl;
    const out: ACL[] = [];
    const seen = new Set<string>();
    const add = (a: ACL) => {
      const key = `${a.perms}|${a.id.scheme}|${a.id.id}`;
      if (!seen.has(key)) {
        seen.add(key);
        out.push(a);
      }
    };
    for (const a of acl) {
      if (a.id.scheme === 'world' && a.id.id === 'anyone') add(a);
      else if (a.id.scheme === 'auth') {
        let valid = false;
        for (const id of ids) {
          const p = this.providers.get(id.scheme);
          if (p && p.isAuthenticated) {
            valid = true;
            add({ perms: a.perms, id: { scheme: id.scheme, id: id.id } });
          }
        }
        if (!valid) throw new KeeperError(Err.INVALIDACL, path);
      } else {
        const p = this.providers.get(a.id.scheme);
        if (!p || !p.isValid(a.id.id)) throw new KeeperError(Err.INVALIDACL, path);
        add(a);
      }
    }
    return out;
  }

  /** whoAmI's view of a connection's ids. */
  clientInfo(ids: readonly Id[]): { authScheme: string; user: string }[] {
    // A scheme without a provider (super) shows an empty user, as ZooKeeper's AuthUtil does.
    return ids.map((id) => ({ authScheme: id.scheme, user: this.providers.get(id.scheme)?.userName(id.id) ?? '' }));
  }
}
