/**
 * Principal names as ZooKeeper's KerberosName reads them (`service[/host]@REALM`, or a simple
 * name without `@`), and the authorization id its SASL callback handler gives an authenticated
 * client: the short name, then `/host` unless `zookeeper.kerberos.removeHostFromPrincipal=true`,
 * then `@REALM` unless `zookeeper.kerberos.removeRealmFromPrincipal=true`. Both mechanisms use it;
 * the default realm comes from kerberos/krb5conf.ts (`jvmDefaultRealm`).
 */
import { SaslMalformedError } from './mechanism';

export interface PrincipalName {
  serviceName: string;
  hostName: string | undefined;
  realm: string | undefined;
}

const NAME_PARSER = /^([^/@]*)(\/([^/@]*))?@([^/@]*)$/;

/** Undefined for a name KerberosName refuses: one with `@` that is not `service[/host]@realm`. */
export function parsePrincipal(name: string): PrincipalName | undefined {
  const m = NAME_PARSER.exec(name);
  if (m) return { serviceName: m[1], hostName: m[3], realm: m[4] };
  if (name.includes('@')) return undefined;
  return { serviceName: name, hostName: undefined, realm: undefined };
}

export interface PrincipalRules {
  removeHostFromPrincipal: boolean;
  removeRealmFromPrincipal: boolean;
  /** The realm the DEFAULT auth_to_local rule strips (Kerberos' default realm; "" when none is configured). */
  defaultRealm: string;
}

/**
 * The id ZooKeeper's callback handler authorizes `authenticationId` as. With the DEFAULT
 * auth_to_local rule a name in another realm than the default one has no short name; ZooKeeper
 * then keeps the id the client asked for (`requested`).
 */
export function authorizedId(authenticationId: string, requested: string, rules: PrincipalRules): string {
  const p = parsePrincipal(authenticationId);
  if (p === undefined) throw new SaslMalformedError(`Malformed Kerberos name: ${authenticationId}`);
  let shortName: string;
  if (p.hostName === undefined && p.realm === undefined) shortName = p.serviceName;
  else if (p.realm === rules.defaultRealm) shortName = p.serviceName;
  else return requested;
  let id = shortName;
  if (!rules.removeHostFromPrincipal && p.hostName !== undefined) id += `/${p.hostName}`;
  if (!rules.removeRealmFromPrincipal && p.realm !== undefined) id += `@${p.realm}`;
  return id;
}
