/**
 * The Kerberos protocol's PrincipalName (RFC 4120 5.2.2: any number of components, and a realm)
 * as keytabs and tickets carry it, in the "a/b@REALM" text form. ZooKeeper's view of a name
 * (KerberosName, at most service/host) and the authorization id it gives are in ../principal.ts.
 */
import { SaslError } from '../mechanism';

export interface PrincipalName {
  readonly components: readonly string[];
  readonly realm: string;
}

/** Parses "zookeeper/host@REALM"; a name without a realm takes `defaultRealm`. */
export function parsePrincipal(text: string, defaultRealm?: string): PrincipalName {
  const at = text.lastIndexOf('@');
  const name = at < 0 ? text : text.slice(0, at);
  const realm = at < 0 ? defaultRealm : text.slice(at + 1);
  if (!realm) throw new SaslError(`GSSAPI: principal "${text}" has no realm`);
  const components = name.split('/');
  if (components.some((c) => c.length === 0)) throw new SaslError(`GSSAPI: malformed principal "${text}"`);
  return { components, realm };
}

export function principalToString(p: PrincipalName): string {
  return `${p.components.join('/')}@${p.realm}`;
}

export function samePrincipal(a: PrincipalName, b: PrincipalName): boolean {
  return (
    a.realm === b.realm &&
    a.components.length === b.components.length &&
    a.components.every((c, i) => c === b.components[i])
  );
}
