/**
 * What the JVM's Kerberos reads from krb5.conf that the acceptor needs: the default realm
 * (ZooKeeper's DEFAULT auth_to_local rule uses it; `-Djava.security.krb5.realm` overrides it) and
 * the allowed clock skew. The file is `-Djava.security.krb5.conf`, else /etc/krb5.conf.
 */
import * as fs from 'node:fs';

const MAX_KRB5_CONF_BYTES = 1024 * 1024;

export function defaultRealmFromKrb5Conf(text: string): string | undefined {
  return libdefault(text, 'default_realm');
}

/** `clockskew` of [libdefaults] in ms (seconds in the file), undefined when absent or invalid. */
export function clockSkewMsFromKrb5Conf(text: string): number | undefined {
  const value = libdefault(text, 'clockskew');
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value) * 1000;
}

function libdefault(text: string, key: string): string | undefined {
  let section = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = header[1].trim().toLowerCase();
      continue;
    }
    if (section !== 'libdefaults') continue;
    const m = /^([A-Za-z_]+)\s*=\s*(\S+)/.exec(line);
    if (m && m[1] === key) return m[2];
  }
  return undefined;
}

/** The krb5.conf the JVM reads for these system properties; empty when it cannot be read. */
export function jvmKrb5Conf(systemProps: ReadonlyMap<string, string>): string {
  const file = systemProps.get('java.security.krb5.conf') ?? '/etc/krb5.conf';
  try {
    if (fs.statSync(file).size > MAX_KRB5_CONF_BYTES) return '';
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The JVM's default realm for these system properties; undefined when none is configured. */
export function jvmDefaultRealm(systemProps: ReadonlyMap<string, string>): string | undefined {
  return systemProps.get('java.security.krb5.realm') || defaultRealmFromKrb5Conf(jvmKrb5Conf(systemProps));
}
