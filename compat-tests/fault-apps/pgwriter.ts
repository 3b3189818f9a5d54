// The PostgreSQL write load of the Patroni test (pg_writer.py, Debian's psycopg2) as a child
// process: started, stopped by PID (SIGTERM, then SIGKILL after a bound), its outcomes read from
// its JSON lines.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { guardChild } from '../../test/util/servers';
import { delay } from '../util/harness';
import { PYTHON } from './ensemble';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const PG_WRITER = path.join(REPO_ROOT, 'compat-tests', 'fault-apps', 'pg_writer.py');
const STOP_GRACE_MS = 15_000;
const KILL_WAIT_MS = 5_000;

export interface WriteOutcome {
  id: number;
  status: 'ok' | 'info' | 'fail';
  port: number | null;
  ms: number;
}

export class PgWriter {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private release: () => void = () => undefined;
  private running = false;

  constructor(
    readonly dir: string,
    private readonly hosts: readonly string[],
    private readonly ratePerS: number,
  ) {}

  get outPath(): string {
    return path.join(this.dir, 'writes.jsonl');
  }

  start(): void {
    const log = fs.openSync(path.join(this.dir, 'writer.log'), 'a');
    let child: ChildProcess;
    try {
      child = spawn(PYTHON, [PG_WRITER, '--hosts', this.hosts.join(','), '--out', this.outPath, '--rate', String(this.ratePerS)], {
        stdio: ['ignore', log, log],
      });
    } finally {
      fs.closeSync(log);
    }
    this.child = child;
    this.running = true;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        this.running = false;
        resolve();
      });
      child.once('error', () => {
        this.running = false;
        resolve();
      });
    });
    this.release = guardChild(child, path.join(this.dir, 'writer-tmp'));
  }

  isRunning(): boolean {
    return this.running;
  }

  async stop(): Promise<void> {
    const pid = this.running ? this.child?.pid : undefined;
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // Gone.
      }
      await Promise.race([this.exited, delay(STOP_GRACE_MS)]);
      if (this.running) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone.
        }
        await Promise.race([this.exited, delay(KILL_WAIT_MS)]);
      }
    }
    this.release();
  }

  /** Every outcome written so far (a line cut short by a kill is left out). */
  outcomes(): WriteOutcome[] {
    let text = '';
    try {
      text = fs.readFileSync(this.outPath, 'utf8');
    } catch {
      return [];
    }
    const out: WriteOutcome[] = [];
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        out.push(JSON.parse(line) as WriteOutcome);
      } catch {
        // The last line, half written.
      }
    }
    return out;
  }

  acknowledged(): number {
    return this.outcomes().filter((o) => o.status === 'ok').length;
  }

  log(): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'writer.log'), 'utf8').slice(-3000);
    } catch {
      return '';
    }
  }
}
