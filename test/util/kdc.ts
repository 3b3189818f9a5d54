// A throwaway MIT Kerberos KDC for tests: a realm in a temp dir (kdb5_util), krb5kdc in the
// foreground on a free 127.0.0.1 port, principals and keytabs made with kadmin.local, and a
// krb5.conf that MIT tools, python-gssapi and Java (-Djava.security.krb5.conf) all read.
// The KDC is stopped by its PID.

import { ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from './servers';

const HOST = '127.0.0.1';
const KDB5_UTIL = '/usr/sbin/kdb5_util';
const KADMIN_LOCAL = '/usr/sbin/kadmin.local';
const KRB5KDC = '/usr/sbin/krb5kdc';
const KINIT = '/usr/bin/kinit';
const COMMAND_TIMEOUT_MS = 30_000;
const READY_TIMEOUT_MS = 15_000;
const READY_POLL_MS = 20;
const STOP_WAIT_MS = 5_000;
const OUTPUT_MAX_BYTES = 1024 * 1024;

export const KDC_BINARIES = [KDB5_UTIL, KADMIN_LOCAL, KRB5KDC, KINIT];

export function kdcAvailable(): boolean {
  return KDC_BINARIES.every((p) => fs.existsSync(p));
}

export interface TestKdc {
  readonly realm: string;
  readonly dir: string;
  readonly port: number;
  readonly pid: number;
  /** The client-side krb5.conf (default realm, this KDC, no DNS). */
  readonly krb5ConfPath: string;
  /** Environment for MIT tools and libraries pointed at this realm. */
  env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  /** A krb5.conf like the default one plus extra [libdefaults] lines (e.g. enctype lists). */
  writeKrb5Conf(name: string, libdefaults: readonly string[]): string;
  /** `addprinc -randkey`, optionally with `-e <enctypes>` (e.g. "aes128-cts-hmac-sha1-96:normal"). */
  addPrincipal(principal: string, enctypes?: string): Promise<void>;
  /** `ktadd -norandkey -k`: the current keys into a keytab file; returns its path. */
  keytab(fileName: string, principals: readonly string[]): Promise<string>;
  /** A credential cache for `principal` from its keytab; returns the cache path. */
  kinit(principal: string, keytabPath: string, ccacheName: string): Promise<string>;
  kadmin(query: string): Promise<string>;
  log(): string;
  stop(): Promise<void>;
}

function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, timeout: COMMAND_TIMEOUT_MS, maxBuffer: OUTPUT_MAX_BYTES }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(file)} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout + stderr);
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function startKdc(opts: { realm?: string } = {}): Promise<TestKdc> {
  const realm = opts.realm ?? 'EXAMPLE.COM';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-kdc-'));
  const port = await freePort();
  const krb5ConfPath = path.join(dir, 'krb5.conf');
  const kdcConfPath = path.join(dir, 'kdc.conf');
  const krb5Conf = (libdefaults: readonly string[]) =>
    [
      '[libdefaults]',
      `  default_realm = ${realm}`,
      '  dns_lookup_realm = false',
      '  dns_lookup_kdc = false',
      '  dns_canonicalize_hostname = false',
      '  rdns = false',
      '  udp_preference_limit = 1',
      ...libdefaults.map((l) => `  ${l}`),
      '[realms]',
      `  ${realm} = {`,
      `    kdc = ${HOST}:${port}`,
      '  }',
      '',
    ].join('\n');
  fs.writeFileSync(krb5ConfPath, krb5Conf([]));
  fs.writeFileSync(
    kdcConfPath,
    [
      '[kdcdefaults]',
      `  kdc_listen = ${HOST}:${port}`,
      `  kdc_tcp_listen = ${HOST}:${port}`,
      '[realms]',
      `  ${realm} = {`,
      `    database_name = ${path.join(dir, 'principal')}`,
      `    key_stash_file = ${path.join(dir, 'stash')}`,
      `    acl_file = ${path.join(dir, 'kadm5.acl')}`,
      '  }',
      '[logging]',
      `  kdc = FILE:${path.join(dir, 'kdc.log')}`,
      '',
    ].join('\n'),
  );
  const baseEnv: NodeJS.ProcessEnv = {
    ...process.env,
    KRB5_CONFIG: krb5ConfPath,
    KRB5_KDC_PROFILE: kdcConfPath,
    KRB5CCNAME: `FILE:${path.join(dir, 'default.ccache')}`,
    KRB5_TRACE: undefined,
  };
  const masterPassword = `master-${process.pid}-${Date.now()}`;
  await run(KDB5_UTIL, ['create', '-s', '-r', realm, '-d', path.join(dir, 'principal'), '-P', masterPassword], baseEnv);

  const out = fs.openSync(path.join(dir, 'krb5kdc.out'), 'w');
  const child = spawn(KRB5KDC, ['-n', '-r', realm], { env: baseEnv, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  const pid = child.pid;
  if (pid === undefined) throw new Error('krb5kdc did not start');
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let ready = false;
  while (Date.now() < deadline && child.exitCode === null) {
    if (await canConnect(port)) {
      ready = true;
      break;
    }
    await new Promise((r) => setTimeout(r, READY_POLL_MS));
  }
  const readLog = () => {
    const parts: string[] = [];
    for (const f of ['krb5kdc.out', 'kdc.log']) {
      try {
        parts.push(fs.readFileSync(path.join(dir, f), 'utf8'));
      } catch {
        // not written yet
      }
    }
    return parts.join('\n');
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
    if (!(await exited(child, STOP_WAIT_MS))) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await exited(child, STOP_WAIT_MS);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  if (!ready) {
    const log = readLog();
    await stop();
    throw new Error(`krb5kdc not ready on ${HOST}:${port} within ${READY_TIMEOUT_MS} ms\n${log}`);
  }
  const onExit = () => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', onExit);

  const kadmin = (query: string) => run(KADMIN_LOCAL, ['-r', realm, '-q', query], baseEnv);
  return {
    realm,
    dir,
    port,
    pid,
    krb5ConfPath,
    env: (extra = {}) => ({ ...baseEnv, ...extra }),
    writeKrb5Conf(name, libdefaults) {
      const p = path.join(dir, name);
      fs.writeFileSync(p, krb5Conf(libdefaults));
      return p;
    },
    async addPrincipal(principal, enctypes) {
      const e = enctypes ? `-e ${enctypes} ` : '';
      const output = await kadmin(`addprinc -randkey ${e}${principal}`);
      if (!/created/.test(output)) throw new Error(`addprinc ${principal}: ${output}`);
    },
    async keytab(fileName, principals) {
      const p = path.join(dir, fileName);
      for (const principal of principals) {
        const output = await kadmin(`ktadd -k ${p} -norandkey ${principal}`);
        if (!/added to keytab/.test(output)) throw new Error(`ktadd ${principal}: ${output}`);
      }
      return p;
    },
    async kinit(principal, keytabPath, ccacheName) {
      const cc = path.join(dir, ccacheName);
      await run(KINIT, ['-kt', keytabPath, '-c', `FILE:${cc}`, principal], baseEnv);
      return cc;
    },
    kadmin,
    log: readLog,
    async stop() {
      process.removeListener('exit', onExit);
      await stop();
    },
  };
}

/** A JAAS section that logs `principal` in with Krb5LoginModule from `keytab`, as ZooKeeper's Kerberos setups write it. */
export function jaasSection(section: string, keytab: string, principal: string, storeKey: boolean): string {
  return [
    `${section} {`,
    '  com.sun.security.auth.module.Krb5LoginModule required',
    `  useKeyTab=true keyTab="${keytab}" storeKey=${storeKey} useTicketCache=false doNotPrompt=true`,
    `  principal="${principal}";`,
    '};',
    '',
  ].join('\n');
}
