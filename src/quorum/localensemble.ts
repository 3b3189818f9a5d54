/**
 * `zkts ensemble N`: a local ensemble for development. Each member gets a folder under one root
 * (`member<i>/zoo.cfg`, `member<i>/data/myid`, `member<i>/zkts.log`) and runs as its own
 * `zkts server` process; the connect string is printed once every member serves. Ctrl-C (or
 * SIGTERM) stops every member; a member that dies on its own stops the others and the command
 * exits non-zero, so nothing half-alive is left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fourLetterWordClient } from '../admin/client';

export interface LocalEnsembleOptions {
  members: number;
  dir: string;
  host: string;
  clientPort: number;
  quorumPort: number;
  electionPort: number;
  /** How long the members have to start serving. */
  readyTimeoutMs: number;
  out: (s: string) => void;
}

const MEMBERS_MAX = 15;
const STOP_GRACE_MS = 10_000;
const POLL_MS = 200;

/** The zoo.cfg of member `sid` (1-based). */
export function memberConfig(o: LocalEnsembleOptions, sid: number, dataDir: string): string {
  const lines = [
    'tickTime=2000',
    'initLimit=10',
    'syncLimit=5',
    `dataDir=${dataDir}`,
    `clientPort=${o.clientPort + sid - 1}`,
    `clientPortAddress=${o.host}`,
    'admin.enableServer=false',
    '4lw.commands.whitelist=*',
  ];
  for (let i = 1; i <= o.members; i++) lines.push(`server.${i}=${o.host}:${o.quorumPort + i - 1}:${o.electionPort + i - 1}`);
  return lines.join('\n') + '\n';
}

export async function runLocalEnsemble(o: LocalEnsembleOptions, cliPath: string): Promise<number> {
  if (!Number.isInteger(o.members) || o.members < 1 || o.members > MEMBERS_MAX) {
    o.out(`zkts ensemble: the number of members must be 1..${MEMBERS_MAX}, got ${o.members}\n`);
    return 2;
  }
  const children: ChildProcess[] = [];
  const exits: Promise<number | null>[] = [];
  let stopping = false;
  const stopAll = async () => {
    stopping = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    const timer = setTimeout(() => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }, STOP_GRACE_MS);
    await Promise.all(exits);
    clearTimeout(timer);
  };
  let diedFirst: string | undefined;
  const died = new Promise<void>((resolve) => {
    for (let sid = 1; sid <= o.members; sid++) {
      const home = path.resolve(o.dir, `member${sid}`);
      const dataDir = path.join(home, 'data');
      fs.mkdirSync(dataDir, { recursive: true });
      fs.writeFileSync(path.join(dataDir, 'myid'), `${sid}\n`);
      const cfg = path.join(home, 'zoo.cfg');
      fs.writeFileSync(cfg, memberConfig(o, sid, dataDir));
      const log = fs.openSync(path.join(home, 'zkts.log'), 'a');
      const child = spawn(process.execPath, [cliPath, 'server', cfg], { stdio: ['ignore', log, log], cwd: home });
      fs.closeSync(log);
      children.push(child);
      exits.push(
        new Promise((r) =>
          child.once('exit', (code, signal) => {
            if (!stopping && diedFirst === undefined) {
              diedFirst = `member ${sid} exited (${signal ?? `code ${code}`}); see ${path.join(home, 'zkts.log')}`;
              resolve();
            }
            r(code);
          }),
        ),
      );
    }
  });
  const connectString = Array.from({ length: o.members }, (_v, i) => `${o.host}:${o.clientPort + i}`).join(',');
  const ready = waitServing(o, connectString.split(','));
  const first = await Promise.race([ready.then((modes) => ({ modes })), died.then(() => ({ modes: undefined }))]);
  if (first.modes === undefined || typeof first.modes === 'string') {
    o.out(`zkts ensemble: ${diedFirst ?? first.modes}\n`);
    await stopAll();
    return 1;
  }
  o.out(`ensemble of ${o.members} in ${path.resolve(o.dir)}: ${first.modes.map((m, i) => `member ${i + 1} ${m}`).join(', ')}\n`);
  o.out(`connect string: ${connectString}\n`);
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
    void died.then(() => resolve('died'));
  });
  if (signal === 'died') {
    o.out(`zkts ensemble: ${diedFirst}; stopping the others\n`);
    await stopAll();
    return 1;
  }
  o.out(`stopping the ensemble (${signal})\n`);
  await stopAll();
  return 0;
}

/** Polls srvr until every member says its Mode; the modes, or why not (a string) at the timeout. */
async function waitServing(o: LocalEnsembleOptions, endpoints: string[]): Promise<string[] | string> {
  const deadline = Date.now() + o.readyTimeoutMs;
  for (;;) {
    const modes = await Promise.all(
      endpoints.map((e) =>
        fourLetterWordClient(e, 'srvr', 1000)
          .then((a) => /Mode: (\w+)/.exec(a)?.[1])
          .catch(() => undefined),
      ),
    );
    if (modes.every((m) => m !== undefined)) return modes as string[];
    if (Date.now() > deadline) return `not every member served within ${o.readyTimeoutMs} ms (modes: ${modes.map((m) => m ?? 'none').join(', ')})`;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
