/**
 * The default realm the JVM's Kerberos sees, which ZooKeeper's DEFAULT auth_to_local rule uses:
 * `-Djava.security.krb5.realm`, else `default_realm` in [libdefaults] of the krb5.conf named by
 * `-Djava.security.krb5.conf` (Java's default on Linux is /etc/krb5.conf).
 */
import * as fs from 'node:fs';

const MAX_KRB5_CONF_BYTES = 1024 * 1024;

export function defaultRealmFromKrb5Conf(text: string): string | undefined {
  let section = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = header[1].trim().toLowerCase();
      continue;
    }
    if (section !== 'libdefaults') continue;
    const m = /^default_realm\s*=\s*(\S+)/.exec(line);
    if (m) return m[1];
  }
  return undefined;
}

/** The JVM's default realm for these system properties; undefined when none is configured. */
export function jvmDefaultRealm(systemProps: ReadonlyMap<string, string>): string | undefined {
  const realm = systemProps.get('java.security.krb5.realm');
  if (realm) return realm;
  const file = systemProps.get('java.security.krb5.conf') ?? '/etc/krb5.conf';
  try {
    if (fs.statSync(file).size > MAX_KRB5_CONF_BYTES) return undefined;
    return defaultRealmFromKrb5Conf(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}
